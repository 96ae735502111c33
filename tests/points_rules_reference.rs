//! A reference model of the earning rules (`growthkit::points::Program::apply`):
//! conditions, rewards, multipliers, caps, cooldowns, priorities and
//! exclusive groups, written from their docs.
//!
//! The model keeps every award of the member in a list and works each cap's
//! use out again by filtering that list by the period, computed with
//! chrono's own zone conversion (`with_timezone`, `iso_week`, the calendar
//! month), so a 23- or 25-hour day of a daylight-saving change is whatever
//! chrono says it is. Conditions are evaluated straight from their
//! definitions. After each event the engine's [`Earned`] (every award with
//! its base, multipliers, cap and cooldown, the skipped rules, the total)
//! must be the model's.
//!
//! Events come in time order on a grid of half hours around local
//! midnights, a week's and a month's start and New York's daylight-saving
//! changes; some come late (by up to ten days, so that some are older than
//! the daily tallies kept and refused as too late) and some are delivered
//! twice (a duplicate earns nothing).
//!
//! Two more properties reverse one event of a local day (or of an ISO
//! week, for week and lifetime caps), either at once or after the other
//! events of that period, and check that the member nets the same points
//! both ways, event by event (the order-independence the reversal docs
//! promise), within the limits the make-up docs state: trimming caps, no
//! cooldowns (which a make-up does not judge again), and an award made in
//! the meantime is never cut back, so where rules share the global cap
//! their caps limit points only (a count cap's refusal, made up later,
//! could find its room taken).

use chrono::{
    DateTime, Datelike, FixedOffset, NaiveDate, TimeDelta, TimeZone, Timelike, Utc, Weekday,
};
use growthkit::lifecycle::Stage;
use growthkit::points::{
    Award, Cap, CapHit, CapMode, CapPeriod, Condition, EarnContext, Earned, Ledger, Multiplier,
    PerAmountCalc, PointsError, Portion, ProgramSpec, Reward, Rounding, RuleSpec, SkipReason,
    Skipped,
};
use growthkit::{AttrValue, CommunityId, Event, EventId, EventKind, KindPattern, Money, UserId};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::{Index, select, subsequence};
use std::collections::BTreeMap;

/// The grid events and campaign edges lie on.
const SLOT: i64 = 30 * 60;

fn utc(y: i32, mo: u32, d: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, 0, 0).unwrap()
}

fn slot(anchor: DateTime<Utc>, n: u32) -> DateTime<Utc> {
    anchor + TimeDelta::seconds(SLOT * i64::from(n))
}

// ---------------------------------------------------------------------------
// The vocabulary
// ---------------------------------------------------------------------------

/// A comparison of the int attribute `minutes`.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Op {
    /// Whether `value` stands in this relation to `operand`.
    fn compares(self, value: i64, operand: i64) -> bool {
        match self {
            Op::Eq => value == operand,
            Op::Ne => value != operand,
            Op::Lt => value < operand,
            Op::Le => value <= operand,
            Op::Gt => value > operand,
            Op::Ge => value >= operand,
        }
    }
}

