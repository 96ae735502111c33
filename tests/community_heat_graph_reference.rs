//! Content heat (`growthkit::community::heat`) and the interaction graph
//! (`growthkit::community::graph`) against brute-force references written
//! from their documentation.
//!
//! **Heat.** The reference keeps every event (content, signal, instant, the
//! topic it fed) and works each figure out again from the definitions: a
//! count `2^(−Δt / half-life)` per event, `Δt` taken from the reading
//! instant, which is `now` or, for a reading earlier than the item's latest
//! event, that event; heat `Σ weight × fast`; velocity
//! `(fast × baseline_half_life) / (slow × half_life)`; "new" when the item
//! was first seen less than one baseline half-life before the reading
//! instant; the reason's signal the one whose own velocity is highest
//! (then heat, then the earlier signal). The library, fed the same events
//! in any order, split into shards and merged in any grouping, and read
//! back from JSON between steps, must agree.
//!
//! *Tolerance.* The library keeps one running value per signal and
//! multiplies it by a decay factor at each step, the reference sums one
//! `2^(−Δt/h)` per event; only additions of positive numbers and
//! multiplications are involved, so the two differ by a few ulps per
//! event: a relative `1e-9` is far above that (at most a few hundred
//! operations, each within `2^-53`) and far below any difference the docs
//! care about. Values that decay into the subnormal range lose relative
//! precision, hence a tiny absolute slack (`1e-250` for heat, `1e-9` for a
//! velocity, which is at most `baseline / half-life`). Threshold decisions
//! (trending, forgetting) and rankings are only compared where the
//! reference's figures are not within that tolerance of a threshold or of
//! each other.
//!
//! Heat has no calendar: instants are built from local times in UTC, a
//! fixed `+08:00` and `Europe/Berlin` across its spring daylight-saving
//! change, and the library must only ever see the UTC instant.
//!
//! **Graph.** The reference keeps the list of events, resolves each
//! interaction's target by hand (`to`, else the content's author from the
//! earliest post), drops self-interactions and unknown authors, and
//! counts edges, views on existing edges, degrees, probabilities,
//! reciprocity and density from that list.

use chrono::{DateTime, FixedOffset, NaiveDate, TimeDelta, TimeZone, Utc};
use growthkit::community::graph::{self, GraphBuilder, InteractionGraph, Propagation};
use growthkit::community::{
    ContentHeat, EdgeWeight, HeatError, HeatModelSpec, Signal, SignalWeights, Trend,
};
use growthkit::{CommunityId, ContentId, Event, EventId, EventKind, TopicId, UserId};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use std::collections::{BTreeMap, BTreeSet};

fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

// ---------------------------------------------------------------------------
// Heat reference
// ---------------------------------------------------------------------------

const MS_PER_HOUR: f64 = 3_600_000.0;
const SIGNALS: [Signal; 5] = [
    Signal::View,
    Signal::Click,
    Signal::Share,
    Signal::Reply,
    Signal::Reaction,
];

/// The weight of a signal, read off the spec field by field.
fn weight(spec: &HeatModelSpec, s: Signal) -> f64 {
    match s {
        Signal::View => spec.weights.view,
        Signal::Click => spec.weights.click,
        Signal::Share => spec.weights.share,
        Signal::Reply => spec.weights.reply,
        Signal::Reaction => spec.weights.reaction,
    }
}

fn plural(s: Signal) -> &'static str {
    match s {
        Signal::View => "views",
        Signal::Click => "clicks",
        Signal::Share => "shares",
        Signal::Reply => "replies",
        Signal::Reaction => "reactions",
    }
}

fn signal_index(s: Signal) -> usize {
    SIGNALS.iter().position(|&x| x == s).unwrap()
}

#[derive(Clone, Copy, Debug)]
struct RefEvent {
    content: u64,
    signal: Signal,
    at: i64,
    /// The topic this event fed, decided when it was applied.
    topic: Option<u64>,
    /// Its item was forgotten since (topics keep it).
    forgotten: bool,
}

/// What the docs say an item's (or topic's) trend is.
#[derive(Clone, Debug)]
struct RefTrend {
    heat: f64,
    velocity: f64,
    /// Per signal: weighted fast and slow counts.
    fast: [f64; 5],
    slow: [f64; 5],
    new: bool,
    /// How far the reading instant is from the end of "new", in ms.
    new_margin: f64,
    events: usize,
}

fn ref_trend<'a>(
    spec: &HeatModelSpec,
    events: impl Iterator<Item = &'a RefEvent>,
    now: i64,
) -> Option<RefTrend> {
    let events: Vec<&RefEvent> = events.collect();
    let latest = events.iter().map(|e| e.at).max()?;
    let first = events.iter().map(|e| e.at).min()?;
    // Reading earlier than the latest event reads at the latest event.
    let read = now.max(latest);
    let (h, b) = (
        spec.half_life_hours * MS_PER_HOUR,
        spec.baseline_half_life_hours * MS_PER_HOUR,
    );
    let (mut fast, mut slow) = ([0.0; 5], [0.0; 5]);
    for e in &events {
        let dt = (read - e.at) as f64;
        let k = signal_index(e.signal);
        let w = weight(spec, e.signal);
        fast[k] += w * 2f64.powf(-dt / h);
        slow[k] += w * 2f64.powf(-dt / b);
    }
    let heat: f64 = fast.iter().sum();
    let base: f64 = slow.iter().sum();
    let velocity = velocity(spec, heat, base);
    let since_first = (read - first) as f64;
    Some(RefTrend {
        heat,
        velocity,
        fast,
        slow,
        new: since_first < b,
        new_margin: (since_first - b).abs(),
        events: events.len(),
    })
}

