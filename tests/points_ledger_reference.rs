//! A reference model of one member's points ledger
//! (`growthkit::points::Ledger`, with `Program::apply` and
//! `Program::reverse`), written from the public docs: a plain `Vec` of lots
//! (earned at, available from, expires at, remaining, held) of fixed-reward
//! rules with pending days and expiry after days or calendar months in the
//! program's zone (rounded up to a month, quarter or year end), spent
//! earliest-expiring first (never-expiring last, older before newer, then
//! in earning order), holds that reserve and then capture or release,
//! expiry at the instant, and reversals of awards, whole or in shares,
//! under each `Clawback` policy as the `Reversal` docs list the steps: the
//! award's own lot, then expired points written off, then the policy
//! (`negative_balance` takes other lots, pending ones included, and owes
//! the rest; `debt` owes it all; `clamp` takes other lots and forgives the
//! rest), later awards paying debt off first.
//!
//! After every step the engine's result (lots taken, points, errors) and
//! its public figures (`totals`, `spendable`, `pending`, `owed`,
//! `forgiven`, `balance`, its lots' remaining and held, the remembered
//! awards, every statement entry) must be the model's; a failed step
//! leaves the ledger equal to what it was, a change bumps the version, a
//! repeated key returns the first result, and keys, awards and statement
//! entries are forgotten past their bounds as documented.
//!
//! Points held by an open hold when a reversal of their award comes are
//! modelled as the `Hold` docs describe them: what the policy owes or
//! forgives is marked on the award's held points first, then (`clamp`,
//! `negative_balance`) claims other lots' held points; a release hands
//! them to the reversal (or writes them off with their expired lot), a
//! capture leaves them forgiven or owed, and takes other points for those a
//! reversal found in a lot already past expiry; later awards pay the debt
//! no hold stands for first. Marks are kept per lot and settled first come,
//! first served, as the docs' "Limits" paragraph says; where the docs are
//! silent on the fine order (two awards of one event claiming the same
//! held points), the model follows the engine: one claim, and one
//! statement entry at the close, per award.
//!
//! A second property checks the `Hold` docs' promise directly: with one
//! hold open, closing it before or after a reversal (at the same instant)
//! ends with the same points in lots, debt, expired and reversed totals.
//!
//! Caps, multipliers and conditions are left out (no made-up awards), and
//! events come in time order (a redelivery may carry a new time).

use chrono::{DateTime, Datelike, FixedOffset, Months, NaiveDate, TimeDelta, TimeZone, Utc};
use growthkit::points::{
    Clawback, Entry, EntryKind, Ledger, OperationKey, PointsError, Portion, Program, ProgramSpec,
    REMEMBERED_KEYS,
};
use growthkit::{Event, EventId, EventKind, UserId};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{Index, select};
use serde_json::json;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap()
}

/// Keys `k0` to `k199`: most steps pick among the first few, so that keys
/// are repeated and reused by other kinds of operation; long runs pick
/// among all, so that the oldest are forgotten.
const KEYS: usize = 200;

fn key(i: usize) -> OperationKey {
    OperationKey::from(format!("k{i}"))
}

/// A fixed-reward rule of the generated program.
#[derive(Clone, Debug)]
struct RuleDef {
    /// 0: `visited`, 1: `check_in`.
    on: usize,
    points: u64,
    pending_days: u32,
    /// `None`: the program's expiry; `Some(0)`: never; `Some(d)`: after `d` days.
    expiry_days: Option<u32>,
    /// Instead: after this many calendar months in the program's zone,
    /// rounded up to the end of the month, quarter or year if named.
    months: Option<(u32, Option<&'static str>)>,
}

#[derive(Clone, Debug)]
struct ProgramDef {
    rules: Vec<RuleDef>,
    /// The program's expiry in days (`None`: never).
    expiry_days: Option<u32>,
    clawback: Clawback,
    /// `LedgerPolicy::statement_entries`.
    statement_entries: u16,
    /// `LedgerPolicy::reversible_awards`.
    reversible_awards: u16,
    /// The program's `utc_offset`, in hours.
    offset_hours: i32,
}

impl ProgramDef {
    fn program(&self) -> Program {
        let rules: Vec<_> = self
            .rules
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let on = ["visited", "check_in"][r.on];
                let mut rule = json!({
                    "name": format!("r{i}"),
                    "on": on,
                    "reward": { "type": "fixed", "points": r.points },
                    "pending_days": r.pending_days,
                });
                match (r.months, r.expiry_days) {
                    (Some((months, Some(end))), _) => {
                        rule["expiry"] =
                            json!({ "type": "after_months", "months": months, "round_up_to": end })
                    }
                    (Some((months, None)), _) => {
                        rule["expiry"] = json!({ "type": "after_months", "months": months })
                    }
                    (None, None) => {}
                    (None, Some(0)) => rule["expiry"] = json!({ "type": "never" }),
                    (None, Some(d)) => rule["expiry"] = json!({ "type": "after_days", "days": d }),
                }
                rule
            })
            .collect();
        let mut spec = json!({
            "utc_offset": format!("{:+03}:00", self.offset_hours),
            "rules": rules,
            "ledger": { "clawback": self.clawback, "statement_entries": self.statement_entries,
                        "reversible_awards": self.reversible_awards },
            // Every redelivery is recognised (dedupe windows are not this
            // model's business).
            "dedupe": { "horizon_hours": 100_000, "max_ids": 1000 },
        });
        if let Some(d) = self.expiry_days {
            spec["expiry"] = json!({ "type": "after_days", "days": d });
        }
        serde_json::from_value::<ProgramSpec>(spec)
            .unwrap_or_else(|e| unreachable!("{e}"))
            .validate()
            .unwrap_or_else(|e| unreachable!("{e}"))
    }

    /// When points `r` awards at `at` expire (`None`: never): days of 24
    /// hours, or calendar months in the program's zone (a day the shorter
    /// month lacks becomes its last), optionally rounded up to the next
    /// month's, quarter's or year's local midnight.
    fn expires_at(&self, r: &RuleDef, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if let Some((months, end)) = r.months {
            let zone = FixedOffset::east_opt(self.offset_hours * 3600).unwrap();
            let local = at.with_timezone(&zone).naive_local();
            let due = local.checked_add_months(Months::new(months)).unwrap();
            let first = |y: i32, m: u32| {
                let (y, m) = if m > 12 { (y + 1, m - 12) } else { (y, m) };
                NaiveDate::from_ymd_opt(y, m, 1)
                    .unwrap()
                    .and_hms_opt(0, 0, 0)
                    .unwrap()
            };
            let due = match end {
                None => due,
                Some("month") => first(due.year(), due.month() + 1),
                Some("quarter") => first(due.year(), (due.month() - 1) / 3 * 3 + 4),
                _ => first(due.year() + 1, 1),
            };
            return Some(zone.from_local_datetime(&due).unwrap().with_timezone(&Utc));
        }
        let days = match r.expiry_days {
            Some(0) => None,
            Some(d) => Some(d),
            None => self.expiry_days,
        };
        days.map(|d| at + TimeDelta::days(i64::from(d)))
    }
}

