//! Shared helpers for the points unit tests.

use super::{Ledger, Portion, Program, ProgramSpec, Redemption};
use crate::event::{Event, EventKind, Money};
use crate::id::{EventId, UserId};
use chrono::{DateTime, TimeDelta, TimeZone, Utc};

/// 2026-03-01 00:00 UTC (08:00 in +08:00) plus `minutes`.
pub(crate) fn t(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0)
        .single()
        .unwrap_or_default()
        + TimeDelta::minutes(minutes)
}

/// A refund of `numerator / denominator` of an event.
pub(crate) fn share(numerator: u64, denominator: u64) -> Portion {
    Portion::Share {
        numerator,
        denominator,
    }
}

/// Whole days after [`t`]`(0)`.
pub(crate) fn day(days: i64) -> DateTime<Utc> {
    t(days * 1440)
}

/// A validated program from JSON, in +08:00 unless it says otherwise.
pub(crate) fn program(json: &str) -> Program {
    let spec: ProgramSpec = serde_json::from_str(json).unwrap_or_else(|e| unreachable!("{e}"));
    spec.validate().unwrap_or_else(|e| unreachable!("{e}"))
}

/// `visited` earns `visit` points, `purchase` one point per ¥1; neither
/// expires unless `extra` adds rule fields (JSON object members for both).
pub(crate) fn shop(visit: u64, extra: &str, policy: &str) -> Program {
    program(&format!(
        r#"{{ "utc_offset": "+08:00", "ledger": {policy},
             "rules": [
               {{ "name": "visit", "on": "visited", "reward": {{ "type": "fixed", "points": {visit} }} }},
               {{ "name": "buy", "on": "purchase", {extra}
                  "reward": {{ "type": "per_amount", "points": 1, "per_minor": 100, "rounding": "down" }} }}
             ] }}"#
    ))
}

pub(crate) fn visit(id: u64, at: DateTime<Utc>) -> Event {
    Event::new(EventId(id), UserId(1), at, EventKind::Visited)
}

/// A purchase of `yuan` whole yuan.
pub(crate) fn purchase(id: u64, yuan: i64, at: DateTime<Utc>) -> Event {
    let cny = "CNY".parse().unwrap_or_else(|_| unreachable!());
    Event::new(
        EventId(id),
        UserId(1),
        at,
        EventKind::Purchase {
            amount: Money::new(yuan * 100, cny),
        },
    )
}

/// Applies events, panicking (in tests only) on error.
pub(crate) fn earn(p: &Program, l: &mut Ledger, events: &[Event]) {
    for e in events {
        p.apply(l, e).unwrap_or_else(|e| unreachable!("{e}"));
    }
}

/// The ledger as JSON, to show a failed step left it byte-identical.
pub(crate) fn json(l: &Ledger) -> String {
    serde_json::to_string(l).unwrap_or_else(|e| unreachable!("{e}"))
}

/// Asserts the invariants, including the split at `now`.
pub(crate) fn assert_conserved(l: &Ledger, now: DateTime<Utc>) {
    assert_eq!(l.check(), Ok(()));
    let s = l.totals(now);
    assert_eq!(
        s.earned,
        s.spendable + s.pending + s.due + s.held + s.redeemed + s.expired + s.reversed,
        "{s:?}"
    );
}

/// Asserts that the statement's entries, signed, add up to the balance
/// net of debt at `now` (for a ledger whose statement keeps every entry).
#[track_caller]
pub(crate) fn assert_statement_sums(l: &Ledger, now: DateTime<Utc>) {
    let signed: i128 = l.statement().map(|e| e.signed_points()).sum();
    assert_eq!(signed, l.balance(now));
}

/// Asserts that `again`, the answer to a retried key, is `first` itself,
/// marked as repeated.
#[track_caller]
pub(crate) fn assert_retry_of(again: &Redemption, first: &Redemption) {
    assert!(again.repeated);
    let unmarked = Redemption {
        repeated: false,
        ..again.clone()
    };
    assert_eq!(&unmarked, first);
}
