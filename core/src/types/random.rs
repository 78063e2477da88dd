//! Randomness for SPOP, SRANDMEMBER, HRANDFIELD, ZRANDMEMBER and RANDOMKEY. Core holds no source
//! of randomness: the server draws a seed for each such command when it parses it, the seed
//! travels with the command (in the log, for SPOP), and every replica that applies it draws the
//! same numbers from it, so all pop the same members.

/// splitmix64: a small generator whose whole state is the seed; good enough to pick elements.
pub(crate) struct Random(u64);

impl Random {
    pub(crate) fn new(seed: u64) -> Random {
        Random(seed)
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number below `n` (which is not 0).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next()) * n as u128) >> 64) as usize
    }
}

/// Positions for a pick of `count` among `len` elements, as the commands with a count take them:
/// a positive count picks distinct elements (all of them, in order, when it is at least `len`),
/// a negative one picks `-count` elements that may repeat.
pub(crate) fn pick(len: usize, count: i64, random: &mut Random) -> Vec<usize> {
    if len == 0 || count == 0 {
        return Vec::new();
    }
    if count < 0 {
        return (0..count.unsigned_abs()).map(|_| random.below(len)).collect();
    }
    let count = usize::try_from(count).unwrap_or(usize::MAX);
    if count >= len {
        return (0..len).collect();
    }
    // Floyd's algorithm: `count` distinct positions in O(count).
    let mut chosen = std::collections::BTreeSet::new();
    let mut order = Vec::with_capacity(count);
    for top in len - count..len {
        let candidate = random.below(top + 1);
        let position = if chosen.insert(candidate) { candidate } else { top };
        chosen.insert(position);
        order.push(position);
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Distinct picks are distinct and in range; repeats are allowed only for a negative count;
    /// the same seed picks the same.
    #[test]
    fn picks_follow_the_count_rules() {
        for seed in 0..50 {
            let distinct = pick(10, 4, &mut Random::new(seed));
            let mut sorted = distinct.clone();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted.len(), 4);
            assert!(distinct.iter().all(|p| *p < 10));
            assert_eq!(distinct, pick(10, 4, &mut Random::new(seed)));
            assert_eq!(pick(10, 20, &mut Random::new(seed)), (0..10).collect::<Vec<_>>());
            let repeats = pick(3, -30, &mut Random::new(seed));
            assert_eq!(repeats.len(), 30);
            assert!(repeats.iter().all(|p| *p < 3));
        }
        assert!(pick(0, 5, &mut Random::new(1)).is_empty());
        assert!(pick(5, 0, &mut Random::new(1)).is_empty());
    }
}
