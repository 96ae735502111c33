//! The default user-operations policy: its thresholds as data, and their validation.

use crate::dedupe::DedupeWindow;
use crate::event::{KindPattern, KindSet, ParseKindError};
use crate::time::UtcOffset;
use chrono::{FixedOffset, TimeZone};
use serde::{Deserialize, Serialize};

/// The widest retention window, in days: active days are kept as a 64-bit map.
pub const MAX_RETENTION_WINDOW_DAYS: u16 = 64;

/// The thresholds of the default lifecycle, as operators write them.
///
/// Deserialize it from JSON, then [`PolicySpec::validate`] it into a
/// [`LifecyclePolicy`] before use. Every field has a default, so `{}` is the
/// default policy. A value the JSON reader refuses (a negative, fractional
/// or too large number, a wrong type, an unknown field, a pattern that is
/// no event kind) names its field: ``field `idle`: field `dormant_days`:
/// invalid value: integer `-3`, expected u16``, ``activity[1]: ...``.
///
/// ```
/// use growthkit::lifecycle::PolicySpec;
///
/// let spec: PolicySpec = serde_json::from_str(r#"{
///     "utc_offset": "+08:00",
///     "activation": { "key_actions": ["action_completed:lesson"], "required": 2, "within_days": 7 },
///     "retention": { "active_days": 3, "window_days": 14 },
///     "idle": { "at_risk_days": 7, "dormant_days": 30, "churned_days": 90 }
/// }"#).unwrap();
/// let policy = spec.validate().unwrap();
/// assert_eq!(policy.spec().activation.required, 2);
///
/// let mut bad = PolicySpec::default();
/// bad.idle.dormant_days = 3; // before at-risk (7)
/// let err = bad.validate().unwrap_err();
/// assert_eq!(err.to_string(), "idle.dormant_days is 3 but must be greater than idle.at_risk_days (7)");
/// ```
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicySpec {
    /// The calendar that "days" are counted in (`"+08:00"`). Hosts that need
    /// an IANA zone use [`PolicySpec::validate_in`] instead.
    #[serde(deserialize_with = "utc_offset_field")]
    pub utc_offset: UtcOffset,
    /// Which events count as activity (active days, idleness). Default: every event.
    #[serde(deserialize_with = "activity_field")]
    pub activity: Vec<KindPattern>,
    /// When an acquired user counts as activated.
    #[serde(deserialize_with = "activation_field")]
    pub activation: Activation,
    /// When an activated user counts as retained.
    #[serde(deserialize_with = "retention_field")]
    pub retention: RetentionRule,
    /// How many payments make a loyal customer (the second makes a repeat buyer).
    #[serde(deserialize_with = "loyal_payments_field")]
    pub loyal_payments: u32,
    /// Idle thresholds.
    #[serde(deserialize_with = "idle_field")]
    pub idle: Idle,
    /// How many transitions each user's history keeps (the oldest are
    /// dropped first). A lowered limit shortens a history at its next move.
    #[serde(deserialize_with = "history_limit_field")]
    pub history_limit: u16,
    /// How long event ids are remembered to drop redeliveries.
    #[serde(deserialize_with = "dedupe_field")]
    pub dedupe: DedupeWindow,
}

/// Activation: `required` key actions on local days `0..within_days` after
/// the acquisition day (day 0 is that day itself): the sign-up's day, or
/// the day of an earlier event if the host feeds events from before the
/// sign-up (see [`Lifecycle::acquired_at`](super::Lifecycle::acquired_at)).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Activation {
    /// The events that count as key actions.
    #[serde(deserialize_with = "key_actions_field")]
    pub key_actions: Vec<KindPattern>,
    /// How many key actions it takes.
    #[serde(deserialize_with = "required_field")]
    pub required: u32,
    /// The window, in local days counted from the acquisition day.
    #[serde(deserialize_with = "within_days_field")]
    pub within_days: u16,
}

