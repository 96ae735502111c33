//! The earning step at its edges: every cap period at its boundary (in
//! +08:00 and across daylight-saving changes), cooldown, the global daily
//! cap and its exemptions, exclusivity, counting conditions, multipliers,
//! validation, and giving cap room back.

use crate::event::{Event, EventKind, KindPattern, KindTag};
use crate::id::{EventId, UserId};
use crate::lifecycle::Stage;
use crate::points::earn::{Noted, Noting};
use crate::points::expiry::Memo;
use crate::points::ledger::HandedLot;
use crate::points::*;
use crate::time::LocalDay;
use chrono::{DateTime, TimeDelta, TimeZone, Utc};

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0)
        .single()
        .unwrap_or_default()
}

fn kind(action: &str) -> EventKind {
    EventKind::ActionCompleted {
        action: action.into(),
    }
}

fn ev(id: u64, action: &str, at: DateTime<Utc>) -> Event {
    Event::new(EventId(id), UserId(1), at, kind(action))
}

fn on(action: &str) -> KindPattern {
    KindPattern::Named(KindTag::ActionCompleted, action.into())
}

fn rule(name: &str, action: &str, points: u64) -> RuleSpec {
    RuleSpec::new(name, on(action), Reward::Fixed { points })
}

fn cap(count: Option<u32>, points: Option<u64>) -> Option<Cap> {
    Some(Cap { count, points })
}

fn beijing(rules: Vec<RuleSpec>) -> ProgramSpec {
    let mut s = ProgramSpec::new(rules);
    s.utc_offset = "+08:00".parse().unwrap_or_default();
    s
}

fn program(spec: ProgramSpec) -> Program {
    spec.validate().unwrap_or_else(|e| unreachable!("{e}"))
}

/// The totals of applying `events` in order to a fresh ledger.
fn totals<Tz: chrono::TimeZone>(p: &Program<Tz>, l: &mut Ledger, events: &[Event]) -> Vec<u64> {
    events
        .iter()
        .map(|e| p.apply(l, e).map_or(u64::MAX, |e| e.total))
        .collect()
}

#[test]
fn weekly_cap_at_the_week_boundary_in_beijing() {
    let mut r = rule("lesson", "lesson", 10);
    r.weekly_cap = cap(Some(2), None);
    let p = program(beijing(vec![r]));
    let mut l = Ledger::new();
    // Monday 2026-03-02 00:00 in +08:00 is Sunday 16:00 UTC.
    let monday = utc(2026, 3, 1, 16, 0);
    let sunday_night = monday - TimeDelta::minutes(1);
    let got = totals(
        &p,
        &mut l,
        &[
            ev(1, "lesson", sunday_night - TimeDelta::days(6)),
            ev(2, "lesson", sunday_night),
            // The third in the same week is capped; Monday is a new week.
            ev(3, "lesson", sunday_night),
            ev(4, "lesson", monday),
            ev(5, "lesson", monday + TimeDelta::days(6)),
            ev(6, "lesson", monday + TimeDelta::days(6)),
        ],
    );
    assert_eq!(got, [10, 10, 0, 10, 10, 0]);
    let counter = l.counter("lesson").cloned().unwrap_or_default();
    let day = LocalDay::of(monday, p.zone());
    assert_eq!(counter.week(day).count, 2);
    // Only the weeks the kept days fall in are kept.
    assert!(counter.weeks.len() <= 2);
}

#[test]
fn monthly_cap_at_the_month_boundary_in_beijing_points_exactly() {
    let mut r = rule("lesson", "lesson", 10);
    r.monthly_cap = cap(None, Some(25));
    r.cap_mode = CapMode::Trim;
    let p = program(beijing(vec![r]));
    let mut l = Ledger::new();
    // 1 April 00:00 in +08:00 is 31 March 16:00 UTC.
    let april = utc(2026, 3, 31, 16, 0);
    let e = |id, at| ev(id, "lesson", at);
    let got = totals(
        &p,
        &mut l,
        &[
            e(1, april - TimeDelta::days(3)),
            e(2, april - TimeDelta::minutes(1)),
            // 5 left of 25: trimmed to exactly the cap, then nothing.
            e(3, april - TimeDelta::minutes(1)),
            e(4, april - TimeDelta::minutes(1)),
            e(5, april),
        ],
    );
    assert_eq!(got, [10, 10, 5, 0, 10]);
    let e = p
        .apply(&mut l, &ev(6, "lesson", april - TimeDelta::seconds(1)))
        .unwrap_or_else(|e| unreachable!("{e}"));
    let hit = e.awards.first().and_then(|a| a.capped);
    assert_eq!(hit.map(|h| h.period), Some(CapPeriod::Monthly));
}

#[test]
fn weekly_and_monthly_caps_across_dst_in_new_york() {
    let mut r = rule("lesson", "lesson", 10);
    r.weekly_cap = cap(Some(1), None);
    let p = beijing(vec![r.clone()])
        .validate_in(chrono_tz::America::New_York)
        .unwrap_or_else(|e| unreachable!("{e}"));
    let mut l = Ledger::new();
    // Sunday 2026-03-08 is a 23-hour day: 00:30 EST and 23:30 EDT are both
    // in the week of Monday 2 March; 00:30 EDT on Monday 9 March is not.
    let got = totals(
        &p,
        &mut l,
        &[
            ev(1, "lesson", utc(2026, 3, 8, 5, 30)),
            ev(2, "lesson", utc(2026, 3, 9, 3, 30)),
            ev(3, "lesson", utc(2026, 3, 9, 4, 30)),
        ],
    );
    assert_eq!(got, [10, 0, 10]);

    // Sunday 2026-11-01 is a 25-hour day and the first of the month.
    r.weekly_cap = None;
    r.monthly_cap = cap(Some(1), None);
    let p = beijing(vec![r])
        .validate_in(chrono_tz::America::New_York)
        .unwrap_or_else(|e| unreachable!("{e}"));
    let mut l = Ledger::new();
    let got = totals(
        &p,
        &mut l,
        &[
            // 31 October 23:30 EDT: October.
            ev(1, "lesson", utc(2026, 11, 1, 3, 30)),
            // 1 November 00:30 EDT: November.
            ev(2, "lesson", utc(2026, 11, 1, 4, 30)),
            // 1 November 23:30 EST, 25 hours after midnight: still November.
            ev(3, "lesson", utc(2026, 11, 2, 4, 30)),
        ],
    );
    assert_eq!(got, [10, 10, 0]);
}

#[test]
fn cooldown_ends_exactly_at_the_boundary() {
    let mut r = rule("share", "share", 5);
    r.cooldown_seconds = Some(3600);
    let p = program(beijing(vec![r]));
    let mut l = Ledger::new();
    let t = utc(2026, 3, 1, 1, 0);
    let first = p.apply(&mut l, &ev(1, "share", t)).map(|e| e.total);
    let early = p
        .apply(
            &mut l,
            &ev(
                2,
                "share",
                t + TimeDelta::hours(1) - TimeDelta::milliseconds(1),
            ),
        )
        .unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(first, Ok(5));
    assert_eq!(early.total, 0);
    assert_eq!(
        early.awards.first().and_then(|a| a.cooling_down_until),
        Some(t + TimeDelta::hours(1))
    );
    // A late event before the last award is inside the cooldown too, even
    // one further before it than the cooldown: two late events could
    // otherwise both be awarded, closer together than the cooldown.
    let late = p.apply(&mut l, &ev(3, "share", t - TimeDelta::minutes(5)));
    assert_eq!(late.map(|e| e.total), Ok(0));
    let long_before = p.apply(&mut l, &ev(5, "share", t - TimeDelta::hours(3)));
    assert_eq!(long_before.map(|e| e.total), Ok(0));
    let on_time = p.apply(&mut l, &ev(4, "share", t + TimeDelta::hours(1)));
    assert_eq!(on_time.map(|e| e.total), Ok(5));
}

#[test]
fn global_daily_cap_with_an_exempt_rule() {
    // Stack Overflow: 200 reputation a day from upvotes, accepted answers exempt.
    let upvote = rule("upvote", "upvote", 10);
    let mut accepted = rule("accepted", "accepted", 15);
    accepted.global_cap_exempt = true;
    let mut s = beijing(vec![upvote, accepted]);
    s.global_daily_cap = cap(None, Some(200));
    let p = program(s);
    let mut l = Ledger::new();
    let t = utc(2026, 3, 1, 1, 0);
    let mut got = Vec::new();
    for i in 0..21 {
        got.push(p.apply(&mut l, &ev(i, "upvote", t)).map_or(0, |e| e.total));
    }
    assert_eq!(got.iter().sum::<u64>(), 200);
    assert_eq!(got.last(), Some(&0));
    let e = p
        .apply(&mut l, &ev(99, "accepted", t))
        .unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(e.total, 15);
    assert!(e.awards.iter().all(|a| !a.counted_global));
    let day = LocalDay::of(t, p.zone());
    // The exempt award did not count towards the global tally.
    assert_eq!(
        l.global_day(day),
        DayTally {
            count: 20,
            points: 200
        }
    );
    let capped = p
        .apply(&mut l, &ev(100, "upvote", t))
        .unwrap_or_else(|e| unreachable!("{e}"));
    let hit = capped.awards.first().and_then(|a| a.capped);
    assert_eq!(hit.map(|h| h.period), Some(CapPeriod::GlobalDaily));
    // The next local day has room again.
    let next = p.apply(&mut l, &ev(101, "upvote", t + TimeDelta::days(1)));
    assert_eq!(next.map(|e| e.total), Ok(10));
    assert!(l.check().is_ok());
}

