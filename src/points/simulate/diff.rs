//! Two programs on the same log, side by side: what changes, with signs.

use super::report::{SimulationReport, ValidThrough, rule_column_width};
use crate::analytics::Ratio;
use crate::event::Label;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// A figure before and after, and the signed change (`after - before`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default, Serialize, Deserialize)]
pub struct Change {
    /// Under the first program.
    pub before: u64,
    /// Under the second.
    pub after: u64,
    /// `after - before`: positive when the second program gives more.
    pub delta: i128,
}

impl Change {
    /// The change from `before` to `after`.
    pub fn new(before: u64, after: u64) -> Change {
        Change {
            before,
            after,
            delta: i128::from(after) - i128::from(before),
        }
    }
}

impl fmt::Display for Change {
    /// `before → after (+delta)`, with a true minus sign for decreases.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} → {} ({})",
            self.before,
            self.after,
            Signed(self.delta)
        )
    }
}

/// A signed number written with `+` or `−`.
struct Signed(i128);

impl fmt::Display for Signed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "−" } else { "+" };
        f.pad(&format!("{sign}{}", self.0.unsigned_abs()))
    }
}

/// One rule under both programs (a rule only one program has counts 0 in
/// the other).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct RuleChange {
    /// The rule.
    pub rule: Label,
    /// Points issued.
    pub issued: Change,
    /// Awards a cap trimmed or rejected.
    pub capped_awards: Change,
    /// Distinct users with at least one capped award.
    pub users_capped: Change,
}

/// One bonus under both programs (a bonus only one program gives is 0 under
/// the other).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct BonusChange {
    /// The bonus (`streak day 7`).
    pub bonus: Label,
    /// Points issued.
    pub issued: Change,
    /// Distinct users it was credited to.
    pub users_earning: Change,
}

/// One tier's members at `as_of` under both programs.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct TierMembersChange {
    /// The tier.
    pub tier: Label,
    /// Members holding it.
    pub members: Change,
}

/// Outstanding points valid through one month, under both programs.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct LiabilityChange {
    /// The month (or never).
    pub valid_through: ValidThrough,
    /// Points.
    pub points: Change,
}

/// How a second program's simulation differs from a first's
/// ([`diff`]).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct SimulationDiff {
    /// Every rule of either program: the first program's in order, then
    /// the second's new ones.
    pub rules: Vec<RuleChange>,
    /// Every bonus of either simulation, by name.
    #[serde(default)]
    pub bonuses: Vec<BonusChange>,
    /// Every tier of either program: the first's ladder in order, then the
    /// second's new tiers.
    #[serde(default)]
    pub tiers: Vec<TierMembersChange>,
    /// Points issued.
    pub issued: Change,
    /// Points redeemed.
    pub redeemed: Change,
    /// Points expired.
    pub expired: Change,
    /// Points reversed.
    pub reversed: Change,
    /// Points outstanding (the liability).
    pub outstanding: Change,
    /// Breakage under the first program.
    pub breakage_before: Ratio,
    /// Breakage under the second.
    pub breakage_after: Ratio,
    /// Liability by month valid through, months in order, never last.
    pub liability: Vec<LiabilityChange>,
}

impl SimulationDiff {
    /// The change in breakage, in percentage points (`None` if either
    /// program issued nothing).
    pub fn breakage_change(&self) -> Option<f64> {
        Some(self.breakage_after.percent()? - self.breakage_before.percent()?)
    }
}

