//! The one bincode configuration used for every persisted and replicated structure, with a
//! leading format-version byte.
//!
//! Decoding is bounded: bincode refuses to allocate past [`RECORD_PAYLOAD_BYTES_MAX`], so a
//! length field in hostile or corrupt bytes cannot ask for gigabytes.

use std::ops::RangeInclusive;

use bincode::Options;
use serde::{de::DeserializeOwned, Serialize};

use crate::limits::RECORD_PAYLOAD_BYTES_MAX;

/// Why bytes did not decode.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Nothing to decode.
    #[error("empty payload, expected a format version byte")]
    Empty,
    /// Written by a newer (or unknown) format.
    #[error("format version {found} is not supported (this build reads versions {oldest} to {newest})")]
    UnsupportedVersion { found: u8, oldest: u8, newest: u8 },
    /// The bytes are not a valid encoding.
    #[error("malformed payload: {0}")]
    Malformed(#[from] bincode::Error),
}

fn options() -> impl Options {
    bincode::DefaultOptions::new().with_limit(RECORD_PAYLOAD_BYTES_MAX as u64)
}

/// Encodes `value` after a version byte.
///
/// # Panics
/// If `value` cannot be encoded by bincode, which our plain data types always can.
pub fn encode_versioned<T: Serialize>(version: u8, value: &T) -> Vec<u8> {
    // bincode checks a size limit by sizing the value in a first walk; that walk also sizes the
    // buffer, which otherwise grows (and copies itself) as it fills. The second walk, which
    // writes, then needs no limit of its own.
    let size = options().serialized_size(value).expect("our types always serialize");
    let mut out = Vec::with_capacity(1 + usize::try_from(size).unwrap_or(0));
    out.push(version);
    bincode::DefaultOptions::new().serialize_into(&mut out, value).expect("our types always serialize");
    out
}

/// As [`encode_versioned`], appending to `out` in one walk of `value`, with no size limit of its
/// own: for values bounded before they get here (a log entry, by the proposer), encoded into a
/// buffer that is reused, so that sizing them first would buy nothing.
///
/// # Panics
/// As [`encode_versioned`].
pub fn encode_versioned_into<T: Serialize>(version: u8, value: &T, out: &mut Vec<u8>) {
    out.push(version);
    encode_into(value, out);
}

/// Appends `value`'s encoding to `out`, with no version byte and no size limit: a part of a
/// versioned encoding (bincode lays a structure out as its fields' encodings, one after the
/// other), written by itself.
///
/// # Panics
/// As [`encode_versioned`].
pub fn encode_into<T: Serialize>(value: &T, out: &mut Vec<u8>) {
    bincode::DefaultOptions::new().serialize_into(&mut *out, value).expect("our types always serialize");
}

/// Decodes a part written by [`encode_into`], bounded as every decoding is; the caller knows
/// which version wrote it.
///
/// # Errors
/// [`DecodeError::Malformed`].
pub fn decode_part<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    Ok(options().deserialize(bytes)?)
}

/// Decodes the value that starts `bytes` (a part, as [`decode_part`] does) and moves `bytes`
/// past it: bincode reads exactly the value's encoding.
///
/// # Errors
/// [`DecodeError::Malformed`].
pub fn decode_prefix<T: DeserializeOwned>(bytes: &mut &[u8]) -> Result<T, DecodeError> {
    Ok(options().deserialize_from(bytes)?)
}

/// Decodes bytes written by [`encode_versioned`] with the same `version`.
///
/// # Errors
/// See [`DecodeError`].
pub fn decode_versioned<T: DeserializeOwned>(version: u8, bytes: &[u8]) -> Result<T, DecodeError> {
    decode_any_version(version..=version, bytes)
}

/// Decodes bytes written by [`encode_versioned`] with any of `versions`: for a format whose
/// newer versions only add (an enum variant at the end leaves every older encoding valid).
///
/// # Errors
/// See [`DecodeError`].
pub fn decode_any_version<T: DeserializeOwned>(
    versions: RangeInclusive<u8>,
    bytes: &[u8],
) -> Result<T, DecodeError> {
    Ok(options().deserialize(versioned_body(versions, bytes)?)?)
}

/// What follows the version byte of bytes written by [`encode_versioned`] with any of
/// `versions`.
///
/// # Errors
/// [`DecodeError::Empty`] or [`DecodeError::UnsupportedVersion`].
pub fn versioned_body(versions: RangeInclusive<u8>, bytes: &[u8]) -> Result<&[u8], DecodeError> {
    let (&found, body) = bytes.split_first().ok_or(DecodeError::Empty)?;
    if !versions.contains(&found) {
        return Err(DecodeError::UnsupportedVersion {
            found,
            oldest: *versions.start(),
            newest: *versions.end(),
        });
    }
    Ok(body)
}
