//! One blocking TCP connection to a server: connect (with the `SELECT` and `HELLO 3` a session
//! asks for), send a request, read its reply.
//!
//! Requests are encoded and replies decoded by `redraft_net::resp`; nothing here knows what a
//! command means. Error texts follow hiredis, which redis-cli prints them through, so a failing
//! session reads the same in either client.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};

use bytes::{Bytes, BytesMut};
use redraft_net::resp::{encode_request, Frame, ProtocolError, ReplyDecoder, RequestLimits};

/// Where the server is, as given by `-h` and `-p`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
}

impl Endpoint {
    /// The address as redis-cli shows it in its prompt: an IPv6 host goes in brackets.
    pub fn prompt_address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// The server could not be reached.
#[derive(Debug)]
pub struct ConnectError {
    endpoint: Endpoint,
    /// What the OS said, worded as `strerror` words it (`Connection refused`).
    reason: String,
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // redis-cli's wording, which scripts grep for.
        write!(
            f,
            "Could not connect to Redis at {}:{}: {}",
            self.endpoint.host, self.endpoint.port, self.reason
        )
    }
}

impl std::error::Error for ConnectError {}

/// A request whose reply did not arrive; the connection is unusable afterwards and the caller
/// reconnects (REPL) or exits (one-shot mode). Whether the server ran the command is unknown.
#[derive(Debug)]
pub enum RequestError {
    /// The server closed the connection (a restart, `CLIENT KILL`, an idle timeout).
    Closed,
    /// Reading or writing the socket failed.
    Io(io::Error),
    /// The server sent something that is not RESP.
    Protocol(ProtocolError),
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // hiredis's text for EOF, as redis-cli shows it after `Error: `.
            RequestError::Closed => f.write_str("Server closed the connection"),
            RequestError::Io(error) => f.write_str(&os_text(error)),
            RequestError::Protocol(error) => {
                let text = error.reply_text();
                f.write_str(text.strip_prefix("ERR ").unwrap_or(text))
            }
        }
    }
}

impl std::error::Error for RequestError {}

/// An open connection. After any [`RequestError`] it must be dropped: a reply may be half read.
#[derive(Debug)]
pub struct Connection {
    stream: TcpStream,
    /// Bytes read but not yet decoded; may hold the start of the next reply.
    buffer: BytesMut,
    decoder: ReplyDecoder,
    /// The database the connection is using (0 unless a `SELECT` succeeded).
    db: i64,
}

/// How much to read per `read` call.
const READ_CHUNK_BYTES: usize = 64 * 1024;

/// Most elements an array reply may declare. The server's own limits do not apply to a client
/// that may talk to a Redis holding millions of keys; this is hiredis's limit, which redis-cli
/// lives with. The decoder reserves memory only for elements that arrive.
const REPLY_ARRAY_LEN_MAX: usize = (1 << 32) - 1;

/// A user and password to log in with (`-a`, `--user`, `REDISCLI_AUTH`).
#[derive(Clone, Debug)]
pub struct Credentials {
    /// `None` for the default user (`AUTH password`).
    pub user: Option<String>,
    pub password: String,
}

impl Connection {
    /// Connects, logs in with `auth`, selects `db` unless it is 0 and switches to RESP3 if
    /// `resp3`, in that order as redis-cli does. A refused `AUTH`, `SELECT` or `HELLO 3` is
    /// reported on standard error and the connection is kept, as in redis-cli.
    ///
    /// # Errors
    /// [`ConnectError`] when no address of the endpoint accepts a connection, or when the
    /// connection breaks during the setup commands.
    pub fn open(
        endpoint: &Endpoint,
        auth: Option<&Credentials>,
        db: i64,
        resp3: bool,
    ) -> Result<Connection, ConnectError> {
        let fail = |reason: String| ConnectError { endpoint: endpoint.clone(), reason };
        let addresses = (endpoint.host.as_str(), endpoint.port).to_socket_addrs().map_err(|error| {
            let text = os_text(&error);
            // std prefixes getaddrinfo's message; hiredis prints it alone.
            fail(text.strip_prefix("failed to lookup address information: ").unwrap_or(&text).to_owned())
        })?;
        let mut last_error = None;
        let mut stream = None;
        for address in addresses {
            match TcpStream::connect(address) {
                Ok(connected) => {
                    stream = Some(connected);
                    break;
                }
                Err(error) => last_error = Some(error),
            }
        }
        let Some(stream) = stream else {
            let reason = last_error.map_or_else(|| "Name or service not known".to_owned(), |e| os_text(&e));
            return Err(fail(reason));
        };
        // Requests are small and each waits for its reply: Nagle's delay would only add latency.
        stream.set_nodelay(true).map_err(|e| fail(os_text(&e)))?;
        let limits = RequestLimits {
            bulk_bytes_max: redraft_core::limits::VALUE_BYTES_MAX,
            array_len_max: REPLY_ARRAY_LEN_MAX,
            // Simple strings and errors have no length limit in RESP; a server is trusted to end
            // its lines.
            inline_bytes_max: redraft_core::limits::VALUE_BYTES_MAX,
        };
        let mut connection =
            Connection { stream, buffer: BytesMut::new(), decoder: ReplyDecoder::new(limits), db: 0 };
        if let Some(auth) = auth {
            let mut request = vec![Bytes::from_static(b"AUTH")];
            request.extend(auth.user.iter().map(|user| Bytes::from(user.clone())));
            request.push(Bytes::from(auth.password.clone()));
            if let Frame::Error(text) = connection.request(&request).map_err(|e| fail(e.to_string()))? {
                eprintln!("AUTH failed: {text}");
            }
        }
        if db != 0 {
            let select = [Bytes::from_static(b"SELECT"), Bytes::from(db.to_string())];
            match connection.request(&select).map_err(|e| fail(e.to_string()))? {
                Frame::Error(text) => eprintln!("SELECT {db} failed: {text}"),
                _ => connection.db = db,
            }
        }
        if resp3 {
            let hello = [Bytes::from_static(b"HELLO"), Bytes::from_static(b"3")];
            if let Frame::Error(text) = connection.request(&hello).map_err(|e| fail(e.to_string()))? {
                eprintln!("HELLO 3 failed: {text}");
            }
        }
        Ok(connection)
    }

