//! Cap counters: one rule's (or the program's) awards per local day, ISO
//! week, calendar month and lifetime, and a ledger's set of them, found by
//! the rule's position in its program rather than by name.

use super::limits::{CapPeriod, month_of, week_of};
use crate::event::Label;
use crate::time::LocalDay;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// How many local days of per-rule and global daily tallies a ledger keeps,
/// counting back from the newest day tallied. Late events within the dedupe
/// horizon (days, not weeks) land inside it; an event older than that cannot
/// be checked against its day's cap and is refused with
/// [`PointsError::TooLate`](super::PointsError::TooLate) rather than guessed at.
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
    /// With one more award of `points`, or `None` on overflow. Inlined:
    /// an earning step checks each award's tallies with it, and the call
    /// cost more than the two additions.
    #[inline]
    pub(crate) fn plus(self, points: u64) -> Option<DayTally> {
        self.plus_awards(points, 1)
    }

    /// With `awards` more awards of `points` in all, or `None` on overflow.
    #[inline]
    pub(crate) fn plus_awards(self, points: u64, awards: u32) -> Option<DayTally> {
        Some(DayTally {
            count: self.count.checked_add(awards)?,
            points: self.points.checked_add(points)?,
        })
    }

    /// Adds `awards` awards of `points` in all. Only called once the
    /// lifetime tally (of which every period tally is a part) was checked,
    /// so saturation means a ledger edited outside the library, and is the
    /// least-bad answer.
    #[inline]
    pub(crate) fn add_awards(&mut self, points: u64, awards: u32) {
        self.count = self.count.saturating_add(awards);
        self.points = self.points.saturating_add(points);
    }

    /// Takes `awards` awards of `points` in all away (never below zero).
    pub(crate) fn remove(&mut self, points: u64, awards: u32) {
        self.count = self.count.saturating_sub(awards);
        self.points = self.points.saturating_sub(points);
    }

    pub(crate) fn is_empty(self) -> bool {
        self.count == 0 && self.points == 0
    }
}

/// Tallies per period, keyed by the period's first local day (the day
/// itself, a week's Monday or a month's first day), oldest first.
///
/// A ledger keeps a handful of recent periods ([`DAILY_TALLY_DAYS`] days,
/// the weeks and months they fall in), so a short list ordered by key finds
/// the newest period, the one most events land in, at its end without a
/// search. One period is kept without a heap allocation (most week and
/// month tallies, and the days of an occasional user). Serializes as a JSON
/// object by date, like a map.
#[derive(Clone, Default)]
pub struct Tallies(Repr);

type Period = (LocalDay, DayTally);

#[derive(Clone)]
enum Repr {
    /// No period, or one.
    One(Option<Period>),
    /// Any number, oldest first.
    Many(Vec<Period>),
}

impl Default for Repr {
    fn default() -> Self {
        Repr::One(None)
    }
}

impl Tallies {
    /// No tallies.
    const EMPTY: Tallies = Tallies(Repr::One(None));

    fn as_slice(&self) -> &[Period] {
        match &self.0 {
            Repr::One(one) => one.as_slice(),
            Repr::Many(many) => many,
        }
    }

    /// The tally of the period starting on `key`, if one is kept.
    #[inline]
    pub fn get(&self, key: LocalDay) -> Option<DayTally> {
        // Newest first: events mostly land in the latest period.
        self.as_slice()
            .iter()
            .rev()
            .find(|(k, _)| *k <= key)
            .filter(|(k, _)| *k == key)
            .map(|&(_, t)| t)
    }

    /// How many periods are kept.
    pub fn len(&self) -> usize {
        self.as_slice().len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.as_slice().is_empty()
    }

