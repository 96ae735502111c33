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
    /// What to remember of a first result: the entries after its
    /// implied one are `reclaimed`.
    #[inline(always)]
    pub(crate) fn new(
        key: OperationKey,
        points: u64,
        at: DateTime<Utc>,
        taken: TakenList,
        reclaimed: RareList<Entry>,
    ) -> Spent {
        Spent {
            key,
            points,
            at,
            taken,
            repeated: false,
            reclaimed,
        }
    }

    /// What to remember of `r`, a first result.
    #[cfg(test)]
    pub(crate) fn of(r: &Redemption) -> Spent {
        Spent::new(
            r.key.clone(),
            r.points,
            r.at,
            r.taken.clone(),
            r.entries.iter().skip(1).cloned().collect(),
        )
    }
}

/// A redemption or a capture as its ledger remembers it, lent to the call
/// that made it (or repeated it): what [`Ledger::redeem`] and
/// [`Ledger::capture`] return.
///
/// The ledger keeps every redemption to answer a retry with the same key,
/// so the call lends that copy instead of building a second one for the
/// caller: copying the key, the lots and the statement entry, only for most
/// callers to drop them, was most of a redemption's work. Read what you
/// need while the borrow lasts, or take an owned copy with
/// [`Redeemed::to_redemption`].
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use growthkit::points::{OperationKey, ProgramSpec};
/// use growthkit::{Event, EventId, EventKind, UserId};
///
/// let program = serde_json::from_str::<ProgramSpec>(r#"{
///     "utc_offset": "+08:00",
///     "rules": [{ "name": "check_in", "on": "check_in", "reward": { "type": "fixed", "points": 20 } }]
/// }"#)?.validate()?;
/// let at = Utc.with_ymd_and_hms(2026, 3, 1, 1, 0, 0).unwrap();
/// let mut ledger = program.new_ledger();
/// let check_in = EventKind::CheckIn { community: None };
/// program.apply(&mut ledger, &Event::new(EventId(1), UserId(7), at, check_in))?;
///
/// let first = ledger.redeem(OperationKey::from("order-1"), 15, at)?.to_redemption();
/// assert_eq!((first.points, first.taken.len(), first.repeated), (15, 1, false));
/// assert_eq!(first.entries[0].to_string(), "2026-03-01 01:00:00 UTC −15 redeemed order-1");
///
/// // A retry lends the first result again, marked repeated; nothing changes.
/// let again = ledger.redeem(OperationKey::from("order-1"), 15, at)?;
/// assert!(again.repeated());
/// assert_eq!(again.points(), 15);
/// // It serializes as the owned redemption does.
/// let json = serde_json::to_value(&again)?;
/// assert_eq!((json["points"].as_u64(), json["repeated"].as_bool()), (Some(15), Some(true)));
/// assert_eq!(ledger.spendable(at), 5);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Redeemed<'a> {
    spent: &'a Spent,
    captured: bool,
    repeated: bool,
}

impl<'a> Redeemed<'a> {
    /// `spent` as remembered under a redemption (`captured` false) or a
    /// capture.
    pub(crate) fn new(spent: &'a Spent, captured: bool, repeated: bool) -> Redeemed<'a> {
        Redeemed {
            spent,
            captured,
            repeated,
        }
    }

    /// The operation's key.
    pub fn key(&self) -> &'a OperationKey {
        &self.spent.key
    }

    /// Points spent.
    pub fn points(&self) -> u64 {
        self.spent.points
    }

    /// When.
    pub fn at(&self) -> DateTime<Utc> {
        self.spent.at
    }

    /// Which lots paid, earliest-expiring first.
    pub fn taken(&self) -> &'a TakenList {
        &self.spent.taken
    }

    /// `true` when this is the result of an earlier call with the same key;
    /// nothing changed this time.
    pub fn repeated(&self) -> bool {
        self.repeated
    }

    /// Whether it is the result of capturing a hold rather than of a
    /// redemption.
    pub fn captured(&self) -> bool {
        self.captured
    }

    /// The statement entries it wrote: one, and for a capture, those of
    /// points it took back for a reversal (see [`Hold`](super::Hold)).
    /// Built on each call: the ledger keeps the first one implied.
    pub fn entries(&self) -> EntryList {
        let key = self.spent.key.clone();
        let mut entries = EntryList::from(Entry {
            at: self.spent.at,
            points: self.spent.points,
            kind: if self.captured {
                EntryKind::Captured { key }
            } else {
                EntryKind::Redeemed { key }
            },
        });
        for entry in self.spent.reclaimed.iter() {
            entries.push(entry.clone());
        }
        entries
    }

    /// An owned copy, to keep past the borrow of the ledger.
    pub fn to_redemption(&self) -> Redemption {
        Redemption {
            key: self.spent.key.clone(),
            points: self.spent.points,
            at: self.spent.at,
            taken: self.spent.taken.clone(),
            entries: self.entries(),
            repeated: self.repeated,
        }
    }
}

/// Serialized as the [`Redemption`] it lends, so a host can answer with it
/// as it is.
impl Serialize for Redeemed<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_redemption().serialize(serializer)
    }
}

impl PartialEq<Redemption> for Redeemed<'_> {
    fn eq(&self, other: &Redemption) -> bool {
        self.to_redemption() == *other
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
        let again = Redeemed::new(&spent, true, true).to_redemption();
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
                Remembered::Redeem(s) => Redeemed::new(s, false, true).to_redemption(),
                Remembered::Capture(s) => Redeemed::new(s, true, true).to_redemption(),
                _ => unreachable!("a redemption or a capture"),
            };
            prop_assert!(again.repeated);
            prop_assert_eq!(Redemption { repeated: false, ..again }, first);
        }
    }
}
