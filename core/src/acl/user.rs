//! One ACL user: whether it is on, its password hashes, the keys and channels it may name, and
//! the commands it may run; what `ACL SETUSER` rules do to it, and how `ACL LIST` describes it.
//!
//! As in Redis 7.0, a user's commands are a set (one bit per [`ACL_COMMANDS`] entry, plus one
//! for commands that do not exist yet, which `+@all` grants), and the rules that describe it are
//! rebuilt from that set: the categories that fit best, then single commands
//! ([`User::command_rules`]). Selectors (`(...)`) and first-argument rules (`+select|0`) are not
//! supported; they are refused with an error rather than accepted and ignored.

use std::collections::BTreeSet;

use sha2::{Digest, Sha256};

use super::category::{named, Category, ACL_COMMANDS, CATEGORIES, CONTAINERS};
use crate::glob;

/// Which operations a key pattern permits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyAccess {
    pub read: bool,
    pub write: bool,
}

impl KeyAccess {
    pub const NONE: KeyAccess = KeyAccess { read: false, write: false };
    pub const READ: KeyAccess = KeyAccess { read: true, write: false };
    pub const WRITE: KeyAccess = KeyAccess { read: false, write: true };
    pub const READ_WRITE: KeyAccess = KeyAccess { read: true, write: true };

    /// Whether a pattern granting `self` covers what `needed` asks.
    fn covers(self, needed: KeyAccess) -> bool {
        (self.read || !needed.read) && (self.write || !needed.write)
    }
}

/// A key pattern and what it permits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyPattern {
    pub pattern: Vec<u8>,
    pub access: KeyAccess,
}

/// One user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub enabled: bool,
    pub nopass: bool,
    /// `None` for neither flag given: `ACL LIST` then shows neither.
    pub sanitize_payload: Option<bool>,
    /// SHA-256 hashes, in lower-case hex, in the order they were added.
    pub passwords: Vec<String>,
    /// Every key, as `~*` or `allkeys` grant.
    pub all_keys: bool,
    pub keys: Vec<KeyPattern>,
    pub all_channels: bool,
    pub channels: Vec<Vec<u8>>,
    /// Bit `i` for [`ACL_COMMANDS`]`[i]`.
    allowed: Vec<bool>,
    /// Commands that do not exist in this table yet: granted by `+@all` (or `allcommands`),
    /// taken by `-@all`, untouched by rules on single commands or categories (as in Redis).
    future: bool,
}

/// Why a rule was refused: the text after `Error in ACL SETUSER modifier '...': `.
pub type RuleError = &'static str;

const SYNTAX: RuleError = "Syntax error";
const UNKNOWN: RuleError = "Unknown command or category name in ACL";
const BAD_HASH: RuleError =
    "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters";
const NO_SUCH_PASSWORD: RuleError = "The password you are trying to remove from the user does not exist";
const AFTER_ALL_KEYS: RuleError =
    "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and \
     does not have any effect. Try 'resetkeys' to start with an empty list of patterns";
const AFTER_ALL_CHANNELS: RuleError =
    "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid \
     and does not have any effect. Try 'resetchannels' to start with an empty list of channels";
const NO_SELECTORS: RuleError = "Selectors are not supported by redraft";
const NO_FIRST_ARGS: RuleError = "Rules on a command's first argument are not supported by redraft";

/// The SHA-256 of a password in lower-case hex, as Redis stores it.
pub fn hash_password(password: &[u8]) -> String {
    Sha256::digest(password).iter().map(|b| format!("{b:02x}")).collect()
}

impl User {
    /// A new user as `ACL SETUSER name` makes it: off, no passwords, no keys, no channels, no
    /// commands.
    pub fn new(name: &str) -> User {
        User {
            name: name.to_owned(),
            enabled: false,
            nopass: false,
            sanitize_payload: None,
            passwords: Vec::new(),
            all_keys: false,
            keys: Vec::new(),
            all_channels: false,
            channels: Vec::new(),
            allowed: vec![false; ACL_COMMANDS.len()],
            future: false,
        }
    }

