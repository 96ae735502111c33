//! Properties of the dedupe window (`growthkit::dedupe`), over arbitrary
//! windows and arrival orders (late events included):
//!
//! 1. an event once remembered is never admitted as fresh again: a
//!    redelivery is a duplicate or, once forgotten, too late;
//! 2. while the window has never held more than `max_ids` ids, every event
//!    within `horizon_hours` of the newest is recognised as a duplicate, and
//!    so it is while no more than `max_ids` ids ever fell within one
//!    horizon, however many the window held in all;
//! 3. a window read back from JSON judges every event as the original does.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use growthkit::EventId;
use growthkit::dedupe::{Admission, DedupeWindow, RecentIds};
use proptest::collection::vec;
use proptest::prelude::*;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap()
}

/// Up to 80 event times: mostly forward steps of up to ten hours, some
/// late by up to a day. Event `i` has id `i`.
fn times() -> impl Strategy<Value = Vec<DateTime<Utc>>> {
    times_up_to(80)
}

fn times_up_to(n: usize) -> impl Strategy<Value = Vec<DateTime<Utc>>> {
    vec(-1_440i64..600, 1..=n).prop_map(|steps| {
        let mut newest = t0();
        steps
            .into_iter()
            .map(|step| {
                let at = newest + TimeDelta::minutes(step);
                newest = newest.max(at);
                at
            })
            .collect()
    })
}

/// Windows of up to four days and up to 100 ids.
fn window() -> impl Strategy<Value = DedupeWindow> {
    (1u32..96, 1u16..100).prop_map(|(horizon_hours, max_ids)| DedupeWindow {
        horizon_hours,
        max_ids,
    })
}

/// A window, and no more events than it may hold ids.
fn window_and_fewer_times() -> impl Strategy<Value = (DedupeWindow, Vec<DateTime<Utc>>)> {
    window().prop_flat_map(|w| (Just(w), times_up_to(usize::from(w.max_ids))))
}

/// Admits and remembers each event in turn; the events remembered.
fn deliver(seen: &mut RecentIds, times: &[DateTime<Utc>], w: &DedupeWindow) -> Vec<usize> {
    let mut remembered = Vec::new();
    for (i, &at) in times.iter().enumerate() {
        if seen.admit(EventId(i as u64), at) == Admission::Fresh {
            seen.remember(EventId(i as u64), at, w);
            remembered.push(i);
        }
    }
    remembered
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn a_remembered_event_is_never_fresh_again(times in times(), w in window()) {
        let mut seen = RecentIds::new();
        let remembered = deliver(&mut seen, &times, &w);
        for i in remembered {
            prop_assert_ne!(seen.admit(EventId(i as u64), times[i]), Admission::Fresh, "event {}", i);
        }
    }

    #[test]
    fn under_max_ids_every_event_within_the_horizon_is_a_duplicate(
        // No more events than ids: the window never holds more than `max_ids`.
        (w, times) in window_and_fewer_times(),
    ) {
        let mut seen = RecentIds::new();
        let remembered = deliver(&mut seen, &times, &w);
        let newest = remembered.iter().map(|&i| times[i]).max().unwrap_or_else(t0);
        let horizon = TimeDelta::hours(i64::from(w.horizon_hours));
        for i in remembered {
            if times[i] >= newest - horizon {
                prop_assert_eq!(
                    seen.admit(EventId(i as u64), times[i]),
                    Admission::Duplicate,
                    "event {} at {}, newest {}", i, times[i], newest
                );
            }
        }
    }

    #[test]
    fn under_max_ids_within_every_horizon_every_recent_event_is_a_duplicate(
        times in times(),
        (horizon_hours, max_ids) in (1u32..24, 2u16..10),
    ) {
        let w = DedupeWindow { horizon_hours, max_ids };
        let horizon = TimeDelta::hours(i64::from(horizon_hours));
        let mut seen = RecentIds::new();
        let mut remembered: Vec<usize> = Vec::new();
        let mut newest = DateTime::<Utc>::MIN_UTC;
        for (i, &at) in times.iter().enumerate() {
            if seen.admit(EventId(i as u64), at) != Admission::Fresh {
                continue;
            }
            seen.remember(EventId(i as u64), at, &w);
            remembered.push(i);
            newest = newest.max(at);
            let within = remembered.iter().filter(|&&j| times[j] >= newest - horizon).count();
            if within > usize::from(max_ids) {
                // A burst: the window may shorten its horizon from here on.
                return Ok(());
            }
            for &j in &remembered {
                if times[j] >= newest - horizon {
                    prop_assert_eq!(
                        seen.admit(EventId(j as u64), times[j]),
                        Admission::Duplicate,
                        "event {} at {}, after event {} at {}", j, times[j], i, at
                    );
                }
            }
        }
    }

    #[test]
    fn a_window_read_back_judges_as_the_original(times in times(), w in window(), probe in times()) {
        let mut seen = RecentIds::new();
        deliver(&mut seen, &times, &w);
        let back: RecentIds = serde_json::from_str(&serde_json::to_string(&seen).unwrap()).unwrap();
        for (i, &at) in probe.iter().enumerate() {
            let id = EventId(i as u64);
            prop_assert_eq!(back.admit(id, at), seen.admit(id, at));
        }
        prop_assert_eq!(back.len(), seen.len());
    }
}
