//! `<dir>/META`: the caller's opaque meta bytes (for a table: its type and keypos), so that
//! reopening a directory as another kind of table can be refused.
//!
//! ```text
//! META = magic "TSUNMETA" | version:u32 | len:u32 | bytes[len] | crc:u32 (of all before it)
//! ```
//!
//! Written once, when the log is created, through `META.tmp` + fsync + rename + fsync of the
//! directory, so it is either absent or whole.

use super::error::{LogError, LogResult};
use super::files::{create_new, remove, rename, sync_dir, FORMAT_VERSION};
use std::fs;
use std::io::{self, Write};
use std::path::Path;

const MAGIC: &[u8; 8] = b"TSUNMETA";

/// The stored bytes, or `None` if the directory has no meta file yet.
pub fn read(dir: &Path) -> LogResult<Option<Vec<u8>>> {
    let path = dir.join("META");
    let b = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(LogError::io("read", &path, &e)),
    };
    let bad = || LogError::corrupt(&path, 0, "meta file damaged");
    if b.len() < 20 || &b[..8] != MAGIC {
        return Err(bad());
    }
    let len = u32::from_le_bytes(b[12..16].try_into().unwrap()) as usize;
    if b.len() != 20 + len {
        return Err(bad());
    }
    let crc = u32::from_le_bytes(b[16 + len..].try_into().unwrap());
    if crc32fast::hash(&b[..16 + len]) != crc {
        return Err(bad());
    }
    Ok(Some(b[16..16 + len].to_vec()))
}

pub fn write(dir: &Path, bytes: &[u8]) -> LogResult<()> {
    let tmp = dir.join("META.tmp");
    remove(&tmp)?;
    let mut b = Vec::with_capacity(20 + bytes.len());
    b.extend_from_slice(MAGIC);
    b.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    b.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    b.extend_from_slice(bytes);
    let crc = crc32fast::hash(&b);
    b.extend_from_slice(&crc.to_le_bytes());
    let mut f = create_new(&tmp)?;
    f.write_all(&b)
        .and_then(|()| f.sync_all())
        .map_err(|e| LogError::io("write", &tmp, &e))?;
    rename(&tmp, &dir.join("META"))?;
    sync_dir(dir)
}
