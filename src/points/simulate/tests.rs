use super::*;
use crate::analytics::Ratio;
use crate::event::{EventKind, Money};
use crate::id::EventId;
use crate::points::fixtures::{day, program, t};
use chrono::TimeDelta;

fn lesson(id: u64, user: u64, at: DateTime<Utc>) -> Event {
    let kind = EventKind::ActionCompleted {
        action: "lesson".into(),
    };
    Event::new(EventId(id), UserId(user), at, kind)
}

fn visit(id: u64, user: u64, at: DateTime<Utc>) -> Event {
    Event::new(EventId(id), UserId(user), at, EventKind::Visited)
}

fn purchase(id: u64, user: u64, yuan: i64, at: DateTime<Utc>) -> Event {
    let cny = "CNY".parse().unwrap_or_else(|_| unreachable!());
    let kind = EventKind::Purchase {
        amount: Money::new(yuan * 100, cny),
    };
    Event::new(EventId(id), UserId(user), at, kind)
}

/// +10 a lesson (2 a local day, trimmed); 1 point per ¥10, rounded down,
/// at most 50 points a lifetime, rejected whole beyond; +1 a visit, never
/// expiring. Program points expire 30 days after earning.
fn school() -> Program {
    program(
        r#"{ "utc_offset": "+08:00", "expiry": { "type": "after_days", "days": 30 },
             "rules": [
               { "name": "lesson", "on": "action_completed:lesson",
                 "reward": { "type": "fixed", "points": 10 }, "daily_cap": { "count": 2 } },
               { "name": "purchase", "on": "purchase", "cap_mode": "reject",
                 "reward": { "type": "per_amount", "points": 1, "per_minor": 1000, "rounding": "down" },
                 "lifetime_cap": { "points": 50 } },
               { "name": "visit", "on": "visited", "reward": { "type": "fixed", "points": 1 },
                 "expiry": { "type": "never" } }
             ] }"#,
    )
}

fn log(events: Vec<Event>) -> EventLog {
    EventLog::new(events)
}

#[test]
fn a_small_log_gives_exact_figures() {
    let p = school();
    let events = vec![
        lesson(1, 7, t(0)),
        lesson(2, 7, t(1)),
        lesson(3, 7, t(2)),        // third of the day: trimmed to 0
        purchase(4, 7, 300, t(3)), // 30 points
        purchase(5, 7, 300, t(4)), // 30 more would pass 50: rejected
        visit(6, 8, t(5)),
        visit(6, 8, t(6)), // redelivered
        lesson(7, 8, day(1)),
    ];
    let r = simulate(&p, &log(events), day(2));
    assert_eq!(
        (
            r.users,
            r.events,
            r.applied,
            r.duplicates,
            r.too_late,
            r.failed
        ),
        (2, 8, 7, 1, 0, 0)
    );
    let figures: Vec<(&str, u64, u64, u64, u64, u64)> = r
        .rules
        .iter()
        .map(|x| {
            (
                x.rule.as_str(),
                x.issued,
                x.awards,
                x.capped_awards,
                x.users_earning,
                x.users_capped,
            )
        })
        .collect();
    assert_eq!(
        figures,
        [
            ("lesson", 30, 3, 1, 2, 1),
            ("purchase", 30, 1, 1, 1, 1),
            ("visit", 1, 1, 0, 1, 0)
        ]
    );
    assert_eq!(
        (r.issued, r.redeemed, r.expired, r.outstanding),
        (61, 0, 0, 61)
    );
    assert_eq!(r.breakage(), Ratio::new(0, 61));
    assert_eq!(
        r.top_earners,
        [
            TopEarner {
                user: UserId(7),
                earned: 50
            },
            TopEarner {
                user: UserId(8),
                earned: 11
            }
        ]
    );
    assert!(r.is_conserved());
}

#[test]
fn expiry_at_as_of_is_breakage() {
    let p = school();
    let events = vec![lesson(1, 1, t(0)), visit(2, 1, t(0))];
    // Lesson points expire at exactly t(0) + 30 days: still there an
    // instant before, gone at it.
    let end = t(0) + TimeDelta::days(30);
    let before = simulate(&p, &log(events.clone()), end - TimeDelta::nanoseconds(1));
    assert_eq!((before.expired, before.outstanding), (0, 11));
    let at = simulate(&p, &log(events), end);
    assert_eq!((at.expired, at.outstanding), (10, 1));
    assert_eq!(at.breakage(), Ratio::new(10, 11));
    assert_eq!(
        at.liability,
        [Liability {
            valid_through: ValidThrough::Never,
            points: 1
        }]
    );
    assert!(at.is_conserved());
}

#[test]
fn users_capped_counts_each_user_once_per_rule() {
    let p = school();
    // User 1 is capped twice by the lesson rule on two days, user 2 once,
    // user 3 never.
    let mut events = Vec::new();
    let mut id = 0;
    for (user, per_day, days) in [(1u64, 4, 2), (2, 3, 1), (3, 2, 3)] {
        for d in 0..days {
            for i in 0..per_day {
                id += 1;
                events.push(lesson(id, user, day(d) + TimeDelta::minutes(i)));
            }
        }
    }
    let r = simulate(&p, &log(events), day(5));
    let lessons = r.rule("lesson").cloned().unwrap_or_else(|| unreachable!());
    assert_eq!(lessons.capped_awards, 4 + 1);
    assert_eq!(lessons.users_capped, 2);
    assert_eq!(lessons.users_earning, 3);
    assert_eq!(lessons.issued, 10 * (4 + 2 + 6));
}

