//! # A lifecycle report for a small learning platform
//!
//! The reference story of `growthkit`: an online-learning platform brings
//! learners in with a coupon campaign, a free trial and organic search; daily
//! study check-ins keep them coming back; paying learners buy again and become
//! the seeds of a study group.
//!
//! This example simulates 300 learners over 13 weeks and prints the report an
//! operator would read, showing on the way:
//!
//! 1. a lifecycle policy written as JSON by operators and validated before use;
//! 2. the **online path**: one learner's events applied one at a time to state
//!    kept in a versioned store, with compare-and-swap and idempotent redelivery;
//! 3. the **batch path**: the whole event log replayed at once;
//! 4. **analytics**: a conversion funnel per channel, weekly-cohort retention
//!    and DAU/MAU stickiness;
//! 5. picking seed members for a study group from the learners' states;
//! 6. a **points** program: lessons, check-in streaks, purchases with a
//!    return window, tiers, points spent on a coupon at checkout (hold, then
//!    capture), and refunds that take a purchase's points back.
//!
//! ```text
//! cargo run --example learning_platform
//! ```
//!
//! The library does no I/O and never reads the clock: "today" is a constant
//! below, and randomness comes from a seeded generator, so every run prints
//! the same report.

use chrono::{DateTime, FixedOffset, TimeDelta, Utc};
use growthkit::analytics::{FunnelSpec, FunnelTally, Ratio, RetentionSpec, StickinessSpec};
use growthkit::batch::EventLog;
use growthkit::dedupe::Admission;
use growthkit::lifecycle::{Cause, Lifecycle, PolicySpec, Stage, StageCounts, replay};
use growthkit::points::{
    Ledger, Portion, Program, ProgramSpec, Reversal, Streak, StreakRules, StreakSpec, TierChange,
    TierLadder, TierLadderSpec, TierStatus, Totals,
};
use growthkit::store::{MemoryStore, Versioned, VersionedStore, update};
use growthkit::{
    AttrValue, CouponId, Currency, Event, EventId, EventKind, LocalDay, Money, UserId,
};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use std::collections::BTreeMap;
use std::convert::Infallible;

/// The lifecycle policy as operators write it, with days counted in Beijing
/// time. Refunds and coupon redemptions are not "activity": a learner who only
/// asks for their money back is not engaged.
const POLICY_JSON: &str = r#"{
    "utc_offset": "+08:00",
    "activity": ["signed_up", "action_completed", "check_in", "purchase", "trial_started"],
    "activation": { "key_actions": ["action_completed:lesson"], "required": 1, "within_days": 7 },
    "retention": { "active_days": 3, "window_days": 14 },
    "loyal_payments": 4,
    "idle": { "at_risk_days": 7, "dormant_days": 30, "churned_days": 90 }
}"#;

/// The first day of the simulation (a Monday) and the instant the report is made.
const START: &str = "2026-03-02T00:00:00+08:00";
const TODAY: &str = "2026-06-01T09:00:00+08:00";

/// The points program: 10 points a lesson (3 a day), a check-in a day,
/// streak bonuses, 1 point per ¥10 spent (pending for the 7-day return
/// window), and a welcome bonus for a trial or a first coupon.
const POINTS_JSON: &str = r#"{
    "utc_offset": "+08:00",
    "expiry": { "type": "after_months", "months": 12, "round_up_to": "quarter" },
    "rules": [
        { "name": "lesson", "on": "action_completed:lesson",
          "reward": { "type": "fixed", "points": 10 }, "daily_cap": { "count": 3 } },
        { "name": "check_in", "on": "check_in",
          "reward": { "type": "fixed", "points": 2 }, "daily_cap": { "count": 1 } },
        { "name": "streak_3", "on": "custom:streak_3", "reward": { "type": "fixed", "points": 10 } },
        { "name": "streak_7", "on": "custom:streak_7", "reward": { "type": "fixed", "points": 50 } },
        { "name": "purchase", "on": "purchase", "pending_days": 7,
          "reward": { "type": "per_amount", "points": 1, "per_minor": 1000,
                      "rounding": "down", "currency": "CNY" } },
        { "name": "trial", "on": "trial_started",
          "reward": { "type": "fixed", "points": 20 }, "lifetime_cap": { "count": 1 } },
        { "name": "first_coupon", "on": "coupon_redeemed",
          "reward": { "type": "fixed", "points": 20 }, "lifetime_cap": { "count": 1 } }
    ]
}"#;