/// RetentionRule: active on at least `active_days` distinct local days among the
/// last `window_days` local days (today included).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionRule {
    /// Distinct active days needed.
    #[serde(deserialize_with = "active_days_field")]
    pub active_days: u16,
    /// The window, in local days ending today; at most 64.
    #[serde(deserialize_with = "window_days_field")]
    pub window_days: u16,
}

/// Idle thresholds, in whole days (24-hour periods) since the last activity.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Idle {
    /// Idle this long: at risk.
    #[serde(deserialize_with = "at_risk_days_field")]
    pub at_risk_days: u16,
    /// Idle this long: dormant.
    #[serde(deserialize_with = "dormant_days_field")]
    pub dormant_days: u16,
    /// Idle this long: churned.
    #[serde(deserialize_with = "churned_days_field")]
    pub churned_days: u16,
}

// Each field names itself when the JSON reader refuses its value
// (`field `idle`: field `dormant_days`: invalid value: ...`, `activity[1]:
// ...`), as the points specs' fields do.
crate::points::fields::field_readers! {
    fn utc_offset_field = named("utc_offset");
    fn activity_field = numbered("activity");
    fn activation_field = named("activation");
    fn retention_field = named("retention");
    fn loyal_payments_field = named("loyal_payments");
    fn idle_field = named("idle");
    fn history_limit_field = named("history_limit");
    fn dedupe_field = named("dedupe");
    fn key_actions_field = numbered("key_actions");
    fn required_field = named("required");
    fn within_days_field = named("within_days");
    fn active_days_field = named("active_days");
    fn window_days_field = named("window_days");
    fn at_risk_days_field = named("at_risk_days");
    fn dormant_days_field = named("dormant_days");
    fn churned_days_field = named("churned_days");
}

impl Default for PolicySpec {
    fn default() -> Self {
        PolicySpec {
            utc_offset: UtcOffset::UTC,
            activity: vec![KindPattern::Any],
            activation: Activation::default(),
            retention: RetentionRule::default(),
            loyal_payments: 5,
            idle: Idle::default(),
            history_limit: 64,
            dedupe: DedupeWindow::default(),
        }
    }
}

impl Default for Activation {
    fn default() -> Self {
        Activation {
            key_actions: vec![KindPattern::Kind(crate::event::KindTag::ActionCompleted)],
            required: 1,
            within_days: 7,
        }
    }
}

impl Default for RetentionRule {
    fn default() -> Self {
        RetentionRule {
            active_days: 3,
            window_days: 14,
        }
    }
}

impl Default for Idle {
    fn default() -> Self {
        Idle {
            at_risk_days: 7,
            dormant_days: 30,
            churned_days: 90,
        }
    }
}

/// What is wrong with a [`PolicySpec`]: the field and why.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// A number that must be positive is zero.
    #[error("{field} is 0 but must be at least 1")]
    Zero {
        /// The field, as a path (`retention.window_days`).
        field: &'static str,
    },
    /// A pattern list that must name something is empty.
    #[error("{field} is empty: list at least one event kind (\"*\" for every event)")]
    NoPatterns {
        /// The field.
        field: &'static str,
    },
    /// A pattern that its own text form cannot express (a name on a kind
    /// that carries none, or an empty name: [`KindPattern::check`]), so the
    /// spec would not read back from its JSON.
    #[error("{field}[{index}] is not a valid event pattern: {error}")]
    InvalidPattern {
        /// The list: `activity` or `activation.key_actions`.
        field: &'static str,
        /// The pattern's position in it, from 0.
        index: usize,
        /// What is wrong with the pattern, as reading its text reports it.
        error: ParseKindError,
    },
    /// Two thresholds are in the wrong order.
    #[error("{field} is {value} but must be greater than {other} ({other_value})")]
    NotIncreasing {
        /// The field that is too small.
        field: &'static str,
        /// Its value.
        value: u32,
        /// The field it must exceed.
        other: &'static str,
        /// That field's value.
        other_value: u32,
    },
    /// A value is larger than the policy supports.
    #[error("{field} is {value} but can be at most {max}")]
    TooLarge {
        /// The field.
        field: &'static str,
        /// Its value.
        value: u32,
        /// The largest value allowed.
        max: u32,
    },
}