#[test]
fn liability_is_bucketed_by_local_month_across_a_month_end() {
    // 30-day expiry: earned 1 March 16:00 UTC (midnight in Beijing), it
    // expires 31 March 16:00 UTC = 1 April 00:00 in Beijing, so it is valid
    // through March. An hour later, it expires at 01:00 on 1 April local:
    // valid through April, though both expiry instants are in March in UTC.
    let p = school();
    let midnight = Utc
        .with_ymd_and_hms(2026, 3, 1, 16, 0, 0)
        .single()
        .unwrap_or_default();
    let events = vec![
        lesson(1, 1, midnight),
        lesson(2, 2, midnight + TimeDelta::hours(1)),
        lesson(3, 2, midnight + TimeDelta::hours(2)),
        visit(4, 3, midnight),
    ];
    let r = simulate(&p, &log(events), midnight + TimeDelta::days(1));
    assert_eq!(
        r.liability,
        [
            Liability {
                valid_through: ValidThrough::Month {
                    year: 2026,
                    month: 3
                },
                points: 10
            },
            Liability {
                valid_through: ValidThrough::Month {
                    year: 2026,
                    month: 4
                },
                points: 20
            },
            Liability {
                valid_through: ValidThrough::Never,
                points: 1
            },
        ]
    );
    // In UTC both expiries would fall in March.
    let utc = crate::time::UtcOffset::default().zone();
    let expiry = midnight + TimeDelta::hours(1) + TimeDelta::days(30);
    assert_eq!(
        ValidThrough::of(Some(expiry), &utc),
        ValidThrough::Month {
            year: 2026,
            month: 3
        }
    );
}

#[test]
fn events_too_late_for_the_daily_tallies_are_counted_not_applied() {
    let p = school();
    // A lesson nine days before one already taken cannot be checked
    // against its day's cap.
    let events = vec![lesson(1, 1, day(9)), lesson(2, 1, day(0))];
    let r = simulate(&p, &log(events), day(10));
    assert_eq!((r.applied, r.too_late, r.issued), (1, 1, 10));
}

/// Each event of `events` through `p.apply` on one ledger per user, in
/// order: (applied, duplicates, too late, points issued).
fn online(p: &Program, events: &[Event]) -> (u64, u64, u64, u64) {
    let mut ledgers = std::collections::HashMap::new();
    let mut o = (0, 0, 0, 0);
    for e in events {
        let ledger = ledgers.entry(e.user).or_insert_with(|| p.new_ledger());
        match p.apply(ledger, e) {
            Ok(earned) if earned.duplicate => o.1 += 1,
            Ok(earned) => (o.0, o.3) = (o.0 + 1, o.3 + earned.total),
            Err(PointsError::TooLate { .. }) => o.2 += 1,
            Err(e) => unreachable!("{e}"),
        }
    }
    o
}

/// [`online`] through an account per user and `p.earn`.
fn online_accounts(p: &Program, events: &[Event]) -> (u64, u64, u64, u64) {
    let mut accounts = std::collections::HashMap::new();
    let mut o = (0, 0, 0, 0);
    for e in events {
        let account = accounts
            .entry(e.user)
            .or_insert_with(|| p.open_account(e.user, e.at));
        match p.earn(account, e, None) {
            Ok(out) if out.earned.duplicate => o.1 += 1,
            Ok(out) => (o.0, o.3) = (o.0 + 1, o.3 + out.earned.total + out.bonus_total),
            Err(AccountError::Points(PointsError::TooLate { .. })) => o.2 += 1,
            Err(e) => unreachable!("{e}"),
        }
    }
    o
}

#[test]
fn the_window_of_ids_judges_as_online_after_events_out_of_order() {
    // A window of one id forgets an id as soon as the next arrives.
    let rules = r#""utc_offset": "+08:00", "dedupe": { "horizon_hours": 1, "max_ids": 1 },
        "rules": [ { "name": "visit", "on": "visited", "reward": { "type": "fixed", "points": 1 } } ]"#;
    let p = program(&format!("{{ {rules} }}"));
    // The same through accounts: a badge at two visits, worth 5.
    let with_badge = program(&format!(
        r#"{{ {rules}, "badges": {{ "badges": [ {{ "name": "regular",
              "counter": {{ "type": "events", "on": "visited" }},
              "levels": [ {{ "name": "bronze", "at": 2, "points": 5 }} ] }} ] }} }}"#
    ));
    let events = vec![
        // Ids and times increasing, then a third event at the time of the
        // forgotten first: too late.
        visit(1, 1, t(0)),
        visit(2, 1, t(1)),
        visit(3, 1, t(1)),
        // The same, at the same instant throughout.
        visit(1, 2, t(5)),
        visit(2, 2, t(5)),
        visit(3, 2, t(5)),
        // A redelivery of the newest id, then a fresh event after it.
        visit(10, 3, t(0)),
        visit(11, 3, t(2)),
        visit(11, 3, t(2)),
        visit(12, 3, t(3)),
        // An id below the newest, later in time.
        visit(20, 4, t(0)),
        visit(19, 4, t(1)),
        visit(21, 4, t(2)),
        // A redelivery stamped anew: the same id, later.
        visit(30, 5, t(0)),
        visit(30, 5, t(1)),
    ];
    let r = simulate(&p, &log(events.clone()), day(1));
    let expected = online(&p, &events);
    assert_eq!((r.applied, r.duplicates, r.too_late, r.issued), expected);
    assert!(expected.1 > 0 && expected.2 > 0, "{expected:?}");
    let r = simulate(&with_badge, &log(events.clone()), day(1));
    let expected = online_accounts(&with_badge, &events);
    assert_eq!((r.applied, r.duplicates, r.too_late, r.issued), expected);
    assert!(expected.3 > r.applied, "bonuses: {expected:?}");
}

#[test]
fn an_event_that_failed_is_not_remembered_as_taken() {
    // The second award would overflow the points earned: it fails, and its
    // redelivery is tried (and fails) again, as online.
    let p = program(
        r#"{ "utc_offset": "+08:00",
             "rules": [ { "name": "visit", "on": "visited", "reward": { "type": "fixed", "points": 10000000000000000000 } } ] }"#,
    );
    let events = vec![visit(1, 1, t(0)), visit(2, 1, t(1)), visit(2, 1, t(2))];
    let r = simulate(&p, &log(events.clone()), day(1));
    assert_eq!((r.applied, r.duplicates, r.failed), (1, 0, 2));
    let mut ledger = p.new_ledger();
    let online: Vec<bool> = events
        .iter()
        .map(|e| p.apply(&mut ledger, e).is_ok())
        .collect();
    assert_eq!(online, [true, false, false]);
}