fn program_def() -> impl Strategy<Value = ProgramDef> {
    let rule = (
        0usize..2,
        1u64..60,
        0u32..3,
        prop_oneof![Just(None), Just(Some(0)), (1u32..6).prop_map(Some)],
        proptest::option::weighted(
            0.25,
            (
                1u32..3,
                select(vec![None, Some("month"), Some("quarter"), Some("year")]),
            ),
        ),
    )
        .prop_map(|(on, points, pending_days, expiry, months)| RuleDef {
            on,
            points,
            pending_days,
            // Pending must end before expiry.
            expiry_days: expiry.map(|d| if d == 0 { 0 } else { d + pending_days }),
            months,
        });
    (
        vec(rule, 1..4),
        prop_oneof![Just(None), (3u32..8).prop_map(Some)],
        select(vec![
            Clawback::NegativeBalance,
            Clawback::Debt,
            Clawback::Clamp,
        ]),
        (
            prop_oneof![Just(1000u16), Just(0), 1u16..6],
            prop_oneof![Just(1000u16), 1u16..4],
        ),
        select(vec![0i32, 8, -5]),
    )
        .prop_map(
            |(
                rules,
                expiry_days,
                clawback,
                (statement_entries, reversible_awards),
                offset_hours,
            )| {
                ProgramDef {
                    rules,
                    expiry_days,
                    clawback,
                    statement_entries,
                    reversible_awards,
                    offset_hours,
                }
            },
        )
}

#[derive(Clone, Debug)]
enum Op {
    /// An event of kind 0 or 1; `Some(i)`: a redelivery of an earlier event.
    Earn(usize, Option<Index>),
    Redeem(usize, u64),
    Hold(usize, u64),
    /// A hold's key (one of those held so far, or any key).
    Capture(Index, Option<usize>),
    Release(Index, Option<usize>),
    /// An earlier event (or an unknown one), a key, and a share
    /// (`None`: whole).
    Reverse(Option<Index>, usize, Option<(u64, u64)>),
    Expire,
}

/// An operation; `held` favours big holds and reversals while they are
/// open, with few other keys.
fn op(held: bool) -> impl Strategy<Value = Op> {
    let k = match held {
        false => prop_oneof![4 => 0usize..8, 1 => 0usize..KEYS].boxed(),
        true => (0usize..4).boxed(),
    };
    let (hold, reverse) = if held { (4, 5) } else { (2, 2) };
    prop_oneof![
        5 => (0usize..2, proptest::option::weighted(0.15, any::<Index>()))
            .prop_map(|(kind, again)| Op::Earn(kind, again)),
        3 => (k.clone(), 0u64..90).prop_map(|(k, p)| Op::Redeem(k, p)),
        hold => (k.clone(), 0u64..90).prop_map(|(k, p)| Op::Hold(k, p)),
        // Everything spendable, so that a reversal finds little else.
        hold => k.clone().prop_map(|k| Op::Hold(k, u64::MAX)),
        2 => (any::<Index>(), proptest::option::weighted(0.2, k.clone()))
            .prop_map(|(i, k)| Op::Capture(i, k)),
        2 => (any::<Index>(), proptest::option::weighted(0.2, k.clone()))
            .prop_map(|(i, k)| Op::Release(i, k)),
        reverse => (
            proptest::option::weighted(0.9, any::<Index>()),
            k,
            proptest::option::of((1u64..5).prop_flat_map(|d| (0..=d + 1, Just(d)))),
        )
            .prop_map(|(e, k, s)| Op::Reverse(e, k, s)),
        1 => Just(Op::Expire),
    ]
}

/// Hours to wait before each step: often none (several steps at one
/// instant), sometimes a whole number of days (landing on expiry and
/// pending instants exactly).
fn wait() -> impl Strategy<Value = i64> {
    prop_oneof![
        2 => Just(0i64),
        3 => 1i64..30,
        1 => (1i64..4).prop_map(|d| d * 24),
        // Now and then weeks, past calendar-month expiries.
        1 => (7i64..50).prop_map(|d| d * 24),
    ]
}

// ---------------------------------------------------------------------------
// The model.

/// A lot as both sides show it: id, rule, earned at, available from,
/// expires at, remaining, held.
type LotView = (
    u64,
    String,
    DateTime<Utc>,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    u64,
    u64,
);

#[derive(Clone, Debug)]
struct MLot {
    id: u64,
    rule: usize,
    earned_at: DateTime<Utc>,
    available_from: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
    remaining: u64,
    held: u64,
}

impl MLot {
    fn due(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|e| e <= now)
    }
    fn spendable(&self, now: DateTime<Utc>) -> bool {
        self.available_from <= now && !self.due(now)
    }
    /// The documented spending order: earliest expiry first,
    /// never-expiring last, older before newer, then earning order.
    fn order(&self) -> (bool, Option<DateTime<Utc>>, DateTime<Utc>, u64) {
        (
            self.expires_at.is_none(),
            self.expires_at,
            self.earned_at,
            self.id,
        )
    }
}

#[derive(Clone, Debug)]
struct MAward {
    lot: u64,
    source: u64,
    points: u64,
    reversed: u64,
    expired: u64,
    written_off: u64,
    /// Forgiven by a `clamp` reversal and not reclaimed since.
    forgiven: u64,
    /// The unreversed part of the event, `num / den`.
    unreversed: (u128, u128),
}

/// A step's result as the model sees it (and as it reads the engine's).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Res {
    Earned {
        duplicate: bool,
        total: u64,
        debt_paid: u64,
        /// `Earned::entries`.
        entries: Vec<Entry>,
    },
    /// A redemption or a capture: points and the lots taken (id, points).
    Spent {
        points: u64,
        taken: Vec<(u64, u64)>,
        entries: Vec<Entry>,
        repeated: bool,
    },
    Held {
        points: u64,
        taken: Vec<(u64, u64)>,
        entries: Vec<Entry>,
        repeated: bool,
    },
    Released {
        points: u64,
        returned: u64,
        expired: u64,
        reclaimed: u64,
        written_off: u64,
        entries: Vec<Entry>,
        repeated: bool,
    },
    Reversed {
        /// Each award's points and whether it is now wholly reversed.
        awards: Vec<(u64, bool)>,
        points: u64,
        taken_back: u64,
        written_off: u64,
        owed: u64,
        forgiven: u64,
        entries: Vec<Entry>,
        repeated: bool,
    },
    Expired(u64),
    Err(PointsError),
}

