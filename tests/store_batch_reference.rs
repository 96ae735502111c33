//! The storage port and the batch plumbing against brute-force models read
//! off their docs.
//!
//! - `MemoryStore` and `update` against a plain `HashMap<K, (u64, V)>` of
//!   compare-and-swap saves: every result, every error (its variant and the
//!   versions it names), that a refused save writes nothing, how many times
//!   `update` runs its change and writes the store, when a concurrent writer
//!   slips in between a load and a save; and real threads losing no update.
//! - `EventLog` and `UserIndex` against grouping a `Vec<Event>` by user in
//!   first-seen order, each user's events in their original order.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use growthkit::batch::EventLog;
use growthkit::intern::UserIndex;
use growthkit::store::{
    MemoryStore, SaveError, UpdateError, Versioned, VersionedStore, check_newer, update,
};
use growthkit::{Event, EventId, EventKind, UserId};
use proptest::prelude::*;
use std::cell::Cell;
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU32, Ordering};

// ---------------------------------------------------------------------------
// The store
// ---------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Eq)]
struct Doc {
    n: u64,
    version: u64,
}

impl Versioned for Doc {
    fn version(&self) -> u64 {
        self.version
    }
}

fn fresh() -> Doc {
    Doc { n: 0, version: 0 }
}

/// A `MemoryStore` that counts the saves that reach it.
struct Counting {
    inner: MemoryStore<u8, Doc>,
    saves: AtomicU32,
}

impl Counting {
    fn new() -> Counting {
        Counting {
            inner: MemoryStore::new(),
            saves: AtomicU32::new(0),
        }
    }

    fn saves(&self) -> u32 {
        self.saves.load(Ordering::Relaxed)
    }
}

impl VersionedStore<u8, Doc> for Counting {
    type Error = Infallible;

    fn load(&self, key: &u8) -> Result<Option<Doc>, Infallible> {
        self.inner.load(key)
    }

    fn save(
        &self,
        key: &u8,
        value: &Doc,
        expected: Option<u64>,
    ) -> Result<(), SaveError<Infallible>> {
        self.saves.fetch_add(1, Ordering::Relaxed);
        self.inner.save(key, value, expected)
    }
}

/// The model: key to (version, value), the docs' compare-and-swap.
type Model = HashMap<u8, (u64, u64)>;

/// `save` as documented: first [`check_newer`] (a value replacing version
/// `e` must carry a version above `e`), then the compare (the stored
/// version, `None` if absent, must be `expected`), then the write. A
/// refusal writes nothing.
fn model_save(
    model: &mut Model,
    key: u8,
    value: &Doc,
    expected: Option<u64>,
) -> Result<(), SaveError<Infallible>> {
    if let Some(e) = expected
        && value.version <= e
    {
        return Err(SaveError::NotNewer {
            expected: e,
            given: value.version,
        });
    }
    let found = model.get(&key).map(|&(v, _)| v);
    if found != expected {
        return Err(SaveError::Conflict { expected, found });
    }
    model.insert(key, (value.version, value.n));
    Ok(())
}

/// What the version of a value to save is, relative to the stored one.
#[derive(Clone, Debug)]
enum VersionChoice {
    Bumped(u64),
    Same,
    Back(u64),
    Max,
    Exactly(u64),
}

/// The `expected` a save passes.
#[derive(Clone, Debug)]
enum ExpectedChoice {
    /// The stored version (`None` if absent): the right one.
    Right,
    /// `None`, whatever is stored.
    Absent,
    /// Some version, right or wrong.
    Some(u64),
    /// A version other than the stored one (`Some(0)` if absent).
    Wrong(u64),
}

/// What `update`'s change does.
#[derive(Clone, Debug)]
enum Change {
    /// Adds one and bumps the version by `k` (saturating).
    Bump(u64),
    /// Adds one but leaves the version: nothing to save (for a stored value).
    Unbumped,
    /// Moves the version back by `k` (saturating at 0).
    Back(u64),
    /// Refuses.
    Reject,
}

#[derive(Clone, Debug)]
enum Op {
    Load(u8),
    Save {
        key: u8,
        n: u64,
        version: VersionChoice,
        expected: ExpectedChoice,
    },
    Update {
        key: u8,
        attempts: u32,
        change: Change,
        /// How many of the first runs of the change a concurrent writer
        /// slips in between the load and the save.
        races: u32,
    },
}

