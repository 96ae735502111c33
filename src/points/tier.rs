//! Tiers (bronze, silver, gold): a ladder operators write as data, and each
//! member's [`TierStatus`] stepped by [`TierLadder::record`],
//! [`TierLadder::evaluate`] and [`TierLadder::retract`].
//!
//! The rules are documented on [`TierLadder`], the public face of this module.

mod buckets;

use super::Multiplier;
use super::fields::field_readers;
use crate::event::{Currency, Label, Money};
use crate::store::Versioned;
use crate::time::LocalDay;
use buckets::Buckets;
use chrono::{DateTime, Datelike, Months, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;

/// The longest rolling window accepted, in days: three years of daily
/// tallies is the most a member's state ever holds.
pub const MAX_ROLLING_DAYS: u32 = 1096;

/// A tier ladder as operators write it (JSON-friendly); validate it with
/// [`TierLadderSpec::validate`].
///
/// ```
/// use growthkit::points::TierLadderSpec;
///
/// let spec: TierLadderSpec = serde_json::from_str(r#"{
///     "basis": { "type": "spend", "currency": "CNY" },
///     "window": { "type": "anniversary_year" },
///     "grace": { "type": "until_anniversary" },
///     "tiers": [ { "name": "member", "threshold": 0 },
///                { "name": "vip", "threshold": 0, "multiplier": 2 } ]
/// }"#)?;
/// let err = spec.validate().unwrap_err();
/// assert_eq!(err.to_string(), "tier vip: threshold 0 must be above the previous tier's 0");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierLadderSpec {
    /// What counts toward the thresholds.
    #[serde(deserialize_with = "basis_field")]
    pub basis: QualifyingBasis,
    /// The period the tally covers.
    #[serde(deserialize_with = "window_field")]
    pub window: TierWindow,
    /// How long a member keeps a tier after falling below it. Default: no grace.
    #[serde(default, deserialize_with = "grace_field")]
    pub grace: Grace,
    /// The tiers from the base (threshold 0) up, thresholds strictly increasing.
    #[serde(deserialize_with = "tiers_field")]
    pub tiers: Vec<Tier>,
}

// Each field of a `TierLadderSpec` names itself when its value is refused.
field_readers! {
    fn basis_field = named("basis");
    fn window_field = named("window");
    fn grace_field = named("grace");
    fn tiers_field = numbered("tiers");
}

/// One rung of the ladder.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    /// Unique within the ladder, and not blank; a member's status names its tier by it.
    #[serde(deserialize_with = "tier_name_field")]
    pub name: Label,
    /// The qualifying tally that reaches this tier.
    #[serde(deserialize_with = "tier_threshold_field")]
    pub threshold: u64,
    /// What this tier multiplies earnings by. Default ×1; zero is refused
    /// when it is read.
    #[serde(default, deserialize_with = "tier_multiplier_field")]
    pub multiplier: Multiplier,
    /// A label for what the tier gives, for display (`"free shipping"`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "tier_benefits_field"
    )]
    pub benefits: Option<Label>,
}

// Each field of a `Tier` names itself when its value is refused.
field_readers! {
    fn tier_name_field = named("name");
    fn tier_threshold_field = named("threshold");
    fn tier_multiplier_field = named("multiplier");
    fn tier_benefits_field = named("benefits");
}

/// What counts toward tier thresholds.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
// A variant without fields is `{}`, not a unit variant: serde lets a unit
// variant of a tagged enum take stray fields (serde-rs/serde#2123).
pub enum QualifyingBasis {
    /// Points earned (awards), whatever is later spent or expires.
    Points {},
    /// Money spent, in minor units of one currency.
    Spend {
        /// The only currency that counts.
        currency: Currency,
    },
}

/// The period a qualifying tally covers.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
// A variant without fields is `{}`, not a unit variant: serde lets a unit
// variant of a tagged enum take stray fields (serde-rs/serde#2123).
pub enum TierWindow {
    /// The local day of the step and the `days - 1` days before it.
    RollingDays {
        /// At least 1, at most [`MAX_ROLLING_DAYS`].
        days: u32,
    },
    /// The member's current anniversary year (from the join date); the
    /// tally starts again from zero on each anniversary.
    AnniversaryYear {},
}

/// How long a member keeps a tier after an evaluation finds them below it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
// A variant without fields is `{}`, not a unit variant: serde lets a unit
// variant of a tagged enum take stray fields (serde-rs/serde#2123).
pub enum Grace {
    /// Demoted by the first evaluation that finds the tally below.
    None {},
    /// Kept until `days` local days after the evaluation that first found
    /// the tally below.
    Days {
        /// At least 1.
        days: u32,
    },
    /// Kept until the member's next anniversary after the evaluation that
    /// first found the tally below. With [`TierWindow::AnniversaryYear`] the
    /// grace counts from the first membership year in which the member was
    /// below (the year after the latest one that met the threshold), however
    /// late an evaluation finds it: the familiar airline rule, a tier reached
    /// in one membership year is kept through the next one, and an
    /// evaluation after that demotes at once.
    UntilAnniversary {},
}

impl Default for Grace {
    /// [`Grace::None`]: no grace.
    fn default() -> Self {
        Grace::None {}
    }
}