impl Res {
    fn again(&self) -> Res {
        let mut r = self.clone();
        match &mut r {
            Res::Spent { repeated, .. }
            | Res::Held { repeated, .. }
            | Res::Released { repeated, .. }
            | Res::Reversed { repeated, .. } => *repeated = true,
            _ => {}
        }
        r
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Redeem,
    Hold,
    Capture,
    Release,
    Reverse,
}

#[derive(Clone, Debug)]
struct MHold {
    key: usize,
    points: u64,
    taken: Vec<(u64, u64)>,
    result: Res,
}

#[derive(Clone, Debug)]
struct Model {
    def: ProgramDef,
    lots: Vec<MLot>,
    next_lot: u64,
    earned: u64,
    held: u64,
    redeemed: u64,
    expired: u64,
    reversed: u64,
    owed: u64,
    forgiven: u64,
    holds: Vec<MHold>,
    /// Held points (by lot) of awards reversed while they were held that
    /// the reversal forgave (`clamp`) or charged as owed: released, they go
    /// to the reversal (or are written off with their expired lot);
    /// captured, they stay forgiven or owed (the `Hold` docs).
    forgiven_held: Vec<(u64, u64)>,
    owed_held: Vec<(u64, u64)>,
    /// Other lots' held points a `clamp` or `negative_balance` reversal
    /// forgave or charged beyond the award's own held points: (lot,
    /// points, the reversed event, owed, the reversed award's lot), one
    /// per award (so one event's two awards claim, and are paid, apart).
    claims: Vec<(u64, u64, u64, bool, u64)>,
    /// Of the marked held points, those found in a lot already past
    /// expiry: captured, the capture takes other points for them.
    claw: Vec<(u64, u64)>,
    /// Remembered operations, oldest first: key, kind, first result.
    ops: Vec<(usize, Kind, Res)>,
    awards: Vec<MAward>,
    seen: Vec<u64>,
    statement: Vec<Entry>,
    /// Every lot's event.
    lot_sources: Vec<(u64, u64)>,
}

fn marked(marks: &[(u64, u64)], lot: u64) -> u64 {
    marks.iter().filter(|m| m.0 == lot).map(|m| m.1).sum()
}

fn add_mark(marks: &mut Vec<(u64, u64)>, lot: u64, points: u64) {
    if points == 0 {
        return;
    }
    match marks.iter_mut().find(|m| m.0 == lot) {
        Some(m) => m.1 += points,
        None => marks.push((lot, points)),
    }
}

fn unmark(marks: &mut Vec<(u64, u64)>, lot: u64, points: u64) {
    if let Some(m) = marks.iter_mut().find(|m| m.0 == lot) {
        m.1 -= points.min(m.1);
    }
    marks.retain(|m| m.1 > 0);
}

fn gcd(a: u128, b: u128) -> u128 {
    if b == 0 { a } else { gcd(b, a % b) }
}

fn lowest(n: u128, d: u128) -> (u128, u128) {
    let g = gcd(n, d).max(1);
    (n / g, d / g)
}

impl Model {
    fn new(def: ProgramDef) -> Model {
        Model {
            def,
            lots: Vec::new(),
            next_lot: 0,
            earned: 0,
            held: 0,
            redeemed: 0,
            expired: 0,
            reversed: 0,
            owed: 0,
            forgiven: 0,
            holds: Vec::new(),
            forgiven_held: Vec::new(),
            owed_held: Vec::new(),
            claims: Vec::new(),
            claw: Vec::new(),
            ops: Vec::new(),
            awards: Vec::new(),
            seen: Vec::new(),
            statement: Vec::new(),
            lot_sources: Vec::new(),
        }
    }

    fn held_in(&self, lot: u64) -> u64 {
        self.lots.iter().find(|l| l.id == lot).map_or(0, |l| l.held)
    }

    /// Held points of `lot` that no reversal forgave, owed or claimed.
    fn unmarked(&self, lot: u64) -> u64 {
        let claimed: u64 = self.claims.iter().filter(|c| c.0 == lot).map(|c| c.1).sum();
        self.held_in(lot)
            .saturating_sub(marked(&self.forgiven_held, lot))
            .saturating_sub(marked(&self.owed_held, lot))
            .saturating_sub(claimed)
    }

    /// After a hold closed: the marks are kept per lot, within what the
    /// lot still holds (forgiven ones first, then owed ones, then other
    /// awards' claims in the order they were made), and the points to claw
    /// at capture within the forgiven and owed ones.
    fn trim_marks(&mut self) {
        let held: Vec<(u64, u64)> = self.lots.iter().map(|l| (l.id, l.held)).collect();
        let held_in = |lot: u64| held.iter().find(|h| h.0 == lot).map_or(0, |h| h.1);
        for m in self.forgiven_held.iter_mut() {
            m.1 = m.1.min(held_in(m.0));
        }
        self.forgiven_held.retain(|m| m.1 > 0);
        for m in self.owed_held.iter_mut() {
            m.1 = m.1.min(held_in(m.0) - marked(&self.forgiven_held, m.0));
        }
        self.owed_held.retain(|m| m.1 > 0);
        let mut kept: Vec<(u64, u64)> = Vec::new();
        for c in self.claims.iter_mut() {
            let room = held_in(c.0)
                - marked(&self.forgiven_held, c.0)
                - marked(&self.owed_held, c.0)
                - marked(&kept, c.0);
            c.1 = c.1.min(room);
            add_mark(&mut kept, c.0, c.1);
        }
        self.claims.retain(|c| c.1 > 0);
        let (f, o) = (&self.forgiven_held, &self.owed_held);
        for m in self.claw.iter_mut() {
            m.1 = m.1.min(marked(f, m.0) + marked(o, m.0));
        }
        self.claw.retain(|m| m.1 > 0);
    }

    /// Takes up to `points` from lots not past expiry (pending ones
    /// included, held points not), in spending order; what it took.
    fn take_any(&mut self, points: u64, now: DateTime<Utc>) -> u64 {
        let mut left = points;
        for l in self.lots.iter_mut() {
            if l.due(now) {
                continue;
            }
            let t = l.remaining.min(left);
            l.remaining -= t;
            left -= t;
        }
        points - left
    }

    /// Claims other lots' held points (not past expiry, in spending
    /// order) for what the reversal of `source`'s award of lot `own`
    /// forgave or owed beyond its own held points.
    fn claim(&mut self, own: u64, source: u64, points: u64, owed: bool, now: DateTime<Utc>) {
        let mut left = points;
        let ids: Vec<u64> = self
            .lots
            .iter()
            .filter(|l| l.id != own && l.held > 0 && !l.due(now))
            .map(|l| l.id)
            .collect();
        for lot in ids {
            let c = left.min(self.unmarked(lot));
            if c == 0 {
                continue;
            }
            left -= c;
            match self
                .claims
                .iter_mut()
                .find(|x| x.0 == lot && x.4 == own && x.3 == owed)
            {
                Some(x) => x.1 += c,
                None => self.claims.push((lot, c, source, owed, own)),
            }
        }
    }

    /// Later awards pay what no hold stands for first: the owed marks
    /// shrink only by what the payment took beyond that, newest first
    /// (other lots' claims before the award's own held points).
    fn cap_owed_held(&mut self) {
        let total: u64 = self.owed_held.iter().map(|m| m.1).sum::<u64>()
            + self.claims.iter().filter(|c| c.3).map(|c| c.1).sum::<u64>();
        let mut excess = total.saturating_sub(self.owed);
        for c in self.claims.iter_mut().rev().filter(|c| c.3) {
            let cut = excess.min(c.1);
            c.1 -= cut;
            excess -= cut;
        }
        for m in self.owed_held.iter_mut().rev() {
            let cut = excess.min(m.1);
            m.1 -= cut;
            excess -= cut;
        }
        self.owed_held.retain(|m| m.1 > 0);
        self.claims.retain(|c| c.1 > 0);
        let (f, o) = (self.forgiven_held.clone(), self.owed_held.clone());
        self.claw.retain_mut(|(lot, p)| {
            *p = (*p).min(marked(&f, *lot) + marked(&o, *lot));
            *p > 0
        });
    }

