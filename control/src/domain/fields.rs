//! The values requests carry, each a type that checks itself while it is read (parse,
//! don't validate) and states the same rule in the OpenAPI document. One definition of
//! each rule serves both: the schema cannot promise what the server refuses, nor
//! leave out what it takes.
//!
//! A value that breaks its rule fails deserialization with words for people; the API
//! puts the field's path in front (`client.phone: must be E.164: …`).

use std::borrow::Cow;
use std::fmt;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::{KnownFormat, RefOr};
use utoipa::{PartialSchema, ToSchema};

/// Control characters (Unicode Cc), as a regex class body.
const CONTROL: &str = r"\u0000-\u001f\u007f-\u009f";
/// The white space `str::trim` removes that is not a control character.
const SPACE: &str = r" \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";
/// All the white space `str::trim` removes (Unicode White_Space).
const WHITE: &str =
    r"\t\n\u000b\u000c\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";

/// Whether `c` is white space that `str::trim` removes.
fn is_space(c: char) -> bool {
    c.is_whitespace()
}

fn string_schema(
    min: Option<usize>,
    max: Option<usize>,
    pattern: Option<String>,
    description: &str,
) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(min)
        .max_length(max)
        .pattern(pattern)
        .description(Some(description.to_string()))
        .into()
}

/// Display text: 1 to `MAX` characters, not all white space, no control characters;
/// kept without the white space around it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text<const MAX: usize>(String);

impl<const MAX: usize> Text<MAX> {
    /// Checks `value`.
    pub fn parse(value: &str) -> Result<Text<MAX>, String> {
        let n = value.chars().count();
        if value.chars().all(is_space) || n > MAX || value.chars().any(char::is_control) {
            return Err(format!("must be 1 to {MAX} printable characters"));
        }
        Ok(Text(value.trim().to_string()))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The text, owned.
    pub fn into_string(self) -> String {
        self.0
    }

    /// The pattern of the rule (with `maxLength` `MAX`).
    pub fn pattern() -> String {
        format!("^[^{CONTROL}]*[^{CONTROL}{SPACE}][^{CONTROL}]*$")
    }
}

impl<'de, const MAX: usize> Deserialize<'de> for Text<MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Text::parse(&s).map_err(D::Error::custom)
    }
}

impl<const MAX: usize> Serialize for Text<MAX> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<const MAX: usize> PartialSchema for Text<MAX> {
    fn schema() -> RefOr<Schema> {
        string_schema(
            Some(1),
            Some(MAX),
            Some(Self::pattern()),
            &format!("1 to {MAX} printable characters (no control characters, not only spaces)"),
        )
    }
}

impl<const MAX: usize> ToSchema for Text<MAX> {
    fn name() -> Cow<'static, str> {
        Cow::Owned(format!("Text{MAX}"))
    }
}

/// Display text that may also be empty (`""`): a name left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OptionalText<const MAX: usize>(String);

impl<const MAX: usize> OptionalText<MAX> {
    /// The text (`""` when left out).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The text, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl<'de, const MAX: usize> Deserialize<'de> for OptionalText<MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.is_empty() {
            return Ok(OptionalText(s));
        }
        Text::<MAX>::parse(&s)
            .map(|t| OptionalText(t.0))
            .map_err(|e| D::Error::custom(format!("{e}, or empty")))
    }
}

impl<const MAX: usize> Serialize for OptionalText<MAX> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<const MAX: usize> PartialSchema for OptionalText<MAX> {
    fn schema() -> RefOr<Schema> {
        string_schema(
            None,
            Some(MAX),
            Some(format!("^$|{}", Text::<MAX>::pattern())),
            &format!("empty, or 1 to {MAX} printable characters"),
        )
    }
}

impl<const MAX: usize> ToSchema for OptionalText<MAX> {
    fn name() -> Cow<'static, str> {
        Cow::Owned(format!("OptionalText{MAX}"))
    }
}

/// Up to `MAX` characters without control characters (may be empty): a custom
/// field's value.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Printable<const MAX: usize>(String);

impl<const MAX: usize> Printable<MAX> {
    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de, const MAX: usize> Deserialize<'de> for Printable<MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.chars().count() > MAX || s.chars().any(char::is_control) {
            return Err(D::Error::custom(format!(
                "is at most {MAX} printable characters"
            )));
        }
        Ok(Printable(s))
    }
}

