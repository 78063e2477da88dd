//! A string key's snapshot record ([`SnapshotItem::KeyCreated`], nearly every record of a
//! snapshot) encoded and decoded by hand, to and from the very bytes bincode writes and reads
//! for it; every other item goes through serde. The tests below compare both directions with
//! bincode's.
//!
//! Why by hand: through serde a SAVE copied each key and value three times and allocated the
//! record twice (`snapshot.rs`), and a restart of 1M keys spent 14 % of its time in bincode's
//! decoder (`perf record` of the node until it served).

use bytes::Bytes;

use crate::snapshot::{SnapshotItem, SNAPSHOT_FORMAT_VERSION, SNAPSHOT_FORMAT_VERSIONS_READ};
use crate::varint;

/// bincode's variant index of [`SnapshotItem::KeyCreated`] (its place among the variants).
const ITEM_KEY_CREATED: u64 = 4;

/// A string key's metadata: its expiry, modification index and create index.
pub(crate) type KeyMeta = (Option<u64>, u64, u64);

/// Appends the payload of the `KeyCreated` record of `key` and `value` to `out`: the version
/// byte, then the item as bincode encodes it.
pub(crate) fn encode_key_created(out: &mut Vec<u8>, key: &[u8], value: &[u8], meta: KeyMeta) {
    let (expire_at_ms, mod_index, create_index) = meta;
    out.push(SNAPSHOT_FORMAT_VERSION);
    varint::varint(out, ITEM_KEY_CREATED);
    varint::bytes(out, key);
    varint::bytes(out, value);
    varint::option_tag(out, expire_at_ms.is_some());
    if let Some(expire_at_ms) = expire_at_ms {
        varint::varint(out, expire_at_ms);
    }
    varint::varint(out, mod_index);
    varint::varint(out, create_index);
}

/// The `KeyCreated` item `payload` holds, as bincode reads it; `None` for any other payload,
/// well-formed or not, which the caller hands to bincode (that decides what it is, or why it
/// is malformed).
pub(crate) fn decode_key_created(payload: &[u8]) -> Option<SnapshotItem> {
    let (&version, mut rest) = payload.split_first()?;
    if !SNAPSHOT_FORMAT_VERSIONS_READ.contains(&version) || varint::read(&mut rest)? != ITEM_KEY_CREATED {
        return None;
    }
    let key = read_bytes(&mut rest)?;
    let value = read_bytes(&mut rest)?;
    let expire_at_ms = match rest.split_first()? {
        (0, after) => {
            rest = after;
            None
        }
        (1, after) => {
            rest = after;
            Some(varint::read(&mut rest)?)
        }
        _ => return None,
    };
    let mod_index = varint::read(&mut rest)?;
    let create_index = varint::read(&mut rest)?;
    rest.is_empty().then_some(SnapshotItem::KeyCreated { key, value, expire_at_ms, mod_index, create_index })
}

/// A byte string: its length, then its bytes, copied.
fn read_bytes(input: &mut &[u8]) -> Option<Bytes> {
    let len = usize::try_from(varint::read(input)?).ok()?;
    let bytes = input.get(..len)?;
    *input = &input[len..];
    Some(Bytes::copy_from_slice(bytes))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::codec;

    fn item(key: Vec<u8>, value: Vec<u8>, (expire_at_ms, mod_index, create_index): KeyMeta) -> SnapshotItem {
        SnapshotItem::KeyCreated {
            key: key.into(),
            value: value.into(),
            expire_at_ms,
            mod_index,
            create_index,
        }
    }

    /// Numbers across each of bincode's varint widths.
    fn number() -> impl Strategy<Value = u64> {
        prop_oneof![0..=250u64, 251..=0xffffu64, 0x1_0000..=0xffff_ffffu64, any::<u64>()]
    }

    fn string() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..40),
            prop::collection::vec(any::<u8>(), 240..70_000)
        ]
    }

    fn meta() -> impl Strategy<Value = KeyMeta> {
        (prop::option::of(number()), number(), number())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// What the encoder writes is what serde writes, and the decoder reads it back.
        #[test]
        fn a_string_key_encodes_as_serde_does(key in string(), value in string(), meta in meta()) {
            let mut by_hand = Vec::new();
            encode_key_created(&mut by_hand, &key, &value, meta);
            let expected = item(key, value, meta);
            prop_assert_eq!(&by_hand, &codec::encode_versioned(SNAPSHOT_FORMAT_VERSION, &expected));
            prop_assert_eq!(decode_key_created(&by_hand), Some(expected));
        }

        /// On any payload, changed, cut or lengthened, the decoder reads what bincode reads, or
        /// leaves it to bincode.
        #[test]
        fn the_decoder_never_reads_what_bincode_would_not(
            key in string(),
            value in string(),
            meta in meta(),
            at in any::<prop::sample::Index>(),
            byte in any::<u8>(),
            cut in any::<prop::sample::Index>(),
            extra in prop::collection::vec(any::<u8>(), 0..3),
        ) {
            let mut payload = Vec::new();
            encode_key_created(&mut payload, &key, &value, meta);
            let mut changed = payload.clone();
            let at = at.index(changed.len());
            changed[at] = byte;
            let cut = payload[..cut.index(payload.len())].to_vec();
            let lengthened = [&payload[..], &extra[..]].concat();
            for bytes in [changed, cut, lengthened] {
                let serde = codec::decode_any_version::<SnapshotItem>(SNAPSHOT_FORMAT_VERSIONS_READ, &bytes);
                if let Some(decoded) = decode_key_created(&bytes) {
                    prop_assert_eq!(Some(decoded), serde.ok());
                }
            }
        }
    }

    /// Every byte of a few short payloads changed to each value that means something to a
    /// varint or a tag, and each payload cut at every length: the decoder reads what bincode
    /// reads, or leaves it to bincode.
    #[test]
    fn every_byte_changed_reads_as_bincode_reads_it() {
        let metas = [(None, 7, 3), (Some(300), 70_000, 1 << 40)];
        for (key, value, meta) in [(&b"k"[..], &b"value"[..], metas[0]), (b"", b"", metas[1])] {
            let mut payload = Vec::new();
            encode_key_created(&mut payload, key, value, meta);
            let mut variants: Vec<Vec<u8>> = (0..payload.len()).map(|len| payload[..len].to_vec()).collect();
            for at in 0..payload.len() {
                for byte in [0, 1, 2, 3, 4, 5, 250, 251, 252, 253, 254, 255] {
                    let mut changed = payload.clone();
                    changed[at] = byte;
                    variants.push(changed);
                }
            }
            for bytes in variants {
                let serde = codec::decode_any_version::<SnapshotItem>(SNAPSHOT_FORMAT_VERSIONS_READ, &bytes);
                if let Some(decoded) = decode_key_created(&bytes) {
                    assert_eq!(Some(decoded), serde.ok(), "{bytes:?}");
                }
            }
        }
    }

    /// Other items are left to serde, as are versions this build does not read.
    #[test]
    fn other_items_are_left_to_serde() {
        let end = codec::encode_versioned(
            SNAPSHOT_FORMAT_VERSION,
            &SnapshotItem::End { item_count: 1, checksum: 2 },
        );
        assert_eq!(decode_key_created(&end), None);
        let mut newer = Vec::new();
        encode_key_created(&mut newer, b"k", b"v", (None, 1, 1));
        assert!(decode_key_created(&newer).is_some());
        newer[0] = SNAPSHOT_FORMAT_VERSION + 1;
        assert_eq!(decode_key_created(&newer), None);
        assert_eq!(decode_key_created(&[]), None);
    }
}
