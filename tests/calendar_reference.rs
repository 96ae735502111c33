//! The crate's own calendar arithmetic against chrono's answers, across
//! chrono's whole calendar: local days and their weeks and months
//! ([`LocalDay`]), the start of a local day in a zone, calendar-month and
//! whole-day expiry ([`Expiry::expires_at`]), the simulation's months
//! ([`ValidThrough::of`]) and [`rolling_days`].
//!
//! The models here use only chrono (and chrono-tz's offsets): local times
//! are `naive_utc + offset`, months are `NaiveDateTime::checked_add_months`,
//! and a local time a change of offset skips resolves to the first instant
//! whose local time is at or after it, found by bisection over UTC instants.
//! Instants are drawn from the whole calendar (its ends, leap seconds,
//! negative years, century years) and, for IANA zones, around their changes
//! of offset (at midnight, by half an hour, by a whole day).

use chrono::{
    DateTime, Datelike, FixedOffset, Months, NaiveDate, NaiveDateTime, Offset, TimeDelta, TimeZone,
    Utc, Weekday,
};
use chrono_tz::Tz;
use growthkit::LocalDay;
use growthkit::points::{Expiry, PeriodEnd, PointsError, ValidThrough};
use growthkit::time::rolling_days;
use proptest::prelude::*;
use std::sync::OnceLock;

const NANOS_PER_SECOND: i128 = 1_000_000_000;
const NANOS_PER_DAY: i128 = 86_400 * NANOS_PER_SECOND;

fn epoch() -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_else(|| unreachable!())
}

// ---------------------------------------------------------------- models

/// An instant as nanoseconds since the epoch (a leap second's nanoseconds
/// run on into the next second, as chrono's `timestamp` and subsecond
/// nanoseconds add up).
fn nanos_of(at: DateTime<Utc>) -> i128 {
    i128::from(at.timestamp()) * NANOS_PER_SECOND + i128::from(at.timestamp_subsec_nanos())
}

/// The instant `nanos` since the epoch, if chrono has it.
fn instant_of(nanos: i128) -> Option<DateTime<Utc>> {
    let secs = i64::try_from(nanos.div_euclid(NANOS_PER_SECOND)).ok()?;
    DateTime::from_timestamp(secs, nanos.rem_euclid(NANOS_PER_SECOND) as u32)
}

/// chrono's offset of `zone` at `at`, in seconds east of UTC.
fn offset_at<Tz2: TimeZone>(zone: &Tz2, at: DateTime<Utc>) -> i32 {
    zone.offset_from_utc_datetime(&at.naive_utc())
        .fix()
        .local_minus_utc()
}

/// The local wall-clock time of `at` in `zone`, as nanoseconds since local
/// 1970-01-01 00:00 (defined past chrono's calendar too).
fn local_nanos<Tz2: TimeZone>(at: DateTime<Utc>, zone: &Tz2) -> i128 {
    nanos_of(at) + i128::from(offset_at(zone, at)) * NANOS_PER_SECOND
}

/// The local wall-clock time of `at` in `zone`, if chrono's calendar has it.
fn local_naive<Tz2: TimeZone>(at: DateTime<Utc>, zone: &Tz2) -> Option<NaiveDateTime> {
    let offset = FixedOffset::east_opt(offset_at(zone, at))?;
    at.naive_utc().checked_add_offset(offset)
}

/// A naive local time as nanoseconds since local 1970-01-01 00:00.
fn naive_nanos(local: NaiveDateTime) -> i128 {
    nanos_of(local.and_utc())
}

