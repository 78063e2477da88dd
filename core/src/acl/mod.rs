//! Users and what each may do, with Redis 7's ACL rules and error texts (DESIGN.md §8). The
//! table of users is replicated state: `ACL SETUSER` and `ACL DELUSER` go through the log, the
//! users go into snapshots (as the rules that rebuild them), and every node checks the same
//! rules. Authenticating a connection and checking each of its requests is the server's.
//!
//! - [`category`]: the categories and the commands rules name;
//! - [`user`]: one user, what a rule does to it, and its description.

pub mod category;
pub mod user;

use std::collections::BTreeMap;

use bytes::Bytes;

pub use self::category::Category;
use self::category::ACL_COMMANDS;
pub use self::user::{hash_password, KeyAccess, User};
use crate::command::Command;
use crate::types::hash_commands::HashCommand;
use crate::types::list_commands::ListCommand;
use crate::types::set_commands::SetsCommand;
use crate::types::zset_commands::ZSetCommand;

/// The name of the user every connection starts as.
pub const DEFAULT_USER: &str = "default";

/// Every user, by name. The `default` user always exists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Users {
    users: BTreeMap<String, User>,
}

impl Default for Users {
    fn default() -> Users {
        Users { users: BTreeMap::from([(DEFAULT_USER.to_owned(), User::default_user())]) }
    }
}

/// Why a request is refused, with Redis 7.0's texts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Denied {
    /// The user may not run the command (named as ACL rules name it, `config|set`).
    Command(&'static str),
    /// The user may not touch this key as the command would.
    Key(Bytes),
}

impl Denied {
    /// The error reply.
    pub fn reply_text(&self) -> String {
        match self {
            Denied::Command(name) => {
                format!("NOPERM this user has no permissions to run the '{name}' command")
            }
            Denied::Key(_) => {
                "NOPERM this user has no permissions to access one of the keys used as arguments".into()
            }
        }
    }
}

impl Users {
    /// The user named `name`.
    pub fn get(&self, name: &str) -> Option<&User> {
        self.users.get(name)
    }

    /// `ACL SETUSER name rule...`: creates the user if it does not exist, then applies the rules
    /// in order. Either every rule applies or none does.
    ///
    /// # Errors
    /// Redis's error text, naming the rule refused.
    pub fn set_user(&mut self, name: &[u8], rules: &[Bytes]) -> Result<(), String> {
        let name = valid_name(name)?;
        let mut user = self.users.get(&name).cloned().unwrap_or_else(|| User::new(&name));
        for rule in rules {
            user.apply(rule).map_err(|why| {
                format!("ERR Error in ACL SETUSER modifier '{}': {why}", String::from_utf8_lossy(rule))
            })?;
        }
        self.users.insert(name, user);
        Ok(())
    }

    /// `ACL DELUSER name...`: removes the users named; returns how many existed.
    ///
    /// # Errors
    /// Redis's error when `default` is named (then nothing is removed).
    pub fn del_users(&mut self, names: &[Bytes]) -> Result<usize, String> {
        if names.iter().any(|n| n.as_ref() == DEFAULT_USER.as_bytes()) {
            return Err("ERR The 'default' user cannot be removed".into());
        }
        Ok(names.iter().filter(|n| self.users.remove(&*String::from_utf8_lossy(n)).is_some()).count())
    }

    /// The user that `name` and `password` open: it exists, is on, and takes the password.
    pub fn authenticate(&self, name: &[u8], password: &[u8]) -> Option<&User> {
        let user = self.users.get(&*String::from_utf8_lossy(name))?;
        (user.enabled && user.accepts(password)).then_some(user)
    }

    /// Every user, by name.
    pub fn iter(&self) -> impl Iterator<Item = &User> {
        self.users.values()
    }

    /// `ACL LIST`: one line per user, by name.
    pub fn list(&self) -> Vec<String> {
        self.users.values().map(User::describe).collect()
    }

    /// The users as rules that rebuild them ([`Users::from_rules`]): each user's `ACL LIST` line
    /// without its leading `user name`. Snapshots carry users this way, so that a command added
    /// to a category later does not change what a stored user means.
    pub fn to_rules(&self) -> Vec<(String, String)> {
        self.users
            .values()
            .map(|user| {
                let line = user.describe();
                let rules = line.splitn(3, ' ').nth(2).unwrap_or_default().to_owned();
                (user.name.clone(), rules)
            })
            .collect()
    }