#[test]
fn a_refund_of_a_purchase_that_earned_no_points_is_unmatched_under_a_ladder_too() {
    // Purchases earn no points; a spend ladder counts them, and the refund
    // takes the spend back from it.
    let p = program(
        r#"{ "utc_offset": "+08:00",
             "rules": [{ "name": "visit", "on": "visited", "reward": { "type": "fixed", "points": 10 } }],
             "tiers": { "basis": { "type": "spend", "currency": "CNY" },
                        "window": { "type": "rolling_days", "days": 365 },
                        "tiers": [ { "name": "member", "threshold": 0 },
                                   { "name": "gold", "threshold": 10000 } ] } }"#,
    );
    let events = vec![
        visit(1, 1, t(0)),
        purchase(2, 1, 200, t(1)),
        refund(3, 1, 200, t(2)),
    ];
    let r = Simulation::new(&p, day(1))
        .reversing_refunds()
        .run(&log(events.clone()));
    assert_eq!((r.reversals, r.refunds_unmatched, r.reversed), (0, 1, 0));
    let gold = r.tiers.iter().find(|t| t.tier.as_str() == "gold");
    assert_eq!(gold.map(|t| t.members), Some(0), "{:?}", r.tiers);
    // Without the refund, the purchase makes the member gold.
    let r = Simulation::new(&p, day(1))
        .reversing_refunds()
        .run(&log(events[..2].to_vec()));
    let gold = r.tiers.iter().find(|t| t.tier.as_str() == "gold");
    assert_eq!(gold.map(|t| t.members), Some(1), "{:?}", r.tiers);
}

/// A point per ¥1 spent and 100 a visit, under `clamp`, with a dedupe
/// window of one id for an hour: a refund seen again hours later is new
/// to the ledger, and only its operation key can recognise it.
fn forgetful_buys() -> Program {
    program(
        r#"{ "dedupe": { "horizon_hours": 1, "max_ids": 1 },
             "ledger": { "clawback": "clamp" },
             "rules": [
               { "name": "buy", "on": "purchase",
                 "reward": { "type": "per_amount", "points": 1, "per_minor": 100, "rounding": "down" } },
               { "name": "visit", "on": "visited", "reward": { "type": "fixed", "points": 100 } } ] }"#,
    )
}

#[test]
fn a_refund_seen_again_after_the_dedupe_window_refunds_nothing_more() {
    // The dedupe window remembers one id for an hour: the refund's id is
    // forgotten when it comes again at 5h, and the ledger takes the event
    // as new, but the reversal's key is remembered, and its first result
    // is the answer. The report is that of the log without it, but for
    // the events counted. Before, it counted a second reversal and took
    // the earlier purchase as refunded.
    let p = forgetful_buys();
    let hour = |h| t(0) + TimeDelta::hours(h);
    let once = vec![
        purchase(1, 1, 100, hour(0)),
        purchase(2, 1, 100, hour(1)),
        refund(3, 1, 100, hour(2)),
        visit(4, 1, hour(3)),
    ];
    let mut twice = once.clone();
    twice.push(refund(3, 1, 100, hour(5)));
    let run = |events: Vec<Event>| {
        Simulation::new(&p, hour(10))
            .reversing_refunds()
            .run(&log(events))
    };
    let (a, b) = (run(once), run(twice));
    assert_eq!((b.reversals, b.refunds_unmatched, b.reversed), (1, 0, 100));
    assert_eq!(
        (b.issued, b.forgiven, b.owed, b.outstanding),
        (a.issued, a.forgiven, a.owed, a.outstanding)
    );
    assert_eq!((a.events, b.events), (4, 5));
}

#[test]
fn redemptions_push_a_refund_s_key_out_of_the_ledger_s_memory_as_the_host_s_do() {
    // Spending a point at a time, the host makes 100 redemptions after
    // each 100 points earned: the ledger remembers the last 64 operation
    // keys, so the first refund's key is forgotten by the time the refund
    // comes again (its id forgotten by the dedupe window too), and the
    // host reverses the rest of the purchase. The simulation redeems the
    // 100 points at once, but must forget as much as 100 redemptions do.
    let p = forgetful_buys();
    let hour = |h| t(0) + TimeDelta::hours(h);
    let events = vec![
        purchase(1, 1, 100, hour(0)),
        refund(2, 1, 50, hour(1)),
        visit(3, 1, hour(2)),
        refund(2, 1, 50, hour(5)),
    ];
    let r = Simulation::new(&p, hour(10))
        .redeeming(1)
        .reversing_refunds()
        .run(&log(events.clone()));

    // The host: each event applied, then a point redeemed at a time, then
    // the refund reversed as `reversing_refunds` describes.
    let mut ledger = p.new_ledger();
    let (mut redemptions, mut reversals, mut refunded) = (0u64, 0u64, 0i64);
    for e in &events {
        let earned = p.apply(&mut ledger, e).map(|out| out.total);
        if earned.is_ok_and(|total| total > 0) {
            while ledger.spendable(e.at) >= 1 {
                let key = format!("spend-{redemptions}").into();
                if ledger.redeem(key, 1, e.at).is_err() {
                    break;
                }
                redemptions += 1;
            }
        }
        if let EventKind::Refund { amount } = e.kind {
            let portion = match refunded + amount.minor {
                10_000 => Portion::Whole {},
                _ => Portion::Share {
                    numerator: amount.minor.unsigned_abs(),
                    denominator: 10_000,
                },
            };
            let key = format!("refund-{}", e.id.0).into();
            let done = p.reverse(&mut ledger, key, EventId(1), portion, e.at);
            if let Ok(reversal) = done
                && !reversal.repeated
            {
                refunded += amount.minor;
                reversals += u64::from(reversal.points > 0);
            }
        }
    }
    ledger.expire(hour(10));
    assert_eq!((redemptions, reversals, ledger.forgiven()), (200, 2, 100));
    assert_eq!(
        (r.redemptions, r.reversals, r.forgiven, r.redeemed),
        (redemptions, reversals, ledger.forgiven(), ledger.redeemed())
    );
    assert!(r.is_conserved());
}

