//! Properties of tiers, badges and check-in streaks (`growthkit::points`):
//!
//! 1. redeeming points never changes a tier (tiers read points earned);
//! 2. a tier changes only as documented: `record` only upgrades (reason
//!    `Reached`), `evaluate` only downgrades (reason `FellBelow`, and only
//!    once any grace has run out), `retract` only revokes (reason
//!    `Revoked`); a member is never below the tier their tally qualifies
//!    for; the version moves by one exactly when the status changes;
//! 3. a streak is never longer than the distinct local days checked in, and
//!    each milestone is paid at most once per streak (once per length for a
//!    repeating one), only at a length that reaches it;
//! 4. a badge's levels held are exactly those its counter meets, and the
//!    points granted minus those revoked are the points of the levels held;
//! 5. the same input gives the same output;
//! 6. specs and states round-trip through JSON, and a round-tripped state
//!    continues exactly like the original;
//! 7. any JSON spec fails to parse or validate, or is a valid value that
//!    steps without panicking;
//! 8. whether a refund revokes a tier does not depend on an evaluation, or
//!    a record whose window stays below the tier, moving the window first.

use chrono::{DateTime, FixedOffset, TimeDelta, TimeZone, Utc};
use growthkit::points::{
    BadgeCatalog, BadgeCatalogSpec, BadgeCounter, BadgeLevel, BadgeOutcome, BadgeSpec, Badges,
    CheckInKind, CheckInOutcome, Grace, Ledger, MakeUp, Milestone, Multiplier, Portion,
    ProgramSpec, QualifyingBasis, Streak, StreakRules, StreakSpec, Tier, TierLadder,
    TierLadderSpec, TierOutcome, TierReason, TierStatus, TierWindow,
};
use growthkit::{Event, EventId, EventKind, LocalDay, Money, UserId};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{Value, json};
use std::collections::BTreeSet;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

fn beijing() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).unwrap()
}

// ---------------------------------------------------------------- tiers

fn ladder_spec() -> impl Strategy<Value = TierLadderSpec> {
    let tiers = vec((1u64..300, 10_000u32..30_000), 0..4).prop_map(|steps| {
        let mut tiers = vec![Tier {
            name: "t0".into(),
            threshold: 0,
            multiplier: Multiplier::ONE,
            benefits: None,
        }];
        let mut threshold = 0;
        for (i, (step, bp)) in steps.into_iter().enumerate() {
            threshold += step;
            tiers.push(Tier {
                name: format!("t{}", i + 1).into(),
                threshold,
                multiplier: Multiplier::from_basis_points(bp).unwrap(),
                benefits: (i == 0).then(|| "perks".into()),
            });
        }
        tiers
    });
    let window = prop_oneof![
        (1u32..60).prop_map(|days| TierWindow::RollingDays { days }),
        Just(TierWindow::AnniversaryYear {}),
    ];
    let grace = prop_oneof![
        Just(Grace::None {}),
        (1u32..20).prop_map(|days| Grace::Days { days }),
        Just(Grace::UntilAnniversary {}),
    ];
    (tiers, window, grace).prop_map(|(tiers, window, grace)| TierLadderSpec {
        basis: QualifyingBasis::Points {},
        window,
        grace,
        tiers,
    })
}

#[derive(Clone, Copy, Debug)]
enum TierOp {
    /// Record `amount` earned `back` hours before now.
    Record {
        back: i64,
        amount: u64,
    },
    Evaluate,
    /// Retract `amount` earned `back` hours before now.
    Retract {
        back: i64,
        amount: u64,
    },
}

/// Steps at an advancing time (hours), mostly short, sometimes months
/// (anniversaries, grace ends); some records and every retraction late.
fn tier_ops() -> impl Strategy<Value = Vec<(i64, TierOp)>> {
    let advance = prop_oneof![4 => 0i64..96, 1 => 0i64..24 * 200];
    let op = prop_oneof![
        4 => (prop_oneof![3 => Just(0i64), 1 => 0i64..24 * 60], 0u64..200)
            .prop_map(|(back, amount)| TierOp::Record { back, amount }),
        2 => Just(TierOp::Evaluate),
        1 => (0i64..24 * 60, 0u64..200).prop_map(|(back, amount)| TierOp::Retract { back, amount }),
    ];
    vec((advance, op), 0..60)
}

fn tier_index(ladder: &TierLadder, status: &TierStatus) -> usize {
    ladder
        .tiers()
        .iter()
        .position(|t| t.name == *status.tier())
        .unwrap()
}

fn tier_step(
    ladder: &TierLadder,
    status: &mut TierStatus,
    now: DateTime<Utc>,
    op: TierOp,
) -> TierOutcome {
    let z = beijing();
    match op {
        TierOp::Record { back, amount } => {
            ladder.record(status, now - TimeDelta::hours(back), amount, &z)
        }
        TierOp::Evaluate => ladder.evaluate(status, now, &z),
        TierOp::Retract { back, amount } => ladder.retract(
            status,
            now - TimeDelta::hours(back),
            now,
            amount,
            "reversal",
            &z,
        ),
    }
    .unwrap()
}

