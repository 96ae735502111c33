//! Properties of community health, content heat and the interaction graph:
//! builders fed any split of the events and merged in any grouping equal
//! one pass; reports by community merge too; nothing panics on arbitrary
//! streams; everything survives a JSON round trip; heat stays under its
//! analytic maximum; propagation probabilities are probabilities, and under
//! the weighted cascade the probabilities into each node sum to 1.

use chrono::{DateTime, FixedOffset, NaiveDate, TimeDelta, TimeZone, Utc};
use growthkit::community::graph::{self, GraphBuilder, InteractionGraph, Propagation};
use growthkit::community::{
    ContentHeat, HealthBuilder, HealthReport, HealthShard, HealthSpec, HeatModelSpec, Signal,
    SignalWeights,
};
use growthkit::{CommunityId, ContentId, Event, EventId, EventKind, LocalDay, TopicId, UserId};
use proptest::prelude::*;

const USERS: u64 = 8;
const COMMUNITIES: u64 = 3;
const CONTENTS: u64 = 6;
const SHARDS: usize = 4;

fn base() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap()
}

fn beijing() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).unwrap()
}

fn kind(k: u8, community: u64, content: u64, to: u64) -> EventKind {
    // Content ids belong to one community, as a host's do.
    let content = ContentId(community * CONTENTS + content);
    let community = Some(CommunityId(community));
    let inviter = UserId(to % USERS);
    let to = (to < USERS).then_some(UserId(to));
    match k % 9 {
        0 => EventKind::Post { community, content },
        1 => EventKind::Reply {
            community,
            content,
            to,
        },
        2 => EventKind::Reaction {
            community,
            content,
            to,
        },
        3 => EventKind::Share { community, content },
        4 => EventKind::CheckIn { community },
        5 => EventKind::InviteAccepted { inviter, community },
        6 => EventKind::ContentViewed { content },
        7 => EventKind::ContentClicked { content },
        _ => EventKind::Visited,
    }
}

/// One thing a builder is told: an event, a join or a leave.
#[derive(Clone, Debug)]
enum Op {
    Event(Event),
    Join(UserId, CommunityId, DateTime<Utc>),
    Leave(UserId, CommunityId, DateTime<Utc>),
}

impl Op {
    fn feed(&self, b: &mut HealthBuilder<FixedOffset>) {
        match self {
            Op::Event(e) => b.add(e),
            Op::Join(u, c, at) => b.joined(*u, *c, *at),
            Op::Leave(u, c, at) => b.left(*u, *c, *at),
        }
    }

    fn community(&self) -> Option<CommunityId> {
        match self {
            Op::Event(e) => e.kind.community(),
            Op::Join(_, c, _) | Op::Leave(_, c, _) => Some(*c),
        }
    }
}

/// Offsets over six weeks, half on whole hours so that local midnights and
/// window ends are hit often.
fn offset() -> impl Strategy<Value = i64> {
    prop_oneof![0..42 * 86_400_i64, (0..42 * 24_i64).prop_map(|h| h * 3600)]
}

fn ops() -> impl Strategy<Value = Vec<(Op, usize)>> {
    prop::collection::vec(
        (
            0..USERS,
            offset(),
            any::<u8>(),
            0..COMMUNITIES,
            0..CONTENTS,
            0..USERS + 2,
            0..SHARDS,
        ),
        0..64,
    )
    .prop_map(|raw| {
        raw.into_iter()
            .enumerate()
            .map(|(i, (user, secs, k, community, content, to, shard))| {
                let at = base() + TimeDelta::seconds(secs);
                let op = match k % 12 {
                    10 => Op::Join(UserId(user), CommunityId(community), at),
                    11 => Op::Leave(UserId(user), CommunityId(community), at),
                    _ => Op::Event(Event::new(
                        EventId(i as u64),
                        UserId(user),
                        at,
                        kind(k, community, content, to),
                    )),
                };
                (op, shard)
            })
            .collect()
    })
}

fn health_spec() -> impl Strategy<Value = HealthSpec> {
    (10..=42_u32, 1..=40_u32, 1..=20_u32, 1..=100_u32).prop_map(
        |(last, window_days, retention_days, core_active_percent)| HealthSpec {
            last_day: LocalDay::from_date(NaiveDate::from_ymd_opt(2026, 3, 1).unwrap())
                .checked_add_days(last as i32)
                .unwrap(),
            window_days,
            retention_days,
            core_active_percent,
        },
    )
}

