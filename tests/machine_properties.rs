//! Properties of `lifecycle::machine`: validation catches every malformed
//! definition, nothing panics, stepping only follows declared edges,
//! replays are idempotent and deterministic, and a spec validates exactly
//! when its JSON reads back.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use growthkit::dedupe::DedupeWindow;
use growthkit::lifecycle::machine::{
    Applied, Cause, CountRange, CounterSpec, DeadReason, Machine, MachineError, MachineSpec,
    MachineState, MachineTransition, Sources, TransitionSpec, Trigger,
};
use growthkit::{Event, EventId, EventKind, KindPattern, KindTag, Label, Money, UserId};
use proptest::collection::{btree_map, vec};
use proptest::option;
use proptest::prelude::*;
use proptest::sample::select;
use std::collections::BTreeMap;

/// Patterns counters (and wild specs) listen to; they overlap in every way.
const PATTERNS: &[&str] = &[
    "*",
    "visited",
    "signed_up",
    "action_completed",
    "action_completed:lesson",
    "action_completed:quiz",
    "purchase",
    "custom:t0",
    "custom:t1",
];

/// Built specs have at most 5 tree edges and 5 extra ones.
const MAX_TRANSITIONS: usize = 10;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

fn hour(h: i64) -> DateTime<Utc> {
    t0() + TimeDelta::hours(h)
}

fn pattern(text: &str) -> KindPattern {
    text.parse().unwrap()
}

/// The kinds events are drawn from: every built transition's own
/// `custom:t{k}`, and kinds the counters' patterns see.
fn kind_pool() -> Vec<EventKind> {
    let mut kinds = vec![
        EventKind::Visited,
        EventKind::SignedUp,
        EventKind::ActionCompleted {
            action: "lesson".into(),
        },
        EventKind::ActionCompleted {
            action: "quiz".into(),
        },
        EventKind::Purchase {
            amount: Money::new(990, "CNY".parse().unwrap()),
        },
    ];
    kinds.extend((0..MAX_TRANSITIONS).map(|k| EventKind::Custom {
        name: format!("t{k}").into(),
    }));
    kinds
}

// ---------------------------------------------------------------------------
// Valid specs, by construction.
// ---------------------------------------------------------------------------

/// Random choices for one transition; `build` turns them into a valid one.
#[derive(Clone, Debug)]
struct EdgeSeed {
    target: usize,
    primary: usize,
    more_sources: Vec<usize>,
    any: bool,
    kind: u8,
    guard: Vec<(usize, Option<u64>, Option<u64>)>,
}

#[derive(Clone, Debug)]
struct Blueprint {
    states: usize,
    counters: Vec<usize>,
    tree: Vec<EdgeSeed>,
    extra: Vec<EdgeSeed>,
    dedupe: DedupeWindow,
}

fn edge_seed() -> impl Strategy<Value = EdgeSeed> {
    (
        any::<usize>(),
        any::<usize>(),
        vec(any::<usize>(), 0..3),
        prop::bool::weighted(0.2),
        0u8..3,
        vec(
            (any::<usize>(), option::of(0u64..4), option::of(0u64..4)),
            0..3,
        ),
    )
        .prop_map(
            |(target, primary, more_sources, any, kind, guard)| EdgeSeed {
                target,
                primary,
                more_sources,
                any,
                kind,
                guard,
            },
        )
}

fn blueprint(
    states: std::ops::RangeInclusive<usize>,
    counters: usize,
) -> impl Strategy<Value = Blueprint> {
    (
        states,
        vec(0..PATTERNS.len(), counters..=3),
        vec(edge_seed(), 5),
        vec(edge_seed(), 0..=5),
        1u32..200,
        1u16..12,
    )
        .prop_map(
            |(states, counters, tree, extra, horizon_hours, max_ids)| Blueprint {
                states,
                counters,
                tree,
                extra,
                dedupe: DedupeWindow {
                    horizon_hours,
                    max_ids,
                },
            },
        )
}

fn state_name(i: usize) -> Label {
    format!("s{i}").into()
}

