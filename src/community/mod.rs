//! Community operations: the health of each community, the heat of its
//! content and topics, and the graph of who interacts with whom.
//!
//! - [`health`]: a [`HealthReport`] per community over a window, built by a
//!   mergeable [`HealthBuilder`].
//! - [`heat`]: decayed [`ContentHeat`] per content item and topic, trending
//!   detection and the topics to amplify.
//! - [`graph`]: the directed, weighted [`InteractionGraph`] with propagation
//!   probabilities for influence models.

pub mod graph;
pub mod health;
pub mod heat;

pub use graph::{EdgeWeight, GraphBuilder, InteractionGraph, Propagation};
pub use health::{
    CommunityHealth, Health, HealthBuilder, HealthError, HealthReport, HealthShard, HealthSpec,
};
pub use heat::{
    Amplify, ContentHeat, HeatError, HeatModel, HeatModelSpec, Reason, Signal, SignalWeights,
    Trend, Trending,
};
