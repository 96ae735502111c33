//! The interaction graph: who replies to, reacts to and shares whom.
//!
//! A directed, weighted graph over users, built from events by a
//! [`GraphBuilder`]. An edge `a → b` means `a` interacted with `b`'s content:
//! a reply or reaction to `b` (the event's `to`, or else the author of the
//! content), or a share of content `b` posted. Authors are known from
//! [`EventKind::Post`] events the builder saw, whatever order they arrive in
//! and whatever community they were posted in (a content posted more than
//! once is its earliest post's, the lower user id at one instant); an
//! interaction whose author stays unknown makes no edge, and neither does
//! an interaction with oneself. Views of a content by `a` are counted on the
//! edge `a → author` as exposures, when that edge exists.
//!
//! Functions are free functions over the small [`InteractionGraph`] type, in
//! the style of `petgraph`: [`nodes`], [`edges`], [`out_edges`],
//! [`in_degree`], [`edge_weight`], [`probability`], [`out_probabilities`],
//! [`reciprocity`], [`density`].
//!
//! # Propagation for influence models
//!
//! Influence flows *against* interaction: when `a` shares `b`'s post, `b`
//! reached `a`. [`reversed`] turns the interaction graph into an influence
//! graph (`b → a`), the input of an independent-cascade model.
//! [`probability`] gives each edge a propagation probability in `[0, 1]`:
//!
//! - [`Propagation::WeightedCascade`]: `1 / in-degree(target)`, counting
//!   distinct in-neighbours (Kempe, Kleinberg and Tardos), so the
//!   probabilities into each node sum to 1;
//! - [`Propagation::ShareThrough`]: the observed rate `shares / max(views,
//!   shares)` on the edge, 0 with neither.
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use growthkit::community::graph::{self, GraphBuilder, Propagation};
//! use growthkit::{ContentId, Event, EventId, EventKind, UserId};
//!
//! let at = Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap();
//! let (ann, bo, cy) = (UserId(1), UserId(2), UserId(3));
//! let mut builder = GraphBuilder::new();
//! for (i, (user, kind)) in [
//!     (ann, EventKind::Post { community: None, content: ContentId(7) }),
//!     (bo, EventKind::Share { community: None, content: ContentId(7) }),
//!     (cy, EventKind::Reply { community: None, content: ContentId(7), to: None }),
//!     (ann, EventKind::Reaction { community: None, content: ContentId(8), to: Some(bo) }),
//! ]
//! .into_iter()
//! .enumerate()
//! {
//!     builder.add(&Event::new(EventId(i as u64), user, at, kind));
//! }
//! let g = builder.finish();
//! assert_eq!(graph::in_degree(&g, ann), 2);
//! assert_eq!(graph::edge_weight(&g, bo, ann).map(|w| w.shares), Some(1));
//! let influence = graph::reversed(&g);
//! // Ann reaches Bo and Cy; Ann is the only one who reaches Bo.
//! assert_eq!(graph::probability(&influence, ann, bo, Propagation::WeightedCascade), Some(1.0));
//! assert_eq!(graph::reciprocity(&g).numerator, 2);
//! ```

use crate::analytics::Ratio;
use crate::event::{Event, EventKind};
use crate::id::{CommunityId, ContentId, UserId};
use crate::intern::BuildIdHasher;
use crate::time::unix_millis;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// How many interactions of each kind an edge carries.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default, Serialize, Deserialize)]
pub struct EdgeWeight {
    /// Replies.
    pub replies: u64,
    /// Reactions.
    pub reactions: u64,
    /// Shares.
    pub shares: u64,
    /// Views: exposures of the source to the target's content.
    pub views: u64,
}

impl EdgeWeight {
    /// Replies, reactions and shares together (views are not interactions).
    pub fn interactions(&self) -> u64 {
        self.replies
            .saturating_add(self.reactions)
            .saturating_add(self.shares)
    }

    fn add(&mut self, other: EdgeWeight) {
        self.replies = self.replies.saturating_add(other.replies);
        self.reactions = self.reactions.saturating_add(other.reactions);
        self.shares = self.shares.saturating_add(other.shares);
        self.views = self.views.saturating_add(other.views);
    }

