//! # A report for a developer community
//!
//! The second reference story of `growthkit`: a Rust user group in Shanghai.
//! Ada founds the official group with two admins; enthusiasts join by
//! invitation, post topics, answer each other, react and share; a points
//! program rewards taking part; discussions grow a few members' influence;
//! and, when the group announces a paid course, sales follow.
//!
//! This example simulates eight weeks of the group and prints the report its
//! operators would read:
//!
//! 1. membership and roles: invitations, an admin banning a spammer, and
//!    the refusals the permission table gives;
//! 2. a points program (JSON) with caps, check-in streaks and invite bonuses;
//! 3. engagement scores with decay and pair damping: a pair of members who
//!    like each other all day earn little;
//! 4. member levels on the Discourse trust-levels ladder;
//! 5. the group's health report;
//! 6. content heat, and the topics to amplify, with reasons;
//! 7. the interaction graph and its most influential members;
//! 8. sales: conversion among engaged members and among the others.
//!
//! ```text
//! cargo run --example tech_community
//! ```
//!
//! Every instant is a constant or derived from one, and randomness comes from
//! a seeded generator: every run prints the same report. The `assert!`s
//! state what the story shows, so the example fails loudly if it stops
//! being true.

use chrono::{DateTime, FixedOffset, TimeDelta, Utc};
use growthkit::analytics::Ratio;
use growthkit::batch::EventLog;
use growthkit::community::graph::{self, GraphBuilder, InteractionGraph, Propagation};
use growthkit::community::{
    Community, ContentHeat, EngagementModel, EngagementModelSpec, HealthSpec, HeatModelSpec,
    Interaction, InteractionLog, LevelChange, LevelInputs, LevelLadder, MemberActivity,
    MemberLevel, MemberScore, Side, score_log,
};
use growthkit::lifecycle::{PolicySpec, Stage, StageCounts, replay};
use growthkit::points::{Ledger, ProgramSpec, Streak, StreakSpec};
use growthkit::{
    CommunityId, ContentId, Currency, Event, EventId, EventKind, LocalDay, Money, TopicId, UserId,
};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use std::collections::{BTreeMap, BTreeSet};
use std::error::Error;

/// The points program as operators write it. Reactions earn nothing (they
/// are too easy to farm); a reply accepted as the answer earns most.
const POINTS_JSON: &str = r#"{
    "utc_offset": "+08:00",
    "expiry": { "type": "after_months", "months": 12, "round_up_to": "quarter" },
    "rules": [
        { "name": "topic", "on": "post", "reward": { "type": "fixed", "points": 10 },
          "daily_cap": { "count": 2 } },
        { "name": "reply", "on": "reply", "reward": { "type": "fixed", "points": 3 },
          "daily_cap": { "points": 15 } },
        { "name": "helpful_reply", "on": "custom:answer_accepted",
          "reward": { "type": "fixed", "points": 20 }, "daily_cap": { "count": 3 } },
        { "name": "check_in", "on": "check_in", "reward": { "type": "fixed", "points": 2 },
          "daily_cap": { "count": 1 } },
        { "name": "streak_7", "on": "custom:streak_7", "reward": { "type": "fixed", "points": 30 } },
        { "name": "streak_30", "on": "custom:streak_30", "reward": { "type": "fixed", "points": 150 } },
        { "name": "invite", "on": "invite_accepted", "reward": { "type": "fixed", "points": 50 },
          "lifetime_cap": { "count": 5 } },
        { "name": "purchase", "on": "purchase", "pending_days": 7,
          "reward": { "type": "per_amount", "points": 1, "per_minor": 1000, "rounding": "down" } }
    ]
}"#;

/// Check-in streaks: a bonus at 7 days (again every 7) and at 30; one missed
/// day a month is forgiven. Each milestone is paid by the program rule
/// `streak_<day>` above.
const STREAK_JSON: &str = r#"{
    "milestones": [ { "day": 7, "points": 30, "repeat_every": 7 }, { "day": 30, "points": 150 } ],
    "make_up": { "per_month": 1 }
}"#;

/// Heat: shares weigh most; a topic trends at twice its weekly rate.
const HEAT_JSON: &str = r#"{
    "weights": { "view": 1, "click": 2, "share": 8, "reply": 5, "reaction": 2 },
    "half_life_hours": 24, "baseline_half_life_hours": 168,
    "trending_velocity": 2, "min_heat": 20
}"#;

/// The lifecycle of a member as a customer: taking part is activity.
const POLICY_JSON: &str = r#"{
    "utc_offset": "+08:00",
    "activity": ["post", "reply", "reaction", "share", "check_in", "content_viewed",
                 "invite_accepted", "purchase"],
    "activation": { "key_actions": ["post", "reply"], "required": 1, "within_days": 14 },
    "retention": { "active_days": 3, "window_days": 14 },
    "loyal_payments": 3,
    "idle": { "at_risk_days": 7, "dormant_days": 21, "churned_days": 60 }
}"#;

