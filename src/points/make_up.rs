//! Making up awards a cap cut, once a reversal gives the cap's room back.
//!
//! A reversal takes an award's points out of its rule's tallies (and the
//! program's global daily tally), so an award made *after* the reversal
//! finds the room. An award made *before* it, in the same period, was cut
//! by a cap that the reversed award helped fill: without a make-up, what
//! it earned would depend on whether it came before or after the reversal
//! (the bug Stack Overflow long had with its daily reputation cap). So
//! [`Program::reverse`] goes through the awards a cap cut that the ledger
//! remembers ([`Ledger::cut_awards`]), oldest first, and gives each what
//! the room now allows.

use super::PointsError;
use super::ledger::{CutAward, DayTally, Ledger, Lot, Periods, RuleCounter, too_old};
use super::limits::{month_of, week_of};
use super::program::Program;
use super::reversal::{Reversal, Unreversed};
use super::statement::{Entry, EntryKind};
use crate::event::Label;
use crate::id::EventId;
use crate::time::LocalDay;
use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

/// Points a reversal made up for an award that a cap had cut.
///
/// Each award a cap cut is judged again, oldest first, as if it were made
/// now at its own time: against the tallies of its day, week, month and
/// lifetime (and the program's global daily tally) as they are after the
/// reversal, less its own share of them, with its rule's caps and cap mode
/// as the program states them now. What that comes to beyond what it was
/// awarded is credited as a lot of its own, with the award's event, rule,
/// pending period and expiry, and counted in the tallies, so a later
/// reversal of the same event takes it back too. An award refused whole
/// (a count cap, or a `reject` cap) that now fits counts as an award.
///
/// The claim judged is the award's own, as it was made: what it came to
/// before its caps ([`CutAward::wanted`]), the multiplier of the tier the
/// member held then included, even if the reversal revokes that tier (an
/// award a cap left whole at that tier keeps its multiplied points too: a
/// tier's revocation re-prices no award). An account counts the made-up
/// points towards a points tier, which they may lift again; the
/// reversal's [`AccountReversal::tier`](super::AccountReversal::tier)
/// is the tier as it leaves it.
///
/// A share of the event reversed before the make-up shrinks its claim by
/// that part of the whole, and the made-up points are that large a part
/// of the event: a later share takes its part of what is left of both
/// (see [`Reversal`]), so shares that add up to the whole take all of it.
///
/// What is not redone: an award made in the meantime (in full or
/// trimmed) is never cut back, so under `reject` caps a later award that
/// fitted only because an earlier one was refused keeps its points, and
/// the earlier one may still not fit. Likewise where rules share the
/// program's global daily cap and it, or a rule's cap, counts awards: an
/// award is made up from the shared cap's room as the awards of other
/// rules made since have left it, which can be less than it would have
/// found had the reversal come first, so what each award, or even the
/// member's total, comes to can depend on the order. Cooldowns,
/// first-time and every-nth conditions and exclusive groups are not
/// judged again, nor is the tier's multiplier. An award whose day is
/// older than the tallies kept ([`DAILY_TALLY_DAYS`](super::DAILY_TALLY_DAYS)) is not
/// made up: its cap's room can no longer be told. The ledger remembers as
/// many cut awards as [`LedgerPolicy::reversible_awards`](super::LedgerPolicy::reversible_awards),
/// and forgets one once it is made up in full.
///
/// ```
/// use chrono::{TimeDelta, TimeZone, Utc};
/// use growthkit::points::{Portion, ProgramSpec};
/// use growthkit::{Event, EventId, EventKind, UserId};
///
/// // One helpful answer a day earns points.
/// let program = serde_json::from_str::<ProgramSpec>(r#"{
///     "rules": [{ "name": "answer", "on": "custom:answer_accepted",
///                 "reward": { "type": "fixed", "points": 15 },
///                 "daily_cap": { "count": 1 } }]
/// }"#)?.validate()?;
/// let answer = EventKind::Custom { name: "answer_accepted".into() };
/// let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 1, 0, 0).unwrap();
/// let mut ledger = program.new_ledger();
/// for (id, minutes) in [(1, 0), (2, 30)] {
///     let at = t0 + TimeDelta::minutes(minutes);
///     program.apply(&mut ledger, &Event::new(EventId(id), UserId(7), at, answer.clone()))?;
/// }
/// assert_eq!(ledger.earned(), 15); // the second answer was capped
///
/// // The first answer is withdrawn: the second one gets its points after all.
/// let later = t0 + TimeDelta::hours(2);
/// let undone = program.reverse(&mut ledger, "withdrawn-1".into(), EventId(1), Portion::Whole {}, later)?;
/// assert_eq!(undone.made_up[0].source, EventId(2));
/// assert_eq!(undone.made_up[0].points, 15);
/// assert_eq!(ledger.balance(later), 15);
/// ledger.check()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct MadeUp {
    /// The award's rule.
    pub rule: Label,
    /// The award's event.
    pub source: EventId,
    /// When the award was earned.
    pub earned_at: DateTime<Utc>,
    /// Points made up.
    pub points: u64,
    /// Whether the award had been refused whole and now counts as an award.
    pub counted: bool,
}