#[test]
fn global_cap_goes_to_higher_priority_rules_first() {
    let low = rule("low", "x", 8);
    let mut high = RuleSpec::new("high", KindPattern::Any, Reward::Fixed { points: 6 });
    high.priority = 5;
    let mut s = beijing(vec![low, high]);
    s.global_daily_cap = cap(None, Some(10));
    let p = program(s);
    let mut l = Ledger::new();
    let e = p
        .apply(&mut l, &ev(1, "x", utc(2026, 3, 1, 1, 0)))
        .unwrap_or_else(|e| unreachable!("{e}"));
    let got: Vec<(&str, u64)> = e
        .awards
        .iter()
        .map(|a| (a.rule.as_str(), a.points))
        .collect();
    assert_eq!(got, [("high", 6), ("low", 4)]);
}

#[test]
fn exclusive_group_awards_only_the_highest_priority_match() {
    let mut double = rule("weekend_lesson", "lesson", 20);
    double.priority = 2;
    double.exclusive_group = Some("lesson".into());
    double.when = vec![Condition::Weekdays {
        any_of: vec![chrono::Weekday::Sat, chrono::Weekday::Sun],
    }];
    let mut plain = rule("lesson", "lesson", 10);
    plain.exclusive_group = Some("lesson".into());
    let other = rule("any_lesson", "lesson", 1);
    let p = program(beijing(vec![plain, double, other]));
    let mut l = Ledger::new();
    // Sunday 1 March 09:00 in +08:00, then Monday.
    let sunday = p
        .apply(&mut l, &ev(1, "lesson", utc(2026, 3, 1, 1, 0)))
        .unwrap_or_else(|e| unreachable!("{e}"));
    let names = |e: &Earned| -> Vec<(String, u64)> {
        e.awards
            .iter()
            .map(|a| (a.rule.to_string(), a.points))
            .collect()
    };
    assert_eq!(
        names(&sunday),
        [("weekend_lesson".into(), 20), ("any_lesson".into(), 1)]
    );
    assert_eq!(
        sunday.skipped,
        [Skipped {
            rule: "lesson".into(),
            reason: SkipReason::Excluded {
                group: "lesson".into(),
                by: "weekend_lesson".into()
            }
        }]
    );
    let monday = p
        .apply(&mut l, &ev(2, "lesson", utc(2026, 3, 2, 1, 0)))
        .unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(
        names(&monday),
        [("lesson".into(), 10), ("any_lesson".into(), 1)]
    );
    assert!(monday.skipped.is_empty());
}

#[test]
fn apply_into_reuses_one_result_and_agrees_with_apply() {
    // Exclusive groups, a counting rule, caps and a late event: every part
    // of the result is rewritten for each event, never carried over.
    let mut double = rule("weekend_lesson", "lesson", 20);
    double.priority = 2;
    double.exclusive_group = Some("lesson".into());
    double.when = vec![Condition::Weekdays {
        any_of: vec![chrono::Weekday::Sat, chrono::Weekday::Sun],
    }];
    let mut plain = rule("lesson", "lesson", 10);
    plain.exclusive_group = Some("lesson".into());
    plain.daily_cap = cap(Some(1), None);
    let mut nth = rule("every_2nd", "lesson", 3);
    nth.when = vec![Condition::EveryNth { n: 2 }];
    let p = program(beijing(vec![plain, double, nth]));
    let at = |d: u32, h: u32| utc(2026, 3, d, h, 0);
    let events = [
        ev(1, "lesson", at(1, 1)),
        ev(2, "lesson", at(2, 1)),
        ev(3, "lesson", at(2, 2)),
        ev(3, "lesson", at(2, 2)),
        ev(4, "quiz", at(2, 3)),
        ev(5, "lesson", at(20, 1)),
        ev(6, "lesson", at(2, 4)),
    ];
    let (mut a, mut b) = (Ledger::new(), Ledger::new());
    let mut out = Earned::default();
    for e in &events {
        let want = p.apply(&mut a, e);
        let got = p.apply_into(&mut b, e, &EarnContext::new(), &mut out);
        match want {
            Ok(want) => {
                assert_eq!(got, Ok(()));
                assert_eq!(out, want);
            }
            Err(err) => {
                assert_eq!(got, Err(err));
                assert_eq!(out, Earned::default());
            }
        }
        assert_eq!(a, b);
    }
    // The late event (6) was refused; the first ones awarded and skipped.
    assert_eq!(a.earned(), 20 + 10 + 3 + 10 + 3);
}

#[test]
fn every_nth_and_first_time_count_matching_events() {
    let mut third = rule("third", "lesson", 30);
    third.when = vec![
        Condition::EveryNth { n: 3 },
        Condition::Attr {
            name: "minutes".into(),
            op: Comparison::Ge,
            value: 10.into(),
        },
    ];
    let mut first = rule("first", "lesson", 100);
    first.when = vec![Condition::FirstTime {}];
    let p = program(beijing(vec![third, first]));
    let mut l = Ledger::new();
    let t = utc(2026, 3, 1, 1, 0);
    let mut got = Vec::new();
    for (i, minutes) in [20, 5, 20, 20, 20, 5, 20, 20].into_iter().enumerate() {
        let e =
            ev(i as u64, "lesson", t + TimeDelta::minutes(i as i64)).with_attr("minutes", minutes);
        got.push(p.apply(&mut l, &e).map_or(u64::MAX, |e| e.total));
    }
    // Short lessons are not counted; the 3rd and 6th counted ones award.
    assert_eq!(got, [100, 0, 0, 30, 0, 0, 0, 30]);
    assert_eq!(l.counter("third").map(|c| c.matched), Some(6));
    assert_eq!(l.counter("first").map(|c| c.matched), Some(8));
}

#[test]
fn campaign_edges_in_the_engine() {
    let start = utc(2026, 11, 10, 16, 0);
    let end = utc(2026, 11, 11, 16, 0);
    let mut r = rule("double11", "purchase_done", 11);
    r.when = vec![Condition::Campaign {
        start: Some(start),
        end: Some(end),
    }];
    let p = program(beijing(vec![r]));
    let mut l = Ledger::new();
    let ms = TimeDelta::milliseconds(1);
    let got = totals(
        &p,
        &mut l,
        &[
            ev(1, "purchase_done", start - ms),
            ev(2, "purchase_done", start),
            ev(3, "purchase_done", end - ms),
            ev(4, "purchase_done", end),
        ],
    );
    assert_eq!(got, [0, 11, 11, 0]);
}

#[test]
fn multipliers_multiply_with_the_stated_rounding_and_explain_themselves() {
    let gold = Multiplier::from_basis_points(15_000).unwrap_or_default();
    let double = Multiplier::from_basis_points(20_000).unwrap_or_default();
    let ctx = EarnContext::new().with_tier("gold", gold);
    let t = utc(2026, 3, 1, 1, 0);
    let cases = [
        // (rule multiplier, tier applies, rounding, base, expected)
        (None, true, Rounding::Down, 15, 22),
        (None, true, Rounding::Nearest, 15, 23),
        (None, true, Rounding::Up, 15, 23),
        (Some(double), true, Rounding::Down, 15, 45),
        (Some(double), false, Rounding::Down, 15, 30),
        (None, false, Rounding::Down, 15, 15),
    ];
    for (i, (multiplier, tier, rounding, base, want)) in cases.into_iter().enumerate() {
        let mut r = rule("lesson", "lesson", base);
        r.multiplier = multiplier;
        r.tier_multiplier = tier;
        r.multiplier_rounding = rounding;
        let p = program(beijing(vec![r]));
        let mut l = Ledger::new();
        let e = p
            .apply_with(&mut l, &ev(1, "lesson", t), &ctx)
            .unwrap_or_else(|e| unreachable!("{e}"));
        let a = e.awards.first().cloned().unwrap_or_else(|| unreachable!());
        assert_eq!(
            (a.base, a.multiplied, a.points),
            (base, want, want),
            "case {i}"
        );
        assert_eq!(a.tier_multiplier, tier.then_some(gold), "case {i}");
        assert_eq!(a.rule_multiplier, multiplier, "case {i}");
    }
    // The highest tier multiplier times a rule's: beyond what one
    // multiplier may be, yet both were valid, so the award stands.
    let mut r = rule("lesson", "lesson", 10);
    r.multiplier = Some(double);
    let p = program(beijing(vec![r]));
    let top = EarnContext::new().with_tier("top", Multiplier::MAX);
    let e = p.apply_with(&mut Ledger::new(), &ev(1, "lesson", t), &top);
    assert_eq!(e.map(|e| e.total), Ok(20_000));
    // Without a tier, nothing multiplies.
    let p = program(beijing(vec![rule("lesson", "lesson", 15)]));
    let e = p.apply(&mut Ledger::new(), &ev(1, "lesson", t));
    assert_eq!(e.map(|e| e.total), Ok(15));
    // Caps apply to the multiplied reward.
    let mut r = rule("lesson", "lesson", 10);
    r.daily_cap = cap(None, Some(25));
    let p = program(beijing(vec![r]));
    let mut l = Ledger::new();
    let first = p.apply_with(&mut l, &ev(1, "lesson", t), &ctx);
    let second = p.apply_with(&mut l, &ev(2, "lesson", t), &ctx);
    assert_eq!(
        [first, second].map(|e| e.map(|e| e.total)),
        [Ok(15), Ok(10)]
    );
}