#[test]
fn a_refund_of_a_pointless_purchase_does_not_hold_back_the_earlier_ones() {
    // The lifetime cap rejects the second purchase whole: it earns nothing.
    // Each purchase is then refunded in full, latest first: the second
    // refund is of the first purchase, which earned 30 points.
    let events = vec![
        purchase(1, 1, 300, t(0)), // 30 points
        purchase(2, 1, 300, t(1)), // rejected by the cap: 0 points
        refund(3, 1, 300, t(2)),   // refunds purchase 2: nothing to reverse
        refund(4, 1, 300, t(3)),   // refunds purchase 1: 30 points back
    ];
    let r = Simulation::new(&school(), day(1))
        .reversing_refunds()
        .run(&log(events));
    assert_eq!((r.reversals, r.refunds_unmatched), (1, 1));
    assert_eq!((r.issued, r.reversed, r.outstanding), (30, 30, 0));
}

#[test]
fn spending_redeems_whenever_the_price_is_affordable() {
    let p = school();
    let events: Vec<Event> = (0..12).map(|i| lesson(i, 1, day(i as i64))).collect();
    let r = Simulation::new(&p, day(12)).redeeming(25).run(&log(events));
    // 10 a day: a redemption on days 2, 4, 7 and 9; 120 earned, 100 spent.
    assert_eq!((r.issued, r.redemptions, r.redeemed), (120, 4, 100));
    assert_eq!(r.outstanding, 20);
    assert!(r.is_conserved());
    // A price of 0 is no spending.
    let none = Simulation::new(&p, day(12))
        .redeeming(0)
        .run(&log(vec![lesson(1, 1, t(0))]));
    assert_eq!(none.redemptions, 0);
}

#[test]
fn spending_a_large_balance_a_point_at_a_time_ends() {
    // A trillion points, at a price of one: as many redemptions, counted
    // without making each (a loop of them would not end in any useful
    // time), and the same points spent.
    let p = program(
        r#"{ "rules": [{ "name": "jackpot", "on": "visited",
                          "reward": { "type": "fixed", "points": 1000000000000 } }] }"#,
    );
    let r = Simulation::new(&p, day(1))
        .redeeming(1)
        .run(&log(vec![visit(1, 1, t(0)), visit(2, 1, t(1))]));
    assert_eq!(
        (r.redemptions, r.redeemed),
        (2_000_000_000_000, 2_000_000_000_000)
    );
    assert_eq!(r.outstanding, 0);
    assert!(r.is_conserved());
}

#[test]
fn counts_over_members_stick_at_the_largest_number_as_merged_shards_do() {
    // Two members of 2^63 points each, spending a point at a time: 2^63
    // redemptions each, too many for their sum.
    let p = program(
        r#"{ "rules": [{ "name": "jackpot", "on": "visited",
                          "reward": { "type": "fixed", "points": 9223372036854775808 } }] }"#,
    );
    let run = |events| Simulation::new(&p, day(1)).redeeming(1).run(&log(events));
    let mut merged = run(vec![visit(1, 1, t(0))]);
    assert_eq!(merged.redemptions, 1 << 63);
    assert_eq!(merged.merge(&run(vec![visit(2, 2, t(0))])), Ok(()));
    let whole = run(vec![visit(1, 1, t(0)), visit(2, 2, t(0))]);
    assert_eq!(whole.redemptions, u64::MAX);
    assert_eq!(whole, merged);
}

#[test]
fn sums_past_the_largest_number_stick_there_and_may_break_conservation() {
    // Two members of 2^63 points each, one's expired by `as_of`: each
    // member's figures are exact, but the sum issued sticks at u64::MAX
    // (rather than wrapping) while expired and outstanding are exact, so
    // the report is not conserved, as its docs say.
    let p = program(
        r#"{ "expiry": { "type": "after_days", "days": 1 },
             "rules": [{ "name": "jackpot", "on": "visited",
                          "reward": { "type": "fixed", "points": 9223372036854775808 } }] }"#,
    );
    let as_of = day(5) + TimeDelta::hours(1);
    let run = |events| simulate(&p, &log(events), as_of);
    let one = run(vec![visit(1, 1, t(0))]);
    assert!(one.is_conserved());
    let two = run(vec![visit(1, 1, t(0)), visit(2, 2, day(5))]);
    assert_eq!(
        (two.issued, two.expired, two.outstanding),
        (u64::MAX, 1 << 63, 1 << 63)
    );
    assert!(!two.is_conserved());
    let mut merged = one.clone();
    assert_eq!(merged.merge(&run(vec![visit(2, 2, day(5))])), Ok(()));
    assert_eq!(merged, two);
}

#[test]
fn top_earners_break_ties_by_user_id() {
    let p = school();
    let events = vec![
        visit(1, 30, t(0)),
        visit(2, 10, t(0)),
        lesson(3, 20, t(0)),
        visit(4, 40, t(0)),
    ];
    let r = Simulation::new(&p, day(1))
        .top_earners(3)
        .run(&log(events.clone()));
    let top: Vec<(u64, u64)> = r.top_earners.iter().map(|e| (e.user.0, e.earned)).collect();
    assert_eq!(top, [(20, 10), (10, 1), (30, 1)]);
    let none = Simulation::new(&p, day(1)).top_earners(0).run(&log(events));
    assert!(none.top_earners.is_empty());
}

#[test]
fn shards_of_users_merge_into_the_whole() {
    let p = school();
    let events = vec![
        lesson(1, 1, t(0)),
        purchase(2, 2, 120, t(1)),
        lesson(3, 1, t(2)),
        lesson(4, 1, t(3)),
        visit(5, 3, t(4)),
        lesson(6, 2, day(40)),
    ];
    let as_of = day(35);
    let whole = simulate(&p, &log(events.clone()), as_of);
    let (odd, even): (Vec<Event>, Vec<Event>) = events.into_iter().partition(|e| e.user.0 % 2 == 1);
    let mut merged = simulate(&p, &log(odd), as_of);
    let other = simulate(&p, &log(even), as_of);
    assert_eq!(merged.merge(&other), Ok(()));
    // Slot order differs, but every figure is the same.
    assert_eq!(merged, whole);

    let later = simulate(&p, &log(Vec::new()), day(36));
    let before = merged.clone();
    assert!(matches!(
        merged.merge(&later),
        Err(SimulationError::AsOfMismatch { .. })
    ));
    let other_program = program(
        r#"{ "rules": [{ "name": "visit", "on": "visited", "reward": { "type": "fixed", "points": 1 } }] }"#,
    );
    let mismatch = merged.merge(&simulate(&other_program, &log(Vec::new()), as_of));
    assert_eq!(
        mismatch.map_err(|e| e.to_string()),
        Err(
            "cannot merge reports of different programs: rule 0 is lesson in one, visit in the other"
                .into()
        )
    );
    assert_eq!(merged, before);
}

