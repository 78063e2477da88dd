//! The simulated disk behind the server's `Disk` seam (DESIGN.md §5): each file keeps the bytes
//! the process sees apart from the bytes that are durable. A sync makes what was written before
//! it durable, after a delay the simulator may stretch; a [`SimDisk::crash`] drops everything not
//! yet durable and may keep a torn prefix of the last unsynced write, as a power failure does.
//! A write handed to the device without a flush ([`LogFile::write_back`]) is durable once a
//! later sync of any file ends (its cache flush covers it); a crash before then keeps all of
//! it, a prefix of it or none of it, as a device cache may.
//!
//! Simplifications, stated so no test relies on them unknowingly: creating and removing a file
//! and `replace` are durable at once (the log syncs the directory after them anyway), and a
//! truncation is durable once the file is next synced.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use rand::Rng;
use redraft_server::storage::disk::{Disk, LogFile, EIO};

/// One node's data directory, owned by the harness so that it outlives the node's crashes.
#[derive(Clone, Default)]
pub struct SimDisk {
    state: Arc<Mutex<DiskState>>,
}

#[derive(Default)]
struct DiskState {
    files: BTreeMap<String, FileState>,
    /// Longest extra delay of a sync, in virtual milliseconds; 0 for none.
    sync_delay_ms_max: u64,
    syncs: u64,
    /// Files damaged at rest since they were last written anew ([`SimDisk::damage_at_rest`]).
    damaged: BTreeSet<String>,
    /// Of those, the ones every read fails on.
    unreadable: BTreeSet<String>,
    /// Durable lengths of the log segments ([`SimDisk::remember_durable_log`]).
    remembered: BTreeMap<String, usize>,
    /// Write-backs so far: each one's stamp, so a sync covers only those done before it began.
    write_backs: u64,
}

#[derive(Clone, Default)]
struct FileState {
    /// What the process reads back.
    data: Vec<u8>,
    /// What survives a crash.
    durable: Vec<u8>,
    /// The durable length before the last sync that grew it (for [`SimDisk::lose_last_sync`]).
    durable_before_sync: usize,
    /// What the device holds in its cache since the last write-back (with that write-back's
    /// stamp), not yet flushed.
    written_back: Option<(u64, Vec<u8>)>,
}

impl SimDisk {
    /// An empty disk.
    pub fn new() -> SimDisk {
        SimDisk::default()
    }

    /// Makes every sync wait up to `ms` virtual milliseconds more (a slow disk); 0 restores.
    pub fn set_sync_delay_ms_max(&self, ms: u64) {
        self.state.lock().sync_delay_ms_max = ms;
    }

    /// Syncs completed so far.
    pub fn sync_count(&self) -> u64 {
        self.state.lock().syncs
    }

    /// A power failure: every file falls back to its durable bytes, except that with `tear` a
    /// random prefix of the unsynced appended bytes survives (a write cut short). Returns the
    /// bytes lost over all files.
    pub fn crash(&self, rng: &mut impl Rng, tear: bool) -> u64 {
        let mut state = self.state.lock();
        let mut lost = 0;
        for file in state.files.values_mut() {
            let appended = file.data.len() > file.durable.len() && file.data.starts_with(&file.durable);
            let mut survivor = file.durable.clone();
            if tear && appended && rng.gen_bool(0.5) {
                let extra = &file.data[file.durable.len()..];
                let keep = rng.gen_range(0..extra.len());
                survivor.extend_from_slice(&extra[..keep]);
            }
            if let Some((_, cached)) = file.written_back.take() {
                // The device's cache: none of it, all of it, or a prefix (a write cut short).
                let keep = match rng.gen_range(0..3) {
                    0 => 0,
                    1 => cached.len(),
                    _ => rng.gen_range(0..=cached.len()),
                };
                if survivor.len() < keep {
                    survivor.resize(keep, 0);
                }
                survivor[..keep].copy_from_slice(&cached[..keep]);
            }
            lost += file.data.len().saturating_sub(survivor.len()) as u64;
            file.data = survivor.clone();
            file.durable = survivor;
        }
        lost
    }

