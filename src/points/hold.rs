//! Holds for checkout flows: reserve points for an order
//! ([`Ledger::hold`]), then spend them ([`Ledger::capture`]) or give them
//! back ([`Ledger::release`]).

use super::PointsError;
use super::ledger::{Ledger, MAX_OPEN_HOLDS, OperationKey, Remembered, Spent, Taken, TakenList};
use super::rare_list::RareList;
use super::remembered::Redeemed;
use super::statement::{Entry, EntryKind};
use crate::id::EventId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Points reserved for an order until it is captured or released.
///
/// A hold takes points from the lots spendable at the time, earliest-expiring
/// first, exactly as a redemption would, and marks them `held` in their lots:
/// they leave the spendable balance at once and stay out of it until the hold
/// closes. Held points do not expire while held (the order reserved them in
/// time): [`Ledger::expire`] leaves them alone, capture spends them whatever
/// the clock says, and release returns them to their lots, where those past
/// expiry at the release expire right away (reported in [`Release::expired`]
/// and a statement entry).
///
/// Points of an award reversed while they were held cannot be taken from
/// its lot. What the reversal's policy took from the member's other points
/// in their stead stays taken, and those held points come back to the
/// member at release. The rest, which a `clamp` reversal forgave and a
/// `debt` or `negative_balance` one charged as [owed](Ledger::owed) (see
/// [`Clawback`](super::Clawback)), go to that reversal at release instead
/// of back to the member ([`Release::reclaimed`]: counted as reversed, no
/// longer forgiven or owed); if their lot has expired by the release, they
/// are written off instead, as a reversal writes off expired points
/// ([`Release::written_off`]). Captured, they were spent: they stay
/// forgiven, or the debt for them stays.
///
/// The member's other held points are settled the same way: a `clamp` or
/// `negative_balance` reversal takes every other point it can, so had
/// their hold closed first, it would have taken them too. What it forgave
/// or charged as owed beyond the award's own held points claims them;
/// released before their lot expires, they go to that reversal.
///
/// One case waits for the close: a `clamp` or `negative_balance` reversal
/// that finds the award's points held in a lot already past expiry takes
/// no other points for them (had the hold been released first, they would
/// have expired, and a reversal writes expired points off), but forgives
/// or charges them as owed. If the hold is released, they expire and are
/// written off; if it is captured, the capture takes the member's other
/// points for them, as far as there are, as the reversal would have after
/// a capture (its [`Redeemed::entries`] say so).
///
/// So, under every policy, closing a hold before or after the reversal of
/// the award it holds points of leaves the same points in lots, debt, and
/// expired and reversed totals, and, unless the policy took other points in
/// their stead, the same lots, so later expiry agrees too. Points taken in
/// their stead stay taken, and they may be pending ones (a purchase's, in
/// its return window): then the member has as many points either way, but
/// more of them spendable, and so a higher [balance](Ledger::balance),
/// until those pending points would have become spendable. (Under
/// `debt`, later awards may have paid that debt off before the release:
/// they pay what no hold stands for first, and the held points then come
/// back to the member as far as the debt for them was paid.)
///
/// Limits: the promise is exact for one hold open on the member's points
/// when the reversal comes. The marks above are kept per lot, not per
/// hold, and settled first come, first served as holds close, so with
/// several holds open the totals can depend on the order in which they
/// close: a captured hold's points no longer stand for the reversal's
/// marks on their lot (so another hold's points of another lot go back to
/// the member), and points a capture took for the reversal are not given
/// back when another hold's released points turn out to be ones it would
/// have written off. And a later award that pays the debt charged for
/// points held in a lot that expires before their release is not given
/// back, though that debt would have been written off with them.
///
/// Every step takes the hold's [`OperationKey`]: repeating `hold` with a key
/// returns the first hold, repeating `capture` or `release` returns the first
/// capture or release; capturing a released hold (or the reverse) is
/// [`PointsError::HoldClosed`]. A failed step changes nothing.
///
/// ```
/// use chrono::{TimeDelta, TimeZone, Utc};
/// use growthkit::points::{Ledger, ProgramSpec};
/// use growthkit::{Event, EventId, EventKind, UserId};
///
/// let program = serde_json::from_str::<ProgramSpec>(r#"{
///     "rules": [{ "name": "visit", "on": "visited", "reward": { "type": "fixed", "points": 100 } }]
/// }"#)?.validate()?;
/// let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
/// let mut ledger = program.new_ledger();
/// program.apply(&mut ledger, &Event::new(EventId(1), UserId(1), t0, EventKind::Visited))?;
///
/// let hold = ledger.hold("order-9".into(), 60, t0)?;
/// assert_eq!((hold.points, ledger.spendable(t0), ledger.held()), (60, 40, 60));
/// // The payment failed: the points come back.
/// let back = ledger.release("order-9".into(), t0 + TimeDelta::minutes(5))?;
/// assert_eq!((back.returned, ledger.spendable(t0)), (60, 100));
/// // A retried release returns the first result and changes nothing.
/// assert!(ledger.release("order-9".into(), t0 + TimeDelta::minutes(6))?.repeated);
/// ledger.check()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct Hold {
    /// The hold's key (the order).
    pub key: OperationKey,
    /// Points reserved.
    pub points: u64,
    /// When it was placed.
    pub at: DateTime<Utc>,
    /// Which lots it reserved from, earliest-expiring first.
    pub taken: TakenList,
    /// The statement entries it wrote.
    pub entries: Vec<Entry>,
    /// `true` when this is the stored result of an earlier call with the
    /// same key; nothing changed this time.
    pub repeated: bool,
}

/// The result of releasing a hold.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct Release {
    /// The hold's key.
    pub key: OperationKey,
    /// Points the hold reserved.
    pub points: u64,
    /// Of those, points back in their lots.
    pub returned: u64,
    /// Of those, points whose lots had expired by the release, so they
    /// expired at it.
    pub expired: u64,
    /// Of those, points of an award reversed while they were held, which
    /// the reversal could not take (a `clamp` reversal forgave them, a
    /// `debt` or `negative_balance` one charged them as owed): they go to
    /// the reversal now (counted as reversed, no longer forgiven or owed)
    /// instead of back to the member.
    pub reclaimed: u64,
    /// Of the expired points, those a reversal had forgiven or charged as
    /// owed while they were held: written off now (no longer forgiven or
    /// owed), as a reversal writes off points that had expired.
    #[serde(default, skip_serializing_if = "super::is_zero")]
    pub written_off: u64,
    /// When.
    pub at: DateTime<Utc>,
    /// The statement entries it wrote.
    pub entries: Vec<Entry>,
    /// `true` when this is the stored result of an earlier call with the
    /// same key; nothing changed this time.
    pub repeated: bool,
}

impl Ledger {
    /// The open holds, oldest first.
    pub fn holds(&self) -> &[Hold] {
        &self.holds
    }

