//! Properties of points programs and ledgers (`growthkit::points`):
//!
//! 1. under arbitrary sequences of events, redeems, holds, captures,
//!    releases, reversals and expiries the ledger's invariant holds after
//!    every step (`earned = spendable + pending + due + held + redeemed +
//!    expired + reversed` at the step's instant), the balance is never
//!    negative unless the clawback policy owes, a failed step changes nothing
//!    (the JSON is byte-identical), and repeating a successful step's key
//!    returns its first result and changes nothing;
//! 2. no rule's daily (local-day) or lifetime cap is ever exceeded;
//! 3. applying an applied event again is a no-op;
//! 4. the same input gives the same output;
//! 5. `ProgramSpec` and `Ledger` round-trip through JSON, and a ledger
//!    saved and loaded mid-sequence continues exactly like one that was not;
//! 6. any JSON program fails to parse or validate, or is a valid program;
//!    never a panic.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use growthkit::points::{
    Cap, CapMode, Clawback, Earned, Entry, EntryKind, Expiry, Hold, Ledger, LedgerPolicy,
    PeriodEnd, PointsError, Portion, Program, ProgramSpec, Redemption, Release, Reversal, Reward,
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
        (
            1u32..3,
            select(vec![None, Some(PeriodEnd::Month), Some(PeriodEnd::Quarter)])
        )
            .prop_map(|(months, round_up_to)| Some(Expiry::AfterMonths {
                months,
                round_up_to
            })),
    ]
}

/// The fewest days from earning to expiry.
fn min_days(expiry: Expiry) -> Option<u32> {
    match expiry {
        Expiry::AfterDays { days } => Some(days),
        Expiry::AfterMonths { months, .. } => Some(months * 28),
        _ => None,
    }
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
        prop_oneof![Just(0u32), 1u32..3],
    )
        .prop_map(
            move |((on, reward), daily_cap, lifetime_cap, cap_mode, expiry, pending_days)| {
                RuleSpec {
                    name: format!("r{i}").into(),
                    on: on.parse().unwrap(),
                    reward,
                    daily_cap,
                    lifetime_cap,
                    cap_mode,
                    expiry,
                    pending_days,
                }
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
        select(vec![
            Clawback::Clamp,
            Clawback::Debt,
            Clawback::NegativeBalance,
        ]),
        (0u16..6, select(vec![0u16, 3, 128])),
    )
        .prop_flat_map(|(n, expiry, clawback, limits)| {
            let rules: Vec<_> = (0..n.len()).map(rule).collect();
            (rules, Just(expiry), Just(clawback), Just(limits))
        })
        .prop_map(
            |(mut rules, expiry, clawback, (statement_entries, reversible_awards))| {
                // Pending must end before expiry (validation refuses it otherwise).
                for r in &mut rules {
                    if let Some(days) = min_days(r.expiry.unwrap_or(expiry)) {
                        r.pending_days = r.pending_days.min(days - 1);
                    }
                }
                ProgramSpec {
                    utc_offset: "+08:00".parse().unwrap(),
                    expiry,
                    dedupe: Default::default(),
                    rules,
                    ledger: LedgerPolicy {
                        clawback,
                        statement_entries,
                        reversible_awards,
                    },
                }
            },
        )
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
    Hold {
        key: u8,
        points: u64,
        advance_minutes: i64,
    },
    Capture {
        key: u8,
        advance_minutes: i64,
    },
    Release {
        key: u8,
        advance_minutes: i64,
    },
    Reverse {
        key: u8,
        event: u64,
        /// `None`: the whole award; else a share in tenths.
        tenths: Option<u64>,
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
        1 => advance.clone().prop_map(|advance_minutes| Op::Expire { advance_minutes }),
        1 => (0u8..4, 0u64..60, advance.clone())
            .prop_map(|(key, points, advance_minutes)| Op::Hold { key, points, advance_minutes }),
        1 => (0u8..4, advance.clone())
            .prop_map(|(key, advance_minutes)| Op::Capture { key, advance_minutes }),
        1 => (0u8..4, advance.clone())
            .prop_map(|(key, advance_minutes)| Op::Release { key, advance_minutes }),
        2 => (0u8..6, 0u64..40, prop_oneof![Just(None), (0u64..=10).prop_map(Some)], advance)
            .prop_map(|(key, event, tenths, advance_minutes)| Op::Reverse {
                key, event, tenths, advance_minutes
            }),
    ]
}

