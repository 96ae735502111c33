use super::*;
use crate::event::{Event, EventKind, KindPattern, KindTag, Money, ParseKindError};
use crate::id::{EventId, UserId};
use chrono::{DateTime, TimeDelta, TimeZone, Utc};

fn at(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, h, m, 0)
        .single()
        .unwrap_or_default()
}

fn lesson(id: u64, when: DateTime<Utc>) -> Event {
    Event::new(
        EventId(id),
        UserId(1),
        when,
        EventKind::ActionCompleted {
            action: "lesson".into(),
        },
    )
}

fn purchase(id: u64, minor: i64, when: DateTime<Utc>) -> Event {
    let cny = "CNY".parse().unwrap_or_else(|_| unreachable!());
    Event::new(
        EventId(id),
        UserId(1),
        when,
        EventKind::Purchase {
            amount: Money::new(minor, cny),
        },
    )
}

fn rule(name: &str, on: KindPattern, points: u64) -> RuleSpec {
    RuleSpec::new(name, on, Reward::Fixed { points })
}

fn lesson_rule(points: u64) -> RuleSpec {
    rule(
        "lesson",
        KindPattern::Named(KindTag::ActionCompleted, "lesson".into()),
        points,
    )
}

fn spec(rules: Vec<RuleSpec>) -> ProgramSpec {
    let mut s = ProgramSpec::new(rules);
    s.utc_offset = "+08:00".parse().unwrap_or_default();
    s
}

fn program(rules: Vec<RuleSpec>) -> Program {
    match spec(rules).validate() {
        Ok(p) => p,
        Err(e) => unreachable!("{e}"),
    }
}

#[test]
fn daily_count_cap_reached_exactly() {
    let mut r = lesson_rule(10);
    r.daily_cap = Some(Cap {
        count: Some(3),
        points: None,
    });
    let p = program(vec![r]);
    let mut l = Ledger::new();
    let totals: Vec<u64> = (0..4)
        .map(|i| {
            p.apply(&mut l, &lesson(i, at(1, i as u32)))
                .map(|e| e.total)
        })
        .collect::<Result<_, _>>()
        .unwrap_or_default();
    assert_eq!(totals, [10, 10, 10, 0]);
    let e = p
        .apply(&mut l, &lesson(9, at(2, 0)))
        .unwrap_or_else(|e| unreachable!("{e}"));
    let hit = e.awards[0].capped.unwrap_or_else(|| unreachable!());
    assert_eq!(hit.period, CapPeriod::Daily);
    assert_eq!(l.available(), 30);
    assert!(l.check().is_ok());
}

#[test]
fn trim_versus_reject_on_points_cap() {
    let cap = Some(Cap {
        count: None,
        points: Some(25),
    });
    for (mode, third) in [(CapMode::Trim, 5), (CapMode::Reject, 0)] {
        let mut r = lesson_rule(10);
        r.daily_cap = cap;
        r.cap_mode = mode;
        let p = program(vec![r]);
        let mut l = Ledger::new();
        let mut got = vec![];
        for i in 0..3 {
            let e = p.apply(&mut l, &lesson(i, at(1, i as u32)));
            got.push(e.map(|e| e.total).unwrap_or(u64::MAX));
        }
        assert_eq!(got, [10, 10, third], "{mode:?}");
    }
}

#[test]
fn local_midnight_resets_daily_cap() {
    let mut r = lesson_rule(10);
    r.daily_cap = Some(Cap {
        count: Some(1),
        points: None,
    });
    let p = program(vec![r]);
    let mut l = Ledger::new();
    // 15:59 UTC is 23:59 in +08:00; 16:00 UTC is the next local day.
    let a = p.apply(&mut l, &lesson(1, at(15, 59))).map(|e| e.total);
    let b = p.apply(&mut l, &lesson(2, at(15, 59))).map(|e| e.total);
    let c = p.apply(&mut l, &lesson(3, at(16, 0))).map(|e| e.total);
    assert_eq!((a, b, c), (Ok(10), Ok(0), Ok(10)));
}