/// A valid spec: a spanning tree of edges from `s0`, each of which can fire
/// (no `max` in its guards, so no count it can reach rules it out, and no
/// shorter unguarded timeout of its kind leaves its first source, so none
/// always fires before it), makes every state reachable; each event transition has its own `custom:t{k}` pattern and
/// each timeout its own length, days-in-state ones longer than every idle
/// one (so that no two of a state fall due together, however a user
/// arrived), so nothing is ambiguous; timeouts only lead to higher-numbered
/// states, so they form no cycle.
fn build(bp: &Blueprint) -> MachineSpec {
    let n = bp.states;
    let counters: Vec<CounterSpec> = bp
        .counters
        .iter()
        .enumerate()
        .map(|(k, &p)| CounterSpec {
            name: format!("c{k}").into(),
            counts: pattern(PATTERNS[p]),
        })
        .collect();
    let mut transitions = Vec::new();
    // Per state, whether an unguarded idle / days-in-state timeout leaves
    // it. Lengths grow with `k`, so only an earlier edge can shadow a later.
    let mut shadowing = vec![[false; 2]; n];
    for (to, seed) in (1..n).zip(&bp.tree) {
        let k = transitions.len();
        let primary = seed.primary % to;
        let mut seed = seed.clone();
        if matches!(seed.kind, 1 | 2) && shadowing[primary][usize::from(seed.kind - 1)] {
            seed.kind = 0;
        }
        let t = edge(&seed, k, to, primary, n, &counters, true);
        // A guard that admits every count is no guard.
        if t.guard
            .values()
            .all(|r| r.min.unwrap_or(0) == 0 && r.max.is_none())
            && let (Some(kind), Sources::List(from)) = (timeout_kind(&t.on), &t.from)
        {
            for name in from {
                let s: usize = name.as_str()[1..].parse().unwrap();
                shadowing[s][kind] = true;
            }
        }
        transitions.push(t);
    }
    if n >= 2 {
        for seed in &bp.extra {
            let k = transitions.len();
            let to = seed.target % n;
            let primary = (to + 1 + seed.primary % (n - 1)) % n;
            transitions.push(edge(seed, k, to, primary, n, &counters, false));
        }
    }
    MachineSpec {
        states: (0..n).map(state_name).collect(),
        initial: state_name(0),
        counters,
        transitions,
        dedupe: bp.dedupe,
        history_limit: u16::MAX,
    }
}

fn timeout_kind(on: &Trigger) -> Option<usize> {
    match on {
        Trigger::Event(_) => None,
        Trigger::IdleDays(_) => Some(0),
        Trigger::DaysInState(_) => Some(1),
    }
}

/// One transition; on a tree edge (`tree`), guards have no `max`.
fn edge(
    seed: &EdgeSeed,
    k: usize,
    to: usize,
    primary: usize,
    n: usize,
    counters: &[CounterSpec],
    tree: bool,
) -> TransitionSpec {
    let days = u32::try_from(k + 1).unwrap();
    // Timeouts go "up" only (from states numbered below the target).
    let timeout = seed.kind != 0 && primary < to;
    let on = match (timeout, seed.kind) {
        (false, _) => Trigger::Event(pattern(&format!("custom:t{k}"))),
        (true, 1) => Trigger::IdleDays(days),
        // Longer than any idle timeout (at most ten transitions): an idle
        // and a days-in-state timeout of one state never fall due together.
        (true, _) => Trigger::DaysInState(days + MAX_TRANSITIONS as u32),
    };
    let from = if seed.any && !timeout {
        Sources::Any
    } else {
        let bound = if timeout { to } else { n };
        let mut names = vec![state_name(primary)];
        names.extend(
            seed.more_sources
                .iter()
                .map(|s| s % bound)
                .filter(|&s| s != to)
                .map(state_name),
        );
        Sources::List(names)
    };
    let guard = if counters.is_empty() {
        BTreeMap::new()
    } else {
        seed.guard
            .iter()
            .map(|&(c, min, width)| {
                let counter = &counters[c % counters.len()];
                let mut max = width.filter(|_| !tree).map(|w| min.unwrap_or(0) + w);
                // A counter of the edge's own event is at least 1 when the
                // guard is read: a guard of none would never hold.
                if max == Some(0) && matches!(&on, Trigger::Event(p) if counter.counts.covers(p)) {
                    max = Some(1);
                }
                (counter.name.clone(), CountRange { min, max })
            })
            .collect()
    };
    TransitionSpec {
        from,
        to: state_name(to),
        on,
        guard,
    }
}

