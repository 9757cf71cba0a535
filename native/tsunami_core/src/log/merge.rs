//! Merge: rewrite the live entries of closed files into new files with hint files, then
//! drop the old files.
//!
//! Inputs are *every* closed file (all files older than the active one; with
//! [`MergeOptions::include_active`] the active file is closed first). Because no file older
//! than the inputs remains, a tombstone or clear in them can only shadow records that are
//! themselves inputs, and those are dropped unless the caller's keydir says they are live:
//! so tombstones and clears are dropped, and a deleted key cannot come back (Bitcask issue
//! #82 came from dropping tombstones while older files survived). A put is kept when
//! `is_live(entry, location)` says the keydir still refers to it. Kept entries of one
//! record stay one record with the same sequence number, so replay order is unchanged.
//!
//! Outputs take the newest input's major number and fresh minors: they sort after
//! everything they replace and before every newer file. Steps, each safe to crash after:
//!
//! 1. Write outputs and hints as `*.tmp`, fsync them.   crash: open deletes `*.tmp`.
//! 2. Write `MERGE.tmp` (inputs, outputs, CRC), fsync, rename to `MERGE`, fsync the
//!    directory: the commit point.                        crash: open rolls forward.
//! 3. Rename outputs to their final names, fsync the directory.
//! 4. Install: add outputs to the readable files, call `relocate(entry, old, new)` for every
//!    moved entry (the caller repoints its keydir if it still holds `old`), remove inputs
//!    from the readable files (a `read_at` of an old location is then `Stale`).
//! 5. Delete inputs and their hints, fsync; delete `MERGE`, fsync.
//!
//! Rolling forward (open with `MERGE` present) finishes 3 and 5. Appends go on during a
//! merge (they touch only the active file); merges are serialised with each other.

use super::error::{LogError, LogResult};
use super::files::{self, data_header, data_name, hint_name, FILE_HEADER};
use super::hint::HintWriter;
use super::record::{encode_copy, entries, EntryRef, FileId, Location, RECORD_HEADER};
use super::recovery::OpenReport;
use super::scan::{Scanned, Scanner};
use super::{DataFile, Inner};
use crate::sync::atomic::Ordering;
use crate::sync::Arc;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// How to merge.
#[derive(Debug, Clone, Default)]
pub struct MergeOptions {
    /// Close the active file first (if it holds records) so it is merged too: what
    /// `Tsunami.compact/1` wants. Background merges leave it out.
    pub include_active: bool,
    /// Test hook: return an error right after this step without cleaning up, as if the
    /// process had died there. Reopen the directory afterwards.
    #[doc(hidden)]
    pub crash_after: Option<MergeStep>,
}

/// The steps of a merge, for [`MergeOptions::crash_after`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeStep {
    OutputsWritten,
    ManifestCommitted,
    FirstRenamed,
    Installed,
    InputsDeleted,
}

/// What a merge did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MergeReport {
    pub input_files: usize,
    pub output_files: usize,
    pub bytes_before: u64,
    pub bytes_after: u64,
    pub entries_kept: u64,
    pub entries_dropped: u64,
}

struct Output {
    id: FileId,
    file: File,
    offset: u64,
    hint: HintWriter,
}

fn tmp(path: PathBuf) -> PathBuf {
    let mut s = path.into_os_string();
    s.push(".tmp");
    PathBuf::from(s)
}

fn crash(opts: &MergeOptions, step: MergeStep) -> LogResult<()> {
    if opts.crash_after == Some(step) {
        return Err(LogError::Failed(format!("injected crash after {step:?}")));
    }
    Ok(())
}

