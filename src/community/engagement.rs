//! Engagement models as data: per-kind weights given and received, decay by
//! a half-life, per-local-day caps and pair damping.
//!
//! An operator writes an [`EngagementModelSpec`] (JSON);
//! [`EngagementModelSpec::validate`] checks it into an [`EngagementModel`],
//! which scores interactions into per-member [`MemberScore`](super::MemberScore)s.
//!
//! # How a score is made
//!
//! Every interaction can credit two members: the actor (*given* credit, by
//! the kind's `given` weight) and, for replies, reactions and accepted
//! invitations, the member it was aimed at (*received* credit, by the
//! kind's `received` weight). For each side:
//!
//! 1. self-interactions (a reply to one's own post), interactions by a user
//!    who does not count (banned, departed: see
//!    [`Standing`](super::Standing)) and repeated event ids score nothing;
//! 2. **pair damping**: the k-th interaction between the same two members
//!    (in that direction) within `pair_window_days` local days is worth
//!    `weight × pair_damping^(k-1)`, so two members liking each other all
//!    day earn little. Each member remembers its [`PARTNERS`] most recent
//!    partners, most recent first; a new partner pushes out the least
//!    recent one, which starts over if it comes back;
//! 3. **daily caps**: at most `daily_cap` (given) or `received_daily_cap`
//!    interactions of a kind are credited per local day of the model's
//!    calendar (its `utc_offset`, or any `chrono` zone through
//!    [`EngagementModelSpec::validate_in`]); interactions past the cap are credited nothing. A member
//!    keeps the tallies of its two latest days; a late interaction on an
//!    older day cannot be checked against its cap and, for capped kinds, is
//!    credited nothing rather than guessed at;
//! 4. **decay**: the credit is added to a value stored with its time
//!    (`as_of`), halving every `half_life_hours`. The score at any `now` is
//!    `value × 2^(-(now - as_of) / half_life)`: O(1). A late interaction
//!    adds its own decayed contribution and never rewinds the value.
//!
//! So no member can farm a high score: with every weighted kind capped, a
//! score never exceeds [`EngagementModel::max_score`], the caps times the
//! weights summed over the decay's geometric series.
//!
//! ```
//! use growthkit::community::EngagementModelSpec;
//!
//! let spec: EngagementModelSpec = serde_json::from_str(r#"{
//!     "half_life_hours": 168,
//!     "kinds": { "post": { "received": 2 } }
//! }"#)?;
//! let err = spec.validate().unwrap_err();
//! assert_eq!(err.to_string(), "kinds.post.received is 2 but post has no target to receive it; use 0");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use super::interaction::InteractionKind;
use crate::dedupe::DedupeWindow;
use crate::time::{LocalDay, UtcOffset};
use chrono::{DateTime, FixedOffset, TimeZone};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How many recent partners each member's pair damping remembers per side.
pub const PARTNERS: usize = 4;

/// Pair damping factors are tabulated up to this many repeats; later
/// repeats (rare) work theirs out ([`EngagementModel::damping_of`]).
pub(crate) const DAMPING_STEPS: usize = 64;

/// The largest weight a kind may carry: keeps every sum far from overflow.
pub const MAX_WEIGHT: f64 = 1_000_000.0;

/// A cap that does not limit: caps are validated below it.
pub(crate) const NO_CAP: u16 = u16::MAX;

/// An engagement model as operators write it (JSON).
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngagementModelSpec {
    /// The calendar daily caps and pair windows count days in (`"+08:00"`).
    #[serde(default)]
    pub utc_offset: UtcOffset,
    /// Hours for a credit to lose half its weight; at least 1.
    pub half_life_hours: u32,
    /// Weights and caps per kind; kinds not listed score nothing.
    pub kinds: BTreeMap<InteractionKind, KindSpec>,
    /// The factor each repeat between the same two members is worth
    /// relative to the one before: in `(0, 1]`, 1 for no damping.
    #[serde(default = "default_damping")]
    pub pair_damping: f64,
    /// How many local days a pair's repeat count lasts; at least 1.
    #[serde(default = "default_pair_window")]
    pub pair_window_days: u16,
    /// How long event ids are remembered to drop redeliveries.
    #[serde(default)]
    pub dedupe: DedupeWindow,
}

