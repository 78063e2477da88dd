//! Pub/sub: SUBSCRIBE, PSUBSCRIBE, UNSUBSCRIBE, PUNSUBSCRIBE, PUBSUB, and the delivery of
//! messages to a subscribed connection.
//!
//! PUBLISH goes through the log (core's `Command::Publish`): every node applies the entry once and
//! hands the message to its own subscribers (`ChangeFeed::subscribe_messages`), so a message
//! published on any node reaches the subscribers of every node, at most once each, in log order.
//! PUBLISH answers how many clients of the node that took it are subscribed to the channel, as
//! a node of Redis Cluster answers for itself; PUBSUB counts this node's subscribers.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use bytes::Bytes;
use bytes::BytesMut;
use parking_lot::Mutex;
use redraft_core::{glob, Change, ChangeKind};
use redraft_net::resp::{encode_push, Frame, Protocol};
use tokio::sync::broadcast;

/// One connection's subscriptions, and the messages coming to it.
pub struct Subscriptions {
    channels: BTreeSet<Bytes>,
    patterns: BTreeSet<Bytes>,
    messages: broadcast::Receiver<Arc<Change>>,
}

/// The subscriptions of every connection of this node, for PUBLISH's answer and PUBSUB.
#[derive(Default)]
pub struct Registry {
    /// Each subscribed client's channels and patterns.
    clients: Mutex<BTreeMap<u64, Names>>,
}

/// A client's channels, then its patterns.
type Names = (BTreeSet<Bytes>, BTreeSet<Bytes>);

/// Which kind of subscription a command changes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Channel,
    Pattern,
}

impl Registry {
    /// How many of this node's clients a message on `channel` reaches (a client subscribed to
    /// the channel and to a matching pattern counts twice, as it receives it twice, as in Redis).
    pub fn receivers(&self, channel: &[u8]) -> usize {
        let clients = self.clients.lock();
        clients
            .values()
            .map(|(channels, patterns)| {
                usize::from(channels.contains(channel))
                    + patterns.iter().filter(|p| glob::matches(p, channel)).count()
            })
            .sum()
    }

    pub fn remove(&self, client: u64) {
        self.clients.lock().remove(&client);
    }

    fn update(&self, client: u64, subscriptions: &Subscriptions) {
        let mut clients = self.clients.lock();
        if subscriptions.count() == 0 {
            clients.remove(&client);
        } else {
            clients.insert(client, (subscriptions.channels.clone(), subscriptions.patterns.clone()));
        }
    }

    /// PUBSUB CHANNELS, NUMSUB, NUMPAT and HELP.
    pub fn command(&self, args: &[Bytes]) -> Frame {
        let clients = self.clients.lock();
        let sub = args.get(1).map(|s| s.to_ascii_lowercase()).unwrap_or_default();
        match (sub.as_slice(), &args[2..]) {
            (b"channels", [] | [_]) => {
                let pattern = args.get(2);
                let channels: BTreeSet<&Bytes> = clients
                    .values()
                    .flat_map(|(channels, _)| channels)
                    .filter(|c| pattern.is_none_or(|p| glob::matches(p, c)))
                    .collect();
                Frame::Array(channels.into_iter().map(|c| Frame::Bulk(c.clone())).collect())
            }
            (b"numsub", channels) => Frame::Array(
                channels
                    .iter()
                    .flat_map(|channel| {
                        let count = clients.values().filter(|(c, _)| c.contains(channel)).count();
                        [Frame::Bulk(channel.clone()), Frame::Integer(count as i64)]
                    })
                    .collect(),
            ),
            (b"numpat", []) => {
                let patterns: BTreeSet<&Bytes> = clients.values().flat_map(|(_, p)| p).collect();
                Frame::Integer(patterns.len() as i64)
            }
            (b"help", []) => Frame::Array(
                [
                    "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                    "CHANNELS [<pattern>]",
                    "    Return the currently active channels matching a <pattern> (default: '*').",
                    "NUMPAT",
                    "    Return number of subscriptions to patterns.",
                    "NUMSUB [<channel> ...]",
                    "    Return the number of subscribers for the specified channels, excluding",
                    "    pattern subscriptions(default: no channels).",
                    "HELP",
                    "    Print this help.",
                ]
                .iter()
                .map(|line| Frame::Simple((*line).to_owned()))
                .collect(),
            ),
            (b"channels" | b"numpat" | b"help", _) => Frame::Error(format!(
                "ERR wrong number of arguments for 'pubsub|{}' command",
                String::from_utf8_lossy(&sub)
            )),
            _ => Frame::Error(format!(
                "ERR unknown subcommand '{}'. Try PUBSUB HELP.",
                String::from_utf8_lossy(args.get(1).map_or(&b""[..], |s| &s[..]))
            )),
        }
    }
}

impl Subscriptions {
    /// Channels and patterns together, as the replies count them.
    pub fn count(&self) -> usize {
        self.channels.len() + self.patterns.len()
    }

