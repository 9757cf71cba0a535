//! Tests of the durable log: `cargo test --release -p tsunami_core log`.
//!
//! * `basic`: roundtrip, rotation, meta, locks, sync modes, read_at.
//! * `damage`: truncation at every byte offset of the last records, bit flips, set-aside.
//! * `merge`: liveness, tombstones across files, hints, concurrent appends, a crash after
//!   every merge step.
//! * `faults`: a full disk and a failing sync (injected), and a real tmpfs (`#[ignore]`,
//!   root only).
//! * `kill`: a child process (this test binary) SIGKILLed while writing; a stale lock.

mod basic;
mod damage;
mod faults;
mod kill;
mod merge;

use super::{Entry, Log, LogError, LogResult, Op, OpenOptions, OpenReport, Replayed};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// A directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let p = std::env::temp_dir().join(format!(
            "tsunami-log-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// xorshift64*: deterministic test randomness without a dependency.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The oracle: a set table (key -> value) fed the same operations.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Model {
    pub map: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl Model {
    pub fn apply(&mut self, op: Op, key: &[u8], value: &[u8]) {
        match op {
            Op::Put => {
                self.map.insert(key.to_vec(), value.to_vec());
            }
            Op::DeleteKey => {
                self.map.remove(key);
            }
            Op::DeleteObject => {
                if self.map.get(key).map(Vec::as_slice) == Some(value) {
                    self.map.remove(key);
                }
            }
            Op::Clear => self.map.clear(),
            Op::Other(_) => {}
        }
    }
    pub fn apply_batch(&mut self, batch: &[Entry<'_>]) {
        for e in batch {
            self.apply(e.op, e.key, e.value);
        }
    }
}

/// One replayed entry, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub seq: u64,
    pub op: Op,
    pub key: Vec<u8>,
    pub value: Option<Vec<u8>>,
    pub location: super::Location,
}

impl From<Replayed<'_>> for Seen {
    fn from(r: Replayed<'_>) -> Seen {
        Seen {
            seq: r.seq,
            op: r.op,
            key: r.key.to_vec(),
            value: r.value.map(<[u8]>::to_vec),
            location: r.location,
        }
    }
}

/// Opens `dir` and returns the log, the model rebuilt from replay, every replayed entry and
/// the report.
pub fn open(dir: &Path, opts: OpenOptions) -> LogResult<(Log, Model, Vec<Seen>, OpenReport)> {
    // Tests run in parallel threads, and the kill tests fork child processes: a child
    // holds a copy of every descriptor until its exec closes it (O_CLOEXEC), so a lock
    // this thread just released can still be held for a moment by the fork's copy. Retry
    // a `Locked` briefly; a lock really held by another open stays `Locked`.
    let mut tries = 0;
    loop {
        let mut model = Model::default();
        let mut seen = Vec::new();
        let r = Log::open(dir, opts.clone(), |r| {
            model.apply(r.op, r.key, r.value.unwrap_or(&[]));
            seen.push(Seen::from(r));
        });
        match r {
            Err(LogError::Locked(_)) if tries < 100 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            r => {
                let (log, report) = r?;
                return Ok((log, model, seen, report));
            }
        }
    }
}

pub fn small_files() -> OpenOptions {
    OpenOptions {
        max_file_bytes: 4096,
        ..OpenOptions::default()
    }
}

pub fn key(i: u64) -> Vec<u8> {
    format!("key-{i}").into_bytes()
}

pub fn value(i: u64, len: usize) -> Vec<u8> {
    let mut v = format!("value-{i}-").into_bytes();
    while v.len() < len {
        v.push(b'a' + (v.len() % 26) as u8);
    }
    v
}
