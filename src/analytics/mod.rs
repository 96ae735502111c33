//! Lifecycle analytics over many users' event streams: conversion funnels,
//! cohort retention tables and stickiness.
//!
//! Every analysis works in two stages, so that it can run on one machine or
//! on many:
//!
//! 1. A **builder** ([`FunnelBuilder`], [`RetentionBuilder`],
//!    [`StickinessBuilder`]) takes events one at a time with `add`, in any
//!    order, and keeps a small buffer per user. The answer never depends on
//!    the order events arrive in: each user's measure is computed from sets
//!    and minimums of instants, which is also why a redelivered event (the
//!    same fact twice) changes nothing.
//! 2. `finish` turns the buffers into a **tally** ([`FunnelTally`],
//!    [`RetentionTally`], [`StickinessTally`]): counts and durations only, no
//!    user ids. Tallies have an associative and commutative `merge`, and
//!    `report` reads the numbers out.
//!
//! # Sharding
//!
//! A host that shards users across machines runs one builder per shard,
//! finishes each, and merges the tallies in any grouping; the result equals
//! one pass over all events **provided every event of a given user is fed to
//! the same shard** (partition by [`UserId`](crate::UserId)). Tallies count
//! users, and a user split across two shards would be counted twice.
//!
//! When a user's events *are* split (a log partitioned by time, say), merge
//! the builders instead (`FunnelBuilder::merge` and friends): builders keep
//! each user's buffer, so their merge unions a user's events correctly, at
//! the cost of moving those buffers around.
//!
//! Merging values built from different specifications (another funnel,
//! another `as_of`) is refused with [`AnalyticsError::SpecMismatch`] rather
//! than producing a meaningless sum. The time zone is not recorded in a
//! tally: every shard must be given the same zone.
//!
//! # Arithmetic
//!
//! Counts are `u64` and add with **saturating** arithmetic (a count cannot
//! realistically reach 2⁶⁴; if one did, it would stick at the maximum rather
//! than wrap). Instants are shifted with chrono's checked operations; an
//! instant beyond chrono's range is treated as unbounded, never as a panic.
//! Rates are reported as exact [`Ratio`]s of two counts, so reports
//! round-trip through JSON bit for bit; [`Ratio::value`] gives the `f64`.

mod error;
pub mod funnel;
pub mod retention;
pub mod stickiness;
// Test-only fixtures shared by the analytics unit tests, kept under `tests/`.
#[cfg(test)]
#[path = "tests/support.rs"]
mod test_support;

pub use error::AnalyticsError;
pub use funnel::{Funnel, FunnelBuilder, FunnelReport, FunnelSpec, FunnelStepReport, FunnelTally};
pub use retention::{
    CohortBy, CohortRow, IntervalClock, IntervalRow, IntervalUnit, Retention, RetentionBuilder,
    RetentionReport, RetentionSpec, RetentionTally,
};
pub use stickiness::{
    Stickiness, StickinessBuilder, StickinessReport, StickinessSpec, StickinessTally,
};

use crate::event::KindPattern;
use serde::{Deserialize, Serialize};

/// An exact rate: `numerator / denominator`, both counts (of users, or of
/// user-days).
///
/// Kept as two integers so that reports compare exactly and survive a JSON
/// round trip unchanged; call [`Ratio::value`] for a number to display.
///
/// ```
/// use growthkit::analytics::Ratio;
/// assert_eq!(Ratio::new(1, 4).value(), Some(0.25));
/// assert_eq!(Ratio::new(0, 0).value(), None);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default, Serialize, Deserialize)]
pub struct Ratio {
    /// The part.
    pub numerator: u64,
    /// The whole.
    pub denominator: u64,
}

impl Ratio {
    /// `numerator / denominator`.
    pub const fn new(numerator: u64, denominator: u64) -> Ratio {
        Ratio {
            numerator,
            denominator,
        }
    }

    /// The ratio as a number: for a rate, a fraction between 0 and 1. An
    /// average such as [`StickinessReport::average_daily_active`] (user-days
    /// over days) exceeds 1 whenever more than one user is active a day, as
    /// can a ratio built by hand. `None` when the denominator is zero,
    /// because a rate over nobody is unknown, not zero.
    pub fn value(self) -> Option<f64> {
        // u64 → f64 rounds above 2⁵³, harmless for a displayed rate.
        (self.denominator != 0).then(|| self.numerator as f64 / self.denominator as f64)
    }

    /// The rate in percent (`0.25` is `25.0`); `None` when the denominator is zero.
    ///
    /// ```
    /// use growthkit::analytics::Ratio;
    /// assert_eq!(Ratio::new(1, 8).percent(), Some(12.5));
    /// ```
    pub fn percent(self) -> Option<f64> {
        self.value().map(|v| v * 100.0)
    }
}

/// Checks each pattern of the list in `field` ([`KindPattern::check`]), so
/// that a validated specification reads back from its own JSON.
pub(crate) fn check_patterns(
    field: &'static str,
    patterns: &[KindPattern],
) -> Result<(), AnalyticsError> {
    patterns.iter().enumerate().try_for_each(|(i, p)| {
        p.check().map_err(|error| AnalyticsError::InvalidPattern {
            field,
            index: Some(i),
            error,
        })
    })
}

/// Adds `add` to `total`, sticking at `u64::MAX` (see the module docs).
pub(crate) fn bump(total: &mut u64, add: u64) {
    *total = total.saturating_add(add);
}