/// The first instant within chrono's range whose local time in `zone` is
/// at or after `local` (nanoseconds since local 1970-01-01), by bisection
/// over the two days around it (no offset reaches a day either way).
fn first_at_or_after<Tz2: TimeZone>(local: i128, zone: &Tz2) -> Option<DateTime<Utc>> {
    let (min, max) = (
        nanos_of(DateTime::<Utc>::MIN_UTC),
        nanos_of(DateTime::<Utc>::MAX_UTC),
    );
    let reached = |n: i128| instant_of(n).is_some_and(|at| local_nanos(at, zone) >= local);
    let (mut lo, mut hi) = (
        (local - NANOS_PER_DAY).max(min),
        (local + NANOS_PER_DAY).min(max),
    );
    if lo > hi {
        return (local < min).then_some(DateTime::<Utc>::MIN_UTC);
    }
    if reached(lo) {
        return instant_of(lo);
    }
    if !reached(hi) {
        return None;
    }
    while hi - lo > 1 {
        let middle = lo + (hi - lo) / 2;
        if reached(middle) {
            hi = middle;
        } else {
            lo = middle;
        }
    }
    instant_of(hi)
}

/// The instant a local time names in `zone`: chrono's earliest, or past a
/// gap the first instant after it.
fn resolve<Tz2: TimeZone>(local: NaiveDateTime, zone: &Tz2) -> Option<DateTime<Utc>> {
    match zone.from_local_datetime(&local).earliest() {
        Some(at) => Some(at.with_timezone(&Utc)),
        None => first_at_or_after(naive_nanos(local), zone),
    }
}

/// The first day of the period after the one `date` is in.
fn next_period(date: NaiveDate, period: PeriodEnd) -> Option<NaiveDate> {
    let (year, month) = (date.year(), date.month());
    let last_month = match period {
        PeriodEnd::Month => month,
        PeriodEnd::Quarter => (month - 1) / 3 * 3 + 3,
        PeriodEnd::Year => 12,
    };
    match last_month {
        12 => NaiveDate::from_ymd_opt(year.checked_add(1)?, 1, 1),
        m => NaiveDate::from_ymd_opt(year, m + 1, 1),
    }
}

/// [`Expiry::expires_at`] as its docs describe it, by chrono.
fn expected_expiry<Tz2: TimeZone>(
    expiry: Expiry,
    at: DateTime<Utc>,
    zone: &Tz2,
) -> Result<Option<DateTime<Utc>>, PointsError> {
    let overflow = PointsError::Overflow;
    match expiry {
        Expiry::Never {} => Ok(None),
        Expiry::AfterDays { days } => at
            .checked_add_signed(TimeDelta::days(i64::from(days)))
            .map(Some)
            .ok_or(overflow),
        Expiry::AfterMonths {
            months,
            round_up_to,
        } => {
            let local = local_naive(at, zone).ok_or(overflow.clone())?;
            let due = local
                .checked_add_months(Months::new(months))
                .ok_or(overflow.clone())?;
            let named = match round_up_to {
                None => due,
                Some(period) => next_period(due.date(), period)
                    .ok_or(overflow.clone())?
                    .and_time(chrono::NaiveTime::MIN),
            };
            resolve(named, zone).map(Some).ok_or(overflow)
        }
    }
}

/// The local day number of `at` in `zone`, by the floor of its local time
/// in whole seconds (a leap second is part of the second it extends).
fn expected_day<Tz2: TimeZone>(at: DateTime<Utc>, zone: &Tz2) -> i32 {
    let local = i128::from(at.timestamp()) + i128::from(offset_at(zone, at));
    let day = local.div_euclid(86_400);
    day.clamp(i128::from(i32::MIN), i128::from(i32::MAX)) as i32
}

/// The date of day number `n`, saturated at chrono's ends.
fn expected_date(n: i32) -> NaiveDate {
    epoch()
        .checked_add_signed(TimeDelta::days(i64::from(n)))
        .unwrap_or(if n < 0 {
            NaiveDate::MIN
        } else {
            NaiveDate::MAX
        })
}

/// Whether day number `n` has a date of its own.
fn in_calendar(n: i32) -> bool {
    epoch()
        .checked_add_signed(TimeDelta::days(i64::from(n)))
        .is_some()
}

// ---------------------------------------------------------------- zones

/// A zone to test in: a fixed offset (to the second, up to ±23:59:59) or
/// an IANA zone.
#[derive(Clone, Copy, Debug)]
enum Zone {
    Fixed(FixedOffset),
    Iana(Tz),
}

