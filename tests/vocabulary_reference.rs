//! The shared vocabulary (`event`, `id`, and the public parts of `time` that
//! `tests/calendar_reference.rs` leaves out) against brute-force models
//! written from the docs alone.
//!
//! The models read nothing of the library's own logic: an event's kind and
//! name come from its JSON (`"type"`, `"action"`, `"name"`), a pattern's
//! `overlaps` and `covers` are decided by trying every kind that can tell
//! two patterns apart, text forms are parsed by hand, attributes are a list
//! kept by the rule `set` documents, and days are chrono's dates.
//!
//! `PROPTEST_CASES` raises the number of cases for a longer hunt.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, TimeDelta, TimeZone, Utc, Weekday};
use growthkit::event::ParseKindError;
use growthkit::{
    AttrValue, Attributes, CommunityId, ContentId, CouponId, Currency, Event, EventId, EventKind,
    KindPattern, KindSet, KindTag, Label, LocalDay, Money, TopicId, UserId, UtcOffset,
};
use proptest::prelude::*;
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap};

// ------------------------------------------------------------ kinds

/// Every variant's snake-case name, written out from the docs.
const TAG_NAMES: [&str; 18] = [
    "signed_up",
    "visited",
    "action_completed",
    "purchase",
    "refund",
    "coupon_redeemed",
    "trial_started",
    "check_in",
    "post",
    "reply",
    "reaction",
    "share",
    "poll_voted",
    "event_attended",
    "invite_accepted",
    "content_viewed",
    "content_clicked",
    "custom",
];

/// The kinds that carry a name.
const NAMED: [&str; 2] = ["action_completed", "custom"];

/// Names likely to collide with each other and with the text forms.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("a".to_owned()),
        Just("b".to_owned()),
        Just("lesson".to_owned()),
        Just("a:b".to_owned()),
        Just("*".to_owned()),
        Just("custom".to_owned()),
        "[a-c:* ]{0,4}",
        any::<String>(),
    ]
}

fn tag() -> impl Strategy<Value = KindTag> {
    proptest::sample::select(KindTag::ALL.to_vec())
}

fn community() -> impl Strategy<Value = Option<CommunityId>> {
    proptest::option::of(any::<u64>().prop_map(CommunityId))
}

fn money() -> impl Strategy<Value = Money> {
    (any::<i64>(), "[A-Z]{3}").prop_map(|(minor, code)| {
        Money::new(minor, code.parse().unwrap_or_else(|_| unreachable!()))
    })
}

/// Every variant, with any payload.
fn kind() -> impl Strategy<Value = EventKind> {
    let content = || any::<u64>().prop_map(ContentId);
    let user = || proptest::option::of(any::<u64>().prop_map(UserId));
    prop_oneof![
        Just(EventKind::SignedUp),
        Just(EventKind::Visited),
        name().prop_map(|n| EventKind::ActionCompleted { action: n.into() }),
        money().prop_map(|amount| EventKind::Purchase { amount }),
        money().prop_map(|amount| EventKind::Refund { amount }),
        any::<u64>().prop_map(|c| EventKind::CouponRedeemed {
            coupon: CouponId(c)
        }),
        Just(EventKind::TrialStarted),
        community().prop_map(|community| EventKind::CheckIn { community }),
        (community(), content())
            .prop_map(|(community, content)| EventKind::Post { community, content }),
        (community(), content(), user()).prop_map(|(community, content, to)| EventKind::Reply {
            community,
            content,
            to
        }),
        (community(), content(), user()).prop_map(|(community, content, to)| {
            EventKind::Reaction {
                community,
                content,
                to,
            }
        }),
        (community(), content())
            .prop_map(|(community, content)| EventKind::Share { community, content }),
        (community(), content())
            .prop_map(|(community, poll)| EventKind::PollVoted { community, poll }),
        (community(), any::<bool>())
            .prop_map(|(community, offline)| EventKind::EventAttended { community, offline }),
        (any::<u64>(), community()).prop_map(|(i, community)| EventKind::InviteAccepted {
            inviter: UserId(i),
            community
        }),
        content().prop_map(|content| EventKind::ContentViewed { content }),
        content().prop_map(|content| EventKind::ContentClicked { content }),
        name().prop_map(|n| EventKind::Custom { name: n.into() }),
    ]
}

/// A kind as its JSON says: the `type` and, for named kinds, the name.
fn kind_model(kind: &EventKind) -> (String, Option<String>) {
    let v = serde_json::to_value(kind).unwrap_or_else(|e| panic!("{kind:?}: {e}"));
    let ty = v["type"]
        .as_str()
        .unwrap_or_else(|| unreachable!())
        .to_owned();
    let name = match ty.as_str() {
        "action_completed" => v["action"].as_str().map(str::to_owned),
        "custom" => v["name"].as_str().map(str::to_owned),
        _ => None,
    };
    (ty, name)
}

/// Any pattern, including ones built in code that fail `check` (a name on
/// a kind that has none, an empty name).
fn pattern() -> impl Strategy<Value = KindPattern> {
    prop_oneof![
        1 => Just(KindPattern::Any),
        3 => tag().prop_map(KindPattern::Kind),
        2 => (proptest::sample::select(vec![KindTag::ActionCompleted, KindTag::Custom]), name())
            .prop_map(|(t, n)| KindPattern::Named(t, n.into())),
        1 => (tag(), name()).prop_map(|(t, n)| KindPattern::Named(t, n.into())),
    ]
}

/// A pattern as plain data: `None` for `*`, else the tag's name and the
/// name, if any.
fn pattern_model(p: &KindPattern) -> Option<(&'static str, Option<String>)> {
    match p {
        KindPattern::Any => None,
        KindPattern::Kind(t) => Some((t.name(), None)),
        KindPattern::Named(t, n) => Some((t.name(), Some(n.as_str().to_owned()))),
    }
}

