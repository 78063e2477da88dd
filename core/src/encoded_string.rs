//! Where an entry's encoding holds its writes' strings, as the leader's log notes them while it
//! encodes the entry (`entry_encoder.rs`), so that the record of the entry's changes can share
//! them from the encoding instead of copying them (`change_arena.rs`).

/// Where an entry's encoding holds one of its writes' strings: at `at`, `len` bytes, the bytes
/// that were at address `from` when it was encoded. An entry's writes hold their strings for as
/// long as the entry lives, and never change them, so the string an entry's write holds at
/// `from`, of `len` bytes, is these bytes of its encoding: no need to compare them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EncodedString {
    pub from: usize,
    pub at: usize,
    pub len: usize,
}

impl EncodedString {
    /// `string`, encoded at `at`.
    pub fn new(string: &[u8], at: usize) -> EncodedString {
        EncodedString { from: string.as_ptr() as usize, at, len: string.len() }
    }
}