/// Calls `$body` with `$z` bound to the zone's chrono type.
macro_rules! in_zone {
    ($zone:expr, |$z:ident| $body:expr) => {
        match $zone {
            Zone::Fixed(f) => {
                let $z = &f;
                $body
            }
            Zone::Iana(t) => {
                let $z = &t;
                $body
            }
        }
    };
}

/// Zones with the changes of offset that calendar arithmetic trips on.
const IANA: [Tz; 14] = [
    // DST changes at midnight (the day starts at 01:00, or 23:00 repeats).
    Tz::America__Santiago,
    Tz::America__Sao_Paulo,
    Tz::America__Havana,
    Tz::America__Asuncion,
    // Half-hour changes.
    Tz::Australia__Lord_Howe,
    // Whole days skipped (Apia, 30 December 2011; Kwajalein, 1993) or
    // repeated (Alaska, 1867), and an offset of 15 hours (Manila, 1844).
    Tz::Pacific__Apia,
    Tz::Pacific__Kwajalein,
    Tz::America__Juneau,
    Tz::Asia__Manila,
    // Offsets in seconds, and the widest ones.
    Tz::Africa__Monrovia,
    Tz::Pacific__Kiritimati,
    Tz::Pacific__Chatham,
    Tz::America__New_York,
    Tz::Europe__Dublin,
];

/// Every change of offset of each of [`IANA`]'s zones between 1800 and
/// 2040, to the second: found by sampling every six hours and bisecting.
fn transitions() -> &'static Vec<(Tz, DateTime<Utc>)> {
    static ALL: OnceLock<Vec<(Tz, DateTime<Utc>)>> = OnceLock::new();
    ALL.get_or_init(|| {
        let (from, to) = (-5_364_662_400i64, 2_208_988_800i64); // 1800..2040
        let step = 6 * 3_600;
        let offset =
            |zone: &Tz, s: i64| DateTime::from_timestamp(s, 0).map_or(0, |at| offset_at(zone, at));
        let mut all = Vec::new();
        for zone in IANA {
            let mut s = from;
            let mut before = offset(&zone, s);
            while s < to {
                let after = offset(&zone, s + step);
                if after != before {
                    let (mut lo, mut hi) = (s, s + step);
                    while hi - lo > 1 {
                        let middle = lo + (hi - lo) / 2;
                        if offset(&zone, middle) == before {
                            lo = middle;
                        } else {
                            hi = middle;
                        }
                    }
                    all.extend(DateTime::from_timestamp(hi, 0).map(|at| (zone, at)));
                }
                (s, before) = (s + step, after);
            }
        }
        all
    })
}

fn fixed_zone() -> impl Strategy<Value = Zone> {
    prop_oneof![
        Just(86_399),
        Just(-86_399),
        Just(0),
        Just(86_340),
        Just(-86_340),
        Just(8 * 3_600),
        Just(-5 * 3_600),
        -86_399..=86_399i32,
    ]
    .prop_map(|s| Zone::Fixed(FixedOffset::east_opt(s).unwrap_or_else(|| unreachable!())))
}

fn any_zone() -> impl Strategy<Value = Zone> {
    prop_oneof![
        fixed_zone(),
        proptest::sample::select(&IANA[..]).prop_map(Zone::Iana)
    ]
}

// -------------------------------------------------------------- instants

fn chrono_range() -> (i64, i64) {
    (
        DateTime::<Utc>::MIN_UTC.timestamp(),
        DateTime::<Utc>::MAX_UTC.timestamp(),
    )
}

/// Years whose leap rules or place in the calendar matter.
const YEARS: [i32; 16] = [
    -262_143, -401, -400, -5, -4, -1, 0, 1, 1900, 1969, 1970, 2000, 2024, 2100, 2400, 262_142,
];

