//! A reference model of the tier ladder (`growthkit::points::TierLadder`)
//! for records and evaluations: every record kept as it came, every
//! window summed again from them, anniversaries worked out from the join
//! date by calendar (28 February for a 29 February join in a common year),
//! local days read off chrono's own zone conversion. After each step the
//! engine's tier, grace end, tally, count and change must be the model's.
//!
//! Retractions are left to the property tests (`points_status_properties`):
//! what a tier rests on is the engine's own bookkeeping, not something a
//! small model restates.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, TimeDelta, TimeZone, Utc};
use growthkit::LocalDay;
use growthkit::points::{
    Grace, Multiplier, QualifyingBasis, Tier, TierLadder, TierLadderSpec, TierOutcome, TierReason,
    TierWindow,
};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{Index, select};

/// The model's ladder and one member's state.
#[derive(Debug)]
struct Model {
    thresholds: Vec<u64>,
    window: TierWindow,
    grace: Grace,
    joined: NaiveDate,
    /// Every counted record: its local day and amount.
    records: Vec<(NaiveDate, u64)>,
    as_of: NaiveDate,
    tier: usize,
    since: DateTime<Utc>,
    grace_until: Option<NaiveDate>,
    /// The last days of the windows steps found at or above the current
    /// tier's threshold since it was reached (or found again after a grace
    /// period), oldest first.
    found: Vec<NaiveDate>,
    /// A grace period a step ended, and the windows found before it.
    suspended: Option<(NaiveDate, Vec<NaiveDate>)>,
}

/// Why a tier changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Why {
    Reached,
    FellBelow,
    Revoked,
}

/// What a step did, as the model sees it.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    tier: usize,
    qualifying: u64,
    counted: u64,
    /// From, to, when, and why.
    change: Option<(usize, usize, DateTime<Utc>, Why)>,
    grace_until: Option<NaiveDate>,
}

impl Model {
    /// The `k`-th anniversary: the join's month and day `k` years on, or
    /// 28 February when that day does not exist.
    fn anniversary(&self, k: u32) -> NaiveDate {
        let year = self.joined.year() + k as i32;
        NaiveDate::from_ymd_opt(year, self.joined.month(), self.joined.day())
            .or_else(|| NaiveDate::from_ymd_opt(year, 2, 28))
            .unwrap()
    }

    /// The anniversary year `day` is in (days before joining: the first).
    fn year(&self, day: NaiveDate) -> u32 {
        let mut k = 0;
        while self.anniversary(k + 1) <= day {
            k += 1;
        }
        k
    }

    fn in_window(&self, day: NaiveDate, end: NaiveDate) -> bool {
        match self.window {
            TierWindow::RollingDays { days } => {
                day <= end && (end - day).num_days() < i64::from(days)
            }
            TierWindow::AnniversaryYear {} => self.year(day) == self.year(end),
        }
    }

    fn sum(&self, end: NaiveDate) -> u64 {
        self.records
            .iter()
            .filter(|(d, _)| self.in_window(*d, end))
            .map(|(_, a)| a)
            .sum()
    }

    /// The highest tally of the windows in `found`.
    fn best(&self, found: &[NaiveDate]) -> u64 {
        found.iter().map(|end| self.sum(*end)).max().unwrap_or(0)
    }

    /// The anniversary year of the latest window found that still meets
    /// the current tier's threshold (the latest found, if none does).
    fn last_met(&self) -> u32 {
        let threshold = self.thresholds[self.tier];
        let met = self
            .found
            .iter()
            .rev()
            .find(|end| self.sum(**end) >= threshold);
        met.or(self.found.last()).map_or(0, |end| self.year(*end))
    }

    fn qualified(&self, q: u64) -> usize {
        self.thresholds.iter().rposition(|t| *t <= q).unwrap()
    }

    fn grace_end(&self, judged: NaiveDate) -> NaiveDate {
        match self.grace {
            Grace::None {} => judged,
            Grace::Days { days } => judged + TimeDelta::days(i64::from(days)),
            Grace::UntilAnniversary {} => {
                let mut below = self.year(judged);
                if self.window == (TierWindow::AnniversaryYear {}) {
                    below = below.min(self.last_met() + 1);
                }
                self.anniversary(below + 1)
            }
        }
    }

