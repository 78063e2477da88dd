//! Keys and values in JSON. By default bytes that are UTF-8 travel as text (`"key": "a/b"`), any
//! other bytes as base64 in a field of the same name with `_base64` after it (`"key_base64":
//! "/w=="`), and requests may use either form for any key or value. With `encoding: "base64"`
//! (a query parameter, or a field of a JSON body) every key and value is base64 in its plain
//! field, both ways, as etcd's JSON gateway has them.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use bytes::Bytes;
use redraft_core::txn::KeyValue;
use redraft_core::types::Kind;
use serde_json::{json, Value};

/// How keys and values are written in a request's and its response's plain fields.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Encoding {
    /// UTF-8 text, with `_base64` fields for other bytes.
    #[default]
    Text,
    /// base64 (standard alphabet, padded) always.
    Base64,
}

impl Encoding {
    /// The encoding named by an `encoding` parameter (`text`, the default, or `base64`).
    ///
    /// # Errors
    /// Another name.
    pub fn named(name: Option<&str>) -> Result<Encoding, String> {
        match name {
            None | Some("text" | "utf-8" | "utf8") => Ok(Encoding::Text),
            Some("base64") => Ok(Encoding::Base64),
            Some(other) => Err(format!("encoding is text or base64, not {other:?}")),
        }
    }
}

/// Sets `field` on `out` (an object) as `encoding` writes it: text, or `field_base64` for bytes
/// that are not UTF-8; or base64 in `field`.
pub fn insert(out: &mut Value, field: &str, bytes: &Bytes, encoding: Encoding) {
    match (encoding, std::str::from_utf8(bytes)) {
        (Encoding::Text, Ok(text)) => out[field] = json!(text),
        (Encoding::Text, Err(_)) => out[format!("{field}_base64")] = json!(STANDARD.encode(bytes)),
        (Encoding::Base64, _) => out[field] = json!(STANDARD.encode(bytes)),
    }
}

fn decode(name: &str, encoded: &str) -> Result<Bytes, String> {
    STANDARD.decode(encoded.as_bytes()).map(Bytes::from).map_err(|e| format!("{name} is not base64: {e}"))
}

/// The bytes given as `text` (in `encoding`) or as `base64` (at most one of them) for the field
/// `name`.
///
/// # Errors
/// Both given, or base64 that does not decode; the text names the field.
pub fn either(
    name: &str,
    text: Option<String>,
    base64: Option<String>,
    encoding: Encoding,
) -> Result<Option<Bytes>, String> {
    match (text, base64) {
        (Some(_), Some(_)) => Err(format!("give {name} or {name}_base64, not both")),
        (Some(text), None) if encoding == Encoding::Base64 => decode(name, &text).map(Some),
        (Some(text), None) => Ok(Some(Bytes::from(text))),
        (None, Some(encoded)) => decode(&format!("{name}_base64"), &encoded).map(Some),
        (None, None) => Ok(None),
    }
}

/// As [`either`], for a field that must be given.
///
/// # Errors
/// As [`either`], or neither given.
pub fn required(
    name: &str,
    text: Option<String>,
    base64: Option<String>,
    encoding: Encoding,
) -> Result<Bytes, String> {
    either(name, text, base64, encoding)?.ok_or_else(|| format!("{name} (or {name}_base64) is required"))
}

/// An opaque continuation token for a key (URL-safe base64, no padding).
pub fn token(key: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key)
}

/// The key a continuation token names.
///
/// # Errors
/// The token is not one this node made.
pub fn from_token(token: &str) -> Result<Bytes, String> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.as_bytes())
        .map(Bytes::from)
        .map_err(|_| "continue is not a continuation token from a previous page".to_owned())
}

/// A key as JSON: `key`, `value`, `create_revision`, `mod_revision`, `ttl_ms` (absent without a
/// TTL); `value` left out with `keys_only`. A hash, list or set has `data_type` (`hash`, `list`,
/// `set`) instead of a value: its elements are read with the commands of its type.
pub fn key_json(key: &Bytes, kv: &KeyValue, keys_only: bool, encoding: Encoding) -> Value {
    let mut out = json!({ "create_revision": kv.create_revision, "mod_revision": kv.mod_revision });
    insert(&mut out, "key", key, encoding);
    if kv.kind != Kind::String {
        out["data_type"] = json!(kv.kind.as_str());
    } else if !keys_only {
        insert(&mut out, "value", &kv.value, encoding);
    }
    if kv.ttl_ms >= 0 {
        out["ttl_ms"] = json!(kv.ttl_ms);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_base64_round_trip() {
        let (text, base64) = (Encoding::Text, Encoding::Base64);
        let mut out = json!({});
        insert(&mut out, "key", &Bytes::from_static(b"a/b"), text);
        insert(&mut out, "value", &Bytes::from_static(b"\xff\x00"), text);
        assert_eq!(out, json!({ "key": "a/b", "value_base64": "/wA=" }));
        let mut out = json!({});
        insert(&mut out, "key", &Bytes::from_static(b"a/b"), base64);
        assert_eq!(out, json!({ "key": "YS9i" }));
        assert_eq!(either("v", Some("YS9i".into()), None, base64), Ok(Some(Bytes::from_static(b"a/b"))));
        assert_eq!(either("v", Some("YS9i".into()), None, text), Ok(Some(Bytes::from_static(b"YS9i"))));
        assert_eq!(either("v", None, Some("/wA=".into()), text), Ok(Some(Bytes::from_static(b"\xff\x00"))));
        assert!(either("v", Some("x".into()), Some("eA==".into()), text).unwrap_err().contains("not both"));
        assert!(either("v", None, Some("!!".into()), text).unwrap_err().contains("v_base64"));
        assert_eq!(Encoding::named(Some("hex")).unwrap_err(), "encoding is text or base64, not \"hex\"");
        assert_eq!(from_token(&token(b"\x00\xffk")), Ok(Bytes::from_static(b"\x00\xffk")));
    }
}
