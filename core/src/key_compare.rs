//! Key equality for the hash table's probes ([`same_key`]), and a number that orders keys as
//! their bytes do for the snapshot's sort ([`order_prefix`]). Keys of 8 to 32 bytes (most keys:
//! `user:1000`, `key:000000012345`, `session:` and a 16-character id) compare 8-byte word by
//! word, inline, the last word overlapping the one before; others by `==`, which calls `memcmp`.
//!
//! glibc's `memcmp` reads a short key with a masked AVX-512 load, and on this project's test
//! machine (AMD EPYC) `perf record` of SET -P16 with 16-byte values put 11 % of the node's samples
//! on the instruction after that load, in the table probes, and none on the words compared here:
//! SET -P16 1.16x the requests per second with 16-byte values, 1.00x with 256-byte ones
//! (`benches/compare/ab.sh`, 5 alternating rounds each).
//!
//! The snapshot's sort by key waited on the records, not on `memcmp`: compared word-wise in
//! place it took the CPU time it took with `memcmp` (a SAVE of 1M keys: 103 and 95 ticks against
//! 95 and 100). It sorts by [`order_prefix`], held beside each record's address, instead.

/// The 8 bytes of `key` from `at`, as a number.
#[inline]
fn word(key: &[u8], at: usize) -> u64 {
    u64::from_ne_bytes(key[at..at + 8].try_into().expect("8 bytes"))
}

/// Whether `a` and `b` are the same key.
#[inline]
pub fn same_key(a: &[u8], b: &[u8]) -> bool {
    let len = a.len();
    if len != b.len() {
        return false;
    }
    if !(8..=32).contains(&len) {
        return a == b;
    }
    let mut at = 0;
    while at + 8 < len {
        if word(a, at) != word(b, at) {
            return false;
        }
        at += 8;
    }
    // The last word, overlapping the one before when the length is not a multiple of 8.
    word(a, len - 8) == word(b, len - 8)
}

/// `key`'s first 16 bytes, zero-padded, as two big-endian numbers: where two keys' prefixes
/// differ, they order as the keys do (the first byte that differs is a byte of both keys, or a
/// pad byte of the one that is a proper prefix of the other, which sorts first); keys alike in
/// their first 16 bytes, or alike but for trailing zero bytes, have equal prefixes and must be
/// compared whole.
#[inline]
pub fn order_prefix(key: &[u8]) -> [u64; 2] {
    let mut bytes = [0; 16];
    let len = key.len().min(16);
    bytes[..len].copy_from_slice(&key[..len]);
    let (high, low) = bytes.split_at(8);
    [
        u64::from_be_bytes(high.try_into().expect("8 bytes")),
        u64::from_be_bytes(low.try_into().expect("8 bytes")),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keys of every length up to 40 (past the word-wise lengths), and each with any one byte
    /// changed, one byte longer, and one byte shorter.
    fn pairs() -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut pairs = Vec::new();
        for len in 0..=40u8 {
            let key: Vec<u8> = (0..len).map(|i| i.wrapping_mul(37) ^ 0x5a).collect();
            pairs.push((key.clone(), key.clone()));
            for at in 0..key.len() {
                for change in [0x80, 0x01] {
                    let mut other = key.clone();
                    other[at] ^= change;
                    pairs.push((key.clone(), other));
                }
            }
            pairs.push((key.clone(), [&key[..], &[0]].concat()));
            pairs.push((key.clone(), [&key[..], &[0xff]].concat()));
            if let Some((_, shorter)) = key.split_last() {
                pairs.push((key.clone(), shorter.to_vec()));
            }
        }
        pairs
    }

    #[test]
    fn same_key_agrees_with_byte_equality() {
        for (a, b) in pairs() {
            assert_eq!(same_key(&a, &b), a == b, "{a:?} and {b:?}");
            assert_eq!(same_key(&b, &a), a == b, "{b:?} and {a:?}");
        }
    }

    /// Prefixes order as their keys do wherever they differ, and differ wherever the keys do in
    /// their first 16 bytes other than by trailing zeros.
    #[test]
    fn order_prefix_orders_as_the_keys_do() {
        for (a, b) in pairs() {
            let (pa, pb) = (order_prefix(&a), order_prefix(&b));
            if pa != pb {
                assert_eq!(pa.cmp(&pb), a.cmp(&b), "{a:?} and {b:?}");
            }
            let padded =
                |key: &[u8]| key.iter().copied().chain(std::iter::repeat(0)).take(16).collect::<Vec<u8>>();
            assert_eq!(pa == pb, padded(&a) == padded(&b), "{a:?} and {b:?}");
        }
    }
}
