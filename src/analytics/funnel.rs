//! Conversion funnels: how many users go from step 1 through step k, in
//! order, within a conversion window.
//!
//! # Definition
//!
//! A funnel is a list of `n ≥ 2` [`KindPattern`]s and a conversion window
//! `W`. For each user, looking at all of their events at once:
//!
//! - The user **enters** at `t₁`, the instant of their *first* event matching
//!   step 1. Users with no step-1 event do not enter and are not counted. A
//!   later step-1 event never restarts the funnel (as in Mixpanel).
//! - Step `k ≥ 2` is **reached** at `tₖ`, the instant of the *earliest* event
//!   matching step `k` with `tₖ₋₁ < tₖ ≤ t₁ + W`: **strictly after** the
//!   previous step, and **at or before** the end of the window measured from
//!   entry (an event exactly at `t₁ + W` still converts). Steps are taken
//!   greedily; since each step is the earliest possible, no other choice of
//!   events could take the user further. Two events at the same instant are
//!   never in sequence, so one event cannot satisfy two consecutive steps.
//! - A user who reached step `k` also reached every earlier step.
//!
//! The report gives, per step: users reached; conversion from the previous
//! step (`reached(k) / reached(k−1)`); overall conversion
//! (`reached(k) / entered`); and the **median time from the previous step**,
//! `tₖ − tₖ₋₁` over the users who reached step `k`, in whole milliseconds
//! (truncated toward zero). For an even number of durations the median is
//! the **lower middle** value: always a duration some user actually took, and
//! an integer without rounding. The tally keeps every duration, sorted, so
//! the median of merged shards is exact. A duration is never negative nor
//! longer than the window: where chrono's arithmetic across a leap second
//! (`23:59:60.5`, which sorts before the next midnight but is counted half a
//! second after it) would say otherwise, it is held to `0..=W`.
//!
//! Events are kept per user until [`FunnelBuilder::finish`], so the result does
//! not depend on the order events arrive in; events after `t₁ + W` for the earliest entry `t₁` seen so far are
//! dropped as they arrive.
//!
//! # Example
//!
//! ```
//! use chrono::{DateTime, FixedOffset, TimeZone, Utc};
//! use growthkit::analytics::{FunnelSpec, Ratio};
//! use growthkit::{Event, EventId, EventKind, UserId};
//!
//! let beijing = FixedOffset::east_opt(8 * 3600).unwrap();
//! let at = |d, h, m| -> DateTime<Utc> {
//!     beijing.with_ymd_and_hms(2026, 3, d, h, m, 0).unwrap().with_timezone(&Utc)
//! };
//! let lesson = || EventKind::ActionCompleted { action: "lesson".into() };
//! let paid = || EventKind::Custom { name: "paid".into() };
//! let events = [
//!     // Ann signs up, takes a lesson an hour later, pays the next day.
//!     (1, at(1, 9, 0), EventKind::SignedUp),
//!     (1, at(1, 10, 0), lesson()),
//!     (1, at(2, 20, 0), paid()),
//!     // Bo signs up and takes a lesson three hours later, but never pays.
//!     (2, at(1, 12, 0), EventKind::SignedUp),
//!     (2, at(1, 15, 0), lesson()),
//!     // Cy signs up, and takes a first lesson ten days later: too late.
//!     (3, at(1, 8, 0), EventKind::SignedUp),
//!     (3, at(11, 8, 0), lesson()),
//! ];
//!
//! let funnel = FunnelSpec {
//!     steps: vec![
//!         "signed_up".parse().unwrap(),
//!         "action_completed:lesson".parse().unwrap(),
//!         "custom:paid".parse().unwrap(),
//!     ],
//!     window_seconds: 7 * 24 * 3600,
//! }
//! .validate()
//! .unwrap();
//! let mut builder = funnel.builder();
//! for (i, (user, t, kind)) in events.into_iter().enumerate() {
//!     builder.add(&Event::new(EventId(i as u64), UserId(user), t, kind));
//! }
//! let report = builder.finish().report();
//!
//! assert_eq!(report.entered, 3);
//! assert_eq!(report.steps[1].users, 2);
//! assert_eq!(report.steps[1].from_previous, Ratio::new(2, 3));
//! // Durations 1 h and 3 h: the lower middle of an even count is 1 h.
//! assert_eq!(report.steps[1].median_ms_from_previous, Some(3_600_000));
//! assert_eq!(report.steps[2].users, 1);
//! assert_eq!(report.converted, Ratio::new(1, 3));
//! ```

