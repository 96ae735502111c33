//! The crate's public small containers and batch plumbing against plain
//! `Vec`s and `BTreeMap`s read off their docs: `EntryList`, `TakenList`,
//! `Transitions` (slices that keep a few items inline), `UserIndex` and
//! `EventLog` (dense slots, events grouped by user in order), and a
//! lifecycle's bounded history.

use chrono::{DateTime, TimeDelta, TimeZone, Timelike, Utc};
use growthkit::batch::EventLog;
use growthkit::intern::UserIndex;
use growthkit::lifecycle::{
    Cause, Lifecycle, PolicySpec, Stage, Transition, Transitions, replay, replay_into,
};
use growthkit::points::{Entry, EntryKind, EntryList, Taken, TakenList};
use growthkit::{Event, EventId, EventKind, UserId};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hash, RandomState};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0)
        .single()
        .unwrap_or_default()
}

fn entry(n: u8) -> Entry {
    Entry {
        at: t0() + TimeDelta::seconds(i64::from(n)),
        points: u64::from(n),
        kind: EntryKind::Redeemed {
            key: format!("order-{n}").into(),
        },
    }
}

fn taken(n: u8) -> Taken {
    Taken {
        lot: u64::from(n),
        rule: "visit".into(),
        earned_at: t0(),
        expires_at: None,
        points: u64::from(n) * 10,
    }
}

fn moved(n: u8) -> Transition {
    Transition {
        from: Stage::Acquired,
        to: Stage::Activated,
        at: t0() + TimeDelta::seconds(i64::from(n)),
        cause: Cause::Idle { days: u16::from(n) },
    }
}

/// What every one of the three lists promises, checked against a `Vec` of
/// the same items; `$make` builds an item.
macro_rules! list_reference {
    ($name:ident, $list:ty, $item:ty, $make:expr) => {
        mod $name {
            use super::*;

            #[derive(Clone, Debug)]
            pub(super) enum Op {
                Push(u8),
                SetPoints(usize, u8),
                FromVec,
                Collect,
                Reread,
                Clone,
                RoundTripVec,
            }

            pub(super) fn op() -> impl Strategy<Value = Op> {
                prop_oneof![
                    6 => any::<u8>().prop_map(Op::Push),
                    1 => (0usize..5, any::<u8>()).prop_map(|(i, n)| Op::SetPoints(i, n)),
                    1 => Just(Op::FromVec),
                    1 => Just(Op::Collect),
                    1 => Just(Op::Reread),
                    1 => Just(Op::Clone),
                    1 => Just(Op::RoundTripVec),
                ]
            }

            pub(super) fn check(
                start: Vec<u8>,
                ops: Vec<Op>,
                // Changes an item in place, in the list (if it can) and in a `Vec`.
                set: Option<(fn(&mut $list, usize, u8), fn(&mut $item, u8))>,
            ) -> Result<(), TestCaseError> {
                let make: fn(u8) -> $item = $make;
                let mut model: Vec<$item> = start.into_iter().map(make).collect();
                let mut list = <$list>::from(model.clone());
                for op in ops {
                    match op {
                        Op::Push(n) => {
                            list.push(make(n));
                            model.push(make(n));
                        }
                        Op::SetPoints(i, n) => {
                            if let Some((in_list, in_item)) = set {
                                in_list(&mut list, i, n);
                                if let Some(item) = model.get_mut(i) {
                                    in_item(item, n);
                                }
                            }
                        }
                        Op::FromVec => list = <$list>::from(list.to_vec()),
                        Op::Collect => list = list.iter().cloned().collect(),
                        Op::Reread => {
                            let json = serde_json::to_string(&list).unwrap_or_default();
                            list = serde_json::from_str(&json)
                                .map_err(|e| TestCaseError::fail(e.to_string()))?;
                        }
                        Op::Clone => list = list.clone(),
                        Op::RoundTripVec => list = <$list>::from(Vec::<$item>::from(list)),
                    }
                    prop_assert_eq!(list.len(), model.len());
                    prop_assert_eq!(list.is_empty(), model.is_empty());
                    prop_assert_eq!(&list[..], model.as_slice());
                    prop_assert!((&list).into_iter().eq(model.iter()));
                    prop_assert_eq!(list.clone().into_iter().collect::<Vec<_>>(), model.clone());
                    prop_assert_eq!(Vec::<$item>::from(list.clone()), model.clone());
                    // Equal however built, hashing alike; Debug-printed alike,
                    // as the `Vec` it replaces.
                    prop_assert_eq!(format!("{list:?}"), format!("{model:?}"));
                    let pushed = {
                        let mut l = <$list>::new();
                        model.iter().cloned().for_each(|i| l.push(i));
                        l
                    };
                    for other in [
                        <$list>::from(model.clone()),
                        model.iter().cloned().collect::<$list>(),
                        pushed,
                        list.clone(),
                    ] {
                        prop_assert_eq!(&other, &list);
                        let hasher = RandomState::new();
                        prop_assert_eq!(hasher.hash_one(&other), hasher.hash_one(&list));
                        prop_assert_eq!(format!("{other:?}"), format!("{list:?}"));
                    }
                    let mut longer = model.clone();
                    longer.push(make(0));
                    prop_assert_ne!(&<$list>::from(longer), &list);
                    // A plain list in JSON, as the `Vec` it replaces.
                    prop_assert_eq!(
                        serde_json::to_value(&list).ok(),
                        serde_json::to_value(&model).ok()
                    );
                }
                Ok(())
            }
        }
    };
}

