//! The durable segment log on real files: reopening gives back every synced entry; a tail cut at
//! any byte is truncated and reported; a corrupted byte before the tail refuses to open, naming
//! the file and offset; conflict truncation and purges survive a reopen; and a power loss after
//! segments rotated leaves a log that opens (on a disk that models the loss).
#![cfg(not(madsim))]

use std::path::Path;

use redraft_server::storage::catch_up_marker::CATCH_UP_MARKER;
use redraft_server::storage::file_disk::FileDisk;
use redraft_server::storage::segment_log::{LogError, RecoveryReport, SegmentLog};

const SEGMENT_BYTES: u64 = 256;

fn payload(index: u64) -> Vec<u8> {
    format!("entry number {index} with some padding").into_bytes()
}

async fn open(dir: &Path) -> Result<(SegmentLog<FileDisk>, RecoveryReport), LogError> {
    SegmentLog::open(FileDisk::new(dir).expect("dir"), SEGMENT_BYTES, None).await
}

async fn filled(dir: &Path, count: u64) -> SegmentLog<FileDisk> {
    let (mut log, _) = open(dir).await.expect("empty log opens");
    for index in 1..=count {
        log.append(index, &payload(index)).await.expect("append");
    }
    log.sync().await.expect("sync");
    log
}

fn entries<D: redraft_server::storage::disk::Disk>(log: &SegmentLog<D>) -> Vec<(u64, Vec<u8>)> {
    log.read(..).expect("read").into_iter().map(|(i, p)| (i, p.to_vec())).collect()
}

/// Synced entries come back after a reopen, across several segments.
#[tokio::test]
async fn reopen_returns_every_synced_entry() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = filled(dir.path(), 100).await;
    assert!(log.segment_names().len() > 5, "small segments roll over");
    let written = entries(&log);
    drop(log);
    let (log, report) = open(dir.path()).await.expect("reopens");
    assert_eq!(entries(&log), written);
    assert_eq!(report.entry_count, 100);
    assert_eq!(report.torn_tail, None);
}

/// The last segment cut at every byte offset: recovery keeps the whole records before the cut,
/// reports the torn tail, and leaves a log that reopens cleanly and accepts the next entry.
#[tokio::test]
async fn torn_tail_at_every_offset_is_truncated_and_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = filled(dir.path(), 30).await;
    let last = log.segment_names().last().cloned().expect("segments");
    let all = entries(&log);
    drop(log);
    let original = std::fs::read(dir.path().join(&last)).expect("read");
    let first_in_last: u64 = last.trim_end_matches(".log").parse().expect("name");
    for cut in 0..original.len() {
        let copy = tempfile::tempdir().expect("tempdir");
        for entry in std::fs::read_dir(dir.path()).expect("dir") {
            let entry = entry.expect("entry");
            std::fs::copy(entry.path(), copy.path().join(entry.file_name())).expect("copy");
        }
        std::fs::write(copy.path().join(&last), &original[..cut]).expect("cut");
        let (mut log, report) = open(copy.path()).await.unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
        let kept = entries(&log);
        assert!(all.starts_with(&kept), "cut at {cut}");
        assert!(kept.len() as u64 >= first_in_last - 1, "earlier segments intact at cut {cut}");
        let whole_bytes: usize =
            kept.iter().filter(|(i, _)| *i >= first_in_last).map(|(_, p)| p.len() + 16).sum();
        assert_eq!(report.torn_tail.is_some(), whole_bytes != cut, "cut at {cut}");
        let next = kept.last().map_or(1, |(i, _)| i + 1);
        log.append(next, b"after recovery").await.expect("append");
        log.sync().await.expect("sync");
        drop(log);
        let (log, report) = open(copy.path()).await.expect("reopens");
        assert_eq!(report.torn_tail, None, "cut at {cut}: the repair was durable");
        assert_eq!(log.bounds().map(|b| b.1), Some(next));
    }
}

