//! Stickiness: how often active users come back within a period.
//!
//! # Definitions
//!
//! Days are [`LocalDay`]s in the time zone given to the builder. A user is
//! **active on a day** if at least one of their events matching
//! [`StickinessSpec::activity`] (by default, any event) falls on that local
//! day; more events on the same day change nothing.
//!
//! - The **period** is the `window_days` local days ending on `last_day`,
//!   both ends included (30 days by default: a "month" ending on a day).
//! - **DAU(d)**: users active on day `d`. **Average DAU**: `Σ DAU(d) / window_days`
//!   over the days of the period, so a day with nobody counts as zero.
//! - **MAU**: distinct users active on at least one day of the period.
//! - **DAU/MAU** = average DAU / MAU = `Σ DAU(d) / (window_days × MAU)`;
//!   equivalently the average, over the period's active users, of the share
//!   of the period's days they were active on. Unknown (`None`) when MAU is 0.
//! - The **week** is the seven local days ending on `last_day`. **Weekly
//!   actives**: users active on at least one of them. **Active days**: for
//!   `k = 1..=7`, the users active on exactly `k` of the seven days, and
//!   **at least N**: the share of weekly actives active on `N` or more of the
//!   seven days (so `N = 1` is always all of them).
//!
//! The builder keeps, per user, only the active days inside the period or
//! the week, so memory is bounded by users × `max(window_days, 7)`.
//!
//! # Example
//!
//! ```
//! use chrono::{DateTime, FixedOffset, NaiveDate, TimeZone, Utc};
//! use growthkit::analytics::{Ratio, StickinessSpec};
//! use growthkit::{Event, EventId, EventKind, LocalDay, UserId};
//!
//! let beijing = FixedOffset::east_opt(8 * 3600).unwrap();
//! let at = |d, h| -> DateTime<Utc> {
//!     beijing.with_ymd_and_hms(2026, 3, d, h, 0, 0).unwrap().with_timezone(&Utc)
//! };
//! let check_in = || EventKind::CheckIn { community: None };
//! let mut events = Vec::new();
//! // Ann checks in every day of the week of March 1-7, twice on the 7th.
//! for d in 1..=7 {
//!     events.push((1, at(d, 7), check_in()));
//! }
//! events.push((1, at(7, 21), check_in()));
//! // Bo studies on the 2nd, late at night, and again just after midnight.
//! events.push((2, at(2, 23), check_in()));
//! events.push((2, at(3, 0), check_in()));
//!
//! let spec = StickinessSpec {
//!     last_day: LocalDay::from_date(NaiveDate::from_ymd_opt(2026, 3, 7).unwrap()),
//!     window_days: 7,
//!     activity: vec!["check_in".parse().unwrap()],
//! };
//! let mut builder = spec.validate().unwrap().builder(beijing);
//! for (i, (user, t, kind)) in events.into_iter().enumerate() {
//!     builder.add(&Event::new(EventId(i as u64), UserId(user), t, kind));
//! }
//! let report = builder.finish().report();
//!
//! assert_eq!(report.period_active, 2);
//! // Ann 7 active days, Bo 2: (7 + 2) / (7 days × 2 users).
//! assert_eq!(report.dau_mau, Ratio::new(9, 14));
//! assert_eq!(report.active_days, [0, 1, 0, 0, 0, 0, 1]);
//! assert_eq!(report.at_least[1], Ratio::new(2, 2)); // both on 2+ days
//! assert_eq!(report.at_least[6], Ratio::new(1, 2)); // Ann on all 7
//! ```

use super::{AnalyticsError, Ratio, bump, check_patterns};
use crate::event::{Event, KindPattern};
use crate::id::UserId;
use crate::time::LocalDay;
use chrono::TimeZone;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

const WEEK_DAYS: u32 = 7;

/// A stickiness analysis as written in configuration;
/// [`StickinessSpec::validate`] checks it into a [`Stickiness`].
///
/// ```
/// use growthkit::analytics::StickinessSpec;
/// let spec: StickinessSpec = serde_json::from_str(r#"{"last_day": "2026-03-31"}"#).unwrap();
/// assert_eq!(spec.window_days, 30);
/// assert!(spec.validate().is_ok());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StickinessSpec {
    /// The last local day of the period and of the week, included.
    pub last_day: LocalDay,
    /// The period's length in days, `1..=366`; default 30.
    #[serde(default = "thirty")]
    pub window_days: u32,
    /// Events that make a user active; default `["*"]` (every event). Must
    /// not be empty.
    #[serde(default = "every_event")]
    pub activity: Vec<KindPattern>,
}

