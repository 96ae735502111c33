//! Conditions on an earning rule, and the earning context a host supplies.
//!
//! See [`Condition`] for the JSON.

use super::fields::field_readers;
use super::multiplier::Multiplier;
use super::tier::Tier;
use crate::event::{AttrValue, Event, Label};
use crate::id::CommunityId;
use crate::lifecycle::Stage;
use crate::time::{LocalDay, day_and_second};
use chrono::{DateTime, Utc, Weekday};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The attribute a [`Condition::Channel`] reads.
pub const CHANNEL_ATTR: &str = "channel";
/// The attribute a [`Condition::Community`] reads when the event's kind
/// carries no community.
pub const COMMUNITY_ATTR: &str = "community";

/// One condition of an earning rule.
///
/// A rule's `when` is a list of [`Condition`]s that must all hold for the
/// rule to award. Each is a JSON object tagged by `type`:
///
/// ```
/// use growthkit::points::Condition;
///
/// let when: Vec<Condition> = serde_json::from_str(r#"[
///   { "type": "attr", "name": "minutes", "op": "ge", "value": 20 },
///   { "type": "attr_in", "name": "level", "values": ["beginner", "intermediate"] },
///   { "type": "channel", "any_of": ["wechat", "app"] },
///   { "type": "community", "any_of": [7, 9] },
///   { "type": "campaign", "start": "2026-11-11T00:00:00Z", "end": "2026-11-12T00:00:00Z" },
///   { "type": "weekdays", "any_of": ["Sat", "Sun"] },
///   { "type": "hours", "from": 9, "to": 18 },
///   { "type": "first_time" },
///   { "type": "every_nth", "n": 3 },
///   { "type": "stage", "any_of": ["acquired", "activated"] },
///   { "type": "tier", "any_of": ["gold", "platinum"] }
/// ]"#)?;
/// assert_eq!(when.len(), 11);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Types matter: an attribute compared with a value of another type never
/// matches (not even with `ne`), a missing attribute never matches, and the
/// ordering operators (`lt`, `le`, `gt`, `ge`) compare whole numbers only.
/// Mistakes that can be seen in the spec are refused when it is validated,
/// among them conditions on one thing that allow nothing in common (two
/// campaigns that do not meet, `weekdays` or `hours` with no day or hour in
/// common, `ge 10` beside `lt 5` on one attribute, a `channel` beside an
/// `attr` on `channel` that it does not list): the rule could never award.
/// Conditions on different things are not compared.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Condition {
    /// The event attribute `name` compared with `value` by `op`.
    Attr {
        /// The attribute.
        #[serde(deserialize_with = "name_field")]
        name: Label,
        /// The comparison.
        #[serde(deserialize_with = "op_field")]
        op: Comparison,
        /// The value on the right-hand side.
        #[serde(deserialize_with = "value_field")]
        value: AttrValue,
    },
    /// The event attribute `name` is one of `values` (all of one type).
    AttrIn {
        /// The attribute.
        #[serde(deserialize_with = "name_field")]
        name: Label,
        /// The accepted values.
        #[serde(deserialize_with = "values_field")]
        values: Vec<AttrValue>,
    },
    /// The event's text attribute `channel` is one of these.
    Channel {
        /// The accepted channels.
        #[serde(deserialize_with = "any_of_field")]
        any_of: Vec<Label>,
    },
    /// The event happened in one of these communities: the community its
    /// kind carries (a check-in, a post…), else its whole-number attribute
    /// `community`.
    Community {
        /// The accepted communities.
        #[serde(deserialize_with = "any_of_field")]
        any_of: Vec<CommunityId>,
    },
    /// The event happened in `[start, end)` (UTC instants; either end open).
    Campaign {
        /// The first instant that counts.
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            deserialize_with = "start_field"
        )]
        start: Option<DateTime<Utc>>,
        /// The first instant that no longer counts.
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            deserialize_with = "end_field"
        )]
        end: Option<DateTime<Utc>>,
    },
    /// The event's local weekday, in the program's zone, is one of these
    /// (`"Mon"`, `"tuesday"`…).
    Weekdays {
        /// The accepted weekdays.
        #[serde(deserialize_with = "weekdays_field")]
        any_of: Vec<Weekday>,
    },
    /// The event's local hour, in the program's zone, is in `[from, to)`;
    /// when `from > to` the range wraps past midnight (22 to 2 is 22:00–01:59).
    Hours {
        /// The first hour that counts, 0 to 23.
        #[serde(deserialize_with = "from_field")]
        from: u8,
        /// The first hour that no longer counts, 0 to 24.
        #[serde(deserialize_with = "to_field")]
        to: u8,
    },
    /// Only the first event that meets the rule's other conditions, per user.
    /// First as taken, not by time: a late event older than the one that
    /// matched first does not take its place. A match counts whether or not
    /// a cap or cooldown then cuts the award.
    FirstTime {},
    /// Only every `n`th event that meets the rule's other conditions, per
    /// user (the `n`th, `2n`th…), counted as taken, as for
    /// [`FirstTime`](Condition::FirstTime).
    EveryNth {
        /// At least 1.
        #[serde(deserialize_with = "n_field")]
        n: u32,
    },
    /// The user's lifecycle stage, from the [`EarnContext`], is one of these.
    Stage {
        /// The accepted stages.
        #[serde(deserialize_with = "any_of_field")]
        any_of: Vec<Stage>,
    },
    /// The user's tier name, from the [`EarnContext`], is one of these.
    Tier {
        /// The accepted tier names.
        #[serde(deserialize_with = "any_of_field")]
        any_of: Vec<Label>,
    },
}