/// Whether a kind (as its JSON says) matches a pattern, by the docs:
/// every event; every event of one kind; events of a named kind with this
/// name.
fn matches_model(p: &KindPattern, (ty, name): &(String, Option<String>)) -> bool {
    match pattern_model(p) {
        None => true,
        Some((t, None)) => t == ty,
        Some((t, Some(n))) => t == ty && name.as_deref() == Some(n.as_str()),
    }
}

/// Every kind that two patterns can tell apart: each tag, with no name
/// and, for named kinds, each name the patterns mention and one neither
/// does. Whether a kind matches depends on its tag and name alone.
fn universe(patterns: &[&KindPattern]) -> Vec<(String, Option<String>)> {
    let mut names: BTreeSet<String> = patterns
        .iter()
        .filter_map(|p| match p {
            KindPattern::Named(_, n) => Some(n.as_str().to_owned()),
            _ => None,
        })
        .collect();
    let fresh = (0..)
        .map(|i| format!("fresh{i}"))
        .find(|n| !names.contains(n))
        .unwrap_or_else(|| unreachable!());
    names.insert(fresh);
    let mut all = Vec::new();
    for ty in TAG_NAMES {
        if NAMED.contains(&ty) {
            all.extend(names.iter().map(|n| (ty.to_owned(), Some(n.clone()))));
        } else {
            all.push((ty.to_owned(), None));
        }
    }
    all
}

/// The event kind a model kind stands for (through JSON, not the library's
/// constructors' knowledge of tags).
fn kind_of((ty, name): &(String, Option<String>)) -> EventKind {
    let mut v = json!({ "type": ty });
    match ty.as_str() {
        "action_completed" => v["action"] = json!(name),
        "custom" => v["name"] = json!(name),
        "purchase" | "refund" => v["amount"] = json!({"minor": 1, "currency": "CNY"}),
        "coupon_redeemed" => v["coupon"] = json!(1),
        "post" | "reply" | "reaction" | "share" | "content_viewed" | "content_clicked" => {
            v["content"] = json!(1)
        }
        "poll_voted" => v["poll"] = json!(1),
        "event_attended" => v["offline"] = json!(false),
        "invite_accepted" => v["inviter"] = json!(1),
        _ => {}
    }
    serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{v}: {e}"))
}

/// What parsing a pattern's text should give, by the docs: `*`, a kind's
/// name, or a named kind, a colon and a non-empty name.
fn parse_model(text: &str) -> Result<KindPattern, &'static str> {
    if text == "*" {
        return Ok(KindPattern::Any);
    }
    let tag_of = |s: &str| {
        KindTag::ALL
            .iter()
            .copied()
            .find(|t| TAG_NAMES[*t as usize] == s)
            .ok_or("unknown")
    };
    match text.find(':') {
        None => tag_of(text).map(KindPattern::Kind),
        Some(at) => {
            let (kind, name) = (&text[..at], &text[at + 1..]);
            let t = tag_of(kind)?;
            if !NAMED.contains(&kind) {
                return Err("name not allowed");
            }
            if name.is_empty() {
                return Err("empty name");
            }
            Ok(KindPattern::Named(t, name.into()))
        }
    }
}

fn pattern_text() -> impl Strategy<Value = String> {
    let known = proptest::sample::select(TAG_NAMES.to_vec()).prop_map(str::to_owned);
    prop_oneof![
        Just("*".to_owned()),
        known.clone(),
        (known, name()).prop_map(|(k, n)| format!("{k}:{n}")),
        "[a-z_*:]{0,20}",
        any::<String>(),
    ]
}

