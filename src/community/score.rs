//! Per-member engagement state and the scoring step shared by the online
//! and batch paths.
//!
//! A [`MemberScore`] holds two independent sides: what the member *gave*
//! (as actor) and what they *received* (as the target of replies, reactions
//! and accepted invitations). Each side keeps its decayed value with its
//! time, its two latest daily tallies, its recent partners for pair damping
//! and its own dedupe window. Because the sides never read each other, the
//! batch path can replay each member's given and received interactions
//! separately and still equal the online path exactly.
//!
//! Values are kept in millionths of a point (`u64`), so a saved state
//! round-trips exactly through any format.

use super::engagement::{EngagementModel, NO_CAP, PARTNERS};
use super::interaction::{Interaction, InteractionKind};
use super::membership::Standing;
use crate::dedupe::{Admission, RecentIds};
use crate::id::{EventId, UserId};
use crate::store::Versioned;
use crate::time::unix_millis;
use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

/// Millionths of a point per point.
const MICRO: f64 = 1_000_000.0;

/// Which side of an interaction a member was on.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The actor: credit by the kind's `given` weight.
    Given,
    /// The member aimed at: credit by the kind's `received` weight.
    Received,
}

/// Why a scoring step failed; the state is unchanged.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngagementError {
    /// The event is older than the member's dedupe window remembers, so
    /// whether it is new cannot be known.
    #[error("event {id:?} is too late for {user}: older than its score remembers")]
    TooLate {
        /// The event.
        id: EventId,
        /// The member.
        user: UserId,
    },
    /// The state belongs to neither the actor nor the target.
    #[error("event {id:?} does not involve {user}")]
    NotInvolved {
        /// The event.
        id: EventId,
        /// The state's member.
        user: UserId,
    },
    /// The state's version would overflow.
    #[error("version of {user}'s score would overflow")]
    Overflow {
        /// The member.
        user: UserId,
    },
}

/// What a step did, and why: the explanation behind every score change.
#[derive(Clone, Copy, PartialEq, Debug, Serialize, Deserialize)]
pub struct Credit {
    /// The side credited.
    pub side: Side,
    /// The kind.
    pub kind: InteractionKind,
    /// The kind's weight on this side.
    pub weight: f64,
    /// The pair-damping factor applied (1 without a partner or on a first
    /// interaction in the pair's window).
    pub damping: f64,
    /// Which repeat this was between the pair in the window (1 = first;
    /// 0 without a partner).
    pub repeat: u16,
    /// What was credited, in points at the interaction's own time.
    pub points: f64,
    /// Why the credit is what it is.
    pub outcome: Outcome,
}

/// The reason behind a [`Credit`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Outcome {
    /// Credited `weight × damping`.
    Credited,
    /// The kind's daily cap was already reached on that local day.
    Capped {
        /// The cap.
        cap: u16,
    },
    /// The interaction's local day is older than the two days of tallies
    /// kept, so its cap cannot be checked: nothing credited.
    DayForgotten,
    /// The kind has no weight on this side.
    Unweighted,
    /// The actor aimed at themselves.
    SelfInteraction,
    /// This user does not count (banned, departed).
    NotCounted {
        /// Who.
        user: UserId,
    },
    /// The event id was seen before; nothing changed.
    Duplicate,
}

/// One local day's credited interactions per kind.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
struct DayTally {
    /// The local day number (`i32::MIN`: none).
    day: i32,
    counts: [u16; InteractionKind::COUNT],
}

const NO_DAY: DayTally = DayTally {
    day: i32::MIN,
    counts: [0; InteractionKind::COUNT],
};

/// A recent partner and the pair's repeat count in its window.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
struct Partner {
    user: UserId,
    /// The local day the window started.
    since: i32,
    /// Interactions in the window; 0 marks an empty slot.
    count: u16,
}

const NO_PARTNER: Partner = Partner {
    user: UserId(0),
    since: i32::MIN,
    count: 0,
};

/// One side's state.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
struct Ledger {
    /// The decayed value in millionths of a point, as of `as_of`.
    micro: u64,
    /// Unix milliseconds of `micro` (`i64::MIN`: never credited).
    as_of: i64,
    /// The newest local day's tally first, then one older day.
    days: [DayTally; 2],
    partners: [Partner; PARTNERS],
    seen: RecentIds,
}