#[test]
fn lifetime_cap() {
    let mut r = lesson_rule(10);
    r.lifetime_cap = Some(Cap {
        count: Some(2),
        points: None,
    });
    let p = program(vec![r]);
    let mut l = Ledger::new();
    let mut got = vec![];
    for i in 0..3u64 {
        let e = p.apply(&mut l, &lesson(i, at(1, 0) + TimeDelta::days(i as i64)));
        got.push(e.map(|e| e.total).unwrap_or(u64::MAX));
    }
    assert_eq!(got, [10, 10, 0]);
}

#[test]
fn per_amount_rounding() {
    use Rounding::*;
    let cases = [
        (9_990, Down, 9),
        (9_990, Nearest, 10),
        (9_499, Nearest, 9),
        (9_500, Nearest, 10),
        (9_001, Up, 10),
        (9_000, Up, 9),
        (-5_000, Up, 0),
        (0, Up, 0),
    ];
    for (minor, rounding, want) in cases {
        assert_eq!(
            earn::per_amount(minor, 1, 1000, rounding),
            Ok(want),
            "{minor} {rounding:?}"
        );
    }
    assert_eq!(
        earn::per_amount(i64::MAX, u64::MAX, 1, Down),
        Err(PointsError::Overflow)
    );
    let mut r = rule("buy", KindPattern::Kind(KindTag::Purchase), 1);
    r.reward = Reward::PerAmount {
        points: 1,
        per_minor: 1000,
        rounding: Down,
        currency: None,
    };
    let p = program(vec![r.clone()]);
    let mut l = Ledger::new();
    let e = p
        .apply(&mut l, &purchase(1, 9_990, at(1, 0)))
        .unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(e.total, 9);
    assert_eq!(e.awards[0].per_amount.map(|c| c.amount_minor), Some(9_990));
}

#[test]
fn duplicate_event_awards_nothing() {
    let p = program(vec![lesson_rule(10)]);
    let mut l = Ledger::new();
    let _ = p.apply(&mut l, &lesson(1, at(1, 0)));
    let before = l.clone();
    let again = p.apply(&mut l, &lesson(1, at(1, 0)));
    assert!(again.is_ok_and(|e| e.duplicate && e.total == 0));
    assert_eq!(l, before);
}

#[test]
fn expiry_exactly_at_the_instant() {
    let mut s = spec(vec![lesson_rule(10)]);
    s.expiry = Expiry::AfterDays { days: 1 };
    let p = s.validate().unwrap_or_else(|e| unreachable!("{e}"));
    let mut l = Ledger::new();
    let _ = p.apply(&mut l, &lesson(1, at(1, 0)));
    let due = at(1, 0) + TimeDelta::days(1);
    assert_eq!(l.spendable(due - TimeDelta::milliseconds(1)), 10);
    assert_eq!(l.spendable(due), 0);
    assert_eq!(
        l.redeem("k".into(), 1, due).map(|r| r.to_redemption()),
        Err(PointsError::Insufficient {
            requested: 1,
            spendable: 0
        })
    );
    assert_eq!(l.expire(due - TimeDelta::milliseconds(1)), 0);
    assert_eq!(l.expire(due), 10);
    assert_eq!((l.available(), l.expired()), (0, 10));
    assert!(l.check().is_ok());
}

#[test]
fn redeem_spends_earliest_expiring_first_and_is_idempotent() {
    let mut short = lesson_rule(10);
    short.expiry = Some(Expiry::AfterDays { days: 10 });
    let mut forever = rule("visit", KindPattern::Kind(KindTag::Visited), 5);
    forever.expiry = Some(Expiry::Never {});
    let mut long = rule("buy", KindPattern::Kind(KindTag::Purchase), 7);
    long.expiry = Some(Expiry::AfterDays { days: 100 });
    let p = program(vec![forever, long, short]);
    let mut l = Ledger::new();
    let visit = Event::new(EventId(1), UserId(1), at(1, 0), EventKind::Visited);
    let _ = p.apply(&mut l, &visit);
    let _ = p.apply(&mut l, &purchase(2, 100, at(1, 1)));
    let _ = p.apply(&mut l, &lesson(3, at(1, 2)));
    let r = l
        .redeem("order".into(), 20, at(2, 0))
        .map(|r| r.to_redemption())
        .unwrap_or_else(|e| unreachable!("{e}"));
    let order: Vec<(&str, u64)> = r
        .taken
        .iter()
        .map(|t| (t.rule.as_str(), t.points))
        .collect();
    assert_eq!(order, [("lesson", 10), ("buy", 7), ("visit", 3)]);
    let before = l.clone();
    let again = l
        .redeem("order".into(), 999, at(3, 0))
        .map(|r| r.to_redemption())
        .unwrap_or_else(|e| unreachable!("{e}"));
    assert!(again.repeated);
    assert_eq!((again.points, again.at), (20, at(2, 0)));
    assert_eq!(l, before);
    assert!(l.check().is_ok());
}

