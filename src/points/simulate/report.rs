//! The figures a simulation reports, how they are gathered user by user, and
//! how reports of disjoint shards of users merge.

use crate::analytics::Ratio;
use crate::event::Label;
use crate::id::UserId;
use crate::points::Ledger;
use crate::points::ledger::HandedLot;
use crate::points::program::Program;
use crate::time::LocalDay;
use chrono::{DateTime, Datelike, Months, NaiveDate, TimeDelta, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::fmt;

/// What a simulation found (see [`simulate`](super::simulate)).
///
/// Points are conserved: every point issued is, at `as_of`, redeemed,
/// expired, reversed or outstanding ([`SimulationReport::is_conserved`]),
/// and the rules' [`issued`](RuleReport::issued) and the bonuses'
/// [`issued`](BonusReport::issued) add up to [`issued`](Self::issued).
///
/// Each member's figures are exact (a ledger's arithmetic is checked), but
/// the report's sums over members (and [`merge`](Self::merge)'s) stick at
/// `u64::MAX` rather than wrap: a sum that got there is no longer exact,
/// and the identities above may then fail.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct SimulationReport {
    /// The instant the figures are taken at: points due by then are expired.
    pub as_of: DateTime<Utc>,
    /// Users simulated (each with at least one event).
    pub users: u64,
    /// Events read.
    pub events: u64,
    /// Events taken by the program (whether or not they earned anything).
    pub applied: u64,
    /// Events dropped as repeats of an event id already taken.
    pub duplicates: u64,
    /// Events refused as too late ([`PointsError::TooLate`](crate::points::PointsError::TooLate)).
    pub too_late: u64,
    /// Events refused for another reason: an overflow, or an id in use by
    /// one of the member's bonus lots
    /// ([`AccountError::ReservedEventId`](crate::points::AccountError::ReservedEventId)).
    pub failed: u64,
    /// One entry per rule of the program, in program order.
    pub rules: Vec<RuleReport>,
    /// One entry per bonus credited by the program's `streak` and `badges`
    /// sections (`streak day 7`, `badge helper gold`), by name; empty for a
    /// program without them.
    #[serde(default)]
    pub bonuses: Vec<BonusReport>,
    /// Members per tier at `as_of`, after the tier's evaluation, in ladder
    /// order; empty for a program without a `tiers` section.
    #[serde(default)]
    pub tiers: Vec<TierReport>,
    /// Points issued, by all rules and bonuses.
    pub issued: u64,
    /// Redemptions made by the simulated spending habit
    /// ([`Simulation::redeeming`](super::Simulation::redeeming)).
    pub redemptions: u64,
    /// Points redeemed.
    pub redeemed: u64,
    /// Points expired by `as_of`.
    pub expired: u64,
    /// Refunds that reversed a purchase's points
    /// ([`Simulation::reversing_refunds`](super::Simulation::reversing_refunds)).
    pub reversals: u64,
    /// Refunds that reversed no points: with no purchase left to reverse,
    /// whose purchase earned none, a share of one so small that it
    /// rounds to nothing, or whose reversal failed.
    pub refunds_unmatched: u64,
    /// Points taken back by reversals.
    pub reversed: u64,
    /// Points reversals could not take back and members now owe (outside
    /// the conservation identity: a debt, not points).
    pub owed: u64,
    /// Points reversals could not take back and forgave.
    pub forgiven: u64,
    /// Points still owed to members at `as_of` (spendable, pending or held):
    /// the program's liability.
    pub outstanding: u64,
    /// Of `outstanding`, points still in their pending period at `as_of`.
    /// The whole log is run (see [`Simulation::new`](super::Simulation::new)):
    /// points earned by an event after `as_of` cannot be spent at `as_of`,
    /// so they count here too.
    pub pending: u64,
    /// `outstanding` by the month it is valid through, months in order,
    /// never-expiring points last; months with nothing are left out.
    pub liability: Vec<Liability>,
    /// The users who earned most ([`TopEarner::earned`]), most first, ties
    /// by smaller user id; users who earned nothing are never listed.
    pub top_earners: Vec<TopEarner>,
    /// How many top earners the report keeps.
    pub top_n: usize,
}

