//! Parsing the bitmap commands, with Redis 7's rules and error texts.

use bytes::Bytes;

use super::args::{invalid, Parser};
use crate::command::{CommandName, ParseError};
use crate::limits::VALUE_BYTES_MAX;
use crate::number::parse_i64;
use crate::reply::errors;
use crate::types::bitfield::{Field, FieldAction, FieldOp, Overflow};
use crate::types::bitmap::{BitCommand, BitOp, BitRange, PosRange};

/// Offsets go up to the largest string, in bits (2^32 - 1 for 512 MB, as Redis's).
const BIT_OFFSET_MAX: u64 = VALUE_BYTES_MAX as u64 * 8 - 1;

fn offset(arg: &[u8]) -> Result<u64, ParseError> {
    let offset = parse_i64(arg).and_then(|o| u64::try_from(o).ok()).filter(|o| *o <= BIT_OFFSET_MAX);
    offset.ok_or_else(|| invalid("ERR bit offset is not an integer or out of range"))
}

/// BYTE or BIT: whether it is BIT.
fn unit(arg: &[u8]) -> Result<bool, ParseError> {
    if arg.eq_ignore_ascii_case(b"bit") {
        Ok(true)
    } else if arg.eq_ignore_ascii_case(b"byte") {
        Ok(false)
    } else {
        Err(invalid(errors::SYNTAX))
    }
}

/// BITFIELD's operations, read as Redis's `bitfieldGeneric` reads them: each GET, SET or INCRBY
/// takes the OVERFLOW rule given last before it.
fn field_ops(parser: &Parser<'_>, mut rest: &[Bytes]) -> Result<Vec<FieldOp>, ParseError> {
    let mut ops = Vec::new();
    let mut overflow = Overflow::default();
    while let [operation, tail @ ..] = rest {
        let operation = operation.to_ascii_lowercase();
        let action = match (operation.as_slice(), tail) {
            (b"overflow", [rule, tail @ ..]) => {
                overflow = match rule.to_ascii_lowercase().as_slice() {
                    b"wrap" => Overflow::Wrap,
                    b"sat" => Overflow::Sat,
                    b"fail" => Overflow::Fail,
                    _ => return Err(invalid("ERR Invalid OVERFLOW type specified")),
                };
                rest = tail;
                continue;
            }
            (b"get", [_, _, ..]) => None,
            (b"set" | b"incrby", [_, _, _, ..]) => Some(operation.as_slice() == b"set"),
            _ => return Err(invalid(errors::SYNTAX)),
        };
        let field = field(&tail[0], &tail[1])?;
        let action = match action {
            None => FieldAction::Get,
            Some(set) => {
                let amount = parser.integer(&tail[2])?;
                if set {
                    FieldAction::Set(amount)
                } else {
                    FieldAction::IncrBy(amount)
                }
            }
        };
        rest = &tail[if action == FieldAction::Get { 2 } else { 3 }..];
        ops.push(FieldOp { action, field, overflow });
    }
    Ok(ops)
}

/// A field's type (`i1` to `i64`, `u1` to `u63`) and offset (in bits, or with `#` in fields of
/// the type's width).
fn field(kind: &[u8], at: &[u8]) -> Result<Field, ParseError> {
    const INVALID_TYPE: &str =
        "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";
    let signed = match kind.first() {
        Some(b'i' | b'I') => true,
        Some(b'u' | b'U') => false,
        _ => return Err(invalid(INVALID_TYPE)),
    };
    let widest = if signed { 64 } else { 63 };
    let bits = parse_i64(&kind[1..]).filter(|bits| (1..=widest).contains(bits));
    let bits = bits.ok_or_else(|| invalid(INVALID_TYPE))? as u32;
    let (in_fields, number) = match at.split_first() {
        Some((b'#', number)) => (true, number),
        _ => (false, at),
    };
    let offset =
        parse_i64(number).and_then(|n| if in_fields { n.checked_mul(i64::from(bits)) } else { Some(n) });
    let offset = offset.and_then(|o| u64::try_from(o).ok()).filter(|o| *o <= BIT_OFFSET_MAX);
    let offset = offset.ok_or_else(|| invalid("ERR bit offset is not an integer or out of range"))?;
    Ok(Field { signed, bits, offset })
}