// ---------------------------------------------------------------------------
// Running a machine and checking what it did.
// ---------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum Op {
    Apply { id: u64, hour: i64, kind: usize },
    Tick { hour: i64 },
}

/// Up to 40 ops over 30 distinct events (an id is always the same event, as
/// hosts promise), so ops repeat some events: redeliveries.
fn ops() -> impl Strategy<Value = Vec<Op>> {
    let kinds = kind_pool().len();
    let events = vec((0i64..1500, 0..kinds), 30);
    let op = prop_oneof![
        4 => (0u64..30).prop_map(|id| Op::Apply { id, hour: 0, kind: 0 }),
        1 => (0i64..1600).prop_map(|hour| Op::Tick { hour }),
    ];
    // Half the runs arrive in time order, the other half shuffled.
    (events, vec(op, 0..40), any::<bool>()).prop_map(|(events, ops, sorted)| {
        let mut ops: Vec<Op> = ops
            .into_iter()
            .map(|op| match op {
                Op::Apply { id, .. } => {
                    let (hour, kind) = events[id as usize];
                    Op::Apply { id, hour, kind }
                }
                tick => tick,
            })
            .collect();
        if sorted {
            ops.sort_by_key(|op| match op {
                Op::Apply { hour, .. } | Op::Tick { hour } => *hour,
            });
        }
        ops
    })
}

fn to_event(id: u64, h: i64, kind: usize) -> Event {
    Event::new(EventId(id), UserId(1), hour(h), kind_pool()[kind].clone())
}

/// What a run did, for invariants and comparisons.
#[derive(Clone, Debug, PartialEq)]
struct Run {
    state: MachineState,
    applied: Vec<Applied>,
    ticked: Vec<Vec<MachineTransition>>,
    /// The kind of each event that was accepted, by id.
    kinds: BTreeMap<EventId, EventKind>,
}

fn run(machine: &Machine, ops: &[Op]) -> Run {
    let mut out = Run {
        state: machine.start(t0()),
        applied: Vec::new(),
        ticked: Vec::new(),
        kinds: BTreeMap::new(),
    };
    for op in ops {
        match *op {
            Op::Apply { id, hour: h, kind } => {
                let event = to_event(id, h, kind);
                let applied = machine.apply(&mut out.state, &event).unwrap();
                if applied.is_accepted() {
                    out.kinds.insert(event.id, event.kind);
                }
                out.applied.push(applied);
            }
            Op::Tick { hour: h } => out
                .ticked
                .push(machine.tick(&mut out.state, hour(h)).unwrap()),
        }
    }
    out
}

fn leaves(t: &TransitionSpec, state: &Label) -> bool {
    match &t.from {
        Sources::Any => *state != t.to,
        Sources::List(names) => names.contains(state),
    }
}

fn fits(trigger: &Trigger, cause: Cause, kinds: &BTreeMap<EventId, EventKind>) -> bool {
    match (trigger, cause) {
        (Trigger::Event(p), Cause::Event(id)) => kinds.get(&id).is_some_and(|k| p.matches(k)),
        (Trigger::IdleDays(a), Cause::IdleDays(b))
        | (Trigger::DaysInState(a), Cause::DaysInState(b)) => *a == b,
        _ => false,
    }
}