    /// Damages one file at rest, as a disk that rots a sector while the node is down: a log
    /// segment (`*.log`), a copy of the log's metadata (`meta.1`, `meta.2`) or the snapshot,
    /// chosen at random among those holding anything; either one bit flips, or the file becomes
    /// unreadable (every read fails with EIO until the file is written anew). A metadata copy is
    /// damaged only while the other one is intact, written since it was last damaged: both bad
    /// is two faults on one node's vote, beyond the fault model. Returns the file and what was
    /// done; `None` when nothing can be damaged. For a node that is down.
    pub fn damage_at_rest(&self, rng: &mut impl Rng) -> Option<(String, String)> {
        let mut state = self.state.lock();
        let damaged = &state.damaged;
        let names: Vec<String> = state
            .files
            .iter()
            .filter(|(name, file)| {
                let copy_ok = match name.as_str() {
                    "meta.1" => !damaged.contains("meta.2"),
                    "meta.2" => !damaged.contains("meta.1"),
                    _ => false,
                };
                !file.durable.is_empty() && (name.ends_with(".log") || name.as_str() == "snapshot" || copy_ok)
            })
            .map(|(name, _)| name.clone())
            .collect();
        let name = names.get(rng.gen_range(0..names.len().max(1)))?.clone();
        state.damaged.insert(name.clone());
        if rng.gen_bool(0.25) {
            state.unreadable.insert(name.clone());
            return Some((name, "unreadable".into()));
        }
        let file = state.files.get_mut(&name)?;
        let offset = rng.gen_range(0..file.durable.len());
        let bit = rng.gen_range(0..8u8);
        file.durable[offset] ^= 1 << bit;
        file.data = file.durable.clone();
        Some((name, format!("bit {bit} of byte {offset} flipped")))
    }

    /// A write the disk acknowledged and then lost: the newest log segment whose last sync grew
    /// it falls back to its length before that sync (call after [`SimDisk::crash`], for a node
    /// that is down). Returns the file and the bytes lost.
    pub fn lose_last_sync(&self) -> Option<(String, u64)> {
        let mut state = self.state.lock();
        let (name, file) =
            state.files.iter_mut().rev().find(|(name, file)| {
                name.ends_with(".log") && file.durable.len() > file.durable_before_sync
            })?;
        let lost = (file.durable.len() - file.durable_before_sync) as u64;
        file.durable.truncate(file.durable_before_sync);
        file.data = file.durable.clone();
        Some((name.clone(), lost))
    }

    /// Remembers how much of every log segment is durable now, for
    /// [`SimDisk::lose_syncs_since_remembered`].
    pub fn remember_durable_log(&self) {
        let mut state = self.state.lock();
        let lengths = state
            .files
            .iter()
            .filter(|(name, _)| name.ends_with(".log"))
            .map(|(name, file)| (name.clone(), file.durable.len()))
            .collect();
        state.remembered = lengths;
    }

    /// Writes the disk acknowledged and then lost, many of them: every log segment falls back to
    /// what was durable when [`SimDisk::remember_durable_log`] was called, and segments created
    /// since are lost whole. For a node that is down. Returns the bytes lost.
    pub fn lose_syncs_since_remembered(&self) -> u64 {
        let mut state = self.state.lock();
        let remembered = std::mem::take(&mut state.remembered);
        let mut lost = 0;
        let mut gone = Vec::new();
        for (name, file) in state.files.iter_mut().filter(|(name, _)| name.ends_with(".log")) {
            let keep = remembered.get(name).copied().unwrap_or(0).min(file.durable.len());
            lost += (file.durable.len() - keep) as u64;
            file.durable.truncate(keep);
            file.data = file.durable.clone();
            if !remembered.contains_key(name) {
                gone.push(name.clone());
            }
        }
        for name in gone {
            state.files.remove(&name);
        }
        lost
    }

    /// Makes every log segment and the snapshot unreadable (a disk that lost them at rest);
    /// returns their names.
    pub fn lose_log_and_snapshot(&self) -> Vec<String> {
        let mut state = self.state.lock();
        let names: Vec<String> =
            state.files.keys().filter(|n| n.ends_with(".log") || n.as_str() == "snapshot").cloned().collect();
        for name in &names {
            state.damaged.insert(name.clone());
            state.unreadable.insert(name.clone());
        }
        names
    }

    /// The error a read of `name` fails with, if the file is unreadable.
    fn read_error(state: &DiskState, name: &str) -> io::Result<()> {
        if state.unreadable.contains(name) {
            return Err(io::Error::from_raw_os_error(EIO));
        }
        Ok(())
    }

    /// `name` was written anew or removed: whatever damage it had is gone.
    fn renewed(state: &mut DiskState, name: &str) {
        state.damaged.remove(name);
        state.unreadable.remove(name);
    }
}

impl Disk for SimDisk {
    type File = SimFile;

    fn list(&self) -> io::Result<Vec<String>> {
        Ok(self.state.lock().files.keys().cloned().collect())
    }

    fn open(&self, name: &str) -> io::Result<SimFile> {
        self.state.lock().files.entry(name.to_owned()).or_default();
        Ok(SimFile { disk: self.clone(), name: name.to_owned() })
    }

