//! What a ledger remembers of its operations for idempotency: a retry with
//! the same key returns the first result (see [`Ledger::redeem`]).

use super::entry_list::EntryList;
use super::hold::{Hold, Release};
use super::ledger::{OperationKey, Redemption};
use super::rare_list::RareList;
use super::reversal::Reversal;
use super::statement::{Entry, EntryKind};
use super::taken::TakenList;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[cfg(doc)]
use super::ledger::Ledger;

/// An operation remembered for idempotency.
///
/// A ledger keeps up to [`REMEMBERED_KEYS`](super::REMEMBERED_KEYS) of
/// them, and most ledgers one or two, so the common ones are compact: a
/// redemption or capture is kept as a [`Spent`], and the rarer hold, whose
/// result is larger, behind a box (serialized the same).
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(crate) enum Remembered {
    Redeem(Spent),
    Hold(Box<Hold>),
    Capture(Spent),
    Release(Release),
    Reverse(Reversal),
}

impl Remembered {
    pub(crate) fn key(&self) -> &OperationKey {
        match self {
            Remembered::Redeem(r) | Remembered::Capture(r) => &r.key,
            Remembered::Hold(h) => &h.key,
            Remembered::Release(r) => &r.key,
            Remembered::Reverse(r) => &r.key,
        }
    }
}

/// A redemption or a capture as a ledger remembers it: the [`Redemption`]
/// without its one statement entry, which it implies. Stored in the form
/// of that redemption (older ledgers also stored the entry; it is ignored
/// and rebuilt the same).
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub(crate) struct Spent {
    key: OperationKey,
    points: u64,
    at: DateTime<Utc>,
    taken: TakenList,
    /// Always `false`, as in the first result: kept so that the stored form
    /// is the redemption's.
    #[serde(default)]
    repeated: bool,
    /// The entries after the implied one: what a capture took back for a
    /// reversal (see [`Hold`](super::Hold)); most often none.
    #[serde(default, skip_serializing_if = "RareList::is_empty")]
    reclaimed: RareList<Entry>,
}

impl Spent {
    /// What to remember of `r`, a first result.
    #[inline(always)]
    pub(crate) fn of(r: &Redemption) -> Spent {
        Spent {
            key: r.key.clone(),
            points: r.points,
            at: r.at,
            taken: r.taken.clone(),
            repeated: false,
            // A redemption has one entry: a length to compare, no more.
            reclaimed: match r.entries.get(1..) {
                Some(more) if !more.is_empty() => more.iter().cloned().collect(),
                _ => RareList::default(),
            },
        }
    }

