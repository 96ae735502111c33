use super::*;
use crate::points::fixtures::{day, share, t};
use crate::points::{PointsError, ProgramSpec, TierReason};
use chrono::{TimeDelta, TimeZone};

const USER: UserId = UserId(1);

fn program(json: &str) -> Program {
    let spec: ProgramSpec = serde_json::from_str(json).unwrap_or_else(|e| unreachable!("{e}"));
    spec.validate().unwrap_or_else(|e| unreachable!("{e}"))
}

fn invalid(json: &str) -> String {
    let spec: ProgramSpec = serde_json::from_str(json).unwrap_or_else(|e| unreachable!("{e}"));
    spec.validate()
        .map(|_| ())
        .map_err(|e| e.to_string())
        .err()
        .unwrap_or_default()
}

fn check_in(id: u64, at: DateTime<Utc>) -> Event {
    Event::new(
        EventId(id),
        USER,
        at,
        EventKind::CheckIn { community: None },
    )
}

fn lesson(id: u64, at: DateTime<Utc>) -> Event {
    let kind = EventKind::ActionCompleted {
        action: "lesson".into(),
    };
    Event::new(EventId(id), USER, at, kind)
}

fn purchase(id: u64, yuan: i64, at: DateTime<Utc>) -> Event {
    let cny = "CNY".parse().unwrap_or_else(|_| unreachable!());
    let kind = EventKind::Purchase {
        amount: crate::event::Money::new(yuan * 100, cny),
    };
    Event::new(EventId(id), USER, at, kind)
}

fn earn(p: &Program, a: &mut Account, e: &Event) -> AccountOutcome {
    p.earn(a, e, None).unwrap_or_else(|e| unreachable!("{e}"))
}

fn json(a: &Account) -> String {
    serde_json::to_string(a).unwrap_or_else(|e| unreachable!("{e}"))
}

fn statement(a: &Account) -> Vec<String> {
    a.ledger().statement().map(ToString::to_string).collect()
}

/// Lessons (10), check-ins (10) and purchases (1 per ¥1); a points ladder
/// with gold at 100 (×1.5); a day-7 milestone; a points badge and a lesson badge.
const SCHOOL: &str = r#"{
    "utc_offset": "+08:00",
    "rules": [
        { "name": "lesson", "on": "action_completed:lesson", "reward": { "type": "fixed", "points": 10 } },
        { "name": "check_in", "on": "check_in", "reward": { "type": "fixed", "points": 10 } },
        { "name": "purchase", "on": "purchase",
          "reward": { "type": "per_amount", "points": 1, "per_minor": 100, "rounding": "down" } }
    ],
    "tiers": { "basis": { "type": "points" }, "window": { "type": "rolling_days", "days": 30 },
               "grace": { "type": "days", "days": 7 },
               "tiers": [ { "name": "member", "threshold": 0 },
                          { "name": "gold", "threshold": 100, "multiplier": 1.5 } ] },
    "streak": { "milestones": [ { "day": 7, "points": 50 } ] },
    "badges": { "badges": [
        { "name": "helper", "counter": { "type": "points" },
          "levels": [ { "name": "gold", "at": 100, "points": 100 } ] },
        { "name": "scholar", "counter": { "type": "events", "on": "action_completed:lesson" },
          "levels": [ { "name": "bronze", "at": 2, "points": 20 } ] }
    ] }
}"#;

#[test]
fn gold_multiplies_a_lesson_by_one_and_a_half() {
    let p = program(SCHOOL);
    let mut a = p.open_account(USER, t(0));
    let first = earn(&p, &mut a, &lesson(1, t(0)));
    assert_eq!(first.earned.total, 10);
    assert_eq!(
        first.earned.awards[0]
            .tier_multiplier
            .map(|m| m.to_string()),
        Some("×1".into())
    );
    // ¥100 reaches gold at once; the upgrade applies from the next event.
    let bought = earn(&p, &mut a, &purchase(2, 100, t(1)));
    assert_eq!(bought.earned.total, 100);
    let change = bought.tier.and_then(|t| t.change);
    assert_eq!(
        change.map(|c| c.to_string()),
        Some("member → gold: 110 qualifying reached the threshold 100".into())
    );
    let next = earn(&p, &mut a, &lesson(3, t(2)));
    assert_eq!(next.earned.total, 15);
    assert_eq!(next.earned.awards[0].multiplied, 15);
    assert_eq!(a.tier().map(|s| s.tier().as_str()), Some("gold"));
    assert_conserved(&a, t(2));
}

#[test]
fn the_day_seven_milestone_is_credited_once() {
    let p = program(SCHOOL);
    let mut a = p.open_account(USER, t(0));
    let mut bonuses = Vec::new();
    for i in 0..7 {
        let out = earn(&p, &mut a, &check_in(i, day(i as i64)));
        bonuses.extend(out.bonuses);
    }
    assert_eq!(bonuses.len(), 1);
    assert_eq!(bonuses[0].to_string(), "+50 streak day 7");
    // Again the same local day, and the day after: no second bonus.
    let same_day = earn(&p, &mut a, &check_in(7, day(6) + TimeDelta::hours(1)));
    let next_day = earn(&p, &mut a, &check_in(8, day(7)));
    assert!(same_day.bonuses.is_empty() && next_day.bonuses.is_empty());
    assert_eq!(
        same_day.check_in.map(|c| c.kind),
        Some(CheckInKind::SameDay)
    );
    assert_eq!(a.streak().current(), 8);
    assert!(
        statement(&a).contains(&"2026-03-07 00:00:00 UTC +50 streak day 7 (event#6)".to_owned())
    );
    // 9 check-ins of 10 and one bonus of 50.
    assert_eq!(a.ledger().earned(), 90 + 50);
    assert_conserved(&a, day(7));
}

#[test]
fn a_badge_grant_is_credited_with_its_points() {
    let p = program(SCHOOL);
    let mut a = p.open_account(USER, t(0));
    earn(&p, &mut a, &lesson(1, t(0)));
    let second = earn(&p, &mut a, &lesson(2, t(1)));
    assert_eq!(second.bonus_total, 20);
    assert_eq!(second.badges.granted.len(), 1);
    assert_eq!(
        second
            .entries
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        [
            "2026-03-01 00:01:00 UTC +10 lesson (event#2)",
            "2026-03-01 00:01:00 UTC +20 badge scholar bronze (event#2)",
        ]
    );
    assert_eq!(a.badges().level("scholar"), 1);
    // 100 rule points earn helper gold (bonus points do not count for it).
    let big = earn(&p, &mut a, &purchase(3, 80, t(2)));
    assert_eq!(
        big.bonuses
            .iter()
            .map(|b| b.rule.as_str())
            .collect::<Vec<_>>(),
        ["badge helper gold"]
    );
    assert_eq!(a.ledger().earned(), 10 + 10 + 20 + 80 + 100);
    assert!(
        statement(&a)
            .contains(&"2026-03-01 00:02:00 UTC +100 badge helper gold (event#3)".to_owned())
    );
    assert_conserved(&a, t(2));
}