#[test]
fn insufficient_balance_changes_nothing() {
    let p = program(vec![lesson_rule(10)]);
    let mut l = Ledger::new();
    let _ = p.apply(&mut l, &lesson(1, at(1, 0)));
    let before = l.clone();
    assert_eq!(
        l.redeem("k".into(), 11, at(2, 0))
            .map(|r| r.to_redemption()),
        Err(PointsError::Insufficient {
            requested: 11,
            spendable: 10
        })
    );
    assert_eq!(
        l.redeem("z".into(), 0, at(2, 0)).map(|r| r.to_redemption()),
        Err(PointsError::ZeroRedeem)
    );
    assert_eq!(l, before);
    // The failed key is not remembered: a retry with enough balance works.
    assert!(l.redeem("k".into(), 10, at(2, 0)).is_ok());
}

#[test]
fn overflow_is_an_error_and_changes_nothing() {
    let p = program(vec![lesson_rule(u64::MAX)]);
    let mut l = Ledger::new();
    assert!(p.apply(&mut l, &lesson(1, at(1, 0))).is_ok());
    let before = l.clone();
    assert_eq!(
        p.apply(&mut l, &lesson(2, at(1, 1))),
        Err(PointsError::Overflow)
    );
    assert_eq!(l, before);
}

#[test]
fn the_last_lot_numbers_are_given_without_overflow() {
    // A stored ledger whose next lot number is `u64::MAX - 1`: one more
    // lot fits, numbered so; the one after is an overflow, refused whole.
    let p = program(vec![lesson_rule(10)]);
    let mut l = Ledger::new();
    l.next_lot = u64::MAX - 1;
    assert!(p.apply(&mut l, &lesson(1, at(1, 0))).is_ok());
    assert_eq!(
        l.lots().iter().map(|lot| lot.id).collect::<Vec<_>>(),
        [u64::MAX - 1]
    );
    assert_eq!(l.check(), Ok(()));
    let before = l.clone();
    assert_eq!(
        p.apply(&mut l, &lesson(2, at(1, 1))),
        Err(PointsError::Overflow)
    );
    assert_eq!(l, before);
}

