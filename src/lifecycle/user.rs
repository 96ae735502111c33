//! One user's lifecycle state and the step function that moves it.

use super::history::{History, Kept};
use super::moves::{MoveSink, Transitions};
use super::policy::{LifecyclePolicy, RetentionRule};
use super::stage::Stage;
use crate::bounded;
use crate::dedupe::{Admission, Judge, OwnWindow, RecentIds};
use crate::event::{Event, EventKind, KindTag};
use crate::id::{EventId, UserId};
use crate::store::Versioned;
use crate::time::{LocalDay, millis, offset_seconds, unix_millis};
use chrono::{DateTime, TimeZone, Timelike, Utc};
use serde::{Deserialize, Serialize};

/// Why a user changed stage.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Cause {
    /// This event made the move.
    Event {
        /// The event.
        id: EventId,
        /// Its kind, so the history explains itself without the event log.
        kind: KindTag,
    },
    /// The user was idle this many days.
    Idle {
        /// The threshold that fired.
        days: u16,
    },
}

/// One move between stages: what, when, and why.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct Transition {
    /// The stage left.
    pub from: Stage,
    /// The stage entered.
    pub to: Stage,
    /// When it happened, to the millisecond: the event's time, or the
    /// instant the idle threshold was crossed (never earlier than the
    /// previous transition).
    pub at: DateTime<Utc>,
    /// Why.
    pub cause: Cause,
}

/// What applying one event did.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Applied {
    /// Whether the event was new, a repeat, or too late to judge; only a
    /// [`Admission::Fresh`] event changed anything.
    pub admission: Admission,
    /// The moves it caused, in order: idle moves that had come due before
    /// the event, then the moves the event itself made.
    pub transitions: Transitions,
}

impl Applied {
    /// Whether the event was new and so was applied.
    pub fn was_applied(&self) -> bool {
        self.admission == Admission::Fresh
    }
}

/// Why an event could not be applied. Nothing was changed.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LifecycleError {
    /// The event belongs to another user.
    #[error("event {event} is for {event_user} but this lifecycle belongs to {state_user}")]
    WrongUser {
        /// The event.
        event: EventId,
        /// Whose event it is.
        event_user: UserId,
        /// Whose state it was applied to.
        state_user: UserId,
    },
}

/// One user's place in the default lifecycle: plain serde data.
///
/// Create it with [`Lifecycle::new`], move it with
/// [`LifecyclePolicy::apply`] and [`LifecyclePolicy::tick`], store it anywhere.
/// `version` grows by one with every change, for compare-and-swap
/// ([`crate::store`]); at `u64::MAX`, which only a state made by hand
/// reaches, it stays, as the generic machine's does.
///
/// The fixed part of the state (everything but the transition history and
/// the window of recent event ids) is 88 bytes, and the whole state 160
/// (two and a half cache lines), so a million users take 160 MB in a batch
/// replay. Instants are kept to the millisecond.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
// A fixed layout, widest fields first: the fixed part packs with no padding
// holes between its fields (seven bytes spare at its end, before the id window).
#[repr(C)]
pub struct Lifecycle {
    user: UserId,
    version: u64,
    /// Active local days as a bit map: bit `i` is the day `active_anchor - i`.
    active_days: u64,
    #[serde(with = "millis")]
    since: i64,
    #[serde(with = "millis")]
    acquired_at: i64,
    #[serde(with = "millis")]
    last_active: i64,
    active_anchor: LocalDay,
    acquired_day: LocalDay,
    events: u32,
    key_actions: u32,
    payments: u32,
    history_dropped: u32,
    refunds: u16,
    returns: u16,
    /// The activation day, as days after `acquired_day`; meaningful once
    /// `key_actions` reaches the policy's `required`. Two bytes hold every
    /// day a key action can count on (`activation.within_days` is a
    /// `u16`), so the day is exact. Only a sign-up arriving late that moves
    /// the acquisition back further still can push it past `u16::MAX`
    /// (179 years): there it saturates, standing for that day or any later
    /// one, which only ever leaves out windows, never adds one. (A byte,
    /// saturating at 255, let retention windows that closed long before
    /// the real activation day count.) States stored with that byte read
    /// back as they were; those stored before the day was kept, as 0:
    /// activated on the acquisition day.
    #[serde(default)]
    activated_on: u16,
    stage: Stage,
    /// The highest progress stage ever reached: where the path back leads.
    peak: Stage,
    /// The stage held when the user went idle: where a return from at-risk leads.
    resume: Stage,
    pub(super) recent: RecentIds,
    #[serde(with = "super::history::as_transitions")]
    history: Vec<Kept>,
}

impl Lifecycle {
    /// A user the host knows of but no event has been applied to yet
    /// ([`Stage::Prospect`]). The first event acquires them.
    pub fn new(user: UserId) -> Lifecycle {
        Lifecycle {
            user,
            version: 0,
            active_days: 0,
            events: 0,
            since: millis::NEVER,
            acquired_at: millis::NEVER,
            last_active: millis::NEVER,
            // Any day will do until the first event sets them: no bit is set.
            active_anchor: LocalDay::from_number(0),
            acquired_day: LocalDay::from_number(0),
            key_actions: 0,
            payments: 0,
            refunds: 0,
            returns: 0,
            history_dropped: 0,
            stage: Stage::Prospect,
            peak: Stage::Prospect,
            resume: Stage::Prospect,
            activated_on: 0,
            recent: RecentIds::new(),
            history: Vec::new(),
        }
    }

    /// Whose lifecycle this is.
    pub fn user(&self) -> UserId {
        self.user
    }

    /// The current stage.
    pub fn stage(&self) -> Stage {
        self.stage
    }

    /// When the current stage was entered (`None` for a prospect).
    pub fn since(&self) -> Option<DateTime<Utc>> {
        millis::to_instant(self.since)
    }

    /// When the user was acquired: the earlier of their first event and
    /// their sign-up (`None` for a prospect).
    pub fn acquired_at(&self) -> Option<DateTime<Utc>> {
        millis::to_instant(self.acquired_at)
    }

    /// The time idle days count from: their newest activity event, or their
    /// acquisition (the first event taken) if that is newer or there was
    /// none (`None` for a prospect).
    pub fn last_active(&self) -> Option<DateTime<Utc>> {
        millis::to_instant(self.last_active)
    }

    /// The time of the newest event applied, activity or not (`None` before any).
    pub fn newest_seen(&self) -> Option<DateTime<Utc>> {
        // Every applied event is remembered, and the window never forgets
        // its newest id: the window knows.
        millis::to_instant(self.recent.newest_millis())
    }

    /// The highest progress stage ever reached, or earned by events that
    /// arrived while the user was idle: where the path back leads.
    pub fn peak(&self) -> Stage {
        self.peak
    }

    /// Key actions done inside the activation window.
    pub fn key_actions(&self) -> u32 {
        self.key_actions
    }

    /// Payments made (purchases with a positive amount).
    pub fn payments(&self) -> u32 {
        self.payments
    }

    /// Refunds received (saturating at `u16::MAX`). Refunds never demote: a
    /// converted user stays converted.
    pub fn refunds(&self) -> u16 {
        self.refunds
    }

    /// How many times the user came back from dormant or churned
    /// (saturating at `u16::MAX`).
    pub fn returns(&self) -> u16 {
        self.returns
    }

    /// Events applied (duplicates and refused events not counted; saturates
    /// at `u32::MAX`).
    pub fn events(&self) -> u32 {
        self.events
    }