#[test]
fn a_refund_revokes_the_tier_and_the_badge_its_points_reached() {
    let p = program(SCHOOL);
    let mut a = p.open_account(USER, t(0));
    earn(&p, &mut a, &lesson(1, t(0)));
    let bought = earn(&p, &mut a, &purchase(2, 100, t(1)));
    assert_eq!(bought.bonuses.len(), 1, "helper gold at 110 points");
    assert_eq!(a.ledger().available(), 10 + 100 + 100);
    let back = p
        .reverse_in(
            &mut a,
            "refund-2".into(),
            EventId(2),
            Portion::Whole {},
            t(5),
        )
        .unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(back.reversal.points, 100);
    let change = back.tier.as_ref().and_then(|t| t.change.clone());
    assert_eq!(
        change.as_ref().map(|c| &c.reason),
        Some(&TierReason::Revoked {
            reason: "refund-2 reversed event#2".into(),
            qualifying: 10,
            threshold: 100,
        })
    );
    assert_eq!(a.tier().map(|s| s.tier().as_str()), Some("member"));
    assert_eq!(
        back.badges
            .revoked
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["helper gold (level 1) revoked (refund-2 reversed event#2): 10 is below 100, -100 points"]
    );
    // The badge's points went back through the ledger.
    assert_eq!(back.bonus_reversals.len(), 1);
    assert_eq!(back.bonus_reversals[0].taken_back, 100);
    assert_eq!((a.ledger().available(), a.ledger().reversed()), (10, 200));
    let lines = statement(&a);
    assert!(lines.contains(
        &"2026-03-01 00:05:00 UTC −100 reversed event#2 (refund-2/badge helper level 1)".to_owned()
    ));
    assert_eq!(a.badges().level("helper"), 0);
    assert_conserved(&a, t(5));

    // The retry returns the first result and changes nothing.
    let snapshot = json(&a);
    let again = p
        .reverse_in(
            &mut a,
            "refund-2".into(),
            EventId(2),
            Portion::Whole {},
            t(9),
        )
        .unwrap_or_else(|e| unreachable!("{e}"));
    assert!(again.repeated && again.reversal.repeated);
    assert_eq!(again.tier, back.tier);
    assert_eq!(json(&a), snapshot);
}

#[test]
fn points_a_reversal_makes_up_count_towards_the_tier_and_badges() {
    // One lesson a day earns; gold at 20 qualifying points; a badge at 20.
    let p = program(
        r#"{ "utc_offset": "+08:00",
             "rules": [{ "name": "lesson", "on": "action_completed:lesson",
                         "reward": { "type": "fixed", "points": 20 }, "daily_cap": { "count": 1 } }],
             "tiers": { "basis": { "type": "points" }, "window": { "type": "rolling_days", "days": 30 },
                        "tiers": [ { "name": "member", "threshold": 0 },
                                   { "name": "gold", "threshold": 20 } ] },
             "badges": { "badges": [{ "name": "keen", "counter": { "type": "points" },
                                      "levels": [ { "name": "one", "at": 20 } ] }] } }"#,
    );
    let mut a = p.open_account(USER, t(0));
    earn(&p, &mut a, &lesson(1, t(0)));
    assert_eq!(earn(&p, &mut a, &lesson(2, t(1))).earned.total, 0);
    let gold = |a: &Account| a.tier().map(|s| s.tier().as_str().to_owned());
    assert_eq!(gold(&a).as_deref(), Some("gold"));
    // The first lesson is reversed: the second one's 20 points are made up,
    // and the member is gold (and keen) on them.
    let back = p
        .reverse_in(&mut a, "undo-1".into(), EventId(1), Portion::Whole {}, t(5))
        .unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(back.reversal.made_up.len(), 1);
    assert_eq!(gold(&a).as_deref(), Some("gold"));
    assert_eq!(a.badges().level("keen"), 1);
    assert_eq!(a.ledger().balance(t(5)), 20);
    // Reversing the second lesson takes its made-up points back, from the
    // tier too.
    let back = p
        .reverse_in(&mut a, "undo-2".into(), EventId(2), Portion::Whole {}, t(6))
        .unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(back.reversal.points, 20);
    assert_eq!(gold(&a).as_deref(), Some("member"));
    assert_eq!(a.ledger().balance(t(6)), 0);
    assert_conserved(&a, t(6));
}

/// One purchase a day earns (1 point per ¥1); `tiers` above member at 0.
fn one_purchase_a_day(tiers: &str) -> Program {
    program(&format!(
        r#"{{ "utc_offset": "+08:00", "ledger": {{ "reversible_awards": 16 }},
             "rules": [{{ "name": "buy", "on": "purchase",
                         "reward": {{ "type": "per_amount", "points": 1, "per_minor": 100, "rounding": "down" }},
                         "daily_cap": {{ "count": 1 }} }}],
             "tiers": {{ "basis": {{ "type": "points" }}, "window": {{ "type": "rolling_days", "days": 30 }},
                        "tiers": [ {{ "name": "member", "threshold": 0 }}, {tiers} ] }} }}"#
    ))
}

