//! The log's metadata (the vote and the purge point) kept twice, in `meta.1` and `meta.2`, each
//! copy checksummed, so that one damaged copy cannot lose the vote (a node that forgot it could
//! vote twice in one term). A save writes the first copy and then the second, each atomically and
//! durably, and returns only after both: a vote is acted on only once two copies hold it.
//!
//! A copy is one log record (core's `record.rs`: length, crc32c, payload) whose payload is the
//! sequence (u64 LE) and `codec::encode_versioned(STORE_FORMAT_VERSION, meta)`. At open the valid copy
//! with the higher sequence wins; they differ only after a crash between the two writes, and then
//! the newer one's save had not returned, so either is safe. Both damaged is beyond the fault
//! model (two faults on one node): the node refuses to start, for an operator. A data directory
//! from a build before the copies has the single file `meta`, read when neither copy exists.

use std::io;

use redraft_core::codec;
use redraft_core::record::{self, Tail};

use super::disk::Disk;
use super::format::{STORE_FORMAT_VERSION, STORE_FORMAT_VERSIONS_READ};
use super::log_inner::Meta;

/// The two copies, written in this order.
pub const META_COPIES: [&str; 2] = ["meta.1", "meta.2"];

/// The single metadata file of builds before the copies.
const LEGACY_META_FILE: &str = "meta";

/// The metadata as opened, with the sequence of the copy it came from and what was wrong with
/// the other copy, if anything (for the operator's log and metrics).
#[derive(Debug, Default)]
pub(super) struct OpenedMeta {
    pub(super) meta: Meta,
    pub(super) sequence: u64,
    pub(super) damaged: Option<String>,
}

/// Reads the metadata from its copies (or the legacy file); an empty directory has the default.
///
/// # Errors
/// Both copies are damaged or unreadable, or the legacy file cannot be decoded.
pub(super) fn open_meta<D: Disk>(disk: &D) -> Result<OpenedMeta, String> {
    let copies: Vec<Option<Result<(u64, Meta), String>>> =
        META_COPIES.iter().map(|name| read_copy(disk, name)).collect();
    if copies.iter().all(Option::is_none) {
        return match disk.read(LEGACY_META_FILE) {
            Ok(bytes) => codec::decode_any_version(STORE_FORMAT_VERSIONS_READ, &bytes)
                .map(|meta| OpenedMeta { meta, ..OpenedMeta::default() })
                .map_err(|e| format!("{LEGACY_META_FILE}: {e}")),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(OpenedMeta::default()),
            Err(error) => Err(format!("{LEGACY_META_FILE}: {error}")),
        };
    }
    let mut best: Option<(u64, Meta)> = None;
    let mut damaged = Vec::new();
    for (name, copy) in META_COPIES.iter().zip(copies) {
        match copy {
            Some(Ok((sequence, meta))) if best.as_ref().is_none_or(|(newest, _)| sequence > *newest) => {
                best = Some((sequence, meta));
            }
            Some(Ok(_)) => {}
            Some(Err(error)) => damaged.push(format!("{name}: {error}")),
            // Only after a crash between creating the first copy and the second.
            None => {}
        }
    }
    let damaged = (!damaged.is_empty()).then(|| damaged.join("; "));
    match best {
        Some((sequence, meta)) => Ok(OpenedMeta { meta, sequence, damaged }),
        None => Err(format!(
            "no intact copy of the log's metadata (the vote) is left, which is beyond what redraft \
             recovers from on its own: {}",
            damaged.unwrap_or_default()
        )),
    }
}

/// Writes `meta` as `sequence` to both copies, one after the other, each atomically and
/// durably.
///
/// # Errors
/// A write fails; the caller must not act on the new metadata.
pub(super) async fn save_meta<D: Disk>(disk: &D, meta: &Meta, sequence: u64) -> io::Result<()> {
    let bytes = encode_copy(meta, sequence);
    for name in META_COPIES {
        disk.replace(name, &bytes).await?;
    }
    Ok(())
}

fn encode_copy(meta: &Meta, sequence: u64) -> Vec<u8> {
    let mut payload = sequence.to_le_bytes().to_vec();
    payload.extend_from_slice(&codec::encode_versioned(STORE_FORMAT_VERSION, meta));
    let mut bytes = Vec::new();
    record::encode_record(&payload, &mut bytes);
    bytes
}

/// One copy: `None` when it does not exist, else its sequence and metadata or why not.
fn read_copy<D: Disk>(disk: &D, name: &str) -> Option<Result<(u64, Meta), String>> {
    let bytes = match disk.read(name) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return None,
        Err(error) => return Some(Err(error.to_string())),
    };
    Some(decode_copy(&bytes))
}

