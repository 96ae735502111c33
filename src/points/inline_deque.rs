//! [`InlineDeque`]: a double-ended queue that keeps its first item inline.
//!
//! A ledger remembers its recent operations for idempotency (see
//! [`Ledger::redeem`](super::Ledger::redeem)), and most ledgers remember
//! one: a `VecDeque` would allocate for it on the first operation, from
//! memory the process may never have touched (a page fault as well as a
//! `malloc`). Kept inline, the first operation writes into the ledger
//! itself; a second moves both to the heap, where a busy ledger's
//! history grows and rotates as in a `VecDeque`.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::VecDeque;

/// A `VecDeque` that holds one item without allocating. Equal to another
/// holding the same items in the same order, wherever they are kept;
/// debug-printed and serialized as the plain list a `VecDeque` is.
#[derive(Clone)]
pub(crate) struct InlineDeque<T>(Repr<T>);

#[derive(Clone)]
enum Repr<T> {
    Empty,
    One(T),
    Many(VecDeque<T>),
}

impl<T> Default for InlineDeque<T> {
    fn default() -> Self {
        InlineDeque::new()
    }
}

impl<T> InlineDeque<T> {
    /// An empty deque.
    pub(crate) const fn new() -> InlineDeque<T> {
        InlineDeque(Repr::Empty)
    }

    /// Whether it holds nothing, inline or on the heap, and has no heap
    /// room: the next item would be kept inline (see [`InlineDeque::fill`]).
    #[inline]
    pub(crate) fn is_vacant(&self) -> bool {
        matches!(self.0, Repr::Empty)
    }

    /// How many items it holds.
    pub(crate) fn len(&self) -> usize {
        match &self.0 {
            Repr::Empty => 0,
            Repr::One(_) => 1,
            Repr::Many(v) => v.len(),
        }
    }

    /// The items, oldest first (`.rev()` for newest first).
    pub(crate) fn iter(&self) -> impl DoubleEndedIterator<Item = &T> {
        let (front, back) = match &self.0 {
            Repr::Empty => (&[][..], &[][..]),
            Repr::One(t) => (std::slice::from_ref(t), &[][..]),
            Repr::Many(v) => v.as_slices(),
        };
        front.iter().chain(back)
    }

    /// Makes `t` the only item, inline, of a deque the caller found
    /// [vacant](InlineDeque::is_vacant) (of any other, it replaces the
    /// items). Inlined where the caller builds `t`, `t` is written straight
    /// into the deque: [`InlineDeque::push_back`] takes `t` built on the
    /// stack and copies it in, which for a large item just written costs
    /// more than building it.
    #[inline(always)]
    pub(crate) fn fill(&mut self, t: T) {
        self.0 = Repr::One(t);
    }

    /// Appends an item: in place if it is the first, else on the heap
    /// (both items move there when the second comes).
    pub(crate) fn push_back(&mut self, t: T) {
        match &mut self.0 {
            Repr::Empty => self.0 = Repr::One(t),
            Repr::Many(v) => v.push_back(t),
            Repr::One(_) => {
                if let Repr::One(first) = std::mem::replace(&mut self.0, Repr::Empty) {
                    // Room for two: a ledger seldom sees many operations.
                    let mut v = VecDeque::with_capacity(2);
                    v.extend([first, t]);
                    self.0 = Repr::Many(v);
                }
            }
        }
    }

    /// Removes every item, keeping a heap deque's room for reuse.
    pub(crate) fn clear(&mut self) {
        match &mut self.0 {
            Repr::Many(v) => v.clear(),
            _ => self.0 = Repr::Empty,
        }
    }

    /// Removes and returns the oldest item. A heap deque stays on the heap:
    /// it is a busy one, and will grow again.
    pub(crate) fn pop_front(&mut self) -> Option<T> {
        match &mut self.0 {
            Repr::Empty => None,
            Repr::Many(v) => v.pop_front(),
            Repr::One(_) => match std::mem::replace(&mut self.0, Repr::Empty) {
                Repr::One(t) => Some(t),
                _ => None,
            },
        }
    }
}

