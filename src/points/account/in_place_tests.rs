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

/// The knobs of [`rich_program`].
#[derive(Clone, Copy, Debug)]
struct Knobs {
    spend: bool,
    anniversary: bool,
    grace: u8,
    expiry: u8,
    pending: bool,
    clawback: u8,
    make_up: bool,
    reversible: u16,
    milestone: u64,
    level: u64,
    /// 0: as described on [`rich_program`]; 1: no ladder; 2: the badges'
    /// thresholds raised; 3: the ladder's second tier renamed.
    variant: u8,
}

fn knobs() -> impl Strategy<Value = Knobs> {
    let big = |v: Vec<u64>| select(v);
    (
        (any::<bool>(), any::<bool>(), 0u8..3, 0u8..4, any::<bool>()),
        (0u8..3, any::<bool>(), select(vec![0u16, 1, 2, 64])),
        big(vec![1, 7, 1 << 58, 1 << 59, (1 << 61) - 1]),
        big(vec![0, 3, 1 << 57, 1 << 58, (1 << 59) + 5]),
        0u8..4,
    )
        .prop_map(
            |(
                (spend, anniversary, grace, expiry, pending),
                (clawback, make_up, reversible),
                milestone,
                level,
                variant,
            )| Knobs {
                spend,
                anniversary,
                grace,
                expiry,
                pending,
                clawback,
                make_up,
                reversible,
                milestone,
                level,
                variant,
            },
        )
}

/// A program with every section and most of their options: a points or
/// spend ladder of three tiers over a rolling or anniversary-year window,
/// with grace; expiry after days or (rounded) months, or never; a purchase
/// rule with pending days; a clawback policy; two milestones (one
/// repeating) and make-ups; event, points, streak and purchase badges of
/// two levels each; bonuses as big as the knobs say. Its variants (see
/// [`Knobs::variant`]) step accounts another variant opened: a ladder
/// added since, thresholds raised since, a tier gone.
fn rich_program(k: Knobs) -> Program {
    let basis = match k.spend {
        true => r#"{ "type": "spend", "currency": "CNY" }"#,
        false => r#"{ "type": "points" }"#,
    };
    let window = match k.anniversary {
        true => r#"{ "type": "anniversary_year" }"#,
        false => r#"{ "type": "rolling_days", "days": 14 }"#,
    };
    let grace = [
        r#"{ "type": "none" }"#,
        r#"{ "type": "days", "days": 30 }"#,
        r#"{ "type": "until_anniversary" }"#,
    ][usize::from(k.grace % 3)];
    let expiry = [
        r#"{ "type": "after_months", "months": 12 }"#,
        r#"{ "type": "after_months", "months": 1, "round_up_to": "quarter" }"#,
        r#"{ "type": "after_days", "days": 30 }"#,
        r#"{ "type": "never" }"#,
    ][usize::from(k.expiry % 4)];
    let clawback = ["negative_balance", "debt", "clamp"][usize::from(k.clawback % 3)];
    let pending = u32::from(k.pending) * 3;
    let make_up = match k.make_up {
        true => r#", "make_up": { "per_month": 2 }"#,
        false => "",
    };
    let (m, l, reversible) = (k.milestone, k.level, k.reversible);
    let second = match k.variant {
        3 => "silver",
        _ => "gold",
    };
    let tiers = format!(
        r#""tiers": {{ "basis": {basis}, "window": {window}, "grace": {grace},
                   "tiers": [ {{ "name": "member", "threshold": 0 }},
                              {{ "name": "{second}", "threshold": 60, "multiplier": 1.5 }},
                              {{ "name": "platinum", "threshold": 1000000, "multiplier": 2 }} ] }},"#
    );
    let tiers = match k.variant {
        1 => "",
        _ => &tiers,
    };
    let at: [u64; 8] = match k.variant {
        2 => [2, 6, 400, 10_000, 3, 10, 3, 4],
        _ => [1, 3, 40, 1000, 2, 5, 1, 2],
    };
    let json = format!(
        r#"{{
        "utc_offset": "+08:00",
        "expiry": {expiry},
        "ledger": {{ "clawback": "{clawback}", "reversible_awards": {reversible} }},
        "rules": [
            {{ "name": "lesson", "on": "action_completed:lesson", "multiplier": 1.5,
               "reward": {{ "type": "fixed", "points": 10 }} }},
            {{ "name": "check_in", "on": "check_in", "reward": {{ "type": "fixed", "points": 5 }} }},
            {{ "name": "purchase", "on": "purchase", "pending_days": {pending},
               "reward": {{ "type": "per_amount", "points": 1, "per_minor": 100, "rounding": "up" }} }},
            {{ "name": "launch_week", "on": "purchase", "tier_multiplier": false,
               "reward": {{ "type": "per_amount", "points": 1000, "per_minor": 1, "rounding": "down" }} }}
        ],
        {tiers}
        "streak": {{ "milestones": [ {{ "day": 2, "points": {m}, "repeat_every": 2 }},
                                     {{ "day": 3, "points": {m} }} ]{make_up} }},
        "badges": {{ "badges": [
            {{ "name": "scholar", "counter": {{ "type": "events", "on": "action_completed:lesson" }},
               "levels": [ {{ "at": {}, "points": {l} }}, {{ "at": {}, "points": {l} }} ] }},
            {{ "name": "helper", "counter": {{ "type": "points" }},
               "levels": [ {{ "at": {}, "points": {l} }}, {{ "at": {}, "points": {l} }} ] }},
            {{ "name": "regular", "counter": {{ "type": "streak" }},
               "levels": [ {{ "at": {}, "points": 1 }}, {{ "at": {}, "points": {l} }} ] }},
            {{ "name": "buyer", "counter": {{ "type": "events", "on": "purchase" }},
               "levels": [ {{ "at": {}, "points": {l} }}, {{ "at": {}, "points": 0 }} ] }}
        ] }}
    }}"#,
        at[0], at[1], at[2], at[3], at[4], at[5], at[6], at[7],
    );
    let spec: ProgramSpec = serde_json::from_str(&json).unwrap_or_else(|e| unreachable!("{e}"));
    spec.validate().unwrap_or_else(|e| unreachable!("{e}"))
}

