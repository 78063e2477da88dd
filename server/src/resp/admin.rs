//! Connection and server commands: PING, ECHO, HELLO, SELECT, CLIENT, INFO, CONFIG and
//! COMMAND. Replies and error texts follow Redis 7, so client libraries and redis-cli that probe
//! the server at connect time (HELLO, CLIENT SETINFO, CONFIG GET save, COMMAND) work unchanged.
//!
//! COMMAND itself is in [`super::command_info`]; MULTI, WATCH, QUIT, RESET, READONLY and AUTH
//! (with HELLO's AUTH option) change the connection's own state and are in
//! [`super::connection`]; the RAFT family is in [`super::cluster`], ACL in [`super::acl`].

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use openraft::ServerState;
use redraft_core::keyspace_event::NotifyFlags;
use redraft_core::limits::PROTO_MAX_BULK_LEN_RANGE;
use redraft_core::reply::{errors, unknown_command};
use redraft_net::resp::{Frame, Protocol};

use super::clients::ClientInfo;
use super::command_info;
use super::server::RespServer;
use crate::addr::split_host_port;

/// The Redis version redraft reports, the one whose commands and replies it follows.
pub const REDIS_VERSION: &str = "7.0.0";

/// What a connection command may see and change of the connection that sent it.
pub(super) struct ClientContext<'a> {
    pub server: &'a RespServer,
    /// The client's id in the server's registry.
    pub id: u64,
    /// The connection's protocol, which HELLO may change.
    pub protocol: &'a mut Protocol,
}

/// Runs a command that is not a data command; `name` is upper case.
pub(super) fn run(connection: &mut ClientContext<'_>, name: &[u8], args: &[Bytes]) -> Frame {
    match name {
        b"PING" => match args.len() {
            1 => Frame::simple("PONG"),
            2 => Frame::Bulk(args[1].clone()),
            _ => arity("ping"),
        },
        b"ECHO" if args.len() == 2 => Frame::Bulk(args[1].clone()),
        b"ECHO" => arity("echo"),
        b"SELECT" if args.len() == 2 => {
            match std::str::from_utf8(&args[1]).ok().and_then(|s| s.parse::<i64>().ok()) {
                Some(0) => Frame::simple("OK"),
                Some(_) => Frame::Error(errors::DB_OUT_OF_RANGE.into()),
                None => Frame::Error(errors::NOT_INTEGER.into()),
            }
        }
        b"SELECT" => arity("select"),
        b"HELLO" => hello(connection, args),
        b"CLIENT" => client(connection, args),
        b"INFO" => Frame::Verbatim { format: *b"txt", text: Bytes::from(info(connection, &args[1..])) },
        b"CONFIG" => config(connection, args),
        b"COMMAND" => command_info::run(args).unwrap_or_else(|| unknown_subcommand(&args[1], "COMMAND")),
        b"TIME" if args.len() == 1 => {
            // The node's wall clock (the simulator's own clock for each node), as Redis's TIME.
            let ms = connection.server.node().now_ms();
            Frame::Array(vec![
                Frame::Bulk(Bytes::from((ms / 1000).to_string())),
                Frame::Bulk(Bytes::from((ms % 1000 * 1000).to_string())),
            ])
        }
        b"TIME" => arity("time"),
        b"FUNCTION" => match args.get(1).map(|sub| sub.to_ascii_uppercase()) {
            // redraft has no functions: flushing them all succeeds and changes nothing.
            Some(sub) if sub == b"FLUSH" => match &args[2..] {
                [] => Frame::simple("OK"),
                [mode] if mode.eq_ignore_ascii_case(b"async") || mode.eq_ignore_ascii_case(b"sync") => {
                    Frame::simple("OK")
                }
                [_] => Frame::Error(errors::SYNTAX.into()),
                _ => arity("function|flush"),
            },
            Some(_) => unknown_subcommand(&args[1], "FUNCTION"),
            None => arity("function"),
        },
        _ => Frame::Error(unknown_command(args)),
    }
}

fn arity(command: &str) -> Frame {
    Frame::Error(errors::wrong_arity(command))
}

fn lower(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).to_lowercase()
}

