//! Brute-force reference models of check-in streaks and badges, written
//! from their docs (`Streak`'s and `Badges`' rules, `Account`'s), compared
//! with the library on random sequences:
//!
//! 1. streaks directly through `StreakRules::check_in`, in +08:00 and in
//!    IANA zones across daylight-saving changes (America/New_York,
//!    Australia/Lord_Howe), with make-up allowances per local month,
//!    milestones (repeating ones too), same-day and late check-ins;
//! 2. badges directly through the `BadgeCatalog` steps, with levels,
//!    one-time badges, granted points and retractions;
//! 3. both through `Program::earn` and `Program::reverse_in` on accounts:
//!    bonus lots in the ledger, revoked levels' bonuses reversed, failed
//!    steps changing nothing, repeated ids and keys answered with the first
//!    result, JSON round trips mid-sequence continuing identically.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, TimeDelta, TimeZone, Utc};
use growthkit::EventKind;
use growthkit::points::{
    BadgeCatalog, BadgeCatalogSpec, BadgeOutcome, Badges, CheckInKind, CheckInOutcome, Streak,
    StreakRules, StreakSpec,
};
use proptest::collection::vec;
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

// ---------------------------------------------------------------------------
// Streak model
// ---------------------------------------------------------------------------

/// A milestone as the model reads it: (day, points, repeat_every).
type MilestoneM = (u32, u64, Option<u32>);

/// The streak model: every accepted check-in day, the make-ups used in
/// every month ever, and the streak's days.
#[derive(Clone, Debug, Default)]
struct StreakModel {
    milestones: Vec<MilestoneM>,
    per_month: Option<u32>,
    /// Every local day checked in (accepted).
    days: BTreeSet<NaiveDate>,
    /// The days of the current streak, checked in.
    streak_days: Vec<NaiveDate>,
    /// Milestone lengths paid in the current streak.
    paid: BTreeSet<(u32, u32)>,
    longest: u32,
    used: BTreeMap<(i32, u32), u32>,
}

#[derive(Debug, PartialEq, Eq)]
struct Expected {
    day: NaiveDate,
    kind: CheckInKind,
    length: u32,
    bridged: u32,
    make_ups_left: Option<u32>,
    milestones: Vec<(u32, u32, u64)>,
    points: u64,
}

fn month_of(d: NaiveDate) -> (i32, u32) {
    (d.year(), d.month())
}

impl StreakModel {
    fn left(&self, day: NaiveDate) -> Option<u32> {
        let allowance = self.per_month?;
        let used = self.used.get(&month_of(day)).copied().unwrap_or(0);
        Some(allowance.saturating_sub(used))
    }

    fn check_in(&mut self, day: NaiveDate) -> Expected {
        let last = self.days.iter().next_back().copied();
        let unchanged = |s: &Self, kind| Expected {
            day,
            kind,
            length: s.streak_days.len() as u32,
            bridged: 0,
            make_ups_left: s.left(day),
            milestones: vec![],
            points: 0,
        };
        let (kind, bridged) = match last {
            None => (CheckInKind::First, 0),
            Some(last) if last == day => return unchanged(self, CheckInKind::SameDay),
            Some(last) if day < last => {
                let last = growthkit::LocalDay::from_date(last);
                return unchanged(self, CheckInKind::Late { last });
            }
            Some(last) => {
                let missed: Vec<NaiveDate> =
                    last.iter_days().skip(1).take_while(|d| *d < day).collect();
                if missed.is_empty() {
                    (CheckInKind::Extended, 0)
                } else {
                    let mut per: BTreeMap<(i32, u32), u32> = BTreeMap::new();
                    for d in &missed {
                        *per.entry(month_of(*d)).or_default() += 1;
                    }
                    let fits = self.per_month.is_some_and(|allowance| {
                        per.iter()
                            .all(|(m, n)| self.used.get(m).copied().unwrap_or(0) + n <= allowance)
                    });
                    if fits {
                        for (m, n) in per {
                            *self.used.entry(m).or_default() += n;
                        }
                        (CheckInKind::Extended, missed.len() as u32)
                    } else {
                        let broken = self.streak_days.len() as u32;
                        let missed = missed.len() as u32;
                        (CheckInKind::Restarted { broken, missed }, 0)
                    }
                }
            }
        };
        if !matches!(kind, CheckInKind::Extended) {
            self.streak_days.clear();
            self.paid.clear();
        }
        self.streak_days.push(day);
        self.days.insert(day);
        let length = self.streak_days.len() as u32;
        self.longest = self.longest.max(length);
        let mut milestones = vec![];
        for &(mday, points, every) in &self.milestones {
            let hit = length == mday
                || every.is_some_and(|e| length > mday && (length - mday).is_multiple_of(e));
            if hit {
                // Once per streak.
                assert!(self.paid.insert((mday, length)), "paid twice");
                milestones.push((mday, length, points));
            }
        }
        let points = milestones.iter().map(|m| m.2).sum();
        Expected {
            day,
            kind,
            length,
            bridged,
            make_ups_left: self.left(day),
            milestones,
            points,
        }
    }
}

fn got(o: &CheckInOutcome) -> Expected {
    Expected {
        day: o.day.date(),
        kind: o.kind,
        length: o.length,
        bridged: o.bridged,
        make_ups_left: o.make_ups_left,
        milestones: o
            .milestones
            .iter()
            .map(|h| (h.milestone, h.length, h.points))
            .collect(),
        points: o.points,
    }
}

fn streak_spec(milestones: &[MilestoneM], per_month: Option<u32>) -> StreakRules {
    let ms: Vec<serde_json::Value> = milestones
        .iter()
        .map(|(d, p, e)| match e {
            Some(e) => serde_json::json!({ "day": d, "points": p, "repeat_every": e }),
            None => serde_json::json!({ "day": d, "points": p }),
        })
        .collect();
    let mut spec = serde_json::json!({ "milestones": ms });
    if let Some(n) = per_month {
        spec["make_up"] = serde_json::json!({ "per_month": n });
    }
    serde_json::from_value::<StreakSpec>(spec)
        .unwrap()
        .validate()
        .unwrap()
}

/// Milestones: increasing days, some repeating.
fn milestones() -> impl Strategy<Value = Vec<MilestoneM>> {
    vec((1u32..6, 1u64..100, prop::option::of(1u32..5)), 0..4).prop_map(|ms| {
        let mut day = 0;
        ms.into_iter()
            .map(|(step, p, e)| {
                day += step;
                (day, p, e)
            })
            .collect()
    })
}