    /// The `default` user of a new server: on, no password, every key, channel and command.
    pub fn default_user() -> User {
        let mut user = User::new("default");
        for rule in ["on", "nopass", "~*", "&*", "+@all"] {
            user.apply(rule.as_bytes()).expect("the default user's rules are valid");
        }
        user
    }

    /// Applies one `ACL SETUSER` rule.
    ///
    /// # Errors
    /// Redis's reason, as a [`RuleError`].
    pub fn apply(&mut self, rule: &[u8]) -> Result<(), RuleError> {
        let lower = rule.to_ascii_lowercase();
        match lower.as_slice() {
            b"on" => self.enabled = true,
            b"off" => self.enabled = false,
            b"nopass" => {
                self.nopass = true;
                self.passwords.clear();
            }
            b"resetpass" => {
                self.nopass = false;
                self.passwords.clear();
            }
            b"skip-sanitize-payload" => self.sanitize_payload = Some(false),
            b"sanitize-payload" => self.sanitize_payload = Some(true),
            b"allkeys" => self.allow_all_keys(),
            b"resetkeys" => {
                self.all_keys = false;
                self.keys.clear();
            }
            b"allchannels" => self.allow_all_channels(),
            b"resetchannels" => {
                self.all_channels = false;
                self.channels.clear();
            }
            b"allcommands" => self.set_all(true),
            b"nocommands" => self.set_all(false),
            b"reset" => {
                for rule in ["resetpass", "resetkeys", "resetchannels", "off", "-@all", "sanitize-payload"] {
                    self.apply(rule.as_bytes())?;
                }
            }
            b"clearselectors" => {}
            _ => return self.apply_prefixed(rule),
        }
        Ok(())
    }

    fn apply_prefixed(&mut self, rule: &[u8]) -> Result<(), RuleError> {
        let (&first, rest) = rule.split_first().ok_or(SYNTAX)?;
        match first {
            b'>' => {
                self.add_password(hash_password(rest));
            }
            b'<' => self.remove_password(&hash_password(rest))?,
            b'#' => self.add_password(valid_hash(rest)?),
            b'!' => self.remove_password(&valid_hash(rest)?)?,
            b'~' | b'%' => self.add_key_pattern(rule)?,
            b'&' => {
                if self.all_channels {
                    return Err(AFTER_ALL_CHANNELS);
                }
                if rest == b"*" {
                    self.allow_all_channels();
                } else if !self.channels.iter().any(|c| c == rest) {
                    self.channels.push(rest.to_vec());
                }
            }
            b'+' | b'-' => self.apply_command_rule(first == b'+', rest)?,
            b'(' => return Err(NO_SELECTORS),
            _ => return Err(SYNTAX),
        }
        Ok(())
    }

    fn add_password(&mut self, hash: String) {
        self.nopass = false;
        if !self.passwords.contains(&hash) {
            self.passwords.push(hash);
        }
    }

    fn remove_password(&mut self, hash: &str) -> Result<(), RuleError> {
        let at = self.passwords.iter().position(|p| p == hash).ok_or(NO_SUCH_PASSWORD)?;
        self.passwords.remove(at);
        Ok(())
    }

    fn add_key_pattern(&mut self, rule: &[u8]) -> Result<(), RuleError> {
        if self.all_keys {
            return Err(AFTER_ALL_KEYS);
        }
        let (access, pattern) = if let Some(pattern) = rule.strip_prefix(b"~") {
            (KeyAccess::READ_WRITE, pattern)
        } else {
            // `%R~`, `%W~`, `%RW~` (in any order and case).
            let tilde = rule.iter().position(|&b| b == b'~').ok_or(SYNTAX)?;
            let mut access = KeyAccess::NONE;
            for &flag in &rule[1..tilde] {
                match flag.to_ascii_uppercase() {
                    b'R' => access.read = true,
                    b'W' => access.write = true,
                    _ => return Err(SYNTAX),
                }
            }
            if access == KeyAccess::NONE {
                return Err(SYNTAX);
            }
            (access, &rule[tilde + 1..])
        };
        if pattern == b"*" && access == KeyAccess::READ_WRITE {
            self.allow_all_keys();
            return Ok(());
        }
        match self.keys.iter_mut().find(|k| k.pattern == pattern) {
            Some(existing) => {
                existing.access.read |= access.read;
                existing.access.write |= access.write;
            }
            None => self.keys.push(KeyPattern { pattern: pattern.to_vec(), access }),
        }
        Ok(())
    }

