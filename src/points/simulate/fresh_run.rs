//! [`FreshRun`]: a batch's stand-in for a member's window of recent ids.

use crate::dedupe::DedupeWindow;
use crate::event::Event;
use crate::id::EventId;
use crate::points::Ledger;

/// The ledger's window of recent event ids, stood in for over a member's
/// events while their ids and times (in milliseconds, the window's unit)
/// only increase: the common order of a log.
///
/// Over such a run every event is new to the window (no id comes twice,
/// and nothing forgotten is as late as the newest event), so the earning
/// step need neither ask the window nor tell it. The first event out of
/// that order, or the first step that fails, ends the run: the window is
/// then written as the ledger would hold it (every event before was
/// taken and remembered, in order) and judges from there on. A batch
/// needs no window at the end of a member, so a run that never ends
/// writes nothing.
#[derive(Debug)]
pub(super) struct FreshRun {
    /// The newest id and time so far.
    last: Option<(EventId, i64)>,
    /// Whether the run still stands in for the window.
    on: bool,
}

impl Default for FreshRun {
    fn default() -> Self {
        FreshRun {
            last: None,
            on: true,
        }
    }
}

impl FreshRun {
    /// Whether `events[i]` is vouched new to `ledger`'s window; if it
    /// ends the run, the window is written first.
    #[inline]
    pub(super) fn vouch(
        &mut self,
        events: &[Event],
        i: usize,
        ledger: &mut Ledger,
        window: &DedupeWindow,
    ) -> bool {
        if !self.on {
            return false;
        }
        let Some(event) = events.get(i) else {
            return false;
        };
        let now = (event.id, event.at.timestamp_millis());
        if self.last.is_some_and(|(id, ms)| now.0 <= id || now.1 <= ms) {
            self.stop(events.get(..i).unwrap_or_default(), ledger, window);
            return false;
        }
        self.last = Some(now);
        true
    }

    /// Ends the run after `taken`, the events the ledger took so far.
    #[cold]
    pub(super) fn stop(&mut self, taken: &[Event], ledger: &mut Ledger, window: &DedupeWindow) {
        if self.on {
            self.on = false;
            // The member's window started empty; whatever a step wrote
            // into it since is written again, in order.
            ledger.seen.clear();
            for event in taken {
                ledger.seen.remember(event.id, event.at, window);
            }
        }
    }
}
