//! Named tables and the set of all live tables.
//!
//! Generic over the handle `H` the NIF crate stores (a resource reference), so the core
//! stays free of rustler. Name lookups are on every operation on a named table, so they
//! take no lock: the name map ([`NameMap`]) is a bucket array whose buckets are small
//! copy-on-write vectors behind `crossbeam_epoch::Atomic`s; readers pin the epoch (a
//! thread-local write only) and read. Writers (`new`, `delete`, `rename`) serialise on the
//! `tables` mutex and copy one bucket, so N named tables cost O(N) to create, not O(N²).
//! The registry alone knows which name a table is registered under: `rename` and
//! `unregister` read it under the same lock, so a rename racing a delete can neither
//! leave a name pointing at a deleted table nor remove another table's name.

use crate::error::{Cause, Result};
use crate::sync::Mutex;
use crossbeam_epoch::{self as epoch, Atomic, Guard, Owned};
use std::collections::HashMap;
use std::sync::atomic::Ordering;

struct Entry<H> {
    handle: H,
    /// The name the table is registered under (named tables only).
    name: Option<u64>,
}

pub struct Registry<H> {
    names: NameMap<H>,
    /// Every live table by id; also serialises writers of `names`.
    tables: Mutex<HashMap<u64, Entry<H>>>,
}

impl<H: Clone + Send + Sync + 'static> Default for Registry<H> {
    fn default() -> Self {
        Self::new()
    }
}

