//! RESP2 and RESP3: decoding client requests, encoding replies, and (in `reply_decoder.rs`)
//! decoding replies on the client side (redraft-cli, the simulator's and the jepsen runner's
//! clients).
//!
//! Requests are what Redis accepts: a multibulk array of bulk strings, or an inline command line
//! (split as Redis's `sdssplitargs` splits it, quotes and escapes included: `inline.rs`). Every limit is
//! checked as soon as the header that declares a size is read, before anything is buffered for
//! it, and a violation gets Redis's own error text; the caller sends it and closes the connection,
//! as Redis does. Decoding is incremental: a partial request keeps its finished arguments, so a
//! long pipeline or a huge bulk string is never parsed twice.
//!
//! Command semantics live in `redraft-core`; this module only moves bytes.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use redraft_core::stored_key::{copied_on_arrival, INLINE_VALUE_BYTES_MAX};
use redraft_core::types::zset::format_score;
use redraft_core::Reply;

mod gathered;
mod inline;
mod reply_decoder;
use gathered::{Gathered, GATHERED_BYTES};
pub use inline::split_inline;
pub use reply_decoder::ReplyDecoder;

/// Sizes a request may declare.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestLimits {
    /// Largest bulk string (Redis's `proto-max-bulk-len`, 512 MiB by default).
    pub bulk_bytes_max: usize,
    /// Most elements in one multibulk request (Redis refuses more than 1024 * 1024).
    pub array_len_max: usize,
    /// Longest inline command, and longest header line (Redis's `PROTO_INLINE_MAX_SIZE`, 64 KiB).
    pub inline_bytes_max: usize,
}

impl Default for RequestLimits {
    fn default() -> RequestLimits {
        RequestLimits {
            bulk_bytes_max: redraft_core::limits::VALUE_BYTES_MAX,
            array_len_max: redraft_core::limits::ARRAY_LEN_MAX,
            inline_bytes_max: 64 * 1024,
        }
    }
}

/// A request that breaks the protocol; the connection cannot continue after it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ProtocolError(pub String);

impl ProtocolError {
    fn new(text: impl Into<String>) -> ProtocolError {
        ProtocolError(format!("ERR Protocol error: {}", text.into()))
    }

    /// The error reply to send before closing, as Redis words it.
    pub fn reply_text(&self) -> &str {
        &self.0
    }
}

/// Decodes client requests from a connection's read buffer.
#[derive(Debug, Default)]
pub struct RequestDecoder {
    limits: RequestLimits,
    /// A multibulk request whose arguments are still arriving.
    partial: Option<Partial>,
}

#[derive(Debug)]
struct Partial {
    expected: usize,
    args: Vec<Bytes>,
    /// The length of the bulk string whose header has been read, if its body has not.
    bulk_len: Option<usize>,
}

/// How many argument slots to reserve up front, whatever the header claims.
const ARGS_RESERVE_MAX: usize = 1024;

impl RequestDecoder {
    /// A decoder enforcing `limits`.
    pub fn new(limits: RequestLimits) -> RequestDecoder {
        RequestDecoder { limits, partial: None }
    }

