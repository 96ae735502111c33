//! Scores 10 million time-ordered interactions over 1 million members in
//! 10,000 communities (Zipf-like sizes) with the recommended engagement
//! model: per-local-day caps, half-life decay and pair damping all on.
//!
//! - `score_log`: the library's batch path over a prepared
//!   `InteractionLog` (members interned to dense slots, entries grouped by
//!   actor and by target), the figure the ≥ 10 M interactions/s target is
//!   about; and `prepare_log`, the one-time cost of building that log;
//! - `online_hashmap`: a host's naive loop, `HashMap<UserId, MemberScore>`
//!   and `EngagementModel::score` for the actor and the target of each
//!   interaction, as it arrives.
//!
//! `GROWTHKIT_BENCH_INTERACTIONS`, `GROWTHKIT_BENCH_MEMBERS` and
//! `GROWTHKIT_BENCH_COMMUNITIES` shrink the data for a quick look; the
//! figures in BENCHMARKS.md use the defaults. Under `cargo test` the bench
//! runs once on small data, as a smoke test.

mod support;
use support::sparse;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use growthkit::community::{
    EngagementModel, Everyone, Interaction, InteractionKind, InteractionLog, MemberScore, score_log,
};
use growthkit::{CommunityId, ContentId, EventId, UserId};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use std::collections::HashMap;
use std::hint::black_box;

/// `n` interactions over `members` members in `communities` communities,
/// across 30 days in time order. Community sizes follow Zipf's law (the
/// k-th largest has about 1/k of the largest's members); activity is
/// skewed (a few members do most); a reply or reaction goes to a member of
/// the actor's own community. The mix is mostly reactions, views and
/// replies, with posts, check-ins, shares, polls, events and invitations.
fn generate(n: usize, members: usize, communities: usize) -> Vec<Interaction> {
    let mut rng = StdRng::seed_from_u64(42);
    // Zipf weights 1/k, as a cumulative table to sample from.
    let mut cumulative = Vec::with_capacity(communities);
    let mut total = 0.0;
    for k in 1..=communities {
        total += 1.0 / k as f64;
        cumulative.push(total);
    }
    let community_of: Vec<u32> = (0..members)
        .map(|_| {
            let x = rng.random::<f64>() * total;
            cumulative.partition_point(|&c| c < x).min(communities - 1) as u32
        })
        .collect();
    // Members of each community, to pick targets from.
    let mut starts = vec![0usize; communities + 1];
    for &c in &community_of {
        starts[c as usize + 1] += 1;
    }
    for i in 1..starts.len() {
        starts[i] += starts[i - 1];
    }
    let mut next = starts.clone();
    let mut by_community = vec![0u32; members];
    for (m, &c) in community_of.iter().enumerate() {
        by_community[next[c as usize]] = m as u32;
        next[c as usize] += 1;
    }

    let t0: DateTime<Utc> = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let span_ms = TimeDelta::days(30).num_milliseconds();
    (0..n)
        .map(|k| {
            let at = t0 + TimeDelta::milliseconds(span_ms * k as i64 / n as i64);
            let u: f64 = rng.random();
            let actor = ((u * u) * members as f64) as usize % members;
            let c = community_of[actor] as usize;
            let kind = match rng.random_range(0..100) {
                0..40 => InteractionKind::Reaction,
                40..55 => InteractionKind::Reply,
                55..75 => InteractionKind::ContentView,
                75..80 => InteractionKind::ContentClick,
                80..85 => InteractionKind::Post,
                85..91 => InteractionKind::CheckIn,
                91..94 => InteractionKind::Share,
                94..97 => InteractionKind::PollVote,
                97..98 => InteractionKind::EventOnline,
                98..99 => InteractionKind::EventOffline,
                _ => InteractionKind::InviteAccepted,
            };
            let target = kind.can_have_target().then(|| {
                let (from, to) = (starts[c], starts[c + 1]);
                let m = by_community[rng.random_range(from..to)];
                UserId(sparse(u64::from(m)))
            });
            Interaction {
                id: EventId(k as u64),
                at,
                actor: UserId(sparse(actor as u64)),
                target,
                kind,
                community: Some(CommunityId(c as u64)),
                content: Some(ContentId(rng.random_range(0..1_000_000))),
            }
        })
        .collect()
}

/// Nanoseconds this thread has run on a CPU (Linux; 0 elsewhere).
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn bench(c: &mut Criterion) {
    let n = support::size("GROWTHKIT_BENCH_INTERACTIONS", 10_000_000, 20_000);
    let members = support::size("GROWTHKIT_BENCH_MEMBERS", 1_000_000, 2_000).max(1);
    let communities = support::size("GROWTHKIT_BENCH_COMMUNITIES", 10_000, 20).clamp(1, members);
    let interactions = generate(n, members, communities);
    let model = EngagementModel::recommended();
    let log = InteractionLog::new(interactions.iter().copied());

    // One timed run, in CPU time as well as wall time: on a busy machine
    // the wall clock overstates what one core needs.
    let (wall, cpu) = (std::time::Instant::now(), thread_cpu_ns());
    let once = score_log(&model, &log, &Everyone);
    let (wall, cpu) = (
        wall.elapsed().as_secs_f64(),
        (thread_cpu_ns() - cpu) as f64 / 1e9,
    );
    eprintln!(
        "one score_log run: {:.0} ms wall, {:.0} ms on CPU: {:.1} M interactions/s per core",
        wall * 1e3,
        cpu * 1e3,
        n as f64 / cpu.max(1e-9) / 1e6
    );
    let end = interactions.last().map(|i| i.at).unwrap_or_default();
    let scores = once.scores_at(&model, end);
    let top = scores.iter().copied().fold(0.0, f64::max);
    eprintln!(
        "{n} interactions, {} members, {communities} communities: {:?}; top score {top:.1} \
         (bound {:.1}); MemberScore is {} bytes",
        log.index().len(),
        once.summary(),
        model.max_score().unwrap_or(f64::INFINITY),
        std::mem::size_of::<MemberScore>(),
    );
    drop(once);

    let mut g = c.benchmark_group("community");
    g.sample_size(10);
    g.throughput(Throughput::Elements(n as u64));

    g.bench_function("score_log", |b| {
        b.iter_with_large_drop(|| score_log(&model, &log, &Everyone).into_states())
    });
    g.bench_function("online_hashmap", |b| {
        b.iter_with_large_drop(|| {
            let mut states: HashMap<UserId, MemberScore> = HashMap::new();
            for i in &interactions {
                let actor = states
                    .entry(i.actor)
                    .or_insert_with(|| MemberScore::new(i.actor));
                let _ = model.score(actor, i, &Everyone);
                if let Some(t) = i.target {
                    let target = states.entry(t).or_insert_with(|| MemberScore::new(t));
                    let _ = model.score(target, i, &Everyone);
                }
            }
            black_box(states)
        })
    });
    g.bench_function("prepare_log", |b| {
        b.iter_with_large_drop(|| InteractionLog::new(interactions.iter().copied()))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
