//! User lifecycle management.
//!
//! Two layers:
//!
//! - the **default user-operations policy**: acquisition → activation →
//!   retention → conversion → repeat purchase → loyalty, idle moves to at
//!   risk, dormant and churned, and reactivation with the path back
//!   ([`Stage`], [`PolicySpec`], [`LifecyclePolicy`], [`Lifecycle`]); and a
//!   batch path that replays a whole log over many users ([`replay()`]);
//! - a **generic machine** for host-defined stages: states, triggers and
//!   guards declared as data, validated before use ([`machine`]).
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

pub mod machine;
mod policy;
mod replay;
mod stage;
mod user;

pub use policy::{
    Activation, Idle, LifecyclePolicy, MAX_RETENTION_WINDOW_DAYS, PolicyError, PolicySpec,
    RetentionRule,
};
pub use replay::{ReplaySummary, Replayed, StageCounts, replay};
pub use stage::Stage;
pub use user::{Applied, Cause, Lifecycle, LifecycleError, Transition};
