//! The shared vocabulary: the facts a host feeds in.
//!
//! An [`Event`] is one thing a user did, at one instant, with a host-unique
//! [`EventId`]. Every capability of the crate (lifecycle, points, community
//! engagement) reads the same events, so a host records each fact once and
//! routes it everywhere.
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use growthkit::{Event, EventId, EventKind, Money, UserId};
//!
//! let paid = Event::new(
//!     EventId(10),
//!     UserId(1),
//!     Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap(),
//!     EventKind::Purchase { amount: Money::new(9_900, "CNY".parse().unwrap()) },
//! )
//! .with_attr("channel", "wechat");
//! let json = serde_json::to_string(&paid).unwrap();
//! let back: Event = serde_json::from_str(&json).unwrap();
//! assert_eq!(back, paid);
//! assert_eq!(paid.kind.tag().name(), "purchase");
//! ```

use crate::id::{CommunityId, ContentId, CouponId, EventId, UserId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// A short, cheaply cloned piece of text: an action name, a custom event
/// kind, an attribute key. Cloning shares the text instead of copying it.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Label(Arc<str>);

impl Label {
    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether both share one text (one is a clone of the other): a
    /// pointer comparison, which a lookup among a few labels can try on
    /// all of them before it compares text.
    #[inline]
    pub(crate) fn shares_text_with(&self, other: &Label) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// Empty, or only white space: no name a report or a statement could
    /// tell apart, so specs refuse it where a label names something.
    pub(crate) fn is_blank(&self) -> bool {
        self.0.trim().is_empty()
    }
}

impl From<&str> for Label {
    fn from(s: &str) -> Self {
        Label(Arc::from(s))
    }
}

impl From<String> for Label {
    fn from(s: String) -> Self {
        Label(Arc::from(s))
    }
}

// Sound: `Arc<str>` hashes and compares exactly as the `str` it holds, so
// maps keyed by `Label` can be searched with a `&str`.
impl std::borrow::Borrow<str> for Label {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Label {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}

impl Serialize for Label {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Label {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Label::from)
    }
}

/// An ISO 4217 currency code such as `CNY` or `USD`: three ASCII capitals.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Currency([u8; 3]);

impl Currency {
    /// The code as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII capitals are ever stored (see `FromStr`).
        std::str::from_utf8(&self.0).unwrap_or("???")
    }
}

/// The text was not three ASCII capital letters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a currency code (three capital letters, like \"CNY\")")]
pub struct ParseCurrencyError {
    text: String,
}

impl FromStr for Currency {
    type Err = ParseCurrencyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.as_bytes() {
            &[a, b, c] if [a, b, c].iter().all(u8::is_ascii_uppercase) => Ok(Currency([a, b, c])),
            _ => Err(ParseCurrencyError { text: s.to_owned() }),
        }
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// An amount of money in minor units (fen, cents) of one currency.
///
/// Integers only: `¥99.00` is `Money { minor: 9900, currency: CNY }`, so sums
/// are exact and checked.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct Money {
    /// Minor units; negative amounts are allowed (adjustments), zero too.
    pub minor: i64,
    /// The currency.
    pub currency: Currency,
}

impl Money {
    /// An amount of `minor` units of `currency`.
    pub const fn new(minor: i64, currency: Currency) -> Money {
        Money { minor, currency }
    }
}