/// One rule's figures.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct RuleReport {
    /// The rule.
    pub rule: Label,
    /// Points it issued.
    pub issued: u64,
    /// Its awards that issued points.
    pub awards: u64,
    /// Its awards that a cap trimmed or rejected ([`Award::capped`](crate::points::Award::capped)).
    pub capped_awards: u64,
    /// Distinct users it issued points to.
    pub users_earning: u64,
    /// Distinct users with at least one capped award.
    pub users_capped: u64,
}

/// One bonus's figures: a streak milestone or a badge level that grants
/// points (see [`Account`](crate::points::Account)).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct BonusReport {
    /// The bonus, as named on its lots (`streak day 7`).
    pub bonus: Label,
    /// Points it issued.
    pub issued: u64,
    /// Times it was credited.
    pub awards: u64,
    /// Distinct users it was credited to.
    pub users_earning: u64,
}

/// How many members hold one tier.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct TierReport {
    /// The tier.
    pub tier: Label,
    /// Members holding it at `as_of`.
    pub members: u64,
}

/// The last local calendar month (in the program's zone) in which points can
/// still be spent, or never-expiring.
///
/// A lot expiring at local midnight on 1 March (an "end of February" expiry)
/// is valid through February; one expiring at 01:00 on 1 March, through March.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValidThrough {
    /// Through the end of this local month.
    Month {
        /// The year.
        year: i32,
        /// The month, 1 to 12.
        month: u32,
    },
    /// The points never expire.
    Never,
}

impl ValidThrough {
    /// The month through which points expiring at `expires_at` (`None`:
    /// never) are valid, in `zone`: the local month of the last instant
    /// before expiry. A local month beyond chrono's calendar (in the last
    /// hours of its last day east of UTC, or before its first instant west
    /// of it) saturates at the calendar's last or first month.
    pub fn of<Tz: TimeZone>(expires_at: Option<DateTime<Utc>>, zone: &Tz) -> ValidThrough {
        let Some(at) = expires_at else {
            return ValidThrough::Never;
        };
        let last = at
            .checked_sub_signed(TimeDelta::nanoseconds(1))
            .unwrap_or(at);
        let date = LocalDay::of(last, zone).date();
        ValidThrough::Month {
            year: date.year(),
            month: date.month(),
        }
    }
}

impl fmt::Display for ValidThrough {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ValidThrough::Month { year, month } => f.pad(&format!("{year:04}-{month:02}")),
            ValidThrough::Never => f.pad("never"),
        }
    }
}

/// Outstanding points valid through one month.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct Liability {
    /// The month (or never).
    pub valid_through: ValidThrough,
    /// Points.
    pub points: u64,
}

/// A user among the top earners.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct TopEarner {
    /// The user.
    pub user: UserId,
    /// Points issued to them, by rules and bonuses (as
    /// [`SimulationReport::issued`]): what they earned, before what they
    /// redeemed, lost to expiry or had reversed.
    pub earned: u64,
}

/// Why two reports cannot be merged.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimulationError {
    /// The reports were taken at different instants.
    #[error("cannot merge reports taken as of {left} and {right}: as_of differs")]
    AsOfMismatch {
        /// This report's `as_of`.
        left: DateTime<Utc>,
        /// The other's.
        right: DateTime<Utc>,
    },
    /// The reports come from programs with different rules.
    #[error(
        "cannot merge reports of different programs: rule {position} is {left} in one, {right} in the other"
    )]
    RuleMismatch {
        /// The rule's position (from 0).
        position: usize,
        /// Its name in this report (`(none)` if it has fewer rules).
        left: String,
        /// Its name in the other.
        right: String,
    },
    /// The reports come from programs with different tier ladders.
    #[error(
        "cannot merge reports of different programs: tier {position} is {left} in one, {right} in the other"
    )]
    TierMismatch {
        /// The tier's position on the ladder (from 0).
        position: usize,
        /// Its name in this report (`(none)` if its ladder is shorter).
        left: String,
        /// Its name in the other.
        right: String,
    },
}

