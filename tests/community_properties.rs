//! Properties of community engagement (`growthkit::community`):
//!
//! 1. arbitrary interaction streams (late, repeated, self-aimed, banned
//!    users) never panic, and every step either credits, explains why not,
//!    or is refused as too late;
//! 2. with every weighted kind capped, no score ever exceeds the model's
//!    analytic maximum (caps × weights over the decay's geometric series);
//! 3. collusion is damped: a pair exchanging any number of interactions in
//!    one window earns at most `weight / (1 - damping)` each way;
//! 4. scoring a stream a second time changes nothing (idempotent on event id);
//! 5. the same stream gives the same states, and the batch path equals the
//!    online path;
//! 6. states, communities and specs round-trip through JSON;
//! 7. any JSON model fails to parse or validate, or is a valid model;
//! 8. a refused membership operation changes nothing, and there is always
//!    exactly one owner;
//! 9. member activity never panics, refuses without changing, and records
//!    an event once; member levels never exceed the ladder, promote only
//!    with every requirement met, demote only after the grace period, keep
//!    kept levels, leave locked ones alone; any JSON ladder validates or
//!    fails cleanly.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use growthkit::community::{
    ChangeReason, Community, EngagementModel, EngagementModelSpec, Everyone, Interaction,
    InteractionKind, InteractionLog, KindSpec, LevelInputs, LevelLadder, LevelLadderSpec,
    MemberActivity, MemberLevel, MemberScore, PARTNERS, Role, score_log,
};
use growthkit::dedupe::DedupeWindow;
use growthkit::{CommunityId, EventId, UserId, UtcOffset};
use growthkit::{ContentId, Event, EventKind, LocalDay};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{Value, json};
use std::collections::HashMap;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

fn kind() -> impl Strategy<Value = InteractionKind> {
    select(InteractionKind::ALL.to_vec())
}

/// A model over every kind; `capped` forces a cap on every weighted kind.
fn model(capped: bool) -> impl Strategy<Value = EngagementModel> {
    let kind_spec = move |k: InteractionKind| {
        let received = if k.can_have_target() {
            0u32..8
        } else {
            0u32..1
        };
        (0u32..8, received, 1u16..4, 1u16..4, any::<bool>()).prop_map(
            move |(g, r, gc, rc, has_cap)| KindSpec {
                // Quarters are exact in binary and in JSON.
                given: f64::from(g) / 4.0,
                received: f64::from(r) / 4.0,
                daily_cap: (capped || has_cap).then_some(gc),
                received_daily_cap: (capped || has_cap).then_some(rc),
            },
        )
    };
    let kinds: Vec<_> = InteractionKind::ALL.iter().map(|&k| kind_spec(k)).collect();
    (
        kinds,
        1u32..200,
        1u32..=20,
        1u16..4,
        select(vec![0, 8 * 3600, -5 * 3600]),
        1u32..100,
    )
        .prop_map(|(kinds, half_life, damping, window, offset, horizon)| {
            EngagementModelSpec {
                utc_offset: UtcOffset::from_seconds(offset).unwrap(),
                half_life_hours: half_life,
                kinds: InteractionKind::ALL.iter().copied().zip(kinds).collect(),
                pair_damping: f64::from(damping) / 20.0,
                pair_window_days: window,
                dedupe: DedupeWindow {
                    horizon_hours: horizon,
                    max_ids: 16,
                },
            }
            .validate()
            .unwrap()
        })
}

/// Streams over six users, mostly moving forward in time but with late
/// events, redeliveries and self-aimed interactions mixed in.
fn stream() -> impl Strategy<Value = Vec<Interaction>> {
    vec(
        (
            0u64..6,
            proptest::option::weighted(0.7, 0u64..6),
            kind(),
            -20i64..240,
            0u64..40,
            any::<bool>(),
        ),
        0..120,
    )
    .prop_map(|steps| {
        let mut clock = 0i64;
        let mut out: Vec<Interaction> = Vec::new();
        for (i, (actor, target, kind, dt, pick, repeat)) in steps.into_iter().enumerate() {
            // A redelivery repeats an earlier interaction exactly, time
            // included (hosts deliver events with the time they happened).
            if repeat && !out.is_empty() {
                let again = out[pick as usize % out.len()];
                out.push(again);
                continue;
            }
            clock = (clock + dt).max(0);
            out.push(Interaction {
                id: EventId(i as u64),
                at: t0() + TimeDelta::minutes(clock * 7),
                actor: UserId(actor),
                target: if kind.can_have_target() {
                    target.map(UserId)
                } else {
                    None
                },
                kind,
                community: None,
                content: None,
            });
        }
        out
    })
}

