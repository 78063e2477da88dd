//! `redraft-cli cluster status|add|promote|remove`: membership management on top of the server's
//! `RAFT.*` commands, with output meant for people and exit codes meant for scripts.
//!
//! Redis has no `CLUSTER STATUS`, `CLUSTER ADD`, `CLUSTER PROMOTE` or `CLUSTER REMOVE`, so these
//! words never shadow a command a Redis server knows; any other `cluster ...` goes to the server
//! unchanged, as redis-cli would send it.

use std::io::Write;
use std::process::ExitCode;

use bytes::Bytes;
use redraft_net::resp::Frame;

use crate::connection::Connection;
use crate::Settings;

const USAGE: &str = "usage: redraft-cli [-h host] [-p port] cluster status
       redraft-cli [-h host] [-p port] cluster add <id> <raft-host:port> <resp-host:port> [--learner]
       redraft-cli [-h host] [-p port] cluster promote <id>
       redraft-cli [-h host] [-p port] cluster remove <id>";

/// The management command a command line asks for, if it is one.
#[derive(Debug, PartialEq, Eq)]
pub enum ClusterCommand {
    Status,
    /// The `RAFT.*` command to send, and what the line asked for (for the error message).
    Change(Vec<Bytes>),
    /// A management word with the wrong arguments.
    Usage,
}

/// Recognises `cluster status|add|promote|remove ...` (the first two words in any case).
pub fn parse(command: &[Bytes]) -> Option<ClusterCommand> {
    let word = |index: usize| command.get(index).map(|w| w.to_ascii_lowercase());
    if word(0).as_deref() != Some(b"cluster".as_slice()) {
        return None;
    }
    let args = &command[2.min(command.len())..];
    let parsed = match word(1).as_deref()? {
        b"status" => match args.len() {
            0 => ClusterCommand::Status,
            _ => ClusterCommand::Usage,
        },
        b"add" => {
            let learner = args.get(3).is_some_and(|flag| flag.as_ref() == b"--learner");
            match (args.len(), learner) {
                (3, _) | (4, true) => {
                    let mut raft = vec![Bytes::from_static(b"RAFT.ADD")];
                    raft.extend(args[..3].iter().cloned());
                    if learner {
                        raft.push(Bytes::from_static(b"LEARNER"));
                    }
                    ClusterCommand::Change(raft)
                }
                _ => ClusterCommand::Usage,
            }
        }
        b"promote" | b"remove" if args.len() == 1 => {
            let name: &'static [u8] = if word(1).as_deref() == Some(b"promote".as_slice()) {
                b"RAFT.PROMOTE"
            } else {
                b"RAFT.REMOVE"
            };
            ClusterCommand::Change(vec![Bytes::from_static(name), args[0].clone()])
        }
        b"promote" | b"remove" => ClusterCommand::Usage,
        _ => return None,
    };
    Some(parsed)
}

/// Runs a management command; exits 0 when it succeeded, 1 when the server refused it or could
/// not be reached, 2 for a usage error.
pub fn run(settings: &Settings, command: ClusterCommand) -> ExitCode {
    let request = match &command {
        ClusterCommand::Usage => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
        ClusterCommand::Status => vec![Bytes::from_static(b"RAFT.INFO")],
        ClusterCommand::Change(request) => request.clone(),
    };
    let mut connection =
        match Connection::open(&settings.endpoint, settings.auth.as_ref(), settings.db, settings.resp3) {
            Ok(connection) => connection,
            Err(error) => {
                eprintln!("{error}");
                return ExitCode::FAILURE;
            }
        };
    let reply = match connection.request(&request) {
        Ok(reply) => reply,
        Err(error) => {
            eprintln!("Error: {error}");
            return ExitCode::FAILURE;
        }
    };
    let text = match (&command, reply) {
        (_, Frame::Error(error)) => {
            eprintln!("(error) {error}");
            return ExitCode::FAILURE;
        }
        (ClusterCommand::Status, Frame::Verbatim { text, .. } | Frame::Bulk(text)) => {
            status_table(&String::from_utf8_lossy(&text))
        }
        (ClusterCommand::Change(_), Frame::Simple(text)) => format!("{text}\n"),
        (_, other) => {
            eprintln!("unexpected reply from the server: {other:?}");
            return ExitCode::FAILURE;
        }
    };
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::FAILURE,
    }
}