/// [`EDGES`], and small numbers (a bonus id among the events' ids).
fn rich_edges() -> Vec<u64> {
    EDGES.iter().copied().chain([12, 24, 48]).collect()
}

/// A step of [`in_place_and_on_a_copy_step_alike_in_any_program`].
#[derive(Clone, Debug)]
enum Op {
    CheckIn,
    Lesson,
    /// An event no rule listens to.
    Other,
    /// A purchase of this many minor units.
    Purchase(i64),
    Redeem(u64),
    Hold(u64),
    /// Captures (`true`) or releases the hold of this number (modulo).
    Close(usize, bool),
    /// Reverses the event of this number (modulo), wholly or a share.
    Reverse(usize, Option<(u64, u64)>),
    Evaluate,
    /// Edits the account's JSON (see [`edited_anywhere`]).
    Edit(usize, Edit),
    /// The next event at an instant near chrono's ends (see `far`), the
    /// clock moved there if it is later.
    Jump(u8),
    /// The next event's id is `u64::MAX` less this (a bonus lot's, maybe).
    HighId(u64),
    /// The other program steps the account from now on.
    Switch,
}

fn op() -> impl Strategy<Value = (u32, Op)> {
    let op = prop_oneof![
        4 => Just(Op::CheckIn),
        4 => Just(Op::Lesson),
        1 => Just(Op::Other),
        3 => prop_oneof![
            (-5_000i64..40_000),
            select(vec![
                i64::MAX,
                1 << 52,
                1 << 55,
                4_000_000_000_000_000,
                // Awards just under `ROOM`.
                4_611_000_000_000_000,
                5_000_000_000_000_000,
                10_000_000_000_000_000,
            ]),
        ]
        .prop_map(Op::Purchase),
        1 => select(vec![1u64, 7, 50, 1 << 20, 1 << 61, u64::MAX]).prop_map(Op::Redeem),
        1 => select(vec![1u64, 7, 50, 1 << 61]).prop_map(Op::Hold),
        1 => (any::<usize>(), any::<bool>()).prop_map(|(i, c)| Op::Close(i, c)),
        2 => (any::<usize>(), proptest::option::of((0u64..4, 1u64..4)))
            .prop_map(|(i, s)| Op::Reverse(i, s.map(|(n, d)| (n.min(d), d)))),
        1 => Just(Op::Evaluate),
        3 => (any::<usize>(), select(rich_edges()))
            .prop_map(|(i, v)| Op::Edit(i, Edit::Number(v))),
        1 => (any::<usize>(), any::<bool>()).prop_map(|(i, end)| Op::Edit(i, Edit::Date(end))),
        1 => any::<usize>().prop_map(|i| Op::Edit(i, Edit::Pop)),
        1 => (0u8..6).prop_map(Op::Jump),
        1 => (0u64..12).prop_map(Op::HighId),
        1 => Just(Op::Switch),
    ];
    (
        prop_oneof![3 => 0u32..6, 2 => 20u32..30, 1 => 40u32..100],
        op,
    )
}