/// `(fast × baseline_half_life) / (slow × half_life)`, 0 with no heat;
/// written `(fast / slow) × (baseline / half-life)` so that counts decayed
/// to subnormals do not make `0 / 0`.
fn velocity(spec: &HeatModelSpec, fast: f64, slow: f64) -> f64 {
    if fast > 0.0 && slow > 0.0 {
        (fast / slow) * (spec.baseline_half_life_hours / spec.half_life_hours)
    } else {
        0.0
    }
}

const REL: f64 = 1e-9;
const HEAT_ABS: f64 = 1e-250;
const VELOCITY_ABS: f64 = 1e-9;

fn close(a: f64, b: f64, abs: f64) -> bool {
    (a - b).abs() <= REL * a.abs().max(b.abs()) + abs
}

fn heat_close(a: f64, b: f64) -> bool {
    close(a, b, HEAT_ABS)
}

fn velocity_close(a: f64, b: f64) -> bool {
    close(a, b, VELOCITY_ABS)
}

impl RefTrend {
    fn max_velocity(spec: &HeatModelSpec) -> f64 {
        spec.baseline_half_life_hours / spec.half_life_hours
    }

    /// The velocity the library may report: the definition, which can
    /// round a hair above its documented maximum.
    fn velocity_capped(&self, spec: &HeatModelSpec) -> f64 {
        self.velocity.min(Self::max_velocity(spec))
    }

    /// Whether trending is surely decided (not within tolerance of either
    /// threshold), and how.
    fn trending(&self, spec: &HeatModelSpec) -> Option<bool> {
        let v = self.velocity_capped(spec);
        if velocity_close(v, spec.trending_velocity) || heat_close(self.heat, spec.min_heat) {
            return None;
        }
        Some(self.heat >= spec.min_heat && v >= spec.trending_velocity)
    }

    /// (signal, its velocity, its heat) of each signal with heat.
    fn candidates(&self, spec: &HeatModelSpec) -> Vec<(Signal, f64, f64)> {
        SIGNALS
            .iter()
            .enumerate()
            .filter(|&(k, _)| self.fast[k] > 0.0)
            .map(|(k, &s)| {
                let v = velocity(spec, self.fast[k], self.slow[k]).min(Self::max_velocity(spec));
                (s, v, self.fast[k])
            })
            .collect()
    }

    /// Checks a library trend against this one.
    fn check(&self, spec: &HeatModelSpec, got: &Trend, what: &str) -> Result<(), TestCaseError> {
        prop_assert!(
            heat_close(got.heat, self.heat),
            "{what}: heat {} vs reference {}",
            got.heat,
            self.heat
        );
        let wmax = SIGNALS.iter().map(|&s| weight(spec, s)).fold(0.0, f64::max);
        prop_assert!(
            got.heat <= wmax * self.events as f64,
            "{what}: heat {} above the largest weight {wmax} × {} events",
            got.heat,
            self.events
        );
        prop_assert!(
            velocity_close(got.velocity, self.velocity_capped(spec)),
            "{what}: velocity {} vs reference {} (uncapped {})",
            got.velocity,
            self.velocity_capped(spec),
            self.velocity
        );
        prop_assert!(
            got.velocity <= Self::max_velocity(spec),
            "{what}: velocity {} above the maximum {}",
            got.velocity,
            Self::max_velocity(spec)
        );
        if let Some(t) = self.trending(spec) {
            prop_assert_eq!(got.trending, t, "{}: trending", what);
        }
        let candidates = self.candidates(spec);
        // Heat within the absolute slack of 0 may have rounded to 0 on
        // either side, and with it the reason.
        let faint = self.heat <= HEAT_ABS;
        match (&got.reason, candidates.is_empty()) {
            (None, true) => {}
            (None, false) if faint => {}
            (Some(r), true) if r.heat <= HEAT_ABS => {}
            (None, false) => prop_assert!(false, "{what}: no reason, but heat {}", self.heat),
            (Some(r), true) => prop_assert!(false, "{what}: a reason {r:?} with no heat"),
            (Some(_), false) if faint => {}
            (Some(r), false) => {
                // The best candidate by velocity, then heat. Velocities
                // within tolerance of the best may come out on top by
                // rounding, so any of them will do; among velocities the
                // reference finds exactly equal, heat decides.
                let &(_, bv, _) = candidates
                    .iter()
                    .max_by(|a, b| a.1.total_cmp(&b.1))
                    .unwrap();
                let bf = candidates
                    .iter()
                    .filter(|c| c.1 == bv)
                    .map(|c| c.2)
                    .fold(0.0, f64::max);
                let ok: Vec<Signal> = candidates
                    .iter()
                    .filter(|c| velocity_close(c.1, bv) && (c.1 != bv || heat_close(c.2, bf)))
                    .map(|c| c.0)
                    .collect();
                prop_assert!(
                    ok.contains(&r.signal),
                    "{what}: reason {:?}, expected one of {ok:?} among {candidates:?}",
                    r.signal
                );
                let &(_, v, f) = candidates.iter().find(|c| c.0 == r.signal).unwrap();
                prop_assert!(velocity_close(r.velocity, v), "{what}: reason velocity");
                prop_assert!(heat_close(r.heat, f), "{what}: reason heat");
                prop_assert_eq!(r.baseline_days, spec.baseline_half_life_hours / 24.0);
                // A millisecond either side of the end of "new" is left
                // alone: the instants are whole milliseconds.
                if self.new_margin >= 1.0 {
                    prop_assert_eq!(
                        r.new,
                        self.new,
                        "{}: new (reference margin {} ms)",
                        what,
                        self.new_margin
                    );
                }
                let text = r.to_string();
                let days = spec.baseline_half_life_hours / 24.0;
                let (head, tail) = if r.new {
                    (
                        format!("new: {} at ", plural(r.signal)),
                        format!(" heat, no {days}-day baseline yet"),
                    )
                } else {
                    (
                        format!("{} up ", plural(r.signal)),
                        format!("× against its {days}-day baseline"),
                    )
                };
                prop_assert!(
                    text.starts_with(&head) && text.ends_with(&tail),
                    "{what}: {text}"
                );
            }
        }
        Ok(())
    }
}

