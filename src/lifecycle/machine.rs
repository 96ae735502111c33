//! A generic state machine for host-defined lifecycle stages.
//!
//! Operators describe their stages as data: a [`MachineSpec`] lists the
//! states, the counters the machine keeps (all-time counts of events matching
//! a [`KindPattern`]), and the transitions between states. A transition fires
//! on a [`Trigger`] (an event, a number of idle days, a number of days in the
//! current state) when its [`Guard`] holds on the counters.
//!
//! [`Machine::new`] validates a spec into a [`Machine`] once; every definition
//! mistake (an unknown state, two transitions that could fire on the same
//! input, a state nothing leads to, or only transitions that can never
//! fire, ...) is a [`MachineError`] then, never a surprise at run time. The
//! machine itself holds no per-user data: each user has a [`MachineState`],
//! plain serde data the host stores wherever it likes, and the machine steps
//! it with pure functions that never read the clock:
//!
//! - [`Machine::start`] begins a user in the initial state;
//! - [`Machine::apply`] feeds one event;
//! - [`Machine::tick`] lets time pass, firing due timeouts;
//! - [`Machine::next_timeout`] says when the next timeout is due, so a host
//!   knows when to call `tick`.
//!
//! # Example: a learning product
//!
//! New learners become *engaged* with their third lesson, *lapse* after two
//! idle weeks, go *dormant* two months after their last activity, and come
//! back with a visit.
//!
//! ```
//! use chrono::{DateTime, TimeDelta, TimeZone, Utc};
//! use growthkit::lifecycle::machine::{Applied, Cause, Machine, MachineSpec};
//! use growthkit::{Event, EventId, EventKind, UserId};
//!
//! let spec: MachineSpec = serde_json::from_str(r#"{
//!     "states": ["new", "engaged", "lapsed", "dormant"],
//!     "initial": "new",
//!     "counters": [{ "name": "lessons", "counts": "action_completed:lesson" }],
//!     "transitions": [
//!         { "from": ["new"], "to": "engaged", "on": { "event": "action_completed:lesson" },
//!           "guard": { "lessons": { "min": 3 } } },
//!         { "from": ["new", "engaged"], "to": "lapsed", "on": { "idle_days": 14 } },
//!         { "from": ["lapsed"], "to": "dormant", "on": { "idle_days": 60 } },
//!         { "from": ["lapsed", "dormant"], "to": "engaged", "on": { "event": "visited" } }
//!     ]
//! }"#)?;
//! let machine = Machine::new(spec)?;
//!
//! let day = |d: i64| -> DateTime<Utc> {
//!     Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap() + TimeDelta::days(d)
//! };
//! let lesson = |id: u64, d: i64| {
//!     let kind = EventKind::ActionCompleted { action: "lesson".into() };
//!     Event::new(EventId(id), UserId(7), day(d), kind)
//! };
//!
//! let mut learner = machine.start(day(0));
//! for (id, d) in [(1, 0), (2, 1), (3, 2)] {
//!     machine.apply(&mut learner, &lesson(id, d))?;
//! }
//! assert_eq!(learner.current.as_str(), "engaged");
//! assert_eq!(learner.count("lessons"), 3);
//!
//! // A redelivered event changes nothing.
//! assert_eq!(machine.apply(&mut learner, &lesson(3, 2))?, Applied::Duplicate);
//!
//! // Silence until day 100: lapsed 14 days after the last lesson, dormant 60.
//! let moved = machine.tick(&mut learner, day(100))?;
//! assert_eq!(moved.len(), 2);
//! assert_eq!((moved[0].at, moved[0].cause), (day(16), Cause::IdleDays(14)));
//! assert_eq!((moved[1].at, moved[1].cause), (day(62), Cause::IdleDays(60)));
//! assert_eq!(learner.current.as_str(), "dormant");
//!
//! // A visit brings the learner back.
//! let visit = Event::new(EventId(4), UserId(7), day(101), EventKind::Visited);
//! let applied = machine.apply(&mut learner, &visit)?;
//! assert_eq!(applied.transitions()[0].to.as_str(), "engaged");
//! assert_eq!(applied.transitions()[0].cause, Cause::Event(EventId(4)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Semantics
//!
//! - **Timeouts.** `{"idle_days": N}` is due N days after the user's last
//!   activity ([`MachineState::last_active`]: the newest event applied, or the
//!   start); `{"days_in_state": N}` is due N days after entering the current
//!   state ([`MachineState::since`]). A timeout whose deadline passed before
//!   the state was entered (a user already idle for N days on arrival) is due
//!   at the moment of entry. A due timeout fires *at its deadline*, not at the
//!   `now` that noticed it, and deadlines are inclusive: a `tick` at exactly
//!   the deadline fires it. A guarded timeout is not due before its guard
//!   holds: one whose guard only came to hold with an event after its
//!   deadline fires at the newest activity, not back at the deadline. When
//!   several timeouts of a state are due, the one with the earliest
//!   deadline fires, and the new state's own timeouts are then considered,
//!   so one `tick` can cascade
//!   (`engaged` → `lapsed` → `dormant` above). Validation rejects two
//!   timeouts of a state that fall due together for a user who arrived in
//!   it quietly (by an event, or by a path of timeouts from their last
//!   activity, wherever that was) and stayed quiet: of the same length, or
//!   an idle one longer than a days-in-state one by the idle days such an
//!   arrival brings (none on an event, or on a guarded days-in-state
//!   timeout that waited for an event to make its guard hold; N along an
//!   `idle_days: N` that found the user active within N days; plus the
//!   days in state of the timeouts after). Deadlines that meet otherwise
//!   (activity timed to the millisecond to make them meet) go by
//!   declaration order.
//! - **Events.** [`Machine::apply`] first fires the timeouts due up to the
//!   event's time (exactly as `tick` would), then adds the event to every
//!   counter whose pattern matches it, then fires at most one event
//!   transition: the one leaving the current state whose pattern matches and
//!   whose guard holds on the *updated* counters (so the third lesson itself
//!   satisfies `lessons >= 3`). Validation guarantees there is never more than
//!   one candidate.
//! - **Idempotency.** Each state remembers recent event ids in a
//!   [`RecentIds`] window (sized by [`MachineSpec::dedupe`]). A repeated id is
//!   [`Applied::Duplicate`] and an event older than the window can vouch for
//!   is [`Applied::TooLate`]; both change nothing, not even due timeouts, so
//!   replaying a log twice gives the state of replaying it once.
//! - **Late events** (older than the newest applied) are counted and may fire
//!   an event transition, but time never runs backwards: a transition is
//!   stamped at the later of the event's time and [`MachineState::since`],
//!   and timeouts are measured from the newest activity, which a late event
//!   does not move. History is therefore always in time order.
//! - **No self-loops.** A transition always changes the state: `"*"` in
//!   `from` means every state *but* the target, and a list that names the
//!   target is rejected. A self-loop on a timeout would fire forever (or
//!   every N days, without bound) and on an event it would only reset
//!   `since`, silently postponing the state's other timeouts.
//! - **No timeout cycles.** Transitions fired by timeouts alone may not form
//!   a cycle, or a user who does nothing would move between states forever.
//!   So one `tick` fires at most one timeout per state.
//! - **Reachability.** Every state must be reachable from the initial one
//!   along transitions that can fire. Validation proves a transition can
//!   never fire from a state, and discards it there, in two cases: an
//!   unguarded timeout of the state always falls due strictly first (a
//!   shorter one of the same kind, or `days_in_state` shorter than an
//!   `idle_days` by more than the idle days any way in can bring, late
//!   events included), or a guard's `max` is below the count its counter
//!   always has there by then (every way in counts at least that many). A
//!   state only such transitions lead to is a
//!   [`MachineError::DeadTransition`]; a transition that can never fire
//!   into a state reached otherwise is only redundant, and accepted.
//! - **Versions.** Every call that changes the state bumps
//!   [`MachineState::version`] exactly once (see [`Versioned`]); a call that
//!   changes nothing, or fails, leaves it alone.
//!
//! Counters saturate at `u64::MAX` rather than overflow: a count that large
//! is not reachable by real events, and saturation keeps `apply` infallible.

use crate::bounded;
use crate::dedupe::{Admission, DedupeWindow, RecentIds};
use crate::event::{Event, KindPattern, Label, ParseKindError};
use crate::id::EventId;
use crate::store::Versioned;
use chrono::{DateTime, TimeDelta, Utc};
use serde::de::{self, SeqAccess, Unexpected, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, VecDeque};
use std::fmt;

// ---------------------------------------------------------------------------
// The definition, as operators write it.
// ---------------------------------------------------------------------------

/// A machine definition as written in configuration; validate it with
/// [`Machine::new`] before use. A value the JSON reader refuses names its
/// field and place: ``transitions[1]: field `on`: ...``.
///
/// See the [module docs](self) for a complete example.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MachineSpec {
    /// The state names, each once. Names are non-empty and not `"*"`.
    #[serde(deserialize_with = "states_field")]
    pub states: Vec<Label>,
    /// The state every user starts in.
    #[serde(deserialize_with = "initial_field")]
    pub initial: Label,
    /// All-time counts of events, which guards read.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "counters_field"
    )]
    pub counters: Vec<CounterSpec>,
    /// The ways to move between states.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "transitions_field"
    )]
    pub transitions: Vec<TransitionSpec>,
    /// How many recent event ids each user's state remembers, to recognise
    /// redeliveries.
    #[serde(default, deserialize_with = "dedupe_field")]
    pub dedupe: DedupeWindow,
    /// How many transitions each user's history keeps, so that a state that
    /// moves back and forth for years stays bounded; the oldest go first.
    /// Default 64.
    #[serde(
        default = "default_history_limit",
        deserialize_with = "history_limit_field"
    )]
    pub history_limit: u16,
}

fn default_history_limit() -> u16 {
    64
}

/// A counter: how many events matching `counts` a user has ever had.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CounterSpec {
    /// The name guards refer to it by.
    #[serde(deserialize_with = "name_field")]
    pub name: Label,
    /// Which events it counts.
    #[serde(deserialize_with = "counts_field")]
    pub counts: KindPattern,
}

/// One way to move between states.
///
/// ```json
/// { "from": ["new"], "to": "engaged", "on": { "event": "action_completed:lesson" },
///   "guard": { "lessons": { "min": 3 } } }
/// ```
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransitionSpec {
    /// The states it leaves.
    #[serde(deserialize_with = "from_field")]
    pub from: Sources,
    /// The state it enters.
    #[serde(deserialize_with = "to_field")]
    pub to: Label,
    /// What makes it fire.
    #[serde(deserialize_with = "on_field")]
    pub on: Trigger,
    /// What the counters must say for it to fire; empty means always.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "guard_field"
    )]
    pub guard: Guard,
}

// Each field names itself when the JSON reader refuses its value
// (`transitions[2]: field `on`: ...`), as the points specs' fields do.
crate::points::fields::field_readers! {
    fn states_field = numbered("states");
    fn initial_field = named("initial");
    fn counters_field = numbered("counters");
    fn transitions_field = numbered("transitions");
    fn dedupe_field = named("dedupe");
    fn history_limit_field = named("history_limit");
    fn name_field = named("name");
    fn counts_field = named("counts");
    fn from_field = named("from");
    fn to_field = named("to");
    fn on_field = named("on");
    fn guard_field = named("guard");
}

/// The states a transition leaves: `"*"` or a list of names.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Sources {
    /// Written `"*"`: every state except the transition's target.
    Any,
    /// Written as a JSON list: exactly these states (a name listed twice
    /// counts once).
    List(Vec<Label>),
}

impl fmt::Display for Sources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Sources::Any => f.write_str("*"),
            Sources::List(names) if names.is_empty() => f.write_str("[]"),
            Sources::List(names) => f.write_str(&join(names, " | ")),
        }
    }
}

impl Serialize for Sources {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Sources::Any => s.serialize_str("*"),
            Sources::List(names) => names.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Sources {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct SourcesVisitor;
        impl<'de> Visitor<'de> for SourcesVisitor {
            type Value = Sources;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("\"*\" or a list of state names")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Sources, E> {
                if text == "*" {
                    Ok(Sources::Any)
                } else {
                    Err(E::invalid_value(Unexpected::Str(text), &self))
                }
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Sources, A::Error> {
                let mut names = Vec::new();
                while let Some(name) = seq.next_element::<Label>()? {
                    names.push(name);
                }
                Ok(Sources::List(names))
            }
        }
        d.deserialize_any(SourcesVisitor)
    }
}

/// What makes a transition fire. In JSON, an object with one key:
/// `{"event": "visited"}`, `{"idle_days": 14}` or `{"days_in_state": 7}`.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// An applied event matching the pattern.
    Event(KindPattern),
    /// This many days (of 24 hours) after the user's last activity.
    IdleDays(u32),
    /// This many days (of 24 hours) after entering the current state.
    DaysInState(u32),
}

impl Trigger {
    /// Whether this trigger is a timeout rather than an event.
    pub const fn is_timeout(&self) -> bool {
        !matches!(self, Trigger::Event(_))
    }

    /// At most how many days idle a user arrives through this trigger, who
    /// entered the state it leaves idle for at most `o` (see
    /// [`most_idle_on_entry`]): `max(c, o)` along `idle_days: c`, `o + d`
    /// along `days_in_state: d`, `o` along an event.
    fn idle_on_arrival(&self, o: u64) -> u64 {
        match self {
            Trigger::Event(_) => o,
            Trigger::IdleDays(c) => o.max(u64::from(*c)),
            Trigger::DaysInState(d) => o.saturating_add(u64::from(*d)),
        }
    }

    /// A counter of `counts` that read `n` before this trigger fires: an
    /// event it counts is counted before the guard is checked.
    fn counted_with(&self, counts: &KindPattern, n: u64) -> u64 {
        match self {
            Trigger::Event(on) if counts.covers(on) => n.saturating_add(1),
            _ => n,
        }
    }

    /// Whether both triggers can fire on the same input, so that neither
    /// declaration order nor deadline order can choose between them. Two
    /// timeouts of the same length do, whatever they count from: an idle
    /// and a days-in-state timeout fall due together for every user who
    /// entered the state on an event and stayed quiet.
    fn collides_with(&self, other: &Trigger) -> bool {
        match (self, other) {
            (Trigger::Event(a), Trigger::Event(b)) => a.overlaps(b),
            (
                Trigger::IdleDays(a) | Trigger::DaysInState(a),
                Trigger::IdleDays(b) | Trigger::DaysInState(b),
            ) => a == b,
            _ => false,
        }
    }
}

/// A guard: for each named counter, the range its count must be in. Counters
/// not named are unconstrained. In JSON: `{"lessons": {"min": 3}}`.
pub type Guard = BTreeMap<Label, CountRange>;

/// An inclusive range of counts; a missing bound is open (`min` defaults to
/// 0, `max` to unbounded). In JSON: `{"min": 1, "max": 5}`, either key optional.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CountRange {
    /// The smallest count allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<u64>,
    /// The largest count allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<u64>,
}

impl CountRange {
    /// Every count.
    pub const ANY: CountRange = CountRange {
        min: None,
        max: None,
    };

    /// Counts of at least `min`.
    pub const fn at_least(min: u64) -> CountRange {
        CountRange {
            min: Some(min),
            max: None,
        }
    }

    /// Counts of at most `max`.
    pub const fn at_most(max: u64) -> CountRange {
        CountRange {
            min: None,
            max: Some(max),
        }
    }

    /// Counts from `min` to `max`, both included.
    pub const fn between(min: u64, max: u64) -> CountRange {
        CountRange {
            min: Some(min),
            max: Some(max),
        }
    }

