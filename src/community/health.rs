//! Community health: how many members a community has, how many of them
//! come back, whether posts get answered, whether a few people do all the
//! talking, and whether members talk *with* each other.
//!
//! # Definitions
//!
//! A [`HealthSpec`] names a **window**: the `window_days` local days ending
//! on `last_day`, both ends included, in the time zone given to the builder.
//! Every figure is per community. An event belongs to the community named by
//! [`EventKind::community`]; events without one (views, clicks, visits) are
//! not community activity and are ignored here (see
//! [`heat`](super::heat) for content views and clicks).
//!
//! - A member is **active on a day** if at least one of their community
//!   events falls on that local day. Joining or leaving is not activity.
//! - **Active members**: distinct members active on at least one day of the
//!   window.
//! - **Members**: those whose last membership change at the end of the
//!   window is a join, together with every active member (someone who posts
//!   is a member de facto, even when the host never reported the join).
//!   Joins come from [`HealthBuilder::joined`] and from
//!   [`EventKind::InviteAccepted`] naming the community; leaves from
//!   [`HealthBuilder::left`]. At the same instant a leave counts after a join.
//!   Changes, like post events, order by local day, then by their Unix
//!   milliseconds: an instant inside a leap second (chrono's `23:59:60.5`,
//!   whose milliseconds run into the next second) stays on its own day.
//! - **New members**: everyone whose *earliest* join seen falls in the
//!   window, including those who have left since (the joins the window
//!   gained, so they can outnumber the members at its end): a retention
//!   cohort that dropped the members who left would hide the churn it
//!   measures.
//! - **New-member retention** after `retention_days` = N: of the new members
//!   who joined on day J with `J + N ≤ last_day` (the others have not had N
//!   days yet), the share active on some day from `J + N` to `last_day`.
//! - **Average DAU, WAU, MAU**: for every day `d` of the window, the members
//!   active on `d`, on some day of the 7 days ending on `d`, and of the 30
//!   days ending on `d`; each averaged over the window's days. The builder
//!   keeps activity from 29 days before the window for this look-back, so a
//!   window's first days are not undercounted. **Stickiness** is average DAU
//!   over average MAU.
//! - **Posts**: distinct [`EventKind::Post`] contents posted in the window
//!   (the earliest post event of a content id counts, the lowest user id's
//!   at the same instant, in the community it names: a content id is one
//!   content whatever community its events name, so its replies count
//!   wherever they are made and a cross-post is activity but no second
//!   post). **Posts per active member**: posts over active members.
//! - **Reply rate**: the share of those posts with at least one reply by
//!   someone other than the author (fed up to `last_day`). **Median time to
//!   first reply**: over the replied posts, from the post to its earliest
//!   such reply, in milliseconds (negative gaps, from skewed clocks, count as
//!   zero), the **lower** middle value for an even count, as in
//!   [funnels](crate::analytics::funnel).
//! - **Contributor concentration** over the active members, each weighted by
//!   their number of community events in the window: the share of all
//!   events made by the top 10% (`⌈n / 10⌉` members, at least one), and the
//!   **Gini coefficient** `Σᵢ (2i − n − 1) xᵢ / (n Σ xᵢ)` over the counts
//!   sorted ascending (0 when everyone contributes equally, including a
//!   single contributor; near 1 when one member does everything).
//! - **Interaction graph**: a directed edge `a → b` when `a` replied to,
//!   reacted to or shared content by `b` in the window (`b` from the event's
//!   `to`, or the author of the content when the builder saw its post);
//!   self-interactions are ignored, repeated interactions are one edge.
//!   **Reciprocity**: the share of edges whose reverse is also an edge.
//!   **Density**: edges over `n (n − 1)`, where `n` counts members and every
//!   member at either end of an edge.
//! - **Core members**: members active on at least `core_active_percent`% of
//!   the window's days (50% by default), listed by id.
//!
//! Every figure is exact: rates are [`Ratio`]s of integer counts (sums
//! saturate at `u64::MAX`, far beyond any real community).
//!
//! # Sharding
//!
//! [`HealthBuilder::merge`] unions everything two builders saw, so events may
//! be split across shards **in any way** (by user, by time, round robin): the
//! merged builder finishes into the same report as one pass over all events,
//! and merging is associative and commutative. Between processes, a shard
//! travels as a [`HealthShard`] ([`HealthBuilder::into_shard`], serde, then
//! [`HealthBuilder::absorb`]). Feed each event once
//! (deduplicate redeliveries upstream with [`RecentIds`](crate::dedupe::RecentIds)):
//! activity counts are counts of events. A host that shards by community can
//! instead finish each shard and combine the reports with
//! [`HealthReport::merge`], which refuses a community present in both; the
//! result is the one pass's when every event about a content names the
//! content's own community (see **Posts**).
//!
//! # Cost
//!
//! Built for the batch path. [`HealthBuilder::add`] looks no member up: it
//! appends a 16-byte record per event (member id, community slot, day) and
//! one per interaction, so its cost does not grow with the number of
//! members. Communities are interned into dense slots; content facts sit in
//! a dense vector in arrival order behind a small id-to-slot map (replies to
//! recent posts find them in cache). [`HealthBuilder::finish`] groups the
//! records by community in one counting pass, then sorts each community's
//! records, small enough to stay in cache, with a radix sort on the top bits
//! of a mixed member id (time-ordered streams leave each member's days in
//! order already). Members, reciprocated edges and the graph's nodes then
//! come from merges of sorted lists: no hash set per community, no hash
//! probe per event.
//!
//! # Example
//!
//! ```
//! use chrono::{DateTime, FixedOffset, NaiveDate, TimeZone, Utc};
//! use growthkit::analytics::Ratio;
//! use growthkit::community::HealthSpec;
//! use growthkit::{CommunityId, ContentId, Event, EventId, EventKind, LocalDay, UserId};
//!
//! let beijing = FixedOffset::east_opt(8 * 3600).unwrap();
//! let at = |d, h| -> DateTime<Utc> {
//!     beijing.with_ymd_and_hms(2026, 3, d, h, 0, 0).unwrap().with_timezone(&Utc)
//! };
//! let rust = Some(CommunityId(1));
//! let spec = HealthSpec {
//!     window_days: 7,
//!     ..HealthSpec::new(LocalDay::from_date(NaiveDate::from_ymd_opt(2026, 3, 7).unwrap()))
//! };
//! let mut builder = spec.validate()?.builder(beijing);
//! builder.joined(UserId(2), CommunityId(1), at(1, 8));
//! let events = [
//!     (1, at(1, 9), EventKind::Post { community: rust, content: ContentId(10) }),
//!     (2, at(1, 11), EventKind::Reply { community: rust, content: ContentId(10), to: None }),
//!     (1, at(2, 9), EventKind::Reply { community: rust, content: ContentId(11), to: Some(UserId(2)) }),
//! ];
//! for (i, (user, t, kind)) in events.into_iter().enumerate() {
//!     builder.add(&Event::new(EventId(i as u64), UserId(user), t, kind));
//! }
//! let report = builder.finish();
//! let rust = report.community(CommunityId(1)).unwrap();
//! assert_eq!(rust.members, 2);
//! assert_eq!(rust.new_members, 1);
//! assert_eq!(rust.reply_rate, Ratio::new(1, 1));
//! assert_eq!(rust.median_ms_to_first_reply, Some(2 * 3_600_000));
//! // 1 → 2 and 2 → 1: every edge is reciprocated.
//! assert_eq!(rust.reciprocity, Ratio::new(2, 2));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::analytics::funnel::lower_median;
use crate::analytics::{Ratio, bump};
use crate::batch::group_by_slot;
use crate::event::{Event, EventKind};
use crate::id::{CommunityId, ContentId, UserId};
use crate::intern::BuildIdHasher;
use crate::time::{LocalDay, offset_seconds, unix_millis};
use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::collections::hash_map::Entry;

const WEEK_DAYS: i32 = 7;
const MONTH_DAYS: i32 = 30;

/// A health specification that cannot be used, or two values that cannot be
/// merged. Each message names the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HealthError {
    /// A spec field is outside its allowed range.
    #[error("health `{field}` must be between {min} and {max}, got {given}")]
    OutOfRange {
        /// The field at fault.
        field: &'static str,
        /// The value given.
        given: u32,
        /// The smallest allowed.
        min: u32,
        /// The largest allowed.
        max: u32,
    },
    /// The window, with its 29-day look-back, reaches before the first
    /// representable day.
    #[error("health `last_day` {last_day} is too early for a window of {window_days} days")]
    WindowBeforeCalendar {
        /// The last day given.
        last_day: LocalDay,
        /// The window given, in days.
        window_days: u32,
    },
    /// Two values built from different specifications cannot be merged.
    #[error("cannot merge {what}: they were built from different health specifications")]
    SpecMismatch {
        /// What was being merged.
        what: &'static str,
    },
    /// A deserialized [`HealthShard`] holds a record that cannot come from
    /// its own specification.
    #[error("malformed health shard: {detail}")]
    MalformedShard {
        /// What is wrong with it.
        detail: String,
    },
    /// Two reports sharded by community both describe the same community.
    #[error("cannot merge health reports: {community} is in both")]
    CommunityInBoth {
        /// The community found twice.
        community: CommunityId,
    },
}

/// A health report as written in configuration; [`HealthSpec::validate`]
/// checks it into a [`Health`].
///
/// ```
/// use growthkit::community::HealthSpec;
/// let spec: HealthSpec = serde_json::from_str(r#"{"last_day": "2026-03-31"}"#)?;
/// assert_eq!((spec.window_days, spec.retention_days, spec.core_active_percent), (30, 7, 50));
/// let bad = HealthSpec { window_days: 0, ..spec };
/// assert!(bad.validate().unwrap_err().to_string().contains("window_days"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthSpec {
    /// The window's last local day, included.
    pub last_day: LocalDay,
    /// The window's length in days, `1..=366`; default 30.
    #[serde(default = "thirty")]
    pub window_days: u32,
    /// N of the new-member retention: active again N days after joining,
    /// `1..=366`; default 7.
    #[serde(default = "seven")]
    pub retention_days: u32,
    /// A core member is active on at least this percentage of the window's
    /// days, `1..=100`; default 50.
    #[serde(default = "fifty")]
    pub core_active_percent: u32,
}