// Each field names itself when the JSON reader refuses its value
// (`when[0]: field `n`: ...`).
field_readers! {
    fn name_field = named("name");
    fn op_field = named("op");
    fn value_field = named("value");
    fn values_field = named("values");
    fn any_of_field = named("any_of");
    fn start_field = named("start");
    fn end_field = named("end");
    fn from_field = named("from");
    fn to_field = named("to");
    fn n_field = named("n");
}

/// Reads `any_of` of a `weekdays` condition as chrono does (`"Mon"`,
/// `"monday"`, any case), a refusal naming the field, the place and the
/// text (chrono's own says only "short or long weekday names expected").
fn weekdays_field<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<Weekday>, D::Error> {
    use serde::de::Error;
    let names: Vec<String> = any_of_field(deserializer)?;
    names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            name.parse().map_err(|_| {
                D::Error::custom(format_args!(
                    "field `any_of`: any_of[{i}]: `{name}` is not a weekday (Mon to Sun, or monday to sunday)"
                ))
            })
        })
        .collect()
}

/// How an attribute is compared with a value.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Comparison {
    /// Equal (`=`).
    Eq,
    /// Not equal (`≠`), for a present attribute of the same type.
    Ne,
    /// Less than (`<`), whole numbers only.
    Lt,
    /// At most (`≤`), whole numbers only.
    Le,
    /// Greater than (`>`), whole numbers only.
    Gt,
    /// At least (`≥`), whole numbers only.
    Ge,
}

impl Comparison {
    fn orders(self) -> bool {
        !matches!(self, Comparison::Eq | Comparison::Ne)
    }

    fn name(self) -> &'static str {
        match self {
            Comparison::Eq => "eq",
            Comparison::Ne => "ne",
            Comparison::Lt => "lt",
            Comparison::Le => "le",
            Comparison::Gt => "gt",
            Comparison::Ge => "ge",
        }
    }
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// What the host knows about the user when an event earns points, for
/// [`Condition::Stage`], [`Condition::Tier`] and the tier's multiplier.
///
/// ```
/// use growthkit::lifecycle::Stage;
/// use growthkit::points::{EarnContext, Multiplier};
///
/// let gold = Multiplier::from_basis_points(15_000).ok_or("×1.5")?;
/// let ctx = EarnContext::new().with_stage(Stage::Activated).with_tier("gold", gold);
/// assert_eq!(ctx.tier.map(|t| t.multiplier), Some(gold));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Debug, Default)]
#[non_exhaustive]
pub struct EarnContext {
    /// The user's lifecycle stage, if the host knows it.
    pub stage: Option<Stage>,
    /// The user's tier, if they have one.
    pub tier: Option<TierStanding>,
}

/// A user's tier as earning rules see it: its name and multiplier.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct TierStanding {
    /// The tier's name (`"gold"`).
    pub name: Label,
    /// What it multiplies rewards by (rules may opt out).
    pub multiplier: Multiplier,
}

impl EarnContext {
    /// Nothing known: stage and tier conditions fail, no tier multiplier.
    pub fn new() -> EarnContext {
        EarnContext::default()
    }

    /// With the user's lifecycle stage.
    pub fn with_stage(mut self, stage: Stage) -> EarnContext {
        self.stage = Some(stage);
        self
    }

    /// With the user's tier and its multiplier.
    pub fn with_tier(mut self, name: impl Into<Label>, multiplier: Multiplier) -> EarnContext {
        self.tier = Some(TierStanding {
            name: name.into(),
            multiplier,
        });
        self
    }

    /// With the user's current rung of a [`TierLadder`](super::TierLadder)
    /// (its name and multiplier).
    ///
    /// ```
    /// use chrono::{TimeZone, Utc};
    /// use growthkit::points::{EarnContext, Ledger, ProgramSpec, TierLadderSpec};
    /// use growthkit::{Event, EventId, EventKind, UserId};
    ///
    /// let ladder = serde_json::from_str::<TierLadderSpec>(r#"{
    ///     "basis": { "type": "points" },
    ///     "window": { "type": "rolling_days", "days": 365 },
    ///     "tiers": [ { "name": "member", "threshold": 0 },
    ///                { "name": "gold", "threshold": 100, "multiplier": 1.5 } ]
    /// }"#)?.validate()?;
    /// let program = serde_json::from_str::<ProgramSpec>(r#"{ "rules": [
    ///     { "name": "lesson", "on": "action_completed:lesson",
    ///       "reward": { "type": "fixed", "points": 10 } } ] }"#)?.validate()?;
    /// let at = Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap();
    /// let status = ladder.start(at, program.zone());
    /// let ctx = EarnContext::new().with_tier_of(ladder.current(&status)?);
    /// let lesson = EventKind::ActionCompleted { action: "lesson".into() };
    /// let earned = program.apply_with(
    ///     &mut Ledger::new(), &Event::new(EventId(1), UserId(7), at, lesson), &ctx)?;
    /// assert_eq!(earned.total, 10); // a new member earns ×1
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_tier_of(self, tier: &Tier) -> EarnContext {
        self.with_tier(tier.name.clone(), tier.multiplier)
    }
}