impl<const MAX: usize> Serialize for Printable<MAX> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<const MAX: usize> PartialSchema for Printable<MAX> {
    fn schema() -> RefOr<Schema> {
        string_schema(
            None,
            Some(MAX),
            Some(format!("^[^{CONTROL}]*$")),
            &format!("at most {MAX} printable characters"),
        )
    }
}

impl<const MAX: usize> ToSchema for Printable<MAX> {
    fn name() -> Cow<'static, str> {
        Cow::Owned(format!("Printable{MAX}"))
    }
}

/// Free text of at most `MAX` characters, line breaks allowed (a consent text).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LongText<const MAX: usize>(String);

impl<const MAX: usize> LongText<MAX> {
    /// The text.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl<'de, const MAX: usize> Deserialize<'de> for LongText<MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.chars().count() > MAX {
            return Err(D::Error::custom(format!("is at most {MAX} characters")));
        }
        Ok(LongText(s))
    }
}

impl<const MAX: usize> Serialize for LongText<MAX> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<const MAX: usize> PartialSchema for LongText<MAX> {
    fn schema() -> RefOr<Schema> {
        string_schema(None, Some(MAX), None, &format!("at most {MAX} characters"))
    }
}

impl<const MAX: usize> ToSchema for LongText<MAX> {
    fn name() -> Cow<'static, str> {
        Cow::Owned(format!("LongText{MAX}"))
    }
}

/// A chat message: 1 to 4000 characters, not all white space (line breaks are fine).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageText(String);

impl MessageText {
    /// Longest message.
    pub const MAX: usize = 4000;

    /// The text, without the white space around it.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl<'de> Deserialize<'de> for MessageText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.chars().all(is_space) || s.chars().count() > Self::MAX {
            return Err(D::Error::custom(format!(
                "is 1 to {} characters, not only spaces",
                Self::MAX
            )));
        }
        Ok(MessageText(s.trim().to_string()))
    }
}

impl PartialSchema for MessageText {
    fn schema() -> RefOr<Schema> {
        // Line breaks and other controls are fine; at least one character must be
        // neither white space nor removed by `trim`.
        string_schema(
            Some(1),
            Some(Self::MAX),
            Some(format!("[^{WHITE}]")),
            "1 to 4000 characters, not only white space",
        )
    }
}

impl ToSchema for MessageText {}

/// A text with a fixed shape, checked by `check` and stated by `PATTERN`.
macro_rules! shaped {
    ($(#[$doc:meta])* $name:ident, $pattern:expr, $max:expr, $message:expr, $check:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            /// The rule as a regular expression.
            pub const PATTERN: &'static str = $pattern;

            /// Checks `value`.
            pub fn parse(value: &str) -> Result<$name, &'static str> {
                let check: fn(&str) -> bool = $check;
                if check(value) { Ok($name(value.to_string())) } else { Err($message) }
            }

            /// The value.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The value, owned.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                $name::parse(&s).map_err(D::Error::custom)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                self.0.serialize(s)
            }
        }

        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                string_schema(None, $max, Some(Self::PATTERN.to_string()), $message)
            }
        }

        impl ToSchema for $name {}

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

fn bytes_of(s: &str, min: usize, max: usize, ok: impl Fn(u8) -> bool) -> bool {
    (min..=max).contains(&s.len()) && s.bytes().all(ok)
}

shaped!(
    /// A login: 3 to 64 of `a-z 0-9 . _ - @` (capitals are taken as small letters).
    LoginName,
    "^[A-Za-z0-9._@-]{3,64}$",
    None,
    "is 3 to 64 of a-z, 0-9, '.', '_', '-', '@'",
    |s| bytes_of(s, 3, 64, |b| b.is_ascii_alphanumeric() || b"._-@".contains(&b))
);

