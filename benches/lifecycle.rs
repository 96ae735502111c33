//! Replays 10 million time-ordered events over 1 million users through the
//! default lifecycle policy, three ways side by side:
//!
//! - `floor/*`: a bare loop that only finds each user's 128-byte state and
//!   touches it, by dense index and through a std `HashMap`;
//! - `host_hashmap`: a host's naive loop, `HashMap<UserId, Lifecycle>` and
//!   `LifecyclePolicy::apply` per event;
//! - `replay`: the library's batch path over a prepared `EventLog` (users
//!   interned to dense slots, events grouped by user), building fresh
//!   states; `replay_into`, the same path into states kept from the previous
//!   iteration (no fresh memory to allocate and fault in); and
//!   `prepare_log`, the one-time cost of building that log.
//!
//! `GROWTHKIT_BENCH_EVENTS` and `GROWTHKIT_BENCH_USERS` shrink the data for a
//! quick look; the figures in BENCHMARKS.md use the defaults. Under
//! `cargo test` the bench runs once on small data, as a smoke test.

mod support;
use support::sparse;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use growthkit::batch::EventLog;
use growthkit::intern::UserIndex;
use growthkit::lifecycle::{Lifecycle, LifecyclePolicy, PolicySpec, replay, replay_into};
use growthkit::{Event, EventId, EventKind, Money, UserId};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use std::collections::HashMap;
use std::hint::black_box;

/// `events` events over `users` users across 30 days, in time order. Each
/// user's first event is their sign-up; activity is skewed (some users are
/// far more active than others) and the mix is mostly visits and lessons,
/// with check-ins, views and a few purchases.
fn generate(events: usize, users: usize) -> Vec<Event> {
    let mut rng = StdRng::seed_from_u64(42);
    let t0: DateTime<Utc> = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let span_ms = TimeDelta::days(30).num_milliseconds();
    let cny = "CNY".parse().unwrap();
    let lesson: growthkit::Label = "lesson".into();
    let mut seen = vec![false; users];
    (0..events)
        .map(|k| {
            let at = t0 + TimeDelta::milliseconds(span_ms * k as i64 / events as i64);
            let u: f64 = rng.random();
            let slot = ((u * u) * users as f64) as usize % users;
            let kind = if !std::mem::replace(&mut seen[slot], true) {
                EventKind::SignedUp
            } else {
                match rng.random_range(0..100) {
                    0..55 => EventKind::Visited,
                    55..80 => EventKind::ActionCompleted {
                        action: lesson.clone(),
                    },
                    80..88 => EventKind::CheckIn { community: None },
                    88..96 => EventKind::ContentViewed {
                        content: growthkit::ContentId(k as u64),
                    },
                    _ => EventKind::Purchase {
                        amount: Money::new(9_900, cny),
                    },
                }
            };
            Event::new(EventId(k as u64), UserId(sparse(slot as u64)), at, kind)
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let n_events = support::size("GROWTHKIT_BENCH_EVENTS", 10_000_000, 20_000);
    let n_users = support::size("GROWTHKIT_BENCH_USERS", 1_000_000, 2_000);
    let events = generate(n_events, n_users);
    let policy: LifecyclePolicy = PolicySpec {
        utc_offset: "+08:00".parse().unwrap(),
        ..Default::default()
    }
    .validate()
    .unwrap();
    let log = EventLog::new(events.clone());
    let mut index = UserIndex::new();
    let slots: Vec<u32> = events.iter().map(|e| index.intern(e.user)).collect();

    let once = replay(&policy, &log);
    eprintln!(
        "{n_events} events, {} users: {:?}, stages {:?}",
        log.index().len(),
        once.summary(),
        once.stage_counts().iter().collect::<Vec<_>>()
    );
    drop(once);

    let mut g = c.benchmark_group("lifecycle");
    g.sample_size(10);
    g.throughput(Throughput::Elements(n_events as u64));

    g.bench_function("floor/dense_index", |b| {
        b.iter_with_large_drop(|| {
            let mut states = vec![[0u8; 128]; index.len()];
            for &slot in &slots {
                let s = &mut states[slot as usize];
                s[0] = s[0].wrapping_add(1);
            }
            black_box(states)
        })
    });
    g.bench_function("floor/std_hashmap", |b| {
        b.iter_with_large_drop(|| {
            let mut states: HashMap<UserId, [u8; 128]> = HashMap::new();
            for e in &events {
                let s = states.entry(e.user).or_insert([0; 128]);
                s[0] = s[0].wrapping_add(1);
            }
            black_box(states)
        })
    });
    g.bench_function("host_hashmap", |b| {
        b.iter_with_large_drop(|| {
            let mut states: HashMap<UserId, Lifecycle> = HashMap::new();
            for e in &events {
                let s = states
                    .entry(e.user)
                    .or_insert_with(|| Lifecycle::new(e.user));
                policy.apply(s, e).unwrap();
            }
            black_box(states)
        })
    });
    g.bench_function("replay", |b| {
        b.iter_with_large_drop(|| replay(&policy, &log).into_states())
    });
    g.bench_function("replay_into", |b| {
        let mut states = Vec::new();
        b.iter(|| black_box(replay_into(&policy, &log, &mut states)))
    });
    g.bench_function("prepare_log", |b| {
        b.iter_batched(
            || events.clone(),
            EventLog::new,
            criterion::BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