#[test]
fn diff_has_signs() {
    let generous = school();
    let stingy = program(
        r#"{ "utc_offset": "+08:00", "expiry": { "type": "after_days", "days": 30 },
             "rules": [
               { "name": "lesson", "on": "action_completed:lesson",
                 "reward": { "type": "fixed", "points": 5 }, "daily_cap": { "count": 1 } },
               { "name": "checkin", "on": "check_in", "reward": { "type": "fixed", "points": 3 } }
             ] }"#,
    );
    let events = vec![
        lesson(1, 1, t(0)),
        lesson(2, 1, t(1)),
        visit(3, 1, t(2)),
        Event::new(
            EventId(4),
            UserId(1),
            t(3),
            EventKind::CheckIn { community: None },
        ),
    ];
    let as_of = day(40);
    let a = simulate(&generous, &log(events.clone()), as_of);
    let b = simulate(&stingy, &log(events), as_of);
    let d = diff(&a, &b);
    let rules: Vec<(&str, i128, i128)> = d
        .rules
        .iter()
        .map(|r| (r.rule.as_str(), r.issued.delta, r.users_capped.delta))
        .collect();
    assert_eq!(
        rules,
        [
            ("lesson", -15, 1),
            ("purchase", 0, 0),
            ("visit", -1, 0),
            ("checkin", 3, 0)
        ]
    );
    assert_eq!(d.issued, Change::new(21, 8));
    assert_eq!(d.issued.delta, -13);
    // Everything but the never-expiring visit point lapsed under the first.
    assert_eq!(d.expired.delta, 8 - 20);
    assert_eq!(d.outstanding, Change::new(1, 0));
    assert_eq!(
        (d.breakage_before, d.breakage_after),
        (Ratio::new(20, 21), Ratio::new(8, 8))
    );
    assert!(d.breakage_change().is_some_and(|c| c > 0.0));
    assert_eq!(
        d.liability,
        [LiabilityChange {
            valid_through: ValidThrough::Never,
            points: Change::new(1, 0)
        }]
    );
    let text = d.to_string();
    assert!(text.contains("issued       21 → 8 (−13)"), "{text}");
    assert!(text.contains("checkin"), "{text}");
    // The reverse comparison flips every sign.
    let back = diff(&b, &a);
    assert_eq!(back.issued.delta, 13);
}

#[test]
fn report_prints_as_a_table_and_round_trips_through_json() {
    let p = school();
    let events = vec![lesson(1, 1, t(0)), lesson(2, 1, t(1)), lesson(3, 1, t(2))];
    let r = simulate(&p, &log(events), day(31));
    let text = r.to_string();
    assert!(text.starts_with("simulation as of 2026-04-01 00:00:00 UTC: 1 users, 3 events"));
    assert!(
        text.contains("lesson              20           2           1"),
        "{text}"
    );
    assert!(text.contains("expired 20 (breakage 100.00%)"), "{text}");
    let json = serde_json::to_string(&r).unwrap_or_default();
    let back: SimulationReport =
        serde_json::from_str(&json).unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(back, r);
    let d = diff(&r, &r);
    let json = serde_json::to_string(&d).unwrap_or_default();
    let back: SimulationDiff = serde_json::from_str(&json).unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(back, d);
}

#[test]
fn an_empty_log_reports_nothing() {
    let r = simulate(&school(), &log(Vec::new()), t(0));
    assert_eq!((r.users, r.events, r.issued), (0, 0, 0));
    assert_eq!(r.breakage().value(), None);
    assert_eq!(r.rules.len(), 3);
    assert!(r.is_conserved());
    assert!(r.to_string().contains("breakage n/a"));
}

fn refund(id: u64, user: u64, yuan: i64, at: DateTime<Utc>) -> Event {
    let cny = "CNY".parse().unwrap_or_else(|_| unreachable!());
    let kind = EventKind::Refund {
        amount: Money::new(yuan * 100, cny),
    };
    Event::new(EventId(id), UserId(user), at, kind)
}

#[test]
fn refunds_reverse_the_latest_purchase_by_the_share_refunded() {
    let p = school();
    let events = vec![
        refund(1, 1, 50, t(0)),    // nothing bought yet
        purchase(2, 1, 300, t(1)), // 30 points
        refund(3, 1, 100, t(2)),   // a third: 10 points back
        refund(4, 1, 500, t(3)),   // only ¥200 is left to refund: 20 points
        refund(5, 1, 10, t(4)),    // wholly refunded already
        visit(6, 1, t(5)),
    ];
    let r = Simulation::new(&p, day(1))
        .reversing_refunds()
        .run(&log(events.clone()));
    assert_eq!((r.reversals, r.refunds_unmatched), (2, 2));
    assert_eq!((r.issued, r.reversed, r.outstanding), (31, 30, 1));
    assert_eq!((r.owed, r.forgiven), (0, 0));
    assert!(r.is_conserved());
    assert!(r.to_string().contains("reversed 30 (2 refunds)"));
    // Without the habit, refunds are events like any other.
    let plain = simulate(&p, &log(events), day(1));
    assert_eq!(
        (plain.reversals, plain.reversed, plain.outstanding),
        (0, 0, 31)
    );
}

#[test]
fn a_purchase_refunded_in_parts_is_reversed_whole() {
    // ¥100 earns 10 points; refunds of ¥33, ¥33 and ¥34 take back 3, 3
    // (each share rounded down) and then the 4 that are left.
    let events = vec![
        purchase(1, 1, 100, t(0)),
        refund(2, 1, 33, t(1)),
        refund(3, 1, 33, t(2)),
        refund(4, 1, 34, t(3)),
    ];
    let r = Simulation::new(&school(), day(1))
        .reversing_refunds()
        .run(&log(events));
    assert_eq!((r.reversals, r.refunds_unmatched), (3, 0));
    assert_eq!((r.issued, r.reversed, r.outstanding), (10, 10, 0));
    assert!(r.is_conserved());
}

