//! Daily check-in streaks on local days: [`StreakSpec`] as data, validated
//! into [`StreakRules`] that step a member's [`Streak`].
//!
//! The rules are documented on [`Streak`], the type a host starts from.

use super::fields::field_readers;
use crate::store::Versioned;
use crate::time::LocalDay;
use chrono::{DateTime, Months, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The most missed days a make-up allowance may bridge per calendar month.
/// More would make a "daily" streak a weekly one.
pub const MAX_MAKE_UPS_PER_MONTH: u32 = 10;

/// Streak rules as operators write them (JSON-friendly); validate them with
/// [`StreakSpec::validate`].
///
/// ```
/// use growthkit::points::StreakSpec;
///
/// let spec: StreakSpec = serde_json::from_str(r#"{
///     "milestones": [ { "day": 30, "points": 300 }, { "day": 7, "points": 50 } ]
/// }"#)?;
/// let err = spec.validate().unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "milestones[1].day is 7 but must be above the previous milestone's 30"
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreakSpec {
    /// Bonuses on reaching a streak length, days strictly increasing.
    #[serde(default, deserialize_with = "milestones_field")]
    pub milestones: Vec<Milestone>,
    /// How many missed days may be bridged; default: none, a missed day
    /// breaks the streak.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "make_up_field"
    )]
    pub make_up: Option<MakeUp>,
}

// Each field of a `StreakSpec` names itself when its value is refused.
field_readers! {
    fn milestones_field = numbered("milestones");
    fn make_up_field = named("make_up");
}

/// A bonus for reaching a streak length.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Milestone {
    /// The streak length (days checked in) that earns it; at least 1.
    #[serde(deserialize_with = "milestone_day_field")]
    pub day: u32,
    /// The bonus points; at least 1.
    #[serde(deserialize_with = "milestone_points_field")]
    pub points: u64,
    /// If set, the milestone is reached again every this many days after
    /// `day` (30, 60, 90, … for `day: 30, repeat_every: 30`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "milestone_repeat_every_field"
    )]
    pub repeat_every: Option<u32>,
}

// Each field of a `Milestone` names itself when its value is refused.
field_readers! {
    fn milestone_day_field = named("day");
    fn milestone_points_field = named("points");
    fn milestone_repeat_every_field = named("repeat_every");
}

impl Milestone {
    /// Whether a streak of `length` days reaches this milestone.
    pub fn reached_at(&self, length: u32) -> bool {
        length == self.day
            || self.repeat_every.is_some_and(|every| {
                every > 0 && length > self.day && (length - self.day).is_multiple_of(every)
            })
    }
}

/// A make-up allowance: missed days that do not break a streak.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MakeUp {
    /// Missed days that may be bridged in each local calendar month (a
    /// missed day uses the allowance of the month it falls in); 1 to
    /// [`MAX_MAKE_UPS_PER_MONTH`].
    #[serde(deserialize_with = "per_month_field")]
    pub per_month: u32,
}

// Each field of a `MakeUp` names itself when its value is refused.
field_readers! {
    fn per_month_field = named("per_month");
}

/// What is wrong with a streak spec, or why a check-in failed (the streak is
/// then unchanged).
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StreakError {
    /// A milestone number that must be positive is zero.
    #[error("milestones[{index}].{field} is 0 but must be at least 1")]
    Zero {
        /// The milestone's position in the list.
        index: usize,
        /// `day`, `points` or `repeat_every`.
        field: &'static str,
    },
    /// A milestone's day is not above the one before it.
    #[error(
        "milestones[{index}].day is {day} but must be above the previous milestone's {previous}"
    )]
    NotIncreasing {
        /// The milestone's position in the list.
        index: usize,
        /// Its day.
        day: u32,
        /// The previous milestone's day.
        previous: u32,
    },
    /// A make-up allowance out of range.
    #[error("make_up.per_month is {per_month} but must be between 1 and {max}")]
    MakeUpOutOfRange {
        /// The allowance given.
        per_month: u32,
        /// The most accepted.
        max: u32,
    },
    /// A count, sum or version would overflow.
    #[error("arithmetic overflow in a streak")]
    Overflow,
}

