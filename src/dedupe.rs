//! Idempotency: remembering which events a state has already seen.
//!
//! Hosts deliver events at least once; the same [`EventId`] arriving twice
//! must change nothing. Every per-user state keeps a [`RecentIds`]: the ids of
//! its recent events, bounded by a [`DedupeWindow`] so that state does not grow
//! without limit.
//!
//! The window keeps the ids of events no older than `horizon_hours` behind
//! the newest event seen, and at most `max_ids` of them. While no more than
//! `max_ids` ids arrive within the horizon, an id is kept for at least
//! `horizon_hours`; when it is forgotten after that is chosen to keep the
//! common step cheap:
//!
//! - the first two ids live in the state itself and cost nothing to keep,
//!   so they are forgotten only when a newer id needs their room (one past
//!   the horizon makes room rather than moving the ids to the heap);
//! - beyond two, ids are forgotten in batches rather than one per event:
//!   once the oldest is a quarter of the horizon further behind, every id
//!   past the horizon goes at once;
//! - past `max_ids` ids, the oldest go at once until three quarters of
//!   `max_ids` remain, within the horizon or not: a burst of more events
//!   than `max_ids` in one horizon shortens it for that state.
//!
//! An id that falls out is *forgotten*, and from then on the state cannot
//! tell whether an event at or before the forgotten one's time is new or a
//! repeat. Such an event is [`Admission::TooLate`]: refused, not guessed at.
//! Everything newer is checked exactly. So:
//!
//! - a redelivery within the horizon is always recognised, while the state
//!   has seen no more than `max_ids` events in it;
//! - a genuinely late event (a phone syncing yesterday's offline activity) is
//!   accepted if it is newer than everything forgotten;
//! - replaying a whole log a second time changes nothing: each event is
//!   either remembered (a duplicate) or older than something forgotten.
//!
//! The id alone identifies an event: a redelivery that was stamped anew is
//! still recognised while its id is remembered. Once its id is forgotten,
//! though, a redelivery is judged by the time it carries, so one stamped
//! *later* than everything forgotten would be taken as new. Deliver events
//! with the time they happened, not the time they were sent, and a second
//! delivery is always caught.
//!
//! ```
//! use chrono::{TimeZone, Utc, TimeDelta};
//! use growthkit::dedupe::{Admission, DedupeWindow, RecentIds};
//! use growthkit::EventId;
//!
//! let window = DedupeWindow { horizon_hours: 24, max_ids: 8 };
//! let mut seen = RecentIds::new();
//! let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
//! assert_eq!(seen.admit(EventId(1), t0), Admission::Fresh);
//! seen.remember(EventId(1), t0, &window);
//! assert_eq!(seen.admit(EventId(1), t0), Admission::Duplicate);
//! // Two days later the first id is past the horizon; the state keeps two
//! // ids, so a third forgets it, and an event that old is refused.
//! seen.remember(EventId(2), t0 + TimeDelta::days(2), &window);
//! assert_eq!(seen.admit(EventId(1), t0), Admission::Duplicate);
//! seen.remember(EventId(3), t0 + TimeDelta::days(2), &window);
//! assert_eq!(seen.admit(EventId(1), t0), Admission::TooLate);
//! ```

use crate::id::EventId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How much of a state's recent past it remembers event ids for.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DedupeWindow {
    /// Ids of events up to this many hours older than the newest event are
    /// remembered (unless more than `max_ids` arrive within it); older ones
    /// may be forgotten (see the module docs for when), and redeliveries of
    /// forgotten ones are refused as too late.
    pub horizon_hours: u32,
    /// At most this many ids are kept per state; past it the oldest go
    /// first, down to three quarters of it.
    pub max_ids: u16,
}

impl DedupeWindow {
    /// The field that makes this window useless, if any, named as it sits
    /// in a spec (`dedupe.horizon_hours`, `dedupe.max_ids`): both must be at
    /// least 1. Every spec that embeds a window reports it under its own error.
    pub fn zero_field(&self) -> Option<&'static str> {
        if self.horizon_hours == 0 {
            Some("dedupe.horizon_hours")
        } else if self.max_ids == 0 {
            Some("dedupe.max_ids")
        } else {
            None
        }
    }
}

