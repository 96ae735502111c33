//! Points programs as data: the spec operators write, its validation, and the
//! earning step [`Program::apply`].

use super::PointsError;
use super::expiry::Expiry;
use super::ledger::{DayTally, Ledger, LedgerPolicy, Lot, RuleCounter};
use crate::dedupe::{Admission, DedupeWindow};
use crate::event::{Currency, Event, EventKind, KindPattern, KindTag, Label};
use crate::time::{LocalDay, UtcOffset};
use chrono::{FixedOffset, TimeDelta, TimeZone};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// How many local days of per-rule daily tallies a ledger keeps behind the
/// newest one. Late events within the dedupe horizon (days, not weeks) land
/// inside it; an event older than that cannot be checked against its day's
/// cap and is refused rather than guessed at.
pub const DAILY_TALLY_DAYS: i32 = 8;

/// A points program as operators write it (JSON-friendly).
///
/// Deserialize it, then [`ProgramSpec::validate`] it into a [`Program`].
///
/// ```
/// use growthkit::points::ProgramSpec;
///
/// let spec: ProgramSpec = serde_json::from_str(r#"{
///     "utc_offset": "+08:00",
///     "rules": [{ "name": "lesson", "on": "action_completed:lesson",
///                 "reward": { "type": "fixed", "points": 0 } }]
/// }"#).unwrap();
/// let err = spec.validate().unwrap_err();
/// assert_eq!(err.to_string(), "rule lesson: reward.points is 0 but must be at least 1");
/// ```
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProgramSpec {
    /// The calendar that daily caps count days in (`"+08:00"`). Hosts that
    /// need an IANA zone use [`ProgramSpec::validate_in`] instead.
    #[serde(default)]
    pub utc_offset: UtcOffset,
    /// When points expire unless a rule says otherwise. Default: never.
    #[serde(default)]
    pub expiry: Expiry,
    /// How long event ids are remembered to drop redeliveries.
    #[serde(default)]
    pub dedupe: DedupeWindow,
    /// The earning rules; every matching rule awards.
    pub rules: Vec<RuleSpec>,
    /// How reversals claw points back and how much history a ledger keeps.
    /// Default: clamp, 32 statement entries, 128 reversible awards.
    #[serde(default)]
    pub ledger: LedgerPolicy,
}

/// One earning rule.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// Unique within the program; awards and counters are keyed by it.
    pub name: Label,
    /// The events it awards points for.
    pub on: KindPattern,
    /// How many points.
    pub reward: Reward,
    /// A limit per local day of the program's calendar.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily_cap: Option<Cap>,
    /// A limit over the user's whole history.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifetime_cap: Option<Cap>,
    /// What a cap does to an award that would exceed it.
    #[serde(default)]
    pub cap_mode: CapMode,
    /// When this rule's points expire; default: the program's [`ProgramSpec::expiry`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry: Option<Expiry>,
    /// Days (of 24 hours) the rule's points stay pending before they can be
    /// spent, e.g. a purchase's return window; 0: spendable at once.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub pending_days: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// How many points a rule awards.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Reward {
    /// The same points for every matching event.
    Fixed {
        /// Points per event.
        points: u64,
    },
    /// `points` for every `per_minor` minor units of a purchase's amount
    /// (1 point per ¥10 is `points: 1, per_minor: 1000`), rounded as stated.
    /// Negative amounts earn nothing. Purchase triggers only.
    PerAmount {
        /// Points per unit.
        points: u64,
        /// The unit, in minor units of the purchase's currency.
        per_minor: i64,
        /// How a fractional result becomes whole points.
        rounding: Rounding,
        /// If set, purchases in other currencies earn nothing: a unit of
        /// 1000 minor units means ¥10 but also $10, so a multi-currency host
        /// writes one rule per currency.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        currency: Option<Currency>,
    },
}