/// One condition, as the model reads it.
#[derive(Clone, Debug)]
enum Cond {
    /// `minutes op value`, int.
    Minutes(Op, i64),
    /// `level = value` (or `≠` when false), text.
    Level(bool, &'static str),
    /// `paid = value`, bool.
    Paid(bool),
    /// `minutes` in the set.
    MinutesIn(Vec<i64>),
    /// `level` in the set.
    LevelIn(Vec<&'static str>),
    Channel(Vec<&'static str>),
    Community(Vec<u64>),
    /// Slots from the anchor: `[start, end)`.
    Campaign(Option<u32>, Option<u32>),
    Weekdays(Vec<Weekday>),
    Hours(u8, u8),
    FirstTime,
    EveryNth(u32),
    Stage(Vec<Stage>),
    Tier(Vec<&'static str>),
}

#[derive(Clone, Debug)]
struct RuleGen {
    on: &'static str,
    reward: Reward,
    when: Vec<Cond>,
    multiplier: Option<u32>,
    tier_multiplier: bool,
    multiplier_rounding: Rounding,
    caps: [Option<Cap>; 4],
    cap_mode: CapMode,
    cooldown: Option<u32>,
    exempt: bool,
    priority: i32,
    group: Option<&'static str>,
}

/// One event as generated: slots since the previous one, its kind, its
/// attributes and what the host knows of the member.
#[derive(Clone, Debug)]
struct EventGen {
    step: u32,
    /// Slots it comes late by, behind the latest time so far.
    late: u32,
    /// Whether the event before it is delivered again first.
    again: bool,
    kind: u8,
    amount: i64,
    usd: bool,
    community: Option<u64>,
    minutes: Option<AttrValue>,
    level: Option<&'static str>,
    paid: Option<bool>,
    channel: Option<AttrValue>,
    community_attr: Option<i64>,
    stage: Option<Stage>,
    tier: Option<(&'static str, u32)>,
}

fn cny() -> growthkit::Currency {
    "CNY".parse().unwrap()
}

fn usd() -> growthkit::Currency {
    "USD".parse().unwrap()
}

fn op_strategy() -> impl Strategy<Value = Op> {
    select(vec![Op::Eq, Op::Ne, Op::Lt, Op::Le, Op::Gt, Op::Ge])
}

/// The days of the week, from Monday.
const WEEK: [Weekday; 7] = [
    Weekday::Mon,
    Weekday::Tue,
    Weekday::Wed,
    Weekday::Thu,
    Weekday::Fri,
    Weekday::Sat,
    Weekday::Sun,
];

fn cond_strategy() -> impl Strategy<Value = Cond> {
    let levels = vec!["a", "b", "c"];
    let weekdays = WEEK.to_vec();
    prop_oneof![
        (op_strategy(), select(vec![0i64, 10, 20, 30])).prop_map(|(o, v)| Cond::Minutes(o, v)),
        (any::<bool>(), select(levels.clone())).prop_map(|(eq, v)| Cond::Level(eq, v)),
        any::<bool>().prop_map(Cond::Paid),
        subsequence(vec![0i64, 10, 20, 30], 1..=3).prop_map(Cond::MinutesIn),
        subsequence(levels, 1..=2).prop_map(Cond::LevelIn),
        subsequence(vec!["app", "wechat", "web"], 1..=2).prop_map(Cond::Channel),
        subsequence(vec![1u64, 2, 3], 1..=2).prop_map(Cond::Community),
        (0u32..60, 1u32..80, 0u8..3).prop_map(|(start, len, open)| match open {
            0 => Cond::Campaign(Some(start), Some(start + len)),
            1 => Cond::Campaign(Some(start), None),
            _ => Cond::Campaign(None, Some(start + len)),
        }),
        subsequence(weekdays, 1..=4).prop_map(Cond::Weekdays),
        (0u8..24, 0u8..=24)
            .prop_filter("an hour range holds some hour", |(f, t)| f != t)
            .prop_map(|(f, t)| Cond::Hours(f, t)),
        Just(Cond::FirstTime),
        (1u32..4).prop_map(Cond::EveryNth),
        subsequence(vec![Stage::Acquired, Stage::Activated, Stage::Loyal], 1..=2)
            .prop_map(Cond::Stage),
        subsequence(vec!["silver", "gold"], 1..=1).prop_map(Cond::Tier),
    ]
}

fn cap_strategy() -> impl Strategy<Value = Option<Cap>> {
    prop_oneof![
        4 => Just(None),
        1 => (1u32..4).prop_map(|c| Some(Cap { count: Some(c), points: None })),
        1 => select(vec![5u64, 12, 25, 40]).prop_map(|p| Some(Cap { count: None, points: Some(p) })),
        1 => (1u32..4, select(vec![5u64, 12, 25, 40]))
            .prop_map(|(c, p)| Some(Cap { count: Some(c), points: Some(p) })),
    ]
}

fn rounding_strategy() -> impl Strategy<Value = Rounding> {
    select(vec![Rounding::Down, Rounding::Nearest, Rounding::Up])
}

fn rule_strategy() -> impl Strategy<Value = RuleGen> {
    let reward = prop_oneof![
        2 => (1u64..20).prop_map(|points| Reward::Fixed { points }),
        1 => (1u64..4, select(vec![100i64, 350, 1000]), rounding_strategy(), 0u8..4).prop_map(
            |(points, per_minor, rounding, currency)| Reward::PerAmount {
                points,
                per_minor,
                rounding,
                currency: match currency {
                    0 | 1 => None,
                    2 => Some(cny()),
                    _ => Some(usd()),
                },
            }
        ),
    ];
    (
        (
            select(vec![
                "visited",
                "action_completed:lesson",
                "action_completed",
                "check_in",
                "*",
            ]),
            reward,
            vec(cond_strategy(), 0..3),
            option::weighted(0.4, select(vec![5_000u32, 12_500, 15_000, 20_000])),
            prop::bool::weighted(0.8),
            rounding_strategy(),
        ),
        (
            [
                cap_strategy(),
                cap_strategy(),
                cap_strategy(),
                cap_strategy(),
            ],
            prop_oneof![Just(CapMode::Trim), Just(CapMode::Reject)],
            option::weighted(0.3, select(vec![1_800u32, 3_600, 5_400, 86_400])),
            prop::bool::weighted(0.3),
            0i32..3,
            option::weighted(0.4, select(vec!["g1", "g2"])),
        ),
    )
        .prop_map(
            |(
                (on, reward, mut when, multiplier, tier_multiplier, multiplier_rounding),
                (caps, cap_mode, cooldown, exempt, priority, group),
            )| {
                let on = match reward {
                    Reward::PerAmount { .. } => "purchase",
                    _ => on,
                };
                // `first_time` beside an `every_nth` of 2 or more is refused.
                if when.iter().any(|c| matches!(c, Cond::FirstTime)) {
                    when.retain(|c| !matches!(c, Cond::EveryNth(n) if *n >= 2));
                }
                // Conditions on one thing that no value meets together are
                // refused: keep each only if some value still meets it and
                // those kept before it.
                let mut kept: Vec<Cond> = Vec::new();
                for c in when {
                    kept.push(c);
                    if !satisfiable(&kept) {
                        kept.pop();
                    }
                }
                let when = kept;
                RuleGen {
                    on,
                    reward,
                    when,
                    multiplier,
                    tier_multiplier,
                    multiplier_rounding,
                    caps,
                    cap_mode,
                    cooldown,
                    exempt,
                    priority,
                    group,
                }
            },
        )
}

/// One value of one thing a condition reads.
#[derive(Clone, Copy)]
enum Cand {
    Minutes(i64),
    Level(&'static str),
    Paid(bool),
    Channel(&'static str),
    Community(u64),
    Slot(i64),
    Day(Weekday),
    Hour(u8),
    Stage(Stage),
    Tier(&'static str),
}

/// Whether `c` holds at `x`, if `c` reads the thing `x` is a value of.
fn holds_at(c: &Cond, x: Cand) -> Option<bool> {
    Some(match (c, x) {
        (Cond::Minutes(o, v), Cand::Minutes(m)) => o.compares(m, *v),
        (Cond::MinutesIn(vs), Cand::Minutes(m)) => vs.contains(&m),
        (Cond::Level(eq, v), Cand::Level(l)) => (l == *v) == *eq,
        (Cond::LevelIn(vs), Cand::Level(l)) => vs.contains(&l),
        (Cond::Paid(v), Cand::Paid(p)) => p == *v,
        (Cond::Channel(vs), Cand::Channel(ch)) => vs.contains(&ch),
        (Cond::Community(vs), Cand::Community(n)) => vs.contains(&n),
        (Cond::Campaign(start, end), Cand::Slot(n)) => {
            start.is_none_or(|s| n >= i64::from(s)) && end.is_none_or(|e| n < i64::from(e))
        }
        (Cond::Weekdays(ds), Cand::Day(d)) => ds.contains(&d),
        (Cond::Hours(f, t), Cand::Hour(h)) => {
            if f < t {
                *f <= h && h < *t
            } else {
                h >= *f || h < *t
            }
        }
        (Cond::Stage(ss), Cand::Stage(st)) => ss.contains(&st),
        (Cond::Tier(ts), Cand::Tier(t)) => ts.contains(&t),
        _ => return None,
    })
}

/// Whether, for each thing the conditions read, some value (of those the
/// generator can tell apart) meets every condition on it.
fn satisfiable(when: &[Cond]) -> bool {
    let domains: Vec<Vec<Cand>> = vec![
        (-1i64..=31).map(Cand::Minutes).collect(),
        ["a", "b", "c", "other"].map(Cand::Level).to_vec(),
        [true, false].map(Cand::Paid).to_vec(),
        ["app", "wechat", "web"].map(Cand::Channel).to_vec(),
        [1u64, 2, 3].map(Cand::Community).to_vec(),
        (-1i64..=200).map(Cand::Slot).collect(),
        WEEK.map(Cand::Day).to_vec(),
        (0u8..24).map(Cand::Hour).collect(),
        [Stage::Acquired, Stage::Activated, Stage::Loyal]
            .map(Cand::Stage)
            .to_vec(),
        ["silver", "gold"].map(Cand::Tier).to_vec(),
    ];
    domains.iter().all(|domain| {
        domain
            .iter()
            .any(|&x| when.iter().all(|c| holds_at(c, x).unwrap_or(true)))
    })
}

#[derive(Clone, Debug)]
struct ProgramGen {
    rules: Vec<RuleGen>,
    global: Option<Cap>,
}

fn program_strategy() -> impl Strategy<Value = ProgramGen> {
    (
        vec(rule_strategy(), 1..=6),
        prop_oneof![Just(None), cap_strategy()],
    )
        .prop_map(|(mut rules, global)| {
            // Two rules of one group at one priority are refused: move the
            // later one up until its priority is its own.
            for i in 0..rules.len() {
                while rules[..i].iter().any(|r| {
                    r.group.is_some()
                        && r.group == rules[i].group
                        && r.priority == rules[i].priority
                }) {
                    rules[i].priority += 1;
                }
            }
            // A points cap below every award of a rule under `reject` is
            // refused (the rule never awards): such a rule trims instead.
            for r in &mut rules {
                let Reward::Fixed { points } = r.reward else {
                    continue;
                };
                let award = r.multiplier.map_or(points, |bp| {
                    multiplier(bp)
                        .apply(points, r.multiplier_rounding)
                        .unwrap_or(u64::MAX)
                });
                let global = global.filter(|_| !r.exempt);
                let below = r
                    .caps
                    .iter()
                    .chain([&global])
                    .flatten()
                    .any(|c| c.points.is_some_and(|p| p < award));
                if r.cap_mode == CapMode::Reject && !r.tier_multiplier && below {
                    r.cap_mode = CapMode::Trim;
                }
            }
            ProgramGen { rules, global }
        })
}

fn event_strategy(steps: impl Strategy<Value = u32>) -> impl Strategy<Value = EventGen> {
    (
        (
            (
                steps,
                prop_oneof![24 => Just(0u32), 4 => 1u32..40, 2 => 40u32..288, 1 => 288u32..480],
                prop::bool::weighted(0.1),
            ),
            0u8..5,
            select(vec![
                -500i64, 0, 99, 350, 999, 1000, 1049, 1050, 2500, 12_345,
            ]),
            prop::bool::weighted(0.2),
            option::of(1u64..4),
        ),
        (
            option::of(prop_oneof![
                5 => select(vec![0i64, 10, 15, 20, 30, 35]).prop_map(AttrValue::Int),
                1 => Just(AttrValue::Text("20".into())),
            ]),
            option::of(select(vec!["a", "b", "c"])),
            option::of(any::<bool>()),
            option::of(prop_oneof![
                5 => select(vec!["app", "wechat", "web"]).prop_map(|c| AttrValue::Text(c.into())),
                1 => Just(AttrValue::Int(1)),
            ]),
            option::of(select(vec![-1i64, 1, 2, 3])),
        ),
        (
            option::of(select(vec![
                Stage::Acquired,
                Stage::Activated,
                Stage::Loyal,
            ])),
            option::of((
                select(vec!["silver", "gold"]),
                select(vec![10_000u32, 12_500, 15_000]),
            )),
        ),
    )
        .prop_map(
            |(
                ((step, late, again), kind, amount, usd, community),
                (minutes, level, paid, channel, community_attr),
                (stage, tier),
            )| EventGen {
                step,
                late,
                again,
                kind,
                amount,
                usd,
                community,
                minutes,
                level,
                paid,
                channel,
                community_attr,
                stage,
                tier,
            },
        )
}

// ---------------------------------------------------------------------------
// Building the engine's inputs
// ---------------------------------------------------------------------------

fn multiplier(bp: u32) -> Multiplier {
    Multiplier::from_basis_points(bp).unwrap()
}

fn condition(c: &Cond, anchor: DateTime<Utc>) -> Condition {
    let ops = |o: Op| match o {
        Op::Eq => "eq",
        Op::Ne => "ne",
        Op::Lt => "lt",
        Op::Le => "le",
        Op::Gt => "gt",
        Op::Ge => "ge",
    };
    let json = match c {
        Cond::Minutes(o, v) => {
            serde_json::json!({"type": "attr", "name": "minutes", "op": ops(*o), "value": v})
        }
        Cond::Level(eq, v) => serde_json::json!({"type": "attr", "name": "level",
            "op": if *eq { "eq" } else { "ne" }, "value": v}),
        Cond::Paid(v) => {
            serde_json::json!({"type": "attr", "name": "paid", "op": "eq", "value": v})
        }
        Cond::MinutesIn(vs) => {
            serde_json::json!({"type": "attr_in", "name": "minutes", "values": vs})
        }
        Cond::LevelIn(vs) => serde_json::json!({"type": "attr_in", "name": "level", "values": vs}),
        Cond::Channel(vs) => serde_json::json!({"type": "channel", "any_of": vs}),
        Cond::Community(vs) => serde_json::json!({"type": "community", "any_of": vs}),
        Cond::Campaign(start, end) => serde_json::json!({"type": "campaign",
            "start": start.map(|s| slot(anchor, s)), "end": end.map(|e| slot(anchor, e))}),
        Cond::Weekdays(ds) => serde_json::json!({"type": "weekdays",
            "any_of": ds.iter().map(|d| d.to_string()).collect::<Vec<_>>()}),
        Cond::Hours(from, to) => serde_json::json!({"type": "hours", "from": from, "to": to}),
        Cond::FirstTime => serde_json::json!({"type": "first_time"}),
        Cond::EveryNth(n) => serde_json::json!({"type": "every_nth", "n": n}),
        Cond::Stage(ss) => serde_json::json!({"type": "stage", "any_of": ss}),
        Cond::Tier(ts) => serde_json::json!({"type": "tier", "any_of": ts}),
    };
    // A campaign open at one end leaves it out rather than writing null.
    let json = match json {
        serde_json::Value::Object(mut m) => {
            m.retain(|_, v| !v.is_null());
            serde_json::Value::Object(m)
        }
        other => other,
    };
    serde_json::from_value(json.clone()).unwrap_or_else(|e| panic!("{json}: {e}"))
}

fn rule_name(i: usize) -> String {
    format!("r{i}")
}

fn spec(p: &ProgramGen, anchor: DateTime<Utc>) -> ProgramSpec {
    let rules = p
        .rules
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mut rule = RuleSpec::new(
                rule_name(i).as_str(),
                r.on.parse::<KindPattern>().unwrap(),
                r.reward,
            );
            rule.when = r.when.iter().map(|c| condition(c, anchor)).collect();
            rule.multiplier = r.multiplier.map(multiplier);
            rule.tier_multiplier = r.tier_multiplier;
            rule.multiplier_rounding = r.multiplier_rounding;
            [
                rule.daily_cap,
                rule.weekly_cap,
                rule.monthly_cap,
                rule.lifetime_cap,
            ] = r.caps;
            rule.cap_mode = r.cap_mode;
            rule.cooldown_seconds = r.cooldown;
            rule.global_cap_exempt = r.exempt;
            rule.priority = r.priority;
            rule.exclusive_group = r.group.map(Into::into);
            rule
        })
        .collect();
    let mut spec = ProgramSpec::new(rules);
    spec.global_daily_cap = p.global;
    // Events come up to ten days late: remembered that long, so only the
    // tallies kept decide what is too late.
    spec.dedupe.horizon_hours = 24 * 30;
    spec
}

fn event(id: u64, at: DateTime<Utc>, g: &EventGen) -> Event {
    let kind = match g.kind {
        0 => EventKind::Visited,
        1 => EventKind::ActionCompleted {
            action: "lesson".into(),
        },
        2 => EventKind::ActionCompleted {
            action: "quiz".into(),
        },
        3 => EventKind::Purchase {
            amount: Money::new(g.amount, if g.usd { usd() } else { cny() }),
        },
        _ => EventKind::CheckIn {
            community: g.community.map(CommunityId),
        },
    };
    let mut e = Event::new(EventId(id), UserId(1), at, kind);
    if let Some(v) = &g.minutes {
        e = e.with_attr("minutes", v.clone());
    }
    if let Some(v) = g.level {
        e = e.with_attr("level", v);
    }
    if let Some(v) = g.paid {
        e = e.with_attr("paid", v);
    }
    if let Some(v) = &g.channel {
        e = e.with_attr("channel", v.clone());
    }
    if let Some(v) = g.community_attr {
        e = e.with_attr("community", v);
    }
    e
}

fn context(g: &EventGen) -> EarnContext {
    let mut ctx = EarnContext::new();
    if let Some(stage) = g.stage {
        ctx = ctx.with_stage(stage);
    }
    if let Some((name, bp)) = g.tier {
        ctx = ctx.with_tier(name, multiplier(bp));
    }
    ctx
}

// ---------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------

/// One award the model made (points above zero only: an award of nothing
/// is no award for counts or cooldowns).
#[derive(Clone, Debug)]
struct Made {
    event: u64,
    rule: usize,
    at: DateTime<Utc>,
    points: u64,
    counted_global: bool,
    reversed: bool,
}

struct Model<'a, Tz: TimeZone> {
    p: &'a ProgramGen,
    zone: Tz,
    anchor: DateTime<Utc>,
    made: Vec<Made>,
    /// Per rule: events that met its conditions.
    matched: Vec<u64>,
    /// Per rule: its latest award's time (a reversal does not reopen it).
    last_award: Vec<Option<DateTime<Utc>>>,
}

/// `num / den` made whole by `r`.
fn divide(num: u128, den: u128, r: Rounding) -> u128 {
    let (q, rem) = (num / den, num % den);
    match r {
        Rounding::Down => q,
        Rounding::Up => q + u128::from(rem > 0),
        // Halves up.
        Rounding::Nearest => q + u128::from(2 * rem >= den),
    }
}

impl<Tz: TimeZone> Model<'_, Tz> {
    fn local(&self, at: DateTime<Utc>) -> chrono::NaiveDateTime {
        at.with_timezone(&self.zone).naive_local()
    }

    fn date(&self, at: DateTime<Utc>) -> NaiveDate {
        self.local(at).date()
    }

    fn same_period(&self, period: CapPeriod, a: DateTime<Utc>, b: DateTime<Utc>) -> bool {
        let (x, y) = (self.date(a), self.date(b));
        match period {
            CapPeriod::Daily | CapPeriod::GlobalDaily => x == y,
            CapPeriod::Weekly => x.iso_week() == y.iso_week(),
            CapPeriod::Monthly => (x.year(), x.month()) == (y.year(), y.month()),
            _ => true,
        }
    }

    /// Awards and points so far that a cap on `period` at `at` counts.
    fn used(&self, rule: Option<usize>, period: CapPeriod, at: DateTime<Utc>) -> (u32, u64) {
        let mut used = (0, 0);
        for m in &self.made {
            let mine = match rule {
                Some(r) => m.rule == r,
                None => m.counted_global,
            };
            if mine && !m.reversed && self.same_period(period, m.at, at) {
                used = (used.0 + 1, used.1 + m.points);
            }
        }
        used
    }

    /// Whether `c` holds, counting conditions aside.
    fn holds(&self, c: &Cond, e: &Event, ctx: &EarnContext) -> bool {
        let attr = |name: &str| e.attrs.get(name).cloned();
        let local = self.local(e.at);
        match c {
            Cond::Minutes(op, v) => match attr("minutes") {
                Some(AttrValue::Int(m)) => op.compares(m, *v),
                _ => false,
            },
            Cond::Level(eq, v) => match attr("level") {
                Some(AttrValue::Text(l)) => (l.as_str() == *v) == *eq,
                _ => false,
            },
            Cond::Paid(v) => attr("paid") == Some(AttrValue::Bool(*v)),
            Cond::MinutesIn(vs) => {
                matches!(attr("minutes"), Some(AttrValue::Int(m)) if vs.contains(&m))
            }
            Cond::LevelIn(vs) => {
                matches!(attr("level"), Some(AttrValue::Text(l)) if vs.contains(&l.as_str()))
            }
            Cond::Channel(vs) => {
                matches!(attr("channel"), Some(AttrValue::Text(c)) if vs.contains(&c.as_str()))
            }
            Cond::Community(vs) => {
                // The kind's community, else the int attribute `community`.
                let from_kind = match &e.kind {
                    EventKind::CheckIn { community } => *community,
                    _ => None,
                };
                let c = from_kind.map(|c| c.0).or(match attr("community") {
                    Some(AttrValue::Int(n)) if n >= 0 => Some(n as u64),
                    _ => None,
                });
                c.is_some_and(|c| vs.contains(&c))
            }
            Cond::Campaign(start, end) => {
                start.is_none_or(|s| e.at >= slot(self.anchor, s))
                    && end.is_none_or(|x| e.at < slot(self.anchor, x))
            }
            Cond::Weekdays(ds) => ds.contains(&local.weekday()),
            Cond::Hours(from, to) => {
                let h = local.hour() as u8;
                if from < to {
                    *from <= h && h < *to
                } else {
                    h >= *from || h < *to
                }
            }
            Cond::FirstTime | Cond::EveryNth(_) => true,
            Cond::Stage(ss) => ctx.stage.is_some_and(|s| ss.contains(&s)),
            Cond::Tier(ts) => ctx
                .tier
                .as_ref()
                .is_some_and(|t| ts.contains(&t.name.as_str())),
        }
    }

    fn triggers(on: &str, kind: &EventKind) -> bool {
        match on {
            "*" => true,
            "visited" => matches!(kind, EventKind::Visited),
            "action_completed" => matches!(kind, EventKind::ActionCompleted { .. }),
            "action_completed:lesson" => {
                matches!(kind, EventKind::ActionCompleted { action } if action.as_str() == "lesson")
            }
            "check_in" => matches!(kind, EventKind::CheckIn { .. }),
            "purchase" => matches!(kind, EventKind::Purchase { .. }),
            other => unreachable!("{other}"),
        }
    }

    /// What `e` earns, recorded in the model.
    /// Whether `e`'s local day is older than the daily tallies reach back:
    /// more than `DAILY_TALLY_DAYS` - 1 days behind the newest local day
    /// with an award of `rule` (or, for `None`, counted towards the global
    /// cap).
    fn too_old(&self, rule: Option<usize>, at: DateTime<Utc>) -> bool {
        let newest = self
            .made
            .iter()
            .filter(|m| rule.map_or(m.counted_global, |r| m.rule == r))
            .map(|m| self.date(m.at))
            .max();
        let reach = i64::from(growthkit::points::DAILY_TALLY_DAYS) - 1;
        newest.is_some_and(|n| self.date(at) < n - TimeDelta::days(reach))
    }

    /// What `e` earns, recorded in the model; `None` if it comes too late
    /// for the tallies a rule that matches it must be judged against
    /// (nothing is recorded then).
    fn apply(&mut self, e: &Event, ctx: &EarnContext) -> Option<Earned> {
        let before = (
            self.made.len(),
            self.matched.clone(),
            self.last_award.clone(),
        );
        let earned = self.evaluate(e, ctx);
        if earned.is_none() {
            self.made.truncate(before.0);
            (self.matched, self.last_award) = (before.1, before.2);
        }
        earned
    }

    fn evaluate(&mut self, e: &Event, ctx: &EarnContext) -> Option<Earned> {
        let mut order: Vec<usize> = (0..self.p.rules.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(self.p.rules[i].priority));
        let mut out = Earned::default();
        let mut winners: BTreeMap<&str, usize> = BTreeMap::new();
        for i in order {
            let r = &self.p.rules[i];
            let accepts = match (&r.reward, &e.kind) {
                (
                    Reward::PerAmount {
                        currency: Some(c), ..
                    },
                    EventKind::Purchase { amount },
                ) => amount.currency == *c,
                _ => true,
            };
            if !(Self::triggers(r.on, &e.kind)
                && accepts
                && r.when.iter().all(|c| self.holds(c, e, ctx)))
            {
                continue;
            }
            // A rule with a cap per day, week or month keeps daily tallies,
            // and judges no event older than they reach.
            if r.caps[..3].iter().any(Option::is_some) && self.too_old(Some(i), e.at) {
                return None;
            }
            let counting = r
                .when
                .iter()
                .any(|c| matches!(c, Cond::FirstTime | Cond::EveryNth(_)));
            if counting {
                self.matched[i] += 1;
                let n = self.matched[i];
                let holds = r.when.iter().all(|c| match c {
                    Cond::FirstTime => n == 1,
                    Cond::EveryNth(k) => n.is_multiple_of(u64::from(*k)),
                    _ => true,
                });
                if !holds {
                    continue;
                }
            }
            if let Some(g) = r.group {
                if let Some(&w) = winners.get(g) {
                    out.skipped.push(Skipped {
                        rule: rule_name(i).as_str().into(),
                        reason: SkipReason::Excluded {
                            group: g.into(),
                            by: rule_name(w).as_str().into(),
                        },
                    });
                    continue;
                }
                winners.insert(g, i);
            }
            let (base, per_amount) = match (r.reward, &e.kind) {
                (Reward::Fixed { points }, _) => (points, None),
                (
                    Reward::PerAmount {
                        points,
                        per_minor,
                        rounding,
                        ..
                    },
                    EventKind::Purchase { amount },
                ) => {
                    let base = if amount.minor <= 0 {
                        0
                    } else {
                        divide(
                            amount.minor as u128 * u128::from(points),
                            per_minor as u128,
                            rounding,
                        ) as u64
                    };
                    let calc = PerAmountCalc {
                        amount_minor: amount.minor,
                        points,
                        per_minor,
                        rounding,
                        currency: amount.currency,
                    };
                    (base, Some(calc))
                }
                _ => unreachable!("per-amount rules are on purchases"),
            };
            let tier = ctx
                .tier
                .as_ref()
                .filter(|_| r.tier_multiplier)
                .map(|t| t.multiplier);
            let own = r.multiplier.map(multiplier);
            let bp = |m: Option<Multiplier>| u128::from(m.map_or(10_000, |m| m.basis_points()));
            let multiplied = divide(
                u128::from(base) * bp(tier) * bp(own),
                10_000 * 10_000,
                r.multiplier_rounding,
            ) as u64;
            let mut points = multiplied;
            let mut capped = None;
            let mut cooling_down_until = None;
            let counts_global = self.p.global.is_some() && !r.exempt;
            if counts_global && self.too_old(None, e.at) {
                return None;
            }
            if multiplied > 0 {
                let cooling = r
                    .cooldown
                    .zip(self.last_award[i])
                    .map(|(cd, last)| last + TimeDelta::seconds(i64::from(cd)))
                    .filter(|until| e.at < *until);
                if let Some(until) = cooling {
                    points = 0;
                    cooling_down_until = Some(until);
                } else {
                    // Each cap's room; the deepest cut names the cap, the
                    // first of equals in the order day, week, month,
                    // lifetime, global.
                    let periods = [
                        CapPeriod::Daily,
                        CapPeriod::Weekly,
                        CapPeriod::Monthly,
                        CapPeriod::Lifetime,
                    ];
                    let mut caps: Vec<(CapPeriod, Cap, Option<usize>)> = periods
                        .iter()
                        .zip(r.caps)
                        .filter_map(|(p, c)| c.map(|c| (*p, c, Some(i))))
                        .collect();
                    if counts_global {
                        caps.push((CapPeriod::GlobalDaily, self.p.global.unwrap(), None));
                    }
                    let mut allowed = multiplied;
                    for (period, cap, whose) in caps {
                        let (count, used) = self.used(whose, period, e.at);
                        let room = if cap.count.is_some_and(|c| count >= c) {
                            0
                        } else {
                            cap.points.map_or(u64::MAX, |p| p.saturating_sub(used))
                        };
                        if room < allowed {
                            allowed = room;
                            capped = Some(CapHit {
                                period,
                                cap,
                                mode: r.cap_mode,
                            });
                        }
                    }
                    points = match (capped, r.cap_mode) {
                        (Some(_), CapMode::Reject) => 0,
                        _ => allowed,
                    };
                }
            }
            let counted_global = points > 0 && counts_global;
            if points > 0 {
                self.made.push(Made {
                    event: e.id.0,
                    rule: i,
                    at: e.at,
                    points,
                    counted_global,
                    reversed: false,
                });
                self.last_award[i] = Some(self.last_award[i].map_or(e.at, |l| l.max(e.at)));
            }
            out.total += points;
            out.awards.push(Award {
                rule: rule_name(i).as_str().into(),
                base,
                tier_multiplier: tier,
                rule_multiplier: own,
                multiplied,
                points,
                per_amount,
                capped,
                cooling_down_until,
                counted_global,
            });
        }
        Some(out)
    }

    /// Reverses every award of event `id`: it no longer uses cap room.
    fn reverse(&mut self, id: u64) {
        for m in &mut self.made {
            if m.event == id {
                m.reversed = true;
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The properties
// ---------------------------------------------------------------------------

/// Where event times start: a few hours before a local midnight that is
/// also a week's or a month's start, or a daylight-saving change.
fn beijing_anchors() -> Vec<DateTime<Utc>> {
    vec![
        utc(2026, 3, 6, 12),  // Fri 20:00; Saturday at 16:00 UTC
        utc(2026, 3, 8, 12),  // Sun 20:00; the week turns at 16:00 UTC
        utc(2026, 3, 31, 12), // Tue 20:00; April starts at 16:00 UTC
    ]
}

fn new_york_anchors() -> Vec<DateTime<Utc>> {
    vec![
        utc(2026, 3, 7, 23),   // Sat 18:00 EST; clocks spring forward Sunday 2:00
        utc(2026, 10, 31, 20), // Sat 16:00 EDT; November and a 25-hour Sunday
    ]
}

fn new_york() -> chrono_tz::Tz {
    chrono_tz::America::New_York
}

fn beijing() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).unwrap()
}

/// Applies every event to the engine and the model, comparing each result.
fn check_each<Tz: TimeZone>(
    zone: Tz,
    anchor: DateTime<Utc>,
    p: &ProgramGen,
    events: &[EventGen],
) -> Result<(), TestCaseError> {
    let program = spec(p, anchor)
        .validate_in(zone.clone())
        .map_err(|e| TestCaseError::fail(format!("generated program refused: {e}")))?;
    let mut model = Model {
        p,
        zone,
        anchor,
        made: Vec::new(),
        matched: vec![0; p.rules.len()],
        last_award: vec![None; p.rules.len()],
    };
    let mut ledger = Ledger::new();
    let mut latest = anchor;
    let mut previous: Option<Event> = None;
    for (n, g) in events.iter().enumerate() {
        if let Some(e) = previous.as_ref().filter(|_| g.again) {
            let again = program
                .apply(&mut ledger, e)
                .map_err(|err| TestCaseError::fail(format!("event {n} again: {err}")))?;
            prop_assert_eq!(
                again,
                Earned {
                    duplicate: true,
                    ..Earned::default()
                }
            );
        }
        latest = slot(latest, g.step);
        let at = latest - TimeDelta::seconds(SLOT * i64::from(g.late));
        let e = event(n as u64 + 1, at, g);
        let ctx = context(g);
        let got = program.apply_with(&mut ledger, &e, &ctx);
        let Some(want) = model.apply(&e, &ctx) else {
            prop_assert_eq!(got, Err(PointsError::TooLate { id: e.id }), "event {}", n);
            continue;
        };
        let got = got.map_err(|err| TestCaseError::fail(format!("event {n}: {err}")))?;
        prop_assert_eq!(got, want, "event {} at {}", n, at);
        previous = Some(e);
    }
    let total: u64 = model.made.iter().map(|m| m.points).sum();
    prop_assert_eq!(ledger.earned(), total);
    Ok(())
}

/// Each event's net points: its awards, less what reversals took back,
/// plus what they made up.
type Net = BTreeMap<u64, i128>;

/// Applies `events` with the reversal of event `reversed` (1-based id) right
/// after it (`at_once`) or after the last event, returning each event's
/// net points, checking each event against the model on the way when the
/// reversal comes at once.
fn run_with_reversal<Tz: TimeZone>(
    zone: Tz,
    anchor: DateTime<Utc>,
    p: &ProgramGen,
    events: &[(DateTime<Utc>, EventGen)],
    reversed: u64,
    at_once: bool,
) -> Result<Net, TestCaseError> {
    let program = spec(p, anchor).validate_in(zone.clone()).unwrap();
    let mut model = Model {
        p,
        zone,
        anchor,
        made: Vec::new(),
        matched: vec![0; p.rules.len()],
        last_award: vec![None; p.rules.len()],
    };
    let mut ledger = program.new_ledger();
    let mut net = Net::new();
    let reverse = |ledger: &mut Ledger, net: &mut Net, now| -> Result<(), TestCaseError> {
        let r = match program.reverse(
            ledger,
            "undo".into(),
            EventId(reversed),
            Portion::Whole {},
            now,
        ) {
            Ok(r) => r,
            // An event that awarded nothing has nothing to reverse.
            Err(PointsError::UnknownEarning { .. }) => return Ok(()),
            Err(err) => return Err(TestCaseError::fail(format!("reversal: {err}"))),
        };
        *net.entry(reversed).or_default() -= i128::from(r.points);
        for m in &r.made_up {
            *net.entry(m.source.0).or_default() += i128::from(m.points);
        }
        Ok(())
    };
    for (n, (at, g)) in events.iter().enumerate() {
        let id = n as u64 + 1;
        let e = event(id, *at, g);
        let ctx = context(g);
        let got = program
            .apply_with(&mut ledger, &e, &ctx)
            .map_err(|err| TestCaseError::fail(format!("event {n}: {err}")))?;
        let want = model.apply(&e, &ctx).unwrap();
        if at_once {
            prop_assert_eq!(&got, &want, "event {} at {}", n, at);
        }
        *net.entry(id).or_default() += i128::from(got.total);
        if at_once && id == reversed {
            reverse(&mut ledger, &mut net, *at)?;
            model.reverse(id);
        }
    }
    if !at_once {
        let last = events.last().map_or(anchor, |(at, _)| *at);
        reverse(&mut ledger, &mut net, last)?;
    }
    ledger
        .check()
        .map_err(|err| TestCaseError::fail(format!("ledger: {err}")))?;
    net.retain(|_, v| *v != 0);
    Ok(net)
}

fn steps() -> impl Strategy<Value = u32> {
    prop_oneof![25 => 0u32..3, 15 => 3u32..12, 5 => 44u32..52, 1 => 300u32..500]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// Every award of every event, explained, is the model's: in +08:00
    /// across a weekend, a week's start and a month's start.
    #[test]
    fn awards_are_the_model_s_in_beijing(
        anchor in select(beijing_anchors()),
        p in program_strategy(),
        events in vec(event_strategy(steps()), 1..24),
    ) {
        check_each(beijing(), anchor, &p, &events)?;
    }

    /// The same in New York, across both daylight-saving changes (the
    /// 23-hour day in March, the 25-hour one that starts November).
    #[test]
    fn awards_are_the_model_s_in_new_york(
        anchor in select(new_york_anchors()),
        p in program_strategy(),
        events in vec(event_strategy(steps()), 1..24),
    ) {
        check_each(new_york(), anchor, &p, &events)?;
    }
}

/// Local days to reverse inside: ordinary ones and both of New York's
/// daylight-saving days.
fn days() -> Vec<(bool, NaiveDate)> {
    let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
    vec![
        (false, d(2026, 3, 7)),
        (true, d(2026, 3, 8)),
        (true, d(2026, 11, 1)),
        (true, d(2026, 11, 2)),
    ]
}

/// Event times within `days` local days of `zone` from `day`: each slot
/// folded into their length (a day of 23, 24 or 25 hours), in time order.
fn day_times<Tz: TimeZone>(
    zone: &Tz,
    day: NaiveDate,
    days: u64,
    slots: &[u32],
) -> Vec<DateTime<Utc>> {
    let start = |d: NaiveDate| {
        zone.from_local_datetime(&d.and_hms_opt(0, 0, 0).unwrap())
            .earliest()
            .unwrap()
            .with_timezone(&Utc)
    };
    let (from, to) = (start(day), start(day + chrono::Days::new(days)));
    let len = ((to - from).num_seconds() / SLOT) as u32;
    let mut times: Vec<DateTime<Utc>> = slots.iter().map(|s| slot(from, s % len)).collect();
    times.sort();
    times
}

/// Trimming caps only, and no cooldowns (see `MadeUp` for why).
fn trimming(mut p: ProgramGen) -> ProgramGen {
    for r in &mut p.rules {
        r.cap_mode = CapMode::Trim;
        r.cooldown = None;
    }
    p
}

/// Caps on points only: where rules share a cap (the global one), an
/// award a count cap refused whole is made up from room that an award
/// made in full in the meantime may have taken, and that award is never
/// cut back (see `MadeUp`), so neither each award nor the total would be
/// the same both ways.
fn no_count_caps(mut p: ProgramGen) -> ProgramGen {
    let caps = p.rules.iter_mut().flat_map(|r| r.caps.iter_mut());
    for cap in caps.chain(std::iter::once(&mut p.global)) {
        *cap = cap
            .filter(|c| c.points.is_some())
            .map(|c| Cap { count: None, ..c });
    }
    p
}

/// `p` without its conditions if `plain`: more awards then meet caps and
/// are made up.
fn plained(mut p: ProgramGen, plain: bool) -> ProgramGen {
    if plain {
        for r in &mut p.rules {
            r.when.clear();
        }
    }
    p
}

/// [`reversal_case`] in New York or in +08:00.
fn reversal_in_zone(
    new_york_zone: bool,
    span: (NaiveDate, u64),
    p: ProgramGen,
    slots: &[u32],
    gens: &[EventGen],
    which: Index,
) -> Result<(), TestCaseError> {
    if new_york_zone {
        reversal_case(new_york(), span, &p, slots, gens, which)
    } else {
        reversal_case(beijing(), span, &p, slots, gens, which)
    }
}

fn reversal_case<Tz: TimeZone>(
    zone: Tz,
    (day, days): (NaiveDate, u64),
    p: &ProgramGen,
    slots: &[u32],
    gens: &[EventGen],
    which: Index,
) -> Result<(), TestCaseError> {
    let times = day_times(&zone, day, days, slots);
    let events: Vec<(DateTime<Utc>, EventGen)> =
        times.into_iter().zip(gens.iter().cloned()).collect();
    let anchor = events[0].0;
    let reversed = which.index(events.len()) as u64 + 1;
    let at_once = run_with_reversal(zone.clone(), anchor, p, &events, reversed, true)?;
    let at_end = run_with_reversal(zone, anchor, p, &events, reversed, false)?;
    prop_assert_eq!(at_once.get(&reversed), None);
    prop_assert_eq!(at_once, at_end, "reversing event {}", reversed);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(600))]

    /// Within one local day, each event nets the same whether the
    /// reversal of another comes at once or after the day's other events
    /// (their cap room then made up), and the awards are the model's with
    /// the reversed ones taken out of its list. Trimming caps, no
    /// cooldowns, and caps on points only beside a global cap: the make-up
    /// docs leave the rest out of that promise.
    #[test]
    fn a_reversal_inside_a_day_gives_what_its_order_would_not_change(
        (new_york_day, day) in select(days()),
        p in program_strategy().prop_map(trimming),
        plain in any::<bool>(),
        slots in vec(0u32..60, 2..14),
        gens in vec(event_strategy(Just(0u32)), 14),
        which in any::<Index>(),
    ) {
        let gens = &gens[..slots.len()];
        let p = if p.global.is_some() { no_count_caps(p) } else { p };
        reversal_in_zone(new_york_day, (day, 1), plained(p, plain), &slots, gens, which)?;
    }
}

/// The Mondays of weeks to reverse inside: an ordinary one in +08:00, and
/// New York's weeks of both daylight-saving changes (the November one also
/// turns a month: hence week and lifetime caps only).
fn mondays() -> Vec<(bool, NaiveDate)> {
    let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
    vec![
        (false, d(2026, 3, 9)),
        (true, d(2026, 3, 2)),
        (true, d(2026, 10, 26)),
    ]
}

/// Only the caps whose period is the whole of a week or more.
fn weekly(mut p: ProgramGen) -> ProgramGen {
    p = trimming(p);
    p.global = None;
    for r in &mut p.rules {
        r.caps[0] = None;
        r.caps[2] = None;
    }
    p
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// The same inside one local ISO week, for week and lifetime caps.
    #[test]
    fn a_reversal_inside_a_week_gives_what_its_order_would_not_change(
        (new_york_week, monday) in select(mondays()),
        p in program_strategy().prop_map(weekly),
        plain in any::<bool>(),
        slots in vec(0u32..400, 2..14),
        gens in vec(event_strategy(Just(0u32)), 14),
        which in any::<Index>(),
    ) {
        let gens = &gens[..slots.len()];
        reversal_in_zone(new_york_week, (monday, 7), plained(p, plain), &slots, gens, which)?;
    }
}
