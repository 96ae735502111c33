//! A health report for every community, and content heat, over 10 million
//! time-ordered interactions by 1 million members in 10,000 communities
//! whose sizes follow a power law (Zipf, exponent 1).
//!
//! - `health_report`: a `HealthBuilder` fed every event and join, then
//!   `finish` for all communities (a 30-day window in +08:00);
//! - `health_report_log`: the same report through the batch path,
//!   `HealthBuilder::extend_log` over a prepared `EventLog` (preparing it is
//!   a one-time cost, measured by the `lifecycle` bench's `prepare_log`);
//! - `content_heat`: `ContentHeat::apply` on every event, topics assigned as
//!   posts arrive, then the ten topics to amplify.
//!
//! `GROWTHKIT_BENCH_EVENTS`, `GROWTHKIT_BENCH_USERS` and
//! `GROWTHKIT_BENCH_COMMUNITIES` shrink the data for a quick look. Under
//! `cargo test` (no `--bench` argument) the bench runs once on small data,
//! as a smoke test.

mod support;
use support::sparse;

use chrono::{DateTime, FixedOffset, NaiveDate, TimeDelta, TimeZone, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use growthkit::batch::EventLog;
use growthkit::community::{ContentHeat, HealthSpec, HeatModelSpec};
use growthkit::{CommunityId, ContentId, Event, EventId, EventKind, LocalDay, TopicId, UserId};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use std::hint::black_box;

struct Data {
    events: Vec<Event>,
    joins: Vec<(UserId, CommunityId, DateTime<Utc>)>,
}

/// `events` events over 30 days in time order. Each member has a home
/// community drawn from a Zipf law over `communities`; activity is skewed
/// (some members are far more active). The mix: posts, replies and
/// reactions to the community's latest post (half naming its author),
/// shares, check-ins, and views and clicks of recent posts.
fn generate(events: usize, users: usize, communities: usize) -> Data {
    let mut rng = StdRng::seed_from_u64(7);
    let t0: DateTime<Utc> = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let span_ms = TimeDelta::days(30).num_milliseconds();
    let home: Vec<usize> = (0..users)
        .map(|_| {
            let u: f64 = rng.random();
            (((communities as f64 + 1.0).powf(u) - 1.0) as usize).min(communities - 1)
        })
        .collect();
    let mut latest: Vec<Option<(ContentId, UserId)>> = vec![None; communities];
    let mut seen = vec![false; users];
    let mut joins = Vec::new();
    let events = (0..events)
        .map(|k| {
            let at = t0 + TimeDelta::milliseconds(span_ms * k as i64 / events as i64);
            let u: f64 = rng.random();
            let slot = ((u * u) * users as f64) as usize % users;
            let c = home[slot];
            let user = UserId(sparse(slot as u64));
            let community = Some(CommunityId(sparse(1 << 40 | c as u64)));
            if !std::mem::replace(&mut seen[slot], true) {
                joins.push((user, CommunityId(sparse(1 << 40 | c as u64)), at));
            }
            let kind = match (rng.random_range(0..100), latest[c]) {
                (0..15, _) | (_, None) => {
                    let content = ContentId(k as u64);
                    latest[c] = Some((content, user));
                    EventKind::Post { community, content }
                }
                (15..45, Some((content, author))) => EventKind::Reply {
                    community,
                    content,
                    to: (k % 2 == 0).then_some(author),
                },
                (45..65, Some((content, author))) => EventKind::Reaction {
                    community,
                    content,
                    to: (k % 2 == 0).then_some(author),
                },
                (65..70, Some((content, _))) => EventKind::Share { community, content },
                (70..82, _) => EventKind::CheckIn { community },
                (82..95, Some((content, _))) => EventKind::ContentViewed { content },
                (_, Some((content, _))) => EventKind::ContentClicked { content },
            };
            Event::new(EventId(k as u64), user, at, kind)
        })
        .collect();
    Data { events, joins }
}

fn bench(c: &mut Criterion) {
    let n_events = support::size("GROWTHKIT_BENCH_EVENTS", 10_000_000, 20_000);
    let n_users = support::size("GROWTHKIT_BENCH_USERS", 1_000_000, 2_000);
    let n_communities = support::size("GROWTHKIT_BENCH_COMMUNITIES", 10_000, 100).max(1);
    let data = generate(n_events, n_users, n_communities);
    let beijing = FixedOffset::east_opt(8 * 3600).unwrap();
    let health = HealthSpec::new(LocalDay::from_date(
        NaiveDate::from_ymd_opt(2026, 1, 30).unwrap(),
    ))
    .validate()
    .unwrap();
    let model = HeatModelSpec::default().validate().unwrap();

    let health_report = || {
        let mut b = health.builder(beijing);
        for &(user, community, at) in &data.joins {
            b.joined(user, community, at);
        }
        b.extend(&data.events);
        b.finish()
    };
    let log = EventLog::new(data.events.clone());
    let health_report_log = || {
        let mut b = health.builder(beijing);
        for &(user, community, at) in &data.joins {
            b.joined(user, community, at);
        }
        b.extend_log(&log);
        b.finish()
    };
    let content_heat = || {
        let mut heat = ContentHeat::new(model.clone());
        for e in &data.events {
            if let EventKind::Post { content, .. } = e.kind {
                heat.set_topic(content, TopicId(content.0 % 1_000));
            }
            heat.apply(e);
        }
        let now = data.events.last().map_or(DateTime::UNIX_EPOCH, |e| e.at);
        let amplify = heat.topics_to_amplify(now, 10);
        (heat, amplify)
    };

    let report = health_report();
    assert_eq!(
        health_report_log(),
        report,
        "the batch path gives the same report"
    );
    let biggest = report.communities.iter().max_by_key(|h| h.members);
    eprintln!(
        "{n_events} events, {} joins, {} communities; biggest: {:?}",
        data.joins.len(),
        report.communities.len(),
        biggest.map(|h| (
            h.members,
            h.active_members,
            h.stickiness.value(),
            h.reply_rate.value()
        ))
    );
    drop(report);
    let (heat, amplify) = content_heat();
    eprintln!(
        "{} content items; top topic: {:?}",
        heat.items(),
        amplify.first().map(|a| (a.topic, a.reason.to_string()))
    );
    drop(heat);

    let mut g = c.benchmark_group("community_health");
    g.sample_size(10);
    g.throughput(Throughput::Elements(n_events as u64));
    g.bench_function("health_report", |b| {
        b.iter_with_large_drop(|| black_box(health_report()))
    });
    g.bench_function("health_report_log", |b| {
        b.iter_with_large_drop(|| black_box(health_report_log()))
    });
    g.bench_function("content_heat", |b| {
        b.iter_with_large_drop(|| black_box(content_heat()))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