impl LoginName {
    /// The login as stored: small letters.
    pub fn normalized(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

shaped!(
    /// A phone number in E.164: `+` and 8 to 15 digits.
    Phone,
    "^\\+[0-9]{8,15}$",
    None,
    "must be E.164: + and 8 to 15 digits",
    |s| s
        .strip_prefix('+')
        .is_some_and(|d| bytes_of(d, 8, 15, |b| b.is_ascii_digit()))
);

shaped!(
    /// A Telegram chat: a numeric chat id (`-` first for groups) or an `@username`.
    TelegramChat,
    "^(-?[0-9]{1,20}|@[A-Za-z0-9_]{5,32})$",
    None,
    "is a numeric chat id or an @username",
    |s| {
        let numeric = s.strip_prefix('-').unwrap_or(s);
        bytes_of(numeric, 1, 20, |b| b.is_ascii_digit())
            || s.strip_prefix('@').is_some_and(|u| {
                bytes_of(u, 5, 32, |b| b.is_ascii_alphanumeric() || b == b'_')
            })
    }
);

shaped!(
    /// An `http(s)://` URL of at most 2000 characters, no white space or controls.
    HttpUrl,
    "^https?://[^\\u0000-\\u0020\\u007f-\\u009f\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]*$",
    Some(2000),
    "must be an http(s) URL",
    |s| (s.starts_with("https://") || s.starts_with("http://"))
        && s.chars().count() <= 2000
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
);

shaped!(
    /// The key of a custom field: 1 to 40 letters, digits or `_`.
    FieldKey,
    "^[A-Za-z0-9_]{1,40}$",
    None,
    "is 1 to 40 letters, digits or _",
    |s| bytes_of(s, 1, 40, |b| b.is_ascii_alphanumeric() || b == b'_')
);

shaped!(
    /// A connector's name: 1 to 40 of `a-z 0-9 _ -`; chains say `connector:<name>`.
    ConnectorName,
    "^[a-z0-9_-]{1,40}$",
    None,
    "is 1 to 40 of a-z, 0-9, _, -",
    |s| crate::domain::delivery::valid_connector_name(s)
);

shaped!(
    /// An intercom's id, as it says it in `hello`: 1 to 64 of `A-Z a-z 0-9 . _ -`.
    DeviceId,
    "^[A-Za-z0-9._-]{1,64}$",
    None,
    "is 1 to 64 of A-Z, a-z, 0-9, '.', '_', '-'",
    |s| bytes_of(s, 1, 64, |b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
);

shaped!(
    /// A link delivery channel: `sms`, `telegram` or `connector:<name>`.
    Channel,
    "^(sms|telegram|connector:[a-z0-9_-]{1,40})$",
    None,
    "must be sms, telegram or connector:<name>",
    |s| crate::domain::delivery::is_channel(s)
);

shaped!(
    /// A colour as `#RRGGBB`.
    Color,
    "^#[0-9A-Fa-f]{6}$",
    Some(7),
    "must be a colour like #1a73e8",
    |s| s.len() == 7 && s.starts_with('#') && s[1..].bytes().all(|b| b.is_ascii_hexdigit())
);

shaped!(
    /// A new password: 10 to 256 characters.
    Password,
    "^[\\s\\S]{10,256}$",
    Some(256),
    "is 10 to 256 characters",
    |s| (10..=256).contains(&s.chars().count())
);

/// A list of `$min` to `$max` items of `$item` (`$max` alone: none to `$max`).
macro_rules! capped {
    ($(#[$doc:meta])* $name:ident, $item:ty, $max:expr) => {
        $crate::domain::fields::capped!($(#[$doc])* $name, $item, 0, $max);
    };
    ($(#[$doc:meta])* $name:ident, $item:ty, $min:expr, $max:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Default)]
        pub struct $name(Vec<$item>);

        impl $name {
            /// The fewest items.
            pub const MIN: usize = $min;
            /// The most items.
            pub const MAX: usize = $max;

            /// The items.
            pub fn into_vec(self) -> Vec<$item> {
                self.0
            }

            /// The items.
            pub fn as_slice(&self) -> &[$item] {
                &self.0
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let items = <Vec<$item> as ::serde::Deserialize>::deserialize(d)?;
                if items.len() > Self::MAX || items.len() < Self::MIN {
                    let message = if Self::MIN == 0 {
                        format!("holds at most {} entries", Self::MAX)
                    } else {
                        format!("holds {} to {} entries", Self::MIN, Self::MAX)
                    };
                    return Err(<D::Error as ::serde::de::Error>::custom(message));
                }
                Ok($name(items))
            }
        }

        impl ::utoipa::PartialSchema for $name {
            fn schema() -> ::utoipa::openapi::RefOr<::utoipa::openapi::schema::Schema> {
                ::utoipa::openapi::schema::ArrayBuilder::new()
                    .items(::utoipa::openapi::RefOr::Ref(::utoipa::openapi::Ref::from_schema_name(<$item as ::utoipa::ToSchema>::name())))
                    .max_items(Some(Self::MAX))
                    .min_items((Self::MIN > 0).then_some(Self::MIN))
                    .into()
            }
        }

        impl ::utoipa::ToSchema for $name {
            fn schemas(schemas: &mut Vec<(String, ::utoipa::openapi::RefOr<::utoipa::openapi::schema::Schema>)>) {
                schemas.push((<$item as ::utoipa::ToSchema>::name().into_owned(), <$item as ::utoipa::PartialSchema>::schema()));
                <$item as ::utoipa::ToSchema>::schemas(schemas);
            }
        }
    };
}
pub(crate) use capped;

capped!(
    /// A delivery chain: at most 8 channels, tried in order (none: the default).
    Channels,
    Channel,
    8
);

capped!(
    /// The channels to send a link by: 1 to 8, tried in order.
    SendChannels,
    Channel,
    1,
    8
);

/// A number in a closed range (degrees, metres), finite.
macro_rules! ranged {
    ($(#[$doc:meta])* $name:ident, $min:expr, $max:expr, $message:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq)]
        pub struct $name(pub f64);

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let v = f64::deserialize(d)?;
                if !(v.is_finite() && ($min..=$max).contains(&v)) {
                    return Err(D::Error::custom($message));
                }
                Ok($name(v))
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                self.0.serialize(s)
            }
        }

        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                ObjectBuilder::new()
                    .schema_type(Type::Number)
                    .minimum(Some($min))
                    .maximum(Some($max))
                    .description(Some($message.to_string()))
                    .into()
            }
        }

        impl ToSchema for $name {}
    };
}

ranged!(
    /// Latitude, degrees.
    Latitude,
    -90.0,
    90.0,
    "must be between -90 and 90"
);
ranged!(
    /// Longitude, degrees.
    Longitude,
    -180.0,
    180.0,
    "must be between -180 and 180"
);
ranged!(
    /// An accuracy radius, metres.
    Accuracy,
    0.0,
    1_000_000.0,
    "is 0 to 1000000 metres"
);

/// A moment as Unix milliseconds, from 1970 to the end of 9999.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Millis(pub i64);

impl Millis {
    /// The last millisecond of 9999.
    pub const MAX: i64 = 253_402_300_799_999;
}

impl<'de> Deserialize<'de> for Millis {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = whole_number(d)?;
        if !(0..=Self::MAX).contains(&v) {
            return Err(D::Error::custom(
                "must be Unix milliseconds, 0 to 253402300799999",
            ));
        }
        Ok(Millis(v))
    }
}

impl Millis {
    /// Reads a query string's value (text there, a number in JSON): for
    /// `#[serde(default, deserialize_with = "Millis::in_query")]`.
    pub fn in_query<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Millis>, D::Error> {
        match Option::<i64>::deserialize(d)? {
            Some(v) if !(0..=Self::MAX).contains(&v) => Err(D::Error::custom(
                "must be Unix milliseconds, 0 to 253402300799999",
            )),
            v => Ok(v.map(Millis)),
        }
    }
}

/// A JSON integer: as JSON Schema counts them, also a number written with a zero
/// fraction (`5.0`).
pub fn whole_number<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    struct Whole;
    impl serde::de::Visitor<'_> for Whole {
        type Value = i64;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an integer")
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<i64, E> {
            Ok(v)
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<i64, E> {
            i64::try_from(v).map_err(|_| E::custom("is too large"))
        }
        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<i64, E> {
            // Exact up to 2^53, beyond every range the API takes.
            if v.fract() == 0.0 && v.abs() < 9_007_199_254_740_992.0 {
                #[allow(clippy::cast_possible_truncation)]
                Ok(v as i64)
            } else {
                Err(E::invalid_type(serde::de::Unexpected::Float(v), &self))
            }
        }
    }
    d.deserialize_any(Whole)
}

/// A whole number 0 to 255 ([`whole_number`]: `5.0` counts).
pub fn whole_u8<'de, D: Deserializer<'de>>(d: D) -> Result<u8, D::Error> {
    let v = whole_number(d)?;
    u8::try_from(v).map_err(|_| D::Error::custom("must be 0 to 255"))
}

/// A JSON object read as `T`, and only an object: serde would also read a struct from
/// an array of its fields in order (so `[]` would pass as all defaults).
pub fn object<'de, D: Deserializer<'de>, T: serde::de::DeserializeOwned>(
    d: D,
) -> Result<T, D::Error> {
    match serde_json::Value::deserialize(d)? {
        v @ serde_json::Value::Object(_) => serde_json::from_value(v).map_err(D::Error::custom),
        _ => Err(D::Error::custom("must be an object")),
    }
}

/// As [`object`], when given (`null` is none).
pub fn object_opt<'de, D: Deserializer<'de>, T: serde::de::DeserializeOwned>(
    d: D,
) -> Result<Option<T>, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::Null => Ok(None),
        v @ serde_json::Value::Object(_) => serde_json::from_value(v)
            .map(Some)
            .map_err(D::Error::custom),
        _ => Err(D::Error::custom("must be an object")),
    }
}