fn unknown_subcommand(subcommand: &[u8], command: &str) -> Frame {
    Frame::Error(format!(
        "ERR unknown subcommand '{}'. Try {command} HELP.",
        String::from_utf8_lossy(subcommand)
    ))
}

/// HELLO [protover [AUTH username password] [SETNAME clientname]].
fn hello(connection: &mut ClientContext<'_>, args: &[Bytes]) -> Frame {
    let mut protocol = *connection.protocol;
    let mut rest = &args[1..];
    if let Some(version) = rest.first() {
        protocol = match std::str::from_utf8(version).ok().and_then(|v| v.parse::<i64>().ok()) {
            Some(2) => Protocol::Resp2,
            Some(3) => Protocol::Resp3,
            Some(_) => return Frame::Error("NOPROTO sorry, this protocol version is not supported".into()),
            None => return Frame::Error("ERR Protocol version is not an integer or out of range".into()),
        };
        rest = &rest[1..];
    }
    let mut name = None;
    while let Some(option) = rest.first() {
        if option.eq_ignore_ascii_case(b"AUTH") && rest.len() >= 3 {
            // The connection has checked these credentials before HELLO runs (`connection.rs`).
            rest = &rest[3..];
        } else if option.eq_ignore_ascii_case(b"SETNAME") && rest.len() >= 2 {
            if let Err(frame) = valid_name(&rest[1]) {
                return frame;
            }
            name = Some(rest[1].clone());
            rest = &rest[2..];
        } else {
            return Frame::Error(format!(
                "ERR Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(option)
            ));
        }
    }
    *connection.protocol = protocol;
    let clients = &connection.server.clients;
    clients.set_protocol(connection.id, protocol);
    if let Some(name) = name {
        clients.set_name(connection.id, Some(name));
    }
    let role = if connection.server.node.raft().metrics().borrow().state == ServerState::Leader {
        "master"
    } else {
        "replica"
    };
    Frame::Map(vec![
        (Frame::text("server"), Frame::text("redis")),
        (Frame::text("version"), Frame::text(REDIS_VERSION)),
        (Frame::text("proto"), Frame::Integer(if protocol == Protocol::Resp3 { 3 } else { 2 })),
        (Frame::text("id"), Frame::Integer(connection.id as i64)),
        (Frame::text("mode"), Frame::text("standalone")),
        (Frame::text("role"), Frame::text(role)),
        (Frame::text("modules"), Frame::Array(Vec::new())),
    ])
}

fn valid_name(name: &[u8]) -> Result<(), Frame> {
    if name.iter().any(|&b| b <= b' ' || b > b'~') {
        return Err(Frame::Error(
            "ERR Client names cannot contain spaces, newlines or special characters.".into(),
        ));
    }
    Ok(())
}

/// CLIENT ID | SETNAME | GETNAME | INFO | LIST | SETINFO | HELP.
fn client(connection: &mut ClientContext<'_>, args: &[Bytes]) -> Frame {
    let Some(subcommand) = args.get(1) else { return arity("client") };
    let clients = &connection.server.clients;
    let now_ms = connection.server.node.now_ms();
    match subcommand.to_ascii_uppercase().as_slice() {
        b"ID" if args.len() == 2 => Frame::Integer(connection.id as i64),
        b"GETNAME" if args.len() == 2 => match clients.get(connection.id).and_then(|c| c.name) {
            Some(name) => Frame::Bulk(name),
            None => Frame::Null,
        },
        b"SETNAME" if args.len() == 3 => {
            if let Err(frame) = valid_name(&args[2]) {
                return frame;
            }
            let name = if args[2].is_empty() { None } else { Some(args[2].clone()) };
            clients.set_name(connection.id, name);
            Frame::simple("OK")
        }
        // Client libraries announce themselves (Redis 7.2); redraft accepts and ignores it.
        b"SETINFO" if args.len() == 4 => Frame::simple("OK"),
        b"INFO" if args.len() == 2 => match clients.get(connection.id) {
            Some(info) => Frame::Verbatim {
                format: *b"txt",
                text: Bytes::from(client_line(connection.id, &info, now_ms)),
            },
            None => Frame::Null,
        },
        b"LIST" if args.len() == 2 => {
            let mut text = String::new();
            for (id, info) in clients.all() {
                text.push_str(&client_line(id, &info, now_ms));
            }
            Frame::Verbatim { format: *b"txt", text: Bytes::from(text) }
        }
        b"HELP" => Frame::Array(
            [
                "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "ID",
                "    Return the ID of the current connection.",
                "GETNAME",
                "    Return the name of the current connection.",
                "SETNAME <name>",
                "    Assign the name <name> to the current connection.",
                "INFO",
                "    Return information about the current client connection.",
                "LIST",
                "    Return information about client connections.",
                "HELP",
                "    Print this help.",
            ]
            .iter()
            .map(|line| Frame::simple(line))
            .collect(),
        ),
        b"ID" | b"GETNAME" | b"SETNAME" | b"SETINFO" | b"INFO" | b"LIST" => Frame::Error(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try CLIENT HELP.",
            String::from_utf8_lossy(subcommand)
        )),
        _ => unknown_subcommand(subcommand, "CLIENT"),
    }
}