    /// Reserves `points` from the lots spendable at `now`, earliest-expiring
    /// first, under `key`.
    ///
    /// Errors, which change nothing: zero points, too few spendable points,
    /// [`MAX_OPEN_HOLDS`] holds already open, or a key used by another kind
    /// of operation. Repeating `key` returns the first hold.
    pub fn hold(
        &mut self,
        key: OperationKey,
        points: u64,
        now: DateTime<Utc>,
    ) -> Result<Hold, PointsError> {
        // An open hold is its own memory, even once the key window forgot it.
        if let Some(open) = self.holds.iter().find(|h| h.key == key) {
            let mut again = open.clone();
            again.repeated = true;
            return Ok(again);
        }
        if let Some(first) = self.recall(&key, |r| match r {
            Remembered::Hold(h) => Some(&**h),
            _ => None,
        })? {
            let mut again = first.clone();
            again.repeated = true;
            return Ok(again);
        }
        if self.holds.len() >= MAX_OPEN_HOLDS {
            return Err(PointsError::TooManyHolds {
                open: self.holds.len(),
            });
        }
        let (available, version) = self.check_spend(points, now)?;
        let held = self.held.checked_add(points).ok_or(PointsError::Overflow)?;

        let taken = self.take(points, now, true);
        self.available = available;
        self.held = held;
        self.version = version;
        let hold = Hold {
            key: key.clone(),
            points,
            at: now,
            taken,
            entries: vec![Entry {
                at: now,
                points,
                kind: EntryKind::Held { key },
            }],
            repeated: false,
        };
        self.write(&hold.entries);
        self.holds.push(hold.clone());
        self.remember(Remembered::Hold(Box::new(hold.clone())));
        Ok(hold)
    }

    /// Spends an open hold's points, whatever their lots' expiry (they were
    /// reserved in time). Returns the redemption, keyed by the hold's key,
    /// lent from the ledger as [`Ledger::redeem`]'s is.
    ///
    /// Errors, which change nothing: no hold with this key
    /// ([`PointsError::UnknownHold`]; [`PointsError::KeyReused`] if another
    /// kind of operation used it), or one already released
    /// ([`PointsError::HoldClosed`]). Repeating a capture returns the first.
    pub fn capture(
        &mut self,
        key: OperationKey,
        now: DateTime<Utc>,
    ) -> Result<Redeemed<'_>, PointsError> {
        let index =
            match self.closed(&key, |r| matches!(r, Remembered::Capture(_)).then_some(()))? {
                Closed::Again(()) => {
                    return self.lend(
                        |op| matches!(op, Remembered::Capture(_)) && op.key() == &key,
                        true,
                    );
                }
                Closed::Open(index) => index,
            };
        let Some(hold) = self.holds.get(index) else {
            return Err(PointsError::UnknownHold { key });
        };
        let points = hold.points;
        let redeemed = self
            .redeemed
            .checked_add(points)
            .ok_or(PointsError::Overflow)?;
        let (held, version) = self.check_close(index)?;
        let claws = self.claws(&hold.taken, now)?;

