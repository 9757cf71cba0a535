//! Group commit: writers wait on the one `fdatasync` that covers their bytes.
//!
//! Positions are log sequence numbers (LSNs): the count of bytes appended since the log was
//! opened, across files. The writer, after each write and still under its own lock, calls
//! [`GroupCommit::wrote`] with the LSN where its record ends. A writer that must be durable
//! calls [`GroupCommit::wait_durable`] with that LSN (after dropping the writer lock):
//!
//! ```text
//! lock state
//! loop
//!   failed?            -> return the failure (every waiter sees it; nothing hangs)
//!   synced >= my lsn   -> return Ok
//!   a sync in flight   -> wait on the condvar
//!   else               -> become the syncer: upto = written, file = target; unlock;
//!                         fdatasync(file); lock; synced = max(synced, upto); notify_all
//! ```
//!
//! One sync is in flight at a time; it covers every byte written before it began (`upto`
//! is read under the state lock after those writes called `wrote`), so while it runs the
//! writers that arrive pile up and the next sync covers all of them: N writers pay about
//! two syncs, not N. Rotation: the writer syncs the old file itself, then [`rotated`]
//! moves `target` to the new file and raises `synced` to the rotation point, so a sync of
//! the target always covers every earlier byte (older files were synced when closed).
//! Lock order: the writer's lock, then this state lock; a syncer holds neither while it
//! syncs. The protocol is loom-checked in `tests/loom_log.rs`.
//!
//! [`rotated`]: GroupCommit::rotated

use crate::sync::{Condvar, Mutex};

#[derive(Debug)]
struct State<F, E> {
    /// End LSN of the last write.
    written: u64,
    /// Every byte before this LSN is on stable storage.
    synced: u64,
    /// A syncer is between its unlock and its relock.
    syncing: bool,
    /// The file a sync must flush now (the active file).
    target: F,
    /// The first failure: once a sync has failed nothing after it can be promised.
    failed: Option<E>,
}

/// The group-commit state of one log. `F` is the handle of the active file (an
/// `Arc<File>`; loom models use a model file), `E` the error a failed sync leaves.
#[derive(Debug)]
pub struct GroupCommit<F, E> {
    state: Mutex<State<F, E>>,
    cv: Condvar,
}

impl<F: Clone, E: Clone> GroupCommit<F, E> {
    /// A log whose first `at` bytes are durable, appending to `target`.
    pub fn new(target: F, at: u64) -> Self {
        GroupCommit {
            state: Mutex::new(State {
                written: at,
                synced: at,
                syncing: false,
                target,
                failed: None,
            }),
            cv: Condvar::new(),
        }
    }

    /// A write ending at `end` reached the target's page cache. Called under the writer's
    /// lock, so `end` only grows.
    pub fn wrote(&self, end: u64) {
        let mut s = self.state.lock();
        debug_assert!(end >= s.written);
        s.written = end;
    }

    /// The writer closed the active file at `end` after syncing it, and appends to `target`
    /// from now on. Called under the writer's lock.
    pub fn rotated(&self, target: F, end: u64) {
        let mut s = self.state.lock();
        s.target = target;
        s.synced = s.synced.max(end);
        drop(s);
        self.cv.notify_all();
    }

    /// Records a failure that makes durability unknowable (a failed sync or write).
    pub fn fail(&self, error: E) {
        let mut s = self.state.lock();
        s.failed.get_or_insert(error);
        drop(s);
        self.cv.notify_all();
    }

    /// End LSN of the last write.
    pub fn written(&self) -> u64 {
        self.state.lock().written
    }

    /// Every byte before this LSN is durable.
    pub fn synced(&self) -> u64 {
        self.state.lock().synced
    }

    /// The first failure, if any.
    pub fn failure(&self) -> Option<E> {
        self.state.lock().failed.clone()
    }

    /// Returns once every byte before `lsn` is durable, syncing with `sync` if no sync in
    /// flight covers it. `lsn` must have been passed to [`wrote`](Self::wrote) already.
    pub fn wait_durable(&self, lsn: u64, sync: impl Fn(&F) -> Result<(), E>) -> Result<(), E> {
        let mut s = self.state.lock();
        debug_assert!(lsn <= s.written, "waiting for bytes never written");
        loop {
            if let Some(m) = &s.failed {
                return Err(m.clone());
            }
            if s.synced >= lsn {
                return Ok(());
            }
            if s.syncing {
                s = self.cv.wait(s);
                continue;
            }
            s.syncing = true;
            let upto = s.written;
            let file = s.target.clone();
            drop(s);
            let r = sync(&file);
            s = self.state.lock();
            s.syncing = false;
            match r {
                Ok(()) => s.synced = s.synced.max(upto),
                Err(m) => {
                    s.failed.get_or_insert(m);
                }
            }
            self.cv.notify_all();
        }
    }
}