/// The event's time in the program's zone, computed once per event.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LocalTime {
    pub(crate) day: LocalDay,
    pub(crate) hour: u8,
}

impl LocalTime {
    /// The local time of `at`, `offset_seconds` east of UTC.
    #[inline]
    pub(crate) fn at(at: DateTime<Utc>, offset_seconds: i32) -> LocalTime {
        let (day, second) = day_and_second(at, offset_seconds);
        LocalTime {
            day,
            // 0..=23: `second` is below 86,400.
            hour: (second / 3_600) as u8,
        }
    }
}

impl Condition {
    /// Whether the condition holds for `event`. The per-user counting
    /// conditions ([`FirstTime`](Condition::FirstTime),
    /// [`EveryNth`](Condition::EveryNth)) hold here: the rule engine checks
    /// them against the user's counter after every other condition.
    pub(crate) fn holds(&self, event: &Event, local: LocalTime, ctx: &EarnContext) -> bool {
        match self {
            Condition::Attr { name, op, value } => event
                .attrs
                .get(name.as_str())
                .is_some_and(|v| compare(v, *op, value)),
            Condition::AttrIn { name, values } => event
                .attrs
                .get(name.as_str())
                .is_some_and(|v| values.contains(v)),
            Condition::Channel { any_of } => event
                .attrs
                .get(CHANNEL_ATTR)
                .and_then(AttrValue::as_str)
                .is_some_and(|c| any_of.iter().any(|a| a.as_str() == c)),
            Condition::Community { any_of } => event
                .kind
                .community()
                .or_else(|| {
                    let n = event.attrs.get(COMMUNITY_ATTR)?.as_int()?;
                    u64::try_from(n).ok().map(CommunityId)
                })
                .is_some_and(|c| any_of.contains(&c)),
            Condition::Campaign { start, end } => {
                start.is_none_or(|s| event.at >= s) && end.is_none_or(|e| event.at < e)
            }
            Condition::Weekdays { any_of } => any_of.contains(&local.day.weekday()),
            Condition::Hours { from, to } => in_hours(local.hour, *from, *to),
            Condition::FirstTime {} | Condition::EveryNth { .. } => true,
            Condition::Stage { any_of } => ctx.stage.is_some_and(|s| any_of.contains(&s)),
            Condition::Tier { any_of } => {
                ctx.tier.as_ref().is_some_and(|t| any_of.contains(&t.name))
            }
        }
    }

    /// The spec's own mistakes, without looking at other conditions.
    pub(crate) fn check(&self) -> Result<(), ConditionProblem> {
        use ConditionProblem::*;
        let empty = |len: usize, field| {
            if len == 0 {
                Err(EmptySet { field })
            } else {
                Ok(())
            }
        };
        match self {
            Condition::Attr { name, op, value } => {
                if op.orders() && !matches!(value, AttrValue::Int(_)) {
                    return Err(NotOrdered {
                        name: name.clone(),
                        op: *op,
                        kind: type_name(value),
                    });
                }
                Ok(())
            }
            Condition::AttrIn { name, values } => {
                empty(values.len(), "values")?;
                let mut kinds = values.iter().map(type_name);
                let first = kinds.next();
                if kinds.any(|k| Some(k) != first) {
                    return Err(MixedTypes { name: name.clone() });
                }
                Ok(())
            }
            Condition::Channel { any_of } | Condition::Tier { any_of } => {
                empty(any_of.len(), "any_of")
            }
            Condition::Community { any_of } => empty(any_of.len(), "any_of"),
            Condition::Weekdays { any_of } => empty(any_of.len(), "any_of"),
            Condition::Stage { any_of } => empty(any_of.len(), "any_of"),
            Condition::Campaign { start, end } => match (start, end) {
                (None, None) => Err(OpenCampaign),
                (Some(start), Some(end)) if end <= start => Err(CampaignEndsFirst {
                    start: *start,
                    end: *end,
                }),
                _ => Ok(()),
            },
            Condition::Hours { from, to } => {
                if *from > 23 {
                    Err(HourOutOfRange {
                        field: "from",
                        value: *from,
                        max: 23,
                    })
                } else if *to > 24 {
                    Err(HourOutOfRange {
                        field: "to",
                        value: *to,
                        max: 24,
                    })
                } else if from == to {
                    Err(NoHours { hour: *from })
                } else {
                    Ok(())
                }
            }
            Condition::EveryNth { n: 0 } => Err(ZeroNth),
            Condition::EveryNth { .. } | Condition::FirstTime {} => Ok(()),
        }
    }

