//! Points programs: rules that award points for events, and a per-user
//! [`Ledger`] of expiring lots that points are redeemed from.
//!
//! A [`ProgramSpec`] is data an operator writes (JSON); [`ProgramSpec::validate`]
//! checks it into a [`Program`]. [`Program::apply`] (or
//! [`Program::apply_with`], given the user's stage and tier in an
//! [`EarnContext`]) is the earning step: every rule whose trigger and
//! [`Condition`]s match the event awards points, highest priority first and
//! one per exclusive group, multiplied by the tier's and the rule's
//! [`Multiplier`], held back by its cooldown, and trimmed or rejected by its
//! caps per local day, ISO week, calendar month and lifetime and by the
//! program's global daily cap; each [`Award`] explains itself.
//! [`Ledger::redeem`] spends the earliest-expiring points first under an
//! idempotency key, and [`Ledger::expire`] retires what is due. Every step is
//! pure (time comes from the event or a `now` argument), and a failed step
//! changes nothing.
//!
//! The ledger, in more detail:
//!
//! - a rule may keep its points *pending* for some days (a purchase's return
//!   window) before they can be spent ([`RuleSpec::pending_days`]);
//! - points expire never, days after earning, or calendar months after
//!   earning in the program's zone, optionally at the end of that month,
//!   quarter or year ([`Expiry`]);
//! - checkouts reserve points with [`Ledger::hold`], then
//!   [`capture`](Ledger::capture) or [`release`](Ledger::release) them
//!   ([`Hold`]);
//! - [`Program::reverse`] claws back what an event earned (a refund), wholly
//!   or a share, including points already spent, under the program's
//!   [`Clawback`] policy, and gives the cap room back ([`Reversal`]);
//! - every operation takes an [`OperationKey`]: a retry returns the first
//!   result and changes nothing;
//! - the [`Ledger`] docs state where every point is, and the invariant
//!   [`Ledger::check`] verifies: `earned = available + held + redeemed +
//!   expired + reversed`;
//! - the statement ([`Ledger::statement`], [`Entry`]) is the dated history
//!   a member sees, bounded in the ledger and carried whole by each result.
//!
//! # One engine per member: the [`Account`]
//!
//! A program may also carry a tier ladder (`tiers`, a [`TierLadderSpec`]),
//! check-in streaks (`streak`, a [`CheckInStreakSpec`]) and badges
//! (`badges`, a [`BadgeCatalogSpec`]). [`Program::open_account`] opens a
//! member's [`Account`] (ledger, tier, streak and badges together), and
//! three steps keep them in step:
//!
//! - [`Program::earn`]: the rule awards, multiplied by the member's tier;
//!   then the check-in streak (milestones credited as bonus lots,
//!   `+50 streak day 7`), badges (levels' points credited,
//!   `+100 badge helper gold`) and the tier's qualifying points (an upgrade
//!   at once). All or nothing, and a redelivered event changes nothing.
//! - [`Program::reverse_in`]: the ledger's reversal, then what the reversed
//!   points had earned is taken back: a tier or badge level no longer
//!   deserved is revoked with the reason, and a revoked level's points are
//!   reversed through the ledger.
//! - [`Program::evaluate_account`]: the periodic housekeeping (tier
//!   downgrade after grace, expiry).
//!
//! ```
//! use chrono::{TimeDelta, TimeZone, Utc};
//! use growthkit::points::ProgramSpec;
//! use growthkit::{Event, EventId, EventKind, UserId};
//!
//! // +10 a check-in; +50 on the 7th day in a row; silver (×1.5) at 60
//! // points in 30 days, kept 7 days after falling below.
//! let program = serde_json::from_str::<ProgramSpec>(r#"{
//!     "utc_offset": "+08:00",
//!     "rules": [{ "name": "check_in", "on": "check_in", "reward": { "type": "fixed", "points": 10 } }],
//!     "streak": { "milestones": [{ "day": 7, "points": 50 }] },
//!     "tiers": { "basis": { "type": "points" }, "window": { "type": "rolling_days", "days": 30 },
//!                "grace": { "type": "days", "days": 7 },
//!                "tiers": [{ "name": "member", "threshold": 0 },
//!                          { "name": "silver", "threshold": 60, "multiplier": 1.5 }] }
//! }"#)?.validate()?;
//!
//! let evening = Utc.with_ymd_and_hms(2026, 3, 1, 13, 0, 0).unwrap(); // 21:00 in Beijing
//! let mut account = program.open_account(UserId(7), evening);
//! for day in 0..7 {
//!     let at = evening + TimeDelta::days(day);
//!     let event = Event::new(EventId(day as u64), UserId(7), at, EventKind::CheckIn { community: None });
//!     let step = program.earn(&mut account, &event, None)?;
//!     // Silver from the 6th check-in (60 points) on: the 7th earns 15.
//!     assert_eq!(step.earned.total, if day < 6 { 10 } else { 15 });
//! }
//! let statement: Vec<String> = account.ledger().statement().map(|e| e.to_string()).collect();
//! assert_eq!(statement[statement.len() - 2..], [
//!     "2026-03-07 13:00:00 UTC +15 check_in (event#6)",
//!     "2026-03-07 13:00:00 UTC +50 streak day 7 (event#6)",
//! ]);
//!
//! // Forty days later the tier's window is empty: grace, then the demotion.
//! let later = evening + TimeDelta::days(40);
//! assert!(program.evaluate_account(&mut account, later)?.tier.is_some_and(|t| t.change.is_none()));
//! let step = program.evaluate_account(&mut account, later + TimeDelta::days(7))?;
//! assert_eq!(step.tier.and_then(|t| t.change).map(|c| c.to.to_string()), Some("member".into()));
//! account.ledger().check()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Example: a learning platform
//!
//! ```
//! use chrono::{TimeDelta, TimeZone, Utc};
//! use growthkit::points::{Ledger, ProgramSpec};
//! use growthkit::{Event, EventId, EventKind, Money, UserId};
//!
//! // +10 per lesson, at most 3 lessons a local day (Beijing time);
//! // 1 point per ¥10 spent, rounded down; points expire after 365 days.
//! let program = serde_json::from_str::<ProgramSpec>(r#"{
//!     "utc_offset": "+08:00",
//!     "expiry": { "type": "after_days", "days": 365 },
//!     "rules": [
//!         { "name": "lesson", "on": "action_completed:lesson",
//!           "reward": { "type": "fixed", "points": 10 },
//!           "daily_cap": { "count": 3 } },
//!         { "name": "purchase", "on": "purchase",
//!           "reward": { "type": "per_amount", "points": 1, "per_minor": 1000, "rounding": "down" } }
//!     ]
//! }"#)?.validate()?;
//!
//! let learner = UserId(7);
//! let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 1, 0, 0).unwrap(); // 09:00 in Beijing
//! let mut ledger = Ledger::new();
//! for i in 0..4 {
//!     let lesson = EventKind::ActionCompleted { action: "lesson".into() };
//!     let event = Event::new(EventId(i), learner, t0 + TimeDelta::hours(i as i64), lesson);
//!     let earned = program.apply(&mut ledger, &event)?;
//!     // The fourth lesson of the day is capped.
//!     assert_eq!(earned.total, if i < 3 { 10 } else { 0 });
//! }
//! // ¥99.90 earns 9 points (rounded down).
//! let paid = EventKind::Purchase { amount: Money::new(9_990, "CNY".parse()?) };
//! let earned = program.apply(&mut ledger, &Event::new(EventId(9), learner, t0, paid))?;
//! assert_eq!(earned.total, 9);
//! assert_eq!(ledger.available(), 39);
//!
//! // Spend 25 points on a coupon; retrying the same order changes nothing.
//! let now = t0 + TimeDelta::days(1);
//! let spent = ledger.redeem("order-1".into(), 25, now)?;
//! assert_eq!(spent.points(), 25);
//! assert!(ledger.redeem("order-1".into(), 25, now)?.repeated());
//! assert_eq!(ledger.available(), 14);
//!
//! // A year later the rest expires.
//! assert_eq!(ledger.expire(t0 + TimeDelta::days(366)), 14);
//! ledger.check()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod account;
mod badge;
mod condition;
mod counters;
mod earn;
mod entry_list;
mod expiry;
pub(crate) mod fields;
mod hold;
mod inline_deque;
mod ledger;
mod limits;
mod make_up;
mod multiplier;
mod program;
mod rare_list;
mod remembered;
mod reversal;
mod rule;
mod simulate;
mod statement;
mod streak;
mod taken;
mod tier;

