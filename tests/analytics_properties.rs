//! Properties of the analytics accumulators: sharding users and merging the
//! shard tallies in any grouping equals one pass; a user's events may arrive
//! in any order; everything survives a JSON round trip; nothing panics.

#[path = "support/analytics.rs"]
mod vocabulary;
use chrono::{DateTime, FixedOffset, NaiveDate, TimeDelta, TimeZone, Utc};
use growthkit::analytics::{
    CohortBy, Funnel, FunnelSpec, FunnelTally, IntervalClock, IntervalUnit, Retention,
    RetentionSpec, RetentionTally, Stickiness, StickinessSpec, StickinessTally,
};
use growthkit::{Event, EventId, KindPattern, KindTag, LocalDay, UserId};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use vocabulary::{kind, pattern};

const USERS: u64 = 8;
const SHARDS: usize = 4;

fn base() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap()
}

/// Offsets over three weeks, half of them on whole hours so that ties,
/// window ends and local midnights are hit often.
fn offset() -> impl Strategy<Value = i64> {
    prop_oneof![0..21 * 86_400_i64, (0..21 * 24_i64).prop_map(|h| h * 3600)]
}

fn events() -> impl Strategy<Value = Vec<Event>> {
    prop::collection::vec((0..USERS, offset(), any::<u8>()), 0..48).prop_map(|raw| {
        raw.into_iter()
            .enumerate()
            .map(|(i, (user, secs, k))| {
                Event::new(
                    EventId(i as u64),
                    UserId(user),
                    base() + TimeDelta::seconds(secs),
                    kind(k),
                )
            })
            .collect()
    })
}

/// Events, the same events shuffled, and a shard for each user.
fn scenario() -> impl Strategy<Value = (Vec<Event>, Vec<Event>, Vec<usize>)> {
    (events(), prop::collection::vec(0..SHARDS, USERS as usize))
        .prop_flat_map(|(ev, shards)| (Just(ev.clone()), Just(ev).prop_shuffle(), Just(shards)))
}

fn zone() -> impl Strategy<Value = FixedOffset> {
    (-14 * 4..=14 * 4_i32).prop_map(|quarters| FixedOffset::east_opt(quarters * 900).unwrap())
}

fn shard_of(event: &Event, shards: &[usize]) -> usize {
    shards.get(event.user.0 as usize).copied().unwrap_or(0)
}

/// Merges `parts` left to right, right to left, and in reverse order; all
/// three must agree (associativity and commutativity in practice).
fn merge_every_way<T: Clone + PartialEq + std::fmt::Debug>(
    parts: Vec<T>,
    merge: impl Fn(&mut T, T),
) -> T {
    let left = parts
        .iter()
        .cloned()
        .reduce(|mut a, b| {
            merge(&mut a, b);
            a
        })
        .unwrap();
    let right = parts
        .iter()
        .cloned()
        .rev()
        .reduce(|b, mut a| {
            merge(&mut a, b);
            a
        })
        .unwrap();
    let reversed = parts
        .into_iter()
        .rev()
        .reduce(|mut a, b| {
            merge(&mut a, b);
            a
        })
        .unwrap();
    assert_eq!(left, right);
    assert_eq!(left, reversed);
    left
}

fn roundtrip<T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug>(
    value: &T,
) {
    let json = serde_json::to_string(value).unwrap();
    let back: T = serde_json::from_str(&json).unwrap();
    assert_eq!(&back, value);
}

fn funnel_spec() -> impl Strategy<Value = FunnelSpec> {
    (
        prop::collection::vec(any::<u8>(), 2..5),
        prop_oneof![1..7 * 86_400_u64, (1..72_u64).prop_map(|h| h * 3600)],
    )
        .prop_map(|(steps, window_seconds)| FunnelSpec {
            steps: steps.into_iter().map(pattern).collect(),
            window_seconds,
        })
}

