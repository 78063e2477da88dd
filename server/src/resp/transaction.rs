//! A connection's MULTI/EXEC/WATCH state: the commands queued since MULTI, whether one of them
//! was refused (so EXEC must abort), and the keys watched with their tokens.
//!
//! Which request word does what is decided by the [`super::connection`]; this module keeps the
//! state and Redis's rules for it. A transaction reaches the log as one entry of data commands
//! (core's `Write::Transaction`), which applies only if no watched key changed.

use std::collections::HashSet;

use bytes::Bytes;
use redraft_core::limits::{TRANSACTION_COMMANDS_MAX, WATCHED_KEYS_MAX};
use redraft_core::reply::{errors, unknown_command};
use redraft_core::{spec, Command, ParseError, Watch, Write};
use redraft_net::resp::Frame;

use super::parse;
use crate::node::Node;

/// One connection's transaction.
#[derive(Default)]
pub(super) struct Transaction {
    /// Commands queued since MULTI, or `None` outside a transaction.
    queued: Option<Vec<Command>>,
    /// A command queued since MULTI was refused; EXEC must abort.
    failed: bool,
    /// Watched keys with their tokens as of a linearizable point; at most [`WATCHED_KEYS_MAX`].
    watches: Vec<Watch>,
    /// The keys in `watches`, so that a key watched again is found in constant time: with a scan
    /// of `watches` instead, WATCH of 10,000 keys of 4 KiB compared keys for about 12 s.
    /// Invariant: the same keys as `watches`.
    watched: HashSet<Bytes>,
}

impl Transaction {
    /// Whether MULTI was sent and neither EXEC nor DISCARD since.
    pub fn is_open(&self) -> bool {
        self.queued.is_some()
    }

    /// MULTI outside a transaction.
    pub fn begin(&mut self) {
        self.queued = Some(Vec::new());
        self.failed = false;
    }

    /// EXEC inside a transaction: the entry to propose, or EXECABORT when a queued command was
    /// refused. Either way the transaction and its watches end.
    pub fn exec(&mut self) -> Result<Write, Frame> {
        let commands = self.queued.take().expect("EXEC is handled here only inside MULTI");
        let watches = std::mem::take(&mut self.watches);
        self.watched.clear();
        if std::mem::take(&mut self.failed) {
            return Err(Frame::Error("EXECABORT Transaction discarded because of previous errors.".into()));
        }
        Ok(Write::Transaction { session: None, watches, commands })
    }

    /// DISCARD, and RESET: ends any transaction and forgets every watch.
    pub fn discard(&mut self) {
        self.queued = None;
        self.failed = false;
        self.watches.clear();
        self.watched.clear();
    }

    /// Refuses a request inside MULTI with `text`, which makes EXEC abort (WATCH inside MULTI).
    pub fn refuse(&mut self, text: &str) -> Frame {
        self.failed = true;
        Frame::Error(text.into())
    }

    /// Queues any other request inside MULTI, replying QUEUED or the reason it was refused.
    pub fn queue(&mut self, args: &[Bytes]) -> Frame {
        let queued = self.queued.as_mut().expect("requests are queued only inside MULTI");
        match parse::parse(args) {
            Ok(_) if queued.len() >= TRANSACTION_COMMANDS_MAX => {
                self.failed = true;
                Frame::Error(format!("ERR a transaction holds at most {TRANSACTION_COMMANDS_MAX} commands"))
            }
            Ok(command) => {
                queued.push(command);
                Frame::simple("QUEUED")
            }
            Err(ParseError::Invalid(text)) => {
                self.failed = true;
                Frame::Error(text)
            }
            Err(ParseError::UnknownCommand) if spec::find(&args[0]).is_some() => {
                // Redis would queue PING, INFO and the like; redraft's transactions are log
                // entries of data commands only.
                self.failed = true;
                Frame::Error(format!(
                    "ERR '{}' cannot be used inside MULTI on redraft; only data commands can",
                    String::from_utf8_lossy(&args[0]).to_lowercase()
                ))
            }
            Err(ParseError::UnknownCommand) => {
                self.failed = true;
                Frame::Error(unknown_command(args))
            }
        }
    }

    /// WATCH outside a transaction: remembers each key's token as of a linearizable point, so
    /// that EXEC aborts if any of them changes before it applies.
    pub async fn watch(&mut self, node: &Node, keys: &[Bytes]) -> Frame {
        if keys.is_empty() {
            return Frame::Error(errors::wrong_arity("watch"));
        }
        if self.watches.len() + keys.len() > WATCHED_KEYS_MAX {
            return Frame::Error(format!("ERR a connection may watch at most {WATCHED_KEYS_MAX} keys"));
        }
        if let Err(error) = node.linearize().await {
            return Frame::Error(error.reply_text());
        }
        let state = node.state();
        for key in keys {
            if self.watched.insert(key.clone()) {
                self.watches.push(Watch { key: key.clone(), token: state.watch_token(key) });
            }
        }
        Frame::simple("OK")
    }

    /// UNWATCH.
    pub fn unwatch(&mut self) {
        self.watches.clear();
        self.watched.clear();
    }
}
