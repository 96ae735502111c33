//! Properties of points programs and ledgers (`growthkit::points`):
//!
//! 1. under arbitrary sequences of events, redeems and expiries the ledger's
//!    invariant holds after every step, spendable never exceeds available,
//!    and a failed step changes nothing;
//! 2. no rule's daily (local-day) or lifetime cap is ever exceeded;
//! 3. applying an applied event again is a no-op;
//! 4. the same input gives the same output;
//! 5. `ProgramSpec` and `Ledger` round-trip through JSON;
//! 6. any JSON program fails to parse or validate, or is a valid program;
//!    never a panic.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use growthkit::points::{
    Cap, CapMode, Earned, Expiry, Ledger, PointsError, Program, ProgramSpec, Redemption, Reward,
    Rounding, RuleSpec,
};
use growthkit::{Event, EventId, EventKind, LocalDay, Money, UserId};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{Value, json};
use std::collections::BTreeMap;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

fn cap() -> impl Strategy<Value = Option<Cap>> {
    prop_oneof![
        2 => Just(None),
        1 => (1u32..5).prop_map(|c| Some(Cap { count: Some(c), points: None })),
        1 => (1u64..100).prop_map(|p| Some(Cap { count: None, points: Some(p) })),
        1 => (1u32..5, 1u64..100).prop_map(|(c, p)| Some(Cap { count: Some(c), points: Some(p) })),
    ]
}

fn expiry() -> impl Strategy<Value = Option<Expiry>> {
    prop_oneof![
        Just(None),
        Just(Some(Expiry::Never)),
        (1u32..20).prop_map(|days| Some(Expiry::AfterDays { days })),
    ]
}

fn rounding() -> impl Strategy<Value = Rounding> {
    select(vec![Rounding::Down, Rounding::Nearest, Rounding::Up])
}

/// One of a few rule shapes, with arbitrary numbers, caps and expiry.
fn rule(i: usize) -> impl Strategy<Value = RuleSpec> {
    let on_reward = prop_oneof![
        (1u64..50).prop_map(|p| ("action_completed:lesson", Reward::Fixed { points: p })),
        (1u64..50).prop_map(|p| ("visited", Reward::Fixed { points: p })),
        (1u64..50).prop_map(|p| ("*", Reward::Fixed { points: p })),
        (
            1u64..5,
            1i64..3000,
            rounding(),
            select(vec![None, Some("CNY"), Some("USD")])
        )
            .prop_map(|(points, per_minor, rounding, currency)| (
                "purchase",
                Reward::PerAmount {
                    points,
                    per_minor,
                    rounding,
                    currency: currency.and_then(|c| c.parse().ok()),
                }
            )),
    ];
    (
        on_reward,
        cap(),
        cap(),
        select(vec![CapMode::Trim, CapMode::Reject]),
        expiry(),
    )
        .prop_map(
            move |((on, reward), daily_cap, lifetime_cap, cap_mode, expiry)| {
                let mut r = RuleSpec::new(format!("r{i}"), on.parse().unwrap(), reward);
                r.daily_cap = daily_cap;
                r.lifetime_cap = lifetime_cap;
                r.cap_mode = cap_mode;
                r.expiry = expiry;
                r
            },
        )
}

fn spec() -> impl Strategy<Value = ProgramSpec> {
    (
        vec(any::<prop::sample::Index>(), 1..4),
        prop_oneof![
            Just(Expiry::Never),
            (1u32..30).prop_map(|days| Expiry::AfterDays { days })
        ],
    )
        .prop_flat_map(|(n, expiry)| {
            let rules: Vec<_> = (0..n.len()).map(rule).collect();
            (rules, Just(expiry))
        })
        .prop_map(|(rules, expiry)| {
            let mut s = ProgramSpec::new(rules);
            s.utc_offset = "+08:00".parse().unwrap();
            s.expiry = expiry;
            s
        })
}

#[derive(Clone, Debug)]
enum Op {
    /// An event `late_minutes` before the clock, after advancing it.
    Event {
        id: u64,
        advance_minutes: i64,
        late_minutes: i64,
        kind: EventKind,
    },
    Redeem {
        key: u8,
        points: u64,
        advance_minutes: i64,
    },
    Expire {
        advance_minutes: i64,
    },
}