impl Default for DedupeWindow {
    /// Three days and 64 ids: generous for retried deliveries and offline
    /// clients, small enough for a million users in memory.
    fn default() -> Self {
        DedupeWindow {
            horizon_hours: 72,
            max_ids: 64,
        }
    }
}

/// Whether a state can take an event, judged by its id and time.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Admission {
    /// Not seen before: apply it.
    Fresh,
    /// Seen before: applying it again must change nothing.
    Duplicate,
    /// Older than an id the window has already forgotten, so whether it is
    /// new cannot be known; refused.
    TooLate,
}

/// How many ids a state keeps without a heap allocation. Time-ordered
/// streams with a horizon of hours rarely hold more for one user, and a state
/// that needs no pointer chase is what makes a million-user replay fast.
const INLINE: usize = 2;

/// One remembered id: the id and its event's time in unix milliseconds.
type Seen = (EventId, i64);

/// The ids of a state's recent events, in time order (see the module docs).
///
/// Up to two ids live inline in the state; more move to the heap until the
/// window shrinks again. The oldest remembered time is always at hand in
/// the state (inline, or beside the heap pointer), so deciding whether
/// anything is due to be forgotten reads no heap; so is a filter over the
/// ids on the heap, so that a new event is told from a repeat without
/// reading them.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(from = "RecentIdsRepr", into = "RecentIdsRepr")]
pub struct RecentIds {
    ids: Ids,
    /// The newest time of any forgotten id, in unix milliseconds
    /// (`i64::MIN`: nothing forgotten yet).
    forgotten_through: i64,
}

// Two ids inline and the forgotten mark: three quarters of a cache line.
const _: () = assert!(std::mem::size_of::<RecentIds>() == 48);

/// The two filter bits of an id, from the top bits of a multiplicative hash.
#[inline]
fn filter_bits(id: EventId) -> u64 {
    let h = id.0.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (1u64 << (h >> 58)) | (1u64 << ((h >> 52) & 63))
}

/// The filter over `ids`: the union of their bits.
fn filter_of(ids: &[Seen]) -> u64 {
    ids.iter().fold(0, |f, &(id, _)| f | filter_bits(id))
}

/// An inline slot that holds no id. No event's time is `i64::MIN`
/// milliseconds (chrono's calendar ends long before), so an empty slot needs
/// no separate length, and [`Ids`] fits the heap variant's filter in the
/// inline one's room.
const EMPTY_SLOT: Seen = (EventId(0), i64::MIN);

// Both variants fit in 40 bytes: the heap's oldest time and its filter
// cost the state nothing.
#[derive(Clone, Debug)]
enum Ids {
    /// Up to [`INLINE`] ids, the live ones first and then [`EMPTY_SLOT`]s;
    /// checked one by one, since two comparisons are cheaper than hashing
    /// an id for a filter.
    Inline { items: [Seen; INLINE] },
    /// More than fit inline, in time order; `oldest` is the first one's
    /// time (`i64::MAX` when empty), kept out of the heap, and `filter` a
    /// two-bit-per-id Bloom filter over the ids: an event whose bits are
    /// not all set is certainly new, and is judged without reading the
    /// heap. Derived from `v`, never serialized.
    Heap {
        v: Vec<Seen>,
        oldest: i64,
        filter: u64,
    },
}

const _: () = assert!(std::mem::size_of::<Ids>() == 40);

impl Ids {
    const EMPTY: Ids = Ids::Inline {
        items: [EMPTY_SLOT; INLINE],
    };

    fn from_sorted(v: impl ExactSizeIterator<Item = Seen>) -> Ids {
        if v.len() <= INLINE {
            let mut items = [EMPTY_SLOT; INLINE];
            for (slot, item) in items.iter_mut().zip(v) {
                *slot = item;
            }
            Ids::Inline { items }
        } else {
            Ids::heap(v.collect())
        }
    }

