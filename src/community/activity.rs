//! Per-member activity counters: what member levels are judged on.
//!
//! A [`MemberActivity`] keeps, for one member, a bucket of [`Counter`]s per
//! local day over a bounded horizon (the longest window any level looks
//! at), all-time totals (of each counter, of active days and of days with a
//! reaction received, so an all-time requirement counts days past the
//! horizon too), and the recent members who reacted to them (for
//! "received from at least N members"). Events map to counters as follows:
//!
//! | event | counter (on whose activity) |
//! | --- | --- |
//! | any community interaction, or `Visited` | the day is active (actor; being reacted to or flagged is not activity) |
//! | `ContentViewed` | `topics_entered` +1 unless the same content was among the last 8 entered; `posts_read` + the `posts_read` attribute (default 1); `reading_seconds` + the `read_seconds` attribute (default 0) |
//! | `Post` | `posts` |
//! | `Reply` | `topics_replied_to` +1 unless the same content was among the last 8 replied to, or `to` is the member themselves |
//! | `Reaction` | `reactions_given` (actor); `reactions_received` (the author in `to`); neither when `to` is the actor |
//! | `Custom { name: "flagged" }` | `flags_against` (the member flagged is the event's user) |
//!
//! "Distinct topics" are approximated by the last 8 distinct contents: a
//! member replying to 9 topics in rotation is counted more than once.
//! Replying or reacting to oneself makes the day active but counts nothing
//! else, as it scores nothing in engagement. Other community interactions
//! (shares, check-ins, accepted invitations, clicks) make the actor's day
//! active; events that are not community interactions (sign-ups,
//! purchases, other custom events) are not activity.

use super::interaction::{Interaction, InteractionKind};
use crate::dedupe::{Admission, DedupeWindow, RecentIds};
use crate::event::{Event, EventKind};
use crate::id::{ContentId, EventId, UserId};
use crate::store::Versioned;
use crate::time::LocalDay;
use chrono::TimeZone;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::fmt;

/// What a member level can count.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum Counter {
    /// Distinct topics (contents) viewed.
    TopicsEntered,
    /// Posts read.
    PostsRead,
    /// Seconds spent reading.
    ReadingSeconds,
    /// New posts written.
    Posts,
    /// Distinct topics replied to.
    TopicsRepliedTo,
    /// Reactions given.
    ReactionsGiven,
    /// Reactions received.
    ReactionsReceived,
    /// Times flagged by others.
    FlagsAgainst,
}

impl Counter {
    /// How many counters there are.
    pub const COUNT: usize = 8;

    /// The snake-case name used in configuration.
    pub const fn name(self) -> &'static str {
        match self {
            Counter::TopicsEntered => "topics_entered",
            Counter::PostsRead => "posts_read",
            Counter::ReadingSeconds => "reading_seconds",
            Counter::Posts => "posts",
            Counter::TopicsRepliedTo => "topics_replied_to",
            Counter::ReactionsGiven => "reactions_given",
            Counter::ReactionsReceived => "reactions_received",
            Counter::FlagsAgainst => "flags_against",
        }
    }
}

impl fmt::Display for Counter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// How many distinct recent reaction givers a member remembers: requirements
/// may ask for at most this many distinct members.
pub const GIVERS: usize = 16;

/// How many recent contents are remembered to count topics once.
const RECENT_CONTENTS: usize = 8;

/// One local day's counts.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct DayCounts {
    /// The day.
    pub day: LocalDay,
    /// Whether the member was active (not only reacted to or flagged).
    pub active: bool,
    /// Counts by [`Counter`] (`counts[c as usize]`).
    pub counts: [u32; Counter::COUNT],
}

impl DayCounts {
    /// Whether the member received a reaction that day.
    fn reacted_to(&self) -> bool {
        self.counts
            .get(Counter::ReactionsReceived as usize)
            .is_some_and(|&n| n > 0)
    }
}

/// A recent reaction giver and the last day they gave one.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
struct Giver {
    user: UserId,
    day: LocalDay,
}