/// The width of a printed table's rule column: the longest rule name, and
/// at least the header's "rule".
pub(super) fn rule_column_width<'a>(rules: impl Iterator<Item = &'a Label>) -> usize {
    rules
        .map(|rule| rule.as_str().chars().count())
        .max()
        .unwrap_or(0)
        .max("rule".len())
}

/// Adds, sticking at `u64::MAX` rather than wrapping (a count cannot
/// realistically get there).
pub(super) fn bump(total: &mut u64, add: u64) {
    *total = total.saturating_add(add);
}

impl SimulationReport {
    /// Breakage: points expired over points issued (unknown when nothing was
    /// issued).
    pub fn breakage(&self) -> Ratio {
        Ratio::new(self.expired, self.issued)
    }

    /// One rule's figures, by name.
    pub fn rule(&self, name: &str) -> Option<&RuleReport> {
        self.rules.iter().find(|r| r.rule.as_str() == name)
    }

    /// Whether `issued = redeemed + expired + reversed + outstanding`, and
    /// the rules' and bonuses' issued points add up to `issued`: true for
    /// every report a simulation produces and kept by [`merge`](Self::merge)
    /// while its sums fit in a `u64`; a sum past `u64::MAX` sticks there, and
    /// the report may then not be conserved.
    pub fn is_conserved(&self) -> bool {
        let parts = [self.redeemed, self.expired, self.reversed, self.outstanding]
            .into_iter()
            .try_fold(0u64, u64::checked_add);
        let by_source = self
            .rules
            .iter()
            .map(|r| r.issued)
            .chain(self.bonuses.iter().map(|b| b.issued))
            .try_fold(0u64, u64::checked_add);
        parts == Some(self.issued) && by_source == Some(self.issued)
    }

    /// Adds the figures of `other`, a report of *other users* under the same
    /// program and `as_of`, so that shards of users simulated apart give the
    /// report of all of them. Associative and commutative; a user present in
    /// both shards would be counted twice (partition the log by user).
    ///
    /// The merged report keeps the smaller of the two `top_n`. Reports of
    /// different programs or instants are refused and `self` is unchanged.
    pub fn merge(&mut self, other: &SimulationReport) -> Result<(), SimulationError> {
        if self.as_of != other.as_of {
            return Err(SimulationError::AsOfMismatch {
                left: self.as_of,
                right: other.as_of,
            });
        }
        let rules = |r: &SimulationReport| r.rules.iter().map(|r| r.rule.clone()).collect();
        if let Some((position, left, right)) = first_difference(rules(self), rules(other)) {
            return Err(SimulationError::RuleMismatch {
                position,
                left,
                right,
            });
        }
        let tiers = |r: &SimulationReport| r.tiers.iter().map(|t| t.tier.clone()).collect();
        if let Some((position, left, right)) = first_difference(tiers(self), tiers(other)) {
            return Err(SimulationError::TierMismatch {
                position,
                left,
                right,
            });
        }

        for (mine, theirs) in self.rules.iter_mut().zip(&other.rules) {
            bump(&mut mine.issued, theirs.issued);
            bump(&mut mine.awards, theirs.awards);
            bump(&mut mine.capped_awards, theirs.capped_awards);
            bump(&mut mine.users_earning, theirs.users_earning);
            bump(&mut mine.users_capped, theirs.users_capped);
        }
        for theirs in &other.bonuses {
            let at = self
                .bonuses
                .binary_search_by(|b| b.bonus.cmp(&theirs.bonus));
            match at {
                Ok(i) => {
                    if let Some(mine) = self.bonuses.get_mut(i) {
                        bump(&mut mine.issued, theirs.issued);
                        bump(&mut mine.awards, theirs.awards);
                        bump(&mut mine.users_earning, theirs.users_earning);
                    }
                }
                Err(i) => self.bonuses.insert(i, theirs.clone()),
            }
        }
        for (mine, theirs) in self.tiers.iter_mut().zip(&other.tiers) {
            bump(&mut mine.members, theirs.members);
        }
        for (mine, theirs) in [
            (&mut self.users, other.users),
            (&mut self.events, other.events),
            (&mut self.applied, other.applied),
            (&mut self.duplicates, other.duplicates),
            (&mut self.too_late, other.too_late),
            (&mut self.failed, other.failed),
            (&mut self.issued, other.issued),
            (&mut self.redemptions, other.redemptions),
            (&mut self.redeemed, other.redeemed),
            (&mut self.expired, other.expired),
            (&mut self.reversals, other.reversals),
            (&mut self.refunds_unmatched, other.refunds_unmatched),
            (&mut self.reversed, other.reversed),
            (&mut self.owed, other.owed),
            (&mut self.forgiven, other.forgiven),
            (&mut self.outstanding, other.outstanding),
            (&mut self.pending, other.pending),
        ] {
            bump(mine, theirs);
        }

        let mut liability: BTreeMap<ValidThrough, u64> = BTreeMap::new();
        for l in self.liability.iter().chain(&other.liability) {
            bump(liability.entry(l.valid_through).or_default(), l.points);
        }
        self.liability = liability_list(liability);

        self.top_n = self.top_n.min(other.top_n);
        self.top_earners.extend_from_slice(&other.top_earners);
        self.top_earners
            .sort_by_key(|e| (Reverse(e.earned), e.user));
        self.top_earners.truncate(self.top_n);
        Ok(())
    }
}

