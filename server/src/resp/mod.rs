//! The RESP front end: a listener on the `tokio` alias's TCP (real sockets in production,
//! madsim's in simulation) and one task per client connection.
//!
//! A connection reads what the client sent, decodes every whole request in it (pipelining), runs
//! them in order, and writes all their replies with one write. Runs of consecutive writes are
//! proposed together, so a pipeline of N writes shares one group commit; runs of consecutive
//! reads share one leadership confirmation. A read after a write waits for the write's reply, so
//! a client always reads its own writes.
//!
//! Limits are Redis's ([`redraft_net::resp::RequestLimits`], `maxclients`): a violation gets
//! Redis's error text and closes that connection only. A slow or dead client stalls only its own
//! task; memory per connection is bounded by the request limits and
//! [`PIPELINE_REQUESTS_MAX`] replies.
//!
//! The connection commands (HELLO, CLIENT, INFO, CONFIG, ...) are in [`admin`], COMMAND in
//! [`command_info`]; the data commands' semantics, and every command's name, arity and flags
//! (`redraft_core::spec`), are core's.

mod admin;
mod cluster;
mod command_info;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;
use redraft_core::limits::TRANSACTION_COMMANDS_MAX;
use redraft_core::reply::{errors, unknown_command};
use redraft_core::{Command, ParseError, Payload, Watch};
use redraft_net::resp::{Frame, Protocol, ProtocolError, RequestDecoder, RequestLimits};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::node::Node;

/// Requests run per read before their replies are written; bounds a connection's reply buffer.
pub const PIPELINE_REQUESTS_MAX: usize = 1024;
/// Keys one connection may WATCH at a time.
pub const WATCHED_KEYS_MAX: usize = 10_000;
/// Redis's default `maxclients`.
pub const MAX_CLIENTS_DEFAULT: usize = 10_000;
const READ_BUFFER_BYTES: usize = 16 * 1024;

/// Settings of the RESP front end; `CONFIG SET` changes the mutable ones at run time.
#[derive(Debug)]
pub struct RespSettings {
    pub maxclients: AtomicUsize,
    /// Largest bulk string a request may hold; applies to connections opened after a change.
    pub proto_max_bulk_len: AtomicUsize,
    /// The data directory, for `CONFIG GET dir` and INFO.
    pub data_dir: String,
}

impl Default for RespSettings {
    fn default() -> RespSettings {
        RespSettings {
            maxclients: AtomicUsize::new(MAX_CLIENTS_DEFAULT),
            proto_max_bulk_len: AtomicUsize::new(RequestLimits::default().bulk_bytes_max),
            data_dir: String::new(),
        }
    }
}

/// What the server shares between connections.
pub struct RespServer {
    node: Arc<Node>,
    settings: RespSettings,
    clients: Clients,
    /// Replies to commands over the whole run, for INFO stats.
    commands_processed: AtomicU64,
    started_ms: u64,
}

impl RespServer {
    /// A server for `node`.
    pub fn new(node: Arc<Node>, settings: RespSettings) -> Arc<RespServer> {
        let started_ms = node.now_ms();
        Arc::new(RespServer {
            node,
            settings,
            clients: Clients::default(),
            commands_processed: AtomicU64::new(0),
            started_ms,
        })
    }

    /// The node this server fronts.
    pub fn node(&self) -> &Arc<Node> {
        &self.node
    }

