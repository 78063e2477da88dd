//! Glob patterns for KEYS and SCAN MATCH, with Redis's `stringmatchlen` rules.
//!
//! `*` matches any run of bytes, `?` one byte, `[abc]`, `[^abc]` and `[a-z]` one byte from a set
//! (a reversed range such as `[z-a]` means the same as `[a-z]`, and an unclosed `[` runs to the end
//! of the pattern), and `\x` the byte `x` itself. Matching is on bytes and case-sensitive.
//!
//! Redis matches recursively; this matcher backtracks only to the last `*`, which is enough
//! because `*` is the only token that matches a variable length, and makes every match
//! O(pattern × subject) instead of exponential.

/// Whether `subject` matches the glob `pattern`.
pub fn matches(pattern: &[u8], subject: &[u8]) -> bool {
    let (mut p, mut s) = (0, 0);
    // Where to resume after the last `*`: the pattern position after it, and the subject position
    // it has swallowed up to.
    let mut resume: Option<(usize, usize)> = None;
    loop {
        if p < pattern.len() && pattern[p] == b'*' {
            while p < pattern.len() && pattern[p] == b'*' {
                p += 1;
            }
            if p == pattern.len() {
                return true;
            }
            resume = Some((p, s));
            continue;
        }
        if s == subject.len() {
            // Only trailing stars could still match the empty rest, and they were handled above.
            return p == pattern.len();
        }
        if p < pattern.len() {
            if let Some(next) = match_one(pattern, p, subject[s]) {
                p = next;
                s += 1;
                continue;
            }
        }
        match resume {
            Some((star_p, star_s)) => {
                p = star_p;
                s = star_s + 1;
                resume = Some((star_p, star_s + 1));
            }
            None => return false,
        }
    }
}

/// Matches one non-star token starting at `pattern[p]` against `byte`; returns the position after
/// the token when it matches.
fn match_one(pattern: &[u8], p: usize, byte: u8) -> Option<usize> {
    match pattern[p] {
        b'?' => Some(p + 1),
        b'\\' if p + 1 < pattern.len() => (pattern[p + 1] == byte).then_some(p + 2),
        b'[' => match_class(pattern, p + 1, byte),
        literal => (literal == byte).then_some(p + 1),
    }
}

/// Matches a `[...]` class whose body starts at `p`; returns the position after the closing `]`
/// (or the pattern's end, when the class is unclosed).
fn match_class(pattern: &[u8], mut p: usize, byte: u8) -> Option<usize> {
    let negate = pattern.get(p) == Some(&b'^');
    if negate {
        p += 1;
    }
    let mut found = false;
    loop {
        match pattern.get(p) {
            None => break,
            Some(b']') => {
                p += 1;
                break;
            }
            Some(b'\\') if p + 1 < pattern.len() => {
                found |= pattern[p + 1] == byte;
                p += 2;
            }
            Some(&low) if p + 2 < pattern.len() && pattern[p + 1] == b'-' => {
                let high = pattern[p + 2];
                let (low, high) = if low <= high { (low, high) } else { (high, low) };
                found |= (low..=high).contains(&byte);
                p += 3;
            }
            Some(&literal) => {
                found |= literal == byte;
                p += 1;
            }
        }
    }
    (found != negate).then_some(p)
}

#[cfg(test)]
mod tests {
    use super::matches;
    use proptest::prelude::*;

    /// The cases from Redis's own `keyspace` tests and documentation, plus edge cases of classes.
    #[test]
    fn patterns_match_as_redis_does() {
        let cases: &[(&str, &str, bool)] = &[
            ("*", "", true),
            ("*", "anything", true),
            ("h?llo", "hello", true),
            ("h?llo", "hllo", false),
            ("h*llo", "hllo", true),
            ("h*llo", "heeeello", true),
            ("h[ae]llo", "hello", true),
            ("h[ae]llo", "hillo", false),
            ("h[^e]llo", "hallo", true),
            ("h[^e]llo", "hello", false),
            ("h[a-b]llo", "hbllo", true),
            ("h[b-a]llo", "hallo", true),
            ("h[a-b]llo", "hcllo", false),
            ("h\\*llo", "h*llo", true),
            ("h\\*llo", "hello", false),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("*a", "bbba", true),
            ("*a", "bbbab", false),
            ("user:*", "user:1", true),
            ("user:*", "use", false),
            ("[abc", "b", true),
            ("[\\]]", "]", true),
            ("", "", true),
            ("", "a", false),
            ("a", "", false),
            ("**a**", "a", true),
        ];
        for &(pattern, subject, expected) in cases {
            assert_eq!(
                matches(pattern.as_bytes(), subject.as_bytes()),
                expected,
                "{pattern:?} against {subject:?}"
            );
        }
    }

    /// A naive recursive matcher for patterns of literals, `?` and `*`; the iterative matcher
    /// must agree with it on every input.
    fn reference(pattern: &[u8], subject: &[u8]) -> bool {
        match pattern.split_first() {
            None => subject.is_empty(),
            Some((b'*', rest)) => (0..=subject.len()).any(|skip| reference(rest, &subject[skip..])),
            Some((b'?', rest)) => !subject.is_empty() && reference(rest, &subject[1..]),
            Some((&c, rest)) => subject.first() == Some(&c) && reference(rest, &subject[1..]),
        }
    }

    proptest! {
        /// Random patterns over a small alphabet agree with the recursive reference.
        #[test]
        fn iterative_matcher_agrees_with_recursion(
            pattern in "[ab?*]{0,8}",
            subject in "[ab]{0,10}",
        ) {
            prop_assert_eq!(
                matches(pattern.as_bytes(), subject.as_bytes()),
                reference(pattern.as_bytes(), subject.as_bytes())
            );
        }

        /// Arbitrary bytes as pattern and subject never panic.
        #[test]
        fn arbitrary_patterns_never_panic(
            pattern in proptest::collection::vec(any::<u8>(), 0..32),
            subject in proptest::collection::vec(any::<u8>(), 0..32),
        ) {
            let _ = matches(&pattern, &subject);
        }
    }
}
