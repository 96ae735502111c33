//! Properties of the account engine (`growthkit::points::Account`, stepped by
//! `Program::earn`, `Program::reverse_in`, `Program::evaluate_account` and
//! `Account::redeem`) under arbitrary sequences of check-ins, lessons,
//! purchases, redeems, reversals (whole and partial), evaluations and
//! redelivered events, over programs with a points or spend ladder, streak
//! milestones, badges that grant points, and each clawback policy:
//!
//! 1. conservation: the ledger's invariant holds after every step, and every
//!    point it ever earned is a rule award or a bonus some step reported;
//! 2. a redeem never changes the tier; an earning never lowers it and a
//!    reversal never raises it; every award carries the multiplier of the
//!    tier the member held before the event; every revocation (of a tier or
//!    a badge level) names the reversal that caused it;
//! 3. a failed step changes nothing (the JSON is byte-identical), a
//!    redelivered event changes nothing anywhere, and the version moves
//!    exactly when the account does;
//! 4. the same input gives the same output;
//! 5. the account round-trips through JSON at every step, and one saved and
//!    loaded mid-sequence continues exactly like one that was not;
//! 6. any JSON for the `tiers`, `streak` and `badges` sections fails to parse
//!    or validate, or gives a program whose accounts keep the invariant;
//!    never a panic;
//! 7. a refund split into shares that add up to the whole, with other
//!    refunds between them making capped purchases up, reverses all the
//!    purchase's points (those made up for it included) and takes it off
//!    its event badge, as one whole refund does.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use growthkit::points::{Account, Portion, Program, ProgramSpec, TierReason};
use growthkit::{Event, EventId, EventKind, Money, UserId};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{Value, json};

const USER: UserId = UserId(1);

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 1, 0, 0).unwrap()
}

/// The knobs a generated program turns.
#[derive(Clone, Debug)]
struct Knobs {
    clawback: &'static str,
    spend_ladder: bool,
    grace_days: u32,
    expiry_days: Option<u32>,
    milestone: (u32, u64),
    badge_points: (u64, u64),
}

fn knobs() -> impl Strategy<Value = Knobs> {
    (
        select(vec!["clamp", "debt", "negative_balance"]),
        any::<bool>(),
        0u32..4,
        prop_oneof![Just(None), (2u32..20).prop_map(Some)],
        (1u32..5, 1u64..60),
        (0u64..40, 0u64..120),
    )
        .prop_map(
            |(clawback, spend_ladder, grace_days, expiry_days, milestone, badge_points)| Knobs {
                clawback,
                spend_ladder,
                grace_days,
                expiry_days,
                milestone,
                badge_points,
            },
        )
}