    /// Takes the next whole request from the front of `buffer`, consuming its bytes; `None` when
    /// more bytes are needed. Empty requests (an empty inline line, `*0`) are skipped.
    ///
    /// # Errors
    /// [`ProtocolError`] for malformed input or a declared size over a limit.
    pub fn decode(&mut self, buffer: &mut BytesMut) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        if self.partial.is_none() && buffer.first() == Some(&b'*') {
            if let Some(args) = self.decode_whole(buffer) {
                return Ok(Some(args));
            }
        }
        loop {
            if self.partial.is_none() {
                match buffer.first() {
                    None => return Ok(None),
                    Some(b'*') => {
                        let Some(line) = self.take_line(buffer, "too big mbulk count string")? else {
                            return Ok(None);
                        };
                        let count = parse_length(&line[1..])
                            .filter(|n| *n <= self.limits.array_len_max as i64)
                            .ok_or_else(|| ProtocolError::new("invalid multibulk length"))?;
                        if count <= 0 {
                            continue;
                        }
                        let expected = count as usize;
                        let args = Vec::with_capacity(expected.min(ARGS_RESERVE_MAX));
                        self.partial = Some(Partial { expected, args, bulk_len: None });
                    }
                    Some(_) => {
                        let Some(line) = self.take_line(buffer, "too big inline request")? else {
                            return Ok(None);
                        };
                        let args = split_inline(&line)?;
                        if args.is_empty() {
                            continue;
                        }
                        return Ok(Some(args));
                    }
                }
            }
            let partial = self.partial.as_mut().expect("set above");
            while partial.args.len() < partial.expected {
                let len = match partial.bulk_len {
                    Some(len) => len,
                    None => {
                        let Some(end) = find_crlf(buffer, self.limits.inline_bytes_max) else {
                            if buffer.len() > self.limits.inline_bytes_max {
                                return Err(ProtocolError::new("too big bulk count string"));
                            }
                            return Ok(None);
                        };
                        if buffer[0] != b'$' {
                            let got = String::from_utf8_lossy(&buffer[..1]).into_owned();
                            return Err(ProtocolError::new(format!("expected '$', got '{got}'")));
                        }
                        let len = parse_length(&buffer[1..end])
                            .filter(|n| (0..=self.limits.bulk_bytes_max as i64).contains(n))
                            .ok_or_else(|| ProtocolError::new("invalid bulk length"))?
                            as usize;
                        buffer.advance(end + 2);
                        partial.bulk_len = Some(len);
                        len
                    }
                };
                if buffer.len() < len + 2 {
                    // No reservation for the declared length: a client that claims 512 MiB and
                    // sends nothing must not cost 512 MiB. The buffer grows as bytes arrive.
                    return Ok(None);
                }
                let arg = if copied_on_arrival(len) {
                    let arg = Bytes::copy_from_slice(&buffer[..len]);
                    buffer.advance(len);
                    arg
                } else {
                    buffer.split_to(len).freeze()
                };
                if &buffer[..2] != b"\r\n" {
                    return Err(ProtocolError::new("invalid bulk string terminator"));
                }
                buffer.advance(2);
                partial.args.push(arg);
                partial.bulk_len = None;
            }
            let done = self.partial.take().expect("set above");
            return Ok(Some(done.args));
        }
    }

    /// The fast path for the common request: a whole multibulk request of a few arguments, all
    /// in the buffer, every length in canonical form and within the limits. It checks the request
    /// without consuming anything, then takes its bytes in one piece and hands out each argument
    /// as a slice of it. Anything else (an incomplete request, an error to report) is left to the
    /// incremental path, so both paths give the same answer for any input.
    fn decode_whole(&self, buffer: &mut BytesMut) -> Option<Vec<Bytes>> {
        let buf = &buffer[..];
        let (count, mut at) = canonical_length(buf, 1)?;
        if count == 0 || count > WHOLE_ARGS_MAX || count > self.limits.array_len_max {
            return None;
        }
        let mut ranges = [(0usize, 0usize); WHOLE_ARGS_MAX];
        // Arguments short enough are all slices, without a test each (the common request).
        let mut longest = 0;
        for range in ranges.iter_mut().take(count) {
            if buf.get(at) != Some(&b'$') {
                return None;
            }
            let (len, body) = canonical_length(buf, at + 1)?;
            if len > self.limits.bulk_bytes_max {
                return None;
            }
            let end = body.checked_add(len)?;
            if buf.get(end..end.checked_add(2)?)? != b"\r\n" {
                return None;
            }
            *range = (body, end);
            longest = longest.max(len);
            at = end + 2;
        }
        let whole = buffer.split_to(at).freeze();
        let ranges = ranges[..count].iter();
        Some(if longest > INLINE_VALUE_BYTES_MAX {
            ranges.map(|&(start, end)| arg(&whole, start, end)).collect()
        } else {
            ranges.map(|&(start, end)| whole.slice(start..end)).collect()
        })
    }

    /// Takes a line ending in `\n` (with or without `\r`) without its ending, or `None` if it is
    /// incomplete; refuses a line longer than the inline limit with `too_long`.
    fn take_line(&self, buffer: &mut BytesMut, too_long: &str) -> Result<Option<Bytes>, ProtocolError> {
        let max = self.limits.inline_bytes_max;
        match memchr::memchr(b'\n', &buffer[..buffer.len().min(max + 2)]) {
            Some(newline) => {
                let mut line = buffer.split_to(newline + 1);
                line.truncate(newline);
                if line.last() == Some(&b'\r') {
                    line.truncate(newline - 1);
                }
                if line.len() > max {
                    return Err(ProtocolError::new(too_long));
                }
                Ok(Some(line.freeze()))
            }
            None if buffer.len() > max => Err(ProtocolError::new(too_long)),
            None => Ok(None),
        }
    }
}

