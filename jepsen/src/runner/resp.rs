//! A small RESP2 client for the runner's clients and probes: one connection, one request (or one
//! pipelined batch of requests) at a time, a deadline on every call, and errors sorted by what
//! they mean for the history.
//!
//! It is written here rather than taken from `redraft-net` so that the runner sees the server
//! only through its wire protocol, as any Redis client would (STYLE.md §1), and rather than taken
//! from the `redis` crate so that "certainly not sent" and "may have been sent" stay apart: that
//! difference decides between `fail` and `info` in the history.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The largest bulk string or array the client accepts. The runner's values are short integers,
/// `RAFT.INFO` text and the append workload's lists (a few KB at most, as its keys rotate);
/// anything bigger is a broken reply, refused before it is buffered.
const REPLY_BYTES_MAX: usize = 1024 * 1024;
/// The deepest nesting of arrays accepted in a reply; the runner reads no nested arrays beyond
/// EXEC's array of replies.
const REPLY_DEPTH_MAX: usize = 4;

/// A reply, as RESP2 (and the RESP3 null) writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `+OK`.
    Simple(String),
    /// `-ERR ...`: the text after the `-`.
    Error(String),
    /// `:42`.
    Integer(i64),
    /// `$3\r\nabc`; `None` for the null bulk string (`$-1`) or RESP3's `_`.
    Bulk(Option<Vec<u8>>),
    /// `*2\r\n...`; `None` for the null array.
    Array(Option<Vec<Reply>>),
}

/// Why a call got no reply.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// No connection could be made, so the request was certainly not sent.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// The node's address.
        addr: SocketAddr,
        /// What the system said.
        source: io::Error,
    },
    /// The request may have been sent and acted on, but no reply came: the connection broke,
    /// the deadline passed, or the reply was not RESP.
    #[error("no reply from {addr}: {reason}")]
    Lost {
        /// The node's address.
        addr: SocketAddr,
        /// What happened.
        reason: String,
    },
}

impl CallError {
    /// A short label for tallies: `connect`, `timeout` or `connection`.
    pub fn label(&self) -> &'static str {
        match self {
            CallError::Connect { .. } => "connect",
            CallError::Lost { reason, .. } if reason.starts_with("timed out") => "timeout",
            CallError::Lost { .. } => "connection",
        }
    }
}

/// One connection to one node, made on the first call and after any failure.
#[derive(Debug)]
pub struct RespClient {
    addr: SocketAddr,
    timeout: Duration,
    stream: Option<TcpStream>,
    buffer: Vec<u8>,
}

impl RespClient {
    /// A client for `addr` whose calls, connecting included, each get `timeout`.
    pub fn new(addr: SocketAddr, timeout: Duration) -> RespClient {
        RespClient { addr, timeout, stream: None, buffer: Vec::new() }
    }

    /// The node this client talks to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Drops the connection; the next call opens a new one. A reply still on its way to the old
    /// connection can then never be mistaken for the answer to a later request.
    pub fn disconnect(&mut self) {
        self.stream = None;
        self.buffer.clear();
    }

    /// Sends one command and waits for its reply.
    ///
    /// # Errors
    /// [`CallError::Connect`] when the request was certainly not sent, [`CallError::Lost`] when
    /// it may have been. Either way the connection is dropped.
    pub async fn call(&mut self, args: &[&[u8]]) -> Result<Reply, CallError> {
        let replies = self.pipeline(&[args]).await?;
        let addr = self.addr;
        replies.into_iter().next().ok_or_else(|| CallError::Lost { addr, reason: "no reply".to_owned() })
    }

    /// Sends several commands in one write and waits for all their replies, in order; the
    /// deadline covers the whole batch.
    ///
    /// # Errors
    /// As [`RespClient::call`]: [`CallError::Lost`] when any reply is missing, as any of the
    /// requests may have been acted on.
    pub async fn pipeline(&mut self, requests: &[&[&[u8]]]) -> Result<Vec<Reply>, CallError> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        let result = self.exchange_before(requests, deadline).await;
        if result.is_err() {
            self.disconnect();
        }
        result
    }

    async fn exchange_before(
        &mut self,
        requests: &[&[&[u8]]],
        deadline: tokio::time::Instant,
    ) -> Result<Vec<Reply>, CallError> {
        let addr = self.addr;
        if self.stream.is_none() {
            let connected = tokio::time::timeout_at(deadline, TcpStream::connect(addr)).await;
            let stream = match connected {
                Ok(Ok(stream)) => stream,
                Ok(Err(source)) => return Err(CallError::Connect { addr, source }),
                Err(_) => {
                    let source = io::Error::new(io::ErrorKind::TimedOut, "connecting timed out");
                    return Err(CallError::Connect { addr, source });
                }
            };
            let _ = stream.set_nodelay(true);
            self.stream = Some(stream);
            self.buffer.clear();
        }
        let lost = |reason: String| CallError::Lost { addr, reason };
        let request: Vec<u8> = requests.iter().flat_map(|args| encode_request(args)).collect();
        let exchange = async {
            let stream = self.stream.as_mut().expect("connected above");
            stream.write_all(&request).await.map_err(|e| lost(format!("writing failed: {e}")))?;
            let mut replies = Vec::with_capacity(requests.len());
            let mut chunk = [0u8; 4096];
            while replies.len() < requests.len() {
                match parse_reply(&self.buffer, 0) {
                    Ok(Some((reply, used))) => {
                        self.buffer.drain(..used);
                        replies.push(reply);
                        continue;
                    }
                    Ok(None) => {}
                    Err(reason) => return Err(lost(format!("not a RESP reply: {reason}"))),
                }
                let read = stream.read(&mut chunk).await.map_err(|e| lost(format!("reading failed: {e}")))?;
                if read == 0 {
                    return Err(lost("the node closed the connection".to_owned()));
                }
                self.buffer.extend_from_slice(&chunk[..read]);
            }
            Ok(replies)
        };
        match tokio::time::timeout_at(deadline, exchange).await {
            Ok(result) => result,
            Err(_) => Err(lost(format!("timed out after {:?}", self.timeout))),
        }
    }
}