fn roundtrip<T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug>(
    value: &T,
) {
    let json = serde_json::to_string(value).unwrap();
    let back: T = serde_json::from_str(&json).unwrap();
    assert_eq!(&back, value);
}

fn at_most_one(r: growthkit::analytics::Ratio) -> bool {
    r.numerator <= r.denominator
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(192))]

    #[test]
    fn health_shards_merged_any_way_equal_one_pass(
        ops in ops(),
        spec in health_spec(),
    ) {
        let health = spec.validate().unwrap();
        let mut whole = health.builder(beijing());
        for (op, _) in &ops {
            op.feed(&mut whole);
        }
        let whole = whole.finish();

        // Any split of the events, merged left to right, right to left and
        // in reverse order.
        let mut shards: Vec<HealthBuilder<FixedOffset>> =
            (0..SHARDS).map(|_| health.builder(beijing())).collect();
        for (op, shard) in &ops {
            op.feed(&mut shards[*shard]);
        }
        let left = shards.clone().into_iter().reduce(|mut a, b| { a.merge(b).unwrap(); a }).unwrap();
        let right = shards.clone().into_iter().rev().reduce(|b, mut a| { a.merge(b).unwrap(); a }).unwrap();
        let (mut first_pair, mut second_pair) = (shards[0].clone(), shards[2].clone());
        first_pair.merge(shards[1].clone()).unwrap();
        second_pair.merge(shards[3].clone()).unwrap();
        second_pair.merge(first_pair).unwrap();
        // Shards shipped as JSON and absorbed by a fresh builder.
        let mut absorbed = health.builder(beijing());
        for shard in shards.iter().cloned() {
            let json = serde_json::to_string(&shard.into_shard()).unwrap();
            absorbed.absorb(serde_json::from_str::<HealthShard>(&json).unwrap()).unwrap();
        }
        prop_assert_eq!(&absorbed.finish(), &whole);
        prop_assert_eq!(&left.finish(), &whole);
        prop_assert_eq!(&right.finish(), &whole);
        prop_assert_eq!(&second_pair.finish(), &whole);

        // Sharded by community, the reports merge instead.
        let mut parts: Vec<HealthReport> = (0..COMMUNITIES)
            .map(|c| {
                let mut b = health.builder(beijing());
                for (op, _) in &ops {
                    if op.community() == Some(CommunityId(c)) {
                        op.feed(&mut b);
                    }
                }
                b.finish()
            })
            .collect();
        let mut merged = parts.remove(0);
        for part in parts.into_iter().rev() {
            merged.merge(part).unwrap();
        }
        prop_assert_eq!(&merged, &whole);

        for c in &whole.communities {
            prop_assert!(c.active_members <= c.members);
            prop_assert!(c.core_members.len() as u64 <= c.active_members);
            for r in [c.stickiness, c.new_member_retention, c.reply_rate, c.top_contributor_share,
                      c.gini, c.reciprocity, c.density] {
                prop_assert!(at_most_one(r), "{:?}", c);
            }
            prop_assert!(c.average_daily_active.numerator <= c.average_weekly_active.numerator);
            prop_assert!(c.average_weekly_active.numerator <= c.average_monthly_active.numerator);
        }
        roundtrip(&whole);
        roundtrip(&health);
    }
}

