//! Program simulation: the earning engine in dry run over a whole event log.
//!
//! See [`simulate`] (the public docs live on the items: this module is
//! private and re-exported from [`points`](super)).

mod diff;
mod fresh_run;
mod report;
#[cfg(test)]
mod tests;

pub use diff::{
    BonusChange, Change, LiabilityChange, RuleChange, SimulationDiff, TierMembersChange, diff,
};
pub use report::{
    BonusReport, Liability, RuleReport, SimulationError, SimulationReport, TierReport, TopEarner,
    ValidThrough,
};

use super::account::{BatchStep, Partly};
use super::earn::{Noted, Noting};
use super::expiry::Memo;
use super::ledger::{HandedLot, REMEMBERED_KEYS};
use super::make_up::MadeUp;
use super::program::Program;
use super::{
    Account, AccountError, Bonus, EarnContext, Earned, Ledger, OperationKey, PointsError, Portion,
    Reversal,
};
use crate::batch::EventLog;
use crate::event::{Event, EventKind, Label, Money};
use crate::id::{EventId, UserId};
use crate::time::LocalDay;
use chrono::{DateTime, TimeZone, Utc};
use fresh_run::FreshRun;
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
    daily_tiers: bool,
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
/// A program with a `tiers`, `streak` or `badges` section runs each user
/// through an [`Account`] instead, opened at their first event, exactly as
/// the online [`Program::earn`] does: the tier's multiplier applies to rule
/// awards, streak milestones and badge levels credit their bonuses (listed
/// in [`SimulationReport::bonuses`]), spending and refunds go through the
/// account (a refund takes back the tier's qualifying points and the badges
/// they earned), and at `as_of` [`Program::evaluate_account`] evaluates the
/// tier (demoting once grace has run out) before expiring what is due; the
/// members per tier are in [`SimulationReport::tiers`]. No lifecycle stage
/// is known, so rules with a `stage` condition never award.
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
/// // +10 a check-in, +30 on the third day of a streak; gold (×2) from 40
/// // points in 30 days.
/// let program = serde_json::from_str::<ProgramSpec>(r#"{
///     "utc_offset": "+08:00",
///     "rules": [{ "name": "check_in", "on": "check_in", "reward": { "type": "fixed", "points": 10 } }],
///     "streak": { "milestones": [{ "day": 3, "points": 30 }] },
///     "tiers": { "basis": { "type": "points" }, "window": { "type": "rolling_days", "days": 30 },
///                "tiers": [{ "name": "member", "threshold": 0 },
///                          { "name": "gold", "threshold": 40, "multiplier": 2 }] }
/// }"#)?.validate()?;
/// let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 1, 0, 0).unwrap();
/// let log: EventLog = (0..5)
///     .map(|d| Event::new(EventId(d), UserId(1), t0 + TimeDelta::days(d as i64), EventKind::CheckIn { community: None }))
///     .collect();
/// let report = simulate(&program, &log, t0 + TimeDelta::days(7));
/// // 10 + 10 + 10 + 10, then gold: 20; and the streak bonus.
/// assert_eq!(report.rule("check_in").map(|r| r.issued), Some(60));
/// assert_eq!(report.bonuses[0].bonus.as_str(), "streak day 3");
/// assert_eq!(report.issued, 90);
/// assert_eq!(report.tiers[1].members, 1); // gold
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
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
            daily_tiers: false,
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
    ///
    /// An event earns points if the program took it (not a duplicate, not
    /// refused) and a rule awarded it points or, under an account, it
    /// credited a bonus; points still pending are earned but not spendable,
    /// so they wait for a later event. Each redemption of `price` counts
    /// in [`redemptions`](SimulationReport::redemptions). With
    /// [`reversing_refunds`](Self::reversing_refunds), the member spends
    /// before the event's refund, if it is one, is reversed.
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
    /// Only events the program took count: a duplicate or a refused (too
    /// late, failed) purchase is not remembered, and such a refund reverses
    /// nothing and is not counted; "earlier" is earlier among the user's
    /// events in the log's order.
    /// A refund with no such purchase, or whose purchase earned nothing the
    /// ledger remembers ([`LedgerPolicy::reversible_awards`](crate::points::LedgerPolicy::reversible_awards)
    /// of 0 remembers nothing), is counted in
    /// [`refunds_unmatched`](SimulationReport::refunds_unmatched); so is
    /// one whose purchase earned no points but counted toward a member's
    /// tier or badges, which the refund takes back (see
    /// [`Program::reverse_in`]), and one whose share rounds to no points.
    pub fn reversing_refunds(mut self) -> Self {
        self.refunds = true;
        self
    }

    /// Members' tiers are evaluated daily, as a host's daily job would:
    /// before a member's first event of each local day, as of that event
    /// ([`Program::evaluate_account`]'s tier step), so a tier whose
    /// qualifying points left its window is lowered (after its grace)
    /// before the member earns again at its multiplier. Without it the
    /// tier is evaluated once, at `as_of`, and a tier keeps its multiplier
    /// to the end of the log. A program without a ladder is not affected.
    pub fn evaluating_tiers_daily(mut self) -> Self {
        self.daily_tiers = true;
        self
    }

    /// Runs every user of `log`, in slot order, and reports.
    pub fn run(&self, log: &EventLog) -> SimulationReport {
        let mut acc = Accumulator::new(self.program, self.as_of, self.top);
        let mut purchases = Vec::new();
        let mut scratch = LedgerScratch {
            ledger: self.program.new_ledger(),
            earned: Earned::default(),
            awards: Vec::new(),
            handed: Vec::new(),
            afterwards: Vec::new(),
        };
        // Expiry dates by rule expiry and date of earning, for all users:
        // they earn on the same few dates.
        let mut expiries = Memo::batch(self.program.plan.expiry_classes);
        // Under a program with tiers, a streak or badges: one account,
        // reopened for each member as the ledger is reset, and the member's
        // figures until they are added.
        let mut account = self
            .program
            .has_account_rules()
            .then(|| self.program.open_account(UserId(0), self.as_of));
        let mut tally = MemberTally::default();
        for (user, events) in log.runs() {
            purchases.clear();
            if let Some(account) = account.as_mut() {
                let member = (&mut *account, &mut purchases, &mut tally);
                self.run_account((user, events), &mut acc, member, &mut expiries);
                continue;
            }
            self.run_user(
                user,
                events,
                &mut acc,
                (&mut purchases, &mut scratch),
                &mut expiries,
            );
        }
        acc.finish()
    }

    /// Whether members' lots are handed over by the earning step instead
    /// of kept in their ledgers: a member who only earns reads no lot until
    /// the end, and then only to expire and sum them, so the figures can be
    /// taken from each lot in short; one who spends or is refunded needs
    /// them in the ledger, in spending order.
    fn hands_lots_over(&self) -> bool {
        self.price.is_none() && !self.refunds
    }

    /// One user's events on a fresh ledger, folded into `acc`.
    fn run_user(
        &self,
        user: UserId,
        events: &[Event],
        acc: &mut Accumulator,
        (purchases, scratch): (&mut Vec<Paid>, &mut LedgerScratch),
        expiries: &mut [Option<Memo>],
    ) {
        let LedgerScratch {
            ledger,
            earned,
            awards,
            handed,
            afterwards,
        } = scratch;
        ledger.reset();
        afterwards.clear();
        let ctx = EarnContext::new();
        let mut redeemed_so_far = 0u64;
        let mut counts = Counts::default();
        let hand_over = self.hands_lots_over();
        handed.clear();
        acc.start_user();
        let mut run = FreshRun::default();
        for (i, event) in events.iter().enumerate() {
            counts.events += 1;
            let fresh = run.vouch(events, i, ledger, &self.program.spec().dedupe);
            // The event's awards alone, read after its step.
            awards.clear();
            let noting = Noting {
                awards: &mut *awards,
                handed: hand_over.then_some(&mut *handed),
                expiries: &mut *expiries,
                fresh,
            };
            let step = self
                .program
                .apply_noting(ledger, event, &ctx, earned, Some(noting));
            if fresh && step.is_err() {
                // Not remembered: the ledger's window takes over before it.
                run.stop(&events[..i], ledger, &self.program.spec().dedupe);
            }
            match step.map(|()| &*earned) {
                Ok(earned) if earned.duplicate => counts.duplicates += 1,
                Ok(earned) => {
                    counts.applied += 1;
                    for award in awards.iter() {
                        acc.award(award.position(), award.points, award.capped);
                    }
                    let spending = (&mut *purchases, &mut redeemed_so_far, &mut *afterwards);
                    self.after_earning(ledger, event, earned.total > 0, spending, &mut counts);
                }
                Err(PointsError::TooLate { .. }) => counts.too_late += 1,
                Err(_) => counts.failed += 1,
            }
        }
        counts.add_to(&mut acc.report);
        for issued in afterwards.iter() {
            issued.add_to(acc);
        }
        ledger.expire(self.as_of);
        acc.end_user(user, (ledger, handed), self.program.zone());
    }

    /// One user's events through an [`Account`] opened at their first
    /// event, for a program with tiers, a streak or badges
    /// ([`Program::earn`]): rule awards with the tier's multiplier, streak
    /// and badge bonuses, then the tier's evaluation and the expiry at
    /// `as_of` ([`Program::evaluate_account`]), folded into `acc`.
    fn run_account(
        &self,
        (user, events): (UserId, &[Event]),
        acc: &mut Accumulator,
        (account, purchases, tally): (&mut Account, &mut Vec<Paid>, &mut MemberTally),
        expiries: &mut [Option<Memo>],
    ) {
        // In place first: the copy per event that keeps a failed step from
        // changing anything is only needed when a step fails partway (an
        // overflow), and then the member is run again with it, from the
        // start, so the report is the online path's either way.
        let mut pass = |in_place| self.account_pass(account, events, (purchases, tally), in_place);
        if !pass(Some(&mut *expiries)) && !pass(None) {
            return;
        }
        acc.start_user();
        tally.add_to(acc);
        let program = self.program;
        // As `Program::evaluate_account`: the tier (an error, an overflow,
        // leaves it as it was), then expiry (of the lots the ledger kept;
        // the handed ones are expired as they are summed up).
        let _ = program.evaluate_tier(account, self.as_of);
        let as_of = self.as_of;
        let _ = account.ledger_step(|ledger| Ok(ledger.expire(as_of)));
        acc.end_user(user, (account.ledger(), &tally.handed), program.zone());
        if let Some(status) = account.tier() {
            acc.tier(status.tier());
        }
    }

    /// One pass of [`Simulation::run_account`] over a member's events into
    /// `tally` (emptied first), on `account` made new for them: in place,
    /// with the batch's expiry memo (`in_place`), giving up (`false`) if a
    /// step fails partway; or, without it, through [`Program::earn`].
    fn account_pass(
        &self,
        account: &mut Account,
        events: &[Event],
        (purchases, tally): (&mut Vec<Paid>, &mut MemberTally),
        mut in_place: Option<&mut [Option<Memo>]>,
    ) -> bool {
        let program = self.program;
        let Some(first) = events.first() else {
            return false;
        };
        program.reopen_account(account, first.user, first.at);
        let mut redeemed_so_far = 0u64;
        tally.clear();
        purchases.clear();
        let mut run = FreshRun::default();
        let mut evaluated: Option<LocalDay> = None;
        for (i, event) in events.iter().enumerate() {
            tally.counts.events += 1;
            if self.daily_tiers {
                let today = LocalDay::of(event.at, program.zone());
                if evaluated.is_none_or(|day| today > day) {
                    evaluated = Some(today);
                    // As the final evaluation: an error (an overflow)
                    // leaves the tier as it was.
                    let _ = program.evaluate_tier(account, event.at);
                }
            }
            // The member's awards in short, appended: by the rules run in
            // place, or read from the explanations of a step through `earn`.
            let out = &mut tally.step;
            let step = match in_place.as_deref_mut() {
                None => program.earn(account, event, None).map(|outcome| {
                    let noted = outcome.earned.awards.iter().filter_map(|award| {
                        let rule = program.position_of(&award.rule)?;
                        Some(Noted {
                            rule: u32::try_from(rule).ok()?,
                            capped: award.capped.is_some(),
                            points: award.points,
                            multiplied: award.multiplied,
                        })
                    });
                    tally.awards.extend(noted);
                    out.answer(outcome);
                }),
                Some(expiries) => {
                    let window = &program.spec().dedupe;
                    let fresh = run.vouch(events, i, account.ledger_mut(), window);
                    let noting = Noting {
                        awards: &mut tally.awards,
                        handed: self.hands_lots_over().then_some(&mut tally.handed),
                        expiries,
                        fresh,
                    };
                    match program.earn_in_place(account, event, None, (noting, out)) {
                        Err(Partly { changed: true, .. }) => return false,
                        Err(partly) => {
                            // Not remembered: the ledger's window takes
                            // over before it.
                            if fresh {
                                run.stop(&events[..i], account.ledger_mut(), window);
                            }
                            Err(partly.error)
                        }
                        Ok(()) => Ok(()),
                    }
                }
            };
            let out = &tally.step;
            match step {
                Ok(()) if out.earned.duplicate => tally.counts.duplicates += 1,
                Ok(()) => {
                    tally.counts.applied += 1;
                    let bonuses = &out.settled.bonuses;
                    tally
                        .bonuses
                        .extend(bonuses.iter().map(|b| (b.rule.clone(), b.points)));
                    let earned_points = out.earned.total > 0 || out.settled.bonus_total > 0;
                    let spending = (&mut *purchases, &mut redeemed_so_far, &mut tally.afterwards);
                    self.after_earning(account, event, earned_points, spending, &mut tally.counts);
                }
                Err(AccountError::Points(PointsError::TooLate { .. })) => {
                    tally.counts.too_late += 1
                }
                Err(_) => tally.counts.failed += 1,
            }
        }
        true
    }

    /// What a member does after an event was taken: spends, if the
    /// simulation has a spending habit and the event earned points
    /// (`earned_points`), and remembers a purchase or reverses the one a
    /// refund returns, if it reverses refunds; counted in `counts`, and
    /// what a reversal issued appended to `afterwards`.
    fn after_earning(
        &self,
        member: &mut impl Member<Tz>,
        event: &Event,
        earned_points: bool,
        (purchases, redeemed_so_far, afterwards): (&mut Vec<Paid>, &mut u64, &mut Vec<Afterwards>),
        counts: &mut Counts,
    ) {
        if earned_points && let Some(price) = self.price {
            counts.redemptions += self.spend(member, price, event.at, redeemed_so_far);
        }
        if self.refunds {
            match self.refund(member, event, purchases) {
                Refunded::Reversed(made, bonuses) => {
                    counts.reversals += 1;
                    afterwards.extend(made.into_iter().filter_map(|m| {
                        let rule = self.program.position_of(&m.rule)?;
                        Some(Afterwards::MadeUp {
                            rule,
                            points: m.points,
                            counted: m.counted,
                        })
                    }));
                    let bonuses = bonuses
                        .into_iter()
                        .map(|b| Afterwards::Bonus(b.rule, b.points));
                    afterwards.extend(bonuses);
                }
                Refunded::Unmatched => counts.refunds_unmatched += 1,
                Refunded::NotARefund | Refunded::Repeated => {}
            }
        }
    }

    /// Remembers a purchase, or reverses the purchase a refund returns.
    fn refund(
        &self,
        member: &mut impl Member<Tz>,
        event: &Event,
        purchases: &mut Vec<Paid>,
    ) -> Refunded {
        match event.kind {
            EventKind::Purchase { amount } if amount.minor > 0 => {
                purchases.push(Paid {
                    event: event.id,
                    amount,
                    refunded: 0,
                });
                Refunded::NotARefund
            }
            EventKind::Refund { amount } if amount.minor > 0 => {
                let paid = purchases
                    .iter_mut()
                    .rev()
                    .find(|p| p.amount.currency == amount.currency && p.refunded < p.amount.minor);
                let Some(paid) = paid else {
                    return Refunded::Unmatched;
                };
                let refund = amount.minor.min(paid.amount.minor - paid.refunded);
                // Shares round down one by one; the refund that completes the
                // purchase takes back the rest, so a purchase refunded in
                // parts ends up wholly reversed.
                let share = if paid.refunded + refund == paid.amount.minor {
                    Portion::Whole {}
                } else {
                    Portion::Share {
                        numerator: refund.unsigned_abs(),
                        denominator: paid.amount.minor.unsigned_abs(),
                    }
                };
                let reversal = Refund {
                    key: format!("refund-{}", event.id.0).into(),
                    source: paid.event,
                    portion: share,
                    at: event.at,
                };
                let done = member.reverse(self.program, reversal);
                // A refund event seen again (its id forgotten by the dedupe
                // window, its reversal's key still remembered) is answered
                // with the first reversal: it refunds nothing more.
                if done.as_ref().is_some_and(|(r, _)| r.repeated) {
                    return Refunded::Repeated;
                }
                // The refund is of this purchase whether or not it earned
                // points to take back: the next refund is of an earlier one.
                paid.refunded += refund;
                // A purchase that earned no points is reversed only for
                // what it counted toward a tier or badges.
                match done {
                    Some((r, bonuses)) if r.points > 0 => Refunded::Reversed(r.made_up, bonuses),
                    _ => Refunded::Unmatched,
                }
            }
            _ => Refunded::NotARefund,
        }
    }

    /// Redeems `price` points as often as the balance at `now` allows;
    /// returns how many times it did.
    fn spend(
        &self,
        member: &mut impl Member<Tz>,
        price: u64,
        now: DateTime<Utc>,
        count: &mut u64,
    ) -> u64 {
        // No expiry first: an event may come late, and a lot past expiry
        // at a later event's instant may still be spendable at this one's
        // (a redeem spends only lots spendable at `now`).
        let times = member
            .ledger()
            .spendable(now)
            .checked_div(price)
            .unwrap_or(0);
        if times == 0 {
            return 0;
        }
        // All in one redemption: the lots it takes, earliest-expiring
        // first, are those `times` redemptions of `price` would take, and
        // a redemption a point, of a large balance, would not end. Each
        // key is only ever seen by this throwaway ledger.
        let key = format!("simulated-{count}").into();
        if !member.redeem(key, times * price, now) {
            return 0;
        }
        // The ledger remembers its last operation keys: `times` redemptions
        // would push out older keys (a refund's, whose retry it would then
        // reverse again) that one redemption leaves in place.
        forget_as_after_redemptions(member.ledger_mut(), times);
        *count += times;
        times
    }
}

