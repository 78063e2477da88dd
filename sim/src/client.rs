//! A RESP client on the simulated network, as the simulator's workloads use it: one request at a
//! time (or one pipeline), a timeout per exchange, and every outcome sorted the way the history
//! needs it.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use jepsen::harness::{Answer, Completion};
use redraft_net::resp::{encode_request, Frame, ReplyDecoder};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long a workload's client, a probe or a final read waits for each reply.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// How a request ended, from the client's side.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// A reply arrived (an error reply included).
    Reply(Frame),
    /// No reply: the connection broke or the timeout passed. A write may or may not have applied.
    Lost(String),
    /// No connection could be made: nothing was sent, so nothing applied.
    NotSent(String),
}

impl Outcome {
    /// How the request ended, for the history ([`Completion::of`]): an error reply by its code
    /// word, any other reply `ok`, a lost exchange `info` (it may have taken effect), a connection
    /// refused `fail` (nothing was sent: a client of a node that is down does not fill the
    /// history with operations that may or may not have happened).
    pub fn completion(&self) -> Completion {
        Completion::of(match self {
            Outcome::Reply(Frame::Error(text)) => Answer::Error(text),
            Outcome::Reply(_) => Answer::Reply,
            Outcome::Lost(_) => Answer::Lost,
            Outcome::NotSent(_) => Answer::NotSent,
        })
    }

    /// Whether no reply came (lost, or never sent).
    pub fn is_unanswered(&self) -> bool {
        matches!(self, Outcome::Lost(_) | Outcome::NotSent(_))
    }
}

/// A connection that reconnects on the next request after it broke.
pub struct SimClient {
    addr: SocketAddr,
    stream: Option<TcpStream>,
    buffer: BytesMut,
    timeout: Duration,
    /// Whether a connection was refused since [`SimClient::take_refused`] was last asked.
    refused: bool,
}

impl SimClient {
    /// A client of the server at `addr`; nothing connects until the first request.
    pub fn new(addr: SocketAddr, timeout: Duration) -> SimClient {
        SimClient { addr, stream: None, buffer: BytesMut::new(), timeout, refused: false }
    }

    /// Sends one request and waits for its reply, within the timeout.
    pub async fn call(&mut self, args: &[&[u8]]) -> Outcome {
        match tokio::time::timeout(self.timeout, self.exchange(args)).await {
            Ok(Ok(frame)) => Outcome::Reply(frame),
            Ok(Err(Broken::NotSent(error))) => {
                self.refused = true;
                Outcome::NotSent(error)
            }
            Ok(Err(Broken::Lost(error))) => {
                self.stream = None;
                Outcome::Lost(error)
            }
            Err(_) => {
                self.stream = None;
                Outcome::Lost(format!("no reply within {:?}", self.timeout))
            }
        }
    }

    /// Sends requests in one write and waits for all their replies, within the timeout: one
    /// outcome per request, in order (every one `Lost` when the exchange broke off).
    pub async fn pipeline(&mut self, requests: &[Vec<&[u8]>]) -> Vec<Outcome> {
        let lost = |why: String| requests.iter().map(|_| Outcome::Lost(why.clone())).collect();
        match tokio::time::timeout(self.timeout, self.exchange_many(requests)).await {
            Ok(Ok(frames)) => frames.into_iter().map(Outcome::Reply).collect(),
            Ok(Err(Broken::NotSent(why))) => {
                self.refused = true;
                requests.iter().map(|_| Outcome::NotSent(why.clone())).collect()
            }
            Ok(Err(Broken::Lost(error))) => {
                self.stream = None;
                lost(error)
            }
            Err(_) => {
                self.stream = None;
                lost(format!("no reply within {:?}", self.timeout))
            }
        }
    }

    /// Whether a connection was refused since the last call of this (and forgets it): a client
    /// of a node that is down waits a moment before it tries again, as a real one backs off.
    pub fn take_refused(&mut self) -> bool {
        std::mem::take(&mut self.refused)
    }

    async fn exchange(&mut self, args: &[&[u8]]) -> Result<Frame, Broken> {
        let mut frames = self.exchange_many(&[args.to_vec()]).await?;
        Ok(frames.pop().expect("one reply"))
    }

    async fn exchange_many(&mut self, requests: &[Vec<&[u8]>]) -> Result<Vec<Frame>, Broken> {
        if self.stream.is_none() {
            let stream =
                TcpStream::connect(self.addr).await.map_err(|e| Broken::NotSent(format!("connect: {e}")))?;
            self.stream = Some(stream);
            self.buffer.clear();
        }
        let stream = self.stream.as_mut().expect("connected above");
        let mut out = BytesMut::new();
        for args in requests {
            encode_request(args, &mut out);
        }
        stream.write_all(&out).await.map_err(|e| Broken::Lost(format!("write: {e}")))?;
        // madsim's stream holds written bytes until flushed.
        stream.flush().await.map_err(|e| Broken::Lost(format!("flush: {e}")))?;
        let decoder = ReplyDecoder::default();
        let mut frames = Vec::with_capacity(requests.len());
        loop {
            while let Some(frame) =
                decoder.decode(&mut self.buffer).map_err(|e| Broken::Lost(format!("decode: {e}")))?
            {
                frames.push(frame);
                if frames.len() == requests.len() {
                    return Ok(frames);
                }
            }
            let read =
                stream.read_buf(&mut self.buffer).await.map_err(|e| Broken::Lost(format!("read: {e}")))?;
            if read == 0 {
                return Err(Broken::Lost("the server closed the connection".into()));
            }
        }
    }
}

/// Why an exchange got no reply.
enum Broken {
    /// No connection: nothing was sent.
    NotSent(String),
    /// The connection broke after the request may have been sent.
    Lost(String),
}

/// An integer reply, or a bulk string that holds one.
pub fn int_of(frame: &Frame) -> Option<i64> {
    match frame {
        Frame::Integer(n) => Some(*n),
        Frame::Bulk(bytes) => std::str::from_utf8(bytes).ok()?.parse().ok(),
        _ => None,
    }
}