    /// The periods kept and their tallies, oldest first.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (LocalDay, DayTally)> + '_ {
        self.as_slice().iter().copied()
    }

    /// The tally under `key`, empty if none is kept.
    #[inline]
    pub(crate) fn tally(&self, key: LocalDay) -> DayTally {
        self.get(key).unwrap_or_default()
    }

    /// The newest period's key.
    #[inline]
    fn newest(&self) -> Option<LocalDay> {
        self.as_slice().last().map(|&(k, _)| k)
    }

    /// The oldest period's key.
    fn oldest(&self) -> Option<LocalDay> {
        self.as_slice().first().map(|&(k, _)| k)
    }

    /// The tally under `key`, to change, made empty if none was kept.
    fn entry(&mut self, key: LocalDay) -> &mut DayTally {
        if let Repr::One(Some((k, t))) = self.0
            && k != key
        {
            // A second period: move to the heap.
            let mut many = Vec::with_capacity(4);
            many.push((k, t));
            self.0 = Repr::Many(many);
        }
        match &mut self.0 {
            Repr::One(one) => &mut one.get_or_insert((key, DayTally::default())).1,
            Repr::Many(many) => {
                // Where `key` goes: usually at the end, or on the last entry.
                let at = many.iter().rposition(|(k, _)| *k <= key);
                let index = match at {
                    Some(i) if many.get(i).is_some_and(|(k, _)| *k == key) => i,
                    _ => {
                        let i = at.map_or(0, |i| i + 1);
                        many.insert(i, (key, DayTally::default()));
                        i
                    }
                };
                // `index` is in range: found or just inserted there.
                &mut many[index].1
            }
        }
    }

    /// No periods again, keeping a heap buffer for reuse.
    pub(crate) fn clear(&mut self) {
        match &mut self.0 {
            Repr::One(one) => *one = None,
            Repr::Many(many) => many.clear(),
        }
    }

    /// Adds `awards` awards of `points` in all to the period `key`.
    #[inline]
    pub(crate) fn add_awards(&mut self, key: LocalDay, points: u64, awards: u32) {
        self.entry(key).add_awards(points, awards);
    }

    /// Takes `awards` awards of `points` out of the period `key`, if kept,
    /// dropping its tally when it becomes empty, unless it is the newest:
    /// the newest period marks how far back the daily tallies reach (see
    /// [`too_old`]), and a reversal must not move that mark back, or a late
    /// event for a day already dropped would find an empty tally and a cap
    /// with room in it.
    pub(crate) fn remove(&mut self, key: LocalDay, points: u64, awards: u32) {
        match &mut self.0 {
            Repr::One(one) => {
                if let Some((k, t)) = one
                    && *k == key
                {
                    t.remove(points, awards);
                }
            }
            Repr::Many(many) => {
                let newest = many.len().saturating_sub(1);
                if let Some(i) = many.iter().position(|(k, _)| *k == key)
                    && let Some((_, t)) = many.get_mut(i)
                {
                    t.remove(points, awards);
                    if t.is_empty() && i != newest {
                        many.remove(i);
                    }
                }
            }
        }
    }

    /// For daily tallies: adds `awards` awards (0: more points for an award
    /// already counted) of `points` in all on `day` and, if that made `day`
    /// the newest, drops the days that fell behind the horizon (see
    /// [`Tallies::forget_old_days`], whose answer this is). A day no newer
    /// than the newest moves no horizon, so most awards, which land on a day
    /// already tallied, skip the look back.
    #[inline]
    pub(crate) fn add_awards_on_day(
        &mut self,
        day: LocalDay,
        points: u64,
        awards: u32,
    ) -> Option<LocalDay> {
        self.change_day(day, |t| t.add_awards(points, awards))
    }

    /// [`Tallies::add_awards_on_day`] setting the day's tally instead.
    #[inline]
    pub(crate) fn set_day(&mut self, day: LocalDay, tally: DayTally) -> Option<LocalDay> {
        self.change_day(day, |t| *t = tally)
    }

    #[inline(always)]
    fn change_day(
        &mut self,
        day: LocalDay,
        change: impl FnOnce(&mut DayTally),
    ) -> Option<LocalDay> {
        // The common steps in place: the newest day again, or a newer day
        // for tallies already on the heap (pushed at the end, no search).
        match &mut self.0 {
            Repr::Many(many) => match many.last_mut() {
                Some((newest, tally)) if *newest == day => {
                    change(tally);
                    return None;
                }
                Some((newest, _)) if *newest < day => {
                    // The days behind the new one's horizon go first: the
                    // rest, moved down, were written long ago, while
                    // moving a day just pushed would wait for its write.
                    let forgot = oldest_kept_behind(day)
                        .filter(|&oldest| many.first().is_some_and(|(k, _)| *k < oldest));
                    if let Some(oldest) = forgot {
                        drop_before(many, oldest);
                    }
                    let mut tally = DayTally::default();
                    change(&mut tally);
                    many.push((day, tally));
                    return forgot;
                }
                _ => {}
            },
            Repr::One(Some((newest, tally))) if *newest == day => {
                change(tally);
                return None;
            }
            Repr::One(_) => {}
        }
        let newer = self.newest().is_none_or(|newest| day > newest);
        change(self.entry(day));
        newer.then(|| self.forget_old_days()).flatten()
    }

    /// For daily tallies: drops the days more than [`DAILY_TALLY_DAYS`]
    /// behind the newest, returning the oldest day kept if any was dropped.
    #[inline]
    pub(crate) fn forget_old_days(&mut self) -> Option<LocalDay> {
        // Most awards land on a day already tallied: only cut when
        // something has fallen out of the horizon.
        let oldest = oldest_kept(self)?;
        if self.oldest().is_some_and(|first| first < oldest) {
            self.keep_from(oldest);
            return Some(oldest);
        }
        None
    }

    /// Drops the periods before `key`.
    fn keep_from(&mut self, key: LocalDay) {
        match &mut self.0 {
            Repr::One(one) => {
                if one.is_some_and(|(k, _)| k < key) {
                    *one = None;
                }
            }
            Repr::Many(many) => drop_before(many, key),
        }
    }
}

