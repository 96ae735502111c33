//! A user's points: lots with expiry, totals, cap counters, and the spending
//! steps [`Ledger::redeem`] and [`Ledger::expire`].

use super::PointsError;
use super::limits::{month_of, week_of};
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
    /// Whether the award counted towards the program's global daily cap
    /// (its rule was not exempt and the program has one), so that a
    /// reversal gives that room back too.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub counted_global: bool,
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

/// How many local days of per-rule and global daily tallies a ledger keeps,
/// counting back from the newest day tallied. Late events within the dedupe
/// horizon (days, not weeks) land inside it; an event older than that cannot
/// be checked against its day's cap and is refused with
/// [`PointsError::TooLate`] rather than guessed at.
///
/// Week and month tallies are kept for every week and month that one of
/// these days falls in: the current and previous ISO week, the current and
/// previous calendar month at most.
pub const DAILY_TALLY_DAYS: i32 = 8;

/// The awards of one rule (or of the whole program) in one period: a local
/// day, week or month, or a lifetime.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default, Serialize, Deserialize)]
pub struct DayTally {
    /// Awards.
    pub count: u32,
    /// Points.
    pub points: u64,
}

impl DayTally {
    /// With one more award of `points`, or `None` on overflow.
    pub(crate) fn plus(self, points: u64) -> Option<DayTally> {
        Some(DayTally {
            count: self.count.checked_add(1)?,
            points: self.points.checked_add(points)?,
        })
    }

    /// Adds one award of `points`. Only called once the lifetime tally (of
    /// which every period tally is a part) was checked, so saturation means
    /// a ledger edited outside the library, and is the least-bad answer.
    fn add(&mut self, points: u64) {
        self.count = self.count.saturating_add(1);
        self.points = self.points.saturating_add(points);
    }

    /// Takes one award of `points` away (never below zero).
    fn remove(&mut self, points: u64) {
        self.count = self.count.saturating_sub(1);
        self.points = self.points.saturating_sub(points);
    }

    fn is_empty(self) -> bool {
        self.count == 0 && self.points == 0
    }
}

/// One rule's awards and matches for one user, for its caps, cooldown and
/// counting conditions.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Default, Serialize, Deserialize)]
pub struct RuleCounter {
    /// Awards over the user's lifetime.
    pub count: u32,
    /// Points over the user's lifetime.
    pub points: u64,
    /// Per local day, the most recent few days only ([`DAILY_TALLY_DAYS`]),
    /// for rules with a cap per day, week or month.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub days: BTreeMap<LocalDay, DayTally>,
    /// Per local ISO week (keyed by its Monday), for rules with a weekly
    /// cap (a weekly cap added to a running program counts from then on).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub weeks: BTreeMap<LocalDay, DayTally>,
    /// Per local calendar month (keyed by its first day), for rules with a
    /// monthly cap (likewise counted from when the cap was added).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub months: BTreeMap<LocalDay, DayTally>,
    /// Events that met the rule's conditions, for rules with a `first_time`
    /// or `every_nth` condition (0 for other rules).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub matched: u64,
    /// The latest award's event time, for rules with a cooldown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_award_at: Option<DateTime<Utc>>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Where one award is tallied: its local day, and its week and month for
/// rules that keep those (keys computed once per event by the caller).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Periods {
    pub(crate) day: LocalDay,
    /// Whether to tally the day (rules with a day, week or month cap).
    pub(crate) days: bool,
    pub(crate) week: Option<LocalDay>,
    pub(crate) month: Option<LocalDay>,
    /// Whether to remember the award's time (rules with a cooldown).
    pub(crate) last_award: bool,
}

impl RuleCounter {
    /// The lifetime tally.
    pub fn lifetime(&self) -> DayTally {
        DayTally {
            count: self.count,
            points: self.points,
        }
    }

    /// The tally of local day `day` (empty if none is kept).
    pub fn day(&self, day: LocalDay) -> DayTally {
        self.days.get(&day).copied().unwrap_or_default()
    }

    /// The tally of the local ISO week containing `day`.
    pub fn week(&self, day: LocalDay) -> DayTally {
        self.weeks.get(&week_of(day)).copied().unwrap_or_default()
    }

    /// The tally of the local calendar month containing `day`.
    pub fn month(&self, day: LocalDay) -> DayTally {
        self.months.get(&month_of(day)).copied().unwrap_or_default()
    }

    /// Whether `day` is older than the tallies kept.
    pub(crate) fn too_old(&self, day: LocalDay) -> bool {
        too_old(&self.days, day)
    }

    /// The tally under `key` in one of the period maps.
    pub(crate) fn tally(map: &BTreeMap<LocalDay, DayTally>, key: LocalDay) -> DayTally {
        map.get(&key).copied().unwrap_or_default()
    }

