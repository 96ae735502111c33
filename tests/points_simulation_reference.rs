//! A brute-force reference model of the points simulator's report
//! (`growthkit::points::simulate`), written from its documentation.
//!
//! Each user's events are replayed, in the log's order, through the public
//! per-user API (`Program::apply` on a fresh `Ledger`, or `Program::earn`
//! on an `Account` opened at the user's first event for a program with
//! tiers, a streak or badges); a spending member redeems the price one
//! redemption at a time with `Ledger::redeem`; at `as_of` the account is
//! evaluated (or the ledger expired). The report's figures are then worked
//! out from those answers alone: per rule from the awards, the liability
//! month as the local month of the last instant before expiry, the top
//! earners by sorting every user. Hand-written cases pin down the edges:
//! month boundaries in the program's zone, lots expiring exactly at
//! `as_of`, pending points at `as_of`, breakage with nothing issued,
//! top-earner ties, merging shards, the diff of a report with itself.

use chrono::{DateTime, Datelike, TimeDelta, TimeZone, Utc};
use growthkit::batch::EventLog;
use growthkit::points::{
    AccountError, Liability, OperationKey, PointsError, Portion, Program, ProgramSpec, Simulation,
    SimulationReport, TopEarner, ValidThrough, diff,
};
use growthkit::{Event, EventId, EventKind, Money, UserId};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

fn t0() -> DateTime<Utc> {
    // Late January: logs cross month ends (and London's March change).
    Utc.with_ymd_and_hms(2026, 1, 25, 0, 0, 0).unwrap()
}

/// One rule's figures: issued, awards, capped awards, users earning, users
/// capped.
type RuleFigures = (u64, u64, u64, BTreeSet<UserId>, BTreeSet<UserId>);

/// What one step gave: whether a duplicate, the awards (rule, points,
/// capped) and bonuses (name, points); or whether it was refused as too
/// late (`true`) or for another reason.
type Step = Result<(bool, Vec<(String, u64, bool)>, Vec<(String, u64)>), bool>;

/// The report's figures, worked out independently.
#[derive(Debug, Default, PartialEq)]
struct Model {
    users: u64,
    events: u64,
    applied: u64,
    duplicates: u64,
    too_late: u64,
    failed: u64,
    /// Per rule: issued, awards, capped awards, users earning, users capped.
    rules: BTreeMap<String, RuleFigures>,
    /// Per bonus: issued, awards, users.
    bonuses: BTreeMap<String, (u64, u64, BTreeSet<UserId>)>,
    tiers: BTreeMap<String, u64>,
    issued: u64,
    redemptions: u64,
    redeemed: u64,
    expired: u64,
    reversals: u64,
    refunds_unmatched: u64,
    reversed: u64,
    owed: u64,
    forgiven: u64,
    outstanding: u64,
    pending: u64,
    liability: BTreeMap<ValidThrough, u64>,
    earned: BTreeMap<UserId, u64>,
}

/// The month through which points expiring at `at` can be spent: the local
/// date, in `zone`, of the last nanosecond before `at`.
fn month_of<Tz: TimeZone>(at: Option<DateTime<Utc>>, zone: &Tz) -> ValidThrough {
    match at {
        None => ValidThrough::Never,
        Some(at) => {
            let local = (at - TimeDelta::nanoseconds(1)).with_timezone(zone);
            ValidThrough::Month {
                year: local.year(),
                month: local.month(),
            }
        }
    }
}

fn has_accounts<Tz: TimeZone>(program: &Program<Tz>) -> bool {
    program.tier_ladder().is_some()
        || program.streak_rules().is_some()
        || program.badge_catalog().is_some()
}

/// How simulated members behave: the builder's options.
#[derive(Clone, Copy, Debug, Default)]
struct Habits {
    /// `redeeming(price)`; 0: never.
    price: u64,
    /// `reversing_refunds()`.
    refunds: bool,
    /// `evaluating_tiers_daily()`.
    daily: bool,
}

/// A purchase a later refund may reverse: its id, amount, and what of it
/// was refunded so far.
struct Paid {
    id: EventId,
    amount: Money,
    refunded: i64,
}