/// Where two lists of names first differ: the position and the two names
/// there (`(none)` past the end of the shorter).
fn first_difference(left: Vec<Label>, right: Vec<Label>) -> Option<(usize, String, String)> {
    let name = |l: Option<&Label>| l.map_or_else(|| "(none)".to_owned(), Label::to_string);
    (0..left.len().max(right.len()))
        .find(|&i| left.get(i) != right.get(i))
        .map(|i| (i, name(left.get(i)), name(right.get(i))))
}

/// Instants `(from, to]` expiring at which points are valid through
/// `month` in `zone`: from the month's last local midnight (see
/// [`last_midnight`]) to the next month's first. Usually every such
/// instant; a fold across the month's first midnight leaves out the
/// instants between its two midnights, whose months differ.
fn month_span<Tz: TimeZone>(
    month: ValidThrough,
    zone: &Tz,
) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let ValidThrough::Month { year, month } = month else {
        return None;
    };
    let first = NaiveDate::from_ymd_opt(year, month, 1)?;
    let next = first.checked_add_months(Months::new(1))?;
    Some((
        last_midnight(first, zone),
        LocalDay::from_date(next).start_in(zone),
    ))
}

/// The last instant `zone`'s clock reaches local midnight starting `date`:
/// the day's start, but the later of the two where a change of offset
/// repeats midnight. Not the start itself: where the clocks go back across
/// midnight (St. John's, 00:01 back to 23:01 on 1 November 2009), an
/// instant after the first midnight can show the day before, and points
/// expiring then are valid through the month before.
fn last_midnight<Tz: TimeZone>(date: NaiveDate, zone: &Tz) -> DateTime<Utc> {
    let midnight = date.and_time(chrono::NaiveTime::MIN);
    match zone.from_local_datetime(&midnight).latest() {
        Some(at) => at.with_timezone(&Utc),
        None => LocalDay::from_date(date).start_in(zone),
    }
}

fn liability_list(by_month: BTreeMap<ValidThrough, u64>) -> Vec<Liability> {
    by_month
        .into_iter()
        .filter(|&(_, points)| points > 0)
        .map(|(valid_through, points)| Liability {
            valid_through,
            points,
        })
        .collect()
}

