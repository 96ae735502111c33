//! The interaction view of an [`Event`]: who did what, to whom, where.
//!
//! Community scoring, levels, health and heat all read the same few facts
//! from an event: the actor, the member it was aimed at (the author replied
//! to or reacted to, the inviter), the kind, the community and the content.
//! [`Interaction::from_event`] extracts them once; events that are not
//! community interactions (purchases, sign-ups) give `None`.

use crate::event::{Event, EventKind};
use crate::id::{CommunityId, ContentId, EventId, UserId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// What kind of interaction: the community-relevant event kinds, with
/// online and offline attendance told apart (a meetup is worth more).
///
/// Written in snake case in configuration (`"reply"`, `"event_offline"`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum InteractionKind {
    /// New content: a topic, a question, an article.
    Post,
    /// A reply to someone's content.
    Reply,
    /// A reaction (like, upvote) to someone's content.
    Reaction,
    /// A share or forward.
    Share,
    /// A poll vote.
    PollVote,
    /// A daily check-in.
    CheckIn,
    /// Attendance at an online session.
    EventOnline,
    /// Attendance at an offline meetup.
    EventOffline,
    /// Accepting an invitation; the inviter is the target.
    InviteAccepted,
    /// Viewing content.
    ContentView,
    /// Clicking through on content.
    ContentClick,
}

impl InteractionKind {
    /// How many kinds there are: per-kind tables are arrays this long.
    pub const COUNT: usize = 11;

    /// Every kind, in declaration order (`ALL[k as usize] == k`).
    pub const ALL: [InteractionKind; InteractionKind::COUNT] = [
        InteractionKind::Post,
        InteractionKind::Reply,
        InteractionKind::Reaction,
        InteractionKind::Share,
        InteractionKind::PollVote,
        InteractionKind::CheckIn,
        InteractionKind::EventOnline,
        InteractionKind::EventOffline,
        InteractionKind::InviteAccepted,
        InteractionKind::ContentView,
        InteractionKind::ContentClick,
    ];

    /// The snake-case name used in configuration.
    pub const fn name(self) -> &'static str {
        match self {
            InteractionKind::Post => "post",
            InteractionKind::Reply => "reply",
            InteractionKind::Reaction => "reaction",
            InteractionKind::Share => "share",
            InteractionKind::PollVote => "poll_vote",
            InteractionKind::CheckIn => "check_in",
            InteractionKind::EventOnline => "event_online",
            InteractionKind::EventOffline => "event_offline",
            InteractionKind::InviteAccepted => "invite_accepted",
            InteractionKind::ContentView => "content_view",
            InteractionKind::ContentClick => "content_click",
        }
    }

    /// Whether interactions of this kind can have a target member (and so
    /// give "received" credit): replies, reactions and accepted invitations.
    pub const fn can_have_target(self) -> bool {
        matches!(
            self,
            InteractionKind::Reply | InteractionKind::Reaction | InteractionKind::InviteAccepted
        )
    }

    /// The kind with index `i` (`k as usize`), if any.
    #[inline]
    pub fn from_index(i: usize) -> Option<InteractionKind> {
        InteractionKind::ALL.get(i).copied()
    }
}

impl fmt::Display for InteractionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// One interaction: the parts of an [`Event`] community scoring reads.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use growthkit::community::{Interaction, InteractionKind};
/// use growthkit::{CommunityId, ContentId, Event, EventId, EventKind, UserId};
///
/// let at = Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap();
/// let like = Event::new(EventId(1), UserId(7), at, EventKind::Reaction {
///     community: Some(CommunityId(3)),
///     content: ContentId(40),
///     to: Some(UserId(9)),
/// });
/// let i = Interaction::from_event(&like).unwrap();
/// assert_eq!((i.actor, i.target, i.kind), (UserId(7), Some(UserId(9)), InteractionKind::Reaction));
/// assert!(Interaction::from_event(&Event::new(EventId(2), UserId(7), at, EventKind::Visited)).is_none());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct Interaction {
    /// The event it came from: scoring is idempotent on it.
    pub id: EventId,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// Who acted.
    pub actor: UserId,
    /// The member it was aimed at, if known: the author replied to or
    /// reacted to, the inviter of an accepted invitation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<UserId>,
    /// What kind.
    pub kind: InteractionKind,
    /// The community, if the event names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub community: Option<CommunityId>,
    /// The content involved, if any (the post, the poll, the item viewed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<ContentId>,
}

