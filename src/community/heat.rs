//! Content heat: which content, and which topics, are hot right now, and
//! which are heating up faster than usual.
//!
//! # Model
//!
//! A [`HeatModelSpec`] (JSON, validated into a [`HeatModel`]) gives a weight
//! to each [`Signal`] (a view, a click, a share, a reply, a reaction) and two
//! half-lives. Each content item and each topic keeps, per signal, two
//! exponentially decayed counts:
//!
//! - **fast**, with `half_life_hours` (a day by default): an event `Δt` ago
//!   counts `2^(−Δt / half-life)`;
//! - **slow**, with `baseline_half_life_hours` (a week by default): the
//!   item's own baseline.
//!
//! The **heat** at `now` is `Σ weight(signal) × fast(signal)` decayed to
//! `now`. Only the values and the instant they were last decayed to are
//! stored, so reading or updating costs O(1) whatever the history; an event
//! older than that instant is decayed to it and added, so arrival order does
//! not matter (up to floating-point rounding). Reading an item (or a topic)
//! at an instant earlier than its latest event reads at that event, for
//! heat, velocity and whether the item is still new alike. Heat never
//! exceeds the largest weight times the number of events.
//!
//! # Trending
//!
//! A decayed count with half-life `h` over a steady stream of `r` events per
//! hour settles at `r h / ln 2`, so `fast / half_life` and `slow /
//! baseline_half_life` both estimate the recent rate, over a day and over a
//! week. Their quotient, the **velocity**
//! `(fast × baseline_half_life) / (slow × half_life)`, is 1 for a steady item,
//! above 1 for one heating up, and at most `baseline_half_life / half_life`
//! (everything just happened). An item is **trending** when its velocity
//! reaches `trending_velocity` and its heat reaches `min_heat` (a single
//! view of a new item has a huge velocity and means nothing).
//!
//! An item whose earliest event is less than one baseline half-life before
//! the instant read has **no baseline** yet: it can trend on volume and
//! velocity alike, and its [`Reason`] says it is new instead of comparing
//! it with a baseline it does not have.
//!
//! # Topics
//!
//! The host assigns content to topics with [`ContentHeat::set_topic`] (the
//! assignment wins), or puts an integer `topic` attribute on the event. A
//! topic's heat is fed by every event of its content from the moment the
//! content has a topic; assign topics before feeding events.
//! [`ContentHeat::topics_to_amplify`] ranks trending topics by velocity,
//! then heat, then id, each with the signal that rose most as its reason.
//!
//! # Shards and memory
//!
//! [`ContentHeat::merge`] adds another shard's heat (any split of the
//! events), equal to one pass up to floating-point rounding. Every item ever
//! seen is kept until [`ContentHeat::forget_cold`] drops those below a heat.
//!
//! ```
//! use chrono::{TimeDelta, TimeZone, Utc};
//! use growthkit::community::{ContentHeat, HeatModelSpec};
//! use growthkit::{ContentId, Event, EventId, EventKind, TopicId, UserId};
//!
//! let model = HeatModelSpec::default().validate()?;
//! let mut heat = ContentHeat::new(model);
//! heat.set_topic(ContentId(1), TopicId(7)); // "rust async"
//! let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
//! let share = || EventKind::Share { community: None, content: ContentId(1) };
//! let mut id = 0;
//! let mut feed = |heat: &mut ContentHeat, at, kind| {
//!     id += 1;
//!     heat.apply(&Event::new(EventId(id), UserId(id), at, kind))
//! };
//! // Two weeks of one share a day, then twenty shares in an afternoon.
//! for d in 0..14 {
//!     feed(&mut heat, t0 + TimeDelta::days(d), share());
//! }
//! let burst = t0 + TimeDelta::days(14);
//! for m in 0..20 {
//!     feed(&mut heat, burst + TimeDelta::minutes(m), share());
//! }
//! let now = burst + TimeDelta::hours(1);
//! let amplify = heat.topics_to_amplify(now, 5);
//! assert_eq!(amplify[0].topic, TopicId(7));
//! assert!(amplify[0].reason.to_string().starts_with("shares up"), "{}", amplify[0].reason);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::event::{Event, EventKind};
use crate::id::{ContentId, TopicId};
use crate::intern::BuildIdHasher;
use crate::store::Versioned;
use crate::time::unix_millis;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt;

const MS_PER_HOUR: f64 = 3_600_000.0;

/// What a person did with content, as heat counts it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    /// [`EventKind::ContentViewed`].
    View,
    /// [`EventKind::ContentClicked`].
    Click,
    /// [`EventKind::Share`].
    Share,
    /// [`EventKind::Reply`].
    Reply,
    /// [`EventKind::Reaction`].
    Reaction,
}

impl Signal {
    /// Every signal, in declaration order.
    pub const ALL: [Signal; 5] = [
        Signal::View,
        Signal::Click,
        Signal::Share,
        Signal::Reply,
        Signal::Reaction,
    ];

    /// The signal of an event, and the content it is about.
    pub fn of(kind: &EventKind) -> Option<(Signal, ContentId)> {
        match kind {
            EventKind::ContentViewed { content } => Some((Signal::View, *content)),
            EventKind::ContentClicked { content } => Some((Signal::Click, *content)),
            EventKind::Share { content, .. } => Some((Signal::Share, *content)),
            EventKind::Reply { content, .. } => Some((Signal::Reply, *content)),
            EventKind::Reaction { content, .. } => Some((Signal::Reaction, *content)),
            _ => None,
        }
    }

    fn plural(self) -> &'static str {
        match self {
            Signal::View => "views",
            Signal::Click => "clicks",
            Signal::Share => "shares",
            Signal::Reply => "replies",
            Signal::Reaction => "reactions",
        }
    }
}