/// The model's figures for `events` under `program` at `as_of`, members
/// behaving as `habits` say.
fn model<Tz: TimeZone>(
    program: &Program<Tz>,
    events: &[Event],
    as_of: DateTime<Utc>,
    habits: Habits,
) -> Model {
    let price = habits.price;
    let mut m = Model::default();
    let mut users: Vec<UserId> = Vec::new();
    for e in events {
        if !users.contains(&e.user) {
            users.push(e.user);
        }
    }
    for user in users {
        let mine: Vec<&Event> = events.iter().filter(|e| e.user == user).collect();
        m.users += 1;
        let mut earned_here = 0u64;
        let mut redeemed_here = 0u64;
        let mut account = has_accounts(program).then(|| program.open_account(user, mine[0].at));
        let mut ledger = program.new_ledger();
        let mut spend_no = 0u64;
        let mut purchases: Vec<Paid> = Vec::new();
        let mut evaluated: Option<chrono::NaiveDate> = None;
        for e in mine {
            m.events += 1;
            if habits.daily
                && let Some(a) = account.as_mut()
            {
                let today = e.at.with_timezone(program.zone()).date_naive();
                if evaluated.is_none_or(|d| today > d) {
                    evaluated = Some(today);
                    // The whole evaluation, which also expires what is due
                    // by then: the simulation runs the tier step alone, the
                    // same for the figures at an `as_of` after every event
                    // as long as no member spends or is refunded (see
                    // `daily_alone`).
                    let _ = program.evaluate_account(a, e.at);
                }
            }
            // (awards, bonuses) of the step, or the error.
            let step: Step = match account.as_mut() {
                Some(account) => match program.earn(account, e, None) {
                    Ok(out) => Ok((
                        out.earned.duplicate,
                        out.earned
                            .awards
                            .iter()
                            .map(|a| (a.rule.to_string(), a.points, a.capped.is_some()))
                            .collect(),
                        out.bonuses
                            .iter()
                            .map(|b| (b.rule.to_string(), b.points))
                            .collect(),
                    )),
                    Err(AccountError::Points(PointsError::TooLate { .. })) => Err(true),
                    Err(_) => Err(false),
                },
                None => match program.apply(&mut ledger, e) {
                    Ok(out) => Ok((
                        out.duplicate,
                        out.awards
                            .iter()
                            .map(|a| (a.rule.to_string(), a.points, a.capped.is_some()))
                            .collect(),
                        Vec::new(),
                    )),
                    Err(PointsError::TooLate { .. }) => Err(true),
                    Err(_) => Err(false),
                },
            };
            let (awards, bonuses) = match step {
                Err(true) => {
                    m.too_late += 1;
                    continue;
                }
                Err(false) => {
                    m.failed += 1;
                    continue;
                }
                Ok((true, ..)) => {
                    m.duplicates += 1;
                    continue;
                }
                Ok((false, awards, bonuses)) => (awards, bonuses),
            };
            m.applied += 1;
            let mut points_now = 0;
            for (rule, points, capped) in awards {
                let r = m.rules.entry(rule).or_default();
                if points > 0 {
                    r.0 += points;
                    r.1 += 1;
                    r.3.insert(user);
                }
                if capped {
                    r.2 += 1;
                    r.4.insert(user);
                }
                points_now += points;
            }
            for (bonus, points) in bonuses {
                let b = m.bonuses.entry(bonus).or_default();
                b.0 += points;
                b.1 += 1;
                b.2.insert(user);
                points_now += points;
            }
            earned_here += points_now;
            if price > 0 && points_now > 0 {
                loop {
                    let spendable = match account.as_ref() {
                        Some(a) => a.ledger().spendable(e.at),
                        None => ledger.spendable(e.at),
                    };
                    if spendable < price {
                        break;
                    }
                    let key = format!("model-{spend_no}").into();
                    spend_no += 1;
                    let done = match account.as_mut() {
                        Some(a) => a.redeem(key, price, e.at).map(|r| r.points()),
                        None => ledger.redeem(key, price, e.at).map(|r| r.points()),
                    };
                    let Ok(points) = done else { break };
                    assert_eq!(points, price);
                    m.redemptions += 1;
                    redeemed_here += points;
                }
            }
            if !habits.refunds {
                continue;
            }
            match e.kind {
                EventKind::Purchase { amount } if amount.minor > 0 => purchases.push(Paid {
                    id: e.id,
                    amount,
                    refunded: 0,
                }),
                EventKind::Refund { amount } if amount.minor > 0 => {
                    let paid = purchases.iter_mut().rev().find(|p| {
                        p.amount.currency == amount.currency && p.refunded < p.amount.minor
                    });
                    let Some(paid) = paid else {
                        m.refunds_unmatched += 1;
                        continue;
                    };
                    let refund = amount.minor.min(paid.amount.minor - paid.refunded);
                    let portion = if paid.refunded + refund == paid.amount.minor {
                        Portion::Whole {}
                    } else {
                        Portion::Share {
                            numerator: refund as u64,
                            denominator: paid.amount.minor as u64,
                        }
                    };
                    let key: OperationKey = format!("model-refund-{}", e.id.0).into();
                    let done = match account.as_mut() {
                        Some(a) => program
                            .reverse_in(a, key, paid.id, portion, e.at)
                            .ok()
                            .map(|r| (r.reversal, r.bonuses)),
                        None => program
                            .reverse(&mut ledger, key, paid.id, portion, e.at)
                            .ok()
                            .map(|r| (r, Vec::new())),
                    };
                    if done.as_ref().is_some_and(|(r, _)| r.repeated) {
                        continue;
                    }
                    paid.refunded += refund;
                    match done {
                        Some((r, bonuses)) if r.points > 0 => {
                            m.reversals += 1;
                            for made in r.made_up {
                                let entry = m.rules.entry(made.rule.to_string()).or_default();
                                entry.0 += made.points;
                                if made.counted {
                                    entry.1 += 1;
                                    if made.points > 0 {
                                        entry.3.insert(user);
                                    }
                                }
                                earned_here += made.points;
                            }
                            for b in bonuses {
                                let entry = m.bonuses.entry(b.rule.to_string()).or_default();
                                entry.0 += b.points;
                                entry.1 += 1;
                                entry.2.insert(user);
                                earned_here += b.points;
                            }
                        }
                        _ => m.refunds_unmatched += 1,
                    }
                }
                _ => {}
            }
        }
        let ledger = match account.as_mut() {
            Some(a) => {
                let _ = program.evaluate_account(a, as_of);
                if let Some(status) = a.tier() {
                    *m.tiers.entry(status.tier().to_string()).or_default() += 1;
                }
                a.ledger().clone()
            }
            None => {
                ledger.expire(as_of);
                ledger
            }
        };
        // The ledger agrees with what its answers added up to.
        assert_eq!(ledger.earned(), earned_here, "{user}'s points earned");
        assert_eq!(ledger.redeemed(), redeemed_here, "{user}'s points redeemed");
        m.issued += earned_here;
        m.redeemed += redeemed_here;
        m.expired += ledger.expired();
        m.reversed += ledger.reversed();
        m.owed += ledger.owed();
        m.forgiven += ledger.forgiven();
        for lot in ledger.lots() {
            assert!(lot.expires_at.is_none_or(|e| e > as_of), "expired at as_of");
            let points = lot.remaining + lot.held;
            m.outstanding += points;
            if lot.available_from > as_of {
                m.pending += lot.remaining;
            }
            if points > 0 {
                *m.liability
                    .entry(month_of(lot.expires_at, program.zone()))
                    .or_default() += points;
            }
        }
        m.earned.insert(user, earned_here);
    }
    m
}