impl Default for Ledger {
    fn default() -> Self {
        Ledger {
            micro: 0,
            as_of: i64::MIN,
            days: [NO_DAY; 2],
            partners: [NO_PARTNER; PARTNERS],
            seen: RecentIds::new(),
        }
    }
}

/// One member's engagement: the aggregate a host saves per member (and per
/// community, if it scores communities apart).
///
/// ```
/// use chrono::{TimeDelta, TimeZone, Utc};
/// use growthkit::community::{EngagementModel, Everyone, Interaction, InteractionKind, MemberScore};
/// use growthkit::{EventId, UserId};
///
/// let model = EngagementModel::recommended();
/// let t = Utc.with_ymd_and_hms(2026, 3, 1, 2, 0, 0).unwrap();
/// let (alice, bob) = (UserId(1), UserId(2));
/// let (mut a, mut b) = (MemberScore::new(alice), MemberScore::new(bob));
/// // Alice replies to Bob three times: each repeat is worth half the one before.
/// for i in 0..3 {
///     let reply = Interaction {
///         id: EventId(i), at: t, actor: alice, target: Some(bob),
///         kind: InteractionKind::Reply, community: None, content: None,
///     };
///     model.score(&mut a, &reply, &Everyone)?;
///     let credit = model.score_explained(&mut b, &reply, &Everyone)?;
///     assert_eq!(credit.repeat, i as u16 + 1);
/// }
/// assert_eq!(a.score(&model, t), 3.0 * (1.0 + 0.5 + 0.25));
/// assert_eq!(b.score(&model, t), 4.0 * 1.75);
/// // Two weeks later (the half-life), half is left.
/// assert_eq!(a.score(&model, t + TimeDelta::days(14)), 2.625);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct MemberScore {
    user: UserId,
    given: Ledger,
    received: Ledger,
    version: u64,
}

impl Versioned for MemberScore {
    fn version(&self) -> u64 {
        self.version
    }
}

impl MemberScore {
    /// A member with nothing scored yet.
    pub fn new(user: UserId) -> MemberScore {
        MemberScore {
            user,
            given: Ledger::default(),
            received: Ledger::default(),
            version: 0,
        }
    }

    /// The member.
    pub fn user(&self) -> UserId {
        self.user
    }

    /// Bumped by every step that changed the state.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The score at `now`: given plus received, each decayed from its own
    /// time. Asked about a time before the latest credit, it answers as of
    /// that credit (decay never runs backwards).
    #[inline]
    pub fn score<Tz: TimeZone>(&self, model: &EngagementModel<Tz>, now: DateTime<Utc>) -> f64 {
        self.side_score(model, Side::Given, now) + self.side_score(model, Side::Received, now)
    }

    /// One side's score at `now`.
    pub fn side_score<Tz: TimeZone>(
        &self,
        model: &EngagementModel<Tz>,
        side: Side,
        now: DateTime<Utc>,
    ) -> f64 {
        let l = self.ledger(side);
        if l.micro == 0 {
            return 0.0;
        }
        let dt = unix_millis(now).saturating_sub(l.as_of);
        l.micro as f64 * model.decay(dt) / MICRO
    }

    fn ledger(&self, side: Side) -> &Ledger {
        match side {
            Side::Given => &self.given,
            Side::Received => &self.received,
        }
    }
}

/// One interaction as a side sees it: the compact record both paths feed
/// the step with.
///
/// 32 bytes, so a batch log of ten million stays compact.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Entry {
    pub(crate) id: EventId,
    pub(crate) at_ms: i64,
    /// The other member (target for given, actor for received), if
    /// `has_partner`.
    pub(crate) partner: UserId,
    /// The partner's dense slot in a batch log (unused online).
    pub(crate) partner_slot: u32,
    pub(crate) kind: InteractionKind,
    pub(crate) has_partner: bool,
}

impl Entry {
    #[inline]
    pub(crate) fn partner(&self) -> Option<UserId> {
        self.has_partner.then_some(self.partner)
    }
}

