//! One client connection: what each request is and in what order it runs.
//!
//! A pipeline's requests run in order. Runs of consecutive writes are proposed together, so a
//! pipeline of N writes shares one group commit; runs of consecutive reads share one leadership
//! confirmation. A read after a write waits for the write's reply, so a client always reads its
//! own writes. Connection commands run on the spot and see the effects of everything before them.
//!
//! Data commands' semantics are core's; the connection and server commands are in
//! [`super::admin`] and [`super::cluster`], MULTI/WATCH state in [`super::transaction`]. Bytes on
//! the socket are [`super::listener`]'s.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use redraft_core::reply::errors;
use redraft_core::{Command, ParseError, Reply, StateMachine, Write};
use redraft_net::resp::{encode_push, encode_reply, Frame, Protocol};
use smallvec::SmallVec;
use tokio::sync::watch;

use super::acl;
use super::acl_log::{Reason, Refusal};
use super::admin::{self, ClientContext};
use super::auth::{Auth, Verdict, NOAUTH};
use super::blocking;
use super::cluster;
use super::parse;
use super::persistence;
use super::pubsub::{self, Subscriptions};
use super::server::RespServer;
use super::transaction::Transaction;
use crate::metrics::CommandLabel;

mod login;

/// One client connection's state: protocol, transaction, watches, and the pipeline running.
pub(super) struct Connection {
    server: Arc<RespServer>,
    id: u64,
    pub protocol: Protocol,
    transaction: Transaction,
    /// READONLY was sent: reads are served from this node's state without confirming that it
    /// is current (stale reads, DESIGN.md §4).
    stale_reads: bool,
    /// The user it runs as.
    auth: Auth,
    /// QUIT was sent: close after writing its reply.
    pub closing: bool,
    /// Close without writing this pipeline's replies: a fault point dropped them, or an HTTP
    /// request arrived (Redis frees such a client with its pending replies).
    pub dropped_replies: bool,
    /// Consecutive writes waiting to be proposed together, and their reply slots.
    writes: Vec<Write>,
    write_slots: Vec<usize>,
    /// Consecutive reads waiting for one leadership confirmation.
    reads: Vec<(usize, Command)>,
    /// Replies of the current pipeline, by position.
    replies: Vec<Option<Answer>>,
    names: Vec<CommandLabel>,
    /// Turns true when the listener sees the client go while it is blocked (BLPOP and the like).
    pub gone: watch::Receiver<bool>,
    /// The channels and patterns it subscribes to, once it has any.
    subscriptions: Option<Subscriptions>,
}

/// A request's reply: a data command's, encoded straight from core's [`Reply`], or a frame.
enum Answer {
    Data(Reply),
    Frame(Frame),
    /// Pub/sub confirmations, one push each.
    Pushes(Vec<Vec<Frame>>),
}

impl Answer {
    fn is_error(&self) -> bool {
        matches!(self, Answer::Data(Reply::Error(_)) | Answer::Frame(Frame::Error(_)))
            || matches!(self, Answer::Pushes(pushes) if pushes.is_empty())
    }
}

/// What a request turned out to be.
enum Step {
    Now(Frame),
    Pushes(Vec<Vec<Frame>>),
    Read(Command),
    Write(Write),
    /// A write [`Connection::step`] queued itself: a write is larger than a move without a call
    /// to `memcpy`, and SET -P16 paid three such moves per request on its way to the queue.
    Queued,
}

impl Connection {
    /// The state of the connection registered as client `id`.
    pub fn new(server: Arc<RespServer>, id: u64) -> Connection {
        let auth = Auth::new(&server);
        Connection {
            server,
            id,
            auth,
            protocol: Protocol::Resp2,
            transaction: Transaction::default(),
            stale_reads: false,
            closing: false,
            dropped_replies: false,
            writes: Vec::new(),
            write_slots: Vec::new(),
            gone: watch::channel(false).1,
            subscriptions: None,
            reads: Vec::new(),
            replies: Vec::new(),
            names: Vec::new(),
        }
    }