/// What is wrong with a ladder spec, or why a tier step failed (the status is
/// then unchanged).
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TierError {
    /// The ladder has no tiers.
    #[error("tiers is empty: a ladder needs at least a base tier")]
    NoTiers,
    /// The first tier's threshold is not 0, so a new member has no tier.
    #[error("tier {tier}: the base tier's threshold is {threshold} but must be 0")]
    BaseThreshold {
        /// The first tier.
        tier: Label,
        /// Its threshold.
        threshold: u64,
    },
    /// A threshold is not above the one before it.
    #[error("tier {tier}: threshold {threshold} must be above the previous tier's {previous}")]
    NotIncreasing {
        /// The tier.
        tier: Label,
        /// Its threshold.
        threshold: u64,
        /// The previous tier's threshold.
        previous: u64,
    },
    /// A tier without a name (empty, or only spaces): statuses and tier
    /// changes name their tier, and could not tell it apart.
    #[error("tiers[{index}]: name is blank but must name the tier")]
    BlankName {
        /// The tier's position in `tiers`, from 0.
        index: usize,
    },
    /// Two tiers share a name.
    #[error("tier {tier}: the name is used by another tier")]
    DuplicateTier {
        /// The repeated name.
        tier: Label,
    },
    /// A number that must be positive is zero.
    #[error("{field} is 0 but must be at least 1")]
    Zero {
        /// The field (`window.days`, `grace.days`).
        field: &'static str,
    },
    /// A rolling window longer than [`MAX_ROLLING_DAYS`].
    #[error("window.days is {days} but must be at most {max}")]
    WindowTooLong {
        /// The days given.
        days: u32,
        /// The most accepted.
        max: u32,
    },
    /// The status names a tier this ladder does not have (the ladder was
    /// changed since the status was saved).
    #[error("the member's tier {tier} is not on this ladder")]
    UnknownTier {
        /// The tier named by the status.
        tier: Label,
    },
    /// Spend was offered to a ladder that qualifies by points.
    #[error("this ladder qualifies by points, not by spend")]
    NotSpendBasis,
    /// Spend in another currency than the ladder counts.
    #[error("spend in {got} cannot qualify: the ladder counts {expected}")]
    CurrencyMismatch {
        /// The ladder's currency.
        expected: Currency,
        /// The spend's currency.
        got: Currency,
    },
    /// A negative amount offered as spend (a refund is a retraction).
    #[error("spend of {minor} minor units is negative: retract a refund instead")]
    NegativeSpend {
        /// The amount.
        minor: i64,
    },
    /// A tally or version would overflow.
    #[error("arithmetic overflow in a tier tally")]
    Overflow,
}

impl TierLadderSpec {
    /// Checks the ladder: at least one tier, the base at threshold 0,
    /// thresholds strictly increasing, names unique, window and grace
    /// lengths in range. (A zero multiplier is refused when it is read.)
    pub fn validate(self) -> Result<TierLadder, TierError> {
        use TierError::*;
        let Some(base) = self.tiers.first() else {
            return Err(NoTiers);
        };
        if base.threshold != 0 {
            return Err(BaseThreshold {
                tier: base.name.clone(),
                threshold: base.threshold,
            });
        }
        let mut names = BTreeSet::new();
        let mut previous: Option<u64> = None;
        for (index, tier) in self.tiers.iter().enumerate() {
            if tier.name.is_blank() {
                return Err(BlankName { index });
            }
            if !names.insert(tier.name.as_str()) {
                return Err(DuplicateTier {
                    tier: tier.name.clone(),
                });
            }
            if let Some(previous) = previous
                && tier.threshold <= previous
            {
                return Err(NotIncreasing {
                    tier: tier.name.clone(),
                    threshold: tier.threshold,
                    previous,
                });
            }
            previous = Some(tier.threshold);
        }
        match self.window {
            TierWindow::RollingDays { days: 0 } => {
                return Err(Zero {
                    field: "window.days",
                });
            }
            TierWindow::RollingDays { days } if days > MAX_ROLLING_DAYS => {
                return Err(WindowTooLong {
                    days,
                    max: MAX_ROLLING_DAYS,
                });
            }
            TierWindow::RollingDays { .. } | TierWindow::AnniversaryYear {} => {}
        }
        if self.grace == (Grace::Days { days: 0 }) {
            return Err(Zero {
                field: "grace.days",
            });
        }
        let base = base.name.clone();
        Ok(TierLadder { spec: self, base })
    }
}

impl TryFrom<TierLadderSpec> for TierLadder {
    type Error = TierError;
    fn try_from(spec: TierLadderSpec) -> Result<Self, TierError> {
        spec.validate()
    }
}

/// A validated [`TierLadderSpec`]: the steps that move a member's
/// [`TierStatus`].
///
/// Every step takes the instant and the zone local days are counted in, is
/// pure, and leaves the status unchanged when it fails.
///
/// # Rules
///
/// - **What qualifies** ([`QualifyingBasis`]): points *earned*, never the
///   spendable balance, so redeeming points cannot demote anyone; or spend in
///   minor units of one currency ([`TierLadder::qualifying_spend`]).
/// - **Over what window** ([`TierWindow`]): the last N local days, kept as one
///   tally per local day (at most [`MAX_ROLLING_DAYS`] of them); or the
///   member's anniversary year, which starts on the join date and on each of
///   its anniversaries. A member who joined on 29 February has anniversaries
///   on 28 February in common years and on 29 February in leap years (each
///   anniversary is counted from the join date, never from the previous one,
///   so the year does not drift to the 28th for good).
/// - **Late records**: the window ends on the newest local day a record or
///   evaluation has seen ([`TierStatus::as_of`]); a record dated before the
///   window's start counts nothing ([`TierOutcome::counted`] is 0).
/// - **Up at once**: [`TierLadder::record`] moves the member up as soon as the
///   tally reaches a higher threshold (exactly the threshold is enough).
/// - **Down only at evaluation, after grace** ([`Grace`]):
///   [`TierLadder::evaluate`] is the only step that demotes for falling below.
///   The first evaluation that finds the tally below the tier's threshold
///   starts the grace period and sets its end ([`TierStatus::grace_until`]);
///   an evaluation on or after that day demotes to the tier the tally
///   qualifies for then (with [`Grace::UntilAnniversary`] over anniversary
///   years the grace counts from the first year below, so a late first
///   evaluation may demote at once). Reaching the threshold again (by a
///   record, or as seen by an evaluation) ends the grace period; the grace is
///   set aside, not forgotten, in case a retraction takes those points back.
///   The grace clock otherwise starts at an evaluation, so a host that wants
///   day-exact grace evaluates daily.
/// - **Reversals revoke at once**: a held tier rests on the windows steps
///   found at or above its threshold since it was reached (or found again
///   after a grace period); the status remembers three of their tallies,
///   the latest, the highest before it (kept even when the latest is
///   higher: it met the threshold without the latest's newer points; over
///   anniversary years, the most recent year before the latest that still
///   meets the threshold, which [`Grace::UntilAnniversary`] counts from),
///   and the first (which shares the fewest days with the latest), even
///   once their buckets leave the window. They settle one retraction as
///   every window found would; after a late record or an earlier
///   retraction, a window between them that was not kept may still meet
///   the threshold when none of them does, and the tier is revoked.
///   [`TierLadder::retract`] takes points (or spend) back out of the window
///   and out of those tallies that counted them. If the tier rested on them
///   (the best of those tallies and the window met its threshold before and
///   none does after), the tier is revoked at once, with the retraction's
///   reason, down to what the best corrected tally qualifies for: a tier
///   that was never deserved gets no grace. So an evaluation, or a record
///   whose window stays below the threshold, moving the window before a
///   refund does not change whether the refund revokes. Points no
///   remembered window counted (earned after them, while the tier was held
///   by grace) change only the window, and the tier is left to the next
///   evaluation. If the points had ended a grace period that still runs at
///   the retraction, that grace comes back instead of a revocation.
///
/// # Example
///
/// ```
/// use chrono::{FixedOffset, TimeDelta, TimeZone, Utc};
/// use growthkit::points::{TierLadderSpec, TierReason};
///
/// // Qualifying points over the last 365 local days (Beijing time);
/// // 30 days of grace before a demotion.
/// let ladder = serde_json::from_str::<TierLadderSpec>(r#"{
///     "basis": { "type": "points" },
///     "window": { "type": "rolling_days", "days": 365 },
///     "grace": { "type": "days", "days": 30 },
///     "tiers": [
///         { "name": "member", "threshold": 0 },
///         { "name": "gold", "threshold": 1000, "multiplier": 1.5, "benefits": "free shipping" }
///     ]
/// }"#)?.validate()?;
///
/// let zone = FixedOffset::east_opt(8 * 3600).unwrap();
/// let joined = Utc.with_ymd_and_hms(2026, 1, 5, 2, 0, 0).unwrap();
/// let mut status = ladder.start(joined, &zone);
///
/// // Reaching the threshold exactly upgrades at once, and says why.
/// let step = ladder.record(&mut status, joined, 1000, &zone)?;
/// let change = step.change.unwrap();
/// assert_eq!((change.from.as_str(), change.to.as_str()), ("member", "gold"));
/// assert_eq!(change.reason, TierReason::Reached { qualifying: 1000, threshold: 1000 });
/// assert_eq!(ladder.multiplier(&status)?.to_string(), "×1.5");
///
/// // A year later the points have left the window: grace starts,
/// // and the demotion comes 30 days later.
/// let later = joined + TimeDelta::days(366);
/// assert!(ladder.evaluate(&mut status, later, &zone)?.change.is_none());
/// let step = ladder.evaluate(&mut status, later + TimeDelta::days(30), &zone)?;
/// assert_eq!(step.change.unwrap().to.as_str(), "member");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TierLadder {
    spec: TierLadderSpec,
    /// The first tier's name, kept apart so that no lookup of it can fail.
    base: Label,
}