/// Start instants near daylight-saving changes and month ends.
fn start() -> impl Strategy<Value = DateTime<Utc>> {
    prop::sample::select(vec![
        Utc.with_ymd_and_hms(2026, 2, 20, 3, 0, 0).unwrap(),
        Utc.with_ymd_and_hms(2026, 3, 3, 15, 0, 0).unwrap(), // NY spring forward 8 Mar
        Utc.with_ymd_and_hms(2026, 3, 29, 12, 30, 0).unwrap(), // Lord Howe 5 Apr
        Utc.with_ymd_and_hms(2026, 9, 28, 13, 45, 0).unwrap(), // Lord Howe 4 Oct
        Utc.with_ymd_and_hms(2026, 10, 27, 4, 0, 0).unwrap(), // NY fall back 1 Nov
        Utc.with_ymd_and_hms(2026, 12, 25, 16, 0, 0).unwrap(),
    ])
}

/// Steps between check-ins, in minutes: mostly about a day forward, some
/// same-day, some late, some gaps.
fn steps() -> impl Strategy<Value = Vec<i64>> {
    vec(
        prop_oneof![
            6 => 20 * 60i64..28 * 60,
            2 => 0i64..6 * 60,
            1 => -3 * 24 * 60i64..0,
            2 => 36 * 60i64..5 * 24 * 60,
            1 => 5 * 24 * 60i64..40 * 24 * 60,
        ],
        1..80,
    )
}

fn zone_case() -> impl Strategy<Value = u8> {
    0u8..3
}

fn run_streak<Z: TimeZone>(
    zone: &Z,
    rules: &StreakRules,
    model: &mut StreakModel,
    at0: DateTime<Utc>,
    steps: &[i64],
) -> Result<usize, TestCaseError> {
    let mut streak = Streak::new();
    let mut at = at0;
    let mut n = 0;
    let mut late_other_month = 0;
    for (i, step) in steps.iter().enumerate() {
        at += TimeDelta::minutes(*step);
        let day = at.with_timezone(zone).date_naive();
        let want = model.check_in(day);
        let before = streak.clone();
        let o = rules
            .check_in(&mut streak, at, zone)
            .map_err(|e| TestCaseError::fail(format!("{e}")))?;
        let mut want = want;
        if let CheckInKind::Late { last } = o.kind
            && month_of(last.date()) != month_of(day)
        {
            // A streak remembers the make-ups of the latest bridged month
            // only: a late check-in in an earlier month reads that month's
            // allowance as unused (see the report).
            want.make_ups_left = o.make_ups_left;
            late_other_month += 1;
        }
        prop_assert_eq!(&got(&o), &want, "step {} at {}", i, at);
        if matches!(o.kind, CheckInKind::SameDay | CheckInKind::Late { .. }) {
            prop_assert_eq!(&streak, &before);
        } else {
            prop_assert_eq!(streak.version(), before.version() + 1);
        }
        prop_assert_eq!(streak.current(), model.streak_days.len() as u32);
        prop_assert_eq!(streak.longest(), model.longest);
        prop_assert_eq!(streak.days_checked_in(), model.days.len() as u64);
        prop_assert_eq!(
            streak.started().map(|d| d.date()),
            model.streak_days.first().copied()
        );
        prop_assert_eq!(
            streak.last().map(|d| d.date()),
            model.days.iter().next_back().copied()
        );
        // The length as of the next few instants: the current length while
        // a check-in then could still extend it.
        for ahead in [0i64, 20, 26, 50, 75] {
            let now = at + TimeDelta::hours(ahead);
            let today = now.with_timezone(zone).date_naive();
            let mut probe = model.clone();
            let could = match probe.check_in(today).kind {
                CheckInKind::Extended | CheckInKind::SameDay | CheckInKind::Late { .. } => {
                    model.streak_days.len() as u32
                }
                _ => 0,
            };
            prop_assert_eq!(
                rules.length_on(&streak, now, zone),
                could,
                "length_on +{}h",
                ahead
            );
        }
        // JSON round trip.
        let json = serde_json::to_string(&streak).unwrap();
        let back: Streak = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(&back, &streak);
        n += 1;
    }
    let _ = late_other_month;
    Ok(n)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(600))]

    #[test]
    fn streaks_match_the_reference(
        ms in milestones(),
        per_month in prop::option::of(1u32..4),
        zone in zone_case(),
        at0 in start(),
        steps in steps(),
    ) {
        let rules = streak_spec(&ms, per_month);
        let mut model = StreakModel { milestones: ms, per_month, ..Default::default() };
        match zone {
            0 => run_streak(&FixedOffset::east_opt(8 * 3600).unwrap(), &rules, &mut model, at0, &steps)?,
            1 => run_streak(&chrono_tz::America::New_York, &rules, &mut model, at0, &steps)?,
            _ => run_streak(&chrono_tz::Australia::Lord_Howe, &rules, &mut model, at0, &steps)?,
        };
    }
}

// ---------------------------------------------------------------------------
// Badge model
// ---------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct BadgeM {
    name: String,
    /// 0: lessons, 1: check-ins, 2: points, 3: streak.
    counter: u8,
    /// (name, at, points)
    levels: Vec<(Option<String>, u64, u64)>,
}

#[derive(Clone, Debug, Default)]
struct BadgesModel {
    counts: BTreeMap<String, u64>,
    /// Levels held: (level, at, points).
    held: BTreeMap<String, Vec<(u32, DateTime<Utc>, u64)>>,
    changed: u64,
}

/// (badge, level, count, threshold, points) of a grant; plus reason and
/// earned_at for a revocation.
type GrantM = (String, u32, u64, u64, u64);
type RevokeM = (String, u32, u64, u64, u64, DateTime<Utc>, String);

fn catalog_of(badges: &[BadgeM]) -> BadgeCatalog {
    let bs: Vec<serde_json::Value> = badges
        .iter()
        .map(|b| {
            let counter = match b.counter {
                0 => serde_json::json!({ "type": "events", "on": "action_completed:lesson" }),
                1 => serde_json::json!({ "type": "events", "on": "check_in" }),
                2 => serde_json::json!({ "type": "points" }),
                _ => serde_json::json!({ "type": "streak" }),
            };
            let levels: Vec<serde_json::Value> = b
                .levels
                .iter()
                .map(|(n, at, p)| match n {
                    Some(n) => serde_json::json!({ "name": n, "at": at, "points": p }),
                    None => serde_json::json!({ "at": at, "points": p }),
                })
                .collect();
            serde_json::json!({ "name": b.name, "counter": counter, "levels": levels })
        })
        .collect();
    serde_json::from_value::<BadgeCatalogSpec>(serde_json::json!({ "badges": bs }))
        .unwrap()
        .validate()
        .unwrap()
}

fn badge_set() -> impl Strategy<Value = Vec<BadgeM>> {
    vec(
        (0u8..4, vec((1u64..6, 0u64..40), 1..4), any::<bool>()),
        1..5,
    )
    .prop_map(|bs| {
        bs.into_iter()
            .enumerate()
            .map(|(i, (counter, levels, named))| {
                let scale = if counter == 2 { 15 } else { 1 };
                let mut at = 0;
                let names = ["bronze", "silver", "gold"];
                let levels = levels
                    .into_iter()
                    .enumerate()
                    .map(|(j, (step, p))| {
                        at += step * scale;
                        (named.then(|| names[j].to_string()), at, p)
                    })
                    .collect();
                BadgeM {
                    name: format!("b{i}"),
                    counter,
                    levels,
                }
            })
            .collect()
    })
}