/// A printable table: counts, one line per rule, the totals with breakage,
/// liability by month and the top earners.
impl fmt::Display for SimulationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "simulation as of {}: {} users, {} events ({} applied, {} duplicates, {} too late, {} failed)",
            self.as_of.format("%Y-%m-%d %H:%M:%S UTC"),
            self.users,
            self.events,
            self.applied,
            self.duplicates,
            self.too_late,
            self.failed
        )?;
        // One width for rules and bonuses, so the two tables line up (a
        // bonus's name is never shorter than the "bonus" header).
        let names = self.rules.iter().map(|r| &r.rule);
        let width = rule_column_width(names.chain(self.bonuses.iter().map(|b| &b.bonus)));
        writeln!(
            f,
            "{:<width$}  {:>12}  {:>10}  {:>10}  {:>13}  {:>12}",
            "rule", "issued", "awards", "capped", "users earning", "users capped"
        )?;
        for r in &self.rules {
            writeln!(
                f,
                "{:<width$}  {:>12}  {:>10}  {:>10}  {:>13}  {:>12}",
                r.rule.as_str(),
                r.issued,
                r.awards,
                r.capped_awards,
                r.users_earning,
                r.users_capped
            )?;
        }
        if !self.bonuses.is_empty() {
            writeln!(
                f,
                "{:<width$}  {:>12}  {:>10}  {:>13}",
                "bonus", "issued", "awards", "users earning"
            )?;
            for b in &self.bonuses {
                writeln!(
                    f,
                    "{:<width$}  {:>12}  {:>10}  {:>13}",
                    b.bonus.as_str(),
                    b.issued,
                    b.awards,
                    b.users_earning
                )?;
            }
        }
        let breakage = self
            .breakage()
            .percent()
            .map_or_else(|| "n/a".to_owned(), |p| format!("{p:.2}%"));
        writeln!(
            f,
            "issued {}, redeemed {} ({} redemptions), expired {} (breakage {breakage}), reversed {} ({} refunds), outstanding {} ({} pending)",
            self.issued,
            self.redeemed,
            self.redemptions,
            self.expired,
            self.reversed,
            self.reversals,
            self.outstanding,
            self.pending
        )?;
        if self.owed > 0 || self.forgiven > 0 || self.refunds_unmatched > 0 {
            writeln!(
                f,
                "owed {}, forgiven {}, {} refunds unmatched",
                self.owed, self.forgiven, self.refunds_unmatched
            )?;
        }
        if !self.liability.is_empty() {
            writeln!(f, "outstanding by month valid through:")?;
            for l in &self.liability {
                writeln!(f, "  {:<7}  {:>12}", l.valid_through, l.points)?;
            }
        }
        if !self.tiers.is_empty() {
            writeln!(f, "members by tier:")?;
            for t in &self.tiers {
                writeln!(f, "  {:<24}  {:>12}", t.tier.as_str(), t.members)?;
            }
        }
        if !self.top_earners.is_empty() {
            writeln!(f, "top earners:")?;
            for e in &self.top_earners {
                writeln!(f, "  {:<24}  {:>12}", e.user, e.earned)?;
            }
        }
        Ok(())
    }
}

/// The size of [`Accumulator`]'s memo of month buckets by expiry date:
/// a slot for every day of two years (see [`date_slot`]).
const DATE_SLOTS: usize = 2 * 366;

/// The slot of [`Accumulator`]'s memo for lots expiring at `at`: its UTC
/// date's day of the year, in an even or an odd year. Dates two years
/// apart share one.
fn date_slot(at: DateTime<Utc>) -> usize {
    let date = at.naive_utc().date();
    let odd = usize::from(date.year() & 1 == 1);
    date.ordinal0() as usize + 366 * odd
}

/// The outstanding points valid through one month: expiring in `(from, to]`.
struct MonthBucket {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    month: ValidThrough,
    points: u64,
}

impl MonthBucket {
    fn holds(&self, expires_at: DateTime<Utc>) -> bool {
        self.from < expires_at && expires_at <= self.to
    }
}

/// The number of the last user (see `Accumulator::user_no`) a rule counted
/// as earning, and as capped.
#[derive(Clone, Copy, Default)]
struct RuleStamps {
    earning: u64,
    capped: u64,
}

