//! Reversal of awards: a refunded purchase claws its points back.

use super::PointsError;
use super::ledger::{Ledger, OperationKey, Remembered};
use super::make_up::MadeUp;
use super::program::Program;
use super::rule::Rounding;
use super::statement::{Entry, EntryKind};
use crate::event::Label;
use crate::id::EventId;
use crate::time::LocalDay;
use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

/// What a reversal does with points of the award that were already spent
/// (see the [`Reversal`] docs).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Clawback {
    /// Take them from the member's other points; owe what those lack (the
    /// balance goes negative).
    NegativeBalance,
    /// Owe them all; later awards pay the debt off first.
    Debt,
    /// Take them from the member's other points; forgive what those lack.
    #[default]
    Clamp,
}

/// How much of an event's awards to reverse.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
// A variant without fields is `{}`, not a unit variant: serde lets a unit
// variant of a tagged enum take stray fields (serde-rs/serde#2123).
pub enum Portion {
    /// Everything not yet reversed.
    Whole {},
    /// `numerator / denominator` of the event (a partial refund: refunded
    /// amount over paid amount): of each award, rounded down, and of what
    /// earlier shares left, so that shares adding up to the whole reverse
    /// all of it (see [`Reversal`]).
    Share {
        /// The refunded part.
        numerator: u64,
        /// The whole; at least 1 and at least `numerator`.
        denominator: u64,
    },
}

/// One award's part in a reversal.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct ReversedAward {
    /// The award's rule.
    pub rule: Label,
    /// When it was earned (its local day is the one whose cap room came back).
    pub earned_at: DateTime<Utc>,
    /// Points of the award reversed by this operation.
    pub points: u64,
    /// Whether the award is now wholly reversed, its award count come back
    /// too. Points a reversal made up for an award that a cap had trimmed
    /// (see [`MadeUp`](super::MadeUp)) are reversed as a part of their own,
    /// which gives no count back: the award's own lot does that.
    pub wholly_reversed: bool,
}

/// The result of a reversal.
///
/// [`Program::reverse`] (or [`Ledger::reverse`] with an explicit policy)
/// reverses what one earning event awarded, wholly or a share of it (a
/// partial refund). For each of the event's awards it takes back, in order:
///
/// 1. what is left in the award's own lot (spendable or pending);
/// 2. nothing for points of it that expired: the member had no use of them,
///    so they are written off (points due by the reversal's `now` count as
///    expired: the reversal first retires them, as
///    [`Ledger::expire`] would, so the result does not depend on when the
///    host last called it);
/// 3. the rest (spent, or reserved by an open hold) under the program's
///    [`Clawback`] policy:
///    - `negative_balance`: from the member's other lots (earliest-expiring
///      first, pending included), and what those lack is owed, so the
///      [balance](Ledger::balance) goes below zero;
///    - `debt`: all of it is owed; the member's other points are left alone;
///    - `clamp`: from the member's other lots, and what those lack is
///      forgiven ([`Ledger::forgiven`]), so the balance stops at zero.
///
///    Under the first two, later awards pay off what is owed before
///    anything goes into a lot.
///
///    Points of the award reserved by an open hold cannot be taken from
///    its lot while the hold is open. Of what a policy owes or forgives,
///    the award's held points count first: if their hold is released, they
///    go to the reversal ([`Release::reclaimed`](super::Release::reclaimed)):
///    forgiven ones are reclaimed, owed ones pay their debt off, as if the
///    hold had been released before the reversal. If it is captured, they
///    were spent: they stay forgiven, or owed (see [`Hold`](super::Hold)).
///
/// A reversal gives the award's cap room back (its points, and its award
/// count once it is wholly reversed), in the local day it was earned in,
/// and [`Program::reverse`] then makes up, from that room, the awards a cap
/// had cut ([`Reversal::made_up`], see [`MadeUp`]), so what an award
/// earns does not depend on whether it came before or after the reversal
/// of another inside one period, within the limits [`MadeUp`] states (an
/// award made in the meantime is never cut back: where rules share the
/// global daily cap and a cap counts awards, the order can still move
/// points from one award to another, or change the total). A reversal of
/// an event whose awards a cap refused whole reverses no points, but the
/// event is owed nothing more.
///
/// A share is `numerator / denominator` of the whole event. The first one
/// reverses that share of each award, rounded down (in the member's
/// favour); a later one takes, of what is still unreversed of each award,
/// its part of what the shares before it left of the event (a half after
/// a half is all of it), so shares that add up to the whole reverse
/// exactly what one whole reversal would: every award, with the points
/// made up for it in between (see [`MadeUp`]), whose claim the earlier
/// shares had shrunk already. A share never reverses more than is still
/// unreversed; several partial reversals followed by a whole one reverse
/// exactly the award.
///
/// ```
/// use chrono::{TimeDelta, TimeZone, Utc};
/// use growthkit::points::{Portion, ProgramSpec};
/// use growthkit::{Event, EventId, EventKind, Money, UserId};
///
/// let program = serde_json::from_str::<ProgramSpec>(r#"{
///     "ledger": { "clawback": "debt" },
///     "rules": [{ "name": "purchase", "on": "purchase",
///                 "reward": { "type": "per_amount", "points": 1, "per_minor": 100, "rounding": "down" } }]
/// }"#)?.validate()?;
/// let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
/// let mut ledger = program.new_ledger();
/// let paid = EventKind::Purchase { amount: Money::new(10_000, "CNY".parse()?) };
/// program.apply(&mut ledger, &Event::new(EventId(7), UserId(1), t0, paid))?;
/// ledger.redeem("order-8".into(), 80, t0)?; // 100 earned, 80 spent
///
/// // The purchase is refunded: 20 points are taken back, 80 are owed.
/// let later = t0 + TimeDelta::days(3);
/// let back = program.reverse(&mut ledger, "refund-7".into(), EventId(7), Portion::Whole {}, later)?;
/// assert_eq!((back.taken_back, back.owed), (20, 80));
/// assert_eq!(ledger.balance(later), -80);
/// ledger.check()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct Reversal {
    /// The operation's key.
    pub key: OperationKey,
    /// The earning event reversed.
    pub source: EventId,
    /// When.
    pub at: DateTime<Utc>,
    /// The policy applied.
    pub clawback: Clawback,
    /// Each award's part, in earning order.
    pub awards: Vec<ReversedAward>,
    /// Points reversed in all (`taken_back + written_off + owed + forgiven`).
    pub points: u64,
    /// Points taken out of lots.
    pub taken_back: u64,
    /// Points that had expired: nothing to take back.
    pub written_off: u64,
    /// Points now owed.
    pub owed: u64,
    /// Points forgiven.
    pub forgiven: u64,
    /// Awards a cap had cut that the room given back made up, in earning
    /// order ([`Program::reverse`] only; see [`MadeUp`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub made_up: Vec<MadeUp>,
    /// The statement entries it wrote.
    pub entries: Vec<Entry>,
    /// `true` when this is the stored result of an earlier call with the
    /// same key; nothing changed this time.
    pub repeated: bool,
}