/// Forgets the oldest operation keys `ledger` remembers until no more are
/// left than after `redemptions` redemptions, the last of which it has
/// just made: the one redemption a simulated member makes stands in for
/// them, and a key they would have pushed out must not answer a retry.
fn forget_as_after_redemptions(ledger: &mut Ledger, redemptions: u64) {
    let pushed = usize::try_from(redemptions).unwrap_or(usize::MAX);
    // The redemption just made, and the older keys the others leave.
    let kept = REMEMBERED_KEYS.saturating_sub(pushed).saturating_add(1);
    while ledger.operations.len() > kept {
        ledger.operations.pop_front();
    }
}

/// What a member's reversal issued, for the report.
#[derive(Clone)]
enum Afterwards {
    /// Points made up for an award that a cap had cut (see [`MadeUp`]),
    /// by the rule at this position in the program.
    MadeUp {
        rule: usize,
        points: u64,
        counted: bool,
    },
    /// A bonus credited for a badge level the made-up points reached.
    Bonus(Label, u64),
}

impl Afterwards {
    /// Counts it in the current user's figures.
    fn add_to(&self, acc: &mut Accumulator) {
        match self {
            Afterwards::MadeUp {
                rule,
                points,
                counted,
            } => acc.made_up(*rule, *points, *counted),
            Afterwards::Bonus(bonus, points) => acc.bonus(bonus, *points),
        }
    }
}