#[test]
fn stage_condition_doubles_points_for_new_learners() {
    let mut new_learner = rule("new_learner", "lesson", 20);
    new_learner.when = vec![Condition::Stage {
        any_of: vec![Stage::Acquired, Stage::Activated],
    }];
    let p = program(beijing(vec![new_learner]));
    let mut l = Ledger::new();
    let t = utc(2026, 3, 1, 1, 0);
    let new = EarnContext::new().with_stage(Stage::Acquired);
    let old = EarnContext::new().with_stage(Stage::Loyal);
    let a = p.apply_with(&mut l, &ev(1, "lesson", t), &new);
    let b = p.apply_with(&mut l, &ev(2, "lesson", t), &old);
    let c = p.apply(&mut l, &ev(3, "lesson", t));
    assert_eq!(
        [a, b, c].map(|e| e.map(|e| e.total)),
        [Ok(20), Ok(0), Ok(0)]
    );
}

#[test]
fn weekday_and_hour_conditions_at_local_midnight() {
    let mut r = rule("night_owl", "lesson", 7);
    r.when = vec![
        Condition::Weekdays {
            any_of: vec![chrono::Weekday::Sat],
        },
        Condition::Hours { from: 0, to: 1 },
    ];
    let p = program(beijing(vec![r]));
    let mut l = Ledger::new();
    // Saturday 7 March 00:00 in +08:00 is Friday 16:00 UTC.
    let midnight = utc(2026, 3, 6, 16, 0);
    let got = totals(
        &p,
        &mut l,
        &[
            ev(1, "lesson", midnight - TimeDelta::seconds(1)),
            ev(2, "lesson", midnight),
            ev(3, "lesson", midnight + TimeDelta::minutes(59)),
            ev(4, "lesson", midnight + TimeDelta::hours(1)),
        ],
    );
    assert_eq!(got, [0, 7, 7, 0]);
}

#[test]
fn local_hours_follow_the_offset_of_the_instant_across_dst() {
    // On 2026-03-08 New York skips 02:00–02:59: 06:59 UTC is 01:59 EST
    // and 07:00 UTC is 03:00 EDT.
    let mut early = rule("early", "lesson", 1);
    early.when = vec![Condition::Hours { from: 1, to: 3 }];
    let mut three = rule("three", "lesson", 10);
    three.when = vec![Condition::Hours { from: 3, to: 4 }];
    let p = beijing(vec![early, three])
        .validate_in(chrono_tz::America::New_York)
        .unwrap_or_else(|e| unreachable!("{e}"));
    let mut l = Ledger::new();
    let got = totals(
        &p,
        &mut l,
        &[
            ev(1, "lesson", utc(2026, 3, 8, 6, 59)),
            ev(2, "lesson", utc(2026, 3, 8, 7, 0)),
            // A day later 07:00 UTC is 03:00 EDT as well; 06:59 is 02:59.
            ev(3, "lesson", utc(2026, 3, 9, 6, 59)),
        ],
    );
    assert_eq!(got, [1, 10, 1]);
}

#[test]
fn release_gives_cap_room_back_whatever_the_order() {
    let mut r = rule("lesson", "lesson", 10);
    r.daily_cap = cap(Some(1), None);
    r.weekly_cap = cap(None, Some(100));
    r.monthly_cap = cap(Some(50), None);
    let mut s = beijing(vec![r]);
    s.global_daily_cap = cap(Some(1), None);
    let p = program(s);
    let t = utc(2026, 3, 1, 1, 0);
    let day = LocalDay::of(t, p.zone());
    let mut l = Ledger::new();
    let before = l.counter("lesson").cloned().unwrap_or_default();
    let first = p
        .apply(&mut l, &ev(1, "lesson", t))
        .unwrap_or_else(|e| unreachable!("{e}"));
    let award = first
        .awards
        .first()
        .cloned()
        .unwrap_or_else(|| unreachable!());
    assert!(award.counted_global);
    assert_eq!(l.lots().first().map(|lot| lot.counted_global), Some(true));
    // Capped while the award stands …
    assert_eq!(p.apply(&mut l, &ev(2, "lesson", t)).map(|e| e.total), Ok(0));
    l.release_award("lesson", day, award.points, award.counted_global);
    // … the tallies are as if it had never been made …
    assert_eq!(cap_room(l.counter("lesson")), cap_room(Some(&before)));
    assert_eq!(l.global_day(day), DayTally::default());
    // … and the next award of the day fits again.
    assert_eq!(
        p.apply(&mut l, &ev(3, "lesson", t)).map(|e| e.total),
        Ok(10)
    );
    // Releasing what is not there changes nothing and never underflows.
    let mut empty = Ledger::new();
    empty.release_award("nope", day, 10, true);
    assert_eq!(empty, Ledger::new());
}

/// What a counter's caps read: its lifetime figures and the tallies that
/// hold anything (an emptied newest tally stays as the mark of how far
/// back the tallies reach, see `Tallies::remove`; it holds no room).
fn cap_room(c: Option<&RuleCounter>) -> (u32, u64, [Vec<(LocalDay, DayTally)>; 3]) {
    let c = c.cloned().unwrap_or_default();
    let held = |t: &Tallies| t.iter().filter(|(_, v)| !v.is_empty()).collect();
    (
        c.count,
        c.points,
        [held(&c.days), held(&c.weeks), held(&c.months)],
    )
}

#[test]
fn a_reversal_never_moves_back_how_far_the_tallies_reach() {
    // Day 1's tally is dropped when day 8 is tallied. Reversing day 8's
    // award used to drop day 8's tally too, and a late event for day 1 then
    // found no tally at all: a second award on a day capped at one. It is
    // refused as too late, whether or not the reversal came first, for a
    // rule's own cap and for the global daily cap alike.
    for (own_cap, global_cap) in [(cap(Some(1), None), None), (None, cap(None, Some(10)))] {
        let mut r = rule("visit", "visit", 10);
        r.daily_cap = own_cap;
        let mut s = beijing(vec![r]);
        s.global_daily_cap = global_cap;
        let p = program(s);
        let t = utc(2026, 3, 2, 2, 0);
        let mut l = p.new_ledger();
        assert_eq!(p.apply(&mut l, &ev(1, "visit", t)).map(|e| e.total), Ok(10));
        let later = t + TimeDelta::days(8);
        assert_eq!(
            p.apply(&mut l, &ev(2, "visit", later)).map(|e| e.total),
            Ok(10)
        );
        let late = ev(3, "visit", t + TimeDelta::hours(1));
        let refused = Err(PointsError::TooLate { id: EventId(3) });
        assert_eq!(p.apply(&mut l.clone(), &late).map(|e| e.total), refused);
        let reversed = p.reverse(&mut l, "r".into(), EventId(2), Portion::Whole {}, later);
        assert_eq!(reversed.map(|x| x.points), Ok(10));
        assert_eq!(p.apply(&mut l, &late).map(|e| e.total), refused);
    }
}