impl<Tz: TimeZone> Program<Tz> {
    /// A new ledger keeping this program's number of statement entries.
    pub fn new_ledger(&self) -> Ledger {
        Ledger::with_statement_entries(self.spec().ledger.statement_entries)
    }

    /// Reverses `portion` of what event `source` earned, under this
    /// program's [`Clawback`] policy, giving cap room back in this program's
    /// local days (see [`Ledger::reverse`]), then makes up, from that room,
    /// the awards a cap had cut ([`Reversal::made_up`]; see [`MadeUp`]).
    pub fn reverse(
        &self,
        ledger: &mut Ledger,
        key: OperationKey,
        source: EventId,
        portion: Portion,
        now: DateTime<Utc>,
    ) -> Result<Reversal, PointsError> {
        let clawback = self.spec().ledger.clawback;
        let make_up = |ledger: &mut Ledger, reversal: &mut Reversal| self.make_up(ledger, reversal);
        ledger.reverse_then(key, source, portion, (clawback, self.zone(), now), make_up)
    }
}

impl Portion {
    /// This portion of `whole`, rounded down: all of it, or the share
    /// (checked to be at most 1 before any reversal uses it).
    pub(crate) fn of(self, whole: u64) -> u64 {
        match self {
            Portion::Whole {} => whole,
            Portion::Share {
                numerator,
                denominator,
            } => {
                let share = Rounding::Down.divide(
                    u128::from(whole) * u128::from(numerator),
                    u128::from(denominator.max(1)),
                );
                u64::try_from(share).unwrap_or(u64::MAX)
            }
        }
    }
}

/// The part of an event that reversals have not taken back yet, exactly:
/// 1 until a first reversal, 0 once it is wholly reversed. Each of the
/// event's remembered awards and cut awards (and an account's memory of
/// it) keeps it, so that a share, a part of the *whole* event, is taken
/// as its part of what is left (see [`Portion`]): shares that add up to
/// the whole reverse all of it, points made up for it in between included.
///
/// Kept in lowest terms within 64 bits; a sum of shares whose
/// denominators have no common multiple that fits is rounded towards
/// nothing left (by less than 2⁻⁶² of the event).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(try_from = "(u64, u64)", into = "(u64, u64)")]
pub(crate) struct Unreversed {
    num: u64,
    den: u64,
}

impl Default for Unreversed {
    fn default() -> Self {
        Unreversed::WHOLE
    }
}

impl TryFrom<(u64, u64)> for Unreversed {
    type Error = &'static str;

    fn try_from((num, den): (u64, u64)) -> Result<Self, Self::Error> {
        match den > 0 && num <= den {
            true => {
                let (num, den) = lowest(u128::from(num), u128::from(den));
                Ok(Unreversed { num, den })
            }
            false => Err("an unreversed part is a fraction num / den in 0..=1"),
        }
    }
}

impl From<Unreversed> for (u64, u64) {
    fn from(u: Unreversed) -> Self {
        (u.num, u.den)
    }
}

impl Unreversed {
    /// Nothing reversed yet.
    pub(crate) const WHOLE: Unreversed = Unreversed { num: 1, den: 1 };
    /// Wholly reversed.
    const NOTHING: Unreversed = Unreversed { num: 0, den: 1 };

    /// Whether nothing of the event has been reversed.
    pub(crate) fn is_whole(&self) -> bool {
        self.num >= self.den
    }

    /// Whether the event is wholly reversed.
    pub(crate) fn is_nothing(&self) -> bool {
        self.num == 0
    }

    /// What is left once `millionths` of the whole have been reversed (as
    /// an account remembered it for an event that earned no points).
    pub(crate) fn after_millionths(millionths: u32) -> Unreversed {
        let left = 1_000_000u32.saturating_sub(millionths);
        let (num, den) = lowest(u128::from(left), 1_000_000);
        Unreversed { num, den }
    }

