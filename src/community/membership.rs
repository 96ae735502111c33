//! Membership and roles: who belongs to a community and who may do what.
//!
//! A [`Community`] has one owner (群主), admins, members, muted members and
//! banned users. Every operation names who does it (`by`) and is checked
//! against the permission table below; a refused operation is a typed
//! [`MembershipError`] and changes nothing. A refusal by the table
//! ([`NotPermitted`](MembershipError::NotPermitted)) names who tried what
//! on whom, with both roles; the others name the user they are about (an
//! actor or target off the list or banned, a target whose role the
//! operation does not apply to). The checks run in this order: acting on
//! oneself; the actor (on the list, not banned); the target (on the list);
//! whether the actor's role may do the operation to anyone (if not, not
//! permitted, whatever the target); whether it applies to the target's
//! role ([`WrongRole`](MembershipError::WrongRole): promoting an admin,
//! unbanning someone not banned); then the table's row for that role.
//! Each successful operation bumps [`Community::version`].
//!
//! # Permission table
//!
//! | operation | owner | admin | member | muted | banned / not a member |
//! | --- | --- | --- | --- | --- | --- |
//! | [`invite`](Community::invite) a non-member | yes | yes | yes | no | no |
//! | [`promote`](Community::promote) a member to admin | yes | no | no | no | no |
//! | [`demote`](Community::demote) an admin to member | yes | no | no | no | no |
//! | [`mute`](Community::mute) / [`ban`](Community::ban) a member or muted member | yes | yes | no | no | no |
//! | mute / ban an admin (they lose the admin role) | yes | no | no | no | no |
//! | [`unmute`](Community::unmute) / [`unban`](Community::unban) | yes | yes | no | no | no |
//! | [`transfer_ownership`](Community::transfer_ownership) to an admin or member | yes | no | no | no | no |
//! | [`leave`](Community::leave) | no: transfer first | yes | yes | yes | no |
//!
//! Nobody can mute, ban or demote the owner, and nobody acts on themselves.
//! A banned user stays on the list (so they cannot rejoin) until unbanned,
//! after which they are a non-member who may join again. Muted members
//! still count for scoring (they read and react; muting only stops posting
//! in the host's UI); banned users and those who left do not
//! ([`Community::counts`]).
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use growthkit::community::{Community, MembershipError, Role};
//! use growthkit::{CommunityId, UserId};
//!
//! let t = Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap();
//! let (owner, alice, bob) = (UserId(1), UserId(2), UserId(3));
//! let mut group = Community::new(CommunityId(10), owner, t);
//! group.join(alice, t)?;
//! group.join(bob, t)?;
//! group.promote(owner, alice)?;
//! // An admin may ban a member, but not another admin or the owner.
//! group.ban(alice, bob)?;
//! assert!(!group.counts(bob));
//! let refused = group.ban(alice, owner).unwrap_err();
//! assert!(matches!(refused, MembershipError::NotPermitted { .. }));
//! assert_eq!(group.role(owner), Some(Role::Owner));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::id::{CommunityId, UserId};
use crate::store::Versioned;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// A member's role.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The one owner (群主).
    Owner,
    /// Runs the community with the owner.
    Admin,
    /// An ordinary member.
    Member,
    /// A member who may not post until unmuted; still counts for scoring.
    Muted,
    /// Removed and kept out; counts for nothing.
    Banned,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Member => "member",
            Role::Muted => "muted",
            Role::Banned => "banned",
        })
    }
}

/// An operation on a community, as named in errors.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Action {
    /// Invite a non-member.
    Invite,
    /// Make a member an admin.
    Promote,
    /// Make an admin a member.
    Demote,
    /// Mute.
    Mute,
    /// Lift a mute.
    Unmute,
    /// Ban.
    Ban,
    /// Lift a ban.
    Unban,
    /// Hand over ownership.
    TransferOwnership,
    /// Leave the community.
    Leave,
    /// Join, directly or by accepting an invitation.
    Join,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Action::Invite => "invite",
            Action::Promote => "promote",
            Action::Demote => "demote",
            Action::Mute => "mute",
            Action::Unmute => "unmute",
            Action::Ban => "ban",
            Action::Unban => "unban",
            Action::TransferOwnership => "transfer ownership to",
            Action::Leave => "leave",
            Action::Join => "join",
        })
    }
}

