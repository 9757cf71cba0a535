//! The on-disk record: one framed, CRC-checked batch of entries.
//!
//! ```text
//! record = crc:u32 len:u32 seq:u64 count:u32 entry{count}        (little-endian)
//!          crc   = CRC32 of everything after it (len .. end of the last entry)
//!          len   = bytes of the entries (the record is RECORD_HEADER + len bytes)
//!          seq   = the record's sequence number, strictly increasing through the log
//! entry  = crc:u32 op:u8 klen:u32 vlen:u32 key[klen] value[vlen]
//!          crc   = CRC32 of op .. end of value: lets `read_at` check one entry alone
//! ```
//!
//! The record CRC makes a batch atomic: a torn or damaged batch fails it as a whole, and
//! recovery keeps none of it. The entry CRC makes a single positioned read self-checking
//! (Bitcask's per-record CRC) without reading the rest of the batch.

use super::error::{LogError, LogResult};
use crate::config::LOG_MAX_RECORD_BYTES;

/// Bytes before a record's entries.
pub const RECORD_HEADER: usize = 20;
/// Bytes before an entry's key.
pub const ENTRY_HEADER: usize = 13;

/// What an entry does. The log stores the code; the caller gives it meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// Insert an object (set: replace the key's object; bag: add it). Value: the object.
    Put,
    /// Delete every object under a key. Key only.
    DeleteKey,
    /// Delete one exact object (bags: `delete_object`). Value: the object.
    DeleteObject,
    /// Empty the table (`delete_all_objects`). No key, no value.
    Clear,
    /// A caller-defined op (codes 16..=255), kept by merge when the liveness predicate says
    /// so, like a `Put`.
    Other(u8),
}

impl Op {
    pub fn code(self) -> u8 {
        match self {
            Op::Put => 1,
            Op::DeleteKey => 2,
            Op::DeleteObject => 3,
            Op::Clear => 4,
            Op::Other(c) => c,
        }
    }

    /// `None` for the reserved codes 0 and 5..=15.
    pub fn from_code(c: u8) -> Option<Op> {
        match c {
            1 => Some(Op::Put),
            2 => Some(Op::DeleteKey),
            3 => Some(Op::DeleteObject),
            4 => Some(Op::Clear),
            16..=255 => Some(Op::Other(c)),
            _ => None,
        }
    }

    /// Deletes and clears: they only shadow older records, so a merge whose inputs include
    /// every older file drops them.
    pub fn is_tombstone(self) -> bool {
        matches!(self, Op::DeleteKey | Op::DeleteObject | Op::Clear)
    }
}

/// One operation of a batch, borrowed from the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry<'a> {
    pub op: Op,
    pub key: &'a [u8],
    pub value: &'a [u8],
}

impl<'a> Entry<'a> {
    pub fn put(key: &'a [u8], value: &'a [u8]) -> Self {
        Entry {
            op: Op::Put,
            key,
            value,
        }
    }
    pub fn delete(key: &'a [u8]) -> Self {
        Entry {
            op: Op::DeleteKey,
            key,
            value: &[],
        }
    }
    pub fn delete_object(key: &'a [u8], value: &'a [u8]) -> Self {
        Entry {
            op: Op::DeleteObject,
            key,
            value,
        }
    }
    pub fn clear() -> Self {
        Entry {
            op: Op::Clear,
            key: &[],
            value: &[],
        }
    }
    fn encoded_len(&self) -> usize {
        ENTRY_HEADER + self.key.len() + self.value.len()
    }
}

/// A data file: `major` orders files as they were written; a merge's outputs take the
/// `major` of the newest file they replace and `minor`s above every existing one, so they
/// sort after what they replace and before every newer file. Packed `major << 16 | minor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FileId(pub u64);

impl FileId {
    pub fn new(major: u64, minor: u16) -> Self {
        FileId(major << 16 | u64::from(minor))
    }
    pub fn major(self) -> u64 {
        self.0 >> 16
    }
    pub fn minor(self) -> u16 {
        self.0 as u16
    }
}

/// Where one entry lives: 16 bytes, what a `{:values, :disk}` keydir keeps per key.
/// `offset` is the entry's own start (not its record's), `len` its encoded length, so
/// [`super::Log::read_at`] is one `pread` of `len` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Location {
    pub file: FileId,
    pub offset: u32,
    pub len: u32,
}

/// An entry read back from the log, borrowed from a read buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryRef<'a> {
    pub op: Op,
    pub key: &'a [u8],
    pub value: &'a [u8],
}

/// Encodes `batch` into `out` as a record with `seq = 0` and its CRC unset: [`seal`] sets
/// both under the writer lock. Returns the CRC of the payload (the entries), which `seal`
/// combines with the header's. [`entry_offsets`] gives each entry's place in the record.
pub fn encode(batch: &[Entry<'_>], out: &mut Vec<u8>) -> LogResult<u32> {
    if batch.is_empty() {
        return Err(LogError::BadBatch("empty batch"));
    }
    let payload: usize = batch.iter().map(Entry::encoded_len).sum();
    if payload > LOG_MAX_RECORD_BYTES || batch.len() > u32::MAX as usize {
        return Err(LogError::BadBatch("batch larger than LOG_MAX_RECORD_BYTES"));
    }
    out.clear();
    out.reserve(RECORD_HEADER + payload);
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&(payload as u32).to_le_bytes());
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&(batch.len() as u32).to_le_bytes());
    for e in batch {
        encode_entry(e.op, e.key, e.value, out);
    }
    Ok(crc32fast::hash(&out[RECORD_HEADER..]))
}