    /// `points` of the award of `lot` are no longer forgiven.
    fn award_forgiven(&mut self, lot: u64, points: u64) {
        if let Some(a) = self.awards.iter_mut().find(|a| a.lot == lot) {
            a.forgiven -= points;
        }
    }

    fn source_of(&self, lot: u64) -> u64 {
        self.awards
            .iter()
            .find(|a| a.lot == lot)
            .map(|a| a.source)
            .or_else(|| self.lot_sources.iter().find(|x| x.0 == lot).map(|x| x.1))
            .unwrap()
    }

    fn available(&self) -> u64 {
        self.lots.iter().map(|l| l.remaining).sum()
    }

    /// Lots in spending order.
    fn sorted(&mut self) {
        self.lots.sort_by_key(MLot::order);
    }

    fn spendable(&self, now: DateTime<Utc>) -> u64 {
        self.lots
            .iter()
            .filter(|l| l.spendable(now))
            .map(|l| l.remaining)
            .sum()
    }

    fn pending(&self, now: DateTime<Utc>) -> u64 {
        self.lots
            .iter()
            .filter(|l| !l.due(now) && l.available_from > now)
            .map(|l| l.remaining)
            .sum()
    }

    fn due(&self, now: DateTime<Utc>) -> u64 {
        self.lots
            .iter()
            .filter(|l| l.due(now))
            .map(|l| l.remaining)
            .sum()
    }

    /// Remembers an operation's first result, forgetting the oldest past
    /// `REMEMBERED_KEYS`.
    fn remember(&mut self, op: (usize, Kind, Res)) {
        if self.ops.len() >= REMEMBERED_KEYS {
            self.ops.remove(0);
        }
        self.ops.push(op);
    }

    /// Writes entries to the statement, keeping the newest
    /// `statement_entries` (none for 0).
    fn write(&mut self, entries: &[Entry]) {
        self.statement.extend(entries.iter().cloned());
        let keep = usize::from(self.def.statement_entries);
        let drop = self.statement.len().saturating_sub(keep);
        self.statement.drain(..drop);
    }

    fn entry(at: DateTime<Utc>, points: u64, kind: EntryKind) -> Entry {
        Entry { at, points, kind }
    }

    /// The first result under `key` of an operation of `kind`; a key that
    /// another kind of operation used, or that names an open hold, is
    /// `KeyReused`.
    fn recall(&self, k: usize, kind: Kind) -> Result<Option<Res>, PointsError> {
        if let Some((_, _, r)) = self.ops.iter().rev().find(|o| o.0 == k && o.1 == kind) {
            return Ok(Some(r.again()));
        }
        if self.ops.iter().any(|o| o.0 == k) || self.holds.iter().any(|h| h.key == k) {
            return Err(PointsError::KeyReused { key: key(k) });
        }
        Ok(None)
    }

    fn earn(&mut self, id: u64, kind: usize, at: DateTime<Utc>) -> Res {
        if self.seen.contains(&id) {
            return Res::Earned {
                duplicate: true,
                total: 0,
                debt_paid: 0,
                entries: Vec::new(),
            };
        }
        self.seen.push(id);
        let mut total = 0;
        let mut paid_all = 0;
        let mut written = Vec::new();
        let rules: Vec<(usize, RuleDef)> = self
            .def
            .rules
            .iter()
            .cloned()
            .enumerate()
            .filter(|(_, r)| r.on == kind)
            .collect();
        for (i, r) in rules {
            let lot_id = self.next_lot;
            self.next_lot += 1;
            self.lot_sources.push((lot_id, id));
            total += r.points;
            self.earned += r.points;
            // Debt first.
            let pay = r.points.min(self.owed);
            self.owed -= pay;
            self.reversed += pay;
            paid_all += pay;
            if pay > 0 {
                self.cap_owed_held();
            }
            let mut entries = vec![Self::entry(
                at,
                r.points,
                EntryKind::Earned {
                    rule: format!("r{i}").as_str().into(),
                    source: EventId(id),
                },
            )];
            if pay > 0 {
                entries.push(Self::entry(
                    at,
                    pay,
                    EntryKind::DebtPaid {
                        rule: format!("r{i}").as_str().into(),
                    },
                ));
            }
            self.write(&entries);
            written.extend(entries);
            let expires_at = self.def.expires_at(&r, at);
            self.lots.push(MLot {
                id: lot_id,
                rule: i,
                earned_at: at,
                available_from: at + TimeDelta::days(i64::from(r.pending_days)),
                expires_at,
                remaining: r.points - pay,
                held: 0,
            });
            // The newest `reversible_awards` are remembered.
            if self.awards.len() >= usize::from(self.def.reversible_awards) {
                self.awards.remove(0);
            }
            self.awards.push(MAward {
                lot: lot_id,
                source: id,
                points: r.points,
                reversed: 0,
                expired: 0,
                written_off: 0,
                forgiven: 0,
                unreversed: (1, 1),
            });
        }
        self.sorted();
        Res::Earned {
            duplicate: false,
            total,
            debt_paid: paid_all,
            entries: written,
        }
    }

    /// Checks a spend of `points` at `now`.
    fn check_spend(&self, points: u64, now: DateTime<Utc>) -> Result<(), PointsError> {
        if points == 0 {
            return Err(PointsError::ZeroRedeem);
        }
        let spendable = self.spendable(now);
        if spendable < points {
            return Err(PointsError::Insufficient {
                requested: points,
                spendable,
            });
        }
        Ok(())
    }

    /// Takes `points` from the spendable lots in spending order.
    fn take(&mut self, points: u64, now: DateTime<Utc>, hold: bool) -> Vec<(u64, u64)> {
        let mut left = points;
        let mut taken = Vec::new();
        for lot in self.lots.iter_mut() {
            if left == 0 {
                break;
            }
            if lot.remaining == 0 || !lot.spendable(now) {
                continue;
            }
            let t = lot.remaining.min(left);
            lot.remaining -= t;
            left -= t;
            if hold {
                lot.held += t;
            }
            taken.push((lot.id, t));
        }
        taken
    }

    fn redeem(&mut self, k: usize, points: u64, now: DateTime<Utc>) -> Res {
        match self.recall(k, Kind::Redeem) {
            Err(e) => return Res::Err(e),
            Ok(Some(first)) => return first,
            Ok(None) => {}
        }
        if let Err(e) = self.check_spend(points, now) {
            return Res::Err(e);
        }
        let taken = self.take(points, now, false);
        self.redeemed += points;
        let entries = vec![Self::entry(
            now,
            points,
            EntryKind::Redeemed { key: key(k) },
        )];
        self.write(&entries);
        let r = Res::Spent {
            points,
            taken,
            entries,
            repeated: false,
        };
        self.remember((k, Kind::Redeem, r.clone()));
        r
    }

