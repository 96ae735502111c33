//! The event vocabulary of the analytics tests (`analytics_properties`,
//! `analytics_reference`): five kinds, and patterns that pick them out.

use growthkit::{EventKind, KindPattern};

/// One of five kinds: sign-ups, visits, lessons, payments and check-ins.
pub fn kind(index: u8) -> EventKind {
    match index % 5 {
        0 => EventKind::SignedUp,
        1 => EventKind::Visited,
        2 => EventKind::ActionCompleted {
            action: "lesson".into(),
        },
        3 => EventKind::Custom {
            name: "paid".into(),
        },
        _ => EventKind::CheckIn { community: None },
    }
}

/// A pattern for four of those kinds, or for every kind.
pub fn pattern(index: u8) -> KindPattern {
    [
        "signed_up",
        "visited",
        "action_completed:lesson",
        "custom:paid",
        "*",
    ][index as usize % 5]
        .parse()
        .unwrap()
}
