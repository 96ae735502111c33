//! Points programs as data: the spec operators write, its validation, and
//! the compiled [`Program`] that the earning step runs.

use super::account::{AccountRules, CheckInStreakSpec};
use super::badge::{BadgeCatalogSpec, BadgeError};
use super::condition::{self, ConditionProblem};
use super::counters::Tallied;
use super::expiry::{Expiry, MAX_DAYS};
use super::fields::field_readers;
use super::ledger::LedgerPolicy;
use super::limits::{self, Cap, CapMode};
use super::rule::{Reward, RuleSpec};
use super::streak::StreakError;
use super::tier::{TierError, TierLadderSpec};
use crate::dedupe::DedupeWindow;
use crate::event::{KindPattern, KindTag, Label, ParseKindError};
use crate::time::UtcOffset;
use chrono::{FixedOffset, TimeDelta, TimeZone};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// A points program as operators write it (JSON-friendly).
///
/// Deserialize it, then [`ProgramSpec::validate`] it into a [`Program`].
/// Rules are described on [`RuleSpec`], their conditions on
/// [`Condition`](super::Condition).
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
    /// The calendar that daily, weekly and monthly caps count days in
    /// (`"+08:00"`). Hosts that need an IANA zone use
    /// [`ProgramSpec::validate_in`] instead.
    #[serde(default, deserialize_with = "utc_offset_field")]
    pub utc_offset: UtcOffset,
    /// When points expire unless a rule says otherwise. Default: never.
    #[serde(default, deserialize_with = "expiry_field")]
    pub expiry: Expiry,
    /// How long event ids are remembered to drop redeliveries.
    #[serde(default, deserialize_with = "dedupe_field")]
    pub dedupe: DedupeWindow,
    /// A cap per local day over the awards of every rule that is not
    /// [`global_cap_exempt`](RuleSpec::global_cap_exempt) (Stack Overflow's
    /// 200 a day, from which accepted answers are exempt). Exempt awards
    /// are neither limited by it nor counted towards it. Each rule's
    /// [`cap_mode`](RuleSpec::cap_mode) says whether the cap trims or rejects
    /// its award.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "global_daily_cap_field"
    )]
    pub global_daily_cap: Option<Cap>,
    /// The earning rules; every matching rule awards (see
    /// [`RuleSpec::priority`] and [`RuleSpec::exclusive_group`]). A rule
    /// the JSON reader refuses is named by its place (`rules[2]`).
    #[serde(deserialize_with = "rules_field")]
    pub rules: Vec<RuleSpec>,
    /// How reversals claw points back and how much history a ledger keeps.
    /// Default: clamp, 32 statement entries, 128 reversible awards.
    #[serde(default, deserialize_with = "ledger_field")]
    pub ledger: LedgerPolicy,
    /// A tier ladder whose multiplier feeds the earning rules of an
    /// [`Account`](super::Account) (see [`Program::earn`]). Default: none.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "tiers_field"
    )]
    pub tiers: Option<TierLadderSpec>,
    /// Check-in streaks with milestone bonuses, counted on the events
    /// [`CheckInStreakSpec::on`] names. Default: none.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "streak_field"
    )]
    pub streak: Option<CheckInStreakSpec>,
    /// Badges over event, points and streak counters, optionally granting
    /// points. Default: none.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "badges_field"
    )]
    pub badges: Option<BadgeCatalogSpec>,
}

// Each field of a `ProgramSpec` names itself when its value is refused.
field_readers! {
    fn utc_offset_field = named("utc_offset");
    fn expiry_field = named("expiry");
    fn dedupe_field = named("dedupe");
    fn global_daily_cap_field = named("global_daily_cap");
    fn rules_field = numbered("rules");
    fn ledger_field = named("ledger");
    fn tiers_field = named("tiers");
    fn streak_field = named("streak");
    fn badges_field = named("badges");
}