fn version_choice() -> impl Strategy<Value = VersionChoice> {
    prop_oneof![
        3 => (1u64..3).prop_map(VersionChoice::Bumped),
        1 => Just(VersionChoice::Same),
        1 => (1u64..3).prop_map(VersionChoice::Back),
        1 => Just(VersionChoice::Max),
        1 => prop_oneof![0u64..6, Just(u64::MAX - 1)].prop_map(VersionChoice::Exactly),
    ]
}

fn expected_choice() -> impl Strategy<Value = ExpectedChoice> {
    prop_oneof![
        4 => Just(ExpectedChoice::Right),
        1 => Just(ExpectedChoice::Absent),
        1 => prop_oneof![0u64..6, Just(u64::MAX)].prop_map(ExpectedChoice::Some),
        1 => (1u64..4).prop_map(ExpectedChoice::Wrong),
    ]
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        4 => (1u64..3).prop_map(Change::Bump),
        1 => Just(Change::Unbumped),
        1 => (1u64..3).prop_map(Change::Back),
        1 => Just(Change::Reject),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => (0u8..3).prop_map(Op::Load),
        3 => (0u8..3, 0u64..100, version_choice(), expected_choice()).prop_map(
            |(key, n, version, expected)| Op::Save { key, n, version, expected }
        ),
        3 => (0u8..3, 0u32..4, change(), prop_oneof![2 => Just(0u32), 1 => 0u32..6]).prop_map(
            |(key, attempts, change, races)| Op::Update { key, attempts, change, races }
        ),
    ]
}

/// The concurrent writer: loads what is stored and saves it one higher
/// (value and version); on an absent key it creates a value at version 0.
/// A value at `u64::MAX` cannot be bumped: it leaves it.
fn race_real(store: &Counting, key: u8) {
    let (value, expected) = match store.inner.load(&key) {
        Ok(Some(d)) => match d.version.checked_add(1) {
            Some(version) => (
                Doc {
                    n: d.n + 1000,
                    version,
                },
                Some(d.version),
            ),
            None => return,
        },
        _ => (
            Doc {
                n: 1000,
                version: 0,
            },
            None,
        ),
    };
    // Straight to the inner store: this writer's saves are not counted.
    assert_eq!(store.inner.save(&key, &value, expected), Ok(()));
}

fn race_model(model: &mut Model, key: u8) {
    match model.get(&key).copied() {
        Some((version, n)) => {
            if let Some(version) = version.checked_add(1) {
                model.insert(key, (version, n + 1000));
            }
        }
        None => {
            model.insert(key, (0, 1000));
        }
    }
}

fn apply_change(change: &Change, d: &mut Doc) -> Result<u64, &'static str> {
    match change {
        Change::Bump(k) => {
            d.n += 1;
            d.version = d.version.saturating_add(*k);
        }
        Change::Unbumped => d.n += 1,
        Change::Back(k) => {
            d.n += 1;
            d.version = d.version.saturating_sub(*k);
        }
        Change::Reject => return Err("refused"),
    }
    Ok(d.n)
}

/// What `update` does, from its docs: try `max(attempts, 1)` times; each
/// time load (or start from `fresh`), refuse a stored version at
/// `u64::MAX`, run the change (its error is `Rejected`), skip the save when
/// a stored value's version is unchanged, else save: a conflict retries, a
/// version moved back is `VersionMovedBack`. Also counts the runs of the
/// change and the saves that reach the store.
struct UpdateOutcome {
    result: Result<u64, UpdateError<Infallible, &'static str>>,
    runs: u32,
    saves: u32,
}

fn model_update(
    model: &mut Model,
    key: u8,
    attempts: u32,
    change: &Change,
    races: u32,
) -> UpdateOutcome {
    let mut runs = 0;
    let mut saves = 0;
    let tries = attempts.max(1);
    for _ in 0..tries {
        let loaded = model.get(&key).copied();
        if let Some((u64::MAX, _)) = loaded {
            return UpdateOutcome {
                result: Err(UpdateError::VersionExhausted),
                runs,
                saves,
            };
        }
        let mut value = loaded.map_or_else(fresh, |(version, n)| Doc { n, version });
        runs += 1;
        if runs <= races {
            race_model(model, key);
        }
        let out = match apply_change(change, &mut value) {
            Ok(out) => out,
            Err(e) => {
                return UpdateOutcome {
                    result: Err(UpdateError::Rejected(e)),
                    runs,
                    saves,
                };
            }
        };
        let expected = loaded.map(|(v, _)| v);
        if let Some(e) = expected
            && value.version == e
        {
            return UpdateOutcome {
                result: Ok(out),
                runs,
                saves,
            };
        }
        saves += 1;
        match model_save(model, key, &value, expected) {
            Ok(()) => {
                return UpdateOutcome {
                    result: Ok(out),
                    runs,
                    saves,
                };
            }
            Err(SaveError::Conflict { .. }) => continue,
            Err(SaveError::NotNewer { expected, given }) => {
                return UpdateOutcome {
                    result: Err(UpdateError::VersionMovedBack { expected, given }),
                    runs,
                    saves,
                };
            }
            Err(other) => panic!("the model has no store errors: {other:?}"),
        }
    }
    UpdateOutcome {
        result: Err(UpdateError::Contended { attempts: tries }),
        runs,
        saves,
    }
}

