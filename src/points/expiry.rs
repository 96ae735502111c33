//! When earned points expire: never, a number of days after earning, or a
//! number of calendar months after earning in the program's local zone,
//! optionally rounded up to the end of the month, quarter or year.

use super::PointsError;
use super::fields::field_readers;
use crate::time::{LocalDay, instant_of_local, offset_seconds, unix_seconds};
use chrono::{
    DateTime, Datelike, Days, LocalResult, Months, NaiveDate, NaiveTime, Offset, TimeDelta,
    TimeZone, Utc,
};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The longest expiry or pending period in days a program may set: about
/// 100,000 years, so that points earned at any instant up to the year
/// 160,000 fall due within chrono's calendar (whose last year is 262,142).
pub const MAX_DAYS: u32 = 36_524_250;

/// The longest expiry in calendar months a program may set (100,000 years).
pub const MAX_MONTHS: u32 = 1_200_000;

/// When earned points expire.
///
/// Expiry is an instant, and half-open: a lot expiring at `t` can be spent
/// at every instant before `t` and is gone at `t` itself. "The end of March"
/// is therefore local midnight on 1 April, the first instant of the next
/// period.
///
/// ```
/// use chrono::{FixedOffset, TimeZone, Utc};
/// use growthkit::points::Expiry;
///
/// let beijing = FixedOffset::east_opt(8 * 3600).unwrap();
/// let expiry: Expiry = serde_json::from_str(
///     r#"{ "type": "after_months", "months": 1, "round_up_to": "quarter" }"#,
/// )?;
/// // Earned at 10:00 on 31 January 2028 in Beijing: one month later is
/// // 29 February (a leap year), whose quarter ends when 1 April begins.
/// let earned = Utc.with_ymd_and_hms(2028, 1, 31, 2, 0, 0).unwrap();
/// let end = expiry.expires_at(earned, &beijing)?;
/// assert_eq!(end, Some(Utc.with_ymd_and_hms(2028, 3, 31, 16, 0, 0).unwrap()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
// A variant without fields is `{}`, not a unit variant: serde lets a unit
// variant of a tagged enum take stray fields (serde-rs/serde#2123).
pub enum Expiry {
    /// They never do.
    Never {},
    /// Exactly `days` × 24 hours after the earning event.
    AfterDays {
        /// Days; at least 1.
        #[serde(deserialize_with = "days_field")]
        days: u32,
    },
    /// `months` calendar months after the earning event's local date and
    /// time (31 January + 1 month is 28 or 29 February: a day the shorter
    /// month lacks becomes its last day), optionally rounded up to the end of
    /// the local period containing that instant.
    AfterMonths {
        /// Months; at least 1.
        #[serde(deserialize_with = "months_field")]
        months: u32,
        /// Round up to the end of this period (the next period's local
        /// midnight). Default: no rounding.
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            deserialize_with = "round_up_to_field"
        )]
        round_up_to: Option<PeriodEnd>,
    },
}

// Each field names itself when the JSON reader refuses its value
// (`field `expiry`: field `days`: ...`).
field_readers! {
    fn days_field = named("days");
    fn months_field = named("months");
    fn round_up_to_field = named("round_up_to");
}

impl Default for Expiry {
    /// [`Expiry::Never`].
    fn default() -> Self {
        Expiry::Never {}
    }
}

/// A local calendar period whose end an expiry rounds up to.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PeriodEnd {
    /// The calendar month.
    Month,
    /// The calendar quarter (January–March, April–June, ...).
    Quarter,
    /// The calendar year.
    Year,
}

impl Expiry {
    /// When points earned at `earned_at` expire (`None`: never), counting
    /// calendar months and period ends in `zone`.
    ///
    /// An instant beyond chrono's calendar is [`PointsError::Overflow`].
    pub fn expires_at<Tz: TimeZone>(
        &self,
        earned_at: DateTime<Utc>,
        zone: &Tz,
    ) -> Result<Option<DateTime<Utc>>, PointsError> {
        self.expires_at_memo(
            (earned_at, offset_seconds(zone, earned_at)),
            zone,
            (0, &mut []),
        )
    }