    /// Takes `portion` of the whole event out of what is left: the part of
    /// what is left that it is (all of it, for the whole or a share at
    /// least what is left), and what is left afterwards.
    pub(crate) fn take(self, portion: Portion) -> (Part, Unreversed) {
        let Portion::Share {
            numerator,
            denominator,
        } = portion
        else {
            return (Part::ALL, Unreversed::NOTHING);
        };
        // Over the common denominator `den × denominator`.
        let share = u128::from(numerator) * u128::from(self.den);
        let left = u128::from(self.num) * u128::from(denominator.max(1));
        if share >= left {
            return (Part::ALL, Unreversed::NOTHING);
        }
        // `left` > `share` ≥ 0: no division by zero.
        let (num, den) = lowest(share, left);
        let part = Part { num, den };
        let (num, den) = lowest(
            left - share,
            u128::from(self.den) * u128::from(denominator.max(1)),
        );
        (part, Unreversed { num, den })
    }
}

/// A part of an amount: `num / den`, at most 1.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Part {
    num: u64,
    den: u64,
}

impl Part {
    /// All of it.
    const ALL: Part = Part { num: 1, den: 1 };

    /// This part of `amount`, rounded down.
    pub(crate) fn of(self, amount: u64) -> u64 {
        if self.num >= self.den {
            return amount;
        }
        let part = u128::from(amount) * u128::from(self.num) / u128::from(self.den.max(1));
        // Below `amount`, as the part is below 1.
        u64::try_from(part).unwrap_or(amount)
    }
}

/// `num / den` (`den` above zero) in lowest terms, brought within 64 bits:
/// if its denominator does not fit, both are shifted right until it does,
/// which rounds it by less than 2⁻⁶².
fn lowest(num: u128, den: u128) -> (u64, u64) {
    let (mut a, mut b) = (num, den.max(1));
    while b > 0 {
        (a, b) = (b, a % b);
    }
    // `a` is the greatest common divisor, at least 1 since `den` is.
    let (mut num, mut den) = (num / a, den.max(1) / a);
    let excess = (128 - den.leading_zeros()).saturating_sub(64);
    num >>= excess;
    den >>= excess;
    let den = u64::try_from(den).unwrap_or(u64::MAX);
    (u64::try_from(num).unwrap_or(den).min(den), den)
}

impl Reversal {
    /// A reversal of event `source` under `key` at `at` that has taken
    /// nothing back (yet).
    fn of_nothing(
        key: OperationKey,
        source: EventId,
        at: DateTime<Utc>,
        clawback: Clawback,
    ) -> Self {
        Reversal {
            key,
            source,
            at,
            clawback,
            awards: Vec::new(),
            points: 0,
            taken_back: 0,
            written_off: 0,
            owed: 0,
            forgiven: 0,
            made_up: Vec::new(),
            entries: Vec::new(),
            repeated: false,
        }
    }
}

impl Ledger {
    /// Reverses `portion` of what event `source` earned (see the
    /// [`Reversal`] docs); `zone` is the program's, for the day whose cap
    /// room is given back. Knowing no program, it makes up no award a cap
    /// had cut: [`Program::reverse`] does.
    ///
    /// Errors, which change nothing: an event with no remembered award
    /// ([`PointsError::UnknownEarning`]; the ledger remembers the last
    /// [`LedgerPolicy::reversible_awards`](super::LedgerPolicy::reversible_awards)), one already
    /// wholly reversed ([`PointsError::AlreadyReversed`]), a share that is
    /// not a fraction in 0..=1, or a key used by another kind of operation.
    /// Repeating `key` returns the first result.
    pub fn reverse<Tz: TimeZone>(
        &mut self,
        key: OperationKey,
        source: EventId,
        portion: Portion,
        clawback: Clawback,
        zone: &Tz,
        now: DateTime<Utc>,
    ) -> Result<Reversal, PointsError> {
        let nothing_more = |_: &mut Ledger, _: &mut Reversal| Ok(());
        self.reverse_then(key, source, portion, (clawback, zone, now), nothing_more)
    }

    /// [`Ledger::reverse`], then `then` on the reversed ledger and its
    /// result before the result is remembered under its key, all or
    /// nothing.
    pub(crate) fn reverse_then<Tz: TimeZone>(
        &mut self,
        key: OperationKey,
        source: EventId,
        portion: Portion,
        (clawback, zone, now): (Clawback, &Tz, DateTime<Utc>),
        then: impl FnOnce(&mut Ledger, &mut Reversal) -> Result<(), PointsError>,
    ) -> Result<Reversal, PointsError> {
        if let Some(again) = self.recall_reversal(&key, portion)? {
            return Ok(again);
        }
        // A reversal touches many places; it works on a copy that replaces
        // the ledger only on success, so a failure changes nothing. Reversals
        // are rare next to earning and spending.
        let mut next = self.clone();
        let mut result = next.reverse_in_place(key, source, portion, clawback, zone, now)?;
        then(&mut next, &mut result)?;
        next.write(&result.entries);
        next.remember(Remembered::Reverse(result.clone()));
        *self = next;
        Ok(result)
    }

    /// The first answer to `key`, if it was a reversal (another operation's
    /// key is an error), or else whether `portion` is a fraction in 0..=1.
    fn recall_reversal(
        &self,
        key: &OperationKey,
        portion: Portion,
    ) -> Result<Option<Reversal>, PointsError> {
        if let Some(first) = self.recall(key, |r| match r {
            Remembered::Reverse(first) => Some(first),
            _ => None,
        })? {
            let mut again = first.clone();
            again.repeated = true;
            return Ok(Some(again));
        }
        match portion {
            Portion::Share {
                numerator,
                denominator,
            } if denominator == 0 || numerator > denominator => Err(PointsError::InvalidShare {
                numerator,
                denominator,
            }),
            _ => Ok(None),
        }
    }

