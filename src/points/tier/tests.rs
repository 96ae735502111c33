use super::*;
use chrono::{FixedOffset, NaiveDate, TimeDelta};

fn zone() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| unreachable!())
}

/// Local noon in +08:00 on a date.
fn noon(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 4, 0, 0)
        .single()
        .unwrap_or_default()
}

fn day(y: i32, m: u32, d: u32) -> LocalDay {
    LocalDay::from_date(NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default())
}

fn ladder(json: &str) -> TierLadder {
    serde_json::from_str::<TierLadderSpec>(json)
        .map_err(|e| e.to_string())
        .and_then(|s| s.validate().map_err(|e| e.to_string()))
        .unwrap_or_else(|e| panic!("{e}"))
}

fn rolling(days: u32, grace: &str) -> TierLadder {
    ladder(&format!(
        r#"{{ "basis": {{ "type": "points" }},
             "window": {{ "type": "rolling_days", "days": {days} }},
             "grace": {grace},
             "tiers": [ {{ "name": "member", "threshold": 0 }},
                        {{ "name": "silver", "threshold": 100, "multiplier": 1.2 }},
                        {{ "name": "gold", "threshold": 500, "multiplier": 1.5 }} ] }}"#
    ))
}

fn anniversary_ladder(grace: &str) -> TierLadder {
    ladder(&format!(
        r#"{{ "basis": {{ "type": "points" }},
             "window": {{ "type": "anniversary_year" }},
             "grace": {grace},
             "tiers": [ {{ "name": "member", "threshold": 0 }},
                        {{ "name": "gold", "threshold": 500, "multiplier": 2 }} ] }}"#
    ))
}

fn spec_error(json: &str) -> String {
    match serde_json::from_str::<TierLadderSpec>(json) {
        Err(e) => e.to_string(),
        Ok(spec) => spec
            .validate()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default(),
    }
}