/// Check-in streaks: a bonus at 3 days in a row and every 7; two missed days
/// a month are forgiven. The program's `streak_<day>` rules pay them.
const STREAK_JSON: &str = r#"{
    "milestones": [ { "day": 3, "points": 10 }, { "day": 7, "points": 50, "repeat_every": 7 } ],
    "make_up": { "per_month": 2 }
}"#;

/// Tiers on points earned over the last 365 days, kept 30 days after falling below.
const TIERS_JSON: &str = r#"{
    "basis": { "type": "points" },
    "window": { "type": "rolling_days", "days": 365 },
    "grace": { "type": "days", "days": 30 },
    "tiers": [
        { "name": "member", "threshold": 0 },
        { "name": "silver", "threshold": 200, "multiplier": 1.2 },
        { "name": "gold", "threshold": 400, "multiplier": 1.5, "benefits": "free workbook" }
    ]
}"#;

/// Streak bonuses are events of their own, with ids far from the host's.
const BONUS_IDS: u64 = 1_000_000_000;
/// What a ¥10 coupon costs in points.
const COUPON_POINTS: u64 = 100;

const LEARNERS: u64 = 300;
/// The learner whose story the online path follows.
const MEI: UserId = UserId(1);
const SPRING_COUPON: CouponId = CouponId(618);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // ── 1. The policy ──────────────────────────────────────────────────────
    heading("1. The lifecycle policy (JSON, as operators write it)");
    let policy = serde_json::from_str::<PolicySpec>(POLICY_JSON)?.validate()?;
    let (spec, idle) = (policy.spec(), policy.spec().idle);
    println!(
        "valid: days counted in UTC{}; activated by {} lesson within {} days;",
        spec.utc_offset, spec.activation.required, spec.activation.within_days
    );
    println!(
        "       retained at {} active days in {}; loyal at {} payments;",
        spec.retention.active_days, spec.retention.window_days, spec.loyal_payments
    );
    println!(
        "       at risk / dormant / churned after {} / {} / {} idle days",
        idle.at_risk_days, idle.dormant_days, idle.churned_days
    );
    // Mistakes are caught before anything runs: typos when parsing, bad
    // thresholds when validating. Each message names the field at fault.
    let typo = POLICY_JSON.replace("\"at_risk_days\"", "\"at_risk\"");
    if let Err(e) = serde_json::from_str::<PolicySpec>(&typo) {
        println!("a typo:     {e}");
    }
    let bad_edit = POLICY_JSON.replace("\"dormant_days\": 30", "\"dormant_days\": 5");
    if let Err(e) = serde_json::from_str::<PolicySpec>(&bad_edit)?.validate() {
        println!("a bad edit: {e}");
    }

    // ── 2. Simulate ────────────────────────────────────────────────────────
    heading("2. Thirteen weeks of learners (simulated, seed 2026)");
    let zone: FixedOffset = *policy.zone();
    let start = DateTime::parse_from_rfc3339(START)?.with_timezone(&Utc);
    let today = DateTime::parse_from_rfc3339(TODAY)?.with_timezone(&Utc);
    let cny: Currency = "CNY".parse()?;
    let mut rng = StdRng::seed_from_u64(2026);
    let events = simulate(&mut rng, start, today, cny);

    // The acquisition channel travels as an attribute of the sign-up event.
    let channel_of: BTreeMap<UserId, Channel> = events
        .iter()
        .filter(|e| e.kind == EventKind::SignedUp)
        .filter_map(|e| {
            let name = e.attrs.get("channel").and_then(AttrValue::as_str)?;
            Some((e.user, Channel::named(name)?))
        })
        .collect();
    // Money is integer fen: sums are exact.
    let revenue = events.iter().fold(0, |sum, e| match &e.kind {
        EventKind::Purchase { amount } => sum + amount.minor,
        EventKind::Refund { amount } => sum - amount.minor,
        _ => sum,
    });
    let learners = |c| channel_of.values().filter(|&&of| of == c).count();
    println!(
        "{} learners ({} coupon, {} trial, {} organic), net revenue {}",
        channel_of.len(),
        learners(Channel::Coupon),
        learners(Channel::Trial),
        learners(Channel::Organic),
        yuan(revenue)
    );
    // Hosts deliver events at least once: redeliver about 1 % of them.
    let mut delivered = Vec::with_capacity(events.len() + events.len() / 50);
    for event in events {
        if rng.random_bool(0.01) {
            delivered.push(event.clone());
        }
        delivered.push(event);
    }
    println!(
        "{} events delivered, some twice, as a real queue would",
        delivered.len()
    );
    // Group the log by learner once; both paths below read it.
    let log = EventLog::new(delivered);

    // ── 3. Online path ─────────────────────────────────────────────────────
    heading("3. Online: Mei's events, one at a time, through a versioned store");
    // A host keeps each learner's `Lifecycle` in its database; `MemoryStore`
    // stands in for it. `update` loads, applies a pure step, and saves only if
    // nobody else saved in between (compare-and-swap), retrying up to 3 times.
    let store: MemoryStore<UserId, Lifecycle> = MemoryStore::new();
    let fresh = || Lifecycle::new(MEI);
    for event in log.events_of(MEI) {
        update(&store, &MEI, 3, fresh, |state| policy.apply(state, event))?;
    }
    // Time passes with no events: `tick` makes the idle moves due by today.
    update(&store, &MEI, 3, fresh, |state| {
        Ok::<_, Infallible>(policy.tick(state, today))
    })?;
    let mei = store.load(&MEI)?.ok_or("Mei is stored")?;
    println!("Mei ({MEI}) came through the coupon campaign. Each stage change names its cause:");
    for t in mei.history() {
        let why = match t.cause {
            Cause::Event { id, kind } => format!("{id} {kind}"),
            Cause::Idle { days } => format!("idle {days} days"),
        };
        let at = t.at.with_timezone(&zone).format("%a %b %d %H:%M");
        println!("  {at}  {:<12} → {:<12} ← {why}", t.from, t.to);
    }
    println!(
        "now {}: {}, {} from dormant, state version {}",
        mei.stage(),
        count(mei.payments(), "payment"),
        count(mei.returns().into(), "return"),
        mei.version()
    );
    // Redelivering an event changes nothing: a recent one is recognised as a
    // duplicate; one older than the dedupe window is refused, not guessed at.
    let (first, last) = (log.events_of(MEI).first(), log.events_of(MEI).last());
    for event in [last, first].into_iter().flatten() {
        let applied = update(&store, &MEI, 3, fresh, |state| policy.apply(state, event))?;
        let verdict = match applied.admission {
            Admission::Duplicate => "a duplicate, ignored",
            Admission::TooLate => "older than the dedupe window, refused",
            _ => "applied",
        };
        let version = store.load(&MEI)?.map_or(0, |s| s.version());
        let (id, kind) = (event.id, &event.kind);
        println!("redelivered {id} ({kind}): {verdict}; version still {version}");
    }
    // A writer that loaded an older version is refused, and nothing is written.
    let stale = mei.version().saturating_sub(1);
    if let Err(e) = store.save(&MEI, &mei, Some(stale)) {
        println!("a stale writer (holding version {stale}) is refused: {e}");
    }

    // ── 4. Batch path ──────────────────────────────────────────────────────
    heading("4. Batch: the whole log replayed, stages as of today");
    // The same step function, run user by user over the grouped log.
    let mut run = replay(&policy, &log);
    run.tick_all(&policy, today);
    let s = run.summary();
    println!(
        "{} events applied, {} duplicates dropped, {} stage moves",
        s.applied, s.duplicates, s.transitions
    );
    let agree = run.get(MEI) == store.load(&MEI)?.as_ref();
    println!("batch and online agree on Mei's state: {agree}\n");
    // Stage counts for everyone, and for each channel's learners.
    let by_channel = Channel::ALL.map(|channel| {
        run.states()
            .iter()
            .filter(|state| channel_of.get(&state.user()) == Some(&channel))
            .map(Lifecycle::stage)
            .collect::<StageCounts>()
    });
    let counts = run.stage_counts();
    let widest = counts.iter().map(|(_, n)| n).max().unwrap_or(1);
    println!("stage          coupon  trial  organic  total");
    for (stage, n) in counts.iter().filter(|&(stage, _)| stage != Stage::Prospect) {
        let [c, t, o] = by_channel.map(|counts| counts.get(stage));
        let (name, bar) = (stage.name(), bar(n, widest, 30));
        let line = format!("{name:<12} {c:>8} {t:>6} {o:>8} {n:>6}  {bar}");
        println!("{}", line.trim_end());
    }

    // ── 5. Analytics ───────────────────────────────────────────────────────
    heading("5a. Funnel: sign-up → lesson → purchase within 14 days");
    let funnel = serde_json::from_str::<FunnelSpec>(
        r#"{ "steps": ["signed_up", "action_completed:lesson", "purchase"],
             "window_seconds": 1209600 }"#,
    )?
    .validate()?;
    // One builder per channel (as if each ran on its own machine), merged at
    // the end: the channels have disjoint learners, so the tallies add up.
    let mut total = FunnelTally::empty(funnel.clone());
    let mut by_channel = Vec::new();
    for channel in Channel::ALL {
        let mut builder = funnel.builder();
        builder.extend(
            log.events()
                .iter()
                .filter(|e| channel_of.get(&e.user) == Some(&channel)),
        );
        let tally = builder.finish();
        by_channel.push((channel, tally.report()));
        total.merge(tally)?;
    }
    let report = total.report();
    println!("step                      learners  from prev  overall  median wait");
    for (k, step) in report.steps.iter().enumerate() {
        // Step 1 has no previous step to convert from or to wait after.
        let from_previous = if k == 0 {
            String::new()
        } else {
            pct(step.from_previous)
        };
        let wait = (step.median_ms_from_previous)
            .map_or(String::new(), |ms| format!("{:.1} h", ms as f64 / 3.6e6));
        let (name, users, overall) = (step.step.to_string(), step.users, pct(step.overall));
        let line = format!("{name:<24} {users:>9} {from_previous:>10} {overall:>8} {wait:>12}");
        println!("{}", line.trim_end());
    }
    println!("\nchannel   lesson   paid   (within 14 days of sign-up)");
    for (channel, report) in by_channel {
        let lesson = report
            .steps
            .get(1)
            .map_or(String::new(), |s| pct(s.overall));
        println!(
            "{:<8} {lesson:>7} {:>6}",
            channel.name(),
            pct(report.converted)
        );
    }

    heading("5b. Retention by weekly cohort (studied again on or after day N)");
    let retention = serde_json::from_str::<RetentionSpec>(
        r#"{ "cohort": { "by": "week" }, "max_n": 28,
             "activity": ["action_completed:lesson", "check_in", "purchase"] }"#,
    )?
    .validate()?;
    let mut builder = retention.builder(today);
    builder.extend(log.events());
    let table = builder.finish(&zone).report();
    println!("week of      learners  day 1  day 7  day 14  day 28");
    for row in &table.cohorts {
        let cells: Vec<String> = [1, 7, 14, 28]
            .iter()
            .map(|&n| {
                row.intervals
                    .get(n)
                    .map_or(String::new(), |c| pct(c.returned_on_or_after))
            })
            .collect();
        println!(
            "{}  {:>8} {:>6} {:>6} {:>7} {:>7}",
            row.cohort, row.users, cells[0], cells[1], cells[2], cells[3]
        );
    }
    println!("(a cell counts the learners whose day N has begun, so the newest cells are");
    println!(" still filling in; — means no learner has reached day N yet)");

    heading("5c. Stickiness: studying (lesson or check-in), last 30 days");
    let yesterday = LocalDay::of(today, &zone)
        .checked_add_days(-1)
        .ok_or("today is not the first day of the calendar")?;
    let stickiness = StickinessSpec {
        last_day: yesterday,
        window_days: 30,
        activity: vec!["action_completed:lesson".parse()?, "check_in".parse()?],
    }
    .validate()?;
    let mut builder = stickiness.builder(zone);
    builder.extend(log.events());
    let sticky = builder.finish().report();
    let average_dau = sticky.average_daily_active.value().unwrap_or(0.0);
    println!(
        "{} … {}: MAU {}, average DAU {average_dau:.1}, DAU/MAU {}",
        sticky.period_start,
        sticky.last_day,
        sticky.period_active,
        pct(sticky.dau_mau)
    );
    println!("daily actives  {}", sparkline(&sticky.daily_active));
    let three_plus = sticky.at_least.get(2).copied().unwrap_or_default();
    println!(
        "last 7 days: {} learners studied, {} of them on 3 or more days",
        sticky.weekly_active,
        pct(three_plus)
    );

    // ── 6. Seeds for the study group ───────────────────────────────────────
    heading("6. Seeds for a study group: paying learners who study most");
    let mut seeds: Vec<&Lifecycle> = run
        .states()
        .iter()
        .filter(|s| s.payments() > 0 && !s.stage().is_idle())
        .collect();
    let recent = |s: &Lifecycle| s.active_days_in(yesterday, 14);
    seeds.sort_by_key(|s| (std::cmp::Reverse((recent(s), s.payments())), s.user()));
    for s in seeds.iter().take(5) {
        let channel = channel_of.get(&s.user()).map_or("?", |c| c.name());
        println!(
            "{:<9} {channel:<8} {:<13} {:>2} of the last 14 days, {}",
            s.user().to_string(),
            s.stage().name(),
            recent(s),
            count(s.payments(), "payment")
        );
    }

    // ── 7. Points ──────────────────────────────────────────────────────────
    heading("7. Points: lessons, streaks, purchases; tiers; a coupon; refunds");
    let program = serde_json::from_str::<ProgramSpec>(POINTS_JSON)?.validate()?;
    let streak_rules = serde_json::from_str::<StreakSpec>(STREAK_JSON)?.validate()?;
    let ladder = serde_json::from_str::<TierLadderSpec>(TIERS_JSON)?.validate()?;
    // Every learner's events, redeliveries included, through the program.
    let mut members = BTreeMap::new();
    for (user, events) in log.runs() {
        let member = earn_points(&program, &streak_rules, &ladder, events, today)?;
        members.insert(user, member);
    }
    let totals: Vec<Totals> = members.values().map(|m| m.ledger.totals(today)).collect();
    let sum = |part: fn(&Totals) -> u64| totals.iter().map(part).sum::<u64>();
    let (earned, spendable) = (sum(|t| t.earned), sum(|t| t.spendable));
    let pending = sum(|t| t.pending);
    println!(
        "{earned} points earned: {spendable} spendable today, {pending} pending (return window)"
    );
    let bonuses: u64 = members.values().map(|m| m.bonuses).sum();
    println!("{bonuses} check-in streak bonuses paid");
    // Tiers count points earned (so spending never demotes). This example
    // earns at ×1 through `Program::apply`; the multiplier shown is what a
    // tier-aware earning step would be given.
    for tier in ladder.tiers() {
        let n = members
            .values()
            .filter(|m| m.tier.tier() == &tier.name)
            .count();
        let benefits = tier
            .benefits
            .as_ref()
            .map_or(String::new(), |b| format!(", {b}"));
        println!(
            "{:>4} {:<7} (from {:>3} points in 365 days: earns {}{benefits})",
            n, tier.name, tier.threshold, tier.multiplier
        );
    }
    // Every tier change says why: the first learner to reach the top tier.
    let top = ladder.tiers().last().map(|t| &t.name);
    let first_to_top = members
        .iter()
        .flat_map(|(user, m)| m.tier_changes.iter().map(move |c| (user, c)))
        .filter(|(_, c)| Some(&c.to) == top)
        .min_by_key(|(user, c)| (c.at, **user));
    if let Some((user, change)) = first_to_top {
        let day = LocalDay::of(change.at, &zone);
        println!("first to the top: {user} on {day}, {change}");
    }
    // A refund takes the purchase's points back (still pending, so from the
    // purchase's own lot) and the tier's qualifying points with them.
    let refunds: Vec<(&UserId, &Reversal)> = members
        .iter()
        .flat_map(|(user, m)| m.refunds.iter().map(move |r| (user, r)))
        .collect();
    let reversed: u64 = refunds.iter().map(|(_, r)| r.points).sum();
    println!("{} refunds reversed {reversed} points:", refunds.len());
    for (user, r) in &refunds {
        for entry in &r.entries {
            println!("  {user:<8} {entry}");
        }
    }
    // Refunded within the return window, the points were still pending in
    // the purchase's own lot: all of them come back, nobody owes anything.
    assert!(refunds.iter().all(|(_, r)| r.taken_back == r.points));

    // Mei spends 100 points on a ¥10 coupon at checkout: the points are held
    // while she pays, and captured once the order goes through.
    let mei_points = members.get_mut(&MEI).ok_or("Mei has points")?;
    let tier = ladder.current(&mei_points.tier)?;
    let before = mei_points.ledger.spendable(today);
    println!(
        "\nMei: {} tier ({}), longest streak {} days, {before} points spendable",
        tier.name,
        tier.multiplier,
        mei_points.streak.longest()
    );
    let order = "order-2026-0601-mei";
    let held = mei_points.ledger.hold(order.into(), COUPON_POINTS, today)?;
    let paid = today + TimeDelta::minutes(2);
    let captured = mei_points.ledger.capture(order.into(), paid)?.points();
    let again = mei_points.ledger.capture(order.into(), paid)?;
    println!(
        "checkout {order}: held {}, captured {captured} (a retried capture: repeated = {})",
        held.points,
        again.repeated()
    );
    println!("Mei's statement, latest entries:");
    for entry in mei_points.ledger.statement().rev().take(6).rev() {
        println!("  {entry}");
    }
    assert_eq!(mei_points.ledger.spendable(paid), before - COUPON_POINTS);
    for member in members.values() {
        member.ledger.check()?;
    }

    println!("\nNext: `cargo doc --open` for the API, `cargo test` for the guarantees behind it.");
    Ok(())
}

