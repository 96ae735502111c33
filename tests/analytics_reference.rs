//! The analytics accumulators against brute-force models written straight
//! from their docs: every event of every user is kept, and each number of a
//! report is computed from its definition. Times sit on coarse grids around
//! daylight-saving changes (and in +08:00), so local midnights, window ends
//! and exact N-day edges are hit; users and events are split across shards
//! in random ways, and builders are read back from JSON mid-stream.

#[path = "support/analytics.rs"]
mod vocabulary;
use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, TimeDelta, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use growthkit::analytics::{
    CohortBy, CohortRow, FunnelReport, FunnelSpec, FunnelStepReport, FunnelTally, IntervalClock,
    IntervalRow, IntervalUnit, Ratio, RetentionBuilder, RetentionSpec, RetentionTally,
    StickinessReport, StickinessSpec, StickinessTally,
};
use growthkit::{Event, EventId, KindPattern, LocalDay, UserId};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use vocabulary::{kind, pattern};

const USERS: u64 = 6;

/// A zone and an instant near one of its clock changes.
#[derive(Clone, Debug)]
enum Zone {
    Beijing,
    Iana(Tz),
}

fn zone_and_base() -> impl Strategy<Value = (Zone, DateTime<Utc>)> {
    let utc = |y, mo, d, h, mi| Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap();
    prop_oneof![
        Just((Zone::Beijing, utc(2026, 3, 1, 0, 0))),
        // Spring forward 2026-03-08 07:00 UTC, fall back 2026-11-01 06:00 UTC.
        Just((
            Zone::Iana(chrono_tz::America::New_York),
            utc(2026, 3, 8, 7, 0)
        )),
        Just((
            Zone::Iana(chrono_tz::America::New_York),
            utc(2026, 11, 1, 6, 0)
        )),
        // Fell back at 00:01 local on 2010-11-07 (02:31 UTC), to the 6th.
        Just((
            Zone::Iana(chrono_tz::America::St_Johns),
            utc(2010, 11, 7, 2, 31)
        )),
        Just((
            Zone::Iana(chrono_tz::America::St_Johns),
            utc(2026, 3, 8, 5, 30)
        )),
        // Half-hour changes: 2026-04-05 15:00 UTC back, 2026-10-03 15:30 UTC on.
        Just((
            Zone::Iana(chrono_tz::Australia::Lord_Howe),
            utc(2026, 4, 4, 15, 0)
        )),
        Just((
            Zone::Iana(chrono_tz::Australia::Lord_Howe),
            utc(2026, 10, 3, 15, 30)
        )),
    ]
}

/// Seconds from `base`: a quarter-hour grid over ten days (local midnights
/// of every zone here are on it), a minute grid close to the change, whole
/// hours, and now and then an odd millisecond.
fn offset_ms() -> impl Strategy<Value = i64> {
    prop_oneof![
        4 => (-4 * 96..6 * 96_i64).prop_map(|q| q * 900_000),
        2 => (-180..180_i64).prop_map(|m| m * 60_000),
        2 => (-4 * 24..6 * 24_i64).prop_map(|h| h * 3_600_000),
        1 => -4 * 86_400_000..6 * 86_400_000_i64,
    ]
}

fn events_near(base: DateTime<Utc>, raw: &[(u64, i64, u8)]) -> Vec<Event> {
    raw.iter()
        .enumerate()
        .map(|(i, &(user, ms, k))| {
            Event::new(
                EventId(i as u64),
                UserId(user),
                base + TimeDelta::milliseconds(ms),
                kind(k),
            )
        })
        .collect()
}

fn raw_events() -> impl Strategy<Value = Vec<(u64, i64, u8)>> {
    prop::collection::vec((0..USERS, offset_ms(), any::<u8>()), 0..40)
}

/// A shard for each event (builders) and for each user (tallies).
fn shards() -> impl Strategy<Value = (Vec<usize>, Vec<usize>)> {
    (
        prop::collection::vec(0..3_usize, 40),
        prop::collection::vec(0..3_usize, USERS as usize),
    )
}

fn json<T: serde::Serialize + serde::de::DeserializeOwned>(value: &T) -> T {
    serde_json::from_str(&serde_json::to_string(value).unwrap()).unwrap()
}

fn local_date<Z: TimeZone>(at: DateTime<Utc>, zone: &Z) -> NaiveDate {
    at.with_timezone(zone).date_naive()
}

fn day(date: NaiveDate) -> LocalDay {
    LocalDay::from_date(date)
}

// ---------------------------------------------------------------- funnel