impl BadgesModel {
    /// Moves the counters of `badges` the step touches; the expected
    /// grants and revocations.
    fn step(
        &mut self,
        badges: &[BadgeM],
        at: DateTime<Utc>,
        reason: Option<&str>,
        next: impl Fn(&BadgeM, u64) -> Option<u64>,
    ) -> (Vec<GrantM>, Vec<RevokeM>) {
        let (mut grants, mut revokes) = (vec![], vec![]);
        let mut any = false;
        for b in badges {
            let count = self.counts.get(&b.name).copied().unwrap_or(0);
            let Some(new) = next(b, count) else { continue };
            if new == count {
                continue;
            }
            any = true;
            self.counts.insert(b.name.clone(), new);
            let held = self.held.entry(b.name.clone()).or_default();
            // Revoke from the top every level no longer met.
            while let Some(&(level, earned_at, points)) = held.last() {
                let threshold = b.levels[level as usize - 1].1;
                if new >= threshold {
                    break;
                }
                held.pop();
                revokes.push((
                    b.name.clone(),
                    level,
                    new,
                    threshold,
                    points,
                    earned_at,
                    reason.unwrap_or("?").to_string(),
                ));
            }
            // Grant in order every level now met.
            for (i, (_, threshold, points)) in b.levels.iter().enumerate() {
                let level = i as u32 + 1;
                if new >= *threshold && held.len() == i {
                    held.push((level, at, *points));
                    grants.push((b.name.clone(), level, new, *threshold, *points));
                }
            }
        }
        if any {
            self.changed += 1;
        }
        (grants, revokes)
    }
}

fn outcome_of(o: &BadgeOutcome) -> (Vec<GrantM>, Vec<RevokeM>) {
    (
        o.granted
            .iter()
            .map(|g| (g.badge.to_string(), g.level, g.count, g.threshold, g.points))
            .collect(),
        o.revoked
            .iter()
            .map(|r| {
                (
                    r.badge.to_string(),
                    r.level,
                    r.count,
                    r.threshold,
                    r.points,
                    r.earned_at,
                    r.reason.to_string(),
                )
            })
            .collect(),
    )
}

#[derive(Clone, Debug)]
enum BadgeOp {
    Lesson,
    CheckIn,
    Points(u64),
    Streak(u32),
    RetractLesson,
    RetractCheckIn,
    RetractPoints(u64),
}

fn badge_op() -> impl Strategy<Value = BadgeOp> {
    prop_oneof![
        3 => Just(BadgeOp::Lesson),
        2 => Just(BadgeOp::CheckIn),
        3 => (0u64..40).prop_map(BadgeOp::Points),
        2 => (0u32..12).prop_map(BadgeOp::Streak),
        2 => Just(BadgeOp::RetractLesson),
        1 => Just(BadgeOp::RetractCheckIn),
        2 => (0u64..60).prop_map(BadgeOp::RetractPoints),
    ]
}

fn lesson() -> EventKind {
    EventKind::ActionCompleted {
        action: "lesson".into(),
    }
}

fn check_in_kind() -> EventKind {
    EventKind::CheckIn { community: None }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(600))]

    #[test]
    fn badges_match_the_reference(bs in badge_set(), ops in vec(badge_op(), 1..60)) {
        let catalog = catalog_of(&bs);
        let mut badges = Badges::new();
        let mut model = BadgesModel::default();
        let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
        for (i, op) in ops.iter().enumerate() {
            let at = t0 + TimeDelta::hours(i as i64);
            let reason = format!("r{i}");
            let (o, want) = match op {
                BadgeOp::Lesson => (
                    catalog.record_event(&mut badges, &lesson(), at),
                    model.step(&bs, at, None, |b, c| (b.counter == 0).then(|| c + 1)),
                ),
                BadgeOp::CheckIn => (
                    catalog.record_event(&mut badges, &check_in_kind(), at),
                    model.step(&bs, at, None, |b, c| (b.counter == 1).then(|| c + 1)),
                ),
                BadgeOp::Points(p) => (
                    catalog.record_points(&mut badges, *p, at),
                    model.step(&bs, at, None, |b, c| (b.counter == 2).then(|| c + p)),
                ),
                BadgeOp::Streak(n) => (
                    catalog.record_streak(&mut badges, *n, at),
                    model.step(&bs, at, None, |b, c| (b.counter == 3).then(|| c.max(u64::from(*n)))),
                ),
                BadgeOp::RetractLesson => (
                    catalog.retract_event(&mut badges, &lesson(), at, reason.as_str()),
                    model.step(&bs, at, Some(&reason), |b, c| (b.counter == 0).then(|| c.saturating_sub(1))),
                ),
                BadgeOp::RetractCheckIn => (
                    catalog.retract_event(&mut badges, &check_in_kind(), at, reason.as_str()),
                    model.step(&bs, at, Some(&reason), |b, c| (b.counter == 1).then(|| c.saturating_sub(1))),
                ),
                BadgeOp::RetractPoints(p) => (
                    catalog.retract_points(&mut badges, *p, at, reason.as_str()),
                    model.step(&bs, at, Some(&reason), |b, c| (b.counter == 2).then(|| c.saturating_sub(*p))),
                ),
            };
            let o = o.map_err(|e| TestCaseError::fail(format!("{e}")))?;
            prop_assert_eq!(&outcome_of(&o), &want, "step {} {:?}", i, op);
            prop_assert_eq!(o.points, want.0.iter().map(|g| g.4).sum::<u64>());
            prop_assert_eq!(o.points_revoked, want.1.iter().map(|r| r.4).sum::<u64>());
            prop_assert_eq!(badges.version(), model.changed);
            for b in &bs {
                let held = model.held.get(&b.name).map_or(0, |h| h.len() as u32);
                prop_assert_eq!(badges.level(&b.name), held);
                let p = badges.progress(&b.name);
                prop_assert_eq!(p.map_or(0, |p| p.count), model.counts.get(&b.name).copied().unwrap_or(0));
                let earned: Vec<(u32, DateTime<Utc>, u64)> = p
                    .map(|p| p.earned.iter().map(|e| (e.level, e.at, e.points)).collect())
                    .unwrap_or_default();
                let want_held = model.held.get(&b.name).cloned().unwrap_or_default();
                prop_assert_eq!(&earned, &want_held);
            }
            // Streak badges are never revoked.
            prop_assert!(!o.revoked.iter().any(|r| bs.iter().any(|b| b.counter == 3 && b.name == r.badge.as_str())));
            let json = serde_json::to_string(&badges).unwrap();
            prop_assert_eq!(&serde_json::from_str::<Badges>(&json).unwrap(), &badges);
        }
    }
}

