//! A user's points: lots with pending periods and expiry, totals, cap
//! counters, and the spending steps [`Ledger::redeem`] and [`Ledger::expire`].
//! Holds live in [`hold`](super::hold), reversals in
//! [`reversal`](super::reversal), the statement in
//! [`statement`](super::statement).

use super::PointsError;
pub use super::counters::{DAILY_TALLY_DAYS, DayTally, RuleCounter, Tallies};
pub(crate) use super::counters::{Periods, RuleCounters, too_old};
use super::entry_list::EntryList;
use super::fields::field_readers;
use super::hold::{HeldClaim, Hold};
use super::inline_deque::InlineDeque;
use super::rare_list::{RareDeque, RareList};
use super::remembered::Redeemed;
pub(crate) use super::remembered::{Remembered, Spent};
use super::reversal::{Clawback, Reversal, Unreversed};
use super::statement::{self, DEFAULT_STATEMENT_ENTRIES, Entry, EntryKind};
pub use super::taken::{Taken, TakenList};
use crate::bounded;
use crate::dedupe::RecentIds;
use crate::event::Label;
use crate::id::EventId;
use crate::store::Versioned;
use crate::time::LocalDay;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::fmt;

/// How many operations (redeem, hold, capture, release, reverse) a ledger
/// remembers for idempotency; past it the oldest is forgotten, and a retry
/// of a forgotten key runs as a new operation. Retries of a checkout come
/// within seconds or minutes, so the last 64 operations are plenty and keep
/// the state small.
pub const REMEMBERED_KEYS: usize = 64;

/// How many awards a ledger remembers for reversal ([`Ledger::earnings`])
/// unless its program says otherwise
/// ([`LedgerPolicy::reversible_awards`]); an older award cannot be reversed
/// ([`PointsError::UnknownEarning`]). A return window of weeks holds far
/// fewer awards than that for one member.
pub const REMEMBERED_EARNINGS: u16 = 128;

/// At most this many holds can be open at once; a checkout flow opens one
/// per order and closes it within minutes.
pub const MAX_OPEN_HOLDS: usize = 16;

/// How many lots a ledger holds inside itself before they move to the heap.
/// Expiry retires old lots, so most members hold a handful at a time; kept
/// inline, redeeming or expiring them reads the ledger and nothing else,
/// where a heap buffer was a second, dependent cache miss (most of the time
/// of a redeem over a million ledgers). Four lots are 352 bytes.
pub(crate) const INLINE_LOTS: usize = 4;

/// A ledger's lots: the first [`INLINE_LOTS`] inline, more on the heap.
/// Serialized as a plain array, exactly as a `Vec`.
pub(crate) type Lots = smallvec::SmallVec<[Lot; INLINE_LOTS]>;

/// Points earned together by one rule for one event, spent and expired as one.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct Lot {
    /// The lot's number in its ledger (unique, in earning order); holds and
    /// earnings refer to it.
    #[serde(default)]
    pub id: u64,
    /// The event that earned it.
    #[serde(default)]
    pub source: EventId,
    /// The rule that awarded it.
    pub rule: Label,
    /// When the earning event happened.
    pub earned_at: DateTime<Utc>,
    /// From when it can be spent (the end of the rule's pending period;
    /// `earned_at` when there is none). Pending at every instant before.
    #[serde(default = "since_forever")]
    pub available_from: DateTime<Utc>,
    /// When what is left of it expires (`None`: never). Spendable at every
    /// instant before, gone at this one.
    pub expires_at: Option<DateTime<Utc>>,
    /// Points left in the lot: not spent, held, expired, taken back by a
    /// reversal, or paid to a debt when it was awarded.
    pub remaining: u64,
    /// Points reserved by open holds.
    #[serde(default)]
    pub held: u64,
    /// Whether the award counted towards the program's global daily cap
    /// (its rule was not exempt and the program has one), so that a
    /// reversal gives that room back too.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub counted_global: bool,
}

fn since_forever() -> DateTime<Utc> {
    DateTime::<Utc>::MIN_UTC
}

impl Lot {
    /// Whether its points can be spent at `now`: not pending, not expired.
    pub fn spendable_at(&self, now: DateTime<Utc>) -> bool {
        self.available_from <= now && !self.due_at(now)
    }

    /// Whether it has expired at `now` (expiry is inclusive: a lot expiring
    /// at `now` is gone at `now`).
    pub fn due_at(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|e| e <= now)
    }

    /// The spending order: earliest expiry first, never-expiring last, then
    /// older before newer, then in earning order (lot number).
    pub(crate) fn spend_key(&self) -> (bool, Option<DateTime<Utc>>, DateTime<Utc>, u64) {
        (
            self.expires_at.is_none(),
            self.expires_at,
            self.earned_at,
            self.id,
        )
    }
}

/// Where [`Ledger::credit`] puts new lots.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum LotOrder {
    /// At their place in spending order, as every reader of a ledger
    /// expects.
    Kept,
    /// Nowhere: the batch caller that asked for the lots to be handed
    /// over ([`Noting::handed`](super::earn::Noting::handed)) keeps them
    /// in short, as [`HandedLot`]s, and the ledger keeps only its totals.
    /// For a simulated member who only earns and is summed up at the end
    /// (no spending, no reversal): building, keeping, expiring and dropping
    /// a full lot per award, only to sum them, was a fifth of such a
    /// simulation's time. Such a ledger's `available` counts points in no
    /// lot, so it is only summed up (with its handed lots) and reset.
    Handed,
}

/// A lot a batch caller was handed instead of the ledger keeping it
/// ([`LotOrder::Handed`]): what a simulation's figures need of it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct HandedLot {
    /// [`Lot::remaining`]: the award, less what it paid off of a debt.
    pub(crate) remaining: u64,
    /// [`Lot::available_from`].
    pub(crate) available_from: DateTime<Utc>,
    /// [`Lot::expires_at`].
    pub(crate) expires_at: Option<DateTime<Utc>>,
}

/// The idempotency key of an operation (an order id, a request id).
///
/// Shared text: results, remembered operations and statement entries all
/// carry the key, and copying it costs a reference count, not an allocation.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OperationKey(Label);

impl OperationKey {
    /// The key's text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl From<&str> for OperationKey {
    fn from(s: &str) -> Self {
        OperationKey(Label::from(s))
    }
}

impl From<String> for OperationKey {
    fn from(s: String) -> Self {
        OperationKey(Label::from(s))
    }
}

impl fmt::Display for OperationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.0.as_str())
    }
}

/// The result of a redeem, or of capturing a hold, as a value of its own:
/// what [`Redeemed::to_redemption`] copies out of the ledger.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct Redemption {
    /// The operation's key.
    pub key: OperationKey,
    /// Points spent.
    pub points: u64,
    /// When.
    pub at: DateTime<Utc>,
    /// Which lots paid, earliest-expiring first.
    pub taken: TakenList,
    /// The statement entries it wrote: one, and for a capture, those of
    /// points it took back for a reversal (see [`Hold`](super::Hold)).
    #[serde(default, skip_serializing_if = "EntryList::is_empty")]
    pub entries: EntryList,
    /// `true` when this is the stored result of an earlier call with the
    /// same key; nothing changed this time.
    pub repeated: bool,
}

/// One award as the ledger remembers it for reversal.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct Earning {
    /// The lot it created.
    pub lot: u64,
    /// The event.
    pub source: EventId,
    /// The rule.
    pub rule: Label,
    /// When it was earned.
    pub earned_at: DateTime<Utc>,
    /// Points awarded.
    pub points: u64,
    /// Points of it reversed so far (taken back, owed, forgiven or written off).
    pub reversed: u64,
    /// Points of its lot retired by expiry.
    pub expired: u64,
    /// Of those, how many a reversal has already written off (expired points
    /// are never clawed back: the member had no use of them).
    pub written_off: u64,
    /// Points of it a `clamp` reversal forgave and has not reclaimed: if a
    /// hold on its lot is released, the returning points settle this first
    /// (see [`Release::reclaimed`](super::Release::reclaimed)).
    #[serde(default)]
    pub forgiven: u64,
    /// Whether it counted towards the program's global daily cap.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub counted_global: bool,
    /// Whether these are points a reversal made up for an award that a cap
    /// had trimmed (see [`MadeUp`](super::MadeUp)): a part of that award,
    /// which counted already, so reversing them gives its points back to
    /// the caps' tallies, not an award's count.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub adds_to_award: bool,
    /// The part of its event that reversals have not taken back, which a
    /// share takes its part of (see [`Portion`](super::Portion)); whole if
    /// none did, or if it was stored by a build that kept no part.
    #[serde(default, skip_serializing_if = "Unreversed::is_whole")]
    pub(crate) unreversed: Unreversed,
}

/// An award that a cap cut, as the ledger remembers it: a reversal that
/// gives the cap's room back makes up what the room now allows (see
/// [`Program::reverse`](super::Program::reverse)).
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct CutAward {
    /// The event.
    pub source: EventId,
    /// The rule.
    pub rule: Label,
    /// When it was earned.
    pub earned_at: DateTime<Utc>,
    /// What the award came to before its caps
    /// ([`Award::multiplied`](super::Award::multiplied)).
    pub wanted: u64,
    /// What it has been awarded: what the caps left it, and what reversals
    /// have made up since.
    pub awarded: u64,
    /// The part of its event that reversals have not taken back: `wanted`
    /// and `awarded` are what is left of them, and the points made up for
    /// it are a part of the event that large (see [`Earning`]).
    #[serde(default, skip_serializing_if = "Unreversed::is_whole")]
    pub(crate) unreversed: Unreversed,
}

/// How a program's ledgers reverse awards and how much history they keep.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerPolicy {
    /// What a reversal does with points that were already spent.
    #[serde(default, deserialize_with = "clawback_field")]
    pub clawback: Clawback,
    /// How many statement entries a ledger keeps (0: none).
    #[serde(
        default = "default_statement_entries",
        deserialize_with = "statement_entries_field"
    )]
    pub statement_entries: u16,
    /// How many of a member's most recent awards can be reversed, and how
    /// many of the awards a cap cut are remembered so that a reversal can
    /// make them up (0: none; a batch replay that never reverses keeps its
    /// ledgers smaller).
    #[serde(
        default = "default_reversible_awards",
        deserialize_with = "reversible_awards_field"
    )]
    pub reversible_awards: u16,
}