        // Found at `index` above.
        let Some(hold) = self.holds.remove(index) else {
            return Err(PointsError::UnknownHold { key });
        };
        self.unhold(&hold.taken);
        self.held = held;
        self.redeemed = redeemed;
        self.version = version;
        let reclaimed: RareList<Entry> = self.claw(claws, now).into_iter().collect();
        let spent = Spent::new(key, points, now, hold.taken, reclaimed);
        let captured = Redeemed::new(&spent, true, false);
        self.write(&captured.entries());
        self.lots.retain(|l| l.remaining > 0 || l.held > 0);
        self.trim_held_marks();
        self.remember(Remembered::Capture(spent));
        self.lend(|_| true, false)
    }

    /// Returns an open hold's points to their lots; points whose lot expired
    /// by `now` expire at once (see the [`Hold`] docs).
    ///
    /// Errors, which change nothing: no hold with this key
    /// ([`PointsError::UnknownHold`]; [`PointsError::KeyReused`] if another
    /// kind of operation used it), or one already captured
    /// ([`PointsError::HoldClosed`]). Repeating a release returns the first.
    pub fn release(
        &mut self,
        key: OperationKey,
        now: DateTime<Utc>,
    ) -> Result<Release, PointsError> {
        let index = match self.closed(&key, |r| match r {
            Remembered::Release(r) => Some(r.clone()),
            _ => None,
        })? {
            Closed::Again(mut first) => {
                first.repeated = true;
                return Ok(first);
            }
            Closed::Open(index) => index,
        };
        let Some(hold) = self.holds.get(index) else {
            return Err(PointsError::UnknownHold { key });
        };
        let points = hold.points;
        let (held, version) = self.check_close(index)?;
        // Where each lot's reserved points go: expired with their lot
        // (written off if a reversal had forgiven or owed them), to a
        // reversal that forgave or owed them, or back into the lot.
        let mut sum = Split::default();
        for t in &hold.taken {
            sum = sum
                .plus(self.release_split(t.lot, t.points, now))
                .ok_or(PointsError::Overflow)?;
        }
        let reclaimed = sum.reclaimed();
        let written_off = sum.forgiven_off + sum.owed_off;
        // All are parts of `points`, as `release_split` splits each lot's share.
        let returned = points.saturating_sub(sum.expired).saturating_sub(reclaimed);
        let available = self
            .available
            .checked_add(returned)
            .ok_or(PointsError::Overflow)?;
        let expired_total = self
            .expired
            .checked_add(sum.expired)
            .ok_or(PointsError::Overflow)?;
        let reversed_total = self
            .reversed
            .checked_add(reclaimed)
            .ok_or(PointsError::Overflow)?;
        let forgiven_total =
            self.forgiven
                .checked_sub(sum.unforgiven())
                .ok_or(PointsError::Inconsistent {
                    what: "forgiven is less than the forgiven held points",
                })?;
        let owed_total = self
            .owed
            .checked_sub(sum.unowed())
            .ok_or(PointsError::Inconsistent {
                what: "owed is less than the owed held points",
            })?;

        // Found at `index` above.
        let Some(hold) = self.holds.remove(index) else {
            return Err(PointsError::UnknownHold { key });
        };
        let mut sources = Vec::new();
        for t in &hold.taken {
            let split = self.release_split(t.lot, t.points, now);
            let to_reversal = split.reclaimed();
            let record = self.earnings.iter_mut().find(|e| e.lot == t.lot);
            if let Some(e) = record {
                e.expired = e.expired.saturating_add(split.expired);
                e.written_off = e
                    .written_off
                    .saturating_add(split.forgiven_off + split.owed_off);
                e.forgiven = e
                    .forgiven
                    .saturating_sub(split.forgiven_back + split.forgiven_off);
            }
            if let Some(lot) = self.lots.iter_mut().find(|l| l.id == t.lot) {
                lot.held = lot.held.saturating_sub(t.points);
                // Cannot saturate: remaining + held never exceeds the award.
                lot.remaining = lot
                    .remaining
                    .saturating_add(t.points.saturating_sub(split.expired + to_reversal));
                if to_reversal + split.owed_off > 0 {
                    sources.push((shown(&self.shown_sources, lot.source), split));
                }
            }
            unmark(
                &mut self.forgiven_held,
                t.lot,
                split.forgiven_back + split.forgiven_off,
            );
            unmark(&mut self.owed_held, t.lot, split.owed_back + split.owed_off);
            // The claimed ones go to the reversals that claimed them, in
            // the order `release_split` counted them.
            let mut left = split.forgiven_claimed + split.owed_claimed;
            for c in self.held_claims.iter_mut().filter(|c| c.lot == t.lot) {
                let part = c.points.min(left);
                left -= part;
                c.points -= part;
                let back = match c.owed {
                    true => Split {
                        owed_back: part,
                        ..Split::default()
                    },
                    false => Split {
                        forgiven_back: part,
                        ..Split::default()
                    },
                };
                if part > 0 {
                    sources.push((shown(&self.shown_sources, c.source), back));
                }
                let record = self.earnings.iter_mut().find(|e| e.lot == c.award);
                if let (Some(e), false) = (record, c.owed) {
                    e.forgiven = e.forgiven.saturating_sub(part);
                }
            }
            self.held_claims.retain(|c| c.points > 0);
        }
        self.lots.retain(|l| l.remaining > 0 || l.held > 0);
        self.trim_held_marks();
        self.available = available;
        self.expired = expired_total;
        self.reversed = reversed_total;
        self.forgiven = forgiven_total;
        self.owed = owed_total;
        self.held = held;
        self.version = version;
        let mut entries = vec![Entry {
            at: now,
            points,
            kind: EntryKind::Released { key: key.clone() },
        }];
        entries.extend(Entry::of_parts(now, [(sum.expired, EntryKind::Expired)]));
        // What goes to a reversal, per reversed event: the forgiven points
        // it takes back (`−`), the owed ones paying its debt (no change net
        // of debt, counted when owed), and the debt written off for owed
        // points that expired (`+`, their `Expired` entry above taking them).
        for (source, split) in sources {
            entries.extend(Entry::of_parts(
                now,
                [
                    (split.forgiven_back, EntryKind::Reclaimed { source }),
                    (split.owed_back, EntryKind::ReclaimedOwed { source }),
                    (split.owed_off, EntryKind::DebtWrittenOff { source }),
                ],
            ));
        }
        let result = Release {
            key,
            points,
            returned,
            expired: sum.expired,
            reclaimed,
            written_off,
            at: now,
            entries,
            repeated: false,
        };
        self.write(&result.entries);
        self.remember(Remembered::Release(result.clone()));
        Ok(result)
    }

    /// How a lot's `points` returning from a hold at `now` split. If the lot
    /// is past expiry, all expire, and of them those a reversal forgave or
    /// owed are written off. Otherwise those a reversal forgave or owed
    /// (its award was reversed while they were held and could not take
    /// them) go to the reversal, forgiven ones first; the rest goes back
    /// into the lot.
    fn release_split(&self, lot: u64, points: u64, now: DateTime<Utc>) -> Split {
        let forgiven = marked(&self.forgiven_held, lot).min(points);
        let owed = marked(&self.owed_held, lot).min(points - forgiven);
        if self.lots.iter().any(|l| l.id == lot && l.due_at(now)) {
            // Claimed ones expire unclaimed: forgiven or owed they stay,
            // as they would had the hold been released first.
            Split {
                expired: points,
                forgiven_off: forgiven,
                owed_off: owed,
                ..Split::default()
            }
        } else {
            let mut split = Split {
                forgiven_back: forgiven,
                owed_back: owed,
                ..Split::default()
            };
            let mut left = points - forgiven - owed;
            for c in self.held_claims.iter().filter(|c| c.lot == lot) {
                let part = c.points.min(left);
                left -= part;
                match c.owed {
                    true => split.owed_claimed += part,
                    false => split.forgiven_claimed += part,
                }
            }
            split
        }
    }

    /// Marks up to `points` points forgiven by a clamp reversal of the
    /// award of lot `lot` as held ones, which go to the reversal when
    /// released: at most what the lot holds beyond those marked already
    /// (the rest of what was forgiven was spent or expired).
    pub(crate) fn forgive_held(&mut self, lot: u64, points: u64) -> u64 {
        let more = points.min(self.unmarked_held(lot));
        mark(&mut self.forgiven_held, lot, more);
        more
    }

    /// Marks up to `points` points charged as owed by a `debt` or
    /// `negative_balance` reversal of the award of lot `lot` as held ones,
    /// which pay that debt off when released: at most what the lot holds
    /// beyond those marked already (the rest of what is owed was spent or
    /// expired).
    pub(crate) fn owe_held(&mut self, lot: u64, points: u64) -> u64 {
        let more = points.min(self.unmarked_held(lot));
        mark(&mut self.owed_held, lot, more);
        more
    }

    /// Claims for the reversal of `award` up to `points` of what it
    /// forgave (or, `owed`, charged as owed) beyond its own lot's held
    /// points, from other lots' held points (see [`Ledger::held_claims`]):
    /// those of lots not past expiry at `now`, in spending order, as the
    /// reversal would have taken them had their holds closed first.
    pub(crate) fn claim_held(
        &mut self,
        award: (u64, EventId),
        points: u64,
        owed: bool,
        now: DateTime<Utc>,
    ) {
        let mut left = points;
        let (own, source) = award;
        let ids: Vec<u64> = self
            .lots
            .iter()
            .filter(|l| l.id != own && l.held > 0 && !l.due_at(now))
            .map(|l| l.id)
            .collect();
        for lot in ids {
            if left == 0 {
                break;
            }
            let claim = left.min(self.unmarked_held(lot));
            if claim == 0 {
                continue;
            }
            left -= claim;
            let same = |c: &&mut HeldClaim| c.lot == lot && c.award == own && c.owed == owed;
            match self.held_claims.iter_mut().find(same) {
                Some(c) => c.points = c.points.saturating_add(claim),
                None => self.held_claims.push(HeldClaim {
                    lot,
                    points: claim,
                    award: own,
                    source,
                    owed,
                }),
            }
        }
    }

    /// What a capture of the points `taken` at `now` takes for those of
    /// them to claw at capture (see [`Ledger::clawed_at_capture`]): per
    /// lot, the points taken back from the member's other lots that were
    /// forgiven, and those that were owed, as far as the other lots hold
    /// spendable or pending points. Checks what the claw will change, so
    /// that [`Ledger::claw`] cannot fail.
    fn claws(&self, taken: &[Taken], now: DateTime<Utc>) -> Result<Vec<Claw>, PointsError> {
        if self.clawed_at_capture.is_empty() {
            return Ok(Vec::new());
        }
        let mut there = self.takeable(now);
        let mut claws = Vec::new();
        for t in taken {
            let wanted = marked(&self.clawed_at_capture, t.lot).min(t.points);
            let back = wanted.min(there);
            if back == 0 {
                continue;
            }
            there -= back;
            // Forgiven ones first, as a release takes them.
            let forgiven = marked(&self.forgiven_held, t.lot).min(back);
            claws.push(Claw {
                lot: t.lot,
                forgiven,
                owed: back - forgiven,
            });
        }
        let sum = |part: fn(&Claw) -> u64| claws.iter().map(part).fold(0, u64::saturating_add);
        let (forgiven, owed) = (sum(|c| c.forgiven), sum(|c| c.owed));
        let inconsistent = |what| PointsError::Inconsistent { what };
        self.forgiven.checked_sub(forgiven).ok_or(inconsistent(
            "forgiven is less than the held points to claw",
        ))?;
        self.owed
            .checked_sub(owed)
            .ok_or(inconsistent("owed is less than the held points to claw"))?;
        self.available
            .checked_sub(forgiven + owed)
            .ok_or(inconsistent("available is less than the points to claw"))?;
        self.reversed
            .checked_add(forgiven + owed)
            .ok_or(PointsError::Overflow)?;
        Ok(claws)
    }

    /// Takes the member's other points for `claws` (checked by
    /// [`Ledger::claws`]): counted as reversed, no longer forgiven or
    /// owed; returns the statement entries, per reversed event.
    fn claw(&mut self, claws: Vec<Claw>, now: DateTime<Utc>) -> Vec<Entry> {
        let mut entries = Vec::new();
        for c in claws {
            let back = c.forgiven + c.owed;
            let took = self.take_any(back, now);
            debug_assert_eq!(took, back, "checked by `claws`");
            self.available = self.available.saturating_sub(took);
            self.reversed = self.reversed.saturating_add(took);
            self.forgiven = self.forgiven.saturating_sub(c.forgiven);
            self.owed = self.owed.saturating_sub(c.owed);
            unmark(&mut self.forgiven_held, c.lot, c.forgiven);
            unmark(&mut self.owed_held, c.lot, c.owed);
            unmark(&mut self.clawed_at_capture, c.lot, back);
            if let Some(e) = self.earnings.iter_mut().find(|e| e.lot == c.lot) {
                e.forgiven = e.forgiven.saturating_sub(c.forgiven);
            }
            let source = self.lots.iter().find(|l| l.id == c.lot).map(|l| l.source);
            if let Some(source) = source.map(|s| shown(&self.shown_sources, s)) {
                entries.extend(Entry::of_parts(
                    now,
                    [
                        (c.forgiven, EntryKind::Reclaimed { source }),
                        (c.owed, EntryKind::ReclaimedOwed { source }),
                    ],
                ));
            }
        }
        entries
    }

    /// Marks `points` of the forgiven or owed held points of lot `lot` to
    /// claw at capture (see [`Ledger::clawed_at_capture`]).
    pub(crate) fn claw_at_capture(&mut self, lot: u64, points: u64) {
        mark(&mut self.clawed_at_capture, lot, points);
    }

    /// Points held in lot `lot` that no reversal forgave or owed.
    pub(crate) fn unmarked_held(&self, lot: u64) -> u64 {
        held_in(&self.lots, lot)
            .saturating_sub(marked(&self.forgiven_held, lot))
            .saturating_sub(marked(&self.owed_held, lot))
            .saturating_sub(claimed(&self.held_claims, lot))
    }

    /// Keeps the marks of forgiven and owed held points within what their
    /// lots still hold (forgiven ones first, as a release takes them): a
    /// capture spends them (they stay forgiven, or owed), a release hands
    /// them to the reversal or writes them off with their lot.
    fn trim_held_marks(&mut self) {
        let lots = &self.lots;
        self.forgiven_held.retain_mut(|(lot, points)| {
            *points = (*points).min(held_in(lots, *lot));
            *points > 0
        });
        let forgiven = &self.forgiven_held;
        self.owed_held.retain_mut(|(lot, points)| {
            let room = held_in(lots, *lot).saturating_sub(marked(forgiven, *lot));
            *points = (*points).min(room);
            *points > 0
        });
        // Claims after the lot's own marks, each within what is left.
        let (forgiven, owed) = (&self.forgiven_held, &self.owed_held);
        let mut kept: RareList<(u64, u64)> = RareList::default();
        self.held_claims.retain_mut(|c| {
            let own = marked(forgiven, c.lot).saturating_add(marked(owed, c.lot));
            let before = marked(&kept, c.lot);
            let room = held_in(lots, c.lot)
                .saturating_sub(own)
                .saturating_sub(before);
            c.points = c.points.min(room);
            mark(&mut kept, c.lot, c.points);
            c.points > 0
        });
        self.trim_claws();
        // A reversed bonus is named otherwise while its points are held.
        let (lots, claims) = (&self.lots, &self.held_claims);
        self.shown_sources
            .retain(|&(bonus, _)| still_held(lots, claims, bonus));
    }

    /// Keeps the held points to claw at capture within the forgiven and
    /// owed ones of their lots.
    fn trim_claws(&mut self) {
        let (forgiven, owed) = (&self.forgiven_held, &self.owed_held);
        self.clawed_at_capture.retain_mut(|(lot, points)| {
            let room = marked(forgiven, *lot).saturating_add(marked(owed, *lot));
            *points = (*points).min(room);
            *points > 0
        });
    }

    /// Keeps the owed held points within what is owed, once later awards
    /// paid some debt off: they pay what no hold stands for first, so the
    /// marks shrink only by what the payment took beyond that, newest
    /// first.
    #[cold]
    pub(crate) fn cap_owed_held(&mut self) {
        let claimed = self.held_claims.iter().filter(|c| c.owed).map(|c| c.points);
        // Summed wide: a stored or edited ledger may hold marks whose sum
        // passes `u64::MAX`, and they are cut down here all the same.
        let marks = self.owed_held.iter().map(|&(_, p)| p).chain(claimed);
        let total: u128 = marks.map(u128::from).sum();
        let mut excess = total.saturating_sub(u128::from(self.owed));
        // Other lots' claims first: the award's own held points are its own.
        let claims = self.held_claims.iter_mut().rev().filter(|c| c.owed);
        for points in claims
            .map(|c| &mut c.points)
            .chain(self.owed_held.iter_mut().rev().map(|(_, p)| p))
        {
            // At most `*points`, so it fits.
            let cut = excess.min(u128::from(*points)) as u64;
            *points -= cut;
            excess -= u128::from(cut);
        }
        self.owed_held.retain(|&(_, points)| points > 0);
        self.held_claims.retain(|c| c.points > 0);
        self.trim_claws();
    }

    /// Finds an open hold by key, or the remembered result of closing it
    /// the way `pick` accepts; a hold closed the other way is
    /// [`PointsError::HoldClosed`], and a key another kind of operation
    /// used is [`PointsError::KeyReused`].
    fn closed<T>(
        &self,
        key: &OperationKey,
        pick: impl Fn(&Remembered) -> Option<T>,
    ) -> Result<Closed<T>, PointsError> {
        if let Some(index) = self.holds.iter().position(|h| &h.key == key) {
            return Ok(Closed::Open(index));
        }
        // One look at what was remembered under the key: a capture or
        // release (this close again, or the other one), or a redemption or
        // reversal, whose key names no hold but is taken.
        let (mut closed_otherwise, mut taken) = (false, false);
        for r in self.operations.iter().rev().filter(|r| r.key() == key) {
            match r {
                Remembered::Capture(_) | Remembered::Release(_) => match pick(r) {
                    Some(first) => return Ok(Closed::Again(first)),
                    None => closed_otherwise = true,
                },
                Remembered::Hold(_) => {}
                Remembered::Redeem(_) | Remembered::Reverse(_) => taken = true,
            }
        }
        if closed_otherwise {
            return Err(PointsError::HoldClosed { key: key.clone() });
        }
        if taken {
            return Err(PointsError::KeyReused { key: key.clone() });
        }
        Err(PointsError::UnknownHold { key: key.clone() })
    }

    /// Validates closing hold `index`: the new `held` and version, and that
    /// every lot it reserved from still holds its points.
    fn check_close(&self, index: usize) -> Result<(u64, u64), PointsError> {
        let hold = self.holds.get(index).ok_or(PointsError::Inconsistent {
            what: "hold index out of range",
        })?;
        for t in &hold.taken {
            if !self
                .lots
                .iter()
                .any(|l| l.id == t.lot && l.held >= t.points)
            {
                return Err(PointsError::Inconsistent {
                    what: "a hold's lot does not hold its points",
                });
            }
        }
        let held = self
            .held
            .checked_sub(hold.points)
            .ok_or(PointsError::Inconsistent {
                what: "held is less than an open hold",
            })?;
        let version = self.version.checked_add(1).ok_or(PointsError::Overflow)?;
        Ok((held, version))
    }

    /// Takes a closed hold's points out of its lots' `held`.
    fn unhold(&mut self, taken: &[Taken]) {
        for t in taken {
            if let Some(lot) = self.lots.iter_mut().find(|l| l.id == t.lot) {
                // Checked by `check_close`.
                lot.held = lot.held.saturating_sub(t.points);
            }
        }
    }
}

