//! Local calendar days.
//!
//! Operators think in the days of their market: a learner in Shanghai who
//! checks in at 23:30 and again at 00:10 has checked in on two days, although
//! both instants fall on the same UTC day. Every daily rule, streak and cohort
//! in this crate counts [`LocalDay`]s computed in a time zone the host chooses.
//!
//! The zone is any [`chrono::TimeZone`]: a [`FixedOffset`] such as `+08:00`
//! works out of the box, and an IANA zone from `chrono-tz` gives the 23- and
//! 25-hour days of daylight-saving changes, which are days like any other here.
//!
//! ```
//! use chrono::{FixedOffset, TimeZone, Utc};
//! use growthkit::LocalDay;
//!
//! let shanghai = FixedOffset::east_opt(8 * 3600).unwrap();
//! let late = Utc.with_ymd_and_hms(2026, 3, 1, 15, 30, 0).unwrap(); // 23:30 local
//! let early = Utc.with_ymd_and_hms(2026, 3, 1, 16, 10, 0).unwrap(); // 00:10 local, next day
//! let (a, b) = (LocalDay::of(late, &shanghai), LocalDay::of(early, &shanghai));
//! assert_eq!(b.days_since(a), 1);
//! assert_eq!(a.to_string(), "2026-03-01");
//! ```

use chrono::{
    DateTime, Datelike, FixedOffset, NaiveDate, Offset, TimeZone, Timelike, Utc, Weekday,
};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

const SECONDS_PER_DAY: i64 = 86_400;
const SECONDS_PER_DAY_I32: i32 = 86_400;

/// Day number 0, for the tests' calendar arithmetic. Built at compile time,
/// so it cannot fail at run time.
#[cfg(test)]
const EPOCH: NaiveDate = match NaiveDate::from_ymd_opt(1970, 1, 1) {
    Some(date) => date,
    None => panic!("1970-01-01 is a valid date"),
};

/// Day number 0 (1970-01-01) counting 0001-01-01 as day 1, chrono's
/// `num_days_from_ce`; checked by a test.
const EPOCH_DAYS_FROM_CE: i32 = 719_163;

/// The day numbers of chrono's first and last dates (`NaiveDate::MIN`,
/// `NaiveDate::MAX`), checked by a test.
const CHRONO_DAYS: (i32, i32) = (-96_465_292, 95_026_236);

/// The UTC offset of `zone` at `at`, in seconds east of UTC: what
/// [`LocalDay::of_offset_seconds`] takes.
#[inline]
pub(crate) fn offset_seconds<Tz: TimeZone>(zone: &Tz, at: DateTime<Utc>) -> i32 {
    zone.offset_from_utc_datetime(&at.naive_utc())
        .fix()
        .local_minus_utc()
}

/// chrono's `num_days_from_ce` of `date` (0001-01-01 is day 1), in a few
/// multiplications.
///
/// chrono's own version branches on years before the common era and its
/// compiled form was most of the calendar work of a points event. Here the
/// year is first moved forward by a thousand 400-year cycles (146,097 days
/// each), so every year chrono knows (-262,143 to 262,142) is positive and the
/// divisions are unsigned and exact floors; the cycles are taken off again
/// at the end. Checked against chrono across its whole calendar by a test.
#[inline]
pub(crate) fn days_from_ce(date: NaiveDate) -> i32 {
    const CYCLES: i32 = 1_000;
    // Positive for every chrono year, and at most 662,142: its days (below
    // 242 million) fit in u32.
    let year = (date.year() - 1 + 400 * CYCLES) as u32;
    let days = year * 365 + year / 4 - year / 100 + year / 400;
    days as i32 - CYCLES * 146_097 + date.ordinal() as i32
}

/// The Unix time of `at` in seconds, as chrono's `timestamp` gives it,
/// through [`days_from_ce`]. Written out rather than through
/// [`day_and_second`] at offset 0 (the same numbers): that compiled 1%
/// slower into the earning step's calendar-month expiry (2026-12-07).
#[inline]
pub(crate) fn unix_seconds(at: DateTime<Utc>) -> i64 {
    let naive = at.naive_utc();
    let day = i64::from(days_from_ce(naive.date()) - EPOCH_DAYS_FROM_CE);
    day * SECONDS_PER_DAY + i64::from(naive.time().num_seconds_from_midnight())
}

/// The Unix time of `at` in milliseconds, as chrono's `timestamp_millis`
/// gives it (a leap second's milliseconds run past 999), through
/// [`unix_seconds`].
#[inline]
pub(crate) fn unix_millis(at: DateTime<Utc>) -> i64 {
    unix_seconds(at) * 1_000 + i64::from(at.timestamp_subsec_millis())
}

/// The local day of `at` where the clock is `offset_seconds` east of UTC,
/// and the seconds since that day's midnight (`0..86_400`).
///
/// The same numbers as [`LocalDay::of_offset_seconds`] and the remainder
/// of its division, read off `at`'s UTC date and second of the day instead
/// of its Unix timestamp: chrono builds the timestamp from the date, and
/// dividing it again was most of a hot loop's calendar work. An offset
/// (less than a day either way) moves the UTC date by one day at most.
#[inline]
pub(crate) fn day_and_second(at: DateTime<Utc>, offset_seconds: i32) -> (LocalDay, u32) {
    let naive = at.naive_utc();
    let utc_day = days_from_ce(naive.date()) - EPOCH_DAYS_FROM_CE;
    // At most 86,399 (a leap second keeps its second) plus or minus less
    // than 86,400: no overflow, and a day's shift of -1, 0 or 1, worked
    // out without a branch (whether a local day has begun changes from
    // event to event).
    let local = naive.time().num_seconds_from_midnight() as i32 + offset_seconds;
    let shift = i32::from(local >= SECONDS_PER_DAY_I32) - i32::from(local < 0);
    let second = local - shift * SECONDS_PER_DAY_I32;
    // chrono's dates are ±96 million days from the epoch: no overflow.
    (LocalDay(utc_day + shift), second as u32)
}