fn thirty() -> u32 {
    30
}

fn seven() -> u32 {
    7
}

fn fifty() -> u32 {
    50
}

impl HealthSpec {
    /// The longest window, in days.
    pub const MAX_WINDOW_DAYS: u32 = 366;

    /// A 30-day window ending on `last_day`, 7-day retention, core at 50%.
    pub fn new(last_day: LocalDay) -> HealthSpec {
        HealthSpec {
            last_day,
            window_days: thirty(),
            retention_days: seven(),
            core_active_percent: fifty(),
        }
    }

    /// Checks the spec into a [`Health`].
    pub fn validate(self) -> Result<Health, HealthError> {
        Health::try_from(self)
    }
}

/// A checked health specification. Serializes as its [`HealthSpec`].
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(try_from = "HealthSpec", into = "HealthSpec")]
pub struct Health {
    spec: HealthSpec,
    first_day: LocalDay,
    /// The first day kept: the window's first day less the MAU look-back.
    first_kept: LocalDay,
}

impl TryFrom<HealthSpec> for Health {
    type Error = HealthError;

    fn try_from(spec: HealthSpec) -> Result<Self, Self::Error> {
        let max = HealthSpec::MAX_WINDOW_DAYS;
        for (field, given, max) in [
            ("window_days", spec.window_days, max),
            ("retention_days", spec.retention_days, max),
            ("core_active_percent", spec.core_active_percent, 100),
        ] {
            if !(1..=max).contains(&given) {
                return Err(HealthError::OutOfRange {
                    field,
                    given,
                    min: 1,
                    max,
                });
            }
        }
        // window_days ≤ 366, so the cast is exact.
        let window = spec.window_days as i32;
        let first_day = spec.last_day.checked_add_days(1 - window);
        let first_kept = first_day.and_then(|d| d.checked_add_days(1 - MONTH_DAYS));
        let (Some(first_day), Some(first_kept)) = (first_day, first_kept) else {
            return Err(HealthError::WindowBeforeCalendar {
                last_day: spec.last_day,
                window_days: spec.window_days,
            });
        };
        Ok(Health {
            spec,
            first_day,
            first_kept,
        })
    }
}

impl From<Health> for HealthSpec {
    fn from(health: Health) -> Self {
        health.spec
    }
}

impl Health {
    /// The checked spec.
    pub fn spec(&self) -> &HealthSpec {
        &self.spec
    }

    /// The window's first day.
    pub fn first_day(&self) -> LocalDay {
        self.first_day
    }

    /// An empty builder counting local days in `zone`.
    pub fn builder<Tz: TimeZone>(&self, zone: Tz) -> HealthBuilder<Tz> {
        HealthBuilder::new(self.clone(), zone)
    }

    fn window(&self) -> i32 {
        self.spec.window_days as i32
    }

    /// Offset of the window's first day from the first kept day.
    fn lookback() -> i32 {
        MONTH_DAYS - 1
    }
}

/// One community event of `user` on `day` (days since the first kept day),
/// or `count` of them from a shard. `add` appends one per event without
/// looking the member up; [`sort_activity`] groups them at the end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Activity {
    user: UserId,
    community: u32,
    day: u16,
    /// Events counted; 0 marks a count outside `1..=u16::MAX`, kept in
    /// [`HealthBuilder::heavy`], which keeps the record at 16 bytes.
    count: u16,
}

// Every kept day offset (the look-back and the longest window) fits
// `Activity::day`.
const _: () = assert!(MONTH_DAYS - 1 + HealthSpec::MAX_WINDOW_DAYS as i32 <= u16::MAX as i32);

/// `from` interacted with `to` in the window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Edge {
    from: UserId,
    to: UserId,
    community: u32,
}

/// `from` interacted with the content in slot `content`, whose author is
/// looked up at the end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct PendingEdge {
    from: UserId,
    community: u32,
    content: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Membership {
    user: UserId,
    at: i64,
    community: u32,
    day: i32,
    /// Sorts a leave after a join at the same instant.
    leave: bool,
}

/// The earliest post event of a content id: ordered by local day first, as
/// memberships are (an instant inside a leap second has the milliseconds
/// of the next second, which can be the next day's).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
struct Post {
    day: i32,
    at: i64,
    author: UserId,
    community: CommunityId,
}

/// What the builder knows about one content id: its post, and the earliest
/// replies of the two earliest distinct repliers (one of them is not the
/// author, whoever the author turns out to be).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct ContentFacts {
    post: Option<Post>,
    replies: [Option<(i64, UserId)>; 2],
}

impl ContentFacts {
    fn post(&mut self, post: Post) {
        if self.post.is_none_or(|p| post < p) {
            self.post = Some(post);
        }
    }

    fn reply(&mut self, at: i64, user: UserId) {
        let reply = (at, user);
        if let Some(same) = self.replies.iter_mut().flatten().find(|r| r.1 == user) {
            *same = (*same).min(reply);
        } else if self.replies[1].is_none_or(|last| reply < last) {
            self.replies[1] = Some(reply);
        }
        // Keep the two in order; `None` sorts first, so order explicitly.
        if let [Some(a), Some(b)] = self.replies
            && b < a
        {
            self.replies = [Some(b), Some(a)];
        } else if let [None, Some(b)] = self.replies {
            self.replies = [Some(b), None];
        }
    }

    fn merge(&mut self, other: ContentFacts) {
        if let Some(post) = other.post {
            self.post(post);
        }
        for (at, user) in other.replies.into_iter().flatten() {
            self.reply(at, user);
        }
    }

    /// The earliest reply by someone other than `author`.
    fn first_reply_by_other(&self, author: UserId) -> Option<i64> {
        self.replies
            .iter()
            .flatten()
            .find(|(_, user)| *user != author)
            .map(|&(at, _)| at)
    }
}

/// A membership change in a [`HealthShard`].
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
struct ShardMembership {
    community: CommunityId,
    user: UserId,
    at: i64,
    day: i32,
    leave: bool,
}

/// What a [`HealthBuilder`] collected, by id rather than by its internal
/// slots and without its time zone: the form in which a shard travels to
/// the process that merges (see [`HealthBuilder::into_shard`] and
/// [`HealthBuilder::absorb`]). Plain serde data; its contents are private
/// and checked again when absorbed.
///
/// ```
/// use chrono::{FixedOffset, NaiveDate, TimeZone, Utc};
/// use growthkit::community::{HealthShard, HealthSpec};
/// use growthkit::{CommunityId, Event, EventId, EventKind, LocalDay, UserId};
///
/// let health = HealthSpec::new(LocalDay::from_date(NaiveDate::from_ymd_opt(2026, 3, 31).unwrap()))
///     .validate()?;
/// let zone = FixedOffset::east_opt(8 * 3600).unwrap();
/// let at = Utc.with_ymd_and_hms(2026, 3, 9, 1, 0, 0).unwrap();
/// let check_in = EventKind::CheckIn { community: Some(CommunityId(3)) };
///
/// // On a worker: collect a partition of the events, ship the shard as JSON.
/// let mut worker = health.builder(zone);
/// worker.add(&Event::new(EventId(1), UserId(7), at, check_in));
/// let json = serde_json::to_string(&worker.into_shard())?;
///
/// // On the merger: absorb every worker's shard, then finish once.
/// let mut merger = health.builder(zone);
/// merger.absorb(serde_json::from_str::<HealthShard>(&json)?)?;
/// let report = merger.finish();
/// assert_eq!(report.community(CommunityId(3)).map(|c| c.active_members), Some(1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct HealthShard {
    health: Health,
    activity: Vec<(CommunityId, UserId, i32, u32)>,
    edges: Vec<(CommunityId, UserId, UserId)>,
    pending: Vec<(CommunityId, UserId, ContentId)>,
    memberships: Vec<ShardMembership>,
    contents: Vec<(ContentId, ContentFacts)>,
}

impl HealthShard {
    /// The specification the shard was collected for.
    pub fn health(&self) -> &Health {
        &self.health
    }

    /// Every day offset within the window and its look-back.
    fn check(&self) -> Result<(), HealthError> {
        let last = Health::lookback() + self.health.window() - 1;
        let bad = |what: &'static str, day: i32| HealthError::MalformedShard {
            detail: format!("{what} day offset {day} is outside 0..={last}"),
        };
        if let Some(&(_, _, day, _)) = self.activity.iter().find(|a| !(0..=last).contains(&a.2)) {
            return Err(bad("activity", day));
        }
        if let Some(x) = self.memberships.iter().find(|x| x.day > last) {
            return Err(bad("membership", x.day));
        }
        let posts = self.contents.iter().filter_map(|(_, f)| f.post);
        if let Some(post) = posts.into_iter().find(|p| !(0..=last).contains(&p.day)) {
            return Err(bad("post", post.day));
        }
        Ok(())
    }
}

