//! HSCAN and SSCAN: a cursor over an aggregate's elements that, as Redis promises, returns every
//! element present for the whole iteration, whatever is added or removed between calls.
//!
//! An aggregate of at most [`WHOLE_MAX`] elements comes whole in one call, with cursor 0, as
//! Redis answers for its small (listpack and intset) encodings. A larger one is walked in the
//! order of a stable 64-bit hash of each element: the cursor is a hash value, and a call returns
//! the elements whose hashes are the `count` smallest at or above it. Elements never move in that
//! order, so none present throughout is skipped. A call visits every element to find them: O(N)
//! per call where Redis's bucket walk is O(count), the price of holding no extra index.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::fnv::Fnv64;
use crate::glob;
use crate::reply::Reply;

/// Aggregates up to this many elements are returned whole by one call.
pub const WHOLE_MAX: usize = 128;

/// The next cursor, and the elements of one call with what goes with each.
pub(crate) type Page<'a, T> = (u64, Vec<(&'a [u8], T)>);

/// A scan's MATCH and COUNT.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanOptions {
    pub pattern: Option<Bytes>,
    pub count: usize,
    /// What is wrong with the options, if anything: Redis reports it only once it has found the
    /// key (a scan of a missing key answers an empty page whatever its options).
    pub error: Option<String>,
}

/// One call: the next cursor and the items picked (each an element with what goes with it, such
/// as a hash field's value), those whose element matches the pattern; the options' error reply
/// if they had one.
pub(crate) fn scan<'a, T>(
    elements: impl Iterator<Item = (&'a [u8], T)>,
    len: usize,
    cursor: u64,
    options: &ScanOptions,
) -> Result<Page<'a, T>, Reply> {
    if let Some(error) = &options.error {
        return Err(Reply::Error(error.clone()));
    }
    Ok(walk(elements, len, cursor, options.count, options.pattern.as_deref()))
}

fn walk<'a, T>(
    elements: impl Iterator<Item = (&'a [u8], T)>,
    len: usize,
    cursor: u64,
    count: usize,
    pattern: Option<&[u8]>,
) -> Page<'a, T> {
    let matches = |element: &[u8]| pattern.is_none_or(|p| glob::matches(p, element));
    if len <= WHOLE_MAX {
        return (0, elements.filter(|(element, _)| matches(element)).collect());
    }
    let mut ahead: Vec<(u64, &'a [u8], T)> =
        elements.map(|(e, t)| (hash(e), e, t)).filter(|(h, _, _)| *h >= cursor).collect();
    let mut next = 0;
    if ahead.len() > count {
        ahead.select_nth_unstable_by_key(count, |(h, _, _)| *h);
        // The element at `count` has the smallest hash left out; any kept with the same hash
        // would make the next cursor skip it, so those are left for the next call too.
        let cut = ahead[count].0;
        ahead.retain(|(h, _, _)| *h < cut);
        next = cut;
    }
    ahead.sort_unstable_by_key(|(h, _, _)| *h);
    (next, ahead.into_iter().filter(|(_, e, _)| matches(e)).map(|(_, e, t)| (e, t)).collect())
}

/// The reply of a call: the next cursor, then the items.
pub(crate) fn reply(next: u64, items: Vec<Reply>) -> Reply {
    Reply::Array(vec![Reply::Bulk(Bytes::from(next.to_string())), Reply::Array(items)])
}

fn hash(element: &[u8]) -> u64 {
    let mut fnv = Fnv64::default();
    fnv.write(element);
    fnv.0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A large aggregate's walk returns every element exactly once, in pieces of about `count`,
    /// and an element present throughout is returned even as others come and go between calls.
    #[test]
    fn a_walk_returns_every_element_present_throughout() {
        let mut elements: Vec<Vec<u8>> = (0..1000).map(|i| format!("e{i}").into_bytes()).collect();
        let mut cursor = 0;
        let mut seen = Vec::new();
        let mut calls = 0;
        loop {
            let items = elements.iter().map(|e| (&e[..], ()));
            let (next, found) = walk(items, elements.len(), cursor, 10, None);
            assert!(found.len() <= 10);
            seen.extend(found.iter().map(|(e, _)| e.to_vec()));
            calls += 1;
            // Churn between calls: one element comes, the one that came before goes.
            let gone = format!("new{}", calls - 1).into_bytes();
            elements.retain(|e| *e != gone);
            elements.push(format!("new{calls}").into_bytes());
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        assert!(calls >= 100, "{calls} calls");
        for i in 0..1000 {
            let element = format!("e{i}").into_bytes();
            assert_eq!(seen.iter().filter(|s| **s == element).count(), 1, "e{i}");
        }
    }

    /// A small aggregate comes whole, matching the pattern, with cursor 0.
    #[test]
    fn a_small_aggregate_comes_whole() {
        let elements: Vec<&[u8]> = vec![b"a1", b"b2", b"a3"];
        let (next, found) = walk(elements.iter().map(|e| (*e, ())), 3, 0, 1, Some(b"a*"));
        assert_eq!(next, 0);
        assert_eq!(found.iter().map(|(e, _)| *e).collect::<Vec<_>>(), vec![&b"a1"[..], b"a3"]);
    }
}