/// `at` plus `days` whole days of 86,400 seconds, as chrono's
/// `checked_add_signed` gives it (`None` past chrono's calendar), without
/// its conversion through the calendar: the UTC date moves and the time of
/// day stays. An instant inside a leap second keeps chrono's own rules.
#[inline]
pub(crate) fn plus_days(at: DateTime<Utc>, days: u32) -> Option<DateTime<Utc>> {
    if at.timestamp_subsec_nanos() >= 1_000_000_000 {
        return at.checked_add_signed(chrono::TimeDelta::days(i64::from(days)));
    }
    let naive = at.naive_utc();
    naive
        .date()
        .checked_add_days(chrono::Days::new(u64::from(days)))
        .map(|date| date.and_time(naive.time()).and_utc())
}

/// The local calendar day of an instant in some time zone, as a day number
/// (days since 1970-01-01 in that zone's calendar).
///
/// Four bytes, `Copy`, ordered; serializes as an ISO date string
/// (`"2026-03-01"`). The few day numbers beyond chrono's calendar, which have
/// no date, serialize as the number, and only they read back from one: a
/// number or numeric text where a day has a date (`"2026"`, `20260301`) is
/// an error, not the day with that number.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LocalDay(i32);

impl LocalDay {
    /// The local day that `at` falls on in `zone`.
    #[inline]
    pub fn of<Tz: TimeZone>(at: DateTime<Utc>, zone: &Tz) -> LocalDay {
        day_and_second(at, offset_seconds(zone, at)).0
    }

    /// The local day of a Unix timestamp (seconds) shifted by a UTC offset in
    /// seconds. The fast path behind [`LocalDay::of`] for hot loops that
    /// already hold both numbers. A timestamp so far from the epoch that its
    /// day number does not fit in `i32` (far beyond chrono's calendar) gives
    /// the first or last day number, on its own side of the epoch.
    #[inline]
    pub fn of_offset_seconds(unix_seconds: i64, offset_seconds: i32) -> LocalDay {
        let day = unix_seconds
            .saturating_add(i64::from(offset_seconds))
            .div_euclid(SECONDS_PER_DAY);
        // chrono's whole range (±262,000 years) is ±96 million days: fits in
        // i32; only timestamps beyond it are clamped, so the cast is exact.
        LocalDay(day.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32)
    }

    /// The day of a calendar date.
    pub fn from_date(date: NaiveDate) -> LocalDay {
        // Counting from the common era's first day is chrono's own day
        // number, read straight from the date (no calendar subtraction).
        LocalDay(days_from_ce(date) - EPOCH_DAYS_FROM_CE)
    }

    /// The calendar date of this day. A day beyond chrono's calendar (a
    /// day number only [`LocalDay::from_number`], or an instant at chrono's
    /// very ends in a zone ahead of or behind UTC, makes) has no date of its
    /// own: it gives the calendar's first or last date.
    pub fn date(self) -> NaiveDate {
        // Days built from chrono instants are in range; a day number from
        // `from_number` beyond chrono's calendar saturates at its ends. One
        // conversion from chrono's own day number, not a calendar addition.
        self.0
            .checked_add(EPOCH_DAYS_FROM_CE)
            .and_then(NaiveDate::from_num_days_from_ce_opt)
            .unwrap_or(if self.0 < 0 {
                NaiveDate::MIN
            } else {
                NaiveDate::MAX
            })
    }

    /// The calendar date of this day, if it has one (it is within chrono's
    /// calendar): unlike [`LocalDay::date`], never the date of another day.
    pub(crate) fn exact_date(self) -> Option<NaiveDate> {
        let date = self.date();
        (LocalDay::from_date(date) == self).then_some(date)
    }

    /// The day number: days since 1970-01-01 in the zone's calendar.
    #[inline]
    pub const fn number(self) -> i32 {
        self.0
    }

    /// The day with this day number.
    #[inline]
    pub const fn from_number(number: i32) -> LocalDay {
        LocalDay(number)
    }

    /// Whole days from `earlier` to `self` (negative if `earlier` is later).
    /// Exact across chrono's calendar; between day numbers beyond it, which
    /// only [`LocalDay::from_number`] makes, it saturates at `i32`'s ends.
    #[inline]
    pub const fn days_since(self, earlier: LocalDay) -> i32 {
        self.0.saturating_sub(earlier.0)
    }

    /// The day `days` later (or earlier, if negative); `None` only when the
    /// day number overflows `i32`. Days beyond chrono's calendar are days
    /// too: the sum is exact wherever it is `Some`.
    pub fn checked_add_days(self, days: i32) -> Option<LocalDay> {
        self.0.checked_add(days).map(LocalDay)
    }

    /// The weekday of this day.
    pub fn weekday(self) -> Weekday {
        // 1970-01-01 was a Thursday, the fourth day counting from Monday.
        weekday_from_monday((i64::from(self.0) + 3).rem_euclid(7) as u32)
    }

    /// The first day of the week containing this day, weeks starting on `first`.
    /// Exact for every day number except the last few days of a week that
    /// began before `i32::MIN` (far beyond chrono's calendar), which give
    /// `i32::MIN`.
    pub fn week_start(self, first: Weekday) -> LocalDay {
        let back = (self.weekday().num_days_from_monday() + 7 - first.num_days_from_monday()) % 7;
        LocalDay(self.0.saturating_sub(back as i32))
    }

