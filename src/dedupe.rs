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
//! - past `max_ids` ids, those past the horizon may linger until a quarter
//!   more than `max_ids` are held, and then go at once; if more than
//!   `max_ids` remain within it (a burst of more events than `max_ids` in
//!   one horizon), the oldest go too, until three quarters of `max_ids`
//!   remain: the burst shortens the horizon for that state. So a state
//!   holds at most `max_ids` ids within the horizon, and `max_ids +
//!   max_ids / 4` in all.
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
//! A batch path over a prepared log (such as [`crate::lifecycle::replay`])
//! may keep a new state's window in a buffer of its own while the state's
//! event ids increase, and write the state's window once, at the end of its
//! events: the same rules, the same ids kept and forgotten, without a heap
//! block per state.
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
use crate::time::unix_millis;
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
    #[serde(deserialize_with = "horizon_hours_field")]
    pub horizon_hours: u32,
    /// At most this many ids within the horizon are kept per state (a
    /// quarter more in all, counting ids past the horizon not yet let go);
    /// past it the oldest go first (see the module docs).
    #[serde(deserialize_with = "max_ids_field")]
    pub max_ids: u16,
}

// Each field names itself when its value is refused (`field `dedupe`:
// field `horizon_hours`: ...`), as the specs that embed a window do.
crate::points::fields::field_readers! {
    fn horizon_hours_field = named("horizon_hours");
    fn max_ids_field = named("max_ids");
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

    /// The horizon in milliseconds and the most ids kept (at least one),
    /// as the forgetting rules use them.
    #[inline]
    pub(crate) fn limits(&self) -> (i64, usize) {
        (
            i64::from(self.horizon_hours) * 3_600_000,
            usize::from(self.max_ids.max(1)),
        )
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
    /// At or before the time of an id the window has already forgotten, so
    /// whether it is new cannot be known; refused.
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

/// Where a window's ids are held, as its forgetting rules see them: in time
/// order, added at their place and dropped from the oldest end. The rules
/// look at how many ids there are and at their times, never at where they
/// are held, so that a state, its serde round trip and a batch path's
/// [`RunWindow`] all remember and forget alike.
trait Held {
    /// The ids, oldest first.
    fn as_slice(&self) -> &[Seen];
    /// Adds an id no older than any held.
    fn push_newest(&mut self, item: Seen);
    /// Adds an id at `pos` in time order.
    fn insert(&mut self, pos: usize, item: Seen);
    /// Drops the `n` oldest ids (`n` at most the number held).
    fn drop_oldest(&mut self, n: usize);

    /// The oldest time held (`i64::MAX`: none).
    #[inline]
    fn oldest(&self) -> i64 {
        self.as_slice().first().map_or(i64::MAX, |s| s.1)
    }
}

/// The rules of [`RecentIds::remember_millis`]: adds `item` to `ids` and
/// forgets what the window lets go, raising `forgotten_through` to the
/// newest time forgotten.
fn remember_by_rules(
    ids: &mut impl Held,
    forgotten_through: &mut i64,
    item: Seen,
    (horizon, max): (i64, usize),
) {
    let ms = item.1;
    let newest_of = |ids: &[Seen]| ids.last().map_or(i64::MIN, |s| s.1);
    if ids.as_slice().len() == INLINE {
        // Room in the state beats a heap allocation: before spilling,
        // forget what the horizon already lets go. Without this an
        // occasional user whose third id spills, and whose next forget
        // brings it back inline, allocates and frees on every event.
        let cutoff = newest_of(ids.as_slice()).max(ms).saturating_sub(horizon);
        if ids.oldest() < cutoff {
            forget_by_rules(ids, forgotten_through, cutoff, max);
        }
    }
    let newest = newest_of(ids.as_slice());
    if ms >= newest {
        ids.push_newest(item);
    } else {
        // A late event goes to its place in time order.
        let pos = ids.as_slice().partition_point(|&(_, t)| t <= ms);
        ids.insert(pos, item);
    }

    // The ids that fit in the state cost nothing to keep, and are
    // forgotten only to make room (above); past that they go in batches,
    // so that a busy user's state shrinks back once the burst is over.
    let cutoff = newest.max(ms).saturating_sub(horizon);
    let held = ids.as_slice().len();
    if held > max {
        let stale = ids
            .as_slice()
            .iter()
            .take_while(|&&(_, t)| t < cutoff)
            .count();
        if held - stale > max {
            // A burst of more than `max` ids within the horizon: cut into
            // it, down to three quarters.
            forget_by_rules(ids, forgotten_through, cutoff, max - max / 4);
        } else if held > max + max / 4 {
            // Ids past the horizon may linger up to a quarter beyond
            // `max` and then go at once: a user who keeps about `max` ids
            // within the horizon then drops a few every few events, not
            // one (with a shift of all the others) every event.
            forget_by_rules(ids, forgotten_through, cutoff, max);
        }
    } else if held > INLINE && ids.oldest() < cutoff.saturating_sub(horizon / 4) {
        // Only what is past the horizon: under `max_ids`, every id within
        // it stays.
        forget_by_rules(ids, forgotten_through, cutoff, max);
    }
}

/// Whether [`remember_by_rules`] would only push an id at `ms` onto `held`
/// ids whose oldest and newest times are `(oldest, newest)`: it is in time
/// order and nothing is due to be forgotten. The fast paths ask this
/// before they push.
#[inline(always)]
fn nothing_due(
    held: usize,
    (oldest, newest): (i64, i64),
    ms: i64,
    horizon: i64,
    max: usize,
) -> bool {
    let cutoff = ms.saturating_sub(horizon);
    ms >= newest
        && held < max
        // The make-room forget of a window holding `INLINE` ids.
        && (held != INLINE || oldest >= cutoff)
        // The batch forget past `INLINE` ids.
        && (held < INLINE || oldest >= cutoff.saturating_sub(horizon / 4))
}

/// Forgets every id older than `cutoff`, then the oldest until at most
/// `keep` remain.
fn forget_by_rules(ids: &mut impl Held, forgotten_through: &mut i64, cutoff: i64, keep: usize) {
    // Ids are in time order: the stale ones are a prefix, dropped at once.
    // Scanned from the front, since a forget drops a few of the ids at
    // most, and a search would cost more.
    let held = ids.as_slice();
    let stale = held.iter().take_while(|&&(_, t)| t < cutoff).count();
    let gone = stale.max(held.len().saturating_sub(keep));
    let Some(&(_, newest_gone)) = gone.checked_sub(1).and_then(|last| held.get(last)) else {
        return;
    };
    *forgotten_through = (*forgotten_through).max(newest_gone);
    ids.drop_oldest(gone);
}

impl Held for Ids {
    #[inline]
    fn as_slice(&self) -> &[Seen] {
        Ids::as_slice(self)
    }

    #[inline]
    fn push_newest(&mut self, item: Seen) {
        Ids::push_newest(self, item)
    }

    fn insert(&mut self, pos: usize, item: Seen) {
        Ids::insert(self, pos, item)
    }

    fn drop_oldest(&mut self, n: usize) {
        Ids::drop_oldest(self, n)
    }

    /// Read without touching the heap.
    #[inline]
    fn oldest(&self) -> i64 {
        Ids::oldest(self)
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
        self.admit_millis(id, unix_millis(at))
    }

    /// Records an admitted event and forgets what the window lets go.
    pub fn remember(&mut self, id: EventId, at: DateTime<Utc>, window: &DedupeWindow) {
        self.remember_millis(id, unix_millis(at), window)
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
        let (horizon, max) = window.limits();
        if !self.remember_inline(id, ms, horizon, max)
            && !self.remember_heap_in_order(id, ms, horizon, max)
        {
            self.remember_anywhere(id, ms, horizon, max);
        }
    }

    /// The general rules of [`remember_millis`](Self::remember_millis), for
    /// every window and every event.
    fn remember_anywhere(&mut self, id: EventId, ms: i64, horizon: i64, max: usize) {
        let limits = (horizon, max);
        remember_by_rules(&mut self.ids, &mut self.forgotten_through, (id, ms), limits);
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
        let Some(&(_, newest)) = v.last() else {
            return false;
        };
        if !nothing_due(v.len(), (*oldest, newest), ms, horizon, max) {
            return false;
        }
        v.push((id, ms));
        *filter |= filter_bits(id);
        true
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

    /// Makes this window hold `ids` (in time order) and `forgotten_through`,
    /// keeping its heap buffer, if any, for them however few they are (as
    /// [`RecentIds::clear`] does): a state replayed again reuses it.
    fn set(&mut self, ids: &[Seen], forgotten_through: i64) {
        self.ids = match std::mem::replace(&mut self.ids, Ids::EMPTY) {
            Ids::Heap { mut v, .. } => {
                v.clear();
                v.extend_from_slice(ids);
                Ids::heap(v)
            }
            Ids::Inline { .. } => Ids::from_sorted(ids.iter().copied()),
        };
        self.forgotten_through = forgotten_through;
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

/// Which window judges a step's events: the state's own [`RecentIds`]
/// ([`OwnWindow`]), or a batch path's [`RunWindow`] standing in for it.
/// A step is generic over it, so the online path pays nothing for the
/// choice.
pub(crate) trait Judge {
    /// Whether the event is new, a repeat, or too late to tell, as
    /// [`RecentIds::admit`] would say for `own`.
    fn admit(&mut self, own: &mut RecentIds, id: EventId, ms: i64) -> Admission;
    /// Records an admitted event, as [`RecentIds::remember`] would in `own`.
    fn remember(&mut self, own: &mut RecentIds, id: EventId, ms: i64, window: &DedupeWindow);
}

/// The state's own window judges: the online path.
pub(crate) struct OwnWindow;

impl Judge for OwnWindow {
    #[inline(always)]
    fn admit(&mut self, own: &mut RecentIds, id: EventId, ms: i64) -> Admission {
        own.admit_millis(id, ms)
    }

    #[inline(always)]
    fn remember(&mut self, own: &mut RecentIds, id: EventId, ms: i64, window: &DedupeWindow) {
        own.remember_millis(id, ms, window)
    }
}

/// A stand-in for a state's empty window over a run of its events in a
/// batch path, for as long as the run's event ids strictly increase.
///
/// In such a run no id comes twice, so telling a new event from a repeat
/// needs no look at the ids, only at its time against what was forgotten.
/// The stand-in keeps exactly the ids and the forgotten mark the state's
/// [`RecentIds`] would (the same rules, which look only at how many ids
/// there are and at their times), in a buffer reused from run to run: no
/// filter to keep, and no heap block to allocate, grow and free as a busy
/// state's ids come and go. The state's own window is written once, when
/// the run ends ([`RunWindow::end`]) or when an id does not increase (from
/// then on the state's window judges): into the heap buffer it kept, if it
/// had one, or else inline, or into one block of exactly the ids left.
#[derive(Debug, Default)]
pub(crate) struct RunWindow {
    ids: RunIds,
    forgotten_through: i64,
    /// The largest id of the run so far.
    last: Option<u64>,
    /// Whether this stands in for the state's window; off, every call goes
    /// to the state's own.
    on: bool,
}

/// A run's ids: `v[head..]`, forgotten ones left behind `head` until a
/// push moves the live ones down.
#[derive(Debug, Default)]
struct RunIds {
    v: Vec<Seen>,
    head: usize,
}

impl Held for RunIds {
    #[inline]
    fn as_slice(&self) -> &[Seen] {
        self.v.get(self.head..).unwrap_or_default()
    }

    #[inline]
    fn push_newest(&mut self, item: Seen) {
        // Moving the live ids down once the forgotten ones are the larger
        // part costs at most one move per push, and keeps the buffer about
        // as large as the busiest window.
        if self.head >= 32 && self.head * 2 >= self.v.len() {
            self.v.drain(..self.head);
            self.head = 0;
        }
        self.v.push(item);
    }

    fn insert(&mut self, pos: usize, item: Seen) {
        self.v.insert(self.head + pos, item);
    }

    #[inline]
    fn drop_oldest(&mut self, n: usize) {
        self.head = (self.head + n).min(self.v.len());
    }
}

impl RunIds {
    /// The common step: an event in time order that makes the rules forget
    /// nothing is pushed, and `true` returned; otherwise nothing is done.
    #[inline(always)]
    fn push_if_nothing_due(&mut self, id: EventId, ms: i64, horizon: i64, max: usize) -> bool {
        let live = self.as_slice();
        let ends = match (live.first(), live.last()) {
            (Some(first), Some(last)) => (first.1, last.1),
            _ => (ms, i64::MIN),
        };
        let push = nothing_due(live.len(), ends, ms, horizon, max);
        if push {
            self.push_newest((id, ms));
        }
        push
    }
}

impl RunWindow {
    /// Starts a run of the state whose window is `own`: stands in for it if
    /// it is empty (a new or cleared state), else leaves it to judge.
    pub(crate) fn begin(&mut self, own: &RecentIds) {
        self.on = own.is_empty() && own.forgotten_through == i64::MIN;
        self.ids.v.clear();
        self.ids.head = 0;
        self.forgotten_through = i64::MIN;
        self.last = None;
    }

    /// Ends the run: the state's window becomes what it would have been.
    pub(crate) fn end(&mut self, own: &mut RecentIds) {
        if self.on {
            own.set(self.ids.as_slice(), self.forgotten_through);
            self.on = false;
        }
    }
}

impl Judge for RunWindow {
    #[inline]
    fn admit(&mut self, own: &mut RecentIds, id: EventId, ms: i64) -> Admission {
        if self.on {
            if self.last.is_none_or(|last| id.0 > last) {
                // Larger than every id of the run: not a repeat.
                self.last = Some(id.0);
                return if ms <= self.forgotten_through {
                    Admission::TooLate
                } else {
                    Admission::Fresh
                };
            }
            // Perhaps a repeat: the state's own window takes over.
            self.end(own);
        }
        own.admit_millis(id, ms)
    }

    #[inline]
    fn remember(&mut self, own: &mut RecentIds, id: EventId, ms: i64, window: &DedupeWindow) {
        if self.on {
            let limits = window.limits();
            if !self.ids.push_if_nothing_due(id, ms, limits.0, limits.1) {
                remember_by_rules(&mut self.ids, &mut self.forgotten_through, (id, ms), limits);
            }
        } else {
            own.remember_millis(id, ms, window)
        }
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

    proptest! {
        /// A batch path's stand-in judges every event of a run as the
        /// state's own window would, and leaves the state's window exactly
        /// as the online steps leave it: while the ids increase, and after
        /// one does not and the state's window takes over.
        #[test]
        fn a_run_window_judges_and_leaves_what_the_state_would(
            max_ids in 1u16..12,
            horizon_hours in 1u32..6,
            // Ids mostly increasing, now and then repeating the last id or
            // going back; half-hour times, mostly forward, some equal.
            steps in proptest::collection::vec(
                (prop_oneof![12 => 1i64..4, 1 => -3i64..1], -4i64..8),
                1..200,
            ),
        ) {
            let window = DedupeWindow { horizon_hours, max_ids };
            let (mut own, mut online) = (RecentIds::new(), RecentIds::new());
            let mut run = RunWindow::default();
            run.begin(&own);
            prop_assert!(run.on);
            let (mut id, mut half_hours) = (100i64, 0i64);
            for (id_step, time_step) in steps {
                id += id_step;
                half_hours = (half_hours + time_step).max(0);
                let (id, ms) = (EventId(id as u64), half_hours * 1_800_000);
                let judged = run.admit(&mut own, id, ms);
                prop_assert_eq!(judged, online.admit_millis(id, ms));
                if judged == Admission::Fresh {
                    run.remember(&mut own, id, ms, &window);
                    online.remember_millis(id, ms, &window);
                }
            }
            run.end(&mut own);
            prop_assert_eq!(&own, &online);
            // Judged alike from here on, whatever comes.
            for probe in 0..120 {
                let (id, ms) = (EventId(probe), (probe as i64 - 20) * 1_800_000);
                prop_assert_eq!(own.admit_millis(id, ms), online.admit_millis(id, ms));
            }
        }
    }

    #[test]
    fn a_run_window_refuses_an_event_at_the_forgotten_time() {
        // One id kept: a second at the same millisecond forgets the first,
        // and a third at that millisecond can no longer be told apart.
        let w = window(1, 1);
        let (mut own, mut online) = (RecentIds::new(), RecentIds::new());
        let mut run = RunWindow::default();
        run.begin(&own);
        for id in 1..=2 {
            assert_eq!(run.admit(&mut own, EventId(id), 7), Admission::Fresh);
            run.remember(&mut own, EventId(id), 7, &w);
            online.remember_millis(EventId(id), 7, &w);
        }
        assert_eq!(online.admit_millis(EventId(3), 7), Admission::TooLate);
        assert_eq!(run.admit(&mut own, EventId(3), 7), Admission::TooLate);
        assert_eq!(run.admit(&mut own, EventId(4), 8), Admission::Fresh);
        run.end(&mut own);
        assert_eq!(own, online);
    }

    #[test]
    fn a_run_window_keeps_a_reused_heap_buffer() {
        let w = window(24, 8);
        let mut own = RecentIds::new();
        for i in 0..4 {
            own.remember(EventId(i), t(i as i64), &w);
        }
        own.clear();
        let mut run = RunWindow::default();
        run.begin(&own);
        for i in 10..12 {
            let ms = t(i).timestamp_millis();
            assert_eq!(run.admit(&mut own, EventId(i as u64), ms), Admission::Fresh);
            run.remember(&mut own, EventId(i as u64), ms, &w);
        }
        run.end(&mut own);
        // Two ids, as the online steps would leave them, in the buffer the
        // state kept: a replay into reused states allocates nothing.
        assert_eq!(own.len(), 2);
        assert!(matches!(own.ids, Ids::Heap { .. }));
        assert_eq!(own.admit(EventId(11), t(11)), Admission::Duplicate);
    }

    #[test]
    fn a_run_window_stands_in_only_for_an_empty_window() {
        let w = window(24, 8);
        let mut own = RecentIds::new();
        own.remember(EventId(1), t(0), &w);
        let mut run = RunWindow::default();
        run.begin(&own);
        // Not empty: the state's own window judges, and remembers.
        assert_eq!(
            run.admit(&mut own, EventId(1), 0),
            own.admit_millis(EventId(1), 0)
        );
        run.remember(&mut own, EventId(2), t(1).timestamp_millis(), &w);
        assert_eq!(own.len(), 2);
        run.end(&mut own);
        assert_eq!(own.len(), 2);
        // A cleared window is empty again, and its heap buffer is reused.
        for i in 3..9 {
            own.remember(EventId(i), t(i as i64), &w);
        }
        own.clear();
        run.begin(&own);
        for i in 0..5 {
            let ms = t(i).timestamp_millis();
            assert_eq!(
                run.admit(&mut own, EventId(10 + i as u64), ms),
                Admission::Fresh
            );
            run.remember(&mut own, EventId(10 + i as u64), ms, &w);
        }
        assert!(
            own.is_empty(),
            "the stand-in writes the state's window at the end"
        );
        run.end(&mut own);
        assert_eq!(own.len(), 5);
        assert_eq!(own.admit(EventId(12), t(2)), Admission::Duplicate);
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
    fn an_id_past_the_horizon_does_not_push_a_recent_one_out() {
        // Five ids, four within the horizon: all four stay (a cut to three
        // quarters would drop event 2), and the one past it may linger (up
        // to a quarter beyond `max_ids` are held).
        let w = window(24, 4);
        let mut r = RecentIds::new();
        for (id, hour) in [(1, 0), (2, 20), (3, 21), (4, 22), (5, 25)] {
            r.remember(EventId(id), t(hour), &w);
        }
        assert_eq!(r.admit(EventId(2), t(20)), Admission::Duplicate);
        // A redelivery stamped anew is recognised too.
        assert_eq!(r.admit(EventId(2), t(25)), Admission::Duplicate);
        assert_ne!(r.admit(EventId(1), t(0)), Admission::Fresh);
        assert_eq!(r.len(), 5);
        // One more past the horizon: both stale ones go at once.
        let w = window(24, 8);
        let mut r = RecentIds::new();
        // Three past the horizon, eight within it: held until an eleventh
        // id, then the three go together.
        for (id, hour) in (0..11).map(|i| (i, if i < 3 { i } else { 19 + i })) {
            r.remember(EventId(id as u64), t(hour), &w);
            assert_eq!(r.len(), if id < 10 { id as usize + 1 } else { 8 });
        }
        assert_eq!(r.admit(EventId(1), t(1)), Admission::TooLate);
        assert_eq!(r.admit(EventId(3), t(22)), Admission::Duplicate);
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