/// Argument `whole[start..end]`: a slice of the request's bytes, or a copy of them when the map
/// might keep it ([`copied_on_arrival`]).
fn arg(whole: &Bytes, start: usize, end: usize) -> Bytes {
    if copied_on_arrival(end - start) {
        Bytes::copy_from_slice(&whole[start..end])
    } else {
        whole.slice(start..end)
    }
}

/// Where the first `\r\n` starts, looking at no more than `max + 2` bytes.
fn find_crlf(buffer: &[u8], max: usize) -> Option<usize> {
    memchr::memmem::find(&buffer[..buffer.len().min(max + 2)], b"\r\n")
}

/// Most arguments a request may have to take [`RequestDecoder`]'s fast path.
const WHOLE_ARGS_MAX: usize = 16;

/// A length at `buf[at..]` written as Redis writes one (decimal digits, no sign, no leading
/// zero, at most 18 digits) and ended by `\r\n`: the value and where the bytes after it start.
/// `None` for anything else, which the incremental path then judges.
fn canonical_length(buf: &[u8], at: usize) -> Option<(usize, usize)> {
    let mut value = 0usize;
    let mut i = at;
    loop {
        match *buf.get(i)? {
            b'0'..=b'9' if i - at < 18 => {
                if value == 0 && i > at {
                    return None;
                }
                value = value * 10 + usize::from(buf[i] - b'0');
            }
            b'\r' if i > at => return (buf.get(i + 1) == Some(&b'\n')).then_some((value, i + 2)),
            _ => return None,
        }
        i += 1;
    }
}

/// Parses a signed decimal length, as Redis's `string2ll`.
fn parse_length(text: &[u8]) -> Option<i64> {
    redraft_core::number::parse_i64(text)
}

/// The protocol version a connection speaks: RESP2 until `HELLO 3`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Protocol {
    #[default]
    Resp2,
    Resp3,
}

/// A reply as it goes on the wire. Data commands answer with [`Reply`]s from the core; the
/// connection commands need RESP3's richer types (HELLO's map, INFO's verbatim text), which are
/// written in their RESP2 form on RESP2 connections.
#[derive(Clone, Debug, PartialEq)]
pub enum Frame {
    Simple(String),
    Error(String),
    Integer(i64),
    Bulk(Bytes),
    /// The null bulk string (`$-1` in RESP2, `_` in RESP3).
    Null,
    Array(Vec<Frame>),
    /// The null array (`*-1` in RESP2, `_` in RESP3).
    NullArray,
    /// A map (`%` in RESP3, a flat array of keys and values in RESP2).
    Map(Vec<(Frame, Frame)>),
    /// A set (`~` in RESP3, an array in RESP2).
    Set(Vec<Frame>),
    /// A double (`,` in RESP3, a bulk string in RESP2).
    Double(f64),
    /// A boolean (`#` in RESP3, the integer 1 or 0 in RESP2).
    Boolean(bool),
    /// Text with a three-letter format such as `txt` (`=` in RESP3, a bulk string in RESP2).
    Verbatim {
        format: [u8; 3],
        text: Bytes,
    },
}