    fn record(&mut self, at: DateTime<Utc>, day: NaiveDate, amount: u64) -> Seen {
        let end = self.as_of.max(day);
        let counted = amount > 0 && self.in_window(day, end);
        if !counted {
            return self.seen(self.sum(end), 0, None);
        }
        self.records.push((day, amount));
        self.as_of = end;
        let q = self.sum(end);
        let reached = self.qualified(q);
        let mut change = None;
        if reached > self.tier {
            self.since = at.max(self.since);
            change = Some((self.tier, reached, self.since, Why::Reached));
            self.tier = reached;
            self.grace_until = None;
            self.suspended = None;
            self.found = vec![end];
        } else if reached == self.tier {
            if let Some(until) = self.grace_until.take() {
                self.suspended = Some((until, std::mem::take(&mut self.found)));
            }
            self.found.push(end);
        }
        self.seen(q, amount, change)
    }

    fn evaluate(&mut self, now: DateTime<Utc>, today: NaiveDate) -> Seen {
        let judged = today.max(self.as_of);
        let q = self.sum(judged);
        let reached = self.qualified(q);
        let at = now.max(self.since);
        let mut change = None;
        if reached >= self.tier {
            if let Some(until) = self.grace_until.take() {
                self.suspended = Some((until, std::mem::take(&mut self.found)));
                self.found = vec![judged];
            }
            if reached > self.tier {
                change = Some((self.tier, reached, at, Why::Reached));
                self.tier = reached;
                self.since = at;
                self.found = vec![judged];
                self.suspended = None;
            }
        } else {
            let until = match self.grace_until {
                Some(until) => until,
                None => self.grace_end(judged),
            };
            if judged >= until {
                change = Some((self.tier, reached, at, Why::FellBelow));
                self.tier = reached;
                self.since = at;
                self.grace_until = None;
                self.found = vec![judged];
                self.suspended = None;
            } else {
                self.grace_until = Some(until);
            }
        }
        self.as_of = judged;
        self.seen(q, 0, change)
    }

    /// The bucket a day's points go to: the day, or its anniversary year.
    fn bucket(&self, day: NaiveDate) -> NaiveDate {
        match self.window {
            TierWindow::RollingDays { .. } => day,
            TierWindow::AnniversaryYear {} => self.anniversary(self.year(day)),
        }
    }

    /// Takes `amount` earned on `day` back at `now`: from the records of its
    /// bucket (at most what they hold), and from each window found that
    /// held it; revokes a tier no window found (nor the window) meets any
    /// more, unless a grace period these points ended still runs.
    fn retract(
        &mut self,
        (now, today): (DateTime<Utc>, NaiveDate),
        day: NaiveDate,
        amount: u64,
    ) -> Seen {
        let end = self.as_of.max(day);
        let key = self.bucket(day);
        let held: u64 = self
            .records
            .iter()
            .filter(|(d, _)| self.bucket(*d) == key)
            .map(|(_, a)| a)
            .sum();
        let in_window = self.in_window(day, end);
        let taken = if in_window { amount.min(held) } else { 0 };
        let before = self.sum(end);
        let best_before = self.best(&self.found).max(before);
        // Out of the records of the bucket: what the window gave up, or
        // (once the bucket has left it) what was asked.
        let mut left = if in_window { taken } else { amount.min(held) };
        for i in 0..self.records.len() {
            let (d, a) = self.records[i];
            if self.bucket(d) == key {
                let off = left.min(a);
                self.records[i].1 -= off;
                left -= off;
            }
        }
        let qualifying = self.sum(end);
        let best_after = self.best(&self.found).max(qualifying);
        let reached = self.qualified(best_after);
        let threshold = self.thresholds[self.tier];
        let mut change = None;
        if best_before >= threshold && reached < self.tier {
            let owed = self
                .suspended
                .take()
                .filter(|(until, found)| today < *until && self.best(found) >= threshold);
            if let Some((until, found)) = owed {
                self.grace_until = Some(until);
                self.found = found;
            } else {
                self.since = now.max(self.since);
                change = Some((self.tier, reached, self.since, Why::Revoked));
                self.tier = reached;
                self.grace_until = None;
                if qualifying >= self.thresholds[reached] {
                    self.found.push(end);
                }
            }
        }
        self.seen(qualifying, taken, change)
    }