/// Zeros after the last record, as a crash leaves the space a segment filled ahead of its appends
/// (`file_disk.rs`), in the last segment or in one whose trim at rotation was lost: no torn tail, no
/// damage, every entry; appends go on right after the last record.
#[tokio::test]
async fn zeros_after_the_last_record_are_unwritten_space() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = filled(dir.path(), 30).await;
    let names = log.segment_names();
    let all = entries(&log);
    let (sealed, last) = (dir.path().join(&names[0]), dir.path().join(names.last().expect("segments")));
    let open_bytes = std::fs::read(&last).expect("read");
    drop(log);
    let closed_bytes = std::fs::read(&last).expect("read");
    assert!(open_bytes.len() > closed_bytes.len(), "zeros ahead while open, trimmed when closed");
    assert!(open_bytes[closed_bytes.len()..].iter().all(|&b| b == 0));
    assert!(std::fs::read(&sealed).expect("read").len() as u64 <= SEGMENT_BYTES * 2, "a rotation trims");
    for path in [&sealed, &last] {
        let mut bytes = std::fs::read(path).expect("read");
        bytes.resize(bytes.len() + 4096, 0);
        std::fs::write(path, bytes).expect("write");
    }
    let (mut log, report) = open(dir.path()).await.expect("opens");
    assert_eq!((report.torn_tail, report.damage), (None, None));
    assert_eq!(entries(&log), all);
    log.append(31, b"after the zeros").await.expect("append");
    log.sync().await.expect("sync");
    drop(log);
    let (log, report) = open(dir.path()).await.expect("reopens");
    assert_eq!((report.torn_tail, report.damage), (None, None));
    assert_eq!(log.read(31..).expect("read")[0].1.as_ref(), b"after the zeros");
}

/// A flipped byte in an earlier segment is damage: the log opens with the entries before the
/// damaged record, drops that record, everything after it and every later segment (durably),
/// names the file and the record's offset, and takes appends after the kept prefix.
#[tokio::test]
async fn corruption_before_the_tail_keeps_the_intact_prefix() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = filled(dir.path(), 40).await;
    let names = log.segment_names();
    assert!(names.len() >= 3, "{names:?}");
    let victim = names[1].clone();
    let first_in_victim: u64 = victim.trim_end_matches(".log").parse().expect("named by first index");
    drop(log);
    let first_after: u64 = names[2].trim_end_matches(".log").parse().expect("named by first index");
    let path = dir.path().join(&victim);
    let mut bytes = std::fs::read(&path).expect("read");
    let flipped = bytes.len() / 2;
    bytes[flipped] ^= 0x01;
    std::fs::write(&path, &bytes).expect("write");

    let marker = dir.path().join(CATCH_UP_MARKER);
    assert!(!marker.exists(), "an intact log asks for no catch-up");
    let (mut log, report) = open(dir.path()).await.expect("a damaged log opens");
    let damage = report.damage.expect("the damage is reported");
    assert!(marker.exists(), "the node must catch up before it votes, across a restart too");
    assert_eq!(damage.file, victim);
    assert!(
        damage.offset > 0 && damage.offset <= flipped as u64,
        "the damaged record holds the byte: {damage:?}"
    );
    assert_eq!(damage.segments_removed, names.len() - 2, "{damage:?}");
    let kept = entries_from(&log, 1..=log.bounds().expect("entries kept").1);
    let last = kept.last().expect("kept").0;
    assert_eq!(damage.kept_through, Some(last));
    assert!(
        last >= first_in_victim && last + 1 < first_after,
        "the damaged record and all after it went: {last}"
    );
    assert_eq!(kept, (1..=last).map(|i| (i, payload(i))).collect::<Vec<_>>(), "the prefix is intact");
    assert_eq!(log.segment_names(), names[..2].to_vec());
    log.append(last + 1, b"fetched again").await.expect("append");
    log.sync().await.expect("sync");
    drop(log);

    let (log, report) = open(dir.path()).await.expect("reopens");
    assert_eq!((report.damage, report.torn_tail), (None, None), "the repair was durable");
    assert_eq!(log.bounds(), Some((1, last + 1)));
}