/// The first day (a Monday), and the morning the report is made (day 56).
const START: &str = "2026-03-02T00:00:00+08:00";
const TODAY: &str = "2026-04-27T09:00:00+08:00";
const DAYS: i64 = 56;
/// The day the group announces its paid course.
const SALES_DAY: i64 = 42;

const GROUP: CommunityId = CommunityId(1);
const ADA: UserId = UserId(1);
const ADMINS: [UserId; 2] = [UserId(2), UserId(3)];
/// An honest, active member whose story the report follows.
const LIN: UserId = UserId(4);
/// Two members who react to each other all day long.
const KAI: UserId = UserId(5);
const MAX: UserId = UserId(6);
const SPAMMER: UserId = UserId(7);
/// Enthusiasts are users 10 to 69.
const ENTHUSIASTS: std::ops::RangeInclusive<u64> = 10..=69;
/// Streak bonuses are events of their own, with ids far from the host's.
const BONUS_IDS: u64 = 1_000_000;

const TOPICS: [(TopicId, &str); 5] = [
    (TopicId(1), "async"),
    (TopicId(2), "embedded"),
    (TopicId(3), "web"),
    (TopicId(4), "wasm"),
    (TopicId(5), "tooling"),
];
/// The topic the simulation makes hot in the last two days.
const HOT_TOPIC: TopicId = TopicId(2);

