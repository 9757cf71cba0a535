//! Loom scenarios of the log's group-commit protocol (`log::commit`), with a model file:
//! `written` is what reached the page cache, `durable` what a sync made stable. Run with
//! `RUSTFLAGS="--cfg loom" cargo test -p tsunami_core --release loom_log`.

use crate::log::commit::GroupCommit;
use crate::sync::Mutex;
use loom::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use loom::sync::Arc;
use loom::thread;

/// A data file as the protocol sees it.
#[derive(Debug, Default)]
struct ModelFile {
    written: AtomicU64,
    durable: AtomicU64,
    in_sync: AtomicBool,
    syncs: AtomicU64,
}

impl ModelFile {
    /// An fsync: everything written so far becomes durable. Two at once is a protocol bug.
    fn sync(&self) -> Result<(), ()> {
        assert!(
            !self.in_sync.swap(true, Ordering::SeqCst),
            "two syncs in flight"
        );
        self.flush();
        self.syncs.fetch_add(1, Ordering::SeqCst);
        self.in_sync.store(false, Ordering::SeqCst);
        Ok(())
    }

    /// The rotation's own sync of the file it closes (outside the protocol).
    fn flush(&self) {
        self.durable
            .fetch_max(self.written.load(Ordering::SeqCst), Ordering::SeqCst);
    }
}

type Gc = GroupCommit<Arc<ModelFile>, ()>;

/// The writer lock, the append position and the active file, as `Log::write` holds them.
struct Writer {
    lock: Mutex<(u64, Arc<ModelFile>)>,
}

impl Writer {
    fn new(file: &Arc<ModelFile>) -> Arc<Writer> {
        Arc::new(Writer {
            lock: Mutex::new((0, file.clone())),
        })
    }
}

/// Appends to the active file: the end LSN and the file written.
fn append(w: &Writer, gc: &Gc, bytes: u64) -> (u64, Arc<ModelFile>) {
    let mut g = w.lock.lock();
    g.0 += bytes;
    g.1.written.fetch_max(g.0, Ordering::SeqCst);
    gc.wrote(g.0);
    (g.0, g.1.clone())
}

/// Closes the active file (synced) and makes `next` the active file, as `Log::rotate`.
fn rotate(w: &Writer, gc: &Gc, next: &Arc<ModelFile>) {
    let mut g = w.lock.lock();
    g.1.flush();
    gc.rotated(next.clone(), g.0);
    g.1 = next.clone();
}

#[test]
fn loom_log_group_commit_two_writers() {
    loom::model(|| {
        let file = Arc::new(ModelFile::default());
        let gc = Arc::new(Gc::new(file.clone(), 0));
        let w = Writer::new(&file);
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let (gc, w) = (gc.clone(), w.clone());
                thread::spawn(move || {
                    let (lsn, file) = append(&w, &gc, 10);
                    gc.wait_durable(lsn, |f| f.sync()).unwrap();
                    assert!(file.durable.load(Ordering::SeqCst) >= lsn);
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(gc.synced(), 20);
        let syncs = file.syncs.load(Ordering::SeqCst);
        assert!((1..=2).contains(&syncs), "{syncs} syncs");
    });
}

#[test]
fn loom_log_rotation_during_a_sync() {
    loom::model(|| {
        let first = Arc::new(ModelFile::default());
        let gc = Arc::new(Gc::new(first.clone(), 0));
        let w = Writer::new(&first);
        // Writer 1 appends (to whichever file is active) and waits.
        let h = {
            let (gc, w) = (gc.clone(), w.clone());
            thread::spawn(move || {
                let (lsn, file) = append(&w, &gc, 10);
                gc.wait_durable(lsn, |f| f.sync()).unwrap();
                assert!(file.durable.load(Ordering::SeqCst) >= lsn);
            })
        };
        // Writer 2 appends, rotates (syncing the first file), appends to the second file.
        let second = Arc::new(ModelFile::default());
        let (lsn1, f1) = append(&w, &gc, 10);
        rotate(&w, &gc, &second);
        let (lsn2, f2) = append(&w, &gc, 10);
        gc.wait_durable(lsn2, |f| f.sync()).unwrap();
        assert!(f1.durable.load(Ordering::SeqCst) >= lsn1);
        assert!(f2.durable.load(Ordering::SeqCst) >= lsn2);
        h.join().unwrap();
    });
}

#[test]
fn loom_log_failed_sync_reaches_every_waiter() {
    loom::model(|| {
        let file = Arc::new(ModelFile::default());
        let gc = Arc::new(Gc::new(file.clone(), 0));
        let w = Writer::new(&file);
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let (gc, w) = (gc.clone(), w.clone());
                thread::spawn(move || {
                    let (lsn, _) = append(&w, &gc, 10);
                    gc.wait_durable(lsn, |_| Err(()))
                })
            })
            .collect();
        for h in handles {
            assert_eq!(h.join().unwrap(), Err(()));
        }
    });
}