    /// The message frames for `change` this connection receives: one for its channel
    /// subscription, one for each matching pattern.
    fn frames_for(&self, change: &Change) -> Vec<Vec<Frame>> {
        let ChangeKind::Message { channel, message } = &change.kind else { return Vec::new() };
        let mut frames = Vec::new();
        if self.channels.contains(channel) {
            frames.push(vec![bulk("message"), Frame::Bulk(channel.clone()), Frame::Bulk(message.clone())]);
        }
        for pattern in self.patterns.iter().filter(|p| glob::matches(p, channel)) {
            frames.push(vec![
                bulk("pmessage"),
                Frame::Bulk(pattern.clone()),
                Frame::Bulk(channel.clone()),
                Frame::Bulk(message.clone()),
            ]);
        }
        frames
    }

    /// Encodes the next messages for this connection into `output`; `false` when it fell too
    /// far behind (its client is then disconnected) or the node is going away.
    pub async fn next_into(&mut self, protocol: Protocol, output: &mut BytesMut) -> bool {
        match self.next().await {
            Some(pushes) => {
                pushes.iter().for_each(|push| encode_push(push, protocol, output));
                true
            }
            None => false,
        }
    }

    async fn next(&mut self) -> Option<Vec<Vec<Frame>>> {
        loop {
            match self.messages.recv().await {
                Ok(change) => {
                    let frames = self.frames_for(&change);
                    if !frames.is_empty() {
                        return Some(frames);
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_) | broadcast::error::RecvError::Closed) => {
                    return None
                }
            }
        }
    }
}

/// The refusal of a command a RESP2 connection may not run while it subscribes to anything.
pub fn refused_in_subscribed_mode(name: &[u8]) -> Option<Frame> {
    let allowed = matches!(
        name,
        b"SUBSCRIBE" | b"PSUBSCRIBE" | b"UNSUBSCRIBE" | b"PUNSUBSCRIBE" | b"PING" | b"QUIT" | b"RESET"
    );
    (!allowed).then(|| {
        Frame::Error(format!(
            "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this \
             context",
            String::from_utf8_lossy(name).to_lowercase()
        ))
    })
}

/// SUBSCRIBE or PSUBSCRIBE: adds each name and answers one confirmation each.
pub fn subscribe(
    state: &mut Option<Subscriptions>,
    registry: &Registry,
    client: u64,
    messages: impl FnOnce() -> broadcast::Receiver<Arc<Change>>,
    kind: Kind,
    names: &[Bytes],
) -> Vec<Vec<Frame>> {
    let subscriptions = state.get_or_insert_with(|| Subscriptions {
        channels: BTreeSet::new(),
        patterns: BTreeSet::new(),
        messages: messages(),
    });
    let reply = if kind == Kind::Channel { "subscribe" } else { "psubscribe" };
    let mut frames = Vec::new();
    for name in names {
        // Kept for as long as the subscription lives: a copy, not a slice of the read buffer
        // the request arrived in, which it would keep alive.
        let kept = Bytes::copy_from_slice(name);
        match kind {
            Kind::Channel => subscriptions.channels.insert(kept),
            Kind::Pattern => subscriptions.patterns.insert(kept),
        };
        frames.push(vec![
            bulk(reply),
            Frame::Bulk(name.clone()),
            Frame::Integer(subscriptions.count() as i64),
        ]);
    }
    registry.update(client, subscriptions);
    frames
}

/// UNSUBSCRIBE or PUNSUBSCRIBE: removes each name (every one of its kind when none is given)
/// and answers one confirmation each; the connection leaves subscribed mode when none is left.
pub fn unsubscribe(
    state: &mut Option<Subscriptions>,
    registry: &Registry,
    client: u64,
    kind: Kind,
    names: &[Bytes],
) -> Vec<Vec<Frame>> {
    let reply = if kind == Kind::Channel { "unsubscribe" } else { "punsubscribe" };
    let current: Vec<Bytes> = match (state.as_ref(), kind) {
        (None, _) => Vec::new(),
        (Some(s), Kind::Channel) => s.channels.iter().cloned().collect(),
        (Some(s), Kind::Pattern) => s.patterns.iter().cloned().collect(),
    };
    let names = if names.is_empty() { current } else { names.to_vec() };
    let mut frames = Vec::new();
    for name in &names {
        if let Some(s) = state.as_mut() {
            match kind {
                Kind::Channel => s.channels.remove(name),
                Kind::Pattern => s.patterns.remove(name),
            };
        }
        let count = state.as_ref().map_or(0, Subscriptions::count);
        frames.push(vec![bulk(reply), Frame::Bulk(name.clone()), Frame::Integer(count as i64)]);
    }
    if names.is_empty() {
        let count = state.as_ref().map_or(0, Subscriptions::count);
        frames.push(vec![bulk(reply), Frame::Null, Frame::Integer(count as i64)]);
    }
    match state.as_ref() {
        Some(s) if s.count() > 0 => registry.update(client, s),
        _ => {
            *state = None;
            registry.remove(client);
        }
    }
    frames
}

fn bulk(text: &'static str) -> Frame {
    Frame::Bulk(Bytes::from_static(text.as_bytes()))
}
