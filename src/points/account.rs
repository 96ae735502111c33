//! The account engine: one member's [`Ledger`], tier, check-in streak and
//! badges, stepped together by [`Program::earn`], [`Program::reverse_in`]
//! and [`Program::evaluate_account`].
//!
//! The rules are documented on [`Account`], the type a host starts from.

use super::badge::{BadgeCatalog, BadgeCatalogSpec, BadgeError, BadgeGrant, BadgeOutcome};
use super::condition::{Condition, ConditionProblem, EarnContext};
use super::earn::{Earned, Noting};
use super::fields::field_readers;
use super::ledger::{Ledger, Lot, OperationKey};
use super::program::{Program, ProgramError, ProgramSpec};
use super::remembered::Redeemed;
use super::reversal::{Portion, Reversal, Unreversed};
use super::statement::Entry;
use super::streak::{
    CheckInKind, CheckInOutcome, MakeUp, Milestone, MilestoneHit, Streak, StreakError, StreakRules,
    StreakSpec,
};
use super::tier::{
    QualifyingBasis, TierChange, TierError, TierLadder, TierLadderSpec, TierOutcome, TierStatus,
};
use super::{PointsError, RuleSpec};
use crate::dedupe::Admission;
use crate::event::{Event, EventKind, KindPattern, KindSet, KindTag, Label};
use crate::id::{EventId, UserId};
use crate::lifecycle::Stage;
use crate::store::Versioned;
use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// The rule-name prefix of streak milestone bonuses (`streak day 7`).
pub const STREAK_BONUS_PREFIX: &str = "streak ";
/// The rule-name prefix of badge bonuses (`badge helper gold`).
pub const BADGE_BONUS_PREFIX: &str = "badge ";
/// How many reversals an account remembers to answer a retry with its
/// first result: as many as a ledger remembers operation keys
/// ([`REMEMBERED_KEYS`](super::ledger::REMEMBERED_KEYS)), so that no retry
/// the ledger would still recognise finds the account's answer forgotten.
pub const REMEMBERED_REVERSALS: usize = super::ledger::REMEMBERED_KEYS;

/// The `streak` section of a [`ProgramSpec`]: a [`StreakSpec`] and the
/// event kinds that count as a check-in.
///
/// ```
/// use growthkit::points::ProgramSpec;
///
/// let spec: ProgramSpec = serde_json::from_str(r#"{
///     "rules": [{ "name": "lesson", "on": "action_completed:lesson",
///                 "reward": { "type": "fixed", "points": 10 } }],
///     "streak": { "on": [], "milestones": [{ "day": 7, "points": 50 }] }
/// }"#)?;
/// let err = spec.validate().unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "streak.on is empty: name at least one event kind that counts as a check-in"
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckInStreakSpec {
    /// The events that check the member in. Default: `["check_in"]`.
    #[serde(default = "check_in_kinds", deserialize_with = "on_field")]
    pub on: Vec<KindPattern>,
    /// As [`StreakSpec::milestones`].
    #[serde(default, deserialize_with = "milestones_field")]
    pub milestones: Vec<Milestone>,
    /// As [`StreakSpec::make_up`].
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "make_up_field"
    )]
    pub make_up: Option<MakeUp>,
}

// Each field of a `CheckInStreakSpec` names itself when its value is refused.
field_readers! {
    fn on_field = numbered("on");
    fn milestones_field = numbered("milestones");
    fn make_up_field = named("make_up");
}

fn check_in_kinds() -> Vec<KindPattern> {
    vec![KindPattern::Kind(KindTag::CheckIn)]
}

impl Default for CheckInStreakSpec {
    fn default() -> Self {
        CheckInStreakSpec {
            on: check_in_kinds(),
            milestones: Vec::new(),
            make_up: None,
        }
    }
}

impl CheckInStreakSpec {
    /// The streak rules alone.
    pub fn rules(&self) -> StreakSpec {
        StreakSpec {
            milestones: self.milestones.clone(),
            make_up: self.make_up,
        }
    }
}

/// The validated `tiers`, `streak` and `badges` sections of a program.
#[derive(Clone, Debug, Default)]
pub(crate) struct AccountRules {
    tiers: Option<TierLadder>,
    streak: Option<CheckIns>,
    badges: Option<BadgeCatalog>,
    /// The most bonus points one event can credit (every milestone and
    /// every badge level at once, at `u64::MAX` if they add up to more),
    /// and the most bonus lots.
    bonuses: (u64, u64),
}

/// What [`Program::earn`] allows every count of an account, an event's
/// rule awards and its bonuses each when it steps the account in place:
/// three such amounts add up to less than `u64::MAX`, so no sum the step's
/// later parts make can overflow.
const ROOM: u64 = 1 << 62;

#[derive(Clone, Debug)]
struct CheckIns {
    rules: StreakRules,
    on: KindSet,
}

impl AccountRules {
    /// Whether the program has none of the sections.
    fn is_empty(&self) -> bool {
        self.tiers.is_none() && self.streak.is_none() && self.badges.is_none()
    }

    /// Validates the sections; errors name the section.
    pub(crate) fn new(spec: &ProgramSpec) -> Result<AccountRules, ProgramError> {
        let tiers = spec
            .tiers
            .clone()
            .map(TierLadderSpec::validate)
            .transpose()
            .map_err(ProgramError::Tiers)?;
        if let Some(ladder) = &tiers {
            unknown_tier(&spec.rules, ladder)?;
        }
        let streak = match &spec.streak {
            None => None,
            Some(s) => {
                if s.on.is_empty() {
                    return Err(ProgramError::NoCheckInKinds);
                }
                for (index, pattern) in s.on.iter().enumerate() {
                    pattern
                        .check()
                        .map_err(|error| ProgramError::InvalidCheckInKind { index, error })?;
                }
                let rules = s.rules().validate().map_err(ProgramError::Streak)?;
                Some(CheckIns {
                    rules,
                    on: KindSet::new(&s.on),
                })
            }
        };
        let badges = spec
            .badges
            .clone()
            .map(BadgeCatalogSpec::validate)
            .transpose()
            .map_err(ProgramError::Badges)?;
        if streak.is_none()
            && let Some(badge) = badges
                .iter()
                .flat_map(|c| &c.spec().badges)
                .find(|b| matches!(b.counter, super::badge::BadgeCounter::Streak {}))
        {
            return Err(ProgramError::StreakBadgeWithoutStreak {
                badge: badge.name.clone(),
            });
        }
        for (on, prefix) in [
            (streak.is_some(), STREAK_BONUS_PREFIX),
            (badges.is_some(), BADGE_BONUS_PREFIX),
        ] {
            if let Some(rule) = spec
                .rules
                .iter()
                .find(|r: &&RuleSpec| on && r.name.as_str().starts_with(prefix))
            {
                return Err(ProgramError::ReservedRuleName {
                    rule: rule.name.clone(),
                    prefix,
                });
            }
        }
        let milestones = streak.iter().flat_map(|c| &c.rules.spec().milestones);
        let levels = badges
            .iter()
            .flat_map(|c| &c.spec().badges)
            .flat_map(|b| &b.levels);
        let points = milestones.clone().map(|m| m.points);
        let points = points.chain(levels.clone().map(|l| l.points));
        let bonuses = (
            points.fold(0u64, u64::saturating_add),
            u64::try_from(milestones.count() + levels.count()).unwrap_or(u64::MAX),
        );
        Ok(AccountRules {
            tiers,
            streak,
            badges,
            bonuses,
        })
    }
}

/// A rule's `tier` condition naming a tier the program's ladder lacks: it
/// could never hold for a member of this program. (Without a ladder, tier
/// names come from the host's [`EarnContext`], and any name may be one.)
fn unknown_tier(rules: &[RuleSpec], ladder: &TierLadder) -> Result<(), ProgramError> {
    for rule in rules {
        for (index, condition) in rule.when.iter().enumerate() {
            let Condition::Tier { any_of } = condition else {
                continue;
            };
            if let Some(tier) = any_of.iter().find(|t| ladder.tier(t.as_str()).is_none()) {
                return Err(ProgramError::Condition {
                    rule: rule.name.clone(),
                    index,
                    kind: condition.kind_name(),
                    problem: ConditionProblem::UnknownTier { tier: tier.clone() },
                });
            }
        }
    }
    Ok(())
}