/// Held points of lot `lot` claimed for the reversal of the award of
/// another lot (see [`Ledger::held_claims`]): forgiven, or `owed`, by that
/// reversal. Released, they go to it, as reclaimed points named after its
/// event (`source`); captured, or expired with their lot, they stay
/// forgiven or owed.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub(crate) struct HeldClaim {
    pub(crate) lot: u64,
    pub(crate) points: u64,
    /// The reversed award's lot.
    pub(crate) award: u64,
    /// The reversed award's event.
    pub(crate) source: EventId,
    pub(crate) owed: bool,
}

/// The points `claims` claim of lot `lot`.
fn claimed(claims: &[HeldClaim], lot: u64) -> u64 {
    claims
        .iter()
        .filter(|c| c.lot == lot)
        .fold(0, |sum, c| sum.saturating_add(c.points))
}

/// What a capture takes back for held points to claw at capture in lot
/// `lot`: points that were forgiven, and points that were owed.
struct Claw {
    lot: u64,
    forgiven: u64,
    owed: u64,
}

/// An open hold, or the first result of closing it.
enum Closed<T> {
    Open(usize),
    Again(T),
}

/// Where a lot's points returning from a hold go (see
/// [`Ledger::release`]); what is in none of these goes back into the lot.
#[derive(Clone, Copy, Default)]
struct Split {
    /// Expired with their lot.
    expired: u64,
    /// Of those, written off: a reversal had forgiven them.
    forgiven_off: u64,
    /// Of those, written off: a reversal had charged them as owed.
    owed_off: u64,
    /// To the reversal that had forgiven them.
    forgiven_back: u64,
    /// To the reversal that had charged them as owed, paying that debt off.
    owed_back: u64,
    /// To the reversal of another lot's award that had forgiven them (see
    /// [`Ledger::held_claims`]).
    forgiven_claimed: u64,
    /// To the reversal of another lot's award that had charged them as
    /// owed, paying that debt off.
    owed_claimed: u64,
}

