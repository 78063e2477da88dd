//! SAVE, BGSAVE and LASTSAVE. redraft's snapshots are what Redis's RDB files are: SAVE builds one
//! now and answers when it is written; BGSAVE starts one and answers at once; LASTSAVE is the
//! Unix time of the last snapshot this node built or installed (or of its start).

use std::sync::Arc;

use bytes::Bytes;
use redraft_net::resp::Frame;

use crate::node::Node;

pub(super) async fn run(node: &Arc<Node>, name: &[u8], args: &[Bytes]) -> Frame {
    let command = String::from_utf8_lossy(name).to_lowercase();
    match name {
        b"SAVE" if args.len() == 1 => match node.save().await {
            Ok(()) => Frame::simple("OK"),
            Err(error) => Frame::Error(format!("ERR {error}")),
        },
        // SCHEDULE waits for another child process in Redis; redraft has none, so it starts.
        b"BGSAVE" if args.len() == 1 || (args.len() == 2 && args[1].eq_ignore_ascii_case(b"SCHEDULE")) => {
            if !node.begin_background_save() {
                return Frame::Error("ERR Background save already in progress".into());
            }
            let node = node.clone();
            tokio::spawn(async move {
                if let Err(error) = node.save().await {
                    tracing::warn!(%error, "BGSAVE: the snapshot was not built");
                }
                node.end_background_save();
            });
            Frame::simple("Background saving started")
        }
        b"BGSAVE" if args.len() == 2 => Frame::Error("ERR syntax error".into()),
        b"LASTSAVE" if args.len() == 1 => {
            Frame::Integer(i64::try_from(node.last_save_unix()).unwrap_or(i64::MAX))
        }
        _ => Frame::Error(format!("ERR wrong number of arguments for '{command}' command")),
    }
}