/// Drops the periods before `key` from a list in order. Usually one or two
/// old days go: a look from the front finds them sooner than a search, and
/// the few left are moved down without `drain`'s machinery. Always inlined:
/// once a reversal's make-up also recorded awards, the compiler had left it
/// out of line in the earning step's commit, 2% of a simulation's time.
#[inline(always)]
fn drop_before(many: &mut Vec<Period>, key: LocalDay) {
    let before = many.iter().take_while(|(k, _)| *k < key).count();
    if before > 0 {
        // Element by element: a few periods at most, as a rule, and
        // `copy_within` calls `memmove`, whose dispatch on a size that
        // changes from call to call cost more than the move.
        for i in before..many.len() {
            many[i - before] = many[i];
        }
        many.truncate(many.len() - before);
    }
}

// Equality, hashing and debug output look at the periods kept, not at
// whether they are on the heap.
impl PartialEq for Tallies {
    fn eq(&self, other: &Tallies) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for Tallies {}

impl std::hash::Hash for Tallies {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state);
    }
}

impl fmt::Debug for Tallies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.as_slice().iter().map(|(k, t)| (k, t)))
            .finish()
    }
}

impl Serialize for Tallies {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.as_slice().iter().map(|(k, t)| (k, t)))
    }
}

impl<'de> Deserialize<'de> for Tallies {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<LocalDay, DayTally>::deserialize(d)?;
        let mut periods = map.into_iter();
        Ok(Tallies(match periods.len() {
            0 | 1 => Repr::One(periods.next()),
            _ => Repr::Many(periods.collect()),
        }))
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
    #[serde(default, skip_serializing_if = "Tallies::is_empty")]
    pub days: Tallies,
    /// Per local ISO week (keyed by its Monday), for rules with a weekly
    /// cap (a weekly cap added to a running program counts from then on).
    #[serde(default, skip_serializing_if = "Tallies::is_empty")]
    pub weeks: Tallies,
    /// Per local calendar month (keyed by its first day), for rules with a
    /// monthly cap (likewise counted from when the cap was added).
    #[serde(default, skip_serializing_if = "Tallies::is_empty")]
    pub months: Tallies,
    /// Events that met the rule's conditions, for rules with a `first_time`
    /// or `every_nth` condition (0 for other rules).
    #[serde(default, skip_serializing_if = "super::is_zero")]
    pub matched: u64,
    /// The latest award's event time, for rules with a cooldown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_award_at: Option<DateTime<Utc>>,
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

/// Which of a rule's tallies its awards go into (see
/// [`RuleSpec::tallies_days`](super::RuleSpec) and friends), and whether
/// the time of its last award is kept (a rule with a cooldown). Worked out
/// once per rule, in its plan.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Tallied {
    pub(crate) days: bool,
    pub(crate) weeks: bool,
    pub(crate) months: bool,
    pub(crate) last_award: bool,
}

impl Tallied {
    /// Where an award on `day` is tallied, given its week's and month's
    /// keys where known (only read for a rule that keeps them).
    #[inline]
    pub(crate) fn periods(
        self,
        day: LocalDay,
        week: Option<LocalDay>,
        month: Option<LocalDay>,
    ) -> Periods {
        Periods {
            day,
            days: self.days,
            week: week.filter(|_| self.weeks),
            month: month.filter(|_| self.months),
            last_award: self.last_award,
        }
    }
}

impl RuleCounter {
    /// The counter of a rule that has neither matched nor awarded.
    pub(crate) const EMPTY: RuleCounter = RuleCounter {
        count: 0,
        points: 0,
        days: Tallies::EMPTY,
        weeks: Tallies::EMPTY,
        months: Tallies::EMPTY,
        matched: 0,
        last_award_at: None,
    };

    /// Whether it holds nothing (equal to [`RuleCounter::EMPTY`]).
    fn is_empty(&self) -> bool {
        self == &RuleCounter::EMPTY
    }