    fn low(self) -> u64 {
        self.min.unwrap_or(0)
    }

    fn high(self) -> u64 {
        self.max.unwrap_or(u64::MAX)
    }

    /// Whether `count` is in the range.
    pub fn contains(self, count: u64) -> bool {
        self.low() <= count && count <= self.high()
    }

    /// Whether no count is in the range (`min > max`).
    pub fn is_empty(self) -> bool {
        self.low() > self.high()
    }

    /// Whether some count is in both ranges.
    pub fn intersects(self, other: CountRange) -> bool {
        self.low().max(other.low()) <= self.high().min(other.high())
    }
}

// ---------------------------------------------------------------------------
// Definition errors.
// ---------------------------------------------------------------------------

/// Which transition an error is about: its position in
/// [`MachineSpec::transitions`] and its `from -> to`, as operators wrote it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TransitionRef {
    /// Zero-based position in the spec's list of transitions.
    pub index: usize,
    /// The states it leaves.
    pub from: Sources,
    /// The state it enters.
    pub to: Label,
}

impl TransitionRef {
    fn of(index: usize, spec: &TransitionSpec) -> TransitionRef {
        TransitionRef {
            index,
            from: spec.from.clone(),
            to: spec.to.clone(),
        }
    }
}

impl fmt::Display for TransitionRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "transition {} ({} -> {})",
            self.index, self.from, self.to
        )
    }
}

/// Which end of a transition names a state.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum StateField {
    /// The `from` list.
    From,
    /// The `to` name.
    To,
}

impl fmt::Display for StateField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StateField::From => "from",
            StateField::To => "to",
        })
    }
}

/// A mistake in a [`MachineSpec`], found by [`Machine::new`].
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MachineError {
    /// The spec declares no states.
    #[error("the machine declares no states")]
    NoStates,
    /// A state is named `""` or `"*"` (which means "every other state" in `from`).
    #[error("state name `{name}` is not allowed: names must be non-empty and not `*`")]
    InvalidStateName {
        /// The name.
        name: Label,
    },
    /// A state is declared twice.
    #[error("state `{name}` is declared twice")]
    DuplicateState {
        /// The name.
        name: Label,
    },
    /// The initial state is not declared.
    #[error("the initial state `{name}` is not a declared state")]
    UnknownInitial {
        /// The name.
        name: Label,
    },
    /// A counter is declared twice.
    #[error("counter `{name}` is declared twice")]
    DuplicateCounter {
        /// The name.
        name: Label,
    },
    /// A counter's `counts` that its own text form cannot express (a name
    /// on a kind that carries none, or an empty name:
    /// [`KindPattern::check`]), so the spec would not read back from its
    /// JSON.
    #[error("counter `{name}`: `counts` is not a valid event pattern: {error}")]
    InvalidCounterPattern {
        /// The counter's position in [`MachineSpec::counters`], from 0.
        index: usize,
        /// The counter's name.
        name: Label,
        /// What is wrong with the pattern, as reading its text reports it.
        error: ParseKindError,
    },
    /// A transition names a state that is not declared.
    #[error("{transition}: `{field}` names unknown state `{name}`")]
    UnknownState {
        /// The transition.
        transition: TransitionRef,
        /// Where the name is.
        field: StateField,
        /// The name.
        name: Label,
    },
    /// A transition leaves no state: an empty `from` list, or `"*"` in a
    /// machine whose only state is the target.
    #[error("{transition}: `from` leaves no state, so it can never fire")]
    NoSources {
        /// The transition.
        transition: TransitionRef,
    },
    /// A transition lists its own target in `from`.
    #[error(
        "{transition}: `from` lists the target `{}` itself; a transition must change the state \
         (a self-loop would reset `since` or, on a timeout, fire without end)",
        .transition.to
    )]
    SelfLoop {
        /// The transition.
        transition: TransitionRef,
    },
    /// An event trigger (`on.event`) that its own text form cannot express
    /// ([`KindPattern::check`]), so the spec would not read back from its
    /// JSON.
    #[error("{transition}: `on.event` is not a valid event pattern: {error}")]
    InvalidTrigger {
        /// The transition.
        transition: TransitionRef,
        /// What is wrong with the pattern, as reading its text reports it.
        error: ParseKindError,
    },
    /// A timeout of zero days, which would fire the moment its state is
    /// entered, so the state could never be observed.
    #[error("{transition}: a timeout of 0 days fires on entry; use at least 1 day")]
    ZeroDays {
        /// The transition.
        transition: TransitionRef,
    },
    /// A history limit of zero, which would keep no transitions at all.
    #[error("history_limit is 0; keep at least 1 transition")]
    ZeroHistoryLimit,
    /// A dedupe window of zero hours or zero ids, which could not tell a
    /// redelivered event from a new one.
    #[error("`{field}` is 0; the dedupe window must keep at least 1 hour and 1 id")]
    ZeroDedupe {
        /// `dedupe.horizon_hours` or `dedupe.max_ids`.
        field: &'static str,
    },
    /// A guard names a counter that is not declared.
    #[error("{transition}: the guard names unknown counter `{counter}`")]
    UnknownCounter {
        /// The transition.
        transition: TransitionRef,
        /// The counter name.
        counter: Label,
    },
    /// A guard range admits no count (`min > max`).
    #[error(
        "{transition}: the guard on `{counter}` is empty (min {min} > max {max}), \
         so it can never fire"
    )]
    EmptyGuard {
        /// The transition.
        transition: TransitionRef,
        /// The counter name.
        counter: Label,
        /// The range's minimum.
        min: u64,
        /// The range's maximum.
        max: u64,
    },
    /// A guard allows a counter no count at all, but the transition's own
    /// event is counted by it before guards are read (a guard of `max: 0`
    /// on a counter of the very events that fire it).
    #[error(
        "{transition}: the guard allows `{counter}` no count, but the event that \
         fires it is counted by `{counter}` first, so it can never fire"
    )]
    GuardExcludesItsEvent {
        /// The transition.
        transition: TransitionRef,
        /// The counter name.
        counter: Label,
    },
    /// Two transitions leave a common state, can fire on the same input (event
    /// patterns that overlap; timeouts of the same length, idle or in the
    /// state; or an idle and a days-in-state timeout that fall due together
    /// for a user who arrives idle for their difference in days, by a quiet
    /// path of timeouts, and stays quiet) and have guards some counts satisfy
    /// both of.
    #[error(
        "{first} and {second} are ambiguous: both leave `{state}`, can fire on the same input, \
         and their guards overlap; make the patterns or the guards disjoint"
    )]
    Ambiguous {
        /// The earlier transition.
        first: TransitionRef,
        /// The later transition.
        second: TransitionRef,
        /// A state both leave.
        state: Label,
    },
    /// Timeout transitions form a cycle, so a user who does nothing would
    /// move between these states forever.
    #[error("timeouts alone form a cycle ({}), so an idle user would never settle", join(.states, " -> "))]
    TimeoutCycle {
        /// The states on the cycle, in order; the last leads back to the first.
        states: Vec<Label>,
    },
    /// Some states cannot be reached from the initial one.
    #[error("no transition leads from `{initial}` to: {}", join(.states, ", "))]
    Unreachable {
        /// The initial state.
        initial: Label,
        /// The unreachable states, in declaration order.
        states: Vec<Label>,
    },
    /// Some states are entered only by transitions that provably can never
    /// fire, so no user ever reaches them.
    ///
    /// Reported apart from [`MachineError::Unreachable`] because a
    /// transition *does* lead there, and "no transition leads to `b`" would
    /// send an operator looking for a missing edge; the fix is to the edge
    /// that is there (a shorter timeout that always wins, a guard that can
    /// no longer hold), which this error names with the reason. A transition
    /// that can never fire but whose target is reached some other way is
    /// accepted: it is redundant, not wrong, and specs that were valid and
    /// reach every state stay valid.
    #[error(
        "{transition} can never fire from `{state}`: {reason}; \
         nothing else leads from `{initial}` to: {}",
        join(.states, ", ")
    )]
    DeadTransition {
        /// A transition that can never fire, into one of `states`.
        transition: TransitionRef,
        /// A reachable state it leaves and can never fire from.
        state: Label,
        /// Why it can never fire there (boxed: the reason names a second
        /// transition, and this error is returned by value).
        reason: Box<DeadReason>,
        /// The initial state.
        initial: Label,
        /// The states no transition that can fire leads to, in declaration
        /// order.
        states: Vec<Label>,
    },
}

/// Why a transition can never fire from a state (see
/// [`MachineError::DeadTransition`]).
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum DeadReason {
    /// An unguarded timeout of the same state (no guard, or one whose
    /// ranges admit every count) always falls due strictly
    /// first, however the user arrived and whatever they do there: a
    /// shorter timeout of the same kind, or a `days_in_state` timeout
    /// shorter than an idle one by more than the idle days any arrival
    /// brings.
    Shadowed {
        /// The timeout that always fires first.
        by: TransitionRef,
    },
    /// The guard caps a counter below the count it always has by the time
    /// the guard is read there (counters only grow, and every way into the
    /// state leaves the counter at least this high).
    GuardNeverHolds {
        /// The counter.
        counter: Label,
        /// The guard's largest allowed count.
        max: u64,
        /// The smallest count the counter can have when the guard is read.
        least: u64,
    },
}

impl fmt::Display for DeadReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeadReason::Shadowed { by } => {
                write!(f, "{by}, an unguarded timeout, always falls due first")
            }
            DeadReason::GuardNeverHolds {
                counter,
                max,
                least,
            } => write!(
                f,
                "its guard allows `{counter}` at most {max}, \
                 but `{counter}` is at least {least} whenever it is read there"
            ),
        }
    }
}

fn join(names: &[Label], separator: &str) -> String {
    names
        .iter()
        .map(Label::as_str)
        .collect::<Vec<_>>()
        .join(separator)
}

/// A step could not run; the state was left untouched.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StepError {
    /// The state is in a state this machine does not declare: most likely it
    /// was saved under an older definition that has since been edited.
    #[error("the user is in state `{state}`, which this machine does not declare")]
    UnknownState {
        /// The state's name.
        state: Label,
    },
}

// ---------------------------------------------------------------------------
// Per-user state and step outcomes.
// ---------------------------------------------------------------------------

/// One user's place in a machine: plain data for the host to store.
///
/// The current state is kept by *name*, not by index into the spec: a host
/// that reorders or adds states keeps every stored user valid, and a user in
/// a state that was removed gets a typed [`StepError::UnknownState`] instead
/// of silently landing in whichever state took the old index.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct MachineState {
    /// The state the user is in.
    pub current: Label,
    /// When the user entered it (never moves backwards).
    pub since: DateTime<Utc>,
    /// The user's last activity: the newest event applied, or the start if
    /// later. Idle timeouts count from here.
    pub last_active: DateTime<Utc>,
    /// Counter values by name; a counter not present is zero. Kept by name
    /// for the same reason as `current`: counters a later spec no longer
    /// declares are kept and ignored, new ones start at zero.
    pub counters: BTreeMap<Label, u64>,
    /// The most recent transitions, oldest first: at most the spec's
    /// `history_limit` (see `history_dropped`).
    pub history: Vec<MachineTransition>,
    /// How many older transitions were dropped to keep the history bounded.
    #[serde(default)]
    pub history_dropped: u64,
    /// Ids of recent events, to recognise redeliveries.
    pub recent: RecentIds,
    /// Bumped once by every call that changes the state.
    pub version: u64,
}

impl MachineState {
    /// The value of counter `name` (zero if it never counted anything).
    pub fn count(&self, name: &str) -> u64 {
        self.counters
            .iter()
            .find(|(k, _)| k.as_str() == name)
            .map_or(0, |(_, &n)| n)
    }

    fn bump(&mut self) {
        // 2^64 changes to one user's state cannot happen; saturating keeps
        // the arithmetic total without a panic path.
        self.version = self.version.saturating_add(1);
    }
}

impl Versioned for MachineState {
    fn version(&self) -> u64 {
        self.version
    }
}

/// One move from a state to another, and why.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct MachineTransition {
    /// The state left.
    pub from: Label,
    /// The state entered.
    pub to: Label,
    /// When: a timeout's deadline (or the entry into the state, or the
    /// newest activity, if later: see the [module docs](self#semantics)),
    /// or the event's time; never before the previous transition.
    pub at: DateTime<Utc>,
    /// What fired it.
    pub cause: Cause,
}

/// What fired a transition. In JSON: `{"event": 17}`, `{"idle_days": 14}`,
/// `{"days_in_state": 7}`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// The event with this id.
    Event(EventId),
    /// An idle timeout of this many days.
    IdleDays(u32),
    /// A time-in-state timeout of this many days.
    DaysInState(u32),
}

/// What [`Machine::apply`] did with an event.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Applied {
    /// The event was new and was counted. `transitions` lists, in order, the
    /// timeouts that fell due before it and the event transition it fired,
    /// if any.
    Accepted {
        /// The moves made, oldest first.
        transitions: Vec<MachineTransition>,
    },
    /// The event was applied before; nothing changed.
    Duplicate,
    /// The event is older than the ids the state still remembers, so it
    /// cannot be told apart from a redelivery; refused, nothing changed.
    TooLate,
}

impl Applied {
    /// The moves made (none for a duplicate or a late event).
    pub fn transitions(&self) -> &[MachineTransition] {
        match self {
            Applied::Accepted { transitions } => transitions,
            Applied::Duplicate | Applied::TooLate => &[],
        }
    }

    /// Whether the event was new and counted.
    pub fn is_accepted(&self) -> bool {
        matches!(self, Applied::Accepted { .. })
    }
}

// ---------------------------------------------------------------------------
// The validated machine.
// ---------------------------------------------------------------------------

/// A validated [`MachineSpec`], ready to step [`MachineState`]s.
///
/// States are interned to indices and each state's outgoing transitions are
/// listed ahead of time, so a step looks only at the transitions that can
/// fire. Serializes as its spec; deserializing validates.
///
/// ```
/// use growthkit::lifecycle::machine::{Machine, MachineError, MachineSpec};
///
/// let spec: MachineSpec = serde_json::from_str(r#"{
///     "states": ["new", "engaged"],
///     "initial": "new",
///     "transitions": [{ "from": ["new"], "to": "engagd", "on": { "event": "visited" } }]
/// }"#).unwrap();
/// let err = Machine::new(spec).unwrap_err();
/// assert!(matches!(err, MachineError::UnknownState { .. }));
/// assert_eq!(
///     err.to_string(),
///     "transition 0 (new -> engagd): `to` names unknown state `engagd`"
/// );
/// ```
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(try_from = "MachineSpec", into = "MachineSpec")]
pub struct Machine {
    spec: MachineSpec,
    index: BTreeMap<Label, usize>,
    initial: usize,
    /// Per transition, the index of its target state.
    targets: Vec<usize>,
    /// Per state, the transitions leaving it, in declaration order.
    leaving: Vec<Leaving>,
}

#[derive(Clone, Debug, Default)]
struct Leaving {
    on_event: Vec<usize>,
    on_timeout: Vec<usize>,
}

impl TryFrom<MachineSpec> for Machine {
    type Error = MachineError;
    fn try_from(spec: MachineSpec) -> Result<Machine, MachineError> {
        Machine::new(spec)
    }
}

impl From<Machine> for MachineSpec {
    fn from(machine: Machine) -> MachineSpec {
        machine.spec
    }
}