/// Where `finish` lists each community's members: a bijection of the id
/// (an odd multiplier), so equal keys are the same member, whose high bits
/// are well mixed even for sequential ids, so the radix sort on them spreads
/// members evenly.
fn member_order(user: UserId) -> u64 {
    user.0.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// Bits of a slot below `n`.
fn slot_bits(n: usize) -> u32 {
    usize::BITS - n.saturating_sub(1).leading_zeros()
}

/// Bits of a radix digit: 2,048 counters sit in L1, and the caches keep
/// up with 2,048 sequential write streams. Short slices take 8-bit digits,
/// whose 256 counters cost less to clear and sum.
const DIGIT_BITS: u32 = 11;
const SHORT_DIGIT_BITS: u32 = 8;

/// At least `wanted` bits, and up to 64, rounded up to whole digits of
/// `digit` bits: the bits that fill the last digit are free.
fn whole_digits(wanted: u32, digit: u32) -> u32 {
    (wanted.div_ceil(digit) * digit).min(u64::BITS)
}

/// Sorts `items` stably by the low `bits` bits of `key`: a least significant
/// digit radix sort in digits of `digit` bits, one pass to count every
/// digit, then one sequential scatter pass per digit, skipped when all items
/// share the digit.
fn radix_sort<T: Copy>(items: &mut Vec<T>, bits: u32, digit: u32, key: impl Fn(&T) -> u64) {
    let bits = bits.min(u64::BITS);
    let digit = digit.clamp(1, 16);
    let passes = bits.div_ceil(digit);
    if items.len() < 2 || passes == 0 {
        return;
    }
    let radix = 1_usize << digit;
    let mask = u64::MAX >> (u64::BITS - bits);
    let digit_of = |k: u64, pass: u32| ((k & mask) >> (pass * digit)) as usize % radix;
    let mut counts = vec![0_usize; passes as usize * radix];
    for item in items.iter() {
        let k = key(item);
        for (pass, hist) in (0..).zip(counts.chunks_exact_mut(radix)) {
            if let Some(count) = hist.get_mut(digit_of(k, pass)) {
                *count += 1;
            }
        }
    }
    let mut scratch = items.clone();
    for (pass, hist) in (0..).zip(counts.chunks_exact_mut(radix)) {
        if hist.contains(&items.len()) {
            continue;
        }
        let mut start = 0;
        for count in hist.iter_mut() {
            start += std::mem::replace(count, start);
        }
        for item in items.iter() {
            let Some(next) = hist.get_mut(digit_of(key(item), pass)) else {
                continue;
            };
            if let Some(slot) = scratch.get_mut(*next) {
                *slot = *item;
            }
            *next += 1;
        }
        std::mem::swap(items, &mut scratch);
    }
}

/// After [`radix_sort`] on a prefix of the full order, sorts each run of
/// items sharing the prefix (`coarse`) by the full order (`fine`). Runs are
/// short, and already sorted unless two members share the prefix or the
/// stream came out of time order.
fn sort_runs<T, K: Ord>(items: &mut [T], coarse: impl Fn(&T) -> u64, fine: impl Fn(&T) -> K) {
    for run in items.chunk_by_mut(|a, b| coarse(a) == coarse(b)) {
        if !run.is_sorted_by_key(&fine) {
            run.sort_unstable_by_key(&fine);
        }
    }
}

/// Below this many records a slice is sorted by comparison: a radix pass
/// has the fixed cost of its counters.
const SMALL_RUN: usize = 64;

/// Sorts `items` by community slot, then by the [`member_order`] of
/// `member`, then by `low` and `then`; returns where each community's run
/// starts (`communities + 1` offsets). One counting pass groups the
/// communities; each community's run, small enough to sit in cache, goes
/// through [`sort_by_prefix`], which leaves `sort_runs` little to do: each
/// member's records are already in order for time-ordered streams.
fn sort_by_member<T: Copy, K: Ord>(
    items: &mut Vec<T>,
    communities: usize,
    community: impl Fn(&T) -> u32,
    member: impl Fn(&T) -> UserId,
    (low, low_bits): (impl Fn(&T) -> u64, u32),
    then: impl Fn(&T) -> K,
) -> Vec<usize> {
    let (grouped, starts) = group_by_slot(items, communities, |_, item| community(item));
    *items = grouped;
    let order = |x: &T| member_order(member(x));
    let mut scratch = Vec::new();
    for part in items.chunk_by_mut(|a, b| community(a) == community(b)) {
        sort_by_prefix(part, &mut scratch, order, (&low, low_bits), |x| {
            (order(x), low(x), then(x))
        });
    }
    starts
}

/// Sorts `part` by `fine`, which starts with `order` and then `low`, keys
/// with well-mixed high bits: a short slice by comparison, a longer one by a
/// radix sort on the top bits of `order` and `low_bits` of `low` (`scratch`
/// is its buffer), then [`sort_runs`] where `order` shares a prefix.
fn sort_by_prefix<T: Copy, K: Ord>(
    part: &mut [T],
    scratch: &mut Vec<T>,
    order: impl Fn(&T) -> u64,
    (low, low_bits): (impl Fn(&T) -> u64, u32),
    fine: impl Fn(&T) -> K,
) {
    if part.len() < SMALL_RUN {
        if !part.is_sorted_by_key(&fine) {
            part.sort_unstable_by_key(&fine);
        }
        return;
    }
    let digit = if part.len() < 4_096 {
        SHORT_DIGIT_BITS
    } else {
        DIGIT_BITS
    };
    // At least 16 prefixes per record, so few keys share one.
    let low_bits = low_bits.min(32);
    let bits = whole_digits(slot_bits(part.len()) + 4 + low_bits, digit);
    // 10 to 64 bits of `order`.
    let order_bits = bits - low_bits;
    let coarse = |x: &T| order(x) >> (u64::BITS - order_bits);
    let key = |x: &T| match low_bits {
        0 => coarse(x),
        _ => (coarse(x) << low_bits) | (low(x) >> (u64::BITS - low_bits)),
    };
    scratch.clear();
    scratch.extend_from_slice(part);
    radix_sort(scratch, bits, digit, key);
    part.copy_from_slice(scratch);
    sort_runs(part, coarse, fine);
}

/// How many keys two sorted lists of distinct keys share.
fn count_common<T: Ord>(a: &[T], b: &[T]) -> u64 {
    let (mut a, mut b) = (a.iter().peekable(), b.iter().peekable());
    let mut common = 0;
    while let (Some(x), Some(y)) = (a.peek(), b.peek()) {
        match x.cmp(y) {
            std::cmp::Ordering::Less => {
                a.next();
            }
            std::cmp::Ordering::Greater => {
                b.next();
            }
            std::cmp::Ordering::Equal => {
                common += 1;
                a.next();
                b.next();
            }
        }
    }
    common
}

/// Activity by community slot, then member order, then day.
fn sort_activity(activity: &mut Vec<Activity>, communities: usize) -> Vec<usize> {
    // Time-ordered streams leave each member's days in order: no radix
    // digit for them.
    sort_by_member(
        activity,
        communities,
        |a| a.community,
        |a| a.user,
        (|_| 0, 0),
        |a| a.day,
    )
}

/// Edges by community slot, then member order of `from`, then of `to`.
fn sort_edges(edges: &mut Vec<Edge>, communities: usize) -> Vec<usize> {
    sort_by_member(
        edges,
        communities,
        |e| e.community,
        |e| e.from,
        (|e| member_order(e.to), DIGIT_BITS),
        |_| (),
    )
}

/// The union of two sorted lists of distinct keys.
fn union_sorted(a: &[u64], b: &[u64]) -> Vec<u64> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut a, mut b) = (a.iter().peekable(), b.iter().peekable());
    while let (Some(&&x), Some(&&y)) = (a.peek(), b.peek()) {
        out.push(x.min(y));
        if x <= y {
            a.next();
        }
        if y <= x {
            b.next();
        }
    }
    out.extend(a);
    out.extend(b);
    out
}

/// Collects community events for a [`Health`] report, in any order.
///
/// See the [module docs](self) for what is counted and how shards merge.
#[derive(Clone, Debug)]
pub struct HealthBuilder<Tz> {
    health: Health,
    zone: Tz,
    communities: HashMap<CommunityId, u32, BuildIdHasher>,
    community_ids: Vec<CommunityId>,
    activity: Vec<Activity>,
    /// Counts from shards that do not fit [`Activity::count`], by community
    /// slot, member and day; each key has one record with count 0.
    heavy: HashMap<(u32, UserId, u16), u64, BuildIdHasher>,
    edges: Vec<Edge>,
    pending: Vec<PendingEdge>,
    memberships: Vec<Membership>,
    /// Content ids interned to slots of `contents`: the map stays small,
    /// and facts sit in arrival order, so the replies to recent posts
    /// touch memory that is already in cache.
    content_slots: HashMap<ContentId, u32, BuildIdHasher>,
    contents: Vec<(ContentId, ContentFacts)>,
}

impl<Tz: TimeZone> HealthBuilder<Tz> {
    /// An empty builder counting local days in `zone`.
    pub fn new(health: Health, zone: Tz) -> HealthBuilder<Tz> {
        HealthBuilder {
            health,
            zone,
            communities: HashMap::default(),
            community_ids: Vec::new(),
            activity: Vec::new(),
            heavy: HashMap::default(),
            edges: Vec::new(),
            pending: Vec::new(),
            memberships: Vec::new(),
            content_slots: HashMap::default(),
            contents: Vec::new(),
        }
    }

    /// The specification being built.
    pub fn health(&self) -> &Health {
        &self.health
    }

    fn community_slot(&mut self, community: CommunityId) -> u32 {
        let next = u32::try_from(self.community_ids.len()).unwrap_or(u32::MAX);
        let slot = *self.communities.entry(community).or_insert(next);
        if slot == next && self.community_ids.len() == next as usize {
            self.community_ids.push(community);
        }
        slot
    }

    /// The facts of `content`, given a slot if it has none.
    fn content_slot(&mut self, content: ContentId) -> u32 {
        let next = u32::try_from(self.contents.len()).unwrap_or(u32::MAX);
        let slot = *self.content_slots.entry(content).or_insert(next);
        if slot == next && self.contents.len() == next as usize {
            self.contents.push((content, ContentFacts::default()));
        }
        slot
    }