pub(crate) fn run(
    inner: &Inner,
    opts: &MergeOptions,
    mut is_live: impl FnMut(&EntryRef<'_>, Location) -> bool,
    mut relocate: impl FnMut(&EntryRef<'_>, Location, Location),
) -> LogResult<MergeReport> {
    let _serial = inner.merging.lock();
    let dir = &inner.dir;
    let active = {
        let mut w = inner.writer.lock();
        if opts.include_active && w.offset > FILE_HEADER {
            inner.rotate(&mut w)?;
        }
        w.id
    };
    let (inputs, next_minor) = {
        let files = inner.files.read();
        let inputs: Vec<(FileId, u64)> = files
            .iter()
            .filter(|(id, _)| **id < active)
            .map(|(id, f)| (*id, f.hint_bytes))
            .collect();
        let major = inputs.last().map_or(0, |(id, _)| id.major());
        let minor = files
            .keys()
            .filter(|id| id.major() == major)
            .map(|id| id.minor())
            .max()
            .unwrap_or(0);
        (inputs, minor)
    };
    let mut report = MergeReport {
        input_files: inputs.len(),
        ..MergeReport::default()
    };
    if inputs.is_empty() {
        return Ok(report);
    }
    let major = inputs.last().unwrap().0.major();
    let mut writer = OutputWriter {
        dir,
        major,
        next_minor,
        max_bytes: inner.max_file_bytes,
        current: None,
        done: Vec::new(),
    };
    let mut moves: Vec<Location> = Vec::new();
    let result = (|| {
        for (id, hint_bytes) in &inputs {
            let path = dir.join(data_name(*id));
            report.bytes_before += fs::metadata(&path)
                .map_err(|e| LogError::io("stat", &path, &e))?
                .len()
                + hint_bytes;
            let mut sc = Scanner::open(&path)?
                .ok_or_else(|| LogError::corrupt(&path, 0, "data file header wrong"))?;
            let mut buf = Vec::new();
            loop {
                match sc.next()? {
                    Scanned::Record {
                        offset,
                        header,
                        payload,
                    } => {
                        let es = entries(payload, header.count).ok_or_else(|| {
                            LogError::corrupt(&path, offset, "entries do not fill their record")
                        })?;
                        let mut live = Vec::new();
                        for (at, e) in es {
                            let loc = Location {
                                file: *id,
                                offset: (offset as usize + RECORD_HEADER + at) as u32,
                                len: (super::record::ENTRY_HEADER + e.key.len() + e.value.len())
                                    as u32,
                            };
                            // Tombstones are dropped: every older file is an input (see above).
                            if !e.op.is_tombstone() && is_live(&e, loc) {
                                live.push(e);
                                moves.push(loc);
                            } else {
                                report.entries_dropped += 1;
                            }
                        }
                        if !live.is_empty() {
                            report.entries_kept += live.len() as u64;
                            let offs = encode_copy(header.seq, &live, &mut buf);
                            writer.write(&buf, header.seq, &live, &offs)?;
                        }
                    }
                    Scanned::End => break,
                    Scanned::Torn { offset, reason } => {
                        return Err(LogError::corrupt(&path, offset, reason));
                    }
                }
            }
        }
        writer.finish()
    })();
    let outputs = match result {
        Ok(o) => o,
        Err(e) => {
            writer.abandon();
            return Err(e);
        }
    };
    report.output_files = outputs.len();
    crash(opts, MergeStep::OutputsWritten)?;

    let input_ids: Vec<FileId> = inputs.iter().map(|(id, _)| *id).collect();
    let output_ids: Vec<FileId> = outputs.iter().map(|(id, _)| *id).collect();
    write_manifest(dir, &input_ids, &output_ids)?;
    crash(opts, MergeStep::ManifestCommitted)?;

    for (n, id) in output_ids.iter().enumerate() {
        for p in [dir.join(data_name(*id)), dir.join(hint_name(*id))] {
            files::rename(&tmp(p.clone()), &p)?;
        }
        if n == 0 {
            crash(opts, MergeStep::FirstRenamed)?;
        }
    }
    files::sync_dir(dir)?;

    // Install: readers see outputs, the caller repoints, then inputs disappear.
    {
        let mut files = inner.files.write();
        for (id, file) in outputs {
            let hint_bytes = fs::metadata(dir.join(hint_name(id)))
                .map(|m| m.len())
                .unwrap_or(0);
            report.bytes_after += file.metadata().map(|m| m.len()).unwrap_or(0) + hint_bytes;
            files.insert(
                id,
                DataFile {
                    file: Arc::new(file),
                    hint_bytes,
                },
            );
        }
    }
    let mut old = moves.into_iter();
    for id in &output_ids {
        let path = dir.join(data_name(*id));
        let mut sc = Scanner::open(&path)?
            .ok_or_else(|| LogError::corrupt(&path, 0, "merge output header wrong"))?;
        while let Scanned::Record {
            offset,
            header,
            payload,
        } = sc.next()?
        {
            let es = entries(payload, header.count)
                .ok_or_else(|| LogError::corrupt(&path, offset, "merge output damaged"))?;
            for (at, e) in es {
                let new = Location {
                    file: *id,
                    offset: (offset as usize + RECORD_HEADER + at) as u32,
                    len: (super::record::ENTRY_HEADER + e.key.len() + e.value.len()) as u32,
                };
                let from = old.next().expect("one old location per moved entry");
                relocate(&e, from, new);
            }
        }
    }
    {
        let mut files = inner.files.write();
        for id in &input_ids {
            files.remove(id);
        }
    }
    crash(opts, MergeStep::Installed)?;

    for id in &input_ids {
        files::remove(&dir.join(data_name(*id)))?;
        files::remove(&dir.join(hint_name(*id)))?;
    }
    files::sync_dir(dir)?;
    crash(opts, MergeStep::InputsDeleted)?;
    files::remove(&dir.join("MERGE"))?;
    files::sync_dir(dir)?;

    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| d.as_millis().max(1) as u64);
    // Relaxed: statistics.
    inner.last_merge_ms.store(now, Ordering::Relaxed);
    inner.merges.fetch_add(1, Ordering::Relaxed);
    Ok(report)
}

/// Writes merge outputs (`*.tmp`) with their hints, starting a new output at the size limit.
struct OutputWriter<'a> {
    dir: &'a Path,
    major: u64,
    next_minor: u16,
    max_bytes: u64,
    current: Option<Output>,
    done: Vec<(FileId, File)>,
}

