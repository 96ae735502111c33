//! Cohort retention tables: of the users who signed up on a day (or in a
//! week), how many came back N days (or weeks) later.
//!
//! # Definitions
//!
//! All instants are `DateTime<Utc>`; local days are [`LocalDay`]s in the
//! time zone given to [`RetentionBuilder::finish`]. Events after the analysis
//! instant `as_of` are ignored entirely, so a table is reproducible.
//!
//! - **Entry.** A user's entry instant `e` is their earliest event matching
//!   [`RetentionSpec::entry`] (by default [`EventKind::SignedUp`]) at or
//!   before `as_of`. Users with no such event belong to no cohort: the
//!   library does not guess a sign-up from a first visit, because a user
//!   whose account predates the event log would then be counted as new.
//! - **Cohort.** The local day of `e` ([`CohortBy::Day`]), or the first day of
//!   the local week containing it ([`CohortBy::Week`], weeks starting on
//!   `starts_on`, Monday by default).
//! - **Activity.** Events matching [`RetentionSpec::activity`]; when that is
//!   absent (the default), every event that does *not* match the entry
//!   pattern. Activity before `e` is ignored.
//! - **Interval index** of an instant `t ≥ e`, by [`IntervalClock`] and
//!   [`IntervalUnit`]:
//!   - calendar days: `max(0, localday(t) − localday(e))` (interval 0 is the
//!     rest of the sign-up day, interval 1 the next local day, and so on; a
//!     day with a daylight-saving change is one interval like any other).
//!     The `max` matters only where a zone sets its clock back past local
//!     midnight: an instant after the entry can then fall on the local day
//!     before the entry's (America/St_Johns, 2010-11-07: 00:00:30 NDT is
//!     followed by 23:01 NST on the 6th), and it is in interval 0, never
//!     before it;
//!   - calendar weeks: `⌊max(0, localday(t) − localday(e)) / 7⌋`, blocks of
//!     seven local days starting on the sign-up day;
//!   - rolling days: `max(0, ⌊(t − e) / 24 h⌋)` ([`rolling_days`]);
//!   - rolling weeks: `max(0, ⌊(t − e) / 168 h⌋)`. The `max` matters only
//!     at a leap second: chrono sorts `23:59:60.5` before the next midnight
//!     but counts that midnight as half a second *before* it, so an instant
//!     just after an entry inside a leap second would otherwise fall before
//!     interval 0.
//! - **Begun.** Interval `N` has begun for a user when `as_of` is at or
//!   after its start, that is once `N` days (or weeks) have passed since the
//!   entry: interval 0 starts at the entry itself (and `e ≤ as_of`, so it
//!   has always begun); for calendar intervals `N ≥ 1`, the local midnight
//!   that starts it (`localday(as_of) ≥ localday(e) + N·len`); for rolling
//!   ones, `e + N·len ≤ as_of`. Equivalently, `N ≤ index(as_of)`.
//! - **Elapsed.** Interval `N` has fully elapsed for a user when `as_of` is at
//!   or after its end: for calendar intervals, the local midnight that ends it
//!   (`localday(as_of) ≥ localday(e) + (N + 1)·len`); for rolling ones,
//!   `e + (N + 1)·len ≤ as_of`. Equivalently, `N < index(as_of)`.
//! - **Reached(N)**: users of the cohort for whom interval `N` has begun.
//! - **Eligible(N)**: users of the cohort for whom interval `N` has elapsed.
//!   `Eligible(N) ≤ Reached(N)`; they differ by the users whose interval `N`
//!   is running at `as_of`.
//! - **Returned on N** ("N-day retention"): users of Eligible(N) with
//!   activity *in* interval `N`, over Eligible(N). A user whose interval `N`
//!   is still running is in neither count, so a cohort is not made to look
//!   worse by users who have not yet had the whole interval to return in.
//! - **Returned on or after N** ("unbounded retention", as Amplitude defines
//!   it): users with activity in interval `N` *or any later one*, up to
//!   `as_of`, over Reached(N) (activity beyond `max_n` counts too).
//!   Equivalently: the user's last activity falls in interval `N` or later.
//!   A user is in the denominator as soon as interval `N` begins: one who
//!   has already come back in a running interval `N` counts as returned,
//!   one who has not yet counts as not returned (and may still return
//!   before it ends). Everyone who returned on or after `N` has reached
//!   `N`, since no activity after `as_of` is counted.
//!
//! The table has one row per cohort with its size (every user whose entry
//! is in the cohort, whether or not they have reached an interval) and, for
//! `N = 0..=max_n`, the reached and eligible counts and both rates as exact
//! [`Ratio`]s.
//!
//! # Example
//!
//! ```
//! use chrono::{DateTime, FixedOffset, TimeZone, Utc};
//! use growthkit::analytics::{Ratio, RetentionSpec};
//! use growthkit::{Event, EventId, EventKind, UserId};
//!
//! let beijing = FixedOffset::east_opt(8 * 3600).unwrap();
//! let at = |d, h| -> DateTime<Utc> {
//!     beijing.with_ymd_and_hms(2026, 3, d, h, 0, 0).unwrap().with_timezone(&Utc)
//! };
//! let lesson = || EventKind::ActionCompleted { action: "lesson".into() };
//! let events = [
//!     // Ann signs up on the 1st at 23:00 and studies at 08:00 the next day.
//!     (1, at(1, 23), EventKind::SignedUp),
//!     (1, at(2, 8), lesson()),
//!     // Bo signs up on the 1st, skips day 1, returns on day 3.
//!     (2, at(1, 9), EventKind::SignedUp),
//!     (2, at(4, 9), lesson()),
//!     // Cy signs up on the 3rd: on the 4th at 10:00 her day 1 has begun but
//!     // is not over.
//!     (3, at(3, 9), EventKind::SignedUp),
//!     (3, at(4, 9), lesson()),
//! ];
//!
//! let spec: RetentionSpec = serde_json::from_str(r#"{"max_n": 2}"#).unwrap();
//! let mut builder = spec.validate().unwrap().builder(at(4, 10));
//! for (i, (user, t, kind)) in events.into_iter().enumerate() {
//!     builder.add(&Event::new(EventId(i as u64), UserId(user), t, kind));
//! }
//! let table = builder.finish(&beijing).report();
//!
//! let march_1 = &table.cohorts[0];
//! assert_eq!((march_1.cohort.to_string().as_str(), march_1.users), ("2026-03-01", 2));
//! assert_eq!(march_1.intervals[1].returned_on, Ratio::new(1, 2));
//! assert_eq!(march_1.intervals[1].returned_on_or_after, Ratio::new(2, 2));
//! let march_3 = &table.cohorts[1];
//! assert_eq!(march_3.intervals[0].eligible, 1);
//! // N-day retention: the 4th is still running, so Cy is not counted yet.
//! assert_eq!(march_3.intervals[1].eligible, 0);
//! assert_eq!(march_3.intervals[1].returned_on.value(), None);
//! // Unbounded retention: her day 1 has begun and she came back in it.
//! assert_eq!(march_3.intervals[1].reached, 1);
//! assert_eq!(march_3.intervals[1].returned_on_or_after, Ratio::new(1, 1));
//! // Her day 2 has not begun.
//! assert_eq!(march_3.intervals[2].reached, 0);
//! ```

