//! The engagement scorer against a brute-force reference written from its
//! documentation (`growthkit::community::engagement`): every credit kept
//! with its time, every day's tallies kept for good, partners as a plain
//! list. The online step, its JSON round trip between steps and the batch
//! [`score_log`] must all agree with it, in fixed offsets and in an IANA
//! zone across a daylight-saving change.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use growthkit::community::{
    EngagementModel, EngagementModelSpec, Everyone, Interaction, InteractionKind, InteractionLog,
    KindSpec, MemberScore, Outcome, PARTNERS, Side, score_log,
};
use growthkit::dedupe::DedupeWindow;
use growthkit::{EventId, UserId, UtcOffset};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use std::collections::{BTreeMap, HashMap, HashSet};

/// One side of one member, as the docs describe it.
#[derive(Default, Clone, Debug)]
struct RefSide {
    seen: HashSet<EventId>,
    /// (partner, window start day, count), most recent first.
    partners: Vec<(UserId, i64, u32)>,
    /// Every capped-kind day reached, with its credited counts per kind.
    tallies: BTreeMap<i64, [u32; InteractionKind::COUNT]>,
    /// (time in ms, points) per credit.
    credits: Vec<(i64, f64)>,
}

struct Ref<'a> {
    spec: &'a EngagementModelSpec,
    day: &'a dyn Fn(DateTime<Utc>) -> i64,
}

impl Ref<'_> {
    /// (points, outcome) of one step, as the docs say.
    fn step(
        &self,
        side: &mut RefSide,
        which: Side,
        me: UserId,
        i: &Interaction,
        partner: Option<UserId>,
    ) -> (f64, Outcome) {
        if partner == Some(me) {
            return (0.0, Outcome::SelfInteraction);
        }
        let k = self.spec.kinds.get(&i.kind).copied().unwrap_or_default();
        let (weight, cap) = match which {
            Side::Given => (k.given, k.daily_cap),
            Side::Received => (k.received, k.received_daily_cap),
        };
        if weight == 0.0 {
            return (0.0, Outcome::Unweighted);
        }
        if !side.seen.insert(i.id) {
            return (0.0, Outcome::Duplicate);
        }
        let day = (self.day)(i.at);
        let mut damping = 1.0;
        if let Some(p) = partner {
            let entry = match side.partners.iter().position(|e| e.0 == p) {
                Some(pos) => {
                    let (_, since, count) = side.partners.remove(pos);
                    if day - since >= i64::from(self.spec.pair_window_days) {
                        (p, day, 1)
                    } else {
                        (p, since, count + 1)
                    }
                }
                None => (p, day, 1),
            };
            side.partners.insert(0, entry);
            side.partners.truncate(PARTNERS);
            damping = self.spec.pair_damping.powi(entry.2 as i32 - 1);
        }
        if let Some(cap) = cap {
            side.tallies.entry(day).or_default();
            let latest: Vec<i64> = side.tallies.keys().rev().take(2).copied().collect();
            if !latest.contains(&day) {
                return (0.0, Outcome::DayForgotten);
            }
            let n = &mut side.tallies.get_mut(&day).unwrap()[i.kind as usize];
            if *n >= u32::from(cap) {
                return (0.0, Outcome::Capped { cap });
            }
            *n += 1;
        }
        let points = weight * damping;
        side.credits.push((i.at.timestamp_millis(), points));
        (points, Outcome::Credited)
    }

    fn score(&self, side: &RefSide, now: DateTime<Utc>) -> f64 {
        let Some(last) = side.credits.iter().map(|c| c.0).max() else {
            return 0.0;
        };
        let now = now.timestamp_millis().max(last);
        let hl = f64::from(self.spec.half_life_hours) * 3_600_000.0;
        side.credits
            .iter()
            .map(|&(t, p)| p * (-((now - t) as f64) / hl).exp2())
            .sum()
    }
}

fn t0() -> DateTime<Utc> {
    // Three days before Berlin's spring change (2026-03-29).
    Utc.with_ymd_and_hms(2026, 3, 26, 0, 0, 0).unwrap()
}

