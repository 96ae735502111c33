//! A brute-force reference for community health, written from the module's
//! `# Definitions` alone: it keeps every event, join and leave, and computes
//! each figure of each community straight from its definition with chrono's
//! calendar (in +08:00, and across daylight-saving changes in New York,
//! Santiago and Lord Howe Island). Times sit on a coarse grid (local
//! midnights, a millisecond either side, leap seconds) so that window edges
//! and same-instant changes are hit. The library is fed the same operations
//! shuffled, split into shards that travel through JSON mid-stream and merge
//! in random groupings, and every figure must agree. `PROPTEST_CASES` runs
//! more cases than the modest default.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, FixedOffset, NaiveDate, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use growthkit::analytics::Ratio;
use growthkit::community::{CommunityHealth, HealthBuilder, HealthReport, HealthShard, HealthSpec};
use growthkit::{CommunityId, ContentId, Event, EventId, EventKind, LocalDay, UserId};
use proptest::prelude::*;

const USERS: u64 = 6;
const COMMUNITIES: u64 = 3;
const CONTENTS: u64 = 8;

#[derive(Clone, Copy, Debug)]
enum Zone {
    Beijing,
    /// New York, Santiago (where daylight saving skips or repeats local
    /// midnight) or Lord Howe Island (a half-hour change).
    Iana(Tz),
}

impl Zone {
    /// Local midnight of the grid's day 0: early March in Beijing, a few
    /// weeks before a daylight-saving change elsewhere (spring or autumn).
    fn base_date(self, autumn: bool) -> NaiveDate {
        let ymd = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        match (self, autumn) {
            (Zone::Beijing, _) => ymd(2026, 3, 1),
            // Starts 8 March, ends 1 November.
            (Zone::Iana(Tz::America__New_York), false) => ymd(2026, 2, 20),
            (Zone::Iana(Tz::America__New_York), true) => ymd(2026, 10, 20),
            // Santiago ends on 5 April (midnight twice), starts on
            // 6 September (no midnight); Lord Howe ends on 5 April and
            // starts on 4 October, half an hour each.
            (Zone::Iana(_), false) => ymd(2026, 3, 20),
            (Zone::Iana(_), true) => ymd(2026, 8, 25),
        }
    }

    /// The local day's first instant.
    fn midnight(self, date: NaiveDate) -> DateTime<Utc> {
        match self {
            Zone::Beijing => beijing()
                .from_local_datetime(&date.and_hms_opt(0, 0, 0).unwrap())
                .unwrap()
                .with_timezone(&Utc),
            Zone::Iana(tz) => (0..24 * 60)
                .find_map(|m| {
                    let t = date.and_hms_opt(0, 0, 0).unwrap() + TimeDelta::minutes(m);
                    tz.from_local_datetime(&t).earliest()
                })
                .unwrap()
                .with_timezone(&Utc),
        }
    }

    /// The local date of `at`, by chrono's calendar.
    fn date(self, at: DateTime<Utc>) -> NaiveDate {
        match self {
            Zone::Beijing => at.with_timezone(&beijing()).date_naive(),
            Zone::Iana(tz) => at.with_timezone(&tz).date_naive(),
        }
    }
}

fn beijing() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).unwrap()
}

/// One thing a builder is told.
#[derive(Clone, Debug)]
enum Op {
    Event(Event),
    Join(UserId, CommunityId, DateTime<Utc>),
    Leave(UserId, CommunityId, DateTime<Utc>),
}

trait Feed {
    fn feed(&mut self, op: &Op);
}

impl<Z: TimeZone> Feed for HealthBuilder<Z> {
    fn feed(&mut self, op: &Op) {
        match op {
            Op::Event(e) => self.add(e),
            Op::Join(u, c, at) => self.joined(*u, *c, *at),
            Op::Leave(u, c, at) => self.left(*u, *c, *at),
        }
    }
}