fn program(k: &Knobs) -> Program {
    let basis = if k.spend_ladder {
        r#"{ "type": "spend", "currency": "CNY" }"#
    } else {
        r#"{ "type": "points" }"#
    };
    let threshold = if k.spend_ladder { 20_000 } else { 120 };
    let grace = match k.grace_days {
        0 => r#"{ "type": "none" }"#.to_owned(),
        d => format!(r#"{{ "type": "days", "days": {d} }}"#),
    };
    let expiry = match k.expiry_days {
        None => r#"{ "type": "never" }"#.to_owned(),
        Some(d) => format!(r#"{{ "type": "after_days", "days": {d} }}"#),
    };
    let (day, points) = k.milestone;
    let (scholar, helper) = k.badge_points;
    let json = format!(
        r#"{{
        "utc_offset": "+08:00",
        "expiry": {expiry},
        "ledger": {{ "clawback": "{clawback}" }},
        "rules": [
            {{ "name": "lesson", "on": "action_completed:lesson", "reward": {{ "type": "fixed", "points": 10 }} }},
            {{ "name": "check_in", "on": "check_in", "reward": {{ "type": "fixed", "points": 5 }},
               "daily_cap": {{ "count": 1 }} }},
            {{ "name": "purchase", "on": "purchase",
               "reward": {{ "type": "per_amount", "points": 1, "per_minor": 100, "rounding": "down" }} }}
        ],
        "tiers": {{ "basis": {basis}, "window": {{ "type": "rolling_days", "days": 14 }}, "grace": {grace},
                   "tiers": [ {{ "name": "member", "threshold": 0 }},
                              {{ "name": "gold", "threshold": {threshold}, "multiplier": 1.5 }} ] }},
        "streak": {{ "milestones": [ {{ "day": {day}, "points": {points}, "repeat_every": 3 }} ],
                    "make_up": {{ "per_month": 1 }} }},
        "badges": {{ "badges": [
            {{ "name": "scholar", "counter": {{ "type": "events", "on": "action_completed:lesson" }},
               "levels": [ {{ "name": "bronze", "at": 2, "points": {scholar} }},
                           {{ "name": "silver", "at": 4, "points": {scholar} }} ] }},
            {{ "name": "helper", "counter": {{ "type": "points" }},
               "levels": [ {{ "name": "gold", "at": 100, "points": {helper} }} ] }},
            {{ "name": "regular", "counter": {{ "type": "streak" }},
               "levels": [ {{ "at": 3, "points": 7 }} ] }}
        ] }}
    }}"#,
        clawback = k.clawback
    );
    serde_json::from_str::<ProgramSpec>(&json)
        .unwrap()
        .validate()
        .unwrap()
}

#[derive(Clone, Debug)]
enum Op {
    CheckIn,
    Lesson,
    Purchase(i64),
    Redeem(u64),
    /// Reverse the n-th event earned so far (modulo), wholly or a share.
    Reverse(usize, Option<(u64, u64)>),
    Evaluate,
    /// Deliver the n-th event again.
    Repeat(usize),
}

fn op() -> impl Strategy<Value = (u32, Op)> {
    let op = prop_oneof![
        3 => Just(Op::CheckIn),
        3 => Just(Op::Lesson),
        2 => (-50i64..400).prop_map(Op::Purchase),
        2 => (1u64..200).prop_map(Op::Redeem),
        2 => (any::<usize>(), prop_oneof![Just(None), (0u64..4, 1u64..4).prop_map(Some)])
            .prop_map(|(i, s)| Op::Reverse(i, s)),
        1 => Just(Op::Evaluate),
        1 => any::<usize>().prop_map(Op::Repeat),
    ];
    // Minutes to the next step: mostly the same day, sometimes days later.
    (
        prop_oneof![3 => 0u32..600, 2 => 1_000u32..3_000, 1 => 3_000u32..20_000],
        op,
    )
}

/// The member's rung on the ladder, base 0.
fn rank(p: &Program, a: &Account) -> usize {
    let (Some(ladder), Some(status)) = (p.tier_ladder(), a.tier()) else {
        return 0;
    };
    ladder
        .tiers()
        .iter()
        .position(|t| t.name == *status.tier())
        .unwrap()
}

/// What one step returned, as JSON, for determinism.
type Trace = Vec<String>;

