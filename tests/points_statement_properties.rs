//! Properties of the statement (`growthkit::points::Entry`), for ledgers
//! stepped by `Program::apply`, `Ledger::redeem`, holds, captures,
//! releases, `Program::reverse` (whole and shares, with awards a cap cut
//! made up), and `Ledger::expire`, and for accounts stepped by
//! `Program::earn`, `Program::reverse_in`, `Program::evaluate_account` and
//! `Account::ledger_step`, under each clawback policy, with a statement
//! long enough to keep every entry:
//!
//! 1. the signed sum of every entry written so far
//!    ([`Entry::signed_points`]) is the member's points net of debt,
//!    `available − owed` (`spendable + pending + due − owed`), after every
//!    step;
//! 2. the entries each successful step returned, appended in order, are the
//!    ledger's statement after every step: a host that logs what the
//!    results carry has the whole history.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use growthkit::points::{Account, Entry, EntryKind, Ledger, Portion, Program, ProgramSpec};
use growthkit::{Event, EventId, EventKind, Money, UserId};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;

const USER: UserId = UserId(1);

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 1, 0, 0).unwrap()
}

/// A program with capped rules (so reversals make cut awards up), pending
/// purchases, expiry, and, for accounts, a points badge whose level grants
/// a bonus (so made-up points can reach it) and a streak.
fn program(clawback: &str, expiry_days: Option<u32>, badge_points: u64, account: bool) -> Program {
    let expiry = match expiry_days {
        None => r#"{ "type": "never" }"#.to_owned(),
        Some(d) => format!(r#"{{ "type": "after_days", "days": {d} }}"#),
    };
    let extras = if account {
        format!(
            r#",
        "streak": {{ "milestones": [ {{ "day": 2, "points": 3, "repeat_every": 2 }} ] }},
        "badges": {{ "badges": [
            {{ "name": "helper", "counter": {{ "type": "points" }},
               "levels": [ {{ "name": "bronze", "at": 30, "points": {badge_points} }},
                           {{ "name": "gold", "at": 90, "points": {badge_points} }} ] }},
            {{ "name": "scholar", "counter": {{ "type": "events", "on": "action_completed:lesson" }},
               "levels": [ {{ "at": 2, "points": {badge_points} }} ] }}
        ] }}"#
        )
    } else {
        String::new()
    };
    let json = format!(
        r#"{{
        "utc_offset": "+08:00",
        "expiry": {expiry},
        "ledger": {{ "clawback": "{clawback}", "statement_entries": 60000 }},
        "rules": [
            {{ "name": "lesson", "on": "action_completed:lesson", "reward": {{ "type": "fixed", "points": 10 }},
               "daily_cap": {{ "points": 25 }} }},
            {{ "name": "check_in", "on": "check_in", "reward": {{ "type": "fixed", "points": 5 }},
               "daily_cap": {{ "count": 1 }} }},
            {{ "name": "purchase", "on": "purchase", "pending_days": 1,
               "reward": {{ "type": "per_amount", "points": 1, "per_minor": 100, "rounding": "down" }},
               "daily_cap": {{ "points": 150 }} }}
        ]{extras}
    }}"#
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
    Hold(u8, u64),
    Capture(u8),
    Release(u8),
    /// Reverse the n-th event so far (modulo), wholly or a share.
    Reverse(usize, Option<(u64, u64)>),
    Expire,
}

fn op() -> impl Strategy<Value = (u32, Op)> {
    let op = prop_oneof![
        2 => Just(Op::CheckIn),
        3 => Just(Op::Lesson),
        3 => (0i64..300).prop_map(Op::Purchase),
        2 => (1u64..120).prop_map(Op::Redeem),
        2 => (0u8..3, 1u64..80).prop_map(|(k, p)| Op::Hold(k, p)),
        1 => (0u8..3).prop_map(Op::Capture),
        2 => (0u8..3).prop_map(Op::Release),
        3 => (any::<usize>(), prop_oneof![Just(None), (0u64..4, 1u64..4).prop_map(Some)])
            .prop_map(|(i, s)| Op::Reverse(i, s)),
        1 => Just(Op::Expire),
    ];
    // Minutes to the next step: mostly the same day, sometimes days later
    // (pending periods end, lots expire, some while held).
    (
        prop_oneof![3 => 0u32..300, 2 => 1_000u32..3_000, 1 => 3_000u32..12_000],
        op,
    )
}

fn knobs() -> impl Strategy<Value = (&'static str, Option<u32>, u64)> {
    (
        select(vec!["clamp", "debt", "negative_balance"]),
        prop_oneof![Just(None), (2u32..8).prop_map(Some)],
        0u64..40,
    )
}