/// Gathers a report user by user, with buffers reused across users so the
/// per-user work allocates nothing of its own.
pub(super) struct Accumulator {
    pub(super) report: SimulationReport,
    /// The current user's number (from 1): a rule whose stamp equals it has
    /// already counted this user, so no per-user set needs clearing.
    user_no: u64,
    /// Per rule, beside its figures' index: one lookup for both stamps.
    stamps: Vec<RuleStamps>,
    /// Outstanding points of months without a [`MonthBucket`] (never, or
    /// beyond the calendar).
    liability: BTreeMap<ValidThrough, u64>,
    /// Outstanding points by the month they are valid through, for the
    /// months seen so far, in order: a program's lots expire in a few dozen
    /// months at most, so each month's calendar arithmetic is done once for
    /// the whole run rather than once per lot.
    months: Vec<MonthBucket>,
    /// By the UTC date a lot expires on ([`date_slot`]): 1 + the index in
    /// `months` of the bucket that held the last lot expiring on that date,
    /// or 0. A bucket found there is checked before it is used (a date at
    /// a month's edge in the zone falls in two months; dates two years
    /// apart share a slot), so the table only saves the search: a member's
    /// lots take turns between a few rules' expiries, each over a few
    /// dates.
    by_date: [u16; DATE_SLOTS],
    /// The best `top_n` so far, the weakest on top.
    top: BinaryHeap<Reverse<(u64, Reverse<UserId>)>>,
    /// Each bonus's figures so far, with the number of the last user it
    /// counted (as a rule's [`RuleStamps`]).
    bonuses: BTreeMap<Label, (BonusReport, u64)>,
}

impl Accumulator {
    pub(super) fn new<Tz: TimeZone>(
        program: &Program<Tz>,
        as_of: DateTime<Utc>,
        top_n: usize,
    ) -> Self {
        let rules: Vec<RuleReport> = program
            .spec()
            .rules
            .iter()
            .map(|rule| RuleReport {
                rule: rule.name.clone(),
                issued: 0,
                awards: 0,
                capped_awards: 0,
                users_earning: 0,
                users_capped: 0,
            })
            .collect();
        let count = rules.len();
        let tiers = program
            .tier_ladder()
            .map(|ladder| {
                ladder
                    .tiers()
                    .iter()
                    .map(|t| TierReport {
                        tier: t.name.clone(),
                        members: 0,
                    })
                    .collect()
            })
            .unwrap_or_default();
        Accumulator {
            report: SimulationReport {
                as_of,
                users: 0,
                events: 0,
                applied: 0,
                duplicates: 0,
                too_late: 0,
                failed: 0,
                rules,
                bonuses: Vec::new(),
                tiers,
                issued: 0,
                redemptions: 0,
                redeemed: 0,
                expired: 0,
                reversals: 0,
                refunds_unmatched: 0,
                reversed: 0,
                owed: 0,
                forgiven: 0,
                outstanding: 0,
                pending: 0,
                liability: Vec::new(),
                top_earners: Vec::new(),
                top_n,
            },
            stamps: vec![RuleStamps::default(); count],
            user_no: 0,
            liability: BTreeMap::new(),
            months: Vec::new(),
            by_date: [0; DATE_SLOTS],
            top: BinaryHeap::with_capacity(top_n.saturating_add(1).min(1 << 16)),
            bonuses: BTreeMap::new(),
        }
    }

    pub(super) fn start_user(&mut self) {
        self.user_no += 1;
    }

    /// Counts one award of the current user, by the rule at position `i`
    /// in the program.
    #[inline]
    pub(super) fn award(&mut self, i: usize, points: u64, capped: bool) {
        self.count_award(i, (points, points > 0), capped);
    }

    /// Counts points a reversal made up for an award of the current user
    /// that a cap had cut (see [`MadeUp`](crate::points::MadeUp)), by the
    /// rule at position `i`: an award if it had been refused whole
    /// (`counted`), and points in any case.
    pub(super) fn made_up(&mut self, i: usize, points: u64, counted: bool) {
        self.count_award(i, (points, counted), false);
    }

