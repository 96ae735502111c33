//! Membership, member activity and member levels against brute-force
//! references written from their documentation
//! (`growthkit::community::{membership, activity, level}`): the permission
//! table as a plain lookup, activity as the list of every accepted event
//! recounted at each question, and the level step as the docs spell it out.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use chrono_tz::America::New_York;
use growthkit::community::{
    ChangeReason, Community, Counter, LevelChange, LevelInputs, LevelLadder, LevelLadderSpec,
    LevelSpec, MemberActivity, MemberLevel, MembershipError, Requirement, Role,
};
use growthkit::dedupe::DedupeWindow;
use growthkit::{CommunityId, ContentId, Event, EventId, EventKind, LocalDay, UserId, UtcOffset};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use std::collections::{BTreeMap, BTreeSet};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap()
}

// ---------------------------------------------------------------------------
// Membership
// ---------------------------------------------------------------------------

const CID: CommunityId = CommunityId(5);

#[derive(Clone, Copy, Debug)]
enum Op {
    Join(u64),
    Invite(u64, u64),
    Accept(u64),
    Leave(u64),
    Promote(u64, u64),
    Demote(u64, u64),
    Mute(u64, u64),
    Unmute(u64, u64),
    Ban(u64, u64),
    Unban(u64, u64),
    Transfer(u64, u64),
}

#[derive(Clone, Debug, PartialEq)]
struct RefMember {
    role: Role,
    joined_at: DateTime<Utc>,
    invited_by: Option<u64>,
}

#[derive(Clone, Debug)]
struct RefCommunity {
    owner: u64,
    members: BTreeMap<u64, RefMember>,
    invitations: BTreeMap<u64, (u64, DateTime<Utc>)>,
    version: u64,
}

fn not_member(u: u64) -> MembershipError {
    MembershipError::NotMember {
        community: CID,
        user: UserId(u),
    }
}

fn banned(u: u64) -> MembershipError {
    MembershipError::Banned {
        community: CID,
        user: UserId(u),
    }
}

fn not_permitted(
    by: u64,
    by_role: Role,
    action: growthkit::community::Action,
    target: u64,
    target_role: Role,
) -> MembershipError {
    MembershipError::NotPermitted {
        actor: UserId(by),
        actor_role: by_role,
        action,
        target: UserId(target),
        target_role,
    }
}

fn wrong_role(action: growthkit::community::Action, u: u64, role: Role) -> MembershipError {
    MembershipError::WrongRole {
        action,
        user: UserId(u),
        role,
    }
}

impl RefCommunity {
    fn new(owner: u64, now: DateTime<Utc>) -> RefCommunity {
        let mut members = BTreeMap::new();
        members.insert(
            owner,
            RefMember {
                role: Role::Owner,
                joined_at: now,
                invited_by: None,
            },
        );
        RefCommunity {
            owner,
            members,
            invitations: BTreeMap::new(),
            version: 0,
        }
    }

    fn role(&self, u: u64) -> Option<Role> {
        self.members.get(&u).map(|m| m.role)
    }

    /// Someone acting must be on the list and not banned.
    fn actor(&self, u: u64) -> Result<Role, MembershipError> {
        match self.role(u) {
            None => Err(not_member(u)),
            Some(Role::Banned) => Err(banned(u)),
            Some(r) => Ok(r),
        }
    }

    /// Joining needs someone off the list.
    fn can_join(&self, u: u64) -> Result<(), MembershipError> {
        match self.role(u) {
            None => Ok(()),
            Some(Role::Banned) => Err(banned(u)),
            Some(_) => Err(MembershipError::AlreadyMember {
                community: CID,
                user: UserId(u),
            }),
        }
    }

    /// The permission table of the module docs, row by row.
    fn apply(&mut self, op: Op, now: DateTime<Utc>) -> Result<(), MembershipError> {
        let before = self.clone();
        let r = self.apply_inner(op, now);
        match &r {
            Ok(()) => self.version += 1,
            Err(_) => *self = before,
        }
        r
    }

    fn apply_inner(&mut self, op: Op, now: DateTime<Utc>) -> Result<(), MembershipError> {
        use growthkit::community::Action as A;
        let self_target = |by: u64, t: u64, action| {
            if by == t {
                Err(MembershipError::SelfTarget {
                    user: UserId(by),
                    action,
                })
            } else {
                Ok(())
            }
        };
        match op {
            Op::Join(u) => {
                self.can_join(u)?;
                self.invitations.remove(&u);
                self.members.insert(
                    u,
                    RefMember {
                        role: Role::Member,
                        joined_at: now,
                        invited_by: None,
                    },
                );
            }
            Op::Accept(u) => {
                self.can_join(u)?;
                let Some((by, _)) = self.invitations.remove(&u) else {
                    return Err(MembershipError::NoInvitation {
                        community: CID,
                        user: UserId(u),
                    });
                };
                self.members.insert(
                    u,
                    RefMember {
                        role: Role::Member,
                        joined_at: now,
                        invited_by: Some(by),
                    },
                );
            }
            Op::Invite(by, whom) => {
                self_target(by, whom, A::Invite)?;
                let role = self.actor(by)?;
                // owner, admin, member: yes; muted: no.
                if role == Role::Muted {
                    return Err(not_permitted(by, role, A::Invite, whom, Role::Member));
                }
                self.can_join(whom)?;
                self.invitations.insert(whom, (by, now));
            }
            Op::Leave(u) => match self.role(u) {
                None => return Err(not_member(u)),
                Some(Role::Owner) => {
                    return Err(MembershipError::OwnerCannotLeave {
                        community: CID,
                        user: UserId(u),
                    });
                }
                Some(Role::Banned) => return Err(banned(u)),
                Some(_) => {
                    self.members.remove(&u);
                }
            },
            Op::Unban(by, t) => {
                self_target(by, t, A::Unban)?;
                let role = self.actor(by)?;
                let tr = self.role(t).ok_or_else(|| not_member(t))?;
                if !matches!(role, Role::Owner | Role::Admin) {
                    return Err(not_permitted(by, role, A::Unban, t, tr));
                }
                if tr != Role::Banned {
                    return Err(wrong_role(A::Unban, t, tr));
                }
                self.members.remove(&t);
            }
            Op::Transfer(by, t) => {
                self_target(by, t, A::TransferOwnership)?;
                let role = self.actor(by)?;
                let tr = self.role(t).ok_or_else(|| not_member(t))?;
                if role != Role::Owner {
                    return Err(not_permitted(by, role, A::TransferOwnership, t, tr));
                }
                if !matches!(tr, Role::Admin | Role::Member) {
                    return Err(wrong_role(A::TransferOwnership, t, tr));
                }
                self.members.get_mut(&by).unwrap().role = Role::Admin;
                self.members.get_mut(&t).unwrap().role = Role::Owner;
                self.owner = t;
            }
            Op::Promote(by, t)
            | Op::Demote(by, t)
            | Op::Mute(by, t)
            | Op::Unmute(by, t)
            | Op::Ban(by, t) => {
                let (action, to) = match op {
                    Op::Promote(..) => (A::Promote, Role::Admin),
                    Op::Demote(..) => (A::Demote, Role::Member),
                    Op::Mute(..) => (A::Mute, Role::Muted),
                    Op::Unmute(..) => (A::Unmute, Role::Member),
                    _ => (A::Ban, Role::Banned),
                };
                self_target(by, t, action)?;
                let role = self.actor(by)?;
                let tr = self.role(t).ok_or_else(|| not_member(t))?;
                // May the actor do this to anyone? Members and muted
                // members moderate nobody; admins mute, unmute and ban.
                let may = match role {
                    Role::Owner => true,
                    Role::Admin => matches!(action, A::Mute | A::Unmute | A::Ban),
                    _ => false,
                };
                if !may || tr == Role::Owner {
                    // Nobody acts on the owner.
                    return Err(not_permitted(by, role, action, t, tr));
                }
                // Who may, by the target's role: None when the action does
                // not apply to that role.
                let who: Option<&[Role]> = match (action, tr) {
                    (A::Promote, Role::Member) | (A::Demote, Role::Admin) => Some(&[Role::Owner]),
                    (A::Mute | A::Ban, Role::Admin) => Some(&[Role::Owner]),
                    (A::Mute, Role::Member) => Some(&[Role::Owner, Role::Admin]),
                    (A::Ban, Role::Member | Role::Muted) => Some(&[Role::Owner, Role::Admin]),
                    (A::Unmute, Role::Muted) => Some(&[Role::Owner, Role::Admin]),
                    _ => None,
                };
                let Some(who) = who else {
                    return Err(wrong_role(action, t, tr));
                };
                if !who.contains(&role) {
                    return Err(not_permitted(by, role, action, t, tr));
                }
                self.members.get_mut(&t).unwrap().role = to;
                if to == Role::Banned {
                    self.invitations.remove(&t);
                }
            }
        }
        Ok(())
    }
}