/// Conflict truncation removes later entries and segments durably; new entries follow.
#[tokio::test]
async fn truncation_survives_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = filled(dir.path(), 50).await;
    log.truncate(20).await.expect("truncate");
    assert_eq!(log.bounds(), Some((1, 19)));
    for index in 20..=25 {
        log.append(index, format!("replacement {index}").as_bytes()).await.expect("append");
    }
    log.sync().await.expect("sync");
    drop(log);
    let (log, _) = open(dir.path()).await.expect("reopens");
    assert_eq!(log.bounds(), Some((1, 25)));
    assert_eq!(
        log.read(20..=20).expect("read").into_iter().next().map(|(_, p)| p.to_vec()),
        Some(b"replacement 20".to_vec())
    );
    assert_eq!(
        log.read(19..=19).expect("read").into_iter().next().map(|(_, p)| p.to_vec()),
        Some(payload(19))
    );
}

/// Purging drops whole segments that hold nothing newer, and what remains reopens.
#[tokio::test]
async fn purge_removes_old_segments() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = filled(dir.path(), 60).await;
    let before = log.segment_names().len();
    log.purge(40).await.expect("purge");
    assert_eq!(log.bounds().map(|b| b.0), Some(41));
    assert!(log.segment_names().len() < before);
    drop(log);
    let (log, _) = open(dir.path()).await.expect("reopens");
    let (first, last) = log.bounds().expect("entries");
    assert!(first <= 41 && last == 60);
    assert_eq!(
        log.read(41..=41).expect("read").into_iter().next().map(|(_, p)| p.to_vec()),
        Some(payload(41))
    );
}

/// A purge started and left to run on its own drops the entries at once and the files only when
/// its future runs: a crash before then (the future dropped) leaves the files, which a purge at
/// the same point after the reopen removes, and appends meanwhile go on in the kept segments.
#[tokio::test]
async fn a_started_purge_drops_entries_at_once_and_files_when_it_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let on_disk = || {
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .expect("dir")
            .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
            .filter(|name| name.ends_with(".log"))
            .collect();
        names.sort();
        names
    };
    let mut log = filled(dir.path(), 60).await;
    let all = log.segment_names();
    let removal = log.start_purge(40);
    let kept = log.segment_names();
    assert!(kept.len() < all.len());
    assert_eq!(log.bounds().map(|b| b.0), Some(41), "the entries are gone at once");
    assert_eq!(on_disk(), all, "the files stay until the removal runs");
    log.append(61, &payload(61)).await.expect("append while the removal waits");
    drop(removal);
    drop(log);

    let (mut log, _) = open(dir.path()).await.expect("reopens with the files the removal left");
    assert_eq!(log.bounds().map(|b| b.0), Some(1), "nothing recorded the purge but the caller");
    log.purge(40).await.expect("purge again");
    assert_eq!(on_disk(), log.segment_names());
    assert_eq!(log.bounds(), Some((41, 61)));

    let removal = log.start_purge(50);
    removal.await.expect("the removal runs");
    assert_eq!(on_disk(), log.segment_names());
    assert_eq!(log.bounds().map(|b| b.0), Some(51));
}

/// A follower that installed a snapshot resumes appending after it: the next entry starts a new
/// segment, and a reopen drops the entries before the gap when a snapshot covers it (even if the
/// node crashed before the purge was recorded), and treats the gap as damage when nothing covers
/// it (keeping only what comes before it).
#[tokio::test]
async fn appends_resume_after_a_snapshot_gap() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = filled(dir.path(), 5).await;
    log.purge(5).await.expect("purge");
    for index in 40..=42 {
        log.append(index, &payload(index)).await.expect("append after the gap");
    }
    log.sync().await.expect("sync");
    assert_eq!(entries(&log).first().map(|e| e.0), Some(40));
    drop(log);
    let (log, _) = SegmentLog::open(FileDisk::new(dir.path()).expect("dir"), SEGMENT_BYTES, Some(39))
        .await
        .expect("a gap a snapshot covers");
    assert_eq!(entries(&log), (40..=42).map(|i| (i, payload(i))).collect::<Vec<_>>());
    drop(log);
    let (log, report) = SegmentLog::open(FileDisk::new(dir.path()).expect("dir"), SEGMENT_BYTES, Some(20))
        .await
        .expect("a gap nothing covers is damage, and the log opens");
    let damage = report.damage.expect("reported");
    assert!(damage.problem.contains("entry 40 follows entry 5"), "{damage:?}");
    assert_eq!(log.bounds().map(|b| b.1), damage.kept_through, "nothing after the gap is kept");
    assert!(damage.kept_through.is_none_or(|last| last <= 5), "{damage:?}");
}

