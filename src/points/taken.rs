//! [`Taken`] and [`TakenList`]: which lots paid for a redemption or a hold,
//! kept inline for the usual one or two lots.

use crate::event::Label;
use crate::slice_list::slice_like;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Points taken from one lot by a redemption or a hold.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct Taken {
    /// The lot's [`id`](super::Lot::id).
    #[serde(default)]
    pub lot: u64,
    /// The lot's rule.
    pub rule: Label,
    /// The lot's earning time.
    pub earned_at: DateTime<Utc>,
    /// The lot's expiry.
    pub expires_at: Option<DateTime<Utc>>,
    /// Points taken.
    pub points: u64,
}

/// The lots a redemption or a hold took points from, earliest-expiring
/// first: a slice (it derefs to `[Taken]`) that holds up to two lots inline.
///
/// Most redemptions are paid by one or two lots, and every redemption is
/// both returned and remembered for idempotency, so keeping them inline
/// saves two allocations per call. Serialized as a plain list, like the
/// `Vec<Taken>` it replaces.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use growthkit::points::{Taken, TakenList};
///
/// let at = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
/// let lot = |lot, points| Taken { lot, rule: "visit".into(), earned_at: at, expires_at: None, points };
/// let list: TakenList = [lot(1, 30), lot(2, 20), lot(3, 10)].into_iter().collect();
/// assert_eq!(list.iter().map(|t| t.points).sum::<u64>(), 60);
/// assert_eq!(list[2].lot, 3);
/// assert_eq!(list, TakenList::from(list.to_vec()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Default)]
pub struct TakenList(Repr);

// One variant per inline length, so an empty list is just a tag.
#[derive(Default)]
enum Repr {
    #[default]
    None,
    One(Taken),
    Two([Taken; 2]),
    Heap(Vec<Taken>),
}

impl TakenList {
    /// An empty list.
    pub const fn new() -> TakenList {
        TakenList(Repr::None)
    }

    /// The lots as a slice.
    pub fn as_slice(&self) -> &[Taken] {
        match &self.0 {
            Repr::None => &[],
            Repr::One(t) => std::slice::from_ref(t),
            Repr::Two(ts) => ts,
            Repr::Heap(v) => v,
        }
    }

    /// Appends a lot.
    pub fn push(&mut self, t: Taken) {
        // The common cases write in place; only a growing inline list moves
        // what it holds.
        match &mut self.0 {
            Repr::None => self.0 = Repr::One(t),
            Repr::Heap(v) => v.push(t),
            Repr::One(_) | Repr::Two(_) => {
                self.0 = match std::mem::take(&mut self.0) {
                    Repr::One(a) => Repr::Two([a, t]),
                    Repr::Two([a, b]) => {
                        let mut v = Vec::with_capacity(4);
                        v.extend([a, b, t]);
                        Repr::Heap(v)
                    }
                    other => other,
                }
            }
        }
    }
}

impl TakenList {
    /// A list of one lot, built where it is assigned (as `push` on an
    /// empty list builds it).
    #[inline(always)]
    pub(crate) fn one(a: Taken) -> TakenList {
        TakenList(Repr::One(a))
    }

    /// A list of two lots, built where it is assigned: pushing the second
    /// moves the first out of a list of one and back into a list of two.
    #[inline(always)]
    pub(crate) fn two(a: Taken, b: Taken) -> TakenList {
        TakenList(Repr::Two([a, b]))
    }
}

// By hand, to be inlined where the copy is kept: a redemption's remembered
// copy is built field by field inside its ledger, where a derived clone,
// called, returned the list on the stack to be copied again.
impl Clone for TakenList {
    #[inline(always)]
    fn clone(&self) -> TakenList {
        TakenList(match &self.0 {
            Repr::None => Repr::None,
            Repr::One(a) => Repr::One(a.clone()),
            Repr::Two([a, b]) => Repr::Two([a.clone(), b.clone()]),
            Repr::Heap(v) => Repr::Heap(v.clone()),
        })
    }
}

impl From<Vec<Taken>> for TakenList {
    fn from(v: Vec<Taken>) -> TakenList {
        v.into_iter().collect()
    }
}

impl From<TakenList> for Vec<Taken> {
    fn from(list: TakenList) -> Vec<Taken> {
        match list.0 {
            Repr::None => Vec::new(),
            Repr::One(a) => vec![a],
            Repr::Two(ts) => ts.into(),
            Repr::Heap(v) => v,
        }
    }
}

impl FromIterator<Taken> for TakenList {
    fn from_iter<I: IntoIterator<Item = Taken>>(iter: I) -> TakenList {
        // Each lot is moved once, straight to where it stays.
        let mut iter = iter.into_iter();
        let Some(a) = iter.next() else {
            return TakenList::new();
        };
        let Some(b) = iter.next() else {
            return TakenList(Repr::One(a));
        };
        let Some(c) = iter.next() else {
            return TakenList(Repr::Two([a, b]));
        };
        let mut v = Vec::with_capacity(4);
        v.extend([a, b, c]);
        v.extend(iter);
        TakenList(Repr::Heap(v))
    }
}

slice_like!(TakenList, Taken);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slice_list::hash_of;
    use chrono::TimeZone;

    fn taken(lot: u64) -> Taken {
        Taken {
            lot,
            rule: "visit".into(),
            earned_at: Utc
                .with_ymd_and_hms(2026, 3, 1, 0, 0, 0)
                .single()
                .unwrap_or_default(),
            expires_at: None,
            points: lot * 10,
        }
    }

    #[test]
    fn every_length_keeps_its_lots_in_order_and_round_trips_as_a_list() {
        for n in 0..6 {
            let lots: Vec<Taken> = (1..=n).map(taken).collect();
            let list: TakenList = lots.iter().cloned().collect();
            assert_eq!(list.as_slice(), lots.as_slice(), "{n}");
            assert_eq!(list.len(), lots.len());
            let json = serde_json::to_string(&list).unwrap_or_default();
            assert_eq!(json, serde_json::to_string(&lots).unwrap_or_default());
            let back: TakenList = serde_json::from_str(&json).unwrap_or_default();
            assert_eq!(back, list);
            assert_eq!(Vec::from(list.clone()), lots);
            assert_eq!(list.clone().into_iter().collect::<Vec<_>>(), lots);
            assert_eq!((&list).into_iter().count(), n as usize);
        }
    }

    #[test]
    fn lists_built_whole_equal_lists_pushed_and_clone_alike() {
        let pushed = |n: u64| -> TakenList {
            let mut list = TakenList::new();
            (1..=n).for_each(|lot| list.push(taken(lot)));
            list
        };
        assert_eq!(TakenList::one(taken(1)), pushed(1));
        assert_eq!(TakenList::two(taken(1), taken(2)), pushed(2));
        for n in 0..5 {
            let list = pushed(n);
            let copy = list.clone();
            assert_eq!(copy, list);
            assert_eq!(copy.len(), n as usize);
        }
        assert!(matches!(
            TakenList::two(taken(1), taken(2)).clone().0,
            Repr::Two(_)
        ));
    }

    #[test]
    fn equality_and_hash_ignore_where_the_lots_are_kept() {
        let inline: TakenList = [taken(1), taken(2)].into_iter().collect();
        let heap = TakenList(Repr::Heap(vec![taken(1), taken(2)]));
        assert_eq!(inline, heap);
        assert_eq!(hash_of(&inline), hash_of(&heap));
        assert_ne!(inline, TakenList::from(vec![taken(1)]));
        assert!(TakenList::new().is_empty());
    }
}