/// Everything the heat docs describe, kept as plain lists.
#[derive(Clone, Debug)]
struct RefHeat {
    spec: HeatModelSpec,
    events: Vec<RefEvent>,
    topic_of: BTreeMap<u64, u64>,
}

impl RefHeat {
    fn item(&self, content: u64, now: i64) -> Option<RefTrend> {
        ref_trend(
            &self.spec,
            self.events
                .iter()
                .filter(|e| e.content == content && !e.forgotten),
            now,
        )
    }

    fn topic(&self, topic: u64, now: i64) -> Option<RefTrend> {
        ref_trend(
            &self.spec,
            self.events.iter().filter(|e| e.topic == Some(topic)),
            now,
        )
    }

    fn apply(&mut self, content: u64, signal: Signal, at: i64, attr: Option<i64>) {
        // The assignment wins; else a non-negative integer attribute.
        let topic = self
            .topic_of
            .get(&content)
            .copied()
            .or_else(|| attr.and_then(|a| u64::try_from(a).ok()));
        self.events.push(RefEvent {
            content,
            signal,
            at,
            topic,
            forgotten: false,
        });
    }
}

const CONTENTS: u64 = 6;
const TOPICS: u64 = 4;

/// Checks every item, every topic and both rankings at `now`.
fn check_all(lib: &ContentHeat, model: &RefHeat, now: i64) -> Result<(), TestCaseError> {
    let spec = &model.spec;
    let at = DateTime::from_timestamp_millis(now).unwrap();
    let mut items = Vec::new();
    for c in 0..CONTENTS {
        let want = model.item(c, now);
        let got = lib.trend(ContentId(c), at);
        prop_assert_eq!(
            want.is_some(),
            got.is_some(),
            "content {} seen at {}",
            c,
            now
        );
        if let (Some(w), Some(g)) = (&want, &got) {
            w.check(spec, g, &format!("content {c} at {now}"))?;
            prop_assert_eq!(lib.heat(ContentId(c), at), g.heat);
            items.push((c, w.clone()));
        } else {
            prop_assert_eq!(lib.heat(ContentId(c), at), 0.0);
        }
    }
    let seen = (0..CONTENTS)
        .filter(|&c| model.item(c, now).is_some())
        .count();
    prop_assert_eq!(lib.items(), seen);
    let mut topics = Vec::new();
    for t in 0..TOPICS {
        let want = model.topic(t, now);
        let got = lib.topic_trend(TopicId(t), at);
        prop_assert_eq!(want.is_some(), got.is_some(), "topic {} seen", t);
        if let (Some(w), Some(g)) = (&want, &got) {
            w.check(spec, g, &format!("topic {t} at {now}"))?;
            topics.push((t, w.clone()));
        }
    }
    for limit in [0, 1, 2, 10] {
        let trending = lib.trending_content(at, limit);
        for t in &trending {
            prop_assert_eq!(Some(t.trend), lib.trend(t.content, at));
        }
        let got: Vec<u64> = trending.iter().map(|t| t.content.0).collect();
        check_ranking(spec, &items, &got, limit, "trending content")?;
        let amplify = lib.topics_to_amplify(at, limit);
        for a in &amplify {
            prop_assert_eq!(Some(a.reason), a.trend.reason, "amplify reason");
            prop_assert_eq!(Some(a.trend), lib.topic_trend(a.topic, at));
        }
        let got: Vec<u64> = amplify.iter().map(|a| a.topic.0).collect();
        check_ranking(spec, &topics, &got, limit, "topics to amplify")?;
    }
    Ok(())
}

/// Whether the order of `a` and `b` hangs on velocities within tolerance
/// of each other: rounding may then order them either way.
fn near_tie(spec: &HeatModelSpec, a: &RefTrend, b: &RefTrend) -> bool {
    velocity_close(a.velocity_capped(spec), b.velocity_capped(spec))
}

fn check_ranking(
    spec: &HeatModelSpec,
    all: &[(u64, RefTrend)],
    got: &[u64],
    limit: usize,
    what: &str,
) -> Result<(), TestCaseError> {
    if all.iter().any(|(_, t)| t.trending(spec).is_none()) {
        return Ok(()); // someone sits on a threshold
    }
    let mut want: Vec<(u64, &RefTrend)> = all
        .iter()
        .filter(|(_, t)| t.trending(spec) == Some(true))
        .map(|(id, t)| (*id, t))
        .collect();
    // The reference's own figures, in the documented order; the library
    // may swap neighbours whose velocities are within tolerance.
    want.sort_by(|a, b| {
        let (va, vb) = (a.1.velocity_capped(spec), b.1.velocity_capped(spec));
        vb.total_cmp(&va)
            .then(b.1.heat.total_cmp(&a.1.heat))
            .then(a.0.cmp(&b.0))
    });
    let expected: Vec<u64> = want.iter().take(limit).map(|w| w.0).collect();
    if got == expected.as_slice() {
        return Ok(());
    }
    // Only near ties may reorder.
    prop_assert_eq!(got.len(), expected.len(), "{} at limit {}", what, limit);
    let of = |id: u64| want.iter().find(|w| w.0 == id).map(|w| w.1);
    for (&g, &e) in got.iter().zip(&expected) {
        if g != e {
            let (Some(tg), Some(te)) = (of(g), of(e)) else {
                prop_assert!(false, "{what}: got {got:?}, expected {expected:?}");
                unreachable!()
            };
            prop_assert!(
                near_tie(spec, tg, te),
                "{what}: got {got:?}, expected {expected:?} ({tg:?} vs {te:?})"
            );
        }
    }
    Ok(())
}