impl Machine {
    /// Validates `spec`. Checks run in this order, and the first failure is
    /// returned: state names, the history limit and the dedupe window, the
    /// initial state, counters (names, then patterns), then each transition
    /// on its own (states, self-loops, event patterns, timeouts, guards),
    /// then pairs of transitions (ambiguity), timeout cycles, reachability
    /// along every transition, reachability along the transitions that can
    /// fire ([`MachineError::DeadTransition`]), and timeouts that fall due
    /// together after a quiet path.
    ///
    /// # Errors
    ///
    /// The first [`MachineError`] found; each names the offending state,
    /// counter or transition (by index and `from -> to`).
    pub fn new(spec: MachineSpec) -> Result<Machine, MachineError> {
        Machine::validate(spec, true)
    }

    /// [`Machine::new`], with `live: false` skipping
    /// [`check_live_reachable`]: only tests do, to run the machines it
    /// rejects and see that what it calls unreachable is never reached.
    fn validate(spec: MachineSpec, live: bool) -> Result<Machine, MachineError> {
        let index = index_states(&spec.states)?;
        if spec.history_limit == 0 {
            return Err(MachineError::ZeroHistoryLimit);
        }
        if let Some(field) = spec.dedupe.zero_field() {
            return Err(MachineError::ZeroDedupe { field });
        }
        let initial = *index
            .get(&spec.initial)
            .ok_or_else(|| MachineError::UnknownInitial {
                name: spec.initial.clone(),
            })?;
        let counters = check_counters(&spec.counters)?;
        let mut sources = Vec::with_capacity(spec.transitions.len());
        let mut targets = Vec::with_capacity(spec.transitions.len());
        for (i, transition) in spec.transitions.iter().enumerate() {
            let (from, to) = check_transition(i, transition, &index, &counters)?;
            sources.push(from);
            targets.push(to);
        }
        check_ambiguity(&spec, &sources)?;
        check_timeout_cycles(&spec, &sources, &targets)?;
        check_reachable(&spec, initial, &sources, &targets)?;
        if live {
            check_live_reachable(&spec, initial, &sources, &targets)?;
        }
        check_timeout_ties(&spec, initial, &sources, &targets)?;

        let mut leaving = vec![Leaving::default(); spec.states.len()];
        for (t, from) in sources.iter().enumerate() {
            for &s in from {
                if spec.transitions[t].on.is_timeout() {
                    leaving[s].on_timeout.push(t);
                } else {
                    leaving[s].on_event.push(t);
                }
            }
        }
        Ok(Machine {
            spec,
            index,
            initial,
            targets,
            leaving,
        })
    }

    /// The definition this machine was built from.
    pub fn spec(&self) -> &MachineSpec {
        &self.spec
    }

    /// The state names, in declaration order.
    pub fn states(&self) -> &[Label] {
        &self.spec.states
    }

    /// The initial state's name.
    pub fn initial(&self) -> &Label {
        &self.spec.states[self.initial]
    }

    /// A new user, in the initial state since `now`, with no activity yet
    /// (idle timeouts count from `now`), version 0.
    ///
    /// Nothing fires at start, not even a timeout of the initial state; the
    /// first `tick` or `apply` does that.
    pub fn start(&self, now: DateTime<Utc>) -> MachineState {
        MachineState {
            current: self.initial().clone(),
            since: now,
            last_active: now,
            counters: BTreeMap::new(),
            history: Vec::new(),
            history_dropped: 0,
            recent: RecentIds::new(),
            version: 0,
        }
    }

    /// Applies one event to one user's state (see the [module
    /// docs](self#semantics)): due timeouts up to `event.at`, then counters,
    /// then at most one event transition.
    ///
    /// The machine does not look at [`Event::user`]: routing a user's events
    /// to that user's state is the host's job.
    ///
    /// # Errors
    ///
    /// [`StepError::UnknownState`] if `state` is in a state this machine does
    /// not declare; `state` is then unchanged.
    pub fn apply(&self, state: &mut MachineState, event: &Event) -> Result<Applied, StepError> {
        let current = self.locate(state)?;
        match state.recent.admit(event.id, event.at) {
            Admission::Fresh => {}
            Admission::Duplicate => return Ok(Applied::Duplicate),
            Admission::TooLate => return Ok(Applied::TooLate),
        }
        let (current, mut transitions) = self.fire_timeouts(state, current, event.at);
        self.count(state, event);
        state.last_active = state.last_active.max(event.at);
        if let Some(t) = self.event_transition(state, current, event) {
            let at = event.at.max(state.since);
            transitions.push(self.enter(state, current, t, at, Cause::Event(event.id)));
        }
        state.recent.remember(event.id, event.at, &self.spec.dedupe);
        state.bump();
        Ok(Applied::Accepted { transitions })
    }

    /// Lets time pass up to `now`: fires every timeout due by then, each at
    /// its own deadline, cascading through states. Returns the moves made,
    /// oldest first; a `now` before [`MachineState::since`] fires nothing.
    ///
    /// # Errors
    ///
    /// [`StepError::UnknownState`] if `state` is in a state this machine does
    /// not declare; `state` is then unchanged.
    pub fn tick(
        &self,
        state: &mut MachineState,
        now: DateTime<Utc>,
    ) -> Result<Vec<MachineTransition>, StepError> {
        let current = self.locate(state)?;
        let (_, fired) = self.fire_timeouts(state, current, now);
        if !fired.is_empty() {
            state.bump();
        }
        Ok(fired)
    }

    /// When the next timeout will fire if no event comes first: the instant
    /// to call [`Machine::tick`] at. `None` if no timeout of the current state
    /// can fire with the counters as they are.
    ///
    /// # Errors
    ///
    /// [`StepError::UnknownState`] if `state` is in a state this machine does
    /// not declare.
    pub fn next_timeout(&self, state: &MachineState) -> Result<Option<DateTime<Utc>>, StepError> {
        let current = self.locate(state)?;
        Ok(self.earliest_timeout(state, current).map(|(_, at, _)| at))
    }

    fn locate(&self, state: &MachineState) -> Result<usize, StepError> {
        self.index
            .get(&state.current)
            .copied()
            .ok_or_else(|| StepError::UnknownState {
                state: state.current.clone(),
            })
    }

    /// Fires due timeouts until none is due by `until`; returns the state
    /// reached and the moves made.
    fn fire_timeouts(
        &self,
        state: &mut MachineState,
        mut current: usize,
        until: DateTime<Utc>,
    ) -> (usize, Vec<MachineTransition>) {
        let mut fired = Vec::new();
        // Timeout edges form no cycle (validated), so a cascade visits each
        // state at most once; the bound only makes that visible.
        for _ in 0..self.spec.states.len() {
            let Some((t, at, cause)) = self.earliest_timeout(state, current) else {
                break;
            };
            if at > until {
                break;
            }
            fired.push(self.enter(state, current, t, at, cause));
            current = self.targets[t];
        }
        (current, fired)
    }

    /// The timeout of `current` whose guard holds that fires first, when,
    /// and as what cause.
    fn earliest_timeout(
        &self,
        state: &MachineState,
        current: usize,
    ) -> Option<(usize, DateTime<Utc>, Cause)> {
        self.leaving[current]
            .on_timeout
            .iter()
            .copied()
            .filter(|&t| self.guard_holds(state, t))
            .filter_map(|t| {
                let (deadline, cause) = self.deadline(state, t)?;
                // Already idle long enough on arrival: due at the entry.
                // And never before the newest event: every event first
                // makes the moves due by its time, so a move still to make
                // that was due earlier waited for a guard that event made
                // true.
                let at = deadline.max(state.since).max(state.last_active);
                Some((at, deadline, t, cause))
            })
            .min_by_key(|&(at, deadline, t, _)| (at, deadline, t))
            .map(|(at, _, t, cause)| (t, at, cause))
    }

    /// When timeout transition `t` falls due and the cause it records;
    /// `None` for an event transition, or a deadline past the end of
    /// representable time (which never falls due).
    fn deadline(&self, state: &MachineState, t: usize) -> Option<(DateTime<Utc>, Cause)> {
        let (from, days, cause) = match self.spec.transitions[t].on {
            Trigger::IdleDays(days) => (state.last_active, days, Cause::IdleDays(days)),
            Trigger::DaysInState(days) => (state.since, days, Cause::DaysInState(days)),
            Trigger::Event(_) => return None,
        };
        let deadline = from.checked_add_signed(TimeDelta::try_days(i64::from(days))?)?;
        Some((deadline, cause))
    }

    fn event_transition(
        &self,
        state: &MachineState,
        current: usize,
        event: &Event,
    ) -> Option<usize> {
        self.leaving[current].on_event.iter().copied().find(|&t| {
            matches!(&self.spec.transitions[t].on, Trigger::Event(p) if p.matches(&event.kind))
                && self.guard_holds(state, t)
        })
    }

    fn guard_holds(&self, state: &MachineState, t: usize) -> bool {
        self.spec.transitions[t]
            .guard
            .iter()
            .all(|(name, range)| range.contains(state.counters.get(name).copied().unwrap_or(0)))
    }

    fn count(&self, state: &mut MachineState, event: &Event) {
        for counter in &self.spec.counters {
            if counter.counts.matches(&event.kind) {
                let n = state.counters.entry(counter.name.clone()).or_insert(0);
                *n = n.saturating_add(1);
            }
        }
    }

    /// Moves `state` along transition `t` at `at` and records it.
    fn enter(
        &self,
        state: &mut MachineState,
        current: usize,
        t: usize,
        at: DateTime<Utc>,
        cause: Cause,
    ) -> MachineTransition {
        let to = self.spec.states[self.targets[t]].clone();
        let moved = MachineTransition {
            from: self.spec.states[current].clone(),
            to: to.clone(),
            at,
            cause,
        };
        state.current = to;
        state.since = at;
        let limit = usize::from(self.spec.history_limit);
        let dropped = bounded::make_room(&mut state.history, 1, limit);
        state.history_dropped = state.history_dropped.saturating_add(dropped as u64);
        state.history.push(moved.clone());
        moved
    }
}

// ---------------------------------------------------------------------------
// Validation, one concern per function.
// ---------------------------------------------------------------------------

fn index_states(states: &[Label]) -> Result<BTreeMap<Label, usize>, MachineError> {
    if states.is_empty() {
        return Err(MachineError::NoStates);
    }
    let mut index = BTreeMap::new();
    for (i, name) in states.iter().enumerate() {
        if name.as_str().is_empty() || name.as_str() == "*" {
            return Err(MachineError::InvalidStateName { name: name.clone() });
        }
        if index.insert(name.clone(), i).is_some() {
            return Err(MachineError::DuplicateState { name: name.clone() });
        }
    }
    Ok(index)
}

fn check_counters(counters: &[CounterSpec]) -> Result<BTreeMap<Label, &KindPattern>, MachineError> {
    let mut names = BTreeMap::new();
    for counter in counters {
        if names
            .insert(counter.name.clone(), &counter.counts)
            .is_some()
        {
            return Err(MachineError::DuplicateCounter {
                name: counter.name.clone(),
            });
        }
    }
    // A pattern the JSON reader would refuse: what validates reads back.
    for (index, counter) in counters.iter().enumerate() {
        counter
            .counts
            .check()
            .map_err(|error| MachineError::InvalidCounterPattern {
                index,
                name: counter.name.clone(),
                error,
            })?;
    }
    Ok(names)
}

/// Checks one transition alone; returns its source states (sorted, each
/// once) and its target.
fn check_transition(
    i: usize,
    spec: &TransitionSpec,
    index: &BTreeMap<Label, usize>,
    counters: &BTreeMap<Label, &KindPattern>,
) -> Result<(Vec<usize>, usize), MachineError> {
    let here = || TransitionRef::of(i, spec);
    let to = *index
        .get(&spec.to)
        .ok_or_else(|| MachineError::UnknownState {
            transition: here(),
            field: StateField::To,
            name: spec.to.clone(),
        })?;
    let from: Vec<usize> = match &spec.from {
        Sources::Any => (0..index.len()).filter(|&s| s != to).collect(),
        Sources::List(names) => {
            let mut from = BTreeSet::new();
            for name in names {
                let s = *index.get(name).ok_or_else(|| MachineError::UnknownState {
                    transition: here(),
                    field: StateField::From,
                    name: name.clone(),
                })?;
                from.insert(s);
            }
            // Every name is known before the target among them is a
            // self-loop: states are checked first.
            if from.contains(&to) {
                return Err(MachineError::SelfLoop { transition: here() });
            }
            from.into_iter().collect()
        }
    };
    if from.is_empty() {
        return Err(MachineError::NoSources { transition: here() });
    }
    if let Trigger::Event(on) = &spec.on {
        on.check().map_err(|error| MachineError::InvalidTrigger {
            transition: here(),
            error,
        })?;
    }
    if matches!(spec.on, Trigger::IdleDays(0) | Trigger::DaysInState(0)) {
        return Err(MachineError::ZeroDays { transition: here() });
    }
    for (counter, range) in &spec.guard {
        let Some(&counts) = counters.get(counter) else {
            return Err(MachineError::UnknownCounter {
                transition: here(),
                counter: counter.clone(),
            });
        };
        // The event is counted before guards are read: a counter of every
        // event that fires the transition is at least 1 by then.
        if let Trigger::Event(on) = &spec.on
            && range.high() == 0
            && counts.covers(on)
        {
            return Err(MachineError::GuardExcludesItsEvent {
                transition: here(),
                counter: counter.clone(),
            });
        }
        if range.is_empty() {
            return Err(MachineError::EmptyGuard {
                transition: here(),
                counter: counter.clone(),
                min: range.low(),
                max: range.high(),
            });
        }
    }
    Ok((from, to))
}

/// Whether a guard holds whatever the counts: it names no counter, or only
/// ranges that admit every count (`{}`, `{"min": 0}`, ...). Such a timeout
/// is unguarded, as far as which one falls due first is concerned.
fn always_holds(guard: &Guard) -> bool {
    guard
        .values()
        .all(|range| range.low() == 0 && range.high() == u64::MAX)
}

fn guards_intersect(a: &Guard, b: &Guard) -> bool {
    let range = |g: &Guard, name: &Label| g.get(name).copied().unwrap_or(CountRange::ANY);
    a.keys()
        .chain(b.keys())
        .all(|name| range(a, name).intersects(range(b, name)))
}

/// The first state in both sorted lists, if any.
fn common_state(a: &[usize], b: &[usize]) -> Option<usize> {
    let (mut i, mut j) = (0, 0);
    while let (Some(&x), Some(&y)) = (a.get(i), b.get(j)) {
        match x.cmp(&y) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => return Some(x),
        }
    }
    None
}

fn check_ambiguity(spec: &MachineSpec, sources: &[Vec<usize>]) -> Result<(), MachineError> {
    let all = &spec.transitions;
    for (i, a) in all.iter().enumerate() {
        for (j, b) in all.iter().enumerate().skip(i + 1) {
            if !a.on.collides_with(&b.on) || !guards_intersect(&a.guard, &b.guard) {
                continue;
            }
            if let Some(s) = common_state(&sources[i], &sources[j]) {
                return Err(MachineError::Ambiguous {
                    first: TransitionRef::of(i, a),
                    second: TransitionRef::of(j, b),
                    state: spec.states[s].clone(),
                });
            }
        }
    }
    Ok(())
}

/// How many idle-day counts on arrival [`check_timeout_ties`] follows one
/// by one per state: far more than any real definition makes (only idle
/// timeouts longer than this many days leave room for more), and a bound
/// on the work a hostile one can ask for. Past it, the state is taken to
/// be reached idle for every count from the smallest on (see
/// [`Arrivals`]).
const MAX_ARRIVALS: usize = 4096;

