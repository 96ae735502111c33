//! Properties of the default lifecycle policy (`growthkit::lifecycle`):
//!
//! 1. arbitrary event sequences and ticks (far past and future included) never panic;
//! 2. every move is an edge of [`Stage::can_move_to`], moves chain and run forward in
//!    time, and the history is exactly the newest moves (with `history_dropped` the rest);
//! 3. applying a sequence twice equals applying it once, and re-applying an applied
//!    event changes nothing;
//! 4. the same input gives the same states and moves;
//! 5. a batch [`replay`] equals the online loop, user by user, summary included;
//! 6. `Lifecycle`, `PolicySpec` and `Transition` round-trip through JSON, and a
//!    round-tripped state continues exactly like the original;
//! 7. any JSON policy either fails to parse or validate, or is a policy whose spec keeps
//!    every documented invariant; a spec built in code validates exactly when its JSON
//!    reads back;
//! 8. payment, refund and event counts do not depend on arrival order, and payments
//!    always lift the peak to their stage;
//! 9. `peak()` never decreases.
//!
//! The plain tests at the end pin edge cases found while writing these properties.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use growthkit::batch::EventLog;
use growthkit::dedupe::{Admission, DedupeWindow};
use growthkit::lifecycle::{
    Lifecycle, LifecyclePolicy, MAX_RETENTION_WINDOW_DAYS, PolicySpec, Stage, Transition, replay,
    replay_into,
};
use growthkit::store::Versioned;
use growthkit::{
    ContentId, Event, EventId, EventKind, KindPattern, KindTag, Money, UserId, UtcOffset,
};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{Index, select, subsequence};
use serde_json::{Value, json};
use std::collections::BTreeMap;

// ---------------------------------------------------------------------------
// Time.
// ---------------------------------------------------------------------------

/// The start of the ~200 days events are spread over.
fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

const SPREAD_HOURS: i64 = 200 * 24;

fn hours(h: i64) -> TimeDelta {
    TimeDelta::hours(h)
}

/// An instant within the spread: mostly on the hour (so that events land
/// exactly on idle thresholds now and then), sometimes off it, sometimes
/// with sub-millisecond digits the state cannot keep.
fn spread_instant() -> impl Strategy<Value = DateTime<Utc>> {
    let jitter = prop_oneof![
        6 => Just(TimeDelta::zero()),
        2 => (0i64..3600).prop_map(TimeDelta::seconds),
        1 => (0i64..3_600_000_000_000).prop_map(TimeDelta::nanoseconds),
    ];
    (0..SPREAD_HOURS, jitter).prop_map(|(h, j)| t0() + hours(h) + j)
}

/// Any instant chrono can hold, the two ends included.
fn far_instant() -> impl Strategy<Value = DateTime<Utc>> {
    let (lo, hi) = (
        DateTime::<Utc>::MIN_UTC.timestamp_millis(),
        DateTime::<Utc>::MAX_UTC.timestamp_millis(),
    );
    prop_oneof![
        Just(DateTime::<Utc>::MIN_UTC),
        Just(DateTime::<Utc>::MAX_UTC),
        (lo..=hi).prop_map(|ms| DateTime::from_timestamp_millis(ms).unwrap()),
        (-100_000i64..100_000).prop_map(|d| t0() + TimeDelta::days(d)),
    ]
}

// ---------------------------------------------------------------------------
// Events.
// ---------------------------------------------------------------------------

fn money(minor: i64, currency: &str) -> Money {
    Money::new(minor, currency.parse().unwrap())
}

fn kind() -> impl Strategy<Value = EventKind> {
    let currency = select(&["CNY", "USD"][..]);
    prop_oneof![
        2 => Just(EventKind::SignedUp),
        3 => Just(EventKind::Visited),
        3 => select(&["lesson", "quiz"][..])
            .prop_map(|a| EventKind::ActionCompleted { action: a.into() }),
        3 => (1i64..100_000, currency.clone())
            .prop_map(|(m, c)| EventKind::Purchase { amount: money(m, c) }),
        1 => (-1_000i64..=0, currency.clone())
            .prop_map(|(m, c)| EventKind::Purchase { amount: money(m, c) }),
        1 => (1i64..100_000, currency).prop_map(|(m, c)| EventKind::Refund { amount: money(m, c) }),
        2 => prop::option::of(0u64..3).prop_map(|c| EventKind::CheckIn {
            community: c.map(growthkit::CommunityId),
        }),
        1 => (0u64..5).prop_map(|c| EventKind::ContentViewed { content: ContentId(c) }),
        1 => select(&["streak", "other"][..]).prop_map(|n| EventKind::Custom { name: n.into() }),
    ]
}

fn is_payment(kind: &EventKind) -> bool {
    matches!(kind, EventKind::Purchase { amount } if amount.minor > 0)
}

/// A sequence of events for a few users, with redeliveries.
#[derive(Clone, Debug)]
struct Scenario {
    events: Vec<Event>,
    /// Whether some redelivery carries a different time than its original.
    restamped: bool,
}