    fn heap(v: Vec<Seen>) -> Ids {
        let oldest = v.first().map_or(i64::MAX, |s| s.1);
        let filter = filter_of(&v);
        Ids::Heap { v, oldest, filter }
    }

    /// The remembered ids, oldest first, wherever they are held.
    #[inline]
    fn as_slice(&self) -> &[Seen] {
        match self {
            Ids::Inline { items } => &items[..inline_len(items)],
            Ids::Heap { v, .. } => v,
        }
    }

    /// The oldest remembered time (`i64::MAX`: none), read without touching
    /// the heap.
    #[inline]
    fn oldest(&self) -> i64 {
        match self {
            Ids::Inline { items } if items[0] == EMPTY_SLOT => i64::MAX,
            Ids::Inline { items } => items[0].1,
            Ids::Heap { oldest, .. } => *oldest,
        }
    }

    /// The newest remembered time (`i64::MIN`: none).
    #[inline]
    fn newest(&self) -> i64 {
        self.as_slice().last().map_or(i64::MIN, |s| s.1)
    }

    #[inline]
    fn len(&self) -> usize {
        self.as_slice().len()
    }

    /// Whether `id` is held. Newest first: a repeat is most often of a
    /// recent event.
    #[inline]
    fn contains(&self, id: EventId) -> bool {
        match self {
            Ids::Inline { items } => items.iter().any(|&(seen, t)| seen == id && t != i64::MIN),
            Ids::Heap { v, filter, .. } => {
                let bits = filter_bits(id);
                *filter & bits == bits && v.iter().rev().any(|&(seen, _)| seen == id)
            }
        }
    }

    /// How many leading (oldest) entries satisfy `pred`, which must be
    /// true for a prefix and false after it.
    fn prefix(&self, pred: impl Fn(&Seen) -> bool) -> usize {
        self.as_slice().partition_point(pred)
    }

    #[inline]
    fn push_newest(&mut self, item: Seen) {
        match self {
            Ids::Inline { items } if inline_len(items) < INLINE => {
                items[inline_len(items)] = item;
            }
            Ids::Heap { v, oldest, filter } => {
                // A cleared window keeps its (empty) heap buffer.
                *oldest = (*oldest).min(item.1);
                *filter |= filter_bits(item.0);
                v.push(item);
            }
            Ids::Inline { .. } => self.insert(self.len(), item),
        }
    }

    fn insert(&mut self, pos: usize, item: Seen) {
        match self {
            Ids::Inline { items } if inline_len(items) < INLINE => {
                let n = inline_len(items);
                items.copy_within(pos..n, pos + 1);
                items[pos] = item;
            }
            Ids::Inline { .. } => {
                let mut v = Vec::with_capacity(4 * INLINE);
                v.extend_from_slice(self.as_slice());
                v.insert(pos, item);
                *self = Ids::heap(v);
            }
            Ids::Heap { v, oldest, filter } => {
                v.insert(pos, item);
                *filter |= filter_bits(item.0);
                if pos == 0 {
                    *oldest = item.1;
                }
            }
        }
    }

    /// Drops the `n` oldest ids (`n` at most the number held).
    fn drop_oldest(&mut self, n: usize) {
        match self {
            Ids::Inline { items } => {
                let live = inline_len(items);
                let n = n.min(live);
                // At most two moves: plainer than a `memmove` call.
                for i in 0..live - n {
                    items[i] = items[i + n];
                }
                items[live - n..live].fill(EMPTY_SLOT);
            }
            Ids::Heap { v, oldest, filter } => {
                let n = n.min(v.len());
                // A plain shift: cheaper than a `Drain` for a few ids.
                v.copy_within(n.., 0);
                v.truncate(v.len() - n);
                // Back inline once small again, so the state stops paying
                // for a pointer chase a burst of activity left behind; but
                // only with room to spare, or a user hovering at the inline
                // size would allocate and free on every other event.
                if v.len() < INLINE {
                    *self = Ids::from_sorted(v.iter().copied());
                } else {
                    *oldest = v.first().map_or(i64::MAX, |s| s.1);
                    *filter = filter_of(v);
                }
            }
        }
    }

