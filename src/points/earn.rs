//! The earning step: what one event earns under a [`Program`], and the
//! explanation of every award.

use super::PointsError;
use super::condition::{EarnContext, LocalTime};
use super::expiry::Memo;
use super::ledger::{
    CutAward, DayTally, HandedLot, Ledger, Lot, LotOrder, Periods, RuleCounter, RuleCounters,
    Tallies,
};
use super::limits::{CapHit, CapPeriod, Limiter, month_of, week_of};
use super::multiplier::Multiplier;
use super::program::{Candidates, Program, RulePlan};
use super::rule::{Reward, Rounding, RuleSpec};
use crate::dedupe::Admission;
use crate::event::{Currency, Event, EventKind, Label};
use crate::time::offset_seconds;
use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

/// The arithmetic of a per-amount award.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct PerAmountCalc {
    /// The purchase amount, in minor units.
    pub amount_minor: i64,
    /// Points per unit.
    pub points: u64,
    /// The unit, in minor units.
    pub per_minor: i64,
    /// How the result was made whole.
    pub rounding: Rounding,
    /// The purchase's currency.
    pub currency: Currency,
}

/// One rule's award for one event, with its explanation:
/// `base × multipliers = multiplied`, then caps and cooldown give `points`.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct Award {
    /// The rule.
    pub rule: Label,
    /// What the reward came to, before multipliers and caps.
    pub base: u64,
    /// The user's tier multiplier, if one applied.
    pub tier_multiplier: Option<Multiplier>,
    /// The rule's own multiplier, if it has one.
    pub rule_multiplier: Option<Multiplier>,
    /// `base` times the multipliers, exactly, made whole once by the rule's
    /// [`multiplier_rounding`](RuleSpec::multiplier_rounding); `base` when
    /// no multiplier applied.
    pub multiplied: u64,
    /// What was awarded: `multiplied`, or less if a cap or the cooldown
    /// held it back.
    pub points: u64,
    /// For per-amount rules, the arithmetic behind `base`.
    pub per_amount: Option<PerAmountCalc>,
    /// The cap that cut `multiplied` down to `points`, if one did.
    pub capped: Option<CapHit>,
    /// If the rule's cooldown since its last award had not run out, when it
    /// does; nothing was awarded.
    pub cooling_down_until: Option<DateTime<Utc>>,
    /// Whether `points` count towards the program's global daily cap.
    pub counted_global: bool,
}

/// A matching rule that did not award, and why.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct Skipped {
    /// The rule.
    pub rule: Label,
    /// Why it did not award.
    pub reason: SkipReason,
}

/// Why a matching rule did not award.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum SkipReason {
    /// A rule of higher priority in its exclusive group matched first.
    Excluded {
        /// The group.
        group: Label,
        /// The rule that awarded instead.
        by: Label,
    },
}

/// What one event earned.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Default, Serialize, Deserialize)]
pub struct Earned {
    /// The event was seen before: nothing was awarded and nothing changed.
    pub duplicate: bool,
    /// One entry per matching rule that was not skipped, in priority order
    /// (zero-point awards included, so a capped rule explains itself).
    pub awards: Vec<Award>,
    /// Matching rules that a rule of higher priority in their exclusive
    /// group excluded.
    pub skipped: Vec<Skipped>,
    /// The sum of the awards' points.
    pub total: u64,
    /// Of `total`, points that paid off a debt from an earlier reversal
    /// instead of going into lots. [`Earned::entries`] lists both.
    #[serde(default)]
    pub debt_paid: u64,
}

impl Earned {
    fn nothing(duplicate: bool) -> Earned {
        Earned {
            duplicate,
            awards: Vec::new(),
            skipped: Vec::new(),
            total: 0,
            debt_paid: 0,
        }
    }

    /// Empties it for another event, keeping its lists' room. Always
    /// inlined: once an event, and the compiler had left it out of line.
    #[inline(always)]
    fn reset(&mut self) {
        self.duplicate = false;
        self.awards.clear();
        self.skipped.clear();
        self.total = 0;
        self.debt_paid = 0;
    }
}

