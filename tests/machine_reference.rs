//! `lifecycle::machine` against a reference model written from its docs.
//!
//! The model keeps a user's state the plain way (names, a full history)
//! and steps it as the module docs describe: timeouts due at their
//! deadlines (never before the entry into the state, nor before the newest
//! activity), inclusive, the earliest deadline first and declaration order
//! on exact ties, cascading; an event fires the timeouts due by its time,
//! is counted, then fires the one event transition ready. Random valid
//! specs (small, so that timeouts meet and guards matter) run random
//! sequences of events, redeliveries, late events and ticks, on both, and
//! every answer and every state must agree; states also go through JSON
//! mid-run and carry on as if they had not.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use growthkit::dedupe::{Admission, DedupeWindow, RecentIds};
use growthkit::lifecycle::machine::{
    Applied, Cause, CountRange, CounterSpec, Machine, MachineSpec, MachineState, MachineTransition,
    Sources, TransitionSpec, Trigger,
};
use growthkit::{Event, EventId, EventKind, Label, UserId};
use proptest::collection::{btree_map, vec};
use proptest::option;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::{Config, TestRunner};
use std::collections::BTreeMap;

const PATTERNS: &[&str] = &[
    "*",
    "visited",
    "signed_up",
    "action_completed",
    "action_completed:lesson",
    "custom",
    "custom:t0",
    "custom:t1",
];