#[derive(Clone, PartialEq, Debug)]
enum Outcome {
    Earned(Result<Earned, PointsError>),
    Redeemed(Result<Redemption, PointsError>),
    Expired(u64),
    Held(Result<Hold, PointsError>),
    Captured(Result<Redemption, PointsError>),
    Released(Result<Release, PointsError>),
    Reversed(Result<Reversal, PointsError>),
}

/// The newest statement entries are the ones a result carried (as far as
/// the bounded statement keeps them).
fn carried(ledger: &Ledger, entries: &[Entry]) -> Result<(), TestCaseError> {
    let kept = ledger.statement().len().min(entries.len());
    let tail: Vec<&Entry> = ledger
        .statement()
        .skip(ledger.statement().len() - kept)
        .collect();
    let newest: Vec<&Entry> = entries.iter().skip(entries.len() - kept).collect();
    prop_assert_eq!(tail, newest);
    Ok(())
}

/// Runs `ops` from `clock` without checking anything; returns the outcomes
/// and the clock at the end.
fn drive(
    program: &Program,
    ledger: &mut Ledger,
    ops: &[Op],
    mut clock: DateTime<Utc>,
) -> (Vec<Outcome>, DateTime<Utc>) {
    let mut out = Vec::new();
    for op in ops {
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
                Outcome::Earned(program.apply(ledger, &event))
            }
            Op::Redeem {
                key,
                points,
                advance_minutes,
            } => {
                clock += TimeDelta::minutes(*advance_minutes);
                Outcome::Redeemed(ledger.redeem(format!("k{key}").into(), *points, clock))
            }
            Op::Expire { advance_minutes } => {
                clock += TimeDelta::minutes(*advance_minutes);
                Outcome::Expired(ledger.expire(clock))
            }
            Op::Hold {
                key,
                points,
                advance_minutes,
            } => {
                clock += TimeDelta::minutes(*advance_minutes);
                Outcome::Held(ledger.hold(format!("h{key}").into(), *points, clock))
            }
            Op::Capture {
                key,
                advance_minutes,
            } => {
                clock += TimeDelta::minutes(*advance_minutes);
                Outcome::Captured(ledger.capture(format!("h{key}").into(), clock))
            }
            Op::Release {
                key,
                advance_minutes,
            } => {
                clock += TimeDelta::minutes(*advance_minutes);
                Outcome::Released(ledger.release(format!("h{key}").into(), clock))
            }
            Op::Reverse {
                key,
                event,
                tenths,
                advance_minutes,
            } => {
                clock += TimeDelta::minutes(*advance_minutes);
                let portion = tenths.map_or(Portion::Whole, |n| Portion::Share {
                    numerator: n,
                    denominator: 10,
                });
                let key = format!("x{key}").into();
                Outcome::Reversed(program.reverse(ledger, key, EventId(*event), portion, clock))
            }
        };
        out.push(outcome);
    }
    (out, clock)
}

/// A failed step changed nothing, to the byte; a repeated one too.
fn unchanged(ledger: &Ledger, before: &Ledger) -> Result<(), TestCaseError> {
    prop_assert_eq!(ledger, before);
    prop_assert_eq!(
        serde_json::to_string(ledger).unwrap(),
        serde_json::to_string(before).unwrap()
    );
    Ok(())
}

