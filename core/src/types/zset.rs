//! Redis's sorted set: members with scores, ordered by score and then by member bytes.
//!
//! # Structure and what a member costs
//! A B-tree of `(score, member)` gives the order (O(log N) to add, remove or find where a score
//! range starts), and a hash map from member to score answers ZSCORE in O(1). The member's bytes
//! are held twice, once in each, as elements (16 bytes, holding up to 15 inline, `element.rs`).
//! A member of up to 15 bytes costs its map entry (24, plus 10 to 20 of index) and its B-tree
//! element (24, at about two thirds fill so some 36); a longer one adds two allocations of its
//! bytes. Measured (`benches/compare/type_memory.sh`, 1M members `member:%08d`): 88 bytes a
//! member by MEMORY USAGE, where Redis 7's skiplist encoding costs 117 (a skiplist node of 32 to
//! 48 bytes, a dictEntry of 24, a bucket of 8 and an sds).
//!
//! A small sorted set (up to [`SMALL_MEMBERS_MAX`] members of up to [`SMALL_BYTES_MAX`] bytes,
//! Redis's `zset-max-listpack-entries` and `-value`) is kept instead as one vector of (score,
//! member) in order: 24 bytes a member of up to 15 bytes, found by a scan and placed by a binary
//! search, as Redis keeps one in a listpack (O(N) on at most 128). Measured (10 members `m0`..,
//! MEMORY USAGE of one key): 379 bytes in redraft, 128 in Redis. One that grows
//! past either bound takes the large form for good, as Redis's does; order and replies are the
//! same in either form.
//!
//! Ranks (ZRANK, ZRANGE by index) walk the B-tree from one end: O(rank), where Redis's skiplist
//! spans make them O(log N). Score ranges are O(log N + M) as in Redis.

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::hash::BuildHasherDefault;
use std::ops::Bound;

use hashbrown::HashMap;
use serde::{Deserialize, Serialize};

use super::{element, element_bytes, Element};

/// A score: never NaN (every command refuses one), so scores are totally ordered. Minus and
/// plus zero are equal, as Redis compares them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Score(pub f64);

impl Eq for Score {}

impl PartialOrd for Score {
    fn partial_cmp(&self, other: &Score) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Score {
    fn cmp(&self, other: &Score) -> Ordering {
        self.0.partial_cmp(&other.0).unwrap_or_else(|| unreachable!("a NaN score was stored"))
    }
}

type Scores = HashMap<Element, Score, BuildHasherDefault<ahash::AHasher>>;

/// Most members a sorted set keeps in its small form (Redis's `zset-max-listpack-entries`).
pub const SMALL_MEMBERS_MAX: usize = 128;

/// Longest member a sorted set keeps in its small form (Redis's `zset-max-listpack-value`).
pub const SMALL_BYTES_MAX: usize = 64;

/// A sorted set, in one of two forms with the same order and the same answers.
#[derive(Clone, Debug)]
pub struct ZSet {
    form: Form,
    /// Invariant: the sum of `element_bytes` of every member held (twice for the large form,
    /// which holds each member twice).
    element_bytes: usize,
}

#[derive(Clone, Debug)]
enum Form {
    /// Members in order, each with its score: found by a scan (O(N) on at most 128), placed by
    /// a binary search.
    Small(Vec<(Score, Element)>),
    Large {
        /// Boxed, so that a small sorted set's handle stays small.
        scores: Box<Scores>,
        order: BTreeSet<(Score, Element)>,
    },
}

impl Default for ZSet {
    fn default() -> ZSet {
        ZSet { form: Form::Small(Vec::new()), element_bytes: 0 }
    }
}

/// Two sorted sets are equal when they hold the same members with the same scores, whatever
/// their form.
impl PartialEq for ZSet {
    fn eq(&self, other: &ZSet) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for ZSet {}

/// One end of a score range, as ZRANGEBYSCORE reads it (`(1.5` excludes 1.5).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScoreBound {
    pub score: f64,
    pub exclusive: bool,
}

/// One end of a member range, as ZRANGEBYLEX reads it: `-` and `+` are the ends, `[a` includes
/// `a`, `(a` excludes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LexBound {
    Min,
    Max,
    Inclusive(bytes::Bytes),
    Exclusive(bytes::Bytes),
}