    /// Empty again, equal to [`RuleCounter::EMPTY`], keeping its tallies'
    /// heap buffers for reuse.
    fn clear(&mut self) {
        // Named without `..`, so a field added later is not forgotten here.
        let RuleCounter {
            count,
            points,
            days,
            weeks,
            months,
            matched,
            last_award_at,
        } = self;
        (*count, *points, *matched, *last_award_at) = (0, 0, 0, None);
        for tallies in [days, weeks, months] {
            tallies.clear();
        }
    }

    /// The lifetime tally.
    pub fn lifetime(&self) -> DayTally {
        DayTally {
            count: self.count,
            points: self.points,
        }
    }

    /// The tally of local day `day` (empty if none is kept).
    pub fn day(&self, day: LocalDay) -> DayTally {
        self.days.tally(day)
    }

    /// The tally of the local ISO week containing `day`.
    pub fn week(&self, day: LocalDay) -> DayTally {
        self.weeks.tally(week_of(day))
    }

    /// The tally of the local calendar month containing `day`.
    pub fn month(&self, day: LocalDay) -> DayTally {
        self.months.tally(month_of(day))
    }

    /// What a cap on `period` has used so far for an award in the periods
    /// `p`: the tally of its day, week or month (empty for a week or month
    /// `p` has no key for), or the lifetime's. The program's global daily
    /// cap is not the rule's: its period reads the lifetime, and is never
    /// asked for.
    #[inline(always)]
    pub(crate) fn used(&self, period: CapPeriod, p: &Periods) -> DayTally {
        let of = |tallies: &Tallies, key: Option<LocalDay>| {
            key.map_or_else(DayTally::default, |k| tallies.tally(k))
        };
        match period {
            CapPeriod::Daily => self.days.tally(p.day),
            CapPeriod::Weekly => of(&self.weeks, p.week),
            CapPeriod::Monthly => of(&self.months, p.month),
            CapPeriod::Lifetime | CapPeriod::GlobalDaily => self.lifetime(),
        }
    }

    /// Whether `day` is older than the tallies kept.
    #[inline]
    pub(crate) fn too_old(&self, day: LocalDay) -> bool {
        too_old(&self.days, day)
    }

    /// Records one award of `points` at `at` in the periods `p`; the caller
    /// has checked that the lifetime tally does not overflow.
    #[inline]
    pub(crate) fn record(&mut self, p: Periods, at: DateTime<Utc>, points: u64) {
        self.record_awards(p, at, points, 1);
    }

    /// [`RuleCounter::record`] of `awards` awards of `points` in all: 0
    /// adds points to an award already counted, as a reversal's make-up
    /// does for an award a cap had trimmed (the inverse of
    /// [`RuleCounter::release`]). Always inlined: the earning step's
    /// commit, where it matters, is its main caller.
    #[inline(always)]
    pub(crate) fn record_awards(
        &mut self,
        p: Periods,
        at: DateTime<Utc>,
        points: u64,
        awards: u32,
    ) {
        self.count = self.count.saturating_add(awards);
        self.points = self.points.saturating_add(points);
        let forgot = if p.days {
            self.days.add_awards_on_day(p.day, points, awards)
        } else {
            None
        };
        if let Some(week) = p.week {
            self.weeks.add_awards(week, points, awards);
        }
        if let Some(month) = p.month {
            self.months.add_awards(month, points, awards);
        }
        if p.last_award {
            self.last_award_at = Some(self.last_award_at.map_or(at, |last| last.max(at)));
        }
        if let Some(oldest) = forgot {
            // Only rules with week or month caps keep those tallies.
            if !self.weeks.is_empty() {
                self.weeks.keep_from(week_of(oldest));
            }
            if !self.months.is_empty() {
                self.months.keep_from(month_of(oldest));
            }
        }
    }

    /// Takes one award of `points` on `day` out of every tally that holds
    /// it (the day, its week and month where kept, the lifetime), dropping
    /// tallies that become empty (but the newest, kept empty as the mark of
    /// how far back they reach, see [`Tallies::remove`]), so the cap room is
    /// as if the award had never been made. The
    /// match count and the cooldown's last award time are left alone: the
    /// event did happen, and the cooldown does not reopen.
    pub(crate) fn release(&mut self, day: LocalDay, points: u64, awards: u32) {
        self.count = self.count.saturating_sub(awards);
        self.points = self.points.saturating_sub(points);
        self.days.remove(day, points, awards);
        self.weeks.remove(week_of(day), points, awards);
        self.months.remove(month_of(day), points, awards);
    }
}

/// The oldest day kept, counting back from the newest day in `days`.
#[inline]
fn oldest_kept(days: &Tallies) -> Option<LocalDay> {
    oldest_kept_behind(days.newest()?)
}