/// One learner's points: the ledger, the check-in streak and the tier.
struct PointsMember {
    ledger: Ledger,
    streak: Streak,
    tier: TierStatus,
    bonuses: u64,
    /// The reversals its refunds made.
    refunds: Vec<Reversal>,
    /// Its tier changes, each with its reason.
    tier_changes: Vec<TierChange>,
}

/// Runs one learner's events through the points program: earnings (with
/// streak bonuses and tier progress), and refunds reversing the purchase
/// they refund. Returns the learner's points and the reversals made.
fn earn_points(
    program: &Program,
    streak_rules: &StreakRules,
    ladder: &TierLadder,
    events: &[Event],
    today: DateTime<Utc>,
) -> Result<PointsMember, Box<dyn std::error::Error>> {
    let zone = *program.zone();
    let first = events.first().ok_or("a learner has events")?;
    let mut m = PointsMember {
        ledger: program.new_ledger(),
        streak: Streak::new(),
        tier: ladder.start(first.at, &zone),
        bonuses: 0,
        refunds: Vec::new(),
        tier_changes: Vec::new(),
    };
    for event in events {
        if let EventKind::Refund { amount } = event.kind {
            // The purchase refunded: the latest one of the same amount.
            let bought = EventKind::Purchase { amount };
            let paid = events
                .iter()
                .rev()
                .find(|e| e.at < event.at && e.kind == bought);
            let Some(paid) = paid else { continue };
            let key = format!("refund-{}", event.id.get());
            let back = program.reverse(
                &mut m.ledger,
                key.into(),
                paid.id,
                Portion::Whole {},
                event.at,
            )?;
            if !back.repeated {
                let why = format!("refund {}", event.id);
                ladder.retract(&mut m.tier, paid.at, event.at, back.points, why, &zone)?;
                m.refunds.push(back);
            }
            continue;
        }
        let earned = program.apply(&mut m.ledger, event)?;
        let step = ladder.record(&mut m.tier, event.at, earned.total, &zone)?;
        m.tier_changes.extend(step.change);
        if earned.duplicate || !matches!(event.kind, EventKind::CheckIn { .. }) {
            continue;
        }
        for hit in streak_rules
            .check_in(&mut m.streak, event.at, &zone)?
            .milestones
        {
            let id = EventId(BONUS_IDS + event.id.get() * 100 + u64::from(hit.milestone));
            let name = format!("streak_{}", hit.milestone).into();
            let bonus = Event::new(id, event.user, event.at, EventKind::Custom { name });
            let paid = program.apply(&mut m.ledger, &bonus)?;
            assert_eq!(
                paid.total, hit.points,
                "the program pays what the streak promised"
            );
            let step = ladder.record(&mut m.tier, event.at, paid.total, &zone)?;
            m.tier_changes.extend(step.change);
            m.bonuses += 1;
        }
    }
    ladder.evaluate(&mut m.tier, today, &zone)?;
    Ok(m)
}

