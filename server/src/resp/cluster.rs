//! The `RAFT` command family: this node's view of the cluster (`RAFT.INFO`) and membership
//! changes (`RAFT.ADD`, `RAFT.PROMOTE`, `RAFT.REMOVE`), which any node accepts and passes to the
//! leader.

use bytes::Bytes;
use redraft_net::resp::Frame;

use crate::addr::{is_host_port, NodeAddr};
use crate::membership::MembershipChange;
use crate::node::status::ClusterStatus;
use crate::node::Node;

pub(super) async fn run(node: &Node, name: &[u8], args: &[Bytes]) -> Frame {
    let command = String::from_utf8_lossy(name).to_lowercase();
    let wrong_arity = || Frame::Error(format!("ERR wrong number of arguments for '{command}' command"));
    let change = match name {
        b"RAFT.INFO" if args.len() == 1 => {
            return Frame::Verbatim { format: *b"txt", text: Bytes::from(info_text(&node.cluster_status())) }
        }
        b"RAFT.ADD" if args.len() == 4 || args.len() == 5 => {
            let learner = match args.get(4) {
                None => false,
                Some(option) if option.eq_ignore_ascii_case(b"LEARNER") => true,
                Some(_) => return Frame::Error("ERR syntax error".into()),
            };
            let (Some(id), Some(raft_addr), Some(resp_addr)) =
                (node_id(&args[1]), addr(&args[2]), addr(&args[3]))
            else {
                return Frame::Error(
                    "ERR usage: RAFT.ADD id raft-host:port resp-host:port [LEARNER] (id a positive integer)"
                        .into(),
                );
            };
            MembershipChange::Add { id, addr: NodeAddr { raft_addr, resp_addr }, voter: !learner }
        }
        b"RAFT.PROMOTE" | b"RAFT.REMOVE" if args.len() == 2 => {
            let Some(id) = node_id(&args[1]) else {
                return Frame::Error("ERR the node id must be a positive integer".into());
            };
            if name == b"RAFT.PROMOTE" {
                MembershipChange::Promote { id }
            } else {
                MembershipChange::Remove { id }
            }
        }
        _ => return wrong_arity(),
    };
    match node.change_membership(change).await {
        Ok(text) => Frame::Simple(text),
        Err(error) => Frame::Error(error.reply_text()),
    }
}

fn node_id(arg: &[u8]) -> Option<u64> {
    std::str::from_utf8(arg).ok()?.parse::<u64>().ok().filter(|id| *id > 0)
}

fn addr(arg: &[u8]) -> Option<String> {
    std::str::from_utf8(arg).ok().filter(|text| is_host_port(text)).map(str::to_owned)
}

/// `field:value` lines, then one `member` line per member, as INFO prints them.
pub(crate) fn info_text(status: &ClusterStatus) -> String {
    let mut out = String::new();
    let mut field = |name: &str, value: String| {
        out.push_str(name);
        out.push(':');
        out.push_str(&value);
        out.push_str("\r\n");
    };
    field("node_id", status.node_id.to_string());
    field("role", status.role.to_owned());
    field("leader", status.leader.map_or("none".into(), |id| id.to_string()));
    field("leader_resp_addr", status.leader_resp_addr.clone().unwrap_or_default());
    field("term", status.term.to_string());
    field("last_log_index", status.last_log_index.to_string());
    field("commit_index", status.commit_index.to_string());
    field("applied_index", status.applied_index.to_string());
    field("snapshot_index", status.snapshot_index.to_string());
    field("purged_index", status.purged_index.to_string());
    field("catching_up", u8::from(status.catching_up).to_string());
    field("members", status.members.len().to_string());
    for member in &status.members {
        let mut line = format!(
            "id={},raft={},resp={},voter={}",
            member.id,
            member.raft_addr,
            member.resp_addr,
            u8::from(member.voter)
        );
        if let (Some(matched), Some(lag)) = (member.matched_index, member.lag) {
            line.push_str(&format!(",matched={matched},lag={lag}"));
        }
        field(&format!("member{}", member.id), line);
    }
    out
}
