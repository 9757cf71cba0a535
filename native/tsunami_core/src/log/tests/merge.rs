//! Merge: exactly the live data survives, deleted keys stay deleted, hints are written and
//! used, appends go on during a merge, and a crash after any step recovers.

use super::*;
use crate::log::{Location, LogError, MergeOptions, MergeStep, ReplayValues};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A table the way the NIF will drive the log: a keydir of locations next to the model,
/// updated under one lock across `write`, durability awaited after it.
pub struct Table {
    pub log: Log,
    pub state: Mutex<(HashMap<Vec<u8>, Location>, Model)>,
}

impl Table {
    pub fn open(dir: &Path, opts: OpenOptions) -> Table {
        let mut keydir = HashMap::new();
        let mut model = Model::default();
        let (log, _) = Log::open(dir, opts, |r| {
            model.apply(r.op, r.key, r.value.unwrap_or(&[]));
            match r.op {
                Op::Put => {
                    keydir.insert(r.key.to_vec(), r.location);
                }
                Op::DeleteKey => {
                    keydir.remove(r.key);
                }
                Op::Clear => keydir.clear(),
                _ => unreachable!(),
            }
        })
        .unwrap();
        // Keys-only replay gives no values: read them through the keydir.
        for (k, loc) in &keydir {
            if model.map[k].is_empty() {
                model
                    .map
                    .insert(k.clone(), log.read_at(*loc).unwrap().value().to_vec());
            }
        }
        Table {
            log,
            state: Mutex::new((keydir, model)),
        }
    }