use super::{AnalyticsError, Ratio, bump, check_patterns};
use crate::event::{Event, EventKind, KindPattern, KindTag};
use crate::id::UserId;
use crate::time::{LocalDay, rolling_days};
use chrono::{DateTime, TimeZone, Utc, Weekday};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// How users are grouped into cohorts by their entry instant.
///
/// In JSON: `{"by": "day"}` or `{"by": "week", "starts_on": "Mon"}`.
///
/// Unknown fields are refused (`{"by": "week", "start_on": "Sun"}` is a
/// typo, not a Monday week). `Day` is written with braces because serde
/// checks no fields for a variant without them (serde-rs/serde#2123).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case", deny_unknown_fields)]
pub enum CohortBy {
    /// One cohort per local day (the default).
    Day {},
    /// One cohort per local week, named by its first day.
    Week {
        /// The first day of each week (Monday unless set).
        #[serde(default = "monday")]
        starts_on: Weekday,
    },
}

impl Default for CohortBy {
    fn default() -> Self {
        CohortBy::Day {}
    }
}

fn monday() -> Weekday {
    Weekday::Mon
}

/// Whether intervals follow the local calendar or run from the entry instant.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntervalClock {
    /// Local calendar days (or blocks of seven of them) from the entry's day.
    #[default]
    Calendar,
    /// Whole 24-hour (or 168-hour) intervals from the entry instant.
    Rolling,
}

/// The length of one retention interval.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntervalUnit {
    /// One day.
    #[default]
    Day,
    /// Seven days.
    Week,
}

impl IntervalUnit {
    fn days(self) -> i64 {
        match self {
            IntervalUnit::Day => 1,
            IntervalUnit::Week => 7,
        }
    }
}

/// A retention table as written in configuration; [`RetentionSpec::validate`]
/// checks it into a [`Retention`]. Every field but `max_n` has a default.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionSpec {
    /// The event that puts a user into a cohort; their earliest one counts.
    /// Default: `signed_up`.
    #[serde(default = "signed_up")]
    pub entry: KindPattern,
    /// Events that count as coming back. `None` (the default): every event
    /// that does not match `entry`. If given, must not be empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activity: Option<Vec<KindPattern>>,
    /// Cohorts by local day or local week.
    #[serde(default)]
    pub cohort: CohortBy,
    /// Calendar or rolling intervals.
    #[serde(default)]
    pub clock: IntervalClock,
    /// Intervals of a day or a week.
    #[serde(default)]
    pub unit: IntervalUnit,
    /// The last interval reported: the table has `max_n + 1` columns,
    /// `N = 0..=max_n`. At most [`RetentionSpec::MAX_N`].
    pub max_n: u32,
}

fn signed_up() -> KindPattern {
    KindPattern::Kind(KindTag::SignedUp)
}

impl RetentionSpec {
    /// The largest `max_n`: ten years of days.
    pub const MAX_N: u32 = 3_660;

    /// A spec with every default and the given `max_n`.
    pub fn new(max_n: u32) -> RetentionSpec {
        RetentionSpec {
            entry: signed_up(),
            activity: None,
            cohort: CohortBy::Day {},
            clock: IntervalClock::Calendar,
            unit: IntervalUnit::Day,
            max_n,
        }
    }

    /// Checks the spec into a [`Retention`]. Each `entry` and `activity` pattern must pass
    /// [`KindPattern::check`] ([`AnalyticsError::InvalidPattern`] names the
    /// first that does not), so what validates also reads back from its JSON.
    pub fn validate(self) -> Result<Retention, AnalyticsError> {
        Retention::try_from(self)
    }
}

/// A checked retention specification. Serializes as its [`RetentionSpec`].
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(try_from = "RetentionSpec", into = "RetentionSpec")]
pub struct Retention {
    spec: RetentionSpec,
}

impl TryFrom<RetentionSpec> for Retention {
    type Error = AnalyticsError;

    fn try_from(spec: RetentionSpec) -> Result<Self, Self::Error> {
        if spec.max_n > RetentionSpec::MAX_N {
            return Err(AnalyticsError::TooManyIntervals {
                given: spec.max_n,
                max: RetentionSpec::MAX_N,
            });
        }
        if spec.activity.as_ref().is_some_and(Vec::is_empty) {
            return Err(AnalyticsError::NoActivityPatterns { field: "activity" });
        }
        spec.entry
            .check()
            .map_err(|error| AnalyticsError::InvalidPattern {
                field: "entry",
                index: None,
                error,
            })?;
        check_patterns("activity", spec.activity.as_deref().unwrap_or_default())?;
        Ok(Retention { spec })
    }
}

impl From<Retention> for RetentionSpec {
    fn from(retention: Retention) -> Self {
        retention.spec
    }
}

impl Retention {
    /// The checked spec.
    pub fn spec(&self) -> &RetentionSpec {
        &self.spec
    }

    /// An empty builder for a table as of `as_of`.
    pub fn builder(&self, as_of: DateTime<Utc>) -> RetentionBuilder {
        RetentionBuilder::new(self.clone(), as_of)
    }

    fn columns(&self) -> usize {
        // max_n ≤ MAX_N, so this neither overflows nor allocates much.
        self.spec.max_n as usize + 1
    }

    fn is_entry(&self, kind: &EventKind) -> bool {
        self.spec.entry.matches(kind)
    }

    fn is_activity(&self, kind: &EventKind) -> bool {
        match &self.spec.activity {
            None => !self.spec.entry.matches(kind),
            Some(patterns) => patterns.iter().any(|p| p.matches(kind)),
        }
    }

    /// The index of the interval `at` falls in, for a user who entered at
    /// `entry`: never negative for `at ≥ entry`, even where the local day
    /// steps back after the entry (a clock set back past midnight), so an
    /// instant after the entry is never before interval 0. Negative only
    /// for some instants before the entry.
    fn interval<Tz: TimeZone>(&self, entry: DateTime<Utc>, at: DateTime<Utc>, zone: &Tz) -> i64 {
        let days = match self.spec.clock {
            IntervalClock::Calendar => {
                i64::from(LocalDay::of(at, zone).days_since(LocalDay::of(entry, zone)))
            }
            IntervalClock::Rolling => rolling_days(entry, at),
        };
        let n = days.div_euclid(self.spec.unit.days());
        if at >= entry { n.max(0) } else { n }
    }

    fn cohort_of<Tz: TimeZone>(&self, entry: DateTime<Utc>, zone: &Tz) -> LocalDay {
        let day = LocalDay::of(entry, zone);
        match self.spec.cohort {
            CohortBy::Day {} => day,
            CohortBy::Week { starts_on } => day.week_start(starts_on),
        }
    }
}

/// One user's entry and the distinct instants they were active.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
struct Span {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    entry: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    active: BTreeSet<DateTime<Utc>>,
}

impl Span {
    fn enter(&mut self, at: DateTime<Utc>) {
        self.entry = Some(self.entry.map_or(at, |e| e.min(at)));
    }
}

/// Collects events for a [`Retention`] table, per user, in any order.
///
/// Keeps each user's distinct activity instants until
/// [`finish`](RetentionBuilder::finish), because interval boundaries depend on
/// the entry instant, which a later-arriving event may still move earlier.
/// Zone-free, so it serializes whatever zone the host finally uses.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct RetentionBuilder {
    retention: Retention,
    as_of: DateTime<Utc>,
    users: BTreeMap<UserId, Span>,
}

impl RetentionBuilder {
    /// An empty builder for a table as of `as_of`.
    pub fn new(retention: Retention, as_of: DateTime<Utc>) -> RetentionBuilder {
        RetentionBuilder {
            retention,
            as_of,
            users: BTreeMap::new(),
        }
    }

    /// Takes one event; events after `as_of` and events that are neither
    /// entry nor activity are ignored.
    pub fn add(&mut self, event: &Event) {
        if event.at > self.as_of {
            return;
        }
        let entry = self.retention.is_entry(&event.kind);
        let active = self.retention.is_activity(&event.kind);
        if !entry && !active {
            return;
        }
        let span = self.users.entry(event.user).or_default();
        if entry {
            span.enter(event.at);
        }
        if active {
            span.active.insert(event.at);
        }
    }

