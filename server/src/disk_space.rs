//! The free space of the data directory's file system, as gauges (`redraft_data_dir_free_bytes`
//! and `redraft_data_dir_size_bytes`) refreshed every few seconds, for the disk-space alert.
//! Production only: the simulator's disk is not a file system.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::metrics::Metrics;

/// How often the gauges are refreshed.
const REFRESH: Duration = Duration::from_secs(5);

/// Bytes available to this user, and the size, of the file system holding `path`.
pub fn free_and_size(path: &Path) -> std::io::Result<(u64, u64)> {
    let path = CString::new(path.as_os_str().as_bytes()).map_err(std::io::Error::other)?;
    // SAFETY: statvfs fills the struct it is given from a NUL-terminated path; both outlive it.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(path.as_ptr(), &mut stat) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let block = stat.f_frsize as u64;
    Ok((stat.f_bavail as u64 * block, stat.f_blocks as u64 * block))
}

/// Refreshes the gauges for `dir` until `stop` turns true.
pub async fn report(metrics: Arc<Metrics>, dir: std::path::PathBuf, mut stop: watch::Receiver<bool>) {
    loop {
        match free_and_size(&dir) {
            Ok((free, size)) => {
                metrics.data_dir_free_bytes.set(i64::try_from(free).unwrap_or(i64::MAX));
                metrics.data_dir_size_bytes.set(i64::try_from(size).unwrap_or(i64::MAX));
            }
            Err(error) => tracing::debug!(%error, "cannot read the data directory's free space"),
        }
        tokio::select! {
            _ = stop.changed() => return,
            () = tokio::time::sleep(REFRESH) => {}
        }
    }
}