    fn allow_all_keys(&mut self) {
        self.all_keys = true;
        self.keys.clear();
    }

    fn allow_all_channels(&mut self) {
        self.all_channels = true;
        self.channels.clear();
    }

    fn set_all(&mut self, allow: bool) {
        self.allowed.iter_mut().for_each(|bit| *bit = allow);
        self.future = allow;
    }

    fn apply_command_rule(&mut self, allow: bool, name: &[u8]) -> Result<(), RuleError> {
        if let Some(category) = name.strip_prefix(b"@") {
            if category.eq_ignore_ascii_case(b"all") {
                self.set_all(allow);
                return Ok(());
            }
            let category = Category::parse(category).ok_or(UNKNOWN)?;
            for (bit, command) in self.allowed.iter_mut().zip(ACL_COMMANDS) {
                if command.categories.contains(&category) {
                    *bit = allow;
                }
            }
        } else {
            let commands = named(name);
            if commands.is_empty() {
                // `+get|x` names a first argument of a command without subcommands (a container's
                // unknown subcommand is just unknown).
                let command = name.split(|&b| b == b'|').next().unwrap_or_default();
                let is_container = CONTAINERS.iter().any(|c| c.as_bytes().eq_ignore_ascii_case(command));
                let is_first_arg = !is_container && name.contains(&b'|') && !named(command).is_empty();
                return Err(if is_first_arg && allow { NO_FIRST_ARGS } else { UNKNOWN });
            }
            for command in commands {
                self.allowed[command] = allow;
            }
        }
        Ok(())
    }

    /// Whether the user may run [`ACL_COMMANDS`]`[command]`.
    pub fn may_run(&self, command: usize) -> bool {
        self.allowed.get(command).copied().unwrap_or(false)
    }

    /// Whether the user may touch `key` as `needed` asks: some pattern matching it grants it.
    /// A key a command touches without reading or writing its value (EXISTS, TYPE) needs only
    /// a matching pattern.
    pub fn may_touch(&self, key: &[u8], needed: KeyAccess) -> bool {
        self.all_keys || self.keys.iter().any(|k| k.access.covers(needed) && glob::matches(&k.pattern, key))
    }

    /// Whether `password` opens this user (any password when it has `nopass`).
    pub fn accepts(&self, password: &[u8]) -> bool {
        if self.nopass {
            return true;
        }
        let given = hash_password(password);
        // Every hash is compared whole, so the time taken says nothing about which matched.
        self.passwords
            .iter()
            .fold(false, |found, hash| found | constant_time_eq(hash.as_bytes(), given.as_bytes()))
    }