    /// Takes every event of an iterator.
    pub fn extend<'a>(&mut self, events: impl IntoIterator<Item = &'a Event>) {
        for event in events {
            self.add(event);
        }
    }

    /// Adds everything `other` has seen, as if its events had been fed here.
    /// A user may appear in both. Refused if the specs or `as_of` differ.
    pub fn merge(&mut self, other: RetentionBuilder) -> Result<(), AnalyticsError> {
        if self.retention != other.retention || self.as_of != other.as_of {
            return Err(AnalyticsError::SpecMismatch {
                what: "retention builders",
            });
        }
        for (user, span) in other.users {
            let mine = self.users.entry(user).or_default();
            if let Some(at) = span.entry {
                mine.enter(at);
            }
            mine.active.extend(span.active);
        }
        Ok(())
    }

    /// The analysis instant.
    pub fn as_of(&self) -> DateTime<Utc> {
        self.as_of
    }

    /// How many users have at least one relevant event.
    pub fn users(&self) -> usize {
        self.users.len()
    }

    /// Places every user in a cohort, in the local calendar of `zone`, and
    /// counts them into a tally.
    pub fn finish<Tz: TimeZone>(self, zone: &Tz) -> RetentionTally {
        let mut tally = RetentionTally::empty(self.retention, self.as_of);
        let columns = tally.retention.columns();
        for span in self.users.values() {
            let Some(entry) = span.entry else { continue };
            let retention = &tally.retention;
            let elapsed = retention.interval(entry, self.as_of, zone);
            let mut returned_on = vec![false; columns];
            let mut last_active: Option<i64> = None;
            // Activity before the entry is ignored; from the entry on, the
            // interval is never negative.
            for &at in span.active.range(entry..) {
                let n = retention.interval(entry, at, zone);
                if let Some(slot) = usize::try_from(n).ok().and_then(|i| returned_on.get_mut(i)) {
                    *slot = true;
                }
                last_active = Some(last_active.map_or(n, |l| l.max(n)));
            }
            let cohort = retention.cohort_of(entry, zone);
            let row = tally
                .cohorts
                .entry(cohort)
                .or_insert_with(|| CohortTally::empty(columns));
            bump(&mut row.users, 1);
            // Interval n has begun for n ≤ elapsed and is over for n < elapsed.
            for ((n, column), on) in (0_i64..).zip(&mut row.intervals).zip(&returned_on) {
                if n > elapsed {
                    break;
                }
                bump(&mut column.reached, 1);
                // Activity is never after as_of, so a last activity in
                // interval n or later means n ≤ elapsed: counted above.
                if last_active.is_some_and(|l| l >= n) {
                    bump(&mut column.returned_on_or_after, 1);
                }
                if n < elapsed {
                    bump(&mut column.eligible, 1);
                    if *on {
                        bump(&mut column.returned_on, 1);
                    }
                }
            }
        }
        tally
    }
}

/// The counts behind one cell of the table.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
#[serde(from = "RawIntervalTally")]
struct IntervalTally {
    /// Users for whom the interval has begun: `returned_on_or_after`'s whole.
    reached: u64,
    /// Users for whom the interval is over: `returned_on`'s whole.
    eligible: u64,
    returned_on: u64,
    returned_on_or_after: u64,
}

/// The serialized shape of an [`IntervalTally`], whose numbers are checked
/// with the rest of its row when the [`RetentionTally`] is read (a cell alone
/// does not know its cohort's size, nor its neighbours). Tallies written before
/// `reached` was counted lack it; they counted `returned_on_or_after` over
/// eligible users only, so `eligible` stands in and they read back as they
/// were written.
#[derive(Deserialize)]
struct RawIntervalTally {
    #[serde(default)]
    reached: Option<u64>,
    eligible: u64,
    returned_on: u64,
    returned_on_or_after: u64,
}

impl From<RawIntervalTally> for IntervalTally {
    fn from(raw: RawIntervalTally) -> Self {
        IntervalTally {
            reached: raw.reached.unwrap_or(raw.eligible),
            eligible: raw.eligible,
            returned_on: raw.returned_on,
            returned_on_or_after: raw.returned_on_or_after,
        }
    }
}

/// The counts behind one row of the table.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
struct CohortTally {
    users: u64,
    intervals: Vec<IntervalTally>,
}

impl CohortTally {
    fn empty(columns: usize) -> CohortTally {
        CohortTally {
            users: 0,
            intervals: vec![IntervalTally::default(); columns],
        }
    }

    /// What `finish` and `merge` keep true of a row, or which count breaks
    /// it. A row exists once a user entered the cohort. In each interval,
    /// `returned_on ≤ eligible ≤ reached ≤ users` and `returned_on ≤
    /// returned_on_or_after ≤ reached` (a user active in an interval that
    /// is over was active in it or later). From one interval to the next,
    /// `reached` of the later is at most `eligible` of the earlier (a later
    /// interval begins only when the earlier one is over; they are equal in
    /// tallies counted with `reached`, not in those read without it), and
    /// `returned_on_or_after` never rises. Sums that stick at `u64::MAX`
    /// keep every one of these.
    fn check(&self) -> Result<(), String> {
        if self.users == 0 {
            return Err("`users` is 0: a cohort holds at least the user who made it".into());
        }
        let at_most = |n: usize, (small, a): (&str, u64), (big, b): (&str, u64)| {
            if a <= b {
                Ok(())
            } else {
                Err(format!(
                    "interval {n}: `{small}` is {a}, more than `{big}` {b}"
                ))
            }
        };
        for (n, cell) in self.intervals.iter().enumerate() {
            let users = ("users", self.users);
            let reached = ("reached", cell.reached);
            let eligible = ("eligible", cell.eligible);
            let on = ("returned_on", cell.returned_on);
            let on_or_after = ("returned_on_or_after", cell.returned_on_or_after);
            at_most(n, reached, users)?;
            at_most(n, eligible, reached)?;
            at_most(n, on, eligible)?;
            at_most(n, on_or_after, reached)?;
            at_most(n, on, on_or_after)?;
        }
        for (n, pair) in self.intervals.windows(2).enumerate() {
            let (before, next) = (pair[0], pair[1]);
            if next.reached > before.eligible {
                return Err(format!(
                    "interval {}: `reached` is {}, more than interval {n}'s `eligible` {}: \
                     an interval begins only for users whose previous one is over",
                    n + 1,
                    next.reached,
                    before.eligible
                ));
            }
            if next.returned_on_or_after > before.returned_on_or_after {
                return Err(format!(
                    "interval {}: `returned_on_or_after` is {}, more than interval {n}'s {}: \
                     a user who returned on or after an interval returned on or after the one before it",
                    n + 1,
                    next.returned_on_or_after,
                    before.returned_on_or_after
                ));
            }
        }
        Ok(())
    }

    fn absorb(&mut self, other: CohortTally) {
        bump(&mut self.users, other.users);
        for (mine, theirs) in self.intervals.iter_mut().zip(other.intervals) {
            bump(&mut mine.reached, theirs.reached);
            bump(&mut mine.eligible, theirs.eligible);
            bump(&mut mine.returned_on, theirs.returned_on);
            bump(&mut mine.returned_on_or_after, theirs.returned_on_or_after);
        }
    }
}

/// The mergeable result of a retention analysis: counts per cohort and
/// interval, no user ids. Merge tallies only of disjoint sets of users (see
/// the [module docs](super#sharding)).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(try_from = "RawRetentionTally")]
pub struct RetentionTally {
    retention: Retention,
    as_of: DateTime<Utc>,
    cohorts: BTreeMap<LocalDay, CohortTally>,
}