/// Mei's story, written out by hand; everyone else is random.
fn mei_script(cny: Currency) -> Vec<(i64, i64, i64, EventKind)> {
    let (lesson, check_in) = (lesson(), EventKind::CheckIn { community: None });
    let pay = |yuan: i64| EventKind::Purchase {
        amount: Money::new(yuan * 100, cny),
    };
    let coupon = EventKind::CouponRedeemed {
        coupon: SPRING_COUPON,
    };
    let mut script = vec![
        (0, 20, 5, EventKind::SignedUp),
        (0, 20, 7, coupon),
        (0, 20, 30, lesson.clone()), // activated
        (1, 7, 45, check_in.clone()),
        (2, 21, 0, lesson.clone()), // third active day in 14: retained
        (2, 21, 40, pay(99)),       // the coupon price: converted
        (5, 21, 10, lesson.clone()),
        // Five weeks of silence: at risk, then dormant. A push brings her back.
        (41, 20, 0, lesson.clone()),
        (42, 7, 30, check_in.clone()),
        (43, 20, 15, lesson.clone()),
        (43, 20, 40, pay(199)), // second payment: repeat buyer
    ];
    // Then a steadier habit, with a short lapse after day 56.
    for day in [45, 47, 50, 52, 56, 64, 66, 70, 73, 77, 80, 85] {
        script.push((day, 7, 40, check_in.clone()));
    }
    script.push((73, 21, 0, pay(199)));
    script
}