/// The top `n` earners the model expects: every user who earned, most
/// first, ties by smaller id.
fn top(m: &Model, n: usize) -> Vec<TopEarner> {
    let mut all: Vec<TopEarner> = m
        .earned
        .iter()
        .filter(|&(_, &earned)| earned > 0)
        .map(|(&user, &earned)| TopEarner { user, earned })
        .collect();
    all.sort_by(|a, b| b.earned.cmp(&a.earned).then(a.user.cmp(&b.user)));
    all.truncate(n);
    all
}

/// Compares `report` with the model, field by field.
fn check<Tz: TimeZone>(
    program: &Program<Tz>,
    report: &SimulationReport,
    m: &Model,
    top_n: usize,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(
        (
            report.users,
            report.events,
            report.applied,
            report.duplicates,
            report.too_late,
            report.failed
        ),
        (
            m.users,
            m.events,
            m.applied,
            m.duplicates,
            m.too_late,
            m.failed
        ),
        "counts"
    );
    let names: Vec<String> = program
        .spec()
        .rules
        .iter()
        .map(|r| r.name.to_string())
        .collect();
    let got: Vec<String> = report.rules.iter().map(|r| r.rule.to_string()).collect();
    prop_assert_eq!(&got, &names, "one entry per rule, in program order");
    for r in &report.rules {
        let want = m.rules.get(r.rule.as_str());
        let want = want.map_or((0, 0, 0, 0, 0), |w| {
            (w.0, w.1, w.2, w.3.len() as u64, w.4.len() as u64)
        });
        prop_assert_eq!(
            (
                r.issued,
                r.awards,
                r.capped_awards,
                r.users_earning,
                r.users_capped
            ),
            want,
            "rule {}",
            r.rule
        );
    }
    let bonuses: BTreeMap<String, (u64, u64, u64)> = report
        .bonuses
        .iter()
        .map(|b| (b.bonus.to_string(), (b.issued, b.awards, b.users_earning)))
        .collect();
    let want: BTreeMap<String, (u64, u64, u64)> = m
        .bonuses
        .iter()
        .map(|(k, v)| (k.clone(), (v.0, v.1, v.2.len() as u64)))
        .collect();
    prop_assert_eq!(bonuses, want, "bonuses");
    if let Some(ladder) = program.tier_ladder() {
        let got: Vec<(String, u64)> = report
            .tiers
            .iter()
            .map(|t| (t.tier.to_string(), t.members))
            .collect();
        let want: Vec<(String, u64)> = ladder
            .tiers()
            .iter()
            .map(|t| {
                let name = t.name.to_string();
                let members = m.tiers.get(&name).copied().unwrap_or(0);
                (name, members)
            })
            .collect();
        prop_assert_eq!(got, want, "tiers");
    } else {
        prop_assert!(report.tiers.is_empty());
    }
    prop_assert_eq!(
        (
            report.issued,
            report.redemptions,
            report.redeemed,
            report.expired,
            report.outstanding,
            report.pending
        ),
        (
            m.issued,
            m.redemptions,
            m.redeemed,
            m.expired,
            m.outstanding,
            m.pending
        ),
        "totals"
    );
    prop_assert_eq!(
        (
            report.reversals,
            report.refunds_unmatched,
            report.reversed,
            report.owed,
            report.forgiven
        ),
        (
            m.reversals,
            m.refunds_unmatched,
            m.reversed,
            m.owed,
            m.forgiven
        ),
        "reversals"
    );
    let want: Vec<Liability> = m
        .liability
        .iter()
        .map(|(&valid_through, &points)| Liability {
            valid_through,
            points,
        })
        .collect();
    prop_assert_eq!(&report.liability, &want, "liability by month");
    prop_assert_eq!(&report.top_earners, &top(m, top_n), "top earners");
    prop_assert_eq!(report.top_n, top_n);
    prop_assert!(report.is_conserved());
    match report.breakage().percent() {
        None => prop_assert_eq!(m.issued, 0),
        Some(p) => {
            let want = 100.0 * m.expired as f64 / m.issued as f64;
            prop_assert!((p - want).abs() < 1e-9, "breakage {} against {}", p, want);
        }
    }
    Ok(())
}