/// Instants across the whole calendar, weighted to its edges.
fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    let (min, max) = chrono_range();
    let nanos = prop_oneof![Just(0u32), Just(999_999_999u32), 0..1_000_000_000u32];
    prop_oneof![
        // Anywhere.
        (min..=max, nanos.clone()).prop_map(|(s, n)| DateTime::from_timestamp(s, n)),
        // The calendar's first and last days.
        (0..3 * 86_400i64, nanos.clone(), any::<bool>()).prop_map(move |(s, n, first)| {
            DateTime::from_timestamp(if first { min + s } else { max - s }, n)
        }),
        // Around the epoch: the years IANA zones have changes in.
        (-5_400_000_000..2_300_000_000i64, nanos.clone())
            .prop_map(|(s, n)| DateTime::from_timestamp(s, n)),
        // Months' ends and starts of years with special leap rules.
        (
            proptest::sample::select(&YEARS[..]),
            1..=12u32,
            prop_oneof![1..=3u32, 27..=31u32],
            0..86_400u32,
            nanos,
        )
            .prop_map(|(y, m, d, s, n)| {
                let date = NaiveDate::from_ymd_opt(y, m, d)
                    .or_else(|| NaiveDate::from_ymd_opt(y, m, 28))?;
                let time = chrono::NaiveTime::from_num_seconds_from_midnight_opt(s, n)?;
                Some(date.and_time(time).and_utc())
            }),
        // A leap second: at the end of a UTC day, or of any minute (chrono
        // allows one there).
        (
            min.div_euclid(86_400)..=max.div_euclid(86_400),
            prop_oneof![Just(86_399i64), (0..1_440i64).prop_map(|m| m * 60 + 59)],
            prop_oneof![Just(1_000_000_000u32), 1_000_000_000..2_000_000_000u32],
        )
            .prop_map(|(d, s, n)| DateTime::from_timestamp(d * 86_400 + s, n)),
    ]
    .prop_filter_map("an instant chrono has", |at| at)
}

/// An IANA zone and an instant within a day of one of its changes.
fn near_a_change() -> impl Strategy<Value = (Zone, DateTime<Utc>)> {
    (
        any::<proptest::sample::Index>(),
        -86_400..=86_400i64,
        prop_oneof![Just(0u32), 0..1_000_000_000u32],
    )
        .prop_map(|(i, s, n)| {
            let (zone, at) = *i.get(transitions());
            let at = at + TimeDelta::seconds(s) + TimeDelta::nanoseconds(i64::from(n));
            (Zone::Iana(zone), at)
        })
}

/// A zone and an instant, the instant near a change of offset for some of
/// the IANA zones.
fn zone_and_instant() -> impl Strategy<Value = (Zone, DateTime<Utc>)> {
    prop_oneof![(any_zone(), instant()), near_a_change()]
}

fn months_expiry() -> impl Strategy<Value = Expiry> {
    let months = prop_oneof![1..=25u32, Just(1_200_000), Just(u32::MAX), 1..=6_300_000u32,];
    let round = proptest::option::of(proptest::sample::select(vec![
        PeriodEnd::Month,
        PeriodEnd::Quarter,
        PeriodEnd::Year,
    ]));
    (months, round).prop_map(|(months, round_up_to)| Expiry::AfterMonths {
        months,
        round_up_to,
    })
}

fn any_expiry() -> impl Strategy<Value = Expiry> {
    prop_oneof![
        Just(Expiry::Never {}),
        prop_oneof![1..=800u32, Just(u32::MAX), any::<u32>()]
            .prop_map(|days| Expiry::AfterDays { days }),
        months_expiry(),
    ]
}

/// Points earned so that `months` months later lands within a day of one
/// of an IANA zone's changes of offset (local midnight, a gap, a fold).
fn due_near_a_change() -> impl Strategy<Value = (Zone, DateTime<Utc>, Expiry)> {
    let round = proptest::option::of(proptest::sample::select(vec![
        PeriodEnd::Month,
        PeriodEnd::Quarter,
        PeriodEnd::Year,
    ]));
    (near_a_change(), 1..=25u32, round).prop_filter_map(
        "an earning instant within chrono's range",
        |((zone, due), months, round_up_to)| {
            let Zone::Iana(tz) = zone else { return None };
            let local = local_naive(due, &tz)?.checked_sub_months(Months::new(months))?;
            let earned = resolve(local, &tz)?;
            let expiry = Expiry::AfterMonths {
                months,
                round_up_to,
            };
            Some((zone, earned, expiry))
        },
    )
}