fn run_op(c: &mut Community, op: Op, now: DateTime<Utc>) -> Result<(), MembershipError> {
    let u = UserId;
    match op {
        Op::Join(a) => c.join(u(a), now),
        Op::Invite(a, b) => c.invite(u(a), u(b), now),
        Op::Accept(a) => c.accept_invitation(u(a), now),
        Op::Leave(a) => c.leave(u(a)),
        Op::Promote(a, b) => c.promote(u(a), u(b)),
        Op::Demote(a, b) => c.demote(u(a), u(b)),
        Op::Mute(a, b) => c.mute(u(a), u(b)),
        Op::Unmute(a, b) => c.unmute(u(a), u(b)),
        Op::Ban(a, b) => c.ban(u(a), u(b)),
        Op::Unban(a, b) => c.unban(u(a), u(b)),
        Op::Transfer(a, b) => c.transfer_ownership(u(a), u(b)),
    }
}

fn same_community(lib: &Community, model: &RefCommunity, users: u64) {
    assert_eq!(lib.owner(), UserId(model.owner));
    assert_eq!(lib.version(), model.version);
    for u in 1..=users {
        let got = lib.member(UserId(u)).map(|m| RefMember {
            role: m.role,
            joined_at: m.joined_at,
            invited_by: m.invited_by.map(|i| i.0),
        });
        assert_eq!(got.as_ref(), model.members.get(&u), "member {u}");
        assert_eq!(lib.role(UserId(u)), model.role(u));
        let counts = model.role(u).is_some_and(|r| r != Role::Banned);
        assert_eq!(lib.counts(UserId(u)), counts, "counts {u}");
        let inv = lib.invitation(UserId(u)).map(|i| (i.by.0, i.at));
        assert_eq!(inv, model.invitations.get(&u).copied(), "invitation of {u}");
    }
    let len = model
        .members
        .values()
        .filter(|m| m.role != Role::Banned)
        .count();
    assert_eq!(lib.len(), len);
    assert!(!lib.is_empty());
    let owners = lib.members().filter(|(_, m)| m.role == Role::Owner).count();
    assert_eq!(owners, 1, "one owner");
}

const USERS: u64 = 6;

fn op() -> impl Strategy<Value = Op> {
    let u = 1..=USERS;
    prop_oneof![
        u.clone().prop_map(Op::Join),
        (u.clone(), u.clone()).prop_map(|(a, b)| Op::Invite(a, b)),
        u.clone().prop_map(Op::Accept),
        u.clone().prop_map(Op::Leave),
        (u.clone(), u.clone()).prop_map(|(a, b)| Op::Promote(a, b)),
        (u.clone(), u.clone()).prop_map(|(a, b)| Op::Demote(a, b)),
        (u.clone(), u.clone()).prop_map(|(a, b)| Op::Mute(a, b)),
        (u.clone(), u.clone()).prop_map(|(a, b)| Op::Unmute(a, b)),
        (u.clone(), u.clone()).prop_map(|(a, b)| Op::Ban(a, b)),
        (u.clone(), u.clone()).prop_map(|(a, b)| Op::Unban(a, b)),
        (u.clone(), u).prop_map(|(a, b)| Op::Transfer(a, b)),
    ]
}

/// A community with every role present: owner 1, admin 2, member 3,
/// muted 4, banned 5, 6 never joined.
fn every_role() -> (Community, RefCommunity) {
    let mut c = Community::new(CID, UserId(1), t0());
    let mut m = RefCommunity::new(1, t0());
    for op in [
        Op::Join(2),
        Op::Join(3),
        Op::Join(4),
        Op::Join(5),
        Op::Promote(1, 2),
        Op::Mute(2, 4),
        Op::Ban(2, 5),
    ] {
        run_op(&mut c, op, t0()).unwrap();
        m.apply(op, t0()).unwrap();
    }
    (c, m)
}

#[test]
fn every_operation_by_every_role_on_every_role_follows_the_table() {
    // Actors and targets: owner, admin, member, muted, banned, non-member,
    // and oneself (actor == target).
    let (base, model) = every_role();
    same_community(&base, &model, USERS);
    let mut ops = Vec::new();
    for a in 1..=USERS {
        ops.push(Op::Join(a));
        ops.push(Op::Accept(a));
        ops.push(Op::Leave(a));
        for b in 1..=USERS {
            ops.extend([
                Op::Invite(a, b),
                Op::Promote(a, b),
                Op::Demote(a, b),
                Op::Mute(a, b),
                Op::Unmute(a, b),
                Op::Ban(a, b),
                Op::Unban(a, b),
                Op::Transfer(a, b),
            ]);
        }
    }
    for op in ops {
        let mut c = base.clone();
        let mut m = model.clone();
        let now = t0() + TimeDelta::hours(1);
        let got = run_op(&mut c, op, now);
        let want = m.apply(op, now);
        assert_eq!(got, want, "{op:?}");
        if got.is_err() {
            assert_eq!(c, base, "{op:?} was refused but changed the community");
        }
        same_community(&c, &m, USERS);
    }
    // A few rows spelled out.
    let mut c = base.clone();
    use growthkit::community::Action as A;
    assert_eq!(
        c.ban(UserId(2), UserId(1)),
        Err(not_permitted(2, Role::Admin, A::Ban, 1, Role::Owner))
    );
    assert_eq!(
        c.mute(UserId(4), UserId(3)),
        Err(not_permitted(4, Role::Muted, A::Mute, 3, Role::Member))
    );
    assert!(c.invite(UserId(3), UserId(6), t0()).is_ok());
    assert_eq!(
        c.invite(UserId(4), UserId(6), t0()),
        Err(not_permitted(4, Role::Muted, A::Invite, 6, Role::Member))
    );
    assert_eq!(c.invite(UserId(5), UserId(6), t0()), Err(banned(5)));
}

#[test]
fn unban_then_rejoin_starts_a_new_tenure() {
    let (mut c, _) = every_role();
    assert_eq!(c.join(UserId(5), t0()), Err(banned(5)));
    assert_eq!(c.leave(UserId(5)), Err(banned(5)));
    c.unban(UserId(1), UserId(5)).unwrap();
    assert_eq!(c.role(UserId(5)), None);
    let later = t0() + TimeDelta::days(3);
    c.join(UserId(5), later).unwrap();
    assert_eq!(c.member(UserId(5)).map(|m| m.joined_at), Some(later));
    assert!(c.counts(UserId(5)));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(64)
    ))]

    #[test]
    fn membership_matches_its_reference(ops in vec((op(), 0i64..100), 0..60)) {
        let mut c = Community::new(CID, UserId(1), t0());
        let mut m = RefCommunity::new(1, t0());
        let mut now = t0();
        for (op, gap) in ops {
            now += TimeDelta::minutes(gap);
            let before = c.clone();
            let got = run_op(&mut c, op, now);
            let want = m.apply(op, now);
            prop_assert_eq!(&got, &want, "{:?}", op);
            if got.is_err() {
                prop_assert_eq!(&c, &before);
            }
            same_community(&c, &m, USERS);
            let json = serde_json::to_string(&c).unwrap();
            let back: Community = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(&back, &c);
        }
    }
}

// ---------------------------------------------------------------------------
// Member activity
// ---------------------------------------------------------------------------

const ME: u64 = 1;

/// What one event is, before it gets an id and a time.
#[derive(Clone, Debug)]
enum Act {
    Visited,
    View {
        content: u64,
        posts_read: Option<i64>,
        read_seconds: Option<i64>,
    },
    Post,
    Reply {
        content: u64,
        to: Option<u64>,
    },
    Reaction {
        content: u64,
        to: Option<u64>,
    },
    CheckIn,
    SignedUp,
    Flagged,
    /// Another community interaction: active, counts nothing.
    Share,
    /// Accepting `inviter`'s invitation: active for the one accepting only.
    InviteAccepted(u64),
    /// Not a community interaction: not activity.
    Lesson,
    /// A custom event other than "flagged": nothing.
    OtherCustom,
}

#[derive(Clone, Debug)]
struct Ev {
    id: u64,
    user: u64,
    at: DateTime<Utc>,
    act: Act,
}

