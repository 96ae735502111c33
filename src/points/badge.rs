//! Badges: a [`BadgeCatalogSpec`] as data, validated into a
//! [`BadgeCatalog`] that steps a member's [`Badges`].
//!
//! The rules are documented on [`Badges`], the type a host starts from.

use super::fields::field_readers;
use crate::event::{EventKind, KindPattern, KindSet, Label, ParseKindError};
use crate::store::Versioned;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// A badge catalog as operators write it (JSON-friendly); validate it with
/// [`BadgeCatalogSpec::validate`].
///
/// ```
/// use growthkit::points::BadgeCatalogSpec;
///
/// let spec: BadgeCatalogSpec = serde_json::from_str(r#"{ "badges": [
///     { "name": "helper", "counter": { "type": "events", "on": "reply" },
///       "levels": [ { "name": "bronze", "at": 10 }, { "name": "silver", "at": 5 } ] }
/// ] }"#)?;
/// let err = spec.validate().unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "badge helper: levels[1].at is 5 but must be above the previous level's 10"
/// );
/// // An unknown event kind is refused as the spec is read.
/// let unknown = serde_json::from_str::<BadgeCatalogSpec>(
///     r#"{ "badges": [ { "name": "x", "counter": { "type": "events", "on": "answer" },
///                        "levels": [ { "at": 1 } ] } ] }"#,
/// );
/// assert!(unknown.unwrap_err().to_string().contains("`answer` is not an event kind"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BadgeCatalogSpec {
    /// The badges, names unique.
    #[serde(deserialize_with = "badges_field")]
    pub badges: Vec<BadgeSpec>,
}

// Each field of a `BadgeCatalogSpec` names itself when its value is refused.
field_readers! {
    fn badges_field = numbered("badges");
}

/// One badge: a counter and the levels it earns.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BadgeSpec {
    /// Unique within the catalog, and not blank; a member's progress is keyed by it.
    #[serde(deserialize_with = "name_field")]
    pub name: Label,
    /// What it counts.
    #[serde(deserialize_with = "counter_field")]
    pub counter: BadgeCounter,
    /// One level for a one-time badge; bronze, silver, gold… for a levelled
    /// one, thresholds strictly increasing.
    #[serde(deserialize_with = "levels_field")]
    pub levels: Vec<BadgeLevel>,
}

// Each field of a `BadgeSpec` names itself when its value is refused.
field_readers! {
    fn name_field = named("name");
    fn counter_field = named("counter");
    fn levels_field = numbered("levels");
}

/// What a badge counts.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
// A variant without fields is `{}`, not a unit variant: serde lets a unit
// variant of a tagged enum take stray fields (serde-rs/serde#2123).
pub enum BadgeCounter {
    /// Events whose kind matches (`"action_completed:lesson"`).
    Events {
        /// Which events.
        on: KindPattern,
    },
    /// The longest check-in streak reached, in days. In a
    /// [`ProgramSpec`](super::ProgramSpec), only with a `streak` section
    /// (which reports the streaks): without one validation refuses it.
    Streak {},
    /// Points earned (awards, whatever is later spent).
    Points {},
}

/// One level of a badge.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BadgeLevel {
    /// A display name (`"gold"`), not blank if given; optional for one-time badges.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "level_name_field"
    )]
    pub name: Option<Label>,
    /// The counter value that earns it; at least 1.
    #[serde(deserialize_with = "level_at_field")]
    pub at: u64,
    /// Points granted on earning it (0: none).
    #[serde(default, deserialize_with = "level_points_field")]
    pub points: u64,
}

// Each field of a `BadgeLevel` names itself when its value is refused.
field_readers! {
    fn level_name_field = named("name");
    fn level_at_field = named("at");
    fn level_points_field = named("points");
}