/// Compares the simulation of a second program (`after`) with a first's
/// (`before`), normally on the same log and `as_of`.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use growthkit::batch::EventLog;
/// use growthkit::points::{ProgramSpec, diff, simulate};
/// use growthkit::{Event, EventId, EventKind, UserId};
///
/// let program = |points: u64| serde_json::from_str::<ProgramSpec>(&format!(r#"{{
///     "rules": [{{ "name": "visit", "on": "visited", "reward": {{ "type": "fixed", "points": {points} }} }}]
/// }}"#)).map_err(|e| e.to_string())?.validate().map_err(|e| e.to_string());
/// let at = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
/// let log: EventLog = (0..3).map(|i| Event::new(EventId(i), UserId(i), at, EventKind::Visited)).collect();
/// let change = diff(&simulate(&program(10)?, &log, at), &simulate(&program(5)?, &log, at));
/// assert_eq!(change.issued.delta, -15);
/// assert_eq!(change.rules[0].issued.to_string(), "30 → 15 (−15)");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn diff(before: &SimulationReport, after: &SimulationReport) -> SimulationDiff {
    let mut rules: Vec<RuleChange> = before
        .rules
        .iter()
        .map(|b| {
            let a = after.rule(b.rule.as_str());
            RuleChange {
                rule: b.rule.clone(),
                issued: Change::new(b.issued, a.map_or(0, |a| a.issued)),
                capped_awards: Change::new(b.capped_awards, a.map_or(0, |a| a.capped_awards)),
                users_capped: Change::new(b.users_capped, a.map_or(0, |a| a.users_capped)),
            }
        })
        .collect();
    rules.extend(
        after
            .rules
            .iter()
            .filter(|a| before.rule(a.rule.as_str()).is_none())
            .map(|a| RuleChange {
                rule: a.rule.clone(),
                issued: Change::new(0, a.issued),
                capped_awards: Change::new(0, a.capped_awards),
                users_capped: Change::new(0, a.users_capped),
            }),
    );
    let mut bonuses: BTreeMap<&Label, [(u64, u64); 2]> = BTreeMap::new();
    for (side, report) in [before, after].into_iter().enumerate() {
        for b in &report.bonuses {
            if let Some(figures) = bonuses.entry(&b.bonus).or_default().get_mut(side) {
                *figures = (b.issued, b.users_earning);
            }
        }
    }
    let members = |r: &SimulationReport, tier: &Label| {
        r.tiers
            .iter()
            .find(|t| t.tier == *tier)
            .map_or(0, |t| t.members)
    };
    let new_tiers = after
        .tiers
        .iter()
        .filter(|a| !before.tiers.iter().any(|b| b.tier == a.tier));
    let tiers = before
        .tiers
        .iter()
        .chain(new_tiers)
        .map(|t| TierMembersChange {
            tier: t.tier.clone(),
            members: Change::new(members(before, &t.tier), members(after, &t.tier)),
        })
        .collect();
    let mut months: BTreeMap<ValidThrough, (u64, u64)> = BTreeMap::new();
    for l in &before.liability {
        months.entry(l.valid_through).or_default().0 = l.points;
    }
    for l in &after.liability {
        months.entry(l.valid_through).or_default().1 = l.points;
    }
    SimulationDiff {
        rules,
        bonuses: bonuses
            .into_iter()
            .map(|(bonus, [(b, bu), (a, au)])| BonusChange {
                bonus: bonus.clone(),
                issued: Change::new(b, a),
                users_earning: Change::new(bu, au),
            })
            .collect(),
        tiers,
        issued: Change::new(before.issued, after.issued),
        redeemed: Change::new(before.redeemed, after.redeemed),
        expired: Change::new(before.expired, after.expired),
        reversed: Change::new(before.reversed, after.reversed),
        outstanding: Change::new(before.outstanding, after.outstanding),
        breakage_before: before.breakage(),
        breakage_after: after.breakage(),
        liability: months
            .into_iter()
            .map(|(valid_through, (b, a))| LiabilityChange {
                valid_through,
                points: Change::new(b, a),
            })
            .collect(),
    }
}

/// A printable comparison: one line per rule, then the totals.
impl fmt::Display for SimulationDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = self.rules.iter().map(|r| &r.rule);
        let width = rule_column_width(names.chain(self.bonuses.iter().map(|b| &b.bonus)));
        writeln!(
            f,
            "{:<width$}  {:>14}  {:>14}  {:>14}  {:>14}",
            "rule", "issued before", "issued after", "change", "users capped ±"
        )?;
        // Bonuses have no caps: their last column is left blank.
        let rules = self
            .rules
            .iter()
            .map(|r| (&r.rule, r.issued, Some(r.users_capped)));
        let bonuses = self.bonuses.iter().map(|b| (&b.bonus, b.issued, None));
        for (name, issued, capped) in rules.chain(bonuses) {
            let capped = capped.map(|c: Change| Signed(c.delta).to_string());
            let line = format!(
                "{:<width$}  {:>14}  {:>14}  {:>14}  {:>14}",
                name.as_str(),
                issued.before,
                issued.after,
                Signed(issued.delta),
                capped.unwrap_or_default()
            );
            writeln!(f, "{}", line.trim_end())?;
        }
        writeln!(f, "issued       {}", self.issued)?;
        writeln!(f, "redeemed     {}", self.redeemed)?;
        writeln!(f, "expired      {}", self.expired)?;
        writeln!(f, "reversed     {}", self.reversed)?;
        writeln!(f, "outstanding  {}", self.outstanding)?;
        let pct = |r: Ratio| {
            r.percent()
                .map_or_else(|| "n/a".to_owned(), |p| format!("{p:.2}%"))
        };
        writeln!(
            f,
            "breakage     {} → {}",
            pct(self.breakage_before),
            pct(self.breakage_after)
        )?;
        for l in &self.liability {
            writeln!(f, "  valid through {:<7}  {}", l.valid_through, l.points)?;
        }
        for t in &self.tiers {
            writeln!(f, "  members in {:<10}  {}", t.tier.as_str(), t.members)?;
        }
        Ok(())
    }
}