/// The reversal a refund asks of a member: `portion` of what event
/// `source` earned, at `at`, under operation key `key`.
struct Refund {
    key: OperationKey,
    source: EventId,
    portion: Portion,
    at: DateTime<Utc>,
}

/// What a refund event did.
enum Refunded {
    /// The event is not a refund (a purchase is remembered).
    NotARefund,
    /// It reversed a purchase's points, made up these awards, and
    /// credited these bonuses for the levels they reached.
    Reversed(Vec<MadeUp>, Vec<Bonus>),
    /// No purchase was left to reverse, or the reversal failed.
    Unmatched,
    /// A refund made before, seen again: nothing changed.
    Repeated,
}

/// What [`Simulation::run_user`] reuses from member to member, so that a
/// member's run allocates nothing once the heaviest earner so far has
/// grown it.
struct LedgerScratch {
    /// The member's ledger, reset for each: its room (for lots, counters,
    /// ids) is kept.
    ledger: Ledger,
    /// What an event earned, written over for each event.
    earned: Earned,
    /// Its awards, in short.
    awards: Vec<Noted>,
    /// The member's lots, handed over (see `Simulation::hands_lots_over`).
    handed: Vec<HandedLot>,
    /// What the member's reversals issued.
    afterwards: Vec<Afterwards>,
}