#[test]
fn a_reversal_gives_week_month_and_global_room_back() {
    // The Stack Overflow bug: an award and its reversal inside one period
    // must leave the period as if the award had never been made: the
    // second upvote, which the caps refused, takes the room (see `MadeUp`).
    let mut r = rule("upvote", "upvote", 10);
    r.weekly_cap = cap(Some(1), None);
    r.monthly_cap = cap(None, Some(10));
    let mut s = beijing(vec![r]);
    s.global_daily_cap = cap(Some(1), None);
    let p = program(s);
    let t = utc(2026, 3, 3, 1, 0);
    let mut l = p.new_ledger();
    let before = l.counter("upvote").cloned().unwrap_or_default();
    assert_eq!(
        p.apply(&mut l, &ev(1, "upvote", t)).map(|e| e.total),
        Ok(10)
    );
    assert_eq!(p.apply(&mut l, &ev(2, "upvote", t)).map(|e| e.total), Ok(0));
    let reversed = p.reverse(
        &mut l,
        "refund-1".into(),
        EventId(1),
        Portion::Whole {},
        t + TimeDelta::hours(1),
    );
    let made = reversed.map(|x| (x.points, x.made_up.iter().map(|m| m.source).collect()));
    assert_eq!(made, Ok((10, vec![EventId(2)])));
    let mut alone = p.new_ledger();
    assert_eq!(
        p.apply(&mut alone, &ev(2, "upvote", t)).map(|e| e.total),
        Ok(10)
    );
    assert_ne!(cap_room(alone.counter("upvote")), cap_room(Some(&before)));
    assert_eq!(
        cap_room(l.counter("upvote")),
        cap_room(alone.counter("upvote"))
    );
    let day = LocalDay::of(t, p.zone());
    assert_eq!(l.global_day(day), alone.global_day(day));
    assert_eq!(
        p.apply(&mut l, &ev(3, "upvote", t + TimeDelta::hours(2)))
            .map(|e| e.total),
        Ok(0)
    );
    assert!(l.check().is_ok());
}

#[test]
fn release_keeps_the_match_count_and_the_cooldown() {
    let mut r = rule("lesson", "lesson", 10);
    r.cooldown_seconds = Some(60);
    r.when = vec![Condition::EveryNth { n: 1 }];
    let p = program(beijing(vec![r]));
    let t = utc(2026, 3, 1, 1, 0);
    let mut l = Ledger::new();
    let _ = p.apply(&mut l, &ev(1, "lesson", t));
    l.release_award("lesson", LocalDay::of(t, p.zone()), 10, false);
    let c = l.counter("lesson").cloned().unwrap_or_default();
    assert_eq!(
        (c.count, c.points, c.days.len(), c.matched, c.last_award_at),
        (0, 0, 0, 1, Some(t))
    );
}

#[test]
fn too_late_for_the_global_tallies_is_refused() {
    let mut s = beijing(vec![rule("a", "a", 1), rule("b", "b", 1)]);
    s.global_daily_cap = cap(Some(5), None);
    s.dedupe.horizon_hours = 24 * 30;
    let p = program(s);
    let t = utc(2026, 3, 1, 1, 0);
    let mut l = Ledger::new();
    let _ = p.apply(&mut l, &ev(1, "a", t + TimeDelta::days(10)));
    let before = l.clone();
    // Rule b has no tallies of its own, but the global ones no longer reach back.
    assert_eq!(
        p.apply(&mut l, &ev(2, "b", t)),
        Err(PointsError::TooLate { id: EventId(2) })
    );
    assert_eq!(l, before);
    assert_eq!(
        p.apply(&mut l, &ev(3, "b", t + TimeDelta::days(4)))
            .map(|e| e.total),
        Ok(1)
    );
}

#[test]
fn rules_without_period_caps_keep_no_day_tallies() {
    let mut capped = rule("capped", "lesson", 1);
    capped.monthly_cap = cap(Some(100), None);
    let mut lifetime = rule("lifetime", "lesson", 2);
    lifetime.lifetime_cap = cap(Some(100), None);
    let mut s = beijing(vec![capped, lifetime]);
    s.dedupe.horizon_hours = 24 * 30;
    let p = program(s);
    let t = utc(2026, 3, 10, 1, 0);
    let mut l = Ledger::new();
    let _ = p.apply(&mut l, &ev(1, "lesson", t));
    let days = |l: &Ledger, rule: &str| l.counter(rule).map(|c| c.days.len());
    assert_eq!(
        (days(&l, "capped"), days(&l, "lifetime")),
        (Some(1), Some(0))
    );
    // Nine days late: too late for the capped rule's tallies, so refused
    // whole; a program of the uncapped rule alone takes it.
    let late = ev(2, "lesson", t - TimeDelta::days(9));
    assert_eq!(
        p.apply(&mut l, &late),
        Err(PointsError::TooLate { id: EventId(2) })
    );
    let mut s = beijing(vec![rule("lifetime", "lesson", 2)]);
    s.dedupe.horizon_hours = 24 * 30;
    let p = program(s);
    let mut l = Ledger::new();
    let _ = p.apply(&mut l, &ev(1, "lesson", t));
    assert_eq!(p.apply(&mut l, &late).map(|e| e.total), Ok(2));
}

#[test]
fn events_no_rule_listens_to_are_taken_cheaply() {
    let p = program(beijing(vec![rule("lesson", "lesson", 1)]));
    let mut l = Ledger::new();
    let visit = Event::new(
        EventId(1),
        UserId(1),
        utc(2026, 3, 1, 1, 0),
        EventKind::Visited,
    );
    let e = p
        .apply(&mut l, &visit)
        .unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!((e.total, e.awards.len(), l.version()), (0, 0, 1));
    assert!(p.apply(&mut l, &visit).is_ok_and(|e| e.duplicate));
}

#[test]
fn validation_of_the_new_fields_names_rule_and_field() {
    let check = |f: &dyn Fn(&mut ProgramSpec)| {
        let mut s = beijing(vec![rule("lesson", "lesson", 10), rule("quiz", "quiz", 5)]);
        f(&mut s);
        s.validate().map(|_| ()).map_err(|e| e.to_string())
    };
    assert_eq!(check(&|_| ()), Ok(()));
    assert_eq!(
        check(&|s| s.rules[0].weekly_cap = cap(Some(0), None)),
        Err("rule lesson: weekly_cap.count is 0 but must be at least 1".into())
    );
    assert_eq!(
        check(&|s| s.rules[0].monthly_cap = cap(None, Some(0))),
        Err("rule lesson: monthly_cap.points is 0 but must be at least 1".into())
    );
    assert_eq!(
        check(&|s| s.rules[1].monthly_cap = cap(None, None)),
        Err("rule quiz: monthly_cap sets neither count nor points".into())
    );
    assert_eq!(
        check(&|s| s.global_daily_cap = cap(None, None)),
        Err("global_daily_cap sets neither count nor points".into())
    );
    assert_eq!(
        check(&|s| s.global_daily_cap = cap(None, Some(0))),
        Err("global_daily_cap.points is 0 but must be at least 1".into())
    );
    assert_eq!(
        check(&|s| s.rules[0].cooldown_seconds = Some(0)),
        Err("rule lesson: cooldown_seconds is 0 but must be at least 1".into())
    );
    // Lengths of time past the calendar's end are refused, not failed on
    // every award; the longest allowed are accepted.
    let days = |days| Some(Expiry::AfterDays { days });
    let months = |months| {
        Some(Expiry::AfterMonths {
            months,
            round_up_to: None,
        })
    };
    assert_eq!(
        check(&|s| s.rules[1].expiry = days(u32::MAX)),
        Err(format!(
            "rule quiz: expiry.days is {} but must be at most {MAX_DAYS}",
            u32::MAX
        ))
    );
    assert_eq!(
        check(&|s| s.rules[0].expiry = months(MAX_MONTHS + 1)),
        Err(format!(
            "rule lesson: expiry.months is {} but must be at most {MAX_MONTHS}",
            MAX_MONTHS + 1
        ))
    );
    assert_eq!(
        check(&|s| s.rules[0].pending_days = MAX_DAYS + 1),
        Err(format!(
            "rule lesson: pending_days is {} but must be at most {MAX_DAYS}",
            MAX_DAYS + 1
        ))
    );
    assert_eq!(
        check(&|s| s.expiry = months(u32::MAX).unwrap_or_default()),
        Err(format!(
            "expiry.months is {} but must be at most {MAX_MONTHS}",
            u32::MAX
        ))
    );
    assert_eq!(check(&|s| s.rules[0].expiry = days(MAX_DAYS)), Ok(()));
    assert_eq!(check(&|s| s.rules[0].expiry = months(MAX_MONTHS)), Ok(()));
    assert_eq!(check(&|s| s.rules[0].pending_days = MAX_DAYS), Ok(()));
    assert_eq!(
        check(&|s| s.rules[1].when = vec![Condition::EveryNth { n: 0 }]),
        Err("rule quiz: when[0] (every_nth): every_nth.n is 0 but must be at least 1".into())
    );
    assert_eq!(
        check(&|s| s.rules[0].when = vec![
            Condition::FirstTime {},
            Condition::Hours { from: 3, to: 30 }
        ]),
        Err("rule lesson: when[1] (hours): hours.to is 30 but must be at most 24".into())
    );
    assert_eq!(
        check(&|s| s.rules[0].when = vec![Condition::Weekdays { any_of: vec![] }]),
        Err(
            "rule lesson: when[0] (weekdays): any_of is empty, so the condition never holds".into()
        )
    );
    assert_eq!(
        check(&|s| s.rules[0].when = vec![Condition::Campaign {
            start: Some(utc(2026, 2, 1, 0, 0)),
            end: Some(utc(2026, 1, 1, 0, 0)),
        }]),
        Err(
            "rule lesson: when[0] (campaign): campaign end 2026-01-01 00:00:00 UTC is not after its start 2026-02-01 00:00:00 UTC"
                .into()
        )
    );
    assert_eq!(
        check(&|s| s.rules[0].when = vec![
            Condition::Attr {
                name: "channel".into(),
                op: Comparison::Eq,
                value: 3.into(),
            },
            Condition::Channel {
                any_of: vec!["app".into()]
            },
        ]),
        Err(
            "rule lesson: when[1] (channel): attribute channel is text here but int in an earlier condition"
                .into()
        )
    );
    assert_eq!(
        check(&|s| s.rules[0].when = vec![Condition::AttrIn {
            name: "level".into(),
            values: vec![1.into(), "two".into()],
        }]),
        Err(
            "rule lesson: when[0] (attr_in): values for attribute level mix types; they must all be int, text or bool"
                .into()
        )
    );
    // Exclusive rules of equal priority whose triggers overlap are ambiguous …
    let overlap = |s: &mut ProgramSpec, second: KindPattern, priority: i32| {
        s.rules[0].exclusive_group = Some("g".into());
        s.rules[1].exclusive_group = Some("g".into());
        s.rules[1].on = second;
        s.rules[1].priority = priority;
    };
    assert_eq!(
        check(&|s| overlap(s, KindPattern::Kind(KindTag::ActionCompleted), 0)),
        Err("rules lesson and quiz: both in exclusive_group g with priority 0, and their triggers can match the same event; give them different priorities".into())
    );
    // … but not with different priorities or disjoint triggers.
    assert_eq!(
        check(&|s| overlap(s, KindPattern::Kind(KindTag::ActionCompleted), 1)),
        Ok(())
    );
    assert_eq!(check(&|s| overlap(s, on("quiz"), 0)), Ok(()));
}

