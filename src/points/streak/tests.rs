use super::*;
use chrono::{FixedOffset, NaiveDate, TimeDelta};

fn beijing() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| unreachable!())
}

fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, 0)
        .single()
        .unwrap_or_default()
}

/// 09:00 in Beijing on a date.
fn morning(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    utc(y, m, d, 1, 0)
}

fn day(y: i32, m: u32, d: u32) -> LocalDay {
    LocalDay::from_date(NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default())
}

fn rules(json: &str) -> StreakRules {
    serde_json::from_str::<StreakSpec>(json)
        .map_err(|e| e.to_string())
        .and_then(|s| s.validate().map_err(|e| e.to_string()))
        .unwrap_or_else(|e| panic!("{e}"))
}

fn check(r: &StreakRules, s: &mut Streak, at: DateTime<Utc>) -> CheckInOutcome {
    r.check_in(s, at, &beijing())
        .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn bad_specs_name_the_milestone_and_field() {
    for (json, message) in [
        (
            r#"{ "milestones": [{ "day": 0, "points": 5 }] }"#,
            "milestones[0].day is 0 but must be at least 1",
        ),
        (
            r#"{ "milestones": [{ "day": 3, "points": 0 }] }"#,
            "milestones[0].points is 0 but must be at least 1",
        ),
        (
            r#"{ "milestones": [{ "day": 3, "points": 1, "repeat_every": 0 }] }"#,
            "milestones[0].repeat_every is 0 but must be at least 1",
        ),
        (
            r#"{ "milestones": [{ "day": 7, "points": 1 }, { "day": 7, "points": 2 }] }"#,
            "milestones[1].day is 7 but must be above the previous milestone's 7",
        ),
        (
            r#"{ "make_up": { "per_month": 0 } }"#,
            "make_up.per_month is 0 but must be between 1 and 10",
        ),
        (
            r#"{ "make_up": { "per_month": 11 } }"#,
            "make_up.per_month is 11 but must be between 1 and 10",
        ),
    ] {
        let spec: StreakSpec = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            spec.validate().err().map(|e| e.to_string()).as_deref(),
            Some(message)
        );
    }
    assert!(serde_json::from_str::<StreakSpec>(r#"{ "milestone": [] }"#).is_err());
    assert!(StreakSpec::default().validate().is_ok());
}

#[test]
fn local_midnight_in_beijing_separates_two_days() {
    let r = rules("{}");
    let mut s = Streak::new();
    // 23:30 and 00:10 local: the same UTC day, two local days.
    let late = check(&r, &mut s, utc(2026, 3, 1, 15, 30));
    let early = check(&r, &mut s, utc(2026, 3, 1, 16, 10));
    assert_eq!(
        (late.day, late.kind, late.length),
        (day(2026, 3, 1), CheckInKind::First, 1)
    );
    assert_eq!(
        (early.day, early.kind, early.length),
        (day(2026, 3, 2), CheckInKind::Extended, 2)
    );
    // 00:10 and 23:50 local are the same day: counted once.
    let again = check(&r, &mut s, utc(2026, 3, 2, 15, 50));
    assert_eq!((again.kind, again.length), (CheckInKind::SameDay, 2));
    assert_eq!(again.to_string(), "already checked in on 2026-03-02");
    assert_eq!((s.current(), s.days_checked_in(), s.version()), (2, 2, 2));
}

#[test]
fn a_dst_day_in_an_iana_zone_is_one_day() {
    let r = rules("{}");
    let ny = chrono_tz::America::New_York;
    let mut s = Streak::new();
    // 7 March 2026, 23:30 EST; then the 23-hour day of 8 March.
    let a = r
        .check_in(&mut s, utc(2026, 3, 8, 4, 30), &ny)
        .unwrap_or_else(|e| panic!("{e}"));
    // 00:30 EST on 8 March and 23:30 EDT the same day: 22 hours apart, one day.
    let b = r
        .check_in(&mut s, utc(2026, 3, 8, 5, 30), &ny)
        .unwrap_or_else(|e| panic!("{e}"));
    let c = r
        .check_in(&mut s, utc(2026, 3, 9, 3, 30), &ny)
        .unwrap_or_else(|e| panic!("{e}"));
    // 00:10 EDT on 9 March: the next day although only 40 minutes later.
    let d = r
        .check_in(&mut s, utc(2026, 3, 9, 4, 10), &ny)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(a.day, day(2026, 3, 7));
    assert_eq!((b.day, b.length), (day(2026, 3, 8), 2));
    assert_eq!(c.kind, CheckInKind::SameDay);
    assert_eq!((d.day, d.length), (day(2026, 3, 9), 3));
}

#[test]
fn a_missed_day_resets_and_the_longest_is_kept() {
    let r = rules("{}");
    let mut s = Streak::new();
    for d in 1..=3 {
        check(&r, &mut s, morning(2026, 3, d));
    }
    let step = check(&r, &mut s, morning(2026, 3, 6));
    assert_eq!(
        step.kind,
        CheckInKind::Restarted {
            broken: 3,
            missed: 2
        }
    );
    assert_eq!(
        step.to_string(),
        "day 1 (streak of 3 broken by 2 missed days)"
    );
    assert_eq!(
        (s.current(), s.longest(), s.started()),
        (1, 3, Some(day(2026, 3, 6)))
    );
    assert_eq!(r.length_on(&s, morning(2026, 3, 7), &beijing()), 1);
    assert_eq!(r.length_on(&s, morning(2026, 3, 8), &beijing()), 0);
}

#[test]
fn milestones_are_paid_exactly_once_per_streak() {
    let r = rules(
        r#"{ "milestones": [{ "day": 2, "points": 20 }, { "day": 3, "points": 30, "repeat_every": 2 }] }"#,
    );
    let mut s = Streak::new();
    let mut paid = Vec::new();
    for d in 1..=7 {
        let step = check(&r, &mut s, morning(2026, 3, d));
        // The same day again pays nothing more.
        assert_eq!(
            check(&r, &mut s, morning(2026, 3, d) + TimeDelta::hours(5)).points,
            0
        );
        paid.push(step.points);
    }
    assert_eq!(paid, vec![0, 20, 30, 0, 30, 0, 30]);
    // A new streak reaches them again.
    let restart = check(&r, &mut s, morning(2026, 3, 10));
    let second = check(&r, &mut s, morning(2026, 3, 11));
    assert_eq!((restart.points, second.points), (0, 20));
    assert_eq!(second.to_string(), "day 2, milestone +20");
}

#[test]
fn make_ups_bridge_up_to_the_monthly_allowance() {
    let r =
        rules(r#"{ "milestones": [{ "day": 4, "points": 40 }], "make_up": { "per_month": 2 } }"#);
    let mut s = Streak::new();
    check(&r, &mut s, morning(2026, 3, 1));
    // 2 March missed: bridged, one left.
    let step = check(&r, &mut s, morning(2026, 3, 3));
    assert_eq!(
        (step.kind, step.length, step.bridged, step.make_ups_left),
        (CheckInKind::Extended, 2, 1, Some(1))
    );
    // 4 and 5 March missed: two more than the one left, so the streak breaks
    // and the allowance is not touched.
    let step = check(&r, &mut s, morning(2026, 3, 6));
    assert_eq!(
        step.kind,
        CheckInKind::Restarted {
            broken: 2,
            missed: 2
        }
    );
    assert_eq!(step.make_ups_left, Some(1));
    // 7 March missed: the last make-up of March.
    let step = check(&r, &mut s, morning(2026, 3, 8));
    assert_eq!(
        (step.length, step.bridged, step.make_ups_left),
        (2, 1, Some(0))
    );
    // Exhausted: 9 March missed breaks it.
    let step = check(&r, &mut s, morning(2026, 3, 10));
    assert_eq!(
        step.kind,
        CheckInKind::Restarted {
            broken: 2,
            missed: 1
        }
    );
    // April brings a fresh allowance, charged to the month of the missed day.
    for d in 11..=31 {
        check(&r, &mut s, morning(2026, 3, d));
    }
    let step = check(&r, &mut s, morning(2026, 4, 2));
    assert_eq!((step.bridged, step.make_ups_left), (1, Some(1)));
    assert_eq!(
        s.make_ups(),
        Some(MakeUpsUsed {
            month: day(2026, 4, 1),
            used: 1
        })
    );
}

#[test]
fn a_gap_across_months_charges_each_month() {
    let r = rules(r#"{ "make_up": { "per_month": 1 } }"#);
    let mut s = Streak::new();
    check(&r, &mut s, morning(2026, 3, 30));
    // 31 March and 1 April missed: one day in each month, each within its allowance.
    let step = check(&r, &mut s, morning(2026, 4, 2));
    assert_eq!(
        (step.kind, step.length, step.bridged),
        (CheckInKind::Extended, 2, 2)
    );
    assert_eq!(step.to_string(), "day 2 (2 missed days made up)");
    // April's is now used.
    let step = check(&r, &mut s, morning(2026, 4, 4));
    assert_eq!(
        step.kind,
        CheckInKind::Restarted {
            broken: 2,
            missed: 1
        }
    );
    // A whole month missed is never bridged.
    let step = check(&r, &mut s, morning(2026, 6, 1));
    assert!(matches!(step.kind, CheckInKind::Restarted { .. }));
    // Nor is a gap of years, and judging it does not loop.
    let step = check(&r, &mut s, morning(2036, 6, 1));
    assert!(matches!(step.kind, CheckInKind::Restarted { .. }));
}

#[test]
fn late_check_ins_are_ignored() {
    let r = rules(r#"{ "milestones": [{ "day": 1, "points": 5 }] }"#);
    let mut s = Streak::new();
    check(&r, &mut s, morning(2026, 3, 5));
    let before = s.clone();
    let step = check(&r, &mut s, morning(2026, 3, 4));
    assert_eq!(
        step.kind,
        CheckInKind::Late {
            last: day(2026, 3, 5)
        }
    );
    assert_eq!((step.points, step.length), (0, 1));
    assert_eq!(
        step.to_string(),
        "2026-03-04 is before the last check-in 2026-03-05: ignored"
    );
    assert_eq!(s, before);
}

#[test]
fn overflow_is_refused_whole() {
    let r = rules("{}");
    let mut s: Streak = serde_json::from_str(
        r#"{ "version": 3, "current": 4294967295, "longest": 4294967295, "last": "2026-03-01", "days_checked_in": 5 }"#,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let before = s.clone();
    assert_eq!(
        r.check_in(&mut s, morning(2026, 3, 2), &beijing()),
        Err(StreakError::Overflow)
    );
    assert_eq!(s, before);
}

#[test]
fn streak_round_trips_through_json() {
    let r = rules(r#"{ "make_up": { "per_month": 3 } }"#);
    let mut s = Streak::new();
    check(&r, &mut s, morning(2026, 3, 1));
    check(&r, &mut s, morning(2026, 3, 3));
    let json = serde_json::to_string(&s).unwrap_or_default();
    assert_eq!(
        serde_json::from_str::<Streak>(&json).ok(),
        Some(s),
        "{json}"
    );
    let spec = serde_json::to_string(r.spec()).unwrap_or_default();
    assert_eq!(
        serde_json::from_str::<StreakSpec>(&spec).ok().as_ref(),
        Some(r.spec())
    );
}
