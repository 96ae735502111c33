//! Program simulation: the earning engine in dry run over a whole event log.
//!
//! See [`simulate`] (the public docs live on the items: this module is
//! private and re-exported from [`points`](super)).

mod diff;
mod report;
#[cfg(test)]
mod tests;

pub use diff::{Change, LiabilityChange, RuleChange, SimulationDiff, diff};
pub use report::{
    Liability, RuleReport, SimulationError, SimulationReport, TopEarner, ValidThrough,
};

use super::earn::{Noted, Noting};
use super::expiry::Memo;
use super::ledger::{LotOrder, SpareCounters};
use super::program::Program;
use super::{EarnContext, Earned, Ledger, PointsError, Portion};
use crate::batch::EventLog;
use crate::event::{Event, EventKind, Money};
use crate::id::{EventId, UserId};
use chrono::{DateTime, TimeZone, Utc};
use report::Accumulator;

/// How many top earners [`simulate`] lists.
pub const DEFAULT_TOP_EARNERS: usize = 10;

/// A simulation to run: a program, the instant the figures are taken at, and
/// how simulated members behave beyond earning.
///
/// [`simulate`] is `Simulation::new(program, as_of).run(log)`; the builder
/// adds how many top earners to list and a spending habit.
///
/// ```
/// use chrono::{TimeDelta, TimeZone, Utc};
/// use growthkit::batch::EventLog;
/// use growthkit::points::{ProgramSpec, Simulation};
/// use growthkit::{Event, EventId, EventKind, UserId};
///
/// let program = serde_json::from_str::<ProgramSpec>(r#"{
///     "rules": [{ "name": "visit", "on": "visited", "reward": { "type": "fixed", "points": 30 } }]
/// }"#)?.validate()?;
/// let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
/// let log: EventLog = (0..7)
///     .map(|i| Event::new(EventId(i), UserId(1), t0 + TimeDelta::hours(i as i64), EventKind::Visited))
///     .collect();
/// // Members buy a 100-point reward as soon as they can afford one.
/// let report = Simulation::new(&program, t0 + TimeDelta::days(1)).redeeming(100).run(&log);
/// assert_eq!((report.issued, report.redeemed, report.redemptions), (210, 200, 2));
/// assert_eq!(report.outstanding, 10);
/// assert!(report.is_conserved());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct Simulation<'p, Tz: TimeZone> {
    program: &'p Program<Tz>,
    as_of: DateTime<Utc>,
    top: usize,
    price: Option<u64>,
    refunds: bool,
}

/// A purchase a later refund may reverse.
#[derive(Clone, Copy, Debug)]
struct Paid {
    event: EventId,
    amount: Money,
    /// Minor units refunded so far.
    refunded: i64,
}

/// Runs `program` over every user of `log` and reports the figures at
/// `as_of`, listing the [`DEFAULT_TOP_EARNERS`] top earners. Members only
/// earn; to let them spend, use [`Simulation::redeeming`].
///
/// Before a points program goes live, operators ask what it will cost: how
/// many points each rule issues, how many are spent and how many lapse
/// (breakage), what is still owed at a given date and when it expires, how
/// many members a cap stops, and who earns most. [`simulate`] answers from a
/// prepared [`EventLog`] by running every user's events, in the log's order,
/// through the very same [`Program::apply`] the online path uses, on a fresh
/// ledger per user ([`Program::new_ledger`]), then retiring what is due at
/// `as_of` ([`Ledger::expire`]). Nothing is kept but the figures, in a
/// [`SimulationReport`].
///
/// Two programs on the same log compare with [`diff`]; reports of disjoint
/// sets of users (shards) combine with [`SimulationReport::merge`].
///
/// ```
/// use chrono::{TimeDelta, TimeZone, Utc};
/// use growthkit::batch::EventLog;
/// use growthkit::points::{ProgramSpec, simulate};
/// use growthkit::{Event, EventId, EventKind, UserId};
///
/// // +10 a lesson, at most 2 a day; points lapse after 30 days.
/// let program = serde_json::from_str::<ProgramSpec>(r#"{
///     "utc_offset": "+08:00",
///     "expiry": { "type": "after_days", "days": 30 },
///     "rules": [{ "name": "lesson", "on": "action_completed:lesson",
///                 "reward": { "type": "fixed", "points": 10 }, "daily_cap": { "count": 2 } }]
/// }"#)?.validate()?;
/// let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 1, 0, 0).unwrap();
/// let lesson = EventKind::ActionCompleted { action: "lesson".into() };
/// let log: EventLog = (0..5)
///     .map(|i| Event::new(EventId(i), UserId(i % 2), t0 + TimeDelta::minutes(i as i64), lesson.clone()))
///     .collect();
///
/// let report = simulate(&program, &log, t0 + TimeDelta::days(10));
/// assert_eq!(report.issued, 40); // user 0's third lesson of the day is capped
/// assert_eq!(report.rules[0].users_capped, 1);
/// assert_eq!(report.outstanding, 40);
/// // A month later, all of it has lapsed: breakage is 100%.
/// let later = simulate(&program, &log, t0 + TimeDelta::days(40));
/// assert_eq!(later.breakage().percent(), Some(100.0));
/// println!("{later}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn simulate<Tz: TimeZone>(
    program: &Program<Tz>,
    log: &EventLog,
    as_of: DateTime<Utc>,
) -> SimulationReport {
    Simulation::new(program, as_of).run(log)
}