    /// [`Expiry::expires_at`] for points earned at `earned_at`, `offset`
    /// seconds east of UTC in `zone` (the caller has it at hand), looking
    /// up in `memo` (and writing there) what the date of earning gives:
    /// this expiry's class in its program (see [`Memo::slot`]).
    ///
    /// Both kinds of expiry move the date of earning and keep its time of
    /// day (days the UTC date, calendar months the local one), so the
    /// calendar arithmetic is done once per date and class, and the time of
    /// day put back per call.
    #[inline]
    pub(crate) fn expires_at_memo<Tz: TimeZone>(
        &self,
        (earned_at, offset): (DateTime<Utc>, i32),
        zone: &Tz,
        (class, memo): (usize, &mut [Option<Memo>]),
    ) -> Result<Option<DateTime<Utc>>, PointsError> {
        let nanos = earned_at.timestamp_subsec_nanos();
        if nanos >= 1_000_000_000 {
            // A leap second keeps chrono's own rules, uncached.
            return self.expires_at_by_chrono(earned_at, zone);
        }
        match *self {
            Expiry::Never {} => Ok(None),
            Expiry::AfterDays { .. } => {
                // Days of 24 hours are whole multiples of 86,400 seconds of
                // Unix time: the UTC date moves and the time of day stays.
                // Both are read off the naive instant (`date_naive` and
                // `time` go through the offset, a conversion even for UTC),
                // and the key off the date's year and day of the year (its
                // day number would take arithmetic).
                let naive = earned_at.naive_utc();
                let date = naive.date();
                let key = (date.year() << 9) | date.ordinal() as i32;
                let slot = Memo::slot(memo, class, key);
                let worked = self.worked_out(key, || Some(date), zone, slot)?;
                Ok(Some(worked.due.and_time(naive.time()).and_utc()))
            }
            Expiry::AfterMonths { .. } => {
                let unix = unix_seconds(earned_at);
                let local = unix + i64::from(offset);
                let day = LocalDay::of_offset_seconds(unix, offset);
                let slot = Memo::slot(memo, class, day.number());
                let worked = self.worked_out(day.number(), || day.exact_date(), zone, slot)?;
                if let Some(end) = worked.rounded {
                    return Ok(Some(end));
                }
                // The seconds are in 0..86,400 by construction.
                let time = NaiveTime::from_num_seconds_from_midnight_opt(
                    local.rem_euclid(86_400) as u32,
                    nanos,
                )
                .ok_or(PointsError::Overflow)?;
                let due = worked.due.and_time(time);
                // The earliest instant with that local time, as
                // `instant_of_local` finds it.
                let due_offset = match zone.offset_from_local_datetime(&due) {
                    LocalResult::Single(o) | LocalResult::Ambiguous(o, _) => {
                        o.fix().local_minus_utc()
                    }
                    // In a gap: walked past it.
                    LocalResult::None => {
                        return instant_of_local(due, zone)
                            .map(Some)
                            .ok_or(PointsError::Overflow);
                    }
                };
                // Its UTC time of day, on the due date or the day before
                // or after (an offset is less than a day): no calendar
                // conversion, which `checked_add_signed` would make.
                let utc = local.rem_euclid(86_400) - i64::from(due_offset);
                let (date, utc) = match utc {
                    ..0 => (worked.due.pred_opt(), utc + 86_400),
                    86_400.. => (worked.due.succ_opt(), utc - 86_400),
                    _ => (Some(worked.due), utc),
                };
                let at = u32::try_from(utc)
                    .ok()
                    .and_then(|utc| NaiveTime::from_num_seconds_from_midnight_opt(utc, nanos))
                    .zip(date)
                    .map(|(time, date)| date.and_time(time).and_utc());
                // Not `ok_or`: the error it built on every call, to drop it
                // again, was a call of its own on most events.
                match at {
                    Some(at) => Ok(Some(at)),
                    None => Err(PointsError::Overflow),
                }
            }
        }
    }

    /// [`Expiry::expires_at`] by chrono's calendar arithmetic throughout:
    /// for an instant inside a leap second, and the tests' reference.
    fn expires_at_by_chrono<Tz: TimeZone>(
        &self,
        earned_at: DateTime<Utc>,
        zone: &Tz,
    ) -> Result<Option<DateTime<Utc>>, PointsError> {
        match *self {
            Expiry::Never {} => Ok(None),
            Expiry::AfterDays { days } => earned_at
                .checked_add_signed(TimeDelta::days(i64::from(days)))
                .map(Some)
                .ok_or(PointsError::Overflow),
            Expiry::AfterMonths { .. } => {
                // Checked: the local time of an instant at the calendar's
                // ends may be beyond it.
                let offset = zone.offset_from_utc_datetime(&earned_at.naive_utc()).fix();
                let local = earned_at
                    .naive_utc()
                    .checked_add_offset(offset)
                    .ok_or(PointsError::Overflow)?;
                let worked = self.worked_out(0, || Some(local.date()), zone, None)?;
                match worked.rounded {
                    Some(end) => Ok(Some(end)),
                    None => instant_of_local(worked.due.and_time(local.time()), zone)
                        .map(Some)
                        .ok_or(PointsError::Overflow),
                }
            }
        }
    }

