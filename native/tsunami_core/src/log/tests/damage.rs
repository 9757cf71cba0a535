//! Torn tails and damaged bytes: recovery keeps exactly the intact prefix.

use super::*;
use crate::log::files::{data_name, FILE_HEADER};
use crate::log::FileId;
use std::fs;

/// A one-file log of `n` batches (1..=4 entries each). Returns the directory, the end
/// offset of each record, and the model after each prefix (`snapshots[k]`: first k records).
fn build(n: u64, seed: u64) -> (TempDir, Vec<u64>, Vec<Model>) {
    let dir = TempDir::new("damage");
    let (log, ..) = open(dir.path(), OpenOptions::default()).unwrap();
    let mut rng = Rng(seed);
    let mut model = Model::default();
    let mut snapshots = vec![model.clone()];
    let mut ends = Vec::new();
    for i in 0..n {
        let entries = 1 + rng.below(4);
        let owned: Vec<(Vec<u8>, Vec<u8>, u64)> = (0..entries)
            .map(|j| {
                let k = key(rng.below(12));
                (k, value(i * 10 + j, rng.below(40) as usize), rng.below(10))
            })
            .collect();
        let batch: Vec<Entry<'_>> = owned
            .iter()
            .map(|(k, v, kind)| match kind {
                0 => Entry::delete(k),
                1 if i % 9 == 0 => Entry::clear(),
                _ => Entry::put(k, v),
            })
            .collect();
        let w = log.append(&batch).unwrap();
        model.apply_batch(&batch);
        snapshots.push(model.clone());
        ends.push(FILE_HEADER + w.lsn);
    }
    drop(log);
    (dir, ends, snapshots)
}

fn first_data(dir: &Path) -> PathBuf {
    dir.join(data_name(FileId::new(1, 0)))
}

/// A copy of `from` (META and data files) in a fresh directory.
fn copy(from: &Path) -> TempDir {
    let to = TempDir::new("copy");
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        fs::copy(e.path(), to.path().join(e.file_name())).unwrap();
    }
    to
}

#[test]
fn log_truncated_at_every_byte_of_its_last_records_keeps_the_intact_prefix() {
    let (dir, ends, snapshots) = build(40, 7);
    let n = ends.len();
    let from = ends[n - 7];
    for cut in (0..FILE_HEADER).chain(from..=ends[n - 1]) {
        let d = copy(dir.path());
        let f = fs::OpenOptions::new()
            .write(true)
            .open(first_data(d.path()))
            .unwrap();
        f.set_len(cut).unwrap();
        drop(f);
        let k = ends.iter().take_while(|e| **e <= cut).count();
        let (log, m, _, report) = open(d.path(), OpenOptions::default()).unwrap();
        assert_eq!(m, snapshots[k], "cut at {cut}");
        let at_boundary = cut == FILE_HEADER || ends.contains(&cut);
        assert_eq!(
            report.truncated.is_none(),
            at_boundary,
            "cut at {cut}: {report:?}"
        );
        // The torn tail is gone from disk, and appending after it works.
        log.append(&[Entry::put(b"new", b"record")]).unwrap();
        drop(log);
        let (_log, m, ..) = open(d.path(), OpenOptions::default()).unwrap();
        let mut expect = snapshots[k].clone();
        expect.apply(Op::Put, b"new", b"record");
        assert_eq!(m, expect, "cut at {cut}, reopened");
    }
}