/// One client as CLIENT LIST shows it (and ACL LOG's `client-info`), newline included.
pub(super) fn client_line(id: u64, info: &ClientInfo, now_ms: u64) -> String {
    let name = info.name.as_ref().map(|n| String::from_utf8_lossy(n).into_owned()).unwrap_or_default();
    let local = info.local.map(|a| a.to_string()).unwrap_or_default();
    format!(
        "id={id} addr={} laddr={local} fd=-1 name={name} age={} idle={} flags={} db=0 sub=0 psub=0 ssub=0 multi={} cmd={} user={} resp={}\n",
        info.peer,
        now_ms.saturating_sub(info.connected_ms) / 1000,
        now_ms.saturating_sub(info.last_command_ms) / 1000,
        if info.in_multi { "x" } else { "N" },
        if info.in_multi { 0 } else { -1 },
        info.last_command,
        info.user,
        if info.protocol == Protocol::Resp3 { 3 } else { 2 },
    )
}

const INFO_SECTIONS: &[&str] =
    &["server", "clients", "memory", "persistence", "stats", "replication", "keyspace"];

/// INFO [section ...]: Redis's `# Section` blocks of `field:value` lines.
fn info(connection: &ClientContext<'_>, sections: &[Bytes]) -> String {
    let wanted: Vec<String> = sections.iter().map(|s| lower(s)).collect();
    let everything =
        wanted.is_empty() || wanted.iter().any(|w| w == "all" || w == "everything" || w == "default");
    let server = &connection.server;
    let node = &server.node;
    let raft = node.raft().metrics().borrow().clone();
    let state = node.state();
    let now_ms = node.now_ms();
    let mut out = String::new();
    for section in INFO_SECTIONS {
        if !everything && !wanted.iter().any(|w| w == section) {
            continue;
        }
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        let mut title = section.to_string();
        title[..1].make_ascii_uppercase();
        let _ = write!(out, "# {title}\r\n");
        let mut field = |name: &str, value: &dyn std::fmt::Display| {
            let _ = write!(out, "{name}:{value}\r\n");
        };
        match *section {
            "server" => {
                field("redis_version", &REDIS_VERSION);
                field("redraft_version", &env!("CARGO_PKG_VERSION"));
                field("redis_mode", &"standalone");
                field("os", &std::env::consts::OS);
                field("arch_bits", &(usize::BITS));
                field("process_id", &std::process::id());
                field("tcp_port", &port(&node.options().addr.resp_addr));
                field("uptime_in_seconds", &(now_ms.saturating_sub(server.started_ms) / 1000));
                field("node_id", &node.id());
            }
            "clients" => {
                field("connected_clients", &server.clients.len());
                field("maxclients", &server.settings.maxclients.load(Ordering::Relaxed));
                field("blocked_clients", &server.blocked.len());
            }
            "memory" => {
                let resident = crate::metrics::resident_bytes();
                let dataset = node.state().map().allocated_bytes() as u64;
                let allocator = crate::allocator::allocated_bytes();
                let used = allocator.unwrap_or(dataset);
                field("used_memory", &used);
                field("used_memory_human", &human_bytes(used));
                field("used_memory_rss", &resident);
                field("used_memory_rss_human", &human_bytes(resident));
                field("used_memory_dataset", &dataset);
                field("used_memory_log_cache", &node.metrics().log_cache_bytes.get());
                // The watch history's window (`change_feed.rs`), as it counts itself: a fixed
                // overhead per change plus its key and value.
                let (changes, bytes) = node.changes().size();
                field("used_memory_watch_history", &bytes);
                field("watch_history_changes", &changes);
                field("mem_fragmentation_ratio", &format!("{:.2}", resident as f64 / used.max(1) as f64));
                field("mem_allocator", &if allocator.is_some() { "jemalloc" } else { "unknown" });
                field("maxmemory", &node.options().maxmemory);
                field("maxmemory_policy", &"noeviction");
            }
            "persistence" => {
                let fsync = node.options().fsync.as_str();
                field("loading", &0);
                field("aof_enabled", &1);
                field("appendfsync", &fsync);
                field("log_bytes", &node.metrics().log_bytes.get());
                field("log_fsyncs", &node.metrics().fsyncs.get());
                field("last_snapshot_index", &raft.snapshot.map_or(0, |id| id.index));
                field("last_purged_index", &raft.purged.map_or(0, |id| id.index));
            }
            "stats" => {
                field("total_connections_received", &node.metrics().connections_total.get());
                field("total_commands_processed", &server.commands_processed.load(Ordering::Relaxed));
                field("rejected_connections", &node.metrics().connections_rejected.get());
                field("expired_keys", &node.metrics().expired_keys.get());
            }
            "replication" => {
                let status = node.cluster_status();
                let role = if status.role == "leader" { "master" } else { "slave" };
                field("role", &role);
                if status.role != "leader" {
                    let (host, port) =
                        status.leader_resp_addr.as_deref().and_then(split_host_port).unwrap_or(("", 0));
                    field("master_host", &host);
                    field("master_port", &port);
                    field("master_link_status", &if status.leader.is_some() { "up" } else { "down" });
                }
                field("raft_role", &status.role);
                field("raft_term", &status.term);
                field("raft_leader", &status.leader.map_or("none".to_owned(), |id| id.to_string()));
                field("raft_last_log_index", &status.last_log_index);
                field("raft_commit_index", &status.commit_index);
                field("raft_applied_index", &status.applied_index);
                field("state_machine_time_ms", &state.time_ms());
                let voters: Vec<String> =
                    status.members.iter().filter(|m| m.voter).map(|m| m.id.to_string()).collect();
                field("raft_members", &voters.join(","));
                let others: Vec<_> = status.members.iter().filter(|m| m.id != status.node_id).collect();
                field("connected_slaves", &if status.role == "leader" { others.len() } else { 0 });
                for (n, member) in others.iter().enumerate() {
                    let (ip, port) = split_host_port(&member.resp_addr).unwrap_or(("", 0));
                    let mut line = format!(
                        "ip={ip},port={port},state={},node_id={},voter={}",
                        if member.lag.is_some() { "online" } else { "unknown" },
                        member.id,
                        u8::from(member.voter)
                    );
                    if let (Some(matched), Some(lag)) = (member.matched_index, member.lag) {
                        line.push_str(&format!(",offset={matched},lag={lag}"));
                    }
                    if status.role == "leader" {
                        field(&format!("slave{n}"), &line);
                    }
                }
            }
            "keyspace" => {
                let keys = state.map().len();
                if keys > 0 {
                    let expires = state.map().ttl_key_count();
                    field("db0", &format!("keys={keys},expires={expires},avg_ttl=0"));
                }
            }
            _ => unreachable!("only known sections are listed"),
        }
    }
    out
}