    fn seen(
        &self,
        qualifying: u64,
        counted: u64,
        change: Option<(usize, usize, DateTime<Utc>, Why)>,
    ) -> Seen {
        Seen {
            tier: self.tier,
            qualifying,
            counted,
            change,
            grace_until: self.grace_until,
        }
    }
}

/// The engine's outcome in the model's terms.
fn seen_of(ladder: &TierLadder, out: &TierOutcome) -> Seen {
    let rank = |name: &str| ladder.tiers().iter().position(|t| t.name.as_str() == name);
    Seen {
        tier: rank(out.tier.as_str()).unwrap(),
        qualifying: out.qualifying,
        counted: out.counted,
        change: out.change.as_ref().map(|c| {
            let why = match c.reason {
                TierReason::Reached { .. } => Why::Reached,
                TierReason::FellBelow { .. } => Why::FellBelow,
                TierReason::Revoked { .. } => Why::Revoked,
            };
            let to = rank(c.to.as_str()).unwrap();
            (rank(c.from.as_str()).unwrap(), to, c.at, why)
        }),
        grace_until: out.grace_until.map(LocalDay::date),
    }
}

#[derive(Clone, Copy, Debug)]
enum Op {
    /// Record `amount` earned `back` hours before now.
    Record { back: i64, amount: u64 },
    /// Evaluate `back` hours before now (a late-running job when not 0).
    Evaluate { back: i64 },
    /// Retract `percent` of a record counted earlier (the `pick`-th).
    Retract { pick: Index, percent: u64 },
}

fn ops() -> impl Strategy<Value = Vec<(i64, Op)>> {
    let advance = prop_oneof![4 => 0i64..30, 2 => 0i64..24 * 40, 1 => 0i64..24 * 400];
    let back = prop_oneof![3 => Just(0i64), 1 => 0i64..24 * 40];
    let op = prop_oneof![
        3 => (back.clone(), 0u64..150).prop_map(|(back, amount)| Op::Record { back, amount }),
        2 => back.prop_map(|back| Op::Evaluate { back }),
    ];
    vec((advance, op), 0..50)
}

/// Records and evaluations on time, and at most one retraction (the
/// remembered windows are exact for one).
fn ops_with_a_retraction() -> impl Strategy<Value = Vec<(i64, Op)>> {
    let advance = prop_oneof![4 => 0i64..30, 2 => 0i64..24 * 40, 1 => 0i64..24 * 400];
    let op = prop_oneof![
        6 => (0u64..150).prop_map(|amount| Op::Record { back: 0, amount }),
        3 => Just(Op::Evaluate { back: 0 }),
        2 => (any::<Index>(), prop_oneof![Just(100u64), 1u64..=100])
            .prop_map(|(pick, percent)| Op::Retract { pick, percent }),
    ];
    vec((advance, op), 0..50)
}

fn ladder_parts() -> impl Strategy<Value = (Vec<u64>, TierWindow, Grace)> {
    let thresholds = vec(1u64..200, 1..4).prop_map(|steps| {
        let mut t = vec![0];
        for s in steps {
            t.push(t.last().unwrap() + s);
        }
        t
    });
    let window = prop_oneof![
        prop_oneof![Just(1u32), Just(2), Just(7), 1u32..400]
            .prop_map(|days| TierWindow::RollingDays { days }),
        Just(TierWindow::AnniversaryYear {}),
    ];
    let grace = prop_oneof![
        Just(Grace::None {}),
        (1u32..60).prop_map(|days| Grace::Days { days }),
        Just(Grace::UntilAnniversary {}),
    ];
    (thresholds, window, grace)
}