impl Split {
    /// Points that go to a reversal.
    fn reclaimed(self) -> u64 {
        self.forgiven_back + self.owed_back + self.forgiven_claimed + self.owed_claimed
    }

    /// Points that are no longer forgiven: given back or written off.
    fn unforgiven(self) -> u64 {
        self.forgiven_back + self.forgiven_off + self.forgiven_claimed
    }

    /// Points that are no longer owed: paid or written off.
    fn unowed(self) -> u64 {
        self.owed_back + self.owed_off + self.owed_claimed
    }

    /// Both splits added up; `None` on overflow.
    fn plus(self, other: Split) -> Option<Split> {
        Some(Split {
            expired: self.expired.checked_add(other.expired)?,
            forgiven_off: self.forgiven_off.checked_add(other.forgiven_off)?,
            owed_off: self.owed_off.checked_add(other.owed_off)?,
            forgiven_back: self.forgiven_back.checked_add(other.forgiven_back)?,
            owed_back: self.owed_back.checked_add(other.owed_back)?,
            forgiven_claimed: self.forgiven_claimed.checked_add(other.forgiven_claimed)?,
            owed_claimed: self.owed_claimed.checked_add(other.owed_claimed)?,
        })
    }
}

/// The event a statement entry names for a reversal of event `source`:
/// the one [`Ledger::shown_sources`] names for it, if any (a reversed
/// bonus), else `source`.
fn shown(names: &[(EventId, EventId)], source: EventId) -> EventId {
    names
        .iter()
        .find(|&&(bonus, _)| bonus == source)
        .map_or(source, |&(_, shown_as)| shown_as)
}

/// Whether points of event `source` are still held, in its own lot or as
/// a claim on another's: a hold's close has them to settle.
pub(super) fn still_held(lots: &[super::Lot], claims: &[HeldClaim], source: EventId) -> bool {
    lots.iter().any(|l| l.source == source && l.held > 0)
        || claims.iter().any(|c| c.source == source)
}

/// The points `marks` records for lot `lot`.
fn marked(marks: &[(u64, u64)], lot: u64) -> u64 {
    marks
        .iter()
        .find(|(l, _)| *l == lot)
        .map_or(0, |&(_, points)| points)
}

/// Adds `points` to lot `lot`'s mark.
fn mark(marks: &mut RareList<(u64, u64)>, lot: u64, points: u64) {
    if points == 0 {
        return;
    }
    match marks.iter_mut().find(|(l, _)| *l == lot) {
        Some(m) => m.1 = m.1.saturating_add(points),
        None => marks.push((lot, points)),
    }
}

/// Takes `points` off lot `lot`'s mark (the caller drops empty marks).
fn unmark(marks: &mut [(u64, u64)], lot: u64, points: u64) {
    if let Some(m) = marks.iter_mut().find(|(l, _)| *l == lot) {
        m.1 = m.1.saturating_sub(points);
    }
}