impl PolicySpec {
    /// Checks every threshold and compiles the policy in its configured
    /// [`utc_offset`](Self::utc_offset). Every pattern in `activity` and
    /// `activation.key_actions` must pass [`KindPattern::check`]
    /// ([`PolicyError::InvalidPattern`] names the first that does not), so
    /// a spec that validates also reads back from its JSON.
    pub fn validate(self) -> Result<LifecyclePolicy<FixedOffset>, PolicyError> {
        let zone = self.utc_offset.zone();
        self.validate_in(zone)
    }

    /// Checks every threshold and compiles the policy to count days in `zone`
    /// (an IANA zone from `chrono-tz`, say); `utc_offset` is then unused.
    pub fn validate_in<Tz: TimeZone>(self, zone: Tz) -> Result<LifecyclePolicy<Tz>, PolicyError> {
        self.check()?;
        Ok(LifecyclePolicy {
            activity: KindSet::new(&self.activity),
            key_actions: KindSet::new(&self.activation.key_actions),
            at_risk_ms: days_ms(self.idle.at_risk_days),
            dormant_ms: days_ms(self.idle.dormant_days),
            churned_ms: days_ms(self.idle.churned_days),
            zone,
            spec: self,
        })
    }

    fn check(&self) -> Result<(), PolicyError> {
        use PolicyError::*;
        let nonzero = |field, value: u32| {
            if value == 0 {
                Err(Zero { field })
            } else {
                Ok(())
            }
        };
        let increasing = |field, value: u32, other, other_value: u32| {
            if value > other_value {
                Ok(())
            } else {
                Err(NotIncreasing {
                    field,
                    value,
                    other,
                    other_value,
                })
            }
        };
        if self.activity.is_empty() {
            return Err(NoPatterns { field: "activity" });
        }
        if self.activation.key_actions.is_empty() {
            return Err(NoPatterns {
                field: "activation.key_actions",
            });
        }
        for (field, patterns) in [
            ("activity", &self.activity),
            ("activation.key_actions", &self.activation.key_actions),
        ] {
            for (index, pattern) in patterns.iter().enumerate() {
                pattern.check().map_err(|error| InvalidPattern {
                    field,
                    index,
                    error,
                })?;
            }
        }
        nonzero("activation.required", self.activation.required)?;
        nonzero("activation.within_days", self.activation.within_days.into())?;
        let r = self.retention;
        nonzero("retention.active_days", r.active_days.into())?;
        nonzero("retention.window_days", r.window_days.into())?;
        if r.window_days > MAX_RETENTION_WINDOW_DAYS {
            return Err(TooLarge {
                field: "retention.window_days",
                value: r.window_days.into(),
                max: MAX_RETENTION_WINDOW_DAYS.into(),
            });
        }
        if r.active_days > r.window_days {
            return Err(TooLarge {
                field: "retention.active_days",
                value: r.active_days.into(),
                max: r.window_days.into(),
            });
        }
        increasing(
            "loyal_payments",
            self.loyal_payments,
            "the repeat-buyer threshold",
            2,
        )?;
        let i = self.idle;
        nonzero("idle.at_risk_days", i.at_risk_days.into())?;
        increasing(
            "idle.dormant_days",
            i.dormant_days.into(),
            "idle.at_risk_days",
            i.at_risk_days.into(),
        )?;
        increasing(
            "idle.churned_days",
            i.churned_days.into(),
            "idle.dormant_days",
            i.dormant_days.into(),
        )?;
        nonzero("history_limit", self.history_limit.into())?;
        if let Some(field) = self.dedupe.zero_field() {
            return Err(Zero { field });
        }
        Ok(())
    }
}