// Generated operations.

#[derive(Clone, Debug)]
enum HeatOp {
    /// kind 0..5 a signal, 5 a post, 6 a visit (neither counts).
    Apply {
        content: u64,
        kind: u8,
        at: i64,
        attr: Option<i64>,
    },
    SetTopic {
        content: u64,
        topic: u64,
    },
    Check {
        now: i64,
    },
    Forget {
        now: i64,
        below: f64,
    },
    RoundTrip,
}

/// The local instants the events are spread from, as UTC milliseconds.
fn base_instants() -> Vec<i64> {
    let day = NaiveDate::from_ymd_opt(2026, 3, 28).unwrap();
    let midnight = day.and_hms_opt(0, 0, 0).unwrap();
    let beijing = FixedOffset::east_opt(8 * 3600).unwrap();
    let berlin = chrono_tz::Europe::Berlin;
    [
        Utc.from_utc_datetime(&midnight).timestamp_millis(),
        beijing
            .from_local_datetime(&midnight)
            .unwrap()
            .timestamp_millis(),
        // The night of Berlin's spring change: 02:00 does not exist.
        berlin
            .from_local_datetime(&day.succ_opt().unwrap().and_hms_opt(1, 30, 0).unwrap())
            .unwrap()
            .timestamp_millis(),
        // Before 1970: negative milliseconds.
        Utc.with_ymd_and_hms(1969, 12, 31, 23, 0, 0)
            .unwrap()
            .timestamp_millis(),
    ]
    .into()
}

/// Offsets from the base: minutes up to 40 days, or exact multiples of
/// the half-lives (so some readings sit right at "new"'s end).
fn offset(spec: &HeatModelSpec) -> impl Strategy<Value = i64> + use<> {
    let b = (spec.baseline_half_life_hours * MS_PER_HOUR) as i64;
    let h = (spec.half_life_hours * MS_PER_HOUR) as i64;
    prop_oneof![
        6 => (0_i64..40 * 24 * 60, 0_i64..60_000).prop_map(|(m, ms)| m * 60_000 + ms),
        1 => (0_i64..3, -1_i64..=1).prop_map(move |(k, d)| k * b + d),
        1 => (0_i64..10).prop_map(move |k| k * h),
    ]
}

fn spec() -> impl Strategy<Value = HeatModelSpec> {
    // 1e9 is `MAX_HEAT_WEIGHT`.
    let w = || select(vec![0.0, 0.25, 1.0, 2.0, 3.7, 8.0, 1e6, 1e9]);
    (
        (w(), w(), w(), w(), w()),
        select(vec![0.5, 1.0, 6.0, 24.0, 24.7, 36.123_456]),
        select(vec![1.5, 2.0, 7.0, 7.3, 100.0]),
        select(vec![1.0, 1.5, 2.0, 4.0]),
        select(vec![0.0, 1.0, 5.0, 20.0]),
    )
        .prop_map(|((view, click, share, reply, reaction), h, k, tv, min)| {
            let mut weights = SignalWeights {
                view,
                click,
                share,
                reply,
                reaction,
            };
            if [view, click, share, reply, reaction]
                .iter()
                .all(|&x| x == 0.0)
            {
                weights.share = 8.0;
            }
            HeatModelSpec {
                weights,
                half_life_hours: h,
                baseline_half_life_hours: h * k,
                // At most the largest velocity, `k` (less a rounding), or
                // the model is refused: nothing could trend.
                trending_velocity: if tv >= k { 1.0 } else { tv },
                min_heat: min,
            }
        })
}

fn heat_ops(spec: &HeatModelSpec, max: usize) -> impl Strategy<Value = Vec<HeatOp>> + use<> {
    let base = select(base_instants());
    let at = (base, offset(spec)).prop_map(|(b, o)| b + o);
    let now = || {
        (
            select(base_instants()),
            offset(spec),
            -3_600_000_i64..3_600_000,
        )
            .prop_map(|(b, o, d)| b + o + d)
    };
    let op = prop_oneof![
        10 => (
            0..CONTENTS,
            0_u8..7,
            at,
            prop_oneof![3 => Just(None), 1 => (-1_i64..TOPICS as i64).prop_map(Some)],
        )
            .prop_map(|(content, kind, at, attr)| HeatOp::Apply { content, kind, at, attr }),
        2 => (0..CONTENTS, 0..TOPICS).prop_map(|(content, topic)| HeatOp::SetTopic { content, topic }),
        2 => now().prop_map(|now| HeatOp::Check { now }),
        1 => (now(), select(vec![0.5, 2.0, 10.0, 50.0, f64::NAN, f64::NEG_INFINITY, f64::INFINITY]))
            .prop_map(|(now, below)| HeatOp::Forget { now, below }),
        1 => Just(HeatOp::RoundTrip),
    ];
    vec(op, 0..max)
}

fn event_of(i: usize, content: u64, kind: u8, at: i64, attr: Option<i64>) -> Event {
    let c = ContentId(content);
    let kind = match kind {
        0 => EventKind::ContentViewed { content: c },
        1 => EventKind::ContentClicked { content: c },
        2 => EventKind::Share {
            community: None,
            content: c,
        },
        3 => EventKind::Reply {
            community: Some(CommunityId(1)),
            content: c,
            to: Some(UserId(9)),
        },
        4 => EventKind::Reaction {
            community: None,
            content: c,
            to: None,
        },
        5 => EventKind::Post {
            community: None,
            content: c,
        },
        _ => EventKind::Visited,
    };
    let e = Event::new(
        EventId(i as u64),
        UserId(i as u64 % 3),
        DateTime::from_timestamp_millis(at).unwrap(),
        kind,
    );
    match attr {
        Some(a) => e.with_attr("topic", a),
        None => e,
    }
}