impl ZSet {
    pub fn len(&self) -> usize {
        match &self.form {
            Form::Small(members) => members.len(),
            Form::Large { scores, .. } => scores.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Where `member` is in a small form.
    fn position(members: &[(Score, Element)], member: &[u8]) -> Option<usize> {
        members.iter().position(|(_, m)| &**m == member)
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match &self.form {
            Form::Small(members) => ZSet::position(members, member).map(|at| members[at].0 .0),
            Form::Large { scores, .. } => scores.get(member).map(|score| score.0),
        }
    }

    /// Sets `member`'s score; returns its old score, if it had one.
    ///
    /// # Panics
    /// If `score` is NaN: callers refuse such a score first.
    pub fn insert(&mut self, member: &[u8], score: f64) -> Option<f64> {
        assert!(!score.is_nan(), "a NaN score");
        if let Form::Small(members) = &mut self.form {
            let at = ZSet::position(members, member);
            if member.len() <= SMALL_BYTES_MAX && (at.is_some() || members.len() < SMALL_MEMBERS_MAX) {
                let previous = at.map(|at| members.remove(at));
                let element = match &previous {
                    Some((_, element)) => element.clone(),
                    None => {
                        self.element_bytes += element_bytes(member);
                        element(member)
                    }
                };
                let place = members.partition_point(|(s, m)| (*s, &**m) < (Score(score), member));
                if previous.is_none() && members.len() == members.capacity() {
                    // A quarter more at a time: a small sorted set keeps little spare room.
                    members.reserve_exact(members.len() / 4 + 1);
                }
                members.insert(place, (Score(score), element));
                return previous.map(|(s, _)| s.0);
            }
            self.grow();
        }
        let Form::Large { scores, order } = &mut self.form else { unreachable!("grown just above") };
        match scores.get_mut(member) {
            Some(old) => {
                let previous = old.0;
                if previous != score || previous.is_sign_negative() != score.is_sign_negative() {
                    *old = Score(score);
                    let taken = order.take(&(Score(previous), element(member))).expect("in both");
                    order.insert((Score(score), taken.1));
                }
                Some(previous)
            }
            None => {
                self.element_bytes += 2 * element_bytes(member);
                scores.insert(element(member), Score(score));
                order.insert((Score(score), element(member)));
                None
            }
        }
    }

    /// Turns the small form into the large one.
    fn grow(&mut self) {
        let Form::Small(members) = &mut self.form else { return };
        let members = std::mem::take(members);
        let mut scores = Scores::with_capacity_and_hasher(members.len() + 1, Default::default());
        let mut bytes = 0;
        for (score, member) in &members {
            bytes += 2 * element_bytes(member);
            scores.insert(member.clone(), *score);
        }
        self.form = Form::Large { scores: Box::new(scores), order: members.into_iter().collect() };
        self.element_bytes = bytes;
    }

    /// Removes `member`; returns whether it was there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match &mut self.form {
            Form::Small(members) => {
                let Some(at) = ZSet::position(members, member) else { return false };
                let (_, member) = members.remove(at);
                self.element_bytes -= element_bytes(&member);
            }
            Form::Large { scores, order } => {
                let Some((member, score)) = scores.remove_entry(member) else { return false };
                order.remove(&(score, member.clone()));
                self.element_bytes -= 2 * element_bytes(&member);
            }
        }
        true
    }

    /// Members and scores in order, lowest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&[u8], f64)> {
        let (small, large) = match &self.form {
            Form::Small(members) => (Some(members.iter()), None),
            Form::Large { order, .. } => (None, Some(order.iter())),
        };
        let members = small.into_iter().flatten().chain(large.into_iter().flatten());
        members.map(|(score, member)| (&**member, score.0))
    }

    /// The rank of `member` from the lowest (0-based), if it is there: O(rank).
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        match &self.form {
            Form::Small(members) => ZSet::position(members, member),
            Form::Large { order, .. } => {
                let score = self.score(member)?;
                Some(order.range(..(Score(score), element(member))).count())
            }
        }
    }

    /// The members whose scores lie between `min` and `max`, lowest first.
    pub fn by_score(
        &self,
        min: ScoreBound,
        max: ScoreBound,
    ) -> impl DoubleEndedIterator<Item = (&[u8], f64)> {
        let (small, large) = match &self.form {
            Form::Small(members) => {
                let start =
                    members.partition_point(
                        |(s, _)| if min.exclusive { s.0 <= min.score } else { s.0 < min.score },
                    );
                let end =
                    members.partition_point(
                        |(s, _)| if max.exclusive { s.0 < max.score } else { s.0 <= max.score },
                    );
                (Some(members[start..end.max(start)].iter()), None)
            }
            Form::Large { order, .. } => (None, Some(large_by_score(order, min, max))),
        };
        let members = small.into_iter().flatten().chain(large.into_iter().flatten());
        members.map(|(score, member)| (&**member, score.0))
    }

    /// The members between `min` and `max` in member order, in set order (meaningful when every
    /// score is equal, as Redis asks of the BYLEX commands): O(N).
    pub fn by_lex<'a>(
        &'a self,
        min: &'a LexBound,
        max: &'a LexBound,
    ) -> impl DoubleEndedIterator<Item = (&'a [u8], f64)> {
        self.iter().filter(move |(member, _)| above(member, min) && below(member, max))
    }

    /// About the bytes the sorted set has asked the allocator for (see the module's notes).
    pub fn allocated_bytes(&self) -> usize {
        let held = match &self.form {
            Form::Small(members) => members.capacity() * size_of::<(Score, Element)>(),
            Form::Large { scores, order } => {
                let map = scores.capacity() * (size_of::<Element>() + size_of::<Score>() + 1) * 8 / 7;
                let tree = order.len() * size_of::<(Score, Element)>() * 3 / 2;
                size_of::<Scores>() + map + tree
            }
        };
        held + self.element_bytes
    }

    /// Whether the sorted set is in its small form (OBJECT ENCODING says `listpack`).
    pub fn is_small(&self) -> bool {
        matches!(self.form, Form::Small(_))
    }
}