use super::{AnalyticsError, Ratio, bump, check_patterns};
use crate::event::{Event, EventKind, KindPattern};
use crate::id::UserId;
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::ops::Bound;

/// A funnel as written in configuration; [`FunnelSpec::validate`] checks it
/// into a [`Funnel`].
///
/// ```
/// use growthkit::analytics::{AnalyticsError, FunnelSpec};
/// let spec: FunnelSpec = serde_json::from_str(
///     r#"{"steps": ["signed_up", "action_completed:lesson"], "window_seconds": 86400}"#,
/// ).unwrap();
/// assert!(spec.validate().is_ok());
/// let short = FunnelSpec { steps: vec!["signed_up".parse().unwrap()], window_seconds: 60 };
/// assert_eq!(short.validate(), Err(AnalyticsError::TooFewSteps { given: 1 }));
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FunnelSpec {
    /// The steps in order: at least 2, at most [`FunnelSpec::MAX_STEPS`].
    pub steps: Vec<KindPattern>,
    /// The conversion window in seconds, measured from the step-1 entry:
    /// at least 1, at most [`FunnelSpec::MAX_WINDOW_SECONDS`].
    pub window_seconds: u64,
}

impl FunnelSpec {
    /// The most steps a funnel may have.
    pub const MAX_STEPS: usize = 64;
    /// The longest conversion window: 3,660 days, about ten years.
    pub const MAX_WINDOW_SECONDS: u64 = 3_660 * 86_400;

    /// Checks the spec into a [`Funnel`]. Each step must pass
    /// [`KindPattern::check`] ([`AnalyticsError::InvalidPattern`] names the
    /// first that does not), so what validates also reads back from its JSON.
    pub fn validate(self) -> Result<Funnel, AnalyticsError> {
        Funnel::try_from(self)
    }
}

/// A checked funnel: 2 to 64 steps, each a pattern its text form can
/// express ([`KindPattern::check`]), and a positive window. Serializes as its
/// [`FunnelSpec`] and is checked again when deserialized.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(try_from = "FunnelSpec", into = "FunnelSpec")]
pub struct Funnel {
    steps: Vec<KindPattern>,
    window_seconds: u64,
    window: TimeDelta,
}

impl TryFrom<FunnelSpec> for Funnel {
    type Error = AnalyticsError;

    fn try_from(spec: FunnelSpec) -> Result<Self, Self::Error> {
        let given = spec.steps.len();
        if given < 2 {
            return Err(AnalyticsError::TooFewSteps { given });
        }
        if given > FunnelSpec::MAX_STEPS {
            return Err(AnalyticsError::TooManySteps {
                given,
                max: FunnelSpec::MAX_STEPS,
            });
        }
        check_patterns("steps", &spec.steps)?;
        if spec.window_seconds == 0 {
            return Err(AnalyticsError::ZeroWindow);
        }
        let too_long = AnalyticsError::WindowTooLong {
            given: spec.window_seconds,
            max: FunnelSpec::MAX_WINDOW_SECONDS,
        };
        if spec.window_seconds > FunnelSpec::MAX_WINDOW_SECONDS {
            return Err(too_long);
        }
        let window = i64::try_from(spec.window_seconds)
            .ok()
            .and_then(TimeDelta::try_seconds)
            .ok_or(too_long)?;
        Ok(Funnel {
            steps: spec.steps,
            window_seconds: spec.window_seconds,
            window,
        })
    }
}

impl From<Funnel> for FunnelSpec {
    fn from(funnel: Funnel) -> Self {
        FunnelSpec {
            steps: funnel.steps,
            window_seconds: funnel.window_seconds,
        }
    }
}

impl Funnel {
    /// The steps, in order.
    pub fn steps(&self) -> &[KindPattern] {
        &self.steps
    }

    /// The conversion window, measured from the step-1 entry.
    pub fn window(&self) -> TimeDelta {
        self.window
    }

    /// An empty builder for this funnel.
    pub fn builder(&self) -> FunnelBuilder {
        FunnelBuilder::new(self.clone())
    }

    /// Bit `k` set when `kind` matches step `k` (0-based); at most 64 steps.
    fn step_mask(&self, kind: &EventKind) -> u64 {
        self.steps
            .iter()
            .enumerate()
            .filter(|(_, p)| p.matches(kind))
            .fold(0, |mask, (k, _)| mask | (1u64 << k))
    }
}