/// Instants near chrono's ends.
fn far(which: u8) -> DateTime<Utc> {
    let (max, min) = (DateTime::<Utc>::MAX_UTC, DateTime::<Utc>::MIN_UTC);
    match which {
        0 => max - TimeDelta::days(400),
        1 => max - TimeDelta::days(95),
        2 => max - TimeDelta::days(31),
        3 => max - TimeDelta::hours(30),
        4 => min + TimeDelta::days(2),
        _ => t0() + TimeDelta::days(400),
    }
}

/// The JSON pointers of `value`'s numeric leaves, of its strings that
/// read as dates or instants, and of its non-empty arrays, in document
/// order.
fn leaves(value: &Value, at: String, found: &mut [Vec<String>; 3]) {
    let escape = |k: &str| k.replace('~', "~0").replace('/', "~1");
    match value {
        Value::Number(_) => found[0].push(at),
        Value::String(text) => {
            let instant = text.parse::<DateTime<Utc>>().is_ok();
            if instant || text.parse::<chrono::NaiveDate>().is_ok() {
                found[1].push(at);
            }
        }
        Value::Array(items) => {
            if !items.is_empty() {
                found[2].push(at.clone());
            }
            for (i, v) in items.iter().enumerate() {
                leaves(v, format!("{at}/{i}"), found);
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                leaves(v, format!("{at}/{}", escape(k)), found);
            }
        }
        _ => {}
    }
}

/// An edit of [`edited_anywhere`].
#[derive(Clone, Copy, Debug)]
enum Edit {
    /// A numeric leaf set to this.
    Number(u64),
    /// A date or instant moved to chrono's end (`true`) or start.
    Date(bool),
    /// An array's last element removed.
    Pop,
}

/// `account` with the leaf or array of this number (modulo) edited, if it
/// reads back.
fn edited_anywhere(account: &Account, pick: usize, edit: Edit) -> Option<Account> {
    let mut json = serde_json::to_value(account).ok()?;
    let mut found = [Vec::new(), Vec::new(), Vec::new()];
    leaves(&json, String::new(), &mut found);
    let [numbers, dates, arrays] = &found;
    let among = |list: &Vec<String>| list.get(pick % list.len().max(1)).cloned();
    match edit {
        Edit::Number(to) => *json.pointer_mut(&among(numbers)?)? = to.into(),
        Edit::Date(end) => {
            let leaf = json.pointer_mut(&among(dates)?)?;
            let instant = leaf.as_str()?.parse::<DateTime<Utc>>().is_ok();
            let to = match (instant, end) {
                (true, true) => serde_json::to_value(DateTime::<Utc>::MAX_UTC).ok()?,
                (true, false) => serde_json::to_value(DateTime::<Utc>::MIN_UTC).ok()?,
                (false, true) => serde_json::to_value(chrono::NaiveDate::MAX).ok()?,
                (false, false) => serde_json::to_value(chrono::NaiveDate::MIN).ok()?,
            };
            *leaf = to;
        }
        Edit::Pop => {
            json.pointer_mut(&among(arrays)?)?.as_array_mut()?.pop();
        }
    }
    serde_json::from_value(json).ok()
}