    fn to_vec(&self) -> Vec<Seen> {
        self.as_slice().to_vec()
    }
}

/// How many of the inline slots hold an id: the live ones come first.
#[inline]
fn inline_len(items: &[Seen; INLINE]) -> usize {
    items.iter().take_while(|&&(_, t)| t != i64::MIN).count()
}

// Equality looks only at the live ids, wherever they are held.
impl PartialEq for Ids {
    fn eq(&self, other: &Ids) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for Ids {}

impl std::hash::Hash for Ids {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state);
    }
}

impl Default for RecentIds {
    fn default() -> Self {
        RecentIds::new()
    }
}

impl RecentIds {
    /// Remembers nothing yet.
    pub const fn new() -> RecentIds {
        RecentIds {
            ids: Ids::EMPTY,
            forgotten_through: i64::MIN,
        }
    }

    /// Judges an event without changing anything.
    #[inline]
    pub fn admit(&self, id: EventId, at: DateTime<Utc>) -> Admission {
        self.admit_millis(id, at.timestamp_millis())
    }

    /// Records an admitted event and forgets what the window lets go.
    pub fn remember(&mut self, id: EventId, at: DateTime<Utc>, window: &DedupeWindow) {
        self.remember_millis(id, at.timestamp_millis(), window)
    }

    #[inline]
    pub(crate) fn admit_millis(&self, id: EventId, ms: i64) -> Admission {
        // The id alone decides: a redelivery that was stamped anew (a retry
        // that took the time of sending) is still the same event.
        if self.ids.contains(id) {
            Admission::Duplicate
        } else if ms <= self.forgotten_through {
            Admission::TooLate
        } else {
            Admission::Fresh
        }
    }

    #[inline]
    pub(crate) fn remember_millis(&mut self, id: EventId, ms: i64, window: &DedupeWindow) {
        let horizon = i64::from(window.horizon_hours) * 3_600_000;
        let max = usize::from(window.max_ids.max(1));
        if !self.remember_inline(id, ms, horizon, max)
            && !self.remember_heap_in_order(id, ms, horizon, max)
        {
            self.remember_anywhere(id, ms, horizon, max);
        }
    }

    /// The general rules of [`remember_millis`](Self::remember_millis), for
    /// every window and every event.
    fn remember_anywhere(&mut self, id: EventId, ms: i64, horizon: i64, max: usize) {
        // The rules below look at how many ids there are, never at where
        // they are held, so a state and its serde round trip behave alike.
        let held = self.ids.len();
        if held == INLINE {
            // Room in the state beats a heap allocation: before spilling,
            // forget what the horizon already lets go. Without this an
            // occasional user whose third id spills, and whose next forget
            // brings it back inline, allocates and frees on every event.
            let cutoff = self.ids.newest().max(ms).saturating_sub(horizon);
            if self.ids.oldest() < cutoff {
                self.forget(cutoff, max);
            }
        }
        let newest = self.ids.newest();
        if ms >= newest {
            self.ids.push_newest((id, ms));
        } else {
            // A late event goes to its place in time order.
            let pos = self.ids.prefix(|&(_, t)| t <= ms);
            self.ids.insert(pos, (id, ms));
        }

        // The ids that fit in the state cost nothing to keep, and are
        // forgotten only to make room (above); past that they go in
        // batches, so that a busy user's state shrinks back once the burst
        // is over.
        let cutoff = newest.max(ms).saturating_sub(horizon);
        let held = self.ids.len();
        if held > max {
            self.forget(cutoff, max - max / 4);
        } else if held > INLINE && self.ids.oldest() < cutoff.saturating_sub(horizon / 4) {
            // Only what is past the horizon: under `max_ids`, every id
            // within it stays.
            self.forget(cutoff, max);
        }
    }