/// Runs `ops`, checking the per-step properties; returns the final account
/// and the trace of results. With `reload_at`, the account is saved and
/// loaded at that step.
fn run(p: &Program, ops: &[(u32, Op)], reload_at: Option<usize>) -> (Account, Trace) {
    let mut a = p.open_account(USER, t0());
    let mut now = t0();
    let mut events: Vec<Event> = Vec::new();
    let mut trace = Vec::new();
    let mut credited = 0u64;
    for (step, (minutes, op)) in ops.iter().enumerate() {
        if reload_at == Some(step) {
            a = serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
        }
        now += TimeDelta::minutes(i64::from(*minutes));
        let before = serde_json::to_string(&a).unwrap();
        let tier_before = a.tier().cloned();
        let version = a.version();
        let id = EventId(events.len() as u64);
        let new_event = |kind| Event::new(id, USER, now, kind);
        let (result, changed): (Result<String, String>, bool) = match op {
            Op::CheckIn | Op::Lesson | Op::Purchase(_) => {
                let kind = match op {
                    Op::CheckIn => EventKind::CheckIn { community: None },
                    Op::Lesson => EventKind::ActionCompleted {
                        action: "lesson".into(),
                    },
                    Op::Purchase(yuan) => EventKind::Purchase {
                        amount: Money::new(yuan * 100, "CNY".parse().unwrap()),
                    },
                    _ => unreachable!(),
                };
                let event = new_event(kind);
                events.push(event.clone());
                let held = rank(p, &a);
                let multiplier = p
                    .tier_ladder()
                    .zip(a.tier())
                    .and_then(|(l, s)| l.multiplier(s).ok());
                match p.earn(&mut a, &event, None) {
                    Ok(out) => {
                        assert!(rank(p, &a) >= held, "an earning lowered the tier");
                        for award in &out.earned.awards {
                            assert_eq!(award.tier_multiplier, multiplier);
                        }
                        let bonuses: u64 = out.bonuses.iter().map(|b| b.points).sum();
                        assert_eq!(out.bonus_total, bonuses);
                        credited += out.earned.total + out.bonus_total;
                        (Ok(serde_json::to_string(&out).unwrap()), true)
                    }
                    Err(e) => (Err(e.to_string()), false),
                }
            }
            Op::Redeem(points) => {
                let key = format!("order-{step}").into();
                let r = a.redeem(key, *points, now).map(|r| r.to_redemption());
                assert_eq!(a.tier().cloned(), tier_before, "a redeem changed the tier");
                let ok = r.is_ok();
                (
                    r.map(|r| serde_json::to_string(&r).unwrap())
                        .map_err(|e| e.to_string()),
                    ok,
                )
            }
            Op::Reverse(i, share) => {
                if events.is_empty() {
                    continue;
                }
                let source = events[i % events.len()].id;
                let portion = match share {
                    None => Portion::Whole {},
                    Some((numerator, denominator)) => Portion::Share {
                        numerator: *numerator,
                        denominator: *denominator,
                    },
                };
                let key = format!("refund-{step}").into();
                let held = rank(p, &a);
                let result = p.reverse_in(&mut a, key, source, portion, now);
                // Only awards a cap had cut, made up from the room the
                // reversal gave back, can lift a member.
                let made_up = result.as_ref().map_or(0, |r| {
                    r.reversal.made_up.iter().map(|m| m.points).sum::<u64>()
                });
                assert!(
                    made_up > 0 || rank(p, &a) <= held,
                    "a reversal raised the tier"
                );
                match result {
                    Ok(r) => {
                        if !r.repeated {
                            // What was made up, and the bonuses of the badge
                            // levels it reached.
                            credited += made_up + r.badges.points;
                        }
                        // Every revocation gives the reversal as its reason;
                        // only made-up points reach a tier. The outcome names
                        // the tier the reversal leaves.
                        let reason = format!("refund-{step} reversed {source}");
                        if let Some(change) = r.tier.as_ref().and_then(|t| t.change.as_ref()) {
                            assert!(
                                matches!(&change.reason, TierReason::Revoked { reason: why, .. } if why.as_str() == reason)
                                    || (made_up > 0
                                        && matches!(change.reason, TierReason::Reached { .. })),
                                "{change}"
                            );
                        }
                        if let (Some(out), false) = (&r.tier, r.repeated) {
                            assert_eq!(Some(&out.tier), a.tier().map(|s| s.tier()));
                        }
                        for revoked in &r.badges.revoked {
                            assert_eq!(revoked.reason.as_str(), reason);
                        }
                        // A revoked level's points go back through the ledger.
                        let back: u64 = r.bonus_reversals.iter().map(|b| b.points).sum();
                        assert!(back <= r.badges.points_revoked);
                        (Ok(serde_json::to_string(&r).unwrap()), !r.repeated)
                    }
                    Err(e) => (Err(e.to_string()), false),
                }
            }
            Op::Evaluate => match p.evaluate_account(&mut a, now) {
                Ok(e) => (Ok(serde_json::to_string(&e).unwrap()), true),
                Err(e) => (Err(e.to_string()), false),
            },
            Op::Repeat(i) => {
                if events.is_empty() {
                    continue;
                }
                let event = events[i % events.len()].clone();
                let r = p.earn(&mut a, &event, None);
                if let Ok(out) = &r {
                    assert!(out.earned.duplicate, "a redelivered event earned again");
                }
                assert_eq!(
                    serde_json::to_string(&a).unwrap(),
                    before,
                    "a redelivered event changed the account"
                );
                (
                    r.map(|o| serde_json::to_string(&o).unwrap())
                        .map_err(|e| e.to_string()),
                    false,
                )
            }
        };
        let after = serde_json::to_string(&a).unwrap();
        if !changed {
            assert_eq!(
                after, before,
                "a failed or repeated step changed the account"
            );
            assert_eq!(a.version(), version);
        } else if after != before {
            assert!(
                a.version() > version,
                "the account changed, its version did not"
            );
        }
        // Conservation, at the step's instant.
        let l = a.ledger();
        assert_eq!(l.check(), Ok(()));
        let s = l.totals(now);
        assert_eq!(
            s.earned,
            s.spendable + s.pending + s.due + s.held + s.redeemed + s.expired + s.reversed
        );
        assert_eq!(l.earned(), credited, "a point came from nowhere");
        // The JSON round trip.
        let back: Account = serde_json::from_str(&after).unwrap();
        assert_eq!(back, a);
        trace.push(match result {
            Ok(s) => s,
            Err(e) => format!("error: {e}"),
        });
    }
    (a, trace)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Properties 1 to 3 (checked inside `run` at every step) and 4.
    #[test]
    fn accounts_conserve_points_and_are_deterministic(k in knobs(), ops in vec(op(), 1..60)) {
        let p = program(&k);
        let (first, trace) = run(&p, &ops, None);
        let (second, again) = run(&p, &ops, None);
        prop_assert_eq!(&first, &second);
        prop_assert_eq!(trace, again);
    }

    /// Property 5: saved and loaded mid-sequence, it continues the same.
    #[test]
    fn a_reloaded_account_continues_the_same(
        k in knobs(),
        ops in vec(op(), 1..40),
        at in any::<prop::sample::Index>(),
    ) {
        let p = program(&k);
        let (straight, trace) = run(&p, &ops, None);
        let (reloaded, again) = run(&p, &ops, Some(at.index(ops.len())));
        prop_assert_eq!(&straight, &reloaded);
        prop_assert_eq!(trace, again);
    }
}