fn spec_of(thresholds: &[u64], window: TierWindow, grace: Grace) -> TierLadderSpec {
    TierLadderSpec {
        basis: QualifyingBasis::Points {},
        window,
        grace,
        tiers: thresholds
            .iter()
            .enumerate()
            .map(|(i, t)| Tier {
                name: format!("t{i}").into(),
                threshold: *t,
                multiplier: Multiplier::ONE,
                benefits: None,
            })
            .collect(),
    }
}

/// Joins on days whose anniversaries are awkward (29 February, a 31st,
/// New Year's Eve, a US daylight-saving day), at any hour.
fn joins() -> impl Strategy<Value = (NaiveDate, u32)> {
    let days = [
        (2024, 2, 29),
        (2023, 1, 31),
        (2025, 12, 31),
        (2026, 3, 8),
        (2025, 11, 2),
    ];
    let days = days.map(|(y, m, d)| NaiveDate::from_ymd_opt(y, m, d).unwrap());
    (select(days.to_vec()), 0u32..24)
}

/// Runs the engine and the model side by side in `zone`.
fn compare<Tz: TimeZone>(
    zone: &Tz,
    (thresholds, window, grace): (Vec<u64>, TierWindow, Grace),
    (join_day, join_hour): (NaiveDate, u32),
    ops: &[(i64, Op)],
) -> Result<(), TestCaseError> {
    let ladder = spec_of(&thresholds, window, grace).validate().unwrap();
    let joined_at = zone
        .from_local_datetime(&join_day.and_hms_opt(join_hour, 30, 0).unwrap())
        .earliest()
        .unwrap_or_else(|| zone.from_utc_datetime(&join_day.and_hms_opt(12, 0, 0).unwrap()))
        .with_timezone(&Utc);
    let local = |at: DateTime<Utc>| at.with_timezone(zone).date_naive();
    let mut status = ladder.start(joined_at, zone);
    let mut model = Model {
        thresholds,
        window,
        grace,
        joined: local(joined_at),
        records: Vec::new(),
        as_of: local(joined_at),
        tier: 0,
        since: joined_at,
        grace_until: None,
        found: Vec::new(),
        suspended: None,
    };
    let mut now = joined_at;
    // What was counted, and when; whether a retraction has come.
    let mut counted = Vec::new();
    let mut retracted = false;
    for (i, &(advance, op)) in ops.iter().enumerate() {
        now += TimeDelta::hours(advance);
        let (engine, expected) = match op {
            Op::Record { back, amount } => {
                let at = now - TimeDelta::hours(back);
                let out = ladder.record(&mut status, at, amount, zone).unwrap();
                if out.counted > 0 {
                    counted.push((at, out.counted));
                }
                (out, model.record(at, local(at), amount))
            }
            Op::Retract { pick, percent } => {
                if retracted || counted.is_empty() {
                    continue;
                }
                retracted = true;
                let (at, amount) = *pick.get(&counted);
                let amount = (amount * percent).div_ceil(100);
                let out = ladder
                    .retract(&mut status, at, now, amount, "refund", zone)
                    .unwrap();
                (out, model.retract((now, local(now)), local(at), amount))
            }
            Op::Evaluate { back } => {
                let at = now - TimeDelta::hours(back);
                let out = ladder.evaluate(&mut status, at, zone).unwrap();
                (out, model.evaluate(at, local(at)))
            }
        };
        prop_assert_eq!(seen_of(&ladder, &engine), expected, "step {}: {:?}", i, op);
        prop_assert_eq!(status.as_of().date(), model.as_of, "step {}", i);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(600))]

    #[test]
    fn tiers_follow_the_model_in_a_fixed_offset(
        parts in ladder_parts(), join in joins(), ops in ops()
    ) {
        compare(&FixedOffset::east_opt(8 * 3600).unwrap(), parts, join, &ops)?;
    }

    #[test]
    fn tiers_follow_the_model_across_daylight_saving(
        parts in ladder_parts(), join in joins(), ops in ops()
    ) {
        compare(&chrono_tz::America::New_York, parts, join, &ops)?;
    }

    #[test]
    fn a_retraction_revokes_as_the_model_does(
        parts in ladder_parts(), join in joins(), ops in ops_with_a_retraction()
    ) {
        compare(&FixedOffset::east_opt(8 * 3600).unwrap(), parts, join, &ops)?;
    }
}
