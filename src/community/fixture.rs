//! A small JSON reader for the fixtures shipped inside the crate.
//!
//! The library depends on `serde` but not on `serde_json` (a host brings
//! its own format), yet its built-in models and ladders are JSON files read
//! with `include_str!`, so that operators can copy and edit them. This
//! module parses that JSON into a value tree and hands it to any
//! `Deserialize` type. It is strict JSON (no comments, no trailing commas)
//! and returns `None` on any error rather than panicking: the fixtures are
//! checked by unit tests against `serde_json`.

use serde::de::value::{MapDeserializer, SeqDeserializer};
use serde::de::{self, DeserializeOwned, IntoDeserializer, Visitor};
use std::fmt;

/// Parses `json` into a `T`; `None` if it is not valid JSON or not a `T`.
pub(crate) fn parse<T: DeserializeOwned>(json: &str) -> Option<T> {
    let mut p = Parser {
        bytes: json.as_bytes(),
        at: 0,
    };
    let value = p.value(0)?;
    p.skip_ws();
    if p.at != p.bytes.len() {
        return None;
    }
    T::deserialize(value).ok()
}

#[derive(Clone, Debug, PartialEq)]
enum Value {
    Null,
    Bool(bool),
    U64(u64),
    I64(i64),
    F64(f64),
    Str(String),
    Array(Vec<Value>),
    Object(Vec<(String, Value)>),
}

/// Nesting deeper than this is refused (fixtures are a few levels deep).
const MAX_DEPTH: usize = 64;

struct Parser<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.bytes.get(self.at) {
            self.at += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.bytes.get(self.at).copied()
    }

    fn eat(&mut self, b: u8) -> Option<()> {
        (self.peek()? == b).then(|| self.at += 1)
    }

    fn literal(&mut self, word: &str, v: Value) -> Option<Value> {
        let end = self.at.checked_add(word.len())?;
        (self.bytes.get(self.at..end)? == word.as_bytes()).then(|| {
            self.at = end;
            v
        })
    }

    fn value(&mut self, depth: usize) -> Option<Value> {
        if depth > MAX_DEPTH {
            return None;
        }
        match self.peek()? {
            b'n' => self.literal("null", Value::Null),
            b't' => self.literal("true", Value::Bool(true)),
            b'f' => self.literal("false", Value::Bool(false)),
            b'"' => self.string().map(Value::Str),
            b'[' => {
                self.at += 1;
                let mut items = Vec::new();
                if self.eat(b']').is_some() {
                    return Some(Value::Array(items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    if self.eat(b',').is_none() {
                        self.eat(b']')?;
                        return Some(Value::Array(items));
                    }
                }
            }
            b'{' => {
                self.at += 1;
                let mut fields = Vec::new();
                if self.eat(b'}').is_some() {
                    return Some(Value::Object(fields));
                }
                loop {
                    if self.peek()? != b'"' {
                        return None;
                    }
                    let key = self.string()?;
                    self.eat(b':')?;
                    fields.push((key, self.value(depth + 1)?));
                    if self.eat(b',').is_none() {
                        self.eat(b'}')?;
                        return Some(Value::Object(fields));
                    }
                }
            }
            _ => self.number(),
        }
    }

    fn string(&mut self) -> Option<String> {
        self.eat(b'"')?;
        let mut out = String::new();
        loop {
            let start = self.at;
            while let Some(&b) = self.bytes.get(self.at) {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.at += 1;
            }
            out.push_str(std::str::from_utf8(self.bytes.get(start..self.at)?).ok()?);
            match *self.bytes.get(self.at)? {
                b'"' => {
                    self.at += 1;
                    return Some(out);
                }
                b'\\' => {
                    let esc = *self.bytes.get(self.at + 1)?;
                    self.at += 2;
                    out.push(match esc {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hex = self.bytes.get(self.at..self.at + 4)?;
                            self.at += 4;
                            let code =
                                u32::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
                            // Surrogate pairs are not needed by any fixture.
                            char::from_u32(code)?
                        }
                        _ => return None,
                    });
                }
                _ => return None,
            }
        }
    }

    fn number(&mut self) -> Option<Value> {
        let start = self.at;
        while let Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') = self.bytes.get(self.at) {
            self.at += 1;
        }
        let text = std::str::from_utf8(self.bytes.get(start..self.at)?).ok()?;
        if text.is_empty() {
            return None;
        }
        if !text.contains(['.', 'e', 'E']) {
            if let Ok(n) = text.parse::<u64>() {
                return Some(Value::U64(n));
            }
            if let Ok(n) = text.parse::<i64>() {
                return Some(Value::I64(n));
            }
        }
        // std's float parsing is correctly rounded.
        text.parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(Value::F64)
    }
}