    /// The first day of this day's calendar month. A day beyond chrono's
    /// calendar has no month: it gives the first day of the calendar's
    /// first or last month, as [`LocalDay::date`] gives its first or last
    /// date.
    #[inline]
    pub fn month_start(self) -> LocalDay {
        // Integer arithmetic (H. Hinnant's `civil_from_days`, as far as the
        // day of the month) rather than a calendar conversion: points
        // programs ask this once per event. Exact for every day number; it
        // agrees with chrono across chrono's calendar (see the tests), and
        // beyond it keeps the same saturation as `date`.
        if !(CHRONO_DAYS.0..=CHRONO_DAYS.1).contains(&self.0) {
            let d = self.date();
            return LocalDay::from_date(d.with_day(1).unwrap_or(d));
        }
        let z = i64::from(self.0) + 719_468; // days since 0000-03-01
        let era = z.div_euclid(146_097);
        let day_of_era = z - era * 146_097; // [0, 146096]
        let year_of_era =
            (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
        let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
        let month_from_march = (5 * day_of_year + 2) / 153; // [0, 11]
        let day_of_month = day_of_year - (153 * month_from_march + 2) / 5; // [0, 30]
        // Within chrono's range, so the day number minus at most 30 fits.
        LocalDay(self.0 - day_of_month as i32)
    }

    /// The instant this local day begins in `zone`: local midnight, or on a
    /// day whose midnight is skipped by a daylight-saving change, the first
    /// local instant that exists. A day whose start lies beyond chrono's
    /// calendar saturates at its first or last instant.
    pub fn start_in<Tz: TimeZone>(self, zone: &Tz) -> DateTime<Utc> {
        self.checked_start_in(zone).unwrap_or(if self.0 < 0 {
            DateTime::<Utc>::MIN_UTC
        } else {
            DateTime::<Utc>::MAX_UTC
        })
    }

    /// [`LocalDay::start_in`], or `None` where it would saturate.
    pub(crate) fn checked_start_in<Tz: TimeZone>(self, zone: &Tz) -> Option<DateTime<Utc>> {
        // A day beyond the calendar has no date of its own: `date` gives the
        // calendar's end. Count on from that date's start in whole days (no
        // zone changes its offset out there); only the day just past either
        // end can still start within chrono's range.
        let date = self.date();
        let start = instant_of_local(date.and_hms_opt(0, 0, 0)?, zone)?;
        match self.days_since(LocalDay::from_date(date)) {
            0 => Some(start),
            beyond => start.checked_add_signed(chrono::TimeDelta::try_days(i64::from(beyond))?),
        }
    }
}

/// The instant a local wall-clock time names in `zone`: the earlier one when
/// a daylight-saving change repeats it, the first existing local instant after
/// it when a change skips it. `None` when there is none within chrono's
/// calendar (a local time at its very end), or none within 26 hours (no
/// zone skips that much).
pub(crate) fn instant_of_local<Tz: TimeZone>(
    local: chrono::NaiveDateTime,
    zone: &Tz,
) -> Option<DateTime<Utc>> {
    let earliest = |at: &chrono::NaiveDateTime| zone.from_local_datetime(at).earliest();
    if let Some(found) = earliest(&local) {
        return Some(found.with_timezone(&Utc));
    }
    // Walk forward minute by minute past a gap (at most a few hours)...
    let mut missing = local;
    for _ in 0..(26 * 60) {
        let next = missing.checked_add_signed(chrono::TimeDelta::minutes(1))?;
        let Some(mut found) = earliest(&next) else {
            missing = next;
            continue;
        };
        // ...then find where within the last minute the gap ends: not
        // always on a whole minute (historical offsets had seconds).
        let mut exists = next;
        while let Some(apart) = (exists - missing).num_nanoseconds().filter(|&n| n > 1) {
            let middle = missing.checked_add_signed(chrono::TimeDelta::nanoseconds(apart / 2))?;
            match earliest(&middle) {
                Some(at) => (exists, found) = (middle, at),
                None => missing = middle,
            }
        }
        return Some(found.with_timezone(&Utc));
    }
    None
}

fn weekday_from_monday(n: u32) -> Weekday {
    match n {
        0 => Weekday::Mon,
        1 => Weekday::Tue,
        2 => Weekday::Wed,
        3 => Weekday::Thu,
        4 => Weekday::Fri,
        5 => Weekday::Sat,
        _ => Weekday::Sun,
    }
}

impl fmt::Debug for LocalDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LocalDay({self})")
    }
}

impl fmt::Display for LocalDay {
    /// The ISO date (`2026-03-01`), or for the few day numbers beyond
    /// chrono's calendar, which have no date, the day number (as they
    /// serialize); width and alignment apply.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.exact_date() {
            Some(date) => f.pad(&date.to_string()),
            None => f.pad(&self.0.to_string()),
        }
    }
}

impl From<NaiveDate> for LocalDay {
    fn from(date: NaiveDate) -> Self {
        LocalDay::from_date(date)
    }
}

// A day inside chrono's calendar is written as its date; the few day numbers
// beyond it (local days of instants at chrono's very ends) as the number, so
// every LocalDay round-trips exactly.
impl Serialize for LocalDay {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.exact_date() {
            Some(date) => date.serialize(s),
            None => s.serialize_i32(self.0),
        }
    }
}

impl<'de> Deserialize<'de> for LocalDay {
    /// A date (`"2026-03-01"`), or the number of a day beyond chrono's
    /// calendar, as a number or, as a map key, as text: what serializing
    /// writes. Anything else is an error that names what was found (a
    /// number of a day that has a date, a number beyond `i32`, a fraction,
    /// `null`).
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct DateOrNumber;
        impl serde::de::Visitor<'_> for DateOrNumber {
            type Value = LocalDay;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a date (YYYY-MM-DD) or a day number (an i32)")
            }
            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<LocalDay, E> {
                i32::try_from(n)
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Signed(n), &self))
                    .and_then(dateless)
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<LocalDay, E> {
                i32::try_from(n)
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Unsigned(n), &self))
                    .and_then(dateless)
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<LocalDay, E> {
                // A date as chrono reads it, or a day number as a map key
                // (a JSON object's keys are strings).
                if let Ok(date) = text.parse::<NaiveDate>() {
                    return Ok(LocalDay::from_date(date));
                }
                match text.parse::<i32>() {
                    Ok(n) => dateless(n),
                    Err(_) => Err(E::custom(format_args!(
                        "expected a date (YYYY-MM-DD) or a day number, found {text:?}"
                    ))),
                }
            }
        }
        /// The day numbered `n`, if it has no date: only those are written
        /// as numbers, and a number where a date belongs (a year, a date
        /// without dashes) is a mistake, not a day.
        fn dateless<E: serde::de::Error>(n: i32) -> Result<LocalDay, E> {
            let day = LocalDay(n);
            match day.exact_date() {
                None => Ok(day),
                Some(date) => Err(E::custom(format_args!(
                    "day number {n} is {date}: a day with a date is written as the date"
                ))),
            }
        }
        d.deserialize_any(DateOrNumber)
    }
}

