//! Community operations: membership and roles, engagement scores that resist
//! gaming, and member levels.
//!
//! - [`Community`]: who belongs, in which [`Role`], with a checked permission
//!   table ([`membership`](self#membership-and-roles)).
//! - [`Interaction`]: the community view of an [`Event`](crate::Event).
//!
//! # Membership and roles
//!
//! See [`Community`] for the permission table.
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use growthkit::community::{Community, Role};
//! use growthkit::{CommunityId, UserId};
//!
//! let t = Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap();
//! let mut study_group = Community::new(CommunityId(1), UserId(1), t);
//! study_group.invite(UserId(1), UserId(2), t)?;
//! study_group.accept_invitation(UserId(2), t)?;
//! assert_eq!(study_group.role(UserId(2)), Some(Role::Member));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod activity;
mod engagement;
mod fixture;
mod interaction;
mod level;
mod membership;
mod score;
mod score_log;

pub use activity::{ActivityError, Counter, DayCounts, GIVERS, MemberActivity};
pub use engagement::{
    EngagementModel, EngagementModelError, EngagementModelSpec, KindSpec, MAX_WEIGHT, PARTNERS,
};
pub use interaction::{Interaction, InteractionKind};
pub use level::{
    ChangeReason, Check, LevelChange, LevelError, LevelInputs, LevelLadder, LevelLadderError,
    LevelLadderSpec, LevelSpec, MAX_WINDOW_DAYS, MemberLevel, Requirement, ScoreSnapshot,
};
pub use membership::{
    Action, Community, Everyone, Invitation, Member, MembershipError, Role, Standing,
};
pub use score::{Credit, EngagementError, MemberScore, Outcome, Side};
pub use score_log::{InteractionLog, ScoreSummary, ScoredLog, score_log};
