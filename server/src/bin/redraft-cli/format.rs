//! Replies as redis-cli 7 prints them, byte for byte: the annotated form for a terminal
//! (`cliFormatReplyTTY`) and the raw form for pipes (`cliFormatReplyRaw`).
//!
//! Two differences from redis-cli come from the shared decoder, `redraft_net::resp`, which keeps
//! a RESP3 double as an `f64` and a big number as a bulk string: a double is printed as Rust's
//! shortest text for its value (redis-cli echoes the server's text, which Redis 7.0 writes with
//! `%.17g`), and a big number is printed as a string rather than `(big number) ...`.

use redraft_net::resp::{double_text, Frame};

/// How replies are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputMode {
    /// redis-cli's terminal form: quoted strings, `(integer)`, numbered aggregates.
    Standard,
    /// redis-cli's `--raw` form: bare values, one aggregate element per line.
    Raw,
}

/// The text printed for `reply`, ending in a newline.
pub fn format_reply(reply: &Frame, mode: OutputMode) -> Vec<u8> {
    let mut out = Vec::new();
    match mode {
        OutputMode::Standard => tty(reply, "", &mut out),
        OutputMode::Raw => {
            raw(reply, &mut out);
            out.push(b'\n');
        }
    }
    out
}

/// The text printed for a report such as INFO's: the raw form without a newline added, in either
/// mode (redis-cli's `output_raw_strings`).
pub fn format_verbatim(reply: &Frame) -> Vec<u8> {
    let mut out = Vec::new();
    raw(reply, &mut out);
    out
}

/// `cliFormatReplyTTY`. `prefix` is the indentation of the enclosing aggregates; the first line
/// of an aggregate element is not indented because its parent already wrote the index before it.
fn tty(reply: &Frame, prefix: &str, out: &mut Vec<u8>) {
    match reply {
        Frame::Error(text) => {
            out.extend_from_slice(b"(error) ");
            out.extend_from_slice(text.as_bytes());
            out.push(b'\n');
        }
        Frame::Simple(text) => {
            out.extend_from_slice(text.as_bytes());
            out.push(b'\n');
        }
        Frame::Integer(n) => out.extend_from_slice(format!("(integer) {n}\n").as_bytes()),
        Frame::Double(value) => {
            out.extend_from_slice(format!("(double) {}\n", double_text(*value)).as_bytes())
        }
        Frame::Bulk(bytes) => {
            quote(bytes, out);
            out.push(b'\n');
        }
        // A verbatim string is text meant to be read as it is: no quotes, no escapes.
        Frame::Verbatim { text, .. } => {
            out.extend_from_slice(text);
            out.push(b'\n');
        }
        Frame::Null | Frame::NullArray => out.extend_from_slice(b"(nil)\n"),
        Frame::Boolean(value) => out.extend_from_slice(if *value { b"(true)\n" } else { b"(false)\n" }),
        Frame::Array(items) if items.is_empty() => out.extend_from_slice(b"(empty array)\n"),
        Frame::Set(items) if items.is_empty() => out.extend_from_slice(b"(empty set)\n"),
        Frame::Map(pairs) if pairs.is_empty() => out.extend_from_slice(b"(empty hash)\n"),
        Frame::Array(items) => tty_elements(items, ')', prefix, out),
        Frame::Set(items) => tty_elements(items, '~', prefix, out),
        Frame::Map(pairs) => {
            let child_prefix = child_prefix(prefix, pairs.len());
            let width = decimal_width(pairs.len());
            for (index, (key, value)) in pairs.iter().enumerate() {
                let indent = if index == 0 { "" } else { prefix };
                out.extend_from_slice(format!("{indent}{:>width$}# ", index + 1).as_bytes());
                tty(key, &child_prefix, out);
                // The key's newline gives way to the arrow, as redis-cli trims it.
                out.pop();
                out.extend_from_slice(b" => ");
                if is_multiline(value) {
                    // Start a value of several lines on its own line so its items line up.
                    out.push(b'\n');
                    out.extend_from_slice(child_prefix.as_bytes());
                }
                tty(value, &child_prefix, out);
            }
        }
    }
}

fn tty_elements(items: &[Frame], separator: char, prefix: &str, out: &mut Vec<u8>) {
    let child_prefix = child_prefix(prefix, items.len());
    let width = decimal_width(items.len());
    for (index, item) in items.iter().enumerate() {
        let indent = if index == 0 { "" } else { prefix };
        out.extend_from_slice(format!("{indent}{:>width$}{separator} ", index + 1).as_bytes());
        tty(item, &child_prefix, out);
    }
}

/// Nested elements are indented past the widest index and its two-character separator.
fn child_prefix(prefix: &str, count: usize) -> String {
    format!("{prefix}{}", " ".repeat(decimal_width(count) + 2))
}

fn decimal_width(count: usize) -> usize {
    count.to_string().len()
}

/// `cliIsMultilineValueTTY`: whether a map value prints on more than one line.
fn is_multiline(value: &Frame) -> bool {
    match value {
        Frame::Array(items) | Frame::Set(items) => match items.as_slice() {
            [] => false,
            [only] => is_multiline(only),
            _ => true,
        },
        Frame::Map(pairs) => match pairs.as_slice() {
            [] => false,
            [(_, only)] => is_multiline(only),
            _ => true,
        },
        _ => false,
    }
}