// Each field of a `LedgerPolicy` names itself when its value is refused.
field_readers! {
    fn clawback_field = named("clawback");
    fn statement_entries_field = named("statement_entries");
    fn reversible_awards_field = named("reversible_awards");
}

fn default_statement_entries() -> u16 {
    DEFAULT_STATEMENT_ENTRIES
}

fn default_reversible_awards() -> u16 {
    REMEMBERED_EARNINGS
}

impl Default for LedgerPolicy {
    fn default() -> Self {
        LedgerPolicy {
            clawback: Clawback::default(),
            statement_entries: DEFAULT_STATEMENT_ENTRIES,
            reversible_awards: REMEMBERED_EARNINGS,
        }
    }
}

/// Where a ledger's points are at one instant (see the [`Ledger`] docs):
/// `earned = spendable + pending + due + held + redeemed + expired + reversed`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default, Serialize, Deserialize)]
pub struct Totals {
    /// Every point ever awarded.
    pub earned: u64,
    /// In lots that can be spent now.
    pub spendable: u64,
    /// In lots still in their pending period.
    pub pending: u64,
    /// In lots past expiry, not yet retired by [`Ledger::expire`].
    pub due: u64,
    /// Reserved by open holds.
    pub held: u64,
    /// Spent.
    pub redeemed: u64,
    /// Retired by expiry.
    pub expired: u64,
    /// Taken back by reversals (including debt paid off by later earnings
    /// and held points reclaimed when their hold closed).
    pub reversed: u64,
    /// Reversed but not yet taken back: a debt (outside the identity).
    pub owed: u64,
    /// Reversed, could not be taken back, and forgiven (outside the identity).
    pub forgiven: u64,
}

/// One user's points: plain serde data with a [`version`](Ledger::version).
///
/// Invariant (see [`Ledger::check`] and below):
/// `earned = available + held + redeemed + expired + reversed`.
///
/// # Where points are
///
/// Every point ever earned is in exactly one place. Points in lots
/// ([`Ledger::available`], stored) are, at a given `now`, either *spendable*
/// (the lot's pending period is over and it has not expired), *pending*
/// (earned, but the rule holds them until `available_from`, e.g. a
/// purchase's return window), or *due* (past expiry, waiting for
/// [`Ledger::expire`] to retire them; never spendable). Pending and due are
/// views at an instant, not stored states, so time passing needs no step.
/// The other places are stored totals: held by open checkouts, redeemed,
/// expired, and reversed. So at every step:
///
/// ```text
/// earned = available + held + redeemed + expired + reversed
/// available = spendable(now) + pending(now) + due(now)      for every now
/// ```
///
/// A reversal under the `debt` or `negative_balance`
/// [`Clawback`](super::Clawback) policy may take back more than is left; the
/// rest is [`owed`](Ledger::owed), a liability outside the identity that new
/// earnings pay off first (those points count as reversed when they pay).
/// Under `clamp` it is [`forgiven`](Ledger::forgiven) and recorded. The
/// balance a member sees is [`Ledger::balance`] = spendable − owed, which only
/// a debt can make negative. Precisely, every point a reversal reverses
/// ([`Reversal::points`](super::Reversal::points)) is, from then on, in
/// exactly one of: `reversed` (taken out of a lot, or paid by a later award
/// or reclaimed from a released hold), `owed`, `forgiven`, or still in
/// `expired` (points that had expired are written off, never clawed back,
/// and so are held points a reversal owed or forgave whose lot expired by
/// their release):
///
/// ```text
/// Σ reversal points = reversed + owed + forgiven + written off
/// ```
///
/// # Example: a purchase's return window
///
/// ```
/// use chrono::{TimeDelta, TimeZone, Utc};
/// use growthkit::points::ProgramSpec;
/// use growthkit::{Event, EventId, EventKind, Money, UserId};
///
/// // 1 point per ¥1, spendable once the 7-day return window is over;
/// // points expire 12 months later, at the end of that quarter (Beijing time).
/// let program = serde_json::from_str::<ProgramSpec>(r#"{
///     "utc_offset": "+08:00",
///     "expiry": { "type": "after_months", "months": 12, "round_up_to": "quarter" },
///     "rules": [{ "name": "purchase", "on": "purchase", "pending_days": 7,
///                 "reward": { "type": "per_amount", "points": 1, "per_minor": 100, "rounding": "down" } }]
/// }"#)?.validate()?;
/// let bought = Utc.with_ymd_and_hms(2026, 5, 10, 2, 0, 0).unwrap();
/// let mut ledger = program.new_ledger();
/// let paid = EventKind::Purchase { amount: Money::new(25_000, "CNY".parse()?) };
/// program.apply(&mut ledger, &Event::new(EventId(1), UserId(1), bought, paid))?;
///
/// let soon = bought + TimeDelta::days(1);
/// let totals = ledger.totals(soon);
/// assert_eq!((totals.spendable, totals.pending), (0, 250));
/// let settled = bought + TimeDelta::days(7);
/// assert_eq!(ledger.spendable(settled), 250);
/// // 10 May 2027 is in Q2: the points last until 1 July 2027 00:00 in Beijing.
/// let end = Utc.with_ymd_and_hms(2027, 6, 30, 16, 0, 0).unwrap();
/// assert_eq!(ledger.lots()[0].expires_at, Some(end));
/// assert_eq!(
///     ledger.statement().last().map(|e| e.to_string()).as_deref(),
///     Some("2026-05-10 02:00:00 UTC +250 purchase (event#1)"),
/// );
/// ledger.check()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Ledger {
    pub(crate) version: u64,
    /// Ordered by [`Lot::spend_key`], so spending walks them front to back.
    pub(crate) lots: Lots,
    pub(crate) earned: u64,
    pub(crate) available: u64,
    #[serde(default)]
    pub(crate) held: u64,
    pub(crate) redeemed: u64,
    pub(crate) expired: u64,
    pub(crate) reversed: u64,
    #[serde(default)]
    pub(crate) owed: u64,
    #[serde(default)]
    pub(crate) forgiven: u64,
    pub(crate) counters: RuleCounters,
    /// The program's global daily cap's tallies, per local day (the most
    /// recent [`DAILY_TALLY_DAYS`]).
    #[serde(default, skip_serializing_if = "Tallies::is_empty")]
    pub(crate) global_days: Tallies,
    pub(crate) seen: RecentIds,
    pub(crate) operations: InlineDeque<Remembered>,
    #[serde(default)]
    pub(crate) holds: RareList<Hold>,
    /// Held points of lots whose awards a `clamp` reversal forgave because
    /// it could not take them, by lot id: they go to the reversal when
    /// their hold is released (see [`Hold`]). Kept here, not with the
    /// award, which the ledger may forget while the hold is open.
    #[serde(default, skip_serializing_if = "RareList::is_empty")]
    pub(crate) forgiven_held: RareList<(u64, u64)>,
    /// Held points of lots whose awards a `debt` or `negative_balance`
    /// reversal could not take and charged as [owed](Ledger::owed), by lot
    /// id: released, they pay that debt off (see [`Hold`]), so the result
    /// does not depend on whether the hold closed before or after the
    /// reversal. Never more, in all, than is owed: later awards pay the
    /// rest of the debt off first, then these.
    #[serde(default, skip_serializing_if = "RareList::is_empty")]
    pub(crate) owed_held: RareList<(u64, u64)>,
    /// Of the forgiven or owed held points, by lot id, those a `clamp` or
    /// `negative_balance` reversal found in a lot past expiry and took no
    /// other points for: released, they expire with their lot, as they
    /// would have had the hold closed first; captured, they are spent, and
    /// the capture takes other points for them then, as the reversal would
    /// have after the capture (see [`Hold`]).
    #[serde(default, skip_serializing_if = "RareList::is_empty")]
    pub(crate) clawed_at_capture: RareList<(u64, u64)>,
    /// Held points of lots other than a reversed award's own that a
    /// `clamp` or `negative_balance` reversal of it could not take because
    /// they were held: had their holds closed first, it would have taken
    /// them, as it takes every other point it can (see [`Hold`]).
    #[serde(default, skip_serializing_if = "RareList::is_empty")]
    pub(crate) held_claims: RareList<HeldClaim>,
    /// Reversed bonus lots whose held points a hold's close still settles
    /// with their reversal, by the bonus's own reversal identity (its
    /// lot's [`source`](Lot::source)): the event the statement names for
    /// that reversal instead (see [`Ledger::reverse_bonus`]), so that the
    /// close's entries name it too.
    #[serde(default, skip_serializing_if = "RareList::is_empty")]
    pub(crate) shown_sources: RareList<(EventId, EventId)>,
    #[serde(default)]
    pub(crate) earnings: VecDeque<Earning>,
    /// The most recent awards a cap cut, oldest first, as many as
    /// [`LedgerPolicy::reversible_awards`]; an award is dropped once it is
    /// made up in full.
    #[serde(default, skip_serializing_if = "RareDeque::is_empty")]
    pub(crate) cut: RareDeque<CutAward>,
    #[serde(default)]
    pub(crate) statement: VecDeque<Entry>,
    #[serde(default = "default_statement_entries")]
    pub(crate) statement_limit: u16,
    #[serde(default)]
    pub(crate) next_lot: u64,
}