proptest! {
    #[test]
    fn a_kind_s_tag_name_and_community_are_what_its_json_says(kind in kind()) {
        let (ty, name) = kind_model(&kind);
        let v = serde_json::to_value(&kind).unwrap_or_else(|_| unreachable!());
        prop_assert_eq!(kind.tag().name(), ty.as_str());
        prop_assert_eq!(kind.tag().to_string(), ty.clone());
        prop_assert_eq!(kind.name().map(|n| n.as_str().to_owned()), name.clone());
        prop_assert_eq!(kind.tag().is_named(), NAMED.contains(&ty.as_str()));
        prop_assert_eq!(kind.community().map(|c| json!(c.get())), v.get("community").cloned());
        // Display: the name, or the kind's name; width and alignment apply.
        let shown = name.clone().unwrap_or(ty.clone());
        prop_assert_eq!(kind.to_string(), shown.clone());
        let padding = 30usize.saturating_sub(shown.chars().count());
        prop_assert_eq!(format!("{kind:>30}"), format!("{}{shown}", " ".repeat(padding)));
        // JSON round trip, and the tag's own JSON is its name.
        let back: EventKind = serde_json::from_value(v).unwrap_or_else(|e| panic!("{e}"));
        prop_assert_eq!(back, kind.clone());
        prop_assert_eq!(serde_json::to_value(kind.tag()).ok(), Some(json!(ty)));
    }

    #[test]
    fn a_pattern_matches_as_its_docs_say(p in pattern(), kind in kind()) {
        let model = kind_model(&kind);
        prop_assert_eq!(p.matches(&kind), matches_model(&p, &model), "{:?} {:?}", p, kind);
        prop_assert_eq!(KindSet::new(std::slice::from_ref(&p)).matches(&kind), p.matches(&kind));
    }

    /// `a.overlaps(b)` iff some kind matches both; `a.covers(b)` iff every
    /// kind `b` matches also matches `a`; for any patterns, checked or not.
    #[test]
    fn overlaps_and_covers_agree_with_matches_over_every_kind(a in pattern(), b in pattern()) {
        let all = universe(&[&a, &b]);
        let both = all.iter().any(|k| matches_model(&a, k) && matches_model(&b, k));
        let covered = all.iter().all(|k| !matches_model(&b, k) || matches_model(&a, k));
        for k in &all {
            prop_assert_eq!(a.matches(&kind_of(k)), matches_model(&a, k), "{:?} {:?}", a, k);
        }
        prop_assert_eq!(a.overlaps(&b), both, "{:?} overlaps {:?}", a, b);
        prop_assert_eq!(b.overlaps(&a), both, "{:?} overlaps {:?}", b, a);
        prop_assert_eq!(a.covers(&b), covered, "{:?} covers {:?}", a, b);
    }

    #[test]
    fn a_kind_set_matches_when_any_of_its_patterns_does(
        ps in proptest::collection::vec(pattern(), 0..6),
        kind in kind(),
    ) {
        let model = kind_model(&kind);
        let want = ps.iter().any(|p| matches_model(p, &model));
        prop_assert_eq!(KindSet::new(&ps).matches(&kind), want, "{:?} {:?}", ps, kind);
    }

    /// Text parses as the docs describe; a parsed pattern passes `check`
    /// and writes its text back; errors quote the text; never a panic.
    #[test]
    fn pattern_text_parses_as_documented(text in pattern_text()) {
        let got = text.parse::<KindPattern>();
        match (parse_model(&text), &got) {
            (Ok(want), Ok(p)) => {
                prop_assert_eq!(p, &want);
                prop_assert_eq!(p.check(), Ok(()));
                prop_assert_eq!(p.to_string(), text.clone());
                let json = serde_json::to_string(p).unwrap_or_else(|_| unreachable!());
                prop_assert_eq!(&json, &serde_json::to_string(&text).unwrap_or_default());
                prop_assert_eq!(serde_json::from_str::<KindPattern>(&json).ok(), Some(want));
            }
            (Err(kind), Err(e)) => {
                let expected = match kind {
                    "unknown" => matches!(e, ParseKindError::UnknownKind { .. }),
                    "name not allowed" => matches!(e, ParseKindError::NameNotAllowed { .. }),
                    _ => matches!(e, ParseKindError::EmptyName { .. }),
                };
                prop_assert!(expected, "{:?}: {:?}, wanted {}", text, e, kind);
                // The message names what was wrong: the unknown kind, or
                // the whole pattern.
                let shown = e.to_string();
                let culprit = match e {
                    ParseKindError::UnknownKind { name, .. } => name.clone(),
                    _ => text.clone(),
                };
                prop_assert!(text.contains(culprit.as_str()) && shown.contains(&culprit), "{}", shown);
                let json = serde_json::to_string(&text).unwrap_or_default();
                let err = serde_json::from_str::<KindPattern>(&json);
                prop_assert!(err.is_err());
            }
            (want, got) => prop_assert!(false, "{:?}: wanted {:?}, got {:?}", text, want, got),
        }
    }

    /// A pattern built in code passes `check` exactly when its text reads
    /// back to it; failing, the error is the one reading it back gives.
    #[test]
    fn check_is_whether_a_pattern_reads_back(p in pattern()) {
        let text = p.to_string();
        let read = text.parse::<KindPattern>();
        match p.check() {
            Ok(()) => prop_assert_eq!(read, Ok(p.clone())),
            Err(e) => prop_assert_eq!(read, Err(e)),
        }
        let model_ok = match pattern_model(&p) {
            Some((t, Some(n))) => NAMED.contains(&t) && !n.is_empty(),
            _ => true,
        };
        prop_assert_eq!(p.check().is_ok(), model_ok, "{:?}", p);
        // Padding applies to the whole text.
        let padding = 40usize.saturating_sub(text.chars().count());
        prop_assert_eq!(format!("{p:<40}"), format!("{text}{}", " ".repeat(padding)));
    }

    #[test]
    fn kind_tags_parse_exactly_their_names(text in prop_oneof![
        proptest::sample::select(TAG_NAMES.to_vec()).prop_map(str::to_owned),
        "[a-z_]{0,16}",
        any::<String>(),
    ]) {
        let want = TAG_NAMES.iter().position(|n| *n == text);
        match text.parse::<KindTag>() {
            Ok(t) => {
                prop_assert_eq!(Some(t as usize), want);
                prop_assert_eq!(t.to_string(), text.clone());
                prop_assert_eq!(KindTag::ALL[t as usize], t);
            }
            Err(e) => {
                prop_assert_eq!(want, None);
                prop_assert!(e.to_string().contains(&format!("`{text}`")), "{}", e);
            }
        }
        let json = serde_json::to_string(&text).unwrap_or_default();
        prop_assert_eq!(serde_json::from_str::<KindTag>(&json).ok(), text.parse().ok());
    }
}

#[test]
fn every_tag_is_listed_once_in_declaration_order() {
    assert_eq!(KindTag::ALL.len(), TAG_NAMES.len());
    for (i, (t, name)) in KindTag::ALL.iter().zip(TAG_NAMES).enumerate() {
        assert_eq!(t.name(), name);
        assert_eq!(*t as usize, i);
        assert_eq!(format!("{t:^20}"), format!("{name:^20}"));
    }
    let mut sorted = KindTag::ALL.to_vec();
    sorted.sort();
    assert_eq!(sorted, KindTag::ALL);
}

/// The docs' examples of patterns, and the patterns built in code that
/// match no event at all (a name on a kind without one).
#[test]
fn patterns_that_match_nothing_overlap_nothing_and_are_covered_by_all() {
    let p = |s: &str| s.parse::<KindPattern>().unwrap_or_else(|e| panic!("{e}"));
    let home = KindPattern::Named(KindTag::Visited, "home".into());
    for other in [p("*"), p("visited"), p("custom:x"), home.clone()] {
        assert!(!home.overlaps(&other), "{home:?} overlaps {other:?}");
        assert!(!other.overlaps(&home), "{other:?} overlaps {home:?}");
        assert!(other.covers(&home), "{other:?} covers {home:?}");
    }
    assert!(!home.covers(&p("visited")));
    assert!(p("*").covers(&p("custom:quiz")) && !p("custom:quiz").covers(&p("custom")));
    assert!(p("action_completed").overlaps(&p("action_completed:lesson")));
}