    /// Counts `points` of the rule at position `i`, as an award with
    /// points (`earned`), and as capped.
    #[inline]
    fn count_award(&mut self, i: usize, (points, earned): (u64, bool), capped: bool) {
        let user = self.user_no;
        let (Some(r), Some(stamps)) = (self.report.rules.get_mut(i), self.stamps.get_mut(i)) else {
            return;
        };
        // Counted without branches: whether an award is the user's first
        // for its rule, or capped, changes from award to award.
        bump(&mut r.issued, points);
        bump(&mut r.awards, u64::from(earned));
        bump(
            &mut r.users_earning,
            u64::from(earned && stamps.earning != user),
        );
        if earned {
            stamps.earning = user;
        }
        bump(&mut r.capped_awards, u64::from(capped));
        bump(
            &mut r.users_capped,
            u64::from(capped && stamps.capped != user),
        );
        if capped {
            stamps.capped = user;
        }
    }

    /// Counts one bonus of `points` credited to the current user.
    pub(super) fn bonus(&mut self, bonus: &Label, points: u64) {
        let user = self.user_no;
        let (b, stamp) = self.bonuses.entry(bonus.clone()).or_insert_with(|| {
            let report = BonusReport {
                bonus: bonus.clone(),
                issued: 0,
                awards: 0,
                users_earning: 0,
            };
            (report, 0)
        });
        bump(&mut b.issued, points);
        bump(&mut b.awards, 1);
        if *stamp != user {
            *stamp = user;
            bump(&mut b.users_earning, 1);
        }
    }

    /// Counts the current user as a member of `tier` at `as_of`.
    pub(super) fn tier(&mut self, tier: &Label) {
        if let Some(t) = self.report.tiers.iter_mut().find(|t| t.tier == *tier) {
            bump(&mut t.members, 1);
        }
    }

    /// Folds in a user's ledger after their last event and the final
    /// expiry, and the lots it handed over instead of keeping (see
    /// [`LotOrder::Handed`](crate::points::ledger::LotOrder::Handed)),
    /// expired and summed up here as the ledger's own lots are.
    pub(super) fn end_user<Tz: TimeZone>(
        &mut self,
        user: UserId,
        (ledger, handed): (&Ledger, &[HandedLot]),
        zone: &Tz,
    ) {
        let as_of = self.report.as_of;
        let mut t = ledger.totals(as_of);
        for lot in ledger.lots() {
            self.bucket(lot.remaining.saturating_add(lot.held), lot.expires_at, zone);
        }
        for lot in handed {
            // As `Ledger::expire` then `Ledger::totals` would.
            let part = if lot.expires_at.is_some_and(|e| e <= as_of) {
                bump(&mut t.expired, lot.remaining);
                continue;
            } else if lot.available_from > as_of {
                &mut t.pending
            } else {
                &mut t.spendable
            };
            bump(part, lot.remaining);
            self.bucket(lot.remaining, lot.expires_at, zone);
        }
        let r = &mut self.report;
        bump(&mut r.users, 1);
        bump(&mut r.issued, t.earned);
        bump(&mut r.redeemed, t.redeemed);
        bump(&mut r.expired, t.expired);
        bump(&mut r.reversed, t.reversed);
        bump(&mut r.owed, t.owed);
        bump(&mut r.forgiven, t.forgiven);
        bump(&mut r.pending, t.pending);
        for part in [t.spendable, t.pending, t.due, t.held] {
            bump(&mut r.outstanding, part);
        }
        self.offer(user, t.earned);
    }

    /// Adds `points` expiring at `expires_at` to the liability. Always
    /// inlined: once a lot, and the compiler had left it out of line.
    #[inline(always)]
    fn bucket<Tz: TimeZone>(&mut self, points: u64, expires_at: Option<DateTime<Utc>>, zone: &Tz) {
        if points == 0 {
            return;
        }
        let Some(at) = expires_at else {
            bump(
                self.liability.entry(ValidThrough::Never).or_default(),
                points,
            );
            return;
        };
        let slot = date_slot(at);
        let cached = self.by_date.get(slot).map_or(0, |&m| usize::from(m));
        if let Some(b) = cached.checked_sub(1).and_then(|m| self.months.get_mut(m))
            && b.holds(at)
        {
            bump(&mut b.points, points);
            return;
        }
        self.bucket_by_search((points, at, slot), zone);
    }

