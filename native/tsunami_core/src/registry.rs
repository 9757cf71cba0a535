//! Named tables and the set of all live tables.
//!
//! Generic over the handle `H` the NIF crate stores (a resource reference), so the core
//! stays free of rustler. Name lookups are on every operation on a named table, so they
//! take no lock: the name map is copy-on-write behind a `crossbeam_epoch::Atomic`, readers
//! pin the epoch (a thread-local write only) and read; writers, rare (`new`, `delete`,
//! `rename`), serialise on a mutex, copy, swap and retire the old map.

use crate::error::{Cause, Result};
use crate::sync::Mutex;
use crossbeam_epoch::{self as epoch, Atomic, Owned};
use std::collections::HashMap;
use std::sync::atomic::Ordering;

pub struct Registry<H> {
    names: Atomic<HashMap<u64, H>>,
    /// Every live table by id; also serialises writers of `names`.
    tables: Mutex<HashMap<u64, H>>,
}

impl<H: Clone + Send + Sync + 'static> Default for Registry<H> {
    fn default() -> Self {
        Self::new()
    }
}

impl<H: Clone + Send + Sync + 'static> Registry<H> {
    pub fn new() -> Self {
        Registry {
            names: Atomic::new(HashMap::new()),
            tables: Mutex::new(HashMap::new()),
        }
    }

    /// Calls `f` with the handle of the table named `name`, without taking a lock.
    #[inline]
    pub fn with_name<R>(&self, name: u64, f: impl FnOnce(&H) -> R) -> Option<R> {
        let guard = epoch::pin();
        // Acquire pairs with the Release swap in `update_names`.
        let map = self.names.load(Ordering::Acquire, &guard);
        // SAFETY: the map is only freed through `defer_destroy` after being unlinked, so it
        // outlives this pinned guard.
        let map = unsafe { map.deref() };
        map.get(&name).map(f)
    }

    /// Copy-on-write update of the name map. Callers hold the `tables` lock.
    fn update_names(&self, change: impl FnOnce(&mut HashMap<u64, H>)) {
        let guard = epoch::pin();
        let old = self.names.load(Ordering::Acquire, &guard);
        // SAFETY: as in `with_name`; writers are serialised by the `tables` lock, so `old`
        // is still the current map.
        let mut new = unsafe { old.deref() }.clone();
        change(&mut new);
        self.names.store(Owned::new(new), Ordering::Release);
        // SAFETY: `old` is unlinked by the store above; readers that still hold it are
        // pinned, and the epoch defers the free until they are gone.
        unsafe { guard.defer_destroy(old) };
    }

    /// Registers a new table, under `name` too when given. Fails if the name is taken.
    pub fn register(&self, id: u64, name: Option<u64>, h: H) -> Result<()> {
        let mut tables = self.tables.lock();
        if let Some(n) = name {
            if self.with_name(n, |_| ()).is_some() {
                return Err(Cause::AlreadyExists.into());
            }
            let h = h.clone();
            self.update_names(|m| {
                m.insert(n, h);
            });
        }
        tables.insert(id, h);
        Ok(())
    }

    /// Forgets a table (and its name). Returns its handle if it was registered.
    pub fn unregister(&self, id: u64, name: Option<u64>) -> Option<H> {
        let mut tables = self.tables.lock();
        let h = tables.remove(&id)?;
        if let Some(n) = name {
            self.update_names(|m| {
                m.remove(&n);
            });
        }
        Some(h)
    }

    /// Moves a named table from `old` to `new`. Fails if `new` is taken by another table.
    pub fn rename(&self, id: u64, old: u64, new: u64) -> Result<()> {
        let tables = self.tables.lock();
        let h = tables.get(&id).ok_or(Cause::Id)?.clone();
        if old == new {
            return Ok(());
        }
        if self.with_name(new, |_| ()).is_some() {
            return Err(Cause::AlreadyExists.into());
        }
        self.update_names(|m| {
            m.remove(&old);
            m.insert(new, h);
        });
        Ok(())
    }

    /// Handle of a live table by id.
    pub fn get(&self, id: u64) -> Option<H> {
        self.tables.lock().get(&id).cloned()
    }

    /// Every live table, ordered by id (creation order).
    pub fn all(&self) -> Vec<H> {
        let tables = self.tables.lock();
        let mut v: Vec<_> = tables.iter().map(|(id, h)| (*id, h.clone())).collect();
        v.sort_unstable_by_key(|(id, _)| *id);
        v.into_iter().map(|(_, h)| h).collect()
    }

    pub fn len(&self) -> usize {
        self.tables.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<H> Drop for Registry<H> {
    fn drop(&mut self) {
        // SAFETY: `&mut self`: no reader can hold the map any more.
        unsafe {
            let guard = epoch::unprotected();
            let m = self.names.load(Ordering::Relaxed, guard);
            if !m.is_null() {
                drop(m.into_owned());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_register_rename_unregister() {
        let r: Registry<u32> = Registry::new();
        r.register(1, Some(100), 11).unwrap();
        r.register(2, None, 22).unwrap();
        assert_eq!(
            r.register(3, Some(100), 33),
            Err(Cause::AlreadyExists.into())
        );
        assert_eq!(r.with_name(100, |h| *h), Some(11));
        r.rename(1, 100, 200).unwrap();
        assert_eq!(r.with_name(100, |h| *h), None);
        assert_eq!(r.with_name(200, |h| *h), Some(11));
        assert_eq!(r.all(), vec![11, 22]);
        assert_eq!(r.unregister(1, Some(200)), Some(11));
        assert_eq!(r.with_name(200, |h| *h), None);
        assert_eq!(r.len(), 1);
    }
}