/// What happened. Each variant carries only what identifies the fact; extra
/// detail goes into [`Event::attrs`].
///
/// In JSON the variant is the `type` field in snake case:
/// `{"type": "purchase", "amount": {"minor": 9900, "currency": "CNY"}}`.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventKind {
    /// The user created an account.
    SignedUp,
    /// The user logged in or visited: activity with no other meaning.
    Visited,
    /// The user completed a lesson or another key action the host names.
    ActionCompleted {
        /// The host's name for the action (`"lesson"`, `"first_project"`).
        action: Label,
    },
    /// The user paid.
    Purchase {
        /// What was paid.
        amount: Money,
    },
    /// Money was returned to the user.
    Refund {
        /// What was returned.
        amount: Money,
    },
    /// The user redeemed a coupon or offer.
    CouponRedeemed {
        /// Which coupon.
        coupon: CouponId,
    },
    /// The user started a free trial.
    TrialStarted,
    /// A daily (study) check-in, in a community or product-wide.
    CheckIn {
        /// Where, if in a community.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        community: Option<CommunityId>,
    },
    /// The user posted new content (a topic, a question, an article).
    Post {
        /// Where, if in a community.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        community: Option<CommunityId>,
        /// The new content.
        content: ContentId,
    },
    /// The user replied to content.
    Reply {
        /// Where, if in a community.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        community: Option<CommunityId>,
        /// The content replied to.
        content: ContentId,
        /// Its author, if known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<UserId>,
    },
    /// The user reacted (liked, upvoted) to content.
    Reaction {
        /// Where, if in a community.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        community: Option<CommunityId>,
        /// The content reacted to.
        content: ContentId,
        /// Its author, if known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<UserId>,
    },
    /// The user shared or forwarded content.
    Share {
        /// Where, if in a community.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        community: Option<CommunityId>,
        /// The content shared.
        content: ContentId,
    },
    /// The user voted in a poll.
    PollVoted {
        /// Where, if in a community.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        community: Option<CommunityId>,
        /// The poll.
        poll: ContentId,
    },
    /// The user attended an event (a live session, a meetup).
    EventAttended {
        /// Where, if in a community.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        community: Option<CommunityId>,
        /// True for an offline meetup, false for an online session.
        offline: bool,
    },
    /// The user accepted someone's invitation.
    InviteAccepted {
        /// Who invited them.
        inviter: UserId,
        /// Into which community, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        community: Option<CommunityId>,
    },
    /// The user viewed content.
    ContentViewed {
        /// The content.
        content: ContentId,
    },
    /// The user clicked through on content.
    ContentClicked {
        /// The content.
        content: ContentId,
    },
    /// Any other fact, by the host's name for it.
    Custom {
        /// The host's name for the kind.
        name: Label,
    },
}

impl EventKind {
    /// The kind without its payload.
    #[inline]
    pub fn tag(&self) -> KindTag {
        match self {
            EventKind::SignedUp => KindTag::SignedUp,
            EventKind::Visited => KindTag::Visited,
            EventKind::ActionCompleted { .. } => KindTag::ActionCompleted,
            EventKind::Purchase { .. } => KindTag::Purchase,
            EventKind::Refund { .. } => KindTag::Refund,
            EventKind::CouponRedeemed { .. } => KindTag::CouponRedeemed,
            EventKind::TrialStarted => KindTag::TrialStarted,
            EventKind::CheckIn { .. } => KindTag::CheckIn,
            EventKind::Post { .. } => KindTag::Post,
            EventKind::Reply { .. } => KindTag::Reply,
            EventKind::Reaction { .. } => KindTag::Reaction,
            EventKind::Share { .. } => KindTag::Share,
            EventKind::PollVoted { .. } => KindTag::PollVoted,
            EventKind::EventAttended { .. } => KindTag::EventAttended,
            EventKind::InviteAccepted { .. } => KindTag::InviteAccepted,
            EventKind::ContentViewed { .. } => KindTag::ContentViewed,
            EventKind::ContentClicked { .. } => KindTag::ContentClicked,
            EventKind::Custom { .. } => KindTag::Custom,
        }
    }

    /// The action name of [`EventKind::ActionCompleted`] or the name of
    /// [`EventKind::Custom`]; `None` for other kinds.
    #[inline]
    pub fn name(&self) -> Option<&Label> {
        match self {
            EventKind::ActionCompleted { action } => Some(action),
            EventKind::Custom { name } => Some(name),
            _ => None,
        }
    }

    /// The community the event happened in, for kinds that can carry one.
    pub fn community(&self) -> Option<CommunityId> {
        match self {
            EventKind::CheckIn { community }
            | EventKind::Post { community, .. }
            | EventKind::Reply { community, .. }
            | EventKind::Reaction { community, .. }
            | EventKind::Share { community, .. }
            | EventKind::PollVoted { community, .. }
            | EventKind::EventAttended { community, .. }
            | EventKind::InviteAccepted { community, .. } => *community,
            _ => None,
        }
    }
}

