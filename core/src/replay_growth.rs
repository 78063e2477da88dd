//! How a shard's table grows while a start replays the log its snapshot does not cover
//! (`Shard::insert_untracked`, `ShardedMap::expect_replay`).
//!
//! A table grows by doubling, and each doubling moves every key it holds (`Shard::grow`). A
//! start that replays a million new keys onto tables with no snapshot behind them (a crash
//! before the first snapshot) doubled each table a dozen times on the way. The node knows how
//! many writes the replay carries (it counts them before the replay starts), so a table that
//! fills during the replay grows at once for what the rest of the replay will add: the writes
//! left, times the share of the writes so far that added a key. A replay that overwrites keys
//! the snapshot holds adds none and grows nothing more than it did; one that adds a key per
//! write grows once.

/// The writes a shard sees before it trusts their share of new keys: a table the snapshot's load
/// left exactly full, whose first replayed write happened to add a key, would otherwise grow
/// for a replay of overwrites as if every write added one.
const SAMPLE_WRITES_MIN: usize = 100;

/// What a shard expects of the replay still to come, and what the replay did so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ReplayGrowth {
    /// The writes the replay is still expected to apply to the shard (its share of the log's).
    writes_left: usize,
    /// The writes applied so far.
    writes: usize,
    /// Of those, the ones that added a key.
    added: usize,
}

impl ReplayGrowth {
    /// A replay expected to apply `writes` writes to the shard.
    pub(crate) fn new(writes: usize) -> ReplayGrowth {
        ReplayGrowth { writes_left: writes, writes: 0, added: 0 }
    }

    /// The keys to make room for when the table is full: the writes left, in the proportion of
    /// the writes so far that added a key (none before [`SAMPLE_WRITES_MIN`] writes).
    pub(crate) fn room_wanted(&self) -> usize {
        if self.writes < SAMPLE_WRITES_MIN {
            return 0;
        }
        let wanted = self.writes_left as u128 * self.added as u128 / self.writes as u128;
        usize::try_from(wanted).unwrap_or(usize::MAX)
    }

    /// Counts one applied write, and whether it added a key.
    pub(crate) fn applied(&mut self, added: bool) {
        self.writes += 1;
        self.added += usize::from(added);
        self.writes_left = self.writes_left.saturating_sub(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The room asked for follows the share of writes that added keys, over the writes left.
    #[test]
    fn room_follows_the_share_of_writes_that_added_keys() {
        let mut growth = ReplayGrowth::new(1_000);
        assert_eq!(growth.room_wanted(), 0, "nothing is known before the first write");
        for i in 0..99 {
            growth.applied(i % 4 == 0);
        }
        assert_eq!(growth.room_wanted(), 0, "too few writes to go by");
        growth.applied(false);
        // 900 writes left, a quarter of the writes so far added a key.
        assert_eq!(growth.room_wanted(), 225);
        let mut overwriting = ReplayGrowth::new(1_000);
        (0..SAMPLE_WRITES_MIN).for_each(|_| overwriting.applied(false));
        assert_eq!(overwriting.room_wanted(), 0, "a replay of overwrites asks for no room");
        let mut done = ReplayGrowth::new(2);
        (0..SAMPLE_WRITES_MIN).for_each(|_| done.applied(true));
        assert_eq!(done.room_wanted(), 0, "more writes than expected leave none to make room for");
    }
}
