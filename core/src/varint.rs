//! bincode's encoding of integers, lengths and options (`DefaultOptions`: little-endian,
//! variable-length integers), written by hand for the encodings made without serde on hot paths:
//! a log entry's SETs and puts (`entry_encoder.rs`) and a snapshot's string keys
//! (`snapshot.rs`). Tests there check what they write against bincode's own bytes.

/// An integer as bincode's varint: one byte up to 250, else a marker byte and 2, 4 or 8 bytes.
#[inline]
pub(crate) fn varint(out: &mut Vec<u8>, n: u64) {
    if n <= 250 {
        out.push(n as u8);
    } else if let Ok(n) = u16::try_from(n) {
        out.push(251);
        out.extend_from_slice(&n.to_le_bytes());
    } else if let Ok(n) = u32::try_from(n) {
        out.push(252);
        out.extend_from_slice(&n.to_le_bytes());
    } else {
        out.push(253);
        out.extend_from_slice(&n.to_le_bytes());
    }
}

/// A length (of a byte string or a sequence).
pub(crate) fn len(out: &mut Vec<u8>, len: usize) {
    varint(out, len as u64);
}

/// A byte string: its length, then its bytes.
pub(crate) fn bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    len(out, bytes.len());
    out.extend_from_slice(bytes);
}

/// An `Option`'s tag; the value follows a `Some`.
pub(crate) fn option_tag(out: &mut Vec<u8>, some: bool) {
    out.push(u8::from(some));
}

/// A signed integer mapped to an unsigned one for [`varint`], as bincode does.
pub(crate) fn zigzag(n: i64) -> u64 {
    ((n << 1) ^ (n >> 63)) as u64
}

/// Reads an integer [`varint`] wrote from the front of `input`, as bincode reads it (a marker
/// byte with more bytes than a smaller width needed is read too); `None` when `input` ends
/// first or the marker is one no `u64` has.
pub(crate) fn read(input: &mut &[u8]) -> Option<u64> {
    let (&first, rest) = input.split_first()?;
    let width = match first {
        0..=250 => {
            *input = rest;
            return Some(u64::from(first));
        }
        251 => 2,
        252 => 4,
        253 => 8,
        _ => return None,
    };
    let bytes = rest.get(..width)?;
    let mut le = [0; 8];
    le[..width].copy_from_slice(bytes);
    *input = &rest[width..];
    Some(u64::from_le_bytes(le))
}
