//! Lock-striped linear hash table: `set`, `bag`, `duplicate_bag`.
//!
//! ## Algorithm
//! The key hash picks one of `2^k` *shards* (its low bits); each shard is an independent
//! linear hash table (Litwin, "Linear hashing: a new tool for file and table addressing",
//! VLDB 1980) behind its own reader-writer lock. A shard grows by splitting exactly one
//! bucket when its load passes [`GROW_LOAD`](crate::config::GROW_LOAD) objects per bucket,
//! and shrinks by merging a bucket or two back on a delete when it falls below half an
//! object per bucket: no insert ever waits for a whole-table rehash. Buckets live in segments that double in
//! size and never move, so growing never copies the bucket array either; a new segment is
//! allocated zeroed (empty buckets are null pointers), which the allocator hands out
//! without touching the pages.
//!
//! ## Locks
//! One `RwLock` per shard, each on its own cache lines. Single-key operations take one
//! shard lock. Operations on several objects (`insert/2` of a list, `insert_new/2`,
//! `delete_all_objects/1`) take every shard lock they need in ascending shard order, which
//! makes them atomic and isolated and cannot deadlock. Readers never block readers.
//!
//! ## Iteration
//! Traversal order is shard, then *walk position* (the bucket hash with its bits
//! reversed, see [`shard`]), then chain. Each bucket covers one interval of positions, a
//! split halves an interval and a merge joins two, so a position is meaningful in every
//! layout: a chunked walk (`select/3` continuations, `tab2list`, `select_delete`, ...)
//! remembers only the shard and the position where its next bucket starts, holds no
//! fixation between calls, and still visits every object that stays in the table
//! exactly once, even when shards split or merge in between. Objects inserted or deleted
//! meanwhile may or may not be seen, as with ETS. Unfixed `next/2` goes on from the
//! key's own position, so it too survives resizing; it fails (badarg) only when the key
//! itself is gone.
//!
//! ## Fixation
//! `safe_fixtable/2` *fixes* the table ([`HashTable::fix`]): while fixed, shards neither
//! split nor merge, so `slot/2` numbers stay put, and deletions keep their places.
//!
//! Deleting while fixed keeps the deleted key's place, as ETS's pseudo-deleted objects
//! do: the object leaves the chain and a *tombstone* (just the key, flagged dead) takes
//! its spot, invisible to every read but found by `next/2`, which goes on from there; a
//! later insert of the key takes the tombstone's place. `delete_all_objects` while fixed
//! moves each shard's contents to a *ghost* with the same bucket layout, where `next/2`
//! still finds the old keys. The last `unfix` sweeps tombstones (only the buckets that
//! got one) and ghosts, maybe later on another thread; each carries the *fixation
//! period* it was made in, and `next/2` honours only those of the current fixation, so a
//! key deleted before it is absent at once, as in ETS (whose last unfix purges inline).
//! `info(T, stats)` reports how many objects are kept so.
//!
//! ## Bag order
//! Objects with the same key sit next to each other in one chain, in insertion order; a new
//! one goes right after the last of its key.

pub(crate) mod shard;

use crate::backend::{Edit, Garbage, Halt, KeyMode, Position};
use crate::config;
use crate::error::{Cause, Result};
use crate::sync::atomic::{AtomicU64, Ordering};
use crate::sync::{CachePadded, RwLock};
use crate::term::Obj;
use shard::Shard;

/// Chain-length figures: bucket count, shortest and longest chain, sum and sum of squares
/// of the lengths (objects, tombstones not counted).
#[derive(Debug, Clone, Copy)]
pub struct ChainStats {
    pub buckets: usize,
    pub min: usize,
    pub max: usize,
    pub sum: usize,
    pub sum_sq: usize,
}

/// A lock-striped linear hash table.
pub struct HashTable {
    mode: KeyMode,
    shards: Box<[CachePadded<RwLock<Shard>>]>,
    shard_bits: u32,
    /// Fixations: the number active (low 32 bits; while non-zero no shard splits or
    /// merges) and the current fixation *period* (high 32 bits), which starts anew, never
    /// 0, each time the count leaves zero. Tombstones and ghosts carry the period they
    /// were made in: `next/2` honours only the current one's, as ETS, whose last unfix
    /// purges pseudo-deleted keys at once, while here the sweep may come later.
    fix: AtomicU64,
}