/// A weight per [`Signal`]; each finite and not negative.
#[derive(Clone, Copy, PartialEq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignalWeights {
    /// A view; default 1.
    pub view: f64,
    /// A click; default 2.
    pub click: f64,
    /// A share; default 8.
    pub share: f64,
    /// A reply; default 5.
    pub reply: f64,
    /// A reaction; default 2.
    pub reaction: f64,
}

impl Default for SignalWeights {
    fn default() -> Self {
        SignalWeights {
            view: 1.0,
            click: 2.0,
            share: 8.0,
            reply: 5.0,
            reaction: 2.0,
        }
    }
}

impl SignalWeights {
    /// The weight of `signal`.
    pub fn of(&self, signal: Signal) -> f64 {
        match signal {
            Signal::View => self.view,
            Signal::Click => self.click,
            Signal::Share => self.share,
            Signal::Reply => self.reply,
            Signal::Reaction => self.reaction,
        }
    }

    /// The largest weight: the most one event can add to heat.
    pub fn max(&self) -> f64 {
        Signal::ALL.iter().map(|&s| self.of(s)).fold(0.0, f64::max)
    }
}

/// A heat model as written in configuration; [`HeatModelSpec::validate`]
/// checks it into a [`HeatModel`].
///
/// ```
/// use growthkit::community::{HeatError, HeatModelSpec};
/// let spec: HeatModelSpec = serde_json::from_str(
///     r#"{"weights": {"view": 1, "click": 2, "share": 10, "reply": 5, "reaction": 1},
///         "half_life_hours": 12, "baseline_half_life_hours": 168}"#,
/// )?;
/// assert!(spec.clone().validate().is_ok());
/// let bad = HeatModelSpec { baseline_half_life_hours: 6.0, ..spec };
/// assert!(matches!(bad.validate(), Err(HeatError::BaselineNotLonger { .. })));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeatModelSpec {
    /// A weight per signal.
    #[serde(default)]
    pub weights: SignalWeights,
    /// The heat's half-life, in hours; default 24.
    #[serde(default = "day")]
    pub half_life_hours: f64,
    /// The baseline's half-life, in hours, longer than `half_life_hours`;
    /// default 168 (a week).
    #[serde(default = "week")]
    pub baseline_half_life_hours: f64,
    /// The velocity at which an item trends, at least 1 and at most the
    /// largest velocity, `baseline_half_life_hours / half_life_hours`;
    /// default 2.
    #[serde(default = "two")]
    pub trending_velocity: f64,
    /// The heat below which nothing trends; default 20.
    #[serde(default = "twenty")]
    pub min_heat: f64,
}

fn day() -> f64 {
    24.0
}

fn week() -> f64 {
    168.0
}

fn two() -> f64 {
    2.0
}

fn twenty() -> f64 {
    20.0
}

impl Default for HeatModelSpec {
    fn default() -> Self {
        HeatModelSpec {
            weights: SignalWeights::default(),
            half_life_hours: day(),
            baseline_half_life_hours: week(),
            trending_velocity: two(),
            min_heat: twenty(),
        }
    }
}

impl HeatModelSpec {
    /// The longest half-life: ten years, in hours.
    pub const MAX_HALF_LIFE_HOURS: f64 = 87_600.0;

    /// Checks the spec into a [`HeatModel`].
    pub fn validate(self) -> Result<HeatModel, HeatError> {
        HeatModel::try_from(self)
    }
}

/// The largest weight a signal may have: heat sums weights over events, and
/// a weight near `f64::MAX` would make it infinite, and its trend not a
/// number, after a couple of events.
pub const MAX_HEAT_WEIGHT: f64 = 1e9;

/// A heat model that cannot be used. Each message names the field at fault.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum HeatError {
    /// A weight is negative, above [`MAX_HEAT_WEIGHT`], infinite or not a number.
    #[error("heat `weights.{signal}` must be a number from 0 to {MAX_HEAT_WEIGHT}, got {given}")]
    BadWeight {
        /// The signal's name.
        signal: &'static str,
        /// The value given.
        given: f64,
    },
    /// Every weight is zero: nothing would ever be hot.
    #[error("heat `weights` are all zero; give at least one signal a weight")]
    NoWeight,
    /// A half-life is not a positive number of hours up to ten years.
    #[error("heat `{field}` must be more than 0 and at most {max} hours, got {given}")]
    BadHalfLife {
        /// The field at fault.
        field: &'static str,
        /// The value given.
        given: f64,
        /// The longest allowed.
        max: f64,
    },
    /// The baseline must look further back than the heat.
    #[error(
        "heat `baseline_half_life_hours` ({baseline}) must be longer than `half_life_hours` ({half_life})"
    )]
    BaselineNotLonger {
        /// The baseline half-life given.
        baseline: f64,
        /// The heat half-life given.
        half_life: f64,
    },
    /// Two heat states under different models cannot be merged.
    #[error("cannot merge content heat built under different heat models")]
    ModelMismatch,
    /// A threshold is out of range.
    #[error("heat `{field}` must be a finite number ≥ {min}, got {given}")]
    BadThreshold {
        /// The field at fault.
        field: &'static str,
        /// The value given.
        given: f64,
        /// The smallest allowed.
        min: f64,
    },
    /// `trending_velocity` is above the largest velocity an item can have
    /// (everything just happened): nothing could ever trend.
    #[error(
        "heat `trending_velocity` ({given}) must be at most the largest velocity, `baseline_half_life_hours / half_life_hours` ({max}): above it nothing could ever trend"
    )]
    TrendingOutOfReach {
        /// The value given.
        given: f64,
        /// The largest velocity.
        max: f64,
    },
}