    /// The common step, taken without a call or a heap in sight: ids inline,
    /// an event in time order, and room left inline once the horizon has let
    /// go what it may. Does exactly what the general rules of
    /// [`remember_millis`](Self::remember_millis) would, or nothing and
    /// returns `false` for them to do it.
    #[inline(always)]
    fn remember_inline(&mut self, id: EventId, ms: i64, horizon: i64, max: usize) -> bool {
        let Ids::Inline { items } = &mut self.ids else {
            return false;
        };
        let held = inline_len(items);
        if held > 0 && items.get(held - 1).is_some_and(|newest| ms < newest.1) {
            return false;
        }
        // Full: what is past the horizon (behind this newest event) makes
        // room, and then the count bound, as in `forget`.
        let gone = if held == INLINE {
            let cutoff = ms.saturating_sub(horizon);
            let stale = items.iter().take_while(|s| s.1 < cutoff).count();
            if stale > 0 {
                stale.max(held.saturating_sub(max))
            } else {
                0
            }
        } else {
            0
        };
        let kept = held - gone;
        if kept >= INLINE || kept >= max {
            return false;
        }
        if let Some(newest_gone) = gone.checked_sub(1).and_then(|last| items.get(last)) {
            self.forgotten_through = self.forgotten_through.max(newest_gone.1);
            items.copy_within(gone..held, 0);
            items[kept..held].fill(EMPTY_SLOT);
        }
        items[kept] = (id, ms);
        true
    }

    /// The busy user's common step: ids on the heap, an event in time
    /// order, nothing due to be forgotten. A push, and no call. Does exactly
    /// what the general rules would, or nothing and returns `false` for
    /// them to do it.
    #[inline(always)]
    fn remember_heap_in_order(&mut self, id: EventId, ms: i64, horizon: i64, max: usize) -> bool {
        let Ids::Heap { v, oldest, filter } = &mut self.ids else {
            return false;
        };
        // Two ids or fewer take the general path's make-room check first;
        // a late event goes to its place; past `max_ids` the oldest go.
        let held = v.len();
        if held <= INLINE || held >= max || v.last().is_none_or(|newest| ms < newest.1) {
            return false;
        }
        // The batch forget the general rules would make after the push.
        if *oldest < ms.saturating_sub(horizon).saturating_sub(horizon / 4) {
            return false;
        }
        v.push((id, ms));
        *filter |= filter_bits(id);
        true
    }

    /// Forgets every id older than `cutoff`, then the oldest until at most
    /// `keep` remain.
    fn forget(&mut self, cutoff: i64, keep: usize) {
        // Ids are in time order: the stale ones are a prefix, dropped at
        // once. Scanned from the front, since a forget drops a few of the
        // ids at most, and a search would cost more.
        let ids = self.ids.as_slice();
        let stale = ids.iter().take_while(|&&(_, t)| t < cutoff).count();
        let gone = stale.max(ids.len().saturating_sub(keep));
        let Some(&(_, newest_gone)) = gone.checked_sub(1).and_then(|last| ids.get(last)) else {
            return;
        };
        self.forgotten_through = self.forgotten_through.max(newest_gone);
        self.ids.drop_oldest(gone);
    }

    /// Remembers nothing again, keeping any heap buffer for reuse. Behaves
    /// exactly as [`RecentIds::new`]: where ids are held never changes what
    /// is remembered or forgotten.
    pub fn clear(&mut self) {
        let ids = match std::mem::replace(&mut self.ids, Ids::EMPTY) {
            Ids::Heap { mut v, .. } => {
                v.clear();
                Ids::heap(v)
            }
            Ids::Inline { .. } => Ids::EMPTY,
        };
        *self = RecentIds {
            ids,
            ..RecentIds::new()
        };
    }

    /// The newest remembered time in unix milliseconds (`i64::MIN`: none).
    /// The newest id is never forgotten, so this is the newest event
    /// remembered since the window was new or cleared.
    pub(crate) fn newest_millis(&self) -> i64 {
        self.ids.newest()
    }