impl Interaction {
    /// The interaction an event records, or `None` for events that are not
    /// community interactions.
    pub fn from_event(event: &Event) -> Option<Interaction> {
        use InteractionKind as K;
        let (kind, target, content) = match &event.kind {
            EventKind::Post { content, .. } => (K::Post, None, Some(*content)),
            EventKind::Reply { content, to, .. } => (K::Reply, *to, Some(*content)),
            EventKind::Reaction { content, to, .. } => (K::Reaction, *to, Some(*content)),
            EventKind::Share { content, .. } => (K::Share, None, Some(*content)),
            EventKind::PollVoted { poll, .. } => (K::PollVote, None, Some(*poll)),
            EventKind::CheckIn { .. } => (K::CheckIn, None, None),
            EventKind::EventAttended { offline, .. } => (
                if *offline {
                    K::EventOffline
                } else {
                    K::EventOnline
                },
                None,
                None,
            ),
            EventKind::InviteAccepted { inviter, .. } => (K::InviteAccepted, Some(*inviter), None),
            EventKind::ContentViewed { content } => (K::ContentView, None, Some(*content)),
            EventKind::ContentClicked { content } => (K::ContentClick, None, Some(*content)),
            _ => return None,
        };
        Some(Interaction {
            id: event.id,
            at: event.at,
            actor: event.user,
            target,
            kind,
            community: event.kind.community(),
            content,
        })
    }

    /// Whether the actor aimed it at themselves (replying to their own
    /// post): such interactions score nothing.
    #[inline]
    pub fn is_self(&self) -> bool {
        self.target == Some(self.actor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn kinds_index_themselves_and_name_like_serde() {
        for (i, k) in InteractionKind::ALL.iter().enumerate() {
            assert_eq!(*k as usize, i);
            assert_eq!(InteractionKind::from_index(i), Some(*k));
            let json = serde_json::to_string(k).unwrap();
            assert_eq!(json, format!("\"{}\"", k.name()));
        }
        assert_eq!(InteractionKind::from_index(InteractionKind::COUNT), None);
    }

    #[test]
    fn every_community_event_maps_and_others_do_not() {
        let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let c = Some(CommunityId(1));
        let ev = |kind| Event::new(EventId(1), UserId(2), at, kind);
        let cases = [
            (
                EventKind::Post {
                    community: c,
                    content: ContentId(1),
                },
                InteractionKind::Post,
                None,
            ),
            (
                EventKind::Reply {
                    community: c,
                    content: ContentId(1),
                    to: Some(UserId(3)),
                },
                InteractionKind::Reply,
                Some(UserId(3)),
            ),
            (
                EventKind::Share {
                    community: c,
                    content: ContentId(1),
                },
                InteractionKind::Share,
                None,
            ),
            (
                EventKind::PollVoted {
                    community: c,
                    poll: ContentId(1),
                },
                InteractionKind::PollVote,
                None,
            ),
            (
                EventKind::CheckIn { community: c },
                InteractionKind::CheckIn,
                None,
            ),
            (
                EventKind::EventAttended {
                    community: c,
                    offline: true,
                },
                InteractionKind::EventOffline,
                None,
            ),
            (
                EventKind::EventAttended {
                    community: c,
                    offline: false,
                },
                InteractionKind::EventOnline,
                None,
            ),
            (
                EventKind::InviteAccepted {
                    inviter: UserId(5),
                    community: c,
                },
                InteractionKind::InviteAccepted,
                Some(UserId(5)),
            ),
        ];
        for (kind, want, target) in cases {
            let i = Interaction::from_event(&ev(kind)).unwrap();
            assert_eq!((i.kind, i.target, i.community), (want, target, c));
        }
        let view = Interaction::from_event(&ev(EventKind::ContentViewed {
            content: ContentId(4),
        }))
        .unwrap();
        assert_eq!(
            (view.kind, view.community, view.content),
            (InteractionKind::ContentView, None, Some(ContentId(4)))
        );
        let click = Interaction::from_event(&ev(EventKind::ContentClicked {
            content: ContentId(4),
        }));
        assert_eq!(click.map(|i| i.kind), Some(InteractionKind::ContentClick));
        assert!(Interaction::from_event(&ev(EventKind::SignedUp)).is_none());
        let own = Interaction::from_event(&ev(EventKind::Reaction {
            community: c,
            content: ContentId(1),
            to: Some(UserId(2)),
        }))
        .unwrap();
        assert!(own.is_self());
    }
}
