//! The registry of connected clients, for CLIENT LIST, CLIENT INFO, INFO clients and
//! `maxclients`. Each connection registers itself when accepted and removes itself when it ends.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use parking_lot::Mutex;
use redraft_net::resp::Protocol;

/// The connected clients, by id; a `BTreeMap` so CLIENT LIST is in id order.
#[derive(Default)]
pub(super) struct Clients {
    next_id: AtomicU64,
    by_id: Mutex<BTreeMap<u64, ClientInfo>>,
}

/// What CLIENT LIST shows of one connection.
#[derive(Clone, Debug)]
pub(super) struct ClientInfo {
    pub peer: SocketAddr,
    pub local: Option<SocketAddr>,
    pub name: Option<Bytes>,
    pub connected_ms: u64,
    pub last_command_ms: u64,
    /// The metrics label of the last command, or `NULL` before the first, as Redis shows it.
    pub last_command: &'static str,
    pub in_multi: bool,
    pub protocol: Protocol,
    /// The user the connection runs as.
    pub user: String,
}

impl Clients {
    /// Adds a connection and returns its id; ids start at 1 and are never reused.
    pub fn register(&self, peer: SocketAddr, local: Option<SocketAddr>, now_ms: u64) -> u64 {
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
            user: redraft_core::acl::DEFAULT_USER.to_owned(),
        };
        self.by_id.lock().insert(id, info);
        id
    }

    pub fn remove(&self, id: u64) {
        self.by_id.lock().remove(&id);
    }

    pub fn len(&self) -> usize {
        self.by_id.lock().len()
    }

    /// Records the last command a client ran and whether it is inside MULTI.
    pub fn touch(&self, id: u64, command: &'static str, now_ms: u64, in_multi: bool) {
        if let Some(info) = self.by_id.lock().get_mut(&id) {
            info.last_command = command;
            info.last_command_ms = now_ms;
            info.in_multi = in_multi;
        }
    }

    pub fn set_name(&self, id: u64, name: Option<Bytes>) {
        if let Some(info) = self.by_id.lock().get_mut(&id) {
            info.name = name;
        }
    }

    pub fn set_user(&self, id: u64, user: &str) {
        if let Some(info) = self.by_id.lock().get_mut(&id) {
            user.clone_into(&mut info.user);
        }
    }

    pub fn set_protocol(&self, id: u64, protocol: Protocol) {
        if let Some(info) = self.by_id.lock().get_mut(&id) {
            info.protocol = protocol;
        }
    }

    pub fn get(&self, id: u64) -> Option<ClientInfo> {
        self.by_id.lock().get(&id).cloned()
    }

    pub fn all(&self) -> Vec<(u64, ClientInfo)> {
        self.by_id.lock().iter().map(|(id, info)| (*id, info.clone())).collect()
    }
}
