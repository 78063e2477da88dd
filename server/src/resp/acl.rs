//! The ACL command, as Redis 7 answers it. SETUSER and DELUSER change the replicated users, so
//! they go through the log like any write (checked first against the users as they are, so a
//! rule that cannot apply is refused without being proposed); the rest read the users this node
//! enforces, or its ACL LOG. Users live in the log and in snapshots; Redis's users file
//! (`aclfile`) is where ACL SAVE writes them and ACL LOAD reads them from, to go through the log
//! like SETUSER, and what a new cluster starts with ([`bootstrap_from_acl_file`]).

use bytes::Bytes;
use redraft_core::acl::category::{of_request, ACL_COMMANDS, CATEGORIES};
use redraft_core::acl::{self, Category, User};
use redraft_core::{AclChange, Command, ParseError, Reply, Write};
use redraft_net::resp::Frame;

use super::server::RespServer;

/// `ACL subcommand ...` for a connection running as `whoami`.
pub(super) async fn run(server: &RespServer, whoami: &str, args: &[Bytes]) -> Frame {
    let Some(subcommand) = args.get(1) else {
        return Frame::Error("ERR wrong number of arguments for 'acl' command".into());
    };
    let sub = subcommand.to_ascii_uppercase();
    let arity = |name: &str| Frame::Error(format!("ERR wrong number of arguments for 'acl|{name}' command"));
    let (_, users) = server.users();
    match (sub.as_slice(), args.len()) {
        (b"SETUSER", n) if n >= 3 => {
            let (name, rules) = (args[2].clone(), args[3..].to_vec());
            let mut trial = (*server.node.state().users()).clone();
            if let Err(error) = trial.set_user(&name, &rules) {
                return Frame::Error(error);
            }
            write(server, AclChange::SetUser { name, rules }).await
        }
        (b"SETUSER", _) => arity("setuser"),
        (b"DELUSER", n) if n >= 3 => {
            let names = args[2..].to_vec();
            let mut trial = (*server.node.state().users()).clone();
            if let Err(error) = trial.del_users(&names) {
                return Frame::Error(error);
            }
            write(server, AclChange::DelUser { names }).await
        }
        (b"DELUSER", _) => arity("deluser"),
        (b"GETUSER", 3) => match users.get(&String::from_utf8_lossy(&args[2])) {
            Some(user) => describe(user),
            None => Frame::Null,
        },
        (b"GETUSER", _) => arity("getuser"),
        (b"LIST", 2) => Frame::Array(users.list().into_iter().map(Frame::text).collect()),
        (b"LIST", _) => arity("list"),
        (b"USERS", 2) => Frame::Array(users.iter().map(|u| Frame::text(u.name.clone())).collect()),
        (b"USERS", _) => arity("users"),
        (b"WHOAMI", 2) => Frame::text(whoami),
        (b"WHOAMI", _) => arity("whoami"),
        (b"CAT", 2) => Frame::Array(CATEGORIES.iter().map(|c| Frame::text(c.as_str())).collect()),
        (b"CAT", 3) => match Category::parse(&args[2]) {
            Some(category) => Frame::Array(
                ACL_COMMANDS
                    .iter()
                    .filter(|c| c.categories.contains(&category))
                    .map(|c| Frame::text(c.name))
                    .collect(),
            ),
            None => Frame::Error(format!("ERR Unknown category '{}'", String::from_utf8_lossy(&args[2]))),
        },
        (b"CAT", _) => arity("cat"),
        // Ten entries unless a count is given, as Redis.
        (b"LOG", 2) => server.acl_log.frames(Some(10), server.node.now_ms()),
        (b"LOG", 3) if args[2].eq_ignore_ascii_case(b"RESET") => {
            server.acl_log.reset();
            Frame::simple("OK")
        }
        (b"LOG", 3) => match std::str::from_utf8(&args[2]).ok().and_then(|n| n.parse::<usize>().ok()) {
            Some(count) => server.acl_log.frames(Some(count), server.node.now_ms()),
            None => Frame::Error("ERR value is out of range, must be positive".into()),
        },
        (b"LOG", _) => arity("log"),
        (b"GENPASS", 2 | 3) => genpass(args.get(2)),
        (b"GENPASS", _) => arity("genpass"),
        (b"DRYRUN", n) if n >= 4 => dry_run(&users, &args[2], &args[3..]),
        (b"DRYRUN", _) => arity("dryrun"),
        (b"SAVE" | b"LOAD", 2) => match &server.settings.aclfile {
            None => Frame::Error(NO_ACL_FILE.into()),
            Some(path) if sub.as_slice() == b"SAVE" => save_file(path, &users),
            Some(path) => load_file(server, path).await,
        },
        (b"SAVE", _) => arity("save"),
        (b"LOAD", _) => arity("load"),
        (b"HELP", 2) => Frame::Array(HELP.iter().map(|line| Frame::simple(line)).collect()),
        _ => Frame::Error(format!(
            "ERR unknown subcommand '{}'. Try ACL HELP.",
            String::from_utf8_lossy(subcommand)
        )),
    }
}