    /// The attribute this condition reads and the type it expects there,
    /// so that two conditions disagreeing on one attribute's type are caught.
    pub(crate) fn attr_type(&self) -> Option<(&str, &'static str)> {
        match self {
            Condition::Attr { name, value, .. } => Some((name.as_str(), type_name(value))),
            Condition::AttrIn { name, values } => {
                Some((name.as_str(), values.first().map_or("int", type_name)))
            }
            Condition::Channel { .. } => Some((CHANNEL_ATTR, "text")),
            Condition::Community { .. } => Some((COMMUNITY_ATTR, "int")),
            _ => None,
        }
    }

    /// The condition's `type` in JSON, for error messages.
    pub(crate) fn kind_name(&self) -> &'static str {
        match self {
            Condition::Attr { .. } => "attr",
            Condition::AttrIn { .. } => "attr_in",
            Condition::Channel { .. } => "channel",
            Condition::Community { .. } => "community",
            Condition::Campaign { .. } => "campaign",
            Condition::Weekdays { .. } => "weekdays",
            Condition::Hours { .. } => "hours",
            Condition::FirstTime {} => "first_time",
            Condition::EveryNth { .. } => "every_nth",
            Condition::Stage { .. } => "stage",
            Condition::Tier { .. } => "tier",
        }
    }
}

/// Whether local hour `h` is in an `hours` condition's `[from, to)`,
/// which wraps past midnight when `from > to` (22 to 6: the night).
#[inline]
fn in_hours(h: u8, from: u8, to: u8) -> bool {
    if from < to {
        from <= h && h < to
    } else {
        h >= from || h < to
    }
}

/// What the conditions of one rule seen so far still allow, one entry per
/// thing they read: an event must meet every condition, so two that allow
/// nothing in common (campaigns that do not meet, weekday, hour, stage,
/// tier, community or attribute sets that share nothing, `ge 10` beside
/// `lt 5`) make a rule that never awards. Only conditions that read the
/// same thing are compared: a campaign against the hours is a question of
/// the zone, and is left to the operator.
#[derive(Default)]
pub(crate) struct Together<'a> {
    /// The latest start and earliest end, and the first campaign's place.
    campaign: Option<(Bound, Bound, usize)>,
    /// Weekdays (bit per day from Monday) and the first condition's place.
    weekdays: Option<(u8, usize)>,
    /// Hours (bit per hour) and the first condition's place.
    hours: Option<(u32, usize)>,
    stages: Option<(Vec<Stage>, usize)>,
    tiers: Option<(Vec<&'a Label>, usize)>,
    communities: Option<(Vec<CommunityId>, usize)>,
    /// Per attribute: the values allowed (`None`: any), the whole-number
    /// range allowed, the values refused by `ne`, and the first
    /// condition's place.
    attrs: Vec<AttrAllowed<'a>>,
}

/// A campaign's start or end; `None`: open.
type Bound = Option<DateTime<Utc>>;

struct AttrAllowed<'a> {
    name: &'a str,
    values: Option<Vec<AttrValue>>,
    range: (i64, i64),
    not: Vec<AttrValue>,
    first: usize,
}

impl AttrAllowed<'_> {
    /// Allows only what is also among `values`.
    fn restrict(&mut self, values: &[AttrValue]) {
        self.values = Some(match self.values.take() {
            Some(known) => known.into_iter().filter(|v| values.contains(v)).collect(),
            None => values.to_vec(),
        });
    }

    fn allows(&self, v: &AttrValue) -> bool {
        let in_range = match v {
            AttrValue::Int(n) => (self.range.0..=self.range.1).contains(n),
            _ => true,
        };
        in_range && !self.not.contains(v)
    }

    fn is_empty(&self) -> bool {
        let (lo, hi) = self.range;
        match &self.values {
            Some(values) => !values.iter().any(|v| self.allows(v)),
            None if lo > hi => true,
            // `ne` on every whole number the range leaves (`ge 5`, `le 5`,
            // `ne 5`), or on both flags.
            None if i128::from(hi) - i128::from(lo) < self.not.len() as i128 => {
                (lo..=hi).all(|n| self.not.contains(&AttrValue::Int(n)))
            }
            None => [true, false]
                .iter()
                .all(|b| self.not.contains(&AttrValue::Bool(*b))),
        }
    }
}

