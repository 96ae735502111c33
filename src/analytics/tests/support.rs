//! Fixtures shared by the analytics unit tests: instants in Beijing time
//! (+08:00, where local midnight is 16:00 UTC) and bare visits.

use crate::event::{Event, EventKind};
use crate::id::{EventId, UserId};
use chrono::{DateTime, FixedOffset, TimeZone, Utc};

pub(crate) fn beijing() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("+08:00 is a valid offset")
}

/// An instant of March 2026 given in Beijing local time.
pub(crate) fn bj(d: u32, h: u32, m: u32, s: u32) -> DateTime<Utc> {
    beijing()
        .with_ymd_and_hms(2026, 3, d, h, m, s)
        .single()
        .expect("a valid March 2026 local time")
        .with_timezone(&Utc)
}

/// A visit (activity with no other meaning); the id is irrelevant to analytics.
pub(crate) fn visit(user: u64, at: DateTime<Utc>) -> Event {
    Event::new(EventId(0), UserId(user), at, EventKind::Visited)
}