// --------------------------------------------------------- currency, label

proptest! {
    #[test]
    fn currencies_are_exactly_three_ascii_capitals(text in prop_oneof![
        "[A-Z]{3}",
        "[A-Za-z]{2,4}",
        "[A-Z0-9$ ]{3}",
        any::<String>(),
    ]) {
        let want = text.len() == 3 && text.bytes().all(|b| b.is_ascii_uppercase());
        match text.parse::<Currency>() {
            Ok(c) => {
                prop_assert!(want, "{:?}", text);
                prop_assert_eq!(c.as_str(), text.as_str());
                prop_assert_eq!(c.to_string(), text.clone());
                prop_assert_eq!(format!("{c:>5}"), format!("{text:>5}"));
                prop_assert_eq!(format!("{c:?}"), text.clone());
                let json = serde_json::to_string(&c).unwrap_or_default();
                prop_assert_eq!(&json, &format!("\"{text}\""));
                prop_assert_eq!(serde_json::from_str::<Currency>(&json).ok(), Some(c));
            }
            Err(e) => {
                prop_assert!(!want, "{:?}", text);
                prop_assert!(e.to_string().contains(&format!("`{text}`")), "{}", e);
                let json = serde_json::to_string(&text).unwrap_or_default();
                let err = serde_json::from_str::<Currency>(&json).map(|_| ()).unwrap_err();
                prop_assert!(err.to_string().contains(&text), "{}", err);
            }
        }
    }

    #[test]
    fn currencies_order_as_their_codes(a in "[A-Z]{3}", b in "[A-Z]{3}") {
        let (x, y) = (a.parse::<Currency>(), b.parse::<Currency>());
        let (Ok(x), Ok(y)) = (x, y) else { unreachable!() };
        prop_assert_eq!(x.cmp(&y), a.cmp(&b));
        prop_assert_eq!(x == y, a == b);
    }

    #[test]
    fn money_reads_back_and_is_its_two_fields(m in money()) {
        let v = serde_json::to_value(m).unwrap_or_default();
        prop_assert_eq!(&v, &json!({"minor": m.minor, "currency": m.currency.as_str()}));
        prop_assert_eq!(serde_json::from_value::<Money>(v).ok(), Some(m));
    }

    #[test]
    fn labels_are_their_text(a in name(), b in name()) {
        let (x, y) = (Label::from(a.as_str()), Label::from(b.clone()));
        prop_assert_eq!(x.cmp(&y), a.cmp(&b));
        prop_assert_eq!(x == y, a == b);
        prop_assert_eq!(x.as_str(), a.as_str());
        prop_assert_eq!(format!("{x:?}"), format!("{a:?}"));
        let padding = 12usize.saturating_sub(a.chars().count());
        prop_assert_eq!(format!("{x:>12}"), format!("{}{a}", " ".repeat(padding)));
        // A map keyed by labels is searched by text.
        let map = HashMap::from([(x.clone(), 1)]);
        prop_assert_eq!(map.get(a.as_str()), Some(&1));
        let json = serde_json::to_string(&x).unwrap_or_default();
        prop_assert_eq!(&json, &serde_json::to_string(&a).unwrap_or_default());
        prop_assert_eq!(serde_json::from_str::<Label>(&json).ok(), Some(x));
    }
}

// ------------------------------------------------------------ attributes

fn attr_value() -> impl Strategy<Value = AttrValue> {
    prop_oneof![
        any::<bool>().prop_map(AttrValue::Bool),
        prop_oneof![Just(i64::MIN), Just(i64::MAX), any::<i64>()].prop_map(AttrValue::Int),
        prop_oneof![
            Just("true".to_owned()),
            Just("12".to_owned()),
            any::<String>()
        ]
        .prop_map(|s| AttrValue::Text(s.into())),
    ]
}

fn attr_value_json(v: &AttrValue) -> Value {
    if let Some(b) = v.as_bool() {
        json!(b)
    } else if let Some(n) = v.as_int() {
        json!(n)
    } else {
        json!(v.as_str().unwrap_or_else(|| unreachable!()))
    }
}

/// `set` as documented: replaces an earlier value in its place, or adds
/// the name at the end.
fn set_model(list: &mut Vec<(String, AttrValue)>, name: String, value: AttrValue) {
    match list.iter_mut().find(|(k, _)| *k == name) {
        Some(slot) => slot.1 = value,
        None => list.push((name, value)),
    }
}

fn attr_name() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(vec!["a", "b", "c", "", "channel"]).prop_map(str::to_owned),
        any::<String>(),
    ]
}