    fn of(signal: Signal) -> EdgeWeight {
        let mut w = EdgeWeight::default();
        match signal {
            Signal::Reply => w.replies = 1,
            Signal::Reaction => w.reactions = 1,
            Signal::Share => w.shares = 1,
            Signal::View => w.views = 1,
        }
        w
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Signal {
    Reply,
    Reaction,
    Share,
    View,
}

/// How an edge's propagation probability is estimated.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Propagation {
    /// `1 / in-degree(target)`.
    WeightedCascade,
    /// `shares / max(views, shares)` on the edge.
    ShareThrough,
}

/// A directed, weighted graph over users, in compressed sparse rows: nodes
/// sorted by id, each node's out-edges sorted by target.
///
/// Serializes as its list of edges.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
#[serde(from = "GraphEdges", into = "GraphEdges")]
pub struct InteractionGraph {
    nodes: Vec<UserId>,
    /// `starts[i]..starts[i + 1]` are node `i`'s out-edges.
    starts: Vec<usize>,
    targets: Vec<u32>,
    weights: Vec<EdgeWeight>,
    in_degrees: Vec<u32>,
}

/// The serialized shape of an [`InteractionGraph`]: its edges.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
struct GraphEdges {
    edges: Vec<(UserId, UserId, EdgeWeight)>,
}

impl From<GraphEdges> for InteractionGraph {
    fn from(raw: GraphEdges) -> Self {
        InteractionGraph::from_edges(raw.edges)
    }
}

impl From<InteractionGraph> for GraphEdges {
    fn from(g: InteractionGraph) -> Self {
        GraphEdges {
            edges: edges(&g).collect(),
        }
    }
}

impl InteractionGraph {
    /// A graph of these edges; self-loops are dropped and repeated pairs add
    /// up.
    pub fn from_edges(list: impl IntoIterator<Item = (UserId, UserId, EdgeWeight)>) -> Self {
        let mut list: Vec<(UserId, UserId, EdgeWeight)> =
            list.into_iter().filter(|(a, b, _)| a != b).collect();
        list.sort_unstable_by_key(|&(a, b, _)| (a, b));
        let mut merged: Vec<(UserId, UserId, EdgeWeight)> = Vec::with_capacity(list.len());
        for (a, b, w) in list {
            match merged.last_mut() {
                Some(last) if (last.0, last.1) == (a, b) => last.2.add(w),
                _ => merged.push((a, b, w)),
            }
        }
        let mut nodes: Vec<UserId> = merged.iter().flat_map(|&(a, b, _)| [a, b]).collect();
        nodes.sort_unstable();
        nodes.dedup();
        let slot = |u: UserId| {
            nodes
                .binary_search(&u)
                .ok()
                .and_then(|i| u32::try_from(i).ok())
                .unwrap_or(u32::MAX)
        };
        let mut starts = vec![0_usize; nodes.len() + 1];
        let mut in_degrees = vec![0_u32; nodes.len()];
        let mut targets = Vec::with_capacity(merged.len());
        let mut weights = Vec::with_capacity(merged.len());
        for &(a, b, w) in &merged {
            if let Some(s) = starts.get_mut(slot(a) as usize + 1) {
                *s += 1;
            }
            let t = slot(b);
            if let Some(d) = in_degrees.get_mut(t as usize) {
                *d = d.saturating_add(1);
            }
            targets.push(t);
            weights.push(w);
        }
        for i in 1..starts.len() {
            let before = starts.get(i - 1).copied().unwrap_or(0);
            if let Some(s) = starts.get_mut(i) {
                *s += before;
            }
        }
        InteractionGraph {
            nodes,
            starts,
            targets,
            weights,
            in_degrees,
        }
    }

    fn index(&self, user: UserId) -> Option<usize> {
        self.nodes.binary_search(&user).ok()
    }

    fn row(&self, i: usize) -> std::ops::Range<usize> {
        let end = |k: Option<usize>| k.and_then(|k| self.starts.get(k)).copied().unwrap_or(0);
        end(Some(i))..end(i.checked_add(1))
    }
}

/// Every user at either end of an edge, by id.
pub fn nodes(g: &InteractionGraph) -> &[UserId] {
    &g.nodes
}

/// How many edges.
pub fn edge_count(g: &InteractionGraph) -> usize {
    g.targets.len()
}

/// Every edge `(from, to, weight)`, by `from` then `to`.
pub fn edges(g: &InteractionGraph) -> impl Iterator<Item = (UserId, UserId, EdgeWeight)> + '_ {
    g.nodes
        .iter()
        .enumerate()
        .flat_map(move |(i, &from)| out_edges_at(g, i).map(move |(to, w)| (from, to, w)))
}