    /// The most recent transitions, oldest first (at most the policy's
    /// `history_limit`; see [`Lifecycle::history_dropped`]). A state kept
    /// under a larger limit (an earlier policy, or stored) keeps its longer
    /// history until its next move, which drops the oldest down to the
    /// limit of the policy that makes it.
    pub fn history(&self) -> History<'_> {
        History::new(&self.history)
    }

    /// The window of recent event ids that makes applying an event idempotent.
    pub fn recent_ids(&self) -> &RecentIds {
        &self.recent
    }

    /// How many older transitions were dropped to keep the history bounded.
    pub fn history_dropped(&self) -> u32 {
        self.history_dropped
    }

    /// Makes this state [`Lifecycle::new`]`(user)` again, keeping the memory
    /// of its history and of its spilled event ids for reuse.
    pub(super) fn reset(&mut self, user: UserId) {
        let mut history = std::mem::take(&mut self.history);
        history.clear();
        let mut recent = std::mem::take(&mut self.recent);
        recent.clear();
        *self = Lifecycle {
            history,
            recent,
            ..Lifecycle::new(user)
        };
    }

    /// Appends a run's `moves` to the history at once, keeping the newest
    /// `limit` as [`enter`] would have one by one.
    pub(super) fn adopt_history(&mut self, moves: &[Kept], limit: u16) {
        let limit = usize::from(limit);
        // Only the newest `limit` of the old history and the moves survive:
        // for a fresh state's whole run, all the moves, copied into the
        // buffer a reset state kept or one allocation.
        let dropped = bounded::make_room(&mut self.history, moves.len(), limit);
        let kept = moves
            .get(moves.len().saturating_sub(limit)..)
            .unwrap_or_default();
        // A fresh history's buffer holds a power of two of moves (up to the
        // limit): freed histories then come back to the allocator in a few
        // sizes, which it hands out again as they are. Exact sizes left it
        // splitting and merging chunks, and a replay after a replay (the
        // earlier states dropped) ran 15–20% slower. Costs about a quarter
        // more history memory (the bench's million users: 117 → 148 MB).
        let room = if self.history.is_empty() {
            kept.len().next_power_of_two().min(limit)
        } else {
            kept.len()
        };
        self.history.reserve_exact(room);
        self.history.extend_from_slice(kept);
        let dropped = u32::try_from(dropped).unwrap_or(u32::MAX);
        self.history_dropped = self.history_dropped.saturating_add(dropped);
    }

    /// Whether the user was active on `day` (only the last 64 active days are known).
    pub fn was_active_on(&self, day: LocalDay) -> bool {
        let back = i64::from(self.active_anchor.number()) - i64::from(day.number());
        (0..64).contains(&back) && self.active_days & (1 << back) != 0
    }

    /// Distinct active days among the `window` local days ending on `today`.
    #[inline]
    pub fn active_days_in(&self, today: LocalDay, window: u16) -> u32 {
        if self.active_days == 0 || window == 0 {
            return 0;
        }
        // Window days d in [today - window + 1, today] are bits anchor - d.
        let lo = i64::from(self.active_anchor.number()) - i64::from(today.number());
        let hi = lo + i64::from(window) - 1;
        if hi < 0 || lo > 63 {
            return 0;
        }
        let lo = lo.max(0);
        let width = (hi.min(63) - lo + 1) as u32;
        let mask = if width >= 64 {
            u64::MAX
        } else {
            (1u64 << width) - 1
        };
        ((self.active_days >> lo) & mask).count_ones()
    }

    /// The most distinct active days in a `window`-day window that holds
    /// `day` and ends on an active day, as in-order events would have seen
    /// it: for the newest day, the window ending there; for a late day,
    /// also the windows ending on the later active days it now fills in.
    /// Only windows ending on or after `reach.ends_from` count, and in them
    /// only the days on or after `reach.days_from` (see [`Reach`]).
    #[inline]
    fn best_window_through(&self, day: LocalDay, window: u16, reach: Reach) -> u32 {
        if day >= self.active_anchor {
            // The newest day, as events in time order always are.
            if day < reach.ends_from {
                return 0;
            }
            return self.active_days_from(reach.days_from, day, window);
        }
        let day = i64::from(day.number());
        self.best_window_ending_in(day..=day + i64::from(window) - 1, window, reach)
    }

    /// The most distinct active days (on or after `reach.days_from`) in a
    /// `window`-day window ending on an active day numbered in `ends`, and
    /// on or after `reach.ends_from`: windows that closed before it were
    /// never judged in time order with the user activated (or back).
    #[inline(never)]
    fn best_window_ending_in(
        &self,
        ends: std::ops::RangeInclusive<i64>,
        window: u16,
        reach: Reach,
    ) -> u32 {
        // Only the 64 days up to the anchor can be active.
        let anchor = i64::from(self.active_anchor.number());
        let first = (*ends.start())
            .max(i64::from(reach.ends_from.number()))
            .max(anchor - 63);
        (first..=(*ends.end()).min(anchor))
            .filter_map(|n| Some(LocalDay::from_number(i32::try_from(n).ok()?)))
            .filter(|&end| self.was_active_on(end))
            .map(|end| self.active_days_from(reach.days_from, end, window))
            .max()
            .unwrap_or(0)
    }

    /// Distinct active days on or after `first` among the `window` local
    /// days ending on `today`.
    #[inline]
    fn active_days_from(&self, first: LocalDay, today: LocalDay, window: u16) -> u32 {
        let since_first = i64::from(today.number()) - i64::from(first.number()) + 1;
        // In 1..=window, so the conversion cannot fail.
        match u16::try_from(since_first.min(i64::from(window))) {
            Ok(days) if days > 0 => self.active_days_in(today, days),
            _ => 0,
        }
    }

    /// The local day the user was activated on, in time order: the day of
    /// the `required`-th key action (see [`Lifecycle::count_key_action`]).
    #[inline]
    fn activation_day(&self) -> LocalDay {
        self.acquired_day
            .checked_add_days(i32::from(self.activated_on))
            // Only at the end of the calendar: no window ends after it.
            .unwrap_or(LocalDay::from_number(i32::MAX))
    }

    /// Counts a key action `offset` days after the acquisition day, and
    /// keeps the activation day as time order would have seen it: the day
    /// of the `required`-th key action. Returns whether this activated the
    /// user, or moved their activation day earlier.
    fn count_key_action(&mut self, offset: i32, required: u32) -> bool {
        // `offset` is in `0..within_days`, so it always fits.
        let offset = u16::try_from(offset).unwrap_or(u16::MAX);
        let before = self.activated_on;
        self.key_actions = self.key_actions.saturating_add(1);
        self.activated_on = match self.key_actions {
            1 => offset,
            // Among the first `required`: the latest of them activates.
            n if n <= required => self.activated_on.max(offset),
            // One key action activates: the earliest is the day.
            _ if required == 1 => self.activated_on.min(offset),
            // The `required`-th earliest may now be earlier, by a day not
            // kept: keep the later one, so that no late day retains a user
            // through a window time order would not have judged.
            _ => self.activated_on,
        };
        self.key_actions == required || (self.key_actions > required && self.activated_on < before)
    }

    /// Moves the acquisition day back to `day` (a late, earlier sign-up),
    /// keeping the activation day where it was (as far as `activated_on`
    /// reaches: see there).
    fn acquired_earlier(&mut self, day: LocalDay) {
        let back = self.acquired_day.days_since(day);
        let back = u16::try_from(back.max(0)).unwrap_or(u16::MAX);
        self.activated_on = self.activated_on.saturating_add(back);
        self.acquired_day = day;
    }

    fn mark_active(&mut self, day: LocalDay) {
        let ahead = i64::from(day.number()) - i64::from(self.active_anchor.number());
        if ahead > 0 {
            self.active_days = if ahead >= 64 {
                0
            } else {
                self.active_days << ahead
            };
            self.active_days |= 1;
            self.active_anchor = day;
        } else if ahead > -64 {
            self.active_days |= 1 << (-ahead);
        }
    }
}

impl Versioned for Lifecycle {
    fn version(&self) -> u64 {
        self.version
    }
}

/// A move being recorded: keeps `since`, `peak` and the history in step.
/// `instant` is `at_ms` as a `DateTime` when the caller has it (an event's
/// time), which spares converting back from milliseconds when a sink asks
/// for the move as a [`Transition`].
fn enter<S: MoveSink>(
    state: &mut Lifecycle,
    to: Stage,
    (at_ms, instant): (i64, Option<DateTime<Utc>>),
    cause: Cause,
    limit: u16,
    out: &mut S,
) {
    // Never before the stage it leaves began: the state keeps
    // milliseconds, and the history agrees with `since`.
    let on_time = at_ms >= state.since;
    let at_ms = at_ms.max(state.since);
    let t = Kept::new(state.stage, to, at_ms, cause);
    state.stage = to;
    state.since = at_ms;
    if to.is_progress() {
        state.peak = state.peak.max(to);
    }
    out.record(t, || match instant {
        // Not inside a leap second (nanoseconds past a billion): kept as
        // milliseconds, that instant is the next second's, as `since` and
        // the history say.
        Some(instant) if on_time && instant.nanosecond() < 1_000_000_000 => {
            // On the naive time: no zone round trip, just the fraction.
            let naive = instant.naive_utc();
            let nanos = naive.nanosecond();
            naive
                .with_nanosecond(nanos - nanos % 1_000_000)
                .map_or(instant, |n| n.and_utc())
        }
        _ => millis::to_instant(at_ms).unwrap_or(DateTime::<Utc>::MIN_UTC),
    });
    if S::WRITES_HISTORY {
        return;
    }
    let history = &mut state.history;
    if history.capacity() == 0 {
        // Room for the three or four moves most users make. Measured: a
        // first allocation of 4 replays a million users about a quarter
        // faster than one of 8 (less fresh memory to fault in), and growing
        // past it is rare.
        history.reserve_exact(usize::from(limit.min(4)));
    }
    // A full history drops its oldest moves: a short shift, and rare, since
    // most users make a handful of moves.
    let dropped = bounded::make_room(history, 1, usize::from(limit));
    history.push(t);
    if dropped > 0 {
        let dropped = u32::try_from(dropped).unwrap_or(u32::MAX);
        state.history_dropped = state.history_dropped.saturating_add(dropped);
    }
}

