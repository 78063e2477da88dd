//! Where the chunks of a snapshot being received may land. openraft's receiver seeks to the
//! offset a chunk names and writes there, so a chunk claiming offset 2^45 would make the buffer
//! it writes into that large: three such messages once made a node allocate 1 GiB and abort.
//! A sender sends chunks in order and resends one whose answer it lost, so a chunk may start
//! anywhere up to the bytes received so far of its snapshot, never beyond; a chunk at offset 0
//! starts a snapshot (or repeats its first chunk).

use std::sync::Mutex;

/// The snapshot being received, and how many of its bytes have arrived.
#[derive(Debug, Default)]
pub struct SnapshotChunks {
    receiving: Mutex<Option<(String, u64)>>,
}

impl SnapshotChunks {
    /// Admits a chunk of `len` bytes at `offset` of snapshot `snapshot_id`, or says why not.
    ///
    /// # Errors
    /// A sentence naming the offset and how far the snapshot has arrived.
    pub fn admit(&self, snapshot_id: &str, offset: u64, len: usize) -> Result<(), String> {
        let mut receiving = self.receiving.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let end = offset.saturating_add(len as u64);
        match receiving.as_mut() {
            Some((id, received)) if id == snapshot_id && offset <= *received => {
                *received = (*received).max(end);
                Ok(())
            }
            _ if offset == 0 => {
                *receiving = Some((snapshot_id.to_owned(), end));
                Ok(())
            }
            Some((id, received)) if id == snapshot_id => Err(format!(
                "a chunk of snapshot {snapshot_id} at offset {offset}, but only {received} bytes of it have \
                 arrived"
            )),
            _ => Err(format!(
                "a chunk of snapshot {snapshot_id} at offset {offset}, but that snapshot has not started"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Chunks in order, a resent chunk and a restart are admitted; a chunk past what has arrived,
    /// or of a snapshot that never started, is not.
    #[test]
    fn a_chunk_lands_only_where_the_snapshot_has_arrived() {
        let chunks = SnapshotChunks::default();
        assert!(chunks.admit("s1", 1 << 30, 10).is_err(), "nothing started");
        chunks.admit("s1", 0, 100).expect("the first chunk");
        chunks.admit("s1", 100, 100).expect("the next");
        chunks.admit("s1", 100, 100).expect("resent");
        chunks.admit("s1", 0, 100).expect("the first chunk, late");
        chunks.admit("s1", 200, 5).expect("still continues where it was");
        let error = chunks.admit("s1", 1 << 45, 3).expect_err("far past what arrived");
        assert!(error.contains("only 205 bytes"), "{error}");
        assert!(chunks.admit("s2", 205, 1).is_err(), "another snapshot, not started");
        chunks.admit("s2", 0, 7).expect("another snapshot starts");
        assert!(chunks.admit("s2", 8, 1).is_err(), "one byte past");
        assert!(chunks.admit("s2", u64::MAX, usize::MAX).is_err(), "no overflow");
    }
}