/// The serialized shape of a [`RetentionTally`], checked on the way in.
#[derive(Deserialize)]
struct RawRetentionTally {
    retention: Retention,
    as_of: DateTime<Utc>,
    cohorts: BTreeMap<LocalDay, CohortTally>,
}

impl TryFrom<RawRetentionTally> for RetentionTally {
    type Error = AnalyticsError;

    fn try_from(raw: RawRetentionTally) -> Result<Self, Self::Error> {
        let columns = raw.retention.columns();
        if let Some((day, row)) = raw
            .cohorts
            .iter()
            .find(|(_, row)| row.intervals.len() != columns)
        {
            return Err(AnalyticsError::MalformedTally {
                what: "retention tally",
                detail: format!(
                    "cohort {day} has {} `intervals`, expected max_n + 1 = {columns}",
                    row.intervals.len()
                ),
            });
        }
        for (day, row) in &raw.cohorts {
            row.check()
                .map_err(|detail| AnalyticsError::MalformedTally {
                    what: "retention tally",
                    detail: format!("cohort {day}, {detail}"),
                })?;
        }
        Ok(RetentionTally {
            retention: raw.retention,
            as_of: raw.as_of,
            cohorts: raw.cohorts,
        })
    }
}

impl RetentionTally {
    /// The tally of nobody: the identity of [`RetentionTally::merge`].
    pub fn empty(retention: Retention, as_of: DateTime<Utc>) -> RetentionTally {
        RetentionTally {
            retention,
            as_of,
            cohorts: BTreeMap::new(),
        }
    }

    /// The specification counted.
    pub fn retention(&self) -> &Retention {
        &self.retention
    }

    /// The analysis instant.
    pub fn as_of(&self) -> DateTime<Utc> {
        self.as_of
    }

    /// Adds another tally of *different* users. Associative and commutative;
    /// refused if the specs or `as_of` differ.
    pub fn merge(&mut self, other: RetentionTally) -> Result<(), AnalyticsError> {
        if self.retention != other.retention || self.as_of != other.as_of {
            return Err(AnalyticsError::SpecMismatch {
                what: "retention tallies",
            });
        }
        for (day, row) in other.cohorts {
            match self.cohorts.get_mut(&day) {
                Some(mine) => mine.absorb(row),
                None => {
                    self.cohorts.insert(day, row);
                }
            }
        }
        Ok(())
    }

    /// Reads the table out, cohorts in date order.
    pub fn report(&self) -> RetentionReport {
        let cohorts = self
            .cohorts
            .iter()
            .map(|(&cohort, row)| CohortRow {
                cohort,
                users: row.users,
                intervals: (0_u32..)
                    .zip(&row.intervals)
                    .map(|(n, cell)| IntervalRow {
                        n,
                        reached: cell.reached,
                        eligible: cell.eligible,
                        returned_on: Ratio::new(cell.returned_on, cell.eligible),
                        returned_on_or_after: Ratio::new(cell.returned_on_or_after, cell.reached),
                    })
                    .collect(),
            })
            .collect();
        RetentionReport {
            as_of: self.as_of,
            cohorts,
        }
    }
}

/// A retention table.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct RetentionReport {
    /// The analysis instant.
    pub as_of: DateTime<Utc>,
    /// One row per non-empty cohort, in date order.
    pub cohorts: Vec<CohortRow>,
}

/// One cohort of a [`RetentionReport`].
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct CohortRow {
    /// The cohort's local day, or the first day of its local week.
    pub cohort: LocalDay,
    /// Users who entered in this cohort.
    pub users: u64,
    /// One cell per interval `N = 0..=max_n`.
    pub intervals: Vec<IntervalRow>,
}

/// One cell of a [`RetentionReport`]: interval `n` of one cohort.
///
/// `eligible ≤ reached ≤ users`: a user reaches interval `n` when it begins
/// and becomes eligible when it is over.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(from = "RawIntervalRow")]
pub struct IntervalRow {
    /// The interval index.
    pub n: u32,
    /// Users of the cohort for whom interval `n` has begun: the denominator
    /// of `returned_on_or_after`.
    pub reached: u64,
    /// Users of the cohort for whom interval `n` has fully elapsed: the
    /// denominator of `returned_on`.
    pub eligible: u64,
    /// Eligible users active in interval `n`, over eligible users.
    pub returned_on: Ratio,
    /// Users active in interval `n` or later (up to `as_of`), over users who
    /// have reached interval `n`.
    pub returned_on_or_after: Ratio,
}

/// The serialized shape of an [`IntervalRow`]. Reports written before
/// `reached` was added lack it; it is `returned_on_or_after`'s denominator.
#[derive(Deserialize)]
struct RawIntervalRow {
    n: u32,
    #[serde(default)]
    reached: Option<u64>,
    eligible: u64,
    returned_on: Ratio,
    returned_on_or_after: Ratio,
}

