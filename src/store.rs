//! The storage port: a versioned key-value store with compare-and-swap.
//!
//! The library never does I/O. A host keeps each aggregate (a user's
//! [`Lifecycle`](crate::lifecycle::Lifecycle), a points
//! [`Ledger`](crate::points::Ledger) or [`Account`](crate::points::Account),
//! a [`Community`](crate::community::Community), a member's score or level)
//! wherever it likes; this trait is the one shape every such place takes, so
//! the same host code serves Postgres, Redis or the [`MemoryStore`] used in
//! tests and examples.
//!
//! Every state type carries a `version` that each successful change bumps
//! ([`Versioned`]). A writer loads a value, changes it with a pure step, and
//! saves it *only if* the stored version is still the one it loaded; if another
//! writer got there first the save is a [`SaveError::Conflict`] and nothing is
//! written. [`update`] wraps that loop.
//!
//! ```
//! use growthkit::store::{update, MemoryStore, Versioned, VersionedStore};
//!
//! #[derive(Clone, Debug, PartialEq)]
//! struct Counter { hits: u32, version: u64 }
//! impl Versioned for Counter {
//!     fn version(&self) -> u64 { self.version }
//! }
//!
//! let store = MemoryStore::new();
//! let hits = update(&store, &"home", 3, || Counter { hits: 0, version: 0 }, |c| {
//!     c.hits += 1;
//!     c.version += 1;
//!     Ok::<_, std::convert::Infallible>(c.hits)
//! })
//! .unwrap();
//! assert_eq!(hits, 1);
//! assert_eq!(store.load(&"home").unwrap(), Some(Counter { hits: 1, version: 1 }));
//! ```

use std::collections::HashMap;
use std::convert::Infallible;
use std::hash::Hash;
use std::sync::{PoisonError, RwLock};

/// A state type that carries a version, bumped by every successful change.
pub trait Versioned {
    /// The current version; a freshly created value has version 0.
    fn version(&self) -> u64;
}

/// Why a save did not happen.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum SaveError<E> {
    /// Another writer changed the value since it was loaded.
    #[error(
        "version conflict: expected stored version {}, found {}",
        show(*.expected),
        show(*.found)
    )]
    Conflict {
        /// The version the writer loaded (`None`: it expected no value).
        expected: Option<u64>,
        /// The version actually stored (`None`: there is no value).
        found: Option<u64>,
    },
    /// The value to save carries a version no greater than the one it
    /// replaces: a changed value whose version was not bumped, which a
    /// stale writer holding the same version could then overwrite unseen.
    #[error(
        "the value's version {given} is not above the stored version {expected} it \
         replaces: a changed value must carry a bumped version"
    )]
    NotNewer {
        /// The stored version the save expected to replace.
        expected: u64,
        /// The version the value to save carries.
        given: u64,
    },
    /// The backing store failed.
    #[error("store failed: {0}")]
    Store(#[source] E),
}

/// The check every [`VersionedStore::save`] makes before anything else: a
/// value that replaces version `expected` carries a greater version.
/// Implementations call it so they refuse alike.
pub fn check_newer<E>(value: &impl Versioned, expected: Option<u64>) -> Result<(), SaveError<E>> {
    match expected {
        Some(expected) if value.version() <= expected => Err(SaveError::NotNewer {
            expected,
            given: value.version(),
        }),
        _ => Ok(()),
    }
}

fn show(version: Option<u64>) -> String {
    version.map_or_else(|| "none (absent)".to_owned(), |v| v.to_string())
}

/// A key-value store whose writes are compare-and-swap on a version.
///
/// Implementations must make `save` atomic: check and write happen as one
/// step, so two writers that loaded the same version cannot both succeed.
pub trait VersionedStore<K, V: Versioned> {
    /// What the backing store can fail with (I/O, connection, encoding).
    type Error: std::error::Error + Send + Sync + 'static;

    /// The stored value for `key`, if any.
    fn load(&self, key: &K) -> Result<Option<V>, Self::Error>;