/// A member's tier: plain serde data with a [`version`](TierStatus::version).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct TierStatus {
    version: u64,
    joined: LocalDay,
    tier: Label,
    since: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    grace_until: Option<LocalDay>,
    /// The newest local day a record or evaluation has seen: the window
    /// ends there, so a late record after an evaluation that emptied the
    /// window is still judged against it.
    as_of: LocalDay,
    /// Qualifying tallies by window bucket: per local day for a rolling
    /// window, per anniversary-year start for an anniversary window. Only
    /// buckets inside the window of the newest one are kept.
    tally: Buckets,
    /// What the held tier rests on (see [`TierLadder`]'s rules): a
    /// retraction of points counted there judges the tier against it, even
    /// once their bucket has left the window. `None` in a status saved
    /// before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rests: Option<Rests>,
    /// A grace period a step ended by finding the tally at the threshold
    /// again, kept in case a retraction takes those points back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    suspended: Option<Suspended>,
}

/// The tally of one window, and the window's first bucket.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
struct Rest {
    tally: u64,
    from: LocalDay,
}

/// The windows a held tier rests on: of those steps found at or above its
/// threshold, the latest, and the one with the highest tally before it (the
/// latest itself while it is the only one; over anniversary years, the most
/// recent before it that still meets the threshold, see
/// [`Rests::met_year`]); and the first. The older window is kept even
/// when the latest one's tally is higher: it met the threshold without the
/// latest window's newer points, so a retraction of those leaves it standing.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
struct Rests {
    /// The highest tally of the windows before `latest`, or `latest`.
    peak: Rest,
    /// The latest window.
    latest: Rest,
    /// The first window (`None` in a status saved before it was kept).
    /// A retraction that takes the latest window below the threshold takes
    /// points from days the latest window holds; of the windows before it,
    /// the first holds the fewest of them, so it may stand when the highest
    /// does not (a lower window long before a higher one just before the
    /// latest). With the highest, it settles a retraction as all the
    /// windows found would.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    first: Option<Rest>,
}

impl Rests {
    /// Resting on one window.
    #[inline]
    fn on(window: Rest) -> Rests {
        Rests {
            peak: window,
            latest: window,
            first: Some(window),
        }
    }

    /// `r` once `window` is found, the latest, with `peak` before it; the
    /// first window stays, unless it is `window` itself, whose newer
    /// tally replaces it.
    #[inline]
    fn after(r: Rests, peak: Rest, window: Rest) -> Rests {
        let first = match r.first {
            Some(first) if first.from == window.from => Some(window),
            first => first,
        };
        Rests {
            peak,
            latest: window,
            first,
        }
    }

    /// `rests` and a window found at or above the threshold, no older than
    /// the latest (the same window, with its newer tally, replaces it).
    #[inline]
    fn met(rests: Option<Rests>, window: Rest) -> Rests {
        let Some(r) = rests else {
            return Rests::on(window);
        };
        let peak = if r.latest.from == window.from {
            // The same window again: what was before it stays before it.
            if r.peak.from == window.from {
                window
            } else {
                r.peak
            }
        } else if r.latest.tally > r.peak.tally {
            r.latest
        } else {
            // The older of two equal tallies shares fewer of the new
            // window's days.
            r.peak
        };
        Rests::after(r, peak, window)
    }