/// One user's events that can still matter to the funnel: instant → the set
/// of steps matched by events at that instant (a bit mask).
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
struct Path {
    entry: Option<DateTime<Utc>>,
    hits: BTreeMap<DateTime<Utc>, u64>,
}

const STEP_ONE: u64 = 1;

fn within(entry: DateTime<Utc>, at: DateTime<Utc>, window: TimeDelta) -> bool {
    at >= entry && !past_window(entry, at, window)
}

fn past_window(entry: DateTime<Utc>, at: DateTime<Utc>, window: TimeDelta) -> bool {
    // Past chrono's range the window end is unbounded: nothing lies beyond it.
    entry.checked_add_signed(window).is_some_and(|end| at > end)
}

impl Path {
    /// Drops what can never matter: events after `entry + window` for the
    /// earliest entry seen so far. Entry only ever moves earlier, so such an
    /// event stays out of range, and the kept set is the same whatever the
    /// arrival order. Events *before* the entry are kept: an earlier entry
    /// arriving later may bring them into range.
    fn record(&mut self, at: DateTime<Utc>, mask: u64, window: TimeDelta) {
        if let Some(entry) = self.entry
            && past_window(entry, at, window)
        {
            return;
        }
        *self.hits.entry(at).or_default() |= mask;
        if mask & STEP_ONE != 0 && self.entry.is_none_or(|e| at < e) {
            self.entry = Some(at);
            self.hits.retain(|&t, _| !past_window(at, t, window));
        }
    }

    /// How many steps the user reached (0 if they never entered) and the
    /// time from each reached step to the next, in milliseconds.
    fn walk(&self, funnel: &Funnel) -> (usize, Vec<i64>) {
        let Some(entry) = self.entry else {
            return (0, Vec::new());
        };
        let mut reached = 1;
        let mut previous = entry;
        let mut gaps = Vec::new();
        // A step is after the previous one and within the window, so its
        // duration is in 0..=W; chrono's subtraction across a leap second
        // (23:59:60.5) can fall outside, and is held to that range.
        let window_ms = funnel.window.num_milliseconds();
        for (&at, &mask) in self.hits.range((Bound::Excluded(entry), Bound::Unbounded)) {
            if reached >= funnel.steps.len() || !within(entry, at, funnel.window) {
                break;
            }
            if (mask >> reached) & 1 == 1 {
                gaps.push((at - previous).num_milliseconds().clamp(0, window_ms));
                previous = at;
                reached += 1;
            }
        }
        (reached, gaps)
    }
}

/// Collects events for a [`Funnel`], per user, in any order.
///
/// Serializable, so a host can checkpoint a half-fed builder.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct FunnelBuilder {
    funnel: Funnel,
    users: BTreeMap<UserId, Path>,
}

impl FunnelBuilder {
    /// An empty builder.
    pub fn new(funnel: Funnel) -> FunnelBuilder {
        FunnelBuilder {
            funnel,
            users: BTreeMap::new(),
        }
    }

    /// Takes one event; events matching no step are ignored.
    pub fn add(&mut self, event: &Event) {
        let mask = self.funnel.step_mask(&event.kind);
        if mask == 0 {
            return;
        }
        self.users
            .entry(event.user)
            .or_default()
            .record(event.at, mask, self.funnel.window);
    }

    /// Takes every event of an iterator.
    pub fn extend<'a>(&mut self, events: impl IntoIterator<Item = &'a Event>) {
        for event in events {
            self.add(event);
        }
    }

    /// Adds everything `other` has seen, as if its events had been fed here.
    /// Unlike [`FunnelTally::merge`], a user may appear in both.
    pub fn merge(&mut self, other: FunnelBuilder) -> Result<(), AnalyticsError> {
        if self.funnel != other.funnel {
            return Err(AnalyticsError::SpecMismatch {
                what: "funnel builders",
            });
        }
        let window = self.funnel.window;
        for (user, path) in other.users {
            let mine = self.users.entry(user).or_default();
            for (at, mask) in path.hits {
                mine.record(at, mask, window);
            }
        }
        Ok(())
    }

    /// How many users have at least one event that matches a step.
    pub fn users(&self) -> usize {
        self.users.len()
    }

    /// The funnel being built.
    pub fn funnel(&self) -> &Funnel {
        &self.funnel
    }

    /// Computes every user's path and sums them into a tally.
    pub fn finish(self) -> FunnelTally {
        let mut tally = FunnelTally::empty(self.funnel);
        for path in self.users.values() {
            let (reached, gaps) = path.walk(&tally.funnel);
            for count in tally.reached.iter_mut().take(reached) {
                bump(count, 1);
            }
            for (durations, gap) in tally.gaps_ms.iter_mut().zip(gaps) {
                durations.push(gap);
            }
        }
        for durations in &mut tally.gaps_ms {
            durations.sort_unstable();
        }
        tally
    }
}