/// Which retention windows count, and which of their days: a late day may
/// only retain through a window that ended once the user was activated, and
/// a reactivated user regains retention only with days from the return on.
#[derive(Clone, Copy)]
struct Reach {
    /// The earliest day a window may end on.
    ends_from: LocalDay,
    /// The earliest day counted in a window.
    days_from: LocalDay,
}

/// What the step needs to know about one event, computed once.
struct Seen {
    id: EventId,
    kind: KindTag,
    instant: DateTime<Utc>,
    at: i64,
    day: LocalDay,
    active: bool,
    paid: bool,
}

impl<Tz: TimeZone> LifecyclePolicy<Tz> {
    /// Applies one event to one user's state and returns what it did.
    ///
    /// In order: a repeated event id (or one too late to tell, see
    /// [`crate::dedupe`]) changes nothing; idle moves that came due before
    /// the event are made (as [`tick`](Self::tick) would); the event is
    /// counted; then the stage moves forward if the counts now allow.
    ///
    /// Events may arrive out of order. A late event is counted (its active
    /// day, key action, payment) and can move the user *forward*, but it
    /// never rewinds a stage, makes no idle move the newest event had not
    /// already made due (one that was due, after a late return, is made and
    /// dated when it fell due, as `tick` would), and never counts as a
    /// return from an idle stage entered after it happened, nor as a step on
    /// the path back from it: a reactivated user regains retention only with
    /// active days from the local day of the return on, and a payment lifts
    /// them only if made at or after the return. A late active day that
    /// completes the retention window ending on a later active day, or on
    /// the activation day (a key action need not be activity), retains the
    /// user, as it would have in time order: if that window ends on or
    /// after the day the user was activated (the day of the
    /// `activation.required`-th key action; when more key actions than that
    /// arrive out of order, possibly a later day than time order's). Active
    /// days are known for the
    /// [`MAX_RETENTION_WINDOW_DAYS`](super::MAX_RETENTION_WINDOW_DAYS) days
    /// up to the newest one: a late active day further back is counted as
    /// an event but completes no window. One thing is judged on arrival: a
    /// key action counts towards activation if it falls within
    /// `activation.within_days` of the acquisition day known when it
    /// arrives; a sign-up arriving later that moves that day back does not
    /// judge the key actions already seen again.
    ///
    /// ```
    /// use chrono::{TimeZone, Utc};
    /// use growthkit::lifecycle::{Lifecycle, LifecyclePolicy, Stage};
    /// use growthkit::store::Versioned;
    /// use growthkit::{Event, EventId, EventKind, UserId};
    ///
    /// let policy = LifecyclePolicy::default();
    /// let mut user = Lifecycle::new(UserId(1));
    /// let at = Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap();
    /// let signed_up = Event::new(EventId(1), UserId(1), at, EventKind::SignedUp);
    /// let moves = policy.apply(&mut user, &signed_up).unwrap().transitions;
    /// assert_eq!(moves[0].to, Stage::Acquired);
    /// // The same event again changes nothing.
    /// assert!(!policy.apply(&mut user, &signed_up).unwrap().was_applied());
    /// assert_eq!(user.version(), 1);
    /// ```
    pub fn apply(&self, state: &mut Lifecycle, event: &Event) -> Result<Applied, LifecycleError> {
        let mut transitions = Transitions::new();
        let admission = self.apply_to(state, event, &mut transitions, &mut OwnWindow)?;
        Ok(Applied {
            admission,
            transitions,
        })
    }

    /// [`apply`](Self::apply) appending its transitions to `out`, so a batch
    /// loop can reuse one buffer.
    #[inline]
    pub fn apply_into(
        &self,
        state: &mut Lifecycle,
        event: &Event,
        out: &mut Vec<Transition>,
    ) -> Result<Admission, LifecycleError> {
        self.apply_to(state, event, out, &mut OwnWindow)
    }

    /// The step itself: `judge` tells new events from repeats (the state's
    /// own window online; a batch path may stand in for it, see
    /// [`RunWindow`](crate::dedupe::RunWindow)).
    #[inline]
    pub(super) fn apply_to(
        &self,
        state: &mut Lifecycle,
        event: &Event,
        out: &mut impl MoveSink,
        judge: &mut impl Judge,
    ) -> Result<Admission, LifecycleError> {
        if state.user != event.user {
            return Err(LifecycleError::WrongUser {
                event: event.id,
                event_user: event.user,
                state_user: state.user,
            });
        }
        // One calendar conversion per event: everything after is integers.
        // chrono's, not `time::unix_seconds`: that took 3.6% of the
        // replay's instructions off but made the bench's full-size replay
        // 4% slower (how the loop compiled), 2026-12-07.
        let secs = event.at.timestamp();
        let at = secs * 1000 + i64::from(event.at.timestamp_subsec_millis());
        let admission = judge.admit(&mut state.recent, event.id, at);
        if admission != Admission::Fresh {
            return Ok(admission);
        }
        // Nothing below can fail: from here on the event is applied whole.
        self.fire_idle_moves(state, at, out);
        judge.remember(&mut state.recent, event.id, at, &self.spec.dedupe);
        let seen = Seen {
            id: event.id,
            kind: event.kind.tag(),
            at,
            instant: event.at,
            day: LocalDay::of_offset_seconds(secs, offset_seconds(self.zone(), event.at)),
            active: self.activity.matches(&event.kind),
            paid: matches!(&event.kind, EventKind::Purchase { amount } if amount.minor > 0),
        };
        let activated = self.count(state, event, &seen, out);
        self.advance(state, &seen, activated, out);
        // Saturating, as the generic machine does: only a stored state made
        // by hand gets there, and a public function never panics.
        state.version = state.version.saturating_add(1);
        Ok(Admission::Fresh)
    }

    /// Makes the idle moves due by `now` (at risk, dormant, churned), each
    /// stamped with the instant its threshold was crossed, and returns them.
    /// Bumps the version if anything moved.
    ///
    /// Idle time is measured in whole 24-hour periods since the last
    /// activity event: with `at_risk_days = 7`, a user last active at 10:00 on
    /// the 1st is at risk from 10:00 on the 8th.
    pub fn tick(&self, state: &mut Lifecycle, now: DateTime<Utc>) -> Vec<Transition> {
        let mut out = Vec::new();
        self.tick_into(state, now, &mut out);
        out
    }

    /// [`tick`](Self::tick) appending to `out`; returns how many moves it made.
    pub fn tick_into(
        &self,
        state: &mut Lifecycle,
        now: DateTime<Utc>,
        out: &mut Vec<Transition>,
    ) -> usize {
        let moved = self.fire_idle_moves(state, unix_millis(now), out);
        if moved > 0 {
            state.version = state.version.saturating_add(1);
        }
        moved
    }

    // Inlined: it runs on every event and most often only compares a time.
    #[inline(always)]
    fn fire_idle_moves(&self, state: &mut Lifecycle, now: i64, out: &mut impl MoveSink) -> usize {
        let idle = self.spec.idle;
        let mut moved = 0;
        loop {
            let (next, after, days) = match state.stage {
                Stage::Prospect | Stage::Churned => break,
                Stage::AtRisk => (Stage::Dormant, self.dormant_ms, idle.dormant_days),
                Stage::Dormant => (Stage::Churned, self.churned_ms, idle.churned_days),
                _ => (Stage::AtRisk, self.at_risk_ms, idle.at_risk_days),
            };
            let due = state.last_active.saturating_add(after);
            if due > now {
                break;
            }
            if next == Stage::AtRisk {
                state.resume = state.stage;
            }
            enter(
                state,
                next,
                (due, None),
                Cause::Idle { days },
                self.spec.history_limit,
                out,
            );
            moved += 1;
        }
        moved
    }