fn thirty() -> u32 {
    30
}

fn every_event() -> Vec<KindPattern> {
    vec![KindPattern::Any]
}

impl StickinessSpec {
    /// The longest period, in days.
    pub const MAX_WINDOW_DAYS: u32 = 366;

    /// A 30-day period of any activity ending on `last_day`.
    pub fn new(last_day: LocalDay) -> StickinessSpec {
        StickinessSpec {
            last_day,
            window_days: thirty(),
            activity: every_event(),
        }
    }

    /// Checks the spec into a [`Stickiness`]. Each `activity` pattern must pass
    /// [`KindPattern::check`] ([`AnalyticsError::InvalidPattern`] names the
    /// first that does not), so what validates also reads back from its JSON.
    pub fn validate(self) -> Result<Stickiness, AnalyticsError> {
        Stickiness::try_from(self)
    }
}

/// A checked stickiness specification. Serializes as its [`StickinessSpec`].
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(try_from = "StickinessSpec", into = "StickinessSpec")]
pub struct Stickiness {
    spec: StickinessSpec,
    period_start: LocalDay,
    week_start: LocalDay,
}

impl TryFrom<StickinessSpec> for Stickiness {
    type Error = AnalyticsError;

    fn try_from(spec: StickinessSpec) -> Result<Self, Self::Error> {
        let window_days = spec.window_days;
        if !(1..=StickinessSpec::MAX_WINDOW_DAYS).contains(&window_days) {
            return Err(AnalyticsError::WindowDaysOutOfRange {
                given: window_days,
                max: StickinessSpec::MAX_WINDOW_DAYS,
            });
        }
        if spec.activity.is_empty() {
            return Err(AnalyticsError::NoActivityPatterns { field: "activity" });
        }
        check_patterns("activity", &spec.activity)?;
        let back = |days: u32| {
            // days ≤ 366, so the cast is exact.
            spec.last_day.checked_add_days(1 - days as i32)
        };
        let (Some(period_start), Some(week_start)) = (back(window_days), back(WEEK_DAYS)) else {
            return Err(AnalyticsError::WindowBeforeCalendar {
                last_day: spec.last_day,
                window_days,
            });
        };
        Ok(Stickiness {
            spec,
            period_start,
            week_start,
        })
    }
}

impl From<Stickiness> for StickinessSpec {
    fn from(stickiness: Stickiness) -> Self {
        stickiness.spec
    }
}

impl Stickiness {
    /// The checked spec.
    pub fn spec(&self) -> &StickinessSpec {
        &self.spec
    }

    /// The first day of the period.
    pub fn period_start(&self) -> LocalDay {
        self.period_start
    }

    /// An empty builder counting local days in `zone`.
    pub fn builder<Tz: TimeZone>(&self, zone: Tz) -> StickinessBuilder<Tz> {
        StickinessBuilder::new(self.clone(), zone)
    }

    /// The earliest day either the period or the week needs.
    fn first_needed(&self) -> LocalDay {
        self.period_start.min(self.week_start)
    }

    fn in_period(&self, day: LocalDay) -> bool {
        (self.period_start..=self.spec.last_day).contains(&day)
    }

    fn in_week(&self, day: LocalDay) -> bool {
        (self.week_start..=self.spec.last_day).contains(&day)
    }
}

/// Collects each user's active local days for a [`Stickiness`] analysis, in
/// any order.
///
/// Serializable when the zone is (a `chrono-tz` zone with its `serde`
/// feature); the [`StickinessTally`] it finishes into always is.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct StickinessBuilder<Tz> {
    stickiness: Stickiness,
    zone: Tz,
    users: BTreeMap<UserId, BTreeSet<LocalDay>>,
}

impl<Tz: TimeZone> StickinessBuilder<Tz> {
    /// An empty builder counting local days in `zone`.
    pub fn new(stickiness: Stickiness, zone: Tz) -> StickinessBuilder<Tz> {
        StickinessBuilder {
            stickiness,
            zone,
            users: BTreeMap::new(),
        }
    }