    /// Accepts connections until `stop` turns true; each connection runs in its own task and
    /// also ends when `stop` turns true.
    pub async fn serve(self: Arc<RespServer>, listener: TcpListener, stop: watch::Receiver<bool>) {
        let local = listener.local_addr().ok();
        let mut stop_accepting = stop.clone();
        loop {
            let accepted = tokio::select! {
                biased;
                _ = stop_accepting.changed() => return,
                accepted = listener.accept() => accepted,
            };
            let (stream, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: the listener itself is fine.
                    tracing::warn!(%error, "accepting a RESP connection failed");
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                }
            };
            let server = self.clone();
            let stop = stop.clone();
            tokio::spawn(async move { server.run_connection(stream, peer, local, stop).await });
        }
    }

    async fn run_connection(
        self: Arc<RespServer>,
        mut stream: TcpStream,
        peer: SocketAddr,
        local: Option<SocketAddr>,
        mut stop: watch::Receiver<bool>,
    ) {
        let _ = stream.set_nodelay(true);
        let metrics = self.node.metrics().clone();
        if self.clients.len() >= self.settings.maxclients.load(Ordering::Relaxed) {
            metrics.connections_rejected.inc();
            let _ = stream.write_all(b"-ERR max number of clients reached\r\n").await;
            return;
        }
        let id = self.clients.register(peer, local, self.node.now_ms());
        metrics.connections.inc();
        metrics.connections_total.inc();
        let limits = RequestLimits {
            bulk_bytes_max: self.settings.proto_max_bulk_len.load(Ordering::Relaxed),
            ..RequestLimits::default()
        };
        let mut connection = Connection::new(self.clone(), id);
        let mut decoder = RequestDecoder::new(limits);
        let mut input = BytesMut::with_capacity(READ_BUFFER_BYTES);
        let mut output = BytesMut::new();
        'connection: loop {
            let mut requests = Vec::new();
            let mut broken: Option<ProtocolError> = None;
            while requests.len() < PIPELINE_REQUESTS_MAX {
                match decoder.decode(&mut input) {
                    Ok(Some(args)) => requests.push(args),
                    Ok(None) => break,
                    Err(error) => {
                        broken = Some(error);
                        break;
                    }
                }
            }
            let more_buffered = requests.len() == PIPELINE_REQUESTS_MAX;
            if !requests.is_empty() {
                connection.run(requests, &mut output).await;
            }
            if connection.dropped_replies {
                break;
            }
            if let Some(error) = &broken {
                tracing::debug!(client = id, %peer, %error, "protocol error; closing the connection");
                Frame::Error(error.reply_text().to_owned()).encode(connection.protocol, &mut output);
            }
            if !output.is_empty() {
                if crate::fault::buggify(0.01) {
                    // Fault point: the connection fails mid-frame, after the requests applied.
                    let _ = stream.write_all(&output[..output.len() / 2]).await;
                    let _ = stream.flush().await;
                    break;
                }
                // One write for every reply of the pipeline; flush is free on a real socket and
                // needed on madsim's, which holds written bytes until flushed.
                if stream.write_all(&output).await.is_err() || stream.flush().await.is_err() {
                    break;
                }
                output.clear();
            }
            if broken.is_some() || connection.closing {
                break;
            }
            if more_buffered {
                continue;
            }
            if input.capacity() - input.len() < READ_BUFFER_BYTES / 4 {
                input.reserve(READ_BUFFER_BYTES);
            }
            let read = tokio::select! {
                biased;
                _ = stop.changed() => break 'connection,
                read = stream.read_buf(&mut input) => read,
            };
            match read {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        let _ = stream.shutdown().await;
        self.clients.remove(id);
        metrics.connections.dec();
    }
}

/// One client connection's state: protocol, transaction, watches.
struct Connection {
    server: Arc<RespServer>,
    id: u64,
    protocol: Protocol,
    /// Commands queued since MULTI, or `None` outside a transaction.
    queued: Option<Vec<Command>>,
    /// A command queued since MULTI was refused; EXEC must abort.
    queue_failed: bool,
    watches: Vec<Watch>,
    /// READONLY was sent: reads are served from this node's state without confirming that it
    /// is current (stale reads, DESIGN.md §4).
    stale_reads: bool,
    /// QUIT was sent: close after writing its reply.
    closing: bool,
    /// A fault point dropped this pipeline's replies: close without writing them.
    dropped_replies: bool,
    /// Consecutive writes waiting to be proposed together, with their reply slots and names.
    writes: Vec<(usize, Payload, &'static str)>,
    /// Consecutive reads waiting for one leadership confirmation.
    reads: Vec<(usize, Command)>,
    /// Replies of the current pipeline, by position.
    replies: Vec<Option<Frame>>,
    names: Vec<&'static str>,
}

/// What a request turned out to be.
enum Step {
    Now(Frame),
    Read(Command),
    Write(Payload),
}

impl Connection {
    fn new(server: Arc<RespServer>, id: u64) -> Connection {
        Connection {
            server,
            id,
            protocol: Protocol::Resp2,
            queued: None,
            queue_failed: false,
            watches: Vec::new(),
            stale_reads: false,
            closing: false,
            dropped_replies: false,
            writes: Vec::new(),
            reads: Vec::new(),
            replies: Vec::new(),
            names: Vec::new(),
        }
    }