/// Runs `ops` from `now`, returning the outcomes and the time reached.
fn run_tiers(
    ladder: &TierLadder,
    status: &mut TierStatus,
    mut now: DateTime<Utc>,
    ops: &[(i64, TierOp)],
) -> (Vec<TierOutcome>, DateTime<Utc>) {
    let mut out = Vec::new();
    for &(advance, op) in ops {
        now += TimeDelta::hours(advance);
        out.push(tier_step(ladder, status, now, op));
    }
    (out, now)
}

// -------------------------------------------------------------- streaks

fn streak_spec() -> impl Strategy<Value = StreakSpec> {
    let milestones =
        vec((1u32..6, 1u64..100, proptest::option::of(1u32..5)), 0..4).prop_map(|steps| {
            let mut day = 0;
            steps
                .into_iter()
                .map(|(step, points, repeat_every)| {
                    day += step;
                    Milestone {
                        day,
                        points,
                        repeat_every,
                    }
                })
                .collect()
        });
    let make_up = proptest::option::of((1u32..4).prop_map(|per_month| MakeUp { per_month }));
    (milestones, make_up).prop_map(|(milestones, make_up)| StreakSpec {
        milestones,
        make_up,
    })
}

/// Check-in instants: mostly hours to two days apart (local midnights,
/// missed days), sometimes a late delivery up to three days old.
fn check_ins() -> impl Strategy<Value = Vec<(i64, i64)>> {
    vec(
        (
            prop_oneof![4 => 0i64..50, 1 => 0i64..24 * 5],
            prop_oneof![5 => Just(0i64), 1 => 0i64..72],
        ),
        0..80,
    )
}

fn run_streak<Tz: TimeZone>(
    rules: &StreakRules,
    streak: &mut Streak,
    zone: &Tz,
    mut now: DateTime<Utc>,
    ops: &[(i64, i64)],
) -> (Vec<CheckInOutcome>, DateTime<Utc>) {
    let mut out = Vec::new();
    for &(advance, back) in ops {
        now += TimeDelta::hours(advance);
        out.push(
            rules
                .check_in(streak, now - TimeDelta::hours(back), zone)
                .unwrap(),
        );
    }
    (out, now)
}

// --------------------------------------------------------------- badges

fn catalog_spec() -> impl Strategy<Value = BadgeCatalogSpec> {
    let counter = select(vec![
        BadgeCounter::Events {
            on: "action_completed:lesson".parse().unwrap(),
        },
        BadgeCounter::Events {
            on: "visited".parse().unwrap(),
        },
        BadgeCounter::Events {
            on: "*".parse().unwrap(),
        },
        BadgeCounter::Points {},
        BadgeCounter::Streak {},
    ]);
    let levels = vec((1u64..30, 0u64..50), 1..4).prop_map(|steps| {
        let mut at = 0;
        steps
            .into_iter()
            .enumerate()
            .map(|(i, (step, points))| {
                at += step;
                BadgeLevel {
                    name: (i > 0).then(|| format!("level{i}").into()),
                    at,
                    points,
                }
            })
            .collect()
    });
    vec((counter, levels), 1..5).prop_map(|badges| BadgeCatalogSpec {
        badges: badges
            .into_iter()
            .enumerate()
            .map(|(i, (counter, levels))| BadgeSpec {
                name: format!("b{i}").into(),
                counter,
                levels,
            })
            .collect(),
    })
}

#[derive(Clone, Debug)]
enum BadgeOp {
    Event(EventKind),
    RetractEvent(EventKind),
    Points(u64),
    RetractPoints(u64),
    Streak(u32),
}

fn badge_ops() -> impl Strategy<Value = Vec<BadgeOp>> {
    let kind = select(vec![
        EventKind::ActionCompleted {
            action: "lesson".into(),
        },
        EventKind::Visited,
        EventKind::TrialStarted,
    ]);
    vec(
        prop_oneof![
            4 => kind.clone().prop_map(BadgeOp::Event),
            1 => kind.prop_map(BadgeOp::RetractEvent),
            2 => (0u64..40).prop_map(BadgeOp::Points),
            1 => (0u64..60).prop_map(BadgeOp::RetractPoints),
            1 => (0u32..40).prop_map(BadgeOp::Streak),
        ],
        0..60,
    )
}

fn badge_step(catalog: &BadgeCatalog, badges: &mut Badges, i: usize, op: &BadgeOp) -> BadgeOutcome {
    let at = t0() + TimeDelta::minutes(i as i64);
    match op {
        BadgeOp::Event(kind) => catalog.record_event(badges, kind, at),
        BadgeOp::RetractEvent(kind) => catalog.retract_event(badges, kind, at, "reversal"),
        BadgeOp::Points(p) => catalog.record_points(badges, *p, at),
        BadgeOp::RetractPoints(p) => catalog.retract_points(badges, *p, at, "reversal"),
        BadgeOp::Streak(n) => catalog.record_streak(badges, *n, at),
    }
    .unwrap()
}