fn main() -> Result<(), Box<dyn Error>> {
    let start = DateTime::parse_from_rfc3339(START)?.with_timezone(&Utc);
    let today = DateTime::parse_from_rfc3339(TODAY)?.with_timezone(&Utc);
    let mut rng = StdRng::seed_from_u64(2026);
    let world = simulate(&mut rng, start)?;
    let (group, events) = (&world.group, &world.events);

    // ── 1. Membership ──────────────────────────────────────────────────────
    heading("1. The official group: owner, admins, invitations");
    let invited = group.members().filter(|(_, m)| m.invited_by.is_some());
    println!(
        "{GROUP}: {} members count ({} joined by invitation), {} events in 8 weeks",
        group.len(),
        invited.count(),
        events.len()
    );
    for (user, member) in group.members().filter(|(u, _)| *u <= SPAMMER) {
        let by = member
            .invited_by
            .map_or(String::new(), |u| format!(", invited by {}", who(u)));
        let since = local_date(member.joined_at);
        println!("  {:<12} {:<7} since {since}{by}", who(user), member.role);
    }
    for refusal in &world.refusals {
        println!("  refused: {refusal}");
    }
    assert!(
        !group.counts(SPAMMER),
        "a banned spammer counts for nothing"
    );

    // ── 2. Points ──────────────────────────────────────────────────────────
    heading("2. Points for taking part (JSON program: caps, streaks, invites)");
    let program = serde_json::from_str::<ProgramSpec>(POINTS_JSON)?.validate()?;
    let streak_rules = serde_json::from_str::<StreakSpec>(STREAK_JSON)?.validate()?;
    let zone: FixedOffset = *program.zone();
    let mut ledgers: BTreeMap<UserId, Ledger> = BTreeMap::new();
    let mut streaks: BTreeMap<UserId, Streak> = BTreeMap::new();
    let mut cut_by_cap: BTreeMap<String, u64> = BTreeMap::new();
    let mut cap_example = None;
    let mut bonuses = 0;
    for event in events {
        // An accepted invitation earns the inviter, not the newcomer.
        let earner = match event.kind {
            EventKind::InviteAccepted { inviter, .. } => inviter,
            _ => event.user,
        };
        let ledger = ledgers
            .entry(earner)
            .or_insert_with(|| program.new_ledger());
        let earned = program.apply(ledger, event)?;
        for award in earned.awards.iter().filter(|a| a.capped.is_some()) {
            *cut_by_cap.entry(award.rule.to_string()).or_default() += 1;
            if let (KAI, None, Some(cap)) = (earner, &cap_example, award.capped) {
                let day = LocalDay::of(event.at, &zone);
                cap_example = Some(format!(
                    "{} on {day}: {} worth {}, awarded {} ({})",
                    who(earner),
                    award.rule,
                    award.base,
                    award.points,
                    serde_json::to_string(&cap)?
                ));
            }
        }
        if matches!(event.kind, EventKind::CheckIn { .. }) {
            let streak = streaks.entry(earner).or_default();
            for hit in streak_rules.check_in(streak, event.at, &zone)?.milestones {
                bonuses += 1;
                let name = format!("streak_{}", hit.milestone);
                let bonus = Event::new(
                    EventId(BONUS_IDS + bonuses),
                    earner,
                    event.at,
                    EventKind::Custom { name: name.into() },
                );
                let paid = program.apply(ledger, &bonus)?;
                assert_eq!(
                    paid.total, hit.points,
                    "the program pays what the streak promised"
                );
            }
        }
    }
    let mut by_points: Vec<(&UserId, &Ledger)> = ledgers.iter().collect();
    by_points.sort_by_key(|(u, l)| (std::cmp::Reverse(l.earned()), **u));
    println!("member         earned  spendable  pending  longest streak");
    for (user, ledger) in by_points.iter().take(6) {
        let streak = streaks.get(user).map_or(0, Streak::longest);
        println!(
            "{:<12} {:>8} {:>10} {:>8} {:>9} days",
            who(**user),
            ledger.earned(),
            ledger.spendable(today),
            ledger.pending(today),
            streak
        );
    }
    let cuts: Vec<String> = cut_by_cap.iter().map(|(r, n)| format!("{r} {n}")).collect();
    println!("awards cut by a cap: {}", cuts.join(", "));
    if let Some(example) = cap_example {
        println!("  e.g. {example}");
    }
    println!("{bonuses} streak milestones paid");
    println!("(Kai and Max rank high: caps bound each day, but only the pair damping of");
    println!(" section 3 sees that they only ever talk to each other)");
    let lin_points = ledgers.get(&LIN).ok_or("Lin has points")?;
    // Each award names its rule: Lin's points, rule by rule.
    let by_rule: Vec<String> = program
        .spec()
        .rules
        .iter()
        .filter_map(|r| Some((&r.name, lin_points.counter(r.name.as_str())?)))
        .map(|(rule, c)| format!("{rule} {} ({}×)", c.points, c.count))
        .collect();
    println!("Lin's points by rule: {}", by_rule.join(", "));
    if let Some(last) = lin_points.statement().next_back() {
        println!("  her statement's latest line: {last}");
    }
    for ledger in ledgers.values() {
        ledger.check()?;
    }

    // ── 3. Engagement ──────────────────────────────────────────────────────
    heading("3. Engagement scores: decay, daily caps, pair damping");
    let model = EngagementModel::recommended();
    let spec = model.spec();
    println!(
        "model: half-life {} days, the k-th interaction of a pair in a day worth {}^(k-1)",
        spec.half_life_hours / 24,
        spec.pair_damping
    );
    // The membership is the standing: the banned spammer earns nobody anything.
    let log = InteractionLog::from_events(events);
    let scored = score_log(&model, &log, group);
    let score = |u: UserId| scored.get(u).map_or(0.0, |s| s.score(&model, today));
    let side = |u: UserId, side| {
        scored
            .get(u)
            .map_or(0.0, |s| s.side_score(&model, side, today))
    };
    let mut ranked: Vec<UserId> = group.members().map(|(u, _)| u).collect();
    ranked.sort_by(|a, b| score(*b).total_cmp(&score(*a)).then(a.cmp(b)));
    println!("member         score   given  received");
    for &user in ranked.iter().take(6) {
        let (g, r) = (side(user, Side::Given), side(user, Side::Received));
        println!(
            "{:<12} {:>7.1} {:>7.1} {:>9.1}",
            who(user),
            score(user),
            g,
            r
        );
    }
    let summary = scored.summary();
    println!(
        "{} credits, {} stopped by daily caps, {} voided (banned)",
        summary.credited, summary.capped, summary.not_counted
    );
    // The same log without pair damping: what the pair would have farmed.
    let undamped_spec = EngagementModelSpec {
        pair_damping: 1.0,
        ..spec.clone()
    };
    let undamped = undamped_spec.validate()?;
    let farmed = score_log(&undamped, &log, group);
    let farmed_score = |u: UserId| farmed.get(u).map_or(0.0, |s| s.score(&undamped, today));
    let rank_of = |u: UserId| ranked.iter().position(|&r| r == u).map_or(0, |p| p + 1);
    for pair in [KAI, MAX] {
        println!(
            "{:<5} score {:>5.1} (rank {:>2}); {:>6.1} without pair damping",
            who(pair),
            score(pair),
            rank_of(pair),
            farmed_score(pair)
        );
    }
    println!("Lin   score {:>5.1} (rank {:>2})", score(LIN), rank_of(LIN));
    // Why: Kai's reactions to Max on one day, credited one by one.
    let day = start + TimeDelta::days(20);
    let mut kai = MemberScore::new(KAI);
    let credits: Vec<String> = events
        .iter()
        .filter(|e| e.user == KAI && e.at >= day && e.at < day + TimeDelta::days(1))
        .filter_map(Interaction::from_event)
        .filter(|i| i.target == Some(MAX))
        .take(5)
        .map(|i| model.score_explained(&mut kai, &i, group))
        .map(|c| c.map(|c| format!("{} #{} {:.3}", c.kind, c.repeat, c.points)))
        .collect::<Result<_, _>>()?;
    println!("Kai → Max on {}: {} …", local_date(day), credits.join(", "));
    for pair in [KAI, MAX] {
        assert!(
            score(pair) < score(LIN),
            "the colluding pair scores below Lin"
        );
        assert!(
            farmed_score(pair) > 3.0 * score(pair),
            "damping is what stops them"
        );
    }
    assert_eq!(score(SPAMMER), 0.0, "a banned member scores nothing");

    // ── 4. Levels ──────────────────────────────────────────────────────────
    heading("4. Member levels: Discourse trust levels, stepped weekly");
    let ladder = LevelLadder::discourse_trust_levels();
    let (weekly, lin_changes) = step_levels(&ladder, group, events, start, today)?;
    let names: Vec<&str> = (0..=ladder.top()).filter_map(|l| ladder.name(l)).collect();
    println!(
        "week  {}",
        names.iter().map(|n| format!("{n:>9}")).collect::<String>()
    );
    for (week, counts) in weekly.iter().enumerate() {
        let cells: String = counts.iter().map(|n| format!("{n:>9}")).collect();
        println!("{:>4}  {cells}", week + 1);
    }
    for (at, change) in &lin_changes {
        let (from, to) = (ladder.name(change.from), ladder.name(change.to));
        let from_to = format!("{} → {}", from.unwrap_or("?"), to.unwrap_or("?"));
        println!(
            "Lin, {}: {from_to}, every requirement met:",
            local_date(*at)
        );
        for check in &change.checks {
            let requirement = serde_json::to_string(&check.requirement)?;
            println!("  {:>6} for {requirement}", check.actual);
        }
    }
    println!("(regular needs 500 topics entered in 100 days: a busy forum's numbers)");
    let last = weekly.last().ok_or("levels were stepped")?;
    assert!(
        last.get(2).is_some_and(|&n| n > 0),
        "some members reach trust level 2"
    );

    // ── 5. Health ──────────────────────────────────────────────────────────
    heading("5. The group's health, last 28 days");
    let yesterday = LocalDay::of(today, &zone)
        .checked_add_days(-1)
        .ok_or("today is not the first day of the calendar")?;
    let health = HealthSpec {
        window_days: 28,
        ..HealthSpec::new(yesterday)
    }
    .validate()?;
    let mut builder = health.builder(zone);
    // Invitations accepted are joins the builder sees in the events; the
    // others are reported by the host.
    for (user, member) in group.members().filter(|(_, m)| m.invited_by.is_none()) {
        builder.joined(user, GROUP, member.joined_at);
    }
    // A ban is a leave, as far as health goes.
    for &(user, at) in &world.banned {
        builder.left(user, GROUP, at);
    }
    builder.extend(events);
    let report = builder.finish();
    let h = report.community(GROUP).ok_or("the group has a report")?;
    let (dau, mau) = (h.average_daily_active, h.average_monthly_active);
    println!(
        "{} … {}: {} members, {} new, {} active; DAU {:.1}, MAU {:.1}, DAU/MAU {}",
        report.first_day,
        report.last_day,
        h.members,
        h.new_members,
        h.active_members,
        dau.value().unwrap_or(0.0),
        mau.value().unwrap_or(0.0),
        pct(h.stickiness)
    );
    let first_reply = h
        .median_ms_to_first_reply
        .map_or("—".into(), |ms| format!("{:.1} h", ms as f64 / 3.6e6));
    println!(
        "{} posts, {} answered (median first reply {first_reply}); new-member retention {}",
        h.posts,
        pct(h.reply_rate),
        pct(h.new_member_retention)
    );
    println!(
        "top 10% make {} of the activity (Gini {:.2}); reciprocity {}, density {}",
        pct(h.top_contributor_share),
        h.gini.value().unwrap_or(0.0),
        pct(h.reciprocity),
        pct(h.density)
    );
    let core: Vec<String> = h.core_members.iter().take(6).map(|&u| who(u)).collect();
    let more = h.core_members.len().saturating_sub(core.len());
    println!("core members: {} and {more} more", core.join(", "));
    assert!(h.core_members.contains(&LIN), "Lin is a core member");

    // ── 6. Heat ────────────────────────────────────────────────────────────
    heading("6. Content heat: the topics to amplify");
    let mut heat = ContentHeat::new(serde_json::from_str::<HeatModelSpec>(HEAT_JSON)?.validate()?);
    for post in &world.posts {
        heat.set_topic(post.content, post.topic);
    }
    for event in events {
        heat.apply(event);
    }
    println!("topic        heat  velocity (1: steady; 2 or more, with heat 20 or more: trending)");
    for (topic, name) in TOPICS {
        let t = heat
            .topic_trend(topic, today)
            .ok_or("every topic has heat")?;
        println!("{name:<9} {:>7.1} {:>9.1}", t.heat, t.velocity);
    }
    let amplify = heat.topics_to_amplify(today, 3);
    for a in &amplify {
        println!("amplify {}: {}", topic_name(a.topic), a.reason);
    }
    for t in heat.trending_content(today, 3) {
        let post = world.posts.iter().find(|p| p.content == t.content);
        let by = post.map_or(String::new(), |p| {
            format!(" by {} in {}", who(p.author), topic_name(p.topic))
        });
        println!("trending: {}{by}, heat {:.1}", t.content, t.trend.heat);
    }
    assert_eq!(
        amplify.first().map(|a| a.topic),
        Some(HOT_TOPIC),
        "the hot topic comes first"
    );

    // ── 7. Influence ───────────────────────────────────────────────────────
    heading("7. Who carries the discussion: the interaction graph");
    let mut builder = GraphBuilder::in_community(GROUP);
    builder.extend(events);
    let g = builder.finish();
    println!(
        "{} members, {} edges, reciprocity {}, density {}",
        graph::nodes(&g).len(),
        graph::edge_count(&g),
        pct(graph::reciprocity(&g)),
        pct(graph::density(&g))
    );
    // Influence flows against interaction: whoever replies to Lin was reached by Lin.
    let influence = graph::reversed(&g);
    let mut central: Vec<UserId> = graph::nodes(&g).to_vec();
    central.sort_by_key(|&u| (std::cmp::Reverse(graph::in_degree(&g, u)), u));
    println!("member        in-degree  expected reach (independent cascade, 500 runs)");
    for &user in central.iter().take(5).chain([&KAI]) {
        let reach = expected_reach(&influence, user, 500, &mut rng);
        println!(
            "{:<12} {:>10} {:>10.1}",
            who(user),
            graph::in_degree(&g, user),
            reach
        );
    }
    assert!(
        central.iter().take(5).any(|&u| u == LIN),
        "Lin is among the most central"
    );
    let pair = graph::edge_weight(&g, KAI, MAX).map_or(0, |w| w.interactions());
    println!("Kai → Max: {pair} interactions, one edge: in-degree counts members, not noise");
    assert!(
        graph::in_degree(&g, KAI) * 4 < graph::in_degree(&g, LIN),
        "the pair reaches few"
    );

    // ── 8. Sales ───────────────────────────────────────────────────────────
    heading("8. Sales follow: the course, by engagement before the launch");
    let policy = serde_json::from_str::<PolicySpec>(POLICY_JSON)?.validate()?;
    let log = EventLog::new(events.clone());
    let mut lifecycles = replay(&policy, &log);
    lifecycles.tick_all(&policy, today);
    // Engaged: the top third by engagement score the day the course launched.
    let launch = start + TimeDelta::days(SALES_DAY);
    let before = InteractionLog::from_events(events.iter().filter(|e| e.at < launch));
    let scored_before = score_log(&model, &before, group);
    let score_at_launch = |u: UserId| {
        scored_before
            .get(u)
            .map_or(0.0, |s| s.score(&model, launch))
    };
    let mut members: Vec<UserId> = group
        .members()
        .filter(|(u, _)| group.counts(*u))
        .map(|(u, _)| u)
        .collect();
    members.sort_by(|a, b| {
        score_at_launch(*b)
            .total_cmp(&score_at_launch(*a))
            .then(a.cmp(b))
    });
    let (engaged, others) = members.split_at(members.len() / 3);
    println!("group      members  bought  conversion  repeat  revenue");
    let mut rates = Vec::new();
    for (name, users) in [("engaged", engaged), ("others", others)] {
        let states: Vec<_> = users.iter().filter_map(|&u| lifecycles.get(u)).collect();
        let bought = states.iter().filter(|s| s.payments() > 0).count() as u64;
        let repeat = states.iter().filter(|s| s.payments() > 1).count();
        let revenue: i64 = events
            .iter()
            .filter(|e| users.contains(&e.user))
            .filter_map(|e| match e.kind {
                EventKind::Purchase { amount } => Some(amount.minor),
                _ => None,
            })
            .sum();
        let rate = Ratio::new(bought, users.len() as u64);
        println!(
            "{name:<9} {:>8} {bought:>7} {:>11} {repeat:>7}  ¥{}",
            users.len(),
            pct(rate),
            revenue / 100
        );
        rates.push(rate.value().unwrap_or(0.0));
        let stages: StageCounts = states.iter().map(|s| s.stage()).collect();
        let line: Vec<String> = stages
            .iter()
            .filter(|&(s, n)| n > 0 && s != Stage::Prospect)
            .map(|(s, n)| format!("{s} {n}"))
            .collect();
        println!("          stages: {}", line.join(", "));
    }
    assert!(rates[0] > rates[1], "engaged members convert better");
    Ok(())
}