/// What is wrong with a catalog spec, or why a badge step failed (the
/// badges are then unchanged).
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BadgeError {
    /// The catalog has no badges.
    #[error("badges is empty: a catalog needs at least one badge")]
    NoBadges,
    /// A badge without a name (empty, or only spaces): grants and bonuses
    /// name their badge, and could not tell it apart.
    #[error("badges[{index}]: name is blank but must name the badge")]
    BlankName {
        /// The badge's position in `badges`, from 0.
        index: usize,
    },
    /// A level named with a blank name: give it a name or none.
    #[error("badge {badge}: levels[{index}].name is blank; name the level or leave the name out")]
    BlankLevelName {
        /// The badge.
        badge: Label,
        /// The level's position in the list.
        index: usize,
    },
    /// Two badges share a name.
    #[error("badge {badge}: the name is used by another badge")]
    DuplicateBadge {
        /// The repeated name.
        badge: Label,
    },
    /// An event counter's `on` that its own text form cannot express (a
    /// name on a kind that carries none, or an empty name:
    /// [`KindPattern::check`]), so the catalog would not read back from its
    /// JSON.
    #[error("badge {badge}: counter.on is not a valid event pattern: {error}")]
    InvalidPattern {
        /// The badge.
        badge: Label,
        /// What is wrong with the pattern, as reading its text reports it.
        error: ParseKindError,
    },
    /// A badge without levels.
    #[error("badge {badge}: levels is empty: a badge needs at least one level")]
    NoLevels {
        /// The badge.
        badge: Label,
    },
    /// A level at 0, earned before anything happened.
    #[error("badge {badge}: levels[{index}].at is 0 but must be at least 1")]
    ZeroLevel {
        /// The badge.
        badge: Label,
        /// The level's position in the list.
        index: usize,
    },
    /// A level's threshold not above the previous one's.
    #[error(
        "badge {badge}: levels[{index}].at is {at} but must be above the previous level's {previous}"
    )]
    NotIncreasing {
        /// The badge.
        badge: Label,
        /// The level's position in the list.
        index: usize,
        /// Its threshold.
        at: u64,
        /// The previous level's threshold.
        previous: u64,
    },
    /// Two levels of one badge share a name.
    #[error("badge {badge}: level name {level} is used by another level")]
    DuplicateLevel {
        /// The badge.
        badge: Label,
        /// The repeated level name.
        level: Label,
    },
    /// A counter, sum or version would overflow.
    #[error("arithmetic overflow in badge {badge}")]
    Overflow {
        /// The badge whose counter would overflow (for the version, the
        /// first badge the step changed).
        badge: Label,
    },
}

impl BadgeCatalogSpec {
    /// Checks every badge: names unique, an event counter's `on` a pattern
    /// its text form can express ([`KindPattern::check`], so the catalog
    /// reads back from its JSON), at least one level, thresholds at least 1
    /// and strictly increasing, level names unique. (An unknown event kind
    /// in `on` is refused when the spec is read.)
    pub fn validate(self) -> Result<BadgeCatalog, BadgeError> {
        use BadgeError::*;
        if self.badges.is_empty() {
            return Err(NoBadges);
        }
        let mut names = BTreeSet::new();
        let mut patterns = Vec::new();
        for (index, b) in self.badges.iter().enumerate() {
            let badge = || b.name.clone();
            if b.name.is_blank() {
                return Err(BlankName { index });
            }
            if !names.insert(b.name.as_str()) {
                return Err(DuplicateBadge { badge: badge() });
            }
            if let BadgeCounter::Events { on } = &b.counter {
                on.check().map_err(|error| InvalidPattern {
                    badge: badge(),
                    error,
                })?;
            }
            if b.levels.is_empty() {
                return Err(NoLevels { badge: badge() });
            }
            let mut previous: Option<u64> = None;
            let mut level_names = BTreeSet::new();
            for (index, level) in b.levels.iter().enumerate() {
                if level.at == 0 {
                    return Err(ZeroLevel {
                        badge: badge(),
                        index,
                    });
                }
                if let Some(previous) = previous
                    && level.at <= previous
                {
                    return Err(NotIncreasing {
                        badge: badge(),
                        index,
                        at: level.at,
                        previous,
                    });
                }
                previous = Some(level.at);
                if level.name.as_ref().is_some_and(|n| n.is_blank()) {
                    return Err(BlankLevelName {
                        badge: badge(),
                        index,
                    });
                }
                if let Some(name) = &level.name
                    && !level_names.insert(name.as_str())
                {
                    return Err(DuplicateLevel {
                        badge: badge(),
                        level: name.clone(),
                    });
                }
            }
            if let BadgeCounter::Events { on } = &b.counter {
                patterns.push(on.clone());
            }
        }
        let counted = KindSet::new(&patterns);
        Ok(BadgeCatalog {
            spec: self,
            counted,
        })
    }
}