/// The count part of [`HashTable::fix`].
const FIX_COUNT: u64 = 0xFFFF_FFFF;

impl HashTable {
    /// A table with `shards` lock stripes (rounded up to a power of two, at most
    /// [`config::HASH_SHARDS_MAX`]).
    pub fn new(mode: KeyMode, shards: usize) -> HashTable {
        let n = shards.clamp(1, config::HASH_SHARDS_MAX).next_power_of_two();
        let shard_bits = n.trailing_zeros();
        HashTable {
            mode,
            shards: (0..n)
                .map(|_| CachePadded(RwLock::new(Shard::new(shard_bits))))
                .collect(),
            shard_bits,
            fix: AtomicU64::new(0),
        }
    }

    pub fn mode(&self) -> KeyMode {
        self.mode
    }

    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    #[inline]
    fn shard_of(&self, hash: u64) -> usize {
        (hash as usize) & (self.shards.len() - 1)
    }

    /// The part of the hash a shard addresses buckets with (the shard index bits removed).
    #[inline]
    fn bucket_hash(&self, hash: u64) -> u64 {
        hash >> self.shard_bits
    }

    fn resizable(&self) -> bool {
        // Acquire pairs with the Release in `fix`/`unfix`; the shard lock the caller holds
        // orders it against the traversal's own lock acquisitions.
        self.fix.load(Ordering::Acquire) & FIX_COUNT == 0
    }

    /// The current fixation period while the table is fixed, `None` when it is not (read
    /// under a shard lock, as [`HashTable::resizable`]).
    fn fixed_period(&self) -> Option<u32> {
        let f = self.fix.load(Ordering::Acquire);
        (f & FIX_COUNT != 0).then_some((f >> 32) as u32)
    }

    /// Stops shards from splitting or merging until the matching [`HashTable::unfix`].
    /// The first fixation after an unfixed spell begins a new period.
    pub fn fix(&self) {
        let mut cur = self.fix.load(Ordering::Acquire);
        loop {
            let new = if cur & FIX_COUNT == 0 {
                let period = ((cur >> 32) as u32).wrapping_add(1).max(1);
                (u64::from(period) << 32) | 1
            } else {
                assert!(cur & FIX_COUNT != FIX_COUNT, "fixation count overflow");
                cur + 1
            };
            match self
                .fix
                .compare_exchange_weak(cur, new, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return,
                Err(now) => cur = now,
            }
        }
    }

    /// Releases one fixation. The last one sweeps out the tombstones and ghosts that
    /// deletions left while the table was fixed.
    pub fn unfix(&self) {
        if self.unfix_deferred() {
            self.sweep();
        }
    }

    /// Releases one fixation without sweeping: true when it was the last and something
    /// is kept, so the caller must call [`HashTable::sweep`] (the NIF crate does that on
    /// a background thread: a sweep is linear in what the fixation kept, up to the whole
    /// table). Until then the tombstones stay in their chains, which every operation
    /// already tolerates on an unfixed table (the same window exists between the last
    /// unfix and the end of an inline sweep), and which `next/2` no longer honours (their
    /// fixation period is over).
    ///
    /// A sweep of at most [`config::SWEEP_INLINE_LIMIT`] kept objects is done here.
    pub fn unfix_deferred(&self) -> bool {
        if self.fix.fetch_sub(1, Ordering::AcqRel) & FIX_COUNT != 1 {
            return false;
        }
        match self.kept() {
            0 => false,
            n if n <= config::SWEEP_INLINE_LIMIT => {
                self.sweep();
                false
            }
            _ => true,
        }
    }

    /// Empties the table atomically whether or not it is fixed, dropping what fixations
    /// kept too (tombstones, ghosts): `delete/1`, which must free the contents at once even
    /// while some process still holds a fixation. Returns the old shards for the caller to
    /// free off its path. A later `unfix` finds nothing to sweep.
    pub fn purge(&self) -> Vec<Shard> {
        let mut guards: Vec<_> = self.shards.iter().map(|s| s.write()).collect();
        guards
            .iter_mut()
            .map(|g| std::mem::replace(&mut **g, Shard::new(self.shard_bits)))
            .collect()
    }

