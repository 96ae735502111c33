//! Dense indices for ids, for batch paths.
//!
//! A batch replay touches one user's state per event. Looking that state up
//! in a hash map costs a hash and a probe every time; interning each id once
//! into a dense `u32` slot turns every later lookup into an array access.

use crate::id::UserId;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A fast hasher for integer ids: one multiply and a rotate.
///
/// Not resistant to chosen keys (hash flooding), which is fine for ids a host
/// assigns itself; do not feed it keys an attacker picks.
#[derive(Clone, Copy, Default, Debug)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        // The multiplier is 2^64 / φ, odd: it spreads sequential ids across
        // the whole word, and the rotate brings the well-mixed high bits down
        // to where hashbrown takes its bucket index.
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0.rotate_left(26)
    }
}

/// `BuildHasher` for [`IdHasher`], to use with std's `HashMap`.
pub type BuildIdHasher = BuildHasherDefault<IdHasher>;

/// Users interned to dense slots `0..len`, in order of first appearance.
///
/// ```
/// use growthkit::intern::UserIndex;
/// use growthkit::UserId;
/// let mut index = UserIndex::new();
/// assert_eq!(index.intern(UserId(900)), 0);
/// assert_eq!(index.intern(UserId(7)), 1);
/// assert_eq!(index.intern(UserId(900)), 0);
/// assert_eq!(index.slot(UserId(7)), Some(1));
/// assert_eq!(index.user(1), Some(UserId(7)));
/// ```
#[derive(Clone, Debug, Default)]
pub struct UserIndex {
    slots: HashMap<UserId, u32, BuildIdHasher>,
    users: Vec<UserId>,
}

impl UserIndex {
    /// An empty index.
    pub fn new() -> UserIndex {
        UserIndex::default()
    }

    /// An empty index with room for `users` users.
    pub fn with_capacity(users: usize) -> UserIndex {
        UserIndex {
            slots: HashMap::with_capacity_and_hasher(users, BuildIdHasher::default()),
            users: Vec::with_capacity(users),
        }
    }

    /// The slot of `user`, giving it the next free one if it has none.
    ///
    /// Slots are `u32`; past 4,294,967,295 users the last slot is shared,
    /// which no real user base reaches (the index itself would need 70 GB).
    #[inline]
    pub fn intern(&mut self, user: UserId) -> u32 {
        let next = u32::try_from(self.users.len()).unwrap_or(u32::MAX);
        let slot = *self.slots.entry(user).or_insert(next);
        if slot == next && self.users.len() == next as usize {
            self.users.push(user);
        }
        slot
    }

    /// The slot of `user`, if interned.
    pub fn slot(&self, user: UserId) -> Option<u32> {
        self.slots.get(&user).copied()
    }

    /// The user in `slot`, if any.
    pub fn user(&self, slot: u32) -> Option<UserId> {
        self.users.get(slot as usize).copied()
    }

    /// Every interned user, by slot.
    pub fn users(&self) -> &[UserId] {
        &self.users
    }

    /// How many users are interned.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether none are.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn sequential_ids_spread_over_low_bits() {
        let build = BuildIdHasher::default();
        let mut buckets = [0u32; 64];
        for id in 0..64_000u64 {
            buckets[(build.hash_one(UserId(id)) & 63) as usize] += 1;
        }
        assert!(
            buckets.iter().all(|&n| (500..1500).contains(&n)),
            "{buckets:?}"
        );
    }

    #[test]
    fn interning_is_stable_and_dense() {
        let mut index = UserIndex::with_capacity(4);
        let slots: Vec<u32> = [5, 3, 5, 9, 3]
            .into_iter()
            .map(|u| index.intern(UserId(u)))
            .collect();
        assert_eq!(slots, [0, 1, 0, 2, 1]);
        assert_eq!(index.users(), &[UserId(5), UserId(3), UserId(9)]);
        assert_eq!(index.slot(UserId(4)), None);
        assert_eq!(index.user(3), None);
    }
}
