//! Closing a hold before or after the reversal of an award it holds points
//! of ends alike (the `Hold` docs' promise), over a grid of cases: every
//! clawback policy; with no other points, a few, or plenty; holds of part
//! or all of what is left, some spanning the award's lot and another;
//! part of the award spent first or not; a whole reversal or a share;
//! closed by capture or by release; and with the award's lot expiring
//! between the hold and the close or not.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use growthkit::points::{Ledger, Portion, Program, ProgramSpec};
use growthkit::{Event, EventId, EventKind, Money, UserId};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap()
}

/// A purchase earns one point per yuan, expiring after two days; a visit
/// earns `visit` points that never expire.
fn program(visit: u64, clawback: &str) -> Program {
    serde_json::from_str::<ProgramSpec>(&format!(
        r#"{{ "ledger": {{ "clawback": "{clawback}" }},
             "rules": [
               {{ "name": "visit", "on": "visited", "reward": {{ "type": "fixed", "points": {visit} }} }},
               {{ "name": "buy", "on": "purchase", "expiry": {{ "type": "after_days", "days": 2 }},
                  "reward": {{ "type": "per_amount", "points": 1, "per_minor": 100, "rounding": "down" }} }}
             ] }}"#
    ))
    .unwrap()
    .validate()
    .unwrap()
}

#[derive(Clone, Copy, Debug)]
struct Case {
    clawback: &'static str,
    /// The visit's points (0: no visit).
    other: u64,
    hold: u64,
    spend: u64,
    share: Option<(u64, u64)>,
    capture: bool,
    /// Whether the reversal and the close come after the purchase's lot
    /// expired.
    expired: bool,
}

/// The ledger's figures after the case, closing first or reversing first;
/// `None` if the hold cannot be made.
fn run(case: Case, close_first: bool) -> Option<(i128, [u64; 5])> {
    let p = program(case.other.max(1), case.clawback);
    let mut l = p.new_ledger();
    let cny = "CNY".parse().unwrap();
    let buy = EventKind::Purchase {
        amount: Money::new(10_000, cny),
    };
    p.apply(&mut l, &Event::new(EventId(1), UserId(1), t0(), buy))
        .unwrap();
    if case.other > 0 {
        let visit = Event::new(EventId(2), UserId(1), t0(), EventKind::Visited);
        p.apply(&mut l, &visit).unwrap();
    }
    let minutes = |m| t0() + TimeDelta::minutes(m);
    if case.spend > 0 {
        l.redeem("spent".into(), case.spend, minutes(1))
            .map(|r| r.to_redemption())
            .ok()?;
    }
    l.hold("order".into(), case.hold, minutes(2)).ok()?;
    let now = match case.expired {
        true => t0() + TimeDelta::days(3),
        false => minutes(3),
    };
    let portion = match case.share {
        None => Portion::Whole {},
        Some((numerator, denominator)) => Portion::Share {
            numerator,
            denominator,
        },
    };
    let close = |l: &mut Ledger| match case.capture {
        true => {
            let first = l
                .capture("order".into(), now)
                .map(|r| r.to_redemption())
                .unwrap();
            let again = l
                .capture("order".into(), now)
                .map(|r| r.to_redemption())
                .unwrap();
            assert_eq!(again.entries, first.entries, "{case:?}");
        }
        false => {
            l.release("order".into(), now).unwrap();
        }
    };
    if close_first {
        close(&mut l);
    }
    p.reverse(&mut l, "refund".into(), EventId(1), portion, now)
        .unwrap();
    if !close_first {
        close(&mut l);
    }
    assert_eq!(l.check(), Ok(()), "{case:?}");
    let signed: i128 = l.statement().map(|e| e.signed_points()).sum();
    assert_eq!(
        signed,
        l.balance(now),
        "{case:?}, close first: {close_first}"
    );
    let back: Ledger = serde_json::from_str(&serde_json::to_string(&l).unwrap()).unwrap();
    assert_eq!(back, l, "{case:?}");
    let figures = [
        l.owed(),
        l.forgiven(),
        l.reversed(),
        l.expired(),
        l.redeemed(),
    ];
    Some((l.balance(now), figures))
}

#[test]
fn closing_a_hold_before_or_after_a_reversal_ends_alike() {
    let mut cases = 0;
    for clawback in ["clamp", "debt", "negative_balance"] {
        for other in [0, 30, 200] {
            for hold in [10, 50, 100] {
                for spend in [0, 20, 60] {
                    for share in [None, Some((1, 2)), Some((1, 3))] {
                        for capture in [false, true] {
                            for expired in [false, true] {
                                let case = Case {
                                    clawback,
                                    other,
                                    hold,
                                    spend,
                                    share,
                                    capture,
                                    expired,
                                };
                                let close_first = run(case, true);
                                assert_eq!(close_first, run(case, false), "{case:?}");
                                cases += usize::from(close_first.is_some());
                            }
                        }
                    }
                }
            }
        }
    }
    // Most holds can be made: the grid is not vacuous.
    assert!(cases > 700, "{cases} cases ran");
}