    fn facts(&mut self, content: ContentId) -> Option<&mut ContentFacts> {
        let slot = self.content_slot(content);
        self.contents.get_mut(slot as usize).map(|(_, facts)| facts)
    }

    /// Days since the first kept day, if `at` (`ms` in milliseconds) is
    /// kept at all: [`LocalDay::of`] on the milliseconds the caller needs
    /// anyway.
    fn day_of(&self, at: DateTime<Utc>, ms: i64) -> Option<u16> {
        let offset = offset_seconds(&self.zone, at);
        // A leap second's milliseconds run past 999 into the next second,
        // which can be the next day: take its own second back, as
        // `LocalDay::of` counts it (one comparison, no branch).
        let leap = i64::from(at.timestamp_subsec_nanos() >= 1_000_000_000);
        let day = LocalDay::of_offset_seconds(ms.div_euclid(1_000) - leap, offset);
        (self.health.first_kept..=self.health.spec.last_day)
            .contains(&day)
            .then(|| day.days_since(self.health.first_kept))
            .and_then(|days| u16::try_from(days).ok())
    }

    /// Takes one event. Events without a community, or outside the window
    /// and its 29-day look-back, are ignored, except an accepted invitation:
    /// a join, recorded as [`joined`](Self::joined) records one (not
    /// activity, and counted however long before the window).
    pub fn add(&mut self, event: &Event) {
        let Some(community) = event.kind.community() else {
            return;
        };
        if let EventKind::InviteAccepted { .. } = event.kind {
            self.joined(event.user, community, event.at);
            return;
        }
        let at = unix_millis(event.at);
        let Some(day) = self.day_of(event.at, at) else {
            return;
        };
        let c = self.community_slot(community);
        let user = event.user;
        self.activity.push(Activity {
            user,
            community: c,
            day,
            count: 1,
        });
        let day = i32::from(day);
        let in_window = day >= Health::lookback();
        match &event.kind {
            EventKind::Post { content, .. } => {
                let post = Post {
                    at,
                    author: user,
                    community,
                    day,
                };
                if let Some(facts) = self.facts(*content) {
                    facts.post(post);
                }
            }
            EventKind::Reply { content, to, .. } => {
                let slot = self.content_slot(*content);
                if let Some((_, facts)) = self.contents.get_mut(slot as usize) {
                    facts.reply(at, user);
                }
                if in_window {
                    self.interacted(c, user, |_| slot, *to);
                }
            }
            EventKind::Reaction { content, to, .. } if in_window => {
                self.interacted(c, user, |b| b.content_slot(*content), *to);
            }
            EventKind::Share { content, .. } if in_window => {
                self.interacted(c, user, |b| b.content_slot(*content), None);
            }
            _ => {}
        }
    }

    /// Takes every event of an iterator.
    pub fn extend<'a>(&mut self, events: impl IntoIterator<Item = &'a Event>) {
        for event in events {
            self.add(event);
        }
    }

    /// `from` interacted with `to`, or with the author of the content whose
    /// slot `content` gives (looked up only when needed).
    fn interacted(
        &mut self,
        community: u32,
        from: UserId,
        content: impl FnOnce(&mut Self) -> u32,
        to: Option<UserId>,
    ) {
        match to {
            Some(to) => {
                if to != from {
                    self.edges.push(Edge {
                        from,
                        to,
                        community,
                    });
                }
            }
            None => {
                let content = content(self);
                self.pending.push(PendingEdge {
                    from,
                    community,
                    content,
                });
            }
        }
    }

    /// Records that `user` joined `community` at `at`. Joins after the
    /// window's last day are ignored; earlier ones all count, since
    /// membership at the window's end depends on the whole history.
    pub fn joined(&mut self, user: UserId, community: CommunityId, at: DateTime<Utc>) {
        self.membership(user, community, at, false);
    }

    /// Records that `user` left (or was removed from) `community` at `at`.
    pub fn left(&mut self, user: UserId, community: CommunityId, at: DateTime<Utc>) {
        self.membership(user, community, at, true);
    }

    fn membership(&mut self, user: UserId, community: CommunityId, at: DateTime<Utc>, leave: bool) {
        let day = LocalDay::of(at, &self.zone);
        if day > self.health.spec.last_day {
            return;
        }
        let c = self.community_slot(community);
        self.memberships.push(Membership {
            user,
            at: unix_millis(at),
            community: c,
            // Far-past days clamp: only "before the window" matters there.
            day: i32::try_from(
                i64::from(day.number()) - i64::from(self.health.first_kept.number()),
            )
            .unwrap_or(i32::MIN),
            leave,
        });
    }

    /// Adds everything `other` has seen, as if its events had been fed here.
    /// Associative and commutative; refused, changing nothing, if the specs
    /// differ. Both builders must count days in the same zone (not checked).
    pub fn merge(&mut self, other: HealthBuilder<Tz>) -> Result<(), HealthError> {
        self.absorb(other.into_shard())
    }

    /// The events counted by an activity record.
    fn count(&self, a: &Activity) -> u64 {
        match a.count {
            0 => self
                .heavy
                .get(&(a.community, a.user, a.day))
                .copied()
                .unwrap_or(0),
            n => u64::from(n),
        }
    }

    /// What the builder has collected, without its zone, in a serializable
    /// form to ship to the process that merges shards.
    pub fn into_shard(mut self) -> HealthShard {
        let mut activity = std::mem::take(&mut self.activity);
        sort_activity(&mut activity, self.community_ids.len());
        let community = |slot: u32| self.community_ids.get(slot as usize).copied();
        let content = |slot: u32| self.contents.get(slot as usize).map(|&(id, _)| id);
        // One record per member, community and day: the sort put them
        // side by side. A count past `u32::MAX` ships in parts.
        let mut counted = Vec::new();
        for run in
            activity.chunk_by(|a, b| (a.community, a.user, a.day) == (b.community, b.user, b.day))
        {
            let Some((first, id)) = run.first().and_then(|a| Some((a, community(a.community)?)))
            else {
                continue;
            };
            let mut left = run
                .iter()
                .fold(0_u64, |sum, a| sum.saturating_add(self.count(a)));
            loop {
                let part = u32::try_from(left).unwrap_or(u32::MAX);
                counted.push((id, first.user, i32::from(first.day), part));
                left -= u64::from(part);
                if left == 0 {
                    break;
                }
            }
        }
        let pending = self
            .pending
            .iter()
            .filter_map(|p| Some((community(p.community)?, p.from, content(p.content)?)))
            .collect();
        // Content only interacted with has no facts to ship.
        let mut contents: Vec<(ContentId, ContentFacts)> = self
            .contents
            .iter()
            .filter(|(_, facts)| *facts != ContentFacts::default())
            .copied()
            .collect();
        contents.sort_unstable_by_key(|&(id, _)| id);
        HealthShard {
            activity: counted,
            edges: self
                .edges
                .iter()
                .filter_map(|e| Some((community(e.community)?, e.from, e.to)))
                .collect(),
            pending,
            memberships: self
                .memberships
                .iter()
                .filter_map(|x| {
                    Some(ShardMembership {
                        community: community(x.community)?,
                        user: x.user,
                        at: x.at,
                        day: x.day,
                        leave: x.leave,
                    })
                })
                .collect(),
            contents,
            health: self.health,
        }
    }

    /// Adds a shard's records, as if its events had been fed here. Refused,
    /// changing nothing, if its spec differs or a record lies outside the
    /// window and its look-back (only a hand-edited shard can hold one).
    pub fn absorb(&mut self, shard: HealthShard) -> Result<(), HealthError> {
        if self.health != shard.health {
            return Err(HealthError::SpecMismatch {
                what: "health builders",
            });
        }
        shard.check()?;
        for (community, user, day, count) in shard.activity {
            let c = self.community_slot(community);
            // `check` kept the day within the window and its look-back.
            let Ok(day) = u16::try_from(day) else {
                continue;
            };
            let count = match u16::try_from(count) {
                Ok(count) if count > 0 => count,
                // The first record of a key marks it; later ones only add.
                _ => match self.heavy.entry((c, user, day)) {
                    Entry::Occupied(mut heavy) => {
                        let sum = heavy.get().saturating_add(u64::from(count));
                        heavy.insert(sum);
                        continue;
                    }
                    Entry::Vacant(heavy) => {
                        heavy.insert(u64::from(count));
                        0
                    }
                },
            };
            self.activity.push(Activity {
                user,
                community: c,
                day,
                count,
            });
        }
        for (community, from, to) in shard.edges {
            let community = self.community_slot(community);
            self.edges.push(Edge {
                from,
                to,
                community,
            });
        }
        for (community, from, content) in shard.pending {
            let community = self.community_slot(community);
            let content = self.content_slot(content);
            self.pending.push(PendingEdge {
                from,
                community,
                content,
            });
        }
        for x in shard.memberships {
            let community = self.community_slot(x.community);
            self.memberships.push(Membership {
                user: x.user,
                at: x.at,
                community,
                day: x.day,
                leave: x.leave,
            });
        }
        for (content, facts) in shard.contents {
            if let Some(mine) = self.facts(content) {
                mine.merge(facts);
            }
        }
        Ok(())
    }

    /// Computes every community's figures.
    pub fn finish(mut self) -> HealthReport {
        // Interactions with content whose author is known only from its post.
        for p in std::mem::take(&mut self.pending) {
            let post = self
                .contents
                .get(p.content as usize)
                .and_then(|(_, f)| f.post);
            if let Some(post) = post
                && post.author != p.from
            {
                self.edges.push(Edge {
                    from: p.from,
                    to: post.author,
                    community: p.community,
                });
            }
        }
        let n = self.community_ids.len();
        let mut replies: Vec<Vec<i64>> = vec![Vec::new(); n];
        let mut posts = vec![0_u64; n];
        let mut replied = vec![0_u64; n];
        for (_, facts) in &self.contents {
            let Some(post) = facts.post else { continue };
            if post.day < Health::lookback() {
                continue;
            }
            let Some(&c) = self.communities.get(&post.community) else {
                continue;
            };
            let c = c as usize;
            if let Some(count) = posts.get_mut(c) {
                bump(count, 1);
            }
            if let Some(first) = facts.first_reply_by_other(post.author) {
                if let Some(count) = replied.get_mut(c) {
                    bump(count, 1);
                }
                if let Some(gaps) = replies.get_mut(c) {
                    gaps.push(first.saturating_sub(post.at).max(0));
                }
            }
        }
        let mut activity = std::mem::take(&mut self.activity);
        let activity_starts = sort_activity(&mut activity, n);
        let mut edges = std::mem::take(&mut self.edges);
        let edge_starts = sort_edges(&mut edges, n);
        let mut memberships = std::mem::take(&mut self.memberships);
        // By member, then local day and instant, a leave after a join.
        let membership_starts = sort_by_member(
            &mut memberships,
            n,
            |x| x.community,
            |x| x.user,
            (|_| 0, 0),
            // The day first: an instant inside a leap second has the
            // milliseconds of the next second, which can be the next day's.
            |x| (x.day, x.at, x.leave),
        );
        let slice = |starts: &[usize], c: usize| {
            starts.get(c).copied().unwrap_or(0)..starts.get(c + 1).copied().unwrap_or(0)
        };
        let mut communities = Vec::with_capacity(n);
        for (c, &id) in self.community_ids.iter().enumerate() {
            let mut gaps = replies.get_mut(c).map(std::mem::take).unwrap_or_default();
            gaps.sort_unstable();
            let inputs = CommunityInputs {
                activity: activity.get(slice(&activity_starts, c)).unwrap_or_default(),
                edges: edges.get(slice(&edge_starts, c)).unwrap_or_default(),
                memberships: memberships
                    .get(slice(&membership_starts, c))
                    .unwrap_or_default(),
                posts: posts.get(c).copied().unwrap_or(0),
                replied: replied.get(c).copied().unwrap_or(0),
                reply_gaps: &gaps,
            };
            communities.push(inputs.health(id, &self.health, |a| self.count(a)));
        }
        communities.sort_unstable_by_key(|h| h.community);
        HealthReport {
            first_day: self.health.first_day,
            last_day: self.health.spec.last_day,
            communities,
        }
    }
}