proptest! {
    #[test]
    fn attributes_are_a_list_kept_by_set(
        ops in proptest::collection::vec((attr_name(), attr_value()), 0..12),
        probe in attr_name(),
    ) {
        let mut attrs = Attributes::new();
        let mut model = Vec::new();
        for (k, v) in &ops {
            attrs.set(k.as_str(), v.clone());
            set_model(&mut model, k.clone(), v.clone());
        }
        let listed: Vec<(String, AttrValue)> =
            attrs.iter().map(|(k, v)| (k.as_str().to_owned(), v.clone())).collect();
        prop_assert_eq!(&listed, &model);
        prop_assert_eq!(attrs.len(), model.len());
        prop_assert_eq!(attrs.is_empty(), model.is_empty());
        let want = model.iter().find(|(k, _)| *k == probe).map(|(_, v)| v);
        prop_assert_eq!(attrs.get(&probe), want);
        // JSON: an object in the order set; read back, the same list.
        let text = serde_json::to_string(&attrs).unwrap_or_default();
        let mut written = String::from("{");
        for (i, (k, v)) in model.iter().enumerate() {
            if i > 0 {
                written.push(',');
            }
            written += &serde_json::to_string(k).unwrap_or_default();
            written.push(':');
            written += &attr_value_json(v).to_string();
        }
        written.push('}');
        prop_assert_eq!(&text, &written);
        prop_assert_eq!(serde_json::from_str::<Attributes>(&text).ok(), Some(attrs.clone()));
        // An object that repeats names reads as `set` applied in order.
        let mut repeated = String::from("{");
        for (i, (k, v)) in ops.iter().enumerate() {
            if i > 0 {
                repeated.push(',');
            }
            repeated += &serde_json::to_string(k).unwrap_or_default();
            repeated.push(':');
            repeated += &attr_value_json(v).to_string();
        }
        repeated.push('}');
        prop_assert_eq!(serde_json::from_str::<Attributes>(&repeated).ok(), Some(attrs));
    }

    #[test]
    fn attribute_values_read_back_as_their_type(v in attr_value()) {
        let json = serde_json::to_string(&v).unwrap_or_default();
        prop_assert_eq!(&json, &attr_value_json(&v).to_string());
        prop_assert_eq!(serde_json::from_str::<AttrValue>(&json).ok(), Some(v.clone()));
        let kinds = [v.as_bool().is_some(), v.as_int().is_some(), v.as_str().is_some()];
        prop_assert_eq!(kinds.iter().filter(|k| **k).count(), 1);
    }
}

/// Values an attribute cannot hold are errors that say what they were.
#[test]
fn attribute_values_it_cannot_hold_are_named_errors() {
    for (bad, shown) in [
        ("1.5", "1.5"),
        ("null", "null"),
        ("18446744073709551615", "18446744073709551615"),
        ("[1]", "sequence"),
        ("{\"a\":1}", "map"),
    ] {
        let err = serde_json::from_str::<AttrValue>(bad)
            .map(|_| ())
            .unwrap_err();
        let message = err.to_string();
        assert!(message.contains(shown), "{bad}: {message}");
        let in_attrs = format!("{{\"minutes\":{bad}}}");
        let err = serde_json::from_str::<Attributes>(&in_attrs)
            .map(|_| ())
            .unwrap_err();
        assert!(err.to_string().contains(shown), "{in_attrs}: {err}");
    }
}

// ---------------------------------------------------------------- events

fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    let (min, max) = (
        DateTime::<Utc>::MIN_UTC.timestamp(),
        DateTime::<Utc>::MAX_UTC.timestamp(),
    );
    prop_oneof![
        (min..=max, 0..1_000_000_000u32).prop_map(|(s, n)| DateTime::from_timestamp(s, n)),
        (0..1_000i64, 0..1_000_000_000u32, any::<bool>()).prop_map(move |(s, n, low)| {
            DateTime::from_timestamp(if low { min + s } else { max - s }, n)
        }),
        // Inside a leap second at the end of a minute.
        (
            -100_000_000..100_000_000i64,
            1_000_000_000..2_000_000_000u32
        )
            .prop_map(|(m, n)| DateTime::from_timestamp(m * 60 + 59, n)),
        (1_600_000_000..1_900_000_000i64).prop_map(|s| DateTime::from_timestamp(s, 0)),
    ]
    .prop_filter_map("an instant chrono has", |at| at)
}

fn event() -> impl Strategy<Value = Event> {
    (
        any::<u64>(),
        any::<u64>(),
        instant(),
        kind(),
        proptest::collection::vec((attr_name(), attr_value()), 0..4),
    )
        .prop_map(|(id, user, at, kind, attrs)| {
            let mut e = Event::new(EventId(id), UserId(user), at, kind);
            for (k, v) in attrs {
                e = e.with_attr(k.as_str(), v);
            }
            e
        })
}

proptest! {
    #[test]
    fn events_are_their_fields_in_json_and_read_back(e in event()) {
        let v = serde_json::to_value(&e).unwrap_or_else(|err| panic!("{e:?}: {err}"));
        let mut want = json!({
            "id": e.id.get(),
            "user": e.user.get(),
            "at": e.at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
            "kind": serde_json::to_value(&e.kind).unwrap_or_default(),
        });
        if !e.attrs.is_empty() {
            want["attrs"] = serde_json::to_value(&e.attrs).unwrap_or_default();
        }
        // chrono writes its own RFC 3339 (a `Z`, or `+00:00`): compare the
        // instants, then the rest.
        let at: DateTime<Utc> = serde_json::from_value(v["at"].clone()).unwrap_or_else(|err| panic!("{v}: {err}"));
        prop_assert_eq!(at, e.at);
        let (mut v2, mut want2) = (v.clone(), want);
        v2["at"] = json!(null);
        want2["at"] = json!(null);
        prop_assert_eq!(v2, want2);
        let text = serde_json::to_string(&e).unwrap_or_default();
        let back: Event = serde_json::from_str(&text).unwrap_or_else(|err| panic!("{text}: {err}"));
        prop_assert_eq!(back, e.clone());
        prop_assert!(Event::new(e.id, e.user, e.at, e.kind.clone()).attrs.is_empty());
    }

    /// Cut or damaged JSON is an error, never a panic.
    #[test]
    fn damaged_events_are_errors_not_panics(
        e in event(),
        cut in any::<prop::sample::Index>(),
        at in any::<prop::sample::Index>(),
        with in prop_oneof![Just('"'), Just('}'), Just(':'), Just('9'), Just('-'), Just('x')],
    ) {
        let text = serde_json::to_string(&e).unwrap_or_default();
        let chars: Vec<char> = text.chars().collect();
        let short: String = chars[..cut.index(chars.len())].iter().collect();
        prop_assert!(serde_json::from_str::<Event>(&short).is_err());
        let mut damaged = chars.clone();
        damaged[at.index(chars.len())] = with;
        let damaged: String = damaged.into_iter().collect();
        let _ = serde_json::from_str::<Event>(&damaged);
        let _ = serde_json::from_str::<EventKind>(&damaged);
    }
}

