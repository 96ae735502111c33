//! Reading a spec's fields so that a value the JSON reader refuses names
//! its field (`field `daily_cap`: ...`) and a refused list element its
//! place (`rules[2]: ...`), as validation's errors do. The reader knows no
//! rule's name before the rule is read, so rules are named by their place.
//!
//! A spec's fields take `#[serde(deserialize_with = "…")]` readers that
//! [`field_readers!`] generates, one line each; the logic is [`named`] and
//! [`numbered`]. A field read this way keeps its `default` (an `Option`
//! field needs one written out: `deserialize_with` turns off serde's
//! "missing is `None`") and is written as before.

use serde::de::{Deserialize, Deserializer, Error, SeqAccess, Visitor};
use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;

/// Reads a `T`, a refusal prefixed with `field `<field>`: `.
pub(crate) fn named<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
    field: &str,
) -> Result<T, D::Error> {
    T::deserialize(deserializer).map_err(|e| D::Error::custom(format_args!("field `{field}`: {e}")))
}

/// Reads a list of `T`, a refused element prefixed with its place
/// (`<field>[2]: `) and anything else refused (not a list at all) with
/// `field `<field>`: `.
pub(crate) fn numbered<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
    field: &'static str,
) -> Result<Vec<T>, D::Error> {
    struct Numbered<'a, T> {
        field: &'static str,
        /// Set when an element was refused (its error already says where).
        element_refused: &'a Cell<bool>,
        element: PhantomData<T>,
    }

    impl<'de, T: Deserialize<'de>> Visitor<'de> for Numbered<'_, T> {
        type Value = Vec<T>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
            loop {
                let i = items.len();
                match seq.next_element::<T>() {
                    Ok(Some(item)) => items.push(item),
                    Ok(None) => return Ok(items),
                    Err(e) => {
                        self.element_refused.set(true);
                        return Err(A::Error::custom(format_args!("{}[{i}]: {e}", self.field)));
                    }
                }
            }
        }
    }

    let element_refused = Cell::new(false);
    deserializer
        .deserialize_seq(Numbered {
            field,
            element_refused: &element_refused,
            element: PhantomData,
        })
        .map_err(|e| {
            if element_refused.get() {
                e
            } else {
                D::Error::custom(format_args!("field `{field}`: {e}"))
            }
        })
}

/// Generates `deserialize_with` readers, one per line:
/// `fn daily_cap_field = named("daily_cap");` reads the field with
/// [`named`], `fn rules_field = numbered("rules");` a list with
/// [`numbered`].
macro_rules! field_readers {
    () => {};
    (fn $reader:ident = named($field:literal); $($rest:tt)*) => {
        fn $reader<'de, D: serde::Deserializer<'de>, T: serde::Deserialize<'de>>(
            deserializer: D,
        ) -> Result<T, D::Error> {
            $crate::points::fields::named(deserializer, $field)
        }
        $crate::points::fields::field_readers!($($rest)*);
    };
    (fn $reader:ident = numbered($field:literal); $($rest:tt)*) => {
        fn $reader<'de, D: serde::Deserializer<'de>, T: serde::Deserialize<'de>>(
            deserializer: D,
        ) -> Result<Vec<T>, D::Error> {
            $crate::points::fields::numbered(deserializer, $field)
        }
        $crate::points::fields::field_readers!($($rest)*);
    };
}

pub(crate) use field_readers;
