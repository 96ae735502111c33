//! Bounded histories: a ledger's statement and the awards it remembers for
//! reversal, an account's contributions, a lifecycle's or a machine's
//! transitions. Each keeps the newest few of something and drops the oldest
//! first.

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

/// Makes room in `history` for `incoming` newer items under `limit`, as
/// pushing them one by one and dropping the oldest past `limit` would:
/// drops the oldest items that would not survive, and returns how many
/// items in all, old or incoming, do not (incoming past `limit` are the
/// oldest of them: the caller appends only the newest `limit`).
#[inline]
pub(crate) fn make_room<T>(history: &mut Vec<T>, incoming: usize, limit: usize) -> usize {
    // The oldest go first: the old items, then the oldest incoming ones.
    let dropped = history.len().saturating_add(incoming).saturating_sub(limit);
    let old_dropped = dropped.min(history.len());
    // Usually nothing is dropped: no `Drain` to build and drop then.
    if old_dropped > 0 {
        history.drain(..old_dropped);
    }
    dropped
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

    #[test]
    fn room_is_made_as_one_push_at_a_time_would() {
        for limit in 0..5 {
            for old in 0..6 {
                for incoming in 0..7 {
                    let mut history: Vec<usize> = (0..old).collect();
                    let dropped = make_room(&mut history, incoming, limit);
                    history.extend((old..old + incoming).skip(incoming.saturating_sub(limit)));
                    // One at a time, the oldest dropped past the limit.
                    let mut one_by_one: VecDeque<usize> = (0..old).collect();
                    for item in old..old + incoming {
                        push_newest(&mut one_by_one, limit, || item);
                    }
                    while one_by_one.len() > limit {
                        one_by_one.pop_front();
                    }
                    assert_eq!(history, Vec::from(one_by_one), "{limit} {old} {incoming}");
                    assert_eq!(dropped, old + incoming - history.len());
                }
            }
        }
    }
}

/// Both against the plainest reading of their docs: every item ever added
/// in one list, and the newest `limit` of it kept.
#[cfg(test)]
mod reference {
    use super::*;
    use proptest::prelude::*;

    /// The newest `limit` of `all`.
    fn newest(all: &[u32], limit: usize) -> Vec<u32> {
        all[all.len().saturating_sub(limit)..].to_vec()
    }

    proptest! {
        #[test]
        fn push_newest_keeps_the_newest_limit_of_what_it_held_and_the_new_item(
            start in proptest::collection::vec(any::<u32>(), 0..8),
            pushes in proptest::collection::vec((0usize..6, any::<u32>()), 0..30),
        ) {
            let mut list: VecDeque<u32> = start.iter().copied().collect();
            let mut model = start;
            for (limit, item) in pushes {
                let mut built = false;
                push_newest(&mut list, limit, || {
                    built = true;
                    item
                });
                prop_assert_eq!(built, limit > 0);
                model.push(item);
                model = newest(&model, limit);
                prop_assert_eq!(Vec::from(list.clone()), model.clone());
            }
        }

        #[test]
        fn make_room_leaves_what_pushing_the_incoming_would_not_drop(
            old in proptest::collection::vec(any::<u32>(), 0..10),
            incoming in proptest::collection::vec(any::<u32>(), 0..10),
            limit in 0usize..12,
        ) {
            let mut history = old.clone();
            let dropped = make_room(&mut history, incoming.len(), limit);
            let all: Vec<u32> = old.iter().chain(&incoming).copied().collect();
            let kept = newest(&all, limit);
            prop_assert_eq!(dropped, all.len() - kept.len());
            history.extend(newest(&incoming, limit));
            prop_assert_eq!(history, kept);
        }
    }

    #[test]
    fn make_room_at_the_ends_of_usize() {
        let mut history = vec![1, 2, 3];
        assert_eq!(make_room(&mut history, usize::MAX, 0), usize::MAX);
        assert!(history.is_empty());
        let mut history = vec![1, 2, 3];
        assert_eq!(make_room(&mut history, usize::MAX - 3, usize::MAX - 1), 1);
        assert_eq!(history, [2, 3]);
        let mut history = vec![1, 2, 3];
        assert_eq!(make_room(&mut history, 0, usize::MAX), 0);
        assert_eq!(history, [1, 2, 3]);
    }
}