impl StreakSpec {
    /// Checks the milestones (days and points at least 1, days strictly
    /// increasing, repeats at least 1) and the make-up allowance.
    pub fn validate(self) -> Result<StreakRules, StreakError> {
        let mut previous: Option<u32> = None;
        for (index, m) in self.milestones.iter().enumerate() {
            let zero = |field| StreakError::Zero { index, field };
            if m.day == 0 {
                return Err(zero("day"));
            }
            if m.points == 0 {
                return Err(zero("points"));
            }
            if m.repeat_every == Some(0) {
                return Err(zero("repeat_every"));
            }
            if let Some(previous) = previous
                && m.day <= previous
            {
                return Err(StreakError::NotIncreasing {
                    index,
                    day: m.day,
                    previous,
                });
            }
            previous = Some(m.day);
        }
        if let Some(MakeUp { per_month }) = self.make_up
            && !(1..=MAX_MAKE_UPS_PER_MONTH).contains(&per_month)
        {
            return Err(StreakError::MakeUpOutOfRange {
                per_month,
                max: MAX_MAKE_UPS_PER_MONTH,
            });
        }
        Ok(StreakRules { spec: self })
    }
}

impl TryFrom<StreakSpec> for StreakRules {
    type Error = StreakError;
    fn try_from(spec: StreakSpec) -> Result<Self, StreakError> {
        spec.validate()
    }
}

/// A validated [`StreakSpec`]: the check-in step [`StreakRules::check_in`].
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct StreakRules {
    spec: StreakSpec,
}

/// The make-up allowance used in one local calendar month.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct MakeUpsUsed {
    /// The first day of the month.
    pub month: LocalDay,
    /// Missed days bridged in it.
    pub used: u32,
}

/// A member's check-in streak: plain serde data with a
/// [`version`](Streak::version), stepped by [`StreakRules::check_in`].
///
/// # Rules
///
/// - **Local days**: a check-in counts for the local day of its instant in
///   the zone the host passes (a fixed offset or an IANA zone: the 23- and
///   25-hour days of a daylight-saving change are days like any other).
///   23:30 and 00:10 in Beijing are two days.
/// - **Once a day**: more check-ins on the same local day count once
///   ([`CheckInKind::SameDay`], nothing changes).
/// - **Consecutive days** extend the streak; its length is the number of
///   days checked in since it started, and [`Streak::longest`] keeps the
///   best one.
/// - **Missed days** reset the streak to 1 at the next check-in, unless a
///   [`MakeUp`] allowance bridges them: up to `per_month` missed days per
///   local calendar month, each charged to the month it falls in, all of a
///   gap or none of it. Bridged days keep the streak alive but do not add
///   to its length.
/// - **Milestones** are paid when the length reaches their day (and every
///   `repeat_every` days after it), so each at most once per streak: a new
///   streak can reach them again.
/// - **Late check-ins**: a check-in for a local day before the last one
///   (a delayed delivery) is ignored ([`CheckInKind::Late`], nothing
///   changes): the days after it are already judged, and a streak is not
///   re-opened behind the member's back.
///
/// # Example
///
/// ```
/// use chrono::{FixedOffset, TimeDelta, TimeZone, Utc};
/// use growthkit::points::{Streak, StreakSpec};
///
/// // +50 on day 7, +300 on day 30 and every 30 days after;
/// // one missed day a month may be made up.
/// let rules = serde_json::from_str::<StreakSpec>(r#"{
///     "milestones": [
///         { "day": 7, "points": 50 },
///         { "day": 30, "points": 300, "repeat_every": 30 }
///     ],
///     "make_up": { "per_month": 1 }
/// }"#)?.validate()?;
///
/// let beijing = FixedOffset::east_opt(8 * 3600).unwrap();
/// let first = Utc.with_ymd_and_hms(2026, 3, 1, 1, 0, 0).unwrap(); // 09:00 local
/// let mut streak = Streak::new();
/// for day in 0..6 {
///     rules.check_in(&mut streak, first + TimeDelta::days(day), &beijing)?;
/// }
/// // Skip 7 March; the make-up bridges it, and 8 March is day 7.
/// let step = rules.check_in(&mut streak, first + TimeDelta::days(7), &beijing)?;
/// assert_eq!(step.to_string(), "day 7 (1 missed day made up), milestone +50");
/// assert_eq!(step.points, 50);
/// assert_eq!((streak.current(), streak.longest()), (7, 7));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct Streak {
    version: u64,
    current: u32,
    longest: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    started: Option<LocalDay>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last: Option<LocalDay>,
    days_checked_in: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    make_ups: Option<MakeUpsUsed>,
}

impl Versioned for Streak {
    fn version(&self) -> u64 {
        self.version
    }
}

impl Streak {
    /// No check-ins yet, version 0.
    pub fn new() -> Streak {
        Streak::default()
    }

    /// Whether one more check-in is sure to count without overflow.
    pub(crate) fn has_room(&self) -> bool {
        self.current < u32::MAX && self.days_checked_in < u64::MAX && self.version < u64::MAX
    }