    /// Counts the event; returns whether it activated the user (or moved
    /// their activation day earlier).
    #[inline(always)]
    fn count(
        &self,
        state: &mut Lifecycle,
        event: &Event,
        seen: &Seen,
        out: &mut impl MoveSink,
    ) -> bool {
        if state.stage == Stage::Prospect {
            state.acquired_at = seen.at;
            state.acquired_day = seen.day;
            state.since = seen.at;
            state.last_active = seen.at;
            state.active_anchor = seen.day;
            let cause = Cause::Event {
                id: seen.id,
                kind: seen.kind,
            };
            enter(
                state,
                Stage::Acquired,
                (seen.at, Some(seen.instant)),
                cause,
                self.spec.history_limit,
                out,
            );
        }
        state.events = state.events.saturating_add(1);
        if seen.active {
            state.last_active = state.last_active.max(seen.at);
            state.mark_active(seen.day);
        }
        match &event.kind {
            EventKind::SignedUp if seen.at < state.acquired_at => {
                state.acquired_at = seen.at;
                state.acquired_earlier(seen.day);
            }
            EventKind::Refund { .. } => state.refunds = state.refunds.saturating_add(1),
            _ if seen.paid => state.payments = state.payments.saturating_add(1),
            _ => {}
        }
        if self.key_actions.matches(&event.kind) {
            let offset = seen.day.days_since(state.acquired_day);
            if (0..i32::from(self.spec.activation.within_days)).contains(&offset) {
                return state.count_key_action(offset, self.spec.activation.required);
            }
        }
        false
    }

    #[inline(always)]
    fn advance(
        &self,
        state: &mut Lifecycle,
        seen: &Seen,
        activated_now: bool,
        out: &mut impl MoveSink,
    ) {
        let cause = Cause::Event {
            id: seen.id,
            kind: seen.kind,
        };
        let limit = self.spec.history_limit;
        // A return only counts if it happened once the user had gone idle
        // (at the very instant counts: they were active then).
        let returned = seen.active && seen.at >= state.since;
        match state.stage {
            Stage::Dormant | Stage::Churned if returned => {
                state.returns = state.returns.saturating_add(1);
                enter(
                    state,
                    Stage::Reactivated,
                    (seen.at, Some(seen.instant)),
                    cause,
                    limit,
                    out,
                );
            }
            Stage::AtRisk if returned => {
                let back = state.resume;
                enter(
                    state,
                    back,
                    (seen.at, Some(seen.instant)),
                    cause,
                    limit,
                    out,
                );
            }
            _ => {}
        }
        // On a progress stage the activation day is worked out only when
        // retention is judged. The path back works out its windows before
        // `retained` can tell they are not needed (the event neither
        // active nor activating): put off too, the replay compiled 5%
        // slower at full size (2026-12-07).
        let retained_now = |reach| self.retained(state, seen, activated_now, reach);
        let target = match state.stage {
            s if s.is_progress() => self.earned_stage(state, || {
                retained_now(Reach {
                    ends_from: state.activation_day(),
                    days_from: LocalDay::from_number(i32::MIN),
                })
            }),
            // The path back: retention regained from the return on, or a
            // payment made since, restores the best stage the user ever
            // held. What came before the return (however late it arrives)
            // is what made them idle, not a way back.
            Stage::Reactivated
                if (seen.paid && seen.at >= state.since)
                    || retained_now(self.since_return(state, seen, state.activation_day())) =>
            {
                self.earned_stage(state, || true).max(state.peak)
            }
            _ => {
                // Still idle or reactivated (a late event, or no activity):
                // what the counts earned is kept for the way back, but the
                // user does not move.
                let earned = self.earned_stage(state, || false);
                state.peak = state.peak.max(earned);
                if state.stage == Stage::AtRisk && state.resume.is_progress() {
                    state.resume = state.resume.max(earned);
                }
                return;
            }
        };
        if state.stage.can_move_to(target) {
            enter(
                state,
                target,
                (seen.at, Some(seen.instant)),
                cause,
                limit,
                out,
            );
        }
    }

    /// Whether `seen` retains the user, judging the windows `reach` allows
    /// as time order would have: those that hold its day, if it is active;
    /// every one since the activation day, if it just activated the user
    /// (a late key action, say): in time order each active day after it
    /// judged its window, and the activation judged the one ending on its
    /// own day, whether the key action was activity or not. Always
    /// inlined: once the first window's check made it longer, the compiler
    /// left it out of line, 3% more instructions for a replay.
    #[inline(always)]
    fn retained(&self, state: &Lifecycle, seen: &Seen, activated_now: bool, reach: Reach) -> bool {
        let RetentionRule {
            active_days,
            window_days,
        } = self.spec.retention;
        let (best, first_holds) = if activated_now {
            let best = state.best_window_ending_in(i64::MIN..=i64::MAX, window_days, reach);
            (best, true)
        } else if seen.active {
            let best = state.best_window_through(seen.day, window_days, reach);
            let after = reach.ends_from.days_since(seen.day);
            (best, (0..i32::from(window_days)).contains(&after))
        } else {
            (0, false)
        };
        // The first window that counts ends on the activation day (or the
        // return's), which was judged whether or not it is an active day:
        // a key action need not be activity.
        let activated = state.key_actions >= self.spec.activation.required;
        let first = match first_holds && activated {
            true => state.active_days_from(reach.days_from, reach.ends_from, window_days),
            false => 0,
        };
        best.max(first) >= u32::from(active_days)
    }

    /// For a reactivated user: only days from the return on count, in
    /// windows that end once they were also activated.
    fn since_return(&self, state: &Lifecycle, seen: &Seen, activated: LocalDay) -> Reach {
        // `since` is the return's instant; most often this very event's.
        let back = if state.since == seen.at {
            seen.day
        } else {
            millis::to_instant(state.since).map_or(seen.day, |at| LocalDay::of(at, self.zone()))
        };
        Reach {
            ends_from: back.max(activated),
            days_from: back,
        }
    }