fn signal_of(kind: u8) -> Option<Signal> {
    SIGNALS.get(usize::from(kind)).copied()
}

fn round_trip(lib: &ContentHeat) -> Result<ContentHeat, TestCaseError> {
    let json = serde_json::to_string(lib).unwrap();
    let back: ContentHeat = serde_json::from_str(&json).unwrap();
    prop_assert_eq!(&back, lib, "JSON round trip");
    Ok(back)
}

/// Runs the operations on the library and the reference, checking as it
/// goes; returns both.
fn run_heat(spec: &HeatModelSpec, ops: &[HeatOp]) -> Result<(ContentHeat, RefHeat), TestCaseError> {
    let mut lib = ContentHeat::new(spec.clone().validate().unwrap());
    let mut model = RefHeat {
        spec: spec.clone(),
        events: Vec::new(),
        topic_of: BTreeMap::new(),
    };
    for (i, op) in ops.iter().enumerate() {
        match *op {
            HeatOp::Apply {
                content,
                kind,
                at,
                attr,
            } => {
                let before = lib.clone();
                let counted = lib.apply(&event_of(i, content, kind, at, attr));
                prop_assert_eq!(counted, signal_of(kind).is_some());
                match signal_of(kind) {
                    Some(s) => {
                        prop_assert!(
                            growthkit::store::Versioned::version(&lib)
                                > growthkit::store::Versioned::version(&before)
                        );
                        model.apply(content, s, at, attr);
                    }
                    None => prop_assert_eq!(&lib, &before, "a non-heat event changed nothing"),
                }
            }
            HeatOp::SetTopic { content, topic } => {
                lib.set_topic(ContentId(content), TopicId(topic));
                model.topic_of.insert(content, topic);
            }
            HeatOp::Check { now } => check_all(&lib, &model, now)?,
            HeatOp::Forget { now, below } => {
                let at = DateTime::from_timestamp_millis(now).unwrap();
                let mut gone = BTreeSet::new();
                let mut unsure = BTreeSet::new();
                for c in 0..CONTENTS {
                    if let Some(t) = model.item(c, now) {
                        if heat_close(t.heat, below) {
                            unsure.insert(c);
                        } else if t.heat < below {
                            gone.insert(c);
                        }
                    }
                }
                let n = lib.forget_cold(at, below);
                // Items on the threshold go whichever way the library took.
                for &c in &unsure {
                    if lib.trend(ContentId(c), at).is_none() {
                        gone.insert(c);
                    }
                }
                prop_assert_eq!(n, gone.len(), "forgotten below {} at {}", below, now);
                for e in &mut model.events {
                    e.forgotten |= gone.contains(&e.content);
                }
                for c in 0..CONTENTS {
                    prop_assert_eq!(
                        lib.topic(ContentId(c)),
                        model.topic_of.get(&c).map(|&t| TopicId(t))
                    );
                }
            }
            HeatOp::RoundTrip => lib = round_trip(&lib)?,
        }
    }
    Ok((lib, model))
}

/// Readings around the events: before, at and after them.
fn final_nows(model: &RefHeat) -> Vec<i64> {
    let mut nows: Vec<i64> = model.events.iter().map(|e| e.at).collect();
    let (lo, hi) = (
        nows.iter().copied().min().unwrap_or(0),
        nows.iter().copied().max().unwrap_or(0),
    );
    nows.sort_unstable();
    nows.dedup();
    nows.truncate(8);
    let b = (model.spec.baseline_half_life_hours * MS_PER_HOUR) as i64;
    nows.extend([lo - 3_600_000, lo - 1, hi + 1, hi + 3_600_000]);
    nows.extend([lo + b - 1, lo + b, hi + b, hi + 10 * b]);
    nows
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(256), ..ProptestConfig::default() })]

    /// One pass, with topics, forgetting, JSON round trips and readings at
    /// any instant, matches the reference.
    #[test]
    fn heat_matches_the_reference(
        (spec, ops) in spec().prop_flat_map(|s| { let ops = heat_ops(&s, 40); (Just(s), ops) })
    ) {
        let (lib, model) = run_heat(&spec, &ops)?;
        for now in final_nows(&model) {
            check_all(&lib, &model, now)?;
        }
    }

    /// The same events in another order, or split into shards merged in any
    /// grouping, give the reference's heat (topics assigned up front in
    /// every shard, as the merge docs ask).
    #[test]
    fn heat_is_order_and_shard_independent(
        spec in spec(),
        assign in vec((0..CONTENTS, 0..TOPICS), 0..4),
        events in vec((0..CONTENTS, 0_u8..5, select(base_instants()), 0_i64..40 * 24 * 60 * 60_000, 0_usize..3,
            prop_oneof![3 => Just(None), 1 => (0_i64..TOPICS as i64).prop_map(Some)]), 0..40),
        order in any::<proptest::sample::Index>(),
        left_first in any::<bool>(),
    ) {
        let model_spec = spec.clone().validate().unwrap();
        let fresh = || {
            let mut h = ContentHeat::new(model_spec.clone());
            for &(c, t) in &assign {
                h.set_topic(ContentId(c), TopicId(t));
            }
            h
        };
        let mut model = RefHeat { spec: spec.clone(), events: Vec::new(), topic_of: BTreeMap::new() };
        for &(c, t) in &assign {
            model.topic_of.insert(c, t);
        }
        let mut shards = [fresh(), fresh(), fresh()];
        let mut shuffled = fresh();
        let mut evs: Vec<Event> = Vec::new();
        for (i, &(c, kind, base, off, shard, attr)) in events.iter().enumerate() {
            let at = base + off;
            let e = event_of(i, c, kind, at, attr);
            model.apply(c, signal_of(kind).unwrap(), at, attr);
            shards[shard].apply(&e);
            evs.push(e);
        }
        // Another order: a rotation then a reversal of the tail.
        if !evs.is_empty() {
            let k = order.index(evs.len());
            evs.rotate_left(k);
            evs[k / 2..].reverse();
        }
        for e in &evs {
            shuffled.apply(e);
        }
        let [a, b, c] = shards;
        let merged = if left_first {
            let mut ab = a;
            ab.merge(b).unwrap();
            ab.merge(c).unwrap();
            ab
        } else {
            let mut bc = b;
            bc.merge(c).unwrap();
            let mut abc = a;
            abc.merge(bc).unwrap();
            abc
        };
        for now in final_nows(&model) {
            check_all(&shuffled, &model, now)?;
            check_all(&merged, &model, now)?;
        }
        // A state under another model is refused and changes nothing.
        let other = ContentHeat::new(HeatModelSpec {
            half_life_hours: spec.half_life_hours / 2.0,
            ..spec.clone()
        }.validate().unwrap());
        let mut copy = merged.clone();
        prop_assert_eq!(copy.merge(other), Err(HeatError::ModelMismatch));
        prop_assert_eq!(copy, merged);
    }
}