    /// [`Rests::met`] over anniversary years, for a tier of threshold
    /// `threshold`: the year kept before the latest is the most recent one
    /// that still meets the threshold, not the highest. Years share no
    /// days, so either serves a retraction alike; but if the latest year is
    /// taken below the threshold, the grace over anniversary years counts
    /// from the year after the latest that still meets it
    /// ([`Grace::UntilAnniversary`]), and the highest may be older.
    #[inline]
    fn met_year(rests: Option<Rests>, window: Rest, threshold: u64) -> Rests {
        let Some(r) = rests else {
            return Rests::on(window);
        };
        if r.latest.from == window.from {
            return Rests::met(rests, window);
        }
        // The year before, if it still meets the threshold; else the
        // higher of the two, as over rolling windows.
        let peak = if r.latest.tally >= threshold || r.latest.tally > r.peak.tally {
            r.latest
        } else {
            r.peak
        };
        Rests::after(r, peak, window)
    }

    /// The highest of the tallies.
    fn best(self) -> u64 {
        let first = self.first.map_or(0, |f| f.tally);
        self.peak.tally.max(self.latest.tally).max(first)
    }
}

/// A grace period set aside, with what the tier rested on then.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
struct Suspended {
    grace_until: LocalDay,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rests: Option<Rests>,
}

impl Versioned for TierStatus {
    fn version(&self) -> u64 {
        self.version
    }
}

impl TierStatus {
    /// Bumped by every successful change.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The member's join day, which anniversary years count from.
    pub fn joined(&self) -> LocalDay {
        self.joined
    }

    /// The name of the current tier.
    pub fn tier(&self) -> &Label {
        &self.tier
    }

    /// When the member entered the current tier.
    pub fn since(&self) -> DateTime<Utc> {
        self.since
    }

    /// While the tally is below the current tier's threshold, the first
    /// local day an evaluation demotes on; `None` when not in grace.
    pub fn grace_until(&self) -> Option<LocalDay> {
        self.grace_until
    }

    /// The newest local day a record or evaluation has seen.
    pub fn as_of(&self) -> LocalDay {
        self.as_of
    }

    /// The qualifying tallies kept, by bucket (a local day, or the start of
    /// an anniversary year), oldest first.
    pub fn tallies(&self) -> impl Iterator<Item = (LocalDay, u64)> + '_ {
        self.tally.iter()
    }
}

/// Why a member's tier changed.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TierReason {
    /// Upgrade: the tally reached the new tier's threshold.
    Reached {
        /// The tally.
        qualifying: u64,
        /// The new tier's threshold.
        threshold: u64,
    },
    /// Downgrade at evaluation: the tally is below the old tier's threshold
    /// and any grace has run out.
    FellBelow {
        /// The tally.
        qualifying: u64,
        /// The old tier's threshold.
        threshold: u64,
    },
    /// Revocation: a retraction took the tallies the old tier rested on
    /// below its threshold.
    Revoked {
        /// The retraction's reason (`"refund of order 42"`).
        reason: Label,
        /// The corrected tally: the best of the window's and those the old
        /// tier rested on (see [`TierLadder`]'s rules).
        qualifying: u64,
        /// The old tier's threshold.
        threshold: u64,
    },
}

/// A tier change, with its cause.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct TierChange {
    /// The tier left.
    pub from: Label,
    /// The tier entered.
    pub to: Label,
    /// When (the step's instant).
    pub at: DateTime<Utc>,
    /// Why.
    pub reason: TierReason,
}

impl fmt::Display for TierChange {
    /// `member → gold: 1000 qualifying reached the threshold 1000`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} → {}: ", self.from, self.to)?;
        match &self.reason {
            TierReason::Reached {
                qualifying,
                threshold,
            } => write!(
                f,
                "{qualifying} qualifying reached the threshold {threshold}"
            ),
            TierReason::FellBelow {
                qualifying,
                threshold,
            } => write!(
                f,
                "{qualifying} qualifying is below the threshold {threshold}"
            ),
            TierReason::Revoked {
                reason,
                qualifying,
                threshold,
            } => write!(
                f,
                "revoked ({reason}): {qualifying} qualifying is below the threshold {threshold}"
            ),
        }
    }
}

/// What a tier step did.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct TierOutcome {
    /// The tier after the step.
    pub tier: Label,
    /// Its multiplier, for earning rules.
    pub multiplier: Multiplier,
    /// The qualifying tally in the window after the step.
    pub qualifying: u64,
    /// What this step added to (record) or took from (retract) the tally:
    /// less than asked when the instant is outside the window, or a
    /// retraction asks for more than its bucket holds.
    pub counted: u64,
    /// The tier change, if any.
    pub change: Option<TierChange>,
    /// The end of the grace period, if the member is in one after the step.
    pub grace_until: Option<LocalDay>,
}

impl TierLadder {
    /// The spec it was built from.
    pub fn spec(&self) -> &TierLadderSpec {
        &self.spec
    }

    /// The tiers, base first.
    pub fn tiers(&self) -> &[Tier] {
        &self.spec.tiers
    }

    /// The tier named `name`.
    pub fn tier(&self, name: &str) -> Option<&Tier> {
        self.spec.tiers.iter().find(|t| t.name.as_str() == name)
    }

    /// A new member's status: the base tier, joined on the local day of
    /// `joined_at` in `zone`, version 0.
    pub fn start<Tz: TimeZone>(&self, joined_at: DateTime<Utc>, zone: &Tz) -> TierStatus {
        TierStatus {
            version: 0,
            joined: LocalDay::of(joined_at, zone),
            tier: self.base.clone(),
            since: joined_at,
            grace_until: None,
            as_of: LocalDay::of(joined_at, zone),
            tally: Buckets::default(),
            rests: None,
            suspended: None,
        }
    }

    /// [`TierLadder::start`] over `status`, keeping its tallies' room: a
    /// batch reopens one status member after member.
    pub(crate) fn restart<Tz: TimeZone>(
        &self,
        status: &mut TierStatus,
        joined_at: DateTime<Utc>,
        zone: &Tz,
    ) {
        let mut tally = std::mem::take(&mut status.tally);
        tally.clear();
        *status = self.start(joined_at, zone);
        status.tally = tally;
    }

    /// The member's current tier.
    pub fn current(&self, status: &TierStatus) -> Result<&Tier, TierError> {
        let i = self.index_of(&status.tier)?;
        self.spec
            .tiers
            .get(i)
            .ok_or_else(|| TierError::UnknownTier {
                tier: status.tier.clone(),
            })
    }

    /// The member's current tier's multiplier, for earning rules.
    pub fn multiplier(&self, status: &TierStatus) -> Result<Multiplier, TierError> {
        self.current(status).map(|t| t.multiplier)
    }