fn cap() -> impl Strategy<Value = Value> {
    prop_oneof![
        2 => Just(Value::Null),
        1 => (1u32..3).prop_map(|c| json!({ "count": c })),
        1 => (5u64..40).prop_map(|p| json!({ "points": p })),
    ]
}

fn expiry() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        Just(json!({ "type": "never" })),
        (1u32..40).prop_map(|days| json!({ "type": "after_days", "days": days })),
        (1u32..3, select(vec!["month", "quarter"])).prop_map(
            |(months, end)| json!({ "type": "after_months", "months": months, "round_up_to": end })
        ),
    ]
}

fn rule(i: usize) -> impl Strategy<Value = Value> {
    (
        select(vec!["visited", "action_completed:lesson", "purchase", "*"]),
        1u64..30,
        (cap(), cap(), cap(), select(vec!["trim", "reject"])),
        expiry(),
        select(vec![0u32, 0, 1, 3]),
        prop_oneof![3 => Just(Value::Null), 1 => (60u32..7200).prop_map(|s| json!(s))],
        any::<bool>(),
    )
        .prop_map(move |(on, points, (daily, weekly, lifetime, mode), expiry, pending, cooldown, per_amount)| {
            let reward = if on == "purchase" && per_amount {
                json!({ "type": "per_amount", "points": points, "per_minor": 100, "rounding": "down" })
            } else {
                json!({ "type": "fixed", "points": points })
            };
            let mut r = json!({
                "name": format!("r{i}"), "on": on, "reward": reward,
                "cap_mode": mode, "pending_days": pending,
            });
            for (field, value) in [
                ("daily_cap", daily),
                ("weekly_cap", weekly),
                ("lifetime_cap", lifetime),
                ("expiry", expiry),
                ("cooldown_seconds", cooldown),
            ] {
                if !value.is_null() {
                    r[field] = value;
                }
            }
            r
        })
}

/// A program spec as JSON: a few rules with caps, expiry and pending days,
/// sometimes a streak and tiers.
fn spec() -> impl Strategy<Value = Value> {
    (1usize..4)
        .prop_flat_map(|n| {
            let rules: Vec<_> = (0..n).map(rule).collect();
            (
                rules,
                expiry(),
                select(vec!["+08:00", "-03:30", "+00:00"]),
                any::<bool>(),
                any::<bool>(),
                (
                    select(vec!["clamp", "debt", "negative_balance"]),
                    any::<bool>(),
                    prop_oneof![2 => Just(Value::Null), 1 => (1u32..3, 1usize..4)
                        .prop_map(|(hours, ids)| json!({ "horizon_hours": hours, "max_ids": ids }))],
                    cap(),
                ),
            )
        })
        .prop_map(|(rules, expiry, offset, streak, tiers, (clawback, lean, dedupe, global))| {
            let mut spec = json!({ "utc_offset": offset, "rules": rules,
                                   "ledger": { "clawback": clawback } });
            if lean {
                spec["ledger"]["statement_entries"] = json!(0);
                spec["ledger"]["reversible_awards"] = json!(0);
            }
            if !dedupe.is_null() {
                spec["dedupe"] = dedupe;
            }
            if !global.is_null() {
                spec["global_daily_cap"] = global;
            }
            if !expiry.is_null() {
                spec["expiry"] = expiry;
            }
            if streak {
                spec["streak"] = json!({ "on": ["visited"], "milestones": [{ "day": 2, "points": 15 }] });
            }
            if tiers {
                spec["tiers"] = json!({
                    "basis": { "type": "points" },
                    "window": { "type": "rolling_days", "days": 10 },
                    "tiers": [{ "name": "member", "threshold": 0 },
                              { "name": "gold", "threshold": 60, "multiplier": 2 }]
                });
            }
            spec
        })
}