#[test]
fn a_refund_of_spent_points_follows_the_clawback_policy() {
    let p = program(
        r#"{ "ledger": { "clawback": "debt" }, "rules": [{ "name": "buy", "on": "purchase",
             "reward": { "type": "per_amount", "points": 1, "per_minor": 100, "rounding": "down" } }] }"#,
    );
    let events = vec![purchase(1, 1, 100, t(0)), refund(2, 1, 100, t(60))];
    let r = Simulation::new(&p, day(1))
        .redeeming(80)
        .reversing_refunds()
        .run(&log(events));
    // 100 earned, 80 spent: the refund takes back 20 and 80 are owed.
    assert_eq!(
        (r.redeemed, r.reversed, r.owed, r.outstanding),
        (80, 20, 80, 0)
    );
    assert!(r.is_conserved());
    assert!(
        r.to_string()
            .contains("owed 80, forgiven 0, 0 refunds unmatched")
    );
}

/// A point a visit, expiring 30 days later, in `zone`.
fn visits_expiring_in_30_days(zone: chrono_tz::Tz) -> Program<chrono_tz::Tz> {
    let spec: crate::points::ProgramSpec = serde_json::from_str(
        r#"{ "expiry": { "type": "after_days", "days": 30 },
             "rules": [{ "name": "visit", "on": "visited", "reward": { "type": "fixed", "points": 1 } }] }"#,
    )
    .unwrap_or_else(|e| unreachable!("{e}"));
    spec.validate_in(zone)
        .unwrap_or_else(|e| unreachable!("{e}"))
}

#[test]
fn liability_months_follow_an_iana_zone_across_its_dst_change() {
    // New York: DST starts 8 March 2026, so local midnight on 1 April is
    // 04:00 UTC, on 1 March 05:00 UTC. Lots expire 30 days after events
    // every 20 minutes around the ends of February and March.
    let zone = chrono_tz::America::New_York;
    let p = visits_expiring_in_30_days(zone);
    let starts = [
        Utc.with_ymd_and_hms(2026, 1, 30, 3, 0, 0),
        Utc.with_ymd_and_hms(2026, 3, 2, 2, 0, 0),
    ];
    let mut events = Vec::new();
    for start in starts.iter().filter_map(|s| s.single()) {
        for i in 0..12 {
            let id = events.len() as u64;
            events.push(visit(id, id % 3, start + TimeDelta::minutes(20 * i)));
        }
    }
    let as_of = Utc
        .with_ymd_and_hms(2026, 1, 31, 0, 0, 0)
        .single()
        .unwrap_or_default();
    let r = simulate(&p, &log(events.clone()), as_of);
    let mut expected: std::collections::BTreeMap<ValidThrough, u64> = Default::default();
    for e in &events {
        let expires = e.at + TimeDelta::days(30);
        if expires > as_of {
            *expected
                .entry(ValidThrough::of(Some(expires), &zone))
                .or_default() += 1;
        }
    }
    let got: std::collections::BTreeMap<ValidThrough, u64> = r
        .liability
        .iter()
        .map(|l| (l.valid_through, l.points))
        .collect();
    assert_eq!(got, expected);
    // Both local month ends are crossed (at 05:00 UTC in winter, 04:00 in
    // summer): points valid through February, March and April.
    assert_eq!(got.len(), 3, "{got:?}");
}

fn check_in(id: u64, user: u64, at: DateTime<Utc>) -> Event {
    Event::new(
        EventId(id),
        UserId(user),
        at,
        EventKind::CheckIn { community: None },
    )
}

/// +10 a check-in; a 30-point bonus on the third day of a streak; gold
/// (×2) from 40 rule points in a rolling 30 days, without grace.
fn studious(gold: &str) -> Program {
    program(&format!(
        r#"{{ "utc_offset": "+08:00",
             "rules": [{{ "name": "check_in", "on": "check_in",
                          "reward": {{ "type": "fixed", "points": 10 }} }}],
             "streak": {{ "milestones": [{{ "day": 3, "points": 30 }}] }},
             "tiers": {{ "basis": {{ "type": "points" }},
                         "window": {{ "type": "rolling_days", "days": 30 }},
                         "tiers": [{{ "name": "member", "threshold": 0 }},
                                   {{ "name": "{gold}", "threshold": 40, "multiplier": 2 }}] }} }}"#
    ))
}

#[test]
fn an_event_naming_a_bonus_lot_is_counted_as_failed() {
    // The streak bonus on day 3 takes the top id for its lot: an event
    // with that id is refused, not for an overflow, and counted as failed.
    let p = studious("gold");
    let mut events: Vec<Event> = (0..3).map(|d| check_in(d, 1, day(d as i64))).collect();
    events.push(check_in(u64::MAX, 1, day(4)));
    let r = simulate(&p, &log(events), day(5));
    assert_eq!((r.applied, r.failed, r.too_late), (3, 1, 0));
    let online = {
        let mut account = p.open_account(UserId(1), day(0));
        let events: Vec<Event> = (0..3).map(|d| check_in(d, 1, day(d as i64))).collect();
        for e in &events {
            let _ = p.earn(&mut account, e, None);
        }
        p.earn(&mut account, &check_in(u64::MAX, 1, day(4)), None)
    };
    assert!(matches!(
        online,
        Err(AccountError::ReservedEventId {
            id: EventId(u64::MAX)
        })
    ));
}