#[test]
fn bad_ladders_are_refused_with_the_tier_and_field() {
    let wrap = |tiers: &str, window: &str, grace: &str| {
        format!(
            r#"{{ "basis": {{ "type": "points" }}, "window": {window}, "grace": {grace}, "tiers": {tiers} }}"#
        )
    };
    let w = r#"{ "type": "anniversary_year" }"#;
    let g = r#"{ "type": "none" }"#;
    for (tiers, window, grace, message) in [
        (
            "[]",
            w,
            g,
            "tiers is empty: a ladder needs at least a base tier",
        ),
        (
            r#"[{ "name": "a", "threshold": 5 }]"#,
            w,
            g,
            "tier a: the base tier's threshold is 5 but must be 0",
        ),
        (
            r#"[{ "name": "a", "threshold": 0 }, { "name": "b", "threshold": 10 }, { "name": "c", "threshold": 10 }]"#,
            w,
            g,
            "tier c: threshold 10 must be above the previous tier's 10",
        ),
        (
            r#"[{ "name": "a", "threshold": 0 }, { "name": "a", "threshold": 10 }]"#,
            w,
            g,
            "tier a: the name is used by another tier",
        ),
        (
            r#"[{ "name": "a", "threshold": 0 }, { "name": "  ", "threshold": 10 }]"#,
            w,
            g,
            "tiers[1]: name is blank but must name the tier",
        ),
        (
            r#"[{ "name": "a", "threshold": 0 }]"#,
            r#"{ "type": "rolling_days", "days": 0 }"#,
            g,
            "window.days is 0 but must be at least 1",
        ),
        (
            r#"[{ "name": "a", "threshold": 0 }]"#,
            r#"{ "type": "rolling_days", "days": 1097 }"#,
            g,
            "window.days is 1097 but must be at most 1096",
        ),
        (
            r#"[{ "name": "a", "threshold": 0 }]"#,
            w,
            r#"{ "type": "days", "days": 0 }"#,
            "grace.days is 0 but must be at least 1",
        ),
    ] {
        assert_eq!(spec_error(&wrap(tiers, window, grace)), message);
    }
    let zero = spec_error(&wrap(
        r#"[{ "name": "a", "threshold": 0, "multiplier": 0 }]"#,
        w,
        g,
    ));
    assert!(zero.contains("multiplier 0 is out of range"), "{zero}");
    let unknown = spec_error(&wrap(r#"[{ "name": "a", "threshold": 0, "x": 1 }]"#, w, g));
    assert!(unknown.contains("unknown field `x`"), "{unknown}");
}

#[test]
fn the_threshold_reached_exactly_upgrades_at_once() {
    let l = rolling(30, r#"{ "type": "none" }"#);
    let z = zone();
    let mut s = l.start(noon(2026, 3, 1), &z);
    assert_eq!(s.tier().as_str(), "member");
    assert_eq!(s.version(), 0);

    let step = l
        .record(&mut s, noon(2026, 3, 1), 99, &z)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((step.change, step.qualifying, step.counted), (None, 99, 99));
    let step = l
        .record(&mut s, noon(2026, 3, 2), 1, &z)
        .unwrap_or_else(|e| panic!("{e}"));
    let change = step.change.unwrap_or_else(|| panic!("upgrade"));
    assert_eq!(
        change.to_string(),
        "member → silver: 100 qualifying reached the threshold 100"
    );
    assert_eq!(change.at, noon(2026, 3, 2));
    assert_eq!(step.multiplier.basis_points(), 12_000);
    assert_eq!(s.since(), noon(2026, 3, 2));
    assert_eq!(s.version(), 2);
}

#[test]
fn a_big_award_jumps_several_tiers_in_one_change() {
    let l = rolling(30, r#"{ "type": "none" }"#);
    let z = zone();
    let mut s = l.start(noon(2026, 3, 1), &z);
    let step = l
        .record(&mut s, noon(2026, 3, 1), 600, &z)
        .unwrap_or_else(|e| panic!("{e}"));
    let change = step.change.unwrap_or_else(|| panic!("upgrade"));
    assert_eq!(
        (change.from.as_str(), change.to.as_str()),
        ("member", "gold")
    );
    assert_eq!(
        change.reason,
        TierReason::Reached {
            qualifying: 600,
            threshold: 500
        }
    );
}

#[test]
fn the_rolling_window_ends_exactly_n_days_later() {
    let l = rolling(30, r#"{ "type": "none" }"#);
    let z = zone();
    let mut s = l.start(noon(2026, 3, 1), &z);
    l.record(&mut s, noon(2026, 3, 1), 100, &z)
        .unwrap_or_else(|e| panic!("{e}"));
    // 1 March plus the 29 days after it: still in the window on 30 March.
    let last = noon(2026, 3, 30);
    assert_eq!(l.qualifying(&s, last, &z), Ok(100));
    let step = l
        .evaluate(&mut s, last, &z)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((step.qualifying, step.change), (100, None));
    assert_eq!(l.qualifying(&s, noon(2026, 3, 31), &z), Ok(0));
    let step = l
        .evaluate(&mut s, noon(2026, 3, 31), &z)
        .unwrap_or_else(|e| panic!("{e}"));
    let change = step.change.unwrap_or_else(|| panic!("downgrade"));
    assert_eq!(
        change.reason,
        TierReason::FellBelow {
            qualifying: 0,
            threshold: 100
        }
    );
    assert_eq!(s.tallies().count(), 0, "the stale day is forgotten");
    // A late record for a day already outside the window counts nothing.
    let step = l
        .record(&mut s, noon(2026, 3, 1), 1000, &z)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((step.counted, step.change), (0, None));
}

#[test]
fn late_records_outside_the_window_count_nothing() {
    let l = rolling(7, r#"{ "type": "none" }"#);
    let z = zone();
    let mut s = l.start(noon(2026, 3, 1), &z);
    l.record(&mut s, noon(2026, 3, 10), 10, &z)
        .unwrap_or_else(|e| panic!("{e}"));
    let v = s.version();
    let step = l
        .record(&mut s, noon(2026, 3, 3), 500, &z)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((step.counted, step.qualifying, step.change), (0, 10, None));
    assert_eq!(s.version(), v, "nothing changed");
    // The oldest day still inside the window counts.
    let step = l
        .record(&mut s, noon(2026, 3, 4), 90, &z)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((step.counted, step.qualifying), (90, 100));
    assert_eq!(step.tier.as_str(), "silver");
}

#[test]
fn downgrade_waits_for_evaluation_and_grace() {
    let l = rolling(10, r#"{ "type": "days", "days": 5 }"#);
    let z = zone();
    let mut s = l.start(noon(2026, 3, 1), &z);
    l.record(&mut s, noon(2026, 3, 1), 500, &z)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.tier().as_str(), "gold");
    // Points left the window on 11 March; the evaluation then starts grace.
    let step = l
        .evaluate(&mut s, noon(2026, 3, 12), &z)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (step.change, step.grace_until),
        (None, Some(day(2026, 3, 17)))
    );
    assert_eq!(s.tier().as_str(), "gold");
    // A second evaluation inside the grace keeps the same end.
    let step = l
        .evaluate(&mut s, noon(2026, 3, 16), &z)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (step.change, step.grace_until),
        (None, Some(day(2026, 3, 17)))
    );
    // Earning silver-worth points meanwhile does not end gold's grace.
    let step = l
        .record(&mut s, noon(2026, 3, 16), 150, &z)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(step.grace_until, Some(day(2026, 3, 17)));
    let step = l
        .evaluate(
            &mut s,
            Utc.with_ymd_and_hms(2026, 3, 16, 16, 0, 0)
                .single()
                .unwrap_or_default(),
            &z,
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let change = step
        .change
        .unwrap_or_else(|| panic!("downgrade at local midnight of the 17th"));
    assert_eq!(
        (change.from.as_str(), change.to.as_str()),
        ("gold", "silver")
    );
    assert_eq!(
        change.reason,
        TierReason::FellBelow {
            qualifying: 150,
            threshold: 500
        }
    );
    assert_eq!(s.grace_until(), None);
}

#[test]
fn requalifying_during_grace_ends_it() {
    let l = rolling(10, r#"{ "type": "days", "days": 5 }"#);
    let z = zone();
    let mut s = l.start(noon(2026, 3, 1), &z);
    l.record(&mut s, noon(2026, 3, 1), 100, &z)
        .unwrap_or_else(|e| panic!("{e}"));
    l.evaluate(&mut s, noon(2026, 3, 12), &z)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(s.grace_until().is_some());
    let step = l
        .record(&mut s, noon(2026, 3, 13), 100, &z)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((step.change, step.grace_until), (None, None));
    let step = l
        .evaluate(&mut s, noon(2026, 3, 20), &z)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((step.change, step.tier.as_str()), (None, "silver"));
}

#[test]
fn no_grace_demotes_at_the_first_evaluation_below() {
    let l = rolling(1, r#"{ "type": "none" }"#);
    let z = zone();
    let mut s = l.start(noon(2026, 3, 1), &z);
    l.record(&mut s, noon(2026, 3, 1), 100, &z)
        .unwrap_or_else(|e| panic!("{e}"));
    let same_day = l
        .evaluate(&mut s, noon(2026, 3, 1), &z)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(same_day.change, None);
    let v = s.version();
    let again = l
        .evaluate(&mut s, noon(2026, 3, 1), &z)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (again.change, s.version()),
        (None, v),
        "nothing to change, no version bump"
    );
    let next = l
        .evaluate(&mut s, noon(2026, 3, 2), &z)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(next.tier.as_str(), "member");
    assert_eq!(next.grace_until, None);
}

#[test]
fn anniversary_years_of_a_29_february_join() {
    let z = zone();
    let leap = day(2024, 2, 29);
    assert_eq!(anniversary(leap, 1), Some(day(2025, 2, 28)));
    assert_eq!(anniversary(leap, 4), Some(day(2028, 2, 29)));
    assert_eq!(anniversary_year_start(leap, day(2025, 2, 27)), leap);
    assert_eq!(
        anniversary_year_start(leap, day(2025, 2, 28)),
        day(2025, 2, 28)
    );
    assert_eq!(
        anniversary_year_start(leap, day(2028, 2, 28)),
        day(2027, 2, 28)
    );
    assert_eq!(
        anniversary_year_start(leap, day(2028, 2, 29)),
        day(2028, 2, 29)
    );
    assert_eq!(anniversary_year_start(leap, day(2023, 1, 1)), leap);

    let l = anniversary_ladder(r#"{ "type": "none" }"#);
    let mut s = l.start(noon(2024, 2, 29), &z);
    l.record(&mut s, noon(2025, 2, 27), 300, &z)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(l.qualifying(&s, noon(2025, 2, 27), &z), Ok(300));
    // 28 February 2025 is the first anniversary: the tally starts again.
    assert_eq!(l.qualifying(&s, noon(2025, 2, 28), &z), Ok(0));
    let step = l
        .record(&mut s, noon(2025, 2, 28), 300, &z)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((step.qualifying, step.change), (300, None));
    // The first year's bucket is gone: a late record for it counts nothing.
    let step = l
        .record(&mut s, noon(2025, 2, 27), 300, &z)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(step.counted, 0);
    assert_eq!(
        s.tallies().collect::<Vec<_>>(),
        vec![(day(2025, 2, 28), 300)]
    );
}

#[test]
fn until_anniversary_keeps_a_tier_through_the_next_year() {
    let z = zone();
    let l = anniversary_ladder(r#"{ "type": "until_anniversary" }"#);
    let mut s = l.start(noon(2024, 2, 29), &z);
    l.record(&mut s, noon(2024, 6, 1), 500, &z)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.tier().as_str(), "gold");
    // In the second year the tally is 0: grace until the third year begins.
    let step = l
        .evaluate(&mut s, noon(2025, 3, 1), &z)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (step.change, step.grace_until),
        (None, Some(day(2026, 2, 28)))
    );
    let step = l
        .evaluate(&mut s, noon(2026, 2, 27), &z)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(step.change, None);
    let step = l
        .evaluate(&mut s, noon(2026, 2, 28), &z)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(step.change.map(|c| c.to), Some(Label::from("member")));
}

#[test]
fn a_retraction_revokes_a_tier_it_held_up_at_once() {
    let l = rolling(30, r#"{ "type": "days", "days": 30 }"#);
    let z = zone();
    let mut s = l.start(noon(2026, 3, 1), &z);
    l.record(&mut s, noon(2026, 3, 1), 80, &z)
        .unwrap_or_else(|e| panic!("{e}"));
    l.record(&mut s, noon(2026, 3, 2), 40, &z)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.tier().as_str(), "silver");
    let step = l
        .retract(
            &mut s,
            noon(2026, 3, 2),
            noon(2026, 3, 5),
            40,
            "refund of order 7",
            &z,
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let change = step.change.unwrap_or_else(|| panic!("revoked"));
    // Revoked when the refund happened, not when the points were earned.
    assert_eq!((change.at, s.since()), (noon(2026, 3, 5), noon(2026, 3, 5)));
    assert_eq!(
        change.reason,
        TierReason::Revoked {
            reason: "refund of order 7".into(),
            qualifying: 80,
            threshold: 100
        }
    );
    assert_eq!(
        change.to_string(),
        "silver → member: revoked (refund of order 7): 80 qualifying is below the threshold 100"
    );
    assert_eq!((step.counted, s.tier().as_str()), (40, "member"));
    // More than the day holds: only what it holds is taken.
    let step = l
        .retract(
            &mut s,
            noon(2026, 3, 1),
            noon(2026, 3, 6),
            500,
            "chargeback",
            &z,
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((step.counted, step.qualifying), (80, 0));
    // Nothing left to take: no change, no version bump.
    let v = s.version();
    let step = l
        .retract(&mut s, noon(2026, 3, 1), noon(2026, 3, 6), 5, "again", &z)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((step.counted, s.version()), (0, v));
}

#[test]
fn a_tier_never_begins_before_the_one_it_replaces() {
    let l = rolling(30, r#"{ "type": "days", "days": 30 }"#);
    let z = zone();
    let mut s = l.start(noon(2026, 3, 1), &z);
    l.record(&mut s, noon(2026, 3, 1), 80, &z)
        .unwrap_or_else(|e| panic!("{e}"));
    l.record(&mut s, noon(2026, 3, 2), 40, &z)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((s.tier().as_str(), s.since()), ("silver", noon(2026, 3, 2)));
    // A revocation stamped before silver began is stamped when it began.
    let step = l
        .retract(&mut s, noon(2026, 3, 1), noon(2026, 3, 1), 80, "refund", &z)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(step.change.map(|c| c.at), Some(noon(2026, 3, 2)));
    assert_eq!((s.tier().as_str(), s.since()), ("member", noon(2026, 3, 2)));
    // So is an upgrade by a late record: not before the member tier began.
    let step = l
        .record(&mut s, noon(2026, 3, 1), 100, &z)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(step.change.map(|c| c.at), Some(noon(2026, 3, 2)));
    assert_eq!((s.tier().as_str(), s.since()), ("silver", noon(2026, 3, 2)));
}

#[test]
fn a_retraction_leaves_a_tier_held_by_grace_to_evaluation() {
    let l = rolling(10, r#"{ "type": "days", "days": 30 }"#);
    let z = zone();
    let mut s = l.start(noon(2026, 3, 1), &z);
    l.record(&mut s, noon(2026, 3, 1), 500, &z)
        .unwrap_or_else(|e| panic!("{e}"));
    l.record(&mut s, noon(2026, 3, 12), 50, &z)
        .unwrap_or_else(|e| panic!("{e}"));
    l.evaluate(&mut s, noon(2026, 3, 12), &z)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (s.tier().as_str(), s.grace_until()),
        ("gold", Some(day(2026, 4, 11)))
    );
    let step = l
        .retract(
            &mut s,
            noon(2026, 3, 12),
            noon(2026, 3, 12),
            50,
            "refund",
            &z,
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((step.change, step.counted), (None, 50));
    assert_eq!(s.grace_until(), Some(day(2026, 4, 11)));
}

#[test]
fn spend_qualifies_in_one_currency_only() {
    let l = ladder(
        r#"{ "basis": { "type": "spend", "currency": "CNY" },
             "window": { "type": "anniversary_year" },
             "tiers": [ { "name": "member", "threshold": 0 },
                        { "name": "vip", "threshold": 100000, "benefits": "priority support" } ] }"#,
    );
    let cny = "CNY".parse().unwrap_or_else(|_| unreachable!());
    let usd = "USD".parse().unwrap_or_else(|_| unreachable!());
    assert_eq!(l.qualifying_spend(Money::new(9_900, cny)), Ok(9_900));
    assert_eq!(
        l.qualifying_spend(Money::new(9_900, usd)),
        Err(TierError::CurrencyMismatch {
            expected: cny,
            got: usd
        })
    );
    assert_eq!(
        l.qualifying_spend(Money::new(-1, cny)),
        Err(TierError::NegativeSpend { minor: -1 })
    );
    assert_eq!(
        rolling(5, r#"{ "type": "none" }"#).qualifying_spend(Money::new(1, cny)),
        Err(TierError::NotSpendBasis)
    );
    assert_eq!(
        l.tier("vip").and_then(|t| t.benefits.clone()),
        Some(Label::from("priority support"))
    );
}

#[test]
fn a_failed_step_changes_nothing() {
    let l = rolling(30, r#"{ "type": "none" }"#);
    let other = anniversary_ladder(r#"{ "type": "none" }"#);
    let z = zone();
    let mut s = l.start(noon(2026, 3, 1), &z);
    l.record(&mut s, noon(2026, 3, 1), 100, &z)
        .unwrap_or_else(|e| panic!("{e}"));
    let before = s.clone();
    // "silver" is not on the other ladder.
    assert_eq!(
        other.record(&mut s, noon(2026, 3, 1), 1, &z),
        Err(TierError::UnknownTier {
            tier: "silver".into()
        })
    );
    assert!(other.evaluate(&mut s, noon(2026, 3, 1), &z).is_err());
    assert!(
        other
            .retract(&mut s, noon(2026, 3, 1), noon(2026, 3, 1), 1, "r", &z)
            .is_err()
    );
    assert_eq!(s, before);
    // Overflow of the tally is refused whole.
    assert_eq!(
        l.record(&mut s, noon(2026, 3, 2), u64::MAX, &z),
        Err(TierError::Overflow)
    );
    assert_eq!(s, before);
    // An evaluation that would demote, with no version left to bump, is
    // refused whole: an account evaluates its status in place.
    s.version = u64::MAX;
    let before = s.clone();
    assert_eq!(
        l.evaluate(&mut s, noon(2026, 5, 1), &z),
        Err(TierError::Overflow)
    );
    assert_eq!(s, before);
}

#[test]
fn status_round_trips_through_json() {
    let l = rolling(30, r#"{ "type": "days", "days": 3 }"#);
    let z = zone();
    let mut s = l.start(noon(2026, 3, 1), &z);
    l.record(&mut s, noon(2026, 3, 1), 120, &z)
        .unwrap_or_else(|e| panic!("{e}"));
    l.evaluate(&mut s, noon(2026, 4, 1), &z)
        .unwrap_or_else(|e| panic!("{e}"));
    let json = serde_json::to_string(&s).unwrap_or_default();
    let back: TierStatus = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
    assert_eq!(back, s);
    assert!(json.contains("\"grace_until\":\"2026-04-04\""), "{json}");
    let spec = serde_json::to_string(l.spec()).unwrap_or_default();
    let again: TierLadderSpec = serde_json::from_str(&spec).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(again.validate().as_ref(), Ok(&l));
}

#[test]
fn a_one_day_window_follows_local_days_across_a_dst_change() {
    // New York's 8 March 2026 has 23 hours: the one-day window still holds
    // exactly that local day.
    let ny = chrono_tz::America::New_York;
    let l = rolling(1, r#"{ "type": "none" }"#);
    let at = |h: u32, m: u32| {
        Utc.with_ymd_and_hms(2026, 3, 8, h, m, 0)
            .single()
            .unwrap_or_default()
    };
    let mut s = l.start(at(5, 30), &ny); // 00:30 EST
    l.record(&mut s, at(5, 30), 100, &ny)
        .unwrap_or_else(|e| panic!("{e}"));
    // 23:30 EDT the same local day, 22 hours later: still in the window.
    let late = at(5, 30) + TimeDelta::hours(22);
    assert_eq!(l.qualifying(&s, late, &ny), Ok(100));
    assert_eq!(l.evaluate(&mut s, late, &ny).map(|o| o.change), Ok(None));
    // 00:10 EDT on 9 March: a new local day, the points are out.
    let next = late + TimeDelta::minutes(40);
    assert_eq!(LocalDay::of(next, &ny), day(2026, 3, 9));
    let step = l
        .evaluate(&mut s, next, &ny)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(step.change.map(|c| c.to), Some(Label::from("member")));
}

/// Which of the unrelated steps runs before the refund in the tests below.
#[derive(Clone, Copy, Debug)]
enum First {
    Nothing,
    Visit,
    Evaluation,
}

/// Gold reached with 500 points bought in one anniversary year; refunded in
/// the next, after `first`. Returns the refund's change and the status.
fn anniversary_refund(first: First) -> (Option<TierChange>, TierStatus) {
    let l = anniversary_ladder(r#"{ "type": "until_anniversary" }"#);
    let z = zone();
    let mut s = l.start(noon(2025, 1, 1), &z);
    l.record(&mut s, noon(2025, 6, 1), 500, &z)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.tier().as_str(), "gold");
    match first {
        First::Nothing => {}
        First::Visit => {
            l.record(&mut s, noon(2026, 1, 10), 1, &z)
                .unwrap_or_else(|e| panic!("{e}"));
        }
        First::Evaluation => {
            l.evaluate(&mut s, noon(2026, 1, 10), &z)
                .unwrap_or_else(|e| panic!("{e}"));
        }
    }
    let step = l
        .retract(
            &mut s,
            noon(2025, 6, 1),
            noon(2026, 1, 20),
            500,
            "refund",
            &z,
        )
        .unwrap_or_else(|e| panic!("{e}"));
    (step.change, s)
}

#[test]
fn a_refund_revokes_a_tier_it_earned_whatever_came_first_in_the_next_year() {
    for first in [First::Nothing, First::Visit, First::Evaluation] {
        let (change, s) = anniversary_refund(first);
        let change = change.unwrap_or_else(|| panic!("{first:?}: not revoked"));
        assert_eq!(
            (change.from.as_str(), change.to.as_str(), change.at),
            ("gold", "member", noon(2026, 1, 20)),
            "{first:?}"
        );
        // What is left: the visit's point, if there was one.
        let left = u64::from(matches!(first, First::Visit));
        assert_eq!(
            change.reason,
            TierReason::Revoked {
                reason: "refund".into(),
                qualifying: left,
                threshold: 500
            },
            "{first:?}"
        );
        assert_eq!((s.tier().as_str(), s.grace_until()), ("member", None));
    }
}

#[test]
fn a_refund_revokes_a_tier_it_earned_after_its_day_left_a_rolling_window() {
    let l = rolling(30, r#"{ "type": "days", "days": 30 }"#);
    let z = zone();
    for visit_first in [false, true] {
        let mut s = l.start(noon(2026, 1, 1), &z);
        l.record(&mut s, noon(2026, 1, 1), 500, &z)
            .unwrap_or_else(|e| panic!("{e}"));
        if visit_first {
            l.record(&mut s, noon(2026, 2, 5), 1, &z)
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let step = l
            .retract(
                &mut s,
                noon(2026, 1, 1),
                noon(2026, 2, 6),
                500,
                "refund",
                &z,
            )
            .unwrap_or_else(|e| panic!("{e}"));
        let change = step.change.map(|c| c.to_string());
        let left = u64::from(visit_first);
        assert_eq!(
            change,
            Some(format!(
                "gold → member: revoked (refund): {left} qualifying is below the threshold 500"
            )),
            "visit first: {visit_first}"
        );
        assert_eq!(s.tier().as_str(), "member");
    }
}

#[test]
fn a_refund_of_points_after_the_window_the_tier_rests_on_changes_nothing() {
    // Gold rests on March; a later visit, refunded, never counted for it.
    let l = rolling(10, r#"{ "type": "days", "days": 30 }"#);
    let z = zone();
    let mut s = l.start(noon(2026, 3, 1), &z);
    for (at, amount) in [(noon(2026, 3, 1), 300), (noon(2026, 3, 2), 300)] {
        l.record(&mut s, at, amount, &z)
            .unwrap_or_else(|e| panic!("{e}"));
    }
    l.record(&mut s, noon(2026, 3, 20), 40, &z)
        .unwrap_or_else(|e| panic!("{e}"));
    let step = l
        .retract(&mut s, noon(2026, 3, 20), noon(2026, 3, 21), 40, "r", &z)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((step.change, s.tier().as_str()), (None, "gold"));
    // Refunding one of the purchases gold rests on leaves 300, though the
    // day has left the window: revoked down to silver, which 300 reaches.
    let step = l
        .retract(&mut s, noon(2026, 3, 1), noon(2026, 3, 22), 300, "r", &z)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(step.change.map(|c| c.to), Some(Label::from("silver")));
}

#[test]
fn refunding_the_purchase_that_ended_a_grace_period_gives_the_grace_back() {
    let l = rolling(30, r#"{ "type": "days", "days": 30 }"#);
    let z = zone();
    let mut s = l.start(noon(2026, 1, 1), &z);
    l.record(&mut s, noon(2026, 1, 1), 500, &z)
        .unwrap_or_else(|e| panic!("{e}"));
    l.evaluate(&mut s, noon(2026, 2, 5), &z)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.grace_until(), Some(day(2026, 3, 7)));
    let without = s.clone();
    l.record(&mut s, noon(2026, 2, 10), 500, &z)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.grace_until(), None);
    let step = l
        .retract(
            &mut s,
            noon(2026, 2, 10),
            noon(2026, 2, 11),
            500,
            "refund",
            &z,
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(step.change, None);
    assert_eq!(
        (s.tier().as_str(), s.grace_until(), step.grace_until),
        ("gold", Some(day(2026, 3, 7)), Some(day(2026, 3, 7)))
    );
    // As if the purchase had never been made: demoted when the grace ends.
    let mut never = without;
    for at in [noon(2026, 3, 6), noon(2026, 3, 7)] {
        let a = l.evaluate(&mut s, at, &z).unwrap_or_else(|e| panic!("{e}"));
        let b = l
            .evaluate(&mut never, at, &z)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((a.change, a.grace_until), (b.change, b.grace_until));
    }
    assert_eq!(s.tier().as_str(), "member");
}

#[test]
fn refunding_the_purchase_that_ended_a_grace_period_after_the_grace_revokes() {
    let l = rolling(30, r#"{ "type": "days", "days": 30 }"#);
    let z = zone();
    let mut s = l.start(noon(2026, 1, 1), &z);
    l.record(&mut s, noon(2026, 1, 1), 500, &z)
        .unwrap_or_else(|e| panic!("{e}"));
    l.evaluate(&mut s, noon(2026, 2, 5), &z)
        .unwrap_or_else(|e| panic!("{e}"));
    l.record(&mut s, noon(2026, 2, 10), 500, &z)
        .unwrap_or_else(|e| panic!("{e}"));
    let step = l
        .retract(
            &mut s,
            noon(2026, 2, 10),
            noon(2026, 3, 7),
            500,
            "refund",
            &z,
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(step.change.map(|c| c.to), Some(Label::from("member")));
    assert_eq!(s.grace_until(), None);
}

#[test]
fn an_unrelated_step_before_a_refund_keeps_the_window_the_tier_rests_on() {
    // Gold rests on 3-25's window: 800, 600 without the refunded 200.
    let l = rolling(30, r#"{ "type": "days", "days": 30 }"#);
    let z = zone();
    for first in [First::Nothing, First::Visit, First::Evaluation] {
        let mut s = l.start(noon(2026, 3, 1), &z);
        for (at, amount) in [
            (noon(2026, 3, 1), 300),
            (noon(2026, 3, 20), 200),
            (noon(2026, 3, 25), 300),
        ] {
            l.record(&mut s, at, amount, &z)
                .unwrap_or_else(|e| panic!("{e}"));
        }
        // On 4-5 the window holds 500 (501 with the visit): still gold.
        match first {
            First::Nothing => {}
            First::Visit => drop(l.record(&mut s, noon(2026, 4, 5), 1, &z)),
            First::Evaluation => drop(l.evaluate(&mut s, noon(2026, 4, 5), &z)),
        }
        let step = l
            .retract(&mut s, noon(2026, 3, 20), noon(2026, 4, 6), 200, "r", &z)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (step.change, s.tier().as_str()),
            (None, "gold"),
            "{first:?}"
        );
    }
}

#[test]
fn a_refund_from_a_year_before_a_later_qualifying_year_changes_nothing() {
    let l = anniversary_ladder(r#"{ "type": "until_anniversary" }"#);
    let z = zone();
    let mut s = l.start(noon(2025, 1, 1), &z);
    for (at, amount) in [
        (noon(2025, 3, 1), 600),
        (noon(2025, 4, 1), 200),
        (noon(2026, 3, 1), 500),
    ] {
        l.record(&mut s, at, amount, &z)
            .unwrap_or_else(|e| panic!("{e}"));
    }
    // 2026 qualified on its own: refunding 2025's 600 in 2027 revokes nothing.
    l.evaluate(&mut s, noon(2027, 1, 5), &z)
        .unwrap_or_else(|e| panic!("{e}"));
    let step = l
        .retract(&mut s, noon(2025, 3, 1), noon(2027, 1, 10), 600, "r", &z)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((step.change, s.tier().as_str()), (None, "gold"));
    // Refunding 2026's 500 leaves neither year at 500: revoked.
    let step = l
        .retract(&mut s, noon(2026, 3, 1), noon(2027, 1, 11), 500, "r", &z)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(step.change.map(|c| c.to), Some(Label::from("member")));
}

#[test]
fn a_refunded_late_record_the_tier_never_rested_on_changes_nothing() {
    // Gold rests on 3-1 and 3-20 (500); a record dated 3-20 arrives on
    // 4-5, when the window is below gold: refunding it revokes nothing.
    let l = rolling(30, r#"{ "type": "days", "days": 30 }"#);
    let z = zone();
    let mut s = l.start(noon(2026, 3, 1), &z);
    for (at, amount) in [(noon(2026, 3, 1), 300), (noon(2026, 3, 20), 200)] {
        l.record(&mut s, at, amount, &z)
            .unwrap_or_else(|e| panic!("{e}"));
    }
    l.record(&mut s, noon(2026, 4, 5), 1, &z)
        .unwrap_or_else(|e| panic!("{e}"));
    l.record(&mut s, noon(2026, 3, 20), 50, &z)
        .unwrap_or_else(|e| panic!("{e}"));
    let step = l
        .retract(&mut s, noon(2026, 3, 20), noon(2026, 4, 6), 50, "r", &z)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((step.change, s.tier().as_str()), (None, "gold"));
}

#[test]
fn until_anniversary_grace_counts_from_the_first_year_below_however_late_evaluated() {
    // Gold reached in the first membership year is kept through the
    // second, and lost on the third's first day, whenever evaluated.
    let l = anniversary_ladder(r#"{ "type": "until_anniversary" }"#);
    let z = zone();
    for evaluations in [
        &[noon(2026, 1, 2), noon(2027, 1, 2)][..],
        &[noon(2027, 1, 2)][..],
    ] {
        let mut s = l.start(noon(2025, 1, 1), &z);
        l.record(&mut s, noon(2025, 6, 1), 500, &z)
            .unwrap_or_else(|e| panic!("{e}"));
        let mut last = None;
        for at in evaluations {
            last = l
                .evaluate(&mut s, *at, &z)
                .unwrap_or_else(|e| panic!("{e}"))
                .change;
        }
        let change = last.unwrap_or_else(|| panic!("{evaluations:?}: not demoted"));
        assert_eq!(change.to.as_str(), "member", "{evaluations:?}");
        assert_eq!(change.at, noon(2027, 1, 2), "{evaluations:?}");
    }
    // Found below late in the second year: kept to its end all the same.
    let mut s = l.start(noon(2025, 1, 1), &z);
    l.record(&mut s, noon(2025, 6, 1), 500, &z)
        .unwrap_or_else(|e| panic!("{e}"));
    let step = l
        .evaluate(&mut s, noon(2026, 12, 30), &z)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (step.change, step.grace_until),
        (None, Some(day(2027, 1, 1)))
    );
}

/// Gold reached with 500 points in the first membership year; on the first
/// day of the second, a purchase recorded in `parts`, each refunded the next
/// day, after an evaluation in the second year if `evaluated`. Returns the
/// refunds' changes and the status.
fn refund_in_the_year_after_gold(evaluated: bool, parts: &[u64]) -> (Vec<TierChange>, TierStatus) {
    let l = anniversary_ladder(r#"{ "type": "until_anniversary" }"#);
    let z = zone();
    let mut s = l.start(noon(2025, 1, 1), &z);
    l.record(&mut s, noon(2025, 6, 1), 500, &z)
        .unwrap_or_else(|e| panic!("{e}"));
    let bought = noon(2026, 1, 1);
    if evaluated {
        let step = l
            .evaluate(&mut s, bought - TimeDelta::hours(1), &z)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(step.grace_until, Some(day(2027, 1, 1)));
    }
    for part in parts {
        l.record(&mut s, bought, *part, &z)
            .unwrap_or_else(|e| panic!("{e}"));
    }
    assert_eq!(s.tier().as_str(), "gold");
    let mut changes = Vec::new();
    for part in parts {
        let step = l
            .retract(&mut s, bought, noon(2026, 1, 2), *part, "refund", &z)
            .unwrap_or_else(|e| panic!("{e}"));
        changes.extend(step.change);
    }
    (changes, s)
}

#[test]
fn a_refund_in_the_next_year_keeps_a_tier_the_year_before_reached_on_its_own() {
    // The second year's purchase tops the first year's 500, in one record
    // or two (the second year's window met twice); refunded, gold still
    // rests on the first year, whether or not an evaluation came first.
    let l = anniversary_ladder(r#"{ "type": "until_anniversary" }"#);
    let z = zone();
    for parts in [&[750][..], &[600, 150][..]] {
        for evaluated in [false, true] {
            let case = format!("{parts:?}, evaluated first: {evaluated}");
            let (changes, s) = refund_in_the_year_after_gold(evaluated, parts);
            assert_eq!((changes, s.tier().as_str()), (vec![], "gold"), "{case}");
            // Kept through the second year, lost on the third's first day:
            // evaluated during the second year or only in the third.
            let mut during = s.clone();
            let step = l
                .evaluate(&mut during, noon(2026, 6, 1), &z)
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                (step.change, step.grace_until),
                (None, Some(day(2027, 1, 1))),
                "{case}"
            );
            for mut s in [during, s] {
                let step = l
                    .evaluate(&mut s, noon(2027, 1, 2), &z)
                    .unwrap_or_else(|e| panic!("{e}"));
                let change = step.change.unwrap_or_else(|| panic!("{case}: kept"));
                assert_eq!(
                    (change.to.as_str(), change.at),
                    ("member", noon(2027, 1, 2)),
                    "{case}"
                );
            }
        }
    }
}

#[test]
fn a_refund_of_a_later_bigger_purchase_keeps_a_tier_an_earlier_window_reached() {
    // Gold reached by 1 January's purchase alone; a bigger one 40 days
    // later, in a window without it, is refunded: gold still rests on
    // January's window, and the next evaluation starts its grace.
    let l = rolling(30, r#"{ "type": "days", "days": 30 }"#);
    let z = zone();
    for first in [500, 1000] {
        let mut s = l.start(noon(2026, 1, 1), &z);
        l.record(&mut s, noon(2026, 1, 1), first, &z)
            .unwrap_or_else(|e| panic!("{e}"));
        l.record(&mut s, noon(2026, 2, 10), 750, &z)
            .unwrap_or_else(|e| panic!("{e}"));
        let step = l
            .retract(
                &mut s,
                noon(2026, 2, 10),
                noon(2026, 2, 10) + TimeDelta::hours(1),
                750,
                "refund",
                &z,
            )
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (step.change, step.qualifying, s.tier().as_str()),
            (None, 0, "gold"),
            "first: {first}"
        );
        let step = l
            .evaluate(&mut s, noon(2026, 2, 11), &z)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (step.change, step.grace_until),
            (None, Some(day(2026, 3, 13))),
            "first: {first}"
        );
    }
}

#[test]
fn an_evaluation_older_than_the_window_never_dates_a_change_before_the_tier_began() {
    let l = rolling(1, r#"{ "type": "none" }"#);
    let z = zone();
    let mut s = l.start(noon(2026, 3, 1), &z);
    l.record(&mut s, noon(2026, 3, 10), 500, &z)
        .unwrap_or_else(|e| panic!("{e}"));
    l.record(&mut s, noon(2026, 3, 11), 1, &z)
        .unwrap_or_else(|e| panic!("{e}"));
    // A late-running job for 10 March, before gold began at noon: it
    // judges the window of 11 March, and dates the demotion when gold began.
    let stale = Utc
        .with_ymd_and_hms(2026, 3, 10, 0, 0, 0)
        .single()
        .unwrap_or_default();
    let step = l
        .evaluate(&mut s, stale, &z)
        .unwrap_or_else(|e| panic!("{e}"));
    let change = step.change.unwrap_or_else(|| panic!("demoted"));
    assert_eq!(
        (change.to.as_str(), change.at, &change.reason),
        (
            "member",
            noon(2026, 3, 10),
            &TierReason::FellBelow {
                qualifying: 1,
                threshold: 500
            }
        )
    );
    assert_eq!(
        (s.since(), s.as_of()),
        (noon(2026, 3, 10), day(2026, 3, 11))
    );
}

#[test]
fn an_evaluation_older_than_the_window_starts_the_grace_clock_on_the_day_it_judges() {
    let l = rolling(1, r#"{ "type": "days", "days": 7 }"#);
    let z = zone();
    let mut s = l.start(noon(2026, 3, 1), &z);
    l.record(&mut s, noon(2026, 3, 10), 500, &z)
        .unwrap_or_else(|e| panic!("{e}"));
    l.record(&mut s, noon(2026, 3, 20), 1, &z)
        .unwrap_or_else(|e| panic!("{e}"));
    // Run as of 9 March, it finds 20 March's window below gold: seven days
    // of grace from 20 March, not from 9 March.
    let step = l
        .evaluate(&mut s, noon(2026, 3, 9), &z)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (step.change, step.grace_until),
        (None, Some(day(2026, 3, 27)))
    );
    let step = l
        .evaluate(&mut s, noon(2026, 3, 26), &z)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(step.change, None);
    let step = l
        .evaluate(&mut s, noon(2026, 3, 27), &z)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        step.change.map(|c| (c.to, c.at)),
        Some((Label::from("member"), noon(2026, 3, 27)))
    );
}

#[test]
fn a_status_saved_before_it_kept_what_the_tier_rests_on_still_reads_and_steps() {
    let l = rolling(30, r#"{ "type": "days", "days": 30 }"#);
    let z = zone();
    let mut s = l.start(noon(2026, 3, 1), &z);
    l.record(&mut s, noon(2026, 3, 1), 120, &z)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut json = serde_json::to_value(&s).unwrap_or_default();
    assert!(json.get("rests").is_some());
    if let Some(map) = json.as_object_mut() {
        map.remove("rests");
    }
    let mut old: TierStatus = serde_json::from_value(json).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(old.tier().as_str(), "silver");
    // Judged against the window, as before.
    let step = l
        .retract(&mut old, noon(2026, 3, 1), noon(2026, 3, 2), 30, "r", &z)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(step.change.map(|c| c.to), Some(Label::from("member")));
}

mod in_order {
    //! The usual record's short path gives what the whole step gives.
    use super::*;
    use proptest::prelude::*;

    /// One step of a member's history: a record of `amount` points
    /// `hours` after the start, an evaluation, a retraction of a record
    /// made then, or a save and load (after which the status names its
    /// tier with a label of its own, not the ladder's).
    #[derive(Clone, Debug)]
    enum Op {
        Record { hours: i64, amount: u64 },
        Evaluate { hours: i64 },
        Retract { hours: i64, amount: u64 },
        Reload,
    }

    fn op() -> impl Strategy<Value = Op> {
        let hours = 0i64..24 * 80;
        prop_oneof![
            6 => (hours.clone(), prop_oneof![Just(0u64), 1u64..400, Just(u64::MAX)])
                .prop_map(|(hours, amount)| Op::Record { hours, amount }),
            1 => hours.clone().prop_map(|hours| Op::Evaluate { hours }),
            1 => (hours, 1u64..300).prop_map(|(hours, amount)| Op::Retract { hours, amount }),
            1 => Just(Op::Reload),
        ]
    }

    fn ladders() -> impl Strategy<Value = TierLadder> {
        let grace = prop_oneof![
            Just(r#"{ "type": "none" }"#.to_string()),
            (1u32..10).prop_map(|d| format!(r#"{{ "type": "days", "days": {d} }}"#)),
        ];
        prop_oneof![
            (1u32..40, grace.clone()).prop_map(|(days, grace)| rolling(days, &grace)),
            grace.prop_map(|grace| anniversary_ladder(&grace)),
        ]
    }

    proptest! {
        #[test]
        fn the_short_path_steps_as_the_whole_step(
            l in ladders(),
            ops in prop::collection::vec(op(), 1..40),
        ) {
            let z = zone();
            let t0 = noon(2026, 3, 1);
            let at = |hours: i64| t0 + TimeDelta::hours(hours);
            let (mut short, mut whole) = (l.start(t0, &z), l.start(t0, &z));
            for op in ops {
                match op {
                    Op::Record { hours, amount } => {
                        let day = LocalDay::of(at(hours), &z);
                        let a = l.record_step(&mut short, at(hours), amount, &z);
                        let b = l.record_any(&mut whole, (day, at(hours)), amount);
                        let seen = |r: Result<Recorded, TierError>| {
                            r.map(|r| (r.current, r.reached, r.qualifying, r.counted))
                        };
                        prop_assert_eq!(seen(a), seen(b));
                    }
                    Op::Evaluate { hours } => {
                        let a = l.evaluate(&mut short, at(hours), &z);
                        let b = l.evaluate(&mut whole, at(hours), &z);
                        prop_assert_eq!(a, b);
                    }
                    Op::Retract { hours, amount } => {
                        let now = at(hours + 1);
                        let a = l.retract(&mut short, at(hours), now, amount, "r", &z);
                        let b = l.retract(&mut whole, at(hours), now, amount, "r", &z);
                        prop_assert_eq!(a, b);
                    }
                    Op::Reload => {
                        let reload = |s: &TierStatus| {
                            serde_json::to_string(s)
                                .and_then(|json| serde_json::from_str::<TierStatus>(&json))
                        };
                        short = reload(&short).map_err(|e| TestCaseError::fail(e.to_string()))?;
                        whole = reload(&whole).map_err(|e| TestCaseError::fail(e.to_string()))?;
                    }
                }
                prop_assert_eq!(&short, &whole);
            }
        }
    }
}

mod retractions {
    //! What a retraction does depends on the records, not on when the
    //! windows they fell in were looked at.
    use super::*;
    use proptest::prelude::*;

    /// Records in time order: `(hours after the previous one, amount)`,
    /// of any amount below `most`, or of a multiple of 50 (so that tallies
    /// meet thresholds, and one another, exactly).
    fn records(most_hours: i64, most: u64) -> impl Strategy<Value = Vec<(i64, u64)>> {
        let amount = prop_oneof![1u64..most, (1u64..=most / 50).prop_map(|n| n * 50)];
        prop::collection::vec((0i64..most_hours, amount), 1..10)
    }

    /// Each record's instant, `t0` plus the hours before it.
    fn instants(t0: DateTime<Utc>, records: &[(i64, u64)]) -> Vec<DateTime<Utc>> {
        let mut at = t0;
        records
            .iter()
            .map(|(hours, _)| {
                at += TimeDelta::hours(*hours);
                at
            })
            .collect()
    }

    fn ladders() -> impl Strategy<Value = TierLadder> {
        let grace = prop_oneof![
            Just(r#"{ "type": "none" }"#.to_string()),
            (1u32..10).prop_map(|d| format!(r#"{{ "type": "days", "days": {d} }}"#)),
            Just(r#"{ "type": "until_anniversary" }"#.to_string()),
        ];
        prop_oneof![
            (1u32..40, grace.clone()).prop_map(|(days, grace)| rolling(days, &grace)),
            grace.prop_map(|grace| anniversary_ladder(&grace)),
        ]
    }

    proptest! {
        /// Over anniversary years (which share no day), a tier reached by
        /// records is kept through the retraction of one of them exactly
        /// when a year still reaches its threshold without it.
        #[test]
        fn a_retraction_keeps_gold_while_a_year_reaches_it_without_the_record(
            records in records(24 * 200, 500),
            pick in any::<prop::sample::Index>(),
        ) {
            let l = anniversary_ladder(r#"{ "type": "until_anniversary" }"#);
            let z = zone();
            let t0 = noon(2025, 1, 1);
            let mut s = l.start(t0, &z);
            let at = instants(t0, &records);
            for (at, (_, amount)) in at.iter().zip(&records) {
                l.record(&mut s, *at, *amount, &z).map_err(|e| TestCaseError::fail(e.to_string()))?;
            }
            // The records' totals by year, with and without the one taken back.
            let year = |at: DateTime<Utc>| l.bucket_of(LocalDay::of(at, &z), s.joined());
            let j = pick.index(records.len());
            let mut years = std::collections::BTreeMap::<LocalDay, (u64, u64)>::new();
            for (i, (at, (_, amount))) in at.iter().zip(&records).enumerate() {
                let y = years.entry(year(*at)).or_default();
                y.0 += amount;
                y.1 += if i == j { 0 } else { *amount };
            }
            let reached = |total: u64| total >= 500;
            prop_assert_eq!(s.tier().as_str() == "gold", years.values().any(|y| reached(y.0)));
            let now = at[records.len() - 1] + TimeDelta::hours(1);
            l.retract(&mut s, at[j], now, records[j].1, "r", &z)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(s.tier().as_str() == "gold", years.values().any(|y| reached(y.1)));
        }

        /// An evaluation between records (or after them) that changes
        /// nothing but the window's end changes nothing a later retraction
        /// of one of the records does.
        #[test]
        fn an_evaluation_that_changes_nothing_changes_no_later_retraction(
            l in ladders(),
            records in records(24 * 60, 400),
            evaluated in any::<prop::sample::Index>(),
            after in 0i64..24 * 60,
            pick in any::<prop::sample::Index>(),
        ) {
            let z = zone();
            let t0 = noon(2026, 3, 1);
            let at = instants(t0, &records);
            let fail = |e: TierError| TestCaseError::fail(e.to_string());
            // The evaluation comes after record `k`, before the next one.
            let k = evaluated.index(records.len());
            let when = (at[k] + TimeDelta::hours(after)).min(at.get(k + 1).copied().unwrap_or(DateTime::<Utc>::MAX_UTC));
            let (mut plain, mut looked) = (l.start(t0, &z), l.start(t0, &z));
            for (i, (at, (_, amount))) in at.iter().zip(&records).enumerate() {
                let a = l.record(&mut plain, *at, *amount, &z).map_err(fail)?;
                let b = l.record(&mut looked, *at, *amount, &z).map_err(fail)?;
                prop_assert_eq!(a.change, b.change);
                if i == k {
                    let grace = looked.grace_until();
                    let step = l.evaluate(&mut looked, when, &z).map_err(fail)?;
                    if step.change.is_some() || looked.grace_until() != grace {
                        return Ok(());
                    }
                }
            }
            let j = pick.index(records.len());
            let now = when.max(at[records.len() - 1]) + TimeDelta::hours(1);
            let a = l.retract(&mut plain, at[j], now, records[j].1, "r", &z).map_err(fail)?;
            let b = l.retract(&mut looked, at[j], now, records[j].1, "r", &z).map_err(fail)?;
            prop_assert_eq!((a.change, a.tier), (b.change, b.tier));
            prop_assert_eq!(plain.tier(), looked.tier());
        }

        /// Over anniversary years, an evaluation that finds the member
        /// below and starts a grace period changes nothing a retraction of
        /// one of the records does while that grace still runs.
        #[test]
        fn an_evaluation_starting_grace_changes_no_retraction_while_it_runs(
            grace in prop_oneof![
                Just(r#"{ "type": "until_anniversary" }"#),
                Just(r#"{ "type": "days", "days": 400 }"#),
            ],
            records in records(24 * 200, 500),
            evaluated in any::<prop::sample::Index>(),
            after in 0i64..24 * 200,
            pick in any::<prop::sample::Index>(),
        ) {
            let l = anniversary_ladder(grace);
            let z = zone();
            let t0 = noon(2025, 1, 1);
            let at = instants(t0, &records);
            let fail = |e: TierError| TestCaseError::fail(e.to_string());
            let k = evaluated.index(records.len());
            let when = (at[k] + TimeDelta::hours(after)).min(at.get(k + 1).copied().unwrap_or(DateTime::<Utc>::MAX_UTC));
            let (mut plain, mut looked) = (l.start(t0, &z), l.start(t0, &z));
            let mut grace_until = None;
            for (i, (at, (_, amount))) in at.iter().zip(&records).enumerate() {
                l.record(&mut plain, *at, *amount, &z).map_err(fail)?;
                l.record(&mut looked, *at, *amount, &z).map_err(fail)?;
                if i == k {
                    let step = l.evaluate(&mut looked, when, &z).map_err(fail)?;
                    if step.change.is_some() {
                        return Ok(());
                    }
                    grace_until = step.grace_until;
                }
            }
            let j = pick.index(records.len());
            let now = when.max(at[records.len() - 1]) + TimeDelta::hours(1);
            if grace_until.is_some_and(|g| LocalDay::of(now, &z) >= g) {
                return Ok(());
            }
            let a = l.retract(&mut plain, at[j], now, records[j].1, "r", &z).map_err(fail)?;
            let b = l.retract(&mut looked, at[j], now, records[j].1, "r", &z).map_err(fail)?;
            prop_assert_eq!(a.change.map(|c| c.to), b.change.map(|c| c.to));
            prop_assert_eq!(plain.tier(), looked.tier());
        }
    }
}

#[test]
fn a_refund_in_the_third_year_keeps_the_grace_the_second_year_earned() {
    // Gold (500) met in each of three membership years, the first with
    // the most points. A refund takes the third year below 500 and
    // revokes nothing (the years before met it on their own); the second
    // year met gold, so gold is kept through the third, as if the third
    // year had never met it, rather than lost at once as if only the
    // first year had.
    let l = anniversary_ladder(r#"{ "type": "until_anniversary" }"#);
    let z = zone();
    let mut s = l.start(noon(2025, 1, 1), &z);
    for (at, points) in [
        (noon(2025, 6, 1), 600),
        (noon(2026, 6, 1), 550),
        (noon(2027, 6, 1), 520),
    ] {
        l.record(&mut s, at, points, &z)
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let step = l
        .retract(
            &mut s,
            noon(2027, 6, 1),
            noon(2027, 7, 1),
            100,
            "refund",
            &z,
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((step.change, s.tier().as_str()), (None, "gold"));
    let step = l
        .evaluate(&mut s, noon(2027, 8, 1), &z)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (step.change, step.grace_until),
        (None, Some(day(2028, 1, 1)))
    );
}

#[test]
fn a_refund_keeps_a_tier_an_older_lower_window_reached_without_it() {
    // Silver (100) over 2 days: reached by the window to the 1st (100);
    // the window to the 3rd meets it with more (101), and so does the one
    // to the 4th (102). Refunding the 3rd's purchase takes both later
    // windows below silver, but not the window to the 1st, which never
    // held it: silver stays, for the next evaluation to judge.
    let l = rolling(2, r#"{ "type": "days", "days": 30 }"#);
    let z = zone();
    let mut s = l.start(noon(2026, 3, 1), &z);
    for (d, points) in [(1, 100), (3, 101), (4, 1)] {
        l.record(&mut s, noon(2026, 3, d), points, &z)
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let step = l
        .retract(
            &mut s,
            noon(2026, 3, 3),
            noon(2026, 3, 4),
            101,
            "refund",
            &z,
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((step.change, s.tier().as_str()), (None, "silver"));
    // The evaluation finds the window below: grace, not a demotion.
    let step = l
        .evaluate(&mut s, noon(2026, 3, 5), &z)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (step.change, step.grace_until),
        (None, Some(day(2026, 4, 4)))
    );
}
