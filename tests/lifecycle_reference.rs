//! The default lifecycle policy against a reference model written from its
//! documentation (the module docs of `growthkit::lifecycle`, `PolicySpec`,
//! `LifecyclePolicy::apply` and `tick`).
//!
//! The model keeps every event it has taken and recomputes what it needs
//! by brute force on every step: local days straight from chrono's
//! calendar in the zone, key actions and active days as lists, retention
//! windows counted day by day. It shares nothing with the library but the
//! public types. Checked, in a fixed offset and in IANA zones across
//! daylight-saving changes (New York's hour, Lord Howe's half hour), with
//! small thresholds so that the edges (exactly N days, local midnight) are
//! hit often:
//!
//! 1. in time order, with ticks between events, every step's moves and the
//!    state's public counters equal the model's;
//! 2. with some events late (out of order) and repeats of event ids, too:
//!    late events count and move forward only, repeats change nothing;
//! 3. a batch replay of the same log gives exactly the online states,
//!    and so do ticks after it;
//! 4. a state round-tripped through JSON mid-sequence continues exactly
//!    like the original.
//!
//! Where the docs leave a choice open, the model takes the library's and
//! says so: retention is judged on activity and on activation (not on
//! every event); with more key actions than `activation.required`
//! arriving out of order the activation day is the latest of the first
//! `required` to arrive; only the 64 days up to the newest active day are
//! known (`Lifecycle::was_active_on`); an idle move due before a late
//! event is made when that event is applied.

use chrono::{DateTime, NaiveDate, TimeDelta, TimeZone, Utc};
use chrono_tz::{America::New_York, Australia::Lord_Howe};
use growthkit::batch::EventLog;
use growthkit::dedupe::{Admission, DedupeWindow};
use growthkit::lifecycle::{
    Activation, Cause, Idle, Lifecycle, LifecyclePolicy, PolicySpec, RetentionRule, Stage,
    Transition, replay, replay_into,
};
use growthkit::{Event, EventId, EventKind, KindPattern, Money, UserId};
use proptest::prelude::*;
use proptest::sample::Index;
use std::collections::BTreeSet;

// ---------------------------------------------------------------------------
// The reference model.
// ---------------------------------------------------------------------------