    /// The users that [`Users::to_rules`] described. The `default` user is as described if it is
    /// there, as new otherwise.
    ///
    /// # Errors
    /// A rule that does not apply (the description came from another version).
    pub fn from_rules(described: &[(String, String)]) -> Result<Users, String> {
        let mut users = Users::default();
        for (name, rules) in described {
            users.users.remove(name);
            let rules: Vec<Bytes> = rules
                .split(' ')
                .filter(|r| !r.is_empty())
                .map(|r| Bytes::copy_from_slice(r.as_bytes()))
                .collect();
            users.set_user(name.as_bytes(), &rules)?;
        }
        Ok(users)
    }
}

fn valid_name(name: &[u8]) -> Result<String, String> {
    if name.iter().any(|b| b.is_ascii_whitespace() || *b == 0) {
        return Err("ERR Usernames can't contain spaces or null characters".into());
    }
    Ok(String::from_utf8_lossy(name).into_owned())
}

/// Checks that `user` may run [`ACL_COMMANDS`]`[command]` on the keys `keys` names, each with the
/// access the command needs ([`key_access`]).
///
/// # Errors
/// What is denied, the command first.
pub fn check<'a>(
    user: &User,
    command: usize,
    keys: impl IntoIterator<Item = (&'a Bytes, KeyAccess)>,
) -> Result<(), Denied> {
    if !user.may_run(command) {
        return Err(Denied::Command(ACL_COMMANDS.get(command).map_or("?", |c| c.name)));
    }
    for (key, needed) in keys {
        if !user.may_touch(key, needed) {
            return Err(Denied::Key(key.clone()));
        }
    }
    Ok(())
}