impl Default for Ledger {
    fn default() -> Self {
        Ledger {
            version: 0,
            lots: Lots::new(),
            earned: 0,
            available: 0,
            held: 0,
            redeemed: 0,
            expired: 0,
            reversed: 0,
            owed: 0,
            forgiven: 0,
            counters: RuleCounters::default(),
            global_days: Tallies::default(),
            seen: RecentIds::new(),
            operations: InlineDeque::new(),
            holds: RareList::default(),
            forgiven_held: RareList::default(),
            owed_held: RareList::default(),
            clawed_at_capture: RareList::default(),
            held_claims: RareList::default(),
            shown_sources: RareList::default(),
            earnings: VecDeque::new(),
            cut: RareDeque::default(),
            statement: VecDeque::new(),
            statement_limit: DEFAULT_STATEMENT_ENTRIES,
            next_lot: 0,
        }
    }
}

impl Versioned for Ledger {
    fn version(&self) -> u64 {
        self.version
    }
}

impl Ledger {
    /// An empty ledger at version 0, keeping the default number of
    /// statement entries ([`DEFAULT_STATEMENT_ENTRIES`]).
    pub fn new() -> Ledger {
        Ledger::default()
    }

    /// An empty ledger keeping at most `entries` statement entries (0: none).
    /// [`Program::new_ledger`](super::Program::new_ledger) uses the program's
    /// [`LedgerPolicy::statement_entries`], and every
    /// [`Program::apply`](super::Program::apply) that awards points adopts it
    /// again, so a changed program changes how much its ledgers keep.
    pub fn with_statement_entries(entries: u16) -> Ledger {
        Ledger {
            statement_limit: entries,
            ..Ledger::default()
        }
    }

    /// Makes this ledger equal to a new one with the same statement length,
    /// keeping its buffers (lots, counters, the id window, remembered
    /// operations, holds, awards and statement, and its rule counters, each
    /// emptied in place) for reuse: a batch that runs member after member
    /// through one ledger then allocates for the heaviest member so far,
    /// not for every member.
    pub(crate) fn reset(&mut self) {
        // Field by field, in place: the ledger is close to a kilobyte, and
        // replacing it whole copied it twice per member. Named without
        // `..`, so a field added later cannot survive a reset by being
        // forgotten here.
        let Ledger {
            version,
            lots,
            earned,
            available,
            held,
            redeemed,
            expired,
            reversed,
            owed,
            forgiven,
            counters,
            global_days,
            seen,
            operations,
            holds,
            forgiven_held,
            owed_held,
            clawed_at_capture,
            held_claims,
            shown_sources,
            earnings,
            cut,
            statement,
            statement_limit: _,
            next_lot,
        } = self;
        for n in [
            version, earned, available, held, redeemed, expired, reversed, owed, forgiven, next_lot,
        ] {
            *n = 0;
        }
        lots.clear();
        counters.clear();
        global_days.clear();
        seen.clear();
        operations.clear();
        holds.clear();
        forgiven_held.clear();
        owed_held.clear();
        clawed_at_capture.clear();
        held_claims.clear();
        shown_sources.clear();
        earnings.clear();
        cut.clear();
        statement.clear();
    }

    /// Bumped by every successful change.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The lots still holding points (remaining or held), in spending order:
    /// earliest expiry first, never-expiring last, older before newer, and
    /// lots earned at the same instant (several rules of one event, or
    /// events at one time) in earning order ([`Lot::id`]).
    pub fn lots(&self) -> &[Lot] {
        &self.lots
    }

    /// Every point ever awarded.
    pub fn earned(&self) -> u64 {
        self.earned
    }

    /// Points in lots, neither held nor retired: spendable, pending, or past
    /// expiry until [`Ledger::expire`] retires them ([`Ledger::totals`]
    /// tells them apart at an instant).
    pub fn available(&self) -> u64 {
        self.available
    }

    /// Points reserved by open holds.
    pub fn held(&self) -> u64 {
        self.held
    }

    /// Points spent.
    pub fn redeemed(&self) -> u64 {
        self.redeemed
    }

    /// Points retired by expiry.
    pub fn expired(&self) -> u64 {
        self.expired
    }

    /// Points taken back by reversals (including debt paid off by later
    /// awards and held points reclaimed when their hold closed).
    pub fn reversed(&self) -> u64 {
        self.reversed
    }

    /// Points reversals could not take back and the member owes; later
    /// awards pay it off first.
    pub fn owed(&self) -> u64 {
        self.owed
    }

    /// Points reversals could not take back and forgave (`clamp` policy).
    pub fn forgiven(&self) -> u64 {
        self.forgiven
    }

    /// The balance a member sees at `now`: spendable points minus debt
    /// (negative only under a debt).
    pub fn balance(&self, now: DateTime<Utc>) -> i128 {
        i128::from(self.spendable(now)) - i128::from(self.owed)
    }

    /// One rule's counters, if it has awarded anything.
    pub fn counter(&self, rule: &str) -> Option<&RuleCounter> {
        self.counters.get(rule)
    }

    /// The most recent statement entries, oldest first.
    pub fn statement(&self) -> impl ExactSizeIterator<Item = &Entry> + DoubleEndedIterator {
        self.statement.iter()
    }

    /// The awards remembered for reversal, oldest first
    /// (at most the program's [`LedgerPolicy::reversible_awards`]).
    pub fn earnings(&self) -> impl ExactSizeIterator<Item = &Earning> + DoubleEndedIterator {
        self.earnings.iter()
    }

    /// The awards a cap cut that a reversal could still make up, oldest
    /// first (at most the program's [`LedgerPolicy::reversible_awards`]).
    pub fn cut_awards(&self) -> impl ExactSizeIterator<Item = &CutAward> + DoubleEndedIterator {
        self.cut.iter()
    }

    /// Points that can be spent at `now`: lots past their pending period and
    /// not expired at `now`, less what holds reserve.
    pub fn spendable(&self, now: DateTime<Utc>) -> u64 {
        // Cannot saturate: the sum is at most `available`, a u64.
        self.lots
            .iter()
            .filter(|l| l.spendable_at(now))
            .fold(0u64, |s, l| s.saturating_add(l.remaining))
    }

    /// Points still in their pending period at `now` (and not expired).
    pub fn pending(&self, now: DateTime<Utc>) -> u64 {
        self.lots
            .iter()
            .filter(|l| l.available_from > now && !l.due_at(now))
            .fold(0u64, |s, l| s.saturating_add(l.remaining))
    }

    /// Where every point is at `now`.
    pub fn totals(&self, now: DateTime<Utc>) -> Totals {
        let (mut spendable, mut pending, mut due) = (0u64, 0u64, 0u64);
        for lot in &self.lots {
            let part = if lot.due_at(now) {
                &mut due
            } else if lot.available_from > now {
                &mut pending
            } else {
                &mut spendable
            };
            // Cannot saturate: the three sums add up to `available`.
            *part = part.saturating_add(lot.remaining);
        }
        Totals {
            earned: self.earned,
            spendable,
            pending,
            due,
            held: self.held,
            redeemed: self.redeemed,
            expired: self.expired,
            reversed: self.reversed,
            owed: self.owed,
            forgiven: self.forgiven,
        }
    }

    /// Retires the remaining points of every lot whose `expires_at <= now`;
    /// returns the points retired. Points reserved by an open hold are not
    /// retired here: they expire when the hold is released, if it is (see
    /// [`Ledger::release`]).
    ///
    /// Naturally idempotent: a second call at the same `now` finds nothing
    /// due. The version is bumped and one statement entry (`−n expired`, at
    /// `now`) written only if something expired.
    pub fn expire(&mut self, now: DateTime<Utc>) -> u64 {
        // Lots are in expiry order, so the due ones are a prefix: walk it
        // (it is walked anyway), and the common call, with nothing due,
        // reads one lot and changes nothing.
        self.retire_due(now)
    }

    /// Retires the lots due at `now`, which are a prefix of the lots if
    /// they are in `order`: [`Ledger::retire_due_lots`], then the version
    /// bump and the statement entry.
    fn retire_due(&mut self, now: DateTime<Utc>) -> u64 {
        let due = self.retire_due_lots(now);
        if due == 0 {
            return 0;
        }
        // Saturating keeps `expire` infallible; 2^64 changes do not happen.
        self.version = self.version.saturating_add(1);
        let entry = Entry {
            at: now,
            points: due,
            kind: EntryKind::Expired,
        };
        self.write(std::slice::from_ref(&entry));
        due
    }

    /// The lots' and totals' part of [`Ledger::retire_due`], for an
    /// operation that retires what is due as one of its steps and writes
    /// the entry and bumps the version itself (a reversal); returns the
    /// points retired.
    pub(super) fn retire_due_lots(&mut self, now: DateTime<Utc>) -> u64 {
        let mut due = 0u64;
        let earnings = &mut self.earnings;
        let mut retire = |lot: &mut Lot| {
            if lot.remaining == 0 {
                return;
            }
            // Cannot saturate: `due` is part of `available`.
            due = due.saturating_add(lot.remaining);
            let (id, points) = (lot.id, lot.remaining);
            lot.remaining = 0;
            if let Some(e) = earnings.iter_mut().find(|e| e.lot == id) {
                e.expired = e.expired.saturating_add(points);
            }
        };
        self.lots
            .iter_mut()
            .take_while(|l| l.due_at(now))
            .for_each(&mut retire);
        if due == 0 {
            return 0;
        }
        // Element by element: measured faster here than one `drain` of the
        // due prefix, whose block move reads lots not yet in cache.
        self.lots.retain(|l| l.remaining > 0 || l.held > 0);
        // Cannot saturate or underflow: `due` is part of `available`, and
        // `expired + available <= earned`, a u64.
        self.available = self.available.saturating_sub(due);
        self.expired = self.expired.saturating_add(due);
        due
    }