fn funnel_by_definition(spec: &FunnelSpec, events: &[Event]) -> FunnelReport {
    let n = spec.steps.len();
    let mut reached = vec![0_u64; n];
    let mut gaps: Vec<Vec<i64>> = vec![Vec::new(); n - 1];
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
        let end = entry.checked_add_signed(TimeDelta::seconds(spec.window_seconds as i64));
        reached[0] += 1;
        let mut previous = entry;
        for k in 1..n {
            let next = mine
                .iter()
                .filter(|e| {
                    spec.steps[k].matches(&e.kind)
                        && e.at > previous
                        && end.is_none_or(|end| e.at <= end)
                })
                .map(|e| e.at)
                .min();
            let Some(at) = next else { break };
            reached[k] += 1;
            // Whole milliseconds, truncated toward zero, held to 0..=W
            // (chrono's arithmetic across a leap second can leave it).
            let d = at - previous;
            let ms = d.num_seconds() * 1000 + i64::from(d.subsec_nanos()) / 1_000_000;
            gaps[k - 1].push(ms.clamp(0, spec.window_seconds as i64 * 1000));
            previous = at;
        }
    }
    let entered = reached[0];
    let steps = (0..n)
        .map(|k| {
            let previous = if k == 0 { entered } else { reached[k - 1] };
            let median = (k > 0 && !gaps[k - 1].is_empty()).then(|| {
                let mut g = gaps[k - 1].clone();
                g.sort();
                g[(g.len() - 1) / 2]
            });
            FunnelStepReport {
                step: spec.steps[k].clone(),
                users: reached[k],
                from_previous: Ratio::new(reached[k], previous),
                overall: Ratio::new(reached[k], entered),
                median_ms_from_previous: median,
            }
        })
        .collect();
    FunnelReport {
        entered,
        window_seconds: spec.window_seconds,
        steps,
        converted: Ratio::new(reached[n - 1], entered),
    }
}