#[test]
fn random_bit_flips_never_return_damaged_data() {
    let (dir, ends, snapshots) = build(30, 11);
    let len = *ends.last().unwrap();
    let (_, _, original, _) = {
        let d = copy(dir.path());
        let r = open(d.path(), OpenOptions::default()).unwrap();
        (d, r.1, r.2, r.3)
    };
    let mut rng = Rng(99);
    for trial in 0..300 {
        let d = copy(dir.path());
        let path = first_data(d.path());
        let mut bytes = fs::read(&path).unwrap();
        let at = rng.below(len);
        bytes[at as usize] ^= 1 << rng.below(8);
        fs::write(&path, &bytes).unwrap();
        let (_log, m, seen, _) = open(d.path(), OpenOptions::default()).unwrap();
        // CRC32 catches every single-bit error: replay stops just before the damaged record.
        let k = if at < FILE_HEADER {
            0
        } else {
            ends.iter().take_while(|e| **e <= at).count()
        };
        assert_eq!(m, snapshots[k], "trial {trial}: bit flip at {at}");
        assert_eq!(
            seen[..],
            original[..seen.len()],
            "trial {trial}: not a prefix"
        );
    }
}

#[test]
fn random_garbage_tails_are_cut() {
    let (dir, _ends, snapshots) = build(20, 3);
    let mut rng = Rng(5);
    for trial in 0..50 {
        let d = copy(dir.path());
        let path = first_data(d.path());
        let mut bytes = fs::read(&path).unwrap();
        let extra = 1 + rng.below(200);
        for _ in 0..extra {
            bytes.push(if trial % 2 == 0 { 0 } else { rng.next() as u8 });
        }
        fs::write(&path, &bytes).unwrap();
        let (_log, m, _, report) = open(d.path(), OpenOptions::default()).unwrap();
        assert_eq!(m, *snapshots.last().unwrap(), "trial {trial}");
        assert_eq!(report.truncated.unwrap().dropped_bytes, extra);
    }
}

#[test]
fn damage_in_an_older_file_sets_later_files_aside() {
    let dir = TempDir::new("aside");
    let (log, ..) = open(dir.path(), small_files()).unwrap();
    let mut model = Model::default();
    let mut snapshots = vec![model.clone()];
    let mut locs = Vec::new();
    for i in 0..300u64 {
        let (k, v) = (key(i % 50), value(i, 60));
        let batch = [Entry::put(&k, &v)];
        locs.push(log.append(&batch).unwrap().locations[0]);
        model.apply_batch(&batch);
        snapshots.push(model.clone());
    }
    let files = log.stats().files;
    drop(log);
    // Damage the value of record 100 (in some middle file).
    let loc = locs[100];
    let path = dir.path().join(data_name(loc.file));
    let mut bytes = fs::read(&path).unwrap();
    bytes[(loc.offset + loc.len - 1) as usize] ^= 0x10;
    fs::write(&path, &bytes).unwrap();
    let (log, m, _, report) = open(dir.path(), small_files()).unwrap();
    assert_eq!(m, snapshots[100]);
    let later = locs.iter().filter(|l| l.file > loc.file).map(|l| l.file);
    let later: std::collections::BTreeSet<_> = later.collect();
    assert_eq!(report.set_aside.len(), later.len());
    assert!(later.len() + 2 <= files);
    for f in &later {
        assert!(!dir.path().join(data_name(*f)).exists());
    }
    log.append(&[Entry::put(b"x", b"y")]).unwrap();
    drop(log);
    let (_log, m, _, report) = open(dir.path(), small_files()).unwrap();
    let mut expect = snapshots[100].clone();
    expect.apply(Op::Put, b"x", b"y");
    assert_eq!(m, expect);
    assert!(report.truncated.is_none() && report.set_aside.is_empty());
}

#[test]
fn read_at_detects_a_damaged_entry() {
    let dir = TempDir::new("readat");
    let (log, ..) = open(dir.path(), OpenOptions::default()).unwrap();
    let w = log.append(&[Entry::put(b"key", b"value")]).unwrap();
    let loc = w.locations[0];
    let path = dir.path().join(data_name(loc.file));
    let f = fs::OpenOptions::new().write(true).open(&path).unwrap();
    use std::os::unix::fs::FileExt;
    f.write_all_at(b"X", u64::from(loc.offset + loc.len - 1))
        .unwrap();
    assert!(matches!(
        log.read_at(loc),
        Err(crate::log::LogError::Corrupt { .. })
    ));
}
