//! Opening a log directory: lock, meta check, finishing or discarding an interrupted merge,
//! then replaying every entry in write order.
//!
//! Rules, in order:
//!
//! 1. `META` must match the caller's meta bytes (else [`LogError::MetaMismatch`]); a
//!    directory without `META` but with data files is refused as corrupt.
//! 2. A committed merge (`MERGE` present and whole) is rolled forward; otherwise any
//!    `*.tmp` of an unfinished merge is deleted (see [`super::merge`]).
//! 3. Data files are replayed in id order; each record is checked (length plausible, whole,
//!    CRC) before any of its entries reaches the callback, and sequence numbers must rise.
//!    With [`ReplayValues::KeysOnly`] a file's hint is read instead when valid.
//! 4. At the first bad record (or a data file whose header is bad) replay stops: that file
//!    is truncated to the end of its last good record (removed if not even its header is
//!    whole), and every later data and hint file is renamed to `*.aside` (kept for people,
//!    never replayed). The directory is then exactly an intact prefix of what was written.
//! 5. Appends continue in the last file if it is an unmerged one (minor 0) without a hint;
//!    otherwise a new file is started.

use super::error::{LogError, LogResult};
use super::files::{self, data_header, data_name, hint_name, FILE_HEADER};
use super::record::{entries, FileId, Location, Op, ENTRY_HEADER, RECORD_HEADER};
use super::scan::{Scanned, Scanner};
use super::{hint, merge, meta, DataFile, OpenOptions, ReplayValues};
use crate::sync::Arc;
use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

/// One replayed entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replayed<'a> {
    /// Sequence number of the entry's record (entries of one batch share it).
    pub seq: u64,
    pub op: Op,
    pub key: &'a [u8],
    /// `None` when read from a hint file (keys-only open).
    pub value: Option<&'a [u8]>,
    pub location: Location,
}

/// Where recovery cut a torn or damaged tail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Truncation {
    pub file: PathBuf,
    /// The file's new length.
    pub offset: u64,
    pub dropped_bytes: u64,
    pub reason: &'static str,
}

/// What opening found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenReport {
    /// The directory had no log yet.
    pub created: bool,
    pub records: u64,
    pub entries: u64,
    /// Data files replayed from their hint file.
    pub hint_files: usize,
    pub truncated: Option<Truncation>,
    /// Files renamed to `*.aside` after a damaged record.
    pub set_aside: Vec<PathBuf>,
    /// An interrupted, committed merge was finished.
    pub merge_rolled_forward: bool,
    /// Temporary files of an uncommitted merge that were deleted.
    pub temp_removed: usize,
}

pub(crate) struct Recovered {
    pub files: BTreeMap<FileId, DataFile>,
    pub active: FileId,
    pub active_len: u64,
    pub next_seq: u64,
    pub report: OpenReport,
}

/// Creates a data file with its header, synced, and syncs the directory.
pub(crate) fn create_data_file(
    dir: &Path,
    id: FileId,
    faults: Option<&files::Faults>,
) -> LogResult<File> {
    let path = dir.join(data_name(id));
    let file = files::create_new(&path)?;
    let r = files::write_at(&file, &data_header(), 0, faults)
        .and_then(|()| files::sync_data(&file, faults));
    if let Err(e) = r {
        let _ = std::fs::remove_file(&path);
        return Err(LogError::io("create data file", &path, &e));
    }
    files::sync_dir(dir)?;
    Ok(file)
}