/// One member's figures from an account pass, kept apart until the pass
/// has finished, so that a pass given up leaves no trace in the report.
/// Its lists keep their room from member to member.
#[derive(Default)]
struct MemberTally {
    counts: Counts,
    awards: Vec<Noted>,
    bonuses: Vec<(Label, u64)>,
    /// What the event being stepped did, written over for each event.
    step: BatchStep,
    /// The member's lots, handed over by the steps run in place (see
    /// `Simulation::hands_lots_over`).
    handed: Vec<HandedLot>,
    /// What the member's reversals issued.
    afterwards: Vec<Afterwards>,
}

/// A member's counts of what became of their events, as the report's.
#[derive(Clone, Copy, Default)]
struct Counts {
    events: u64,
    duplicates: u64,
    applied: u64,
    too_late: u64,
    failed: u64,
    redemptions: u64,
    reversals: u64,
    refunds_unmatched: u64,
}

impl Counts {
    /// Adds the counts to the report's, sticking at `u64::MAX` as the
    /// report's other totals and [`SimulationReport::merge`] do (members
    /// redeeming a point at a time can make that many redemptions).
    fn add_to(self, r: &mut SimulationReport) {
        for (total, add) in [
            (&mut r.events, self.events),
            (&mut r.duplicates, self.duplicates),
            (&mut r.applied, self.applied),
            (&mut r.too_late, self.too_late),
            (&mut r.failed, self.failed),
            (&mut r.redemptions, self.redemptions),
            (&mut r.reversals, self.reversals),
            (&mut r.refunds_unmatched, self.refunds_unmatched),
        ] {
            report::bump(total, add);
        }
    }
}

