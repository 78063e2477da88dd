//! Disk rot at rest for the `corrupt` nemesis: one bit flipped in one file of a stopped node's
//! data directory, as a disk that rotted while the node was down. The files are redraft's own:
//! log segments (`*.log`), the snapshot, and the first copy of the vote (`meta.1`; the second is
//! never touched, so one copy always survives, as the fault model allows). Read errors (EIO) and
//! writes the disk acknowledged and lost cannot be produced honestly on a real file system from
//! here; the simulator covers those.

use std::path::Path;

use rand::seq::SliceRandom;
use rand::Rng;

/// Flips one random bit of one random file among those in `data_dir` that may be damaged;
/// returns the file, the byte and the bit, or `None` when there is none (or it cannot be
/// rewritten).
pub fn flip_a_bit_at_rest(data_dir: &Path, rng: &mut impl Rng) -> Option<(String, u64, u8)> {
    let mut names: Vec<String> = std::fs::read_dir(data_dir)
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let size = entry.metadata().ok()?.len();
            let damageable = name.ends_with(".log") || name == "snapshot" || name == "meta.1";
            (damageable && size > 0).then_some(name)
        })
        .collect();
    names.sort();
    let name = names.choose(rng)?.clone();
    let path = data_dir.join(&name);
    let mut bytes = std::fs::read(&path).ok()?;
    let offset = rng.gen_range(0..bytes.len());
    let bit = rng.gen_range(0..8u8);
    bytes[offset] ^= 1 << bit;
    std::fs::write(&path, &bytes).ok()?;
    Some((name, offset as u64, bit))
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;

    /// Exactly one bit of one damageable file changes; other files are never touched.
    #[test]
    fn one_bit_of_one_damageable_file_flips() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let files = [("00000000000000000001.log", 64), ("meta.1", 20), ("meta.2", 20), ("catching-up", 10)];
        for (name, len) in files {
            std::fs::write(dir.path().join(name), vec![0u8; len]).expect("written");
        }
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..20 {
            let (name, offset, bit) = flip_a_bit_at_rest(dir.path(), &mut rng).expect("a file to damage");
            assert!(name.ends_with(".log") || name == "meta.1", "{name}");
            let bytes = std::fs::read(dir.path().join(&name)).expect("read");
            assert_eq!(bytes[offset as usize] & (1 << bit), 1 << bit, "the bit flipped");
            std::fs::write(dir.path().join(&name), vec![0u8; bytes.len()]).expect("reset");
        }
        for untouched in ["meta.2", "catching-up"] {
            assert!(std::fs::read(dir.path().join(untouched)).expect("read").iter().all(|b| *b == 0));
        }
    }
}