/// The large form's members whose scores lie between `min` and `max`: O(log N) to the first.
fn large_by_score(
    order: &BTreeSet<(Score, Element)>,
    min: ScoreBound,
    max: ScoreBound,
) -> impl DoubleEndedIterator<Item = &(Score, Element)> {
    let empty = Element::default;
    let lower = match (min.exclusive, min.score) {
        (true, s) if s == f64::INFINITY => None,
        (true, s) => Some(Bound::Included((Score(s.next_up()), empty()))),
        (false, s) => Some(Bound::Included((Score(s), empty()))),
    };
    let upper = match (max.exclusive, max.score) {
        (false, s) if s == f64::INFINITY => Some(Bound::Unbounded),
        (false, s) => Some(Bound::Excluded((Score(s.next_up()), empty()))),
        (true, s) => Some(Bound::Excluded((Score(s), empty()))),
    };
    let range = match (lower, upper) {
        (Some(lower), Some(upper)) if bounds_ordered(&lower, &upper) => Some(order.range((lower, upper))),
        _ => None,
    };
    range.into_iter().flatten()
}

/// Whether a range from `lower` to `upper` is not inverted (a `BTreeSet` range panics on one).
fn bounds_ordered(lower: &Bound<(Score, Element)>, upper: &Bound<(Score, Element)>) -> bool {
    match (lower, upper) {
        (Bound::Included(low), Bound::Excluded(high)) => low <= high,
        _ => true,
    }
}

fn above(member: &[u8], min: &LexBound) -> bool {
    match min {
        LexBound::Min => true,
        LexBound::Max => false,
        LexBound::Inclusive(bound) => member >= &bound[..],
        LexBound::Exclusive(bound) => member > &bound[..],
    }
}

fn below(member: &[u8], max: &LexBound) -> bool {
    match max {
        LexBound::Min => false,
        LexBound::Max => true,
        LexBound::Inclusive(bound) => member <= &bound[..],
        LexBound::Exclusive(bound) => member < &bound[..],
    }
}