/// Events of `users` users over the spread, in time order or not, with
/// some redeliveries (same id, same user, same kind), a few of them
/// stamped with another time.
fn scenario(
    users: u64,
    len: std::ops::Range<usize>,
    instant: BoxedStrategy<DateTime<Utc>>,
) -> impl Strategy<Value = Scenario> {
    let redelivery = (
        any::<Index>(),
        any::<Index>(),
        prop::option::weighted(0.15, -200i64..200),
    );
    (
        vec((0..users, instant, kind()), len),
        // Squeezes the spread now and then, so that retention and loyalty
        // (many active days or payments close together) are reached too.
        select(&[1, 1, 1, 10, 50][..]),
        any::<bool>(),
        vec(redelivery, 0..8),
    )
        .prop_map(|(drafts, squeeze, in_order, redeliveries)| {
            let mut events: Vec<Event> = drafts
                .into_iter()
                .enumerate()
                .map(|(i, (u, at, kind))| {
                    let at = match at.signed_duration_since(t0()) {
                        d if d > TimeDelta::zero() && d < hours(SPREAD_HOURS) => t0() + d / squeeze,
                        _ => at,
                    };
                    // User 2 never pays, so the stages payments skip
                    // (activated, retained) get their turn.
                    let kind = match kind {
                        EventKind::Purchase { .. } if u == 2 => EventKind::Visited,
                        kind => kind,
                    };
                    Event::new(EventId(1000 + i as u64), UserId(u), at, kind)
                })
                .collect();
            if in_order {
                events.sort_by_key(|e| e.at);
            }
            let mut restamped = false;
            for (which, place, shift) in redeliveries {
                if events.is_empty() {
                    break;
                }
                let i = which.index(events.len());
                let mut copy = events[i].clone();
                if let Some(h) = shift {
                    copy.at = copy.at.checked_add_signed(hours(h)).unwrap_or(copy.at);
                    restamped |= copy.at != events[i].at;
                }
                // A redelivery comes after the original.
                let at = i + 1 + place.index(events.len() - i);
                events.insert(at, copy);
            }
            Scenario { events, restamped }
        })
}

fn usual_scenario() -> impl Strategy<Value = Scenario> {
    scenario(3, 0..40, spread_instant().boxed())
}

fn by_user(events: &[Event]) -> BTreeMap<UserId, Vec<Event>> {
    let mut map: BTreeMap<UserId, Vec<Event>> = BTreeMap::new();
    for e in events {
        map.entry(e.user).or_default().push(e.clone());
    }
    map
}

// ---------------------------------------------------------------------------
// Policies.
// ---------------------------------------------------------------------------

fn pattern(text: &str) -> KindPattern {
    text.parse().unwrap()
}

/// Whole-minute offsets (what `"+HH:MM"` can say), the usual ones and any.
fn offset() -> impl Strategy<Value = UtcOffset> {
    prop_oneof![
        3 => select(
            &[
                "+08:00", "-05:00", "+00:00", "+05:30", "-03:30", "+09:45", "+14:00", "-12:00",
                "+23:59", "-23:59",
            ][..]
        )
        .prop_map(|s| s.parse().unwrap()),
        1 => (-1439i32..=1439).prop_map(|m| UtcOffset::from_seconds(m * 60).unwrap()),
    ]
}

const ACTIVITY: &[&str] = &[
    "visited",
    "check_in",
    "action_completed",
    "content_viewed",
    "purchase",
    "custom:streak",
    "signed_up",
];

const KEY_ACTIONS: &[&str] = &[
    "action_completed",
    "action_completed:lesson",
    "action_completed:quiz",
    "check_in",
    "purchase",
    "custom:streak",
    "*",
];

/// Valid specs by construction: random thresholds in the documented order.
fn policy_spec() -> impl Strategy<Value = PolicySpec> {
    let activity = prop_oneof![
        3 => Just(vec!["*"]),
        1 => subsequence(ACTIVITY, 1..=3),
    ];
    // Mostly a few days in a short window (reachable by a few events),
    // sometimes anything up to the 64-day limit.
    let retention = prop_oneof![
        3 => (1u16..=14).prop_flat_map(|window| (1..=window.min(4), Just(window))),
        1 => (1u16..=MAX_RETENTION_WINDOW_DAYS).prop_flat_map(|window| (1..=window, Just(window))),
    ];
    let idle = (1u16..20, 1u16..40, 1u16..100).prop_map(|(a, d, c)| (a, a + d, a + d + c));
    let history_limit = prop_oneof![2 => 1u16..5, 3 => Just(64u16)];
    let dedupe = prop_oneof![
        1 => Just(DedupeWindow::default()),
        2 => (1u32..200, 1u16..12).prop_map(|(horizon_hours, max_ids)| DedupeWindow {
            horizon_hours,
            max_ids,
        }),
    ];
    (
        offset(),
        activity,
        // Now and then an activation window longer than the spread, up to
        // the most a spec allows: key actions count on any day, and with
        // far instants the activation day lies hundreds of days or more
        // after sign-up (the state once kept at most 255).
        (
            subsequence(KEY_ACTIONS, 1..=2),
            1u32..4,
            prop_oneof![3 => 1u16..15, 1 => 15u16..=u16::MAX],
        ),
        retention,
        prop_oneof![3 => 3u32..=4, 1 => 5u32..10],
        idle,
        history_limit,
        dedupe,
    )
        .prop_map(
            |(utc_offset, activity, key, retention, loyal, idle, history_limit, dedupe)| {
                let mut spec = PolicySpec {
                    utc_offset,
                    activity: activity.into_iter().map(pattern).collect(),
                    loyal_payments: loyal,
                    history_limit,
                    dedupe,
                    ..PolicySpec::default()
                };
                spec.activation.key_actions = key.0.into_iter().map(pattern).collect();
                spec.activation.required = key.1;
                spec.activation.within_days = key.2;
                spec.retention.active_days = retention.0;
                spec.retention.window_days = retention.1;
                (
                    spec.idle.at_risk_days,
                    spec.idle.dormant_days,
                    spec.idle.churned_days,
                ) = idle;
                spec
            },
        )
}

