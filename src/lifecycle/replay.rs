//! The batch path: replaying a whole log over many users.
//!
//! [`replay`] steps every event of a prepared [`EventLog`] through the very
//! same step [`LifecyclePolicy::apply_into`] uses, user by user, each state
//! found by its dense slot. Two things are handed to each state once, at
//! the end of its run, rather than grown event by event: its transition
//! history, and, while the run's event ids increase (no event can then be a
//! repeat), its window of recent event ids, kept meanwhile in one buffer
//! reused from user to user. The result equals applying the log's events
//! one by one in their original order (a property test checks it).
//!
//! ```
//! use chrono::{TimeDelta, TimeZone, Utc};
//! use growthkit::batch::EventLog;
//! use growthkit::lifecycle::{replay, LifecyclePolicy, Stage};
//! use growthkit::{Event, EventId, EventKind, UserId};
//!
//! let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap();
//! let log: EventLog = (0..6)
//!     .map(|i| {
//!         let kind = if i % 2 == 0 { EventKind::SignedUp } else { EventKind::ActionCompleted { action: "lesson".into() } };
//!         Event::new(EventId(i), UserId(i / 2), t0 + TimeDelta::minutes(i as i64), kind)
//!     })
//!     .collect();
//! let policy = LifecyclePolicy::default();
//! let mut run = replay(&policy, &log);
//! assert_eq!(run.summary().applied, 6);
//! assert_eq!(run.stage_counts().get(Stage::Activated), 3);
//! run.tick_all(&policy, t0 + TimeDelta::days(8));
//! assert_eq!(run.stage_counts().get(Stage::AtRisk), 3);
//! assert_eq!(run.get(UserId(1)).map(|l| l.stage()), Some(Stage::AtRisk));
//! ```

use super::moves::RunMoves;
use super::policy::LifecyclePolicy;
use super::stage::Stage;
use super::user::{Lifecycle, LifecycleError};
use crate::batch::EventLog;
use crate::dedupe::{Admission, RunWindow};
use crate::id::UserId;
use crate::intern::UserIndex;
use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

/// Counts from a replay.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct ReplaySummary {
    /// Events applied.
    pub applied: u64,
    /// Events dropped as repeats of an applied event id.
    pub duplicates: u64,
    /// Events refused as too late to deduplicate.
    pub too_late: u64,
    /// Stage moves made, idle moves included.
    pub transitions: u64,
}

/// How many users stand in each stage.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct StageCounts([u64; Stage::ALL.len()]);

impl StageCounts {
    /// Users in `stage`.
    pub fn get(&self, stage: Stage) -> u64 {
        self.0[stage as usize]
    }

    /// `(stage, users)` for every stage, in stage order.
    pub fn iter(&self) -> impl Iterator<Item = (Stage, u64)> + '_ {
        Stage::ALL.iter().map(|&s| (s, self.get(s)))
    }

    /// All users counted (saturating: counts read back from JSON may be
    /// anything).
    pub fn total(&self) -> u64 {
        self.0.iter().fold(0, |sum, &n| sum.saturating_add(n))
    }

    /// Counts one more user in `stage` (saturating).
    pub fn add(&mut self, stage: Stage) {
        let n = &mut self.0[stage as usize];
        *n = n.saturating_add(1);
    }
}

/// Counts the stages of any set of users, for breakdowns by channel or cohort:
/// `states.iter().filter(..).map(Lifecycle::stage).collect::<StageCounts>()`.
impl FromIterator<Stage> for StageCounts {
    fn from_iter<I: IntoIterator<Item = Stage>>(iter: I) -> Self {
        let mut counts = StageCounts::default();
        counts.extend(iter);
        counts
    }
}

impl Extend<Stage> for StageCounts {
    fn extend<I: IntoIterator<Item = Stage>>(&mut self, iter: I) {
        for stage in iter {
            self.add(stage);
        }
    }
}

/// The states a replay produced, one per user of the log.
#[derive(Clone, Debug)]
pub struct Replayed<'l> {
    index: &'l UserIndex,
    states: Vec<Lifecycle>,
    summary: ReplaySummary,
}

/// Replays `log` under `policy`, from a fresh [`Lifecycle`] per user.
///
/// Equivalent, state for state, to applying each event in log order to its
/// user's state with [`LifecyclePolicy::apply`].
pub fn replay<'l, Tz: TimeZone>(policy: &LifecyclePolicy<Tz>, log: &'l EventLog) -> Replayed<'l> {
    let mut states = Vec::with_capacity(log.index().len());
    let summary = replay_into(policy, log, &mut states);
    Replayed {
        index: log.index(),
        states,
        summary,
    }
}