fn ms(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

fn from_ms(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap()
}

/// The local day of `at` in `zone`, as days since 1970-01-01, straight
/// from chrono's calendar.
fn local_day<Tz: TimeZone>(zone: &Tz, at: DateTime<Utc>) -> i64 {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
    at.with_timezone(zone)
        .date_naive()
        .signed_duration_since(epoch)
        .num_days()
}

fn is_payment(kind: &EventKind) -> bool {
    matches!(kind, EventKind::Purchase { amount } if amount.minor > 0)
}

/// One move as the model makes it: from, to, unix milliseconds, cause.
type Move = (Stage, Stage, i64, Cause);

/// The default policy as its documentation states it. Every event is
/// activity (the default `activity`), key actions are `action_completed`
/// (the default `activation.key_actions`).
struct Model<Tz: TimeZone> {
    spec: PolicySpec,
    zone: Tz,
    /// Every id taken (the tests' dedupe windows never forget).
    ids: BTreeSet<EventId>,
    /// Every event taken: (unix ms, local day, kind, whether activity).
    taken: Vec<(i64, i64, EventKind, bool)>,
    /// The local days of the key actions that counted, each judged on arrival.
    keys: Vec<i64>,
    stage: Stage,
    since: i64,
    peak: Stage,
    resume: Stage,
    returns: u16,
    acquired_at: i64,
    acquired_day: i64,
    /// The instant of the first event taken.
    first: i64,
    /// Every move made.
    moves: Vec<Move>,
}

impl<Tz: TimeZone> Model<Tz> {
    fn new(spec: PolicySpec, zone: Tz) -> Self {
        Model {
            spec,
            zone,
            ids: BTreeSet::new(),
            taken: Vec::new(),
            keys: Vec::new(),
            stage: Stage::Prospect,
            since: i64::MIN,
            peak: Stage::Prospect,
            resume: Stage::Prospect,
            returns: 0,
            acquired_at: i64::MIN,
            acquired_day: 0,
            first: i64::MIN,
            moves: Vec::new(),
        }
    }

    fn payments(&self) -> u32 {
        self.taken
            .iter()
            .filter(|(_, _, k, _)| is_payment(k))
            .count() as u32
    }

    fn refunds(&self) -> u16 {
        let refunds = self
            .taken
            .iter()
            .filter(|(_, _, k, _)| matches!(k, EventKind::Refund { .. }));
        refunds.count() as u16
    }

    /// The active days the state can know: the 64 up to the newest (see
    /// `Lifecycle::was_active_on`), the first event's day counting as one
    /// the map is anchored on.
    fn active_days(&self) -> BTreeSet<i64> {
        let newest = self.taken.iter().filter(|t| t.3).map(|t| t.1).max();
        let first_day = self.taken.first().map(|t| t.1);
        let anchor = newest.max(first_day).unwrap_or(i64::MIN);
        let days = self.taken.iter().filter(|t| t.3).map(|t| t.1);
        days.filter(|&d| d > anchor - 64).collect()
    }

    fn is_activity(&self, kind: &EventKind) -> bool {
        self.spec.activity.iter().any(|p| p.matches(kind))
    }

    /// Newest activity, or the acquisition if newer.
    fn last_active(&self) -> i64 {
        let newest = self
            .taken
            .iter()
            .filter(|t| t.3)
            .map(|t| t.0)
            .max()
            .unwrap_or(i64::MIN);
        newest.max(self.first)
    }

    fn activated(&self) -> bool {
        self.keys.len() >= self.spec.activation.required as usize
    }

    /// The day of the `required`-th key action in time order. When more
    /// than `required` arrive out of order the docs allow a later day than
    /// time order's; the model keeps the latest of the first `required` to
    /// arrive, except that one key action activates on the earliest day.
    fn activation_day(&self) -> Option<i64> {
        let required = self.spec.activation.required as usize;
        if self.keys.len() < required {
            None
        } else if required == 1 {
            self.keys.iter().min().copied()
        } else {
            self.keys[..required].iter().max().copied()
        }
    }

    /// The most distinct active days counted from `days_from` in a window
    /// of `window_days` ending on a day `end` retention was judged on
    /// (an active day, or the activation day) for which `ends(end)`.
    fn best_window(&self, days_from: i64, ends: impl Fn(i64) -> bool) -> u32 {
        let active = self.active_days();
        let w = i64::from(self.spec.retention.window_days);
        let mut judged = active.clone();
        if self.activated() {
            judged.extend(self.activation_day());
        }
        judged
            .iter()
            .filter(|&&end| ends(end))
            .map(|&end| {
                let lo = (end - w + 1).max(days_from);
                active.range(lo..=end).count() as u32
            })
            .max()
            .unwrap_or(0)
    }

    /// Whether the event on `day` retains, judging the windows time order
    /// would have judged with the user activated: those ending on a day
    /// retention was judged (an active day, the activation day) that hold
    /// `day`, if the event is activity, or, if it just activated the user,
    /// every one ending on or after the activation day; never one that
    /// ended before the activation day (nor, on the path back, before the
    /// return). Retention is judged on activity, and on activation.
    fn retained(
        &self,
        day: i64,
        active: bool,
        activated_now: bool,
        ends_from: i64,
        days_from: i64,
    ) -> bool {
        let w = i64::from(self.spec.retention.window_days);
        let best = if activated_now {
            self.best_window(days_from, |end| end >= ends_from)
        } else if active {
            self.best_window(days_from, |end| {
                end >= ends_from && (day..day + w).contains(&end)
            })
        } else {
            0
        };
        best >= u32::from(self.spec.retention.active_days)
    }

    fn earned(&self, retained: bool) -> Stage {
        let payments = self.payments();
        if payments >= self.spec.loyal_payments {
            Stage::Loyal
        } else if payments >= 2 {
            Stage::RepeatBuyer
        } else if payments == 1 {
            Stage::Converted
        } else if !self.activated() && self.peak < Stage::Activated {
            Stage::Acquired
        } else if retained {
            Stage::Retained
        } else {
            Stage::Activated
        }
    }

    fn enter(&mut self, to: Stage, at: i64, cause: Cause, out: &mut Vec<Move>) {
        let at = at.max(self.since);
        out.push((self.stage, to, at, cause));
        self.moves.push((self.stage, to, at, cause));
        self.stage = to;
        self.since = at;
        if to.is_progress() {
            self.peak = self.peak.max(to);
        }
    }

    fn idle(&mut self, now: i64, out: &mut Vec<Move>) {
        let idle = self.spec.idle;
        loop {
            let (next, days) = match self.stage {
                Stage::Prospect | Stage::Churned => return,
                Stage::AtRisk => (Stage::Dormant, idle.dormant_days),
                Stage::Dormant => (Stage::Churned, idle.churned_days),
                _ => (Stage::AtRisk, idle.at_risk_days),
            };
            let due = self.last_active() + i64::from(days) * 86_400_000;
            if due > now {
                return;
            }
            if next == Stage::AtRisk {
                self.resume = self.stage;
            }
            self.enter(next, due, Cause::Idle { days }, out);
        }
    }

    fn tick(&mut self, now: DateTime<Utc>) -> Vec<Move> {
        let mut out = Vec::new();
        self.idle(ms(now), &mut out);
        out
    }

    /// `None` for a repeat.
    fn apply(&mut self, e: &Event) -> Option<Vec<Move>> {
        if !self.ids.insert(e.id) {
            return None;
        }
        let mut out = Vec::new();
        let at = ms(e.at);
        let day = local_day(&self.zone, e.at);
        self.idle(at, &mut out);
        let cause = Cause::Event {
            id: e.id,
            kind: e.kind.tag(),
        };
        if self.stage == Stage::Prospect {
            self.first = at;
            self.acquired_at = at;
            self.acquired_day = day;
            self.enter(Stage::Acquired, at, cause, &mut out);
        }
        if matches!(e.kind, EventKind::SignedUp) && at < self.acquired_at {
            self.acquired_at = at;
            self.acquired_day = day;
        }
        let active = self.is_activity(&e.kind);
        self.taken.push((at, day, e.kind.clone(), active));
        let before = self.activation_day();
        let mut activated_now = false;
        if self
            .spec
            .activation
            .key_actions
            .iter()
            .any(|p| p.matches(&e.kind))
        {
            let offset = day - self.acquired_day;
            if (0..i64::from(self.spec.activation.within_days)).contains(&offset) {
                self.keys.push(day);
                let after = self.activation_day();
                activated_now = after.is_some() && (before.is_none() || after < before);
            }
        }
        let paid = is_payment(&e.kind);
        // Activity at or after the idle move is a return.
        let returned = active && at >= self.since;
        match self.stage {
            Stage::Dormant | Stage::Churned if returned => {
                self.returns += 1;
                self.enter(Stage::Reactivated, at, cause, &mut out);
            }
            Stage::AtRisk if returned => {
                let back = self.resume;
                self.enter(back, at, cause, &mut out);
            }
            _ => {}
        }
        let activation = self.activation_day().unwrap_or(self.acquired_day);
        let target = match self.stage {
            s if s.is_progress() => {
                let retained = self.activated()
                    && self.retained(day, active, activated_now, activation, i64::MIN);
                self.earned(retained)
            }
            Stage::Reactivated => {
                let back = local_day(&self.zone, from_ms(self.since));
                let regained =
                    self.retained(day, active, activated_now, back.max(activation), back);
                if (paid && at >= self.since) || regained {
                    self.earned(true).max(self.peak)
                } else {
                    self.peak = self.peak.max(self.earned(false));
                    return Some(out);
                }
            }
            _ => {
                let earned = self.earned(false);
                self.peak = self.peak.max(earned);
                if self.stage == Stage::AtRisk && self.resume.is_progress() {
                    self.resume = self.resume.max(earned);
                }
                return Some(out);
            }
        };
        if self.stage.can_move_to(target) {
            self.enter(target, at, cause, &mut out);
        }
        Some(out)
    }
}

fn moves_of(ts: &[Transition]) -> Vec<Move> {
    ts.iter()
        .map(|t| (t.from, t.to, ms(t.at), t.cause))
        .collect()
}

/// The public view of a state the model can predict: stage, since, peak,
/// payments, refunds, returns, events, last active, acquired at.
type View = (
    Stage,
    Option<i64>,
    Stage,
    u32,
    u16,
    u16,
    u32,
    Option<i64>,
    Option<i64>,
);

fn view(s: &Lifecycle) -> View {
    (
        s.stage(),
        s.since().map(ms),
        s.peak(),
        s.payments(),
        s.refunds(),
        s.returns(),
        s.events(),
        s.last_active().map(ms),
        s.acquired_at().map(ms),
    )
}

fn model_view<Tz: TimeZone>(m: &Model<Tz>) -> View {
    let some = |v: i64| (m.stage != Stage::Prospect).then_some(v);
    (
        m.stage,
        some(m.since),
        m.peak,
        m.payments(),
        m.refunds(),
        m.returns,
        m.taken.len() as u32,
        some(m.last_active()),
        some(m.acquired_at),
    )
}

// ---------------------------------------------------------------------------
// Inputs.
// ---------------------------------------------------------------------------

const U: UserId = UserId(1);

fn kind() -> impl Strategy<Value = EventKind> {
    let cny = || "CNY".parse().unwrap();
    prop_oneof![
        2 => Just(EventKind::SignedUp),
        4 => Just(EventKind::Visited),
        4 => Just(EventKind::ActionCompleted { action: "lesson".into() }),
        1 => (0i64..3).prop_map(move |m| EventKind::Purchase { amount: Money::new(m * 100, cny()) }),
        1 => Just(EventKind::Visited),
        1 => Just(EventKind::Refund { amount: Money::new(100, "CNY".parse().unwrap()) }),
        1 => Just(EventKind::CheckIn { community: None }),
    ]
}

/// Every event, or some kinds only: key actions among them or not.
fn activity() -> impl Strategy<Value = Vec<KindPattern>> {
    let patterns = |list: &[&str]| {
        list.iter()
            .map(|p| p.parse().unwrap())
            .collect::<Vec<KindPattern>>()
    };
    prop_oneof![
        2 => Just(patterns(&["*"])),
        1 => Just(patterns(&["visited", "action_completed", "check_in"])),
        1 => Just(patterns(&["visited", "check_in"])),
    ]
}

/// Small thresholds, so that every edge is reached in a few weeks.
fn spec() -> impl Strategy<Value = PolicySpec> {
    (
        (1u32..=2, 1u16..=4),
        (1u16..=4, 0u16..=3),
        3u32..=4,
        (1u16..=4, 1u16..=4, 1u16..=6),
        1u16..=6,
        activity(),
    )
        .prop_map(
            |((required, within), (r, extra), loyal, (a, b, c), history, activity)| PolicySpec {
                activity,
                activation: Activation {
                    required,
                    within_days: within,
                    ..Activation::default()
                },
                retention: RetentionRule {
                    active_days: r,
                    window_days: r + extra,
                },
                loyal_payments: loyal,
                idle: Idle {
                    at_risk_days: a,
                    dormant_days: a + b,
                    churned_days: a + b + c,
                },
                history_limit: history,
                dedupe: DedupeWindow {
                    horizon_hours: 100_000,
                    max_ids: 10_000,
                },
                ..PolicySpec::default()
            },
        )
}

/// The small thresholds with a dedupe window that forgets (the default,
/// or a few ids over a day), so that repeats are also refused as too late.
fn bounded_spec() -> impl Strategy<Value = PolicySpec> {
    let windows = prop_oneof![
        Just(DedupeWindow::default()),
        (1u32..=48, 1u16..=4).prop_map(|(horizon_hours, max_ids)| DedupeWindow {
            horizon_hours,
            max_ids,
        }),
        Just(DedupeWindow {
            horizon_hours: 100_000,
            max_ids: 10_000,
        }),
    ];
    (spec(), windows).prop_map(|(spec, dedupe)| PolicySpec { dedupe, ..spec })
}

/// Wide windows and long idle spells over long spans: the 64-day map of
/// active days, activation days far from the acquisition.
fn wide_spec() -> impl Strategy<Value = PolicySpec> {
    (
        spec(),
        1u16..=64,
        0u16..=64,
        1u16..=100,
        (1u16..=60, 1u16..=40, 1u16..=40),
    )
        .prop_map(|(spec, w, r, within, (a, b, c))| PolicySpec {
            activation: Activation {
                within_days: within,
                ..spec.activation.clone()
            },
            retention: RetentionRule {
                active_days: 1 + r % w,
                window_days: w,
            },
            idle: Idle {
                at_risk_days: a,
                dormant_days: a + b,
                churned_days: a + b + c,
            },
            ..spec
        })
}

/// Instants over ~40 days from `start`: on a quarter-hour grid (local
/// midnights in every zone here, and whole days apart for the idle
/// thresholds), now and then a millisecond either side of one, or with
/// sub-millisecond digits the state cannot keep.
fn instant(start: DateTime<Utc>, days: i64) -> impl Strategy<Value = DateTime<Utc>> {
    let nudge = prop_oneof![
        8 => Just(TimeDelta::zero()),
        1 => Just(TimeDelta::milliseconds(-1)),
        1 => Just(TimeDelta::milliseconds(1)),
        1 => (1i64..1_000_000).prop_map(TimeDelta::nanoseconds),
    ];
    (0i64..days * 96, nudge).prop_map(move |(q, n)| start + TimeDelta::minutes(15 * q) + n)
}

/// How many days events span: a few (retention and loyalty within
/// reach), or forty (idle spells and returns).
fn spread() -> impl Strategy<Value = i64> {
    prop_oneof![Just(3i64), Just(8), Just(40)]
}

/// Long spans, for the wide policies.
fn long_ops(start: DateTime<Utc>) -> impl Strategy<Value = Vec<Event>> {
    (
        prop_oneof![Just(30i64), Just(70), Just(150)].prop_flat_map(move |days| {
            proptest::collection::vec((instant(start, days), kind()), 0..60)
        }),
        proptest::collection::vec((any::<Index>(), any::<Index>()), 0..6),
        any::<bool>(),
    )
        .prop_map(|(mut drafts, late, shuffle)| {
            drafts.sort_by_key(|d| d.0);
            let mut events: Vec<Event> = drafts
                .into_iter()
                .enumerate()
                .map(|(i, (at, kind))| Event::new(EventId(i as u64 + 1), U, at, kind))
                .collect();
            for (which, to) in late.into_iter().filter(|_| shuffle) {
                if events.len() < 2 {
                    break;
                }
                let i = which.index(events.len());
                let e = events.remove(i);
                let j = i + to.index(events.len() - i + 1);
                events.insert(j, e);
            }
            events
        })
}

#[derive(Clone, Debug)]
enum Op {
    Apply(Event),
    Tick(DateTime<Utc>),
}

/// Events in time order with ticks between them (a tick never goes back
/// before the newest event, as a host's clock would not).
fn in_order(start: DateTime<Utc>) -> impl Strategy<Value = Vec<Op>> {
    spread()
        .prop_flat_map(move |days| {
            proptest::collection::vec(
                (
                    instant(start, days),
                    kind(),
                    proptest::option::weighted(0.3, 0i64..96 * 8),
                ),
                0..30,
            )
        })
        .prop_map(|mut drafts| {
            drafts.sort_by_key(|d| d.0);
            let mut ops = Vec::new();
            for (i, (at, kind, tick)) in drafts.iter().cloned().enumerate() {
                ops.push(Op::Apply(Event::new(EventId(i as u64 + 1), U, at, kind)));
                if let Some(q) = tick {
                    let now = at + TimeDelta::minutes(15 * q);
                    let next = drafts.get(i + 1).map_or(now, |d| d.0);
                    ops.push(Op::Tick(now.min(next)));
                }
            }
            ops
        })
}

/// Time-ordered events, some delivered late (moved later in the list) and
/// some delivered again (an id repeated, after its original).
fn shuffled(start: DateTime<Utc>) -> impl Strategy<Value = Vec<Event>> {
    (
        spread().prop_flat_map(move |days| {
            proptest::collection::vec((instant(start, days), kind()), 0..30)
        }),
        proptest::collection::vec((any::<Index>(), any::<Index>()), 0..6),
        proptest::collection::vec((any::<Index>(), any::<Index>()), 0..4),
    )
        .prop_map(|(mut drafts, late, again)| {
            drafts.sort_by_key(|d| d.0);
            let mut events: Vec<Event> = drafts
                .into_iter()
                .enumerate()
                .map(|(i, (at, kind))| Event::new(EventId(i as u64 + 1), U, at, kind))
                .collect();
            for (which, to) in late {
                if events.len() < 2 {
                    break;
                }
                let i = which.index(events.len());
                let e = events.remove(i);
                let j = i + to.index(events.len() - i + 1);
                events.insert(j, e);
            }
            for (which, to) in again {
                if events.is_empty() {
                    break;
                }
                let i = which.index(events.len());
                let copy = events[i].clone();
                let j = i + 1 + to.index(events.len() - i);
                events.insert(j, copy);
            }
            events
        })
}

fn zoned<Tz: TimeZone>(spec: &PolicySpec, zone: Tz) -> LifecyclePolicy<Tz> {
    spec.clone().validate_in(zone).unwrap()
}

/// Runs `ops` through the policy and the model side by side, comparing
/// every step; returns the policy's final state.
fn check_against_model<Tz: TimeZone>(
    policy: &LifecyclePolicy<Tz>,
    ops: &[Op],
) -> Result<Lifecycle, TestCaseError> {
    let mut state = Lifecycle::new(U);
    let mut model = Model::new(policy.spec().clone(), policy.zone().clone());
    for (step, op) in ops.iter().enumerate() {
        let before = state.clone();
        match op {
            Op::Apply(e) => {
                let applied = policy.apply(&mut state, e).unwrap();
                match model.apply(e) {
                    None => {
                        prop_assert_eq!(applied.admission, Admission::Duplicate, "step {}", step);
                        prop_assert_eq!(
                            &state,
                            &before,
                            "step {}: a repeat changed the state",
                            step
                        );
                    }
                    Some(moves) => {
                        prop_assert_eq!(applied.admission, Admission::Fresh, "step {}", step);
                        prop_assert_eq!(
                            moves_of(&applied.transitions),
                            moves,
                            "step {} ({:?})",
                            step,
                            e
                        );
                    }
                }
            }
            Op::Tick(now) => {
                let moves = policy.tick(&mut state, *now);
                prop_assert_eq!(
                    moves_of(&moves),
                    model.tick(*now),
                    "step {} (tick at {})",
                    step,
                    now
                );
            }
        }
        prop_assert_eq!(view(&state), model_view(&model), "step {} ({:?})", step, op);
        prop_assert_eq!(
            state.key_actions(),
            model.keys.len() as u32,
            "step {}",
            step
        );
        // The history: the newest moves, and a count of the rest.
        let history: Vec<Transition> = state.history().collect();
        let all = &model.moves;
        let kept = all.len().min(usize::from(policy.spec().history_limit));
        prop_assert_eq!(
            moves_of(&history),
            &all[all.len() - kept..],
            "step {}",
            step
        );
        prop_assert_eq!(state.history_dropped() as usize, all.len() - kept);
    }
    Ok(state)
}

// The zones: a fixed offset, and two with daylight-saving changes inside
// the forty days events span (New York's on 2026-03-08 and 2026-11-01,
// Lord Howe's half hour on 2026-04-05 and 2026-10-04).
fn east8() -> chrono::FixedOffset {
    chrono::FixedOffset::east_opt(8 * 3600).unwrap()
}

fn ny_spring() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 2, 20, 0, 0, 0).unwrap()
}