    pub fn apply(&self, batch: &[Entry<'_>]) {
        let lsn = {
            let mut s = self.state.lock().unwrap();
            let w = self.log.write(batch).unwrap();
            for (e, loc) in batch.iter().zip(&w.locations) {
                match e.op {
                    Op::Put => {
                        s.0.insert(e.key.to_vec(), *loc);
                    }
                    Op::DeleteKey => {
                        s.0.remove(e.key);
                    }
                    Op::Clear => s.0.clear(),
                    _ => unreachable!(),
                }
                s.1.apply(e.op, e.key, e.value);
            }
            w.lsn
        };
        self.log.wait_durable(lsn).unwrap();
    }

    /// A random put (most), delete or clear (rare) over `keys` keys.
    pub fn random_op(&self, rng: &mut Rng, keys: u64) {
        let i = rng.next();
        let k = key(i % keys);
        let v = value(i, (i % 120) as usize);
        match i % 100 {
            0 => self.apply(&[Entry::clear()]),
            1..=20 => self.apply(&[Entry::delete(&k)]),
            21..=25 => {
                let k2 = key((i / 7) % keys);
                self.apply(&[Entry::put(&k, &v), Entry::put(&k2, &v), Entry::delete(&k)])
            }
            _ => self.apply(&[Entry::put(&k, &v)]),
        }
    }

    pub fn merge(&self, opts: &MergeOptions) -> crate::log::LogResult<crate::log::MergeReport> {
        self.log.merge(
            opts,
            |e, loc| self.state.lock().unwrap().0.get(e.key) == Some(&loc),
            |e, old, new| {
                let mut s = self.state.lock().unwrap();
                if s.0.get(e.key) == Some(&old) {
                    s.0.insert(e.key.to_vec(), new);
                }
            },
        )
    }

    /// Every keydir location reads back the model's value.
    pub fn check_reads(&self) {
        let s = self.state.lock().unwrap();
        assert_eq!(s.0.len(), s.1.map.len());
        for (k, loc) in &s.0 {
            let e = self.log.read_at(*loc).unwrap();
            assert_eq!(e.key(), k.as_slice());
            assert_eq!(e.value(), s.1.map[k].as_slice());
        }
    }

    pub fn model(&self) -> Model {
        self.state.lock().unwrap().1.clone()
    }
}

fn all_ops() -> MergeOptions {
    MergeOptions {
        include_active: true,
        ..MergeOptions::default()
    }
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

#[test]
fn merge_keeps_exactly_live_data_and_writes_hints() {
    let dir = TempDir::new("merge");
    let t = Table::open(dir.path(), small_files());
    let mut rng = Rng(17);
    for _ in 0..3000 {
        t.random_op(&mut rng, 150);
    }
    let before = t.log.stats();
    // The keydir's entries are the live bytes; most of the log is dead by now.
    let live: u64 = t
        .state
        .lock()
        .unwrap()
        .0
        .values()
        .map(|l| u64::from(l.len))
        .sum();
    t.log.add_live_bytes(live as i64);
    let before = crate::log::Stats {
        live_bytes: live,
        ..before
    };
    assert!(
        before.dead_bytes() * 100 >= before.disk_bytes * 60,
        "{before:?}"
    );
    assert!(!before.merge_due(), "under LOG_MERGE_MIN_DEAD_BYTES");
    let big = crate::log::Stats {
        disk_bytes: 100 << 20,
        live_bytes: 30 << 20,
        ..before.clone()
    };
    assert!(big.merge_due());
    assert!(!crate::log::Stats {
        live_bytes: 50 << 20,
        ..big
    }
    .merge_due());
    let old_loc = *t.state.lock().unwrap().0.values().next().unwrap();
    let report = t.merge(&all_ops()).unwrap();
    let after = t.log.stats();
    assert!(
        report.entries_dropped > 0 && report.output_files >= 2,
        "{report:?}"
    );
    assert!(
        after.disk_bytes < before.disk_bytes / 2,
        "{before:?} {after:?}"
    );
    assert!(after.last_merge.is_some() && after.merges == 1);
    assert_eq!(after.live_bytes, live);
    assert!(after.dead_bytes() < after.disk_bytes / 2, "{after:?}");
    assert_eq!(t.log.read_at(old_loc), Err(LogError::Stale(old_loc)));
    t.check_reads();
    let model = t.model();
    drop(t);

    let (_log, m, _, report) = open(dir.path(), small_files()).unwrap();
    assert_eq!(m, model);
    assert_eq!(report.hint_files, 0);
    drop(_log);
    // Keys-only: read from hints, values read back through the locations.
    let opts = OpenOptions {
        values: ReplayValues::KeysOnly,
        ..small_files()
    };
    let t = Table::open(dir.path(), opts.clone());
    assert_eq!(t.state.lock().unwrap().0.len(), model.map.len());
    drop(t);
    let (log, _, seen, report) = open(dir.path(), opts).unwrap();
    assert!(report.hint_files >= 2, "{report:?}");
    assert!(seen.iter().all(|s| s.value.is_none()));
    for s in &seen {
        assert_eq!(
            log.read_at(s.location).unwrap().value(),
            model.map[&s.key].as_slice()
        );
    }
}

#[test]
fn merge_never_resurrects_a_deleted_key() {
    let dir = TempDir::new("tombstone");
    let t = Table::open(dir.path(), small_files());
    let filler = |t: &Table, from: u64| {
        for i in from..from + 80 {
            t.apply(&[Entry::put(&key(i), &value(i, 80))]);
        }
    };
    // An object wiped by a clear in a later file.
    t.apply(&[Entry::put(b"gone0", b"old value")]);
    filler(&t, 0);
    t.apply(&[Entry::clear()]);
    // Put in one file, tombstone in a later one, both closed when merged.
    t.apply(&[Entry::put(b"gone", b"old value")]);
    filler(&t, 1000);
    t.apply(&[Entry::delete(b"gone")]);
    filler(&t, 2000);
    // Put in a closed file, tombstone in the active file (not merged).
    t.apply(&[Entry::put(b"gone2", b"old value")]);
    filler(&t, 3000);
    t.apply(&[Entry::delete(b"gone2")]);
    t.merge(&MergeOptions::default()).unwrap();
    t.check_reads();
    let model = t.model();
    assert!(!model.map.contains_key(b"gone".as_slice()));
    drop(t);
    for values in [ReplayValues::Full, ReplayValues::KeysOnly] {
        let opts = OpenOptions {
            values,
            ..small_files()
        };
        let (_log, m, seen, _) = open(dir.path(), opts).unwrap();
        assert_eq!(
            m.map.keys().collect::<Vec<_>>(),
            model.map.keys().collect::<Vec<_>>()
        );
        assert!(!seen.iter().any(|s| s.key == b"gone" || s.key == b"gone0"));
        assert!(!m.map.contains_key(b"gone2".as_slice()));
    }
    // Merging again with the active file drops the last tombstone too; still gone.
    let t = Table::open(dir.path(), small_files());
    t.merge(&all_ops()).unwrap();
    drop(t);
    let (_log, m, seen, _) = open(dir.path(), small_files()).unwrap();
    assert_eq!(m, model);
    assert!(!seen.iter().any(|s| s.key.starts_with(b"gone")));
}

#[test]
fn merge_runs_beside_concurrent_appends() {
    let dir = TempDir::new("mergeconc");
    let opts = OpenOptions {
        sync: crate::log::SyncMode::None,
        ..small_files()
    };
    let t = Arc::new(Table::open(dir.path(), opts.clone()));
    let writer = {
        let t = t.clone();
        std::thread::spawn(move || {
            let mut rng = Rng(23);
            for _ in 0..4000 {
                t.random_op(&mut rng, 80);
            }
        })
    };
    let mut merges = 0;
    while !writer.is_finished() {
        let opts = MergeOptions {
            include_active: merges % 2 == 0,
            ..MergeOptions::default()
        };
        t.merge(&opts).unwrap();
        t.check_reads();
        merges += 1;
    }
    writer.join().unwrap();
    t.merge(&all_ops()).unwrap();
    t.check_reads();
    let model = t.model();
    drop(t);
    let (_log, m, ..) = open(dir.path(), opts).unwrap();
    assert_eq!(m, model);
}

#[test]
fn merge_interrupted_after_each_step_recovers() {
    let steps = [
        MergeStep::OutputsWritten,
        MergeStep::ManifestCommitted,
        MergeStep::FirstRenamed,
        MergeStep::Installed,
        MergeStep::InputsDeleted,
    ];
    for (n, step) in steps.into_iter().enumerate() {
        let dir = TempDir::new("mergecrash");
        let t = Table::open(dir.path(), small_files());
        let mut rng = Rng(31 + n as u64);
        for _ in 0..1500 {
            t.random_op(&mut rng, 50);
        }
        let model = t.model();
        let opts = MergeOptions {
            include_active: true,
            crash_after: Some(step),
        };
        assert!(t.merge(&opts).is_err());
        std::mem::forget(t.log); // as if the process died: no final sync, no cleanup
                                 // The forgotten log still holds the flock: release it as process death would.
        drop_lock_by_reopening_fd_table(dir.path());
        let (log, m, _, report) = open(dir.path(), small_files()).unwrap();
        assert_eq!(m, model, "after {step:?}");
        assert_eq!(
            report.merge_rolled_forward,
            step != MergeStep::OutputsWritten,
            "{step:?}"
        );
        assert_eq!(
            report.temp_removed > 0,
            step == MergeStep::OutputsWritten,
            "{step:?}"
        );
        assert!(names(dir.path())
            .iter()
            .all(|n| !n.ends_with(".tmp") && n != "MERGE"));
        drop(log);
        // Hints of a rolled-forward merge are used; merging again works.
        let keys_only = OpenOptions {
            values: ReplayValues::KeysOnly,
            ..small_files()
        };
        let t = Table::open(dir.path(), keys_only);
        assert_eq!(t.state.lock().unwrap().0.len(), model.map.len());
        t.merge(&all_ops()).unwrap();
        t.check_reads();
        drop(t);
        let (_log, m, ..) = open(dir.path(), small_files()).unwrap();
        assert_eq!(m, model, "after {step:?} and a second merge");
    }
}

/// `mem::forget` of a log leaks its lock file's descriptor, and flock is held by the open
/// file description: close every descriptor of this process that refers to `dir/LOCK`, as
/// the kernel does when a process dies.
fn drop_lock_by_reopening_fd_table(dir: &Path) {
    let lock = std::fs::canonicalize(dir.join("LOCK")).unwrap();
    for e in std::fs::read_dir("/proc/self/fd").unwrap() {
        let e = e.unwrap();
        if std::fs::read_link(e.path()).ok().as_deref() == Some(lock.as_path()) {
            let fd: i32 = e.file_name().to_str().unwrap().parse().unwrap();
            // SAFETY: the descriptor belongs to the leaked log, which is never used again;
            // closing it is what process death does.
            unsafe { libc::close(fd) };
        }
    }
}

#[test]
fn leftover_temp_files_of_an_unfinished_merge_are_removed() {
    let dir = TempDir::new("mergetmp");
    let t = Table::open(dir.path(), small_files());
    let mut rng = Rng(41);
    for _ in 0..300 {
        t.random_op(&mut rng, 30);
    }
    let model = t.model();
    drop(t);
    for name in [
        "0000000000000001-0001.data.tmp",
        "0000000000000001-0001.hint.tmp",
        "MERGE.tmp",
    ] {
        std::fs::write(dir.path().join(name), b"half written").unwrap();
    }
    let (_log, m, _, report) = open(dir.path(), small_files()).unwrap();
    assert_eq!(m, model);
    assert_eq!(report.temp_removed, 3);
}

#[test]
fn damaged_or_mismatched_hint_files_are_not_used() {
    let dir = TempDir::new("badhint");
    let t = Table::open(dir.path(), small_files());
    let mut rng = Rng(57);
    for _ in 0..3000 {
        t.random_op(&mut rng, 400);
    }
    for i in 0..200 {
        t.apply(&[Entry::put(&key(1000 + i), &value(i, 100))]);
    }
    t.merge(&all_ops()).unwrap();
    let model = t.model();
    drop(t);
    let hints: Vec<PathBuf> = names(dir.path())
        .into_iter()
        .filter(|n| n.ends_with(".hint"))
        .map(|n| dir.path().join(n))
        .collect();
    assert!(hints.len() >= 3, "{hints:?}");
    let keys_only = OpenOptions {
        values: ReplayValues::KeysOnly,
        ..small_files()
    };
    let check = |used: usize, what: &str| {
        let (_log, m, _, report) = open(dir.path(), keys_only.clone()).unwrap();
        assert_eq!(report.hint_files, used, "{what}");
        assert!(m.map.keys().eq(model.map.keys()), "{what}");
    };
    check(hints.len(), "all valid");
    // A flipped byte: the CRC sentinel rejects the hint; its data file is scanned instead.
    let mut b = std::fs::read(&hints[0]).unwrap();
    let mid = b.len() / 2;
    b[mid] ^= 4;
    std::fs::write(&hints[0], &b).unwrap();
    check(hints.len() - 1, "flipped byte");
    // A hint cut short (no sentinel).
    let b = std::fs::read(&hints[1]).unwrap();
    std::fs::write(&hints[1], &b[..b.len() - 10]).unwrap();
    check(hints.len() - 2, "cut short");
    // A whole hint whose data file lost its last record: a location points past the data.
    let data = hints[hints.len() - 1].with_extension("data");
    let f = std::fs::OpenOptions::new().write(true).open(&data).unwrap();
    let len = f.metadata().unwrap().len();
    f.set_len(len - 1).unwrap();
    drop(f);
    let (_log, _, _, report) = open(dir.path(), keys_only.clone()).unwrap();
    assert_eq!(report.hint_files, hints.len() - 3, "hint past its data");
    assert_eq!(report.truncated.unwrap().file, data);
}