    /// What earning on the date keyed `key` (the date itself from `date`,
    /// `None` if beyond the calendar) gives under this expiry, from `slot`
    /// if it holds it (and written there if not).
    #[inline]
    fn worked_out<Tz: TimeZone>(
        &self,
        key: i32,
        date: impl FnOnce() -> Option<NaiveDate>,
        zone: &Tz,
        slot: Option<&mut Option<Memo>>,
    ) -> Result<Worked, PointsError> {
        if let Some(Some(m)) = slot.as_deref()
            && m.key == key
            && m.expiry == *self
        {
            // The two fields read, not the memo copied whole: a copy
            // written in wide moves and read back in narrow ones at once
            // waits for the copy to land.
            return Ok(Worked {
                due: m.due,
                rounded: m.rounded,
            });
        }
        let m = self.work_out(key, date(), zone, slot)?;
        Ok(Worked {
            due: m.due,
            rounded: m.rounded,
        })
    }

    /// What [`Expiry::worked_out`] does when `slot` does not hold it: out
    /// of line, so that the step the memo serves stays small.
    #[inline(never)]
    fn work_out<Tz: TimeZone>(
        &self,
        key: i32,
        date: Option<NaiveDate>,
        zone: &Tz,
        slot: Option<&mut Option<Memo>>,
    ) -> Result<Memo, PointsError> {
        let date = date.ok_or(PointsError::Overflow)?;
        let (due, rounded) = match *self {
            // Points that never expire have no date: never called for them.
            Expiry::Never {} => return Err(PointsError::Overflow),
            Expiry::AfterDays { days } => (date.checked_add_days(Days::new(u64::from(days))), None),
            Expiry::AfterMonths {
                months,
                round_up_to,
            } => {
                // chrono clamps a missing day to the month's last day.
                let due = date
                    .checked_add_months(Months::new(months))
                    .ok_or(PointsError::Overflow)?;
                let rounded = match round_up_to {
                    None => None,
                    Some(period) => {
                        let next = next_period_start(due, period).ok_or(PointsError::Overflow)?;
                        let start = LocalDay::from_date(next).checked_start_in(zone);
                        Some(start.ok_or(PointsError::Overflow)?)
                    }
                };
                (Some(due), rounded)
            }
        };
        let m = Memo {
            expiry: *self,
            key,
            due: due.ok_or(PointsError::Overflow)?,
            rounded,
        };
        if let Some(slot) = slot {
            *slot = Some(m);
        }
        Ok(m)
    }

    /// The fewest calendar days from earning to expiry (less by a change of
    /// offset across the span: an hour or two, but a whole day where a zone
    /// skipped one, as Apia did on 30 December 2011); `None` for never. For months, the
    /// shortest span of that many calendar months: from the last day of a
    /// month to the same or last day `months` later (31 December to 28
    /// February is 59 days, not 2 × 28).
    pub(crate) fn min_days(&self) -> Option<u64> {
        match *self {
            Expiry::Never {} => None,
            Expiry::AfterDays { days } => Some(u64::from(days)),
            Expiry::AfterMonths { months, .. } => Some(shortest_months(months)),
        }
    }

    /// The field that is longer than [`MAX_DAYS`] or [`MAX_MONTHS`], if
    /// one is, with its value and that limit.
    pub(crate) fn too_long(&self) -> Option<(&'static str, u32, u32)> {
        match *self {
            Expiry::AfterDays { days } if days > MAX_DAYS => Some(("expiry.days", days, MAX_DAYS)),
            Expiry::AfterMonths { months, .. } if months > MAX_MONTHS => {
                Some(("expiry.months", months, MAX_MONTHS))
            }
            _ => None,
        }
    }

    /// The field (relative to the expiry) that is zero, if one is.
    pub(crate) fn zero_field(&self) -> Option<&'static str> {
        match *self {
            Expiry::AfterDays { days: 0 } => Some("expiry.days"),
            Expiry::AfterMonths { months: 0, .. } => Some("expiry.months"),
            _ => None,
        }
    }
}

impl fmt::Display for Expiry {
    /// `never`, `after 365 days`, `after 12 months, rounded up to the quarter's end`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Expiry::Never {} => f.write_str("never"),
            Expiry::AfterDays { days: 1 } => f.write_str("after 1 day"),
            Expiry::AfterDays { days } => write!(f, "after {days} days"),
            Expiry::AfterMonths {
                months,
                round_up_to,
            } => {
                match months {
                    1 => f.write_str("after 1 month")?,
                    _ => write!(f, "after {months} months")?,
                }
                match round_up_to {
                    None => Ok(()),
                    Some(PeriodEnd::Month) => f.write_str(", rounded up to the month's end"),
                    Some(PeriodEnd::Quarter) => f.write_str(", rounded up to the quarter's end"),
                    Some(PeriodEnd::Year) => f.write_str(", rounded up to the year's end"),
                }
            }
        }
    }
}