/// One community's share of the builder's records, each sorted by member
/// order (activity then by day, edges then by the other end, memberships
/// then by instant, a leave after a join).
struct CommunityInputs<'a> {
    activity: &'a [Activity],
    edges: &'a [Edge],
    memberships: &'a [Membership],
    posts: u64,
    replied: u64,
    reply_gaps: &'a [i64],
}

/// Adds 1 on `[from, to]` of a difference array.
fn cover(diff: &mut [i64], from: i32, to: i32) {
    let (Ok(from), Ok(to)) = (usize::try_from(from), usize::try_from(to)) else {
        return;
    };
    if let Some(d) = diff.get_mut(from) {
        *d += 1;
    }
    if let Some(d) = diff.get_mut(to + 1) {
        *d -= 1;
    }
}

/// For each window day, 1 if some active day lies in the `span` days ending
/// on it: the union of `[a, a + span − 1]` over active days `a`, clipped to
/// the window, added to `diff`.
fn cover_spans(diff: &mut [i64], days: &[i32], span: i32, window: i32) {
    let lookback = Health::lookback();
    let mut run: Option<(i32, i32)> = None;
    for &day in days {
        let from = (day - lookback).max(0);
        let to = (day + span - 1 - lookback).min(window - 1);
        if from > to {
            continue;
        }
        run = match run {
            Some((start, end)) if from <= end + 1 => Some((start, end.max(to))),
            Some((start, end)) => {
                cover(diff, start, end);
                Some((from, to))
            }
            None => Some((from, to)),
        };
    }
    if let Some((start, end)) = run {
        cover(diff, start, end);
    }
}

fn sum_prefix(diff: &[i64], window: i32) -> u64 {
    let mut level = 0_i64;
    let mut total = 0_u64;
    for &d in diff.iter().take(window.max(0) as usize) {
        level += d;
        bump(&mut total, u64::try_from(level).unwrap_or(0));
    }
    total
}

impl CommunityInputs<'_> {
    fn health(
        self,
        community: CommunityId,
        health: &Health,
        count: impl Fn(&Activity) -> u64,
    ) -> CommunityHealth {
        let window = health.window();
        let lookback = Health::lookback();
        let spec = &health.spec;
        let width = window as usize + 1;
        let (mut daily, mut weekly, mut monthly) =
            (vec![0_i64; width], vec![0_i64; width], vec![0_i64; width]);
        // Members by `member_order`, the order of every input.
        let mut active: Vec<u64> = Vec::new();
        let mut last_active: Vec<(u64, i32)> = Vec::new();
        let mut contributions: Vec<u64> = Vec::new();
        let mut core: Vec<UserId> = Vec::new();
        let mut days: Vec<i32> = Vec::new();
        for run in self.activity.chunk_by(|a, b| a.user == b.user) {
            let Some(user) = run.first().map(|a| a.user) else {
                continue;
            };
            let member = member_order(user);
            days.clear();
            let mut events = 0_u64;
            for a in run {
                let day = i32::from(a.day);
                if days.last() != Some(&day) {
                    days.push(day);
                }
                if day >= lookback {
                    bump(&mut events, count(a));
                }
            }
            for &day in &days {
                if day >= lookback {
                    cover(&mut daily, day - lookback, day - lookback);
                }
            }
            cover_spans(&mut weekly, &days, WEEK_DAYS, window);
            cover_spans(&mut monthly, &days, MONTH_DAYS, window);
            let window_days = days.iter().filter(|&&d| d >= lookback).count() as u64;
            if let Some(&last) = days.last() {
                last_active.push((member, last));
            }
            if window_days > 0 {
                active.push(member);
                contributions.push(events);
                if window_days * 100 >= u64::from(spec.core_active_percent) * window as u64 {
                    core.push(user);
                }
            }
        }
        core.sort_unstable();

        let mut joined_at_end: Vec<u64> = Vec::new();
        let (mut new_members, mut eligible, mut retained) = (0_u64, 0_u64, 0_u64);
        let retention = spec.retention_days as i32;
        let last_day = lookback + window - 1;
        for run in self.memberships.chunk_by(|a, b| a.user == b.user) {
            let (Some(first_join), Some(last)) = (run.iter().find(|x| !x.leave), run.last()) else {
                continue;
            };
            let member = member_order(last.user);
            if !last.leave {
                joined_at_end.push(member);
            }
            if first_join.day < lookback {
                continue;
            }
            bump(&mut new_members, 1);
            let due = first_join.day + retention;
            if due <= last_day {
                bump(&mut eligible, 1);
                let seen = last_active
                    .binary_search_by_key(&member, |&(m, _)| m)
                    .ok()
                    .and_then(|k| last_active.get(k));
                if seen.is_some_and(|&(_, last)| last >= due) {
                    bump(&mut retained, 1);
                }
            }
        }
        let members = union_sorted(&joined_at_end, &active);

        let mut pairs: Vec<(u64, u64)> = self
            .edges
            .iter()
            .map(|e| (member_order(e.from), member_order(e.to)))
            .collect();
        pairs.dedup();
        // The same edges the other way, sorted: an edge is reciprocated when
        // it is in both lists, and the `to` ends come out sorted for the
        // node count.
        let mut reversed: Vec<(u64, u64)> = pairs.iter().map(|&(a, b)| (b, a)).collect();
        sort_by_prefix(
            &mut reversed,
            &mut Vec::new(),
            |p| p.0,
            (|p| p.1, 8),
            |p| *p,
        );
        let reciprocated = count_common(&pairs, &reversed);
        let mut froms: Vec<u64> = pairs.iter().map(|p| p.0).collect();
        froms.dedup();
        let mut tos: Vec<u64> = reversed.iter().map(|p| p.0).collect();
        tos.dedup();
        let n = union_sorted(&members, &union_sorted(&froms, &tos)).len() as u64;
        let edges = pairs.len() as u64;

        let (dau, wau, mau) = (
            sum_prefix(&daily, window),
            sum_prefix(&weekly, window),
            sum_prefix(&monthly, window),
        );
        let days = window as u64;
        let active_members = active.len() as u64;
        let (top_share, gini) = concentration(&mut contributions);
        CommunityHealth {
            community,
            members: members.len() as u64,
            new_members,
            active_members,
            average_daily_active: Ratio::new(dau, days),
            average_weekly_active: Ratio::new(wau, days),
            average_monthly_active: Ratio::new(mau, days),
            stickiness: Ratio::new(dau, mau),
            new_member_retention: Ratio::new(retained, eligible),
            posts: self.posts,
            posts_per_active_member: Ratio::new(self.posts, active_members),
            reply_rate: Ratio::new(self.replied, self.posts),
            median_ms_to_first_reply: lower_median(self.reply_gaps),
            top_contributor_share: top_share,
            gini,
            interaction_edges: edges,
            reciprocity: Ratio::new(reciprocated, edges),
            density: Ratio::new(edges, n.saturating_mul(n.saturating_sub(1))),
            core_members: core,
        }
    }
}

/// The top 10%'s share and the Gini coefficient of per-member counts.
fn concentration(counts: &mut [u64]) -> (Ratio, Ratio) {
    counts.sort_unstable();
    let n = counts.len() as u64;
    let total = counts.iter().fold(0_u64, |s, &x| s.saturating_add(x));
    let top = n.div_ceil(10) as usize;
    let top_sum = counts
        .iter()
        .rev()
        .take(top)
        .fold(0_u64, |s, &x| s.saturating_add(x));
    // Σ (2i − n − 1) xᵢ with i from 1, ascending x: never negative.
    let weighted = counts.iter().zip(1_i128..).fold(0_i128, |s, (&x, i)| {
        s.saturating_add((2 * i - n as i128 - 1).saturating_mul(i128::from(x)))
    });
    let gini = Ratio::new(
        u64::try_from(weighted).unwrap_or(u64::MAX),
        n.saturating_mul(total),
    );
    (Ratio::new(top_sum, total), gini)
}

