//! Hint files: for each entry of a merged data file, its key and location but not its
//! value, so a keys-only open (`{:values, :disk}`) reads keys, not data.
//!
//! ```text
//! hint     = magic "TSUNHNT\x01" | hint_entry* | sentinel
//! entry    = seq:u64 op:u8 klen:u32 offset:u32 len:u32 key[klen]
//! sentinel = u64::MAX | count:u64 | crc:u32      (crc: CRC32 of every byte before it)
//! ```
//!
//! A hint is used only if it is whole (sentinel present, CRC right, nothing after it) and
//! every location lies inside its data file; otherwise recovery scans the data file
//! instead (Bitcask's rule, with the CRC its keys-only fold lacked).

use super::error::{LogError, LogResult};
use super::record::{FileId, Location, Op};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"TSUNHNT\x01";
const ENTRY: usize = 21;
const SENTINEL: usize = 20;

/// Writes a hint file next to a merge output.
pub struct HintWriter {
    out: BufWriter<File>,
    path: PathBuf,
    crc: crc32fast::Hasher,
    count: u64,
}

impl HintWriter {
    pub fn new(file: File, path: PathBuf) -> LogResult<Self> {
        let mut w = HintWriter {
            out: BufWriter::with_capacity(1 << 16, file),
            path,
            crc: crc32fast::Hasher::new(),
            count: 0,
        };
        w.put(MAGIC)?;
        Ok(w)
    }

    fn put(&mut self, b: &[u8]) -> LogResult<()> {
        self.crc.update(b);
        self.out
            .write_all(b)
            .map_err(|e| LogError::io("write hint", &self.path, &e))
    }

    pub fn add(&mut self, seq: u64, op: Op, key: &[u8], loc: Location) -> LogResult<()> {
        let mut h = [0u8; ENTRY];
        h[0..8].copy_from_slice(&seq.to_le_bytes());
        h[8] = op.code();
        h[9..13].copy_from_slice(&(key.len() as u32).to_le_bytes());
        h[13..17].copy_from_slice(&loc.offset.to_le_bytes());
        h[17..21].copy_from_slice(&loc.len.to_le_bytes());
        self.put(&h)?;
        self.put(key)?;
        self.count += 1;
        Ok(())
    }

    /// Writes the sentinel and syncs the file.
    pub fn finish(mut self) -> LogResult<()> {
        let mut s = [0u8; 16];
        s[0..8].copy_from_slice(&u64::MAX.to_le_bytes());
        s[8..16].copy_from_slice(&self.count.to_le_bytes());
        self.put(&s)?;
        let crc = self.crc.clone().finalize();
        let path = self.path.clone();
        let io = |e: std::io::Error| LogError::io("write hint", &path, &e);
        self.out.write_all(&crc.to_le_bytes()).map_err(io)?;
        let f = self.out.into_inner().map_err(|e| io(e.into_error()))?;
        f.sync_data().map_err(io)
    }
}

/// One hint entry, borrowed from a loaded hint file.
#[derive(Debug, Clone, Copy)]
pub struct Hint<'a> {
    pub seq: u64,
    pub op: Op,
    pub key: &'a [u8],
    pub location: Location,
}

/// A hint file's bytes, validated against its data file of `data_len` bytes; `None` if it
/// is absent, unreadable, damaged or points past the data.
pub fn load(path: &Path, data_len: u64) -> Option<Vec<u8>> {
    let b = std::fs::read(path).ok()?;
    if b.len() < MAGIC.len() + SENTINEL || &b[..8] != MAGIC {
        return None;
    }
    let body = b.len() - 4;
    let crc = u32::from_le_bytes(b[body..].try_into().unwrap());
    if crc32fast::hash(&b[..body]) != crc {
        return None;
    }
    let mut at = MAGIC.len();
    let mut count = 0u64;
    loop {
        let seq = u64::from_le_bytes(b.get(at..at + 8)?.try_into().unwrap());
        if seq == u64::MAX {
            let n = u64::from_le_bytes(b.get(at + 8..at + 16)?.try_into().unwrap());
            return (n == count && at + SENTINEL == b.len()).then_some(b);
        }
        let h = b.get(at..at + ENTRY)?;
        Op::from_code(h[8])?;
        let klen = u32::from_le_bytes(h[9..13].try_into().unwrap()) as usize;
        let offset = u32::from_le_bytes(h[13..17].try_into().unwrap());
        let len = u32::from_le_bytes(h[17..21].try_into().unwrap());
        if u64::from(offset) + u64::from(len) > data_len {
            return None;
        }
        at += ENTRY;
        b.get(at..at + klen)?;
        at += klen;
        count += 1;
    }
}

/// The entries of a hint file that [`load`] accepted, in file order.
pub fn entries(b: &[u8], file: FileId) -> impl Iterator<Item = Hint<'_>> {
    let mut at = MAGIC.len();
    std::iter::from_fn(move || {
        let seq = u64::from_le_bytes(b[at..at + 8].try_into().unwrap());
        if seq == u64::MAX {
            return None;
        }
        let h = &b[at..at + ENTRY];
        let op = Op::from_code(h[8]).expect("checked by load");
        let klen = u32::from_le_bytes(h[9..13].try_into().unwrap()) as usize;
        let location = Location {
            file,
            offset: u32::from_le_bytes(h[13..17].try_into().unwrap()),
            len: u32::from_le_bytes(h[17..21].try_into().unwrap()),
        };
        let key = &b[at + ENTRY..at + ENTRY + klen];
        at += ENTRY + klen;
        Some(Hint {
            seq,
            op,
            key,
            location,
        })
    })
}