/// What is wrong with a [`ProgramSpec`]: the rule, the field and why.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProgramError {
    /// The program has no rules.
    #[error("rules is empty: a program needs at least one rule")]
    NoRules,
    /// A rule without a name (empty, or only spaces): awards, statements
    /// and reports name their rule, and could not tell it apart.
    #[error("rules[{index}]: name is blank but must name the rule")]
    BlankRuleName {
        /// The rule's position in `rules`, from 0.
        index: usize,
    },
    /// Two rules share a name.
    #[error("rule {rule}: the name is used by another rule")]
    DuplicateRule {
        /// The repeated name.
        rule: Label,
    },
    /// A rule's `on` that its own text form cannot express (a name on a
    /// kind that carries none, or an empty name: [`KindPattern::check`]),
    /// so the spec would not read back from its JSON.
    #[error("rules[{index}].on (rule {rule}) is not a valid event pattern: {error}")]
    InvalidTrigger {
        /// The rule's position in `rules`, from 0.
        index: usize,
        /// The rule.
        rule: Label,
        /// What is wrong with the pattern, as reading its text reports it.
        error: ParseKindError,
    },
    /// A rule's number that must be positive is zero.
    #[error("rule {rule}: {field} is 0 but must be at least 1")]
    Zero {
        /// The rule.
        rule: Label,
        /// The field, as a path (`daily_cap.count`).
        field: &'static str,
    },
    /// A length of time (an expiry, a pending period) so long that points
    /// earned now would be due past the end of the calendar: every award
    /// would fail. `rule` is `None` for the program's own expiry.
    #[error("{}{field} is {value} but must be at most {max}", rule.as_ref().map(|r| format!("rule {r}: ")).unwrap_or_default())]
    TooLong {
        /// The rule, if the field is one of a rule's.
        rule: Option<Label>,
        /// The field (`expiry.days`, `expiry.months`, `pending_days`).
        field: &'static str,
        /// The value given.
        value: u32,
        /// The most allowed: [`MAX_DAYS`] or [`MAX_MONTHS`](super::MAX_MONTHS).
        max: u32,
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
    /// A rule's cap that limits nothing.
    #[error("rule {rule}: {field} sets neither count nor points")]
    EmptyCap {
        /// The rule.
        rule: Label,
        /// `daily_cap`, `weekly_cap`, `monthly_cap` or `lifetime_cap`.
        field: &'static str,
    },
    /// A rule whose every award is the same number of points (a fixed
    /// reward, times its own multiplier, with `tier_multiplier` off) above
    /// one of its points caps (or the program's global daily cap, if the
    /// rule is not exempt) while `cap_mode` is `reject`: no award ever fits
    /// whole, so the rule never awards.
    #[error(
        "rule {rule}: {field} is {cap} but every award of the rule is {award} points \
         and cap_mode is reject, so the rule never awards"
    )]
    RejectCapBelowAward {
        /// The rule.
        rule: Label,
        /// The cap's points field (`daily_cap.points`, `global_daily_cap.points`).
        field: &'static str,
        /// The cap's points.
        cap: u64,
        /// What every award of the rule comes to.
        award: u64,
    },
    /// A badge that counts the check-in streak in a program without a
    /// `streak` section: no streak is ever reported to it, so none of its
    /// levels can be earned.
    #[error(
        "badges: badge {badge}: counter is streak but the program has no streak section, \
         so the badge is never earned"
    )]
    StreakBadgeWithoutStreak {
        /// The badge.
        badge: Label,
    },
    /// A program-level cap that limits nothing.
    #[error("{field} sets neither count nor points")]
    EmptyProgramCap {
        /// `global_daily_cap`.
        field: &'static str,
    },
    /// One of a rule's conditions is wrong.
    #[error("rule {rule}: when[{index}] ({kind}): {problem}")]
    Condition {
        /// The rule.
        rule: Label,
        /// The condition's position in `when`, from 0.
        index: usize,
        /// The condition's `type`.
        kind: &'static str,
        /// What is wrong with it.
        problem: ConditionProblem,
    },
    /// Two rules of one exclusive group with equal priority can match the
    /// same event, so which of them awards would be an accident of order.
    #[error(
        "rules {first} and {second}: both in exclusive_group {group} with priority {priority}, \
         and their triggers can match the same event; give them different priorities"
    )]
    ExclusiveOverlap {
        /// The group.
        group: Label,
        /// The earlier rule.
        first: Label,
        /// The later rule.
        second: Label,
        /// Their shared priority.
        priority: i32,
    },
    /// The `tiers` section is wrong.
    #[error("tiers: {0}")]
    Tiers(TierError),
    /// The `streak` section is wrong.
    #[error("streak: {0}")]
    Streak(StreakError),
    /// The `streak` section counts no event kind as a check-in.
    #[error("streak.on is empty: name at least one event kind that counts as a check-in")]
    NoCheckInKinds,
    /// A check-in kind in `streak.on` that its own text form cannot express
    /// ([`KindPattern::check`]), so the spec would not read back from its
    /// JSON.
    #[error("streak.on[{index}] is not a valid event pattern: {error}")]
    InvalidCheckInKind {
        /// The pattern's position in `streak.on`, from 0.
        index: usize,
        /// What is wrong with the pattern, as reading its text reports it.
        error: ParseKindError,
    },
    /// The `badges` section is wrong.
    #[error("badges: {0}")]
    Badges(BadgeError),
    /// A rule's name starts like the names the account engine gives its
    /// bonus lots (`streak …`, `badge …`), so statements and reversals
    /// could not tell them apart.
    #[error("rule {rule}: names starting with \"{prefix}\" are kept for bonus points")]
    ReservedRuleName {
        /// The rule.
        rule: Label,
        /// The reserved prefix.
        prefix: &'static str,
    },
}