#[test]
fn a_reversal_s_tier_outcome_is_the_tier_its_made_up_points_leave() {
    // Gold at 100, ×2. The first purchase reaches gold; the second, that
    // day, is capped at nothing, its claim 300 (¥150 at gold's ×2).
    let p = one_purchase_a_day(r#"{ "name": "gold", "threshold": 100, "multiplier": 2 }"#);
    let mut a = p.open_account(USER, t(0));
    earn(&p, &mut a, &purchase(1, 100, t(0)));
    assert_eq!(earn(&p, &mut a, &purchase(2, 150, t(5))).earned.total, 0);
    // The first is refunded: gold is revoked, then the second is made up
    // at its claim, the multiplier it was earned at included, and its 300
    // points reach gold again. The outcome says so: gold, ×2, no change.
    let back = p
        .reverse_in(
            &mut a,
            "refund-1".into(),
            EventId(1),
            Portion::Whole {},
            t(60),
        )
        .unwrap_or_else(|e| unreachable!("{e}"));
    let made: Vec<(EventId, u64)> = back
        .reversal
        .made_up
        .iter()
        .map(|m| (m.source, m.points))
        .collect();
    assert_eq!(made, [(EventId(2), 300)]);
    let out = back.tier.unwrap_or_else(|| unreachable!());
    assert_eq!(Some(&out.tier), a.tier().map(|s| s.tier()));
    assert_eq!(
        (
            out.tier.as_str(),
            out.multiplier.to_string(),
            out.qualifying
        ),
        ("gold", "×2".to_owned(), 300)
    );
    assert_eq!((out.counted, out.change), (100, None));
    // Gold to silver: revoked, and the made-up points reach silver only.
    let p = one_purchase_a_day(
        r#"{ "name": "silver", "threshold": 100 },
           { "name": "gold", "threshold": 200, "multiplier": 2 }"#,
    );
    let mut a = p.open_account(USER, t(0));
    earn(&p, &mut a, &purchase(1, 200, t(0)));
    earn(&p, &mut a, &purchase(2, 60, t(5)));
    let back = p
        .reverse_in(
            &mut a,
            "refund-1".into(),
            EventId(1),
            Portion::Whole {},
            t(60),
        )
        .unwrap_or_else(|e| unreachable!("{e}"));
    let out = back.tier.unwrap_or_else(|| unreachable!());
    assert_eq!((out.tier.as_str(), out.qualifying), ("silver", 120));
    assert_eq!(a.tier().map(|s| s.tier().as_str()), Some("silver"));
    let change = out.change.unwrap_or_else(|| unreachable!());
    assert_eq!(
        (change.from.as_str(), change.to.as_str()),
        ("gold", "silver")
    );
    assert!(
        matches!(&change.reason, TierReason::Revoked { reason, .. } if reason.as_str() == "refund-1 reversed event#1"),
        "{change}"
    );
    assert_conserved(&a, t(60));
}

#[test]
fn a_reversal_reports_the_tier_its_made_up_points_reach() {
    let p = one_purchase_a_day(r#"{ "name": "gold", "threshold": 100, "multiplier": 2 }"#);
    let mut a = p.open_account(USER, t(0));
    earn(&p, &mut a, &purchase(1, 50, t(0)));
    earn(&p, &mut a, &purchase(2, 150, t(5)));
    let back = p
        .reverse_in(
            &mut a,
            "refund-1".into(),
            EventId(1),
            Portion::Whole {},
            t(60),
        )
        .unwrap_or_else(|e| unreachable!("{e}"));
    let out = back.tier.unwrap_or_else(|| unreachable!());
    assert_eq!((out.tier.as_str(), out.counted), ("gold", 50));
    let change = out.change.unwrap_or_else(|| unreachable!());
    assert_eq!(
        change.to_string(),
        "member → gold: 150 qualifying reached the threshold 100"
    );
    assert_eq!(a.tier().map(|s| s.tier().as_str()), Some("gold"));
}

#[test]
fn a_purchase_refunded_in_halves_with_a_make_up_between_leaves_nothing() {
    // One purchase a day earns; a badge counts purchases.
    let p = program(
        r#"{ "utc_offset": "+08:00", "ledger": { "reversible_awards": 16 },
             "rules": [ { "name": "buy", "on": "purchase",
               "reward": { "type": "per_amount", "points": 1, "per_minor": 100, "rounding": "down" },
               "daily_cap": { "count": 1 } } ],
             "badges": { "badges": [ { "name": "buyer", "counter": { "type": "events", "on": "purchase" },
                 "levels": [ { "at": 2, "points": 5 } ] } ] } }"#,
    );
    let mut a = p.open_account(USER, t(0));
    earn(&p, &mut a, &purchase(1, 10, t(0)));
    assert_eq!(earn(&p, &mut a, &purchase(2, 50, t(1))).earned.total, 0);
    let half = share(1, 2);
    let reverse = |a: &mut Account, key: &str, id: u64, portion: Portion, at: i64| {
        p.reverse_in(a, key.into(), EventId(id), portion, t(at))
            .unwrap_or_else(|e| unreachable!("{e}"))
    };
    reverse(&mut a, "r2a", 2, half, 2);
    // The first purchase is refunded: the half of the second left is made
    // up (25 points), and its bonus is gone with the first purchase.
    let r = reverse(&mut a, "r1", 1, Portion::Whole {}, 3);
    assert_eq!(r.reversal.made_up.iter().map(|m| m.points).sum::<u64>(), 25);
    // The other half of the second takes all of it, and the purchase.
    let r = reverse(&mut a, "r2b", 2, half, 4);
    assert_eq!(r.reversal.points, 25);
    let left: u64 = a
        .ledger()
        .lots()
        .iter()
        .filter(|l| l.source == EventId(2))
        .map(|l| l.remaining)
        .sum();
    let buyer = a.badges().progress("buyer").map(|p| p.count);
    assert_eq!((left, buyer), (0, Some(0)));
    assert_eq!(a.ledger().balance(t(4)), 0);
    let again = p.reverse_in(&mut a, "r2c".into(), EventId(2), half, t(5));
    assert!(matches!(
        again,
        Err(AccountError::Points(PointsError::AlreadyReversed { .. }))
    ));
    assert_conserved(&a, t(5));
}

#[test]
fn a_retry_the_ledger_still_recognises_gets_the_account_s_whole_first_answer() {
    // The first refund revokes the tier; as many other reversals follow as
    // the ledger remembers keys for, less one, so its key is still known.
    let p = program(SCHOOL);
    let mut a = p.open_account(USER, t(0));
    earn(&p, &mut a, &lesson(1, t(0)));
    earn(&p, &mut a, &purchase(2, 100, t(1)));
    let first = p
        .reverse_in(
            &mut a,
            "refund-2".into(),
            EventId(2),
            Portion::Whole {},
            t(5),
        )
        .unwrap_or_else(|e| unreachable!("{e}"));
    assert!(first.tier.as_ref().is_some_and(|t| t.change.is_some()));
    let others = crate::points::ledger::REMEMBERED_KEYS as u64 - 1;
    for i in 0..others {
        let id = 100 + i;
        earn(&p, &mut a, &lesson(id, t(6)));
        let key = format!("other-{i}");
        let done = p.reverse_in(
            &mut a,
            key.as_str().into(),
            EventId(id),
            Portion::Whole {},
            t(7),
        );
        assert!(done.is_ok_and(|r| !r.repeated));
    }
    let snapshot = json(&a);
    let again = p
        .reverse_in(
            &mut a,
            "refund-2".into(),
            EventId(2),
            Portion::Whole {},
            t(9),
        )
        .unwrap_or_else(|e| unreachable!("{e}"));
    assert!(again.repeated && again.reversal.repeated);
    assert_eq!((again.tier, again.badges), (first.tier, first.badges));
    assert_eq!(json(&a), snapshot);
}

#[test]
fn a_reversed_lesson_takes_its_event_badge_back_once_wholly_reversed() {
    let p = program(SCHOOL);
    let mut a = p.open_account(USER, t(0));
    earn(&p, &mut a, &lesson(1, t(0)));
    earn(&p, &mut a, &lesson(2, t(1)));
    assert_eq!(a.badges().level("scholar"), 1);
    let half = share(1, 2);
    let r = p.reverse_in(&mut a, "a".into(), EventId(2), half, t(2));
    assert!(r.is_ok_and(|r| r.badges.revoked.is_empty()));
    assert_eq!(
        a.badges().level("scholar"),
        1,
        "half a lesson is still a lesson"
    );
    let r = p
        .reverse_in(&mut a, "b".into(), EventId(2), Portion::Whole {}, t(3))
        .unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(r.badges.revoked.len(), 1);
    assert_eq!(a.badges().level("scholar"), 0);
    // The bonus was credited at 20 and is reversed whole.
    assert_eq!(r.bonus_reversals.iter().map(|r| r.points).sum::<u64>(), 20);
    assert_conserved(&a, t(3));
}

#[test]
fn the_same_event_twice_changes_nothing_anywhere() {
    let p = program(SCHOOL);
    let mut a = p.open_account(USER, t(0));
    for i in 0..7 {
        earn(&p, &mut a, &check_in(i, day(i as i64)));
    }
    earn(&p, &mut a, &lesson(20, day(6)));
    let snapshot = json(&a);
    for e in [check_in(6, day(6)), lesson(20, day(6)), check_in(5, day(5))] {
        let again = earn(&p, &mut a, &e);
        assert!(again.earned.duplicate);
        assert!(again.bonuses.is_empty() && again.tier.is_none() && again.check_in.is_none());
        assert_eq!(json(&a), snapshot);
    }
}

#[test]
fn a_failed_step_leaves_the_account_unchanged() {
    // The badge's points overflow the ledger after the rule award, the
    // streak and the badge counter have moved on the working copy.
    let p = program(
        r#"{ "rules": [ { "name": "check_in", "on": "check_in", "reward": { "type": "fixed", "points": 10 } } ],
             "streak": {},
             "badges": { "badges": [ { "name": "big", "counter": { "type": "events", "on": "check_in" },
                                       "levels": [ { "at": 2, "points": 18446744073709551615 } ] } ] } }"#,
    );
    let mut a = p.open_account(USER, t(0));
    earn(&p, &mut a, &check_in(1, day(0)));
    let snapshot = json(&a);
    assert_eq!(
        p.earn(&mut a, &check_in(2, day(1)), None).map(|_| ()),
        Err(AccountError::Points(PointsError::Overflow))
    );
    assert_eq!(json(&a), snapshot);
    // Another member's event.
    let theirs = Event::new(EventId(3), UserId(2), day(1), EventKind::Visited);
    assert!(matches!(
        p.earn(&mut a, &theirs, None),
        Err(AccountError::WrongUser { .. })
    ));
    // A reversal of an unknown event.
    assert!(
        p.reverse_in(&mut a, "x".into(), EventId(99), Portion::Whole {}, day(2))
            .is_err()
    );
    assert_eq!(json(&a), snapshot);
}

