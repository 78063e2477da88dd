//! Running OBJECT, MEMORY USAGE and LCS: OBJECT and MEMORY answer what redraft holds, not what
//! Redis would.

use std::ops::Deref;

use bytes::Bytes;

use super::context::aggregate_of;
use crate::map::{Locked, Shard};
use crate::number::parse_i64;
use crate::reply::Reply;
use crate::stored_key::{StoredKey, INLINE_VALUE_BYTES_MAX};
use crate::types::inspect::{InspectCommand, LcsOptions, ObjectSub, LCS_TABLE_BYTES_MAX};
use crate::types::{Aggregate, Kind};

const OBJECT_HELP: &[&str] = &[
    "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "ENCODING <key>",
    "    Return the kind of internal representation used in order to store the value",
    "    associated with a <key>.",
    "FREQ <key>",
    "    Return the access frequency index of the <key>. The returned integer is",
    "    proportional to the logarithm of the recent access frequency of the key.",
    "IDLETIME <key>",
    "    Return the idle time of the <key>, that is the approximated number of",
    "    seconds elapsed since the last access to the key.",
    "REFCOUNT <key>",
    "    Return the number of references of the value associated with the specified",
    "    <key>.",
    "HELP",
    "    Print this help.",
];

/// Runs OBJECT, MEMORY USAGE or LCS.
pub(crate) fn read<G: Deref<Target = Shard>>(
    command: &InspectCommand,
    view: &Locked<'_, G>,
    now_ms: u64,
) -> Reply {
    match command {
        InspectCommand::ObjectHelp => {
            Reply::Array(OBJECT_HELP.iter().map(|line| Reply::Status((*line).to_owned())).collect())
        }
        InspectCommand::Object { sub, key } => {
            let Some(stored) = view.live(key, now_ms) else { return Reply::Nil };
            match sub {
                ObjectSub::Encoding => Reply::Bulk(Bytes::from_static(encoding(stored).as_bytes())),
                ObjectSub::RefCount => Reply::Integer(1),
                ObjectSub::Freq => Reply::Error(
                    "ERR redraft does not track access frequency (it has no LFU eviction), so FREQ is not known"
                        .to_owned(),
                ),
                ObjectSub::IdleTime => Reply::Error(
                    "ERR redraft does not track access times (it has no LRU eviction), so IDLETIME is not known"
                        .to_owned(),
                ),
            }
        }
        InspectCommand::MemoryUsage { key } => match view.live(key, now_ms) {
            // The record (with its aggregate), its slot in the shard's table and in the SCAN
            // index.
            Some(stored) => Reply::Integer((stored.allocation_bytes() + TABLE_AND_INDEX_BYTES) as i64),
            None => Reply::Nil,
        },
        InspectCommand::Lcs { a, b, options } => {
            let string = |key: &[u8]| match aggregate_of(view.live(key, now_ms), Kind::String) {
                Ok(_) => Ok(view.live(key, now_ms).map(StoredKey::value_bytes).unwrap_or_default()),
                Err(_) => Err(()),
            };
            let (Ok(a), Ok(b)) = (string(a), string(b)) else {
                return Reply::Error("ERR The specified keys must contain string values".to_owned());
            };
            match options {
                Ok(options) => lcs(&a, &b, options),
                Err(error) => Reply::Error(error.clone()),
            }
        }
    }
}

/// What MEMORY USAGE adds to a record's own bytes: its slot in the shard's hash table (a pointer
/// and a control byte, at a typical load) and its hash in the SCAN index.
const TABLE_AND_INDEX_BYTES: usize = 24;