fn kind() -> impl Strategy<Value = EventKind> {
    prop_oneof![
        Just(EventKind::Visited),
        Just(EventKind::ActionCompleted {
            action: "lesson".into()
        }),
        (1i64..5000, select(vec!["USD", "CNY"])).prop_map(|(minor, c)| EventKind::Purchase {
            amount: Money::new(minor, c.parse().unwrap())
        }),
        (0i64..5000, select(vec!["USD", "CNY"])).prop_map(|(minor, c)| EventKind::Refund {
            amount: Money::new(minor, c.parse().unwrap())
        }),
    ]
}

/// A log over a few users, across a couple of months, with repeats and
/// some events late by hours or days.
fn events() -> impl Strategy<Value = Vec<Event>> {
    vec(
        (
            0u64..4,
            prop_oneof![1 => Just(0i64), 3 => 0i64..(3 * 1440)],
            prop_oneof![8 => Just(0i64), 1 => 0i64..(4 * 1440)],
            kind(),
            prop_oneof![8 => Just(None), 1 => Just(Some(0usize)), 1 => (0usize..40).prop_map(Some)],
        ),
        0..50,
    )
    .prop_map(|steps| {
        let mut clock = t0();
        let mut out: Vec<Event> = Vec::new();
        for (i, (user, advance, late, kind, repeat)) in steps.into_iter().enumerate() {
            clock += TimeDelta::minutes(advance);
            // A redelivery of the user's latest event, or of an older one.
            let mine: Vec<&Event> = out
                .iter()
                .rev()
                .filter(|e| e.user == UserId(user))
                .collect();
            let earlier =
                repeat.and_then(|back| mine.get(back % mine.len().max(1)).copied().cloned());
            match earlier {
                Some(e) => out.push(e),
                _ => out.push(Event::new(
                    EventId(i as u64),
                    UserId(user),
                    clock - TimeDelta::minutes(late),
                    kind,
                )),
            }
        }
        out
    })
}

fn as_of() -> impl Strategy<Value = DateTime<Utc>> {
    prop_oneof![
        (0i64..100).prop_map(|d| t0() + TimeDelta::days(d)),
        // Local midnights in the zones above, where lots expire.
        (0i64..100, select(vec![-8i64, 0, 3])).prop_map(|(d, h)| t0()
            + TimeDelta::days(d)
            + TimeDelta::hours(h)
            + TimeDelta::minutes(if h == 3 { 30 } else { 0 })),
    ]
}

fn program(spec: &Value) -> Option<Program> {
    serde_json::from_value::<ProgramSpec>(spec.clone())
        .ok()?
        .validate()
        .ok()
}

fn program_in<Tz: TimeZone>(spec: &Value, zone: Tz) -> Option<Program<Tz>> {
    serde_json::from_value::<ProgramSpec>(spec.clone())
        .ok()?
        .validate_in(zone)
        .ok()
}

fn simulation<'p, Tz: TimeZone>(
    program: &'p Program<Tz>,
    as_of: DateTime<Utc>,
    habits: Habits,
    top_n: usize,
) -> Simulation<'p, Tz> {
    let mut s = Simulation::new(program, as_of)
        .top_earners(top_n)
        .redeeming(habits.price);
    if habits.refunds {
        s = s.reversing_refunds();
    }
    if habits.daily {
        s = s.evaluating_tiers_daily();
    }
    s
}

fn run_and_check<Tz: TimeZone>(
    program: &Program<Tz>,
    events: &[Event],
    as_of: DateTime<Utc>,
    habits: Habits,
    top_n: usize,
) -> Result<SimulationReport, TestCaseError> {
    let log = EventLog::new(events.to_vec());
    let report = simulation(program, as_of, habits, top_n).run(&log);
    check(
        program,
        &report,
        &model(program, events, as_of, habits),
        top_n,
    )?;
    Ok(report)
}