#[test]
fn a_reversal_that_fails_after_the_ledger_step_changes_nothing() {
    // The ladder was renamed since the account was saved: the ledger's
    // clawback succeeds on the working copy, then the tier step fails.
    let p = program(SCHOOL);
    let renamed = program(&SCHOOL.replace(r#""name": "member""#, r#""name": "basic""#));
    let mut a = p.open_account(USER, t(0));
    earn(&p, &mut a, &purchase(1, 50, t(0)));
    let snapshot = json(&a);
    assert_eq!(
        renamed
            .reverse_in(&mut a, "r".into(), EventId(1), Portion::Whole {}, t(1))
            .map(|_| ()),
        Err(AccountError::Tier(TierError::UnknownTier {
            tier: "member".into()
        }))
    );
    assert_eq!(
        renamed.earn(&mut a, &lesson(2, t(1)), None).map(|_| ()),
        Err(AccountError::Tier(TierError::UnknownTier {
            tier: "member".into()
        }))
    );
    assert_eq!(json(&a), snapshot);
    // Under the program it was opened with, the same reversal works.
    assert!(
        p.reverse_in(&mut a, "r".into(), EventId(1), Portion::Whole {}, t(1))
            .is_ok_and(|r| r.reversal.points == 50)
    );
}

#[test]
fn bonus_ids_cannot_be_used_as_event_ids() {
    let p = program(SCHOOL);
    let mut a = p.open_account(USER, t(0));
    earn(&p, &mut a, &lesson(1, t(0)));
    earn(&p, &mut a, &lesson(2, t(1)));
    let bonus = a
        .ledger()
        .earnings()
        .find(|e| e.rule.as_str().starts_with(BADGE_BONUS_PREFIX))
        .map(|e| e.source)
        .unwrap_or_default();
    assert_eq!(bonus, EventId(u64::MAX));
    let snapshot = json(&a);
    assert_eq!(
        p.earn(&mut a, &lesson(u64::MAX, t(2)), None).map(|_| ()),
        Err(AccountError::ReservedEventId { id: bonus })
    );
    assert_eq!(
        p.reverse_in(&mut a, "x".into(), bonus, Portion::Whole {}, t(2))
            .map(|_| ()),
        Err(AccountError::ReservedEventId { id: bonus })
    );
    assert_eq!(json(&a), snapshot);
    // A real event with an id from the top is skipped when allocating.
    let mut b = p.open_account(USER, t(0));
    earn(&p, &mut b, &lesson(u64::MAX, t(0)));
    earn(&p, &mut b, &lesson(2, t(1)));
    let sources: Vec<u64> = b.ledger().earnings().map(|e| e.source.0).collect();
    assert_eq!(sources, [u64::MAX, 2, u64::MAX - 1]);
}

#[test]
fn a_bonus_never_takes_the_id_of_an_event_that_earned_nothing() {
    // One check-in a day earns; a regular's badge counts them all. The
    // second check-in of the day (id u64::MAX) earns nothing but reaches
    // the badge: its bonus must not take the check-in's id.
    let p = program(
        r#"{ "rules": [{ "name": "check_in", "on": "check_in",
                "reward": { "type": "fixed", "points": 5 }, "daily_cap": { "count": 1 } }],
             "badges": { "badges": [ { "name": "regular", "counter": { "type": "events", "on": "check_in" },
                "levels": [ { "at": 2, "points": 20 } ] } ] } }"#,
    );
    let mut a = p.open_account(USER, t(0));
    earn(&p, &mut a, &check_in(1, t(0)));
    let top = EventId(u64::MAX);
    let reached = earn(&p, &mut a, &check_in(top.0, t(1)));
    assert_eq!((reached.earned.total, reached.bonus_total), (0, 20));
    let bonus = a
        .ledger()
        .earnings()
        .find(|e| e.rule.as_str().starts_with(BADGE_BONUS_PREFIX))
        .map(|e| e.source);
    assert_eq!(bonus, Some(EventId(u64::MAX - 1)));
    // The first check-in is refunded: the capped one is made up, and the
    // badge, down to one check-in, is revoked with its 20 points only.
    let mut b = a.clone();
    let r = p.reverse_in(&mut b, "undo-1".into(), EventId(1), Portion::Whole {}, t(2));
    let r = r.unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(r.reversal.made_up.len(), 1);
    assert_eq!(r.badges.points_revoked, 20);
    let back: Vec<u64> = r.bonus_reversals.iter().map(|b| b.points).collect();
    assert_eq!(back, [20]);
    assert_eq!(b.ledger().balance(t(2)), 5);
    assert_conserved(&b, t(2));
    // The check-in that earned nothing can itself be refunded: it leaves
    // the badge.
    let r = p.reverse_in(&mut a, "undo-top".into(), top, Portion::Whole {}, t(2));
    let r = r.unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(r.badges.revoked.len(), 1);
    assert_eq!(a.ledger().balance(t(2)), 5);
    assert_conserved(&a, t(2));
}

#[test]
fn a_forgotten_bonus_is_never_reversed_by_its_old_id() {
    // Two awards are remembered. The helper badge's bonus takes the id
    // u64::MAX; once forgotten, an event may use that id. A catalog whose
    // threshold was raised then revokes the level: its bonus cannot be
    // reversed any more, and the event that now has the id is left alone.
    let shop = |threshold: u64| {
        program(&format!(
            r#"{{ "ledger": {{ "reversible_awards": 2 }},
                 "rules": [ {{ "name": "purchase", "on": "purchase",
                   "reward": {{ "type": "per_amount", "points": 1, "per_minor": 100, "rounding": "down" }} }} ],
                 "badges": {{ "badges": [ {{ "name": "helper", "counter": {{ "type": "points" }},
                   "levels": [ {{ "at": {threshold}, "points": 7 }} ] }} ] }} }}"#
        ))
    };
    let (before, after) = (shop(20), shop(1000));
    let mut a = before.open_account(USER, t(0));
    let granted = earn(&before, &mut a, &purchase(1, 20, t(0)));
    assert_eq!(granted.bonus_total, 7);
    earn(&before, &mut a, &purchase(2, 1, t(1)));
    earn(&before, &mut a, &purchase(3, 1, t(2)));
    earn(&before, &mut a, &purchase(u64::MAX, 5, t(3)));
    let raised = earn(&after, &mut a, &purchase(4, 1, t(4)));
    assert_eq!(raised.badges.revoked.len(), 1);
    assert!(raised.bonus_reversals.is_empty());
    assert_eq!(a.ledger().reversed(), 0);
    assert_eq!(
        a.ledger()
            .earnings()
            .map(|e| (e.source.0, e.reversed))
            .collect::<Vec<_>>(),
        [(u64::MAX, 0), (4, 0)]
    );
    assert_conserved(&a, t(4));
}

#[test]
fn redeeming_never_changes_the_tier() {
    let p = program(SCHOOL);
    let mut a = p.open_account(USER, t(0));
    earn(&p, &mut a, &purchase(1, 150, t(0)));
    let tier = a.tier().cloned();
    let version = a.version();
    let spent = a.redeem("order".into(), 200, t(1));
    assert!(spent.is_ok_and(|r| r.points() == 200));
    assert_eq!(a.tier().cloned(), tier);
    assert_eq!(a.version(), version + 1);
    // A failed redeem changes nothing, version included.
    assert!(a.redeem("too-much".into(), 10_000, t(1)).is_err());
    assert_eq!(a.version(), version + 1);
}

#[test]
fn evaluation_demotes_after_grace_and_expires_points() {
    let p = program(&SCHOOL.replace(
        r#""utc_offset": "+08:00","#,
        r#""utc_offset": "+08:00", "expiry": { "type": "after_days", "days": 60 },"#,
    ));
    let mut a = p.open_account(USER, t(0));
    earn(&p, &mut a, &purchase(1, 100, t(0)));
    assert_eq!(a.tier().map(|s| s.tier().as_str()), Some("gold"));
    // The points leave the 30-day window: grace starts, then 7 days later the demotion.
    let first = p.evaluate_account(&mut a, day(31));
    assert!(first.is_ok_and(|e| {
        e.tier
            .is_some_and(|t| t.change.is_none() && t.grace_until.is_some())
    }));
    let version = a.version();
    let later = p
        .evaluate_account(&mut a, day(38))
        .unwrap_or_else(|e| unreachable!("{e}"));
    let change = later.tier.and_then(|t| t.change);
    assert_eq!(change.map(|c| c.to.to_string()), Some("member".into()));
    assert_eq!(a.version(), version + 1);
    // Sixty days after earning, the points and the badge's bonus expire.
    let expired = p.evaluate_account(&mut a, day(60));
    assert!(expired.is_ok_and(|e| e.expired == 200));
    let snapshot = json(&a);
    assert!(
        p.evaluate_account(&mut a, day(60))
            .is_ok_and(|e| e.expired == 0)
    );
    assert_eq!(json(&a), snapshot);
    assert_conserved(&a, day(60));
}

