//! Event logs prepared for batch replay.
//!
//! Backfills, simulations and benchmarks apply millions of events to a
//! million users at once. Each user's state depends only on that user's
//! events, in their order, so a log can be replayed *user by user* instead
//! of event by event and give exactly the same states. That is what an
//! [`EventLog`] prepares: it interns every user into a dense slot and groups
//! the events by user, keeping each user's events in the order given. A
//! replay then streams through memory once: each state stays in cache while
//! its events pass, instead of a million states being fetched at random.
//!
//! Preparing a log is a one-time cost (a hash per event and one move of
//! every event); a prepared log can be replayed under several policies.
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use growthkit::batch::EventLog;
//! use growthkit::{Event, EventId, EventKind, UserId};
//!
//! let at = Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap();
//! let log = EventLog::new(vec![
//!     Event::new(EventId(1), UserId(7), at, EventKind::SignedUp),
//!     Event::new(EventId(2), UserId(3), at, EventKind::SignedUp),
//!     Event::new(EventId(3), UserId(7), at, EventKind::Visited),
//! ]);
//! let runs: Vec<(UserId, usize)> = log.runs().map(|(user, events)| (user, events.len())).collect();
//! assert_eq!(runs, [(UserId(7), 2), (UserId(3), 1)]);
//! assert_eq!(log.events_of(UserId(7))[1].id, EventId(3));
//! ```

use crate::event::Event;
use crate::id::UserId;
use crate::intern::UserIndex;

/// Events grouped by user, each user's events in their original order,
/// users in order of first appearance.
#[derive(Clone, Debug, Default)]
pub struct EventLog {
    events: Vec<Event>,
    index: UserIndex,
    /// `starts[slot]..starts[slot + 1]` are the slot's events.
    starts: Vec<usize>,
}

impl EventLog {
    /// Groups `events` by user, keeping each user's events in order.
    ///
    /// Linear time, in place: one hash per event to intern its user, then a
    /// counting sort that swaps each event into its place.
    pub fn new(mut events: Vec<Event>) -> EventLog {
        let mut index = UserIndex::new();
        let slots: Vec<u32> = events.iter().map(|e| index.intern(e.user)).collect();

        let starts = slot_starts(slots.iter().copied(), index.len());
        // Where each event goes: its user's next free place, so a user's
        // events keep their order (a stable counting sort).
        let mut next = starts.clone();
        let mut dest: Vec<usize> = slots
            .iter()
            .map(|&slot| {
                let at = &mut next[slot as usize];
                *at += 1;
                *at - 1
            })
            .collect();
        drop(slots);
        // Apply the permutation by following its cycles: every swap puts one
        // event in its final place, so there are fewer swaps than events.
        for i in 0..events.len() {
            while dest[i] != i {
                let j = dest[i];
                events.swap(i, j);
                dest.swap(i, j);
            }
        }
        EventLog {
            events,
            index,
            starts,
        }
    }

    /// Every user with their events, in slot order: users in order of first
    /// appearance in the events given, each user's events in their order.
    /// A user appears only with at least one event.
    pub fn runs(&self) -> impl ExactSizeIterator<Item = (UserId, &[Event])> + '_ {
        self.index
            .users()
            .iter()
            .zip(self.starts.windows(2))
            .map(|(&user, w)| (user, self.events.get(w[0]..w[1]).unwrap_or_default()))
    }

    /// The events of `user`, in order (empty if the log has none).
    pub fn events_of(&self, user: UserId) -> &[Event] {
        self.index
            .slot(user)
            .and_then(|slot| {
                let slot = slot as usize;
                let (from, to) = (*self.starts.get(slot)?, *self.starts.get(slot + 1)?);
                self.events.get(from..to)
            })
            .unwrap_or_default()
    }

    /// All events, grouped by user: the runs of [`runs`](Self::runs), one
    /// after another.
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// The users, by slot.
    pub fn index(&self) -> &UserIndex {
        &self.index
    }

    /// How many events.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether the log is empty.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }
}

impl FromIterator<Event> for EventLog {
    fn from_iter<I: IntoIterator<Item = Event>>(iter: I) -> Self {
        EventLog::new(iter.into_iter().collect())
    }
}

/// Where each of `n` slots' run starts once items are grouped by slot, the
/// first half of a stable counting sort: entry `s` is the number of items in
/// slots before `s`, and entry `n` the number of items. Slots of `n` or
/// more are not counted.
pub(crate) fn slot_starts(slots: impl IntoIterator<Item = u32>, n: usize) -> Vec<usize> {
    let mut starts = vec![0_usize; n + 1];
    for slot in slots {
        if let Some(count) = starts.get_mut(slot as usize + 1) {
            *count += 1;
        }
    }
    let mut sum = 0;
    for start in &mut starts {
        sum += *start;
        *start = sum;
    }
    starts
}