    /// The result it stands for, marked repeated, with its entry: `kind`
    /// names the operation (redeemed or captured) under the key.
    pub(crate) fn again(&self, kind: fn(OperationKey) -> EntryKind) -> Redemption {
        let mut entries = EntryList::from(Entry {
            at: self.at,
            points: self.points,
            kind: kind(self.key.clone()),
        });
        for entry in self.reclaimed.iter() {
            entries.push(entry.clone());
        }
        Redemption {
            key: self.key.clone(),
            points: self.points,
            at: self.at,
            taken: self.taken.clone(),
            entries,
            repeated: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::points::Taken;
    use chrono::TimeZone;

    fn redemption(entries: bool) -> Redemption {
        let at = Utc
            .with_ymd_and_hms(2026, 3, 1, 0, 0, 0)
            .single()
            .unwrap_or_default();
        let key = OperationKey::from("order-1");
        Redemption {
            key: key.clone(),
            points: 30,
            at,
            taken: [3, 5]
                .map(|lot| Taken {
                    lot,
                    rule: "visit".into(),
                    earned_at: at,
                    expires_at: None,
                    points: lot * 3,
                })
                .into_iter()
                .collect(),
            entries: if entries {
                EntryList::from(Entry {
                    at,
                    points: 30,
                    kind: EntryKind::Captured { key },
                })
            } else {
                EntryList::new()
            },
            repeated: false,
        }
    }

    #[test]
    fn a_spent_record_is_stored_as_its_redemption_and_rebuilds_it() {
        let first = redemption(false);
        let op = Remembered::Redeem(Spent::of(&first));
        let json = serde_json::to_value(&op).unwrap_or_default();
        let mut as_before = serde_json::to_value(&first).unwrap_or_default();
        if let Some(fields) = as_before.as_object_mut() {
            fields.insert("op".into(), "redeem".into());
        }
        assert_eq!(json, as_before);
        // A capture remembered with its entry, as older ledgers stored it,
        // reads back and rebuilds the same entry.
        let captured = redemption(true);
        let mut old = serde_json::to_value(&captured).unwrap_or_default();
        if let Some(fields) = old.as_object_mut() {
            fields.insert("op".into(), "capture".into());
        }
        let back: Remembered = serde_json::from_value(old).unwrap_or_else(|e| unreachable!("{e}"));
        let Remembered::Capture(spent) = back else {
            unreachable!("a capture")
        };
        let again = spent.again(|key| EntryKind::Captured { key });
        assert!(again.repeated);
        assert_eq!(
            Redemption {
                repeated: false,
                ..again
            },
            captured
        );
    }
}

/// A remembered redemption or capture against the redemption it stands
/// for: any number of lots and of reclaimed entries.
#[cfg(test)]
mod reference {
    use super::*;
    use crate::points::Taken;
    use chrono::{TimeDelta, TimeZone};
    use proptest::prelude::*;

    fn redemption(lots: &[u8], reclaimed: &[u8], capture: bool) -> Redemption {
        let at = Utc
            .with_ymd_and_hms(2026, 3, 1, 0, 0, 0)
            .single()
            .unwrap_or_default();
        let key = OperationKey::from("order-1");
        let points = lots.iter().map(|&p| u64::from(p)).sum();
        let mut entries = EntryList::from(Entry {
            at,
            points,
            kind: if capture {
                EntryKind::Captured { key: key.clone() }
            } else {
                EntryKind::Redeemed { key: key.clone() }
            },
        });
        for &r in reclaimed {
            entries.push(Entry {
                at: at + TimeDelta::seconds(i64::from(r)),
                points: u64::from(r),
                kind: EntryKind::Redeemed {
                    key: format!("reclaim-{r}").into(),
                },
            });
        }
        Redemption {
            key,
            points,
            at,
            taken: lots
                .iter()
                .zip(1..)
                .map(|(&p, lot)| Taken {
                    lot,
                    rule: "visit".into(),
                    earned_at: at,
                    expires_at: None,
                    points: u64::from(p),
                })
                .collect(),
            entries,
            repeated: false,
        }
    }

    proptest! {
        #[test]
        fn a_remembered_result_rebuilds_its_redemption_whatever_it_holds(
            lots in proptest::collection::vec(any::<u8>(), 0..6),
            reclaimed in proptest::collection::vec(any::<u8>(), 0..4),
            capture in any::<bool>(),
        ) {
            let first = redemption(&lots, &reclaimed, capture);
            let spent = Spent::of(&first);
            let op = if capture { Remembered::Capture(spent) } else { Remembered::Redeem(spent) };
            let json = serde_json::to_string(&op).unwrap_or_default();
            let back: Remembered = serde_json::from_str(&json).unwrap_or_else(|e| unreachable!("{e}"));
            prop_assert_eq!(&back, &op);
            let again = match &back {
                Remembered::Redeem(s) => s.again(|key| EntryKind::Redeemed { key }),
                Remembered::Capture(s) => s.again(|key| EntryKind::Captured { key }),
                _ => unreachable!("a redemption or a capture"),
            };
            prop_assert!(again.repeated);
            prop_assert_eq!(Redemption { repeated: false, ..again }, first);
        }
    }
}