fn ny_autumn() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 10, 15, 0, 0, 0).unwrap()
}

fn lh_autumn() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 20, 0, 0, 0).unwrap()
}

fn lh_spring() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 9, 20, 0, 0, 0).unwrap()
}

fn cases() -> ProptestConfig {
    ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(512),
    )
}

proptest! {
    #![proptest_config(cases())]

    /// 1. In time order, with ticks: the model, step for step.
    #[test]
    fn in_order_matches_the_model_at_plus_8(spec in spec(), ops in in_order(ny_spring())) {
        check_against_model(&zoned(&spec, east8()), &ops)?;
    }

    #[test]
    fn in_order_matches_the_model_in_new_york(
        spec in spec(),
        spring in any::<bool>(),
        seed in in_order(ny_spring()),
    ) {
        let shift = if spring { TimeDelta::zero() } else { ny_autumn() - ny_spring() };
        let ops = shifted(&seed, shift);
        check_against_model(&zoned(&spec, New_York), &ops)?;
    }

    #[test]
    fn in_order_matches_the_model_at_lord_howe(
        spec in spec(),
        autumn in any::<bool>(),
        seed in in_order(ny_spring()),
    ) {
        let start = if autumn { lh_autumn() } else { lh_spring() };
        let ops = shifted(&seed, start - ny_spring());
        check_against_model(&zoned(&spec, Lord_Howe), &ops)?;
    }

    /// 2. Late events and repeats: the model still, and the documented
    /// guarantees on their own.
    #[test]
    fn late_events_and_repeats_match_the_model(
        spec in spec(),
        zone in 0..3,
        events in shuffled(ny_spring()),
        ticks in proptest::collection::vec((any::<Index>(), 0i64..50 * 96), 0..4),
    ) {
        // Ticks anywhere, at any time (behind the newest event too).
        let mut ops: Vec<Op> = events.iter().cloned().map(Op::Apply).collect();
        for (place, q) in ticks {
            let at = place.index(ops.len() + 1);
            ops.insert(at, Op::Tick(ny_spring() + TimeDelta::minutes(15 * q)));
        }
        match zone {
            0 => check_against_model(&zoned(&spec, east8()), &ops)?,
            1 => check_against_model(&zoned(&spec, New_York), &ops)?,
            _ => check_against_model(&zoned(&spec, Lord_Howe), &shifted(&ops, lh_autumn() - ny_spring()))?,
        };
    }

    #[test]
    fn repeats_change_nothing_and_late_events_never_move_back(
        spec in spec(),
        events in shuffled(ny_spring()),
    ) {
        let policy = zoned(&spec, New_York);
        let mut state = Lifecycle::new(U);
        let mut once = Lifecycle::new(U);
        let mut seen = BTreeSet::new();
        let mut newest = None;
        for e in &events {
            let before = state.clone();
            let applied = policy.apply(&mut state, e).unwrap();
            if !seen.insert(e.id) {
                prop_assert_eq!(applied.admission, Admission::Duplicate);
                prop_assert_eq!(&state, &before);
                continue;
            }
            policy.apply(&mut once, e).unwrap();
            let late = newest.is_some_and(|n| e.at < n);
            newest = newest.max(Some(e.at));
            for t in applied.transitions.iter() {
                prop_assert!(t.from.can_move_to(t.to), "{:?}", t);
                if late {
                    // Only idle moves already due when the newest event
                    // happened (a late return starts a new idle spell);
                    // never a return from an idle stage entered after the
                    // event, never back down.
                    if t.to.is_idle() {
                        prop_assert!(matches!(t.cause, Cause::Idle { .. }), "{:?}", t);
                        prop_assert!(Some(t.at) <= newest, "{:?}", t);
                    }
                    if t.from.is_idle() {
                        prop_assert!(before.since().unwrap() <= e.at, "{:?}", t);
                    }
                }
            }
        }
        prop_assert_eq!(view(&state), view(&once));
        let payments = events.iter().filter(|e| is_payment(&e.kind)).map(|e| e.id).collect::<BTreeSet<_>>();
        prop_assert_eq!(state.payments() as usize, payments.len());
    }

    /// 1b. Wide windows and long spans, in and out of order.
    #[test]
    fn wide_windows_and_long_spans_match_the_model(
        spec in wide_spec(),
        zone in 0..3,
        events in long_ops(ny_spring()),
    ) {
        let ops: Vec<Op> = events.iter().cloned().map(Op::Apply).collect();
        match zone {
            0 => check_against_model(&zoned(&spec, east8()), &ops)?,
            1 => check_against_model(&zoned(&spec, New_York), &ops)?,
            _ => check_against_model(&zoned(&spec, Lord_Howe), &shifted(&ops, lh_autumn() - ny_spring()))?,
        };
    }

    /// 3. Replay equals per-event `apply`, late events and repeats
    /// included, in every zone, and ticks after it too.
    #[test]
    fn replay_equals_apply_in_every_zone(
        spec in bounded_spec(),
        zone in 0..3,
        a in shuffled(ny_spring()),
        b in shuffled(ny_spring()),
        tick in 0i64..60 * 24,
    ) {
        // Two users, interleaved.
        let mut events: Vec<Event> = a;
        for (i, e) in b.into_iter().enumerate() {
            let e = Event { user: UserId(2), id: EventId(e.id.0 + 1_000_000), ..e };
            let at = (i * 2).min(events.len());
            events.insert(at, e);
        }
        let later = ny_spring() + TimeDelta::hours(tick);
        match zone {
            0 => check_replay(&zoned(&spec, east8()), &events, later)?,
            1 => check_replay(&zoned(&spec, New_York), &events, later)?,
            _ => check_replay(&zoned(&spec, Lord_Howe), &events, later)?,
        }
    }

    /// 4. A state round-tripped through JSON mid-sequence continues exactly
    /// like the original, ticks included.
    #[test]
    fn json_round_trip_mid_sequence_continues_identically(
        spec in bounded_spec(),
        zone in 0..3,
        events in shuffled(ny_spring()),
        split in any::<Index>(),
        tick in 0i64..60 * 24,
    ) {
        let later = ny_spring() + TimeDelta::hours(tick);
        match zone {
            0 => check_round_trip(&zoned(&spec, east8()), &events, split, later)?,
            1 => check_round_trip(&zoned(&spec, New_York), &events, split, later)?,
            _ => check_round_trip(&zoned(&spec, Lord_Howe), &events, split, later)?,
        }
    }
}