    /// Records one award of `points` at `at` in the periods `p`; the caller
    /// has checked that the lifetime tally does not overflow.
    pub(crate) fn record(&mut self, p: Periods, at: DateTime<Utc>, points: u64) {
        self.count = self.count.saturating_add(1);
        self.points = self.points.saturating_add(points);
        if p.days {
            self.days.entry(p.day).or_default().add(points);
        }
        if let Some(week) = p.week {
            self.weeks.entry(week).or_default().add(points);
        }
        if let Some(month) = p.month {
            self.months.entry(month).or_default().add(points);
        }
        if p.last_award {
            self.last_award_at = Some(self.last_award_at.map_or(at, |last| last.max(at)));
        }
        // Most awards land on a day already tallied: only scan when
        // something has fallen out of the horizon.
        if let Some(oldest) = oldest_kept(&self.days)
            && self.days.keys().next().is_some_and(|first| *first < oldest)
        {
            self.days.retain(|d, _| *d >= oldest);
            self.weeks.retain(|w, _| *w >= week_of(oldest));
            self.months.retain(|m, _| *m >= month_of(oldest));
        }
    }

    /// Takes one award of `points` on `day` out of every tally that holds
    /// it (the day, its week and month where kept, the lifetime), dropping
    /// tallies that become empty, as if the award had never been made. The
    /// match count and the cooldown's last award time are left alone: the
    /// event did happen, and the cooldown does not reopen.
    pub(crate) fn release(&mut self, day: LocalDay, points: u64) {
        self.count = self.count.saturating_sub(1);
        self.points = self.points.saturating_sub(points);
        for (map, key) in [
            (&mut self.days, day),
            (&mut self.weeks, week_of(day)),
            (&mut self.months, month_of(day)),
        ] {
            if let Some(t) = map.get_mut(&key) {
                t.remove(points);
                if t.is_empty() {
                    map.remove(&key);
                }
            }
        }
    }
}

/// The oldest day kept, counting back from the newest day in `days`.
fn oldest_kept(days: &BTreeMap<LocalDay, DayTally>) -> Option<LocalDay> {
    let newest = days.keys().next_back()?;
    newest.checked_add_days(-(DAILY_TALLY_DAYS - 1))
}

/// Whether `day` is older than the daily tallies in `days` reach back.
pub(crate) fn too_old(days: &BTreeMap<LocalDay, DayTally>, day: LocalDay) -> bool {
    oldest_kept(days).is_some_and(|oldest| day < oldest)
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
    /// The program's global daily cap's tallies, per local day (the most
    /// recent [`DAILY_TALLY_DAYS`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) global_days: BTreeMap<LocalDay, DayTally>,
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

    /// The awards counted towards the program's global daily cap on `day`.
    pub fn global_day(&self, day: LocalDay) -> DayTally {
        self.global_days.get(&day).copied().unwrap_or_default()
    }

    /// Records one award towards the global daily cap; `tally` is the day's
    /// new tally, computed (and overflow-checked) by the earning step.
    pub(crate) fn record_global(&mut self, day: LocalDay, tally: DayTally) {
        self.global_days.insert(day, tally);
        if let Some(oldest) = oldest_kept(&self.global_days)
            && self
                .global_days
                .keys()
                .next()
                .is_some_and(|first| *first < oldest)
        {
            self.global_days.retain(|d, _| *d >= oldest);
        }
    }

    /// Gives back the cap room of one award, for a reversal: one award of
    /// `points` earned by `rule` on local `day` (its `earned_at` in the
    /// program's zone, see [`LocalDay::of`]) leaves the rule's day, week,
    /// month and lifetime tallies and, if `counted_global` (see
    /// [`Lot::counted_global`]), the global daily tally. Afterwards the
    /// tallies are what they would be had the award never been made, so a
    /// later award in the same period does not depend on whether the
    /// reversal came before or after it.
    ///
    /// Tallies already dropped (older than [`DAILY_TALLY_DAYS`]) are left
    /// as they are, and nothing goes below zero. One thing is not undone:
    /// tallies that the award's own day pushed out of the horizon (it was
    /// the newest day by more than the horizon) stay dropped. An event for
    /// such a day would be more than a week late; a dedupe window shorter
    /// than that (the default is three days) refuses it anyway. The version is not bumped:
    /// the reversal that calls this does that once for the whole operation.
    #[allow(
        dead_code,
        reason = "called by Ledger::reverse, written on another branch"
    )]
    pub(crate) fn release_award(
        &mut self,
        rule: &str,
        day: LocalDay,
        points: u64,
        counted_global: bool,
    ) {
        if let Some(counter) = self.counters.get_mut(&Label::from(rule)) {
            counter.release(day, points);
        }
        if counted_global && let Some(t) = self.global_days.get_mut(&day) {
            t.remove(points);
            if t.is_empty() {
                self.global_days.remove(&day);
            }
        }
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