fn check_invariants(machine: &Machine, run: &Run) -> Result<(), TestCaseError> {
    let s = &run.state;
    prop_assert!(machine.states().contains(&s.current));
    let mut at = machine.initial().clone();
    let mut since = t0();
    for step in &s.history {
        prop_assert_eq!(&step.from, &at, "history is a chain");
        prop_assert!(step.at >= since, "history runs forward: {:?}", s.history);
        let declared = machine.spec().transitions.iter().any(|t| {
            t.to == step.to && leaves(t, &step.from) && fits(&t.on, step.cause, &run.kinds)
        });
        prop_assert!(declared, "{:?} is not a declared edge", step);
        at = step.to.clone();
        since = step.at;
    }
    prop_assert_eq!(&s.current, &at);
    prop_assert_eq!(s.since, since);
    let changes = run.applied.iter().filter(|a| a.is_accepted()).count()
        + run.ticked.iter().filter(|t| !t.is_empty()).count();
    prop_assert_eq!(s.version, changes as u64);
    let moves = run
        .applied
        .iter()
        .map(|a| a.transitions().len())
        .sum::<usize>()
        + run.ticked.iter().map(Vec::len).sum::<usize>();
    prop_assert_eq!(s.history.len(), moves);
    Ok(())
}

// ---------------------------------------------------------------------------
// Malformed definitions.
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
enum Mutation {
    NoStates,
    InvalidStateName,
    DuplicateState,
    UnknownInitial,
    DuplicateCounter,
    UnknownFrom,
    UnknownTo,
    NoSources,
    SelfLoopOnly,
    ZeroDays,
    UnknownCounter,
    InvertedRange,
    DuplicateTransition,
    TimeoutCycle,
    UnreachableState,
    GuardExcludesItsEvent,
    ShadowedTimeout,
    GuardOutgrown,
    UnwritableCounterPattern,
    UnwritableTriggerPattern,
}

const MUTATIONS: &[Mutation] = &[
    Mutation::NoStates,
    Mutation::InvalidStateName,
    Mutation::DuplicateState,
    Mutation::UnknownInitial,
    Mutation::DuplicateCounter,
    Mutation::UnknownFrom,
    Mutation::UnknownTo,
    Mutation::NoSources,
    Mutation::SelfLoopOnly,
    Mutation::ZeroDays,
    Mutation::UnknownCounter,
    Mutation::InvertedRange,
    Mutation::DuplicateTransition,
    Mutation::TimeoutCycle,
    Mutation::UnreachableState,
    Mutation::GuardExcludesItsEvent,
    Mutation::ShadowedTimeout,
    Mutation::GuardOutgrown,
    Mutation::UnwritableCounterPattern,
    Mutation::UnwritableTriggerPattern,
];