pub use account::{
    Account, AccountError, AccountEvaluation, AccountOutcome, AccountReversal, BADGE_BONUS_PREFIX,
    Bonus, BonusCause, CheckInStreakSpec, REMEMBERED_REVERSALS, STREAK_BONUS_PREFIX,
};
pub use badge::{
    BadgeCatalog, BadgeCatalogSpec, BadgeCounter, BadgeError, BadgeGrant, BadgeLevel, BadgeOutcome,
    BadgeProgress, BadgeRevocation, BadgeSpec, Badges, EarnedLevel,
};
pub use condition::{
    CHANNEL_ATTR, COMMUNITY_ATTR, Comparison, Condition, ConditionProblem, EarnContext,
    TierStanding,
};
pub use earn::{Award, Earned, PerAmountCalc, SkipReason, Skipped};
pub use entry_list::EntryList;
pub use expiry::{Expiry, MAX_DAYS, MAX_MONTHS, PeriodEnd};
pub use hold::{Hold, Release};
pub use ledger::{
    CutAward, DAILY_TALLY_DAYS, DayTally, Earning, Ledger, LedgerPolicy, Lot, MAX_OPEN_HOLDS,
    OperationKey, REMEMBERED_EARNINGS, REMEMBERED_KEYS, Redemption, RuleCounter, Tallies, Totals,
};
pub use limits::{Cap, CapHit, CapMode, CapPeriod};
pub use make_up::MadeUp;
pub use multiplier::Multiplier;
pub use program::{Program, ProgramError, ProgramSpec};
pub use remembered::Redeemed;
pub use reversal::{Clawback, Portion, Reversal, ReversedAward};
pub use rule::{Reward, Rounding, RuleSpec};
pub use simulate::{
    BonusChange, BonusReport, Change, DEFAULT_TOP_EARNERS, Liability, LiabilityChange, RuleChange,
    RuleReport, Simulation, SimulationDiff, SimulationError, SimulationReport, TierMembersChange,
    TierReport, TopEarner, ValidThrough, diff, simulate,
};
pub use statement::{DEFAULT_STATEMENT_ENTRIES, Entry, EntryKind};
pub use streak::{
    CheckInKind, CheckInOutcome, MAX_MAKE_UPS_PER_MONTH, MakeUp, MakeUpsUsed, Milestone,
    MilestoneHit, Streak, StreakError, StreakRules, StreakSpec,
};
pub use taken::{Taken, TakenList};
pub use tier::{
    Grace, MAX_ROLLING_DAYS, QualifyingBasis, Tier, TierChange, TierError, TierLadder,
    TierLadderSpec, TierOutcome, TierReason, TierStatus, TierWindow,
};