impl From<RawIntervalRow> for IntervalRow {
    fn from(raw: RawIntervalRow) -> Self {
        IntervalRow {
            n: raw.n,
            reached: raw.reached.unwrap_or(raw.returned_on_or_after.denominator),
            eligible: raw.eligible,
            returned_on: raw.returned_on,
            returned_on_or_after: raw.returned_on_or_after,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::test_support::{beijing, bj, visit};
    use crate::id::EventId;
    use chrono::{FixedOffset, TimeDelta};

    fn signup(user: u64, at: DateTime<Utc>) -> Event {
        Event::new(EventId(0), UserId(user), at, EventKind::SignedUp)
    }

    fn table<Tz: TimeZone>(
        spec: RetentionSpec,
        as_of: DateTime<Utc>,
        zone: &Tz,
        events: &[Event],
    ) -> RetentionReport {
        let mut b = spec.validate().unwrap().builder(as_of);
        b.extend(events);
        b.finish(zone).report()
    }

    /// (eligible, returned on, returned on or after) of cohort 0, interval n.
    fn cell(report: &RetentionReport, cohort: usize, n: usize) -> (u64, u64, u64) {
        let c = &report.cohorts[cohort].intervals[n];
        (
            c.eligible,
            c.returned_on.numerator,
            c.returned_on_or_after.numerator,
        )
    }

    #[test]
    fn local_midnight_in_plus_eight_separates_day_zero_from_day_one() {
        let as_of = bj(10, 0, 0, 0);
        let late = [signup(1, bj(1, 10, 0, 0)), visit(1, bj(1, 23, 59, 59))];
        let r = table(RetentionSpec::new(1), as_of, &beijing(), &late);
        assert_eq!(cell(&r, 0, 0), (1, 1, 1));
        assert_eq!(cell(&r, 0, 1), (1, 0, 0));
        let midnight = [signup(1, bj(1, 10, 0, 0)), visit(1, bj(2, 0, 0, 0))];
        let r = table(RetentionSpec::new(1), as_of, &beijing(), &midnight);
        assert_eq!(cell(&r, 0, 0), (1, 0, 1));
        assert_eq!(cell(&r, 0, 1), (1, 1, 1));
        // The same instants in UTC fall on one day: 02:00 and 16:00 UTC.
        let r = table(RetentionSpec::new(1), as_of, &Utc, &midnight);
        assert_eq!(cell(&r, 0, 0), (1, 1, 1));
        // A sign-up at 23:59:59 local is in that day's cohort.
        let r = table(
            RetentionSpec::new(0),
            as_of,
            &beijing(),
            &[signup(1, bj(1, 23, 59, 59))],
        );
        assert_eq!(r.cohorts[0].cohort.to_string(), "2026-03-01");
    }

    #[test]
    fn an_interval_counts_once_it_has_exactly_elapsed() {
        let events = [signup(1, bj(1, 10, 0, 0)), visit(1, bj(1, 12, 0, 0))];
        // Calendar: day 0 ends at local midnight.
        let r = table(RetentionSpec::new(1), bj(2, 0, 0, 0), &beijing(), &events);
        assert_eq!((cell(&r, 0, 0), cell(&r, 0, 1).0), ((1, 1, 1), 0));
        let r = table(
            RetentionSpec::new(1),
            bj(1, 23, 59, 59),
            &beijing(),
            &events,
        );
        // Day 0 is running: not yet eligible for N-day retention, but begun,
        // so the visit in it counts for unbounded retention.
        assert_eq!(cell(&r, 0, 0), (0, 0, 1));
        assert_eq!(r.cohorts[0].users, 1);
        assert_eq!(r.cohorts[0].intervals[0].returned_on.value(), None);
        assert_eq!(
            r.cohorts[0].intervals[0].returned_on_or_after,
            Ratio::new(1, 1)
        );
        // Rolling: day 0 ends exactly 24 hours after sign-up.
        let rolling = RetentionSpec {
            clock: IntervalClock::Rolling,
            ..RetentionSpec::new(1)
        };
        let r = table(rolling.clone(), bj(2, 10, 0, 0), &beijing(), &events);
        assert_eq!(cell(&r, 0, 0), (1, 1, 1));
        let r = table(rolling, bj(2, 9, 59, 59), &beijing(), &events);
        assert_eq!(cell(&r, 0, 0).0, 0);
    }

    #[test]
    fn unbounded_retention_counts_a_user_in_day_n_once_day_n_has_begun() {
        // Signs up on the 1st at 09:00 local, comes back on the 2nd at 08:00;
        // the table is read on the 2nd at 10:00, while calendar day 1 is running.
        let events = [signup(1, bj(1, 9, 0, 0)), visit(1, bj(2, 8, 0, 0))];
        let as_of = bj(2, 10, 0, 0);
        let r = table(RetentionSpec::new(2), as_of, &beijing(), &events);
        let [day_0, day_1, day_2] = [0, 1, 2].map(|n| r.cohorts[0].intervals[n]);
        assert_eq!(day_1.returned_on_or_after, Ratio::new(1, 1));
        assert_eq!(day_1.reached, 1);
        // N-day retention waits for day 1 to be over.
        assert_eq!((day_1.eligible, day_1.returned_on), (0, Ratio::new(0, 0)));
        // Day 0 is over; day 2 has not begun.
        assert_eq!((day_0.reached, day_0.eligible), (1, 1));
        assert_eq!(day_0.returned_on_or_after, Ratio::new(1, 1));
        assert_eq!((day_2.reached, day_2.eligible), (0, 0));
        assert_eq!(day_2.returned_on_or_after, Ratio::new(0, 0));

        // Rolling: 08:00 on the 2nd is 23 hours after sign-up, in day 0; at
        // 10:00 (25 hours) day 0 is over and day 1 has begun, without a visit.
        let rolling = RetentionSpec {
            clock: IntervalClock::Rolling,
            ..RetentionSpec::new(2)
        };
        let r = table(rolling.clone(), as_of, &beijing(), &events);
        let [day_0, day_1, day_2] = [0, 1, 2].map(|n| r.cohorts[0].intervals[n]);
        assert_eq!((day_0.eligible, day_0.returned_on), (1, Ratio::new(1, 1)));
        assert_eq!((day_1.reached, day_1.eligible), (1, 0));
        assert_eq!(day_1.returned_on_or_after, Ratio::new(0, 1));
        assert_eq!(day_2.returned_on_or_after, Ratio::new(0, 0));
        // Coming back 24.5 hours after sign-up is coming back in day 1.
        let events = [signup(1, bj(1, 9, 0, 0)), visit(1, bj(2, 9, 30, 0))];
        let r = table(rolling, as_of, &beijing(), &events);
        let day_1 = r.cohorts[0].intervals[1];
        assert_eq!((day_1.reached, day_1.eligible), (1, 0));
        assert_eq!(day_1.returned_on_or_after, Ratio::new(1, 1));
        assert_eq!(day_1.returned_on, Ratio::new(0, 0));
    }

    /// (reached, eligible) of cohort 0, intervals 0..=2.
    fn reach(report: &RetentionReport) -> [(u64, u64); 3] {
        let c = &report.cohorts[0].intervals;
        [0, 1, 2].map(|n| (c[n].reached, c[n].eligible))
    }

    #[test]
    fn an_interval_is_reached_exactly_when_it_begins() {
        let ms = TimeDelta::milliseconds(1);
        // Calendar: day 2 begins at the local midnight that starts the 3rd.
        let events = [signup(1, bj(1, 10, 0, 0)), visit(1, bj(3, 0, 0, 0))];
        let r = table(RetentionSpec::new(2), bj(3, 0, 0, 0), &beijing(), &events);
        assert_eq!(reach(&r), [(1, 1), (1, 1), (1, 0)]);
        assert_eq!(cell(&r, 0, 2), (0, 0, 1));
        assert_eq!(
            r.cohorts[0].intervals[2].returned_on_or_after,
            Ratio::new(1, 1)
        );
        // One millisecond earlier is still the 2nd, and the visit is after as_of.
        let r = table(
            RetentionSpec::new(2),
            bj(3, 0, 0, 0) - ms,
            &beijing(),
            &events,
        );
        assert_eq!(reach(&r), [(1, 1), (1, 0), (0, 0)]);
        assert_eq!(cell(&r, 0, 1), (0, 0, 0));
        assert_eq!(
            r.cohorts[0].intervals[1].returned_on_or_after,
            Ratio::new(0, 1)
        );
        // Any time on the 2nd: day 1 begun, day 2 not.
        let r = table(RetentionSpec::new(2), bj(2, 0, 0, 0), &beijing(), &events);
        assert_eq!(reach(&r), [(1, 1), (1, 0), (0, 0)]);
        // Calendar weeks: week 1 begins on the seventh local day after sign-up.
        let weeks = RetentionSpec {
            unit: IntervalUnit::Week,
            ..RetentionSpec::new(2)
        };
        let r = table(weeks.clone(), bj(8, 0, 0, 0), &beijing(), &events);
        assert_eq!(reach(&r), [(1, 1), (1, 0), (0, 0)]);
        let r = table(weeks, bj(8, 0, 0, 0) - ms, &beijing(), &events);
        assert_eq!(reach(&r), [(1, 0), (0, 0), (0, 0)]);

        // Rolling: day 2 begins exactly 48 hours after sign-up.
        let rolling = RetentionSpec {
            clock: IntervalClock::Rolling,
            ..RetentionSpec::new(2)
        };
        let events = [signup(1, bj(1, 10, 0, 0)), visit(1, bj(3, 10, 0, 0))];
        let r = table(rolling.clone(), bj(3, 10, 0, 0), &beijing(), &events);
        assert_eq!(reach(&r), [(1, 1), (1, 1), (1, 0)]);
        assert_eq!(cell(&r, 0, 2), (0, 0, 1));
        let r = table(rolling, bj(3, 10, 0, 0) - ms, &beijing(), &events);
        assert_eq!(reach(&r), [(1, 1), (1, 0), (0, 0)]);
        assert_eq!(
            r.cohorts[0].intervals[2].returned_on_or_after,
            Ratio::new(0, 0)
        );
    }

    #[test]
    fn activity_just_after_an_entry_inside_a_leap_second_is_in_interval_0() {
        // chrono counts 00:00:00.2 as 0.3 s before 23:59:60.5, yet sorts it after.
        let date = chrono::NaiveDate::from_ymd_opt(2016, 12, 31).unwrap();
        let leap = date.and_hms_milli_opt(23, 59, 59, 1_500).unwrap().and_utc();
        let after = date
            .succ_opt()
            .unwrap()
            .and_hms_milli_opt(0, 0, 0, 200)
            .unwrap();
        let events = [signup(1, leap), visit(1, after.and_utc())];
        let rolling = RetentionSpec {
            clock: IntervalClock::Rolling,
            ..RetentionSpec::new(0)
        };
        let as_of = leap + TimeDelta::days(2);
        let r = table(rolling, as_of, &Utc, &events);
        assert_eq!(cell(&r, 0, 0), (1, 1, 1));
    }

    #[test]
    fn a_user_who_has_not_come_back_in_a_running_interval_counts_against_it() {
        // Two users whose day 1 is running; only one has come back in it.
        let events = [
            signup(1, bj(1, 9, 0, 0)),
            visit(1, bj(2, 8, 0, 0)),
            signup(2, bj(1, 11, 0, 0)),
        ];
        let r = table(RetentionSpec::new(1), bj(2, 10, 0, 0), &beijing(), &events);
        let day_1 = &r.cohorts[0].intervals[1];
        assert_eq!((day_1.reached, day_1.eligible), (2, 0));
        assert_eq!(day_1.returned_on_or_after, Ratio::new(1, 2));
        assert_eq!(day_1.returned_on, Ratio::new(0, 0));
    }

    #[test]
    fn tallies_and_reports_saved_without_reached_read_back_as_written() {
        // Day 1 is over for user 1 and running for user 2, who came back in it.
        // Tallies written before `reached` was counted lack it.
        let events = [
            signup(1, bj(1, 9, 0, 0)),
            visit(1, bj(2, 9, 0, 0)),
            signup(2, bj(2, 9, 0, 0)),
            visit(2, bj(3, 9, 0, 0)),
        ];
        let mut b = RetentionSpec::new(1)
            .validate()
            .unwrap()
            .builder(bj(3, 10, 0, 0));
        b.extend(&events);
        let tally = b.finish(&beijing());
        let mut old = serde_json::to_value(&tally).unwrap();
        for row in old["cohorts"].as_object_mut().unwrap().values_mut() {
            for cell in row["intervals"].as_array_mut().unwrap() {
                cell.as_object_mut().unwrap().remove("reached").unwrap();
            }
        }
        // Nor did they count user 2 in her running day 1.
        let running = &mut old["cohorts"]["2026-03-02"]["intervals"][1];
        assert_eq!(running["returned_on_or_after"], 1);
        running["returned_on_or_after"] = 0.into();
        // Read without `reached`, unbounded retention is over eligible users,
        // as it was when such tallies were written.
        let read: RetentionTally = serde_json::from_value(old).unwrap();
        let cells: Vec<_> = read
            .report()
            .cohorts
            .iter()
            .map(|c| c.intervals[1])
            .collect();
        assert_eq!((cells[0].reached, cells[0].eligible), (1, 1));
        assert_eq!((cells[1].reached, cells[1].eligible), (0, 0));
        assert_eq!(cells[1].returned_on_or_after, Ratio::new(0, 0));
        let now: Vec<_> = tally
            .report()
            .cohorts
            .iter()
            .map(|c| c.intervals[1])
            .collect();
        assert_eq!(
            (now[1].reached, now[1].returned_on_or_after),
            (1, Ratio::new(1, 1))
        );
        // Where every user's interval is over, nothing changes.
        assert_eq!(read.report().cohorts[0], tally.report().cohorts[0]);
        assert_eq!(
            read.report().cohorts[1].intervals[0],
            tally.report().cohorts[1].intervals[0]
        );

        let old_cell = r#"{"n": 1, "eligible": 2,
            "returned_on": {"numerator": 1, "denominator": 2},
            "returned_on_or_after": {"numerator": 1, "denominator": 2}}"#;
        let cell: IntervalRow = serde_json::from_str(old_cell).unwrap();
        assert_eq!((cell.reached, cell.eligible), (2, 2));
    }

    #[test]
    fn tallies_with_numbers_no_table_counts_are_refused_by_field() {
        use serde_json::json;
        // Day 0 over for both users, day 1 running for user 2, back in it.
        let events = [
            signup(1, bj(1, 9, 0, 0)),
            visit(1, bj(1, 12, 0, 0)),
            signup(2, bj(1, 10, 0, 0)),
            visit(2, bj(2, 9, 0, 0)),
        ];
        let mut b = RetentionSpec::new(2)
            .validate()
            .unwrap()
            .builder(bj(2, 10, 0, 0));
        b.extend(&events);
        let good = serde_json::to_value(b.finish(&beijing())).unwrap();
        let row = &good["cohorts"]["2026-03-01"];
        assert_eq!(row["users"], 2);
        let cells: Vec<_> = (0..3).map(|n| row["intervals"][n].clone()).collect();
        assert_eq!(
            cells[0],
            json!({"reached": 2, "eligible": 2, "returned_on": 1, "returned_on_or_after": 2})
        );
        assert_eq!(
            cells[1],
            json!({"reached": 2, "eligible": 0, "returned_on": 0, "returned_on_or_after": 1})
        );
        // Each case sets counts of the row (`None`) or of a cell, by interval.
        let read = |edits: &[(Option<usize>, &str, u64)]| {
            let mut value = good.clone();
            let row = &mut value["cohorts"]["2026-03-01"];
            for &(n, field, to) in edits {
                match n {
                    Some(n) => row["intervals"][n][field] = to.into(),
                    None => row[field] = to.into(),
                }
            }
            serde_json::from_value::<RetentionTally>(value).map_err(|e| e.to_string())
        };
        assert!(read(&[]).is_ok());
        // A third user, entered and not back yet, fits.
        assert!(
            read(&[
                (None, "users", 3),
                (Some(0), "reached", 3),
                (Some(1), "reached", 2)
            ])
            .is_ok()
        );
        for (edits, names) in [
            (
                &[(Some(0), "reached", 3)][..],
                "interval 0: `reached` is 3, more than `users` 2",
            ),
            (
                &[(Some(1), "eligible", 3)],
                "interval 1: `eligible` is 3, more than `reached` 2",
            ),
            (
                &[(Some(0), "returned_on", 3)],
                "interval 0: `returned_on` is 3, more than `eligible` 2",
            ),
            (
                &[(Some(1), "returned_on_or_after", 3)],
                "interval 1: `returned_on_or_after` is 3, more than `reached` 2",
            ),
            // Active in day 0 but not on or after it.
            (
                &[(Some(0), "returned_on_or_after", 0)],
                "interval 0: `returned_on` is 1, more than `returned_on_or_after` 0",
            ),
            // Day 2 begun for a user whose day 1 is not over.
            (
                &[(Some(2), "reached", 1)],
                "interval 2: `reached` is 1, more than interval 1's `eligible` 0",
            ),
            (
                &[(Some(0), "eligible", 1)],
                "interval 1: `reached` is 2, more than interval 0's `eligible` 1",
            ),
            // Back on or after day 1 but not on or after day 0.
            (
                &[
                    (Some(0), "returned_on_or_after", 1),
                    (Some(1), "returned_on_or_after", 2),
                ],
                "interval 1: `returned_on_or_after` is 2, more than interval 0's 1",
            ),
            (&[(None, "users", 0)], "`users` is 0"),
        ] {
            let err = read(edits).unwrap_err();
            let prefix = "malformed retention tally: cohort 2026-03-01, ";
            assert!(err.starts_with(prefix), "{err}");
            assert!(err.contains(names), "{names}: {err}");
        }

        // One user, nine of them eligible, seven of them back.
        let json = r#"{"retention":{"max_n":0},"as_of":"2026-03-01T00:00:00Z",
                       "cohorts":{"2026-03-01":{"users":1,"intervals":[
                         {"reached":1,"eligible":9,"returned_on":9,"returned_on_or_after":7}]}}}"#;
        let err = serde_json::from_str::<RetentionTally>(json).unwrap_err();
        assert!(
            err.to_string()
                .contains("`eligible` is 9, more than `reached` 1"),
            "{err}"
        );
    }