    /// Runs a pipeline of requests in order and appends their replies to `output`.
    async fn run(&mut self, requests: Vec<Vec<Bytes>>, output: &mut BytesMut) {
        let started = crate::node::monotonic_now();
        let count = requests.len();
        self.replies = (0..count).map(|_| None).collect();
        self.names = vec!["unknown"; count];
        let mut last_name = "unknown";
        for (slot, args) in requests.into_iter().enumerate() {
            let name = crate::metrics::command_label(&args[0]);
            self.names[slot] = name;
            last_name = name;
            if self.closing {
                // Redis stops reading after QUIT; whatever followed in the pipeline is dropped.
                self.replies.truncate(slot);
                self.names.truncate(slot);
                break;
            }
            // Connection commands see the effects of everything before them.
            let step = self.step(&args).await;
            match step {
                Step::Now(frame) => {
                    self.flush().await;
                    self.replies[slot] = Some(frame);
                }
                Step::Read(command) => {
                    self.flush_writes().await;
                    self.reads.push((slot, command));
                }
                Step::Write(payload) => {
                    self.flush_reads().await;
                    self.writes.push((slot, payload, name));
                }
            }
        }
        self.flush().await;
        let seconds = started.elapsed().as_secs_f64() / count.max(1) as f64;
        let metrics = self.server.node.metrics();
        for (reply, name) in self.replies.drain(..).zip(self.names.drain(..)) {
            let reply = reply.expect("every request in the pipeline has a reply");
            metrics.observe_command(name, !matches!(reply, Frame::Error(_)), seconds);
            reply.encode(self.protocol, output);
        }
        self.server.commands_processed.fetch_add(count as u64, Ordering::Relaxed);
        self.server.clients.touch(self.id, last_name, self.server.node.now_ms(), self.queued.is_some());
    }

    async fn flush(&mut self) {
        self.flush_reads().await;
        self.flush_writes().await;
    }

    async fn flush_reads(&mut self) {
        if self.reads.is_empty() {
            return;
        }
        let reads = std::mem::take(&mut self.reads);
        let confirmed = if self.stale_reads {
            self.server.node.check_member()
        } else {
            self.server.node.linearize().await
        };
        match confirmed {
            Ok(()) => {
                for (slot, command) in reads {
                    self.replies[slot] = Some(Frame::from(self.server.node.state().read(&command)));
                }
            }
            Err(error) => {
                for (slot, _) in reads {
                    self.replies[slot] = Some(Frame::Error(error.reply_text()));
                }
            }
        }
    }

    async fn flush_writes(&mut self) {
        if self.writes.is_empty() {
            return;
        }
        let writes = std::mem::take(&mut self.writes);
        let (slots, payloads): (Vec<usize>, Vec<Payload>) =
            writes.into_iter().map(|(s, p, _)| (s, p)).unzip();
        let results = self.server.node.write_batch(payloads).await;
        if crate::fault::buggify(0.01) {
            // Fault point: the writes applied but their replies are lost with the connection.
            self.closing = true;
            self.dropped_replies = true;
        }
        for (slot, result) in slots.into_iter().zip(results) {
            self.replies[slot] = Some(match result {
                Ok(reply) => Frame::from(reply),
                Err(error) => Frame::Error(error.reply_text()),
            });
        }
    }