impl ProgramSpec {
    /// A program of `rules` with every program-level setting at its default.
    pub fn new(rules: Vec<RuleSpec>) -> ProgramSpec {
        ProgramSpec {
            utc_offset: UtcOffset::default(),
            expiry: Expiry::Never {},
            dedupe: DedupeWindow::default(),
            global_daily_cap: None,
            rules,
            ledger: LedgerPolicy::default(),
            tiers: None,
            streak: None,
            badges: None,
        }
    }

    /// Checks every rule and compiles the program in its configured
    /// [`utc_offset`](Self::utc_offset).
    ///
    /// Every event pattern (each rule's `on`, the `streak`'s `on`, a badge
    /// counter's `on`) must pass [`KindPattern::check`], as the JSON reader
    /// demands, so a spec that validates also reads back from its own JSON.
    pub fn validate(self) -> Result<Program<FixedOffset>, ProgramError> {
        let zone = self.utc_offset.zone();
        self.validate_in(zone)
    }

    /// Checks every rule and compiles the program to count days in `zone`
    /// (an IANA zone from `chrono-tz`, say); `utc_offset` is then unused.
    pub fn validate_in<Tz: TimeZone>(self, zone: Tz) -> Result<Program<Tz>, ProgramError> {
        self.check()?;
        let account = AccountRules::new(&self)?;
        let plan = Plan::new(&self.rules, self.expiry);
        Ok(Program {
            spec: self,
            zone,
            plan,
            account,
        })
    }