fn funnel_spec() -> impl Strategy<Value = FunnelSpec> {
    (
        prop::collection::vec(any::<u8>(), 2..5),
        prop_oneof![
            (1..48_u64).prop_map(|q| q * 900),
            1..3 * 86_400_u64,
            (1..4_u64).prop_map(|d| d * 86_400),
        ],
    )
        .prop_map(|(steps, window_seconds)| FunnelSpec {
            steps: steps.into_iter().map(pattern).collect(),
            window_seconds,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn funnel_matches_its_definition(
        spec in funnel_spec(),
        (_, base) in zone_and_base(),
        raw in raw_events(),
        (event_shards, user_shards) in shards(),
        cut in 0..40_usize,
    ) {
        let events = events_near(base, &raw);
        let expected = funnel_by_definition(&spec, &events);
        let funnel = spec.clone().validate().unwrap();

        let mut whole = funnel.builder();
        whole.extend(&events);
        // Users with an event matching some step.
        let users: std::collections::BTreeSet<u64> = events
            .iter()
            .filter(|e| spec.steps.iter().any(|p| p.matches(&e.kind)))
            .map(|e| e.user.0)
            .collect();
        prop_assert_eq!(whole.users(), users.len());
        // A redelivered event changes nothing.
        let mut twice = whole.clone();
        twice.extend(events.iter().rev());
        prop_assert_eq!(&twice, &whole);
        let tally = whole.finish();
        prop_assert_eq!(&tally.report(), &expected);

        // Read back from JSON mid-stream, then fed the rest.
        let cut = cut.min(events.len());
        let mut first = funnel.builder();
        first.extend(&events[..cut]);
        let mut resumed = json(&first);
        resumed.extend(&events[cut..]);
        prop_assert_eq!(resumed.finish().report(), expected.clone());

        // Events split at random across builders, merged in two groupings.
        let mut parts = vec![funnel.builder(); 3];
        for (i, e) in events.iter().enumerate() {
            parts[event_shards[i]].add(e);
        }
        let [a, b, c] = <[_; 3]>::try_from(parts).unwrap();
        let mut left = a.clone();
        left.merge(b.clone()).unwrap();
        left.merge(c.clone()).unwrap();
        let mut bc = b;
        bc.merge(c).unwrap();
        let mut right = a;
        right.merge(bc).unwrap();
        prop_assert_eq!(left.finish().report(), expected.clone());
        prop_assert_eq!(right.finish().report(), expected.clone());

        // Users split at random across tallies.
        let mut parts = vec![funnel.builder(); 3];
        for e in &events {
            parts[user_shards[e.user.0 as usize]].add(e);
        }
        let tallies: Vec<FunnelTally> = parts.into_iter().map(|b| json(&b.finish())).collect();
        let [a, b, c] = <[_; 3]>::try_from(tallies).unwrap();
        let mut left = a.clone();
        left.merge(b.clone()).unwrap();
        left.merge(c.clone()).unwrap();
        let mut cb = c;
        cb.merge(b).unwrap();
        let mut right = cb;
        right.merge(a).unwrap();
        prop_assert_eq!(&left, &right);
        prop_assert_eq!(left.report(), expected);
    }
}

// ------------------------------------------------------------- retention

/// The interval index of `t ≥ e`, from the docs.
fn index<Z: TimeZone>(spec: &RetentionSpec, e: DateTime<Utc>, t: DateTime<Utc>, zone: &Z) -> i64 {
    let len = match spec.unit {
        IntervalUnit::Day => 1,
        IntervalUnit::Week => 7,
    };
    match spec.clock {
        IntervalClock::Calendar => {
            let days = (local_date(t, zone) - local_date(e, zone)).num_days();
            days.max(0) / len
        }
        IntervalClock::Rolling => {
            let d = t - e;
            let nanos = i128::from(d.num_seconds()) * 1_000_000_000 + i128::from(d.subsec_nanos());
            // Never below 0 from the entry on, even where chrono counts an
            // instant after a leap second (23:59:60.5) as before it.
            let n = (nanos.div_euclid(i128::from(len) * 86_400 * 1_000_000_000)) as i64;
            if t >= e { n.max(0) } else { n }
        }
    }
}

/// Whether interval `n` has begun (`end` false) or fully elapsed (`end`
/// true) at `as_of`, by the docs' direct definitions, not through the index.
fn has_passed<Z: TimeZone>(
    spec: &RetentionSpec,
    e: DateTime<Utc>,
    as_of: DateTime<Utc>,
    n: i64,
    end: bool,
    zone: &Z,
) -> bool {
    let len = match spec.unit {
        IntervalUnit::Day => 1,
        IntervalUnit::Week => 7,
    };
    let edge = if end { n + 1 } else { n };
    if edge == 0 {
        return true; // interval 0 begins at the entry itself
    }
    match spec.clock {
        IntervalClock::Calendar => {
            (local_date(as_of, zone) - local_date(e, zone)).num_days() >= edge * len
        }
        // A start beyond chrono's calendar is after every as_of.
        IntervalClock::Rolling => e
            .checked_add_signed(TimeDelta::days(edge * len))
            .is_some_and(|start| start <= as_of),
    }
}

fn retention_by_definition<Z: TimeZone>(
    spec: &RetentionSpec,
    as_of: DateTime<Utc>,
    zone: &Z,
    events: &[Event],
) -> Vec<CohortRow> {
    let is_activity = |e: &Event| match &spec.activity {
        Some(patterns) => patterns.iter().any(|p| p.matches(&e.kind)),
        None => !spec.entry.matches(&e.kind),
    };
    let columns = spec.max_n as i64 + 1;
    let mut rows: std::collections::BTreeMap<LocalDay, CohortRow> = Default::default();
    for user in 0..USERS {
        let mine: Vec<&Event> = events
            .iter()
            .filter(|e| e.user.0 == user && e.at <= as_of)
            .collect();
        let Some(e) = mine
            .iter()
            .filter(|ev| spec.entry.matches(&ev.kind))
            .map(|ev| ev.at)
            .min()
        else {
            continue;
        };
        let active: Vec<i64> = mine
            .iter()
            .filter(|ev| is_activity(ev) && ev.at >= e)
            .map(|ev| index(spec, e, ev.at, zone))
            .collect();
        let date = local_date(e, zone);
        let cohort = match spec.cohort {
            CohortBy::Day {} => day(date),
            CohortBy::Week { starts_on } => {
                let back = (date.weekday().num_days_from_monday() + 7
                    - starts_on.num_days_from_monday())
                    % 7;
                // On day numbers: a week may start before chrono's first date.
                LocalDay::from_number(day(date).number() - back as i32)
            }
        };
        let row = rows.entry(cohort).or_insert_with(|| CohortRow {
            cohort,
            users: 0,
            intervals: (0..columns)
                .map(|n| IntervalRow {
                    n: n as u32,
                    reached: 0,
                    eligible: 0,
                    returned_on: Ratio::new(0, 0),
                    returned_on_or_after: Ratio::new(0, 0),
                })
                .collect(),
        });
        row.users += 1;
        for n in 0..columns {
            let cell = &mut row.intervals[n as usize];
            let begun = has_passed(spec, e, as_of, n, false, zone);
            let elapsed = has_passed(spec, e, as_of, n, true, zone);
            // The docs' "equivalently" forms, through the index of as_of.
            let at = index(spec, e, as_of, zone);
            assert_eq!(begun, n <= at, "begun({n}), index(as_of) {at}");
            assert_eq!(elapsed, n < at, "elapsed({n}), index(as_of) {at}");
            if begun {
                cell.reached += 1;
                cell.returned_on_or_after.denominator += 1;
                if active.iter().any(|&i| i >= n) {
                    cell.returned_on_or_after.numerator += 1;
                }
            }
            if elapsed {
                cell.eligible += 1;
                cell.returned_on.denominator += 1;
                if active.contains(&n) {
                    cell.returned_on.numerator += 1;
                }
            }
        }
    }
    rows.into_values().collect()
}

fn retention_spec() -> impl Strategy<Value = RetentionSpec> {
    (
        0..4_u8,
        any::<bool>(),
        any::<bool>(),
        0..8_u32,
        0..3_u8,
        0..5_u8,
    )
        .prop_map(|(cohort, rolling, weeks, max_n, activity, entry)| {
            let starts = [Weekday::Mon, Weekday::Sun, Weekday::Wed];
            RetentionSpec {
                entry: if entry < 3 {
                    pattern(0)
                } else {
                    pattern(entry)
                },
                cohort: match cohort {
                    0 => CohortBy::Day {},
                    c => CohortBy::Week {
                        starts_on: starts[c as usize - 1],
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
                activity: match activity {
                    0 => None,
                    1 => Some(vec![KindPattern::Any]),
                    _ => Some(vec![pattern(1), pattern(2)]),
                },
                ..RetentionSpec::new(max_n)
            }
        })
}

fn check_retention<Z: TimeZone>(
    spec: &RetentionSpec,
    as_of: DateTime<Utc>,
    zone: &Z,
    events: &[Event],
    (event_shards, user_shards): &(Vec<usize>, Vec<usize>),
    cut: usize,
) -> Result<(), TestCaseError> {
    let expected = retention_by_definition(spec, as_of, zone, events);
    let retention = spec.clone().validate().unwrap();
    let mut whole = retention.builder(as_of);
    whole.extend(events);
    // Users with an entry or activity event up to as_of.
    let users: std::collections::BTreeSet<u64> = events
        .iter()
        .filter(|e| {
            e.at <= as_of
                && (spec.entry.matches(&e.kind)
                    || match &spec.activity {
                        Some(patterns) => patterns.iter().any(|p| p.matches(&e.kind)),
                        None => true,
                    })
        })
        .map(|e| e.user.0)
        .collect();
    prop_assert_eq!(whole.users(), users.len());
    let mut twice = whole.clone();
    twice.extend(events.iter().rev());
    prop_assert_eq!(&twice, &whole);
    let report = whole.finish(zone).report();
    prop_assert_eq!(report.as_of, as_of);
    prop_assert_eq!(&report.cohorts, &expected);

    let cut = cut.min(events.len());
    let mut first = retention.builder(as_of);
    first.extend(&events[..cut]);
    let mut resumed: RetentionBuilder = json(&first);
    resumed.extend(&events[cut..]);
    prop_assert_eq!(&resumed.finish(zone).report().cohorts, &expected);

    let mut parts = vec![retention.builder(as_of); 3];
    for (i, e) in events.iter().enumerate() {
        parts[event_shards[i]].add(e);
    }
    let [a, b, c] = <[_; 3]>::try_from(parts).unwrap();
    let mut bc = b;
    bc.merge(c).unwrap();
    let mut joined = a;
    joined.merge(bc).unwrap();
    prop_assert_eq!(&joined.finish(zone).report().cohorts, &expected);

    let mut parts = vec![retention.builder(as_of); 3];
    for e in events {
        parts[user_shards[e.user.0 as usize]].add(e);
    }
    let tallies: Vec<RetentionTally> = parts.into_iter().map(|b| json(&b.finish(zone))).collect();
    let [a, b, c] = <[_; 3]>::try_from(tallies).unwrap();
    let mut left = a.clone();
    left.merge(b.clone()).unwrap();
    left.merge(c.clone()).unwrap();
    let mut right = c;
    right.merge(a).unwrap();
    right.merge(b).unwrap();
    prop_assert_eq!(&left, &right);
    prop_assert_eq!(&left.report().cohorts, &expected);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(768))]

    #[test]
    fn retention_matches_its_definition(
        spec in retention_spec(),
        (zone, base) in zone_and_base(),
        raw in raw_events(),
        as_of_ms in offset_ms(),
        shards in shards(),
        cut in 0..40_usize,
    ) {
        let events = events_near(base, &raw);
        let as_of = base + TimeDelta::milliseconds(as_of_ms) + TimeDelta::days(2);
        match zone {
            Zone::Beijing => check_retention(
                &spec, as_of, &FixedOffset::east_opt(8 * 3600).unwrap(), &events, &shards, cut,
            )?,
            Zone::Iana(tz) => check_retention(&spec, as_of, &tz, &events, &shards, cut)?,
        }
    }
}

// ------------------------------------------------------------ stickiness

fn stickiness_by_definition<Z: TimeZone>(
    spec: &StickinessSpec,
    zone: &Z,
    events: &[Event],
) -> StickinessReport {
    let last = spec.last_day.date();
    let window = i64::from(spec.window_days);
    let period_start = last - TimeDelta::days(window - 1);
    let week_start = last - TimeDelta::days(6);
    let mut daily_active = vec![0_u64; spec.window_days as usize];
    let (mut period_active, mut weekly_active) = (0, 0);
    let mut active_days = vec![0_u64; 7];
    for user in 0..USERS {
        let days: std::collections::BTreeSet<NaiveDate> = events
            .iter()
            .filter(|e| e.user.0 == user && spec.activity.iter().any(|p| p.matches(&e.kind)))
            .map(|e| local_date(e.at, zone))
            .collect();
        let in_period: Vec<&NaiveDate> = days
            .iter()
            .filter(|&&d| period_start <= d && d <= last)
            .collect();
        for d in &in_period {
            daily_active[(**d - period_start).num_days() as usize] += 1;
        }
        if !in_period.is_empty() {
            period_active += 1;
        }
        let in_week = days
            .iter()
            .filter(|&&d| week_start <= d && d <= last)
            .count();
        if in_week > 0 {
            weekly_active += 1;
            active_days[in_week - 1] += 1;
        }
    }
    let sum: u64 = daily_active.iter().sum();
    let at_least = (1..=7)
        .map(|n| Ratio::new(active_days[n - 1..].iter().sum(), weekly_active))
        .collect();
    StickinessReport {
        period_start: day(period_start),
        last_day: spec.last_day,
        window_days: spec.window_days,
        daily_active,
        period_active,
        average_daily_active: Ratio::new(sum, window as u64),
        dau_mau: Ratio::new(sum, window as u64 * period_active),
        weekly_active,
        active_days,
        at_least,
    }
}

fn check_stickiness<Z: TimeZone + std::fmt::Debug + PartialEq>(
    spec: &StickinessSpec,
    zone: Z,
    events: &[Event],
    (event_shards, user_shards): &(Vec<usize>, Vec<usize>),
) -> Result<(), TestCaseError> {
    let expected = stickiness_by_definition(spec, &zone, events);
    let stickiness = spec.clone().validate().unwrap();
    let mut whole = stickiness.builder(zone.clone());
    whole.extend(events);
    // Users active in the period or the week.
    let last = spec.last_day.date();
    let first = last - TimeDelta::days(i64::from(spec.window_days.max(7)) - 1);
    let users: std::collections::BTreeSet<u64> = events
        .iter()
        .filter(|e| {
            let d = local_date(e.at, &zone);
            spec.activity.iter().any(|p| p.matches(&e.kind)) && first <= d && d <= last
        })
        .map(|e| e.user.0)
        .collect();
    prop_assert_eq!(whole.users(), users.len());
    let mut twice = whole.clone();
    twice.extend(events.iter().rev());
    prop_assert_eq!(twice.finish(), whole.clone().finish());
    prop_assert_eq!(&whole.finish().report(), &expected);

    let mut parts = vec![stickiness.builder(zone.clone()); 3];
    for (i, e) in events.iter().enumerate() {
        parts[event_shards[i]].add(e);
    }
    let [a, b, c] = <[_; 3]>::try_from(parts).unwrap();
    let mut ca = c;
    ca.merge(a).unwrap();
    let mut joined = b;
    joined.merge(ca).unwrap();
    prop_assert_eq!(&joined.finish().report(), &expected);

    let mut parts = vec![stickiness.builder(zone.clone()); 3];
    for e in events {
        parts[user_shards[e.user.0 as usize]].add(e);
    }
    let tallies: Vec<StickinessTally> = parts.into_iter().map(|b| json(&b.finish())).collect();
    let [a, b, c] = <[_; 3]>::try_from(tallies).unwrap();
    let mut left = a.clone();
    left.merge(b.clone()).unwrap();
    left.merge(c.clone()).unwrap();
    let mut right = b;
    right.merge(c).unwrap();
    right.merge(a).unwrap();
    prop_assert_eq!(&left, &right);
    prop_assert_eq!(&left.report(), &expected);
    prop_assert_eq!(&json(&left.report()), &expected);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn stickiness_matches_its_definition(
        (zone, base) in zone_and_base(),
        last in -3..6_i64,
        window_days in prop_oneof![1..12_u32, Just(7_u32), Just(30_u32)],
        any_activity in any::<bool>(),
        raw in raw_events(),
        shards in shards(),
    ) {
        let events = events_near(base, &raw);
        let base_date = match &zone {
            Zone::Beijing => local_date(base, &FixedOffset::east_opt(8 * 3600).unwrap()),
            Zone::Iana(tz) => local_date(base, tz),
        };
        let spec = StickinessSpec {
            last_day: day(base_date + TimeDelta::days(last)),
            window_days,
            activity: if any_activity {
                vec![KindPattern::Any]
            } else {
                vec![pattern(1), pattern(4)]
            },
        };
        match zone {
            Zone::Beijing => {
                check_stickiness(&spec, FixedOffset::east_opt(8 * 3600).unwrap(), &events, &shards)?
            }
            Zone::Iana(tz) => check_stickiness(&spec, tz, &events, &shards)?,
        }
    }
}

// ------------------------------------------------------------ edge values

/// An instant inside the leap second that ends `date` (chrono's 23:59:60).
fn leap(date: NaiveDate, ms: u32) -> DateTime<Utc> {
    date.and_hms_milli_opt(23, 59, 59, 1_000 + ms)
        .unwrap()
        .and_utc()
}

fn ev(user: u64, at: DateTime<Utc>, k: u8) -> Event {
    Event::new(EventId(0), UserId(user), at, kind(k))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Events in and around a leap second, on a millisecond grid.
    #[test]
    fn funnel_and_retention_match_their_definitions_around_a_leap_second(
        raw in prop::collection::vec(
            (0..3_u64, prop_oneof![0..1000_i32, -3000..3000_i32], any::<u8>()),
            0..16,
        ),
        leap_ms in prop::collection::vec(0..1000_u32, 0..6),
        leap_users in prop::collection::vec((0..3_u64, any::<u8>()), 6),
        window_ms in prop_oneof![Just(1_000_u64), Just(2_000_u64), 1..5_000_u64],
        steps in prop::collection::vec(any::<u8>(), 2..4),
        spec in retention_spec(),
        as_of_ms in -3000..3000_i64,
    ) {
        let date = NaiveDate::from_ymd_opt(2016, 12, 31).unwrap();
        let after = date.succ_opt().unwrap().and_hms_opt(0, 0, 0).unwrap().and_utc();
        let mut events: Vec<Event> = raw
            .iter()
            .map(|&(user, ms, k)| ev(user, after + TimeDelta::milliseconds(i64::from(ms)), k))
            .collect();
        for (i, &ms) in leap_ms.iter().enumerate() {
            let (user, k) = leap_users[i];
            events.push(ev(user, leap(date, ms), k));
        }
        let spec_f = FunnelSpec {
            steps: steps.into_iter().map(pattern).collect(),
            window_seconds: window_ms.div_ceil(1000),
        };
        let funnel = spec_f.clone().validate().unwrap();
        let mut b = funnel.builder();
        b.extend(&events);
        prop_assert_eq!(&json(&b), &b);
        let tally = b.finish();
        prop_assert_eq!(tally.report(), funnel_by_definition(&spec_f, &events));
        let read = serde_json::from_str::<FunnelTally>(&serde_json::to_string(&tally).unwrap());
        prop_assert!(read.is_ok(), "{:?}", read);
        prop_assert_eq!(read.unwrap(), tally);

        let as_of = after + TimeDelta::milliseconds(as_of_ms);
        let no_shards = (vec![0; 40], vec![0; USERS as usize]);
        check_retention(&spec, as_of, &Utc, &events, &no_shards, 3)?;
        check_retention(&spec, as_of, &FixedOffset::east_opt(8 * 3600).unwrap(), &events, &no_shards, 3)?;
    }

    /// Events, `as_of` and the stickiness day at chrono's first and last
    /// instants, in UTC.
    #[test]
    fn the_accumulators_match_their_definitions_at_chrono_s_ends(
        raw in prop::collection::vec((0..3_u64, 0..5 * 86_400_i64, any::<u8>()), 0..16),
        at_max in any::<bool>(),
        window_seconds in prop_oneof![Just(FunnelSpec::MAX_WINDOW_SECONDS), 1..10 * 86_400_u64],
        steps in prop::collection::vec(any::<u8>(), 2..4),
        spec in retention_spec(),
        as_of_back in 0..5 * 86_400_i64,
        window_days in 1..10_u32,
    ) {
        let sign = |s: i64| if at_max { -s } else { s };
        let end = if at_max { DateTime::<Utc>::MAX_UTC } else { DateTime::<Utc>::MIN_UTC };
        let events: Vec<Event> = raw
            .iter()
            .map(|&(user, s, k)| ev(user, end + TimeDelta::seconds(sign(s)), k))
            .collect();
        let spec_f = FunnelSpec { steps: steps.into_iter().map(pattern).collect(), window_seconds };
        let funnel = spec_f.clone().validate().unwrap();
        let mut b = funnel.builder();
        b.extend(&events);
        prop_assert_eq!(&json(&b), &b);
        let tally = b.finish();
        prop_assert_eq!(tally.report(), funnel_by_definition(&spec_f, &events));
        prop_assert_eq!(&json(&tally), &tally);

        let as_of = if at_max { end - TimeDelta::seconds(as_of_back) } else { DateTime::<Utc>::MAX_UTC };
        let no_shards = (vec![1; 40], vec![2; USERS as usize]);
        check_retention(&spec, as_of, &Utc, &events, &no_shards, 5)?;

        let last = local_date(end, &Utc) + TimeDelta::days(if at_max { 0 } else { 12 });
        let sspec = StickinessSpec {
            last_day: day(last),
            window_days,
            activity: vec![KindPattern::Any],
        };
        if sspec.clone().validate().is_ok() {
            check_stickiness(&sspec, Utc, &events, &no_shards)?;
        }
    }
}

#[test]
fn empty_inputs_and_a_single_user() {
    let steps: Vec<KindPattern> = vec![pattern(0), pattern(1)];
    let spec = FunnelSpec {
        steps,
        window_seconds: 60,
    };
    let funnel = spec.clone().validate().unwrap();
    let empty = funnel.builder().finish();
    assert_eq!(empty, FunnelTally::empty(funnel.clone()));
    assert_eq!(empty.report(), funnel_by_definition(&spec, &[]));
    let t = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
    let one = [ev(1, t, 0), ev(1, t + TimeDelta::seconds(60), 1)];
    let mut b = funnel.builder();
    b.extend(&one);
    let mut tally = b.finish();
    assert_eq!(tally.report(), funnel_by_definition(&spec, &one));
    tally.merge(empty).unwrap();
    assert_eq!(
        tally.report().steps[1].median_ms_from_previous,
        Some(60_000)
    );

    let rspec = RetentionSpec::new(3);
    let retention = rspec.clone().validate().unwrap();
    let r = retention.builder(t).finish(&Utc);
    assert_eq!(r, RetentionTally::empty(retention.clone(), t));
    assert!(r.report().cohorts.is_empty());
    let sspec = StickinessSpec::new(day(t.date_naive()));
    let s = sspec.clone().validate().unwrap().builder(Utc).finish();
    assert_eq!(s.report(), stickiness_by_definition(&sspec, &Utc, &[]));
    assert_eq!(s.report().dau_mau.value(), None);
}

/// Tallies whose counts are near `u64::MAX`, read from JSON, merged: the
/// counts stick at the maximum in any grouping, never wrap, never panic.
#[test]
fn counts_near_the_maximum_saturate_when_merged() {
    use serde_json::json;
    let big = u64::MAX - 1;

    let spec = FunnelSpec {
        steps: vec![pattern(0), pattern(1)],
        window_seconds: 60,
    };
    let funnel = spec.validate().unwrap();
    let mut value = serde_json::to_value(FunnelTally::empty(funnel)).unwrap();
    value["reached"] = json!([big, 1]);
    value["gaps_ms"] = json!([[5]]);
    let f: FunnelTally = serde_json::from_value(value).unwrap();
    let (mut a, mut b) = (f.clone(), f.clone());
    a.merge(f.clone()).unwrap();
    a.merge(f.clone()).unwrap();
    let mut ff = f.clone();
    ff.merge(f.clone()).unwrap();
    b.merge(ff).unwrap();
    assert_eq!(a, b);
    let r = a.report();
    assert_eq!(r.entered, u64::MAX);
    assert_eq!(r.steps[1].users, 3);
    assert_eq!(r.steps[1].median_ms_from_previous, Some(5));
    assert_eq!(json(&a), a);

    let t = Utc.with_ymd_and_hms(2026, 3, 10, 0, 0, 0).unwrap();
    let retention = RetentionSpec::new(1).validate().unwrap();
    let mut b = retention.builder(t);
    b.extend(&[
        ev(1, t - TimeDelta::days(3), 0),
        ev(1, t - TimeDelta::days(2), 1),
    ]);
    let mut value = serde_json::to_value(b.finish(&Utc)).unwrap();
    let row = value["cohorts"]
        .as_object_mut()
        .unwrap()
        .values_mut()
        .next()
        .unwrap();
    row["users"] = json!(big);
    for cell in row["intervals"].as_array_mut().unwrap() {
        cell["reached"] = json!(big);
        cell["eligible"] = json!(big);
        cell["returned_on_or_after"] = json!(big);
    }
    let r: RetentionTally = serde_json::from_value(value).unwrap();
    let mut a = r.clone();
    a.merge(r.clone()).unwrap();
    a.merge(r.clone()).unwrap();
    assert_eq!(json(&a), a);
    let row = &a.report().cohorts[0];
    assert_eq!(row.users, u64::MAX);
    assert_eq!(row.intervals[1].returned_on, Ratio::new(3, u64::MAX));

    let spec = StickinessSpec {
        window_days: 7,
        ..StickinessSpec::new(day(t.date_naive()))
    };
    let s = spec.validate().unwrap();
    let mut value = serde_json::to_value(StickinessTally::empty(s)).unwrap();
    value["daily_active"] = json!([big, big, 0, 0, 0, 0, 0]);
    value["period_active"] = json!(big);
    value["week_active_days"] = json!([big - 1, 0, 0, 0, 0, 0, 1]);
    let s: StickinessTally = serde_json::from_value(value).unwrap();
    let mut a = s.clone();
    a.merge(s.clone()).unwrap();
    a.merge(s).unwrap();
    assert_eq!(json(&a), a);
    let r = a.report();
    assert_eq!(r.period_active, u64::MAX);
    assert_eq!(r.weekly_active, u64::MAX);
    assert_eq!(r.at_least[6], Ratio::new(3, u64::MAX));
    assert_eq!(r.dau_mau, Ratio::new(u64::MAX, u64::MAX));
}

/// At chrono's last instant in +08:00 the local day is past chrono's
/// calendar: it is still a day, one after the calendar's last.
#[test]
fn the_local_day_after_chrono_s_calendar_counts_like_any_other() {
    let beijing = FixedOffset::east_opt(8 * 3600).unwrap();
    let end = DateTime::<Utc>::MAX_UTC;
    let beyond = LocalDay::from_number(day(end.date_naive()).number() + 1);
    let events = [
        ev(1, end - TimeDelta::hours(1), 0),
        ev(1, end, 1),
        ev(2, end - TimeDelta::hours(20), 0),
    ];
    let spec = RetentionSpec::new(1);
    let mut b = spec.validate().unwrap().builder(end);
    b.extend(&events);
    let tally = b.finish(&beijing);
    assert_eq!(json(&tally), tally);
    let rows = tally.report().cohorts;
    // User 2 entered at 03:59:59 local on the calendar's last day.
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1].cohort, beyond);
    let day_0 = rows[1].intervals[0];
    assert_eq!((day_0.reached, day_0.eligible), (1, 0));
    assert_eq!(day_0.returned_on_or_after, Ratio::new(1, 1));
    let day_1 = rows[0].intervals[1];
    assert_eq!((day_1.reached, day_1.eligible), (1, 0));

    let spec = StickinessSpec {
        window_days: 7,
        ..StickinessSpec::new(beyond)
    };
    let mut b = spec.validate().unwrap().builder(beijing);
    b.extend(&events);
    let r = b.finish().report();
    assert_eq!(r.daily_active, [0, 0, 0, 0, 0, 1, 1]);
    assert_eq!(r.active_days, [2, 0, 0, 0, 0, 0, 0]);
}