#[test]
fn spec_json_with_every_new_field_round_trips() {
    let json = r#"{
        "utc_offset": "+08:00",
        "global_daily_cap": { "points": 200 },
        "rules": [
            { "name": "upvote", "on": "reaction",
              "reward": { "type": "fixed", "points": 10 },
              "when": [{ "type": "community", "any_of": [7] },
                       { "type": "hours", "from": 22, "to": 2 }],
              "multiplier": 1.5, "tier_multiplier": false, "multiplier_rounding": "nearest",
              "daily_cap": { "count": 20 }, "weekly_cap": { "points": 500 },
              "monthly_cap": { "count": 100, "points": 1500 }, "lifetime_cap": { "points": 100000 },
              "cap_mode": "reject", "cooldown_seconds": 10,
              "priority": 3, "exclusive_group": "votes" },
            { "name": "accepted", "on": "custom:accepted",
              "reward": { "type": "fixed", "points": 15 }, "global_cap_exempt": true }
        ]
    }"#;
    let spec: ProgramSpec = serde_json::from_str(json).unwrap_or_else(|e| unreachable!("{e}"));
    let text = serde_json::to_string(&spec).unwrap_or_default();
    let back: ProgramSpec = serde_json::from_str(&text).unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(back, spec);
    assert!(spec.validate().is_ok());
}

#[test]
fn an_exempt_rule_beside_a_counted_one_on_the_same_event() {
    let mut upvote = rule("upvote", "upvote", 10);
    upvote.priority = 1;
    let mut streak = RuleSpec::new("streak", KindPattern::Any, Reward::Fixed { points: 3 });
    streak.global_cap_exempt = true;
    let mut s = beijing(vec![upvote, streak]);
    s.global_daily_cap = cap(None, Some(10));
    let p = program(s);
    let mut l = Ledger::new();
    let t = utc(2026, 3, 1, 1, 0);
    let e = p
        .apply(&mut l, &ev(1, "upvote", t))
        .unwrap_or_else(|e| unreachable!("{e}"));
    let got: Vec<(&str, u64, bool)> = e
        .awards
        .iter()
        .map(|a| (a.rule.as_str(), a.points, a.counted_global))
        .collect();
    // The global cap is full after the upvote, yet the exempt rule awards
    // in full and is not counted.
    assert_eq!(got, [("upvote", 10, true), ("streak", 3, false)]);
    assert_eq!(
        l.global_day(LocalDay::of(t, p.zone())),
        DayTally {
            count: 1,
            points: 10
        }
    );
}

#[test]
fn a_failure_after_some_awards_changes_nothing() {
    // The first rule's lot is made before the second overflows the total.
    let mut small = rule("small", "lesson", 5);
    small.priority = 1;
    let huge = rule("huge", "lesson", u64::MAX);
    let p = program(beijing(vec![small, huge]));
    let mut l = Ledger::new();
    let before = l.clone();
    assert_eq!(
        p.apply(&mut l, &ev(1, "lesson", utc(2026, 3, 1, 1, 0))),
        Err(PointsError::Overflow)
    );
    assert_eq!(l, before);
}

/// Giving cap room back, under arbitrary programs and event streams (here
/// rather than in `tests/`, since [`Ledger::release_award`] is the crate's
/// own hook for reversals).
mod release_properties {
    use super::*;
    use crate::points::Tallies;
    use crate::points::ledger::DAILY_TALLY_DAYS;
    use proptest::collection::vec;
    use proptest::prelude::*;

    const ACTIONS: [&str; 3] = ["lesson", "quiz", "share"];

    fn cap() -> impl Strategy<Value = Option<Cap>> {
        prop_oneof![
            2 => Just(None),
            1 => (1u32..4).prop_map(|c| Some(Cap { count: Some(c), points: None })),
            1 => (1u64..60).prop_map(|p| Some(Cap { count: None, points: Some(p) })),
        ]
    }

    /// Programs whose rules have every kind of cap, but no cooldown or
    /// counting condition (a release leaves those as they are, on purpose).
    fn spec() -> impl Strategy<Value = ProgramSpec> {
        let rule = (
            0..ACTIONS.len(),
            1u64..20,
            (cap(), cap(), cap(), cap()),
            any::<bool>(),
            prop_oneof![3 => Just(false), 1 => Just(true)],
        );
        (vec(rule, 1..4), cap()).prop_map(|(rules, global)| {
            let rules = rules
                .into_iter()
                .enumerate()
                .map(|(i, (action, points, caps, reject, exempt))| {
                    let mut r = RuleSpec::new(
                        format!("r{i}"),
                        on(ACTIONS[action]),
                        Reward::Fixed { points },
                    );
                    (r.daily_cap, r.weekly_cap, r.monthly_cap, r.lifetime_cap) = caps;
                    r.cap_mode = if reject {
                        CapMode::Reject
                    } else {
                        CapMode::Trim
                    };
                    r.global_cap_exempt = exempt;
                    r
                })
                .collect();
            let mut s = beijing(rules);
            s.global_daily_cap = global;
            s
        })
    }

    /// Time-ordered events (some a little late) with distinct ids.
    fn events() -> impl Strategy<Value = Vec<Event>> {
        vec(
            (
                0..ACTIONS.len(),
                0i64..300,
                prop_oneof![3 => Just(0i64), 1 => 0i64..600],
            ),
            1..40,
        )
        .prop_map(|steps| {
            let mut clock = utc(2026, 3, 25, 0, 0);
            steps
                .into_iter()
                .enumerate()
                .map(|(i, (action, advance, late))| {
                    clock += TimeDelta::minutes(advance);
                    ev(i as u64, ACTIONS[action], clock - TimeDelta::minutes(late))
                })
                .collect()
        })
    }