/// A checked heat model. Serializes as its [`HeatModelSpec`].
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
#[serde(try_from = "HeatModelSpec", into = "HeatModelSpec")]
pub struct HeatModel {
    spec: HeatModelSpec,
}

impl TryFrom<HeatModelSpec> for HeatModel {
    type Error = HeatError;

    fn try_from(spec: HeatModelSpec) -> Result<Self, Self::Error> {
        for signal in Signal::ALL {
            let given = spec.weights.of(signal);
            if !(0.0..=MAX_HEAT_WEIGHT).contains(&given) {
                let name = match signal {
                    Signal::View => "view",
                    Signal::Click => "click",
                    Signal::Share => "share",
                    Signal::Reply => "reply",
                    Signal::Reaction => "reaction",
                };
                return Err(HeatError::BadWeight {
                    signal: name,
                    given,
                });
            }
        }
        if spec.weights.max() <= 0.0 {
            return Err(HeatError::NoWeight);
        }
        let max = HeatModelSpec::MAX_HALF_LIFE_HOURS;
        for (field, given) in [
            ("half_life_hours", spec.half_life_hours),
            ("baseline_half_life_hours", spec.baseline_half_life_hours),
        ] {
            // NaN fails both comparisons, so it is rejected too.
            if !(given > 0.0 && given <= max) {
                return Err(HeatError::BadHalfLife { field, given, max });
            }
        }
        if spec.baseline_half_life_hours <= spec.half_life_hours {
            return Err(HeatError::BaselineNotLonger {
                baseline: spec.baseline_half_life_hours,
                half_life: spec.half_life_hours,
            });
        }
        for (field, given, min) in [
            ("trending_velocity", spec.trending_velocity, 1.0),
            ("min_heat", spec.min_heat, 0.0),
        ] {
            if !(given.is_finite() && given >= min) {
                return Err(HeatError::BadThreshold { field, given, min });
            }
        }
        let max = spec.baseline_half_life_hours / spec.half_life_hours;
        if spec.trending_velocity > max {
            return Err(HeatError::TrendingOutOfReach {
                given: spec.trending_velocity,
                max,
            });
        }
        Ok(HeatModel { spec })
    }
}

impl From<HeatModel> for HeatModelSpec {
    fn from(model: HeatModel) -> Self {
        model.spec
    }
}

impl HeatModel {
    /// The checked spec.
    pub fn spec(&self) -> &HeatModelSpec {
        &self.spec
    }

    fn fast_ms(&self) -> f64 {
        self.spec.half_life_hours * MS_PER_HOUR
    }

    fn slow_ms(&self) -> f64 {
        self.spec.baseline_half_life_hours * MS_PER_HOUR
    }

    /// The largest velocity: everything just happened.
    pub fn max_velocity(&self) -> f64 {
        self.spec.baseline_half_life_hours / self.spec.half_life_hours
    }
}

/// `2^(−elapsed / half_life)`, 1 for no (or negative) elapsed time.
fn decay(elapsed_ms: i64, half_life_ms: f64) -> f64 {
    if elapsed_ms <= 0 {
        1.0
    } else {
        (-(elapsed_ms as f64) / half_life_ms).exp2()
    }
}

/// One item's (or topic's) decayed counts per signal, as of `at`.
#[derive(Clone, Copy, PartialEq, Debug, Serialize, Deserialize)]
struct Heat {
    fast: [f64; 5],
    slow: [f64; 5],
    /// Unix milliseconds the counts are decayed to: the latest event.
    at: i64,
    /// Unix milliseconds of the earliest event.
    first: i64,
}

impl Heat {
    fn new(at: i64) -> Heat {
        Heat {
            fast: [0.0; 5],
            slow: [0.0; 5],
            at,
            first: at,
        }
    }

    /// Decays the counts forward to `at`, if later.
    fn decay_to(&mut self, model: &HeatModel, at: i64) {
        if at <= self.at {
            return;
        }
        let elapsed = at.saturating_sub(self.at);
        let (f, s) = (
            decay(elapsed, model.fast_ms()),
            decay(elapsed, model.slow_ms()),
        );
        self.fast.iter_mut().for_each(|v| *v *= f);
        self.slow.iter_mut().for_each(|v| *v *= s);
        self.at = at;
    }

    fn record(&mut self, model: &HeatModel, signal: Signal, at: i64) {
        self.decay_to(model, at);
        // An event older than the counts is decayed to them instead.
        let elapsed = self.at.saturating_sub(at);
        let (add_fast, add_slow) = (
            decay(elapsed, model.fast_ms()),
            decay(elapsed, model.slow_ms()),
        );
        let i = signal as usize;
        if let (Some(f), Some(s)) = (self.fast.get_mut(i), self.slow.get_mut(i)) {
            *f += add_fast;
            *s += add_slow;
        }
        self.first = self.first.min(at);
    }

    /// The fast and slow decay factors from the counts' instant to `now`
    /// (1 for an earlier `now`).
    fn factors(&self, model: &HeatModel, now: i64) -> (f64, f64) {
        let elapsed = now.saturating_sub(self.at);
        (
            decay(elapsed, model.fast_ms()),
            decay(elapsed, model.slow_ms()),
        )
    }

    /// The fast and slow weighted heat, per signal, decayed by the
    /// factors `(f, s)` (see [`Heat::factors`]).
    fn read(&self, model: &HeatModel, (f, s): (f64, f64)) -> ([f64; 5], [f64; 5]) {
        let mut fast = [0.0; 5];
        let mut slow = [0.0; 5];
        for (k, signal) in Signal::ALL.into_iter().enumerate() {
            let w = model.spec.weights.of(signal);
            if let (Some(out_f), Some(out_s), Some(&in_f), Some(&in_s)) = (
                fast.get_mut(k),
                slow.get_mut(k),
                self.fast.get(k),
                self.slow.get(k),
            ) {
                *out_f = w * in_f * f;
                *out_s = w * in_s * s;
            }
        }
        (fast, slow)
    }