/// Times of day on a coarse grid: midnights, a millisecond either side of
/// them, the hours where other zones' midnights fall.
const TIMES_MS: [i64; 9] = [
    0,
    1,
    3_600_000,
    7 * 3_600_000 + 1_800_000,
    12 * 3_600_000,
    16 * 3_600_000,
    23 * 3_600_000,
    86_400_000 - 1,
    86_400_000 - 3_600_000 - 1,
];

/// User ids spread over the whole range, some near `u64::MAX`.
fn user_id(u: u64) -> UserId {
    UserId(if u.is_multiple_of(3) {
        u64::MAX - u
    } else {
        u * 7_919
    })
}

fn kind(k: u8, community: Option<CommunityId>, content: u64, to: Option<UserId>) -> EventKind {
    let content = ContentId(content);
    match k % 10 {
        0 | 1 => EventKind::Post { community, content },
        2 | 3 => EventKind::Reply {
            community,
            content,
            to,
        },
        4 => EventKind::Reaction {
            community,
            content,
            to,
        },
        5 => EventKind::Share { community, content },
        6 => EventKind::CheckIn { community },
        7 => EventKind::InviteAccepted {
            inviter: to.unwrap_or(UserId(0)),
            community,
        },
        8 => EventKind::PollVoted {
            community,
            poll: content,
        },
        _ => EventKind::ContentViewed { content },
    }
}

#[derive(Clone, Debug)]
struct Case {
    zone: Zone,
    spec: HealthSpec,
    ops: Vec<Op>,
}

fn case() -> impl Strategy<Value = Case> {
    case_of(USERS, 80)
}

/// Cases with `users` members and up to `ops` operations.
fn case_of(users: u64, ops: usize) -> impl Strategy<Value = Case> {
    (
        prop_oneof![
            Just(Zone::Beijing),
            Just(Zone::Iana(Tz::America__New_York)),
            Just(Zone::Iana(Tz::America__Santiago)),
            Just(Zone::Iana(Tz::Australia__Lord_Howe)),
        ],
        any::<bool>(),
        // last day, window, retention, core percent
        0..=45_i32,
        prop_oneof![1..=8_u32, 1..=40_u32, Just(366_u32)],
        prop_oneof![1..=10_u32, 1..=45_u32, Just(366_u32)],
        prop_oneof![1..=100_u32, Just(100_u32), Just(1_u32)],
        prop::collection::vec(
            (
                0..users,
                // days on the grid, some long before any look-back; from
                // 100, days around the last one (100 + 8 is the last day),
                // so that members share days and instants
                prop_oneof![-3..45_i64, -80..45_i64, 100..110_i64],
                0..TIMES_MS.len() + 1,
                any::<u8>(),
                0..COMMUNITIES + 1,
                0..CONTENTS,
                0..users + 2,
            ),
            0..ops,
        ),
    )
        .prop_map(
            move |(zone, autumn, last, window_days, retention_days, core, raw)| {
                let base = zone.base_date(autumn);
                let spec = HealthSpec {
                    last_day: LocalDay::from_date(base + TimeDelta::days(last as i64)),
                    window_days,
                    retention_days,
                    core_active_percent: core,
                };
                let ops = raw
                    .into_iter()
                    .enumerate()
                    .map(move |(i, (user, day, time, k, community, content, to))| {
                        let to = (to < users).then(|| user_id(to));
                        let user = user_id(user);
                        // Each local day's midnight, so that daylight saving moves
                        // the grid with the calendar.
                        let day = if day >= 100 {
                            last as i64 + day - 108
                        } else {
                            day
                        };
                        let at = zone.midnight(base + TimeDelta::days(day))
                            + TimeDelta::milliseconds(TIMES_MS.get(time).copied().unwrap_or(0));
                        // Past the grid: inside the leap second chrono allows at
                        // local 23:59:59 (whose milliseconds run into the next day).
                        let at = if time == TIMES_MS.len() {
                            let end = at + TimeDelta::milliseconds(86_399_000);
                            let t = end.naive_utc().time();
                            let t = chrono::NaiveTime::from_hms_nano_opt(
                                chrono::Timelike::hour(&t),
                                chrono::Timelike::minute(&t),
                                59,
                                1_500_000_000,
                            )
                            .unwrap();
                            Utc.from_utc_datetime(&end.naive_utc().date().and_time(t))
                        } else {
                            at
                        };
                        // A content mostly belongs to one community; its
                        // events may also name another, or none.
                        let home = CommunityId(content % COMMUNITIES);
                        let other = CommunityId((content + 1) % COMMUNITIES);
                        let community = match community {
                            0 | 1 => Some(home),
                            2 => Some(other),
                            _ => None,
                        };
                        match k % 14 {
                            12 => Op::Join(user, CommunityId(community_of(k, content)), at),
                            13 => Op::Leave(user, CommunityId(community_of(k, content)), at),
                            _ => Op::Event(Event::new(
                                EventId(i as u64),
                                user,
                                at,
                                kind(k / 14, community, content, to),
                            )),
                        }
                    })
                    .collect();
                Case { zone, spec, ops }
            },
        )
}