/// What a batch caller (a simulation) asks of the earning step beyond
/// [`Program::apply_into`].
pub(crate) struct Noting<'a> {
    /// Receives the awards, in short, instead of `out.awards` (which is
    /// left empty): a caller that tallies awards by rule needs no
    /// explanation of each, nor a lookup of its rule by name. They are
    /// appended, so that a caller gathering a member's awards needs no
    /// copy; a failed step takes back the ones it appended.
    pub(crate) awards: &'a mut Vec<Noted>,
    /// If given, new lots are handed over here, in short, and the ledger
    /// does not keep them ([`LotOrder::Handed`]); they are appended, in
    /// the order the awards were made. Otherwise the ledger keeps them in
    /// spending order.
    pub(crate) handed: Option<&'a mut Vec<HandedLot>>,
    /// Expiry dates worked out by earlier events (see [`Memo`]), for the
    /// program's zone.
    pub(crate) expiries: &'a mut [Option<Memo>],
    /// Whether the batch vouches that the event is new to the ledger (its
    /// id and time above all of the member's earlier ones) and keeps the
    /// ledger's window of recent ids itself: the step then neither asks
    /// nor tells the window (see `simulate::FreshRun`).
    pub(crate) fresh: bool,
}

/// An award in short, for [`Noting`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Noted {
    /// The position of the award's rule in the program (in 32 bits, so
    /// that the award in short stays 24 bytes).
    pub(crate) rule: u32,
    /// Whether a cap cut it ([`Award::capped`] is some).
    pub(crate) capped: bool,
    /// [`Award::points`].
    pub(crate) points: u64,
    /// [`Award::multiplied`]: what it came to before its caps.
    pub(crate) multiplied: u64,
}

impl Noted {
    /// The position of the award's rule in the program.
    pub(crate) fn position(&self) -> usize {
        usize::try_from(self.rule).unwrap_or(usize::MAX)
    }
}

