//! Lists that almost every ledger keeps empty: a pointer wide while
//! empty, so that the bookkeeping of rare flows (open holds, holds settled
//! against reversals, awards a cap cut) does not widen every ledger.
//! Serialized as plain lists.

use crate::bounded;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::VecDeque;
use std::collections::vec_deque;
use std::ops::{Deref, DerefMut};

/// A list kept behind one pointer, allocated on its first element and
/// dropped again once emptied. It reads, and changes in place, as a
/// slice; it grows and shrinks by the few methods below.
#[derive(Clone, PartialEq, Eq, Hash)]
// The box is the point: one pointer in the ledger, not a `Vec`'s three words.
#[allow(clippy::box_collection)]
pub(crate) struct RareList<T>(Option<Box<Vec<T>>>);

// The items, not where they are kept: printed as the list it stands for.
impl<T: std::fmt::Debug> std::fmt::Debug for RareList<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

// Not derived: that would ask `T: Default`.
impl<T> Default for RareList<T> {
    fn default() -> Self {
        RareList(None)
    }
}

impl<T> RareList<T> {
    /// Whether it holds nothing (for `serde`'s `skip_serializing_if`).
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// Appends `item`.
    pub(crate) fn push(&mut self, item: T) {
        self.0.get_or_insert_with(Box::default).push(item);
    }

    /// Keeps the elements `keep` accepts, changing them as it goes.
    pub(crate) fn retain_mut(&mut self, keep: impl FnMut(&mut T) -> bool) {
        if let Some(list) = &mut self.0 {
            list.retain_mut(keep);
            if list.is_empty() {
                self.0 = None;
            }
        }
    }

    /// Keeps the elements `keep` accepts.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) {
        self.retain_mut(|item| keep(item));
    }

    /// Removes and returns the element at `index`, if there is one,
    /// freeing the room once the last is gone.
    pub(crate) fn remove(&mut self, index: usize) -> Option<T> {
        let list = self.0.as_mut()?;
        if index >= list.len() {
            return None;
        }
        let item = list.remove(index);
        if list.is_empty() {
            self.0 = None;
        }
        Some(item)
    }

    /// Empties it, freeing its room.
    pub(crate) fn clear(&mut self) {
        self.0 = None;
    }
}

impl<T> Deref for RareList<T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        self.0.as_deref().map_or(&[], Vec::as_slice)
    }
}

impl<T> FromIterator<T> for RareList<T> {
    fn from_iter<I: IntoIterator<Item = T>>(items: I) -> Self {
        let list: Vec<T> = items.into_iter().collect();
        RareList((!list.is_empty()).then(|| Box::new(list)))
    }
}

// The elements, to change in place (none while empty: nothing allocated).
impl<T> DerefMut for RareList<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        self.0.as_deref_mut().map_or(&mut [], Vec::as_mut_slice)
    }
}

impl<T: Serialize> Serialize for RareList<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (**self).serialize(s)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for RareList<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Vec::<T>::deserialize(d)?.into_iter().collect())
    }
}

/// A queue kept behind one pointer as a [`RareList`] is, for a bounded
/// history whose oldest items leave from the front: allocated on its first
/// item and dropped again once emptied.
#[derive(Clone, PartialEq, Eq)]
// The box is the point, as for `RareList`.
#[allow(clippy::box_collection)]
pub(crate) struct RareDeque<T>(Option<Box<VecDeque<T>>>);

// Not derived: that would ask `T: Default`.
impl<T> Default for RareDeque<T> {
    fn default() -> Self {
        RareDeque(None)
    }
}

impl<T> RareDeque<T> {
    /// Whether it holds nothing (for `serde`'s `skip_serializing_if`).
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// How many items it holds.
    pub(crate) fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |q| q.len())
    }

    /// The items, oldest first.
    pub(crate) fn iter(&self) -> RareDequeIter<'_, T> {
        RareDequeIter(self.0.as_ref().map(|q| q.iter()))
    }

    /// The items, oldest first, to change in place.
    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.0.iter_mut().flat_map(|q| q.iter_mut())
    }

    /// The item at `index`, oldest first.
    pub(crate) fn get(&self, index: usize) -> Option<&T> {
        self.0.as_ref().and_then(|q| q.get(index))
    }

    /// The item at `index`, oldest first, to change in place.
    pub(crate) fn get_mut(&mut self, index: usize) -> Option<&mut T> {
        self.0.as_mut().and_then(|q| q.get_mut(index))
    }

    /// Appends the item `make` builds, keeping the newest `limit`, as
    /// [`bounded::push_newest`] does.
    pub(crate) fn push_newest(&mut self, limit: usize, make: impl FnOnce() -> T) {
        if limit == 0 {
            // Keeps none, and allocates nothing to keep none in.
            self.0 = None;
            return;
        }
        bounded::push_newest(self.0.get_or_insert_with(Box::default), limit, make);
    }

    /// Keeps the items `keep` accepts.
    pub(crate) fn retain(&mut self, keep: impl FnMut(&T) -> bool) {
        if let Some(queue) = &mut self.0 {
            queue.retain(keep);
            if queue.is_empty() {
                self.0 = None;
            }
        }
    }

    /// Empties it, freeing its room.
    pub(crate) fn clear(&mut self) {
        self.0 = None;
    }
}