impl TryFrom<BadgeCatalogSpec> for BadgeCatalog {
    type Error = BadgeError;
    fn try_from(spec: BadgeCatalogSpec) -> Result<Self, BadgeError> {
        spec.validate()
    }
}

/// A validated [`BadgeCatalogSpec`]: the steps that move a member's
/// [`Badges`].
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct BadgeCatalog {
    spec: BadgeCatalogSpec,
    /// Every event pattern some badge counts, so an event no badge counts is
    /// turned away with a mask test.
    counted: KindSet,
}

/// A level a member holds.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct EarnedLevel {
    /// The level, from 1 (the first in the spec).
    pub level: u32,
    /// When it was earned.
    pub at: DateTime<Utc>,
    /// The points it granted, so a revocation reverses exactly these even
    /// if the catalog has changed since.
    pub points: u64,
}

/// One badge's progress for one member.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Default, Serialize, Deserialize)]
pub struct BadgeProgress {
    /// The counter.
    pub count: u64,
    /// The levels held, lowest first (always the first `earned.len()`
    /// levels of the badge).
    pub earned: Vec<EarnedLevel>,
}

/// A member's badges: plain serde data with a [`version`](Badges::version).
///
/// # Rules
///
/// - **Counters**: each badge counts for itself: events of a kind
///   ([`BadgeCatalog::record_event`]), points earned
///   ([`BadgeCatalog::record_points`]), or the longest check-in streak
///   ([`BadgeCatalog::record_streak`]).
/// - **Levels** are earned in order as soon as the counter reaches their
///   threshold (several at once if a step jumps over them), each granting
///   its points, which the outcome returns for the ledger to credit.
/// - **Retractions** ([`BadgeCatalog::retract_event`],
///   [`BadgeCatalog::retract_points`]) count down (never below 0); a level
///   whose threshold is no longer met is revoked with the reason, and the
///   outcome returns the points it had granted, for the ledger to reverse.
///   A level earned again later grants its points again. A streak reached
///   stays reached: streak badges are never revoked.
/// - **No dedupe here**: call each step once per fresh event;
///   [`Program::apply`](super::Program::apply) is where redelivered events
///   are dropped.
///
/// # Example
///
/// ```
/// use chrono::{TimeDelta, TimeZone, Utc};
/// use growthkit::points::{BadgeCatalogSpec, Badges};
/// use growthkit::EventKind;
///
/// let catalog = serde_json::from_str::<BadgeCatalogSpec>(r#"{ "badges": [
///     { "name": "scholar", "counter": { "type": "events", "on": "action_completed:lesson" },
///       "levels": [ { "name": "bronze", "at": 2, "points": 20 },
///                   { "name": "silver", "at": 3, "points": 50 } ] },
///     { "name": "devoted", "counter": { "type": "streak" },
///       "levels": [ { "at": 7, "points": 100 } ] }
/// ] }"#)?.validate()?;
///
/// let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap();
/// let lesson = EventKind::ActionCompleted { action: "lesson".into() };
/// let mut badges = Badges::new();
/// catalog.record_event(&mut badges, &lesson, t0)?;
/// let step = catalog.record_event(&mut badges, &lesson, t0 + TimeDelta::hours(1))?;
/// assert_eq!(step.granted[0].to_string(), "scholar bronze (level 1): 2 reached 2, +20 points");
/// assert_eq!(step.points, 20);
///
/// // A reversed lesson takes the level back, with the points to reverse.
/// let step = catalog.retract_event(&mut badges, &lesson, t0, "lesson voided")?;
/// assert_eq!(step.revoked[0].to_string(),
///            "scholar bronze (level 1) revoked (lesson voided): 1 is below 2, -20 points");
/// assert_eq!(badges.level("scholar"), 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct Badges {
    version: u64,
    progress: BTreeMap<Label, BadgeProgress>,
}