// The items, not where they are kept: deques equal as deques (a ledger's
// before and after a reset) print alike.
impl<T: std::fmt::Debug> std::fmt::Debug for InlineDeque<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<T: PartialEq> PartialEq for InlineDeque<T> {
    fn eq(&self, other: &InlineDeque<T>) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl<T: Eq> Eq for InlineDeque<T> {}

impl<T> From<VecDeque<T>> for InlineDeque<T> {
    fn from(mut v: VecDeque<T>) -> InlineDeque<T> {
        if v.len() > 1 {
            return InlineDeque(Repr::Many(v));
        }
        match v.pop_front() {
            Some(t) => InlineDeque(Repr::One(t)),
            None => InlineDeque::new(),
        }
    }
}

impl<T: Serialize> Serialize for InlineDeque<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for InlineDeque<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<InlineDeque<T>, D::Error> {
        VecDeque::<T>::deserialize(deserializer).map(InlineDeque::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(d: &InlineDeque<u32>) -> Vec<u32> {
        d.iter().copied().collect()
    }

    #[test]
    fn the_first_item_stays_inline_and_a_second_moves_both_to_the_heap() {
        let mut d = InlineDeque::new();
        assert_eq!((d.len(), items(&d)), (0, vec![]));
        d.push_back(1);
        assert!(matches!(d.0, Repr::One(1)));
        d.push_back(2);
        assert!(matches!(&d.0, Repr::Many(v) if v.len() == 2));
        for i in 3..=70 {
            d.push_back(i);
        }
        assert_eq!(items(&d), (1..=70).collect::<Vec<_>>());
        assert_eq!(d.iter().next_back(), Some(&70));
    }

    #[test]
    fn only_a_deque_without_items_or_heap_room_is_vacant_and_fill_keeps_one_inline() {
        let mut d = InlineDeque::new();
        assert!(d.is_vacant());
        d.fill(4);
        assert!(!d.is_vacant());
        assert!(matches!(d.0, Repr::One(4)));
        d.push_back(5);
        assert_eq!(items(&d), [4, 5]);
        // Cleared, it keeps its heap room, so it is empty but not vacant.
        d.clear();
        assert_eq!(d.len(), 0);
        assert!(!d.is_vacant());
        // What was cleared by popping is vacant again.
        let mut popped = InlineDeque::new();
        popped.fill(1);
        assert_eq!(popped.pop_front(), Some(1));
        assert!(popped.is_vacant());
    }

    #[test]
    fn clear_empties_it_and_keeps_the_heap_room() {
        let mut d = InlineDeque::new();
        d.push_back(1);
        d.clear();
        assert!(matches!(d.0, Repr::Empty));
        (1..=5).for_each(|i| d.push_back(i));
        d.clear();
        assert!(matches!(&d.0, Repr::Many(v) if v.is_empty() && v.capacity() >= 5));
        assert_eq!(d, InlineDeque::new());
        d.push_back(9);
        assert_eq!(items(&d), vec![9]);
    }

    #[test]
    fn pop_front_takes_the_oldest_and_rotates_like_a_vec_deque() {
        let mut d = InlineDeque::new();
        assert_eq!(d.pop_front(), None);
        d.push_back(1);
        assert_eq!(d.pop_front(), Some(1));
        assert!(matches!(d.0, Repr::Empty));
        assert_eq!(d.pop_front(), None);
        // A bounded history, as a ledger keeps it: a wrapped ring buffer.
        let mut model = VecDeque::new();
        for i in 0..20 {
            if d.len() >= 3 {
                assert_eq!(d.pop_front(), model.pop_front());
            }
            d.push_back(i);
            model.push_back(i);
            assert_eq!(items(&d), model.iter().copied().collect::<Vec<_>>());
            assert_eq!(d.iter().next_back(), model.back());
        }
        assert_eq!(items(&d), [17, 18, 19]);
    }

    #[test]
    fn serialized_as_the_vec_deque_it_replaces() {
        for n in 0..5 {
            let v: VecDeque<u32> = (0..n).collect();
            let d = InlineDeque::from(v.clone());
            let json = serde_json::to_string(&d).unwrap_or_default();
            assert_eq!(json, serde_json::to_string(&v).unwrap_or_default());
            let back: InlineDeque<u32> =
                serde_json::from_str(&json).unwrap_or_else(|e| unreachable!("{e}"));
            assert_eq!(back, d);
            assert_eq!(items(&back), v.iter().copied().collect::<Vec<_>>());
        }
        assert!(serde_json::from_str::<InlineDeque<u32>>("{}").is_err());
    }

    #[test]
    fn equality_looks_at_the_items_not_where_they_are_kept() {
        let mut inline = InlineDeque::new();
        inline.push_back(7);
        let heap = InlineDeque(Repr::Many(VecDeque::from([7])));
        assert_eq!(inline, heap);
        assert_eq!(
            InlineDeque::<u32>::new(),
            InlineDeque(Repr::Many(VecDeque::new()))
        );
        let mut two = heap.clone();
        two.push_back(8);
        assert_ne!(inline, two);
        assert_ne!(two, InlineDeque::from(VecDeque::from([8, 7])));
    }
}

/// The deque against a plain `VecDeque` and a flag for heap room, read off
/// the docs: every operation, in any order, from any starting point.
#[cfg(test)]
mod reference {
    use super::*;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Op {
        Push(u8),
        Fill(u8),
        Clear,
        Pop,
        /// Rebuilt from a `VecDeque` of its items.
        Rebuild,
        /// Read back from its JSON.
        Reread,
        Clone,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => any::<u8>().prop_map(Op::Push),
            1 => any::<u8>().prop_map(Op::Fill),
            1 => Just(Op::Clear),
            3 => Just(Op::Pop),
            1 => Just(Op::Rebuild),
            1 => Just(Op::Reread),
            1 => Just(Op::Clone),
        ]
    }

