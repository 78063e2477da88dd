//! Keys and values in JSON: bytes that are UTF-8 travel as text (`"key": "a/b"`), any other bytes
//! as base64 in a field of the same name with `_base64` after it (`"key_base64": "/w=="`).
//! Requests may use either form for any key or value.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use bytes::Bytes;
use serde_json::{json, Value};

/// Sets `field` (text) or `field_base64` on `out`, which must be an object.
pub fn insert(out: &mut Value, field: &str, bytes: &Bytes) {
    match std::str::from_utf8(bytes) {
        Ok(text) => out[field] = json!(text),
        Err(_) => out[format!("{field}_base64")] = json!(STANDARD.encode(bytes)),
    }
}

/// The bytes given as `text` or as `base64` (at most one of them) for the field `name`.
///
/// # Errors
/// Both given, or base64 that does not decode; the text names the field.
pub fn either(name: &str, text: Option<String>, base64: Option<String>) -> Result<Option<Bytes>, String> {
    match (text, base64) {
        (Some(_), Some(_)) => Err(format!("give {name} or {name}_base64, not both")),
        (Some(text), None) => Ok(Some(Bytes::from(text))),
        (None, Some(encoded)) => STANDARD
            .decode(encoded.as_bytes())
            .map(|bytes| Some(Bytes::from(bytes)))
            .map_err(|e| format!("{name}_base64 is not base64: {e}")),
        (None, None) => Ok(None),
    }
}

/// As [`either`], for a field that must be given.
///
/// # Errors
/// As [`either`], or neither given.
pub fn required(name: &str, text: Option<String>, base64: Option<String>) -> Result<Bytes, String> {
    either(name, text, base64)?.ok_or_else(|| format!("{name} (or {name}_base64) is required"))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_base64_round_trip() {
        let mut out = json!({});
        insert(&mut out, "key", &Bytes::from_static(b"a/b"));
        insert(&mut out, "value", &Bytes::from_static(b"\xff\x00"));
        assert_eq!(out, json!({ "key": "a/b", "value_base64": "/wA=" }));
        assert_eq!(either("v", None, Some("/wA=".into())), Ok(Some(Bytes::from_static(b"\xff\x00"))));
        assert!(either("v", Some("x".into()), Some("eA==".into())).unwrap_err().contains("not both"));
        assert!(either("v", None, Some("!!".into())).unwrap_err().contains("v_base64"));
        assert_eq!(from_token(&token(b"\x00\xffk")), Ok(Bytes::from_static(b"\x00\xffk")));
    }
}