impl Ev {
    fn event(&self) -> Event {
        let c = Some(CommunityId(5));
        let kind = match &self.act {
            Act::Visited => EventKind::Visited,
            Act::View { content, .. } => EventKind::ContentViewed {
                content: ContentId(*content),
            },
            Act::Post => EventKind::Post {
                community: c,
                content: ContentId(900 + self.id),
            },
            Act::Reply { content, to } => EventKind::Reply {
                community: c,
                content: ContentId(*content),
                to: to.map(UserId),
            },
            Act::Reaction { content, to } => EventKind::Reaction {
                community: c,
                content: ContentId(*content),
                to: to.map(UserId),
            },
            Act::CheckIn => EventKind::CheckIn { community: None },
            Act::SignedUp => EventKind::SignedUp,
            Act::Flagged => EventKind::Custom {
                name: "flagged".into(),
            },
            Act::Share => EventKind::Share {
                community: c,
                content: ContentId(1),
            },
            Act::InviteAccepted(inviter) => EventKind::InviteAccepted {
                inviter: UserId(*inviter),
                community: c,
            },
            Act::Lesson => EventKind::ActionCompleted {
                action: "lesson".into(),
            },
            Act::OtherCustom => EventKind::Custom {
                name: "flagged_by_mistake".into(),
            },
        };
        let mut e = Event::new(EventId(self.id), UserId(self.user), self.at, kind);
        if let Act::View {
            posts_read,
            read_seconds,
            ..
        } = &self.act
        {
            if let Some(n) = posts_read {
                e = e.with_attr("posts_read", *n);
            }
            if let Some(n) = read_seconds {
                e = e.with_attr("read_seconds", *n);
            }
        }
        e
    }
}

/// One accepted event's effect on the member.
#[derive(Clone, Debug)]
struct Effect {
    day: chrono::NaiveDate,
    active: bool,
    adds: [u64; Counter::COUNT],
    giver: Option<u64>,
}

/// Every accepted event kept, everything recounted on each question.
#[derive(Clone, Debug)]
struct RefActivity {
    local: fn(DateTime<Utc>) -> chrono::NaiveDate,
    horizon: i64,
    effects: Vec<Effect>,
    seen: BTreeSet<u64>,
    recent_entered: Vec<u64>,
    recent_replied: Vec<u64>,
}

#[derive(Debug, PartialEq)]
enum Recorded {
    Changed,
    Unchanged,
    TooLate,
}

impl RefActivity {
    fn new(local: fn(DateTime<Utc>) -> chrono::NaiveDate, horizon: i64) -> RefActivity {
        RefActivity {
            local,
            horizon,
            effects: Vec::new(),
            seen: BTreeSet::new(),
            recent_entered: Vec::new(),
            recent_replied: Vec::new(),
        }
    }

    /// The table of the module docs.
    fn record(&mut self, ev: &Ev) -> Recorded {
        let mut adds = [0u64; Counter::COUNT];
        let mut active = false;
        let mut giver = None;
        let mut entered = None;
        let mut replied = None;
        let attr = |v: Option<i64>, default: u64| match v {
            Some(n) => u64::try_from(n).unwrap_or(default),
            None => default,
        };
        if ev.user == ME {
            match &ev.act {
                Act::Visited | Act::CheckIn | Act::Post | Act::Share | Act::InviteAccepted(_) => {
                    active = true
                }
                Act::SignedUp | Act::Lesson | Act::OtherCustom => {}
                Act::Flagged => adds[Counter::FlagsAgainst as usize] = 1,
                Act::View {
                    content,
                    posts_read,
                    read_seconds,
                } => {
                    active = true;
                    if !self.recent_entered.contains(content) {
                        adds[Counter::TopicsEntered as usize] = 1;
                        entered = Some(*content);
                    }
                    adds[Counter::PostsRead as usize] = attr(*posts_read, 1);
                    adds[Counter::ReadingSeconds as usize] = attr(*read_seconds, 0);
                }
                // Replying to or reacting to oneself counts nothing but
                // the active day.
                Act::Reply { content, to } => {
                    active = true;
                    if *to != Some(ME) && !self.recent_replied.contains(content) {
                        adds[Counter::TopicsRepliedTo as usize] = 1;
                        replied = Some(*content);
                    }
                }
                Act::Reaction { to, .. } => {
                    active = true;
                    if *to != Some(ME) {
                        adds[Counter::ReactionsGiven as usize] = 1;
                    }
                }
            }
            if matches!(ev.act, Act::Post) {
                adds[Counter::Posts as usize] = 1;
            }
        } else if let Act::Reaction { to: Some(ME), .. } = ev.act {
            adds[Counter::ReactionsReceived as usize] = 1;
            giver = Some(ev.user);
        }
        if !active && adds.iter().all(|&n| n == 0) {
            return Recorded::Unchanged;
        }
        if self.seen.contains(&ev.id) {
            return Recorded::Unchanged;
        }
        let day = (self.local)(ev.at);
        let newest = self
            .effects
            .iter()
            .map(|e| e.day)
            .max()
            .map_or(day, |d| d.max(day));
        if (newest - day).num_days() >= self.horizon {
            return Recorded::TooLate;
        }
        self.seen.insert(ev.id);
        for (recent, c) in [
            (&mut self.recent_entered, entered),
            (&mut self.recent_replied, replied),
        ] {
            if let Some(c) = c {
                recent.push(c);
                if recent.len() > 8 {
                    recent.remove(0);
                }
            }
        }
        self.effects.push(Effect {
            day,
            active,
            adds,
            giver,
        });
        Recorded::Changed
    }

    fn within(today: chrono::NaiveDate, window: Option<u16>) -> impl Fn(&Effect) -> bool {
        move |e| match window {
            None => true,
            Some(w) => e.day <= today && (today - e.day).num_days() < i64::from(w),
        }
    }

    fn count(&self, c: Counter, today: chrono::NaiveDate, window: Option<u16>) -> u64 {
        let w = Self::within(today, window);
        self.effects
            .iter()
            .filter(|e| w(e))
            .map(|e| e.adds[c as usize])
            .sum()
    }

    fn days_active(&self, today: chrono::NaiveDate, window: Option<u16>) -> u64 {
        let w = Self::within(today, window);
        let days: BTreeSet<_> = self
            .effects
            .iter()
            .filter(|e| w(e) && e.active)
            .map(|e| e.day)
            .collect();
        days.len() as u64
    }

    fn days_reacted(&self, today: chrono::NaiveDate, window: Option<u16>) -> u64 {
        let w = Self::within(today, window);
        let days: BTreeSet<_> = self
            .effects
            .iter()
            .filter(|e| w(e) && e.giver.is_some())
            .map(|e| e.day)
            .collect();
        days.len() as u64
    }

    /// Givers whose latest reaction falls in the window.
    fn givers(&self, today: chrono::NaiveDate, window: Option<u16>) -> u64 {
        let mut latest = BTreeMap::new();
        for e in &self.effects {
            if let Some(g) = e.giver {
                let d = latest.entry(g).or_insert(e.day);
                *d = (*d).max(e.day);
            }
        }
        let n = latest
            .values()
            .filter(|&&d| match window {
                None => true,
                Some(w) => d <= today && (today - d).num_days() < i64::from(w),
            })
            .count() as u64;
        n.min(growthkit::community::GIVERS as u64)
    }

    fn newest(&self) -> Option<chrono::NaiveDate> {
        self.effects.iter().map(|e| e.day).max()
    }
}

fn day_of(d: chrono::NaiveDate) -> LocalDay {
    LocalDay::from_date(d)
}

fn same_activity(lib: &MemberActivity, model: &RefActivity, windows: &[u16]) {
    for c in ALL_COUNTERS {
        assert_eq!(
            lib.total(c),
            model.count(c, chrono::NaiveDate::MAX, None),
            "total {c}"
        );
    }
    let Some(newest) = model.newest() else {
        return;
    };
    for ahead in [0, 1, 4] {
        let today = newest + TimeDelta::days(ahead);
        let lday = day_of(today);
        // A ladder's windows are at most its horizon.
        let windows = windows
            .iter()
            .copied()
            .filter(|&w| i64::from(w) <= model.horizon);
        for w in windows.map(Some).chain([None]) {
            for c in ALL_COUNTERS {
                assert_eq!(
                    lib.count(c, lday, w),
                    model.count(c, today, w),
                    "{c} in {w:?} to {today}"
                );
            }
            assert_eq!(
                lib.days_active(lday, w),
                model.days_active(today, w),
                "days active in {w:?} to {today}"
            );
            assert_eq!(
                lib.days_with_reactions_received(lday, w),
                model.days_reacted(today, w),
                "days reacted to in {w:?} to {today}"
            );
            assert_eq!(
                lib.distinct_givers(lday, w),
                model.givers(today, w),
                "givers in {w:?} to {today}"
            );
        }
    }
}

