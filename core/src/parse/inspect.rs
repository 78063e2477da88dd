//! Parsing OBJECT, MEMORY and LCS.

use bytes::Bytes;

use super::args::{invalid, Parser};
use crate::command::{CommandName, ParseError};
use crate::number::parse_i64;
use crate::reply::errors;
use crate::types::inspect::{InspectCommand, LcsOptions, ObjectSub};

/// Parses OBJECT, MEMORY and LCS (the name is the parser's).
pub(crate) fn parse(parser: &Parser<'_>) -> Result<InspectCommand, ParseError> {
    let args = parser.args;
    let unknown = |container: &str| {
        let sub = String::from_utf8_lossy(&args[0]);
        invalid(format!("ERR unknown subcommand '{sub}'. Try {container} HELP."))
    };
    match parser.name {
        CommandName::Object => {
            let sub = args[0].to_ascii_lowercase();
            let sub = match sub.as_slice() {
                b"help" if args.len() == 1 => return Ok(InspectCommand::ObjectHelp),
                b"encoding" => ObjectSub::Encoding,
                b"freq" => ObjectSub::Freq,
                b"idletime" => ObjectSub::IdleTime,
                b"refcount" => ObjectSub::RefCount,
                b"help" => return Err(invalid(errors::wrong_arity("object|help"))),
                _ => return Err(unknown("OBJECT")),
            };
            match args {
                [_, key] => Ok(InspectCommand::Object { sub, key: key.clone() }),
                _ => Err(invalid(errors::wrong_arity(&format!(
                    "object|{}",
                    String::from_utf8_lossy(&args[0]).to_ascii_lowercase()
                )))),
            }
        }
        CommandName::Memory => match args {
            [sub, key, rest @ ..] if sub.eq_ignore_ascii_case(b"usage") => match rest {
                [] => Ok(InspectCommand::MemoryUsage { key: key.clone() }),
                [samples, count] if samples.eq_ignore_ascii_case(b"samples") => {
                    parser.integer(count)?;
                    Ok(InspectCommand::MemoryUsage { key: key.clone() })
                }
                _ => Err(invalid(errors::SYNTAX)),
            },
            [sub] if sub.eq_ignore_ascii_case(b"usage") => Err(invalid(errors::wrong_arity("memory|usage"))),
            _ => Err(unknown("MEMORY")),
        },
        CommandName::Lcs => {
            let [a, b, rest @ ..] = args else { return Err(parser.wrong_arity()) };
            Ok(InspectCommand::Lcs { a: a.clone(), b: b.clone(), options: lcs_options(rest) })
        }
        other => unreachable!("{} is not an inspection command", other.as_str()),
    }
}

fn lcs_options(args: &[Bytes]) -> Result<LcsOptions, String> {
    let mut options = LcsOptions::default();
    let mut at = 0;
    while let Some(option) = args.get(at) {
        match option.to_ascii_lowercase().as_slice() {
            b"idx" => options.idx = true,
            b"len" => options.len = true,
            b"withmatchlen" => options.with_match_len = true,
            b"minmatchlen" if at + 1 < args.len() => {
                let len = parse_i64(&args[at + 1]).ok_or_else(|| errors::NOT_INTEGER.to_owned())?;
                options.min_match_len = u64::try_from(len).unwrap_or(0);
                at += 1;
            }
            _ => return Err(errors::SYNTAX.to_owned()),
        }
        at += 1;
    }
    if options.idx && options.len {
        return Err("ERR If you want both the length and indexes, please just use IDX.".to_owned());
    }
    Ok(options)
}