fn snapshot(store: &Counting) -> Model {
    (0u8..3)
        .filter_map(|k| {
            store
                .inner
                .load(&k)
                .ok()
                .flatten()
                .map(|d| (k, (d.version, d.n)))
        })
        .collect()
}

fn run_ops(ops: &[Op]) -> Result<(), TestCaseError> {
    let store = Counting::new();
    let mut model = Model::new();
    for op in ops {
        match op {
            Op::Load(key) => {
                let want = model.get(key).map(|&(version, n)| Doc { n, version });
                prop_assert_eq!(store.load(key), Ok(want), "load {}", key);
            }
            Op::Save {
                key,
                n,
                version,
                expected,
            } => {
                let stored = model.get(key).map(|&(v, _)| v);
                let base = stored.unwrap_or(0);
                let version = match version {
                    VersionChoice::Bumped(k) => base.saturating_add(*k),
                    VersionChoice::Same => base,
                    VersionChoice::Back(k) => base.saturating_sub(*k),
                    VersionChoice::Max => u64::MAX,
                    VersionChoice::Exactly(v) => *v,
                };
                let expected = match expected {
                    ExpectedChoice::Right => stored,
                    ExpectedChoice::Absent => None,
                    ExpectedChoice::Some(v) => Some(*v),
                    ExpectedChoice::Wrong(k) => Some(stored.map_or(0, |s| s.wrapping_add(*k))),
                };
                let value = Doc { n: *n, version };
                let before = model.clone();
                let want = model_save(&mut model, *key, &value, expected);
                let got = store.save(key, &value, expected);
                prop_assert_eq!(
                    &got,
                    &want,
                    "save {:?} at {} expecting {:?}",
                    value,
                    key,
                    expected
                );
                // `check_newer` is the first check of every save, alike.
                let newer = check_newer::<Infallible>(&value, expected);
                match &want {
                    Err(SaveError::NotNewer { .. }) => prop_assert_eq!(&newer, &want),
                    _ => prop_assert_eq!(newer, Ok(())),
                }
                if want.is_err() {
                    prop_assert_eq!(&model, &before, "a refused save writes nothing");
                }
            }
            Op::Update {
                key,
                attempts,
                change,
                races,
            } => {
                let saves_before = store.saves();
                let runs = Cell::new(0u32);
                let got = update(&store, key, *attempts, fresh, |d| {
                    runs.set(runs.get() + 1);
                    if runs.get() <= *races {
                        race_real(&store, *key);
                    }
                    apply_change(change, d)
                });
                let want = model_update(&mut model, *key, *attempts, change, *races);
                prop_assert_eq!(
                    &got,
                    &want.result,
                    "update {} ({} attempts, {:?}, {} races)",
                    key,
                    attempts,
                    change,
                    races
                );
                prop_assert_eq!(runs.get(), want.runs, "runs of the change");
                prop_assert_eq!(store.saves() - saves_before, want.saves, "saves");
            }
        }
        prop_assert_eq!(snapshot(&store), model.clone(), "after {:?}", op);
        prop_assert_eq!(store.inner.len(), model.len());
        prop_assert_eq!(store.inner.is_empty(), model.is_empty());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn the_store_and_update_match_the_compare_and_swap_model(
        ops in proptest::collection::vec(op(), 0..40),
    ) {
        run_ops(&ops)?;
    }
}

#[test]
fn update_retries_past_each_concurrent_writer_and_gives_up_when_they_never_stop() {
    let store = Counting::new();
    let bump = Change::Bump(1);
    // Two racers, three attempts: the third saves, on top of both racers.
    let runs = Cell::new(0u32);
    let got = update(&store, &0, 3, fresh, |d| {
        runs.set(runs.get() + 1);
        if runs.get() <= 2 {
            race_real(&store, 0);
        }
        apply_change(&bump, d)
    });
    // Racer 1 creates {1000, v0}; racer 2 makes it {2000, v1}; then +1.
    assert_eq!(got, Ok(2001));
    assert_eq!(runs.get(), 3);
    assert_eq!(store.saves(), 3);
    assert_eq!(
        store.load(&0),
        Ok(Some(Doc {
            n: 2001,
            version: 2
        }))
    );
    // A racer on every attempt: contended, naming the attempts, and the
    // store holds only the racers' writes.
    let got = update(&store, &0, 4, fresh, |d| {
        race_real(&store, 0);
        apply_change(&bump, d)
    });
    assert_eq!(got, Err(UpdateError::Contended { attempts: 4 }));
    assert_eq!(
        store.load(&0),
        Ok(Some(Doc {
            n: 6001,
            version: 6
        }))
    );
    // Zero attempts is one.
    let got = update(&store, &0, 0, fresh, |d| {
        race_real(&store, 0);
        apply_change(&bump, d)
    });
    assert_eq!(got, Err(UpdateError::Contended { attempts: 1 }));
    let shown = UpdateError::<Infallible, Infallible>::Contended { attempts: 4 }.to_string();
    assert!(shown.contains("4 attempts"), "{shown}");
}

#[test]
fn a_racer_that_exhausts_the_version_stops_the_retry() {
    // Stored at MAX - 1; the racer takes it to MAX: the retry then finds
    // an exhausted version and changes nothing.
    let store = Counting::new();
    let last = Doc {
        n: 1,
        version: u64::MAX - 1,
    };
    store.inner.save(&0, &last, None).unwrap();
    let runs = Cell::new(0u32);
    let got = update(&store, &0, 5, fresh, |d| {
        runs.set(runs.get() + 1);
        race_real(&store, 0);
        apply_change(&Change::Bump(1), d)
    });
    assert_eq!(got, Err(UpdateError::VersionExhausted));
    assert_eq!(runs.get(), 1);
    assert_eq!(
        store.load(&0),
        Ok(Some(Doc {
            n: 1001,
            version: u64::MAX
        }))
    );
}

#[test]
fn save_errors_name_the_versions() {
    let store: MemoryStore<&str, Doc> = MemoryStore::new();
    let conflict = store
        .save(&"a", &Doc { n: 1, version: 3 }, Some(2))
        .unwrap_err();
    assert_eq!(
        conflict,
        SaveError::Conflict {
            expected: Some(2),
            found: None
        }
    );
    let shown = conflict.to_string();
    assert!(
        shown.contains("expected stored version 2, found none (absent)"),
        "{shown}"
    );
    store.save(&"a", &Doc { n: 1, version: 3 }, None).unwrap();
    let shown = store
        .save(&"a", &Doc { n: 1, version: 9 }, Some(4))
        .unwrap_err()
        .to_string();
    assert!(
        shown.contains("expected stored version 4, found 3"),
        "{shown}"
    );
    // Not newer is checked before the compare: a stale, unbumped value is
    // refused as not newer even though its expected version is wrong too.
    assert_eq!(
        store.save(&"a", &Doc { n: 1, version: 4 }, Some(4)),
        Err(SaveError::NotNewer {
            expected: 4,
            given: 4
        })
    );
    assert_eq!(store.load(&"a"), Ok(Some(Doc { n: 1, version: 3 })));
    let shown = UpdateError::<Infallible, Infallible>::VersionMovedBack {
        expected: 5,
        given: 2,
    }
    .to_string();
    assert!(shown.contains("from 5 to 2"), "{shown}");
}

#[test]
fn a_memory_store_is_shared_between_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<MemoryStore<String, Doc>>();
    send_sync::<std::sync::Arc<MemoryStore<u8, Doc>>>();
}

