//! A user's points: lots with expiry, totals, cap counters, and the spending
//! steps [`Ledger::redeem`] and [`Ledger::expire`].

use super::PointsError;
use crate::dedupe::RecentIds;
use crate::event::Label;
use crate::store::Versioned;
use crate::time::LocalDay;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};

/// How many redeem operation keys a ledger remembers; past it the oldest is
/// forgotten. Retries of a checkout come within seconds or minutes, so the
/// last 64 operations are plenty and keep the state small.
pub const REMEMBERED_KEYS: usize = 64;

/// Points earned together by one rule for one event, spent and expired as one.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct Lot {
    /// The rule that awarded it.
    pub rule: Label,
    /// When the earning event happened.
    pub earned_at: DateTime<Utc>,
    /// When what is left of it expires (`None`: never).
    pub expires_at: Option<DateTime<Utc>>,
    /// Points not yet spent or expired.
    pub remaining: u64,
}

/// The idempotency key of a redeem operation (an order id, a request id).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OperationKey(pub String);

impl From<&str> for OperationKey {
    fn from(s: &str) -> Self {
        OperationKey(s.to_owned())
    }
}

impl From<String> for OperationKey {
    fn from(s: String) -> Self {
        OperationKey(s)
    }
}

/// The points of one rule on one local day.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default, Serialize, Deserialize)]
pub struct DayTally {
    /// Awards.
    pub count: u32,
    /// Points.
    pub points: u64,
}

/// One rule's awards, for its caps.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Default, Serialize, Deserialize)]
pub struct RuleCounter {
    /// Awards over the user's lifetime.
    pub count: u32,
    /// Points over the user's lifetime.
    pub points: u64,
    /// Per local day, the most recent few days only
    /// ([`DAILY_TALLY_DAYS`](super::DAILY_TALLY_DAYS)).
    pub days: BTreeMap<LocalDay, DayTally>,
}

/// Points taken from one lot by a redemption.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct Taken {
    /// The lot's rule.
    pub rule: Label,
    /// The lot's earning time.
    pub earned_at: DateTime<Utc>,
    /// The lot's expiry.
    pub expires_at: Option<DateTime<Utc>>,
    /// Points taken.
    pub points: u64,
}

/// The result of a redeem.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct Redemption {
    /// The operation's key.
    pub key: OperationKey,
    /// Points spent.
    pub points: u64,
    /// When.
    pub at: DateTime<Utc>,
    /// Which lots paid, earliest-expiring first.
    pub taken: Vec<Taken>,
    /// `true` when this is the stored result of an earlier call with the
    /// same key; nothing changed this time.
    pub repeated: bool,
}

/// One user's points: plain serde data with a [`version`](Ledger::version).
///
/// Invariant (see [`Ledger::check`]): `earned = available + redeemed +
/// expired + reversed`, and `available` is the sum of the lots' `remaining`.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct Ledger {
    pub(crate) version: u64,
    pub(crate) lots: Vec<Lot>,
    pub(crate) earned: u64,
    pub(crate) available: u64,
    pub(crate) redeemed: u64,
    pub(crate) expired: u64,
    pub(crate) reversed: u64,
    pub(crate) counters: BTreeMap<Label, RuleCounter>,
    pub(crate) seen: RecentIds,
    pub(crate) operations: VecDeque<Redemption>,
}

impl Versioned for Ledger {
    fn version(&self) -> u64 {
        self.version
    }
}

impl Ledger {
    /// An empty ledger at version 0.
    pub fn new() -> Ledger {
        Ledger::default()
    }

    /// Bumped by every successful change.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The lots still holding points, in earning order.
    pub fn lots(&self) -> &[Lot] {
        &self.lots
    }

    /// Every point ever awarded.
    pub fn earned(&self) -> u64 {
        self.earned
    }

    /// Points held in lots (some may be past expiry until [`Ledger::expire`]
    /// retires them; [`Ledger::spendable`] excludes those).
    pub fn available(&self) -> u64 {
        self.available
    }

    /// Points spent.
    pub fn redeemed(&self) -> u64 {
        self.redeemed
    }

    /// Points retired by expiry.
    pub fn expired(&self) -> u64 {
        self.expired
    }

    /// Points clawed back (always 0 until reversals arrive).
    pub fn reversed(&self) -> u64 {
        self.reversed
    }

    /// One rule's counters, if it has awarded anything.
    pub fn counter(&self, rule: &str) -> Option<&RuleCounter> {
        self.counters.get(&Label::from(rule))
    }

    /// Points that can be spent at `now`: lots not expired at `now`.
    pub fn spendable(&self, now: DateTime<Utc>) -> u64 {
        // Cannot saturate: the sum is at most `available`, a u64.
        self.lots
            .iter()
            .filter(|l| live(l, now))
            .fold(0u64, |s, l| s.saturating_add(l.remaining))
    }

