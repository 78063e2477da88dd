//! A [`LogEntry`] decoded from its bytes ([`codec::encode_into`]) by hand for the writes nearly
//! every entry is made of, and by bincode for the rest: the same value bincode decodes, or an
//! error where it errs (`core/tests/entry_codec.rs` checks both on random entries and on
//! damaged ones).
//!
//! Why by hand: every follower decodes each entry it receives, and a node restarting decodes its
//! log. bincode reaches each field through serde's visitors, which cost a SET about 1,460
//! instructions to decode on a follower of three (valgrind's callgrind, 50 clients, `SET -P16`,
//! 16-byte values), nearly what applying it costs; this decoder, about 870, a quarter of them the
//! allocation of the `Box` a SET's arguments then lived in (a SET is no longer boxed). Here a SET (`Write::Command` with
//! `Command::Set`) and a put on its own (`Write::Txn` holding one `TxnOp::Put`, what the HTTP
//! API's plain PUT proposes) are read field by field; any other write is handed to bincode, from
//! where it starts, and reading goes on after it. `entry_encoder.rs` writes them so.
//!
//! Their keys and values of at most [`INLINE_VALUE_BYTES_MAX`] bytes are slices of the bytes
//! decoded, not copies: the map copies strings that short into its records when it applies them
//! (`stored_key.rs`), so a slice keeps the received buffer alive only as long as the entry that
//! holds it (which keeps that buffer as its encoding anyway). A longer value is copied, because
//! the map keeps it as it is, and a slice would pin the whole buffer for as long as the key lives.
//!
//! The layout, and the variant indexes read, are in `entry_layout.rs`.

use std::num::NonZeroU64;
use std::sync::Arc;

use bytes::Bytes;
use serde::de::DeserializeOwned;

use crate::codec::{self, DecodeError};
use crate::command::{Command, CommandName, Expiry, SetCommand, SetCondition, SetExpiry};
use crate::entry::{LogEntry, Payload, SessionRef, Write};
use crate::entry_layout::{
    COMMAND_SET, PAYLOAD_BATCH, PAYLOAD_COMMAND, PAYLOAD_EXPIRE_BATCH, PAYLOAD_TIME_ADVANCE,
    PAYLOAD_TRANSACTION, TXN_OP_PUT, WRITE_COMMAND, WRITE_TXN,
};
use crate::stored_key::INLINE_VALUE_BYTES_MAX;
use crate::txn::{Txn, TxnOp};

/// Decodes a [`LogEntry`] written by [`codec::encode_into`](crate::codec::encode_into); its short
/// strings share `source`.
///
/// # Errors
/// [`DecodeError::Malformed`] where bincode would refuse the bytes.
pub fn decode_log_entry(source: &Bytes) -> Result<LogEntry, DecodeError> {
    let bytes = source.as_ref();
    let mut reader = Reader { source, bytes, at: 0 };
    let stamp_ms = reader.varint()?;
    let start = reader.at;
    let payload = if reader.varint_u32()? == PAYLOAD_BATCH {
        Payload::Batch { writes: Arc::new(reader.writes()?) }
    } else {
        reader.at = start;
        reader.by_bincode::<Payload>()?
    };
    if reader.at != bytes.len() {
        return Err(malformed("trailing bytes after a log entry"));
    }
    Ok(LogEntry::new(stamp_ms, payload))
}

/// How many writes the encoding of a [`LogEntry`] carries, read from its head alone: a batch's
/// writes, one for a lone command or transaction (version 1 logs), the keys of an expiry batch,
/// none for a time advance. A restart counts the writes it is about to replay with it
/// (`server/src/node/mod.rs`); the entry is not checked past its head.
///
/// # Errors
/// [`DecodeError::Malformed`] when the head is cut short or names no payload.
pub fn write_count(source: &Bytes) -> Result<usize, DecodeError> {
    let mut reader = Reader { source, bytes: source.as_ref(), at: 0 };
    reader.varint()?;
    match reader.varint_u32()? {
        PAYLOAD_COMMAND | PAYLOAD_TRANSACTION => Ok(1),
        PAYLOAD_TIME_ADVANCE => Ok(0),
        PAYLOAD_EXPIRE_BATCH | PAYLOAD_BATCH => reader.len(),
        _ => Err(malformed("an unknown payload variant")),
    }
}

fn malformed(why: &str) -> DecodeError {
    DecodeError::Malformed(Box::new(bincode::ErrorKind::Custom(why.to_owned())))
}

