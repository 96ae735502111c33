//! [`Transitions`]: the short list of moves one step makes, kept inline.

use super::history::Kept;
use super::user::Transition;
use crate::slice_list::slice_like;
use chrono::{DateTime, Utc};

/// The moves one step made, oldest first: a slice (it derefs to
/// `[Transition]`) that holds up to three moves inline, so that applying an
/// event allocates nothing in all but the rarest steps (three idle moves
/// and a return at once).
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use growthkit::lifecycle::{Lifecycle, LifecyclePolicy, Stage};
/// use growthkit::{Event, EventId, EventKind, UserId};
///
/// let policy = LifecyclePolicy::default();
/// let mut user = Lifecycle::new(UserId(1));
/// let at = Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap();
/// let event = Event::new(EventId(1), UserId(1), at, EventKind::SignedUp);
/// let moves = policy.apply(&mut user, &event)?.transitions;
/// assert_eq!(moves.len(), 1);
/// assert_eq!(moves[0].to, Stage::Acquired);
/// let as_vec: Vec<_> = moves.into_iter().collect();
/// assert_eq!(as_vec.len(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Transitions(Repr);

// One variant per length up to three, so an empty list is just a tag: no
// placeholder moves to write on every step.
#[derive(Clone)]
enum Repr {
    None,
    One(Transition),
    Two([Transition; 2]),
    Three([Transition; 3]),
    Heap(Vec<Transition>),
}

impl Transitions {
    /// No moves.
    pub const fn new() -> Transitions {
        Transitions(Repr::None)
    }

    /// The moves as a slice.
    pub fn as_slice(&self) -> &[Transition] {
        match &self.0 {
            Repr::None => &[],
            Repr::One(t) => std::slice::from_ref(t),
            Repr::Two(ts) => ts,
            Repr::Three(ts) => ts,
            Repr::Heap(v) => v,
        }
    }

    /// Appends a move.
    pub fn push(&mut self, t: Transition) {
        self.0 = match std::mem::replace(&mut self.0, Repr::None) {
            Repr::None => Repr::One(t),
            Repr::One(a) => Repr::Two([a, t]),
            Repr::Two([a, b]) => Repr::Three([a, b, t]),
            Repr::Three(ts) => {
                let mut v = Vec::with_capacity(8);
                v.extend_from_slice(&ts);
                v.push(t);
                Repr::Heap(v)
            }
            Repr::Heap(mut v) => {
                v.push(t);
                Repr::Heap(v)
            }
        };
    }

    /// Forgets every move, keeping any heap buffer for reuse.
    pub fn clear(&mut self) {
        match &mut self.0 {
            Repr::Heap(v) => v.clear(),
            other => *other = Repr::None,
        }
    }

    /// The moves as a `Vec`.
    pub fn into_vec(self) -> Vec<Transition> {
        match self.0 {
            Repr::Heap(v) => v,
            _ => self.as_slice().to_vec(),
        }
    }
}

impl Default for Transitions {
    fn default() -> Transitions {
        Transitions::new()
    }
}

impl PartialEq<Vec<Transition>> for Transitions {
    fn eq(&self, other: &Vec<Transition>) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl From<Transitions> for Vec<Transition> {
    fn from(t: Transitions) -> Vec<Transition> {
        t.into_vec()
    }
}

impl Extend<Transition> for Transitions {
    fn extend<I: IntoIterator<Item = Transition>>(&mut self, iter: I) {
        for t in iter {
            self.push(t);
        }
    }
}

impl FromIterator<Transition> for Transitions {
    fn from_iter<I: IntoIterator<Item = Transition>>(iter: I) -> Transitions {
        let mut moves = Transitions::new();
        moves.extend(iter);
        moves
    }
}

impl From<Vec<Transition>> for Transitions {
    fn from(moves: Vec<Transition>) -> Transitions {
        match moves.len() {
            0..=3 => moves.into_iter().collect(),
            _ => Transitions(Repr::Heap(moves)),
        }
    }
}

slice_like!(Transitions, Transition);

/// Where a step writes its moves: a caller's reused `Vec`, or [`Transitions`].
pub(crate) trait MoveSink {
    /// Whether the sink keeps every move of a run and hands the state its
    /// history once at the end ([`RunMoves`]), so the step leaves the
    /// state's history alone.
    const WRITES_HISTORY: bool = false;

    /// Records a move; `at` builds its instant, for a sink that hands
    /// [`Transition`]s back (the batch path's never asks).
    fn record(&mut self, m: Kept, at: impl FnOnce() -> DateTime<Utc>);
}

/// The batch path's sink: every move of one user's run, given to the state
/// as its history in one go when the run ends. One exact allocation per
/// user instead of a first buffer and its regrowth, for a million users.
#[derive(Default)]
pub(crate) struct RunMoves(pub(crate) Vec<Kept>);

impl MoveSink for RunMoves {
    const WRITES_HISTORY: bool = true;

    #[inline]
    fn record(&mut self, m: Kept, _: impl FnOnce() -> DateTime<Utc>) {
        self.0.push(m);
    }
}

impl MoveSink for Vec<Transition> {
    #[inline]
    fn record(&mut self, m: Kept, at: impl FnOnce() -> DateTime<Utc>) {
        self.push(m.with_instant(at()));
    }
}

impl MoveSink for Transitions {
    #[inline]
    fn record(&mut self, m: Kept, at: impl FnOnce() -> DateTime<Utc>) {
        self.push(m.with_instant(at()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::KindTag;
    use crate::id::EventId;
    use crate::lifecycle::{Cause, Stage};
    use chrono::{TimeZone, Utc};

    fn moved(n: u64) -> Transition {
        Transition {
            from: Stage::Acquired,
            to: Stage::Activated,
            at: Utc.timestamp_opt(n as i64, 0).unwrap(),
            cause: Cause::Event {
                id: EventId(n),
                kind: KindTag::Visited,
            },
        }
    }

    #[test]
    fn holds_any_number_of_moves_in_order() {
        for n in 0..=9 {
            let moves: Transitions = (0..n).map(moved).collect();
            let expected: Vec<Transition> = (0..n).map(moved).collect();
            assert_eq!(moves.as_slice(), expected.as_slice(), "{n} moves");
            assert_eq!(moves.clone().into_vec(), expected);
            assert!(moves == expected);
        }
    }

    #[test]
    fn equality_ignores_where_the_moves_are_held() {
        let mut spilled: Transitions = (0..4).map(moved).collect();
        spilled.clear();
        spilled.push(moved(7));
        let inline: Transitions = [moved(7)].into_iter().collect();
        assert_eq!(spilled, inline);
        assert!(matches!(spilled.0, Repr::Heap(_)), "clear keeps the buffer");
        assert_ne!(inline, Transitions::new());
    }

    #[test]
    fn from_a_vec_and_serde_keep_the_moves_in_order() {
        for n in 0..6 {
            let moves: Vec<Transition> = (0..n).map(moved).collect();
            let list = Transitions::from(moves.clone());
            assert_eq!(list, moves);
            assert_eq!(list.clone().into_iter().collect::<Vec<_>>(), moves);
            let json = serde_json::to_string(&list).unwrap_or_default();
            assert_eq!(json, serde_json::to_string(&moves).unwrap_or_default());
            let back: Transitions = serde_json::from_str(&json).unwrap_or_default();
            assert_eq!(back, list);
        }
    }
}