/// Whole 24-hour intervals from `from` to `to`, rounded down (negative if
/// `to` is earlier). The "rolling day" counterpart of [`LocalDay::days_since`].
#[inline]
pub fn rolling_days(from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    let elapsed = to - from;
    // `num_seconds` truncates toward zero; a negative fraction of a second
    // is one more second back, so that the division below rounds down.
    let seconds = elapsed
        .num_seconds()
        .saturating_sub(i64::from(elapsed.subsec_nanos() < 0));
    seconds.div_euclid(SECONDS_PER_DAY)
}

/// A fixed UTC offset that reads and writes as `"+08:00"` in configuration.
///
/// Read in exactly that form: a sign, two digits of hours below 24, a
/// colon, two digits of minutes below 60 (`"-00:00"` is UTC). `"Z"`,
/// `"UTC"`, `"+0800"` and `"+8:00"` are errors quoting the text. Written
/// with a `+` for UTC: `"+00:00"`.
///
/// Policies carry one so that a JSON file alone says which calendar its
/// "days" are in; hosts that need an IANA zone with daylight saving pass a
/// `chrono-tz` zone to the functions that take `&impl TimeZone` instead.
///
/// ```
/// use growthkit::UtcOffset;
/// let off: UtcOffset = "+08:00".parse().unwrap();
/// assert_eq!(off.seconds(), 8 * 3600);
/// assert_eq!(serde_json::to_string(&off).unwrap(), "\"+08:00\"");
/// assert!("+25:00".parse::<UtcOffset>().is_err());
/// for other_forms in ["Z", "UTC", "+0800", "+8:00"] {
///     assert!(other_forms.parse::<UtcOffset>().is_err());
/// }
/// assert_eq!("-00:00".parse::<UtcOffset>().unwrap().to_string(), "+00:00");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct UtcOffset(FixedOffset);

impl UtcOffset {
    /// UTC itself.
    // Evaluated at compile time: a zero offset is always valid.
    pub const UTC: UtcOffset = match FixedOffset::east_opt(0) {
        Some(zero) => UtcOffset(zero),
        None => panic!("a zero offset is valid"),
    };

    /// An offset east of UTC in seconds; `None` unless strictly within ±24
    /// hours (`-23:59` to `+23:59`) and a whole number of minutes (no zone in use has seconds, and the text
    /// form `"+08:00"` has no place for them).
    pub fn from_seconds(seconds: i32) -> Option<UtcOffset> {
        if seconds % 60 != 0 {
            return None;
        }
        FixedOffset::east_opt(seconds).map(UtcOffset)
    }

    /// Seconds east of UTC.
    pub fn seconds(self) -> i32 {
        self.0.local_minus_utc()
    }

    /// The offset as a chrono time zone.
    pub fn zone(self) -> FixedOffset {
        self.0
    }
}

impl Default for UtcOffset {
    fn default() -> Self {
        UtcOffset::UTC
    }
}

impl fmt::Debug for UtcOffset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UtcOffset({})", self.0)
    }
}

impl fmt::Display for UtcOffset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// The text was not an offset of the form `+HH:MM` or `-HH:MM` within ±24 hours.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a UTC offset like \"+08:00\" or \"-05:30\"")]
pub struct ParseOffsetError {
    text: String,
}

impl FromStr for UtcOffset {
    type Err = ParseOffsetError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseOffsetError { text: s.to_owned() };
        let bytes = s.as_bytes();
        if bytes.len() != 6 || bytes[3] != b':' {
            return Err(err());
        }
        let sign = match bytes[0] {
            b'+' => 1,
            b'-' => -1,
            _ => return Err(err()),
        };
        // Two ASCII digits each: `parse` alone would take a sign ("+-8:00").
        let two_digits = |at: usize| match (bytes.get(at), bytes.get(at + 1)) {
            (Some(&a), Some(&b)) if a.is_ascii_digit() && b.is_ascii_digit() => {
                Ok(i32::from(a - b'0') * 10 + i32::from(b - b'0'))
            }
            _ => Err(err()),
        };
        let (hours, minutes) = (two_digits(1)?, two_digits(4)?);
        if minutes >= 60 {
            return Err(err());
        }
        UtcOffset::from_seconds(sign * (hours * 3600 + minutes * 60)).ok_or_else(err)
    }
}

impl Serialize for UtcOffset {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for UtcOffset {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Instants kept as unix milliseconds inside hot state types, where integer
/// comparisons beat calendar arithmetic, and written as RFC 3339 text (or
/// `null` for "never", stored as `i64::MIN`) in their serialized form.
pub(crate) mod millis {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    /// "Never": earlier than every real instant.
    pub(crate) const NEVER: i64 = i64::MIN;

    /// The instant of `ms`; `None` for [`NEVER`]. Out-of-range values (only
    /// hand-edited state can hold them) clamp to chrono's ends.
    pub(crate) fn to_instant(ms: i64) -> Option<DateTime<Utc>> {
        if ms == NEVER {
            return None;
        }
        Some(DateTime::from_timestamp_millis(ms).unwrap_or(if ms < 0 {
            DateTime::<Utc>::MIN_UTC
        } else {
            DateTime::<Utc>::MAX_UTC
        }))
    }