    /// What a purchase adds to a spend-qualified ladder, in minor units.
    pub fn qualifying_spend(&self, amount: Money) -> Result<u64, TierError> {
        let QualifyingBasis::Spend { currency } = self.spec.basis else {
            return Err(TierError::NotSpendBasis);
        };
        if amount.currency != currency {
            return Err(TierError::CurrencyMismatch {
                expected: currency,
                got: amount.currency,
            });
        }
        u64::try_from(amount.minor).map_err(|_| TierError::NegativeSpend {
            minor: amount.minor,
        })
    }

    /// The qualifying tally as of `now`, without changing anything.
    pub fn qualifying<Tz: TimeZone>(
        &self,
        status: &TierStatus,
        now: DateTime<Utc>,
        zone: &Tz,
    ) -> Result<u64, TierError> {
        let today = LocalDay::of(now, zone);
        status.tally.sum_from(self.window_start(status, today))
    }

    /// Whether recording up to `room` more at `status` is sure to succeed:
    /// a tier the ladder knows, a tally of at most `room` in all, and a
    /// version short of its maximum.
    pub(crate) fn records_safely(&self, status: &TierStatus, room: u64) -> bool {
        status.version < u64::MAX
            && status.tally.total().is_some_and(|total| total <= room)
            && self.index_of(&status.tier).is_ok()
    }

    /// Adds `amount` qualifying points (or minor units of spend) earned at
    /// `at`, and upgrades at once if a higher threshold is reached; reaching
    /// the current tier's threshold again ends a grace period. An instant
    /// older than the window counts nothing ([`TierOutcome::counted`] is 0).
    pub fn record<Tz: TimeZone>(
        &self,
        status: &mut TierStatus,
        at: DateTime<Utc>,
        amount: u64,
        zone: &Tz,
    ) -> Result<TierOutcome, TierError> {
        let r = self.record_step(status, at, amount, zone)?;
        // The step moved the member up, if it did, at `status.since`.
        let change = (r.reached > r.current).then(|| TierChange {
            from: self.name(r.current),
            to: self.name(r.reached),
            at: status.since,
            reason: TierReason::Reached {
                qualifying: r.qualifying,
                threshold: self.threshold(r.reached),
            },
        });
        self.outcome(
            (status, r.current, r.reached),
            r.qualifying,
            r.counted,
            change,
        )
    }

    /// [`TierLadder::record`] for a batch that reads only what the record
    /// counted ([`TierOutcome::counted`]): no outcome is built.
    pub(crate) fn record_counted<Tz: TimeZone>(
        &self,
        status: &mut TierStatus,
        at: DateTime<Utc>,
        amount: u64,
        zone: &Tz,
    ) -> Result<u64, TierError> {
        self.record_step(status, at, amount, zone)
            .map(|r| r.counted)
    }

    /// The step of [`TierLadder::record`], all or nothing. What it returns
    /// is a few numbers: the change of tier, a large value that is
    /// usually `None`, is described by `record` alone, so a batch neither
    /// builds it nor copies it about.
    fn record_step<Tz: TimeZone>(
        &self,
        status: &mut TierStatus,
        at: DateTime<Utc>,
        amount: u64,
        zone: &Tz,
    ) -> Result<Recorded, TierError> {
        let day = LocalDay::of(at, zone);
        match self.record_in_order(status, (day, at), amount) {
            Some(recorded) => Ok(recorded),
            None => self.record_any(status, (day, at), amount),
        }
    }

    /// [`TierLadder::record_step`] for any record, of `amount` at `at`
    /// on local `day`.
    fn record_any(
        &self,
        status: &mut TierStatus,
        (day, at): (LocalDay, DateTime<Utc>),
        amount: u64,
    ) -> Result<Recorded, TierError> {
        let current = self.index_of(&status.tier)?;
        let key = self.bucket_of(day, status.joined);
        let start = self.window_start(status, day);
        let before = status.tally.sum_from(start)?;
        if amount == 0 || key < start {
            return Ok(Recorded {
                current,
                reached: current,
                qualifying: before,
                counted: 0,
            });
        }
        // The bucket is inside the window (`key >= start`), so it is part
        // of `before`: if the window's sum takes `amount`, so does it.
        let qualifying = before.checked_add(amount).ok_or(TierError::Overflow)?;
        let version = bump(status.version)?;

        let reached = self.qualified_from(current, qualifying);
        status.tally.forget_before(start);
        // Cannot saturate: the bucket is part of `before` (see above).
        status.tally.add(key, amount);
        status.as_of = status.as_of.max(day);
        let window = Rest {
            tally: qualifying,
            from: start,
        };
        Ok(self.finish_record(
            status,
            (current, reached, at),
            window,
            (key, amount),
            version,
        ))
    }

    /// [`TierLadder::record_step`] for the usual record, in fewer steps,
    /// or `None` (nothing changed) for any other: points on a day no
    /// older than any the status has seen, in a rolling window that no
    /// kept bucket has left, for a member who stays at the tier the status
    /// names by the ladder's own label (see [`TierLadder::index_of`]).
    /// Then the window ends on `day`, its sum is the kept total, the day's
    /// bucket is the newest or a new one after it, and the member neither
    /// moves up nor down: what the whole step would do comes to this.
    #[inline]
    fn record_in_order(
        &self,
        status: &mut TierStatus,
        (day, at): (LocalDay, DateTime<Utc>),
        amount: u64,
    ) -> Option<Recorded> {
        let TierWindow::RollingDays { days } = self.spec.window else {
            return None;
        };
        if amount == 0 || day < status.as_of || status.tally.newest().is_some_and(|n| n > day) {
            return None;
        }
        let start = day.checked_add_days(-days_back(days))?;
        if status.tally.reaches_before(start) {
            return None;
        }
        let tiers = &self.spec.tiers;
        let current = tiers
            .iter()
            .position(|t| t.name.shares_text_with(&status.tier))?;
        let qualifying = status.tally.total()?.checked_add(amount)?;
        let version = status.version.checked_add(1)?;
        if self.qualified_from(current, qualifying) != current {
            return None;
        }
        status.tally.add_newest(day, amount);
        status.as_of = day;
        let window = Rest {
            tally: qualifying,
            from: start,
        };
        Some(self.finish_record(
            status,
            (current, current, at),
            window,
            (day, amount),
            version,
        ))
    }