fn out_edges_at(g: &InteractionGraph, i: usize) -> impl Iterator<Item = (UserId, EdgeWeight)> + '_ {
    let row = g.row(i);
    let targets = g.targets.get(row.clone()).unwrap_or_default();
    let weights = g.weights.get(row).unwrap_or_default();
    targets
        .iter()
        .zip(weights)
        .filter_map(|(&t, &w)| Some((*g.nodes.get(t as usize)?, w)))
}

/// The out-edges of `user` `(target, weight)`, by target; none if `user` is
/// not in the graph.
pub fn out_edges(
    g: &InteractionGraph,
    user: UserId,
) -> impl Iterator<Item = (UserId, EdgeWeight)> + '_ {
    // An absent user gets an empty row.
    out_edges_at(g, g.index(user).unwrap_or(usize::MAX))
}

/// How many distinct users have an edge into `user`.
pub fn in_degree(g: &InteractionGraph, user: UserId) -> u32 {
    g.index(user)
        .and_then(|i| g.in_degrees.get(i))
        .copied()
        .unwrap_or(0)
}

/// How many distinct users `user` has an edge to.
pub fn out_degree(g: &InteractionGraph, user: UserId) -> usize {
    g.index(user).map_or(0, |i| g.row(i).len())
}

/// The weight of the edge `from → to`, if there is one.
pub fn edge_weight(g: &InteractionGraph, from: UserId, to: UserId) -> Option<EdgeWeight> {
    let (i, t) = (g.index(from)?, g.index(to)?);
    let row = g.row(i);
    let targets = g.targets.get(row.clone())?;
    let k = targets.binary_search(&u32::try_from(t).ok()?).ok()?;
    g.weights.get(row.start + k).copied()
}

/// The propagation probability of the edge `from → to`, in `[0, 1]`;
/// `None` if there is no such edge.
pub fn probability(
    g: &InteractionGraph,
    from: UserId,
    to: UserId,
    model: Propagation,
) -> Option<f64> {
    let w = edge_weight(g, from, to)?;
    Some(edge_probability(g, to, w, model))
}

/// The out-edges of `user` with their propagation probabilities, by
/// target: what an independent-cascade step reads.
pub fn out_probabilities(
    g: &InteractionGraph,
    user: UserId,
    model: Propagation,
) -> impl Iterator<Item = (UserId, f64)> + '_ {
    out_edges(g, user).map(move |(to, w)| (to, edge_probability(g, to, w, model)))
}

fn edge_probability(g: &InteractionGraph, to: UserId, w: EdgeWeight, model: Propagation) -> f64 {
    match model {
        Propagation::WeightedCascade => 1.0 / f64::from(in_degree(g, to).max(1)),
        Propagation::ShareThrough => {
            let exposures = w.views.max(w.shares);
            if exposures == 0 {
                0.0
            } else {
                w.shares as f64 / exposures as f64
            }
        }
    }
}

/// The same edges pointing the other way: the influence graph of an
/// interaction graph.
pub fn reversed(g: &InteractionGraph) -> InteractionGraph {
    InteractionGraph::from_edges(edges(g).map(|(a, b, w)| (b, a, w)).collect::<Vec<_>>())
}

/// The share of edges whose reverse is also an edge.
pub fn reciprocity(g: &InteractionGraph) -> Ratio {
    let pairs = packed_pairs(g);
    Ratio::new(count_reciprocated(&pairs), pairs.len() as u64)
}

/// Edges over the `n (n − 1)` possible between the graph's `n` nodes.
pub fn density(g: &InteractionGraph) -> Ratio {
    let n = g.nodes.len() as u64;
    Ratio::new(edge_count(g) as u64, n.saturating_mul(n.saturating_sub(1)))
}

