//! # Durable log
//!
//! A Bitcask-style log that can back any table: an append-only sequence of CRC-checked
//! records in numbered data files, one writer per directory, closed files immutable, a
//! background-capable merge that rewrites live records and writes hint files. The log knows
//! nothing of terms or tables: an entry is an [`Op`] code, key bytes and value bytes.
//!
//! ## How a table uses it
//!
//! ```text
//! open:   Log::open(dir, OpenOptions { meta: <type, keypos>, .. }, |r| apply r to the table)
//!           -> MetaMismatch: the directory holds another kind of table (badarg)
//!           -> Locked: the directory is open elsewhere (badarg)
//! write:  under the lock that orders writes to the key (the shard lock), call
//!         `log.write(&batch)` (ordered, not yet durable; microseconds) and apply the batch to
//!         the table; release the lock; then `log.wait_durable(written.lsn)` as the sync mode
//!         asks (`log.append` does both, for callers with no lock to drop in between).
//! read:   default mode: the table in RAM, the log is never read.
//!         `{:values, :disk}`: the keydir maps key -> `Location`; `log.read_at(loc)` is one
//!         positioned read (blocking: run it on a dirty I/O scheduler). `Stale` means a merge
//!         moved it: look the key up again.
//! merge:  on a background thread, `log.merge(opts, is_live, relocate)`; `is_live(entry, loc)`
//!         says whether the keydir still refers to that entry; `relocate(entry, old, new)`
//!         repoints the keydir *only if it still holds `old`* (a write may have replaced it
//!         since). Appends and reads go on meanwhile.
//! close:  drop the `Log` (or `close()` to see a final sync's error): everything written is
//!         synced, the lock released.
//! ```
//!
//! Replay order is the log order, which is the order of `write` calls: apply writes to the
//! table in that order too (hold the key's lock across `write` and the apply), or a replay
//! could end in another state than the table had.
//!
//! Liveness for a table kept in RAM: merge asks, per stored `Put`, "is this the entry the
//! table holds now?". A set can answer from the key alone if each object remembers the
//! `Location` it was written at (16 bytes per object); bags need the location per object
//! too (two equal objects of a `duplicate_bag` are two entries). A table that keeps no
//! locations can answer `true` for every `Put` whose object is still in the table only if
//! it tolerates duplicates after a reopen, which bags do not: keep the locations.
//!
//! ## Guarantees
//!
//! * A batch is one record with one CRC: after any crash it is replayed whole or not at all.
//! * Recovery replays records in write order and stops at the first record whose length or
//!   CRC is wrong: it truncates the file there and sets later files aside (`*.aside`), so
//!   what is replayed is exactly an intact prefix of what was written. It never returns
//!   damaged bytes and never skips a record (a skipped tombstone would resurrect a key).
//! * [`SyncMode::Always`]: `append` returns once its record is on stable storage (group
//!   commit: concurrent writers share one `fdatasync`, see [`commit`]).
//!   [`SyncMode::Interval`]: a background thread syncs at most every period (default
//!   [`LOG_SYNC_INTERVAL_DEFAULT_MS`]); [`SyncMode::None`]: the OS decides. In every mode
//!   a write that returned survives the writer process being killed (it is in the page
//!   cache); only power loss needs the sync. [`Log::sync`] returns once every earlier write
//!   is durable.
//! * A failed write (a full disk) is cut back off the file and reported; the log stays
//!   usable. A failed sync makes the log refuse further writes ([`LogError::Failed`]) until
//!   it is reopened.
//!
//! The format, recovery rules, group commit and merge are described in DESIGN.md ("Durable
//! log") and at the top of each file: [`record`], [`files`], [`hint`], [`commit`],
//! [`recovery`], [`merge`].

pub mod commit;
pub mod error;
pub mod files;
pub mod hint;
mod lock;
pub mod merge;
mod meta;
pub mod record;
pub mod recovery;
mod scan;