/// Renders `RAFT.INFO`'s `field:value` lines as a summary line and a table of members.
pub fn status_table(info: &str) -> String {
    let fields: Vec<(&str, &str)> = info.lines().filter_map(|line| line.split_once(':')).collect();
    let field = |name: &str| fields.iter().find(|(n, _)| *n == name).map_or("?", |(_, v)| *v);
    let mut out = format!(
        "node {} is {}; leader: {}; term {}; log {} (commit {}, applied {}, snapshot {}, purged {})\n",
        field("node_id"),
        field("role"),
        match field("leader") {
            "none" => "none".to_owned(),
            id => match field("leader_resp_addr") {
                "" => format!("node {id}"),
                addr => format!("node {id} at {addr}"),
            },
        },
        field("term"),
        field("last_log_index"),
        field("commit_index"),
        field("applied_index"),
        field("snapshot_index"),
        field("purged_index"),
    );
    let mut rows = vec![["ID", "ROLE", "RAFT", "RESP", "MATCHED", "LAG"].map(str::to_owned)];
    for (name, value) in &fields {
        if !name.starts_with("member") || *name == "members" {
            continue;
        }
        let parts: Vec<(&str, &str)> = value.split(',').filter_map(|part| part.split_once('=')).collect();
        let part = |key: &str| parts.iter().find(|(k, _)| *k == key).map_or("-", |(_, v)| *v).to_owned();
        let role = if part("voter") == "1" { "voter" } else { "learner" };
        rows.push([part("id"), role.to_owned(), part("raft"), part("resp"), part("matched"), part("lag")]);
    }
    let widths: Vec<usize> = (0..6).map(|c| rows.iter().map(|row| row[c].len()).max().unwrap_or(0)).collect();
    for row in &rows {
        let line: Vec<String> =
            row.iter().zip(&widths).map(|(cell, width)| format!("{cell:<width$}")).collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<Bytes> {
        line.split_whitespace().map(|w| Bytes::from(w.to_owned())).collect()
    }

    #[test]
    fn management_words_become_raft_commands_and_others_go_to_the_server() {
        assert_eq!(parse(&words("cluster status")), Some(ClusterCommand::Status));
        assert_eq!(parse(&words("CLUSTER Status")), Some(ClusterCommand::Status));
        assert_eq!(
            parse(&words("cluster add 4 127.0.0.1:16382 127.0.0.1:6382")),
            Some(ClusterCommand::Change(words("RAFT.ADD 4 127.0.0.1:16382 127.0.0.1:6382")))
        );
        assert_eq!(
            parse(&words("cluster add 4 a:1 b:2 --learner")),
            Some(ClusterCommand::Change(words("RAFT.ADD 4 a:1 b:2 LEARNER")))
        );
        assert_eq!(parse(&words("cluster remove 2")), Some(ClusterCommand::Change(words("RAFT.REMOVE 2"))));
        assert_eq!(parse(&words("cluster promote 4")), Some(ClusterCommand::Change(words("RAFT.PROMOTE 4"))));
        assert_eq!(parse(&words("cluster add 4 a:1")), Some(ClusterCommand::Usage));
        assert_eq!(parse(&words("cluster add 4 a:1 b:2 --voter")), Some(ClusterCommand::Usage));
        assert_eq!(parse(&words("cluster remove")), Some(ClusterCommand::Usage));
        assert_eq!(parse(&words("cluster status now")), Some(ClusterCommand::Usage));
        // Redis's own CLUSTER subcommands, and everything else, are sent as they are.
        assert_eq!(parse(&words("cluster info")), None);
        assert_eq!(parse(&words("cluster")), None);
        assert_eq!(parse(&words("get cluster")), None);
    }

    #[test]
    fn status_is_a_summary_and_a_table() {
        let info = "node_id:1\r\nrole:leader\r\nleader:1\r\nleader_resp_addr:127.0.0.1:6379\r\nterm:3\r\n\
                    last_log_index:40\r\ncommit_index:40\r\napplied_index:40\r\nsnapshot_index:0\r\n\
                    purged_index:0\r\nmembers:2\r\n\
                    member1:id=1,raft=127.0.0.1:16379,resp=127.0.0.1:6379,voter=1,matched=40,lag=0\r\n\
                    member2:id=2,raft=127.0.0.1:16380,resp=127.0.0.1:6380,voter=0,matched=35,lag=5\r\n";
        assert_eq!(
            status_table(info),
            "node 1 is leader; leader: node 1 at 127.0.0.1:6379; term 3; log 40 (commit 40, applied 40, snapshot 0, purged 0)\n\
             ID  ROLE     RAFT             RESP            MATCHED  LAG\n\
             1   voter    127.0.0.1:16379  127.0.0.1:6379  40       0\n\
             2   learner  127.0.0.1:16380  127.0.0.1:6380  35       5\n"
        );
    }
}