fn packed_pairs(g: &InteractionGraph) -> Vec<u64> {
    (0..g.nodes.len())
        .flat_map(|i| {
            let row = g.row(i);
            g.targets
                .get(row)
                .unwrap_or_default()
                .iter()
                .map(move |&t| ((i as u64) << 32) | u64::from(t))
        })
        .collect()
}

/// Of sorted, distinct edges packed as `from << 32 | to`, how many have
/// their reverse among them.
pub(crate) fn count_reciprocated(sorted_pairs: &[u64]) -> u64 {
    sorted_pairs
        .iter()
        .filter(|&&pair| {
            let reverse = pair.rotate_right(32);
            sorted_pairs.binary_search(&reverse).is_ok()
        })
        .count() as u64
}

/// Collects interactions into an [`InteractionGraph`], in any order.
///
/// [`GraphBuilder::merge`] takes another builder's interactions, so events
/// may be split across shards in any way.
#[derive(Clone, Debug, Default)]
pub struct GraphBuilder {
    community: Option<CommunityId>,
    authors: HashMap<ContentId, (i64, UserId), BuildIdHasher>,
    direct: Vec<(UserId, UserId, EdgeWeight)>,
    pending: Vec<(UserId, ContentId, Signal)>,
}

impl GraphBuilder {
    /// A builder over every event.
    pub fn new() -> GraphBuilder {
        GraphBuilder::default()
    }

    /// A builder over the interactions in `community` only (views, which
    /// carry no community, still count as exposures on its edges).
    pub fn in_community(community: CommunityId) -> GraphBuilder {
        GraphBuilder {
            community: Some(community),
            ..GraphBuilder::default()
        }
    }

    /// Takes one event; events that are not posts, replies, reactions,
    /// shares or views are ignored.
    ///
    /// Not idempotent by itself: an event fed twice counts twice on its
    /// edge, so deduplicate redelivered events upstream
    /// ([`RecentIds`](crate::dedupe::RecentIds)), as for content heat.
    pub fn add(&mut self, event: &Event) {
        let elsewhere = self
            .community
            .is_some_and(|c| event.kind.community() != Some(c));
        let user = event.user;
        match &event.kind {
            EventKind::Post { content, .. } => {
                let post = (unix_millis(event.at), user);
                let earliest = self.authors.entry(*content).or_insert(post);
                *earliest = (*earliest).min(post);
            }
            _ if elsewhere && !matches!(event.kind, EventKind::ContentViewed { .. }) => {}
            EventKind::Reply { content, to, .. } => {
                self.interaction(user, *content, *to, Signal::Reply)
            }
            EventKind::Reaction { content, to, .. } => {
                self.interaction(user, *content, *to, Signal::Reaction)
            }
            EventKind::Share { content, .. } => {
                self.interaction(user, *content, None, Signal::Share)
            }
            EventKind::ContentViewed { content } => {
                self.interaction(user, *content, None, Signal::View)
            }
            _ => {}
        }
    }