fn day_number() -> impl Strategy<Value = i32> {
    let first = LocalDay::from_date(NaiveDate::MIN).number();
    let last = LocalDay::from_date(NaiveDate::MAX).number();
    prop_oneof![
        any::<i32>(),
        first..=last,
        (first - 800..first + 800),
        (last - 800..last + 800),
        -200_000..200_000i32,
        Just(i32::MIN),
        Just(i32::MAX),
    ]
}

// ---------------------------------------------------------------- checks

/// An instant's local day is the floor of its local time, and its date
/// the local date chrono gives (where chrono has it).
fn check_local_day<Tz2: TimeZone>(at: DateTime<Utc>, z: &Tz2) -> Result<(), TestCaseError> {
    let day = LocalDay::of(at, z);
    prop_assert_eq!(day.number(), expected_day(at, z), "{}", at);
    if let Some(local) = local_naive(at, z) {
        prop_assert_eq!(day.date(), local.date(), "{}", at);
        prop_assert_eq!(day, LocalDay::from_date(local.date()));
        prop_assert_eq!(day.to_string(), local.date().to_string());
    }
    Ok(())
}

/// A day's date, weekday, week, month and round trips, against chrono.
fn check_day(n: i32) -> Result<(), TestCaseError> {
    let day = LocalDay::from_number(n);
    prop_assert_eq!(day.date(), expected_date(n), "day {}", n);
    let json = serde_json::to_string(&day).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let back: LocalDay =
        serde_json::from_str(&json).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(back, day, "{}", json);
    prop_assert_eq!(
        i64::from(day.weekday().num_days_from_monday()),
        (i64::from(n) + 3).rem_euclid(7)
    );
    if !in_calendar(n) {
        prop_assert_eq!(day.to_string(), n.to_string());
        // Beyond the calendar: saturated, and no panic.
        let _ = (day.month_start(), day.week_start(Weekday::Sun));
        return Ok(());
    }
    let date = day.date();
    prop_assert_eq!(LocalDay::from_date(date), day);
    prop_assert_eq!(day.to_string(), date.to_string());
    prop_assert_eq!(day.weekday(), date.weekday(), "{}", date);
    let first_of_month = date.with_day(1).unwrap_or(date);
    prop_assert_eq!(
        day.month_start(),
        LocalDay::from_date(first_of_month),
        "{}",
        date
    );
    for first in [Weekday::Mon, Weekday::Sun, Weekday::Thu, Weekday::Sat] {
        let back = i64::from(date.weekday().days_since(first));
        let want = match date.checked_sub_signed(TimeDelta::days(back)) {
            Some(start) => LocalDay::from_date(start),
            // The week began before the calendar: its day number.
            None => LocalDay::from_number(n - back as i32),
        };
        prop_assert_eq!(day.week_start(first), want, "{} from {:?}", date, first);
    }
    Ok(())
}

/// A local day begins at its first instant in the zone: local midnight,
/// or the end of a gap that skips it; saturated beyond chrono's range.
fn check_start<Tz2: TimeZone>(day: LocalDay, z: &Tz2) -> Result<(), TestCaseError> {
    let midnight = i128::from(day.number()) * NANOS_PER_DAY;
    let want = first_at_or_after(midnight, z).unwrap_or(DateTime::<Utc>::MAX_UTC);
    prop_assert_eq!(day.start_in(z), want, "{:?}", day);
    Ok(())
}

/// Expiry after days or calendar months, as the docs read through chrono
/// give it.
fn check_expiry<Tz2: TimeZone>(
    expiry: Expiry,
    at: DateTime<Utc>,
    z: &Tz2,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(
        expiry.expires_at(at, z),
        expected_expiry(expiry, at, z),
        "{} at {}",
        expiry,
        at
    );
    Ok(())
}