fn community_of(k: u8, content: u64) -> u64 {
    (content + u64::from(k) / 14) % COMMUNITIES
}

// ---------------------------------------------------------------------------
// The model.

#[derive(Debug, PartialEq, Eq, Clone)]
struct Model {
    community: CommunityId,
    members: u64,
    new_members: u64,
    active_members: u64,
    dau: Ratio,
    wau: Ratio,
    mau: Ratio,
    stickiness: Ratio,
    retention: Ratio,
    posts: u64,
    posts_per_active: Ratio,
    reply_rate: Ratio,
    median: Option<i64>,
    top_share: Ratio,
    gini: Ratio,
    edges: u64,
    reciprocity: Ratio,
    density: Ratio,
    core: Vec<UserId>,
}

/// A figure seen from an event: who, when, what.
struct Seen<'a> {
    user: UserId,
    at: DateTime<Utc>,
    day: NaiveDate,
    kind: &'a EventKind,
}

fn model(case: &Case, weight: u64) -> BTreeMap<CommunityId, Model> {
    let zone = case.zone;
    let last = case.spec.last_day.date();
    let window = i64::from(case.spec.window_days);
    let first = last - TimeDelta::days(window - 1);
    let keep_from = first - TimeDelta::days(29);
    let n_ret = i64::from(case.spec.retention_days);

    // Every community anything names.
    let mut communities = BTreeSet::new();
    for op in &case.ops {
        match op {
            Op::Event(e) => communities.extend(e.kind.community()),
            Op::Join(_, c, _) | Op::Leave(_, c, _) => {
                communities.insert(*c);
            }
        }
    }

    // A content id is one content whatever community its events name: its
    // post is its earliest kept post event, in the community that names,
    // and replies to it count wherever they are made.
    let all_seen: Vec<Seen> = case
        .ops
        .iter()
        .filter_map(|op| match op {
            Op::Event(e) if e.kind.community().is_some() => Some(Seen {
                user: e.user,
                at: e.at,
                day: zone.date(e.at),
                kind: &e.kind,
            }),
            _ => None,
        })
        .filter(|s| s.day >= keep_from && s.day <= last)
        .collect();
    // Ordered by local day, then Unix milliseconds (ties: the lower ids).
    let order = |at: DateTime<Utc>| (zone.date(at), at.timestamp_millis());
    let mut post_of: BTreeMap<ContentId, (DateTime<Utc>, UserId, CommunityId)> = BTreeMap::new();
    for s in &all_seen {
        if let EventKind::Post {
            content,
            community: Some(c),
        } = s.kind
        {
            let e = post_of.entry(*content).or_insert((s.at, s.user, *c));
            if (order(s.at), s.user, *c) < (order(e.0), e.1, e.2) {
                *e = (s.at, s.user, *c);
            }
        }
    }

    let mut out = BTreeMap::new();
    for &c in &communities {
        // Community events of `c` on a kept day (look-back to last day).
        let seen: Vec<&Seen> = all_seen
            .iter()
            .filter(|s| s.kind.community() == Some(c))
            .collect();
        let activity: Vec<&Seen> = seen
            .iter()
            .copied()
            .filter(|s| !matches!(s.kind, EventKind::InviteAccepted { .. }))
            .collect();
        let in_window = |d: NaiveDate| d >= first && d <= last;

        // Membership changes up to the last day: (instant, leave?, user).
        let mut changes: Vec<(DateTime<Utc>, bool, UserId)> = Vec::new();
        for op in &case.ops {
            match op {
                Op::Join(u, cc, at) if *cc == c => changes.push((*at, false, *u)),
                Op::Leave(u, cc, at) if *cc == c => changes.push((*at, true, *u)),
                Op::Event(e) if matches!(e.kind, EventKind::InviteAccepted { community: Some(cc), .. } if cc == c) => {
                    changes.push((e.at, false, e.user))
                }
                _ => {}
            }
        }
        changes.retain(|(at, _, _)| zone.date(*at) <= last);
        // By local day, then Unix milliseconds, a leave after a join.
        changes.sort_by_key(|&(at, leave, _)| (zone.date(at), at.timestamp_millis(), leave));
        let mut last_change: BTreeMap<UserId, bool> = BTreeMap::new();
        let mut earliest_join: BTreeMap<UserId, DateTime<Utc>> = BTreeMap::new();
        for &(at, leave, u) in &changes {
            last_change.insert(u, leave);
            if !leave {
                earliest_join.entry(u).or_insert(at);
            }
        }

        // Active days and window counts per member.
        let mut days: BTreeMap<UserId, BTreeSet<NaiveDate>> = BTreeMap::new();
        let mut counts: BTreeMap<UserId, u64> = BTreeMap::new();
        for s in &activity {
            days.entry(s.user).or_default().insert(s.day);
            if in_window(s.day) {
                *counts.entry(s.user).or_default() += weight;
            }
        }
        let active: BTreeSet<UserId> = counts.keys().copied().collect();
        let mut members: BTreeSet<UserId> = last_change
            .iter()
            .filter(|(_, leave)| !**leave)
            .map(|(u, _)| *u)
            .collect();
        members.extend(active.iter().copied());

        // Everyone who first joined in the window, members or not by its end.
        let new: Vec<(UserId, NaiveDate)> = earliest_join
            .iter()
            .map(|(u, at)| (*u, zone.date(*at)))
            .filter(|(_, d)| in_window(*d))
            .collect();
        let mut ret = Ratio::new(0, 0);
        for &(u, j) in &new {
            let from = j + TimeDelta::days(n_ret);
            if from > last {
                continue;
            }
            ret.denominator += 1;
            if days
                .get(&u)
                .is_some_and(|ds| ds.iter().any(|d| *d >= from && *d <= last))
            {
                ret.numerator += 1;
            }
        }

        let mut sums = [0_u64; 3];
        let mut d = first;
        while d <= last {
            for (k, span) in [1_i64, 7, 30].into_iter().enumerate() {
                let lo = d - TimeDelta::days(span - 1);
                sums[k] += days
                    .values()
                    .filter(|ds| ds.iter().any(|x| *x >= lo && *x <= d))
                    .count() as u64;
            }
            d += TimeDelta::days(1);
        }

        let mut posts = 0_u64;
        let mut replied = 0_u64;
        let mut gaps = Vec::new();
        for (content, &(at, author, _)) in post_of.iter().filter(|p| p.1.2 == c) {
            if !in_window(zone.date(at)) {
                continue;
            }
            posts += 1;
            let first_reply = all_seen
                .iter()
                .filter(|s| {
                    s.user != author
                        && matches!(s.kind, EventKind::Reply { content: x, .. } if x == content)
                })
                // Milliseconds as chrono's `timestamp_millis` counts them
                // (a leap second's run past 999).
                .map(|s| s.at.timestamp_millis() - at.timestamp_millis())
                .min();
            if let Some(gap) = first_reply {
                replied += 1;
                gaps.push(gap.max(0));
            }
        }
        gaps.sort();
        let median = (!gaps.is_empty()).then(|| gaps[(gaps.len() - 1) / 2]);

        // Concentration.
        let mut xs: Vec<u64> = counts.values().copied().collect();
        xs.sort();
        let n = xs.len() as u64;
        let total: u64 = xs.iter().sum();
        let top = (n.div_ceil(10)).max(1) as usize;
        let top_sum: u64 = xs.iter().rev().take(top).sum();
        let gini_num: i128 = xs
            .iter()
            .enumerate()
            .map(|(i, &x)| (2 * (i as i128 + 1) - n as i128 - 1) * x as i128)
            .sum();
        assert!(gini_num >= 0);

        // Interaction graph.
        let mut edges: BTreeSet<(UserId, UserId)> = BTreeSet::new();
        for s in seen.iter().filter(|s| in_window(s.day)) {
            let (content, to) = match s.kind {
                EventKind::Reply { content, to, .. } | EventKind::Reaction { content, to, .. } => {
                    (*content, *to)
                }
                EventKind::Share { content, .. } => (*content, None),
                _ => continue,
            };
            let to = to.or_else(|| post_of.get(&content).map(|p| p.1));
            if let Some(to) = to
                && to != s.user
            {
                edges.insert((s.user, to));
            }
        }
        let reciprocated = edges
            .iter()
            .filter(|(a, b)| edges.contains(&(*b, *a)))
            .count() as u64;
        let mut nodes = members.clone();
        for (a, b) in &edges {
            nodes.insert(*a);
            nodes.insert(*b);
        }
        let nn = nodes.len() as u64;

        let core = members
            .iter()
            .filter(|u| {
                let active_days = days
                    .get(u)
                    .map_or(0, |ds| ds.iter().filter(|d| in_window(**d)).count() as u64);
                active_days * 100 >= u64::from(case.spec.core_active_percent) * window as u64
            })
            .copied()
            .collect();

        out.insert(
            c,
            Model {
                community: c,
                members: members.len() as u64,
                new_members: new.len() as u64,
                active_members: n,
                dau: Ratio::new(sums[0], window as u64),
                wau: Ratio::new(sums[1], window as u64),
                mau: Ratio::new(sums[2], window as u64),
                stickiness: Ratio::new(sums[0], sums[2]),
                retention: ret,
                posts,
                posts_per_active: Ratio::new(posts, n),
                reply_rate: Ratio::new(replied, posts),
                median,
                top_share: Ratio::new(top_sum, total),
                gini: Ratio::new(gini_num as u64, n * total),
                edges: edges.len() as u64,
                reciprocity: Ratio::new(reciprocated, edges.len() as u64),
                density: Ratio::new(edges.len() as u64, nn * nn.saturating_sub(1)),
                core,
            },
        );
    }
    out
}