fn encode_entry(op: Op, key: &[u8], value: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    out.push(op.code());
    out.extend_from_slice(&(key.len() as u32).to_le_bytes());
    out.extend_from_slice(&(value.len() as u32).to_le_bytes());
    out.extend_from_slice(key);
    out.extend_from_slice(value);
    let crc = crc32fast::hash(&out[start + 4..]);
    out[start..start + 4].copy_from_slice(&crc.to_le_bytes());
}

/// Sets the record's sequence number and CRC. `payload_crc` is [`encode`]'s result, so
/// only the 16 header bytes are hashed here (under the writer lock).
pub fn seal(rec: &mut [u8], seq: u64, payload_crc: u32) {
    rec[8..16].copy_from_slice(&seq.to_le_bytes());
    let mut h = crc32fast::Hasher::new();
    h.update(&rec[4..RECORD_HEADER]);
    let payload =
        crc32fast::Hasher::new_with_initial_len(payload_crc, (rec.len() - RECORD_HEADER) as u64);
    h.combine(&payload);
    rec[0..4].copy_from_slice(&h.finalize().to_le_bytes());
}

/// A record header as read from disk.
#[derive(Debug, Clone, Copy)]
pub struct Header {
    pub crc: u32,
    pub len: u32,
    pub seq: u64,
    pub count: u32,
}

pub fn parse_header(h: &[u8; RECORD_HEADER]) -> Header {
    Header {
        crc: u32::from_le_bytes(h[0..4].try_into().unwrap()),
        len: u32::from_le_bytes(h[4..8].try_into().unwrap()),
        seq: u64::from_le_bytes(h[8..16].try_into().unwrap()),
        count: u32::from_le_bytes(h[16..20].try_into().unwrap()),
    }
}

impl Header {
    /// A length that cannot be right: beyond the record limit, or too short for `count`
    /// entries. Checked before reading the payload so a damaged length never makes the
    /// reader allocate or skip gigabytes.
    pub fn plausible(&self) -> bool {
        self.count >= 1
            && (self.len as usize) <= LOG_MAX_RECORD_BYTES
            && u64::from(self.count) * ENTRY_HEADER as u64 <= u64::from(self.len)
    }

    /// Whether `payload` (the `len` bytes after the header) matches the header's CRC.
    pub fn check(&self, header: &[u8; RECORD_HEADER], payload: &[u8]) -> bool {
        let mut h = crc32fast::Hasher::new();
        h.update(&header[4..]);
        h.update(payload);
        h.finalize() == self.crc
    }
}

/// Walks a checked payload's entries: `(offset of the entry within the payload, entry)`.
/// `None` if the entries do not exactly fill the payload or there are not `count` of them
/// (impossible for a record that passed its CRC unless the writer was wrong; treated as
/// damage all the same).
pub fn entries(payload: &[u8], count: u32) -> Option<Vec<(usize, EntryRef<'_>)>> {
    let mut out = Vec::with_capacity(count as usize);
    let mut at = 0usize;
    for _ in 0..count {
        let (e, len) = parse_entry(&payload[at..])?;
        out.push((at, e));
        at += len;
    }
    (at == payload.len()).then_some(out)
}

/// Parses one entry at the start of `b` without checking its CRC: `(entry, encoded length)`.
fn parse_entry(b: &[u8]) -> Option<(EntryRef<'_>, usize)> {
    if b.len() < ENTRY_HEADER {
        return None;
    }
    let op = Op::from_code(b[4])?;
    let klen = u32::from_le_bytes(b[5..9].try_into().unwrap()) as usize;
    let vlen = u32::from_le_bytes(b[9..13].try_into().unwrap()) as usize;
    let end = ENTRY_HEADER.checked_add(klen)?.checked_add(vlen)?;
    if b.len() < end {
        return None;
    }
    let key = &b[ENTRY_HEADER..ENTRY_HEADER + klen];
    let value = &b[ENTRY_HEADER + klen..end];
    Some((EntryRef { op, key, value }, end))
}

/// Parses exactly one entry filling `b` and checks its own CRC (the `read_at` path).
pub fn checked_entry(b: &[u8]) -> Option<EntryRef<'_>> {
    let (e, len) = parse_entry(b)?;
    let crc = u32::from_le_bytes(b[0..4].try_into().unwrap());
    (len == b.len() && crc32fast::hash(&b[4..]) == crc).then_some(e)
}

/// Re-encodes already-read entries as a record with the given `seq` (merge output).
/// Returns each entry's offset within the record.
pub fn encode_copy(seq: u64, batch: &[EntryRef<'_>], out: &mut Vec<u8>) -> Vec<u32> {
    let entries: Vec<Entry<'_>> = batch
        .iter()
        .map(|e| Entry {
            op: e.op,
            key: e.key,
            value: e.value,
        })
        .collect();
    let crc = encode(&entries, out).expect("a copy of a stored record fits a record");
    seal(out, seq, crc);
    let mut offs = Vec::with_capacity(batch.len());
    let mut at = RECORD_HEADER;
    for e in &entries {
        offs.push(at as u32);
        at += e.encoded_len();
    }
    offs
}

/// Offsets (within the record) of each entry of a batch [`encode`]d from `batch`.
pub fn entry_offsets<'b>(batch: &'b [Entry<'_>]) -> impl Iterator<Item = (u32, u32)> + 'b {
    let mut at = RECORD_HEADER;
    batch.iter().map(move |e| {
        let o = at;
        let l = e.encoded_len();
        at += l;
        (o as u32, l as u32)
    })
}