fn default_damping() -> f64 {
    0.5
}

fn default_pair_window() -> u16 {
    1
}

/// One kind's weights and caps.
#[derive(Clone, Copy, PartialEq, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KindSpec {
    /// Credit to the actor; 0 to 1,000,000.
    #[serde(default)]
    pub given: f64,
    /// Credit to the member aimed at (kinds with a target only).
    #[serde(default)]
    pub received: f64,
    /// At most this many given credits of the kind per local day (1..65534).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily_cap: Option<u16>,
    /// At most this many received credits of the kind per local day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received_daily_cap: Option<u16>,
}

/// What is wrong with an [`EngagementModelSpec`]: the field and why.
#[derive(Clone, PartialEq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngagementModelError {
    /// A weight is negative, not finite, or above [`MAX_WEIGHT`].
    #[error("kinds.{kind}.{field} is {value} but must be a number from 0 to 1000000")]
    Weight {
        /// The kind.
        kind: InteractionKind,
        /// `given` or `received`.
        field: &'static str,
        /// The value given.
        value: f64,
    },
    /// A received weight on a kind that never has a target.
    #[error("kinds.{kind}.received is {value} but {kind} has no target to receive it; use 0")]
    ReceivedWithoutTarget {
        /// The kind.
        kind: InteractionKind,
        /// The value given.
        value: f64,
    },
    /// A cap of 0 (use a weight of 0 instead) or 65535 (leave it out instead).
    #[error("kinds.{kind}.{field} is {value} but must be from 1 to 65534")]
    Cap {
        /// The kind.
        kind: InteractionKind,
        /// `daily_cap` or `received_daily_cap`.
        field: &'static str,
        /// The value given.
        value: u16,
    },
    /// `pair_damping` outside `(0, 1]`.
    #[error("pair_damping is {value} but must be above 0 and at most 1")]
    Damping {
        /// The value given.
        value: f64,
    },
    /// A number that must be positive is zero.
    #[error("{field} is 0 but must be at least 1")]
    Zero {
        /// The field (`half_life_hours`, `pair_window_days`, `dedupe.max_ids`).
        field: &'static str,
    },
}

/// A validated [`EngagementModelSpec`], compiled into per-kind tables,
/// counting local days in `Tz` (a fixed offset unless built with
/// [`EngagementModelSpec::validate_in`]).
#[derive(Clone, PartialEq, Debug)]
pub struct EngagementModel<Tz: TimeZone = FixedOffset> {
    spec: EngagementModelSpec,
    zone: Tz,
    /// The zone's offset when it is fixed: local days are then one
    /// division away, the fast path of the scoring step.
    fixed_offset: Option<i32>,
    /// `1 / half-life` in milliseconds: decay is `exp2(-dt_ms × this)`.
    pub(crate) inv_half_life_ms: f64,
    pub(crate) given: [f64; InteractionKind::COUNT],
    pub(crate) received: [f64; InteractionKind::COUNT],
    pub(crate) given_cap: [u16; InteractionKind::COUNT],
    pub(crate) received_cap: [u16; InteractionKind::COUNT],
    /// `damping[k]` is the factor of the (k+1)-th repeat: `pair_damping^k`.
    pub(crate) damping: [f64; DAMPING_STEPS],
    pub(crate) pair_window_days: i32,
}

impl EngagementModelSpec {
    /// Checks every field and compiles the model in its configured
    /// [`utc_offset`](Self::utc_offset).
    pub fn validate(self) -> Result<EngagementModel, EngagementModelError> {
        self.check()?;
        let offset = self.utc_offset;
        Ok(EngagementModel::compile(
            self,
            offset.zone(),
            Some(offset.seconds()),
        ))
    }