/// The definition read literally, without the builder's pruning.
fn funnel_by_definition(spec: &FunnelSpec, events: &[Event]) -> Vec<u64> {
    let mut reached = vec![0; spec.steps.len()];
    for user in 0..USERS {
        let mine: Vec<&Event> = events.iter().filter(|e| e.user.0 == user).collect();
        let Some(entry) = mine
            .iter()
            .filter(|e| spec.steps[0].matches(&e.kind))
            .map(|e| e.at)
            .min()
        else {
            continue;
        };
        let end = entry + TimeDelta::seconds(spec.window_seconds as i64);
        reached[0] += 1;
        let mut previous = entry;
        for (k, step) in spec.steps.iter().enumerate().skip(1) {
            let next = mine
                .iter()
                .filter(|e| step.matches(&e.kind) && e.at > previous && e.at <= end)
                .map(|e| e.at)
                .min();
            match next {
                Some(at) => {
                    reached[k] += 1;
                    previous = at;
                }
                None => break,
            }
        }
    }
    reached
}

fn retention_spec() -> impl Strategy<Value = RetentionSpec> {
    (
        0..4_u8,
        any::<bool>(),
        any::<bool>(),
        0..10_u32,
        any::<bool>(),
    )
        .prop_map(
            |(cohort, rolling, weeks, max_n, any_activity)| RetentionSpec {
                cohort: match cohort {
                    0 | 1 => CohortBy::Day {},
                    2 => CohortBy::Week {
                        starts_on: chrono::Weekday::Mon,
                    },
                    _ => CohortBy::Week {
                        starts_on: chrono::Weekday::Sun,
                    },
                },
                clock: if rolling {
                    IntervalClock::Rolling
                } else {
                    IntervalClock::Calendar
                },
                unit: if weeks {
                    IntervalUnit::Week
                } else {
                    IntervalUnit::Day
                },
                activity: any_activity.then(|| vec![KindPattern::Any]),
                ..RetentionSpec::new(max_n)
            },
        )
}

fn stickiness_spec() -> impl Strategy<Value = StickinessSpec> {
    (0..25_i32, 1..40_u32, any::<bool>()).prop_map(|(last, window_days, any_activity)| {
        let first = LocalDay::from_date(NaiveDate::from_ymd_opt(2026, 3, 1).unwrap());
        StickinessSpec {
            last_day: first.checked_add_days(last).unwrap(),
            window_days,
            activity: if any_activity {
                vec![KindPattern::Any]
            } else {
                vec![pattern(1), pattern(4)]
            },
        }
    })
}

/// Minutes after 01:00 UTC on 2010-11-07, often in the minute that starts
/// the 7th in St John's (02:30 UTC, minute 90) and in the hour after it,
/// when the clock is set back to the 6th.
fn fall_back_minute() -> impl Strategy<Value = i64> {
    prop_oneof![0..240_i64, Just(90_i64), 90..152_i64]
}