/// Ratios compare by value, and an unknown rate (over nobody) only equals
/// another unknown one.
fn same(a: Ratio, b: Ratio) -> bool {
    (a.denominator == 0) == (b.denominator == 0)
        && u128::from(a.numerator) * u128::from(b.denominator)
            == u128::from(b.numerator) * u128::from(a.denominator)
}

fn of_library(h: &CommunityHealth) -> Model {
    Model {
        community: h.community,
        members: h.members,
        new_members: h.new_members,
        active_members: h.active_members,
        dau: h.average_daily_active,
        wau: h.average_weekly_active,
        mau: h.average_monthly_active,
        stickiness: h.stickiness,
        retention: h.new_member_retention,
        posts: h.posts,
        posts_per_active: h.posts_per_active_member,
        reply_rate: h.reply_rate,
        median: h.median_ms_to_first_reply,
        top_share: h.top_contributor_share,
        gini: h.gini,
        edges: h.interaction_edges,
        reciprocity: h.reciprocity,
        density: h.density,
        core: h.core_members.clone(),
    }
}

/// The library's figures with each ratio replaced by the model's when they
/// are equal in value, so that a mismatch prints both in full.
fn normalized(lib: &Model, m: &Model) -> Model {
    let pick = |a: Ratio, b: Ratio| if same(a, b) { b } else { a };
    Model {
        dau: pick(lib.dau, m.dau),
        wau: pick(lib.wau, m.wau),
        mau: pick(lib.mau, m.mau),
        stickiness: pick(lib.stickiness, m.stickiness),
        retention: pick(lib.retention, m.retention),
        posts_per_active: pick(lib.posts_per_active, m.posts_per_active),
        reply_rate: pick(lib.reply_rate, m.reply_rate),
        top_share: pick(lib.top_share, m.top_share),
        gini: pick(lib.gini, m.gini),
        reciprocity: pick(lib.reciprocity, m.reciprocity),
        density: pick(lib.density, m.density),
        ..lib.clone()
    }
}