#[test]
fn streak_bonuses_and_tier_multipliers_are_simulated() {
    let p = studious("gold");
    // User 1 checks in five days running: 10, 10, 10 and the day-3
    // bonus of 30, 10 (40 rule points: gold from the next event), then
    // 10 × 2. User 2 checks in once.
    let mut events: Vec<Event> = (0..5).map(|d| check_in(d as u64, 1, day(d))).collect();
    events.push(check_in(9, 2, t(5)));
    let r = simulate(&p, &log(events.clone()), day(10));
    assert_eq!(r.rule("check_in").map(|x| x.issued), Some(70));
    assert_eq!(
        r.bonuses,
        [BonusReport {
            bonus: "streak day 3".into(),
            issued: 30,
            awards: 1,
            users_earning: 1,
        }]
    );
    assert_eq!(r.issued, 100);
    assert!(r.is_conserved());
    let members: Vec<(&str, u64)> = r
        .tiers
        .iter()
        .map(|t| (t.tier.as_str(), t.members))
        .collect();
    assert_eq!(members, [("member", 1), ("gold", 1)]);
    let text = r.to_string();
    assert!(
        text.contains("streak day 3            30           1              1"),
        "{text}"
    );
    assert!(text.contains("members by tier:\n  member"), "{text}");

    // Evaluated 45 days on, gold has nothing left in its window: demoted.
    let later = simulate(&p, &log(events), day(45));
    let members: Vec<u64> = later.tiers.iter().map(|t| t.members).collect();
    assert_eq!(members, [2, 0]);
    assert_eq!(later.issued, 100);
}

#[test]
fn reports_with_bonuses_merge_and_refuse_another_ladder() {
    let p = studious("gold");
    let events: Vec<Event> = (0..6)
        .map(|i| check_in(i, i % 2, day(i as i64 / 2)))
        .collect();
    let as_of = day(10);
    let whole = simulate(&p, &log(events.clone()), as_of);
    let (odd, even): (Vec<Event>, Vec<Event>) = events.into_iter().partition(|e| e.user.0 == 1);
    let mut merged = simulate(&p, &log(odd), as_of);
    assert_eq!(merged.merge(&simulate(&p, &log(even), as_of)), Ok(()));
    assert_eq!(merged, whole);
    assert_eq!(whole.bonuses.first().map(|b| b.users_earning), Some(2));

    let before = merged.clone();
    let other = simulate(&studious("silver"), &log(Vec::new()), as_of);
    assert_eq!(
        merged.merge(&other).map_err(|e| e.to_string()),
        Err(
            "cannot merge reports of different programs: tier 1 is gold in one, silver in the other"
                .into()
        )
    );
    assert_eq!(merged, before);

    // A diff lists bonuses and tiers of either side.
    let plain = simulate(&school(), &log(Vec::new()), as_of);
    let d = diff(&plain, &whole);
    assert_eq!(
        d.bonuses.first().map(|b| b.issued),
        Some(Change::new(0, 60))
    );
    let tiers: Vec<(&str, Change)> = d
        .tiers
        .iter()
        .map(|t| (t.tier.as_str(), t.members))
        .collect();
    // 30 rule points each: nobody reaches gold.
    assert_eq!(
        tiers,
        [("member", Change::new(0, 2)), ("gold", Change::new(0, 0))]
    );
}

#[test]
fn a_report_from_before_bonuses_and_tiers_still_reads() {
    let r = simulate(&school(), &log(vec![lesson(1, 1, t(0))]), day(1));
    let mut json = serde_json::to_value(&r).unwrap_or_default();
    if let Some(fields) = json.as_object_mut() {
        fields.remove("bonuses");
        fields.remove("tiers");
    }
    let back: SimulationReport =
        serde_json::from_value(json).unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(back, r);
}

#[test]
fn a_step_failing_partway_is_redone_as_the_online_path_has_it() {
    // The rule awards 2⁶³ points; the first day's streak bonus as many
    // again overflows the ledger after the award is in. Online, the whole
    // step fails and changes nothing; the simulation gives up its pass in
    // place and runs the member again with a copy per event.
    let p = program(&format!(
        r#"{{ "rules": [{{ "name": "check_in", "on": "check_in",
                           "reward": {{ "type": "fixed", "points": {big} }} }}],
             "streak": {{ "milestones": [{{ "day": 1, "points": {big} }}] }} }}"#,
        big = 1u64 << 63
    ));
    let events = vec![
        check_in(1, 1, t(0)),
        lesson(2, 1, t(1)),
        check_in(3, 2, t(2)),
    ];
    let r = simulate(&p, &log(events.clone()), day(1));
    let mut account = p.open_account(UserId(1), t(0));
    let online = p.earn(&mut account, &events[0], None);
    assert!(matches!(
        online,
        Err(AccountError::Points(PointsError::Overflow))
    ));
    assert_eq!(account.ledger().earned(), 0);
    assert_eq!((r.applied, r.failed), (1, 2));
    assert_eq!(r.issued, 0);
    assert!(r.is_conserved());
}

#[test]
fn tiers_evaluated_daily_are_lowered_as_a_host_s_daily_job_would() {
    // Gold (×2, no grace) from 40 points in a rolling 30 days: reached on
    // day 3, lost once those points leave the window. A check-in on day
    // 100 earns ×1 where the host evaluates daily.
    let p = studious("gold");
    let mut events: Vec<Event> = (0..4).map(|d| check_in(d as u64, 1, day(d))).collect();
    events.push(check_in(9, 1, day(100)));
    let mut account = p.open_account(UserId(1), day(0));
    let mut online = 0;
    for e in &events {
        assert!(p.evaluate_account(&mut account, e.at).is_ok());
        let out = p.earn(&mut account, e, None);
        online += out.map_or(0, |o| o.earned.total);
    }
    let daily = Simulation::new(&p, day(101))
        .evaluating_tiers_daily()
        .run(&log(events.clone()));
    assert_eq!(daily.rule("check_in").map(|x| x.issued), Some(online));
    // Evaluated only at the end, gold doubles the last check-in too.
    let once = simulate(&p, &log(events), day(101));
    assert_eq!(once.rule("check_in").map(|x| x.issued), Some(online + 10));
    // Both end with the member out of gold.
    for r in [&daily, &once] {
        let gold = r.tiers.iter().find(|t| t.tier.as_str() == "gold");
        assert_eq!(gold.map(|t| t.members), Some(0));
    }
}