const ALL_COUNTERS: [Counter; Counter::COUNT] = [
    Counter::TopicsEntered,
    Counter::PostsRead,
    Counter::ReadingSeconds,
    Counter::Posts,
    Counter::TopicsRepliedTo,
    Counter::ReactionsGiven,
    Counter::ReactionsReceived,
    Counter::FlagsAgainst,
];

fn act() -> impl Strategy<Value = (u64, Act)> {
    let to = prop_oneof![Just(None), (1u64..=4).prop_map(Some)];
    let mine = prop_oneof![
        Just(Act::Visited),
        (
            0u64..12,
            prop_oneof![Just(None), (-3i64..40).prop_map(Some)],
            prop_oneof![Just(None), (-3i64..400).prop_map(Some)]
        )
            .prop_map(|(content, posts_read, read_seconds)| Act::View {
                content,
                posts_read,
                read_seconds
            }),
        Just(Act::Post),
        (0u64..12, to.clone()).prop_map(|(content, to)| Act::Reply { content, to }),
        (0u64..12, to.clone()).prop_map(|(content, to)| Act::Reaction { content, to }),
        Just(Act::CheckIn),
        Just(Act::SignedUp),
        Just(Act::Flagged),
        Just(Act::Share),
        (2u64..=4).prop_map(Act::InviteAccepted),
        Just(Act::Lesson),
        Just(Act::OtherCustom),
    ];
    let others = prop_oneof![
        (0u64..12, to).prop_map(|(content, to)| Act::Reaction { content, to }),
        (0u64..12).prop_map(|content| Act::Reply {
            content,
            to: Some(ME)
        }),
        Just(Act::Flagged),
        Just(Act::Visited),
        Just(Act::InviteAccepted(ME)),
        Just(Act::Share),
    ];
    prop_oneof![
        3 => mine.prop_map(|a| (ME, a)),
        2 => (2u64..=5, others),
    ]
}

/// Events over `days` days in any order; a few ids come twice.
fn events(days: i64, len: usize) -> impl Strategy<Value = Vec<Ev>> {
    vec((act(), 0..days * 24 * 60, 0u8..10), 0..len).prop_map(|raw| {
        let mut out: Vec<Ev> = Vec::new();
        for (i, ((user, act), minute, dup)) in raw.into_iter().enumerate() {
            let at = t0() + TimeDelta::minutes(minute);
            if dup == 0
                && let Some(prev) = out.last().cloned()
            {
                // The same id again, stamped anew.
                out.push(Ev { at, ..prev });
                continue;
            }
            out.push(Ev {
                id: i as u64 + 1,
                user,
                at,
                act,
            });
        }
        out
    })
}

/// Records `evs` with `ladder` and into the reference, comparing each step.
fn activity_against_reference<Tz: TimeZone>(
    ladder: &LevelLadder<Tz>,
    local: LocalDate,
    horizon: u16,
    evs: &[Ev],
) -> Result<(), TestCaseError> {
    let mut lib = MemberActivity::new(UserId(ME));
    let mut model = RefActivity::new(local, i64::from(horizon));
    for ev in evs {
        let before = lib.clone();
        let got = ladder.record(&mut lib, &ev.event());
        let want = model.record(ev);
        match want {
            Recorded::Changed => {
                prop_assert_eq!(got.ok(), Some(true), "{:?}", ev);
                prop_assert_eq!(lib.version(), before.version() + 1);
            }
            Recorded::Unchanged => {
                prop_assert_eq!(got.ok(), Some(false), "{:?}", ev);
                prop_assert_eq!(&lib, &before);
            }
            Recorded::TooLate => {
                prop_assert!(got.is_err(), "{:?}", ev);
                prop_assert_eq!(&lib, &before);
            }
        }
    }
    same_activity(&lib, &model, &[1, 2, 7, horizon]);
    let json = serde_json::to_string(&lib).unwrap();
    let back: MemberActivity = serde_json::from_str(&json).unwrap();
    prop_assert_eq!(&back, &lib);
    Ok(())
}

/// A ladder whose only job is its calendar, horizon and a dedupe window
/// that forgets nothing within a test.
fn calendar_ladder(offset_seconds: i32, horizon: u16) -> LevelLadder {
    LevelLadderSpec {
        utc_offset: UtcOffset::from_seconds(offset_seconds).unwrap(),
        base: "base".into(),
        low_water: 0.9,
        grace_days: 1,
        levels: vec![LevelSpec {
            name: "one".into(),
            requirements: vec![Requirement::DaysActive {
                value: 1,
                window_days: Some(horizon),
            }],
            keep_once_reached: false,
        }],
        dedupe: DedupeWindow {
            horizon_hours: 24 * 4000,
            max_ids: u16::MAX,
        },
    }
    .validate()
    .unwrap()
}

/// A calendar: the local date of an instant.
type LocalDate = fn(DateTime<Utc>) -> chrono::NaiveDate;

fn utc_day(at: DateTime<Utc>) -> chrono::NaiveDate {
    at.date_naive()
}
fn shanghai_day(at: DateTime<Utc>) -> chrono::NaiveDate {
    at.with_timezone(&chrono_tz::Asia::Shanghai).date_naive()
}
fn kathmandu_day(at: DateTime<Utc>) -> chrono::NaiveDate {
    at.with_timezone(&chrono_tz::Asia::Kathmandu).date_naive()
}
/// New York: a 23-hour 8 March 2026.
fn new_york_day(at: DateTime<Utc>) -> chrono::NaiveDate {
    at.with_timezone(&New_York).date_naive()
}
fn minus_five_day(at: DateTime<Utc>) -> chrono::NaiveDate {
    at.with_timezone(&chrono::FixedOffset::west_opt(5 * 3600).unwrap())
        .date_naive()
}

/// (library offset in seconds, the model's calendar): +08:00 is read in
/// the IANA zone Asia/Shanghai (no daylight saving since 1991), +05:45 in
/// Asia/Kathmandu.
const CALENDARS: [(i32, LocalDate); 4] = [
    (0, utc_day),
    (8 * 3600, shanghai_day),
    (5 * 3600 + 45 * 60, kathmandu_day),
    (-5 * 3600, minus_five_day),
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(64)
    ))]

    #[test]
    fn activity_matches_its_reference(
        cal in 0usize..=CALENDARS.len(),
        horizon in select(vec![1u16, 3, 10, 40]),
        evs in events(30, 80),
    ) {
        // One past the fixed calendars: New York, across the start of
        // daylight saving on 8 March.
        match CALENDARS.get(cal) {
            Some(&(offset, local)) => {
                activity_against_reference(&calendar_ladder(offset, horizon), local, horizon, &evs)?
            }
            None => {
                let spec = calendar_ladder(0, horizon).spec().clone();
                let ladder = spec.validate_in(New_York).unwrap();
                activity_against_reference(&ladder, new_york_day, horizon, &evs)?
            }
        }
    }

    /// More givers than are remembered: a window ending on or after the
    /// latest day counts them exactly up to `GIVERS`, and that many beyond.
    #[test]
    fn many_givers_count_up_to_the_limit(
        gifts in vec((2u64..40, 0i64..20 * 24), 0..80),
    ) {
        let ladder = calendar_ladder(0, 30);
        let mut lib = MemberActivity::new(UserId(ME));
        let mut model = RefActivity::new(utc_day, 30);
        for (i, (from, hour)) in gifts.into_iter().enumerate() {
            let ev = Ev {
                id: i as u64 + 1,
                user: from,
                at: t0() + TimeDelta::hours(hour),
                act: Act::Reaction { content: 1, to: Some(ME) },
            };
            prop_assert_eq!(ladder.record(&mut lib, &ev.event()).unwrap(), true);
            prop_assert_eq!(model.record(&ev), Recorded::Changed);
        }
        same_activity(&lib, &model, &[1, 3, 7, 30]);
    }
}

// ---------------------------------------------------------------------------
// Member levels
// ---------------------------------------------------------------------------

/// The low-water mark as a fraction `num / den`, so the reference compares
/// whole numbers.
#[derive(Clone, Copy, Debug)]
struct Frac(u64, u64);

impl Frac {
    fn f64(self) -> f64 {
        self.0 as f64 / self.1 as f64
    }
}

#[derive(Clone, Copy, Debug)]
struct RefCheck {
    requirement: Requirement,
    /// `None` for unknown.
    actual: Option<f64>,
    met: bool,
    holds: bool,
}

#[derive(Clone, Debug, PartialEq)]
struct RefLevel {
    level: u8,
    locked: bool,
    below_since: Option<chrono::NaiveDate>,
    version: u64,
}

/// Top fractions are whole twentieths: `top_fraction == k / 20`.
#[derive(Clone, Copy, Debug)]
struct RefInputs {
    joined_at: Option<DateTime<Utc>>,
    top_twentieths: Option<u64>,
}