/// A few threads increment one counter through `update` with unbounded
/// retries: every increment lands, and each thread sees a distinct count.
#[test]
fn threads_updating_one_counter_lose_no_update() {
    const THREADS: u64 = 4;
    const EACH: u64 = 300;
    let store: MemoryStore<String, Doc> = MemoryStore::new();
    let key = "counter".to_owned();
    let seen: Vec<Vec<u64>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS)
            .map(|_| {
                let (store, key) = (&store, &key);
                scope.spawn(move || {
                    (0..EACH)
                        .map(|_| {
                            update(store, key, u32::MAX, fresh, |d| {
                                d.n += 1;
                                d.version += 1;
                                Ok::<_, Infallible>(d.n)
                            })
                            .unwrap()
                        })
                        .collect::<Vec<u64>>()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let total = THREADS * EACH;
    assert_eq!(
        store.load(&key),
        Ok(Some(Doc {
            n: total,
            version: total
        }))
    );
    // Each saved attempt returned the count it saved: all of 1..=total,
    // once each, rising within a thread.
    for counts in &seen {
        assert!(counts.windows(2).all(|w| w[0] < w[1]), "{counts:?}");
    }
    let mut all: Vec<u64> = seen.into_iter().flatten().collect();
    all.sort_unstable();
    assert_eq!(all, (1..=total).collect::<Vec<_>>());
}

/// With few retries some updates give up, but every one that reports
/// success landed and no other did.
#[test]
fn threads_with_few_retries_count_exactly_their_successes() {
    const THREADS: usize = 4;
    const EACH: usize = 300;
    let store: MemoryStore<u8, Doc> = MemoryStore::new();
    let successes: usize = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS)
            .map(|_| {
                let store = &store;
                scope.spawn(move || {
                    (0..EACH)
                        .filter(|_| {
                            match update(store, &0, 2, fresh, |d| {
                                d.n += 1;
                                d.version += 1;
                                Ok::<_, Infallible>(())
                            }) {
                                Ok(()) => true,
                                Err(UpdateError::Contended { attempts: 2 }) => false,
                                Err(other) => panic!("{other:?}"),
                            }
                        })
                        .count()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert!(successes >= EACH, "at least one thread's worth lands");
    let n = u64::try_from(successes).unwrap();
    assert_eq!(store.load(&0), Ok(Some(Doc { n, version: n })));
}

// ---------------------------------------------------------------------------
// EventLog and UserIndex
// ---------------------------------------------------------------------------

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap()
}

fn kind(k: u8) -> EventKind {
    match k % 3 {
        0 => EventKind::SignedUp,
        1 => EventKind::Visited,
        _ => EventKind::ActionCompleted {
            action: "lesson".into(),
        },
    }
}

/// Users drawn from a small pool with extremes, so ids repeat.
fn user() -> impl Strategy<Value = UserId> {
    prop_oneof![
        4 => (0u64..6).prop_map(UserId),
        1 => Just(UserId(u64::MAX)),
        1 => Just(UserId(1 << 32)),
    ]
}

/// Events of `users`, numbered by position (the order shows); `dup` repeats
/// an event verbatim (same id) right after it.
fn events_of(users: &[(UserId, u8, bool)]) -> Vec<Event> {
    let mut out = Vec::new();
    for (i, &(user, k, dup)) in users.iter().enumerate() {
        let e = Event::new(
            EventId(i as u64),
            user,
            t0() + TimeDelta::seconds(i64::from(k)),
            kind(k),
        );
        if dup {
            out.push(e.clone());
        }
        out.push(e);
    }
    out
}

fn raw_events() -> impl Strategy<Value = Vec<Event>> {
    let any_order =
        proptest::collection::vec((user(), any::<u8>(), proptest::bool::weighted(0.1)), 0..60);
    let one_user = (
        user(),
        proptest::collection::vec((any::<u8>(), any::<bool>()), 0..10),
    )
        .prop_map(|(u, ks)| ks.into_iter().map(|(k, d)| (u, k, d)).collect::<Vec<_>>());
    let many_users = proptest::collection::vec(
        ((0u64..1000).prop_map(UserId), any::<u8>(), Just(false)),
        0..80,
    );
    // Already grouped: runs of one user each, some users coming back.
    let grouped = proptest::collection::vec((user(), 1usize..5), 0..8).prop_map(|runs| {
        runs.into_iter()
            .flat_map(|(u, len)| (0..len).map(move |k| (u, k as u8, false)))
            .collect::<Vec<_>>()
    });
    prop_oneof![
        3 => any_order,
        1 => one_user,
        1 => many_users,
        1 => grouped,
        1 => Just(Vec::new()),
    ]
    .prop_map(|users| events_of(&users))
}

/// The model: users in order of first appearance, each with its events in
/// their original order.
fn group(events: &[Event]) -> Vec<(UserId, Vec<Event>)> {
    let mut runs: Vec<(UserId, Vec<Event>)> = Vec::new();
    for e in events {
        match runs.iter_mut().find(|(u, _)| *u == e.user) {
            Some((_, run)) => run.push(e.clone()),
            None => runs.push((e.user, vec![e.clone()])),
        }
    }
    runs
}

fn check_log(log: &EventLog, events: &[Event]) -> Result<(), TestCaseError> {
    let model = group(events);
    let runs: Vec<(UserId, Vec<Event>)> = log.runs().map(|(u, es)| (u, es.to_vec())).collect();
    prop_assert_eq!(&runs, &model);
    prop_assert_eq!(log.runs().len(), model.len());
    let flat: Vec<Event> = model
        .iter()
        .flat_map(|(_, es)| es.iter().cloned())
        .collect();
    prop_assert_eq!(log.events(), &flat[..]);
    prop_assert_eq!(log.len(), events.len());
    prop_assert_eq!(log.is_empty(), events.is_empty());
    for (slot, (user, run)) in model.iter().enumerate() {
        prop_assert_eq!(log.events_of(*user), &run[..]);
        prop_assert_eq!(log.index().slot(*user), Some(slot as u32));
        prop_assert_eq!(log.index().user(slot as u32), Some(*user));
    }
    let users: Vec<UserId> = model.iter().map(|(u, _)| *u).collect();
    prop_assert_eq!(log.index().users(), &users[..]);
    prop_assert_eq!(log.index().len(), users.len());
    prop_assert_eq!(log.index().is_empty(), users.is_empty());
    prop_assert_eq!(log.index().user(users.len() as u32), None);
    // A user with no events.
    let absent = UserId(999_999);
    prop_assert!(!users.contains(&absent));
    prop_assert!(log.events_of(absent).is_empty());
    prop_assert_eq!(log.index().slot(absent), None);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn event_log_groups_by_user_in_first_seen_order(events in raw_events()) {
        let log = EventLog::new(events.clone());
        check_log(&log, &events)?;
        // Collecting gives the same log.
        let collected: EventLog = events.iter().cloned().collect();
        check_log(&collected, &events)?;
        // Grouping a grouped log changes nothing.
        let again = EventLog::new(log.events().to_vec());
        check_log(&again, log.events())?;
        prop_assert_eq!(again.events(), log.events());
        prop_assert_eq!(again.index().users(), log.index().users());
    }

    #[test]
    fn interning_gives_dense_slots_in_first_seen_order(
        users in proptest::collection::vec(user(), 0..60),
        capacity in 0usize..8,
    ) {
        let mut first_seen: Vec<UserId> = Vec::new();
        let mut index = if capacity == 0 { UserIndex::new() } else { UserIndex::with_capacity(capacity) };
        for &u in &users {
            let want = match first_seen.iter().position(|&s| s == u) {
                Some(slot) => slot,
                None => {
                    first_seen.push(u);
                    first_seen.len() - 1
                }
            };
            prop_assert_eq!(index.intern(u), want as u32);
            // Interning again is stable and adds nothing.
            prop_assert_eq!(index.intern(u), want as u32);
            prop_assert_eq!(index.len(), first_seen.len());
        }
        prop_assert_eq!(index.users(), &first_seen[..]);
        prop_assert_eq!(index.is_empty(), first_seen.is_empty());
        for (slot, &u) in first_seen.iter().enumerate() {
            prop_assert_eq!(index.slot(u), Some(slot as u32));
            prop_assert_eq!(index.user(slot as u32), Some(u));
        }
        prop_assert_eq!(index.user(first_seen.len() as u32), None);
        prop_assert_eq!(index.user(u32::MAX), None);
        prop_assert_eq!(index.slot(UserId(999_999)), None);
        // A clone answers alike, and interning into it leaves the original.
        let mut copy = index.clone();
        prop_assert_eq!(copy.intern(UserId(999_999)), first_seen.len() as u32);
        prop_assert_eq!(index.slot(UserId(999_999)), None);
        prop_assert_eq!(index.len(), first_seen.len());
    }
}

#[test]
fn an_empty_or_default_log_has_no_users_and_no_events() {
    for log in [
        EventLog::new(Vec::new()),
        EventLog::default(),
        EventLog::from_iter([]),
    ] {
        assert!(log.is_empty());
        assert_eq!(log.len(), 0);
        assert_eq!(log.runs().len(), 0);
        assert!(log.events().is_empty());
        assert!(log.events_of(UserId(0)).is_empty());
        assert!(log.index().is_empty());
    }
    let index = UserIndex::default();
    assert_eq!(index.user(0), None);
    assert_eq!(index.slot(UserId(0)), None);
}