#[test]
fn merged_topic_assignments_keep_this_states() {
    let model = HeatModelSpec::default().validate().unwrap();
    let mut a = ContentHeat::new(model.clone());
    let mut b = ContentHeat::new(model);
    a.set_topic(ContentId(1), TopicId(1));
    b.set_topic(ContentId(1), TopicId(2));
    b.set_topic(ContentId(2), TopicId(3));
    a.merge(b).unwrap();
    assert_eq!(a.topic(ContentId(1)), Some(TopicId(1)));
    assert_eq!(a.topic(ContentId(2)), Some(TopicId(3)));
}

// ---------------------------------------------------------------------------
// Graph reference
// ---------------------------------------------------------------------------

const USERS: u64 = 6;

#[derive(Clone, Debug)]
enum GEv {
    Post {
        user: u64,
        content: u64,
        at: i64,
        community: Option<u64>,
    },
    /// kind 0 reply, 1 reaction, 2 share.
    Interact {
        user: u64,
        content: u64,
        kind: u8,
        to: Option<u64>,
        community: Option<u64>,
    },
    View {
        user: u64,
        content: u64,
    },
    /// A click or a visit: ignored.
    Other {
        user: u64,
        content: u64,
        click: bool,
    },
}

fn gev() -> impl Strategy<Value = GEv> {
    let community = || prop_oneof![Just(None), (0_u64..2).prop_map(Some)];
    prop_oneof![
        2 => (0..USERS, 0..CONTENTS, 0_i64..5, community())
            .prop_map(|(user, content, at, community)| GEv::Post { user, content, at, community }),
        5 => (0..USERS, 0..CONTENTS, 0_u8..3, prop_oneof![2 => Just(None), 1 => (0..USERS).prop_map(Some)], community())
            .prop_map(|(user, content, kind, to, community)| GEv::Interact {
                user, content, kind, to: if kind == 2 { None } else { to }, community
            }),
        3 => (0..USERS, 0..CONTENTS).prop_map(|(user, content)| GEv::View { user, content }),
        1 => (0..USERS, 0..CONTENTS, any::<bool>())
            .prop_map(|(user, content, click)| GEv::Other { user, content, click }),
    ]
}

fn gevent(i: usize, e: &GEv) -> Event {
    let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap();
    let (user, at, kind) = match *e {
        GEv::Post {
            user,
            content,
            at,
            community,
        } => (
            user,
            at,
            EventKind::Post {
                community: community.map(CommunityId),
                content: ContentId(content),
            },
        ),
        GEv::Interact {
            user,
            content,
            kind,
            to,
            community,
        } => {
            let (community, content, to) = (
                community.map(CommunityId),
                ContentId(content),
                to.map(UserId),
            );
            let kind = match kind {
                0 => EventKind::Reply {
                    community,
                    content,
                    to,
                },
                1 => EventKind::Reaction {
                    community,
                    content,
                    to,
                },
                _ => EventKind::Share { community, content },
            };
            (user, 0, kind)
        }
        GEv::View { user, content } => (
            user,
            0,
            EventKind::ContentViewed {
                content: ContentId(content),
            },
        ),
        GEv::Other {
            user,
            content,
            click,
        } => (
            user,
            0,
            if click {
                EventKind::ContentClicked {
                    content: ContentId(content),
                }
            } else {
                EventKind::Visited
            },
        ),
    };
    Event::new(
        EventId(i as u64),
        UserId(user),
        t0 + TimeDelta::minutes(at),
        kind,
    )
}

/// (replies, reactions, shares, views) per edge, from the docs.
type RefGraph = BTreeMap<(u64, u64), [u64; 4]>;