impl<Tz: TimeZone> EngagementModel<Tz> {
    /// Scores `interaction` into `state`, whichever side its member is on
    /// (actor: given credit; target: received credit), and returns the
    /// points credited at the interaction's time. Call it for the actor's
    /// state and for the target's.
    ///
    /// `standing` says whether a user counts ([`Community`](super::Community)
    /// does): a non-counting actor earns nobody anything, a non-counting
    /// target receives nothing. A repeated event id credits nothing; an
    /// event older than the dedupe window is refused with
    /// [`EngagementError::TooLate`]. On error the state is unchanged.
    #[inline]
    pub fn score(
        &self,
        state: &mut MemberScore,
        interaction: &Interaction,
        standing: &impl Standing,
    ) -> Result<f64, EngagementError> {
        self.score_explained(state, interaction, standing)
            .map(|c| c.points)
    }

    /// [`score`](Self::score), with the explanation: kind, weight, damping,
    /// cap. The same step; only what is returned differs.
    #[inline]
    pub fn score_explained(
        &self,
        state: &mut MemberScore,
        interaction: &Interaction,
        standing: &impl Standing,
    ) -> Result<Credit, EngagementError> {
        let i = interaction;
        let (side, partner) = if state.user == i.actor {
            (Side::Given, i.target)
        } else if i.target == Some(state.user) {
            (Side::Received, Some(i.actor))
        } else {
            return Err(EngagementError::NotInvolved {
                id: i.id,
                user: state.user,
            });
        };
        let entry = Entry {
            id: i.id,
            at_ms: unix_millis(i.at),
            partner: partner.unwrap_or_default(),
            partner_slot: 0,
            kind: i.kind,
            has_partner: partner.is_some(),
        };
        let counts = |u: UserId| standing.counts(u);
        let not_counted = if !counts(i.actor) {
            Some(i.actor)
        } else if side == Side::Received && !counts(state.user) {
            Some(state.user)
        } else {
            None
        };
        self.step(state, side, &entry, not_counted)
    }

    /// The one scoring step both paths run. `not_counted` names a user whose
    /// standing voids the interaction, if any.
    #[inline(always)]
    pub(crate) fn step(
        &self,
        state: &mut MemberScore,
        side: Side,
        e: &Entry,
        not_counted: Option<UserId>,
    ) -> Result<Credit, EngagementError> {
        let k = e.kind as usize;
        let (weights, caps, ledger) = match side {
            Side::Given => (&self.given, &self.given_cap, &mut state.given),
            Side::Received => (&self.received, &self.received_cap, &mut state.received),
        };
        let weight = weights.get(k).copied().unwrap_or(0.0);
        let mut credit = Credit {
            side,
            kind: e.kind,
            weight,
            damping: 1.0,
            repeat: 0,
            points: 0.0,
            outcome: Outcome::Credited,
        };
        // Nothing below changes the state: the early outcomes are pure.
        if e.has_partner && e.partner == state.user {
            credit.outcome = Outcome::SelfInteraction;
            return Ok(credit);
        }
        if let Some(user) = not_counted {
            credit.outcome = Outcome::NotCounted { user };
            return Ok(credit);
        }
        if weight == 0.0 {
            credit.outcome = Outcome::Unweighted;
            return Ok(credit);
        }
        match ledger.seen.admit_millis(e.id, e.at_ms) {
            Admission::Fresh => {}
            Admission::Duplicate => {
                credit.outcome = Outcome::Duplicate;
                return Ok(credit);
            }
            Admission::TooLate => {
                return Err(EngagementError::TooLate {
                    id: e.id,
                    user: state.user,
                });
            }
        }
        let version = state
            .version
            .checked_add(1)
            .ok_or(EngagementError::Overflow { user: state.user })?;

        // From here on nothing fails: commit as we go.
        let day = self.day_number(e.at_ms);
        if let Some(partner) = e.partner() {
            let repeats = bump_partner(&mut ledger.partners, partner, day, self.pair_window_days);
            credit.repeat = repeats;
            credit.damping = self.damping_of(repeats);
        }
        let cap = caps.get(k).copied().unwrap_or(NO_CAP);
        let allowed = if cap == NO_CAP {
            true
        } else {
            match tally_for(&mut ledger.days, day) {
                None => {
                    credit.outcome = Outcome::DayForgotten;
                    false
                }
                Some(tally) => match tally.counts.get_mut(k) {
                    Some(n) if *n < cap => {
                        *n += 1;
                        true
                    }
                    _ => {
                        credit.outcome = Outcome::Capped { cap };
                        false
                    }
                },
            }
        };
        if allowed {
            credit.points = weight * credit.damping;
            // Float-to-int `as` saturates; weights are bounded far below it.
            let add = to_micro(credit.points * MICRO);
            if ledger.as_of == i64::MIN || e.at_ms >= ledger.as_of {
                let decayed = if ledger.micro == 0 {
                    0
                } else {
                    to_micro(ledger.micro as f64 * self.decay(e.at_ms.saturating_sub(ledger.as_of)))
                };
                ledger.micro = decayed.saturating_add(add);
                ledger.as_of = e.at_ms;
            } else {
                // A late interaction adds its own contribution, decayed to
                // the stored time; the value never rewinds.
                // Saturating: a state edited outside the library may hold
                // any `as_of`, and the event may come before 1970.
                let late = to_micro(add as f64 * self.decay(ledger.as_of.saturating_sub(e.at_ms)));
                ledger.micro = ledger.micro.saturating_add(late);
            }
        }
        ledger
            .seen
            .remember_millis(e.id, e.at_ms, &self.spec().dedupe);
        state.version = version;
        Ok(credit)
    }
}