impl OutputWriter<'_> {
    fn write(
        &mut self,
        rec: &[u8],
        seq: u64,
        live: &[EntryRef<'_>],
        offs: &[u32],
    ) -> LogResult<()> {
        let full = self.current.as_ref().is_some_and(|c| {
            c.offset > FILE_HEADER && c.offset + rec.len() as u64 > self.max_bytes
        });
        if full {
            self.close_current()?;
        }
        if self.current.is_none() {
            self.open_next()?;
        }
        let c = self.current.as_mut().unwrap();
        let path = self.dir.join(data_name(c.id));
        files::write_at(&c.file, rec, c.offset, None)
            .map_err(|e| LogError::io("write merge output", &path, &e))?;
        for (e, o) in live.iter().zip(offs) {
            let loc = Location {
                file: c.id,
                offset: (c.offset + u64::from(*o)) as u32,
                len: (super::record::ENTRY_HEADER + e.key.len() + e.value.len()) as u32,
            };
            c.hint.add(seq, e.op, e.key, loc)?;
        }
        c.offset += rec.len() as u64;
        Ok(())
    }

    fn open_next(&mut self) -> LogResult<()> {
        self.next_minor = self.next_minor.checked_add(1).ok_or(LogError::BadBatch(
            "merge minors exhausted: write before merging again",
        ))?;
        let id = FileId::new(self.major, self.next_minor);
        let dpath = tmp(self.dir.join(data_name(id)));
        let hpath = tmp(self.dir.join(hint_name(id)));
        let file = files::create_new(&dpath)?;
        files::write_at(&file, &data_header(), 0, None)
            .map_err(|e| LogError::io("write merge output", &dpath, &e))?;
        let hint = HintWriter::new(files::create_new(&hpath)?, hpath)?;
        self.current = Some(Output {
            id,
            file,
            offset: FILE_HEADER,
            hint,
        });
        Ok(())
    }

    fn close_current(&mut self) -> LogResult<()> {
        if let Some(c) = self.current.take() {
            let path = self.dir.join(data_name(c.id));
            c.file
                .sync_all()
                .map_err(|e| LogError::io("fsync merge output", &path, &e))?;
            c.hint.finish()?;
            self.done.push((c.id, c.file));
        }
        Ok(())
    }

    fn finish(&mut self) -> LogResult<Vec<(FileId, File)>> {
        self.close_current()?;
        files::sync_dir(self.dir)?;
        Ok(std::mem::take(&mut self.done))
    }

    /// Deletes every temporary output (a failed merge leaves the directory as it was).
    fn abandon(&mut self) {
        let ids: Vec<FileId> = self
            .done
            .iter()
            .map(|(id, _)| *id)
            .chain(self.current.as_ref().map(|c| c.id))
            .collect();
        for id in ids {
            let _ = files::remove(&tmp(self.dir.join(data_name(id))));
            let _ = files::remove(&tmp(self.dir.join(hint_name(id))));
        }
    }
}