// ---------------------------------------------------------------------------
// Accounts: both models through `Program::earn` and `Program::reverse_in`
// ---------------------------------------------------------------------------

use growthkit::points::{Portion, Program, ProgramSpec};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// What the account runs exercised: steps, grants, revocations, bonus
/// reversals, made-up awards, milestones, bridged gaps.
static SEEN: [AtomicUsize; 7] = [const { AtomicUsize::new(0) }; 7];

fn seen(i: usize, n: usize) {
    SEEN[i].fetch_add(n, Relaxed);
}
use growthkit::{Event, EventId, Money, UserId};

const MEMBER: UserId = UserId(3);

fn account_program<Z: TimeZone>(
    zone: Z,
    expiry: Option<u32>,
    ms: &[MilestoneM],
    per_month: Option<u32>,
    bs: &[BadgeM],
    clawback: &str,
) -> Program<Z> {
    let streak = serde_json::to_value(streak_spec(ms, per_month).spec()).unwrap();
    let badges = serde_json::to_value(catalog_of(bs).spec()).unwrap();
    let expiry = match expiry {
        None => serde_json::json!({ "type": "never" }),
        Some(days) => serde_json::json!({ "type": "after_days", "days": days }),
    };
    let spec = serde_json::json!({
        "expiry": expiry,
        "ledger": { "clawback": clawback, "statement_entries": 10000 },
        "rules": [
            { "name": "lesson", "on": "action_completed:lesson",
              "reward": { "type": "fixed", "points": 10 }, "daily_cap": { "points": 25 } },
            { "name": "check_in", "on": "check_in", "reward": { "type": "fixed", "points": 5 },
              "daily_cap": { "count": 1 } },
            { "name": "purchase", "on": "purchase",
              "reward": { "type": "per_amount", "points": 1, "per_minor": 100, "rounding": "down" } }
        ],
        "streak": streak,
        "badges": badges,
    });
    serde_json::from_value::<ProgramSpec>(spec)
        .unwrap()
        .validate_in(zone)
        .unwrap()
}

#[derive(Clone, Debug)]
enum AccOp {
    CheckIn,
    Lesson,
    Purchase(i64),
    /// A check-in or lesson delivered late: its instant this many minutes
    /// before the step's.
    LateEvent(bool, i64),
    Redeem(u64),
    /// Reverse the n-th event (modulo), wholly or a share.
    Reverse(usize, Option<(u64, u64)>),
    /// Hold points, then capture or release the hold at the next such step.
    Hold(u64),
    Close(bool),
    /// Repeat the n-th reversal's key (modulo).
    RepeatReversal(usize),
    /// Deliver the n-th event again.
    Repeat(usize),
    /// Save and load the account.
    Reload,
}

fn acc_op() -> impl Strategy<Value = (i64, AccOp)> {
    let op = prop_oneof![
        4 => Just(AccOp::CheckIn),
        3 => Just(AccOp::Lesson),
        1 => (0i64..300).prop_map(AccOp::Purchase),
        1 => (any::<bool>(), 1i64..4 * 24 * 60).prop_map(|(c, m)| AccOp::LateEvent(c, m)),
        1 => (1u64..100).prop_map(AccOp::Redeem),
        3 => (any::<usize>(), prop_oneof![2 => Just(None), 1 => (1u64..4, 2u64..5).prop_map(|(n, d)| Some((n.min(d), d)))])
            .prop_map(|(i, s)| AccOp::Reverse(i, s)),
        1 => (1u64..60).prop_map(AccOp::Hold),
        1 => any::<bool>().prop_map(AccOp::Close),
        1 => any::<usize>().prop_map(AccOp::RepeatReversal),
        1 => any::<usize>().prop_map(AccOp::Repeat),
        1 => Just(AccOp::Reload),
    ];
    (
        prop_oneof![3 => 0i64..300, 4 => 20 * 60i64..28 * 60, 1 => 36 * 60i64..5 * 24 * 60],
        op,
    )
}

fn level_rule(b: &BadgeM, level: u32) -> String {
    match &b.levels[level as usize - 1].0 {
        Some(name) => format!("badge {} {name}", b.name),
        None => format!("badge {} level {level}", b.name),
    }
}

