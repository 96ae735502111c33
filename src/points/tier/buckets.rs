//! A member's qualifying tallies by window bucket, with their sum.

use super::TierError;
use crate::time::LocalDay;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;

/// Qualifying tallies by bucket (a local day, or the start of an
/// anniversary year), with their sum kept as they change: a ladder reads
/// the window's sum on every record, and a rolling window holds a bucket
/// per day, so summing them each time was most of a record's cost.
///
/// Kept in a list in bucket order, not a map: records land on the newest
/// bucket, or a newer one, at the end of the list. Serializes, compares
/// and prints as a map by bucket: the sum is derived.
#[derive(Clone, Default)]
pub(super) struct Buckets {
    /// Oldest first, one entry per bucket.
    list: Vec<(LocalDay, u64)>,
    /// The sum of `list`'s values: wide enough that it cannot overflow,
    /// so only a window's sum read out of it can.
    total: u128,
}

impl Buckets {
    /// The sum of the buckets from `start` on, or an overflow.
    #[inline]
    pub(super) fn sum_from(&self, start: LocalDay) -> Result<u64, TierError> {
        // Usually every bucket is in the window (the last step forgot the
        // older ones): the kept sum is the window's.
        let total = match self.list.first() {
            Some((first, _)) if *first < start => self
                .list
                .iter()
                .filter(|(k, _)| *k >= start)
                .map(|(_, v)| u128::from(*v))
                .sum::<u128>(),
            _ => self.total,
        };
        u64::try_from(total).map_err(|_| TierError::Overflow)
    }

    /// Whether a bucket before `start` is kept.
    pub(super) fn reaches_before(&self, start: LocalDay) -> bool {
        self.list.first().is_some_and(|(k, _)| *k < start)
    }

    /// Drops the buckets before `start`; the common case, nothing to drop,
    /// touches nothing.
    #[inline]
    pub(super) fn forget_before(&mut self, start: LocalDay) {
        if self.reaches_before(start) {
            let before = self.list.partition_point(|(k, _)| *k < start);
            let dropped: u128 = self.list.drain(..before).map(|(_, v)| u128::from(v)).sum();
            self.total -= dropped;
        }
    }

    /// The bucket `key`'s tally (0 if none is kept).
    pub(super) fn get(&self, key: LocalDay) -> u64 {
        let found = self.search(key).ok().and_then(|i| self.list.get(i));
        found.map_or(0, |(_, v)| *v)
    }

    /// Adds `amount` to bucket `key` (saturating, as a tally that cannot
    /// overflow when its window's sum did not).
    #[inline]
    pub(super) fn add(&mut self, key: LocalDay, amount: u64) {
        let i = match self.search(key) {
            Ok(i) => i,
            Err(i) => {
                self.list.insert(i, (key, 0));
                i
            }
        };
        let Some((_, bucket)) = self.list.get_mut(i) else {
            return;
        };
        let before = *bucket;
        *bucket = before.saturating_add(amount);
        self.total += u128::from(*bucket - before);
    }

    /// The sum of every kept bucket, if it fits: the window's when none
    /// is older than its start (see [`Buckets::reaches_before`]).
    #[inline]
    pub(super) fn total(&self) -> Option<u64> {
        u64::try_from(self.total).ok()
    }

    /// The newest bucket kept.
    #[inline]
    pub(super) fn newest(&self) -> Option<LocalDay> {
        self.list.last().map(|(k, _)| *k)
    }

    /// [`Buckets::add`] for a `key` no older than the newest bucket: to
    /// it, or to a new bucket after it, without a search.
    #[inline(always)]
    pub(super) fn add_newest(&mut self, key: LocalDay, amount: u64) {
        match self.list.last_mut() {
            Some((newest, bucket)) if *newest == key => {
                let before = *bucket;
                *bucket = before.saturating_add(amount);
                self.total += u128::from(*bucket - before);
            }
            _ => {
                debug_assert!(self.newest().is_none_or(|n| n < key));
                self.list.push((key, amount));
                self.total += u128::from(amount);
            }
        }
    }