/// A position in the bytes being decoded.
struct Reader<'a> {
    source: &'a Bytes,
    /// `source`'s bytes.
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    #[inline]
    fn byte(&mut self) -> Result<u8, DecodeError> {
        let byte = *self.bytes.get(self.at).ok_or_else(|| malformed("the bytes end inside a value"))?;
        self.at += 1;
        Ok(byte)
    }

    #[inline]
    fn take(&mut self, len: usize) -> Result<&[u8], DecodeError> {
        let end = self.at.checked_add(len).filter(|&end| end <= self.bytes.len());
        let end = end.ok_or_else(|| malformed("the bytes end inside a value"))?;
        let taken = &self.bytes[self.at..end];
        self.at = end;
        Ok(taken)
    }

    #[inline]
    fn varint(&mut self) -> Result<u64, DecodeError> {
        let len = match self.byte()? {
            byte @ 0..=250 => return Ok(u64::from(byte)),
            251 => 2,
            252 => 4,
            253 => 8,
            _ => return Err(malformed("a varint wider than 64 bits")),
        };
        let mut le = [0u8; 8];
        le[..len].copy_from_slice(self.take(len)?);
        Ok(u64::from_le_bytes(le))
    }

    #[inline]
    fn varint_u32(&mut self) -> Result<u32, DecodeError> {
        u32::try_from(self.varint()?).map_err(|_| malformed("a 32-bit integer out of range"))
    }

    fn varint_i64(&mut self) -> Result<i64, DecodeError> {
        let n = self.varint()?;
        Ok(if n % 2 == 0 { (n / 2) as i64 } else { !(n / 2) as i64 })
    }

    /// A length, no longer than the bytes left (each item takes one byte at least).
    fn len(&mut self) -> Result<usize, DecodeError> {
        let len = usize::try_from(self.varint()?).map_err(|_| malformed("a length out of range"))?;
        if len > self.bytes.len() - self.at {
            return Err(malformed("a length past the end of the bytes"));
        }
        Ok(len)
    }

    /// A `bool`, or an `Option`'s tag (whether a value follows): one byte, 0 or 1.
    #[inline]
    fn bool(&mut self) -> Result<bool, DecodeError> {
        match self.byte()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(malformed("a bool or option tag neither 0 nor 1")),
        }
    }

    fn bytes(&mut self) -> Result<Bytes, DecodeError> {
        let len = self.len()?;
        let start = self.at;
        let taken = self.take(len)?;
        Ok(match len <= INLINE_VALUE_BYTES_MAX {
            true => self.source.slice(start..start + len),
            false => Bytes::copy_from_slice(taken),
        })
    }

    /// The value that starts here, decoded by bincode, which reads exactly its bytes.
    fn by_bincode<T: DeserializeOwned>(&mut self) -> Result<T, DecodeError> {
        let mut rest = &self.bytes[self.at..];
        let before = rest.len();
        let value = codec::decode_prefix(&mut rest)?;
        self.at += before - rest.len();
        Ok(value)
    }

    fn writes(&mut self) -> Result<Vec<Write>, DecodeError> {
        let count = self.len()?;
        // A count read from damaged bytes may be large: the list grows past this as it fills.
        let mut writes = Vec::with_capacity(count.min(4096));
        for _ in 0..count {
            let start = self.at;
            let write = match self.common_write()? {
                Some(write) => write,
                None => {
                    self.at = start;
                    self.by_bincode::<Write>()?
                }
            };
            writes.push(write);
        }
        Ok(writes)
    }

    /// The write that starts here if it is a SET or a lone put; `None` (having read some of it)
    /// for any other.
    fn common_write(&mut self) -> Result<Option<Write>, DecodeError> {
        let kind = self.varint_u32()?;
        if kind != WRITE_COMMAND && kind != WRITE_TXN {
            return Ok(None);
        }
        let session = match self.bool()? {
            false => None,
            true => {
                let client_id = self.varint()?;
                let sequence = NonZeroU64::new(self.varint()?)
                    .ok_or_else(|| malformed("a session's sequence number of 0"))?;
                Some(SessionRef { client_id, sequence })
            }
        };
        if kind == WRITE_COMMAND {
            if self.varint_u32()? != COMMAND_SET {
                return Ok(None);
            }
            let Some(set) = self.set()? else { return Ok(None) };
            return Ok(Some(Write::Command { session, command: Command::Set(set) }));
        }
        // A transaction with no compares, one put on success and nothing on failure.
        if self.len()? != 0 || self.len()? != 1 || self.varint_u32()? != TXN_OP_PUT {
            return Ok(None);
        }
        let (key, value) = (self.bytes()?, self.bytes()?);
        let ttl_ms = if self.bool()? { Some(self.varint()?) } else { None };
        let keep_ttl = self.bool()?;
        if self.len()? != 0 {
            return Ok(None);
        }
        let put = TxnOp::Put { key, value, ttl_ms, keep_ttl };
        Ok(Some(Write::Txn {
            session,
            txn: Txn { compares: Vec::new(), success: vec![put], failure: Vec::new() },
        }))
    }

    /// A [`SetCommand`]'s fields; `None` for an `IFEQ` condition (or a variant this reader does
    /// not know), left to bincode.
    fn set(&mut self) -> Result<Option<SetCommand>, DecodeError> {
        let name = *CommandName::ALL
            .get(self.varint_u32()? as usize)
            .ok_or_else(|| malformed("an unknown command name"))?;
        let (key, value) = (self.bytes()?, self.bytes()?);
        let condition = match self.varint_u32()? {
            0 => SetCondition::Always,
            1 => SetCondition::IfAbsent,
            2 => SetCondition::IfPresent,
            _ => return Ok(None),
        };
        let expiry = match self.varint_u32()? {
            0 => SetExpiry::Clear,
            1 => SetExpiry::Keep,
            2 => SetExpiry::Set(match self.varint_u32()? {
                0 => Expiry::Persist,
                1 => Expiry::InMs(self.varint_i64()?),
                2 => Expiry::AtMs(self.varint_i64()?),
                _ => return Ok(None),
            }),
            _ => return Ok(None),
        };
        let get = self.bool()?;
        Ok(Some(SetCommand { name, key, value, condition, expiry, get }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec;

    fn encoded(write: &Write) -> Vec<u8> {
        let mut bytes = Vec::new();
        codec::encode_into(write, &mut bytes);
        bytes
    }

    fn read_by_hand(write: &Write) -> Option<Write> {
        let source = Bytes::from(encoded(write));
        let mut reader = Reader { source: &source, bytes: &source, at: 0 };
        let read = reader.common_write().expect("well formed");
        assert!(read.is_none() || reader.at == source.len(), "a write read by hand is read whole");
        read
    }

    fn set(condition: SetCondition) -> Write {
        let command = Command::Set(SetCommand {
            name: CommandName::SetEx,
            key: Bytes::from_static(b"k"),
            value: Bytes::from_static(b"v"),
            condition,
            expiry: SetExpiry::Set(Expiry::InMs(-5)),
            get: true,
        });
        Write::Command {
            session: Some(SessionRef { client_id: 3, sequence: NonZeroU64::new(300).unwrap() }),
            command,
        }
    }

    /// The variant indexes are right: a SET and a lone put are read by hand, not handed on.
    #[test]
    fn sets_and_lone_puts_are_read_by_hand() {
        let set = set(SetCondition::IfAbsent);
        assert_eq!(read_by_hand(&set), Some(set));
        let put = TxnOp::Put {
            key: Bytes::from_static(b"k"),
            value: Bytes::from_static(b"v"),
            ttl_ms: Some(9),
            keep_ttl: false,
        };
        let put = Write::Txn {
            session: None,
            txn: Txn { compares: Vec::new(), success: vec![put], failure: Vec::new() },
        };
        assert_eq!(read_by_hand(&put), Some(put));
        let mut batch = Vec::new();
        codec::encode_into(&LogEntry::new(1, Payload::Batch { writes: Arc::new(Vec::new()) }), &mut batch);
        let source = Bytes::from(batch).slice(1..);
        assert_eq!(
            Reader { source: &source, bytes: &source, at: 0 }.varint_u32().expect("a tag"),
            PAYLOAD_BATCH
        );
    }

    /// A session's sequence number is never 0: the hand reader refuses one, as bincode does.
    #[test]
    fn a_zero_sequence_is_refused_by_both_readers() {
        let mut write = set(SetCondition::IfAbsent);
        let Write::Command { session: Some(session), .. } = &mut write else { unreachable!() };
        session.sequence = NonZeroU64::MIN;
        let mut bytes = encoded(&write);
        // The session: its tag (1), client 3, sequence 1; the sequence made 0.
        let at = bytes.windows(3).position(|w| w == [1, 3, 1]).expect("the session's bytes") + 2;
        bytes[at] = 0;
        let source = Bytes::from(bytes);
        assert!(Reader { source: &source, bytes: &source, at: 0 }.common_write().is_err());
        assert!(codec::decode_part::<Write>(&source).is_err());
        // Unpatched, both read it.
        let source = Bytes::from(encoded(&write));
        assert_eq!(
            Reader { source: &source, bytes: &source, at: 0 }.common_write().ok(),
            Some(Some(write.clone()))
        );
        assert_eq!(codec::decode_part::<Write>(&source).ok(), Some(write));
    }

    /// Other writes are handed to bincode.
    #[test]
    fn other_writes_are_handed_on() {
        assert_eq!(read_by_hand(&set(SetCondition::IfEqual(Box::new(Bytes::from_static(b"v"))))), None);
        let delete = TxnOp::Delete { key: Bytes::from_static(b"k") };
        let delete = Write::Txn {
            session: None,
            txn: Txn { compares: Vec::new(), success: vec![delete], failure: Vec::new() },
        };
        assert_eq!(read_by_hand(&delete), None);
        let del = Command::Del { name: CommandName::Del, keys: vec![Bytes::from_static(b"k")] };
        assert_eq!(read_by_hand(&Write::Command { session: None, command: del }), None);
    }
}
