//! Points-program validation: each kind of mistake that can never work is a
//! typed error naming the rule (or section) and the field; near misses that
//! can work are accepted; and no JSON program, however odd its numbers,
//! text or sections, makes reading or validating it panic, while every
//! program that validates reads back from its own JSON to the same program.

use growthkit::points::{ConditionProblem, ProgramError, ProgramSpec};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{Value, json};

/// The program of `rules` (JSON), with `extra` program-level fields.
fn program(rules: Value, extra: Value) -> ProgramSpec {
    let mut v = json!({ "utc_offset": "+08:00", "rules": rules });
    if let Value::Object(fields) = extra {
        for (k, x) in fields {
            v[k] = x;
        }
    }
    serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{v}: {e}"))
}

/// One lesson rule with `when`.
fn lesson_when(when: Value) -> ProgramSpec {
    program(
        json!([{ "name": "lesson", "on": "action_completed:lesson",
                 "reward": { "type": "fixed", "points": 10 }, "when": when }]),
        json!({}),
    )
}

/// The `NeverTogether` error of the lesson rule's `when[index]`, naming
/// the first earlier condition on the same thing, `earlier`.
fn assert_never_together(when: Value, index: usize, kind: &str, earlier: usize) {
    let err = lesson_when(when.clone()).validate().unwrap_err();
    match &err {
        ProgramError::Condition {
            rule,
            index: i,
            kind: k,
            problem: ConditionProblem::NeverTogether { earlier: e },
        } => {
            assert_eq!(
                (rule.as_str(), *i, *k, *e),
                ("lesson", index, kind, earlier),
                "{when}"
            );
        }
        other => panic!("{when}: {other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("rule lesson: when[{index}] ({kind}): "))
            && text.contains(&format!("when[{earlier}]")),
        "{text}"
    );
}

fn assert_valid(spec: ProgramSpec) {
    let json = serde_json::to_string(&spec).unwrap();
    if let Err(e) = spec.validate() {
        panic!("{json}: {e}");
    }
}

#[test]
fn campaigns_that_do_not_meet_are_refused() {
    let jan = json!({ "type": "campaign", "start": "2026-01-01T00:00:00Z", "end": "2026-02-01T00:00:00Z" });
    let mar = json!({ "type": "campaign", "start": "2026-03-01T00:00:00Z", "end": "2026-04-01T00:00:00Z" });
    assert_never_together(json!([jan, mar]), 1, "campaign", 0);
    // Half-open: one ending as the other starts shares no instant.
    let feb = json!({ "type": "campaign", "start": "2026-02-01T00:00:00Z" });
    assert_never_together(
        json!([{ "type": "first_time" }, jan, feb]),
        2,
        "campaign",
        1,
    );
    // Overlapping by a second, or open on both sides of one instant: fine.
    let late_jan = json!({ "type": "campaign", "start": "2026-01-31T23:59:59Z" });
    assert_valid(lesson_when(json!([jan, late_jan])));
    let until = json!({ "type": "campaign", "end": "2026-01-01T00:00:01Z" });
    assert_valid(lesson_when(json!([jan, until])));
}

#[test]
fn weekday_sets_with_no_day_in_common_are_refused() {
    let w = |days: &[&str]| json!({ "type": "weekdays", "any_of": days });
    assert_never_together(json!([w(&["Sat", "Sun"]), w(&["Mon"])]), 1, "weekdays", 0);
    // Each two share a day, all three none: still never.
    assert_never_together(
        json!([w(&["Mon", "Tue"]), w(&["Tue", "Wed"]), w(&["Wed", "Mon"])]),
        2,
        "weekdays",
        0,
    );
    assert_valid(lesson_when(json!([
        w(&["Sat", "Sun"]),
        w(&["sunday", "Mon"])
    ])));
}

#[test]
fn hour_ranges_with_no_hour_in_common_are_refused() {
    let h = |from: u8, to: u8| json!({ "type": "hours", "from": from, "to": to });
    assert_never_together(json!([h(9, 12), h(12, 18)]), 1, "hours", 0);
    // A range past midnight against a daytime one.
    assert_never_together(json!([h(22, 2), h(2, 22)]), 1, "hours", 0);
    assert_valid(lesson_when(json!([h(22, 2), h(1, 22)])));
    assert_valid(lesson_when(json!([h(0, 24), h(23, 24)])));
}

#[test]
fn sets_of_stages_tiers_communities_with_nothing_in_common_are_refused() {
    for (kind, a, b) in [
        ("stage", json!(["acquired"]), json!(["activated", "loyal"])),
        ("tier", json!(["gold"]), json!(["silver"])),
        ("community", json!([7, 9]), json!([8])),
        ("channel", json!(["app"]), json!(["wechat"])),
    ] {
        let when = json!([{ "type": kind, "any_of": a }, { "type": kind, "any_of": b }]);
        assert_never_together(when, 1, kind, 0);
    }
    let when = json!([
        { "type": "stage", "any_of": ["acquired", "loyal"] },
        { "type": "stage", "any_of": ["loyal"] }
    ]);
    assert_valid(lesson_when(when));
}

#[test]
fn attribute_conditions_that_exclude_each_other_are_refused() {
    let attr = |op: &str, value: Value| json!({ "type": "attr", "name": "minutes", "op": op, "value": value });
    assert_never_together(
        json!([attr("ge", json!(10)), attr("lt", json!(5))]),
        1,
        "attr",
        0,
    );
    assert_never_together(
        json!([attr("gt", json!(5)), attr("le", json!(5))]),
        1,
        "attr",
        0,
    );
    assert_never_together(
        json!([attr("eq", json!(3)), attr("eq", json!(4))]),
        1,
        "attr",
        0,
    );
    assert_never_together(
        json!([
            { "type": "attr_in", "name": "minutes", "values": [5, 30] },
            attr("ge", json!(10)),
            attr("ne", json!(30))
        ]),
        2,
        "attr",
        0,
    );
    // `ne` on the one number a range leaves, or on both flags.
    assert_never_together(
        json!([
            attr("ge", json!(5)),
            attr("ne", json!(5)),
            attr("le", json!(5))
        ]),
        2,
        "attr",
        0,
    );
    let paid = |v: bool| json!({ "type": "attr", "name": "paid", "op": "ne", "value": v });
    assert_never_together(json!([paid(true), paid(false)]), 1, "attr", 0);
    assert_valid(lesson_when(json!([
        attr("ge", json!(5)),
        attr("ne", json!(5)),
        attr("le", json!(6))
    ])));
    // Nothing is above the largest whole number: that condition alone.
    let err = lesson_when(json!([{ "type": "first_time" }, attr("gt", json!(i64::MAX))]))
        .validate()
        .unwrap_err();
    assert!(
        matches!(
            &err,
            ProgramError::Condition {
                index: 1,
                kind: "attr",
                problem: ConditionProblem::NeverHolds,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "rule lesson: when[1] (attr): no value meets it, so the rule never awards"
    );
    // A channel condition and an attribute condition on `channel`.
    assert_never_together(
        json!([
            { "type": "attr", "name": "channel", "op": "eq", "value": "app" },
            { "type": "channel", "any_of": ["wechat"] }
        ]),
        1,
        "channel",
        0,
    );
    // Ranges that meet at one number, and different attributes: fine.
    assert_valid(lesson_when(json!([
        attr("ge", json!(5)),
        attr("le", json!(5))
    ])));
    assert_valid(lesson_when(json!([
        attr("ge", json!(10)),
        { "type": "attr", "name": "score", "op": "lt", "value": 5 }
    ])));
    assert_valid(lesson_when(json!([attr("lt", json!(i64::MIN + 1))])));
}

#[test]
fn a_reject_cap_below_every_award_is_refused() {
    let rule = |extra: Value| {
        let mut r = json!({ "name": "post", "on": "post",
                            "reward": { "type": "fixed", "points": 50 },
                            "tier_multiplier": false, "cap_mode": "reject" });
        if let Value::Object(fields) = extra {
            for (k, x) in fields {
                r[k] = x;
            }
        }
        r
    };
    let err = program(
        json!([rule(json!({ "daily_cap": { "points": 30 } }))]),
        json!({}),
    )
    .validate()
    .unwrap_err();
    assert_eq!(
        err,
        ProgramError::RejectCapBelowAward {
            rule: "post".into(),
            field: "daily_cap.points",
            cap: 30,
            award: 50
        }
    );
    assert_eq!(
        err.to_string(),
        "rule post: daily_cap.points is 30 but every award of the rule is 50 points \
         and cap_mode is reject, so the rule never awards"
    );
    // The rule's multiplier counts: ×2 makes 100, above a lifetime 99.
    let doubled = rule(json!({ "multiplier": 2, "lifetime_cap": { "points": 99 } }));
    assert!(matches!(
        program(json!([doubled]), json!({})).validate(),
        Err(ProgramError::RejectCapBelowAward {
            field: "lifetime_cap.points",
            award: 100,
            ..
        })
    ));
    // The global daily cap, unless the rule is exempt.
    let global = json!({ "global_daily_cap": { "points": 40 } });
    let err = program(json!([rule(json!({}))]), global.clone())
        .validate()
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("rule post: global_daily_cap.points is 40"),
        "{err}"
    );
    assert_valid(program(
        json!([rule(json!({ "global_cap_exempt": true }))]),
        global,
    ));
    // What can fit is fine: trimming, a tier multiplier (which may be
    // below one), ×0.5, a cap of exactly the award, a count cap.
    for extra in [
        json!({ "daily_cap": { "points": 30 }, "cap_mode": "trim" }),
        json!({ "daily_cap": { "points": 30 }, "tier_multiplier": true }),
        json!({ "daily_cap": { "points": 30 }, "multiplier": 0.5 }),
        json!({ "daily_cap": { "points": 50 } }),
        json!({ "daily_cap": { "count": 1 } }),
    ] {
        assert_valid(program(json!([rule(extra)]), json!({})));
    }
}

#[test]
fn a_streak_badge_without_a_streak_section_is_refused() {
    let rules =
        json!([{ "name": "visit", "on": "visited", "reward": { "type": "fixed", "points": 1 } }]);
    let badges = json!({ "badges": [
        { "name": "visitor", "counter": { "type": "events", "on": "visited" }, "levels": [ { "at": 3 } ] },
        { "name": "devoted", "counter": { "type": "streak" }, "levels": [ { "at": 7 } ] }
    ] });
    let err = program(rules.clone(), json!({ "badges": badges }))
        .validate()
        .unwrap_err();
    assert_eq!(
        err,
        ProgramError::StreakBadgeWithoutStreak {
            badge: "devoted".into()
        }
    );
    assert_eq!(
        err.to_string(),
        "badges: badge devoted: counter is streak but the program has no streak section, \
         so the badge is never earned"
    );
    assert_valid(program(rules, json!({ "badges": badges, "streak": {} })));
}

#[test]
fn json_errors_name_the_path_down_to_the_field_and_value() {
    let read = |json: Value| {
        serde_json::from_value::<ProgramSpec>(json)
            .unwrap_err()
            .to_string()
    };
    let rule = json!({ "name": "r", "on": "visited", "reward": { "type": "fixed", "points": 1 } });
    // The dedupe window's fields, in every spec that embeds one.
    assert_eq!(
        read(json!({ "rules": [rule], "dedupe": { "horizon_hours": 24, "max_ids": 70_000 } })),
        "field `dedupe`: field `max_ids`: invalid value: integer `70000`, expected u16"
    );
    // A weekday chrono cannot read, named with its place.
    let mut bad = rule.clone();
    bad["when"] = json!([{ "type": "weekdays", "any_of": ["sat", "Funday"] }]);
    assert_eq!(
        read(json!({ "rules": [rule, bad] })),
        "rules[1]: when[0]: field `any_of`: any_of[1]: `Funday` is not a weekday \
         (Mon to Sun, or monday to sunday)"
    );
    let mut typed =
        json!({ "name": "r", "on": "visited", "reward": { "type": "fixed", "points": 1 } });
    typed["when"] = json!([{ "type": "weekdays", "any_of": [3] }]);
    assert!(read(json!({ "rules": [typed] })).starts_with("rules[0]: when[0]: field `any_of`: "));
}

// --- Arbitrary JSON: no panics; what validates reads back the same ------

/// Numbers at and past the edges of every integer type the spec uses, and
/// numbers of the wrong kind.
fn edge_number() -> impl Strategy<Value = Value> {
    prop_oneof![
        14 => (1u64..40).prop_map(Value::from),
        1 => select(vec![
            json!(0), json!(1), json!(-1), json!(23), json!(24), json!(25),
            json!(255), json!(256), json!(65_535), json!(65_536),
            json!(u32::MAX), json!(u64::from(u32::MAX) + 1),
            json!(i64::MAX), json!(i64::MIN), json!(u64::MAX),
            json!(1.5), json!(0.5), json!(-0.0), json!(1e300), json!(0.00001),
            json!(1000), json!(1000.0001), json!(3_652_425), json!(3_652_426),
            json!("3"), json!(null), json!(true), json!([]), json!({})
        ]),
    ]
}

/// Names: ordinary, empty, blank, unicode, reserved-looking, very long.
fn edge_name() -> impl Strategy<Value = Value> {
    prop_oneof![
        14 => select(vec!["a", "b", "c", "d", "lesson", "gold", "silver", "金"]).prop_map(Value::from),
        1 => select(vec![
            json!(""), json!("  "), json!("金牌"), json!("é\u{301}"), json!("\u{0}"),
            json!("streak 7"), json!("badge x"), json!("a:b"), json!("x".repeat(300)),
            json!(7), json!(null)
        ]),
    ]
}

fn edge_pattern() -> impl Strategy<Value = Value> {
    prop_oneof![
        8 => select(vec![
            json!("visited"), json!("*"), json!("purchase"), json!("check_in"),
            json!("action_completed:lesson"), json!("action_completed:课"),
        ]),
        1 => select(vec![
            json!("any"), json!("action_completed:"), json!("visited:x"), json!(""),
            json!("nope"), json!(3),
        ]),
    ]
}

fn edge_condition() -> impl Strategy<Value = Value> {
    let n = edge_number;
    prop_oneof![
        (edge_name(), select(vec!["eq", "ne", "lt", "le", "gt", "ge", "??"]), n())
            .prop_map(|(name, op, value)| json!({ "type": "attr", "name": name, "op": op, "value": value })),
        (edge_name(), vec(n(), 0..3))
            .prop_map(|(name, values)| json!({ "type": "attr_in", "name": name, "values": values })),
        vec(edge_name(), 0..3).prop_map(|a| json!({ "type": "channel", "any_of": a })),
        vec(n(), 0..3).prop_map(|a| json!({ "type": "community", "any_of": a })),
        (
            select(vec![json!(null), json!("2026-01-01T00:00:00Z"), json!("+262143-12-31T23:59:59Z"), json!("nope")]),
            select(vec![json!(null), json!("2026-02-01T00:00:00Z"), json!("-262143-01-01T00:00:00Z"), json!(1)]),
        )
            .prop_map(|(start, end)| {
                let mut c = json!({ "type": "campaign" });
                if !start.is_null() { c["start"] = start; }
                if !end.is_null() { c["end"] = end; }
                c
            }),
        vec(select(vec!["Mon", "sat", "Sunday", "Funday"]), 0..3)
            .prop_map(|a| json!({ "type": "weekdays", "any_of": a })),
        (n(), n()).prop_map(|(from, to)| json!({ "type": "hours", "from": from, "to": to })),
        (0u8..24, 0u8..=24).prop_map(|(from, to)| json!({ "type": "hours", "from": from, "to": to })),
        Just(json!({ "type": "first_time" })),
        n().prop_map(|n| json!({ "type": "every_nth", "n": n })),
        vec(select(vec!["acquired", "loyal", "nope"]), 0..3)
            .prop_map(|a| json!({ "type": "stage", "any_of": a })),
        vec(edge_name(), 0..3).prop_map(|a| json!({ "type": "tier", "any_of": a })),
    ]
}

/// An optional field: absent (`null` here) most of the time.
fn maybe(s: impl Strategy<Value = Value> + 'static) -> BoxedStrategy<Value> {
    prop_oneof![3 => Just(Value::Null), 1 => s].boxed()
}

fn edge_cap() -> impl Strategy<Value = Value> {
    (maybe(edge_number()), edge_number(), any::<bool>()).prop_map(|(count, other, points_too)| {
        let points = if points_too || count.is_null() {
            other
        } else {
            Value::Null
        };
        let mut c = json!({});
        if !count.is_null() {
            c["count"] = count;
        }
        if !points.is_null() {
            c["points"] = points;
        }
        c
    })
}

fn edge_expiry() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!({ "type": "never" })),
        edge_number().prop_map(|d| json!({ "type": "after_days", "days": d })),
        (
            edge_number(),
            select(vec![json!(null), json!("month"), json!("year"), json!("x")])
        )
            .prop_map(|(m, r)| {
                let mut e = json!({ "type": "after_months", "months": m });
                if !r.is_null() {
                    e["round_up_to"] = r;
                }
                e
            }),
    ]
}