    /// Spends `points`, earliest-expiring lots first (never-expiring last,
    /// older before newer on ties, lots earned at the same instant in
    /// earning order), using only lots spendable at `now`
    /// (past their pending period, not expired).
    ///
    /// The result is lent from the ledger, which keeps it to answer a retry
    /// (see [`Redeemed`]). Repeating a `key` returns the first result
    /// (marked [`repeated`](Redeemed::repeated)) and changes nothing, even if
    /// `points` differs; a key remembered for another kind of operation is
    /// [`PointsError::KeyReused`]. Zero points or too few spendable points
    /// are errors that change nothing.
    pub fn redeem(
        &mut self,
        key: OperationKey,
        points: u64,
        now: DateTime<Utc>,
    ) -> Result<Redeemed<'_>, PointsError> {
        // A ledger that remembers nothing and holds nothing cannot know the
        // key: most redemptions skip the search.
        if !(self.operations.is_vacant() && self.holds.is_empty())
            && self
                .recall(&key, |op| matches!(op, Remembered::Redeem(_)).then_some(()))?
                .is_some()
        {
            return self.lend(
                |op| matches!(op, Remembered::Redeem(_)) && op.key() == &key,
                true,
            );
        }
        let (available, version) = self.check_spend(points, now)?;
        let redeemed = self
            .redeemed
            .checked_add(points)
            .ok_or(PointsError::Overflow)?;
        let mut taken = TakenList::new();
        self.take_into(&mut taken, points, now, false);
        self.available = available;
        self.redeemed = redeemed;
        self.version = version;
        if self.statement_limit > 0 {
            let entry = Entry {
                at: now,
                points,
                kind: EntryKind::Redeemed { key: key.clone() },
            };
            statement::append(
                &mut self.statement,
                self.statement_limit,
                std::iter::once(entry),
            );
        }
        // The entry is implied by the rest, so the remembered result does
        // without it; the lots it took are inline, so it allocates nothing.
        // The first operation a ledger remembers is written straight into
        // its inline slot.
        let spent = Spent::new(key, points, now, taken, RareList::default());
        if self.operations.is_vacant() {
            self.operations.fill(Remembered::Redeem(spent));
        } else {
            self.remember(Remembered::Redeem(spent));
        }
        self.lend(|_| true, false)
    }

    /// The newest remembered redemption or capture that `found` accepts,
    /// lent as the result of the call that made it (`repeated`: false) or
    /// of one that repeated it. Only called where one was just remembered
    /// or found.
    pub(crate) fn lend(
        &self,
        found: impl Fn(&Remembered) -> bool,
        repeated: bool,
    ) -> Result<Redeemed<'_>, PointsError> {
        match self.operations.iter().rev().find(|op| found(op)) {
            Some(Remembered::Redeem(spent)) => Ok(Redeemed::new(spent, false, repeated)),
            Some(Remembered::Capture(spent)) => Ok(Redeemed::new(spent, true, repeated)),
            _ => Err(PointsError::Inconsistent {
                what: "the redemption to return is not remembered",
            }),
        }
    }

    /// Finds what an earlier operation with `key` returned, if `pick`
    /// accepts its kind; a key remembered (or held open) under another kind
    /// of operation is [`PointsError::KeyReused`].
    pub(crate) fn recall<'a, T>(
        &'a self,
        key: &OperationKey,
        pick: impl Fn(&'a Remembered) -> Option<T>,
    ) -> Result<Option<T>, PointsError> {
        let mut other = false;
        for r in self.operations.iter().rev().filter(|r| r.key() == key) {
            match pick(r) {
                Some(found) => return Ok(Some(found)),
                None => other = true,
            }
        }
        if other || self.holds.iter().any(|h| &h.key == key) {
            return Err(PointsError::KeyReused { key: key.clone() });
        }
        Ok(None)
    }

    /// Remembers an operation's result, forgetting the oldest past
    /// [`REMEMBERED_KEYS`].
    #[inline]
    pub(crate) fn remember(&mut self, op: Remembered) {
        // Most ledgers see few operations: the first stays inline in the
        // ledger (see `InlineDeque`), and allocates nothing. `while`, not
        // `if`: a stored ledger may have read back remembering more.
        while self.operations.len() >= REMEMBERED_KEYS {
            self.operations.pop_front();
        }
        self.operations.push_back(op);
    }

    /// Writes entries to the bounded statement (cloning them only if it
    /// keeps any: [`statement::append`] takes none when it keeps none).
    pub(crate) fn write(&mut self, entries: &[Entry]) {
        statement::append(
            &mut self.statement,
            self.statement_limit,
            entries.iter().cloned(),
        );
    }

    /// Validates spending `points` at `now`: the new `available` and version.
    pub(crate) fn check_spend(
        &self,
        points: u64,
        now: DateTime<Utc>,
    ) -> Result<(u64, u64), PointsError> {
        if points == 0 {
            return Err(PointsError::ZeroRedeem);
        }
        // Stop at the first lots that cover it: the whole sum is only
        // needed to explain a refusal.
        let mut enough = 0u64;
        let covered = self.lots.iter().filter(|l| l.spendable_at(now)).any(|l| {
            enough = enough.saturating_add(l.remaining);
            enough >= points
        });
        if !covered {
            return Err(PointsError::Insufficient {
                requested: points,
                spendable: self.spendable(now),
            });
        }
        let version = self.version.checked_add(1).ok_or(PointsError::Overflow)?;
        // Only a corrupt (hand-edited) ledger could have fewer points held
        // than spendable; refuse it rather than underflow.
        let available = self
            .available
            .checked_sub(points)
            .ok_or(PointsError::Inconsistent {
                what: "available is less than the spendable lots",
            })?;
        Ok((available, version))
    }

    /// Takes `points` from the lots spendable at `now`, in spending order,
    /// into a hold (`hold`) or out of the ledger. The caller has checked
    /// with [`Ledger::check_spend`] that there are enough.
    pub(crate) fn take(&mut self, points: u64, now: DateTime<Utc>, hold: bool) -> TakenList {
        let mut taken = TakenList::new();
        self.take_into(&mut taken, points, now, hold);
        taken
    }

    /// [`Ledger::take`] into `taken`, an empty list where the caller keeps
    /// it.
    #[inline(always)]
    pub(crate) fn take_into(
        &mut self,
        taken: &mut TakenList,
        points: u64,
        now: DateTime<Utc>,
        hold: bool,
    ) {
        debug_assert!(taken.is_empty());
        let mut left = points;
        // Whether the first lot left empty was removed, and whether another
        // was left empty after it.
        let (mut removed, mut emptied_more) = (false, false);
        // The first lot taken waits here for the second, so that the usual
        // list of two is written once, whole: pushing the second moved the
        // first, just written, into a new list of two, and the copy stalled
        // on the writes it read.
        let mut first: Option<Taken> = None;
        let mut i = 0;
        while left > 0 {
            let Some(lot) = self.lots.get_mut(i) else {
                break;
            };
            if lot.remaining == 0 || !lot.spendable_at(now) {
                i += 1;
                continue;
            }
            let take = lot.remaining.min(left);
            lot.remaining -= take;
            left -= take;
            if hold {
                // Cannot saturate: held + remaining never exceeds the award.
                lot.held = lot.held.saturating_add(take);
            }
            let (id, earned_at, expires_at) = (lot.id, lot.earned_at, lot.expires_at);
            let emptied = lot.remaining == 0 && lot.held == 0;
            // The first lot left empty (the usual redemption empties the
            // oldest lot it touches and dips into the next) leaves now, and
            // its rule's name moves into what it paid: cloned, and dropped
            // with the lot, the name cost two atomic reference counts,
            // each waiting for the writes before it. Any other lot left
            // empty goes in one pass at the end.
            let rule = if emptied && !removed {
                removed = true;
                self.lots.remove(i).rule
            } else {
                emptied_more |= emptied;
                i += 1;
                lot.rule.clone()
            };
            let t = Taken {
                lot: id,
                rule,
                earned_at,
                expires_at,
                points: take,
            };
            if !taken.is_empty() {
                taken.push(t);
            } else if let Some(a) = first.take() {
                *taken = TakenList::two(a, t);
            } else {
                first = Some(t);
            }
        }
        if let Some(a) = first {
            *taken = TakenList::one(a);
        }
        if emptied_more {
            self.lots.retain(|l| l.remaining > 0 || l.held > 0);
        }
    }

    /// Adds the lots of one event's awards (built by
    /// [`Program::apply`](super::Program::apply) with `id` 0): numbers them,
    /// pays off debt first, remembers them for reversal and, with
    /// `write_entries`, writes their statement entries (a caller that names
    /// the lots otherwise writes its own). `total` and `count` are the
    /// lots' points and number, which the caller already knows. All or
    /// nothing: on error nothing changed. Returns the points that paid off
    /// debt.
    #[inline]
    pub(crate) fn credit(
        &mut self,
        total: u64,
        count: usize,
        lots: impl Iterator<Item = Lot>,
        (policy, write_entries): (&LedgerPolicy, bool),
        order: LotOrder,
    ) -> Result<u64, PointsError> {
        let statement_limit = policy.statement_entries;
        let reversible = usize::from(policy.reversible_awards);
        let earned = self
            .earned
            .checked_add(total)
            .ok_or(PointsError::Overflow)?;
        // Paying debt only lowers what goes into lots, so this bounds it.
        self.available
            .checked_add(total)
            .ok_or(PointsError::Overflow)?;
        let count = u64::try_from(count).map_err(|_| PointsError::Overflow)?;
        let next_lot = self
            .next_lot
            .checked_add(count)
            .ok_or(PointsError::Overflow)?;
        // `reversed + owed` never exceeds what was awarded, so paying debt
        // into `reversed` cannot overflow; checked anyway, before any change.
        self.reversed
            .checked_add(self.owed.min(total))
            .ok_or(PointsError::Overflow)?;

        self.statement_limit = statement_limit;
        if statement_limit == 0 && !self.statement.is_empty() {
            // "0: none", even of what an earlier program kept.
            self.statement.clear();
        }
        self.earned = earned;
        // Debt is paid from the first lots on, so the lots pay `total` or
        // the debt, whichever is less, in all.
        let debt_paid = self.owed.min(total);
        self.owed -= debt_paid;
        if debt_paid > 0 && !(self.owed_held.is_empty() && self.held_claims.is_empty()) {
            self.cap_owed_held();
        }
        self.reversed = self.reversed.saturating_add(debt_paid);
        // Cannot saturate: checked above.
        self.available = self.available.saturating_add(total - debt_paid);
        let first_id = self.next_lot;
        self.next_lot = next_lot;
        let writes = write_entries && statement_limit > 0;
        // A ledger that remembers no awards (a simulation's) and has none
        // left to forget skips the call: it was a tenth of a simulated
        // award's credit, for nothing.
        let remembers = reversible > 0 || !self.earnings.is_empty();
        if order == LotOrder::Handed && !writes && !remembers {
            // Nothing reads the lots: they are not even built.
            return Ok(debt_paid);
        }
        self.credit_lots(
            first_id,
            lots,
            (debt_paid, writes, remembers),
            policy,
            order,
        );
        Ok(debt_paid)
    }

    /// The lots' part of [`Ledger::credit`], once its totals are in: the
    /// lots numbered from `first_id`, paying `debt_paid` from the first on,
    /// their statement entries written if `writes`, their earnings
    /// remembered if `remembers`, and kept in spending order. Out of line:
    /// a batch that hands its lots over never comes here.
    #[inline(never)]
    fn credit_lots(
        &mut self,
        first_id: u64,
        lots: impl Iterator<Item = Lot>,
        (debt_paid, writes, remembers): (u64, bool, bool),
        policy: &LedgerPolicy,
        order: LotOrder,
    ) {
        let statement_limit = policy.statement_entries;
        let reversible = usize::from(policy.reversible_awards);
        let mut unpaid = debt_paid;
        // The lots first: the numbers are drawn only for lots there are,
        // so the last one may be `u64::MAX - 1` (`credit` checked that
        // they fit) without the range stepping past `u64::MAX`.
        for (mut lot, id) in lots.zip(first_id..) {
            lot.id = id;
            let awarded = lot.remaining;
            let pay = awarded.min(unpaid);
            unpaid -= pay;
            lot.remaining -= pay;
            // Batch replays often keep no statement: build no entries for it.
            if writes {
                let earned = Entry {
                    at: lot.earned_at,
                    points: awarded,
                    kind: EntryKind::Earned {
                        rule: lot.rule.clone(),
                        source: lot.source,
                    },
                };
                let paid = (pay > 0).then(|| Entry {
                    at: lot.earned_at,
                    points: pay,
                    kind: EntryKind::DebtPaid {
                        rule: lot.rule.clone(),
                    },
                });
                statement::append(
                    &mut self.statement,
                    statement_limit,
                    std::iter::once(earned).chain(paid),
                );
            }
            if remembers {
                bounded::push_newest(&mut self.earnings, reversible, || Earning {
                    lot: lot.id,
                    source: lot.source,
                    rule: lot.rule.clone(),
                    earned_at: lot.earned_at,
                    points: awarded,
                    reversed: 0,
                    expired: 0,
                    written_off: 0,
                    forgiven: 0,
                    counted_global: lot.counted_global,
                    adds_to_award: false,
                    unreversed: Unreversed::WHOLE,
                });
            }
            if lot.remaining > 0 && order == LotOrder::Kept {
                self.insert_lot(lot);
            }
        }
    }

    /// Inserts a lot at its place in spending order.
    fn insert_lot(&mut self, lot: Lot) {
        let key = lot.spend_key();
        // Events come mostly in time order, so a lot goes last or just
        // before the few lots of the longest-lived rules: look at the last
        // few. Past them, it goes before the lots of a longer-lived rule,
        // which can be many: a binary search finds where.
        let near = self.lots.len().saturating_sub(4);
        let mut at = self.lots.len();
        while at > near && self.lots.get(at - 1).is_some_and(|l| l.spend_key() > key) {
            at -= 1;
        }
        if at == near && at > 0 {
            // `near` is at most the length.
            at = self.lots[..near].partition_point(|l| l.spend_key() <= key);
        }
        self.lots.insert(at, lot);
    }

    /// The awards counted towards the program's global daily cap on `day`.
    pub fn global_day(&self, day: LocalDay) -> DayTally {
        self.global_days.tally(day)
    }

    /// Records one award towards the global daily cap; `tally` is the day's
    /// new tally, computed (and overflow-checked) by the earning step.
    #[inline]
    pub(crate) fn record_global(&mut self, day: LocalDay, tally: DayTally) {
        self.global_days.set_day(day, tally);
    }

    /// Remembers an award a cap cut, keeping the newest `limit`.
    pub(crate) fn remember_cut(&mut self, limit: usize, cut: impl FnOnce() -> CutAward) {
        self.cut.push_newest(limit, cut);
    }

    /// Gives back the cap room of one award, for a reversal: one award of
    /// `points` earned by `rule` on local `day` (its `earned_at` in the
    /// program's zone, see [`LocalDay::of`]) leaves the rule's day, week,
    /// month and lifetime tallies and, if `counted_global` (see
    /// [`Lot::counted_global`]), the global daily tally. Afterwards the
    /// tallies are what they would be had the award never been made, so a
    /// later award in the same period finds the room; one made before the
    /// reversal that a cap cut is made up by [`Program::reverse`](super::Program::reverse)
    /// (see [`MadeUp`](super::MadeUp)).
    ///
    /// Tallies already dropped (older than [`DAILY_TALLY_DAYS`]) are left
    /// as they are, and nothing goes below zero. One thing is not undone:
    /// tallies that the award's own day pushed out of the horizon (it was
    /// the newest day by more than the horizon) stay dropped, and an
    /// emptied newest tally stays (holding nothing) as the mark of how far
    /// back the tallies reach, so an event for a dropped day is refused as
    /// too late whether or not the reversal came first. The version is not
    /// bumped: the reversal that calls this does that once for the whole
    /// operation.
    pub(crate) fn release_award(
        &mut self,
        rule: &str,
        day: LocalDay,
        points: u64,
        counted_global: bool,
    ) {
        self.give_back(rule, day, points, 1, counted_global);
    }

    /// Marks the remembered earning of lot `lot` as points made up for a
    /// cut award: added to an award that counted already (see
    /// [`Earning::adds_to_award`]) if `adds_to_award`, and a part of its
    /// event as large as what reversals left of it, `unreversed`.
    pub(crate) fn mark_made_up(&mut self, lot: u64, adds_to_award: bool, unreversed: Unreversed) {
        if let Some(e) = self.earnings.iter_mut().rev().find(|e| e.lot == lot) {
            e.adds_to_award = adds_to_award;
            e.unreversed = unreversed;
        }
    }

    /// [`Ledger::release_award`] for a piece of an award that stays partly
    /// awarded (`awards` 0: its points go back, its award count stays).
    pub(crate) fn give_back(
        &mut self,
        rule: &str,
        day: LocalDay,
        points: u64,
        awards: u32,
        counted_global: bool,
    ) {
        if let Some(counter) = self.counters.get_mut(rule) {
            counter.release(day, points, awards);
        }
        if counted_global {
            self.global_days.remove(day, points, awards);
        }
    }

    /// Verifies the ledger's invariants: `earned = available + held +
    /// redeemed + expired + reversed`; `available` is the sum of the lots'
    /// `remaining` and `held` the sum of their `held` and of the open holds;
    /// lots are in spending order and none is empty; no remembered award is
    /// reversed beyond its points; held points marked as forgiven or owed by
    /// a reversal are no more than is forgiven or owed, nor than their lots
    /// hold.
    pub fn check(&self) -> Result<(), PointsError> {
        let parts = [self.held, self.redeemed, self.expired, self.reversed]
            .into_iter()
            .try_fold(self.available, u64::checked_add);
        if parts != Some(self.earned) {
            return Err(PointsError::Inconsistent {
                what: "earned != available + held + redeemed + expired + reversed",
            });
        }
        let in_lots = self
            .lots
            .iter()
            .try_fold(0u64, |s, l| s.checked_add(l.remaining));
        if in_lots != Some(self.available) {
            return Err(PointsError::Inconsistent {
                what: "available != sum of lots' remaining",
            });
        }
        let held_in_lots = self
            .lots
            .iter()
            .try_fold(0u64, |s, l| s.checked_add(l.held));
        let held_by_holds = self
            .holds
            .iter()
            .try_fold(0u64, |s, h| s.checked_add(h.points));
        if held_in_lots != Some(self.held) || held_by_holds != Some(self.held) {
            return Err(PointsError::Inconsistent {
                what: "held != sum of lots' held != sum of open holds",
            });
        }
        if self
            .earnings
            .iter()
            .any(|e| e.reversed > e.points || e.written_off > e.expired || e.forgiven > e.reversed)
        {
            return Err(PointsError::Inconsistent {
                what: "an award reversed, written off or forgiven more than it had",
            });
        }
        if self.lots.iter().any(|l| l.remaining == 0 && l.held == 0) {
            return Err(PointsError::Inconsistent {
                what: "an empty lot is kept",
            });
        }
        let sum = |marks: &[(u64, u64)], owed: bool| {
            let claimed = self.held_claims.iter().filter(|c| c.owed == owed);
            marks
                .iter()
                .map(|&(_, points)| points)
                .chain(claimed.map(|c| c.points))
                .try_fold(0u64, u64::checked_add)
        };
        let own = |lot: u64| {
            let of = |marks: &[(u64, u64)]| {
                marks
                    .iter()
                    .find(|(l, _)| *l == lot)
                    .map_or(0, |&(_, points)| points)
            };
            of(&self.forgiven_held).checked_add(of(&self.owed_held))
        };
        let marked = |lot: u64| {
            let mut claimed = self.held_claims.iter().filter(|c| c.lot == lot);
            claimed.try_fold(own(lot)?, |m, c| m.checked_add(c.points))
        };
        let mut lots_marked = self
            .forgiven_held
            .iter()
            .chain(self.owed_held.iter())
            .map(|&(lot, points)| (lot, points))
            .chain(self.held_claims.iter().map(|c| (c.lot, c.points)));
        if sum(&self.forgiven_held, false).is_none_or(|f| f > self.forgiven)
            || sum(&self.owed_held, true).is_none_or(|o| o > self.owed)
            || lots_marked.any(|(lot, points)| {
                points == 0 || marked(lot).is_none_or(|m| m > super::hold::held_in(&self.lots, lot))
            })
        {
            return Err(PointsError::Inconsistent {
                what: "forgiven or owed held points beyond what is forgiven, owed or their lot holds",
            });
        }
        if self
            .clawed_at_capture
            .iter()
            .any(|&(lot, points)| points == 0 || own(lot).is_none_or(|m| points > m))
        {
            return Err(PointsError::Inconsistent {
                what: "held points to claw at capture beyond the forgiven or owed ones",
            });
        }
        if self
            .lots
            .windows(2)
            .any(|w| w.first().map(Lot::spend_key) > w.get(1).map(Lot::spend_key))
        {
            return Err(PointsError::Inconsistent {
                what: "lots are not in spending order",
            });
        }
        Ok(())
    }
}