list_reference!(entries, EntryList, Entry, entry);
list_reference!(lots, TakenList, Taken, taken);
list_reference!(moves, Transitions, Transition, moved);

fn hash_all<T: Hash>(hasher: &RandomState, t: &T) -> u64 {
    hasher.hash_one(t)
}

proptest! {
    #[test]
    fn entry_lists_are_vecs(
        start in proptest::collection::vec(any::<u8>(), 0..5),
        ops in proptest::collection::vec(entries::op(), 0..20),
    ) {
        fn points(e: &mut Entry, n: u8) {
            e.points = u64::from(n);
        }
        // Through `&mut list` as through a `&mut Vec`.
        fn in_list(list: &mut EntryList, i: usize, n: u8) {
            for (at, e) in list.into_iter().enumerate() {
                if at == i {
                    points(e, n);
                }
            }
        }
        entries::check(start, ops, Some((in_list, points)))?;
    }

    #[test]
    fn taken_lists_are_vecs(
        start in proptest::collection::vec(any::<u8>(), 0..5),
        ops in proptest::collection::vec(lots::op(), 0..20),
    ) {
        lots::check(start, ops, None)?;
    }

    #[test]
    fn transition_lists_are_vecs(
        start in proptest::collection::vec(any::<u8>(), 0..6),
        ops in proptest::collection::vec(moves::op(), 0..20),
    ) {
        moves::check(start, ops, None)?;
    }

    /// Lists of every length read back from JSON, and anything that is not
    /// a list of items is an error (never a panic), as for a `Vec`.
    #[test]
    fn the_lists_read_what_a_vec_reads(
        n in 0u8..8,
        junk in "[\\[\\]{}0-9,\" a-z:-]{0,16}",
    ) {
        let entries: Vec<Entry> = (0..n).map(entry).collect();
        let json = serde_json::to_string(&entries).unwrap_or_default();
        let list: EntryList = serde_json::from_str(&json).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&list[..], entries.as_slice());
        let lots: Vec<Taken> = (0..n).map(taken).collect();
        let json = serde_json::to_string(&lots).unwrap_or_default();
        let list: TakenList = serde_json::from_str(&json).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&list[..], lots.as_slice());
        let moves: Vec<Transition> = (0..n).map(moved).collect();
        let json = serde_json::to_string(&moves).unwrap_or_default();
        let list: Transitions = serde_json::from_str(&json).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&list[..], moves.as_slice());

        prop_assert_eq!(
            serde_json::from_str::<EntryList>(&junk).is_ok(),
            serde_json::from_str::<Vec<Entry>>(&junk).is_ok()
        );
        prop_assert_eq!(
            serde_json::from_str::<TakenList>(&junk).is_ok(),
            serde_json::from_str::<Vec<Taken>>(&junk).is_ok()
        );
        prop_assert_eq!(
            serde_json::from_str::<Transitions>(&junk).is_ok(),
            serde_json::from_str::<Vec<Transition>>(&junk).is_ok()
        );
    }

    /// Dense slots in order of first appearance, as a `Vec` of the users
    /// seen and a search of it.
    #[test]
    fn user_index_is_a_list_of_first_appearances(users in proptest::collection::vec(0u64..12, 0..40)) {
        let mut index = UserIndex::new();
        let mut model: Vec<UserId> = Vec::new();
        for u in users {
            let user = UserId(u);
            let slot = index.intern(user);
            let want = match model.iter().position(|&m| m == user) {
                Some(i) => i,
                None => {
                    model.push(user);
                    model.len() - 1
                }
            };
            prop_assert_eq!(slot as usize, want);
            prop_assert_eq!(index.users(), model.as_slice());
            prop_assert_eq!(index.len(), model.len());
            prop_assert_eq!(index.is_empty(), model.is_empty());
        }
        for u in 0..13 {
            let slot = model.iter().position(|&m| m == UserId(u));
            prop_assert_eq!(index.slot(UserId(u)).map(|s| s as usize), slot);
        }
        for s in 0..14u32 {
            prop_assert_eq!(index.user(s), model.get(s as usize).copied());
        }
    }

    /// The log against a `BTreeMap` of each user's events in order and the
    /// users in order of first appearance.
    #[test]
    fn an_event_log_groups_by_user_in_order(users in proptest::collection::vec(0u64..10, 0..60)) {
        let events: Vec<Event> = users
            .iter()
            .enumerate()
            .map(|(i, &u)| Event::new(EventId(i as u64), UserId(u), t0(), EventKind::Visited))
            .collect();
        let mut order: Vec<UserId> = Vec::new();
        let mut by_user: BTreeMap<UserId, Vec<EventId>> = BTreeMap::new();
        for e in &events {
            if !order.contains(&e.user) {
                order.push(e.user);
            }
            by_user.entry(e.user).or_default().push(e.id);
        }
        let log = EventLog::new(events.clone());
        let collected: EventLog = events.iter().cloned().collect();
        prop_assert_eq!(log.len(), events.len());
        prop_assert_eq!(log.is_empty(), events.is_empty());
        prop_assert_eq!(collected.events(), log.events());
        prop_assert_eq!(log.index().users(), order.as_slice());
        let runs: Vec<(UserId, Vec<EventId>)> = log
            .runs()
            .map(|(u, es)| (u, es.iter().map(|e| e.id).collect()))
            .collect();
        let want: Vec<(UserId, Vec<EventId>)> = order
            .iter()
            .map(|u| (*u, by_user.get(u).cloned().unwrap_or_default()))
            .collect();
        prop_assert_eq!(log.runs().len(), want.len());
        prop_assert_eq!(runs, want.clone());
        // All events, grouped: the runs one after another.
        let flat: Vec<EventId> = want.iter().flat_map(|(_, ids)| ids.clone()).collect();
        prop_assert_eq!(log.events().iter().map(|e| e.id).collect::<Vec<_>>(), flat);
        for u in 0..11 {
            let ids: Vec<EventId> = log.events_of(UserId(u)).iter().map(|e| e.id).collect();
            prop_assert_eq!(ids, by_user.get(&UserId(u)).cloned().unwrap_or_default());
        }
        // Each event once, unchanged.
        let mut sorted = log.events().to_vec();
        sorted.sort_by_key(|e| e.id);
        prop_assert_eq!(sorted, events);
    }

    /// A lifecycle keeps the newest `history_limit` of every move it made,
    /// online or replayed, and counts the rest as dropped.
    #[test]
    fn a_lifecycle_keeps_the_newest_moves_and_counts_the_rest(
        limit in 1u16..6,
        steps in proptest::collection::vec((0u8..5, 0i64..20, 0u32..2_000_000_000), 1..40),
    ) {
        let policy = PolicySpec { history_limit: limit, ..PolicySpec::default() }
            .validate()
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut state = Lifecycle::new(UserId(1));
        let mut all: Vec<Transition> = Vec::new();
        let mut at = t0();
        let mut events = Vec::new();
        let mut ticked = false;
        for (i, (kind, days, nanos)) in steps.into_iter().enumerate() {
            at += TimeDelta::hours(days * 12);
            // Any fraction of a second, a leap second's included (for which
            // the instant is moved to a 59th second).
            let naive = at.naive_utc();
            let at = naive
                .date()
                .and_hms_nano_opt(naive.hour(), naive.minute(), if nanos >= 1_000_000_000 { 59 } else { naive.second() }, nanos)
                .map_or(at, |n| n.and_utc());
            if kind == 4 {
                // Idle moves made by a tick count as any other.
                all.extend(policy.tick(&mut state, at));
                ticked = true;
                continue;
            }
            let kind = match kind {
                0 => EventKind::SignedUp,
                1 => EventKind::Visited,
                2 => EventKind::ActionCompleted { action: "lesson".into() },
                _ => EventKind::Purchase { amount: growthkit::Money::new(100, "USD".parse().map_err(|_| TestCaseError::fail("currency"))?) },
            };
            let event = Event::new(EventId(i as u64 + 1), UserId(1), at, kind);
            let applied = policy.apply(&mut state, &event).map_err(|e| TestCaseError::fail(e.to_string()))?;
            all.extend(applied.transitions.iter().copied());
            events.push(event);
        }
        let keep = usize::from(limit);
        let newest = &all[all.len().saturating_sub(keep)..];
        prop_assert_eq!(state.history().collect::<Vec<_>>(), newest.to_vec());
        prop_assert_eq!(state.history().len(), newest.len());
        prop_assert_eq!(state.history_dropped() as usize, all.len() - newest.len());
        // Debug-printed as the transitions it stands for, alone and in the state.
        prop_assert_eq!(format!("{:?}", state.history()), format!("{newest:?}"));
        let printed = format!("{state:?}");
        prop_assert!(printed.contains(&format!("history: {newest:?}")), "{}", printed);
        // Read back from JSON, it is the same.
        let json = serde_json::to_string(&state).unwrap_or_default();
        let back: Lifecycle = serde_json::from_str(&json).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&back, &state);
        if ticked {
            return Ok(());
        }
        // The batch path keeps the same.
        let log = EventLog::new(events);
        let run = replay(&policy, &log);
        prop_assert_eq!(run.get(UserId(1)), Some(&state));
        let mut states = vec![state.clone(), Lifecycle::new(UserId(9))];
        replay_into(&policy, &log, &mut states);
        prop_assert_eq!(states.as_slice(), std::slice::from_ref(&state));
    }
}