    /// The database this connection uses.
    pub fn db(&self) -> i64 {
        self.db
    }

    /// Sends one request and waits for its reply. An error reply is a reply, not an `Err`.
    ///
    /// # Errors
    /// [`RequestError`] when the connection fails before the whole reply has arrived.
    pub fn request(&mut self, args: &[Bytes]) -> Result<Frame, RequestError> {
        let mut request = BytesMut::new();
        encode_request(args, &mut request);
        // One write per request: a request split over several segments costs the server extra
        // reads, and redis-cli writes each command whole too.
        self.stream.write_all(&request).map_err(RequestError::Io)?;
        self.read_reply()
    }

    /// Sends `requests` in one write and reads their replies, in order.
    ///
    /// # Errors
    /// [`RequestError`] when the connection fails before every reply has arrived.
    pub fn pipeline(&mut self, requests: &[Vec<Bytes>]) -> Result<Vec<Frame>, RequestError> {
        let mut bytes = BytesMut::new();
        for request in requests {
            encode_request(request, &mut bytes);
        }
        self.stream.write_all(&bytes).map_err(RequestError::Io)?;
        requests.iter().map(|_| self.read_reply()).collect()
    }

    fn read_reply(&mut self) -> Result<Frame, RequestError> {
        let mut chunk = vec![0u8; READ_CHUNK_BYTES];
        loop {
            if let Some(frame) = self.decoder.decode(&mut self.buffer).map_err(RequestError::Protocol)? {
                return Ok(frame);
            }
            // The decoder starts over on every call, so decoding after each small read would
            // make a large reply (KEYS over a big keyspace) cost quadratic time. Instead, read
            // until the buffer has doubled or the socket has nothing more right now; either way
            // the total decoding work stays linear in the reply's size.
            let attempted_bytes = self.buffer.len();
            self.read_some(&mut chunk)?;
            while self.buffer.len() < 2 * attempted_bytes.max(READ_CHUNK_BYTES) {
                self.stream.set_nonblocking(true).map_err(RequestError::Io)?;
                let more = self.stream.read(&mut chunk);
                self.stream.set_nonblocking(false).map_err(RequestError::Io)?;
                match more {
                    Ok(0) => break, // EOF: decode what there is; the next read reports it.
                    Ok(n) => self.buffer.extend_from_slice(&chunk[..n]),
                    Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
                    Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                    Err(error) => return Err(RequestError::Io(error)),
                }
            }
        }
    }

    /// Blocks until some bytes arrive and appends them to the buffer.
    fn read_some(&mut self, chunk: &mut [u8]) -> Result<(), RequestError> {
        loop {
            match self.stream.read(chunk) {
                Ok(0) => return Err(RequestError::Closed),
                Ok(n) => {
                    self.buffer.extend_from_slice(&chunk[..n]);
                    return Ok(());
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(RequestError::Io(error)),
            }
        }
    }
}

/// An I/O error as `strerror` words it: std appends ` (os error N)`, which redis-cli does not.
fn os_text(error: &io::Error) -> String {
    let text = error.to_string();
    match text.rfind(" (os error ") {
        Some(at) if text.ends_with(')') => text[..at].to_owned(),
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_error_text_drops_the_error_number() {
        // Connection refused is errno 111 on Linux; the text must read as strerror's.
        let error = io::Error::from_raw_os_error(111);
        assert_eq!(os_text(&error), "Connection refused");
        assert_eq!(os_text(&io::Error::other("plain")), "plain");
    }

    #[test]
    fn prompt_address_brackets_ipv6_hosts() {
        // redis-cli formats the prompt with anetFormatAddr, which brackets IPv6 addresses.
        let v4 = Endpoint { host: "127.0.0.1".to_owned(), port: 6379 };
        let v6 = Endpoint { host: "::1".to_owned(), port: 7000 };
        assert_eq!(v4.prompt_address(), "127.0.0.1:6379");
        assert_eq!(v6.prompt_address(), "[::1]:7000");
    }
}