    #[test]
    fn rolling_and_calendar_days_differ_across_midnight() {
        let events = [signup(1, bj(1, 23, 0, 0)), visit(1, bj(2, 8, 0, 0))];
        let as_of = bj(9, 0, 0, 0);
        let calendar = table(RetentionSpec::new(1), as_of, &beijing(), &events);
        assert_eq!((cell(&calendar, 0, 0).1, cell(&calendar, 0, 1).1), (0, 1));
        let rolling = RetentionSpec {
            clock: IntervalClock::Rolling,
            ..RetentionSpec::new(1)
        };
        let rolling = table(rolling, as_of, &beijing(), &events);
        assert_eq!((cell(&rolling, 0, 0).1, cell(&rolling, 0, 1).1), (1, 0));
    }

    #[test]
    fn a_daylight_saving_day_is_one_calendar_day_in_an_iana_zone() {
        let ny = chrono_tz::America::New_York;
        // New York springs forward on 2026-03-08: a 23-hour local day.
        let at = |d, h, m| {
            ny.with_ymd_and_hms(2026, 3, d, h, m, 0)
                .unwrap()
                .with_timezone(&Utc)
        };
        let events = [signup(1, at(7, 12, 0)), visit(1, at(9, 0, 30))];
        let est = FixedOffset::west_opt(5 * 3600).unwrap();
        let as_of = at(20, 0, 0);
        // In New York the visit is on the 9th, two calendar days after sign-up;
        // at a fixed -05:00 the same instant is 23:30 on the 8th.
        let r = table(RetentionSpec::new(2), as_of, &ny, &events);
        assert_eq!((cell(&r, 0, 1).1, cell(&r, 0, 2).1), (0, 1));
        let r = table(RetentionSpec::new(2), as_of, &est, &events);
        assert_eq!((cell(&r, 0, 1).1, cell(&r, 0, 2).1), (1, 0));
        // Day 1 (the short 8th) has elapsed at New York's midnight, an hour
        // before -05:00's midnight.
        let r = table(RetentionSpec::new(2), at(9, 0, 0), &ny, &events);
        assert_eq!((cell(&r, 0, 1).0, cell(&r, 0, 2).0), (1, 0));
        assert_eq!(r.cohorts[0].intervals[2].reached, 1); // and day 2 has begun
        let r = table(RetentionSpec::new(2), at(9, 0, 0), &est, &events);
        assert_eq!(cell(&r, 0, 1).0, 0);
        assert_eq!(r.cohorts[0].intervals[2].reached, 0);
        // Rolling days count real hours: 35.5 h is day 1.
        let rolling = RetentionSpec {
            clock: IntervalClock::Rolling,
            ..RetentionSpec::new(2)
        };
        let r = table(rolling, as_of, &ny, &events);
        assert_eq!((cell(&r, 0, 1).1, cell(&r, 0, 2).1), (1, 0));
    }