pub use error::{LogError, LogResult};
pub use files::Faults;
pub use merge::{MergeOptions, MergeReport, MergeStep};
pub use record::{Entry, EntryRef, FileId, Location, Op};
pub use recovery::{OpenReport, Replayed, Truncation};

use crate::config::{
    LOG_FILE_MAX_BYTES_DEFAULT, LOG_FILE_MAX_BYTES_LIMIT, LOG_MERGE_DEAD_PERCENT,
    LOG_MERGE_MIN_DEAD_BYTES, LOG_SYNC_INTERVAL_DEFAULT_MS,
};
use crate::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use crate::sync::{Arc, Mutex, RwLock};
use commit::GroupCommit;
use files::{data_name, FILE_HEADER};
use lock::DirLock;
use record::{checked_entry, ENTRY_HEADER};
use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// When a write is made durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncMode {
    /// `append` returns after an `fdatasync` covering its record (group commit).
    Always,
    /// The OS writes back when it likes; `sync()` and close still sync.
    None,
    /// A background thread syncs at most once per period if anything was written.
    Interval(Duration),
}

impl SyncMode {
    /// `Interval` with the documented default period ([`LOG_SYNC_INTERVAL_DEFAULT_MS`]).
    pub fn interval_default() -> Self {
        SyncMode::Interval(Duration::from_millis(LOG_SYNC_INTERVAL_DEFAULT_MS))
    }
}

/// What replay hands the callback for each entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayValues {
    /// Every entry with its value: data files are read (a table kept in RAM).
    Full,
    /// Keys and locations; values only where a data file was scanned anyway. Valid hint
    /// files are read instead of data files (a `{:values, :disk}` keydir).
    KeysOnly,
}

/// How to open a log. Defaults: `SyncMode::Always` (the safe choice; the table layer picks
/// its own default), [`LOG_FILE_MAX_BYTES_DEFAULT`] files, empty meta, full replay, no
/// injected faults.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    pub sync: SyncMode,
    /// A data file is closed before a record would take it past this size (bytes).
    pub max_file_bytes: u64,
    /// Opaque bytes stored on creation and compared on every later open (table type and
    /// keypos): a mismatch is [`LogError::MetaMismatch`].
    pub meta: Vec<u8>,
    pub values: ReplayValues,
    /// Injected I/O failures, for tests.
    pub faults: Option<std::sync::Arc<Faults>>,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            sync: SyncMode::Always,
            max_file_bytes: LOG_FILE_MAX_BYTES_DEFAULT,
            meta: Vec::new(),
            values: ReplayValues::Full,
            faults: None,
        }
    }
}

/// What [`Log::write`] did: where each entry of the batch went (in batch order) and the LSN
/// to pass to [`Log::wait_durable`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub locations: Vec<Location>,
    pub lsn: u64,
    pub seq: u64,
}

/// An entry read back by [`Log::read_at`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEntry {
    pub op: Op,
    buf: Vec<u8>,
    key_len: usize,
}

impl StoredEntry {
    pub fn key(&self) -> &[u8] {
        &self.buf[ENTRY_HEADER..ENTRY_HEADER + self.key_len]
    }
    pub fn value(&self) -> &[u8] {
        &self.buf[ENTRY_HEADER + self.key_len..]
    }
}

/// Figures for `info(T, :disk)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stats {
    /// Data files (the active one included).
    pub files: usize,
    /// Bytes of data and hint files.
    pub disk_bytes: u64,
    /// Live bytes as the caller reported them ([`Log::add_live_bytes`]).
    pub live_bytes: u64,
    /// When the last merge finished, if one ran since open.
    pub last_merge: Option<SystemTime>,
    pub merges: u64,
    /// LSN (bytes appended since open) written and synced.
    pub written_lsn: u64,
    pub synced_lsn: u64,
}

impl Stats {
    /// Bytes on disk that are not live.
    pub fn dead_bytes(&self) -> u64 {
        self.disk_bytes.saturating_sub(self.live_bytes)
    }