#[test]
fn a_spend_ladder_counts_and_retracts_the_purchase_amount() {
    let p = program(
        r#"{ "utc_offset": "+08:00",
             "rules": [ { "name": "purchase", "on": "purchase", "reward": { "type": "fixed", "points": 5 } } ],
             "tiers": { "basis": { "type": "spend", "currency": "CNY" }, "window": { "type": "anniversary_year" },
                        "tiers": [ { "name": "member", "threshold": 0 }, { "name": "vip", "threshold": 50000 } ] } }"#,
    );
    let mut a = p.open_account(USER, t(0));
    let out = earn(&p, &mut a, &purchase(1, 600, t(1)));
    assert_eq!(out.tier.as_ref().map(|t| t.counted), Some(60_000));
    assert_eq!(a.tier().map(|s| s.tier().as_str()), Some("vip"));
    let third = share(1, 3);
    let r = p
        .reverse_in(&mut a, "r".into(), EventId(1), third, t(2))
        .unwrap_or_else(|e| unreachable!("{e}"));
    let tier = r.tier.unwrap_or_else(|| unreachable!());
    assert_eq!((tier.counted, tier.qualifying), (20_000, 40_000));
    assert!(tier.change.is_some());
    assert_eq!(a.tier().map(|s| s.tier().as_str()), Some("member"));
}

#[test]
fn sections_are_validated_and_errors_name_them() {
    let with = |section: &str| {
        invalid(&format!(
            r#"{{ "rules": [ {{ "name": "lesson", "on": "action_completed:lesson",
                              "reward": {{ "type": "fixed", "points": 10 }} }} ], {section} }}"#
        ))
    };
    assert_eq!(
        with(
            r#""tiers": { "basis": { "type": "points" }, "window": { "type": "rolling_days", "days": 0 }, "tiers": [ { "name": "m", "threshold": 0 } ] }"#
        ),
        "tiers: window.days is 0 but must be at least 1"
    );
    assert_eq!(
        with(r#""streak": { "milestones": [ { "day": 0, "points": 5 } ] }"#),
        "streak: milestones[0].day is 0 but must be at least 1"
    );
    assert_eq!(
        with(r#""badges": { "badges": [] }"#),
        "badges: badges is empty: a catalog needs at least one badge"
    );
    assert_eq!(
        invalid(
            r#"{ "rules": [ { "name": "streak bonus", "on": "check_in", "reward": { "type": "fixed", "points": 1 } } ],
                 "streak": {} }"#
        ),
        "rule streak bonus: names starting with \"streak \" are kept for bonus points"
    );
    // A tier condition must name a tier of the program's ladder, if it has
    // one; without a ladder, the host's tier names are not known here.
    let tiered = |ladder: &str| {
        format!(
            r#"{{ "rules": [ {{ "name": "vip", "on": "visited", "reward": {{ "type": "fixed", "points": 5 }},
                              "when": [ {{ "type": "weekdays", "any_of": ["Sat"] }},
                                        {{ "type": "tier", "any_of": ["gold", "platinum"] }} ] }} ]
                 {ladder} }}"#
        )
    };
    let ladder = r#", "tiers": { "basis": { "type": "points" }, "window": { "type": "rolling_days", "days": 365 },
                                  "tiers": [ { "name": "member", "threshold": 0 }, { "name": "gold", "threshold": 100 } ] }"#;
    assert_eq!(
        invalid(&tiered(ladder)),
        "rule vip: when[1] (tier): any_of names tier platinum, which the program's tier ladder does not have"
    );
    let known = serde_json::from_str::<ProgramSpec>(&tiered(""));
    assert!(known.map(|s| s.validate().is_ok()).unwrap_or(false));
    // Unknown fields in the streak section are refused as it is read.
    let typo =
        serde_json::from_str::<ProgramSpec>(r#"{ "rules": [], "streak": { "milestone": [] } }"#);
    assert!(typo.is_err());
    // The default check-in kind, and a round trip.
    let spec: ProgramSpec = serde_json::from_str(SCHOOL).unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(
        spec.streak.as_ref().map(|s| s.on.clone()),
        Some(vec![KindPattern::Kind(KindTag::CheckIn)])
    );
    let text = serde_json::to_string(&spec).unwrap_or_default();
    let back: ProgramSpec = serde_json::from_str(&text).unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(back, spec);
}

#[test]
fn the_account_round_trips_through_json() {
    let p = program(SCHOOL);
    let mut a = p.open_account(USER, t(0));
    for i in 0..7 {
        earn(&p, &mut a, &check_in(i, day(i as i64)));
    }
    earn(&p, &mut a, &lesson(10, day(6)));
    earn(&p, &mut a, &lesson(11, day(6)));
    let _ = p.reverse_in(&mut a, "r".into(), EventId(11), Portion::Whole {}, day(7));
    let back: Account = serde_json::from_str(&json(&a)).unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(back, a);
}

fn assert_conserved(a: &Account, now: DateTime<Utc>) {
    crate::points::fixtures::assert_conserved(a.ledger(), now);
}

/// The hand-wired ten days of `tests/points_status_properties.rs`, through
/// the engine: the same story, and silver's ×1.5 now reaches the check-ins.
#[test]
fn a_learners_ten_days_through_the_engine() {
    let p = program(
        r#"{ "utc_offset": "+08:00",
             "rules": [ { "name": "check_in", "on": "check_in", "reward": { "type": "fixed", "points": 10 } } ],
             "tiers": { "basis": { "type": "points" }, "window": { "type": "rolling_days", "days": 30 },
                        "tiers": [ { "name": "member", "threshold": 0 },
                                   { "name": "silver", "threshold": 50, "multiplier": 1.5 } ] },
             "streak": { "milestones": [ { "day": 7, "points": 50 } ] },
             "badges": { "badges": [
                 { "name": "regular", "counter": { "type": "events", "on": "check_in" },
                   "levels": [ { "name": "bronze", "at": 3 }, { "name": "silver", "at": 10, "points": 30 } ] },
                 { "name": "week_streak", "counter": { "type": "streak" }, "levels": [ { "at": 7, "points": 20 } ] }
             ] } }"#,
    );
    let first = Utc
        .with_ymd_and_hms(2026, 3, 1, 13, 0, 0)
        .single()
        .unwrap_or_default();
    let mut a = p.open_account(USER, first);
    let mut story = Vec::new();
    let mut totals = Vec::new();
    for i in 0..10 {
        let out = earn(&p, &mut a, &check_in(i, first + TimeDelta::days(i as i64)));
        totals.push(out.earned.total);
        story.extend(out.badges.granted.iter().map(ToString::to_string));
        story.extend(out.tier.and_then(|t| t.change).map(|c| c.to_string()));
        story.extend(out.check_in.filter(|c| c.points > 0).map(|c| c.to_string()));
    }
    assert_eq!(
        story,
        [
            "regular bronze (level 1): 3 reached 3",
            "member → silver: 50 qualifying reached the threshold 50",
            "week_streak (level 1): 7 reached 7, +20 points",
            "day 7, milestone +50",
            "regular silver (level 2): 10 reached 10, +30 points",
        ]
    );
    assert_eq!(totals, [10, 10, 10, 10, 10, 15, 15, 15, 15, 15]);
    assert_eq!(a.ledger().earned(), 125 + 50 + 20 + 30);

    // The last check-in is reversed: its badge level goes, with its points;
    // 110 qualifying points still hold silver.
    let back = p
        .reverse_in(
            &mut a,
            "dup".into(),
            EventId(9),
            Portion::Whole {},
            first + TimeDelta::days(10),
        )
        .unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(back.badges.points_revoked, 30);
    assert_eq!(back.tier.and_then(|t| t.change), None);
    assert_eq!(a.ledger().earned() - a.ledger().reversed(), 225 - 15 - 30);
    assert_conserved(&a, first + TimeDelta::days(10));
}