/// Patterns as code can build them: mostly ones the text form writes, now
/// and then a name on any kind, or an empty one, which it cannot.
fn coded_pattern() -> impl Strategy<Value = KindPattern> {
    prop_oneof![
        4 => select(KEY_ACTIONS).prop_map(pattern),
        1 => (select(KindTag::ALL.to_vec()), select(vec!["", "x", "a:b"]))
            .prop_map(|(tag, name)| KindPattern::Named(tag, name.into())),
    ]
}

fn policy() -> impl Strategy<Value = LifecyclePolicy> {
    policy_spec().prop_map(|spec| match spec.clone().validate() {
        Ok(policy) => policy,
        Err(e) => panic!("generated spec is invalid ({e}): {spec:?}"),
    })
}

/// The same policy with a dedupe window that never forgets within the spread.
fn never_forgetting(policy: &LifecyclePolicy) -> LifecyclePolicy {
    let mut spec = policy.spec().clone();
    spec.dedupe = DedupeWindow {
        horizon_hours: 10_000,
        max_ids: 1000,
    };
    spec.validate().unwrap()
}

// ---------------------------------------------------------------------------
// Running, with the invariants of every single step checked on the way.
// ---------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum Op {
    Apply(Event),
    Tick(DateTime<Utc>),
}

/// Events with ticks for every user mixed in.
fn with_ticks(events: Vec<Event>, ticks: Vec<(Index, DateTime<Utc>)>) -> (Vec<UserId>, Vec<Op>) {
    let mut users: Vec<UserId> = events.iter().map(|e| e.user).collect();
    users.sort();
    users.dedup();
    let mut ops: Vec<Op> = events.into_iter().map(Op::Apply).collect();
    for (place, now) in ticks {
        let at = place.index(ops.len() + 1);
        ops.insert(at, Op::Tick(now));
    }
    (users, ops)
}

/// What one user's run did.
#[derive(Clone, Debug, PartialEq)]
struct Trace {
    state: Lifecycle,
    /// Per op: the admission (`None` for a tick) and the moves returned.
    steps: Vec<(Option<Admission>, Vec<Transition>)>,
}

impl Trace {
    fn moves(&self) -> impl Iterator<Item = &Transition> {
        self.steps.iter().flat_map(|(_, moves)| moves)
    }
}

/// Runs one user's ops (other users' events are skipped) from `state`,
/// checking each step; then checks the final state against the whole run.
fn run_from(
    policy: &LifecyclePolicy,
    mut state: Lifecycle,
    ops: &[Op],
) -> Result<Trace, TestCaseError> {
    let user = state.user();
    let start = state.clone();
    let mut steps = Vec::new();
    let (mut fresh, mut payments, mut refunds) = (0u32, 0u32, 0u16);
    for op in ops {
        let before = state.clone();
        let (admission, moves) = match op {
            Op::Apply(e) if e.user != user => continue,
            Op::Apply(e) => {
                let applied = policy.apply(&mut state, e);
                prop_assert!(applied.is_ok(), "{:?} on its own user: {:?}", e, applied);
                let applied = applied.unwrap();
                let admission = Some(applied.admission);
                if applied.was_applied() {
                    fresh += 1;
                    payments += u32::from(is_payment(&e.kind));
                    refunds += u16::from(matches!(e.kind, EventKind::Refund { .. }));
                    prop_assert_eq!(state.version(), before.version() + 1, "{:?}", e);
                } else {
                    prop_assert!(applied.transitions.is_empty(), "{:?}", applied);
                    prop_assert_eq!(&state, &before, "a refused {:?} changed the state", e);
                }
                (admission, applied.transitions.into_vec())
            }
            Op::Tick(now) => {
                let moves = policy.tick(&mut state, *now);
                for t in &moves {
                    prop_assert!(
                        matches!(t.cause, growthkit::lifecycle::Cause::Idle { .. }) && t.at <= *now,
                        "tick at {} made {:?}",
                        now,
                        t
                    );
                }
                let bump = u64::from(!moves.is_empty());
                prop_assert_eq!(state.version(), before.version() + bump);
                if moves.is_empty() {
                    prop_assert_eq!(&state, &before, "an idle tick changed the state");
                }
                (None, moves)
            }
        };
        check_moves(&before, &state, &moves)?;
        steps.push((admission, moves));
    }
    let trace = Trace { state, steps };
    check_final(policy, &start, &trace)?;
    prop_assert_eq!(trace.state.events(), start.events() + fresh);
    prop_assert_eq!(trace.state.payments(), start.payments() + payments);
    prop_assert_eq!(trace.state.refunds(), start.refunds() + refunds);
    Ok(trace)
}

fn run(policy: &LifecyclePolicy, user: UserId, ops: &[Op]) -> Result<Trace, TestCaseError> {
    run_from(policy, Lifecycle::new(user), ops)
}

fn run_events(
    policy: &LifecyclePolicy,
    user: UserId,
    events: &[Event],
) -> Result<Trace, TestCaseError> {
    let ops: Vec<Op> = events.iter().cloned().map(Op::Apply).collect();
    run(policy, user, &ops)
}

/// One step's moves: declared edges, chained from the stage before to the
/// stage after, forward in time; and the peak only grows (property 9).
fn check_moves(
    before: &Lifecycle,
    after: &Lifecycle,
    moves: &[Transition],
) -> Result<(), TestCaseError> {
    let mut stage = before.stage();
    let mut since = before.since();
    for t in moves {
        prop_assert!(
            t.from.can_move_to(t.to),
            "{} -> {} is not an edge: {:?}",
            t.from,
            t.to,
            t
        );
        prop_assert_eq!(t.from, stage, "moves do not chain: {:?}", moves);
        prop_assert!(
            since.is_none_or(|s| s <= t.at),
            "move {:?} runs back before {:?}",
            t,
            since
        );
        stage = t.to;
        since = Some(t.at);
    }
    prop_assert_eq!(after.stage(), stage, "moves {:?} end elsewhere", moves);
    prop_assert_eq!(after.since(), since);
    prop_assert!(
        after.peak() >= before.peak(),
        "peak fell from {} to {}",
        before.peak(),
        after.peak()
    );
    prop_assert!(after.peak() == Stage::Prospect || after.peak().is_progress());
    if after.stage().is_progress() {
        prop_assert!(
            after.peak() >= after.stage(),
            "peak below {}",
            after.stage()
        );
    }
    Ok(())
}