fn run_badges(catalog: &BadgeCatalog, badges: &mut Badges, ops: &[BadgeOp]) -> Vec<BadgeOutcome> {
    ops.iter()
        .enumerate()
        .map(|(i, op)| badge_step(catalog, badges, i, op))
        .collect()
}

fn held_points(badges: &Badges) -> u64 {
    badges
        .iter()
        .flat_map(|(_, p)| p.earned.iter())
        .map(|e| e.points)
        .sum()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn redeeming_never_changes_a_tier(
        spec in ladder_spec(),
        ops in vec((0i64..48, proptest::option::of(1u64..40)), 0..40),
    ) {
        let ladder = spec.validate().unwrap();
        let program = serde_json::from_str::<ProgramSpec>(r#"{ "utc_offset": "+08:00", "rules": [
            { "name": "lesson", "on": "action_completed:lesson", "reward": { "type": "fixed", "points": 25 } }
        ] }"#).unwrap().validate().unwrap();
        let z = beijing();
        // Run A redeems; run B skips every redeem. Both record what the
        // program awards and evaluate after every step.
        let (mut ledger_a, mut ledger_b) = (Ledger::new(), Ledger::new());
        let (mut a, mut b) = (ladder.start(t0(), &z), ladder.start(t0(), &z));
        let mut now = t0();
        for (i, (advance, redeem)) in ops.into_iter().enumerate() {
            now += TimeDelta::hours(advance);
            match redeem {
                Some(points) => {
                    // Refused redeems (not enough points) are fine: they change nothing.
                    let _ = ledger_a.redeem(format!("order-{i}").into(), points, now);
                }
                None => {
                    let lesson = Event::new(
                        EventId(i as u64), UserId(1), now,
                        EventKind::ActionCompleted { action: "lesson".into() },
                    );
                    for (ledger, status) in [(&mut ledger_a, &mut a), (&mut ledger_b, &mut b)] {
                        let earned = program.apply(ledger, &lesson).unwrap();
                        ladder.record(status, now, earned.total, &z).unwrap();
                    }
                }
            }
            ladder.evaluate(&mut a, now, &z).unwrap();
            ladder.evaluate(&mut b, now, &z).unwrap();
            prop_assert_eq!(&a, &b);
            prop_assert_eq!(ladder.multiplier(&a), ladder.multiplier(&b));
        }
        prop_assert_eq!(ledger_a.earned(), ledger_b.earned());
    }

    #[test]
    fn a_tier_changes_only_as_documented(spec in ladder_spec(), ops in tier_ops()) {
        let (grace, window) = (spec.grace, spec.window);
        let ladder = spec.validate().unwrap();
        let z = beijing();
        let mut status = ladder.start(t0(), &z);
        let mut now = t0();
        for (advance, op) in ops {
            now += TimeDelta::hours(advance);
            let before = status.clone();
            let from = tier_index(&ladder, &before);
            let out = tier_step(&ladder, &mut status, now, op);
            let to = tier_index(&ladder, &status);
            prop_assert_eq!(out.change.is_some(), from != to);
            prop_assert_eq!(&out.tier, status.tier());
            prop_assert_eq!(out.grace_until, status.grace_until());
            prop_assert_eq!(Ok(out.multiplier), ladder.multiplier(&status));
            match (op, &out.change) {
                (_, None) => {}
                (TierOp::Record { .. }, Some(change)) => {
                    prop_assert!(to > from);
                    let reached = matches!(change.reason, TierReason::Reached { .. });
                    prop_assert!(reached);
                }
                (TierOp::Evaluate, Some(change)) => {
                    prop_assert!(to < from, "evaluate never upgrades a status the library kept");
                    let fell = matches!(change.reason, TierReason::FellBelow { .. });
                    prop_assert!(fell);
                    let today = LocalDay::of(now, &z);
                    // Until the anniversary over anniversary years counts from
                    // the first year below, which may be over at the first
                    // evaluation.
                    let from_year_below = grace == Grace::UntilAnniversary {}
                        && window == TierWindow::AnniversaryYear {}
                        && before.grace_until().is_none();
                    prop_assert!(
                        grace == Grace::None {}
                            || from_year_below
                            || before.grace_until().is_some_and(|g| today >= g),
                        "demoted on {} before grace ended ({:?})", today, before.grace_until()
                    );
                }
                (TierOp::Retract { .. }, Some(change)) => {
                    prop_assert!(to < from);
                    let revoked = matches!(change.reason, TierReason::Revoked { .. });
                    prop_assert!(revoked);
                }
            }
            if status == before {
                prop_assert_eq!(status.version(), before.version());
            } else {
                prop_assert_eq!(status.version(), before.version() + 1);
            }
            // Never below what the tally qualifies for.
            let as_of = status.as_of().start_in(&z);
            let qualifying = ladder.qualifying(&status, as_of, &z).unwrap();
            let qualified = ladder.tiers().iter().rposition(|t| t.threshold <= qualifying).unwrap();
            prop_assert!(to >= qualified, "tier {} below the qualified {}", to, qualified);
        }
    }

    #[test]
    fn an_unrelated_step_before_a_refund_does_not_change_whether_it_revokes(
        spec in ladder_spec(),
        ops in tier_ops(),
        pick in any::<proptest::sample::Index>(),
        (after, gap) in (0i64..24 * 400, 0i64..24 * 400),
        visit in prop::option::of(0u64..3),
    ) {
        let ladder = spec.validate().unwrap();
        let z = beijing();
        let mut status = ladder.start(t0(), &z);
        let mut now = t0();
        // What each record counted, and when it was earned; no retraction
        // first, so each can be refunded whole.
        let mut counted = Vec::new();
        for (advance, op) in ops {
            if matches!(op, TierOp::Retract { .. }) {
                continue;
            }
            now += TimeDelta::hours(advance);
            let out = tier_step(&ladder, &mut status, now, op);
            if let TierOp::Record { back, .. } = op && out.counted > 0 {
                counted.push((now - TimeDelta::hours(back), out.counted));
            }
        }
        prop_assume!(!counted.is_empty());
        let (earned, amount) = counted[pick.index(counted.len())];
        let first = now + TimeDelta::hours(after);
        let refund = first + TimeDelta::hours(gap);
        let mut moved = status.clone();
        let threshold = ladder.current(&moved).unwrap().threshold;
        match visit {
            Some(points) => {
                let out = ladder.record(&mut moved, first, points, &z).unwrap();
                prop_assume!(out.qualifying < threshold);
            }
            None => {
                let out = ladder.evaluate(&mut moved, first, &z).unwrap();
                // Neither a demotion nor the end of a grace period.
                prop_assume!(out.change.is_none());
                prop_assume!(status.grace_until().is_none() || out.grace_until.is_some());
            }
        }
        let plain = ladder.retract(&mut status, earned, refund, amount, "refund", &z).unwrap();
        let after_step = ladder.retract(&mut moved, earned, refund, amount, "refund", &z).unwrap();
        // Whether, not to what: the tier revoked down to also reads the
        // window, which the step moved.
        prop_assert_eq!(
            plain.change.is_some(),
            after_step.change.is_some(),
            "{:?} then a refund of {} earned {}",
            visit,
            amount,
            earned
        );
    }

    #[test]
    fn tiers_are_deterministic_and_round_trip(spec in ladder_spec(), ops in tier_ops(), split in 0usize..60) {
        let text = serde_json::to_string(&spec).unwrap();
        let back: TierLadderSpec = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(&back, &spec);
        let ladder = spec.validate().unwrap();
        let z = beijing();
        let (mut a, mut b) = (ladder.start(t0(), &z), ladder.start(t0(), &z));
        prop_assert_eq!(run_tiers(&ladder, &mut a, t0(), &ops), run_tiers(&ladder, &mut b, t0(), &ops));
        prop_assert_eq!(&a, &b);

        let (first, rest) = ops.split_at(split.min(ops.len()));
        let mut original = ladder.start(t0(), &z);
        let (_, now) = run_tiers(&ladder, &mut original, t0(), first);
        let mut restored: TierStatus = serde_json::from_str(&serde_json::to_string(&original).unwrap()).unwrap();
        prop_assert_eq!(&restored, &original);
        prop_assert_eq!(
            run_tiers(&ladder, &mut original, now, rest),
            run_tiers(&ladder, &mut restored, now, rest)
        );
        prop_assert_eq!(original, restored);
    }

    #[test]
    fn streaks_never_outgrow_the_days_and_pay_milestones_once(
        spec in streak_spec(),
        ops in check_ins(),
        iana in any::<bool>(),
    ) {
        let rules = spec.clone().validate().unwrap();
        let ny = chrono_tz::America::New_York;
        let day_of = |at: DateTime<Utc>| if iana { LocalDay::of(at, &ny) } else { LocalDay::of(at, &beijing()) };
        let mut streak = Streak::new();
        let mut days = BTreeSet::new();
        let mut streak_number = 0u32;
        let mut paid = BTreeSet::new();
        let mut now = t0();
        for (advance, back) in ops {
            now += TimeDelta::hours(advance);
            let at = now - TimeDelta::hours(back);
            let before = streak.clone();
            let out = if iana {
                rules.check_in(&mut streak, at, &ny)
            } else {
                rules.check_in(&mut streak, at, &beijing())
            }.unwrap();
            days.insert(day_of(at));
            prop_assert_eq!(out.day, day_of(at));

            prop_assert!(u64::from(streak.current()) <= streak.days_checked_in());
            prop_assert!(u64::from(streak.longest()) <= streak.days_checked_in());
            prop_assert!(streak.days_checked_in() <= days.len() as u64);
            prop_assert!(streak.current() <= streak.longest());
            prop_assert_eq!(out.length, streak.current());

            match out.kind {
                CheckInKind::SameDay | CheckInKind::Late { .. } => {
                    prop_assert_eq!(&streak, &before);
                    prop_assert_eq!(out.points, 0);
                }
                CheckInKind::First | CheckInKind::Restarted { .. } => {
                    streak_number += 1;
                    prop_assert_eq!(out.length, 1);
                    prop_assert_eq!(streak.version(), before.version() + 1);
                }
                CheckInKind::Extended => {
                    prop_assert_eq!(out.length, before.current() + 1);
                    prop_assert_eq!(streak.version(), before.version() + 1);
                    if spec.make_up.is_none() {
                        prop_assert_eq!(out.bridged, 0);
                    }
                }
            }
            let mut sum = 0;
            for hit in &out.milestones {
                prop_assert_eq!(hit.length, out.length);
                let reached = spec.milestones.iter().any(|m| m.day == hit.milestone && m.reached_at(hit.length));
                prop_assert!(reached);
                prop_assert!(
                    paid.insert((streak_number, hit.milestone, hit.length)),
                    "milestone {} paid twice at length {}", hit.milestone, hit.length
                );
                sum += hit.points;
            }
            prop_assert_eq!(out.points, sum);
        }
    }

    #[test]
    fn streaks_are_deterministic_and_round_trip(spec in streak_spec(), ops in check_ins(), split in 0usize..80) {
        let text = serde_json::to_string(&spec).unwrap();
        prop_assert_eq!(&serde_json::from_str::<StreakSpec>(&text).unwrap(), &spec);
        let rules = spec.validate().unwrap();
        let z = beijing();
        let (mut a, mut b) = (Streak::new(), Streak::new());
        prop_assert_eq!(run_streak(&rules, &mut a, &z, t0(), &ops), run_streak(&rules, &mut b, &z, t0(), &ops));
        prop_assert_eq!(&a, &b);

        let (first, rest) = ops.split_at(split.min(ops.len()));
        let mut original = Streak::new();
        let (_, now) = run_streak(&rules, &mut original, &z, t0(), first);
        let mut restored: Streak = serde_json::from_str(&serde_json::to_string(&original).unwrap()).unwrap();
        prop_assert_eq!(&restored, &original);
        prop_assert_eq!(
            run_streak(&rules, &mut original, &z, now, rest),
            run_streak(&rules, &mut restored, &z, now, rest)
        );
        prop_assert_eq!(original, restored);
    }

    #[test]
    fn badge_levels_follow_their_counters(spec in catalog_spec(), ops in badge_ops()) {
        let catalog = spec.clone().validate().unwrap();
        let mut badges = Badges::new();
        let mut net: i128 = 0;
        for (i, op) in ops.iter().enumerate() {
            let before = badges.clone();
            let out = badge_step(&catalog, &mut badges, i, op);
            net += i128::from(out.points) - i128::from(out.points_revoked);
            prop_assert_eq!(net, i128::from(held_points(&badges)));
            prop_assert_eq!(out.points, out.granted.iter().map(|g| g.points).sum::<u64>());
            prop_assert_eq!(out.points_revoked, out.revoked.iter().map(|r| r.points).sum::<u64>());
            let retraction = matches!(op, BadgeOp::RetractEvent(_) | BadgeOp::RetractPoints(_));
            prop_assert!(retraction || out.revoked.is_empty(), "only retractions revoke");
            prop_assert!(!retraction || out.granted.is_empty(), "retractions never grant");
            for b in &spec.badges {
                let progress = badges.progress(b.name.as_str()).cloned().unwrap_or_default();
                let met = b.levels.iter().filter(|l| l.at <= progress.count).count();
                prop_assert_eq!(progress.earned.len(), met, "badge {}", b.name);
                prop_assert_eq!(badges.level(b.name.as_str()) as usize, met);
                if matches!(b.counter, BadgeCounter::Streak {}) {
                    prop_assert!(progress.earned.len() >= before.level(b.name.as_str()) as usize);
                }
            }
            if badges == before {
                prop_assert_eq!(badges.version(), before.version());
            } else {
                prop_assert_eq!(badges.version(), before.version() + 1);
            }
        }
    }

    #[test]
    fn badges_are_deterministic_and_round_trip(spec in catalog_spec(), ops in badge_ops(), split in 0usize..60) {
        let text = serde_json::to_string(&spec).unwrap();
        prop_assert_eq!(&serde_json::from_str::<BadgeCatalogSpec>(&text).unwrap(), &spec);
        let catalog = spec.validate().unwrap();
        let (mut a, mut b) = (Badges::new(), Badges::new());
        prop_assert_eq!(run_badges(&catalog, &mut a, &ops), run_badges(&catalog, &mut b, &ops));
        prop_assert_eq!(&a, &b);

        let (first, rest) = ops.split_at(split.min(ops.len()));
        let mut original = Badges::new();
        run_badges(&catalog, &mut original, first);
        let mut restored: Badges = serde_json::from_str(&serde_json::to_string(&original).unwrap()).unwrap();
        prop_assert_eq!(&restored, &original);
        prop_assert_eq!(run_badges(&catalog, &mut original, rest), run_badges(&catalog, &mut restored, rest));
        prop_assert_eq!(original, restored);
    }

    #[test]
    fn arbitrary_json_ladders_never_panic(
        basis in prop_oneof![
            6 => Just(json!({ "type": "points" })),
            3 => Just(json!({ "type": "spend", "currency": "CNY" })),
            1 => select(vec![json!({ "type": "spend", "currency": "cny" }), json!({ "type": "stars" }), json!("points")]),
        ],
        window in prop_oneof![
            4 => select(vec![
                json!({ "type": "rolling_days", "days": 30 }), json!({ "type": "rolling_days", "days": 1 }),
                json!({ "type": "rolling_days", "days": 1096 }), json!({ "type": "anniversary_year" }),
            ]),
            1 => select(vec![
                json!({ "type": "rolling_days", "days": 0 }), json!({ "type": "rolling_days", "days": 1097 }),
                json!({ "type": "rolling_days", "days": -1 }), json!({ "type": "fortnight" }),
            ]),
        ],
        grace in prop_oneof![
            4 => select(vec![
                Value::Null, json!({ "type": "none" }), json!({ "type": "days", "days": 3 }),
                json!({ "type": "until_anniversary" }),
            ]),
            1 => select(vec![json!({ "type": "days", "days": 0 }), json!({ "type": "weeks" })]),
        ],
        tiers in vec(prop_oneof![6 => Just(None), 1 => (0u8..10).prop_map(Some)], 0..5).prop_map(json_tiers),
        amounts in vec((0u64..500, -100i64..400), 0..8),
    ) {
        let mut v = json!({ "basis": basis, "window": window, "tiers": tiers });
        if !grace.is_null() {
            v["grace"] = grace;
        }
        if let Ok(spec) = serde_json::from_value::<TierLadderSpec>(v)
            && let Ok(ladder) = spec.validate()
        {
            let tiers = ladder.tiers();
            prop_assert_eq!(tiers.first().map(|t| t.threshold), Some(0));
            prop_assert!(tiers.windows(2).all(|w| w[0].threshold < w[1].threshold));
            let names: BTreeSet<&str> = tiers.iter().map(|t| t.name.as_str()).collect();
            prop_assert_eq!(names.len(), tiers.len());
            prop_assert!(tiers.iter().all(|t| t.multiplier.basis_points() > 0));
            let z = beijing();
            let mut status = ladder.start(t0(), &z);
            let mut now = t0();
            for (amount, hours) in amounts {
                now += TimeDelta::hours(hours.abs());
                let at = now + TimeDelta::hours(hours.min(0));
                ladder.record(&mut status, at, amount, &z).unwrap();
                ladder.evaluate(&mut status, now, &z).unwrap();
                ladder.retract(&mut status, at, now, amount / 2, "refund", &z).unwrap();
            }
        }
    }

    #[test]
    fn arbitrary_json_streaks_never_panic(
        milestones in vec(json_milestone(), 0..4),
        make_up in select(vec![
            Value::Null, json!({ "per_month": 0 }), json!({ "per_month": 2 }), json!({ "per_month": 10 }),
            json!({ "per_month": 11 }), json!({ "cards": 1 }), json!(2),
        ]),
        ops in check_ins(),
    ) {
        let mut v = json!({ "milestones": milestones });
        if !make_up.is_null() {
            v["make_up"] = make_up;
        }
        if let Ok(spec) = serde_json::from_value::<StreakSpec>(v)
            && let Ok(rules) = spec.validate()
        {
            let days: Vec<u32> = rules.spec().milestones.iter().map(|m| m.day).collect();
            prop_assert!(days.windows(2).all(|w| w[0] < w[1]));
            prop_assert!(rules.spec().milestones.iter().all(|m| m.day > 0 && m.points > 0));
            let mut streak = Streak::new();
            run_streak(&rules, &mut streak, &beijing(), t0(), &ops);
        }
    }

    #[test]
    fn arbitrary_json_catalogs_never_panic(
        badges in vec(
            (
                prop_oneof![6 => Just(None), 1 => (0u8..8).prop_map(Some)],
                vec(prop_oneof![6 => Just(None), 1 => (0u8..6).prop_map(Some)], 0..4),
            ),
            0..4,
        ).prop_map(json_badges),
        ops in badge_ops(),
    ) {
        if let Ok(spec) = serde_json::from_value::<BadgeCatalogSpec>(json!({ "badges": badges }))
            && let Ok(catalog) = spec.validate()
        {
            let spec = catalog.spec();
            prop_assert!(!spec.badges.is_empty());
            let names: BTreeSet<&str> = spec.badges.iter().map(|b| b.name.as_str()).collect();
            prop_assert_eq!(names.len(), spec.badges.len());
            for b in &spec.badges {
                prop_assert!(!b.levels.is_empty());
                prop_assert!(b.levels[0].at > 0);
                prop_assert!(b.levels.windows(2).all(|w| w[0].at < w[1].at));
            }
            let mut badges = Badges::new();
            run_badges(&catalog, &mut badges, &ops);
        }
    }
}

