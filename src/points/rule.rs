//! One earning rule as operators write it: trigger, conditions, reward,
//! multipliers, limits, priority and exclusivity.

use super::condition::Condition;
use super::counters::Tallied;
use super::expiry::Expiry;
use super::fields::field_readers;
use super::limits::{Cap, CapMode};
use super::multiplier::Multiplier;
use crate::event::{Currency, EventKind, KindPattern, Label};
use crate::time::plus_days;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One earning rule.
///
/// Only `name`, `on` and `reward` are required; everything else defaults to
/// "no limit", "no condition", priority 0 and the tier multiplier applied.
///
/// ```
/// use growthkit::points::RuleSpec;
///
/// // Double points on a weekend lesson of at least 20 minutes, once every
/// // 30 minutes, at most 3 a day and 10 a week, exclusive with other
/// // lesson rules of lower priority.
/// let rule: RuleSpec = serde_json::from_str(r#"{
///     "name": "weekend_lesson", "on": "action_completed:lesson",
///     "reward": { "type": "fixed", "points": 10 },
///     "when": [
///         { "type": "weekdays", "any_of": ["Sat", "Sun"] },
///         { "type": "attr", "name": "minutes", "op": "ge", "value": 20 }
///     ],
///     "multiplier": 2,
///     "tier_multiplier": false,
///     "daily_cap": { "count": 3 },
///     "weekly_cap": { "count": 10 },
///     "cooldown_seconds": 1800,
///     "priority": 10,
///     "exclusive_group": "lesson"
/// }"#)?;
/// assert_eq!(rule.priority, 10);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// Unique within the program; awards and counters are keyed by it.
    #[serde(deserialize_with = "name_field")]
    pub name: Label,
    /// The events it awards points for.
    #[serde(deserialize_with = "on_field")]
    pub on: KindPattern,
    /// How many points.
    #[serde(deserialize_with = "reward_field")]
    pub reward: Reward,
    /// Conditions that must all hold ([`Condition`]).
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "when_field"
    )]
    pub when: Vec<Condition>,
    /// A fixed multiplier of this rule's reward (a campaign's ×2).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "multiplier_field"
    )]
    pub multiplier: Option<Multiplier>,
    /// Whether the user's tier multiplier ([`EarnContext`](super::EarnContext))
    /// applies to this rule. Default: yes.
    #[serde(
        default = "yes",
        skip_serializing_if = "is_yes",
        deserialize_with = "tier_multiplier_field"
    )]
    pub tier_multiplier: bool,
    /// How a multiplied reward is made whole. Default: down, so a
    /// multiplier never gives a fraction of a point more than it says.
    #[serde(
        default,
        skip_serializing_if = "Rounding::is_down",
        deserialize_with = "multiplier_rounding_field"
    )]
    pub multiplier_rounding: Rounding,
    /// A limit per local day of the program's calendar.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "daily_cap_field"
    )]
    pub daily_cap: Option<Cap>,
    /// A limit per local ISO week (Monday to Sunday).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "weekly_cap_field"
    )]
    pub weekly_cap: Option<Cap>,
    /// A limit per local calendar month.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "monthly_cap_field"
    )]
    pub monthly_cap: Option<Cap>,
    /// A limit over the user's whole history.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lifetime_cap_field"
    )]
    pub lifetime_cap: Option<Cap>,
    /// What a cap (this rule's, or the program's global daily cap) does to
    /// an award that would exceed it. Under `reject`, a points cap below
    /// what every award of the rule comes to (a fixed reward times the
    /// rule's own multiplier, with `tier_multiplier` off) is refused when
    /// the program is validated: the rule could never award.
    #[serde(default, deserialize_with = "cap_mode_field")]
    pub cap_mode: CapMode,
    /// The least time between two awards of this rule to one user, in
    /// seconds: an event earlier than the last award plus this awards
    /// nothing. That includes a late event from well before the last award:
    /// only the last award is remembered, and holding such an event back is
    /// what keeps any two awards at least this far apart whatever the
    /// delivery order.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "cooldown_seconds_field"
    )]
    pub cooldown_seconds: Option<u32>,
    /// Awards of this rule neither count towards nor are limited by the
    /// program's [`global_daily_cap`](super::ProgramSpec::global_daily_cap).
    #[serde(
        default,
        skip_serializing_if = "is_no",
        deserialize_with = "global_cap_exempt_field"
    )]
    pub global_cap_exempt: bool,
    /// Rules are tried highest priority first (ties in declaration order):
    /// that order decides exclusive groups and who uses the global daily
    /// cap first.
    #[serde(
        default,
        skip_serializing_if = "super::is_zero",
        deserialize_with = "priority_field"
    )]
    pub priority: i32,
    /// Of the rules of one group that match an event, only the first (by
    /// priority) awards; the others are reported as skipped.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "exclusive_group_field"
    )]
    pub exclusive_group: Option<Label>,
    /// When this rule's points expire; default: the program's
    /// [`expiry`](super::ProgramSpec::expiry).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "expiry_field"
    )]
    pub expiry: Option<Expiry>,
    /// Days (of 24 hours) the rule's points stay pending before they can be
    /// spent, e.g. a purchase's return window; 0: spendable at once.
    #[serde(
        default,
        skip_serializing_if = "super::is_zero",
        deserialize_with = "pending_days_field"
    )]
    pub pending_days: u32,
}