    /// Reverses event `source`, which earned no points (so the ledger has
    /// no award of it): nothing is taken back, but the reversal is
    /// remembered under `key` like any other, so that a retry returns it
    /// and the key cannot name another operation. An
    /// [`Account`](super::Account) reverses this way what such an event
    /// added to its tier or badges.
    pub(crate) fn reverse_nothing(
        &mut self,
        key: OperationKey,
        source: EventId,
        portion: Portion,
        clawback: Clawback,
        now: DateTime<Utc>,
    ) -> Result<Reversal, PointsError> {
        if let Some(again) = self.recall_reversal(&key, portion)? {
            return Ok(again);
        }
        let version = self.version.checked_add(1).ok_or(PointsError::Overflow)?;
        let result = Reversal::of_nothing(key, source, now, clawback);
        self.version = version;
        self.forget_cut(source, portion);
        self.remember(Remembered::Reverse(result.clone()));
        Ok(result)
    }

    /// Shrinks what the awards of event `source` that a cap cut may still
    /// be made up to by `portion` of the event, taken from what earlier
    /// shares left of them (forgets them, once the event is wholly
    /// reversed): a refunded purchase's award is owed nothing more. Whether
    /// it had any.
    fn forget_cut(&mut self, source: EventId, portion: Portion) -> bool {
        let mut any = false;
        for cut in self.cut.iter_mut().filter(|c| c.source == source) {
            any = true;
            let (part, left) = cut.unreversed.take(portion);
            cut.wanted -= part.of(cut.wanted);
            cut.awarded -= part.of(cut.awarded);
            cut.unreversed = left;
        }
        self.cut.retain(|c| c.wanted > c.awarded);
        any
    }

    /// The reversal itself, on the ledger that [`Ledger::reverse_then`]
    /// replaces on success; it writes its entries into the result, not the
    /// statement, and remembers nothing (the caller does both, last).
    fn reverse_in_place<Tz: TimeZone>(
        &mut self,
        key: OperationKey,
        source: EventId,
        portion: Portion,
        clawback: Clawback,
        zone: &Tz,
        now: DateTime<Utc>,
    ) -> Result<Reversal, PointsError> {
        let indices: Vec<usize> = (0..self.earnings.len())
            .filter(|&i| self.earnings.get(i).is_some_and(|e| e.source == source))
            .collect();
        // An event whose awards a cap refused whole has no award to
        // reverse, but its claim to be made up goes.
        let cut = self.forget_cut(source, portion);
        if indices.is_empty() && !cut {
            return Err(PointsError::UnknownEarning { id: source });
        }
        // What is due by `now` has expired, whether or not `expire` has run:
        // retired first, the award's own lot gives back only what is left
        // of it, and its expired points are written off, so the result does
        // not depend on when the host last called `expire`. Its entry is
        // the reversal's first.
        let expired = self.retire_due_lots(now);
        let mut result = Reversal::of_nothing(key.clone(), source, now, clawback);
        let overflow = || PointsError::Overflow;
        let mut any_open = false;
        for i in indices {
            let Some(e) = self.earnings.get(i).cloned() else {
                continue;
            };
            let open = e.points.saturating_sub(e.reversed);
            any_open |= open > 0;
            // The share's part of what earlier shares left of the event:
            // all that is open once the shares reach the whole.
            let (points, unreversed) = if e.unreversed.is_whole() && e.reversed > 0 {
                // Stored by a build that kept no part: the share of the
                // award, as far as open, as that build reversed it.
                (portion.of(e.points).min(open), e.unreversed)
            } else {
                let (part, left) = e.unreversed.take(portion);
                (part.of(open), left)
            };
            if let Some(rec) = self.earnings.get_mut(i) {
                rec.unreversed = unreversed;
            }
            if points == 0 {
                continue;
            }
            // 1. From the award's own lot.
            let (mut own, mut lot_expired) = (0, false);
            if let Some(lot) = self.lots.iter_mut().find(|l| l.id == e.lot) {
                own = lot.remaining.min(points);
                lot.remaining -= own;
                lot_expired = lot.due_at(now);
            }
            // 2. Expired points are written off.
            let mut short = points - own;
            let written_off = short.min(e.expired.saturating_sub(e.written_off));
            short -= written_off;
            // 3. The rest under the policy. The award's points held in its
            // lot past expiry wait for their hold to close: released, they
            // expire (as they would have, released first); captured, the
            // capture takes other points for them.
            let (other, at_capture) = match clawback {
                Clawback::Debt => (0, 0),
                Clawback::NegativeBalance | Clawback::Clamp => {
                    let expired_held = match lot_expired {
                        true => self.unmarked_held(e.lot).min(short),
                        false => 0,
                    };
                    (self.take_any(short - expired_held, now), expired_held)
                }
            };
            let rest = short - other;
            let (owed, forgiven) = match clawback {
                Clawback::Clamp => (0, rest),
                Clawback::Debt | Clawback::NegativeBalance => (rest, 0),
            };
            let back = own + other;
            self.available = self
                .available
                .checked_sub(back)
                .ok_or(PointsError::Inconsistent {
                    what: "available is less than the lots taken back",
                })?;
            self.reversed = self.reversed.checked_add(back).ok_or_else(overflow)?;
            self.owed = self.owed.checked_add(owed).ok_or_else(overflow)?;
            self.forgiven = self.forgiven.checked_add(forgiven).ok_or_else(overflow)?;
            if let Some(rec) = self.earnings.get_mut(i) {
                rec.reversed = rec.reversed.saturating_add(points);
                rec.written_off = rec.written_off.saturating_add(written_off);
                rec.forgiven = rec.forgiven.saturating_add(forgiven);
            }
            // What could not be taken is the award's held points first:
            // marked, they go to this reversal if their hold is released.
            // Then, for a policy that takes other points, other lots' held
            // points: had their holds closed first, it would have taken them.
            let claims = clawback != Clawback::Debt;
            if forgiven > 0 {
                let marked = self.forgive_held(e.lot, forgiven);
                if claims {
                    self.claim_held((e.lot, e.source), forgiven - marked, false, now);
                }
            }
            if owed > 0 {
                let marked = self.owe_held(e.lot, owed);
                if claims {
                    self.claim_held((e.lot, e.source), owed - marked, true, now);
                }
            }
            // Within what was just marked: `rest` holds them all.
            self.claw_at_capture(e.lot, at_capture);
            let day = LocalDay::of(e.earned_at, zone);
            // The award's count comes back with the last of its own lot;
            // points made up for it later are a part of it with no count.
            let wholly = points == open && !e.adds_to_award;
            if wholly {
                self.release_award(e.rule.as_str(), day, points, e.counted_global);
            } else {
                self.give_back(e.rule.as_str(), day, points, 0, e.counted_global);
            }
            result.awards.push(ReversedAward {
                rule: e.rule.clone(),
                earned_at: e.earned_at,
                points,
                wholly_reversed: wholly,
            });
            result.points = result.points.checked_add(points).ok_or_else(overflow)?;
            result.taken_back = result.taken_back.checked_add(back).ok_or_else(overflow)?;
            result.written_off = result
                .written_off
                .checked_add(written_off)
                .ok_or_else(overflow)?;
            result.owed = result.owed.checked_add(owed).ok_or_else(overflow)?;
            result.forgiven = result.forgiven.checked_add(forgiven).ok_or_else(overflow)?;
        }
        if !any_open && !cut {
            return Err(PointsError::AlreadyReversed { id: source });
        }
        // A share that rounds to nothing still succeeds: it is remembered
        // under its key, so a retry returns it, and it reverses 0 points.
        self.lots.retain(|l| l.remaining > 0 || l.held > 0);
        self.version = self.version.checked_add(1).ok_or_else(overflow)?;
        let parts = [
            (expired, EntryKind::Expired),
            (result.taken_back, EntryKind::Reversed { source, key }),
            (result.owed, EntryKind::Owed { source }),
            (result.forgiven, EntryKind::Forgiven { source }),
        ];
        result.entries = Entry::of_parts(now, parts).collect();
        Ok(result)
    }