/// The mergeable result of a funnel: users per step and every step-to-step
/// duration (sorted). Holds no user ids; merge tallies only of disjoint sets
/// of users (see the [module docs](super#sharding)).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(try_from = "RawFunnelTally")]
pub struct FunnelTally {
    funnel: Funnel,
    reached: Vec<u64>,
    gaps_ms: Vec<Vec<i64>>,
}

/// The serialized shape of a [`FunnelTally`], checked on the way in.
#[derive(Deserialize)]
struct RawFunnelTally {
    funnel: Funnel,
    reached: Vec<u64>,
    gaps_ms: Vec<Vec<i64>>,
}

impl TryFrom<RawFunnelTally> for FunnelTally {
    type Error = AnalyticsError;

    fn try_from(raw: RawFunnelTally) -> Result<Self, Self::Error> {
        let malformed = |detail: String| AnalyticsError::MalformedTally {
            what: "funnel tally",
            detail,
        };
        let steps = raw.funnel.steps.len();
        if raw.reached.len() != steps || raw.gaps_ms.len() + 1 != steps {
            return Err(malformed(format!(
                "`reached` has {} entries and `gaps_ms` {}, expected {steps} and {}",
                raw.reached.len(),
                raw.gaps_ms.len(),
                steps - 1
            )));
        }
        // What `finish` and `merge` keep true: a user who reached step k
        // reached every step before it, each user reaching step k + 1 left
        // one duration in `gaps_ms[k]`, and a duration runs from one step to
        // a strictly later one within the window.
        let window_ms = raw.funnel.window.num_milliseconds();
        for (k, pair) in raw.reached.windows(2).enumerate() {
            let (before, here) = (pair[0], pair[1]);
            if here > before {
                return Err(malformed(format!(
                    "`reached[{}]` is {here}, more than `reached[{k}]` {before}: \
                     a user reaches a step only after every step before it",
                    k + 1
                )));
            }
            let durations = raw.gaps_ms.get(k).map_or(&[][..], Vec::as_slice);
            if u64::try_from(durations.len()).ok() != Some(here) {
                return Err(malformed(format!(
                    "`gaps_ms[{k}]` holds {} durations, but `reached[{}]` is {here}: \
                     each user who reached a step has one duration to it",
                    durations.len(),
                    k + 1
                )));
            }
            if let Some(bad) = durations.iter().find(|&&d| !(0..=window_ms).contains(&d)) {
                return Err(malformed(format!(
                    "`gaps_ms[{k}]` holds a duration of {bad} ms, outside the window's \
                     0 to {window_ms} ms"
                )));
            }
        }
        let mut gaps_ms = raw.gaps_ms;
        for durations in &mut gaps_ms {
            durations.sort_unstable();
        }
        Ok(FunnelTally {
            funnel: raw.funnel,
            reached: raw.reached,
            gaps_ms,
        })
    }
}

impl FunnelTally {
    /// The tally of nobody: the identity of [`FunnelTally::merge`].
    pub fn empty(funnel: Funnel) -> FunnelTally {
        let steps = funnel.steps.len();
        FunnelTally {
            reached: vec![0; steps],
            gaps_ms: vec![Vec::new(); steps.saturating_sub(1)],
            funnel,
        }
    }

    /// The funnel counted.
    pub fn funnel(&self) -> &Funnel {
        &self.funnel
    }

    /// Adds another tally of *different* users. Associative and commutative;
    /// refused if the funnels differ.
    pub fn merge(&mut self, other: FunnelTally) -> Result<(), AnalyticsError> {
        if self.funnel != other.funnel {
            return Err(AnalyticsError::SpecMismatch {
                what: "funnel tallies",
            });
        }
        for (mine, theirs) in self.reached.iter_mut().zip(other.reached) {
            bump(mine, theirs);
        }
        for (mine, theirs) in self.gaps_ms.iter_mut().zip(other.gaps_ms) {
            *mine = merge_sorted(std::mem::take(mine), theirs);
        }
        Ok(())
    }