/// `community`: the builder's community, if any; each event is given with
/// the community of the builder that took it.
fn ref_graph(events: &[(GEv, Option<u64>)]) -> RefGraph {
    // The author: the earliest post, the lower user id on a tie.
    let mut author: BTreeMap<u64, (i64, u64)> = BTreeMap::new();
    for (e, _) in events {
        if let GEv::Post {
            user, content, at, ..
        } = *e
        {
            let a = author.entry(content).or_insert((at, user));
            if (at, user) < *a {
                *a = (at, user);
            }
        }
    }
    let mut g: RefGraph = BTreeMap::new();
    for (e, builder) in events {
        if let GEv::Interact {
            user,
            content,
            kind,
            to,
            community,
        } = *e
        {
            if builder.is_some() && community != *builder {
                continue;
            }
            let Some(target) = to.or(author.get(&content).map(|a| a.1)) else {
                continue;
            };
            if target == user {
                continue;
            }
            g.entry((user, target)).or_default()[usize::from(kind)] += 1;
        }
    }
    for (e, _) in events {
        if let GEv::View { user, content } = *e
            && let Some(&(_, a)) = author.get(&content)
            && let Some(w) = g.get_mut(&(user, a))
        {
            w[3] += 1;
        }
    }
    g
}

fn weight_of(w: &[u64; 4]) -> EdgeWeight {
    EdgeWeight {
        replies: w[0],
        reactions: w[1],
        shares: w[2],
        views: w[3],
    }
}

fn check_graph(g: &InteractionGraph, want: &RefGraph) -> Result<(), TestCaseError> {
    let nodes: BTreeSet<u64> = want.keys().flat_map(|&(a, b)| [a, b]).collect();
    let got_nodes: Vec<u64> = graph::nodes(g).iter().map(|u| u.0).collect();
    prop_assert_eq!(got_nodes, nodes.iter().copied().collect::<Vec<_>>());
    prop_assert_eq!(graph::edge_count(g), want.len());
    let got: Vec<(u64, u64, EdgeWeight)> = graph::edges(g).map(|(a, b, w)| (a.0, b.0, w)).collect();
    let expected: Vec<(u64, u64, EdgeWeight)> = want
        .iter()
        .map(|(&(a, b), w)| (a, b, weight_of(w)))
        .collect();
    prop_assert_eq!(&got, &expected);
    let in_deg = |u: u64| want.keys().filter(|k| k.1 == u).count();
    for u in 0..USERS + 1 {
        let outs: Vec<(u64, EdgeWeight)> = want
            .iter()
            .filter(|(k, _)| k.0 == u)
            .map(|(k, w)| (k.1, weight_of(w)))
            .collect();
        let got_outs: Vec<(u64, EdgeWeight)> = graph::out_edges(g, UserId(u))
            .map(|(b, w)| (b.0, w))
            .collect();
        prop_assert_eq!(&got_outs, &outs, "out-edges of {}", u);
        prop_assert_eq!(graph::out_degree(g, UserId(u)), outs.len());
        prop_assert_eq!(graph::in_degree(g, UserId(u)) as usize, in_deg(u));
        for v in 0..USERS + 1 {
            let w = want.get(&(u, v));
            prop_assert_eq!(
                graph::edge_weight(g, UserId(u), UserId(v)),
                w.map(weight_of)
            );
            let wc = w.map(|_| 1.0 / in_deg(v) as f64);
            let st = w.map(|w| {
                let (shares, views) = (w[2] as f64, w[3] as f64);
                if shares == 0.0 && views == 0.0 {
                    0.0
                } else {
                    shares / views.max(shares)
                }
            });
            prop_assert_eq!(
                graph::probability(g, UserId(u), UserId(v), Propagation::WeightedCascade),
                wc
            );
            prop_assert_eq!(
                graph::probability(g, UserId(u), UserId(v), Propagation::ShareThrough),
                st
            );
            for p in [wc, st].into_iter().flatten() {
                prop_assert!((0.0..=1.0).contains(&p));
            }
        }
        for mode in [Propagation::WeightedCascade, Propagation::ShareThrough] {
            let got: Vec<(u64, f64)> = graph::out_probabilities(g, UserId(u), mode)
                .map(|(v, p)| (v.0, p))
                .collect();
            let expected: Vec<(u64, f64)> = outs
                .iter()
                .map(|&(v, _)| {
                    (
                        v,
                        graph::probability(g, UserId(u), UserId(v), mode).unwrap(),
                    )
                })
                .collect();
            prop_assert_eq!(got, expected);
        }
        // Weighted cascade: the probabilities into a node sum to 1.
        if in_deg(u) > 0 {
            let sum: f64 = (0..USERS)
                .filter_map(|v| {
                    graph::probability(g, UserId(v), UserId(u), Propagation::WeightedCascade)
                })
                .sum();
            prop_assert!((sum - 1.0).abs() < 1e-12, "into {}: {}", u, sum);
        }
    }
    let mutual = want
        .keys()
        .filter(|&&(a, b)| want.contains_key(&(b, a)))
        .count() as u64;
    let r = graph::reciprocity(g);
    prop_assert_eq!((r.numerator, r.denominator), (mutual, want.len() as u64));
    let n = nodes.len() as u64;
    let d = graph::density(g);
    prop_assert_eq!(
        (d.numerator, d.denominator),
        (want.len() as u64, n * n.saturating_sub(1))
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(256), ..ProptestConfig::default() })]

    /// The builder, in any order and split into shards, matches the
    /// reference, and so do the reversed graph, the JSON round trip and
    /// `from_edges` with the edges cut into pieces and self-loops added.
    #[test]
    fn graph_matches_the_reference(
        events in vec(gev(), 0..40),
        community in prop_oneof![Just(None), (0_u64..2).prop_map(Some)],
        split in vec(0_usize..2, 40),
        rotate in any::<proptest::sample::Index>(),
    ) {
        let make = || community.map_or_else(GraphBuilder::new, |c| GraphBuilder::in_community(CommunityId(c)));
        let all: Vec<Event> = events.iter().enumerate().map(|(i, e)| gevent(i, e)).collect();
        let want = ref_graph(&events.iter().map(|e| (e.clone(), community)).collect::<Vec<_>>());

        let mut one = make();
        one.extend(&all);
        let g = one.finish();
        check_graph(&g, &want)?;

        // Another order, and two shards merged.
        let mut rotated = all.clone();
        if !rotated.is_empty() {
            let k = rotate.index(rotated.len());
            rotated.rotate_left(k);
            rotated.reverse();
        }
        let (mut a, mut b) = (make(), make());
        for (i, e) in rotated.iter().enumerate() {
            if split[i] == 0 { a.add(e) } else { b.add(e) }
        }
        b.merge(a);
        prop_assert_eq!(&b.finish(), &g);

        // The reversed graph.
        let rev: RefGraph = want.iter().map(|(&(x, y), w)| ((y, x), *w)).collect();
        check_graph(&graph::reversed(&g), &rev)?;
        prop_assert_eq!(graph::reversed(&graph::reversed(&g)), g.clone());

        // JSON and `from_edges`.
        let json = serde_json::to_string(&g).unwrap();
        prop_assert_eq!(&serde_json::from_str::<InteractionGraph>(&json).unwrap(), &g);
        let mut pieces = Vec::new();
        for (x, y, w) in graph::edges(&g) {
            let half = EdgeWeight { replies: w.replies / 2, reactions: 0, shares: w.shares, views: w.views / 3 };
            let rest = EdgeWeight {
                replies: w.replies - half.replies,
                reactions: w.reactions,
                shares: 0,
                views: w.views - half.views,
            };
            pieces.push((y, x, EdgeWeight::default()));
            pieces.push((x, y, half));
            pieces.push((x, x, w));
            pieces.push((x, y, rest));
        }
        pieces.reverse();
        let rebuilt = InteractionGraph::from_edges(pieces);
        let mut both = want.clone();
        for &(x, y) in want.keys() {
            both.entry((y, x)).or_default();
        }
        check_graph(&rebuilt, &both)?;
    }

    /// Builders for different communities merge into one over the union of
    /// what each kept.
    #[test]
    fn community_builders_merge_over_the_union(
        events in vec((gev(), 0_u64..2), 0..40),
    ) {
        let mut builders = [GraphBuilder::in_community(CommunityId(0)), GraphBuilder::in_community(CommunityId(1))];
        for (i, (e, c)) in events.iter().enumerate() {
            builders[*c as usize].add(&gevent(i, e));
        }
        let [mut x, y] = builders;
        x.merge(y);
        let want = ref_graph(&events.iter().map(|(e, c)| (e.clone(), Some(*c))).collect::<Vec<_>>());
        check_graph(&x.finish(), &want)?;
    }
}