    fn read(&self, name: &str) -> io::Result<Vec<u8>> {
        let state = self.state.lock();
        SimDisk::read_error(&state, name)?;
        match state.files.get(name) {
            Some(file) => Ok(file.data.clone()),
            None => Err(io::ErrorKind::NotFound.into()),
        }
    }

    fn read_at(&self, name: &str, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        let state = self.state.lock();
        SimDisk::read_error(&state, name)?;
        match state.files.get(name) {
            Some(file) => {
                let start = usize::try_from(offset).unwrap_or(usize::MAX).min(file.data.len());
                Ok(file.data[start..file.data.len().min(start.saturating_add(len))].to_vec())
            }
            None => Err(io::ErrorKind::NotFound.into()),
        }
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        let mut state = self.state.lock();
        state.files.remove(name);
        SimDisk::renewed(&mut state, name);
        Ok(())
    }

    fn sync_dir(&self) -> impl Future<Output = io::Result<()>> + Send + 'static + use<> {
        std::future::ready(Ok(()))
    }

    fn replace(&self, name: &str, bytes: &[u8]) -> impl Future<Output = io::Result<()>> + Send {
        let file = FileState {
            data: bytes.to_vec(),
            durable: bytes.to_vec(),
            durable_before_sync: bytes.len(),
            written_back: None,
        };
        let mut state = self.state.lock();
        state.files.insert(name.to_owned(), file);
        SimDisk::renewed(&mut state, name);
        std::future::ready(Ok(()))
    }
}

/// A file of the simulated disk.
pub struct SimFile {
    disk: SimDisk,
    name: String,
}

impl SimFile {
    fn with<T>(&self, f: impl FnOnce(&mut FileState) -> T) -> io::Result<T> {
        let mut state = self.disk.state.lock();
        match state.files.get_mut(&self.name) {
            Some(file) => Ok(f(file)),
            None => Err(io::Error::new(io::ErrorKind::NotFound, format!("{} was removed", self.name))),
        }
    }
}

impl LogFile for SimFile {
    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.with(|file| file.data.extend_from_slice(bytes))
    }

    fn write_at(&mut self, offset: u64, bytes: &[u8]) -> io::Result<()> {
        self.with(|file| {
            let start = offset as usize;
            if file.data.len() < start + bytes.len() {
                file.data.resize(start + bytes.len(), 0);
            }
            file.data[start..start + bytes.len()].copy_from_slice(bytes);
        })
    }

    fn truncate(&mut self, len: u64) -> io::Result<()> {
        self.with(|file| file.data.truncate(len as usize))
    }

    fn len(&self) -> u64 {
        self.with(|file| file.data.len() as u64).unwrap_or(0)
    }

    fn sync(&mut self) -> impl Future<Output = io::Result<()>> + Send + 'static + use<> {
        let disk = self.disk.clone();
        let name = self.name.clone();
        let written = self.len() as usize;
        let (delay_max, write_backs) = {
            let state = disk.state.lock();
            (state.sync_delay_ms_max, state.write_backs)
        };
        async move {
            if delay_max > 0 {
                let delay = madsim::rand::thread_rng().gen_range(0..=delay_max);
                tokio::time::sleep(Duration::from_millis(delay)).await;
            }
            let mut state = disk.state.lock();
            state.syncs += 1;
            // The sync's cache flush: what any file handed to the device before it began.
            for file in state.files.values_mut() {
                if file.written_back.as_ref().is_some_and(|(stamp, _)| *stamp <= write_backs) {
                    file.durable = file.written_back.take().expect("checked").1;
                }
            }
            if let Some(file) = state.files.get_mut(&name) {
                // What was written before the sync began is durable now, and what an overlapping
                // sync already made durable stays so; a truncation since then is made durable
                // too (the log syncs right after truncating).
                let end = written.max(file.durable.len()).min(file.data.len());
                if end > file.durable.len() {
                    file.durable_before_sync = file.durable.len();
                }
                file.durable = file.data[..end].to_vec();
            }
            Ok(())
        }
    }

    fn write_back(&mut self) -> impl Future<Output = io::Result<()>> + Send + 'static + use<> {
        let mut state = self.disk.state.lock();
        state.write_backs += 1;
        let stamp = state.write_backs;
        let result = match state.files.get_mut(&self.name) {
            Some(file) => {
                file.written_back = Some((stamp, file.data.clone()));
                Ok(())
            }
            None => Err(io::Error::new(io::ErrorKind::NotFound, format!("{} was removed", self.name))),
        };
        std::future::ready(result)
    }
}