    proptest! {
        #[test]
        fn every_operation_does_what_a_vec_deque_does(
            start in proptest::collection::vec(any::<u8>(), 0..5),
            ops in proptest::collection::vec(op(), 0..40),
        ) {
            let mut model: VecDeque<u8> = start.iter().copied().collect();
            // Heap room: only a deque that once held two items (or was
            // built from a `VecDeque` of more than one) has it.
            let mut room = model.len() > 1;
            let mut d = InlineDeque::from(model.clone());
            for op in ops {
                match op {
                    Op::Push(x) => {
                        d.push_back(x);
                        model.push_back(x);
                        room |= model.len() > 1;
                    }
                    Op::Fill(x) => {
                        d.fill(x);
                        model = VecDeque::from([x]);
                        room = false;
                    }
                    Op::Clear => {
                        d.clear();
                        model.clear();
                    }
                    Op::Pop => prop_assert_eq!(d.pop_front(), model.pop_front()),
                    Op::Rebuild => {
                        d = InlineDeque::from(d.iter().copied().collect::<VecDeque<_>>());
                        room = model.len() > 1;
                    }
                    Op::Reread => {
                        let json = serde_json::to_string(&d).unwrap_or_default();
                        d = serde_json::from_str(&json).unwrap_or_else(|e| unreachable!("{e}"));
                        room = model.len() > 1;
                    }
                    Op::Clone => d = d.clone(),
                }
                prop_assert_eq!(d.len(), model.len());
                prop_assert!(d.iter().eq(model.iter()));
                prop_assert!(d.iter().rev().eq(model.iter().rev()));
                prop_assert_eq!(d.is_vacant(), model.is_empty() && !room);
                let same = InlineDeque::from(model.clone());
                prop_assert_eq!(&d, &same);
                prop_assert_eq!(&same, &d);
                let json = serde_json::to_string(&d).unwrap_or_default();
                prop_assert_eq!(&json, &serde_json::to_string(&model).unwrap_or_default());
                // Debug-printed as the `VecDeque` it replaces.
                prop_assert_eq!(format!("{d:?}"), format!("{model:?}"));
                let mut other = model.clone();
                other.push_back(0);
                prop_assert_ne!(&d, &InlineDeque::from(other));
            }
        }

        #[test]
        fn any_list_reads_back_and_anything_else_is_an_error(
            items in proptest::collection::vec(any::<u32>(), 0..70),
            junk in "[\\[\\]{}0-9,\" a-z-]{0,12}",
        ) {
            let json = serde_json::to_string(&items).unwrap_or_default();
            let d: InlineDeque<u32> =
                serde_json::from_str(&json).unwrap_or_else(|e| unreachable!("{e}"));
            prop_assert!(d.iter().eq(items.iter()));
            prop_assert_eq!(d.len(), items.len());
            // Whatever the junk, the deque reads it as a `VecDeque` would.
            let ours = serde_json::from_str::<InlineDeque<u32>>(&junk);
            let theirs = serde_json::from_str::<VecDeque<u32>>(&junk);
            prop_assert_eq!(ours.is_ok(), theirs.is_ok());
            if let (Ok(ours), Ok(theirs)) = (ours, theirs) {
                prop_assert!(ours.iter().eq(theirs.iter()));
            }
        }
    }
}
