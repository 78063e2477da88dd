//! The one description of every command redraft serves: its name, Redis 7's arity, flags and key
//! positions (what `COMMAND INFO` reports), its group and summary (`COMMAND DOCS`), and the syntax
//! and summary `redraft-cli` shows as hints and `help`.
//!
//! Everything that needs to know about a command reads this table: the parser looks names and
//! arities up here ([`crate::command`]), the server answers `COMMAND` and labels its metrics from
//! it, and the CLI builds its hints from it. A data command's entry carries its [`CommandName`];
//! the connection and cluster commands the server answers itself (PING, MULTI, RAFT.ADD, ...)
//! carry none, and how they run lives in `redraft-server`'s `resp` module. Rendering an entry as
//! RESP frames is the server's (this crate knows no wire format).
//!
//! The table is plain data, so it lives in core next to the parser it must agree with. Data
//! commands come first, in [`CommandName`]'s order; a constant assertion below holds the table
//! to that, so a new [`CommandName`] variant without an entry does not compile.

mod aggregates;
mod more;
mod server;
mod strings;

use crate::command_name::CommandName;
pub use crate::command_spec::{CommandSpec, Flag, Usage};

impl CommandName {
    /// The lower-case name, as Redis spells it in replies and `INFO commandstats`.
    pub fn as_str(self) -> &'static str {
        self.spec().name
    }

    /// Looks a data command up by name, ignoring ASCII case.
    pub fn parse(name: &[u8]) -> Option<CommandName> {
        find(name).and_then(|spec| spec.data)
    }

    /// The command's entry in [`COMMANDS`].
    pub fn spec(self) -> &'static CommandSpec {
        // The data commands open the table in variant order, as a constant assertion below the
        // table checks when the crate compiles.
        &COMMANDS[self as usize]
    }
}

/// The spec of a command, by name in any ASCII case.
pub fn find(name: &[u8]) -> Option<&'static CommandSpec> {
    position(name).map(|at| &COMMANDS[at])
}

/// Whether a command of this name may block its client: its entry is flagged
/// [`Flag::Blocking`]. A name whose first letter begins no blocking command's is answered
/// without a lookup ([`BLOCKING_INITIALS`]): the RESP server asks this of every request before
/// it runs a pipeline, and a lookup cost GET and SET about 90 instructions (callgrind).
pub fn blocks(name: &[u8]) -> bool {
    let Some(&first) = name.first() else { return false };
    BLOCKING_INITIALS & (1 << (first & 0x1f)) != 0 && find(name).is_some_and(|spec| spec.has(Flag::Blocking))
}

/// The low five bits of every blocking command's first letter (a letter's in either case), as
/// a set of bits, built when the crate compiles.
const BLOCKING_INITIALS: u32 = {
    let mut initials = 0u32;
    let mut at = 0;
    while at < COMMANDS.len() {
        let mut flag = 0;
        while flag < COMMANDS[at].flags.len() {
            if matches!(COMMANDS[at].flags[flag], Flag::Blocking) {
                initials |= 1 << (COMMANDS[at].name.as_bytes()[0] & 0x1f);
            }
            flag += 1;
        }
        at += 1;
    }
    initials
};

/// Where a command is in [`COMMANDS`], by name in any ASCII case: compared with the few entries
/// of its length and first letter ([`INDEX`]), a name of up to 8 bytes as one word
/// ([`SHORT_NAMES`]). A request looks its name up twice (its metrics label, its parser; whether
/// it blocks, [`blocks`] answers without a lookup for most names); a scan of the table cost 70
/// to 140 instructions each for GET and SET (callgrind), a hash of the lower-cased name 175.
pub fn position(name: &[u8]) -> Option<usize> {
    let &first = name.first()?;
    let mut entries =
        INDEX[bucket(name.len(), first)].iter().take_while(|&&at| at != NO_ENTRY).map(|&at| usize::from(at));
    if name.len() <= 8 {
        // Every entry of the bucket has the name's length, so the zero padding matches too. The
        // word is gathered byte by byte: a copy into a zeroed array called `memcpy` (17
        // instructions of the lookup's 63).
        let word = name.iter().rev().fold(0u64, |word, &byte| word << 8 | u64::from(byte));
        entries.find(|&at| word | SHORT_NAMES[at].1 == SHORT_NAMES[at].0)
    } else {
        entries.find(|&at| COMMANDS[at].name.as_bytes().eq_ignore_ascii_case(name))
    }
}