/// The retention tally of one pass over `events`, after checking that the
/// same events in another order, and split into shards merged every way,
/// give the same tally.
fn retention_tally_agreeing<Tz: TimeZone>(
    retention: &Retention,
    as_of: DateTime<Utc>,
    zone: &Tz,
    (events, shuffled, shards): &(Vec<Event>, Vec<Event>, Vec<usize>),
) -> Result<RetentionTally, TestCaseError> {
    let mut whole = retention.builder(as_of);
    whole.extend(events);
    roundtrip(&whole);
    let tally = whole.finish(zone);

    let mut other_order = retention.builder(as_of);
    other_order.extend(shuffled);
    prop_assert_eq!(other_order.finish(zone), tally.clone());

    let mut parts = vec![retention.builder(as_of); SHARDS];
    for e in events {
        parts[shard_of(e, shards)].add(e);
    }
    let tallies: Vec<RetentionTally> = parts.into_iter().map(|b| b.finish(zone)).collect();
    prop_assert_eq!(
        merge_every_way(tallies, |a, b| a.merge(b).unwrap()),
        tally.clone()
    );
    Ok(tally)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn funnel_shards_orders_and_serde_agree(
        spec in funnel_spec(),
        (events, shuffled, shards) in scenario(),
    ) {
        let funnel = spec.clone().validate().unwrap();
        let mut whole = funnel.builder();
        whole.extend(&events);
        roundtrip(&whole);
        let tally = whole.clone().finish();

        let mut other_order = funnel.builder();
        other_order.extend(&shuffled);
        prop_assert_eq!(other_order.finish(), tally.clone());

        let mut parts = vec![funnel.builder(); SHARDS];
        for e in &events {
            parts[shard_of(e, &shards)].add(e);
        }
        let tallies: Vec<FunnelTally> = parts.iter().cloned().map(|b| b.finish()).collect();
        let merged = merge_every_way(tallies, |a, b| a.merge(b).unwrap());
        prop_assert_eq!(&merged, &tally);

        // Builders may split a user; split by event position instead.
        let mut halves = vec![funnel.builder(); 3];
        for (i, e) in shuffled.iter().enumerate() {
            halves[i % 3].add(e);
        }
        let joined = merge_every_way(halves, |a, b| a.merge(b).unwrap());
        prop_assert_eq!(joined.finish(), tally.clone());

        let report = tally.report();
        let reached: Vec<u64> = report.steps.iter().map(|s| s.users).collect();
        prop_assert_eq!(reached, funnel_by_definition(&spec, &events));
        roundtrip(&tally);
        roundtrip(&report);
    }

    #[test]
    fn retention_shards_orders_and_serde_agree(
        spec in retention_spec(),
        scenario in scenario(),
        zone in zone(),
        as_of_hours in 0..24 * 24_i64,
    ) {
        let retention = spec.validate().unwrap();
        let as_of = base() + TimeDelta::hours(as_of_hours);
        let tally = retention_tally_agreeing(&retention, as_of, &zone, &scenario)?;

        let mut halves = vec![retention.builder(as_of); 3];
        for (i, e) in scenario.1.iter().enumerate() {
            halves[i % 3].add(e);
        }
        let joined = merge_every_way(halves, |a, b| a.merge(b).unwrap());
        prop_assert_eq!(joined.finish(&zone), tally.clone());

        let report = tally.report();
        for row in &report.cohorts {
            for cell in &row.intervals {
                // An interval is over only once it has begun.
                prop_assert!(cell.eligible <= cell.reached);
                prop_assert!(cell.reached <= row.users);
                prop_assert_eq!(cell.returned_on.denominator, cell.eligible);
                prop_assert_eq!(cell.returned_on_or_after.denominator, cell.reached);
                prop_assert!(cell.returned_on.numerator <= cell.returned_on_or_after.numerator);
                prop_assert!(cell.returned_on_or_after.numerator <= cell.reached);
            }
            // Interval n is over exactly when interval n + 1 has begun.
            for pair in row.intervals.windows(2) {
                prop_assert_eq!(pair[0].eligible, pair[1].reached);
            }
        }
        roundtrip(&tally);
        roundtrip(&report);
    }

    #[test]
    fn retention_handles_a_daylight_saving_zone(
        spec in retention_spec(),
        scenario in scenario(),
    ) {
        // New York springs forward on 2026-03-08, inside the generated range.
        let zone = chrono_tz::America::New_York;
        let retention = spec.validate().unwrap();
        retention_tally_agreeing(&retention, base() + TimeDelta::days(22), &zone, &scenario)?;
    }

    #[test]
    fn retention_counts_from_the_entry_where_the_local_day_steps_back(
        spec in retention_spec(),
        raw in prop::collection::vec((0..4_u64, fall_back_minute(), any::<u8>()), 0..24),
        shards in prop::collection::vec(0..SHARDS, USERS as usize),
        as_of_minutes in prop_oneof![0..300_i64, 90..152_i64],
    ) {
        // St John's fell back at 00:01 NDT on 2010-11-07 (02:31 UTC), to
        // 23:01 NST on the 6th; the events are the four hours around it.
        let zone = chrono_tz::America::St_Johns;
        let start = Utc.with_ymd_and_hms(2010, 11, 7, 1, 0, 0).unwrap();
        let events: Vec<Event> = raw
            .iter()
            .enumerate()
            .map(|(i, &(user, minutes, k))| {
                let at = start + TimeDelta::minutes(minutes);
                Event::new(EventId(i as u64), UserId(user), at, kind(k))
            })
            .collect();
        let as_of = start + TimeDelta::minutes(as_of_minutes);
        let retention = spec.clone().validate().unwrap();
        let mut shuffled = events.clone();
        shuffled.reverse();
        let tally =
            retention_tally_agreeing(&retention, as_of, &zone, &(events.clone(), shuffled, shards))?;
        let report = tally.report();

        // Every user has reached interval 0 (it begins at their entry), and
        // returned on or after it exactly when active at or after the entry.
        let is_activity = |e: &Event| match &spec.activity {
            Some(patterns) => patterns.iter().any(|p| p.matches(&e.kind)),
            None => !spec.entry.matches(&e.kind),
        };
        let (mut users, mut returned) = (0, 0);
        for user in 0..USERS {
            let mine: Vec<&Event> = events
                .iter()
                .filter(|e| e.user.0 == user && e.at <= as_of)
                .collect();
            let Some(entry) = mine.iter().filter(|e| spec.entry.matches(&e.kind)).map(|e| e.at).min()
            else {
                continue;
            };
            users += 1;
            if mine.iter().any(|e| e.at >= entry && is_activity(e)) {
                returned += 1;
            }
        }
        let day_0 = |f: fn(&growthkit::analytics::IntervalRow) -> u64| {
            report.cohorts.iter().map(|row| f(&row.intervals[0])).sum::<u64>()
        };
        prop_assert_eq!(report.cohorts.iter().map(|row| row.users).sum::<u64>(), users);
        prop_assert_eq!(day_0(|c| c.reached), users);
        prop_assert_eq!(day_0(|c| c.returned_on_or_after.numerator), returned);
        roundtrip(&tally);
    }

    #[test]
    fn stickiness_shards_orders_and_serde_agree(
        spec in stickiness_spec(),
        (events, shuffled, shards) in scenario(),
        zone in zone(),
    ) {
        let stickiness = spec.validate().unwrap();
        let mut whole = stickiness.builder(zone);
        whole.extend(&events);
        let tally = whole.finish();

        let mut other_order = stickiness.builder(zone);
        other_order.extend(&shuffled);
        prop_assert_eq!(other_order.finish(), tally.clone());

        let mut parts = vec![stickiness.builder(zone); SHARDS];
        for e in &events {
            parts[shard_of(e, &shards)].add(e);
        }
        let tallies: Vec<StickinessTally> = parts.iter().cloned().map(|b| b.finish()).collect();
        prop_assert_eq!(merge_every_way(tallies, |a, b| a.merge(b).unwrap()), tally.clone());

        let mut halves = vec![stickiness.builder(zone); 3];
        for (i, e) in shuffled.iter().enumerate() {
            halves[i % 3].add(e);
        }
        let joined = merge_every_way(halves, |a, b| a.merge(b).unwrap());
        prop_assert_eq!(joined.finish(), tally.clone());

        let report = tally.report();
        prop_assert!(report.daily_active.iter().all(|&d| d <= report.period_active));
        prop_assert_eq!(report.active_days.iter().sum::<u64>(), report.weekly_active);
        roundtrip(&tally);
        roundtrip(&report);
    }
}