/// A whole number 0 to 2^32 - 1 ([`whole_number`]: `5.0` counts), when given.
pub fn whole_u32_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    let v = match Option::<serde_json::Value>::deserialize(d)? {
        None | Some(serde_json::Value::Null) => return Ok(None),
        Some(v) => whole_number(v).map_err(D::Error::custom)?,
    };
    u32::try_from(v)
        .map(Some)
        .map_err(|_| D::Error::custom("must be 0 to 4294967295"))
}

impl Serialize for Millis {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl PartialSchema for Millis {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
            .minimum(Some(0))
            .maximum(Some(Self::MAX))
            .description(Some("Unix milliseconds".to_string()))
            .into()
    }
}

impl ToSchema for Millis {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_printable_not_blank_and_trimmed() {
        assert_eq!(Text::<5>::parse(" ab ").unwrap().as_str(), "ab");
        assert!(Text::<5>::parse("").is_err());
        assert!(Text::<5>::parse("   ").is_err());
        assert!(
            Text::<5>::parse("\u{3000}").is_err(),
            "ideographic space is blank"
        );
        assert!(Text::<5>::parse("a\u{7}").is_err(), "controls");
        assert!(Text::<5>::parse("a\u{8b}").is_err(), "C1 controls");
        assert!(Text::<5>::parse("abcdef").is_err(), "too long");
        assert!(
            Text::<5>::parse("\u{feff}").is_ok(),
            "a BOM is not white space to trim"
        );
        assert!(Text::<100>::parse("Иван").is_ok());
    }