    #[test]
    fn activity_after_the_entry_is_in_interval_0_where_the_local_day_steps_back() {
        // St John's fell back at 00:01 NDT on 2010-11-07, to 23:01 NST on
        // the 6th: the local day steps back a minute after midnight.
        let zone = chrono_tz::America::St_Johns;
        let utc = |d, h, m, s| Utc.with_ymd_and_hms(2010, 11, d, h, m, s).unwrap();
        let entry = utc(7, 2, 30, 30); // 00:00:30 NDT on the 7th
        let visit = |user, at| Event::new(EventId(1), UserId(user), at, EventKind::Visited);
        let events = [
            signup(1, entry),
            visit(1, utc(7, 2, 40, 0)), // 23:10 NST on the 6th, after the entry
            signup(2, entry),
            visit(2, entry - TimeDelta::minutes(1)), // before the entry: ignored
        ];
        assert_eq!(
            LocalDay::of(utc(7, 2, 40, 0), &zone).days_since(LocalDay::of(entry, &zone)),
            -1
        );
        for unit in [IntervalUnit::Day, IntervalUnit::Week] {
            let spec = RetentionSpec {
                unit,
                ..RetentionSpec::new(1)
            };
            // Read in the repeated hour: interval 0 began at the entry, and
            // user 1 has come back in it.
            let r = table(spec.clone(), utc(7, 2, 45, 0), &zone, &events);
            let day_0 = r.cohorts[0].intervals[0];
            assert_eq!(r.cohorts[0].users, 2);
            assert_eq!((day_0.reached, day_0.eligible), (2, 0), "{unit:?}");
            assert_eq!(day_0.returned_on_or_after, Ratio::new(1, 2), "{unit:?}");
            assert_eq!(r.cohorts[0].intervals[1].reached, 0);
            // At the entry itself too.
            let r = table(spec.clone(), entry, &zone, &events[..1]);
            assert_eq!(r.cohorts[0].intervals[0].reached, 1, "{unit:?}");
            // Long after: the visit 10 minutes after sign-up is day 0's.
            let r = table(spec, utc(30, 0, 0, 0), &zone, &events);
            let day_0 = r.cohorts[0].intervals[0];
            assert_eq!(day_0.eligible, 2);
            assert_eq!(day_0.returned_on, Ratio::new(1, 2), "{unit:?}");
            assert_eq!(day_0.returned_on_or_after, Ratio::new(1, 2), "{unit:?}");
        }
        // Rolling intervals count real hours and never stepped back.
        let rolling = RetentionSpec {
            clock: IntervalClock::Rolling,
            ..RetentionSpec::new(1)
        };
        let r = table(rolling, utc(7, 2, 45, 0), &zone, &events);
        assert_eq!(cell(&r, 0, 0), (0, 0, 1));
    }

    #[test]
    fn weekly_cohorts_start_on_the_configured_weekday() {
        // 2026-03-01 is a Sunday.
        let events = [signup(1, bj(1, 9, 0, 0)), signup(2, bj(2, 9, 0, 0))];
        let as_of = bj(30, 0, 0, 0);
        let weekly = |starts_on| RetentionSpec {
            cohort: CohortBy::Week { starts_on },
            unit: IntervalUnit::Week,
            ..RetentionSpec::new(1)
        };
        let r = table(weekly(Weekday::Mon), as_of, &beijing(), &events);
        let days: Vec<_> = r.cohorts.iter().map(|c| c.cohort.to_string()).collect();
        assert_eq!(days, ["2026-02-23", "2026-03-02"]);
        let r = table(weekly(Weekday::Sun), as_of, &beijing(), &events);
        assert_eq!(r.cohorts.len(), 1);
        assert_eq!(r.cohorts[0].cohort.to_string(), "2026-03-01");
        assert_eq!(r.cohorts[0].users, 2);
    }

    #[test]
    fn weekly_intervals_are_blocks_of_seven_local_days_from_sign_up() {
        let week = RetentionSpec {
            unit: IntervalUnit::Week,
            ..RetentionSpec::new(2)
        };
        let events = [
            signup(1, bj(1, 9, 0, 0)),
            visit(1, bj(7, 23, 59, 59)), // day 6: week 0
            visit(1, bj(15, 0, 0, 0)),   // day 14: week 2
        ];
        let r = table(week.clone(), bj(15, 0, 0, 0), &beijing(), &events);
        assert_eq!(cell(&r, 0, 0), (1, 1, 1));
        assert_eq!(cell(&r, 0, 1), (1, 0, 1));
        assert_eq!(cell(&r, 0, 2).0, 0); // week 2 ends on the 22nd
        // ... but began on the 15th, and the visit at its first instant counts.
        assert_eq!(r.cohorts[0].intervals[2].reached, 1);
        assert_eq!(cell(&r, 0, 2).2, 1);
    }