/// The oldest day daily tallies keep when `newest` is the newest.
#[inline(always)]
fn oldest_kept_behind(newest: LocalDay) -> Option<LocalDay> {
    newest.checked_add_days(-(DAILY_TALLY_DAYS - 1))
}

/// Whether `day` is older than the daily tallies in `days` reach back.
#[inline]
pub(crate) fn too_old(days: &Tallies, day: LocalDay) -> bool {
    oldest_kept(days).is_some_and(|oldest| day < oldest)
}
/// How many of [`RuleCounters`]' entries it tracks as touched.
const TOUCH_BITS: usize = 64;

/// A ledger's rule counters, keyed by rule name.
///
/// The earning step asks for a rule's counter by the rule's position in its
/// program: [`RuleCounters::adopt`] builds a table from positions to
/// counters once per ledger and program, so a lookup is an array access,
/// not a search by name. The table is a cache: it is not serialized, not
/// compared, and rebuilt whenever another program (by its rule names) is
/// used. Counters of rules that are no longer in the program are kept, so
/// a program that brings a rule back finds its counts.
#[derive(Clone, Default)]
pub(crate) struct RuleCounters {
    /// Each counter with its rule's name, in the order first used.
    entries: Vec<(Label, RuleCounter)>,
    /// Per rule position in the adopted program: 1 + the counter's index
    /// in `entries`, or 0 for none yet. Empty when no program is adopted
    /// (or the program is too large for a table): lookups then go by name.
    slots: Vec<u16>,
    /// The rule names of the program `slots` was built for.
    layout: Option<Arc<[Label]>>,
    /// Which of the first 64 entries may have changed since the last
    /// [`RuleCounters::clear`] (bit `i`: entry `i`), so that a clear
    /// between a batch's members empties the few counters a member used,
    /// not every rule's. Entries beyond are always emptied.
    touched: u64,
}

impl RuleCounters {
    /// Makes lookups by position follow the program with these rule names
    /// (a pointer comparison when it already does).
    #[inline]
    pub(crate) fn adopt(&mut self, names: &Arc<[Label]>) {
        if self.layout.as_ref().is_some_and(|l| Arc::ptr_eq(l, names)) {
            return;
        }
        self.slots.clear();
        self.layout = None;
        // Positions and counters must both fit the table's numbers; beyond
        // that (no real program), lookups go by name.
        if names.len() >= usize::from(u16::MAX) || self.entries.len() >= usize::from(u16::MAX) {
            return;
        }
        let entries = &self.entries;
        self.slots.extend(names.iter().map(|name| {
            entries
                .iter()
                .position(|(n, _)| n == name)
                .and_then(|i| u16::try_from(i + 1).ok())
                .unwrap_or(0)
        }));
        self.layout = Some(Arc::clone(names));
    }

    /// Empties every counter in place, keeping it (with its tally
    /// buffers) under its rule's name, and the adopted program's table: a
    /// batch that runs member after member reuses them all without moving
    /// a counter. An empty counter is as good as none: lookups by name,
    /// equality and JSON leave it out.
    pub(crate) fn clear(&mut self) {
        let mut touched = std::mem::take(&mut self.touched);
        while touched != 0 {
            let i = touched.trailing_zeros() as usize;
            touched &= touched - 1;
            if let Some((_, counter)) = self.entries.get_mut(i) {
                counter.clear();
            }
        }
        for (_, counter) in self.entries.iter_mut().skip(TOUCH_BITS) {
            counter.clear();
        }
    }

    /// Entry `i`, to change: marked as touched.
    #[inline]
    fn touch(&mut self, i: usize) -> Option<&mut RuleCounter> {
        if i < TOUCH_BITS {
            self.touched |= 1 << i;
        }
        self.entries.get_mut(i).map(|(_, c)| c)
    }

    /// The counter of the rule at `position` in the adopted program (named
    /// `name`), if it has one.
    #[inline]
    pub(crate) fn at(&self, position: usize, name: &str) -> Option<&RuleCounter> {
        match self.slots.get(position) {
            Some(0) => None,
            Some(&slot) => self.entries.get(usize::from(slot) - 1).map(|(_, c)| c),
            None => self.get(name),
        }
    }

