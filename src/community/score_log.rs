//! The batch path: scoring a whole log of interactions over many members.
//!
//! An [`InteractionLog`] interns every member into a dense slot and groups
//! the interactions twice: by actor (the given side) and by target (the
//! received side), each member's entries in their original order, as
//! compact 32-byte records. [`score_log`] then walks the members in slot
//! order and runs the very same step as
//! [`EngagementModel::score`] over each member's given entries, then its
//! received entries: each state stays in cache while its entries pass, a
//! member's standing is asked once, and nothing is allocated per
//! interaction. Since a member's two sides never read each other, the
//! result equals scoring the interactions one by one in order (a property
//! test checks it).
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use growthkit::community::{score_log, EngagementModel, Everyone, Interaction, InteractionKind, InteractionLog};
//! use growthkit::{EventId, UserId};
//!
//! let t = Utc.with_ymd_and_hms(2026, 3, 1, 2, 0, 0).unwrap();
//! let like = |id, from, to| Interaction {
//!     id: EventId(id), at: t, actor: UserId(from), target: Some(UserId(to)),
//!     kind: InteractionKind::Reaction, community: None, content: None,
//! };
//! let log = InteractionLog::new([like(1, 1, 2), like(2, 2, 1), like(3, 1, 2)]);
//! let model = EngagementModel::recommended();
//! let scored = score_log(&model, &log, &Everyone);
//! assert_eq!(scored.summary().credited, 6);
//! // User 1 gave 1 + 0.5 and received 1.
//! assert_eq!(scored.get(UserId(1)).map(|s| s.score(&model, t)), Some(2.5));
//! ```

use super::engagement::EngagementModel;
use super::interaction::Interaction;
use super::membership::Standing;
use super::score::{EngagementError, Entry, MemberScore, Outcome, Side};
use crate::batch::group_by_slot;
use crate::event::Event;
use crate::id::UserId;
use crate::intern::UserIndex;
use crate::time::unix_millis;
use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

/// Interactions grouped by member for [`score_log`].
#[derive(Clone, Debug, Default)]
pub struct InteractionLog {
    index: UserIndex,
    given: Vec<Entry>,
    /// `given_starts[slot]..given_starts[slot + 1]` are the slot's given entries.
    given_starts: Vec<usize>,
    received: Vec<Entry>,
    received_starts: Vec<usize>,
    interactions: usize,
}

impl InteractionLog {
    /// Groups `interactions` by actor and by target, keeping each member's
    /// order. Self-interactions are dropped (they score nothing).
    pub fn new(interactions: impl IntoIterator<Item = Interaction>) -> InteractionLog {
        let mut index = UserIndex::new();
        let mut given = Vec::new();
        let mut given_slots = Vec::new();
        let mut received = Vec::new();
        let mut received_slots = Vec::new();
        let mut count = 0;
        for i in interactions {
            count += 1;
            if i.is_self() {
                continue;
            }
            let actor = index.intern(i.actor);
            let target = i.target.map(|t| (t, index.intern(t)));
            let at_ms = unix_millis(i.at);
            given.push(Entry {
                id: i.id,
                at_ms,
                partner: target.map_or_else(UserId::default, |t| t.0),
                partner_slot: target.map_or(0, |t| t.1),
                kind: i.kind,
                has_partner: target.is_some(),
            });
            given_slots.push(actor);
            if let Some((_, slot)) = target {
                received.push(Entry {
                    id: i.id,
                    at_ms,
                    partner: i.actor,
                    partner_slot: actor,
                    kind: i.kind,
                    has_partner: true,
                });
                received_slots.push(slot);
            }
        }
        let users = index.len();
        // Each ungrouped list is dropped as soon as it is grouped: at most
        // one list is held twice.
        let grouped = group_by_slot(&given, users, |i, _| nth(&given_slots, i));
        drop((given, given_slots));
        let (given, given_starts) = grouped;
        let grouped = group_by_slot(&received, users, |i, _| nth(&received_slots, i));
        drop((received, received_slots));
        let (received, received_starts) = grouped;
        InteractionLog {
            index,
            given,
            given_starts,
            received,
            received_starts,
            interactions: count,
        }
    }

