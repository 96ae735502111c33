//! Bounded histories: the statement, the awards remembered for reversal,
//! an account's contributions. Each keeps the newest few of something and
//! drops the oldest first.

use std::collections::VecDeque;

/// Appends the item `make` builds, keeping the newest `limit` items; a
/// `limit` of 0 keeps none (and builds nothing). `while`, not `if`: the
/// limit may have shrunk since the last push.
pub(crate) fn push_newest<T>(list: &mut VecDeque<T>, limit: usize, make: impl FnOnce() -> T) {
    while list.len() >= limit.max(1) {
        list.pop_front();
    }
    if limit > 0 {
        list.push_back(make());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_and_drops_all_at_zero() {
        let mut list: VecDeque<u32> = (0..5).collect();
        push_newest(&mut list, 3, || 5);
        assert_eq!(list, [3, 4, 5]);
        push_newest(&mut list, 3, || 6);
        assert_eq!(list, [4, 5, 6]);
        push_newest(&mut list, 0, || unreachable!("nothing is kept"));
        assert!(list.is_empty());
    }
}
