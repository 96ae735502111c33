//! Reference cases for lifecycle policy validation: each mistake an operator
//! can write in a policy's JSON is refused with an error naming its field,
//! and a near miss still reads and validates.

use growthkit::lifecycle::{PolicyError, PolicySpec};

/// Reads `json` as a policy spec; the reader's refusal as text.
fn read(json: &str) -> Result<PolicySpec, String> {
    serde_json::from_str::<PolicySpec>(json).map_err(|e| e.to_string())
}

fn refused(json: &str) -> String {
    match read(json) {
        Ok(spec) => panic!("{json} read as {spec:?}"),
        Err(e) => e,
    }
}

#[test]
fn a_number_out_of_its_type_names_its_field() {
    for (json, prefix) in [
        (
            r#"{"idle": {"at_risk_days": -1}}"#,
            "field `idle`: field `at_risk_days`: ",
        ),
        (
            r#"{"idle": {"dormant_days": 70000}}"#,
            "field `idle`: field `dormant_days`: ",
        ),
        (
            r#"{"idle": {"churned_days": 1.5}}"#,
            "field `idle`: field `churned_days`: ",
        ),
        (
            r#"{"retention": {"window_days": 1e30}}"#,
            "field `retention`: field `window_days`: ",
        ),
        (
            r#"{"retention": {"active_days": "3"}}"#,
            "field `retention`: field `active_days`: ",
        ),
        (
            r#"{"activation": {"required": -2}}"#,
            "field `activation`: field `required`: ",
        ),
        (
            r#"{"activation": {"within_days": null}}"#,
            "field `activation`: field `within_days`: ",
        ),
        (
            r#"{"loyal_payments": 99999999999}"#,
            "field `loyal_payments`: ",
        ),
        (r#"{"history_limit": 65536}"#, "field `history_limit`: "),
        (r#"{"utc_offset": "+25:00"}"#, "field `utc_offset`: "),
        (
            r#"{"dedupe": {"horizon_hours": -1, "max_ids": 4}}"#,
            "field `dedupe`: field `horizon_hours`: ",
        ),
    ] {
        let err = refused(json);
        assert!(err.starts_with(prefix), "{json}: {err}");
    }
    // Near misses: the largest values of each type read, and validate.
    let spec = read(
        r#"{"idle": {"at_risk_days": 65533, "dormant_days": 65534, "churned_days": 65535},
            "loyal_payments": 4294967295, "history_limit": 65535,
            "activation": {"required": 4294967295, "within_days": 65535},
            "retention": {"active_days": 64, "window_days": 64}}"#,
    )
    .unwrap();
    spec.validate().unwrap();
}

#[test]
fn a_bad_pattern_or_a_wrong_type_names_its_place() {
    let err = refused(r#"{"activity": ["*", "bought"]}"#);
    assert!(err.starts_with("activity[1]: "), "{err}");
    assert!(err.contains("`bought` is not an event kind"), "{err}");
    let err = refused(r#"{"activation": {"key_actions": ["action_completed", 7]}}"#);
    assert!(
        err.starts_with("field `activation`: key_actions[1]: "),
        "{err}"
    );
    let err = refused(r#"{"activity": "*"}"#);
    assert!(err.starts_with("field `activity`: "), "{err}");
    let err = refused(r#"{"idle": 7}"#);
    assert!(err.starts_with("field `idle`: "), "{err}");
    // Near miss: the same lists, well written.
    read(r#"{"activity": ["*", "purchase"], "activation": {"key_actions": ["action_completed"]}}"#)
        .unwrap()
        .validate()
        .unwrap();
}

#[test]
fn an_unknown_field_names_where_it_sits() {
    let err = refused(r#"{"idle": {"at_risk": 3}}"#);
    assert!(
        err.starts_with("field `idle`: unknown field `at_risk`"),
        "{err}"
    );
    let err = refused(r#"{"retention": {"days": 3}}"#);
    assert!(
        err.starts_with("field `retention`: unknown field `days`"),
        "{err}"
    );
    let err = refused(r#"{"idel": {}}"#);
    assert!(err.starts_with("unknown field `idel`"), "{err}");
    // Near miss: every field spelled right, some left to their defaults.
    let spec = read(r#"{"idle": {"at_risk_days": 3}, "retention": {}}"#).unwrap();
    assert_eq!(spec.idle.at_risk_days, 3);
    assert_eq!(spec.retention, PolicySpec::default().retention);
    spec.validate().unwrap();
}

#[test]
fn thresholds_out_of_order_name_both_fields() {
    let err = read(r#"{"idle": {"at_risk_days": 30, "dormant_days": 7, "churned_days": 90}}"#)
        .unwrap()
        .validate()
        .unwrap_err();
    assert!(matches!(
        err,
        PolicyError::NotIncreasing {
            field: "idle.dormant_days",
            ..
        }
    ));
    assert_eq!(
        err.to_string(),
        "idle.dormant_days is 7 but must be greater than idle.at_risk_days (30)"
    );
    let err = read(r#"{"retention": {"active_days": 15, "window_days": 14}}"#)
        .unwrap()
        .validate()
        .unwrap_err();
    assert!(matches!(
        err,
        PolicyError::TooLarge {
            field: "retention.active_days",
            ..
        }
    ));
    assert_eq!(
        err.to_string(),
        "retention.active_days is 15 but can be at most 14"
    );
    // Near misses: adjacent thresholds, a window exactly filled.
    read(
        r#"{"idle": {"at_risk_days": 1, "dormant_days": 2, "churned_days": 3},
             "retention": {"active_days": 14, "window_days": 14}, "loyal_payments": 3}"#,
    )
    .unwrap()
    .validate()
    .unwrap();
}

#[test]
fn a_machine_value_the_reader_refuses_names_its_transition_and_field() {
    use growthkit::lifecycle::machine::{Machine, MachineSpec};
    let read = |json: &str| serde_json::from_str::<MachineSpec>(json).map_err(|e| e.to_string());
    let err = read(
        r#"{"states": ["new", "engaged"], "initial": "new", "transitions": [
            {"from": ["new"], "to": "engaged", "on": {"event": "action_completed"}},
            {"from": ["engaged"], "to": "new", "on": {"idle_days": -5}}]}"#,
    )
    .unwrap_err();
    assert!(err.starts_with("transitions[1]: field `on`: "), "{err}");
    // Near miss: the timeout positive, the machine reads and validates.
    let spec = read(
        r#"{"states": ["new", "engaged"], "initial": "new", "transitions": [
            {"from": ["new"], "to": "engaged", "on": {"event": "action_completed"}},
            {"from": ["engaged"], "to": "new", "on": {"idle_days": 5}}]}"#,
    )
    .unwrap();
    Machine::new(spec).unwrap();
}