/// How a fractional number of points is made whole.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rounding {
    /// Toward zero: ¥99 at 1 per ¥10 is 9.
    Down,
    /// To the nearest, halves up: ¥95 is 10, ¥94.99 is 9.
    Nearest,
    /// Away from zero: ¥91 is 10.
    Up,
}

impl Rounding {
    /// `num / den` made whole this way; `den` is never zero at the call sites.
    pub(crate) fn divide(self, num: u128, den: u128) -> u128 {
        let (q, r) = (num / den.max(1), num % den.max(1));
        match self {
            Rounding::Down => q,
            Rounding::Up if r > 0 => q + 1,
            Rounding::Nearest if r * 2 >= den => q + 1,
            Rounding::Up | Rounding::Nearest => q,
        }
    }
}

/// A limit on a rule's awards in a period: a count of awards, points, or both.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cap {
    /// At most this many awards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    /// At most this many points.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub points: Option<u64>,
}

/// What a cap does to an award that would exceed it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CapMode {
    /// Award what is left under the cap (possibly nothing).
    #[default]
    Trim,
    /// Award nothing unless the whole award fits.
    Reject,
}

/// What is wrong with a [`ProgramSpec`]: the rule, the field and why.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProgramError {
    /// The program has no rules.
    #[error("rules is empty: a program needs at least one rule")]
    NoRules,
    /// Two rules share a name.
    #[error("rule {rule}: the name is used by another rule")]
    DuplicateRule {
        /// The repeated name.
        rule: Label,
    },
    /// A rule's number that must be positive is zero.
    #[error("rule {rule}: {field} is 0 but must be at least 1")]
    Zero {
        /// The rule.
        rule: Label,
        /// The field, as a path (`daily_cap.count`).
        field: &'static str,
    },
    /// A program-level number that must be positive is zero.
    #[error("{field} is 0 but must be at least 1")]
    ProgramZero {
        /// The field, as a path (`expiry.days`).
        field: &'static str,
    },
    /// A per-amount reward with a unit that is not positive.
    #[error("rule {rule}: reward.per_minor is {value} but must be at least 1")]
    NonPositiveUnit {
        /// The rule.
        rule: Label,
        /// The unit given.
        value: i64,
    },
    /// A per-amount reward on events that carry no amount.
    #[error("rule {rule}: a per_amount reward needs on = \"purchase\", not \"{on}\"")]
    PerAmountNeedsPurchase {
        /// The rule.
        rule: Label,
        /// Its trigger.
        on: KindPattern,
    },
    /// A rule whose points would expire before (or as) they stop pending.
    #[error("rule {rule}: pending_days is {pending_days} but its points expire sooner ({expiry})")]
    PendingOutlastsExpiry {
        /// The rule.
        rule: Label,
        /// Its pending days.
        pending_days: u32,
        /// Its expiry (the rule's own, or the program's).
        expiry: Expiry,
    },
    /// A cap that limits nothing.
    #[error("rule {rule}: {field} sets neither count nor points")]
    EmptyCap {
        /// The rule.
        rule: Label,
        /// `daily_cap` or `lifetime_cap`.
        field: &'static str,
    },
}

impl ProgramSpec {
    /// Checks every rule and compiles the program in its configured
    /// [`utc_offset`](Self::utc_offset).
    pub fn validate(self) -> Result<Program<FixedOffset>, ProgramError> {
        let zone = self.utc_offset.zone();
        self.validate_in(zone)
    }

    /// Checks every rule and compiles the program to count days in `zone`
    /// (an IANA zone from `chrono-tz`, say); `utc_offset` is then unused.
    pub fn validate_in<Tz: TimeZone>(self, zone: Tz) -> Result<Program<Tz>, ProgramError> {
        self.check()?;
        Ok(Program { spec: self, zone })
    }

