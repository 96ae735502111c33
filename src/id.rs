//! Newtype identifiers.
//!
//! Every id is a `u64` behind a distinct type, so a [`UserId`] can never be
//! passed where a [`CommunityId`] is expected. They are `Copy`, hash and order
//! like the integer inside, and serialize transparently (a `UserId(42)` is the
//! JSON number `42`).
//!
//! Hosts whose ids are strings or UUIDs keep a mapping to `u64` on their side
//! (most databases already have an integer surrogate key); the library only
//! needs identity, never meaning.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(
            Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub u64);

        impl $name {
            /// The raw integer inside.
            #[inline]
            pub const fn get(self) -> u64 {
                self.0
            }
        }

        impl From<u64> for $name {
            #[inline]
            fn from(raw: u64) -> Self {
                Self(raw)
            }
        }

        impl From<$name> for u64 {
            #[inline]
            fn from(id: $name) -> u64 {
                id.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($prefix, "#{}"), self.0)
            }
        }

        impl fmt::Display for $name {
            /// `prefix#n`; width and alignment apply (`{:<10}`).
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.pad(&format!(concat!($prefix, "#{}"), self.0))
            }
        }
    };
}

id_type!(
    /// A user of the host's product.
    ///
    /// ```
    /// use growthkit::UserId;
    /// let id = UserId(7);
    /// assert_eq!(id.to_string(), "user#7");
    /// assert_eq!(serde_json::to_string(&id).unwrap(), "7");
    /// ```
    UserId,
    "user"
);
id_type!(
    /// A community: a study group, a developer forum, a fan club.
    CommunityId,
    "community"
);
id_type!(
    /// One fact the host feeds in. Two events with the same id are the same
    /// event: applying it again changes nothing.
    EventId,
    "event"
);
id_type!(
    /// A piece of content: a post, a lesson, an article, a video.
    ContentId,
    "content"
);
id_type!(
    /// A coupon or offer code, as the host numbers them.
    CouponId,
    "coupon"
);
id_type!(
    /// A topic or tag that content belongs to.
    TopicId,
    "topic"
);

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn ids_are_transparent_in_json_and_usable_as_keys() {
        let mut m = HashMap::new();
        m.insert(UserId(1), "a");
        assert_eq!(m[&UserId::from(1)], "a");
        let json = serde_json::to_string(&EventId(99)).unwrap();
        assert_eq!(json, "99");
        let back: EventId = serde_json::from_str(&json).unwrap();
        assert_eq!(back, EventId(99));
        assert_eq!(format!("{:?}", CommunityId(3)), "community#3");
        assert_eq!(u64::from(ContentId(5)), 5);
        assert_eq!(format!("{:<9}|", UserId(7)), "user#7   |");
    }
}