/// Runs `ops` on an account and the models side by side; the number of
/// steps compared.
fn run_account<Z: TimeZone>(
    p: &Program<Z>,
    ms: &[MilestoneM],
    per_month: Option<u32>,
    bs: &[BadgeM],
    ops: &[(i64, AccOp)],
) -> Result<usize, TestCaseError> {
    let zone = p.zone().clone();
    let t0 = Utc.with_ymd_and_hms(2026, 2, 26, 14, 0, 0).unwrap();
    let mut a = p.open_account(MEMBER, t0);
    let mut now = t0;
    let mut streak = StreakModel {
        milestones: ms.to_vec(),
        per_month,
        ..Default::default()
    };
    let mut badges = BadgesModel::default();
    let mut events: Vec<Event> = vec![];
    // Events wholly reversed.
    let mut reversed: BTreeSet<EventId> = BTreeSet::new();
    // Every reversal key used, with its first result.
    let mut keys: Vec<(String, EventId, String, Portion)> = vec![];
    // Bonus lots credited: (rule, points).
    let mut bonus_lots: Vec<(String, u64)> = vec![];
    // Badge levels holding a bonus lot, with the lot's id.
    let mut held_lots: BTreeMap<(String, u32), EventId> = BTreeMap::new();
    let mut compared = 0;
    let mut holds: Vec<String> = vec![];
    // What reversals left of each event, as a fraction of the whole.
    let mut left: BTreeMap<EventId, (u128, u128)> = BTreeMap::new();
    for (step, (minutes, op)) in ops.iter().enumerate() {
        now += TimeDelta::minutes(*minutes);
        let before = serde_json::to_string(&a).unwrap();
        match op {
            AccOp::Reload => {
                a = serde_json::from_str(&before).unwrap();
                prop_assert_eq!(serde_json::to_string(&a).unwrap(), before);
                continue;
            }
            AccOp::Redeem(points) => {
                let _ = a.redeem(format!("order-{step}").into(), *points, now);
                continue;
            }
            AccOp::Hold(points) => {
                let key = format!("hold-{step}");
                if a.ledger_step(|l| l.hold(key.clone().into(), *points, now))
                    .is_ok()
                {
                    holds.push(key);
                }
                continue;
            }
            AccOp::Close(capture) => {
                if let Some(key) = holds.pop() {
                    let key: growthkit::points::OperationKey = key.into();
                    let r = if *capture {
                        a.ledger_step(|l| {
                            l.capture(key, now).map(|r| r.to_redemption()).map(|_| ())
                        })
                    } else {
                        a.ledger_step(|l| l.release(key, now).map(|_| ()))
                    };
                    r.map_err(|e| TestCaseError::fail(format!("close: {e}")))?;
                }
                continue;
            }
            AccOp::Repeat(i) => {
                if events.is_empty() {
                    continue;
                }
                let e = events[i % events.len()].clone();
                let out = p.earn(&mut a, &e, None);
                if let Ok(out) = &out {
                    prop_assert!(out.earned.duplicate);
                    prop_assert!(out.bonuses.is_empty() && out.badges == BadgeOutcome::default());
                }
                prop_assert_eq!(serde_json::to_string(&a).unwrap(), before);
                continue;
            }
            AccOp::RepeatReversal(i) => {
                if keys.is_empty() {
                    continue;
                }
                let (key, source, first, portion) = keys[i % keys.len()].clone();
                let again = p
                    .reverse_in(&mut a, key.into(), source, portion, now)
                    .map_err(|e| TestCaseError::fail(format!("repeat: {e}")))?;
                prop_assert!(again.repeated);
                let mut first: growthkit::points::AccountReversal =
                    serde_json::from_str(&first).unwrap();
                first.repeated = true;
                first.reversal.repeated = true;
                prop_assert_eq!(&again, &first);
                prop_assert_eq!(serde_json::to_string(&a).unwrap(), before);
                continue;
            }
            AccOp::CheckIn | AccOp::Lesson | AccOp::Purchase(_) | AccOp::LateEvent(..) => {
                let mut now = now;
                let kind = match op {
                    AccOp::CheckIn => check_in_kind(),
                    AccOp::Lesson => lesson(),
                    AccOp::LateEvent(c, back) => {
                        now -= TimeDelta::minutes(*back);
                        if *c { check_in_kind() } else { lesson() }
                    }
                    AccOp::Purchase(yuan) => EventKind::Purchase {
                        amount: Money::new(yuan * 100, "CNY".parse().unwrap()),
                    },
                    _ => unreachable!(),
                };
                let e = Event::new(EventId(events.len() as u64 + 1), MEMBER, now, kind.clone());
                events.push(e.clone());
                let statement_before = a.ledger().statement().len();
                let out = match p.earn(&mut a, &e, None) {
                    Ok(out) => out,
                    Err(err) => {
                        prop_assert!(matches!(op, AccOp::LateEvent(..)), "earn: {}", err);
                        prop_assert_eq!(serde_json::to_string(&a).unwrap(), before);
                        continue;
                    }
                };
                let written = a.ledger().statement().len() - statement_before;
                prop_assert_eq!(written, out.entries.len(), "step {}", step);
                {
                    let tail: Vec<String> = a
                        .ledger()
                        .statement()
                        .rev()
                        .take(written)
                        .rev()
                        .map(|e| e.to_string())
                        .collect();
                    let entries: Vec<String> = out.entries.iter().map(|e| e.to_string()).collect();
                    prop_assert_eq!(&tail, &entries, "step {}", step);
                }
                // Streak.
                let mut want_bonuses: Vec<(String, u64)> = vec![];
                let mut length = None;
                if matches!(kind, EventKind::CheckIn { .. }) {
                    let want = streak.check_in(now.with_timezone(&zone).date_naive());
                    let o = out
                        .check_in
                        .as_ref()
                        .ok_or_else(|| TestCaseError::fail("no check-in"))?;
                    let mut want = want;
                    if let CheckInKind::Late { .. } = o.kind {
                        want.make_ups_left = o.make_ups_left;
                    }
                    prop_assert_eq!(&got(o), &want, "step {}", step);
                    for (_, len, points) in &want.milestones {
                        want_bonuses.push((format!("streak day {len}"), *points));
                    }
                    if !matches!(want.kind, CheckInKind::SameDay | CheckInKind::Late { .. }) {
                        length = Some(want.length);
                    }
                } else {
                    prop_assert!(out.check_in.is_none());
                }
                // Badges: events, rule points, streak.
                let mut want_badges = (vec![], vec![]);
                let counter = match kind {
                    EventKind::ActionCompleted { .. } => Some(0),
                    EventKind::CheckIn { .. } => Some(1),
                    _ => None,
                };
                let g = badges.step(bs, now, None, |b, c| {
                    (Some(b.counter) == counter).then(|| c + 1)
                });
                want_badges.0.extend(g.0);
                let earned = out.earned.total;
                if earned > 0 {
                    let g = badges.step(bs, now, None, |b, c| (b.counter == 2).then(|| c + earned));
                    want_badges.0.extend(g.0);
                }
                if let Some(n) = length {
                    let g = badges.step(bs, now, None, |b, c| {
                        (b.counter == 3).then(|| c.max(u64::from(n)))
                    });
                    want_badges.0.extend(g.0);
                }
                prop_assert_eq!(&outcome_of(&out.badges), &want_badges, "step {}", step);
                for g in &want_badges.0 {
                    if g.4 > 0 {
                        let b = bs.iter().find(|b| b.name == g.0).unwrap();
                        want_bonuses.push((level_rule(b, g.1), g.4));
                    }
                }
                let got_bonuses: Vec<(String, u64)> = out
                    .bonuses
                    .iter()
                    .map(|b| (b.rule.to_string(), b.points))
                    .collect();
                prop_assert_eq!(&got_bonuses, &want_bonuses, "step {}", step);
                prop_assert_eq!(
                    out.bonus_total,
                    want_bonuses.iter().map(|b| b.1).sum::<u64>()
                );
                // Each bonus is a lot of its own in the ledger, and on the
                // statement as `+P rule (event#N)`.
                let fresh: Vec<(String, u64)> = a
                    .ledger()
                    .earnings()
                    .rev()
                    .take(want_bonuses.len())
                    .rev()
                    .map(|e| (e.rule.to_string(), e.points))
                    .collect();
                prop_assert_eq!(&fresh, &want_bonuses);
                let ids: Vec<EventId> = a
                    .ledger()
                    .earnings()
                    .rev()
                    .take(want_bonuses.len())
                    .rev()
                    .map(|e| e.source)
                    .collect();
                for ((rule, points), id) in want_bonuses.iter().zip(&ids) {
                    let shown = format!("+{points} {rule} ({})", e.id);
                    prop_assert!(
                        a.ledger()
                            .statement()
                            .any(|s| s.to_string().ends_with(&shown)),
                        "{} not on the statement",
                        shown
                    );
                    if let Some(level) = rule.strip_prefix("badge ") {
                        let g = want_badges
                            .0
                            .iter()
                            .find(|g| {
                                let b = bs.iter().find(|b| b.name == g.0).unwrap();
                                level_rule(b, g.1) == format!("badge {level}")
                            })
                            .unwrap();
                        held_lots.insert((g.0.clone(), g.1), *id);
                    }
                    bonus_lots.push((rule.clone(), *points));
                }
                prop_assert_eq!(out.bonus_reversals.len(), 0);
                seen(1, want_badges.0.len());
                if let Some(o) = &out.check_in {
                    seen(5, o.milestones.len());
                    seen(6, usize::from(o.bridged > 0));
                }
            }
            AccOp::Reverse(i, share) => {
                if events.is_empty() {
                    continue;
                }
                let source = events[i % events.len()].id;
                let kind = events[i % events.len()].kind.clone();
                let key = format!("refund-{step}");
                let portion = match share {
                    None => Portion::Whole {},
                    Some((numerator, denominator)) => Portion::Share {
                        numerator: *numerator,
                        denominator: *denominator,
                    },
                };
                let statement_before = a.ledger().statement().len();
                let result = p.reverse_in(&mut a, key.clone().into(), source, portion, now);
                let r = match result {
                    Ok(r) => r,
                    Err(_) => {
                        // Unknown or already reversed: nothing changes.
                        prop_assert_eq!(serde_json::to_string(&a).unwrap(), before);
                        continue;
                    }
                };
                prop_assert!(!r.repeated);
                prop_assert!(!reversed.contains(&source), "reversed twice");
                let (ln, ld) = left.get(&source).copied().unwrap_or((1, 1));
                let (ln, ld) = match share {
                    None => (0, 1),
                    // ln/ld - n/d, at least 0.
                    Some((n, d)) => {
                        let (n, d) = (u128::from(*n), u128::from(*d));
                        let (a_, b_) = (ln * d, n * ld);
                        (a_.saturating_sub(b_), ld * d)
                    }
                };
                left.insert(source, (ln, ld));
                let whole = ln == 0;
                if whole {
                    reversed.insert(source);
                }
                keys.push((
                    key.clone(),
                    source,
                    serde_json::to_string(&r).unwrap(),
                    portion,
                ));
                // The entries it wrote are the statement's newest.
                let written = a.ledger().statement().len() - statement_before;
                let tail: Vec<String> = a
                    .ledger()
                    .statement()
                    .rev()
                    .take(r.entries.len())
                    .rev()
                    .map(|e| e.to_string())
                    .collect();
                let entries: Vec<String> = r.entries.iter().map(|e| e.to_string()).collect();
                prop_assert_eq!(written, r.entries.len(), "step {}", step);
                {
                    prop_assert_eq!(&tail, &entries, "step {}", step);
                }
                let reason = format!("{key} reversed {source}");
                let mut want_badges: (Vec<GrantM>, Vec<RevokeM>) = (vec![], vec![]);
                let points = r.reversal.points;
                if points > 0 {
                    let s = badges.step(bs, now, Some(&reason), |b, c| {
                        (b.counter == 2).then(|| c.saturating_sub(points))
                    });
                    want_badges.0.extend(s.0);
                    want_badges.1.extend(s.1);
                }
                for m in &r.reversal.made_up {
                    let s = badges.step(bs, r.reversal.at, None, |b, c| {
                        (b.counter == 2).then(|| c + m.points)
                    });
                    want_badges.0.extend(s.0);
                    want_badges.1.extend(s.1);
                }
                let counter = match kind {
                    EventKind::ActionCompleted { .. } => Some(0),
                    EventKind::CheckIn { .. } => Some(1),
                    _ => None,
                };
                if whole {
                    let s = badges.step(bs, now, Some(&reason), |b, c| {
                        (Some(b.counter) == counter).then(|| c.saturating_sub(1))
                    });
                    want_badges.0.extend(s.0);
                    want_badges.1.extend(s.1);
                }
                prop_assert_eq!(&outcome_of(&r.badges), &want_badges, "step {}", step);
                // Revoked levels' bonuses are reversed, in order.
                let want_back: Vec<(EventId, u64)> = want_badges
                    .1
                    .iter()
                    .filter(|v| v.4 > 0)
                    .filter_map(|v| held_lots.remove(&(v.0.clone(), v.1)).map(|id| (id, v.4)))
                    .collect();
                let got_back: Vec<(EventId, u64)> = r
                    .bonus_reversals
                    .iter()
                    .map(|b| (b.source, b.points))
                    .collect();
                prop_assert_eq!(&got_back, &want_back, "step {}", step);
                seen(2, want_badges.1.len());
                seen(3, want_back.len());
                seen(4, r.reversal.made_up.len());
                for (id, points) in &want_back {
                    let e = a.ledger().earnings().find(|e| e.source == *id).unwrap();
                    prop_assert_eq!(e.reversed, *points, "bonus {} reversed", id);
                }
                // Levels the made-up points reached get their bonuses.
                let want_bonuses: Vec<(String, u64)> = want_badges
                    .0
                    .iter()
                    .filter(|g| g.4 > 0)
                    .map(|g| {
                        (
                            level_rule(bs.iter().find(|b| b.name == g.0).unwrap(), g.1),
                            g.4,
                        )
                    })
                    .collect();
                let got_bonuses: Vec<(String, u64)> = r
                    .bonuses
                    .iter()
                    .map(|b| (b.rule.to_string(), b.points))
                    .collect();
                prop_assert_eq!(&got_bonuses, &want_bonuses);
                for g in want_badges.0.iter().filter(|g| g.4 > 0) {
                    let b = bs.iter().find(|b| b.name == g.0).unwrap();
                    let rule = level_rule(b, g.1);
                    let id = a
                        .ledger()
                        .earnings()
                        .rev()
                        .find(|e| e.rule.as_str() == rule)
                        .unwrap()
                        .source;
                    held_lots.insert((g.0.clone(), g.1), id);
                }
            }
        }
        // The account's streak and badges are the models'.
        let s = a.streak();
        prop_assert_eq!(s.current(), streak.streak_days.len() as u32);
        prop_assert_eq!(s.longest(), streak.longest);
        prop_assert_eq!(s.days_checked_in(), streak.days.len() as u64);
        for b in bs {
            let want = badges.held.get(&b.name).map_or(0, |h| h.len() as u32);
            prop_assert_eq!(
                a.badges().level(&b.name),
                want,
                "step {} badge {}",
                step,
                b.name
            );
            prop_assert_eq!(
                a.badges().progress(&b.name).map_or(0, |p| p.count),
                badges.counts.get(&b.name).copied().unwrap_or(0)
            );
        }
        prop_assert_eq!(a.ledger().check(), Ok(()));
        compared += 1;
        seen(0, 1);
    }
    Ok(compared)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn accounts_match_the_reference(
        ms in milestones(),
        per_month in prop::option::of(1u32..4),
        bs in badge_set(),
        zone in zone_case(),
        clawback in prop::sample::select(vec!["clamp", "debt", "negative_balance"]),
        expiry in prop::option::of(1u32..6),
        ops in vec(acc_op(), 1..60),
    ) {
        match zone {
            0 => {
                let p = account_program(FixedOffset::east_opt(8 * 3600).unwrap(), expiry, &ms, per_month, &bs, clawback);
                run_account(&p, &ms, per_month, &bs, &ops)?;
            }
            1 => {
                let p = account_program(chrono_tz::America::New_York, expiry, &ms, per_month, &bs, clawback);
                run_account(&p, &ms, per_month, &bs, &ops)?;
            }
            _ => {
                let p = account_program(chrono_tz::Australia::Lord_Howe, expiry, &ms, per_month, &bs, clawback);
                run_account(&p, &ms, per_month, &bs, &ops)?;
            }
        }
        let n: Vec<usize> = SEEN.iter().map(|s| s.load(Relaxed)).collect();
        eprintln!("steps, grants, revocations, bonus reversals, made up, milestones, bridged: {n:?}");
    }
}