/// Whether a lot's rule name is one the engine gives bonus lots.
fn is_bonus(rule: &str) -> bool {
    rule.starts_with(STREAK_BONUS_PREFIX) || rule.starts_with(BADGE_BONUS_PREFIX)
}

/// Why an account step failed; the account is unchanged.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AccountError {
    /// The ledger refused the step.
    #[error(transparent)]
    Points(#[from] PointsError),
    /// The tier step failed (a ladder changed so that the member's tier is
    /// no longer on it, or an overflow).
    #[error(transparent)]
    Tier(#[from] TierError),
    /// The streak step failed (an overflow).
    #[error(transparent)]
    Streak(#[from] StreakError),
    /// A badge step failed (an overflow).
    #[error(transparent)]
    Badge(#[from] BadgeError),
    /// The event is another member's.
    #[error("event {event} is {got}'s, not {expected}'s")]
    WrongUser {
        /// The event.
        event: EventId,
        /// The account's member.
        expected: UserId,
        /// The event's user.
        got: UserId,
    },
    /// The id is one the account gave a bonus lot it still remembers (ids
    /// are taken from the top of the range down, skipping the ids of the
    /// events a reversal can still name: the member's remembered awards,
    /// awards a cap cut, and events that earned nothing but counted
    /// toward the tier or a badge), so it cannot name an event too.
    #[error("{id} is in use by a bonus lot of this account: it cannot name an event")]
    ReservedEventId {
        /// The id.
        id: EventId,
    },
    /// The account's version or bonus ids ran out.
    #[error("arithmetic overflow in an account")]
    Overflow,
}

/// What an event added to a member's tier and badges, remembered so that a
/// reversal can take it back.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
struct Contribution {
    source: EventId,
    at: DateTime<Utc>,
    kind: EventKind,
    /// What the tier counted (points or spend).
    qualifying: u64,
    /// Of it, what reversals took back so far.
    #[serde(default)]
    qualifying_retracted: u64,
    /// Whether the event is wholly reversed (and so taken back from event
    /// badges, if the program has any).
    #[serde(default)]
    event_retracted: bool,
    /// Whether the event earned no points: the ledger knows nothing of it,
    /// and only the account can reverse it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pointless: bool,
    /// The part of the event reversals have not taken back, exactly, so
    /// that shares adding up to the whole reverse it wholly, whether it
    /// earned points or not, and whether or not a reversal made points up
    /// for it in between (see [`MadeUp`](super::MadeUp)).
    #[serde(default, skip_serializing_if = "Unreversed::is_whole")]
    unreversed: Unreversed,
    /// Earlier builds' `unreversed`, for an event that earned no points:
    /// the share reversals took back, in millionths. Read from states
    /// they stored, and folded into `unreversed` at the next reversal.
    #[serde(default, skip_serializing_if = "super::is_zero")]
    reversed_millionths: u32,
}

impl Contribution {
    /// Takes `portion` of the event out of what reversals left of it: the
    /// part of what was left it is, and whether the contribution was
    /// stored by a build that tracked no part of an event that earned
    /// points (and may have been partly reversed all the same).
    fn take(&mut self, portion: Portion) -> (super::reversal::Part, bool) {
        if self.reversed_millionths > 0 && self.unreversed.is_whole() {
            self.unreversed = Unreversed::after_millionths(self.reversed_millionths);
        }
        self.reversed_millionths = 0;
        let untracked = self.unreversed.is_whole() && self.qualifying_retracted > 0;
        let (part, left) = self.unreversed.take(portion);
        self.unreversed = left;
        (part, untracked)
    }
}

/// Remembers `new` among `contributions`, dropping the oldest of its sort
/// (events that earned points, or events that earned none) beyond `keep`:
/// the many purchases a cap left without points never push out the
/// contribution of one that earned some, which the ledger still remembers.
fn remember_contribution(
    contributions: &mut VecDeque<Contribution>,
    keep: usize,
    new: Contribution,
) {
    let same_sort = |c: &Contribution| c.pointless == new.pointless;
    let mut kept = contributions.iter().filter(|c| same_sort(c)).count();
    while kept >= keep.max(1) {
        if let Some(oldest) = contributions.iter().position(same_sort) {
            contributions.remove(oldest);
        }
        kept -= 1;
    }
    if keep > 0 {
        contributions.push_back(new);
    }
}

/// A badge level that granted points, with the id its lot is reversed by.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
struct HeldLevel {
    badge: Label,
    level: u32,
    lot_source: EventId,
}

/// A member's points account: their [`Ledger`], their tier (if the
/// program has a ladder), check-in [`Streak`] and [`Badges`](super::Badges),
/// stepped as one by a [`Program`] with the optional `tiers`, `streak` and
/// `badges` sections. Plain serde data with a
/// [`version`](Account::version) bumped by every successful change.
///
/// # Rules
///
/// [`Program::earn`] runs one event through, all or nothing:
///
/// 1. **Earning rules** ([`Program::apply_with`]) with the member's current
///    tier in the [`EarnContext`], so its multiplier applies by itself. A
///    redelivered event id changes nothing anywhere
///    ([`Earned::duplicate`]).
/// 2. **Streak**: an event the `streak.on` kinds match checks the member
///    in; each milestone reached is credited as a bonus lot named
///    `streak day N`.
/// 3. **Badges**: event counters, the rule points earned (bonuses do not
///    count, so bonuses never feed themselves), and the streak length; each
///    level granting points is credited as a bonus lot named
///    `badge NAME LEVEL`.
/// 4. **Tier**: the rule points earned (or, for a spend ladder, the
///    purchase's amount in its currency; other currencies count nothing)
///    are recorded, upgrading at once. The upgrade applies from the next
///    event on.
///
/// Bonus lots are not multiplied or capped, expire under the program's
/// expiry, pay debt first, and appear on the statement like awards
/// (`+50 streak day 7 (event#3)`). Each carries its own reversal identity
/// (an id from the top of the `u64` range), so reversing the event that
/// triggered one leaves it alone.
///
/// [`Program::reverse_in`] reverses an event's awards through the ledger,
/// then takes back what they had earned: the qualifying points (or spend)
/// from the tier, which revokes a tier that rested on them, with the
/// reason; the points from points badges and, once the event is wholly
/// reversed, the event from event badges. A revoked level's bonus is
/// reversed through the ledger under the program's
/// [`Clawback`](super::Clawback). Streaks, their milestone bonuses and
/// streak badges stay: a day checked in stays checked in. What an event
/// added to a spend ladder and to event badges is remembered for the
/// program's [`reversible_awards`](super::LedgerPolicy::reversible_awards)
/// most recent events that earned points, like the awards themselves, and
/// as many again that earned none but counted toward the tier or an event
/// badge (a purchase no rule rewards, under a spend ladder): reversing one
/// of those takes back no points, only what it counted, and the ledger
/// remembers its key.
///
/// [`Program::evaluate_account`] is the periodic housekeeping: the tier's
/// evaluation (downgrade after grace) and [`Ledger::expire`].
///
/// Redeeming and holds go through [`Account::ledger_step`] (or
/// [`Account::redeem`]); they never touch the tier, which counts points
/// earned, not the balance.
///
/// A failed step leaves the account unchanged. `reverse_in` works on a copy
/// that replaces the account on success. `earn` steps the account itself
/// when nothing after the rule awards (which fail, if at all, before
/// changing anything) can fail, as in every account not built or edited to
/// sit near the end of its counts (see [`Program::earn`]), and on such a
/// copy otherwise. A copy costs one clone of the member's state (bounded: a
/// few to a few tens of kilobytes with the default history limits); a
/// redelivered event, another member's event or a reserved id returns
/// before any copy, and a program with none of the three sections needs
/// none (only the ledger moves, and its step is all or nothing itself).
///
/// # Example
///
/// ```
/// use chrono::{TimeDelta, TimeZone, Utc};
/// use growthkit::points::{Portion, ProgramSpec};
/// use growthkit::{Event, EventId, EventKind, Money, UserId};
///
/// let program = serde_json::from_str::<ProgramSpec>(r#"{
///     "utc_offset": "+08:00",
///     "rules": [
///         { "name": "check_in", "on": "check_in", "reward": { "type": "fixed", "points": 10 } },
///         { "name": "purchase", "on": "purchase",
///           "reward": { "type": "per_amount", "points": 1, "per_minor": 100, "rounding": "down" } }
///     ],
///     "tiers": { "basis": { "type": "points" }, "window": { "type": "rolling_days", "days": 365 },
///                "tiers": [ { "name": "member", "threshold": 0 },
///                           { "name": "gold", "threshold": 100, "multiplier": 1.5 } ] },
///     "streak": { "milestones": [ { "day": 3, "points": 50 } ] },
///     "badges": { "badges": [ { "name": "regular", "counter": { "type": "events", "on": "check_in" },
///                               "levels": [ { "name": "bronze", "at": 2, "points": 20 } ] } ] }
/// }"#)?.validate()?;
///
/// let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 1, 0, 0).unwrap(); // 09:00 in Beijing
/// let mut account = program.open_account(UserId(7), t0);
/// let check_in = |i: u64| {
///     let at = t0 + TimeDelta::days(i as i64);
///     Event::new(EventId(i), UserId(7), at, EventKind::CheckIn { community: None })
/// };
/// program.earn(&mut account, &check_in(0), None)?;
/// let day2 = program.earn(&mut account, &check_in(1), None)?;
/// assert_eq!(day2.bonuses[0].rule.as_str(), "badge regular bronze");
/// let day3 = program.earn(&mut account, &check_in(2), None)?;
/// assert_eq!(day3.bonuses[0].rule.as_str(), "streak day 3");
/// assert_eq!(account.ledger().earned(), 30 + 20 + 50);
///
/// // ¥120 reaches gold; the next check-in earns ×1.5.
/// let cny = "CNY".parse()?;
/// let buy = Event::new(EventId(9), UserId(7), t0 + TimeDelta::days(2),
///                      EventKind::Purchase { amount: Money::new(12_000, cny) });
/// let bought = program.earn(&mut account, &buy, None)?;
/// assert_eq!(bought.tier.and_then(|t| t.change).map(|c| c.to.to_string()), Some("gold".into()));
/// assert_eq!(program.earn(&mut account, &check_in(3), None)?.earned.total, 15);
///
/// // The purchase is refunded: gold rested on it, so it is revoked.
/// let later = t0 + TimeDelta::days(5);
/// let back = program.reverse_in(&mut account, "refund-9".into(), EventId(9), Portion::Whole {}, later)?;
/// let change = back.tier.and_then(|t| t.change).ok_or("revoked")?;
/// assert_eq!(change.to_string(),
///            "gold → member: revoked (refund-9 reversed event#9): 45 qualifying is below the threshold 100");
/// account.ledger().check()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Account {
    version: u64,
    user: UserId,
    joined_at: DateTime<Utc>,
    ledger: Ledger,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tier: Option<TierStatus>,
    #[serde(default)]
    streak: Streak,
    #[serde(default)]
    badges: super::Badges,
    /// The next bonus lot's reversal id (counting down).
    #[serde(default = "top_id")]
    next_bonus: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    held_levels: Vec<HeldLevel>,
    #[serde(default, skip_serializing_if = "VecDeque::is_empty")]
    contributions: VecDeque<Contribution>,
    #[serde(default, skip_serializing_if = "VecDeque::is_empty")]
    reversals: VecDeque<AccountReversal>,
}

fn top_id() -> u64 {
    u64::MAX
}

impl Versioned for Account {
    fn version(&self) -> u64 {
        self.version
    }
}

impl Account {
    /// The ledger, for a batch to write its window of recent ids (see
    /// [`Noting::fresh`]); everything else changes it through the program.
    pub(crate) fn ledger_mut(&mut self) -> &mut Ledger {
        &mut self.ledger
    }

    /// Bumped by every successful change.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The member.
    pub fn user(&self) -> UserId {
        self.user
    }

    /// When the member joined (a tier ladder's anniversary years count from
    /// its local day).
    pub fn joined_at(&self) -> DateTime<Utc> {
        self.joined_at
    }

    /// The member's points.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// The member's tier, if the program has a ladder.
    pub fn tier(&self) -> Option<&TierStatus> {
        self.tier.as_ref()
    }

    /// The member's check-in streak.
    pub fn streak(&self) -> &Streak {
        &self.streak
    }

    /// The member's badges.
    pub fn badges(&self) -> &super::Badges {
        &self.badges
    }

    /// Runs a spending step on the ledger ([`Ledger::redeem`],
    /// [`hold`](Ledger::hold), [`capture`](Ledger::capture),
    /// [`release`](Ledger::release)) and bumps the account's version if it
    /// changed the ledger. Earning and reversal go through [`Program::earn`]
    /// and [`Program::reverse_in`] instead, so that tiers and badges follow.
    ///
    /// The step returns a value of its own, so a capture's lent result is
    /// copied out (`|l| l.capture(key, now).map(|r| r.to_redemption())`,
    /// or only what is needed, such as `r.points()`); [`Account::redeem`]
    /// lends its result directly.
    pub fn ledger_step<T>(
        &mut self,
        step: impl FnOnce(&mut Ledger) -> Result<T, PointsError>,
    ) -> Result<T, PointsError> {
        let version = self.version.checked_add(1).ok_or(PointsError::Overflow)?;
        let before = self.ledger.version();
        let out = step(&mut self.ledger)?;
        if self.ledger.version() != before {
            self.version = version;
        }
        Ok(out)
    }

    /// [`Ledger::redeem`], bumping the account's version if it spent
    /// (as [`Account::ledger_step`] does; the result is lent by the
    /// ledger, which a step cannot return).
    pub fn redeem(
        &mut self,
        key: OperationKey,
        points: u64,
        now: DateTime<Utc>,
    ) -> Result<Redeemed<'_>, PointsError> {
        let version = self.version.checked_add(1).ok_or(PointsError::Overflow)?;
        let redeemed = self.ledger.redeem(key, points, now)?;
        // A first redemption changes the ledger; a repeat changes nothing.
        if !redeemed.repeated() {
            self.version = version;
        }
        Ok(redeemed)
    }

    #[inline]
    fn bump(&mut self) -> Result<(), AccountError> {
        // Not `ok_or`: its error, built before the check, was dropped on
        // every call (a call to the error's drop glue per event).
        let Some(version) = self.version.checked_add(1) else {
            return Err(AccountError::Overflow);
        };
        self.version = version;
        Ok(())
    }

    /// Whether `id` is the reversal id of a bonus lot the ledger remembers.
    /// Always inlined, as the account step's other per-event helpers: a
    /// batch calls each once an event, and the calls cost more than some
    /// of their bodies.
    #[inline(always)]
    fn is_bonus_id(&self, id: EventId) -> bool {
        id.0 > self.next_bonus
            && self
                .ledger
                .earnings()
                .any(|e| e.source == id && is_bonus(e.rule.as_str()))
    }

    /// A fresh reversal id for a bonus lot: from the top down, skipping the
    /// ids of the events a reversal can still name (remembered awards,
    /// awards a cap cut, which a reversal may make up under their event's
    /// id, and events remembered for the tier or badges though they earned
    /// nothing), so a reversal never reaches both.
    fn allocate_bonus_id(&mut self) -> Result<EventId, AccountError> {
        // `bonus_ids_passed_over` counts the lists looked in here.
        loop {
            let id = self.next_bonus;
            self.next_bonus = id.checked_sub(1).ok_or(AccountError::Overflow)?;
            let named = self.ledger.earnings().any(|e| e.source.0 == id)
                || self.ledger.cut_awards().any(|c| c.source.0 == id)
                || self.contributions.iter().any(|c| c.source.0 == id);
            if !named {
                return Ok(EventId(id));
            }
        }
    }

    /// At most how many ids [`Account::allocate_bonus_id`] passes over in
    /// one step: the events its lists name, and the step's own event
    /// (which its awards add to them).
    fn bonus_ids_passed_over(&self) -> u64 {
        let named = self.ledger.earnings().len() + self.ledger.cut_awards().len();
        let named = named.saturating_add(self.contributions.len());
        u64::try_from(named).unwrap_or(u64::MAX).saturating_add(1)
    }
}

/// Why a bonus lot was credited.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum BonusCause {
    /// A streak milestone.
    Streak {
        /// The milestone reached.
        hit: MilestoneHit,
    },
    /// A badge level.
    Badge {
        /// The level granted.
        grant: BadgeGrant,
    },
}