impl From<Reply> for Frame {
    fn from(reply: Reply) -> Frame {
        match reply {
            Reply::Ok => Frame::Simple("OK".to_owned()),
            Reply::Status(text) => Frame::Simple(text),
            Reply::Error(text) => Frame::Error(text),
            Reply::Integer(n) => Frame::Integer(n),
            Reply::Bulk(bytes) => Frame::Bulk(bytes),
            Reply::Nil => Frame::Null,
            Reply::Array(items) => Frame::Array(items.into_iter().map(Frame::from).collect()),
            Reply::NilArray => Frame::NullArray,
            Reply::Map(pairs) => Frame::Map(pairs.into_iter().map(|(k, v)| (k.into(), v.into())).collect()),
            Reply::Set(items) => Frame::Set(items.into_iter().map(Frame::from).collect()),
            Reply::Double(score) => Frame::Double(score),
            Reply::Pairs(pairs) => {
                Frame::Array(pairs.into_iter().map(|(a, b)| Frame::Array(vec![a.into(), b.into()])).collect())
            }
        }
    }
}

impl Frame {
    /// A simple string.
    pub fn simple(text: &str) -> Frame {
        Frame::Simple(text.to_owned())
    }

    /// A bulk string of text.
    pub fn text(text: impl Into<String>) -> Frame {
        Frame::Bulk(Bytes::from(text.into()))
    }

    /// Appends the frame's encoding in `protocol` to `out`.
    pub fn encode(&self, protocol: Protocol, out: &mut BytesMut) {
        let resp3 = protocol == Protocol::Resp3;
        match self {
            Frame::Simple(text) => line(out, b'+', text.as_bytes()),
            Frame::Error(text) => line(out, b'-', text.as_bytes()),
            Frame::Integer(n) => number_line(out, b':', *n),
            Frame::Bulk(bytes) => bulk(out, bytes),
            Frame::Null if resp3 => out.put_slice(b"_\r\n"),
            Frame::Null => out.put_slice(b"$-1\r\n"),
            Frame::NullArray if resp3 => out.put_slice(b"_\r\n"),
            Frame::NullArray => out.put_slice(b"*-1\r\n"),
            Frame::Array(items) => {
                number_line(out, b'*', items.len() as i64);
                items.iter().for_each(|i| i.encode(protocol, out));
            }
            Frame::Set(items) => {
                number_line(out, if resp3 { b'~' } else { b'*' }, items.len() as i64);
                items.iter().for_each(|i| i.encode(protocol, out));
            }
            Frame::Map(pairs) if resp3 => {
                number_line(out, b'%', pairs.len() as i64);
                for (key, value) in pairs {
                    key.encode(protocol, out);
                    value.encode(protocol, out);
                }
            }
            Frame::Map(pairs) => {
                number_line(out, b'*', (pairs.len() * 2) as i64);
                for (key, value) in pairs {
                    key.encode(protocol, out);
                    value.encode(protocol, out);
                }
            }
            Frame::Double(value) if resp3 => line(out, b',', double_text(*value).as_bytes()),
            Frame::Double(value) => bulk(out, double_text(*value).as_bytes()),
            Frame::Boolean(value) if resp3 => line(out, b'#', if *value { b"t" } else { b"f" }),
            Frame::Boolean(value) => line(out, b':', if *value { b"1" } else { b"0" }),
            Frame::Verbatim { format, text } if resp3 => {
                number_line(out, b'=', (text.len() + 4) as i64);
                out.put_slice(format);
                out.put_u8(b':');
                out.put_slice(text);
                out.put_slice(b"\r\n");
            }
            Frame::Verbatim { text, .. } => bulk(out, text),
        }
    }
}