/// The history is the newest `history_limit` moves of the whole run, the
/// rest counted as dropped; it chains, runs forward and ends at the stage.
fn check_final(
    policy: &LifecyclePolicy,
    start: &Lifecycle,
    trace: &Trace,
) -> Result<(), TestCaseError> {
    let s = &trace.state;
    let limit = usize::from(policy.spec().history_limit);
    let history: Vec<Transition> = s.history().collect();
    prop_assert_eq!(s.history().len(), history.len());
    let mut all: Vec<Transition> = start.history().collect();
    all.extend(trace.moves().copied());
    prop_assert!(history.len() <= limit);
    prop_assert_eq!(
        u64::from(s.history_dropped()),
        u64::from(start.history_dropped()) + (all.len() - history.len()) as u64
    );
    let newest = &all[all.len() - history.len()..];
    prop_assert!(
        history.iter().eq(newest.iter()),
        "history is not the newest moves"
    );
    for t in &history {
        prop_assert!(t.from.can_move_to(t.to), "history holds {:?}", t);
    }
    for (prev, next) in history.iter().zip(history.iter().skip(1)) {
        prop_assert_eq!(next.from, prev.to, "history does not chain");
        prop_assert!(
            next.at >= prev.at,
            "history runs back: {:?} then {:?}",
            prev,
            next
        );
    }
    match (history.first(), history.last()) {
        (Some(first), Some(last)) => {
            prop_assert_eq!(s.stage(), last.to);
            prop_assert_eq!(s.since(), Some(last.at));
            if s.history_dropped() == 0 {
                prop_assert_eq!(first.from, Stage::Prospect);
                prop_assert_eq!(first.to, Stage::Acquired);
            }
        }
        _ => {
            prop_assert_eq!(s.stage(), Stage::Prospect);
            prop_assert_eq!(s.history_dropped(), 0);
        }
    }
    Ok(())
}

/// The progress stage `payments` payments earn on their own.
fn payment_stage(payments: u32, loyal: u32) -> Option<Stage> {
    match payments {
        0 => None,
        1 => Some(Stage::Converted),
        n if n < loyal => Some(Stage::RepeatBuyer),
        _ => Some(Stage::Loyal),
    }
}

// ---------------------------------------------------------------------------
// Wild JSON policies.
// ---------------------------------------------------------------------------

const NUMERIC_FIELDS: &[&str] = &[
    "activation.required",
    "activation.within_days",
    "retention.active_days",
    "retention.window_days",
    "loyal_payments",
    "idle.at_risk_days",
    "idle.dormant_days",
    "idle.churned_days",
    "history_limit",
    "dedupe.horizon_hours",
    "dedupe.max_ids",
];

const ALL_FIELDS: &[&str] = &[
    "utc_offset",
    "activity",
    "activation",
    "activation.key_actions",
    "activation.required",
    "activation.within_days",
    "retention",
    "retention.active_days",
    "retention.window_days",
    "loyal_payments",
    "idle",
    "idle.at_risk_days",
    "idle.dormant_days",
    "idle.churned_days",
    "history_limit",
    "dedupe",
    "dedupe.horizon_hours",
    "dedupe.max_ids",
];

fn wild_number() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => (0i64..100).prop_map(Value::from),
        3 => select(
            &[
                -1i64, 0, 1, 2, 3, 63, 64, 65, 255, 256, 65_535, 65_536, 4_294_967_295,
                4_294_967_296, i64::MAX, i64::MIN,
            ][..]
        )
        .prop_map(Value::from),
        1 => Just(Value::from(u64::MAX)),
        1 => select(&[1.5f64, -0.0, 1e300][..]).prop_map(|f| json!(f)),
        1 => Just(json!("7")),
        1 => Just(Value::Null),
    ]
}

fn wild_offset() -> impl Strategy<Value = Value> {
    prop_oneof![
        select(
            &[
                "+08:00",
                "-05:30",
                "+00:00",
                "+23:59",
                "+24:00",
                "-24:00",
                "08:00",
                "+8:00",
                "+08:60",
                "+08-00",
                "Z",
                "",
                "+08:00:30",
                "utc",
                "+0８:00",
                "+é:00",
            ][..]
        )
        .prop_map(Value::from),
        Just(json!(8)),
        Just(Value::Null),
    ]
}

fn wild_patterns() -> impl Strategy<Value = Value> {
    let one = select(
        &[
            "*",
            "visited",
            "purchase",
            "action_completed:lesson",
            "custom:x",
            "bought",
            "visited:x",
            "custom:",
            ":",
            "",
            "Purchase",
        ][..],
    );
    prop_oneof![
        4 => vec(one, 0..4).prop_map(|v| json!(v)),
        1 => Just(json!("visited")),
        1 => Just(json!([1, 2])),
        1 => Just(Value::Null),
    ]
}

fn wild_object() -> impl Strategy<Value = Value> {
    select(vec![
        json!({}),
        json!({"colour": 1}),
        Value::Null,
        json!(3),
        json!([]),
        json!("idle"),
    ])
}