    /// Takes every event of an iterator.
    pub fn extend<'a>(&mut self, events: impl IntoIterator<Item = &'a Event>) {
        for event in events {
            self.add(event);
        }
    }

    fn interaction(
        &mut self,
        from: UserId,
        content: ContentId,
        to: Option<UserId>,
        signal: Signal,
    ) {
        match to {
            Some(to) => self.direct.push((from, to, EdgeWeight::of(signal))),
            None => self.pending.push((from, content, signal)),
        }
    }

    /// Adds everything `other` has seen. Builders for different communities
    /// merge into one over the union of what they kept.
    pub fn merge(&mut self, other: GraphBuilder) {
        for (content, post) in other.authors {
            let earliest = self.authors.entry(content).or_insert(post);
            *earliest = (*earliest).min(post);
        }
        self.direct.extend(other.direct);
        self.pending.extend(other.pending);
    }

    /// Resolves authors and builds the graph.
    pub fn finish(self) -> InteractionGraph {
        let mut list = self.direct;
        let mut views = Vec::new();
        for (from, content, signal) in self.pending {
            let Some(&(_, author)) = self.authors.get(&content) else {
                continue;
            };
            let item = (from, author, EdgeWeight::of(signal));
            if signal == Signal::View {
                views.push(item);
            } else {
                list.push(item);
            }
        }
        let interacted = InteractionGraph::from_edges(list);
        // Views only add exposures to edges that exist.
        let views = views
            .into_iter()
            .filter(|&(a, b, _)| edge_weight(&interacted, a, b).is_some());
        InteractionGraph::from_edges(edges(&interacted).chain(views).collect::<Vec<_>>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(replies: u64) -> EdgeWeight {
        EdgeWeight {
            replies,
            ..EdgeWeight::default()
        }
    }

    #[test]
    fn a_two_cycle_is_fully_reciprocal() {
        let g = InteractionGraph::from_edges([
            (UserId(1), UserId(2), w(1)),
            (UserId(2), UserId(1), w(3)),
        ]);
        assert_eq!(reciprocity(&g), Ratio::new(2, 2));
        assert_eq!(density(&g), Ratio::new(2, 2));
        let one_way = InteractionGraph::from_edges([(UserId(1), UserId(2), w(1))]);
        assert_eq!(reciprocity(&one_way), Ratio::new(0, 1));
    }

    #[test]
    fn empty_and_self_loops() {
        let g = InteractionGraph::from_edges([(UserId(1), UserId(1), w(5))]);
        assert!(nodes(&g).is_empty());
        assert_eq!(reciprocity(&g).value(), None);
        assert_eq!(density(&g).value(), None);
        assert_eq!(in_degree(&g, UserId(1)), 0);
        assert_eq!(out_edges(&g, UserId(9)).count(), 0);
        assert_eq!(
            probability(&g, UserId(1), UserId(1), Propagation::ShareThrough),
            None
        );
    }

    #[test]
    fn repeated_pairs_add_up_and_cascade_sums_to_one() {
        let g = InteractionGraph::from_edges([
            (UserId(1), UserId(3), w(1)),
            (UserId(2), UserId(3), w(1)),
            (UserId(1), UserId(3), w(2)),
        ]);
        assert_eq!(edge_weight(&g, UserId(1), UserId(3)), Some(w(3)));
        assert_eq!(in_degree(&g, UserId(3)), 2);
        assert_eq!(out_degree(&g, UserId(1)), 1);
        let p = |a| probability(&g, UserId(a), UserId(3), Propagation::WeightedCascade).unwrap();
        assert_eq!(p(1) + p(2), 1.0);
        let json = serde_json::to_string(&g).unwrap();
        assert_eq!(serde_json::from_str::<InteractionGraph>(&json).unwrap(), g);
    }

    #[test]
    fn share_through_counts_views_on_existing_edges() {
        use chrono::{TimeZone, Utc};
        let at = Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap();
        let mut b = GraphBuilder::new();
        let ev = |i, user, kind| Event::new(crate::EventId(i), UserId(user), at, kind);
        // The share and views arrive before the post that names the author.
        b.add(&ev(
            1,
            2,
            EventKind::Share {
                community: None,
                content: ContentId(5),
            },
        ));
        for i in 2..6 {
            b.add(&ev(
                i,
                2,
                EventKind::ContentViewed {
                    content: ContentId(5),
                },
            ));
        }
        b.add(&ev(
            6,
            3,
            EventKind::ContentViewed {
                content: ContentId(5),
            },
        ));
        b.add(&ev(
            7,
            1,
            EventKind::Post {
                community: None,
                content: ContentId(5),
            },
        ));
        let g = b.finish();
        let p = probability(&g, UserId(2), UserId(1), Propagation::ShareThrough);
        assert_eq!(p, Some(0.25));
        // Cy only viewed: no interaction, no edge.
        assert_eq!(edge_weight(&g, UserId(3), UserId(1)), None);
    }

    #[test]
    fn a_community_builder_keeps_only_its_interactions() {
        use chrono::{TimeZone, Utc};
        let at = Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap();
        let mut b = GraphBuilder::in_community(CommunityId(1));
        let reply = |c| EventKind::Reply {
            community: Some(CommunityId(c)),
            content: ContentId(1),
            to: Some(UserId(9)),
        };
        b.add(&Event::new(crate::EventId(1), UserId(1), at, reply(1)));
        b.add(&Event::new(crate::EventId(2), UserId(2), at, reply(2)));
        let g = b.finish();
        assert_eq!(in_degree(&g, UserId(9)), 1);
    }
}