/// Applies `m` to `spec` (which has at least two states, so at least one
/// transition, and at least one counter); false if it does not apply.
fn mutate(spec: &mut MachineSpec, m: Mutation, pick: usize) -> bool {
    let t = pick % spec.transitions.len();
    let ghost = || Label::from("ghost");
    match m {
        Mutation::NoStates => spec.states.clear(),
        Mutation::InvalidStateName => spec
            .states
            .push(if pick.is_multiple_of(2) { "*" } else { "" }.into()),
        Mutation::DuplicateState => spec
            .states
            .push(spec.states[pick % spec.states.len()].clone()),
        Mutation::UnknownInitial => spec.initial = ghost(),
        Mutation::DuplicateCounter => spec.counters.push(spec.counters[0].clone()),
        Mutation::UnknownFrom => spec.transitions[t].from = Sources::List(vec![ghost()]),
        Mutation::UnknownTo => spec.transitions[t].to = ghost(),
        Mutation::NoSources => spec.transitions[t].from = Sources::List(vec![]),
        Mutation::SelfLoopOnly => {
            spec.transitions[t].from = Sources::List(vec![spec.transitions[t].to.clone()])
        }
        Mutation::ZeroDays => {
            spec.transitions[t].on = if pick.is_multiple_of(2) {
                Trigger::IdleDays(0)
            } else {
                Trigger::DaysInState(0)
            }
        }
        Mutation::UnknownCounter => {
            spec.transitions[t].guard.insert(ghost(), CountRange::ANY);
        }
        Mutation::InvertedRange => {
            let counter = spec.counters[pick % spec.counters.len()].name.clone();
            spec.transitions[t]
                .guard
                .insert(counter, CountRange::between(3, 2));
        }
        Mutation::DuplicateTransition => spec.transitions.push(spec.transitions[t].clone()),
        Mutation::TimeoutCycle => {
            // Close a loop under an existing timeout edge with a timeout back.
            let Some(back) = spec
                .transitions
                .iter()
                .find_map(|t| match (&t.on, &t.from) {
                    (Trigger::IdleDays(_) | Trigger::DaysInState(_), Sources::List(from)) => {
                        Some((t.to.clone(), from[0].clone()))
                    }
                    _ => None,
                })
            else {
                return false;
            };
            spec.transitions.push(TransitionSpec {
                from: Sources::List(vec![back.0]),
                to: back.1,
                on: Trigger::DaysInState(10_000),
                guard: BTreeMap::new(),
            });
        }
        Mutation::UnreachableState => spec.states.push("orphan".into()),
        Mutation::GuardExcludesItsEvent => {
            // A counter of every event, and a guard allowing it none, on
            // an event transition.
            let Some(t) = spec.transitions.iter_mut().find(|t| !t.on.is_timeout()) else {
                return false;
            };
            t.guard.insert("every".into(), CountRange::at_most(0));
            spec.counters.push(CounterSpec {
                name: "every".into(),
                counts: KindPattern::Any,
            });
        }
        Mutation::ShadowedTimeout => {
            // From s0, two unguarded timeouts of one kind: the shorter to
            // s1, the longer to a new state nothing else leads to. Far
            // longer than the built ones, so they tie with none of them.
            let (short, long) = if pick.is_multiple_of(2) {
                (Trigger::IdleDays(5_000), Trigger::IdleDays(5_001))
            } else {
                (Trigger::DaysInState(20_000), Trigger::DaysInState(20_001))
            };
            spec.states.push("hidden".into());
            for (to, on) in [(state_name(1), short), ("hidden".into(), long)] {
                spec.transitions.push(TransitionSpec {
                    from: Sources::List(vec![state_name(0)]),
                    to,
                    on,
                    guard: BTreeMap::new(),
                });
            }
        }
        Mutation::UnwritableCounterPattern => {
            let c = pick % spec.counters.len();
            spec.counters[c].counts = unwritable(pick);
        }
        Mutation::UnwritableTriggerPattern => {
            let Some(t) = spec.transitions.iter_mut().find(|t| !t.on.is_timeout()) else {
                return false;
            };
            t.on = Trigger::Event(unwritable(pick));
        }
        Mutation::GuardOutgrown => {
            // A new state entered only on an event a new counter counts,
            // and a timeout out of it whose guard allows that counter none.
            spec.states.extend(["gate".into(), "hidden".into()]);
            spec.counters.push(CounterSpec {
                name: "every".into(),
                counts: KindPattern::Any,
            });
            spec.transitions.push(TransitionSpec {
                from: Sources::List(vec![state_name(0)]),
                to: "gate".into(),
                on: Trigger::Event(pattern("custom:gate")),
                guard: BTreeMap::new(),
            });
            spec.transitions.push(TransitionSpec {
                from: Sources::List(vec!["gate".into()]),
                to: "hidden".into(),
                on: Trigger::IdleDays(7_000),
                guard: BTreeMap::from([("every".into(), CountRange::at_most(0))]),
            });
        }
    }
    true
}

