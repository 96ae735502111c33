//! Holds for checkout flows: reserve points for an order
//! ([`Ledger::hold`]), then spend them ([`Ledger::capture`]) or give them
//! back ([`Ledger::release`]).

use super::PointsError;
use super::entry_list::EntryList;
use super::ledger::{
    Ledger, MAX_OPEN_HOLDS, OperationKey, Redemption, Remembered, Spent, Taken, TakenList,
};
use super::statement::{Entry, EntryKind};
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
/// and a statement entry). Points of an award reversed while they were held,
/// which a `clamp` reversal forgave because it could not take them, go to
/// that reversal at release instead of back to the member
/// ([`Release::reclaimed`]); captured, they stay forgiven (they were spent).
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
    /// Of those, points of an award reversed while they were held, which a
    /// `clamp` reversal forgave because it could not take them: they go to
    /// the reversal now (counted as reversed, no longer forgiven) instead of
    /// back to the member.
    pub reclaimed: u64,
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
    /// reserved in time). Returns the redemption, keyed by the hold's key.
    ///
    /// Errors, which change nothing: no hold with this key
    /// ([`PointsError::UnknownHold`]; [`PointsError::KeyReused`] if another
    /// kind of operation used it), or one already released
    /// ([`PointsError::HoldClosed`]). Repeating a capture returns the first.
    pub fn capture(
        &mut self,
        key: OperationKey,
        now: DateTime<Utc>,
    ) -> Result<Redemption, PointsError> {
        let index = match self.closed(&key, |r| match r {
            Remembered::Capture(c) => Some(c.again(|key| EntryKind::Captured { key })),
            _ => None,
        })? {
            Closed::Again(first) => return Ok(first),
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

        let hold = self.holds.remove(index);
        self.unhold(&hold.taken);
        self.held = held;
        self.redeemed = redeemed;
        self.version = version;
        let result = Redemption {
            key: key.clone(),
            points,
            at: now,
            taken: hold.taken,
            entries: EntryList::from(Entry {
                at: now,
                points,
                kind: EntryKind::Captured { key },
            }),
            repeated: false,
        };
        self.write(&result.entries);
        self.lots.retain(|l| l.remaining > 0 || l.held > 0);
        self.trim_forgiven_held();
        self.remember(Remembered::Capture(Spent::of(&result)));
        Ok(result)
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
        // Where each lot's reserved points go: expired with their lot, to a
        // clamp reversal that forgave them, or back into the lot.
        let (mut expired, mut reclaimed) = (0u64, 0u64);
        for t in &hold.taken {
            let (to_expiry, to_reversal) = self.release_split(t.lot, t.points, now);
            expired = expired
                .checked_add(to_expiry)
                .ok_or(PointsError::Overflow)?;
            reclaimed = reclaimed
                .checked_add(to_reversal)
                .ok_or(PointsError::Overflow)?;
        }
        // Both are parts of `points`, as `release_split` splits each lot's share.
        let returned = points.saturating_sub(expired).saturating_sub(reclaimed);
        let available = self
            .available
            .checked_add(returned)
            .ok_or(PointsError::Overflow)?;
        let expired_total = self
            .expired
            .checked_add(expired)
            .ok_or(PointsError::Overflow)?;
        let reversed_total = self
            .reversed
            .checked_add(reclaimed)
            .ok_or(PointsError::Overflow)?;
        let forgiven_total =
            self.forgiven
                .checked_sub(reclaimed)
                .ok_or(PointsError::Inconsistent {
                    what: "forgiven is less than the awards' forgiven points",
                })?;

        let hold = self.holds.remove(index);
        let mut sources = Vec::new();
        for t in &hold.taken {
            let (to_expiry, to_reversal) = self.release_split(t.lot, t.points, now);
            let record = self.earnings.iter_mut().find(|e| e.lot == t.lot);
            if let Some(e) = record {
                e.expired = e.expired.saturating_add(to_expiry);
                e.forgiven = e.forgiven.saturating_sub(to_reversal);
            }
            if let Some(lot) = self.lots.iter_mut().find(|l| l.id == t.lot) {
                lot.held = lot.held.saturating_sub(t.points);
                // Cannot saturate: remaining + held never exceeds the award.
                lot.remaining = lot
                    .remaining
                    .saturating_add(t.points.saturating_sub(to_expiry + to_reversal));
                if to_reversal > 0 {
                    sources.push((lot.source, to_reversal));
                }
            }
            if let Some(f) = self.forgiven_held.iter_mut().find(|(l, _)| *l == t.lot) {
                f.1 = f.1.saturating_sub(to_reversal);
            }
        }
        self.lots.retain(|l| l.remaining > 0 || l.held > 0);
        self.trim_forgiven_held();
        self.available = available;
        self.expired = expired_total;
        self.reversed = reversed_total;
        self.forgiven = forgiven_total;
        self.held = held;
        self.version = version;
        let mut entries = vec![Entry {
            at: now,
            points,
            kind: EntryKind::Released { key: key.clone() },
        }];
        if expired > 0 {
            entries.push(Entry {
                at: now,
                points: expired,
                kind: EntryKind::Expired,
            });
        }
        for (source, points) in sources {
            entries.push(Entry {
                at: now,
                points,
                kind: EntryKind::Reclaimed { source },
            });
        }
        let result = Release {
            key,
            points,
            returned,
            expired,
            reclaimed,
            at: now,
            entries,
            repeated: false,
        };
        self.write(&result.entries);
        self.remember(Remembered::Release(result.clone()));
        Ok(result)
    }

    /// How a lot's `points` returning from a hold at `now` split: expiring
    /// (the lot is past expiry) and reclaimed by a clamp reversal (its award
    /// was reversed while they were held and the reversal forgave them); the
    /// rest goes back into the lot.
    fn release_split(&self, lot: u64, points: u64, now: DateTime<Utc>) -> (u64, u64) {
        if self.lots.iter().any(|l| l.id == lot && l.due_at(now)) {
            return (points, 0);
        }
        (0, self.forgiven_held_of(lot).min(points))
    }

    /// Held points of lot `lot` that a clamp reversal forgave.
    fn forgiven_held_of(&self, lot: u64) -> u64 {
        self.forgiven_held
            .iter()
            .find(|(l, _)| *l == lot)
            .map_or(0, |&(_, points)| points)
    }

    /// Marks up to `points` points forgiven by a clamp reversal of the
    /// award of lot `lot` as held ones, which go to the reversal when
    /// released: at most what the lot holds beyond those marked already
    /// (the rest of what was forgiven was spent or expired).
    pub(crate) fn forgive_held(&mut self, lot: u64, points: u64) {
        let held = held_in(&self.lots, lot);
        let marked = self.forgiven_held_of(lot);
        let more = points.min(held.saturating_sub(marked));
        if more == 0 {
            return;
        }
        match self.forgiven_held.iter_mut().find(|(l, _)| *l == lot) {
            Some(f) => f.1 += more,
            None => self.forgiven_held.push((lot, more)),
        }
    }

    /// Keeps the marks of forgiven held points within what their lots still
    /// hold: a capture spends them (they stay forgiven), a release hands
    /// them to the reversal or expires them with their lot.
    fn trim_forgiven_held(&mut self) {
        let lots = &self.lots;
        self.forgiven_held.retain_mut(|(lot, points)| {
            let held = held_in(lots, *lot);
            *points = (*points).min(held);
            *points > 0
        });
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

/// An open hold, or the first result of closing it.
enum Closed<T> {
    Open(usize),
    Again(T),
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
            .reverse(&mut l, "x".into(), EventId(1), Portion::Whole, t(2))
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
        let r = p.reverse(&mut l, "x".into(), EventId(1), Portion::Whole, t(2));
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
            p.reverse(&mut m, "x".into(), EventId(1), Portion::Whole, t(2))
                .is_ok()
        );
        let json = serde_json::to_string(&m).unwrap_or_default();
        let back: Ledger = serde_json::from_str(&json).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(back, m);
        assert_eq!(back.forgiven_held, [(m.lots[0].id, 30)]);
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
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!((c.points, c.taken.clone()), (60, h.taken));
        assert_eq!((l.held(), l.redeemed(), l.holds().len()), (0, 60, 0));
        assert_eq!(l.lots()[0].held, 0);
        assert_conserved(&l, t(2));
        // A retried capture returns the first; a release now is refused.
        let snapshot = json(&l);
        let again = l
            .capture("order".into(), t(3))
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
            l.capture("order".into(), t(3)),
            Err(PointsError::HoldClosed {
                key: "order".into()
            })
        );
        assert_eq!(
            l.capture("nope".into(), t(3)),
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
        assert!(l.capture("a".into(), late).is_ok_and(|c| c.points == 30));
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
}