fn kinds() -> Vec<EventKind> {
    vec![
        EventKind::Visited,
        EventKind::SignedUp,
        EventKind::ActionCompleted {
            action: "lesson".into(),
        },
        EventKind::ActionCompleted {
            action: "quiz".into(),
        },
        EventKind::Custom { name: "t0".into() },
        EventKind::Custom { name: "t1".into() },
    ]
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

fn hour(h: i64) -> DateTime<Utc> {
    t0() + TimeDelta::hours(h)
}

const NAMES: [&str; 5] = ["a", "b", "c", "d", "e"];

/// Specs of a few states with short timeouts (so that they meet), guards
/// with small bounds, and overlapping patterns; most are invalid and are
/// skipped, the rest are what the model runs.
fn small_spec() -> impl Strategy<Value = MachineSpec> {
    (2usize..=5).prop_flat_map(|n| {
        let names: Vec<&'static str> = NAMES[..n].to_vec();
        let name = select(names.clone());
        let range =
            (option::of(0u64..4), option::of(0u64..4)).prop_map(|(min, width)| CountRange {
                min,
                max: width.map(|w| min.unwrap_or(0) + w),
            });
        let guard = prop_oneof![
            2 => Just(BTreeMap::new()),
            1 => btree_map(select(vec!["x", "y"]).prop_map(Label::from), range, 1..3),
        ];
        let trigger = prop_oneof![
            2 => select(PATTERNS).prop_map(|p| Trigger::Event(p.parse().unwrap())),
            1 => (1u32..8).prop_map(Trigger::IdleDays),
            1 => (1u32..8).prop_map(Trigger::DaysInState),
        ];
        let sources = prop_oneof![
            1 => Just(Sources::Any),
            4 => vec(name.clone(), 1..3)
                .prop_map(|v| Sources::List(v.into_iter().map(Label::from).collect())),
        ];
        let transition = (sources, name, trigger, guard).prop_map(|(from, to, on, guard)| {
            let to = Label::from(to);
            let from = match from {
                Sources::List(v) => Sources::List(v.into_iter().filter(|s| *s != to).collect()),
                any => any,
            };
            TransitionSpec {
                from,
                to,
                on,
                guard,
            }
        });
        (
            Just(n),
            select(PATTERNS),
            select(PATTERNS),
            vec(transition, 1..9),
            1u32..200,
            1u16..6,
            prop_oneof![Just(u16::MAX), 1u16..4],
        )
            .prop_map(
                |(n, x, y, mut transitions, horizon_hours, max_ids, history_limit)| {
                    transitions.retain(|t| !matches!(&t.from, Sources::List(v) if v.is_empty()));
                    MachineSpec {
                        states: NAMES[..n].iter().map(|&s| Label::from(s)).collect(),
                        initial: "a".into(),
                        counters: vec![
                            CounterSpec {
                                name: "x".into(),
                                counts: x.parse().unwrap(),
                            },
                            CounterSpec {
                                name: "y".into(),
                                counts: y.parse().unwrap(),
                            },
                        ],
                        transitions,
                        dedupe: DedupeWindow {
                            horizon_hours,
                            max_ids,
                        },
                        history_limit,
                    }
                },
            )
    })
}

#[derive(Clone, Debug)]
enum Op {
    Apply {
        id: u64,
        hour: i64,
        kind: usize,
    },
    Tick {
        hour: i64,
    },
    /// The state goes through JSON and back.
    Store,
}

/// Hours mostly on whole days (so that deadlines and events meet), going
/// forward with now and then a step back (late events, early ticks); ids
/// from a small pool, so that some repeat, always with the same event.
fn ops() -> impl Strategy<Value = Vec<Op>> {
    let events = vec(
        (
            0i64..40,
            prop_oneof![3 => Just(0i64), 1 => 1i64..24],
            0..kinds().len(),
        ),
        24,
    );
    let op = prop_oneof![
        6 => (0u64..24).prop_map(|id| Op::Apply { id, hour: 0, kind: 0 }),
        3 => ((0i64..45), prop_oneof![3 => Just(0i64), 1 => 1i64..24])
            .prop_map(|(d, h)| Op::Tick { hour: d * 24 + h }),
        1 => Just(Op::Store),
    ];
    (events, vec(op, 0..50), any::<bool>()).prop_map(|(events, ops, sorted)| {
        let mut ops: Vec<Op> = ops
            .into_iter()
            .map(|op| match op {
                Op::Apply { id, .. } => {
                    let (d, h, kind) = events[id as usize];
                    Op::Apply {
                        id,
                        hour: d * 24 + h,
                        kind,
                    }
                }
                other => other,
            })
            .collect();
        if sorted {
            // Stable: a store stays between the ops it fell between.
            let mut last = 0;
            let mut keyed: Vec<(i64, Op)> = ops
                .into_iter()
                .map(|op| {
                    if let Op::Apply { hour, .. } | Op::Tick { hour } = op {
                        last = hour;
                    }
                    (last, op)
                })
                .collect();
            keyed.sort_by_key(|(h, _)| *h);
            ops = keyed.into_iter().map(|(_, op)| op).collect();
        }
        ops
    })
}

// ---------------------------------------------------------------------------
// The reference model.
// ---------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct Model {
    current: Label,
    since: DateTime<Utc>,
    last_active: DateTime<Utc>,
    counters: BTreeMap<Label, u64>,
    history: Vec<MachineTransition>,
    recent: RecentIds,
    version: u64,
}

fn leaves(t: &TransitionSpec, state: &Label) -> bool {
    match &t.from {
        Sources::Any => *state != t.to,
        Sources::List(names) => names.contains(state),
    }
}

fn guard_holds(t: &TransitionSpec, counters: &BTreeMap<Label, u64>) -> bool {
    t.guard
        .iter()
        .all(|(name, range)| range.contains(counters.get(name).copied().unwrap_or(0)))
}

impl Model {
    fn start(spec: &MachineSpec, now: DateTime<Utc>) -> Model {
        Model {
            current: spec.initial.clone(),
            since: now,
            last_active: now,
            counters: BTreeMap::new(),
            history: Vec::new(),
            recent: RecentIds::new(),
            version: 0,
        }
    }

