//! # growthkit
//!
//! Sans-I/O building blocks for the people who run online products: user
//! operations (each user's lifecycle from sign-up to loyal buyer, and back
//! from dormant) and community operations.
//!
//! The crate does no I/O: time comes in as a `now: DateTime<Utc>` argument,
//! randomness as `&mut impl rand::Rng`, and every per-user or per-community
//! state (a lifecycle, a ledger or account, a community, a member's score or
//! level) is plain serde data with a `version` for compare-and-swap, so a
//! host keeps state in its own database (see [`store`]); analytics
//! accumulators are plain serde data that merge.
//!
//! # A tour
//!
//! - [`event`]: the shared vocabulary. An [`Event`] is one fact about one
//!   user; its [`EventId`] makes every per-user step idempotent ([`dedupe`]);
//!   content heat and the health builder count what they are fed.
//! - [`lifecycle`]: the default user-operations policy
//!   ([`lifecycle::PolicySpec`] → [`lifecycle::LifecyclePolicy`]) stepping a
//!   per-user [`lifecycle::Lifecycle`], a batch [`lifecycle::replay()`] over a
//!   prepared [`batch::EventLog`], and a generic [`lifecycle::machine`] for
//!   stages a host defines itself.
//! - [`points`]: points programs as data (earning rules with conditions, caps
//!   and multipliers), a per-user ledger of expiring lots (pending points,
//!   holds, redemption, reversal and clawback, a statement), tiers, badges and
//!   check-in streaks, and a simulator that runs a draft program over past
//!   events before launch.
//! - [`community`]: membership and roles, engagement scores with decay, caps
//!   and pair damping, member levels (Discourse trust levels, Orbit), the
//!   health of each community, content heat and the topics to amplify, and
//!   the interaction graph.
//! - [`analytics`]: funnels, cohort retention and stickiness as mergeable
//!   accumulators.
//! - [`time`]: local calendar days ([`LocalDay`]) in any `chrono` time zone.
//! - [`store`]: the versioned storage port and [`store::MemoryStore`].
//!
//! ```
//! use chrono::{TimeDelta, TimeZone, Utc};
//! use growthkit::lifecycle::{Lifecycle, LifecyclePolicy, Stage};
//! use growthkit::store::{update, MemoryStore, VersionedStore};
//! use growthkit::{Event, EventId, EventKind, UserId};
//!
//! // The host's database, here in memory; the policy is the default one.
//! let store = MemoryStore::new();
//! let policy = LifecyclePolicy::default();
//! let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap();
//!
//! // Each event: load the user's state, step it, save it only if nobody
//! // else wrote in between.
//! let learner = UserId(42);
//! for (i, kind) in [EventKind::SignedUp, EventKind::ActionCompleted { action: "lesson".into() }]
//!     .into_iter()
//!     .enumerate()
//! {
//!     let event = Event::new(EventId(i as u64), learner, t0 + TimeDelta::hours(i as i64), kind);
//!     let applied = update(&store, &learner, 3, || Lifecycle::new(learner), |state| {
//!         policy.apply(state, &event)
//!     })?;
//!     for t in &applied.transitions {
//!         println!("{} → {} because of {:?}", t.from, t.to, t.cause);
//!     }
//! }
//! let state = store.load(&learner)?.expect("saved above");
//! assert_eq!(state.stage(), Stage::Activated);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod analytics;
pub mod batch;
mod bounded;
pub mod community;
pub mod dedupe;
pub mod event;
pub mod id;
pub mod intern;
pub mod lifecycle;
pub mod points;
mod slice_list;
pub mod store;
pub mod time;

pub use event::{
    AttrValue, Attributes, Currency, Event, EventKind, KindPattern, KindSet, KindTag, Label, Money,
};
pub use id::{CommunityId, ContentId, CouponId, EventId, TopicId, UserId};
pub use time::{LocalDay, UtcOffset};

/// The README's examples, compiled and run as doc tests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// Whether a field holds its zero, so that its serialized form leaves it
/// out (`skip_serializing_if`): for the numeric fields of every module.
fn is_zero<T: Default + PartialEq>(n: &T) -> bool {
    *n == T::default()
}
