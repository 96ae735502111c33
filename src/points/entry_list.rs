//! [`EntryList`]: the statement entries a redemption wrote, kept inline for
//! the usual one.

use super::statement::Entry;
use crate::slice_list::slice_like;
use std::ops::DerefMut;

/// The statement entries an operation wrote, oldest first: a slice (it
/// derefs to `[Entry]`) that holds one entry inline.
///
/// A redemption or a capture writes exactly one entry, and returning it in
/// a `Vec` cost an allocation per call, a large part of a redemption.
/// Serialized as a plain list, like the `Vec<Entry>` it replaces; it
/// converts to and from one.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use growthkit::points::{Entry, EntryKind, EntryList};
///
/// let at = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
/// let entry = Entry { at, points: 500, kind: EntryKind::Redeemed { key: "order-1".into() } };
/// let list = EntryList::from(entry.clone());
/// assert_eq!(list.len(), 1);
/// assert_eq!(list[0], entry);
/// assert_eq!(list, EntryList::from(vec![entry.clone()]));
/// for e in &list {
///     assert_eq!(e.to_string(), "2026-03-01 00:00:00 UTC −500 redeemed order-1");
/// }
/// assert_eq!(serde_json::to_value(&list)?, serde_json::to_value(vec![entry])?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Default)]
pub struct EntryList(Repr);

#[derive(Clone, Default)]
enum Repr {
    #[default]
    None,
    One(Entry),
    Heap(Vec<Entry>),
}

impl EntryList {
    /// An empty list.
    pub const fn new() -> EntryList {
        EntryList(Repr::None)
    }

    /// The entries as a slice.
    pub fn as_slice(&self) -> &[Entry] {
        match &self.0 {
            Repr::None => &[],
            Repr::One(e) => std::slice::from_ref(e),
            Repr::Heap(v) => v,
        }
    }

    /// The entries as a mutable slice.
    pub fn as_mut_slice(&mut self) -> &mut [Entry] {
        match &mut self.0 {
            Repr::None => &mut [],
            Repr::One(e) => std::slice::from_mut(e),
            Repr::Heap(v) => v,
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.as_slice().is_empty()
    }

    /// Appends an entry (the first is kept inline; a second moves both to
    /// the heap).
    pub fn push(&mut self, entry: Entry) {
        match &mut self.0 {
            Repr::None => self.0 = Repr::One(entry),
            Repr::Heap(v) => v.push(entry),
            Repr::One(_) => {
                if let Repr::One(first) = std::mem::take(&mut self.0) {
                    self.0 = Repr::Heap(vec![first, entry]);
                }
            }
        }
    }
}

impl DerefMut for EntryList {
    fn deref_mut(&mut self) -> &mut [Entry] {
        self.as_mut_slice()
    }
}

// `for entry in &mut list`, as over the `Vec` it replaces.
impl<'a> IntoIterator for &'a mut EntryList {
    type Item = &'a mut Entry;
    type IntoIter = std::slice::IterMut<'a, Entry>;

    fn into_iter(self) -> Self::IntoIter {
        self.as_mut_slice().iter_mut()
    }
}

impl From<Entry> for EntryList {
    fn from(entry: Entry) -> EntryList {
        EntryList(Repr::One(entry))
    }
}

impl From<Vec<Entry>> for EntryList {
    fn from(mut v: Vec<Entry>) -> EntryList {
        if v.len() > 1 {
            return EntryList(Repr::Heap(v));
        }
        match v.pop() {
            Some(e) => EntryList(Repr::One(e)),
            None => EntryList::new(),
        }
    }
}

impl From<EntryList> for Vec<Entry> {
    fn from(list: EntryList) -> Vec<Entry> {
        match list.0 {
            Repr::None => Vec::new(),
            Repr::One(e) => vec![e],
            Repr::Heap(v) => v,
        }
    }
}

impl FromIterator<Entry> for EntryList {
    fn from_iter<I: IntoIterator<Item = Entry>>(iter: I) -> EntryList {
        let mut list = EntryList::new();
        iter.into_iter().for_each(|e| list.push(e));
        list
    }
}

slice_like!(EntryList, Entry);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::points::EntryKind;
    use crate::slice_list::hash_of;
    use chrono::{TimeZone, Utc};

    fn entry(points: u64) -> Entry {
        Entry {
            at: Utc
                .with_ymd_and_hms(2026, 3, 1, 0, 0, 0)
                .single()
                .unwrap_or_default(),
            points,
            kind: EntryKind::Redeemed {
                key: format!("order-{points}").into(),
            },
        }
    }

    #[test]
    fn every_length_keeps_its_entries_in_order_and_round_trips_as_a_list() {
        for n in 0..5 {
            let entries: Vec<Entry> = (1..=n).map(entry).collect();
            let list: EntryList = entries.iter().cloned().collect();
            assert_eq!(list.as_slice(), entries.as_slice(), "{n}");
            assert_eq!(list.is_empty(), n == 0);
            assert_eq!(EntryList::from(entries.clone()), list);
            let json = serde_json::to_string(&list).unwrap_or_default();
            assert_eq!(json, serde_json::to_string(&entries).unwrap_or_default());
            let back: EntryList =
                serde_json::from_str(&json).unwrap_or_else(|e| unreachable!("{e}"));
            assert_eq!(back, list);
            assert_eq!(Vec::from(list.clone()), entries);
            assert_eq!(list.clone().into_iter().collect::<Vec<_>>(), entries);
            assert_eq!((&list).into_iter().count(), n as usize);
        }
        assert!(matches!(EntryList::from(entry(1)).0, Repr::One(_)));
    }

    #[test]
    fn entries_can_be_changed_in_place() {
        for n in 1..4 {
            let mut list: EntryList = (1..=n).map(entry).collect();
            list.iter_mut().for_each(|e| e.points *= 10);
            let points: Vec<u64> = list.iter().map(|e| e.points).collect();
            assert_eq!(points, (1..=n).map(|p| p * 10).collect::<Vec<_>>());
        }
    }

    #[test]
    fn equality_and_hash_ignore_where_the_entries_are_kept() {
        let inline = EntryList::from(entry(1));
        let heap = EntryList(Repr::Heap(vec![entry(1)]));
        assert_eq!(inline, heap);
        assert_eq!(hash_of(&inline), hash_of(&heap));
        assert_eq!(EntryList::new(), EntryList(Repr::Heap(Vec::new())));
        assert_ne!(inline, EntryList::from(entry(2)));
        assert_ne!(inline, [entry(1), entry(1)].into_iter().collect());
    }
}