/// Runs `ops`, checking the per-step properties; returns the outcomes.
fn run(program: &Program, ledger: &mut Ledger, ops: &[Op]) -> Result<Vec<Outcome>, TestCaseError> {
    let zone = *program.zone();
    let mut clock = t0();
    let mut out = Vec::new();
    // Awarded points and counts per (rule, local day) and per rule, from the awards.
    let mut daily: BTreeMap<(String, LocalDay), (u32, u64)> = BTreeMap::new();
    let mut lifetime: BTreeMap<String, (u32, u64)> = BTreeMap::new();
    // Points reversed and written off by all reversals so far.
    let (mut reversal_points, mut written_off) = (0u64, 0u64);
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
                        let entries: Vec<Entry> = e.entries(&event).collect();
                        carried(ledger, &entries)?;
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
                    Ok(red) if red.repeated => unchanged(ledger, &before)?,
                    Ok(red) => {
                        carried(ledger, &red.entries)?;
                        let after = ledger.clone();
                        let again = ledger.redeem(format!("k{key}").into(), *points + 1, clock);
                        prop_assert_eq!(
                            again,
                            Ok(Redemption {
                                repeated: true,
                                ..red.clone()
                            })
                        );
                        unchanged(ledger, &after)?;
                        prop_assert_eq!(red.points, *points);
                        prop_assert_eq!(red.taken.iter().map(|t| t.points).sum::<u64>(), *points);
                        prop_assert_eq!(ledger.available(), before.available() - points);
                        prop_assert_eq!(ledger.spendable(clock), spendable - points);
                    }
                    Err(e) => {
                        unchanged(ledger, &before)?;
                        if *points > 0 && !matches!(e, PointsError::KeyReused { .. }) {
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
                if n > 0 {
                    let entry = Entry {
                        at: clock,
                        points: n,
                        kind: EntryKind::Expired,
                    };
                    carried(ledger, &[entry])?;
                }
                prop_assert_eq!(ledger.expired(), before.expired() + n);
                prop_assert_eq!(ledger.totals(clock).due, 0);
                prop_assert_eq!(
                    ledger.spendable(clock) + ledger.pending(clock),
                    ledger.available()
                );
                let after = ledger.clone();
                prop_assert_eq!(ledger.expire(clock), 0);
                unchanged(ledger, &after)?;
                Outcome::Expired(n)
            }
            Op::Hold {
                key,
                points,
                advance_minutes,
            } => {
                clock += TimeDelta::minutes(*advance_minutes);
                let spendable = ledger.spendable(clock);
                let key = format!("h{key}");
                let r = ledger.hold(key.clone().into(), *points, clock);
                match &r {
                    Ok(h) if h.repeated => unchanged(ledger, &before)?,
                    Ok(h) => {
                        carried(ledger, &h.entries)?;
                        prop_assert_eq!(h.taken.iter().map(|t| t.points).sum::<u64>(), *points);
                        prop_assert_eq!(ledger.held(), before.held() + points);
                        prop_assert_eq!(ledger.spendable(clock), spendable - points);
                        let after = ledger.clone();
                        let again = ledger.hold(key.into(), 1, clock);
                        prop_assert_eq!(
                            again,
                            Ok(Hold {
                                repeated: true,
                                ..h.clone()
                            })
                        );
                        unchanged(ledger, &after)?;
                    }
                    Err(_) => unchanged(ledger, &before)?,
                }
                Outcome::Held(r)
            }
            Op::Capture {
                key,
                advance_minutes,
            } => {
                clock += TimeDelta::minutes(*advance_minutes);
                let key = format!("h{key}");
                let r = ledger.capture(key.clone().into(), clock);
                match &r {
                    Ok(c) if c.repeated => unchanged(ledger, &before)?,
                    Ok(c) => {
                        carried(ledger, &c.entries)?;
                        prop_assert_eq!(ledger.redeemed(), before.redeemed() + c.points);
                        prop_assert_eq!(ledger.held(), before.held() - c.points);
                        let after = ledger.clone();
                        let again = ledger.capture(key.into(), clock);
                        prop_assert_eq!(
                            again,
                            Ok(Redemption {
                                repeated: true,
                                ..c.clone()
                            })
                        );
                        unchanged(ledger, &after)?;
                    }
                    Err(_) => unchanged(ledger, &before)?,
                }
                Outcome::Captured(r)
            }
            Op::Release {
                key,
                advance_minutes,
            } => {
                clock += TimeDelta::minutes(*advance_minutes);
                let key = format!("h{key}");
                let r = ledger.release(key.clone().into(), clock);
                match &r {
                    Ok(x) if x.repeated => unchanged(ledger, &before)?,
                    Ok(x) => {
                        carried(ledger, &x.entries)?;
                        prop_assert_eq!(x.returned + x.expired + x.reclaimed, x.points);
                        prop_assert_eq!(ledger.forgiven() + x.reclaimed, before.forgiven());
                        prop_assert_eq!(ledger.available(), before.available() + x.returned);
                        prop_assert_eq!(ledger.held(), before.held() - x.points);
                        let after = ledger.clone();
                        let again = ledger.release(key.into(), clock);
                        prop_assert_eq!(
                            again,
                            Ok(Release {
                                repeated: true,
                                ..x.clone()
                            })
                        );
                        unchanged(ledger, &after)?;
                    }
                    Err(_) => unchanged(ledger, &before)?,
                }
                Outcome::Released(r)
            }
            Op::Reverse {
                key,
                event,
                tenths,
                advance_minutes,
            } => {
                clock += TimeDelta::minutes(*advance_minutes);
                let key = format!("x{key}");
                let portion = match tenths {
                    None => Portion::Whole,
                    Some(n) => Portion::Share {
                        numerator: *n,
                        denominator: 10,
                    },
                };
                let r =
                    program.reverse(ledger, key.clone().into(), EventId(*event), portion, clock);
                match &r {
                    Ok(x) if x.repeated => unchanged(ledger, &before)?,
                    Ok(x) => {
                        carried(ledger, &x.entries)?;
                        prop_assert_eq!(
                            x.points,
                            x.taken_back + x.written_off + x.owed + x.forgiven
                        );
                        prop_assert_eq!(ledger.reversed(), before.reversed() + x.taken_back);
                        prop_assert_eq!(ledger.owed(), before.owed() + x.owed);
                        reversal_points += x.points;
                        written_off += x.written_off;
                        // Reversal gives the cap room back.
                        for a in &x.awards {
                            let day = LocalDay::of(a.earned_at, &zone);
                            let whole = u32::from(a.wholly_reversed);
                            let d = daily.entry((a.rule.to_string(), day)).or_default();
                            d.0 -= whole;
                            d.1 -= a.points;
                            let l = lifetime.entry(a.rule.to_string()).or_default();
                            l.0 -= whole;
                            l.1 -= a.points;
                        }
                        if program.spec().ledger.clawback == Clawback::Debt {
                            prop_assert_eq!(x.taken_back, before.available() - ledger.available());
                        }
                        let after = ledger.clone();
                        let again =
                            program.reverse(ledger, key.into(), EventId(*event), portion, clock);
                        prop_assert_eq!(
                            again,
                            Ok(Reversal {
                                repeated: true,
                                ..x.clone()
                            })
                        );
                        unchanged(ledger, &after)?;
                    }
                    Err(_) => unchanged(ledger, &before)?,
                }
                Outcome::Reversed(r)
            }
        };
        prop_assert!(ledger.check().is_ok(), "{:?}", ledger.check());
        prop_assert!(ledger.spendable(clock) <= ledger.available());
        prop_assert_eq!(
            ledger.earned(),
            ledger.available()
                + ledger.held()
                + ledger.redeemed()
                + ledger.expired()
                + ledger.reversed()
        );
        let t = ledger.totals(clock);
        prop_assert_eq!(
            t.earned,
            t.spendable + t.pending + t.due + t.held + t.redeemed + t.expired + t.reversed,
            "{:?}",
            t
        );
        // Every reversed point is reversed, owed, forgiven or written off.
        prop_assert_eq!(
            reversal_points,
            ledger.reversed() + ledger.owed() + ledger.forgiven() + written_off
        );
        // Only a policy that owes can take the balance below zero.
        if program.spec().ledger.clawback == Clawback::Clamp {
            prop_assert_eq!(ledger.owed(), 0);
            prop_assert!(ledger.balance(clock) >= 0);
        }
        prop_assert!(
            ledger.statement().len() <= usize::from(program.spec().ledger.statement_entries)
        );
        prop_assert!(
            ledger.earnings().len() <= usize::from(program.spec().ledger.reversible_awards)
        );
        // No cap is exceeded at any step (net of reversals).
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
        out.push(outcome);
    }
    Ok(out)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn invariants_hold_at_every_step(spec in spec(), ops in vec(op(), 0..60)) {
        let program = spec.validate().unwrap();
        let mut ledger = program.new_ledger();
        run(&program, &mut ledger, &ops)?;
    }

    #[test]
    fn same_input_same_output(spec in spec(), ops in vec(op(), 0..40)) {
        let program = spec.validate().unwrap();
        let (mut a, mut b) = (program.new_ledger(), program.new_ledger());
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
        let mut ledger = program.new_ledger();
        run(&program, &mut ledger, &ops)?;
        let text = serde_json::to_string(&ledger).unwrap();
        let back: Ledger = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(back, ledger);
    }

    #[test]
    fn a_round_tripped_ledger_continues_identically(
        spec in spec(),
        ops in vec(op(), 0..50),
        cut in any::<prop::sample::Index>(),
    ) {
        let program = spec.validate().unwrap();
        let cut = cut.index(ops.len() + 1);
        let mut whole = program.new_ledger();
        let (all, _) = drive(&program, &mut whole, &ops, t0());
        let mut first = program.new_ledger();
        let (mut out, clock) = drive(&program, &mut first, &ops[..cut], t0());
        let mut second: Ledger =
            serde_json::from_str(&serde_json::to_string(&first).unwrap()).unwrap();
        prop_assert_eq!(&second, &first);
        let (rest, _) = drive(&program, &mut second, &ops[cut..], clock);
        out.extend(rest);
        prop_assert_eq!(out, all);
        prop_assert_eq!(second, whole);
    }

    #[test]
    fn arbitrary_json_programs_never_panic(rules in vec(json_rule(), 0..4), offset in select(vec!["+08:00", "-05:30", "Z", "bad"]), expiry in json_expiry(), ledger in json_ledger()) {
        let mut v = json!({
            "utc_offset": offset,
            "expiry": expiry,
            "rules": rules,
        });
        if !ledger.is_null() {
            v["ledger"] = ledger;
        }
        if let Ok(spec) = serde_json::from_value::<ProgramSpec>(v)
            && let Ok(program) = spec.validate()
        {
            let s = program.spec();
            prop_assert!(!s.rules.is_empty());
            let mut names: Vec<&str> = s.rules.iter().map(|r| r.name.as_str()).collect();
            names.sort();
            names.dedup();
            prop_assert_eq!(names.len(), s.rules.len());
            // A valid program earns, spends and reverses without panicking.
            let mut ledger = program.new_ledger();
            let paid = EventKind::Purchase { amount: Money::new(12_345, "CNY".parse().unwrap()) };
            for (id, kind) in [(1, paid), (2, EventKind::Visited)] {
                let _ = program.apply(&mut ledger, &Event::new(EventId(id), UserId(1), t0(), kind));
            }
            let _ = ledger.redeem("r".into(), 3, t0());
            let _ = program.reverse(&mut ledger, "x".into(), EventId(1), Portion::Whole, t0());
            prop_assert!(ledger.check().is_ok());
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
    let pending = select(vec![Value::Null, json!(0), json!(3), json!(400), json!(-1)]);
    (
        (name, on, reward, cap.clone(), cap, mode),
        pending,
        prop_oneof![Just(Value::Null), json_expiry()],
    )
        .prop_map(|((name, on, reward, d, l, mode), pending, expiry)| {
            let mut r = json!({ "name": name, "on": on, "reward": reward, "cap_mode": mode });
            if !pending.is_null() {
                r["pending_days"] = pending;
            }
            if !expiry.is_null() {
                r["expiry"] = expiry;
            }
            if !d.is_null() {
                r["daily_cap"] = d;
            }
            if !l.is_null() {
                r["lifetime_cap"] = l;
            }
            r
        })
}

/// An expiry from good and bad values.
fn json_expiry() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!({ "type": "never" })),
        (-1i64..3).prop_map(|days| json!({ "type": "after_days", "days": days })),
        (
            -1i64..14,
            select(vec![
                Value::Null,
                json!("month"),
                json!("quarter"),
                json!("year"),
                json!("week")
            ])
        )
            .prop_map(|(months, round)| {
                let mut e = json!({ "type": "after_months", "months": months });
                if !round.is_null() {
                    e["round_up_to"] = round;
                }
                e
            }),
        Just(json!({ "type": "after_days", "days": 1, "months": 2 })),
    ]
}

/// A ledger policy from good and bad values.
fn json_ledger() -> impl Strategy<Value = Value> {
    select(vec![
        Value::Null,
        json!({}),
        json!({ "clawback": "debt" }),
        json!({ "clawback": "negative_balance", "statement_entries": 0 }),
        json!({ "clawback": "clamp", "statement_entries": 70000 }),
        json!({ "clawback": "forget" }),
        json!({ "reversible_awards": 0 }),
        json!({ "reversible_awards": -1 }),
        json!({ "extra": true }),
    ])
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