pub(crate) fn recover(
    dir: &Path,
    opts: &OpenOptions,
    mut replay: impl FnMut(Replayed<'_>),
) -> LogResult<Recovered> {
    let mut report = OpenReport::default();
    let datas = files::list(dir, "data")?;
    match meta::read(dir)? {
        Some(found) if found != opts.meta => return Err(LogError::MetaMismatch { found }),
        Some(_) => {}
        None if datas.is_empty() => {
            meta::write(dir, &opts.meta)?;
            report.created = true;
        }
        None => {
            return Err(LogError::corrupt(
                dir.join("META"),
                0,
                "data files without META",
            ))
        }
    }
    merge::recover(dir, &mut report)?;
    let datas = files::list(dir, "data")?;

    let mut files_map = BTreeMap::new();
    let mut last_seq = 0u64;
    let mut stop: Option<(usize, u64, &'static str)> = None;
    'files: for (i, (id, path)) in datas.iter().enumerate() {
        let hpath = dir.join(hint_name(*id));
        if opts.values == ReplayValues::KeysOnly {
            let data_len = std::fs::metadata(path)
                .map_err(|e| LogError::io("stat", path, &e))?
                .len();
            if let Some(h) = hint::load(&hpath, data_len) {
                for e in hint::entries(&h, *id) {
                    if e.seq < last_seq {
                        return Err(LogError::corrupt(&hpath, 0, "sequence numbers go back"));
                    }
                    last_seq = e.seq;
                    report.entries += 1;
                    replay(Replayed {
                        seq: e.seq,
                        op: e.op,
                        key: e.key,
                        value: None,
                        location: e.location,
                    });
                }
                report.hint_files += 1;
                files_map.insert(*id, open_data(path, h.len() as u64)?);
                continue;
            }
        }
        let Some(mut sc) = Scanner::open(path)? else {
            stop = Some((i, 0, "data file header missing or wrong"));
            break;
        };
        loop {
            match sc.next()? {
                Scanned::Record {
                    offset,
                    header,
                    payload,
                } => {
                    let Some(es) = entries(payload, header.count) else {
                        stop = Some((i, offset, "entries do not fill their record"));
                        break 'files;
                    };
                    if header.seq <= last_seq {
                        return Err(LogError::corrupt(path, offset, "sequence numbers go back"));
                    }
                    last_seq = header.seq;
                    report.records += 1;
                    for (at, e) in es {
                        report.entries += 1;
                        let len = ENTRY_HEADER + e.key.len() + e.value.len();
                        replay(Replayed {
                            seq: header.seq,
                            op: e.op,
                            key: e.key,
                            value: Some(e.value),
                            location: Location {
                                file: *id,
                                offset: (offset as usize + RECORD_HEADER + at) as u32,
                                len: len as u32,
                            },
                        });
                    }
                }
                Scanned::End => break,
                Scanned::Torn { offset, reason } => {
                    stop = Some((i, offset, reason));
                    break 'files;
                }
            }
        }
        let hint_bytes = std::fs::metadata(&hpath).map(|m| m.len()).unwrap_or(0);
        files_map.insert(*id, open_data(path, hint_bytes)?);
    }

    let mut kept = datas.len();
    if let Some((i, offset, reason)) = stop {
        kept = cut(dir, &datas, i, offset, reason, &mut report)?;
        if kept > i {
            let (id, path) = &datas[i];
            files_map.insert(*id, open_data(path, 0)?);
        }
    }

    // The active file: the last one if it is plain (minor 0, no hint), else a new one.
    let last = datas[..kept].last().map(|(id, _)| *id);
    let (active, active_len) = match last {
        Some(id) if id.minor() == 0 && !dir.join(hint_name(id)).exists() => {
            let len = files_map[&id]
                .file
                .metadata()
                .map_err(|e| LogError::io("stat", dir.join(data_name(id)), &e))?;
            (id, len.len())
        }
        _ => {
            let id = FileId::new(last.map_or(1, |l| l.major() + 1), 0);
            let file = create_data_file(dir, id, opts.faults.as_deref())?;
            files_map.insert(
                id,
                DataFile {
                    file: Arc::new(file),
                    hint_bytes: 0,
                },
            );
            (id, FILE_HEADER)
        }
    };
    Ok(Recovered {
        files: files_map,
        active,
        active_len,
        next_seq: last_seq + 1,
        report,
    })
}

fn open_data(path: &Path, hint_bytes: u64) -> LogResult<DataFile> {
    Ok(DataFile {
        file: Arc::new(files::open_rw(path)?),
        hint_bytes,
    })
}

/// Truncates `datas[i]` at `offset` (removes it if `offset` is 0) and sets every later file
/// aside. Returns how many data files remain in use.
fn cut(
    dir: &Path,
    datas: &[(FileId, PathBuf)],
    i: usize,
    offset: u64,
    reason: &'static str,
    report: &mut OpenReport,
) -> LogResult<usize> {
    let (id, path) = &datas[i];
    let len = std::fs::metadata(path)
        .map_err(|e| LogError::io("stat", path, &e))?
        .len();
    // The hint no longer matches a cut file.
    files::remove(&dir.join(hint_name(*id)))?;
    let kept = if offset == 0 {
        files::remove(path)?;
        i
    } else {
        let f = files::open_rw(path)?;
        f.set_len(offset)
            .and_then(|()| f.sync_all())
            .map_err(|e| LogError::io("truncate", path, &e))?;
        i + 1
    };
    report.truncated = Some(Truncation {
        file: path.clone(),
        offset,
        dropped_bytes: len - offset,
        reason,
    });
    for (id, path) in &datas[i + 1..] {
        for p in [path.clone(), dir.join(hint_name(*id))] {
            if p.exists() {
                let mut aside = p.clone().into_os_string();
                aside.push(".aside");
                files::rename(&p, Path::new(&aside))?;
                report.set_aside.push(PathBuf::from(aside));
            }
        }
    }
    files::sync_dir(dir)?;
    Ok(kept)
}