/// Scores `stream` one interaction at a time into `states`, for the actor
/// and the target; returns how many steps were refused as too late.
fn score_all(
    model: &EngagementModel,
    states: &mut HashMap<UserId, MemberScore>,
    stream: &[Interaction],
    standing: &impl growthkit::community::Standing,
) -> usize {
    let mut too_late = 0;
    for i in stream {
        for u in [Some(i.actor), i.target].into_iter().flatten() {
            let s = states.entry(u).or_insert_with(|| MemberScore::new(u));
            let before = s.clone();
            match model.score_explained(s, i, standing) {
                Ok(c) => assert!(c.points >= 0.0 && c.points <= c.weight),
                Err(_) => {
                    assert_eq!(*s, before, "a refused step changed the state");
                    too_late += 1;
                }
            }
            if i.is_self() {
                break;
            }
        }
    }
    too_late
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn scores_are_bounded_by_the_analytic_maximum(model in model(true), stream in stream()) {
        let bound = model.max_score().unwrap();
        let mut states = HashMap::new();
        for (n, i) in stream.iter().enumerate() {
            score_all(&model, &mut states, std::slice::from_ref(i), &Everyone);
            // Rounding to millionths adds at most half a millionth per step.
            let slack = 1e-6 * (n as f64 + 1.0);
            for s in states.values() {
                let score = s.score(&model, i.at);
                prop_assert!(score <= bound + slack, "{score} > {bound}");
            }
        }
    }

    #[test]
    fn collusion_is_damped(
        model in model(false),
        exchanges in vec((any::<bool>(), select(vec![InteractionKind::Reply, InteractionKind::Reaction])), 1..200),
    ) {
        let d = model.spec().pair_damping;
        prop_assume!(d < 1.0);
        let (a, b) = (UserId(1), UserId(2));
        let (mut sa, mut sb) = (MemberScore::new(a), MemberScore::new(b));
        // All within one minute per exchange of the same local day's morning.
        let start = t0() + TimeDelta::hours(2);
        for (n, (forward, kind)) in exchanges.iter().enumerate() {
            let (from, to) = if *forward { (a, b) } else { (b, a) };
            let i = Interaction {
                id: EventId(n as u64),
                at: start + TimeDelta::seconds(n as i64),
                actor: from, target: Some(to), kind: *kind, community: None, content: None,
            };
            model.score(&mut sa, &i, &Everyone).unwrap();
            model.score(&mut sb, &i, &Everyone).unwrap();
        }
        let max_w = |side: fn(&KindSpec) -> f64| {
            [InteractionKind::Reply, InteractionKind::Reaction]
                .iter()
                .map(|k| model.spec().kinds.get(k).map_or(0.0, side))
                .fold(0.0, f64::max)
        };
        // Each direction's repeats form one damped series.
        let each_way = (max_w(|k| k.given) + max_w(|k| k.received)) / (1.0 - d);
        let now = start + TimeDelta::seconds(exchanges.len() as i64);
        for s in [&sa, &sb] {
            prop_assert!(s.score(&model, now) <= each_way + 1e-3, "{} > {each_way}", s.score(&model, now));
        }
    }

    #[test]
    fn collusion_stays_damped_among_a_few_other_partners(
        model in model(false),
        steps in vec((0u64..PARTNERS as u64, select(vec![InteractionKind::Reply, InteractionKind::Reaction])), 1..200),
    ) {
        // A interacts with B (partner 0) and up to PARTNERS - 1 others, all
        // in one morning: B stays in A's table, so A→B stays one damped series.
        let d = model.spec().pair_damping;
        prop_assume!(d < 1.0);
        let a = UserId(100);
        let mut sa = MemberScore::new(a);
        let start = t0() + TimeDelta::hours(2);
        let mut to_b = 0.0;
        for (n, (partner, kind)) in steps.iter().enumerate() {
            let i = Interaction {
                id: EventId(n as u64),
                at: start + TimeDelta::seconds(n as i64),
                actor: a, target: Some(UserId(*partner)), kind: *kind, community: None, content: None,
            };
            let credit = model.score_explained(&mut sa, &i, &Everyone).unwrap();
            if *partner == 0 {
                to_b += credit.points;
            }
        }
        let max_w = [InteractionKind::Reply, InteractionKind::Reaction]
            .iter()
            .map(|k| model.spec().kinds.get(k).map_or(0.0, |k| k.given))
            .fold(0.0, f64::max);
        prop_assert!(to_b <= max_w / (1.0 - d) + 1e-9, "{to_b} > {}", max_w / (1.0 - d));
    }

    #[test]
    fn streams_never_panic_and_scoring_twice_changes_nothing(
        model in model(false),
        stream in stream(),
        banned in proptest::option::of(0u64..6),
    ) {
        let mut community = Community::new(CommunityId(1), UserId(0), t0());
        for u in 1..6 {
            community.join(UserId(u), t0()).unwrap();
        }
        if let Some(b) = banned.filter(|&b| b != 0) {
            community.ban(UserId(0), UserId(b)).unwrap();
        }
        let mut states = HashMap::new();
        score_all(&model, &mut states, &stream, &community);
        let once = states.clone();
        score_all(&model, &mut states, &stream, &community);
        prop_assert_eq!(&states, &once);
        if let Some(b) = banned.filter(|&b| b != 0) {
            let s = states.get(&UserId(b)).map_or(0.0, |s| s.score(&model, t0() + TimeDelta::days(60)));
            prop_assert_eq!(s, 0.0);
        }
        // Determinism: a fresh run gives the same states.
        let mut again = HashMap::new();
        score_all(&model, &mut again, &stream, &community);
        prop_assert_eq!(&again, &once);
        // The batch path equals the online path.
        let log = InteractionLog::new(stream.iter().copied());
        let batch = score_log(&model, &log, &community);
        for (u, s) in &once {
            if s.version() > 0 {
                prop_assert_eq!(batch.get(*u), Some(s));
            }
        }
        // States round-trip exactly.
        for s in once.values() {
            let back: MemberScore = serde_json::from_str(&serde_json::to_string(s).unwrap()).unwrap();
            prop_assert_eq!(&back, s);
        }
        let back: Community = serde_json::from_str(&serde_json::to_string(&community).unwrap()).unwrap();
        prop_assert_eq!(back, community);
    }

    #[test]
    fn specs_round_trip(model in model(false)) {
        let spec = model.spec().clone();
        let back: EngagementModelSpec = serde_json::from_str(&serde_json::to_string(&spec).unwrap()).unwrap();
        prop_assert_eq!(&back, &spec);
        prop_assert_eq!(back.validate().unwrap(), model);
    }

    #[test]
    fn arbitrary_json_models_validate_or_fail_cleanly(
        half_life in select(vec![json!(0), json!(1), json!(72), json!(-1), json!("x"), json!(1.5)]),
        damping in select(vec![json!(0), json!(0.5), json!(1), json!(2), json!(-0.1), json!(null)]),
        window in select(vec![json!(0), json!(1), json!(70000), json!(-1)]),
        kinds in vec((
            select(vec!["post", "reply", "reaction", "share", "check_in", "nope"]),
            select(vec![json!(0), json!(1.5), json!(-2), json!(1e7), json!("a")]),
            select(vec![json!(0), json!(3), json!(-1)]),
            select(vec![json!(null), json!(0), json!(2), json!(65535), json!(70000)]),
        ), 0..5),
        extra in any::<bool>(),
    ) {
        let mut kinds_json = serde_json::Map::new();
        for (k, g, r, cap) in kinds {
            kinds_json.insert(k.to_owned(), json!({"given": g, "received": r, "daily_cap": cap}));
        }
        let mut spec = json!({
            "half_life_hours": half_life, "pair_damping": damping,
            "pair_window_days": window, "kinds": Value::Object(kinds_json),
        });
        if extra {
            spec["surprise"] = json!(1);
        }
        let parsed = serde_json::from_value::<EngagementModelSpec>(spec);
        if let Ok(model) = parsed.map(EngagementModelSpec::validate) {
            match model {
                Ok(model) => {
                    prop_assert!(model.max_score().is_none_or(|m| m.is_finite() && m >= 0.0));
                    prop_assert!(model.spec().pair_damping > 0.0 && model.spec().pair_damping <= 1.0);
                }
                Err(e) => prop_assert!(!e.to_string().is_empty()),
            }
        }
    }

    #[test]
    fn refused_membership_operations_change_nothing(
        ops in vec((0u8..10, 0u64..6, 0u64..6), 0..60),
    ) {
        let mut c = Community::new(CommunityId(1), UserId(0), t0());
        let mut successes = 0;
        for (op, by, target) in ops {
            let (by, target) = (UserId(by), UserId(target));
            let before = c.clone();
            let r = match op {
                0 => c.join(target, t0()),
                1 => c.leave(target),
                2 => c.invite(by, target, t0()),
                3 => c.accept_invitation(target, t0()),
                4 => c.promote(by, target),
                5 => c.demote(by, target),
                6 => c.mute(by, target),
                7 => c.ban(by, target),
                8 => c.unban(by, target),
                _ => c.transfer_ownership(by, target),
            };
            match r {
                Ok(()) => successes += 1,
                Err(e) => {
                    prop_assert_eq!(&c, &before, "{} changed the community", e);
                }
            }
            let owners: Vec<_> = c.members().filter(|(_, m)| m.role == Role::Owner).map(|(u, _)| u).collect();
            prop_assert_eq!(owners, vec![c.owner()]);
            prop_assert_eq!(c.version(), successes);
        }
    }
}