/// Where the earning step puts its awards.
enum Awards<'a> {
    /// Explained in full, for the host.
    Explained(&'a mut Vec<Award>),
    /// In short, for a batch caller.
    Noted(&'a mut Vec<Noted>),
}

/// What [`Program::apply_with`] commits once nothing can fail, besides
/// its [`Change`]s.
struct Step {
    /// How many changes award points (each becomes a lot).
    lots: usize,
    /// The global daily tally of the event's day, if awards changed it.
    global: Option<DayTally>,
    periods: Periods,
}

/// A counter change, and for an award its lot, that the step commits once
/// nothing can fail.
#[derive(Clone, Copy)]
struct Change {
    rule: usize,
    /// The rule's new match count, for counting rules.
    matched: Option<u64>,
    /// Points awarded (0: only the match count changes, and no lot).
    points: u64,
    /// The lot's [`Lot::counted_global`].
    counted_global: bool,
    /// The lot's [`Lot::available_from`].
    available_from: DateTime<Utc>,
    /// The lot's [`Lot::expires_at`].
    expires_at: Option<DateTime<Utc>>,
}

impl Change {
    /// A change of nothing, for rule `0`: what a change leaves unsaid.
    const BLANK: Change = Change {
        rule: 0,
        matched: None,
        points: 0,
        counted_global: false,
        available_from: DateTime::<Utc>::UNIX_EPOCH,
        expires_at: None,
    };
}

/// What the cooldown and caps leave of an award: its points, the cap that
/// cut them, and the end of a cooldown that held them back.
type Limited = (u64, Option<CapHit>, Option<DateTime<Utc>>);

/// The counter of a rule a ledger has no counter for, built once.
static NO_COUNTER: RuleCounter = RuleCounter::EMPTY;

/// What one award grants, for the step's bookkeeping.
#[derive(Clone, Copy)]
struct Granted {
    points: u64,
    counted_global: bool,
}

/// One event's changes, in the order the rules were tried: one per rule its
/// kind triggers, a handful in real programs, so kept on the stack.
type Changes = SmallVec<[Change; 8]>;

impl<Tz: TimeZone> Program<Tz> {
    /// Awards the points `event` earns, knowing nothing about the user
    /// (no stage, no tier): [`Program::apply_with`] with an empty
    /// [`EarnContext`].
    pub fn apply(&self, ledger: &mut Ledger, event: &Event) -> Result<Earned, PointsError> {
        self.apply_with(ledger, event, &EarnContext::new())
    }

    /// Awards the points `event` earns under every matching rule, given
    /// what the host knows about the user (`ctx`: their lifecycle stage and
    /// tier, for stage and tier conditions and the tier's multiplier).
    ///
    /// Rules are tried highest [`priority`](RuleSpec::priority) first. For
    /// each rule whose trigger and conditions match: a counting condition
    /// (`first_time`, `every_nth`) counts the match, and may stop there; a
    /// rule excluded by its [group](RuleSpec::exclusive_group) is reported
    /// in [`Earned::skipped`]; otherwise the reward is multiplied, held back
    /// by the cooldown, and cut by the rule's day, week, month and lifetime
    /// caps and the program's global daily cap, and the [`Award`] says so.
    /// A rule that matched wins its group even if its cooldown or caps then
    /// leave it nothing: which rule a group picks depends on the event and
    /// the user, never on how much room is left.
    ///
    /// A duplicate event id awards nothing ([`Earned::duplicate`]); an event
    /// older than the dedupe window or the kept tallies
    /// ([`DAILY_TALLY_DAYS`](super::DAILY_TALLY_DAYS)) is refused with
    /// [`PointsError::TooLate`]. On error the ledger is unchanged. The
    /// ledger's version is bumped when the event is taken (even if it
    /// awarded nothing, since its id is now remembered).
    ///
    /// ```
    /// use chrono::{TimeZone, Utc};
    /// use growthkit::lifecycle::Stage;
    /// use growthkit::points::{EarnContext, Ledger, Multiplier, ProgramSpec};
    /// use growthkit::{Event, EventId, EventKind, UserId};
    ///
    /// // New learners earn double; gold members earn ×1.5 on top.
    /// let program = serde_json::from_str::<ProgramSpec>(r#"{
    ///     "rules": [
    ///         { "name": "new_learner_lesson", "on": "action_completed:lesson",
    ///           "reward": { "type": "fixed", "points": 10 }, "multiplier": 2,
    ///           "when": [{ "type": "stage", "any_of": ["acquired", "activated"] }],
    ///           "priority": 1, "exclusive_group": "lesson" },
    ///         { "name": "lesson", "on": "action_completed:lesson",
    ///           "reward": { "type": "fixed", "points": 10 }, "exclusive_group": "lesson" }
    ///     ]
    /// }"#)?.validate()?;
    /// let gold = Multiplier::from_basis_points(15_000).ok_or("×1.5")?;
    /// let ctx = EarnContext::new().with_stage(Stage::Activated).with_tier("gold", gold);
    /// let lesson = EventKind::ActionCompleted { action: "lesson".into() };
    /// let at = Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap();
    /// let mut ledger = Ledger::new();
    /// let earned = program.apply_with(&mut ledger, &Event::new(EventId(1), UserId(7), at, lesson), &ctx)?;
    /// assert_eq!(earned.total, 30); // 10 × 1.5 × 2
    /// assert_eq!(earned.awards[0].multiplied, 30);
    /// assert_eq!(earned.skipped[0].rule.as_str(), "lesson");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn apply_with(
        &self,
        ledger: &mut Ledger,
        event: &Event,
        ctx: &EarnContext,
    ) -> Result<Earned, PointsError> {
        let mut earned = Earned::nothing(false);
        self.apply_into(ledger, event, ctx, &mut earned)?;
        Ok(earned)
    }

    /// [`Program::apply_with`] writing what the event earned into `out`
    /// (emptied first, its lists' room kept), so a loop over many events
    /// (a batch replay, a simulation) reuses one [`Earned`] and allocates
    /// nothing for it. On error `out` is left empty and the ledger unchanged.
    ///
    /// ```
    /// use chrono::{TimeDelta, TimeZone, Utc};
    /// use growthkit::points::{EarnContext, Earned, ProgramSpec};
    /// use growthkit::{Event, EventId, EventKind, UserId};
    ///
    /// let program = serde_json::from_str::<ProgramSpec>(r#"{
    ///     "rules": [{ "name": "visit", "on": "visited",
    ///                 "reward": { "type": "fixed", "points": 5 },
    ///                 "daily_cap": { "count": 2 } }]
    /// }"#)?.validate()?;
    /// let mut ledger = program.new_ledger();
    /// let (ctx, mut out) = (EarnContext::new(), Earned::default());
    /// let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap();
    /// let mut total = 0;
    /// for i in 0..3 {
    ///     let at = t0 + TimeDelta::minutes(i);
    ///     let visit = Event::new(EventId(i as u64), UserId(1), at, EventKind::Visited);
    ///     program.apply_into(&mut ledger, &visit, &ctx, &mut out)?;
    ///     total += out.total;
    /// }
    /// assert_eq!(total, 10); // the third visit of the day is capped
    /// assert_eq!(out.awards[0].points, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn apply_into(
        &self,
        ledger: &mut Ledger,
        event: &Event,
        ctx: &EarnContext,
        out: &mut Earned,
    ) -> Result<(), PointsError> {
        self.apply_noting(ledger, event, ctx, out, None)
    }

    /// At most what `event` can award in all, `tier` its member's tier's
    /// multiplier (or more): the reward of every rule listening to its
    /// kind, multiplied and rounded up, before the conditions, exclusive
    /// groups, cooldowns and caps that can only lower it; `None` past
    /// `u64::MAX`.
    pub(crate) fn awards_at_most(&self, event: &Event, tier: Option<Multiplier>) -> Option<u64> {
        let candidates = self.plan.candidates(event.kind.tag());
        candidates.rules.iter().try_fold(0u64, |sum, &i| {
            let rule = self.spec.rules.get(i)?;
            let (base, _) = base_points(&rule.reward, &event.kind).ok()?;
            // The exact product, rounded up: no rounding gives more.
            let tier = tier.filter(|_| rule.tier_multiplier);
            let basis =
                |m: Option<Multiplier>| u128::from(m.unwrap_or(Multiplier::ONE).basis_points());
            let exact = u128::from(base) * basis(tier) * basis(rule.multiplier);
            let most = exact.div_ceil(basis(None) * basis(None));
            sum.checked_add(u64::try_from(most).ok()?)
        })
    }

    /// [`Program::apply_into`] with what a batch caller asks for beyond it
    /// (see [`Noting`]), if given.
    pub(crate) fn apply_noting(
        &self,
        ledger: &mut Ledger,
        event: &Event,
        ctx: &EarnContext,
        out: &mut Earned,
        noting: Option<Noting<'_>>,
    ) -> Result<(), PointsError> {
        // Without a batch's memo, no memo: within the event, `evaluate`
        // reuses the expiry of the class before.
        let (mut noted, mut handed, expiries, fresh) = match noting {
            Some(Noting {
                awards,
                handed,
                expiries,
                fresh,
            }) => (Some(awards), handed, expiries, fresh),
            None => (None, None, &mut [][..], false),
        };
        let order = match handed {
            Some(_) => LotOrder::Handed,
            None => LotOrder::Kept,
        };
        out.reset();
        let noted_before = noted.as_ref().map_or(0, |n| n.len());
        if !fresh {
            match ledger.seen.admit(event.id, event.at) {
                Admission::Duplicate => {
                    out.duplicate = true;
                    return Ok(());
                }
                Admission::TooLate => return Err(PointsError::TooLate { id: event.id }),
                Admission::Fresh => {}
            }
        }
        let version = ledger.version.checked_add(1).ok_or(PointsError::Overflow)?;
        let candidates = self.plan.candidates(event.kind.tag());
        if candidates.rules.is_empty() {
            // The common case for most events: no rule listens to the kind.
            ledger.version = version;
            if !fresh {
                ledger.seen.remember(event.id, event.at, &self.spec.dedupe);
            }
            return Ok(());
        }
        // Positions, not names, find the rule counters from here on (the
        // table is a cache outside the ledger's state).
        ledger.counters.adopt(&self.plan.names);
        // Everything is computed first and committed only once nothing can
        // fail, so a failed call leaves the ledger as it was.
        let mut changes = Changes::new();
        let step = self
            .evaluate(
                &ledger.counters,
                &ledger.global_days,
                event,
                ctx,
                candidates,
                (out, &mut changes, noted.as_deref_mut(), expiries),
            )
            .and_then(|step| {
                // The last fallible step; it changes nothing when it fails.
                let lots = changes.iter().filter(|c| c.points > 0).map(|c| Lot {
                    id: 0,
                    source: event.id,
                    rule: self.rule_name(c.rule),
                    earned_at: event.at,
                    available_from: c.available_from,
                    expires_at: c.expires_at,
                    remaining: c.points,
                    held: 0,
                    counted_global: c.counted_global,
                });
                out.debt_paid =
                    ledger.credit(out.total, step.lots, lots, (&self.spec.ledger, true), order)?;
                Ok(step)
            });
        let step = match step {
            Ok(step) => step,
            Err(e) => {
                out.reset();
                if let Some(noted) = noted {
                    noted.truncate(noted_before);
                }
                return Err(e);
            }
        };
        ledger.version = version;
        // The lots handed over, in the order `credit` took them, each less
        // what it paid of the debt (paid from the first lot on), and left
        // out if that was all of it.
        let mut unpaid = out.debt_paid;
        for change in changes.iter() {
            if change.points > 0
                && let Some(handed) = handed.as_deref_mut()
            {
                let pay = change.points.min(unpaid);
                unpaid -= pay;
                if change.points > pay {
                    handed.push(HandedLot {
                        remaining: change.points - pay,
                        available_from: change.available_from,
                        expires_at: change.expires_at,
                    });
                }
            }
            let (Some(rule), Some(plan)) = (
                self.spec.rules.get(change.rule),
                self.plan.rules.get(change.rule),
            ) else {
                continue;
            };
            let Some(counter) = ledger.counters.at_mut(change.rule, &rule.name) else {
                continue;
            };
            if let Some(n) = change.matched {
                counter.matched = n;
            }
            if change.points > 0 {
                let p = step.periods;
                let periods = plan.tallied.periods(p.day, p.week, p.month);
                counter.record(periods, event.at, change.points);
            }
        }
        if let Some(tally) = step.global {
            ledger.record_global(step.periods.day, tally);
        }
        let remembered_cuts = usize::from(self.spec.ledger.reversible_awards);
        if remembered_cuts > 0 {
            let noted = noted
                .as_deref()
                .map(|n| n.get(noted_before..).unwrap_or(&[]));
            self.remember_cuts(ledger, event, (&out.awards, noted), remembered_cuts);
        }
        if !fresh {
            ledger.seen.remember(event.id, event.at, &self.spec.dedupe);
        }
        Ok(())
    }

    /// Remembers the awards of `event` that a cap cut (see [`CutAward`]),
    /// from its explained `awards` or, for a batch, from its awards in
    /// short (`noted`, if given), keeping the newest `limit`. Out of line:
    /// a batch that never reverses remembers none.
    #[cold]
    #[inline(never)]
    fn remember_cuts(
        &self,
        ledger: &mut Ledger,
        event: &Event,
        (awards, noted): (&[Award], Option<&[Noted]>),
        limit: usize,
    ) {
        let explained = awards
            .iter()
            .filter(|a| a.capped.is_some())
            .map(|a| (a.rule.clone(), a.multiplied, a.points));
        let short = noted
            .into_iter()
            .flatten()
            .filter(|n| n.capped)
            .map(|n| (self.rule_name(n.position()), n.multiplied, n.points));
        for (rule, wanted, awarded) in explained.chain(short) {
            ledger.remember_cut(limit, || CutAward {
                source: event.id,
                rule,
                earned_at: event.at,
                wanted,
                awarded,
                unreversed: Default::default(),
            });
        }
    }

    /// The name of the rule at `position` (validated programs have one).
    fn rule_name(&self, position: usize) -> Label {
        self.spec
            .rules
            .get(position)
            .map_or_else(|| Label::from(""), |r| r.name.clone())
    }

    /// The earning step without its commit: what `event` earns against the
    /// ledger's counters (into `earned`), and the counter changes and lots
    /// to make.
    fn evaluate(
        &self,
        counters: &RuleCounters,
        global_days: &Tallies,
        event: &Event,
        ctx: &EarnContext,
        candidates: &Candidates,
        (earned, changes, mut noted, expiries): (
            &mut Earned,
            &mut Changes,
            Option<&mut Vec<Noted>>,
            &mut [Option<Memo>],
        ),
    ) -> Result<Step, PointsError> {
        let offset = offset_seconds(&self.zone, event.at);
        let local = LocalTime::at(event.at, offset);
        let day = local.day;
        // The event's periods, each computed once and only if one of the
        // rules listening to its kind keeps tallies for it.
        let periods = Periods {
            day,
            days: true,
            week: candidates.weeks.then(|| week_of(day)),
            month: candidates.months.then(|| month_of(day)),
            last_award: false,
        };
        let mut lots = 0usize;
        // The winner of each exclusive group so far: (group, rule position).
        let mut winners: SmallVec<[(usize, usize); 4]> = SmallVec::new();
        // The global daily tally as this event's awards use it up.
        let mut global: Option<DayTally> = None;
        let mut global_changed = false;
        // The expiry class and expiry of the event's last lot.
        let mut last_expiry: Option<(usize, Option<DateTime<Utc>>)> = None;
        for (position, &i) in candidates.rules.iter().enumerate() {
            let (Some(rule), Some(plan)) = (self.spec.rules.get(i), self.plan.rules.get(i)) else {
                continue;
            };
            // A candidate listens to the event's kind: only a rule that
            // names an action, a currency or conditions may still not match.
            if plan.checked
                && !(rule.on.matches(&event.kind)
                    && rule.reward.accepts(&event.kind)
                    && rule.when.iter().all(|c| c.holds(event, local, ctx)))
            {
                continue;
            }
            let counter = counters.at(i, rule.name.as_str()).unwrap_or(&NO_COUNTER);
            // Only a rule that keeps day tallies has caps a late event must
            // be judged against: one whose period caps a program change
            // dropped still holds its old tallies, which must not refuse
            // events. Asked second: a late event is rare, and asked first
            // the flag cost 2% more of the batch path's time.
            if counter.too_old(day) && plan.tallied.days {
                return Err(PointsError::TooLate { id: event.id });
            }
            let matched = counting(plan, counter)?;
            if matched.is_some_and(|(_, holds)| !holds) {
                changes.push(Change {
                    rule: i,
                    matched: matched.map(|(n, _)| n),
                    ..Change::BLANK
                });
                continue;
            }
            if let Some(group) = plan.group {
                let winner = winners.iter().find(|(g, _)| *g == group).map(|&(_, w)| w);
                match winner {
                    Some(w) => {
                        let by = self.spec.rules.get(w).map(|r| r.name.clone());
                        if let (Some(g), Some(by)) = (&rule.exclusive_group, by) {
                            earned.skipped.push(Skipped {
                                rule: rule.name.clone(),
                                reason: SkipReason::Excluded {
                                    group: g.clone(),
                                    by,
                                },
                            });
                        }
                        if let Some((n, _)) = matched {
                            changes.push(Change {
                                rule: i,
                                matched: Some(n),
                                ..Change::BLANK
                            });
                        }
                        continue;
                    }
                    None => winners.push((group, i)),
                }
            }
            let counts_global = self.counts_global(rule);
            if counts_global && global.is_none() {
                if super::ledger::too_old(global_days, day) {
                    return Err(PointsError::TooLate { id: event.id });
                }
                global = Some(global_days.tally(day));
            }
            let awards = match noted.as_deref_mut() {
                Some(noted) => Awards::Noted(noted),
                None => {
                    if earned.awards.capacity() == 0 {
                        // One allocation for every award this event can make.
                        earned
                            .awards
                            .reserve_exact(candidates.rules.len().saturating_sub(position));
                    }
                    Awards::Explained(&mut earned.awards)
                }
            };
            let award = self.award(
                (i, rule, plan, counter),
                event,
                ctx,
                (periods, global),
                awards,
            )?;
            let mut change = Change {
                rule: i,
                matched: matched.map(|(n, _)| n),
                points: award.points,
                counted_global: award.counted_global,
                ..Change::BLANK
            };
            if award.points > 0 {
                // Every period tally is part of the lifetime one, so
                // checking the lifetime covers them all.
                counter
                    .lifetime()
                    .plus(award.points)
                    .ok_or(PointsError::Overflow)?;
                if award.counted_global {
                    global_changed = true;
                    global = global
                        .unwrap_or_default()
                        .plus(award.points)
                        .map(Some)
                        .ok_or(PointsError::Overflow)?;
                }
                earned.total = earned
                    .total
                    .checked_add(award.points)
                    .ok_or(PointsError::Overflow)?;
                // Rules of one expiry class give the event's lots one
                // expiry: worked out once per class and event.
                change.expires_at = match last_expiry {
                    Some((class, at)) if class == plan.expiry_class => at,
                    _ => {
                        let at = plan.expiry.expires_at_memo(
                            (event.at, offset),
                            &self.zone,
                            (plan.expiry_class, &mut *expiries),
                        )?;
                        last_expiry = Some((plan.expiry_class, at));
                        at
                    }
                };
                change.available_from =
                    rule.available_from(event.at).ok_or(PointsError::Overflow)?;
                lots += 1;
            }
            if award.points > 0 || matched.is_some() {
                changes.push(change);
            }
        }
        Ok(Step {
            lots,
            global: global.filter(|_| global_changed),
            periods,
        })
    }

    /// One matching, non-excluded rule's award (the rule at `position`),
    /// before anything is committed, appended to `awards`; what it grants.
    fn award(
        &self,
        (position, rule, plan, counter): (usize, &RuleSpec, &RulePlan, &RuleCounter),
        event: &Event,
        ctx: &EarnContext,
        (periods, global): (Periods, Option<DayTally>),
        awards: Awards<'_>,
    ) -> Result<Granted, PointsError> {
        let (base, per_amount) = base_points(&rule.reward, &event.kind)?;
        let tier_multiplier = ctx
            .tier
            .as_ref()
            .filter(|_| rule.tier_multiplier)
            .map(|t| t.multiplier);
        // One multiplier (a tier's, most often) is one product: the same
        // quotient as both with the other at ×1, without the wider one.
        let rounding = rule.multiplier_rounding;
        let multiplied = match (tier_multiplier, rule.multiplier) {
            // Most members hold the lowest tier, at ×1: no arithmetic.
            (None, None) => base,
            (Some(one), None) | (None, Some(one)) if one == Multiplier::ONE => base,
            (Some(one), None) | (None, Some(one)) => one.apply(base, rounding)?,
            (Some(tier), Some(own)) => tier.apply_both(own, base, rounding)?,
        };
        let (points, capped, cooling_down_until) =
            self.limit(rule, plan, event, multiplied, periods, counter, global)?;
        let counted_global = points > 0 && global.is_some() && !rule.global_cap_exempt;
        match awards {
            // Pushed whole, once: an award is large, and moving it about
            // costs.
            Awards::Explained(awards) => awards.push(Award {
                rule: rule.name.clone(),
                base,
                tier_multiplier,
                rule_multiplier: rule.multiplier,
                multiplied,
                points,
                per_amount,
                capped,
                cooling_down_until,
                counted_global,
            }),
            Awards::Noted(noted) => noted.push(Noted {
                // A program of more than 2^32 rules cannot be written.
                rule: u32::try_from(position).unwrap_or(u32::MAX),
                capped: capped.is_some(),
                points,
                multiplied,
            }),
        }
        Ok(Granted {
            points,
            counted_global,
        })
    }

    /// What the cooldown and the caps leave of `multiplied`: the points, the
    /// cap that cut them, and the end of a cooldown that held them back.
    #[allow(clippy::too_many_arguments)]
    fn limit(
        &self,
        rule: &RuleSpec,
        plan: &RulePlan,
        event: &Event,
        multiplied: u64,
        periods: Periods,
        counter: &RuleCounter,
        global: Option<DayTally>,
    ) -> Result<Limited, PointsError> {
        if multiplied == 0 {
            return Ok((0, None, None));
        }
        if let (Some(cooldown), Some(last)) = (plan.cooldown, counter.last_award_at) {
            let until = last
                .checked_add_signed(cooldown)
                .ok_or(PointsError::Overflow)?;
            if event.at < until {
                return Ok((0, None, Some(until)));
            }
        }
        let used = |period| counter.used(period, &periods);
        let (points, capped) = self.caps(rule, multiplied, used, global);
        Ok((points, capped, None))
    }

    /// What `rule`'s caps and the program's global daily cap leave of
    /// `multiplied`, and the cap that cut deepest: each of the rule's caps
    /// judged against what its period has `used`, the global one against
    /// `global` (the day's tally, if the program has the cap), unless the
    /// rule is exempt from it.
    #[inline]
    pub(crate) fn caps(
        &self,
        rule: &RuleSpec,
        multiplied: u64,
        used: impl Fn(CapPeriod) -> DayTally,
        global: Option<DayTally>,
    ) -> (u64, Option<CapHit>) {
        let mut limiter = Limiter::new(multiplied, rule.cap_mode);
        limiter.cut(rule.daily_cap, CapPeriod::Daily, || used(CapPeriod::Daily));
        limiter.cut(rule.weekly_cap, CapPeriod::Weekly, || {
            used(CapPeriod::Weekly)
        });
        limiter.cut(rule.monthly_cap, CapPeriod::Monthly, || {
            used(CapPeriod::Monthly)
        });
        limiter.cut(rule.lifetime_cap, CapPeriod::Lifetime, || {
            used(CapPeriod::Lifetime)
        });
        if let Some(used) = global.filter(|_| !rule.global_cap_exempt) {
            limiter.cut(self.spec.global_daily_cap, CapPeriod::GlobalDaily, || used);
        }
        limiter.finish()
    }
}