/// A JSON section value drawn from good and bad fragments.
fn section() -> impl Strategy<Value = (Value, Value, Value)> {
    let tiers = select(vec![
        Value::Null,
        json!({ "basis": { "type": "points" }, "window": { "type": "rolling_days", "days": 7 },
                "tiers": [ { "name": "m", "threshold": 0 }, { "name": "g", "threshold": 20, "multiplier": 2 } ] }),
        json!({ "basis": { "type": "spend", "currency": "CNY" }, "window": { "type": "anniversary_year" },
                "grace": { "type": "until_anniversary" },
                "tiers": [ { "name": "m", "threshold": 0 }, { "name": "g", "threshold": 100 } ] }),
        json!({ "basis": { "type": "points" }, "window": { "type": "rolling_days", "days": 0 },
                "tiers": [ { "name": "m", "threshold": 0 } ] }),
        json!({ "basis": { "type": "points" }, "window": { "type": "anniversary_year" },
                "tiers": [ { "name": "m", "threshold": 5 } ] }),
        json!({ "basis": { "type": "points" }, "window": { "type": "anniversary_year" }, "tiers": [] }),
        json!({ "basis": { "type": "karma" }, "window": { "type": "anniversary_year" }, "tiers": [] }),
        json!([1, 2]),
    ]);
    let streak = select(vec![
        Value::Null,
        json!({}),
        json!({ "on": ["visited", "check_in"], "milestones": [ { "day": 2, "points": 3, "repeat_every": 2 } ] }),
        json!({ "on": [] }),
        json!({ "on": ["nope"] }),
        json!({ "milestones": [ { "day": 3, "points": 1 }, { "day": 2, "points": 1 } ] }),
        json!({ "milestones": [ { "day": 1, "points": 18446744073709551615u64 } ] }),
        json!({ "make_up": { "per_month": 99 } }),
        json!({ "bonus": 1 }),
    ]);
    let badges = select(vec![
        Value::Null,
        json!({ "badges": [ { "name": "b", "counter": { "type": "points" }, "levels": [ { "at": 1, "points": 4 } ] } ] }),
        json!({ "badges": [ { "name": "v", "counter": { "type": "events", "on": "visited" },
                              "levels": [ { "at": 2, "points": 18446744073709551615u64 } ] } ] }),
        json!({ "badges": [ { "name": "s", "counter": { "type": "streak" }, "levels": [ { "at": 2, "points": 1 }, { "at": 2 } ] } ] }),
        json!({ "badges": [] }),
        json!({ "badges": [ { "name": "x", "counter": { "type": "events", "on": "visited:x" }, "levels": [ { "at": 1 } ] } ] }),
    ]);
    (tiers, streak, badges)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Property 6.
    #[test]
    fn any_sections_give_an_error_or_a_working_program(
        (tiers, streak, badges) in section(),
        kinds in vec(select(vec!["visited", "check_in", "purchase"]), 0..12),
    ) {
        let mut spec = json!({ "rules": [
            { "name": "visit", "on": "visited", "reward": { "type": "fixed", "points": 3 } },
            { "name": "check_in", "on": "check_in", "reward": { "type": "fixed", "points": 5 } },
            { "name": "purchase", "on": "purchase", "reward": { "type": "fixed", "points": 9 } } ] });
        for (name, value) in [("tiers", tiers), ("streak", streak), ("badges", badges)] {
            if !value.is_null() {
                spec[name] = value;
            }
        }
        let Ok(spec) = serde_json::from_value::<ProgramSpec>(spec) else { return Ok(()) };
        let Ok(p) = spec.validate() else { return Ok(()) };
        let mut a = p.open_account(USER, t0());
        for (i, kind) in kinds.iter().enumerate() {
            let at = t0() + TimeDelta::hours(20 * i as i64);
            let kind = match *kind {
                "visited" => EventKind::Visited,
                "check_in" => EventKind::CheckIn { community: None },
                _ => EventKind::Purchase { amount: Money::new(5_000, "CNY".parse().unwrap()) },
            };
            let before = serde_json::to_string(&a).unwrap();
            if p.earn(&mut a, &Event::new(EventId(i as u64), USER, at, kind), None).is_err() {
                prop_assert_eq!(serde_json::to_string(&a).unwrap(), before);
            }
            prop_assert_eq!(a.ledger().check(), Ok(()));
        }
    }
}