    /// `after` holds exactly `before`'s tallies, except those `before` had
    /// that are older than `oldest` (dropped when the award's newer day was
    /// tallied: the horizon moved, which a release does not undo).
    fn same_tallies(
        before: &Tallies,
        after: &Tallies,
        oldest: LocalDay,
    ) -> Result<(), TestCaseError> {
        // An emptied newest tally stays as the horizon's mark: it holds
        // nothing, as an absent one.
        let held = |t: &Tallies, k| t.get(k).filter(|v| !v.is_empty());
        for (k, v) in after.iter().filter(|(_, v)| !v.is_empty()) {
            prop_assert_eq!(held(before, k), Some(v), "{}", k);
        }
        for (k, v) in before.iter().filter(|(_, v)| !v.is_empty()) {
            prop_assert!(k < oldest || held(after, k) == Some(v), "{}", k);
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn lots_handed_over_are_the_lots_kept(
            spec in spec(),
            lives in vec((0u8..4, 1u32..40, 0u32..3), 4),
            events in events(),
            owed in 0u64..30,
        ) {
            // Rules whose lots expire in varied orders, some pending.
            let mut spec = spec;
            for (r, &(how, n, pending)) in spec.rules.iter_mut().zip(&lives) {
                r.expiry = Some(match how {
                    0 => Expiry::Never {},
                    1 => Expiry::AfterDays { days: n + 2 },
                    2 => Expiry::AfterMonths { months: n % 13 + 1, round_up_to: None },
                    _ => Expiry::AfterMonths { months: n % 13 + 1, round_up_to: Some(PeriodEnd::Month) },
                });
                r.pending_days = pending;
            }
            let p = program(spec);
            let (ctx, mut out, mut noted) = (EarnContext::new(), Earned::default(), Vec::new());
            // A small batch memo, so its slots are shared and overwritten.
            let mut memo = [None; 3];
            let (mut kept, mut handing) = (p.new_ledger(), p.new_ledger());
            // A debt from an earlier reversal, which the first awards pay.
            for ledger in [&mut kept, &mut handing] {
                ledger.owed = owed;
            }
            let mut handed = Vec::new();
            for e in &events {
                let a = p.apply_into(&mut kept, e, &ctx, &mut out).map(|()| (out.total, out.debt_paid));
                let over = Noting {
                    awards: &mut noted,
                    handed: Some(&mut handed),
                    expiries: &mut memo,
                    fresh: false,
                };
                let b = p
                    .apply_noting(&mut handing, e, &ctx, &mut out, Some(over))
                    .map(|()| (out.total, out.debt_paid));
                prop_assert_eq!(a, b);
            }
            // The handing ledger keeps no lots but the same totals; its
            // lots in short are the kept ones, in the order they were made.
            prop_assert!(handing.lots().is_empty());
            prop_assert_eq!(handing.available, kept.available);
            prop_assert_eq!(handing.earned, kept.earned);
            prop_assert_eq!(handing.owed, kept.owed);
            let mut made: Vec<&Lot> = kept.lots().iter().collect();
            made.sort_by_key(|l| l.id);
            let kept_in_short: Vec<HandedLot> = made
                .iter()
                .map(|l| HandedLot {
                    remaining: l.remaining,
                    available_from: l.available_from,
                    expires_at: l.expires_at,
                })
                .collect();
            prop_assert_eq!(kept_in_short, handed);
        }

        #[test]
        fn award_then_release_is_as_if_never_awarded(
            spec in spec(),
            events in events(),
            k in any::<prop::sample::Index>(),
        ) {
            let p = program(spec);
            let k = k.index(events.len());
            // `a` takes every event and releases event k's awards at once;
            // `b` never sees event k.
            let (mut a, mut b) = (Ledger::new(), Ledger::new());
            for (i, e) in events.iter().enumerate() {
                if i == k {
                    let before = a.clone();
                    let Ok(earned) = p.apply(&mut a, e) else { continue };
                    let day = LocalDay::of(e.at, p.zone());
                    for award in earned.awards.iter().filter(|a| a.points > 0) {
                        a.release_award(award.rule.as_str(), day, award.points, award.counted_global);
                    }
                    let oldest = day.checked_add_days(-(DAILY_TALLY_DAYS - 1)).unwrap_or(day);
                    for rule in &p.spec().rules {
                        let (x, y) = (
                            before.counters.get(rule.name.as_str()).cloned().unwrap_or_default(),
                            a.counters.get(rule.name.as_str()).cloned().unwrap_or_default(),
                        );
                        prop_assert_eq!(x.lifetime(), y.lifetime());
                        same_tallies(&x.days, &y.days, oldest)?;
                        same_tallies(&x.weeks, &y.weeks, crate::points::limits::week_of(oldest))?;
                        same_tallies(&x.months, &y.months, crate::points::limits::month_of(oldest))?;
                    }
                    same_tallies(&before.global_days, &a.global_days, oldest)?;
                    continue;
                }
                // Every later award is what it would be had event k never been.
                let got_a = p.apply(&mut a, e).map(|e| e.total);
                let got_b = p.apply(&mut b, e).map(|e| e.total);
                prop_assert_eq!(got_a, got_b, "event {}", i);
            }
        }
    }
}

fn noting<'a>(awards: &'a mut Vec<Noted>, expiries: &'a mut [Option<Memo>]) -> Noting<'a> {
    Noting {
        awards,
        handed: None,
        expiries,
        fresh: false,
    }
}

#[test]
fn each_award_is_noted_in_short_with_its_rule_s_position() {
    // Priority reorders the rules, a group skips one, a cap leaves a
    // zero-point award: the noted awards are the explained ones, in short,
    // appended event after event.
    let mut first = rule("first", "lesson", 5);
    first.priority = 10;
    first.exclusive_group = Some("g".into());
    let mut second = rule("second", "lesson", 3);
    second.exclusive_group = Some("g".into());
    let mut capped = rule("capped", "lesson", 2);
    capped.daily_cap = cap(Some(1), None);
    let p = program(beijing(vec![
        rule("quiz", "quiz", 1),
        second,
        capped,
        first,
        rule("plain", "lesson", 1),
    ]));
    let ctx = EarnContext::new();
    let (mut explained, mut short, mut noted) = (Earned::default(), Earned::default(), vec![]);
    let (mut a, mut b) = (p.new_ledger(), p.new_ledger());
    for (i, action) in ["lesson", "lesson", "quiz", "lesson"]
        .into_iter()
        .enumerate()
    {
        let e = ev(i as u64, action, utc(2026, 3, 1, 9, i as u32));
        assert_eq!(p.apply_into(&mut a, &e, &ctx, &mut explained), Ok(()));
        let before = noted.len();
        let result = p.apply_noting(
            &mut b,
            &e,
            &ctx,
            &mut short,
            Some(noting(&mut noted, &mut [])),
        );
        assert_eq!(result, Ok(()), "event {i}");
        let expected: Vec<(&str, u64, bool, u64)> = explained
            .awards
            .iter()
            .map(|a| (a.rule.as_str(), a.points, a.capped.is_some(), a.multiplied))
            .collect();
        let got: Vec<(&str, u64, bool, u64)> = noted[before..]
            .iter()
            .filter_map(|n| {
                Some((
                    p.spec().rules.get(n.position())?.name.as_str(),
                    n.points,
                    n.capped,
                    n.multiplied,
                ))
            })
            .collect();
        assert_eq!(got, expected, "event {i}");
        assert!(short.awards.is_empty());
        assert_eq!(
            (short.total, &short.skipped),
            (explained.total, &explained.skipped)
        );
    }
    assert_eq!(a, b);
    // Three awards for each lesson, one capped to nothing on the second.
    assert_eq!(noted.len(), 3 * 3 + 1);
    assert!(noted.iter().any(|n| n.capped && n.points == 0));
    // A duplicate awards nothing, and notes nothing.
    let noted_before = noted.len();
    let again = ev(0, "lesson", utc(2026, 3, 1, 9, 0));
    assert_eq!(
        p.apply_noting(
            &mut b,
            &again,
            &ctx,
            &mut short,
            Some(noting(&mut noted, &mut []))
        ),
        Ok(())
    );
    assert!(short.duplicate && noted.len() == noted_before);
    // A step that fails after its awards were noted takes them back.
    b.earned = u64::MAX;
    let fails = ev(9, "lesson", utc(2026, 3, 1, 10, 0));
    assert_eq!(
        p.apply_noting(
            &mut b,
            &fails,
            &ctx,
            &mut short,
            Some(noting(&mut noted, &mut []))
        ),
        Err(PointsError::Overflow)
    );
    assert_eq!(noted.len(), noted_before);
}

/// A per-amount rule for purchases in `currency`, at `priority`, in the
/// exclusive group "spend".
fn per_currency(name: &str, currency: &str, priority: i32) -> RuleSpec {
    let mut r = RuleSpec::new(
        name,
        KindPattern::Kind(KindTag::Purchase),
        Reward::PerAmount {
            points: 1,
            per_minor: 100,
            rounding: Rounding::Down,
            currency: currency.parse().ok(),
        },
    );
    r.priority = priority;
    r.exclusive_group = Some("spend".into());
    r
}

fn buy(id: u64, minor: i64, currency: &str) -> Event {
    let currency = currency.parse().unwrap_or_else(|_| unreachable!());
    let kind = EventKind::Purchase {
        amount: crate::event::Money::new(minor, currency),
    };
    Event::new(EventId(id), UserId(1), utc(2026, 3, 1, 1, 0), kind)
}

#[test]
fn a_rule_in_another_currency_does_not_match_nor_win_its_group() {
    // Different priorities (as before) and the same one (now accepted:
    // two currencies never take the same purchase).
    for usd_priority in [0, 1] {
        let p = program(beijing(vec![
            per_currency("cny", "CNY", 1),
            per_currency("usd", "USD", usd_priority),
        ]));
        let mut l = Ledger::new();
        let earned = p
            .apply(&mut l, &buy(1, 1_000, "USD"))
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(earned.total, 10, "{earned:?}");
        assert!(earned.skipped.is_empty(), "{earned:?}");
        assert_eq!(earned.awards.len(), 1);
        let earned = p
            .apply(&mut l, &buy(2, 500, "CNY"))
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(earned.total, 5);
    }
    // Two rules in one currency at one priority still overlap.
    let same = beijing(vec![
        per_currency("a", "CNY", 1),
        per_currency("b", "CNY", 1),
    ]);
    assert!(same.validate().is_err());
}

#[test]
fn a_purchase_in_another_currency_does_not_use_up_first_time() {
    let mut r = per_currency("first_cny_purchase", "CNY", 0);
    r.exclusive_group = None;
    r.when = vec![Condition::FirstTime {}];
    let p = program(beijing(vec![r]));
    let mut l = Ledger::new();
    let usd = p.apply(&mut l, &buy(1, 1_000, "USD"));
    assert!(usd.is_ok_and(|e| e.total == 0 && e.awards.is_empty()));
    let cny = p.apply(&mut l, &buy(2, 1_000, "CNY"));
    assert!(cny.is_ok_and(|e| e.total == 10));
}

#[test]
fn a_misspelt_field_in_a_tagged_section_is_an_error() {
    // A misspelt `currency` must not make the rule earn on every currency.
    let rule =
        |reward: &str| format!(r#"{{ "name": "spend", "on": "purchase", "reward": {reward} }}"#);
    for reward in [
        r#"{ "type": "per_amount", "points": 1, "per_minor": 1000, "rounding": "down", "curency": "CNY" }"#,
        r#"{ "type": "fixed", "points": 1, "per_minor": 1000 }"#,
    ] {
        assert!(
            serde_json::from_str::<RuleSpec>(&rule(reward)).is_err(),
            "{reward}"
        );
    }
    let ladder = |window: &str, grace: &str| {
        format!(
            r#"{{ "rules": [], "tiers": {{ "basis": {{ "type": "points" }}, "window": {window}, "grace": {grace},
                  "tiers": [ {{ "name": "member", "threshold": 0 }} ] }} }}"#
        )
    };
    let good = ladder(
        r#"{ "type": "rolling_days", "days": 30 }"#,
        r#"{ "type": "days", "days": 7 }"#,
    );
    assert!(serde_json::from_str::<ProgramSpec>(&good).is_ok());
    for bad in [
        ladder(
            r#"{ "type": "rolling_days", "dayz": 30 }"#,
            r#"{ "type": "none" }"#,
        ),
        ladder(
            r#"{ "type": "rolling_days", "days": 30 }"#,
            r#"{ "type": "days", "days": 7, "months": 1 }"#,
        ),
    ] {
        assert!(serde_json::from_str::<ProgramSpec>(&bad).is_err(), "{bad}");
    }
    let badge = r#"{ "rules": [], "badges": { "badges": [ { "name": "b",
        "counter": { "type": "events", "on": "visited", "of": "x" }, "levels": [ { "name": "l", "at": 1 } ] } ] } }"#;
    assert!(serde_json::from_str::<ProgramSpec>(badge).is_err());
    let share: Result<Portion, _> =
        serde_json::from_str(r#"{ "type": "share", "numerator": 1, "denominator": 2, "of": 3 }"#);
    assert!(share.is_err());
}