/// [`replay`] into `states`, reusing its memory: afterwards `states` holds
/// one state per user of `log`, in slot order, exactly as [`replay`] would
/// return them, whatever it held before.
///
/// The states already in `states` are reset in place and keep their
/// buffers (transition history, spilled event ids), so a host that replays
/// logs again and again (a policy change tried over last month, a nightly
/// recount) allocates, and has the system zero fresh pages, only when a log
/// has more users or longer histories than before.
///
/// ```
/// use chrono::{TimeDelta, TimeZone, Utc};
/// use growthkit::batch::EventLog;
/// use growthkit::lifecycle::{replay, replay_into, Idle, PolicySpec};
/// use growthkit::{Event, EventId, EventKind, UserId};
///
/// let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap();
/// let log: EventLog = (0..6)
///     .map(|i| Event::new(EventId(i), UserId(i % 3), t0 + TimeDelta::days(i as i64), EventKind::Visited))
///     .collect();
/// let mut states = Vec::new();
/// for at_risk_days in [2, 3, 4] {
///     let idle = Idle { at_risk_days, ..Idle::default() };
///     let policy = PolicySpec { idle, ..PolicySpec::default() }.validate()?;
///     let summary = replay_into(&policy, &log, &mut states);
///     assert_eq!(summary.applied, 6);
///     assert_eq!(states.as_slice(), replay(&policy, &log).states());
/// }
/// # Ok::<(), growthkit::lifecycle::PolicyError>(())
/// ```
pub fn replay_into<Tz: TimeZone>(
    policy: &LifecyclePolicy<Tz>,
    log: &EventLog,
    states: &mut Vec<Lifecycle>,
) -> ReplaySummary {
    let mut summary = ReplaySummary::default();
    let mut moves = RunMoves::default();
    let mut window = RunWindow::default();
    let limit = policy.spec().history_limit;
    let runs = log.runs();
    states.truncate(runs.len());
    states.reserve_exact(runs.len() - states.len());
    for (slot, (user, events)) in runs.enumerate() {
        // Built where it will stay: no copy of a finished state.
        match states.get_mut(slot) {
            Some(state) => state.reset(user),
            None => states.push(Lifecycle::new(user)),
        }
        let Some(state) = states.get_mut(slot) else {
            continue;
        };
        // The state is new: while the run's ids increase, no event can be
        // a repeat, and the window is written once, at the end.
        window.begin(state.recent_ids());
        for event in events {
            match policy.apply_to(state, event, &mut moves, &mut window) {
                Ok(Admission::Fresh) => summary.applied += 1,
                Ok(Admission::Duplicate) => summary.duplicates += 1,
                Ok(Admission::TooLate) => summary.too_late += 1,
                // The run holds only this user's events.
                Err(LifecycleError::WrongUser { .. }) => continue,
            }
        }
        window.end(&mut state.recent);
        summary.transitions += moves.0.len() as u64;
        state.adopt_history(&moves.0, limit);
        moves.0.clear();
    }
    summary
}

impl Replayed<'_> {
    /// Makes every user's idle moves due by `now` (see [`LifecyclePolicy::tick`]).
    pub fn tick_all<Tz: TimeZone>(&mut self, policy: &LifecyclePolicy<Tz>, now: DateTime<Utc>) {
        let mut moves = Vec::new();
        for state in &mut self.states {
            self.summary.transitions += policy.tick_into(state, now, &mut moves) as u64;
            moves.clear();
        }
    }

    /// The state of `user`, if the log had them.
    pub fn get(&self, user: UserId) -> Option<&Lifecycle> {
        self.index
            .slot(user)
            .and_then(|slot| self.states.get(slot as usize))
    }

    /// Every state, in slot order (the order users first appear in the log).
    pub fn states(&self) -> &[Lifecycle] {
        &self.states
    }

    /// Takes the states out, in slot order.
    pub fn into_states(self) -> Vec<Lifecycle> {
        self.states
    }

    /// What the replay did.
    pub fn summary(&self) -> ReplaySummary {
        self.summary
    }

    /// How many users stand in each stage now.
    pub fn stage_counts(&self) -> StageCounts {
        self.states.iter().map(Lifecycle::stage).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_read_back_from_json_saturate_instead_of_panicking() {
        let json = format!("[{0},{0},0,0,0,0,0,0,0,0,0]", u64::MAX);
        let mut counts: StageCounts = serde_json::from_str(&json).unwrap_or_default();
        assert_eq!(counts.get(Stage::ALL[0]), u64::MAX, "read back as written");
        assert_eq!(counts.total(), u64::MAX);
        counts.add(Stage::ALL[0]);
        assert_eq!(counts.get(Stage::ALL[0]), u64::MAX);
    }
}