fn kind() -> impl Strategy<Value = EventKind> {
    prop_oneof![
        Just(EventKind::ActionCompleted {
            action: "lesson".into()
        }),
        Just(EventKind::ActionCompleted {
            action: "quiz".into()
        }),
        Just(EventKind::Visited),
        (-2000i64..50_000).prop_map(|m| EventKind::Purchase {
            amount: Money::new(m, "CNY".parse().unwrap())
        }),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    // Mostly small steps (many events share a local day, so caps bite),
    // sometimes a day or more (midnights, expiry).
    let advance = prop_oneof![4 => 0i64..120, 1 => 0i64..3 * 1440];
    prop_oneof![
        6 => (0u64..40, advance.clone(), prop_oneof![3 => Just(0i64), 1 => 0i64..600], kind())
            .prop_map(|(id, advance_minutes, late_minutes, kind)| Op::Event {
                id, advance_minutes, late_minutes, kind
            }),
        2 => (0u8..6, 0u64..80, advance.clone())
            .prop_map(|(key, points, advance_minutes)| Op::Redeem { key, points, advance_minutes }),
        1 => advance.prop_map(|advance_minutes| Op::Expire { advance_minutes }),
    ]
}

#[derive(Clone, PartialEq, Debug)]
enum Outcome {
    Earned(Result<Earned, PointsError>),
    Redeemed(Result<Redemption, PointsError>),
    Expired(u64),
}

/// Runs `ops`, checking the per-step properties; returns the outcomes.
fn run(program: &Program, ledger: &mut Ledger, ops: &[Op]) -> Result<Vec<Outcome>, TestCaseError> {
    let zone = *program.zone();
    let mut clock = t0();
    let mut out = Vec::new();
    // Awarded points and counts per (rule, local day) and per rule, from the awards.
    let mut daily: BTreeMap<(String, LocalDay), (u32, u64)> = BTreeMap::new();
    let mut lifetime: BTreeMap<String, (u32, u64)> = BTreeMap::new();
    for op in ops {
        let before = ledger.clone();
        let outcome = match op {
            Op::Event {
                id,
                advance_minutes,
                late_minutes,
                kind,
            } => {
                clock += TimeDelta::minutes(*advance_minutes);
                let at = clock - TimeDelta::minutes(*late_minutes);
                let event = Event::new(EventId(*id), UserId(1), at, kind.clone());
                let r = program.apply(ledger, &event);
                match &r {
                    Ok(e) if e.duplicate => prop_assert_eq!(&*ledger, &before),
                    Ok(e) => {
                        prop_assert_eq!(ledger.version(), before.version() + 1);
                        prop_assert_eq!(ledger.earned(), before.earned() + e.total);
                        let day = LocalDay::of(at, &zone);
                        for a in e.awards.iter().filter(|a| a.points > 0) {
                            prop_assert!(a.points <= a.base);
                            let d = daily.entry((a.rule.to_string(), day)).or_default();
                            d.0 += 1;
                            d.1 += a.points;
                            let l = lifetime.entry(a.rule.to_string()).or_default();
                            l.0 += 1;
                            l.1 += a.points;
                        }
                        // Applying it again is a no-op.
                        let after = ledger.clone();
                        let again = program.apply(ledger, &event);
                        prop_assert!(matches!(again, Ok(ref e) if e.duplicate && e.total == 0));
                        prop_assert_eq!(&*ledger, &after);
                    }
                    Err(_) => prop_assert_eq!(&*ledger, &before),
                }
                Outcome::Earned(r)
            }
            Op::Redeem {
                key,
                points,
                advance_minutes,
            } => {
                clock += TimeDelta::minutes(*advance_minutes);
                let spendable = ledger.spendable(clock);
                let r = ledger.redeem(format!("k{key}").into(), *points, clock);
                match &r {
                    Ok(red) if red.repeated => prop_assert_eq!(&*ledger, &before),
                    Ok(red) => {
                        prop_assert_eq!(red.points, *points);
                        prop_assert_eq!(red.taken.iter().map(|t| t.points).sum::<u64>(), *points);
                        prop_assert_eq!(ledger.available(), before.available() - points);
                        prop_assert_eq!(ledger.spendable(clock), spendable - points);
                    }
                    Err(e) => {
                        prop_assert_eq!(&*ledger, &before);
                        if *points > 0 {
                            prop_assert_eq!(
                                e,
                                &PointsError::Insufficient {
                                    requested: *points,
                                    spendable
                                }
                            );
                        }
                    }
                }
                Outcome::Redeemed(r)
            }
            Op::Expire { advance_minutes } => {
                clock += TimeDelta::minutes(*advance_minutes);
                let n = ledger.expire(clock);
                prop_assert_eq!(ledger.expired(), before.expired() + n);
                prop_assert_eq!(ledger.spendable(clock), ledger.available());
                Outcome::Expired(n)
            }
        };
        prop_assert!(ledger.check().is_ok(), "{:?}", ledger.check());
        prop_assert!(ledger.spendable(clock) <= ledger.available());
        prop_assert_eq!(
            ledger.earned(),
            ledger.available() + ledger.redeemed() + ledger.expired() + ledger.reversed()
        );
        out.push(outcome);
    }
    for rule in &program.spec().rules {
        let name = rule.name.to_string();
        let within = |cap: &Option<Cap>, (count, points): (u32, u64)| {
            cap.is_none_or(|c| {
                c.count.is_none_or(|m| count <= m) && c.points.is_none_or(|m| points <= m)
            })
        };
        for ((r, day), tally) in &daily {
            if *r == name {
                prop_assert!(
                    within(&rule.daily_cap, *tally),
                    "{name} on {day}: {tally:?}"
                );
            }
        }
        let life = lifetime.get(&name).copied().unwrap_or_default();
        prop_assert!(within(&rule.lifetime_cap, life), "{name}: {life:?}");
    }
    Ok(out)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn invariants_hold_at_every_step(spec in spec(), ops in vec(op(), 0..60)) {
        let program = spec.validate().unwrap();
        let mut ledger = Ledger::new();
        run(&program, &mut ledger, &ops)?;
    }

    #[test]
    fn same_input_same_output(spec in spec(), ops in vec(op(), 0..40)) {
        let program = spec.validate().unwrap();
        let (mut a, mut b) = (Ledger::new(), Ledger::new());
        let out_a = run(&program, &mut a, &ops)?;
        let out_b = run(&program, &mut b, &ops)?;
        prop_assert_eq!(out_a, out_b);
        prop_assert_eq!(a, b);
    }

    #[test]
    fn json_round_trips(spec in spec(), ops in vec(op(), 0..40)) {
        let text = serde_json::to_string(&spec).unwrap();
        let back: ProgramSpec = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(&back, &spec);
        let program = spec.validate().unwrap();
        let mut ledger = Ledger::new();
        run(&program, &mut ledger, &ops)?;
        let text = serde_json::to_string(&ledger).unwrap();
        let back: Ledger = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(back, ledger);
    }

    #[test]
    fn arbitrary_json_programs_never_panic(rules in vec(json_rule(), 0..4), offset in select(vec!["+08:00", "-05:30", "Z", "bad"]), days in -1i64..3) {
        let v = json!({
            "utc_offset": offset,
            "expiry": { "type": "after_days", "days": days },
            "rules": rules,
        });
        if let Ok(spec) = serde_json::from_value::<ProgramSpec>(v)
            && let Ok(program) = spec.validate()
        {
            let s = program.spec();
            prop_assert!(!s.rules.is_empty());
            let mut names: Vec<&str> = s.rules.iter().map(|r| r.name.as_str()).collect();
            names.sort();
            names.dedup();
            prop_assert_eq!(names.len(), s.rules.len());
        }
    }
}

/// A JSON rule with each field drawn from good and bad values.
fn json_rule() -> impl Strategy<Value = Value> {
    let name = select(vec![json!("a"), json!("b"), json!(""), json!(3)]);
    let on = select(vec![
        json!("purchase"),
        json!("visited"),
        json!("*"),
        json!("nope"),
        json!("action_completed:lesson"),
    ]);
    let reward = prop_oneof![
        (-1i64..3).prop_map(|p| json!({ "type": "fixed", "points": p })),
        (
            -1i64..3,
            -2i64..3,
            select(vec!["down", "up", "nearest", "sideways"])
        )
            .prop_map(|(p, m, r)| {
                json!({ "type": "per_amount", "points": p, "per_minor": m, "rounding": r })
            }),
        Just(json!({ "type": "bonus" })),
    ];
    let cap = select(vec![
        Value::Null,
        json!({}),
        json!({ "count": 0 }),
        json!({ "count": 2 }),
        json!({ "points": 0 }),
        json!({ "points": 10, "count": 1 }),
        json!({ "extra": 1 }),
    ]);
    let mode = select(vec![json!("trim"), json!("reject"), json!("maybe")]);
    (name, on, reward, cap.clone(), cap, mode).prop_map(|(name, on, reward, d, l, mode)| {
        let mut r = json!({ "name": name, "on": on, "reward": reward, "cap_mode": mode });
        if !d.is_null() {
            r["daily_cap"] = d;
        }
        if !l.is_null() {
            r["lifetime_cap"] = l;
        }
        r
    })
}

/// A pinned case: a round-tripped ledger continues exactly like the original.
#[test]
fn round_tripped_ledger_continues_identically() {
    let spec: ProgramSpec = serde_json::from_value(json!({
        "utc_offset": "+08:00",
        "rules": [{ "name": "lesson", "on": "action_completed:lesson",
                    "reward": { "type": "fixed", "points": 10 },
                    "daily_cap": { "count": 2 } }]
    }))
    .unwrap();
    let program = spec.validate().unwrap();
    let lesson = |id, h| {
        Event::new(
            EventId(id),
            UserId(1),
            t0() + TimeDelta::hours(h),
            EventKind::ActionCompleted {
                action: "lesson".into(),
            },
        )
    };
    let mut a = Ledger::new();
    program.apply(&mut a, &lesson(1, 0)).unwrap();
    let mut b: Ledger = serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
    for l in [&mut a, &mut b] {
        program.apply(l, &lesson(1, 0)).unwrap();
        program.apply(l, &lesson(2, 1)).unwrap();
        program.apply(l, &lesson(3, 2)).unwrap();
    }
    assert_eq!(a, b);
    assert_eq!(a.available(), 20);
    // One change before the round trip, two after (the redelivery is a no-op).
    assert_eq!(a.version(), 3);
}