    /// The end of a record of `amount` in bucket `key` whose `window` took
    /// the member from the tier at `current` to the one at `reached` at
    /// `at`: what the tier rests on, and the status's new `version`.
    #[inline(always)]
    fn finish_record(
        &self,
        status: &mut TierStatus,
        (current, reached, at): (usize, usize, DateTime<Utc>),
        window: Rest,
        (key, amount): (LocalDay, u64),
        version: u64,
    ) -> Recorded {
        // The lowest tier rests on nothing (nothing revokes it, no grace
        // keeps it): a member there, as most members are on most events,
        // skips the bookkeeping, and an upgrade starts it afresh.
        if current > 0 || reached > 0 {
            self.rest_on(status, (current, reached, at), window, (key, amount));
        }
        status.version = version;
        Recorded {
            current,
            reached,
            qualifying: window.tally,
            counted: amount,
        }
    }

    /// After a record of `amount` in bucket `key` whose `window` took the
    /// member from the tier at `current` to the one at `reached` at `at`:
    /// the tier reached, and what it rests on (see [`Rests`]). Always
    /// inlined: once a record above the lowest tier, and the compiler left
    /// it out of line once the status kept a third window (+12
    /// instructions an event on the batch path with tiers).
    #[inline(always)]
    fn rest_on(
        &self,
        status: &mut TierStatus,
        (current, reached, at): (usize, usize, DateTime<Utc>),
        window: Rest,
        (key, amount): (LocalDay, u64),
    ) {
        // A window the tier rests on that holds the day (a late record)
        // held these points too.
        let credit = |rests| self.change_rests(rests, key, |tally| tally.saturating_add(amount));
        let rests = credit(status.rests);
        if let Some(s) = &mut status.suspended {
            s.rests = credit(s.rests);
        }
        status.rests = rests;
        if reached > current {
            // A late record lifts the member now, not before the tier they
            // hold began (which may be a later demotion).
            status.tier = self.name(reached);
            status.since = at.max(status.since);
            status.grace_until = None;
            status.suspended = None;
            status.rests = Some(Rests::on(window));
        } else if reached == current {
            if let Some(grace_until) = status.grace_until.take() {
                // The grace this record ends, and what it rested on, are
                // kept in case the record is reversed.
                status.suspended = Some(Suspended {
                    grace_until,
                    rests: status.rests,
                });
                status.rests = Some(Rests::on(window));
            } else {
                let threshold = self.threshold(current);
                status.rests = Some(self.met(status.rests, window, threshold));
            }
        }
    }

    /// Re-reads the window as of `now`: forgets tallies that left it, and
    /// if the tally is below the current tier's threshold, starts the grace
    /// period or, once it has run out, demotes to the tier the tally
    /// qualifies for. The only step that demotes for falling below. On
    /// error, `status` is unchanged.
    ///
    /// The window never ends before the newest day a step has seen
    /// ([`TierStatus::as_of`]), so an evaluation whose `now` is older (a
    /// late-running job) judges that window, and the grace clock starts on
    /// that day too; a change is dated `now`, but never before the current
    /// tier began ([`TierStatus::since`]).
    pub fn evaluate<Tz: TimeZone>(
        &self,
        status: &mut TierStatus,
        now: DateTime<Utc>,
        zone: &Tz,
    ) -> Result<TierOutcome, TierError> {
        let current = self.index_of(&status.tier)?;
        let today = LocalDay::of(now, zone);
        let start = self.window_start(status, today);
        let qualifying = status.tally.sum_from(start)?;
        let reached = self.qualified(qualifying);
        // The day the window is judged on, and the grace clock starts or
        // runs out on: an older `now` judges the window of `as_of`.
        let judged = today.max(status.as_of);
        // A change never dates before the tier it replaces began.
        let at = now.max(status.since);

        let mut grace_until = status.grace_until;
        let mut rests = status.rests;
        let mut suspended = status.suspended;
        let mut change = None;
        let window = Rest {
            tally: qualifying,
            from: start,
        };
        if reached >= current {
            // The window is at most the last record's, which the rests
            // already count: kept unless unknown or a grace period ends.
            if let Some(grace_until) = grace_until.take() {
                suspended = Some(Suspended { grace_until, rests });
                rests = Some(Rests::on(window));
            }
            if reached > current || rests.is_none() {
                rests = Some(Rests::on(window));
            }
            if reached > current {
                // Only a status edited outside the library lags its tally:
                // record upgrades at once.
                change = Some(TierChange {
                    from: status.tier.clone(),
                    to: self.name(reached),
                    at,
                    reason: TierReason::Reached {
                        qualifying,
                        threshold: self.threshold(reached),
                    },
                });
            }
        } else {
            let threshold = self.threshold(current);
            let until = *grace_until
                .get_or_insert_with(|| self.grace_end(judged, status.joined, rests, threshold));
            if judged >= until {
                grace_until = None;
                rests = Some(Rests::on(window));
                change = Some(TierChange {
                    from: status.tier.clone(),
                    to: self.name(reached),
                    at,
                    reason: TierReason::FellBelow {
                        qualifying,
                        threshold: self.threshold(current),
                    },
                });
            }
        }
        let stale = status.tally.reaches_before(start);
        let as_of = judged;
        if change.is_some() {
            suspended = None;
        }
        // Everything that can fail comes before the status changes.
        let now_at = if change.is_some() { reached } else { current };
        let multiplier = self.multiplier_at(status, now_at)?;
        if stale
            || as_of != status.as_of
            || grace_until != status.grace_until
            || rests != status.rests
            || suspended != status.suspended
            || change.is_some()
        {
            status.version = bump(status.version)?;
            status.as_of = as_of;
            status.tally.forget_before(start);
            status.grace_until = grace_until;
            status.rests = rests;
            status.suspended = suspended;
            if let Some(change) = &change {
                status.tier = change.to.clone();
                status.since = change.at;
            }
        }
        Ok(outcome_with(status, multiplier, (qualifying, 0), change))
    }