    pub(crate) fn serialize<S: Serializer>(ms: &i64, s: S) -> Result<S::Ok, S::Error> {
        to_instant(*ms).serialize(s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        Ok(Option::<DateTime<Utc>>::deserialize(d)?.map_or(NEVER, super::unix_millis))
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, NaiveDate, NaiveTime, Utc};

    /// Every date at every time of day, as instants.
    fn instants(dates: &[(i32, u32, u32)], times: &[Option<NaiveTime>]) -> Vec<DateTime<Utc>> {
        let mut all = Vec::new();
        for &(y, m, d) in dates {
            let Some(date) = NaiveDate::from_ymd_opt(y, m, d) else {
                panic!("{y}-{m}-{d} is a date");
            };
            for time in times {
                let Some(time) = time else {
                    panic!("{time:?} is a time");
                };
                all.push(date.and_time(*time).and_utc());
            }
        }
        all
    }

    #[test]
    fn plus_days_is_chrono_s_addition_of_whole_days() {
        use super::*;
        use chrono::TimeDelta;
        let leap = NaiveTime::from_hms_milli_opt(23, 59, 59, 1_500);
        let dates = [
            (2026, 1, 31),
            (2024, 2, 28),
            (2023, 12, 31),
            (1969, 12, 31),
            (262_142, 12, 30),
            (-262_143, 1, 1),
        ];
        let times = [
            NaiveTime::from_hms_opt(0, 0, 0),
            NaiveTime::from_hms_nano_opt(15, 30, 1, 999_999_999),
            leap,
        ];
        for at in instants(&dates, &times) {
            for days in [0, 1, 2, 28, 29, 365, 366, 10_000, u32::MAX] {
                let chrono = at.checked_add_signed(TimeDelta::days(i64::from(days)));
                assert_eq!(plus_days(at, days), chrono, "{at} + {days} days");
            }
        }
    }

    #[test]
    fn days_from_ce_is_chrono_s_across_its_calendar() {
        use super::*;
        // Every day of the years around the common era's start, the epoch
        // and leap-year rules' edges, then every 97th day of the calendar.
        let around = [
            -401, -400, -101, -100, -5, -4, -1, 0, 1, 4, 100, 1600, 1900, 1969, 1970,
        ]
        .into_iter()
        .chain([2000, 2024, 2100, 2400, 262_142]);
        for year in around.chain([-262_143]) {
            let mut date = NaiveDate::from_yo_opt(year, 1);
            while let Some(d) = date.filter(|d| d.year() == year) {
                assert_eq!(days_from_ce(d), d.num_days_from_ce(), "{d}");
                date = d.succ_opt();
            }
        }
        let mut day = NaiveDate::MIN.num_days_from_ce();
        while let Some(d) = NaiveDate::from_num_days_from_ce_opt(day) {
            assert_eq!(days_from_ce(d), d.num_days_from_ce(), "{d}");
            day += 97;
        }
        for d in [NaiveDate::MIN, NaiveDate::MAX] {
            assert_eq!(days_from_ce(d), d.num_days_from_ce(), "{d}");
        }
        let leap = NaiveTime::from_hms_milli_opt(23, 59, 59, 1_500);
        let times = [NaiveTime::from_hms_opt(0, 0, 0), leap];
        for at in instants(&[(2026, 3, 1), (1969, 12, 31), (-262_143, 1, 1)], &times) {
            assert_eq!(unix_seconds(at), at.timestamp(), "{at}");
            assert_eq!(unix_millis(at), at.timestamp_millis(), "{at}");
        }
    }

    #[test]
    fn day_and_second_is_the_division_of_the_shifted_timestamp() {
        use super::*;
        let dates = [
            (2026, 1, 1),
            (2024, 2, 29),
            (1970, 1, 1),
            (1969, 12, 31),
            (262_142, 12, 31),
            (-262_143, 1, 1),
        ];
        let times = [
            NaiveTime::from_hms_opt(0, 0, 0),
            NaiveTime::from_hms_opt(7, 59, 59),
            NaiveTime::from_hms_opt(16, 0, 0),
            NaiveTime::from_hms_nano_opt(23, 59, 59, 999_999_999),
            // A leap second counts as the second it extends.
            NaiveTime::from_hms_milli_opt(23, 59, 59, 1_500),
        ];
        // The widest offsets chrono allows, midnight's neighbours, none.
        let offsets = [-86_399, -28_800, -1, 0, 1, 28_800, 86_399];
        for at in instants(&dates, &times) {
            for offset in offsets {
                let local = at.timestamp() + i64::from(offset);
                let expected = (
                    LocalDay::of_offset_seconds(at.timestamp(), offset),
                    local.rem_euclid(SECONDS_PER_DAY) as u32,
                );
                assert_eq!(day_and_second(at, offset), expected, "{at} {offset:+}");
            }
        }
    }

    #[test]
    fn month_start_agrees_with_the_calendar() {
        use super::*;
        assert_eq!(
            CHRONO_DAYS,
            (
                LocalDay::from_date(NaiveDate::MIN).number(),
                LocalDay::from_date(NaiveDate::MAX).number()
            )
        );
        assert_eq!(EPOCH.num_days_from_ce(), EPOCH_DAYS_FROM_CE);
        let by_calendar = |day: LocalDay| {
            let d = day.date();
            LocalDay::from_date(d.with_day(1).unwrap_or(d))
        };
        // Four centuries around the epoch day by day (every leap rule),
        // chrono's ends, and past them.
        let near = -80_000..80_000;
        let ends = [CHRONO_DAYS.0, CHRONO_DAYS.1]
            .into_iter()
            .flat_map(|e| e - 400..e + 400);
        let beyond = [i32::MIN, i32::MIN + 1, i32::MAX - 1, i32::MAX];
        for n in near.chain(ends).chain(beyond) {
            let day = LocalDay::from_number(n);
            assert_eq!(day.month_start(), by_calendar(day), "day {n}");
            // The date agrees with chrono's calendar addition, saturating
            // past its ends, and comes back to the same day inside them.
            let added = EPOCH
                .checked_add_signed(chrono::TimeDelta::days(i64::from(n)))
                .unwrap_or(if n < 0 {
                    NaiveDate::MIN
                } else {
                    NaiveDate::MAX
                });
            assert_eq!(day.date(), added, "day {n}");
            if (CHRONO_DAYS.0..=CHRONO_DAYS.1).contains(&n) {
                assert_eq!(LocalDay::from_date(day.date()), day, "day {n}");
                assert_eq!((day.date() - EPOCH).num_days(), i64::from(n), "day {n}");
            }
        }
    }

    use super::*;
    use chrono::TimeZone;

    fn utc(y: i32, m: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, mi, 0).unwrap()
    }