    /// Frees what fixations kept, shard by shard. A shard fixed again meanwhile is left
    /// alone (checked under its lock, which every deletion also holds: a tombstone made
    /// under a new fixation is never swept while that fixation lasts); the next unfix
    /// sweeps it.
    pub fn sweep(&self) {
        let mut garbage = Vec::new();
        for s in self.shards.iter() {
            if s.read().kept() == 0 {
                continue;
            }
            let mut shard = s.write();
            if !self.resizable() {
                break;
            }
            garbage.extend(shard.sweep());
            shard.shrink_if_needed();
        }
        let n = garbage.len();
        crate::reaper::dispose(garbage, n);
    }

    /// Objects kept for fixations: tombstones of deleted keys and contents cleared while
    /// fixed (`info(T, stats)`).
    pub fn kept(&self) -> usize {
        self.shards.iter().map(|s| s.read().kept()).sum()
    }

    pub fn is_fixed(&self) -> bool {
        self.fixed_period().is_some()
    }

    /// Inserts one object; returns what it replaced.
    pub fn insert(&self, obj: Obj) -> Garbage {
        let h = obj.hash();
        let mut shard = self.shards[self.shard_of(h)].write();
        let mut garbage = Vec::new();
        shard.insert(self.mode, self.bucket_hash(h), obj, &mut garbage);
        if self.resizable() {
            shard.grow_if_needed();
        }
        garbage
    }

    /// Inserts objects atomically: every shard involved is write-locked (in ascending
    /// order) for the whole operation. With `only_new`, nothing is inserted and `false`
    /// returned if any key is already present.
    pub fn insert_many(&self, objs: Vec<Obj>, only_new: bool) -> (bool, Garbage) {
        self.insert_many_if(objs, only_new, &|| true)
    }

    /// [`HashTable::insert_many`], committed only if `commit()`, asked with every lock
    /// held, says so; otherwise nothing is inserted and `(false, objs)` returned.
    pub fn insert_many_if(
        &self,
        objs: Vec<Obj>,
        only_new: bool,
        commit: &dyn Fn() -> bool,
    ) -> (bool, Garbage) {
        let mut wanted: Vec<usize> = objs.iter().map(|o| self.shard_of(o.hash())).collect();
        wanted.sort_unstable();
        wanted.dedup();
        let mut guards: Vec<_> = wanted.iter().map(|&i| self.shards[i].write()).collect();
        let slot = |hash: u64| wanted.binary_search(&self.shard_of(hash)).unwrap();
        if !commit() {
            return (false, objs);
        }
        if only_new
            && objs.iter().any(|o| {
                guards[slot(o.hash())].contains(self.bucket_hash(o.hash()), o.hash(), o.key())
            })
        {
            return (false, objs);
        }
        let mut garbage = Vec::new();
        let resizable = self.resizable();
        for obj in objs {
            let h = obj.hash();
            let g = &mut guards[slot(h)];
            g.insert(self.mode, self.bucket_hash(h), obj, &mut garbage);
            if resizable {
                g.grow_if_needed();
            }
        }
        (true, garbage)
    }

    /// Calls `f` on every object with this key, in insertion order, under the read lock.
    pub fn lookup(&self, hash: u64, key: &[u8], f: impl FnMut(&Obj)) {
        let shard = self.shards[self.shard_of(hash)].read();
        shard.for_key(self.bucket_hash(hash), hash, key, f);
    }

    pub fn member(&self, hash: u64, key: &[u8]) -> bool {
        let shard = self.shards[self.shard_of(hash)].read();
        shard.contains(self.bucket_hash(hash), hash, key)
    }

    /// Removes every object with this key and returns them (in insertion order).
    pub fn take(&self, hash: u64, key: &[u8]) -> Garbage {
        let mut shard = self.shards[self.shard_of(hash)].write();
        let fixed = self.fixed_period();
        let out = shard.remove_where(self.bucket_hash(hash), fixed, |o| o.has_key(hash, key));
        if fixed.is_none() {
            shard.shrink_if_needed();
        }
        out
    }

    /// Removes objects identical to `obj` (all copies in a `duplicate_bag`).
    pub fn delete_object(&self, obj: &Obj) -> Garbage {
        let h = obj.hash();
        let mut shard = self.shards[self.shard_of(h)].write();
        let fixed = self.fixed_period();
        let out = shard.remove_where(self.bucket_hash(h), fixed, |o| {
            o.has_key(h, obj.key()) && crate::term::same(o.body(), obj.body())
        });
        if self.resizable() {
            shard.shrink_if_needed();
        }
        out
    }