macro_rules! kind_tags {
    ($($variant:ident => $name:literal),* $(,)?) => {
        /// An [`EventKind`] without its payload: what configuration names.
        ///
        /// Written in snake case (`"purchase"`, `"check_in"`), as in [`EventKind`]'s JSON.
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        #[non_exhaustive]
        pub enum KindTag {
            $(
                #[doc = concat!("Tag of `EventKind::", stringify!($variant), "`.")]
                $variant,
            )*
        }

        impl KindTag {
            /// Every tag, in declaration order.
            pub const ALL: &'static [KindTag] = &[$(KindTag::$variant),*];

            /// The snake-case name used in configuration.
            pub const fn name(self) -> &'static str {
                match self {
                    $(KindTag::$variant => $name,)*
                }
            }
        }
    };
}

kind_tags! {
    SignedUp => "signed_up",
    Visited => "visited",
    ActionCompleted => "action_completed",
    Purchase => "purchase",
    Refund => "refund",
    CouponRedeemed => "coupon_redeemed",
    TrialStarted => "trial_started",
    CheckIn => "check_in",
    Post => "post",
    Reply => "reply",
    Reaction => "reaction",
    Share => "share",
    PollVoted => "poll_voted",
    EventAttended => "event_attended",
    InviteAccepted => "invite_accepted",
    ContentViewed => "content_viewed",
    ContentClicked => "content_clicked",
    Custom => "custom",
}

impl KindTag {
    /// Whether events of this kind carry a name ([`EventKind::name`]).
    pub const fn is_named(self) -> bool {
        matches!(self, KindTag::ActionCompleted | KindTag::Custom)
    }
}

impl fmt::Display for KindTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// Text that does not name an event kind, or a kind pattern that is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseKindError {
    /// No kind has this name.
    #[error("`{name}` is not an event kind (expected one of: {known})")]
    UnknownKind {
        /// The name given.
        name: String,
        /// The names accepted, comma separated.
        known: String,
    },
    /// A name was given to a kind that has none (only `action_completed` and `custom` do).
    #[error("event kind `{kind}` carries no name, so `{text}` can never match")]
    NameNotAllowed {
        /// The kind.
        kind: KindTag,
        /// The whole pattern.
        text: String,
    },
    /// The pattern had an empty name after the colon.
    #[error("`{text}` has an empty name after the colon")]
    EmptyName {
        /// The whole pattern.
        text: String,
    },
}

impl FromStr for KindTag {
    type Err = ParseKindError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        KindTag::ALL
            .iter()
            .copied()
            .find(|t| t.name() == s)
            .ok_or_else(|| ParseKindError::UnknownKind {
                name: s.to_owned(),
                known: KindTag::ALL
                    .iter()
                    .map(|t| t.name())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }
}

/// Which events a rule, trigger or counter listens to.
///
/// Written as text in configuration: `"*"` (every event), a kind (`"purchase"`),
/// or a named kind with its name (`"action_completed:lesson"`, `"custom:invite_sent"`).
/// Kind names are exact (snake case, no spaces); the name is everything
/// after the first colon, colons included (`"custom:a:b"` is named `a:b`),
/// and must not be empty.
///
/// ```
/// use growthkit::{EventKind, KindPattern};
/// let lesson: KindPattern = "action_completed:lesson".parse().unwrap();
/// assert!(lesson.matches(&EventKind::ActionCompleted { action: "lesson".into() }));
/// assert!(!lesson.matches(&EventKind::ActionCompleted { action: "quiz".into() }));
/// assert!("visited:x".parse::<KindPattern>().is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum KindPattern {
    /// Every event.
    Any,
    /// Every event of one kind.
    Kind(KindTag),
    /// Events of a named kind with this name.
    Named(KindTag, Label),
}

impl KindPattern {
    /// Whether an event of this kind matches.
    #[inline]
    pub fn matches(&self, kind: &EventKind) -> bool {
        match self {
            KindPattern::Any => true,
            KindPattern::Kind(tag) => kind.tag() == *tag,
            KindPattern::Named(tag, name) => {
                kind.tag() == *tag && kind.name().is_some_and(|n| n == name)
            }
        }
    }