    fn check(&self) -> Result<(), ProgramError> {
        use ProgramError::*;
        if self.rules.is_empty() {
            return Err(NoRules);
        }
        if let Some(field) = self.expiry.zero_field() {
            return Err(ProgramZero { field });
        }
        if self.dedupe.horizon_hours == 0 {
            return Err(ProgramZero {
                field: "dedupe.horizon_hours",
            });
        }
        if self.dedupe.max_ids == 0 {
            return Err(ProgramZero {
                field: "dedupe.max_ids",
            });
        }
        let mut names = BTreeSet::new();
        for r in &self.rules {
            let rule = || r.name.clone();
            if !names.insert(r.name.as_str()) {
                return Err(DuplicateRule { rule: rule() });
            }
            match r.reward {
                Reward::Fixed { points: 0 } | Reward::PerAmount { points: 0, .. } => {
                    return Err(Zero {
                        rule: rule(),
                        field: "reward.points",
                    });
                }
                Reward::Fixed { .. } => {}
                Reward::PerAmount { per_minor, .. } => {
                    if per_minor <= 0 {
                        return Err(NonPositiveUnit {
                            rule: rule(),
                            value: per_minor,
                        });
                    }
                    if r.on != KindPattern::Kind(KindTag::Purchase) {
                        return Err(PerAmountNeedsPurchase {
                            rule: rule(),
                            on: r.on.clone(),
                        });
                    }
                }
            }
            for (cap, field, count_field, points_field) in [
                (
                    r.daily_cap,
                    "daily_cap",
                    "daily_cap.count",
                    "daily_cap.points",
                ),
                (
                    r.lifetime_cap,
                    "lifetime_cap",
                    "lifetime_cap.count",
                    "lifetime_cap.points",
                ),
            ] {
                let Some(cap) = cap else { continue };
                if cap.count.is_none() && cap.points.is_none() {
                    return Err(EmptyCap {
                        rule: rule(),
                        field,
                    });
                }
                if cap.count == Some(0) {
                    return Err(Zero {
                        rule: rule(),
                        field: count_field,
                    });
                }
                if cap.points == Some(0) {
                    return Err(Zero {
                        rule: rule(),
                        field: points_field,
                    });
                }
            }
            if let Some(field) = r.expiry.as_ref().and_then(Expiry::zero_field) {
                return Err(Zero {
                    rule: rule(),
                    field,
                });
            }
            let expiry = r.expiry.unwrap_or(self.expiry);
            if r.pending_days > 0
                && expiry
                    .min_days()
                    .is_some_and(|d| u64::from(r.pending_days) >= d)
            {
                return Err(PendingOutlastsExpiry {
                    rule: rule(),
                    pending_days: r.pending_days,
                    expiry,
                });
            }
        }
        Ok(())
    }
}

impl TryFrom<ProgramSpec> for Program<FixedOffset> {
    type Error = ProgramError;
    fn try_from(spec: ProgramSpec) -> Result<Self, ProgramError> {
        spec.validate()
    }
}

/// A validated [`ProgramSpec`], counting local days in `Tz`.
#[derive(Clone, Debug)]
pub struct Program<Tz: TimeZone = FixedOffset> {
    spec: ProgramSpec,
    zone: Tz,
}

/// Which period's cap limited an award.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CapPeriod {
    /// The rule's daily cap (a local day).
    Daily,
    /// The rule's lifetime cap.
    Lifetime,
}

/// The cap that trimmed or rejected an award.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct CapHit {
    /// Which cap.
    pub period: CapPeriod,
    /// Its limits.
    pub cap: Cap,
    /// Whether the award was trimmed or rejected.
    pub mode: CapMode,
}

/// The arithmetic of a per-amount award.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct PerAmountCalc {
    /// The purchase amount, in minor units.
    pub amount_minor: i64,
    /// Points per unit.
    pub points: u64,
    /// The unit, in minor units.
    pub per_minor: i64,
    /// How the result was made whole.
    pub rounding: Rounding,
    /// The purchase's currency.
    pub currency: Currency,
    /// `false` when the rule names another currency, so nothing was earned.
    pub currency_matched: bool,
}