use crate::id::EventId;

/// Why a points step failed; the ledger is unchanged.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PointsError {
    /// The event is older than what the ledger remembers (its dedupe window
    /// or its daily tallies), so whether it is new, or how much of its day's
    /// cap is used, cannot be known.
    #[error("event {id:?} is too late: older than the ledger remembers")]
    TooLate {
        /// The event.
        id: EventId,
    },
    /// A redeem asked for more than can be spent.
    #[error("cannot redeem {requested} points: only {spendable} are spendable")]
    Insufficient {
        /// Points asked for.
        requested: u64,
        /// Points spendable at that time.
        spendable: u64,
    },
    /// A redeem or hold of zero points.
    #[error("cannot redeem or hold 0 points")]
    ZeroRedeem,
    /// The operation key was used by another kind of operation (a redeem
    /// key reused for a hold, say), or names an open hold.
    #[error("operation key {key} is already used by another operation")]
    KeyReused {
        /// The key.
        key: OperationKey,
    },
    /// No open hold, and no remembered capture or release, has this key.
    #[error("no hold {key}")]
    UnknownHold {
        /// The key.
        key: OperationKey,
    },
    /// The hold was already closed the other way (captured, not released,
    /// or the reverse).
    #[error("hold {key} is already closed")]
    HoldClosed {
        /// The key.
        key: OperationKey,
    },
    /// Too many holds are open ([`MAX_OPEN_HOLDS`]).
    #[error("{open} holds are open: capture or release one first")]
    TooManyHolds {
        /// Holds open.
        open: usize,
    },
    /// No award for this event is remembered
    /// ([`LedgerPolicy::reversible_awards`]).
    #[error("no award for event {id:?} is remembered")]
    UnknownEarning {
        /// The event.
        id: EventId,
    },
    /// Every award for this event is already wholly reversed.
    #[error("the awards for event {id:?} are already reversed")]
    AlreadyReversed {
        /// The event.
        id: EventId,
    },
    /// A reversal share that is not a fraction between 0 and 1.
    #[error("share {numerator}/{denominator} is not a fraction between 0 and 1")]
    InvalidShare {
        /// The numerator.
        numerator: u64,
        /// The denominator.
        denominator: u64,
    },
    /// A count, total or time would overflow.
    #[error("arithmetic overflow in points")]
    Overflow,
    /// The ledger's invariant does not hold (it was corrupted outside the library).
    #[error("inconsistent ledger: {what}")]
    Inconsistent {
        /// Which invariant.
        what: &'static str,
    },
}

// The crate's `skip_serializing_if` test for numeric fields, as
// `super::is_zero` to the module's types.
use crate::is_zero;

// Test-only helpers shared by the points unit tests, kept under `tests/`
// with the other test code.
#[cfg(test)]
#[path = "tests/fixtures.rs"]
mod fixtures;
#[cfg(test)]
mod tests;