/// One community's health over the window. See the [module docs](self) for
/// each definition.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct CommunityHealth {
    /// The community.
    pub community: CommunityId,
    /// Members at the end of the window, active ones included.
    pub members: u64,
    /// Those whose first join falls in the window, whether or not they
    /// have left since.
    pub new_members: u64,
    /// Members active on at least one day of the window.
    pub active_members: u64,
    /// Average DAU over the window's days.
    pub average_daily_active: Ratio,
    /// Average of the 7-day active members, over the window's days.
    pub average_weekly_active: Ratio,
    /// Average of the 30-day active members, over the window's days.
    pub average_monthly_active: Ratio,
    /// Average DAU over average MAU.
    pub stickiness: Ratio,
    /// New members (with N days left in the window) active N days after joining.
    pub new_member_retention: Ratio,
    /// Posts made in the window.
    pub posts: u64,
    /// Posts over active members.
    pub posts_per_active_member: Ratio,
    /// Posts with a reply by someone other than the author, over posts.
    pub reply_rate: Ratio,
    /// Lower median of the time from post to first reply, in milliseconds.
    pub median_ms_to_first_reply: Option<i64>,
    /// The share of events made by the top 10% of active members.
    pub top_contributor_share: Ratio,
    /// The Gini coefficient of events per active member.
    pub gini: Ratio,
    /// Distinct directed interaction edges.
    pub interaction_edges: u64,
    /// Edges whose reverse is also an edge, over edges.
    pub reciprocity: Ratio,
    /// Edges over `n (n − 1)` possible ones.
    pub density: Ratio,
    /// Members active on at least the spec's share of the window's days.
    pub core_members: Vec<UserId>,
}

/// Every community's health over one window, ordered by community id.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct HealthReport {
    /// The window's first day.
    pub first_day: LocalDay,
    /// The window's last day.
    pub last_day: LocalDay,
    /// One entry per community seen, by id.
    pub communities: Vec<CommunityHealth>,
}

impl HealthReport {
    /// The figures of `community`, if it was seen.
    pub fn community(&self, community: CommunityId) -> Option<&CommunityHealth> {
        self.communities
            .binary_search_by_key(&community, |h| h.community)
            .ok()
            .and_then(|i| self.communities.get(i))
    }

