//! One base node: a sequential AVL tree behind a reader-writer lock, with the contention
//! statistic that decides when the node splits or joins, and the `valid` flag that tells
//! a lock-free router whether the node it reached is still part of the tree.

use super::avl::Avl;
use crate::config;
use crate::sync::atomic::{AtomicBool, Ordering};
use crate::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// What a base node's lock protects.
pub struct Leaf {
    pub avl: Avl,
    /// Contention statistic (see [`config::CATREE_CONTENTION_HIGH`]); written by writers
    /// only, under the write lock.
    pub stat: i32,
    /// `false` once a split, join or clear has moved the objects out and replaced this
    /// node in the route array; set under the write lock, so whoever locks the node after
    /// routing to it sees the truth and re-routes from the (already replaced) array.
    pub valid: bool,
}

/// What a writer should do with the base node once every lock is released.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Adapt {
    Keep,
    Split,
    Join,
}

impl Leaf {
    pub fn with(avl: Avl) -> Leaf {
        Leaf {
            avl,
            stat: 0,
            valid: true,
        }
    }

    /// Marks the node replaced and hands its objects to the caller.
    pub fn retire(&mut self) -> Avl {
        self.valid = false;
        std::mem::take(&mut self.avl)
    }

    /// The adaptation the statistic asks for.
    pub fn wants(&self) -> Adapt {
        if self.stat > config::CATREE_CONTENTION_HIGH {
            Adapt::Split
        } else if self.stat < config::CATREE_CONTENTION_LOW {
            Adapt::Join
        } else {
            Adapt::Keep
        }
    }
}

/// A base node. `busy` is raised by the writer holding the lock: a writer that finds it
/// raised would have failed a try-lock, which is what the statistic counts (the loom lock
/// shim has no `try_write`, and this keeps one code path for loom and for production).
///
/// Aligned to 128 bytes (two lines, for adjacent-line prefetch) so that no other allocation
/// shares the lines its lock word lives on: readers of one base node never write a line
/// that readers of another one read.
#[repr(align(128))]
pub struct Base {
    lock: RwLock<Leaf>,
    busy: AtomicBool,
}

/// A write guard that keeps `busy` raised while held.
pub struct WriteGuard<'a> {
    guard: RwLockWriteGuard<'a, Leaf>,
    busy: &'a AtomicBool,
}

impl std::ops::Deref for WriteGuard<'_> {
    type Target = Leaf;
    fn deref(&self) -> &Leaf {
        &self.guard
    }
}

impl std::ops::DerefMut for WriteGuard<'_> {
    fn deref_mut(&mut self) -> &mut Leaf {
        &mut self.guard
    }
}

impl Drop for WriteGuard<'_> {
    fn drop(&mut self) {
        // Relaxed: `busy` is a hint for the statistic; the lock orders the data.
        self.busy.store(false, Ordering::Relaxed);
    }
}

impl Base {
    pub fn new(leaf: Leaf) -> Base {
        Base {
            lock: RwLock::new(leaf),
            busy: AtomicBool::new(false),
        }
    }

    pub fn read(&self) -> RwLockReadGuard<'_, Leaf> {
        self.lock.read()
    }

    /// Write-locks, recording in the statistic whether the lock was contended.
    pub fn write(&self) -> WriteGuard<'_> {
        // Relaxed: a heuristic read; a stale value only miscounts one acquisition.
        let contended = self.busy.load(Ordering::Relaxed);
        let mut guard = self.lock.write();
        self.busy.store(true, Ordering::Relaxed);
        guard.stat = guard.stat.saturating_add(if contended {
            config::CATREE_FAIL_CONTRIBUTION
        } else {
            config::CATREE_SUCCESS_CONTRIBUTION
        });
        WriteGuard {
            guard,
            busy: &self.busy,
        }
    }

    /// Write-locks without touching the statistic (multi-node operations, adaptation and
    /// `clear`).
    pub fn write_quiet(&self) -> RwLockWriteGuard<'_, Leaf> {
        self.lock.write()
    }
}