/// A bonus lot an event earned besides its rule awards.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct Bonus {
    /// Its name on the lot and the statement (`streak day 7`,
    /// `badge helper gold`).
    pub rule: Label,
    /// Points credited.
    pub points: u64,
    /// Why.
    pub cause: BonusCause,
}

impl std::fmt::Display for Bonus {
    /// `+50 streak day 7`, as on the statement.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "+{} {}", self.points, self.rule)
    }
}

/// What [`Program::earn`] did to an account.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Default, Serialize, Deserialize)]
pub struct AccountOutcome {
    /// The rule awards. If [`Earned::duplicate`], nothing else happened.
    pub earned: Earned,
    /// The check-in, if the event is one.
    pub check_in: Option<CheckInOutcome>,
    /// Badge levels granted (and, for a catalog whose thresholds were
    /// raised, revoked) by the event's counters, points and streak: the
    /// three steps' outcomes in that order, each by badge in catalog order
    /// (so a points badge reached with an event badge comes after it,
    /// wherever the catalog lists it).
    pub badges: BadgeOutcome,
    /// The bonus lots credited: streak milestones, then badge levels.
    pub bonuses: Vec<Bonus>,
    /// The sum of the bonuses' points.
    pub bonus_total: u64,
    /// The tier step, if the program has a ladder.
    pub tier: Option<TierOutcome>,
    /// Reversals of revoked levels' bonus points, if any.
    pub bonus_reversals: Vec<Reversal>,
    /// Every statement entry the step wrote, in the order it wrote them:
    /// the rule awards', then the bonuses' and the bonus reversals' (the
    /// entries of [`AccountOutcome::bonus_reversals`] are among them, so a
    /// host appending these has the whole history).
    pub entries: Vec<Entry>,
}

