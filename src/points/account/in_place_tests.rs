//! `Program::earn` steps an account in place when nothing after the rule
//! awards can fail (`Program::steps_in_place`), and a copy otherwise. Both
//! ways must give the same outcome and leave the same account, for any
//! account: also one whose counts a stored or edited JSON took to the ends
//! of their types, where a step must fail and change nothing.

use super::*;
use crate::Money;
use crate::points::ProgramSpec;
use chrono::{TimeDelta, TimeZone};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::Value;

const USER: UserId = UserId(1);

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0)
        .single()
        .unwrap_or_default()
}

/// Rules for lessons, check-ins and purchases (per yuan, and a thousand
/// points a fen, so that a large purchase's awards pass `ROOM`), a points or
/// spend ladder, a streak milestone and badges with bonus points.
fn program(spend: bool, milestone: u64, level: u64) -> Program {
    let basis = match spend {
        true => r#"{ "type": "spend", "currency": "CNY" }"#,
        false => r#"{ "type": "points" }"#,
    };
    let json = format!(
        r#"{{
        "utc_offset": "+08:00",
        "expiry": {{ "type": "after_months", "months": 12 }},
        "rules": [
            {{ "name": "lesson", "on": "action_completed:lesson", "reward": {{ "type": "fixed", "points": 10 }} }},
            {{ "name": "check_in", "on": "check_in", "reward": {{ "type": "fixed", "points": 5 }} }},
            {{ "name": "purchase", "on": "purchase",
               "reward": {{ "type": "per_amount", "points": 1, "per_minor": 100, "rounding": "down" }} }},
            {{ "name": "launch_week", "on": "purchase", "tier_multiplier": false,
               "reward": {{ "type": "per_amount", "points": 1000, "per_minor": 1, "rounding": "down" }} }}
        ],
        "tiers": {{ "basis": {basis}, "window": {{ "type": "rolling_days", "days": 14 }},
                   "tiers": [ {{ "name": "member", "threshold": 0 }},
                              {{ "name": "gold", "threshold": 60, "multiplier": 1.5 }} ] }},
        "streak": {{ "milestones": [ {{ "day": 2, "points": {milestone}, "repeat_every": 2 }} ] }},
        "badges": {{ "badges": [
            {{ "name": "scholar", "counter": {{ "type": "events", "on": "action_completed:lesson" }},
               "levels": [ {{ "at": 1, "points": {level} }}, {{ "at": 3, "points": {level} }} ] }},
            {{ "name": "helper", "counter": {{ "type": "points" }},
               "levels": [ {{ "at": 40, "points": {level} }} ] }},
            {{ "name": "regular", "counter": {{ "type": "streak" }},
               "levels": [ {{ "at": 2, "points": 1 }} ] }}
        ] }}
    }}"#
    );
    let spec: ProgramSpec = serde_json::from_str(&json).unwrap_or_else(|e| unreachable!("{e}"));
    spec.validate().unwrap_or_else(|e| unreachable!("{e}"))
}

