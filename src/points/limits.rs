//! Limits on awards: caps per local day, ISO week, calendar month and
//! lifetime, the program-wide daily cap, and what a cap does to an award
//! that would exceed it.
//!
//! Periods are counted in the program's zone: a week is the ISO week (Monday
//! to Sunday) and a month the calendar month, both made of [`LocalDay`]s, so
//! a 23- or 25-hour day of a daylight-saving change is one day like any other.

use super::fields::field_readers;
use super::ledger::DayTally;
use super::program::ProgramError;
use crate::event::Label;
use crate::time::LocalDay;
use chrono::Weekday;
use serde::{Deserialize, Serialize};

/// A limit on awards in a period: a count of awards, points, or both.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cap {
    /// At most this many awards.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "count_field"
    )]
    pub count: Option<u32>,
    /// At most this many points.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "points_field"
    )]
    pub points: Option<u64>,
}

// Each field of a `Cap` names itself when its value is refused.
field_readers! {
    fn count_field = named("count");
    fn points_field = named("points");
}

impl Cap {
    /// Points still allowed after `used`: none once the count is reached,
    /// else what is left of the points limit (unlimited without one).
    #[inline]
    pub(crate) fn room(self, used: DayTally) -> u64 {
        let full = self.count.is_some_and(|max| used.count >= max);
        let room = self
            .points
            .map_or(u64::MAX, |max| max.saturating_sub(used.points));
        // A select rather than an early return: whether a cap is full
        // changes from event to event, and a mispredicted branch costs more
        // than working out both sides.
        if full { 0 } else { room }
    }

    /// A cap must limit something, and neither limit may be zero (a cap of
    /// zero is a rule that never awards: remove the rule instead).
    pub(crate) fn check(
        self,
        fields: &CapFields,
        rule: Option<&Label>,
    ) -> Result<(), ProgramError> {
        let problem = if self.count.is_none() && self.points.is_none() {
            Some((fields.cap, true))
        } else if self.count == Some(0) {
            Some((fields.count, false))
        } else if self.points == Some(0) {
            Some((fields.points, false))
        } else {
            None
        };
        match (problem, rule) {
            (None, _) => Ok(()),
            (Some((field, true)), Some(rule)) => Err(ProgramError::EmptyCap {
                rule: rule.clone(),
                field,
            }),
            (Some((field, true)), None) => Err(ProgramError::EmptyProgramCap { field }),
            (Some((field, false)), Some(rule)) => Err(ProgramError::Zero {
                rule: rule.clone(),
                field,
            }),
            (Some((field, false)), None) => Err(ProgramError::ProgramZero { field }),
        }
    }
}

/// The field paths of one cap, for error messages.
pub(crate) struct CapFields {
    pub(crate) cap: &'static str,
    pub(crate) count: &'static str,
    pub(crate) points: &'static str,
}

macro_rules! cap_fields {
    ($name:literal) => {
        CapFields {
            cap: $name,
            count: concat!($name, ".count"),
            points: concat!($name, ".points"),
        }
    };
}

pub(crate) const DAILY: CapFields = cap_fields!("daily_cap");
pub(crate) const WEEKLY: CapFields = cap_fields!("weekly_cap");
pub(crate) const MONTHLY: CapFields = cap_fields!("monthly_cap");
pub(crate) const LIFETIME: CapFields = cap_fields!("lifetime_cap");
pub(crate) const GLOBAL_DAILY: CapFields = cap_fields!("global_daily_cap");

/// What a cap does to an award that would exceed it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CapMode {
    /// Award what is left under the cap (possibly nothing).
    #[default]
    Trim,
    /// Award nothing unless the whole award fits.
    Reject,
}

/// Which cap limited an award.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CapPeriod {
    /// The rule's cap per local day.
    Daily,
    /// The rule's cap per local ISO week (Monday to Sunday).
    Weekly,
    /// The rule's cap per local calendar month.
    Monthly,
    /// The rule's cap over the user's whole history.
    Lifetime,
    /// The program's cap per local day over every rule not exempt from it.
    GlobalDaily,
}

