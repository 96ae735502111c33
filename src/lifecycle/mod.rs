//! User lifecycle management.
//!
//! Two layers:
//!
//! - the **default user-operations policy**: acquisition → activation →
//!   retention → conversion → repeat purchase → loyalty, idle moves to at
//!   risk, dormant and churned, and reactivation with the path back
//!   ([`Stage`], [`PolicySpec`], [`LifecyclePolicy`], [`Lifecycle`]); and a
//!   batch path that replays a whole log over many users ([`replay()`],
//!   and [`replay_into`] to reuse the states' memory from one replay to
//!   the next);
//! - a **generic machine** for host-defined stages: states, triggers and
//!   guards declared as data, validated before use ([`machine`]).
//!
//! # The default policy's rules
//!
//! - **Acquired**: the first event applied (its time, or an earlier sign-up).
//! - **Activated**: `activation.required` key actions on local days
//!   `0..within_days` counted from the acquisition day (day 0): the day of
//!   the sign-up, or of an event before it if the host feeds any (visits
//!   before signing up). A host that means "within N days of sign-up" for
//!   users who act before signing up feeds their events from the sign-up
//!   on.
//! - **Retained**: an activated user active on `retention.active_days`
//!   distinct local days among the `window_days` ending today (a window
//!   that ended before the activation day does not count).
//! - **Converted / repeat buyer / loyal**: 1, 2 and `loyal_payments`
//!   purchases with a positive amount. Refunds are counted, never demote.
//! - **At risk / dormant / churned**: `idle.*_days` whole 24-hour periods
//!   after the last activity (or the acquisition, for a user with no
//!   activity since), each move stamped at the instant it came due.
//! - **Back**: activity at or after the move into an idle stage returns an
//!   at-risk user to the stage they left, and makes a dormant or churned one
//!   *reactivated*; regained retention (active days from the day of the
//!   return on) or a payment (at or after the return) then restores the
//!   best stage they ever held.
//! - **Late events** are counted and may move a user forward, never back,
//!   and never count as a return from an idle stage entered after them, nor
//!   as a step on the path back from it.
//! - **Repeats** of an event id change nothing (see [`crate::dedupe`]).
//!
//! ```
//! use chrono::{TimeDelta, TimeZone, Utc};
//! use growthkit::lifecycle::{Lifecycle, PolicySpec, Stage};
//! use growthkit::{Event, EventId, EventKind, Money, UserId};
//!
//! let policy = PolicySpec::default().validate().unwrap();
//! let mut learner = Lifecycle::new(UserId(7));
//! let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap();
//! let cny = "CNY".parse().unwrap();
//! let events = [
//!     EventKind::SignedUp,
//!     EventKind::ActionCompleted { action: "lesson".into() },
//!     EventKind::Purchase { amount: Money::new(19_900, cny) },
//! ];
//! for (i, kind) in events.into_iter().enumerate() {
//!     let at = t0 + TimeDelta::hours(i as i64);
//!     policy.apply(&mut learner, &Event::new(EventId(i as u64), UserId(7), at, kind)).unwrap();
//! }
//! assert_eq!(learner.stage(), Stage::Converted);
//!
//! // Ten idle days later the learner is at risk.
//! let moves = policy.tick(&mut learner, t0 + TimeDelta::days(10));
//! assert_eq!(moves[0].to, Stage::AtRisk);
//! ```

mod history;
pub mod machine;
mod moves;
mod policy;
mod replay;
mod stage;
mod user;

pub use history::History;
pub use moves::Transitions;
pub use policy::{
    Activation, Idle, LifecyclePolicy, MAX_RETENTION_WINDOW_DAYS, PolicyError, PolicySpec,
    RetentionRule,
};
pub use replay::{ReplaySummary, Replayed, StageCounts, replay, replay_into};
pub use stage::Stage;
pub use user::{Applied, Cause, Lifecycle, LifecycleError, Transition};