impl Versioned for Badges {
    fn version(&self) -> u64 {
        self.version
    }
}

impl Badges {
    /// No progress yet, version 0.
    pub fn new() -> Badges {
        Badges::default()
    }

    /// Bumped by every successful change.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// One badge's progress, if it has any.
    pub fn progress(&self, badge: &str) -> Option<&BadgeProgress> {
        self.progress.get(badge)
    }

    /// The highest level held of a badge (0: none).
    pub fn level(&self, badge: &str) -> u32 {
        self.progress(badge)
            .and_then(|p| p.earned.last())
            .map_or(0, |e| e.level)
    }

    /// Every badge with progress, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&Label, &BadgeProgress)> {
        self.progress.iter()
    }
}

/// A level earned by a step.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct BadgeGrant {
    /// The badge.
    pub badge: Label,
    /// The level, from 1.
    pub level: u32,
    /// The level's name, if it has one.
    pub level_name: Option<Label>,
    /// The counter after the step.
    pub count: u64,
    /// The level's threshold.
    pub threshold: u64,
    /// Points granted, for the ledger to credit.
    pub points: u64,
}

impl fmt::Display for BadgeGrant {
    /// `scholar silver (level 2): 50 reached 50, +100 points`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_level(f, &self.badge, self.level_name.as_ref(), self.level)?;
        write!(f, ": {} reached {}", self.count, self.threshold)?;
        if self.points > 0 {
            write!(f, ", +{} points", self.points)?;
        }
        Ok(())
    }
}

/// A level revoked by a retraction.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct BadgeRevocation {
    /// The badge.
    pub badge: Label,
    /// The level, from 1.
    pub level: u32,
    /// The level's name, if it has one.
    pub level_name: Option<Label>,
    /// The counter after the retraction.
    pub count: u64,
    /// The level's threshold.
    pub threshold: u64,
    /// The points the level had granted, for the ledger to reverse.
    pub points: u64,
    /// When the level had been earned.
    pub earned_at: DateTime<Utc>,
    /// The retraction's reason.
    pub reason: Label,
}

impl fmt::Display for BadgeRevocation {
    /// `scholar silver (level 2) revoked (refund): 49 is below 50, -100 points`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_level(f, &self.badge, self.level_name.as_ref(), self.level)?;
        write!(
            f,
            " revoked ({}): {} is below {}",
            self.reason, self.count, self.threshold
        )?;
        if self.points > 0 {
            write!(f, ", -{} points", self.points)?;
        }
        Ok(())
    }
}

fn write_level(
    f: &mut fmt::Formatter<'_>,
    badge: &Label,
    name: Option<&Label>,
    level: u32,
) -> fmt::Result {
    match name {
        Some(name) => write!(f, "{badge} {name} (level {level})"),
        None => write!(f, "{badge} (level {level})"),
    }
}