/// Members per level, one row a week.
type Weekly = Vec<Vec<u64>>;
/// A member's level changes, with when they happened.
type Promotions = Vec<(DateTime<Utc>, LevelChange)>;

/// Steps every member's level at the end of each week up to today, recording
/// activity in time order; returns the members per level each week and Lin's
/// promotions.
fn step_levels(
    ladder: &LevelLadder,
    group: &Community,
    events: &[Event],
    start: DateTime<Utc>,
    today: DateTime<Utc>,
) -> Result<(Weekly, Promotions), Box<dyn Error>> {
    let mut activity: BTreeMap<UserId, MemberActivity> = BTreeMap::new();
    let mut levels: BTreeMap<UserId, MemberLevel> = group
        .members()
        .map(|(u, _)| (u, MemberLevel::new(u)))
        .collect();
    let (mut weekly, mut lin) = (Vec::new(), Vec::new());
    let mut step_all = |at: DateTime<Utc>, activity: &BTreeMap<UserId, MemberActivity>| {
        let mut counts = vec![0u64; usize::from(ladder.top()) + 1];
        for (&user, level) in levels.iter_mut().filter(|(u, _)| group.counts(**u)) {
            let none = MemberActivity::new(user);
            let inputs = LevelInputs {
                joined_at: group.member(user).map(|m| m.joined_at),
                top_fraction: None,
            };
            let change = ladder.step(level, activity.get(&user).unwrap_or(&none), inputs, at)?;
            if let (LIN, Some(change)) = (user, change) {
                lin.push((at, change));
            }
            if let Some(n) = counts.get_mut(usize::from(level.level())) {
                *n += 1;
            }
        }
        weekly.push(counts);
        Ok::<_, Box<dyn Error>>(())
    };
    let mut week_end = start + TimeDelta::days(7);
    for event in events {
        while event.at >= week_end {
            step_all(week_end, &activity)?;
            week_end += TimeDelta::days(7);
        }
        // The actor's activity, and the activity of the member reacted to.
        let target = Interaction::from_event(event).and_then(|i| i.target);
        for user in [Some(event.user), target].into_iter().flatten() {
            let a = activity
                .entry(user)
                .or_insert_with(|| MemberActivity::new(user));
            ladder.record(a, event)?;
        }
    }
    while week_end <= today {
        step_all(week_end, &activity)?;
        week_end += TimeDelta::days(7);
    }
    Ok((weekly, lin))
}