/// A disk that loses, in a crash, the second half of every file's unsynced bytes (a write cut
/// short), while file creations survive at once (the worst a file system may do without a
/// directory sync).
#[derive(Clone, Default)]
struct PowerLossDisk {
    files: std::sync::Arc<std::sync::Mutex<std::collections::BTreeMap<String, Written>>>,
}

/// A file's bytes written, and its bytes durable.
type Written = (Vec<u8>, Vec<u8>);

struct PowerLossFile {
    disk: PowerLossDisk,
    name: String,
}

impl PowerLossDisk {
    fn crash(&self) {
        for (data, durable) in self.files.lock().expect("lock").values_mut() {
            let unsynced = data.len().saturating_sub(durable.len());
            data.truncate(durable.len() + unsynced / 2);
            *durable = data.clone();
        }
    }

    fn with<R>(&self, name: &str, f: impl FnOnce(&mut Written) -> R) -> R {
        f(self.files.lock().expect("lock").entry(name.to_owned()).or_default())
    }
}

impl redraft_server::storage::disk::Disk for PowerLossDisk {
    type File = PowerLossFile;

    fn list(&self) -> std::io::Result<Vec<String>> {
        Ok(self.files.lock().expect("lock").keys().cloned().collect())
    }

    fn open(&self, name: &str) -> std::io::Result<PowerLossFile> {
        self.with(name, |_| ());
        Ok(PowerLossFile { disk: self.clone(), name: name.to_owned() })
    }

    fn read(&self, name: &str) -> std::io::Result<Vec<u8>> {
        Ok(self.with(name, |file| file.0.clone()))
    }

    fn remove(&self, name: &str) -> std::io::Result<()> {
        self.files.lock().expect("lock").remove(name);
        Ok(())
    }

    fn sync_dir(&self) -> impl std::future::Future<Output = std::io::Result<()>> + Send + 'static + use<> {
        std::future::ready(Ok(()))
    }

    fn replace(
        &self,
        name: &str,
        bytes: &[u8],
    ) -> impl std::future::Future<Output = std::io::Result<()>> + Send {
        self.with(name, |file| *file = (bytes.to_vec(), bytes.to_vec()));
        std::future::ready(Ok(()))
    }
}

impl redraft_server::storage::disk::LogFile for PowerLossFile {
    fn append(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.disk.with(&self.name, |file| file.0.extend_from_slice(bytes));
        Ok(())
    }

    fn write_at(&mut self, offset: u64, bytes: &[u8]) -> std::io::Result<()> {
        self.disk.with(&self.name, |file| {
            let end = offset as usize + bytes.len();
            if file.0.len() < end {
                file.0.resize(end, 0);
            }
            file.0[offset as usize..end].copy_from_slice(bytes);
        });
        Ok(())
    }

    fn truncate(&mut self, len: u64) -> std::io::Result<()> {
        self.disk.with(&self.name, |file| file.0.truncate(len as usize));
        Ok(())
    }

    fn len(&self) -> u64 {
        self.disk.with(&self.name, |file| file.0.len() as u64)
    }

    fn sync(&mut self) -> impl std::future::Future<Output = std::io::Result<()>> + Send + 'static + use<> {
        self.disk.with(&self.name, |file| file.1 = file.0.clone());
        std::future::ready(Ok(()))
    }
}