    /// Runs a pipeline of requests in order and appends their replies to `output`.
    pub async fn run(&mut self, requests: Vec<Vec<Bytes>>, output: &mut BytesMut) {
        let started = crate::clock::monotonic_now();
        let count = requests.len();
        self.replies = (0..count).map(|_| None).collect();
        self.names.clear();
        // Each flush takes its list away: one allocation for the pipeline, not a doubling series.
        self.reads.reserve(count);
        self.writes.reserve(count);
        let mut last_name = CommandLabel::UNKNOWN;
        for (slot, args) in requests.into_iter().enumerate() {
            let name = CommandLabel::of(&args[0]);
            self.names.push(name);
            last_name = name;
            if is_cross_protocol(&args[0]) {
                // Redis's answer to cross-protocol scripting: a browser tricked into sending
                // `POST /` (or any HTTP request, with its `Host:` header) to the Redis port must
                // not have its body run as commands. The connection closes at once, with no reply
                // to anything in this read and nothing after it run, as Redis's
                // securityWarningCommand frees the client with its pending replies.
                tracing::warn!(
                    client = self.id,
                    "possible security attack: a client sent POST or Host: to the RESP port, as \
                     a web page doing cross-protocol scripting would; connection closed"
                );
                self.closing = true;
                self.dropped_replies = true;
            }
            if self.closing {
                // Redis stops reading after QUIT; whatever followed in the pipeline is dropped.
                self.replies.truncate(slot);
                self.names.truncate(slot);
                break;
            }
            // Connection commands see the effects of everything before them.
            let step = self.step(&args, name).await;
            match step {
                Step::Now(frame) => {
                    self.flush().await;
                    self.replies[slot] = Some(Answer::Frame(frame));
                }
                Step::Pushes(pushes) => {
                    self.flush().await;
                    self.replies[slot] = Some(Answer::Pushes(pushes));
                }
                Step::Read(command) => {
                    self.flush_writes().await;
                    self.reads.push((slot, command));
                }
                Step::Write(payload) => {
                    self.flush_reads().await;
                    self.writes.push(payload);
                    self.write_slots.push(slot);
                }
                Step::Queued => {
                    // The reads before it were queued before it and run first: the write is
                    // only queued, not sent, until `flush_writes`.
                    self.flush_reads().await;
                    self.write_slots.push(slot);
                }
            }
        }
        self.flush().await;
        let seconds = started.elapsed().as_secs_f64() / count.max(1) as f64;
        let metrics = self.server.node.metrics();
        let limit = self.server.settings.client_output_buffer_limit;
        for (reply, name) in self.replies.drain(..).zip(self.names.drain(..)) {
            let reply = reply.expect("every request in the pipeline has a reply");
            metrics.observe_command(name, !reply.is_error(), seconds);
            match reply {
                Answer::Data(reply) => {
                    // Sized before it is copied into the buffer: values are shared until then.
                    if limit != 0 && output.len() + reply.approx_bytes() > limit {
                        tracing::warn!(
                            client = self.id,
                            limit,
                            "client closed for overcoming of output buffer limits"
                        );
                        self.closing = true;
                        self.dropped_replies = true;
                        break;
                    }
                    encode_reply(&reply, self.protocol, output)
                }
                Answer::Frame(frame) => frame.encode(self.protocol, output),
                Answer::Pushes(pushes) => {
                    pushes.iter().for_each(|push| encode_push(push, self.protocol, output))
                }
            }
        }
        self.replies.clear();
        self.names.clear();
        self.server.commands_processed.fetch_add(count as u64, Ordering::Relaxed);
        let in_multi = self.transaction.is_open();
        self.server.clients.touch(self.id, last_name.name(), self.server.node.now_ms(), in_multi);
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
            let outlives =
                |state: &StateMachine, now| reads.iter().any(|(_, c)| state.read_outlives_deadline(c, now));
            self.server.node.linearize_at_now(outlives).await
        };
        match confirmed {
            Ok(()) => {
                let commands: SmallVec<[&Command; 16]> = reads.iter().map(|(_, command)| command).collect();
                let mut slots = reads.iter().map(|(slot, _)| *slot);
                let replies = &mut self.replies;
                self.server.node.state().read_pipeline(&commands, |reply| {
                    let slot = slots.next().expect("one reply per read");
                    replies[slot] = Some(Answer::Data(reply));
                });
            }
            Err(error) => {
                for (slot, _) in reads {
                    self.replies[slot] = Some(Answer::Data(Reply::Error(error.reply_text())));
                }
            }
        }
    }

    async fn flush_writes(&mut self) {
        if self.writes.is_empty() {
            return;
        }
        let writes = std::mem::take(&mut self.writes);
        let results = self.server.node.write_batch(writes).await;
        if crate::fault::buggify(0.01) {
            // Fault point: the writes applied but their replies are lost with the connection.
            self.closing = true;
            self.dropped_replies = true;
        }
        for (slot, result) in self.write_slots.drain(..).zip(results) {
            self.replies[slot] = Some(Answer::Data(match result {
                Ok(reply) => reply,
                Err(error) => Reply::Error(error.reply_text()),
            }));
        }
    }

    /// Decides what one request is, running connection commands on the spot; `label` is its
    /// name's metrics label, which names its data command too.
    async fn step(&mut self, args: &[Bytes], label: CommandLabel) -> Step {
        // The name in upper case, without an allocation for any name as short as a command's.
        let mut inline = [0u8; 24];
        let long;
        let name: &[u8] = match inline.get_mut(..args[0].len()) {
            Some(upper) => {
                upper.copy_from_slice(&args[0]);
                upper.make_ascii_uppercase();
                upper
            }
            None => {
                long = args[0].to_ascii_uppercase();
                &long
            }
        };
        // These run before authentication and whatever the user's rules, as in Redis.
        let always = matches!(name, b"AUTH" | b"HELLO" | b"QUIT" | b"RESET");
        if !self.auth.authenticated() && !always && redraft_core::spec::find(name).is_some() {
            return Step::Now(Frame::Error(NOAUTH.into()));
        }
        if let Err(refusal) = if always { Ok(()) } else { self.permit(args) } {
            return Step::Now(match refusal {
                // A refused command inside MULTI fails the transaction, as a malformed one does.
                Frame::Error(text) if self.transaction.is_open() => self.transaction.refuse(&text),
                other => other,
            });
        }
        // Inside MULTI, queueing itself takes memory: Redis refuses every command there but
        // those that end the transaction.
        let queues = self.transaction.is_open() && !matches!(name, b"EXEC" | b"DISCARD" | b"QUIT" | b"RESET");
        if self.server.node.out_of_memory() && (queues || grows_memory(name)) {
            return Step::Now(if self.transaction.is_open() {
                self.transaction.refuse(OOM)
            } else {
                Frame::Error(OOM.into())
            });
        }
        if self.transaction.is_open() {
            return self.step_in_transaction(name, args);
        }
        let pubsub_mode = self.subscriptions.is_some() && self.protocol == Protocol::Resp2;
        if let Some(refused) = pubsub_mode.then(|| pubsub::refused_in_subscribed_mode(name)).flatten() {
            return Step::Now(refused);
        }
        match name {
            b"SUBSCRIBE" | b"PSUBSCRIBE" if args.len() < 2 => {
                Step::Now(arity_error(&String::from_utf8_lossy(name).to_lowercase()))
            }
            b"SUBSCRIBE" | b"PSUBSCRIBE" => {
                let kind = if name == b"SUBSCRIBE" { pubsub::Kind::Channel } else { pubsub::Kind::Pattern };
                let node = self.server.node.clone();
                Step::Pushes(pubsub::subscribe(
                    &mut self.subscriptions,
                    &self.server.pubsub,
                    self.id,
                    || node.changes().subscribe_messages(),
                    kind,
                    &args[1..],
                ))
            }
            b"UNSUBSCRIBE" | b"PUNSUBSCRIBE" => {
                let kind = if name == b"UNSUBSCRIBE" { pubsub::Kind::Channel } else { pubsub::Kind::Pattern };
                Step::Pushes(pubsub::unsubscribe(
                    &mut self.subscriptions,
                    &self.server.pubsub,
                    self.id,
                    kind,
                    &args[1..],
                ))
            }
            b"PING" if pubsub_mode && args.len() <= 2 => {
                let message = args.get(1).cloned().unwrap_or_default();
                Step::Now(Frame::Array(vec![Frame::Bulk(Bytes::from_static(b"pong")), Frame::Bulk(message)]))
            }
            b"PUBSUB" => Step::Now(self.server.pubsub.command(args)),
            b"PUBLISH" if args.len() != 3 => Step::Now(arity_error("publish")),
            b"PUBLISH" => {
                self.flush().await;
                let command = Command::Publish { channel: args[1].clone(), message: args[2].clone() };
                Step::Now(match self.server.node.write(Write::Command { session: None, command }).await {
                    Ok(_) => Frame::Integer(self.server.pubsub.receivers(&args[1]) as i64),
                    Err(error) => Frame::Error(error.reply_text()),
                })
            }
            b"MULTI" => {
                if args.len() != 1 {
                    return Step::Now(arity_error("multi"));
                }
                self.transaction.begin();
                Step::Now(Frame::simple("OK"))
            }
            b"EXEC" => Step::Now(Frame::Error("ERR EXEC without MULTI".into())),
            b"DISCARD" => Step::Now(Frame::Error("ERR DISCARD without MULTI".into())),
            b"WATCH" => {
                self.flush().await;
                Step::Now(self.transaction.watch(&self.server.node, &args[1..]).await)
            }
            b"UNWATCH" => {
                self.transaction.unwatch();
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
                Step::Now(arity_error(&String::from_utf8_lossy(name).to_lowercase()))
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
            b"SAVE" | b"BGSAVE" | b"LASTSAVE" => {
                self.flush().await;
                Step::Now(persistence::run(&self.server.node, name, args).await)
            }
            b"RAFT.INFO" | b"RAFT.ADD" | b"RAFT.PROMOTE" | b"RAFT.REMOVE" => {
                self.flush().await;
                Step::Now(cluster::run(&self.server.node, name, args).await)
            }
            b"ACL" => {
                self.flush().await;
                Step::Now(acl::run(&self.server, self.auth.user_name(), args).await)
            }
            b"AUTH" => Step::Now(self.authenticate(args)),
            b"HELLO" => {
                if let Some(refused) = self.hello_auth(args) {
                    return Step::Now(refused);
                }
                self.flush().await;
                let mut client =
                    ClientContext { server: &self.server, id: self.id, protocol: &mut self.protocol };
                Step::Now(admin::run(&mut client, name, args))
            }
            _ => match parse::parse_labelled(label, args) {
                Ok(command) if command.blocks() => {
                    // Everything before it runs first; it then waits (inside MULTI it does not:
                    // the transaction queues it as one attempt).
                    self.flush().await;
                    let reply =
                        blocking::run(&self.server.node, &self.server.blocked, command, &mut self.gone).await;
                    Step::Now(Frame::from(reply))
                }
                Ok(command) if command.is_write() => {
                    self.writes.push(Write::Command { session: None, command });
                    Step::Queued
                }
                Ok(command) => Step::Read(command),
                Err(ParseError::Invalid(text)) => Step::Now(Frame::Error(text)),
                Err(ParseError::UnknownCommand) => {
                    // Connection commands may read the keyspace (INFO, DBSIZE-like counts), so
                    // they see every reply before them.
                    self.flush().await;
                    let mut client =
                        ClientContext { server: &self.server, id: self.id, protocol: &mut self.protocol };
                    Step::Now(admin::run(&mut client, name, args))
                }
            },
        }
    }

    /// Inside MULTI: EXEC, DISCARD, QUIT and RESET act; MULTI and WATCH are refused; anything
    /// else is queued.
    fn step_in_transaction(&mut self, name: &[u8], args: &[Bytes]) -> Step {
        match name {
            b"EXEC" => match self.transaction.exec() {
                Ok(payload) => Step::Write(payload),
                Err(abort) => Step::Now(abort),
            },
            b"DISCARD" => {
                self.transaction.discard();
                Step::Now(Frame::simple("OK"))
            }
            b"MULTI" => Step::Now(Frame::Error("ERR MULTI calls can not be nested".into())),
            b"WATCH" => Step::Now(self.transaction.refuse("ERR WATCH inside MULTI is not allowed")),
            b"QUIT" => {
                self.closing = true;
                Step::Now(Frame::simple("OK"))
            }
            b"RESET" => {
                self.reset();
                Step::Now(Frame::simple("RESET"))
            }
            _ => Step::Now(self.transaction.queue(args)),
        }
    }

    /// Whether the connection's user may run this request; the refusal (NOPERM) is logged.
    fn permit(&mut self, args: &[Bytes]) -> Result<(), Frame> {
        let in_multi = self.transaction.is_open();
        let verdict = self.auth.check(&self.server, args, || Command::parse(args).ok());
        let (reason, object, denied) = match verdict {
            Verdict::Allowed => return Ok(()),
            Verdict::UserGone => {
                // Redis closes the connections of a deleted user.
                self.closing = true;
                self.dropped_replies = true;
                return Err(Frame::Error("ERR this connection's user was deleted".into()));
            }
            Verdict::Denied(denied) => match &denied {
                redraft_core::acl::Denied::Command(name) => (Reason::Command, (*name).to_owned(), denied),
                redraft_core::acl::Denied::Key(key) => {
                    (Reason::Key, String::from_utf8_lossy(key).into_owned(), denied)
                }
            },
        };
        self.log_refusal(reason, &object, self.auth.user_name().to_owned(), in_multi);
        Err(Frame::Error(denied.reply_text()))
    }

    fn log_refusal(&self, reason: Reason, object: &str, username: String, in_multi: bool) {
        let now_ms = self.server.node.now_ms();
        let client_info =
            self.server.clients.get(self.id).map(|info| admin::client_line(self.id, &info, now_ms));
        let refusal = Refusal {
            reason,
            in_multi,
            object,
            username: &username,
            client_info: client_info.unwrap_or_default().trim_end().to_owned(),
        };
        self.server.acl_log.record(refusal, now_ms);
    }

    /// Whether it subscribes to anything (messages may then come at any time).
    pub fn subscribed(&self) -> bool {
        self.subscriptions.is_some()
    }

    /// The next messages for this subscribed connection, encoded into `output`; `false` when it
    /// fell too far behind to go on (its client is then disconnected, as Redis drops a slow
    /// subscriber).
    pub async fn next_messages(&mut self, output: &mut BytesMut) -> bool {
        match self.subscriptions.as_mut() {
            Some(subscriptions) => subscriptions.next_into(self.protocol, output).await,
            None => true,
        }
    }

    /// RESET: back to a fresh connection's state, keeping its id.
    fn reset(&mut self) {
        self.subscriptions = None;
        self.server.pubsub.remove(self.id);
        self.auth.reset(&self.server);
        self.server.clients.set_user(self.id, self.auth.user_name());
        self.transaction.discard();
        self.stale_reads = false;
        self.protocol = Protocol::Resp2;
        self.server.clients.set_name(self.id, None);
        self.server.clients.set_protocol(self.id, Protocol::Resp2);
    }
}

/// Redis's refusal of a command that grows memory past `maxmemory` (policy `noeviction`).
const OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";

/// Whether a command may grow memory (Redis's `denyoom` flag).
fn grows_memory(name: &[u8]) -> bool {
    redraft_core::spec::find(name).is_some_and(|spec| spec.has(redraft_core::spec::Flag::DenyOom))
}

/// Whether a request's name is one an HTTP request opens with (`POST`) or carries as a header
/// (`Host:`), in any case: never a command, always a sign of a web page talking to this port.
fn is_cross_protocol(name: &[u8]) -> bool {
    name.eq_ignore_ascii_case(b"post") || name.eq_ignore_ascii_case(b"host:")
}

fn arity_error(command: &str) -> Frame {
    Frame::Error(errors::wrong_arity(command))
}