    /// Adds another state's counts, decayed to the later of the two instants.
    fn merge(&mut self, model: &HeatModel, other: &Heat) {
        let mut other = *other;
        let at = self.at.max(other.at);
        self.decay_to(model, at);
        other.decay_to(model, at);
        for (mine, theirs) in self.fast.iter_mut().zip(other.fast) {
            *mine += theirs;
        }
        for (mine, theirs) in self.slow.iter_mut().zip(other.slow) {
            *mine += theirs;
        }
        self.first = self.first.min(other.first);
    }

    /// Heat, velocity and the reason, at `now`.
    fn trend(&self, model: &HeatModel, now: i64) -> Trend {
        let (df, ds) = self.factors(model, now);
        let (fast, slow) = self.read(model, (df, ds));
        let heat: f64 = fast.iter().sum();
        let base: f64 = slow.iter().sum();
        // `(f / s) × (baseline / half-life)`: dividing the counts first, as
        // `s × half-life` can round to 0 for a baseline decayed to the
        // last subnormals, and `0 / 0` would read as the largest velocity.
        // No heat is no velocity even when that largest velocity is
        // infinite (a tiny half-life), where `0 × ∞` is not a number.
        let velocity_of = |f: f64, s: f64| {
            if f > 0.0 && s > 0.0 {
                (f / s * model.max_velocity()).min(model.max_velocity())
            } else {
                0.0
            }
        };
        let velocity = velocity_of(heat, base);
        // The signal that rose most; ties go to the one adding more heat,
        // then to the earlier signal.
        let mut best: Option<(Signal, f64, f64)> = None;
        for (k, signal) in Signal::ALL.into_iter().enumerate() {
            let f = fast.get(k).copied().unwrap_or(0.0);
            if f <= 0.0 {
                continue;
            }
            // From the unweighted counts: the weight cancels out of the
            // quotient, and rounding it in would part signals with the
            // same history, which must tie.
            let v = velocity_of(
                self.fast.get(k).copied().unwrap_or(0.0) * df,
                self.slow.get(k).copied().unwrap_or(0.0) * ds,
            );
            let better = best.is_none_or(|(_, bv, bf)| {
                v.total_cmp(&bv).then(f.total_cmp(&bf)) == Ordering::Greater
            });
            if better {
                best = Some((signal, v, f));
            }
        }
        // Judged at the instant read, as heat and velocity are: a reading
        // earlier than the latest event reads at the latest event. In
        // float, as the baseline half-life need not be a whole number of
        // milliseconds (truncating it would end "new" early).
        let read = now.max(self.at);
        let new = (read.saturating_sub(self.first) as f64) < model.slow_ms();
        let reason = best.map(|(signal, velocity, heat)| Reason {
            signal,
            velocity,
            heat,
            baseline_days: model.spec.baseline_half_life_hours / 24.0,
            new,
        });
        Trend {
            heat,
            velocity,
            trending: heat >= model.spec.min_heat && velocity >= model.spec.trending_velocity,
            reason,
        }
    }
}

/// Why something is hot: the signal that rose most.
#[derive(Clone, Copy, PartialEq, Debug, Serialize, Deserialize)]
pub struct Reason {
    /// The signal.
    pub signal: Signal,
    /// Its own velocity.
    pub velocity: f64,
    /// Its weighted heat.
    pub heat: f64,
    /// The baseline half-life, in days.
    pub baseline_days: f64,
    /// The earliest event is less than one baseline half-life before the
    /// instant read (`now`, or the latest event if later): no baseline yet.
    pub new: bool,
}

impl fmt::Display for Reason {
    /// `shares up 4.0× against its 7-day baseline`, or for an item with no
    /// baseline yet `new: shares at 24.0 heat, no 7-day baseline yet`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.new {
            write!(
                f,
                "new: {} at {:.1} heat, no {}-day baseline yet",
                self.signal.plural(),
                self.heat,
                self.baseline_days
            )
        } else {
            write!(
                f,
                "{} up {:.1}× against its {}-day baseline",
                self.signal.plural(),
                self.velocity,
                self.baseline_days
            )
        }
    }
}

/// An item's or topic's heat at some instant.
#[derive(Clone, Copy, PartialEq, Debug, Serialize, Deserialize)]
pub struct Trend {
    /// Weighted, decayed heat.
    pub heat: f64,
    /// Fast rate over baseline rate (see the [module docs](self)); 0 with
    /// no heat at all.
    pub velocity: f64,
    /// Velocity and heat both reach the model's thresholds.
    pub trending: bool,
    /// The signal that rose most, if there is any heat.
    pub reason: Option<Reason>,
}

/// A topic worth amplifying.
#[derive(Clone, Copy, PartialEq, Debug, Serialize, Deserialize)]
pub struct Amplify {
    /// The topic.
    pub topic: TopicId,
    /// Its heat, velocity and trend.
    pub trend: Trend,
    /// Why.
    pub reason: Reason,
}

/// A trending content item.
#[derive(Clone, Copy, PartialEq, Debug, Serialize, Deserialize)]
pub struct Trending {
    /// The content.
    pub content: ContentId,
    /// Its heat, velocity and reason.
    pub trend: Trend,
}

/// Heat per content item and per topic, under one [`HeatModel`].
///
/// Plain data with a `version` bumped by every event applied, for a host's
/// [`VersionedStore`](crate::store::VersionedStore).
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct ContentHeat {
    model: HeatModel,
    items: HashMap<ContentId, Heat, BuildIdHasher>,
    topics: HashMap<TopicId, Heat, BuildIdHasher>,
    topic_of: HashMap<ContentId, TopicId, BuildIdHasher>,
    version: u64,
}