impl AccountOutcome {
    /// The rule awards alone: no check-in, badge, bonus or tier step.
    fn nothing(earned: Earned) -> AccountOutcome {
        AccountOutcome {
            earned,
            check_in: None,
            badges: BadgeOutcome::default(),
            bonuses: Vec::new(),
            bonus_total: 0,
            tier: None,
            bonus_reversals: Vec::new(),
            entries: Vec::new(),
        }
    }
}

/// A failed [`Program::earn_in_place`]: the error, and whether the account
/// was left partly stepped.
#[derive(Debug)]
pub(crate) struct Partly {
    pub(crate) error: AccountError,
    pub(crate) changed: bool,
}

/// What [`Program::reverse_in`] did to an account.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct AccountReversal {
    /// The reversal of the event's rule awards.
    pub reversal: Reversal,
    /// The tier retraction, if the program has a ladder; its change is the
    /// revocation, with the reason, if the tier rested on the reversed
    /// points. Points the reversal made up (see [`MadeUp`](super::MadeUp))
    /// count towards a points tier after it, and may lift the member
    /// again: the outcome is then the tier, multiplier, tally and grace
    /// they leave, `counted` is still what the retraction took, and the
    /// change is the reversal's as a whole, from the tier before it to the
    /// tier after it (none if the made-up points reached the revoked tier
    /// again), with the reason of the last step that moved the member that
    /// way: the revocation, or the made-up points reaching a threshold.
    pub tier: Option<TierOutcome>,
    /// Badge levels revoked, with the reason, and those the points the
    /// reversal made up reached (see [`MadeUp`](super::MadeUp)): the
    /// points badges' step for the points reversed, then theirs for each
    /// made-up award, then the event badges' step once the event is wholly
    /// reversed, each by badge in catalog order.
    pub badges: BadgeOutcome,
    /// The bonus lots credited for levels the made-up points reached.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bonuses: Vec<Bonus>,
    /// The reversals of the revoked levels' bonus points, in the order of
    /// [`BadgeOutcome::revoked`] (levels that granted no points, or whose
    /// award the ledger no longer remembers, have none).
    pub bonus_reversals: Vec<Reversal>,
    /// Every statement entry the reversal wrote, in the order it wrote
    /// them: the reversal's own ([`Reversal::entries`], with those of the
    /// points it made up), then the bonus reversals' and the entries of the
    /// bonuses credited for levels the made-up points reached. A host
    /// appending these (not `reversal.entries`, which they include) has the
    /// whole history.
    #[serde(default)]
    pub entries: Vec<Entry>,
    /// `true` when this is the stored result of an earlier call with the
    /// same key; nothing changed this time.
    pub repeated: bool,
}

/// What [`Program::evaluate_account`] did.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct AccountEvaluation {
    /// The tier evaluation, if the program has a ladder.
    pub tier: Option<TierOutcome>,
    /// Points retired by expiry.
    pub expired: u64,
    /// The statement entries it wrote: the expiry's (`−n expired`, at
    /// `now`), if anything expired.
    #[serde(default)]
    pub entries: Vec<Entry>,
}

/// Bonus bookkeeping of one step, gathered for its outcome.
#[derive(Debug, Default)]
pub(crate) struct Settled {
    badges: BadgeOutcome,
    /// As [`AccountOutcome::bonuses`].
    pub(crate) bonuses: Vec<Bonus>,
    /// As [`AccountOutcome::bonus_total`].
    pub(crate) bonus_total: u64,
    /// The statement entries of the bonuses and of the bonus reversals,
    /// in the order written.
    entries: Vec<Entry>,
    reversals: Vec<Reversal>,
}

impl Settled {
    /// Empty again, keeping its lists' room.
    #[inline]
    fn clear(&mut self) {
        let Settled {
            badges,
            bonuses,
            bonus_total,
            entries,
            reversals,
        } = self;
        // Named without `..`, so a field added later is not forgotten here.
        let BadgeOutcome {
            granted,
            revoked,
            points,
            points_revoked,
        } = badges;
        (*points, *points_revoked) = (0, 0);
        *bonus_total = 0;
        // Most steps settle nothing: one test of the lengths instead of a
        // clear (a loop of drops) per list.
        let lengths = granted.len() | revoked.len() | bonuses.len() | entries.len();
        if lengths | reversals.len() != 0 {
            granted.clear();
            revoked.clear();
            bonuses.clear();
            entries.clear();
            reversals.clear();
        }
    }
}

/// What an event's step did beyond its rule awards and their bonuses,
/// for a caller that explains it ([`Program::earn`]).
#[derive(Default)]
struct Beyond {
    check_in: Option<CheckInOutcome>,
    /// The tier step, if the program has a ladder.
    tier: Option<TierOutcome>,
}

/// How [`Program::earn`] takes an event it did not refuse.
enum Admitted {
    /// New to the account: its step is to be run.
    New,
    /// Seen before: answered, changing nothing.
    Duplicate,
    /// New, under a program with no tiers, streak or badges: its ledger
    /// step, all or nothing by itself, is all there is to run.
    LedgerOnly,
}

/// An account step as a batch reads it ([`Program::earn_in_place`]): an
/// [`AccountOutcome`] in short, written over for each event, its lists
/// keeping their room.
#[derive(Debug, Default)]
pub(crate) struct BatchStep {
    /// The rule awards: [`Earned::duplicate`] and [`Earned::total`] are
    /// read (the awards go to the batch in short, see [`Noting`]).
    pub(crate) earned: Earned,
    /// The bonuses: [`AccountOutcome::bonuses`] and
    /// [`AccountOutcome::bonus_total`] are read.
    pub(crate) settled: Settled,
    /// The member's tier as the rules saw it at the step before, kept
    /// while the tier stays (see `tier_context`).
    context: EarnContext,
}

impl BatchStep {
    /// Writes over it with a whole outcome, in short.
    pub(crate) fn answer(&mut self, outcome: AccountOutcome) {
        self.earned = outcome.earned;
        self.settled.clear();
        self.settled.bonuses = outcome.bonuses;
        self.settled.bonus_total = outcome.bonus_total;
    }
}

impl<Tz: TimeZone> Program<Tz> {
    /// The validated `tiers` section, if any.
    pub fn tier_ladder(&self) -> Option<&TierLadder> {
        self.account.tiers.as_ref()
    }