fn spec() -> impl Strategy<Value = EngagementModelSpec> {
    let kind_spec = |k: InteractionKind| {
        let received = if k.can_have_target() {
            0u32..8
        } else {
            0u32..1
        };
        (
            0u32..8,
            received,
            1u16..4,
            1u16..4,
            any::<bool>(),
            any::<bool>(),
        )
            .prop_map(|(g, r, gc, rc, has_gc, has_rc)| KindSpec {
                given: f64::from(g) / 4.0,
                received: f64::from(r) / 4.0,
                daily_cap: has_gc.then_some(gc),
                received_daily_cap: has_rc.then_some(rc),
            })
    };
    let kinds: Vec<_> = InteractionKind::ALL.iter().map(|&k| kind_spec(k)).collect();
    (
        kinds,
        1u32..200,
        1u32..=20,
        1u16..4,
        select(vec![0, 8 * 3600, -5 * 3600, 3600]),
    )
        .prop_map(
            |(kinds, half_life, damping, window, offset)| EngagementModelSpec {
                utc_offset: UtcOffset::from_seconds(offset).unwrap(),
                half_life_hours: half_life,
                kinds: InteractionKind::ALL.iter().copied().zip(kinds).collect(),
                pair_damping: f64::from(damping) / 20.0,
                pair_window_days: window,
                // Nothing is ever forgotten: the reference keeps every id.
                dedupe: DedupeWindow {
                    horizon_hours: 100_000,
                    max_ids: 10_000,
                },
            },
        )
}