    /// Removes objects whose encoding is `obj`'s byte for byte: what a match-spec delete
    /// matched (its copies in a `duplicate_bag` too), but not an object that differs in
    /// the sign of a zero, which `delete_object` also removes and a head pattern does
    /// not match.
    pub fn delete_exact(&self, obj: &Obj) -> Garbage {
        let h = obj.hash();
        let mut shard = self.shards[self.shard_of(h)].write();
        let fixed = self.fixed_period();
        let out = shard.remove_where(self.bucket_hash(h), fixed, |o| o.body() == obj.body());
        if self.resizable() {
            shard.shrink_if_needed();
        }
        out
    }

    /// Read-modify-write of the single object with this key, atomically: `f` changes the
    /// object in place (it must keep the key, and leave the object unchanged when it
    /// fails). Without an object, `default` (if given) is inserted after `f` ran on it.
    /// Returns `f`'s result; `Err` (`badkey` when there is neither object nor default)
    /// leaves the table unchanged.
    ///
    /// Only for [`KeyMode::Unique`] tables (the caller checks).
    pub fn update<R, F>(
        &self,
        hash: u64,
        key: &[u8],
        default: Option<Obj>,
        f: F,
    ) -> Result<(R, Garbage)>
    where
        F: FnOnce(&mut Obj) -> Result<R>,
    {
        debug_assert_eq!(self.mode, KeyMode::Unique);
        let mut shard = self.shards[self.shard_of(hash)].write();
        let bh = self.bucket_hash(hash);
        let mut f = Some(f);
        let found = shard.replace_with(bh, hash, key, |obj| (f.take().expect("once"))(obj))?;
        if let Some(r) = found {
            return Ok((r, Vec::new()));
        }
        let Some(mut obj) = default else {
            return Err(Cause::BadKey.into());
        };
        let r = (f.take().expect("once"))(&mut obj)?;
        let mut garbage = Vec::new();
        shard.insert(self.mode, bh, obj, &mut garbage);
        if self.resizable() {
            shard.grow_if_needed();
        }
        Ok((r, garbage))
    }

    /// Empties the table atomically (all shard locks held at once) and returns the old
    /// contents, for the caller to free off its path.
    ///
    /// While the table is fixed the old contents stay as ghosts of each shard (same
    /// bucket layout), so keys removed here are still accepted by `next/2` until the
    /// table is unfixed; nothing is returned then.
    pub fn clear(&self) -> Vec<Shard> {
        let mut guards: Vec<_> = self.shards.iter().map(|s| s.write()).collect();
        if let Some(period) = self.fixed_period() {
            guards.iter_mut().for_each(|g| g.clear_to_ghost(period));
            return Vec::new();
        }
        guards
            .iter_mut()
            .map(|g| std::mem::replace(&mut **g, Shard::new(self.shard_bits)))
            .collect()
    }

    /// Number of objects. Not a snapshot across shards under concurrent writes.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.read().len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Heap bytes held by objects and bucket arrays.
    pub fn memory_bytes(&self) -> usize {
        let locks = self.shards.len() * std::mem::size_of::<CachePadded<RwLock<Shard>>>();
        locks
            + self
                .shards
                .iter()
                .map(|s| s.read().memory_bytes())
                .sum::<usize>()
    }

    /// The walk position of an object (within its shard).
    #[inline]
    fn pos_of(&self, obj: &Obj) -> u64 {
        shard::walk_pos(self.bucket_hash(obj.hash()))
    }

    /// Visits objects from `pos` on, whole buckets at a time, until at least `max` were
    /// visited or the table ends. Returns the position to resume from, or `None` at the end.
    /// A position stays meaningful whatever happens to the table in between (see the
    /// module notes); nothing needs to be fixed.
    pub fn visit(&self, pos: Position, max: usize, mut f: impl FnMut(&Obj)) -> Option<Position> {
        let mut seen = 0;
        let mut pos = pos;
        while pos.shard < self.shards.len() {
            let shard = self.shards[pos.shard].read();
            let (order, mut partial) = shard.order(pos.at, false);
            let mut steps = Lookahead::new(&shard, order);
            while let Some(b) = steps.next(&shard) {
                seen += match partial.take() {
                    None => shard.for_bucket(b, &mut f),
                    Some(from) => shard.for_bucket_in(b, from.., &mut f),
                };
                if seen >= max {
                    return Some(Position::in_shard_or_next(pos.shard, steps.peek()));
                }
            }
            pos = Position::in_shard_or_next(pos.shard, None);
        }
        None
    }

