//! Properties of program simulation (`growthkit::points::simulate`):
//!
//! 1. the batch path equals the online one: applying each event, in log
//!    order, through `Program::apply` to a fresh ledger per user gives the
//!    same per-rule points, counts, capped users, totals, liability and top
//!    earners;
//! 2. the same input gives the same report;
//! 3. points are conserved: issued = redeemed + expired + reversed +
//!    outstanding, the rules add up to the total and the liability buckets
//!    to what is outstanding, with spending and refunds under every
//!    clawback policy;
//! 4. reports of shards of users merge, in any grouping, into the report of
//!    the whole log (spending and refunds included);
//! 5. a diff's signs: `before + delta = after`, and swapping the programs
//!    negates every delta.
//!
//! Programs are drawn with and without the account sections (tiers, a
//! check-in streak, badges); with them, the online way is `Program::earn`
//! on an `Account` per user, and the report's bonuses and members by tier
//! are checked too.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use growthkit::batch::EventLog;
use growthkit::points::{
    Account, Ledger, Program, ProgramSpec, Simulation, SimulationReport, ValidThrough, diff,
    simulate,
};
use growthkit::{Event, EventId, EventKind, LocalDay, Money, UserId};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

fn cap() -> impl Strategy<Value = Value> {
    prop_oneof![
        2 => Just(Value::Null),
        1 => (1u32..4).prop_map(|c| json!({ "count": c })),
        1 => (1u64..60).prop_map(|p| json!({ "points": p })),
    ]
}

fn expiry() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        Just(json!({ "type": "never" })),
        (1u32..20).prop_map(|days| json!({ "type": "after_days", "days": days })),
        (1u32..3, select(vec!["month", "quarter"])).prop_map(
            |(months, end)| json!({ "type": "after_months", "months": months, "round_up_to": end })
        ),
    ]
}

/// One rule as JSON, with arbitrary reward, caps, mode, expiry and pending days.
fn rule(i: usize) -> impl Strategy<Value = Value> {
    let on_reward = prop_oneof![
        (1u64..40).prop_map(|p| (
            "action_completed:lesson",
            json!({ "type": "fixed", "points": p })
        )),
        (1u64..40).prop_map(|p| ("visited", json!({ "type": "fixed", "points": p }))),
        (1u64..40).prop_map(|p| (
            "custom:invite_sent",
            json!({ "type": "fixed", "points": p })
        )),
        (1u64..40).prop_map(|p| ("*", json!({ "type": "fixed", "points": p }))),
        (1u64..5, 1i64..3000, select(vec!["down", "nearest", "up"])).prop_map(|(p, unit, r)| (
            "purchase",
            json!({ "type": "per_amount", "points": p, "per_minor": unit, "rounding": r })
        )),
    ];
    // Week and month caps, a cooldown and a condition now and then.
    let more = (
        cap(),
        cap(),
        prop_oneof![3 => Just(Value::Null), 1 => (1u32..7200).prop_map(|s| json!(s))],
        prop_oneof![
            3 => Just(Value::Null),
            1 => Just(json!([{ "type": "first_time" }])),
            1 => Just(json!([{ "type": "hours", "from": 8, "to": 20 }])),
            1 => Just(json!([{ "type": "weekdays", "any_of": ["Sat", "Sun"] }])),
        ],
    );
    (
        on_reward,
        cap(),
        cap(),
        select(vec!["trim", "reject"]),
        expiry(),
        select(vec![0u32, 0, 2]),
        more,
    )
        .prop_map(
            move |((on, reward), daily, lifetime, mode, expiry, pending, more)| {
                let (weekly, monthly, cooldown, when) = more;
                let mut r = json!({
                    "name": format!("r{i}"), "on": on, "reward": reward,
                    "cap_mode": mode, "pending_days": pending,
                });
                for (field, value) in [
                    ("daily_cap", daily),
                    ("weekly_cap", weekly),
                    ("monthly_cap", monthly),
                    ("lifetime_cap", lifetime),
                    ("expiry", expiry),
                    ("cooldown_seconds", cooldown),
                    ("when", when),
                ] {
                    if !value.is_null() {
                        r[field] = value;
                    }
                }
                r
            },
        )
}