/// What reading an event rejects, and that the error names the problem.
#[test]
fn events_reject_what_they_cannot_be() {
    let ok = json!({"id": 1, "user": 2, "at": "2026-03-01T09:00:00Z", "kind": {"type": "visited"}});
    assert!(serde_json::from_value::<Event>(ok.clone()).is_ok());
    let with = |key: &str, value: Value| {
        let mut v = ok.clone();
        v[key] = value;
        v
    };
    let cases = [
        (with("id", json!(-1)), "-1"),
        (with("id", json!("1")), "string"),
        (
            with("at", json!("2026-02-30T00:00:00Z")),
            "`2026-02-30T00:00:00Z`",
        ),
        (with("kind", json!({"type": "bought"})), "bought"),
        (with("kind", json!({})), "type"),
        (
            with(
                "kind",
                json!({"type": "purchase", "amount": {"minor": 1, "currency": "usd"}}),
            ),
            "usd",
        ),
        (with("kind", json!({"type": "purchase"})), "amount"),
        (with("attrs", json!({"x": 1.5})), "1.5"),
        (with("attrs", json!([1])), "map"),
        (
            json!({"user": 2, "at": "2026-03-01T09:00:00Z", "kind": {"type": "visited"}}),
            "id",
        ),
    ];
    let mut unnamed = Vec::new();
    for (v, named) in cases {
        let err = serde_json::from_value::<Event>(v.clone())
            .map(|_| ())
            .unwrap_err();
        if !err.to_string().contains(named) {
            unnamed.push(format!("{v}: {err}"));
        }
    }
    assert!(unnamed.is_empty(), "{unnamed:#?}");
}

// -------------------------------------------------------------------- ids

proptest! {
    #[test]
    fn ids_are_their_integers(a in any::<u64>(), b in any::<u64>()) {
        macro_rules! check {
            ($ty:ident, $prefix:literal) => {{
                let (x, y) = ($ty(a), $ty::from(b));
                prop_assert_eq!(x.cmp(&y), a.cmp(&b));
                prop_assert_eq!(x == y, a == b);
                prop_assert_eq!(x.get(), a);
                prop_assert_eq!(u64::from(y), b);
                prop_assert_eq!(x.to_string(), format!("{}#{}", $prefix, a));
                prop_assert_eq!(format!("{x:?}"), format!("{}#{}", $prefix, a));
                prop_assert_eq!(format!("{x:>30}"), format!("{:>30}", format!("{}#{}", $prefix, a)));
                let json = serde_json::to_string(&x).unwrap_or_default();
                prop_assert_eq!(&json, &a.to_string());
                prop_assert_eq!(serde_json::from_str::<$ty>(&json).ok(), Some(x));
                let map = HashMap::from([(x, 1)]);
                prop_assert_eq!(map.get(&$ty(a)), Some(&1));
                prop_assert_eq!($ty::default(), $ty(0));
                prop_assert!(serde_json::from_str::<$ty>("-1").is_err());
                prop_assert!(serde_json::from_str::<$ty>("1.5").is_err());
            }};
        }
        check!(UserId, "user");
        check!(CommunityId, "community");
        check!(EventId, "event");
        check!(ContentId, "content");
        check!(CouponId, "coupon");
        check!(TopicId, "topic");
    }
}

// ------------------------------------------------------------- offsets

/// `+HH:MM` or `-HH:MM`, ASCII digits, minutes below 60, under 24 hours.
fn offset_model(text: &str) -> Option<i32> {
    let b = text.as_bytes();
    if b.len() != 6 || b[3] != b':' || !(b[0] == b'+' || b[0] == b'-') {
        return None;
    }
    let digit = |i: usize| b[i].is_ascii_digit().then(|| i32::from(b[i] - b'0'));
    let (h, m) = (digit(1)? * 10 + digit(2)?, digit(4)? * 10 + digit(5)?);
    if m >= 60 || h >= 24 {
        return None;
    }
    let s = h * 3600 + m * 60;
    Some(if b[0] == b'-' { -s } else { s })
}

fn offset_text(seconds: i32) -> String {
    let sign = if seconds < 0 { '-' } else { '+' };
    let s = seconds.abs();
    format!("{sign}{:02}:{:02}", s / 3600, s / 60 % 60)
}

proptest! {
    #[test]
    fn offsets_parse_exactly_the_documented_form(text in prop_oneof![
        "[+-][0-2][0-9]:[0-6][0-9]",
        "[+-]?[0-9]{1,2}:?[0-9]{0,2}",
        "[+-][0-9+-]{2}:[0-9+-]{2}",
        Just("Z".to_owned()),
        Just("UTC".to_owned()),
        any::<String>(),
    ]) {
        match (text.parse::<UtcOffset>(), offset_model(&text)) {
            (Ok(off), Some(s)) => {
                prop_assert_eq!(off.seconds(), s);
                prop_assert_eq!(off.zone().local_minus_utc(), s);
                prop_assert_eq!(off.to_string(), offset_text(s));
                let json = serde_json::to_string(&off).unwrap_or_default();
                prop_assert_eq!(&json, &format!("\"{}\"", offset_text(s)));
                prop_assert_eq!(serde_json::from_str::<UtcOffset>(&json).ok(), Some(off));
                prop_assert_eq!(UtcOffset::from_seconds(s), Some(off));
            }
            (Err(e), None) => {
                prop_assert!(e.to_string().contains(&format!("`{text}`")), "{}", e);
                let json = serde_json::to_string(&text).unwrap_or_default();
                prop_assert!(serde_json::from_str::<UtcOffset>(&json).is_err());
            }
            (got, want) => prop_assert!(false, "{:?}: got {:?}, wanted {:?}", text, got, want),
        }
    }

    #[test]
    fn offsets_from_seconds_are_whole_minutes_within_a_day(
        s in prop_oneof![-90_000..90_000i32, any::<i32>(), (-1_440..=1_440i32).prop_map(|m| m * 60)],
        at in instant(),
    ) {
        let want = s % 60 == 0 && s.abs() < 86_400;
        match UtcOffset::from_seconds(s) {
            Some(off) => {
                prop_assert!(want, "{}", s);
                prop_assert_eq!(off.seconds(), s);
                prop_assert_eq!(off.to_string().parse::<UtcOffset>().ok(), Some(off));
                prop_assert_eq!(format!("{off:?}"), format!("UtcOffset({})", offset_text(s)));
                // The zone gives the same local days as the numbers do.
                let zone = off.zone();
                prop_assert_eq!(LocalDay::of(at, &zone), LocalDay::of_offset_seconds(at.timestamp(), s));
                // chrono's local time (a leap second stays one, on the day
                // of the second it extends; `checked_add_signed` would carry
                // it into the next second).
                if let Some(local) = at.naive_utc().checked_add_offset(zone) {
                    prop_assert_eq!(LocalDay::of(at, &zone).date(), local.date());
                }
            }
            None => prop_assert!(!want, "{}", s),
        }
    }
}