// Hooks for the account engine (`account.rs`): bonus lots that no rule
// awarded, such as a streak milestone or a badge level's points.
impl Ledger {
    /// Whether an earning step of at most `room` points, then credits of at
    /// most `room` points in all, `steps` lots and versions in all (both
    /// counted), are sure to succeed: the point totals a credit adds to at
    /// most `room`, the lot numbers and the version `steps` short of their
    /// maximum.
    pub(crate) fn has_room(&self, room: u64, steps: u64) -> bool {
        let short = u64::MAX - steps;
        [self.earned, self.available, self.reversed]
            .iter()
            .all(|&total| total <= room)
            && self.version <= short
            && self.next_lot <= short
    }

    /// Credits one bonus lot (built with `id` 0). Its `source` is the
    /// account's own reversal identity for it, so reversing the event that
    /// triggered it leaves it alone; its statement entry names `shown_as`,
    /// the event that earned it, and reads like an award (`+50 streak day 7
    /// (event#3)`). Pays debt first and is remembered for reversal like any
    /// award; conservation holds as for [`Ledger::credit`]. All or nothing.
    /// Returns the entries written.
    pub(crate) fn credit_bonus(
        &mut self,
        lot: Lot,
        shown_as: EventId,
        policy: &LedgerPolicy,
    ) -> Result<Vec<Entry>, PointsError> {
        let version = self.version.checked_add(1).ok_or(PointsError::Overflow)?;
        let (at, rule) = (lot.earned_at, lot.rule.clone());
        let shown = EntryKind::Earned {
            rule,
            source: shown_as,
        };
        let (_, entries) = self.credit_one(lot, (at, shown), policy)?;
        self.version = version;
        self.write(&entries);
        Ok(entries)
    }

