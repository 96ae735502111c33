//! # growthkit
//!
//! Sans-I/O building blocks for the people who run online products: user
//! operations (each user's lifecycle from sign-up to loyal buyer, and back
//! from dormant) and community operations.
//!
//! The crate does no I/O: time comes in as a `now: DateTime<Utc>` argument,
//! randomness as `&mut impl rand::Rng`, and every stateful type is plain serde
//! data with a `version` for compare-and-swap, so a host keeps state in its
//! own database (see [`store`]).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod dedupe;
pub mod event;
pub mod id;
pub mod lifecycle;
pub mod store;
pub mod time;

pub use event::{
    AttrValue, Attributes, Currency, Event, EventKind, KindPattern, KindTag, Label, Money,
};
pub use id::{CommunityId, ContentId, CouponId, EventId, TopicId, UserId};
pub use time::{LocalDay, UtcOffset};