impl<Tz: TimeZone> Program<Tz> {
    /// Makes up the awards a cap cut that `ledger`, just reversed, has room
    /// for now (see [`MadeUp`]), adding them and their statement entries to
    /// `reversal`.
    pub(crate) fn make_up(
        &self,
        ledger: &mut Ledger,
        reversal: &mut Reversal,
    ) -> Result<(), PointsError> {
        if reversal.points == 0 {
            // No room came back.
            return Ok(());
        }
        ledger.counters.adopt(&self.plan.names);
        for i in 0..ledger.cut.len() {
            let Some(cut) = ledger.cut.get(i).cloned() else {
                break;
            };
            if let Some((made, position)) = self.make_up_one(ledger, &cut)? {
                let made_of = (&made, position, cut.unreversed);
                let entries = self.credit_made_up(ledger, made_of, reversal)?;
                reversal.entries.extend(entries);
                if let Some(c) = ledger.cut.get_mut(i) {
                    c.awarded = c.awarded.saturating_add(made.points);
                }
                reversal.made_up.push(made);
            }
        }
        // Awards now made up whole are cut no more.
        ledger.cut.retain(|c| c.wanted > c.awarded);
        Ok(())
    }

    /// What the room now allows `cut` beyond what it was awarded, counted
    /// in its rule's tallies and the global one, and the rule's position in
    /// the program; `None` if nothing.
    fn make_up_one(
        &self,
        ledger: &mut Ledger,
        cut: &CutAward,
    ) -> Result<Option<(MadeUp, usize)>, PointsError> {
        let Some(position) = self.position_of(&cut.rule) else {
            // The rule left the program.
            return Ok(None);
        };
        let (Some(rule), Some(plan)) =
            (self.spec.rules.get(position), self.plan.rules.get(position))
        else {
            return Ok(None);
        };
        let day = LocalDay::of(cut.earned_at, &self.zone);
        let periods = plan
            .tallied
            .periods(day, Some(week_of(day)), Some(month_of(day)));
        let counts_global = self.counts_global(rule);
        let counter = ledger.counters.get(rule.name.as_str());
        let empty = RuleCounter::EMPTY;
        let counter = counter.unwrap_or(&empty);
        // As in the earning step, only the tallies of a rule that keeps
        // them can be too old: without period caps, its caps' room is known.
        let rule_too_old = plan.tallied.days && counter.too_old(day);
        if rule_too_old || (counts_global && too_old(&ledger.global_days, day)) {
            return Ok(None);
        }
        // Judged as if made now, whole: its own share of the tallies first
        // taken out (one award, if it was awarded anything, and its points).
        let own = u32::from(cut.awarded > 0);
        let less = |mut t: DayTally| {
            t.remove(cut.awarded, own);
            t
        };
        let global = counts_global.then(|| ledger.global_days.tally(day));
        let used = |period| less(counter.used(period, &periods));
        let (points, _) = self.caps(rule, cut.wanted, used, global.map(less));
        let more = points.saturating_sub(cut.awarded);
        if more == 0 {
            return Ok(None);
        }
        let counted = cut.awarded == 0;
        let awards = u32::from(counted);
        counter.lifetime().plus(more).ok_or(PointsError::Overflow)?;
        let global = global
            .map(|t| t.plus_awards(more, awards).ok_or(PointsError::Overflow))
            .transpose()?;
        if let Some(counter) = ledger.counters.at_mut(position, &rule.name) {
            let periods = Periods {
                last_award: counted && periods.last_award,
                ..periods
            };
            counter.record_awards(periods, cut.earned_at, more, awards);
        }
        if let Some(tally) = global {
            ledger.record_global(day, tally);
        }
        let made = MadeUp {
            rule: rule.name.clone(),
            source: cut.source,
            earned_at: cut.earned_at,
            points: more,
            counted,
        };
        Ok(Some((made, position)))
    }

