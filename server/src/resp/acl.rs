//! The ACL command, as Redis 7 answers it. SETUSER and DELUSER change the replicated users, so
//! they go through the log like any write (checked first against the users as they are, so a
//! rule that cannot apply is refused without being proposed); the rest read the users this node
//! enforces, or its ACL LOG. The users file of Redis (ACL SAVE and LOAD) has no place here: the
//! users live in the log and in snapshots.

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
        (b"SAVE" | b"LOAD", 2) => Frame::Error(
            "ERR redraft keeps its users in the replicated log and its snapshots, not in an ACL file".into(),
        ),
        (b"HELP", 2) => Frame::Array(HELP.iter().map(|line| Frame::simple(line)).collect()),
        _ => Frame::Error(format!(
            "ERR unknown subcommand '{}'. Try ACL HELP.",
            String::from_utf8_lossy(subcommand)
        )),
    }
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