impl Versioned for ContentHeat {
    fn version(&self) -> u64 {
        self.version
    }
}

/// Orders by velocity, then heat, both descending, then by id.
fn rank<Id: Ord>(a: (&Trend, Id), b: (&Trend, Id)) -> Ordering {
    b.0.velocity
        .total_cmp(&a.0.velocity)
        .then(b.0.heat.total_cmp(&a.0.heat))
        .then(a.1.cmp(&b.1))
}

impl ContentHeat {
    /// No heat yet.
    pub fn new(model: HeatModel) -> ContentHeat {
        ContentHeat {
            model,
            items: HashMap::default(),
            topics: HashMap::default(),
            topic_of: HashMap::default(),
            version: 0,
        }
    }

    /// The model.
    pub fn model(&self) -> &HeatModel {
        &self.model
    }

    /// Puts `content` in `topic`, replacing an earlier topic; the topic's
    /// heat counts the content's events from now on.
    pub fn set_topic(&mut self, content: ContentId, topic: TopicId) {
        self.topic_of.insert(content, topic);
        self.version = self.version.saturating_add(1);
    }

    /// The topic of `content`, if assigned.
    pub fn topic(&self, content: ContentId) -> Option<TopicId> {
        self.topic_of.get(&content).copied()
    }

    /// Adds one event's heat; `false` (and nothing changes) for events that
    /// are not views, clicks, shares, replies or reactions. The topic is the
    /// assigned one, else the event's integer `topic` attribute if it is
    /// not negative (a [`TopicId`] is unsigned).
    ///
    /// Not idempotent by itself: deduplicate redelivered events upstream
    /// ([`RecentIds`](crate::dedupe::RecentIds)).
    pub fn apply(&mut self, event: &Event) -> bool {
        let Some((signal, content)) = Signal::of(&event.kind) else {
            return false;
        };
        let at = unix_millis(event.at);
        let model = &self.model;
        self.items
            .entry(content)
            .or_insert_with(|| Heat::new(at))
            .record(model, signal, at);
        let topic = self.topic_of.get(&content).copied().or_else(|| {
            let raw = event.attrs.get("topic")?.as_int()?;
            u64::try_from(raw).ok().map(TopicId)
        });
        if let Some(topic) = topic {
            self.topics
                .entry(topic)
                .or_insert_with(|| Heat::new(at))
                .record(model, signal, at);
        }
        self.version = self.version.saturating_add(1);
        true
    }

    /// The heat of `content` at `now` (0 if never seen).
    pub fn heat(&self, content: ContentId, now: DateTime<Utc>) -> f64 {
        self.trend(content, now).map_or(0.0, |t| t.heat)
    }

    /// Heat, velocity and reason of `content` at `now`.
    pub fn trend(&self, content: ContentId, now: DateTime<Utc>) -> Option<Trend> {
        let heat = self.items.get(&content)?;
        Some(heat.trend(&self.model, unix_millis(now)))
    }

    /// Heat, velocity and reason of `topic` at `now`.
    pub fn topic_trend(&self, topic: TopicId, now: DateTime<Utc>) -> Option<Trend> {
        let heat = self.topics.get(&topic)?;
        Some(heat.trend(&self.model, unix_millis(now)))
    }

    /// The trending content at `now`, best first (velocity, then heat, then
    /// id), at most `limit`.
    pub fn trending_content(&self, now: DateTime<Utc>, limit: usize) -> Vec<Trending> {
        let now = unix_millis(now);
        let mut out: Vec<Trending> = self
            .items
            .iter()
            .map(|(&content, h)| Trending {
                content,
                trend: h.trend(&self.model, now),
            })
            .filter(|t| t.trend.trending)
            .collect();
        out.sort_unstable_by(|a, b| rank((&a.trend, a.content), (&b.trend, b.content)));
        out.truncate(limit);
        out
    }

    /// The trending topics at `now`, best first (velocity, then heat, then
    /// id), at most `limit`, each with its reason.
    pub fn topics_to_amplify(&self, now: DateTime<Utc>, limit: usize) -> Vec<Amplify> {
        let now = unix_millis(now);
        let mut out: Vec<Amplify> = self
            .topics
            .iter()
            .filter_map(|(&topic, h)| {
                let trend = h.trend(&self.model, now);
                let reason = trend.reason?;
                trend.trending.then_some(Amplify {
                    topic,
                    trend,
                    reason,
                })
            })
            .collect();
        out.sort_unstable_by(|a, b| rank((&a.trend, a.topic), (&b.trend, b.topic)));
        out.truncate(limit);
        out
    }

    /// Adds the heat `other` collected from another shard of the events, as
    /// if they had been applied here: counts are decayed to the later
    /// instant and added, so the result equals one pass up to floating-point
    /// rounding, in any grouping. Topic assignments are united (this
    /// state's win). A topic counts its content's events from the
    /// assignment on, so for topic heat to add up as well, give every shard
    /// the same assignments before its events. Refused, changing nothing,
    /// if the models differ.
    pub fn merge(&mut self, other: ContentHeat) -> Result<(), HeatError> {
        if self.model != other.model {
            return Err(HeatError::ModelMismatch);
        }
        for (content, heat) in other.items {
            match self.items.get_mut(&content) {
                Some(mine) => mine.merge(&self.model, &heat),
                None => {
                    self.items.insert(content, heat);
                }
            }
        }
        for (topic, heat) in other.topics {
            match self.topics.get_mut(&topic) {
                Some(mine) => mine.merge(&self.model, &heat),
                None => {
                    self.topics.insert(topic, heat);
                }
            }
        }
        for (content, topic) in other.topic_of {
            self.topic_of.entry(content).or_insert(topic);
        }
        self.version = self.version.saturating_add(1);
        Ok(())
    }