    /// Takes one event; events that are not activity, or fall outside both
    /// the period and the week, are ignored.
    pub fn add(&mut self, event: &Event) {
        let s = &self.stickiness;
        if !s.spec.activity.iter().any(|p| p.matches(&event.kind)) {
            return;
        }
        let day = LocalDay::of(event.at, &self.zone);
        if !(s.first_needed()..=s.spec.last_day).contains(&day) {
            return;
        }
        self.users.entry(event.user).or_default().insert(day);
    }

    /// Takes every event of an iterator.
    pub fn extend<'a>(&mut self, events: impl IntoIterator<Item = &'a Event>) {
        for event in events {
            self.add(event);
        }
    }

    /// Adds everything `other` has seen; a user may appear in both. Refused
    /// if the specs differ. Both builders must count days in the same zone
    /// (not checked: zones need not be comparable).
    pub fn merge(&mut self, other: StickinessBuilder<Tz>) -> Result<(), AnalyticsError> {
        if self.stickiness != other.stickiness {
            return Err(AnalyticsError::SpecMismatch {
                what: "stickiness builders",
            });
        }
        for (user, days) in other.users {
            self.users.entry(user).or_default().extend(days);
        }
        Ok(())
    }

    /// How many users were active in the period or the week.
    pub fn users(&self) -> usize {
        self.users.len()
    }

    /// Counts every user's active days into a tally.
    pub fn finish(self) -> StickinessTally {
        let mut tally = StickinessTally::empty(self.stickiness);
        let s = &tally.stickiness;
        for days in self.users.values() {
            let mut in_period = false;
            let mut in_week = 0_usize;
            for &day in days {
                if s.in_period(day) {
                    in_period = true;
                    let offset = usize::try_from(day.days_since(s.period_start)).ok();
                    if let Some(count) = offset.and_then(|i| tally.daily_active.get_mut(i)) {
                        bump(count, 1);
                    }
                }
                if s.in_week(day) {
                    in_week += 1;
                }
            }
            if in_period {
                bump(&mut tally.period_active, 1);
            }
            if let Some(count) = in_week
                .checked_sub(1)
                .and_then(|k| tally.week_active_days.get_mut(k))
            {
                bump(count, 1);
            }
        }
        tally
    }
}

/// The mergeable result of a stickiness analysis: users per day of the
/// period, distinct users of the period, and users by active days in the
/// week. Merge tallies only of disjoint sets of users (see the
/// [module docs](super#sharding)).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(try_from = "RawStickinessTally")]
pub struct StickinessTally {
    stickiness: Stickiness,
    daily_active: Vec<u64>,
    period_active: u64,
    week_active_days: Vec<u64>,
}

/// The serialized shape of a [`StickinessTally`], checked on the way in.
#[derive(Deserialize)]
struct RawStickinessTally {
    stickiness: Stickiness,
    daily_active: Vec<u64>,
    period_active: u64,
    week_active_days: Vec<u64>,
}

impl TryFrom<RawStickinessTally> for StickinessTally {
    type Error = AnalyticsError;

    fn try_from(raw: RawStickinessTally) -> Result<Self, Self::Error> {
        let days = raw.stickiness.spec.window_days as usize;
        if raw.daily_active.len() != days || raw.week_active_days.len() != WEEK_DAYS as usize {
            return Err(AnalyticsError::MalformedTally {
                what: "stickiness tally",
                detail: format!(
                    "`daily_active` has {} entries and `week_active_days` {}, expected {days} and 7",
                    raw.daily_active.len(),
                    raw.week_active_days.len()
                ),
            });
        }
        check_counts(
            raw.stickiness.spec.window_days,
            &raw.daily_active,
            raw.period_active,
            &raw.week_active_days,
        )
        .map_err(|detail| AnalyticsError::MalformedTally {
            what: "stickiness tally",
            detail,
        })?;
        Ok(StickinessTally {
            stickiness: raw.stickiness,
            daily_active: raw.daily_active,
            period_active: raw.period_active,
            week_active_days: raw.week_active_days,
        })
    }
}

