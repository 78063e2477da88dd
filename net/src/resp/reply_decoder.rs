//! The client side: decoding replies (redraft-cli, the simulator's and the jepsen runner's
//! clients), RESP2 and RESP3 alike.

use bytes::{Buf, Bytes, BytesMut};
use redraft_core::limits::REPLY_DEPTH_MAX;

use super::{parse_length, Frame, ProtocolError, RequestLimits, ARGS_RESERVE_MAX};

/// Decodes replies on the client side, RESP2 and RESP3 alike.
#[derive(Debug, Default)]
pub struct ReplyDecoder {
    limits: RequestLimits,
}

impl ReplyDecoder {
    /// A decoder enforcing `limits` on declared lengths.
    pub fn new(limits: RequestLimits) -> ReplyDecoder {
        ReplyDecoder { limits }
    }

    /// Takes the next whole reply from the front of `buffer`, or `None` when it is incomplete.
    /// RESP3 attributes (`|`) are read and dropped; pushes (`>`) come back as arrays.
    ///
    /// # Errors
    /// [`ProtocolError`] for malformed input or a length over a limit.
    pub fn decode(&self, buffer: &mut BytesMut) -> Result<Option<Frame>, ProtocolError> {
        let mut cursor = 0;
        match self.parse(buffer, &mut cursor, 0)? {
            Some(frame) => {
                buffer.advance(cursor);
                Ok(Some(frame))
            }
            None => Ok(None),
        }
    }

    fn parse(&self, buf: &[u8], at: &mut usize, depth: usize) -> Result<Option<Frame>, ProtocolError> {
        if depth > REPLY_DEPTH_MAX {
            return Err(ProtocolError::new("reply nested too deeply"));
        }
        let Some(end) = memchr::memmem::find(&buf[*at..], b"\r\n").map(|p| *at + p) else {
            if buf.len() - *at > self.limits.inline_bytes_max {
                return Err(ProtocolError::new("reply line too long"));
            }
            return Ok(None);
        };
        if end == *at {
            return Err(ProtocolError::new("a reply line with no type byte"));
        }
        let kind = buf[*at];
        let text = &buf[*at + 1..end];
        *at = end + 2;
        let length = |max: usize| {
            parse_length(text).filter(|n| *n >= -1 && *n <= max as i64).ok_or_else(|| {
                ProtocolError::new(format!("invalid length '{}'", String::from_utf8_lossy(text)))
            })
        };
        let string = || String::from_utf8_lossy(text).into_owned();
        Ok(Some(match kind {
            b'+' => Frame::Simple(string()),
            b'-' => Frame::Error(string()),
            b':' => Frame::Integer(parse_length(text).ok_or_else(|| ProtocolError::new("invalid integer"))?),
            b'_' => Frame::Null,
            b'#' => Frame::Boolean(text == b"t"),
            b',' => Frame::Double(string().parse().map_err(|_| ProtocolError::new("invalid double"))?),
            b'(' => Frame::Bulk(Bytes::copy_from_slice(text)),
            b'$' | b'=' | b'!' => {
                let n = length(self.limits.bulk_bytes_max)?;
                if n < 0 {
                    return Ok(Some(Frame::Null));
                }
                let n = n as usize;
                if buf.len() < *at + n + 2 {
                    return Ok(None);
                }
                let body = Bytes::copy_from_slice(&buf[*at..*at + n]);
                *at += n + 2;
                match kind {
                    b'=' if n >= 4 => {
                        Frame::Verbatim { format: [body[0], body[1], body[2]], text: body.slice(4..) }
                    }
                    b'!' => Frame::Error(String::from_utf8_lossy(&body).into_owned()),
                    _ => Frame::Bulk(body),
                }
            }
            b'*' | b'~' | b'>' | b'%' | b'|' => {
                let n = length(self.limits.array_len_max)?;
                if n < 0 {
                    return Ok(Some(Frame::NullArray));
                }
                let elements = if matches!(kind, b'%' | b'|') { n as usize * 2 } else { n as usize };
                let mut items = Vec::with_capacity(elements.min(ARGS_RESERVE_MAX));
                for _ in 0..elements {
                    match self.parse(buf, at, depth + 1)? {
                        Some(item) => items.push(item),
                        None => return Ok(None),
                    }
                }
                match kind {
                    b'%' => {
                        let mut pairs = Vec::with_capacity(items.len() / 2);
                        let mut items = items.into_iter();
                        while let (Some(k), Some(v)) = (items.next(), items.next()) {
                            pairs.push((k, v));
                        }
                        Frame::Map(pairs)
                    }
                    b'~' => Frame::Set(items),
                    // An attribute annotates the reply that follows it.
                    b'|' => return self.parse(buf, at, depth + 1),
                    _ => Frame::Array(items),
                }
            }
            other => {
                return Err(ProtocolError::new(format!(
                    "unknown reply type '{}'",
                    char::from(other).escape_default()
                )))
            }
        }))
    }
}