/// Any pattern, including ones built in code that no text reads as: a name
/// on a kind that carries none, or an empty name.
fn any_pattern() -> impl Strategy<Value = KindPattern> {
    let tag = (0..KindTag::ALL.len()).prop_map(|i| KindTag::ALL[i]);
    prop_oneof![
        Just(KindPattern::Any),
        tag.clone().prop_map(KindPattern::Kind),
        (tag, prop_oneof![Just(""), Just("quiz"), Just("a:b")])
            .prop_map(|(tag, name)| KindPattern::Named(tag, name.into())),
    ]
}

/// Whether `spec` validates, checked against whether its JSON reads back
/// as the checked type: the two must agree.
fn validates_as_it_reads_back<S, T>(
    spec: S,
    validate: impl Fn(S) -> bool,
) -> Result<(), TestCaseError>
where
    S: serde::Serialize + Clone,
    T: serde::de::DeserializeOwned,
{
    let json = serde_json::to_string(&spec).unwrap();
    let reads_back = serde_json::from_str::<T>(&json).is_ok();
    prop_assert_eq!(validate(spec), reads_back, "{}", json);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn a_spec_validates_exactly_when_its_json_reads_back(
        steps in prop::collection::vec(any_pattern(), 2..4),
        entry in any_pattern(),
        activity in prop::collection::vec(any_pattern(), 1..3),
    ) {
        let funnel = FunnelSpec { steps, window_seconds: 60 };
        validates_as_it_reads_back::<_, Funnel>(funnel, |s| s.validate().is_ok())?;
        let retention = RetentionSpec {
            entry,
            activity: Some(activity.clone()),
            ..RetentionSpec::new(1)
        };
        validates_as_it_reads_back::<_, Retention>(retention, |s| s.validate().is_ok())?;
        let stickiness = StickinessSpec {
            activity,
            ..StickinessSpec::new(LocalDay::from_number(20_000))
        };
        validates_as_it_reads_back::<_, Stickiness>(stickiness, |s| s.validate().is_ok())?;
    }
}