    /// The timeout to fire next, when it is due, and its cause: of the
    /// current state's timeouts whose guards hold, the earliest deadline,
    /// then the first declared.
    fn next(&self, spec: &MachineSpec) -> Option<(usize, DateTime<Utc>, Cause)> {
        let mut best: Option<(DateTime<Utc>, usize, Cause)> = None;
        for (i, t) in spec.transitions.iter().enumerate() {
            if !leaves(t, &self.current) || !guard_holds(t, &self.counters) {
                continue;
            }
            let (from, days, cause) = match t.on {
                Trigger::Event(_) => continue,
                Trigger::IdleDays(n) => (self.last_active, n, Cause::IdleDays(n)),
                Trigger::DaysInState(n) => (self.since, n, Cause::DaysInState(n)),
            };
            let Some(deadline) =
                TimeDelta::try_days(i64::from(days)).and_then(|d| from.checked_add_signed(d))
            else {
                continue;
            };
            if best.is_none_or(|(b, _, _)| deadline < b) {
                best = Some((deadline, i, cause));
            }
        }
        best.map(|(deadline, i, cause)| (i, deadline.max(self.since).max(self.last_active), cause))
    }

    fn enter(&mut self, spec: &MachineSpec, t: usize, at: DateTime<Utc>, cause: Cause) {
        let to = spec.transitions[t].to.clone();
        self.history.push(MachineTransition {
            from: std::mem::replace(&mut self.current, to.clone()),
            to,
            at,
            cause,
        });
        self.since = at;
    }

    fn fire(&mut self, spec: &MachineSpec, until: DateTime<Utc>) -> Vec<MachineTransition> {
        let before = self.history.len();
        for _ in 0..1000 {
            match self.next(spec) {
                Some((t, at, cause)) if at <= until => self.enter(spec, t, at, cause),
                _ => return self.history[before..].to_vec(),
            }
        }
        panic!("a cascade that does not end");
    }

    fn tick(&mut self, spec: &MachineSpec, now: DateTime<Utc>) -> Vec<MachineTransition> {
        let fired = self.fire(spec, now);
        if !fired.is_empty() {
            self.version += 1;
        }
        fired
    }

    fn apply(&mut self, spec: &MachineSpec, event: &Event) -> Applied {
        match self.recent.admit(event.id, event.at) {
            Admission::Fresh => {}
            Admission::Duplicate => return Applied::Duplicate,
            Admission::TooLate => return Applied::TooLate,
        }
        let before = self.history.len();
        self.fire(spec, event.at);
        for c in &spec.counters {
            if c.counts.matches(&event.kind) {
                let n = self.counters.entry(c.name.clone()).or_insert(0);
                *n = n.saturating_add(1);
            }
        }
        self.last_active = self.last_active.max(event.at);
        let ready: Vec<usize> = spec
            .transitions
            .iter()
            .enumerate()
            .filter(|(_, t)| {
                leaves(t, &self.current)
                    && matches!(&t.on, Trigger::Event(p) if p.matches(&event.kind))
                    && guard_holds(t, &self.counters)
            })
            .map(|(i, _)| i)
            .collect();
        assert!(
            ready.len() <= 1,
            "validation let {ready:?} both be ready in {} on {:?}",
            self.current,
            event.kind
        );
        if let Some(&t) = ready.first() {
            let at = event.at.max(self.since);
            self.enter(spec, t, at, Cause::Event(event.id));
        }
        self.recent.remember(event.id, event.at, &spec.dedupe);
        self.version += 1;
        Applied::Accepted {
            transitions: self.history[before..].to_vec(),
        }
    }

    fn agrees(&self, spec: &MachineSpec, s: &MachineState) -> Result<(), TestCaseError> {
        prop_assert_eq!(&s.current, &self.current);
        prop_assert_eq!(s.since, self.since);
        prop_assert_eq!(s.last_active, self.last_active);
        let nonzero: BTreeMap<_, _> = s
            .counters
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(k, n)| (k.clone(), *n))
            .collect();
        prop_assert_eq!(&nonzero, &self.counters);
        let limit = usize::from(spec.history_limit);
        let kept = self.history.len().min(limit);
        prop_assert_eq!(&s.history[..], &self.history[self.history.len() - kept..]);
        prop_assert_eq!(s.history_dropped, (self.history.len() - kept) as u64);
        prop_assert_eq!(&s.recent, &self.recent);
        prop_assert_eq!(s.version, self.version);
        Ok(())
    }
}