#[derive(Clone, Debug)]
enum Step {
    CheckIn,
    Lesson,
    /// A purchase of this many minor units.
    Purchase(i64),
    /// Sets the numbers at this JSON pointer (every value of a map) to
    /// this value, where the account still reads back.
    Edit(&'static str, u64),
}

const EDGES: [u64; 12] = [
    u64::MAX,
    u64::MAX - 1,
    u64::MAX - 3,
    u64::MAX - 40,
    1 << 63,
    (1 << 62) + 1,
    1 << 62,
    (1 << 62) - 1,
    u32::MAX as u64,
    u32::MAX as u64 - 1,
    0,
    3,
];

fn step() -> impl Strategy<Value = (u32, Step)> {
    let step = prop_oneof![
        3 => Just(Step::CheckIn),
        3 => Just(Step::Lesson),
        2 => prop_oneof![
            (-5_000i64..40_000),
            select(vec![
                i64::MAX,
                1 << 52,
                1 << 55,
                5_000_000_000_000_000,
                10_000_000_000_000_000,
                15_000_000_000_000_000,
            ]),
        ]
        .prop_map(Step::Purchase),
        1 => (
            select(vec![
                "/version",
                "/next_bonus",
                "/ledger/version",
                "/ledger/next_lot",
                "/ledger/earned",
                "/ledger/available",
                "/ledger/reversed",
                "/tier/version",
                "/tier/tally",
                "/streak/version",
                "/streak/current",
                "/streak/days_checked_in",
                "/badges/version",
                "/badges/progress/scholar/count",
                "/badges/progress/helper/count",
            ]),
            select(EDGES.to_vec()),
        )
            .prop_map(|(at, to)| Step::Edit(at, to)),
    ];
    // Hours to the next step: mostly the same day, sometimes the next.
    (
        prop_oneof![3 => 0u32..6, 2 => 20u32..30, 1 => 40u32..100],
        step,
    )
}

/// `account` with the numbers at `at` set to `to`, if it reads back.
fn edited(account: &Account, at: &str, to: u64) -> Option<Account> {
    let mut json = serde_json::to_value(account).ok()?;
    match json.pointer_mut(at)? {
        Value::Object(map) => map.values_mut().for_each(|v| *v = to.into()),
        number => *number = to.into(),
    }
    serde_json::from_value(json).ok()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn in_place_and_on_a_copy_step_alike(
        spend in any::<bool>(),
        milestone in select(vec![1u64, 7, 1 << 61, u64::MAX / 2]),
        level in select(vec![0u64, 3, 1 << 61]),
        steps in vec(step(), 1..40),
    ) {
        let p = program(spend, milestone, level);
        let mut in_place = p.open_account(USER, t0());
        let mut copied = in_place.clone();
        let mut now = t0();
        let cny = "CNY".parse().unwrap_or_else(|_| unreachable!());
        for (id, (hours, step)) in steps.into_iter().enumerate() {
            now += TimeDelta::hours(i64::from(hours));
            let kind = match step {
                Step::CheckIn => EventKind::CheckIn { community: None },
                Step::Lesson => EventKind::ActionCompleted { action: "lesson".into() },
                Step::Purchase(minor) => EventKind::Purchase { amount: Money::new(minor, cny) },
                Step::Edit(at, to) => {
                    if let Some(account) = edited(&in_place, at, to) {
                        in_place = account;
                        copied = in_place.clone();
                    }
                    continue;
                }
            };
            let event = Event::new(EventId(id as u64), USER, now, kind);
            let before = in_place.clone();
            let a = p.earn(&mut in_place, &event, None);
            let b = p.earn_by_copy(&mut copied, &event, None);
            match (&a, &b) {
                (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
                (Err(a), Err(b)) => {
                    prop_assert_eq!(a.to_string(), b.to_string());
                    prop_assert_eq!(&in_place, &before, "a failed step changed the account");
                }
                _ => prop_assert!(false, "{:?} against {:?}", a, b),
            }
            prop_assert_eq!(&in_place, &copied);
        }
    }
}

/// The program of the property above, an account that has earned a
/// little, and a lesson to step it through.
fn ready() -> (Program, Account, Event) {
    let p = program(false, 7, 3);
    let mut account = p.open_account(USER, t0());
    let kind = EventKind::ActionCompleted {
        action: "lesson".into(),
    };
    for id in 0..3 {
        let at = t0() + TimeDelta::hours(id);
        let event = Event::new(EventId(id as u64), USER, at, kind.clone());
        p.earn(&mut account, &event, None)
            .unwrap_or_else(|e| unreachable!("{e}"));
    }
    let event = Event::new(EventId(9), USER, t0() + TimeDelta::hours(5), kind);
    (p, account, event)
}

#[test]
fn an_ordinary_step_runs_in_place() {
    let (p, account, event) = ready();
    assert!(p.steps_in_place(&account, &event));
}

#[test]
fn a_count_near_its_end_sends_the_step_to_a_copy() {
    let (p, account, event) = ready();
    for (at, to) in [
        ("/version", u64::MAX),
        ("/ledger/earned", (1 << 62) + 1),
        ("/ledger/available", (1 << 62) + 1),
        ("/ledger/reversed", (1 << 62) + 1),
        ("/ledger/version", u64::MAX - 3),
        ("/ledger/next_lot", u64::MAX - 3),
        ("/next_bonus", 3),
        ("/streak/current", u64::from(u32::MAX)),
        ("/streak/version", u64::MAX),
        ("/badges/version", u64::MAX - 2),
        ("/badges/progress/scholar/count", (1 << 62) + 1),
        // A level held that the count no longer reaches: a step could
        // revoke it.
        ("/badges/progress/scholar/count", 0),
        ("/tier/version", u64::MAX),
        ("/tier/tally", (1 << 62) + 1),
    ] {
        let account = edited(&account, at, to).unwrap_or_else(|| unreachable!("{at}"));
        assert!(!p.steps_in_place(&account, &event), "{at} = {to}");
    }
}

#[test]
fn a_spend_or_a_bonus_expiry_beyond_reach_sends_the_step_to_a_copy() {
    let p = program(true, 7, 3);
    let account = p.open_account(USER, t0());
    let cny = "CNY".parse().unwrap_or_else(|_| unreachable!());
    let purchase = |minor| EventKind::Purchase {
        amount: Money::new(minor, cny),
    };
    let at = |kind| Event::new(EventId(1), USER, t0(), kind);
    assert!(p.steps_in_place(&account, &at(purchase(9_900))));
    assert!(!p.steps_in_place(&account, &at(purchase(i64::MAX))));
    // Bonus lots expire 12 months on: not computable near the calendar's end.
    let late = DateTime::<Utc>::MAX_UTC - TimeDelta::days(30);
    let event = Event::new(
        EventId(1),
        USER,
        late,
        EventKind::CheckIn { community: None },
    );
    assert!(!p.steps_in_place(&account, &event));
}

#[test]
fn awards_that_can_pass_room_are_stepped_on_a_copy() {
    // A tally at `ROOM` can take the awards of this purchase (a thousand
    // points a fen, 1.5 × 10^19 in all) in the ledger but not in the tier:
    // stepped in place, the ledger would keep them and the tier refuse.
    let (p, account, _) = ready();
    let mut account = edited(&account, "/tier/tally", ROOM).unwrap_or_else(|| unreachable!());
    let cny = "CNY".parse().unwrap_or_else(|_| unreachable!());
    let purchase = |minor| {
        let kind = EventKind::Purchase {
            amount: Money::new(minor, cny),
        };
        Event::new(EventId(9), USER, t0() + TimeDelta::hours(5), kind)
    };
    // Up to 4.6 × 10^18 points, under `ROOM`: in place.
    assert!(p.steps_in_place(&account, &purchase(4_600_000_000_000_000)));
    let event = purchase(15_000_000_000_000_000);
    assert!(!p.steps_in_place(&account, &event));
    let before = account.clone();
    let err = p.earn(&mut account, &event, None).err();
    assert_eq!(
        err.map(|e| e.to_string()),
        Some("arithmetic overflow in a tier tally".into())
    );
    assert_eq!(account, before);
}