/// A non-negative amount of millionths, rounded half up. `f64::round` is a
/// library call on most targets; adding a half and truncating is one
/// instruction, and `as` saturates (negative or NaN would give 0).
#[inline(always)]
fn to_micro(x: f64) -> u64 {
    (x + 0.5) as u64
}

/// Counts one more interaction with `partner` on `day` and returns which
/// repeat it is in the pair's window. Partners are kept most recent first;
/// an unknown partner goes in front and the least recent one is forgotten,
/// so a pair that keeps interacting is never pushed out by older ones.
#[inline]
fn bump_partner(partners: &mut [Partner; PARTNERS], partner: UserId, day: i32, window: i32) -> u16 {
    let found = partners
        .iter()
        .position(|p| p.count > 0 && p.user == partner);
    let mut p = match found {
        Some(i) => {
            let p = partners.get(i).copied().unwrap_or(NO_PARTNER);
            // A window that ended starts over; a late interaction (before
            // `since`) falls in the current window: damped, never undamped.
            if i64::from(day) - i64::from(p.since) >= i64::from(window) {
                Partner {
                    user: partner,
                    since: day,
                    count: 0,
                }
            } else {
                p
            }
        }
        None => Partner {
            user: partner,
            since: day,
            count: 0,
        },
    };
    p.count = p.count.saturating_add(1);
    // Shift the more recent ones back by one and put this one in front
    // (a few 16-byte moves; `rotate_right` would be a library call).
    let end = found.unwrap_or(PARTNERS - 1).min(PARTNERS - 1);
    for i in (1..=end).rev() {
        partners[i] = partners[i - 1];
    }
    partners[0] = p;
    p.count
}

