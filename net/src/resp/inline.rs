//! Inline commands: a request sent as one line of text (`SET k v`, as `telnet` or a shell pipe
//! sends it), split into arguments as Redis's `sdssplitargs` splits it.

use bytes::Bytes;

use super::ProtocolError;

/// Splits an inline command line as Redis's `sdssplitargs` does: arguments separated by
/// whitespace, `"..."` with backslash escapes (`\n \r \t \b \a \\ \" \xHH`), `'...'` with only
/// `\'` escaped; a closing quote must be followed by whitespace or the end.
///
/// # Errors
/// `unbalanced quotes in request` for an unterminated or badly closed quote.
pub fn split_inline(line: &[u8]) -> Result<Vec<Bytes>, ProtocolError> {
    let unbalanced = || ProtocolError::new("unbalanced quotes in request");
    let mut args = Vec::new();
    let mut i = 0;
    loop {
        while i < line.len() && line[i].is_ascii_whitespace() {
            i += 1;
        }
        if i == line.len() {
            return Ok(args);
        }
        let mut current = Vec::new();
        let mut in_double = false;
        let mut in_single = false;
        loop {
            if in_double {
                let Some(&c) = line.get(i) else { return Err(unbalanced()) };
                if c == b'\\'
                    && i + 3 < line.len()
                    && line[i + 1] == b'x'
                    && is_hex_pair(line[i + 2], line[i + 3])
                {
                    current.push(hex_value(line[i + 2]) * 16 + hex_value(line[i + 3]));
                    i += 3;
                } else if c == b'\\' && i + 1 < line.len() {
                    i += 1;
                    current.push(match line[i] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        other => other,
                    });
                } else if c == b'"' {
                    i = after_closing_quote(line, i)?;
                    break;
                } else {
                    current.push(c);
                }
            } else if in_single {
                let Some(&c) = line.get(i) else { return Err(unbalanced()) };
                if c == b'\\' && line.get(i + 1) == Some(&b'\'') {
                    i += 1;
                    current.push(b'\'');
                } else if c == b'\'' {
                    i = after_closing_quote(line, i)?;
                    break;
                } else {
                    current.push(c);
                }
            } else {
                match line.get(i) {
                    None => break,
                    Some(c) if c.is_ascii_whitespace() => break,
                    Some(b'"') => in_double = true,
                    Some(b'\'') => in_single = true,
                    Some(&c) => current.push(c),
                }
            }
            i += 1;
        }
        args.push(Bytes::from(current));
    }
}

/// The position after a closing quote at `quote`, which must be followed by whitespace or the end.
fn after_closing_quote(line: &[u8], quote: usize) -> Result<usize, ProtocolError> {
    match line.get(quote + 1) {
        Some(next) if !next.is_ascii_whitespace() => Err(ProtocolError::new("unbalanced quotes in request")),
        _ => Ok(quote + 1),
    }
}

fn is_hex_pair(a: u8, b: u8) -> bool {
    a.is_ascii_hexdigit() && b.is_ascii_hexdigit()
}

fn hex_value(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => c - b'A' + 10,
    }
}