    /// Forgets every content item whose heat at `now` is below `below`, to
    /// bound memory; returns how many (none for a `below` that is NaN). Topics are kept. A forgotten item
    /// that comes back starts again with no baseline.
    pub fn forget_cold(&mut self, now: DateTime<Utc>, below: f64) -> usize {
        let now = unix_millis(now);
        let before = self.items.len();
        let model = &self.model;
        self.items.retain(|_, heat| {
            let (fast, _) = heat.read(model, heat.factors(model, now));
            // Kept unless surely below: a NaN `below` forgets nothing.
            fast.iter().sum::<f64>().partial_cmp(&below) != Some(std::cmp::Ordering::Less)
        });
        let forgotten = before - self.items.len();
        if forgotten > 0 {
            self.version = self.version.saturating_add(1);
        }
        forgotten
    }

    /// How many content items have heat.
    pub fn items(&self) -> usize {
        self.items.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::{EventId, UserId};
    use chrono::{TimeDelta, TimeZone};

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap()
    }

    fn share(content: u64, at: DateTime<Utc>) -> Event {
        Event::new(
            EventId(0),
            UserId(1),
            at,
            EventKind::Share {
                community: None,
                content: ContentId(content),
            },
        )
    }

    fn view(content: u64, at: DateTime<Utc>) -> Event {
        Event::new(
            EventId(0),
            UserId(1),
            at,
            EventKind::ContentViewed {
                content: ContentId(content),
            },
        )
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
    }

    fn fresh() -> ContentHeat {
        ContentHeat::new(HeatModelSpec::default().validate().unwrap())
    }

    #[test]
    fn heat_halves_every_half_life_and_never_grows_backwards() {
        let mut heat = fresh();
        assert!(heat.apply(&share(1, t0())));
        assert_eq!(heat.heat(ContentId(1), t0()), 8.0);
        assert!(close(
            heat.heat(ContentId(1), t0() + TimeDelta::hours(24)),
            4.0
        ));
        assert!(close(
            heat.heat(ContentId(1), t0() + TimeDelta::hours(48)),
            2.0
        ));
        // Before the latest event: read as at the latest event.
        assert_eq!(heat.heat(ContentId(1), t0() - TimeDelta::hours(5)), 8.0);
        assert_eq!(heat.heat(ContentId(2), t0()), 0.0);
        assert_eq!(heat.trend(ContentId(2), t0()), None);
    }

    #[test]
    fn arrival_order_does_not_matter() {
        let times: Vec<DateTime<Utc>> = [0, 5, 30, 31, 100]
            .iter()
            .map(|&h| t0() + TimeDelta::hours(h))
            .collect();
        let (mut forward, mut backward) = (fresh(), fresh());
        for &t in &times {
            forward.apply(&share(1, t));
        }
        for &t in times.iter().rev() {
            backward.apply(&share(1, t));
        }
        let now = t0() + TimeDelta::hours(120);
        let (f, b) = (
            forward.trend(ContentId(1), now).unwrap(),
            backward.trend(ContentId(1), now).unwrap(),
        );
        assert!(
            close(f.heat, b.heat) && close(f.velocity, b.velocity),
            "{f:?} {b:?}"
        );
    }

    #[test]
    fn a_new_item_trends_on_volume_without_a_baseline() {
        let mut heat = fresh();
        heat.apply(&view(1, t0()));
        let one_view = heat.trend(ContentId(1), t0()).unwrap();
        // Velocity is at its maximum, but one view is below `min_heat`.
        assert!(close(one_view.velocity, 7.0));
        assert!(!one_view.trending);
        for m in 0..3 {
            heat.apply(&share(1, t0() + TimeDelta::minutes(m)));
        }
        let t = heat
            .trend(ContentId(1), t0() + TimeDelta::minutes(3))
            .unwrap();
        assert!(t.trending, "{t:?}");
        let reason = t.reason.unwrap();
        assert!(reason.new && reason.signal == Signal::Share);
        assert!(
            reason.to_string().starts_with("new: shares at 24.0"),
            "{reason}"
        );
    }

    #[test]
    fn a_reading_before_the_latest_event_is_new_only_if_the_latest_event_is() {
        // A share, then a view eight days later: at the view the item is a
        // week and a day old, so a reading at the first share (earlier
        // than the latest event, so read at it) has a baseline too.
        let mut heat = fresh();
        heat.apply(&share(1, t0()));
        heat.apply(&view(1, t0() + TimeDelta::days(8)));
        for now in [t0() - TimeDelta::days(1), t0(), t0() + TimeDelta::days(8)] {
            let reason = heat.trend(ContentId(1), now).unwrap().reason.unwrap();
            assert!(!reason.new, "{now}: {reason}");
        }
    }

    #[test]
    fn new_lasts_the_whole_baseline_half_life_to_the_millisecond() {
        // 36.0000001 hours is 129,600,000.36 ms: an item 129,600,000 ms
        // old is younger than that, and still new.
        let model = HeatModelSpec {
            baseline_half_life_hours: 36.000_000_1,
            trending_velocity: 1.0,
            ..HeatModelSpec::default()
        };
        let mut heat = ContentHeat::new(model.validate().unwrap());
        heat.apply(&share(1, t0()));
        let new_at = |ms| {
            let now = t0() + TimeDelta::milliseconds(ms);
            heat.trend(ContentId(1), now).unwrap().reason.unwrap().new
        };
        assert!(new_at(129_599_999));
        assert!(new_at(129_600_000));
        assert!(!new_at(129_600_001));
    }