/// Both results alike: equal values, or errors that read alike.
fn alike<T: PartialEq + std::fmt::Debug, E: std::fmt::Display>(
    a: &Result<T, E>,
    b: &Result<T, E>,
) -> Result<(), TestCaseError> {
    match (a, b) {
        (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
        (Err(a), Err(b)) => prop_assert_eq!(a.to_string(), b.to_string()),
        (Ok(a), Err(b)) => prop_assert!(false, "{:?} against {}", a, b),
        (Err(a), Ok(b)) => prop_assert!(false, "{} against {:?}", a, b),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn in_place_and_on_a_copy_step_alike_in_any_program(
        k in knobs(),
        other in 0u8..4,
        ops in vec(op(), 1..48),
    ) {
        let mut p = rich_program(k);
        let mut q = rich_program(Knobs { variant: other, ..k });
        let mut in_place = p.open_account(USER, t0());
        let mut copied = in_place.clone();
        let mut now = t0();
        let mut next_id = 0u64;
        let mut high = None;
        let mut once = None;
        let (mut ids, mut holds) = (Vec::new(), 0usize);
        let cny = "CNY".parse().unwrap_or_else(|_| unreachable!());
        for (hours, op) in ops {
            now = now
                .checked_add_signed(TimeDelta::hours(i64::from(hours)))
                .unwrap_or(DateTime::<Utc>::MAX_UTC);
            let kind = match op {
                Op::CheckIn => EventKind::CheckIn { community: None },
                Op::Lesson => EventKind::ActionCompleted { action: "lesson".into() },
                Op::Other => EventKind::ActionCompleted { action: "other".into() },
                Op::Purchase(minor) => EventKind::Purchase { amount: Money::new(minor, cny) },
                Op::Redeem(points) => {
                    let key = OperationKey::from(format!("r{next_id}"));
                    next_id += 1;
                    let a = in_place
                        .redeem(key.clone(), points, now)
                        .map(|r| r.to_redemption());
                    let b = copied.redeem(key, points, now).map(|r| r.to_redemption());
                    alike(&a, &b)?;
                    prop_assert_eq!(&in_place, &copied);
                    continue;
                }
                Op::Hold(points) => {
                    let key = OperationKey::from(format!("h{holds}"));
                    holds += 1;
                    let a = in_place.ledger_step(|l| l.hold(key.clone(), points, now));
                    let b = copied.ledger_step(|l| l.hold(key, points, now));
                    alike(&a, &b)?;
                    prop_assert_eq!(&in_place, &copied);
                    continue;
                }
                Op::Close(i, capture) => {
                    let key = OperationKey::from(format!("h{}", i % holds.max(1)));
                    match capture {
                        true => {
                            let a = in_place.ledger_step(|l| l.capture(key.clone(), now).map(|r| r.to_redemption()));
                            let b = copied.ledger_step(|l| l.capture(key, now).map(|r| r.to_redemption()));
                            alike(&a, &b)?;
                        }
                        false => {
                            let a = in_place.ledger_step(|l| l.release(key.clone(), now));
                            let b = copied.ledger_step(|l| l.release(key, now));
                            alike(&a, &b)?;
                        }
                    }
                    prop_assert_eq!(&in_place, &copied);
                    continue;
                }
                Op::Reverse(i, share) => {
                    let Some(&source) = ids.get(i % ids.len().max(1)) else { continue };
                    let portion = match share {
                        Some((numerator, denominator)) => Portion::Share { numerator, denominator },
                        None => Portion::Whole {},
                    };
                    let key = OperationKey::from(format!("x{next_id}"));
                    next_id += 1;
                    let a = p.reverse_in(&mut in_place, key.clone(), source, portion, now);
                    let b = p.reverse_in(&mut copied, key, source, portion, now);
                    alike(&a, &b)?;
                    prop_assert_eq!(&in_place, &copied);
                    continue;
                }
                Op::Evaluate => {
                    let a = p.evaluate_account(&mut in_place, now);
                    let b = p.evaluate_account(&mut copied, now);
                    alike(&a, &b)?;
                    prop_assert_eq!(&in_place, &copied);
                    continue;
                }
                Op::Edit(pick, edit) => {
                    if let Some(account) = edited_anywhere(&in_place, pick, edit) {
                        in_place = account;
                        copied = in_place.clone();
                    }
                    continue;
                }
                Op::Jump(which) => {
                    once = Some(far(which));
                    continue;
                }
                Op::HighId(less) => {
                    high = Some(u64::MAX - less);
                    continue;
                }
                Op::Switch => {
                    std::mem::swap(&mut p, &mut q);
                    continue;
                }
            };
            let id = high.take().unwrap_or_else(|| {
                next_id += 1;
                next_id
            });
            ids.push(EventId(id));
            // Near chrono's start, for one event; near its end, from then on.
            let at = once.take().unwrap_or(now);
            now = now.max(at);
            let event = Event::new(EventId(id), USER, at, kind);
            let before = in_place.clone();
            let a = p.earn(&mut in_place, &event, None);
            let b = p.earn_by_copy(&mut copied, &event, None);
            alike(&a, &b)?;
            if a.is_err() {
                prop_assert_eq!(&in_place, &before, "a failed step changed the account");
            }
            prop_assert_eq!(&in_place, &copied);
        }
    }
}

#[test]
fn a_rich_program_steps_an_ordinary_account_in_place() {
    // So that the property above compares stepping in place with stepping
    // a copy, not a copy with a copy.
    let k = Knobs {
        spend: false,
        anniversary: true,
        grace: 2,
        expiry: 1,
        pending: true,
        clawback: 1,
        make_up: true,
        reversible: 64,
        milestone: (1 << 61) - 1,
        level: 0,
        variant: 0,
    };
    let p = rich_program(k);
    let account = p.open_account(USER, t0());
    let kind = EventKind::CheckIn { community: None };
    let event = Event::new(EventId(1), USER, t0(), kind);
    assert!(p.steps_in_place(&account, &event));
    // Bonuses past `ROOM` in all: on a copy.
    let p = rich_program(Knobs { level: 3, ..k });
    assert!(!p.steps_in_place(&account, &event));
}

#[test]
fn bonus_ids_pass_over_crowded_event_ids_alike_in_place() {
    // Events hold the ids just above `base` (a few lessons that earned
    // points, and many purchases that earned none but count for the
    // purchase badge, which only the account remembers): a bonus id drawn
    // among them passes over them all, and one drawn from just above them
    // runs out of ids. Wherever the bonus ids start, stepping in place and
    // on a copy agree.
    let p = rich_program(Knobs {
        spend: true,
        anniversary: false,
        grace: 0,
        expiry: 0,
        pending: false,
        clawback: 0,
        make_up: false,
        reversible: 64,
        milestone: 7,
        level: 3,
        variant: 0,
    });
    let currency = |code: &str| code.parse().unwrap_or_else(|_| unreachable!());
    let next_day = t0() + TimeDelta::days(1);
    for base in [0, 100] {
        let mut account = p.open_account(USER, t0());
        for id in 1..=41u64 {
            let kind = match id % 5 {
                _ if id == 41 => EventKind::CheckIn { community: None },
                0 => EventKind::ActionCompleted {
                    action: "lesson".into(),
                },
                _ => EventKind::Purchase {
                    amount: Money::new(0, currency("USD")),
                },
            };
            let at = t0() + TimeDelta::minutes(i64::try_from(id).unwrap_or(0));
            let event = Event::new(EventId(base + id), USER, at, kind);
            p.earn(&mut account, &event, None)
                .unwrap_or_else(|e| unreachable!("{e}"));
        }
        let steps = [
            // A streak milestone and a streak badge level.
            Event::new(
                EventId(500),
                USER,
                next_day,
                EventKind::CheckIn { community: None },
            ),
            // The points badge's levels.
            Event::new(
                EventId(501),
                USER,
                next_day,
                EventKind::Purchase {
                    amount: Money::new(100, currency("CNY")),
                },
            ),
        ];
        let (mut in_place, mut passed_over) = (0, false);
        for next_bonus in 0..=base + 100 {
            let start = edited(&account, "/next_bonus", next_bonus)
                .unwrap_or_else(|| unreachable!("{next_bonus}"));
            for event in &steps {
                in_place += usize::from(p.steps_in_place(&start, event));
                let before = start.clone();
                let (mut a, mut b) = (start.clone(), start.clone());
                let x = p.earn(&mut a, event, None).map_err(|e| e.to_string());
                let y = p
                    .earn_by_copy(&mut b, event, None)
                    .map_err(|e| e.to_string());
                assert!(x.as_ref().is_ok_and(|o| o.bonus_total > 0) || x.is_err());
                assert_eq!(x, y, "{base} {next_bonus}");
                if x.is_err() {
                    assert_eq!(a, before, "{base} {next_bonus}: a failed step changed it");
                }
                assert_eq!(a, b, "{base} {next_bonus}");
                // A bonus under the events' ids passed over them all.
                passed_over |= a
                    .ledger()
                    .earnings()
                    .any(|e| is_bonus(e.rule.as_str()) && e.source.0 <= base);
            }
        }
        assert!(in_place > 0 && (base == 0 || passed_over), "{base}");
    }
}