impl<H: Clone + Send + Sync + 'static> Registry<H> {
    pub fn new() -> Self {
        Registry {
            names: NameMap::new(),
            tables: Mutex::new(HashMap::new()),
        }
    }

    /// Calls `f` with the handle of the table named `name`, without taking a lock.
    #[inline]
    pub fn with_name<R>(&self, name: u64, f: impl FnOnce(&H) -> R) -> Option<R> {
        self.names.with(name, f)
    }

    /// Registers a new table, under `name` too when given. Fails if the name is taken.
    pub fn register(&self, id: u64, name: Option<u64>, h: H) -> Result<()> {
        let mut tables = self.tables.lock();
        if let Some(n) = name {
            if self.names.contains(n) {
                return Err(Cause::AlreadyExists.into());
            }
            self.names.insert(n, h.clone());
        }
        tables.insert(id, Entry { handle: h, name });
        Ok(())
    }

    /// Forgets a table (and the name it is registered under). Returns its handle if it
    /// was registered.
    pub fn unregister(&self, id: u64) -> Option<H> {
        let mut tables = self.tables.lock();
        let e = tables.remove(&id)?;
        if let Some(n) = e.name {
            self.names.remove(n);
        }
        Some(e.handle)
    }

    /// Moves a named table to `new`, calling `renamed` under the registry lock (so the
    /// table's own record of its name changes in the same step). `Id` if the table is no
    /// longer registered (deleted), `AlreadyExists` if `new` is taken, by this table too.
    pub fn rename(&self, id: u64, new: u64, renamed: impl FnOnce(&H)) -> Result<()> {
        let mut tables = self.tables.lock();
        let e = tables.get_mut(&id).ok_or(Cause::Id)?;
        if self.names.contains(new) {
            return Err(Cause::AlreadyExists.into());
        }
        if let Some(old) = e.name.replace(new) {
            self.names.remove(old);
            self.names.insert(new, e.handle.clone());
        }
        renamed(&e.handle);
        Ok(())
    }

    /// Handle of a live table by id.
    pub fn get(&self, id: u64) -> Option<H> {
        self.tables.lock().get(&id).map(|e| e.handle.clone())
    }

    /// Every live table, ordered by id (creation order).
    pub fn all(&self) -> Vec<H> {
        let tables = self.tables.lock();
        let mut v: Vec<_> = tables
            .iter()
            .map(|(id, e)| (*id, e.handle.clone()))
            .collect();
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

/// Name → handle, read without locks. Buckets are immutable vectors replaced whole (copy
/// on write) and retired through the epoch; the bucket array doubles when the map holds
/// twice as many names as buckets (copying every bucket once: amortised O(1) per insert).
/// Writers must be serialised by the caller.
struct NameMap<H> {
    buckets: Atomic<Buckets<H>>,
    len: crate::sync::atomic::AtomicUsize,
}

type Bucket<H> = Vec<(u64, H)>;

struct Buckets<H> {
    slots: Box<[Atomic<Bucket<H>>]>,
}

const FIRST_BUCKETS: usize = 16;

impl<H> Buckets<H> {
    fn with_slots(n: usize) -> Self {
        Buckets {
            slots: (0..n).map(|_| Atomic::new(Vec::new())).collect(),
        }
    }

    #[inline]
    fn slot(&self, name: u64) -> &Atomic<Bucket<H>> {
        // Atom words differ in their upper bits (the atom index); mix them down.
        let h = name.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
        &self.slots[h as usize & (self.slots.len() - 1)]
    }
}

impl<H> Drop for Buckets<H> {
    fn drop(&mut self) {
        // SAFETY: a bucket array is dropped only when no reader can reach it (after its
        // epoch has passed, or from `NameMap::drop`), and each slot's current vector
        // belongs to it alone (replaced vectors were retired separately).
        unsafe {
            let guard = epoch::unprotected();
            for s in self.slots.iter() {
                let b = s.load(Ordering::Relaxed, guard);
                if !b.is_null() {
                    drop(b.into_owned());
                }
            }
        }
    }
}

impl<H: Clone + Send + Sync + 'static> NameMap<H> {
    fn new() -> Self {
        NameMap {
            buckets: Atomic::new(Buckets::with_slots(FIRST_BUCKETS)),
            len: crate::sync::atomic::AtomicUsize::new(0),
        }
    }

    fn current<'g>(&self, guard: &'g Guard) -> &'g Buckets<H> {
        // Acquire pairs with the Release stores of writers.
        let b = self.buckets.load(Ordering::Acquire, guard);
        // SAFETY: the array is never null and is freed only through `defer_destroy` after
        // being unlinked, so it outlives `guard`.
        unsafe { b.deref() }
    }

    #[inline]
    fn with<R>(&self, name: u64, f: impl FnOnce(&H) -> R) -> Option<R> {
        let guard = epoch::pin();
        let bucket = self
            .current(&guard)
            .slot(name)
            .load(Ordering::Acquire, &guard);
        // SAFETY: as in `current`: a bucket is retired only after being unlinked.
        let bucket = unsafe { bucket.deref() };
        bucket.iter().find(|(n, _)| *n == name).map(|(_, h)| f(h))
    }

    fn contains(&self, name: u64) -> bool {
        self.with(name, |_| ()).is_some()
    }

    /// Replaces `name`'s bucket by `change` applied to a copy of it. Serialised writers.
    fn edit(&self, name: u64, change: impl FnOnce(&mut Bucket<H>)) {
        let guard = epoch::pin();
        let slot = self.current(&guard).slot(name);
        let old = slot.load(Ordering::Acquire, &guard);
        // SAFETY: as in `with`; writers are serialised, so `old` is still current.
        let mut copy = unsafe { old.deref() }.clone();
        change(&mut copy);
        slot.store(Owned::new(copy), Ordering::Release);
        // SAFETY: `old` is unlinked by the store above; pinned readers keep it alive
        // until the epoch passes.
        unsafe { guard.defer_destroy(old) };
    }

    fn insert(&self, name: u64, h: H) {
        self.edit(name, |b| b.push((name, h)));
        let len = self.len.fetch_add(1, Ordering::Relaxed) + 1;
        let guard = epoch::pin();
        if len > 2 * self.current(&guard).slots.len() {
            self.grow(&guard);
        }
    }

    fn remove(&self, name: u64) {
        self.edit(name, |b| b.retain(|(n, _)| *n != name));
        self.len.fetch_sub(1, Ordering::Relaxed);
    }

    /// Doubles the bucket array: fresh copies of every bucket, swapped in at once.
    fn grow(&self, guard: &Guard) {
        let old = self.buckets.load(Ordering::Acquire, guard);
        // SAFETY: as in `current`; writers are serialised, so `old` is current.
        let old_ref = unsafe { old.deref() };
        let new = Buckets::with_slots(old_ref.slots.len() * 2);
        for s in old_ref.slots.iter() {
            // SAFETY: as in `with`.
            for (n, h) in unsafe { s.load(Ordering::Acquire, guard).deref() } {
                let slot = new.slot(*n);
                // SAFETY: `new` is not shared yet: plain single-threaded access.
                unsafe { slot.load(Ordering::Relaxed, guard).deref_mut() }.push((*n, h.clone()));
            }
        }
        self.buckets.store(Owned::new(new), Ordering::Release);
        // SAFETY: `old` is unlinked; its buckets go with it (see `Buckets::drop`) once
        // pinned readers are gone.
        unsafe { guard.defer_destroy(old) };
    }
}