    #[test]
    fn returning_on_or_after_counts_activity_beyond_max_n() {
        let events = [signup(1, bj(1, 9, 0, 0)), visit(1, bj(20, 9, 0, 0))];
        let r = table(RetentionSpec::new(3), bj(25, 0, 0, 0), &beijing(), &events);
        for n in 0..=3 {
            assert_eq!(cell(&r, 0, n), (1, 0, 1));
        }
    }

    #[test]
    fn entry_activity_and_as_of_filters() {
        let as_of = bj(10, 0, 0, 0);
        let events = [
            visit(1, bj(1, 8, 0, 0)), // before sign-up: ignored
            signup(1, bj(1, 9, 0, 0)),
            signup(1, bj(3, 9, 0, 0)), // a second sign-up is neither entry nor activity
            visit(2, bj(1, 9, 0, 0)),  // never signed up: no cohort
            signup(3, bj(11, 9, 0, 0)), // after as_of
        ];
        let r = table(RetentionSpec::new(2), as_of, &beijing(), &events);
        assert_eq!(r.cohorts.len(), 1);
        assert_eq!(r.cohorts[0].users, 1);
        assert_eq!(cell(&r, 0, 0), (1, 0, 0));
        assert_eq!(cell(&r, 0, 2), (1, 0, 0));
        // Counting every event as activity makes the sign-up itself day 0.
        let every = RetentionSpec {
            activity: Some(vec![KindPattern::Any]),
            ..RetentionSpec::new(2)
        };
        let r = table(every, as_of, &beijing(), &events);
        assert_eq!(cell(&r, 0, 0), (1, 1, 1));
        assert_eq!(cell(&r, 0, 2), (1, 1, 1));
    }

    #[test]
    fn specs_are_checked() {
        assert_eq!(
            RetentionSpec::new(5000).validate(),
            Err(AnalyticsError::TooManyIntervals {
                given: 5000,
                max: 3660
            })
        );
        let empty = RetentionSpec {
            activity: Some(vec![]),
            ..RetentionSpec::new(1)
        };
        let err = empty.validate().unwrap_err();
        assert!(err.to_string().contains("`activity`"), "{err}");
        let json = r#"{"max_n": 7, "cohort": {"by": "week"}, "clock": "rolling", "unit": "week"}"#;
        let spec: RetentionSpec = serde_json::from_str(json).unwrap();
        assert_eq!(
            spec.cohort,
            CohortBy::Week {
                starts_on: Weekday::Mon
            }
        );
        assert!(serde_json::from_str::<Retention>(r#"{"max_n": 99999}"#).is_err());
        // Cohorts by day read and write as `{"by": "day"}`; a stray or
        // misspelt field is refused, by name, for either kind.
        let by_day: CohortBy = serde_json::from_str(r#"{"by": "day"}"#).unwrap();
        assert_eq!(by_day, CohortBy::default());
        assert_eq!(serde_json::to_string(&by_day).unwrap(), r#"{"by":"day"}"#);
        for stray in [
            r#"{"by": "day", "starts_on": "Sun"}"#,
            r#"{"by": "week", "start_on": "Sun"}"#,
        ] {
            let err = serde_json::from_str::<CohortBy>(stray).unwrap_err();
            assert!(err.to_string().contains("unknown field"), "{stray}: {err}");
        }
    }

    #[test]
    fn patterns_their_text_cannot_express_are_refused_by_field() {
        use crate::event::ParseKindError;
        let blank = || KindPattern::Named(KindTag::Custom, "".into());
        let activity = RetentionSpec {
            activity: Some(vec![KindPattern::Kind(KindTag::Visited), blank()]),
            ..RetentionSpec::new(2)
        };
        let err = activity.clone().validate().unwrap_err();
        assert_eq!(
            err,
            AnalyticsError::InvalidPattern {
                field: "activity",
                index: Some(1),
                error: ParseKindError::EmptyName {
                    text: "custom:".into()
                },
            }
        );
        assert!(err.to_string().contains("`activity[1]`"), "{err}");
        // The JSON reader refuses it too, so a tally of it could not read back.
        let json = serde_json::to_string(&activity).unwrap();
        assert!(serde_json::from_str::<Retention>(&json).is_err());
        let entry = RetentionSpec {
            entry: KindPattern::Named(KindTag::SignedUp, "web".into()),
            ..RetentionSpec::new(2)
        };
        let err = entry.validate().unwrap_err();
        assert!(
            matches!(
                err,
                AnalyticsError::InvalidPattern {
                    field: "entry",
                    index: None,
                    error: ParseKindError::NameNotAllowed { .. },
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().starts_with("`entry` "), "{err}");

        // Named patterns that validate read back inside a tally.
        let quiz = RetentionSpec {
            activity: Some(vec![KindPattern::Named(KindTag::Custom, "quiz".into())]),
            ..RetentionSpec::new(2)
        };
        let tally = RetentionTally::empty(quiz.validate().unwrap(), bj(1, 0, 0, 0));
        let json = serde_json::to_string(&tally).unwrap();
        assert_eq!(
            serde_json::from_str::<RetentionTally>(&json).unwrap(),
            tally
        );
    }

    #[test]
    fn order_merges_and_serde_do_not_change_the_table() {
        let spec = RetentionSpec::new(3).validate().unwrap();
        let as_of = bj(6, 0, 0, 0);
        let mut events = vec![
            visit(1, bj(2, 9, 0, 0)),
            signup(1, bj(1, 9, 0, 0)),
            signup(2, bj(1, 10, 0, 0)),
            visit(2, bj(4, 9, 0, 0)),
            signup(3, bj(3, 9, 0, 0)),
            visit(3, bj(3, 9, 0, 0)),
        ];
        let mut one = spec.builder(as_of);
        one.extend(&events);
        let whole = one.clone().finish(&beijing());
        events.reverse();
        let mut reversed = spec.builder(as_of);
        reversed.extend(&events);
        assert_eq!(reversed.clone().finish(&beijing()), whole);

        let (mut a, mut b) = (spec.builder(as_of), spec.builder(as_of));
        for e in &events {
            if e.user == UserId(2) {
                a.add(e)
            } else {
                b.add(e)
            }
        }
        let mut merged = a.finish(&beijing());
        merged.merge(b.finish(&beijing())).unwrap();
        assert_eq!(merged, whole);

        let (mut a, mut b) = (spec.builder(as_of), spec.builder(as_of));
        for (i, e) in events.iter().enumerate() {
            if i % 2 == 0 { a.add(e) } else { b.add(e) }
        }
        a.merge(b).unwrap();
        assert_eq!(a.finish(&beijing()), whole);

        let json = serde_json::to_string(&whole).unwrap();
        assert_eq!(
            serde_json::from_str::<RetentionTally>(&json).unwrap(),
            whole
        );
        let json = serde_json::to_string(&one).unwrap();
        assert_eq!(
            serde_json::from_str::<RetentionBuilder>(&json).unwrap(),
            one
        );
        let report = whole.report();
        let json = serde_json::to_string(&report).unwrap();
        assert_eq!(
            serde_json::from_str::<RetentionReport>(&json).unwrap(),
            report
        );

        let later = RetentionTally::empty(spec.clone(), as_of + TimeDelta::seconds(1));
        assert!(matches!(
            merged.merge(later),
            Err(AnalyticsError::SpecMismatch { .. })
        ));
        let short = RetentionTally::empty(RetentionSpec::new(0).validate().unwrap(), as_of);
        let mut value = serde_json::to_value(&whole).unwrap();
        value["retention"] = serde_json::to_value(short.retention()).unwrap();
        let err = serde_json::from_value::<RetentionTally>(value).unwrap_err();
        assert!(err.to_string().contains("intervals"), "{err}");
    }
}