    #[test]
    fn local_midnight_in_plus_eight_splits_days() {
        let tz = FixedOffset::east_opt(8 * 3600).unwrap();
        // 15:59:59 UTC is 23:59:59 local; 16:00 UTC is local midnight.
        let before = Utc.with_ymd_and_hms(2026, 1, 1, 15, 59, 59).unwrap();
        let at = utc(2026, 1, 1, 16, 0);
        assert_eq!(LocalDay::of(before, &tz).to_string(), "2026-01-01");
        assert_eq!(LocalDay::of(at, &tz).to_string(), "2026-01-02");
        assert_eq!(LocalDay::of(at, &Utc).to_string(), "2026-01-01");
    }

    #[test]
    fn negative_offsets_and_pre_epoch_days_floor() {
        let tz = FixedOffset::west_opt(5 * 3600).unwrap();
        let at = utc(1969, 12, 31, 3, 0); // 22:00 on the 30th locally
        assert_eq!(LocalDay::of(at, &tz).to_string(), "1969-12-30");
        assert_eq!(LocalDay::of(at, &tz).number(), -2);
    }

    #[test]
    fn dates_round_trip_and_weekdays_are_right() {
        let d = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
        let day = LocalDay::from_date(d);
        assert_eq!(day.date(), d);
        assert_eq!(day.weekday(), Weekday::Wed);
        assert_eq!(day.week_start(Weekday::Mon).to_string(), "2026-11-23");
        assert_eq!(day.week_start(Weekday::Sun).to_string(), "2026-11-22");
        assert_eq!(day.month_start().to_string(), "2026-11-01");
        assert_eq!(LocalDay::from_number(-1).weekday(), Weekday::Wed);
        let json = serde_json::to_string(&day).unwrap();
        assert_eq!(json, "\"2026-11-25\"");
        assert_eq!(serde_json::from_str::<LocalDay>(&json).unwrap(), day);
    }

    #[test]
    fn offsets_parse_and_reject() {
        assert_eq!(
            "-05:30".parse::<UtcOffset>().unwrap().seconds(),
            -(5 * 3600 + 1800)
        );
        // Signs inside the digits too: `str::parse` alone would take them.
        for bad in [
            "", "08:00", "+8:00", "+08:60", "+24:00", "+08-00", "x08:00", "+-8:00", "++8:00",
            "+00:-1", "-+5:30", "+0８:00",
        ] {
            assert!(bad.parse::<UtcOffset>().is_err(), "{bad} should not parse");
        }
        let back: UtcOffset = serde_json::from_str("\"+08:00\"").unwrap();
        assert_eq!(back.to_string(), "+08:00");
    }

    #[test]
    fn days_beyond_the_calendar_round_trip_as_numbers() {
        let tz = FixedOffset::east_opt(8 * 3600).unwrap();
        for day in [
            LocalDay::of(DateTime::<Utc>::MAX_UTC, &tz),
            LocalDay::from_number(i32::MIN),
            LocalDay::from_number(0),
        ] {
            let json = serde_json::to_string(&day).unwrap();
            assert_eq!(
                serde_json::from_str::<LocalDay>(&json).unwrap(),
                day,
                "{json}"
            );
            // As a map key, where JSON writes the number as a string.
            let map = std::collections::BTreeMap::from([(day, 1)]);
            let json = serde_json::to_string(&map).unwrap();
            assert_eq!(
                serde_json::from_str::<std::collections::BTreeMap<LocalDay, i32>>(&json).unwrap(),
                map,
                "{json}"
            );
        }
        let wrong = serde_json::from_str::<LocalDay>("\"soon\"").unwrap_err();
        assert!(wrong.to_string().contains("\"soon\""), "{wrong}");
        // The calendar's first day begins, in +08:00, no earlier than its
        // first instant.
        let first = LocalDay::from_date(NaiveDate::MIN);
        assert_eq!(first.start_in(&tz), DateTime::<Utc>::MIN_UTC);
        // Far-apart day numbers beyond the calendar saturate, not overflow.
        let (far, before) = (LocalDay::from_number(i32::MAX), LocalDay::from_number(-1));
        assert_eq!(far.days_since(before), i32::MAX);
        assert_eq!(before.days_since(far), i32::MIN);
        assert_eq!(LocalDay::from_number(i32::MIN).days_since(far), i32::MIN);
        assert!(UtcOffset::from_seconds(30).is_none());
        assert_eq!(
            UtcOffset::from_seconds(-3600).unwrap().to_string(),
            "-01:00"
        );
    }

    #[test]
    fn timestamps_beyond_day_numbers_saturate_instead_of_wrapping() {
        // Far past chrono's range a day number no longer fits in i32: it
        // sticks at the end on the timestamp's side of the epoch, and the
        // offset added to the largest timestamps does not overflow.
        assert_eq!(
            LocalDay::of_offset_seconds(i64::MAX, 3600).number(),
            i32::MAX
        );
        assert_eq!(
            LocalDay::of_offset_seconds(i64::MIN, -3600).number(),
            i32::MIN
        );
        assert_eq!(
            LocalDay::of_offset_seconds(1_000_000_000_000_000, 0).number(),
            i32::MAX
        );
        assert_eq!(
            LocalDay::of_offset_seconds(-1_000_000_000_000_000, 0).number(),
            i32::MIN
        );
        assert_eq!(LocalDay::of_offset_seconds(-1, 0).number(), -1);
    }