/// Streams over seven users across a week, mostly forward in time with
/// late events and redeliveries mixed in.
fn stream() -> impl Strategy<Value = Vec<Interaction>> {
    vec(
        (
            0u64..7,
            proptest::option::weighted(0.8, 0u64..7),
            select(InteractionKind::ALL.to_vec()),
            -300i64..400,
            0u64..60,
            0u8..10,
        ),
        0..150,
    )
    .prop_map(|steps| {
        let mut clock = 0i64;
        let mut out: Vec<Interaction> = Vec::new();
        for (i, (actor, target, kind, dt, pick, roll)) in steps.into_iter().enumerate() {
            if roll == 0 && !out.is_empty() {
                let again = out[pick as usize % out.len()];
                out.push(again);
                continue;
            }
            clock = (clock + dt).max(0);
            out.push(Interaction {
                id: EventId(i as u64),
                at: t0() + TimeDelta::minutes(clock * 5),
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

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-4 + 1e-6 * a.abs().max(b.abs())
}

fn check<Tz: TimeZone>(
    model: &EngagementModel<Tz>,
    reference: &Ref<'_>,
    stream: &[Interaction],
) -> Result<(), TestCaseError> {
    let mut states: HashMap<UserId, MemberScore> = HashMap::new();
    let mut refs: HashMap<(UserId, bool), RefSide> = HashMap::new();
    for (n, i) in stream.iter().enumerate() {
        let sides = [
            (i.actor, Side::Given, i.target),
            (UserId(u64::MAX), Side::Received, None),
        ];
        for (idx, &(u, which, partner)) in sides.iter().enumerate() {
            let (u, partner) = if idx == 0 {
                (u, partner)
            } else {
                match i.target {
                    Some(t) if t != i.actor => (t, Some(i.actor)),
                    _ => continue,
                }
            };
            let s = states.entry(u).or_insert_with(|| MemberScore::new(u));
            // A JSON round trip between any two steps changes nothing.
            if n % 3 == 0 {
                *s = serde_json::from_str(&serde_json::to_string(&*s).unwrap()).unwrap();
            }
            let got = model.score_explained(s, i, &Everyone).unwrap();
            let r = refs.entry((u, which == Side::Given)).or_default();
            let (points, outcome) = reference.step(r, which, u, i, partner);
            prop_assert_eq!(
                got.outcome,
                outcome,
                "step {} {:?} {:?} for {}",
                n,
                i,
                which,
                u
            );
            prop_assert!(
                close(got.points, points),
                "step {} {:?}: {} vs {}",
                n,
                i,
                got.points,
                points
            );
        }
    }
    let end = stream.iter().map(|i| i.at).max().unwrap_or(t0());
    for now in [end, end + TimeDelta::hours(30), t0()] {
        for (u, s) in &states {
            for (which, given) in [(Side::Given, true), (Side::Received, false)] {
                let want = refs
                    .get(&(*u, given))
                    .map_or(0.0, |r| reference.score(r, now));
                let got = s.side_score(model, which, now);
                prop_assert!(
                    close(got, want),
                    "{} {:?} at {}: {} vs {}",
                    u,
                    which,
                    now,
                    got,
                    want
                );
            }
        }
    }
    // The batch path equals the online one exactly.
    let log = InteractionLog::new(stream.iter().copied());
    let batch = score_log(model, &log, &Everyone);
    for (u, s) in &states {
        // Self-interactions are left out of a log: such a member may be absent.
        let b = batch.get(*u).map_or(0.0, |b| b.score(model, end));
        prop_assert_eq!(b, s.score(model, end), "batch for {}", u);
    }
    Ok(())
}

fn local_days(offset: i32) -> impl Fn(DateTime<Utc>) -> i64 {
    move |at: DateTime<Utc>| {
        let local = at.naive_utc() + TimeDelta::seconds(i64::from(offset));
        local
            .date()
            .signed_duration_since(chrono::NaiveDate::MIN)
            .num_days()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn the_scorer_matches_its_documented_reference(spec in spec(), stream in stream()) {
        let day = local_days(spec.utc_offset.seconds());
        let reference = Ref { spec: &spec, day: &day };
        let model = spec.clone().validate().unwrap();
        check(&model, &reference, &stream)?;
    }

    #[test]
    fn the_scorer_matches_its_reference_across_daylight_saving(spec in spec(), stream in stream()) {
        let berlin = chrono_tz::Europe::Berlin;
        let day = move |at: DateTime<Utc>| {
            at.with_timezone(&berlin).date_naive().signed_duration_since(chrono::NaiveDate::MIN).num_days()
        };
        let reference = Ref { spec: &spec, day: &day };
        let model = spec.clone().validate_in(berlin).unwrap();
        check(&model, &reference, &stream)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// With a membership list (banned and departed users) and a dedupe
    /// window small enough to refuse late events, the batch path still
    /// equals the online one, state for state, and its summary counts the
    /// online outcomes.
    #[test]
    fn the_batch_path_equals_the_online_one_with_standing_and_small_windows(
        spec in spec(),
        stream in stream(),
        horizon in 1u32..30,
        max_ids in 1u16..6,
        banned in 1u64..7,
        departed in 1u64..7,
    ) {
        use growthkit::community::Community;
        use growthkit::CommunityId;
        let spec = EngagementModelSpec { dedupe: DedupeWindow { horizon_hours: horizon, max_ids }, ..spec };
        let model = spec.validate().unwrap();
        let mut c = Community::new(CommunityId(1), UserId(0), t0());
        for u in 1..6 {
            c.join(UserId(u), t0()).unwrap();
        }
        if banned < 6 {
            c.ban(UserId(0), UserId(banned)).unwrap();
        }
        let _ = c.leave(UserId(departed));
        let mut states: HashMap<UserId, MemberScore> = HashMap::new();
        let (mut credited, mut too_late, mut duplicates, mut not_counted) = (0u64, 0u64, 0u64, 0u64);
        for i in &stream {
            if i.is_self() {
                continue;
            }
            for u in [Some(i.actor), i.target].into_iter().flatten() {
                let s = states.entry(u).or_insert_with(|| MemberScore::new(u));
                match model.score_explained(s, i, &c) {
                    Ok(credit) => match credit.outcome {
                        Outcome::Credited => credited += 1,
                        Outcome::Duplicate => duplicates += 1,
                        Outcome::NotCounted { .. } => not_counted += 1,
                        _ => {}
                    },
                    Err(_) => too_late += 1,
                }
            }
        }
        let log = InteractionLog::new(stream.iter().copied());
        let batch = score_log(&model, &log, &c);
        for (u, s) in &states {
            prop_assert_eq!(batch.get(*u), Some(s), "{}", u);
        }
        let sum = batch.summary();
        prop_assert_eq!(
            (sum.credited, sum.too_late, sum.duplicates, sum.not_counted),
            (credited, too_late, duplicates, not_counted)
        );
    }
}