fn edge_reward() -> impl Strategy<Value = Value> {
    prop_oneof![
        edge_number().prop_map(|p| json!({ "type": "fixed", "points": p })),
        (
            edge_number(),
            edge_number(),
            select(vec!["down", "up", "nearest", "sideways"]),
            select(vec![json!(null), json!("CNY"), json!("cny"), json!("")])
        )
            .prop_map(|(points, per_minor, rounding, currency)| {
                let mut r = json!({ "type": "per_amount", "points": points,
                                    "per_minor": per_minor, "rounding": rounding });
                if !currency.is_null() {
                    r["currency"] = currency;
                }
                r
            }),
    ]
}

fn edge_rule() -> impl Strategy<Value = Value> {
    let fields = (
        (
            edge_name(),
            edge_pattern(),
            edge_reward(),
            vec(edge_condition(), 0..3),
        ),
        (
            maybe(edge_number()),
            maybe(edge_cap()),
            maybe(edge_cap()),
            maybe(edge_cap()),
        ),
        (
            maybe(select(vec![json!("reject"), json!("trim")])),
            maybe(edge_number()),
            maybe(edge_number()),
            maybe(edge_name()),
        ),
        (
            maybe(edge_expiry()),
            maybe(edge_number()),
            maybe(any::<bool>().prop_map(Value::from)),
        ),
    );
    fields.prop_map(
        |(
            (name, on, reward, when),
            (mult, daily, weekly, lifetime),
            (mode, cooldown, priority, group),
            (expiry, pending, tier),
        )| {
            let mut r = json!({ "name": name, "on": on, "reward": reward, "when": when });
            for (k, v) in [
                ("multiplier", mult),
                ("daily_cap", daily),
                ("weekly_cap", weekly),
                ("lifetime_cap", lifetime),
                ("cap_mode", mode),
                ("cooldown_seconds", cooldown),
                ("priority", priority),
                ("exclusive_group", group),
                ("expiry", expiry),
                ("pending_days", pending),
                ("tier_multiplier", tier),
            ] {
                if !v.is_null() {
                    r[k] = v;
                }
            }
            r
        },
    )
}