    /// [`Accumulator::bucket`] when its memo does not hold the month: out
    /// of line, so the common case stays small.
    #[inline(never)]
    fn bucket_by_search<Tz: TimeZone>(
        &mut self,
        (points, at, slot): (u64, DateTime<Utc>, usize),
        zone: &Tz,
    ) {
        // The buckets are disjoint and in order: the first one ending at or
        // after `at` holds it, or none does and a new one goes there.
        let i = self.months.partition_point(|b| b.to < at);
        let remember = |by_date: &mut [u16; DATE_SLOTS]| {
            // Beyond the table's numbers (no real program), no memo.
            let m = u16::try_from(i + 1).unwrap_or(0);
            if let Some(cached) = by_date.get_mut(slot) {
                *cached = m;
            }
        };
        if let Some(b) = self.months.get_mut(i)
            && b.holds(at)
        {
            bump(&mut b.points, points);
            remember(&mut self.by_date);
            return;
        }
        let month = ValidThrough::of(Some(at), zone);
        match month_span(month, zone) {
            Some((from, to)) if from < at && at <= to => {
                self.months.insert(
                    i,
                    MonthBucket {
                        from,
                        to,
                        month,
                        points,
                    },
                );
                // Indices from `i` on moved up one: start the memo afresh.
                self.by_date = [0; DATE_SLOTS];
                remember(&mut self.by_date);
            }
            _ => bump(self.liability.entry(month).or_default(), points),
        }
    }

    fn offer(&mut self, user: UserId, earned: u64) {
        if earned == 0 || self.report.top_n == 0 {
            return;
        }
        let key = Reverse((earned, Reverse(user)));
        if self.top.len() < self.report.top_n {
            self.top.push(key);
        } else if self.top.peek().is_some_and(|weakest| key < *weakest) {
            // `Reverse` flips the order: smaller is the better earner.
            self.top.pop();
            self.top.push(key);
        }
    }

    pub(super) fn finish(mut self) -> SimulationReport {
        for b in &self.months {
            bump(self.liability.entry(b.month).or_default(), b.points);
        }
        self.report.liability = liability_list(std::mem::take(&mut self.liability));
        self.report.bonuses = std::mem::take(&mut self.bonuses)
            .into_values()
            .map(|(b, _)| b)
            .collect();
        let mut top: Vec<TopEarner> = self
            .top
            .into_iter()
            .map(|Reverse((earned, Reverse(user)))| TopEarner { user, earned })
            .collect();
        top.sort_by_key(|e| (Reverse(e.earned), e.user));
        self.report.top_earners = top;
        self.report
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_instant_of_a_month_s_span_is_valid_through_that_month() {
        // Zones whose clocks change at or across midnight (St. John's at
        // 00:01, Havana at 01:00 back to 00:00, São Paulo and Santiago at
        // 24:00), skip a day (Apia) or change at 02:00 (New York): the
        // three hours inside each end of every month's span, from 1980 on.
        let zones = [
            chrono_tz::America::St_Johns,
            chrono_tz::America::Havana,
            chrono_tz::America::Sao_Paulo,
            chrono_tz::America::Santiago,
            chrono_tz::Pacific::Apia,
            chrono_tz::America::New_York,
        ];
        let near = (0..=36).map(|i| TimeDelta::minutes(5 * i));
        let near: Vec<TimeDelta> = near.chain([TimeDelta::nanoseconds(1)]).collect();
        for zone in zones {
            for i in 0..(45 * 12) {
                let month = ValidThrough::Month {
                    year: 1980 + i / 12,
                    month: (i % 12 + 1) as u32,
                };
                let Some((from, to)) = month_span(month, &zone) else {
                    panic!("{month} has a span");
                };
                assert!(from < to, "{month} in {zone}");
                for &d in &near {
                    for at in [from + d, to - d] {
                        if from < at && at <= to {
                            assert_eq!(ValidThrough::of(Some(at), &zone), month, "{at} in {zone}");
                        }
                    }
                }
            }
        }
    }
}