/// For a rule with counting conditions: the match count with this event,
/// and whether the `first_time` / `every_nth` conditions hold at it.
#[inline]
fn counting(plan: &RulePlan, counter: &RuleCounter) -> Result<Option<(u64, bool)>, PointsError> {
    if !plan.counts_matches() {
        return Ok(None);
    }
    let n = counter
        .matched
        .checked_add(1)
        .ok_or(PointsError::Overflow)?;
    let holds = (!plan.first_time || n == 1)
        && plan
            .every_nth
            .iter()
            .all(|&k| n.is_multiple_of(u64::from(k)));
    Ok(Some((n, holds)))
}

/// The reward before multipliers and caps, and its arithmetic for
/// per-amount rules.
#[inline]
fn base_points(
    reward: &Reward,
    kind: &EventKind,
) -> Result<(u64, Option<PerAmountCalc>), PointsError> {
    match *reward {
        Reward::Fixed { points } => Ok((points, None)),
        Reward::PerAmount {
            points,
            per_minor,
            rounding,
            currency,
        } => {
            // Validation ties per-amount rules to purchases; anything else
            // (impossible through a validated program) earns nothing.
            let EventKind::Purchase { amount } = kind else {
                return Ok((0, None));
            };
            let calc = PerAmountCalc {
                amount_minor: amount.minor,
                points,
                per_minor,
                rounding,
                currency: amount.currency,
            };
            // A rule in another currency does not match (`Reward::accepts`);
            // should one get here, it earns nothing.
            if currency.is_some_and(|c| c != amount.currency) {
                return Ok((0, Some(calc)));
            }
            Ok((
                per_amount(amount.minor, points, per_minor, rounding)?,
                Some(calc),
            ))
        }
    }
}

/// `amount × points / per_minor`, rounded; negative amounts earn 0.
pub(crate) fn per_amount(
    amount: i64,
    points: u64,
    per_minor: i64,
    rounding: Rounding,
) -> Result<u64, PointsError> {
    if amount <= 0 || per_minor <= 0 {
        return Ok(0);
    }
    // Both are positive here, and u128 holds i64 × u64 exactly, so only the
    // final narrowing can fail.
    let num = u128::from(amount.unsigned_abs()) * u128::from(points);
    let q = rounding.divide(num, u128::from(per_minor.unsigned_abs()));
    u64::try_from(q).map_err(|_| PointsError::Overflow)
}

#[cfg(test)]
mod tests;