fn shifted(ops: &[Op], by: TimeDelta) -> Vec<Op> {
    ops.iter()
        .map(|op| match op {
            Op::Apply(e) => Op::Apply(Event {
                at: e.at + by,
                ..e.clone()
            }),
            Op::Tick(now) => Op::Tick(*now + by),
        })
        .collect()
}

fn check_replay<Tz: TimeZone>(
    policy: &LifecyclePolicy<Tz>,
    events: &[Event],
    later: DateTime<Utc>,
) -> Result<(), TestCaseError> {
    let log = EventLog::new(events.to_vec());
    let mut online: Vec<(UserId, Lifecycle, Vec<Transition>)> = Vec::new();
    let (mut applied, mut duplicates, mut too_late, mut moves) = (0, 0, 0, 0);
    for e in events {
        let slot = match online.iter().position(|(u, _, _)| *u == e.user) {
            Some(slot) => slot,
            None => {
                online.push((e.user, Lifecycle::new(e.user), Vec::new()));
                online.len() - 1
            }
        };
        let (_, state, all) = &mut online[slot];
        let r = policy.apply(state, e).unwrap();
        match r.admission {
            Admission::Fresh => applied += 1,
            Admission::Duplicate => duplicates += 1,
            Admission::TooLate => too_late += 1,
        }
        moves += r.transitions.len() as u64;
        all.extend(r.transitions.iter().copied());
    }
    let mut batch = replay(policy, &log);
    let s = batch.summary();
    prop_assert_eq!(
        (s.applied, s.duplicates, s.too_late, s.transitions),
        (applied, duplicates, too_late, moves)
    );
    prop_assert_eq!(batch.states().len(), online.len());
    for (user, state, all) in &online {
        let got = batch.get(*user).unwrap();
        prop_assert_eq!(got, state);
        // The history is the newest of every move made.
        let limit = usize::from(policy.spec().history_limit);
        let kept: Vec<Transition> = got.history().collect();
        prop_assert_eq!(&kept[..], &all[all.len().saturating_sub(limit)..]);
        prop_assert_eq!(
            got.history_dropped() as usize,
            all.len().saturating_sub(limit)
        );
    }
    // Into a buffer that held other states, longer and shorter.
    let mut reused: Vec<Lifecycle> = Vec::new();
    let other: Vec<Event> = events
        .iter()
        .rev()
        .map(|e| Event {
            user: UserId(e.user.0 + 10),
            ..e.clone()
        })
        .collect();
    replay_into(policy, &EventLog::new(other), &mut reused);
    let summary = replay_into(policy, &log, &mut reused);
    prop_assert_eq!(summary, s);
    prop_assert_eq!(reused.as_slice(), batch.states());
    batch.tick_all(policy, later);
    for (_, state, _) in &mut online {
        policy.tick(state, later);
    }
    for (user, state, _) in &online {
        prop_assert_eq!(batch.get(*user), Some(state));
    }
    Ok(())
}

fn check_round_trip<Tz: TimeZone>(
    policy: &LifecyclePolicy<Tz>,
    events: &[Event],
    split: Index,
    later: DateTime<Utc>,
) -> Result<(), TestCaseError> {
    let k = split.index(events.len() + 1);
    let mut state = Lifecycle::new(U);
    for e in &events[..k] {
        policy.apply(&mut state, e).unwrap();
    }
    let json = serde_json::to_string(&state).unwrap();
    let mut copy: Lifecycle = serde_json::from_str(&json).unwrap();
    prop_assert_eq!(&copy, &state);
    for e in &events[k..] {
        let a = policy.apply(&mut state, e).unwrap();
        let b = policy.apply(&mut copy, e).unwrap();
        prop_assert_eq!(a, b);
        prop_assert_eq!(&copy, &state);
        // And again mid-way.
        copy = serde_json::from_str(&serde_json::to_string(&copy).unwrap()).unwrap();
        prop_assert_eq!(&copy, &state);
    }
    prop_assert_eq!(
        policy.tick(&mut state, later),
        policy.tick(&mut copy, later)
    );
    prop_assert_eq!(&copy, &state);
    Ok(())
}
