//! COMMAND and its subcommands (COUNT, LIST, INFO, DOCS): the server's description of its
//! commands, enough for redis-cli's hints and for client libraries that route by key. The facts
//! are core's command table ([`redraft_core::spec`]); this module only renders them as Redis 7
//! does.

use bytes::Bytes;
use redraft_core::spec::{self, CommandSpec, COMMANDS};
use redraft_net::resp::Frame;

/// COMMAND [COUNT | INFO name ... | DOCS name ... | LIST]; `None` for an unknown subcommand,
/// which the caller answers as it does for CLIENT's and CONFIG's.
pub(super) fn run(args: &[Bytes]) -> Option<Frame> {
    let Some(subcommand) = args.get(1) else {
        return Some(Frame::Array(COMMANDS.iter().map(info).collect()));
    };
    let named = |names: &[Bytes]| -> Vec<&'static CommandSpec> {
        if names.is_empty() {
            COMMANDS.iter().collect()
        } else {
            names.iter().filter_map(|n| spec::find(n)).collect()
        }
    };
    Some(match subcommand.to_ascii_uppercase().as_slice() {
        b"COUNT" if args.len() == 2 => Frame::Integer(COMMANDS.len() as i64),
        b"LIST" if args.len() == 2 => Frame::Array(COMMANDS.iter().map(|c| Frame::text(c.name)).collect()),
        b"INFO" if args.len() == 2 => Frame::Array(COMMANDS.iter().map(info).collect()),
        b"INFO" => {
            Frame::Array(args[2..].iter().map(|n| spec::find(n).map_or(Frame::NullArray, info)).collect())
        }
        b"DOCS" => {
            Frame::Map(named(&args[2..]).into_iter().map(|c| (Frame::text(c.name), docs(c))).collect())
        }
        _ => return None,
    })
}

/// A command as `COMMAND INFO` describes it (Redis 7's ten fields).
fn info(spec: &CommandSpec) -> Frame {
    Frame::Array(vec![
        Frame::text(spec.name),
        Frame::Integer(spec.arity),
        Frame::Set(spec.flags.iter().map(|f| Frame::simple(f.as_str())).collect()),
        Frame::Integer(spec.first_key),
        Frame::Integer(spec.last_key),
        Frame::Integer(spec.step),
        Frame::Set(vec![Frame::simple(&format!("@{}", spec.group))]),
        Frame::Set(Vec::new()),
        Frame::Array(Vec::new()),
        Frame::Array(Vec::new()),
    ])
}

/// A command as `COMMAND DOCS` describes it.
fn docs(spec: &CommandSpec) -> Frame {
    Frame::Map(vec![
        (Frame::text("summary"), Frame::text(spec.summary)),
        (Frame::text("since"), Frame::text(spec.since)),
        (Frame::text("group"), Frame::text(spec.group)),
    ])
}