// ---------------------------------------------------------------------------
// Values near the top of the range: typed errors, nothing changed
// ---------------------------------------------------------------------------

fn one_badge_program(level_points: u64, milestone_points: u64) -> Program {
    let spec = serde_json::json!({
        "utc_offset": "+08:00",
        "ledger": { "clawback": "debt" },
        "rules": [
            { "name": "lesson", "on": "action_completed:lesson", "reward": { "type": "fixed", "points": 10 } },
            { "name": "check_in", "on": "check_in", "reward": { "type": "fixed", "points": 5 } }
        ],
        "streak": { "milestones": [ { "day": 1, "points": milestone_points } ] },
        "badges": { "badges": [
            { "name": "scholar", "counter": { "type": "events", "on": "action_completed:lesson" },
              "levels": [ { "at": 1, "points": level_points } ] },
            { "name": "earner", "counter": { "type": "points" },
              "levels": [ { "at": 10, "points": level_points } ] }
        ] }
    });
    serde_json::from_value::<ProgramSpec>(spec)
        .unwrap()
        .validate()
        .unwrap()
}

fn at(hours: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 1, 0, 0).unwrap() + TimeDelta::hours(hours)
}

#[test]
fn badge_sums_near_the_top_are_refused_whole() {
    let bs = vec![
        BadgeM {
            name: "a".into(),
            counter: 0,
            levels: vec![(None, 1, u64::MAX)],
        },
        BadgeM {
            name: "b".into(),
            counter: 0,
            levels: vec![(None, 1, 1)],
        },
        BadgeM {
            name: "c".into(),
            counter: 2,
            levels: vec![(None, u64::MAX, 1)],
        },
    ];
    let catalog = catalog_of(&bs);
    let mut badges = Badges::new();
    let err = catalog.record_event(&mut badges, &lesson(), at(0));
    assert!(err.is_err(), "{err:?}");
    assert_eq!(badges, Badges::new());
    catalog.record_points(&mut badges, u64::MAX, at(0)).unwrap();
    let before = badges.clone();
    assert!(catalog.record_points(&mut badges, 1, at(1)).is_err());
    assert_eq!(badges, before);
    // Retractions stop at zero.
    let o = catalog
        .retract_points(&mut badges, u64::MAX, at(2), "r")
        .unwrap();
    assert_eq!(o.revoked.len(), 1);
    assert_eq!(badges.progress("c").map(|p| p.count), Some(0));
    let o = catalog.retract_points(&mut badges, 1, at(3), "r").unwrap();
    assert_eq!(o, BadgeOutcome::default());
}