    /// The interactions among `events` (others are skipped), grouped.
    pub fn from_events<'e>(events: impl IntoIterator<Item = &'e Event>) -> InteractionLog {
        InteractionLog::new(events.into_iter().filter_map(Interaction::from_event))
    }

    /// The members, by slot.
    pub fn index(&self) -> &UserIndex {
        &self.index
    }

    /// How many interactions were given, self-interactions included.
    pub fn len(&self) -> usize {
        self.interactions
    }

    /// Whether none were.
    pub fn is_empty(&self) -> bool {
        self.interactions == 0
    }

    fn entries(&self, side: Side, slot: usize) -> &[Entry] {
        let (entries, starts) = match side {
            Side::Given => (&self.given, &self.given_starts),
            Side::Received => (&self.received, &self.received_starts),
        };
        match (starts.get(slot), starts.get(slot + 1)) {
            (Some(&from), Some(&to)) => entries.get(from..to).unwrap_or_default(),
            _ => &[],
        }
    }
}

impl FromIterator<Interaction> for InteractionLog {
    fn from_iter<I: IntoIterator<Item = Interaction>>(iter: I) -> Self {
        InteractionLog::new(iter)
    }
}

/// The slot of the entry at `i` (none past the end).
fn nth(slots: &[u32], i: usize) -> u32 {
    slots.get(i).copied().unwrap_or(u32::MAX)
}

/// Counts from a [`score_log`] run.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct ScoreSummary {
    /// Side-steps that credited points (an interaction credits up to two).
    pub credited: u64,
    /// Side-steps stopped by a daily cap (or a forgotten day's cap).
    pub capped: u64,
    /// Side-steps voided because a user does not count.
    pub not_counted: u64,
    /// Side-steps on kinds without weight on that side.
    pub unweighted: u64,
    /// Repeated event ids.
    pub duplicates: u64,
    /// Events refused as too late to deduplicate.
    pub too_late: u64,
}

/// Every member's score after a [`score_log`] run.
#[derive(Clone, Debug)]
pub struct ScoredLog<'l> {
    index: &'l UserIndex,
    states: Vec<MemberScore>,
    summary: ScoreSummary,
}

/// Scores every interaction of `log` under `model`: the batch path of
/// [`EngagementModel::score`], with each member's [`Standing`] asked once.
pub fn score_log<'l, Tz: TimeZone>(
    model: &EngagementModel<Tz>,
    log: &'l InteractionLog,
    standing: &impl Standing,
) -> ScoredLog<'l> {
    let users = log.index.users();
    let counts: Vec<bool> = users.iter().map(|&u| standing.counts(u)).collect();
    let mut summary = ScoreSummary::default();
    // Built in place: a state is written once, not built and then moved.
    let mut states: Vec<MemberScore> = Vec::with_capacity(users.len());
    states.extend(users.iter().map(|&u| MemberScore::new(u)));
    for (slot, state) in states.iter_mut().enumerate() {
        let user = state.user();
        let me_counts = counts.get(slot).copied().unwrap_or(false);
        for e in log.entries(Side::Given, slot) {
            let void = (!me_counts).then_some(user);
            tally(&mut summary, model.step(state, Side::Given, e, void));
        }
        for e in log.entries(Side::Received, slot) {
            let void = if !counts
                .get(e.partner_slot as usize)
                .copied()
                .unwrap_or(false)
            {
                Some(e.partner)
            } else if !me_counts {
                Some(user)
            } else {
                None
            };
            tally(&mut summary, model.step(state, Side::Received, e, void));
        }
    }
    ScoredLog {
        index: &log.index,
        states,
        summary,
    }
}

#[inline(always)]
fn tally(summary: &mut ScoreSummary, step: Result<super::score::Credit, EngagementError>) {
    let counter = match step {
        Ok(c) => match c.outcome {
            Outcome::Credited => &mut summary.credited,
            Outcome::Capped { .. } | Outcome::DayForgotten => &mut summary.capped,
            Outcome::NotCounted { .. } => &mut summary.not_counted,
            Outcome::Duplicate => &mut summary.duplicates,
            Outcome::Unweighted | Outcome::SelfInteraction => &mut summary.unweighted,
        },
        Err(_) => &mut summary.too_late,
    };
    *counter += 1;
}