    /// The counter of the rule at `position` in the adopted program,
    /// created empty if it has none.
    #[inline(always)]
    pub(crate) fn at_mut(&mut self, position: usize, name: &Label) -> Option<&mut RuleCounter> {
        let found = match self.slots.get(position) {
            Some(0) => None,
            Some(&slot) => Some(usize::from(slot) - 1),
            None => self.entries.iter().position(|(n, _)| n == name),
        };
        let index = match found {
            Some(i) => i,
            None => {
                if self.entries.capacity() == 0 {
                    // A member usually touches several rules: skip the
                    // smallest steps of growth (bounded by the program).
                    self.entries.reserve_exact(self.slots.len().clamp(1, 8));
                }
                self.entries.push((name.clone(), RuleCounter::default()));
                let i = self.entries.len() - 1;
                match (self.slots.get_mut(position), u16::try_from(i + 1)) {
                    (Some(slot), Ok(s)) => *slot = s,
                    // Too many counters for the table: go by name from now on.
                    (Some(_), Err(_)) => {
                        self.slots.clear();
                        self.layout = None;
                    }
                    (None, _) => {}
                }
                i
            }
        };
        self.touch(index)
    }

    /// The counter of the rule named `name`, unless it is empty.
    pub(crate) fn get(&self, name: &str) -> Option<&RuleCounter> {
        self.live()
            .find(|(n, _)| n.as_str() == name)
            .map(|(_, c)| c)
    }

    /// The counters that are not empty (see [`RuleCounters::clear`]).
    fn live(&self) -> impl Iterator<Item = &(Label, RuleCounter)> {
        self.entries.iter().filter(|(_, c)| !c.is_empty())
    }

    /// The counter of the rule named `name`, to change.
    pub(crate) fn get_mut(&mut self, name: &str) -> Option<&mut RuleCounter> {
        let i = self.entries.iter().position(|(n, _)| n.as_str() == name)?;
        self.touch(i)
    }

    fn sorted(&self) -> Vec<(&Label, &RuleCounter)> {
        let mut v: Vec<_> = self.live().map(|(n, c)| (n, c)).collect();
        v.sort_unstable_by(|a, b| a.0.cmp(b.0));
        v
    }
}

// Equal when they hold the same counters, whatever the order they were first
// used in and whichever program's table they cache.
impl PartialEq for RuleCounters {
    fn eq(&self, other: &RuleCounters) -> bool {
        self.live().count() == other.live().count()
            && self.live().all(|(n, c)| other.get(n.as_str()) == Some(c))
    }
}

impl Eq for RuleCounters {}

impl fmt::Debug for RuleCounters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.sorted()).finish()
    }
}

// The same JSON as the map by rule name it replaced.
impl Serialize for RuleCounters {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.sorted())
    }
}