#[test]
fn a_streak_at_the_top_is_refused_whole() {
    let rules = streak_spec(&[(1, u64::MAX, Some(1)), (2, 1, None)], None);
    let mut streak = Streak::new();
    let zone = FixedOffset::east_opt(8 * 3600).unwrap();
    rules.check_in(&mut streak, at(0), &zone).unwrap();
    // Day 2 reaches both milestones: their sum overflows.
    let before = streak.clone();
    assert!(rules.check_in(&mut streak, at(24), &zone).is_err());
    assert_eq!(streak, before);
    // A streak of u32::MAX days cannot be extended, nor a version u64::MAX bumped.
    let mut json = serde_json::to_value(&streak).unwrap();
    json["current"] = u32::MAX.into();
    let mut full: Streak = serde_json::from_value(json.clone()).unwrap();
    let rules = streak_spec(&[], None);
    let before = full.clone();
    assert!(rules.check_in(&mut full, at(24), &zone).is_err());
    assert_eq!(full, before);
    json["current"] = 1.into();
    json["version"] = u64::MAX.into();
    let mut old: Streak = serde_json::from_value(json).unwrap();
    let before = old.clone();
    assert!(rules.check_in(&mut old, at(24), &zone).is_err());
    assert_eq!(old, before);
}

#[test]
fn account_bonuses_near_the_top_are_refused_whole() {
    // A level worth u64::MAX on top of the lesson's 10 points.
    let p = one_badge_program(u64::MAX, 1);
    let mut a = p.open_account(MEMBER, at(0));
    let before = serde_json::to_string(&a).unwrap();
    let lesson = Event::new(EventId(1), MEMBER, at(0), lesson());
    assert!(p.earn(&mut a, &lesson, None).is_err());
    assert_eq!(serde_json::to_string(&a).unwrap(), before);
    // A milestone worth u64::MAX on top of the check-in's 5 points.
    let p = one_badge_program(1, u64::MAX);
    let mut a = p.open_account(MEMBER, at(0));
    let check_in = Event::new(EventId(1), MEMBER, at(0), check_in_kind());
    assert!(p.earn(&mut a, &check_in, None).is_err());
    assert_eq!(serde_json::to_string(&a).unwrap(), before);
    // An account at the top version refuses every step.
    let p = one_badge_program(3, 1);
    let mut a = p.open_account(MEMBER, at(0));
    p.earn(&mut a, &lesson, None).unwrap();
    let mut json = serde_json::to_value(&a).unwrap();
    json["version"] = u64::MAX.into();
    let mut a: growthkit::points::Account = serde_json::from_value(json).unwrap();
    let before = serde_json::to_string(&a).unwrap();
    let second = Event::new(EventId(2), MEMBER, at(1), lesson.kind.clone());
    assert!(p.earn(&mut a, &second, None).is_err());
    assert!(
        p.reverse_in(&mut a, "k".into(), EventId(1), Portion::Whole {}, at(2))
            .is_err()
    );
    assert_eq!(serde_json::to_string(&a).unwrap(), before);
}