/// The cap that trimmed or rejected an award.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct CapHit {
    /// Which cap.
    pub period: CapPeriod,
    /// Its limits.
    pub cap: Cap,
    /// Whether the award was trimmed or rejected.
    pub mode: CapMode,
}

/// Cuts one award down by each cap in turn, remembering the cap that cut
/// deepest (the first of equals), so the explanation names the binding one.
pub(crate) struct Limiter {
    allowed: u64,
    hit: Option<CapHit>,
    mode: CapMode,
}

impl Limiter {
    pub(crate) fn new(points: u64, mode: CapMode) -> Limiter {
        Limiter {
            allowed: points,
            hit: None,
            mode,
        }
    }

    /// Applies `cap` (if any) given what its period has `used` so far
    /// (looked up only when there is a cap). Inlined: most rules have no
    /// cap for most periods, and a call costs more than the look.
    #[inline]
    pub(crate) fn cut(
        &mut self,
        cap: Option<Cap>,
        period: CapPeriod,
        used: impl FnOnce() -> DayTally,
    ) {
        let Some(cap) = cap else { return };
        let room = cap.room(used());
        if room < self.allowed {
            self.allowed = room;
            self.hit = Some(CapHit {
                period,
                cap,
                mode: self.mode,
            });
        }
    }

    /// The points awarded and the cap that limited them: under
    /// [`CapMode::Reject`] an award that does not fit whole is nothing.
    pub(crate) fn finish(self) -> (u64, Option<CapHit>) {
        match (self.hit, self.mode) {
            (Some(hit), CapMode::Reject) => (0, Some(hit)),
            (hit, _) => (self.allowed, hit),
        }
    }
}

/// The key of the ISO week (Monday start) that `day` is in: its Monday.
pub(crate) fn week_of(day: LocalDay) -> LocalDay {
    day.week_start(Weekday::Mon)
}

/// The key of the calendar month that `day` is in: its first day.
pub(crate) fn month_of(day: LocalDay) -> LocalDay {
    day.month_start()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn day(y: i32, m: u32, d: u32) -> LocalDay {
        LocalDay::from_date(NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default())
    }

    fn used(count: u32, points: u64) -> DayTally {
        DayTally { count, points }
    }

    #[test]
    fn room_is_zero_at_the_count_and_what_is_left_of_points() {
        let cap = Cap {
            count: Some(2),
            points: Some(50),
        };
        assert_eq!(cap.room(used(0, 0)), 50);
        assert_eq!(cap.room(used(1, 45)), 5);
        assert_eq!(cap.room(used(1, 50)), 0);
        assert_eq!(cap.room(used(2, 0)), 0);
        assert_eq!(
            Cap {
                count: Some(1),
                points: None
            }
            .room(used(0, 999)),
            u64::MAX
        );
    }

    #[test]
    fn limiter_names_the_deepest_cap_and_rejects_whole() {
        let day_cap = Some(Cap {
            count: None,
            points: Some(30),
        });
        let week_cap = Some(Cap {
            count: None,
            points: Some(100),
        });
        for (mode, want) in [(CapMode::Trim, 5), (CapMode::Reject, 0)] {
            let mut l = Limiter::new(10, mode);
            l.cut(week_cap, CapPeriod::Weekly, || used(3, 92));
            l.cut(day_cap, CapPeriod::Daily, || used(2, 25));
            let (points, hit) = l.finish();
            assert_eq!(points, want);
            assert_eq!(hit.map(|h| h.period), Some(CapPeriod::Daily));
        }
        // An award that fits is untouched and names no cap.
        let mut l = Limiter::new(10, CapMode::Reject);
        l.cut(day_cap, CapPeriod::Daily, || used(0, 20));
        assert_eq!(l.finish(), (10, None));
    }

    #[test]
    fn weeks_start_on_monday_and_months_on_the_first() {
        // 2026-03-01 is a Sunday.
        assert_eq!(week_of(day(2026, 3, 1)), day(2026, 2, 23));
        assert_eq!(week_of(day(2026, 3, 2)), day(2026, 3, 2));
        assert_eq!(month_of(day(2026, 3, 31)), day(2026, 3, 1));
        assert_eq!(month_of(day(2024, 2, 29)), day(2024, 2, 1));
    }
}