/// The average number of members `seed` reaches in an independent cascade
/// over the influence graph, with weighted-cascade probabilities.
fn expected_reach(g: &InteractionGraph, seed: UserId, runs: u32, rng: &mut StdRng) -> f64 {
    let mut total = 0usize;
    for _ in 0..runs {
        let mut reached = BTreeSet::from([seed]);
        let mut frontier = vec![seed];
        while let Some(user) = frontier.pop() {
            for (next, p) in graph::out_probabilities(g, user, Propagation::WeightedCascade) {
                if !reached.contains(&next) && rng.random_bool(p) {
                    reached.insert(next);
                    frontier.push(next);
                }
            }
        }
        total += reached.len() - 1;
    }
    total as f64 / f64::from(runs)
}

/// One post: who wrote it, about what.
#[derive(Clone, Copy, Debug)]
struct Post {
    content: ContentId,
    author: UserId,
    topic: TopicId,
}

/// What a member does with a post.
#[derive(Clone, Copy, Debug)]
enum Act {
    Read,
    Click,
    /// A reply, accepted as the answer with this probability.
    Reply(f64),
    React,
    Share,
}

impl Act {
    fn kind(
        self,
        community: Option<CommunityId>,
        content: ContentId,
        to: Option<UserId>,
    ) -> EventKind {
        match self {
            Act::Read => EventKind::ContentViewed { content },
            Act::Click => EventKind::ContentClicked { content },
            Act::Reply(_) => EventKind::Reply {
                community,
                content,
                to,
            },
            Act::React => EventKind::Reaction {
                community,
                content,
                to,
            },
            Act::Share => EventKind::Share { community, content },
        }
    }
}