    /// Reads the numbers out.
    pub fn report(&self) -> FunnelReport {
        let entered = self.reached.first().copied().unwrap_or(0);
        let steps = self
            .funnel
            .steps
            .iter()
            .enumerate()
            .map(|(k, step)| {
                let users = self.reached.get(k).copied().unwrap_or(0);
                let previous = match k.checked_sub(1) {
                    Some(p) => self.reached.get(p).copied().unwrap_or(0),
                    None => entered,
                };
                let median_ms_from_previous = k
                    .checked_sub(1)
                    .and_then(|p| self.gaps_ms.get(p))
                    .and_then(|durations| lower_median(durations));
                FunnelStepReport {
                    step: step.clone(),
                    users,
                    from_previous: Ratio::new(users, previous),
                    overall: Ratio::new(users, entered),
                    median_ms_from_previous,
                }
            })
            .collect::<Vec<_>>();
        let last = steps.last().map_or(0, |s| s.users);
        FunnelReport {
            entered,
            window_seconds: self.funnel.window_seconds,
            converted: Ratio::new(last, entered),
            steps,
        }
    }
}

/// The lower middle of sorted values: index `(n − 1) / 2`.
pub(crate) fn lower_median(sorted: &[i64]) -> Option<i64> {
    let n = sorted.len();
    n.checked_sub(1)
        .and_then(|last| sorted.get(last / 2))
        .copied()
}

fn merge_sorted(a: Vec<i64>, b: Vec<i64>) -> Vec<i64> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut a, mut b) = (a.into_iter().peekable(), b.into_iter().peekable());
    loop {
        let next = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) if x <= y => a.next(),
            (Some(_), Some(_)) => b.next(),
            (Some(_), None) => a.next(),
            (None, Some(_)) => b.next(),
            (None, None) => break,
        };
        out.extend(next);
    }
    out
}

/// What a funnel found.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct FunnelReport {
    /// Users who entered (reached step 1).
    pub entered: u64,
    /// The conversion window, in seconds.
    pub window_seconds: u64,
    /// One row per step, in order; the first is step 1 itself.
    pub steps: Vec<FunnelStepReport>,
    /// Overall conversion: users who reached the last step over users who
    /// entered.
    pub converted: Ratio,
}