/// A purchase rule (1 point per ¥1) under a daily cap, `points` or a
/// count, and a badge counting purchases.
fn capped_shop(points_cap: bool, cap: u64) -> Program {
    let cap = match points_cap {
        true => format!(r#"{{ "points": {cap} }}"#),
        false => format!(r#"{{ "count": {cap} }}"#),
    };
    let json = format!(
        r#"{{ "utc_offset": "+08:00", "ledger": {{ "reversible_awards": 16 }},
             "rules": [ {{ "name": "buy", "on": "purchase",
               "reward": {{ "type": "per_amount", "points": 1, "per_minor": 100, "rounding": "down" }},
               "daily_cap": {cap} }} ],
             "tiers": {{ "basis": {{ "type": "points" }}, "window": {{ "type": "rolling_days", "days": 30 }},
                        "tiers": [ {{ "name": "member", "threshold": 0 }},
                                   {{ "name": "gold", "threshold": 100, "multiplier": 2 }} ] }},
             "badges": {{ "badges": [ {{ "name": "buyer", "counter": {{ "type": "events", "on": "purchase" }},
                 "levels": [ {{ "at": 2, "points": 5 }} ] }} ] }} }}"#
    );
    serde_json::from_str::<ProgramSpec>(&json)
        .unwrap()
        .validate()
        .unwrap()
}