#[test]
fn validation_names_rule_and_field() {
    let bad = |f: &dyn Fn(&mut ProgramSpec)| {
        let mut s = spec(vec![lesson_rule(10)]);
        f(&mut s);
        s.validate().map(|_| ()).map_err(|e| e.to_string())
    };
    assert_eq!(bad(&|_| ()), Ok(()));
    assert_eq!(
        bad(&|s| s.rules.clear()),
        Err("rules is empty: a program needs at least one rule".into())
    );
    assert_eq!(
        bad(&|s| s.rules.push(lesson_rule(1))),
        Err("rule lesson: the name is used by another rule".into())
    );
    for blank in ["", "  "] {
        assert_eq!(
            bad(&|s| {
                s.rules.push(lesson_rule(1));
                s.rules[1].name = blank.into();
            }),
            Err("rules[1]: name is blank but must name the rule".into())
        );
    }
    // `first_time` allows only the first match: beside an `every_nth` of
    // 2 or more the rule could never award; of 1, it is harmless.
    let counting = |n| {
        move |s: &mut ProgramSpec| {
            s.rules[0].when = vec![Condition::EveryNth { n }, Condition::FirstTime {}];
        }
    };
    assert_eq!(bad(&counting(1)), Ok(()));
    assert_eq!(
        bad(&counting(2)),
        Err(
            "rule lesson: when[0] (every_nth): every_nth.n is 2 but the rule's first_time \
             condition allows only the first match, so the rule never awards"
                .into()
        )
    );
    assert_eq!(
        bad(&|s| s.rules[0].daily_cap = Some(Cap::default())),
        Err("rule lesson: daily_cap sets neither count nor points".into())
    );
    assert_eq!(
        bad(&|s| {
            s.rules[0].lifetime_cap = Some(Cap {
                count: Some(0),
                points: None,
            })
        }),
        Err("rule lesson: lifetime_cap.count is 0 but must be at least 1".into())
    );
    assert_eq!(
        bad(&|s| {
            s.rules[0].reward = Reward::PerAmount {
                points: 1,
                per_minor: 1000,
                rounding: Rounding::Down,
                currency: None,
            }
        }),
        Err(
            "rule lesson: a per_amount reward needs on = \"purchase\", not \"action_completed:lesson\""
                .into()
        )
    );
    assert_eq!(
        bad(&|s| {
            s.rules[0].on = KindPattern::Kind(KindTag::Purchase);
            s.rules[0].reward = Reward::PerAmount {
                points: 1,
                per_minor: -1,
                rounding: Rounding::Down,
                currency: None,
            }
        }),
        Err("rule lesson: reward.per_minor is -1 but must be at least 1".into())
    );
    assert_eq!(
        bad(&|s| s.expiry = Expiry::AfterDays { days: 0 }),
        Err("expiry.days is 0 but must be at least 1".into())
    );
    assert_eq!(
        bad(&|s| s.rules[0].expiry = Some(Expiry::AfterDays { days: 0 })),
        Err("rule lesson: expiry.days is 0 but must be at least 1".into())
    );
    assert_eq!(
        bad(&|s| {
            s.expiry = Expiry::AfterMonths {
                months: 0,
                round_up_to: None,
            }
        }),
        Err("expiry.months is 0 but must be at least 1".into())
    );
    assert_eq!(
        bad(&|s| {
            s.rules[0].expiry = Some(Expiry::AfterMonths {
                months: 0,
                round_up_to: Some(PeriodEnd::Year),
            })
        }),
        Err("rule lesson: expiry.months is 0 but must be at least 1".into())
    );
    // Pending for as long as the points last is refused; a day less is fine.
    assert_eq!(
        bad(&|s| {
            s.rules[0].expiry = Some(Expiry::AfterMonths {
                months: 1,
                round_up_to: None,
            });
            s.rules[0].pending_days = 28;
        }),
        Err("rule lesson: pending_days is 28 but its points expire sooner (after 1 month)".into())
    );
    // Two calendar months are never shorter than 59 days (31 December to
    // 28 February): 58 days pending are fine, 59 are not.
    let two_months = |pending| {
        move |s: &mut ProgramSpec| {
            s.rules[0].expiry = Some(Expiry::AfterMonths {
                months: 2,
                round_up_to: None,
            });
            s.rules[0].pending_days = pending;
        }
    };
    assert_eq!(bad(&two_months(58)), Ok(()));
    assert_eq!(
        bad(&two_months(59)),
        Err("rule lesson: pending_days is 59 but its points expire sooner (after 2 months)".into())
    );
    assert_eq!(
        bad(&|s| {
            s.expiry = Expiry::AfterDays { days: 30 };
            s.rules[0].pending_days = 29;
        }),
        Ok(())
    );
}

#[test]
fn event_older_than_the_daily_tallies_is_refused() {
    let mut r = lesson_rule(10);
    r.daily_cap = Some(Cap {
        count: Some(1),
        points: None,
    });
    let p = program(vec![r]);
    let mut l = Ledger::new();
    let late = at(1, 0) + TimeDelta::days(i64::from(DAILY_TALLY_DAYS));
    assert!(p.apply(&mut l, &lesson(1, late)).is_ok());
    let before = l.clone();
    // Its day's tally is gone, so whether the cap allows it cannot be known.
    assert_eq!(
        p.apply(&mut l, &lesson(2, at(1, 0))),
        Err(PointsError::TooLate { id: EventId(2) })
    );
    assert_eq!(l, before);
    // A day still tallied is judged against its own cap.
    let inside = late - TimeDelta::days(2);
    assert_eq!(p.apply(&mut l, &lesson(3, inside)).map(|e| e.total), Ok(10));
    assert_eq!(p.apply(&mut l, &lesson(4, inside)).map(|e| e.total), Ok(0));
}