/// A tier ladder on points or spend in a short rolling window (so tiers
/// are lost again within a simulation), maybe with grace, or none.
fn tiers() -> impl Strategy<Value = Value> {
    let basis = prop_oneof![
        Just(json!({ "type": "points" })),
        Just(json!({ "type": "spend", "currency": "CNY" })),
    ];
    let grace = prop_oneof![
        Just(json!({ "type": "none" })),
        (1u32..5).prop_map(|days| json!({ "type": "days", "days": days })),
    ];
    prop_oneof![
        2 => Just(Value::Null),
        1 => (basis, 1u32..15, grace, 1u64..60, select(vec![1.5, 2.0])).prop_map(
            |(basis, days, grace, gold, multiplier)| json!({
                "basis": basis,
                "window": { "type": "rolling_days", "days": days },
                "grace": grace,
                "tiers": [ { "name": "member", "threshold": 0 },
                           { "name": "gold", "threshold": gold, "multiplier": multiplier } ]
            })
        ),
    ]
}

/// A check-in streak with one or two milestones, or none.
fn streak() -> impl Strategy<Value = Value> {
    prop_oneof![
        2 => Just(Value::Null),
        1 => (1u32..4, 1u64..30, 4u32..8, 1u64..30).prop_map(|(d1, p1, d2, p2)| json!({
            "milestones": [ { "day": d1, "points": p1 }, { "day": d2, "points": p2 } ]
        })),
    ]
}

/// A badge catalog counting visits (two levels with points) and points
/// earned, or none.
fn badges() -> impl Strategy<Value = Value> {
    prop_oneof![
        2 => Just(Value::Null),
        1 => (1u64..4, 0u64..20, 10u64..100, 0u64..20).prop_map(|(at, points, earned, bonus)| json!({
            "badges": [
                { "name": "regular", "counter": { "type": "events", "on": "visited" },
                  "levels": [ { "name": "bronze", "at": at, "points": points },
                              { "name": "silver", "at": at + 2, "points": points + 5 } ] },
                { "name": "earner", "counter": { "type": "points" },
                  "levels": [ { "at": earned, "points": bonus } ] }
            ]
        })),
    ]
}

/// The default window of recent ids, or one so small that it forgets
/// within a user's few events (and refuses a later event at the time of
/// one it forgot as too late).
fn dedupe() -> impl Strategy<Value = serde_json::Value> {
    prop_oneof![
        2 => Just(serde_json::Value::Null),
        1 => (1u32..3, 1usize..4).prop_map(|(hours, ids)| json!({ "horizon_hours": hours, "max_ids": ids })),
    ]
}

/// A valid program of one to five rules in +08:00, maybe with tiers, a
/// streak and badges, a global daily cap, and a lean ledger (no statement,
/// no awards remembered, as a simulation keeps); rules whose pending days
/// outlast their expiry are dropped by filtering whole programs out.
fn program() -> impl Strategy<Value = Program> {
    (1usize..6)
        .prop_flat_map(|n| {
            let rules: Vec<_> = (0..n).map(rule).collect();
            (
                rules,
                expiry(),
                select(vec!["clamp", "debt", "negative_balance"]),
                (tiers(), streak(), badges()),
                (dedupe(), any::<bool>(), cap()),
            )
        })
        .prop_filter_map(
            "pending outlasts expiry",
            |(rules, expiry, clawback, sections, (dedupe, lean, global))| {
                let mut spec = json!({ "utc_offset": "+08:00", "rules": rules,
                                   "ledger": { "clawback": clawback } });
                if lean {
                    // A simulation's usual ledger: no statement, no
                    // awards remembered for reversal.
                    spec["ledger"]["statement_entries"] = json!(0);
                    spec["ledger"]["reversible_awards"] = json!(0);
                }
                if !global.is_null() {
                    spec["global_daily_cap"] = global;
                }
                if !dedupe.is_null() {
                    spec["dedupe"] = dedupe;
                }
                if !expiry.is_null() {
                    spec["expiry"] = expiry;
                }
                let (tiers, streak, badges) = sections;
                for (field, value) in [("tiers", tiers), ("streak", streak), ("badges", badges)] {
                    if !value.is_null() {
                        spec[field] = value;
                    }
                }
                serde_json::from_value::<ProgramSpec>(spec)
                    .ok()?
                    .validate()
                    .ok()
            },
        )
}