fn compare(report: &HealthReport, expected: &BTreeMap<CommunityId, Model>, case: &Case) {
    let first = case.spec.last_day.date() - TimeDelta::days(i64::from(case.spec.window_days) - 1);
    assert_eq!(report.first_day, LocalDay::from_date(first));
    assert_eq!(report.last_day, case.spec.last_day);
    let ids: Vec<CommunityId> = report.communities.iter().map(|h| h.community).collect();
    let sorted: Vec<CommunityId> = {
        let mut s = ids.clone();
        s.sort();
        s.dedup();
        s
    };
    assert_eq!(ids, sorted, "communities in id order, once each");
    for h in &report.communities {
        let m = expected
            .get(&h.community)
            .unwrap_or_else(|| panic!("library reports unseen community {:?}", h.community));
        let lib = of_library(h);
        assert_eq!(&normalized(&lib, m), m, "community {:?}", h.community);
    }
    // Communities the library leaves out must have nothing to report.
    for (c, m) in expected {
        if report.community(*c).is_none() {
            let empty = m.members == 0 && m.posts == 0 && m.edges == 0 && m.active_members == 0;
            assert!(empty, "community {c:?} missing from the report: {m:?}");
        }
    }
}

// ---------------------------------------------------------------------------
// Feeding the library.