    /// The walk before walk positions (bucket index order), for timing comparisons.
    #[cfg(test)]
    pub fn visit_physical(&self, mut f: impl FnMut(&Obj)) {
        for s in self.shards.iter() {
            let shard = s.read();
            for b in 0..config::WALK_PREFETCH {
                shard.prefetch_bucket(b);
            }
            for b in 0..shard.bucket_count() {
                shard.prefetch_bucket(b + config::WALK_PREFETCH);
                shard.for_bucket(b, &mut f);
            }
        }
    }

    /// [`HashTable::visit`] backwards: the same objects in exactly the reverse order,
    /// from `pos` down (start at [`HashTable::end_position`]). A position here is the
    /// last walk position still to visit in its shard.
    pub fn visit_rev(
        &self,
        pos: Position,
        max: usize,
        mut f: impl FnMut(&Obj),
    ) -> Option<Position> {
        let mut seen = 0;
        let mut pos = pos;
        loop {
            let shard = self.shards.get(pos.shard)?.read();
            let (order, mut partial) = shard.order(pos.at, true);
            let mut steps = Lookahead::new(&shard, order);
            while let Some(b) = steps.next(&shard) {
                seen += match partial.take() {
                    None => shard.for_bucket_rev(b, &mut f),
                    Some(upto) => shard.for_bucket_rev_in(b, ..=upto, &mut f),
                };
                if seen >= max {
                    return match steps.peek() {
                        Some(at) => Some(Position {
                            shard: pos.shard,
                            at,
                        }),
                        None => pos.shard.checked_sub(1).map(|s| Position {
                            shard: s,
                            at: u64::MAX,
                        }),
                    };
                }
            }
            pos = Position {
                shard: pos.shard.checked_sub(1)?,
                at: u64::MAX,
            };
        }
    }

    /// Where a backward walk starts: the last position of the last shard.
    pub fn end_position(&self) -> Position {
        Position {
            shard: self.shards.len() - 1,
            at: u64::MAX,
        }
    }

    /// Like [`HashTable::visit`], under each shard's write lock, removing the objects for
    /// which `doomed` returns true (appended to `garbage`). `doomed` sees every live
    /// object once, in walk order. While the table is fixed a key that loses all its
    /// objects leaves a tombstone, as with [`HashTable::delete_object`]; otherwise each
    /// shard merges buckets back, as deletions make it sparse, before the walk leaves it.
    pub fn visit_remove(
        &self,
        pos: Position,
        max: usize,
        mut doomed: impl FnMut(&Obj) -> bool,
        garbage: &mut Garbage,
    ) -> Option<Position> {
        // Decisions for one bucket's live objects: the spec runs once per object, and a
        // bucket with nothing to remove is left untouched.
        let mut verdicts: Vec<bool> = Vec::new();
        self.walk_write(pos, max, |shard, bucket, from, keep_places| {
            verdicts.clear();
            // Asked in chain order, the order remove_in_bucket consumes them in.
            let n = shard.for_bucket_chain(bucket, |o| {
                verdicts.push(from.is_none_or(|from| shard.pos_of(o) >= from) && doomed(o))
            });
            if verdicts.contains(&true) {
                let mut v = verdicts.iter();
                garbage.extend(
                    shard.remove_in_bucket(bucket, keep_places, |_| {
                        v.next().copied().unwrap_or(false)
                    }),
                );
            }
            Some(n)
        })
    }