    fn hold(&mut self, k: usize, points: u64, now: DateTime<Utc>) -> Res {
        if let Some(h) = self.holds.iter().find(|h| h.key == k) {
            return h.result.again();
        }
        match self.recall(k, Kind::Hold) {
            Err(e) => return Res::Err(e),
            Ok(Some(first)) => return first,
            Ok(None) => {}
        }
        if self.holds.len() >= 16 {
            return Res::Err(PointsError::TooManyHolds {
                open: self.holds.len(),
            });
        }
        if let Err(e) = self.check_spend(points, now) {
            return Res::Err(e);
        }
        let taken = self.take(points, now, true);
        self.held += points;
        let entries = vec![Self::entry(now, points, EntryKind::Held { key: key(k) })];
        self.write(&entries);
        let r = Res::Held {
            points,
            taken: taken.clone(),
            entries,
            repeated: false,
        };
        self.holds.push(MHold {
            key: k,
            points,
            taken,
            result: r.clone(),
        });
        self.remember((k, Kind::Hold, r.clone()));
        r
    }

    /// The open hold under `k`, or the error or first result of closing
    /// it as `kind`.
    fn closing(&self, k: usize, kind: Kind) -> Result<usize, Res> {
        if let Some(i) = self.holds.iter().position(|h| h.key == k) {
            return Ok(i);
        }
        let other = if kind == Kind::Capture {
            Kind::Release
        } else {
            Kind::Capture
        };
        if let Some((_, _, r)) = self.ops.iter().rev().find(|o| o.0 == k && o.1 == kind) {
            return Err(r.again());
        }
        if self.ops.iter().any(|o| o.0 == k && o.1 == other) {
            return Err(Res::Err(PointsError::HoldClosed { key: key(k) }));
        }
        if self
            .ops
            .iter()
            .any(|o| o.0 == k && matches!(o.1, Kind::Redeem | Kind::Reverse))
        {
            return Err(Res::Err(PointsError::KeyReused { key: key(k) }));
        }
        Err(Res::Err(PointsError::UnknownHold { key: key(k) }))
    }

    fn capture(&mut self, k: usize, now: DateTime<Utc>) -> Res {
        let i = match self.closing(k, Kind::Capture) {
            Ok(i) => i,
            Err(r) => return r,
        };
        let h = self.holds.remove(i);
        for &(lot, p) in &h.taken {
            let l = self.lots.iter_mut().find(|l| l.id == lot).unwrap();
            l.held -= p;
        }
        self.held -= h.points;
        self.redeemed += h.points;
        let mut entries = vec![Self::entry(
            now,
            h.points,
            EntryKind::Captured { key: key(k) },
        )];
        // Held points a reversal found in a lot past expiry: the capture
        // takes the member's other points for them, as far as there are.
        let mut there: u64 = self
            .lots
            .iter()
            .filter(|l| !l.due(now))
            .map(|l| l.remaining)
            .sum();
        for &(lot, p) in &h.taken {
            let back = marked(&self.claw, lot).min(p).min(there);
            if back == 0 {
                continue;
            }
            there -= back;
            let f = marked(&self.forgiven_held, lot).min(back);
            let o = back - f;
            let took = self.take_any(back, now);
            assert_eq!(took, back);
            self.reversed += back;
            self.forgiven -= f;
            self.owed -= o;
            unmark(&mut self.forgiven_held, lot, f);
            unmark(&mut self.owed_held, lot, o);
            unmark(&mut self.claw, lot, back);
            self.award_forgiven(lot, f);
            let source = EventId(self.source_of(lot));
            if f > 0 {
                entries.push(Self::entry(now, f, EntryKind::Reclaimed { source }));
            }
            if o > 0 {
                entries.push(Self::entry(now, o, EntryKind::ReclaimedOwed { source }));
            }
        }
        self.trim_marks();
        self.write(&entries);
        let r = Res::Spent {
            points: h.points,
            taken: h.taken,
            entries,
            repeated: false,
        };
        self.remember((k, Kind::Capture, r.clone()));
        r
    }

    fn release(&mut self, k: usize, now: DateTime<Utc>) -> Res {
        let i = match self.closing(k, Kind::Release) {
            Ok(i) => i,
            Err(r) => return r,
        };
        let h = self.holds.remove(i);
        let mut expired = 0;
        let mut reclaimed = 0;
        let mut written_off = 0;
        let mut settled = Vec::new();
        for &(lot, p) in &h.taken {
            // The award's own forgiven, then owed, held points.
            let f = marked(&self.forgiven_held, lot).min(p);
            let o = marked(&self.owed_held, lot).min(p - f);
            unmark(&mut self.forgiven_held, lot, f);
            unmark(&mut self.owed_held, lot, o);
            self.forgiven -= f;
            self.owed -= o;
            self.award_forgiven(lot, f);
            let source = EventId(self.source_of(lot));
            let l = self.lots.iter_mut().find(|l| l.id == lot).unwrap();
            l.held -= p;
            // Held points do not expire while held; released into a lot
            // past expiry, they expire at once (those a reversal forgave
            // or owed are written off: no longer forgiven or owed).
            if l.due(now) {
                expired += p;
                written_off += f + o;
                if let Some(a) = self.awards.iter_mut().find(|a| a.lot == lot) {
                    a.expired += p;
                    a.written_off += f + o;
                }
                if o > 0 {
                    settled.push(Self::entry(now, o, EntryKind::DebtWrittenOff { source }));
                }
            } else {
                // To the reversal that forgave or owed them; then those
                // claimed by another award's reversal; the rest back.
                let mut left = p - f - o;
                let mut back = Vec::new();
                for c in self.claims.iter_mut().filter(|c| c.0 == lot) {
                    let part = c.1.min(left);
                    left -= part;
                    c.1 -= part;
                    if part > 0 {
                        back.push((part, c.2, c.3, c.4));
                    }
                }
                l.remaining += left;
                reclaimed += p - left;
                if f > 0 {
                    settled.push(Self::entry(now, f, EntryKind::Reclaimed { source }));
                }
                if o > 0 {
                    settled.push(Self::entry(now, o, EntryKind::ReclaimedOwed { source }));
                }
                for (part, src, owed, award) in back {
                    let source = EventId(src);
                    if owed {
                        self.owed -= part;
                        settled.push(Self::entry(now, part, EntryKind::ReclaimedOwed { source }));
                    } else {
                        self.forgiven -= part;
                        self.award_forgiven(award, part);
                        settled.push(Self::entry(now, part, EntryKind::Reclaimed { source }));
                    }
                }
            }
        }
        self.trim_marks();
        self.reversed += reclaimed;
        self.held -= h.points;
        self.expired += expired;
        let mut entries = vec![Self::entry(
            now,
            h.points,
            EntryKind::Released { key: key(k) },
        )];
        if expired > 0 {
            entries.push(Self::entry(now, expired, EntryKind::Expired));
        }
        entries.extend(settled);
        self.write(&entries);
        let r = Res::Released {
            points: h.points,
            returned: h.points - expired - reclaimed,
            expired,
            reclaimed,
            written_off,
            entries,
            repeated: false,
        };
        self.remember((k, Kind::Release, r.clone()));
        r
    }

    /// Retires what is due at `now` (not the held points); the points.
    fn retire(&mut self, now: DateTime<Utc>) -> u64 {
        let mut due = 0;
        for l in self.lots.iter_mut().filter(|l| l.due(now)) {
            due += l.remaining;
            if let Some(a) = self.awards.iter_mut().find(|a| a.lot == l.id) {
                a.expired += l.remaining;
            }
            l.remaining = 0;
        }
        self.expired += due;
        due
    }