    /// Whether some event matches both patterns.
    ///
    /// A pattern that gives a name to a kind without one (built in code;
    /// it fails [`KindPattern::check`]) matches no event, so it overlaps
    /// no pattern, not even `*` or itself.
    pub fn overlaps(&self, other: &KindPattern) -> bool {
        use KindPattern::*;
        if self.matches_nothing() || other.matches_nothing() {
            return false;
        }
        match (self, other) {
            (Any, _) | (_, Any) => true,
            (Kind(a), Kind(b)) | (Kind(a), Named(b, _)) | (Named(a, _), Kind(b)) => a == b,
            (Named(a, x), Named(b, y)) => a == b && x == y,
        }
    }

    /// Whether no event matches: a name on a kind that carries none
    /// (an empty name on a named kind still matches events named `""`).
    fn matches_nothing(&self) -> bool {
        matches!(self, KindPattern::Named(tag, _) if !tag.is_named())
    }

    /// Checks the rules a pattern's text form obeys: only a named kind
    /// (`action_completed`, `custom`) takes a name, and the name is not
    /// empty. Every pattern parsed from text passes, and a pattern that
    /// passes writes text that parses back to it; a pattern built in code
    /// that fails would not read back from its own JSON. Configuration that
    /// holds patterns checks each of them with this when validated.
    ///
    /// ```
    /// use growthkit::event::ParseKindError;
    /// use growthkit::{KindPattern, KindTag};
    ///
    /// assert!(KindPattern::Named(KindTag::Custom, "quiz".into()).check().is_ok());
    /// let home = KindPattern::Named(KindTag::Visited, "home".into());
    /// assert!(matches!(home.check(), Err(ParseKindError::NameNotAllowed { .. })));
    /// let blank = KindPattern::Named(KindTag::Custom, "".into());
    /// assert!(matches!(blank.check(), Err(ParseKindError::EmptyName { .. })));
    /// ```
    pub fn check(&self) -> Result<(), ParseKindError> {
        let KindPattern::Named(tag, name) = self else {
            return Ok(());
        };
        if !tag.is_named() {
            return Err(ParseKindError::NameNotAllowed {
                kind: *tag,
                text: self.to_string(),
            });
        }
        if name.as_str().is_empty() {
            return Err(ParseKindError::EmptyName {
                text: self.to_string(),
            });
        }
        Ok(())
    }

    /// Whether every event matching `other` matches this pattern too.
    ///
    /// Every pattern covers one that matches no event (a name given to a
    /// kind without one, which fails [`KindPattern::check`]).
    ///
    /// ```
    /// use growthkit::KindPattern;
    ///
    /// let p = |s: &str| s.parse::<KindPattern>().unwrap();
    /// assert!(p("*").covers(&p("custom:quiz")));
    /// assert!(p("custom").covers(&p("custom:quiz")));
    /// assert!(!p("custom:quiz").covers(&p("custom")));
    /// assert!(!p("visited").covers(&p("*")));
    /// ```
    pub fn covers(&self, other: &KindPattern) -> bool {
        use KindPattern::*;
        if other.matches_nothing() {
            return true;
        }
        match (self, other) {
            (Any, _) => true,
            (_, Any) => false,
            (Kind(a), Kind(b) | Named(b, _)) => a == b,
            (Named(..), Kind(_)) => false,
            (Named(a, x), Named(b, y)) => a == b && x == y,
        }
    }
}

impl FromStr for KindPattern {
    type Err = ParseKindError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "*" {
            return Ok(KindPattern::Any);
        }
        match s.split_once(':') {
            None => s.parse().map(KindPattern::Kind),
            Some((kind, name)) => {
                let pattern = KindPattern::Named(kind.parse()?, Label::from(name));
                // `kind:name` is exactly the text the pattern writes, so the
                // errors quote `s` as given.
                pattern.check()?;
                Ok(pattern)
            }
        }
    }
}

impl fmt::Display for KindPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KindPattern::Any => f.pad("*"),
            KindPattern::Kind(tag) => f.pad(tag.name()),
            KindPattern::Named(tag, name) => f.pad(&format!("{}:{}", tag.name(), name)),
        }
    }
}

impl fmt::Display for EventKind {
    /// The kind's name, or for named kinds the host's name for it
    /// (`purchase`, `lesson`); width and alignment apply.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.pad(name.as_str()),
            None => f.pad(self.tag().name()),
        }
    }
}