    /// Checks every field and compiles the model to count days in `zone`
    /// (an IANA zone from `chrono-tz`, with its 23- and 25-hour days);
    /// `utc_offset` is then unused.
    ///
    /// ```
    /// use growthkit::community::EngagementModelSpec;
    /// let spec: EngagementModelSpec = serde_json::from_str(
    ///     r#"{"half_life_hours": 72, "kinds": {"check_in": {"given": 1, "daily_cap": 1}}}"#,
    /// )?;
    /// let berlin = chrono_tz::Europe::Berlin;
    /// let model = spec.validate_in(berlin)?;
    /// assert_eq!(model.zone(), &berlin);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn validate_in<Tz: TimeZone>(
        self,
        zone: Tz,
    ) -> Result<EngagementModel<Tz>, EngagementModelError> {
        self.check()?;
        Ok(EngagementModel::compile(self, zone, None))
    }

    fn check(&self) -> Result<(), EngagementModelError> {
        use EngagementModelError as E;
        if self.half_life_hours == 0 {
            return Err(E::Zero {
                field: "half_life_hours",
            });
        }
        if self.pair_window_days == 0 {
            return Err(E::Zero {
                field: "pair_window_days",
            });
        }
        if let Some(field) = self.dedupe.zero_field() {
            return Err(E::Zero { field });
        }
        // NaN fails both comparisons, so it is refused too.
        if !(self.pair_damping > 0.0 && self.pair_damping <= 1.0) {
            return Err(E::Damping {
                value: self.pair_damping,
            });
        }
        for (&kind, k) in &self.kinds {
            for (field, value) in [("given", k.given), ("received", k.received)] {
                if !(0.0..=MAX_WEIGHT).contains(&value) {
                    return Err(E::Weight { kind, field, value });
                }
            }
            if k.received != 0.0 && !kind.can_have_target() {
                return Err(E::ReceivedWithoutTarget {
                    kind,
                    value: k.received,
                });
            }
            for (field, cap) in [
                ("daily_cap", k.daily_cap),
                ("received_daily_cap", k.received_daily_cap),
            ] {
                if let Some(value @ (0 | NO_CAP)) = cap {
                    return Err(E::Cap { kind, field, value });
                }
            }
        }
        Ok(())
    }
}

impl TryFrom<EngagementModelSpec> for EngagementModel {
    type Error = EngagementModelError;
    fn try_from(spec: EngagementModelSpec) -> Result<Self, Self::Error> {
        spec.validate()
    }
}

impl EngagementModel<FixedOffset> {
    /// A sensible starting model (`fixtures/engagement_default.json`):
    /// two-week half-life, Beijing days, every kind capped, replies and
    /// offline meetups worth most, views least, pair damping 0.5 a day.
    ///
    /// ```
    /// use growthkit::community::EngagementModel;
    /// let model = EngagementModel::recommended();
    /// assert_eq!(model.spec().half_life_hours, 336);
    /// assert!(model.max_score().is_some());
    /// ```
    pub fn recommended() -> EngagementModel {
        const JSON: &str = include_str!("fixtures/engagement_default.json");
        // The fixture is checked by a unit test; should it ever fail to
        // load, an empty model (scores nothing) is the safe fallback.
        parse_model(JSON).unwrap_or_else(EngagementModel::empty)
    }

    /// A model that scores nothing: no kinds listed.
    pub fn empty() -> EngagementModel {
        let spec = EngagementModelSpec {
            utc_offset: UtcOffset::UTC,
            half_life_hours: 24,
            kinds: BTreeMap::new(),
            pair_damping: default_damping(),
            pair_window_days: default_pair_window(),
            dedupe: DedupeWindow::default(),
        };
        EngagementModel::compile(spec, UtcOffset::UTC.zone(), Some(0))
    }
}