/// Every learner's events, in time order, numbered in that order.
fn simulate(
    rng: &mut StdRng,
    start: DateTime<Utc>,
    today: DateTime<Utc>,
    cny: Currency,
) -> Vec<Event> {
    let mut events = Vec::new();
    // A host's event ids come from its database; here events are numbered
    // once sorted, so a placeholder id will do until then.
    let new = |user, at, kind| Event::new(EventId(0), user, at, kind);
    let mut push = |event: Event| {
        if event.at < today {
            events.push(event);
        }
    };
    let local = |day: i64, minute: i64| start + TimeDelta::days(day) + TimeDelta::minutes(minute);
    let minutes = TimeDelta::minutes;
    let pay = |minor| EventKind::Purchase {
        amount: Money::new(minor, cny),
    };
    let refund = |minor| EventKind::Refund {
        amount: Money::new(minor, cny),
    };

    for (day, h, m, kind) in mei_script(cny) {
        let event = new(MEI, local(day, h * 60 + m), kind);
        match event.kind {
            EventKind::SignedUp => push(event.with_attr("channel", Channel::Coupon.name())),
            _ => push(event),
        }
    }
    let horizon = (today - start).num_days();
    for user in (2..=LEARNERS).map(UserId) {
        let channel = Channel::ALL[rng.random_range(0..Channel::ALL.len())];
        // A growing platform: more sign-ups each week than the week before.
        let signup_day = (rng.random::<f64>().powf(0.7) * 88.0) as i64;
        let signup = local(signup_day, rng.random_range(8 * 60..23 * 60));
        push(new(user, signup, EventKind::SignedUp).with_attr("channel", channel.name()));
        let (p_activate, p_pay, p_daily) = match channel {
            Channel::Coupon => {
                let redeemed = EventKind::CouponRedeemed {
                    coupon: SPRING_COUPON,
                };
                push(new(user, signup + minutes(2), redeemed));
                (0.70, 0.70, 0.45)
            }
            Channel::Trial => {
                push(new(user, signup + minutes(1), EventKind::TrialStarted));
                (0.90, 0.30, 0.55)
            }
            Channel::Organic => (0.55, 0.20, 0.40),
        };
        if !rng.random_bool(p_activate) {
            continue; // signed up and never took a lesson
        }
        // Most take a first lesson within 3 days; some only after a week.
        let late = if rng.random_bool(0.1) { 7 * 24 * 60 } else { 0 };
        let first_lesson = signup + minutes(rng.random_range(10..3 * 24 * 60) + late);
        push(new(user, first_lesson, lesson()));

        // The habit lasts a while; a quarter come back weeks after it ends.
        let first_day = (first_lesson - start).num_days();
        let quits = first_day + 3 + (rng.random::<f64>().powf(1.5) * 90.0) as i64;
        let comeback = quits + rng.random_range(20..45);
        let returns = rng.random_bool(0.25);
        let studying = |day| day < quits || (returns && (comeback..comeback + 10).contains(&day));
        for day in first_day + 1..horizon {
            if !studying(day) || !rng.random_bool(p_daily) {
                continue;
            }
            if rng.random_bool(0.6) {
                let morning = local(day, rng.random_range(7 * 60..9 * 60));
                push(new(user, morning, EventKind::CheckIn { community: None }));
            }
            let evening = local(day, rng.random_range(19 * 60..21 * 60));
            push(new(user, evening, lesson()));
            if rng.random_bool(0.04) {
                // A ¥49 workbook, bought after the evening lesson.
                push(new(user, evening + minutes(30), pay(4_900)));
            }
        }

        // Coupon learners pay ¥99 right after their first lesson, trial
        // learners ¥199 when the 7-day trial ends, organic ones within days.
        if !rng.random_bool(p_pay) {
            continue;
        }
        let first_pay = match channel {
            Channel::Coupon => (first_lesson + minutes(rng.random_range(15..2_880)), 9_900),
            Channel::Trial => (signup + TimeDelta::days(7), 19_900),
            Channel::Organic => (first_lesson + minutes(rng.random_range(60..14_400)), 19_900),
        };
        let mut payments = vec![first_pay];
        for month in 1..=3 {
            // Monthly renewals, while the learner still studies.
            let at = first_pay.0 + TimeDelta::days(30 * month);
            if studying((at - start).num_days()) && rng.random_bool(0.8) {
                payments.push((at, 19_900));
            }
        }
        for (at, minor) in payments {
            push(new(user, at, pay(minor)));
            if rng.random_bool(0.05) {
                push(new(user, at + TimeDelta::days(2), refund(minor)));
            }
        }
    }
    // A stable sort: events at the same instant keep the order they were made in.
    events.sort_by_key(|e| (e.at, e.user));
    for (n, event) in (1..).zip(events.iter_mut()) {
        event.id = EventId(n);
    }
    events
}