#[test]
fn lots_at_the_edges_of_as_of_are_counted_as_the_ledger_counts_them() {
    // Two days pending, expiring five days after earning: at exactly the
    // end of the pending period the points are spendable, at exactly the
    // expiry they are gone. A member who only earns has their lots handed
    // over; one who spends (at a price never reached) keeps them in the
    // ledger: the figures are the same.
    let p = program(
        r#"{ "utc_offset": "+08:00",
             "rules": [{ "name": "visit", "on": "visited", "reward": { "type": "fixed", "points": 4 },
                         "pending_days": 2, "expiry": { "type": "after_days", "days": 5 } }] }"#,
    );
    let l = log(vec![visit(1, 7, t(0)), visit(2, 7, t(1))]);
    let at = |days: i64, hours: i64| t(0) + TimeDelta::days(days) + TimeDelta::hours(hours);
    for (as_of, pending, outstanding, expired) in [
        (at(2, 0) - TimeDelta::nanoseconds(1), 8, 8, 0),
        (at(2, 0), 4, 8, 0),
        (at(2, 1), 0, 8, 0),
        (at(5, 0), 0, 4, 4),
        (at(5, 1), 0, 0, 8),
    ] {
        for simulation in [
            Simulation::new(&p, as_of),
            Simulation::new(&p, as_of).redeeming(1_000_000),
        ] {
            let r = simulation.run(&l);
            assert_eq!(
                (r.pending, r.outstanding, r.expired),
                (pending, outstanding, expired),
                "as of {as_of}"
            );
            let owed: u64 = r.liability.iter().map(|b| b.points).sum();
            assert_eq!(owed, outstanding, "liability as of {as_of}");
        }
    }
}

#[test]
fn liability_months_do_not_depend_on_which_lot_came_first_across_a_fold_at_midnight() {
    // St. John's left daylight time at 00:01 on 1 November 2009, back to
    // 23:01 on 31 October: 1 November began at 02:30 UTC, and from 02:31
    // to 03:30 UTC the clocks showed 31 October again. Points expiring at
    // 03:00 UTC are valid through October (the last instant before is on
    // 31 October), whether or not a lot valid through November was
    // bucketed first.
    let zone = chrono_tz::America::St_Johns;
    let p = visits_expiring_in_30_days(zone);
    let at = |d, h, m| {
        Utc.with_ymd_and_hms(2009, 10, d, h, m, 0)
            .single()
            .unwrap_or_default()
    };
    // Expiring in the fold (31 October again), and on 10 November.
    let (in_the_fold, in_november) = (at(2, 3, 0), at(11, 12, 0));
    let as_of = at(1, 0, 0);
    for (first, second) in [(in_the_fold, in_november), (in_november, in_the_fold)] {
        let events = vec![visit(1, 1, first), visit(2, 2, second)];
        let r = simulate(&p, &log(events.clone()), as_of);
        let mut expected: std::collections::BTreeMap<ValidThrough, u64> = Default::default();
        for e in &events {
            let expires = e.at + TimeDelta::days(30);
            *expected
                .entry(ValidThrough::of(Some(expires), &zone))
                .or_default() += 1;
        }
        let got: std::collections::BTreeMap<ValidThrough, u64> = r
            .liability
            .iter()
            .map(|l| (l.valid_through, l.points))
            .collect();
        assert_eq!(
            got,
            expected,
            "lot expiring {} first",
            first + TimeDelta::days(30)
        );
        assert_eq!(got.len(), 2, "{got:?}");
    }
}

proptest::proptest! {
    /// The liability by month is each lot's [`ValidThrough::of`], summed,
    /// whatever order the lots come in: lots expiring within a day and a
    /// half of a month's start, in zones whose clocks change at, across or
    /// near midnight, or skip a day.
    #[test]
    fn liability_by_month_is_each_lot_s_valid_through(
        zone in proptest::sample::select(vec![
            chrono_tz::America::St_Johns,
            chrono_tz::America::Havana,
            chrono_tz::America::Sao_Paulo,
            chrono_tz::America::Santiago,
            chrono_tz::Australia::Lord_Howe,
            chrono_tz::Pacific::Apia,
            chrono_tz::Pacific::Kiritimati,
            chrono_tz::America::New_York,
        ]),
        days in 1..=400u32,
        lots in proptest::collection::vec(
            // A month from 1980 to 2030 (or St. John's fold, 1 November
            // 2009), minutes around the start of its first UTC day (most
            // often the first hours, when the Americas' midnight comes), a
            // user.
            (
                proptest::prop_oneof![0..612i32, proptest::strategy::Just(358)],
                proptest::prop_oneof![-36 * 60..36 * 60i64, 0..5 * 60i64],
                0..4u64,
            ),
            1..30,
        ),
    ) {
        let spec: crate::points::ProgramSpec = serde_json::from_str(&format!(
            r#"{{ "expiry": {{ "type": "after_days", "days": {days} }},
                 "rules": [{{ "name": "visit", "on": "visited",
                              "reward": {{ "type": "fixed", "points": 1 }} }}] }}"#
        ))
        .unwrap_or_else(|e| unreachable!("{e}"));
        let p = spec.validate_in(zone).unwrap_or_else(|e| unreachable!("{e}"));
        let mut events = Vec::new();
        let mut expected: std::collections::BTreeMap<ValidThrough, u64> = Default::default();
        for (id, &(month, minutes, user)) in lots.iter().enumerate() {
            let first = chrono::NaiveDate::from_ymd_opt(1980 + month / 12, (month % 12 + 1) as u32, 1)
                .unwrap_or_else(|| unreachable!());
            let expires = first.and_time(chrono::NaiveTime::MIN).and_utc()
                + TimeDelta::minutes(minutes);
            let at = expires - TimeDelta::days(i64::from(days));
            events.push(visit(id as u64, user, at));
            *expected.entry(ValidThrough::of(Some(expires), &zone)).or_default() += 1;
        }
        // Each member's events in time order (none too late); the members'
        // lots still reach the report in any order of their months.
        events.sort_by_key(|e| e.at);
        let as_of = Utc.with_ymd_and_hms(1970, 1, 1, 0, 0, 0).single().unwrap_or_default();
        let r = simulate(&p, &log(events), as_of);
        proptest::prop_assert_eq!(r.applied, lots.len() as u64);
        let got: std::collections::BTreeMap<ValidThrough, u64> =
            r.liability.iter().map(|l| (l.valid_through, l.points)).collect();
        proptest::prop_assert_eq!(got, expected);
    }
}