/// `cliFormatReplyRaw`: values bare, aggregate elements on separate lines, map entries as
/// `key value`, nil as nothing at all.
fn raw(reply: &Frame, out: &mut Vec<u8>) {
    match reply {
        Frame::Null | Frame::NullArray => {}
        Frame::Error(text) => {
            out.extend_from_slice(text.as_bytes());
            out.push(b'\n');
        }
        Frame::Simple(text) => out.extend_from_slice(text.as_bytes()),
        Frame::Bulk(bytes) | Frame::Verbatim { text: bytes, .. } => out.extend_from_slice(bytes),
        Frame::Boolean(value) => out.extend_from_slice(if *value { b"(true)" } else { b"(false)" }),
        Frame::Integer(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Frame::Double(value) => out.extend_from_slice(double_text(*value).as_bytes()),
        Frame::Array(items) | Frame::Set(items) => {
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(b'\n');
                }
                raw(item, out);
            }
        }
        Frame::Map(pairs) => {
            for (index, (key, value)) in pairs.iter().enumerate() {
                if index > 0 {
                    out.push(b'\n');
                }
                raw(key, out);
                out.push(b' ');
                raw(value, out);
            }
        }
    }
}

/// `sdscatrepr`: the string in double quotes with `\n \r \t \a \b \" \\` escaped and every other
/// byte outside printable ASCII as `\xHH`. redis-cli runs in the C locale, so bytes of UTF-8 text
/// beyond ASCII are escaped too.
pub fn quote(bytes: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for &byte in bytes {
        match byte {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'"' => out.extend_from_slice(b"\\\""),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x07 => out.extend_from_slice(b"\\a"),
            0x08 => out.extend_from_slice(b"\\b"),
            b' '..=b'~' => out.push(byte),
            _ => out.extend_from_slice(format!("\\x{byte:02x}").as_bytes()),
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn bulk(text: &str) -> Frame {
        Frame::Bulk(Bytes::copy_from_slice(text.as_bytes()))
    }

    fn standard(reply: &Frame) -> String {
        String::from_utf8(format_reply(reply, OutputMode::Standard)).expect("test replies print as UTF-8")
    }

    fn raw_text(reply: &Frame) -> String {
        String::from_utf8(format_reply(reply, OutputMode::Raw)).expect("test replies print as UTF-8")
    }

    #[test]
    fn quoting_escapes_controls_quotes_and_non_ascii() {
        // The escapes sdscatrepr writes, including a high byte and a UTF-8 sequence.
        let mut out = Vec::new();
        quote(b"a\nb\r\t\x07\x08\"\\\x01\xff\xc3\xa9 ~", &mut out);
        assert_eq!(out, b"\"a\\nb\\r\\t\\a\\b\\\"\\\\\\x01\\xff\\xc3\\xa9 ~\"".to_vec());
    }

    #[test]
    fn scalars_print_as_redis_cli_prints_them() {
        // One reply of each scalar type, in both modes.
        assert_eq!(standard(&Frame::simple("OK")), "OK\n");
        assert_eq!(standard(&Frame::Integer(-5)), "(integer) -5\n");
        assert_eq!(standard(&Frame::Null), "(nil)\n");
        assert_eq!(standard(&Frame::Error("ERR bad".to_owned())), "(error) ERR bad\n");
        assert_eq!(standard(&Frame::Double(1.5)), "(double) 1.5\n");
        assert_eq!(standard(&Frame::Double(f64::NEG_INFINITY)), "(double) -inf\n");
        assert_eq!(standard(&Frame::Boolean(true)), "(true)\n");
        assert_eq!(standard(&Frame::Verbatim { format: *b"txt", text: Bytes::from("a\nb") }), "a\nb\n");
        assert_eq!(raw_text(&bulk("v")), "v\n");
        assert_eq!(raw_text(&Frame::Null), "\n");
        assert_eq!(raw_text(&Frame::Integer(3)), "3\n");
        assert_eq!(raw_text(&Frame::Error("ERR bad".to_owned())), "ERR bad\n\n");
        assert_eq!(raw_text(&Frame::Boolean(false)), "(false)\n");
    }

    #[test]
    fn nested_aggregates_are_numbered_and_indented() {
        // A SCAN-shaped reply with ten keys: the inner indexes are padded to two digits and the
        // inner lines indented past the outer index.
        let keys = (1..=10).map(|i| bulk(&format!("k{i}"))).collect();
        let reply = Frame::Array(vec![bulk("0"), Frame::Array(keys)]);
        let text = standard(&reply);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "1) \"0\"");
        assert_eq!(lines[1], "2)  1) \"k1\"");
        assert_eq!(lines[2], "    2) \"k2\"");
        assert_eq!(lines[10], "   10) \"k10\"");
        assert_eq!(raw_text(&reply), "0\nk1\nk2\nk3\nk4\nk5\nk6\nk7\nk8\nk9\nk10\n");
        assert_eq!(standard(&Frame::Array(vec![])), "(empty array)\n");
        assert_eq!(standard(&Frame::Set(vec![])), "(empty set)\n");
        assert_eq!(standard(&Frame::Map(vec![])), "(empty hash)\n");
    }

    #[test]
    fn maps_put_multiline_values_on_their_own_lines() {
        // HELLO-shaped map: scalars follow the arrow; a value of several lines starts on the
        // next line, indented like its items.
        let reply = Frame::Map(vec![
            (bulk("server"), bulk("redraft")),
            (bulk("proto"), Frame::Integer(3)),
            (bulk("modules"), Frame::Array(vec![])),
            (bulk("flags"), Frame::Set(vec![bulk("a"), bulk("b")])),
        ]);
        assert_eq!(
            standard(&reply),
            "1# \"server\" => \"redraft\"\n2# \"proto\" => (integer) 3\n3# \"modules\" => (empty array)\n\
             4# \"flags\" => \n   1~ \"a\"\n   2~ \"b\"\n"
        );
        assert_eq!(raw_text(&reply), "server redraft\nproto 3\nmodules \nflags a\nb\n");
    }
}