    /// What [`Ledger::take_any`] could take at `now`: the points of lots
    /// not past expiry (pending ones included, held points excluded).
    pub(super) fn takeable(&self, now: DateTime<Utc>) -> u64 {
        self.lots
            .iter()
            .filter(|l| !l.due_at(now))
            .fold(0, |sum, l| sum.saturating_add(l.remaining))
    }

    /// Takes up to `points` from any lot not past expiry at `now` (pending
    /// ones included, held points excluded), in spending order; returns how
    /// many it took.
    pub(super) fn take_any(&mut self, points: u64, now: DateTime<Utc>) -> u64 {
        let mut left = points;
        for lot in self.lots.iter_mut() {
            if left == 0 {
                break;
            }
            if lot.due_at(now) {
                continue;
            }
            let take = lot.remaining.min(left);
            lot.remaining -= take;
            left -= take;
        }
        points - left
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::points::fixtures::*;

    /// A purchase of ¥100 (event 7, 100 points) and a visit (event 8, 50
    /// points) under `policy`, then 120 points redeemed: the purchase's lot
    /// is spent, 30 of the visit's are left.
    fn spent(policy: &str) -> (Program, Ledger) {
        let p = shop(50, "", &format!(r#"{{ "clawback": "{policy}" }}"#));
        let mut l = p.new_ledger();
        earn(&p, &mut l, &[purchase(7, 100, t(0)), visit(8, t(1))]);
        assert!(l.redeem("order-1".into(), 120, t(2)).is_ok());
        (p, l)
    }

    fn refund(p: &Program, l: &mut Ledger, key: &str, portion: Portion) -> Reversal {
        p.reverse(l, key.into(), EventId(7), portion, t(3))
            .unwrap_or_else(|e| unreachable!("{e}"))
    }

    #[test]
    fn clamp_takes_what_is_there_and_forgives_the_rest() {
        let (p, mut l) = spent("clamp");
        let r = refund(&p, &mut l, "refund-7", Portion::Whole {});
        assert_eq!(
            (r.points, r.taken_back, r.owed, r.forgiven),
            (100, 30, 0, 70)
        );
        assert_eq!((l.balance(t(3)), l.reversed(), l.forgiven()), (0, 30, 70));
        assert_eq!(
            r.entries.iter().map(|e| e.to_string()).collect::<Vec<_>>(),
            [
                "2026-03-01 00:03:00 UTC −30 reversed event#7 (refund-7)",
                "2026-03-01 00:03:00 UTC  70 forgiven for reversed event#7",
            ]
        );
        assert_conserved(&l, t(3));
    }

    #[test]
    fn negative_balance_takes_what_is_there_and_owes_the_rest() {
        let (p, mut l) = spent("negative_balance");
        let r = refund(&p, &mut l, "refund-7", Portion::Whole {});
        assert_eq!((r.taken_back, r.owed, r.forgiven), (30, 70, 0));
        assert_eq!((l.spendable(t(3)), l.balance(t(3))), (0, -70));
        // Later awards pay the debt off first.
        earn(&p, &mut l, &[visit(9, t(4)), visit(10, t(5))]);
        assert_eq!((l.owed(), l.spendable(t(5)), l.balance(t(5))), (0, 30, 30));
        assert_eq!(l.reversed(), 100);
        assert_conserved(&l, t(5));
        let paid: Vec<String> = l.statement().rev().take(4).map(|e| e.to_string()).collect();
        assert_eq!(
            paid,
            [
                "2026-03-01 00:05:00 UTC  20 debt paid from visit",
                "2026-03-01 00:05:00 UTC +50 visit (event#10)",
                "2026-03-01 00:04:00 UTC  50 debt paid from visit",
                "2026-03-01 00:04:00 UTC +50 visit (event#9)",
            ]
        );
    }

    #[test]
    fn debt_leaves_other_points_alone_and_owes_all_that_was_spent() {
        let (p, mut l) = spent("debt");
        let r = refund(&p, &mut l, "refund-7", Portion::Whole {});
        assert_eq!((r.taken_back, r.owed, r.forgiven), (0, 100, 0));
        assert_eq!(
            (l.spendable(t(3)), l.owed(), l.balance(t(3))),
            (30, 100, -70)
        );
        assert_conserved(&l, t(3));
        earn(&p, &mut l, &[purchase(11, 60, t(4))]);
        assert_eq!((l.owed(), l.spendable(t(4))), (40, 30));
        assert_conserved(&l, t(4));
    }

    #[test]
    fn refund_inside_the_return_window_takes_the_pending_points() {
        let p = shop(50, r#""pending_days": 14,"#, r#"{ "clawback": "debt" }"#);
        let mut l = p.new_ledger();
        earn(&p, &mut l, &[purchase(7, 100, t(0))]);
        let r = refund(&p, &mut l, "refund-7", Portion::Whole {});
        assert_eq!((r.taken_back, r.owed), (100, 0));
        assert_eq!((l.available(), l.lots().len(), l.balance(t(3))), (0, 0, 0));
        assert_conserved(&l, t(3));
    }

    #[test]
    fn expired_points_are_written_off_not_clawed_back() {
        let p = shop(
            50,
            r#""expiry": { "type": "after_days", "days": 1 },"#,
            r#"{ "clawback": "debt" }"#,
        );
        let mut housekept = p.new_ledger();
        earn(&p, &mut housekept, &[purchase(7, 100, t(0))]);
        assert!(housekept.redeem("r".into(), 40, t(1)).is_ok());
        // Written off whether or not `expire` ran first: a reversal retires
        // what is due by its time itself.
        let mut not = housekept.clone();
        assert_eq!(housekept.expire(day(1)), 60);
        for (l, retired) in [(&mut housekept, 0), (&mut not, 60)] {
            let (version, written) = (l.version(), l.statement().len());
            let r = p
                .reverse(l, "x".into(), EventId(7), Portion::Whole {}, day(2))
                .unwrap_or_else(|e| unreachable!("{e}"));
            assert_eq!((r.written_off, r.owed, r.taken_back), (60, 40, 0));
            assert_eq!(l.earnings().next().map(|e| e.written_off), Some(60));
            assert_eq!((l.expired(), l.reversed()), (60, 0));
            assert_conserved(l, day(2));
            // One change, and the entries it wrote are the ones it reports,
            // the expiry it made first among them.
            assert_eq!(l.version(), version + 1);
            let new: Vec<Entry> = l.statement().skip(written).cloned().collect();
            assert_eq!(new, r.entries);
            let expired = r.entries.iter().filter(|e| e.kind == EntryKind::Expired);
            assert_eq!(expired.map(|e| e.points).sum::<u64>(), retired);
        }
        // Before the points are due, they are taken back.
        let mut early = p.new_ledger();
        earn(&p, &mut early, &[purchase(7, 100, t(0))]);
        let r = p.reverse(&mut early, "x".into(), EventId(7), Portion::Whole {}, t(1));
        assert_eq!(r.map(|r| (r.written_off, r.taken_back)), Ok((0, 100)));
    }

    #[test]
    fn partial_refunds_reverse_a_share_rounded_down() {
        let p = shop(50, "", "{}");
        let mut l = p.new_ledger();
        earn(&p, &mut l, &[purchase(7, 99, t(0))]);
        let third = share(1, 3);
        let half = share(1, 2);
        assert_eq!(refund(&p, &mut l, "a", third).points, 33);
        assert_eq!(refund(&p, &mut l, "b", half).points, 49); // 49.5 down
        assert_eq!(refund(&p, &mut l, "c", third).points, 17); // 33, but 17 are left
        assert_eq!(refund(&p, &mut l, "c", third).points, 17); // repeated
        assert_eq!(l.reversed(), 99);
        let snapshot = json(&l);
        assert_eq!(
            p.reverse(&mut l, "d".into(), EventId(7), Portion::Whole {}, t(4))
                .map(|_| ()),
            Err(PointsError::AlreadyReversed { id: EventId(7) })
        );
        for (numerator, denominator) in [(1, 0), (3, 2)] {
            let bad = share(numerator, denominator);
            assert_eq!(
                p.reverse(&mut l, "e".into(), EventId(7), bad, t(4))
                    .map(|_| ()),
                Err(PointsError::InvalidShare {
                    numerator,
                    denominator
                })
            );
        }
        assert_eq!(
            p.reverse(&mut l, "f".into(), EventId(99), Portion::Whole {}, t(4))
                .map(|_| ()),
            Err(PointsError::UnknownEarning { id: EventId(99) })
        );
        assert_eq!(json(&l), snapshot);
        assert_conserved(&l, t(4));
    }

    #[test]
    fn shares_that_add_up_to_the_whole_reverse_all_of_it() {
        let p = shop(50, "", "{}");
        let mut l = p.new_ledger();
        earn(&p, &mut l, &[purchase(7, 100, t(0))]);
        let third = share(1, 3);
        // 33, then a third of the whole is half of the 67 left (33), then
        // the last third is all that is left (34), not 33 again.
        let parts: Vec<u64> = ["a", "b", "c"]
            .map(|key| refund(&p, &mut l, key, third).points)
            .into();
        assert_eq!(parts, [33, 33, 34]);
        assert_eq!(l.balance(t(3)), 0);
        // Halves after a quarter: a half of the whole is two thirds of the
        // three quarters left.
        let mut l = p.new_ledger();
        earn(&p, &mut l, &[purchase(7, 99, t(0))]);
        assert_eq!(refund(&p, &mut l, "q", share(1, 4)).points, 24);
        assert_eq!(refund(&p, &mut l, "h", share(1, 2)).points, 50);
        assert_eq!(refund(&p, &mut l, "r", share(1, 4)).points, 25);
        assert_eq!(l.reversed(), 99);
        assert_conserved(&l, t(3));
    }

    #[test]
    fn an_award_stored_without_its_part_reverses_shares_of_itself_as_before() {
        // A ledger written by a build that kept no part of the event: a
        // share of the award is that share of its points.
        let p = shop(50, "", "{}");
        let mut l = p.new_ledger();
        earn(&p, &mut l, &[purchase(7, 99, t(0))]);
        let half = share(1, 2);
        let quarter = share(1, 4);
        assert_eq!(refund(&p, &mut l, "h", half).points, 49);
        let mut old = l.clone();
        let stored = json(&l);
        assert!(stored.contains(r#","unreversed":[1,2]"#), "{stored}");
        let mut before: Ledger =
            serde_json::from_str(&stored.replace(r#","unreversed":[1,2]"#, ""))
                .unwrap_or_else(|e| unreachable!("{e}"));
        // Kept: a quarter of the whole is half of the half left (25).
        assert_eq!(refund(&p, &mut old, "q", quarter).points, 25);
        // Not kept: a quarter of the award's 99.
        assert_eq!(refund(&p, &mut before, "q", quarter).points, 24);
        assert_eq!(refund(&p, &mut before, "w", Portion::Whole {}).points, 26);
        assert_conserved(&before, t(3));
    }

    #[test]
    fn a_share_that_rounds_to_nothing_reverses_nothing() {
        let p = shop(50, "", "{}");
        let mut l = p.new_ledger();
        earn(&p, &mut l, &[purchase(7, 5, t(0))]);
        let tiny = share(1, 10);
        let r = refund(&p, &mut l, "a", tiny);
        assert_eq!((r.points, r.entries.len(), l.available()), (0, 0, 5));
        assert!(refund(&p, &mut l, "a", tiny).repeated);
        assert_eq!(refund(&p, &mut l, "b", Portion::Whole {}).points, 5);
        assert_conserved(&l, t(3));
    }

    #[test]
    fn a_repeated_reversal_returns_the_first_result() {
        let (p, mut l) = spent("clamp");
        let first = refund(&p, &mut l, "refund-7", Portion::Whole {});
        let snapshot = json(&l);
        let again = refund(&p, &mut l, "refund-7", Portion::Whole {});
        assert!(again.repeated);
        assert_eq!(
            Reversal {
                repeated: false,
                ..again
            },
            first
        );
        assert_eq!(json(&l), snapshot);
    }

    #[test]
    fn reversal_gives_the_cap_room_back() {
        let p = program(
            r#"{ "utc_offset": "+08:00", "rules": [{ "name": "buy", "on": "purchase",
                 "reward": { "type": "fixed", "points": 10 }, "daily_cap": { "count": 1 } }] }"#,
        );
        let mut l = p.new_ledger();
        earn(&p, &mut l, &[purchase(1, 5, t(0))]);
        assert_eq!(
            p.apply(&mut l, &purchase(2, 5, t(1))).map(|e| e.total),
            Ok(0)
        );
        // A partial refund keeps the award (and its count) standing.
        let half = share(1, 2);
        let _ = p.reverse(&mut l, "a".into(), EventId(1), half, t(2));
        assert_eq!(
            p.apply(&mut l, &purchase(3, 5, t(3))).map(|e| e.total),
            Ok(0)
        );
        assert_eq!(l.counter("buy").map(|c| (c.count, c.points)), Some((1, 5)));
        // The whole reversal frees the day's slot: the oldest purchase the
        // cap refused takes it (see `MadeUp`), as it would have without the
        // reversed award, and the next purchase is capped again.
        let whole = p.reverse(&mut l, "b".into(), EventId(1), Portion::Whole {}, t(4));
        let made = whole.map(|r| r.made_up.iter().map(|m| (m.source, m.points)).collect());
        assert_eq!(made, Ok(vec![(EventId(2), 10)]));
        assert_eq!(
            p.apply(&mut l, &purchase(4, 5, t(5))).map(|e| e.total),
            Ok(0)
        );
        assert_eq!(l.counter("buy").map(|c| (c.count, c.points)), Some((1, 10)));
        // On a ledger that forgot the refused purchases, the slot is free.
        let mut l = p.new_ledger();
        earn(&p, &mut l, &[purchase(1, 5, t(0)), purchase(2, 5, t(1))]);
        l.cut.clear();
        let _ = p.reverse(&mut l, "c".into(), EventId(1), Portion::Whole {}, t(4));
        assert_eq!(
            p.apply(&mut l, &purchase(4, 5, t(5))).map(|e| e.total),
            Ok(10)
        );
        assert_conserved(&l, t(5));
    }

    #[test]
    fn every_award_of_the_event_is_reversed() {
        let p = program(
            r#"{ "rules": [
                 { "name": "buy", "on": "purchase", "reward": { "type": "fixed", "points": 10 } },
                 { "name": "any", "on": "*", "reward": { "type": "fixed", "points": 3 } } ] }"#,
        );
        let mut l = p.new_ledger();
        earn(&p, &mut l, &[purchase(1, 5, t(0)), visit(2, t(1))]);
        let r = p
            .reverse(&mut l, "x".into(), EventId(1), Portion::Whole {}, t(2))
            .unwrap_or_else(|e| unreachable!("{e}"));
        let parts: Vec<(&str, u64)> = r
            .awards
            .iter()
            .map(|a| (a.rule.as_str(), a.points))
            .collect();
        assert_eq!(parts, [("buy", 10), ("any", 3)]);
        assert_eq!(l.available(), 3);
        assert_conserved(&l, t(2));
    }

    #[test]
    fn clamp_reclaims_forgiven_points_when_their_hold_is_released() {
        // 100 points from the purchase, 60 of them held for an order, 40
        // spent; 50 from a visit. Reversing the purchase takes back the
        // visit's 50 and forgives 50 (some of the held ones).
        let p = shop(50, "", r#"{ "clawback": "clamp" }"#);
        let mut l = p.new_ledger();
        earn(&p, &mut l, &[purchase(7, 100, t(0))]);
        assert!(l.hold("order".into(), 60, t(1)).is_ok());
        assert!(l.redeem("coupon".into(), 40, t(1)).is_ok());
        earn(&p, &mut l, &[visit(8, t(2))]);
        let r = refund(&p, &mut l, "refund-7", Portion::Whole {});
        assert_eq!((r.taken_back, r.forgiven), (50, 50));
        assert_conserved(&l, t(3));
        // The order is cancelled: 50 of its 60 points were forgiven, so they
        // settle the reversal; 10 come back.
        let back = l
            .release("order".into(), t(4))
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!((back.returned, back.reclaimed, back.expired), (10, 50, 0));
        assert_eq!(
            (l.forgiven(), l.reversed(), l.spendable(t(4))),
            (0, 100, 10)
        );
        assert_eq!(
            back.entries
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>(),
            [
                "2026-03-01 00:04:00 UTC +60 released order",
                "2026-03-01 00:04:00 UTC −50 reclaimed for reversed event#7",
            ]
        );
        assert_conserved(&l, t(4));
    }

    #[test]
    fn under_debt_released_held_points_pay_the_debt_off() {
        // 100 points from the purchase all held for an order, 50 from a
        // visit. The purchase is refunded: 100 owed. The order is cancelled:
        // the 100 held points pay the debt off, as they would have been
        // taken back had the order been cancelled before the refund.
        let p = shop(50, "", r#"{ "clawback": "debt" }"#);
        let mut l = p.new_ledger();
        earn(&p, &mut l, &[purchase(7, 100, t(0)), visit(8, t(1))]);
        assert!(l.hold("order".into(), 100, t(2)).is_ok());
        let r = refund(&p, &mut l, "refund-7", Portion::Whole {});
        assert_eq!((r.taken_back, r.owed), (0, 100));
        assert_eq!(l.balance(t(3)), -50);
        let back = l.release("order".into(), t(4));
        assert!(back.is_ok_and(|b| b.returned == 0 && b.reclaimed == 100));
        assert_eq!(
            (l.spendable(t(4)), l.owed(), l.balance(t(4)), l.reversed()),
            (50, 0, 50, 100)
        );
        assert_conserved(&l, t(4));
    }

    #[test]
    fn captured_held_points_stay_forgiven() {
        let p = shop(50, "", "{}");
        let mut l = p.new_ledger();
        earn(&p, &mut l, &[purchase(7, 100, t(0))]);
        assert!(l.hold("order".into(), 100, t(1)).is_ok());
        let r = refund(&p, &mut l, "refund-7", Portion::Whole {});
        assert_eq!(r.forgiven, 100);
        assert!(
            l.capture("order".into(), t(4))
                .is_ok_and(|c| c.points() == 100)
        );
        assert_eq!((l.forgiven(), l.redeemed(), l.reversed()), (100, 100, 0));
        assert_conserved(&l, t(4));
    }

    #[test]
    fn only_the_most_recent_awards_can_be_reversed() {
        let p = shop(5, "", r#"{ "reversible_awards": 2 }"#);
        let mut l = p.new_ledger();
        earn(
            &p,
            &mut l,
            &[visit(1, t(0)), visit(2, t(1)), visit(3, t(2))],
        );
        assert_eq!(l.earnings().map(|e| e.source.0).collect::<Vec<_>>(), [2, 3]);
        assert_eq!(
            p.reverse(&mut l, "a".into(), EventId(1), Portion::Whole {}, t(3))
                .map(|_| ()),
            Err(PointsError::UnknownEarning { id: EventId(1) })
        );
        assert!(
            p.reverse(&mut l, "b".into(), EventId(2), Portion::Whole {}, t(3))
                .is_ok()
        );
        let none = shop(5, "", r#"{ "reversible_awards": 0 }"#);
        let mut l = none.new_ledger();
        earn(&none, &mut l, &[visit(1, t(0))]);
        assert_eq!(l.earnings().len(), 0);
    }
}