    /// Credits one lot (built with `id` 0) outside an earning step, paying
    /// debt first: the lot's id, and its entries, unwritten: `shown` at
    /// `at` for the whole lot instead of its usual entry, and what it paid
    /// of the debt. All or nothing.
    pub(crate) fn credit_one(
        &mut self,
        lot: Lot,
        (at, shown): (DateTime<Utc>, EntryKind),
        policy: &LedgerPolicy,
    ) -> Result<(u64, Vec<Entry>), PointsError> {
        let (id, points, rule) = (self.next_lot, lot.remaining, lot.rule.clone());
        let lots = std::iter::once(lot);
        let paid = self.credit(points, 1, lots, (policy, false), LotOrder::Kept)?;
        let mut entries = vec![Entry {
            at,
            points,
            kind: shown,
        }];
        if paid > 0 {
            entries.push(Entry {
                at,
                points: paid,
                kind: EntryKind::DebtPaid { rule },
            });
        }
        Ok((id, entries))
    }

    /// Reverses a bonus lot credited by [`Ledger::credit_bonus`] wholly,
    /// under `clawback`, and writes its entries naming `shown_as` (the event
    /// whose reversal revoked it) instead of the bonus's own identity, as
    /// do those of a hold's close that settles its held points with this
    /// reversal (see [`Hold`](super::Hold)).
    pub(crate) fn reverse_bonus<Tz: chrono::TimeZone>(
        &mut self,
        key: OperationKey,
        bonus: EventId,
        shown_as: EventId,
        clawback: Clawback,
        zone: &Tz,
        now: DateTime<Utc>,
    ) -> Result<Reversal, PointsError> {
        let mut result = self.reverse(
            key,
            bonus,
            super::reversal::Portion::Whole {},
            clawback,
            zone,
            now,
        )?;
        let relabel = |entry: &mut Entry| match &mut entry.kind {
            EntryKind::Reversed { source, .. }
            | EntryKind::Owed { source }
            | EntryKind::Forgiven { source }
                if *source == bonus =>
            {
                *source = shown_as;
            }
            _ => {}
        };
        if !result.repeated {
            // The reversal's entries are the newest in the statement.
            let written = result.entries.len();
            self.statement
                .iter_mut()
                .rev()
                .take(written)
                .for_each(relabel);
            // Held points of the bonus that its hold's close settles with
            // this reversal are named after `shown_as` then too.
            let settles_later = super::hold::still_held(&self.lots, &self.held_claims, bonus);
            if settles_later && !self.shown_sources.iter().any(|&(b, _)| b == bonus) {
                self.shown_sources.push((bonus, shown_as));
            }
        }
        result.entries.iter_mut().for_each(relabel);
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::points::fixtures::*;
    use chrono::{TimeDelta, TimeZone};

    const NO_POLICY: &str = "{}";

    #[test]
    fn pending_points_become_spendable_at_the_instant_the_window_ends() {
        let p = shop(10, r#""pending_days": 14,"#, NO_POLICY);
        let mut l = p.new_ledger();
        earn(&p, &mut l, &[purchase(1, 100, t(0)), visit(2, t(1))]);
        let end = t(0) + TimeDelta::days(14);
        let before = end - TimeDelta::milliseconds(1);
        assert_eq!((l.spendable(before), l.pending(before)), (10, 100));
        assert_eq!((l.spendable(end), l.pending(end)), (110, 0));
        assert_eq!(l.available(), 110);
        assert_conserved(&l, before);
        // Redeem skips pending points until the window ends.
        let snapshot = json(&l);
        assert_eq!(
            l.redeem("r".into(), 11, before).map(|r| r.to_redemption()),
            Err(PointsError::Insufficient {
                requested: 11,
                spendable: 10
            })
        );
        assert_eq!(json(&l), snapshot);
        let r = l.redeem("r".into(), 11, end);
        assert_eq!(r.map(|r| r.points()), Ok(11));
        assert_conserved(&l, end);
    }

    #[test]
    fn pending_longer_than_expiry_is_refused() {
        let spec: crate::points::ProgramSpec = serde_json::from_str(
            r#"{ "expiry": { "type": "after_days", "days": 7 },
                 "rules": [{ "name": "buy", "on": "purchase", "pending_days": 7,
                             "reward": { "type": "fixed", "points": 1 } }] }"#,
        )
        .unwrap_or_else(|e| unreachable!("{e}"));
        let err = spec.validate().map(|_| ()).map_err(|e| e.to_string());
        assert_eq!(
            err,
            Err("rule buy: pending_days is 7 but its points expire sooner (after 7 days)".into())
        );
    }

    #[test]
    fn calendar_month_expiry_at_the_instant() {
        // Earned 31 January 10:00 in +08:00; one month, rounded up to the
        // month's end: gone at 1 March 00:00 local (28 Feb 16:00 UTC).
        let p = program(
            r#"{ "utc_offset": "+08:00",
                 "expiry": { "type": "after_months", "months": 1, "round_up_to": "month" },
                 "rules": [{ "name": "visit", "on": "visited", "reward": { "type": "fixed", "points": 30 } }] }"#,
        );
        let earned = Utc
            .with_ymd_and_hms(2026, 1, 31, 2, 0, 0)
            .single()
            .unwrap_or_default();
        let end = Utc
            .with_ymd_and_hms(2026, 2, 28, 16, 0, 0)
            .single()
            .unwrap_or_default();
        let mut l = p.new_ledger();
        earn(&p, &mut l, &[visit(1, earned)]);
        assert_eq!(l.lots()[0].expires_at, Some(end));
        let just_before = end - TimeDelta::milliseconds(1);
        assert_eq!(l.spendable(just_before), 30);
        assert_eq!(l.expire(just_before), 0);
        assert_eq!(l.spendable(end), 0);
        assert_eq!(l.totals(end).due, 30);
        assert_conserved(&l, end);
        assert_eq!(l.expire(end), 30);
        // Naturally idempotent.
        let snapshot = json(&l);
        assert_eq!(l.expire(end), 0);
        assert_eq!(json(&l), snapshot);
        assert_eq!(
            l.statement().last().map(|e| e.to_string()),
            Some("2026-02-28 16:00:00 UTC −30 expired".into())
        );
        assert_conserved(&l, end);
    }

    /// The ledger's lot numbers, in spending order.
    fn lot_ids(l: &Ledger) -> Vec<u64> {
        l.lots().iter().map(|l| l.id).collect()
    }