    fn expire(&mut self, now: DateTime<Utc>) -> Res {
        let due = self.retire(now);
        if due > 0 {
            self.write(&[Self::entry(now, due, EntryKind::Expired)]);
        }
        Res::Expired(due)
    }

    fn reverse(
        &mut self,
        source: u64,
        k: usize,
        share: Option<(u64, u64)>,
        now: DateTime<Utc>,
    ) -> Res {
        match self.recall(k, Kind::Reverse) {
            Err(e) => return Res::Err(e),
            Ok(Some(first)) => return first,
            Ok(None) => {}
        }
        if let Some((n, d)) = share
            && (d == 0 || n > d)
        {
            return Res::Err(PointsError::InvalidShare {
                numerator: n,
                denominator: d,
            });
        }
        let ids: Vec<usize> = (0..self.awards.len())
            .filter(|&i| self.awards[i].source == source)
            .collect();
        if ids.is_empty() {
            return Res::Err(PointsError::UnknownEarning {
                id: EventId(source),
            });
        }
        // All or nothing: work on a copy.
        let mut m = self.clone();
        let expired = m.retire(now);
        let mut any_open = false;
        let (mut total, mut back_all, mut off_all, mut owed_all, mut forgiven_all) =
            (0, 0, 0, 0, 0);
        let mut awards = Vec::new();
        for i in ids {
            let a = m.awards[i].clone();
            let open = a.points - a.reversed;
            any_open |= open > 0;
            // The share's part of what is left of the event.
            let (un, ud) = a.unreversed;
            let (points, left) = match share {
                None => (open, (0, 1)),
                Some((n, d)) => {
                    let (n, d) = (u128::from(n), u128::from(d));
                    if n * ud >= un * d {
                        (open, (0, 1))
                    } else {
                        let p = u128::from(open) * n * ud / (un * d);
                        (u64::try_from(p).unwrap(), lowest(un * d - n * ud, ud * d))
                    }
                }
            };
            m.awards[i].unreversed = left;
            if points == 0 {
                continue;
            }
            // 1. The award's own lot.
            let mut own = 0;
            if let Some(l) = m.lots.iter_mut().find(|l| l.id == a.lot) {
                own = l.remaining.min(points);
                l.remaining -= own;
            }
            // 2. Expired points are written off.
            let mut short = points - own;
            let off = short.min(a.expired - a.written_off);
            short -= off;
            // 3. The policy. The award's points held in its lot past
            // expiry wait for the close: no other points are taken for
            // them.
            let lot_due = m.lots.iter().any(|l| l.id == a.lot && l.due(now));
            let (other, at_capture) = match m.def.clawback {
                Clawback::Debt => (0, 0),
                _ => {
                    let eh = if lot_due {
                        m.unmarked(a.lot).min(short)
                    } else {
                        0
                    };
                    (m.take_any(short - eh, now), eh)
                }
            };
            let rest = short - other;
            let (owed, forgiven) = match m.def.clawback {
                Clawback::Clamp => (0, rest),
                _ => (rest, 0),
            };
            // What could not be taken is the award's held points first,
            // then (`clamp`, `negative_balance`) other lots' held points.
            let claims = m.def.clawback != Clawback::Debt;
            if forgiven > 0 {
                let mk = forgiven.min(m.unmarked(a.lot));
                add_mark(&mut m.forgiven_held, a.lot, mk);
                if claims {
                    m.claim(a.lot, a.source, forgiven - mk, false, now);
                }
            }
            if owed > 0 {
                let mk = owed.min(m.unmarked(a.lot));
                add_mark(&mut m.owed_held, a.lot, mk);
                if claims {
                    m.claim(a.lot, a.source, owed - mk, true, now);
                }
            }
            add_mark(&mut m.claw, a.lot, at_capture);
            m.reversed += own + other;
            m.owed += owed;
            m.forgiven += forgiven;
            let rec = &mut m.awards[i];
            rec.reversed += points;
            rec.written_off += off;
            rec.forgiven += forgiven;
            total += points;
            back_all += own + other;
            off_all += off;
            owed_all += owed;
            forgiven_all += forgiven;
            awards.push((points, points == open));
        }
        if !any_open {
            return Res::Err(PointsError::AlreadyReversed {
                id: EventId(source),
            });
        }
        let entries: Vec<Entry> = [
            (expired, EntryKind::Expired),
            (
                back_all,
                EntryKind::Reversed {
                    source: EventId(source),
                    key: key(k),
                },
            ),
            (
                owed_all,
                EntryKind::Owed {
                    source: EventId(source),
                },
            ),
            (
                forgiven_all,
                EntryKind::Forgiven {
                    source: EventId(source),
                },
            ),
        ]
        .into_iter()
        .filter(|(p, _)| *p > 0)
        .map(|(p, kind)| Self::entry(now, p, kind))
        .collect();
        m.write(&entries);
        let r = Res::Reversed {
            awards,
            points: total,
            taken_back: back_all,
            written_off: off_all,
            owed: owed_all,
            forgiven: forgiven_all,
            entries,
            repeated: false,
        };
        m.remember((k, Kind::Reverse, r.clone()));
        *self = m;
        r
    }