    /// Bumped by every successful change.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The length of the streak as of the last check-in (see
    /// [`StreakRules::length_on`] for the length as of another day).
    pub fn current(&self) -> u32 {
        self.current
    }

    /// The longest streak ever.
    pub fn longest(&self) -> u32 {
        self.longest
    }

    /// The first day of the current streak.
    pub fn started(&self) -> Option<LocalDay> {
        self.started
    }

    /// The last local day checked in.
    pub fn last(&self) -> Option<LocalDay> {
        self.last
    }

    /// Distinct local days ever checked in.
    pub fn days_checked_in(&self) -> u64 {
        self.days_checked_in
    }

    /// The make-up allowance used in the month of the latest bridged gap.
    pub fn make_ups(&self) -> Option<MakeUpsUsed> {
        self.make_ups
    }
}

/// What a check-in did to the streak.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CheckInKind {
    /// The member's first check-in ever: a streak of 1.
    First,
    /// The day after the last one (or after missed days a make-up bridged).
    Extended,
    /// Missed days broke the previous streak; a new one starts at 1.
    Restarted {
        /// The broken streak's length.
        broken: u32,
        /// The days missed.
        missed: u32,
    },
    /// Already checked in on this local day: nothing changed.
    SameDay,
    /// A local day before the last one checked in: ignored, nothing changed.
    Late {
        /// The last day checked in.
        last: LocalDay,
    },
}

/// A milestone a check-in reached.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct MilestoneHit {
    /// The configured milestone day (30 for a milestone repeating at 60).
    pub milestone: u32,
    /// The streak length that reached it.
    pub length: u32,
    /// Bonus points, for the ledger to credit.
    pub points: u64,
}

/// The outcome of a check-in, explaining itself (`"day 7, milestone +50"`).
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct CheckInOutcome {
    /// The local day checked in.
    pub day: LocalDay,
    /// What happened.
    pub kind: CheckInKind,
    /// The streak length after the check-in.
    pub length: u32,
    /// Missed days a make-up bridged.
    pub bridged: u32,
    /// Make-ups left in the local month of `day` (`None`: no allowance).
    /// A streak remembers the allowance used in one month only, that of
    /// its latest bridged gap ([`Streak::make_ups`]): for a late check-in
    /// on a day of an earlier month, this is that month's whole allowance,
    /// whatever was used of it.
    pub make_ups_left: Option<u32>,
    /// Milestones reached, in configured order.
    pub milestones: Vec<MilestoneHit>,
    /// The sum of the milestones' points.
    pub points: u64,
}

impl fmt::Display for CheckInOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            CheckInKind::SameDay => return write!(f, "already checked in on {}", self.day),
            CheckInKind::Late { last } => {
                return write!(
                    f,
                    "{} is before the last check-in {last}: ignored",
                    self.day
                );
            }
            CheckInKind::First | CheckInKind::Extended | CheckInKind::Restarted { .. } => {}
        }
        write!(f, "day {}", self.length)?;
        match (self.kind, self.bridged) {
            (CheckInKind::Restarted { broken, missed }, _) => {
                let s = if missed == 1 { "" } else { "s" };
                write!(f, " (streak of {broken} broken by {missed} missed day{s})")?;
            }
            (_, 0) => {}
            (_, 1) => write!(f, " (1 missed day made up)")?,
            (_, n) => write!(f, " ({n} missed days made up)")?,
        }
        for hit in &self.milestones {
            write!(f, ", milestone +{}", hit.points)?;
        }
        Ok(())
    }
}

impl StreakRules {
    /// The spec they were built from.
    pub fn spec(&self) -> &StreakSpec {
        &self.spec
    }