/// A JSON ladder's tiers: valid ones (`t0` at 0, then every 10 more), each
/// possibly broken by one defect.
fn json_tiers(defects: Vec<Option<u8>>) -> Value {
    let tiers = defects
        .into_iter()
        .enumerate()
        .map(|(i, defect)| {
            let mut t = json!({ "name": format!("t{i}"), "threshold": i * 10, "multiplier": 1.0 + i as f64 / 2.0 });
            if i == 1 {
                t["benefits"] = json!("free shipping");
            }
            match defect {
                None => {}
                Some(0) => t["name"] = json!("t0"),
                Some(1) => t["threshold"] = json!(-1),
                Some(2) => t["threshold"] = json!("10"),
                Some(3) => t["threshold"] = json!(i.saturating_sub(1) * 10),
                Some(4) => t["multiplier"] = json!(0),
                Some(5) => t["multiplier"] = json!(1.23456),
                Some(6) => t["multiplier"] = json!(5000),
                Some(7) => t["benefits"] = json!(3),
                Some(8) => t["name"] = json!(7),
                Some(_) => t["perks"] = json!(true),
            }
            t
        })
        .collect();
    Value::Array(tiers)
}

/// A JSON milestone with each field drawn from good and bad values.
fn json_milestone() -> impl Strategy<Value = Value> {
    (
        select(vec![json!(0), json!(1), json!(3), json!(7), json!(-1)]),
        select(vec![json!(0), json!(5), json!(-1), json!("5")]),
        select(vec![Value::Null, json!(0), json!(2), json!(-3)]),
    )
        .prop_map(|(day, points, repeat)| {
            let mut m = json!({ "day": day, "points": points });
            if !repeat.is_null() {
                m["repeat_every"] = repeat;
            }
            m
        })
}