#[test]
fn a_host_keeps_accounts_in_a_versioned_store() {
    use crate::store::{MemoryStore, VersionedStore, update};
    let p = program(SCHOOL);
    let store = MemoryStore::new();
    let step = |e: &Event| {
        update(
            &store,
            &USER,
            3,
            || p.open_account(USER, t(0)),
            |a| p.earn(a, e, None),
        )
    };
    assert!(step(&lesson(1, t(0))).is_ok_and(|o| o.earned.total == 10));
    let saved = store.load(&USER).ok().flatten().map(|a| a.version());
    assert_eq!(saved, Some(1));
    // A redelivery changes nothing, so nothing is saved.
    assert!(step(&lesson(1, t(0))).is_ok_and(|o| o.earned.duplicate));
    let again = store.load(&USER).ok().flatten().map(|a| a.version());
    assert_eq!(again, saved);
}

#[test]
fn without_sections_an_account_is_its_ledger() {
    let p = program(
        r#"{ "rules": [ { "name": "lesson", "on": "action_completed:lesson",
                          "reward": { "type": "fixed", "points": 18446744073709551610 } } ] }"#,
    );
    let mut a = p.open_account(USER, t(0));
    let out = earn(&p, &mut a, &lesson(1, t(0)));
    assert_eq!(out.entries.len(), 1);
    assert!(out.tier.is_none() && out.check_in.is_none() && out.bonuses.is_empty());
    assert_eq!((a.version(), a.tier()), (1, None));
    // The second lesson overflows: nothing changes.
    let snapshot = json(&a);
    assert_eq!(
        p.earn(&mut a, &lesson(2, t(1)), None).map(|_| ()),
        Err(AccountError::Points(PointsError::Overflow))
    );
    assert_eq!(json(&a), snapshot);
    let back = p.reverse_in(&mut a, "r".into(), EventId(1), Portion::Whole {}, t(2));
    assert!(back.is_ok_and(|r| r.tier.is_none() && r.reversal.points == u64::MAX - 5));
    assert_eq!(a.version(), 2);
}

#[test]
fn a_refund_retracts_spend_after_later_purchases_that_earned_nothing() {
    // Gold at ¥100 of spend; one purchase award a day; the account (like
    // the ledger) remembers the last 2 events that earned points.
    let p = program(
        r#"{ "utc_offset": "+08:00",
             "ledger": { "reversible_awards": 2 },
             "rules": [ { "name": "purchase", "on": "purchase", "reward": { "type": "fixed", "points": 5 },
                          "daily_cap": { "count": 1 } } ],
             "tiers": { "basis": { "type": "spend", "currency": "CNY" }, "window": { "type": "anniversary_year" },
                        "tiers": [ { "name": "member", "threshold": 0 }, { "name": "gold", "threshold": 10000 } ] } }"#,
    );
    let mut a = p.open_account(USER, t(0));
    earn(&p, &mut a, &purchase(1, 100, t(1)));
    assert_eq!(a.tier().map(|s| s.tier().as_str()), Some("gold"));
    // Two more purchases the same day: capped, they earn nothing (and so
    // can never be reversed), but their spend counts.
    for id in [2, 3] {
        let out = earn(&p, &mut a, &purchase(id, 1, t(id as i64)));
        assert_eq!(out.earned.total, 0);
    }
    // The first purchase is refunded: gold rested on it.
    let r = p
        .reverse_in(
            &mut a,
            "refund-1".into(),
            EventId(1),
            Portion::Whole {},
            t(5),
        )
        .unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(r.reversal.points, 5);
    let tier = r.tier.unwrap_or_else(|| unreachable!());
    assert_eq!((tier.counted, tier.qualifying), (10_000, 200));
    assert_eq!(a.tier().map(|s| s.tier().as_str()), Some("member"));
}

#[test]
fn a_reopened_account_is_a_new_one_and_steps_as_one() {
    let p = program(SCHOOL);
    let mut used = p.open_account(USER, t(0));
    for (i, at) in (0..9).map(|d| (d as u64, day(d))) {
        earn(&p, &mut used, &check_in(i * 2, at));
        earn(&p, &mut used, &lesson(i * 2 + 1, at));
    }
    earn(&p, &mut used, &purchase(99, 500, day(9)));
    assert!(used.badges().progress("scholar").is_some());
    assert!(used.ledger().earned() > 0 && used.tier().is_some());
    let other = UserId(USER.0 + 1);
    p.reopen_account(&mut used, other, day(20));
    let mut fresh = p.open_account(other, day(20));
    assert_eq!(used, fresh);
    assert_eq!(json(&used), json(&fresh));
    // And it earns as a new account does.
    let event = Event::new(
        EventId(1),
        other,
        day(20),
        EventKind::CheckIn { community: None },
    );
    let (a, b) = (earn(&p, &mut used, &event), earn(&p, &mut fresh, &event));
    assert_eq!(a, b);
    assert_eq!(used, fresh);
}

/// Gold at ¥100 of spend, a "buyer" badge at the first purchase, and no
/// rule for purchases: a purchase earns no points at all.
const SPEND_ONLY: &str = r#"{
    "utc_offset": "+08:00",
    "rules": [ { "name": "check_in", "on": "check_in", "reward": { "type": "fixed", "points": 10 } } ],
    "tiers": { "basis": { "type": "spend", "currency": "CNY" }, "window": { "type": "anniversary_year" },
               "tiers": [ { "name": "member", "threshold": 0 }, { "name": "gold", "threshold": 10000 } ] },
    "badges": { "badges": [ { "name": "buyer", "counter": { "type": "events", "on": "purchase" },
                              "levels": [ { "name": "first", "at": 1 } ] } ] }
}"#;

#[test]
fn a_refund_of_a_purchase_that_earned_no_points_retracts_its_spend_and_its_badge() {
    let p = program(SPEND_ONLY);
    let mut a = p.open_account(USER, t(0));
    earn(&p, &mut a, &check_in(1, t(0)));
    let out = earn(&p, &mut a, &purchase(2, 150, t(1)));
    assert_eq!(out.earned.total, 0);
    assert_eq!(a.tier().map(|s| s.tier().as_str()), Some("gold"));
    assert_eq!(a.badges().level("buyer"), 1);
    let before = a.ledger().clone();

    let r = p
        .reverse_in(
            &mut a,
            "refund-2".into(),
            EventId(2),
            Portion::Whole {},
            t(2),
        )
        .unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!((r.reversal.points, r.reversal.taken_back), (0, 0));
    assert!(r.reversal.entries.is_empty() && r.reversal.awards.is_empty());
    let tier = r.tier.as_ref().unwrap_or_else(|| unreachable!());
    assert_eq!((tier.counted, tier.qualifying), (15_000, 0));
    assert_eq!(a.tier().map(|s| s.tier().as_str()), Some("member"));
    assert_eq!(r.badges.revoked.len(), 1);
    assert_eq!(a.badges().level("buyer"), 0);
    // The points are untouched: only the key is new to the ledger.
    assert_eq!(a.ledger().balance(t(2)), before.balance(t(2)));
    assert_eq!(a.ledger().statement().count(), before.statement().count());
    assert_conserved(&a, t(2));

    // A retry answers as the first time; another key finds nothing left.
    let version = a.version();
    let again = p.reverse_in(
        &mut a,
        "refund-2".into(),
        EventId(2),
        Portion::Whole {},
        t(3),
    );
    assert!(again.is_ok_and(|again| again.repeated && again.tier == r.tier));
    let other = p.reverse_in(
        &mut a,
        "refund-2b".into(),
        EventId(2),
        Portion::Whole {},
        t(3),
    );
    assert!(matches!(
        other,
        Err(AccountError::Points(PointsError::AlreadyReversed {
            id: EventId(2)
        }))
    ));
    assert_eq!(a.version(), version);
    // The ledger remembers the key as a reversal: it names no other operation.
    let spend = a.redeem("refund-2".into(), 1, t(3));
    assert!(spend.is_err());
}