/// One step of a [`FunnelReport`].
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct FunnelStepReport {
    /// The step's pattern.
    pub step: KindPattern,
    /// Users who reached this step.
    pub users: u64,
    /// Users here over users at the previous step (for step 1, over itself).
    pub from_previous: Ratio,
    /// Users here over users who entered.
    pub overall: Ratio,
    /// Median time from the previous step to this one, in milliseconds,
    /// lower middle for an even count; `None` for step 1 or when nobody
    /// reached this step.
    pub median_ms_from_previous: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::EventId;
    use chrono::TimeZone;

    fn t(h: i64, s: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap()
            + TimeDelta::hours(h)
            + TimeDelta::seconds(s)
    }

    fn ev(user: u64, at: DateTime<Utc>, kind: &str) -> Event {
        let kind = match kind {
            "signup" => EventKind::SignedUp,
            "visit" => EventKind::Visited,
            other => EventKind::Custom { name: other.into() },
        };
        Event::new(EventId(0), UserId(user), at, kind)
    }

    fn funnel(steps: &[&str], window_seconds: u64) -> Funnel {
        FunnelSpec {
            steps: steps.iter().map(|s| s.parse().unwrap()).collect(),
            window_seconds,
        }
        .validate()
        .unwrap()
    }

    fn three_steps() -> Funnel {
        funnel(&["signed_up", "visited", "custom:paid"], 3600)
    }

    fn run(funnel: &Funnel, events: &[Event]) -> FunnelReport {
        let mut b = funnel.builder();
        b.extend(events);
        b.finish().report()
    }

    fn reached(report: &FunnelReport) -> Vec<u64> {
        report.steps.iter().map(|s| s.users).collect()
    }

    #[test]
    fn specs_are_checked_field_by_field() {
        let spec = |n: usize, w| FunnelSpec {
            steps: vec![KindPattern::Any; n],
            window_seconds: w,
        };
        assert_eq!(
            spec(0, 1).validate(),
            Err(AnalyticsError::TooFewSteps { given: 0 })
        );
        assert_eq!(
            spec(65, 1).validate(),
            Err(AnalyticsError::TooManySteps { given: 65, max: 64 })
        );
        assert_eq!(spec(2, 0).validate(), Err(AnalyticsError::ZeroWindow));
        let err = spec(2, u64::MAX).validate().unwrap_err();
        assert!(matches!(err, AnalyticsError::WindowTooLong { .. }));
        assert!(err.to_string().contains("window_seconds"), "{err}");
        assert!(spec(64, FunnelSpec::MAX_WINDOW_SECONDS).validate().is_ok());
        let bad = r#"{"steps":["visited"],"window_seconds":5}"#;
        assert!(serde_json::from_str::<Funnel>(bad).is_err());
    }

    #[test]
    fn a_step_its_text_cannot_express_is_refused_and_a_valid_one_reads_back() {
        use crate::event::{KindTag, ParseKindError};
        let with = |second| FunnelSpec {
            steps: vec![KindPattern::Kind(KindTag::SignedUp), second],
            window_seconds: 3600,
        };
        // `visited` carries no name: the JSON reader refuses `visited:home`,
        // and so does validation, naming the step.
        let home = with(KindPattern::Named(KindTag::Visited, "home".into()));
        let err = home.clone().validate().unwrap_err();
        assert_eq!(
            err,
            AnalyticsError::InvalidPattern {
                field: "steps",
                index: Some(1),
                error: ParseKindError::NameNotAllowed {
                    kind: KindTag::Visited,
                    text: "visited:home".into()
                },
            }
        );
        assert!(err.to_string().contains("`steps[1]`"), "{err}");
        let json = serde_json::to_string(&home).unwrap();
        assert!(serde_json::from_str::<Funnel>(&json).is_err());
        let blank = with(KindPattern::Named(KindTag::Custom, "".into()));
        assert!(matches!(
            blank.validate(),
            Err(AnalyticsError::InvalidPattern {
                index: Some(1),
                error: ParseKindError::EmptyName { .. },
                ..
            })
        ));

        // A named step that validates reads back, inside a half-fed builder.
        let paid = with(KindPattern::Named(KindTag::Custom, "paid".into()));
        let mut b = paid.validate().unwrap().builder();
        b.add(&ev(1, t(0, 0), "signup"));
        let json = serde_json::to_string(&b).unwrap();
        assert_eq!(serde_json::from_str::<FunnelBuilder>(&json).unwrap(), b);
    }

    #[test]
    fn a_step_exactly_at_the_window_end_converts_one_second_later_does_not() {
        let f = funnel(&["signed_up", "visited"], 3600);
        let on_time = [ev(1, t(0, 0), "signup"), ev(1, t(1, 0), "visit")];
        assert_eq!(reached(&run(&f, &on_time)), [1, 1]);
        let late = [ev(1, t(0, 0), "signup"), ev(1, t(1, 1), "visit")];
        assert_eq!(reached(&run(&f, &late)), [1, 0]);
    }

    #[test]
    fn steps_must_be_strictly_after_the_previous_step() {
        let f = three_steps();
        let same_instant = [ev(1, t(0, 0), "signup"), ev(1, t(0, 0), "visit")];
        assert_eq!(reached(&run(&f, &same_instant)), [1, 0, 0]);
        let before = [ev(1, t(0, 10), "signup"), ev(1, t(0, 0), "visit")];
        assert_eq!(reached(&run(&f, &before)), [1, 0, 0]);
        // One event matching two consecutive steps counts for one of them.
        let any = funnel(&["*", "*"], 60);
        assert_eq!(reached(&run(&any, &[ev(1, t(0, 0), "visit")])), [1, 0]);
        let two = [ev(1, t(0, 0), "visit"), ev(1, t(0, 1), "visit")];
        assert_eq!(reached(&run(&any, &two)), [1, 1]);
    }

    #[test]
    fn users_enter_at_their_first_step_one_and_never_restart() {
        let f = funnel(&["signed_up", "visited"], 3600);
        // The second sign-up would put the visit in its window; it does not count.
        let events = [
            ev(1, t(0, 0), "signup"),
            ev(1, t(5, 0), "signup"),
            ev(1, t(5, 30), "visit"),
        ];
        assert_eq!(reached(&run(&f, &events)), [1, 0]);
        // Users who never do step 1 are not counted at all.
        assert_eq!(run(&f, &[ev(2, t(0, 0), "visit")]).entered, 0);
    }

    #[test]
    fn steps_are_taken_at_the_earliest_qualifying_event() {
        let f = three_steps();
        let events = [
            ev(1, t(0, 0), "signup"),
            ev(1, t(0, 600), "visit"),
            ev(1, t(0, 60), "visit"),
            ev(1, t(0, 900), "paid"),
            ev(1, t(0, 30), "paid"), // before any visit: useless
        ];
        let r = run(&f, &events);
        assert_eq!(reached(&r), [1, 1, 1]);
        assert_eq!(r.steps[1].median_ms_from_previous, Some(60_000));
        assert_eq!(r.steps[2].median_ms_from_previous, Some(840_000));
        assert_eq!(r.steps[0].median_ms_from_previous, None);
    }

    #[test]
    fn arrival_order_does_not_matter() {
        let f = three_steps();
        let mut events = vec![
            ev(1, t(3, 0), "visit"),
            ev(1, t(2, 0), "signup"),
            ev(1, t(0, 0), "signup"),
            ev(1, t(0, 5), "visit"),
            ev(1, t(2, 30), "paid"),
            ev(1, t(0, 50), "paid"),
            ev(2, t(0, 0), "signup"),
        ];
        let forward = run(&f, &events);
        events.reverse();
        assert_eq!(run(&f, &events), forward);
        assert_eq!(reached(&forward), [2, 1, 1]);
        assert_eq!(forward.converted, Ratio::new(1, 2));
    }

    #[test]
    fn an_earlier_entry_arriving_late_reaches_back_for_steps_before_the_old_one() {
        let f = funnel(&["signed_up", "visited"], 7200);
        let events = [
            ev(1, t(2, 0), "signup"),
            ev(1, t(1, 0), "visit"), // before the entry known so far: kept
            ev(1, t(0, 0), "signup"),
        ];
        let r = run(&f, &events);
        assert_eq!(reached(&r), [1, 1]);
        assert_eq!(r.steps[1].median_ms_from_previous, Some(3_600_000));
    }

    #[test]
    fn durations_around_a_leap_second_stay_within_zero_and_the_window() {
        // chrono's 23:59:60.5 sorts before the next midnight, but subtracting
        // it from that midnight gives -0.5 s, and from 23:59:59 gives 1.5 s
        // although it is within 23:59:59 + 1 s.
        let date = chrono::NaiveDate::from_ymd_opt(2016, 12, 31).unwrap();
        let leap = date.and_hms_milli_opt(23, 59, 59, 1_500).unwrap().and_utc();
        let before = date.and_hms_opt(23, 59, 59).unwrap().and_utc();
        let midnight = before + TimeDelta::seconds(1);
        let f = funnel(&["signed_up", "visited"], 1);
        for (events, gap) in [
            ([ev(1, leap, "signup"), ev(1, midnight, "visit")], 0),
            ([ev(1, before, "signup"), ev(1, leap, "visit")], 1_000),
        ] {
            let tally = {
                let mut b = f.builder();
                b.extend(&events);
                b.finish()
            };
            let r = tally.report();
            assert_eq!(reached(&r), [1, 1]);
            assert_eq!(r.steps[1].median_ms_from_previous, Some(gap));
            // The tally reads back from its JSON.
            let json = serde_json::to_string(&tally).unwrap();
            assert_eq!(serde_json::from_str::<FunnelTally>(&json).unwrap(), tally);
        }
    }

    #[test]
    fn medians_take_the_lower_middle_of_an_even_count() {
        let f = funnel(&["signed_up", "visited"], 3600);
        let mut events = Vec::new();
        for (user, gap) in [(1, 40), (2, 10), (3, 30), (4, 20)] {
            events.push(ev(user, t(0, 0), "signup"));
            events.push(ev(user, t(0, gap), "visit"));
        }
        let r = run(&f, &events);
        assert_eq!(r.steps[1].median_ms_from_previous, Some(20_000));
        events.push(ev(5, t(0, 0), "signup"));
        events.push(ev(5, t(0, 50), "visit"));
        assert_eq!(
            run(&f, &events).steps[1].median_ms_from_previous,
            Some(30_000)
        );
        assert_eq!(lower_median(&[]), None);
        assert_eq!(lower_median(&[7]), Some(7));
    }

    #[test]
    fn merged_shards_equal_one_pass_and_mismatches_are_refused() {
        let f = three_steps();
        let events = [
            ev(1, t(0, 0), "signup"),
            ev(1, t(0, 9), "visit"),
            ev(2, t(0, 0), "signup"),
            ev(2, t(0, 3), "visit"),
            ev(2, t(0, 4), "paid"),
            ev(3, t(1, 0), "signup"),
        ];
        let whole = run(&f, &events);
        let (mut a, mut b) = (f.builder(), f.builder());
        for e in &events {
            if e.user == UserId(2) {
                b.add(e)
            } else {
                a.add(e)
            }
        }
        let mut tally = a.finish();
        tally.merge(b.finish()).unwrap();
        assert_eq!(tally.report(), whole);

        // Builders may split one user's events.
        let (mut a, mut b) = (f.builder(), f.builder());
        for (i, e) in events.iter().enumerate() {
            if i % 2 == 0 { a.add(e) } else { b.add(e) }
        }
        a.merge(b).unwrap();
        assert_eq!(a.finish().report(), whole);

        let other = funnel(&["signed_up", "visited"], 3600);
        assert!(matches!(
            tally.merge(FunnelTally::empty(other)),
            Err(AnalyticsError::SpecMismatch { .. })
        ));
    }

    #[test]
    fn tallies_round_trip_and_malformed_ones_are_refused() {
        let f = three_steps();
        let mut b = f.builder();
        b.extend(&[ev(1, t(0, 0), "signup"), ev(1, t(0, 1), "visit")]);
        let json = serde_json::to_string(&b).unwrap();
        assert_eq!(serde_json::from_str::<FunnelBuilder>(&json).unwrap(), b);
        let tally = b.finish();
        let json = serde_json::to_string(&tally).unwrap();
        assert_eq!(serde_json::from_str::<FunnelTally>(&json).unwrap(), tally);
        let broken = json.replace("\"reached\":[1,1,0]", "\"reached\":[1]");
        assert_ne!(broken, json);
        let err = serde_json::from_str::<FunnelTally>(&broken).unwrap_err();
        assert!(err.to_string().contains("reached"), "{err}");
    }

    #[test]
    fn tallies_with_numbers_no_funnel_counts_are_refused_by_field() {
        // One user converts to step 2 in 1 s: reached [1, 1, 0], gaps [[1000], []].
        let mut b = three_steps().builder();
        b.extend(&[ev(1, t(0, 0), "signup"), ev(1, t(0, 1), "visit")]);
        let good = serde_json::to_value(b.finish()).unwrap();
        let read = |reached: serde_json::Value, gaps: serde_json::Value| {
            let mut value = good.clone();
            value["reached"] = reached;
            value["gaps_ms"] = gaps;
            serde_json::from_value::<FunnelTally>(value).map_err(|e| e.to_string())
        };
        use serde_json::json;
        // Another user who entered and stopped: fine.
        let two = read(json!([2, 1, 0]), json!([[1000], []])).unwrap();
        assert_eq!(two.report().steps[1].from_previous, Ratio::new(1, 2));
        for (reached, gaps, names) in [
            // More users at a step than at the one before it.
            (
                json!([1, 2, 0]),
                json!([[1000, 5], []]),
                "`reached[1]` is 2",
            ),
            (
                json!([1, 1, 2]),
                json!([[1000], [5, 6]]),
                "`reached[2]` is 2",
            ),
            // Durations not one per user who reached the step.
            (
                json!([1, 1, 0]),
                json!([[1000, 2000], []]),
                "`gaps_ms[0]` holds 2",
            ),
            (json!([1, 1, 0]), json!([[], []]), "`gaps_ms[0]` holds 0"),
            (
                json!([1, 1, 0]),
                json!([[1000], [7]]),
                "`gaps_ms[1]` holds 1",
            ),
            // A step before the previous one, or after the window.
            (json!([1, 1, 0]), json!([[-1], []]), "-1 ms"),
            (json!([1, 1, 0]), json!([[3_600_001], []]), "3600001 ms"),
        ] {
            let err = read(reached.clone(), gaps.clone()).unwrap_err();
            assert!(err.contains("malformed funnel tally"), "{err}");
            assert!(err.contains(names), "{reached} {gaps}: {err}");
        }
        // A step exactly at the window's end is a duration the funnel keeps.
        assert!(read(json!([1, 1, 0]), json!([[3_600_000], []])).is_ok());

        // Counts rising and durations of users who never got there.
        let json = r#"{"funnel":{"steps":["signed_up","visited"],"window_seconds":60},
                       "reached":[1,5],"gaps_ms":[[-7,1,2,3,4,5,6]]}"#;
        let err = serde_json::from_str::<FunnelTally>(json).unwrap_err();
        assert!(err.to_string().contains("`reached[1]` is 5"), "{err}");
    }
}