fn expected(m: Mutation, err: &MachineError) -> bool {
    use MachineError as E;
    match m {
        Mutation::NoStates => matches!(err, E::NoStates),
        Mutation::InvalidStateName => matches!(err, E::InvalidStateName { .. }),
        Mutation::DuplicateState => matches!(err, E::DuplicateState { .. }),
        Mutation::UnknownInitial => matches!(err, E::UnknownInitial { .. }),
        Mutation::DuplicateCounter => matches!(err, E::DuplicateCounter { .. }),
        Mutation::UnknownFrom | Mutation::UnknownTo => matches!(err, E::UnknownState { .. }),
        Mutation::NoSources => matches!(err, E::NoSources { .. }),
        Mutation::SelfLoopOnly => matches!(err, E::SelfLoop { .. }),
        Mutation::ZeroDays => matches!(err, E::ZeroDays { .. }),
        Mutation::UnknownCounter => matches!(err, E::UnknownCounter { .. }),
        Mutation::InvertedRange => matches!(err, E::EmptyGuard { min: 3, max: 2, .. }),
        Mutation::DuplicateTransition => matches!(err, E::Ambiguous { .. }),
        Mutation::TimeoutCycle => matches!(err, E::TimeoutCycle { .. }),
        Mutation::UnreachableState => matches!(err, E::Unreachable { .. }),
        Mutation::GuardExcludesItsEvent => matches!(err, E::GuardExcludesItsEvent { .. }),
        Mutation::ShadowedTimeout => matches!(err, E::DeadTransition { reason, states, .. }
            if matches!(**reason, DeadReason::Shadowed { .. })
                && *states == [Label::from("hidden")]),
        Mutation::GuardOutgrown => matches!(err, E::DeadTransition { reason, states, .. }
            if matches!(**reason, DeadReason::GuardNeverHolds { max: 0, least: 1, .. })
                && *states == [Label::from("hidden")]),
        Mutation::UnwritableCounterPattern => matches!(err, E::InvalidCounterPattern { .. }),
        Mutation::UnwritableTriggerPattern => matches!(err, E::InvalidTrigger { .. }),
    }
}

/// A pattern built in code that its text form cannot express: a name on a
/// kind that carries none, or an empty name.
fn unwritable(pick: usize) -> KindPattern {
    match pick % 3 {
        0 => KindPattern::Named(KindTag::Visited, "home".into()),
        1 => KindPattern::Named(KindTag::Custom, "".into()),
        _ => KindPattern::Named(KindTag::ActionCompleted, "".into()),
    }
}

/// Patterns as code can build them: mostly ones the text form writes, now
/// and then a name on any kind, or an empty one, which it cannot.
fn coded_pattern() -> impl Strategy<Value = KindPattern> {
    prop_oneof![
        4 => select(PATTERNS).prop_map(pattern),
        1 => (select(KindTag::ALL.to_vec()), select(vec!["", "x", "a:b"]))
            .prop_map(|(tag, name)| KindPattern::Named(tag, name.into())),
    ]
}

// ---------------------------------------------------------------------------
// Wild specs and JSON: anything at all, which must never panic.
// ---------------------------------------------------------------------------

fn wild_name() -> impl Strategy<Value = Label> {
    prop_oneof![
        8 => select(vec!["a", "b", "c", "d"]),
        1 => select(vec!["*", "", "e"]),
    ]
    .prop_map(Label::from)
}

/// Removes the commonest random mistakes (self-loops, transitions leaving
/// nothing, guards on undeclared counters), so that more random specs reach
/// the ambiguity, cycle and reachability checks, and some validate.
fn tidy_up(spec: &mut MachineSpec) {
    let counters: Vec<Label> = spec.counters.iter().map(|c| c.name.clone()).collect();
    let states = spec.states.len();
    spec.transitions.retain_mut(|t| {
        t.guard.retain(|name, _| counters.contains(name));
        match &mut t.from {
            Sources::List(names) => {
                names.retain(|name| *name != t.to);
                !names.is_empty()
            }
            Sources::Any => states > 1,
        }
    });
}

/// Mostly well-formed state lists (so that later checks get their turn),
/// sometimes anything.
fn wild_states() -> impl Strategy<Value = Vec<Label>> {
    prop_oneof![
        4 => proptest::sample::subsequence(vec!["b", "c", "d"], 0..=3).prop_map(|rest| {
            std::iter::once("a").chain(rest).map(Label::from).collect()
        }),
        1 => vec(wild_name(), 0..5),
    ]
}