    /// Checks the member in at `at`, on its local day in `zone` (see
    /// [`Streak`]'s rules). Same-day and late check-ins change nothing.
    pub fn check_in<Tz: TimeZone>(
        &self,
        streak: &mut Streak,
        at: DateTime<Utc>,
        zone: &Tz,
    ) -> Result<CheckInOutcome, StreakError> {
        let day = LocalDay::of(at, zone);
        let (kind, bridged, make_ups) = match streak.last {
            None => (CheckInKind::First, 0, streak.make_ups),
            Some(last) if day == last => {
                return Ok(self.unchanged(streak, day, CheckInKind::SameDay));
            }
            Some(last) if day < last => {
                return Ok(self.unchanged(streak, day, CheckInKind::Late { last }));
            }
            Some(last) => {
                let missed = missed_between(last, day);
                if missed == 0 {
                    (CheckInKind::Extended, 0, streak.make_ups)
                } else if let Some(used) = self.bridge(streak.make_ups, last, day) {
                    (CheckInKind::Extended, missed, Some(used))
                } else {
                    let broken = streak.current;
                    (
                        CheckInKind::Restarted { broken, missed },
                        0,
                        streak.make_ups,
                    )
                }
            }
        };
        let length = match kind {
            CheckInKind::Extended => streak.current.checked_add(1).ok_or(StreakError::Overflow)?,
            _ => 1,
        };
        let milestones: Vec<MilestoneHit> = self
            .spec
            .milestones
            .iter()
            .filter(|m| m.reached_at(length))
            .map(|m| MilestoneHit {
                milestone: m.day,
                length,
                points: m.points,
            })
            .collect();
        let points = milestones
            .iter()
            .try_fold(0u64, |sum, hit| sum.checked_add(hit.points))
            .ok_or(StreakError::Overflow)?;
        let days_checked_in = streak
            .days_checked_in
            .checked_add(1)
            .ok_or(StreakError::Overflow)?;
        let version = streak.version.checked_add(1).ok_or(StreakError::Overflow)?;

        streak.version = version;
        streak.current = length;
        streak.longest = streak.longest.max(length);
        if length == 1 {
            streak.started = Some(day);
        }
        streak.last = Some(day);
        streak.days_checked_in = days_checked_in;
        streak.make_ups = make_ups;
        Ok(CheckInOutcome {
            day,
            kind,
            length,
            bridged,
            make_ups_left: self.make_ups_left(streak.make_ups, day),
            milestones,
            points,
        })
    }

    /// The streak's length as of `now`: its current length while a check-in
    /// today could still extend it (possibly with make-ups), else 0.
    pub fn length_on<Tz: TimeZone>(&self, streak: &Streak, now: DateTime<Utc>, zone: &Tz) -> u32 {
        let Some(last) = streak.last else { return 0 };
        let today = LocalDay::of(now, zone);
        if today <= last || missed_between(last, today) == 0 {
            return streak.current;
        }
        match self.bridge(streak.make_ups, last, today) {
            Some(_) => streak.current,
            None => 0,
        }
    }

    fn unchanged(&self, streak: &Streak, day: LocalDay, kind: CheckInKind) -> CheckInOutcome {
        CheckInOutcome {
            day,
            kind,
            length: streak.current,
            bridged: 0,
            make_ups_left: self.make_ups_left(streak.make_ups, day),
            milestones: Vec::new(),
            points: 0,
        }
    }

    fn make_ups_left(&self, used: Option<MakeUpsUsed>, day: LocalDay) -> Option<u32> {
        let allowance = self.spec.make_up?.per_month;
        let month = day.month_start();
        let used = used.filter(|u| u.month == month).map_or(0, |u| u.used);
        Some(allowance.saturating_sub(used))
    }

    /// The allowance used after bridging every day strictly between `last`
    /// and `day`, if the allowance of each month they fall in covers them.
    fn bridge(
        &self,
        used: Option<MakeUpsUsed>,
        last: LocalDay,
        day: LocalDay,
    ) -> Option<MakeUpsUsed> {
        let allowance = self.spec.make_up?.per_month;
        let first_missed = last.checked_add_days(1)?;
        let last_missed = day.checked_add_days(-1)?;
        let mut cursor = first_missed;
        let mut charged = None;
        // Each month in the gap is charged in turn; a whole month (28 days
        // or more) always exceeds the allowance, so this stops within three.
        while cursor <= last_missed {
            let month = cursor.month_start();
            let next_month = LocalDay::from_date(month.date().checked_add_months(Months::new(1))?);
            let segment_end = last_missed.min(next_month.checked_add_days(-1)?);
            let days = u32::try_from(days_between(cursor, segment_end))
                .ok()?
                .checked_add(1)?;
            let before = used.filter(|u| u.month == month).map_or(0, |u| u.used);
            let after = before.checked_add(days)?;
            if after > allowance {
                return None;
            }
            charged = Some(MakeUpsUsed { month, used: after });
            cursor = next_month;
        }
        charged
    }
}

/// Local days strictly between `last` and `day` (`day` after `last`).
fn missed_between(last: LocalDay, day: LocalDay) -> u32 {
    u32::try_from(days_between(last, day).saturating_sub(1)).unwrap_or(u32::MAX)
}

/// `to - from` in days, in i64 so that day numbers from hand-edited state
/// cannot overflow it.
fn days_between(from: LocalDay, to: LocalDay) -> i64 {
    i64::from(to.number()) - i64::from(from.number())
}

#[cfg(test)]
mod tests;