/// Why a value is not the type asked for (the text is not kept: callers
/// only learn that a fixture failed, which a unit test turns into a message).
#[derive(Debug)]
pub(crate) struct FixtureError(String);

impl fmt::Display for FixtureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FixtureError {}

impl de::Error for FixtureError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        FixtureError(msg.to_string())
    }
}

impl<'de> IntoDeserializer<'de, FixtureError> for Value {
    type Deserializer = Value;
    fn into_deserializer(self) -> Value {
        self
    }
}

impl<'de> de::Deserializer<'de> for Value {
    type Error = FixtureError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FixtureError> {
        match self {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(b),
            Value::U64(n) => visitor.visit_u64(n),
            Value::I64(n) => visitor.visit_i64(n),
            Value::F64(n) => visitor.visit_f64(n),
            Value::Str(s) => visitor.visit_string(s),
            Value::Array(items) => {
                let mut seq = SeqDeserializer::new(items.into_iter());
                let out = visitor.visit_seq(&mut seq)?;
                seq.end()?;
                Ok(out)
            }
            Value::Object(fields) => {
                let mut map = MapDeserializer::new(fields.into_iter());
                let out = visitor.visit_map(&mut map)?;
                map.end()?;
                Ok(out)
            }
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FixtureError> {
        match self {
            Value::Null => visitor.visit_none(),
            other => visitor.visit_some(other),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, FixtureError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, FixtureError> {
        match self {
            // A unit variant, written as its name.
            Value::Str(s) => visitor.visit_enum(s.into_deserializer()),
            // A variant with data, written as `{"name": data}`.
            Value::Object(fields) if fields.len() == 1 => visitor.visit_enum(
                de::value::MapAccessDeserializer::new(MapDeserializer::new(fields.into_iter())),
            ),
            _ => Err(de::Error::custom("expected an enum variant")),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map struct
        identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use std::collections::BTreeMap;

    #[derive(Deserialize, Debug, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Sample {
        name: String,
        n: u16,
        x: f64,
        neg: i32,
        maybe: Option<u8>,
        list: Vec<bool>,
        map: BTreeMap<Kind, u8>,
        tagged: Tagged,
    }

    #[derive(Deserialize, Debug, PartialEq, PartialOrd, Ord, Eq)]
    #[serde(rename_all = "snake_case")]
    enum Kind {
        Alpha,
        Beta,
    }

    #[derive(Deserialize, Debug, PartialEq)]
    #[serde(tag = "type", rename_all = "snake_case")]
    enum Tagged {
        Count { at_least: u32 },
    }

    #[test]
    fn parses_what_serde_json_parses() {
        let json = r#" { "name": "a\"b\u00e9\n", "n": 7, "x": 0.1, "neg": -3, "maybe": null,
            "list": [true, false], "map": {"alpha": 1, "beta": 2},
            "tagged": {"type": "count", "at_least": 5} } "#;
        let ours: Sample = parse(json).unwrap();
        let theirs: Sample = serde_json::from_str(json).unwrap();
        assert_eq!(ours, theirs);
        assert_eq!(ours.x, 0.1);
    }

    #[test]
    fn bad_json_or_bad_shapes_are_none() {
        for bad in [
            "",
            "{",
            "{\"a\":}",
            "[1,]",
            "{\"name\": 1}",
            "nul",
            "1e999",
            "\"\\x\"",
            "{} x",
            "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
        ] {
            assert!(parse::<Sample>(bad).is_none(), "{bad}");
        }
        assert_eq!(parse::<Vec<u8>>("[]"), Some(vec![]));
        assert_eq!(parse::<i64>("-9"), Some(-9));
        assert!(parse::<u8>("300").is_none());
    }
}