    /// Adds the communities of a report built from another shard of
    /// communities over the same window. Associative and commutative;
    /// refused, changing nothing, if the windows differ or a community is
    /// in both.
    pub fn merge(&mut self, other: HealthReport) -> Result<(), HealthError> {
        if (self.first_day, self.last_day) != (other.first_day, other.last_day) {
            return Err(HealthError::SpecMismatch {
                what: "health reports",
            });
        }
        if let Some(twice) = other
            .communities
            .iter()
            .find(|h| self.community(h.community).is_some())
        {
            return Err(HealthError::CommunityInBoth {
                community: twice.community,
            });
        }
        self.communities.extend(other.communities);
        self.communities.sort_unstable_by_key(|h| h.community);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::EventId;
    use chrono::{FixedOffset, NaiveDate};

    const C: CommunityId = CommunityId(1);

    fn beijing() -> FixedOffset {
        FixedOffset::east_opt(8 * 3600).unwrap()
    }

    fn bj(d: u32, h: u32, m: u32, s: u32) -> DateTime<Utc> {
        beijing()
            .with_ymd_and_hms(2026, 3, d, h, m, s)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn march(d: u32) -> LocalDay {
        LocalDay::from_date(NaiveDate::from_ymd_opt(2026, 3, d).unwrap())
    }

    fn health(last: u32, window_days: u32) -> Health {
        HealthSpec {
            window_days,
            ..HealthSpec::new(march(last))
        }
        .validate()
        .unwrap()
    }

    fn ev(user: u64, at: DateTime<Utc>, kind: EventKind) -> Event {
        Event::new(EventId(0), UserId(user), at, kind)
    }

    fn check_in(user: u64, at: DateTime<Utc>) -> Event {
        ev(user, at, EventKind::CheckIn { community: Some(C) })
    }

    fn post(user: u64, at: DateTime<Utc>, content: u64) -> Event {
        ev(
            user,
            at,
            EventKind::Post {
                community: Some(C),
                content: ContentId(content),
            },
        )
    }

    fn reply(user: u64, at: DateTime<Utc>, content: u64, to: Option<u64>) -> Event {
        ev(
            user,
            at,
            EventKind::Reply {
                community: Some(C),
                content: ContentId(content),
                to: to.map(UserId),
            },
        )
    }

    fn run(h: &Health, events: &[Event]) -> CommunityHealth {
        let mut b = h.builder(beijing());
        b.extend(events);
        b.finish().community(C).cloned().unwrap()
    }

    #[test]
    fn a_leap_second_is_active_on_the_day_it_ends_as_local_day_of_has_it() {
        // 23:59:60.5 on 7 March in Beijing (a leap second at 15:59:60 UTC,
        // which chrono allows at the end of any minute) is on 7 March, the
        // window's last day, not on the 8th after it.
        let leap = NaiveDate::from_ymd_opt(2026, 3, 7)
            .and_then(|d| d.and_hms_milli_opt(15, 59, 59, 1_500))
            .unwrap()
            .and_utc();
        assert_eq!(LocalDay::of(leap, &beijing()), march(7));
        let c = run(&health(7, 7), &[check_in(1, leap)]);
        assert_eq!(c.average_daily_active, Ratio::new(1, 7));
    }

    /// 23:59:60.5 on `d` March in Beijing: its milliseconds run into the
    /// next day's 00:00:00.500, its local day is still the `d`th.
    fn leap_at_the_end_of(d: u32) -> DateTime<Utc> {
        NaiveDate::from_ymd_opt(2026, 3, d)
            .and_then(|d| d.and_hms_milli_opt(15, 59, 59, 1_500))
            .unwrap()
            .and_utc()
    }

    #[test]
    fn membership_changes_across_a_leap_second_keep_the_order_of_their_days() {
        let h = health(10, 5); // the 6th to the 10th
        // Left on the 5th (inside its leap second), joined again at
        // 00:00:00.200 on the 6th, whose milliseconds come before the
        // leave's: a member at the end, and not new (first joined the 1st).
        let mut b = h.builder(beijing());
        b.joined(UserId(1), C, bj(1, 9, 0, 0));
        b.left(UserId(1), C, leap_at_the_end_of(5));
        b.joined(
            UserId(1),
            C,
            bj(6, 0, 0, 0) + chrono::TimeDelta::milliseconds(200),
        );
        // Joined on the 5th inside its leap second, before the window, and
        // again on the 6th: its earliest join is before the window.
        b.joined(UserId(2), C, leap_at_the_end_of(5));
        b.joined(
            UserId(2),
            C,
            bj(6, 0, 0, 0) + chrono::TimeDelta::milliseconds(200),
        );
        let r = b.finish();
        let c = r.community(C).unwrap();
        assert_eq!((c.members, c.new_members), (2, 0));
    }

    #[test]
    fn the_earliest_post_across_a_leap_second_is_the_one_on_the_earlier_day() {
        let h = health(10, 5); // the 6th to the 10th
        // Posted on the 5th inside its leap second, before the window, and
        // again at 00:00:00.200 on the 6th by someone else: not a post of
        // the window, and its author is the first poster.
        let mut b = h.builder(beijing());
        b.add(&post(1, leap_at_the_end_of(5), 9));
        b.add(&post(
            2,
            bj(6, 0, 0, 0) + chrono::TimeDelta::milliseconds(200),
            9,
        ));
        let r = b.finish();
        assert_eq!(r.community(C).unwrap().posts, 0);
        let mut b = h.builder(beijing());
        b.add(&post(1, leap_at_the_end_of(5), 9));
        b.add(&post(
            2,
            bj(6, 0, 0, 0) + chrono::TimeDelta::milliseconds(200),
            9,
        ));
        b.add(&reply(2, bj(7, 9, 0, 0), 9, None));
        // 2 replied to 1's post: an edge; 2 as the author would have none.
        assert_eq!(b.finish().community(C).unwrap().interaction_edges, 1);
    }

    #[test]
    fn an_empty_builder_reports_nothing_and_a_silent_member_is_counted() {
        let h = health(7, 7);
        assert!(h.builder(beijing()).finish().communities.is_empty());
        let mut b = h.builder(beijing());
        b.joined(UserId(1), C, bj(1, 9, 0, 0));
        let r = b.finish();
        let c = r.community(C).unwrap();
        assert_eq!((c.members, c.new_members, c.active_members), (1, 1, 0));
        assert_eq!(c.stickiness.value(), None);
        assert_eq!(c.posts_per_active_member.value(), None);
        assert_eq!(c.reply_rate.value(), None);
        assert_eq!(c.median_ms_to_first_reply, None);
        assert_eq!(c.gini.value(), None);
        assert_eq!(c.density.value(), None);
        // Joined on the 1st, 7 days later is the 8th: after the window.
        assert_eq!(c.new_member_retention, Ratio::new(0, 0));
    }

    #[test]
    fn an_accepted_invitation_is_a_join_however_old_and_not_activity() {
        let invited = |at| {
            ev(
                1,
                at,
                EventKind::InviteAccepted {
                    inviter: UserId(9),
                    community: Some(C),
                },
            )
        };
        // Within the window: a new member, not an active one.
        let c = run(&health(7, 7), &[invited(bj(3, 9, 0, 0))]);
        assert_eq!((c.members, c.new_members, c.active_members), (1, 1, 0));
        // Sixty days before the window: a member all the same, as a join
        // recorded with `joined` is.
        let h = health(31, 7);
        let old = bj(1, 9, 0, 0) - chrono::TimeDelta::days(60);
        let mut joined = h.builder(beijing());
        joined.joined(UserId(1), C, old);
        let joined = joined.finish();
        let by_event = run(&h, &[invited(old)]);
        assert_eq!(joined.community(C), Some(&by_event));
        assert_eq!((by_event.members, by_event.new_members), (1, 0));
    }

    #[test]
    fn one_member_every_day_is_perfectly_sticky_and_equal() {
        let h = health(7, 7);
        let events: Vec<Event> = (1..=7).map(|d| check_in(1, bj(d, 9, 0, 0))).collect();
        let c = run(&h, &events);
        assert_eq!((c.members, c.active_members), (1, 1));
        assert_eq!(c.average_daily_active, Ratio::new(7, 7));
        assert_eq!(c.stickiness, Ratio::new(7, 7));
        assert_eq!(c.gini, Ratio::new(0, 7));
        assert_eq!(c.top_contributor_share, Ratio::new(7, 7));
        assert_eq!(c.core_members, [UserId(1)]);
    }

    #[test]
    fn window_ends_are_local_midnights_in_plus_eight() {
        let h = health(10, 5); // the 6th to the 10th, Beijing time
        let events = [
            check_in(1, bj(5, 23, 59, 59)),
            check_in(2, bj(6, 0, 0, 0)),
            check_in(3, bj(10, 23, 59, 59)),
            check_in(4, bj(11, 0, 0, 0)),
        ];
        let c = run(&h, &events);
        assert_eq!(c.active_members, 2);
        // User 1 is in the look-back: counted in WAU/MAU but not a member.
        assert_eq!(c.members, 2);
        assert_eq!(c.average_daily_active, Ratio::new(2, 5));
        // WAU per day 6..10: {1,2},{1,2},{1,2},{1,2},{1,2,3} = 11.
        assert_eq!(c.average_weekly_active, Ratio::new(11, 5));
        assert_eq!(c.average_monthly_active, Ratio::new(11, 5));
        // In UTC, 23:59:59 on the 10th Beijing time is the 10th too, but
        // 00:00 on the 6th Beijing is the 5th UTC.
        let mut b = h.builder(Utc);
        b.extend(&events);
        let utc = b.finish();
        assert_eq!(utc.community(C).unwrap().active_members, 2);
    }

    #[test]
    fn reply_rate_and_the_lower_median_of_an_even_count() {
        let h = health(7, 7);
        let events = [
            post(1, bj(1, 9, 0, 0), 10),
            reply(2, bj(1, 10, 0, 0), 10, None), // 1 h
            post(1, bj(2, 9, 0, 0), 11),
            reply(1, bj(2, 9, 30, 0), 11, None), // the author: not a reply
            reply(3, bj(2, 12, 0, 0), 11, None), // 3 h
            post(2, bj(3, 9, 0, 0), 12),
        ];
        let c = run(&h, &events);
        assert_eq!(c.posts, 3);
        assert_eq!(c.reply_rate, Ratio::new(2, 3));
        assert_eq!(c.median_ms_to_first_reply, Some(3_600_000));
        assert_eq!(c.posts_per_active_member, Ratio::new(3, 3));
        // Edges 2→1, 1→1 (dropped), 3→1: none reciprocated.
        assert_eq!(c.reciprocity, Ratio::new(0, 2));
        assert_eq!(c.density, Ratio::new(2, 6));
    }

    #[test]
    fn a_reply_that_arrives_before_its_post_still_counts() {
        let h = health(7, 7);
        let events = [
            reply(2, bj(1, 10, 0, 0), 10, None),
            post(1, bj(1, 9, 0, 0), 10),
        ];
        let c = run(&h, &events);
        assert_eq!(c.reply_rate, Ratio::new(1, 1));
        assert_eq!(c.interaction_edges, 1);
    }

    #[test]
    fn gini_and_top_share_of_unequal_activity() {
        let h = health(7, 7);
        let mut events = Vec::new();
        for user in 1..=9 {
            events.push(check_in(user, bj(1, 9, 0, 0)));
        }
        for _ in 0..9 {
            events.push(check_in(10, bj(2, 9, 0, 0)));
        }
        let c = run(&h, &events);
        // Counts 1×9 and 9; n = 10, total 18; Σ(2i − 11)xᵢ = 9·(−9..=7 step 2) + 9·9.
        let weighted: i64 = (1..=9).map(|i| 2 * i - 11).sum::<i64>() + 9 * 9;
        assert_eq!(c.gini, Ratio::new(weighted as u64, 10 * 18));
        assert_eq!(c.top_contributor_share, Ratio::new(9, 18));
        assert_eq!(concentration(&mut []), (Ratio::new(0, 0), Ratio::new(0, 0)));
        assert_eq!(concentration(&mut [4, 4, 4]).1, Ratio::new(0, 36));
    }

    #[test]
    fn a_two_cycle_is_reciprocal() {
        let h = health(7, 7);
        let c = run(
            &h,
            &[
                reply(1, bj(1, 9, 0, 0), 1, Some(2)),
                reply(2, bj(1, 9, 0, 0), 2, Some(1)),
                reply(2, bj(2, 9, 0, 0), 2, Some(1)),
            ],
        );
        assert_eq!(c.reciprocity, Ratio::new(2, 2));
        assert_eq!(c.density, Ratio::new(2, 2));
    }

    #[test]
    fn new_member_retention_needs_activity_n_days_later() {
        let h = HealthSpec {
            window_days: 30,
            retention_days: 7,
            ..HealthSpec::new(march(30))
        }
        .validate()
        .unwrap();
        let mut b = h.builder(beijing());
        b.joined(UserId(1), C, bj(1, 9, 0, 0));
        b.extend(&[check_in(1, bj(8, 9, 0, 0))]); // exactly 7 days later
        b.joined(UserId(2), C, bj(2, 9, 0, 0));
        b.extend(&[check_in(2, bj(8, 9, 0, 0))]); // only 6 days later
        b.joined(UserId(3), C, bj(28, 9, 0, 0)); // not due yet
        b.joined(UserId(4), C, bj(1, 9, 0, 0));
        b.left(UserId(4), C, bj(3, 9, 0, 0));
        let c = b.finish().community(C).cloned().unwrap();
        assert_eq!(c.new_members, 4);
        assert_eq!(c.new_member_retention, Ratio::new(1, 3));
        assert_eq!(c.members, 3);
    }

    #[test]
    fn joins_and_posts_at_the_window_start_midnight_count_and_just_before_do_not() {
        let h = health(10, 5); // the 6th to the 10th, Beijing time
        let mut b = h.builder(beijing());
        b.joined(UserId(1), C, bj(5, 23, 59, 59));
        b.joined(UserId(2), C, bj(6, 0, 0, 0));
        b.joined(UserId(3), C, bj(11, 0, 0, 0)); // after the window: ignored
        b.extend(&[
            post(1, bj(5, 23, 59, 59), 1),
            post(2, bj(6, 0, 0, 0), 2),
            reply(2, bj(6, 1, 0, 0), 1, None), // to the post before the window
        ]);
        let c = b.finish().community(C).cloned().unwrap();
        assert_eq!((c.members, c.new_members), (2, 1));
        assert_eq!(c.posts, 1);
        assert_eq!(c.reply_rate, Ratio::new(0, 1));
        // The reply is in the window, so its edge counts.
        assert_eq!(c.interaction_edges, 1);
    }

    #[test]
    fn a_leave_at_the_same_instant_as_a_join_wins() {
        let h = health(7, 7);
        let mut b = h.builder(beijing());
        b.left(UserId(1), C, bj(2, 9, 0, 0));
        b.joined(UserId(1), C, bj(2, 9, 0, 0));
        assert_eq!(b.finish().community(C).unwrap().members, 0);
        // An invitation accepted is a join.
        let invite = EventKind::InviteAccepted {
            inviter: UserId(9),
            community: Some(C),
        };
        let c = run(&h, &[ev(1, bj(3, 9, 0, 0), invite)]);
        assert_eq!((c.members, c.new_members), (1, 1));
    }

    #[test]
    fn core_members_are_active_on_enough_days() {
        let h = health(10, 10);
        let mut events = Vec::new();
        for d in 1..=5 {
            events.push(check_in(1, bj(d, 9, 0, 0)));
        }
        for d in 1..=4 {
            events.push(check_in(2, bj(d, 9, 0, 0)));
        }
        assert_eq!(run(&h, &events).core_members, [UserId(1)]);
    }

    #[test]
    fn builders_merge_in_any_split_and_reports_by_community() {
        let h = health(7, 7);
        let events = [
            post(1, bj(1, 9, 0, 0), 10),
            reply(2, bj(1, 10, 0, 0), 10, None),
            check_in(3, bj(2, 9, 0, 0)),
            reply(1, bj(3, 9, 0, 0), 11, Some(2)),
            check_in(2, bj(3, 9, 0, 0)),
        ];
        let mut whole = h.builder(beijing());
        whole.extend(&events);
        let whole = whole.finish();
        let (mut a, mut b) = (h.builder(beijing()), h.builder(beijing()));
        for (i, e) in events.iter().enumerate() {
            if i % 2 == 0 { a.add(e) } else { b.add(e) }
        }
        b.merge(a).unwrap();
        assert_eq!(b.finish(), whole);
        assert!(matches!(
            h.builder(beijing()).merge(health(8, 7).builder(beijing())),
            Err(HealthError::SpecMismatch { .. })
        ));

        let other = CommunityId(2);
        let mut c2 = h.builder(beijing());
        c2.add(&ev(
            5,
            bj(1, 9, 0, 0),
            EventKind::CheckIn {
                community: Some(other),
            },
        ));
        let mut merged = whole.clone();
        merged.merge(c2.finish()).unwrap();
        assert_eq!(merged.communities.len(), 2);
        assert_eq!(
            merged.clone().merge(whole.clone()),
            Err(HealthError::CommunityInBoth { community: C })
        );
        let json = serde_json::to_string(&merged).unwrap();
        assert_eq!(serde_json::from_str::<HealthReport>(&json).unwrap(), merged);
    }

    #[test]
    fn radix_sort_is_a_stable_sort_on_the_bits_asked() {
        let mut x = 0x2545_F491_4F6C_DD1D_u64;
        let items: Vec<(u64, usize)> = (0..5_000)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                // Few distinct low bits, so stability shows.
                (x & !0xFF00, i)
            })
            .collect();
        for (bits, digit) in [0, 5, 11, 20, 33, 64, 99]
            .into_iter()
            .flat_map(|bits| [(bits, SHORT_DIGIT_BITS), (bits, DIGIT_BITS)])
        {
            let mask = u64::MAX.checked_shr(64 - bits.min(64)).unwrap_or(0);
            let mut sorted = items.clone();
            radix_sort(&mut sorted, bits, digit, |&(k, _)| k);
            let mut expected = items.clone();
            expected.sort_by_key(|&(k, _)| k & mask);
            assert!(sorted == expected, "{bits} bits in digits of {digit}");
        }
    }