impl<'l> ScoredLog<'l> {
    /// `user`'s state, if the log names them.
    pub fn get(&self, user: UserId) -> Option<&MemberScore> {
        self.index
            .slot(user)
            .and_then(|s| self.states.get(s as usize))
    }

    /// Every state, by slot (see [`InteractionLog::index`]).
    pub fn states(&self) -> &[MemberScore] {
        &self.states
    }

    /// The states, to keep.
    pub fn into_states(self) -> Vec<MemberScore> {
        self.states
    }

    /// What the run did.
    pub fn summary(&self) -> ScoreSummary {
        self.summary
    }

    /// Every member's score at `now`, by slot: the population a percentile
    /// level requirement ranks against.
    pub fn scores_at<Tz: TimeZone>(
        &self,
        model: &EngagementModel<Tz>,
        now: DateTime<Utc>,
    ) -> Vec<f64> {
        self.states.iter().map(|s| s.score(model, now)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::community::{Community, Everyone, InteractionKind};
    use crate::id::{CommunityId, EventId};
    use chrono::{TimeDelta, TimeZone};

    #[test]
    fn batch_equals_one_by_one_and_asks_standing() {
        let model = EngagementModel::recommended();
        let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
        let kinds = InteractionKind::ALL;
        let mut interactions: Vec<Interaction> = (0..400u64)
            .map(|k| {
                let kind = kinds[(k % kinds.len() as u64) as usize];
                let actor = UserId(k * 7 % 11);
                Interaction {
                    id: EventId(k),
                    at: t0 + TimeDelta::minutes((k * 37 % 3000) as i64),
                    actor,
                    target: kind.can_have_target().then_some(UserId(k * 3 % 11)),
                    kind,
                    community: None,
                    content: None,
                }
            })
            .collect();
        // Redeliveries of the first few.
        interactions.extend_from_within(..20);
        let mut c = Community::new(CommunityId(1), UserId(0), t0);
        for u in 1..11 {
            c.join(UserId(u), t0).unwrap();
        }
        c.ban(UserId(0), UserId(4)).unwrap();
        c.leave(UserId(5)).unwrap();
        let log = InteractionLog::new(interactions.iter().copied());
        let batch = score_log(&model, &log, &c);
        let mut one_by_one: std::collections::HashMap<UserId, MemberScore> = Default::default();
        for i in &interactions {
            for u in [Some(i.actor), i.target].into_iter().flatten() {
                let s = one_by_one.entry(u).or_insert_with(|| MemberScore::new(u));
                let _ = model.score(s, i, &c);
            }
        }
        for (u, s) in &one_by_one {
            assert_eq!(batch.get(*u), Some(s), "{u}");
        }
        let sum = batch.summary();
        assert!(
            sum.credited > 0 && sum.capped > 0 && sum.not_counted > 0 && sum.duplicates > 0,
            "{sum:?}"
        );
        assert_eq!(batch.get(UserId(4)).map(|s| s.score(&model, t0)), Some(0.0));
        assert_eq!(log.len(), 420);
        assert_eq!(batch.scores_at(&model, t0).len(), log.index().len());
        let _ = score_log(&model, &log, &Everyone);
    }

    #[test]
    fn logs_from_events_skip_non_interactions_and_self_interactions() {
        use crate::event::EventKind;
        use crate::id::ContentId;
        let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
        let c = Some(CommunityId(1));
        let events = [
            Event::new(EventId(1), UserId(1), t0, EventKind::SignedUp),
            Event::new(
                EventId(2),
                UserId(1),
                t0,
                EventKind::Reaction {
                    community: c,
                    content: ContentId(1),
                    to: Some(UserId(1)),
                },
            ),
            Event::new(
                EventId(3),
                UserId(1),
                t0,
                EventKind::Reaction {
                    community: c,
                    content: ContentId(1),
                    to: Some(UserId(2)),
                },
            ),
        ];
        let log = InteractionLog::from_events(&events);
        assert_eq!(log.len(), 2);
        assert_eq!(log.index().users(), &[UserId(1), UserId(2)]);
        let scored = score_log(&EngagementModel::recommended(), &log, &Everyone);
        assert_eq!(scored.summary().credited, 2);
        assert!(InteractionLog::new([]).is_empty());
    }
}