/// The month points expiring at `at` are valid through is the local month
/// of the last instant before `at`.
fn check_valid_through<Tz2: TimeZone>(at: DateTime<Utc>, z: &Tz2) -> Result<(), TestCaseError> {
    let last = at
        .checked_sub_signed(TimeDelta::nanoseconds(1))
        .unwrap_or(at);
    let date = expected_date(expected_day(last, z));
    let want = ValidThrough::Month {
        year: date.year(),
        month: date.month(),
    };
    prop_assert_eq!(ValidThrough::of(Some(at), z), want, "{}", at);
    Ok(())
}

// ------------------------------------------------------------ properties

fn config() -> ProptestConfig {
    // CAL_CASES raises the count for a longer hunt.
    let cases = std::env::var("CAL_CASES").ok().and_then(|c| c.parse().ok());
    ProptestConfig {
        cases: cases.unwrap_or(512),
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn the_local_day_of_an_instant_is_chrono_s((zone, at) in zone_and_instant()) {
        in_zone!(zone, |z| check_local_day(at, z))?;
    }

    #[test]
    fn a_day_s_calendar_is_chrono_s(n in day_number()) {
        check_day(n)?;
    }

    #[test]
    fn a_day_starts_where_chrono_s_clock_first_reaches_it(
        (zone, at) in zone_and_instant(),
        shift in -2..=2i32,
        far in prop_oneof![Just(None), day_number().prop_map(Some)],
    ) {
        in_zone!(zone, |z| {
            let near = LocalDay::of(at, z).checked_add_days(shift);
            match far.map(LocalDay::from_number).or(near) {
                Some(day) => check_start(day, z),
                None => Ok(()),
            }
        })?;
    }

    /// For any instant, zone and length (never a panic).
    #[test]
    fn expiry_is_chrono_s_calendar_arithmetic(
        (zone, at) in zone_and_instant(),
        expiry in any_expiry(),
    ) {
        in_zone!(zone, |z| check_expiry(expiry, at, z))?;
    }

    /// Where the due date falls next to a change of offset.
    #[test]
    fn expiry_due_at_a_change_of_offset_is_chrono_s((zone, at, expiry) in due_near_a_change()) {
        in_zone!(zone, |z| check_expiry(expiry, at, z))?;
    }

    #[test]
    fn valid_through_is_the_local_month_before_expiry((zone, at) in zone_and_instant()) {
        in_zone!(zone, |z| check_valid_through(at, z))?;
        prop_assert_eq!(ValidThrough::of(None, &Utc), ValidThrough::Never);
    }

    /// Whole rolling days between two instants: the floor of the elapsed
    /// time in days.
    #[test]
    fn rolling_days_are_the_floor_of_elapsed_days(from in instant(), to in instant()) {
        let elapsed = to - from;
        let nanos = i128::from(elapsed.num_seconds()) * NANOS_PER_SECOND
            + i128::from(elapsed.subsec_nanos());
        prop_assert_eq!(
            i128::from(rolling_days(from, to)),
            nanos.div_euclid(NANOS_PER_DAY),
            "{} to {}", from, to
        );
    }
}

// ------------------------------------------------------------------ edges

/// The calendar's ends, leap seconds on its first and last days and on
/// real ones, and the days before and after year 0 and century years.
fn edge_instants() -> Vec<DateTime<Utc>> {
    let (min, max) = (DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC);
    let dates = [
        Some(NaiveDate::MIN),
        Some(NaiveDate::MAX),
        NaiveDate::from_ymd_opt(-1, 12, 31),
        NaiveDate::from_ymd_opt(0, 2, 29),
        NaiveDate::from_ymd_opt(-4, 2, 29),
        NaiveDate::from_ymd_opt(1900, 2, 28),
        NaiveDate::from_ymd_opt(2000, 2, 29),
        NaiveDate::from_ymd_opt(2100, 2, 28),
        NaiveDate::from_ymd_opt(2016, 12, 31),
        NaiveDate::from_ymd_opt(1969, 12, 31),
    ];
    let times = [
        (0, 0, 0, 0),
        (0, 0, 0, 1),
        (12, 0, 0, 0),
        (23, 59, 59, 999_999_999),
        (23, 59, 59, 1_000_000_000),
        (23, 59, 59, 1_500_000_000),
        (23, 59, 59, 1_999_999_999),
    ];
    let mut all = vec![min, max, DateTime::<Utc>::UNIX_EPOCH];
    for date in dates.into_iter().flatten() {
        for (h, m, s, n) in times {
            all.extend(date.and_hms_nano_opt(h, m, s, n).map(|t| t.and_utc()));
        }
    }
    all
}

fn edge_zones() -> Vec<Zone> {
    let fixed = [
        0,
        1,
        -1,
        60,
        8 * 3_600,
        -5 * 3_600,
        86_340,
        -86_340,
        86_399,
        -86_399,
    ];
    let fixed = fixed
        .into_iter()
        .filter_map(FixedOffset::east_opt)
        .map(Zone::Fixed);
    fixed.chain(IANA.into_iter().map(Zone::Iana)).collect()
}

#[test]
fn the_calendar_s_edges_are_chrono_s() -> Result<(), TestCaseError> {
    let expiries = [
        Expiry::Never {},
        Expiry::AfterDays { days: 1 },
        Expiry::AfterDays { days: u32::MAX },
        Expiry::AfterMonths {
            months: 1,
            round_up_to: None,
        },
        Expiry::AfterMonths {
            months: 12,
            round_up_to: Some(PeriodEnd::Quarter),
        },
        Expiry::AfterMonths {
            months: 1,
            round_up_to: Some(PeriodEnd::Year),
        },
        Expiry::AfterMonths {
            months: u32::MAX,
            round_up_to: Some(PeriodEnd::Month),
        },
    ];
    for zone in edge_zones() {
        for at in edge_instants() {
            in_zone!(zone, |z| {
                check_local_day(at, z)?;
                check_valid_through(at, z)?;
                let day = LocalDay::of(at, z);
                for shift in -1..=1 {
                    if let Some(d) = day.checked_add_days(shift) {
                        check_start(d, z)?;
                    }
                }
                for expiry in expiries {
                    check_expiry(expiry, at, z)?;
                }
                Ok::<(), TestCaseError>(())
            })?;
        }
    }
    let first = LocalDay::from_date(NaiveDate::MIN).number();
    let last = LocalDay::from_date(NaiveDate::MAX).number();
    for n in [i32::MIN, first - 1, first, 0, last, last + 1, i32::MAX] {
        check_day(n)?;
    }
    Ok(())
}

/// Days whose midnight a change of offset skips or repeats start where
/// their clocks first show them.
#[test]
fn days_changed_at_midnight_start_on_their_first_instant() {
    let utc = |y, m, d, h, mi| {
        Utc.with_ymd_and_hms(y, m, d, h, mi, 0)
            .single()
            .unwrap_or_else(|| unreachable!())
    };
    let day = |y, m, d| {
        LocalDay::from_date(NaiveDate::from_ymd_opt(y, m, d).unwrap_or_else(|| unreachable!()))
    };
    // Apia skipped 30 December 2011: it began when 31 December did, at
    // midnight +14:00.
    let apia = Tz::Pacific__Apia;
    assert_eq!(day(2011, 12, 30).start_in(&apia), utc(2011, 12, 30, 10, 0));
    assert_eq!(day(2011, 12, 31).start_in(&apia), utc(2011, 12, 30, 10, 0));
    // Santiago's clocks went from 24:00 to 01:00 on 12 August 2018 (-04:00
    // to -03:00): that day began at 01:00 local, 04:00 UTC.
    let santiago = Tz::America__Santiago;
    assert_eq!(day(2018, 8, 12).start_in(&santiago), utc(2018, 8, 12, 4, 0));
    // Lord Howe moves by half an hour at 02:00: its days start at midnight.
    let lord_howe = Tz::Australia__Lord_Howe;
    assert_eq!(day(2026, 4, 5).start_in(&lord_howe), utc(2026, 4, 4, 13, 0));
}
