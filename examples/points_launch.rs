//! # Before launching a points program: simulate it, then compare a variant
//!
//! An operator of a learning platform drafts a points program (points for
//! lessons, check-ins and purchases, expiring after 90 days) and a variant
//! that pays less per lesson (a tighter daily cap, expiry after 60 days)
//! but rewards habits: check-in streak bonuses on days 7 and 30, and a gold
//! tier earning ×1.5 for members with 400 points in 30 days. Before either
//! goes live, both run in dry run over the same three
//! months of generated history, with members spending points on a
//! 300-point reward as soon as they can afford it and refunds clawing points
//! back. The report answers what the finance team asks: points issued per
//! rule and per bonus, redeemed, expired (breakage), what is still owed and
//! when it expires, how many members the caps stop, how many hold each tier,
//! and who earns most; the diff shows what the variant changes.
//!
//! ```text
//! cargo run --example points_launch
//! ```
//!
//! No clock, no I/O: the log is generated from a seed, so every run prints
//! the same report.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use growthkit::batch::EventLog;
use growthkit::points::{Program, ProgramSpec, Simulation, SimulationReport, diff};
use growthkit::{Event, EventId, EventKind, Money, UserId};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

const DRAFT: &str = r#"{
    "utc_offset": "+08:00",
    "expiry": { "type": "after_days", "days": 90 },
    "rules": [
        { "name": "lesson", "on": "action_completed:lesson",
          "reward": { "type": "fixed", "points": 10 }, "daily_cap": { "count": 5 } },
        { "name": "check_in", "on": "check_in",
          "reward": { "type": "fixed", "points": 5 }, "daily_cap": { "count": 1 } },
        { "name": "purchase", "on": "purchase", "pending_days": 7,
          "reward": { "type": "per_amount", "points": 1, "per_minor": 100, "rounding": "down" },
          "expiry": { "type": "after_months", "months": 12, "round_up_to": "month" } },
        { "name": "first_purchase", "on": "purchase",
          "reward": { "type": "fixed", "points": 200 }, "lifetime_cap": { "count": 1 } }
    ]
}"#;

const VARIANT: &str = r#"{
    "utc_offset": "+08:00",
    "expiry": { "type": "after_days", "days": 60 },
    "rules": [
        { "name": "lesson", "on": "action_completed:lesson",
          "reward": { "type": "fixed", "points": 8 }, "daily_cap": { "count": 3 }, "cap_mode": "reject" },
        { "name": "check_in", "on": "check_in",
          "reward": { "type": "fixed", "points": 5 }, "daily_cap": { "count": 1 } },
        { "name": "purchase", "on": "purchase", "pending_days": 7,
          "reward": { "type": "per_amount", "points": 1, "per_minor": 100, "rounding": "down" },
          "expiry": { "type": "after_months", "months": 12, "round_up_to": "month" } }
    ],
    "streak": { "milestones": [ { "day": 7, "points": 50 }, { "day": 30, "points": 200 } ] },
    "tiers": { "basis": { "type": "points" }, "window": { "type": "rolling_days", "days": 30 },
               "grace": { "type": "days", "days": 7 },
               "tiers": [ { "name": "member", "threshold": 0 },
                          { "name": "gold", "threshold": 400, "multiplier": 1.5 } ] }
}"#;

/// Ninety days of 2,000 learners: lessons and check-ins most days for the
/// keen ones, a purchase now and then, and an occasional refund of one.
fn history(start: DateTime<Utc>) -> Vec<Event> {
    let mut rng = StdRng::seed_from_u64(7);
    let cny = "CNY".parse().expect("a valid currency code");
    let mut events = Vec::new();
    for day in 0..90 {
        for learner in 0..2_000u64 {
            // Learner 0 studies every day, the keen few nearly every day
            // (long check-in streaks), learner 1999 almost never.
            let keen = 1.0 - learner as f64 / 2_000.0;
            if rng.random::<f64>() > keen.powi(3) {
                continue;
            }
            let at = |minutes: i64| start + TimeDelta::days(day) + TimeDelta::minutes(minutes);
            let mut push = |minutes: i64, kind: EventKind| {
                let id = EventId(events.len() as u64);
                events.push(Event::new(id, UserId(learner), at(minutes), kind));
            };
            push(60, EventKind::CheckIn { community: None });
            for lesson in 0..rng.random_range(1..8) {
                let kind = EventKind::ActionCompleted {
                    action: "lesson".into(),
                };
                push(90 + 30 * lesson, kind);
            }
            if rng.random_range(0..40) == 0 {
                let amount = Money::new(rng.random_range(99..999) * 100, cny);
                push(720, EventKind::Purchase { amount });
                if rng.random_range(0..10) == 0 {
                    push(900, EventKind::Refund { amount });
                }
            }
        }
    }
    // A log is in time order; the per-user grouping keeps each learner's order.
    events.sort_by_key(|e| e.at);
    events
}

fn run(program: &Program, log: &EventLog, as_of: DateTime<Utc>) -> SimulationReport {
    Simulation::new(program, as_of)
        .top_earners(5)
        .redeeming(300)
        .reversing_refunds()
        // As the platform's nightly job: a tier lapses once its points leave
        // the window (after grace), before the learner earns at it again.
        .evaluating_tiers_daily()
        .run(log)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let draft = serde_json::from_str::<ProgramSpec>(DRAFT)?.validate()?;
    let variant = serde_json::from_str::<ProgramSpec>(VARIANT)?.validate()?;
    let start = Utc
        .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .ok_or("a valid date")?;
    let log = EventLog::new(history(start));
    // Figures as of 1 April, the day after the history ends.
    let as_of = start + TimeDelta::days(90);

    let a = run(&draft, &log, as_of);
    let b = run(&variant, &log, as_of);
    assert!(a.is_conserved() && b.is_conserved());
    println!("== The draft program ==\n{a}");
    println!("== The variant ==\n{b}");
    println!("== What the variant changes ==\n{}", diff(&a, &b));
    Ok(())
}