/// What [`Memo`] holds for a date, as its reader needs it.
#[derive(Clone, Copy)]
struct Worked {
    due: NaiveDate,
    rounded: Option<DateTime<Utc>>,
}

/// What an expiry after days or months gives for one date of earning (see
/// [`Expiry::expires_at_memo`]).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Memo {
    expiry: Expiry,
    /// The date of earning: a UTC date (year and day of the year) for
    /// days, a local day number for months.
    key: i32,
    /// That date plus the days or months.
    due: NaiveDate,
    /// The end of the period `due` is rounded up to, if it is.
    rounded: Option<DateTime<Utc>>,
}

impl Memo {
    /// How many dates a batch's memo holds for each of a program's
    /// expiries: two months' worth, more than most members' runs of events
    /// span, so a member's dates rarely push each other out (a date's slot
    /// is its key modulo 64: consecutive dates take different slots, but
    /// for days-based expiry across a new year, whose keys jump).
    const DATES: usize = 64;

    /// A batch's memo for a program with `classes` distinct expiries.
    pub(crate) fn batch(classes: usize) -> Vec<Option<Memo>> {
        vec![None; classes.saturating_mul(Self::DATES)]
    }

    /// The slot of `memo` for the expiry of class `class` and the date
    /// keyed `key`: one place per key, found with a shift and a mask, so a
    /// lookup is one comparison. A memo too small for the class shares its
    /// first slot; an empty one has none.
    fn slot(memo: &mut [Option<Memo>], class: usize, key: i32) -> Option<&mut Option<Memo>> {
        let at = class
            .saturating_mul(Self::DATES)
            .saturating_add(key as usize % Self::DATES);
        let at = if at < memo.len() { at } else { 0 };
        memo.get_mut(at)
    }
}

/// The first day of the period after the one containing `date`.
fn next_period_start(date: NaiveDate, period: PeriodEnd) -> Option<NaiveDate> {
    let (start_month, length) = match period {
        PeriodEnd::Month => (date.month(), 1),
        PeriodEnd::Quarter => ((date.month() - 1) / 3 * 3 + 1, 3),
        PeriodEnd::Year => (1, 12),
    };
    NaiveDate::from_ymd_opt(date.year(), start_month, 1)?.checked_add_months(Months::new(length))
}

/// Months in the Gregorian calendar's cycle of 400 years.
const CYCLE_MONTHS: u32 = 4_800;

/// Days in that cycle.
const CYCLE_DAYS: u64 = 146_097;