/// OBJECT ENCODING's answer: for a string, Redis's names where redraft holds it alike (`int`
/// for an integer, `embstr` for a value kept inside the key's record, `raw` for one kept apart);
/// for an aggregate, the structure redraft holds it in.
fn encoding(stored: &StoredKey) -> &'static str {
    match stored.aggregate() {
        Some(Aggregate::Hash(hash)) if hash.is_small() => "listpack",
        Some(Aggregate::Set(set)) if set.is_small() => "listpack",
        Some(Aggregate::Hash(_)) | Some(Aggregate::Set(_)) => "hashtable",
        Some(Aggregate::List(_)) => "ringbuffer",
        Some(Aggregate::ZSet(zset)) if zset.is_small() => "listpack",
        Some(Aggregate::ZSet(_)) => "btree",
        None => {
            let value = stored.value();
            if value.len() <= 20 && parse_i64(value).is_some() {
                "int"
            } else if value.len() <= INLINE_VALUE_BYTES_MAX {
                "embstr"
            } else {
                "raw"
            }
        }
    }
}

/// LCS, ported from Redis 7's `lcsCommand`: the dynamic-programming table, then a walk back that
/// builds the common string and, for IDX, the matching ranges from the ends of the strings.
fn lcs(a: &[u8], b: &[u8], options: &LcsOptions) -> Reply {
    let (alen, blen) = (a.len(), b.len());
    let cells = (alen as u64 + 1) * (blen as u64 + 1);
    if cells * 4 > LCS_TABLE_BYTES_MAX {
        return Reply::Error(format!(
            "ERR LCS of {alen} and {blen} bytes needs a table of {} bytes, the limit is {LCS_TABLE_BYTES_MAX}",
            cells * 4
        ));
    }
    let width = blen + 1;
    let mut table = vec![0u32; cells as usize];
    for i in 1..=alen {
        for j in 1..=blen {
            table[i * width + j] = if a[i - 1] == b[j - 1] {
                table[(i - 1) * width + j - 1] + 1
            } else {
                table[(i - 1) * width + j].max(table[i * width + j - 1])
            };
        }
    }
    let total = table[alen * width + blen];
    if options.len {
        return Reply::Integer(i64::from(total));
    }
    let mut result = vec![0u8; total as usize];
    let mut matches = Vec::new();
    let (mut idx, mut i, mut j) = (total as usize, alen, blen);
    // `a_start == alen` means no range is open.
    let (mut a_start, mut a_end, mut b_start, mut b_end) = (alen, 0, 0, 0);
    while i > 0 && j > 0 {
        let mut emit = false;
        if a[i - 1] == b[j - 1] {
            result[idx - 1] = a[i - 1];
            if a_start == alen {
                (a_start, a_end, b_start, b_end) = (i - 1, i - 1, j - 1, j - 1);
            } else if a_start == i && b_start == j {
                a_start -= 1;
                b_start -= 1;
            } else {
                emit = true;
            }
            if a_start == 0 || b_start == 0 {
                emit = true;
            }
            idx -= 1;
            i -= 1;
            j -= 1;
        } else {
            if table[(i - 1) * width + j] > table[i * width + j - 1] {
                i -= 1;
            } else {
                j -= 1;
            }
            if a_start != alen {
                emit = true;
            }
        }
        if emit {
            let match_len = a_end - a_start + 1;
            if options.min_match_len == 0 || match_len as u64 >= options.min_match_len {
                let range = |start: usize, end: usize| {
                    Reply::Array(vec![Reply::Integer(start as i64), Reply::Integer(end as i64)])
                };
                let mut item = vec![range(a_start, a_end), range(b_start, b_end)];
                if options.with_match_len {
                    item.push(Reply::Integer(match_len as i64));
                }
                matches.push(Reply::Array(item));
            }
            a_start = alen;
        }
    }
    if options.idx {
        return Reply::Map(vec![
            (Reply::Bulk(Bytes::from_static(b"matches")), Reply::Array(matches)),
            (Reply::Bulk(Bytes::from_static(b"len")), Reply::Integer(i64::from(total))),
        ]);
    }
    Reply::Bulk(Bytes::from(result))
}