/// Purchases of `yuan` a minute apart, one day; then the refund of purchase
/// `source` in `shares` (`None`: whole), with the whole refunds `others`
/// (purchase, after how many of the shares) between them. The account and
/// what is left of the source's points.
fn refund_in_shares(
    p: &Program,
    yuan: &[i64],
    source: usize,
    shares: Option<&[u64]>,
    others: &[(usize, usize)],
) -> (Account, u64) {
    let t0 = t0();
    let mut a = p.open_account(USER, t0);
    for (i, y) in yuan.iter().enumerate() {
        let at = t0 + TimeDelta::minutes(i as i64);
        let kind = EventKind::Purchase {
            amount: Money::new(y * 100, "CNY".parse().unwrap()),
        };
        p.earn(&mut a, &Event::new(EventId(i as u64), USER, at, kind), None)
            .unwrap();
    }
    let whole = [1];
    let parts = shares.unwrap_or(&whole);
    let denominator: u64 = parts.iter().sum();
    let mut now = t0 + TimeDelta::hours(1);
    let mut step = 0;
    let mut refund = |a: &mut Account, id: usize, portion: Portion| {
        now += TimeDelta::minutes(1);
        step += 1;
        let key = format!("refund-{step}").into();
        let r = p.reverse_in(a, key, EventId(id as u64), portion, now);
        if let Ok(r) = &r {
            assert_eq!(r.tier.as_ref().map(|t| &t.tier), a.tier().map(|s| s.tier()));
        }
        r.is_ok()
    };
    for at in 0..=parts.len() {
        for &(other, after) in others {
            if after % (parts.len() + 1) == at && other % yuan.len() != source {
                let _ = refund(&mut a, other % yuan.len(), Portion::Whole {});
            }
        }
        if let Some(&numerator) = parts.get(at) {
            let portion = match shares {
                Some(_) => Portion::Share {
                    numerator,
                    denominator,
                },
                None => Portion::Whole {},
            };
            assert!(refund(&mut a, source, portion), "a share was refused");
        }
    }
    assert_eq!(a.ledger().check(), Ok(()));
    let left = a
        .ledger()
        .lots()
        .iter()
        .filter(|l| l.source == EventId(source as u64))
        .map(|l| l.remaining)
        .sum();
    (a, left)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Property 7.
    #[test]
    fn shares_of_a_refund_add_up_to_the_whole_refund(
        points_cap in any::<bool>(),
        cap in 1u64..4,
        yuan in vec(1i64..120, 2..6),
        source in any::<prop::sample::Index>(),
        shares in vec(1u64..5, 1..5),
        others in vec((any::<usize>(), any::<usize>()), 0..4),
    ) {
        let p = capped_shop(points_cap, if points_cap { cap * 40 } else { cap });
        let source = source.index(yuan.len());
        let (split, left) = refund_in_shares(&p, &yuan, source, Some(&shares), &others);
        let (whole, left_whole) = refund_in_shares(&p, &yuan, source, None, &others);
        prop_assert_eq!((left, left_whole), (0, 0));
        let id = EventId(source as u64);
        for a in [&split, &whole] {
            let l = a.ledger();
            prop_assert!(l.earnings().filter(|e| e.source == id).all(|e| e.reversed == e.points));
            prop_assert!(l.cut_awards().all(|c| c.source != id));
        }
        let count = |a: &Account| a.badges().progress("buyer").map(|p| p.count);
        prop_assert_eq!(count(&split), count(&whole));
        // Once more is one refund too many.
        let again = p.reverse_in(&mut split.clone(), "again".into(), id, Portion::Whole {}, t0() + TimeDelta::days(1));
        prop_assert!(again.is_err());
    }
}