fn kind(op: &Op) -> Option<EventKind> {
    match op {
        Op::CheckIn => Some(EventKind::CheckIn { community: None }),
        Op::Lesson => Some(EventKind::ActionCompleted {
            action: "lesson".into(),
        }),
        Op::Purchase(yuan) => Some(EventKind::Purchase {
            amount: Money::new(yuan * 100, "CNY".parse().unwrap()),
        }),
        _ => None,
    }
}

fn portion(share: &Option<(u64, u64)>) -> Portion {
    match share {
        None => Portion::Whole {},
        Some((numerator, denominator)) => Portion::Share {
            numerator: *numerator,
            denominator: *denominator,
        },
    }
}

/// Both properties, for `ledger` whose results so far carried `logged`.
fn statement_agrees(ledger: &Ledger, logged: &[Entry]) -> Result<(), TestCaseError> {
    let signed: i128 = ledger.statement().map(Entry::signed_points).sum();
    let net = i128::from(ledger.available()) - i128::from(ledger.owed());
    prop_assert_eq!(
        signed,
        net,
        "signed sum of the statement vs available − owed; statement: {:#?}",
        ledger
            .statement()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
    );
    let statement: Vec<&Entry> = ledger.statement().collect();
    let logged: Vec<&Entry> = logged.iter().collect();
    prop_assert_eq!(statement, logged, "the results' entries vs the statement");
    Ok(())
}

/// Runs `ops` on a bare ledger through the program.
fn run_ledger(p: &Program, ops: &[(u32, Op)]) -> Result<(), TestCaseError> {
    let mut l = p.new_ledger();
    let mut now = t0();
    let mut events: Vec<EventId> = Vec::new();
    let mut log: Vec<Entry> = Vec::new();
    for (step, (minutes, op)) in ops.iter().enumerate() {
        now += TimeDelta::minutes(i64::from(*minutes));
        let wrote: Option<Vec<Entry>> = match op {
            Op::CheckIn | Op::Lesson | Op::Purchase(_) => {
                let id = EventId(step as u64);
                let event = Event::new(id, USER, now, kind(op).unwrap());
                events.push(id);
                p.apply(&mut l, &event)
                    .ok()
                    .map(|e| e.entries(&event).collect())
            }
            Op::Redeem(points) => l
                .redeem(format!("order-{step}").into(), *points, now)
                .map(|r| r.to_redemption())
                .ok()
                .filter(|r| !r.repeated)
                .map(|r| r.entries.into()),
            Op::Hold(key, points) => l
                .hold(format!("hold-{key}").into(), *points, now)
                .ok()
                .filter(|r| !r.repeated)
                .map(|r| r.entries),
            Op::Capture(key) => l
                .capture(format!("hold-{key}").into(), now)
                .map(|r| r.to_redemption())
                .ok()
                .filter(|r| !r.repeated)
                .map(|r| r.entries.into()),
            Op::Release(key) => l
                .release(format!("hold-{key}").into(), now)
                .ok()
                .filter(|r| !r.repeated)
                .map(|r| r.entries),
            Op::Reverse(i, share) => {
                if events.is_empty() {
                    continue;
                }
                let source = events[i % events.len()];
                p.reverse(
                    &mut l,
                    format!("refund-{step}").into(),
                    source,
                    portion(share),
                    now,
                )
                .ok()
                .filter(|r| !r.repeated)
                .map(|r| r.entries)
            }
            Op::Expire => {
                let n = l.expire(now);
                Some(
                    (n > 0)
                        .then_some(Entry {
                            at: now,
                            points: n,
                            kind: EntryKind::Expired,
                        })
                        .into_iter()
                        .collect(),
                )
            }
        };
        log.extend(wrote.unwrap_or_default());
        prop_assert_eq!(l.check(), Ok(()));
        statement_agrees(&l, &log)?;
    }
    Ok(())
}

