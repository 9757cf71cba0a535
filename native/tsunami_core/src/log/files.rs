//! Files of a log directory: names, the data file header, directory fsync, and the one
//! place that writes and syncs data files (so a [`Faults`] hook can fail them).
//!
//! ```text
//! <dir>/LOCK                      flock'ed by the open log (see `lock`)
//! <dir>/META                      table meta bytes (see `meta`)
//! <dir>/{major:016x}-{minor:04x}.data   records (see `record`), after an 16-byte header
//! <dir>/{major:016x}-{minor:04x}.hint   keys and locations of a merged data file
//! <dir>/*.tmp                     a merge in progress (deleted on open unless MERGE commits it)
//! <dir>/MERGE                     a committed merge's manifest (rolled forward on open)
//! <dir>/*.aside                   files after a damaged record, set aside by recovery
//! ```

use super::error::{LogError, LogResult};
use super::record::FileId;
use crate::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Every data file starts with these 16 bytes: 8 of magic, a `u32` format version, 4 zero.
pub const DATA_MAGIC: &[u8; 8] = b"TSUNLOG\x01";
pub const FILE_HEADER: u64 = 16;
pub const FORMAT_VERSION: u32 = 1;

pub fn data_header() -> [u8; FILE_HEADER as usize] {
    let mut h = [0u8; FILE_HEADER as usize];
    h[..8].copy_from_slice(DATA_MAGIC);
    h[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h
}

pub fn data_name(id: FileId) -> String {
    format!("{:016x}-{:04x}.data", id.major(), id.minor())
}

pub fn hint_name(id: FileId) -> String {
    format!("{:016x}-{:04x}.hint", id.major(), id.minor())
}

/// Parses `{major:016x}-{minor:04x}.{ext}` back into an id.
pub fn parse_name(name: &str, ext: &str) -> Option<FileId> {
    let stem = name.strip_suffix(ext)?.strip_suffix('.')?;
    let (major, minor) = stem.split_once('-')?;
    if major.len() != 16 || minor.len() != 4 {
        return None;
    }
    Some(FileId::new(
        u64::from_str_radix(major, 16).ok()?,
        u16::from_str_radix(minor, 16).ok()?,
    ))
}

/// Makes renames, creations and deletions in `dir` durable.
pub fn sync_dir(dir: &Path) -> LogResult<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| LogError::io("fsync directory", dir, &e))
}

pub fn create_new(path: &Path) -> LogResult<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| LogError::io("create", path, &e))
}

pub fn open_rw(path: &Path) -> LogResult<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| LogError::io("open", path, &e))
}

pub fn remove(path: &Path) -> LogResult<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(LogError::io("remove", path, &e)),
    }
}

pub fn rename(from: &Path, to: &Path) -> LogResult<()> {
    fs::rename(from, to).map_err(|e| LogError::io("rename", from, &e))
}

/// Injected I/O failures, for tests of a full or failing disk (the NIF's tests can use it
/// too). Shared by the log and the test through an `Arc`; inert by default.
#[derive(Debug)]
pub struct Faults {
    /// Bytes of data-file writes still allowed; a write that would pass it writes only the
    /// bytes that fit and fails with `ENOSPC` (a short write, as a full disk does). Negative:
    /// no limit.
    write_budget: AtomicI64,
    /// The next data-file sync fails with `EIO`.
    fail_sync: AtomicBool,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            write_budget: AtomicI64::new(-1),
            fail_sync: AtomicBool::new(false),
        }
    }
}

impl Faults {
    /// Allows `bytes` more bytes of writes, then fails like a full disk.
    pub fn fill_disk_after(&self, bytes: u64) {
        // Relaxed: a test knob, set before the writes it governs by the same thread.
        self.write_budget.store(bytes as i64, Ordering::Relaxed);
    }
    /// Lifts the write limit (space was freed).
    pub fn free_disk(&self) {
        self.write_budget.store(-1, Ordering::Relaxed);
    }
    /// Makes the next data-file sync fail with `EIO`.
    pub fn fail_next_sync(&self) {
        self.fail_sync.store(true, Ordering::Relaxed);
    }
}

/// Writes `buf` at `offset`, or fails as `faults` says.
pub fn write_at(file: &File, buf: &[u8], offset: u64, faults: Option<&Faults>) -> io::Result<()> {
    if let Some(f) = faults {
        let budget = f.write_budget.load(Ordering::Relaxed);
        if budget >= 0 && (budget as u64) < buf.len() as u64 {
            f.write_budget.store(0, Ordering::Relaxed);
            file.write_all_at(&buf[..budget as usize], offset)?;
            return Err(io::Error::from_raw_os_error(libc::ENOSPC));
        }
        if budget >= 0 {
            f.write_budget
                .store(budget - buf.len() as i64, Ordering::Relaxed);
        }
    }
    file.write_all_at(buf, offset)
}

/// `fdatasync`s `file`, or fails as `faults` says.
pub fn sync_data(file: &File, faults: Option<&Faults>) -> io::Result<()> {
    if let Some(f) = faults {
        if f.fail_sync.swap(false, Ordering::Relaxed) {
            return Err(io::Error::from_raw_os_error(libc::EIO));
        }
    }
    file.sync_data()
}

/// Lists `(id, path)` of files named `*.{ext}` in `dir`, sorted by id.
pub fn list(dir: &Path, ext: &str) -> LogResult<Vec<(FileId, PathBuf)>> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).map_err(|e| LogError::io("list", dir, &e))? {
        let e = e.map_err(|e| LogError::io("list", dir, &e))?;
        if let Some(id) = e.file_name().to_str().and_then(|n| parse_name(n, ext)) {
            out.push((id, e.path()));
        }
    }
    out.sort();
    Ok(out)
}