/// One member's activity counters (see the module docs for what counts).
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use growthkit::community::{Counter, MemberActivity};
/// use growthkit::{ContentId, Event, EventId, EventKind, UserId, UtcOffset};
///
/// let t = Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap();
/// let mut a = MemberActivity::new(UserId(1));
/// let read = Event::new(EventId(1), UserId(1), t, EventKind::ContentViewed { content: ContentId(5) })
///     .with_attr("posts_read", 12)
///     .with_attr("read_seconds", 300);
/// a.record(&read, UtcOffset::UTC, 100)?;
/// let today = growthkit::LocalDay::of(t, &UtcOffset::UTC.zone());
/// assert_eq!(a.total(Counter::PostsRead), 12);
/// assert_eq!(a.in_window(Counter::ReadingSeconds, today, 7), 300);
/// assert_eq!(a.days_active(today, None), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct MemberActivity {
    user: UserId,
    /// Daily buckets (a day the member was active, reacted to or
    /// flagged), oldest first, within the horizon.
    days: VecDeque<DayCounts>,
    totals: [u64; Counter::COUNT],
    days_active_total: u32,
    /// Days with a reaction received, all time. States saved before it
    /// was kept read 0; the buckets kept then give a lower bound.
    #[serde(default, skip_serializing_if = "crate::is_zero")]
    days_reacted_total: u32,
    givers: Vec<Giver>,
    recent_entered: Vec<ContentId>,
    recent_replied: Vec<ContentId>,
    seen: RecentIds,
    version: u64,
}

impl Versioned for MemberActivity {
    fn version(&self) -> u64 {
        self.version
    }
}

/// Why recording an event failed; the activity is unchanged.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ActivityError {
    /// The event is older than the activity's dedupe window or its horizon
    /// of daily buckets.
    #[error("event {id:?} is too late for {user}'s activity")]
    TooLate {
        /// The event.
        id: EventId,
        /// The member.
        user: UserId,
    },
    /// The state's version is at its largest: it cannot record one more
    /// change (only a state edited outside the library gets there).
    #[error("{user}'s activity is at the largest version and cannot change")]
    Overflow {
        /// The member.
        user: UserId,
    },
}

impl MemberActivity {
    /// No activity yet.
    pub fn new(user: UserId) -> MemberActivity {
        MemberActivity {
            user,
            days: VecDeque::new(),
            totals: [0; Counter::COUNT],
            days_active_total: 0,
            days_reacted_total: 0,
            givers: Vec::new(),
            recent_entered: Vec::new(),
            recent_replied: Vec::new(),
            seen: RecentIds::new(),
            version: 0,
        }
    }

    /// The member.
    pub fn user(&self) -> UserId {
        self.user
    }

    /// Bumped by every event that changed the activity.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Records what `event` says about this member (as actor, or as the
    /// author reacted to), counting days in `offset` and keeping
    /// `horizon_days` of daily buckets, with the default [`DedupeWindow`].
    /// Returns whether anything changed (false for duplicates and events
    /// that do not concern the member). [`LevelLadder::record`](super::LevelLadder::record)
    /// does the same with the ladder's zone, horizon and dedupe window.
    pub fn record(
        &mut self,
        event: &Event,
        offset: crate::time::UtcOffset,
        horizon_days: u16,
    ) -> Result<bool, ActivityError> {
        self.record_with(
            event,
            &offset.zone(),
            horizon_days,
            &DedupeWindow::default(),
        )
    }

    /// [`record`](Self::record) counting days in `zone`: an IANA zone from
    /// `chrono-tz`, with its 23- and 25-hour days, or any other
    /// [`TimeZone`].
    pub fn record_in<Tz: TimeZone>(
        &mut self,
        event: &Event,
        zone: &Tz,
        horizon_days: u16,
    ) -> Result<bool, ActivityError> {
        self.record_with(event, zone, horizon_days, &DedupeWindow::default())
    }