#[test]
fn event_ids_at_the_top_of_the_range_and_bonus_ids() {
    let p = one_badge_program(7, 1);
    let mut a = p.open_account(MEMBER, at(0));
    // An event whose id is u64::MAX: its bonus takes the next id down.
    let top = Event::new(EventId(u64::MAX), MEMBER, at(0), lesson());
    let out = p.earn(&mut a, &top, None).unwrap();
    assert_eq!(out.bonus_total, 14);
    let bonus_ids: Vec<EventId> = a
        .ledger()
        .earnings()
        .filter(|e| e.rule.as_str().starts_with("badge "))
        .map(|e| e.source)
        .collect();
    assert_eq!(bonus_ids, [EventId(u64::MAX - 1), EventId(u64::MAX - 2)]);
    // A bonus id names no event.
    let clash = Event::new(EventId(u64::MAX - 1), MEMBER, at(1), lesson());
    let before = serde_json::to_string(&a).unwrap();
    assert!(p.earn(&mut a, &clash, None).is_err());
    assert!(
        p.reverse_in(
            &mut a,
            "k".into(),
            EventId(u64::MAX - 1),
            Portion::Whole {},
            at(2)
        )
        .is_err()
    );
    assert_eq!(serde_json::to_string(&a).unwrap(), before);
    // The event is reversed with its badges' bonuses.
    let r = p
        .reverse_in(
            &mut a,
            "undo".into(),
            EventId(u64::MAX),
            Portion::Whole {},
            at(2),
        )
        .unwrap();
    assert_eq!(r.badges.revoked.len(), 2);
    assert_eq!(r.bonus_reversals.len(), 2);
    assert_eq!(a.ledger().balance(at(2)), 0);
}

// ---------------------------------------------------------------------------
// A simulation (the batch path, stepping accounts in place) issues what
// `Program::earn` does, bonus by bonus.
// ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn a_simulation_issues_the_bonuses_earn_does(
        ms in milestones(),
        per_month in prop::option::of(1u32..4),
        bs in badge_set(),
        steps in vec((0i64..30 * 60, 0u8..3), 1..60),
    ) {
        let p = account_program(FixedOffset::east_opt(8 * 3600).unwrap(), None, &ms, per_month, &bs, "clamp");
        let t0 = Utc.with_ymd_and_hms(2026, 2, 26, 14, 0, 0).unwrap();
        let mut now = t0;
        let mut log = vec![];
        for (i, (minutes, kind)) in steps.iter().enumerate() {
            now += TimeDelta::minutes(*minutes);
            let kind = match kind {
                0 => check_in_kind(),
                1 => lesson(),
                _ => EventKind::Purchase { amount: Money::new(1_234, "CNY".parse().unwrap()) },
            };
            log.push(Event::new(EventId(i as u64 + 1), MEMBER, now, kind));
        }
        let mut a = p.open_account(MEMBER, t0);
        let mut bonuses: BTreeMap<String, u64> = BTreeMap::new();
        for e in &log {
            let out = p.earn(&mut a, e, None).map_err(|e| TestCaseError::fail(e.to_string()))?;
            for b in &out.bonuses {
                *bonuses.entry(b.rule.to_string()).or_default() += b.points;
            }
        }
        let log: growthkit::batch::EventLog = log.into_iter().collect();
        let report = growthkit::points::Simulation::new(&p, now + TimeDelta::days(1)).run(&log);
        prop_assert_eq!(report.issued, a.ledger().earned());
        let simulated: BTreeMap<String, u64> = report
            .bonuses
            .iter()
            .map(|b| (b.bonus.to_string(), b.issued))
            .collect();
        prop_assert_eq!(simulated, bonuses);
    }
}

// ---------------------------------------------------------------------------
// Accounts whose numbers sit at the top of their range (state stored by a
// long-lived host, or edited): every step a typed error or a success, never
// a panic, and an error changes nothing.
// ---------------------------------------------------------------------------

/// Fields of an account's JSON, by path, and values near their top.
fn near_top() -> impl Strategy<Value = (Vec<&'static str>, u64)> {
    let paths = prop::sample::select(vec![
        vec!["version"],
        vec!["next_bonus"],
        vec!["streak", "version"],
        vec!["streak", "current"],
        vec!["streak", "longest"],
        vec!["streak", "days_checked_in"],
        vec!["badges", "version"],
        vec!["badges", "progress", "b0", "count"],
        vec!["badges", "progress", "b1", "count"],
        vec!["badges", "progress", "b2", "count"],
        vec!["ledger", "version"],
    ]);
    let values = prop::sample::select(vec![
        u64::MAX,
        u64::MAX - 1,
        u64::from(u32::MAX),
        u64::from(u32::MAX) - 1,
        0,
        1,
    ]);
    (paths, values)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn numbers_at_the_top_give_errors_not_panics(
        fields in vec(near_top(), 1..3),
        ops in vec(0u8..4, 1..12),
    ) {
        let bs = vec![
            BadgeM { name: "b0".into(), counter: 0, levels: vec![(None, 1, 5), (None, 3, u64::MAX / 2)] },
            BadgeM { name: "b1".into(), counter: 2, levels: vec![(None, 10, 7)] },
            BadgeM { name: "b2".into(), counter: 3, levels: vec![(None, 2, 9)] },
        ];
        let p = account_program(FixedOffset::east_opt(8 * 3600).unwrap(), None, &[(2, 50, Some(1))], Some(1), &bs, "debt");
        let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 1, 0, 0).unwrap();
        let mut a = p.open_account(MEMBER, t0);
        for (i, kind) in [lesson(), check_in_kind(), check_in_kind()].into_iter().enumerate() {
            let at = t0 + TimeDelta::days(i as i64);
            p.earn(&mut a, &Event::new(EventId(i as u64 + 1), MEMBER, at, kind), None).unwrap();
        }
        let mut json = serde_json::to_value(&a).unwrap();
        for (path, value) in &fields {
            let mut at = &mut json;
            for key in path {
                at = &mut at[*key];
            }
            *at = match serde_json::to_value(value) { Ok(v) => v, Err(_) => continue };
        }
        let Ok(mut a) = serde_json::from_value::<growthkit::points::Account>(json) else {
            return Ok(());
        };
        let mut now = t0 + TimeDelta::days(3);
        for (i, op) in ops.iter().enumerate() {
            now += TimeDelta::hours(9);
            let before = serde_json::to_string(&a).unwrap();
            let id = EventId(100 + i as u64);
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match op {
                0 => p.earn(&mut a, &Event::new(id, MEMBER, now, check_in_kind()), None).map(|_| ()),
                1 => p.earn(&mut a, &Event::new(id, MEMBER, now, lesson()), None).map(|_| ()),
                2 => p.reverse_in(&mut a, format!("r{i}").into(), EventId(1 + (i as u64 % 3)), Portion::Whole {}, now).map(|_| ()),
                _ => p.reverse_in(&mut a, format!("s{i}").into(), EventId(100 + i as u64 - 1), Portion::Whole {}, now).map(|_| ()),
            }));
            let result = result.map_err(|_| TestCaseError::fail(format!("panicked at op {i} ({op}) with {fields:?}")))?;
            if result.is_err() {
                prop_assert_eq!(serde_json::to_string(&a).unwrap(), before);
            }
        }
    }
}