    /// The validated `streak` section's rules, if any.
    pub fn streak_rules(&self) -> Option<&StreakRules> {
        self.account.streak.as_ref().map(|c| &c.rules)
    }

    /// The validated `badges` section, if any.
    pub fn badge_catalog(&self) -> Option<&BadgeCatalog> {
        self.account.badges.as_ref()
    }

    /// Whether the program has a `tiers`, `streak` or `badges` section, so
    /// that a member is an [`Account`] rather than a bare [`Ledger`].
    pub(crate) fn has_account_rules(&self) -> bool {
        !self.account.is_empty()
    }

    /// A new member's account: an empty ledger keeping this program's
    /// statement entries, the ladder's base tier, no streak, no badges;
    /// version 0. See [`Account`].
    pub fn open_account(&self, user: UserId, joined_at: DateTime<Utc>) -> Account {
        Account {
            version: 0,
            user,
            joined_at,
            ledger: self.new_ledger(),
            tier: self
                .account
                .tiers
                .as_ref()
                .map(|l| l.start(joined_at, &self.zone)),
            streak: Streak::new(),
            badges: super::Badges::new(),
            next_bonus: top_id(),
            held_levels: Vec::new(),
            contributions: VecDeque::new(),
            reversals: VecDeque::new(),
        }
    }

    /// Makes `account` equal to [`Program::open_account`]`(user,
    /// joined_at)`, keeping its buffers (the ledger's, see
    /// [`Ledger::reset`], and the account's own lists): a batch that runs
    /// member after member through one account allocates for the heaviest
    /// member so far, not for every member.
    pub(crate) fn reopen_account(
        &self,
        account: &mut Account,
        user: UserId,
        joined_at: DateTime<Utc>,
    ) {
        // Named without `..`, so a field added later cannot survive by
        // being forgotten here.
        let Account {
            version,
            user: member,
            joined_at: joined,
            ledger,
            tier,
            streak,
            badges,
            next_bonus,
            held_levels,
            contributions,
            reversals,
        } = account;
        *version = 0;
        *member = user;
        *joined = joined_at;
        ledger.reset();
        match (self.account.tiers.as_ref(), tier.as_mut()) {
            (Some(ladder), Some(status)) => ladder.restart(status, joined_at, &self.zone),
            (ladder, _) => *tier = ladder.map(|l| l.start(joined_at, &self.zone)),
        }
        *streak = Streak::new();
        *badges = super::Badges::new();
        *next_bonus = top_id();
        held_levels.clear();
        contributions.clear();
        reversals.clear();
    }

    /// Runs `event` through the member's account: rule awards with the
    /// tier's multiplier (and `stage`, for stage conditions), then the
    /// check-in streak, badges and tier, crediting bonuses (see
    /// [`Account`]). All or nothing; an event id seen before changes
    /// nothing anywhere.
    ///
    /// The step runs on the account itself when everything after the rule
    /// awards (which fail, if at all, before changing anything) is sure to
    /// succeed: when the event can award at most 2^62 points (and the
    /// program's bonuses, and a purchase's qualifying spend, come to at
    /// most as much), every count the step adds to (balances, tallies,
    /// streak, badge counts), version, lot number and bonus id is far from
    /// the end of its type (as in every account but one built or edited to
    /// be near them), a bonus's expiry falls within chrono's calendar, and
    /// no badge holds a level its count does not reach (as after a catalog
    /// raised its thresholds: the step could revoke it). Otherwise it runs
    /// on a copy, kept only once every part has succeeded, in time
    /// proportional to the account's lots, statement and remembered awards.
    pub fn earn(
        &self,
        account: &mut Account,
        event: &Event,
        stage: Option<Stage>,
    ) -> Result<AccountOutcome, AccountError> {
        self.earn_with(account, (event, stage), true)
    }

    /// [`Program::earn`], stepping the account itself only if `in_place`
    /// allows it.
    fn earn_with(
        &self,
        account: &mut Account,
        (event, stage): (&Event, Option<Stage>),
        in_place: bool,
    ) -> Result<AccountOutcome, AccountError> {
        match self.admit(account, (event, false))? {
            Admitted::New => {}
            admitted => return self.answer(account, (event, stage), admitted),
        }
        if in_place && self.steps_in_place(account, event) {
            // The rule awards fail, if at all, before changing anything;
            // `steps_in_place` makes sure the rest succeeds.
            return self.earn_in(account, event, stage);
        }
        let mut next = account.clone();
        let outcome = self.earn_in(&mut next, event, stage)?;
        *account = next;
        Ok(outcome)
    }

    /// [`Program::earn`] always on a copy: what stepping in place is tested
    /// against.
    #[cfg(test)]
    pub(crate) fn earn_by_copy(
        &self,
        account: &mut Account,
        event: &Event,
        stage: Option<Stage>,
    ) -> Result<AccountOutcome, AccountError> {
        self.earn_with(account, (event, stage), false)
    }

    /// Whether [`Program::earn`] can step `account` itself through `event`
    /// instead of a copy: whether everything after the rule awards (which
    /// fail, if at all, before changing anything) is sure to succeed. It
    /// is, when the awards can come to at most [`ROOM`] points, every
    /// count it adds to is at most `ROOM` (the ledger's totals, the
    /// tier's tally, each badge's count), every version, lot number and
    /// bonus id far enough from its end, a spend it records at most
    /// `ROOM`, the program's bonuses at most `ROOM` in all, their expiry
    /// computable at the event's time, and no badge level held that its
    /// count does not reach (a badge step could then revoke, and revoking
    /// reverses a bonus, which can fail). Checked once an event, at a small
    /// fraction of a copy's cost.
    fn steps_in_place(&self, acc: &Account, event: &Event) -> bool {
        let rules = &self.account;
        let (bonus_points, bonus_lots) = rules.bonuses;
        // The rule awards' lots and version, then a lot and a version a bonus.
        let steps = u64::try_from(self.spec.rules.len())
            .unwrap_or(u64::MAX)
            .saturating_add(bonus_lots)
            .saturating_add(1);
        // A bonus id is drawn for each bonus, passing over the events a
        // reversal can still name.
        let bonus_ids = bonus_lots.saturating_add(acc.bonus_ids_passed_over());
        // The tier's multiplier, and whether its record is sure to succeed.
        let (tier, records_safely) = match (&rules.tiers, &acc.tier) {
            (Some(ladder), Some(status)) => {
                let spend = match (ladder.spec().basis, &event.kind) {
                    (QualifyingBasis::Spend { .. }, EventKind::Purchase { amount }) => {
                        ladder.qualifying_spend(*amount).ok()
                    }
                    _ => Some(0),
                };
                (
                    ladder.current(status).ok().map(|t| t.multiplier),
                    ladder.records_safely(status, ROOM) && spend.is_some_and(|s| s <= ROOM),
                )
            }
            // A ladder added since starts its members at the base tier,
            // with nothing counted.
            (Some(ladder), None) => (ladder.tiers().first().map(|t| t.multiplier), true),
            (None, _) => (None, true),
        };
        records_safely
            && acc.version < u64::MAX
            && self
                .awards_at_most(event, tier)
                .is_some_and(|most| most <= ROOM)
            && bonus_points <= ROOM
            && acc.ledger.has_room(ROOM, steps)
            && acc.next_bonus > bonus_ids
            && (bonus_lots == 0 || self.spec.expiry.expires_at(event.at, &self.zone).is_ok())
            && (rules.streak.is_none() || acc.streak.has_room())
            && rules
                .badges
                .as_ref()
                .is_none_or(|c| c.counts_safely(&acc.badges, ROOM))
    }