/// The simulated group: its membership, its events (in time order, numbered
/// in that order) and its posts.
struct World {
    group: Community,
    events: Vec<Event>,
    posts: Vec<Post>,
    refusals: Vec<String>,
    banned: Vec<(UserId, DateTime<Utc>)>,
}

/// The event generator: every helper pushes events, times are day + minute
/// after the start.
struct Sim<'r> {
    rng: &'r mut StdRng,
    start: DateTime<Utc>,
    events: Vec<Event>,
    posts: Vec<Post>,
}

impl Sim<'_> {
    fn at(&self, day: i64, minute: i64) -> DateTime<Utc> {
        self.start + TimeDelta::days(day) + TimeDelta::minutes(minute)
    }

    fn push(&mut self, user: UserId, at: DateTime<Utc>, kind: EventKind) {
        // Ids are given once the events are sorted.
        self.events.push(Event::new(EventId(0), user, at, kind));
    }

    fn post(&mut self, user: UserId, at: DateTime<Utc>, topic: TopicId) -> Post {
        let content = ContentId(100 + self.posts.len() as u64);
        let post = Post {
            content,
            author: user,
            topic,
        };
        self.posts.push(post);
        let kind = EventKind::Post {
            community: Some(GROUP),
            content,
        };
        self.push(user, at, kind);
        post
    }

    /// A post from before today (among the first `known`), not by `user`.
    fn pick(&mut self, known: usize, user: UserId) -> Option<Post> {
        if known == 0 {
            return None;
        }
        let post = *self
            .posts
            .get(self.rng.random_range(known.saturating_sub(60)..known))?;
        (post.author != user && post.author != SPAMMER).then_some(post)
    }

    /// One act on a post; a reply is accepted as the answer an hour later
    /// with the probability it carries.
    fn act(&mut self, user: UserId, at: DateTime<Utc>, post: Post, act: Act) {
        let (community, content, to) = (Some(GROUP), post.content, Some(post.author));
        let mut event = Event::new(EventId(0), user, at, act.kind(community, content, to));
        match act {
            Act::Read => {
                let (posts, seconds) =
                    (self.rng.random_range(3..12), self.rng.random_range(60..400));
                event = event.with_attr("posts_read", posts as i64);
                event = event.with_attr("read_seconds", seconds as i64);
            }
            Act::Reply(accept) if self.rng.random_bool(accept) => {
                let name = "answer_accepted".into();
                self.push(user, at + TimeDelta::hours(1), EventKind::Custom { name });
            }
            _ => {}
        }
        self.events.push(event);
    }

    /// `n` acts on recent posts by others, a minute apart from `at`.
    fn acts(&mut self, user: UserId, known: usize, n: i64, at: DateTime<Utc>, act: Act) {
        for k in 0..n {
            if let Some(post) = self.pick(known, user) {
                self.act(user, at + TimeDelta::minutes(k), post, act);
            }
        }
    }

    fn check_in(&mut self, user: UserId, at: DateTime<Utc>) {
        let community = Some(GROUP);
        self.push(user, at, EventKind::CheckIn { community });
    }

    /// One ordinary day of a member who shows up with probability `p`.
    fn member_day(&mut self, user: UserId, day: i64, p: f64, known: usize) {
        if !self.rng.random_bool(p) {
            return;
        }
        let (morning, evening) = (
            self.rng.random_range(420..540),
            self.rng.random_range(480..1320),
        );
        if self.rng.random_bool(0.8) {
            self.check_in(user, self.at(day, morning));
        }
        let at = self.at(day, evening);
        let reads = self.rng.random_range(1..5);
        self.acts(user, known, reads, at, Act::Read);
        if self.rng.random_bool(0.3) {
            let topic = TOPICS[self.rng.random_range(0..TOPICS.len())].0;
            self.post(user, at + TimeDelta::minutes(5), topic);
        }
        let (replies, likes) = (self.rng.random_range(0..3), self.rng.random_range(0..4));
        self.acts(
            user,
            known,
            replies,
            at + TimeDelta::minutes(10),
            Act::Reply(0.15),
        );
        self.acts(user, known, likes, at + TimeDelta::minutes(20), Act::React);
        let shares = i64::from(self.rng.random_bool(0.1));
        self.acts(user, known, shares, at + TimeDelta::minutes(30), Act::Share);
    }

    /// Lin every day: a check-in, reading, a topic every other day, answers.
    fn lin_day(&mut self, day: i64, known: usize) {
        self.check_in(LIN, self.at(day, 7 * 60 + 50));
        let at = self.at(day, 20 * 60);
        self.acts(LIN, known, 4, at, Act::Read);
        if day % 2 == 0 {
            let topic = TOPICS[(day / 2) as usize % TOPICS.len()].0;
            self.post(LIN, at + TimeDelta::minutes(10), topic);
        }
        self.acts(LIN, known, 3, at + TimeDelta::minutes(20), Act::Reply(0.4));
        self.acts(LIN, known, 2, at + TimeDelta::minutes(30), Act::React);
    }

    /// Kai or Max: a check-in, then 40 likes and 8 replies on the partner's post.
    fn pair_day(&mut self, user: UserId, partner: Post, day: i64) {
        self.check_in(user, self.at(day, 9 * 60));
        for k in 0..40 {
            self.act(user, self.at(day, 12 * 60 + 8 * k), partner, Act::React);
        }
        for k in 0..8 {
            self.act(
                user,
                self.at(day, 13 * 60 + 15 * k),
                partner,
                Act::Reply(0.0),
            );
        }
    }
}