impl<H> Drop for NameMap<H> {
    fn drop(&mut self) {
        // SAFETY: `&mut self`: no reader can hold the map any more.
        unsafe {
            let guard = epoch::unprotected();
            let b = self.buckets.load(Ordering::Relaxed, guard);
            if !b.is_null() {
                drop(b.into_owned());
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
        let mut seen = None;
        r.rename(1, 200, |h| seen = Some(*h)).unwrap();
        assert_eq!(seen, Some(11));
        assert_eq!(r.with_name(100, |h| *h), None);
        assert_eq!(r.with_name(200, |h| *h), Some(11));
        // Its own name counts as taken, as for :ets.
        assert_eq!(r.rename(1, 200, |_| ()), Err(Cause::AlreadyExists.into()));
        assert_eq!(r.all(), vec![11, 22]);
        assert_eq!(r.unregister(1), Some(11));
        assert_eq!(r.with_name(200, |h| *h), None);
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn rename_after_unregister_fails_and_frees_no_other_name() {
        let r: Registry<u32> = Registry::new();
        r.register(1, Some(100), 11).unwrap();
        assert_eq!(r.unregister(1), Some(11));
        // A second table takes the freed name; the late rename of the first must neither
        // succeed nor take the name away from it.
        r.register(2, Some(100), 22).unwrap();
        assert_eq!(
            r.rename(1, 300, |_| panic!("renamed")),
            Err(Cause::Id.into())
        );
        assert_eq!(r.with_name(100, |h| *h), Some(22));
        assert_eq!(r.with_name(300, |h| *h), None);
    }

    #[test]
    fn many_names_grow_the_map_and_all_stay_reachable() {
        let r: Registry<u64> = Registry::new();
        for i in 0..10_000u64 {
            r.register(i, Some(i * 64 + 11), i).unwrap();
        }
        for i in (0..10_000u64).step_by(2) {
            r.rename(i, 1_000_000 + i * 64 + 11, |_| ()).unwrap();
        }
        for i in 0..10_000u64 {
            let name = if i % 2 == 0 {
                1_000_000 + i * 64 + 11
            } else {
                i * 64 + 11
            };
            assert_eq!(r.with_name(name, |h| *h), Some(i));
        }
        for i in 0..10_000u64 {
            r.unregister(i).unwrap();
        }
        assert!(r.is_empty());
        assert_eq!(r.with_name(11, |h| *h), None);
    }

    #[test]
    fn concurrent_readers_see_every_stable_name() {
        let r: std::sync::Arc<Registry<u64>> = std::sync::Arc::new(Registry::new());
        for i in 0..64u64 {
            r.register(i, Some(i), i).unwrap();
        }
        let reader = {
            let r = r.clone();
            std::thread::spawn(move || {
                for _ in 0..200 {
                    for i in 0..64u64 {
                        assert_eq!(r.with_name(i, |h| *h), Some(i));
                    }
                }
            })
        };
        // Churn (and growth) on other names while the reader reads.
        for round in 0..20u64 {
            for i in 0..500u64 {
                r.register(1000 + i, Some(1000 + round * 1000 + i), i)
                    .unwrap();
            }
            for i in 0..500u64 {
                r.unregister(1000 + i).unwrap();
            }
        }
        reader.join().unwrap();
    }
}