    /// [`record_in`](Self::record_in) with an explicit dedupe window.
    pub(crate) fn record_with<Tz: TimeZone>(
        &mut self,
        event: &Event,
        zone: &Tz,
        horizon_days: u16,
        window: &DedupeWindow,
    ) -> Result<bool, ActivityError> {
        let mut adds = [0u64; Counter::COUNT];
        let mut active = false;
        let mut giver = None;
        let mut entered = None;
        let mut replied = None;
        let interaction = Interaction::from_event(event);
        if event.user == self.user {
            match &event.kind {
                EventKind::Visited => active = true,
                EventKind::Custom { name } if name.as_str() == "flagged" => {
                    adds[Counter::FlagsAgainst as usize] = 1;
                }
                _ => {}
            }
            if let Some(i) = &interaction {
                active = true;
                match i.kind {
                    InteractionKind::ContentView => {
                        let attr = |name| {
                            event
                                .attrs
                                .get(name)
                                .and_then(|v| v.as_int())
                                .and_then(|n| u64::try_from(n).ok())
                        };
                        if let Some(c) = i.content
                            && !self.recent_entered.contains(&c)
                        {
                            adds[Counter::TopicsEntered as usize] = 1;
                            entered = Some(c);
                        }
                        adds[Counter::PostsRead as usize] = attr("posts_read").unwrap_or(1);
                        adds[Counter::ReadingSeconds as usize] = attr("read_seconds").unwrap_or(0);
                    }
                    InteractionKind::Post => adds[Counter::Posts as usize] = 1,
                    InteractionKind::Reply if !i.is_self() => {
                        if let Some(c) = i.content
                            && !self.recent_replied.contains(&c)
                        {
                            adds[Counter::TopicsRepliedTo as usize] = 1;
                            replied = Some(c);
                        }
                    }
                    InteractionKind::Reaction if !i.is_self() => {
                        adds[Counter::ReactionsGiven as usize] = 1;
                    }
                    _ => {}
                }
            }
        } else if let Some(i) = &interaction
            && i.kind == InteractionKind::Reaction
            && i.target == Some(self.user)
        {
            adds[Counter::ReactionsReceived as usize] = 1;
            giver = Some(i.actor);
        }
        if !active && adds.iter().all(|&n| n == 0) {
            return Ok(false);
        }
        match self.seen.admit(event.id, event.at) {
            Admission::Duplicate => return Ok(false),
            Admission::TooLate => {
                return Err(ActivityError::TooLate {
                    id: event.id,
                    user: self.user,
                });
            }
            Admission::Fresh => {}
        }
        let day = LocalDay::of(event.at, zone);
        let newest = self.days.back().map_or(day, |b| b.day.max(day));
        let horizon = i32::from(horizon_days.max(1));
        if newest.days_since(day) >= horizon {
            return Err(ActivityError::TooLate {
                id: event.id,
                user: self.user,
            });
        }
        let version = self
            .version
            .checked_add(1)
            .ok_or(ActivityError::Overflow { user: self.user })?;
        // Nothing fails from here on.
        let pos = self.days.partition_point(|b| b.day < day);
        if self.days.get(pos).is_none_or(|b| b.day != day) {
            self.days.insert(
                pos,
                DayCounts {
                    day,
                    active: false,
                    counts: [0; Counter::COUNT],
                },
            );
        }
        if let Some(bucket) = self.days.get_mut(pos) {
            if active && !bucket.active {
                bucket.active = true;
                self.days_active_total = self.days_active_total.saturating_add(1);
            }
            let had_reaction = bucket.reacted_to();
            for (c, add) in bucket.counts.iter_mut().zip(adds) {
                *c = c.saturating_add(u32::try_from(add).unwrap_or(u32::MAX));
            }
            if !had_reaction && bucket.reacted_to() {
                self.days_reacted_total = self.days_reacted_total.saturating_add(1);
            }
        }
        for (t, add) in self.totals.iter_mut().zip(adds) {
            *t = t.saturating_add(add);
        }
        while self
            .days
            .front()
            .is_some_and(|b| newest.days_since(b.day) >= horizon)
        {
            self.days.pop_front();
        }
        if let Some(user) = giver {
            // A late reaction does not make an earlier last day of theirs.
            let last = self.givers.iter().find(|g| g.user == user);
            let day = last.map_or(day, |g| g.day.max(day));
            self.givers.retain(|g| g.user != user);
            self.givers.push(Giver { user, day });
            // Most recent last; the least recent go first.
            self.givers.sort_by_key(|g| g.day);
            if self.givers.len() > GIVERS {
                self.givers.remove(0);
            }
        }
        for (recent, c) in [
            (&mut self.recent_entered, entered),
            (&mut self.recent_replied, replied),
        ] {
            if let Some(c) = c {
                recent.push(c);
                if recent.len() > RECENT_CONTENTS {
                    recent.remove(0);
                }
            }
        }
        self.seen.remember(event.id, event.at, window);
        self.version = version;
        Ok(true)
    }

