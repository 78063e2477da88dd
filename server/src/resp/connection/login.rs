//! A connection's logins: AUTH, and HELLO's AUTH option, which runs before the rest of HELLO.

use bytes::Bytes;
use redraft_net::resp::Frame;

use super::{arity_error, Connection};
use crate::resp::acl_log::Reason;
use crate::resp::auth::{Auth, WRONGPASS};

impl Connection {
    /// AUTH [username] password.
    pub(super) fn authenticate(&mut self, args: &[Bytes]) -> Frame {
        let (name, password) = match args {
            [_, password] => {
                if Auth::default_needs_no_password(&self.server) {
                    return Frame::Error(
                        "ERR AUTH <password> called without any password configured for the default user. Are you \
                         sure your configuration is correct?"
                            .into(),
                    );
                }
                (&b"default"[..], password)
            }
            [_, name, password] => (&name[..], password),
            [_] => return arity_error("auth"),
            _ => return Frame::Error("ERR syntax error".into()),
        };
        self.login(name, password)
    }

    /// Runs as `name` from now on if `password` opens it; WRONGPASS (logged) otherwise.
    fn login(&mut self, name: &[u8], password: &[u8]) -> Frame {
        if self.auth.login(&self.server, name, password) {
            self.server.clients.set_user(self.id, self.auth.user_name());
            Frame::simple("OK")
        } else {
            let username = String::from_utf8_lossy(name).into_owned();
            self.log_refusal(Reason::Auth, "AUTH", username, self.transaction.is_open());
            Frame::Error(WRONGPASS.into())
        }
    }

    /// HELLO's AUTH option, taken before the rest of HELLO runs: `Some(error)` when the
    /// credentials are wrong, or when there are none and the connection is not authenticated.
    pub(super) fn hello_auth(&mut self, args: &[Bytes]) -> Option<Frame> {
        let mut at = 2;
        let mut credentials = None;
        while at < args.len() {
            if args[at].eq_ignore_ascii_case(b"AUTH") && at + 2 < args.len() {
                credentials = Some((args[at + 1].clone(), args[at + 2].clone()));
                at += 3;
            } else if args[at].eq_ignore_ascii_case(b"SETNAME") {
                at += 2;
            } else {
                break;
            }
        }
        if let Some((name, password)) = credentials {
            let reply = self.login(&name, &password);
            if matches!(reply, Frame::Error(_)) {
                return Some(reply);
            }
        }
        (!self.auth.authenticated()).then(|| {
            Frame::Error(
                "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH \
                 <user> <pass> option can be used to authenticate the client and select the RESP protocol \
                 version at the same time"
                    .into(),
            )
        })
    }
}
