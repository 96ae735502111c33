//! The statement: the dated history of a member's points, as they see it
//! ("+20 lesson", "−500 redeemed order-1", "−30 expired").
//!
//! A [`Ledger`](super::Ledger) keeps only its most recent entries (the
//! program's [`LedgerPolicy::statement_entries`](super::LedgerPolicy::statement_entries)),
//! so its state stays small; every operation's result carries the entries it
//! wrote (`entries` on redemptions, holds, releases and reversals;
//! [`Earned::entries`] for an earning; `expire` writes one `Expired` entry
//! at its `now` with the points it returns; an account's
//! [`AccountOutcome::entries`](super::AccountOutcome::entries),
//! [`AccountReversal::entries`](super::AccountReversal::entries) and
//! [`AccountEvaluation::entries`](super::AccountEvaluation::entries) carry
//! those of its bonuses and their reversals too), so a host that wants the
//! full history appends them to its own log, in order. The signed sum of
//! that history ([`Entry::signed_points`]) is the member's points net of
//! debt (see [`Entry`]).

use super::earn::Earned;
use super::ledger::OperationKey;
use crate::event::{Event, Label};
use crate::id::EventId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::fmt;

/// How many statement entries a ledger keeps unless its program says otherwise.
pub const DEFAULT_STATEMENT_ENTRIES: u16 = 32;

/// One line of a member's statement.
///
/// `Display` writes the instant, the points with their sign, and what
/// happened. The sign (see [`Entry::signed_points`]) is the change the entry
/// makes to the member's points *net of debt*: the points in their lots
/// (spendable, pending, or past expiry until [`Ledger::expire`] retires
/// them; not those held) less what they owe, that is
/// [`Ledger::available`] − [`Ledger::owed`], which is
/// `spendable + pending − owed` at any instant with nothing due
/// (see [`Totals`]). So the signed sum of every entry a ledger ever wrote is
/// that quantity: `+` adds, `−` subtracts, and an entry with no sign
/// (a capture, points forgiven, debt paid) records what changes nothing net
/// of debt. Earnings count when they are written, pending or not: points
/// becoming spendable at the end of their pending period write no entry.
///
/// [`Ledger::expire`]: super::Ledger::expire
/// [`Ledger::available`]: super::Ledger::available
/// [`Ledger::owed`]: super::Ledger::owed
/// [`Totals`]: super::Totals
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use growthkit::points::{Entry, EntryKind};
///
/// let at = Utc.with_ymd_and_hms(2026, 3, 1, 1, 0, 0).unwrap();
/// let entry = Entry { at, points: 500, kind: EntryKind::Redeemed { key: "order-1".into() } };
/// assert_eq!(entry.to_string(), "2026-03-01 01:00:00 UTC −500 redeemed order-1");
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct Entry {
    /// When it happened.
    pub at: DateTime<Utc>,
    /// How many points (the sign comes from the kind).
    pub points: u64,
    /// What happened.
    pub kind: EntryKind,
}

/// What a statement entry records.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum EntryKind {
    /// Points awarded by a rule for an event (`+`).
    Earned {
        /// The rule.
        rule: Label,
        /// The event.
        source: EventId,
    },
    /// Points of a new award that paid off a debt instead (no change net
    /// of debt: the award's `+` entry counts them, and the debt they pay
    /// was counted when it was owed).
    DebtPaid {
        /// The rule whose award paid.
        rule: Label,
    },
    /// Points spent (`−`).
    Redeemed {
        /// The operation.
        key: OperationKey,
    },
    /// Points reserved for a checkout (`−`: not spendable while held).
    Held {
        /// The hold.
        key: OperationKey,
    },
    /// A hold's points spent (no change: they already left the balance when held).
    Captured {
        /// The hold.
        key: OperationKey,
    },
    /// A hold's points returned (`+`).
    Released {
        /// The hold.
        key: OperationKey,
    },
    /// Points retired by expiry (`−`).
    Expired,
    /// Points taken back by a reversal (`−`).
    Reversed {
        /// The reversed event.
        source: EventId,
        /// The operation.
        key: OperationKey,
    },
    /// Points a reversal could not take back and recorded as owed (`−`:
    /// the balance net of debt goes down).
    Owed {
        /// The reversed event.
        source: EventId,
    },
    /// Points returning from a released hold that a `clamp` reversal could
    /// not take while they were held and forgave, taken back by it now
    /// (`−`: the `Released` entry counted them back, and they are reversed,
    /// no longer forgiven). Entries written by earlier builds used it for
    /// points charged as owed too, now [`EntryKind::ReclaimedOwed`].
    Reclaimed {
        /// The reversed event.
        source: EventId,
    },
    /// Points returning from a released hold that a `debt` or
    /// `negative_balance` reversal could not take while they were held and
    /// charged as owed, taken by it now to pay that debt (no change net of
    /// debt: the `Released` entry counts them back, and the debt they pay
    /// was counted when it was owed). They are reversed, no longer owed.
    ReclaimedOwed {
        /// The reversed event.
        source: EventId,
    },
    /// Points a reversal charged as owed while they were held, whose lot
    /// expired by the hold's release: they expire with it (its `Expired`
    /// entry) and the debt for them is written off (`+`: the balance net of
    /// debt goes up by the debt gone), as a reversal writes off points
    /// that had expired.
    DebtWrittenOff {
        /// The reversed event.
        source: EventId,
    },
    /// Points a reversal could not take back and forgave (no change).
    Forgiven {
        /// The reversed event.
        source: EventId,
    },
    /// Points of an award that a cap had cut, made up when a reversal gave
    /// the cap's room back (`+`; see [`MadeUp`](super::MadeUp)).
    MadeUp {
        /// The award's rule.
        rule: Label,
        /// The award's event.
        source: EventId,
        /// The reversal.
        key: OperationKey,
    },
}