    /// Whether a background merge is due: dead bytes are at least
    /// [`LOG_MERGE_DEAD_PERCENT`] of the disk bytes and at least [`LOG_MERGE_MIN_DEAD_BYTES`].
    pub fn merge_due(&self) -> bool {
        let dead = self.dead_bytes();
        dead >= LOG_MERGE_MIN_DEAD_BYTES && dead * 100 >= self.disk_bytes * LOG_MERGE_DEAD_PERCENT
    }
}

/// A data file known to the log.
#[derive(Debug)]
pub(crate) struct DataFile {
    pub file: Arc<File>,
    pub hint_bytes: u64,
}

/// The active file and the write position: everything behind the writer lock.
#[derive(Debug)]
pub(crate) struct Writer {
    pub id: FileId,
    pub file: Arc<File>,
    /// End of the last record in the active file.
    pub offset: u64,
    pub next_seq: u64,
    /// Bytes appended since open: the group-commit position.
    pub lsn: u64,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub dir: PathBuf,
    pub max_file_bytes: u64,
    pub sync: SyncMode,
    pub faults: Option<std::sync::Arc<Faults>>,
    _lock: DirLock,
    pub writer: Mutex<Writer>,
    pub files: RwLock<BTreeMap<FileId, DataFile>>,
    pub commit: GroupCommit<Arc<File>, LogError>,
    /// A sync failed: writes are refused until reopen (the reason is in `commit`).
    pub poisoned: AtomicBool,
    pub merging: Mutex<()>,
    pub live_bytes: AtomicI64,
    /// Milliseconds since the epoch of the last merge's end; 0: none yet.
    pub last_merge_ms: AtomicU64,
    pub merges: AtomicU64,
}

/// An open log. `Send + Sync`: share it in an `Arc` between writers, readers and a merge
/// thread.
#[derive(Debug)]
pub struct Log {
    inner: Arc<Inner>,
    flusher: Option<(mpsc::Sender<()>, JoinHandle<()>)>,
}