#[test]
fn lists_hash_as_their_items() {
    let hasher = RandomState::new();
    let items: Vec<Entry> = (0..3).map(entry).collect();
    let list = EntryList::from(items.clone());
    assert_eq!(
        hash_all(&hasher, &list),
        hash_all(&hasher, &items.as_slice())
    );
}

proptest! {
    /// `Transitions` also clears (keeping its heap room) and extends: a
    /// cleared list is the empty list in every way, and grows again as one.
    #[test]
    fn cleared_transitions_are_a_fresh_list(
        batches in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..6), 1..6),
    ) {
        let mut list = Transitions::new();
        for batch in batches {
            list.clear();
            prop_assert!(list.is_empty());
            prop_assert_eq!(&list, &Transitions::new());
            prop_assert_eq!(format!("{list:?}"), format!("{:?}", Transitions::new()));
            let model: Vec<Transition> = batch.iter().copied().map(moved).collect();
            list.extend(model.iter().copied());
            let fresh: Transitions = model.iter().copied().collect();
            prop_assert_eq!(&list[..], model.as_slice());
            prop_assert_eq!(&list, &fresh);
            prop_assert!(list == model);
            let hasher = RandomState::new();
            prop_assert_eq!(hasher.hash_one(&list), hasher.hash_one(&fresh));
            prop_assert_eq!(format!("{list:?}"), format!("{fresh:?}"));
            prop_assert_eq!(format!("{list:?}"), format!("{model:?}"));
            prop_assert_eq!(list.clone().into_vec(), model.clone());
            prop_assert_eq!(
                serde_json::to_value(&list).ok(),
                serde_json::to_value(&model).ok()
            );
        }
    }
}