impl RefInputs {
    fn lib(self) -> LevelInputs {
        LevelInputs {
            joined_at: self.joined_at,
            top_fraction: self.top_twentieths.map(|k| k as f64 / 20.0),
        }
    }
}

struct RefLadder<'a> {
    spec: &'a LevelLadderSpec,
    lw: Frac,
    local: fn(DateTime<Utc>) -> chrono::NaiveDate,
}

impl RefLadder<'_> {
    /// Level `level`'s requirements judged as the docs say.
    fn check(
        &self,
        level: u8,
        act: &RefActivity,
        inputs: RefInputs,
        now: DateTime<Utc>,
    ) -> Vec<RefCheck> {
        let Frac(num, den) = self.lw;
        let today = (self.local)(now);
        // At least `need`: in full, and at `num / den` of it.
        let at_least = |a: u64, need: u64| (a >= need, a * den >= need * num);
        self.spec.levels[usize::from(level) - 1]
            .requirements
            .iter()
            .map(|&r| {
                let (actual, met, holds) = match r {
                    Requirement::AtLeast {
                        counter,
                        value,
                        window_days,
                    } => {
                        let a = act.count(counter, today, window_days);
                        let (m, h) = at_least(a, value);
                        (Some(a as f64), m, h)
                    }
                    Requirement::AtMost {
                        counter,
                        value,
                        window_days,
                    } => {
                        // Kept up to `value / low_water`.
                        let a = act.count(counter, today, window_days);
                        (Some(a as f64), a <= value, a * num <= value * den)
                    }
                    Requirement::DaysActive { value, window_days } => {
                        let a = act.days_active(today, window_days);
                        let (m, h) = at_least(a, value);
                        (Some(a as f64), m, h)
                    }
                    Requirement::ReceivedFrom {
                        reactions,
                        members,
                        days,
                        window_days,
                    } => {
                        let got = act.count(Counter::ReactionsReceived, today, window_days);
                        let parts = [
                            at_least(got, reactions),
                            at_least(act.givers(today, window_days), members),
                            at_least(act.days_reacted(today, window_days), days),
                        ];
                        (
                            Some(got as f64),
                            parts.iter().all(|p| p.0),
                            parts.iter().all(|p| p.1),
                        )
                    }
                    Requirement::Tenure { days } => match inputs.joined_at {
                        Some(j) => {
                            let secs = (now - j).num_seconds();
                            let whole = if secs < 0 { 0 } else { (secs / 86_400) as u64 };
                            let (m, h) = at_least(whole, days);
                            (Some(whole as f64), m, h)
                        }
                        None => (None, false, false),
                    },
                    Requirement::ScoreTopPercent { percent } => match inputs.top_twentieths {
                        // k / 20 < p / 100, and < p / 100 / low_water.
                        Some(k) => {
                            let p = percent as u64;
                            (Some(k as f64 * 5.0), 5 * k < p, 5 * k * num < p * den)
                        }
                        None => (None, false, false),
                    },
                };
                RefCheck {
                    requirement: r,
                    actual,
                    met,
                    holds,
                }
            })
            .collect()
    }

    fn top(&self) -> u8 {
        self.spec.levels.len() as u8
    }

    /// `(from, to, demoted below since, checks)` of the change, if any.
    #[allow(clippy::type_complexity)]
    fn step(
        &self,
        lv: &mut RefLevel,
        act: &RefActivity,
        inputs: RefInputs,
        now: DateTime<Utc>,
    ) -> Option<(u8, u8, Option<chrono::NaiveDate>, Vec<RefCheck>)> {
        if lv.locked {
            return None;
        }
        let from = lv.level;
        // Up one level at a time while the next level is met.
        let mut to = from;
        let mut checks = Vec::new();
        while to < self.top() {
            let next = self.check(to + 1, act, inputs, now);
            if !next.iter().all(|c| c.met) {
                break;
            }
            to += 1;
            checks = next;
        }
        if to > from {
            lv.level = to;
            lv.below_since = None;
            lv.version += 1;
            return Some((from, to, None, checks));
        }
        if from == 0 || self.spec.levels[usize::from(from) - 1].keep_once_reached {
            return None;
        }
        let current = self.check(from, act, inputs, now);
        let today = (self.local)(now);
        if current.iter().all(|c| c.holds) {
            if lv.below_since.take().is_some() {
                lv.version += 1;
            }
            return None;
        }
        let since = lv.below_since.unwrap_or(today);
        if (today - since).num_days() >= i64::from(self.spec.grace_days) {
            lv.level = from - 1;
            lv.below_since = None;
            lv.version += 1;
            return Some((from, from - 1, Some(since), current));
        }
        if lv.below_since.is_none() {
            lv.below_since = Some(today);
            lv.version += 1;
        }
        None
    }
}

fn same_checks(lib: &[growthkit::community::RequirementCheck], model: &[RefCheck]) {
    assert_eq!(lib.len(), model.len());
    for (l, m) in lib.iter().zip(model) {
        assert_eq!(l.requirement, m.requirement);
        match m.actual {
            // A percent is the fraction times 100, rounded as floats do.
            Some(a) => assert!(
                (l.actual - a).abs() <= 1e-9 * a.abs().max(1.0),
                "actual of {:?}: {} against {a}",
                m.requirement,
                l.actual
            ),
            None => assert!(l.actual.is_nan(), "unknown {:?}", m.requirement),
        }
        assert_eq!((l.met, l.holds), (m.met, m.holds), "{:?}", m);
    }
}

fn same_change(
    lib: &Option<LevelChange>,
    model: &Option<(u8, u8, Option<chrono::NaiveDate>, Vec<RefCheck>)>,
) {
    match (lib, model) {
        (None, None) => {}
        (Some(c), Some((from, to, since, checks))) => {
            assert_eq!((c.from, c.to), (*from, *to));
            match since {
                None => assert_eq!(c.reason, ChangeReason::Promoted),
                Some(d) => assert_eq!(
                    c.reason,
                    ChangeReason::Demoted {
                        below_since: day_of(*d)
                    }
                ),
            }
            same_checks(&c.checks, checks);
            if since.is_some() {
                assert!(
                    c.checks.iter().any(|c| !c.holds),
                    "a demotion names a missed requirement"
                );
            } else {
                assert!(c.checks.iter().all(|c| c.met));
            }
        }
        _ => panic!("library {lib:?}, reference {model:?}"),
    }
}

fn same_level(lib: &MemberLevel, model: &RefLevel) {
    assert_eq!(lib.level(), model.level);
    assert_eq!(lib.is_locked(), model.locked);
    assert_eq!(lib.below_since(), model.below_since.map(day_of));
    assert_eq!(lib.version(), model.version);
}

#[derive(Clone, Debug)]
enum LevelOp {
    Event(Ev),
    Step { inputs: RefInputs },
    Lock(u8),
    Unlock,
}

fn window() -> impl Strategy<Value = Option<u16>> {
    prop_oneof![Just(None), select(vec![1u16, 3, 7, 10]).prop_map(Some)]
}

fn requirement() -> impl Strategy<Value = Requirement> {
    let counter = select(ALL_COUNTERS.to_vec());
    prop_oneof![
        3 => (counter.clone(), prop_oneof![1u64..8, 8u64..60], window()).prop_map(|(counter, value, window_days)| {
            Requirement::AtLeast { counter, value, window_days }
        }),
        1 => (counter, prop_oneof![0u64..5, 5u64..30], window()).prop_map(|(counter, value, window_days)| {
            Requirement::AtMost { counter, value, window_days }
        }),
        2 => (1u64..5, window()).prop_map(|(value, window_days)| Requirement::DaysActive {
            value: window_days.map_or(value, |w| value.min(u64::from(w))),
            window_days,
        }),
        1 => (1u64..5, 1u64..4, 1u64..4, window()).prop_map(|(reactions, members, days, window_days)| {
            Requirement::ReceivedFrom {
                reactions,
                members,
                days: window_days.map_or(days, |w| days.min(u64::from(w))),
                window_days,
            }
        }),
        1 => (1u64..6).prop_map(|days| Requirement::Tenure { days }),
        1 => (1u64..=100).prop_map(|percent| {
            Requirement::ScoreTopPercent { percent: percent as f64 }
        }),
    ]
}

const LOW_WATERS: [Frac; 11] = [
    Frac(11, 20),
    Frac(7, 100),
    Frac(1, 2),
    Frac(3, 4),
    Frac(9, 10),
    Frac(1, 1),
    Frac(7, 10),
    Frac(3, 10),
    Frac(4, 5),
    Frac(1, 10),
    Frac(3, 5),
];