    /// Takes back `amount` qualifying points (or spend) counted for an
    /// earning at `earned_at` (a reversed award, a refunded purchase): from
    /// the window, at most what that instant's bucket holds, nothing if it
    /// has left the window; and from each tally the held tier rests on that
    /// counted that instant (at most that tally once the bucket has left the
    /// window). If the tier rested on them (the best of those tallies and the
    /// window met its threshold before and does not after), it is revoked at
    /// `now` (the reversal's time; never before the tier began) with
    /// `reason`, down to what that best corrected tally qualifies for;
    /// unless a grace period the points had ended still runs at `now`: that
    /// grace comes back instead (see [`TierLadder`]'s rules).
    pub fn retract<Tz: TimeZone>(
        &self,
        status: &mut TierStatus,
        earned_at: DateTime<Utc>,
        now: DateTime<Utc>,
        amount: u64,
        reason: impl Into<Label>,
        zone: &Tz,
    ) -> Result<TierOutcome, TierError> {
        let current = self.index_of(&status.tier)?;
        let day = LocalDay::of(earned_at, zone);
        let key = self.bucket_of(day, status.joined);
        let start = self.window_start(status, day);
        let before = status.tally.sum_from(start)?;
        let in_window = key >= start;
        let held = if in_window { status.tally.get(key) } else { 0 };
        let taken = amount.min(held);
        // What a tally the tier rests on gives up, if it counted the bucket:
        // what the bucket gave up while it is kept, else what was asked (the
        // caller knows what it counted).
        let from_rest = if in_window { taken } else { amount };
        let take_all =
            |rests| self.change_rests(rests, key, |tally| tally.saturating_sub(from_rest));
        let rests = take_all(status.rests);
        let suspended = status.suspended.map(|s| Suspended {
            rests: take_all(s.rests),
            ..s
        });
        if taken == 0 && rests == status.rests && suspended == status.suspended {
            return self.outcome((status, current, current), before, 0, None);
        }
        // `taken` is part of `before`: it never underflows.
        let qualifying = before.saturating_sub(taken);
        let version = bump(status.version)?;
        let threshold = self.threshold(current);
        // The best the tier rested on, before and after.
        let best_before = status.rests.map_or(before, |r| r.best().max(before));
        let corrected = rests.map_or(qualifying, |r| r.best().max(qualifying));
        let reached = self.qualified(corrected);

        let mut change = None;
        let (mut grace_until, mut rests, mut suspended) = (status.grace_until, rests, suspended);
        if best_before >= threshold && reached < current {
            let today = LocalDay::of(now, zone);
            // A grace period these points had ended, still running and
            // resting on tallies that still meet the threshold, comes back.
            let owed = suspended
                .filter(|s| today < s.grace_until && s.rests.is_none_or(|r| r.best() >= threshold));
            if let Some(s) = owed {
                grace_until = Some(s.grace_until);
                rests = s.rests;
                suspended = None;
            } else {
                change = Some(TierChange {
                    from: status.tier.clone(),
                    to: self.name(reached),
                    at: now.max(status.since),
                    reason: TierReason::Revoked {
                        reason: reason.into(),
                        qualifying: corrected,
                        threshold,
                    },
                });
                grace_until = None;
                // The lower tier rests on what is left of the same windows,
                // and on the window if that meets its threshold.
                let window = Rest {
                    tally: qualifying,
                    from: start,
                };
                rests = match rests {
                    Some(r) if qualifying < self.threshold(reached) => Some(r),
                    r => Some(self.met(r, window, self.threshold(reached))),
                };
                suspended = None;
            }
        }
        if taken > 0 {
            status.tally.set(key, held - taken);
        }
        if let Some(change) = &change {
            status.tier = change.to.clone();
            status.since = change.at;
        }
        status.grace_until = grace_until;
        status.rests = rests;
        status.suspended = suspended;
        status.version = version;
        self.outcome((status, current, reached), qualifying, taken, change)
    }

    /// `rests`, each tally passed through `change` if its window holds
    /// bucket `key`: what a late record adds to them, or a retraction takes.
    #[inline]
    fn change_rests(
        &self,
        rests: Option<Rests>,
        key: LocalDay,
        change: impl Fn(u64) -> u64,
    ) -> Option<Rests> {
        let one = |r: Rest| match self.rest_holds(r, key) {
            true => Rest {
                tally: change(r.tally),
                ..r
            },
            false => r,
        };
        rests.map(|r| Rests {
            peak: one(r.peak),
            latest: one(r.latest),
            first: r.first.map(one),
        })
    }

    /// `rests` and a window found at or above `threshold`, the held tier's
    /// ([`Rests::met`], or [`Rests::met_year`] over anniversary years).
    #[inline]
    fn met(&self, rests: Option<Rests>, window: Rest, threshold: u64) -> Rests {
        match self.spec.window {
            TierWindow::RollingDays { .. } => Rests::met(rests, window),
            TierWindow::AnniversaryYear {} => Rests::met_year(rests, window, threshold),
        }
    }

    /// Whether bucket `key` is inside the window whose first bucket is
    /// `rest.from`.
    #[inline]
    fn rest_holds(&self, rest: Rest, key: LocalDay) -> bool {
        match self.spec.window {
            TierWindow::RollingDays { days } => {
                key >= rest.from
                    && rest
                        .from
                        .checked_add_days(days_back(days))
                        .is_none_or(|end| key <= end)
            }
            TierWindow::AnniversaryYear {} => key == rest.from,
        }
    }

    #[inline]
    fn index_of(&self, name: &Label) -> Result<usize, TierError> {
        let tiers = &self.spec.tiers;
        // A status names its tier with the ladder's own label, cloned: found
        // by pointer without comparing the text of the tiers before it.
        tiers
            .iter()
            .position(|t| t.name.shares_text_with(name))
            .or_else(|| tiers.iter().position(|t| t.name == *name))
            .ok_or_else(|| TierError::UnknownTier { tier: name.clone() })
    }

    /// [`TierLadder::qualified`] for a member at the tier at position
    /// `current`: a tally still within that tier's band, the usual case
    /// after a record, takes two comparisons instead of a search.
    #[inline(always)]
    fn qualified_from(&self, current: usize, qualifying: u64) -> usize {
        let tiers = &self.spec.tiers;
        let reaches_current = tiers
            .get(current)
            .is_some_and(|t| t.threshold <= qualifying);
        let below_next = tiers
            .get(current + 1)
            .is_none_or(|t| qualifying < t.threshold);
        if reaches_current && below_next {
            current
        } else {
            self.qualified(qualifying)
        }
    }