#[test]
fn utc_is_the_default_offset() {
    assert_eq!(UtcOffset::default(), UtcOffset::UTC);
    assert_eq!(UtcOffset::UTC.seconds(), 0);
    assert_eq!(UtcOffset::UTC.to_string(), "+00:00");
    assert_eq!("-00:00".parse::<UtcOffset>().ok(), Some(UtcOffset::UTC));
    assert_eq!(
        "+23:59".parse::<UtcOffset>().map(|o| o.seconds()).ok(),
        Some(86_340)
    );
    assert!("+24:00".parse::<UtcOffset>().is_err());
}

// ------------------------------------------------------------------ days

fn first_day() -> i32 {
    LocalDay::from_date(NaiveDate::MIN).number()
}

fn last_day() -> i32 {
    LocalDay::from_date(NaiveDate::MAX).number()
}

fn epoch() -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_else(|| unreachable!())
}

fn day_number() -> impl Strategy<Value = i32> {
    prop_oneof![
        any::<i32>(),
        first_day()..=last_day(),
        -1_000..1_000i32,
        (first_day() - 50..first_day() + 50),
        (last_day() - 50..last_day() + 50),
        Just(i32::MIN),
        Just(i32::MAX),
    ]
}

proptest! {
    /// Adding days is adding to the day number (checked), and within the
    /// calendar it is chrono's date addition.
    #[test]
    fn adding_days_is_chrono_s_date_arithmetic(n in day_number(), k in day_number()) {
        let day = LocalDay::from_number(n);
        let sum = day.checked_add_days(k);
        prop_assert_eq!(sum.map(LocalDay::number), n.checked_add(k));
        let in_calendar = |m: i32| (first_day()..=last_day()).contains(&m);
        if let Some(s) = sum {
            prop_assert_eq!(s.days_since(day), k, "{} + {}", n, k);
            if in_calendar(n) && in_calendar(s.number()) {
                let want = epoch() + TimeDelta::days(i64::from(n) + i64::from(k));
                prop_assert_eq!(s.date(), want);
                prop_assert_eq!(s.weekday(), want.weekday());
            }
        }
        // days_since: the difference, saturated at i32's ends.
        let other = LocalDay::from_number(k);
        let want = (i64::from(n) - i64::from(k)).clamp(i64::from(i32::MIN), i64::from(i32::MAX));
        prop_assert_eq!(i64::from(day.days_since(other)), want);
        if in_calendar(n) && in_calendar(k) {
            prop_assert_eq!(i64::from(day.days_since(other)), (day.date() - other.date()).num_days());
        }
        prop_assert_eq!(day.cmp(&other), n.cmp(&k));
        prop_assert_eq!(LocalDay::from_number(n).number(), n);
    }

    /// The local day of a timestamp at an offset is the floor of the
    /// shifted seconds over 86,400; where chrono has the instant, its
    /// local date.
    #[test]
    fn local_days_of_timestamps_are_chrono_s(
        secs in prop_oneof![
            any::<i64>(),
            Just(i64::MIN),
            Just(i64::MAX),
            DateTime::<Utc>::MIN_UTC.timestamp()..=DateTime::<Utc>::MAX_UTC.timestamp(),
            -1_000_000..1_000_000i64,
        ],
        offset in prop_oneof![any::<i32>(), -86_399..=86_399i32, Just(i32::MIN), Just(i32::MAX)],
    ) {
        let day = LocalDay::of_offset_seconds(secs, offset);
        let floor = (i128::from(secs) + i128::from(offset)).div_euclid(86_400);
        let want = floor.clamp(i128::from(i32::MIN), i128::from(i32::MAX));
        // The docs: saturating only beyond i32's day numbers.
        prop_assert_eq!(i128::from(day.number()), want, "{} {:+}", secs, offset);
        if let (Some(at), Some(zone)) = (DateTime::from_timestamp(secs, 0), FixedOffset::east_opt(offset)) {
            prop_assert_eq!(LocalDay::of(at, &zone), day);
            if let Some(local) = at.naive_utc().checked_add_offset(zone) {
                prop_assert_eq!(day.date(), local.date());
                prop_assert_eq!(LocalDay::from_date(local.date()), day);
            }
        }
    }

    /// A day's weeks and months are chrono's, for any first weekday.
    #[test]
    fn weeks_start_on_the_first_weekday_on_or_before(n in first_day()..=last_day(), first in 0..7u8) {
        let first = Weekday::try_from(first).unwrap_or(Weekday::Mon);
        let day = LocalDay::from_number(n);
        let start = day.week_start(first);
        prop_assert_eq!(start.weekday(), first);
        let back = day.days_since(start);
        prop_assert!((0..7).contains(&back), "{} {:?}: {}", n, first, back);
        let month = day.month_start();
        if (first_day()..=last_day()).contains(&month.number()) {
            prop_assert_eq!(month.date().day(), 1);
            prop_assert_eq!((month.date().year(), month.date().month()), (day.date().year(), day.date().month()));
        }
    }

    /// Beyond chrono's calendar, as documented: weeks are exact but for
    /// those that began before `i32::MIN`; months are the calendar's
    /// first or last; dates saturate.
    #[test]
    fn weeks_and_months_beyond_the_calendar(n in day_number(), first in 0..7u8) {
        let first = Weekday::try_from(first).unwrap_or(Weekday::Mon);
        let day = LocalDay::from_number(n);
        let weekday = (i64::from(epoch().weekday().num_days_from_monday()) + i64::from(n)).rem_euclid(7);
        let back = (weekday - i64::from(first.num_days_from_monday())).rem_euclid(7);
        let start = (i64::from(n) - back).max(i64::from(i32::MIN));
        prop_assert_eq!(i64::from(day.week_start(first).number()), start, "{} {:?}", n, first);
        prop_assert_eq!(i64::from(day.weekday().num_days_from_monday()), weekday);
        let (lo, hi) = (first_day(), last_day());
        if !(lo..=hi).contains(&n) {
            let end = if n < lo { NaiveDate::MIN } else { NaiveDate::MAX };
            prop_assert_eq!(day.date(), end);
            let month = end.with_day(1).unwrap_or(end);
            prop_assert_eq!(day.month_start(), LocalDay::from_date(month));
        }
    }

    /// Days read back from their JSON, as map keys too; text that is no
    /// day is an error naming it, never a panic.
    #[test]
    fn days_read_back_and_reject_what_is_not_a_day(
        n in day_number(),
        junk in prop_oneof![
            any::<String>(),
            "[0-9+-]{1,12}",
            "[0-9]{4}-[0-9]{2}-[0-9]{2}",
            "[ +-]?[0-9]{4,6}-[0-9]{1,2}-[0-9]{1,2} ?",
        ],
    ) {
        let day = LocalDay::from_number(n);
        let json = serde_json::to_string(&day).unwrap_or_default();
        prop_assert_eq!(serde_json::from_str::<LocalDay>(&json).ok(), Some(day));
        let padding = 16usize.saturating_sub(day.to_string().len());
        prop_assert_eq!(format!("{day:>16}"), format!("{}{day}", " ".repeat(padding)));
        let as_text = serde_json::to_string(&junk).unwrap_or_default();
        match serde_json::from_str::<LocalDay>(&as_text) {
            Ok(read) => {
                // Only a date chrono reads, or the number of a day that
                // has none (beyond chrono's calendar).
                let date = junk.parse::<NaiveDate>().ok().map(LocalDay::from_date);
                let number = junk
                    .parse::<i32>()
                    .ok()
                    .filter(|n| !(first_day()..=last_day()).contains(n))
                    .map(LocalDay::from_number);
                prop_assert!(date == Some(read) || number == Some(read), "{:?} read as {:?}", junk, read);
            }
            Err(e) => {
                // The message quotes the text, or names the number's date.
                let named = match junk.parse::<i32>() {
                    Ok(n) => format!("day number {n} is {}", LocalDay::from_number(n)),
                    Err(_) => format!("{junk:?}"),
                };
                prop_assert!(e.to_string().contains(&named), "{}", e);
            }
        }
    }
}