/// Events about member 1 (and others reacting to them) over a few months.
fn activity_events() -> impl Strategy<Value = Vec<Event>> {
    vec(
        (
            0u8..7,
            0u64..4,
            0i64..72,
            0u64..12,
            0i64..400,
            any::<bool>(),
        ),
        0..150,
    )
    .prop_map(|steps| {
        let mut hours = 0i64;
        let mut out: Vec<Event> = Vec::new();
        for (i, (what, user, dt, content, n, again)) in steps.into_iter().enumerate() {
            if again && !out.is_empty() {
                let e = out[content as usize % out.len()].clone();
                out.push(e);
                continue;
            }
            hours += dt;
            let c = Some(CommunityId(1));
            let kind = match what {
                0 => EventKind::Visited,
                1 => EventKind::ContentViewed {
                    content: ContentId(content),
                },
                2 => EventKind::Reply {
                    community: c,
                    content: ContentId(content),
                    to: Some(UserId(user)),
                },
                3 => EventKind::Reaction {
                    community: c,
                    content: ContentId(content),
                    to: Some(UserId(1)),
                },
                4 => EventKind::Reaction {
                    community: c,
                    content: ContentId(content),
                    to: Some(UserId(user)),
                },
                5 => EventKind::Custom {
                    name: "flagged".into(),
                },
                _ => EventKind::Post {
                    community: c,
                    content: ContentId(content),
                },
            };
            let actor = if what == 3 {
                UserId(user + 2)
            } else {
                UserId(1)
            };
            out.push(
                Event::new(
                    EventId(i as u64),
                    actor,
                    t0() + TimeDelta::hours(hours),
                    kind,
                )
                .with_attr("posts_read", n % 50)
                .with_attr("read_seconds", n - 50),
            );
        }
        out
    })
}