// ---------------------------------------------------------------------------
// Extremes: no panic, no NaN
// ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(256), ..ProptestConfig::default() })]

    /// Instants anywhere chrono can hold and half-lives at the edges of
    /// what validates: nothing panics, heat stays finite and bounded,
    /// velocity is never NaN and within its maximum, and the state reads
    /// back from JSON.
    #[test]
    fn heat_at_the_extremes_stays_a_number(
        h in select(vec![1e-310, 1e-9, 0.5, 87_599.0]),
        // A factor over the half-life, or (negative) a baseline in hours:
        // an hour over 1e-310 hours is more than `f64::MAX`.
        k in select(vec![1.000_001, 2.0, 1e6, -1.0, -87_600.0]),
        share in select(vec![1e-300, 1.0, 1e9]),
        events in vec((0..CONTENTS, 0_u8..5, any::<i64>()), 1..12),
        nows in vec(any::<i64>(), 1..6),
    ) {
        let (lo, hi) = (
            DateTime::<Utc>::MIN_UTC.timestamp_millis(),
            DateTime::<Utc>::MAX_UTC.timestamp_millis(),
        );
        let ms = |x: i64| lo + x.rem_euclid(hi - lo);
        let spec = HeatModelSpec {
            weights: SignalWeights { share, ..SignalWeights::default() },
            half_life_hours: h,
            baseline_half_life_hours: if k < 0.0 {
                -k
            } else {
                (h * k).min(HeatModelSpec::MAX_HALF_LIFE_HOURS)
            },
            min_heat: 0.0,
            trending_velocity: 1.0,
        };
        let Ok(model) = spec.clone().validate() else { return Ok(()) };
        let mut lib = ContentHeat::new(model.clone());
        let mut other = ContentHeat::new(model);
        for (i, &(c, kind, at)) in events.iter().enumerate() {
            let e = event_of(i, c, kind, ms(at), Some(1));
            if i % 2 == 0 { lib.apply(&e) } else { other.apply(&e) };
        }
        lib.merge(other).unwrap();
        lib = round_trip(&lib)?;
        let wmax = SIGNALS.iter().map(|&s| weight(&spec, s)).fold(0.0, f64::max);
        for &now in &nows {
            let at = DateTime::from_timestamp_millis(ms(now)).unwrap();
            for t in (0..CONTENTS)
                .filter_map(|c| lib.trend(ContentId(c), at))
                .chain(lib.topic_trend(TopicId(1), at))
            {
                prop_assert!(t.heat >= 0.0 && t.heat <= wmax * events.len() as f64, "{:?}", t);
                prop_assert!(t.velocity >= 0.0, "{:?}", t);
                prop_assert!(t.velocity <= RefTrend::max_velocity(&spec), "{:?}", t);
                prop_assert!(t.heat > 0.0 || t.velocity == 0.0, "{:?}", t);
                prop_assert!(!t.trending || t.heat > 0.0, "{:?}", t);
            }
            let _ = lib.trending_content(at, 3);
            let _ = lib.topics_to_amplify(at, 3);
        }
        let at = DateTime::from_timestamp_millis(ms(nows[0])).unwrap();
        lib.forget_cold(at, 1.0);
        round_trip(&lib)?;
    }
}