/// What `finish` and `merge` keep true of a tally's counts, or which one
/// breaks it: a day's actives are among the period's, each of whom was
/// active on some day of it; the days the period shares with the week have
/// no more actives than the week (`week_active_days` summed); and of the
/// period and the week, the one inside the other has no more actives. Sums
/// that stick at `u64::MAX` keep every one of these.
fn check_counts(
    window_days: u32,
    daily_active: &[u64],
    period_active: u64,
    week_active_days: &[u64],
) -> Result<(), String> {
    let sum = |counts: &[u64]| counts.iter().fold(0_u64, |s, &n| s.saturating_add(n));
    let weekly_active = sum(week_active_days);
    // Days before this index of the period are not in the week.
    let first_in_week = window_days.saturating_sub(WEEK_DAYS) as usize;
    for (d, &active) in daily_active.iter().enumerate() {
        if active > period_active {
            return Err(format!(
                "`daily_active[{d}]` is {active}, more than `period_active` {period_active}"
            ));
        }
        if d >= first_in_week && active > weekly_active {
            return Err(format!(
                "`daily_active[{d}]` is {active}, more than the {weekly_active} users \
                 `week_active_days` counts in the week holding that day"
            ));
        }
    }
    let daily_sum = sum(daily_active);
    if period_active > daily_sum {
        return Err(format!(
            "`period_active` is {period_active}, but `daily_active` sums to {daily_sum}: \
             every user active in the period is active on one of its days"
        ));
    }
    if window_days >= WEEK_DAYS && weekly_active > period_active {
        return Err(format!(
            "`week_active_days` counts {weekly_active} users, more than `period_active` \
             {period_active}, in a period holding the week"
        ));
    }
    if window_days <= WEEK_DAYS && period_active > weekly_active {
        return Err(format!(
            "`period_active` is {period_active}, more than the {weekly_active} users \
             `week_active_days` counts in a week holding the period"
        ));
    }
    Ok(())
}

impl StickinessTally {
    /// The tally of nobody: the identity of [`StickinessTally::merge`].
    pub fn empty(stickiness: Stickiness) -> StickinessTally {
        StickinessTally {
            daily_active: vec![0; stickiness.spec.window_days as usize],
            period_active: 0,
            week_active_days: vec![0; WEEK_DAYS as usize],
            stickiness,
        }
    }

    /// The specification counted.
    pub fn stickiness(&self) -> &Stickiness {
        &self.stickiness
    }

    /// Adds another tally of *different* users. Associative and commutative;
    /// refused if the specs differ.
    pub fn merge(&mut self, other: StickinessTally) -> Result<(), AnalyticsError> {
        if self.stickiness != other.stickiness {
            return Err(AnalyticsError::SpecMismatch {
                what: "stickiness tallies",
            });
        }
        for (mine, theirs) in self.daily_active.iter_mut().zip(other.daily_active) {
            bump(mine, theirs);
        }
        bump(&mut self.period_active, other.period_active);
        for (mine, theirs) in self.week_active_days.iter_mut().zip(other.week_active_days) {
            bump(mine, theirs);
        }
        Ok(())
    }

    /// Reads the numbers out.
    pub fn report(&self) -> StickinessReport {
        let spec = &self.stickiness.spec;
        let dau_sum = self
            .daily_active
            .iter()
            .fold(0_u64, |sum, &n| sum.saturating_add(n));
        let weekly_active = self
            .week_active_days
            .iter()
            .fold(0_u64, |sum, &n| sum.saturating_add(n));
        let window_days = u64::from(spec.window_days);
        // Users active on ≥ N days: suffix sums of the exact counts, added
        // from the top (subtracting from a saturated total would be wrong).
        let mut at_least: Vec<Ratio> = self
            .week_active_days
            .iter()
            .rev()
            .scan(0_u64, |sum, &exactly| {
                *sum = sum.saturating_add(exactly);
                Some(Ratio::new(*sum, weekly_active))
            })
            .collect();
        at_least.reverse();
        StickinessReport {
            period_start: self.stickiness.period_start,
            last_day: spec.last_day,
            window_days: spec.window_days,
            daily_active: self.daily_active.clone(),
            period_active: self.period_active,
            average_daily_active: Ratio::new(dau_sum, window_days),
            dau_mau: Ratio::new(dau_sum, window_days.saturating_mul(self.period_active)),
            weekly_active,
            active_days: self.week_active_days.clone(),
            at_least,
        }
    }
}

