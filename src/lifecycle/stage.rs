//! The stages of the default user-operations lifecycle and the moves between them.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Where a user stands in the default lifecycle (AARRR plus the way back).
///
/// The *progress* stages are ordered: a user only ever moves up them,
/// skipping some when the facts allow (a first purchase converts an acquired
/// user directly). The *idle* stages (`AtRisk`, `Dormant`, `Churned`) are
/// reached by time alone, and `Reactivated` by returning from `Dormant` or
/// `Churned`. [`Stage::can_move_to`] is the whole graph.
///
/// ```text
/// Prospect → Acquired → Activated → Retained → Converted → RepeatBuyer → Loyal
///                  (any progress stage or Reactivated)
///                          ↓ idle
///                        AtRisk ──return──→ the stage it left
///                          ↓ idle
///                        Dormant ──return──→ Reactivated ──path back──→ progress stage
///                          ↓ idle                  ↑
///                        Churned ──return──────────┘
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum Stage {
    /// Known to the host but no event applied yet.
    Prospect,
    /// Signed up (or first seen).
    Acquired,
    /// Did the key action(s) soon enough after sign-up.
    Activated,
    /// Active on enough distinct local days in a recent window.
    Retained,
    /// Paid once.
    Converted,
    /// Paid twice or more.
    RepeatBuyer,
    /// Paid often enough to count as loyal.
    Loyal,
    /// Idle long enough to worry about.
    AtRisk,
    /// Idle long enough to be asleep.
    Dormant,
    /// Idle long enough to be gone.
    Churned,
    /// Came back after being dormant or churned.
    Reactivated,
}

impl Stage {
    /// Every stage, in declaration order.
    pub const ALL: [Stage; 11] = [
        Stage::Prospect,
        Stage::Acquired,
        Stage::Activated,
        Stage::Retained,
        Stage::Converted,
        Stage::RepeatBuyer,
        Stage::Loyal,
        Stage::AtRisk,
        Stage::Dormant,
        Stage::Churned,
        Stage::Reactivated,
    ];

    /// The snake-case name, as in JSON.
    pub const fn name(self) -> &'static str {
        match self {
            Stage::Prospect => "prospect",
            Stage::Acquired => "acquired",
            Stage::Activated => "activated",
            Stage::Retained => "retained",
            Stage::Converted => "converted",
            Stage::RepeatBuyer => "repeat_buyer",
            Stage::Loyal => "loyal",
            Stage::AtRisk => "at_risk",
            Stage::Dormant => "dormant",
            Stage::Churned => "churned",
            Stage::Reactivated => "reactivated",
        }
    }

    /// Whether this is one of the ordered progress stages, `Acquired` to `Loyal`.
    pub const fn is_progress(self) -> bool {
        matches!(
            self,
            Stage::Acquired
                | Stage::Activated
                | Stage::Retained
                | Stage::Converted
                | Stage::RepeatBuyer
                | Stage::Loyal
        )
    }

    /// Whether this is reached by idleness: `AtRisk`, `Dormant` or `Churned`.
    pub const fn is_idle(self) -> bool {
        matches!(self, Stage::AtRisk | Stage::Dormant | Stage::Churned)
    }

    /// Whether the default policy can ever move a user from `self` to `to`.
    ///
    /// ```
    /// use growthkit::lifecycle::Stage;
    /// assert!(Stage::Acquired.can_move_to(Stage::Converted));
    /// assert!(!Stage::Converted.can_move_to(Stage::Activated));
    /// assert!(Stage::Churned.can_move_to(Stage::Reactivated));
    /// ```
    pub fn can_move_to(self, to: Stage) -> bool {
        use Stage::*;
        match self {
            Prospect => to == Acquired,
            s if s.is_progress() => (to.is_progress() && to > s) || to == AtRisk,
            AtRisk => to.is_progress() || to == Dormant || to == Reactivated,
            Dormant => to == Churned || to == Reactivated,
            Churned => to == Reactivated,
            Reactivated => to == AtRisk || (to.is_progress() && to >= Activated),
            _ => false,
        }
    }
}

impl fmt::Display for Stage {
    /// The snake-case name; width and alignment apply (`{:<12}`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_serde() {
        for s in Stage::ALL {
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", s.name())
            );
        }
    }

    #[test]
    fn every_stage_is_reachable_from_prospect() {
        let mut seen = vec![Stage::Prospect];
        let mut i = 0;
        while i < seen.len() {
            for to in Stage::ALL {
                if seen[i].can_move_to(to) && !seen.contains(&to) {
                    seen.push(to);
                }
            }
            i += 1;
        }
        assert_eq!(seen.len(), Stage::ALL.len());
    }
}