/// Reading a day from a value of the wrong type says what it found.
#[test]
fn days_of_the_wrong_type_are_named_errors() {
    for (bad, shown) in [
        ("1.5", "1.5"),
        ("true", "true"),
        ("null", "null"),
        ("4294967296", "4294967296"),
        ("[]", "sequence"),
    ] {
        let err = serde_json::from_str::<LocalDay>(bad)
            .map(|_| ())
            .unwrap_err();
        assert!(err.to_string().contains(shown), "{bad}: {err}");
    }
}

/// Leap seconds belong to the day of the second they extend, in every
/// offset, and the calendar's ends have days.
#[test]
fn leap_seconds_and_the_calendar_s_ends_have_their_days() {
    let leap = NaiveDate::from_ymd_opt(2016, 12, 31)
        .and_then(|d| d.and_hms_milli_opt(23, 59, 59, 1_500))
        .map(|t| t.and_utc())
        .unwrap_or_else(|| unreachable!());
    for offset in [-86_399, -3_600, 0, 1, 3_600, 86_399] {
        let zone = FixedOffset::east_opt(offset).unwrap_or_else(|| unreachable!());
        let second_before = leap - TimeDelta::milliseconds(500);
        assert_eq!(
            LocalDay::of(leap, &zone),
            LocalDay::of(second_before, &zone),
            "{offset}"
        );
    }
    // A leap second at the end of a minute that is local midnight: the
    // day of 23:59:59, whose second it extends.
    let at = NaiveDate::from_ymd_opt(1876, 12, 20)
        .and_then(|d| d.and_hms_milli_opt(10, 29, 59, 1_000))
        .map(|t| t.and_utc())
        .unwrap_or_else(|| unreachable!());
    let minus = UtcOffset::from_seconds(-37_800).unwrap_or_else(|| unreachable!());
    assert_eq!(LocalDay::of(at, &minus.zone()).to_string(), "1876-12-19");
    for at in [DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC] {
        assert_eq!(LocalDay::of(at, &Utc).date(), at.date_naive());
        let plus = FixedOffset::east_opt(86_399).unwrap_or_else(|| unreachable!());
        let day = LocalDay::of(at, &plus);
        assert_eq!(
            i64::from(day.number()),
            (at.timestamp() + 86_399).div_euclid(86_400)
        );
    }
    assert_eq!(
        Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0)
            .single()
            .map(|t| LocalDay::of(t, &Utc).to_string()),
        Some("2026-03-01".to_owned())
    );
}