#[test]
fn shares_of_a_purchase_that_earned_no_points_retract_its_spend_in_parts() {
    let p = program(SPEND_ONLY);
    let mut a = p.open_account(USER, t(0));
    earn(&p, &mut a, &purchase(2, 300, t(1)));
    let half = share(1, 2);
    let first = p
        .reverse_in(&mut a, "a".into(), EventId(2), half, t(2))
        .unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(first.tier.map(|t| t.qualifying), Some(15_000));
    assert_eq!(
        a.badges().level("buyer"),
        1,
        "half a purchase is a purchase"
    );
    let second = p
        .reverse_in(&mut a, "b".into(), EventId(2), half, t(3))
        .unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(second.tier.map(|t| t.qualifying), Some(0));
    assert_eq!(a.badges().level("buyer"), 0);
    let third = p.reverse_in(&mut a, "c".into(), EventId(2), half, t(4));
    assert!(third.is_err());
    let bad = share(3, 2);
    let mut b = p.open_account(USER, t(0));
    earn(&p, &mut b, &purchase(2, 300, t(1)));
    let unchanged = b.clone();
    let r = p.reverse_in(&mut b, "x".into(), EventId(2), bad, t(2));
    assert!(matches!(
        r,
        Err(AccountError::Points(PointsError::InvalidShare { .. }))
    ));
    assert_eq!(b, unchanged);
}

#[test]
fn purchases_without_points_are_remembered_apart_and_survive_json() {
    // The account keeps the last 2 of each sort: events with points, and
    // events without.
    let p = program(&SPEND_ONLY.replace(
        r#""utc_offset""#,
        r#""ledger": { "reversible_awards": 2 }, "utc_offset""#,
    ));
    let mut a = p.open_account(USER, t(0));
    earn(&p, &mut a, &check_in(1, t(0)));
    for id in 2..=4 {
        earn(&p, &mut a, &purchase(id, 10, t(id as i64)));
    }
    earn(&p, &mut a, &check_in(5, t(5)));
    let back: Account = serde_json::from_str(&json(&a)).unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(back, a);
    // The oldest purchase is forgotten; check-in 1 is not pushed out by
    // the purchases.
    let forgotten = p.reverse_in(&mut a, "r2".into(), EventId(2), Portion::Whole {}, t(6));
    assert!(matches!(
        forgotten,
        Err(AccountError::Points(PointsError::UnknownEarning {
            id: EventId(2)
        }))
    ));
    for id in [3, 4, 1] {
        let r = p.reverse_in(
            &mut a,
            format!("r{id}").into(),
            EventId(id),
            Portion::Whole {},
            t(6),
        );
        assert!(r.is_ok(), "event {id}: {r:?}");
    }
    assert_conserved(&a, t(6));
}

#[test]
fn half_a_refund_of_a_purchase_counted_only_by_a_badge_keeps_the_badge() {
    // No rule rewards purchases and no ladder counts them: only the event
    // badge does.
    let p = program(
        r#"{ "utc_offset": "+08:00",
             "rules": [ { "name": "check_in", "on": "check_in", "reward": { "type": "fixed", "points": 10 } } ],
             "badges": { "badges": [ { "name": "buyer", "counter": { "type": "events", "on": "purchase" },
                                       "levels": [ { "name": "first", "at": 1 } ] } ] } }"#,
    );
    let mut a = p.open_account(USER, t(0));
    earn(&p, &mut a, &purchase(2, 300, t(1)));
    assert_eq!(a.badges().level("buyer"), 1);
    let half = share(1, 2);
    let r = p
        .reverse_in(&mut a, "a".into(), EventId(2), half, t(2))
        .unwrap_or_else(|e| unreachable!("{e}"));
    assert!(r.badges.revoked.is_empty());
    assert_eq!(
        a.badges().level("buyer"),
        1,
        "half a purchase is a purchase"
    );
    // The other half: the purchase is wholly refunded.
    let r = p
        .reverse_in(&mut a, "b".into(), EventId(2), half, t(3))
        .unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(r.badges.revoked.len(), 1);
    assert_eq!(a.badges().level("buyer"), 0);
    let again = p.reverse_in(&mut a, "c".into(), EventId(2), half, t(4));
    assert!(matches!(
        again,
        Err(AccountError::Points(PointsError::AlreadyReversed { .. }))
    ));
}

#[test]
fn thirds_of_a_refund_of_a_purchase_counted_only_by_a_badge_take_the_badge() {
    let p = program(
        r#"{ "utc_offset": "+08:00",
             "rules": [ { "name": "check_in", "on": "check_in", "reward": { "type": "fixed", "points": 10 } } ],
             "badges": { "badges": [ { "name": "buyer", "counter": { "type": "events", "on": "purchase" },
                                       "levels": [ { "name": "first", "at": 1 } ] } ] } }"#,
    );
    let mut a = p.open_account(USER, t(0));
    earn(&p, &mut a, &purchase(2, 300, t(1)));
    let third = share(1, 3);
    for (n, key) in ["a", "b", "c"].into_iter().enumerate() {
        let r = p
            .reverse_in(&mut a, key.into(), EventId(2), third, t(2 + n as i64))
            .unwrap_or_else(|e| unreachable!("{e}"));
        // Three thirds are the whole (in millionths, they were 999,999).
        assert_eq!(r.badges.revoked.len(), usize::from(key == "c"), "{key}");
    }
    assert_eq!(a.badges().level("buyer"), 0);
    // An account stored by a build that counted the shares in millionths
    // carries on from where they were.
    let mut a = p.open_account(USER, t(0));
    earn(&p, &mut a, &purchase(2, 300, t(1)));
    let half = share(1, 2);
    let _ = p.reverse_in(&mut a, "a".into(), EventId(2), half, t(2));
    let stored = json(&a);
    assert!(stored.contains(r#""unreversed":[1,2]"#), "{stored}");
    let old = stored.replace(r#""unreversed":[1,2]"#, r#""reversed_millionths":500000"#);
    let mut a: Account = serde_json::from_str(&old).unwrap_or_else(|e| unreachable!("{e}"));
    let r = p
        .reverse_in(&mut a, "b".into(), EventId(2), half, t(3))
        .unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(r.badges.revoked.len(), 1);
    assert!(!json(&a).contains("millionths"));
}

/// The reviewer's programs: 1 point per ¥1, 1 point a visit, gold at 1000.
fn refund_program(window: &str, grace: &str) -> Program {
    program(&format!(
        r#"{{ "utc_offset": "+08:00",
              "rules": [ {{ "name": "purchase", "on": "purchase",
                           "reward": {{ "type": "per_amount", "points": 1, "per_minor": 100, "rounding": "down" }} }},
                         {{ "name": "visit", "on": "visited", "reward": {{ "type": "fixed", "points": 1 }} }} ],
              "tiers": {{ "basis": {{ "type": "points" }}, "window": {window}, "grace": {grace},
                         "tiers": [ {{ "name": "member", "threshold": 0 }},
                                    {{ "name": "gold", "threshold": 1000, "multiplier": 2 }} ] }} }}"#
    ))
}

fn ymd(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 4, 0, 0)
        .single()
        .unwrap_or_else(|| unreachable!())
}

fn visit(id: u64, at: DateTime<Utc>) -> Event {
    Event::new(EventId(id), USER, at, EventKind::Visited)
}

