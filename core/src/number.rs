//! Redis's rules for strings that hold numbers: which strings are integers and floats, and how
//! results are printed.
//!
//! INCR accepts exactly what Redis's `string2ll` accepts: an optional `-`, no `+`, no spaces, no
//! leading zeros, at most 20 characters, within `i64`. INCRBYFLOAT parses like `strtold` minus
//! leading spaces and NaN.
//!
//! One deliberate difference: Redis computes INCRBYFLOAT in 80-bit `long double` and prints 17
//! decimals; we compute in `f64` and print the shortest text that reads back as the same `f64`.
//! The two agree on ordinary values (`10.5 + 0.1` is `10.6` in both) and differ in the last
//! digits where binary fractions show (`0.1 + 0.2` is `0.30000000000000004` here, `0.3` in Redis).

/// Parses a Redis integer, strictly as `string2ll` does.
pub fn parse_i64(bytes: &[u8]) -> Option<i64> {
    if bytes.is_empty() || bytes.len() > 20 {
        return None;
    }
    if bytes == b"0" {
        return Some(0);
    }
    let (negative, digits) = match bytes[0] {
        b'-' => (true, &bytes[1..]),
        _ => (false, bytes),
    };
    // No leading zero (so no "-0" either), at least one digit, digits only.
    match digits.first() {
        Some(b'1'..=b'9') => {}
        _ => return None,
    }
    let mut magnitude: u64 = 0;
    for &digit in digits {
        if !digit.is_ascii_digit() {
            return None;
        }
        magnitude = magnitude.checked_mul(10)?.checked_add(u64::from(digit - b'0'))?;
    }
    if negative {
        if magnitude > i64::MAX as u64 + 1 {
            return None;
        }
        Some((magnitude as i64).wrapping_neg())
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// Parses an unsigned 64-bit integer (SCAN cursors), with the same strictness.
pub fn parse_u64(bytes: &[u8]) -> Option<u64> {
    if bytes.is_empty() || bytes.len() > 20 || (bytes.len() > 1 && bytes[0] == b'0') {
        return None;
    }
    let mut value: u64 = 0;
    for &digit in bytes {
        if !digit.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(u64::from(digit - b'0'))?;
    }
    Some(value)
}

/// Parses a Redis float for INCRBYFLOAT as Redis's `string2ld` does with `strtold`: no leading
/// space, nothing after the number, not NaN, hexadecimal floats (`0x10`, `0x1.8p3`) too, and a
/// finite number too large to hold is refused (`ERANGE`). Infinities spelled out parse, and the
/// caller refuses a non-finite result with Redis's error.
pub fn parse_f64(bytes: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(bytes).ok()?;
    if text.is_empty() || text.len() > 5000 || text.starts_with(|c: char| c.is_ascii_whitespace()) {
        return None;
    }
    let value: f64 = match text.parse() {
        Ok(value) => value,
        Err(_) => parse_hex_f64(text)?,
    };
    let spelled_infinite = text.trim_start_matches(['+', '-']).to_ascii_lowercase().starts_with("inf");
    (!value.is_nan() && (value.is_finite() || spelled_infinite)).then_some(value)
}

/// A C hexadecimal float: `[+-]0x` hex digits with an optional point, then an optional binary
/// exponent `p[+-]digits`.
fn parse_hex_f64(text: &str) -> Option<f64> {
    let (negative, rest) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let rest = rest.strip_prefix("0x").or_else(|| rest.strip_prefix("0X"))?;
    let (mantissa, exponent) = match rest.find(['p', 'P']) {
        Some(at) => (&rest[..at], Some(&rest[at + 1..])),
        None => (rest, None),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if whole.is_empty() && fraction.is_empty() {
        return None;
    }
    let mut value = 0f64;
    for digit in whole.chars().chain(fraction.chars()) {
        value = value * 16.0 + f64::from(digit.to_digit(16)?);
    }
    let exponent: i32 = match exponent {
        Some(text) if text.trim_start_matches(['+', '-']).chars().all(|c| c.is_ascii_digit()) => {
            text.parse().ok()?
        }
        Some(_) => return None,
        None => 0,
    };
    let fraction_bits = i32::try_from(fraction.len()).ok()?.checked_mul(4)?;
    let value = value * 2f64.powi(exponent.checked_sub(fraction_bits)?);
    Some(if negative { -value } else { value })
}

/// Formats an integer as Redis stores the result of INCR.
pub fn format_i64(value: i64) -> bytes::Bytes {
    bytes::Bytes::from(value.to_string())
}

/// Formats the result of INCRBYFLOAT: plain decimal notation, no exponent, no trailing zeros.
///
/// # Panics
/// In debug builds, if `value` is not finite; callers refuse such results first.
pub fn format_f64(value: f64) -> bytes::Bytes {
    debug_assert!(value.is_finite(), "INCRBYFLOAT refuses non-finite results before formatting");
    // Rust's `Display` for f64 never uses an exponent and prints the shortest round-trip digits.
    let text = if value == 0.0 { "0".to_owned() } else { value.to_string() };
    bytes::Bytes::from(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The strings Redis's `string2ll` accepts and refuses, including the bounds of `i64`.
    #[test]
    fn integers_parse_as_string2ll_does() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"-1"), Some(-1));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [
            &b""[..],
            b"-",
            b"+1",
            b" 1",
            b"1 ",
            b"01",
            b"-0",
            b"1.0",
            b"9223372036854775808",
            b"-9223372036854775809",
            b"abc",
            b"123456789012345678901",
        ] {
            assert_eq!(parse_i64(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    /// Cursors are unsigned and as strict as integers.
    #[test]
    fn cursors_parse_unsigned() {
        assert_eq!(parse_u64(b"0"), Some(0));
        assert_eq!(parse_u64(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_u64(b"18446744073709551616"), None);
        assert_eq!(parse_u64(b"-1"), None);
        assert_eq!(parse_u64(b"007"), None);
    }

    /// Floats accept exponents and infinities, refuse NaN, spaces and trailing text.
    #[test]
    fn floats_parse_like_strtold_without_nan() {
        assert_eq!(parse_f64(b"5.0e3"), Some(5000.0));
        assert_eq!(parse_f64(b"-.5"), Some(-0.5));
        assert_eq!(parse_f64(b"inf"), Some(f64::INFINITY));
        assert_eq!(parse_f64(b"nan"), None);
        assert_eq!(parse_f64(b" 1"), None);
        assert_eq!(parse_f64(b"1x"), None);
        assert_eq!(parse_f64(b""), None);
        // strtold's hexadecimal floats, and its ERANGE for a number too large.
        assert_eq!(parse_f64(b"0x10"), Some(16.0));
        assert_eq!(parse_f64(b"-0x1.8p3"), Some(-12.0));
        assert_eq!(parse_f64(b"0X.8"), Some(0.5));
        assert_eq!(parse_f64(b"0x"), None);
        assert_eq!(parse_f64(b"0x1p"), None);
        assert_eq!(parse_f64(b"0xg"), None);
        assert_eq!(parse_f64(b"1e5000"), None);
    }

    /// Results print without exponent or trailing zeros, as Redis's human format does.
    #[test]
    fn floats_format_in_plain_decimal() {
        assert_eq!(format_f64(5200.0), "5200");
        assert_eq!(format_f64(10.6), "10.6");
        assert_eq!(format_f64(-0.0), "0");
        assert_eq!(format_f64(1e20), "100000000000000000000");
        assert_eq!(format_f64(3.0e-5), "0.00003");
    }
}