fn ladder_spec() -> impl Strategy<Value = (LevelLadderSpec, Frac, usize)> {
    (
        0usize..=CALENDARS.len(),
        select(LOW_WATERS.to_vec()),
        0u16..5,
        vec((vec(requirement(), 1..4), any::<bool>()), 1..4),
    )
        .prop_map(|(cal, lw, grace_days, levels)| {
            let spec = LevelLadderSpec {
                utc_offset: UtcOffset::from_seconds(CALENDARS.get(cal).map_or(0, |c| c.0)).unwrap(),
                base: "base".into(),
                low_water: lw.f64(),
                grace_days,
                levels: levels
                    .into_iter()
                    .enumerate()
                    .map(|(i, (requirements, keep))| LevelSpec {
                        name: format!("level{}", i + 1).as_str().into(),
                        requirements,
                        keep_once_reached: keep,
                    })
                    .collect(),
                dedupe: DedupeWindow {
                    horizon_hours: 24 * 4000,
                    max_ids: u16::MAX,
                },
            };
            (spec, lw, cal)
        })
}

fn inputs() -> impl Strategy<Value = RefInputs> {
    (
        prop_oneof![Just(None), (-2 * 24i64..10 * 24).prop_map(Some)],
        prop_oneof![Just(None), (0u64..=20).prop_map(Some)],
    )
        .prop_map(|(joined, top)| RefInputs {
            joined_at: joined.map(|h| t0() + TimeDelta::hours(h) + TimeDelta::minutes(17)),
            top_twentieths: top,
        })
}

/// Operations on a clock that moves forward; events may be up to two days
/// late, steps happen at the clock.
fn level_ops(len: usize) -> impl Strategy<Value = Vec<(i64, LevelOp)>> {
    let op = prop_oneof![
        6 => (act(), 0i64..48 * 60).prop_map(|((user, act), late)| (late, Some((user, act)), None)),
        3 => inputs().prop_map(|i| (0, None, Some(i))),
        1 => (0u8..4).prop_map(|l| (-(i64::from(l)) - 1, None, None)),
        1 => Just((-100, None, None)),
    ];
    vec((0i64..30 * 60, op), 0..len).prop_map(|raw| {
        let mut out = Vec::new();
        let mut clock = 2 * 24 * 60;
        for (i, (gap, (late, act, inputs))) in raw.into_iter().enumerate() {
            clock += gap;
            let op = match (act, inputs) {
                (Some((user, act)), _) => LevelOp::Event(Ev {
                    id: i as u64 + 1,
                    user,
                    at: t0() + TimeDelta::minutes(clock - late),
                    act,
                }),
                (None, Some(inputs)) => LevelOp::Step { inputs },
                _ if late == -100 => LevelOp::Unlock,
                _ => LevelOp::Lock((-late - 1) as u8),
            };
            out.push((clock, op));
        }
        out
    })
}

/// Runs `ops` on the library and the reference; the levels reached, in order.
fn run_levels(spec: &LevelLadderSpec, lw: Frac, cal: usize, ops: &[(i64, LevelOp)]) -> Vec<u8> {
    // One past the fixed calendars: New York, through `validate_in`.
    match CALENDARS.get(cal) {
        Some(&(_, local)) => {
            let ladder = spec.clone().validate().expect("valid");
            run_levels_with(&ladder, lw, local, ops)
        }
        None => {
            let ladder = spec.clone().validate_in(New_York).expect("valid");
            run_levels_with(&ladder, lw, new_york_day, ops)
        }
    }
}

/// [`run_levels`] with the ladder built, counting days in `local`.
fn run_levels_with<Tz: TimeZone>(
    ladder: &LevelLadder<Tz>,
    lw: Frac,
    local: LocalDate,
    ops: &[(i64, LevelOp)],
) -> Vec<u8> {
    let mut path = vec![0];
    let spec = ladder.spec();
    let model_ladder = RefLadder { spec, lw, local };
    let mut act = MemberActivity::new(UserId(ME));
    let mut ref_act = RefActivity::new(local, i64::from(ladder.horizon_days()));
    let mut lv = MemberLevel::new(UserId(ME));
    let mut ref_lv = RefLevel {
        level: 0,
        locked: false,
        below_since: None,
        version: 0,
    };
    for (clock, op) in ops {
        let now = t0() + TimeDelta::minutes(*clock);
        match op {
            LevelOp::Event(ev) => {
                let got = ladder.record(&mut act, &ev.event());
                let want = ref_act.record(ev);
                match want {
                    Recorded::Changed => assert_eq!(got, Ok(true), "{ev:?}"),
                    Recorded::Unchanged => assert_eq!(got, Ok(false), "{ev:?}"),
                    Recorded::TooLate => assert!(got.is_err(), "{ev:?}"),
                }
            }
            LevelOp::Step { inputs } => {
                for level in 1..=ladder.top() {
                    same_checks(
                        &ladder.check(level, &act, inputs.lib(), now),
                        &model_ladder.check(level, &ref_act, *inputs, now),
                    );
                }
                let got = ladder.step(&mut lv, &act, inputs.lib(), now).unwrap();
                let want = model_ladder.step(&mut ref_lv, &ref_act, *inputs, now);
                same_change(&got, &want);
                // A change reads back from JSON as it was, unknown values too.
                let json = serde_json::to_string(&got).unwrap();
                let back: Option<LevelChange> = serde_json::from_str(&json)
                    .unwrap_or_else(|e| panic!("{json} does not read back: {e}"));
                same_change(&back, &want);
            }
            LevelOp::Lock(l) => {
                let got = lv.lock(ladder, *l);
                if *l <= ladder.top() {
                    assert_eq!(got, Ok(()));
                    ref_lv = RefLevel {
                        level: *l,
                        locked: true,
                        below_since: None,
                        version: ref_lv.version + 1,
                    };
                } else {
                    assert!(got.is_err());
                }
            }
            LevelOp::Unlock => {
                lv.unlock().unwrap();
                if ref_lv.locked {
                    ref_lv.locked = false;
                    ref_lv.version += 1;
                }
            }
        }
        same_level(&lv, &ref_lv);
        if path.last() != Some(&lv.level()) {
            path.push(lv.level());
        }
        let back: MemberLevel = serde_json::from_str(&serde_json::to_string(&lv).unwrap()).unwrap();
        assert_eq!(back, lv);
    }
    path
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(64)
    ))]

    #[test]
    fn levels_match_their_reference((spec, lw, cal) in ladder_spec(), ops in level_ops(60)) {
        run_levels(&spec, lw, cal, &ops);
        let json = serde_json::to_string(&spec).unwrap();
        let back: LevelLadderSpec = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(back, spec);
    }
}

// ---------------------------------------------------------------------------
// The shipped fixtures, stepped day by day against the reference
// ---------------------------------------------------------------------------

/// One day's events at `intensity` 0 (away) to 3 (busy), at most 12.
fn day_events(day: i64, intensity: u8, first_id: u64) -> Vec<(i64, LevelOp)> {
    let mut acts: Vec<(u64, Act)> = Vec::new();
    if intensity >= 1 {
        acts.push((ME, Act::Visited));
        for j in 0..2 * i64::from(intensity) {
            acts.push((
                ME,
                Act::View {
                    content: ((day * 7 + j) % 40) as u64,
                    posts_read: Some(60 * i64::from(intensity)),
                    read_seconds: Some(300),
                },
            ));
        }
    }
    if intensity >= 2 {
        acts.push((
            ME,
            Act::Reply {
                content: (day % 15) as u64,
                to: Some(2),
            },
        ));
        acts.push((
            ME,
            Act::Reaction {
                content: 1,
                to: Some(3 + (day % 4) as u64),
            },
        ));
        acts.push((
            2 + (day % 7) as u64,
            Act::Reaction {
                content: 2,
                to: Some(ME),
            },
        ));
    }
    if intensity == 3 && day % 23 == 0 {
        acts.push((ME, Act::Flagged));
    }
    let minutes = day * 24 * 60;
    acts.into_iter()
        .enumerate()
        .map(|(i, (user, act))| {
            let clock = minutes + 10 * i as i64;
            let ev = Ev {
                id: first_id + i as u64,
                user,
                at: t0() + TimeDelta::minutes(clock),
                act,
            };
            (clock, LevelOp::Event(ev))
        })
        .collect()
}

/// Days of activity in phases of one intensity each, a step at the end of
/// every day with the member's place in the ranking that day.
fn fixture_ops(phases: &[(u8, u8)], tops: &[u64]) -> Vec<(i64, LevelOp)> {
    let mut ops = Vec::new();
    let mut day = 0i64;
    let mut id = 1;
    for &(intensity, days) in phases {
        for _ in 0..days {
            let evs = day_events(day, intensity, id);
            id += evs.len() as u64;
            ops.extend(evs);
            let top = tops[day as usize % tops.len()];
            ops.push((
                day * 24 * 60 + 23 * 60,
                LevelOp::Step {
                    inputs: RefInputs {
                        joined_at: Some(t0() - TimeDelta::days(1)),
                        top_twentieths: Some(top),
                    },
                },
            ));
            day += 1;
        }
    }
    ops
}