#[test]
fn json_mistakes_name_the_rule_and_field() {
    for (json, field) in [
        (
            r#"{ "rules": [ { "name": "visit", "on": "visited", "reward": { "type": "fixed", "points": 1 } },
                            { "name": "lesson", "on": "action_completed:lesson",
                              "reward": { "type": "fixed", "points": 10 }, "multiplier": 0 } ] }"#,
            "rules[1]: field `multiplier`: multiplier 0 is out of range",
        ),
        (
            r#"{ "rules": [ { "name": "lesson", "on": "lesson_done",
                              "reward": { "type": "fixed", "points": 10 } } ] }"#,
            "rules[0]: field `on`: `lesson_done` is not an event kind",
        ),
    ] {
        let err = serde_json::from_str::<ProgramSpec>(json)
            .map(|_| ())
            .map_err(|e| e.to_string());
        assert!(err.as_ref().is_err_and(|e| e.starts_with(field)), "{err:?}");
    }
}

/// `plain` reads as `value` and writes back as `plain`; `stray`, the same
/// with a field the variant does not have, is refused naming that field.
fn refuses_a_stray_field<T>(plain: &str, stray: &str, field: &str, value: T)
where
    T: serde::de::DeserializeOwned + serde::Serialize + PartialEq + std::fmt::Debug,
{
    let read = serde_json::from_str::<T>(plain).map_err(|e| e.to_string());
    assert_eq!(read.as_ref(), Ok(&value), "{plain}");
    let written = serde_json::to_string(&value).map_err(|e| e.to_string());
    assert_eq!(written.as_deref(), Ok(plain), "{plain} written back");
    let err = serde_json::from_str::<T>(stray)
        .map(|v| format!("{v:?}"))
        .map_err(|e| e.to_string());
    assert!(
        err.as_ref()
            .is_err_and(|e| e.contains(&format!("unknown field `{field}`"))),
        "{stray}: {err:?}"
    );
}

#[test]
fn tagged_sections_without_fields_refuse_stray_fields() {
    // Unit variants of an internally tagged enum ignore unknown fields
    // whatever `deny_unknown_fields` says (serde-rs/serde#2123): each such
    // variant is an empty struct variant, which refuses them.
    refuses_a_stray_field(
        r#"{"type":"never"}"#,
        r#"{"type":"never","days":30}"#,
        "days",
        Expiry::Never {},
    );
    refuses_a_stray_field(
        r#"{"type":"points"}"#,
        r#"{"type":"points","currency":"CNY"}"#,
        "currency",
        QualifyingBasis::Points {},
    );
    refuses_a_stray_field(
        r#"{"type":"anniversary_year"}"#,
        r#"{"type":"anniversary_year","days":365}"#,
        "days",
        TierWindow::AnniversaryYear {},
    );
    refuses_a_stray_field(
        r#"{"type":"none"}"#,
        r#"{"type":"none","days":7}"#,
        "days",
        Grace::None {},
    );
    refuses_a_stray_field(
        r#"{"type":"until_anniversary"}"#,
        r#"{"type":"until_anniversary","days":7}"#,
        "days",
        Grace::UntilAnniversary {},
    );
    refuses_a_stray_field(
        r#"{"type":"streak"}"#,
        r#"{"type":"streak","on":"check_in"}"#,
        "on",
        BadgeCounter::Streak {},
    );
    refuses_a_stray_field(
        r#"{"type":"points"}"#,
        r#"{"type":"points","on":"visited"}"#,
        "on",
        BadgeCounter::Points {},
    );
    refuses_a_stray_field(
        r#"{"type":"whole"}"#,
        r#"{"type":"whole","numerator":1}"#,
        "numerator",
        Portion::Whole {},
    );
    refuses_a_stray_field(
        r#"{"type":"first_time"}"#,
        r#"{"type":"first_time","n":2}"#,
        "n",
        Condition::FirstTime {},
    );
    // The defaults are the same variants.
    assert_eq!(Expiry::default(), Expiry::Never {});
    assert_eq!(Grace::default(), Grace::None {});
    // In a program: points that never expire are not read from a spec
    // that meant them to expire after 30 days.
    let program = r#"{ "expiry": { "type": "never", "days": 30 },
        "rules": [ { "name": "visit", "on": "visited", "reward": { "type": "fixed", "points": 1 } } ] }"#;
    let err = serde_json::from_str::<ProgramSpec>(program).map_err(|e| e.to_string());
    assert!(
        err.as_ref()
            .is_err_and(|e| e.starts_with("field `expiry`: unknown field `days`")),
        "{err:?}"
    );
}