/// A command as a RESP array of bulk strings.
fn encode_request(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Parses one reply from the start of `buffer`: `Ok(None)` when more bytes are needed, or the
/// reply and how many bytes it took.
fn parse_reply(buffer: &[u8], depth: usize) -> Result<Option<(Reply, usize)>, String> {
    if depth > REPLY_DEPTH_MAX {
        return Err(format!("arrays nested deeper than {REPLY_DEPTH_MAX}"));
    }
    let Some(line_end) = buffer.windows(2).position(|pair| pair == b"\r\n") else {
        if buffer.len() > REPLY_BYTES_MAX {
            return Err(format!("a line longer than {REPLY_BYTES_MAX} bytes"));
        }
        return Ok(None);
    };
    let Some((&kind, line)) = buffer[..line_end].split_first() else {
        return Err("an empty line".to_owned());
    };
    let text = std::str::from_utf8(line).map_err(|_| "a header line that is not UTF-8".to_owned())?;
    let after = line_end + 2;
    let length = |text: &str| -> Result<Option<usize>, String> {
        let n: i64 = text.parse().map_err(|_| format!("{text:?} is not a length"))?;
        match usize::try_from(n) {
            Ok(n) if n <= REPLY_BYTES_MAX => Ok(Some(n)),
            Ok(n) => Err(format!("a length of {n}, over the limit of {REPLY_BYTES_MAX}")),
            Err(_) if n == -1 => Ok(None),
            Err(_) => Err(format!("a length of {n}")),
        }
    };
    match kind {
        b'+' => Ok(Some((Reply::Simple(text.to_owned()), after))),
        b'-' => Ok(Some((Reply::Error(text.to_owned()), after))),
        b':' => {
            let n = text.parse().map_err(|_| format!("{text:?} is not an integer"))?;
            Ok(Some((Reply::Integer(n), after)))
        }
        b'_' => Ok(Some((Reply::Bulk(None), after))),
        b'$' => match length(text)? {
            None => Ok(Some((Reply::Bulk(None), after))),
            Some(n) if buffer.len() >= after + n + 2 => {
                if &buffer[after + n..after + n + 2] != b"\r\n" {
                    return Err("a bulk string without its final CRLF".to_owned());
                }
                Ok(Some((Reply::Bulk(Some(buffer[after..after + n].to_vec())), after + n + 2)))
            }
            Some(_) => Ok(None),
        },
        b'*' => match length(text)? {
            None => Ok(Some((Reply::Array(None), after))),
            Some(n) => {
                let mut items = Vec::with_capacity(n.min(64));
                let mut at = after;
                for _ in 0..n {
                    match parse_reply(&buffer[at..], depth + 1)? {
                        Some((item, used)) => {
                            items.push(item);
                            at += used;
                        }
                        None => return Ok(None),
                    }
                }
                Ok(Some((Reply::Array(Some(items)), at)))
            }
        },
        other => Err(format!("unknown reply type {:?}", char::from(other))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_parse_whole_and_wait_for_more_when_cut() {
        // Each reply type reads back with the length it took; every cut-short prefix asks for
        // more bytes rather than failing or inventing a reply.
        let cases: Vec<(&[u8], Reply)> = vec![
            (b"+OK\r\n", Reply::Simple("OK".into())),
            (b"-UNKNOWN it may have\r\n", Reply::Error("UNKNOWN it may have".into())),
            (b":-7\r\n", Reply::Integer(-7)),
            (b"$-1\r\n", Reply::Bulk(None)),
            (b"_\r\n", Reply::Bulk(None)),
            (b"$2\r\n42\r\n", Reply::Bulk(Some(b"42".to_vec()))),
            (
                b"*2\r\n$1\r\na\r\n$-1\r\n",
                Reply::Array(Some(vec![Reply::Bulk(Some(b"a".to_vec())), Reply::Bulk(None)])),
            ),
        ];
        for (bytes, expected) in cases {
            assert_eq!(parse_reply(bytes, 0), Ok(Some((expected, bytes.len()))));
            for cut in 0..bytes.len() {
                assert_eq!(parse_reply(&bytes[..cut], 0), Ok(None), "{:?} cut at {cut}", bytes);
            }
        }
    }

    #[test]
    fn oversized_and_unknown_replies_are_refused_before_buffering() {
        // A length over the limit is an error as soon as its header is read.
        assert!(parse_reply(format!("${}\r\n", REPLY_BYTES_MAX + 1).as_bytes(), 0).is_err());
        assert!(parse_reply(b"%1\r\n", 0).is_err());
        assert!(parse_reply(b"$x\r\n", 0).is_err());
    }

    #[test]
    fn requests_are_arrays_of_bulk_strings() {
        assert_eq!(encode_request(&[b"GET", b"k"]), b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
    }
}