    /// How many ids are remembered now.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether no id is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The serialized form: the remembered ids in time order, and the forgotten mark.
#[derive(Serialize, Deserialize)]
struct RecentIdsRepr {
    ids: Vec<Seen>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    forgotten_through: Option<i64>,
}

impl From<RecentIdsRepr> for RecentIds {
    fn from(r: RecentIdsRepr) -> Self {
        let mut ids = r.ids;
        // Keep the time-order invariant even for hand-edited input, and
        // keep `i64::MIN`, which no event's time can be, for empty slots.
        for seen in &mut ids {
            seen.1 = seen.1.max(i64::MIN + 1);
        }
        ids.sort_by_key(|&(_, t)| t);
        RecentIds {
            ids: Ids::from_sorted(ids.into_iter()),
            forgotten_through: r.forgotten_through.unwrap_or(i64::MIN),
        }
    }
}

impl From<RecentIds> for RecentIdsRepr {
    fn from(r: RecentIds) -> Self {
        RecentIdsRepr {
            ids: r.ids.to_vec(),
            forgotten_through: (r.forgotten_through != i64::MIN).then_some(r.forgotten_through),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeDelta, TimeZone};
    use proptest::prelude::*;

    proptest! {
        /// The fast paths (ids inline; ids on the heap, in time order) are
        /// optimisations only: whatever they take, they leave exactly the
        /// state the general rules leave.
        #[test]
        fn the_fast_steps_are_the_general_step(
            max_ids in 1u16..12,
            horizon_hours in 1u32..6,
            // Half-hour steps, mostly forward, so that ids fall exactly on
            // the horizon, pile up on the heap, and sometimes arrive late.
            steps in proptest::collection::vec((0u64..48, -6i64..10), 1..80),
        ) {
            let horizon = i64::from(horizon_hours) * 3_600_000;
            let max = usize::from(max_ids);
            let (mut fast, mut general) = (RecentIds::new(), RecentIds::new());
            let mut half_hours = 0i64;
            for (id, step) in steps {
                half_hours = (half_hours + step).max(0);
                let (id, ms) = (EventId(id), half_hours * 1_800_000);
                prop_assert_eq!(fast.admit_millis(id, ms), general.admit_millis(id, ms));
                if general.admit_millis(id, ms) != Admission::Fresh {
                    continue;
                }
                if !fast.remember_inline(id, ms, horizon, max)
                    && !fast.remember_heap_in_order(id, ms, horizon, max)
                {
                    fast.remember_anywhere(id, ms, horizon, max);
                }
                general.remember_anywhere(id, ms, horizon, max);
                prop_assert_eq!(&fast, &general);
                prop_assert_eq!(fast.ids.oldest(), general.ids.as_slice().first().map_or(i64::MAX, |s| s.1));
            }
        }
    }

    fn t(hours: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + TimeDelta::hours(hours)
    }

    fn window(horizon_hours: u32, max_ids: u16) -> DedupeWindow {
        DedupeWindow {
            horizon_hours,
            max_ids,
        }
    }

    #[test]
    fn under_max_ids_every_id_within_the_horizon_is_kept() {
        // Eight ids, at most eight kept: clearing out the one past the
        // horizon keeps all the others, however many, within it.
        let w = window(24, 8);
        let mut r = RecentIds::new();
        for (id, hour) in [
            (1, 0),
            (2, 20),
            (3, 21),
            (4, 25),
            (5, 26),
            (6, 27),
            (7, 28),
            (8, 31),
        ] {
            r.remember(EventId(id), t(hour), &w);
        }
        assert_eq!(r.len(), 7);
        assert_eq!(r.admit(EventId(1), t(0)), Admission::TooLate);
        for id in 2..=8 {
            assert_eq!(r.admit(EventId(id), t(20)), Admission::Duplicate, "id {id}");
        }
        // A new event within the horizon is fresh, however late.
        let late = t(19) + TimeDelta::minutes(30);
        assert_eq!(r.admit(EventId(99), late), Admission::Fresh);
        // Past `max_ids`, the oldest quarter goes at once.
        r.remember(EventId(9), t(32), &w);
        r.remember(EventId(10), t(33), &w);
        assert_eq!(r.len(), 6);
        assert_eq!(r.admit(EventId(4), t(25)), Admission::TooLate);
        assert_eq!(r.admit(EventId(5), t(26)), Admission::Duplicate);
    }

    #[test]
    fn late_but_unforgotten_events_are_fresh() {
        let w = window(48, 8);
        let mut r = RecentIds::new();
        r.remember(EventId(1), t(10), &w);
        r.remember(EventId(2), t(20), &w);
        // Older than the newest, but nothing at or after t(5) was forgotten.
        assert_eq!(r.admit(EventId(3), t(5)), Admission::Fresh);
        r.remember(EventId(3), t(5), &w);
        assert_eq!(r.admit(EventId(3), t(5)), Admission::Duplicate);
        assert_eq!(r.len(), 3);
        // Moving past two ids spilled to the heap; the order survives it.
        let back: RecentIds = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(back, r);
        r.remember(EventId(4), t(66), &w);
        assert_eq!(r.len(), 2);
        assert_eq!(r.admit(EventId(2), t(20)), Admission::Duplicate);
        assert_eq!(r.admit(EventId(1), t(10)), Admission::TooLate);
    }

    #[test]
    fn a_cleared_window_behaves_as_a_new_one() {
        let w = window(24, 8);
        let mut used = RecentIds::new();
        for i in 0..6 {
            used.remember(EventId(i), t(i as i64), &w);
        }
        used.clear();
        assert_eq!(used, RecentIds::new());
        let mut new = RecentIds::new();
        for (i, h) in [(7, 0), (8, 30), (9, 31), (7, 40), (10, 2), (11, 90)] {
            let id = EventId(i);
            assert_eq!(used.admit(id, t(h)), new.admit(id, t(h)), "id {i} at {h}h");
            if new.admit(id, t(h)) == Admission::Fresh {
                used.remember(id, t(h), &w);
                new.remember(id, t(h), &w);
            }
            assert_eq!(used, new);
        }
    }

    #[test]
    fn count_bound_forgets_the_oldest() {
        let w = window(1000, 2);
        let mut r = RecentIds::new();
        for i in 0..3 {
            r.remember(EventId(i), t(i as i64), &w);
        }
        assert_eq!(r.len(), 2);
        assert_eq!(r.admit(EventId(0), t(0)), Admission::TooLate);
        assert_eq!(r.admit(EventId(9), t(0)), Admission::TooLate);
        assert_eq!(r.admit(EventId(1), t(1)), Admission::Duplicate);
        assert_eq!(r.admit(EventId(9), t(1)), Admission::Fresh);
    }

    #[test]
    fn ids_live_at_least_the_horizon_and_go_a_quarter_later() {
        let w = window(24, 64);
        let mut r = RecentIds::new();
        r.remember(EventId(1), t(0), &w);
        r.remember(EventId(2), t(1), &w);
        r.remember(EventId(3), t(24), &w);
        // Exactly the horizon behind the newest: still remembered.
        assert_eq!(r.admit(EventId(1), t(0)), Admission::Duplicate);
        r.remember(EventId(4), t(30), &w);
        assert_eq!(r.admit(EventId(1), t(0)), Admission::Duplicate);
        // A quarter of the horizon later still, it goes, with its neighbour.
        r.remember(EventId(5), t(31), &w);
        assert_eq!(r.admit(EventId(1), t(0)), Admission::TooLate);
        assert_eq!(r.admit(EventId(2), t(1)), Admission::TooLate);
        assert_eq!(r.admit(EventId(3), t(24)), Admission::Duplicate);
        assert_eq!(r.len(), 3);
    }

    #[test]
    fn a_full_inline_window_forgets_past_the_horizon_rather_than_spill() {
        let w = window(24, 64);
        let mut r = RecentIds::new();
        r.remember(EventId(1), t(0), &w);
        r.remember(EventId(2), t(20), &w);
        // Exactly the horizon: id 1 is kept, so a third id needs the heap.
        let mut kept = r.clone();
        kept.remember(EventId(3), t(24), &w);
        assert_eq!(kept.len(), 3);
        assert_eq!(kept.admit(EventId(1), t(0)), Admission::Duplicate);
        // Past the horizon id 1 makes room, a quarter of it early.
        r.remember(EventId(3), t(25), &w);
        assert_eq!(r.len(), 2);
        assert_eq!(r.admit(EventId(1), t(0)), Admission::TooLate);
        assert_eq!(r.admit(EventId(2), t(20)), Admission::Duplicate);
        assert_eq!(r.admit(EventId(3), t(25)), Admission::Duplicate);
        // A late event newer than the forgotten one is still taken, in order.
        assert_eq!(r.admit(EventId(4), t(1)), Admission::Fresh);
    }

    #[test]
    fn past_max_ids_the_oldest_quarter_goes_at_once() {
        let w = window(1000, 8);
        let mut r = RecentIds::new();
        for i in 0..9 {
            r.remember(EventId(i), t(i as i64), &w);
        }
        assert_eq!(r.len(), 6);
        assert_eq!(r.admit(EventId(2), t(2)), Admission::TooLate);
        assert_eq!(r.admit(EventId(3), t(3)), Admission::Duplicate);
    }

    #[test]
    fn a_busy_window_in_time_order_takes_the_heap_step() {
        let (horizon, max) = (24 * 3_600_000, 64);
        let (mut fast, mut general) = (RecentIds::new(), RecentIds::new());
        let mut pushed = 0;
        // An event an hour for three days: the heap step, with a batch
        // forget on the general path every six hours past the first day.
        for i in 0..72 {
            let (id, ms) = (EventId(i), i as i64 * 3_600_000);
            if !fast.remember_inline(id, ms, horizon, max) {
                if fast.remember_heap_in_order(id, ms, horizon, max) {
                    pushed += 1;
                } else {
                    fast.remember_anywhere(id, ms, horizon, max);
                }
            }
            general.remember_anywhere(id, ms, horizon, max);
            assert_eq!(fast, general, "after id {i}");
        }
        assert!(pushed > 60, "the heap step took {pushed} of 72");
        assert!(fast.len() > INLINE && fast.len() <= 25 + 6);
    }

    #[test]
    fn id_zero_and_the_earliest_times_are_ids_like_any_other() {
        // An empty inline slot is (0, i64::MIN): neither id 0 nor an early
        // time may be mistaken for one.
        let w = window(24, 8);
        let mut r = RecentIds::new();
        assert_eq!(
            r.admit(EventId(0), DateTime::<Utc>::MIN_UTC),
            Admission::Fresh
        );
        r.remember(EventId(0), DateTime::<Utc>::MIN_UTC, &w);
        assert_eq!(r.len(), 1);
        assert_eq!(r.admit(EventId(0), t(0)), Admission::Duplicate);
        assert_eq!(r.admit(EventId(1), t(0)), Admission::Fresh);
        // A hand-edited window with the one time no event has reads back
        // with the id remembered.
        let edited: RecentIds =
            serde_json::from_str(&format!(r#"{{"ids":[[0,{}],[5,0]]}}"#, i64::MIN)).unwrap();
        assert_eq!(edited.len(), 2);
        assert_eq!(edited.admit(EventId(0), t(0)), Admission::Duplicate);
        assert_eq!(edited.admit(EventId(5), t(0)), Admission::Duplicate);
        assert_eq!(edited.admit(EventId(6), t(0)), Admission::Fresh);
    }

    #[test]
    fn a_repeated_id_is_a_duplicate_whatever_its_time() {
        let w = DedupeWindow::default();
        let mut r = RecentIds::new();
        r.remember(EventId(1), t(0), &w);
        assert_eq!(r.admit(EventId(1), t(5)), Admission::Duplicate);
    }
}