/// Encodes a data command's reply in `protocol`, as [`Frame::from`] and [`Frame::encode`] would,
/// without building the frame.
pub fn encode_reply(reply: &Reply, protocol: Protocol, out: &mut BytesMut) {
    let resp3 = protocol == Protocol::Resp3;
    match reply {
        Reply::Ok => out.put_slice(b"+OK\r\n"),
        Reply::Status(text) => line(out, b'+', text.as_bytes()),
        Reply::Error(text) => line(out, b'-', text.as_bytes()),
        Reply::Integer(n) => number_line(out, b':', *n),
        Reply::Bulk(bytes) => bulk(out, bytes),
        Reply::Nil | Reply::NilArray if resp3 => out.put_slice(b"_\r\n"),
        Reply::Nil => out.put_slice(b"$-1\r\n"),
        Reply::NilArray => out.put_slice(b"*-1\r\n"),
        Reply::Array(items) => {
            number_line(out, b'*', items.len() as i64);
            items.iter().for_each(|item| encode_reply(item, protocol, out));
        }
        Reply::Set(items) => {
            number_line(out, if resp3 { b'~' } else { b'*' }, items.len() as i64);
            items.iter().for_each(|item| encode_reply(item, protocol, out));
        }
        Reply::Double(score) => {
            let text = double_text(*score);
            if resp3 {
                line(out, b',', text.as_bytes());
            } else {
                bulk(out, text.as_bytes());
            }
        }
        Reply::Pairs(pairs) => {
            if resp3 {
                number_line(out, b'*', pairs.len() as i64);
                for (first, second) in pairs {
                    out.put_slice(b"*2\r\n");
                    encode_reply(first, protocol, out);
                    encode_reply(second, protocol, out);
                }
            } else {
                number_line(out, b'*', 2 * pairs.len() as i64);
                for (first, second) in pairs {
                    encode_reply(first, protocol, out);
                    encode_reply(second, protocol, out);
                }
            }
        }
        Reply::Map(pairs) => {
            if resp3 {
                number_line(out, b'%', pairs.len() as i64);
            } else {
                number_line(out, b'*', 2 * pairs.len() as i64);
            }
            for (key, value) in pairs {
                encode_reply(key, protocol, out);
                encode_reply(value, protocol, out);
            }
        }
    }
}

/// Encodes a push (pub/sub messages and confirmations): RESP3's `>` type, a plain array in
/// RESP2.
pub fn encode_push(items: &[Frame], protocol: Protocol, out: &mut BytesMut) {
    number_line(out, if protocol == Protocol::Resp3 { b'>' } else { b'*' }, items.len() as i64);
    items.iter().for_each(|item| item.encode(protocol, out));
}

fn line(out: &mut BytesMut, kind: u8, text: &[u8]) {
    out.reserve(text.len() + 3);
    out.put_u8(kind);
    if memchr::memchr2(b'\r', b'\n', text).is_none() {
        out.put_slice(text);
    } else {
        // Simple strings and errors cannot hold line breaks; Redis replaces them with spaces.
        out.extend(text.iter().map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }));
    }
    out.put_slice(b"\r\n");
}

/// A line of a type byte and a number (an integer reply, or a length header).
fn number_line(out: &mut BytesMut, kind: u8, n: i64) {
    let mut line = Gathered::new();
    line.number_line(kind, n);
    out.put_slice(line.bytes());
}

/// A bulk string. A short one is gathered whole and written with one copy: each `put_slice`
/// costs its bounds check and a `memcpy` call, and a GET's reply took five (281 instructions a
/// reply, callgrind, for a 16-byte value; one node, `redis-benchmark -P 16`).
fn bulk(out: &mut BytesMut, bytes: &[u8]) {
    let mut gathered = Gathered::new();
    gathered.number_line(b'$', bytes.len() as i64);
    if gathered.len + bytes.len() + 2 <= GATHERED_BYTES {
        gathered.push(bytes);
        gathered.push(b"\r\n");
        out.put_slice(gathered.bytes());
    } else {
        out.reserve(gathered.len + bytes.len() + 2);
        out.put_slice(gathered.bytes());
        out.put_slice(bytes);
        out.put_slice(b"\r\n");
    }
}

/// A double as Redis 7.0 spells it (`d2string`): `inf`, `-inf` and `nan` for the special values,
/// plain digits for an integer, C's `%.17g` otherwise.
pub fn double_text(value: f64) -> String {
    if value.is_nan() {
        "nan".to_owned()
    } else {
        format_score(value)
    }
}

/// Encodes a request as a multibulk array, as clients send it.
pub fn encode_request<A: AsRef<[u8]>>(args: &[A], out: &mut BytesMut) {
    number_line(out, b'*', args.len() as i64);
    for arg in args {
        bulk(out, arg.as_ref());
    }
}