/// Each entry's name, when at most 8 bytes, as a little-endian word, with the mask of its
/// letters' case bit: a name in any case, OR-ed with the mask, equals the word exactly when it
/// is the entry's name (the table's names are lower case; only letters' case is ignored).
static SHORT_NAMES: [(u64, u64); COUNT] = {
    let mut short = [(0, 0); COUNT];
    let mut at = 0;
    while at < COUNT {
        let name = COMMANDS[at].name.as_bytes();
        if name.len() <= 8 {
            let (mut word, mut mask, mut byte) = (0u64, 0u64, 0);
            while byte < name.len() {
                word |= (name[byte] as u64) << (8 * byte);
                if name[byte].is_ascii_lowercase() {
                    mask |= 0x20 << (8 * byte);
                }
                byte += 1;
            }
            short[at] = (word, mask);
        }
        at += 1;
    }
    short
};

/// Names of at least this many bytes share the last length of [`INDEX`].
const INDEX_LENGTHS: usize = 32;
/// Entries per bucket of [`INDEX`]; a table with a fuller bucket does not compile.
const BUCKET_ENTRIES: usize = 8;
const NO_ENTRY: u16 = u16::MAX;

/// The bucket of a name: its length and its first byte's low five bits (a letter's in either
/// case).
const fn bucket(len: usize, first: u8) -> usize {
    let len = if len < INDEX_LENGTHS { len } else { INDEX_LENGTHS - 1 };
    len * 32 + (first & 0x1f) as usize
}

/// The places of [`COMMANDS`]' entries by [`bucket`], in table order within each, built when
/// the crate compiles.
static INDEX: [[u16; BUCKET_ENTRIES]; INDEX_LENGTHS * 32] = {
    let mut index = [[NO_ENTRY; BUCKET_ENTRIES]; INDEX_LENGTHS * 32];
    assert!(COMMANDS.len() < NO_ENTRY as usize, "command places fit the index");
    let mut at = 0;
    while at < COMMANDS.len() {
        let name = COMMANDS[at].name.as_bytes();
        let bucket = bucket(name.len(), name[0]);
        let mut slot = 0;
        while index[bucket][slot] != NO_ENTRY {
            slot += 1;
            assert!(slot < BUCKET_ENTRIES, "a bucket of the command index is full: widen it");
        }
        index[bucket][slot] = at as u16;
        at += 1;
    }
    index
};

/// Every command, in the order `COMMAND` lists them: the data commands first, in
/// [`CommandName`]'s order, then the commands the server answers itself.
#[rustfmt::skip] // Laid out by hand: one entry per block, its CLI lines below its summary.
pub const COMMANDS: &[CommandSpec] = &ALL;

/// The parts of the table, in its order.
const PARTS: [&[CommandSpec]; 4] = [strings::SPECS, aggregates::SPECS, more::SPECS, server::SPECS];

const COUNT: usize = {
    let (mut count, mut part) = (0, 0);
    while part < PARTS.len() {
        count += PARTS[part].len();
        part += 1;
    }
    count
};

/// The parts joined, when the crate compiles. Only [`COMMANDS`] names it, so the table exists
/// once, as a promoted constant.
#[allow(clippy::large_const_arrays)]
const ALL: [CommandSpec; COUNT] = {
    let mut all = [PARTS[0][0]; COUNT];
    let (mut part, mut at) = (0, 0);
    while part < PARTS.len() {
        let mut index = 0;
        while index < PARTS[part].len() {
            all[at] = PARTS[part][index];
            at += 1;
            index += 1;
        }
        part += 1;
    }
    all
};

// The data commands lead `COMMANDS` in `CommandName::ALL`'s order and no other entry names one,
// so `CommandName::spec` can index the table and every variant has exactly one entry; a table
// that breaks this does not compile.
const _: () = {
    assert!(COMMANDS.len() >= CommandName::ALL.len(), "every CommandName has an entry");
    let mut index = 0;
    while index < COMMANDS.len() {
        match COMMANDS[index].data {
            Some(name) => assert!(name as usize == index, "data commands lead the table in variant order"),
            None => assert!(index >= CommandName::ALL.len(), "every CommandName has an entry"),
        }
        index += 1;
    }
};

#[cfg(test)]
mod tests {
    use super::*;

    /// Every command blocks exactly when its entry says so, by its name in either case; and the
    /// blocking commands are there to be found (BLPOP's initial is in the set).
    #[test]
    fn blocks_agrees_with_the_table() {
        for spec in COMMANDS {
            let blocking = spec.flags.contains(&Flag::Blocking);
            assert_eq!(blocks(spec.name.as_bytes()), blocking, "{}", spec.name);
            assert_eq!(blocks(spec.name.to_ascii_uppercase().as_bytes()), blocking, "{}", spec.name);
        }
        assert!(blocks(b"BLPOP") && !blocks(b"GET") && !blocks(b"") && !blocks(b"bnosuch"));
    }