impl<'p, Tz: TimeZone> Simulation<'p, Tz> {
    /// A simulation of `program` whose figures are taken at `as_of`: points
    /// due by then are expired, and liability is what is left. The whole log
    /// is run, events after `as_of` included, so a forecast takes `as_of` at
    /// or after the log's last event.
    pub fn new(program: &'p Program<Tz>, as_of: DateTime<Utc>) -> Self {
        Simulation {
            program,
            as_of,
            top: DEFAULT_TOP_EARNERS,
            price: None,
            refunds: false,
        }
    }

    /// Lists the `n` top earners (0: none).
    pub fn top_earners(mut self, n: usize) -> Self {
        self.top = n;
        self
    }

    /// Members spend: after every event that earns points, a member redeems
    /// `price` points for as long as their spendable balance (at the event's
    /// instant) covers it, as if buying a reward of that price the moment
    /// they can afford it. A price of 0 means they never spend.
    pub fn redeeming(mut self, price: u64) -> Self {
        self.price = (price > 0).then_some(price);
        self
    }

    /// Refunds claw points back: a [`Refund`](EventKind::Refund) reverses
    /// (with [`Program::reverse`], under the program's
    /// [`Clawback`](crate::points::Clawback) policy) the user's latest
    /// earlier purchase in the same currency that is not wholly refunded,
    /// by the share refunded (refund over price, capped at what is left);
    /// the refund that completes the purchase reverses what is left of its
    /// award, so a purchase refunded in parts is reversed whole.
    /// A refund with no such purchase, or whose purchase earned nothing the
    /// ledger remembers ([`LedgerPolicy::reversible_awards`](crate::points::LedgerPolicy::reversible_awards)
    /// of 0 remembers nothing), is counted in
    /// [`refunds_unmatched`](SimulationReport::refunds_unmatched).
    pub fn reversing_refunds(mut self) -> Self {
        self.refunds = true;
        self
    }

    /// Runs every user of `log`, in slot order, and reports.
    pub fn run(&self, log: &EventLog) -> SimulationReport {
        let mut acc = Accumulator::new(self.program, self.as_of, self.top);
        let mut purchases = Vec::new();
        // One result reused for every event: the earning step then
        // allocates nothing for it.
        let mut earned = Earned::default();
        // And its awards, in short.
        let mut awards = Vec::new();
        // One ledger too, reset from user to user: its room (for lots,
        // counters, ids), grown by the heaviest earner so far, is not given
        // back and asked for again per user.
        let mut ledger = self.program.new_ledger();
        // Expiry dates by local date of earning, for all users: they
        // earn on the same few dates.
        let mut expiries = vec![None; Memo::BATCH];
        // And the rule counters of earlier users, for reuse.
        let mut spare = SpareCounters::new();
        for (user, events) in log.runs() {
            purchases.clear();
            self.run_user(
                user,
                events,
                &mut acc,
                (&mut purchases, (&mut earned, &mut awards), &mut ledger),
                (&mut expiries, &mut spare),
            );
        }
        acc.finish()
    }