/// A JSON catalog's badges: valid ones (names `b0`, `b1`…, levels every 5
/// more), each badge and level possibly broken by one defect.
fn json_badges(badges: Vec<(Option<u8>, Vec<Option<u8>>)>) -> Value {
    let counters = [
        json!({ "type": "events", "on": "action_completed:lesson" }),
        json!({ "type": "events", "on": "visited" }),
        json!({ "type": "points" }),
        json!({ "type": "streak" }),
    ];
    let badges = badges
        .into_iter()
        .enumerate()
        .map(|(i, (defect, levels))| {
            let levels: Vec<Value> = levels
                .into_iter()
                .enumerate()
                .map(|(j, defect)| {
                    let mut l = json!({ "name": format!("level{j}"), "at": (j + 1) * 5, "points": j * 3 });
                    match defect {
                        None => {}
                        Some(0) => l["at"] = json!(0),
                        Some(1) => l["at"] = json!(j * 5),
                        Some(2) => l["name"] = json!("level0"),
                        Some(3) => l["points"] = json!(-1),
                        Some(4) => l["name"] = json!(1),
                        Some(_) => l["bonus"] = json!(1),
                    }
                    l
                })
                .collect();
            let mut b = json!({ "name": format!("b{i}"), "counter": counters[i % counters.len()].clone(), "levels": levels });
            match defect {
                None => {}
                Some(0) => b["name"] = json!("b0"),
                Some(1) => b["counter"] = json!({ "type": "events", "on": "nope" }),
                Some(2) => b["counter"] = json!({ "type": "events", "on": "visited:x" }),
                Some(3) => b["counter"] = json!({ "type": "events" }),
                Some(4) => b["counter"] = json!({ "type": "karma" }),
                Some(5) => b["levels"] = json!([]),
                Some(6) => b["name"] = json!(""),
                Some(_) => b["icon"] = json!("star"),
            }
            b
        })
        .collect();
    Value::Array(badges)
}