    /// Like [`HashTable::visit`], under each shard's write lock, putting what `f` returns
    /// in each object's place (see [`Shard::edit_bucket`]): `select_replace`, which
    /// replaces every object atomically with respect to other writers of its key.
    /// Replaced objects are appended to `garbage`. A [`Halt`] ends the walk (`None`
    /// position) and is returned with it.
    pub fn visit_edit(
        &self,
        pos: Position,
        max: usize,
        mut f: impl FnMut(&Obj) -> Edit,
        garbage: &mut Garbage,
    ) -> (Option<Position>, Option<Halt>) {
        let mut halted = None;
        let next = self.walk_write(pos, max, |shard, bucket, from, _| {
            let (n, halt) = match from {
                None => shard.edit_bucket(bucket, &mut f, garbage),
                Some(from) => {
                    // Entered in its middle (a merge since the last call): only the
                    // objects from `from` on are still to visit.
                    let mut part = |o: &Obj| match self.pos_of(o) >= from {
                        true => f(o),
                        false => Edit::Keep,
                    };
                    shard.edit_bucket(bucket, &mut part, garbage)
                }
            };
            halted = halt;
            halted.is_none().then_some(n)
        });
        (next, halted)
    }

    /// The forward walk of [`HashTable::visit`] under each shard's *write* lock, a bucket
    /// at a time: `on_bucket(shard, bucket, from, fixed)` (`from`: the first position
    /// still to visit when the bucket is entered in its middle; `fixed`: the fixation
    /// period when the table is fixed, so deletions keep their places) returns how many objects it saw, or
    /// `None` to stop the walk there. Returns the position to resume from (`None` at the
    /// end of the table or when stopped). An unfixed shard that became sparse merges
    /// buckets back before the walk leaves it.
    fn walk_write(
        &self,
        pos: Position,
        max: usize,
        mut on_bucket: impl FnMut(&mut Shard, usize, Option<u64>, Option<u32>) -> Option<usize>,
    ) -> Option<Position> {
        let mut seen = 0;
        let mut pos = pos;
        while pos.shard < self.shards.len() {
            let mut shard = self.shards[pos.shard].write();
            // Checked under the shard lock, which `fix` needs no part of, but every
            // deletion takes: a fixation that starts during the walk sees the buckets as
            // this walk leaves them (see `sweep`).
            let fixed = self.fixed_period();
            let (order, mut partial) = shard.order(pos.at, false);
            let mut steps = Lookahead::new(&shard, order);
            let mut stop = false;
            while let Some(b) = steps.next(&shard) {
                let Some(n) = on_bucket(&mut shard, b, partial.take(), fixed) else {
                    stop = true;
                    break;
                };
                seen += n;
                if seen >= max {
                    break;
                }
            }
            // Where to resume, taken before a shrink changes the layout (a position stays
            // meaningful across it).
            let resume = steps.peek();
            if fixed.is_none() {
                // Bounded: a merge costs about 1.3 µs (two cold buckets); 1000 of them at
                // the end of each emptied shard held a scheduler for 1.3-4.5 ms.
                shard.shrink_to_load(config::WALK_MERGES);
            }
            if stop {
                return None;
            }
            if seen >= max {
                return Some(Position::in_shard_or_next(pos.shard, resume));
            }
            pos = Position::in_shard_or_next(pos.shard, None);
        }
        None
    }

    /// [`Shard::edit_bucket`] on the objects with this key, under its shard's write lock
    /// (other keys of the bucket are kept without asking `f`).
    pub fn edit_key(
        &self,
        hash: u64,
        key: &[u8],
        mut f: impl FnMut(&Obj) -> Edit,
        garbage: &mut Garbage,
    ) -> Option<Halt> {
        let mut shard = self.shards[self.shard_of(hash)].write();
        let i = shard.address_of(self.bucket_hash(hash));
        let mut only_key = |o: &Obj| match o.has_key(hash, key) {
            true => f(o),
            false => Edit::Keep,
        };
        shard.edit_bucket(i, &mut only_key, garbage).1
    }

    /// The first key in traversal order, given to `f`.
    pub fn first<R>(&self, f: impl FnOnce(&Obj) -> R) -> Option<R> {
        self.first_from_shard(0, f)
    }

    fn first_from_shard<R>(&self, from: usize, f: impl FnOnce(&Obj) -> R) -> Option<R> {
        for s in self.shards.iter().skip(from) {
            let shard = s.read();
            if let Some(obj) = shard.first_from(0) {
                return Some(f(obj));
            }
        }
        None
    }