    /// Sets bucket `key` to `value`, dropping it at 0.
    pub(super) fn set(&mut self, key: LocalDay, value: u64) {
        let before = match self.search(key) {
            Ok(i) => {
                let before = self.list.get(i).map_or(0, |(_, v)| *v);
                if value == 0 {
                    self.list.remove(i);
                } else if let Some((_, v)) = self.list.get_mut(i) {
                    *v = value;
                }
                before
            }
            Err(i) => {
                if value > 0 {
                    self.list.insert(i, (key, value));
                }
                0
            }
        };
        self.total = self.total - u128::from(before) + u128::from(value);
    }

    /// Where bucket `key` is in the list (`Ok`), or would go (`Err`).
    fn search(&self, key: LocalDay) -> Result<usize, usize> {
        // Records land on the newest bucket or a newer one: the end first.
        match self.list.last() {
            None => Err(0),
            Some((newest, _)) if *newest == key => Ok(self.list.len() - 1),
            Some((newest, _)) if *newest < key => Err(self.list.len()),
            Some(_) => self.list.binary_search_by_key(&key, |(k, _)| *k),
        }
    }

    /// No buckets again, keeping the list's room.
    pub(super) fn clear(&mut self) {
        self.list.clear();
        self.total = 0;
    }

    /// The buckets, oldest first.
    pub(super) fn iter(&self) -> impl Iterator<Item = (LocalDay, u64)> + '_ {
        self.list.iter().copied()
    }
}

impl PartialEq for Buckets {
    fn eq(&self, other: &Buckets) -> bool {
        self.list == other.list
    }
}

impl Eq for Buckets {}

impl fmt::Debug for Buckets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl Serialize for Buckets {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for Buckets {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<LocalDay, u64>::deserialize(d)?;
        let total = map.values().map(|v| u128::from(*v)).sum();
        Ok(Buckets {
            list: map.into_iter().collect(),
            total,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(n: i32) -> LocalDay {
        LocalDay::from_number(n)
    }

    /// The sum from `start`, added up from the buckets.
    fn summed(b: &Buckets, start: LocalDay) -> Option<u64> {
        b.iter()
            .filter(|(k, _)| *k >= start)
            .try_fold(0u64, |s, (_, v)| s.checked_add(v))
    }

    #[test]
    fn the_kept_sum_is_the_buckets_sum_through_every_change() {
        let mut b = Buckets::default();
        let steps: [(i32, u64, bool); 11] = [
            (1, 5, true),
            (2, 7, true),
            (2, 3, true),
            (4, 0, false),
            (5, 9, true),
            (3, 4, true),
            (3, 2, true),
            (0, 6, false),
            (2, 0, false),
            (6, u64::MAX, true),
            (6, 1, true),
        ];
        for (n, amount, adds) in steps {
            if adds {
                b.add(day(n), amount);
            } else {
                b.set(day(n), amount);
            }
            for start in 0..8 {
                let got = b.sum_from(day(start)).ok();
                assert_eq!(got, summed(&b, day(start)), "from day {start}");
            }
        }
        b.forget_before(day(5));
        assert!(!b.reaches_before(day(5)));
        assert_eq!(b.sum_from(day(0)).ok(), summed(&b, day(0)));
        // Read back, the sum is worked out again.
        let json = serde_json::to_string(&b).unwrap_or_default();
        let back: Buckets = serde_json::from_str(&json).unwrap_or_default();
        assert_eq!(back, b);
        assert_eq!(back.sum_from(day(0)).ok(), b.sum_from(day(0)).ok());
        b.set(day(6), 4);
        assert_eq!(b.sum_from(day(0)), Ok(13));
        assert_eq!(b.iter().collect::<Vec<_>>(), [(day(5), 9), (day(6), 4)]);
    }
}