/// A pinned case that shows how a host (and later `Program::apply`) wires
/// the three together: a learner checks in every evening for ten days.
#[test]
fn a_learners_ten_days_wire_tiers_streaks_and_badges_together() {
    let program = serde_json::from_str::<ProgramSpec>(
        r#"{ "utc_offset": "+08:00", "rules": [
            { "name": "check_in", "on": "check_in", "reward": { "type": "fixed", "points": 10 } }
        ] }"#,
    )
    .unwrap()
    .validate()
    .unwrap();
    let ladder = serde_json::from_str::<TierLadderSpec>(
        r#"{ "basis": { "type": "points" }, "window": { "type": "rolling_days", "days": 30 },
             "tiers": [ { "name": "member", "threshold": 0 },
                        { "name": "silver", "threshold": 50, "multiplier": 1.5 } ] }"#,
    )
    .unwrap()
    .validate()
    .unwrap();
    let rules =
        serde_json::from_str::<StreakSpec>(r#"{ "milestones": [ { "day": 7, "points": 50 } ] }"#)
            .unwrap()
            .validate()
            .unwrap();
    let catalog = serde_json::from_str::<BadgeCatalogSpec>(
        r#"{ "badges": [
            { "name": "regular", "counter": { "type": "events", "on": "check_in" },
              "levels": [ { "name": "bronze", "at": 3 }, { "name": "silver", "at": 10, "points": 30 } ] },
            { "name": "week_streak", "counter": { "type": "streak" }, "levels": [ { "at": 7, "points": 20 } ] }
        ] }"#,
    )
    .unwrap()
    .validate()
    .unwrap();

    let z = beijing();
    let first = Utc.with_ymd_and_hms(2026, 3, 1, 13, 0, 0).unwrap(); // 21:00 local
    let (mut ledger, mut tier, mut streak, mut badges) = (
        Ledger::new(),
        ladder.start(first, &z),
        Streak::new(),
        Badges::new(),
    );
    let mut story = Vec::new();
    let mut bonus = 0;
    for day in 0..10 {
        let at = first + TimeDelta::days(day);
        let kind = EventKind::CheckIn { community: None };
        let event = Event::new(EventId(day as u64), UserId(1), at, kind.clone());
        let earned = program.apply(&mut ledger, &event).unwrap();
        let stepped = ladder.record(&mut tier, at, earned.total, &z).unwrap();
        if let Some(change) = stepped.change {
            story.push(change.to_string());
        }
        let check_in = rules.check_in(&mut streak, at, &z).unwrap();
        if check_in.points > 0 {
            story.push(check_in.to_string());
        }
        for out in [
            catalog.record_event(&mut badges, &kind, at).unwrap(),
            catalog
                .record_streak(&mut badges, check_in.length, at)
                .unwrap(),
        ] {
            story.extend(out.granted.iter().map(ToString::to_string));
            bonus += out.points;
        }
        bonus += check_in.points;
    }
    assert_eq!(
        story,
        [
            "regular bronze (level 1): 3 reached 3",
            "member → silver: 50 qualifying reached the threshold 50",
            "day 7, milestone +50",
            "week_streak (level 1): 7 reached 7, +20 points",
            "regular silver (level 2): 10 reached 10, +30 points",
        ]
    );
    assert_eq!((ledger.earned(), bonus), (100, 100));
    assert_eq!(ladder.multiplier(&tier).unwrap().to_string(), "×1.5");

    // The last check-in is reversed: its badge level goes, with its points.
    let last = first + TimeDelta::days(9);
    let kind = EventKind::CheckIn { community: None };
    let out = catalog
        .retract_event(&mut badges, &kind, last, "duplicate check-in")
        .unwrap();
    assert_eq!(out.points_revoked, 30);
    assert_eq!(
        ladder
            .retract(&mut tier, last, last, 10, "duplicate check-in", &z)
            .unwrap()
            .change,
        None,
        "90 qualifying points still hold silver"
    );
}