#[test]
fn every_refused_json_value_names_its_rule_and_field() {
    let rule = |extra: &str| {
        format!(
            r#"{{ "rules": [ {{ "name": "visit", "on": "visited", "reward": {{ "type": "fixed", "points": 1 }} }},
                            {{ "name": "lesson", "on": "action_completed:lesson",
                              "reward": {{ "type": "fixed", "points": 10 }}{extra} }} ] }}"#
        )
    };
    let program = |extra: &str| {
        format!(
            r#"{{ "rules": [ {{ "name": "visit", "on": "visited", "reward": {{ "type": "fixed", "points": 1 }} }} ]{extra} }}"#
        )
    };
    let cases = [
        // A rule's fields, by the rule's place.
        (
            rule(r#", "daily_cap": { "count": -1 }"#),
            "rules[1]: field `daily_cap`: field `count`: invalid value: integer `-1`, expected u32",
        ),
        (
            rule(r#", "daily_cap": { "points": -1 }"#),
            "rules[1]: field `daily_cap`: field `points`: invalid value: integer `-1`, expected u64",
        ),
        (
            rule(r#", "weekly_cap": { "count": -1 }"#),
            "rules[1]: field `weekly_cap`: field `count`: invalid value",
        ),
        (
            rule(r#", "weekly_cap": { "points": -1 }"#),
            "rules[1]: field `weekly_cap`: field `points`: invalid value",
        ),
        (
            rule(r#", "monthly_cap": { "count": -1 }"#),
            "rules[1]: field `monthly_cap`: field `count`: invalid value",
        ),
        (
            rule(r#", "monthly_cap": { "points": -1 }"#),
            "rules[1]: field `monthly_cap`: field `points`: invalid value",
        ),
        (
            rule(r#", "lifetime_cap": { "count": -1 }"#),
            "rules[1]: field `lifetime_cap`: field `count`: invalid value",
        ),
        (
            rule(r#", "lifetime_cap": { "points": -1 }"#),
            "rules[1]: field `lifetime_cap`: field `points`: invalid value",
        ),
        (
            rule(r#", "cooldown_seconds": -3"#),
            "rules[1]: field `cooldown_seconds`: invalid value: integer `-3`, expected u32",
        ),
        (
            rule(r#", "pending_days": -7"#),
            "rules[1]: field `pending_days`: invalid value: integer `-7`, expected u32",
        ),
        (
            rule(r#", "priority": "high""#),
            "rules[1]: field `priority`: invalid type: string \"high\", expected i32",
        ),
        (
            rule(r#", "expiry": { "type": "after_days", "days": -1 }"#),
            "rules[1]: field `expiry`: field `days`: invalid value: integer `-1`, expected u32",
        ),
        (
            rule(r#", "expiry": { "type": "after_months", "months": 1, "round_up_to": "week" }"#),
            "rules[1]: field `expiry`: field `round_up_to`: unknown variant `week`",
        ),
        // Fields inside a tagged section name themselves after it.
        (
            r#"{ "rules": [ { "name": "visit", "on": "visited", "reward": { "type": "fixed", "points": -5 } } ] }"#
                .to_string(),
            "rules[0]: field `reward`: field `points`: invalid value: integer `-5`, expected u64",
        ),
        (
            r#"{ "rules": [ { "name": "buy", "on": "purchase",
                "reward": { "type": "per_amount", "points": 1, "per_minor": "x", "rounding": "down" } } ] }"#
                .to_string(),
            "rules[0]: field `reward`: field `per_minor`: invalid type: string \"x\", expected i64",
        ),
        (
            rule(r#", "when": [ { "type": "every_nth", "n": -1 } ]"#),
            "rules[1]: when[0]: field `n`: invalid value: integer `-1`, expected u32",
        ),
        (
            rule(r#", "when": [ { "type": "hours", "from": 25, "to": 300 } ]"#),
            "rules[1]: when[0]: field `to`: invalid value: integer `300`, expected u8",
        ),
        (
            rule(r#", "expiry": { "type": "after_weeks", "weeks": 2 }"#),
            "rules[1]: field `expiry`: unknown variant `after_weeks`",
        ),
        (
            rule(r#", "cap_mode": "clip""#),
            "rules[1]: field `cap_mode`: unknown variant `clip`",
        ),
        (
            rule(r#", "tier_multiplier": "no""#),
            "rules[1]: field `tier_multiplier`: invalid type: string \"no\", expected a boolean",
        ),
        (
            rule(r#", "global_cap_exempt": 1"#),
            "rules[1]: field `global_cap_exempt`: invalid type: integer `1`",
        ),
        (
            rule(r#", "multiplier_rounding": "half""#),
            "rules[1]: field `multiplier_rounding`: unknown variant `half`",
        ),
        (
            rule(r#", "exclusive_group": 3"#),
            "rules[1]: field `exclusive_group`: invalid type: integer `3`",
        ),
        (
            rule(r#", "when": [ { "type": "first_time" }, { "type": "every_nth", "n": -2 } ]"#),
            "rules[1]: when[1]: field `n`: invalid value: integer `-2`, expected u32",
        ),
        (
            r#"{ "rules": [ { "name": "visit", "on": "visited", "reward": { "type": "fixed", "points": -1 } } ] }"#
                .to_string(),
            "rules[0]: field `reward`: field `points`: invalid value: integer `-1`, expected u64",
        ),
        (
            r#"{ "rules": [ { "name": 7, "on": "visited", "reward": { "type": "fixed", "points": 1 } } ] }"#
                .to_string(),
            "rules[0]: field `name`: invalid type: integer `7`",
        ),
        // The program's own fields.
        (
            program(r#", "global_daily_cap": { "points": -5 }"#),
            "field `global_daily_cap`: field `points`: invalid value: integer `-5`, expected u64",
        ),
        (
            program(r#", "global_daily_cap": { "count": -5 }"#),
            "field `global_daily_cap`: field `count`: invalid value: integer `-5`, expected u32",
        ),
        (
            program(r#", "expiry": { "type": "after_months", "months": 0.5 }"#),
            "field `expiry`: field `months`: invalid type: floating point `0.5`, expected u32",
        ),
        (
            program(r#", "utc_offset": 8"#),
            "field `utc_offset`: invalid type: integer `8`",
        ),
        (
            program(r#", "dedupe": { "horizon_hours": -1, "max_ids": 10 }"#),
            "field `dedupe`: field `horizon_hours`: invalid value: integer `-1`, expected u32",
        ),
        (
            program(r#", "ledger": { "statement_entries": -1 }"#),
            "field `ledger`: field `statement_entries`: invalid value: integer `-1`, expected u16",
        ),
        (
            r#"{ "rules": { "name": "visit" } }"#.to_string(),
            "field `rules`: invalid type: map, expected a list",
        ),
        // The tiers, streak and badges sections, down to the field.
        (
            program(
                r#", "tiers": { "basis": { "type": "points" }, "window": { "type": "anniversary_year" },
                   "tiers": [ { "name": "member", "threshold": 0 }, { "name": "vip", "threshold": -100 } ] }"#,
            ),
            "field `tiers`: tiers[1]: field `threshold`: invalid value: integer `-100`, expected u64",
        ),
        (
            program(
                r#", "tiers": { "basis": { "type": "points" }, "window": { "type": "rolling_days", "days": -1 },
                   "tiers": [ { "name": "member", "threshold": 0 } ] }"#,
            ),
            "field `tiers`: field `window`: invalid value: integer `-1`, expected u32",
        ),
        (
            program(r#", "streak": { "milestones": [ { "day": 7, "points": -50 } ] }"#),
            "field `streak`: milestones[0]: field `points`: invalid value: integer `-50`, expected u64",
        ),
        (
            program(r#", "streak": { "make_up": { "per_month": -1 } }"#),
            "field `streak`: field `make_up`: field `per_month`: invalid value",
        ),
        (
            program(
                r#", "badges": { "badges": [ { "name": "regular", "counter": { "type": "streak" },
                   "levels": [ { "at": 7 }, { "at": -30 } ] } ] }"#,
            ),
            "field `badges`: badges[0]: levels[1]: field `at`: invalid value: integer `-30`, expected u64",
        ),
    ];
    for (json, expected) in &cases {
        let err = serde_json::from_str::<ProgramSpec>(json)
            .map(|_| ())
            .map_err(|e| e.to_string());
        assert!(
            err.as_ref().is_err_and(|e| e.starts_with(expected)),
            "expected {expected:?}, got {err:?}"
        );
    }
    // Reading a field this way keeps its default and writes it as before.
    let plain = program("");
    let spec = serde_json::from_str::<ProgramSpec>(&plain).map_err(|e| e.to_string());
    let Ok(spec) = spec else {
        panic!("{spec:?}");
    };
    let rule = spec.rules.first().cloned();
    assert_eq!(
        rule,
        Some(RuleSpec::new(
            "visit",
            KindPattern::Kind(KindTag::Visited),
            Reward::Fixed { points: 1 }
        ))
    );
    assert_eq!(spec, ProgramSpec::new(spec.rules.clone()));
    let written = serde_json::to_string(&spec).map_err(|e| e.to_string());
    let back = written
        .as_deref()
        .map_err(Clone::clone)
        .and_then(|w| serde_json::from_str::<ProgramSpec>(w).map_err(|e| e.to_string()));
    assert_eq!(back.as_ref(), Ok(&spec));
}