    fn check(&self) -> Result<(), ProgramError> {
        use ProgramError::*;
        if self.rules.is_empty() {
            return Err(NoRules);
        }
        if let Some(field) = self.expiry.zero_field() {
            return Err(ProgramZero { field });
        }
        if let Some((field, value, max)) = self.expiry.too_long() {
            return Err(TooLong {
                rule: None,
                field,
                value,
                max,
            });
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
        if let Some(cap) = self.global_daily_cap {
            cap.check(&limits::GLOBAL_DAILY, None)?;
        }
        let mut names = BTreeSet::new();
        for (index, r) in self.rules.iter().enumerate() {
            if r.name.is_blank() {
                return Err(BlankRuleName { index });
            }
            if !names.insert(r.name.as_str()) {
                return Err(DuplicateRule {
                    rule: r.name.clone(),
                });
            }
            r.on.check().map_err(|error| InvalidTrigger {
                index,
                rule: r.name.clone(),
                error,
            })?;
            check_rule(r, self.expiry, self.global_daily_cap)?;
        }
        check_exclusive(&self.rules)
    }
}

/// A rule whose every award is the same number of points (a fixed reward,
/// with no tier multiplier to change it) above a points cap that rejects
/// what does not fit whole: no award ever fits, so the rule never awards.
fn reject_cap_below_reward(r: &RuleSpec, global_daily_cap: Option<Cap>) -> Option<ProgramError> {
    let Reward::Fixed { points } = r.reward else {
        return None;
    };
    if r.cap_mode != CapMode::Reject || r.tier_multiplier {
        return None;
    }
    let award = match r.multiplier {
        Some(m) => m.apply(points, r.multiplier_rounding).ok()?,
        None => points,
    };
    let global = global_daily_cap.filter(|_| !r.global_cap_exempt);
    [
        (r.daily_cap, limits::DAILY.points),
        (r.weekly_cap, limits::WEEKLY.points),
        (r.monthly_cap, limits::MONTHLY.points),
        (r.lifetime_cap, limits::LIFETIME.points),
        (global, limits::GLOBAL_DAILY.points),
    ]
    .into_iter()
    .find_map(|(cap, field)| {
        let cap = cap?.points?;
        (cap < award).then(|| ProgramError::RejectCapBelowAward {
            rule: r.name.clone(),
            field,
            cap,
            award,
        })
    })
}

fn check_rule(
    r: &RuleSpec,
    program_expiry: Expiry,
    global_daily_cap: Option<Cap>,
) -> Result<(), ProgramError> {
    use ProgramError::*;
    let rule = || r.name.clone();
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
    for (cap, fields) in [
        (r.daily_cap, &limits::DAILY),
        (r.weekly_cap, &limits::WEEKLY),
        (r.monthly_cap, &limits::MONTHLY),
        (r.lifetime_cap, &limits::LIFETIME),
    ] {
        if let Some(cap) = cap {
            cap.check(fields, Some(&r.name))?;
        }
    }
    if let Some(err) = reject_cap_below_reward(r, global_daily_cap) {
        return Err(err);
    }
    if r.cooldown_seconds == Some(0) {
        return Err(Zero {
            rule: rule(),
            field: "cooldown_seconds",
        });
    }
    if let Some(field) = r.expiry.as_ref().and_then(Expiry::zero_field) {
        return Err(Zero {
            rule: rule(),
            field,
        });
    }
    let too_long = r
        .expiry
        .as_ref()
        .and_then(Expiry::too_long)
        .or((r.pending_days > MAX_DAYS).then_some(("pending_days", r.pending_days, MAX_DAYS)));
    if let Some((field, value, max)) = too_long {
        return Err(TooLong {
            rule: Some(rule()),
            field,
            value,
            max,
        });
    }
    let expiry = r.expiry.unwrap_or(program_expiry);
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
    // The type each attribute is read as, from the first condition that reads it.
    let mut types: BTreeMap<&str, &'static str> = BTreeMap::new();
    for (index, c) in r.when.iter().enumerate() {
        let fail = |problem| Condition {
            rule: rule(),
            index,
            kind: c.kind_name(),
            problem,
        };
        c.check().map_err(fail)?;
        if let Some((name, ty)) = c.attr_type() {
            let first = *types.entry(name).or_insert(ty);
            if first != ty {
                return Err(fail(ConditionProblem::TypeConflict {
                    name: name.into(),
                    first,
                    second: ty,
                }));
            }
        }
    }
    // Conditions on one thing (campaign, weekday, hour, attribute…) that
    // allow nothing in common: the rule never awards.
    let mut together = condition::Together::default();
    for (index, c) in r.when.iter().enumerate() {
        if let Some(earlier) = together.add(index, c) {
            return Err(Condition {
                rule: rule(),
                index,
                kind: c.kind_name(),
                problem: if earlier == index {
                    ConditionProblem::NeverHolds
                } else {
                    ConditionProblem::NeverTogether { earlier }
                },
            });
        }
    }
    // `first_time` holds at the first match only, which is no multiple of
    // an `every_nth` of 2 or more: together they never hold.
    let first_time = r
        .when
        .iter()
        .any(|c| matches!(c, condition::Condition::FirstTime {}));
    let nth = r.when.iter().enumerate().find_map(|(index, c)| match c {
        condition::Condition::EveryNth { n } if *n >= 2 => Some((index, c, *n)),
        _ => None,
    });
    if let (true, Some((index, c, n))) = (first_time, nth) {
        return Err(Condition {
            rule: rule(),
            index,
            kind: c.kind_name(),
            problem: ConditionProblem::NeverWithFirstTime { n },
        });
    }
    Ok(())
}

fn check_exclusive(rules: &[RuleSpec]) -> Result<(), ProgramError> {
    for (i, a) in rules.iter().enumerate() {
        let Some(group) = &a.exclusive_group else {
            continue;
        };
        for b in rules.iter().skip(i + 1) {
            if b.exclusive_group.as_ref() == Some(group)
                && b.priority == a.priority
                && a.on.overlaps(&b.on)
                && a.reward.overlaps(&b.reward)
            {
                return Err(ProgramError::ExclusiveOverlap {
                    group: group.clone(),
                    first: a.name.clone(),
                    second: b.name.clone(),
                    priority: a.priority,
                });
            }
        }
    }
    Ok(())
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
    pub(crate) spec: ProgramSpec,
    pub(crate) zone: Tz,
    pub(crate) plan: Plan,
    /// The validated tiers, streak and badge sections.
    pub(crate) account: AccountRules,
}

/// What validation precomputes so that the earning step only looks at the
/// rules an event's kind can trigger, already in priority order.
#[derive(Clone, Debug)]
pub(crate) struct Plan {
    /// Per [`KindTag`] (by its index), the rules an event of that kind can
    /// trigger.
    pub(crate) by_tag: Vec<Candidates>,
    /// Per rule, what the engine reads on every event.
    pub(crate) rules: Vec<RulePlan>,
    /// The rules' names in declaration order, shared by every ledger the
    /// program runs on (see [`RuleCounters::adopt`](super::ledger::RuleCounters::adopt)).
    pub(crate) names: Arc<[Label]>,
    /// How many distinct expiries the rules' lots take (see
    /// [`RulePlan::expiry_class`]).
    pub(crate) expiry_classes: usize,
}

/// The rules an event of one kind can trigger, and what they keep.
#[derive(Clone, Debug, Default)]
pub(crate) struct Candidates {
    /// The rules whose trigger can match, highest priority first, ties in
    /// declaration order.
    pub(crate) rules: Vec<usize>,
    /// Whether one of them keeps week tallies, so the event needs its
    /// week's key.
    pub(crate) weeks: bool,
    /// Whether one of them keeps month tallies (a calendar conversion per
    /// event, so only when needed).
    pub(crate) months: bool,
}

/// No rules, for a kind beyond the plan's table.
static NO_CANDIDATES: Candidates = Candidates {
    rules: Vec::new(),
    weeks: false,
    months: false,
};

/// One rule's precomputed facts.
#[derive(Clone, Debug)]
pub(crate) struct RulePlan {
    /// Whether an event of a kind the rule listens to needs a closer look
    /// before it matches: the trigger names an action or custom kind, the
    /// reward is limited to one currency, or there are conditions. Most
    /// rules need none (one branch for them all, not three).
    pub(crate) checked: bool,
    pub(crate) first_time: bool,
    /// Every `every_nth` condition's `n` (all must divide the match count).
    pub(crate) every_nth: Vec<u32>,
    /// The rule's exclusive group, as an index.
    pub(crate) group: Option<usize>,
    pub(crate) cooldown: Option<TimeDelta>,
    /// The expiry of the rule's lots: its own, or the program's.
    pub(crate) expiry: Expiry,
    /// Which of the program's distinct expiries that is, in order of first
    /// use: its place in an expiry [`Memo`](super::expiry::Memo).
    pub(crate) expiry_class: usize,
    /// Which tallies an award of the rule goes into (read once per award
    /// at commit, so worked out once here).
    pub(crate) tallied: Tallied,
}

impl RulePlan {
    /// Whether the rule counts the events that meet its conditions.
    pub(crate) fn counts_matches(&self) -> bool {
        self.first_time || !self.every_nth.is_empty()
    }
}

impl Plan {
    fn new(rules: &[RuleSpec], default_expiry: Expiry) -> Plan {
        let mut order: Vec<usize> = (0..rules.len()).collect();
        // Stable: equal priorities keep declaration order.
        order.sort_by_key(|&i| std::cmp::Reverse(rules.get(i).map_or(0, |r| r.priority)));
        let by_tag = KindTag::ALL
            .iter()
            .map(|tag| {
                let listening: Vec<usize> = order
                    .iter()
                    .copied()
                    .filter(|&i| {
                        rules.get(i).is_some_and(|r| match &r.on {
                            KindPattern::Any => true,
                            KindPattern::Kind(t) | KindPattern::Named(t, _) => t == tag,
                        })
                    })
                    .collect();
                let keeps = |tallies: fn(&RuleSpec) -> bool| {
                    listening.iter().any(|&i| rules.get(i).is_some_and(tallies))
                };
                Candidates {
                    weeks: keeps(RuleSpec::tallies_weeks),
                    months: keeps(RuleSpec::tallies_months),
                    rules: listening,
                }
            })
            .collect();
        let mut groups: Vec<&Label> = Vec::new();
        let mut expiries: Vec<Expiry> = Vec::new();
        let plans = rules
            .iter()
            .map(|r| {
                use super::condition::Condition as C;
                let group = r.exclusive_group.as_ref().map(|g| {
                    groups.iter().position(|h| *h == g).unwrap_or_else(|| {
                        groups.push(g);
                        groups.len() - 1
                    })
                });
                let expiry = r.expiry.unwrap_or(default_expiry);
                let expiry_class =
                    expiries
                        .iter()
                        .position(|e| *e == expiry)
                        .unwrap_or_else(|| {
                            expiries.push(expiry);
                            expiries.len() - 1
                        });
                RulePlan {
                    checked: matches!(r.on, KindPattern::Named(..))
                        || matches!(
                            r.reward,
                            Reward::PerAmount {
                                currency: Some(_),
                                ..
                            }
                        )
                        || !r.when.is_empty(),
                    first_time: r.when.iter().any(|c| matches!(c, C::FirstTime {})),
                    every_nth: r
                        .when
                        .iter()
                        .filter_map(|c| match c {
                            C::EveryNth { n } => Some(*n),
                            _ => None,
                        })
                        .collect(),
                    group,
                    cooldown: r.cooldown_seconds.map(|s| TimeDelta::seconds(i64::from(s))),
                    expiry,
                    expiry_class,
                    tallied: r.tallied(),
                }
            })
            .collect();
        Plan {
            by_tag,
            rules: plans,
            names: rules.iter().map(|r| r.name.clone()).collect(),
            expiry_classes: expiries.len(),
        }
    }