fn yes() -> bool {
    true
}

fn is_yes(b: &bool) -> bool {
    *b
}

fn is_no(b: &bool) -> bool {
    !*b
}

impl RuleSpec {
    /// A rule with no conditions, multipliers, limits or priority.
    pub fn new(name: impl Into<Label>, on: KindPattern, reward: Reward) -> RuleSpec {
        RuleSpec {
            name: name.into(),
            on,
            reward,
            when: Vec::new(),
            multiplier: None,
            tier_multiplier: true,
            multiplier_rounding: Rounding::Down,
            daily_cap: None,
            weekly_cap: None,
            monthly_cap: None,
            lifetime_cap: None,
            cap_mode: CapMode::Trim,
            cooldown_seconds: None,
            global_cap_exempt: false,
            priority: 0,
            exclusive_group: None,
            expiry: None,
            pending_days: 0,
        }
    }

    /// Whether the rule keeps per-day tallies: it has a cap per day, week
    /// or month (the days also mark how far back week and month tallies
    /// reach). A rule without one has nothing a late event must be judged
    /// against, so it keeps none and refuses no event as too late.
    pub(crate) fn tallies_days(&self) -> bool {
        self.daily_cap.is_some() || self.weekly_cap.is_some() || self.monthly_cap.is_some()
    }

    /// When points it awards at `at` can be spent: `pending_days` later;
    /// `None` past chrono's calendar.
    #[inline]
    pub(crate) fn available_from(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self.pending_days {
            0 => Some(at),
            days => plus_days(at, days),
        }
    }

    /// Which tallies the rule's awards go into.
    pub(crate) fn tallied(&self) -> Tallied {
        Tallied {
            days: self.tallies_days(),
            weeks: self.tallies_weeks(),
            months: self.tallies_months(),
            last_award: self.cooldown_seconds.is_some(),
        }
    }

    /// Whether the rule keeps per-week tallies (it has a weekly cap).
    pub(crate) fn tallies_weeks(&self) -> bool {
        self.weekly_cap.is_some()
    }

    /// Whether the rule keeps per-month tallies (it has a monthly cap).
    pub(crate) fn tallies_months(&self) -> bool {
        self.monthly_cap.is_some()
    }
}

/// How many points a rule awards.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Reward {
    /// The same points for every matching event.
    Fixed {
        /// Points per event.
        #[serde(deserialize_with = "points_field")]
        points: u64,
    },
    /// `points` for every `per_minor` minor units of a purchase's amount
    /// (1 point per ¥10 is `points: 1, per_minor: 1000`), rounded as stated.
    /// Negative amounts earn nothing. Purchase triggers only.
    PerAmount {
        /// Points per unit.
        #[serde(deserialize_with = "points_field")]
        points: u64,
        /// The unit, in minor units of the purchase's currency.
        #[serde(deserialize_with = "per_minor_field")]
        per_minor: i64,
        /// How a fractional result becomes whole points.
        #[serde(deserialize_with = "rounding_field")]
        rounding: Rounding,
        /// If set, the rule takes only purchases in this currency (for any
        /// other it is as if it did not match, see [`Reward::accepts`]): a
        /// unit of 1000 minor units means ¥10 but also $10, so a
        /// multi-currency host writes one rule per currency, and may put
        /// them in one exclusive group at one priority.
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            deserialize_with = "currency_field"
        )]
        currency: Option<Currency>,
    },
}

// A reward's fields name themselves too (`field `reward`: field `points`: ...`).
field_readers! {
    fn points_field = named("points");
    fn per_minor_field = named("per_minor");
    fn rounding_field = named("rounding");
    fn currency_field = named("currency");
}

impl Reward {
    /// Whether the reward applies to an event of `kind` at all: a
    /// per-amount reward in one currency does not to a purchase in another,
    /// which then counts as not matching the rule (it uses up no
    /// `first_time` or `every_nth` count and wins no exclusive group).
    pub fn accepts(&self, kind: &EventKind) -> bool {
        match (self, kind) {
            (
                Reward::PerAmount {
                    currency: Some(currency),
                    ..
                },
                EventKind::Purchase { amount },
            ) => &amount.currency == currency,
            _ => true,
        }
    }