/// Parses a bitmap command's arguments (the name is the parser's).
pub(crate) fn parse(parser: &Parser<'_>) -> Result<BitCommand, ParseError> {
    let args = parser.args;
    Ok(match parser.name {
        CommandName::SetBit => {
            let [key, at, value] = parser.exactly()?;
            let at = offset(at)?;
            let bit = match &value[..] {
                b"0" => false,
                b"1" => true,
                _ => return Err(invalid("ERR bit is not an integer or out of range")),
            };
            BitCommand::SetBit { key: key.clone(), offset: at, bit }
        }
        CommandName::GetBit => {
            let [key, at] = parser.exactly()?;
            BitCommand::GetBit { key: key.clone(), offset: offset(at)? }
        }
        CommandName::BitCount => {
            let [key, rest @ ..] = args else { return Err(parser.wrong_arity()) };
            let range = match rest {
                [] => Ok(None),
                [start, end, unit_arg @ ..] if unit_arg.len() <= 1 => (|| {
                    let (start, end) = (parser.integer(start)?, parser.integer(end)?);
                    let bits = unit_arg.first().map(|u| unit(u)).transpose()?.unwrap_or(false);
                    Ok(Some(BitRange { start, end, bits }))
                })()
                .map_err(|e: ParseError| e.to_string()),
                _ => Err(errors::SYNTAX.to_owned()),
            };
            BitCommand::Count { key: key.clone(), range }
        }
        CommandName::BitPos => {
            let [key, bit, rest @ ..] = args else { return Err(parser.wrong_arity()) };
            let bit = match parse_i64(bit) {
                Some(0) => false,
                Some(1) => true,
                Some(_) => return Err(invalid("ERR The bit argument must be 1 or 0.")),
                None => return Err(invalid(errors::NOT_INTEGER)),
            };
            let range = (|| {
                if rest.len() > 3 {
                    return Err(invalid(errors::SYNTAX));
                }
                let start = rest.first().map(|s| parser.integer(s)).transpose()?;
                let end = rest.get(1).map(|e| parser.integer(e)).transpose()?;
                let bits = rest.get(2).map(|u| unit(u)).transpose()?.unwrap_or(false);
                Ok(PosRange { start, end, bits })
            })()
            .map_err(|e: ParseError| e.to_string());
            BitCommand::Pos { key: key.clone(), bit, range }
        }
        CommandName::BitOp => {
            let [op, destination, keys @ ..] = args else { return Err(parser.wrong_arity()) };
            let op = match op.to_ascii_lowercase().as_slice() {
                b"and" => BitOp::And,
                b"or" => BitOp::Or,
                b"xor" => BitOp::Xor,
                b"not" => BitOp::Not,
                _ => return Err(invalid(errors::SYNTAX)),
            };
            if op == BitOp::Not && keys.len() != 1 {
                return Err(invalid("ERR BITOP NOT must be called with a single source key."));
            }
            BitCommand::Op { op, destination: destination.clone(), keys: keys.to_vec() }
        }
        CommandName::BitField | CommandName::BitFieldRo => {
            let [key, rest @ ..] = args else { return Err(parser.wrong_arity()) };
            let ops = field_ops(parser, rest)?;
            let read_only = ops.iter().all(|op| op.action == FieldAction::Get);
            if parser.name == CommandName::BitFieldRo && !read_only {
                return Err(invalid("ERR BITFIELD_RO only supports the GET subcommand"));
            }
            BitCommand::Field { name: parser.name, key: key.clone(), ops }
        }
        other => unreachable!("{} is not a bitmap command", other.as_str()),
    })
}