fn edge_tiers() -> impl Strategy<Value = Value> {
    (
        vec((edge_name(), edge_number(), maybe(edge_number())), 0..4),
        select(vec![
            json!({ "type": "rolling_days", "days": 365 }),
            json!({ "type": "rolling_days", "days": 0 }),
            json!({ "type": "rolling_days", "days": u32::MAX }),
            json!({ "type": "anniversary_year" }),
        ]),
        select(vec![
            json!({ "type": "points" }),
            json!({ "type": "spend", "currency": "CNY" }),
            json!({ "type": "x" }),
        ]),
    )
        .prop_map(|(tiers, window, basis)| {
            let tiers: Vec<Value> = tiers
                .into_iter()
                .enumerate()
                .map(|(i, (name, threshold, multiplier))| {
                    // The base at 0 (mostly), the others above it.
                    let threshold = match (i, threshold.as_u64()) {
                        (0, Some(n)) if n % 8 != 0 => json!(0),
                        (_, Some(n)) if n < 40 => json!(n * 10 * i as u64),
                        _ => threshold,
                    };
                    let mut t = json!({ "name": name, "threshold": threshold });
                    if !multiplier.is_null() {
                        t["multiplier"] = multiplier;
                    }
                    t
                })
                .collect();
            json!({ "basis": basis, "window": window, "tiers": tiers })
        })
}