/// One rule's award for one event, with its explanation.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct Award {
    /// The rule.
    pub rule: Label,
    /// What the reward came to before caps.
    pub base: u64,
    /// What was awarded (`base`, or less if a cap trimmed or rejected it).
    pub points: u64,
    /// For per-amount rules, the arithmetic behind `base`.
    pub per_amount: Option<PerAmountCalc>,
    /// The cap that cut `base` down to `points`, if one did.
    pub capped: Option<CapHit>,
}

/// What one event earned.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct Earned {
    /// The event was seen before: nothing was awarded and nothing changed.
    pub duplicate: bool,
    /// One entry per matching rule, in rule order (zero-point awards included,
    /// so a capped rule explains itself).
    pub awards: Vec<Award>,
    /// The sum of the awards' points.
    pub total: u64,
    /// Of `total`, points that paid off a debt from an earlier reversal
    /// instead of going into lots. [`Earned::entries`] lists both.
    #[serde(default)]
    pub debt_paid: u64,
}

impl<Tz: TimeZone> Program<Tz> {
    /// The spec it was built from.
    pub fn spec(&self) -> &ProgramSpec {
        &self.spec
    }

    /// The zone its local days are counted in.
    pub fn zone(&self) -> &Tz {
        &self.zone
    }

    /// Awards the points `event` earns under every matching rule.
    ///
    /// A duplicate event id awards nothing ([`Earned::duplicate`]); an event
    /// older than the dedupe window or the daily tallies is refused with
    /// [`PointsError::TooLate`]. On error the ledger is unchanged. The
    /// ledger's version is bumped when the event is taken (even if it
    /// awarded nothing, since its id is now remembered).
    pub fn apply(&self, ledger: &mut Ledger, event: &Event) -> Result<Earned, PointsError> {
        match ledger.seen.admit(event.id, event.at) {
            Admission::Duplicate => {
                return Ok(Earned {
                    duplicate: true,
                    awards: Vec::new(),
                    total: 0,
                    debt_paid: 0,
                });
            }
            Admission::TooLate => return Err(PointsError::TooLate { id: event.id }),
            Admission::Fresh => {}
        }
        let day = LocalDay::of(event.at, &self.zone);
        // Everything is computed first and committed only once nothing can
        // fail, so a failed call leaves the ledger as it was.
        let mut awards = Vec::new();
        let mut counters = Vec::new();
        let mut lots = Vec::new();
        let mut total: u64 = 0;
        for rule in &self.spec.rules {
            if !rule.on.matches(&event.kind) {
                continue;
            }
            let (base, per_amount) = base_points(&rule.reward, &event.kind)?;
            let mut counter = ledger.counters.get(&rule.name).cloned().unwrap_or_default();
            if let Some(newest) = counter.days.keys().next_back().copied() {
                let oldest_kept = newest.checked_add_days(-(DAILY_TALLY_DAYS - 1));
                if oldest_kept.is_some_and(|o| day < o) {
                    return Err(PointsError::TooLate { id: event.id });
                }
            }
            let today = counter.days.get(&day).copied().unwrap_or_default();
            let (points, capped) = limit(rule, base, today, &counter)?;
            if points > 0 {
                let t = counter.days.entry(day).or_default();
                t.count = t.count.checked_add(1).ok_or(PointsError::Overflow)?;
                t.points = t.points.checked_add(points).ok_or(PointsError::Overflow)?;
                counter.count = counter.count.checked_add(1).ok_or(PointsError::Overflow)?;
                counter.points = counter
                    .points
                    .checked_add(points)
                    .ok_or(PointsError::Overflow)?;
                if let Some(oldest_kept) = day.checked_add_days(-(DAILY_TALLY_DAYS - 1)) {
                    counter.days.retain(|d, _| *d >= oldest_kept);
                }
                total = total.checked_add(points).ok_or(PointsError::Overflow)?;
                let expiry = rule.expiry.unwrap_or(self.spec.expiry);
                let available_from = event
                    .at
                    .checked_add_signed(TimeDelta::days(i64::from(rule.pending_days)))
                    .ok_or(PointsError::Overflow)?;
                lots.push(Lot {
                    id: 0,
                    source: event.id,
                    rule: rule.name.clone(),
                    earned_at: event.at,
                    available_from,
                    expires_at: expiry.expires_at(event.at, &self.zone)?,
                    remaining: points,
                    held: 0,
                });
                counters.push((rule.name.clone(), counter));
            }
            awards.push(Award {
                rule: rule.name.clone(),
                base,
                points,
                per_amount,
                capped,
            });
        }
        let version = ledger.version.checked_add(1).ok_or(PointsError::Overflow)?;

        // The last fallible step; it changes nothing when it fails.
        let debt_paid = ledger.credit(lots, &self.spec.ledger)?;
        ledger.version = version;
        for (name, counter) in counters {
            ledger.counters.insert(name, counter);
        }
        ledger.seen.remember(event.id, event.at, &self.spec.dedupe);
        Ok(Earned {
            duplicate: false,
            awards,
            total,
            debt_paid,
        })
    }
}