    #[test]
    fn shapes_take_what_their_patterns_say() {
        assert!(LoginName::parse("Admin.1").is_ok());
        assert_eq!(LoginName::parse("Admin.1").unwrap().normalized(), "admin.1");
        assert!(LoginName::parse("ab").is_err());
        assert!(LoginName::parse("a b c").is_err());
        assert!(
            LoginName::parse("\u{212a}elvin").is_err(),
            "only ASCII letters"
        );
        assert!(Phone::parse("+79991234567").is_ok());
        assert!(Phone::parse("8-999").is_err());
        assert!(TelegramChat::parse("-100123").is_ok());
        assert!(TelegramChat::parse("@vchat_bot").is_ok());
        assert!(TelegramChat::parse("@abc").is_err());
        assert!(TelegramChat::parse("--5").is_err());
        assert!(HttpUrl::parse("https://example.com/logo.png").is_ok());
        assert!(HttpUrl::parse("ftp://example.com").is_err());
        assert!(HttpUrl::parse("https://exa mple.com").is_err());
        assert!(Channel::parse("connector:wa-1").is_ok());
        assert!(Channel::parse("").is_err());
        assert!(Password::parse("0123456789").is_ok());
        assert!(Password::parse("short").is_err());
    }

    #[test]
    fn millis_are_json_integers_and_query_text() {
        let read = |j: &str| serde_json::from_str::<Millis>(j).map(|m| m.0);
        assert_eq!(read("5").unwrap(), 5);
        assert_eq!(
            read("5.0").unwrap(),
            5,
            "JSON Schema counts 5.0 as an integer"
        );
        assert!(read("5.5").is_err());
        assert!(read("\"5\"").is_err());
        assert!(read("-1").is_err());
        #[derive(Deserialize)]
        struct Q {
            #[serde(default, deserialize_with = "Millis::in_query")]
            from: Option<Millis>,
        }
        let q: Q = serde_urlencoded::from_str("from=7").unwrap();
        assert_eq!(q.from, Some(Millis(7)));
        assert!(serde_urlencoded::from_str::<Q>("from=-7").is_err());
        assert!(serde_urlencoded::from_str::<Q>("").unwrap().from.is_none());
    }
}