const NO_ACL_FILE: &str = "ERR This Redis instance is not configured to use an ACL file. You may want to \
    specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis \
    configuration file set) in order to store users in the Redis configuration.";

/// What the default user becomes when an ACL file does not name it: Redis's default user.
const DEFAULT_USER_RULES: &[&str] = &["on", "nopass", "~*", "&*", "+@all"];

/// Clears the default user before an ACL file's rules apply to it (it cannot be deleted and made
/// anew as the others are).
const DEFAULT_USER_CLEARED: &[&str] = &["resetpass", "resetkeys", "resetchannels", "off", "-@all"];

fn words(words: &[&str]) -> Vec<Bytes> {
    words.iter().map(|w| Bytes::copy_from_slice(w.as_bytes())).collect()
}

/// The rules that give user `name` exactly `rules` when applied to the users after an ACL
/// LOAD's deletions: a new user for any name but the default, which is cleared first.
fn as_loaded(name: &[u8], rules: Vec<Bytes>) -> Vec<Bytes> {
    if name == acl::DEFAULT_USER.as_bytes() {
        let mut cleared = words(DEFAULT_USER_CLEARED);
        cleared.extend(rules);
        cleared
    } else {
        rules
    }
}

/// ACL SAVE: the users as ACL LIST describes them, one `user` line each, written whole.
fn save_file(path: &std::path::Path, users: &acl::Users) -> Frame {
    let mut text = users.list().join("\n");
    text.push('\n');
    let partial = path.with_extension("partial");
    match std::fs::write(&partial, text).and_then(|()| std::fs::rename(&partial, path)) {
        Ok(()) => Frame::simple("OK"),
        Err(error) => Frame::Error(format!("ERR There was an error trying to save the ACLs. Please check the server logs for more information ({error})")),
    }
}

/// The users of an ACL file, checked whole as Redis checks one: every line `user NAME RULE...`,
/// every rule valid; the first error names the file and line.
fn parse_acl_file(path: &std::path::Path, text: &str) -> Result<Vec<(Bytes, Vec<Bytes>)>, String> {
    let warning = "WARNING: ACL errors detected, no change to the previously active ACL rules was performed";
    let mut trial = acl::Users::default();
    let mut users = Vec::new();
    for (number, line) in text.lines().enumerate().map(|(n, line)| (n + 1, line.trim())) {
        if line.is_empty() {
            continue;
        }
        let mut words = line.split_ascii_whitespace();
        let (Some("user"), Some(name)) = (words.next(), words.next()) else {
            return Err(format!(
                "ERR {}:{number} should start with user keyword followed by the username. {warning}",
                path.display()
            ));
        };
        let rules = as_loaded(name.as_bytes(), words.map(|w| Bytes::copy_from_slice(w.as_bytes())).collect());
        if let Err(error) = trial.set_user(name.as_bytes(), &rules) {
            let error = error.strip_prefix("ERR ").unwrap_or(&error);
            return Err(format!("ERR {}:{number}: {error}. {warning}", path.display()));
        }
        users.push((Bytes::copy_from_slice(name.as_bytes()), rules));
    }
    Ok(users)
}

/// ACL LOAD: the file's users replace every user, through the log: every user but the default
/// is deleted (their connections close), then each of the file's is made, one entry each; the
/// default user is cleared and given the file's rules, or Redis's default ones if the file does
/// not name it. Nothing is proposed unless the whole file is valid.
async fn load_file(server: &RespServer, path: &std::path::Path) -> Frame {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) => {
            return Frame::Error(format!(
                "ERR Error loading ACLs, opening file '{}': {error}",
                path.display()
            ))
        }
    };
    let mut users = match parse_acl_file(path, &text) {
        Ok(users) => users,
        Err(error) => return Frame::Error(error),
    };
    if !users.iter().any(|(name, _)| name.as_ref() == acl::DEFAULT_USER.as_bytes()) {
        let default = acl::DEFAULT_USER.as_bytes();
        users.push((Bytes::copy_from_slice(default), as_loaded(default, words(DEFAULT_USER_RULES))));
    }
    let others: Vec<Bytes> = server
        .node
        .state()
        .users()
        .iter()
        .filter(|user| user.name != acl::DEFAULT_USER)
        .map(|user| Bytes::copy_from_slice(user.name.as_bytes()))
        .collect();
    if !others.is_empty() {
        let reply = write(server, AclChange::DelUser { names: others }).await;
        if matches!(reply, Frame::Error(_)) {
            return reply;
        }
    }
    for (name, rules) in users {
        let reply = write(server, AclChange::SetUser { name, rules }).await;
        if matches!(reply, Frame::Error(_)) {
            return reply;
        }
    }
    Frame::simple("OK")
}