/// [`RareDeque::iter`]: a queue's iterator, or none.
pub(crate) struct RareDequeIter<'a, T>(Option<vec_deque::Iter<'a, T>>);

impl<'a, T> Iterator for RareDequeIter<'a, T> {
    type Item = &'a T;

    fn next(&mut self) -> Option<&'a T> {
        self.0.as_mut()?.next()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.as_ref().map_or((0, Some(0)), |i| i.size_hint())
    }
}

impl<T> DoubleEndedIterator for RareDequeIter<'_, T> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.0.as_mut()?.next_back()
    }
}

impl<T> ExactSizeIterator for RareDequeIter<'_, T> {}

// The items, not where they are kept: printed as the queue it stands for.
impl<T: std::fmt::Debug> std::fmt::Debug for RareDeque<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<T: Serialize> Serialize for RareDeque<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for RareDeque<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let queue = VecDeque::<T>::deserialize(d)?;
        Ok(RareDeque((!queue.is_empty()).then(|| Box::new(queue))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_is_a_pointer_wide_and_empty_again_once_emptied() {
        assert_eq!(std::mem::size_of::<RareList<(u64, u64)>>(), 8);
        let mut list = RareList::default();
        assert!(list.is_empty());
        list.push((1u64, 2u64));
        list.push((3, 4));
        list[0].1 = 5;
        assert_eq!(*list, [(1, 5), (3, 4)]);
        let json = serde_json::to_string(&list).unwrap_or_default();
        assert_eq!(json, "[[1,5],[3,4]]");
        let back: RareList<(u64, u64)> = serde_json::from_str(&json).unwrap_or_default();
        assert_eq!(back, list);
        list.retain_mut(|(_, points)| *points > 4);
        assert_eq!(*list, [(1, 5)]);
        list.retain_mut(|_| false);
        assert_eq!(list, RareList::default());
        let empty: RareList<(u64, u64)> = serde_json::from_str("[]").unwrap_or_default();
        assert_eq!(empty, RareList::default());
        assert_eq!(format!("{empty:?}"), "[]");
        list.push((6, 7));
        assert_eq!(format!("{list:?}"), "[(6, 7)]");
    }
}

#[cfg(test)]
mod deque_tests {
    use super::*;

    #[test]
    fn a_rare_deque_is_a_pointer_wide_bounded_queue_and_reads_back_as_a_list() {
        assert_eq!(std::mem::size_of::<RareDeque<(u64, u64)>>(), 8);
        let mut q = RareDeque::default();
        for i in 0..5u64 {
            q.push_newest(3, || (i, i * 10));
        }
        assert_eq!(
            q.iter().copied().collect::<Vec<_>>(),
            [(2, 20), (3, 30), (4, 40)]
        );
        assert_eq!(
            (q.len(), q.iter().len(), q.iter().next_back()),
            (3, 3, Some(&(4, 40)))
        );
        assert_eq!((q.get(0), q.get(3)), (Some(&(2, 20)), None));
        if let Some(item) = q.get_mut(1) {
            item.1 = 31;
        }
        for item in q.iter_mut() {
            item.1 += 1;
        }
        assert_eq!(format!("{q:?}"), "[(2, 21), (3, 32), (4, 41)]");
        let json = serde_json::to_string(&q).unwrap_or_default();
        assert_eq!(json, "[[2,21],[3,32],[4,41]]");
        let back: RareDeque<(u64, u64)> = serde_json::from_str(&json).unwrap_or_default();
        assert_eq!(back, q);
        // A limit shrunk below the length drops the oldest down to it.
        q.push_newest(2, || (5, 50));
        assert_eq!(q.iter().copied().collect::<Vec<_>>(), [(4, 41), (5, 50)]);
        q.retain(|&(i, _)| i > 4);
        assert_eq!(q.len(), 1);
        // Emptied by any means, it is the empty queue again.
        q.retain(|_| false);
        assert_eq!(q, RareDeque::default());
        q.push_newest(0, || (6, 60));
        assert!(q.is_empty());
        q.push_newest(1, || (7, 70));
        q.push_newest(0, || (8, 80));
        assert_eq!(q, RareDeque::default());
        let empty: RareDeque<(u64, u64)> = serde_json::from_str("[]").unwrap_or_default();
        assert_eq!(empty, RareDeque::default());
    }
}

/// The list against a plain `Vec`, read off the docs.
#[cfg(test)]
mod reference {
    use super::*;
    use crate::slice_list::hash_of;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Op {
        Push(u8),
        /// Keeps the items not divisible by the number, adding one to each kept.
        RetainMut(u8),
        /// Keeps the items above the number.
        Retain(u8),
        Clear,
        Set(usize, u8),
        Reread,
        Collect,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => any::<u8>().prop_map(Op::Push),
            1 => (1u8..5).prop_map(Op::RetainMut),
            1 => any::<u8>().prop_map(Op::Retain),
            1 => Just(Op::Clear),
            2 => (0usize..6, any::<u8>()).prop_map(|(i, x)| Op::Set(i, x)),
            1 => Just(Op::Reread),
            1 => Just(Op::Collect),
        ]
    }

    proptest! {
        #[test]
        fn every_operation_does_what_a_vec_does(ops in proptest::collection::vec(op(), 0..40)) {
            let mut list = RareList::default();
            let mut model: Vec<u8> = Vec::new();
            for op in ops {
                match op {
                    Op::Push(x) => {
                        list.push(x);
                        model.push(x);
                    }
                    Op::RetainMut(k) => {
                        let keep = |x: &mut u8| {
                            let kept = !x.is_multiple_of(k);
                            *x = x.wrapping_add(1);
                            kept
                        };
                        list.retain_mut(keep);
                        model.retain_mut(keep);
                    }
                    Op::Retain(k) => {
                        list.retain(|&x| x > k);
                        model.retain(|&x| x > k);
                    }
                    Op::Clear => {
                        list.clear();
                        model.clear();
                    }
                    Op::Set(i, x) => {
                        if let Some(item) = list.get_mut(i) {
                            *item = x;
                        }
                        if let Some(item) = model.get_mut(i) {
                            *item = x;
                        }
                    }
                    Op::Reread => {
                        let json = serde_json::to_string(&list).unwrap_or_default();
                        list = serde_json::from_str(&json).unwrap_or_else(|e| unreachable!("{e}"));
                    }
                    Op::Collect => list = list.iter().copied().collect(),
                }
                prop_assert_eq!(&*list, model.as_slice());
                prop_assert_eq!(list.is_empty(), model.is_empty());
                prop_assert_eq!(list.len(), model.len());
                let same: RareList<u8> = model.iter().copied().collect();
                prop_assert_eq!(&list, &same);
                prop_assert_eq!(hash_of(&list), hash_of(&same));
                prop_assert_eq!(&list.clone(), &list);
                prop_assert_eq!(
                    serde_json::to_string(&list).unwrap_or_default(),
                    serde_json::to_string(&model).unwrap_or_default()
                );
            }
        }

        #[test]
        fn any_list_reads_back_and_anything_else_is_an_error(
            items in proptest::collection::vec(any::<u32>(), 0..10),
            junk in "[\\[\\]{}0-9,\" a-z-]{0,12}",
        ) {
            let json = serde_json::to_string(&items).unwrap_or_default();
            let list: RareList<u32> =
                serde_json::from_str(&json).unwrap_or_else(|e| unreachable!("{e}"));
            prop_assert_eq!(&*list, items.as_slice());
            prop_assert_eq!(list.is_empty(), items.is_empty());
            let ours = serde_json::from_str::<RareList<u32>>(&junk);
            let theirs = serde_json::from_str::<Vec<u32>>(&junk);
            prop_assert_eq!(ours.is_ok(), theirs.is_ok());
            if let (Ok(ours), Ok(theirs)) = (ours, theirs) {
                prop_assert_eq!(&*ours, theirs.as_slice());
            }
        }
    }
}