    /// The user id whose [`member_order`] is `k`: the multiplier's inverse
    /// modulo 2^64 (Newton's iteration), so tests can pick sort keys.
    fn with_member_order(k: u64) -> u64 {
        let inverse = (0..6).fold(1_u64, |y, _| {
            y.wrapping_mul(2_u64.wrapping_sub(0x9E37_79B9_7F4A_7C15_u64.wrapping_mul(y)))
        });
        k.wrapping_mul(inverse)
    }

    #[test]
    fn members_sharing_a_sort_prefix_are_still_told_apart() {
        // Ids whose `member_order` is 1, 2, 3: the same radix prefix.
        let id = with_member_order;
        assert_eq!(member_order(UserId(id(3))), 3);
        let h = health(7, 7);
        // Out of time order, interleaved.
        let events = [
            check_in(id(2), bj(5, 9, 0, 0)),
            check_in(id(1), bj(3, 9, 0, 0)),
            check_in(id(2), bj(1, 9, 0, 0)),
            check_in(id(3), bj(7, 9, 0, 0)),
            check_in(id(1), bj(1, 9, 0, 0)),
            check_in(id(2), bj(3, 9, 0, 0)),
            check_in(id(1), bj(2, 9, 0, 0)),
            check_in(id(1), bj(1, 10, 0, 0)),
            check_in(id(2), bj(6, 9, 0, 0)),
            check_in(id(1), bj(4, 9, 0, 0)),
        ];
        let r = run(&h, &events);
        assert_eq!(r.active_members, 3);
        assert_eq!(r.average_daily_active, Ratio::new(9, 7));
        // Events 5, 4 and 1 of 10; the first two on 4 days of 7.
        assert_eq!(r.top_contributor_share, Ratio::new(5, 10));
        let mut core = vec![UserId(id(1)), UserId(id(2))];
        core.sort();
        assert_eq!(r.core_members, core);
    }

    #[test]
    fn a_big_community_counts_as_a_naive_pass_does() {
        use std::collections::{BTreeMap, BTreeSet};
        // Past `SMALL_RUN` records, with half the ids sharing a radix
        // prefix, in no particular order.
        let id = |k: u64| {
            if k.is_multiple_of(2) {
                with_member_order(k)
            } else {
                k * 1_000_003
            }
        };
        let mut x = 0x9E37_79B9_u64;
        let mut next = |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        let h = health(7, 7);
        let mut events = Vec::new();
        for _ in 0..6_000 {
            let user = id(1 + next(1_500));
            let at = bj(1 + next(7) as u32, next(24) as u32, 0, 0);
            events.push(match next(3) {
                0 => check_in(user, at),
                _ => reply(user, at, 1, Some(id(1 + next(40)))),
            });
        }
        let r = run(&h, &events);
        let mut days = BTreeSet::new();
        let mut counts: BTreeMap<u64, u64> = BTreeMap::new();
        let mut pairs = BTreeSet::new();
        for e in &events {
            days.insert((e.user, LocalDay::of(e.at, &beijing())));
            *counts.entry(e.user.0).or_default() += 1;
            if let EventKind::Reply { to: Some(to), .. } = e.kind
                && to != e.user
            {
                pairs.insert((e.user, to));
            }
        }
        let reciprocated = pairs
            .iter()
            .filter(|&&(a, b)| pairs.contains(&(b, a)))
            .count();
        // Some ends never act: nodes but not members.
        let mut nodes: BTreeSet<u64> = pairs.iter().flat_map(|&(a, b)| [a.0, b.0]).collect();
        nodes.extend(counts.keys());
        let n = nodes.len() as u64;
        assert!(n > counts.len() as u64);
        assert_eq!(r.active_members, counts.len() as u64);
        assert_eq!(r.members, counts.len() as u64);
        assert_eq!(r.average_daily_active, Ratio::new(days.len() as u64, 7));
        assert_eq!(r.interaction_edges, pairs.len() as u64);
        assert_eq!(
            r.reciprocity,
            Ratio::new(reciprocated as u64, pairs.len() as u64)
        );
        assert_eq!(r.density, Ratio::new(pairs.len() as u64, n * (n - 1)));
        let mut sorted: Vec<u64> = counts.values().copied().collect();
        sorted.sort_unstable();
        let top: u64 = sorted.iter().rev().take(sorted.len().div_ceil(10)).sum();
        assert_eq!(r.top_contributor_share, Ratio::new(top, 6_000));
    }

    #[test]
    fn counts_beyond_sixteen_bits_and_zero_counts_survive_shards() {
        let h = health(7, 7);
        let mut b = h.builder(beijing());
        b.add(&check_in(1, bj(3, 9, 0, 0)));
        b.add(&check_in(2, bj(3, 9, 0, 0)));
        let mut json = serde_json::to_value(b.into_shard()).unwrap();
        let records = json["activity"].as_array_mut().unwrap();
        let of = |user: u64| records.iter().find(|r| r[1] == user).unwrap().clone();
        let (one, two) = (of(1), of(2));
        // User 1: 70,000 + 0 + 100,000 events on one day, in three records.
        let mut first = one.clone();
        first[3] = serde_json::json!(70_000);
        let mut zero = one.clone();
        zero[3] = serde_json::json!(0);
        let mut third = one;
        third[3] = serde_json::json!(100_000);
        // User 2: active with no counted event.
        let mut silent = two;
        silent[3] = serde_json::json!(0);
        *records = vec![first, zero, third, silent];
        let shard: HealthShard = serde_json::from_value(json).unwrap();
        let mut target = h.builder(beijing());
        target.absorb(shard.clone()).unwrap();
        target.add(&check_in(1, bj(3, 10, 0, 0)));
        // Through a second shard, then finished.
        let mut merged = h.builder(beijing());
        merged.absorb(target.clone().into_shard()).unwrap();
        for report in [target.finish(), merged.finish()] {
            let r = report.community(C).unwrap();
            assert_eq!(r.active_members, 2);
            assert_eq!(r.top_contributor_share, Ratio::new(170_001, 170_001));
        }
        // A count past `u32::MAX` ships in parts.
        let mut big = h.builder(beijing());
        for _ in 0..3 {
            big.absorb(shard.clone()).unwrap();
        }
        let mut twice = h.builder(beijing());
        twice.absorb(big.clone().into_shard()).unwrap();
        twice.absorb(big.into_shard()).unwrap();
        let mut huge = h.builder(beijing());
        huge.absorb(twice.into_shard()).unwrap();
        let r = huge.finish();
        let r = r.community(C).unwrap();
        assert_eq!(r.top_contributor_share, Ratio::new(1_020_000, 1_020_000));
    }

    #[test]
    fn a_shard_with_a_day_outside_the_window_is_refused_whole() {
        let h = health(7, 7);
        let mut b = h.builder(beijing());
        b.add(&check_in(1, bj(3, 9, 0, 0)));
        b.add(&post(1, bj(3, 9, 0, 0), 5));
        let mut json = serde_json::to_value(b.into_shard()).unwrap();
        json["activity"][0][2] = serde_json::json!(400);
        let shard: HealthShard = serde_json::from_value(json).unwrap();
        let mut target = h.builder(beijing());
        let err = target.absorb(shard).unwrap_err();
        assert!(err.to_string().contains("activity day offset 400"), "{err}");
        assert!(target.finish().communities.is_empty());
    }

    #[test]
    fn specs_are_checked() {
        let base = HealthSpec::new(march(7));
        for (spec, field) in [
            (
                HealthSpec {
                    window_days: 367,
                    ..base.clone()
                },
                "window_days",
            ),
            (
                HealthSpec {
                    retention_days: 0,
                    ..base.clone()
                },
                "retention_days",
            ),
            (
                HealthSpec {
                    core_active_percent: 101,
                    ..base.clone()
                },
                "core_active_percent",
            ),
        ] {
            let err = spec.validate().unwrap_err().to_string();
            assert!(err.contains(field), "{err}");
        }
        let early = HealthSpec::new(LocalDay::from_number(i32::MIN + 40));
        assert!(matches!(
            early.validate(),
            Err(HealthError::WindowBeforeCalendar { .. })
        ));
        let json = serde_json::to_string(&health(7, 7)).unwrap();
        assert_eq!(serde_json::from_str::<Health>(&json).unwrap(), health(7, 7));
        assert!(
            serde_json::from_str::<HealthSpec>(r#"{"last_day": "2026-03-01", "x": 1}"#).is_err()
        );
    }
}
