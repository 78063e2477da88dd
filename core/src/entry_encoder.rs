//! A [`LogEntry`] encoded by hand, to the very bytes [`codec::encode_into`] writes, for the writes
//! nearly every entry is made of: a SET (`Write::Command` with `Command::Set`) and a put on its
//! own (`Write::Txn` holding one `TxnOp::Put`, what the HTTP API's plain PUT proposes). Any other
//! write, and any entry that is not a batch, is encoded by bincode. The layout is in
//! `entry_layout.rs`; `entry_decoder.rs` reads it back; `core/tests/entry_codec.rs` checks on
//! random entries that both agree with bincode.
//!
//! Why by hand: the leader encodes every entry it appends to its log, and bincode reaches each
//! field through serde's serializer, which cost a SET about 350 instructions (valgrind's
//! callgrind, one node, `SET -P16`, 16-byte values: 6 % of all a SET costs there).

use crate::codec;
use crate::command::{Command, Expiry, SetCommand, SetCondition, SetExpiry};
use crate::encoded_string::EncodedString;
use crate::entry::{LogEntry, Payload, SessionRef, Write};
use crate::entry_layout::{COMMAND_SET, PAYLOAD_BATCH, TXN_OP_PUT, WRITE_COMMAND, WRITE_TXN};
use crate::txn::{Txn, TxnOp};
use crate::varint::{bytes, len, option_tag, varint, zigzag};

/// Appends `entry`'s encoding to `out`: what [`codec::encode_into`] appends.
pub fn encode_log_entry(entry: &LogEntry, out: &mut Vec<u8>) {
    encode(entry, out, &mut Placing { start: out.len(), placed: None });
}

/// [`encode_log_entry`], and notes in `placed` where the encoding holds each key and value of
/// the SETs and puts it encodes by hand, counted from where the entry's encoding starts in
/// `out` ([`EncodedString`]).
pub fn encode_log_entry_placing(entry: &LogEntry, out: &mut Vec<u8>, placed: &mut Vec<EncodedString>) {
    encode(entry, out, &mut Placing { start: out.len(), placed: Some(placed) });
}

/// Where the strings go, when they are noted.
struct Placing<'a> {
    start: usize,
    placed: Option<&'a mut Vec<EncodedString>>,
}

impl Placing<'_> {
    /// Appends `string` as [`bytes`] does, noting where it went.
    fn string(&mut self, out: &mut Vec<u8>, string: &[u8]) {
        len(out, string.len());
        if let Some(placed) = &mut self.placed {
            placed.push(EncodedString::new(string, out.len() - self.start));
        }
        out.extend_from_slice(string);
    }
}

fn encode(entry: &LogEntry, out: &mut Vec<u8>, placing: &mut Placing<'_>) {
    let Payload::Batch { writes } = &entry.payload else {
        codec::encode_into(entry, out);
        return;
    };
    varint(out, entry.stamp_ms);
    varint(out, PAYLOAD_BATCH.into());
    len(out, writes.len());
    for write in writes.iter() {
        match write {
            Write::Command { session, command: Command::Set(set) } => {
                varint(out, WRITE_COMMAND.into());
                session_ref(out, session.as_ref());
                varint(out, COMMAND_SET.into());
                set_command(out, set, placing);
            }
            Write::Txn { session, txn: Txn { compares, success, failure } }
                if compares.is_empty() && failure.is_empty() =>
            {
                let [TxnOp::Put { key, value, ttl_ms, keep_ttl }] = success.as_slice() else {
                    codec::encode_into(write, out);
                    continue;
                };
                varint(out, WRITE_TXN.into());
                session_ref(out, session.as_ref());
                len(out, 0);
                len(out, 1);
                varint(out, TXN_OP_PUT.into());
                placing.string(out, key);
                placing.string(out, value);
                option_tag(out, ttl_ms.is_some());
                if let Some(ttl_ms) = ttl_ms {
                    varint(out, *ttl_ms);
                }
                out.push(u8::from(*keep_ttl));
                len(out, 0);
            }
            other => codec::encode_into(other, out),
        }
    }
}

fn set_command(out: &mut Vec<u8>, set: &SetCommand, placing: &mut Placing<'_>) {
    let SetCommand { name, key, value, condition, expiry, get } = set;
    // A fieldless enum's discriminant is its index in declaration order, bincode's variant index.
    varint(out, *name as u64);
    placing.string(out, key);
    placing.string(out, value);
    match condition {
        SetCondition::Always => varint(out, 0),
        SetCondition::IfAbsent => varint(out, 1),
        SetCondition::IfPresent => varint(out, 2),
        SetCondition::IfEqual(expected) => {
            varint(out, 3);
            bytes(out, expected);
        }
    }
    match expiry {
        SetExpiry::Clear => varint(out, 0),
        SetExpiry::Keep => varint(out, 1),
        SetExpiry::Set(expiry) => {
            varint(out, 2);
            match *expiry {
                Expiry::Persist => varint(out, 0),
                Expiry::InMs(ms) => {
                    varint(out, 1);
                    varint(out, zigzag(ms));
                }
                Expiry::AtMs(ms) => {
                    varint(out, 2);
                    varint(out, zigzag(ms));
                }
            }
        }
    }
    out.push(u8::from(*get));
}

fn session_ref(out: &mut Vec<u8>, session: Option<&SessionRef>) {
    option_tag(out, session.is_some());
    if let Some(SessionRef { client_id, sequence }) = session {
        varint(out, *client_id);
        varint(out, sequence.get());
    }
}