/// Why a membership operation was refused; the community is unchanged.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MembershipError {
    /// The user named is not a member (or is banned, where that matters).
    #[error("{user} is not a member of {community}")]
    NotMember {
        /// The community.
        community: CommunityId,
        /// The user.
        user: UserId,
    },
    /// The user is already a member.
    #[error("{user} is already a member of {community}")]
    AlreadyMember {
        /// The community.
        community: CommunityId,
        /// The user.
        user: UserId,
    },
    /// The user is banned from the community.
    #[error("{user} is banned from {community}")]
    Banned {
        /// The community.
        community: CommunityId,
        /// The user.
        user: UserId,
    },
    /// The actor's role does not allow the action on the target's role.
    #[error("{actor} ({actor_role}) may not {action} {target} ({target_role})")]
    NotPermitted {
        /// Who tried.
        actor: UserId,
        /// Their role.
        actor_role: Role,
        /// What they tried.
        action: Action,
        /// On whom.
        target: UserId,
        /// The target's role (`member` for a non-member invitee).
        target_role: Role,
    },
    /// The target's role is not one the action applies to (promoting an
    /// admin, unmuting someone who is not muted).
    #[error("cannot {action} {user}: they are {role}")]
    WrongRole {
        /// The action.
        action: Action,
        /// The target.
        user: UserId,
        /// Their role.
        role: Role,
    },
    /// Nobody mutes, bans, promotes, demotes or invites themselves.
    #[error("{user} cannot {action} themselves")]
    SelfTarget {
        /// Who tried.
        user: UserId,
        /// What.
        action: Action,
    },
    /// Accepting an invitation nobody sent.
    #[error("{user} has no pending invitation to {community}")]
    NoInvitation {
        /// The community.
        community: CommunityId,
        /// The user.
        user: UserId,
    },
    /// The owner tried to leave.
    #[error("{user} owns {community} and must transfer ownership before leaving")]
    OwnerCannotLeave {
        /// The community.
        community: CommunityId,
        /// The owner.
        user: UserId,
    },
    /// The version counter would overflow.
    #[error("version of {community} would overflow")]
    Overflow {
        /// The community.
        community: CommunityId,
    },
}

/// One member: role and tenure.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct Member {
    /// Their role.
    pub role: Role,
    /// When they (last) joined: the start of their tenure.
    pub joined_at: DateTime<Utc>,
    /// Who invited them, if they joined by invitation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invited_by: Option<UserId>,
}

/// A pending invitation.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct Invitation {
    /// Who invited.
    pub by: UserId,
    /// When.
    pub at: DateTime<Utc>,
}

/// A community's membership: the aggregate a host saves (see [`Versioned`]).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Community {
    id: CommunityId,
    owner: UserId,
    members: BTreeMap<UserId, Member>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    invitations: BTreeMap<UserId, Invitation>,
    version: u64,
}

impl Versioned for Community {
    fn version(&self) -> u64 {
        self.version
    }
}

/// Whether a user's interactions count for scoring: asked by engagement
/// scoring for every actor and target.
///
/// [`Community`] answers from its membership; [`Everyone`] counts every
/// user (for hosts that keep membership elsewhere); any `Fn(UserId) -> bool`
/// works too.
pub trait Standing {
    /// Whether `user`'s interactions count.
    fn counts(&self, user: UserId) -> bool;
}

/// Every user counts: scoring without a membership list.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct Everyone;

impl Standing for Everyone {
    #[inline]
    fn counts(&self, _: UserId) -> bool {
        true
    }
}

impl<F: Fn(UserId) -> bool> Standing for F {
    #[inline]
    fn counts(&self, user: UserId) -> bool {
        self(user)
    }
}

impl Standing for Community {
    #[inline]
    fn counts(&self, user: UserId) -> bool {
        Community::counts(self, user)
    }
}

impl Community {
    /// A new community with its owner as the only member, joined at `now`.
    pub fn new(id: CommunityId, owner: UserId, now: DateTime<Utc>) -> Community {
        let mut members = BTreeMap::new();
        members.insert(
            owner,
            Member {
                role: Role::Owner,
                joined_at: now,
                invited_by: None,
            },
        );
        Community {
            id,
            owner,
            members,
            invitations: BTreeMap::new(),
            version: 0,
        }
    }

    /// The community's id.
    pub fn id(&self) -> CommunityId {
        self.id
    }

    /// The owner.
    pub fn owner(&self) -> UserId {
        self.owner
    }