/// A pinned case through an account: gold earned in the first membership
/// year is kept through the second, though a bigger purchase early in the
/// second year is refunded.
#[test]
fn a_refund_in_the_next_membership_year_keeps_gold_the_first_year_earned() {
    let program = serde_json::from_str::<ProgramSpec>(
        r#"{ "utc_offset": "+08:00", "ledger": { "reversible_awards": 16 },
             "rules": [ { "name": "buy", "on": "purchase",
               "reward": { "type": "per_amount", "points": 1, "per_minor": 100, "rounding": "down" } } ],
             "tiers": { "basis": { "type": "points" }, "window": { "type": "anniversary_year" },
               "grace": { "type": "until_anniversary" },
               "tiers": [ { "name": "member", "threshold": 0 }, { "name": "gold", "threshold": 100 } ] } }"#,
    )
    .unwrap()
    .validate()
    .unwrap();
    let at = |y, m, d| Utc.with_ymd_and_hms(y, m, d, 4, 0, 0).unwrap();
    let buy = |id, yuan: i64, at| {
        let amount = Money::new(yuan * 100, "CNY".parse().unwrap());
        Event::new(EventId(id), UserId(1), at, EventKind::Purchase { amount })
    };
    let mut account = program.open_account(UserId(1), at(2025, 1, 10));
    program
        .earn(&mut account, &buy(1, 100, at(2025, 6, 1)), None)
        .unwrap();
    program
        .earn(&mut account, &buy(2, 150, at(2026, 1, 10)), None)
        .unwrap();
    let refund = program
        .reverse_in(
            &mut account,
            "refund-2".into(),
            EventId(2),
            Portion::Whole {},
            at(2026, 1, 11),
        )
        .unwrap();
    let change = refund.tier.and_then(|t| t.change);
    assert!(
        change.is_none(),
        "{}",
        change.map(|c| c.to_string()).unwrap_or_default()
    );
    assert_eq!(account.tier().map(|t| t.tier().as_str()), Some("gold"));
}