/// A new cluster's users from the ACL file: once this node can read linearizably, if no user was
/// ever changed (users still as a new cluster has them), ACL LOAD. Every node may do it at its
/// first start; the same file gives the same users.
pub async fn bootstrap_from_acl_file(server: &RespServer) -> Option<Frame> {
    let path = server.settings.aclfile.as_ref()?;
    if !path.exists() {
        return None;
    }
    // A linearizable read: every committed change to the users is applied after it.
    let barrier = Command::parse(&[Bytes::from_static(b"EXISTS"), Bytes::from_static(b"-")]).ok()?;
    server.node.read(&barrier).await.ok()?;
    if server.node.state().users_version() != 0 {
        return None;
    }
    Some(load_file(server, path).await)
}

/// Proposes a change to the users and replies what applying it said.
async fn write(server: &RespServer, change: AclChange) -> Frame {
    match server.node.write(Write::Acl { session: None, change }).await {
        Ok(Reply::Ok) => Frame::simple("OK"),
        Ok(reply) => Frame::from(reply),
        Err(error) => Frame::Error(error.reply_text()),
    }
}

/// ACL GETUSER's reply.
fn describe(user: &User) -> Frame {
    let text = |s: &str| Frame::text(s);
    Frame::Map(vec![
        (text("flags"), Frame::Array(user.flags().into_iter().map(text).collect())),
        (text("passwords"), Frame::Array(user.passwords.iter().map(|p| text(p)).collect())),
        (text("commands"), text(&user.command_rules())),
        (text("keys"), text(&user.key_rules())),
        (text("channels"), text(&user.channel_patterns())),
        (text("selectors"), Frame::Array(Vec::new())),
    ])
}

/// ACL GENPASS [bits]: `bits` (256 by default) of the operating system's randomness, in hex.
fn genpass(bits: Option<&Bytes>) -> Frame {
    let bits = match bits.map(|b| std::str::from_utf8(b).ok().and_then(|b| b.parse::<usize>().ok())) {
        None => 256,
        Some(Some(bits)) if (1..=4096).contains(&bits) => bits,
        Some(_) => return Frame::Error(
            "ERR ACL GENPASS argument must be the number of bits for the output password, a positive number \
                 up to 4096"
                .into(),
        ),
    };
    let digits = bits.div_ceil(4);
    let mut rng = crate::fault::rng();
    let text: String =
        (0..digits).map(|_| char::from(b"0123456789abcdef"[rand::Rng::gen_range(&mut rng, 0..16)])).collect();
    Frame::text(text)
}

/// ACL DRYRUN user command arg...: whether the user could run the command, without running it.
fn dry_run(users: &acl::Users, name: &Bytes, request: &[Bytes]) -> Frame {
    let Some(user) = users.get(&String::from_utf8_lossy(name)) else {
        return Frame::Error(format!("ERR User '{}' not found", String::from_utf8_lossy(name)));
    };
    let Some(index) = of_request(request) else {
        return Frame::Error(format!("ERR Command '{}' not found", String::from_utf8_lossy(&request[0])));
    };
    let command = match Command::parse(request) {
        Ok(command) => Some(command),
        Err(ParseError::Invalid(text)) => return Frame::Error(text),
        Err(ParseError::UnknownCommand) => None,
    };
    let keys = command.as_ref().map(acl::key_access).unwrap_or_default();
    match acl::check(user, index, keys) {
        Ok(()) => Frame::simple("OK"),
        Err(acl::Denied::Command(command)) => {
            Frame::text(format!("This user has no permissions to run the '{command}' command"))
        }
        Err(acl::Denied::Key(key)) => Frame::text(format!(
            "This user has no permissions to access the '{}' key",
            String::from_utf8_lossy(&key)
        )),
    }
}

const HELP: &[&str] = &[
    "ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CAT [<category>]",
    "    List all commands that belong to <category>, or all command categories",
    "    when no category is specified.",
    "DELUSER <username> [<username> ...]",
    "    Delete a list of users.",
    "DRYRUN <username> <command> [<arg> ...]",
    "    Returns whether the user can execute the given command without executing the command.",
    "GETUSER <username>",
    "    Get the user's details.",
    "GENPASS [<bits>]",
    "    Generate a secure 256-bit user password. The optional `bits` argument can",
    "    be used to specify a different size.",
    "LIST",
    "    Show users details in config file format.",
    "LOG [<count> | RESET]",
    "    Show the ACL log entries.",
    "SETUSER <username> <attribute> [<attribute> ...]",
    "    Create or modify a user with the specified attributes.",
    "USERS",
    "    List all the registered usernames.",
    "WHOAMI",
    "    Return the current connection username.",
    "HELP",
    "    Prints this help.",
];