/// Sets (or with `None` removes) a dotted field; skips if the parent is
/// not an object.
fn set_field(root: &mut Value, path: &str, value: Option<Value>) {
    let (parent, last) = match path.rsplit_once('.') {
        Some((head, last)) => (root.get_mut(head), last),
        None => (Some(root), path),
    };
    if let Some(Value::Object(map)) = parent {
        match value {
            Some(v) => {
                map.insert(last.to_owned(), v);
            }
            None => {
                map.remove(last);
            }
        }
    }
}

/// A valid policy's JSON with a few fields made wild, removed, or added.
fn wild_policy_json() -> impl Strategy<Value = Value> {
    let edit = prop_oneof![
        4 => (select(NUMERIC_FIELDS), wild_number()).prop_map(|(f, v)| (f, Some(v))),
        1 => wild_offset().prop_map(|v| ("utc_offset", Some(v))),
        2 => (select(&["activity", "activation.key_actions"][..]), wild_patterns())
            .prop_map(|(f, v)| (f, Some(v))),
        1 => (select(&["activation", "retention", "idle", "dedupe"][..]), wild_object())
            .prop_map(|(f, v)| (f, Some(v))),
        1 => select(ALL_FIELDS).prop_map(|f| (f, None)),
        1 => select(&["colour", "idle.at_risk", "dedupe.ttl", "retention.days"][..])
            .prop_map(|f| (f, Some(json!(1)))),
    ];
    let mutated = (policy_spec(), vec(edit, 0..4)).prop_map(|(spec, edits)| {
        let mut value = serde_json::to_value(&spec).unwrap();
        for (field, v) in edits {
            set_field(&mut value, field, v);
        }
        value
    });
    // Every number small: parses, and breaks the thresholds' order often.
    let small = |max: u32| (0..=max).prop_map(Value::from);
    let numbers = (
        vec(small(70), 2..=2),
        small(10),
        vec(small(40), 3..=3),
        vec(small(5), 3..=3),
    )
        .prop_map(|(retention, loyal, idle, rest)| {
            json!({
                "activation": {"required": rest[0], "within_days": rest[1]},
                "retention": {"active_days": retention[0], "window_days": retention[1]},
                "loyal_payments": loyal,
                "idle": {"at_risk_days": idle[0], "dormant_days": idle[1], "churned_days": idle[2]},
                "history_limit": rest[2],
            })
        });
    prop_oneof![
        6 => mutated,
        3 => numbers,
        1 => wild_number(),
        1 => wild_patterns(),
    ]
}

/// Every invariant the docs promise a validated spec keeps.
fn keeps_invariants(s: &PolicySpec) -> Vec<&'static str> {
    let checks = [
        (!s.activity.is_empty(), "activity lists a pattern"),
        (
            !s.activation.key_actions.is_empty(),
            "activation.key_actions lists a pattern",
        ),
        (s.activation.required >= 1, "activation.required >= 1"),
        (s.activation.within_days >= 1, "activation.within_days >= 1"),
        (s.retention.active_days >= 1, "retention.active_days >= 1"),
        (
            s.retention.active_days <= s.retention.window_days,
            "active_days <= window_days",
        ),
        (
            s.retention.window_days <= MAX_RETENTION_WINDOW_DAYS,
            "window_days <= 64",
        ),
        (s.loyal_payments > 2, "loyal_payments > 2"),
        (s.idle.at_risk_days >= 1, "at_risk_days >= 1"),
        (
            s.idle.at_risk_days < s.idle.dormant_days,
            "at_risk < dormant",
        ),
        (
            s.idle.dormant_days < s.idle.churned_days,
            "dormant < churned",
        ),
        (s.history_limit >= 1, "history_limit >= 1"),
        (s.dedupe.horizon_hours >= 1, "dedupe.horizon_hours >= 1"),
        (s.dedupe.max_ids >= 1, "dedupe.max_ids >= 1"),
    ];
    checks
        .into_iter()
        .filter(|(ok, _)| !ok)
        .map(|(_, what)| what)
        .collect()
}