    /// The highest tier whose threshold `qualifying` meets.
    #[inline]
    fn qualified(&self, qualifying: u64) -> usize {
        self.spec
            .tiers
            .partition_point(|t| t.threshold <= qualifying)
            .saturating_sub(1)
    }

    fn name(&self, i: usize) -> Label {
        self.spec
            .tiers
            .get(i)
            .map_or_else(|| self.base.clone(), |t| t.name.clone())
    }

    fn threshold(&self, i: usize) -> u64 {
        self.spec.tiers.get(i).map_or(0, |t| t.threshold)
    }

    /// The bucket a local day's qualifying amounts go to.
    #[inline]
    fn bucket_of(&self, day: LocalDay, joined: LocalDay) -> LocalDay {
        match self.spec.window {
            TierWindow::RollingDays { .. } => day,
            TierWindow::AnniversaryYear {} => anniversary_year_start(joined, day),
        }
    }

    /// The oldest bucket inside the window that ends on the later of the
    /// status's newest day and `day`.
    #[inline]
    fn window_start(&self, status: &TierStatus, day: LocalDay) -> LocalDay {
        let newest = self.bucket_of(status.as_of.max(day), status.joined);
        match self.spec.window {
            TierWindow::RollingDays { days } => newest
                .checked_add_days(-days_back(days))
                .unwrap_or(LocalDay::from_number(i32::MIN)),
            TierWindow::AnniversaryYear {} => newest,
        }
    }

    /// The first day an evaluation demotes on, for a member first found
    /// below on `today` whose tier, of threshold `threshold`, rests on
    /// `rests`.
    fn grace_end(
        &self,
        today: LocalDay,
        joined: LocalDay,
        rests: Option<Rests>,
        threshold: u64,
    ) -> LocalDay {
        let far = LocalDay::from_number(i32::MAX);
        match self.spec.grace {
            Grace::None {} => today,
            Grace::Days { days } => today
                .checked_add_days(i32::try_from(days).unwrap_or(i32::MAX))
                .unwrap_or(far),
            Grace::UntilAnniversary {} => {
                let mut below = anniversary_year_index(joined, today);
                // Over anniversary years, the member has been below since
                // the year after the latest one that met the threshold,
                // however late an evaluation finds it: not a year a
                // retraction has since taken below it, if the other
                // window still meets it.
                if let (TierWindow::AnniversaryYear {}, Some(r)) = (self.spec.window, rests) {
                    let last_met = match r.latest.tally < threshold && r.peak.tally >= threshold {
                        true => r.peak,
                        false => r.latest,
                    };
                    let met = anniversary_year_index(joined, last_met.from);
                    below = below.min(met.saturating_add(1));
                }
                below
                    .checked_add(1)
                    .and_then(|k| anniversary(joined, k))
                    .unwrap_or(far)
            }
        }
    }

    /// What a step did to a status that was at the tier at position
    /// `current` and, if `change` says it moved, is now at `reached` (the
    /// step knows both positions: no lookup by name).
    fn outcome(
        &self,
        (status, current, reached): (&TierStatus, usize, usize),
        qualifying: u64,
        counted: u64,
        change: Option<TierChange>,
    ) -> Result<TierOutcome, TierError> {
        let now_at = if change.is_some() { reached } else { current };
        let multiplier = self.multiplier_at(status, now_at)?;
        Ok(outcome_with(
            status,
            multiplier,
            (qualifying, counted),
            change,
        ))
    }

    /// The multiplier of the tier at position `index`, a position this
    /// ladder gave; failing that, of the tier `status` names.
    fn multiplier_at(&self, status: &TierStatus, index: usize) -> Result<Multiplier, TierError> {
        match self.spec.tiers.get(index) {
            Some(t) => Ok(t.multiplier),
            None => self.multiplier(status),
        }
    }
}

/// A step's outcome for a member now at `status`, whose tier's multiplier
/// is `multiplier`.
fn outcome_with(
    status: &TierStatus,
    multiplier: Multiplier,
    (qualifying, counted): (u64, u64),
    change: Option<TierChange>,
) -> TierOutcome {
    TierOutcome {
        tier: status.tier.clone(),
        multiplier,
        qualifying,
        counted,
        change,
        grace_until: status.grace_until,
    }
}

/// What [`TierLadder::record_step`] did: the member was at tier `current`
/// and, if `reached` is higher, moved up to it.
struct Recorded {
    current: usize,
    reached: usize,
    qualifying: u64,
    counted: u64,
}

/// The next version. Always inlined: once a record, and the compiler had
/// left it out of line.
#[inline(always)]
fn bump(version: u64) -> Result<u64, TierError> {
    version.checked_add(1).ok_or(TierError::Overflow)
}

/// The `k`-th anniversary of `joined` (the 0th is the join day itself),
/// counted from the join date so that a 29 February join falls on
/// 28 February in common years and on 29 February again in leap years.
fn anniversary(joined: LocalDay, k: u32) -> Option<LocalDay> {
    let months = Months::new(k.checked_mul(12)?);
    joined
        .date()
        .checked_add_months(months)
        .map(LocalDay::from_date)
}

/// Which anniversary year `day` falls in (0: the first year; days before
/// joining count as the first year too).
fn anniversary_year_index(joined: LocalDay, day: LocalDay) -> u32 {
    if day <= joined {
        return 0;
    }
    let years = day.date().year().saturating_sub(joined.date().year());
    let mut k = u32::try_from(years).unwrap_or(0);
    // At most one step back: the anniversary in `day`'s year may be later.
    while k > 0 && anniversary(joined, k).is_none_or(|a| a > day) {
        k -= 1;
    }
    k
}

/// How many days a rolling window of `days` reaches back from its last
/// day to its first (the last day is one of its days).
#[inline]
fn days_back(days: u32) -> i32 {
    i32::try_from(days).unwrap_or(i32::MAX).saturating_sub(1)
}

/// The first day of the anniversary year `day` falls in.
fn anniversary_year_start(joined: LocalDay, day: LocalDay) -> LocalDay {
    anniversary(joined, anniversary_year_index(joined, day)).unwrap_or(joined)
}

#[cfg(test)]
mod tests;