impl<Tz: TimeZone> EngagementModel<Tz> {
    /// Compiles a checked spec into per-kind tables.
    fn compile(spec: EngagementModelSpec, zone: Tz, fixed_offset: Option<i32>) -> Self {
        let mut given = [0.0; InteractionKind::COUNT];
        let mut received = [0.0; InteractionKind::COUNT];
        let mut given_cap = [NO_CAP; InteractionKind::COUNT];
        let mut received_cap = [NO_CAP; InteractionKind::COUNT];
        for (&kind, k) in &spec.kinds {
            let i = kind as usize;
            if let (Some(g), Some(r), Some(gc), Some(rc)) = (
                given.get_mut(i),
                received.get_mut(i),
                given_cap.get_mut(i),
                received_cap.get_mut(i),
            ) {
                *g = k.given;
                *r = k.received;
                *gc = k.daily_cap.unwrap_or(NO_CAP);
                *rc = k.received_daily_cap.unwrap_or(NO_CAP);
            }
        }
        let mut damping = [1.0; DAMPING_STEPS];
        for k in 1..DAMPING_STEPS {
            damping[k] = damping[k - 1] * spec.pair_damping;
        }
        EngagementModel {
            zone,
            fixed_offset,
            // A half-life of at least one hour: validated, and the fallback's is 24.
            inv_half_life_ms: 1.0 / (f64::from(spec.half_life_hours.max(1)) * 3_600_000.0),
            given,
            received,
            given_cap,
            received_cap,
            damping,
            pair_window_days: i32::from(spec.pair_window_days.max(1)),
            spec,
        }
    }

    /// The spec it was built from.
    pub fn spec(&self) -> &EngagementModelSpec {
        &self.spec
    }

    /// The zone its local days are counted in.
    pub fn zone(&self) -> &Tz {
        &self.zone
    }

    /// The local day number of an instant in unix milliseconds.
    #[inline]
    pub(crate) fn day_number(&self, at_ms: i64) -> i32 {
        let fixed = |offset| LocalDay::of_offset_seconds(at_ms.div_euclid(1000), offset).number();
        match self.fixed_offset {
            Some(offset) => fixed(offset),
            None => match DateTime::from_timestamp_millis(at_ms) {
                Some(at) => LocalDay::of(at, &self.zone).number(),
                // Beyond chrono's range (never from a real event): UTC days.
                None => fixed(0),
            },
        }
    }

    /// The decay factor over `dt_ms` milliseconds (1 for zero or negative).
    #[inline]
    pub(crate) fn decay(&self, dt_ms: i64) -> f64 {
        if dt_ms <= 0 {
            1.0
        } else {
            (-(dt_ms as f64) * self.inv_half_life_ms).exp2()
        }
    }

    /// The most a day can credit one member: every capped kind's cap times
    /// its weight, given and received. `None` if a weighted kind is uncapped.
    pub fn max_daily_credit(&self) -> Option<f64> {
        let mut total = 0.0;
        for i in 0..InteractionKind::COUNT {
            for (w, cap) in [
                (self.given.get(i), self.given_cap.get(i)),
                (self.received.get(i), self.received_cap.get(i)),
            ] {
                let (&w, &cap) = (w?, cap?);
                if w == 0.0 {
                    continue;
                }
                if cap == NO_CAP {
                    return None;
                }
                total += w * f64::from(cap);
            }
        }
        Some(total)
    }

    /// The pair-damping factor of a pair's `repeat`-th interaction (1 for
    /// the first, or 0 for none yet): `pair_damping^(repeat - 1)`, from
    /// the table while it reaches.
    #[inline]
    pub(crate) fn damping_of(&self, repeat: u16) -> f64 {
        let step = repeat.saturating_sub(1);
        match self.damping.get(usize::from(step)) {
            Some(&factor) => factor,
            None => self.spec.pair_damping.powi(i32::from(step)),
        }
    }

    /// The analytic maximum of any member's score at any time: the most a
    /// day can credit, today and yesterday at full weight, each earlier day
    /// decayed by at least the days between (a geometric series; in a zone
    /// with daylight saving, by at least 23 hours a day).
    /// `None` if a weighted kind is uncapped, so scores are unbounded.
    pub fn max_score(&self) -> Option<f64> {
        let daily = self.max_daily_credit()?;
        let shortest_day_ms = if self.fixed_offset.is_some() {
            86_400_000
        } else {
            23 * 3_600_000
        };
        let r = self.decay(shortest_day_ms);
        Some(daily * (1.0 + 1.0 / (1.0 - r)))
    }
}

