//! Who a connection runs as, and whether it may run each request: Redis 7's AUTH, `HELLO ...
//! AUTH`, NOAUTH and NOPERM over the replicated users (`redraft_core::acl`).
//!
//! A connection starts as the `default` user, authenticated if that user is on and needs no
//! password (the users, with `requirepass`, are the node's: `node/users.rs`). The users a
//! connection checks against are taken again whenever they change, so a rule takes effect on
//! open connections at once; a connection whose user was deleted is closed, as Redis does.

use bytes::Bytes;
use redraft_core::acl::category::{of_request, ACL_COMMANDS};
use redraft_core::acl::{self, Denied, KeyAccess, User, DEFAULT_USER};
use redraft_core::Command;

use super::server::RespServer;

/// Redis's reply to a wrong user name or password, or a disabled user.
pub const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";
/// Redis's reply to a request before authentication.
pub const NOAUTH: &str = "NOAUTH Authentication required.";

/// One connection's user.
pub(super) struct Auth {
    name: String,
    authenticated: bool,
    /// The users version last looked at, and the user as it was then (`None`: deleted).
    seen: u64,
    user: Option<User>,
    /// The user may run every command on every key: checks are skipped.
    unrestricted: bool,
}

/// What a check found.
pub(super) enum Verdict {
    Allowed,
    Denied(Denied),
    /// The connection's user was deleted: close the connection.
    UserGone,
}

impl Auth {
    /// A new connection's state: the default user, authenticated if it needs no password.
    pub fn new(server: &RespServer) -> Auth {
        let (version, users) = server.users();
        let mut auth = Auth {
            name: DEFAULT_USER.to_owned(),
            authenticated: false,
            seen: version,
            user: None,
            unrestricted: false,
        };
        auth.take(users.get(DEFAULT_USER).cloned());
        auth.authenticated = auth.user.as_ref().is_some_and(|u| u.enabled && u.nopass);
        auth
    }

    fn take(&mut self, user: Option<User>) {
        self.unrestricted =
            user.as_ref().is_some_and(|u| u.all_keys && (0..ACL_COMMANDS.len()).all(|i| u.may_run(i)));
        self.user = user;
    }

    /// Takes the users again if they changed since last looked at.
    fn refresh(&mut self, server: &RespServer) {
        if server.users_version() == self.seen {
            return;
        }
        let (version, users) = server.users();
        self.seen = version;
        self.take(users.get(&self.name).cloned());
    }

    pub fn authenticated(&self) -> bool {
        self.authenticated
    }

    pub fn user_name(&self) -> &str {
        &self.name
    }

    /// AUTH: runs as `name` from now on if `password` opens it; otherwise stays as it was.
    pub fn login(&mut self, server: &RespServer, name: &[u8], password: &[u8]) -> bool {
        let (version, users) = server.users();
        match users.authenticate(name, password) {
            Some(user) => {
                self.name = user.name.clone();
                self.seen = version;
                self.take(Some(user.clone()));
                self.authenticated = true;
                true
            }
            None => false,
        }
    }

    /// RESET: back to the default user, authenticated only if it needs no password.
    pub fn reset(&mut self, server: &RespServer) {
        *self = Auth::new(server);
    }

    /// Whether the default user needs no password (so AUTH with one argument is a mistake).
    pub fn default_needs_no_password(server: &RespServer) -> bool {
        server.users().1.get(DEFAULT_USER).is_some_and(|u| u.nopass)
    }

    /// Whether the user may run this request: its command (by subcommand for a container) and,
    /// for a data command (`parse` gives it, called only for a user with limits), each key with
    /// the access it needs; for WATCH, each key.
    pub fn check(
        &mut self,
        server: &RespServer,
        args: &[Bytes],
        parse: impl FnOnce() -> Option<Command>,
    ) -> Verdict {
        self.refresh(server);
        let Some(user) = &self.user else { return Verdict::UserGone };
        if self.unrestricted {
            return Verdict::Allowed;
        }
        let Some(index) = of_request(args) else { return Verdict::Allowed };
        let command = parse();
        let keys: Vec<(&Bytes, KeyAccess)> = match &command {
            Some(command) => acl::key_access(command),
            None if args[0].eq_ignore_ascii_case(b"WATCH") => {
                args[1..].iter().map(|k| (k, KeyAccess::NONE)).collect()
            }
            None => Vec::new(),
        };
        match acl::check(user, index, keys) {
            Ok(()) => Verdict::Allowed,
            Err(denied) => Verdict::Denied(denied),
        }
    }
}