fn ladder() -> impl Strategy<Value = LevelLadder> {
    select(vec![
        LevelLadder::discourse_trust_levels(),
        LevelLadder::orbit_levels(),
    ])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn levels_move_only_as_the_rules_allow(
        ladder in ladder(),
        events in activity_events(),
        fractions in vec(0.0f64..1.0, 1..40),
        lock in proptest::option::of(0u8..4),
    ) {
        let me = UserId(1);
        let mut activity = MemberActivity::new(me);
        let mut level = MemberLevel::new(me);
        if let Some(l) = lock {
            level.lock(&ladder, l).unwrap();
        }
        let mut kept_floor = 0u8;
        let mut fractions = fractions.into_iter().cycle();
        for e in &events {
            let before = activity.clone();
            match ladder.record(&mut activity, e) {
                Ok(false) => prop_assert_eq!(&activity, &before),
                Ok(true) => {
                    // Recording the same event again changes nothing.
                    let once = activity.clone();
                    let _ = ladder.record(&mut activity, e);
                    prop_assert_eq!(&activity, &once);
                }
                Err(_) => prop_assert_eq!(&activity, &before),
            }
            let now = e.at;
            let inputs = LevelInputs { joined_at: Some(t0()), top_fraction: fractions.next() };
            let was = level.clone();
            let change = ladder.step(&mut level, &activity, inputs, now).unwrap();
            prop_assert!(level.level() <= ladder.top());
            if was.is_locked() {
                prop_assert_eq!(&level, &was);
            }
            match change {
                None => prop_assert_eq!(level.level(), was.level()),
                Some(c) => {
                    prop_assert_eq!((c.from, c.to), (was.level(), level.level()));
                    match c.reason {
                        ChangeReason::Promoted => {
                            prop_assert!(c.to > c.from);
                            prop_assert!(c.checks.iter().all(|k| k.met));
                        }
                        ChangeReason::Demoted { below_since } => {
                            prop_assert_eq!(c.to + 1, c.from);
                            prop_assert!(c.to >= kept_floor, "a kept level was lost");
                            let today = LocalDay::of(now, &ladder.spec().utc_offset.zone());
                            prop_assert!(today.days_since(below_since) >= i32::from(ladder.spec().grace_days));
                            prop_assert!(c.checks.iter().any(|k| !k.holds));
                        }
                    }
                }
            }
            let l = level.level();
            if l > 0 && ladder.spec().levels[usize::from(l) - 1].keep_once_reached {
                kept_floor = kept_floor.max(l);
            }
        }
        let back: MemberActivity = serde_json::from_str(&serde_json::to_string(&activity).unwrap()).unwrap();
        prop_assert_eq!(back, activity);
        let back: MemberLevel = serde_json::from_str(&serde_json::to_string(&level).unwrap()).unwrap();
        prop_assert_eq!(back, level);
    }

    #[test]
    fn arbitrary_json_ladders_validate_or_fail_cleanly(
        low_water in select(vec![json!(0.9), json!(0), json!(1.5), json!(1)]),
        levels in vec(vec(select(vec![
            json!({"type": "at_least", "counter": "posts", "value": 3}),
            json!({"type": "at_least", "counter": "posts", "value": 0}),
            json!({"type": "at_most", "counter": "flags_against", "value": 0, "window_days": 30}),
            json!({"type": "days_active", "value": 10, "window_days": 5}),
            json!({"type": "days_active", "value": 5, "window_days": 0}),
            json!({"type": "received_from", "reactions": 3, "members": 20, "days": 2}),
            json!({"type": "received_from", "reactions": 3, "members": 2, "days": 2, "window_days": 60}),
            json!({"type": "tenure", "days": 0}),
            json!({"type": "tenure", "days": 30}),
            json!({"type": "score_top_percent", "percent": 10}),
            json!({"type": "score_top_percent", "percent": 150}),
            json!({"type": "nope"}),
        ]), 0..4), 0..4),
        names in vec(select(vec!["a", "b", "base"]), 4),
    ) {
        let levels: Vec<Value> = levels
            .into_iter()
            .zip(names)
            .map(|(reqs, name)| json!({"name": name, "requirements": reqs}))
            .collect();
        let spec = json!({"base": "base", "low_water": low_water, "levels": levels});
        if let Ok(spec) = serde_json::from_value::<LevelLadderSpec>(spec) {
            match spec.validate() {
                Ok(ladder) => {
                    prop_assert!(ladder.top() >= 1);
                    prop_assert!(ladder.horizon_days() >= 1);
                }
                Err(e) => prop_assert!(!e.to_string().is_empty()),
            }
        }
    }
}