fn builder<Z: TimeZone>(case: &Case, zone: Z) -> HealthBuilder<Z> {
    case.spec.clone().validate().unwrap().builder(zone)
}

fn json_trip(shard: HealthShard) -> HealthShard {
    let json = serde_json::to_string(&shard).unwrap();
    serde_json::from_str(&json).unwrap()
}

/// Feeds `ops` in the order of `order`, into shards given by `shard_of`,
/// sending a shard through JSON at the points `trips` names, then merging
/// the shards in the grouping `merges` gives.
fn run<Z: TimeZone>(case: &Case, zone: Z, plan: &Plan) -> HealthReport {
    let shards = plan.shards;
    let mut builders: Vec<HealthBuilder<Z>> =
        (0..shards).map(|_| builder(case, zone.clone())).collect();
    let mut order: Vec<usize> = (0..case.ops.len()).collect();
    order.sort_by_key(|&i| plan.keys[i % plan.keys.len()]);
    for (step, &i) in order.iter().enumerate() {
        let op = &case.ops[i];
        let s = plan.shard_of[i % plan.shard_of.len()] % shards;
        builders[s].feed(op);
        if plan.trips.contains(&step) {
            // Mid-stream: ship the shard as JSON and carry on in a fresh builder.
            let old = std::mem::replace(&mut builders[s], builder(case, zone.clone()));
            builders[s].absorb(json_trip(old.into_shard())).unwrap();
        }
    }
    let mut pool = builders;
    let mut picks = plan.merges.iter().cycle();
    while pool.len() > 1 {
        let a = picks.next().copied().unwrap_or(0) % pool.len();
        let taken = pool.swap_remove(a);
        let b = picks.next().copied().unwrap_or(0) % pool.len();
        pool[b].merge(taken).unwrap();
    }
    let report = pool.pop().unwrap().finish();
    let json = serde_json::to_string(&report).unwrap();
    let back: HealthReport = serde_json::from_str(&json).unwrap();
    assert_eq!(back, report);
    report
}