/// An IANA zone that serializes as its name, so that a stickiness builder
/// (which holds its zone) can be read back from JSON.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Named(Tz);

impl serde::Serialize for Named {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.name())
    }
}

impl<'de> serde::Deserialize<'de> for Named {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        name.parse().map(Named).map_err(serde::de::Error::custom)
    }
}

#[allow(deprecated)]
impl TimeZone for Named {
    type Offset = <Tz as TimeZone>::Offset;
    fn from_offset(offset: &Self::Offset) -> Self {
        Named(Tz::from_offset(offset))
    }
    fn offset_from_local_date(&self, local: &NaiveDate) -> chrono::MappedLocalTime<Self::Offset> {
        self.0.offset_from_local_date(local)
    }
    fn offset_from_local_datetime(
        &self,
        local: &chrono::NaiveDateTime,
    ) -> chrono::MappedLocalTime<Self::Offset> {
        self.0.offset_from_local_datetime(local)
    }
    fn offset_from_utc_date(&self, utc: &NaiveDate) -> Self::Offset {
        self.0.offset_from_utc_date(utc)
    }
    fn offset_from_utc_datetime(&self, utc: &chrono::NaiveDateTime) -> Self::Offset {
        self.0.offset_from_utc_datetime(utc)
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn a_stickiness_builder_read_back_mid_stream_continues_identically(
        (zone, base) in zone_and_base(),
        last in -3..6_i64,
        window_days in prop_oneof![1..12_u32, Just(30_u32)],
        raw in raw_events(),
        cut in 0..40_usize,
    ) {
        let zone = Named(match zone {
            Zone::Beijing => chrono_tz::Asia::Shanghai,
            Zone::Iana(tz) => tz,
        });
        let events = events_near(base, &raw);
        let spec = StickinessSpec {
            last_day: day(local_date(base, &zone) + TimeDelta::days(last)),
            window_days,
            activity: vec![KindPattern::Any],
        };
        let stickiness = spec.clone().validate().unwrap();
        let cut = cut.min(events.len());
        let mut first = stickiness.builder(zone);
        first.extend(&events[..cut]);
        let mut resumed = json(&first);
        prop_assert_eq!(&resumed, &first);
        resumed.extend(&events[cut..]);
        prop_assert_eq!(resumed.finish().report(), stickiness_by_definition(&spec, &zone, &events));
    }
}
