//! What the crate's small inline-or-heap lists share: each is a slice of
//! its items, wherever they are kept.
//!
//! [`TakenList`](crate::points::TakenList),
//! [`EntryList`](crate::points::EntryList) and
//! [`Transitions`](crate::lifecycle::Transitions) keep one, two and three
//! items inline, each sized for its use: one generic type would take the
//! size of the largest for all of them (a list with a variable number of
//! items inline needs `unsafe`, which the crate forbids). What does not
//! depend on the inline size is written once, here.

/// Implements, for a list type `$list` of `$item`s that has
/// `as_slice(&self) -> &[$item]`, `From<Vec<$item>>` and
/// `From<$list> for Vec<$item>`: `Deref` to the slice, equality and hashing
/// of the items (not of where they are kept), `Debug` as the plain list of
/// the items (as the `Vec` it replaces prints, wherever they are kept),
/// iteration by reference and by value, and serde as a plain list (the
/// `Vec` it replaces).
macro_rules! slice_like {
    ($list:ident, $item:ty) => {
        impl std::ops::Deref for $list {
            type Target = [$item];

            fn deref(&self) -> &[$item] {
                self.as_slice()
            }
        }

        // The items, not where they are kept: lists equal as lists print
        // alike, as the `Vec` they replace.
        impl std::fmt::Debug for $list {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_list().entries(self.as_slice()).finish()
            }
        }

        impl PartialEq for $list {
            fn eq(&self, other: &$list) -> bool {
                self.as_slice() == other.as_slice()
            }
        }

        impl Eq for $list {}

        impl std::hash::Hash for $list {
            fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
                self.as_slice().hash(state);
            }
        }

        impl<'a> IntoIterator for &'a $list {
            type Item = &'a $item;
            type IntoIter = std::slice::Iter<'a, $item>;

            fn into_iter(self) -> Self::IntoIter {
                self.as_slice().iter()
            }
        }

        impl IntoIterator for $list {
            type Item = $item;
            type IntoIter = std::vec::IntoIter<$item>;

            fn into_iter(self) -> Self::IntoIter {
                Vec::from(self).into_iter()
            }
        }

        impl serde::Serialize for $list {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                self.as_slice().serialize(serializer)
            }
        }

        impl<'de> serde::Deserialize<'de> for $list {
            fn deserialize<D: serde::Deserializer<'de>>(
                deserializer: D,
            ) -> Result<$list, D::Error> {
                Vec::<$item>::deserialize(deserializer).map($list::from)
            }
        }
    };
}

pub(crate) use slice_like;

/// A list's hash, for tests that two ways of keeping the same items hash
/// alike.
#[cfg(test)]
pub(crate) fn hash_of<T: std::hash::Hash>(list: &T) -> u64 {
    use std::hash::{DefaultHasher, Hasher};
    let mut h = DefaultHasher::new();
    list.hash(&mut h);
    h.finish()
}