/// The days of month `i` of the cycle (0 is January of a year divisible
/// by 400).
fn cycle_month_days(i: u32) -> u64 {
    let i = i % CYCLE_MONTHS;
    let (year, month) = (i / 12, i % 12 + 1);
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// The fewest days `months` calendar months can span: over every month
/// of the cycle as the start, the days of the `months` months from it,
/// less what the end gives up when the start's last day is past the end
/// month's (31 January + 1 month is 28 February).
fn shortest_months(months: u32) -> u64 {
    let whole_cycles = u64::from(months / CYCLE_MONTHS) * CYCLE_DAYS;
    let rest = months % CYCLE_MONTHS;
    if rest == 0 {
        // Whole cycles, whatever the start.
        return whole_cycles;
    }
    // The days of the `rest` months from `start`, slid along the cycle.
    let mut window: u64 = (0..rest).map(cycle_month_days).sum();
    let mut shortest = u64::MAX;
    for start in 0..CYCLE_MONTHS {
        let first = cycle_month_days(start);
        let clamped = first.saturating_sub(cycle_month_days(start + rest));
        shortest = shortest.min(whole_cycles + window - clamped);
        window = window - first + cycle_month_days(start + rest);
    }
    shortest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shortest_span_of_months_is_the_calendar_s() {
        // Against chrono, from every day of years around leap and century
        // years (the span is shortest from a month's last day).
        let starts: Vec<NaiveDate> = [1999, 2000, 2003, 2099, 2100]
            .into_iter()
            .flat_map(|y| (1..=365).filter_map(move |d| NaiveDate::from_yo_opt(y, d)))
            .collect();
        for months in [1u32, 2, 3, 11, 12, 13, 24, 48, 49, 1_199] {
            let by_chrono = starts
                .iter()
                .filter_map(|&d| {
                    let due = d.checked_add_months(chrono::Months::new(months))?;
                    u64::try_from((due - d).num_days()).ok()
                })
                .min();
            assert_eq!(Some(shortest_months(months)), by_chrono, "{months} months");
        }
        assert_eq!(shortest_months(1), 28);
        assert_eq!(shortest_months(2), 59);
        assert_eq!(shortest_months(CYCLE_MONTHS), CYCLE_DAYS);
        assert_eq!(
            shortest_months(MAX_MONTHS),
            shortest_months(MAX_MONTHS % CYCLE_MONTHS) + 250 * CYCLE_DAYS
        );
    }
    use chrono::FixedOffset;

    fn utc(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, 0, 0)
            .single()
            .unwrap_or_default()
    }

    fn plus8() -> FixedOffset {
        FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| unreachable!())
    }

    #[test]
    fn a_local_time_past_the_calendar_is_an_overflow_not_a_panic() {
        // The calendar's last instant is past its end in +08:00.
        let month = Expiry::AfterMonths {
            months: 1,
            round_up_to: None,
        };
        assert_eq!(
            month.expires_at(DateTime::<Utc>::MAX_UTC, &plus8()),
            Err(PointsError::Overflow)
        );
        let west = FixedOffset::west_opt(8 * 3600).unwrap_or_else(|| unreachable!());
        assert_eq!(
            month.expires_at(DateTime::<Utc>::MIN_UTC, &west),
            Err(PointsError::Overflow)
        );
        // Earned within the calendar, due past its last instant: 31 October
        // of its last year, 20:00 in -08:00, plus two months, is already
        // beyond it in UTC (with or without rounding up).
        let late = chrono::NaiveDate::from_ymd_opt(262_142, 10, 31)
            .and_then(|d| d.and_hms_opt(20, 0, 0))
            .and_then(|t| west.from_local_datetime(&t).single())
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|| unreachable!());
        for expiry in [months(2, None), months(1, Some(PeriodEnd::Year))] {
            assert_eq!(
                expiry.expires_at(late, &west),
                Err(PointsError::Overflow),
                "{expiry}"
            );
        }
    }

    #[test]
    fn after_days_is_the_calendar_addition_at_every_instant() {
        let calendar =
            |at: DateTime<Utc>, days: u32| at.checked_add_signed(TimeDelta::days(i64::from(days)));
        let leap = chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
            .and_then(|d| d.and_hms_nano_opt(23, 59, 59, 1_500_000_000))
            .map(|t| t.and_utc())
            .unwrap_or_default();
        let mut instants = vec![
            DateTime::<Utc>::MIN_UTC,
            DateTime::<Utc>::MAX_UTC,
            DateTime::<Utc>::UNIX_EPOCH,
            leap,
            utc(2024, 2, 28, 23) + TimeDelta::nanoseconds(999_999_999),
        ];
        // A spread of instants before and after the epoch, to the nanosecond.
        let mut x: i64 = 0x2545_F491_4F6C_DD1D;
        for _ in 0..2_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let secs = x.rem_euclid(8_000_000_000) - 4_000_000_000;
            let nanos = (x >> 20).rem_euclid(1_000_000_000) as u32;
            instants.extend(DateTime::from_timestamp(secs, nanos));
        }
        for at in instants {
            for days in [1, 28, 365, 36_500, u32::MAX] {
                let want = calendar(at, days).map(Some).ok_or(PointsError::Overflow);
                assert_eq!(
                    Expiry::AfterDays { days }.expires_at(at, &Utc),
                    want,
                    "{at} + {days} days"
                );
            }
        }
    }

    fn months(months: u32, round_up_to: Option<PeriodEnd>) -> Expiry {
        Expiry::AfterMonths {
            months,
            round_up_to,
        }
    }

    #[test]
    fn month_end_arithmetic_clamps_to_the_last_day() {
        let z = plus8();
        // 31 January 10:00 local + 1 month: 28 February, 29 in a leap year.
        for (year, day) in [(2026, 28), (2028, 29), (2100, 28), (2000, 29)] {
            let got = months(1, None).expires_at(utc(year, 1, 31, 2), &z);
            assert_eq!(got, Ok(Some(utc(year, 2, day, 2))), "{year}");
        }
        // 29 February + 12 months is 28 February; + 48 months is 29 February.
        assert_eq!(
            months(12, None).expires_at(utc(2028, 2, 29, 2), &z),
            Ok(Some(utc(2029, 2, 28, 2)))
        );
        assert_eq!(
            months(48, None).expires_at(utc(2028, 2, 29, 2), &z),
            Ok(Some(utc(2032, 2, 29, 2)))
        );
    }

    #[test]
    fn months_are_counted_in_the_local_calendar() {
        // 31 January 20:00 UTC is already 1 February 04:00 in +08:00: one
        // month later is 1 March local, not 28 February.
        let got = months(1, None).expires_at(utc(2026, 1, 31, 20), &plus8());
        assert_eq!(got, Ok(Some(utc(2026, 2, 28, 20))));
        let in_utc = months(1, None).expires_at(utc(2026, 1, 31, 20), &Utc);
        assert_eq!(in_utc, Ok(Some(utc(2026, 2, 28, 20))));
        // Same instant, but the local dates differ: 1 March 04:00 local vs 28 Feb 20:00 UTC.
        let z = plus8();
        let local_due = months(1, Some(PeriodEnd::Month)).expires_at(utc(2026, 1, 31, 20), &z);
        // Local 1 March is in March, whose end is 1 April 00:00 local.
        assert_eq!(local_due, Ok(Some(utc(2026, 3, 31, 16))));
        let utc_due = months(1, Some(PeriodEnd::Month)).expires_at(utc(2026, 1, 31, 20), &Utc);
        assert_eq!(utc_due, Ok(Some(utc(2026, 3, 1, 0))));
    }

    #[test]
    fn rounding_up_to_month_quarter_and_year_end_in_plus_eight() {
        let z = plus8();
        let earned = utc(2026, 5, 10, 2); // 10 May 10:00 local
        let cases = [
            (PeriodEnd::Month, utc(2026, 6, 30, 16)), // end of June local
            (PeriodEnd::Quarter, utc(2026, 6, 30, 16)), // end of Q2 local
            (PeriodEnd::Year, utc(2026, 12, 31, 16)), // end of 2026 local
        ];
        for (period, want) in cases {
            let got = months(1, Some(period)).expires_at(earned, &z);
            assert_eq!(got, Ok(Some(want)), "{period:?}");
        }
        // 12 months from 15 November 2026 is 15 November 2027: Q4 and the year end together.
        let late = utc(2026, 11, 15, 2);
        assert_eq!(
            months(12, Some(PeriodEnd::Quarter)).expires_at(late, &z),
            Ok(Some(utc(2027, 12, 31, 16)))
        );
        // Local midnight that starts a quarter belongs to the new quarter (half-open).
        let midnight_q3 = utc(2026, 5, 31, 16); // 1 June 00:00 local
        assert_eq!(
            months(1, Some(PeriodEnd::Quarter)).expires_at(midnight_q3, &z),
            Ok(Some(utc(2026, 9, 30, 16)))
        );
    }

    #[test]
    fn the_local_year_decides_across_the_utc_new_year() {
        // 31 December 20:00 UTC is already 1 January 2027, 04:00 in +08:00:
        // one month later is February 2027, whose year ends when 2028 begins
        // locally (31 December 2027, 16:00 UTC). In UTC it would be 2026's
        // January + 1 month: still 2027, ending at midnight UTC.
        let earned = utc(2026, 12, 31, 20);
        let year_end = months(1, Some(PeriodEnd::Year));
        assert_eq!(
            year_end.expires_at(earned, &plus8()),
            Ok(Some(utc(2027, 12, 31, 16)))
        );
        assert_eq!(
            year_end.expires_at(earned, &Utc),
            Ok(Some(utc(2028, 1, 1, 0)))
        );
        // Rounded to the quarter: Q1 2027 locally ends when 1 April begins.
        assert_eq!(
            months(1, Some(PeriodEnd::Quarter)).expires_at(earned, &plus8()),
            Ok(Some(utc(2027, 3, 31, 16)))
        );
        // A December expiry rounded to its month ends on 1 January.
        assert_eq!(
            months(11, Some(PeriodEnd::Month)).expires_at(utc(2026, 1, 10, 0), &plus8()),
            Ok(Some(utc(2026, 12, 31, 16)))
        );
    }

    #[test]
    fn days_never_and_overflow() {
        let z = plus8();
        assert_eq!(
            Expiry::Never {}.expires_at(utc(2026, 1, 1, 0), &z),
            Ok(None)
        );
        assert_eq!(
            Expiry::AfterDays { days: 2 }.expires_at(utc(2026, 1, 1, 0), &z),
            Ok(Some(utc(2026, 1, 3, 0)))
        );
        assert_eq!(
            months(u32::MAX, None).expires_at(utc(2026, 1, 1, 0), &z),
            Err(PointsError::Overflow)
        );
        assert_eq!(
            Expiry::AfterDays { days: u32::MAX }.expires_at(DateTime::<Utc>::MAX_UTC, &z),
            Err(PointsError::Overflow)
        );
    }

    #[test]
    fn json_is_backwards_compatible() {
        let old: Expiry = serde_json::from_str(r#"{"type":"after_days","days":365}"#)
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(old, Expiry::AfterDays { days: 365 });
        let text = r#"{"type":"after_months","months":12,"round_up_to":"quarter"}"#;
        let new: Expiry = serde_json::from_str(text).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(new, months(12, Some(PeriodEnd::Quarter)));
        assert_eq!(serde_json::to_string(&new).ok().as_deref(), Some(text));
        let plain: Expiry = serde_json::from_str(r#"{"type":"after_months","months":3}"#)
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(plain, months(3, None));
        assert!(serde_json::from_str::<Expiry>(r#"{"type":"after_months"}"#).is_err());
        assert!(
            serde_json::from_str::<Expiry>(
                r#"{"type":"after_months","months":1,"round_up_to":"week"}"#
            )
            .is_err()
        );
        assert_eq!(months(0, None).zero_field(), Some("expiry.months"));
        assert_eq!(
            Expiry::AfterDays { days: 0 }.zero_field(),
            Some("expiry.days")
        );
        assert_eq!(Expiry::Never {}.zero_field(), None);
        assert_eq!(
            new.to_string(),
            "after 12 months, rounded up to the quarter's end"
        );
        assert_eq!(Expiry::AfterDays { days: 7 }.to_string(), "after 7 days");
        assert_eq!(Expiry::Never {}.to_string(), "never");
        assert_eq!(Expiry::AfterDays { days: 1 }.to_string(), "after 1 day");
        assert_eq!(months(1, None).to_string(), "after 1 month");
    }

    #[test]
    fn dst_gap_moves_to_the_first_existing_instant() {
        // 8 March 2026, 02:30 does not exist in New York; one month after
        // 8 February 02:30 EST lands there and moves to 03:00 EDT.
        let ny = chrono_tz::America::New_York;
        let earned = Utc
            .with_ymd_and_hms(2026, 2, 8, 7, 30, 0)
            .single()
            .unwrap_or_default();
        assert_eq!(
            months(1, None).expires_at(earned, &ny),
            Ok(Some(utc(2026, 3, 8, 7)))
        );
    }

    #[test]
    fn a_memo_gives_what_chrono_s_arithmetic_gives() {
        // Every 97 minutes and a little over two years in New York (DST
        // gaps and folds) and in +08:00, through a batch's memo and through
        // one small enough that its slots are shared and overwritten: the
        // same instants as chrono's calendar arithmetic gives.
        let ny = chrono_tz::America::New_York;
        let expiries = [
            months(1, None),
            months(3, None),
            months(1, Some(PeriodEnd::Month)),
            months(12, Some(PeriodEnd::Quarter)),
            months(6, Some(PeriodEnd::Year)),
            Expiry::AfterDays { days: 30 },
            Expiry::AfterDays { days: 365 },
            Expiry::Never {},
        ];
        let mut memos = [
            (Memo::batch(expiries.len()), Memo::batch(expiries.len())),
            (vec![None; 5], vec![None; 5]),
        ];
        let mut at = utc(2025, 1, 30, 0);
        for step in 0..(2 * 365 * 24 * 60 / 97) {
            let class = step % expiries.len();
            let expiry = expiries[class];
            let by_chrono = expiry.expires_at_by_chrono(at, &ny);
            assert_eq!(
                expiry.expires_at(at, &ny),
                by_chrono,
                "{expiry} at {at} in NY"
            );
            let offset = offset_seconds(&ny, at);
            for (memo, _) in &mut memos {
                let got = expiry.expires_at_memo((at, offset), &ny, (class, memo));
                assert_eq!(got, by_chrono, "{expiry} at {at} in New York, memo");
            }
            let by_chrono = expiry.expires_at_by_chrono(at, &plus8());
            assert_eq!(
                expiry.expires_at(at, &plus8()),
                by_chrono,
                "{expiry} at {at}"
            );
            for (_, memo) in &mut memos {
                let got = expiry.expires_at_memo((at, 8 * 3600), &plus8(), (class, memo));
                assert_eq!(got, by_chrono, "{expiry} at {at} in +08:00, memo");
            }
            // Seconds and nanoseconds vary too.
            at += TimeDelta::minutes(97) + TimeDelta::nanoseconds(1_000_003_001);
        }
        let used = |memo: &[Option<Memo>]| memo.iter().filter(|m| m.is_some()).count();
        let [(batch_ny, batch_cn), (small_ny, small_cn)] = &memos;
        // Seven expiries with dates over two months of slots each.
        assert!(used(batch_ny) > 6 * Memo::DATES && used(batch_cn) > 6 * Memo::DATES);
        assert!(used(small_ny) > 0 && used(small_cn) > 0);
    }

    #[test]
    fn a_leap_second_keeps_chrono_s_rules() {
        let leap = chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
            .and_then(|d| d.and_hms_nano_opt(23, 59, 59, 1_500_000_000))
            .map(|t| t.and_utc())
            .unwrap_or_default();
        let mut memo = Memo::batch(1);
        for expiry in [months(1, None), months(2, Some(PeriodEnd::Month))] {
            let got = expiry.expires_at_memo((leap, 8 * 3600), &plus8(), (0, &mut memo));
            assert_eq!(got, expiry.expires_at_by_chrono(leap, &plus8()), "{expiry}");
            assert!(got.is_ok_and(|at| at.is_some()));
        }
        assert!(memo.iter().all(Option::is_none), "not remembered");
    }
}

#[cfg(test)]
mod memo_reference {
    //! The memo against no memo: runs of nearby instants (a member's
    //! events) through one memo, for any expiries, in zones with changes of
    //! offset at midnight, by half an hour and by a whole day.

    use super::*;
    use crate::time::reference::{any_instant, any_offset};
    use chrono::FixedOffset;
    use proptest::prelude::*;

    fn any_expiry() -> impl Strategy<Value = Expiry> {
        let round = proptest::option::of(proptest::sample::select(vec![
            PeriodEnd::Month,
            PeriodEnd::Quarter,
            PeriodEnd::Year,
        ]));
        prop_oneof![
            Just(Expiry::Never {}),
            prop_oneof![1..=400u32, Just(u32::MAX)].prop_map(|days| Expiry::AfterDays { days }),
            (prop_oneof![1..=25u32, Just(MAX_MONTHS)], round).prop_map(|(months, round_up_to)| {
                Expiry::AfterMonths {
                    months,
                    round_up_to,
                }
            }),
        ]
    }

    /// A member's events: a first instant, then steps (nanoseconds) and
    /// the class of each event's expiry; the expiries; the memo's length
    /// (0: a batch's).
    type Run = (DateTime<Utc>, Vec<(i64, usize)>, [Expiry; 3], usize);

    /// A run of steps of up to three days either way (to the nanosecond),
    /// each under one of three expiries.
    fn run() -> impl Strategy<Value = Run> {
        let start = prop_oneof![
            any_instant(),
            // 1900 to 2040, where the zones change their offsets.
            (-2_208_988_800..2_208_988_800i64)
                .prop_filter_map("an instant", |s| DateTime::from_timestamp(s, 0)),
        ];
        let step = (
            -3 * 86_400_000_000_000..=3 * 86_400_000_000_000i64,
            0..3usize,
        );
        let memo = prop_oneof![Just(0usize), 1..8usize];
        let expiries = [any_expiry(), any_expiry(), any_expiry()];
        (
            start,
            proptest::collection::vec(step, 1..40),
            expiries,
            memo,
        )
    }

    fn check<Tz: TimeZone>(
        zone: &Tz,
        (start, steps, expiries, memo_len): Run,
    ) -> Result<(), TestCaseError> {
        let mut memo = match memo_len {
            0 => Memo::batch(expiries.len()),
            small => vec![None; small],
        };
        let mut at = start;
        for (nanos, class) in steps {
            let Some(next) = at.checked_add_signed(TimeDelta::nanoseconds(nanos)) else {
                continue;
            };
            at = next;
            let expiry = expiries[class];
            let offset = offset_seconds(zone, at);
            prop_assert_eq!(
                expiry.expires_at_memo((at, offset), zone, (class, &mut memo)),
                expiry.expires_at(at, zone),
                "{} at {}",
                expiry,
                at
            );
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn a_memo_gives_what_no_memo_gives_in_fixed_offsets(offset in any_offset(), run in run()) {
            let zone = FixedOffset::east_opt(offset).unwrap_or_else(|| unreachable!());
            check(&zone, run)?;
        }

        #[test]
        fn a_memo_gives_what_no_memo_gives_in_iana_zones(
            zone in proptest::sample::select(vec![
                chrono_tz::America::Santiago,
                chrono_tz::America::Sao_Paulo,
                chrono_tz::America::St_Johns,
                chrono_tz::Australia::Lord_Howe,
                chrono_tz::Pacific::Apia,
                chrono_tz::America::New_York,
            ]),
            run in run(),
        ) {
            check(&zone, run)?;
        }
    }
}