    /// The currency a per-amount reward is limited to, if any.
    fn currency(&self) -> Option<Currency> {
        match self {
            Reward::PerAmount { currency, .. } => *currency,
            Reward::Fixed { .. } => None,
        }
    }

    /// Whether some event can be accepted by both rewards (two per-amount
    /// rewards in different currencies never are).
    pub(crate) fn overlaps(&self, other: &Reward) -> bool {
        match (self.currency(), other.currency()) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        }
    }
}

// Each field names itself when the JSON reader refuses its value
// (`rules[0]: field `daily_cap`: ...`).
field_readers! {
    fn name_field = named("name");
    fn on_field = named("on");
    fn reward_field = named("reward");
    fn when_field = numbered("when");
    fn multiplier_field = named("multiplier");
    fn tier_multiplier_field = named("tier_multiplier");
    fn multiplier_rounding_field = named("multiplier_rounding");
    fn daily_cap_field = named("daily_cap");
    fn weekly_cap_field = named("weekly_cap");
    fn monthly_cap_field = named("monthly_cap");
    fn lifetime_cap_field = named("lifetime_cap");
    fn cap_mode_field = named("cap_mode");
    fn cooldown_seconds_field = named("cooldown_seconds");
    fn global_cap_exempt_field = named("global_cap_exempt");
    fn priority_field = named("priority");
    fn exclusive_group_field = named("exclusive_group");
    fn expiry_field = named("expiry");
    fn pending_days_field = named("pending_days");
}

/// How a fractional number of points is made whole.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rounding {
    /// Toward zero: ¥99 at 1 per ¥10 is 9.
    #[default]
    Down,
    /// To the nearest, halves up: ¥95 is 10, ¥94.99 is 9.
    Nearest,
    /// Away from zero: ¥91 is 10.
    Up,
}

impl Rounding {
    /// `num / den` made whole this way; `den` is never zero at the call sites.
    pub(crate) fn divide(self, num: u128, den: u128) -> u128 {
        let den = den.max(1);
        // Nearly every quotient is of numbers that fit in 64 bits, and a
        // 64-bit division is many times faster than a 128-bit one (a call).
        if let (Ok(n), Ok(d)) = (u64::try_from(num), u64::try_from(den)) {
            return u128::from(self.divide_narrow(n, d));
        }
        let (q, r) = (num / den, num % den);
        q + u128::from(self.carries(r, den))
    }

    /// [`Rounding::divide`] in 64 bits, `den` above zero. Inlined where
    /// `den` is a constant (a multiplier's scale), the division compiles
    /// to a multiplication.
    #[inline(always)]
    pub(crate) fn divide_narrow(self, num: u64, den: u64) -> u64 {
        // Cannot overflow: a remainder needs `den` ≥ 2, so `q` ≤ `num` / 2.
        num / den + u64::from(self.carries(u128::from(num % den), u128::from(den)))
    }

    /// Whether a quotient whose division left `r` of `den` goes up by one,
    /// made whole this way.
    #[inline(always)]
    fn carries(self, r: u128, den: u128) -> bool {
        match self {
            Rounding::Down => false,
            Rounding::Up => r > 0,
            Rounding::Nearest => r >= den - r,
        }
    }

    fn is_down(&self) -> bool {
        *self == Rounding::Down
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn division_rounds_the_same_in_64_and_128_bits() {
        // Wide numbers take the 128-bit path, narrow ones the 64-bit one:
        // the same answers, each against its definition.
        let wide = u128::from(u64::MAX);
        let nums = [
            0,
            1,
            94,
            95,
            99,
            100,
            10_001,
            wide - 1,
            wide,
            wide + 1,
            wide * 7 + 3,
            u128::MAX,
        ];
        for &num in &nums {
            for den in [1u128, 2, 10, 100, 10_000, wide, wide + 2] {
                let (q, r) = (num / den, num % den);
                assert_eq!(Rounding::Down.divide(num, den), q, "{num}/{den}");
                assert_eq!(
                    Rounding::Up.divide(num, den),
                    q + u128::from(r > 0),
                    "{num}/{den}"
                );
                assert_eq!(
                    Rounding::Nearest.divide(num, den),
                    q + u128::from(r >= den - r),
                    "{num}/{den}"
                );
            }
        }
        assert_eq!(
            Rounding::Down.divide(7, 0),
            7,
            "a zero divisor counts as one"
        );
    }
}
