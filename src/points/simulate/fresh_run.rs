//! [`FreshRun`]: a batch's stand-in for a member's window of recent ids.

use crate::dedupe::DedupeWindow;
use crate::event::Event;
use crate::id::EventId;
use crate::points::Ledger;
use chrono::{DateTime, NaiveDate, Timelike, Utc};

/// The ledger's window of recent event ids, stood in for over a member's
/// events while their ids and times (in milliseconds, the window's unit)
/// only increase: the common order of a log.
///
/// Over such a run every event is new to the window (no id comes twice,
/// and nothing forgotten is as late as the newest event), so the earning
/// step need neither ask the window nor tell it. The first event out of
/// that order (or inside a leap second, see [`millisecond`]), or the first
/// step that fails, ends the run: the window is
/// then written as the ledger would hold it (every event before was
/// taken and remembered, in order) and judges from there on. A batch
/// needs no window at the end of a member, so a run that never ends
/// writes nothing.
#[derive(Debug)]
pub(super) struct FreshRun {
    /// The newest id and time so far.
    last: Option<(EventId, Millisecond)>,
    /// Whether the run still stands in for the window.
    on: bool,
}

impl Default for FreshRun {
    fn default() -> Self {
        FreshRun {
            last: None,
            on: true,
        }
    }
}

impl FreshRun {
    /// Whether `events[i]` is vouched new to `ledger`'s window; if it
    /// ends the run, the window is written first.
    #[inline]
    pub(super) fn vouch(
        &mut self,
        events: &[Event],
        i: usize,
        ledger: &mut Ledger,
        window: &DedupeWindow,
    ) -> bool {
        if !self.on {
            return false;
        }
        let Some(event) = events.get(i) else {
            return false;
        };
        let now = millisecond(event.at).map(|ms| (event.id, ms));
        let Some(now) = now.filter(|now| self.last.is_none_or(|(id, ms)| now.0 > id && now.1 > ms))
        else {
            self.stop(events.get(..i).unwrap_or_default(), ledger, window);
            return false;
        };
        self.last = Some(now);
        true
    }

    /// Ends the run after `taken`, the events the ledger took so far.
    #[cold]
    pub(super) fn stop(&mut self, taken: &[Event], ledger: &mut Ledger, window: &DedupeWindow) {
        if self.on {
            self.on = false;
            // The member's window started empty; whatever a step wrote
            // into it since is written again, in order.
            ledger.seen.clear();
            for event in taken {
                ledger.seen.remember(event.id, event.at, window);
            }
        }
    }
}

/// An instant to the millisecond, the window's unit: its UTC date and
/// millisecond of the day, which order as its Unix milliseconds do.
type Millisecond = (NaiveDate, u32);

/// `at` as a [`Millisecond`], read off its date and time of day: the Unix
/// milliseconds would be worked out from the date first, for a comparison
/// per event. `None` inside a leap second, whose milliseconds run past its
/// day's and would not order as the Unix ones.
#[inline]
fn millisecond(at: DateTime<Utc>) -> Option<Millisecond> {
    let naive = at.naive_utc();
    let time = naive.time();
    let nanos = time.nanosecond();
    (nanos < 1_000_000_000).then(|| {
        (
            naive.date(),
            time.num_seconds_from_midnight() * 1_000 + nanos / 1_000_000,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveTime, TimeDelta, TimeZone};

    #[test]
    fn milliseconds_order_as_unix_milliseconds() {
        let start = Utc.with_ymd_and_hms(2026, 12, 31, 23, 59, 58).unwrap();
        // Steps below, at and above a millisecond, across midnight and a
        // new year, and far from the epoch on both sides.
        let steps = [0, 1, 999_999, 1_000_000, 1_000_001, 777_777_777];
        let starts = [
            start,
            Utc.with_ymd_and_hms(1969, 12, 31, 23, 59, 59).unwrap(),
            Utc.with_ymd_and_hms(-3000, 2, 28, 23, 59, 59).unwrap(),
        ];
        for from in starts {
            let mut instants = vec![from];
            for (k, nanos) in steps.iter().cycle().take(40).enumerate() {
                let last = instants[k];
                instants.push(last + TimeDelta::nanoseconds(*nanos));
            }
            for a in &instants {
                for b in &instants {
                    let (ka, kb) = (millisecond(*a), millisecond(*b));
                    let (ma, mb) = (a.timestamp_millis(), b.timestamp_millis());
                    assert_eq!(ka.cmp(&kb), ma.cmp(&mb), "{a} against {b}");
                }
            }
        }
        let leap = NaiveTime::from_hms_milli_opt(23, 59, 59, 1_500)
            .map(|t| start.date_naive().and_time(t).and_utc());
        assert!(leap.is_some_and(|at| millisecond(at).is_none()), "{leap:?}");
    }
}