    /// The rules an event of kind `tag` can trigger.
    #[inline]
    pub(crate) fn candidates(&self, tag: KindTag) -> &Candidates {
        self.by_tag.get(tag as usize).unwrap_or(&NO_CANDIDATES)
    }
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

    /// Whether `rule`'s awards count towards the program's global daily
    /// cap: there is one, and the rule is not exempt from it.
    #[inline]
    pub(crate) fn counts_global(&self, rule: &RuleSpec) -> bool {
        self.spec.global_daily_cap.is_some() && !rule.global_cap_exempt
    }

    /// The position in the program of the rule named `rule`, if it has
    /// one (a remembered award's rule may have left it).
    pub(crate) fn position_of(&self, rule: &Label) -> Option<usize> {
        self.plan.names.iter().position(|n| n == rule)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: &str) -> ProgramSpec {
        serde_json::from_str(json).unwrap_or_else(|e| unreachable!("{json}: {e}"))
    }

    #[test]
    fn a_reject_cap_below_every_award_is_found_and_near_misses_are_not() {
        let rule = |extra: &str| {
            spec(&format!(
                r#"{{ "rules": [{{ "name": "r", "on": "visited", "cap_mode": "reject",
                     "reward": {{ "type": "fixed", "points": 7 }}, "tier_multiplier": false{extra} }}],
                     "global_daily_cap": {{ "points": 20 }} }}"#
            ))
        };
        let found = |extra: &str| {
            reject_cap_below_reward(&rule(extra).rules[0], rule(extra).global_daily_cap)
        };
        assert_eq!(
            found(r#", "weekly_cap": { "points": 6, "count": 9 }"#),
            Some(ProgramError::RejectCapBelowAward {
                rule: "r".into(),
                field: "weekly_cap.points",
                cap: 6,
                award: 7
            })
        );
        // ×3 is 21, above the global 20; rounding up ×0.9 of 7 is 7.
        assert!(matches!(
            found(r#", "multiplier": 3"#),
            Some(ProgramError::RejectCapBelowAward {
                field: "global_daily_cap.points",
                award: 21,
                ..
            })
        ));
        assert!(
            found(
                r#", "multiplier": 0.9, "multiplier_rounding": "up", "daily_cap": { "points": 6 }"#
            )
            .is_some()
        );
        assert_eq!(
            found(r#", "multiplier": 0.9, "daily_cap": { "points": 6 }"#),
            None
        );
        assert_eq!(
            found(r#", "multiplier": 3, "global_cap_exempt": true"#),
            None
        );
        assert_eq!(found(r#", "daily_cap": { "points": 7 }"#), None);
    }

    #[test]
    fn a_streak_badge_needs_the_streak_section() {
        let badges = r#""badges": { "badges": [
            { "name": "week", "counter": { "type": "streak" }, "levels": [ { "at": 7 } ] } ] }"#;
        let rules = r#""rules": [{ "name": "r", "on": "visited", "reward": { "type": "fixed", "points": 1 } }]"#;
        assert_eq!(
            spec(&format!("{{ {rules}, {badges} }}")).validate().err(),
            Some(ProgramError::StreakBadgeWithoutStreak {
                badge: "week".into()
            })
        );
        assert!(
            spec(&format!(r#"{{ {rules}, {badges}, "streak": {{}} }}"#))
                .validate()
                .is_ok()
        );
    }
}