fn opt_min(a: Bound, b: Bound) -> Bound {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Keeps what is in both, if `known` is; else `new`.
fn meet<T: PartialEq>(known: Option<(Vec<T>, usize)>, new: Vec<T>, at: usize) -> (Vec<T>, usize) {
    match known {
        Some((old, first)) => (old.into_iter().filter(|x| new.contains(x)).collect(), first),
        None => (new, at),
    }
}

impl<'a> Together<'a> {
    /// Adds the condition at `index`; if the conditions so far now allow
    /// no event, the place of the first earlier condition that reads the
    /// same thing.
    pub(crate) fn add(&mut self, index: usize, c: &'a Condition) -> Option<usize> {
        match c {
            Condition::Campaign { start, end } => {
                let (s, e, first) = match self.campaign {
                    Some((s, e, first)) => (s.max(*start), opt_min(e, *end), first),
                    None => (*start, *end, index),
                };
                self.campaign = Some((s, e, first));
                matches!((s, e), (Some(s), Some(e)) if e <= s).then_some(first)
            }
            Condition::Weekdays { any_of } => {
                let bits = any_of
                    .iter()
                    .fold(0u8, |b, d| b | 1 << d.num_days_from_monday());
                let (mask, first) = self.weekdays.map_or((bits, index), |(m, f)| (m & bits, f));
                self.weekdays = Some((mask, first));
                (mask == 0).then_some(first)
            }
            Condition::Hours { from, to } => {
                let bits = (0..24u8)
                    .filter(|&h| in_hours(h, *from, *to))
                    .fold(0u32, |b, h| b | 1 << h);
                let (mask, first) = self.hours.map_or((bits, index), |(m, f)| (m & bits, f));
                self.hours = Some((mask, first));
                (mask == 0).then_some(first)
            }
            Condition::Stage { any_of } => {
                let (set, first) = meet(self.stages.take(), any_of.clone(), index);
                let empty = set.is_empty();
                self.stages = Some((set, first));
                empty.then_some(first)
            }
            Condition::Tier { any_of } => {
                let (set, first) = meet(self.tiers.take(), any_of.iter().collect(), index);
                let empty = set.is_empty();
                self.tiers = Some((set, first));
                empty.then_some(first)
            }
            Condition::Community { any_of } => {
                let (set, first) = meet(self.communities.take(), any_of.clone(), index);
                let empty = set.is_empty();
                self.communities = Some((set, first));
                empty.then_some(first)
            }
            Condition::Attr { name, op, value } => self.attr(name.as_str(), index, |a| {
                match (op, value) {
                    (Comparison::Eq, v) => a.restrict(std::slice::from_ref(v)),
                    (Comparison::Ne, v) => a.not.push(v.clone()),
                    (op, AttrValue::Int(n)) => {
                        let n = *n;
                        // `lt i64::MIN` or `gt i64::MAX` allows nothing.
                        let (lo, hi) = match op {
                            Comparison::Lt => n.checked_sub(1).map_or((1, 0), |m| (i64::MIN, m)),
                            Comparison::Le => (i64::MIN, n),
                            Comparison::Gt => n.checked_add(1).map_or((1, 0), |m| (m, i64::MAX)),
                            _ => (n, i64::MAX),
                        };
                        a.range = (a.range.0.max(lo), a.range.1.min(hi));
                    }
                    // Refused before: ordering compares whole numbers only.
                    _ => {}
                }
            }),
            Condition::AttrIn { name, values } => {
                self.attr(name.as_str(), index, |a| a.restrict(values))
            }
            Condition::Channel { any_of } => {
                let any_of: Vec<AttrValue> =
                    any_of.iter().map(|c| AttrValue::Text(c.clone())).collect();
                self.attr(CHANNEL_ATTR, index, |a| a.restrict(&any_of))
            }
            Condition::FirstTime {} | Condition::EveryNth { .. } => None,
        }
    }

    /// `f` of the entry for attribute `name` (made at `index` if new):
    /// whether the conditions on it now allow nothing, as for [`Together::add`].
    fn attr(
        &mut self,
        name: &'a str,
        index: usize,
        f: impl FnOnce(&mut AttrAllowed<'a>),
    ) -> Option<usize> {
        let empty = |a: &AttrAllowed<'a>| a.is_empty().then_some(a.first);
        if let Some(a) = self.attrs.iter_mut().find(|a| a.name == name) {
            f(a);
            return empty(a);
        }
        let mut a = AttrAllowed {
            name,
            values: None,
            range: (i64::MIN, i64::MAX),
            not: Vec::new(),
            first: index,
        };
        f(&mut a);
        let found = empty(&a);
        self.attrs.push(a);
        found
    }
}

fn type_name(v: &AttrValue) -> &'static str {
    match v {
        AttrValue::Bool(_) => "bool",
        AttrValue::Int(_) => "int",
        AttrValue::Text(_) => "text",
    }
}

/// `have op want`, false whenever the two are of different types.
fn compare(have: &AttrValue, op: Comparison, want: &AttrValue) -> bool {
    use std::cmp::Ordering::*;
    let order = match (have, want) {
        (AttrValue::Int(a), AttrValue::Int(b)) => a.cmp(b),
        (AttrValue::Text(a), AttrValue::Text(b)) if !op.orders() => a.cmp(b),
        (AttrValue::Bool(a), AttrValue::Bool(b)) if !op.orders() => a.cmp(b),
        _ => return false,
    };
    match op {
        Comparison::Eq => order == Equal,
        Comparison::Ne => order != Equal,
        Comparison::Lt => order == Less,
        Comparison::Le => order != Greater,
        Comparison::Gt => order == Greater,
        Comparison::Ge => order != Less,
    }
}

/// What is wrong with one condition of a rule.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConditionProblem {
    /// A set that accepts nothing, so the rule could never award.
    #[error("{field} is empty, so the condition never holds")]
    EmptySet {
        /// `any_of` or `values`.
        field: &'static str,
    },
    /// An `attr_in` set with values of different types.
    #[error("values for attribute {name} mix types; they must all be int, text or bool")]
    MixedTypes {
        /// The attribute.
        name: Label,
    },
    /// An ordering comparison with a value that is not a whole number.
    #[error("`{op}` compares whole numbers, but attribute {name} is compared with {kind}")]
    NotOrdered {
        /// The attribute.
        name: Label,
        /// The comparison.
        op: Comparison,
        /// The value's type.
        kind: &'static str,
    },
    /// Two conditions of one rule expect different types of one attribute.
    #[error("attribute {name} is {second} here but {first} in an earlier condition")]
    TypeConflict {
        /// The attribute.
        name: Label,
        /// The type the earlier condition expects.
        first: &'static str,
        /// The type this one expects.
        second: &'static str,
    },
    /// A campaign with neither start nor end.
    #[error("campaign sets neither start nor end")]
    OpenCampaign,
    /// A campaign that ends before (or when) it starts.
    #[error("campaign end {end} is not after its start {start}")]
    CampaignEndsFirst {
        /// The start.
        start: DateTime<Utc>,
        /// The end.
        end: DateTime<Utc>,
    },
    /// An hour outside the day.
    #[error("hours.{field} is {value} but must be at most {max}")]
    HourOutOfRange {
        /// `from` or `to`.
        field: &'static str,
        /// The hour given.
        value: u8,
        /// The largest allowed.
        max: u8,
    },
    /// An hour range with `from == to`, which holds no hour.
    #[error("hours.from and hours.to are both {hour}, so no hour is in the range")]
    NoHours {
        /// The hour.
        hour: u8,
    },
    /// `every_nth` of zero.
    #[error("every_nth.n is 0 but must be at least 1")]
    ZeroNth,
    /// An `every_nth` of 2 or more beside a `first_time` condition: the
    /// first match is the only one `first_time` allows, and it is no
    /// multiple of `n`, so the rule could never award.
    #[error(
        "every_nth.n is {n} but the rule's first_time condition allows only the first match, so the rule never awards"
    )]
    NeverWithFirstTime {
        /// The `every_nth`'s `n`.
        n: u32,
    },
    /// A condition that no value can meet (`gt` the largest whole number,
    /// `lt` the smallest), so the rule could never award.
    #[error("no value meets it, so the rule never awards")]
    NeverHolds,
    /// A condition that allows no event the rule's earlier conditions on
    /// the same thing allow (campaigns that do not meet, weekday, hour,
    /// stage, tier, community or attribute sets with nothing in common),
    /// so the rule could never award.
    #[error(
        "no event meets both this and the earlier conditions from when[{earlier}] on, so the rule never awards"
    )]
    NeverTogether {
        /// The first earlier condition that reads the same thing.
        earlier: usize,
    },
    /// A tier the program's tier ladder does not have.
    #[error("any_of names tier {tier}, which the program's tier ladder does not have")]
    UnknownTier {
        /// The tier named.
        tier: Label,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventKind;
    use crate::id::{EventId, UserId};
    use chrono::TimeZone;

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0)
            .single()
            .unwrap_or_default()
    }

    fn event(when: DateTime<Utc>) -> Event {
        Event::new(EventId(1), UserId(1), when, EventKind::Visited)
    }

    const BEIJING: i32 = 8 * 3600;

    fn holds(c: &Condition, e: &Event) -> bool {
        let local = LocalTime::at(e.at, BEIJING);
        c.holds(e, local, &EarnContext::new())
    }

    fn parse(json: &str) -> Condition {
        serde_json::from_str(json).unwrap_or_else(|e| unreachable!("{json}: {e}"))
    }

    proptest::proptest! {
        /// The local day, weekday and hour conditions read are chrono's.
        #[test]
        fn local_time_is_chrono_s(
            when in crate::time::reference::any_instant(),
            offset in crate::time::reference::any_offset(),
        ) {
            use chrono::{Datelike, Offset, Timelike};
            let local = LocalTime::at(when, offset);
            let zone = chrono::FixedOffset::east_opt(offset).unwrap_or_else(|| unreachable!());
            proptest::prop_assert_eq!(local.day, LocalDay::of(when, &zone));
            if let Some(naive) = when.naive_utc().checked_add_offset(zone.fix()) {
                proptest::prop_assert_eq!(u32::from(local.hour), naive.hour(), "{} {:+}", when, offset);
                proptest::prop_assert_eq!(local.day.weekday(), naive.weekday());
            }
        }
    }

    #[test]
    fn attribute_comparisons_are_typed() {
        let e = event(at(2026, 3, 1, 1, 0))
            .with_attr("minutes", 20)
            .with_attr("level", "beginner")
            .with_attr("paid", true);
        let yes = [
            r#"{"type":"attr","name":"minutes","op":"ge","value":20}"#,
            r#"{"type":"attr","name":"minutes","op":"le","value":20}"#,
            r#"{"type":"attr","name":"minutes","op":"gt","value":19}"#,
            r#"{"type":"attr","name":"minutes","op":"lt","value":21}"#,
            r#"{"type":"attr","name":"minutes","op":"ne","value":21}"#,
            r#"{"type":"attr","name":"level","op":"eq","value":"beginner"}"#,
            r#"{"type":"attr","name":"paid","op":"eq","value":true}"#,
            r#"{"type":"attr_in","name":"level","values":["expert","beginner"]}"#,
        ];
        let no = [
            r#"{"type":"attr","name":"minutes","op":"gt","value":20}"#,
            r#"{"type":"attr","name":"minutes","op":"lt","value":20}"#,
            // Another type never matches, not even "not equal".
            r#"{"type":"attr","name":"minutes","op":"ne","value":"20"}"#,
            r#"{"type":"attr","name":"minutes","op":"eq","value":"20"}"#,
            // A missing attribute never matches.
            r#"{"type":"attr","name":"absent","op":"ne","value":1}"#,
            r#"{"type":"attr_in","name":"minutes","values":["20"]}"#,
        ];
        for json in yes {
            assert!(holds(&parse(json), &e), "{json}");
        }
        for json in no {
            assert!(!holds(&parse(json), &e), "{json}");
        }
    }

    #[test]
    fn channel_and_community_from_kind_or_attribute() {
        let channel = parse(r#"{"type":"channel","any_of":["wechat"]}"#);
        let base = event(at(2026, 3, 1, 1, 0));
        assert!(holds(
            &channel,
            &base.clone().with_attr("channel", "wechat")
        ));
        assert!(!holds(&channel, &base.clone().with_attr("channel", "app")));
        assert!(!holds(&channel, &base));
        let community = parse(r#"{"type":"community","any_of":[7]}"#);
        let check_in = |c| {
            Event::new(
                EventId(2),
                UserId(1),
                at(2026, 3, 1, 1, 0),
                EventKind::CheckIn { community: c },
            )
        };
        assert!(holds(&community, &check_in(Some(CommunityId(7)))));
        assert!(!holds(&community, &check_in(Some(CommunityId(8)))));
        // The kind's own community wins over the attribute.
        assert!(!holds(
            &community,
            &check_in(Some(CommunityId(8))).with_attr("community", 7)
        ));
        assert!(holds(&community, &check_in(None).with_attr("community", 7)));
        assert!(!holds(
            &community,
            &check_in(None).with_attr("community", -7)
        ));
    }

    #[test]
    fn campaign_is_half_open() {
        let c = parse(
            r#"{"type":"campaign","start":"2026-11-11T00:00:00Z","end":"2026-11-12T00:00:00Z"}"#,
        );
        let start = at(2026, 11, 11, 0, 0);
        let end = at(2026, 11, 12, 0, 0);
        assert!(holds(&c, &event(start)));
        assert!(holds(&c, &event(end - chrono::TimeDelta::milliseconds(1))));
        assert!(!holds(&c, &event(end)));
        assert!(!holds(
            &c,
            &event(start - chrono::TimeDelta::milliseconds(1))
        ));
        let open_end = parse(r#"{"type":"campaign","start":"2026-11-11T00:00:00Z"}"#);
        assert!(holds(&open_end, &event(at(2099, 1, 1, 0, 0))));
    }

    #[test]
    fn weekday_and_hour_at_local_midnight_in_beijing() {
        // 2026-03-06 16:00 UTC is Saturday 00:00 in +08:00; a second
        // earlier is still Friday 23:59:59.
        let midnight = at(2026, 3, 6, 16, 0);
        let before = event(midnight - chrono::TimeDelta::seconds(1));
        let after = event(midnight);
        let weekend = parse(r#"{"type":"weekdays","any_of":["Sat","sunday"]}"#);
        assert!(!holds(&weekend, &before));
        assert!(holds(&weekend, &after));
        let night = parse(r#"{"type":"hours","from":23,"to":1}"#);
        let small_hours = parse(r#"{"type":"hours","from":0,"to":1}"#);
        let late = parse(r#"{"type":"hours","from":23,"to":24}"#);
        assert!(holds(&night, &before) && holds(&night, &after));
        assert!(!holds(&small_hours, &before) && holds(&small_hours, &after));
        assert!(holds(&late, &before) && !holds(&late, &after));
        let one_am = event(midnight + chrono::TimeDelta::hours(1));
        assert!(!holds(&night, &one_am));
    }

    #[test]
    fn stage_and_tier_come_from_the_context() {
        let e = event(at(2026, 3, 1, 1, 0));
        let local = LocalTime::at(e.at, BEIJING);
        let stage = parse(r#"{"type":"stage","any_of":["acquired"]}"#);
        let tier = parse(r#"{"type":"tier","any_of":["gold"]}"#);
        let none = EarnContext::new();
        assert!(!stage.holds(&e, local, &none) && !tier.holds(&e, local, &none));
        let ctx = EarnContext::new()
            .with_stage(Stage::Acquired)
            .with_tier("gold", Multiplier::ONE);
        assert!(stage.holds(&e, local, &ctx) && tier.holds(&e, local, &ctx));
        let other = EarnContext::new()
            .with_stage(Stage::Loyal)
            .with_tier("silver", Multiplier::ONE);
        assert!(!stage.holds(&e, local, &other) && !tier.holds(&e, local, &other));
    }

    /// The place `Together` reports for each condition of `when`, in turn.
    fn together(when: &str) -> Vec<Option<usize>> {
        let when: Vec<Condition> = serde_json::from_str(when).unwrap_or_default();
        let mut t = Together::default();
        when.iter().enumerate().map(|(i, c)| t.add(i, c)).collect()
    }

    #[test]
    fn together_finds_conditions_on_one_thing_that_share_nothing() {
        let none = |n| vec![None; n];
        // Campaigns: half-open, so meeting at an instant shares nothing.
        assert_eq!(
            together(
                r#"[{"type":"campaign","end":"2026-01-02T00:00:00Z"},
                    {"type":"first_time"},
                    {"type":"campaign","start":"2026-01-02T00:00:00Z"}]"#
            ),
            vec![None, None, Some(0)]
        );
        // Weekdays pairwise in common, all three not.
        assert_eq!(
            together(
                r#"[{"type":"weekdays","any_of":["Mon","Tue"]},{"type":"weekdays","any_of":["Tue","Wed"]},
                    {"type":"weekdays","any_of":["Wed","Mon"]}]"#
            ),
            vec![None, None, Some(0)]
        );
        // Hours past midnight against the day.
        assert_eq!(
            together(r#"[{"type":"hours","from":22,"to":2},{"type":"hours","from":2,"to":22}]"#),
            vec![None, Some(0)]
        );
        assert_eq!(
            together(r#"[{"type":"hours","from":22,"to":2},{"type":"hours","from":1,"to":22}]"#),
            none(2)
        );
        // An attribute's values, range and `ne`s, and the channel as one.
        assert_eq!(
            together(
                r#"[{"type":"attr_in","name":"m","values":[5,30]},{"type":"attr","name":"m","op":"ge","value":10},
                    {"type":"attr","name":"x","op":"lt","value":0},{"type":"attr","name":"m","op":"ne","value":30}]"#
            ),
            vec![None, None, None, Some(0)]
        );
        assert_eq!(
            together(
                r#"[{"type":"attr","name":"channel","op":"ne","value":"app"},{"type":"channel","any_of":["app"]}]"#
            ),
            vec![None, Some(0)]
        );
        assert_eq!(
            together(r#"[{"type":"attr","name":"m","op":"lt","value":-9223372036854775808}]"#),
            vec![Some(0)]
        );
        assert_eq!(
            together(
                r#"[{"type":"stage","any_of":["loyal","acquired"]},{"type":"tier","any_of":["gold"]},
                    {"type":"stage","any_of":["loyal"]},{"type":"community","any_of":[1]},
                    {"type":"tier","any_of":["silver"]}]"#
            ),
            vec![None, None, None, None, Some(1)]
        );
    }

    #[test]
    fn mistakes_are_found() {
        use ConditionProblem::*;
        let problem = |json| parse(json).check().err();
        assert_eq!(
            problem(r#"{"type":"attr","name":"x","op":"lt","value":"a"}"#),
            Some(NotOrdered {
                name: "x".into(),
                op: Comparison::Lt,
                kind: "text"
            })
        );
        assert_eq!(
            problem(r#"{"type":"attr_in","name":"x","values":[1,"a"]}"#),
            Some(MixedTypes { name: "x".into() })
        );
        assert_eq!(
            problem(r#"{"type":"attr_in","name":"x","values":[]}"#),
            Some(EmptySet { field: "values" })
        );
        assert_eq!(
            problem(r#"{"type":"weekdays","any_of":[]}"#),
            Some(EmptySet { field: "any_of" })
        );
        assert_eq!(problem(r#"{"type":"campaign"}"#), Some(OpenCampaign));
        assert!(matches!(
            problem(
                r#"{"type":"campaign","start":"2026-01-02T00:00:00Z","end":"2026-01-02T00:00:00Z"}"#
            ),
            Some(CampaignEndsFirst { .. })
        ));
        assert_eq!(
            problem(r#"{"type":"hours","from":24,"to":2}"#),
            Some(HourOutOfRange {
                field: "from",
                value: 24,
                max: 23
            })
        );
        assert_eq!(
            problem(r#"{"type":"hours","from":2,"to":25}"#),
            Some(HourOutOfRange {
                field: "to",
                value: 25,
                max: 24
            })
        );
        assert_eq!(
            problem(r#"{"type":"hours","from":5,"to":5}"#),
            Some(NoHours { hour: 5 })
        );
        assert_eq!(problem(r#"{"type":"every_nth","n":0}"#), Some(ZeroNth));
        assert_eq!(problem(r#"{"type":"hours","from":0,"to":24}"#), None);
        assert!(serde_json::from_str::<Condition>(r#"{"type":"first_time","x":1}"#).is_err());
        assert!(
            serde_json::from_str::<Condition>(r#"{"type":"hours","from":300,"to":1}"#).is_err()
        );
    }
}
