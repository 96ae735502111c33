//! Runs 10 million generated, time-ordered events over 1 million users
//! through a 30-rule points program (fixed and per-amount rewards; day,
//! week, month and lifetime caps that trim or reject; a global daily cap with
//! an exempt rule; a cooldown; weekday and hour conditions and a ×2
//! multiplier; a first-time rule winning an exclusive group; pending points;
//! expiry after days or calendar months), and times ledger operations:
//!
//! - `batch_simulate`: the library's batch path, [`Simulation::run`] over a
//!   prepared `EventLog` (users interned to dense slots, events grouped by
//!   user), one ledger reset for each user, a final expiry and the report;
//! - `batch_simulate_accounts`: the same with a check-in streak (milestone
//!   bonuses) and a tier ladder (multipliers, evaluation at the end) added
//!   to the program, so every user runs through an `Account`;
//! - `host_hashmap`: a host's naive loop, `HashMap<UserId, Ledger>` and
//!   `Program::apply` per event; `host_hashmap_accounts`: the same for the
//!   program with a streak and tiers, `HashMap<UserId, Account>` and
//!   `Program::earn` per event;
//! - `prepare_log`: the one-time cost of building that log;
//! - `redeem` and `expire`: one operation on each of a million ledgers
//!   holding four lots each, which fit inside the ledger (throughput in
//!   operations); `redeem_12_lots` and `expire_12_lots`: the same with twelve
//!   lots each, on the heap.
//!
//! `GROWTHKIT_BENCH_EVENTS`, `GROWTHKIT_BENCH_USERS` and
//! `GROWTHKIT_BENCH_LEDGERS` shrink the data for a quick look; the figures in
//! BENCHMARKS.md use the defaults. Under `cargo test` the bench runs once on
//! small data, as a smoke test.

mod support;
use support::sparse;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use growthkit::batch::EventLog;
use growthkit::points::{Account, Ledger, OperationKey, Program, ProgramSpec, Simulation};
use growthkit::{
    CommunityId, ContentId, CouponId, Event, EventId, EventKind, Label, Money, UserId,
};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde_json::json;
use std::collections::HashMap;
use std::hint::black_box;

