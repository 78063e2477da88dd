//! Parsing the hash commands, with Redis 7's arities, options and error texts.

use super::args::{parse_rand, scan_options, Parser};
use crate::command::{CommandName, ParseError};
use crate::number::parse_f64;
use crate::parse::args::invalid;
use crate::reply::errors;
use crate::types::hash_commands::HashCommand;

/// Parses a hash command's arguments (the name is the parser's).
pub(crate) fn parse(parser: &Parser<'_>) -> Result<HashCommand, ParseError> {
    use CommandName as N;
    let args = parser.args;
    let name = parser.name;
    Ok(match name {
        N::HSet | N::HMSet => {
            let [key, pairs @ ..] = args else { return Err(parser.wrong_arity()) };
            if pairs.is_empty() || !pairs.len().is_multiple_of(2) {
                return Err(parser.wrong_arity());
            }
            let pairs = pairs.chunks_exact(2).map(|p| (p[0].clone(), p[1].clone())).collect();
            HashCommand::Set { name, key: key.clone(), pairs }
        }
        N::HSetNx => {
            let [key, field, value] = parser.exactly()?;
            HashCommand::SetNx { key: key.clone(), field: field.clone(), value: value.clone() }
        }
        N::HGet => {
            let [key, field] = parser.exactly()?;
            HashCommand::Get { key: key.clone(), field: field.clone() }
        }
        N::HMGet | N::HDel => {
            let [key, fields @ ..] = args else { return Err(parser.wrong_arity()) };
            let (key, fields) = (key.clone(), fields.to_vec());
            if name == N::HMGet {
                HashCommand::MGet { key, fields }
            } else {
                HashCommand::Del { key, fields }
            }
        }
        N::HGetAll | N::HKeys | N::HVals => HashCommand::GetAll { name, key: parser.one_key()? },
        N::HExists => {
            let [key, field] = parser.exactly()?;
            HashCommand::Exists { key: key.clone(), field: field.clone() }
        }
        N::HLen => HashCommand::Len { key: parser.one_key()? },
        N::HStrLen => {
            let [key, field] = parser.exactly()?;
            HashCommand::StrLen { key: key.clone(), field: field.clone() }
        }
        N::HIncrBy => {
            let [key, field, delta] = parser.exactly()?;
            HashCommand::IncrBy { key: key.clone(), field: field.clone(), delta: parser.integer(delta)? }
        }
        N::HIncrByFloat => {
            let [key, field, delta] = parser.exactly()?;
            let delta = parse_f64(delta).ok_or_else(|| invalid(errors::NOT_FLOAT))?;
            HashCommand::IncrByFloat { key: key.clone(), field: field.clone(), delta }
        }
        N::HScan => {
            let (key, cursor, options) = scan_options(parser)?;
            HashCommand::Scan { key, cursor, options }
        }
        N::HRandField => {
            let (key, count, with_values) = parse_rand(parser, b"withvalues")?;
            HashCommand::RandField { key, count, with_values, seed: 0 }
        }
        other => unreachable!("{} is not a hash command", other.as_str()),
    })
}