/// Daily tier evaluation without spending or refunds, figures taken after
/// the last event: where the model's daily evaluation (the whole of
/// `Program::evaluate_account`, expiry included) and the simulation's (its
/// tier step alone) must agree.
fn daily_alone(habits: Habits, events: &[Event], as_of: DateTime<Utc>) -> (Habits, DateTime<Utc>) {
    if !habits.daily {
        return (habits, as_of);
    }
    let last = events.iter().map(|e| e.at).max().unwrap_or(as_of);
    let habits = Habits {
        daily: true,
        ..Habits::default()
    };
    (habits, as_of.max(last))
}

fn habits() -> impl Strategy<Value = Habits> {
    (
        prop_oneof![4 => Just(0u64), 1 => 1u64..4, 2 => 4u64..60],
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(price, refunds, daily)| Habits {
            price,
            refunds,
            daily,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    #[test]
    fn report_matches_the_model(
        spec in spec(),
        events in events(),
        as_of in as_of(),
        habits in habits(),
        top_n in 0usize..5,
    ) {
        let Some(program) = program(&spec) else { return Ok(()) };
        let (habits, as_of) = daily_alone(habits, &events, as_of);
        run_and_check(&program, &events, as_of, habits, top_n)?;
    }

    /// In IANA zones, whose offsets change, the month boundaries and daily
    /// caps move with the clock.
    #[test]
    fn report_matches_the_model_in_a_zone_with_changes(
        spec in spec(),
        events in events(),
        as_of in as_of(),
        habits in habits(),
        zone in 0usize..3,
    ) {
        // London's clocks go forward in late March; St. John's went back
        // from 00:01 to 23:01 on the night of 31 October 2009, across the
        // month's end; Santiago's change at 24:00 in early April and
        // September skips a midnight.
        let (zone, start) = [
            (chrono_tz::Europe::London, t0()),
            (chrono_tz::America::St_Johns, Utc.with_ymd_and_hms(2009, 10, 10, 0, 0, 0).unwrap()),
            (chrono_tz::America::Santiago, Utc.with_ymd_and_hms(2026, 3, 20, 0, 0, 0).unwrap()),
        ][zone];
        let shift = start - t0();
        let events: Vec<Event> = events
            .into_iter()
            .map(|mut e| {
                e.at += shift;
                e
            })
            .collect();
        let Some(program) = program_in(&spec, zone) else { return Ok(()) };
        let (habits, as_of) = daily_alone(habits, &events, as_of + shift);
        run_and_check(&program, &events, as_of, habits, 3)?;
    }

    /// Shards of users merge into the whole, and a report's diff with
    /// itself changes nothing.
    #[test]
    fn shards_merge_and_self_diff_is_zero(
        spec in spec(),
        events in events(),
        as_of in as_of(),
        habits in habits(),
        split in 0u64..16,
    ) {
        let Some(program) = program(&spec) else { return Ok(()) };
        let (habits, as_of) = daily_alone(habits, &events, as_of);
        let whole = run_and_check(&program, &events, as_of, habits, 3)?;
        let shard = |s: bool| {
            let mine: Vec<Event> =
                events.iter().filter(|e| (split >> e.user.0 & 1 == 1) == s).cloned().collect();
            simulation(&program, as_of, habits, 3).run(&EventLog::new(mine))
        };
        let mut merged = shard(false);
        merged.merge(&shard(true)).unwrap();
        prop_assert_eq!(&merged, &whole);
        let d = diff(&whole, &whole);
        prop_assert!(d.rules.iter().all(|r| r.issued.delta == 0 && r.users_capped.delta == 0));
        prop_assert!(d.liability.iter().all(|l| l.points.delta == 0));
        prop_assert_eq!(d.liability.len(), whole.liability.len());
        prop_assert_eq!(d.rules.len(), whole.rules.len());
        prop_assert_eq!(d.tiers.len(), whole.tiers.len());
        prop_assert_eq!(d.bonuses.len(), whole.bonuses.len());
        prop_assert_eq!(d.issued.delta + d.outstanding.delta + d.expired.delta + d.redeemed.delta, 0);
        prop_assert_eq!(d.breakage_change(), whole.breakage().percent().map(|_| 0.0));
    }
}

// ---- hand-written edge cases ----

fn visit(id: u64, user: u64, at: DateTime<Utc>) -> Event {
    Event::new(EventId(id), UserId(user), at, EventKind::Visited)
}

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
}

fn visits_program(extra: Value) -> Program {
    let mut spec = json!({
        "utc_offset": "+08:00",
        "rules": [{ "name": "visit", "on": "visited", "reward": { "type": "fixed", "points": 10 } }]
    });
    for (k, v) in extra.as_object().unwrap() {
        if k == "rule" {
            for (rk, rv) in v.as_object().unwrap() {
                spec["rules"][0][rk] = rv.clone();
            }
        } else {
            spec[k] = v.clone();
        }
    }
    program(&spec).expect("a valid program")
}

fn simulate_checked(
    program: &Program,
    events: Vec<Event>,
    as_of: DateTime<Utc>,
    price: u64,
) -> SimulationReport {
    let habits = Habits {
        price,
        ..Habits::default()
    };
    run_and_check(program, &events, as_of, habits, 10).unwrap()
}

#[test]
fn liability_months_follow_the_program_s_zone() {
    // Points lapse 24 hours after earning. In +08:00, a lot earned at 16:00
    // UTC on 29 April expires at 00:00 local on 1 May: valid through April.
    // One earned at 15:59 UTC on 30 April expires at 23:59 local on 1 May:
    // valid through May.
    let program = visits_program(json!({ "expiry": { "type": "after_days", "days": 1 } }));
    let events = vec![
        visit(1, 1, utc(2026, 4, 29, 16, 0)),
        visit(2, 2, utc(2026, 4, 30, 15, 59)),
    ];
    let r = simulate_checked(&program, events, utc(2026, 4, 30, 15, 59), 0);
    let april = ValidThrough::Month {
        year: 2026,
        month: 4,
    };
    let may = ValidThrough::Month {
        year: 2026,
        month: 5,
    };
    let liability = |month, points| Liability {
        valid_through: month,
        points,
    };
    assert_eq!(r.liability, vec![liability(april, 10), liability(may, 10)]);

    // A month on, rounded up to the end of the local month: earned at
    // 23:59 local on 28 February (15:59 UTC), valid through March; at
    // 00:00 local on 1 March (16:00 UTC on 28 February), through April.
    let program = visits_program(json!({
        "expiry": { "type": "after_months", "months": 1, "round_up_to": "month" }
    }));
    let events = vec![
        visit(1, 1, utc(2026, 2, 28, 15, 59)),
        visit(2, 2, utc(2026, 2, 28, 16, 0)),
        visit(3, 3, utc(2026, 2, 28, 16, 0)),
    ];
    let r = simulate_checked(&program, events, utc(2026, 3, 1, 0, 0), 0);
    let march = ValidThrough::Month {
        year: 2026,
        month: 3,
    };
    assert_eq!(
        r.liability,
        vec![liability(march, 10), liability(april, 20)]
    );
}

#[test]
fn lots_expiring_exactly_at_as_of_are_expired() {
    let program = visits_program(json!({
        "expiry": { "type": "after_months", "months": 1, "round_up_to": "month" }
    }));
    // Earned in March, the lot expires at local midnight starting 1 May,
    // 16:00 UTC on 30 April.
    let events = vec![visit(1, 1, utc(2026, 3, 10, 0, 0))];
    let before = simulate_checked(&program, events.clone(), utc(2026, 4, 30, 15, 59), 0);
    assert_eq!((before.expired, before.outstanding), (0, 10));
    let at = simulate_checked(&program, events, utc(2026, 4, 30, 16, 0), 0);
    assert_eq!((at.expired, at.outstanding), (10, 0));
    assert!(at.liability.is_empty());
    assert_eq!(at.breakage().percent(), Some(100.0));
}

#[test]
fn pending_points_at_as_of() {
    let program = visits_program(json!({ "rule": { "pending_days": 2 } }));
    let at = utc(2026, 3, 10, 0, 0);
    let events = vec![visit(1, 1, at)];
    let during = simulate_checked(&program, events.clone(), at + TimeDelta::days(1), 0);
    assert_eq!((during.outstanding, during.pending), (10, 10));
    // Spending cannot take pending points.
    let spent = simulate_checked(&program, events.clone(), at + TimeDelta::days(1), 10);
    assert_eq!((spent.redeemed, spent.pending), (0, 10));
    let over = simulate_checked(&program, events, at + TimeDelta::days(3), 0);
    assert_eq!((over.outstanding, over.pending), (10, 0));
}

#[test]
fn breakage_with_nothing_issued_is_unknown() {
    let program = visits_program(json!({}));
    let empty = simulate_checked(&program, Vec::new(), utc(2026, 3, 1, 0, 0), 0);
    assert_eq!((empty.users, empty.issued), (0, 0));
    assert_eq!(empty.breakage().percent(), None);
    assert!(empty.top_earners.is_empty() && empty.liability.is_empty());
    // Users who earned nothing are counted but never listed.
    let purchase = Event::new(
        EventId(1),
        UserId(1),
        utc(2026, 3, 1, 0, 0),
        EventKind::Purchase {
            amount: Money::new(100, "USD".parse().unwrap()),
        },
    );
    let none = simulate_checked(&program, vec![purchase], utc(2026, 3, 2, 0, 0), 0);
    assert_eq!((none.users, none.issued), (1, 0));
    assert_eq!(none.breakage().percent(), None);
    assert!(none.top_earners.is_empty());
    assert_eq!(diff(&none, &none).breakage_change(), None);
}

#[test]
fn top_earner_ties_go_to_the_smaller_id() {
    let program = visits_program(json!({}));
    let at = utc(2026, 3, 1, 0, 0);
    let events = vec![
        visit(1, 9, at),
        visit(2, 4, at),
        visit(3, 7, at),
        visit(4, 7, at + TimeDelta::minutes(1)),
        visit(5, 2, at),
    ];
    let log = EventLog::new(events);
    let r = Simulation::new(&program, at + TimeDelta::days(1))
        .top_earners(3)
        .run(&log);
    let top: Vec<(u64, u64)> = r.top_earners.iter().map(|e| (e.user.0, e.earned)).collect();
    assert_eq!(top, [(7, 20), (2, 10), (4, 10)]);
    let none = Simulation::new(&program, at).top_earners(0).run(&log);
    assert!(none.top_earners.is_empty());
    // Shards each keep their own top 3; merged, they give the whole's.
    let shard = |users: &[u64]| {
        let mine = log
            .events()
            .iter()
            .filter(|e| users.contains(&e.user.0))
            .cloned()
            .collect();
        Simulation::new(&program, at + TimeDelta::days(1))
            .top_earners(3)
            .run(&EventLog::new(mine))
    };
    let mut merged = shard(&[4, 9]);
    merged.merge(&shard(&[2, 7])).unwrap();
    assert_eq!(merged, r);
}

#[test]
fn the_redeeming_habit_spends_whenever_it_can() {
    // 30 a visit, a price of 100: spends at the 4th visit (120 → 20), the
    // 7th (20 + 90 = 110 → 10), and only at events that earn.
    let program =
        visits_program(json!({ "rule": { "reward": { "type": "fixed", "points": 30 } } }));
    let at = utc(2026, 3, 1, 0, 0);
    let events: Vec<Event> = (0..7)
        .map(|i| visit(i, 1, at + TimeDelta::hours(i as i64)))
        .collect();
    let r = simulate_checked(&program, events, at + TimeDelta::days(1), 100);
    assert_eq!(
        (r.issued, r.redeemed, r.redemptions, r.outstanding),
        (210, 200, 2, 10)
    );
    // A price of 1 spends everything, one point at a time.
    let events: Vec<Event> = (0..3)
        .map(|i| visit(i, 1, at + TimeDelta::hours(i as i64)))
        .collect();
    let r = simulate_checked(&program, events, at + TimeDelta::days(1), 1);
    assert_eq!((r.redeemed, r.redemptions, r.outstanding), (90, 90, 0));
}

#[test]
fn refunds_reverse_the_latest_purchase_not_wholly_refunded() {
    // A point per dollar. A refund of $7 against purchases of $10 then $5
    // reverses the $5 one whole (the refund is capped at what is left of
    // it); a refund of $3 then reverses 3/10 of the $10 one; one in another
    // currency matches no purchase.
    let spec = json!({
        "utc_offset": "+08:00",
        "rules": [{ "name": "buy", "on": "purchase",
                    "reward": { "type": "per_amount", "points": 1, "per_minor": 100, "rounding": "down" } }]
    });
    let program = program(&spec).unwrap();
    let at = utc(2026, 3, 10, 0, 0);
    let usd = |minor| Money::new(minor, "USD".parse().unwrap());
    let kinds = [
        EventKind::Purchase { amount: usd(1000) },
        EventKind::Purchase { amount: usd(500) },
        EventKind::Refund { amount: usd(700) },
        EventKind::Refund { amount: usd(300) },
        EventKind::Refund {
            amount: Money::new(100, "CNY".parse().unwrap()),
        },
    ];
    let events: Vec<Event> = kinds
        .into_iter()
        .enumerate()
        .map(|(i, kind)| {
            Event::new(
                EventId(i as u64),
                UserId(1),
                at + TimeDelta::hours(i as i64),
                kind,
            )
        })
        .collect();
    let habits = Habits {
        refunds: true,
        ..Habits::default()
    };
    let r = run_and_check(&program, &events, at + TimeDelta::days(1), habits, 3).unwrap();
    assert_eq!((r.issued, r.reversed, r.outstanding), (15, 8, 7));
    assert_eq!((r.reversals, r.refunds_unmatched), (2, 1));
}

#[test]
fn points_earned_after_as_of_are_outstanding_and_pending() {
    // The whole log is run: an event after `as_of` earns points that cannot
    // be spent at `as_of`, so they are pending then.
    let program = visits_program(json!({}));
    let at = utc(2026, 3, 10, 0, 0);
    let r = simulate_checked(&program, vec![visit(1, 1, at)], at - TimeDelta::days(1), 0);
    assert_eq!((r.issued, r.outstanding, r.pending), (10, 10, 10));
}
