//! The dedupe window against a brute-force reading of its docs: every id
//! and time kept, and the documented forgetting rules applied to a plain
//! list (`growthkit::dedupe`).

use chrono::{DateTime, TimeDelta, Utc};
use growthkit::EventId;
use growthkit::dedupe::{Admission, DedupeWindow, RecentIds};
use proptest::prelude::*;

/// The window as the module docs describe it: the held ids in time order
/// (a late one after those at its time), and the newest time forgotten.
#[derive(Default)]
struct Model {
    held: Vec<(u64, i64)>,
    forgotten: Option<i64>,
}

impl Model {
    fn admit(&self, id: u64, ms: i64) -> Admission {
        if self.held.iter().any(|&(h, _)| h == id) {
            Admission::Duplicate
        } else if self.forgotten.is_some_and(|f| ms <= f) {
            Admission::TooLate
        } else {
            Admission::Fresh
        }
    }

    /// Forgets every id older than `cutoff`, then the oldest until `keep`.
    fn forget(&mut self, cutoff: i64, keep: usize) {
        let stale = self.held.iter().filter(|&&(_, t)| t < cutoff).count();
        let gone = stale.max(self.held.len().saturating_sub(keep));
        for (_, t) in self.held.drain(..gone) {
            self.forgotten = Some(self.forgotten.map_or(t, |f| f.max(t)));
        }
    }

    fn remember(&mut self, id: u64, ms: i64, w: &DedupeWindow) {
        let horizon = i64::from(w.horizon_hours) * 3_600_000;
        let max = usize::from(w.max_ids.max(1));
        let newest = |held: &[(u64, i64)]| held.iter().map(|s| s.1).max();
        // The first two ids are forgotten only when a newer one needs
        // their room, and then only those past the horizon.
        if self.held.len() == 2 {
            let cutoff = newest(&self.held).unwrap().max(ms) - horizon;
            if self.held[0].1 < cutoff {
                self.forget(cutoff, max);
            }
        }
        let pos = self.held.iter().filter(|&&(_, t)| t <= ms).count();
        self.held.insert(pos, (id, ms));
        let cutoff = newest(&self.held).unwrap() - horizon;
        let n = self.held.len();
        let stale = self.held.iter().filter(|&&(_, t)| t < cutoff).count();
        if n > max {
            if n - stale > max {
                self.forget(cutoff, max - max / 4);
            } else if n > max + max / 4 {
                self.forget(cutoff, max);
            }
        } else if n > 2 && self.held[0].1 < cutoff - horizon / 4 {
            self.forget(cutoff, max);
        }
    }
}

fn ms(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

#[derive(Clone, Debug)]
struct Step {
    id: u64,
    /// Minutes forward (or back) from the newest time so far.
    minutes: i64,
    /// Sub-minute milliseconds.
    millis: i64,
    /// Read the window back from JSON before this step.
    round_trip: bool,
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    proptest::collection::vec(
        (
            prop_oneof![3 => 0u64..16, 1 => 0u64..400],
            prop_oneof![
                4 => 0i64..120,
                2 => Just(0i64),
                2 => -600i64..0,
                1 => 0i64..3_000,
                1 => -6_000i64..0,
            ],
            prop_oneof![3 => Just(0i64), 1 => 0i64..60_000],
            proptest::bool::weighted(0.1),
        )
            .prop_map(|(id, minutes, millis, round_trip)| Step {
                id,
                minutes,
                millis,
                round_trip,
            }),
        1..160,
    )
}

fn start() -> impl Strategy<Value = DateTime<Utc>> {
    prop_oneof![
        Just(chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 1, 1, 0, 0, 0).unwrap()),
        Just(DateTime::<Utc>::MIN_UTC),
        Just(DateTime::<Utc>::MAX_UTC - TimeDelta::days(30)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn the_window_is_its_documented_rules(
        (horizon_hours, max_ids) in (prop_oneof![4 => 1u32..8, 1 => Just(u32::MAX), 1 => 1u32..200, 1 => Just(0u32)], prop_oneof![4 => 1u16..14, 1 => 14u16..120, 1 => Just(0u16)]),
        start in start(),
        steps in steps(),
    ) {
        let w = DedupeWindow { horizon_hours, max_ids };
        let horizon = i64::from(horizon_hours) * 3_600_000;
        let max = usize::from(max_ids.max(1));
        let (mut seen, mut model) = (RecentIds::new(), Model::default());
        let mut newest = start;
        let mut remembered: Vec<(u64, i64, DateTime<Utc>)> = Vec::new();
        let mut burst = false;
        for (i, s) in steps.into_iter().enumerate() {
            if s.round_trip {
                seen = serde_json::from_str(&serde_json::to_string(&seen).unwrap()).unwrap();
            }
            let Some(at) = newest
                .checked_add_signed(TimeDelta::minutes(s.minutes) + TimeDelta::milliseconds(s.millis))
                .filter(|&at| at >= DateTime::<Utc>::MIN_UTC)
            else {
                continue;
            };
            let judged = seen.admit(EventId(s.id), at);
            prop_assert_eq!(judged, model.admit(s.id, ms(at)), "step {} id {} at {}", i, s.id, at);
            if judged != Admission::Fresh {
                continue;
            }
            seen.remember(EventId(s.id), at, &w);
            model.remember(s.id, ms(at), &w);
            newest = newest.max(at);
            remembered.push((s.id, ms(at), at));
            let newest_ms = ms(newest);
            let within = remembered.iter().filter(|r| r.1 >= newest_ms - horizon).count();
            burst |= within > max;
            prop_assert_eq!(seen.len(), model.held.len(), "step {}", i);
            // Bounds: at most `max_ids` within the horizon, a quarter more in all.
            let held_within = model.held.iter().filter(|h| h.1 >= newest_ms - horizon).count();
            prop_assert!(held_within <= max && seen.len() <= max + max / 4, "step {}", i);
            for &(id, t, at) in &remembered {
                let a = seen.admit(EventId(id), at);
                prop_assert_eq!(a, model.admit(id, t), "step {} id {}", i, id);
                // A repeat is never fresh.
                prop_assert_ne!(a, Admission::Fresh, "step {} id {}", i, id);
                if !burst && t >= newest_ms - horizon {
                    prop_assert_eq!(a, Admission::Duplicate, "step {} id {}", i, id);
                }
            }
            // Unseen ids: too late exactly at or before the forgotten mark.
            for probe in [-2i64, -1, 0, 1, 2] {
                let Some(f) = model.forgotten else { break };
                let Some(at) = DateTime::<Utc>::from_timestamp_millis(f + probe) else { continue };
                prop_assert_eq!(seen.admit(EventId(1_000_000), at), model.admit(1_000_000, f + probe));
            }
        }
        // Replaying everything remembered again changes nothing.
        let before = seen.clone();
        for &(id, _, at) in &remembered {
            prop_assert_ne!(seen.admit(EventId(id), at), Admission::Fresh);
        }
        prop_assert_eq!(before, seen);
    }
}