fn decode_copy(bytes: &[u8]) -> Result<(u64, Meta), String> {
    let records = match record::decode_all(bytes, 0) {
        Ok((records, Tail::Clean { .. })) => records,
        Ok((_, Tail::Torn { reason, .. })) => return Err(format!("its record is damaged ({reason:?})")),
        Err(corrupt) => return Err(corrupt.to_string()),
    };
    let [copy] = records.as_slice() else {
        return Err(format!("{} records where one belongs", records.len()));
    };
    let (sequence, body) = copy.payload.split_at_checked(8).ok_or("its record is too short")?;
    let sequence = u64::from_le_bytes(sequence.try_into().expect("8 bytes"));
    let meta = codec::decode_any_version(STORE_FORMAT_VERSIONS_READ, body).map_err(|e| e.to_string())?;
    Ok((sequence, meta))
}

#[cfg(test)]
mod tests {
    use openraft::Vote;

    use super::*;
    use crate::storage::file_disk::FileDisk;

    fn meta(term: u64) -> Meta {
        Meta { vote: Some(Vote::new(term, 2)), last_purged: None }
    }

    /// Every single-bit flip anywhere in a copy is caught by its checksum.
    #[test]
    fn a_flipped_bit_in_a_copy_is_found() {
        let bytes = encode_copy(&meta(7), 3);
        assert_eq!(decode_copy(&bytes).map(|(s, m)| (s, m.vote)), Ok((3, Some(Vote::new(7, 2)))));
        for bit in 0..bytes.len() * 8 {
            let mut flipped = bytes.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            assert!(decode_copy(&flipped).is_err(), "bit {bit} flipped went unnoticed");
        }
        assert!(decode_copy(&bytes[..bytes.len() - 1]).is_err(), "a copy cut short");
        assert!(decode_copy(&[bytes.clone(), bytes].concat()).is_err(), "two records");
    }

    fn flip_a_bit(disk: &FileDisk, name: &str) {
        let path = disk.dir().join(name);
        let mut bytes = std::fs::read(&path).expect("the copy is there");
        let at = bytes.len() - 2;
        bytes[at] ^= 0x10;
        std::fs::write(&path, bytes).expect("written");
    }

    /// One damaged copy: the other is used and the damage reported; both damaged: the node
    /// refuses, naming both; the next save rewrites both copies.
    #[tokio::test]
    async fn one_damaged_copy_loses_nothing_and_two_refuse() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let disk = FileDisk::new(dir.path()).expect("a disk");
        assert_eq!(open_meta(&disk).map(|o| (o.sequence, o.meta.vote)), Ok((0, None)), "an empty directory");
        save_meta(&disk, &meta(5), 1).await.expect("saved");
        for (damaged, other) in [(META_COPIES[0], META_COPIES[1]), (META_COPIES[1], META_COPIES[0])] {
            save_meta(&disk, &meta(9), 2).await.expect("saved");
            flip_a_bit(&disk, damaged);
            let opened = open_meta(&disk).expect("the other copy opens");
            assert_eq!((opened.sequence, opened.meta.vote), (2, Some(Vote::new(9, 2))));
            let reported = opened.damaged.expect("the damage is reported");
            assert!(reported.contains(damaged) && !reported.contains(other), "{reported}");
        }
        // The loop left the second copy damaged.
        flip_a_bit(&disk, META_COPIES[0]);
        let refused = open_meta(&disk).expect_err("both copies damaged");
        assert!(refused.contains(META_COPIES[0]) && refused.contains(META_COPIES[1]), "{refused}");
        save_meta(&disk, &meta(11), 3).await.expect("saved");
        let opened = open_meta(&disk).expect("both rewritten");
        assert_eq!((opened.meta.vote, opened.damaged), (Some(Vote::new(11, 2)), None));
    }

    /// A crash between the two writes leaves the first copy newer: it wins. A directory from a
    /// build before the copies is read from its single file.
    #[tokio::test]
    async fn the_newer_copy_wins_and_the_legacy_file_is_read() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let disk = FileDisk::new(dir.path()).expect("a disk");
        disk.replace(LEGACY_META_FILE, &codec::encode_versioned(STORE_FORMAT_VERSION, &meta(4)))
            .await
            .expect("written");
        assert_eq!(open_meta(&disk).map(|o| o.meta.vote), Ok(Some(Vote::new(4, 2))));
        save_meta(&disk, &meta(5), 1).await.expect("saved");
        disk.replace(META_COPIES[0], &encode_copy(&meta(6), 2)).await.expect("written");
        assert_eq!(open_meta(&disk).map(|o| (o.sequence, o.meta.vote)), Ok((2, Some(Vote::new(6, 2)))));
    }
}