impl Entry {
    /// The entries at `at` of the parts with points, in order: what an
    /// operation writes when each part may be nothing.
    pub(crate) fn of_parts(
        at: DateTime<Utc>,
        parts: impl IntoIterator<Item = (u64, EntryKind)>,
    ) -> impl Iterator<Item = Entry> {
        parts
            .into_iter()
            .filter(|&(points, _)| points > 0)
            .map(move |(points, kind)| Entry { at, points, kind })
    }
}

impl EntryKind {
    /// `+`, `−`, or ` `: the direction of the entry's change to the
    /// member's points net of debt ([`Ledger::available`] −
    /// [`Ledger::owed`]; see [`Entry`]), blank for no change.
    ///
    /// [`Ledger::available`]: super::Ledger::available
    /// [`Ledger::owed`]: super::Ledger::owed
    fn sign(&self) -> char {
        match self {
            EntryKind::Earned { .. }
            | EntryKind::Released { .. }
            | EntryKind::MadeUp { .. }
            | EntryKind::DebtWrittenOff { .. } => '+',
            EntryKind::Captured { .. }
            | EntryKind::Forgiven { .. }
            | EntryKind::DebtPaid { .. }
            | EntryKind::ReclaimedOwed { .. } => ' ',
            EntryKind::Redeemed { .. }
            | EntryKind::Held { .. }
            | EntryKind::Expired
            | EntryKind::Reversed { .. }
            | EntryKind::Owed { .. }
            | EntryKind::Reclaimed { .. } => '−',
        }
    }
}

impl Entry {
    /// The entry's change to the member's points net of debt
    /// ([`Ledger::available`] − [`Ledger::owed`]): its points, negated for
    /// a `−` entry, 0 for an entry without a sign. The sum over every entry
    /// a ledger wrote is that quantity, so a host keeping the full
    /// statement can check its log against the ledger.
    ///
    /// ```
    /// use chrono::{TimeZone, Utc};
    /// use growthkit::points::{Entry, EntryKind};
    ///
    /// let at = Utc.with_ymd_and_hms(2026, 3, 1, 1, 0, 0).unwrap();
    /// let redeemed = Entry { at, points: 500, kind: EntryKind::Redeemed { key: "order-1".into() } };
    /// let captured = Entry { at, points: 40, kind: EntryKind::Captured { key: "order-2".into() } };
    /// assert_eq!((redeemed.signed_points(), captured.signed_points()), (-500, 0));
    /// ```
    ///
    /// [`Ledger::available`]: super::Ledger::available
    /// [`Ledger::owed`]: super::Ledger::owed
    pub fn signed_points(&self) -> i128 {
        let points = i128::from(self.points);
        match self.kind.sign() {
            '+' => points,
            '−' => -points,
            _ => 0,
        }
    }
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = self.kind.sign();
        let at = self.at.format("%Y-%m-%d %H:%M:%S UTC");
        let what = match &self.kind {
            EntryKind::Earned { rule, source } => format!("{rule} ({source})"),
            EntryKind::DebtPaid { rule } => format!("debt paid from {rule}"),
            EntryKind::Redeemed { key } => format!("redeemed {key}"),
            EntryKind::Held { key } => format!("held for {key}"),
            EntryKind::Captured { key } => format!("captured {key}"),
            EntryKind::Released { key } => format!("released {key}"),
            EntryKind::Expired => "expired".to_owned(),
            EntryKind::Reversed { source, key } => format!("reversed {source} ({key})"),
            EntryKind::Owed { source } => format!("owed for reversed {source}"),
            EntryKind::Forgiven { source } => format!("forgiven for reversed {source}"),
            EntryKind::Reclaimed { source } => format!("reclaimed for reversed {source}"),
            EntryKind::ReclaimedOwed { source } => {
                format!("reclaimed for reversed {source}, paying its debt")
            }
            EntryKind::DebtWrittenOff { source } => {
                format!("debt written off for reversed {source}")
            }
            EntryKind::MadeUp { rule, source, key } => {
                format!("{rule} ({source}), cap room given back by {key}")
            }
        };
        write!(f, "{at} {sign}{} {what}", self.points)
    }
}

