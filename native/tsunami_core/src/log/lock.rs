//! One writer per directory: an exclusive `flock` on `<dir>/LOCK`.
//!
//! `flock` belongs to the open file description, so the kernel drops it when the process
//! dies however it dies (SIGKILL included): a stale `LOCK` file left by a killed VM is
//! simply locked again by the next open, with nothing to clean up. A second open of the
//! same directory in the same process opens a new description and is refused too. The file
//! itself is never deleted (deleting it would let two openers lock two different inodes);
//! it holds the holder's pid, for people.

use super::error::{LogError, LogResult};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::io::AsRawFd;
use std::path::Path;

/// Held for the life of an open log; dropping it closes the file and releases the lock.
#[derive(Debug)]
pub struct DirLock {
    _file: File,
}

impl DirLock {
    pub fn acquire(dir: &Path) -> LogResult<DirLock> {
        let path = dir.join("LOCK");
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| LogError::io("open", &path, &e))?;
        // SAFETY: `file` is open for the duration of the call, so its descriptor is valid;
        // flock takes no pointers.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let e = std::io::Error::last_os_error();
            return Err(if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
                LogError::Locked(dir.to_path_buf())
            } else {
                LogError::io("flock", &path, &e)
            });
        }
        // The pid is informative only: failing to write it does not fail the open.
        let _ = file
            .set_len(0)
            .and_then(|()| writeln!(file, "{}", std::process::id()));
        Ok(DirLock { _file: file })
    }
}