fn events_only(ops: &[(Op, usize)]) -> Vec<Event> {
    ops.iter()
        .filter_map(|(op, _)| match op {
            Op::Event(e) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

fn weight() -> impl Strategy<Value = f64> {
    prop_oneof![Just(0.0), 0.0..50.0_f64]
}

fn heat_spec() -> impl Strategy<Value = HeatModelSpec> {
    (
        (weight(), weight(), weight(), weight(), 0.1..50.0_f64),
        0.5..48.0_f64,
        1.5..40.0_f64,
    )
        .prop_map(
            |((view, click, share, reply, reaction), half_life, times)| HeatModelSpec {
                weights: SignalWeights {
                    view,
                    click,
                    share,
                    reply,
                    reaction,
                },
                half_life_hours: half_life,
                baseline_half_life_hours: half_life * times,
                // At most the largest velocity, `times`: above it the
                // model is refused, as nothing could trend.
                trending_velocity: if times >= 2.5 { 2.0 } else { 1.0 },
                ..HeatModelSpec::default()
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(192))]

    #[test]
    fn heat_is_bounded_by_its_analytic_maximum(
        ops in ops(),
        spec in heat_spec(),
        later in 0..30 * 86_400_i64,
        topics in prop::collection::vec(0..3_u64, (COMMUNITIES * CONTENTS) as usize),
    ) {
        let model = spec.validate().unwrap();
        let max_weight = model.spec().weights.max();
        let max_velocity = model.max_velocity();
        let mut heat = ContentHeat::new(model);
        for (content, &topic) in topics.iter().enumerate() {
            if topic > 0 {
                heat.set_topic(ContentId(content as u64), TopicId(topic));
            }
        }
        let events = events_only(&ops);
        let mut per_content = std::collections::HashMap::<ContentId, u64>::new();
        for e in &events {
            if let Some((_, content)) = Signal::of(&e.kind) {
                *per_content.entry(content).or_default() += 1;
            }
            heat.apply(e);
        }
        let now = base() + TimeDelta::seconds(later);
        // Split across two shards and merged: one pass, up to rounding.
        let mut shards = [ContentHeat::new(heat.model().clone()), ContentHeat::new(heat.model().clone())];
        for shard in &mut shards {
            for (content, &topic) in topics.iter().enumerate() {
                if topic > 0 {
                    shard.set_topic(ContentId(content as u64), TopicId(topic));
                }
            }
        }
        for (i, e) in events.iter().enumerate() {
            shards[i % 2].apply(e);
        }
        let [mut merged, second] = shards;
        merged.merge(second).unwrap();
        for &content in per_content.keys() {
            let (a, b) = (heat.heat(content, now), merged.heat(content, now));
            prop_assert!((a - b).abs() <= 1e-9 * a.max(1.0), "{} vs {}", a, b);
        }
        let total: u64 = per_content.values().sum();
        let slack = |x: f64| x * (1.0 + 1e-9) + 1e-9;
        for (&content, &n) in &per_content {
            let t = heat.trend(content, now).unwrap();
            prop_assert!(t.heat >= 0.0 && t.heat <= slack(max_weight * n as f64), "{:?} n={}", t, n);
            prop_assert!(t.velocity >= 0.0 && t.velocity <= slack(max_velocity), "{:?}", t);
        }
        for topic in 1..3 {
            if let Some(t) = heat.topic_trend(TopicId(topic), now) {
                prop_assert!(t.heat >= 0.0 && t.heat <= slack(max_weight * total as f64));
            }
        }
        // Ranked best first, deterministically, and only trending entries.
        let ranked = heat.topics_to_amplify(now, 10);
        prop_assert!(ranked.iter().all(|a| a.trend.trending));
        prop_assert!(ranked.windows(2).all(|w| w[0].trend.velocity >= w[1].trend.velocity));
        prop_assert_eq!(heat.trending_content(now, 100), heat.clone().trending_content(now, 100));
        let json = serde_json::to_string(&heat).unwrap();
        let back: ContentHeat = serde_json::from_str(&json).unwrap();
        for &content in per_content.keys() {
            let (a, b) = (heat.heat(content, now), back.heat(content, now));
            prop_assert!((a - b).abs() <= 1e-9 * a.max(1.0));
        }
    }

    #[test]
    fn propagation_probabilities_are_probabilities(ops in ops()) {
        let events = events_only(&ops);
        let mut whole = GraphBuilder::new();
        whole.extend(&events);
        let g = whole.finish();
        let (mut a, mut b) = (GraphBuilder::new(), GraphBuilder::new());
        for (i, e) in events.iter().enumerate() {
            if i % 3 == 0 { a.add(e) } else { b.add(e) }
        }
        b.merge(a);
        prop_assert_eq!(&b.finish(), &g);
        for g in [g.clone(), graph::reversed(&g)] {
            for &node in graph::nodes(&g) {
                let mut into = 0.0;
                for (from, _, _) in graph::edges(&g).filter(|e| e.1 == node) {
                    let p = graph::probability(&g, from, node, Propagation::WeightedCascade).unwrap();
                    prop_assert!((0.0..=1.0).contains(&p));
                    into += p;
                    let s = graph::probability(&g, from, node, Propagation::ShareThrough).unwrap();
                    prop_assert!((0.0..=1.0).contains(&s));
                }
                if graph::in_degree(&g, node) > 0 {
                    prop_assert!((into - 1.0).abs() < 1e-9, "{} into {:?}", into, node);
                }
                prop_assert_eq!(graph::out_degree(&g, node), graph::out_edges(&g, node).count());
                for (to, p) in graph::out_probabilities(&g, node, Propagation::WeightedCascade) {
                    prop_assert_eq!(Some(p), graph::probability(&g, node, to, Propagation::WeightedCascade));
                }
            }
            prop_assert!(at_most_one(graph::reciprocity(&g)) && at_most_one(graph::density(&g)));
            roundtrip(&g);
        }
        prop_assert_eq!(graph::reversed(&graph::reversed(&g)), g);
    }
}

/// Any instant chrono can represent.
fn any_instant() -> impl Strategy<Value = DateTime<Utc>> {
    let (min, max) = (
        DateTime::<Utc>::MIN_UTC.timestamp(),
        DateTime::<Utc>::MAX_UTC.timestamp(),
    );
    prop_oneof![min..=max, Just(min), Just(max), -86_400_i64 * 3..86_400 * 3]
        .prop_map(|secs| DateTime::from_timestamp(secs, 0).unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn nothing_panics_on_arbitrary_streams(
        raw in prop::collection::vec(
            (any::<u64>(), any_instant(), any::<u8>(), any::<u64>(), any::<u64>(), any::<u64>()),
            0..32,
        ),
        last_day in any::<i32>(),
        window_days in any::<u32>(),
        retention_days in any::<u32>(),
        core_active_percent in any::<u32>(),
        offset in -86_399..86_400_i32,
        half_life in any::<f64>(),
        baseline in any::<f64>(),
        json in ".{0,64}",
    ) {
        let zone = FixedOffset::east_opt(offset).unwrap();
        let events: Vec<Event> = raw
            .iter()
            .map(|&(user, at, k, community, content, to)| {
                Event::new(EventId(0), UserId(user % 5), at, kind(k, community % 4, content % 9, to % 12))
                    .with_attr("topic", (to as i64).wrapping_sub(3))
            })
            .collect();
        let spec = HealthSpec {
            last_day: LocalDay::from_number(last_day),
            window_days: window_days % 400,
            retention_days: retention_days % 400,
            core_active_percent: core_active_percent % 120,
        };
        if let Ok(health) = spec.validate() {
            let mut b = health.builder(zone);
            b.extend(&events);
            for &(user, at, _, community, _, _) in &raw {
                b.joined(UserId(user % 5), CommunityId(community % 4), at);
                b.left(UserId(user % 3), CommunityId(community % 4), at);
            }
            let mut other = health.builder(zone);
            other.extend(events.iter().rev());
            b.merge(other).unwrap();
            let _ = b.finish();
        }
        let spec = HeatModelSpec {
            half_life_hours: half_life,
            baseline_half_life_hours: baseline,
            ..HeatModelSpec::default()
        };
        let model = spec.validate().unwrap_or_else(|_| HeatModelSpec::default().validate().unwrap());
        let mut heat = ContentHeat::new(model);
        for e in &events {
            heat.apply(e);
            let _ = heat.trend(ContentId(0), e.at);
            let _ = heat.topics_to_amplify(e.at, 3);
        }
        for &(_, at, ..) in &raw {
            let _ = heat.trending_content(at, 5);
        }
        let mut g = GraphBuilder::in_community(CommunityId(1));
        g.extend(&events);
        let g = g.finish();
        let _ = (graph::reciprocity(&g), graph::density(&g), graph::reversed(&g));
        let _ = serde_json::from_str::<HeatModelSpec>(&json);
        let _ = serde_json::from_str::<HealthSpec>(&json);
        let _ = serde_json::from_str::<InteractionGraph>(&json);
        let _ = serde_json::from_str::<ContentHeat>(&json);
    }
}

/// DAU, WAU and MAU sums, active and core members, straight from the
/// definitions: sets of (member, local day) and nothing clever.
fn activity_by_definition(
    ops: &[(Op, usize)],
    spec: &HealthSpec,
    community: CommunityId,
) -> (u64, u64, u64, u64, usize) {
    use std::collections::BTreeSet;
    let last = spec.last_day.number();
    let first = last - spec.window_days as i32 + 1;
    let mut active: BTreeSet<(u64, i32)> = BTreeSet::new();
    for (op, _) in ops {
        // Joining (an accepted invitation) is not activity.
        if let Op::Event(e) = op
            && e.kind.community() == Some(community)
            && !matches!(e.kind, EventKind::InviteAccepted { .. })
        {
            let day = LocalDay::of(e.at, &beijing()).number();
            if (first - 29..=last).contains(&day) {
                active.insert((e.user.0, day));
            }
        }
    }
    let within = |m: u64, from: i32, to: i32| {
        active
            .iter()
            .any(|&(u, d)| u == m && (from..=to).contains(&d))
    };
    let members: BTreeSet<u64> = active.iter().map(|&(u, _)| u).collect();
    let (mut dau, mut wau, mut mau) = (0, 0, 0);
    for d in first..=last {
        for &m in &members {
            dau += u64::from(within(m, d, d));
            wau += u64::from(within(m, d - 6, d));
            mau += u64::from(within(m, d - 29, d));
        }
    }
    let window_days = |m: u64| (first..=last).filter(|&d| within(m, d, d)).count() as u32;
    let active_members = members.iter().filter(|&&m| window_days(m) > 0).count() as u64;
    let core = members
        .iter()
        .filter(|&&m| {
            window_days(m) * 100 >= spec.core_active_percent * spec.window_days
                && window_days(m) > 0
        })
        .count();
    (dau, wau, mau, active_members, core)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(192))]

    #[test]
    fn daily_weekly_monthly_and_core_match_their_definitions(
        ops in ops(),
        spec in health_spec(),
    ) {
        let health = spec.clone().validate().unwrap();
        let mut b = health.builder(beijing());
        for (op, _) in &ops {
            op.feed(&mut b);
        }
        let report = b.finish();
        for c in &report.communities {
            let (dau, wau, mau, active, core) = activity_by_definition(&ops, &spec, c.community);
            prop_assert_eq!(c.average_daily_active.numerator, dau);
            prop_assert_eq!(c.average_weekly_active.numerator, wau);
            prop_assert_eq!(c.average_monthly_active.numerator, mau);
            prop_assert_eq!(c.active_members, active);
            prop_assert_eq!(c.core_members.len(), core);
            prop_assert_eq!(c.average_daily_active.denominator, u64::from(spec.window_days));
        }
    }
}

/// Posts, replied posts, the lower-median first reply, edges and
/// reciprocated edges, straight from the definitions.
fn conversation_by_definition(
    ops: &[(Op, usize)],
    spec: &HealthSpec,
    community: CommunityId,
) -> (u64, u64, Option<i64>, u64, u64) {
    use std::collections::{BTreeMap, BTreeSet};
    let last = spec.last_day.number();
    let first = last - spec.window_days as i32 + 1;
    let day = |e: &Event| LocalDay::of(e.at, &beijing()).number();
    let kept: Vec<&Event> = ops
        .iter()
        .filter_map(|(op, _)| match op {
            Op::Event(e)
                if e.kind.community().is_some() && (first - 29..=last).contains(&day(e)) =>
            {
                Some(e)
            }
            _ => None,
        })
        .collect();
    let mut posts: BTreeMap<ContentId, (DateTime<Utc>, UserId, CommunityId, i32)> = BTreeMap::new();
    for e in &kept {
        if let EventKind::Post {
            content,
            community: Some(c),
        } = e.kind
        {
            let post = (e.at, e.user, c, day(e));
            let slot = posts.entry(content).or_insert(post);
            *slot = (*slot).min(post);
        }
    }
    let (mut count, mut replied, mut gaps) = (0, 0, Vec::new());
    for (content, &(at, author, c, d)) in &posts {
        if c != community || d < first {
            continue;
        }
        count += 1;
        let first_reply = kept
            .iter()
            .filter(|e| {
                matches!(e.kind, EventKind::Reply { content: x, .. } if x == *content)
                    && e.user != author
            })
            .map(|e| e.at)
            .min();
        if let Some(r) = first_reply {
            replied += 1;
            gaps.push((r - at).num_milliseconds().max(0));
        }
    }
    gaps.sort_unstable();
    let median = gaps.len().checked_sub(1).map(|i| gaps[i / 2]);
    let mut edges: BTreeSet<(UserId, UserId)> = BTreeSet::new();
    for e in &kept {
        if e.kind.community() != Some(community) || day(e) < first {
            continue;
        }
        let target = match e.kind {
            EventKind::Reply { content, to, .. } | EventKind::Reaction { content, to, .. } => {
                to.or_else(|| posts.get(&content).map(|p| p.1))
            }
            EventKind::Share { content, .. } => posts.get(&content).map(|p| p.1),
            _ => None,
        };
        if let Some(to) = target.filter(|&to| to != e.user) {
            edges.insert((e.user, to));
        }
    }
    let reciprocated = edges
        .iter()
        .filter(|&&(a, b)| edges.contains(&(b, a)))
        .count() as u64;
    (count, replied, median, edges.len() as u64, reciprocated)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(192))]

    #[test]
    fn posts_replies_and_edges_match_their_definitions(
        ops in ops(),
        spec in health_spec(),
    ) {
        let health = spec.clone().validate().unwrap();
        let mut b = health.builder(beijing());
        for (op, _) in &ops {
            op.feed(&mut b);
        }
        let report = b.finish();
        for c in &report.communities {
            let (posts, replied, median, edges, reciprocated) =
                conversation_by_definition(&ops, &spec, c.community);
            prop_assert_eq!(c.posts, posts);
            prop_assert_eq!(c.reply_rate.numerator, replied);
            prop_assert_eq!(c.median_ms_to_first_reply, median);
            prop_assert_eq!(c.interaction_edges, edges);
            prop_assert_eq!(c.reciprocity.numerator, reciprocated);
        }
    }
}