/// Sparse, snowflake-like user ids: a host's real ids are rarely 0..n.
fn user_id(i: u64) -> UserId {
    UserId(sparse(i))
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

/// `events` events over `users` users across 30 days, in time order. Each
/// user's first event is their sign-up; activity is skewed (some users are
/// far more active than others). The mix: visits and lessons mostly, then
/// check-ins, content views and clicks, community posts, replies, reactions
/// and shares, purchases of varied amounts (a few in dollars), and a few
/// custom kinds (invites sent, quizzes passed, reviews).
fn generate(events: usize, users: usize) -> Vec<Event> {
    let mut rng = StdRng::seed_from_u64(42);
    let span_ms = TimeDelta::days(30).num_milliseconds();
    let (cny, usd) = ("CNY".parse().unwrap(), "USD".parse().unwrap());
    let action = |name: &str| EventKind::ActionCompleted {
        action: Label::from(name),
    };
    let custom = |name: &str| EventKind::Custom {
        name: Label::from(name),
    };
    let (lesson, quiz, project) = (action("lesson"), action("quiz"), action("project"));
    let (invite, quiz_passed, review) = (
        custom("invite_sent"),
        custom("quiz_passed"),
        custom("review_written"),
    );
    let community = Some(CommunityId(7));
    let mut seen = vec![false; users];
    (0..events)
        .map(|k| {
            let at = t0() + TimeDelta::milliseconds(span_ms * k as i64 / events as i64);
            let u: f64 = rng.random();
            let slot = ((u * u) * users as f64) as usize % users;
            let content = ContentId(rng.random_range(0..100_000));
            let kind = if !std::mem::replace(&mut seen[slot], true) {
                EventKind::SignedUp
            } else {
                match rng.random_range(0..1000) {
                    0..330 => EventKind::Visited,
                    330..530 => lesson.clone(),
                    530..550 => quiz.clone(),
                    550..555 => project.clone(),
                    555..635 => EventKind::CheckIn { community },
                    635..715 => EventKind::ContentViewed { content },
                    715..745 => EventKind::ContentClicked { content },
                    745..775 => EventKind::Post { community, content },
                    775..825 => EventKind::Reply {
                        community,
                        content,
                        to: None,
                    },
                    825..895 => EventKind::Reaction {
                        community,
                        content,
                        to: None,
                    },
                    895..915 => EventKind::Share { community, content },
                    915..945 => EventKind::Purchase {
                        amount: Money::new(rng.random_range(990..50_000), cny),
                    },
                    945..950 => EventKind::Purchase {
                        amount: Money::new(rng.random_range(500..20_000), usd),
                    },
                    950..960 => invite.clone(),
                    960..970 => quiz_passed.clone(),
                    970..975 => review.clone(),
                    975..985 => EventKind::PollVoted {
                        community,
                        poll: content,
                    },
                    985..990 => EventKind::EventAttended {
                        community,
                        offline: rng.random_range(0..4) == 0,
                    },
                    990..995 => EventKind::InviteAccepted {
                        inviter: user_id(rng.random_range(0..users as u64)),
                        community,
                    },
                    995..998 => EventKind::CouponRedeemed {
                        coupon: CouponId(rng.random_range(0..50)),
                    },
                    _ => EventKind::TrialStarted,
                }
            };
            Event::new(EventId(k as u64), user_id(slot as u64), at, kind)
        })
        .collect()
}

fn fixed(points: u64) -> serde_json::Value {
    json!({ "type": "fixed", "points": points })
}

/// The bench's 30-rule program, as an operator would write it: fixed and
/// per-amount rewards, daily and lifetime caps that trim or reject, expiry
/// after days and after calendar months, pending purchase points, and several
/// rules per kind. Kept in one place so richer rules (conditions, week and
/// month caps, tiers) can be added here later.
fn thirty_rules() -> ProgramSpec {
    let spec = json!({
        "utc_offset": "+08:00",
        "expiry": { "type": "after_days", "days": 365 },
        // A simulation never reverses and shows no statement: lean ledgers.
        "ledger": { "statement_entries": 0, "reversible_awards": 0 },
        "global_daily_cap": { "points": 200 },
        "rules": [
            { "name": "signup", "on": "signed_up", "reward": fixed(100),
              "lifetime_cap": { "count": 1 },
              "expiry": { "type": "after_months", "months": 12, "round_up_to": "year" } },
            { "name": "daily_visit", "on": "visited", "reward": fixed(1),
              "daily_cap": { "count": 1 } },
            { "name": "visit_bonus", "on": "visited", "reward": fixed(2),
              "daily_cap": { "count": 3 }, "cap_mode": "reject" },
            { "name": "lesson", "on": "action_completed:lesson", "reward": fixed(10),
              "daily_cap": { "count": 5 }, "weekly_cap": { "count": 20 } },
            { "name": "lesson_lifetime", "on": "action_completed:lesson", "reward": fixed(5),
              "lifetime_cap": { "points": 500 } },
            { "name": "quiz", "on": "action_completed:quiz", "reward": fixed(20),
              "daily_cap": { "count": 2 }, "cap_mode": "reject",
              "when": [{ "type": "weekdays", "any_of": ["Sat", "Sun"] }], "multiplier": 2 },
            { "name": "project", "on": "action_completed:project", "reward": fixed(200),
              "lifetime_cap": { "count": 3 },
              "expiry": { "type": "after_months", "months": 6, "round_up_to": "month" } },
            { "name": "check_in", "on": "check_in", "reward": fixed(5),
              "daily_cap": { "count": 1 } },
            { "name": "check_in_points", "on": "check_in", "reward": fixed(3),
              "daily_cap": { "points": 3 }, "expiry": { "type": "after_days", "days": 30 } },
            { "name": "purchase", "on": "purchase", "pending_days": 7, "global_cap_exempt": true,
              "reward": { "type": "per_amount", "points": 1, "per_minor": 1000, "rounding": "down", "currency": "CNY" },
              "expiry": { "type": "after_months", "months": 12, "round_up_to": "month" } },
            { "name": "purchase_bonus", "on": "purchase", "reward": fixed(50),
              "daily_cap": { "count": 1 }, "pending_days": 7 },
            { "name": "purchase_big", "on": "purchase", "pending_days": 14,
              "reward": { "type": "per_amount", "points": 1, "per_minor": 100, "rounding": "nearest", "currency": "CNY" },
              "lifetime_cap": { "points": 10000 } },
            { "name": "purchase_usd", "on": "purchase",
              "reward": { "type": "per_amount", "points": 7, "per_minor": 100, "rounding": "up", "currency": "USD" },
              "daily_cap": { "points": 1000 }, "cap_mode": "reject" },
            { "name": "post", "on": "post", "reward": fixed(15), "daily_cap": { "count": 3 },
              "exclusive_group": "post" },
            { "name": "first_post", "on": "post", "reward": fixed(100),
              "when": [{ "type": "first_time" }], "priority": 10, "exclusive_group": "post" },
            { "name": "reply", "on": "reply", "reward": fixed(5), "daily_cap": { "points": 50 },
              "monthly_cap": { "points": 600 } },
            { "name": "reaction", "on": "reaction", "reward": fixed(1), "cooldown_seconds": 60,
              "daily_cap": { "count": 20 }, "expiry": { "type": "after_days", "days": 90 } },
            { "name": "share", "on": "share", "reward": fixed(3),
              "daily_cap": { "count": 5 }, "cap_mode": "reject" },
            { "name": "first_share", "on": "share", "reward": fixed(50),
              "lifetime_cap": { "count": 1 } },
            { "name": "content_viewed", "on": "content_viewed", "reward": fixed(1),
              "daily_cap": { "points": 10 } },
            { "name": "content_clicked", "on": "content_clicked", "reward": fixed(2),
              "daily_cap": { "count": 10 }, "when": [{ "type": "hours", "from": 8, "to": 23 }] },
            { "name": "invite_sent", "on": "custom:invite_sent", "reward": fixed(30),
              "daily_cap": { "count": 3 } },
            { "name": "invite_accepted", "on": "invite_accepted", "reward": fixed(200),
              "lifetime_cap": { "count": 10 } },
            { "name": "quiz_passed", "on": "custom:quiz_passed", "reward": fixed(25),
              "daily_cap": { "count": 2 } },
            { "name": "review", "on": "custom:review_written", "reward": fixed(20),
              "daily_cap": { "count": 1 }, "expiry": { "type": "after_days", "days": 90 } },
            { "name": "poll", "on": "poll_voted", "reward": fixed(2), "daily_cap": { "count": 5 } },
            { "name": "attend", "on": "event_attended", "reward": fixed(40),
              "daily_cap": { "count": 1 } },
            { "name": "trial", "on": "trial_started", "reward": fixed(50),
              "lifetime_cap": { "count": 1 } },
            { "name": "coupon", "on": "coupon_redeemed", "reward": fixed(5),
              "daily_cap": { "count": 2 }, "cap_mode": "reject" },
            { "name": "active_day", "on": "*", "reward": fixed(1),
              "daily_cap": { "points": 20 },
              "expiry": { "type": "after_months", "months": 3 } }
        ]
    });
    serde_json::from_value(spec).unwrap()
}

/// The 30 rules with the account sections a full program has: a check-in
/// streak with milestone bonuses on days 3, 7 and 14, and a points tier
/// ladder (silver ×1.2 from 300, gold ×1.5 from 1,000 rule points in a
/// rolling 30 days, with 7 days of grace).
fn thirty_rules_with_streak_and_tiers() -> ProgramSpec {
    let mut spec = serde_json::to_value(thirty_rules()).unwrap();
    spec["streak"] = json!({
        "milestones": [ { "day": 3, "points": 20 }, { "day": 7, "points": 50 },
                        { "day": 14, "points": 150 } ]
    });
    spec["tiers"] = json!({
        "basis": { "type": "points" },
        "window": { "type": "rolling_days", "days": 30 },
        "grace": { "type": "days", "days": 7 },
        "tiers": [ { "name": "member", "threshold": 0 },
                   { "name": "silver", "threshold": 300, "multiplier": 1.2 },
                   { "name": "gold", "threshold": 1000, "multiplier": 1.5 } ]
    });
    serde_json::from_value(spec).unwrap()
}

/// `n` ledgers, each earning `rounds` times from the four rules (four lots
/// a round), and an instant when the visits' lots are due.
fn ledgers(n: usize, rounds: usize) -> (Vec<Ledger>, DateTime<Utc>) {
    let program: Program = serde_json::from_value::<ProgramSpec>(json!({
        "utc_offset": "+08:00",
        "ledger": { "statement_entries": 0, "reversible_awards": 0 },
        "rules": [
            { "name": "visit", "on": "visited", "reward": fixed(40),
              "expiry": { "type": "after_days", "days": 10 } },
            { "name": "lesson", "on": "action_completed:lesson", "reward": fixed(30),
              "expiry": { "type": "after_months", "months": 1, "round_up_to": "month" } },
            { "name": "purchase", "on": "purchase", "reward": fixed(50), "pending_days": 3 },
            { "name": "check_in", "on": "check_in", "reward": fixed(20) }
        ]
    }))
    .unwrap()
    .validate()
    .unwrap();
    let cny = "CNY".parse().unwrap();
    let kinds = [
        EventKind::Visited,
        EventKind::ActionCompleted {
            action: "lesson".into(),
        },
        EventKind::Purchase {
            amount: Money::new(9_900, cny),
        },
        EventKind::CheckIn { community: None },
    ];
    // A ledger depends only on its minute of the day: one per minute, cloned.
    let by_minute: Vec<Ledger> = (0..n.min(1440))
        .map(|minute| {
            let mut ledger = program.new_ledger();
            for round in 0..rounds {
                for (k, kind) in kinds.iter().enumerate() {
                    let step = round * kinds.len() + k;
                    let at = t0() + TimeDelta::minutes((minute + step) as i64);
                    let event = Event::new(EventId(step as u64), user_id(0), at, kind.clone());
                    program.apply(&mut ledger, &event).unwrap();
                }
            }
            ledger
        })
        .collect();
    let ledgers = (0..n).map(|i| by_minute[i % 1440].clone()).collect();
    (ledgers, t0() + TimeDelta::days(12))
}

fn bench(c: &mut Criterion) {
    let smoke = support::smoke();
    let n_events = support::size("GROWTHKIT_BENCH_EVENTS", 10_000_000, 20_000);
    let n_users = support::size("GROWTHKIT_BENCH_USERS", 1_000_000, 2_000);
    let n_ledgers = support::size("GROWTHKIT_BENCH_LEDGERS", 1_000_000, 2_000);
    let events = generate(n_events, n_users);
    let spec = thirty_rules();
    assert_eq!(spec.rules.len(), 30);
    let program = spec.validate().unwrap();
    let log = EventLog::new(events.clone());
    let as_of = t0() + TimeDelta::days(31);
    let simulation = Simulation::new(&program, as_of);

    let once = simulation.run(&log);
    assert!(once.is_conserved());
    assert_eq!(once.applied, n_events as u64);
    eprintln!(
        "{n_events} events, {} users: issued {}, expired {}, outstanding {}, {} capped awards",
        once.users,
        once.issued,
        once.expired,
        once.outstanding,
        once.rules.iter().map(|r| r.capped_awards).sum::<u64>()
    );
    if smoke {
        eprintln!("{once}");
    }
    drop(once);
    let accounts_program = thirty_rules_with_streak_and_tiers().validate().unwrap();
    let accounts_simulation = Simulation::new(&accounts_program, as_of);
    let once = accounts_simulation.run(&log);
    assert!(once.is_conserved());
    assert_eq!(once.applied, n_events as u64);
    eprintln!(
        "with streak and tiers: issued {}, of which bonuses {}; members by tier {:?}",
        once.issued,
        once.bonuses.iter().map(|b| b.issued).sum::<u64>(),
        once.tiers
            .iter()
            .map(|t| (t.tier.as_str(), t.members))
            .collect::<Vec<_>>()
    );
    drop(once);

    let mut g = c.benchmark_group("points");
    g.sample_size(10);
    g.throughput(Throughput::Elements(n_events as u64));
    g.bench_function("batch_simulate", |b| b.iter(|| simulation.run(&log)));
    g.bench_function("batch_simulate_accounts", |b| {
        b.iter(|| accounts_simulation.run(&log))
    });
    g.bench_function("host_hashmap", |b| {
        b.iter_with_large_drop(|| {
            let mut ledgers: HashMap<UserId, Ledger> = HashMap::new();
            for e in &events {
                let ledger = ledgers
                    .entry(e.user)
                    .or_insert_with(|| program.new_ledger());
                black_box(program.apply(ledger, e).unwrap());
            }
            ledgers
        })
    });
    g.bench_function("host_hashmap_accounts", |b| {
        b.iter_with_large_drop(|| {
            let mut accounts: HashMap<UserId, Account> = HashMap::new();
            for e in &events {
                let account = accounts
                    .entry(e.user)
                    .or_insert_with(|| accounts_program.open_account(e.user, e.at));
                black_box(accounts_program.earn(account, e, None).unwrap());
            }
            accounts
        })
    });
    g.bench_function("prepare_log", |b| {
        b.iter_batched(|| events.clone(), EventLog::new, BatchSize::PerIteration)
    });

    g.throughput(Throughput::Elements(n_ledgers as u64));
    // Four lots fit inside a ledger; twelve live on the heap.
    for (rounds, suffix) in [(1, ""), (3, "_12_lots")] {
        let (ledgers, due) = ledgers(n_ledgers, rounds);
        let key = OperationKey::from("order-1");
        g.bench_function(format!("redeem{suffix}"), |b| {
            b.iter_batched(
                || ledgers.clone(),
                |mut ledgers| {
                    for ledger in &mut ledgers {
                        black_box(ledger.redeem(key.clone(), 60, due).unwrap());
                    }
                    ledgers
                },
                BatchSize::PerIteration,
            )
        });
        g.bench_function(format!("expire{suffix}"), |b| {
            b.iter_batched(
                || ledgers.clone(),
                |mut ledgers| {
                    for ledger in &mut ledgers {
                        black_box(ledger.expire(due));
                    }
                    ledgers
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