fn tier_name(a: &Account) -> String {
    a.tier().map(|t| t.tier().to_string()).unwrap_or_default()
}

#[test]
fn a_refund_revokes_gold_whether_or_not_a_visit_or_evaluation_came_first() {
    let p = refund_program(
        r#"{ "type": "anniversary_year" }"#,
        r#"{ "type": "until_anniversary" }"#,
    );
    for first in 0..3 {
        let mut a = p.open_account(USER, ymd(2025, 1, 1));
        earn(&p, &mut a, &purchase(1, 1000, ymd(2025, 6, 1)));
        assert_eq!(tier_name(&a), "gold");
        match first {
            1 => drop(earn(&p, &mut a, &visit(2, ymd(2026, 1, 10)))),
            2 => drop(p.evaluate_account(&mut a, ymd(2026, 1, 10))),
            _ => {}
        }
        let r = p
            .reverse_in(
                &mut a,
                "refund-1".into(),
                EventId(1),
                Portion::Whole {},
                ymd(2026, 1, 20),
            )
            .unwrap_or_else(|e| panic!("{e}"));
        let change = r.tier.and_then(|t| t.change).map(|c| c.to_string());
        // What is left: the visit's point, doubled at gold, if there was one.
        let left = if first == 1 { 2 } else { 0 };
        assert_eq!(
            change,
            Some(format!(
                "gold → member: revoked (refund-1 reversed event#1): {left} qualifying is below the threshold 1000"
            )),
            "case {first}"
        );
        assert_eq!(tier_name(&a), "member", "case {first}");
    }
    let p = refund_program(
        r#"{ "type": "rolling_days", "days": 30 }"#,
        r#"{ "type": "days", "days": 30 }"#,
    );
    for visit_first in [false, true] {
        let mut a = p.open_account(USER, ymd(2026, 1, 1));
        earn(&p, &mut a, &purchase(1, 1000, ymd(2026, 1, 1)));
        if visit_first {
            earn(&p, &mut a, &visit(2, ymd(2026, 2, 5)));
        }
        let r = p
            .reverse_in(
                &mut a,
                "refund-1".into(),
                EventId(1),
                Portion::Whole {},
                ymd(2026, 2, 6),
            )
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            r.tier.is_some_and(|t| t.change.is_some()),
            "visit first: {visit_first}"
        );
        assert_eq!(tier_name(&a), "member", "visit first: {visit_first}");
    }
}

#[test]
fn refunding_the_purchase_that_ended_grace_keeps_the_grace_still_owed() {
    let p = refund_program(
        r#"{ "type": "rolling_days", "days": 30 }"#,
        r#"{ "type": "days", "days": 30 }"#,
    );
    let mut a = p.open_account(USER, ymd(2026, 1, 1));
    earn(&p, &mut a, &purchase(1, 1000, ymd(2026, 1, 1)));
    let _ = p.evaluate_account(&mut a, ymd(2026, 2, 5));
    let grace = a.tier().and_then(|t| t.grace_until());
    let march_7 = chrono::NaiveDate::from_ymd_opt(2026, 3, 7).unwrap_or_default();
    assert_eq!(grace, Some(crate::time::LocalDay::from_date(march_7)));
    earn(&p, &mut a, &purchase(2, 1000, ymd(2026, 2, 10)));
    let r = p
        .reverse_in(
            &mut a,
            "refund-2".into(),
            EventId(2),
            Portion::Whole {},
            ymd(2026, 2, 11),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.tier.and_then(|t| t.change), None);
    assert_eq!(tier_name(&a), "gold");
    assert_eq!(a.tier().and_then(|t| t.grace_until()), grace);
    let _ = p.evaluate_account(&mut a, ymd(2026, 3, 7));
    assert_eq!(tier_name(&a), "member");
}

#[test]
fn held_bonus_points_settled_at_the_close_name_the_reversed_event() {
    // 100 points from a purchase reach the helper badge, whose level
    // grants 50; an order holds all 150; the purchase is refunded, which
    // revokes the level and reverses its bonus while held. Released, the
    // held points go to the reversals: every entry names the refunded
    // event, never the bonus's own reversal identity (from the top of
    // the id range).
    for (policy, back) in [
        ("clamp", "−{} reclaimed for reversed event#1"),
        (
            "negative_balance",
            " {} reclaimed for reversed event#1, paying its debt",
        ),
        (
            "debt",
            " {} reclaimed for reversed event#1, paying its debt",
        ),
    ] {
        let p = program(&format!(
            r#"{{ "ledger": {{ "clawback": "{policy}" }},
                 "rules": [ {{ "name": "purchase", "on": "purchase",
                   "reward": {{ "type": "per_amount", "points": 1, "per_minor": 100, "rounding": "down" }} }} ],
                 "badges": {{ "badges": [ {{ "name": "helper", "counter": {{ "type": "points" }},
                   "levels": [ {{ "name": "gold", "at": 100, "points": 50 }} ] }} ] }} }}"#
        ));
        let mut a = p.open_account(USER, t(0));
        assert_eq!(earn(&p, &mut a, &purchase(1, 100, t(0))).bonus_total, 50);
        assert!(a.ledger_step(|l| l.hold("order".into(), 150, t(1))).is_ok());
        let refund = p.reverse_in(&mut a, "refund".into(), EventId(1), Portion::Whole {}, t(2));
        assert!(refund.is_ok_and(|r| r.bonus_reversals.len() == 1));
        let released = a.ledger_step(|l| l.release("order".into(), t(3)));
        let released = released.unwrap_or_else(|e| unreachable!("{e}"));
        let lines: Vec<String> = released.entries.iter().map(|e| e.to_string()).collect();
        let at = "2026-03-01 00:03:00 UTC";
        assert_eq!(
            lines,
            [
                format!("{at} +150 released order"),
                format!("{at} {}", back.replace("{}", "100")),
                format!("{at} {}", back.replace("{}", "50")),
            ],
            "{policy}"
        );
        assert_eq!(a.ledger().check(), Ok(()));
        assert!(a.ledger().shown_sources.is_empty());
    }
}

#[test]
fn a_stored_account_remembering_too_many_reversals_keeps_the_newest_once_it_reverses_again() {
    let p = program(SCHOOL);
    let mut a = p.open_account(USER, t(0));
    for id in 1..=3 {
        earn(&p, &mut a, &lesson(id, t(1)));
    }
    for id in 1..=2 {
        let done = p.reverse_in(
            &mut a,
            format!("r{id}").as_str().into(),
            EventId(id),
            Portion::Whole {},
            t(2),
        );
        assert!(done.is_ok_and(|r| !r.repeated));
    }
    // As an account stored remembering more reversals than it keeps reads
    // back (by hand, or by a build that kept more).
    let mut stored = serde_json::to_value(&a).unwrap_or_default();
    let kept = stored["reversals"].as_array().cloned().unwrap_or_default();
    let old: Vec<serde_json::Value> = (0..REMEMBERED_REVERSALS + 10)
        .map(|i| {
            let mut r = kept.first().cloned().unwrap_or_default();
            r["reversal"]["key"] = format!("old{i}").into();
            r
        })
        .chain(kept.clone())
        .collect();
    stored["reversals"] = old.into();
    let mut a: Account = serde_json::from_value(stored).unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(a.reversals.len(), REMEMBERED_REVERSALS + 12);
    let done = p.reverse_in(&mut a, "r3".into(), EventId(3), Portion::Whole {}, t(3));
    assert!(done.is_ok_and(|r| !r.repeated));
    assert_eq!(a.reversals.len(), REMEMBERED_REVERSALS);
    let keys: Vec<String> = a
        .reversals
        .iter()
        .map(|r| r.reversal.key.to_string())
        .collect();
    assert_eq!(
        keys.get(REMEMBERED_REVERSALS - 3..),
        Some(&["r1", "r2", "r3"].map(String::from)[..])
    );
    assert_eq!(keys.first().map(String::as_str), Some("old13"));
}