    /// Every entry has a flag exactly when its list of flags holds it, and no flag shares a bit.
    #[test]
    fn flag_bits_agree_with_the_flags() {
        let all = [
            Flag::Write,
            Flag::ReadOnly,
            Flag::DenyOom,
            Flag::Fast,
            Flag::NoScript,
            Flag::Loading,
            Flag::Stale,
            Flag::Blocking,
            Flag::PubSub,
        ];
        assert_eq!(Flag::bits(&all).count_ones() as usize, all.len());
        for spec in COMMANDS {
            for flag in all {
                assert_eq!(spec.has(flag), spec.flags.contains(&flag), "{} {}", spec.name, flag.as_str());
            }
        }
    }

    /// Every `CommandName` has exactly one entry, found by its own name, and every entry that
    /// names a data command names one that exists: checked from both sides, on top of the
    /// compile-time check of the table's order.
    #[test]
    fn every_command_name_has_exactly_one_entry() {
        for &name in CommandName::ALL {
            let entries: Vec<&CommandSpec> = COMMANDS.iter().filter(|s| s.data == Some(name)).collect();
            assert_eq!(entries.len(), 1, "{name:?} has {} entries", entries.len());
            assert_eq!(find(entries[0].name.as_bytes()).and_then(|s| s.data), Some(name));
            assert_eq!(name.spec(), entries[0]);
        }
        for spec in COMMANDS {
            if let Some(name) = spec.data {
                assert!(CommandName::ALL.contains(&name), "{} names a command not in ALL", spec.name);
            }
        }
    }

    /// A data command without a usage line would get no hint or `help` in redraft-cli.
    #[test]
    fn every_data_command_has_a_usage_line() {
        for &name in CommandName::ALL {
            assert!(!name.spec().usage.is_empty(), "{} has no usage line", name.as_str());
        }
    }

    /// Names are unique and lower case, so `find` is unambiguous and labels are stable.
    /// Every entry is found by its name in any case, and nothing else is: not a prefix, not a
    /// name with a byte more, not a name longer than any command's.
    #[test]
    fn every_entry_is_found_by_its_name_in_any_case() {
        for (at, spec) in COMMANDS.iter().enumerate() {
            assert_eq!(position(spec.name.as_bytes()), Some(at));
            assert_eq!(position(spec.name.to_ascii_uppercase().as_bytes()), Some(at));
            // A name a byte shorter or longer is found only if it is another command's own name
            // (LPUSH and LPUSHX).
            let named = |name: &str| COMMANDS.iter().position(|s| s.name == name);
            let shorter = &spec.name[..spec.name.len() - 1];
            assert_eq!(position(shorter.as_bytes()), named(shorter), "{}", spec.name);
            let longer = format!("{}x", spec.name);
            assert_eq!(position(longer.as_bytes()), named(&longer), "{}", spec.name);
            // Mixed case is the same name; any other byte changed, the case bit of a byte that
            // is not a letter included (RAFT.ADD is not RAFT\x0eADD), is not.
            let mut mixed = spec.name.as_bytes().to_vec();
            mixed.iter_mut().step_by(2).for_each(|b| b.make_ascii_uppercase());
            assert_eq!(position(&mixed), Some(at), "{}", spec.name);
            for byte in 0..spec.name.len() {
                for bit in [0x20, 0x01, 0x80] {
                    let mut other = spec.name.as_bytes().to_vec();
                    other[byte] ^= bit;
                    if bit == 0x20 && other[byte].is_ascii_alphabetic() {
                        continue;
                    }
                    let expected = std::str::from_utf8(&other).ok().and_then(named);
                    assert_eq!(position(&other), expected, "{} changed at {byte}", spec.name);
                }
            }
        }
        assert_eq!(position(b""), None);
        assert_eq!(position(&[b'a'; 100]), None);
    }

    #[test]
    fn names_are_unique_and_lower_case() {
        let mut names: Vec<&str> = COMMANDS.iter().map(|s| s.name).collect();
        assert!(names.iter().all(|n| *n == n.to_ascii_lowercase()));
        names.sort_unstable();
        let count = names.len();
        names.dedup();
        assert_eq!(names.len(), count);
        assert_eq!(find(b"GeT").map(|s| s.name), Some("get"));
        assert_eq!(find(b"nosuch"), None);
    }

    /// Arity follows Redis: positive is exact, negative a minimum, the name counted.
    #[test]
    fn arity_is_exact_or_a_minimum() {
        let get = CommandName::Get.spec();
        assert!(!get.accepts_arg_count(1) && get.accepts_arg_count(2) && !get.accepts_arg_count(3));
        let set = CommandName::Set.spec();
        assert!(!set.accepts_arg_count(2) && set.accepts_arg_count(3) && set.accepts_arg_count(9));
    }
}
