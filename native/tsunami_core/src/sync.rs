//! The one place that imports locks and atomics.
//!
//! Everything else in the crate says `crate::sync::RwLock` or `crate::sync::atomic::*`. Under
//! `cfg(loom)` these become loom's model-checked types, so a loom test explores every
//! interleaving of the real code rather than of a copy.

#[cfg(not(loom))]
pub use std::sync::atomic;
#[cfg(not(loom))]
pub use std::sync::Arc;

#[cfg(loom)]
pub use loom::sync::atomic;
#[cfg(loom)]
pub use loom::sync::Arc;

/// A reader-writer lock with guards that do not poison.
///
/// parking_lot's lock normally (a single word, readers never block each other); loom's
/// lock under `cfg(loom)`, with the poison unwrapped so call sites stay the same.
#[cfg(not(loom))]
pub type RwLock<T> = parking_lot::RwLock<T>;
#[cfg(not(loom))]
pub type RwLockReadGuard<'a, T> = parking_lot::RwLockReadGuard<'a, T>;
#[cfg(not(loom))]
pub type RwLockWriteGuard<'a, T> = parking_lot::RwLockWriteGuard<'a, T>;
#[cfg(not(loom))]
pub type Mutex<T> = parking_lot::Mutex<T>;
#[cfg(not(loom))]
pub type MutexGuard<'a, T> = parking_lot::MutexGuard<'a, T>;

/// A condition variable over [`Mutex`]: parking_lot's normally, loom's under `cfg(loom)`.
///
/// `wait` takes the guard by value and hands it back (loom's shape), so call sites are the
/// same in both builds. No spurious-wakeup promise either way: callers loop on their
/// condition.
#[cfg(not(loom))]
#[derive(Debug, Default)]
pub struct Condvar(parking_lot::Condvar);

#[cfg(not(loom))]
impl Condvar {
    pub fn new() -> Self {
        Self(parking_lot::Condvar::new())
    }
    pub fn wait<'a, T>(&self, mut guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        self.0.wait(&mut guard);
        guard
    }
    pub fn notify_all(&self) {
        self.0.notify_all();
    }
}

#[cfg(loom)]
mod loom_lock {
    /// loom's RwLock behind parking_lot's (non-poisoning) method names.
    #[derive(Debug, Default)]
    pub struct RwLock<T>(loom::sync::RwLock<T>);
    pub type RwLockReadGuard<'a, T> = loom::sync::RwLockReadGuard<'a, T>;
    pub type RwLockWriteGuard<'a, T> = loom::sync::RwLockWriteGuard<'a, T>;

    impl<T> RwLock<T> {
        pub fn new(value: T) -> Self {
            Self(loom::sync::RwLock::new(value))
        }
        pub fn read(&self) -> RwLockReadGuard<'_, T> {
            self.0.read().unwrap()
        }
        pub fn write(&self) -> RwLockWriteGuard<'_, T> {
            self.0.write().unwrap()
        }
    }

    /// loom's Mutex behind parking_lot's method names.
    #[derive(Debug, Default)]
    pub struct Mutex<T>(loom::sync::Mutex<T>);
    impl<T> Mutex<T> {
        pub fn new(value: T) -> Self {
            Self(loom::sync::Mutex::new(value))
        }
        pub fn lock(&self) -> loom::sync::MutexGuard<'_, T> {
            self.0.lock().unwrap()
        }
    }
    pub type MutexGuard<'a, T> = loom::sync::MutexGuard<'a, T>;

    /// loom's Condvar with the guard passed by value and the poison unwrapped.
    #[derive(Debug, Default)]
    pub struct Condvar(loom::sync::Condvar);
    impl Condvar {
        pub fn new() -> Self {
            Self(loom::sync::Condvar::new())
        }
        pub fn wait<'a, T>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
            self.0.wait(guard).unwrap()
        }
        pub fn notify_all(&self) {
            self.0.notify_all();
        }
    }
}
#[cfg(loom)]
pub use loom_lock::{Condvar, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Epoch-based reclamation for lock-free readers.
///
/// crossbeam-epoch's default collector normally: `pin` writes only this thread's participant
/// record (no line shared by all readers), and `Guard::defer_unchecked` frees memory once
/// every thread pinned at retirement time has unpinned. crossbeam-epoch is not loom-aware,
/// so under `cfg(loom)` `pin` is a no-op guard and code that retires memory must keep it
/// alive some other way (the CA tree keeps retired nodes until the tree is dropped).
#[cfg(not(loom))]
pub mod epoch {
    pub use crossbeam_epoch::{pin, Guard};
}

#[cfg(loom)]
pub mod epoch {
    /// Stands in for a pinned epoch under loom: proves nothing, frees nothing.
    #[derive(Debug)]
    pub struct Guard {
        _private: (),
    }

    pub fn pin() -> Guard {
        Guard { _private: () }
    }
}

/// Keeps a value on its own cache lines so two hot locks never share one.
///
/// 128 bytes: adjacent-line prefetching on x86-64 pulls lines in pairs.
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct CachePadded<T>(pub T);

impl<T> std::ops::Deref for CachePadded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}