/// What a badge step did.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Default, Serialize, Deserialize)]
pub struct BadgeOutcome {
    /// Levels earned, by badge in catalog order, lowest level first.
    pub granted: Vec<BadgeGrant>,
    /// Levels revoked, by badge in catalog order, highest level first.
    pub revoked: Vec<BadgeRevocation>,
    /// Points the grants carry, for the ledger to credit.
    pub points: u64,
    /// Points the revoked levels had granted, for the ledger to reverse.
    pub points_revoked: u64,
}

impl BadgeCatalog {
    /// The spec it was built from.
    pub fn spec(&self) -> &BadgeCatalogSpec {
        &self.spec
    }

    /// The badge named `name`.
    pub fn badge(&self, name: &str) -> Option<&BadgeSpec> {
        self.spec.badges.iter().find(|b| b.name.as_str() == name)
    }

    /// Whether counting more into `badges` (an event, points up to `room`,
    /// a streak length) is sure to succeed and to revoke nothing: every
    /// count at most `room`, the version three short of its maximum (an
    /// event, its points and a streak length each step it once), and no
    /// badge holding a level its count does not reach (which only a
    /// catalog whose thresholds were raised leaves). A count that only
    /// grows cannot revoke a level its count reaches.
    pub(crate) fn counts_safely(&self, badges: &Badges, room: u64) -> bool {
        badges.version <= u64::MAX - 3
            && self.spec.badges.iter().all(|badge| {
                badges.progress.get(&badge.name).is_none_or(|p| {
                    p.count <= room
                        && p.earned.len() <= badge.levels.partition_point(|l| l.at <= p.count)
                })
            })
    }

    /// Counts one event of `kind` at `at` for every badge that counts it.
    pub fn record_event(
        &self,
        badges: &mut Badges,
        kind: &EventKind,
        at: DateTime<Utc>,
    ) -> Result<BadgeOutcome, BadgeError> {
        if !self.counted.matches(kind) {
            return Ok(BadgeOutcome::default());
        }
        self.step(badges, at, None, |counter, count| match counter {
            BadgeCounter::Events { on } if on.matches(kind) => Some(count.checked_add(1)),
            _ => None,
        })
    }

    /// Whether an event of `kind` counts toward some event badge.
    pub(crate) fn counts_event(&self, kind: &EventKind) -> bool {
        self.counted.matches(kind)
    }

    /// Adds `points` earned at `at` to every points badge.
    pub fn record_points(
        &self,
        badges: &mut Badges,
        points: u64,
        at: DateTime<Utc>,
    ) -> Result<BadgeOutcome, BadgeError> {
        self.step(badges, at, None, |counter, count| match counter {
            BadgeCounter::Points {} => Some(count.checked_add(points)),
            _ => None,
        })
    }

    /// Reports a check-in streak of `length` days at `at`: streak badges
    /// count the longest length reported.
    pub fn record_streak(
        &self,
        badges: &mut Badges,
        length: u32,
        at: DateTime<Utc>,
    ) -> Result<BadgeOutcome, BadgeError> {
        self.step(badges, at, None, |counter, count| match counter {
            BadgeCounter::Streak {} => Some(Some(count.max(u64::from(length)))),
            _ => None,
        })
    }

    /// Takes back one event of `kind` (a reversed action) from every badge
    /// that counted it, revoking levels no longer met with `reason`.
    pub fn retract_event(
        &self,
        badges: &mut Badges,
        kind: &EventKind,
        at: DateTime<Utc>,
        reason: impl Into<Label>,
    ) -> Result<BadgeOutcome, BadgeError> {
        if !self.counted.matches(kind) {
            return Ok(BadgeOutcome::default());
        }
        let reason = reason.into();
        self.step(badges, at, Some(&reason), |counter, count| match counter {
            BadgeCounter::Events { on } if on.matches(kind) => Some(Some(count.saturating_sub(1))),
            _ => None,
        })
    }