impl MemberTally {
    /// Empty again, keeping the lists' room (the outcome is written over
    /// before it is read).
    fn clear(&mut self) {
        self.counts = Counts::default();
        self.awards.clear();
        self.bonuses.clear();
        self.handed.clear();
        self.afterwards.clear();
    }

    /// Adds the figures to the current user's in `acc`.
    fn add_to(&self, acc: &mut Accumulator) {
        self.counts.add_to(&mut acc.report);
        for award in &self.awards {
            acc.award(award.position(), award.points, award.capped);
        }
        for (bonus, points) in &self.bonuses {
            acc.bonus(bonus, *points);
        }
        for issued in &self.afterwards {
            issued.add_to(acc);
        }
    }
}

/// What the spending habit and refunds do to a simulated member: a bare
/// [`Ledger`], or an [`Account`] whose tier and badges follow its points.
trait Member<Tz: TimeZone> {
    /// The member's points.
    fn ledger(&self) -> &Ledger;
    /// The member's points, to change outside an operation.
    fn ledger_mut(&mut self) -> &mut Ledger;
    /// Redeems `points` at `now`; whether it did.
    fn redeem(&mut self, key: OperationKey, points: u64, now: DateTime<Utc>) -> bool;
    /// Reverses `portion` of what event `source` earned, at `now`; whether
    /// it did.
    /// The points reversed, or `None` if the reversal failed.
    fn reverse(
        &mut self,
        program: &Program<Tz>,
        reversal: Refund,
    ) -> Option<(Reversal, Vec<Bonus>)>;
}