    /// Retires every lot whose `expires_at <= now`; returns the points retired.
    ///
    /// The version is bumped only if something expired.
    pub fn expire(&mut self, now: DateTime<Utc>) -> u64 {
        let due: u64 = self
            .lots
            .iter()
            .filter(|l| !live(l, now))
            .fold(0u64, |s, l| s.saturating_add(l.remaining));
        if due == 0 {
            return 0;
        }
        self.lots.retain(|l| live(l, now));
        // Cannot saturate or underflow: `due` is part of `available`, and
        // `expired + available <= earned`, a u64.
        self.available = self.available.saturating_sub(due);
        self.expired = self.expired.saturating_add(due);
        // Saturating keeps `expire` infallible; 2^64 changes do not happen.
        self.version = self.version.saturating_add(1);
        due
    }

    /// Spends `points`, earliest-expiring lots first (never-expiring last,
    /// older before newer on ties), using only lots not expired at `now`.
    ///
    /// Repeating a `key` returns the first result (marked
    /// [`repeated`](Redemption::repeated)) and changes nothing, even if
    /// `points` differs. Zero points or too few spendable points are errors
    /// that change nothing.
    pub fn redeem(
        &mut self,
        key: OperationKey,
        points: u64,
        now: DateTime<Utc>,
    ) -> Result<Redemption, PointsError> {
        if let Some(first) = self.operations.iter().find(|r| r.key == key) {
            let mut again = first.clone();
            again.repeated = true;
            return Ok(again);
        }
        if points == 0 {
            return Err(PointsError::ZeroRedeem);
        }
        let spendable = self.spendable(now);
        if spendable < points {
            return Err(PointsError::Insufficient {
                requested: points,
                spendable,
            });
        }
        let redeemed = self
            .redeemed
            .checked_add(points)
            .ok_or(PointsError::Overflow)?;
        let version = self.version.checked_add(1).ok_or(PointsError::Overflow)?;
        // Only a corrupt (hand-edited) ledger could have fewer points held
        // than spendable; refuse it rather than underflow.
        let available = self
            .available
            .checked_sub(points)
            .ok_or(PointsError::Inconsistent {
                what: "available is less than the spendable lots",
            })?;

        let mut order: Vec<usize> = (0..self.lots.len())
            .filter(|&i| self.lots.get(i).is_some_and(|l| live(l, now)))
            .collect();
        // `None` (never) sorts last: compare `(is_none, time)`.
        order.sort_by_key(|&i| {
            self.lots
                .get(i)
                .map(|l| (l.expires_at.is_none(), l.expires_at, l.earned_at))
        });
        let mut left = points;
        let mut taken = Vec::new();
        for i in order {
            if left == 0 {
                break;
            }
            let Some(lot) = self.lots.get_mut(i) else {
                continue;
            };
            let take = lot.remaining.min(left);
            if take == 0 {
                continue;
            }
            lot.remaining -= take;
            left -= take;
            taken.push(Taken {
                rule: lot.rule.clone(),
                earned_at: lot.earned_at,
                expires_at: lot.expires_at,
                points: take,
            });
        }
        self.lots.retain(|l| l.remaining > 0);
        self.available = available;
        self.redeemed = redeemed;
        self.version = version;
        let result = Redemption {
            key,
            points,
            at: now,
            taken,
            repeated: false,
        };
        if self.operations.len() >= REMEMBERED_KEYS {
            self.operations.pop_front();
        }
        self.operations.push_back(result.clone());
        Ok(result)
    }

    /// Verifies the ledger's invariants: `earned = available + redeemed +
    /// expired + reversed`, and `available` equals the sum of the lots'
    /// `remaining`.
    pub fn check(&self) -> Result<(), PointsError> {
        let parts = [self.redeemed, self.expired, self.reversed]
            .into_iter()
            .try_fold(self.available, u64::checked_add);
        if parts != Some(self.earned) {
            return Err(PointsError::Inconsistent {
                what: "earned != available + redeemed + expired + reversed",
            });
        }
        let held = self
            .lots
            .iter()
            .try_fold(0u64, |s, l| s.checked_add(l.remaining));
        if held != Some(self.available) {
            return Err(PointsError::Inconsistent {
                what: "available != sum of lots' remaining",
            });
        }
        Ok(())
    }
}

/// Whether a lot can still be spent at `now` (expiry is inclusive: a lot
/// expiring at `now` is gone at `now`).
fn live(lot: &Lot, now: DateTime<Utc>) -> bool {
    lot.expires_at.is_none_or(|e| e > now)
}
