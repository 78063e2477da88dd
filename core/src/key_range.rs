//! A range of keys in byte order, as the HTTP API's ranges and etcd's `range_end` name them.

use bytes::Bytes;

/// The keys `start <= key < end` (no upper bound when `end` is `None`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRange {
    pub start: Bytes,
    pub end: Option<Bytes>,
}

impl KeyRange {
    /// Every key that starts with `prefix`.
    pub fn prefix(prefix: &[u8]) -> KeyRange {
        KeyRange { start: Bytes::copy_from_slice(prefix), end: prefix_end(prefix) }
    }

    /// Whether `key` is in the range.
    pub fn contains(&self, key: &[u8]) -> bool {
        key >= &self.start[..] && self.end.as_ref().is_none_or(|end| key < &end[..])
    }
}

/// The first key after every key that starts with `prefix` (etcd's `GetPrefixRangeEnd`): the
/// prefix with its last byte below 0xff incremented and what follows it dropped; `None` when
/// there is no such key (an empty prefix, or one of 0xff bytes only).
pub fn prefix_end(prefix: &[u8]) -> Option<Bytes> {
    let last = prefix.iter().rposition(|&b| b != 0xff)?;
    let mut end = prefix[..=last].to_vec();
    end[last] += 1;
    Some(Bytes::from(end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_range_holds_exactly_the_keys_with_the_prefix() {
        let keys: [&[u8]; 9] = [b"", b"a", b"a/", b"a/b", b"a/\xff", b"a0", b"b", b"\xff", b"\xff\xff\x01"];
        for prefix in [&b""[..], b"a", b"a/", b"\xff", b"a/\xff"] {
            let range = KeyRange::prefix(prefix);
            for key in keys {
                assert_eq!(range.contains(key), key.starts_with(prefix), "{prefix:?} {key:?}");
            }
        }
        assert_eq!(prefix_end(b"a\xff\xff"), Some(Bytes::from_static(b"b")));
        assert_eq!(prefix_end(b"\xff"), None);
    }
}
