//! Idempotency: remembering which events a state has already seen.
//!
//! Hosts deliver events at least once; the same [`EventId`] arriving twice
//! must change nothing. Every per-user state keeps a [`RecentIds`]: the ids of
//! its recent events, bounded by a [`DedupeWindow`] so that state does not grow
//! without limit.
//!
//! The window keeps the ids of events no older than `horizon_hours` behind
//! the newest event seen, and at most `max_ids` of them. An id that falls out
//! is *forgotten*, and from then on the state cannot tell whether an event at
//! or before the forgotten one's time is new or a repeat. Such an event is
//! [`Admission::TooLate`]: refused, not guessed at. Everything newer is
//! checked exactly. So:
//!
//! - a redelivery within the horizon is always recognised;
//! - a genuinely late event (a phone syncing yesterday's offline activity) is
//!   accepted if it is newer than everything forgotten;
//! - replaying a whole log a second time changes nothing: each event is
//!   either remembered (a duplicate) or older than something forgotten.
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
//! // Two days later the first id is forgotten, and an event that old is refused.
//! seen.remember(EventId(2), t0 + TimeDelta::days(2), &window);
//! assert_eq!(seen.admit(EventId(1), t0), Admission::TooLate);
//! ```

use crate::id::EventId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How much of a state's recent past it remembers event ids for.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DedupeWindow {
    /// Ids of events this many hours older than the newest event are
    /// forgotten. Redeliveries later than this are refused as too late.
    pub horizon_hours: u32,
    /// At most this many ids are kept per state; past it the oldest go first.
    pub max_ids: u16,
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

/// The ids of a state's recent events, in time order (see the module docs).
#[derive(Clone, PartialEq, Eq, Hash, Debug, Default, Serialize, Deserialize)]
pub struct RecentIds {
    /// `(id, unix milliseconds)`, sorted by time.
    ids: Vec<(EventId, i64)>,
    /// The newest time of any forgotten id, in unix milliseconds.
    forgotten_through: Option<i64>,
}

impl RecentIds {
    /// Remembers nothing yet.
    pub const fn new() -> RecentIds {
        RecentIds {
            ids: Vec::new(),
            forgotten_through: None,
        }
    }

    /// Judges an event without changing anything.
    #[inline]
    pub fn admit(&self, id: EventId, at: DateTime<Utc>) -> Admission {
        // Scan newest first: a redelivery is usually of a recent event.
        if self.ids.iter().rev().any(|&(seen, _)| seen == id) {
            return Admission::Duplicate;
        }
        match self.forgotten_through {
            Some(limit) if at.timestamp_millis() <= limit => Admission::TooLate,
            _ => Admission::Fresh,
        }
    }

    /// Records an admitted event and forgets what the window lets go.
    pub fn remember(&mut self, id: EventId, at: DateTime<Utc>, window: &DedupeWindow) {
        let ms = at.timestamp_millis();
        // In-order arrival (the common case) appends; a late event is inserted.
        let pos = self.ids.partition_point(|&(_, t)| t <= ms);
        self.ids.insert(pos, (id, ms));

        let newest = self.ids.last().map_or(ms, |&(_, t)| t);
        let horizon = i64::from(window.horizon_hours) * 3_600_000;
        let cutoff = newest.saturating_sub(horizon);
        let stale = self.ids.partition_point(|&(_, t)| t < cutoff);
        let over = self
            .ids
            .len()
            .saturating_sub(usize::from(window.max_ids.max(1)));
        let drop = stale.max(over);
        if drop > 0 {
            let last_dropped = self.ids[drop - 1].1;
            self.forgotten_through = Some(
                self.forgotten_through
                    .map_or(last_dropped, |f| f.max(last_dropped)),
            );
            self.ids.drain(..drop);
        }
    }

    /// How many ids are remembered now.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether no id is remembered.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeDelta, TimeZone};

    fn t(hours: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + TimeDelta::hours(hours)
    }

    #[test]
    fn late_but_unforgotten_events_are_fresh() {
        let w = DedupeWindow {
            horizon_hours: 48,
            max_ids: 8,
        };
        let mut r = RecentIds::new();
        r.remember(EventId(1), t(10), &w);
        r.remember(EventId(2), t(20), &w);
        // Older than the newest, but nothing at or after t(5) was forgotten.
        assert_eq!(r.admit(EventId(3), t(5)), Admission::Fresh);
        r.remember(EventId(3), t(5), &w);
        assert_eq!(r.admit(EventId(3), t(5)), Admission::Duplicate);
        assert_eq!(r.len(), 3);
    }

    #[test]
    fn count_bound_forgets_the_oldest() {
        let w = DedupeWindow {
            horizon_hours: 1000,
            max_ids: 2,
        };
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
    fn horizon_edge_is_kept_inclusive() {
        let w = DedupeWindow {
            horizon_hours: 24,
            max_ids: 64,
        };
        let mut r = RecentIds::new();
        r.remember(EventId(1), t(0), &w);
        r.remember(EventId(2), t(24), &w);
        // Exactly the horizon behind the newest: still remembered.
        assert_eq!(r.admit(EventId(1), t(0)), Admission::Duplicate);
        r.remember(EventId(3), t(25), &w);
        assert_eq!(r.admit(EventId(1), t(0)), Admission::TooLate);
    }
}