    #[test]
    fn no_heat_has_no_velocity_even_when_the_baseline_is_all_but_gone() {
        // 804 hours is 1,608 half-lives, so no heat is left, and 1,072
        // baseline half-lives, leaving a quarter-weight share's baseline at
        // 2⁻¹⁰⁷⁴, the least positive double: times the half-life it rounds
        // to 0, and 0 / 0 must not read as the largest velocity.
        let model = HeatModelSpec {
            weights: SignalWeights {
                share: 0.25,
                ..SignalWeights::default()
            },
            half_life_hours: 0.5,
            baseline_half_life_hours: 0.75,
            trending_velocity: 1.0,
            min_heat: 0.0,
        };
        let mut heat = ContentHeat::new(model.validate().unwrap());
        heat.apply(&share(1, t0()));
        let now = t0() + TimeDelta::hours(804);
        let t = heat.trend(ContentId(1), now).unwrap();
        assert_eq!((t.heat, t.velocity, t.trending), (0.0, 0.0, false), "{t:?}");
        assert!(heat.trending_content(now, 10).is_empty());
    }

    #[test]
    fn signals_with_the_same_history_tie_and_the_heavier_is_the_reason() {
        // A view and a reaction at one instant (then an unweighted reply),
        // read later: both rose alike, so the reaction, adding far more
        // heat, is the reason, whatever rounding a weight of 0.25 or 1e9
        // brings.
        let model = HeatModelSpec {
            weights: SignalWeights {
                view: 0.25,
                reaction: 1e9,
                reply: 0.0,
                ..SignalWeights::default()
            },
            half_life_hours: 36.123_456,
            baseline_half_life_hours: 263.701_228_8,
            ..HeatModelSpec::default()
        };
        let mut heat = ContentHeat::new(model.validate().unwrap());
        let kind = |i| match i {
            0 => EventKind::Reply {
                community: None,
                content: ContentId(4),
                to: None,
            },
            1 => EventKind::Reaction {
                community: None,
                content: ContentId(4),
                to: None,
            },
            _ => EventKind::ContentViewed {
                content: ContentId(4),
            },
        };
        let at = [71, 0, 0];
        for (i, ms) in at.into_iter().enumerate() {
            let when = t0() + TimeDelta::milliseconds(ms);
            heat.apply(&Event::new(EventId(0), UserId(1), when, kind(i)));
        }
        let now = t0() + TimeDelta::milliseconds(1_198_355_328);
        let reason = heat.trend(ContentId(4), now).unwrap().reason.unwrap();
        assert_eq!(reason.signal, Signal::Reaction, "{reason:?}");
    }

    #[test]
    fn no_heat_has_no_velocity_even_when_the_largest_velocity_is_infinite() {
        // A half-life of 1e-310 hours is valid, and a baseline of an hour
        // over it is more than `f64::MAX`: an hour after the share no heat
        // is left, and 0 × ∞ must not read as an infinite velocity.
        let model = HeatModelSpec {
            half_life_hours: 1e-310,
            baseline_half_life_hours: 1.0,
            min_heat: 0.0,
            ..HeatModelSpec::default()
        };
        let mut heat = ContentHeat::new(model.validate().unwrap());
        heat.apply(&share(1, t0()));
        let now = t0() + TimeDelta::hours(1);
        let t = heat.trend(ContentId(1), now).unwrap();
        assert_eq!((t.heat, t.velocity, t.trending), (0.0, 0.0, false), "{t:?}");
    }

    #[test]
    fn a_steady_item_does_not_trend_and_a_burst_does() {
        let mut heat = fresh();
        for h in 0..(28 * 24) {
            heat.apply(&share(1, t0() + TimeDelta::hours(h)));
        }
        let now = t0() + TimeDelta::hours(28 * 24);
        let steady = heat.trend(ContentId(1), now).unwrap();
        assert!(steady.heat > 100.0 && steady.velocity < 1.1, "{steady:?}");
        assert!(!steady.trending);
        assert!(!steady.reason.unwrap().new);
        for m in 0..200 {
            heat.apply(&share(1, now + TimeDelta::minutes(m)));
        }
        let burst = heat.trend(ContentId(1), now + TimeDelta::hours(4)).unwrap();
        assert!(burst.trending, "{burst:?}");
        let text = burst.reason.unwrap().to_string();
        assert!(
            text.starts_with("shares up") && text.ends_with("against its 7-day baseline"),
            "{text}"
        );
    }

    #[test]
    fn topics_come_from_assignment_or_the_event_attribute_and_rank_deterministically() {
        let mut heat = fresh();
        heat.set_topic(ContentId(1), TopicId(20));
        heat.set_topic(ContentId(2), TopicId(10));
        for m in 0..5 {
            let at = t0() + TimeDelta::minutes(m);
            heat.apply(&share(1, at));
            heat.apply(&share(2, at));
            // The assignment wins over the attribute.
            heat.apply(&share(3, at).with_attr("topic", 30_i64));
            heat.apply(&share(2, at).with_attr("topic", 30_i64));
        }
        let now = t0() + TimeDelta::minutes(5);
        let topics: Vec<TopicId> = heat
            .topics_to_amplify(now, 10)
            .iter()
            .map(|a| a.topic)
            .collect();
        // Topic 10 has twice the heat; 20 and 30 tie and go by id.
        assert_eq!(topics, [TopicId(10), TopicId(20), TopicId(30)]);
        assert_eq!(heat.topics_to_amplify(now, 1).len(), 1);
        let content: Vec<ContentId> = heat
            .trending_content(now, 10)
            .iter()
            .map(|t| t.content)
            .collect();
        assert_eq!(content, [ContentId(2), ContentId(1), ContentId(3)]);
    }