    /// Decides what one request is, running connection commands on the spot.
    async fn step(&mut self, args: &[Bytes]) -> Step {
        let name = args[0].to_ascii_uppercase();
        if self.queued.is_some() {
            return self.step_in_transaction(&name, args);
        }
        match name.as_slice() {
            b"MULTI" => {
                if args.len() != 1 {
                    return Step::Now(arity_error("multi"));
                }
                self.queued = Some(Vec::new());
                self.queue_failed = false;
                Step::Now(Frame::simple("OK"))
            }
            b"EXEC" => Step::Now(Frame::Error("ERR EXEC without MULTI".into())),
            b"DISCARD" => Step::Now(Frame::Error("ERR DISCARD without MULTI".into())),
            b"WATCH" => {
                self.flush().await;
                Step::Now(self.watch(&args[1..]).await)
            }
            b"UNWATCH" => {
                self.watches.clear();
                Step::Now(Frame::simple("OK"))
            }
            b"QUIT" => {
                self.closing = true;
                Step::Now(Frame::simple("OK"))
            }
            b"RESET" => {
                self.flush().await;
                self.reset();
                Step::Now(Frame::simple("RESET"))
            }
            b"READONLY" | b"READWRITE" if args.len() != 1 => {
                Step::Now(arity_error(&String::from_utf8_lossy(&name).to_lowercase()))
            }
            b"READONLY" => {
                self.flush().await;
                self.stale_reads = true;
                Step::Now(Frame::simple("OK"))
            }
            b"READWRITE" => {
                self.flush().await;
                self.stale_reads = false;
                Step::Now(Frame::simple("OK"))
            }
            b"RAFT.INFO" | b"RAFT.ADD" | b"RAFT.PROMOTE" | b"RAFT.REMOVE" => {
                self.flush().await;
                Step::Now(cluster::run(&self.server.node, &name, args).await)
            }
            _ => match Command::parse(args) {
                Ok(command) if command.is_write() => Step::Write(Payload::Command { session: None, command }),
                Ok(command) => Step::Read(command),
                Err(ParseError::Invalid(text)) => Step::Now(Frame::Error(text)),
                Err(ParseError::UnknownCommand) => {
                    // Connection commands may read the keyspace (INFO, DBSIZE-like counts), so
                    // they see every reply before them.
                    self.flush().await;
                    Step::Now(admin::run(self, &name, args))
                }
            },
        }
    }

    fn step_in_transaction(&mut self, name: &[u8], args: &[Bytes]) -> Step {
        match name {
            b"EXEC" => {
                let commands = self.queued.take().expect("in a transaction");
                let watches = std::mem::take(&mut self.watches);
                if std::mem::take(&mut self.queue_failed) {
                    return Step::Now(Frame::Error(
                        "EXECABORT Transaction discarded because of previous errors.".into(),
                    ));
                }
                Step::Write(Payload::Transaction { session: None, watches, commands })
            }
            b"DISCARD" => {
                self.queued = None;
                self.queue_failed = false;
                self.watches.clear();
                Step::Now(Frame::simple("OK"))
            }
            b"MULTI" => Step::Now(Frame::Error("ERR MULTI calls can not be nested".into())),
            b"WATCH" => {
                self.queue_failed = true;
                Step::Now(Frame::Error("ERR WATCH inside MULTI is not allowed".into()))
            }
            b"QUIT" => {
                self.closing = true;
                Step::Now(Frame::simple("OK"))
            }
            b"RESET" => {
                self.reset();
                Step::Now(Frame::simple("RESET"))
            }
            _ => {
                let queued = self.queued.as_mut().expect("in a transaction");
                match Command::parse(args) {
                    Ok(_) if queued.len() >= TRANSACTION_COMMANDS_MAX => {
                        self.queue_failed = true;
                        Step::Now(Frame::Error(format!(
                            "ERR a transaction holds at most {TRANSACTION_COMMANDS_MAX} commands"
                        )))
                    }
                    Ok(command) => {
                        queued.push(command);
                        Step::Now(Frame::simple("QUEUED"))
                    }
                    Err(ParseError::Invalid(text)) => {
                        self.queue_failed = true;
                        Step::Now(Frame::Error(text))
                    }
                    Err(ParseError::UnknownCommand) if redraft_core::spec::find(name).is_some() => {
                        // Redis would queue PING, INFO and the like; redraft's transactions are
                        // log entries of data commands only.
                        self.queue_failed = true;
                        Step::Now(Frame::Error(format!(
                            "ERR '{}' cannot be used inside MULTI on redraft; only data commands can",
                            String::from_utf8_lossy(&args[0]).to_lowercase()
                        )))
                    }
                    Err(ParseError::UnknownCommand) => {
                        self.queue_failed = true;
                        Step::Now(Frame::Error(unknown_command(args)))
                    }
                }
            }
        }
    }