impl<Tz: TimeZone> Member<Tz> for Ledger {
    fn ledger(&self) -> &Ledger {
        self
    }

    fn ledger_mut(&mut self) -> &mut Ledger {
        self
    }

    fn redeem(&mut self, key: OperationKey, points: u64, now: DateTime<Utc>) -> bool {
        Ledger::redeem(self, key, points, now).is_ok()
    }

    fn reverse(&mut self, program: &Program<Tz>, r: Refund) -> Option<(Reversal, Vec<Bonus>)> {
        let done = program.reverse(self, r.key, r.source, r.portion, r.at);
        done.ok().map(|r| (r, Vec::new()))
    }
}

/// Spending and refunds go through the account, so that a reversal takes
/// back the tier's qualifying points and the badges they earned.
impl<Tz: TimeZone> Member<Tz> for Account {
    fn ledger(&self) -> &Ledger {
        Account::ledger(self)
    }

    fn ledger_mut(&mut self) -> &mut Ledger {
        Account::ledger_mut(self)
    }

    fn redeem(&mut self, key: OperationKey, points: u64, now: DateTime<Utc>) -> bool {
        Account::redeem(self, key, points, now).is_ok()
    }

    fn reverse(&mut self, program: &Program<Tz>, r: Refund) -> Option<(Reversal, Vec<Bonus>)> {
        let done = program.reverse_in(self, r.key, r.source, r.portion, r.at);
        done.ok().map(|r| (r.reversal, r.bonuses))
    }
}