// ---------------------------------------------------------------------------
// The properties.
// ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// 1. Nothing panics: events and ticks anywhere in chrono's range, any
    /// offset; events for another user are refused and change nothing.
    #[test]
    fn arbitrary_sequences_and_ticks_never_panic(
        policy in policy(),
        scenario in scenario(
            2,
            0..30,
            prop_oneof![3 => spread_instant(), 1 => far_instant()].boxed(),
        ),
        ticks in vec((any::<Index>(), prop_oneof![spread_instant(), far_instant()]), 0..6),
        stranger in kind(),
    ) {
        let (users, ops) = with_ticks(scenario.events, ticks);
        for user in users {
            let mut trace = run(&policy, user, &ops)?;
            let before = trace.state.clone();
            let other = Event::new(EventId(1), UserId(user.0 + 100), t0(), stranger.clone());
            prop_assert!(policy.apply(&mut trace.state, &other).is_err());
            prop_assert_eq!(&trace.state, &before);
            for now in [DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC] {
                policy.tick(&mut trace.state, now);
            }
            prop_assert!(policy.tick(&mut trace.state, DateTime::<Utc>::MAX_UTC).is_empty());
        }
    }

    /// 2. Only reachable states: declared edges that chain and run forward
    /// in time; the history is the newest moves and ends at the stage
    /// (checked step by step inside `run`).
    #[test]
    fn moves_follow_the_stage_graph_and_history_keeps_the_newest(
        policy in policy(),
        scenario in usual_scenario(),
        ticks in vec((any::<Index>(), (0..SPREAD_HOURS + 2000).prop_map(|h| t0() + hours(h))), 0..6),
    ) {
        let (users, ops) = with_ticks(scenario.events, ticks);
        for user in users {
            let trace = run(&policy, user, &ops)?;
            let moved = trace.moves().count();
            prop_assert_eq!(
                trace.state.history().len() + trace.state.history_dropped() as usize,
                moved
            );
        }
    }

    /// 3. Idempotency: the whole sequence again changes nothing, and neither
    /// does any single applied event again. (A redelivery stamped with a new
    /// time is only idempotent while its original is remembered: see
    /// `redeliveries_are_caught_while_remembered_and_refused_once_forgotten`.)
    #[test]
    fn applying_again_changes_nothing(policy in policy(), scenario in usual_scenario()) {
        let policy = if scenario.restamped { never_forgetting(&policy) } else { policy };
        for (user, events) in by_user(&scenario.events) {
            let once = run_events(&policy, user, &events)?;
            let again = run_from(&policy, once.state.clone(), &events.iter().cloned().map(Op::Apply).collect::<Vec<_>>())?;
            for (e, (admission, _)) in events.iter().zip(&again.steps) {
                prop_assert_ne!(*admission, Some(Admission::Fresh), "{:?} applied twice", e);
            }
            prop_assert_eq!(&again.state, &once.state);
            for (e, (admission, _)) in events.iter().zip(&once.steps) {
                if *admission == Some(Admission::Fresh) {
                    let mut state = once.state.clone();
                    let r = policy.apply(&mut state, e).unwrap();
                    prop_assert!(!r.was_applied(), "{:?} applied twice: {:?}", e, r);
                    prop_assert_eq!(&state, &once.state);
                }
            }
        }
    }

    /// 4. Determinism: the same policy (even rebuilt from its spec) and
    /// the same ops give the same states and moves.
    #[test]
    fn same_input_same_output(
        policy in policy(),
        scenario in usual_scenario(),
        ticks in vec((any::<Index>(), (0..SPREAD_HOURS + 2000).prop_map(|h| t0() + hours(h))), 0..4),
    ) {
        let rebuilt = policy.spec().clone().validate().unwrap();
        let (users, ops) = with_ticks(scenario.events, ticks);
        for user in users {
            let first = run(&policy, user, &ops)?;
            prop_assert_eq!(&run(&policy, user, &ops)?, &first);
            prop_assert_eq!(&run(&rebuilt, user, &ops)?, &first);
        }
    }

    /// 5. Batch equals online: a replay of the log gives every user the
    /// state of applying their events one by one, with matching counts,
    /// and `tick_all` equals ticking each user.
    #[test]
    fn batch_replay_equals_the_online_loop(
        policy in policy(),
        scenario in scenario(4, 0..50, spread_instant().boxed()),
        later in (0..SPREAD_HOURS + 2000).prop_map(|h| t0() + hours(h)),
    ) {
        let log = EventLog::new(scenario.events.clone());
        let mut batch = replay(&policy, &log);
        let mut online: BTreeMap<UserId, Lifecycle> = BTreeMap::new();
        let (mut applied, mut duplicates, mut too_late, mut transitions) = (0, 0, 0, 0);
        for e in &scenario.events {
            let state = online.entry(e.user).or_insert_with(|| Lifecycle::new(e.user));
            let r = policy.apply(state, e).unwrap();
            match r.admission {
                Admission::Fresh => applied += 1,
                Admission::Duplicate => duplicates += 1,
                Admission::TooLate => too_late += 1,
            }
            transitions += r.transitions.len() as u64;
        }
        let summary = batch.summary();
        prop_assert_eq!(
            (summary.applied, summary.duplicates, summary.too_late, summary.transitions),
            (applied, duplicates, too_late, transitions)
        );
        prop_assert_eq!(batch.states().len(), online.len());
        for (user, state) in &online {
            prop_assert_eq!(batch.get(*user), Some(state), "{}", user);
        }
        prop_assert_eq!(batch.stage_counts().total(), online.len() as u64);

        batch.tick_all(&policy, later);
        for state in online.values_mut() {
            transitions += policy.tick(state, later).len() as u64;
        }
        prop_assert_eq!(batch.summary().transitions, transitions);
        for (user, state) in &online {
            prop_assert_eq!(batch.get(*user), Some(state), "{} after tick_all", user);
        }
    }

    /// 5b. Replaying into a buffer that held another log's states gives
    /// exactly a fresh replay's states and counts, and the states then go
    /// on alike (reused buffers change nothing but where memory comes from).
    #[test]
    fn replay_into_a_reused_buffer_equals_a_fresh_replay(
        policy in policy(),
        before in scenario(6, 0..60, spread_instant().boxed()),
        scenario in scenario(4, 0..50, spread_instant().boxed()),
        more in scenario(1, 0..12, spread_instant().boxed()),
    ) {
        let mut reused = Vec::new();
        replay_into(&policy, &EventLog::new(before.events.clone()), &mut reused);
        let log = EventLog::new(scenario.events.clone());
        let summary = replay_into(&policy, &log, &mut reused);
        let fresh = replay(&policy, &log);
        prop_assert_eq!(summary, fresh.summary());
        prop_assert_eq!(reused.as_slice(), fresh.states());
        let mut fresh = fresh.into_states();
        for (a, b) in reused.iter_mut().zip(fresh.iter_mut()) {
            for e in &more.events {
                let e = Event { user: a.user(), ..e.clone() };
                prop_assert_eq!(policy.apply(a, &e), policy.apply(b, &e));
            }
            prop_assert_eq!(&*a, &*b);
        }
    }

    /// 6. Serde: specs, states and transitions round-trip to equal values,
    /// and a round-tripped state (a prospect too) continues exactly like the
    /// original.
    #[test]
    fn serde_round_trips_and_continues_identically(
        policy in policy(),
        scenario in usual_scenario(),
        split in any::<Index>(),
        later in (0..SPREAD_HOURS + 2000).prop_map(|h| t0() + hours(h)),
    ) {
        let spec = policy.spec();
        let json = serde_json::to_string(spec).unwrap();
        let back: PolicySpec = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(&back, spec);
        let policy_back = back.validate().unwrap();
        for (user, events) in by_user(&scenario.events) {
            let k = split.index(events.len() + 1);
            let (head, tail) = events.split_at(k);
            let trace = run_events(&policy, user, head)?;
            for t in trace.moves() {
                let json = serde_json::to_string(t).unwrap();
                prop_assert_eq!(&serde_json::from_str::<Transition>(&json).unwrap(), t);
            }
            let json = serde_json::to_string(&trace.state).unwrap();
            let copy: Lifecycle = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(&copy, &trace.state);
            let ops: Vec<Op> = tail.iter().cloned().map(Op::Apply)
                .chain(std::iter::once(Op::Tick(later)))
                .collect();
            let original = run_from(&policy, trace.state.clone(), &ops)?;
            let continued = run_from(&policy_back, copy, &ops)?;
            prop_assert_eq!(&continued.steps, &original.steps);
            if original.state.stage() != Stage::Prospect {
                prop_assert_eq!(&continued.state, &original.state);
            }
        }
    }

    /// 7. Validation: wild JSON fails to parse or to validate, or gives a
    /// policy whose spec keeps every documented invariant; never a panic.
    #[test]
    fn wild_json_policies_are_rejected_or_valid(value in wild_policy_json()) {
        let Ok(spec) = serde_json::from_value::<PolicySpec>(value.clone()) else {
            return Ok(());
        };
        let broken = keeps_invariants(&spec);
        match spec.clone().validate() {
            Ok(policy) => {
                prop_assert!(broken.is_empty(), "accepted {} breaking {:?}", value, broken);
                prop_assert_eq!(policy.spec(), &spec);
                let json = serde_json::to_value(policy.spec()).unwrap();
                prop_assert_eq!(&serde_json::from_value::<PolicySpec>(json).unwrap(), &spec);
            }
            Err(err) => {
                prop_assert!(!broken.is_empty(), "rejected {} with {} but it keeps every invariant", value, err);
                prop_assert!(!err.to_string().is_empty());
            }
        }
    }

    /// 7. A spec built in code, its patterns some the text form cannot
    /// express, validates exactly when its JSON reads back (to the same
    /// spec, which validates again).
    #[test]
    fn a_spec_validates_exactly_when_its_json_reads_back(
        spec in policy_spec(),
        activity in vec(coded_pattern(), 1..4),
        key_actions in vec(coded_pattern(), 1..4),
    ) {
        let mut spec = spec;
        spec.activity = activity;
        spec.activation.key_actions = key_actions;
        let json = serde_json::to_string(&spec).unwrap();
        let back = serde_json::from_str::<PolicySpec>(&json);
        match spec.clone().validate() {
            Ok(_) => {
                let back = back.map_err(|e| TestCaseError::fail(format!("{json} validated but reads back as {e}")))?;
                prop_assert_eq!(&back, &spec);
                prop_assert!(back.validate().is_ok());
            }
            Err(err) => prop_assert!(back.is_err(), "{} was refused ({}) but reads back", json, err),
        }
    }

    /// 8. Counters under reordering (one user, nothing forgotten): payments,
    /// refunds and events do not depend on arrival order, and in any order
    /// the payments lift the peak to the stage they earn. Times here never
    /// land a whole number of days apart (an event exactly at an idle
    /// threshold would go idle and return at one instant), and every event
    /// counts as activity.
    #[test]
    fn counters_do_not_depend_on_arrival_order(
        policy in policy(),
        drafts in vec(((0..SPREAD_HOURS), kind()), 1..40),
        redeliveries in vec((any::<Index>(), prop::option::weighted(0.2, -200i64..200)), 0..6),
        order in any::<u64>(),
    ) {
        let mut spec = never_forgetting(&policy).spec().clone();
        spec.activity = vec![KindPattern::Any];
        let policy = spec.validate().unwrap();
        let user = UserId(1);
        // Distinct seconds past the hour: no two instants are whole days apart.
        let mut events: Vec<Event> = drafts
            .into_iter()
            .enumerate()
            .map(|(i, (h, kind))| {
                let at = t0() + hours(h) + TimeDelta::seconds(i as i64 + 1);
                Event::new(EventId(i as u64), user, at, kind)
            })
            .collect();
        let n = events.len();
        for (k, (which, shift)) in redeliveries.into_iter().enumerate() {
            let mut copy = events[which.index(n)].clone();
            if let Some(h) = shift {
                copy.at = t0() + hours(h.rem_euclid(SPREAD_HOURS)) + TimeDelta::seconds((n + k) as i64 + 1);
            }
            events.push(copy);
        }
        let mut shuffled = events.clone();
        // A seeded Fisher-Yates shuffle: any order at all.
        let mut seed = order;
        for i in (1..shuffled.len()).rev() {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            shuffled.swap(i, (seed >> 33) as usize % (i + 1));
        }
        let mut sorted = events.clone();
        sorted.sort_by_key(|e| e.at);

        let a = run_events(&policy, user, &sorted)?;
        let b = run_events(&policy, user, &shuffled)?;
        for trace in [&a, &b] {
            prop_assert!(
                trace.steps.iter().all(|(adm, _)| *adm != Some(Admission::TooLate)),
                "refused as too late with a window that never forgets"
            );
        }
        let counts = |s: &Lifecycle| (s.payments(), s.refunds(), s.events());
        prop_assert_eq!(counts(&b.state), counts(&a.state), "shuffled vs sorted");
        let earned = payment_stage(a.state.payments(), policy.spec().loyal_payments);
        if let Some(earned) = earned {
            prop_assert!(a.state.peak() >= earned, "sorted peak {} below {}", a.state.peak(), earned);
            prop_assert!(
                b.state.peak() >= earned,
                "shuffled peak {} behind sorted {} (payments earn {})",
                b.state.peak(),
                a.state.peak(),
                earned
            );
        }
    }

    /// 9. Monotonic progress: `peak()` never decreases along a sequence with
    /// ticks mixed in, and stays a progress stage at or above the current one.
    #[test]
    fn peak_never_decreases(
        policy in policy(),
        scenario in usual_scenario(),
        ticks in vec((any::<Index>(), (0..SPREAD_HOURS + 4000).prop_map(|h| t0() + hours(h))), 0..8),
    ) {
        let (users, ops) = with_ticks(scenario.events, ticks);
        for user in users {
            let trace = run(&policy, user, &ops)?;
            // `run` checked every step; check the end against the whole run
            // too. The peak is at least every progress stage entered, and at
            // least what the payments earn even if they arrived while idle.
            let highest = trace.moves().map(|t| t.to).filter(|s| s.is_progress()).max();
            prop_assert!(trace.state.peak() >= highest.unwrap_or(Stage::Prospect));
            if let Some(earned) = payment_stage(trace.state.payments(), policy.spec().loyal_payments) {
                prop_assert!(trace.state.peak() >= earned);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Edge cases found while writing the properties, pinned.
// ---------------------------------------------------------------------------

fn at(h: i64) -> DateTime<Utc> {
    t0() + hours(h)
}

fn visit(id: u64, h: i64) -> Event {
    Event::new(EventId(id), UserId(1), at(h), EventKind::Visited)
}

/// The documented dedupe contract: the id alone identifies an event while
/// it is remembered, whatever time a redelivery carries; once forgotten, a
/// redelivery with its original time is refused as too late.
#[test]
fn redeliveries_are_caught_while_remembered_and_refused_once_forgotten() {
    let policy = LifecyclePolicy::default(); // dedupe: 72 hours, 64 ids
    let mut state = Lifecycle::new(UserId(1));
    policy.apply(&mut state, &visit(1, 0)).unwrap();
    let restamped = policy.apply(&mut state, &visit(1, 30)).unwrap();
    assert_eq!(restamped.admission, Admission::Duplicate);
    // Later events make the window forget id 1 (it keeps two ids in the
    // state, and forgets one past the horizon rather than spill a third).
    policy.apply(&mut state, &visit(2, 100)).unwrap();
    policy.apply(&mut state, &visit(3, 101)).unwrap();
    let once = state.clone();
    let original = policy.apply(&mut state, &visit(1, 0)).unwrap();
    assert_eq!(original.admission, Admission::TooLate);
    assert_eq!(state, once);
}

/// A prospect's state, with no day set yet, round-trips exactly.
#[test]
fn a_new_lifecycle_round_trips() {
    let state = Lifecycle::new(UserId(1));
    let json = serde_json::to_string(&state).unwrap();
    assert_eq!(serde_json::from_str::<Lifecycle>(&json).unwrap(), state);
}

/// An event at the very end of chrono's range in a positive offset falls on
/// a local day after `NaiveDate::MAX`; it still round-trips exactly.
#[test]
fn a_state_at_the_end_of_time_round_trips() {
    let spec = PolicySpec {
        utc_offset: "+08:00".parse().unwrap(),
        ..PolicySpec::default()
    };
    let policy = spec.validate().unwrap();
    let mut state = Lifecycle::new(UserId(1));
    let e = Event::new(
        EventId(1),
        UserId(1),
        DateTime::<Utc>::MAX_UTC,
        EventKind::Visited,
    );
    policy.apply(&mut state, &e).unwrap();
    let json = serde_json::to_string(&state).unwrap();
    assert_eq!(serde_json::from_str::<Lifecycle>(&json).unwrap(), state);
}

/// Offsets with seconds have no text form, so they are refused outright.
#[test]
fn offsets_with_seconds_are_refused() {
    assert!(UtcOffset::from_seconds(30).is_none());
    assert!(UtcOffset::from_seconds(8 * 3600).is_some());
}

/// An activity event at exactly an idle threshold (here 30 days after the
/// last activity, to the millisecond) fires the idle moves and is a return:
/// the user was active at that instant. A late payment that follows, made
/// before the idle spell, is counted but does not lift them back along the
/// path; one made after the return does.
#[test]
fn activity_exactly_at_an_idle_threshold_is_a_return() {
    let policy = LifecyclePolicy::default(); // idle: 7, 30, 90 days
    let mut state = Lifecycle::new(UserId(1));
    policy.apply(&mut state, &visit(1, 0)).unwrap();
    policy.apply(&mut state, &visit(2, 30 * 24)).unwrap();
    let paid = Event::new(
        EventId(3),
        UserId(1),
        at(24),
        EventKind::Purchase {
            amount: money(100, "CNY"),
        },
    );
    policy.apply(&mut state, &paid).unwrap();
    assert_eq!(state.payments(), 1);
    assert_eq!(state.stage(), Stage::Reactivated);
    assert_eq!(state.peak(), Stage::Converted);
    let paid_since = Event {
        id: EventId(4),
        at: at(30 * 24 + 1),
        ..paid
    };
    policy.apply(&mut state, &paid_since).unwrap();
    assert_eq!(state.stage(), Stage::RepeatBuyer);
}