const MANIFEST_MAGIC: &[u8; 8] = b"TSUNMRG\x01";

fn write_manifest(dir: &Path, inputs: &[FileId], outputs: &[FileId]) -> LogResult<()> {
    let mut b = Vec::new();
    b.extend_from_slice(MANIFEST_MAGIC);
    for list in [inputs, outputs] {
        b.extend_from_slice(&(list.len() as u32).to_le_bytes());
        for id in list {
            b.extend_from_slice(&id.0.to_le_bytes());
        }
    }
    let crc = crc32fast::hash(&b);
    b.extend_from_slice(&crc.to_le_bytes());
    let t = dir.join("MERGE.tmp");
    files::remove(&t)?;
    let f = files::create_new(&t)?;
    files::write_at(&f, &b, 0, None)
        .and_then(|()| f.sync_all())
        .map_err(|e| LogError::io("write merge manifest", &t, &e))?;
    files::rename(&t, &dir.join("MERGE"))?;
    files::sync_dir(dir)
}

fn read_manifest(path: &Path) -> LogResult<Option<(Vec<FileId>, Vec<FileId>)>> {
    let b = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(LogError::io("read", path, &e)),
    };
    let bad = || LogError::corrupt(path, 0, "merge manifest damaged");
    if b.len() < 20 || &b[..8] != MANIFEST_MAGIC {
        return Err(bad());
    }
    let body = b.len() - 4;
    if crc32fast::hash(&b[..body]) != u32::from_le_bytes(b[body..].try_into().unwrap()) {
        return Err(bad());
    }
    let mut at = 8;
    let mut lists = Vec::new();
    for _ in 0..2 {
        let n = u32::from_le_bytes(b.get(at..at + 4).ok_or_else(bad)?.try_into().unwrap());
        at += 4;
        let mut ids = Vec::new();
        for _ in 0..n {
            let id = u64::from_le_bytes(b.get(at..at + 8).ok_or_else(bad)?.try_into().unwrap());
            ids.push(FileId(id));
            at += 8;
        }
        lists.push(ids);
    }
    if at != body {
        return Err(bad());
    }
    let outputs = lists.pop().unwrap();
    Ok(Some((lists.pop().unwrap(), outputs)))
}

/// Finishes a committed merge or discards an uncommitted one (called by open, under the
/// directory lock, before replay).
pub(crate) fn recover(dir: &Path, report: &mut OpenReport) -> LogResult<()> {
    let manifest = dir.join("MERGE");
    if let Some((inputs, outputs)) = read_manifest(&manifest)? {
        for id in &outputs {
            let data = dir.join(data_name(*id));
            if !data.exists() {
                files::rename(&tmp(data.clone()), &data)?;
            }
            let hint = dir.join(hint_name(*id));
            if !hint.exists() && tmp(hint.clone()).exists() {
                files::rename(&tmp(hint.clone()), &hint)?;
            }
        }
        files::sync_dir(dir)?;
        for id in &inputs {
            files::remove(&dir.join(data_name(*id)))?;
            files::remove(&dir.join(hint_name(*id)))?;
        }
        files::sync_dir(dir)?;
        files::remove(&manifest)?;
        report.merge_rolled_forward = true;
    }
    for e in fs::read_dir(dir).map_err(|e| LogError::io("list", dir, &e))? {
        let e = e.map_err(|e| LogError::io("list", dir, &e))?;
        if e.file_name().to_str().is_some_and(|n| n.ends_with(".tmp")) {
            files::remove(&e.path())?;
            report.temp_removed += 1;
        }
    }
    files::sync_dir(dir)
}