impl<'de> Deserialize<'de> for RuleCounters {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<Label, RuleCounter>::deserialize(d)?;
        Ok(RuleCounters {
            entries: map.into_iter().collect(),
            slots: Vec::new(),
            layout: None,
            touched: u64::MAX,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(of: &[&str]) -> Arc<[Label]> {
        of.iter().map(|&n| Label::from(n)).collect()
    }

    fn bump(c: &mut RuleCounters, position: usize, name: &str, points: u64) {
        if let Some(counter) = c.at_mut(position, &Label::from(name)) {
            counter.count += 1;
            counter.points += points;
        }
    }

    fn day(n: i32) -> LocalDay {
        LocalDay::from_number(n)
    }

    proptest::proptest! {
        #[test]
        fn adding_a_day_keeps_and_forgets_as_a_map_of_days_would(
            steps in proptest::collection::vec((-3i32..4, 0u64..5), 0..40),
        ) {
            // The model: a map of days, trimmed to the horizon behind a day
            // that became the newest.
            let mut model = BTreeMap::<i32, (u32, u64)>::new();
            let mut t = Tallies::default();
            let mut at = 100;
            for (step, points) in steps {
                at += step;
                let newest = model.keys().next_back().copied();
                let tally = model.entry(at).or_default();
                *tally = (tally.0 + 1, tally.1 + points);
                let mut expected = None;
                if newest.is_none_or(|n| at > n) {
                    let oldest = at - (DAILY_TALLY_DAYS - 1);
                    if model.keys().next().is_some_and(|&k| k < oldest) {
                        model.retain(|&k, _| k >= oldest);
                        expected = Some(day(oldest));
                    }
                }
                proptest::prop_assert_eq!(t.add_awards_on_day(day(at), points, 1), expected);
                let kept: Vec<(i32, (u32, u64))> =
                    t.iter().map(|(d, x)| (d.number(), (x.count, x.points))).collect();
                let wanted: Vec<(i32, (u32, u64))> = model.iter().map(|(&k, &v)| (k, v)).collect();
                proptest::prop_assert_eq!(kept, wanted);
            }
        }
    }

    #[test]
    fn tallies_stay_in_order_and_forget_what_falls_behind() {
        let mut t = Tallies::default();
        for (n, points) in [(10, 1), (12, 2), (11, 3), (12, 4), (9, 5)] {
            t.add_awards(day(n), points, 1);
        }
        let kept: Vec<(i32, u32, u64)> = t
            .iter()
            .map(|(d, x)| (d.number(), x.count, x.points))
            .collect();
        assert_eq!(kept, [(9, 1, 5), (10, 1, 1), (11, 1, 3), (12, 2, 6)]);
        assert_eq!(t.get(day(8)), None);
        assert_eq!(t.tally(day(13)), DayTally::default());
        // Emptied tallies are dropped; unknown ones are left alone.
        t.remove(day(10), 1, 1);
        t.remove(day(7), 1, 1);
        assert_eq!(t.len(), 3);
        assert_eq!(t.forget_old_days(), None);
        t.add_awards(day(9 + DAILY_TALLY_DAYS), 1, 1);
        assert_eq!(t.forget_old_days(), Some(day(10)));
        assert_eq!(t.iter().next().map(|(d, _)| d), Some(day(11)));
        // The JSON is a map by date, as the BTreeMap it replaced wrote.
        let json = serde_json::to_string(&t).unwrap_or_default();
        let map: BTreeMap<LocalDay, DayTally> = serde_json::from_str(&json).unwrap_or_default();
        assert_eq!(map.len(), t.len());
        assert_eq!(serde_json::to_string(&map).unwrap_or_default(), json);
        let back: Tallies = serde_json::from_str(&json).unwrap_or_default();
        assert_eq!(back, t);
    }

    #[test]
    fn clear_empties_every_counter_however_it_was_changed() {
        // More rules than the touched bits, used through positions and
        // names, and counters read back from JSON.
        let owned: Vec<String> = (0..70).map(|i| format!("rule{i}")).collect();
        let all: Vec<&str> = owned.iter().map(String::as_str).collect();
        let mut c = RuleCounters::default();
        c.adopt(&names(&all));
        for (i, name) in all.iter().enumerate() {
            bump(&mut c, i, name, 5);
        }
        c.clear();
        assert_eq!(c, RuleCounters::default());
        for name in [all[3], all[66]] {
            if let Some(counter) = c.get_mut(name) {
                counter.matched = 2;
            }
        }
        assert_ne!(c, RuleCounters::default());
        c.clear();
        assert_eq!(c, RuleCounters::default());
        bump(&mut c, 9, all[9], 1);
        let json = serde_json::to_string(&c).unwrap_or_default();
        let mut back: RuleCounters = serde_json::from_str(&json).unwrap_or_default();
        assert_ne!(back, RuleCounters::default());
        back.clear();
        assert_eq!(back, RuleCounters::default());
    }

    #[test]
    fn the_empty_counter_is_the_default_one() {
        assert_eq!(RuleCounter::EMPTY, RuleCounter::default());
        assert_eq!(Tallies::EMPTY, Tallies::default());
    }

    #[test]
    fn one_period_or_many_is_the_same_tallies() {
        use std::hash::{BuildHasher, RandomState};
        let mut one = Tallies::default();
        one.add_awards(day(5), 2, 1);
        assert!(matches!(one.0, Repr::One(Some(_))));
        let mut many = Tallies::default();
        many.add_awards(day(4), 1, 1);
        many.add_awards(day(5), 2, 1);
        assert!(matches!(many.0, Repr::Many(_)));
        assert_ne!(one, many);
        many.keep_from(day(5));
        assert_eq!(one, many);
        let hasher = RandomState::new();
        assert_eq!(hasher.hash_one(&one), hasher.hash_one(&many));
        assert_eq!(format!("{one:?}"), format!("{many:?}"));
        let json = serde_json::to_string(&many).unwrap_or_default();
        assert_eq!(serde_json::to_string(&one).unwrap_or_default(), json);
        // A single kept period stays off the heap; emptied, it stays too.
        one.set_day(
            day(5),
            DayTally {
                count: 1,
                points: 9,
            },
        );
        one.remove(day(6), 9, 1);
        assert_eq!(one.get(day(5)).map(|t| t.points), Some(9));
        one.remove(day(5), 9, 1);
        // Emptied, the newest (here the only) period stays as the mark.
        assert_eq!(one.get(day(5)), Some(DayTally::default()));
        let mut two = Tallies::default();
        two.add_awards(day(4), 3, 1);
        two.add_awards(day(5), 2, 1);
        two.remove(day(4), 3, 1);
        two.remove(day(5), 2, 1);
        assert_eq!(
            two.iter().collect::<Vec<_>>(),
            [(day(5), DayTally::default())]
        );
        let mut one = Tallies::default();
        one.add_awards(day(3), 1, 1);
        one.keep_from(day(4));
        assert!(one.is_empty());
    }

    #[test]
    fn emptied_counters_are_as_good_as_none_and_keep_their_room() {
        let mut c = RuleCounters::default();
        c.adopt(&names(&["a", "b"]));
        for (position, name) in ["a", "b"].into_iter().enumerate() {
            if let Some(counter) = c.at_mut(position, &Label::from(name)) {
                counter.count = 3;
                counter.points = 30;
                counter.matched = 4;
                counter.last_award_at = Some(DateTime::<Utc>::UNIX_EPOCH);
                for n in 0..3 {
                    counter.days.add_awards(day(n), 10, 1);
                    counter.weeks.add_awards(day(7 * n), 10, 1);
                    counter.months.add_awards(day(30 * n), 10, 1);
                }
            }
        }
        c.clear();
        assert_eq!(c, RuleCounters::default());
        assert_eq!(format!("{c:?}"), "{}");
        assert_eq!(c.get("a"), None);
        assert_eq!(c.at(0, "a"), Some(&RuleCounter::EMPTY));
        assert_eq!(serde_json::to_string(&c).unwrap_or_default(), "{}");
        // The emptied counter keeps its tally buffer.
        let b = Label::from("b");
        assert!(
            c.at_mut(1, &b)
                .is_some_and(|k| matches!(&k.days.0, Repr::Many(v) if v.capacity() >= 3))
        );
        // Counting again gives what a fresh set of counters would.
        let mut fresh = RuleCounters::default();
        for counters in [&mut c, &mut fresh] {
            bump(counters, 0, "a", 7);
            if let Some(k) = counters.at_mut(1, &b) {
                k.days.add_awards(day(9), 1, 1);
            }
        }
        assert_eq!(c, fresh);
        assert_eq!(
            serde_json::to_string(&c).unwrap_or_default(),
            serde_json::to_string(&fresh).unwrap_or_default()
        );
    }

    #[test]
    fn positions_follow_whichever_program_is_adopted() {
        let mut c = RuleCounters::default();
        let first = names(&["a", "b", "c"]);
        c.adopt(&first);
        bump(&mut c, 2, "c", 5);
        bump(&mut c, 0, "a", 1);
        bump(&mut c, 2, "c", 5);
        assert_eq!(c.at(2, "c").map(|k| (k.count, k.points)), Some((2, 10)));
        assert_eq!(c.at(1, "b"), None);
        // A program that reorders, drops and adds rules finds the same
        // counters by name, and the dropped rule's counter is kept.
        let second = names(&["d", "c", "b"]);
        c.adopt(&second);
        assert_eq!(c.at(1, "c").map(|k| k.points), Some(10));
        assert_eq!(c.at(0, "d"), None);
        bump(&mut c, 0, "d", 7);
        assert_eq!(c.get("d").map(|k| k.points), Some(7));
        c.adopt(&first);
        assert_eq!(c.at(0, "a").map(|k| k.points), Some(1));
        assert_eq!(c.at(2, "c").map(|k| k.points), Some(10));
        // With no program adopted, positions are ignored and names decide.
        let mut plain = c.clone();
        plain.slots.clear();
        plain.layout = None;
        assert_eq!(plain.at(0, "c").map(|k| k.points), Some(10));
        bump(&mut plain, 9, "e", 3);
        assert_eq!(plain.get("e").map(|k| k.points), Some(3));
    }

    #[test]
    fn equality_and_json_ignore_the_order_counters_were_made_in() {
        let program = names(&["a", "b"]);
        let (mut x, mut y) = (RuleCounters::default(), RuleCounters::default());
        x.adopt(&program);
        bump(&mut x, 0, "a", 1);
        bump(&mut x, 1, "b", 2);
        bump(&mut y, 1, "b", 2);
        bump(&mut y, 0, "a", 1);
        assert_eq!(x, y);
        let json = serde_json::to_string(&x).unwrap_or_default();
        assert_eq!(serde_json::to_string(&y).unwrap_or_default(), json);
        // The JSON is the map by rule name this type replaced.
        let map: BTreeMap<Label, RuleCounter> = serde_json::from_str(&json).unwrap_or_default();
        assert_eq!(serde_json::to_string(&map).unwrap_or_default(), json);
        let back: RuleCounters = serde_json::from_str(&json).unwrap_or_default();
        assert_eq!(back, x);
        bump(&mut y, 0, "a", 1);
        assert_ne!(x, y);
    }
}