    /// WATCH: remembers each key's token as of a linearizable point, so that EXEC aborts if any
    /// of them changes before it applies.
    async fn watch(&mut self, keys: &[Bytes]) -> Frame {
        if keys.is_empty() {
            return arity_error("watch");
        }
        if self.watches.len() + keys.len() > WATCHED_KEYS_MAX {
            return Frame::Error(format!("ERR a connection may watch at most {WATCHED_KEYS_MAX} keys"));
        }
        if let Err(error) = self.server.node.linearize().await {
            return Frame::Error(error.reply_text());
        }
        let state = self.server.node.state();
        for key in keys {
            if !self.watches.iter().any(|w| w.key == *key) {
                self.watches.push(Watch { key: key.clone(), token: state.watch_token(key) });
            }
        }
        Frame::simple("OK")
    }

    fn reset(&mut self) {
        self.queued = None;
        self.queue_failed = false;
        self.watches.clear();
        self.stale_reads = false;
        self.protocol = Protocol::Resp2;
        self.server.clients.set_name(self.id, None);
        self.server.clients.set_protocol(self.id, Protocol::Resp2);
    }
}

fn arity_error(command: &str) -> Frame {
    Frame::Error(errors::wrong_arity(command))
}

/// The connected clients, for CLIENT LIST, INFO clients and `maxclients`.
#[derive(Default)]
struct Clients {
    next_id: AtomicU64,
    by_id: Mutex<BTreeMap<u64, ClientInfo>>,
}

#[derive(Clone, Debug)]
struct ClientInfo {
    peer: SocketAddr,
    local: Option<SocketAddr>,
    name: Option<Bytes>,
    connected_ms: u64,
    last_command_ms: u64,
    last_command: &'static str,
    in_multi: bool,
    protocol: Protocol,
}

impl Clients {
    fn register(&self, peer: SocketAddr, local: Option<SocketAddr>, now_ms: u64) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let info = ClientInfo {
            peer,
            local,
            name: None,
            connected_ms: now_ms,
            last_command_ms: now_ms,
            last_command: "NULL",
            in_multi: false,
            protocol: Protocol::Resp2,
        };
        self.by_id.lock().insert(id, info);
        id
    }

    fn remove(&self, id: u64) {
        self.by_id.lock().remove(&id);
    }

    fn len(&self) -> usize {
        self.by_id.lock().len()
    }

    fn touch(&self, id: u64, command: &'static str, now_ms: u64, in_multi: bool) {
        if let Some(info) = self.by_id.lock().get_mut(&id) {
            info.last_command = command;
            info.last_command_ms = now_ms;
            info.in_multi = in_multi;
        }
    }

    fn set_name(&self, id: u64, name: Option<Bytes>) {
        if let Some(info) = self.by_id.lock().get_mut(&id) {
            info.name = name;
        }
    }

    fn set_protocol(&self, id: u64, protocol: Protocol) {
        if let Some(info) = self.by_id.lock().get_mut(&id) {
            info.protocol = protocol;
        }
    }

    fn get(&self, id: u64) -> Option<ClientInfo> {
        self.by_id.lock().get(&id).cloned()
    }

    fn all(&self) -> Vec<(u64, ClientInfo)> {
        self.by_id.lock().iter().map(|(id, info)| (*id, info.clone())).collect()
    }
}