impl Serialize for KindPattern {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for KindPattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A set of [`KindPattern`]s compiled for fast matching: kind-only patterns
/// become one bit each, so the common case is a mask test, not a scan.
///
/// ```
/// use growthkit::{EventKind, KindSet};
/// let set = KindSet::new(&["visited".parse().unwrap(), "custom:quiz".parse().unwrap()]);
/// assert!(set.matches(&EventKind::Visited));
/// assert!(set.matches(&EventKind::Custom { name: "quiz".into() }));
/// assert!(!set.matches(&EventKind::TrialStarted));
/// ```
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct KindSet {
    any: bool,
    kinds: u32,
    named: Vec<(KindTag, Label)>,
}

impl KindSet {
    /// Compiles `patterns`; an empty list matches nothing.
    pub fn new(patterns: &[KindPattern]) -> KindSet {
        let mut set = KindSet::default();
        for p in patterns {
            match p {
                KindPattern::Any => set.any = true,
                KindPattern::Kind(tag) => set.kinds |= 1 << (*tag as u32),
                KindPattern::Named(tag, name) => set.named.push((*tag, name.clone())),
            }
        }
        set
    }

    /// Whether any pattern in the set matches.
    #[inline]
    pub fn matches(&self, kind: &EventKind) -> bool {
        let tag = kind.tag();
        self.any
            || self.kinds & (1 << (tag as u32)) != 0
            || (!self.named.is_empty()
                && self
                    .named
                    .iter()
                    .any(|(t, n)| *t == tag && kind.name() == Some(n)))
    }
}

// KindSet keeps one bit per tag in a u32.
const _: () = assert!(KindTag::ALL.len() <= 32);

/// A typed attribute value.
///
/// In JSON the value itself: `true`, `25`, `"wechat"`. Reading anything
/// else (a fraction, `null`, a list, a number beyond `i64`) is an error that
/// names what was found.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize)]
#[serde(untagged)]
pub enum AttrValue {
    /// True or false.
    Bool(bool),
    /// A whole number.
    Int(i64),
    /// Text.
    Text(Label),
}

impl AttrValue {
    /// The text, if this is text.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            AttrValue::Text(t) => Some(t.as_str()),
            _ => None,
        }
    }

    /// The number, if this is a whole number.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            AttrValue::Int(n) => Some(*n),
            _ => None,
        }
    }

    /// The flag, if this is true or false.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            AttrValue::Bool(b) => Some(*b),
            _ => None,
        }
    }
}