/// The reward before caps, and its arithmetic for per-amount rules.
fn base_points(
    reward: &Reward,
    kind: &EventKind,
) -> Result<(u64, Option<PerAmountCalc>), PointsError> {
    match *reward {
        Reward::Fixed { points } => Ok((points, None)),
        Reward::PerAmount {
            points,
            per_minor,
            rounding,
            currency,
        } => {
            // Validation ties per-amount rules to purchases; anything else
            // (impossible through a validated program) earns nothing.
            let EventKind::Purchase { amount } = kind else {
                return Ok((0, None));
            };
            let calc = PerAmountCalc {
                amount_minor: amount.minor,
                points,
                per_minor,
                rounding,
                currency: amount.currency,
                currency_matched: currency.is_none_or(|c| c == amount.currency),
            };
            if !calc.currency_matched {
                return Ok((0, Some(calc)));
            }
            Ok((
                per_amount(amount.minor, points, per_minor, rounding)?,
                Some(calc),
            ))
        }
    }
}

/// `amount × points / per_minor`, rounded; negative amounts earn 0.
pub(crate) fn per_amount(
    amount: i64,
    points: u64,
    per_minor: i64,
    rounding: Rounding,
) -> Result<u64, PointsError> {
    if amount <= 0 || per_minor <= 0 {
        return Ok(0);
    }
    // Both are positive here, and u128 holds i64 × u64 exactly, so only the
    // final narrowing can fail.
    let num = u128::from(amount.unsigned_abs()) * u128::from(points);
    let q = rounding.divide(num, u128::from(per_minor.unsigned_abs()));
    u64::try_from(q).map_err(|_| PointsError::Overflow)
}

/// Applies a rule's caps to `base`: the points awarded and the cap that cut them.
fn limit(
    rule: &RuleSpec,
    base: u64,
    today: DayTally,
    counter: &RuleCounter,
) -> Result<(u64, Option<CapHit>), PointsError> {
    if base == 0 {
        return Ok((0, None));
    }
    let mut allowed = base;
    let mut hit = None;
    for (cap, period, count, points) in [
        (rule.daily_cap, CapPeriod::Daily, today.count, today.points),
        (
            rule.lifetime_cap,
            CapPeriod::Lifetime,
            counter.count,
            counter.points,
        ),
    ] {
        let Some(cap) = cap else { continue };
        let mut left = u64::MAX;
        if let Some(max) = cap.count
            && count >= max
        {
            left = 0;
        }
        if let Some(max) = cap.points {
            left = left.min(max.saturating_sub(points));
        }
        if left < allowed {
            allowed = left;
            hit = Some(CapHit {
                period,
                cap,
                mode: rule.cap_mode,
            });
        }
    }
    if hit.is_some() && rule.cap_mode == CapMode::Reject {
        allowed = 0;
    }
    Ok((allowed, hit))
}