/// Parses and validates a model without panicking; `None` on any error.
fn parse_model(json: &str) -> Option<EngagementModel> {
    serde_json::from_str::<EngagementModelSpec>(json)
        .ok()?
        .validate()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: &str) -> Result<EngagementModel, String> {
        serde_json::from_str::<EngagementModelSpec>(json)
            .map_err(|e| e.to_string())?
            .validate()
            .map_err(|e| e.to_string())
    }

    #[test]
    fn the_recommended_model_loads_and_is_bounded() {
        let json = include_str!("fixtures/engagement_default.json");
        let parsed: EngagementModelSpec = serde_json::from_str(json).unwrap();
        let model = parsed.clone().validate().unwrap();
        assert_eq!(EngagementModel::recommended(), model);
        assert_eq!(model.spec().utc_offset.seconds(), 8 * 3600);
        let daily = model.max_daily_credit().unwrap();
        assert!(daily > 0.0);
        // Half-life of 14 days: r = 2^(-1/14), so the bound is daily × (1 + 1/(1-r)).
        let r = 2f64.powf(-1.0 / 14.0);
        let want = daily * (1.0 + 1.0 / (1.0 - r));
        assert!((model.max_score().unwrap() - want).abs() < 1e-6 * want);
        let back: EngagementModelSpec =
            serde_json::from_str(&serde_json::to_string(&parsed).unwrap()).unwrap();
        assert_eq!(back, parsed);
    }

    #[test]
    fn every_bad_field_is_named() {
        let cases = [
            (
                r#"{"half_life_hours": 0, "kinds": {}}"#,
                "half_life_hours is 0",
            ),
            (
                r#"{"half_life_hours": 1, "pair_window_days": 0, "kinds": {}}"#,
                "pair_window_days is 0",
            ),
            (
                r#"{"half_life_hours": 1, "pair_damping": 0, "kinds": {}}"#,
                "pair_damping is 0 but",
            ),
            (
                r#"{"half_life_hours": 1, "pair_damping": 1.5, "kinds": {}}"#,
                "pair_damping is 1.5",
            ),
            (
                r#"{"half_life_hours": 1, "kinds": {"reply": {"given": -1}}}"#,
                "kinds.reply.given is -1",
            ),
            (
                r#"{"half_life_hours": 1, "kinds": {"reply": {"received": 2000000}}}"#,
                "kinds.reply.received is 2000000",
            ),
            (
                r#"{"half_life_hours": 1, "kinds": {"reply": {"given": 1, "daily_cap": 0}}}"#,
                "kinds.reply.daily_cap is 0",
            ),
            (
                r#"{"half_life_hours": 1, "kinds": {"reaction": {"received_daily_cap": 65535}}}"#,
                "kinds.reaction.received_daily_cap is 65535",
            ),
            (
                r#"{"half_life_hours": 1, "dedupe": {"horizon_hours": 0, "max_ids": 4}, "kinds": {}}"#,
                "dedupe.horizon_hours is 0",
            ),
            (
                r#"{"half_life_hours": 1, "dedupe": {"horizon_hours": 4, "max_ids": 0}, "kinds": {}}"#,
                "dedupe.max_ids is 0",
            ),
        ];
        for (json, want) in cases {
            let err = spec(json).unwrap_err();
            assert!(err.starts_with(want), "{json}: {err}");
        }
        assert!(spec(r#"{"half_life_hours": 1, "kinds": {"nope": {}}}"#).is_err());
        assert!(spec(r#"{"half_life_hours": 1, "kinds": {}, "extra": 1}"#).is_err());
    }

    #[test]
    fn uncapped_weighted_kinds_have_no_bound_and_zero_weights_need_no_cap() {
        let m = spec(r#"{"half_life_hours": 24, "kinds": {"post": {"given": 1}}}"#).unwrap();
        assert_eq!(m.max_score(), None);
        let m = spec(
            r#"{"half_life_hours": 24, "kinds": {"post": {"given": 0}, "reply": {"given": 2, "daily_cap": 3}}}"#,
        )
        .unwrap();
        assert_eq!(m.max_daily_credit(), Some(6.0));
        // r = 1/2: 6 × (1 + 2) = 18.
        assert!((m.max_score().unwrap() - 18.0).abs() < 1e-9);
        assert_eq!(m.damping[3], 0.125);
        assert_eq!(m.decay(0), 1.0);
        assert!((m.decay(86_400_000) - 0.5).abs() < 1e-15);
    }
}