fn event(id: u64, h: i64, kind: usize) -> Event {
    Event::new(EventId(id), UserId(1), hour(h), kinds()[kind].clone())
}

/// `next_timeout` says when `tick` next moves: at that instant one move,
/// or the cascade it starts, all at that instant; a millisecond before,
/// nothing. `None` means no tick, however late, moves.
fn next_timeout_agrees(machine: &Machine, s: &MachineState) -> Result<(), TestCaseError> {
    let next = machine.next_timeout(s).unwrap();
    match next {
        Some(at) => {
            prop_assert!(at >= s.since);
            let mut early = s.clone();
            if let Some(before) = at.checked_sub_signed(TimeDelta::milliseconds(1)) {
                prop_assert!(machine.tick(&mut early, before).unwrap().is_empty());
            }
            let mut on_time = s.clone();
            let fired = machine.tick(&mut on_time, at).unwrap();
            prop_assert!(!fired.is_empty(), "nothing fired at next_timeout {}", at);
            prop_assert!(fired.iter().all(|t| t.at == at), "{:?} at {}", fired, at);
        }
        None => {
            let mut late = s.clone();
            let fired = machine.tick(&mut late, DateTime::<Utc>::MAX_UTC).unwrap();
            prop_assert!(
                fired.is_empty(),
                "{:?} fired after next_timeout None",
                fired
            );
        }
    }
    Ok(())
}

fn compare(machine: &Machine, ops: &[Op]) -> Result<(), TestCaseError> {
    compare_on(machine, ops, t0(), TimeDelta::hours(1))
}

/// [`compare`] on a clock that starts at `start` and counts `unit`s
/// (stopping at chrono's ends).
fn compare_on(
    machine: &Machine,
    ops: &[Op],
    start: DateTime<Utc>,
    unit: TimeDelta,
) -> Result<(), TestCaseError> {
    let hour = |h: i64| {
        unit.checked_mul(h as i32)
            .and_then(|d| start.checked_add_signed(d))
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    };
    let spec = machine.spec();
    let mut model = Model::start(spec, start);
    let mut s = machine.start(start);
    for op in ops {
        match *op {
            Op::Apply { id, hour: h, kind } => {
                let e = Event::new(EventId(id), UserId(1), hour(h), kinds()[kind].clone());
                let want = model.apply(spec, &e);
                let got = machine.apply(&mut s, &e).unwrap();
                prop_assert_eq!(got, want, "apply {:?}", e);
            }
            Op::Tick { hour: h } => {
                let want = model.tick(spec, hour(h));
                let got = machine.tick(&mut s, hour(h)).unwrap();
                prop_assert_eq!(got, want, "tick at {}", hour(h));
            }
            Op::Store => {
                let json = serde_json::to_string(&s).unwrap();
                let back: MachineState = serde_json::from_str(&json).unwrap();
                prop_assert_eq!(&back, &s, "{}", json);
                s = back;
            }
        }
        model.agrees(spec, &s)?;
        let want = model.next(spec).map(|(_, at, _)| at);
        prop_assert_eq!(machine.next_timeout(&s).unwrap(), want);
        next_timeout_agrees(machine, &s)?;
    }
    Ok(())
}

/// Runs `cases` random specs and op sequences; returns how many specs
/// validated (and ran).
fn run_cases(cases: u32) -> usize {
    let mut runner = TestRunner::new(Config {
        cases,
        ..Config::default()
    });
    let accepted = std::cell::Cell::new(0usize);
    runner
        .run(&(small_spec(), ops()), |(spec, ops)| {
            let Ok(machine) = Machine::new(spec.clone()) else {
                return Ok(());
            };
            accepted.set(accepted.get() + 1);
            // What validates reads back from its JSON, to an equal spec.
            let json = serde_json::to_string(&spec).unwrap();
            let back: MachineSpec = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(&back, &spec);
            let back: Machine = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(back.spec(), &spec);
            compare(&machine, &ops)
        })
        .unwrap();
    accepted.get()
}