    #[test]
    fn days_beyond_the_calendar_show_their_own_number_not_a_calendar_end() {
        // No date belongs to these days: showing the calendar's end date
        // would name another day (and the same one for all of them).
        let last = LocalDay::from_date(NaiveDate::MAX);
        let beyond = LocalDay::from_number(i32::MAX);
        assert_ne!(beyond.to_string(), last.to_string());
        assert_eq!(beyond.to_string(), i32::MAX.to_string());
        assert_eq!(format!("{:?}", beyond), format!("LocalDay({})", i32::MAX));
        assert_eq!(
            LocalDay::from_number(i32::MIN).to_string(),
            i32::MIN.to_string()
        );
        // What is shown reads back as the same day.
        let shown = format!("\"{beyond}\"");
        assert_eq!(serde_json::from_str::<LocalDay>(&shown).unwrap(), beyond);
        // Days with a date are shown as before.
        assert_eq!(last.to_string(), "+262142-12-31");
        assert_eq!(format!("{last:?}"), "LocalDay(+262142-12-31)");
        assert_eq!(format!("{:>12}", LocalDay::from_number(0)), "  1970-01-01");
        assert_eq!(
            format!("{:>12}", LocalDay::from_number(i32::MIN + 1)),
            " -2147483647"
        );
    }

    #[test]
    fn a_day_of_the_wrong_type_is_an_error_that_names_it() {
        for (bad, shown) in [
            ("1.5", "floating point `1.5`"),
            ("true", "boolean `true`"),
            ("null", "null"),
            ("4294967296", "integer `4294967296`"),
            ("-2147483649", "integer `-2147483649`"),
            ("[]", "sequence"),
            ("\"2026-02-30\"", "\"2026-02-30\""),
        ] {
            let err = serde_json::from_str::<LocalDay>(bad)
                .unwrap_err()
                .to_string();
            assert!(err.contains(shown), "{bad}: {err}");
        }
        // What reads, reads as before: dates, and the numbers of days
        // beyond the calendar, as numbers or text.
        for (good, n) in [
            ("\"1970-01-02\"", 1),
            ("-2147483648", i32::MIN),
            ("2147483647", i32::MAX),
            ("\"-2147483648\"", i32::MIN),
            ("\"95026237\"", CHRONO_DAYS.1 + 1),
            ("-96465293", CHRONO_DAYS.0 - 1),
        ] {
            assert_eq!(serde_json::from_str::<LocalDay>(good).unwrap().number(), n);
        }
    }

    #[test]
    fn a_number_where_a_date_belongs_is_an_error_not_that_day() {
        // A year, a date without dashes, a day number of a dated day.
        for (bad, shown) in [
            ("\"2026\"", "day number 2026 is 1975-07-20"),
            ("20260301", "day number 20260301"),
            ("\"-5\"", "day number -5 is 1969-12-27"),
            ("0", "day number 0 is 1970-01-01"),
            ("95026236", "+262142-12-31"),
        ] {
            let err = serde_json::from_str::<LocalDay>(bad)
                .unwrap_err()
                .to_string();
            assert!(err.contains(shown), "{bad}: {err}");
        }
        // As a map key too.
        let err = serde_json::from_str::<std::collections::BTreeMap<LocalDay, i32>>(r#"{"7":1}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("day number 7 is 1970-01-08"), "{err}");
    }

    #[test]
    fn rolling_days_count_whole_intervals() {
        let a = utc(2026, 1, 1, 12, 0);
        assert_eq!(rolling_days(a, utc(2026, 1, 2, 11, 59)), 0);
        assert_eq!(rolling_days(a, utc(2026, 1, 2, 12, 0)), 1);
        assert_eq!(rolling_days(a, utc(2026, 1, 1, 11, 0)), -1);
    }

    #[test]
    fn rolling_days_round_down_below_a_second_too() {
        let a = utc(2026, 1, 1, 12, 0);
        let ms = chrono::TimeDelta::milliseconds;
        // Half a second earlier is earlier: day -1, not day 0.
        assert_eq!(rolling_days(a, a - ms(500)), -1);
        // A day and a half-second earlier has started a second day back.
        assert_eq!(rolling_days(a, a - ms(86_400_500)), -2);
        assert_eq!(rolling_days(a, a - ms(86_400_000)), -1);
        assert_eq!(rolling_days(a, a + ms(86_399_999)), 0);
        assert_eq!(rolling_days(a, a + ms(86_400_000)), 1);
        assert_eq!(
            rolling_days(DateTime::<Utc>::MAX_UTC, DateTime::<Utc>::MIN_UTC),
            (DateTime::<Utc>::MIN_UTC.timestamp() - DateTime::<Utc>::MAX_UTC.timestamp() - 1)
                .div_euclid(SECONDS_PER_DAY)
        );
    }

    #[test]
    fn days_beyond_the_calendar_start_where_they_do_or_saturate() {
        let (max, min) = (DateTime::<Utc>::MAX_UTC, DateTime::<Utc>::MIN_UTC);
        let plus8 = FixedOffset::east_opt(8 * 3600).unwrap();
        let minus5 = FixedOffset::west_opt(5 * 3600).unwrap();
        // Chrono's last instant is, in +08:00, on a day past its calendar;
        // that day begins at 16:00 UTC on the calendar's last date, and the
        // instant it gives is on that day, not the one before.
        let past_the_end = LocalDay::of(max, &plus8);
        let start = NaiveDate::MAX.and_hms_opt(16, 0, 0).unwrap().and_utc();
        assert_eq!(past_the_end.start_in(&plus8), start);
        assert_eq!(LocalDay::of(start, &plus8), past_the_end);
        // Days whose start lies beyond the calendar saturate at its ends.
        for zone in [plus8, minus5] {
            assert_eq!(LocalDay::from_number(i32::MAX).start_in(&zone), max);
            assert_eq!(
                LocalDay::from_number(i32::MAX).checked_start_in(&zone),
                None
            );
            assert_eq!(LocalDay::from_number(i32::MIN).start_in(&zone), min);
        }
        // In -05:00 chrono's first instant is on a day before its calendar,
        // which began before that instant.
        assert_eq!(LocalDay::of(min, &minus5).start_in(&minus5), min);
    }

    #[test]
    fn a_gap_of_minutes_and_seconds_ends_on_its_first_second() {
        // Liberia moved from -00:44:30 to GMT at midnight on 1972-01-07:
        // local times 00:00:00 to 00:44:29 never happened, and the day began
        // at 00:44:30, half a minute before the next whole minute.
        let monrovia = chrono_tz::Africa::Monrovia;
        let date = NaiveDate::from_ymd_opt(1972, 1, 7).unwrap();
        let began = utc(1972, 1, 7, 0, 44) + chrono::TimeDelta::seconds(30);
        assert_eq!(LocalDay::from_date(date).start_in(&monrovia), began);
        assert_eq!(LocalDay::of(began, &monrovia), LocalDay::from_date(date));
        // A local time inside the gap, with a fraction of a second, names
        // the gap's end too.
        let inside = date.and_hms_milli_opt(0, 10, 0, 500).unwrap();
        assert_eq!(instant_of_local(inside, &monrovia), Some(began));
        // A gap of whole hours still ends on the hour.
        let ny = chrono_tz::America::New_York;
        let skipped = NaiveDate::from_ymd_opt(2026, 3, 8)
            .unwrap()
            .and_hms_opt(2, 30, 0)
            .unwrap();
        assert_eq!(instant_of_local(skipped, &ny), Some(utc(2026, 3, 8, 7, 0)));
    }

    #[test]
    fn day_start_is_local_midnight() {
        let tz = FixedOffset::east_opt(8 * 3600).unwrap();
        let day = LocalDay::from_date(NaiveDate::from_ymd_opt(2026, 1, 2).unwrap());
        assert_eq!(day.start_in(&tz), utc(2026, 1, 1, 16, 0));
    }
}

#[cfg(test)]
pub(crate) mod reference {
    //! The crate-private arithmetic against chrono across its calendar
    //! (the public functions are in `tests/calendar_reference.rs`).