/// A power loss between syncs, after the log moved on to new segments, leaves a log that opens
/// (the synced entries and perhaps a few more, in order) instead of older segments missing their
/// tails with newer ones after them, which would read as corruption: a segment is started only
/// once the one before it is durable.
#[tokio::test]
async fn a_power_loss_after_segments_rotated_leaves_a_log_that_opens() {
    let disk = PowerLossDisk::default();
    let (mut log, _) = SegmentLog::open(disk.clone(), SEGMENT_BYTES, None).await.expect("empty log opens");
    for index in 1..=5 {
        log.append(index, &payload(index)).await.expect("append");
    }
    log.sync().await.expect("sync");
    // Enough for several new segments, never synced.
    for index in 6..=40 {
        log.append(index, &payload(index)).await.expect("append");
    }
    assert!(log.segment_names().len() >= 4, "the appends rotated: {:?}", log.segment_names());
    drop(log);
    disk.crash();
    let (log, _) =
        SegmentLog::open(disk.clone(), SEGMENT_BYTES, None).await.expect("the log opens after the crash");
    let kept = entries(&log);
    assert!(kept.len() >= 5, "every synced entry survives: {kept:?}");
    assert_eq!(
        kept,
        (1..=kept.len() as u64).map(|i| (i, payload(i))).collect::<Vec<_>>(),
        "a prefix, in order"
    );
}

/// The log keeps only its newest entries in memory: older ones are read back from their
/// segments, identical, before and after a reopen, and a byte flipped in an evicted record is
/// reported as corruption when it is read back, naming the file and the record's offset.
#[tokio::test]
async fn entries_beyond_the_cache_are_read_back_from_disk() {
    use redraft_core::limits::LOG_CACHE_BYTES_MAX;
    let dir = tempfile::tempdir().expect("tempdir");
    let disk = FileDisk::new(dir.path()).expect("dir");
    let (mut log, _) = SegmentLog::open(disk, 1024 * 1024, None).await.expect("opens");
    let big = |index: u64| vec![(index % 251) as u8; 64 * 1024];
    let count = (3 * LOG_CACHE_BYTES_MAX / (64 * 1024)) as u64;
    for index in 1..=count {
        log.append(index, &big(index)).await.expect("append");
    }
    log.sync().await.expect("sync");
    let (cached, cached_bytes) = log.cached();
    assert!(cached < count as usize / 2 && cached_bytes <= LOG_CACHE_BYTES_MAX, "{cached} entries cached");
    let expected: Vec<(u64, Vec<u8>)> = (1..=count).map(|i| (i, big(i))).collect();
    assert_eq!(entries(&log), expected);
    drop(log);

    let (log, _) =
        SegmentLog::open(FileDisk::new(dir.path()).expect("dir"), 1024 * 1024, None).await.expect("reopens");
    assert!(log.cached().1 <= LOG_CACHE_BYTES_MAX);
    assert_eq!(entries(&log), expected);
    let first = log.segment_names()[0].clone();
    drop(log);

    // Flip a byte inside entry 2's payload: the whole-log check at open refuses it, so flip it
    // behind an open log's back, as a disk would.
    let (log, _) =
        SegmentLog::open(FileDisk::new(dir.path()).expect("dir"), 1024 * 1024, None).await.expect("reopens");
    let path = dir.path().join(&first);
    let mut bytes = std::fs::read(&path).expect("read");
    let record = 8 + 8 + 64 * 1024;
    bytes[record + 8 + 8 + 100] ^= 0x01;
    std::fs::write(&path, bytes).expect("write");
    match log.read(2..=2) {
        Err(LogError::Corrupt { file, offset, problem }) => {
            assert_eq!((file.as_str(), offset), (first.as_str(), record as u64), "{problem}");
        }
        other => panic!("a flipped byte read back as {other:?}"),
    }
    assert_eq!(entries_from(&log, 1..=1), vec![(1, big(1))]);
}

fn entries_from<D: redraft_server::storage::disk::Disk>(
    log: &SegmentLog<D>,
    range: std::ops::RangeInclusive<u64>,
) -> Vec<(u64, Vec<u8>)> {
    log.read(range).expect("read").into_iter().map(|(i, p)| (i, p.to_vec())).collect()
}