/// The points held in lot `lot` (0 once it is gone).
pub(super) fn held_in(lots: &[super::Lot], lot: u64) -> u64 {
    lots.iter().find(|l| l.id == lot).map_or(0, |l| l.held)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::EventId;
    use crate::points::fixtures::*;
    use crate::points::{MAX_OPEN_HOLDS, Portion, Program};

    /// 100 points from a visit, expiring after 10 days.
    fn setup() -> (Program, Ledger) {
        let p = program(
            r#"{ "expiry": { "type": "after_days", "days": 10 },
                 "rules": [{ "name": "visit", "on": "visited", "reward": { "type": "fixed", "points": 100 } }] }"#,
        );
        let mut l = p.new_ledger();
        earn(&p, &mut l, &[visit(1, t(0))]);
        (p, l)
    }

    #[test]
    fn marks_of_held_debt_past_u64_max_in_all_are_cut_without_overflow() {
        // A ledger stored or edited with held debt marks summing past
        // `u64::MAX`: an award paying debt cuts them down, and panics in
        // no build.
        let p = shop(100, "", r#"{ "clawback": "debt" }"#);
        let mut l = p.new_ledger();
        earn(&p, &mut l, &[visit(1, t(0))]);
        assert!(l.hold("h".into(), 60, t(1)).is_ok());
        let r = p.reverse(&mut l, "x".into(), EventId(1), Portion::Whole {}, t(2));
        assert!(r.is_ok_and(|r| r.owed > 0));
        let mut json = serde_json::to_value(&l).unwrap_or_default();
        json["owed_held"] = serde_json::json!([[0, u64::MAX], [1, u64::MAX]]);
        let mut l: Ledger = serde_json::from_value(json).unwrap_or_else(|e| unreachable!("{e}"));
        let owed = l.owed();
        earn(&p, &mut l, &[visit(2, t(3))]);
        assert!(l.owed() < owed);
        // The marks stand for no more than the debt left.
        let marked: u128 = l.owed_held.iter().map(|&(_, p)| u128::from(p)).sum();
        assert!(marked <= u128::from(l.owed()));
    }

    #[test]
    fn forgiven_held_points_go_to_the_reversal_even_after_the_award_is_forgotten() {
        // Clamp, and only the latest award remembered for reversal.
        let p = shop(
            100,
            "",
            r#"{ "clawback": "clamp", "reversible_awards": 1 }"#,
        );
        let mut l = p.new_ledger();
        earn(&p, &mut l, &[visit(1, t(0))]);
        assert!(l.hold("h".into(), 60, t(1)).is_ok());
        // The visit is refunded while 60 of its points are held: 40 are
        // taken back, the 60 held ones forgiven (nothing else to take).
        let r = p
            .reverse(&mut l, "x".into(), EventId(1), Portion::Whole {}, t(2))
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!((r.taken_back, r.forgiven), (40, 60));
        // A later award pushes the reversed one out of the remembered awards.
        earn(&p, &mut l, &[visit(2, t(3))]);
        let back = l
            .release("h".into(), t(4))
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!((back.returned, back.reclaimed), (0, 60));
        assert!(
            back.entries
                .iter()
                .any(|e| e.to_string().contains("event#1"))
        );
        // Only the second visit's 100 points are the member's.
        assert_eq!(l.spendable(t(4)), 100);
        assert_eq!((l.forgiven(), l.reversed()), (0, 100));
        assert_conserved(&l, t(4));
        assert!(l.forgiven_held.is_empty());
    }

    #[test]
    fn a_captured_hold_keeps_its_forgiven_points_forgiven() {
        // Two holds of 30 on one award; the award is reversed (40 taken
        // back, 60 held ones forgiven); one hold is captured, the other
        // released: only the released one's points go to the reversal.
        let p = shop(100, "", r#"{ "clawback": "clamp" }"#);
        let mut l = p.new_ledger();
        earn(&p, &mut l, &[visit(1, t(0))]);
        assert!(l.hold("a".into(), 30, t(1)).is_ok());
        assert!(l.hold("b".into(), 30, t(1)).is_ok());
        let r = p.reverse(&mut l, "x".into(), EventId(1), Portion::Whole {}, t(2));
        assert!(r.is_ok_and(|r| (r.taken_back, r.forgiven) == (40, 60)));
        assert!(l.capture("a".into(), t(3)).is_ok());
        let back = l
            .release("b".into(), t(4))
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!((back.returned, back.reclaimed), (0, 30));
        assert_eq!((l.forgiven(), l.reversed(), l.redeemed()), (30, 70, 30));
        assert_conserved(&l, t(4));
        assert!(l.forgiven_held.is_empty());
        // Read back from JSON, a ledger with a mark judges alike.
        let mut m = p.new_ledger();
        earn(&p, &mut m, &[visit(1, t(0))]);
        assert!(m.hold("a".into(), 30, t(1)).is_ok());
        assert!(
            p.reverse(&mut m, "x".into(), EventId(1), Portion::Whole {}, t(2))
                .is_ok()
        );
        let json = serde_json::to_string(&m).unwrap_or_default();
        let back: Ledger = serde_json::from_str(&json).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(back, m);
        assert_eq!(*back.forgiven_held, [(m.lots[0].id, 30)]);
    }

    #[test]
    fn capture_spends_what_the_hold_reserved() {
        let (_, mut l) = setup();
        let h = l
            .hold("order".into(), 60, t(1))
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!((l.spendable(t(1)), l.held(), l.available()), (40, 60, 40));
        assert_eq!(l.holds(), std::slice::from_ref(&h));
        assert_conserved(&l, t(1));
        let c = l
            .capture("order".into(), t(2))
            .map(|r| r.to_redemption())
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!((c.points, c.taken.clone()), (60, h.taken));
        assert_eq!((l.held(), l.redeemed(), l.holds().len()), (0, 60, 0));
        assert_eq!(l.lots()[0].held, 0);
        assert_conserved(&l, t(2));
        // A retried capture returns the first; a release now is refused.
        let snapshot = json(&l);
        let again = l
            .capture("order".into(), t(3))
            .map(|r| r.to_redemption())
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_retry_of(&again, &c);
        assert_eq!(
            l.release("order".into(), t(3)),
            Err(PointsError::HoldClosed {
                key: "order".into()
            })
        );
        // So is a hold under the captured key: the first hold comes back.
        assert!(
            l.hold("order".into(), 5, t(3))
                .is_ok_and(|h| h.repeated && h.points == 60)
        );
        assert_eq!(json(&l), snapshot);
        let lines: Vec<String> = l.statement().skip(1).map(|e| e.to_string()).collect();
        assert_eq!(
            lines,
            [
                "2026-03-01 00:01:00 UTC −60 held for order",
                "2026-03-01 00:02:00 UTC  60 captured order",
            ]
        );
    }

    #[test]
    fn release_returns_the_points_and_a_capture_after_it_is_refused() {
        let (_, mut l) = setup();
        let _ = l.hold("order".into(), 100, t(1));
        assert_eq!(l.spendable(t(1)), 0);
        assert!(l.redeem("other".into(), 1, t(1)).is_err());
        let r = l
            .release("order".into(), t(2))
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!((r.returned, r.expired), (100, 0));
        assert_eq!((l.spendable(t(2)), l.held()), (100, 0));
        assert_conserved(&l, t(2));
        let snapshot = json(&l);
        assert!(l.release("order".into(), t(3)).is_ok_and(|r| r.repeated));
        assert_eq!(
            l.capture("order".into(), t(3)).map(|r| r.to_redemption()),
            Err(PointsError::HoldClosed {
                key: "order".into()
            })
        );
        assert_eq!(
            l.capture("nope".into(), t(3)).map(|r| r.to_redemption()),
            Err(PointsError::UnknownHold { key: "nope".into() })
        );
        assert_eq!(json(&l), snapshot);
        // A redemption's key names no hold, and is taken.
        assert!(l.redeem("coupon".into(), 10, t(3)).is_ok());
        let snapshot = json(&l);
        let reused = PointsError::KeyReused {
            key: "coupon".into(),
        };
        assert_eq!(l.capture("coupon".into(), t(4)).err(), Some(reused.clone()));
        assert_eq!(l.release("coupon".into(), t(4)).err(), Some(reused));
        assert_eq!(json(&l), snapshot);
    }

    #[test]
    fn held_points_do_not_expire_while_held() {
        let (_, mut l) = setup();
        let _ = l.hold("a".into(), 30, t(1));
        let _ = l.hold("b".into(), 30, t(1));
        // Ten days on, the lot has expired: its free 40 points are retired,
        // the held 60 stay held.
        let late = day(10);
        assert_eq!(l.expire(late), 40);
        assert_eq!((l.available(), l.held(), l.lots().len()), (0, 60, 1));
        assert_conserved(&l, late);
        // Capture spends held points whatever the clock says.
        assert!(l.capture("a".into(), late).is_ok_and(|c| c.points() == 30));
        // Release returns them to an expired lot: they expire at once.
        let r = l
            .release("b".into(), late)
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!((r.returned, r.expired), (0, 30));
        assert_eq!(
            (l.redeemed(), l.expired(), l.available(), l.lots().len()),
            (30, 70, 0, 0)
        );
        assert_eq!(
            r.entries.iter().map(|e| e.to_string()).collect::<Vec<_>>(),
            [
                "2026-03-11 00:00:00 UTC +30 released b",
                "2026-03-11 00:00:00 UTC −30 expired",
            ]
        );
        assert_conserved(&l, late);
    }

    #[test]
    fn release_just_before_expiry_returns_the_points() {
        let (_, mut l) = setup();
        let _ = l.hold("a".into(), 30, t(1));
        let before = day(10) - chrono::TimeDelta::milliseconds(1);
        let r = l.release("a".into(), before);
        assert!(r.is_ok_and(|r| r.returned == 30 && r.expired == 0));
        assert_eq!(l.spendable(before), 100);
        assert_eq!(l.expire(day(10)), 100);
    }

    #[test]
    fn failed_holds_change_nothing() {
        let (_, mut l) = setup();
        for i in 0..MAX_OPEN_HOLDS {
            assert!(l.hold(format!("h{i}").into(), 1, t(1)).is_ok());
        }
        let snapshot = json(&l);
        assert_eq!(
            l.hold("one more".into(), 1, t(1)),
            Err(PointsError::TooManyHolds {
                open: MAX_OPEN_HOLDS
            })
        );
        let _ = l.release("h0".into(), t(2));
        let snapshot_after = json(&l);
        assert_ne!(snapshot, snapshot_after);
        assert_eq!(
            l.hold("big".into(), 100, t(2)),
            Err(PointsError::Insufficient {
                requested: 100,
                spendable: 100 - (MAX_OPEN_HOLDS as u64 - 1)
            })
        );
        assert_eq!(l.hold("zero".into(), 0, t(2)), Err(PointsError::ZeroRedeem));
        // A redeem under an open hold's key is refused.
        assert_eq!(
            l.redeem("h1".into(), 1, t(2)).map(|_| ()),
            Err(PointsError::KeyReused { key: "h1".into() })
        );
        assert_eq!(json(&l), snapshot_after);
        assert_conserved(&l, t(2));
    }

    #[test]
    fn holds_skip_pending_points() {
        let p = shop(10, r#""pending_days": 2,"#, "{}");
        let mut l = p.new_ledger();
        earn(&p, &mut l, &[purchase(1, 50, t(0)), visit(2, t(0))]);
        assert!(l.hold("h".into(), 11, t(1)).is_err());
        let h = l.hold("h".into(), 10, t(1));
        assert!(h.is_ok_and(|h| h.taken.iter().all(|t| t.rule.as_str() == "visit")));
        assert!(l.hold("g".into(), 50, day(2)).is_ok());
        assert_conserved(&l, day(2));
    }

    /// 100 points from a visit (event 1) on day 0, expiring after 10 days,
    /// 60 of them held for an order, under clawback `policy` (a purchase
    /// earns a point per ¥1).
    fn held_visit(policy: &str) -> (Program, Ledger) {
        let p = program(&format!(
            r#"{{ "expiry": {{ "type": "after_days", "days": 10 }},
                 "ledger": {{ "clawback": "{policy}" }},
                 "rules": [{{ "name": "visit", "on": "visited",
                             "reward": {{ "type": "fixed", "points": 100 }} }},
                           {{ "name": "buy", "on": "purchase",
                             "reward": {{ "type": "per_amount", "points": 1, "per_minor": 100,
                                          "rounding": "down" }} }}] }}"#
        ));
        let mut l = p.new_ledger();
        earn(&p, &mut l, &[visit(1, t(0))]);
        assert!(l.hold("order".into(), 60, t(0)).is_ok());
        (p, l)
    }

    /// [`held_visit`] under `policy`; on day 5 the order is cancelled and
    /// the visit refunded, in either order; the lot's expiry runs on day
    /// 11. Returns the ledger and the release.
    fn release_and_refund(policy: &str, release_first: bool) -> (Ledger, Release) {
        let (p, mut l) = held_visit(policy);
        let release = |l: &mut Ledger| {
            l.release("order".into(), day(5))
                .unwrap_or_else(|e| unreachable!("{e}"))
        };
        let mut back = None;
        if release_first {
            back = Some(release(&mut l));
        }
        let r = p.reverse(
            &mut l,
            "refund".into(),
            EventId(1),
            Portion::Whole {},
            day(5),
        );
        assert!(r.is_ok_and(|r| r.points == 100));
        let back = back.unwrap_or_else(|| release(&mut l));
        assert_conserved(&l, day(5));
        l.expire(day(11));
        assert_conserved(&l, day(11));
        (l, back)
    }

    /// The release and the refund end alike, whichever came first: the
    /// refund takes all 100 points, none owed, none left to expire.
    fn assert_release_and_refund_commute(policy: &str) {
        for release_first in [true, false] {
            let (l, back) = release_and_refund(policy, release_first);
            assert_eq!(
                (l.balance(day(11)), l.owed(), l.forgiven()),
                (0, 0, 0),
                "{policy}, release first: {release_first}"
            );
            assert_eq!(
                (l.expired(), l.reversed()),
                (0, 100),
                "{policy}, release first: {release_first}"
            );
            // Released after the refund, the 60 points go to it.
            let reclaimed = if release_first { 0 } else { 60 };
            assert_eq!((back.returned, back.reclaimed), (60 - reclaimed, reclaimed));
            assert!(l.forgiven_held.is_empty() && l.owed_held.is_empty());
        }
    }

    #[test]
    fn under_debt_a_release_after_the_refund_pays_the_debt_off() {
        assert_release_and_refund_commute("debt");
        // The release's points pay the debt the refund charged for them:
        // no change net of debt (the `−60 owed` entry counted it).
        let (_, back) = release_and_refund("debt", false);
        assert_eq!(
            back.entries
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>(),
            [
                "2026-03-06 00:00:00 UTC +60 released order",
                "2026-03-06 00:00:00 UTC  60 reclaimed for reversed event#1, paying its debt",
            ]
        );
    }

    #[test]
    fn under_negative_balance_a_release_after_the_refund_pays_the_debt_off() {
        assert_release_and_refund_commute("negative_balance");
    }

    #[test]
    fn under_clamp_a_release_after_the_refund_reclaims_the_forgiven_points() {
        assert_release_and_refund_commute("clamp");
    }

    #[test]
    fn under_debt_captured_held_points_of_a_refunded_award_stay_owed() {
        // Captured before or after the refund, the 60 held points were
        // spent: the refund takes the other 40 and 60 are owed, as under
        // clamp they stay forgiven.
        for capture_first in [true, false] {
            let (p, mut l) = held_visit("debt");
            if capture_first {
                assert!(l.capture("order".into(), day(5)).is_ok());
            }
            let r = p.reverse(
                &mut l,
                "refund".into(),
                EventId(1),
                Portion::Whole {},
                day(5),
            );
            assert!(r.is_ok_and(|r| (r.taken_back, r.owed) == (40, 60)));
            if !capture_first {
                let c = l.capture("order".into(), day(5));
                assert!(c.is_ok_and(|c| c.points() == 60));
                // A retried capture changes nothing.
                let snapshot = json(&l);
                assert!(
                    l.capture("order".into(), day(6))
                        .is_ok_and(|c| c.repeated())
                );
                assert_eq!(json(&l), snapshot);
            }
            assert!(l.owed_held.is_empty());
            assert_eq!(l.expire(day(11)), 0);
            assert_eq!(
                (l.balance(day(11)), l.owed(), l.redeemed(), l.reversed()),
                (-60, 60, 60, 40)
            );
            assert_conserved(&l, day(11));
            // A later award pays the debt off.
            earn(&p, &mut l, &[visit(2, day(12))]);
            assert_eq!((l.owed(), l.spendable(day(12)), l.reversed()), (0, 40, 100));
            assert_conserved(&l, day(12));
        }
    }

    /// A purchase of ¥100 (event 1) whose points expire after two days
    /// and a visit (event 2) of 30 points that never expire, under
    /// `policy`; 10 of the purchase's points held for an order in the
    /// first hour.
    fn held_then_expired(policy: &str) -> (Program, Ledger) {
        let expiry = r#""expiry": { "type": "after_days", "days": 2 },"#;
        let p = shop(30, expiry, &format!(r#"{{ "clawback": "{policy}" }}"#));
        let mut l = p.new_ledger();
        earn(&p, &mut l, &[purchase(1, 100, t(0)), visit(2, t(0))]);
        assert!(l.hold("order".into(), 10, t(60)).is_ok());
        (p, l)
    }

    #[test]
    fn held_points_of_an_expired_lot_are_settled_at_the_close_whatever_the_order() {
        // On day 3 the purchase is refunded and the order closed, in
        // either order; its lot expired on day 2. Released, the 10 held
        // points expire too and the refund writes all 100 off; captured,
        // they were spent, and the refund takes 10 of the visit's for them.
        // Before, a refund first took the visit's 10 even when the release
        // then expired the held ones: the member paid twice.
        for policy in ["clamp", "negative_balance"] {
            for capture in [false, true] {
                let mut ends = Vec::new();
                for close_first in [true, false] {
                    let (p, mut l) = held_then_expired(policy);
                    let close = |l: &mut Ledger| match capture {
                        true => {
                            let first = l.capture("order".into(), day(3));
                            let first = first
                                .unwrap_or_else(|e| unreachable!("{e}"))
                                .to_redemption();
                            let again = l.capture("order".into(), day(4));
                            let again = again.unwrap_or_else(|e| unreachable!("{e}"));
                            assert_retry_of(&again.to_redemption(), &first);
                        }
                        false => assert!(l.release("order".into(), day(3)).is_ok()),
                    };
                    if close_first {
                        close(&mut l);
                    }
                    let whole = Portion::Whole {};
                    assert!(
                        p.reverse(&mut l, "refund".into(), EventId(1), whole, day(3))
                            .is_ok()
                    );
                    if !close_first {
                        close(&mut l);
                    }
                    assert_conserved(&l, day(3));
                    assert_statement_sums(&l, day(3));
                    assert!(l.clawed_at_capture.is_empty());
                    ends.push((l.balance(day(3)), l.owed(), l.forgiven()));
                    ends.push((l.expired().into(), l.reversed(), l.redeemed()));
                }
                let (balance, expired, reversed) = match capture {
                    true => (20, 90, 10),
                    false => (30, 100, 0),
                };
                let redeemed = u64::from(capture) * 10;
                let end = [(balance, 0, 0), (expired, reversed, redeemed)];
                assert_eq!(ends, [end, end].concat(), "{policy}, captured: {capture}");
            }
        }
    }

    #[test]
    fn other_lots_held_points_go_to_the_reversal_released_whatever_the_order() {
        // A purchase of ¥100 (event 1) and a visit of 30 points; 60 of the
        // purchase's points spent, then 50 held: its last 40 and 10 of the
        // visit's. Refunded with the order cancelled, in either order: had
        // the release come first, the refund would have taken the visit's
        // 10 too, so reversing first claims them for the refund at release.
        // Before, they went back to the member.
        for policy in ["clamp", "negative_balance"] {
            let mut ends = Vec::new();
            for release_first in [true, false] {
                let p = shop(30, "", &format!(r#"{{ "clawback": "{policy}" }}"#));
                let mut l = p.new_ledger();
                earn(&p, &mut l, &[purchase(1, 100, t(0)), visit(2, t(0))]);
                assert!(l.redeem("spent".into(), 60, t(1)).is_ok());
                assert!(l.hold("order".into(), 50, t(2)).is_ok());
                let release = |l: &mut Ledger| {
                    let back = l.release("order".into(), t(3));
                    back.unwrap_or_else(|e| unreachable!("{e}"))
                };
                if release_first {
                    release(&mut l);
                }
                let whole = Portion::Whole {};
                assert!(
                    p.reverse(&mut l, "refund".into(), EventId(1), whole, t(3))
                        .is_ok()
                );
                if !release_first {
                    let back = release(&mut l);
                    assert_eq!((back.returned, back.reclaimed), (0, 50), "{policy}");
                }
                assert_conserved(&l, t(3));
                assert_statement_sums(&l, t(3));
                assert!(l.held_claims.is_empty() && l.forgiven_held.is_empty());
                ends.push((l.balance(t(3)), l.owed(), l.forgiven(), l.reversed()));
            }
            let end = match policy {
                "clamp" => (0, 0, 30, 70),
                _ => (-30, 30, 0, 70),
            };
            assert_eq!(ends, [end, end], "{policy}");
        }
    }

    #[test]
    fn owed_held_points_released_after_their_lot_expired_are_written_off() {
        // The refund and the release both come on day 11, after the lot
        // expired, in either order: all 100 points expired unused, so
        // nothing is owed.
        for policy in ["debt", "negative_balance", "clamp"] {
            for release_first in [true, false] {
                let (p, mut l) = held_visit(policy);
                let mut written_off = 0;
                if release_first {
                    let back = l.release("order".into(), day(11));
                    assert!(back.is_ok_and(|b| (b.expired, b.written_off) == (60, 0)));
                }
                let r = p.reverse(
                    &mut l,
                    "refund".into(),
                    EventId(1),
                    Portion::Whole {},
                    day(11),
                );
                assert!(r.is_ok());
                if !release_first {
                    let back = l
                        .release("order".into(), day(11))
                        .unwrap_or_else(|e| unreachable!("{e}"));
                    assert_eq!((back.expired, back.reclaimed), (60, 0));
                    written_off = back.written_off;
                }
                let case = format!("{policy}, release first: {release_first}");
                assert_eq!(written_off, if release_first { 0 } else { 60 }, "{case}");
                assert_eq!(
                    (l.balance(day(11)), l.owed(), l.forgiven()),
                    (0, 0, 0),
                    "{case}"
                );
                assert_eq!((l.expired(), l.reversed()), (100, 0), "{case}");
                assert_eq!(l.earnings().next().map(|e| e.written_off), Some(100));
                assert_conserved(&l, day(11));
            }
        }
    }

    #[test]
    fn a_debt_paid_off_before_the_release_leaves_the_held_points_to_the_member() {
        // 100 from visit 1: 40 spent, 60 held. The refund owes 100, 60 of
        // them for the held points. Visit 2 (100) pays the debt off first,
        // what no hold stands for (40), then 60 of the held points' share.
        let (p, mut l) = held_visit("debt");
        assert!(l.redeem("coupon".into(), 40, t(1)).is_ok());
        let r = p.reverse(&mut l, "refund".into(), EventId(1), Portion::Whole {}, t(2));
        assert!(r.is_ok_and(|r| r.owed == 100));
        assert_eq!(*l.owed_held, [(l.lots[0].id, 60)]);
        earn(&p, &mut l, &[visit(2, t(3))]);
        assert_eq!(l.owed(), 0);
        assert!(l.owed_held.is_empty());
        assert_conserved(&l, t(3));
        // Nothing is owed any more: the held points come back.
        let back = l.release("order".into(), t(4));
        assert!(back.is_ok_and(|b| (b.returned, b.reclaimed) == (60, 0)));
        assert_eq!((l.spendable(t(4)), l.reversed()), (60, 100));
        assert_conserved(&l, t(4));
        // Paid off in part, the debt left is the held points': released,
        // they pay it, and the rest come back.
        let (p, mut l) = held_visit("debt");
        assert!(l.redeem("coupon".into(), 40, t(1)).is_ok());
        assert!(
            p.reverse(&mut l, "refund".into(), EventId(1), Portion::Whole {}, t(2))
                .is_ok()
        );
        earn(&p, &mut l, &[purchase(2, 50, t(3))]);
        assert_eq!((l.owed(), l.owed_held.first().map(|m| m.1)), (50, Some(50)));
        let back = l.release("order".into(), t(4));
        assert!(back.is_ok_and(|b| (b.returned, b.reclaimed) == (10, 50)));
        assert_eq!((l.owed(), l.spendable(t(4)), l.reversed()), (0, 10, 100));
        assert_conserved(&l, t(4));
        // Read back from JSON, a ledger with owed held points is the same.
        let (p, mut m) = held_visit("debt");
        assert!(
            p.reverse(&mut m, "refund".into(), EventId(1), Portion::Whole {}, t(2))
                .is_ok()
        );
        let back: Ledger = serde_json::from_str(&json(&m)).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(back, m);
        assert_eq!(*back.owed_held, [(m.lots[0].id, 60)]);
    }
}