/// Eight weeks of the group: joins by invitation, daily activity, a burst on
/// one embedded-Rust post at the end, and purchases after the course launch.
fn simulate(rng: &mut StdRng, start: DateTime<Utc>) -> Result<World, Box<dyn Error>> {
    let mut sim = Sim {
        rng,
        start,
        events: Vec::new(),
        posts: Vec::new(),
    };
    let mut group = Community::new(GROUP, ADA, sim.at(0, 9 * 60));
    for admin in ADMINS {
        group.join(admin, sim.at(0, 9 * 60 + 5))?;
        group.promote(ADA, admin)?;
    }
    // Who joins when, at what enthusiasm (the chance to show up on a day).
    let mut plan = vec![(1, LIN, 1.0), (10, KAI, 1.0), (10, MAX, 1.0)];
    for user in ENTHUSIASTS.map(UserId) {
        let day = (sim.rng.random::<f64>().powf(1.5) * 40.0) as i64;
        plan.push((day, user, sim.rng.random_range(0.05..0.75)));
    }
    plan.sort_by_key(|&(day, user, _)| (day, user));
    let mut inviters = vec![ADA, ADMINS[0], ADMINS[1]];
    let mut members = Vec::new();
    for &(day, user, p) in &plan {
        let inviter = match user {
            LIN => ADA,
            KAI => ADMINS[0],
            MAX => KAI,
            _ => inviters[sim.rng.random_range(0..inviters.len())],
        };
        let minute = sim.rng.random_range(9 * 60..22 * 60);
        let at = sim.at(day, minute);
        group.invite(inviter, user, at - TimeDelta::hours(1))?;
        group.accept_invitation(user, at)?;
        let community = Some(GROUP);
        sim.push(user, at, EventKind::InviteAccepted { inviter, community });
        inviters.push(user);
        members.push((day, user, p));
    }
    // A spammer joins on his own and posts ads; a member may not ban him,
    // an admin may, and a banned user cannot come back.
    let mut refusals = Vec::new();
    group.join(SPAMMER, sim.at(20, 10 * 60))?;
    for k in 0..6 {
        sim.post(SPAMMER, sim.at(20, 10 * 60 + k), TopicId(5));
    }
    if let Err(e) = group.ban(KAI, SPAMMER) {
        refusals.push(e.to_string());
    }
    group.ban(ADMINS[0], SPAMMER)?;
    let banned = vec![(SPAMMER, sim.at(21, 8 * 60))];
    if let Err(e) = group.join(SPAMMER, sim.at(21, 9 * 60)) {
        refusals.push(e.to_string());
    }

    let mut pair_posts: BTreeMap<UserId, Post> = BTreeMap::new();
    for day in 0..DAYS {
        let known = sim.posts.len();
        for &(joined, user, p) in members.iter().filter(|m| m.0 <= day) {
            match user {
                LIN => sim.lin_day(day, known),
                KAI | MAX if day == joined => {
                    let post = sim.post(user, sim.at(day, 23 * 60), TopicId(1));
                    pair_posts.insert(user, post);
                }
                KAI | MAX => {
                    let partner = if user == KAI { MAX } else { KAI };
                    let post = *pair_posts.get(&partner).ok_or("the partner posted")?;
                    sim.pair_day(user, post, day);
                }
                _ => sim.member_day(user, day, p, known),
            }
        }
    }

    // Two days before the report Lin posts about Rust on a microcontroller,
    // and the group takes it up.
    let hot = sim.post(LIN, sim.at(DAYS - 2, 8 * 60), HOT_TOPIC);
    for &(_, user, _) in members.iter().filter(|m| ENTHUSIASTS.contains(&m.1.0)) {
        let minute = sim.rng.random_range(18 * 60..46 * 60);
        let at = sim.at(DAYS - 2, minute);
        sim.act(user, at, hot, Act::Click);
        sim.act(user, at + TimeDelta::minutes(1), hot, Act::Read);
        for (p, act) in [(0.8, Act::React), (0.6, Act::Share), (0.4, Act::Reply(0.1))] {
            if sim.rng.random_bool(p) {
                sim.act(user, at + TimeDelta::minutes(2), hot, act);
            }
        }
    }

    // The course (¥399) launches on day 42; a workshop ticket (¥199) follows.
    let cny: Currency = "CNY".parse()?;
    for &(_, user, p) in &members {
        let p_buy = if user == KAI || user == MAX {
            0.05
        } else {
            0.05 + 0.8 * p
        };
        if !sim.rng.random_bool(p_buy.min(1.0)) {
            continue;
        }
        let day = sim.rng.random_range(SALES_DAY..DAYS - 3);
        let minute = sim.rng.random_range(10 * 60..23 * 60);
        let at = sim.at(day, minute);
        sim.push(
            user,
            at,
            EventKind::Purchase {
                amount: Money::new(39_900, cny),
            },
        );
        if sim.rng.random_bool(0.3) {
            let later = at + TimeDelta::days(2);
            sim.push(
                user,
                later,
                EventKind::Purchase {
                    amount: Money::new(19_900, cny),
                },
            );
        }
    }

    let mut events = sim.events;
    events.sort_by_key(|e| (e.at, e.user));
    for (n, event) in (1..).zip(events.iter_mut()) {
        event.id = EventId(n);
    }
    Ok(World {
        group,
        events,
        posts: sim.posts,
        refusals,
        banned,
    })
}

/// A member's name in the story, or their id.
fn who(user: UserId) -> String {
    match user {
        ADA => "Ada".into(),
        UserId(2) => "Bo".into(),
        UserId(3) => "Chen".into(),
        LIN => "Lin".into(),
        KAI => "Kai".into(),
        MAX => "Max".into(),
        SPAMMER => "spammer".into(),
        u => u.to_string(),
    }
}

fn topic_name(topic: TopicId) -> &'static str {
    TOPICS
        .iter()
        .find(|(t, _)| *t == topic)
        .map_or("?", |(_, name)| name)
}

fn heading(title: &str) {
    println!("\n{title}\n{}", "─".repeat(title.chars().count()));
}

fn pct(r: Ratio) -> String {
    r.value()
        .map_or("—".to_owned(), |v| format!("{:.0} %", v * 100.0))
}

/// The group's local date (+08:00) of an instant, as the story tells it.
fn local_date(at: DateTime<Utc>) -> String {
    let beijing = FixedOffset::east_opt(8 * 3600).expect("+08:00 is a valid offset");
    at.with_timezone(&beijing).format("%b %d").to_string()
}