    #[test]
    fn other_events_change_nothing_and_state_round_trips() {
        let mut heat = fresh();
        heat.set_topic(ContentId(1), TopicId(2));
        heat.apply(&share(1, t0()));
        let before = heat.clone();
        let visit = Event::new(EventId(1), UserId(1), t0(), EventKind::Visited);
        assert!(!heat.apply(&visit));
        assert_eq!(heat, before);
        assert_eq!(heat.version(), 2);
        let json = serde_json::to_string(&heat).unwrap();
        assert_eq!(serde_json::from_str::<ContentHeat>(&json).unwrap(), heat);
        // Decayed heat is no round number, and reads back to the last bit.
        assert!(heat.apply(&share(1, t0() + TimeDelta::minutes(7))));
        let json = serde_json::to_string(&heat).unwrap();
        assert_eq!(serde_json::from_str::<ContentHeat>(&json).unwrap(), heat);
    }

    #[test]
    fn shards_merge_into_one_pass_and_cold_items_can_be_forgotten() {
        let times: Vec<DateTime<Utc>> = (0..12).map(|h| t0() + TimeDelta::hours(h * 7)).collect();
        let mut whole = fresh();
        let (mut a, mut b) = (fresh(), fresh());
        for (i, &t) in times.iter().enumerate() {
            let e = share(i as u64 % 3, t);
            whole.apply(&e);
            if i % 2 == 0 {
                a.apply(&e)
            } else {
                b.apply(&e)
            };
        }
        b.merge(a).unwrap();
        let now = t0() + TimeDelta::hours(100);
        for content in 0..3 {
            let (x, y) = (
                whole.trend(ContentId(content), now).unwrap(),
                b.trend(ContentId(content), now).unwrap(),
            );
            assert!(
                close(x.heat, y.heat) && close(x.velocity, y.velocity),
                "{x:?} {y:?}"
            );
        }
        let other = ContentHeat::new(
            HeatModelSpec {
                half_life_hours: 12.0,
                ..HeatModelSpec::default()
            }
            .validate()
            .unwrap(),
        );
        assert_eq!(b.merge(other), Err(HeatError::ModelMismatch));

        let mut heat = fresh();
        heat.apply(&share(1, t0()));
        heat.apply(&share(2, t0() + TimeDelta::hours(72)));
        // Content 1 is at 8 / 2³ = 1 after three days, content 2 at 8. A
        // threshold that is not a number forgets nothing.
        assert_eq!(heat.forget_cold(t0() + TimeDelta::hours(72), f64::NAN), 0);
        assert_eq!(heat.items(), 2);
        assert_eq!(heat.forget_cold(t0() + TimeDelta::hours(72), 2.0), 1);
        assert_eq!(heat.items(), 1);
        assert_eq!(heat.trend(ContentId(1), t0()), None);
    }

    #[test]
    fn specs_are_checked() {
        let base = HeatModelSpec::default();
        let mut negative = base.clone();
        negative.weights.share = -1.0;
        assert_eq!(
            negative.validate(),
            Err(HeatError::BadWeight {
                signal: "share",
                given: -1.0
            })
        );
        for given in [f64::MAX, f64::INFINITY, f64::NAN, MAX_HEAT_WEIGHT * 2.0] {
            let mut huge = base.clone();
            huge.weights.view = given;
            let error = huge.validate().err().map(|e| e.to_string());
            assert!(
                error.is_some_and(|e| e.contains("weights.view") && e.contains("1000000000")),
                "{given}"
            );
        }
        let mut largest = base.clone();
        largest.weights.view = MAX_HEAT_WEIGHT;
        assert!(largest.validate().is_ok());
        let zero = HeatModelSpec {
            weights: SignalWeights {
                view: 0.0,
                click: 0.0,
                share: 0.0,
                reply: 0.0,
                reaction: 0.0,
            },
            ..base.clone()
        };
        assert_eq!(zero.validate(), Err(HeatError::NoWeight));
        for (spec, field) in [
            (
                HeatModelSpec {
                    half_life_hours: f64::NAN,
                    ..base.clone()
                },
                "half_life_hours",
            ),
            (
                HeatModelSpec {
                    baseline_half_life_hours: 1e9,
                    ..base.clone()
                },
                "baseline_half_life_hours",
            ),
            (
                HeatModelSpec {
                    baseline_half_life_hours: 24.0,
                    ..base.clone()
                },
                "baseline_half_life_hours",
            ),
            (
                HeatModelSpec {
                    trending_velocity: 0.5,
                    ..base.clone()
                },
                "trending_velocity",
            ),
            (
                HeatModelSpec {
                    min_heat: f64::INFINITY,
                    ..base.clone()
                },
                "min_heat",
            ),
            // A week's baseline over a day's heat: no item rises faster
            // than ×7, so ×7.5 could never trend.
            (
                HeatModelSpec {
                    trending_velocity: 7.5,
                    ..base.clone()
                },
                "at most the largest velocity",
            ),
        ] {
            let err = spec.validate().unwrap_err().to_string();
            assert!(err.contains(field), "{err}");
        }
        // At the largest velocity itself an item that just happened trends.
        let reachable = HeatModelSpec {
            trending_velocity: 7.0,
            ..base.clone()
        };
        assert!(reachable.validate().is_ok());
        let partial: HeatModelSpec = serde_json::from_str(
            r#"{"weights": {"view": 1, "click": 1, "share": 1, "reply": 1, "reaction": 1}}"#,
        )
        .unwrap();
        assert_eq!(partial.half_life_hours, 24.0);
        assert!(serde_json::from_str::<HeatModelSpec>(r#"{"half_life": 3}"#).is_err());
        let model = base.validate().unwrap();
        let json = serde_json::to_string(&model).unwrap();
        assert_eq!(serde_json::from_str::<HeatModel>(&json).unwrap(), model);
    }
}