/// Where a learner came from.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Channel {
    Coupon,
    Trial,
    Organic,
}

impl Channel {
    const ALL: [Channel; 3] = [Channel::Coupon, Channel::Trial, Channel::Organic];

    fn named(name: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.name() == name)
    }

    fn name(self) -> &'static str {
        match self {
            Channel::Coupon => "coupon",
            Channel::Trial => "trial",
            Channel::Organic => "organic",
        }
    }
}

fn lesson() -> EventKind {
    EventKind::ActionCompleted {
        action: "lesson".into(),
    }
}

/// "lesson" for a lesson, the kind's name otherwise.
fn heading(title: &str) {
    println!("\n{title}\n{}", "─".repeat(title.chars().count()));
}

fn pct(r: Ratio) -> String {
    r.value()
        .map_or("—".to_owned(), |v| format!("{:.0} %", v * 100.0))
}

/// Fen as yuan, digits grouped in threes: `¥12,345.00`.
fn yuan(minor: i64) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let digits = (minor.unsigned_abs() / 100).to_string();
    let mut grouped = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    format!("{sign}¥{grouped}.{:02}", minor.unsigned_abs() % 100)
}

/// "1 payment", "3 payments".
fn count(n: u32, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

fn bar(n: u64, max: u64, width: u64) -> String {
    "█".repeat((n * width).div_ceil(max.max(1)) as usize)
}

fn sparkline(values: &[u64]) -> String {
    const TICKS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let max = values.iter().copied().max().unwrap_or(0).max(1);
    values
        .iter()
        .map(|&v| TICKS[(v * 7 / max) as usize])
        .collect()
}