/// Formats a score as Redis 7.0's `d2string` does: integers up to 2^52 in plain digits, `inf`
/// and `-inf`, `-0` for minus zero, anything else as C's `%.17g`.
pub fn format_score(score: f64) -> String {
    if score.is_infinite() {
        return if score < 0.0 { "-inf" } else { "inf" }.to_owned();
    }
    if score == 0.0 {
        return if score.is_sign_negative() { "-0" } else { "0" }.to_owned();
    }
    if score > -4_503_599_627_370_495.0 && score < 4_503_599_627_370_496.0 && score == score.trunc() {
        return format!("{}", score as i64);
    }
    // `%.17g`: 17 significant digits, trailing zeros dropped, an exponent below 1e-4 or from 1e17.
    let scientific = format!("{score:.16e}");
    let (mantissa, exponent) = scientific.split_once('e').expect("an exponent");
    let exponent: i32 = exponent.parse().expect("a number");
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let sign = if negative { "-" } else { "" };
    if !(-4..17).contains(&exponent) {
        let (first, rest) = digits.split_at(1);
        let rest = rest.trim_end_matches('0');
        let point = if rest.is_empty() { String::new() } else { format!(".{rest}") };
        let exponent_sign = if exponent < 0 { '-' } else { '+' };
        return format!("{sign}{first}{point}e{exponent_sign}{:02}", exponent.abs());
    }
    let text = if exponent >= 0 {
        let (whole, fraction) = digits.split_at(exponent as usize + 1);
        let fraction = fraction.trim_end_matches('0');
        if fraction.is_empty() {
            whole.to_owned()
        } else {
            format!("{whole}.{fraction}")
        }
    } else {
        let zeros = "0".repeat((-exponent - 1) as usize);
        format!("0.{zeros}{}", digits.trim_end_matches('0'))
    };
    format!("{sign}{text}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `%.17g` as C prints it, checked against values whose C output is known.
    #[test]
    fn scores_print_as_redis_prints_them() {
        assert_eq!(format_score(1.5), "1.5");
        assert_eq!(format_score(0.1), "0.10000000000000001");
        assert_eq!(format_score(3.0), "3");
        assert_eq!(format_score(-2.25), "-2.25");
        assert_eq!(format_score(1e20), "1e+20");
        assert_eq!(format_score(1.5e-7), "1.4999999999999999e-07");
        assert_eq!(format_score(0.0001), "0.0001");
        assert_eq!(format_score(-0.0), "-0");
        assert_eq!(format_score(f64::NEG_INFINITY), "-inf");
        assert_eq!(format_score(4_503_599_627_370_496.0), "4503599627370496");
        assert_eq!(format_score(123_456_789.123), "123456789.123");
    }

    /// Order is by score, then member; ranges by score honour exclusive ends and infinities.
    #[test]
    fn order_ranks_and_score_ranges() {
        let mut zset = ZSet::default();
        for (member, score) in [("c", 1.0), ("a", 1.0), ("b", 2.0), ("d", f64::INFINITY), ("e", -0.5)] {
            assert_eq!(zset.insert(member.as_bytes(), score), None);
        }
        let order: Vec<&[u8]> = zset.iter().map(|(m, _)| m).collect();
        assert_eq!(order, vec![&b"e"[..], b"a", b"c", b"b", b"d"]);
        assert_eq!(zset.rank(b"b"), Some(3));
        assert_eq!(zset.insert(b"a", 3.0), Some(1.0));
        assert_eq!(zset.rank(b"a"), Some(3));
        let range = |min, min_ex, max, max_ex| -> Vec<&[u8]> {
            let (min, max) =
                (ScoreBound { score: min, exclusive: min_ex }, ScoreBound { score: max, exclusive: max_ex });
            zset.by_score(min, max).map(|(m, _)| m).collect()
        };
        assert_eq!(range(1.0, false, 2.0, false), vec![&b"c"[..], b"b"]);
        assert_eq!(range(1.0, true, 3.0, true), vec![&b"b"[..]]);
        assert_eq!(range(f64::NEG_INFINITY, false, f64::INFINITY, false).len(), 5);
        assert_eq!(range(f64::INFINITY, false, f64::INFINITY, false), vec![&b"d"[..]]);
        assert_eq!(range(f64::INFINITY, true, f64::INFINITY, false), Vec::<&[u8]>::new());
        assert_eq!(range(3.0, false, 1.0, false), Vec::<&[u8]>::new());
        assert!(zset.remove(b"a") && !zset.remove(b"a"));
        assert_eq!(zset.len(), 4);
    }

    fn bound(score: f64, exclusive: bool) -> ScoreBound {
        ScoreBound { score, exclusive }
    }

    /// Both forms answer alike, and the small one becomes the large one past its bounds.
    #[test]
    fn the_small_form_answers_as_the_large_one() {
        let mut small = ZSet::default();
        let mut large = ZSet::default();
        large.insert(&[b'x'; SMALL_BYTES_MAX + 1], 0.0);
        assert!(!large.is_small());
        large.remove(&[b'x'; SMALL_BYTES_MAX + 1]);
        for (i, score) in [3.0, -1.0, 3.0, 0.0, -0.0, 7.5, f64::INFINITY, 3.0].iter().enumerate() {
            let member = format!("m{}", i % 6);
            assert_eq!(small.insert(member.as_bytes(), *score), large.insert(member.as_bytes(), *score));
        }
        assert!(small.is_small());
        assert_eq!(small, large);
        assert!(small.iter().eq(large.iter()));
        for (min, max) in [
            (bound(0.0, false), bound(3.0, false)),
            (bound(0.0, true), bound(3.0, true)),
            (bound(f64::NEG_INFINITY, false), bound(f64::INFINITY, false)),
            (bound(5.0, false), bound(1.0, false)),
        ] {
            assert!(small.by_score(min, max).eq(large.by_score(min, max)), "{min:?} {max:?}");
            assert!(small.by_score(min, max).rev().eq(large.by_score(min, max).rev()));
        }
        for i in 0..7 {
            let member = format!("m{i}");
            assert_eq!(small.rank(member.as_bytes()), large.rank(member.as_bytes()));
            assert_eq!(small.score(member.as_bytes()), large.score(member.as_bytes()));
            assert_eq!(small.remove(member.as_bytes()), large.remove(member.as_bytes()));
            assert_eq!(small, large);
        }
        for i in 0..=SMALL_MEMBERS_MAX {
            small.insert(format!("n{i}").as_bytes(), (i % 5) as f64);
        }
        assert!(!small.is_small(), "past 128 members");
    }
}