impl<'de> Deserialize<'de> for AttrValue {
    /// By the value's own type, rather than by trying each variant in turn
    /// (`untagged`), whose error named none of what it found.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ByType;
        impl serde::de::Visitor<'_> for ByType {
            type Value = AttrValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an attribute value: true or false, a whole number (i64) or text")
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<AttrValue, E> {
                Ok(AttrValue::Bool(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<AttrValue, E> {
                Ok(AttrValue::Int(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<AttrValue, E> {
                i64::try_from(v)
                    .map(AttrValue::Int)
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Unsigned(v), &self))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<AttrValue, E> {
                Ok(AttrValue::Text(v.into()))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<AttrValue, E> {
                Ok(AttrValue::Text(v.into()))
            }
        }
        d.deserialize_any(ByType)
    }
}

impl From<bool> for AttrValue {
    fn from(v: bool) -> Self {
        AttrValue::Bool(v)
    }
}

impl From<i64> for AttrValue {
    fn from(v: i64) -> Self {
        AttrValue::Int(v)
    }
}

impl From<&str> for AttrValue {
    fn from(v: &str) -> Self {
        AttrValue::Text(v.into())
    }
}

impl From<Label> for AttrValue {
    fn from(v: Label) -> Self {
        AttrValue::Text(v)
    }
}

/// Extra detail on an event: a small map from name to typed value
/// (`channel = "wechat"`, `lesson_minutes = 25`). Empty costs nothing.
///
/// Kept as a short list rather than a hash map: events carry a handful of
/// attributes, and a linear scan over a few is faster than hashing.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Default)]
pub struct Attributes(Vec<(Label, AttrValue)>);

impl Attributes {
    /// No attributes.
    pub const fn new() -> Attributes {
        Attributes(Vec::new())
    }

    /// The value of `name`, if set.
    pub fn get(&self, name: &str) -> Option<&AttrValue> {
        self.0
            .iter()
            .find(|(k, _)| k.as_str() == name)
            .map(|(_, v)| v)
    }

    /// Sets `name` to `value`, replacing an earlier value.
    pub fn set(&mut self, name: impl Into<Label>, value: impl Into<AttrValue>) {
        let name = name.into();
        let value = value.into();
        match self.0.iter_mut().find(|(k, _)| *k == name) {
            Some(slot) => slot.1 = value,
            None => self.0.push((name, value)),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Every attribute, in the order set.
    pub fn iter(&self) -> impl Iterator<Item = (&Label, &AttrValue)> {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

impl Serialize for Attributes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

impl<'de> Deserialize<'de> for Attributes {
    /// In the order written, which is the order set, so a round trip is the
    /// identity; a name written twice keeps its last value, as
    /// [`Attributes::set`] does.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct InOrder;
        impl<'de> serde::de::Visitor<'de> for InOrder {
            type Value = Attributes;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map from attribute name to value")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Attributes, A::Error> {
                let (mut names, mut values) = (Vec::new(), Vec::new());
                while let Some((name, value)) = map.next_entry::<Label, AttrValue>()? {
                    names.push(name);
                    values.push(Some(value));
                }
                // A name written again moves its last value to its first
                // place. Sorted positions, not `set` per entry: hostile
                // input with many names stays O(n log n).
                let mut by_name: Vec<usize> = (0..names.len()).collect();
                by_name.sort_by(|&a, &b| names[a].cmp(&names[b]));
                for same in by_name.chunk_by(|&a, &b| names[a] == names[b]) {
                    if let (Some(&first), Some(&last)) = (same.first(), same.last())
                        && first != last
                    {
                        let value = values[last].take();
                        for &i in same {
                            values[i] = None;
                        }
                        values[first] = value;
                    }
                }
                let kept = names
                    .into_iter()
                    .zip(values)
                    .filter_map(|(k, v)| Some((k, v?)));
                Ok(Attributes(kept.collect()))
            }
        }
        d.deserialize_map(InOrder)
    }
}

/// One fact about one user at one instant.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct Event {
    /// Unique per fact: the same id twice is the same event, applied once.
    pub id: EventId,
    /// Who did it.
    pub user: UserId,
    /// When it happened (not when it was received). In JSON an RFC 3339
    /// instant (`"2026-03-01T09:00:00Z"`, any offset); text that is not one
    /// is an error quoting it.
    #[serde(deserialize_with = "rfc3339")]
    pub at: DateTime<Utc>,
    /// What happened.
    pub kind: EventKind,
    /// Extra detail.
    #[serde(default, skip_serializing_if = "Attributes::is_empty")]
    pub attrs: Attributes,
}

/// An instant as chrono reads one (RFC 3339 with any offset), with an
/// error that quotes the text: chrono's own says only "input is out of
/// range" or "premature end of input".
fn rfc3339<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    struct Instant;
    impl serde::de::Visitor<'_> for Instant {
        type Value = DateTime<Utc>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an RFC 3339 instant like \"2026-03-01T09:00:00Z\"")
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<DateTime<Utc>, E> {
            v.parse::<DateTime<chrono::FixedOffset>>()
                .map(|at| at.with_timezone(&Utc))
                .map_err(|e| {
                    E::custom(format_args!(
                        "`{v}` is not an RFC 3339 instant like \"2026-03-01T09:00:00Z\" ({e})"
                    ))
                })
        }
    }
    d.deserialize_str(Instant)
}

impl Event {
    /// An event with no attributes.
    pub fn new(id: EventId, user: UserId, at: DateTime<Utc>, kind: EventKind) -> Event {
        Event {
            id,
            user,
            at,
            kind,
            attrs: Attributes::new(),
        }
    }

    /// The same event with one more attribute.
    pub fn with_attr(mut self, name: impl Into<Label>, value: impl Into<AttrValue>) -> Event {
        self.attrs.set(name, value);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_read_back_in_the_order_set() {
        let mut attrs = Attributes::new();
        attrs.set("zeta", 1_i64);
        attrs.set("alpha", "wechat");
        attrs.set("mid", true);
        let json = serde_json::to_string(&attrs).unwrap();
        assert_eq!(json, r#"{"zeta":1,"alpha":"wechat","mid":true}"#);
        assert_eq!(serde_json::from_str::<Attributes>(&json).unwrap(), attrs);
    }

    #[test]
    fn a_name_written_twice_keeps_its_first_place_and_last_value_as_set_does() {
        let read: Attributes =
            serde_json::from_str(r#"{"a":1,"b":2,"a":3,"c":4,"b":5,"a":6}"#).unwrap();
        let mut set = Attributes::new();
        for (name, value) in [("a", 1), ("b", 2), ("a", 3), ("c", 4), ("b", 5), ("a", 6)] {
            set.set(name, value as i64);
        }
        assert_eq!(read, set);
        let names: Vec<&str> = read.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!(read.get("a"), Some(&AttrValue::from(6_i64)));
    }

    #[test]
    fn every_tag_name_parses_back_and_matches_serde() {
        for &tag in KindTag::ALL {
            assert_eq!(tag.name().parse::<KindTag>().unwrap(), tag);
            let json = serde_json::to_string(&tag).unwrap();
            assert_eq!(json, format!("\"{}\"", tag.name()));
        }
        let err = "bought".parse::<KindTag>().unwrap_err().to_string();
        assert!(
            err.contains("`bought`") && err.contains("purchase"),
            "{err}"
        );
    }

    #[test]
    fn event_kind_json_uses_the_tag_names() {
        let kind = EventKind::CheckIn {
            community: Some(CommunityId(4)),
        };
        let json = serde_json::to_string(&kind).unwrap();
        assert_eq!(json, r#"{"type":"check_in","community":4}"#);
        let plain: EventKind = serde_json::from_str(r#"{"type":"check_in"}"#).unwrap();
        assert_eq!(plain, EventKind::CheckIn { community: None });
        assert_eq!(kind.community(), Some(CommunityId(4)));
    }

    #[test]
    fn patterns_match_overlap_and_round_trip() {
        let any: KindPattern = "*".parse().unwrap();
        let visit: KindPattern = "visited".parse().unwrap();
        let lesson: KindPattern = "action_completed:lesson".parse().unwrap();
        let actions: KindPattern = "action_completed".parse().unwrap();
        let quiz: KindPattern = "action_completed:quiz".parse().unwrap();
        assert!(any.overlaps(&visit) && actions.overlaps(&lesson) && lesson.overlaps(&actions));
        assert!(!lesson.overlaps(&quiz) && !visit.overlaps(&lesson));
        assert!(visit.matches(&EventKind::Visited));
        for p in [any, visit, lesson, actions, quiz] {
            let json = serde_json::to_string(&p).unwrap();
            assert_eq!(serde_json::from_str::<KindPattern>(&json).unwrap(), p);
        }
        assert!(matches!(
            "custom:".parse::<KindPattern>(),
            Err(ParseKindError::EmptyName { .. })
        ));
        assert!(matches!(
            "purchase:big".parse::<KindPattern>(),
            Err(ParseKindError::NameNotAllowed {
                kind: KindTag::Purchase,
                ..
            })
        ));
    }

    #[test]
    fn a_pattern_passes_its_check_exactly_when_its_text_reads_back() {
        let named = |tag, name: &str| KindPattern::Named(tag, name.into());
        for p in [
            KindPattern::Any,
            KindPattern::Kind(KindTag::Visited),
            named(KindTag::Custom, "quiz"),
            named(KindTag::ActionCompleted, "a:b"),
            named(KindTag::Custom, "*"),
        ] {
            assert_eq!(p.check(), Ok(()), "{p}");
            assert_eq!(p.to_string().parse::<KindPattern>(), Ok(p));
        }
        for p in [
            named(KindTag::Visited, "home"),
            named(KindTag::Custom, ""),
            named(KindTag::ActionCompleted, ""),
            named(KindTag::Purchase, ""),
        ] {
            let err = p.check().unwrap_err();
            // The same error, quoting the same text, as reading it back.
            assert_eq!(p.to_string().parse::<KindPattern>(), Err(err), "{p}");
        }
        assert_eq!(
            named(KindTag::Visited, "home").check(),
            Err(ParseKindError::NameNotAllowed {
                kind: KindTag::Visited,
                text: "visited:home".into()
            })
        );
    }

    #[test]
    fn a_pattern_that_matches_nothing_overlaps_nothing_and_is_covered_by_all() {
        // A name on a kind without names (built in code) matches no event.
        let home = KindPattern::Named(KindTag::Visited, "home".into());
        assert!(!home.matches(&EventKind::Visited));
        let p = |s: &str| s.parse::<KindPattern>().unwrap();
        for other in [p("*"), p("visited"), p("custom:home"), home.clone()] {
            assert!(!home.overlaps(&other), "{other}");
            assert!(!other.overlaps(&home), "{other}");
            assert!(other.covers(&home), "{other}");
        }
        assert!(!home.covers(&p("visited")) && !home.covers(&p("*")));
        // An empty name on a named kind matches the kinds named "".
        let blank = KindPattern::Named(KindTag::Custom, "".into());
        assert!(blank.matches(&EventKind::Custom { name: "".into() }));
        assert!(blank.overlaps(&p("custom")) && !p("visited").covers(&blank));
    }

    #[test]
    fn attribute_values_that_cannot_be_read_say_what_they_were() {
        for (bad, shown) in [
            ("1.5", "floating point `1.5`"),
            ("null", "null"),
            ("18446744073709551615", "18446744073709551615"),
            ("[true]", "sequence"),
        ] {
            let err = serde_json::from_str::<AttrValue>(bad)
                .unwrap_err()
                .to_string();
            assert!(err.contains(shown), "{bad}: {err}");
            let event = format!(
                r#"{{"id":1,"user":2,"at":"2026-03-01T09:00:00Z","kind":{{"type":"visited"}},"attrs":{{"x":{bad}}}}}"#
            );
            let err = serde_json::from_str::<Event>(&event)
                .unwrap_err()
                .to_string();
            assert!(err.contains(shown), "{event}: {err}");
        }
        // What reads, reads as before, the widest whole numbers too.
        for (good, value) in [
            ("true", AttrValue::Bool(true)),
            ("-9223372036854775808", AttrValue::Int(i64::MIN)),
            ("9223372036854775807", AttrValue::Int(i64::MAX)),
            ("\"12\"", AttrValue::Text("12".into())),
        ] {
            assert_eq!(serde_json::from_str::<AttrValue>(good).unwrap(), value);
        }
    }

    #[test]
    fn an_instant_that_cannot_be_read_is_quoted() {
        let event =
            |at: &str| format!(r#"{{"id":1,"user":2,"at":{at},"kind":{{"type":"visited"}}}}"#);
        for bad in ["\"2026-02-30T00:00:00Z\"", "\"2026-03-01\"", "\"\""] {
            let err = serde_json::from_str::<Event>(&event(bad))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(&format!("`{}`", &bad[1..bad.len() - 1])),
                "{bad}: {err}"
            );
        }
        let err = serde_json::from_str::<Event>(&event("12"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("integer `12`"), "{err}");
        // Any offset, and a leap second, as chrono reads them.
        let read = serde_json::from_str::<Event>(&event("\"2026-03-01T17:00:00+08:00\""));
        assert_eq!(
            read.unwrap().at,
            "2026-03-01T09:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        let leap = serde_json::from_str::<Event>(&event("\"2016-12-31T23:59:60.5Z\""));
        assert_eq!(leap.unwrap().at.timestamp_subsec_millis(), 1_500);
    }

    #[test]
    fn attributes_set_replace_and_serialize_as_a_map() {
        let mut a = Attributes::new();
        a.set("channel", "ads");
        a.set("minutes", 25_i64);
        a.set("channel", "wechat");
        assert_eq!(a.len(), 2);
        assert_eq!(a.get("channel"), Some(&AttrValue::Text("wechat".into())));
        assert_eq!(a.get("channel").and_then(AttrValue::as_str), Some("wechat"));
        assert_eq!(a.get("minutes").and_then(AttrValue::as_int), Some(25));
        assert_eq!(a.get("minutes").and_then(AttrValue::as_bool), None);
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(json, r#"{"channel":"wechat","minutes":25}"#);
    }

    #[test]
    fn currency_codes_are_checked() {
        assert_eq!("USD".parse::<Currency>().unwrap().to_string(), "USD");
        for bad in ["usd", "US", "USDT", "U$D"] {
            assert!(bad.parse::<Currency>().is_err(), "{bad}");
        }
    }
}