/// Runs `ops` on an account: earnings and reversals through the program,
/// so that bonuses follow, spending through `Account::ledger_step`, expiry
/// through `Program::evaluate_account`.
fn run_account(p: &Program, ops: &[(u32, Op)]) -> Result<(), TestCaseError> {
    let mut a: Account = p.open_account(USER, t0());
    let mut now = t0();
    let mut events: Vec<EventId> = Vec::new();
    let mut log: Vec<Entry> = Vec::new();
    for (step, (minutes, op)) in ops.iter().enumerate() {
        now += TimeDelta::minutes(i64::from(*minutes));
        let wrote: Option<Vec<Entry>> = match op {
            Op::CheckIn | Op::Lesson | Op::Purchase(_) => {
                let id = EventId(step as u64);
                let event = Event::new(id, USER, now, kind(op).unwrap());
                events.push(id);
                p.earn(&mut a, &event, None).ok().map(|o| o.entries)
            }
            Op::Redeem(points) => a
                .redeem(format!("order-{step}").into(), *points, now)
                .map(|r| r.to_redemption())
                .ok()
                .filter(|r| !r.repeated)
                .map(|r| r.entries.into()),
            Op::Hold(key, points) => a
                .ledger_step(|l| l.hold(format!("hold-{key}").into(), *points, now))
                .ok()
                .filter(|r| !r.repeated)
                .map(|r| r.entries),
            Op::Capture(key) => a
                .ledger_step(|l| {
                    l.capture(format!("hold-{key}").into(), now)
                        .map(|r| r.to_redemption())
                })
                .ok()
                .filter(|r| !r.repeated)
                .map(|r| r.entries.into()),
            Op::Release(key) => a
                .ledger_step(|l| l.release(format!("hold-{key}").into(), now))
                .ok()
                .filter(|r| !r.repeated)
                .map(|r| r.entries),
            Op::Reverse(i, share) => {
                if events.is_empty() {
                    continue;
                }
                let source = events[i % events.len()];
                let key = format!("refund-{step}").into();
                p.reverse_in(&mut a, key, source, portion(share), now)
                    .ok()
                    .filter(|r| !r.repeated)
                    .map(|r| r.entries)
            }
            Op::Expire => p.evaluate_account(&mut a, now).ok().map(|e| e.entries),
        };
        log.extend(wrote.unwrap_or_default());
        prop_assert_eq!(a.ledger().check(), Ok(()));
        statement_agrees(a.ledger(), &log)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Both properties for a ledger stepped through the program.
    #[test]
    fn a_ledgers_statement_sums_to_its_points_net_of_debt(
        (clawback, expiry, _) in knobs(),
        ops in vec(op(), 1..80),
    ) {
        run_ledger(&program(clawback, expiry, 0, false), &ops)?;
    }

    /// Both properties for an account, whose bonuses (streak milestones,
    /// badge levels, those reached by made-up points) and their reversals
    /// write entries too.
    #[test]
    fn an_accounts_results_carry_its_whole_statement(
        (clawback, expiry, badge_points) in knobs(),
        ops in vec(op(), 1..80),
    ) {
        run_account(&program(clawback, expiry, badge_points, true), &ops)?;
    }
}

/// The review's case: under `debt`, an award paying off a debt wrote
/// `−80 debt paid` after the `−80 owed` that had counted it, so the
/// statement summed to −60 while the balance was 20.
#[test]
fn debt_paid_by_an_award_is_counted_once() {
    let p = serde_json::from_str::<ProgramSpec>(
        r#"{ "ledger": { "clawback": "debt" },
             "rules": [{ "name": "purchase", "on": "purchase",
                         "reward": { "type": "per_amount", "points": 1, "per_minor": 100, "rounding": "down" } }] }"#,
    )
    .unwrap()
    .validate()
    .unwrap();
    let mut l = p.new_ledger();
    let at = |m| t0() + TimeDelta::minutes(m);
    let buy = |id, m| {
        Event::new(
            EventId(id),
            USER,
            at(m),
            EventKind::Purchase {
                amount: Money::new(10_000, "CNY".parse().unwrap()),
            },
        )
    };
    p.apply(&mut l, &buy(1, 0)).unwrap();
    l.redeem("order".into(), 80, at(1))
        .map(|r| r.to_redemption())
        .unwrap();
    p.reverse(
        &mut l,
        "refund".into(),
        EventId(1),
        Portion::Whole {},
        at(2),
    )
    .unwrap();
    p.apply(&mut l, &buy(2, 3)).unwrap();
    assert_eq!(
        (l.balance(at(4)), l.spendable(at(4)), l.owed()),
        (20, 20, 0)
    );
    let lines: Vec<String> = l.statement().map(|e| e.to_string()).collect();
    assert_eq!(
        lines,
        [
            "2026-01-01 01:00:00 UTC +100 purchase (event#1)",
            "2026-01-01 01:01:00 UTC −80 redeemed order",
            "2026-01-01 01:02:00 UTC −20 reversed event#1 (refund)",
            "2026-01-01 01:02:00 UTC −80 owed for reversed event#1",
            "2026-01-01 01:03:00 UTC +100 purchase (event#2)",
            "2026-01-01 01:03:00 UTC  80 debt paid from purchase",
        ]
    );
    assert_eq!(l.statement().map(Entry::signed_points).sum::<i128>(), 20);
}