    /// Stores `value` under `key` if the stored version is `expected`
    /// (`None`: only if no value is stored). On a conflict nothing is written,
    /// and the error names both `expected` and the version `found` (`None`:
    /// no value is stored).
    ///
    /// A value that replaces a stored one must carry a greater version than
    /// `expected` ([`check_newer`], [`SaveError::NotNewer`]): otherwise a
    /// caller that changed a value without bumping its version, and a stale
    /// writer still holding that version, could both save, and the first
    /// change would be lost unseen. That check comes first, so a value not
    /// above `Some(expected)` is refused as [`SaveError::NotNewer`] whatever
    /// is stored; a value saved with `expected` `None` (a new one) may carry
    /// any version, 0 included. Every refusal writes nothing.
    fn save(&self, key: &K, value: &V, expected: Option<u64>)
    -> Result<(), SaveError<Self::Error>>;
}

/// Why [`update`] gave up.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum UpdateError<S, E> {
    /// Every attempt met a concurrent writer.
    #[error("gave up after {attempts} attempts: the value kept changing underneath")]
    Contended {
        /// How many times it tried.
        attempts: u32,
    },
    /// The store failed.
    #[error("store failed: {0}")]
    Store(#[source] S),
    /// The change itself was rejected; nothing was saved.
    #[error("change rejected: {0}")]
    Rejected(#[source] E),
    /// `change` left the value at a version below the one loaded: no state
    /// type of the library does; nothing was saved.
    #[error("the change moved the version back from {expected} to {given}; nothing was saved")]
    VersionMovedBack {
        /// The version loaded.
        expected: u64,
        /// The version `change` left.
        given: u64,
    },
    /// The stored value's version is at `u64::MAX` (only a value made by
    /// hand, or read from edited JSON, gets there): versions saturate, so
    /// compare-and-swap could no longer tell a change from none, nor one
    /// writer from another. `change` was not run on that value and nothing
    /// was saved. Found on a retry (another writer saved `u64::MAX` since
    /// the previous attempt), it ends the retries.
    #[error("the stored value's version is exhausted (u64::MAX): it cannot be updated safely")]
    VersionExhausted,
}

/// Loads `key` (or starts from `fresh()`), applies `change`, and saves with
/// compare-and-swap, retrying up to `attempts` times (at least once) when
/// another writer wins the race ([`SaveError::Conflict`]). Returns what
/// `change` returned on the last attempt: the one that saved, or the one
/// that left nothing to save. When every attempt meets a conflict it is
/// [`UpdateError::Contended`], naming how many attempts were made.
///
/// `change` may run more than once, each time on a freshly loaded value, so
/// it must be a pure step. When it returns an error nothing is saved and
/// there is no retry ([`UpdateError::Rejected`]). When it leaves a stored
/// value's version as loaded (a duplicate event, a tick with nothing due)
/// there is nothing to save: the store is not written, even if `change`
/// altered the value, and what `change` returned is returned. A value
/// started from `fresh()` (nothing was stored) is always saved, with
/// `expected` `None`, whatever its version. When `change` moves a stored
/// value's version below the one loaded nothing is saved
/// ([`UpdateError::VersionMovedBack`]). A stored value whose version is at
/// `u64::MAX` is not changed at all ([`UpdateError::VersionExhausted`]).
pub fn update<K, V, St, T, E>(
    store: &St,
    key: &K,
    attempts: u32,
    fresh: impl Fn() -> V,
    mut change: impl FnMut(&mut V) -> Result<T, E>,
) -> Result<T, UpdateError<St::Error, E>>
where
    V: Versioned,
    St: VersionedStore<K, V>,
{
    let attempts = attempts.max(1);
    for _ in 0..attempts {
        let loaded = store.load(key).map_err(UpdateError::Store)?;
        let expected = loaded.as_ref().map(Versioned::version);
        if expected == Some(u64::MAX) {
            return Err(UpdateError::VersionExhausted);
        }
        let mut value = loaded.unwrap_or_else(&fresh);
        let out = change(&mut value).map_err(UpdateError::Rejected)?;
        if expected.is_some() && expected == Some(value.version()) {
            return Ok(out);
        }
        match store.save(key, &value, expected) {
            Ok(()) => return Ok(out),
            Err(SaveError::Conflict { .. }) => continue,
            Err(SaveError::NotNewer { expected, given }) => {
                return Err(UpdateError::VersionMovedBack { expected, given });
            }
            Err(SaveError::Store(e)) => return Err(UpdateError::Store(e)),
        }
    }
    Err(UpdateError::Contended { attempts })
}

/// A thread-safe in-memory [`VersionedStore`], for tests, examples and
/// single-process hosts. Share it between threads behind an `Arc`.
#[derive(Debug)]
pub struct MemoryStore<K, V> {
    map: RwLock<HashMap<K, V>>,
}

impl<K, V> MemoryStore<K, V> {
    /// An empty store.
    pub fn new() -> Self {
        MemoryStore {
            map: RwLock::new(HashMap::new()),
        }
    }
}

impl<K, V> Default for MemoryStore<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Eq + Hash, V> MemoryStore<K, V> {
    /// How many keys are stored.
    pub fn len(&self) -> usize {
        // A panic in another thread cannot leave the map half-written: every
        // write below is a single insert, so a poisoned lock is still sound.
        self.map
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<K, V> VersionedStore<K, V> for MemoryStore<K, V>
where
    K: Eq + Hash + Clone,
    V: Versioned + Clone,
{
    type Error = Infallible;

    fn load(&self, key: &K) -> Result<Option<V>, Infallible> {
        Ok(self
            .map
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .cloned())
    }

    fn save(&self, key: &K, value: &V, expected: Option<u64>) -> Result<(), SaveError<Infallible>> {
        check_newer(value, expected)?;
        let mut map = self.map.write().unwrap_or_else(PoisonError::into_inner);
        let found = map.get(key).map(Versioned::version);
        if found != expected {
            return Err(SaveError::Conflict { expected, found });
        }
        map.insert(key.clone(), value.clone());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[derive(Clone, Debug, PartialEq)]
    struct Doc {
        n: u64,
        version: u64,
    }
    impl Versioned for Doc {
        fn version(&self) -> u64 {
            self.version
        }
    }

    #[test]
    fn a_value_at_the_last_version_is_not_updated() {
        // A state at u64::MAX steps without a version bump (versions
        // saturate): saving would be a change compare-and-swap cannot see.
        let step = |d: &mut Doc| -> Result<(), ()> {
            d.n += 1;
            d.version = d.version.saturating_add(1);
            Ok(())
        };
        let fresh = || Doc { n: 0, version: 0 };
        let store = MemoryStore::new();
        let last = Doc {
            n: 7,
            version: u64::MAX,
        };
        store.save(&1u32, &last, None).unwrap();
        let out = update(&store, &1u32, 3, fresh, step);
        assert_eq!(out, Err(UpdateError::VersionExhausted));
        let shown = UpdateError::<std::fmt::Error, std::fmt::Error>::VersionExhausted.to_string();
        assert!(shown.contains("exhausted"), "{shown}");
        assert_eq!(store.load(&1).unwrap(), Some(last));
        // Below it, a step is saved as usual.
        store.save(&2u32, &Doc { n: 7, version: 5 }, None).unwrap();
        assert_eq!(update(&store, &2u32, 3, fresh, step), Ok(()));
        assert_eq!(store.load(&2).unwrap(), Some(Doc { n: 8, version: 6 }));
    }

    #[test]
    fn a_changed_value_whose_version_was_not_bumped_is_refused() {
        // Two writers load version 1; the first changes the value but not
        // its version. Were that saved, the stale second writer's save
        // would pass the compare too and overwrite it unseen.
        let store = MemoryStore::new();
        store.save(&1u32, &Doc { n: 1, version: 1 }, None).unwrap();
        let unbumped = store.save(&1u32, &Doc { n: 2, version: 1 }, Some(1));
        assert_eq!(
            unbumped,
            Err(SaveError::NotNewer {
                expected: 1,
                given: 1
            })
        );
        let message = unbumped.unwrap_err().to_string();
        assert!(
            message.contains("version 1 is not above the stored version 1"),
            "{message}"
        );
        // Nor back: a value older than the one it replaces.
        assert_eq!(
            store.save(&1u32, &Doc { n: 0, version: 0 }, Some(1)),
            Err(SaveError::NotNewer {
                expected: 1,
                given: 0
            })
        );
        assert_eq!(store.load(&1).unwrap(), Some(Doc { n: 1, version: 1 }));
        // A bumped value saves; the stale writer then meets a conflict.
        store
            .save(&1u32, &Doc { n: 2, version: 2 }, Some(1))
            .unwrap();
        assert!(matches!(
            store.save(&1u32, &Doc { n: 3, version: 2 }, Some(1)),
            Err(SaveError::Conflict { .. })
        ));
    }

    #[test]
    fn update_tries_at_least_once_and_never_saves_a_version_moved_back() {
        let store = MemoryStore::new();
        let bump = |d: &mut Doc| {
            d.n += 1;
            d.version += 1;
            Ok::<_, Infallible>(d.n)
        };
        let fresh = || Doc { n: 0, version: 0 };
        assert_eq!(update(&store, &1u32, 0, fresh, bump), Ok(1));
        let back = update(&store, &1u32, 3, fresh, |d: &mut Doc| {
            d.version = 0;
            Ok::<_, Infallible>(())
        });
        assert_eq!(
            back,
            Err(UpdateError::VersionMovedBack {
                expected: 1,
                given: 0
            })
        );
        assert_eq!(store.load(&1).unwrap(), Some(Doc { n: 1, version: 1 }));
    }

    #[test]
    fn save_is_compare_and_swap() {
        let store = MemoryStore::new();
        let v1 = Doc { n: 1, version: 1 };
        store.save(&1u32, &v1, None).unwrap();
        let err = store
            .save(&1u32, &Doc { n: 2, version: 1 }, None)
            .unwrap_err();
        assert_eq!(
            err,
            SaveError::Conflict {
                expected: None,
                found: Some(1)
            }
        );
        assert!(
            err.to_string()
                .contains("expected stored version none (absent), found 1")
        );
        store
            .save(&1u32, &Doc { n: 2, version: 2 }, Some(1))
            .unwrap();
        let stale = store
            .save(&1u32, &Doc { n: 3, version: 2 }, Some(1))
            .unwrap_err();
        assert_eq!(
            stale,
            SaveError::Conflict {
                expected: Some(1),
                found: Some(2)
            }
        );
        assert_eq!(store.load(&1).unwrap(), Some(Doc { n: 2, version: 2 }));
        assert_eq!(store.len(), 1);
    }

    #[test]
    fn rejected_change_saves_nothing() {
        let store: MemoryStore<u32, Doc> = MemoryStore::new();
        let r = update(
            &store,
            &7,
            3,
            || Doc { n: 0, version: 0 },
            |_| Err::<(), _>("no"),
        );
        assert_eq!(r, Err(UpdateError::Rejected("no")));
        assert!(store.is_empty());
    }

    /// A store that counts writes, to see which calls reach it.
    struct Counting(MemoryStore<u32, Doc>, std::sync::atomic::AtomicU32);
    impl VersionedStore<u32, Doc> for Counting {
        type Error = Infallible;
        fn load(&self, key: &u32) -> Result<Option<Doc>, Infallible> {
            self.0.load(key)
        }
        fn save(
            &self,
            key: &u32,
            value: &Doc,
            expected: Option<u64>,
        ) -> Result<(), SaveError<Infallible>> {
            self.1.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.0.save(key, value, expected)
        }
    }

    #[test]
    fn an_unchanged_value_is_not_written_again() {
        let store = Counting(MemoryStore::new(), Default::default());
        let fresh = || Doc { n: 0, version: 0 };
        // A new value is saved even at version 0: it did not exist.
        update(&store, &1, 1, fresh, |_| Ok::<_, Infallible>(())).unwrap();
        update(&store, &1, 1, fresh, |_| Ok::<_, Infallible>(())).unwrap();
        assert_eq!(store.1.load(std::sync::atomic::Ordering::Relaxed), 1);
        update(&store, &1, 1, fresh, |d| {
            d.version += 1;
            Ok::<_, Infallible>(())
        })
        .unwrap();
        assert_eq!(store.1.load(std::sync::atomic::Ordering::Relaxed), 2);
    }

    #[test]
    fn concurrent_updates_lose_nothing() {
        let store = Arc::new(MemoryStore::<u32, Doc>::new());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let store = Arc::clone(&store);
                std::thread::spawn(move || {
                    for _ in 0..250 {
                        update(
                            &*store,
                            &0,
                            u32::MAX,
                            || Doc { n: 0, version: 0 },
                            |d| {
                                d.n += 1;
                                d.version += 1;
                                Ok::<_, Infallible>(())
                            },
                        )
                        .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(store.load(&0).unwrap().map(|d| d.n), Some(1000));
    }
}