#[test]
fn a_rule_whose_period_caps_were_dropped_refuses_no_late_event() {
    // A rule without a cap per day, week or month "refuses no event as too
    // late", even if an earlier program with such a cap left day tallies
    // in the ledger.
    let mut capped = lesson_rule(10);
    capped.daily_cap = Some(Cap {
        count: Some(1),
        points: None,
    });
    let mut l = Ledger::new();
    let late = at(1, 0) + TimeDelta::days(i64::from(DAILY_TALLY_DAYS));
    assert!(
        program(vec![capped])
            .apply(&mut l, &lesson(1, late))
            .is_ok()
    );
    let mut once = lesson_rule(10);
    once.lifetime_cap = Some(Cap {
        count: Some(2),
        points: None,
    });
    let once = program(vec![once]);
    assert_eq!(
        once.apply(&mut l, &lesson(2, at(1, 0))).map(|e| e.total),
        Ok(10)
    );
    // Nor does it leave an award of such a day unmade-up: its lifetime
    // cap's room can be told.
    assert_eq!(
        once.apply(&mut l, &lesson(3, at(2, 0))).map(|e| e.total),
        Ok(0)
    );
    let r = once.reverse(&mut l, "undo".into(), EventId(1), Portion::Whole {}, late);
    let made: Option<Vec<(EventId, u64)>> = r
        .ok()
        .map(|r| r.made_up.iter().map(|m| (m.source, m.points)).collect());
    assert_eq!(made, Some(vec![(EventId(3), 10)]));
}

#[test]
fn daily_cap_in_an_iana_zone_across_dst() {
    let mut r = lesson_rule(10);
    r.daily_cap = Some(Cap {
        count: Some(1),
        points: None,
    });
    let p = spec(vec![r])
        .validate_in(chrono_tz::America::New_York)
        .unwrap_or_else(|e| unreachable!("{e}"));
    let mut l = Ledger::new();
    // 2026-03-08 is a 23-hour day in New York (EST -05:00 until 02:00, then EDT -04:00).
    let utc = |d, h| {
        Utc.with_ymd_and_hms(2026, 3, d, h, 0, 0)
            .single()
            .unwrap_or_default()
    };
    // 00:30 EST and 23:30 EDT on 8 March are the same local day.
    let first = p.apply(&mut l, &lesson(1, utc(8, 5) + TimeDelta::minutes(30)));
    let last = p.apply(&mut l, &lesson(2, utc(9, 3) + TimeDelta::minutes(30)));
    // 00:30 EDT on 9 March is the next one.
    let next = p.apply(&mut l, &lesson(3, utc(9, 4) + TimeDelta::minutes(30)));
    assert_eq!(
        [first, last, next].map(|e| e.map(|e| e.total)),
        [Ok(10), Ok(0), Ok(10)]
    );
}

#[test]
fn lots_stay_in_spending_order_whatever_place_they_take() {
    // Every lesson earns under four rules whose points last 2 days, 30
    // days, a year and forever: each new lot goes last, just before the
    // never-expiring ones, or before many lots of longer-lived rules (the
    // place a search over the ordered lots finds). Some lessons come late.
    let lasting = |name: &str, expiry: Option<Expiry>| {
        let mut r = rule(
            name,
            KindPattern::Named(KindTag::ActionCompleted, "lesson".into()),
            1,
        );
        r.expiry = expiry;
        r
    };
    let s = spec(vec![
        lasting("short", Some(Expiry::AfterDays { days: 2 })),
        lasting("month", Some(Expiry::AfterDays { days: 30 })),
        lasting("year", Some(Expiry::AfterDays { days: 365 })),
        lasting("forever", Some(Expiry::Never {})),
    ]);
    let p = s.validate().unwrap_or_else(|e| unreachable!("{e}"));
    let mut l = p.new_ledger();
    for i in 0..60u32 {
        let late = if i % 7 == 3 { 90 } else { 0 };
        let when = at(0, 0) + TimeDelta::minutes(i64::from(10 * i) - late);
        let earned = p.apply(&mut l, &lesson(u64::from(i), when));
        assert_eq!(earned.map(|e| e.total), Ok(4), "lesson {i}");
        assert!(l.check().is_ok(), "lesson {i}");
    }
    let keys: Vec<_> = l
        .lots()
        .iter()
        .map(|lot| {
            (
                lot.expires_at.is_none(),
                lot.expires_at,
                lot.earned_at,
                lot.id,
            )
        })
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys.len(), 240);
    assert_eq!(keys, sorted);
}