    /// All-time total of `counter`.
    pub fn total(&self, counter: Counter) -> u64 {
        self.totals.get(counter as usize).copied().unwrap_or(0)
    }

    fn window(&self, today: LocalDay, days: u16) -> impl Iterator<Item = &DayCounts> + '_ {
        self.days
            .iter()
            .filter(move |b| b.day <= today && today.days_since(b.day) < i32::from(days))
    }

    /// `counter` over the `days` local days ending with `today`.
    pub fn in_window(&self, counter: Counter, today: LocalDay, days: u16) -> u64 {
        self.window(today, days)
            .map(|b| u64::from(b.counts.get(counter as usize).copied().unwrap_or(0)))
            .sum()
    }

    /// `counter` in a window, or all time for `None`.
    pub fn count(&self, counter: Counter, today: LocalDay, window: Option<u16>) -> u64 {
        match window {
            Some(days) => self.in_window(counter, today, days),
            None => self.total(counter),
        }
    }

    /// Active days in a window ending `today`, or all time for `None`.
    pub fn days_active(&self, today: LocalDay, window: Option<u16>) -> u64 {
        match window {
            Some(days) => self.window(today, days).filter(|b| b.active).count() as u64,
            None => u64::from(self.days_active_total),
        }
    }

    /// Days in the window with at least one reaction received, or all time
    /// for `None`.
    pub fn days_with_reactions_received(&self, today: LocalDay, window: Option<u16>) -> u64 {
        let received = |b: &&DayCounts| b.reacted_to();
        match window {
            Some(days) => self.window(today, days).filter(received).count() as u64,
            // A day leaves the buckets only once no event can reach it, so
            // the total never counts a day twice.
            None => u64::from(self.days_reacted_total)
                .max(self.days.iter().filter(received).count() as u64),
        }
    }

    /// Distinct members who reacted within the window (exact up to
    /// [`GIVERS`]; beyond, at least that many). Only each giver's latest
    /// day is kept, so a window ending before it does not count them, as
    /// it counts no day after `today`.
    pub fn distinct_givers(&self, today: LocalDay, window: Option<u16>) -> u64 {
        self.givers
            .iter()
            .filter(|g| {
                window.is_none_or(|w| g.day <= today && today.days_since(g.day) < i32::from(w))
            })
            .count() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::UtcOffset;
    use chrono::{DateTime, TimeDelta, TimeZone, Utc};

    fn t(days: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap() + TimeDelta::days(days)
    }

    fn day(days: i64) -> LocalDay {
        LocalDay::of(t(days), &UtcOffset::UTC.zone())
    }

    fn reaction(id: u64, from: u64, at: DateTime<Utc>) -> Event {
        let kind = EventKind::Reaction {
            community: None,
            content: ContentId(1),
            to: Some(UserId(1)),
        };
        Event::new(EventId(id), UserId(from), at, kind)
    }

    #[test]
    fn a_givers_last_day_is_their_latest_whatever_the_order() {
        let mut a = MemberActivity::new(UserId(1));
        a.record(&reaction(1, 2, t(5)), UtcOffset::UTC, 30).unwrap();
        // A late reaction of the same giver, five days earlier.
        a.record(&reaction(2, 2, t(0)), UtcOffset::UTC, 30).unwrap();
        assert_eq!(a.distinct_givers(day(5), Some(1)), 1);
        // No window counts a day after the day it ends on.
        assert_eq!(a.in_window(Counter::ReactionsReceived, day(3), 3), 0);
        assert_eq!(a.distinct_givers(day(3), Some(3)), 0);
        assert_eq!(a.distinct_givers(day(3), None), 1);
    }

    #[test]
    fn a_change_past_the_largest_version_is_refused_and_changes_nothing() {
        let json = serde_json::to_string(&MemberActivity::new(UserId(1)))
            .unwrap()
            .replace("\"version\":0", &format!("\"version\":{}", u64::MAX));
        let mut a: MemberActivity = serde_json::from_str(&json).unwrap();
        let before = a.clone();
        let visit = Event::new(EventId(1), UserId(1), t(0), EventKind::Visited);
        assert_eq!(
            a.record(&visit, UtcOffset::UTC, 30),
            Err(ActivityError::Overflow { user: UserId(1) })
        );
        assert_eq!(a, before);
    }

    #[test]
    fn counters_follow_the_mapping_and_windows() {
        let me = UserId(1);
        let mut a = MemberActivity::new(me);
        let mut id = 0;
        let mut ev = |user, at, kind| {
            id += 1;
            Event::new(EventId(id), UserId(user), at, kind)
        };
        let c = Some(crate::id::CommunityId(1));
        let events = [
            ev(
                1,
                t(0),
                EventKind::ContentViewed {
                    content: ContentId(1),
                },
            ),
            ev(
                1,
                t(0),
                EventKind::ContentViewed {
                    content: ContentId(1),
                },
            ),
            ev(
                1,
                t(1),
                EventKind::Reply {
                    community: c,
                    content: ContentId(1),
                    to: Some(UserId(2)),
                },
            ),
            ev(
                1,
                t(1),
                EventKind::Reply {
                    community: c,
                    content: ContentId(1),
                    to: Some(UserId(2)),
                },
            ),
            ev(
                1,
                t(2),
                EventKind::Reaction {
                    community: c,
                    content: ContentId(3),
                    to: Some(UserId(2)),
                },
            ),
            ev(
                2,
                t(2),
                EventKind::Reaction {
                    community: c,
                    content: ContentId(4),
                    to: Some(me),
                },
            ),
            ev(
                3,
                t(3),
                EventKind::Reaction {
                    community: c,
                    content: ContentId(4),
                    to: Some(me),
                },
            ),
            ev(
                2,
                t(4),
                EventKind::Reaction {
                    community: c,
                    content: ContentId(5),
                    to: Some(me),
                },
            ),
            ev(
                1,
                t(5),
                EventKind::Custom {
                    name: "flagged".into(),
                },
            ),
            ev(1, t(6), EventKind::Visited),
            ev(2, t(6), EventKind::Visited),
        ];
        for e in &events {
            a.record(e, UtcOffset::UTC, 30).unwrap();
        }
        assert!(
            !a.record(&events[9], UtcOffset::UTC, 30).unwrap(),
            "duplicate"
        );
        // Six days on, the first event's id is forgotten: refused, not guessed.
        assert!(a.record(&events[0], UtcOffset::UTC, 30).is_err());
        assert_eq!(a.total(Counter::TopicsEntered), 1);
        assert_eq!(a.total(Counter::PostsRead), 2);
        assert_eq!(a.total(Counter::TopicsRepliedTo), 1);
        assert_eq!(a.total(Counter::ReactionsGiven), 1);
        assert_eq!(a.total(Counter::ReactionsReceived), 3);
        assert_eq!(a.total(Counter::FlagsAgainst), 1);
        // Active: days 0, 1, 2 and 6; being reacted to or flagged is not activity.
        assert_eq!(a.days_active(day(6), None), 4);
        assert_eq!(a.days_active(day(6), Some(2)), 1);
        assert_eq!(a.distinct_givers(day(6), None), 2);
        assert_eq!(a.distinct_givers(day(6), Some(3)), 1);
        assert_eq!(a.days_with_reactions_received(day(6), Some(30)), 3);
        assert_eq!(a.in_window(Counter::ReactionsReceived, day(6), 3), 1);
        let back: MemberActivity =
            serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
        assert_eq!(back, a);
    }

    #[test]
    fn buckets_stay_within_the_horizon_and_older_events_are_refused() {
        let mut a = MemberActivity::new(UserId(1));
        for d in 0..50 {
            let e = Event::new(EventId(d as u64), UserId(1), t(d), EventKind::Visited);
            a.record(&e, UtcOffset::UTC, 10).unwrap();
        }
        assert_eq!(a.days.len(), 10);
        assert_eq!(a.days_active(day(49), None), 50);
        assert_eq!(a.days_active(day(49), Some(5)), 5);
        let before = a.clone();
        let late = Event::new(EventId(99), UserId(1), t(30), EventKind::Visited);
        assert!(a.record(&late, UtcOffset::UTC, 10).is_err());
        assert_eq!(a, before);
    }
}