    /// What the engine must show: its lots (id, rule, earned at, available
    /// from, expires at, remaining, held), in spending order, without the
    /// empty ones.
    fn lot_view(&self) -> Vec<LotView> {
        let mut lots: Vec<&MLot> = self
            .lots
            .iter()
            .filter(|l| l.remaining > 0 || l.held > 0)
            .collect();
        lots.sort_by_key(|l| l.order());
        lots.iter()
            .map(|l| {
                (
                    l.id,
                    format!("r{}", l.rule),
                    l.earned_at,
                    l.available_from,
                    l.expires_at,
                    l.remaining,
                    l.held,
                )
            })
            .collect()
    }
}

// ---------------------------------------------------------------------------
// The engine's side, read into the model's terms.

fn engine_lots(l: &Ledger) -> Vec<LotView> {
    l.lots()
        .iter()
        .map(|l| {
            (
                l.id,
                l.rule.to_string(),
                l.earned_at,
                l.available_from,
                l.expires_at,
                l.remaining,
                l.held,
            )
        })
        .collect()
}

fn taken(list: &[growthkit::points::Taken]) -> Vec<(u64, u64)> {
    list.iter().map(|t| (t.lot, t.points)).collect()
}

/// Runs one step on the engine; the result in the model's terms.
fn step(p: &Program, l: &mut Ledger, step: &Step, now: DateTime<Utc>) -> Res {
    let spent = |r: Result<growthkit::points::Redemption, PointsError>| match r {
        Ok(r) => Res::Spent {
            points: r.points,
            taken: taken(&r.taken),
            entries: r.entries.to_vec(),
            repeated: r.repeated,
        },
        Err(e) => Res::Err(e),
    };
    match step {
        Step::Earn(id, kind, at) => {
            let kind = match kind {
                0 => EventKind::Visited,
                _ => EventKind::CheckIn { community: None },
            };
            let event = Event::new(EventId(*id), UserId(1), *at, kind);
            match p.apply(l, &event) {
                Ok(e) => Res::Earned {
                    duplicate: e.duplicate,
                    total: e.total,
                    debt_paid: e.debt_paid,
                    entries: e.entries(&event).collect(),
                },
                Err(e) => Res::Err(e),
            }
        }
        Step::Redeem(k, points) => {
            spent(l.redeem(key(*k), *points, now).map(|r| r.to_redemption()))
        }
        Step::Hold(k, points) => match l.hold(key(*k), *points, now) {
            Ok(h) => Res::Held {
                points: h.points,
                taken: taken(&h.taken),
                entries: h.entries,
                repeated: h.repeated,
            },
            Err(e) => Res::Err(e),
        },
        Step::Capture(k) => spent(l.capture(key(*k), now).map(|r| r.to_redemption())),
        Step::Release(k) => match l.release(key(*k), now) {
            Ok(r) => Res::Released {
                points: r.points,
                returned: r.returned,
                expired: r.expired,
                reclaimed: r.reclaimed,
                written_off: r.written_off,
                entries: r.entries,
                repeated: r.repeated,
            },
            Err(e) => Res::Err(e),
        },
        Step::Reverse(source, k, share) => {
            let portion = match share {
                None => Portion::Whole {},
                Some((numerator, denominator)) => Portion::Share {
                    numerator: *numerator,
                    denominator: *denominator,
                },
            };
            match p.reverse(l, key(*k), EventId(*source), portion, now) {
                Ok(r) => Res::Reversed {
                    awards: r
                        .awards
                        .iter()
                        .map(|a| (a.points, a.wholly_reversed))
                        .collect(),
                    points: r.points,
                    taken_back: r.taken_back,
                    written_off: r.written_off,
                    owed: r.owed,
                    forgiven: r.forgiven,
                    entries: r.entries,
                    repeated: r.repeated,
                },
                Err(e) => Res::Err(e),
            }
        }
        Step::Expire => Res::Expired(l.expire(now)),
    }
}

/// An operation with its references resolved against the history so far.
#[derive(Clone, Debug)]
enum Step {
    /// An event: its id, kind and time (a redelivery carries its first time).
    Earn(u64, usize, DateTime<Utc>),
    Redeem(usize, u64),
    Hold(usize, u64),
    Capture(usize),
    Release(usize),
    Reverse(u64, usize, Option<(u64, u64)>),
    Expire,
}

fn model_step(m: &mut Model, s: &Step, now: DateTime<Utc>) -> Res {
    match s {
        Step::Earn(id, kind, at) => m.earn(*id, *kind, *at),
        Step::Redeem(k, p) => m.redeem(*k, *p, now),
        Step::Hold(k, p) => m.hold(*k, *p, now),
        Step::Capture(k) => m.capture(*k, now),
        Step::Release(k) => m.release(*k, now),
        Step::Reverse(src, k, share) => m.reverse(*src, *k, *share, now),
        Step::Expire => m.expire(now),
    }
}

/// Runs the program and operations on both; panics (with the step) at the
/// first difference.
fn run(def: &ProgramDef, ops: &[(i64, Op)]) -> Result<(), TestCaseError> {
    let p = def.program();
    let mut l = p.new_ledger();
    let mut m = Model::new(def.clone());
    let mut now = t0();
    let mut events: Vec<(u64, usize, DateTime<Utc>)> = Vec::new();
    let mut hold_keys: Vec<usize> = Vec::new();
    for (n, (wait, op)) in ops.iter().enumerate() {
        now += TimeDelta::hours(*wait);
        let s = match op {
            Op::Earn(kind, again) => match again {
                Some(i) if !events.is_empty() => {
                    // Mostly with the time it happened; now and then
                    // stamped anew (the id alone identifies an event).
                    let (id, kind, at) = events[i.index(events.len())];
                    let at = if i.index(4) == 0 { now } else { at };
                    Step::Earn(id, kind, at)
                }
                _ => {
                    let id = 100 + n as u64;
                    events.push((id, *kind, now));
                    Step::Earn(id, *kind, now)
                }
            },
            Op::Redeem(k, p) => Step::Redeem(*k, *p),
            Op::Hold(k, p) => {
                hold_keys.push(*k);
                let p = if *p == u64::MAX { m.spendable(now) } else { *p };
                Step::Hold(*k, p)
            }
            Op::Capture(i, k) => match (k, hold_keys.is_empty()) {
                (None, false) => Step::Capture(hold_keys[i.index(hold_keys.len())]),
                (k, _) => Step::Capture(k.unwrap_or(0)),
            },
            Op::Release(i, k) => match (k, hold_keys.is_empty()) {
                (None, false) => Step::Release(hold_keys[i.index(hold_keys.len())]),
                (k, _) => Step::Release(k.unwrap_or(0)),
            },
            Op::Reverse(e, k, share) => {
                let source = match e {
                    Some(i) if !events.is_empty() => events[i.index(events.len())].0,
                    _ => 99,
                };
                Step::Reverse(source, *k, *share)
            }
            Op::Expire => Step::Expire,
        };
        let before = l.clone();
        let got = step(&p, &mut l, &s, now);
        let want = model_step(&mut m, &s, now);
        prop_assert_eq!(&got, &want, "step {} {:?} at {}", n, s, now);
        if let Res::Err(_) = got {
            prop_assert_eq!(&l, &before, "a failed step changed the ledger");
        }
        // A repeated step returns the first result and changes nothing.
        if matches!(
            got,
            Res::Spent { .. } | Res::Held { .. } | Res::Released { .. } | Res::Reversed { .. }
        ) {
            let after = l.clone();
            let again = step(&p, &mut l, &s, now);
            prop_assert_eq!(&again, &want.again(), "step {} repeated", n);
            prop_assert_eq!(&l, &after, "a repeated step changed the ledger");
        }
        let t = l.totals(now);
        let want_totals = (
            m.earned,
            m.spendable(now),
            m.pending(now),
            m.due(now),
            m.held,
            m.redeemed,
            m.expired,
            m.reversed,
            m.owed,
            m.forgiven,
        );
        prop_assert_eq!(
            (
                t.earned,
                t.spendable,
                t.pending,
                t.due,
                t.held,
                t.redeemed,
                t.expired,
                t.reversed,
                t.owed,
                t.forgiven
            ),
            want_totals,
            "totals after step {} {:?}",
            n,
            s
        );
        prop_assert_eq!(l.spendable(now), m.spendable(now));
        prop_assert_eq!(l.pending(now), m.pending(now));
        prop_assert_eq!(l.available(), m.available());
        prop_assert_eq!(
            l.balance(now),
            i128::from(m.spendable(now)) - i128::from(m.owed)
        );
        prop_assert_eq!(
            engine_lots(&l),
            m.lot_view(),
            "lots after step {} {:?}",
            n,
            s
        );
        let earnings: Vec<_> = l
            .earnings()
            .map(|e| {
                (
                    e.lot,
                    e.source.0,
                    e.points,
                    e.reversed,
                    e.expired,
                    e.written_off,
                    e.forgiven,
                )
            })
            .collect();
        let awards: Vec<_> = m
            .awards
            .iter()
            .map(|a| {
                (
                    a.lot,
                    a.source,
                    a.points,
                    a.reversed,
                    a.expired,
                    a.written_off,
                    a.forgiven,
                )
            })
            .collect();
        prop_assert_eq!(earnings, awards, "awards after step {} {:?}", n, s);
        if l != before {
            // "Bumped by every successful change."
            prop_assert!(l.version() > before.version());
        }
        let statement: Vec<Entry> = l.statement().cloned().collect();
        prop_assert_eq!(
            &statement,
            &m.statement,
            "statement after step {} {:?}",
            n,
            s
        );
        // The statement's docs: its signed sum is the points net of debt.
        if def.statement_entries == 1000 {
            let signed: i128 = statement.iter().map(Entry::signed_points).sum();
            prop_assert_eq!(signed, i128::from(l.available()) - i128::from(l.owed()));
        }
        prop_assert_eq!(l.check(), Ok(()));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn the_ledger_does_what_the_reference_model_does(
        def in program_def(),
        ops in prop_oneof![
            3 => vec((wait(), op(false)), 1..40),
            2 => vec((wait(), op(true)), 1..40),
            1 => vec((wait(), op(false)), 60..160),
        ],
    ) {
        run(&def, &ops)?;
    }
}

/// An operation before the hold of [`closing_order`]: an event, a
/// redemption, a reversal (an earlier event, a share) or an expiry.
#[derive(Clone, Debug)]
enum Before {
    Earn(usize),
    Redeem(u64),
    Reverse(Index, Option<(u64, u64)>),
    Expire,
}

fn before() -> impl Strategy<Value = Before> {
    prop_oneof![
        4 => (0usize..2).prop_map(Before::Earn),
        2 => (1u64..60).prop_map(Before::Redeem),
        1 => (
            any::<Index>(),
            proptest::option::of((1u64..5).prop_flat_map(|d| (1..=d, Just(d)))),
        )
            .prop_map(|(e, s)| Before::Reverse(e, s)),
        1 => Just(Before::Expire),
    ]
}

/// The figures the `Hold` docs promise alike whichever comes first: points
/// in lots, debt, expired, reversed (and forgiven and redeemed, which
/// follow from them), and, under `debt` (which takes no other points in
/// the held ones' stead), the lots themselves.
fn closing_order(
    def: &ProgramDef,
    history: &[(i64, Before)],
    hold: u64,
    (wait, share, event, capture): (i64, Option<(u64, u64)>, Index, bool),
    between: Option<usize>,
    close_first: bool,
) -> Option<(Ledger, [u64; 6], u64)> {
    let p = def.program();
    let mut l = p.new_ledger();
    let mut now = t0();
    let mut events = Vec::new();
    for (n, (w, b)) in history.iter().enumerate() {
        now += TimeDelta::hours(*w);
        let id = 100 + n as u64;
        let portion = |s: &Option<(u64, u64)>| match *s {
            None => Portion::Whole {},
            Some((numerator, denominator)) => Portion::Share {
                numerator,
                denominator,
            },
        };
        // Failures change nothing; they are the reference test's business.
        let _ = match b {
            Before::Earn(kind) => {
                let kind = match kind {
                    0 => EventKind::Visited,
                    _ => EventKind::CheckIn { community: None },
                };
                events.push(id);
                p.apply(&mut l, &Event::new(EventId(id), UserId(1), now, kind))
                    .map(|_| ())
            }
            Before::Redeem(points) => l
                .redeem(format!("spend-{n}").into(), *points, now)
                .map(|_| ()),
            Before::Reverse(e, s) if !events.is_empty() => p
                .reverse(
                    &mut l,
                    format!("refund-{n}").into(),
                    EventId(events[e.index(events.len())]),
                    portion(s),
                    now,
                )
                .map(|_| ()),
            Before::Reverse(..) => Ok(()),
            Before::Expire => {
                l.expire(now);
                Ok(())
            }
        };
    }
    if events.is_empty() {
        return None;
    }
    l.hold("order".into(), hold, now).ok()?;
    let now = now + TimeDelta::hours(wait);
    let source = EventId(events[event.index(events.len())]);
    let portion = match share {
        None => Portion::Whole {},
        Some((numerator, denominator)) => Portion::Share {
            numerator,
            denominator,
        },
    };
    let close = |l: &mut Ledger| match capture {
        true => l.capture("order".into(), now).map(|_| 0),
        false => l.release("order".into(), now).map(|r| r.expired),
    };
    // An event after the reversal: before the close, if that comes last.
    let earn = |l: &mut Ledger| match between {
        None => Ok(()),
        Some(kind) => {
            let kind = match kind {
                0 => EventKind::Visited,
                _ => EventKind::CheckIn { community: None },
            };
            let event = Event::new(EventId(99), UserId(1), now, kind);
            p.apply(l, &event).map(|_| ())
        }
    };
    let mut expired_at_release = 0;
    if close_first {
        expired_at_release = close(&mut l).ok()?;
    }
    p.reverse(&mut l, "refund".into(), source, portion, now)
        .ok()?;
    earn(&mut l).ok()?;
    if !close_first {
        expired_at_release = close(&mut l).ok()?;
    }
    assert_eq!(l.check(), Ok(()));
    // A statement kept whole sums to the points net of debt.
    if def.statement_entries == 1000 {
        let signed: i128 = l.statement().map(|e| e.signed_points()).sum();
        assert_eq!(
            signed,
            i128::from(l.available()) - i128::from(l.owed()),
            "the statement's signed sum is the points net of debt"
        );
    }
    let figures = [
        l.available(),
        l.owed(),
        l.expired(),
        l.reversed(),
        l.forgiven(),
        l.redeemed(),
    ];
    Some((l, figures, expired_at_release))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    /// With one hold open, closing it before or after the reversal of an
    /// award (its points held or not) ends alike (the `Hold` docs).
    #[test]
    fn closing_the_one_open_hold_before_or_after_a_reversal_ends_alike(
        def in program_def(),
        history in vec((wait(), before()), 1..12),
        hold in 1u64..80,
        wait in prop_oneof![Just(0i64), 1i64..200],
        share in proptest::option::of((1u64..5).prop_flat_map(|d| (1..=d, Just(d)))),
        event in any::<Index>(),
        capture in any::<bool>(),
        between in proptest::option::of(0usize..2),
    ) {
        let close = (wait, share, event, capture);
        // An award between the reversal and the close: the docs promise
        // alike ends under `debt` only (it pays what no hold stands for
        // first); under the others what the close settles depends on what
        // the member holds by then.
        let between = between.filter(|_| def.clawback == Clawback::Debt);
        let first = closing_order(&def, &history, hold, close, between, true);
        let last = closing_order(&def, &history, hold, close, between, false);
        match (first, last) {
            // The docs' one exception: a later award that paid the debt
            // for held points whose lot expires before their release is
            // not given back.
            (Some((_, _, xa)), Some((_, _, xb))) if between.is_some() && xa + xb > 0 => {}
            (Some((a, fa, _)), Some((b, fb, _))) => {
                prop_assert_eq!(fa, fb, "close first, then last");
                // Under `debt` no other points are taken in the held
                // ones' stead: the same lots, unless an award paid the
                // debt for held points (they come back to the member).
                if def.clawback == Clawback::Debt && between.is_none() {
                    prop_assert_eq!(a.lots(), b.lots());
                }
            }
            (None, None) => {}
            (a, b) => prop_assert!(
                false,
                "one order failed: {:?} / {:?}",
                a.map(|x| x.1),
                b.map(|x| x.1)
            ),
        }
    }
}