fn kind() -> impl Strategy<Value = EventKind> {
    prop_oneof![
        Just(EventKind::Visited),
        Just(EventKind::ActionCompleted {
            action: "lesson".into()
        }),
        Just(EventKind::Custom {
            name: "invite_sent".into()
        }),
        Just(EventKind::CheckIn { community: None }),
        (0i64..20_000, select(vec!["CNY", "USD"])).prop_map(|(minor, c)| EventKind::Purchase {
            amount: Money::new(minor, c.parse().unwrap())
        }),
        (0i64..20_000, select(vec!["CNY", "USD"])).prop_map(|(minor, c)| EventKind::Refund {
            amount: Money::new(minor, c.parse().unwrap())
        }),
    ]
}

/// A time-ordered log over a handful of users, with redeliveries (a
/// repeated id) and some late events (behind the clock by up to ten days,
/// so some are too late for the daily tallies).
fn events() -> impl Strategy<Value = Vec<Event>> {
    vec(
        (
            0u64..6,
            // Some events at the same minute as the one before.
            prop_oneof![1 => Just(0i64), 4 => 0i64..3000],
            prop_oneof![8 => Just(0i64), 1 => 0i64..(10 * 1440)],
            kind(),
            prop_oneof![9 => Just(false), 1 => Just(true)],
        ),
        0..60,
    )
    .prop_map(|steps| {
        let mut clock = t0();
        let mut out: Vec<Event> = Vec::new();
        for (i, (user, advance, late, kind, repeat)) in steps.into_iter().enumerate() {
            clock += TimeDelta::minutes(advance);
            // A redelivery repeats an earlier event of the same user whole.
            let earlier = out.iter().rev().find(|e| e.user == UserId(user)).cloned();
            match earlier {
                Some(e) if repeat => out.push(e),
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
    (0i64..120).prop_map(|days| t0() + TimeDelta::days(days))
}

/// The report computed the online way, independently of the batch path.
struct Online {
    users: u64,
    applied: u64,
    duplicates: u64,
    too_late: u64,
    issued_by_rule: BTreeMap<String, u64>,
    awards_by_rule: BTreeMap<String, u64>,
    capped_users: BTreeMap<String, BTreeSet<UserId>>,
    issued: u64,
    expired: u64,
    outstanding: u64,
    liability: BTreeMap<ValidThrough, u64>,
    earned_by_user: BTreeMap<UserId, u64>,
    issued_by_bonus: BTreeMap<String, u64>,
    members_by_tier: BTreeMap<String, u64>,
}

/// Whether members of `program` are accounts (tiers, streak or badges).
fn has_accounts(program: &Program) -> bool {
    program.tier_ladder().is_some()
        || program.streak_rules().is_some()
        || program.badge_catalog().is_some()
}

/// With `daily`, each account is evaluated (as a host's daily job would)
/// before its first event of each local day.
fn online(program: &Program, events: &[Event], as_of: DateTime<Utc>, daily: bool) -> Online {
    let mut ledgers: HashMap<UserId, Ledger> = HashMap::new();
    let mut accounts: HashMap<UserId, Account> = HashMap::new();
    let mut evaluated: HashMap<UserId, LocalDay> = HashMap::new();
    let mut o = Online {
        users: 0,
        applied: 0,
        duplicates: 0,
        too_late: 0,
        issued_by_rule: BTreeMap::new(),
        awards_by_rule: BTreeMap::new(),
        capped_users: BTreeMap::new(),
        issued: 0,
        expired: 0,
        outstanding: 0,
        liability: BTreeMap::new(),
        earned_by_user: BTreeMap::new(),
        issued_by_bonus: BTreeMap::new(),
        members_by_tier: BTreeMap::new(),
    };
    for e in events {
        let step = if has_accounts(program) {
            let account = accounts
                .entry(e.user)
                .or_insert_with(|| program.open_account(e.user, e.at));
            let today = LocalDay::of(e.at, program.zone());
            if daily && evaluated.get(&e.user).is_none_or(|&day| today > day) {
                evaluated.insert(e.user, today);
                program.evaluate_account(account, e.at).unwrap();
            }
            program
                .earn(account, e, None)
                .map(|out| {
                    for b in &out.bonuses {
                        *o.issued_by_bonus.entry(b.rule.to_string()).or_default() += b.points;
                    }
                    out.earned
                })
                .map_err(drop)
        } else {
            let ledger = ledgers
                .entry(e.user)
                .or_insert_with(|| program.new_ledger());
            program.apply(ledger, e).map_err(drop)
        };
        match step {
            Ok(earned) if earned.duplicate => o.duplicates += 1,
            Ok(earned) => {
                o.applied += 1;
                for a in &earned.awards {
                    let rule = a.rule.to_string();
                    if a.points > 0 {
                        *o.issued_by_rule.entry(rule.clone()).or_default() += a.points;
                        *o.awards_by_rule.entry(rule.clone()).or_default() += 1;
                    }
                    if a.capped.is_some() {
                        o.capped_users.entry(rule).or_default().insert(e.user);
                    }
                }
            }
            Err(_) => o.too_late += 1,
        }
    }
    for (_, mut account) in accounts {
        program.evaluate_account(&mut account, as_of).unwrap();
        if let Some(status) = account.tier() {
            *o.members_by_tier
                .entry(status.tier().to_string())
                .or_default() += 1;
        }
        ledgers.insert(account.user(), account.ledger().clone());
    }
    for (user, mut ledger) in ledgers {
        ledger.expire(as_of);
        o.users += 1;
        o.issued += ledger.earned();
        o.expired += ledger.expired();
        o.outstanding += ledger.available() + ledger.held();
        for lot in ledger.lots() {
            *o.liability
                .entry(ValidThrough::of(lot.expires_at, program.zone()))
                .or_default() += lot.remaining + lot.held;
        }
        o.earned_by_user.insert(user, ledger.earned());
    }
    o
}

/// The report's totals, bonuses and members per tier are the online ones.
fn same_totals(report: &SimulationReport, o: &Online) -> Result<(), TestCaseError> {
    prop_assert_eq!(
        (report.issued, report.expired, report.outstanding),
        (o.issued, o.expired, o.outstanding)
    );
    let bonuses: BTreeMap<String, u64> = report
        .bonuses
        .iter()
        .map(|b| (b.bonus.to_string(), b.issued))
        .collect();
    prop_assert_eq!(&bonuses, &o.issued_by_bonus);
    let tiers: BTreeMap<String, u64> = report
        .tiers
        .iter()
        .filter(|t| t.members > 0)
        .map(|t| (t.tier.to_string(), t.members))
        .collect();
    prop_assert_eq!(&tiers, &o.members_by_tier);
    Ok(())
}

/// Members spending `price` points as often as they can after every
/// event that earned them points (or a bonus), the online way, then every
/// member's points expired at `as_of`: how many redemptions, and the
/// points redeemed and expired.
fn online_spending(
    program: &Program,
    events: &[Event],
    as_of: DateTime<Utc>,
    price: u64,
) -> (u64, u64, u64) {
    let mut ledgers: HashMap<UserId, Ledger> = HashMap::new();
    let mut accounts: HashMap<UserId, Account> = HashMap::new();
    let mut redemptions = 0u64;
    for e in events {
        if has_accounts(program) {
            let account = accounts
                .entry(e.user)
                .or_insert_with(|| program.open_account(e.user, e.at));
            let Ok(out) = program.earn(account, e, None) else {
                continue;
            };
            if out.earned.duplicate || out.earned.total + out.bonus_total == 0 {
                continue;
            }
            while account.ledger().spendable(e.at) >= price {
                let key = format!("spend-{redemptions}").into();
                if account.redeem(key, price, e.at).is_err() {
                    break;
                }
                redemptions += 1;
            }
        } else {
            let ledger = ledgers
                .entry(e.user)
                .or_insert_with(|| program.new_ledger());
            let Ok(out) = program.apply(ledger, e) else {
                continue;
            };
            if out.duplicate || out.total == 0 {
                continue;
            }
            while ledger.spendable(e.at) >= price {
                let key = format!("spend-{redemptions}").into();
                if ledger.redeem(key, price, e.at).is_err() {
                    break;
                }
                redemptions += 1;
            }
        }
    }
    let (mut redeemed, mut expired) = (0, 0);
    for account in accounts.values_mut() {
        program.evaluate_account(account, as_of).unwrap();
        (redeemed, expired) = (
            redeemed + account.ledger().redeemed(),
            expired + account.ledger().expired(),
        );
    }
    for ledger in ledgers.values_mut() {
        ledger.expire(as_of);
        (redeemed, expired) = (redeemed + ledger.redeemed(), expired + ledger.expired());
    }
    (redemptions, redeemed, expired)
}

fn shard_reports(
    program: &Program,
    events: &[Event],
    shard_of: &[u8],
    shards: u8,
    as_of: DateTime<Utc>,
) -> Vec<SimulationReport> {
    (0..shards)
        .map(|s| {
            let mine: Vec<Event> = events
                .iter()
                .filter(|e| shard_of.get(e.user.0 as usize).copied().unwrap_or(0) % shards == s)
                .cloned()
                .collect();
            Simulation::new(program, as_of)
                .redeeming(50)
                .reversing_refunds()
                .run(&EventLog::new(mine))
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn batch_equals_online(program in program(), events in events(), as_of in as_of()) {
        let report = Simulation::new(&program, as_of).top_earners(3).run(&EventLog::new(events.clone()));
        let o = online(&program, &events, as_of, false);
        prop_assert_eq!(report.events, events.len() as u64);
        prop_assert_eq!(
            (report.users, report.applied, report.duplicates, report.too_late + report.failed),
            (o.users, o.applied, o.duplicates, o.too_late)
        );
        for r in &report.rules {
            let name = r.rule.to_string();
            prop_assert_eq!(r.issued, o.issued_by_rule.get(&name).copied().unwrap_or(0), "{}", name);
            prop_assert_eq!(r.awards, o.awards_by_rule.get(&name).copied().unwrap_or(0));
            prop_assert_eq!(
                r.users_capped,
                o.capped_users.get(&name).map_or(0, |s| s.len() as u64)
            );
        }
        same_totals(&report, &o)?;
        prop_assert_eq!(
            report.tiers.iter().map(|t| t.members).sum::<u64>(),
            if program.tier_ladder().is_some() { report.users } else { 0 }
        );
        let liability: BTreeMap<ValidThrough, u64> = report
            .liability
            .iter()
            .map(|l| (l.valid_through, l.points))
            .collect();
        let expected: BTreeMap<ValidThrough, u64> =
            o.liability.into_iter().filter(|&(_, p)| p > 0).collect();
        prop_assert_eq!(liability, expected);
        let mut top: Vec<(u64, UserId)> = o
            .earned_by_user
            .into_iter()
            .filter(|&(_, e)| e > 0)
            .map(|(u, e)| (e, u))
            .collect();
        top.sort_by_key(|&(e, u)| (std::cmp::Reverse(e), u));
        top.truncate(3);
        let got: Vec<(u64, UserId)> = report.top_earners.iter().map(|e| (e.earned, e.user)).collect();
        prop_assert_eq!(got, top);
    }

    #[test]
    fn spending_batch_equals_online(
        program in program(),
        events in events(),
        as_of in as_of(),
        price in 1u64..80,
    ) {
        // Late events included: a lot past expiry at a later event's
        // instant may still be spendable at a late one's.
        let report = Simulation::new(&program, as_of)
            .redeeming(price)
            .run(&EventLog::new(events.clone()));
        let online = online_spending(&program, &events, as_of, price);
        prop_assert_eq!((report.redemptions, report.redeemed, report.expired), online);
    }

    #[test]
    fn deterministic(program in program(), events in events(), as_of in as_of(), price in 0u64..80) {
        let log = EventLog::new(events.clone());
        let a = Simulation::new(&program, as_of).redeeming(price).run(&log);
        let b = Simulation::new(&program, as_of).redeeming(price).run(&EventLog::new(events));
        prop_assert_eq!(serde_json::to_string(&a).unwrap(), serde_json::to_string(&b).unwrap());
        prop_assert_eq!(a, b);
    }

    #[test]
    fn points_are_conserved(program in program(), events in events(), as_of in as_of(), price in 0u64..80) {
        let r = Simulation::new(&program, as_of)
            .redeeming(price)
            .reversing_refunds()
            .run(&EventLog::new(events));
        prop_assert!(r.is_conserved(), "{:?}", r);
        prop_assert_eq!(r.issued, r.redeemed + r.expired + r.reversed + r.outstanding);
        prop_assert_eq!(
            r.rules.iter().map(|x| x.issued).sum::<u64>()
                + r.bonuses.iter().map(|b| b.issued).sum::<u64>(),
            r.issued
        );
        prop_assert_eq!(r.liability.iter().map(|l| l.points).sum::<u64>(), r.outstanding);
        prop_assert!(r.pending <= r.outstanding);
        if price == 0 {
            prop_assert_eq!((r.redeemed, r.redemptions), (0, 0));
        } else {
            prop_assert_eq!(r.redeemed, r.redemptions * price);
        }
    }

    #[test]
    fn shards_merge_into_the_whole(
        program in program(),
        events in events(),
        as_of in as_of(),
        shard_of in vec(any::<u8>(), 6),
        shards in 1u8..4,
    ) {
        let whole = Simulation::new(&program, as_of)
            .redeeming(50)
            .reversing_refunds()
            .run(&EventLog::new(events.clone()));
        let parts = shard_reports(&program, &events, &shard_of, shards, as_of);
        // Left to right.
        let mut left = parts[0].clone();
        for p in &parts[1..] {
            prop_assert_eq!(left.merge(p), Ok(()));
        }
        prop_assert_eq!(&left, &whole);
        // Right to left: merge is associative and commutative.
        let mut right = parts[parts.len() - 1].clone();
        for p in parts[..parts.len() - 1].iter().rev() {
            let mut next = p.clone();
            prop_assert_eq!(next.merge(&right), Ok(()));
            right = next;
        }
        prop_assert_eq!(&right, &whole);
    }

    #[test]
    fn diff_signs(a in program(), b in program(), events in events(), as_of in as_of()) {
        let log = EventLog::new(events);
        let (ra, rb) = (simulate(&a, &log, as_of), simulate(&b, &log, as_of));
        let d = diff(&ra, &rb);
        let back = diff(&rb, &ra);
        for c in [d.issued, d.redeemed, d.expired, d.reversed, d.outstanding] {
            prop_assert_eq!(i128::from(c.before) + c.delta, i128::from(c.after));
        }
        prop_assert_eq!(d.issued.delta, -back.issued.delta);
        prop_assert_eq!(d.outstanding.delta, -back.outstanding.delta);
        for r in &d.rules {
            prop_assert_eq!(i128::from(r.issued.before) + r.issued.delta, i128::from(r.issued.after));
            let mirror = back.rules.iter().find(|m| m.rule == r.rule);
            prop_assert_eq!(mirror.map(|m| m.issued.delta), Some(-r.issued.delta));
        }
        prop_assert_eq!(
            d.liability.iter().map(|l| l.points.delta).sum::<i128>(),
            d.outstanding.delta
        );
        let bonus_deltas = d.bonuses.iter().map(|b| b.issued.delta).sum::<i128>();
        let rule_deltas = d.rules.iter().map(|r| r.issued.delta).sum::<i128>();
        prop_assert_eq!(rule_deltas + bonus_deltas, d.issued.delta);
        for b in &d.bonuses {
            let mirror = back.bonuses.iter().find(|m| m.bonus == b.bonus);
            prop_assert_eq!(mirror.map(|m| m.issued.delta), Some(-b.issued.delta));
        }
        for t in &d.tiers {
            prop_assert_eq!(i128::from(t.members.before) + t.members.delta, i128::from(t.members.after));
        }
        let same = diff(&ra, &ra);
        prop_assert!(same.rules.iter().all(|r| r.issued.delta == 0 && r.users_capped.delta == 0));
        prop_assert_eq!(same.issued.delta, 0);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn tiers_evaluated_daily_equal_a_host_s_daily_job(
        program in program(),
        events in events(),
        after in 0i64..30,
    ) {
        // Figures at or after the last event: the host's daily evaluations
        // (which expire lots too) then never run past `as_of`.
        let last = events.iter().map(|e| e.at).max().unwrap_or_else(t0);
        let as_of = last + TimeDelta::days(after);
        let report = Simulation::new(&program, as_of)
            .evaluating_tiers_daily()
            .run(&EventLog::new(events.clone()));
        let o = online(&program, &events, as_of, true);
        for r in &report.rules {
            let name = r.rule.to_string();
            prop_assert_eq!(r.issued, o.issued_by_rule.get(&name).copied().unwrap_or(0), "{}", name);
        }
        same_totals(&report, &o)?;
    }
}