#[derive(Clone, Debug)]
struct Plan {
    shards: usize,
    /// Sort keys: the order ops are fed in.
    keys: Vec<u32>,
    shard_of: Vec<usize>,
    trips: Vec<usize>,
    merges: Vec<usize>,
}

fn plan() -> impl Strategy<Value = Plan> {
    (
        1..=4_usize,
        prop::collection::vec(any::<u32>(), 80),
        prop::collection::vec(0..4_usize, 80),
        prop::collection::vec(0..80_usize, 0..3),
        prop::collection::vec(0..8_usize, 1..8),
    )
        .prop_map(|(shards, keys, shard_of, trips, merges)| Plan {
            shards,
            keys,
            shard_of,
            trips,
            merges,
        })
}

fn run_case(case: &Case, plan: &Plan) -> HealthReport {
    match case.zone {
        Zone::Beijing => run(case, beijing(), plan),
        Zone::Iana(tz) => run(case, tz, plan),
    }
}

fn case_and_plan() -> impl Strategy<Value = (Case, Plan)> {
    (case(), plan())
}

/// A modest default; `PROPTEST_CASES` asks for more.
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(96)))]

    #[test]
    fn every_figure_matches_the_definitions((case, plan) in case_and_plan()) {
        let report = run_case(&case, &plan);
        compare(&report, &model(&case, 1), &case);
    }

    /// Reports of shards split by community merge into the whole report.
    #[test]
    fn reports_by_community_merge((case, plan) in case_and_plan()) {
        // Sharding by community keeps each content's facts together only
        // when its events stay in its own community.
        let case = Case {
            ops: case.ops.iter().filter(|op| in_home(op)).cloned().collect(),
            ..case
        };
        let whole = run_case(&case, &plan);
        let mut merged: Option<HealthReport> = None;
        for c in 0..COMMUNITIES {
            let part = Case {
                ops: case
                    .ops
                    .iter()
                    .filter(|op| match op {
                        Op::Event(e) => e.kind.community().map_or(c == 0, |x| x.0 == c),
                        Op::Join(_, x, _) | Op::Leave(_, x, _) => x.0 == c,
                    })
                    .cloned()
                    .collect(),
                ..case.clone()
            };
            let report = run_case(&part, &plan);
            match &mut merged {
                None => merged = Some(report),
                Some(m) => m.merge(report).unwrap(),
            }
        }
        prop_assert_eq!(merged.unwrap(), whole);
    }

    /// Counts past `u16::MAX` and `u32::MAX` a member a day: a shard's
    /// counts scaled by `w` (split into parts that fit its `u32`s) and by
    /// `v`, absorbed around the events fed once more, then shipped again.
    #[test]
    fn heavy_counts_match(case in case(), w in heavy_weight(), v in heavy_weight()) {
        let report = match case.zone {
            Zone::Beijing => heavy(&case, beijing(), w, v),
            Zone::Iana(tz) => heavy(&case, tz, w, v),
        };
        compare(&report, &model(&case, w + v + 1), &case);
    }
}

fn heavy_weight() -> impl Strategy<Value = u64> {
    prop_oneof![
        1..3_u64,
        30_000..70_000_u64,
        (u64::from(u32::MAX) - 2)..=(u64::from(u32::MAX) + 2),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(96) / 8))]

    /// Communities with hundreds of records, where `finish` sorts by radix
    /// rather than by comparison.
    #[test]
    fn large_communities_match(case in case_of(300, 1_500), plan in plan()) {
        let report = run_case(&case, &plan);
        compare(&report, &model(&case, 1), &case);
    }
}