/// The keys a data command names, each with the access it needs, as Redis 7's key specs say:
/// reading the value needs read permission, changing it write permission (both for a command
/// that does both, as INCR or GETDEL), and a command that looks at a key without its value
/// (EXISTS, TYPE, STRLEN) needs only a pattern that matches it.
pub fn key_access(command: &Command) -> Vec<(&Bytes, KeyAccess)> {
    use KeyAccess as A;
    match command {
        Command::Get { key }
        | Command::GetRange { key, .. }
        | Command::Ttl { key, .. }
        | Command::ExpireTime { key, .. } => {
            vec![(key, A::READ)]
        }
        Command::Set(set) => vec![(&set.key, if set.get { A::READ_WRITE } else { A::WRITE })],
        Command::SetNx { key, .. }
        | Command::Append { key, .. }
        | Command::SetRange { key, .. }
        | Command::Expire { key, .. }
        | Command::Persist { key } => vec![(key, A::WRITE)],
        Command::GetDel { key }
        | Command::GetEx { key, .. }
        | Command::IncrBy { key, .. }
        | Command::IncrByFloat { key, .. } => {
            vec![(key, A::READ_WRITE)]
        }
        Command::StrLen { key } | Command::Type { key } => vec![(key, A::NONE)],
        Command::Touch { keys } => keys.iter().map(|k| (k, A::NONE)).collect(),
        Command::Bits(bits) => {
            use crate::types::bitmap::BitCommand as B;
            match bits {
                B::SetBit { key, .. } => vec![(key, A::READ_WRITE)],
                B::Field { name: crate::command::CommandName::BitFieldRo, key, .. } => vec![(key, A::READ)],
                B::Field { key, .. } => vec![(key, A::READ_WRITE)],
                B::GetBit { key, .. } | B::Count { key, .. } | B::Pos { key, .. } => vec![(key, A::READ)],
                B::Op { destination, keys, .. } => std::iter::once((destination, A::WRITE))
                    .chain(keys.iter().map(|k| (k, A::READ)))
                    .collect(),
            }
        }
        Command::Inspect(inspect) => {
            let access = if inspect.name() == crate::command::CommandName::Lcs { A::READ } else { A::NONE };
            let mut keys = Vec::new();
            inspect.for_each_key(|key| keys.push((key, access)));
            keys
        }
        Command::MGet { keys } => keys.iter().map(|k| (k, A::READ)).collect(),
        Command::Exists { keys } => keys.iter().map(|k| (k, A::NONE)).collect(),
        Command::Del { keys, .. } => keys.iter().map(|k| (k, A::WRITE)).collect(),
        Command::MSet { pairs } | Command::MSetNx { pairs } => {
            pairs.iter().map(|(k, _)| (k, A::WRITE)).collect()
        }
        Command::Rename { from, to, .. } => vec![(from, A::READ_WRITE), (to, A::WRITE)],
        Command::Copy { from, to, .. } => vec![(from, A::READ), (to, A::WRITE)],
        Command::Keys { .. }
        | Command::Scan { .. }
        | Command::DbSize
        | Command::FlushAll { .. }
        | Command::RandomKey { .. }
        | Command::Publish { .. } => Vec::new(),
        Command::Hash(hash) => {
            use HashCommand as H;
            let access = match hash {
                H::Get { .. } | H::MGet { .. } | H::GetAll { .. } | H::Scan { .. } | H::RandField { .. } => {
                    A::READ
                }
                H::Exists { .. } | H::Len { .. } | H::StrLen { .. } => A::NONE,
                H::Set { .. } | H::SetNx { .. } | H::Del { .. } => A::WRITE,
                H::IncrBy { .. } | H::IncrByFloat { .. } => A::READ_WRITE,
            };
            vec![(hash.key(), access)]
        }
        Command::List(ListCommand::Move { from, to, .. }) => vec![(from, A::READ_WRITE), (to, A::WRITE)],
        Command::List(ListCommand::BlockingPop { keys, to, .. }) => {
            keys.iter().map(|k| (k, A::READ_WRITE)).chain(to.iter().map(|k| (k, A::WRITE))).collect()
        }
        Command::List(list) => {
            use ListCommand as L;
            let access = match list {
                L::Len { .. } => A::NONE,
                L::Range { .. } | L::Index { .. } | L::Pos { .. } => A::READ,
                L::Pop { .. } | L::Move { .. } | L::BlockingPop { .. } => A::READ_WRITE,
                L::Push { .. } | L::Set { .. } | L::Insert { .. } | L::Rem { .. } | L::Trim { .. } => {
                    A::WRITE
                }
            };
            let mut keys = Vec::new();
            list.for_each_key(|key| keys.push((key, access)));
            keys
        }
        Command::ZSet(zset) => {
            use ZSetCommand as Z;
            let access = match zset.as_ref() {
                Z::Card { .. } | Z::Count { .. } | Z::LexCount { .. } | Z::Rank { .. } => A::NONE,
                Z::Score { .. } | Z::MScore { .. } | Z::Scan { .. } | Z::RandMember { .. } => A::READ,
                Z::Range { destination: None, .. } | Z::Combine { destination: None, .. } => A::READ,
                Z::Add { .. } | Z::Rem { .. } | Z::RemRange { .. } => A::WRITE,
                Z::IncrBy { .. } | Z::Pop { .. } | Z::BlockingPop { .. } => A::READ_WRITE,
                Z::Range { destination: Some(destination), range, .. } => {
                    return vec![(destination, A::WRITE), (&range.key, A::READ)]
                }
                Z::Combine { destination: Some(destination), keys, .. } => {
                    return std::iter::once((destination, A::WRITE))
                        .chain(keys.iter().map(|k| (k, A::READ)))
                        .collect()
                }
            };
            let mut keys = Vec::new();
            zset.for_each_key(|key| keys.push((key, access)));
            keys
        }
        Command::Sets(sets) => {
            use SetsCommand as S;
            match sets {
                S::Store { destination, keys, .. } => std::iter::once((destination, A::WRITE))
                    .chain(keys.iter().map(|k| (k, A::READ)))
                    .collect(),
                S::Move { from, to, .. } => vec![(from, A::READ_WRITE), (to, A::WRITE)],
                _ => {
                    let access = match sets {
                        S::IsMember { .. } | S::MIsMember { .. } | S::Card { .. } => A::NONE,
                        S::Add { .. } | S::Rem { .. } => A::WRITE,
                        S::Pop { .. } => A::READ_WRITE,
                        _ => A::READ,
                    };
                    let mut keys = Vec::new();
                    sets.for_each_key(|key| keys.push((key, access)));
                    keys
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