#[test]
fn the_fixtures_validate_and_read_back() {
    for ladder in [
        LevelLadder::discourse_trust_levels(),
        LevelLadder::orbit_levels(),
    ] {
        assert_eq!(ladder.top(), 3);
        assert_eq!(ladder.spec().clone().validate().as_ref(), Ok(&ladder));
        let json = serde_json::to_string(ladder.spec()).unwrap();
        let back: LevelLadderSpec = serde_json::from_str(&json).unwrap();
        assert_eq!(&back, ladder.spec());
        assert_eq!(ladder.spec().low_water, 0.9);
        assert_eq!(ladder.spec().grace_days, 14);
    }
    let tl = LevelLadder::discourse_trust_levels();
    let keeps: Vec<bool> = tl
        .spec()
        .levels
        .iter()
        .map(|l| l.keep_once_reached)
        .collect();
    assert_eq!(keeps, [true, true, false]);
    assert_eq!(tl.horizon_days(), 100);
    assert_eq!(LevelLadder::orbit_levels().horizon_days(), 90);
}

#[test]
fn discourse_busy_for_a_hundred_days_then_quiet_reaches_tl3_and_drops_to_tl2() {
    let ladder = LevelLadder::discourse_trust_levels();
    let ops = fixture_ops(&[(3, 100), (0, 40)], &[0]);
    assert_eq!(
        run_levels(ladder.spec(), Frac(9, 10), 0, &ops),
        [0, 1, 2, 3, 2]
    );
}

fn phases() -> impl Strategy<Value = Vec<(u8, u8)>> {
    vec((0u8..=3, 1u8..30), 1..8)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(8)
    ))]

    #[test]
    fn the_fixtures_step_as_their_reference(
        discourse in any::<bool>(),
        phases in phases(),
        tops in vec(0u64..=20, 1..10),
    ) {
        let ladder = if discourse {
            LevelLadder::discourse_trust_levels()
        } else {
            LevelLadder::orbit_levels()
        };
        run_levels(ladder.spec(), Frac(9, 10), 0, &fixture_ops(&phases, &tops));
    }
}

// ---------------------------------------------------------------------------
// Validation, tenure across daylight saving, score snapshots
// ---------------------------------------------------------------------------

fn one_level(requirement: Requirement) -> LevelLadderSpec {
    LevelLadderSpec {
        utc_offset: UtcOffset::UTC,
        base: "new".into(),
        low_water: 0.9,
        grace_days: 14,
        levels: vec![LevelSpec {
            name: "one".into(),
            requirements: vec![requirement],
            keep_once_reached: false,
        }],
        dedupe: DedupeWindow::default(),
    }
}

#[test]
fn ladders_are_refused_exactly_where_the_docs_say() {
    use growthkit::community::LevelLadderError as E;
    let c = Counter::Posts;
    let ok = [
        Requirement::AtLeast {
            counter: c,
            value: 1,
            window_days: Some(1),
        },
        Requirement::AtLeast {
            counter: c,
            value: 1,
            window_days: Some(3660),
        },
        Requirement::AtMost {
            counter: c,
            value: 0,
            window_days: None,
        },
        Requirement::DaysActive {
            value: 1,
            window_days: None,
        },
        Requirement::ReceivedFrom {
            reactions: 1,
            members: 1,
            days: 1,
            window_days: None,
        },
        Requirement::ReceivedFrom {
            reactions: 1,
            members: 16,
            days: 7,
            window_days: Some(7),
        },
        Requirement::DaysActive {
            value: 7,
            window_days: Some(7),
        },
        Requirement::Tenure { days: 1 },
        Requirement::ScoreTopPercent { percent: 100.0 },
        Requirement::ScoreTopPercent { percent: 0.5 },
    ];
    for r in ok {
        assert!(one_level(r).validate().is_ok(), "{r:?}");
    }
    let bad = [
        Requirement::AtLeast {
            counter: c,
            value: 0,
            window_days: None,
        },
        Requirement::AtLeast {
            counter: c,
            value: 1,
            window_days: Some(0),
        },
        Requirement::AtLeast {
            counter: c,
            value: 1,
            window_days: Some(3661),
        },
        Requirement::AtMost {
            counter: c,
            value: 3,
            window_days: Some(0),
        },
        Requirement::DaysActive {
            value: 0,
            window_days: None,
        },
        Requirement::ReceivedFrom {
            reactions: 0,
            members: 1,
            days: 1,
            window_days: None,
        },
        Requirement::ReceivedFrom {
            reactions: 1,
            members: 0,
            days: 1,
            window_days: None,
        },
        Requirement::ReceivedFrom {
            reactions: 1,
            members: 17,
            days: 1,
            window_days: None,
        },
        Requirement::ReceivedFrom {
            reactions: 1,
            members: 1,
            days: 0,
            window_days: None,
        },
        // More days than the window has.
        Requirement::ReceivedFrom {
            reactions: 9,
            members: 1,
            days: 8,
            window_days: Some(7),
        },
        Requirement::DaysActive {
            value: 8,
            window_days: Some(7),
        },
        Requirement::Tenure { days: 0 },
        Requirement::ScoreTopPercent { percent: 0.0 },
        Requirement::ScoreTopPercent { percent: 100.5 },
        Requirement::ScoreTopPercent { percent: f64::NAN },
        Requirement::ScoreTopPercent { percent: -1.0 },
    ];
    for r in bad {
        assert!(
            matches!(
                one_level(r).validate(),
                Err(E::Requirement { index: 0, .. })
            ),
            "{r:?}"
        );
    }
    let base = one_level(Requirement::Tenure { days: 1 });
    for lw in [0.0, -0.5, 1.01, f64::NAN, f64::INFINITY] {
        let spec = LevelLadderSpec {
            low_water: lw,
            ..base.clone()
        };
        assert!(matches!(spec.validate(), Err(E::LowWater { .. })), "{lw}");
    }
    assert!(
        LevelLadderSpec {
            low_water: 1.0,
            ..base.clone()
        }
        .validate()
        .is_ok()
    );
    assert_eq!(
        LevelLadderSpec {
            levels: vec![],
            ..base.clone()
        }
        .validate(),
        Err(E::NoLevels)
    );
    let level = |name: &str| LevelSpec {
        name: name.into(),
        requirements: vec![Requirement::Tenure { days: 1 }],
        keep_once_reached: false,
    };
    let many = |n: usize| LevelLadderSpec {
        levels: (0..n).map(|i| level(&format!("l{i}"))).collect(),
        ..base.clone()
    };
    assert_eq!(many(255).validate().map(|l| l.top()), Ok(255));
    assert!(matches!(
        many(256).validate(),
        Err(E::TooManyLevels { count: 256 })
    ));
    for names in [["new", "a"], ["a", "a"]] {
        let spec = LevelLadderSpec {
            levels: names.iter().map(|n| level(n)).collect(),
            ..base.clone()
        };
        assert!(
            matches!(spec.validate(), Err(E::DuplicateName { .. })),
            "{names:?}"
        );
    }
    let empty = LevelLadderSpec {
        levels: vec![LevelSpec {
            requirements: vec![],
            ..level("a")
        }],
        ..base.clone()
    };
    assert!(matches!(empty.validate(), Err(E::NoRequirements { .. })));
    for dedupe in [
        DedupeWindow {
            horizon_hours: 0,
            max_ids: 1,
        },
        DedupeWindow {
            horizon_hours: 1,
            max_ids: 0,
        },
    ] {
        let spec = LevelLadderSpec {
            dedupe,
            ..base.clone()
        };
        assert!(matches!(spec.validate(), Err(E::Zero { .. })));
    }
}