    /// One user's events on a fresh ledger, folded into `acc`.
    fn run_user(
        &self,
        user: UserId,
        events: &[Event],
        acc: &mut Accumulator,
        (purchases, (earned, awards), ledger): (
            &mut Vec<Paid>,
            (&mut Earned, &mut Vec<Noted>),
            &mut Ledger,
        ),
        (expiries, spare): (&mut [Option<Memo>], &mut SpareCounters),
    ) {
        ledger.reset(spare);
        let ctx = EarnContext::new();
        let mut redeemed_so_far = 0u64;
        // A member who only earns reads no lot until the end, and then
        // only to expire and sum them: their lots need no order.
        let order = if self.price.is_none() && !self.refunds {
            LotOrder::Deferred
        } else {
            LotOrder::Kept
        };
        acc.start_user();
        for event in events {
            acc.report.events += 1;
            let noting = Noting {
                awards: &mut *awards,
                lots: order,
                expiries: &mut *expiries,
                spare: &mut *spare,
            };
            match self
                .program
                .apply_noting(ledger, event, &ctx, earned, Some(noting))
                .map(|()| &*earned)
            {
                Ok(earned) if earned.duplicate => acc.report.duplicates += 1,
                Ok(earned) => {
                    acc.report.applied += 1;
                    for award in awards.iter() {
                        acc.award(award.rule, award.points, award.capped);
                    }
                    if earned.total > 0
                        && let Some(price) = self.price
                    {
                        self.spend(ledger, price, event.at, &mut redeemed_so_far, acc);
                    }
                    if self.refunds {
                        self.refund(ledger, event, purchases, acc);
                    }
                }
                Err(PointsError::TooLate { .. }) => acc.report.too_late += 1,
                Err(_) => acc.report.failed += 1,
            }
        }
        match order {
            LotOrder::Kept => ledger.expire(self.as_of),
            LotOrder::Deferred => ledger.expire_out_of_order(self.as_of),
        };
        acc.end_user(user, ledger, self.program.zone());
    }

    /// Remembers a purchase, or reverses the purchase a refund returns.
    fn refund(
        &self,
        ledger: &mut Ledger,
        event: &Event,
        purchases: &mut Vec<Paid>,
        acc: &mut Accumulator,
    ) {
        match event.kind {
            EventKind::Purchase { amount } if amount.minor > 0 => purchases.push(Paid {
                event: event.id,
                amount,
                refunded: 0,
            }),
            EventKind::Refund { amount } if amount.minor > 0 => {
                let paid = purchases
                    .iter_mut()
                    .rev()
                    .find(|p| p.amount.currency == amount.currency && p.refunded < p.amount.minor);
                let Some(paid) = paid else {
                    acc.report.refunds_unmatched += 1;
                    return;
                };
                let refund = amount.minor.min(paid.amount.minor - paid.refunded);
                // Shares round down one by one; the refund that completes the
                // purchase takes back the rest, so a purchase refunded in
                // parts ends up wholly reversed.
                let share = if paid.refunded + refund == paid.amount.minor {
                    Portion::Whole
                } else {
                    Portion::Share {
                        numerator: refund.unsigned_abs(),
                        denominator: paid.amount.minor.unsigned_abs(),
                    }
                };
                let key = format!("refund-{}", event.id.0).into();
                match self
                    .program
                    .reverse(ledger, key, paid.event, share, event.at)
                {
                    Ok(_) => {
                        paid.refunded += refund;
                        acc.report.reversals += 1;
                    }
                    Err(_) => acc.report.refunds_unmatched += 1,
                }
            }
            _ => {}
        }
    }

    /// Redeems `price` points as often as the balance at `now` allows.
    fn spend(
        &self,
        ledger: &mut Ledger,
        price: u64,
        now: DateTime<Utc>,
        count: &mut u64,
        acc: &mut Accumulator,
    ) {
        // Points past expiry are not spendable; retiring them first keeps
        // the lots short (the result does not change: expiry is by instant).
        ledger.expire(now);
        while ledger.spendable(now) >= price {
            // Each redemption needs its own key; they are only ever seen by
            // this throwaway ledger.
            let key = format!("simulated-{count}").into();
            if ledger.redeem(key, price, now).is_err() {
                break;
            }
            *count += 1;
            acc.report.redemptions += 1;
        }
    }
}