/// A stable counting sort of `items` into slots `0..n`, the slot of the
/// item at `i` being `slot(i, item)`: the items grouped by slot (in their
/// order within a slot) and each slot's start, from [`slot_starts`]. Items
/// in slots of `n` or more are left out; the places past the last start
/// then hold copies of some item.
pub(crate) fn group_by_slot<T: Copy>(
    items: &[T],
    n: usize,
    slot: impl Fn(usize, &T) -> u32,
) -> (Vec<T>, Vec<usize>) {
    let starts = slot_starts(items.iter().enumerate().map(|(i, t)| slot(i, t)), n);
    let Some(&first) = items.first() else {
        return (Vec::new(), starts);
    };
    let mut next = starts.clone();
    let mut grouped = vec![first; items.len()];
    for (i, item) in items.iter().enumerate() {
        let Some(at) = next.get_mut(slot(i, item) as usize) else {
            continue;
        };
        if let Some(place) = grouped.get_mut(*at) {
            *place = *item;
        }
        *at += 1;
    }
    (grouped, starts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventKind;
    use crate::id::EventId;
    use chrono::{TimeZone, Utc};

    #[test]
    fn grouping_is_stable_and_complete() {
        let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let users = [5u64, 1, 5, 2, 1, 5];
        let log: EventLog = users
            .iter()
            .enumerate()
            .map(|(i, &u)| Event::new(EventId(i as u64), UserId(u), at, EventKind::Visited))
            .collect();
        let ids = |u| {
            log.events_of(UserId(u))
                .iter()
                .map(|e| e.id.0)
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(5), [0, 2, 5]);
        assert_eq!(ids(1), [1, 4]);
        assert_eq!(ids(2), [3]);
        assert!(ids(9).is_empty());
        assert_eq!(log.len(), 6);
        assert_eq!(log.runs().len(), 3);
        assert!(EventLog::new(Vec::new()).is_empty());
    }

    #[test]
    fn grouping_by_slot_is_stable_and_leaves_out_slots_past_the_end() {
        // (slot, order of arrival); slot 9 is past the three slots.
        let items = [(2, 0), (0, 1), (9, 2), (2, 3), (0, 4), (1, 5)];
        let (grouped, starts) = group_by_slot(&items, 3, |_, &(slot, _)| slot);
        assert_eq!(starts, vec![0, 2, 3, 5]);
        assert_eq!(grouped[..5], [(0, 1), (0, 4), (1, 5), (2, 0), (2, 3)]);
        // The slot may come from the position instead.
        let slots = [1, 0];
        let (grouped, starts) = group_by_slot(&['a', 'b'], 2, |i, _| slots[i]);
        assert_eq!((grouped, starts), (vec!['b', 'a'], vec![0, 1, 2]));
        let (grouped, starts) = group_by_slot(&[] as &[u8], 2, |_, _| 0);
        assert_eq!((grouped, starts), (vec![], vec![0, 0, 0]));
    }
}

/// The counting sort against grouping with a `BTreeMap`.
#[cfg(test)]
mod reference {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    proptest! {
        #[test]
        fn group_by_slot_is_a_stable_grouping_that_leaves_out_slots_past_n(
            slots in proptest::collection::vec(0u32..8, 0..40),
            n in 0usize..8,
        ) {
            // Item `i` is its own position: the order within a slot shows.
            let items: Vec<(u32, usize)> = slots.iter().copied().zip(0..).collect();
            let mut model: BTreeMap<u32, Vec<(u32, usize)>> = BTreeMap::new();
            for &item in &items {
                if (item.0 as usize) < n {
                    model.entry(item.0).or_default().push(item);
                }
            }
            let (grouped, starts) = group_by_slot(&items, n, |_, &(slot, _)| slot);
            prop_assert_eq!(grouped.len(), items.len());
            prop_assert_eq!(starts.len(), n + 1);
            prop_assert_eq!(starts.first().copied(), Some(0));
            for s in 0..n {
                let run = &grouped[starts[s]..starts[s + 1]];
                let want = model.get(&(s as u32)).map_or(&[][..], Vec::as_slice);
                prop_assert_eq!(run, want);
            }
            prop_assert_eq!(starts.last().copied(), Some(model.values().map(Vec::len).sum()));
            prop_assert_eq!(
                slot_starts(slots.iter().copied(), n),
                starts.clone()
            );
            // The slot may come from the position.
            let (by_position, _) = group_by_slot(&items, n, |i, _| slots[i]);
            let placed = starts[n];
            prop_assert_eq!(by_position.get(..placed), grouped.get(..placed));
        }
    }
}