/// The tally of `day`, making room for it if it is newer than the older
/// kept day; `None` if it is older than both kept days (its counts are gone).
#[inline]
fn tally_for(days: &mut [DayTally; 2], day: i32) -> Option<&mut DayTally> {
    let [newest, older] = days;
    if day == newest.day {
        return Some(newest);
    }
    if day > newest.day {
        *older = *newest;
        *newest = DayTally {
            day,
            counts: [0; InteractionKind::COUNT],
        };
        return Some(newest);
    }
    if day == older.day {
        return Some(older);
    }
    if day > older.day {
        // Between the two kept days: the older one's counts are dropped, so
        // its day can never be credited again (days only move forward).
        *older = DayTally {
            day,
            counts: [0; InteractionKind::COUNT],
        };
        return Some(older);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::community::{Community, EngagementModelSpec, Everyone};
    use crate::id::CommunityId;
    use chrono::{TimeDelta, TimeZone};

    fn model(json: &str) -> EngagementModel {
        serde_json::from_str::<EngagementModelSpec>(json)
            .unwrap()
            .validate()
            .unwrap()
    }

    fn t(hours: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap() + TimeDelta::hours(hours)
    }

    fn act(
        id: u64,
        at: DateTime<Utc>,
        actor: u64,
        target: Option<u64>,
        kind: InteractionKind,
    ) -> Interaction {
        Interaction {
            id: EventId(id),
            at,
            actor: UserId(actor),
            target: target.map(UserId),
            kind,
            community: None,
            content: None,
        }
    }

    #[test]
    fn caps_count_per_local_day_in_the_models_calendar() {
        let m = model(
            r#"{"utc_offset": "+08:00", "half_life_hours": 1000000,
                "kinds": {"check_in": {"given": 2, "daily_cap": 1}}}"#,
        );
        let mut s = MemberScore::new(UserId(1));
        // 15:00 UTC is 23:00 in Beijing; 16:30 UTC is 00:30 the next local day.
        let a = m
            .score_explained(
                &mut s,
                &act(1, t(15), 1, None, InteractionKind::CheckIn),
                &Everyone,
            )
            .unwrap();
        assert_eq!((a.points, a.outcome), (2.0, Outcome::Credited));
        let b = m
            .score_explained(
                &mut s,
                &act(2, t(15), 1, None, InteractionKind::CheckIn),
                &Everyone,
            )
            .unwrap();
        assert_eq!((b.points, b.outcome), (0.0, Outcome::Capped { cap: 1 }));
        let c = m
            .score(
                &mut s,
                &act(
                    3,
                    t(16) + TimeDelta::minutes(30),
                    1,
                    None,
                    InteractionKind::CheckIn,
                ),
                &Everyone,
            )
            .unwrap();
        assert_eq!(c, 2.0);
        // A late one on the earlier, still-kept day is checked against its own tally.
        let late = m
            .score_explained(
                &mut s,
                &act(4, t(14), 1, None, InteractionKind::CheckIn),
                &Everyone,
            )
            .unwrap();
        assert_eq!(late.outcome, Outcome::Capped { cap: 1 });
        // Once two later days are kept, a late one from the first day cannot be checked.
        m.score(
            &mut s,
            &act(5, t(60), 1, None, InteractionKind::CheckIn),
            &Everyone,
        )
        .unwrap();
        m.score(
            &mut s,
            &act(6, t(30), 1, None, InteractionKind::CheckIn),
            &Everyone,
        )
        .unwrap();
        let old = m
            .score_explained(
                &mut s,
                &act(7, t(14), 1, None, InteractionKind::CheckIn),
                &Everyone,
            )
            .unwrap();
        assert_eq!((old.points, old.outcome), (0.0, Outcome::DayForgotten));
        assert!((s.score(&m, t(60)) - 6.0).abs() < 1e-3);
    }

    #[test]
    fn caps_follow_daylight_saving_in_an_iana_zone() {
        let json = r#"{"utc_offset": "+01:00", "half_life_hours": 1000000,
                       "kinds": {"check_in": {"given": 1, "daily_cap": 1}}}"#;
        let spec: EngagementModelSpec = serde_json::from_str(json).unwrap();
        let berlin = spec.clone().validate_in(chrono_tz::Europe::Berlin).unwrap();
        let fixed = spec.validate().unwrap();
        // Berlin moves to +02:00 on 2026-03-29: 22:30 UTC that day is already
        // 00:30 on the 30th there, but still the 29th at a fixed +01:00.
        let noon = Utc.with_ymd_and_hms(2026, 3, 29, 12, 0, 0).unwrap();
        let late = Utc.with_ymd_and_hms(2026, 3, 29, 22, 30, 0).unwrap();
        let (mut a, mut b) = (MemberScore::new(UserId(1)), MemberScore::new(UserId(1)));
        for (i, at) in [noon, late].into_iter().enumerate() {
            let check_in = act(i as u64, at, 1, None, InteractionKind::CheckIn);
            berlin.score(&mut a, &check_in, &Everyone).unwrap();
            fixed.score(&mut b, &check_in, &Everyone).unwrap();
        }
        assert!((a.score(&berlin, late) - 2.0).abs() < 1e-3);
        assert!((b.score(&fixed, late) - 1.0).abs() < 1e-3);
        // The bound allows for 23-hour days.
        assert!(berlin.max_score().unwrap() >= fixed.max_score().unwrap());
    }

    #[test]
    fn pairs_are_damped_per_window_and_by_direction() {
        let m = model(
            r#"{"half_life_hours": 1000000, "pair_damping": 0.5, "pair_window_days": 1,
                "kinds": {"reaction": {"given": 1, "received": 2}}}"#,
        );
        let (mut a, mut b) = (MemberScore::new(UserId(1)), MemberScore::new(UserId(2)));
        let mut id = 0;
        let mut like = |from: u64, to: u64, at| {
            id += 1;
            act(id, at, from, Some(to), InteractionKind::Reaction)
        };
        let mut got = Vec::new();
        for _ in 0..4 {
            let i = like(1, 2, t(1));
            got.push(m.score(&mut a, &i, &Everyone).unwrap());
            m.score(&mut b, &i, &Everyone).unwrap();
            let back = like(2, 1, t(1));
            m.score(&mut b, &back, &Everyone).unwrap();
            m.score(&mut a, &back, &Everyone).unwrap();
        }
        assert_eq!(got, [1.0, 0.5, 0.25, 0.125]);
        // Past the table of factors, repeats keep being damped.
        let slow = model(
            r#"{"half_life_hours": 1, "pair_damping": 0.95, "kinds": {"reply": {"given": 1}}}"#,
        );
        for repeat in [1_u16, 64, 65, 100, u16::MAX] {
            let want = 0.95_f64.powi(i32::from(repeat) - 1);
            assert!(
                (slow.damping_of(repeat) - want).abs() <= 1e-12 * want,
                "{repeat}"
            );
        }
        // A's given 1.875 plus received 2 × 1.875.
        assert!((a.score(&m, t(1)) - 5.625).abs() < 1e-6);
        // The next day the window starts over.
        let fresh = m
            .score_explained(&mut a, &like(1, 2, t(25)), &Everyone)
            .unwrap();
        assert_eq!((fresh.repeat, fresh.damping), (1, 1.0));
        // Self-interactions change nothing.
        let before = a.clone();
        let own = m
            .score_explained(&mut a, &like(1, 1, t(25)), &Everyone)
            .unwrap();
        assert_eq!(own.outcome, Outcome::SelfInteraction);
        assert_eq!(a, before);
    }

    #[test]
    fn partners_beyond_the_table_evict_the_least_recent() {
        let mut partners = [NO_PARTNER; PARTNERS];
        for p in 0..PARTNERS as u64 {
            assert_eq!(bump_partner(&mut partners, UserId(p), p as i32, 30), 1);
        }
        // Partner 0 is now the least recent; touching it keeps it.
        assert_eq!(bump_partner(&mut partners, UserId(0), 9, 30), 2);
        // A new partner pushes out the least recent: partner 1.
        assert_eq!(bump_partner(&mut partners, UserId(99), 9, 30), 1);
        assert_eq!(bump_partner(&mut partners, UserId(0), 9, 30), 3);
        assert_eq!(bump_partner(&mut partners, UserId(1), 9, 30), 1);
        // Past the window, the count starts over.
        assert_eq!(bump_partner(&mut partners, UserId(0), 39, 30), 1);
    }

    #[test]
    fn day_tallies_only_move_forward() {
        let mut days = [NO_DAY; 2];
        let count = |days: &mut [DayTally; 2], d| {
            tally_for(days, d).map(|t| {
                t.counts[0] += 1;
                t.counts[0]
            })
        };
        assert_eq!(count(&mut days, 10), Some(1));
        assert_eq!(count(&mut days, 12), Some(1));
        assert_eq!(count(&mut days, 10), Some(2), "the older kept day");
        // Between the two: day 10's counts go, for good.
        assert_eq!(count(&mut days, 11), Some(1));
        assert_eq!(count(&mut days, 10), None);
        assert_eq!(count(&mut days, 12), Some(2));
        assert_eq!(count(&mut days, 13), Some(1));
        assert_eq!(count(&mut days, 11), None);
        assert_eq!(days.map(|t| t.day), [13, 12]);
    }

    #[test]
    fn decay_halves_per_half_life_and_late_events_add_their_decayed_part() {
        let m = model(r#"{"half_life_hours": 24, "kinds": {"post": {"given": 8}}}"#);
        let mut s = MemberScore::new(UserId(1));
        m.score(
            &mut s,
            &act(1, t(48), 1, None, InteractionKind::Post),
            &Everyone,
        )
        .unwrap();
        assert_eq!(s.score(&m, t(72)), 4.0);
        // A late post from a day earlier adds 8 × 1/2 as of t(48).
        m.score(
            &mut s,
            &act(2, t(24), 1, None, InteractionKind::Post),
            &Everyone,
        )
        .unwrap();
        assert_eq!(s.score(&m, t(48)), 12.0);
        assert_eq!(
            s.score(&m, t(0)),
            12.0,
            "no rewinding before the stored time"
        );
        assert_eq!(s.side_score(&m, Side::Received, t(48)), 0.0);
    }

    #[test]
    fn duplicates_strangers_and_the_banned_change_nothing() {
        let m = EngagementModel::recommended();
        let t0 = t(0);
        let mut c = Community::new(CommunityId(1), UserId(1), t0);
        c.join(UserId(2), t0).unwrap();
        c.join(UserId(3), t0).unwrap();
        let mut s = MemberScore::new(UserId(2));
        let reply = act(1, t0, 2, Some(3), InteractionKind::Reply);
        assert_eq!(m.score(&mut s, &reply, &c).unwrap(), 3.0);
        let before = s.clone();
        let again = m.score_explained(&mut s, &reply, &c).unwrap();
        assert_eq!(again.outcome, Outcome::Duplicate);
        assert_eq!(s, before);
        let err = m
            .score(&mut s, &act(2, t0, 5, Some(3), InteractionKind::Reply), &c)
            .unwrap_err();
        assert_eq!(
            err,
            EngagementError::NotInvolved {
                id: EventId(2),
                user: UserId(2)
            }
        );
        // Banned: the member's own interactions earn nothing, nor earn others anything.
        c.ban(UserId(1), UserId(2)).unwrap();
        let mut target = MemberScore::new(UserId(3));
        let banned_reply = act(3, t0, 2, Some(3), InteractionKind::Reply);
        let given = m.score_explained(&mut s, &banned_reply, &c).unwrap();
        assert_eq!(given.outcome, Outcome::NotCounted { user: UserId(2) });
        let got = m.score_explained(&mut target, &banned_reply, &c).unwrap();
        assert_eq!(got.outcome, Outcome::NotCounted { user: UserId(2) });
        assert_eq!((s.version(), target.version()), (1, 0));
        // Departed: a reply to someone who left is still given credit, but
        // they receive nothing.
        c.leave(UserId(3)).unwrap();
        let mut gone = MemberScore::new(UserId(3));
        let to_gone = act(4, t0, 1, Some(3), InteractionKind::Reply);
        assert_eq!(
            m.score_explained(&mut gone, &to_gone, &c).unwrap().outcome,
            Outcome::NotCounted { user: UserId(3) }
        );
    }

    #[test]
    fn a_late_event_before_1970_on_an_edited_state_does_not_overflow() {
        let m = model(r#"{"half_life_hours": 24, "kinds": {"post": {"given": 1}}}"#);
        let mut s = MemberScore::new(UserId(1));
        m.score(
            &mut s,
            &act(1, t(0), 1, None, InteractionKind::Post),
            &Everyone,
        )
        .unwrap();
        // A saved state whose time was edited to the end of `i64`.
        s.given.as_of = i64::MAX;
        let early = Utc.with_ymd_and_hms(1900, 1, 1, 0, 0, 0).unwrap();
        let credit = m
            .score_explained(
                &mut s,
                &act(2, early, 1, None, InteractionKind::Post),
                &Everyone,
            )
            .unwrap();
        assert_eq!((credit.points, credit.outcome), (1.0, Outcome::Credited));
        // Its contribution decayed to nothing across the gap; the value stays.
        assert_eq!(s.given.micro, 1_000_000);
        assert_eq!(s.given.as_of, i64::MAX);
    }

    #[test]
    fn too_late_is_refused_and_serde_round_trips() {
        let m = model(
            r#"{"half_life_hours": 24, "dedupe": {"horizon_hours": 1, "max_ids": 4},
                "kinds": {"post": {"given": 0.3}}}"#,
        );
        let mut s = MemberScore::new(UserId(1));
        m.score(
            &mut s,
            &act(1, t(0), 1, None, InteractionKind::Post),
            &Everyone,
        )
        .unwrap();
        m.score(
            &mut s,
            &act(2, t(5), 1, None, InteractionKind::Post),
            &Everyone,
        )
        .unwrap();
        // A third id makes the window forget the first, five hours behind.
        m.score(
            &mut s,
            &act(4, t(6), 1, None, InteractionKind::Post),
            &Everyone,
        )
        .unwrap();
        let before = s.clone();
        let err = m
            .score(
                &mut s,
                &act(3, t(0), 1, None, InteractionKind::Post),
                &Everyone,
            )
            .unwrap_err();
        assert!(matches!(err, EngagementError::TooLate { .. }));
        assert_eq!(s, before);
        let back: MemberScore = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.score(&m, t(9)), s.score(&m, t(9)));
    }
}