/// The idle days on arrival [`check_timeout_ties`] follows for a state:
/// each of `counts`, and every count from `from` on (below the longest idle
/// timeout), once there were too many to follow one by one.
#[derive(Clone, Default)]
struct Arrivals {
    counts: BTreeSet<u64>,
    from: Option<u64>,
}

impl Arrivals {
    /// Adds one count (ignored at or past `longest`: no such arrival ties).
    fn enter(&mut self, idle: u64, longest: u64) {
        if idle >= longest || self.from.is_some_and(|from| idle >= from) {
            return;
        }
        self.counts.insert(idle);
        if self.counts.len() > MAX_ARRIVALS {
            // Too many to follow one by one: every count from the
            // smallest on, which covers each of them (and more).
            if let Some(&lowest) = self.counts.first() {
                self.enter_from(lowest, longest);
            }
        }
    }

    /// Adds every count from `idle` on.
    fn enter_from(&mut self, idle: u64, longest: u64) {
        if idle >= longest {
            return;
        }
        let from = self.from.map_or(idle, |from| from.min(idle));
        self.from = Some(from);
        self.counts.retain(|&o| o < from);
    }
}

/// Two timeouts of a state that fall due at the same instant, from the same
/// deadline, for a user who arrives idle for some days and then stays
/// quiet: for every such user only declaration order would choose between
/// them (as for two timeouts of the same length, see
/// [`Trigger::collides_with`]). Arriving on an event (or as a new user) is
/// arriving idle for 0 days; on a timeout, idle for as long as the quiet
/// path that led there, which starts at the user's last activity: on an
/// event that entered a state, or anywhere on the way. Measured in days
/// from the last activity, a state reached idle for `o` has `idle_days: a`
/// due at `max(a, o)` (already idle
/// that long, it fires on arrival) from the deadline `a`, and
/// `days_in_state: b` due at `o + b` from the deadline `o + b`, as
/// [`Machine::tick`] orders them; so an idle and a days-in-state timeout tie
/// when `a = o + b`. Only the timeouts that can fire first are followed
/// and compared: a timeout due after an unguarded one never fires for a
/// quiet user. A state reached idle for too many counts to follow one by
/// one is taken to be reached idle for every count from the smallest on:
/// its ties are looked for at each `a − b` from there, and every timeout
/// leaving it passes such a range on, so that no tie is missed (at worst,
/// for such a hostile definition, one no user meets is reported). Run
/// after [`check_timeout_cycles`], so the timeouts form no cycle.
fn check_timeout_ties(
    spec: &MachineSpec,
    initial: usize,
    sources: &[Vec<usize>],
    targets: &[usize],
) -> Result<(), MachineError> {
    let idle_lengths = spec.transitions.iter().filter_map(|t| match t.on {
        Trigger::IdleDays(days) => Some(days),
        _ => None,
    });
    // Only arrivals idle for less than some idle timeout can tie, and every
    // later arrival on a quiet path is idle for at least as long.
    let Some(longest_idle) = idle_lengths.max() else {
        return Ok(());
    };
    let longest = u64::from(longest_idle);
    let states = spec.states.len();
    let mut arrivals = vec![Arrivals::default(); states];
    arrivals[initial].enter(0, longest);
    for (t, &to) in spec.transitions.iter().zip(targets) {
        if !t.on.is_timeout() {
            arrivals[to].enter(0, longest);
        }
    }
    let mut leaving: Vec<Vec<usize>> = vec![Vec::new(); states];
    let mut entering = vec![0usize; states];
    for (t, from) in sources.iter().enumerate() {
        if spec.transitions[t].on.is_timeout() {
            for &s in from {
                leaving[s].push(t);
                entering[targets[t]] += 1;
            }
        }
    }
    // When timeout `t` is due for a user who arrived idle for `o` days:
    // (at, deadline) in days from the last activity.
    let due = |t: usize, o: u64| match spec.transitions[t].on {
        Trigger::IdleDays(a) => (u64::from(a).max(o), u64::from(a)),
        Trigger::DaysInState(b) => (o + u64::from(b), o + u64::from(b)),
        Trigger::Event(_) => (u64::MAX, u64::MAX),
    };
    // A quiet path need not start on an event: it starts at the user's last
    // activity, wherever that was. An idle timeout then brings exactly its
    // own days to a user active recently enough, however they arrived (any
    // of a span of instants of activity does), so its target is reached
    // idle for exactly that many days whenever the timeout can fire for a
    // user idle no longer than it, from the most idle any arrival brings
    // (as [`never_fires`] proves it dead otherwise). And a guarded
    // days-in-state timeout that was waiting for an event to make its
    // guard hold fires at that event, idle for none.
    let everything = leaving_where(states, sources, |_, _| true);
    let most_idle = most_idle_on_entry(spec, initial, targets, &everything);
    for (s, out) in leaving.iter().enumerate() {
        let Some(most_idle) = most_idle[s] else {
            continue;
        };
        for &t in out {
            let transition = &spec.transitions[t];
            match transition.on {
                Trigger::IdleDays(c) => {
                    let o = most_idle.min(u64::from(c));
                    let first = out
                        .iter()
                        .filter(|&&u| always_holds(&spec.transitions[u].guard))
                        .map(|&u| due(u, o))
                        .min();
                    if first.is_none_or(|first| due(t, o) <= first) {
                        arrivals[targets[t]].enter(u64::from(c), longest);
                    }
                }
                Trigger::DaysInState(_)
                    if transition.guard.values().any(|range| range.low() > 0) =>
                {
                    arrivals[targets[t]].enter(0, longest);
                }
                _ => {}
            }
        }
    }
    // Through the states in an order where every timeout leads onward
    // (Kahn's), each arrival down the timeouts that can fire first.
    let mut ready: Vec<usize> = (0..states).filter(|&s| entering[s] == 0).collect();
    while let Some(s) = ready.pop() {
        let Arrivals { mut counts, from } = std::mem::take(&mut arrivals[s]);
        if let Some(from) = from {
            // Every count from `from` on: the ones at which an idle and a
            // days-in-state timeout of the state can tie are looked at one
            // by one, and the rest passed on as a range.
            for &i in &leaving[s] {
                for &j in &leaving[s] {
                    if let (Trigger::IdleDays(a), Trigger::DaysInState(b)) =
                        (&spec.transitions[i].on, &spec.transitions[j].on)
                        && let Some(o) = a.checked_sub(*b).map(u64::from)
                        && o >= from
                    {
                        counts.insert(o);
                    }
                }
            }
            for &t in &leaving[s] {
                let on = &spec.transitions[t].on;
                arrivals[targets[t]].enter_from(on.idle_on_arrival(from), longest);
            }
        }
        for &o in &counts {
            // Not after the first unguarded one (a tie with it included).
            let limit = leaving[s]
                .iter()
                .filter(|&&t| always_holds(&spec.transitions[t].guard))
                .map(|&t| due(t, o))
                .min();
            let can_fire: Vec<usize> = leaving[s]
                .iter()
                .copied()
                .filter(|&t| limit.is_none_or(|l| due(t, o) <= l))
                .collect();
            for (k, &i) in can_fire.iter().enumerate() {
                for &j in &can_fire[k + 1..] {
                    let (a, b) = (&spec.transitions[i], &spec.transitions[j]);
                    if due(i, o) == due(j, o) && guards_intersect(&a.guard, &b.guard) {
                        let (first, second) = (i.min(j), i.max(j));
                        return Err(MachineError::Ambiguous {
                            first: TransitionRef::of(first, &spec.transitions[first]),
                            second: TransitionRef::of(second, &spec.transitions[second]),
                            state: spec.states[s].clone(),
                        });
                    }
                }
                let on = &spec.transitions[i].on;
                if !on.is_timeout() {
                    continue;
                }
                arrivals[targets[i]].enter(on.idle_on_arrival(o), longest);
            }
        }
        for &t in &leaving[s] {
            let to = targets[t];
            entering[to] -= 1;
            if entering[to] == 0 {
                ready.push(to);
            }
        }
    }
    Ok(())
}

fn check_timeout_cycles(
    spec: &MachineSpec,
    sources: &[Vec<usize>],
    targets: &[usize],
) -> Result<(), MachineError> {
    let edges = spec
        .transitions
        .iter()
        .zip(sources.iter().zip(targets))
        .filter(|(t, _)| t.on.is_timeout())
        .flat_map(|(_, (from, &to))| from.iter().map(move |&s| (s, to)));
    match find_cycle(spec.states.len(), edges) {
        None => Ok(()),
        Some(cycle) => Err(MachineError::TimeoutCycle {
            states: cycle.into_iter().map(|s| spec.states[s].clone()).collect(),
        }),
    }
}

/// A cycle in a directed graph, as its nodes in order, if there is one.
///
/// Peels off nodes with no way forward (Kahn's algorithm run backwards);
/// every node left has an edge to another node left, so walking those edges
/// from any of them must come back around. Iterative, so a huge spec cannot
/// exhaust the stack.
fn find_cycle(nodes: usize, edges: impl Iterator<Item = (usize, usize)>) -> Option<Vec<usize>> {
    let mut out = vec![Vec::new(); nodes];
    let mut into = vec![Vec::new(); nodes];
    for (a, b) in edges {
        out[a].push(b);
        into[b].push(a);
    }
    let mut onward: Vec<usize> = out.iter().map(Vec::len).collect();
    let mut stuck: Vec<usize> = (0..nodes).filter(|&v| onward[v] == 0).collect();
    let mut removed = vec![false; nodes];
    while let Some(v) = stuck.pop() {
        removed[v] = true;
        for &u in &into[v] {
            onward[u] = onward[u].saturating_sub(1);
            if onward[u] == 0 {
                stuck.push(u);
            }
        }
    }
    let mut at = (0..nodes).find(|&v| !removed[v])?;
    let mut position = vec![None; nodes];
    let mut path = Vec::new();
    loop {
        if let Some(p) = position[at] {
            return Some(path.split_off(p));
        }
        position[at] = Some(path.len());
        path.push(at);
        at = out[at].iter().copied().find(|&w| !removed[w])?;
    }
}

/// The states `seen` (by index) leaves out, in declaration order.
fn unseen(spec: &MachineSpec, seen: &[bool]) -> Vec<Label> {
    spec.states
        .iter()
        .zip(seen)
        .filter(|(_, seen)| !**seen)
        .map(|(name, _)| name.clone())
        .collect()
}

fn check_reachable(
    spec: &MachineSpec,
    initial: usize,
    sources: &[Vec<usize>],
    targets: &[usize],
) -> Result<(), MachineError> {
    let no_dead: Vec<Vec<Option<DeadReason>>> =
        sources.iter().map(|from| vec![None; from.len()]).collect();
    let leaving = live_leaving(spec.states.len(), sources, &no_dead);
    let unreachable = unseen(spec, &reached(initial, &leaving, targets));
    if unreachable.is_empty() {
        Ok(())
    } else {
        Err(MachineError::Unreachable {
            initial: spec.initial.clone(),
            states: unreachable,
        })
    }
}

/// Rejects states that only transitions that can never fire lead to (see
/// [`MachineError::DeadTransition`]). Run after [`check_reachable`] (so a
/// transition leads to every state), [`check_ambiguity`] (so no two
/// timeouts of a state have the same length and guards that overlap) and
/// [`check_timeout_cycles`].
///
/// A transition is discarded from a state only when [`never_fires`] proves
/// it can never fire there. What it can prove depends on how users arrive,
/// which depends on the transitions that can fire, so discarding repeats
/// until a round finds nothing; every round discards at least one
/// (transition, state) pair, so there are at most as many rounds as pairs.
/// Only validation discards: the machine keeps every transition, and one
/// that can never fire simply never does.
fn check_live_reachable(
    spec: &MachineSpec,
    initial: usize,
    sources: &[Vec<usize>],
    targets: &[usize],
) -> Result<(), MachineError> {
    let mut dead: Vec<Vec<Option<DeadReason>>> =
        sources.iter().map(|from| vec![None; from.len()]).collect();
    let leaving = loop {
        let leaving = live_leaving(spec.states.len(), sources, &dead);
        let idle = most_idle_on_entry(spec, initial, targets, &leaving);
        let floors = least_counts_on_entry(spec, initial, targets, &leaving);
        let mut found = false;
        for (t, from) in sources.iter().enumerate() {
            for (k, &s) in from.iter().enumerate() {
                if dead[t][k].is_none()
                    && let Some(reason) = never_fires(spec, sources, t, s, &idle, &floors)
                {
                    dead[t][k] = Some(reason);
                    found = true;
                }
            }
        }
        if !found {
            break leaving;
        }
    };
    let seen = reached(initial, &leaving, targets);
    let states = unseen(spec, &seen);
    if states.is_empty() {
        return Ok(());
    }
    // Some transition leads to every state (checked before), so one on a
    // path to an unreached state leaves a reached state for an unreached
    // one: it is one that can never fire.
    let culprit = sources.iter().enumerate().find_map(|(t, from)| {
        from.iter().zip(&dead[t]).find_map(|(&s, reason)| {
            let reason = reason.as_ref()?;
            (seen[s] && !seen[targets[t]]).then(|| (t, s, reason.clone()))
        })
    });
    Err(match culprit {
        Some((t, s, reason)) => MachineError::DeadTransition {
            transition: TransitionRef::of(t, &spec.transitions[t]),
            state: spec.states[s].clone(),
            reason: Box::new(reason),
            initial: spec.initial.clone(),
            states,
        },
        None => MachineError::Unreachable {
            initial: spec.initial.clone(),
            states,
        },
    })
}

/// Which states (by index) `initial` reaches through the transitions
/// `leaving` each state (see [`live_leaving`]), whose targets are `targets`.
fn reached(initial: usize, leaving: &[Vec<usize>], targets: &[usize]) -> Vec<bool> {
    let mut seen = vec![false; leaving.len()];
    seen[initial] = true;
    let mut queue = VecDeque::from([initial]);
    while let Some(s) = queue.pop_front() {
        for &t in &leaving[s] {
            let to = targets[t];
            if !seen[to] {
                seen[to] = true;
                queue.push_back(to);
            }
        }
    }
    seen
}

/// Per state, the transitions leaving it that are not known to be dead
/// there.
fn live_leaving(
    states: usize,
    sources: &[Vec<usize>],
    dead: &[Vec<Option<DeadReason>>],
) -> Vec<Vec<usize>> {
    leaving_where(states, sources, |t, k| {
        dead.get(t)
            .and_then(|reasons| reasons.get(k))
            .is_some_and(Option::is_none)
    })
}

/// Per state, the transitions leaving it that `keep` keeps: `keep(t, k)`
/// for transition `t` from its `k`-th source.
fn leaving_where(
    states: usize,
    sources: &[Vec<usize>],
    keep: impl Fn(usize, usize) -> bool,
) -> Vec<Vec<usize>> {
    let mut leaving = vec![Vec::new(); states];
    for (t, from) in sources.iter().enumerate() {
        for (k, &s) in from.iter().enumerate() {
            if keep(t, k) {
                leaving[s].push(t);
            }
        }
    }
    leaving
}

