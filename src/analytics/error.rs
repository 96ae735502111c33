use crate::event::ParseKindError;

/// An analytics specification that cannot be used, or two values that cannot
/// be merged. Each message names the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AnalyticsError {
    /// A funnel needs at least two steps to convert between.
    #[error("funnel `steps` needs at least 2 patterns, got {given}")]
    TooFewSteps {
        /// How many steps were given.
        given: usize,
    },
    /// A funnel has more steps than the library tracks.
    #[error("funnel `steps` allows at most {max} patterns, got {given}")]
    TooManySteps {
        /// How many steps were given.
        given: usize,
        /// The most allowed.
        max: usize,
    },
    /// A conversion window of zero lets nobody past step 1.
    #[error("funnel `window_seconds` must be at least 1")]
    ZeroWindow,
    /// The conversion window is longer than the library supports.
    #[error("funnel `window_seconds` is {given}, more than the maximum {max}")]
    WindowTooLong {
        /// The window given, in seconds.
        given: u64,
        /// The longest allowed, in seconds.
        max: u64,
    },
    /// A list of activity patterns was given but is empty, so nothing would
    /// ever count as activity.
    #[error("`{field}` lists no event patterns; omit it for the default or list at least one")]
    NoActivityPatterns {
        /// The field at fault.
        field: &'static str,
    },
    /// An event pattern that its own text form cannot express (a name on a
    /// kind that carries none, or an empty name), so the specification
    /// holding it would not read back from its JSON.
    #[error("`{}` is not a valid event pattern: {error}", place(.field, .index))]
    InvalidPattern {
        /// The field at fault: `steps`, `entry` or `activity`.
        field: &'static str,
        /// The pattern's position in that list, from 0; `None` for a field
        /// holding one pattern (`entry`).
        index: Option<usize>,
        /// What is wrong with the pattern, as reading its text reports it.
        error: ParseKindError,
    },
    /// A retention table would have more intervals than the library allows.
    #[error("retention `max_n` is {given}, more than the maximum {max}")]
    TooManyIntervals {
        /// The `max_n` given.
        given: u32,
        /// The largest allowed.
        max: u32,
    },
    /// The stickiness window is empty or too long.
    #[error("stickiness `window_days` must be between 1 and {max}, got {given}")]
    WindowDaysOutOfRange {
        /// The window given, in days.
        given: u32,
        /// The longest allowed.
        max: u32,
    },
    /// The stickiness window reaches before the first representable day.
    #[error("stickiness `last_day` {last_day} is too early for a window of {window_days} days")]
    WindowBeforeCalendar {
        /// The last day given.
        last_day: crate::time::LocalDay,
        /// The window given, in days.
        window_days: u32,
    },
    /// Two values built from different specifications (or a different
    /// `as_of`) cannot be merged.
    #[error("cannot merge {what}: they were built from different specifications")]
    SpecMismatch {
        /// What was being merged (`"funnel tallies"`, ...).
        what: &'static str,
    },
    /// A deserialized tally's numbers do not fit its own specification.
    #[error("malformed {what}: {detail}")]
    MalformedTally {
        /// Which kind of tally.
        what: &'static str,
        /// What is wrong with it.
        detail: String,
    },
}

/// `field[index]`, or `field` alone for a field holding one pattern.
fn place(field: &str, index: &Option<usize>) -> String {
    match index {
        Some(i) => format!("{field}[{i}]"),
        None => field.to_owned(),
    }
}