    /// Takes back `points` (a reversed award) from every points badge,
    /// revoking levels no longer met with `reason`.
    pub fn retract_points(
        &self,
        badges: &mut Badges,
        points: u64,
        at: DateTime<Utc>,
        reason: impl Into<Label>,
    ) -> Result<BadgeOutcome, BadgeError> {
        let reason = reason.into();
        self.step(badges, at, Some(&reason), |counter, count| match counter {
            BadgeCounter::Points {} => Some(Some(count.saturating_sub(points))),
            _ => None,
        })
    }

    /// Moves every badge whose counter `next` changes: `next` returns
    /// `None` for a badge the step does not touch, `Some(None)` on overflow,
    /// else the new count. Computes everything first, then commits.
    fn step(
        &self,
        badges: &mut Badges,
        at: DateTime<Utc>,
        reason: Option<&Label>,
        next: impl Fn(&BadgeCounter, u64) -> Option<Option<u64>>,
    ) -> Result<BadgeOutcome, BadgeError> {
        let mut outcome = BadgeOutcome::default();
        let mut updates = Vec::new();
        for badge in &self.spec.badges {
            let old = badges.progress.get(&badge.name);
            let count = old.map_or(0, |p| p.count);
            let Some(new_count) = next(&badge.counter, count) else {
                continue;
            };
            let overflow = || BadgeError::Overflow {
                badge: badge.name.clone(),
            };
            let new_count = new_count.ok_or_else(overflow)?;
            if new_count == count {
                continue;
            }
            let mut progress = old.cloned().unwrap_or_default();
            progress.count = new_count;
            // Levels held are a prefix of the badge's levels: grant the next
            // ones reached, or revoke from the top those no longer met.
            let reached = badge.levels.partition_point(|l| l.at <= new_count);
            while progress.earned.len() > reached {
                let Some(lost) = progress.earned.pop() else {
                    break;
                };
                let level = level_at(badge, lost.level);
                outcome.points_revoked = outcome
                    .points_revoked
                    .checked_add(lost.points)
                    .ok_or_else(overflow)?;
                outcome.revoked.push(BadgeRevocation {
                    badge: badge.name.clone(),
                    level: lost.level,
                    level_name: level.and_then(|l| l.name.clone()),
                    count: new_count,
                    threshold: level.map_or(0, |l| l.at),
                    points: lost.points,
                    earned_at: lost.at,
                    // Only a catalog whose thresholds were raised since the
                    // level was earned revokes outside a retraction.
                    reason: reason
                        .cloned()
                        .unwrap_or_else(|| Label::from("the level's threshold was raised")),
                });
            }
            while progress.earned.len() < reached {
                let index = progress.earned.len();
                let Some(level) = badge.levels.get(index) else {
                    break;
                };
                let number = u32::try_from(index + 1).map_err(|_| overflow())?;
                outcome.points = outcome
                    .points
                    .checked_add(level.points)
                    .ok_or_else(overflow)?;
                outcome.granted.push(BadgeGrant {
                    badge: badge.name.clone(),
                    level: number,
                    level_name: level.name.clone(),
                    count: new_count,
                    threshold: level.at,
                    points: level.points,
                });
                progress.earned.push(EarnedLevel {
                    level: number,
                    at,
                    points: level.points,
                });
            }
            updates.push((badge.name.clone(), progress));
        }
        let Some((first, _)) = updates.first() else {
            return Ok(outcome);
        };
        badges.version = badges
            .version
            .checked_add(1)
            .ok_or_else(|| BadgeError::Overflow {
                badge: first.clone(),
            })?;
        for (name, progress) in updates {
            badges.progress.insert(name, progress);
        }
        Ok(outcome)
    }
}

/// The spec of level `number` (from 1) of `badge`.
fn level_at(badge: &BadgeSpec, number: u32) -> Option<&BadgeLevel> {
    let index = usize::try_from(number).ok()?.checked_sub(1)?;
    badge.levels.get(index)
}

#[cfg(test)]
mod tests;