    #[test]
    fn expire_retires_the_due_prefix_and_keeps_held_lots_in_order() {
        // Visits expire after 10 days, purchases never: three due lots, then
        // two that never expire.
        let p = program(
            r#"{ "utc_offset": "+08:00", "ledger": { "statement_entries": 0 },
                 "rules": [
                 { "name": "visit", "on": "visited", "reward": { "type": "fixed", "points": 10 },
                   "expiry": { "type": "after_days", "days": 10 } },
                 { "name": "buy", "on": "purchase",
                   "reward": { "type": "per_amount", "points": 1, "per_minor": 100, "rounding": "down" } } ] }"#,
        );
        let mut l = p.new_ledger();
        earn(
            &p,
            &mut l,
            &[
                visit(1, t(0)),
                purchase(2, 7, t(1)),
                visit(3, t(2)),
                visit(4, t(3)),
                purchase(5, 9, t(4)),
            ],
        );
        assert_eq!(lot_ids(&l), [0, 2, 3, 1, 4]);
        let late = day(10) + TimeDelta::minutes(3);
        // Nothing held: the three due lots go at once.
        let mut free = l.clone();
        assert_eq!(free.expire(late), 30);
        assert_eq!(lot_ids(&free), [1, 4]);
        assert_eq!((free.available(), free.expired()), (16, 30));
        assert_eq!(free.earnings().map(|e| e.expired).sum::<u64>(), 30);
        assert_conserved(&free, late);
        // A hold reserves the first visit lot and 5 points of the second.
        let _ = l.hold("h".into(), 15, t(5));
        assert_eq!(l.expire(late - TimeDelta::minutes(1)), 5);
        assert_eq!(lot_ids(&l), [0, 2, 3, 1, 4]);
        assert_eq!(l.expire(late), 10);
        // The held lots stay, in order; the emptied one is gone.
        assert_eq!(lot_ids(&l), [0, 2, 1, 4]);
        assert_eq!(l.lots()[1].remaining, 0);
        assert_eq!((l.available(), l.held(), l.expired()), (16, 15, 15));
        assert_eq!(l.statement().len(), 0);
        assert_conserved(&l, late);
        // Released at last, the held points expire at once; then nothing is due.
        assert!(l.release("h".into(), late).is_ok_and(|r| r.expired == 15));
        assert_eq!(lot_ids(&l), [1, 4]);
        assert_eq!(l.expire(late), 0);
        assert_conserved(&l, late);
    }

    #[test]
    fn the_first_lots_stay_inline_and_any_number_reads_back_as_a_plain_array() {
        let p = shop(10, "", NO_POLICY);
        let mut l = p.new_ledger();
        let visits: Vec<crate::Event> = (0..INLINE_LOTS as u64 + 1)
            .map(|i| visit(i, t(i as i64)))
            .collect();
        earn(&p, &mut l, &visits[..INLINE_LOTS]);
        assert_eq!(l.lots().len(), INLINE_LOTS);
        assert!(!l.lots.spilled(), "{INLINE_LOTS} lots fit inline");
        earn(&p, &mut l, &visits[INLINE_LOTS..]);
        assert!(l.lots.spilled());
        // The JSON is the array a `Vec` of the same lots writes, and reads
        // back to an equal ledger, inline or not.
        let value: serde_json::Value =
            serde_json::from_str(&json(&l)).unwrap_or_else(|e| unreachable!("{e}"));
        let as_vec =
            serde_json::to_value(l.lots().to_vec()).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(value["lots"], as_vec);
        let back: Ledger = serde_json::from_value(value).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(back, l);
        // Redeeming down to a few lots works the same from the heap.
        assert!(l.redeem("r".into(), 20, t(10)).is_ok());
        assert_eq!(l.lots().len(), INLINE_LOTS - 1);
        assert_conserved(&l, t(10));
    }

    #[test]
    fn a_redeem_that_empties_one_lot_removes_just_that_one() {
        let p = shop(10, r#""pending_days": 14,"#, NO_POLICY);
        let mut l = p.new_ledger();
        earn(
            &p,
            &mut l,
            &[purchase(1, 100, t(0)), visit(2, t(1)), visit(3, t(2))],
        );
        assert_eq!(lot_ids(&l), [0, 1, 2]);
        // The pending purchase lot is skipped; the first visit lot empties.
        let r = l
            .redeem("r".into(), 15, t(3))
            .map(|r| r.to_redemption())
            .unwrap_or_else(|e| unreachable!("{e}"));
        let taken: Vec<(u64, u64)> = r.taken.iter().map(|t| (t.lot, t.points)).collect();
        assert_eq!(taken, [(1, 10), (2, 5)]);
        assert_eq!(lot_ids(&l), [0, 2]);
        assert_eq!(l.lots()[1].remaining, 5);
        assert_conserved(&l, t(3));
        // A hold empties nothing: its points stay in their lots, held.
        let h = l
            .hold("h".into(), 5, t(4))
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(h.taken.len(), 1);
        assert_eq!(lot_ids(&l), [0, 2]);
        assert_conserved(&l, t(4));
    }

    #[test]
    fn lots_stay_in_spending_order() {
        let p = program(
            r#"{ "rules": [
                 { "name": "never", "on": "visited", "reward": { "type": "fixed", "points": 1 } },
                 { "name": "long", "on": "visited", "reward": { "type": "fixed", "points": 2 },
                   "expiry": { "type": "after_days", "days": 100 } },
                 { "name": "short", "on": "visited", "reward": { "type": "fixed", "points": 3 },
                   "expiry": { "type": "after_days", "days": 10 } } ] }"#,
        );
        let mut l = p.new_ledger();
        earn(&p, &mut l, &[visit(1, t(0)), visit(2, t(1))]);
        let order: Vec<(&str, u64)> = l.lots().iter().map(|l| (l.rule.as_str(), l.id)).collect();
        assert_eq!(
            order,
            [
                ("short", 2),
                ("short", 5),
                ("long", 1),
                ("long", 4),
                ("never", 0),
                ("never", 3)
            ]
        );
        let r = l
            .redeem("r".into(), 7, t(2))
            .map(|r| r.to_redemption())
            .unwrap_or_else(|e| unreachable!("{e}"));
        let taken: Vec<(u64, u64)> = r.taken.iter().map(|t| (t.lot, t.points)).collect();
        assert_eq!(taken, [(2, 3), (5, 3), (1, 1)]);
        assert_conserved(&l, t(2));
        // A hand-edited ledger out of order is caught.
        let mut bad = l.clone();
        bad.lots.reverse();
        assert!(matches!(bad.check(), Err(PointsError::Inconsistent { .. })));
    }

    #[test]
    fn a_redemption_lists_every_lot_it_took_in_spending_order_and_a_retry_the_same() {
        let p = shop(10, "", r#"{ "statement_entries": 4 }"#);
        let visits: Vec<crate::Event> = (0..4).map(|i| visit(i, t(i as i64))).collect();
        // Four lots of 10: redemptions that take one, two, three and four.
        for (points, expected, left) in [
            (4, vec![(0, 4)], vec![0, 1, 2, 3]),
            (10, vec![(0, 10)], vec![1, 2, 3]),
            (13, vec![(0, 10), (1, 3)], vec![1, 2, 3]),
            (25, vec![(0, 10), (1, 10), (2, 5)], vec![2, 3]),
            (40, vec![(0, 10), (1, 10), (2, 10), (3, 10)], vec![]),
        ] {
            let mut l = p.new_ledger();
            earn(&p, &mut l, &visits);
            let r = l
                .redeem("r".into(), points, t(5))
                .map(|r| r.to_redemption())
                .unwrap_or_else(|e| unreachable!("{e}"));
            let taken: Vec<(u64, u64)> = r.taken.iter().map(|t| (t.lot, t.points)).collect();
            assert_eq!(taken, expected, "{points}");
            assert!(r.taken.iter().all(|t| t.rule.as_str() == "visit"));
            assert_eq!(lot_ids(&l), left, "{points}");
            assert_eq!(l.statement().last(), r.entries.first());
            assert_conserved(&l, t(5));
            let again = l
                .redeem("r".into(), 1, t(6))
                .map(|r| r.to_redemption())
                .unwrap_or_else(|e| unreachable!("{e}"));
            assert_retry_of(&again, &r);
        }
        // A lot whose last spendable points go while a hold keeps some
        // stays in the ledger.
        let mut l = p.new_ledger();
        earn(&p, &mut l, &visits);
        assert!(l.hold("h".into(), 5, t(5)).is_ok());
        let r = l
            .redeem("r".into(), 8, t(6))
            .map(|r| r.to_redemption())
            .unwrap_or_else(|e| unreachable!("{e}"));
        let taken: Vec<(u64, u64)> = r.taken.iter().map(|t| (t.lot, t.points)).collect();
        assert_eq!(taken, [(0, 5), (1, 3)]);
        assert_eq!(lot_ids(&l), [0, 1, 2, 3]);
        assert_eq!((l.lots()[0].remaining, l.lots()[0].held), (0, 5));
        assert_conserved(&l, t(6));
    }

    #[test]
    fn a_program_that_keeps_no_statement_forgets_the_entries_an_earlier_one_kept() {
        let keeping = shop(5, "", r#"{ "statement_entries": 4 }"#);
        let none = shop(5, "", r#"{ "statement_entries": 0 }"#);
        let mut l = keeping.new_ledger();
        earn(&keeping, &mut l, &[visit(1, t(0)), visit(2, t(1))]);
        assert_eq!(l.statement().len(), 2);
        // Under a program keeping 0 entries ("0: none"), none are kept, as a
        // program keeping 1 would keep 1.
        earn(&none, &mut l, &[visit(3, t(2))]);
        assert_eq!(l.statement().len(), 0);
        let one = shop(5, "", r#"{ "statement_entries": 1 }"#);
        earn(&one, &mut l, &[visit(4, t(3)), visit(5, t(4))]);
        assert_eq!(l.statement().len(), 1);
    }

    #[test]
    fn a_program_that_remembers_no_awards_forgets_those_an_earlier_one_kept() {
        let keeping = shop(5, "", r#"{ "reversible_awards": 2 }"#);
        let none = shop(5, "", r#"{ "reversible_awards": 0 }"#);
        let mut l = keeping.new_ledger();
        earn(&keeping, &mut l, &[visit(1, t(0)), visit(2, t(1))]);
        assert_eq!(l.earnings().len(), 2);
        // The next award under a program that keeps none leaves none.
        earn(&none, &mut l, &[visit(3, t(2))]);
        assert_eq!(l.earnings().len(), 0);
        earn(&none, &mut l, &[visit(4, t(3))]);
        assert_eq!(l.earnings().len(), 0);
        assert_eq!(l.available(), 20);
        assert_conserved(&l, t(4));
    }

    #[test]
    fn keys_are_shared_across_operations_and_failures_change_nothing() {
        let p = shop(100, "", NO_POLICY);
        let mut l = p.new_ledger();
        earn(&p, &mut l, &[visit(1, t(0))]);
        let first = l
            .redeem("k".into(), 10, t(1))
            .map(|r| r.to_redemption())
            .unwrap_or_else(|e| unreachable!("{e}"));
        let snapshot = json(&l);
        // The same key again returns the first result, whatever it asks now.
        let again = l
            .redeem("k".into(), 50, t(2))
            .map(|r| r.to_redemption())
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_retry_of(&again, &first);
        assert_eq!(json(&l), snapshot);
        // Another kind of operation under that key is refused.
        let reused = Err(PointsError::KeyReused { key: "k".into() });
        assert_eq!(l.hold("k".into(), 1, t(2)).map(|_| ()), reused);
        assert_eq!(
            p.reverse(
                &mut l,
                "k".into(),
                EventId(1),
                crate::points::Portion::Whole {},
                t(2)
            )
            .map(|_| ()),
            reused
        );
        assert_eq!(
            l.redeem("z".into(), 0, t(2)).map(|r| r.to_redemption()),
            Err(PointsError::ZeroRedeem)
        );
        assert_eq!(json(&l), snapshot);
    }

    #[test]
    fn a_repeated_redeem_returns_its_entry_even_after_a_round_trip() {
        let p = shop(100, "", NO_POLICY);
        let mut l = p.new_ledger();
        earn(&p, &mut l, &[visit(1, t(0))]);
        let first = l
            .redeem("k".into(), 10, t(1))
            .map(|r| r.to_redemption())
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(first.entries.len(), 1);
        // The remembered copy leaves the entry out, and rebuilds it.
        assert!(!json(&l).contains("\"entries\""));
        let mut back: Ledger =
            serde_json::from_str(&json(&l)).unwrap_or_else(|e| unreachable!("{e}"));
        for ledger in [&mut l, &mut back] {
            let again = ledger
                .redeem("k".into(), 10, t(2))
                .map(|r| r.to_redemption())
                .unwrap_or_else(|e| unreachable!("{e}"));
            assert!(again.repeated);
            assert_eq!(again.entries, first.entries);
        }
    }

    #[test]
    fn a_redemption_is_serialized_with_its_entries_as_a_list() {
        let p = shop(100, "", NO_POLICY);
        let mut l = p.new_ledger();
        earn(&p, &mut l, &[visit(1, t(0))]);
        let r = l
            .redeem("k".into(), 10, t(1))
            .map(|r| r.to_redemption())
            .unwrap_or_else(|e| unreachable!("{e}"));
        let entry = Entry {
            at: t(1),
            points: 10,
            kind: EntryKind::Redeemed { key: "k".into() },
        };
        assert_eq!(r.entries.as_slice(), std::slice::from_ref(&entry));
        let value = serde_json::to_value(&r).unwrap_or_default();
        assert_eq!(
            value.get("entries"),
            serde_json::to_value(vec![entry]).ok().as_ref()
        );
        let back: Redemption =
            serde_json::from_value(value).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(back, r);
        // Without entries (as a host may have stored one), it reads back
        // with none.
        let mut bare = serde_json::to_value(&r).unwrap_or_default();
        if let Some(fields) = bare.as_object_mut() {
            fields.remove("entries");
        }
        let back: Redemption = serde_json::from_value(bare).unwrap_or_else(|e| unreachable!("{e}"));
        assert!(back.entries.is_empty());
    }

    #[test]
    fn an_insufficient_redeem_names_everything_spendable() {
        let p = shop(10, r#""pending_days": 14,"#, NO_POLICY);
        let mut l = p.new_ledger();
        earn(
            &p,
            &mut l,
            &[visit(1, t(0)), visit(2, t(1)), purchase(3, 100, t(2))],
        );
        assert_eq!(
            l.redeem("r".into(), 21, t(3)).map(|r| r.to_redemption()),
            Err(PointsError::Insufficient {
                requested: 21,
                spendable: 20
            })
        );
        assert_eq!(
            l.redeem("r".into(), 20, t(3))
                .map(|r| r.to_redemption())
                .map(|r| r.points),
            Ok(20)
        );
    }

    #[test]
    fn remembered_keys_are_bounded() {
        let p = shop(1000, "", NO_POLICY);
        let mut l = p.new_ledger();
        earn(&p, &mut l, &[visit(1, t(0))]);
        for i in 0..=REMEMBERED_KEYS {
            let r = l.redeem(format!("k{i}").into(), 1, t(1));
            assert!(r.is_ok_and(|r| !r.repeated()));
        }
        assert_eq!(l.operations.len(), REMEMBERED_KEYS);
        // The first key is forgotten: a retry runs again.
        let again = l.redeem("k0".into(), 1, t(1));
        assert!(again.is_ok_and(|r| !r.repeated()));
        assert_eq!(l.redeemed(), REMEMBERED_KEYS as u64 + 2);
    }

    #[test]
    fn a_stored_ledger_remembering_too_many_keys_keeps_the_newest_once_it_remembers_another() {
        let p = shop(1000, "", NO_POLICY);
        let mut l = p.new_ledger();
        earn(&p, &mut l, &[visit(1, t(0))]);
        for i in 0..REMEMBERED_KEYS + 6 {
            let r = l.redeem(format!("k{i}").into(), 1, t(1));
            assert!(r.is_ok_and(|r| !r.repeated()));
        }
        // As a ledger stored with more remembered operations than it keeps
        // reads back (by hand, or by a build that kept more).
        let json = serde_json::to_value(&l).unwrap_or_default();
        let mut ops = json["operations"].as_array().cloned().unwrap_or_default();
        let mut older = ops.clone();
        for (i, op) in older.iter_mut().enumerate() {
            op["key"] = format!("old{i}").into();
        }
        older.append(&mut ops);
        let mut stored = json.clone();
        stored["operations"] = older.into();
        let mut l: Ledger = serde_json::from_value(stored).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(l.operations.len(), 2 * REMEMBERED_KEYS);
        let r = l.redeem("new".into(), 1, t(1));
        assert!(r.is_ok_and(|r| !r.repeated()));
        // The newest REMEMBERED_KEYS are kept, the rest forgotten.
        assert_eq!(l.operations.len(), REMEMBERED_KEYS);
        let newest: Vec<String> = l.operations.iter().map(|op| op.key().to_string()).collect();
        let want: Vec<String> = (7..REMEMBERED_KEYS + 6)
            .map(|i| format!("k{i}"))
            .chain(["new".to_string()])
            .collect();
        assert_eq!(newest, want);
        assert!(l.check().is_ok());
    }

    #[test]
    fn statement_is_bounded_by_the_program() {
        let p = shop(5, "", r#"{ "statement_entries": 3 }"#);
        let mut l = p.new_ledger();
        earn(
            &p,
            &mut l,
            &[visit(1, t(0)), visit(2, t(1)), visit(3, t(2))],
        );
        let _ = l.redeem("order-1".into(), 12, t(3));
        let lines: Vec<String> = l.statement().map(|e| e.to_string()).collect();
        assert_eq!(
            lines,
            [
                "2026-03-01 00:01:00 UTC +5 visit (event#2)",
                "2026-03-01 00:02:00 UTC +5 visit (event#3)",
                "2026-03-01 00:03:00 UTC −12 redeemed order-1",
            ]
        );
        let quiet = shop(5, "", r#"{ "statement_entries": 0 }"#);
        let mut q = quiet.new_ledger();
        earn(&quiet, &mut q, &[visit(1, t(0))]);
        assert_eq!(q.statement().len(), 0);
    }

    /// A shop program, and a ledger of it with every part in use: lots, a
    /// hold, a redemption, a reversal leaving debt, a statement.
    fn busy_ledger() -> (crate::points::Program, Ledger, [crate::Event; 2]) {
        let p = shop(50, r#""pending_days": 3,"#, r#"{ "clawback": "debt" }"#);
        let mut l = p.new_ledger();
        let events = [visit(1, t(0)), purchase(2, 40, t(1))];
        earn(&p, &mut l, &events);
        let _ = l.hold("h".into(), 20, t(2));
        let _ = l.redeem("r".into(), 30, t(3));
        let _ = p.reverse(
            &mut l,
            "x".into(),
            EventId(1),
            crate::points::Portion::Whole {},
            t(4),
        );
        assert!(l.owed() > 0 && l.held() > 0 && l.statement().len() > 0);
        (p, l, events)
    }

    #[test]
    fn ledger_round_trips_through_json_with_every_part_in_use() {
        let (_, l, _) = busy_ledger();
        let back: Ledger = serde_json::from_str(&json(&l)).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(back, l);
        assert_conserved(&back, t(5));
    }

    #[test]
    fn a_reset_ledger_is_a_new_one_and_earns_like_one() {
        let (p, mut l, events) = busy_ledger();
        l.reset();
        assert_eq!(l, p.new_ledger());
        assert_eq!(json(&l), json(&p.new_ledger()));
        // The counters' table, kept, finds no counter of the last member.
        let mut fresh = p.new_ledger();
        earn(&p, &mut l, &events);
        earn(&p, &mut fresh, &events);
        assert_eq!(l, fresh);
        assert_conserved(&l, t(5));
    }

    #[test]
    fn release_award_gives_the_cap_room_back() {
        let p = program(
            r#"{ "utc_offset": "+08:00", "rules": [{ "name": "visit", "on": "visited",
                 "reward": { "type": "fixed", "points": 10 }, "daily_cap": { "count": 1, "points": 10 } }] }"#,
        );
        let mut l = p.new_ledger();
        earn(&p, &mut l, &[visit(1, t(0))]);
        let day = LocalDay::of(t(0), p.zone());
        l.release_award("visit", day, 10, false);
        let c = l.counter("visit").cloned().unwrap_or_default();
        assert_eq!((c.count, c.points), (0, 0));
        // The emptied day's tally holds nothing, as if the award never
        // was; as the newest day it stays, marking how far back the
        // tallies reach.
        assert_eq!(c.days.get(day), Some(DayTally::default()));
        // An unknown rule or a forgotten day changes nothing.
        l.release_award("nope", day, 10, false);
        l.give_back("visit", LocalDay::from_number(0), 5, 1, false);
        assert_eq!(l.counter("visit"), Some(&c));
    }
}