    /// The key after `key` in traversal order, given to `f`. `Err` if `key` is not in the
    /// table; `Ok(None)` at the end.
    pub fn next<R>(&self, hash: u64, key: &[u8], f: impl FnOnce(&Obj) -> R) -> Result<Option<R>> {
        let s = self.shard_of(hash);
        let shard = self.shards[s].read();
        match shard.after_key(self.bucket_hash(hash), hash, key, self.fixed_period()) {
            None => Err(Cause::Type.into()),
            Some(Some(obj)) => Ok(Some(f(obj))),
            Some(None) => {
                drop(shard);
                Ok(self.first_from_shard(s + 1, f))
            }
        }
    }

    /// `slot/2`: calls `f` on the objects of bucket `i` counting across shards in
    /// traversal order. `Ok(false)` when `i` is one past the last bucket (`'$end_of_table'`),
    /// `Err` beyond. Bucket numbers are stable only while the table is fixed.
    pub fn slot(&self, mut i: usize, mut f: impl FnMut(&Obj)) -> Result<bool> {
        for s in self.shards.iter() {
            let s = s.read();
            if i < s.bucket_count() {
                s.for_bucket(i, &mut f);
                return Ok(true);
            }
            i -= s.bucket_count();
        }
        if i == 0 {
            Ok(false)
        } else {
            Err(Cause::Type.into())
        }
    }

    /// Chain lengths over all buckets (for `info(T, stats)` and tests).
    pub fn chain_stats(&self) -> ChainStats {
        let mut st = ChainStats {
            buckets: 0,
            min: usize::MAX,
            max: 0,
            sum: 0,
            sum_sq: 0,
        };
        for s in self.shards.iter() {
            let s = s.read();
            for i in 0..s.bucket_count() {
                let len = s.for_bucket(i, |_| ());
                st.buckets += 1;
                st.min = st.min.min(len);
                st.max = st.max.max(len);
                st.sum += len;
                st.sum_sq += len * len;
            }
        }
        st
    }

    /// Checks the structure of every shard (tests and debug builds).
    pub fn check_invariants(&self) {
        for (i, s) in self.shards.iter().enumerate() {
            let s = s.read();
            s.check_invariants(self.mode, |h| self.shard_of(h) == i);
        }
    }
}

/// A shard's buckets in walk order ([`shard::Order`]) with look-ahead: the bucket slots
/// `2 * WALK_PREFETCH` buckets ahead and the first objects `WALK_PREFETCH` buckets ahead
/// are asked for early (a walk goes through the bucket array in bit-reversed order, which
/// the hardware prefetcher cannot guess, and objects are scattered in memory).
struct Lookahead {
    order: shard::Order,
    /// Upcoming buckets with their edge positions, `len` of them from `head` (a ring).
    ring: [(usize, u64); LOOKAHEAD],
    head: usize,
    len: usize,
}

const LOOKAHEAD: usize = 2 * config::WALK_PREFETCH;

impl Lookahead {
    fn new(shard: &Shard, order: shard::Order) -> Lookahead {
        let mut la = Lookahead {
            order,
            ring: [(0, 0); LOOKAHEAD],
            head: 0,
            len: 0,
        };
        while la.len < LOOKAHEAD && la.fill(shard) {}
        for k in 0..la.len.min(config::WALK_PREFETCH) {
            shard.prefetch_bucket(la.ring[k].0);
        }
        la
    }

    #[inline]
    fn fill(&mut self, shard: &Shard) -> bool {
        let Some(e) = self.order.next() else {
            return false;
        };
        shard.prefetch_slot(e.0);
        self.ring[(self.head + self.len) % LOOKAHEAD] = e;
        self.len += 1;
        true
    }

    /// The next bucket to visit.
    #[inline]
    fn next(&mut self, shard: &Shard) -> Option<usize> {
        if self.len == 0 {
            return None;
        }
        let (b, _) = self.ring[self.head];
        self.head = (self.head + 1) % LOOKAHEAD;
        self.len -= 1;
        self.fill(shard);
        if self.len >= config::WALK_PREFETCH {
            let ahead = (self.head + config::WALK_PREFETCH - 1) % LOOKAHEAD;
            shard.prefetch_bucket(self.ring[ahead].0);
        }
        Some(b)
    }

    /// The edge position of the next bucket to visit (its first position, or its last
    /// going backwards): where a walk that stops now resumes. `None`: the shard is done.
    fn peek(&self) -> Option<u64> {
        (self.len > 0).then(|| self.ring[self.head].1)
    }
}