/// Whether transition `t` provably can never fire from state `s`, and why.
/// `idle` and `floors` are [`most_idle_on_entry`] and
/// [`least_counts_on_entry`]; a state they do not reach proves nothing.
///
/// - **Shadowed timeouts.** An unguarded timeout is a candidate every time
///   [`Machine::tick`] picks among the state's timeouts, and the earliest
///   (then the earliest deadline) fires, so a timeout always due strictly
///   after it never fires. Of the same kind, a shorter one always is: both
///   count from the same instant (the last activity, or the entry). A
///   `days_in_state: b` is due `b` days after the entry, and an
///   `idle_days: a` at least `a − o` days after it, for a user who arrived
///   idle for `o` days (activity there only postpones it): so when
///   `o + b < a` for the most idle days `o` any arrival brings, the idle
///   one never fires. The converse is not proved: activity postpones an
///   idle timeout without end, so it never shadows a days-in-state one.
///   Equal lengths are [`MachineError::Ambiguous`], checked before, and
///   `o + b = a` is left alone: deadlines that meet go by declaration.
/// - **Guards that can no longer hold.** Counters only grow, so a guard
///   whose `max` is below the least count a counter can have on entering
///   `s` (plus one if `t`'s own event is counted by it, as it is before
///   guards are read) never holds there.
fn never_fires(
    spec: &MachineSpec,
    sources: &[Vec<usize>],
    t: usize,
    s: usize,
    idle: &[Option<u64>],
    floors: &BTreeMap<&Label, (&KindPattern, Vec<Option<u64>>)>,
) -> Option<DeadReason> {
    let transition = &spec.transitions[t];
    for (counter, range) in &transition.guard {
        let (Some(max), Some((counts, floor))) = (range.max, floors.get(counter)) else {
            continue;
        };
        let Some(least) = floor[s] else {
            continue;
        };
        let least = transition.on.counted_with(counts, least);
        if max < least {
            return Some(DeadReason::GuardNeverHolds {
                counter: counter.clone(),
                max,
                least,
            });
        }
    }
    // u64::MAX: arrivals idle for any number of days.
    let most_idle = idle[s]?;
    spec.transitions
        .iter()
        .enumerate()
        .filter(|&(u, other)| {
            u != t && always_holds(&other.guard) && sources[u].binary_search(&s).is_ok()
        })
        .find(|(_, other)| match (&other.on, &transition.on) {
            (Trigger::IdleDays(short), Trigger::IdleDays(long))
            | (Trigger::DaysInState(short), Trigger::DaysInState(long)) => short < long,
            (Trigger::DaysInState(b), Trigger::IdleDays(a)) => most_idle
                .checked_add(u64::from(*b))
                .is_some_and(|due| due < u64::from(*a)),
            _ => false,
        })
        .map(|(u, other)| DeadReason::Shadowed {
            by: TransitionRef::of(u, other),
        })
}

/// Per state, the most idle days a user can have on entering it along the
/// transitions in `leaving` (`None`: not reached; `u64::MAX`: no bound),
/// as a bound that holds for every user, not only quiet ones.
///
/// A new user starts idle for 0 days. Entering along `idle_days: c` from a
/// state entered idle for `o` makes a user idle for at most `max(c, o)`
/// (exactly `c` if active since, `o` if the timeout was due on arrival);
/// along `days_in_state: d`, for at most `o + d`. Along an event, for at
/// most `o`: the event's own time is the newest activity unless it is a
/// late one, and a late event is stamped at the state's entry at the
/// earliest, so the idle days on arrival never exceed those on entering the
/// state it leaves. Such late events let a loop through a days-in-state
/// timeout and back on an event add days on every turn: states on or after
/// such a loop have no bound. Otherwise, within a strongly connected group
/// every state reaches every other along steps that never lower the bound,
/// so all share it.
fn most_idle_on_entry(
    spec: &MachineSpec,
    initial: usize,
    targets: &[usize],
    leaving: &[Vec<usize>],
) -> Vec<Option<u64>> {
    let next: Vec<Vec<usize>> = leaving
        .iter()
        .map(|out| out.iter().map(|&t| targets[t]).collect())
        .collect();
    let (component, count) = components(&next);
    let step = |t: usize, o: u64| spec.transitions[t].on.idle_on_arrival(o);
    let mut within = vec![0u64; count];
    let mut exits: Vec<Vec<usize>> = vec![Vec::new(); count];
    for (s, out) in leaving.iter().enumerate() {
        let c = component[s];
        for &t in out {
            // Within a component, a days-in-state timeout is on a loop.
            if component[targets[t]] == c {
                within[c] = within[c].max(step(t, 0));
                if matches!(spec.transitions[t].on, Trigger::DaysInState(_)) {
                    within[c] = u64::MAX;
                }
            } else {
                exits[c].push(t);
            }
        }
    }
    let mut bound: Vec<Option<u64>> = vec![None; count];
    bound[component[initial]] = Some(0);
    // Components are numbered so that every transition leads to the same
    // or a later one: each is final before any it leads to is looked at.
    for c in 0..count {
        let Some(o) = bound[c] else {
            continue;
        };
        let o = o.max(within[c]);
        bound[c] = Some(o);
        for &t in &exits[c] {
            let to = component[targets[t]];
            let arrival = step(t, o);
            bound[to] = Some(bound[to].map_or(arrival, |b| b.max(arrival)));
        }
    }
    component.iter().map(|&c| bound[c]).collect()
}

/// The strongly connected components of a directed graph (`next[v]`: the
/// nodes `v` has an edge to): each node's component, and how many there
/// are. Numbered so that every edge leads to the same or a later component
/// (Kosaraju's algorithm: the reversed graph searched in reverse finishing
/// order). Iterative, so a huge spec cannot exhaust the stack.
fn components(next: &[Vec<usize>]) -> (Vec<usize>, usize) {
    let nodes = next.len();
    let mut finished = Vec::with_capacity(nodes);
    let mut visited = vec![false; nodes];
    for root in 0..nodes {
        if visited[root] {
            continue;
        }
        visited[root] = true;
        let mut stack = vec![(root, 0)];
        while let Some(top) = stack.last_mut() {
            let (v, i) = *top;
            if let Some(&w) = next[v].get(i) {
                top.1 += 1;
                if !visited[w] {
                    visited[w] = true;
                    stack.push((w, 0));
                }
            } else {
                finished.push(v);
                stack.pop();
            }
        }
    }
    let mut back = vec![Vec::new(); nodes];
    for (v, out) in next.iter().enumerate() {
        for &w in out {
            back[w].push(v);
        }
    }
    let mut component = vec![usize::MAX; nodes];
    let mut count = 0;
    for &root in finished.iter().rev() {
        if component[root] != usize::MAX {
            continue;
        }
        component[root] = count;
        let mut stack = vec![root];
        while let Some(v) = stack.pop() {
            for &u in &back[v] {
                if component[u] == usize::MAX {
                    component[u] = count;
                    stack.push(u);
                }
            }
        }
        count += 1;
    }
    (component, count)
}

/// For each counter some guard caps with a `max`: its pattern and, per
/// state, the least count it can have on entering the state along the
/// transitions in `leaving` (`None`: not reached).
///
/// A new user starts at 0. Entering along a transition from a state entered
/// with at least `n`, the count is at least `n`, plus one if the transition
/// is an event the counter counts (counted after the state was entered,
/// before the guard is read), and at least the guard's `min`. Every step
/// keeps or raises the count, so a loop never lowers it and the least
/// counts are found as shortest paths are (Dijkstra's algorithm).
fn least_counts_on_entry<'s>(
    spec: &'s MachineSpec,
    initial: usize,
    targets: &[usize],
    leaving: &[Vec<usize>],
) -> BTreeMap<&'s Label, (&'s KindPattern, Vec<Option<u64>>)> {
    let capped: BTreeSet<&Label> = spec
        .transitions
        .iter()
        .flat_map(|t| &t.guard)
        .filter(|(_, range)| range.max.is_some())
        .map(|(name, _)| name)
        .collect();
    let mut floors = BTreeMap::new();
    for counter in spec.counters.iter().filter(|c| capped.contains(&c.name)) {
        let step = |t: usize, n: u64| {
            let transition = &spec.transitions[t];
            let n = transition.on.counted_with(&counter.counts, n);
            transition
                .guard
                .get(&counter.name)
                .map_or(n, |range| n.max(range.low()))
        };
        let mut least: Vec<Option<u64>> = vec![None; spec.states.len()];
        least[initial] = Some(0);
        let mut queue = BinaryHeap::from([Reverse((0, initial))]);
        while let Some(Reverse((n, s))) = queue.pop() {
            if least[s].is_some_and(|best| best < n) {
                continue;
            }
            for &t in &leaving[s] {
                let to = targets[t];
                let arrival = step(t, n);
                if least[to].is_none_or(|best| arrival < best) {
                    least[to] = Some(arrival);
                    queue.push(Reverse((arrival, to)));
                }
            }
        }
        floors.insert(&counter.name, (&counter.counts, least));
    }
    floors
}

#[cfg(test)]
mod tests {
    #[test]
    fn values_the_reader_refuses_name_their_field_and_place() {
        let err = |json: &str| {
            serde_json::from_str::<super::MachineSpec>(json)
                .unwrap_err()
                .to_string()
        };
        let base = r#""states": ["a", "b"], "initial": "a""#;
        let e = err(&format!(r#"{{{base}, "history_limit": -1}}"#));
        assert!(
            e.starts_with("field `history_limit`: invalid value: integer `-1`"),
            "{e}"
        );
        let e = err(&format!(
            r#"{{{base}, "transitions": [{{"from": "*", "to": "b", "on": {{"event": "*"}}}},
                {{"from": ["a"], "to": "b", "on": {{"event": "bought"}}}}]}}"#
        ));
        assert!(e.starts_with("transitions[1]: field `on`: "), "{e}");
        let e = err(&format!(
            r#"{{{base}, "counters": [{{"name": "n", "count": "*"}}]}}"#
        ));
        assert!(e.starts_with("counters[0]: unknown field `count`"), "{e}");
        let e = err(r#"{"states": ["a", 3], "initial": "a"}"#);
        assert!(e.starts_with("states[1]: "), "{e}");
        // A required field left out is still named as missing.
        let e = err(r#"{"states": ["a"]}"#);
        assert!(e.starts_with("missing field `initial`"), "{e}");
        // Defaults still apply.
        let spec: super::MachineSpec = serde_json::from_str(&format!("{{{base}}}")).unwrap();
        assert_eq!(spec.history_limit, 64);
    }

    use super::*;
    use crate::event::EventKind;
    use crate::id::UserId;
    use chrono::TimeZone;

    const LEARNING: &str = r#"{
        "states": ["new", "engaged", "lapsed", "dormant"],
        "initial": "new",
        "counters": [{ "name": "lessons", "counts": "action_completed:lesson" }],
        "transitions": [
            { "from": ["new"], "to": "engaged", "on": { "event": "action_completed:lesson" },
              "guard": { "lessons": { "min": 3 } } },
            { "from": ["new", "engaged"], "to": "lapsed", "on": { "idle_days": 14 } },
            { "from": ["lapsed"], "to": "dormant", "on": { "idle_days": 30 } },
            { "from": ["lapsed", "dormant"], "to": "engaged", "on": { "event": "visited" } }
        ]
    }"#;

    fn spec(json: &str) -> MachineSpec {
        serde_json::from_str(json).unwrap()
    }