    /// Bumped by every successful operation.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// `user`'s entry, banned users included.
    pub fn member(&self, user: UserId) -> Option<&Member> {
        self.members.get(&user)
    }

    /// `user`'s role, if on the list (banned users included).
    pub fn role(&self, user: UserId) -> Option<Role> {
        self.members.get(&user).map(|m| m.role)
    }

    /// Whether `user`'s interactions count: a member in any role but banned.
    #[inline]
    pub fn counts(&self, user: UserId) -> bool {
        self.members
            .get(&user)
            .is_some_and(|m| m.role != Role::Banned)
    }

    /// Everyone on the list, banned users included, by user id.
    pub fn members(&self) -> impl Iterator<Item = (UserId, &Member)> + '_ {
        self.members.iter().map(|(u, m)| (*u, m))
    }

    /// How many members count (everyone but the banned).
    pub fn len(&self) -> usize {
        self.members
            .values()
            .filter(|m| m.role != Role::Banned)
            .count()
    }

    /// Whether no one counts (never true: the owner always does).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The pending invitation for `user`, if any.
    pub fn invitation(&self, user: UserId) -> Option<&Invitation> {
        self.invitations.get(&user)
    }

    /// `user` joins on their own at `now`.
    pub fn join(&mut self, user: UserId, now: DateTime<Utc>) -> Result<(), MembershipError> {
        self.check_can_join(user)?;
        self.admit(user, now, None)
    }

    /// Makes `user` a member from `now`, the checks passed: any pending
    /// invitation is used up.
    fn admit(
        &mut self,
        user: UserId,
        now: DateTime<Utc>,
        invited_by: Option<UserId>,
    ) -> Result<(), MembershipError> {
        let version = self.next_version()?;
        self.invitations.remove(&user);
        self.members.insert(
            user,
            Member {
                role: Role::Member,
                joined_at: now,
                invited_by,
            },
        );
        self.version = version;
        Ok(())
    }

    /// `by` invites `whom`; a later invitation replaces an earlier one.
    pub fn invite(
        &mut self,
        by: UserId,
        whom: UserId,
        now: DateTime<Utc>,
    ) -> Result<(), MembershipError> {
        self.check_not_self(by, whom, Action::Invite)?;
        let role = self.actor_role(by)?;
        if role == Role::Muted {
            return Err(self.not_permitted(by, role, Action::Invite, whom, Role::Member));
        }
        self.check_can_join(whom)?;
        let version = self.next_version()?;
        self.invitations.insert(whom, Invitation { by, at: now });
        self.version = version;
        Ok(())
    }

    /// `user` accepts their pending invitation and joins at `now`.
    pub fn accept_invitation(
        &mut self,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<(), MembershipError> {
        self.check_can_join(user)?;
        let Some(invitation) = self.invitations.get(&user).copied() else {
            return Err(MembershipError::NoInvitation {
                community: self.id,
                user,
            });
        };
        self.admit(user, now, Some(invitation.by))
    }

    /// `user` leaves. The owner must transfer ownership first; a banned user
    /// cannot leave (that would lift the ban).
    pub fn leave(&mut self, user: UserId) -> Result<(), MembershipError> {
        match self.role(user) {
            None => return Err(self.not_member(user)),
            Some(Role::Owner) => {
                return Err(MembershipError::OwnerCannotLeave {
                    community: self.id,
                    user,
                });
            }
            Some(Role::Banned) => {
                return Err(MembershipError::Banned {
                    community: self.id,
                    user,
                });
            }
            Some(_) => {}
        }
        let version = self.next_version()?;
        self.members.remove(&user);
        self.version = version;
        Ok(())
    }

    /// The owner makes a member an admin.
    pub fn promote(&mut self, by: UserId, target: UserId) -> Result<(), MembershipError> {
        self.set_role(by, target, Action::Promote, Role::Admin)
    }

    /// The owner makes an admin a member.
    pub fn demote(&mut self, by: UserId, target: UserId) -> Result<(), MembershipError> {
        self.set_role(by, target, Action::Demote, Role::Member)
    }

    /// Mutes a member (by the owner or an admin) or an admin (by the owner only).
    pub fn mute(&mut self, by: UserId, target: UserId) -> Result<(), MembershipError> {
        self.set_role(by, target, Action::Mute, Role::Muted)
    }

    /// Lifts a mute: the member is a plain member again.
    pub fn unmute(&mut self, by: UserId, target: UserId) -> Result<(), MembershipError> {
        self.set_role(by, target, Action::Unmute, Role::Member)
    }

    /// Bans a member or muted member (by the owner or an admin) or an admin
    /// (by the owner only). Their pending invitation, if any, is dropped.
    pub fn ban(&mut self, by: UserId, target: UserId) -> Result<(), MembershipError> {
        self.set_role(by, target, Action::Ban, Role::Banned)
    }

    /// Lifts a ban: the user is off the list and may join again.
    pub fn unban(&mut self, by: UserId, target: UserId) -> Result<(), MembershipError> {
        self.check_not_self(by, target, Action::Unban)?;
        let role = self.actor_role(by)?;
        let target_role = self.role(target).ok_or_else(|| self.not_member(target))?;
        if !matches!(role, Role::Owner | Role::Admin) {
            return Err(self.not_permitted(by, role, Action::Unban, target, target_role));
        }
        if target_role != Role::Banned {
            return Err(MembershipError::WrongRole {
                action: Action::Unban,
                user: target,
                role: target_role,
            });
        }
        let version = self.next_version()?;
        self.members.remove(&target);
        self.version = version;
        Ok(())
    }

    /// The owner hands ownership to an admin or member, and becomes an admin.
    pub fn transfer_ownership(&mut self, by: UserId, to: UserId) -> Result<(), MembershipError> {
        self.check_not_self(by, to, Action::TransferOwnership)?;
        let role = self.actor_role(by)?;
        let target_role = self.role(to).ok_or_else(|| self.not_member(to))?;
        if role != Role::Owner {
            return Err(self.not_permitted(by, role, Action::TransferOwnership, to, target_role));
        }
        if !matches!(target_role, Role::Admin | Role::Member) {
            return Err(MembershipError::WrongRole {
                action: Action::TransferOwnership,
                user: to,
                role: target_role,
            });
        }
        let version = self.next_version()?;
        if let Some(m) = self.members.get_mut(&by) {
            m.role = Role::Admin;
        }
        if let Some(m) = self.members.get_mut(&to) {
            m.role = Role::Owner;
        }
        self.owner = to;
        self.version = version;
        Ok(())
    }

    /// The checked role change behind promote, demote, mute, unmute and ban.
    fn set_role(
        &mut self,
        by: UserId,
        target: UserId,
        action: Action,
        to: Role,
    ) -> Result<(), MembershipError> {
        self.check_not_self(by, target, action)?;
        let role = self.actor_role(by)?;
        let target_role = self.role(target).ok_or_else(|| self.not_member(target))?;
        // An actor who may do the action to nobody is refused as such,
        // whatever the target's role: a member promoting an admin is not
        // permitted, rather than told an admin cannot be promoted.
        let may_at_all = match role {
            Role::Owner => true,
            Role::Admin => matches!(action, Action::Mute | Action::Unmute | Action::Ban),
            _ => false,
        };
        if !may_at_all {
            return Err(self.not_permitted(by, role, action, target, target_role));
        }
        // Which roles the action applies to, and which actor roles may do it
        // to each: the permission table in the module docs.
        let owner_only = match (action, target_role) {
            (Action::Promote, Role::Member) | (Action::Demote, Role::Admin) => true,
            (Action::Mute, Role::Admin) | (Action::Ban, Role::Admin) => true,
            (Action::Mute, Role::Member)
            | (Action::Ban, Role::Member | Role::Muted)
            | (Action::Unmute, Role::Muted) => false,
            (_, Role::Owner) => {
                return Err(self.not_permitted(by, role, action, target, target_role));
            }
            _ => {
                return Err(MembershipError::WrongRole {
                    action,
                    user: target,
                    role: target_role,
                });
            }
        };
        let allowed = match role {
            Role::Owner => true,
            Role::Admin => !owner_only,
            _ => false,
        };
        if !allowed {
            return Err(self.not_permitted(by, role, action, target, target_role));
        }
        let version = self.next_version()?;
        if let Some(m) = self.members.get_mut(&target) {
            m.role = to;
        }
        if to == Role::Banned {
            self.invitations.remove(&target);
        }
        self.version = version;
        Ok(())
    }

    fn check_can_join(&self, user: UserId) -> Result<(), MembershipError> {
        match self.role(user) {
            None => Ok(()),
            Some(Role::Banned) => Err(MembershipError::Banned {
                community: self.id,
                user,
            }),
            Some(_) => Err(MembershipError::AlreadyMember {
                community: self.id,
                user,
            }),
        }
    }

    fn check_not_self(
        &self,
        by: UserId,
        target: UserId,
        action: Action,
    ) -> Result<(), MembershipError> {
        if by == target {
            return Err(MembershipError::SelfTarget { user: by, action });
        }
        Ok(())
    }

    /// The role of someone acting: they must be on the list and not banned.
    fn actor_role(&self, user: UserId) -> Result<Role, MembershipError> {
        match self.role(user) {
            None => Err(self.not_member(user)),
            Some(Role::Banned) => Err(MembershipError::Banned {
                community: self.id,
                user,
            }),
            Some(role) => Ok(role),
        }
    }

    fn not_member(&self, user: UserId) -> MembershipError {
        MembershipError::NotMember {
            community: self.id,
            user,
        }
    }

    fn not_permitted(
        &self,
        actor: UserId,
        actor_role: Role,
        action: Action,
        target: UserId,
        target_role: Role,
    ) -> MembershipError {
        MembershipError::NotPermitted {
            actor,
            actor_role,
            action,
            target,
            target_role,
        }
    }

    fn next_version(&self) -> Result<u64, MembershipError> {
        self.version
            .checked_add(1)
            .ok_or(MembershipError::Overflow { community: self.id })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const OWNER: UserId = UserId(1);
    const ADMIN: UserId = UserId(2);
    const ADMIN2: UserId = UserId(3);
    const MEMBER: UserId = UserId(4);
    const MEMBER2: UserId = UserId(5);
    const OUTSIDER: UserId = UserId(9);

    fn t() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap()
    }

    fn group() -> Community {
        let mut c = Community::new(CommunityId(7), OWNER, t());
        for u in [ADMIN, ADMIN2, MEMBER, MEMBER2] {
            c.join(u, t()).unwrap();
        }
        c.promote(OWNER, ADMIN).unwrap();
        c.promote(OWNER, ADMIN2).unwrap();
        c
    }

    /// Runs `op` and, if it fails, checks the community is unchanged.
    fn refused(
        c: &mut Community,
        op: impl FnOnce(&mut Community) -> Result<(), MembershipError>,
    ) -> MembershipError {
        let before = c.clone();
        let err = op(c).unwrap_err();
        assert_eq!(*c, before, "a refused operation changed the community");
        err
    }

    #[test]
    fn only_the_owner_promotes_demotes_and_transfers() {
        let mut c = group();
        let err = refused(&mut c, |c| c.promote(ADMIN, MEMBER));
        assert_eq!(
            err.to_string(),
            "user#2 (admin) may not promote user#4 (member)"
        );
        refused(&mut c, |c| c.demote(ADMIN, ADMIN2));
        refused(&mut c, |c| c.transfer_ownership(ADMIN, MEMBER));
        refused(&mut c, |c| c.promote(MEMBER, MEMBER2));
        let err = refused(&mut c, |c| c.promote(OWNER, ADMIN));
        assert!(matches!(
            err,
            MembershipError::WrongRole {
                role: Role::Admin,
                ..
            }
        ));
        c.demote(OWNER, ADMIN2).unwrap();
        assert_eq!(c.role(ADMIN2), Some(Role::Member));
        c.transfer_ownership(OWNER, MEMBER).unwrap();
        assert_eq!(
            (c.owner(), c.role(MEMBER), c.role(OWNER)),
            (MEMBER, Some(Role::Owner), Some(Role::Admin))
        );
        // The old owner is now an admin and can be demoted by the new owner.
        c.demote(MEMBER, OWNER).unwrap();
    }

    #[test]
    fn admins_moderate_members_but_not_admins_or_the_owner() {
        let mut c = group();
        for op in [Community::mute, Community::ban] {
            refused(&mut c, |c| op(c, ADMIN, OWNER));
            let err = refused(&mut c, |c| op(c, ADMIN, ADMIN2));
            assert!(matches!(
                err,
                MembershipError::NotPermitted {
                    action: Action::Mute | Action::Ban,
                    ..
                }
            ));
            refused(&mut c, |c| op(c, MEMBER, MEMBER2));
            refused(&mut c, |c| op(c, OWNER, OWNER));
        }
        c.mute(ADMIN, MEMBER).unwrap();
        assert!(c.counts(MEMBER), "muted members still count");
        refused(&mut c, |c| c.mute(ADMIN, MEMBER));
        c.unmute(ADMIN2, MEMBER).unwrap();
        refused(&mut c, |c| c.unmute(ADMIN2, MEMBER));
        c.ban(ADMIN, MEMBER).unwrap();
        assert!(!c.counts(MEMBER));
        refused(&mut c, |c| c.join(MEMBER, t()));
        refused(&mut c, |c| c.leave(MEMBER));
        refused(&mut c, |c| c.invite(ADMIN, MEMBER, t()));
        let err = refused(&mut c, |c| c.mute(MEMBER, MEMBER2));
        assert!(matches!(err, MembershipError::Banned { user: MEMBER, .. }));
        c.unban(ADMIN, MEMBER).unwrap();
        assert_eq!(c.role(MEMBER), None);
        c.join(MEMBER, t()).unwrap();
        // The owner may ban an admin, who loses the role.
        c.ban(OWNER, ADMIN2).unwrap();
        c.unban(OWNER, ADMIN2).unwrap();
        assert_eq!(c.role(ADMIN2), None);
    }

    #[test]
    fn an_actor_who_may_not_act_at_all_is_not_permitted_whatever_the_target() {
        let mut c = group();
        c.mute(OWNER, MEMBER2).unwrap();
        // Promoting an admin, demoting a member, unmuting someone not muted:
        // the action does not apply, but the actor could not do it anyway.
        for (by, by_role, action, target, target_role) in [
            (MEMBER, Role::Member, Action::Promote, ADMIN, Role::Admin),
            (ADMIN, Role::Admin, Action::Promote, ADMIN2, Role::Admin),
            (ADMIN, Role::Admin, Action::Demote, MEMBER, Role::Member),
            (MEMBER, Role::Member, Action::Unmute, ADMIN, Role::Admin),
            (MEMBER2, Role::Muted, Action::Unmute, ADMIN, Role::Admin),
        ] {
            let err = refused(&mut c, |c| match action {
                Action::Promote => c.promote(by, target),
                Action::Demote => c.demote(by, target),
                Action::Unmute => c.unmute(by, target),
                _ => c.mute(by, target),
            });
            assert_eq!(
                err,
                MembershipError::NotPermitted {
                    actor: by,
                    actor_role: by_role,
                    action,
                    target,
                    target_role,
                }
            );
        }
        // One who may act is told the action does not apply.
        let err = refused(&mut c, |c| c.unmute(ADMIN, MEMBER));
        assert!(matches!(err, MembershipError::WrongRole { .. }));
    }

    #[test]
    fn invitations_are_accepted_once_and_tenure_restarts_on_rejoin() {
        let mut c = group();
        let later = t() + chrono::TimeDelta::days(3);
        refused(&mut c, |c| c.accept_invitation(OUTSIDER, later));
        refused(&mut c, |c| c.invite(OUTSIDER, MEMBER, later));
        refused(&mut c, |c| c.invite(MEMBER, MEMBER2, later));
        c.invite(MEMBER, OUTSIDER, later).unwrap();
        assert_eq!(c.invitation(OUTSIDER).map(|i| i.by), Some(MEMBER));
        c.accept_invitation(OUTSIDER, later).unwrap();
        let m = *c.member(OUTSIDER).unwrap();
        assert_eq!(
            (m.role, m.joined_at, m.invited_by),
            (Role::Member, later, Some(MEMBER))
        );
        refused(&mut c, |c| c.accept_invitation(OUTSIDER, later));
        c.leave(OUTSIDER).unwrap();
        assert!(!c.counts(OUTSIDER));
        let err = refused(&mut c, |c| c.leave(OWNER));
        assert_eq!(
            err.to_string(),
            "user#1 owns community#7 and must transfer ownership before leaving"
        );
        c.mute(OWNER, MEMBER).unwrap();
        refused(&mut c, |c| c.invite(MEMBER, OUTSIDER, later));
    }

    #[test]
    fn versions_count_successes_and_serde_round_trips() {
        let mut c = Community::new(CommunityId(1), OWNER, t());
        assert_eq!(c.version(), 0);
        c.join(MEMBER, t()).unwrap();
        let _ = c.join(MEMBER, t());
        c.promote(OWNER, MEMBER).unwrap();
        assert_eq!(c.version(), 2);
        assert_eq!(c.len(), 2);
        let back: Community = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(back, c);
    }
}
