//! The open-file limit a server process needs: one descriptor per client plus a reserve for its
//! own files and peer connections (`OPEN_FILES_RESERVED`). At start the soft limit is raised to
//! cover `maxclients` (up to the hard limit), and where it cannot be, `maxclients` is lowered to
//! fit with a log line, as Redis's `adjustOpenFilesLimit` does; running out of descriptors later
//! would fail accepts, peer connections and log files at random instead. Production only.

use redraft_core::limits::OPEN_FILES_RESERVED;

/// Raises the process's open-file limit for `maxclients` clients if it must and can, and returns
/// how many clients fit.
///
/// # Errors
/// The limit leaves no room for a single client.
pub fn fit_maxclients(maxclients: usize) -> Result<usize, String> {
    let wanted = maxclients as u64 + OPEN_FILES_RESERVED;
    let (mut soft, hard) = limit().map_err(|e| format!("cannot read the open-file limit: {e}"))?;
    if soft < wanted {
        let target = wanted.min(hard);
        if target > soft {
            match set_limit(target, hard) {
                Ok(()) => soft = target,
                Err(error) => tracing::warn!(%error, target, "cannot raise the open-file limit"),
            }
        }
    }
    let allowed = clients_allowed(maxclients, soft).ok_or_else(|| {
        format!(
            "the open-file limit is {soft}, and a server keeps {OPEN_FILES_RESERVED} for itself: no room for \
             clients; raise it with `ulimit -n`"
        )
    })?;
    if allowed < maxclients {
        tracing::warn!(
            "You requested maxclients of {maxclients} requiring at least {wanted} max file descriptors. \
             Current maximum open files is {soft}. maxclients has been reduced to {allowed} to compensate \
             for low ulimit. If you need higher maxclients increase 'ulimit -n'."
        );
    }
    Ok(allowed)
}

/// How many of `maxclients` clients fit in `open_files` descriptors after the reserve; `None`
/// when none do.
pub fn clients_allowed(maxclients: usize, open_files: u64) -> Option<usize> {
    let room = open_files.saturating_sub(OPEN_FILES_RESERVED);
    (room > 0 && maxclients > 0).then(|| maxclients.min(usize::try_from(room).unwrap_or(usize::MAX)))
}

fn limit() -> std::io::Result<(u64, u64)> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes one rlimit through a valid pointer.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok((limit.rlim_cur, limit.rlim_max))
}

fn set_limit(soft: u64, hard: u64) -> std::io::Result<()> {
    let limit = libc::rlimit { rlim_cur: soft, rlim_max: hard };
    // SAFETY: setrlimit reads one rlimit through a valid pointer.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Clients get what the limit leaves after the reserve, never more than asked, and a limit
    /// at or below the reserve leaves none.
    #[test]
    fn clients_get_what_the_reserve_leaves() {
        let reserve = OPEN_FILES_RESERVED;
        assert_eq!(clients_allowed(10_000, 20_000), Some(10_000));
        assert_eq!(clients_allowed(10_000, 1024), Some((1024 - reserve) as usize));
        assert_eq!(clients_allowed(10_000, reserve + 1), Some(1));
        assert_eq!(clients_allowed(10_000, reserve), None);
        assert_eq!(clients_allowed(10_000, u64::MAX), Some(10_000), "RLIM_INFINITY");
    }
}