fn wild_spec() -> impl Strategy<Value = MachineSpec> {
    wild_states().prop_flat_map(|states| {
        // Mostly names the spec declares, so that the later checks (and
        // running a machine) get their turn.
        let known = if states.is_empty() {
            vec![Label::from("a")]
        } else {
            states.clone()
        };
        let name = prop_oneof![9 => select(known), 1 => wild_name()];
        let counters = prop_oneof![
            4 => (
                proptest::sample::subsequence(vec!["x", "y"], 0..=2),
                vec(select(PATTERNS), 2),
            )
                .prop_map(|(names, patterns)| {
                    names
                        .into_iter()
                        .zip(patterns)
                        .map(|(name, p)| CounterSpec { name: name.into(), counts: pattern(p) })
                        .collect()
                }),
            1 => vec(
                (select(vec!["x", "y"]), select(PATTERNS)).prop_map(|(name, p)| CounterSpec {
                    name: name.into(),
                    counts: pattern(p),
                }),
                0..3,
            ),
        ];
        let range = (option::of(0u64..5), option::of(0u64..5))
            .prop_map(|(min, max)| CountRange { min, max });
        let guard = btree_map(
            select(vec!["x", "x", "y", "y", "z"]).prop_map(Label::from),
            range,
            0..3,
        );
        let days = prop_oneof![9 => 1u32..6, 1 => Just(0u32)];
        let trigger = prop_oneof![
            2 => select(PATTERNS).prop_map(|p| Trigger::Event(pattern(p))),
            1 => days.clone().prop_map(Trigger::IdleDays),
            1 => days.prop_map(Trigger::DaysInState),
        ];
        let sources = prop_oneof![
            1 => Just(Sources::Any),
            4 => vec(name.clone(), 0..3).prop_map(Sources::List),
        ];
        let transition =
            (sources, name.clone(), trigger, guard).prop_map(|(from, to, on, guard)| {
                TransitionSpec {
                    from,
                    to,
                    on,
                    guard,
                }
            });
        let initial = prop_oneof![9 => Just(Label::from("a")), 1 => wild_name()];
        (
            Just(states),
            initial,
            counters,
            vec(transition, 0..8),
            prop::bool::weighted(0.8),
        )
            .prop_map(|(states, initial, counters, transitions, tidy)| {
                let mut spec = MachineSpec {
                    states,
                    initial,
                    counters,
                    transitions,
                    dedupe: DedupeWindow::default(),
                    history_limit: u16::MAX,
                };
                if tidy {
                    tidy_up(&mut spec);
                }
                spec
            })
    })
}

const KEYS: &[&str] = &[
    "states",
    "initial",
    "counters",
    "transitions",
    "dedupe",
    "from",
    "to",
    "on",
    "guard",
    "event",
    "idle_days",
    "days_in_state",
    "min",
    "max",
    "name",
    "counts",
    "horizon_hours",
    "max_ids",
];

fn json() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        (-2i64..40).prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        select(vec![
            "*",
            "a",
            "b",
            "",
            "visited",
            "custom:x",
            "purchase:big",
            "nope"
        ])
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 40, 5, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Value::Array),
            btree_map(select(KEYS), inner, 0..6).prop_map(|m| {
                Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
            }),
        ]
    })
}