    /// Credits `made`, of the rule at `position`, as a lot of its award's
    /// own (its pending period and expiry), paying debt first, remembered
    /// as a part of its event as large as what reversals left of it,
    /// `unreversed` (so a later share takes its part of these points as of
    /// the award's own); the statement entries, dated at the reversal.
    fn credit_made_up(
        &self,
        ledger: &mut Ledger,
        (made, position, unreversed): (&MadeUp, usize, Unreversed),
        reversal: &Reversal,
    ) -> Result<Vec<Entry>, PointsError> {
        let (rule, plan) = (self.spec.rules.get(position), self.plan.rules.get(position));
        let (Some(rule), Some(plan)) = (rule, plan) else {
            return Err(PointsError::Inconsistent {
                what: "a made-up award's rule is not at its position",
            });
        };
        let available_from = rule
            .available_from(made.earned_at)
            .ok_or(PointsError::Overflow)?;
        let lot = Lot {
            id: 0,
            source: made.source,
            rule: made.rule.clone(),
            earned_at: made.earned_at,
            available_from,
            expires_at: plan.expiry.expires_at(made.earned_at, &self.zone)?,
            remaining: made.points,
            held: 0,
            counted_global: self.counts_global(rule),
        };
        let shown = EntryKind::MadeUp {
            rule: made.rule.clone(),
            source: made.source,
            key: reversal.key.clone(),
        };
        let (id, entries) = ledger.credit_one(lot, (reversal.at, shown), &self.spec.ledger)?;
        // If the award counted already, a reversal of these points gives
        // back points, not its count.
        ledger.mark_made_up(id, !made.counted, unreversed);
        Ok(entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::points::fixtures::*;
    use crate::points::{Portion, Reversal};
    use chrono::TimeDelta;

    /// A visit earns 10 points, once a day.
    fn one_visit_a_day() -> Program {
        program(
            r#"{ "rules": [{ "name": "visit", "on": "visited",
                 "reward": { "type": "fixed", "points": 10 }, "daily_cap": { "count": 1 } }] }"#,
        )
    }

    fn undo(p: &Program, l: &mut Ledger, id: u64, at: DateTime<Utc>) -> Reversal {
        let key = format!("undo-{id}").into();
        p.reverse(l, key, EventId(id), Portion::Whole {}, at)
            .unwrap_or_else(|e| unreachable!("{e}"))
    }

    fn balance_after(p: &Program, steps: &[Result<crate::Event, u64>]) -> (Ledger, i128) {
        let mut l = p.new_ledger();
        for (n, step) in steps.iter().enumerate() {
            match step {
                Ok(event) => earn(p, &mut l, std::slice::from_ref(event)),
                Err(id) => {
                    undo(p, &mut l, *id, t(100 + n as i64));
                }
            }
        }
        assert_conserved(&l, t(200));
        let balance = l.balance(t(200));
        (l, balance)
    }

    #[test]
    fn a_capped_award_is_made_up_whether_it_came_before_or_after_the_reversal() {
        // One visit a day earns; the first is reversed.
        let p = one_visit_a_day();
        let (first, second) = (visit(1, t(0)), visit(2, t(2)));
        let (after, a) = balance_after(&p, &[Ok(first.clone()), Ok(second.clone()), Err(1)]);
        let (_, b) = balance_after(&p, &[Ok(first), Err(1), Ok(second)]);
        assert_eq!((a, b), (10, 10));
        // The made-up award counts as the day's award: a third visit is capped.
        let mut l = after;
        let third = p.apply(&mut l, &visit(3, t(5))).unwrap_or_default();
        assert_eq!(third.total, 0);
        assert_eq!(
            l.counter("visit")
                .map(|c| c.day(LocalDay::of(t(0), p.zone())).count),
            Some(1)
        );
    }

    #[test]
    fn reversing_a_made_up_award_gives_back_one_award_count() {
        // ¥100 a day, three purchases a week: a purchase trimmed by the day's
        // points, made up when another is refunded, then refunded itself,
        // is one award, not two.
        let caps = r#""daily_cap": { "points": 100 }, "weekly_cap": { "count": 3 },"#;
        let p = shop(1, caps, r#"{ "reversible_awards": 16 }"#);
        let monday = |minutes| day(1) + TimeDelta::minutes(minutes);
        let mut l = p.new_ledger();
        earn(
            &p,
            &mut l,
            &[
                purchase(1, 10, monday(0)),
                purchase(2, 60, monday(1)),
                purchase(3, 60, monday(2)),
            ],
        );
        assert_eq!(l.earned(), 100); // 10 + 60 + 30
        let r = undo(&p, &mut l, 2, monday(10));
        assert_eq!(r.made_up.iter().map(|m| m.points).sum::<u64>(), 30);
        let r = undo(&p, &mut l, 3, monday(20));
        assert_eq!(r.points, 60);
        assert_eq!(
            r.awards
                .iter()
                .map(|a| a.wholly_reversed)
                .collect::<Vec<_>>(),
            [true, false]
        );
        // Only the first purchase still counts this week.
        let week = l
            .counter("buy")
            .map(|c| c.week(LocalDay::of(monday(0), p.zone())));
        assert_eq!(week.map(|w| (w.count, w.points)), Some((1, 10)));
        // So two more purchases earn this week, not three.
        let tuesday = day(2);
        let before = l.earned();
        earn(
            &p,
            &mut l,
            &[
                purchase(4, 10, tuesday),
                purchase(5, 10, tuesday + TimeDelta::minutes(1)),
                purchase(6, 10, tuesday + TimeDelta::minutes(2)),
            ],
        );
        assert_eq!(l.earned() - before, 20);
        assert_conserved(&l, day(3));
    }

    #[test]
    fn trimmed_awards_are_made_up_oldest_first_as_far_as_the_room_goes() {
        let p = shop(1, r#""daily_cap": { "points": 100 },"#, "{}");
        let buys = [
            purchase(1, 80, t(0)),
            purchase(2, 50, t(1)),
            purchase(3, 50, t(2)),
        ];
        let mut l = p.new_ledger();
        earn(&p, &mut l, &buys);
        assert_eq!(l.earned(), 100); // 80 + 20 + 0
        assert_eq!(l.cut_awards().len(), 2);
        let r = undo(&p, &mut l, 1, t(10));
        let made: Vec<(EventId, u64, bool)> = r
            .made_up
            .iter()
            .map(|m| (m.source, m.points, m.counted))
            .collect();
        assert_eq!(made, [(EventId(2), 30, false), (EventId(3), 50, true)]);
        assert_eq!(l.balance(t(10)), 100);
        // Both are whole now: nothing is left to make up.
        assert_eq!(l.cut_awards().len(), 0);
        // As if the first purchase had never been made.
        let (_, never) = balance_after(&p, &[Ok(buys[1].clone()), Ok(buys[2].clone())]);
        assert_eq!(never, 100);
        assert_conserved(&l, t(10));
    }

    #[test]
    fn a_rejected_award_is_made_up_whole_once_it_fits() {
        let p = shop(
            1,
            r#""daily_cap": { "points": 100 }, "cap_mode": "reject","#,
            "{}",
        );
        let mut l = p.new_ledger();
        earn(
            &p,
            &mut l,
            &[
                purchase(1, 60, t(0)),
                purchase(2, 50, t(1)),
                purchase(3, 40, t(2)),
            ],
        );
        assert_eq!(l.earned(), 100); // 60 + 0 + 40
        let r = undo(&p, &mut l, 1, t(10));
        assert_eq!(r.made_up.len(), 1);
        assert_eq!((r.made_up[0].source, r.made_up[0].points), (EventId(2), 50));
        assert_eq!(l.balance(t(10)), 90);
    }

    #[test]
    fn room_on_another_day_makes_nothing_up() {
        let p = one_visit_a_day();
        let mut l = p.new_ledger();
        earn(
            &p,
            &mut l,
            &[
                visit(1, day(0)),
                visit(2, day(1)),
                visit(3, day(1) + TimeDelta::minutes(1)),
            ],
        );
        let r = undo(&p, &mut l, 1, day(2));
        assert!(r.made_up.is_empty());
        assert_eq!(
            l.cut_awards().len(),
            1,
            "the second day's capped visit waits"
        );
        let r = undo(&p, &mut l, 2, day(2));
        assert_eq!(r.made_up.len(), 1);
        assert_eq!(r.made_up[0].source, EventId(3));
    }

    #[test]
    fn the_global_daily_cap_gives_its_room_to_other_rules() {
        let p = program(
            r#"{ "global_daily_cap": { "points": 200 }, "rules": [
                 { "name": "visit", "on": "visited", "reward": { "type": "fixed", "points": 150 } },
                 { "name": "buy", "on": "purchase",
                   "reward": { "type": "fixed", "points": 100 } } ] }"#,
        );
        let mut l = p.new_ledger();
        earn(&p, &mut l, &[visit(1, t(0)), purchase(2, 1, t(1))]);
        assert_eq!(l.earned(), 200); // 150 + 50
        let r = undo(&p, &mut l, 1, t(10));
        assert_eq!(r.made_up.len(), 1);
        assert_eq!(
            (r.made_up[0].rule.as_str(), r.made_up[0].points),
            ("buy", 50)
        );
        assert_eq!(l.global_day(LocalDay::of(t(0), p.zone())).points, 100);
    }

    #[test]
    fn a_repeated_reversal_makes_nothing_up_again_and_a_later_one_takes_it_back() {
        let p = shop(1, r#""daily_cap": { "points": 100 },"#, "{}");
        let mut l = p.new_ledger();
        earn(&p, &mut l, &[purchase(1, 80, t(0)), purchase(2, 50, t(1))]);
        let first = undo(&p, &mut l, 1, t(10));
        let before = l.clone();
        let again = undo(&p, &mut l, 1, t(11));
        assert!(again.repeated);
        assert_eq!(again.made_up, first.made_up);
        assert_eq!(l, before);
        // The statement says why the points came.
        let shown = l
            .statement()
            .last()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            shown.ends_with("+30 buy (event#2), cap room given back by undo-1"),
            "{shown}"
        );
        // Reversing the second purchase takes back its award and what was made up.
        let second = undo(&p, &mut l, 2, t(12));
        assert_eq!(second.points, 50);
        assert_eq!(l.balance(t(12)), 0);
        assert_conserved(&l, t(12));
    }

    #[test]
    fn made_up_points_pay_debt_first() {
        let p = shop(
            1,
            r#""daily_cap": { "points": 100 },"#,
            r#"{ "clawback": "debt" }"#,
        );
        let mut l = p.new_ledger();
        earn(&p, &mut l, &[purchase(1, 80, t(0)), purchase(2, 50, t(1))]);
        l.redeem("order".into(), 100, t(2))
            .map(|r| r.to_redemption())
            .unwrap_or_else(|e| unreachable!("{e}"));
        let r = undo(&p, &mut l, 1, t(10));
        // 80 owed, then 30 made up pay 30 of it.
        assert_eq!(r.owed, 80);
        assert_eq!(r.made_up[0].points, 30);
        assert_eq!(l.owed(), 50);
        assert_eq!(l.balance(t(10)), -50);
        assert_conserved(&l, t(10));
    }

    #[test]
    fn an_award_made_since_keeps_the_shared_room_a_made_up_one_would_have_had() {
        // The limit the docs state: 20 points a day over both rules, one
        // purchase a day. A ¥5 purchase earns 5, a ¥15 one is refused by
        // the count, a visit earns 15 of the shared room; reversing the
        // first purchase makes up only the 5 the visit left.
        let p = program(
            r#"{ "global_daily_cap": { "points": 20 }, "rules": [
                 { "name": "visit", "on": "visited", "reward": { "type": "fixed", "points": 15 } },
                 { "name": "buy", "on": "purchase", "daily_cap": { "count": 1 },
                   "reward": { "type": "per_amount", "points": 1, "per_minor": 100, "rounding": "down" } } ] }"#,
        );
        let (first, second, third) = (purchase(1, 5, t(0)), purchase(2, 15, t(1)), visit(3, t(2)));
        let mut l = p.new_ledger();
        earn(&p, &mut l, &[first.clone(), second.clone(), third.clone()]);
        let r = undo(&p, &mut l, 1, t(3));
        let made: Vec<(EventId, u64)> = r.made_up.iter().map(|m| (m.source, m.points)).collect();
        assert_eq!(made, [(EventId(2), 5)]);
        assert_eq!(l.balance(t(3)), 20);
        // Reversed first, the second purchase earns its 15 and the visit 5:
        // the same total, shared the other way.
        let mut l = p.new_ledger();
        earn(&p, &mut l, &[first]);
        undo(&p, &mut l, 1, t(0));
        let second = p.apply(&mut l, &second).map(|e| e.total);
        let third = p.apply(&mut l, &third).map(|e| e.total);
        assert_eq!((second, third), (Ok(15), Ok(5)));
        assert_conserved(&l, t(3));
    }

    #[test]
    fn a_reversed_award_is_owed_nothing_more() {
        let p = one_visit_a_day();
        let mut l = p.new_ledger();
        earn(&p, &mut l, &[visit(1, t(0)), visit(2, t(1))]);
        // The refused visit is reversed: it earned nothing, but its claim goes.
        let refused = undo(&p, &mut l, 2, t(2));
        assert_eq!((refused.points, l.cut_awards().len()), (0, 0));
        let first = undo(&p, &mut l, 1, t(3));
        assert!(first.made_up.is_empty());
        assert_eq!(l.balance(t(3)), 0);
        // A share of a trimmed award shrinks what it may be made up to: half
        // of a ¥50 purchase trimmed to 20 points is a ¥25 one, which the
        // room left (20) would have trimmed to 20 as well, so the 10 points
        // reversed are made up at once.
        let p = shop(1, r#""daily_cap": { "points": 100 },"#, "{}");
        let mut l = p.new_ledger();
        earn(&p, &mut l, &[purchase(1, 80, t(0)), purchase(2, 50, t(1))]);
        let half = share(1, 2);
        let r = p.reverse(&mut l, "half-2".into(), EventId(2), half, t(2));
        let made = r.map(|r| (r.points, r.made_up.iter().map(|m| m.points).sum::<u64>()));
        assert_eq!(made, Ok((10, 10)));
        let cut: Vec<(u64, u64)> = l.cut_awards().map(|c| (c.wanted, c.awarded)).collect();
        assert_eq!(cut, [(25, 20)]);
        // Without the first purchase, the ¥25 earns its 25.
        let r = undo(&p, &mut l, 1, t(3));
        assert_eq!(r.made_up.iter().map(|m| m.points).sum::<u64>(), 5);
        assert_eq!(l.balance(t(3)), 25);
        assert_conserved(&l, t(3));
    }

    #[test]
    fn shares_of_a_trimmed_award_with_make_ups_between_reverse_all_of_it() {
        // A ¥50 purchase trimmed to 20 by ¥100 a day; half of it refunded
        // (10 back, 10 made up at once), the first purchase refunded (5
        // more made up: the ¥25 left earns its 25), then the other half.
        let p = shop(1, r#""daily_cap": { "points": 100 },"#, "{}");
        let mut l = p.new_ledger();
        earn(&p, &mut l, &[purchase(1, 80, t(0)), purchase(2, 50, t(1))]);
        let half = share(1, 2);
        let first = p.reverse(&mut l, "half-2".into(), EventId(2), half, t(2));
        assert_eq!(first.map(|r| r.points), Ok(10));
        undo(&p, &mut l, 1, t(3));
        assert_eq!(l.balance(t(3)), 25);
        // The other half is all that is left of the purchase: its own
        // award's 10 and the 15 made up for it (which the first half had
        // already halved), not half of each (17, leaving 8).
        let second = p.reverse(&mut l, "half-2b".into(), EventId(2), half, t(4));
        let parts = second.map(|r| (r.points, r.awards.iter().map(|a| a.points).collect()));
        assert_eq!(parts, Ok((25, vec![10, 10, 5])));
        assert_eq!(l.balance(t(4)), 0);
        assert!(l.earnings().all(|e| e.reversed == e.points));
        assert_eq!(l.cut_awards().len(), 0);
        // The purchase is wholly reversed, as one whole reversal would leave it.
        let again = p.reverse(&mut l, "more".into(), EventId(2), half, t(5));
        assert_eq!(
            again.map(|_| ()),
            Err(PointsError::AlreadyReversed { id: EventId(2) })
        );
        assert_conserved(&l, t(5));
    }

    #[test]
    fn shares_of_a_refused_award_shrink_its_claim_by_parts_of_the_whole() {
        // One visit a day earns; a third of the second (refused) goes,
        // then the other two thirds: nothing is left to make up, as after
        // a whole reversal (not two thirds of what the first third left).
        let p = program(
            r#"{ "rules": [{ "name": "visit", "on": "visited",
                 "reward": { "type": "fixed", "points": 10 }, "daily_cap": { "count": 1 } }] }"#,
        );
        let mut l = p.new_ledger();
        earn(&p, &mut l, &[visit(1, t(0)), visit(2, t(1))]);
        let third = share(1, 3);
        let two_thirds = share(2, 3);
        assert!(
            p.reverse(&mut l, "a".into(), EventId(2), third, t(2))
                .is_ok()
        );
        let cut: Vec<(u64, u64)> = l.cut_awards().map(|c| (c.wanted, c.awarded)).collect();
        assert_eq!(cut, [(7, 0)]); // 10 less a third, rounded down
        assert!(
            p.reverse(&mut l, "b".into(), EventId(2), two_thirds, t(3))
                .is_ok()
        );
        assert_eq!(l.cut_awards().len(), 0);
        assert!(undo(&p, &mut l, 1, t(4)).made_up.is_empty());
        assert_eq!(l.balance(t(4)), 0);
    }

    #[test]
    fn a_ledger_reversed_without_its_program_makes_nothing_up() {
        let p = shop(1, r#""daily_cap": { "points": 100 },"#, "{}");
        let mut l = p.new_ledger();
        earn(&p, &mut l, &[purchase(1, 80, t(0)), purchase(2, 50, t(1))]);
        let policy = p.spec().ledger.clawback;
        let r = l
            .reverse(
                "undo".into(),
                EventId(1),
                Portion::Whole {},
                policy,
                p.zone(),
                t(10),
            )
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert!(r.made_up.is_empty());
        assert_eq!(l.cut_awards().len(), 1);
    }

    #[test]
    fn cut_awards_are_remembered_as_far_as_the_reversible_awards() {
        let p = program(
            r#"{ "ledger": { "reversible_awards": 2 }, "rules": [{ "name": "visit", "on": "visited",
                 "reward": { "type": "fixed", "points": 10 }, "daily_cap": { "count": 1 } }] }"#,
        );
        let mut l = p.new_ledger();
        let visits: Vec<_> = (1..=5).map(|i| visit(i, t(i as i64))).collect();
        earn(&p, &mut l, &visits);
        let kept: Vec<EventId> = l.cut_awards().map(|c| c.source).collect();
        assert_eq!(kept, [EventId(4), EventId(5)]);
        let lean = program(
            r#"{ "ledger": { "reversible_awards": 0 }, "rules": [{ "name": "visit", "on": "visited",
                 "reward": { "type": "fixed", "points": 10 }, "daily_cap": { "count": 1 } }] }"#,
        );
        let mut l = lean.new_ledger();
        earn(&lean, &mut l, &visits);
        assert_eq!(l.cut_awards().len(), 0);
    }
}