/// Members, new members and new-member retention, from the definitions.
fn membership_by_definition(
    ops: &[(Op, usize)],
    spec: &HealthSpec,
    community: CommunityId,
) -> (u64, u64, u64, u64) {
    use std::collections::{BTreeMap, BTreeSet};
    let last = spec.last_day.number();
    let first = last - spec.window_days as i32 + 1;
    let day = |at: DateTime<Utc>| LocalDay::of(at, &beijing()).number();
    // Per user: changes (instant, leave?) and active days.
    let mut changes: BTreeMap<UserId, Vec<(DateTime<Utc>, bool)>> = BTreeMap::new();
    let mut active: BTreeMap<UserId, BTreeSet<i32>> = BTreeMap::new();
    for (op, _) in ops {
        match op {
            Op::Join(u, c, at) if *c == community && day(*at) <= last => {
                changes.entry(*u).or_default().push((*at, false))
            }
            Op::Leave(u, c, at) if *c == community && day(*at) <= last => {
                changes.entry(*u).or_default().push((*at, true))
            }
            // An accepted invitation is a join, however early, and not activity.
            Op::Event(e)
                if e.kind.community() == Some(community)
                    && matches!(e.kind, EventKind::InviteAccepted { .. })
                    && day(e.at) <= last =>
            {
                changes.entry(e.user).or_default().push((e.at, false))
            }
            Op::Event(e) if matches!(e.kind, EventKind::InviteAccepted { .. }) => {}
            Op::Event(e) if e.kind.community() == Some(community) => {
                let d = day(e.at);
                if (first - 29..=last).contains(&d) {
                    active.entry(e.user).or_default().insert(d);
                }
            }
            _ => {}
        }
    }
    let mut members: BTreeSet<UserId> = active
        .iter()
        .filter(|(_, days)| days.range(first..).next().is_some())
        .map(|(&u, _)| u)
        .collect();
    let (mut new, mut eligible, mut retained) = (0, 0, 0);
    for (u, list) in &mut changes {
        list.sort();
        if list.last().is_some_and(|&(_, leave)| !leave) {
            members.insert(*u);
        }
        let Some(joined) = list.iter().find(|c| !c.1).map(|c| day(c.0)) else {
            continue;
        };
        if joined < first {
            continue;
        }
        new += 1;
        let due = joined + spec.retention_days as i32;
        if due <= last {
            eligible += 1;
            if active
                .get(u)
                .is_some_and(|days| days.range(due..).next().is_some())
            {
                retained += 1;
            }
        }
    }
    (members.len() as u64, new, retained, eligible)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(192))]

    #[test]
    fn members_and_retention_match_their_definitions(
        ops in ops(),
        spec in health_spec(),
    ) {
        let health = spec.clone().validate().unwrap();
        let mut b = health.builder(beijing());
        for (op, _) in &ops {
            op.feed(&mut b);
        }
        for c in &b.finish().communities {
            let (members, new, retained, eligible) = membership_by_definition(&ops, &spec, c.community);
            prop_assert_eq!(c.members, members);
            prop_assert_eq!(c.new_members, new);
            prop_assert_eq!(c.new_member_retention, growthkit::analytics::Ratio::new(retained, eligible));
        }
    }
}
