//! The log's typed error. Kept apart from the table's [`crate::Error`] (which mirrors `:ets`
//! causes): the NIF maps a `LogError` to its own term in one place.

use super::record::Location;
use std::fmt;
use std::io;
use std::path::PathBuf;

/// Every fallible log call returns this.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogError {
    /// An I/O call failed. `kind` is the portable kind, `errno` the raw OS error when there is
    /// one (`ENOSPC` = 28 on Linux: see [`LogError::is_disk_full`]), `op` what the log was
    /// doing, `path` the file.
    Io {
        kind: io::ErrorKind,
        errno: Option<i32>,
        op: &'static str,
        path: PathBuf,
        message: String,
    },
    /// A record, hint file or meta file failed its CRC or length checks where the log cannot
    /// truncate (in a closed file during a merge or a read). Recovery never returns this for a
    /// torn tail: it truncates instead.
    Corrupt {
        path: PathBuf,
        offset: u64,
        reason: &'static str,
    },
    /// Another open log (this process or another) holds the directory's lock.
    Locked(PathBuf),
    /// The directory holds a log whose meta bytes differ from the ones given to `open`
    /// (another table type or keypos). `found` are the stored bytes.
    MetaMismatch { found: Vec<u8> },
    /// `read_at` of a location in a file that a merge has since removed: look the key up
    /// again (the merge repointed it through its relocation callback) and retry.
    Stale(Location),
    /// An earlier write or sync failed after bytes may have reached the file; the log refuses
    /// further writes until it is reopened (recovery then truncates whatever is torn). Carries
    /// the first failure's message.
    Failed(String),
    /// A batch too large for one record (see [`crate::config::LOG_MAX_RECORD_BYTES`]) or an
    /// empty batch.
    BadBatch(&'static str),
}

impl LogError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, e: &io::Error) -> Self {
        LogError::Io {
            kind: e.kind(),
            errno: e.raw_os_error(),
            op,
            path: path.into(),
            message: e.to_string(),
        }
    }

    pub(crate) fn corrupt(path: impl Into<PathBuf>, offset: u64, reason: &'static str) -> Self {
        LogError::Corrupt {
            path: path.into(),
            offset,
            reason,
        }
    }

    /// True when the failure was a full disk (`ENOSPC`, or `EDQUOT` for a quota).
    pub fn is_disk_full(&self) -> bool {
        matches!(self, LogError::Io { errno: Some(e), .. } if *e == libc::ENOSPC || *e == libc::EDQUOT)
    }
}

impl fmt::Display for LogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LogError::Io {
                op, path, message, ..
            } => write!(f, "{op} {}: {message}", path.display()),
            LogError::Corrupt {
                path,
                offset,
                reason,
            } => write!(f, "corrupt log {} at {offset}: {reason}", path.display()),
            LogError::Locked(p) => write!(f, "log directory {} is open elsewhere", p.display()),
            LogError::MetaMismatch { .. } => write!(f, "log directory holds another table kind"),
            LogError::Stale(l) => write!(f, "location {l:?} was moved by a merge"),
            LogError::Failed(m) => write!(f, "log failed earlier ({m}); reopen it"),
            LogError::BadBatch(m) => write!(f, "bad batch: {m}"),
        }
    }
}

impl std::error::Error for LogError {}

/// `Result` with a [`LogError`].
pub type LogResult<T> = std::result::Result<T, LogError>;