    /// The progress stage the counts alone justify; `retained_now` is only
    /// asked when it can matter. Always inlined: small, and called with a
    /// different closure from each branch of the step, which otherwise left
    /// the retention check's copy out of line (5% of a replay).
    #[inline(always)]
    fn earned_stage(&self, state: &Lifecycle, retained_now: impl FnOnce() -> bool) -> Stage {
        if state.payments >= self.spec.loyal_payments {
            Stage::Loyal
        } else if state.payments >= 2 {
            Stage::RepeatBuyer
        } else if state.payments == 1 {
            Stage::Converted
        } else if state.key_actions < self.spec.activation.required && state.peak < Stage::Activated
        {
            Stage::Acquired
        } else if retained_now() {
            Stage::Retained
        } else {
            Stage::Activated
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Money;
    use crate::lifecycle::PolicySpec;
    use chrono::{FixedOffset, TimeDelta};

    const U: UserId = UserId(1);

    fn t0() -> DateTime<Utc> {
        // 09:00 in +08:00.
        Utc.with_ymd_and_hms(2026, 3, 1, 1, 0, 0).unwrap()
    }

    fn policy(edit: impl FnOnce(&mut PolicySpec)) -> LifecyclePolicy<FixedOffset> {
        let mut spec = PolicySpec {
            utc_offset: "+08:00".parse().unwrap(),
            ..Default::default()
        };
        edit(&mut spec);
        spec.validate().unwrap()
    }

    #[test]
    fn a_payment_redelivered_within_the_horizon_is_counted_once() {
        // Four ids within a day, one older: the payment's id stays.
        let p = policy(|spec| {
            spec.dedupe = crate::dedupe::DedupeWindow {
                horizon_hours: 24,
                max_ids: 4,
            }
        });
        let h = |n| t0() + TimeDelta::hours(n);
        let pay = EventKind::Purchase {
            amount: Money::new(100, "CNY".parse().unwrap()),
        };
        let mut user = Lifecycle::new(U);
        for e in [
            Event::new(EventId(1), U, h(0), EventKind::SignedUp),
            Event::new(EventId(2), U, h(20), pay.clone()),
            Event::new(EventId(3), U, h(21), EventKind::Visited),
            Event::new(EventId(4), U, h(22), EventKind::Visited),
            Event::new(EventId(5), U, h(25), EventKind::Visited),
        ] {
            p.apply(&mut user, &e).unwrap();
        }
        assert_eq!(user.payments(), 1);
        // The payment again, five hours after it happened, stamped anew.
        let retry = Event::new(EventId(2), U, h(25), pay);
        let applied = p.apply(&mut user, &retry).unwrap();
        assert_eq!(applied.admission, Admission::Duplicate);
        assert_eq!(user.payments(), 1);
        assert_eq!(user.stage(), Stage::Converted);
    }

    #[test]
    fn a_stored_state_at_the_last_version_steps_without_a_panic() {
        // Only a state made by hand (or read back from hostile JSON) gets
        // there; the version saturates, as the generic machine's does.
        let p = policy(|_| {});
        let mut user = Lifecycle::new(U);
        user.version = u64::MAX;
        let visit = |id, days| {
            Event::new(
                EventId(id),
                U,
                t0() + TimeDelta::days(days),
                EventKind::Visited,
            )
        };
        assert!(
            p.apply(&mut user, &visit(1, 0))
                .is_ok_and(|a| a.was_applied())
        );
        assert_eq!(user.version(), u64::MAX);
        assert!(!p.tick(&mut user, t0() + TimeDelta::days(100)).is_empty());
        assert_eq!(user.version(), u64::MAX);
    }

    #[test]
    fn a_late_day_that_completes_a_later_window_retains() {
        // Active on days 0, 5 and 10; three days in fourteen retain. Day 5
        // arriving last fills the window that ends on day 10.
        let p = policy(|s| {
            s.idle.at_risk_days = 20;
            s.retention = crate::lifecycle::RetentionRule {
                active_days: 3,
                window_days: 14,
            };
        });
        let day = |d| t0() + TimeDelta::days(d);
        let lesson = EventKind::ActionCompleted {
            action: "lesson".into(),
        };
        let events = [
            Event::new(EventId(1), U, day(0), lesson),
            Event::new(EventId(2), U, day(5), EventKind::Visited),
            Event::new(EventId(3), U, day(10), EventKind::Visited),
        ];
        // (The first event, a key action, comes first: a key action arriving
        // after a later first event is judged against that event's day.)
        for order in [[0, 1, 2], [0, 2, 1]] {
            let mut state = Lifecycle::new(U);
            for i in order {
                p.apply(&mut state, &events[i]).unwrap();
            }
            assert_eq!(state.stage(), Stage::Retained, "{order:?}");
        }
        // Too far apart for one window: no order retains.
        let sparse = [&events[0], &events[2]];
        let mut state = Lifecycle::new(U);
        for e in sparse {
            p.apply(&mut state, e).unwrap();
        }
        let late = Event::new(EventId(4), U, day(-4), EventKind::Visited);
        p.apply(&mut state, &late).unwrap();
        assert_eq!(state.stage(), Stage::Activated);
    }

    /// A policy that lets key actions count `within_days` after sign-up,
    /// retains on three active days in fourteen, never idles the user in
    /// the span of these tests, and remembers every event id (so that late
    /// events are judged, not refused).
    fn long_activation(within_days: u16) -> LifecyclePolicy<FixedOffset> {
        policy(|s| {
            s.activation.within_days = within_days;
            s.retention = crate::lifecycle::RetentionRule {
                active_days: 3,
                window_days: 14,
            };
            s.idle = crate::lifecycle::Idle {
                at_risk_days: 1000,
                dormant_days: 2000,
                churned_days: 3000,
            };
            s.dedupe = crate::dedupe::DedupeWindow {
                horizon_hours: 24_000,
                max_ids: 1000,
            };
        })
    }

    /// Applies `(day, kind)` events in the order given, each `day` days
    /// after `t0`, checking each was applied.
    fn days_applied(p: &LifecyclePolicy<FixedOffset>, events: &[(i64, EventKind)]) -> Lifecycle {
        let mut state = Lifecycle::new(U);
        for (id, (d, kind)) in (1..).zip(events) {
            let e = Event::new(EventId(id), U, t0() + TimeDelta::days(*d), kind.clone());
            assert!(p.apply(&mut state, &e).unwrap().was_applied(), "day {d}");
        }
        state
    }

    #[test]
    fn an_activation_day_past_255_days_after_sign_up_is_kept_exactly() {
        // Active on days 256 to 258, activated on day 300: the only window
        // with three active days closed long before the activation, so time
        // order leaves the user activated. A byte for the day saturated at
        // 255 and let that window retain.
        let p = long_activation(400);
        let visit = || EventKind::Visited;
        let events = [
            (0, EventKind::SignedUp),
            (256, visit()),
            (257, visit()),
            (258, visit()),
            (300, lesson()),
        ];
        let state = days_applied(&p, &events);
        assert_eq!(state.stage(), Stage::Activated);
        let day_300 = LocalDay::of(t0() + TimeDelta::days(300), p.zone());
        assert_eq!(state.activation_day(), day_300);
        // The same days 100 earlier, under 255, were always judged right.
        let p = long_activation(250);
        let earlier = events.map(|(d, kind)| ((d - 100).max(0), kind));
        assert_eq!(days_applied(&p, &earlier).stage(), Stage::Activated);
        // And a window ending once activated still retains.
        let p = long_activation(400);
        let after = [
            (0, EventKind::SignedUp),
            (300, lesson()),
            (301, visit()),
            (302, visit()),
        ];
        assert_eq!(days_applied(&p, &after).stage(), Stage::Retained);
    }

    #[test]
    fn a_late_day_retains_only_after_an_activation_past_255_days() {
        // Day 257 arrives last and completes the window of days 256 to
        // 258, which closed before the activation on day 300.
        let p = long_activation(400);
        let state = days_applied(
            &p,
            &[
                (0, EventKind::SignedUp),
                (256, EventKind::Visited),
                (258, EventKind::Visited),
                (300, lesson()),
                (257, EventKind::Visited),
            ],
        );
        assert_eq!(state.stage(), Stage::Activated);
    }

    #[test]
    fn a_late_sign_up_far_back_keeps_the_activation_day() {
        // Acquired on day 0 by a visit, activated on day 20; a sign-up 300
        // days before arrives late. The activation day stays day 20, so
        // day 2, arriving last, completes only windows (days 0 to 2) that
        // closed before it. A byte saturated at 255 days after the new
        // acquisition day, day -45, and those windows retained.
        let p = long_activation(30);
        let state = days_applied(
            &p,
            &[
                (0, EventKind::Visited),
                (1, EventKind::Visited),
                (20, lesson()),
                (-300, EventKind::SignedUp),
                (2, EventKind::Visited),
            ],
        );
        let day = |d| LocalDay::of(t0() + TimeDelta::days(d), p.zone());
        assert_eq!(state.acquired_day, day(-300));
        assert_eq!(state.activation_day(), day(20));
        assert_eq!(state.stage(), Stage::Activated);
    }

    /// Applies `events` to a new state in the `order` given; returns each
    /// event's moves as `(from, to)` pairs, and the state.
    fn in_order<Tz: TimeZone>(
        p: &LifecyclePolicy<Tz>,
        events: &[Event],
        order: &[usize],
    ) -> (Vec<Vec<(Stage, Stage)>>, Lifecycle) {
        let mut state = Lifecycle::new(U);
        let moves = order
            .iter()
            .map(|&i| {
                let applied = p.apply(&mut state, &events[i]).unwrap();
                assert!(applied.was_applied(), "event {i} in {order:?}");
                applied.transitions.iter().map(|t| (t.from, t.to)).collect()
            })
            .collect();
        (moves, state)
    }

    /// Day `n` after 2026-03-01 09:00 UTC.
    fn utc_day(n: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap() + TimeDelta::days(n)
    }

    #[test]
    fn late_days_from_before_an_idle_spell_do_not_lift_a_reactivated_user() {
        use Stage::*;
        let p = LifecyclePolicy::default();
        let events = [
            Event::new(EventId(1), U, utc_day(0), lesson()),
            Event::new(EventId(2), U, utc_day(1), EventKind::Visited),
            Event::new(EventId(3), U, utc_day(2), EventKind::Visited),
            Event::new(EventId(4), U, utc_day(40), EventKind::Visited),
        ];
        let (moves, state) = in_order(&p, &events, &[0, 1, 2, 3]);
        let idle_and_back = vec![
            (Retained, AtRisk),
            (AtRisk, Dormant),
            (Dormant, Reactivated),
        ];
        let start = vec![(Prospect, Acquired), (Acquired, Activated)];
        assert_eq!(
            moves,
            [
                start.clone(),
                vec![],
                vec![(Activated, Retained)],
                idle_and_back
            ]
        );
        assert_eq!(state.stage(), Reactivated);
        // Days 1 and 2 arrive after the return: they are counted, but are
        // no regained retention.
        let (moves, state) = in_order(&p, &events, &[0, 3, 1, 2]);
        let idle_and_back = vec![
            (Activated, AtRisk),
            (AtRisk, Dormant),
            (Dormant, Reactivated),
        ];
        assert_eq!(moves, [start, idle_and_back, vec![], vec![]]);
        assert_eq!(state.stage(), Reactivated);
        assert!(state.was_active_on(LocalDay::of(utc_day(2), p.zone())));
        // (Nor do late days lift the peak of a user who is idle or back:
        // retention earned before the idle spell shows only in time order.)
        assert_eq!(state.peak(), Activated);
    }

    #[test]
    fn a_late_payment_from_before_an_idle_spell_does_not_lift_a_reactivated_user() {
        use Stage::*;
        let p = LifecyclePolicy::default();
        let events = [
            Event::new(EventId(1), U, utc_day(0), lesson()),
            Event::new(EventId(2), U, utc_day(1), pay()),
            Event::new(EventId(3), U, utc_day(40), EventKind::Visited),
        ];
        let start = vec![(Prospect, Acquired), (Acquired, Activated)];
        let back = [(AtRisk, Dormant), (Dormant, Reactivated)];
        let (moves, state) = in_order(&p, &events, &[0, 1, 2]);
        let idle_and_back = [vec![(Converted, AtRisk)], back.to_vec()].concat();
        assert_eq!(
            moves,
            [start.clone(), vec![(Activated, Converted)], idle_and_back]
        );
        assert_eq!((state.stage(), state.peak()), (Reactivated, Converted));
        let (moves, mut state) = in_order(&p, &events, &[0, 2, 1]);
        let idle_and_back = [vec![(Activated, AtRisk)], back.to_vec()].concat();
        assert_eq!(moves, [start, idle_and_back, vec![]]);
        // Counted, and the way back now leads to converted, but no lift.
        assert_eq!((state.stage(), state.peak()), (Reactivated, Converted));
        assert_eq!(state.payments(), 1);
        // A payment on the day of the return, but before it, does not lift either.
        let before = Event::new(EventId(9), U, utc_day(40) - TimeDelta::hours(1), pay());
        let mut early = state.clone();
        assert!(p.apply(&mut early, &before).unwrap().transitions.is_empty());
        assert_eq!(early.stage(), Reactivated);
        // One at the very instant of the return does.
        let at_return = Event::new(EventId(9), U, utc_day(40), pay());
        let moves = p.apply(&mut state, &at_return).unwrap().transitions;
        assert_eq!(
            moves.iter().map(|t| t.to).collect::<Vec<_>>(),
            [RepeatBuyer]
        );
    }

    #[test]
    fn days_before_a_return_are_no_regained_retention_when_the_window_outlasts_dormancy() {
        use Stage::*;
        // A 64-day window reaches back past the 30 idle days of dormancy.
        let p = PolicySpec {
            retention: crate::lifecycle::RetentionRule {
                active_days: 3,
                window_days: 64,
            },
            ..Default::default()
        }
        .validate()
        .unwrap();
        let mut s = Script::new(p);
        s.at(utc_day(0), lesson());
        s.at(utc_day(1), EventKind::Visited);
        s.at(utc_day(2), EventKind::Visited);
        assert_eq!(s.stage(), Retained);
        let moves = s.at(utc_day(40), EventKind::Visited);
        let moved: Vec<_> = moves.iter().map(|t| (t.from, t.to)).collect();
        assert_eq!(
            moved,
            [
                (Retained, AtRisk),
                (AtRisk, Dormant),
                (Dormant, Reactivated)
            ]
        );
        // Three active days from the return on: retention regained.
        s.at(utc_day(41), EventKind::Visited);
        assert_eq!(s.stage(), Reactivated);
        let moves = s.at(utc_day(42), EventKind::Visited);
        assert_eq!(moves.iter().map(|t| t.to).collect::<Vec<_>>(), [Retained]);
    }

    #[test]
    fn a_late_day_does_not_retain_through_a_window_that_closed_before_activation() {
        use Stage::*;
        let p = PolicySpec {
            retention: crate::lifecycle::RetentionRule {
                active_days: 3,
                window_days: 3,
            },
            idle: crate::lifecycle::Idle {
                at_risk_days: 100,
                dormant_days: 200,
                churned_days: 300,
            },
            ..Default::default()
        }
        .validate()
        .unwrap();
        let events = [
            Event::new(EventId(1), U, utc_day(0), EventKind::SignedUp),
            Event::new(EventId(2), U, utc_day(1), EventKind::Visited),
            Event::new(EventId(3), U, utc_day(2), EventKind::Visited),
            Event::new(EventId(4), U, utc_day(5), lesson()),
        ];
        let (moves, state) = in_order(&p, &events, &[0, 1, 2, 3]);
        let first = vec![(Prospect, Acquired)];
        assert_eq!(
            moves,
            [first.clone(), vec![], vec![], vec![(Acquired, Activated)]]
        );
        assert_eq!((state.stage(), state.peak()), (Activated, Activated));
        // Days 1 and 2 fill the window of days 0-2, which closed before the
        // user was activated on day 5.
        let (moves, state) = in_order(&p, &events, &[0, 3, 1, 2]);
        assert_eq!(moves, [first, vec![(Acquired, Activated)], vec![], vec![]]);
        assert_eq!((state.stage(), state.peak()), (Activated, Activated));
    }

    #[test]
    fn a_late_key_action_retains_through_the_windows_after_it() {
        use Stage::*;
        let p = PolicySpec {
            retention: crate::lifecycle::RetentionRule {
                active_days: 3,
                window_days: 3,
            },
            ..Default::default()
        }
        .validate()
        .unwrap();
        let events = [
            Event::new(EventId(1), U, utc_day(0), EventKind::SignedUp),
            Event::new(EventId(2), U, utc_day(1), lesson()),
            Event::new(EventId(3), U, utc_day(3), EventKind::Visited),
            Event::new(EventId(4), U, utc_day(4), EventKind::Visited),
            Event::new(EventId(5), U, utc_day(5), EventKind::Visited),
        ];
        let (moves, state) = in_order(&p, &events, &[0, 1, 2, 3, 4]);
        let first = vec![(Prospect, Acquired)];
        let activated = vec![(Acquired, Activated)];
        let retained = vec![(Activated, Retained)];
        assert_eq!(
            moves,
            [first.clone(), activated, vec![], vec![], retained.clone()]
        );
        assert_eq!(state.stage(), Retained);
        // The key action arrives last: the window of days 3-5 does not hold
        // its day, but closed after it.
        let (moves, state) = in_order(&p, &events, &[0, 2, 3, 4, 1]);
        let late = vec![(Acquired, Retained)];
        assert_eq!(moves, [first, vec![], vec![], vec![], late]);
        assert_eq!(state.stage(), Retained);
    }

    #[test]
    fn a_key_action_that_is_not_activity_retains_through_the_window_ending_that_day() {
        use Stage::*;
        // Visits are the only activity; two active days in two retain.
        let p = policy(|s| {
            s.activity = vec![crate::KindPattern::Kind(KindTag::Visited)];
            s.retention = crate::lifecycle::RetentionRule {
                active_days: 2,
                window_days: 2,
            };
            s.idle.at_risk_days = 20;
        });
        let events = [
            Event::new(EventId(1), U, t0(), EventKind::Visited),
            Event::new(EventId(2), U, t0() + days(1), EventKind::Visited),
            // Later that day: activated, and active on both days of the
            // two ending today.
            Event::new(
                EventId(3),
                U,
                t0() + days(1) + TimeDelta::hours(2),
                lesson(),
            ),
        ];
        let (moves, state) = in_order(&p, &events, &[0, 1, 2]);
        assert_eq!(moves[2], [(Acquired, Retained)]);
        assert_eq!(state.stage(), Retained);
        // The key action arriving late is judged the same.
        let (moves, state) = in_order(&p, &events, &[0, 2, 1]);
        assert_eq!(moves[1], [(Acquired, Activated)]);
        assert_eq!(moves[2], [(Activated, Retained)]);
        assert_eq!(state.stage(), Retained);
        // A window that ended before the activation day still does not count.
        let next_day = [
            events[0].clone(),
            events[1].clone(),
            Event::new(EventId(3), U, t0() + days(2), lesson()),
        ];
        let (moves, state) = in_order(&p, &next_day, &[0, 1, 2]);
        assert_eq!(moves[2], [(Acquired, Activated)]);
        assert_eq!(state.stage(), Activated);
        // With three days in the window, the one ending on the activation
        // day (no active day itself) holds both visits.
        let p = policy(|s| {
            s.activity = vec![crate::KindPattern::Kind(KindTag::Visited)];
            s.retention = crate::lifecycle::RetentionRule {
                active_days: 2,
                window_days: 3,
            };
            s.idle.at_risk_days = 20;
        });
        for order in [[0, 1, 2], [0, 2, 1]] {
            let (_, state) = in_order(&p, &next_day, &order);
            assert_eq!(state.stage(), Retained, "{order:?}");
        }
    }

    #[test]
    fn a_move_at_a_leap_second_is_returned_as_the_history_keeps_it() {
        // 23:59:60.5 in chrono's leap-second form: kept to the millisecond,
        // it is 00:00:00.5 of the next day, as `since` and the history say.
        let leap = chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
            .and_then(|d| d.and_hms_milli_opt(23, 59, 59, 1_500))
            .unwrap()
            .and_utc();
        let p = policy(|_| {});
        let mut state = Lifecycle::new(U);
        let e = Event::new(EventId(1), U, leap, EventKind::SignedUp);
        let moves = p.apply(&mut state, &e).unwrap().transitions;
        let kept: Vec<Transition> = state.history().collect();
        assert_eq!(moves.as_slice(), kept.as_slice());
        assert_eq!(Some(moves[0].at), state.since());
        let mut out = Vec::new();
        let mut batch = Lifecycle::new(U);
        p.apply_into(&mut batch, &e, &mut out).unwrap();
        assert_eq!(out, kept);
    }

    struct Script {
        policy: LifecyclePolicy<FixedOffset>,
        state: Lifecycle,
        next_id: u64,
    }

    impl Script {
        fn new(policy: LifecyclePolicy<FixedOffset>) -> Script {
            Script {
                policy,
                state: Lifecycle::new(U),
                next_id: 0,
            }
        }
        fn at(&mut self, at: DateTime<Utc>, kind: EventKind) -> Vec<Transition> {
            self.next_id += 1;
            let e = Event::new(EventId(self.next_id), U, at, kind);
            self.policy
                .apply(&mut self.state, &e)
                .unwrap()
                .transitions
                .into_vec()
        }
        fn stage(&self) -> Stage {
            self.state.stage()
        }
    }

    fn lesson() -> EventKind {
        EventKind::ActionCompleted {
            action: "lesson".into(),
        }
    }

    fn pay() -> EventKind {
        EventKind::Purchase {
            amount: Money::new(100, "CNY".parse().unwrap()),
        }
    }

    #[test]
    fn fixed_part_of_the_state_fits_in_128_bytes() {
        let whole = std::mem::size_of::<Lifecycle>();
        let fixed =
            whole - std::mem::size_of::<RecentIds>() - std::mem::size_of::<Vec<Transition>>();
        assert!(fixed <= 128, "fixed state is {fixed} bytes");
        // Two and a half cache lines in all: what a batch replay streams
        // per user.
        assert_eq!(whole, 160, "whole state is {whole} bytes");
    }

    #[test]
    fn first_event_acquires_and_signup_time_wins_if_earlier() {
        let mut s = Script::new(policy(|_| {}));
        let moves = s.at(t0(), EventKind::Visited);
        assert_eq!(moves.len(), 1);
        assert_eq!(
            (moves[0].from, moves[0].to),
            (Stage::Prospect, Stage::Acquired)
        );
        s.at(t0() - TimeDelta::hours(1), EventKind::SignedUp);
        assert_eq!(s.state.acquired_at(), Some(t0() - TimeDelta::hours(1)));
    }

    #[test]
    fn activation_counts_local_days_from_the_signup_day() {
        // Sign up at 23:30 local; within_days = 1 means the sign-up day only.
        let signup = Utc.with_ymd_and_hms(2026, 3, 1, 15, 30, 0).unwrap();
        let mut s = Script::new(policy(|p| p.activation.within_days = 1));
        s.at(signup, EventKind::SignedUp);
        // 00:10 local, the next local day, only 40 minutes later: too late.
        s.at(signup + TimeDelta::minutes(40), lesson());
        assert_eq!(s.stage(), Stage::Acquired);
        assert_eq!(s.state.key_actions(), 0);

        let mut s = Script::new(policy(|p| p.activation.within_days = 1));
        s.at(signup, EventKind::SignedUp);
        s.at(signup + TimeDelta::minutes(29), lesson()); // 23:59 local
        assert_eq!(s.stage(), Stage::Activated);
    }

    #[test]
    fn activation_window_edge_is_exclusive_at_n_days() {
        for (day, expect) in [(6, Stage::Activated), (7, Stage::Acquired)] {
            let mut s = Script::new(policy(|p| p.idle.at_risk_days = 20));
            s.at(t0(), EventKind::SignedUp);
            s.at(t0() + TimeDelta::days(day), lesson());
            assert_eq!(s.stage(), expect, "key action on day {day}");
        }
    }

    #[test]
    fn activation_can_require_several_key_actions() {
        let mut s = Script::new(policy(|p| p.activation.required = 2));
        s.at(t0(), EventKind::SignedUp);
        s.at(t0(), lesson());
        assert_eq!(s.stage(), Stage::Acquired);
        s.at(t0() + TimeDelta::hours(1), lesson());
        assert_eq!(s.stage(), Stage::Activated);
    }

    #[test]
    fn retention_needs_r_distinct_local_days_in_w() {
        // R = 3 in W = 14: days 0, 6, 13 qualify on day 13; days 0, 7, 14 do not on day 14.
        let mut s = Script::new(policy(|p| p.idle.at_risk_days = 20));
        s.at(t0(), lesson());
        s.at(t0() + TimeDelta::days(6), EventKind::Visited);
        assert_eq!(s.stage(), Stage::Activated);
        s.at(t0() + TimeDelta::days(13), EventKind::Visited);
        assert_eq!(s.stage(), Stage::Retained);

        let mut s = Script::new(policy(|p| p.idle.at_risk_days = 20));
        s.at(t0(), lesson());
        s.at(t0() + TimeDelta::days(7), EventKind::Visited);
        s.at(t0() + TimeDelta::days(14), EventKind::Visited);
        assert_eq!(s.stage(), Stage::Activated);
    }

    #[test]
    fn two_checkins_across_local_midnight_are_two_days() {
        let mut s = Script::new(policy(|p| {
            p.retention = crate::lifecycle::RetentionRule {
                active_days: 2,
                window_days: 2,
            }
        }));
        let late = Utc.with_ymd_and_hms(2026, 3, 1, 15, 30, 0).unwrap(); // 23:30 local
        s.at(late, lesson());
        s.at(
            late + TimeDelta::minutes(40),
            EventKind::CheckIn { community: None },
        ); // 00:10
        assert_eq!(s.stage(), Stage::Retained);
        // The same two instants in UTC fall on one day.
        let mut utc = Script::new(
            PolicySpec {
                retention: crate::lifecycle::RetentionRule {
                    active_days: 2,
                    window_days: 2,
                },
                ..Default::default()
            }
            .validate()
            .unwrap(),
        );
        utc.at(late, lesson());
        utc.at(
            late + TimeDelta::minutes(40),
            EventKind::CheckIn { community: None },
        );
        assert_eq!(utc.stage(), Stage::Activated);
    }

    #[test]
    fn payments_convert_repeat_and_make_loyal() {
        let mut s = Script::new(policy(|p| p.loyal_payments = 3));
        s.at(t0(), EventKind::SignedUp);
        let moves = s.at(t0(), pay());
        assert_eq!(
            moves.last().map(|t| (t.from, t.to)),
            Some((Stage::Acquired, Stage::Converted))
        );
        s.at(t0(), pay());
        assert_eq!(s.stage(), Stage::RepeatBuyer);
        s.at(
            t0(),
            EventKind::Refund {
                amount: Money::new(100, "CNY".parse().unwrap()),
            },
        );
        assert_eq!(s.stage(), Stage::RepeatBuyer, "refunds never demote");
        s.at(t0(), pay());
        assert_eq!(s.stage(), Stage::Loyal);
        // A zero-amount purchase is not a payment.
        let mut z = Script::new(policy(|_| {}));
        z.at(
            t0(),
            EventKind::Purchase {
                amount: Money::new(0, "CNY".parse().unwrap()),
            },
        );
        assert_eq!(z.stage(), Stage::Acquired);
    }

    #[test]
    fn idle_moves_fire_at_exactly_their_thresholds() {
        let mut s = Script::new(policy(|_| {}));
        s.at(t0(), lesson());
        let p = &s.policy;
        assert!(
            p.tick(&mut s.state, t0() + days(7) - TimeDelta::seconds(1))
                .is_empty()
        );
        let v = s.state.version();
        let moves = p.tick(&mut s.state, t0() + days(7));
        assert_eq!(moves.len(), 1);
        assert_eq!((moves[0].to, moves[0].at), (Stage::AtRisk, t0() + days(7)));
        assert_eq!(moves[0].cause, Cause::Idle { days: 7 });
        assert_eq!(s.state.version(), v + 1);
        // Ticking again at the same instant does nothing, version unchanged.
        assert!(p.tick(&mut s.state, t0() + days(7)).is_empty());
        assert_eq!(s.state.version(), v + 1);
    }

    #[test]
    fn a_long_silence_cascades_with_each_move_at_its_own_instant() {
        let mut s = Script::new(policy(|_| {}));
        s.at(t0(), lesson());
        let moves = s.policy.tick(&mut s.state, t0() + days(365));
        let got: Vec<_> = moves.iter().map(|t| (t.to, t.at)).collect();
        assert_eq!(
            got,
            vec![
                (Stage::AtRisk, t0() + days(7)),
                (Stage::Dormant, t0() + days(30)),
                (Stage::Churned, t0() + days(90)),
            ]
        );
    }

    #[test]
    fn return_from_at_risk_restores_the_stage_left() {
        let mut s = Script::new(policy(|_| {}));
        s.at(t0(), pay());
        s.policy.tick(&mut s.state, t0() + days(8));
        assert_eq!(s.stage(), Stage::AtRisk);
        let moves = s.at(t0() + days(9), EventKind::Visited);
        assert_eq!(
            moves.iter().map(|t| t.to).collect::<Vec<_>>(),
            vec![Stage::Converted]
        );
    }

    #[test]
    fn churned_user_returns_reactivated_and_finds_the_path_back() {
        let mut s = Script::new(policy(|_| {}));
        s.at(t0(), lesson());
        s.at(t0() + days(1), pay());
        s.at(t0() + days(2), pay());
        assert_eq!(s.stage(), Stage::RepeatBuyer);
        let back = t0() + days(200);
        let moves = s.at(back, EventKind::Visited);
        let stages: Vec<_> = moves.iter().map(|t| t.to).collect();
        assert_eq!(
            stages,
            vec![
                Stage::AtRisk,
                Stage::Dormant,
                Stage::Churned,
                Stage::Reactivated
            ]
        );
        assert_eq!(s.state.returns(), 1);
        // Two more active days within the window: retention regained, back to the peak.
        s.at(back + days(1), EventKind::Visited);
        assert_eq!(s.stage(), Stage::Reactivated);
        s.at(back + days(2), EventKind::Visited);
        assert_eq!(s.stage(), Stage::RepeatBuyer);
    }

    #[test]
    fn a_payment_ends_reactivation_at_once() {
        let mut s = Script::new(policy(|_| {}));
        s.at(t0(), lesson());
        s.at(t0() + days(40), EventKind::Visited);
        assert_eq!(s.stage(), Stage::Reactivated);
        s.at(t0() + days(40), pay());
        assert_eq!(s.stage(), Stage::Converted);
    }

    #[test]
    fn late_events_count_but_never_rewind_or_fake_a_return() {
        let mut s = Script::new(policy(|_| {}));
        s.at(t0(), lesson());
        s.policy.tick(&mut s.state, t0() + days(40));
        assert_eq!(s.stage(), Stage::Dormant);
        // A payment that happened before the user went dormant arrives late.
        let moves = s.at(t0() + days(1), pay());
        assert!(moves.is_empty(), "{moves:?}");
        assert_eq!(s.stage(), Stage::Dormant);
        assert_eq!(s.state.payments(), 1);
        // The late activity moved the last-active time, but no idle move ran backwards.
        assert_eq!(s.state.last_active(), Some(t0() + days(1)));
        let h = s.state.history();
        assert!(h.clone().zip(h.skip(1)).all(|(a, b)| a.at <= b.at));
        // A real return now goes to reactivated; the payment, made before
        // the idle spell, does not lift it back (but the path back leads to
        // converted).
        s.at(t0() + days(41), EventKind::Visited);
        assert_eq!(s.stage(), Stage::Reactivated);
        assert_eq!(s.state.peak(), Stage::Converted);
    }

    #[test]
    fn late_progress_is_stamped_no_earlier_than_the_current_stage() {
        let mut s = Script::new(policy(|_| {}));
        s.at(t0() + days(2), EventKind::Visited);
        let moves = s.at(t0(), pay()); // earlier than the acquisition
        assert_eq!(moves[0].to, Stage::Converted);
        assert_eq!(moves[0].at, t0() + days(2));
    }

    #[test]
    fn duplicates_and_other_users_change_nothing() {
        let mut s = Script::new(policy(|_| {}));
        s.at(t0(), lesson());
        let before = s.state.clone();
        let dup = Event::new(EventId(1), U, t0(), lesson());
        let r = s.policy.apply(&mut s.state, &dup).unwrap();
        assert_eq!(r.admission, Admission::Duplicate);
        assert_eq!(s.state, before);
        let other = Event::new(EventId(99), UserId(2), t0(), lesson());
        let err = s.policy.apply(&mut s.state, &other).unwrap_err();
        assert_eq!(
            err.to_string(),
            "event event#99 is for user#2 but this lifecycle belongs to user#1"
        );
        assert_eq!(s.state, before);
    }

    #[test]
    fn history_is_bounded_and_counts_what_it_dropped() {
        let mut s = Script::new(policy(|p| p.history_limit = 2));
        s.at(t0(), lesson());
        s.at(t0(), pay());
        s.at(t0(), pay());
        assert_eq!(s.state.history().len(), 2);
        assert_eq!(s.state.history_dropped(), 2);
        assert_eq!(
            s.state.history().nth(1).map(|t| t.to),
            Some(Stage::RepeatBuyer)
        );
    }

    #[test]
    fn adopting_a_run_keeps_the_newest_moves_as_one_by_one_would() {
        let moved = |n: u16| Transition {
            from: Stage::Acquired,
            to: Stage::Activated,
            at: t0(),
            cause: Cause::Idle { days: n },
        };
        let all: Vec<Transition> = (0..7).map(moved).collect();
        let all_kept: Vec<Kept> = all.iter().map(Kept::from).collect();
        for limit in 1..=8u16 {
            for split in 0..=all.len() {
                let mut whole = Lifecycle::new(U);
                whole.adopt_history(&all_kept, limit);
                let mut parts = Lifecycle::new(U);
                parts.adopt_history(&all_kept[..split], limit);
                parts.adopt_history(&all_kept[split..], limit);
                let kept = all.len().min(usize::from(limit));
                let history: Vec<Transition> = whole.history().collect();
                assert_eq!(history, &all[all.len() - kept..], "limit {limit}");
                assert_eq!(whole.history_dropped() as usize, all.len() - kept);
                assert_eq!(parts, whole, "limit {limit}, split {split}");
            }
        }
    }

    #[test]
    fn active_day_window_queries() {
        let mut s = Script::new(policy(|_| {}));
        s.at(t0(), EventKind::Visited);
        s.at(t0() + days(3), EventKind::Visited);
        let d0 = LocalDay::of(t0(), &s.policy.zone);
        assert!(s.state.was_active_on(d0));
        assert!(!s.state.was_active_on(d0.checked_add_days(1).unwrap()));
        assert_eq!(
            s.state.active_days_in(d0.checked_add_days(3).unwrap(), 4),
            2
        );
        assert_eq!(
            s.state.active_days_in(d0.checked_add_days(3).unwrap(), 3),
            1
        );
        assert_eq!(
            s.state
                .active_days_in(d0.checked_add_days(100).unwrap(), 64),
            0
        );
        // Nothing breaks at the far ends of the calendar.
        assert_eq!(
            s.state
                .active_days_in(LocalDay::from_number(i32::MIN), u16::MAX),
            0
        );
        assert_eq!(
            s.state
                .active_days_in(LocalDay::from_number(i32::MAX), u16::MAX),
            0
        );
    }

    #[test]
    fn state_round_trips_through_json() {
        let mut s = Script::new(policy(|_| {}));
        s.at(t0(), lesson());
        s.at(t0() + days(50), pay());
        let json = serde_json::to_string(&s.state).unwrap();
        assert_eq!(serde_json::from_str::<Lifecycle>(&json).unwrap(), s.state);
    }

    #[test]
    fn stored_activation_days_read_back_whatever_their_width() {
        let p = long_activation(400);
        let state = days_applied(&p, &[(0, EventKind::SignedUp), (300, lesson())]);
        let json = serde_json::to_value(&state).unwrap();
        assert_eq!(json["activated_on"], 300);
        assert_eq!(
            serde_json::from_value::<Lifecycle>(json.clone()).unwrap(),
            state
        );
        // Stored when the day was a byte: read as it was.
        let mut old = json.clone();
        old["activated_on"] = 255.into();
        let read: Lifecycle = serde_json::from_value(old).unwrap();
        assert_eq!(read.activated_on, 255);
        // Stored before the day was kept: the acquisition day.
        let mut older = json;
        older.as_object_mut().unwrap().remove("activated_on");
        let read: Lifecycle = serde_json::from_value(older).unwrap();
        assert_eq!(read.activation_day(), read.acquired_day);
    }

    fn days(n: i64) -> TimeDelta {
        TimeDelta::days(n)
    }
}