proptest! {
    /// A history limit changed between steps (a host switching policies):
    /// every move keeps the newest of the limit in force when it is made,
    /// and each move pushed out, older ones first, is counted.
    #[test]
    fn a_changed_history_limit_applies_from_the_next_move(
        steps in proptest::collection::vec((1u16..5, 0u8..3, 0i64..20), 1..40),
    ) {
        let mut state = Lifecycle::new(UserId(1));
        let mut model: Vec<Transition> = Vec::new();
        let mut dropped = 0usize;
        let mut at = t0();
        for (i, (limit, kind, days)) in steps.into_iter().enumerate() {
            let policy = PolicySpec { history_limit: limit, ..PolicySpec::default() }
                .validate()
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            at += TimeDelta::hours(days * 12);
            let kind = match kind {
                0 => EventKind::SignedUp,
                1 => EventKind::Visited,
                _ => EventKind::ActionCompleted { action: "lesson".into() },
            };
            let event = Event::new(EventId(i as u64 + 1), UserId(1), at, kind);
            let applied = policy.apply(&mut state, &event).map_err(|e| TestCaseError::fail(e.to_string()))?;
            for t in applied.transitions.iter() {
                model.push(*t);
                let over = model.len().saturating_sub(usize::from(limit));
                model.drain(..over);
                dropped += over;
            }
            prop_assert_eq!(state.history().collect::<Vec<_>>(), model.clone());
            prop_assert_eq!(state.history_dropped() as usize, dropped);
        }
    }
}