    fn learning() -> Machine {
        Machine::new(spec(LEARNING)).unwrap()
    }

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap()
    }

    fn day(d: i64) -> DateTime<Utc> {
        t0() + TimeDelta::days(d)
    }

    fn event(id: u64, at: DateTime<Utc>, kind: EventKind) -> Event {
        Event::new(EventId(id), UserId(1), at, kind)
    }

    fn lesson(id: u64, at: DateTime<Utc>) -> Event {
        let kind = EventKind::ActionCompleted {
            action: "lesson".into(),
        };
        event(id, at, kind)
    }

    fn visit(id: u64, at: DateTime<Utc>) -> Event {
        event(id, at, EventKind::Visited)
    }

    #[test]
    fn a_guard_that_excludes_its_own_event_is_rejected() {
        // `visits` counts the visit that fires the move before the guard is
        // read: `max: 0` never holds.
        let json = |counts: &str, on: &str| {
            format!(
                r#"{{"states":["a","b"],"initial":"a",
                    "counters":[{{"name":"visits","counts":"{counts}"}}],
                    "transitions":[{{"from":["a"],"to":"b","on":{{"event":"{on}"}},
                                    "guard":{{"visits":{{"max":0}}}}}}]}}"#
            )
        };
        let build = |counts: &str, on: &str| {
            let spec: MachineSpec =
                serde_json::from_str(&json(counts, on)).unwrap_or_else(|e| unreachable!("{e}"));
            Machine::new(spec)
        };
        for (counts, on) in [
            ("visited", "visited"),
            ("*", "visited"),
            ("custom", "custom:quiz"),
        ] {
            let err = build(counts, on).err();
            assert!(
                matches!(&err, Some(MachineError::GuardExcludesItsEvent { counter, .. }) if counter.as_str() == "visits"),
                "{counts} / {on}: {err:?}"
            );
            assert!(err.is_some_and(|e| e.to_string().contains("can never fire")));
        }
        // A counter of other events, or of only some of the firing ones,
        // can still be 0 when it fires.
        for (counts, on) in [
            ("check_in", "visited"),
            ("custom:quiz", "custom"),
            ("visited", "*"),
        ] {
            assert!(build(counts, on).is_ok(), "{counts} / {on}");
        }
    }

    #[test]
    fn a_guarded_timeout_is_not_dated_before_the_event_that_let_it_fire() {
        // Seven days in `a` move to `b`, once one visit is counted. The
        // visit comes on day 10 and the next tick on day 11: the move is
        // made then, dated at the visit, not back on day 7.
        let spec: MachineSpec = serde_json::from_str(
            r#"{"states":["a","b"],"initial":"a",
                "counters":[{"name":"n","counts":"visited"}],
                "transitions":[{"from":["a"],"to":"b","on":{"days_in_state":7},
                                "guard":{"n":{"min":1}}}]}"#,
        )
        .unwrap();
        let m = Machine::new(spec).unwrap();
        let mut s = m.start(day(0));
        assert!(m.tick(&mut s, day(9)).unwrap().is_empty());
        m.apply(&mut s, &visit(1, day(10))).unwrap();
        let moved = m.tick(&mut s, day(11)).unwrap();
        assert_eq!(moved.len(), 1);
        assert_eq!((moved[0].to.as_str(), moved[0].at), ("b", day(10)));
        assert_eq!(s.since, day(10));
    }

    #[test]
    fn history_keeps_the_newest_and_counts_the_rest() {
        let m = edited(|s| s.history_limit = 2).unwrap();
        let mut s = m.start(day(0));
        for (id, d) in [(1, 0), (2, 1), (3, 2)] {
            m.apply(&mut s, &lesson(id, day(d))).unwrap();
        }
        // engaged, then lapsed and dormant: three moves, two kept.
        m.tick(&mut s, day(100)).unwrap();
        let kept: Vec<&str> = s.history.iter().map(|t| t.to.as_str()).collect();
        assert_eq!(kept, ["lapsed", "dormant"]);
        assert_eq!(s.history_dropped, 1);
        for (field, zero) in [
            (
                "dedupe.horizon_hours",
                DedupeWindow {
                    horizon_hours: 0,
                    ..DedupeWindow::default()
                },
            ),
            (
                "dedupe.max_ids",
                DedupeWindow {
                    max_ids: 0,
                    ..DedupeWindow::default()
                },
            ),
        ] {
            assert_eq!(
                edited(|s| s.dedupe = zero).unwrap_err(),
                MachineError::ZeroDedupe { field }
            );
        }
        assert_eq!(
            edited(|s| s.history_limit = 0).unwrap_err(),
            MachineError::ZeroHistoryLimit
        );
    }

    /// The learning spec with one edit, validated.
    fn edited(edit: impl FnOnce(&mut MachineSpec)) -> Result<Machine, MachineError> {
        let mut s = spec(LEARNING);
        edit(&mut s);
        Machine::new(s)
    }

    fn two_states(transitions: &str) -> Result<Machine, MachineError> {
        Machine::new(spec(&format!(
            r#"{{ "states": ["a", "b", "c"], "initial": "a",
                 "counters": [{{ "name": "n", "counts": "visited" }}],
                 "transitions": {transitions} }}"#
        )))
    }

    // -- validation ----------------------------------------------------------

    #[test]
    fn the_learning_spec_is_valid_and_round_trips() {
        let machine = learning();
        assert_eq!(machine.initial().as_str(), "new");
        assert_eq!(machine.states().len(), 4);
        let json = serde_json::to_string(machine.spec()).unwrap();
        assert_eq!(spec(&json), spec(LEARNING));
        let back: Machine = serde_json::from_str(&json).unwrap();
        assert_eq!(back.spec(), machine.spec());
    }

    #[test]
    fn no_states() {
        let err = Machine::new(spec(r#"{ "states": [], "initial": "a" }"#)).unwrap_err();
        assert_eq!(err, MachineError::NoStates);
    }

    #[test]
    fn invalid_state_names() {
        for bad in ["*", ""] {
            let err = edited(|s| s.states.push(bad.into())).unwrap_err();
            assert_eq!(err, MachineError::InvalidStateName { name: bad.into() });
        }
    }

    #[test]
    fn duplicate_state() {
        let err = edited(|s| s.states.push("lapsed".into())).unwrap_err();
        assert_eq!(
            err,
            MachineError::DuplicateState {
                name: "lapsed".into()
            }
        );
        assert_eq!(err.to_string(), "state `lapsed` is declared twice");
    }

    #[test]
    fn unknown_initial() {
        let err = edited(|s| s.initial = "fresh".into()).unwrap_err();
        assert!(
            matches!(err, MachineError::UnknownInitial { ref name } if name.as_str() == "fresh")
        );
    }

    #[test]
    fn duplicate_counter() {
        let err = edited(|s| s.counters.push(s.counters[0].clone())).unwrap_err();
        assert!(matches!(err, MachineError::DuplicateCounter { .. }));
    }

    #[test]
    fn patterns_their_text_cannot_express_are_refused_by_counter_and_transition() {
        use crate::event::KindTag;
        let home = || KindPattern::Named(KindTag::Visited, "home".into());
        // Built in code, each machine would write JSON that does not read
        // back; validation refuses it as the reader would.
        let refused = |edit: &dyn Fn(&mut MachineSpec)| {
            let mut s = spec(LEARNING);
            edit(&mut s);
            let json = serde_json::to_string(&s).unwrap();
            assert!(
                serde_json::from_str::<MachineSpec>(&json).is_err(),
                "{json}"
            );
            Machine::new(s).unwrap_err()
        };
        let err = refused(&|s| s.counters[0].counts = home());
        assert_eq!(
            err,
            MachineError::InvalidCounterPattern {
                index: 0,
                name: "lessons".into(),
                error: ParseKindError::NameNotAllowed {
                    kind: KindTag::Visited,
                    text: "visited:home".into()
                },
            }
        );
        assert_eq!(
            err.to_string(),
            "counter `lessons`: `counts` is not a valid event pattern: \
             event kind `visited` carries no name, so `visited:home` can never match"
        );
        let err = refused(&|s| {
            s.transitions[3].on = Trigger::Event(KindPattern::Named(KindTag::Custom, "".into()))
        });
        assert!(
            matches!(
                err,
                MachineError::InvalidTrigger {
                    transition: TransitionRef { index: 3, .. },
                    error: ParseKindError::EmptyName { .. },
                }
            ),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "transition 3 (lapsed | dormant -> engaged): `on.event` is not a valid event \
             pattern: `custom:` has an empty name after the colon"
        );
        // Named patterns that validate read back, inside the machine.
        let mut named = spec(LEARNING);
        named.transitions[3].on =
            Trigger::Event(KindPattern::Named(KindTag::Custom, "back".into()));
        let machine = Machine::new(named).unwrap();
        let json = serde_json::to_string(&machine).unwrap();
        let back: Machine = serde_json::from_str(&json).unwrap();
        assert_eq!(back.spec(), machine.spec());
    }

    #[test]
    fn unknown_state_in_from_and_to_name_the_transition() {
        let err =
            edited(|s| s.transitions[2].from = Sources::List(vec!["lapsd".into()])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "transition 2 (lapsd -> dormant): `from` names unknown state `lapsd`"
        );
        let err = edited(|s| s.transitions[3].to = "engagd".into()).unwrap_err();
        assert!(matches!(
            err,
            MachineError::UnknownState {
                field: StateField::To,
                transition: TransitionRef { index: 3, .. },
                ..
            }
        ));
        assert!(
            err.to_string()
                .starts_with("transition 3 (lapsed | dormant -> engagd)"),
            "{err}"
        );
    }

    #[test]
    fn no_sources() {
        let err = edited(|s| s.transitions[0].from = Sources::List(vec![])).unwrap_err();
        assert!(matches!(err, MachineError::NoSources { .. }), "{err}");
        // "*" in a one-state machine leaves nothing either.
        let lonely = r#"{ "states": ["a"], "initial": "a",
            "transitions": [{ "from": "*", "to": "a", "on": { "event": "visited" } }] }"#;
        let err = Machine::new(spec(lonely)).unwrap_err();
        assert!(matches!(err, MachineError::NoSources { .. }), "{err}");
    }

    #[test]
    fn self_loop() {
        let err = edited(|s| {
            s.transitions[1].from = Sources::List(vec!["new".into(), "lapsed".into()]);
        })
        .unwrap_err();
        assert!(matches!(err, MachineError::SelfLoop { .. }), "{err}");
        assert!(err.to_string().contains("target `lapsed` itself"), "{err}");
    }

    #[test]
    fn an_unknown_source_is_reported_before_a_self_loop() {
        // States are checked before self-loops, wherever in `from` the
        // unknown name and the target are.
        for from in [["lapsed", "lapsd"], ["lapsd", "lapsed"]] {
            let err = edited(|s| {
                s.transitions[1].from = Sources::List(from.map(Label::from).to_vec());
            })
            .unwrap_err();
            assert!(
                matches!(&err, MachineError::UnknownState { field: StateField::From, name, .. }
                    if name.as_str() == "lapsd"),
                "{from:?}: {err:?}"
            );
        }
    }

    #[test]
    fn zero_days() {
        for zero in [Trigger::IdleDays(0), Trigger::DaysInState(0)] {
            let err = edited(|s| s.transitions[2].on = zero).unwrap_err();
            assert!(matches!(err, MachineError::ZeroDays { .. }), "{err}");
        }
    }

    #[test]
    fn unknown_counter_in_guard() {
        let err = edited(|s| {
            s.transitions[0]
                .guard
                .insert("quizzes".into(), CountRange::at_least(1));
        })
        .unwrap_err();
        assert!(
            matches!(err, MachineError::UnknownCounter { ref counter, .. } if counter.as_str() == "quizzes")
        );
    }

    #[test]
    fn empty_guard_range() {
        let err = edited(|s| {
            s.transitions[0]
                .guard
                .insert("lessons".into(), CountRange::between(5, 4));
        })
        .unwrap_err();
        assert!(
            matches!(err, MachineError::EmptyGuard { min: 5, max: 4, .. }),
            "{err}"
        );
        // A single-point range is fine.
        edited(|s| {
            s.transitions[0]
                .guard
                .insert("lessons".into(), CountRange::between(4, 4));
        })
        .unwrap();
    }

    #[test]
    fn idle_and_in_state_timeouts_that_fall_due_together_after_a_quiet_path_are_ambiguous() {
        let machine = |transitions: &str| {
            Machine::new(spec(&format!(
                r#"{{ "states": ["a", "b", "c", "d"], "initial": "a",
                      "counters": [{{ "name": "n", "counts": "visited" }}],
                      "transitions": {transitions} }}"#
            )))
        };
        // Every user reaches b after 3 idle days; quiet there, idle 10 and
        // 7 days in b both fall due 10 days after their last activity.
        let err = machine(
            r#"[{ "from": ["a"], "to": "b", "on": { "idle_days": 3 } },
                { "from": ["b"], "to": "c", "on": { "idle_days": 10 } },
                { "from": ["b"], "to": "d", "on": { "days_in_state": 7 } }]"#,
        )
        .map(|_| ())
        .unwrap_err();
        assert!(
            matches!(&err, MachineError::Ambiguous { first, second, state }
                if first.index == 1 && second.index == 2 && state.as_str() == "b"),
            "{err}"
        );
        // Through 2 days in a after an event: idle 2 on arrival.
        let err = machine(
            r#"[{ "from": ["a"], "to": "b", "on": { "days_in_state": 2 } },
                { "from": ["b"], "to": "c", "on": { "days_in_state": 5 } },
                { "from": ["b"], "to": "d", "on": { "idle_days": 7 } },
                { "from": ["c", "d"], "to": "a", "on": { "event": "visited" } }]"#,
        )
        .map(|_| ())
        .unwrap_err();
        assert!(matches!(err, MachineError::Ambiguous { .. }), "{err}");
        // Another difference, disjoint guards, or a quiet path whose idle
        // timeout fired on arrival at a state already idle longer: no tie.
        for ok in [
            // (Not 6: b is entered idle 3 days at most, so 6 days in b
            // would always come before 10 idle, and c be unreachable.)
            r#"[{ "from": ["a"], "to": "b", "on": { "idle_days": 3 } },
                { "from": ["b"], "to": "c", "on": { "idle_days": 10 } },
                { "from": ["b"], "to": "d", "on": { "days_in_state": 8 } }]"#,
            r#"[{ "from": ["a"], "to": "b", "on": { "idle_days": 3 } },
                { "from": ["b"], "to": "c", "on": { "idle_days": 10 }, "guard": { "n": { "max": 1 } } },
                { "from": ["b"], "to": "d", "on": { "days_in_state": 7 }, "guard": { "n": { "min": 2 } } }]"#,
            r#"[{ "from": ["a"], "to": "b", "on": { "days_in_state": 5 } },
                { "from": ["b"], "to": "c", "on": { "idle_days": 2 } },
                { "from": ["c"], "to": "d", "on": { "days_in_state": 1 } },
                { "from": ["c"], "to": "d", "on": { "idle_days": 7 } }]"#,
            // Quiet in a, the unguarded idle 3 always fires first: nobody
            // reaches b idle 5 days, so idle 10 and 5 days in b never tie.
            r#"[{ "from": ["a"], "to": "c", "on": { "idle_days": 3 } },
                { "from": ["a"], "to": "b", "on": { "days_in_state": 5 } },
                { "from": ["b"], "to": "c", "on": { "idle_days": 10 } },
                { "from": ["b"], "to": "d", "on": { "days_in_state": 5 } }]"#,
        ] {
            let built = machine(ok).map(|_| ());
            assert!(built.is_ok(), "{ok}: {built:?}");
        }
        // Guarded, the idle 3 may not hold: then b is reached idle 5.
        let err = machine(
            r#"[{ "from": ["a"], "to": "c", "on": { "idle_days": 3 }, "guard": { "n": { "min": 1 } } },
                { "from": ["a"], "to": "b", "on": { "days_in_state": 5 } },
                { "from": ["b"], "to": "c", "on": { "idle_days": 10 } },
                { "from": ["b"], "to": "d", "on": { "days_in_state": 5 } }]"#,
        )
        .map(|_| ())
        .unwrap_err();
        assert!(
            matches!(&err, MachineError::Ambiguous { first, second, state }
                if first.index == 2 && second.index == 3 && state.as_str() == "b"),
            "{err}"
        );
        // There 7 − 1 = 6 days apart, but c is reached idle 5 (the idle 2
        // fired on arrival at b, already idle 5): a 6 would tie.
        let err = machine(
            r#"[{ "from": ["a"], "to": "b", "on": { "days_in_state": 6 } },
                { "from": ["b"], "to": "c", "on": { "idle_days": 2 } },
                { "from": ["c"], "to": "d", "on": { "days_in_state": 1 } },
                { "from": ["c"], "to": "d", "on": { "idle_days": 7 } }]"#,
        )
        .map(|_| ())
        .unwrap_err();
        assert!(matches!(err, MachineError::Ambiguous { .. }), "{err}");
    }

    #[test]
    fn a_quiet_tie_behind_more_arrivals_than_are_followed_one_by_one_is_ambiguous() {
        // Thirteen stages, each left after 1 day if its counter counts
        // something and after 1 + 2^i days if not: a quiet user reaches
        // the last stage idle for any of 2^13 counts of days, 13 to 8204,
        // more than are followed one by one. One who never does anything
        // arrives idle 8204 days, and there 8205 idle days and 1 day in the
        // state fall due together.
        let stages = 13;
        let stage = |i: usize| Label::from(format!("s{i}"));
        let mut states: Vec<Label> = (0..=stages).map(stage).collect();
        states.extend(["idle".into(), "stay".into()]);
        let counters = (0..stages)
            .map(|i| CounterSpec {
                name: format!("k{i}").into(),
                counts: format!("custom:k{i}").parse().unwrap(),
            })
            .collect();
        let mut transitions = Vec::new();
        let mut slowest = 0;
        for i in 0..stages {
            let long = 1 + (1u32 << i);
            slowest += long;
            for (days, range) in [(1, CountRange::at_least(1)), (long, CountRange::at_most(0))] {
                transitions.push(TransitionSpec {
                    from: Sources::List(vec![stage(i)]),
                    to: stage(i + 1),
                    on: Trigger::DaysInState(days),
                    guard: BTreeMap::from([(format!("k{i}").into(), range)]),
                });
            }
        }
        for (to, on) in [
            ("idle", Trigger::IdleDays(slowest + 1)),
            ("stay", Trigger::DaysInState(1)),
        ] {
            transitions.push(TransitionSpec {
                from: Sources::List(vec![stage(stages)]),
                to: to.into(),
                on,
                guard: Guard::new(),
            });
        }
        let spec = MachineSpec {
            states,
            initial: "s0".into(),
            counters,
            transitions,
            dedupe: DedupeWindow::default(),
            history_limit: 64,
        };
        let err = Machine::new(spec).map(|_| ()).unwrap_err();
        assert!(
            matches!(&err, MachineError::Ambiguous { first, second, state }
                if first.index == 2 * stages && second.index == 2 * stages + 1
                    && *state == stage(stages)),
            "{err:?}"
        );
    }

    #[test]
    fn a_quiet_tie_after_activity_on_the_way_is_ambiguous() {
        let machine = |states: &str, transitions: &str| {
            Machine::new(spec(&format!(
                r#"{{ "states": {states}, "initial": "a",
                      "counters": [{{ "name": "n", "counts": "visited" }}],
                      "transitions": {transitions} }}"#
            )))
            .map(|_| ())
        };
        // A user quiet from the start reaches y idle 5 days (no tie there).
        // One who visited during the last 2 to 5 days in a leaves x after
        // exactly 3 idle days, and in y 10 idle days and 7 days in y then
        // fall due together, whenever that visit was.
        let err = machine(
            r#"["a", "x", "y", "p", "q"]"#,
            r#"[{ "from": ["a"], "to": "x", "on": { "days_in_state": 5 } },
                { "from": ["x"], "to": "y", "on": { "idle_days": 3 } },
                { "from": ["y"], "to": "p", "on": { "idle_days": 10 } },
                { "from": ["y"], "to": "q", "on": { "days_in_state": 7 } }]"#,
        )
        .unwrap_err();
        assert!(
            matches!(&err, MachineError::Ambiguous { first, second, state }
                if first.index == 2 && second.index == 3 && state.as_str() == "y"),
            "{err:?}"
        );
        // Quiet from the start, a user reaches z idle 7 days. One who
        // visits x only after its 3 days there is moved on at the visit,
        // idle for none: z is then reached idle 2 days, and 5 idle days
        // and 3 days in z fall due together.
        let err = machine(
            r#"["a", "x", "y", "z", "p", "q"]"#,
            r#"[{ "from": ["a"], "to": "x", "on": { "days_in_state": 2 } },
                { "from": ["x"], "to": "y", "on": { "days_in_state": 3 },
                  "guard": { "n": { "min": 1 } } },
                { "from": ["y"], "to": "z", "on": { "days_in_state": 2 } },
                { "from": ["z"], "to": "p", "on": { "idle_days": 5 } },
                { "from": ["z"], "to": "q", "on": { "days_in_state": 3 } }]"#,
        )
        .unwrap_err();
        assert!(
            matches!(&err, MachineError::Ambiguous { first, second, state }
                if first.index == 3 && second.index == 4 && state.as_str() == "z"),
            "{err:?}"
        );
        // An idle timeout that a shorter days-in-state one always beats
        // brings no one: 1 day in x always comes first (x is reached idle
        // for none), so z is never reached idle 3 days. (Nor, on a late
        // visit, idle more than 1 day: 10 idle days there are redundant.)
        machine(
            r#"["a", "x", "y", "z", "p", "q"]"#,
            r#"[{ "from": ["a"], "to": "p", "on": { "event": "signed_up" } },
                { "from": ["a"], "to": "x", "on": { "event": "visited" } },
                { "from": ["x"], "to": "y", "on": { "days_in_state": 1 } },
                { "from": ["x"], "to": "z", "on": { "idle_days": 3 } },
                { "from": ["y"], "to": "z", "on": { "event": "visited" } },
                { "from": ["z"], "to": "p", "on": { "idle_days": 10 } },
                { "from": ["z"], "to": "q", "on": { "days_in_state": 7 } }]"#,
        )
        .unwrap();
    }

    #[test]
    fn ambiguity_needs_a_common_state_a_colliding_trigger_and_overlapping_guards() {
        // Same pattern from the same state, no guards: ambiguous.
        let err = two_states(
            r#"[{ "from": ["a"], "to": "b", "on": { "event": "visited" } },
                { "from": "*", "to": "c", "on": { "event": "*" } }]"#,
        )
        .unwrap_err();
        assert!(
            matches!(&err, MachineError::Ambiguous { first, second, state }
                if first.index == 0 && second.index == 1 && state.as_str() == "a"),
            "{err}"
        );
        // Disjoint guards settle it; touching ones do not.
        two_states(
            r#"[{ "from": ["a"], "to": "b", "on": { "event": "visited" }, "guard": { "n": { "max": 2 } } },
                { "from": ["a"], "to": "c", "on": { "event": "visited" }, "guard": { "n": { "min": 3 } } }]"#,
        )
        .unwrap();
        let err = two_states(
            r#"[{ "from": ["a"], "to": "b", "on": { "event": "visited" }, "guard": { "n": { "max": 3 } } },
                { "from": ["a"], "to": "c", "on": { "event": "visited" }, "guard": { "n": { "min": 3 } } }]"#,
        )
        .unwrap_err();
        assert!(matches!(err, MachineError::Ambiguous { .. }), "{err}");
        // Timeouts of the same length, of either kind, tie for a user who
        // entered on an event and stayed quiet: ambiguous. Different
        // lengths are ordered by deadline.
        for (first, second) in [
            ("idle_days", "idle_days"),
            ("idle_days", "days_in_state"),
            ("days_in_state", "idle_days"),
        ] {
            let err = two_states(&format!(
                r#"[{{ "from": ["a"], "to": "b", "on": {{ "{first}": 7 }} }},
                    {{ "from": ["a"], "to": "c", "on": {{ "{second}": 7 }} }}]"#
            ))
            .unwrap_err();
            assert!(matches!(err, MachineError::Ambiguous { .. }), "{err}");
        }
        two_states(
            r#"[{ "from": ["a"], "to": "b", "on": { "idle_days": 7 } },
                { "from": ["a"], "to": "c", "on": { "days_in_state": 8 } }]"#,
        )
        .unwrap();
        // Disjoint patterns, or no common state: fine.
        two_states(
            r#"[{ "from": ["a"], "to": "b", "on": { "event": "action_completed:x" } },
                { "from": ["a", "b"], "to": "c", "on": { "event": "action_completed:y" } }]"#,
        )
        .unwrap();
        two_states(
            r#"[{ "from": ["a"], "to": "b", "on": { "event": "visited" } },
                { "from": ["b"], "to": "c", "on": { "event": "visited" } }]"#,
        )
        .unwrap();
    }

    #[test]
    fn timeout_cycle() {
        let err = two_states(
            r#"[{ "from": ["a"], "to": "b", "on": { "idle_days": 7 } },
                { "from": ["b"], "to": "c", "on": { "days_in_state": 1 } },
                { "from": ["c"], "to": "a", "on": { "idle_days": 30 } }]"#,
        )
        .unwrap_err();
        assert_eq!(
            err,
            MachineError::TimeoutCycle {
                states: vec!["a".into(), "b".into(), "c".into()]
            }
        );
        assert!(err.to_string().contains("(a -> b -> c)"), "{err}");
        // A cycle that needs an event to close is how users come back.
        two_states(
            r#"[{ "from": ["a"], "to": "b", "on": { "idle_days": 7 } },
                { "from": ["b"], "to": "c", "on": { "days_in_state": 1 } },
                { "from": ["c"], "to": "a", "on": { "event": "visited" } }]"#,
        )
        .unwrap();
    }

    #[test]
    fn unreachable_states() {
        let err = edited(|s| {
            s.states.push("churned".into());
            s.states.push("vip".into());
        })
        .unwrap_err();
        assert_eq!(
            err,
            MachineError::Unreachable {
                initial: "new".into(),
                states: vec!["churned".into(), "vip".into()]
            }
        );
        assert_eq!(
            err.to_string(),
            "no transition leads from `new` to: churned, vip"
        );
    }

    /// The three-state spec of the reviewer's probes: from `a`, `first`
    /// leads to `c` and `second` to `b`.
    fn a_to_b_or_c(first: &str, second: &str) -> Result<Machine, MachineError> {
        Machine::new(spec(&format!(
            r#"{{ "states": ["a", "b", "c"], "initial": "a",
                 "counters": [{{ "name": "n", "counts": "visited" }}],
                 "transitions": [{{ "from": ["a"], "to": "c", "on": {first} }},
                                 {{ "from": ["a"], "to": "b", "on": {second} }}] }}"#
        )))
    }

    #[test]
    fn a_state_behind_a_timeout_that_always_fires_later_is_unreachable() {
        // Unguarded, 3 days always come before 7 of the same kind; and 3
        // days in `a` before 7 idle, as a new user arrives idle for none
        // and activity only postpones the idle one.
        for (first, second) in [
            (r#"{ "days_in_state": 3 }"#, r#"{ "days_in_state": 7 }"#),
            (r#"{ "idle_days": 3 }"#, r#"{ "idle_days": 7 }"#),
            (r#"{ "days_in_state": 3 }"#, r#"{ "idle_days": 7 }"#),
        ] {
            let err = a_to_b_or_c(first, second).map(|_| ()).unwrap_err();
            let by = TransitionRef {
                index: 0,
                from: Sources::List(vec!["a".into()]),
                to: "c".into(),
            };
            assert_eq!(
                err,
                MachineError::DeadTransition {
                    transition: TransitionRef {
                        index: 1,
                        from: Sources::List(vec!["a".into()]),
                        to: "b".into(),
                    },
                    state: "a".into(),
                    reason: Box::new(DeadReason::Shadowed { by }),
                    initial: "a".into(),
                    states: vec!["b".into()],
                },
                "{first} / {second}"
            );
            assert_eq!(
                err.to_string(),
                "transition 1 (a -> b) can never fire from `a`: transition 0 (a -> c), \
                 an unguarded timeout, always falls due first; \
                 nothing else leads from `a` to: b"
            );
        }
        // What the machine does with such a spec: b is never entered.
        let spec = spec(
            r#"{ "states": ["a", "b", "c"], "initial": "a",
                 "transitions": [{ "from": ["a"], "to": "c", "on": { "days_in_state": 3 } },
                                 { "from": ["a"], "to": "b", "on": { "idle_days": 7 } }] }"#,
        );
        let m = Machine::validate(spec, false).unwrap();
        let mut s = m.start(day(0));
        m.apply(&mut s, &visit(1, day(2))).unwrap();
        let moved = m.tick(&mut s, day(100)).unwrap();
        assert_eq!(moved.len(), 1);
        assert_eq!((moved[0].to.as_str(), moved[0].at), ("c", day(3)));
    }

    #[test]
    fn a_state_behind_a_guard_its_counter_has_outgrown_is_unreachable() {
        // b is only entered on a visit, which `events` counts first: by
        // then it is at least 1, and `max: 0` never holds in b.
        let json = |counts: &str, max: u64| {
            format!(
                r#"{{ "states": ["a", "b", "c"], "initial": "a",
                     "counters": [{{ "name": "events", "counts": "{counts}" }}],
                     "transitions": [
                        {{ "from": ["a"], "to": "b", "on": {{ "event": "visited" }} }},
                        {{ "from": ["b"], "to": "c", "on": {{ "idle_days": 5 }},
                           "guard": {{ "events": {{ "max": {max} }} }} }}] }}"#
            )
        };
        let err = Machine::new(spec(&json("*", 0))).map(|_| ()).unwrap_err();
        assert!(
            matches!(&err, MachineError::DeadTransition {
                    transition: TransitionRef { index: 1, .. },
                    state,
                    reason,
                    states,
                    ..
                } if state.as_str() == "b" && *states == [Label::from("c")]
                    && matches!(&**reason, DeadReason::GuardNeverHolds { counter, max: 0, least: 1 }
                        if counter.as_str() == "events")),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "transition 1 (b -> c) can never fire from `b`: its guard allows `events` at most 0, \
             but `events` is at least 1 whenever it is read there; \
             nothing else leads from `a` to: c"
        );
        // A bound the counter can still meet, or a counter of other events.
        for ok in [json("*", 1), json("visited", 1), json("check_in", 0)] {
            let built = Machine::new(spec(&ok)).map(|_| ());
            assert!(built.is_ok(), "{ok}: {built:?}");
        }
        // Guard minimums and counted events add up along the way: b is
        // entered with at least 3 visits, and the visit that would leave
        // it is counted on top.
        let err = Machine::new(spec(
            r#"{ "states": ["a", "x", "b", "c"], "initial": "a",
                 "counters": [{ "name": "v", "counts": "visited" }],
                 "transitions": [
                    { "from": ["a"], "to": "x", "on": { "event": "visited" } },
                    { "from": ["x"], "to": "b", "on": { "event": "*" }, "guard": { "v": { "min": 3 } } },
                    { "from": ["b"], "to": "c", "on": { "event": "visited" }, "guard": { "v": { "max": 3 } } }] }"#,
        ))
        .map(|_| ())
        .unwrap_err();
        assert!(
            matches!(&err, MachineError::DeadTransition { reason, .. }
                if matches!(**reason, DeadReason::GuardNeverHolds { max: 3, least: 4, .. })),
            "{err:?}"
        );
    }

    #[test]
    fn a_guard_that_admits_every_count_does_not_guard() {
        // `{}` (or 0 to u64::MAX) is no condition: 3 days in `a` always
        // come first, and c is never entered.
        for guard in [r#"{}"#, r#"{ "min": 0, "max": 18446744073709551615 }"#] {
            let err = a_to_b_or_c(
                &format!(r#"{{ "days_in_state": 3 }}, "guard": {{ "n": {guard} }}"#),
                r#"{ "days_in_state": 7 }"#,
            )
            .map(|_| ())
            .unwrap_err();
            assert!(
                matches!(&err, MachineError::DeadTransition { reason, states, .. }
                    if matches!(&**reason, DeadReason::Shadowed { by } if by.index == 0)
                        && *states == [Label::from("b")]),
                "{guard}: {err:?}"
            );
        }
    }

    #[test]
    fn timeouts_and_guards_that_can_still_fire_keep_their_states() {
        for (first, second) in [
            // The shorter one is guarded: it may not hold.
            (
                r#"{ "days_in_state": 3 }, "guard": { "n": { "min": 1 } }"#,
                r#"{ "days_in_state": 7 }"#,
            ),
            (
                r#"{ "idle_days": 3 }, "guard": { "n": { "max": 0 } }"#,
                r#"{ "idle_days": 7 }"#,
            ),
            // Activity postpones 3 idle days past 7 days in the state.
            (r#"{ "idle_days": 3 }"#, r#"{ "days_in_state": 7 }"#),
        ] {
            let built = a_to_b_or_c(first, second).map(|_| ());
            assert!(built.is_ok(), "{first} / {second}: {built:?}");
        }
        let m = a_to_b_or_c(r#"{ "idle_days": 3 }"#, r#"{ "days_in_state": 7 }"#).unwrap();
        let mut s = m.start(day(0));
        for (id, d) in [(1, 2), (2, 4), (3, 6)] {
            m.apply(&mut s, &visit(id, day(d))).unwrap();
        }
        assert_eq!(m.tick(&mut s, day(7)).unwrap()[0].to.as_str(), "b");

        let three = |transitions: &str| {
            Machine::new(spec(&format!(
                r#"{{ "states": ["x", "a", "b", "c"], "initial": "x",
                     "transitions": {transitions} }}"#
            )))
            .map(|_| ())
        };
        // a is entered idle for `arrival` days at most. At 5, 7 idle days
        // come before 3 days in a for a quiet user; at 4, they fall due
        // together (ambiguous, not dead); at 3, 3 days in a always come
        // first.
        let arriving = |arrival: u32| {
            three(&format!(
                r#"[{{ "from": ["x"], "to": "a", "on": {{ "idle_days": {arrival} }} }},
                    {{ "from": ["a"], "to": "c", "on": {{ "days_in_state": 3 }} }},
                    {{ "from": ["a"], "to": "b", "on": {{ "idle_days": 7 }} }}]"#
            ))
        };
        assert_eq!(arriving(5), Ok(()));
        let err = arriving(4).unwrap_err();
        assert!(matches!(err, MachineError::Ambiguous { .. }), "{err:?}");
        let err = arriving(3).unwrap_err();
        assert!(
            matches!(&err, MachineError::DeadTransition { states, .. } if *states == [Label::from("b")]),
            "{err:?}"
        );
        // A dead transition whose target is reached another way is only
        // redundant.
        three(
            r#"[{ "from": ["x"], "to": "a", "on": { "event": "visited" } },
                { "from": ["a"], "to": "c", "on": { "days_in_state": 3 } },
                { "from": ["a"], "to": "b", "on": { "days_in_state": 7 } },
                { "from": ["x"], "to": "b", "on": { "event": "check_in" } }]"#,
        )
        .unwrap();
    }

    #[test]
    fn late_events_around_a_days_in_state_loop_leave_idle_days_unbounded() {
        // a → b after 3 days, back on a visit. A visit dated before the
        // entry into b is stamped at that entry and leaves the idle clock
        // where it was, so each turn enters a idle for more days, and 7
        // idle days in a do come before 3 days in it: c is reachable.
        let spec = spec(
            r#"{ "states": ["a", "b", "c"], "initial": "a",
                 "transitions": [
                    { "from": ["a"], "to": "b", "on": { "days_in_state": 3 } },
                    { "from": ["b"], "to": "a", "on": { "event": "visited" } },
                    { "from": ["a"], "to": "c", "on": { "idle_days": 7 } }] }"#,
        );
        let m = Machine::new(spec).unwrap();
        let hour = |h: i64| t0() + TimeDelta::hours(h);
        let mut s = m.start(hour(0));
        m.tick(&mut s, day(3)).unwrap();
        m.apply(&mut s, &visit(1, hour(12))).unwrap();
        m.tick(&mut s, day(6)).unwrap();
        m.apply(&mut s, &visit(2, hour(13))).unwrap();
        assert_eq!((s.current.as_str(), s.since), ("a", day(6)));
        let moved = m.tick(&mut s, day(9)).unwrap();
        assert_eq!(moved[0].to.as_str(), "c");
        assert_eq!(moved[0].at, hour(13) + TimeDelta::days(7));
    }

    mod what_validation_calls_unreachable_is {
        use super::*;
        use proptest::collection::vec;
        use proptest::prelude::*;
        use proptest::sample::{select, subsequence};

        const NAMES: [&str; 4] = ["a", "b", "c", "d"];

        /// A transition leaving some states for another; the `k`th of a
        /// spec, so that its timeouts have lengths of their own (`10d + k`:
        /// in random order, never equal).
        fn transition(k: u32) -> impl Strategy<Value = TransitionSpec> {
            let on = prop_oneof![
                Just(Trigger::Event(format!("custom:e{k}").parse().unwrap())),
                (1u32..6).prop_map(move |d| Trigger::IdleDays(10 * d + k)),
                (1u32..6).prop_map(move |d| Trigger::DaysInState(10 * d + k)),
            ];
            let range = (proptest::option::of(0u64..3), proptest::option::of(0u64..3)).prop_map(
                |(min, width)| CountRange {
                    min,
                    max: width.map(|w| min.unwrap_or(0) + w),
                },
            );
            let guard = proptest::collection::btree_map(
                select(vec!["firsts", "events"]).prop_map(Label::from),
                range,
                0..2,
            );
            // Never a self-loop, and timeouts only lead to later states, so
            // no timeout cycle (both are rejected before reachability).
            (
                subsequence(NAMES.to_vec(), 1..=2),
                1..NAMES.len(),
                on,
                guard,
            )
                .prop_map(|(from, to, on, guard)| {
                    let first = NAMES.iter().position(|n| *n == from[0]).unwrap_or(0);
                    let to = (first + to) % NAMES.len();
                    let before = |n: &&str| NAMES.iter().position(|m| m == n) < Some(to);
                    TransitionSpec {
                        from: Sources::List(
                            from.into_iter()
                                .filter(|n| *n != NAMES[to] && (!on.is_timeout() || before(n)))
                                .map(Label::from)
                                .collect(),
                        ),
                        to: NAMES[to].into(),
                        on,
                        guard,
                    }
                })
        }

        fn transitions() -> impl Strategy<Value = Vec<TransitionSpec>> {
            (2u32..11)
                .prop_flat_map(|n| (0..n).map(transition).collect::<Vec<_>>())
                .prop_map(|mut all| {
                    all.retain(|t| !matches!(&t.from, Sources::List(from) if from.is_empty()));
                    all
                })
        }

        fn machine_spec(transitions: Vec<TransitionSpec>) -> MachineSpec {
            MachineSpec {
                states: NAMES.map(Label::from).to_vec(),
                initial: "a".into(),
                counters: vec![
                    CounterSpec {
                        name: "firsts".into(),
                        counts: "custom:e0".parse().unwrap(),
                    },
                    CounterSpec {
                        name: "events".into(),
                        counts: KindPattern::Any,
                    },
                ],
                transitions,
                dedupe: DedupeWindow {
                    horizon_hours: 24 * 30,
                    max_ids: 64,
                },
                history_limit: u16::MAX,
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 4096, ..ProptestConfig::default() })]

            /// Whatever a spec rejected only as a [`MachineError::DeadTransition`]
            /// does, run anyway on events in and out of order (late ones
            /// included, the window is 30 days), it never enters a state
            /// the error lists.
            #[test]
            fn never_entered(
                transitions in transitions(),
                steps in vec((0u8..10, 0i64..60 * 24, any::<bool>()), 0..60),
            ) {
                let spec = machine_spec(transitions);
                let Ok(machine) = Machine::validate(spec.clone(), false) else {
                    return Ok(());
                };
                let Err(MachineError::DeadTransition { states, .. }) = Machine::new(spec) else {
                    return Ok(());
                };
                let hour = |h: i64| t0() + TimeDelta::hours(h);
                let mut state = machine.start(t0());
                let mut newest = 0;
                for (id, (kind, h, late)) in steps.into_iter().enumerate() {
                    // Mostly forward in time; now and then an hour already
                    // passed.
                    let h = if late { h.min(newest) } else { newest.max(h) };
                    newest = newest.max(h);
                    let moved = if kind == 9 {
                        machine.tick(&mut state, hour(h)).unwrap()
                    } else {
                        let kind = EventKind::Custom {
                            name: format!("e{kind}").into(),
                        };
                        let e = event(id as u64, hour(h), kind);
                        machine.apply(&mut state, &e).unwrap().transitions().to_vec()
                    };
                    for t in moved {
                        prop_assert!(!states.contains(&t.to), "entered {} by {:?}", t.to, t);
                    }
                }
                let moved = machine.tick(&mut state, hour(100 * 24)).unwrap();
                for t in moved {
                    prop_assert!(!states.contains(&t.to), "entered {} by {:?}", t.to, t);
                }
            }
        }
    }

    #[test]
    fn spec_json_is_strict() {
        let unknown_field = LEARNING.replace("\"initial\"", "\"stages\": [], \"initial\"");
        assert!(serde_json::from_str::<MachineSpec>(&unknown_field).is_err());
        let bad_from = LEARNING.replace(r#""from": ["lapsed"]"#, r#""from": "lapsed""#);
        let err = serde_json::from_str::<MachineSpec>(&bad_from).unwrap_err();
        assert!(
            err.to_string().contains("\"*\" or a list of state names"),
            "{err}"
        );
        let bad_range = LEARNING.replace(r#"{ "min": 3 }"#, r#"{ "least": 3 }"#);
        assert!(serde_json::from_str::<MachineSpec>(&bad_range).is_err());
        let star: TransitionSpec =
            serde_json::from_str(r#"{ "from": "*", "to": "a", "on": { "days_in_state": 2 } }"#)
                .unwrap();
        assert_eq!(star.from, Sources::Any);
        assert_eq!(
            serde_json::to_string(&star).unwrap(),
            r#"{"from":"*","to":"a","on":{"days_in_state":2}}"#
        );
    }

    // -- stepping ------------------------------------------------------------

    #[test]
    fn guard_counts_the_triggering_event_and_min_is_inclusive() {
        let m = learning();
        let mut s = m.start(day(0));
        for id in 1..=2 {
            let out = m.apply(&mut s, &lesson(id, day(0))).unwrap();
            assert!(out.is_accepted() && out.transitions().is_empty());
        }
        let out = m.apply(&mut s, &lesson(3, day(1))).unwrap();
        assert_eq!(
            out.transitions(),
            [MachineTransition {
                from: "new".into(),
                to: "engaged".into(),
                at: day(1),
                cause: Cause::Event(EventId(3)),
            }]
        );
        assert_eq!(
            (s.current.as_str(), s.since, s.count("lessons")),
            ("engaged", day(1), 3)
        );
    }

    #[test]
    fn guard_max_is_inclusive() {
        let m = two_states(
            r#"[{ "from": ["a"], "to": "b", "on": { "event": "custom:go" },
                  "guard": { "n": { "min": 2, "max": 3 } } },
                { "from": ["a"], "to": "c", "on": { "event": "custom:go" },
                  "guard": { "n": { "min": 4 } } }]"#,
        )
        .unwrap();
        let go = |id| event(id, day(1), EventKind::Custom { name: "go".into() });
        let reach = |visits: u64| {
            let mut s = m.start(day(0));
            for id in 0..visits {
                m.apply(&mut s, &visit(100 + id, day(0))).unwrap();
            }
            m.apply(&mut s, &go(1)).unwrap();
            s.current
        };
        let got: Vec<_> = (1..=5).map(reach).collect();
        let want: Vec<Label> = ["a", "b", "b", "c", "c"].map(Label::from).to_vec();
        assert_eq!(got, want);
    }

    #[test]
    fn timeouts_fire_at_their_exact_deadlines_and_cascade() {
        let m = learning();
        let mut s = m.start(day(0));
        m.apply(&mut s, &lesson(1, day(2))).unwrap();
        let lapse = day(16);
        assert!(
            m.tick(&mut s, lapse - TimeDelta::seconds(1))
                .unwrap()
                .is_empty()
        );
        assert_eq!(m.next_timeout(&s).unwrap(), Some(lapse));
        let fired = m.tick(&mut s, lapse).unwrap();
        assert_eq!(fired.len(), 1);
        assert_eq!((fired[0].at, fired[0].cause), (lapse, Cause::IdleDays(14)));
        // Dormant is 30 idle days after the last activity, not after lapsing.
        assert_eq!(m.next_timeout(&s).unwrap(), Some(day(32)));

        // One late tick fires the whole cascade, each move at its deadline.
        let mut late = m.start(day(0));
        m.apply(&mut late, &lesson(1, day(2))).unwrap();
        let fired = m.tick(&mut late, day(400)).unwrap();
        let at: Vec<_> = fired.iter().map(|t| (t.to.as_str(), t.at)).collect();
        assert_eq!(at, [("lapsed", day(16)), ("dormant", day(32))]);
        assert_eq!((late.current.as_str(), late.since), ("dormant", day(32)));
        assert_eq!(m.next_timeout(&late).unwrap(), None);
    }

    #[test]
    fn apply_fires_due_timeouts_first_even_at_the_exact_deadline() {
        let m = learning();
        let mut s = m.start(day(0));
        m.apply(&mut s, &lesson(1, day(2))).unwrap();
        // The visit lands exactly on the lapse deadline: lapse first, then back.
        let out = m.apply(&mut s, &visit(2, day(16))).unwrap();
        let moves: Vec<_> = out
            .transitions()
            .iter()
            .map(|t| (t.from.as_str(), t.to.as_str(), t.cause))
            .collect();
        assert_eq!(
            moves,
            [
                ("new", "lapsed", Cause::IdleDays(14)),
                ("lapsed", "engaged", Cause::Event(EventId(2)))
            ]
        );
        assert_eq!(s.last_active, day(16));
    }

    #[test]
    fn earlier_deadline_fires_first_and_entry_catches_up_on_idleness() {
        let m = two_states(
            r#"[{ "from": ["a"], "to": "b", "on": { "idle_days": 10 } },
                { "from": ["a"], "to": "c", "on": { "days_in_state": 5 } },
                { "from": ["c"], "to": "b", "on": { "idle_days": 3 } }]"#,
        )
        .unwrap();
        let mut s = m.start(day(0));
        let fired = m.tick(&mut s, day(50)).unwrap();
        let moves: Vec<_> = fired
            .iter()
            .map(|t| (t.to.as_str(), t.at, t.cause))
            .collect();
        // c is entered on day 5, already 5 idle days in: its 3-day idle timeout
        // is due on entry.
        assert_eq!(
            moves,
            [
                ("c", day(5), Cause::DaysInState(5)),
                ("b", day(5), Cause::IdleDays(3))
            ]
        );
    }

    #[test]
    fn duplicates_and_too_late_events_change_nothing() {
        let mut m = learning().spec().clone();
        m.dedupe = DedupeWindow {
            horizon_hours: 24,
            max_ids: 8,
        };
        let m = Machine::new(m).unwrap();
        let mut s = m.start(day(0));
        m.apply(&mut s, &lesson(1, day(1))).unwrap();
        let before = s.clone();
        // A duplicate changes nothing, not even timeouts that are due by then.
        let dup = lesson(1, day(40));
        assert_eq!(m.apply(&mut s, &dup).unwrap(), Applied::Duplicate);
        assert_eq!(s, before);

        m.apply(&mut s, &lesson(2, day(3))).unwrap();
        // A third id makes the window forget the first, two days behind.
        m.apply(&mut s, &lesson(3, day(4))).unwrap();
        let before = s.clone();
        assert_eq!(
            m.apply(&mut s, &lesson(9, day(1))).unwrap(),
            Applied::TooLate
        );
        assert_eq!(s, before);
        assert_eq!(s.version, 3);
    }

    #[test]
    fn late_events_count_but_never_rewind() {
        let m = learning();
        let mut s = m.start(day(0));
        m.apply(&mut s, &lesson(1, day(2))).unwrap();
        m.tick(&mut s, day(20)).unwrap();
        assert_eq!((s.current.as_str(), s.since), ("lapsed", day(16)));

        // A visit from day 10 (before the lapse) arrives now: it brings the
        // user back, stamped no earlier than the lapse, and it is the newest
        // activity, so idleness now counts from day 10.
        let out = m.apply(&mut s, &visit(2, day(10))).unwrap();
        assert_eq!(out.transitions()[0].at, day(16));
        assert_eq!(
            (s.current.as_str(), s.since, s.last_active),
            ("engaged", day(16), day(10))
        );

        // An older lesson (still within the dedupe window) is counted but
        // moves neither clock.
        let out = m.apply(&mut s, &lesson(3, day(8))).unwrap();
        assert!(out.is_accepted() && out.transitions().is_empty());
        assert_eq!(
            (s.since, s.last_active, s.count("lessons")),
            (day(16), day(10), 2)
        );
        // Idle since day 10: the lapse is due on day 24, not before day 16.
        assert_eq!(m.next_timeout(&s).unwrap(), Some(day(24)));
        let times: Vec<_> = s.history.iter().map(|t| t.at).collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    }

    #[test]
    fn versions_bump_once_per_change() {
        let m = learning();
        let mut s = m.start(day(0));
        assert_eq!(s.version(), 0);
        m.apply(&mut s, &lesson(1, day(1))).unwrap();
        assert_eq!(s.version(), 1);
        m.apply(&mut s, &lesson(1, day(1))).unwrap();
        assert!(m.tick(&mut s, day(2)).unwrap().is_empty());
        assert_eq!(s.version(), 1);
        // Two moves in one tick are one change.
        assert_eq!(m.tick(&mut s, day(90)).unwrap().len(), 2);
        assert_eq!(s.version(), 2);
        // An event that also fires timeouts is one change too.
        m.apply(&mut s, &visit(2, day(91))).unwrap();
        assert_eq!(s.version(), 3);
    }

    #[test]
    fn a_state_the_machine_does_not_know_is_an_error_and_untouched() {
        let m = learning();
        let mut s = m.start(day(0));
        s.current = "trial".into();
        let before = s.clone();
        let err = StepError::UnknownState {
            state: "trial".into(),
        };
        assert_eq!(m.apply(&mut s, &visit(1, day(1))), Err(err.clone()));
        assert_eq!(m.tick(&mut s, day(100)), Err(err.clone()));
        assert_eq!(m.next_timeout(&s), Err(err));
        assert_eq!(s, before);
    }

    #[test]
    fn state_serde_round_trips() {
        let m = learning();
        let mut s = m.start(day(0));
        m.apply(&mut s, &lesson(1, day(1))).unwrap();
        m.tick(&mut s, day(60)).unwrap();
        let json = serde_json::to_string(&s).unwrap();
        assert!(json.contains(r#""cause":{"idle_days":14}"#), "{json}");
        assert_eq!(serde_json::from_str::<MachineState>(&json).unwrap(), s);
    }
}