// ---------------------------------------------------------------------------
// The properties.
// ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// (1) Built specs validate, and each mutation is caught as its own error.
    #[test]
    fn every_malformed_definition_is_rejected_with_its_error(
        bp in blueprint(2..=6, 1),
        m in select(MUTATIONS),
        pick in any::<usize>(),
    ) {
        let mut spec = build(&bp);
        prop_assert!(Machine::new(spec.clone()).is_ok(), "built spec invalid: {:?}", Machine::new(spec.clone()).err());
        prop_assume!(mutate(&mut spec, m, pick));
        match Machine::new(spec) {
            Ok(_) => prop_assert!(false, "{:?} was accepted", m),
            Err(err) => prop_assert!(expected(m, &err), "{:?} gave {:?}", m, err),
        }
    }

    /// (2) Anything shaped like a spec validates or fails without a panic;
    /// the ones that validate behave like any machine.
    #[test]
    fn wild_specs_never_panic(spec in wild_spec(), ops in ops()) {
        if let Ok(machine) = Machine::new(spec) {
            let run = run(&machine, &ops);
            check_invariants(&machine, &run)?;
        }
    }

    /// (2) So does arbitrary JSON.
    #[test]
    fn arbitrary_json_never_panics(value in json()) {
        if let Ok(spec) = serde_json::from_value::<MachineSpec>(value) {
            let _ = Machine::new(spec);
        }
    }

    /// (3) Runs visit declared states along declared edges, are
    /// deterministic, and ticking twice at one instant fires nothing new.
    #[test]
    fn runs_follow_declared_edges_deterministically(bp in blueprint(1..=6, 0), ops in ops()) {
        let machine = Machine::new(build(&bp)).unwrap();
        let first = run(&machine, &ops);
        check_invariants(&machine, &first)?;
        prop_assert_eq!(&run(&machine, &ops), &first);

        let mut state = first.state.clone();
        machine.tick(&mut state, hour(5000)).unwrap();
        let settled = state.clone();
        prop_assert!(machine.tick(&mut state, hour(5000)).unwrap().is_empty());
        prop_assert_eq!(state, settled);
    }

    /// (3) Replaying events, whole or each one twice, changes nothing more.
    #[test]
    fn replays_are_idempotent(bp in blueprint(1..=6, 0), ops in ops()) {
        let machine = Machine::new(build(&bp)).unwrap();
        let events: Vec<Op> = ops.into_iter().filter(|op| matches!(op, Op::Apply { .. })).collect();
        let once = run(&machine, &events);

        let mut again = once.state.clone();
        for op in &events {
            if let Op::Apply { id, hour, kind } = *op {
                let applied = machine.apply(&mut again, &to_event(id, hour, kind)).unwrap();
                prop_assert!(!applied.is_accepted());
            }
        }
        prop_assert_eq!(&again, &once.state);

        let doubled: Vec<Op> = events.iter().flat_map(|op| [op.clone(), op.clone()]).collect();
        prop_assert_eq!(&run(&machine, &doubled).state, &once.state);
    }

    /// (4) A spec built in code validates exactly when its JSON reads back
    /// as a machine (which validates it again), and then to the same spec.
    #[test]
    fn a_spec_validates_exactly_when_its_json_reads_back(
        spec in wild_spec(),
        patterns in vec(coded_pattern(), 12),
    ) {
        let mut spec = spec;
        let mut patterns = patterns.into_iter();
        for counter in &mut spec.counters {
            if let Some(p) = patterns.next() {
                counter.counts = p;
            }
        }
        for t in &mut spec.transitions {
            if let (Trigger::Event(on), Some(p)) = (&mut t.on, patterns.next()) {
                *on = p;
            }
        }
        let json = serde_json::to_string(&spec).unwrap();
        let back = serde_json::from_str::<Machine>(&json);
        match Machine::new(spec.clone()) {
            Ok(machine) => {
                let back = back.map_err(|e| TestCaseError::fail(format!("{json} validated but reads back as {e}")))?;
                prop_assert_eq!(back.spec(), &spec);
                prop_assert_eq!(machine.spec(), &spec);
            }
            Err(err) => prop_assert!(back.is_err(), "{} was refused ({}) but reads back", json, err),
        }
    }

    /// (4) Specs, machines and states survive JSON unchanged.
    #[test]
    fn serde_round_trips_are_identity(bp in blueprint(1..=6, 0), ops in ops()) {
        let spec = build(&bp);
        let json = serde_json::to_string(&spec).unwrap();
        prop_assert_eq!(&serde_json::from_str::<MachineSpec>(&json).unwrap(), &spec);

        let machine = Machine::new(spec).unwrap();
        prop_assert_eq!(&serde_json::to_string(&machine).unwrap(), &json);
        let back: Machine = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(back.spec(), machine.spec());

        let state = run(&machine, &ops).state;
        let json = serde_json::to_string(&state).unwrap();
        prop_assert_eq!(serde_json::from_str::<MachineState>(&json).unwrap(), state);
    }
}
