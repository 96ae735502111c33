use super::*;
use chrono::{TimeDelta, TimeZone};

fn t(hours: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0)
        .single()
        .unwrap_or_default()
        + TimeDelta::hours(hours)
}

fn catalog(json: &str) -> BadgeCatalog {
    serde_json::from_str::<BadgeCatalogSpec>(json)
        .map_err(|e| e.to_string())
        .and_then(|s| s.validate().map_err(|e| e.to_string()))
        .unwrap_or_else(|e| panic!("{e}"))
}

fn lesson() -> EventKind {
    EventKind::ActionCompleted {
        action: "lesson".into(),
    }
}

const LEVELLED: &str = r#"{ "badges": [
    { "name": "scholar", "counter": { "type": "events", "on": "action_completed:lesson" },
      "levels": [ { "name": "bronze", "at": 2, "points": 10 },
                  { "name": "silver", "at": 4, "points": 20 },
                  { "name": "gold", "at": 6, "points": 30 } ] },
    { "name": "first_lesson", "counter": { "type": "events", "on": "action_completed:lesson" },
      "levels": [ { "at": 1 } ] },
    { "name": "earner", "counter": { "type": "points" },
      "levels": [ { "at": 100, "points": 5 } ] },
    { "name": "devoted", "counter": { "type": "streak" },
      "levels": [ { "at": 7, "points": 70 }, { "at": 30, "points": 300 } ] }
] }"#;

fn spec_error(json: &str) -> String {
    match serde_json::from_str::<BadgeCatalogSpec>(json) {
        Err(e) => e.to_string(),
        Ok(spec) => spec
            .validate()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default(),
    }
}