impl Log {
    /// Opens (creating if needed) the log in `dir`, replaying every entry through `replay`
    /// in write order. See [`recovery`] for what is checked, truncated and set aside.
    pub fn open(
        dir: &Path,
        opts: OpenOptions,
        replay: impl FnMut(Replayed<'_>),
    ) -> LogResult<(Log, OpenReport)> {
        if opts.max_file_bytes > LOG_FILE_MAX_BYTES_LIMIT || opts.max_file_bytes < 4096 {
            return Err(LogError::BadBatch("max_file_bytes outside 4 KiB..=2 GiB"));
        }
        std::fs::create_dir_all(dir).map_err(|e| LogError::io("create directory", dir, &e))?;
        let lock = DirLock::acquire(dir)?;
        let r = recovery::recover(dir, &opts, replay)?;
        let active = r.files[&r.active].file.clone();
        let inner = Arc::new(Inner {
            dir: dir.to_path_buf(),
            max_file_bytes: opts.max_file_bytes,
            sync: opts.sync,
            faults: opts.faults.clone(),
            _lock: lock,
            writer: Mutex::new(Writer {
                id: r.active,
                file: active.clone(),
                offset: r.active_len,
                next_seq: r.next_seq,
                lsn: 0,
            }),
            files: RwLock::new(r.files),
            commit: GroupCommit::new(active, 0),
            poisoned: AtomicBool::new(false),
            merging: Mutex::new(()),
            live_bytes: AtomicI64::new(0),
            last_merge_ms: AtomicU64::new(0),
            merges: AtomicU64::new(0),
        });
        let flusher = match opts.sync {
            SyncMode::Interval(period) => Some(spawn_flusher(inner.clone(), period)),
            _ => None,
        };
        Ok((Log { inner, flusher }, r.report))
    }

    /// The directory this log lives in.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Writes `batch` as one record, in order after every earlier `write`, without waiting
    /// for durability. On error nothing of the batch is in the log.
    pub fn write(&self, batch: &[Entry<'_>]) -> LogResult<Written> {
        self.inner.write(batch)
    }

    /// [`write`](Self::write), then wait as the sync mode says (`Always`: until durable).
    pub fn append(&self, batch: &[Entry<'_>]) -> LogResult<Written> {
        let w = self.inner.write(batch)?;
        if self.inner.sync == SyncMode::Always {
            self.wait_durable(w.lsn)?;
        }
        Ok(w)
    }

    /// Returns once every byte before `lsn` (a [`Written::lsn`]) is on stable storage.
    pub fn wait_durable(&self, lsn: u64) -> LogResult<()> {
        self.inner.wait_durable(lsn)
    }

    /// Returns once every earlier write is durable.
    pub fn sync(&self) -> LogResult<()> {
        self.inner.wait_durable(self.inner.commit.written())
    }

    /// Reads the entry at `loc` with one positioned read and checks its CRC.
    pub fn read_at(&self, loc: Location) -> LogResult<StoredEntry> {
        let file = match self.inner.files.read().get(&loc.file) {
            Some(f) => f.file.clone(),
            None => return Err(LogError::Stale(loc)),
        };
        let mut buf = vec![0u8; loc.len as usize];
        let path = self.inner.dir.join(data_name(loc.file));
        file.read_exact_at(&mut buf, u64::from(loc.offset))
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::UnexpectedEof => {
                    LogError::corrupt(&path, u64::from(loc.offset), "location past end of file")
                }
                _ => LogError::io("read", &path, &e),
            })?;
        let e = checked_entry(&buf)
            .ok_or_else(|| LogError::corrupt(&path, u64::from(loc.offset), "entry CRC mismatch"))?;
        let (op, key_len) = (e.op, e.key.len());
        Ok(StoredEntry { op, buf, key_len })
    }

    /// Rewrites live records of closed files into new files with hints; see [`merge`].
    pub fn merge(
        &self,
        opts: &MergeOptions,
        is_live: impl FnMut(&EntryRef<'_>, Location) -> bool,
        relocate: impl FnMut(&EntryRef<'_>, Location, Location),
    ) -> LogResult<MergeReport> {
        merge::run(&self.inner, opts, is_live, relocate)
    }

    /// Adjusts the live-byte count reported by [`stats`](Self::stats) (the caller's keydir
    /// knows which entries are live: add `Location::len` when an entry becomes live,
    /// subtract it when it is replaced or deleted).
    pub fn add_live_bytes(&self, delta: i64) {
        // Relaxed: a statistic, read only for reporting.
        self.inner.live_bytes.fetch_add(delta, Ordering::Relaxed);
    }

    pub fn stats(&self) -> Stats {
        let inner = &self.inner;
        let files = inner.files.read();
        let disk_bytes = files
            .values()
            .map(|f| f.file.metadata().map(|m| m.len()).unwrap_or(0) + f.hint_bytes)
            .sum();
        let ms = inner.last_merge_ms.load(Ordering::Relaxed);
        Stats {
            files: files.len(),
            disk_bytes,
            live_bytes: inner.live_bytes.load(Ordering::Relaxed).max(0) as u64,
            last_merge: (ms != 0).then(|| UNIX_EPOCH + Duration::from_millis(ms)),
            merges: inner.merges.load(Ordering::Relaxed),
            written_lsn: inner.commit.written(),
            synced_lsn: inner.commit.synced(),
        }
    }

    /// Syncs and closes, reporting a failed final sync (dropping does the same silently).
    pub fn close(mut self) -> LogResult<()> {
        self.stop_flusher();
        self.sync()
    }

    fn stop_flusher(&mut self) {
        if let Some((tx, handle)) = self.flusher.take() {
            drop(tx);
            let _ = handle.join();
        }
    }
}

impl Drop for Log {
    fn drop(&mut self) {
        self.stop_flusher();
        let _ = self.sync();
    }
}

/// The `Interval` thread: wakes every `period` and syncs if anything was written since the
/// last sync; exits when the log drops the sender.
fn spawn_flusher(inner: Arc<Inner>, period: Duration) -> (mpsc::Sender<()>, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel::<()>();
    let handle = std::thread::Builder::new()
        .name("tsunami-log-sync".into())
        .spawn(move || {
            while let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(period) {
                let written = inner.commit.written();
                if inner.commit.synced() < written {
                    // A failure is kept by `commit` and reported to the next writer.
                    let _ = inner.wait_durable(written);
                }
            }
        })
        .expect("spawn log sync thread");
    (tx, handle)
}

impl Inner {
    fn write(&self, batch: &[Entry<'_>]) -> LogResult<Written> {
        let mut rec = Vec::new();
        let payload_crc = record::encode(batch, &mut rec)?;
        let mut w = self.writer.lock();
        // Acquire: pairs with the Release store of the failing syncer (the failure is then
        // visible in `commit`).
        if self.poisoned.load(Ordering::Acquire) {
            return Err(self.failure());
        }
        if w.offset > FILE_HEADER && w.offset + rec.len() as u64 > self.max_file_bytes {
            self.rotate(&mut w)?;
        }
        let seq = w.next_seq;
        record::seal(&mut rec, seq, payload_crc);
        let base = w.offset;
        if let Err(e) = files::write_at(&w.file, &rec, base, self.faults.as_deref()) {
            let err = LogError::io("append", self.dir.join(data_name(w.id)), &e);
            // Leave no partial record behind: cut the file back to where the record began.
            if let Err(e2) = w.file.set_len(base) {
                self.poison(LogError::io(
                    "truncate failed append",
                    self.dir.join(data_name(w.id)),
                    &e2,
                ));
            }
            return Err(err);
        }
        w.offset += rec.len() as u64;
        w.next_seq += 1;
        w.lsn += rec.len() as u64;
        self.commit.wrote(w.lsn);
        let (file, lsn) = (w.id, w.lsn);
        drop(w);
        let locations = record::entry_offsets(batch)
            .map(|(o, len)| Location {
                file,
                offset: base as u32 + o,
                len,
            })
            .collect();
        Ok(Written {
            locations,
            lsn,
            seq,
        })
    }

    fn failure(&self) -> LogError {
        match self.commit.failure() {
            Some(e) => LogError::Failed(e.to_string()),
            None => LogError::Failed("unknown".into()),
        }
    }

    fn poison(&self, e: LogError) {
        self.commit.fail(e);
        // Release: the failure recorded in `commit` is visible to whoever sees the flag.
        self.poisoned.store(true, Ordering::Release);
    }

    pub(crate) fn wait_durable(&self, lsn: u64) -> LogResult<()> {
        let faults = self.faults.as_deref();
        let r = self.commit.wait_durable(lsn, |f| {
            files::sync_data(f, faults).map_err(|e| LogError::io("fdatasync", &self.dir, &e))
        });
        if let Err(e) = &r {
            self.poison(e.clone());
        }
        r
    }

    /// Closes the active file (synced) and starts the next one. Called under the writer lock.
    pub(crate) fn rotate(&self, w: &mut Writer) -> LogResult<()> {
        let old = self.dir.join(data_name(w.id));
        if let Err(e) = files::sync_data(&w.file, self.faults.as_deref()) {
            let e = LogError::io("fdatasync", &old, &e);
            self.poison(e.clone());
            return Err(e);
        }
        let id = FileId::new(w.id.major() + 1, 0);
        let file = Arc::new(recovery::create_data_file(
            &self.dir,
            id,
            self.faults.as_deref(),
        )?);
        self.files.write().insert(
            id,
            DataFile {
                file: file.clone(),
                hint_bytes: 0,
            },
        );
        self.commit.rotated(file.clone(), w.lsn);
        w.id = id;
        w.file = file;
        w.offset = FILE_HEADER;
        Ok(())
    }
}

#[cfg(all(test, not(loom)))]
mod tests;