/// Any instant chrono can represent.
fn any_instant() -> impl Strategy<Value = DateTime<Utc>> {
    let (min, max) = (
        DateTime::<Utc>::MIN_UTC.timestamp(),
        DateTime::<Utc>::MAX_UTC.timestamp(),
    );
    prop_oneof![min..=max, Just(min), Just(max), -86_400_i64 * 3..86_400 * 3,]
        .prop_map(|secs| DateTime::from_timestamp(secs, 0).unwrap())
}

fn wild_events() -> impl Strategy<Value = Vec<Event>> {
    prop::collection::vec((any::<u64>(), any_instant(), any::<u8>()), 0..24).prop_map(|raw| {
        raw.into_iter()
            .map(|(user, at, k)| Event::new(EventId(0), UserId(user % 4), at, kind(k)))
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn nothing_panics_on_arbitrary_input(
        events in wild_events(),
        steps in prop::collection::vec(any::<u8>(), 0..6),
        window_seconds in any::<u64>(),
        max_n in 0..40_u32,
        as_of in any_instant(),
        last_day in any::<i32>(),
        window_days in any::<u32>(),
        offset in -86_399..86_400_i32,
        json in ".{0,64}",
    ) {
        let zone = FixedOffset::east_opt(offset).unwrap();
        let spec = FunnelSpec { steps: steps.into_iter().map(pattern).collect(), window_seconds };
        if let Ok(funnel) = spec.validate() {
            let mut b = funnel.builder();
            b.extend(&events);
            let _ = b.finish().report();
        }
        for clock in [IntervalClock::Calendar, IntervalClock::Rolling] {
            let spec = RetentionSpec {
                clock,
                cohort: CohortBy::Week { starts_on: chrono::Weekday::Wed },
                ..RetentionSpec::new(max_n)
            };
            let mut b = spec.validate().unwrap().builder(as_of);
            b.extend(&events);
            let _ = b.clone().finish(&zone).report();
            let _ = b.finish(&chrono_tz::Australia::Lord_Howe).report();
        }
        let spec = StickinessSpec {
            last_day: LocalDay::from_number(last_day),
            window_days: window_days % 400,
            activity: vec![KindPattern::Any],
        };
        if let Ok(stickiness) = spec.validate() {
            let mut b = stickiness.builder(zone);
            b.extend(&events);
            let _ = b.finish().report();
        }
        let _ = serde_json::from_str::<FunnelTally>(&json);
        let _ = serde_json::from_str::<RetentionTally>(&json);
        let _ = serde_json::from_str::<StickinessTally>(&json);
    }
}