/// What a stickiness analysis found.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct StickinessReport {
    /// The first day of the period.
    pub period_start: LocalDay,
    /// The last day of the period and of the week.
    pub last_day: LocalDay,
    /// The period's length in days.
    pub window_days: u32,
    /// DAU for each day of the period, from `period_start` to `last_day`.
    pub daily_active: Vec<u64>,
    /// MAU: users active on at least one day of the period.
    pub period_active: u64,
    /// Average DAU: the sum of `daily_active` over `window_days`.
    pub average_daily_active: Ratio,
    /// DAU/MAU: the sum of `daily_active` over `window_days × period_active`.
    pub dau_mau: Ratio,
    /// Users active on at least one of the week's seven days.
    pub weekly_active: u64,
    /// `active_days[k − 1]`: users active on exactly `k` of the week's seven
    /// days, `k = 1..=7`.
    pub active_days: Vec<u64>,
    /// `at_least[N − 1]`: users active on `N` or more of the week's days over
    /// weekly actives, `N = 1..=7`.
    pub at_least: Vec<Ratio>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::test_support::{beijing, bj, visit};
    use chrono::{FixedOffset, NaiveDate, Utc};

    fn march(d: u32) -> LocalDay {
        LocalDay::from_date(NaiveDate::from_ymd_opt(2026, 3, d).unwrap())
    }

    #[test]
    fn at_least_survives_a_saturated_count() {
        // Only a tally read back from JSON gets there.
        let mut value = serde_json::to_value(StickinessTally::empty(spec(7, 7)))
            .unwrap_or_else(|e| unreachable!("{e}"));
        value["week_active_days"] = serde_json::json!([u64::MAX, 5, 0, 0, 0, 0, 0]);
        // As many users in the period (the week) and on its first day.
        value["period_active"] = serde_json::json!(u64::MAX);
        value["daily_active"] = serde_json::json!([u64::MAX, 0, 0, 0, 0, 0, 0]);
        let tally: StickinessTally =
            serde_json::from_value(value).unwrap_or_else(|e| unreachable!("{e}"));
        let r = tally.report();
        assert_eq!(r.weekly_active, u64::MAX);
        assert_eq!(r.at_least[0].numerator, u64::MAX);
        assert_eq!(r.at_least[1].numerator, 5);
        assert_eq!(r.at_least[6].numerator, 0);
    }

    #[test]
    fn tallies_with_numbers_no_analysis_counts_are_refused_by_field() {
        use serde_json::json;
        let read =
            |s: Stickiness, daily: serde_json::Value, period: u64, week: serde_json::Value| {
                let mut value = serde_json::to_value(StickinessTally::empty(s)).unwrap();
                value["daily_active"] = daily;
                value["period_active"] = period.into();
                value["week_active_days"] = week;
                serde_json::from_value::<StickinessTally>(value).map_err(|e| e.to_string())
            };
        // A ten-day period holding the week (its last seven days, from index
        // 3): one user on days 0 and 9, another on day 9 only.
        let ten = || spec(10, 10);
        let daily = || json!([1, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        let week = || json!([2, 0, 0, 0, 0, 0, 0]);
        assert!(read(ten(), daily(), 2, week()).is_ok());
        // A user active before the week only: in the period, not the week.
        let early = json!([1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert!(read(ten(), early.clone(), 1, json!([0, 0, 0, 0, 0, 0, 0])).is_ok());
        // Four days held by the week (Mar 4-7): two users in the week, one
        // of them in the period.
        let four = || spec(7, 4);
        assert!(read(four(), json!([0, 0, 0, 1]), 1, week()).is_ok());
        let one_in_week = || json!([1, 0, 0, 0, 0, 0, 0]);
        for (s, daily, period, week, names) in [
            (
                ten(),
                daily(),
                1,
                week(),
                "`daily_active[9]` is 2, more than `period_active` 1",
            ),
            (
                ten(),
                daily(),
                4,
                week(),
                "`period_active` is 4, but `daily_active` sums to 3",
            ),
            (
                ten(),
                daily(),
                2,
                one_in_week(),
                "`daily_active[9]` is 2, more than the 1",
            ),
            (
                ten(),
                early,
                1,
                json!([0, 0, 0, 0, 0, 2, 0]),
                "counts 2 users, more than `period_active` 1",
            ),
            (
                four(),
                json!([0, 3, 0, 0]),
                3,
                week(),
                "`daily_active[1]` is 3, more than the 2",
            ),
            (
                four(),
                json!([2, 0, 0, 1]),
                2,
                one_in_week(),
                "`daily_active[0]` is 2, more than the 1",
            ),
            (
                four(),
                json!([0, 1, 0, 1]),
                2,
                one_in_week(),
                "`period_active` is 2, more than the 1 users",
            ),
        ] {
            let err = read(s, daily.clone(), period, week.clone()).unwrap_err();
            assert!(err.starts_with("malformed stickiness tally: "), "{err}");
            assert!(err.contains(names), "{daily} {period} {week}: {err}");
        }
    }

    fn spec(last: u32, window_days: u32) -> Stickiness {
        StickinessSpec {
            window_days,
            ..StickinessSpec::new(march(last))
        }
        .validate()
        .unwrap()
    }

    fn run<Tz: TimeZone>(s: &Stickiness, zone: Tz, events: &[Event]) -> StickinessReport {
        let mut b = s.builder(zone);
        b.extend(events);
        b.finish().report()
    }

    #[test]
    fn local_midnight_in_plus_eight_starts_a_new_active_day() {
        let s = spec(7, 7);
        let events = [visit(1, bj(3, 23, 59, 59)), visit(1, bj(4, 0, 0, 0))];
        let r = run(&s, beijing(), &events);
        assert_eq!(r.active_days, [0, 1, 0, 0, 0, 0, 0]);
        assert_eq!(r.daily_active, [0, 0, 1, 1, 0, 0, 0]);
        // In UTC both instants are on the 3rd.
        let r = run(&s, Utc, &events);
        assert_eq!(r.active_days, [1, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn the_period_includes_both_ends_and_nothing_else() {
        let s = spec(10, 5); // the 6th to the 10th
        let events = [
            visit(1, bj(5, 23, 59, 59)),
            visit(2, bj(6, 0, 0, 0)),
            visit(3, bj(10, 23, 59, 59)),
            visit(4, bj(11, 0, 0, 0)),
        ];
        let r = run(&s, beijing(), &events);
        assert_eq!(r.period_start, march(6));
        assert_eq!(r.daily_active, [1, 0, 0, 0, 1]);
        assert_eq!(r.period_active, 2);
        // The week (4th to 10th) is longer than this period and sees user 1.
        assert_eq!(r.weekly_active, 3);
    }

    #[test]
    fn dau_over_mau_and_the_weekly_distribution() {
        let s = spec(30, 30);
        let mut events = Vec::new();
        for d in 1..=30 {
            events.push(visit(1, bj(d, 9, 0, 0))); // every day
        }
        for d in [24, 26, 28, 30] {
            events.push(visit(2, bj(d, 9, 0, 0)));
            events.push(visit(2, bj(d, 10, 0, 0))); // twice a day is once
        }
        events.push(visit(3, bj(1, 9, 0, 0))); // active in the period, not the week
        let r = run(&s, beijing(), &events);
        assert_eq!(r.period_active, 3);
        assert_eq!(r.average_daily_active, Ratio::new(35, 30));
        assert_eq!(r.dau_mau, Ratio::new(35, 90));
        assert_eq!(r.weekly_active, 2);
        assert_eq!(r.active_days, [0, 0, 0, 1, 0, 0, 1]);
        let at_least: Vec<_> = r.at_least.iter().map(|q| q.numerator).collect();
        assert_eq!(at_least, [2, 2, 2, 2, 1, 1, 1]);
        assert!(r.at_least.iter().all(|q| q.denominator == 2));
        let empty = run(&s, beijing(), &[]);
        assert_eq!(empty.dau_mau.value(), None);
        assert_eq!(empty.at_least[0].value(), None);
    }

    #[test]
    fn average_daily_active_is_a_ratio_above_one_with_several_users_a_day() {
        // Three users every day of a two-day period: three a day on average.
        let s = spec(2, 2);
        let events: Vec<_> = (1..=3)
            .flat_map(|u| [visit(u, bj(1, 9, 0, 0)), visit(u, bj(2, 9, 0, 0))])
            .collect();
        let r = run(&s, beijing(), &events);
        assert_eq!(r.average_daily_active, Ratio::new(6, 2));
        assert_eq!(r.average_daily_active.value(), Some(3.0));
        assert_eq!(r.dau_mau.value(), Some(1.0));
    }

    #[test]
    fn a_daylight_saving_day_is_one_local_day_in_an_iana_zone() {
        let berlin = chrono_tz::Europe::Berlin;
        // Berlin springs forward on 2026-03-29; that day has 23 hours.
        let at = |d, h, m| {
            berlin
                .with_ymd_and_hms(2026, 3, d, h, m, 0)
                .unwrap()
                .with_timezone(&Utc)
        };
        let s = spec(30, 2);
        let events = [
            visit(1, at(29, 0, 30)),
            visit(1, at(29, 23, 30)),
            visit(1, at(30, 0, 30)),
        ];
        let r = run(&s, berlin, &events);
        assert_eq!(r.daily_active, [1, 1]);
        // At a fixed +01:00, Berlin's 00:30 on the 30th is still 23:30 on the 29th.
        let cet = FixedOffset::east_opt(3600).unwrap();
        let r = run(&s, cet, &events[2..]);
        assert_eq!(r.daily_active, [1, 0]);
    }

    #[test]
    fn specs_are_checked() {
        let with = |window_days, activity| StickinessSpec {
            last_day: march(1),
            window_days,
            activity,
        };
        let any = vec![KindPattern::Any];
        for bad in [0, 367] {
            let err = with(bad, any.clone()).validate().unwrap_err();
            assert!(err.to_string().contains("window_days"), "{err}");
        }
        assert_eq!(
            with(7, vec![]).validate(),
            Err(AnalyticsError::NoActivityPatterns { field: "activity" })
        );
        let early = StickinessSpec::new(LocalDay::from_number(i32::MIN + 3));
        let err = early.validate().unwrap_err();
        assert!(
            matches!(err, AnalyticsError::WindowBeforeCalendar { .. }),
            "{err:?}"
        );
        // The message names the day given, not the calendar's first date.
        assert!(err.to_string().contains("-2147483645"), "{err}");
        // A pattern the JSON reader would refuse is refused here, by position.
        let home = vec![
            KindPattern::Any,
            KindPattern::Named(crate::event::KindTag::Visited, "home".into()),
        ];
        let err = with(7, home).validate().unwrap_err();
        assert!(
            matches!(
                err,
                AnalyticsError::InvalidPattern {
                    field: "activity",
                    index: Some(1),
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("`activity[1]`"), "{err}");
        let checkins = with(7, vec!["check_in".parse().unwrap()])
            .validate()
            .unwrap();
        let r = run(&checkins, beijing(), &[visit(1, bj(1, 9, 0, 0))]);
        assert_eq!(r.period_active, 0);
    }

    #[test]
    fn merges_serde_and_order_do_not_change_the_result() {
        let s = spec(10, 10);
        let mut events = vec![
            visit(1, bj(2, 9, 0, 0)),
            visit(2, bj(9, 9, 0, 0)),
            visit(1, bj(9, 9, 0, 0)),
            visit(3, bj(10, 9, 0, 0)),
        ];
        let mut one = s.builder(beijing());
        one.extend(&events);
        let whole = one.clone().finish();
        events.reverse();
        let mut reversed = s.builder(beijing());
        reversed.extend(&events);
        assert_eq!(reversed.finish(), whole);

        let (mut a, mut b) = (s.builder(beijing()), s.builder(beijing()));
        for e in &events {
            if e.user == UserId(1) {
                a.add(e)
            } else {
                b.add(e)
            }
        }
        let mut merged = a.finish();
        merged.merge(b.finish()).unwrap();
        assert_eq!(merged, whole);

        let (mut a, mut b) = (s.builder(beijing()), s.builder(beijing()));
        for (i, e) in events.iter().enumerate() {
            if i % 2 == 0 { a.add(e) } else { b.add(e) }
        }
        a.merge(b).unwrap();
        assert_eq!(a.finish(), whole);

        let json = serde_json::to_string(&whole).unwrap();
        assert_eq!(
            serde_json::from_str::<StickinessTally>(&json).unwrap(),
            whole
        );
        let report = whole.report();
        let json = serde_json::to_string(&report).unwrap();
        assert_eq!(
            serde_json::from_str::<StickinessReport>(&json).unwrap(),
            report
        );
        let mut value = serde_json::to_value(&whole).unwrap();
        value["daily_active"] = serde_json::json!([1, 2]);
        let err = serde_json::from_value::<StickinessTally>(value).unwrap_err();
        assert!(err.to_string().contains("daily_active"), "{err}");
        assert!(matches!(
            merged.merge(StickinessTally::empty(spec(11, 10))),
            Err(AnalyticsError::SpecMismatch { .. })
        ));
    }
}