#[test]
fn tenure_counts_whole_24_hour_periods_across_a_daylight_saving_change() {
    use chrono_tz::America::New_York;
    let ladder = one_level(Requirement::Tenure { days: 1 })
        .validate()
        .unwrap();
    let a = MemberActivity::new(UserId(ME));
    // 23:00 on the Saturday before clocks go forward (Sunday 8 March 2026).
    let joined = New_York
        .with_ymd_and_hms(2026, 3, 7, 23, 0, 0)
        .unwrap()
        .with_timezone(&Utc);
    let inputs = LevelInputs {
        joined_at: Some(joined),
        top_fraction: None,
    };
    let at = |d, h| {
        New_York
            .with_ymd_and_hms(2026, 3, d, h, 0, 0)
            .unwrap()
            .with_timezone(&Utc)
    };
    // 23:00 on Sunday is only 23 hours later; midnight is 24.
    for (now, days, met) in [
        (at(8, 23), 0.0, false),
        (at(9, 0), 1.0, true),
        (at(9, 23), 1.0, true),
        (at(10, 0), 2.0, true),
    ] {
        let c = &ladder.check(1, &a, inputs, now)[0];
        assert_eq!((c.actual, c.met), (days, met), "{now}");
    }
    // Before joining: no tenure, not negative.
    let c = &ladder.check(1, &a, inputs, joined - TimeDelta::days(3))[0];
    assert_eq!((c.actual, c.met, c.holds), (0.0, false, false));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(64)
    ))]

    #[test]
    fn top_fractions_count_the_scores_strictly_above(
        scores in vec(prop_oneof![
            4 => (-5i32..5).prop_map(f64::from),
            1 => select(vec![f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.0, 0.5]),
        ], 0..20),
        probe in prop_oneof![
            4 => (-6i32..6).prop_map(f64::from),
            1 => select(vec![f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.0, 0.5]),
        ],
    ) {
        let snap = growthkit::community::ScoreSnapshot::new(scores.iter().copied());
        let ranked: Vec<f64> = scores.iter().copied().filter(|s| !s.is_nan()).collect();
        prop_assert_eq!(snap.len(), ranked.len());
        let want = if probe.is_nan() {
            1.0
        } else if ranked.is_empty() {
            0.0
        } else {
            ranked.iter().filter(|&&s| s > probe).count() as f64 / ranked.len() as f64
        };
        prop_assert_eq!(snap.top_fraction(probe), want);
    }
}

// ---------------------------------------------------------------------------
// States at their largest version refuse to change, and change nothing
// ---------------------------------------------------------------------------

/// `value` with its `version` field set to `u64::MAX`, through JSON.
fn at_max_version<T: serde::Serialize + serde::de::DeserializeOwned>(value: &T) -> T {
    let mut json = serde_json::to_value(value).unwrap();
    json["version"] = serde_json::json!(u64::MAX);
    serde_json::from_value(json).unwrap()
}

#[test]
fn states_at_the_largest_version_refuse_every_change() {
    let (c, _) = every_role();
    let full = at_max_version(&c);
    for op in [
        Op::Join(6),
        Op::Invite(3, 6),
        Op::Leave(3),
        Op::Promote(1, 3),
        Op::Mute(2, 3),
        Op::Unmute(2, 4),
        Op::Ban(1, 2),
        Op::Unban(2, 5),
        Op::Transfer(1, 3),
    ] {
        let mut c = full.clone();
        assert_eq!(
            run_op(&mut c, op, t0()),
            Err(MembershipError::Overflow { community: CID }),
            "{op:?}"
        );
        assert_eq!(c, full);
    }
    // A refusal for another reason is still that reason.
    let mut c = full.clone();
    assert_eq!(run_op(&mut c, Op::Join(5), t0()), Err(banned(5)));

    let ladder = LevelLadder::orbit_levels();
    let me = UserId(ME);
    let mut a = MemberActivity::new(me);
    let visit = |id, days| {
        Event::new(
            EventId(id),
            me,
            t0() + TimeDelta::days(days),
            EventKind::Visited,
        )
    };
    ladder.record(&mut a, &visit(1, 0)).unwrap();
    ladder.record(&mut a, &visit(2, 1)).unwrap();
    let full = at_max_version(&a);
    let mut b = full.clone();
    assert!(ladder.record(&mut b, &visit(3, 2)).is_err());
    assert_eq!(b, full);
    // A duplicate changes nothing and is no error.
    assert_eq!(ladder.record(&mut b, &visit(2, 1)), Ok(false));

    let top = LevelInputs {
        joined_at: None,
        top_fraction: Some(0.0),
    };
    let level = at_max_version(&MemberLevel::new(me));
    let mut l = level.clone();
    assert!(
        ladder
            .step(&mut l, &a, top, t0() + TimeDelta::days(1))
            .is_err()
    );
    assert_eq!(l, level);
    assert!(l.lock(&ladder, 2).is_err());
    assert_eq!(l, level);
    // Nothing to change: no error.
    let bottom = LevelInputs {
        joined_at: None,
        top_fraction: Some(1.0),
    };
    assert_eq!(
        ladder.step(&mut l, &a, bottom, t0() + TimeDelta::days(1)),
        Ok(None)
    );
    assert_eq!(l.unlock(), Ok(()));
    assert_eq!(l, level);
    // Another member's activity moves nobody.
    let mut other = MemberLevel::new(UserId(2));
    assert_eq!(
        ladder.step(&mut other, &a, top, t0() + TimeDelta::days(1)),
        Err(growthkit::community::LevelError::WrongMember {
            level: UserId(2),
            activity: me,
        })
    );
    assert_eq!(other, MemberLevel::new(UserId(2)));
}

#[test]
fn a_grace_period_starts_is_cancelled_starts_again_and_expires() {
    let ladder = LevelLadderSpec {
        utc_offset: UtcOffset::from_seconds(8 * 3600).unwrap(),
        base: "new".into(),
        low_water: 0.5,
        grace_days: 2,
        levels: vec![LevelSpec {
            name: "seen".into(),
            requirements: vec![Requirement::DaysActive {
                value: 2,
                window_days: Some(3),
            }],
            keep_once_reached: false,
        }],
        dedupe: DedupeWindow::default(),
    }
    .validate()
    .unwrap();
    let me = UserId(ME);
    let mut a = MemberActivity::new(me);
    // 09:00 in Beijing on day `d`.
    let at = |d: i64| t0() + TimeDelta::days(d) - TimeDelta::hours(8);
    let day = |d: i64| LocalDay::from_date(at(d).date_naive());
    let visit = |a: &mut MemberActivity, d: i64| {
        let e = Event::new(EventId(d as u64), me, at(d), EventKind::Visited);
        assert_eq!(ladder.record(a, &e), Ok(true));
    };
    let mut level = MemberLevel::new(me);
    let step = |level: &mut MemberLevel, a: &MemberActivity, d: i64| {
        ladder
            .step(level, a, LevelInputs::default(), at(d))
            .unwrap()
            .map(|c| (c.from, c.to, c.reason, c.checks[0].actual))
    };
    visit(&mut a, 0);
    visit(&mut a, 1);
    assert_eq!(
        step(&mut level, &a, 1),
        Some((0, 1, ChangeReason::Promoted, 2.0))
    );
    // Days 2 to 4: not one active day, below half of 2: the grace starts.
    assert_eq!(step(&mut level, &a, 4), None);
    assert_eq!((level.below_since(), level.version()), (Some(day(4)), 2));
    visit(&mut a, 5);
    // One active day is half of two: it holds again, the grace ends.
    assert_eq!(step(&mut level, &a, 5), None);
    assert_eq!((level.below_since(), level.version()), (None, 3));
    assert_eq!(step(&mut level, &a, 8), None);
    assert_eq!(step(&mut level, &a, 9), None);
    assert_eq!((level.below_since(), level.version()), (Some(day(8)), 4));
    let down = step(&mut level, &a, 10);
    assert_eq!(
        down,
        Some((
            1,
            0,
            ChangeReason::Demoted {
                below_since: day(8)
            },
            0.0
        ))
    );
    let mut l = MemberLevel::new(me);
    l.lock(&ladder, 1).unwrap();
    l.unlock().unwrap();
    // Versions: lock, unlock; then a grace start, a demotion.
    assert_eq!(l.version(), 2);
    assert_eq!(
        ladder.step(&mut l, &a, LevelInputs::default(), at(10)),
        Ok(None)
    );
    assert_eq!((l.below_since(), l.version()), (Some(day(10)), 3));
}

#[test]
fn a_ladder_written_with_only_its_levels_takes_the_documented_defaults() {
    let spec: LevelLadderSpec = serde_json::from_str(
        r#"{"base": "new", "levels": [{"name": "old", "requirements": [{"type": "tenure", "days": 3}]}]}"#,
    )
    .unwrap();
    assert_eq!(spec.utc_offset, UtcOffset::UTC);
    assert_eq!(spec.low_water, 0.9);
    assert_eq!(spec.grace_days, 14);
    assert_eq!(spec.dedupe, DedupeWindow::default());
    assert!(!spec.levels[0].keep_once_reached);
    // Unknown fields are refused rather than ignored.
    let typo = r#"{"base": "new", "grace": 3, "levels": [{"name": "old", "requirements": [{"type": "tenure", "days": 3}]}]}"#;
    assert!(serde_json::from_str::<LevelLadderSpec>(typo).is_err());
}