#[test]
fn the_machine_runs_as_the_reference_model() {
    let cases = std::env::var("MACHINE_REFERENCE_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3000);
    let accepted = run_cases(cases);
    eprintln!("{accepted} of {cases} random specs validated and ran");
    assert!(
        accepted * 10 >= cases as usize,
        "only {accepted} specs validated"
    );
}

/// A user who enters `state` on an event (or starts there), with these
/// counts, and then does nothing: the first exact tie between timeouts
/// whose guards hold that the cascade meets, as (state, first, second).
fn quiet_tie(
    spec: &MachineSpec,
    state: &Label,
    counters: &BTreeMap<Label, u64>,
) -> Option<(Label, usize, usize)> {
    let mut model = Model::start(spec, t0());
    model.current = state.clone();
    model.counters = counters.clone();
    tie_ahead(spec, model)
}

/// As [`quiet_tie`], for a user who, after entering, lets time pass until
/// `tick` (if any) and is then active once at `active` (an event no
/// transition and no counter takes), and quiet from then on.
fn tie_after_activity(
    spec: &MachineSpec,
    state: &Label,
    counters: &BTreeMap<Label, u64>,
    tick: Option<DateTime<Utc>>,
    active: DateTime<Utc>,
) -> Option<(Label, usize, usize)> {
    let mut model = Model::start(spec, t0());
    model.current = state.clone();
    model.counters = counters.clone();
    if let Some(tick) = tick {
        model.fire(spec, tick);
    }
    model.fire(spec, active);
    model.last_active = model.last_active.max(active);
    tie_ahead(spec, model)
}

fn tie_ahead(spec: &MachineSpec, mut model: Model) -> Option<(Label, usize, usize)> {
    for _ in 0..100 {
        let mut due: Vec<(DateTime<Utc>, usize)> = spec
            .transitions
            .iter()
            .enumerate()
            .filter(|(_, t)| leaves(t, &model.current) && guard_holds(t, &model.counters))
            .filter_map(|(i, t)| {
                let deadline = match t.on {
                    Trigger::Event(_) => return None,
                    Trigger::IdleDays(n) => model.last_active + TimeDelta::days(n.into()),
                    Trigger::DaysInState(n) => model.since + TimeDelta::days(n.into()),
                };
                Some((deadline, i))
            })
            .collect();
        due.sort();
        match due[..] {
            [] => return None,
            [(a, i), (b, j), ..] if a == b => return Some((model.current.clone(), i, j)),
            _ => {}
        }
        let (_, at, cause) = model.next(spec).unwrap();
        model.enter(spec, due[0].1, at, cause);
    }
    None
}

#[test]
fn no_two_timeouts_fall_due_together_for_a_quiet_user_of_a_valid_spec() {
    let mut runner = TestRunner::new(Config {
        cases: 4_000,
        ..Config::default()
    });
    let checked = std::cell::Cell::new(0usize);
    runner
        .run(&small_spec(), |spec| {
            if Machine::new(spec.clone()).is_err() {
                return Ok(());
            }
            checked.set(checked.get() + 1);
            let mut arrivals = vec![spec.initial.clone()];
            arrivals.extend(
                spec.transitions
                    .iter()
                    .filter(|t| !t.on.is_timeout())
                    .map(|t| t.to.clone()),
            );
            for state in &arrivals {
                for x in 0..5 {
                    for y in 0..5 {
                        let counters = BTreeMap::from([("x".into(), x), ("y".into(), y)]);
                        let tie = quiet_tie(&spec, state, &counters);
                        prop_assert!(
                            tie.is_none(),
                            "entering {} with {:?}: {:?}",
                            state,
                            counters,
                            tie
                        );
                        // Active once, at an instant that is not aligned
                        // with anything (nor is one 13 minutes later: a tie
                        // at both is no coincidence of timing).
                        for tick in [None, Some(9), Some(40)] {
                            let tick = tick.map(|h| hour(h * 6 + 1));
                            for k in 0..48 {
                                let at = |m: i64| {
                                    hour(k * 6) + TimeDelta::minutes(7 + m)
                                };
                                let tie = tie_after_activity(&spec, state, &counters, tick, at(0));
                                let again =
                                    tie_after_activity(&spec, state, &counters, tick, at(13));
                                prop_assert!(
                                    tie.is_none() || tie != again,
                                    "entering {} with {:?}, active at {} after a tick at {:?}: {:?}",
                                    state,
                                    counters,
                                    at(0),
                                    tick,
                                    tie
                                );
                            }
                        }
                    }
                }
            }
            Ok(())
        })
        .unwrap();
    eprintln!("{} valid specs had no quiet ties", checked.get());
}

/// What validation calls dead is never entered, whatever the user does
/// (late events and redeliveries included), as the model runs it.
#[test]
fn states_validation_calls_dead_are_never_entered() {
    use growthkit::lifecycle::machine::MachineError;
    let mut runner = TestRunner::new(Config {
        cases: 10_000,
        ..Config::default()
    });
    let checked = std::cell::Cell::new(0usize);
    runner
        .run(&(small_spec(), ops()), |(spec, ops)| {
            let Err(MachineError::DeadTransition { states, .. }) = Machine::new(spec.clone())
            else {
                return Ok(());
            };
            checked.set(checked.get() + 1);
            let mut model = Model::start(&spec, t0());
            for op in &ops {
                match *op {
                    Op::Apply { id, hour: h, kind } => {
                        model.apply(&spec, &event(id, h, kind));
                    }
                    Op::Tick { hour: h } => {
                        model.tick(&spec, hour(h));
                    }
                    Op::Store => {}
                }
            }
            model.tick(&spec, hour(24 * 1000));
            for t in &model.history {
                prop_assert!(!states.contains(&t.to), "entered {} by {:?}", t.to, t);
            }
            Ok(())
        })
        .unwrap();
    eprintln!("{} specs with dead transitions ran", checked.get());
}

/// Near chrono's ends, with timeouts of up to hundreds of thousands of
/// years: deadlines past the end never fall due, and nothing panics.
#[test]
fn at_the_ends_of_time_the_machine_still_runs_as_the_model() {
    let mut runner = TestRunner::new(Config {
        cases: 3000,
        ..Config::default()
    });
    let accepted = std::cell::Cell::new(0usize);
    let huge = prop_oneof![
        Just(1u32),
        Just(10_000_000),
        Just(50_000_000),
        Just(u32::MAX / 8)
    ];
    let starts = select(vec![
        DateTime::<Utc>::MIN_UTC,
        DateTime::<Utc>::MIN_UTC + TimeDelta::days(3),
        DateTime::<Utc>::MAX_UTC - TimeDelta::days(20),
        DateTime::<Utc>::MAX_UTC - TimeDelta::milliseconds(1),
        DateTime::<Utc>::MAX_UTC,
    ]);
    let units = select(vec![
        TimeDelta::hours(1),
        TimeDelta::days(1_000),
        TimeDelta::days(1_000_000),
    ]);
    runner
        .run(
            &(small_spec(), huge, ops(), starts, units),
            |(mut spec, scale, ops, start, unit)| {
                for t in &mut spec.transitions {
                    match &mut t.on {
                        Trigger::IdleDays(d) | Trigger::DaysInState(d) => {
                            *d = d.saturating_mul(scale);
                        }
                        Trigger::Event(_) => {}
                    }
                }
                let Ok(machine) = Machine::new(spec) else {
                    return Ok(());
                };
                accepted.set(accepted.get() + 1);
                compare_on(&machine, &ops, start, unit)
            },
        )
        .unwrap();
    eprintln!("{} specs ran at the ends of time", accepted.get());
}