fn days_ms(days: u16) -> i64 {
    i64::from(days) * 86_400_000
}

impl TryFrom<PolicySpec> for LifecyclePolicy<FixedOffset> {
    type Error = PolicyError;
    fn try_from(spec: PolicySpec) -> Result<Self, PolicyError> {
        spec.validate()
    }
}

/// A validated [`PolicySpec`], compiled for stepping, counting days in `Tz`.
///
/// It is the step function of the default lifecycle: see
/// [`LifecyclePolicy::apply`] and [`LifecyclePolicy::tick`].
#[derive(Clone, Debug)]
pub struct LifecyclePolicy<Tz: TimeZone = FixedOffset> {
    pub(super) spec: PolicySpec,
    pub(super) zone: Tz,
    pub(super) activity: KindSet,
    pub(super) key_actions: KindSet,
    pub(super) at_risk_ms: i64,
    pub(super) dormant_ms: i64,
    pub(super) churned_ms: i64,
}

impl<Tz: TimeZone> LifecyclePolicy<Tz> {
    /// The thresholds it was built from.
    pub fn spec(&self) -> &PolicySpec {
        &self.spec
    }

    /// The zone its days are counted in.
    pub fn zone(&self) -> &Tz {
        &self.zone
    }
}

impl Default for LifecyclePolicy<FixedOffset> {
    fn default() -> Self {
        // The default spec is checked by a unit test to be valid.
        match PolicySpec::default().validate() {
            Ok(policy) => policy,
            Err(e) => unreachable!("the default policy is valid: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bad(edit: impl FnOnce(&mut PolicySpec)) -> PolicyError {
        let mut spec = PolicySpec::default();
        edit(&mut spec);
        spec.validate().unwrap_err()
    }

    #[test]
    fn default_is_valid_and_empty_json_is_default() {
        PolicySpec::default().validate().unwrap();
        let spec: PolicySpec = serde_json::from_str("{}").unwrap();
        assert_eq!(spec, PolicySpec::default());
        let json = serde_json::to_string(&spec).unwrap();
        assert_eq!(serde_json::from_str::<PolicySpec>(&json).unwrap(), spec);
    }

    #[test]
    fn every_threshold_is_checked() {
        assert_eq!(
            bad(|s| s.activity.clear()),
            PolicyError::NoPatterns { field: "activity" }
        );
        assert_eq!(
            bad(|s| s.activation.key_actions.clear()),
            PolicyError::NoPatterns {
                field: "activation.key_actions"
            }
        );
        assert_eq!(
            bad(|s| s.activation.required = 0),
            PolicyError::Zero {
                field: "activation.required"
            }
        );
        assert_eq!(
            bad(|s| s.activation.within_days = 0),
            PolicyError::Zero {
                field: "activation.within_days"
            }
        );
        assert_eq!(
            bad(|s| s.retention.window_days = 65),
            PolicyError::TooLarge {
                field: "retention.window_days",
                value: 65,
                max: 64
            }
        );
        assert_eq!(
            bad(|s| s.retention.active_days = 15),
            PolicyError::TooLarge {
                field: "retention.active_days",
                value: 15,
                max: 14
            }
        );
        assert!(matches!(
            bad(|s| s.loyal_payments = 2),
            PolicyError::NotIncreasing {
                field: "loyal_payments",
                ..
            }
        ));
        assert!(matches!(
            bad(|s| s.idle.churned_days = 30),
            PolicyError::NotIncreasing {
                field: "idle.churned_days",
                ..
            }
        ));
        assert_eq!(
            bad(|s| s.idle.at_risk_days = 0),
            PolicyError::Zero {
                field: "idle.at_risk_days"
            }
        );
        assert_eq!(
            bad(|s| s.history_limit = 0),
            PolicyError::Zero {
                field: "history_limit"
            }
        );
        assert_eq!(
            bad(|s| s.dedupe.max_ids = 0),
            PolicyError::Zero {
                field: "dedupe.max_ids"
            }
        );
    }

    #[test]
    fn patterns_their_text_cannot_express_are_refused_by_field_and_position() {
        use crate::event::KindTag;
        // Built in code, each spec would write JSON that does not read back;
        // validation refuses it as the reader would.
        let refused = |edit: &dyn Fn(&mut PolicySpec)| {
            let mut s = PolicySpec::default();
            edit(&mut s);
            let json = serde_json::to_string(&s).unwrap();
            assert!(serde_json::from_str::<PolicySpec>(&json).is_err(), "{json}");
            s.validate().unwrap_err()
        };
        let err = refused(&|s| {
            s.activity = vec![
                KindPattern::Any,
                KindPattern::Named(KindTag::Visited, "home".into()),
            ]
        });
        assert_eq!(
            err,
            PolicyError::InvalidPattern {
                field: "activity",
                index: 1,
                error: ParseKindError::NameNotAllowed {
                    kind: KindTag::Visited,
                    text: "visited:home".into()
                },
            }
        );
        assert_eq!(
            err.to_string(),
            "activity[1] is not a valid event pattern: \
             event kind `visited` carries no name, so `visited:home` can never match"
        );
        let err = refused(&|s| {
            s.activation.key_actions = vec![KindPattern::Named(KindTag::ActionCompleted, "".into())]
        });
        assert!(
            matches!(
                err,
                PolicyError::InvalidPattern {
                    field: "activation.key_actions",
                    index: 0,
                    error: ParseKindError::EmptyName { .. },
                }
            ),
            "{err:?}"
        );
        assert!(
            err.to_string().starts_with("activation.key_actions[0] "),
            "{err}"
        );
        // Named patterns that validate read back.
        let mut named = PolicySpec::default();
        named.activation.key_actions = vec![KindPattern::Named(KindTag::Custom, "lesson".into())];
        let json = serde_json::to_string(&named).unwrap();
        assert_eq!(serde_json::from_str::<PolicySpec>(&json).unwrap(), named);
        assert!(named.validate().is_ok());
    }

    #[test]
    fn values_the_reader_refuses_name_their_field() {
        let err = |json: &str| {
            serde_json::from_str::<PolicySpec>(json)
                .unwrap_err()
                .to_string()
        };
        let e = err(r#"{"idle": {"dormant_days": -3}}"#);
        assert!(
            e.starts_with(
                "field `idle`: field `dormant_days`: invalid value: integer `-3`, expected u16"
            ),
            "{e}"
        );
        let e = err(r#"{"retention": {"window_days": 2.5}}"#);
        assert!(
            e.starts_with(
                "field `retention`: field `window_days`: invalid type: floating point `2.5`"
            ),
            "{e}"
        );
        let e = err(r#"{"history_limit": 70000}"#);
        assert!(
            e.starts_with("field `history_limit`: invalid value: integer `70000`"),
            "{e}"
        );
        let e = err(r#"{"activation": {"key_actions": ["*", "bought"]}}"#);
        assert!(e.starts_with("field `activation`: key_actions[1]: "), "{e}");
        // Missing fields still take their defaults.
        let spec: PolicySpec = serde_json::from_str(r#"{"idle": {"at_risk_days": 3}}"#).unwrap();
        assert_eq!(spec.idle.dormant_days, Idle::default().dormant_days);
    }

    #[test]
    fn unknown_fields_and_bad_patterns_are_rejected_when_parsing() {
        let err = serde_json::from_str::<PolicySpec>(r#"{"idle": {"at_risk": 3}}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field `at_risk`"), "{err}");
        let err = serde_json::from_str::<PolicySpec>(r#"{"activity": ["bought"]}"#).unwrap_err();
        assert!(
            err.to_string().contains("`bought` is not an event kind"),
            "{err}"
        );
    }
}