impl Earned {
    /// The statement entries this earning wrote for `event`: one `+` entry
    /// per award with points, in rule order, each followed by the part of
    /// it that paid off debt, if any (debt is paid from the awards in order).
    ///
    /// ```
    /// use chrono::{TimeZone, Utc};
    /// use growthkit::points::ProgramSpec;
    /// use growthkit::{Event, EventId, EventKind, UserId};
    ///
    /// let program = serde_json::from_str::<ProgramSpec>(r#"{
    ///     "rules": [{ "name": "visit", "on": "visited", "reward": { "type": "fixed", "points": 5 } }]
    /// }"#)?.validate()?;
    /// let at = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
    /// let event = Event::new(EventId(1), UserId(1), at, EventKind::Visited);
    /// let mut ledger = program.new_ledger();
    /// let earned = program.apply(&mut ledger, &event)?;
    /// let lines: Vec<String> = earned.entries(&event).map(|e| e.to_string()).collect();
    /// assert_eq!(lines, ["2026-03-01 00:00:00 UTC +5 visit (event#1)"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn entries<'a>(&'a self, event: &'a Event) -> impl Iterator<Item = Entry> + 'a {
        let mut debt = self.debt_paid;
        self.awards
            .iter()
            .filter(|a| a.points > 0 && !self.duplicate)
            .flat_map(move |a| {
                let pay = a.points.min(debt);
                debt -= pay;
                let earned = Entry {
                    at: event.at,
                    points: a.points,
                    kind: EntryKind::Earned {
                        rule: a.rule.clone(),
                        source: event.id,
                    },
                };
                let paid = (pay > 0).then(|| Entry {
                    at: event.at,
                    points: pay,
                    kind: EntryKind::DebtPaid {
                        rule: a.rule.clone(),
                    },
                });
                std::iter::once(earned).chain(paid)
            })
    }
}

/// Appends `entries` to a bounded statement, dropping the oldest past `limit`.
pub(crate) fn append(
    statement: &mut VecDeque<Entry>,
    limit: u16,
    entries: impl IntoIterator<Item = Entry>,
) {
    let limit = usize::from(limit);
    if limit == 0 {
        // A program keeping no entries keeps none, even those an earlier
        // program kept.
        statement.clear();
        return;
    }
    for entry in entries {
        crate::bounded::push_newest(statement, limit, || entry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn entry(points: u64, kind: EntryKind) -> Entry {
        let at = Utc
            .with_ymd_and_hms(2026, 3, 1, 1, 0, 0)
            .single()
            .unwrap_or_default();
        Entry { at, points, kind }
    }

    #[test]
    fn entries_read_like_a_statement() {
        let key = OperationKey::from("order-1");
        let lines = [
            entry(
                20,
                EntryKind::Earned {
                    rule: "daily check-in".into(),
                    source: EventId(3),
                },
            ),
            entry(500, EntryKind::Redeemed { key: key.clone() }),
            entry(30, EntryKind::Expired),
            entry(
                100,
                EntryKind::Reversed {
                    source: EventId(7),
                    key: "refund-7".into(),
                },
            ),
            entry(40, EntryKind::Held { key: key.clone() }),
            entry(40, EntryKind::Released { key }),
        ]
        .map(|e| e.to_string());
        assert_eq!(
            lines,
            [
                "2026-03-01 01:00:00 UTC +20 daily check-in (event#3)",
                "2026-03-01 01:00:00 UTC −500 redeemed order-1",
                "2026-03-01 01:00:00 UTC −30 expired",
                "2026-03-01 01:00:00 UTC −100 reversed event#7 (refund-7)",
                "2026-03-01 01:00:00 UTC −40 held for order-1",
                "2026-03-01 01:00:00 UTC +40 released order-1",
            ]
        );
    }

    #[test]
    fn the_statement_keeps_the_newest_entries() {
        let mut s = VecDeque::new();
        append(&mut s, 2, (1..=3).map(|p| entry(p, EntryKind::Expired)));
        assert_eq!(s.iter().map(|e| e.points).collect::<Vec<_>>(), [2, 3]);
        // A smaller limit trims the older entries at the next append.
        append(&mut s, 1, [entry(4, EntryKind::Expired)]);
        assert_eq!(s.iter().map(|e| e.points).collect::<Vec<_>>(), [4]);
        // And a limit of none keeps none.
        append(&mut s, 0, [entry(9, EntryKind::Expired)]);
        assert!(s.is_empty());
    }
}