fn edge_streak() -> impl Strategy<Value = Value> {
    (
        maybe(vec(edge_pattern(), 0..3).prop_map(Value::from)),
        vec((edge_number(), edge_number(), maybe(edge_number())), 0..3),
        maybe(edge_number()),
    )
        .prop_map(|(on, milestones, make_up)| {
            let milestones: Vec<Value> = milestones
                .into_iter()
                .map(|(day, points, repeat)| {
                    let mut m = json!({ "day": day, "points": points });
                    if !repeat.is_null() {
                        m["repeat_every"] = repeat;
                    }
                    m
                })
                .collect();
            let mut s = json!({ "milestones": milestones });
            if !on.is_null() {
                s["on"] = on;
            }
            if !make_up.is_null() {
                s["make_up"] = json!({ "per_month": make_up });
            }
            s
        })
}

fn edge_badges() -> impl Strategy<Value = Value> {
    let counter = prop_oneof![
        edge_pattern().prop_map(|on| json!({ "type": "events", "on": on })),
        Just(json!({ "type": "streak" })),
        Just(json!({ "type": "points" })),
    ];
    let level =
        (maybe(edge_name()), edge_number(), maybe(edge_number())).prop_map(|(name, at, points)| {
            let mut l = json!({ "at": at });
            if !name.is_null() {
                l["name"] = name;
            }
            if !points.is_null() {
                l["points"] = points;
            }
            l
        });
    vec((edge_name(), counter, vec(level, 0..3)), 0..3).prop_map(|badges| {
        let badges: Vec<Value> = badges
            .into_iter()
            .map(|(name, counter, levels)| json!({ "name": name, "counter": counter, "levels": levels }))
            .collect();
        json!({ "badges": badges })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Reading and validating any of these programs returns, never panics;
    /// a program that validates writes JSON that reads back to the same
    /// spec, which validates again to the same spec.
    #[test]
    fn edge_json_programs_never_panic_and_round_trip(
        rules in vec(edge_rule(), 1..3),
        global in maybe(edge_cap()),
        expiry in maybe(edge_expiry()),
        dedupe in maybe((edge_number(), edge_number()).prop_map(|(h, m)| json!({ "horizon_hours": h, "max_ids": m }))),
        ledger in maybe((select(vec!["clamp", "negative_balance", "debt", "x"]), edge_number(), edge_number())
            .prop_map(|(c, s, r)| json!({ "clawback": c, "statement_entries": s, "reversible_awards": r }))),
        tiers in maybe(edge_tiers()),
        streak in maybe(edge_streak()),
        badges in maybe(edge_badges()),
        offset in select(vec!["+08:00", "-05:30", "+14:00", "+24:00", "", "Z"]),
    ) {
        let mut v = json!({ "utc_offset": offset, "rules": rules });
        for (k, x) in [
            ("global_daily_cap", global), ("expiry", expiry), ("dedupe", dedupe),
            ("ledger", ledger), ("tiers", tiers), ("streak", streak), ("badges", badges),
        ] {
            if !x.is_null() { v[k] = x; }
        }
        let read = std::panic::catch_unwind(|| serde_json::from_value::<ProgramSpec>(v.clone()));
        let Ok(read) = read else { return Err(TestCaseError::fail(format!("reading panicked: {v}"))) };
        let Ok(spec) = read else { return Ok(()) };
        let validated = std::panic::catch_unwind(|| spec.clone().validate().map(|p| p.spec().clone()));
        let Ok(validated) = validated else { return Err(TestCaseError::fail(format!("validating panicked: {v}"))) };
        if let Ok(checked) = validated {
            prop_assert_eq!(&checked, &spec);
            let text = serde_json::to_string(&checked).unwrap();
            let back: ProgramSpec = serde_json::from_str(&text)
                .map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
            prop_assert_eq!(&back, &checked, "{}", text);
            let again = back.validate().map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
            prop_assert_eq!(again.spec(), &checked);
        }
    }
}