    /// The user's flags as `ACL GETUSER` lists them.
    pub fn flags(&self) -> Vec<&'static str> {
        let mut flags = vec![if self.enabled { "on" } else { "off" }];
        if self.nopass {
            flags.push("nopass");
        }
        match self.sanitize_payload {
            Some(true) => flags.push("sanitize-payload"),
            Some(false) => flags.push("skip-sanitize-payload"),
            None => {}
        }
        flags
    }

    /// The key patterns as rules: `~*`, or each pattern (`~p`, `%R~p`, `%W~p`), or nothing.
    pub fn key_rules(&self) -> String {
        if self.all_keys {
            return "~*".to_owned();
        }
        let rules: Vec<String> = self
            .keys
            .iter()
            .map(|k| {
                let prefix = match (k.access.read, k.access.write) {
                    (true, true) => "~",
                    (true, false) => "%R~",
                    _ => "%W~",
                };
                format!("{prefix}{}", String::from_utf8_lossy(&k.pattern))
            })
            .collect();
        rules.join(" ")
    }

    /// The channel patterns as `ACL GETUSER` shows them: `&*`, or each `&pattern`.
    pub fn channel_patterns(&self) -> String {
        if self.all_channels {
            return "&*".to_owned();
        }
        let rules: Vec<String> =
            self.channels.iter().map(|c| format!("&{}", String::from_utf8_lossy(c))).collect();
        rules.join(" ")
    }

    /// The command rules that rebuild this user's commands, as Redis 7.0 writes them: `+@all` or
    /// `-@all` first (whether commands yet unknown are allowed), then the categories that fit
    /// best, one at a time, then the single commands that still differ.
    pub fn command_rules(&self) -> String {
        let additive = !self.future;
        let mut rules = vec![if additive { "-@all".to_owned() } else { "+@all".to_owned() }];
        // `rebuilt` is what the rules so far give; `left` starts as the user's commands, and each
        // category chosen is undone in it, so that commands already explained count against
        // the categories that would explain them again.
        let mut rebuilt = vec![!additive; ACL_COMMANDS.len()];
        let mut left = self.allowed.clone();
        let mut applied: BTreeSet<Category> = BTreeSet::new();
        loop {
            let mut best: Option<(Category, usize, usize)> = None;
            for category in CATEGORIES {
                if applied.contains(&category) {
                    continue;
                }
                let (mut on, mut off) = (0, 0);
                for (i, command) in ACL_COMMANDS.iter().enumerate() {
                    if command.categories.contains(&category) {
                        if left[i] {
                            on += 1;
                        } else {
                            off += 1;
                        }
                    }
                }
                let (same, diff) = if additive { (on, off) } else { (off, on) };
                let better = match best {
                    None => true,
                    Some((_, best_diff, best_same)) => {
                        diff < best_diff || (diff == best_diff && same > best_same)
                    }
                };
                if same > diff && better {
                    best = Some((category, diff, same));
                }
            }
            let Some((category, _, _)) = best else { break };
            applied.insert(category);
            for (i, command) in ACL_COMMANDS.iter().enumerate() {
                if command.categories.contains(&category) {
                    rebuilt[i] = additive;
                    left[i] = !additive;
                }
            }
            rules.push(format!("{}@{}", if additive { '+' } else { '-' }, category.as_str()));
        }
        for (i, command) in ACL_COMMANDS.iter().enumerate() {
            if rebuilt[i] != self.allowed[i] {
                rules.push(format!("{}{}", if self.allowed[i] { '+' } else { '-' }, command.name));
            }
        }
        rules.join(" ")
    }

    /// The user as one `ACL LIST` line, which `ACL SETUSER` (and a users file) reads back.
    pub fn describe(&self) -> String {
        let mut parts = vec![format!("user {}", self.name)];
        parts.extend(self.flags().iter().map(|f| (*f).to_owned()));
        parts.extend(self.passwords.iter().map(|hash| format!("#{hash}")));
        let keys = self.key_rules();
        if !keys.is_empty() {
            parts.push(keys);
        }
        if self.all_channels {
            parts.push("&*".to_owned());
        } else {
            parts.push("resetchannels".to_owned());
            parts.extend(self.channels.iter().map(|c| format!("&{}", String::from_utf8_lossy(c))));
        }
        parts.push(self.command_rules());
        parts.join(" ")
    }
}

fn valid_hash(hash: &[u8]) -> Result<String, RuleError> {
    let valid = hash.len() == 64 && hash.iter().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b));
    if valid {
        Ok(String::from_utf8(hash.to_vec()).expect("ASCII"))
    } else {
        Err(BAD_HASH)
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}