fn port(addr: &str) -> u16 {
    addr.rsplit(':').next().and_then(|p| p.parse().ok()).unwrap_or(0)
}

fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "K", "M", "G"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.2}{}", UNITS[unit])
}

/// CONFIG GET pattern [pattern ...] | SET name value [name value ...] | RESETSTAT | HELP.
fn config(connection: &ClientContext<'_>, args: &[Bytes]) -> Frame {
    let Some(subcommand) = args.get(1) else { return arity("config") };
    let server = &connection.server;
    let settings = &server.settings;
    match subcommand.to_ascii_uppercase().as_slice() {
        b"GET" if args.len() >= 3 => {
            let options = node_config(connection);
            let mut pairs = Vec::new();
            for (name, value) in options {
                let matches = args[2..].iter().any(|pattern| {
                    redraft_core::glob::matches(&pattern.to_ascii_lowercase(), name.as_bytes())
                });
                if matches {
                    pairs.push((Frame::text(name), Frame::text(value)));
                }
            }
            Frame::Map(pairs)
        }
        b"SET" if args.len() >= 4 && args.len().is_multiple_of(2) => {
            // Validate every pair before applying any, as Redis does.
            let mut changes = Vec::new();
            let mut keyspace_events = None;
            for pair in args[2..].chunks(2) {
                let name = lower(&pair[0]);
                let value = String::from_utf8_lossy(&pair[1]).into_owned();
                if name == "notify-keyspace-events" {
                    match NotifyFlags::parse(&value) {
                        Some(flags) => keyspace_events = Some(flags),
                        None => {
                            return Frame::Error(format!(
                                "ERR CONFIG SET failed (possibly related to argument '{name}') - Invalid event class \
                                 character. Use 'Ag$lshzxeKEtmdn'."
                            ))
                        }
                    }
                    continue;
                }
                let parsed = value.parse::<usize>();
                match (name.as_str(), parsed) {
                    ("maxclients", Ok(n)) if n >= 1 => changes.push((name, n)),
                    ("proto-max-bulk-len", Ok(n)) if PROTO_MAX_BULK_LEN_RANGE.contains(&n) => {
                        changes.push((name, n))
                    }
                    ("maxclients" | "proto-max-bulk-len", _) => {
                        return Frame::Error(format!(
                            "ERR CONFIG SET failed (possibly related to argument '{name}') - argument must be a number{}",
                            if name == "proto-max-bulk-len" { " between 1mb and 512mb" } else { " of at least 1" }
                        ))
                    }
                    _ => {
                        return Frame::Error(format!(
                            "ERR Unknown option or number of arguments for CONFIG SET - '{name}'"
                        ))
                    }
                }
            }
            if let Some(flags) = keyspace_events {
                server.node.set_keyspace_events(flags);
            }
            for (name, value) in changes {
                match name.as_str() {
                    "maxclients" => settings.maxclients.store(value, Ordering::Relaxed),
                    _ => settings.proto_max_bulk_len.store(value, Ordering::Relaxed),
                }
            }
            Frame::simple("OK")
        }
        b"RESETSTAT" if args.len() == 2 => Frame::simple("OK"),
        b"HELP" => Frame::Array(
            [
                "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "GET <pattern>",
                "    Return parameters matching the glob-like <pattern> and their values.",
                "SET <directive> <value>",
                "    Set the configuration <directive> to <value> (maxclients, proto-max-bulk-len,",
                "    notify-keyspace-events).",
                "HELP",
                "    Print this help.",
            ]
            .iter()
            .map(|line| Frame::simple(line))
            .collect(),
        ),
        b"GET" | b"SET" | b"RESETSTAT" => Frame::Error(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try CONFIG HELP.",
            String::from_utf8_lossy(subcommand)
        )),
        _ => unknown_subcommand(subcommand, "CONFIG"),
    }
}

/// The settings CONFIG GET reports, by Redis's names where Redis has one.
fn node_config(connection: &ClientContext<'_>) -> Vec<(&'static str, String)> {
    let node = &connection.server.node;
    let settings = &connection.server.settings;
    let options = node.options();
    let fsync = options.fsync.as_str();
    let (bind, port) = split_host_port(&options.addr.resp_addr)
        .map_or((String::new(), String::new()), |(host, port)| (host.to_owned(), port.to_string()));
    vec![
        ("appendfsync", fsync.to_owned()),
        ("appendonly", "yes".to_owned()),
        ("bind", bind),
        ("databases", "1".to_owned()),
        ("dir", settings.data_dir.clone()),
        ("maxclients", settings.maxclients.load(Ordering::Relaxed).to_string()),
        ("maxmemory", options.maxmemory.to_string()),
        ("maxmemory-policy", "noeviction".to_owned()),
        ("notify-keyspace-events", node.changes().keyspace_events().to_string()),
        ("port", port),
        ("proto-max-bulk-len", settings.proto_max_bulk_len.load(Ordering::Relaxed).to_string()),
        ("save", String::new()),
        ("timeout", "0".to_owned()),
    ]
}