#[test]
fn bad_catalogs_name_the_badge_and_field() {
    let badge = |name: &str, levels: &str| {
        format!(r#"{{ "name": "{name}", "counter": {{ "type": "points" }}, "levels": {levels} }}"#)
    };
    for (badges, message) in [
        (
            String::new(),
            "badges is empty: a catalog needs at least one badge",
        ),
        (
            format!(
                "{}, {}",
                badge("a", r#"[{ "at": 1 }]"#),
                badge("a", r#"[{ "at": 2 }]"#)
            ),
            "badge a: the name is used by another badge",
        ),
        (
            badge("a", "[]"),
            "badge a: levels is empty: a badge needs at least one level",
        ),
        (
            badge("a", r#"[{ "at": 0 }]"#),
            "badge a: levels[0].at is 0 but must be at least 1",
        ),
        (
            badge("a", r#"[{ "at": 5 }, { "at": 5 }]"#),
            "badge a: levels[1].at is 5 but must be above the previous level's 5",
        ),
        (
            badge(
                "a",
                r#"[{ "name": "x", "at": 1 }, { "name": "x", "at": 2 }]"#,
            ),
            "badge a: level name x is used by another level",
        ),
        (
            format!(
                "{}, {}",
                badge("a", r#"[{ "at": 1 }]"#),
                badge(" ", r#"[{ "at": 1 }]"#)
            ),
            "badges[1]: name is blank but must name the badge",
        ),
        (
            badge(
                "a",
                r#"[{ "name": "x", "at": 1 }, { "name": "", "at": 2 }]"#,
            ),
            "badge a: levels[1].name is blank; name the level or leave the name out",
        ),
    ] {
        assert_eq!(
            spec_error(&format!(r#"{{ "badges": [{badges}] }}"#)),
            message
        );
    }
    let unknown = spec_error(
        r#"{ "badges": [{ "name": "a", "counter": { "type": "events", "on": "lessn" }, "levels": [{ "at": 1 }] }] }"#,
    );
    assert!(
        unknown.contains("`lessn` is not an event kind"),
        "{unknown}"
    );
    let field = spec_error(
        r#"{ "badges": [{ "name": "a", "counter": { "type": "points" }, "levels": [{ "at": 1, "pts": 3 }] }] }"#,
    );
    assert!(field.contains("unknown field `pts`"), "{field}");
}

#[test]
fn a_counter_pattern_its_text_cannot_express_is_refused() {
    use crate::event::KindTag;
    let with = |on| BadgeCatalogSpec {
        badges: vec![BadgeSpec {
            name: "big_spender".into(),
            counter: BadgeCounter::Events { on },
            levels: vec![BadgeLevel {
                name: None,
                at: 1,
                points: 0,
            }],
        }],
    };
    // Built in code, the catalog would write JSON that does not read back;
    // validation refuses it as the reader would.
    for on in [
        KindPattern::Named(KindTag::Purchase, "big".into()),
        KindPattern::Named(KindTag::Custom, "".into()),
    ] {
        let spec = with(on.clone());
        let json = serde_json::to_string(&spec).unwrap();
        assert!(
            serde_json::from_str::<BadgeCatalogSpec>(&json).is_err(),
            "{json}"
        );
        let err = spec.validate().unwrap_err();
        assert_eq!(
            err,
            BadgeError::InvalidPattern {
                badge: "big_spender".into(),
                error: on.check().unwrap_err(),
            }
        );
        assert!(
            err.to_string()
                .starts_with("badge big_spender: counter.on is not a valid event pattern: "),
            "{err}"
        );
    }
    // A named counter that validates reads back.
    let spec = with(KindPattern::Named(KindTag::Custom, "big_order".into()));
    let json = serde_json::to_string(&spec).unwrap();
    assert_eq!(
        serde_json::from_str::<BadgeCatalogSpec>(&json).unwrap(),
        spec
    );
    assert!(spec.validate().is_ok());
}

#[test]
fn levels_are_granted_at_their_thresholds_exactly() {
    let c = catalog(LEVELLED);
    let mut b = Badges::new();
    let first = c
        .record_event(&mut b, &lesson(), t(0))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(first.granted.len(), 1);
    assert_eq!(
        first.granted[0].to_string(),
        "first_lesson (level 1): 1 reached 1"
    );
    let second = c
        .record_event(&mut b, &lesson(), t(1))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        second.granted.len(),
        1,
        "the one-time badge is not granted again"
    );
    assert_eq!(
        second.granted[0].to_string(),
        "scholar bronze (level 1): 2 reached 2, +10 points"
    );
    assert_eq!(second.points, 10);
    let third = c
        .record_event(&mut b, &lesson(), t(2))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(third.granted.is_empty());
    assert_eq!(b.level("scholar"), 1);
    assert_eq!(b.progress("scholar").map(|p| p.count), Some(3));
    assert_eq!(b.version(), 3);
}

#[test]
fn a_jump_grants_every_level_passed() {
    let c = catalog(LEVELLED);
    let mut b = Badges::new();
    let step = c
        .record_streak(&mut b, 31, t(0))
        .unwrap_or_else(|e| panic!("{e}"));
    let levels: Vec<u32> = step.granted.iter().map(|g| g.level).collect();
    assert_eq!((levels, step.points), (vec![1, 2], 370));
    // A shorter streak later changes nothing: the longest is counted.
    let v = b.version();
    let step = c
        .record_streak(&mut b, 3, t(1))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((step, b.version()), (BadgeOutcome::default(), v));
    assert_eq!(b.progress("devoted").map(|p| p.count), Some(31));
}

#[test]
fn a_retraction_revokes_a_level_no_longer_met() {
    let c = catalog(LEVELLED);
    let mut b = Badges::new();
    for h in 0..4 {
        c.record_event(&mut b, &lesson(), t(h))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    assert_eq!(b.level("scholar"), 2);
    let step = c
        .retract_event(&mut b, &lesson(), t(5), "lesson voided")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(step.revoked.len(), 1);
    let r = &step.revoked[0];
    assert_eq!((r.level, r.points, r.earned_at), (2, 20, t(3)));
    assert_eq!(
        r.to_string(),
        "scholar silver (level 2) revoked (lesson voided): 3 is below 4, -20 points"
    );
    assert_eq!((step.points_revoked, b.level("scholar")), (20, 1));
    // Earned again, it grants again.
    let step = c
        .record_event(&mut b, &lesson(), t(6))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((step.granted.len(), step.points), (1, 20));
    assert_eq!(b.progress("scholar").map(|p| p.earned[1].at), Some(t(6)));
}

#[test]
fn a_large_retraction_revokes_from_the_top_and_stops_at_zero() {
    let c = catalog(LEVELLED);
    let mut b = Badges::new();
    c.record_points(&mut b, 150, t(0))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(b.level("earner"), 1);
    let step = c
        .retract_points(&mut b, 1_000, t(1), "refund")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((step.revoked.len(), step.points_revoked), (1, 5));
    assert_eq!(b.progress("earner").map(|p| p.count), Some(0));
    // Nothing left to take back: no change, no version bump.
    let v = b.version();
    let step = c
        .retract_points(&mut b, 1, t(2), "again")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((step, b.version()), (BadgeOutcome::default(), v));
}

#[test]
fn events_no_badge_counts_change_nothing() {
    let c = catalog(LEVELLED);
    let mut b = Badges::new();
    let step = c
        .record_event(&mut b, &EventKind::Visited, t(0))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((step, b.version()), (BadgeOutcome::default(), 0));
    let quiz = EventKind::ActionCompleted {
        action: "quiz".into(),
    };
    let step = c
        .retract_event(&mut b, &quiz, t(0), "x")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((step, b.version()), (BadgeOutcome::default(), 0));
}

#[test]
fn overflow_is_refused_whole() {
    let c = catalog(LEVELLED);
    let mut b = Badges::new();
    c.record_points(&mut b, u64::MAX, t(0))
        .unwrap_or_else(|e| panic!("{e}"));
    c.record_event(&mut b, &lesson(), t(0))
        .unwrap_or_else(|e| panic!("{e}"));
    let before = b.clone();
    assert_eq!(
        c.record_points(&mut b, 1, t(1)),
        Err(BadgeError::Overflow {
            badge: "earner".into()
        })
    );
    assert_eq!(b, before);
}

#[test]
fn badges_round_trip_through_json() {
    let c = catalog(LEVELLED);
    let mut b = Badges::new();
    for h in 0..5 {
        c.record_event(&mut b, &lesson(), t(h))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    c.record_streak(&mut b, 8, t(9))
        .unwrap_or_else(|e| panic!("{e}"));
    let json = serde_json::to_string(&b).unwrap_or_default();
    assert_eq!(
        serde_json::from_str::<Badges>(&json).ok().as_ref(),
        Some(&b),
        "{json}"
    );
    let spec = serde_json::to_string(c.spec()).unwrap_or_default();
    let again = serde_json::from_str::<BadgeCatalogSpec>(&spec).map(BadgeCatalogSpec::validate);
    assert_eq!(again.ok().and_then(Result::ok).as_ref(), Some(&c));
    assert!(c.badge("devoted").is_some());
}