    use super::*;
    use proptest::prelude::*;

    /// Instants anywhere in chrono's calendar, at its ends, and inside leap
    /// seconds (at the end of a UTC day or of any minute).
    pub(crate) fn any_instant() -> impl Strategy<Value = DateTime<Utc>> {
        let (min, max) = (
            DateTime::<Utc>::MIN_UTC.timestamp(),
            DateTime::<Utc>::MAX_UTC.timestamp(),
        );
        let nanos = prop_oneof![Just(0u32), Just(999_999_999), 0..1_000_000_000u32];
        let leap = prop_oneof![Just(1_000_000_000u32), 1_000_000_000..2_000_000_000u32];
        let last_second = prop_oneof![Just(86_399i64), (0..1_440i64).prop_map(|m| m * 60 + 59)];
        prop_oneof![
            (min..=max, nanos.clone()).prop_map(|(s, n)| DateTime::from_timestamp(s, n)),
            (0..3 * 86_400i64, nanos, any::<bool>()).prop_map(move |(s, n, first)| {
                DateTime::from_timestamp(if first { min + s } else { max - s }, n)
            }),
            (
                min.div_euclid(86_400)..=max.div_euclid(86_400),
                last_second,
                leap
            )
                .prop_map(|(d, s, n)| DateTime::from_timestamp(d * 86_400 + s, n)),
        ]
        .prop_filter_map("an instant chrono has", |at| at)
    }

    /// Offsets up to ±23:59:59, the widest ones most often.
    pub(crate) fn any_offset() -> impl Strategy<Value = i32> {
        prop_oneof![
            Just(0),
            Just(86_399),
            Just(-86_399),
            Just(8 * 3_600),
            -86_399..=86_399i32
        ]
    }

    proptest! {
        #[test]
        fn unix_times_are_chrono_s(at in any_instant()) {
            prop_assert_eq!(unix_seconds(at), at.timestamp(), "{}", at);
            prop_assert_eq!(unix_millis(at), at.timestamp_millis(), "{}", at);
        }

        #[test]
        fn day_and_second_are_chrono_s_local_date_and_time(
            at in any_instant(),
            offset in any_offset(),
        ) {
            let (day, second) = day_and_second(at, offset);
            let local = at.timestamp() + i64::from(offset);
            prop_assert_eq!(day, LocalDay::of_offset_seconds(at.timestamp(), offset));
            prop_assert_eq!(i64::from(second), local.rem_euclid(SECONDS_PER_DAY));
            let zone = FixedOffset::east_opt(offset).unwrap_or_else(|| unreachable!());
            prop_assert_eq!(day, LocalDay::of(at, &zone));
            if let Some(local) = at.naive_utc().checked_add_offset(zone) {
                prop_assert_eq!(day.exact_date(), Some(local.date()), "{} {:+}", at, offset);
                prop_assert_eq!(second, local.time().num_seconds_from_midnight());
            }
        }

        #[test]
        fn plus_days_is_chrono_s_addition(
            at in any_instant(),
            days in prop_oneof![0..=800u32, Just(u32::MAX), any::<u32>()],
        ) {
            let chrono = at.checked_add_signed(chrono::TimeDelta::days(i64::from(days)));
            prop_assert_eq!(plus_days(at, days), chrono, "{} + {} days", at, days);
        }
    }
}