#[test]
fn patterns_their_text_cannot_express_are_refused_where_the_program_holds_them() {
    let home = || KindPattern::Named(KindTag::Visited, "home".into());
    let blank = || KindPattern::Named(KindTag::Custom, "".into());
    // Each spec is built in code with a pattern the JSON reader refuses:
    // validation refuses it too, and its JSON indeed does not read back.
    let refused = |s: ProgramSpec| {
        let json = serde_json::to_string(&s).unwrap();
        assert!(
            serde_json::from_str::<ProgramSpec>(&json).is_err(),
            "{json}"
        );
        s.validate().map(|_| ()).unwrap_err()
    };

    // A rule's trigger.
    let mut trigger = spec(vec![lesson_rule(10), rule("visit", home(), 1)]);
    let err = refused(trigger.clone());
    assert_eq!(
        err,
        ProgramError::InvalidTrigger {
            index: 1,
            rule: "visit".into(),
            error: ParseKindError::NameNotAllowed {
                kind: KindTag::Visited,
                text: "visited:home".into()
            },
        }
    );
    assert_eq!(
        err.to_string(),
        "rules[1].on (rule visit) is not a valid event pattern: \
         event kind `visited` carries no name, so `visited:home` can never match"
    );
    // Refused before the reward looks at it: a per-amount reward on it
    // would otherwise be told to use `purchase`.
    trigger.rules[1].reward = Reward::PerAmount {
        points: 1,
        per_minor: 100,
        rounding: Rounding::Down,
        currency: None,
    };
    assert!(matches!(
        refused(trigger.clone()),
        ProgramError::InvalidTrigger { index: 1, .. }
    ));
    trigger.rules[1].on = KindPattern::Kind(KindTag::Purchase);
    assert!(trigger.clone().validate().is_ok());
    // A named trigger that validates reads back.
    trigger.rules[1].on = KindPattern::Named(KindTag::Custom, "a:b".into());
    trigger.rules[1].reward = Reward::Fixed { points: 1 };
    let json = serde_json::to_string(&trigger).unwrap();
    assert_eq!(serde_json::from_str::<ProgramSpec>(&json).unwrap(), trigger);
    assert!(trigger.validate().is_ok());

    // A check-in kind of the streak.
    let mut streak = spec(vec![lesson_rule(10)]);
    streak.streak = Some(CheckInStreakSpec {
        on: vec![KindPattern::Kind(KindTag::CheckIn), blank()],
        ..CheckInStreakSpec::default()
    });
    let err = refused(streak.clone());
    assert_eq!(
        err,
        ProgramError::InvalidCheckInKind {
            index: 1,
            error: ParseKindError::EmptyName {
                text: "custom:".into()
            },
        }
    );
    assert_eq!(
        err.to_string(),
        "streak.on[1] is not a valid event pattern: `custom:` has an empty name after the colon"
    );
    if let Some(s) = &mut streak.streak {
        s.on[1] = KindPattern::Named(KindTag::Custom, "checked".into());
    }
    let json = serde_json::to_string(&streak).unwrap();
    assert_eq!(serde_json::from_str::<ProgramSpec>(&json).unwrap(), streak);
    assert!(streak.validate().is_ok());

    // A badge's event counter.
    let mut badges = spec(vec![lesson_rule(10)]);
    badges.badges = Some(BadgeCatalogSpec {
        badges: vec![BadgeSpec {
            name: "big_spender".into(),
            counter: BadgeCounter::Events {
                on: KindPattern::Named(KindTag::Purchase, "big".into()),
            },
            levels: vec![BadgeLevel {
                name: None,
                at: 1,
                points: 0,
            }],
        }],
    });
    let err = refused(badges);
    assert!(
        matches!(
            &err,
            ProgramError::Badges(BadgeError::InvalidPattern { badge, .. })
                if badge.as_str() == "big_spender"
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "badges: badge big_spender: counter.on is not a valid event pattern: \
         event kind `purchase` carries no name, so `purchase:big` can never match"
    );
}
