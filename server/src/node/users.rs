//! The users this node enforces: the replicated ones (`redraft_core::acl`, applied through the
//! log), with `requirepass` on a default user the replicated rules never changed. RESP and HTTP
//! take them from here, again only when they change.

use std::sync::Arc;

use bytes::Bytes;
use redraft_core::acl::{Users, DEFAULT_USER};

use super::Node;

/// The users as this node enforces them: the replicated ones, with `requirepass` as the default
/// user's password whenever the replicated rules give that user none. So a rule that changes
/// the default user's keys or commands keeps it locked, as Redis's `requirepass` does; only a
/// rule that gives it a password of its own (`ACL SETUSER default resetpass >...`) replaces
/// `requirepass`, on every node alike.
pub fn effective_users(replicated: &Users, requirepass: Option<&str>) -> Users {
    let mut users = replicated.clone();
    if let Some(password) = requirepass.filter(|p| !p.is_empty()) {
        if users.get(DEFAULT_USER).is_some_and(|user| user.passwords.is_empty()) {
            let rules = [Bytes::from_static(b"resetpass"), Bytes::from(format!(">{password}"))];
            users.set_user(DEFAULT_USER.as_bytes(), &rules).expect("password rules always apply");
        }
    }
    users
}

/// The effective users, taken again only when the replicated ones change.
pub(crate) struct UsersCache {
    requirepass: Option<String>,
    cached: parking_lot::Mutex<(u64, Arc<Users>)>,
}

impl UsersCache {
    pub fn new(requirepass: Option<String>) -> UsersCache {
        UsersCache { requirepass, cached: parking_lot::Mutex::new((u64::MAX, Arc::new(Users::default()))) }
    }

    /// The users version of `state` and the users this node enforces at that version.
    pub fn get(&self, state: &redraft_core::StateMachine) -> (u64, Arc<Users>) {
        let version = state.users_version();
        let mut cached = self.cached.lock();
        if cached.0 != version {
            let users = effective_users(&state.users(), self.requirepass.as_deref());
            *cached = (version, Arc::new(users));
        }
        cached.clone()
    }
}

impl Node {
    /// The users this node enforces, and their version ([`Node::users_version`]).
    pub fn users(&self) -> (u64, Arc<Users>) {
        self.users.get(&self.state)
    }

    /// A number that changes whenever the users do.
    pub fn users_version(&self) -> u64 {
        self.state.users_version()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// requirepass locks the default user of a new server; once the replicated rules changed
    /// the default user, they alone decide.
    #[test]
    fn requirepass_applies_until_the_default_user_is_set_by_rule() {
        let fresh = Users::default();
        let users = effective_users(&fresh, Some("s3cret"));
        assert!(users.authenticate(b"default", b"s3cret").is_some());
        assert!(users.authenticate(b"default", b"other").is_none());
        assert_eq!(effective_users(&fresh, None), fresh);

        let mut replicated = Users::default();
        replicated
            .set_user(b"default", &[Bytes::from_static(b"resetpass"), Bytes::from_static(b">ruled")])
            .unwrap();
        let users = effective_users(&replicated, Some("s3cret"));
        assert!(users.authenticate(b"default", b"ruled").is_some());
        assert!(users.authenticate(b"default", b"s3cret").is_none());
    }
}