/// Whether an event about a content names the content's own community.
fn in_home(op: &Op) -> bool {
    let Op::Event(e) = op else { return true };
    let content = match &e.kind {
        EventKind::Post { content, .. }
        | EventKind::Reply { content, .. }
        | EventKind::Reaction { content, .. }
        | EventKind::Share { content, .. } => content,
        _ => return true,
    };
    e.kind
        .community()
        .is_none_or(|c| c.0 == content.0 % COMMUNITIES)
}

/// `shard` with every activity count multiplied by `w`, as a host that
/// counted that many events would ship it.
fn scaled(shard: HealthShard, w: u64) -> HealthShard {
    let mut json = serde_json::to_value(&shard).unwrap();
    let activity = json["activity"].as_array().unwrap().clone();
    let mut out = Vec::new();
    for record in activity {
        let mut left = record[3].as_u64().unwrap() * w;
        while left > 0 {
            let part = left.min(u64::from(u32::MAX));
            let mut r = record.clone();
            r[3] = part.into();
            out.push(r);
            left -= part;
        }
    }
    json["activity"] = out.into();
    serde_json::from_value(json).unwrap()
}

fn heavy<Z: TimeZone>(case: &Case, zone: Z, w: u64, v: u64) -> HealthReport {
    let mut b = builder(case, zone.clone());
    for op in &case.ops {
        b.feed(op);
    }
    let shard = b.into_shard();
    let mut b = builder(case, zone.clone());
    b.absorb(scaled(shard.clone(), w)).unwrap();
    for op in &case.ops {
        b.feed(op);
    }
    b.absorb(scaled(shard, v)).unwrap();
    let again = json_trip(b.into_shard());
    let mut b = builder(case, zone);
    b.absorb(again).unwrap();
    b.finish()
}

/// Instants across chrono's whole calendar, the ends included.
fn any_instant() -> impl Strategy<Value = DateTime<Utc>> {
    let (min, max) = (
        DateTime::<Utc>::MIN_UTC.timestamp_millis(),
        DateTime::<Utc>::MAX_UTC.timestamp_millis(),
    );
    prop_oneof![
        Just(DateTime::<Utc>::MIN_UTC),
        Just(DateTime::<Utc>::MAX_UTC),
        (min..=max).prop_map(|ms| DateTime::from_timestamp_millis(ms).unwrap()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(96)))]

    /// Specs and instants at the ends of the calendar (and day numbers
    /// beyond it) are refused or counted, never a panic.
    #[test]
    fn extreme_days_and_instants_do_not_panic(
        last in prop_oneof![Just(i32::MIN), Just(i32::MAX), any::<i32>(), -100_000_000..100_000_000_i32],
        window_days in 1..=366_u32,
        raw in prop::collection::vec((0..4_u64, any_instant(), any::<u8>(), 0..3_u64), 0..24),
    ) {
        let spec = HealthSpec {
            window_days,
            ..HealthSpec::new(LocalDay::from_number(last))
        };
        let Ok(health) = spec.validate() else { return Ok(()) };
        let mut b = health.builder(beijing());
        for (i, (user, at, k, content)) in raw.into_iter().enumerate() {
            let c = Some(CommunityId(content));
            match k % 12 {
                10 => b.joined(UserId(user), CommunityId(content), at),
                11 => b.left(UserId(user), CommunityId(content), at),
                _ => b.add(&Event::new(EventId(i as u64), UserId(user), at, kind(k, c, content, Some(UserId(k.into()))))),
            }
        }
        let shard = b.into_shard();
        let mut again = health.builder(beijing());
        again.absorb(shard.clone()).unwrap();
        again.absorb(shard).unwrap();
        let report = again.finish();
        let _ = serde_json::to_string(&report).unwrap();
    }
}