    /// [`Program::earn`] for a batch (a simulation), without the copy that
    /// makes a failed step change nothing: the batch redoes a member from
    /// the start instead, and a copy per event costs more than the step.
    /// An error that [`Partly::changed`] the account left it partly
    /// stepped (only an overflow after the rule awards does); any other
    /// error changed nothing, as in [`Program::earn`].
    ///
    /// The rule awards go to the batch in short ([`Noting`]), and what
    /// else the step did is written into `out`, in short too: a batch that
    /// reads no explanation, statement entry or tier outcome has none
    /// built (building and dropping a whole [`AccountOutcome`] cost as much
    /// as a tenth of the step).
    pub(crate) fn earn_in_place(
        &self,
        account: &mut Account,
        event: &Event,
        stage: Option<Stage>,
        (batch, out): (Noting<'_>, &mut BatchStep),
    ) -> Result<(), Partly> {
        let unchanged = |error| Partly {
            error,
            changed: false,
        };
        let fresh = batch.fresh;
        match self.admit(account, (event, fresh)).map_err(unchanged)? {
            Admitted::New => {}
            admitted => {
                let answer = self.answer(account, (event, stage), admitted);
                out.answer(answer.map_err(unchanged)?);
                return Ok(());
            }
        }
        let BatchStep {
            earned,
            settled,
            context,
        } = out;
        context.stage = stage;
        self.earn_rules(account, event, (context, earned), Some(batch))
            .map_err(unchanged)?;
        settled.clear();
        self.earn_beyond_rules(account, event, earned.total, (settled, None))
            .map_err(|error| Partly {
                error,
                changed: true,
            })?;
        Ok(())
    }

    /// What [`Program::earn`] settles before its copy: an event refused
    /// (another member's, too late, a reserved id) is an error; otherwise,
    /// how it is taken.
    ///
    /// A `fresh` event is one a batch vouches is new to the ledger's window
    /// of ids (see [`Noting::fresh`]): the window is not asked. Always
    /// inlined (see [`Account::is_bonus_id`]).
    #[inline(always)]
    fn admit(
        &self,
        account: &mut Account,
        (event, fresh): (&Event, bool),
    ) -> Result<Admitted, AccountError> {
        if event.user != account.user {
            return Err(AccountError::WrongUser {
                event: event.id,
                expected: account.user,
                got: event.user,
            });
        }
        let admission = match fresh {
            true => Admission::Fresh,
            false => account.ledger.seen.admit(event.id, event.at),
        };
        match admission {
            Admission::Duplicate => return Ok(Admitted::Duplicate),
            Admission::TooLate => return Err(PointsError::TooLate { id: event.id }.into()),
            Admission::Fresh => {}
        }
        if account.is_bonus_id(event.id) {
            return Err(AccountError::ReservedEventId { id: event.id });
        }
        Ok(match self.account.is_empty() {
            true => Admitted::LedgerOnly,
            false => Admitted::New,
        })
    }

    /// The outcome of an event [`Program::admit`] took as a duplicate
    /// (changing nothing, and saying so) or as a step of the ledger alone,
    /// which needs no copy; with `stage` for stage conditions.
    fn answer(
        &self,
        account: &mut Account,
        (event, stage): (&Event, Option<Stage>),
        admitted: Admitted,
    ) -> Result<AccountOutcome, AccountError> {
        if let Admitted::Duplicate = admitted {
            let earned = self.apply(&mut account.ledger, event)?;
            return Ok(AccountOutcome::nothing(earned));
        }
        let version = account
            .version
            .checked_add(1)
            .ok_or(AccountError::Overflow)?;
        let ctx = EarnContext { stage, tier: None };
        let earned = self.apply_with(&mut account.ledger, event, &ctx)?;
        account.version = version;
        Ok(AccountOutcome {
            entries: earned.entries(event).collect(),
            ..AccountOutcome::nothing(earned)
        })
    }

    /// The step of [`Program::earn`], on the account or its copy.
    fn earn_in(
        &self,
        acc: &mut Account,
        event: &Event,
        stage: Option<Stage>,
    ) -> Result<AccountOutcome, AccountError> {
        let mut context = EarnContext { stage, tier: None };
        let mut earned = Earned::default();
        self.earn_rules(acc, event, (&mut context, &mut earned), None)?;
        let mut settled = Settled::default();
        let mut beyond = Beyond::default();
        self.earn_beyond_rules(acc, event, earned.total, (&mut settled, Some(&mut beyond)))?;
        let Beyond { check_in, tier } = beyond;
        let mut entries: Vec<Entry> = earned.entries(event).collect();
        entries.append(&mut settled.entries);
        Ok(AccountOutcome {
            earned,
            check_in,
            badges: settled.badges,
            bonuses: settled.bonuses,
            bonus_total: settled.bonus_total,
            tier,
            bonus_reversals: settled.reversals,
            entries,
        })
    }

    /// The rule awards of an event being earned into `earned`, in
    /// `context` (its stage set, its tier brought to the member's, see
    /// `tier_context`), with the member's tier's multiplier: the
    /// ledger's step, all or nothing, for a `batch` if given. Always
    /// inlined (see [`Account::is_bonus_id`]).
    #[inline(always)]
    fn earn_rules(
        &self,
        acc: &mut Account,
        event: &Event,
        (context, earned): (&mut EarnContext, &mut Earned),
        batch: Option<Noting<'_>>,
    ) -> Result<(), AccountError> {
        // A ladder added to a running program starts from the join date,
        // kept only once nothing can fail.
        let started = match (&self.account.tiers, &acc.tier) {
            (Some(ladder), None) => Some(ladder.start(acc.joined_at, &self.zone)),
            _ => None,
        };
        if let (Some(ladder), Some(status)) =
            (&self.account.tiers, started.as_ref().or(acc.tier.as_ref()))
        {
            tier_context(ladder, status, context)?;
        }
        self.apply_noting(&mut acc.ledger, event, context, earned, batch)?;
        if started.is_some() {
            acc.tier = started;
        }
        Ok(())
    }

    /// The rest of an event's step once its rule awards (`earned` points)
    /// are in: the streak, badges and tier, their bonuses added to
    /// `settled` (empty), the check-in's and the tier's outcomes written
    /// into `explained` if given (a batch that reads neither has neither
    /// built). Always inlined (see [`Account::is_bonus_id`]).
    #[inline(always)]
    fn earn_beyond_rules(
        &self,
        acc: &mut Account,
        event: &Event,
        earned: u64,
        (settled, mut explained): (&mut Settled, Option<&mut Beyond>),
    ) -> Result<(), AccountError> {
        let mut streak_length = None;
        if let Some(c) = &self.account.streak
            && c.on.matches(&event.kind)
        {
            let step = c.rules.check_in(&mut acc.streak, event.at, &self.zone)?;
            for hit in &step.milestones {
                let rule = Label::from(format!("{STREAK_BONUS_PREFIX}day {}", hit.length));
                let cause = BonusCause::Streak { hit: *hit };
                let by = (event.id, event.at);
                self.credit_bonus(acc, by, rule, hit.points, cause, settled)?;
            }
            if matches!(
                step.kind,
                CheckInKind::First | CheckInKind::Extended | CheckInKind::Restarted { .. }
            ) {
                streak_length = Some(step.length);
            }
            if let Some(explained) = explained.as_deref_mut() {
                explained.check_in = Some(step);
            }
        }

        if let Some(catalog) = &self.account.badges {
            let key = event.id.to_string();
            let by = (event.id, event.at);
            let step = catalog.record_event(&mut acc.badges, &event.kind, event.at)?;
            self.settle(acc, by, &key, step, settled)?;
            if earned > 0 {
                let step = catalog.record_points(&mut acc.badges, earned, event.at)?;
                self.settle(acc, by, &key, step, settled)?;
            }
            if let Some(length) = streak_length {
                let step = catalog.record_streak(&mut acc.badges, length, event.at)?;
                self.settle(acc, by, &key, step, settled)?;
            }
        }

        let mut qualifying = 0;
        if let (Some(ladder), Some(status)) = (&self.account.tiers, acc.tier.as_mut()) {
            let amount = match (ladder.spec().basis, &event.kind) {
                (QualifyingBasis::Points {}, _) => earned,
                // Another currency, or a negative amount, counts nothing.
                (QualifyingBasis::Spend { .. }, EventKind::Purchase { amount }) => {
                    ladder.qualifying_spend(*amount).unwrap_or(0)
                }
                (QualifyingBasis::Spend { .. }, _) => 0,
            };
            qualifying = match explained {
                Some(explained) => {
                    let step = ladder.record(status, event.at, amount, &self.zone)?;
                    explained.tier.insert(step).counted
                }
                None => ladder.record_counted(status, event.at, amount, &self.zone)?,
            };
        }

        // An event that earned no points is remembered too if a reversal
        // has something to take back: spend it added to the tier, or the
        // event itself from event badges (a purchase under a spend ladder
        // that no rule rewards). An account that remembers no awards (a
        // simulation's) and has no contribution to forget skips the call,
        // as `Ledger::credit` does.
        let keep = usize::from(self.spec.ledger.reversible_awards);
        let pointless = earned == 0;
        let counted = !pointless
            || qualifying > 0
            || self
                .account
                .badges
                .as_ref()
                .is_some_and(|c| c.counts_event(&event.kind));
        if counted && (keep > 0 || !acc.contributions.is_empty()) {
            remember_contribution(
                &mut acc.contributions,
                keep,
                Contribution {
                    source: event.id,
                    at: event.at,
                    kind: event.kind.clone(),
                    qualifying,
                    qualifying_retracted: 0,
                    event_retracted: false,
                    pointless,
                    unreversed: Unreversed::WHOLE,
                    reversed_millionths: 0,
                },
            );
        }
        acc.bump()?;
        Ok(())
    }

    /// Credits one bonus lot of `points` named `rule`, earned at `at` by
    /// event `shown_as`.
    fn credit_bonus(
        &self,
        acc: &mut Account,
        (shown_as, at): (EventId, DateTime<Utc>),
        rule: Label,
        points: u64,
        cause: BonusCause,
        settled: &mut Settled,
    ) -> Result<EventId, AccountError> {
        let source = acc.allocate_bonus_id()?;
        let lot = Lot {
            id: 0,
            source,
            rule: rule.clone(),
            earned_at: at,
            available_from: at,
            expires_at: self.spec.expiry.expires_at(at, &self.zone)?,
            remaining: points,
            held: 0,
            counted_global: false,
        };
        let mut entries = acc.ledger.credit_bonus(lot, shown_as, &self.spec.ledger)?;
        settled.entries.append(&mut entries);
        settled.bonus_total = settled
            .bonus_total
            .checked_add(points)
            .ok_or(AccountError::Overflow)?;
        settled.bonuses.push(Bonus {
            rule,
            points,
            cause,
        });
        Ok(source)
    }

    /// Credits the points of the levels a badge step granted, reverses
    /// those of the levels it revoked (the step of event `by.0` at `by.1`,
    /// under operation keys starting with `key`), and adds the step to
    /// `settled`.
    fn settle(
        &self,
        acc: &mut Account,
        by: (EventId, DateTime<Utc>),
        key: &str,
        step: BadgeOutcome,
        settled: &mut Settled,
    ) -> Result<(), AccountError> {
        for grant in step.granted.iter().filter(|g| g.points > 0) {
            let level = grant
                .level_name
                .as_ref()
                .map_or_else(|| format!("level {}", grant.level), Label::to_string);
            let rule = Label::from(format!("{BADGE_BONUS_PREFIX}{} {level}", grant.badge));
            let cause = BonusCause::Badge {
                grant: grant.clone(),
            };
            let source = self.credit_bonus(acc, by, rule, grant.points, cause, settled)?;
            acc.held_levels.push(HeldLevel {
                badge: grant.badge.clone(),
                level: grant.level,
                lot_source: source,
            });
        }
        for revoked in &step.revoked {
            let Some(at) = acc
                .held_levels
                .iter()
                .position(|h| h.badge == revoked.badge && h.level == revoked.level)
            else {
                continue;
            };
            let held = acc.held_levels.remove(at);
            if !acc.is_bonus_id(held.lot_source) {
                // The ledger has forgotten the bonus (and its id may name
                // an event now): its points stay.
                continue;
            }
            let key = OperationKey::from(format!(
                "{key}/badge {} level {}",
                revoked.badge, revoked.level
            ));
            match acc.ledger.reverse_bonus(
                key,
                held.lot_source,
                by.0,
                self.spec.ledger.clawback,
                &self.zone,
                by.1,
            ) {
                Ok(r) => {
                    settled.entries.extend(r.entries.iter().cloned());
                    settled.reversals.push(r);
                }
                // Too old to reverse, or reversed already: the points stay.
                Err(PointsError::UnknownEarning { .. } | PointsError::AlreadyReversed { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        absorb(&mut settled.badges, step)
    }

    /// Reverses `portion` of what event `source` earned (see
    /// [`Program::reverse`]), then takes back what those points had earned:
    /// qualifying points from the tier (revoking it, with the reason, if it
    /// rested on them), points from points badges and, once the event is
    /// wholly reversed, the event from event badges; a revoked level's bonus
    /// is reversed through the ledger. All or nothing; repeating `key`
    /// returns the first result and changes nothing.
    ///
    /// The reason given to the tier and badges is `"KEY reversed event#N"`.
    pub fn reverse_in(
        &self,
        account: &mut Account,
        key: OperationKey,
        source: EventId,
        portion: Portion,
        now: DateTime<Utc>,
    ) -> Result<AccountReversal, AccountError> {
        if let Some(first) = account.reversals.iter().find(|r| r.reversal.key == key) {
            let mut again = first.clone();
            again.repeated = true;
            again.reversal.repeated = true;
            return Ok(again);
        }
        if account.is_bonus_id(source) {
            return Err(AccountError::ReservedEventId { id: source });
        }
        let mut next = account.clone();
        let result = self.reverse_inner(&mut next, key, source, portion, now)?;
        if !result.repeated {
            *account = next;
        }
        Ok(result)
    }

    fn reverse_inner(
        &self,
        acc: &mut Account,
        key: OperationKey,
        source: EventId,
        portion: Portion,
        now: DateTime<Utc>,
    ) -> Result<AccountReversal, AccountError> {
        let contribution = acc.contributions.iter().position(|c| c.source == source);
        let pointless = contribution
            .and_then(|i| acc.contributions.get(i))
            .filter(|c| c.pointless);
        let reversal = match pointless {
            // The ledger knows nothing of an event that earned no points:
            // it only remembers the key.
            Some(c) if c.event_retracted => {
                return Err(PointsError::AlreadyReversed { id: source }.into());
            }
            Some(_) => {
                let clawback = self.spec.ledger.clawback;
                acc.ledger
                    .reverse_nothing(key.clone(), source, portion, clawback, now)?
            }
            None => self.reverse(&mut acc.ledger, key.clone(), source, portion, now)?,
        };
        if reversal.repeated {
            // Remembered by the ledger, forgotten by the account.
            return Ok(AccountReversal {
                entries: reversal.entries.clone(),
                reversal,
                tier: None,
                badges: BadgeOutcome::default(),
                bonuses: Vec::new(),
                bonus_reversals: Vec::new(),
                repeated: true,
            });
        }
        let reason = Label::from(format!("{key} reversed {source}"));
        // This reversal's part of what earlier ones left of the event.
        let part = contribution
            .and_then(|i| acc.contributions.get_mut(i))
            .map(|c| c.take(portion));

        let mut tier = None;
        if let (Some(ladder), Some(status)) = (&self.account.tiers, acc.tier.as_mut()) {
            let counted = contribution.and_then(|i| acc.contributions.get_mut(i));
            // What the tier counted for the event and has not given back.
            let open = counted
                .as_ref()
                .map(|c| c.qualifying.saturating_sub(c.qualifying_retracted));
            let amount = match ladder.spec().basis {
                // Points reversed, never more than were counted.
                QualifyingBasis::Points {} => reversal.points.min(open.unwrap_or(u64::MAX)),
                // The same part of the spend not yet taken back (the share
                // of the spend, for a contribution stored without its part).
                QualifyingBasis::Spend { .. } => match (counted.as_ref(), part, open) {
                    (Some(c), Some((_, true)), Some(open)) => portion.of(c.qualifying).min(open),
                    (Some(_), Some((part, false)), Some(open)) => part.of(open),
                    _ => 0,
                },
            };
            let at = counted.as_ref().map_or_else(
                || reversal.awards.first().map_or(now, |a| a.earned_at),
                |c| c.at,
            );
            let before = status.tier().clone();
            let step = ladder.retract(status, at, now, amount, reason.clone(), &self.zone)?;
            if let Some(c) = counted {
                c.qualifying_retracted = c.qualifying_retracted.saturating_add(step.counted);
            }
            tier = Some((before, step));
        }

        let mut settled = Settled::default();
        if let Some(catalog) = &self.account.badges {
            let key = key.to_string();
            let by = (source, now);
            if reversal.points > 0 {
                let step = catalog.retract_points(
                    &mut acc.badges,
                    reversal.points,
                    now,
                    reason.clone(),
                )?;
                self.settle(acc, by, &key, step, &mut settled)?;
            }
        }
        let recorded = self.count_made_up(acc, (&reversal, key.as_str()), &mut settled)?;
        // The tier as the reversal leaves it: made-up points may have moved
        // it up again.
        let tier = match (&self.account.tiers, tier) {
            (Some(ladder), Some((before, retracted))) => {
                Some(after_made_up(ladder, before, retracted, recorded))
            }
            _ => None,
        };
        // Once wholly reversed (its shares add up to the whole, or, for an
        // event stored without its part, its awards are), the event itself
        // is taken back.
        let ledger = &acc.ledger;
        let counted = contribution.and_then(|i| acc.contributions.get_mut(i));
        let kind = counted.filter(|c| !c.event_retracted).and_then(|c| {
            let whole = c.unreversed.is_nothing()
                || (!c.pointless
                    && ledger
                        .earnings()
                        .filter(|e| e.source == source)
                        .all(|e| e.reversed >= e.points));
            c.event_retracted = whole;
            whole.then(|| c.kind.clone())
        });
        if let (Some(kind), Some(catalog)) = (kind, &self.account.badges) {
            let step = catalog.retract_event(&mut acc.badges, &kind, now, reason.clone())?;
            self.settle(acc, (source, now), key.as_str(), step, &mut settled)?;
        }
        acc.bump()?;
        let mut entries = reversal.entries.clone();
        entries.append(&mut settled.entries);
        let result = AccountReversal {
            reversal,
            tier,
            badges: settled.badges,
            bonuses: settled.bonuses,
            bonus_reversals: settled.reversals,
            entries,
            repeated: false,
        };
        // `while`, not `if`: a stored account may have read back
        // remembering more.
        while acc.reversals.len() >= REMEMBERED_REVERSALS {
            acc.reversals.pop_front();
        }
        acc.reversals.push_back(result.clone());
        Ok(result)
    }

    /// Counts the points `reversal` made up (see
    /// [`MadeUp`](super::MadeUp)) as earned: towards a points tier, at
    /// their awards' own time, and towards points badges, whose bonuses go
    /// to `settled`. Each award's event, if the account remembers it, now
    /// has points to take back. The tier's record steps, in order.
    fn count_made_up(
        &self,
        acc: &mut Account,
        (reversal, key): (&Reversal, &str),
        settled: &mut Settled,
    ) -> Result<Vec<TierOutcome>, AccountError> {
        let mut recorded = Vec::new();
        for made in &reversal.made_up {
            let contribution = acc
                .contributions
                .iter()
                .position(|c| c.source == made.source);
            if let Some(c) = contribution.and_then(|i| acc.contributions.get_mut(i)) {
                c.pointless = false;
            }
            if let (Some(ladder), Some(status)) = (&self.account.tiers, acc.tier.as_mut())
                && matches!(ladder.spec().basis, QualifyingBasis::Points {})
            {
                let step = ladder.record(status, made.earned_at, made.points, &self.zone)?;
                if let Some(c) = contribution.and_then(|i| acc.contributions.get_mut(i)) {
                    c.qualifying = c.qualifying.saturating_add(step.counted);
                }
                recorded.push(step);
            }
            if let Some(catalog) = &self.account.badges {
                let step = catalog.record_points(&mut acc.badges, made.points, reversal.at)?;
                self.settle(acc, (made.source, reversal.at), key, step, settled)?;
            }
        }
        Ok(recorded)
    }

    /// The periodic housekeeping: the tier's evaluation as of `now`
    /// (downgrade once grace has run out, see [`TierLadder::evaluate`]) and
    /// [`Ledger::expire`]. The version is bumped if either changed anything.
    pub fn evaluate_account(
        &self,
        account: &mut Account,
        now: DateTime<Utc>,
    ) -> Result<AccountEvaluation, AccountError> {
        let version = account
            .version
            .checked_add(1)
            .ok_or(AccountError::Overflow)?;
        let (tier, changed) = self.evaluate_tier(account, now)?;
        // Infallible, so it comes last.
        let expired = account.ledger.expire(now);
        if changed || expired > 0 {
            account.version = version;
        }
        let entries = Entry::of_parts(now, [(expired, super::EntryKind::Expired)]).collect();
        Ok(AccountEvaluation {
            tier,
            expired,
            entries,
        })
    }

    /// The tier half of [`Program::evaluate_account`], leaving the version
    /// alone: the evaluation, if the program has a ladder, and whether it
    /// changed the member's status. All or nothing.
    pub(crate) fn evaluate_tier(
        &self,
        account: &mut Account,
        now: DateTime<Utc>,
    ) -> Result<(Option<TierOutcome>, bool), AccountError> {
        let Some(ladder) = &self.account.tiers else {
            return Ok((None, false));
        };
        // In place: an evaluation that fails changes nothing. A ladder
        // added to a running program starts from the join date.
        match account.tier.as_mut() {
            Some(status) => {
                let before = status.version();
                let step = ladder.evaluate(status, now, &self.zone)?;
                Ok((Some(step), status.version() != before))
            }
            None => {
                let mut status = ladder.start(account.joined_at, &self.zone);
                let step = ladder.evaluate(&mut status, now, &self.zone)?;
                account.tier = Some(status);
                Ok((Some(step), true))
            }
        }
    }
}

/// Brings `context`'s tier to the member's (`status`, on `ladder`): kept
/// if it names the tier already, as it does from one step to the next of a
/// batch that keeps its context, so that the tier is neither looked up nor
/// its name cloned again. A context's tier is only ever set here, from
/// this ladder, so a name shared (by pointer) is the same tier of it.
#[inline]
fn tier_context(
    ladder: &TierLadder,
    status: &TierStatus,
    context: &mut EarnContext,
) -> Result<(), TierError> {
    let kept = context.tier.as_ref();
    if !kept.is_some_and(|t| t.name.shares_text_with(status.tier())) {
        let tier = ladder.current(status)?;
        *context = std::mem::take(context).with_tier_of(tier);
    }
    Ok(())
}

/// The outcome of a reversal's steps on the tier: `retracted`, which found
/// the member at tier `before`, then the records of the points it made up
/// (see [`MadeUp`](super::MadeUp)), `recorded`. The tier, multiplier,
/// tally and grace are those after the last step, `counted` is what the
/// retraction took, and the change is the reversal's as a whole: from
/// `before` to the tier after the last step, if they differ, with the
/// reason and instant of the last step that moved the member that way (a
/// revocation the made-up points undid is no change).
fn after_made_up(
    ladder: &TierLadder,
    before: Label,
    retracted: TierOutcome,
    recorded: Vec<TierOutcome>,
) -> TierOutcome {
    if recorded.is_empty() {
        return retracted;
    }
    let rank = |name: &Label| ladder.tiers().iter().position(|t| &t.name == name);
    let counted = retracted.counted;
    let mut changes: Vec<TierChange> = Vec::new();
    let mut after = retracted;
    for step in recorded {
        changes.extend(after.change.take());
        after = step;
    }
    changes.extend(after.change.take());
    let up = rank(&after.tier) > rank(&before);
    let change = match after.tier == before {
        true => None,
        false => changes
            .into_iter()
            .rev()
            .find(|c| (rank(&c.to) > rank(&c.from)) == up),
    };
    TierOutcome {
        change: change.map(|c| TierChange {
            from: before,
            to: after.tier.clone(),
            ..c
        }),
        counted,
        ..after
    }
}

/// Adds one badge step to the outcome of a whole account step.
fn absorb(into: &mut BadgeOutcome, step: BadgeOutcome) -> Result<(), AccountError> {
    into.points = into
        .points
        .checked_add(step.points)
        .ok_or(AccountError::Overflow)?;
    into.points_revoked = into
        .points_revoked
        .checked_add(step.points_revoked)
        .ok_or(AccountError::Overflow)?;
    into.granted.extend(step.granted);
    into.revoked.extend(step.revoked);
    Ok(())
}

#[cfg(test)]
mod in_place_tests;
#[cfg(test)]
mod tests;
