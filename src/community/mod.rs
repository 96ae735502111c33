//! Community operations: membership and roles, engagement scores that
//! resist gaming, member levels, the health of each community, the heat of
//! its content and topics, and the graph of who interacts with whom.
//!
//! - **Membership** ([`Community`]): owner (群主), admins, members, muted and
//!   banned users, with a checked permission table; tenure is kept.
//! - **Interactions** ([`Interaction`]): the community view of an
//!   [`Event`](crate::Event): actor, target, kind, community, content.
//! - **Engagement** ([`EngagementModelSpec`] → [`EngagementModel`],
//!   per-member [`MemberScore`]): weights given and received, half-life
//!   decay readable in O(1) at any time, per-local-day caps, pair damping,
//!   self-interactions and non-members ignored, idempotent on event ids;
//!   every credit explains itself ([`EngagementModel::score_explained`]).
//!   The batch path [`score_log`] over an [`InteractionLog`] runs the same
//!   step over millions of interactions.
//! - **Levels** ([`LevelLadderSpec`] → [`LevelLadder`], per-member
//!   [`MemberActivity`] and [`MemberLevel`]): requirements over windows and
//!   all time or a score percentile ([`ScoreSnapshot`]); promotion when met,
//!   demotion below a low-water mark after a grace period, admin locks.
//!   Discourse trust levels and Orbit levels ship as fixtures.
//! - **Health** ([`health`]): a [`HealthReport`] per community over a
//!   window, built by a mergeable [`HealthBuilder`].
//! - **Content heat** ([`heat`]): decayed [`ContentHeat`] per content item
//!   and topic, trending detection and the topics to amplify.
//! - **The interaction graph** ([`graph`]): the directed, weighted
//!   [`InteractionGraph`] with propagation probabilities for influence models.
//!
//! # Example: a study group
//!
//! ```
//! use chrono::{TimeDelta, TimeZone, Utc};
//! use growthkit::community::{
//!     Community, EngagementModel, Interaction, LevelInputs, LevelLadder, MemberActivity,
//!     MemberLevel, MemberScore, ScoreSnapshot,
//! };
//! use growthkit::{CommunityId, ContentId, Event, EventId, EventKind, UserId};
//!
//! let t0 = Utc.with_ymd_and_hms(2026, 3, 2, 1, 0, 0).unwrap(); // 09:00 in Beijing
//! let (owner, ann, bo, spammer) = (UserId(1), UserId(2), UserId(3), UserId(4));
//! let mut group = Community::new(CommunityId(8), owner, t0);
//! for u in [ann, bo, spammer] {
//!     group.join(u, t0)?;
//! }
//! group.promote(owner, ann)?;
//! group.ban(ann, spammer)?;
//!
//! // Bo posts a question, Ann replies, Bo likes the answer, the spammer
//! // (banned) replies too: their reply counts for nobody.
//! let c = Some(CommunityId(8));
//! let events = [
//!     Event::new(EventId(1), bo, t0, EventKind::Post { community: c, content: ContentId(100) }),
//!     Event::new(EventId(2), ann, t0 + TimeDelta::minutes(5),
//!         EventKind::Reply { community: c, content: ContentId(100), to: Some(bo) }),
//!     Event::new(EventId(3), bo, t0 + TimeDelta::minutes(9),
//!         EventKind::Reaction { community: c, content: ContentId(101), to: Some(ann) }),
//!     Event::new(EventId(4), spammer, t0 + TimeDelta::minutes(9),
//!         EventKind::Reply { community: c, content: ContentId(100), to: Some(bo) }),
//! ];
//! let model = EngagementModel::recommended();
//! let mut scores: Vec<MemberScore> = [ann, bo, spammer].map(MemberScore::new).into();
//! for event in &events {
//!     let Some(i) = Interaction::from_event(event) else { continue };
//!     for s in scores.iter_mut().filter(|s| s.user() == i.actor || Some(s.user()) == i.target) {
//!         let credit = model.score_explained(s, &i, &group)?;
//!         println!("{}: {:?} {} × {} → {} ({:?})",
//!             s.user(), credit.side, credit.kind, credit.damping, credit.points, credit.outcome);
//!     }
//! }
//! // An hour later, two-week half-life: a shade under the raw sums.
//! let now = t0 + TimeDelta::hours(1);
//! let [a, b, s] = [0, 1, 2].map(|i| scores[i].score(&model, now));
//! assert!(a < 4.0 && a > 3.99); // replied (given 3), was liked (received 1)
//! assert!(b < 10.0 && b > 9.97); // posted (5), was replied to (4), liked (1)
//! assert_eq!(s, 0.0);
//!
//! // Levels: Orbit presence by score percentile among the members.
//! let ladder = LevelLadder::orbit_levels();
//! let ranking = ScoreSnapshot::new([a, b, s]);
//! let mut activity = MemberActivity::new(bo);
//! for (i, day) in [0, 1].into_iter().enumerate() {
//!     let visit = Event::new(EventId(10 + i as u64), bo, t0 + TimeDelta::days(day), EventKind::Visited);
//!     ladder.record(&mut activity, &visit)?;
//! }
//! let mut level = MemberLevel::new(bo);
//! let inputs = LevelInputs {
//!     joined_at: group.member(bo).map(|m| m.joined_at),
//!     top_fraction: Some(ranking.top_fraction(b)),
//! };
//! let change = ladder.step(&mut level, &activity, inputs, t0 + TimeDelta::days(1))?;
//! assert_eq!(change.map(|c| c.to), Some(1));
//! assert_eq!(ladder.name(level.level()), Some("orbit_3"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod activity;
mod engagement;
pub mod graph;
pub mod health;
pub mod heat;
mod interaction;
mod level;
mod membership;
mod score;
mod score_log;

pub use activity::{ActivityError, Counter, DayCounts, GIVERS, MemberActivity};
pub use engagement::{
    EngagementModel, EngagementModelError, EngagementModelSpec, KindSpec, MAX_WEIGHT, PARTNERS,
};
pub use graph::{EdgeWeight, GraphBuilder, InteractionGraph, Propagation};
pub use health::{
    CommunityHealth, Health, HealthBuilder, HealthError, HealthReport, HealthShard, HealthSpec,
};
pub use heat::{
    Amplify, ContentHeat, HeatError, HeatModel, HeatModelSpec, MAX_HEAT_WEIGHT, Reason, Signal,
    SignalWeights, Trend, Trending,
};
pub use interaction::{Interaction, InteractionKind};
pub use level::{
    ChangeReason, LevelChange, LevelError, LevelInputs, LevelLadder, LevelLadderError,
    LevelLadderSpec, LevelSpec, MAX_WINDOW_DAYS, MemberLevel, Requirement, RequirementCheck,
    ScoreSnapshot,
};
pub use membership::{
    Action, Community, Everyone, Invitation, Member, MembershipError, Role, Standing,
};
pub use score::{Credit, EngagementError, MemberScore, Outcome, Side};
pub use score_log::{InteractionLog, ScoreSummary, ScoredLog, score_log};
