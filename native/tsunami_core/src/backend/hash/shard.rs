//! One shard: a sequential linear hash table (the caller holds the shard's lock).
//!
//! Bucket `i` lives in segment `s(i)`: segment 0 holds buckets `0..MIN`, segment `k ≥ 1`
//! holds `MIN·2^(k-1) .. MIN·2^k`. Segment 0 is inline in the shard; the others are
//! allocated when the split pointer first
//! reaches them and freed when a merge empties the last one; they never move.
//!
//! Addressing: with `level` L and split pointer `p`, a bucket hash `h` lives in bucket
//! `h mod MIN·2^L`, or `h mod MIN·2^(L+1)` when that is below `p` (already split).
//!
//! Walk order: by *walk position*, the bucket hash with its bits reversed
//! ([`walk_pos`]). A bucket addressed by the low `d` bits of the bucket hash holds exactly
//! the positions whose top `d` bits are those bits reversed: one contiguous interval
//! ([`Shard::bucket_at`]). A split cuts its bucket's interval in two halves, a merge joins
//! two halves back, so an interval boundary of one layout is a boundary (or the inside of
//! a merged bucket) in every later one, and a walk that resumes "at position `r`" never
//! misses or repeats an object that stayed in the table, however the shard resized
//! between its calls (the split-ordered lists of Shalev & Shavit, JACM 2006, use the same
//! order for the same reason).
//!
//! Each chain is kept sorted by walk position (ties in insertion order): an insert links
//! a new key in front of the first object with a higher position, a split partitions a
//! chain stably, and a merge appends the upper half of an interval to the lower one. So
//! the order of a walk (`select`, `tab2list`) and of `first/next` is one and the same:
//! by position, then chain order, in every layout.

use crate::backend::{Edit, Garbage, Halt, KeyMode};
use crate::config::{GROW_LOAD, MERGES_PER_DELETE, SHARD_MIN_BUCKETS as MIN, SHRINK_DIVISOR};
use crate::term::Obj;

/// A bucket: objects linked through their own `next` field (see [`Obj`]).
type Chain = Option<Obj>;

pub struct Shard {
    /// Segment 0 lives inline, so a new (empty) table allocates nothing per shard.
    seg0: [Chain; MIN],
    /// Segments 1.. (`segments[k - 1]` is segment `k`).
    segments: Vec<Box<[Chain]>>,
    level: u32,
    split: usize,
    /// Live objects (tombstones not counted).
    count: usize,
    /// Heap bytes of objects and tombstones.
    bytes: usize,
    /// Low hash bits that chose the shard; shifted out to get a bucket hash.
    shard_bits: u32,
    /// Tombstones in the chains, and the buckets that may hold them (for the sweep).
    dead: usize,
    dead_buckets: Vec<usize>,
    /// Contents removed by `clear` while the table was fixed, kept (with this shard's
    /// layout) so `next/2` still accepts their keys until the sweep.
    ghosts: Vec<Shard>,
    /// For a ghost: the fixation period it was made in (0 otherwise).
    ghost_period: u32,
}

/// Segment index and offset of bucket `i`.
#[inline]
fn locate(i: usize) -> (usize, usize) {
    if i < MIN {
        return (0, i);
    }
    let q = i / MIN;
    let k = (usize::BITS - q.leading_zeros()) as usize;
    (k, i - (MIN << (k - 1)))
}

fn segment_len(k: usize) -> usize {
    if k == 0 {
        MIN
    } else {
        MIN << (k - 1)
    }
}

fn new_segment(k: usize) -> Box<[Chain]> {
    // A zeroed allocation: the allocator hands out fresh zero pages for big segments, so
    // creating one costs no per-bucket writes (no pause proportional to the table).
    let zeroed = Box::<[Chain]>::new_zeroed_slice(segment_len(k));
    // SAFETY: `Chain` is `Option<Obj>` and `Obj` is a `NonNull` pointer, so the all-zero
    // bit pattern is `None` (the null-pointer optimisation is guaranteed for
    // `Option<NonNull<T>>` wrapped in a single-field struct).
    unsafe { zeroed.assume_init() }
}

impl Shard {
    pub fn new(shard_bits: u32) -> Shard {
        Shard {
            seg0: Default::default(),
            segments: Vec::new(),
            level: 0,
            split: 0,
            count: 0,
            bytes: 0,
            shard_bits,
            dead: 0,
            dead_buckets: Vec::new(),
            ghosts: Vec::new(),
            ghost_period: 0,
        }
    }

    /// An empty shard with this one's bucket layout (same level, split pointer and
    /// segments), so bucket numbers mean the same in both.
    pub fn empty_like(&self) -> Shard {
        let mut s = Shard::new(self.shard_bits);
        s.level = self.level;
        s.split = self.split;
        s.segments = (1..=self.segments.len()).map(new_segment).collect();
        s
    }

    /// Tombstones and ghost objects kept for a fixation (`info(T, stats)`).
    pub fn kept(&self) -> usize {
        self.dead
            + self
                .ghosts
                .iter()
                .map(|g| g.count + g.kept())
                .sum::<usize>()
    }

    /// Empties the shard into a ghost, keeping the layout: `clear` while fixed, in
    /// fixation period `period`.
    pub fn clear_to_ghost(&mut self, period: u32) {
        let fresh = self.empty_like();
        let mut old = std::mem::replace(self, fresh);
        self.ghosts = std::mem::take(&mut old.ghosts);
        old.ghost_period = period;
        self.ghosts.push(old);
    }

    /// Drops every tombstone and ghost (the table is no longer fixed). Returns what to free.
    pub fn sweep(&mut self) -> Garbage {
        let mut garbage = Vec::new();
        let mut buckets = std::mem::take(&mut self.dead_buckets);
        buckets.sort_unstable();
        buckets.dedup();
        for i in buckets {
            if self.dead == 0 {
                break;
            }
            if i < self.bucket_count() {
                self.drop_tombstones(i, &mut garbage);
            }
        }
        if self.dead > 0 {
            // Tombstones that a resize moved away from their recorded bucket.
            for i in 0..self.bucket_count() {
                self.drop_tombstones(i, &mut garbage);
            }
        }
        for ghost in std::mem::take(&mut self.ghosts) {
            garbage.extend(ghost.into_objects());
        }
        garbage
    }

    /// Unlinks the tombstones of bucket `i` into `garbage`, keeping the rest in order.
    fn drop_tombstones(&mut self, i: usize, garbage: &mut Garbage) {
        let mut kept = Vec::new();
        let mut cur = self.bucket_mut(i).take();
        while let Some(mut o) = cur {
            cur = o.next_mut().take();
            if o.is_dead() {
                self.dead -= 1;
                self.bytes -= o.heap_bytes();
                garbage.push(o);
            } else {
                kept.push(o);
            }
        }
        *self.bucket_mut(i) = relink(kept);
    }

    /// Every object and tombstone, unlinked (to be freed).
    fn into_objects(mut self) -> Garbage {
        let mut out = Vec::new();
        for i in 0..self.bucket_count() {
            let mut cur = self.bucket_mut(i).take();
            while let Some(mut o) = cur {
                cur = o.next_mut().take();
                out.push(o);
            }
        }
        for ghost in std::mem::take(&mut self.ghosts) {
            out.extend(ghost.into_objects());
        }
        out
    }

    /// Whether a ghost made in fixation period `period` holds this key (an object, or a
    /// tombstone of that period) at bucket-hash `bh`'s address.
    fn ghost_has(&self, bh: u64, hash: u64, key: &[u8], period: u32) -> bool {
        self.ghosts.iter().any(|g| {
            if g.ghost_period == period {
                let mut cur = g.bucket(g.address(bh));
                while let Some(n) = cur {
                    if n.has_key(hash, key) && keeps_place(n, Some(period)) {
                        return true;
                    }
                    cur = n.next();
                }
            }
            g.ghost_has(bh, hash, key, period)
        })
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn bucket_count(&self) -> usize {
        (MIN << self.level) + self.split
    }

    pub fn memory_bytes(&self) -> usize {
        let buckets: usize = MIN + self.segments.iter().map(|s| s.len()).sum::<usize>();
        self.bytes + buckets * std::mem::size_of::<Chain>()
    }

    /// The bucket a bucket hash lives in.
    #[inline]
    pub fn address_of(&self, bh: u64) -> usize {
        self.address(bh)
    }

    #[inline]
    fn address(&self, bh: u64) -> usize {
        let low = (MIN << self.level) - 1;
        let b = (bh as usize) & low;
        if b < self.split {
            (bh as usize) & ((low << 1) | 1)
        } else {
            b
        }
    }

    /// Address bits of the buckets that are not split at this level.
    #[inline]
    fn low_bits(&self) -> u32 {
        MIN.trailing_zeros() + self.level
    }

    /// The bucket holding walk position `at`, and the positions it covers: `start` (at
    /// most `at`) up to `end` (exclusive; `None` past the last position).
    #[inline]
    pub fn bucket_at(&self, at: u64) -> (usize, u64, Option<u64>) {
        let b = self.address(at.reverse_bits());
        let split_level = b < self.split || b >= (MIN << self.level);
        let bits = self.low_bits() + u32::from(split_level);
        if bits == 0 {
            return (b, 0, None); // one bucket covers every position
        }
        let span = u64::BITS - bits;
        let start = at & (u64::MAX << span);
        (b, start, start.checked_add(1 << span))
    }

    /// The buckets in walk-position order from position `at` on (backwards: from `at`
    /// down), for as long as the layout does not change (the caller holds the lock).
    /// Also returns `at` when it lies inside the first bucket rather than on its edge
    /// (a merge since `at` was handed out): only the objects from there on (backwards:
    /// up to there) are still to visit in that bucket.
    pub fn order(&self, at: u64, backwards: bool) -> (Order, Option<u64>) {
        let bits = self.low_bits();
        let span = 1u128 << (u64::BITS - bits);
        let j = (at as u128 / span) as u64;
        let group = j as u128 * span;
        let split = rev_bits(j, bits) < self.split;
        let half = span / 2;
        let upper = split && at as u128 - group >= half;
        let (lo, hi) = match (split, upper) {
            (false, _) => (group, group + span - 1),
            (true, false) => (group, group + half - 1),
            (true, true) => (group + half, group + span - 1),
        };
        let edge = if backwards { hi } else { lo };
        let order = Order {
            bits,
            base: MIN << self.level,
            split: self.split,
            j,
            upper,
            done: false,
            backwards,
        };
        (order, (at as u128 != edge).then_some(at))
    }

    /// The walk position of a stored object.
    #[inline]
    pub fn pos_of(&self, obj: &Obj) -> u64 {
        walk_pos(self.bucket_hash_of(obj))
    }

    #[inline]
    fn bucket(&self, i: usize) -> &Chain {
        match locate(i) {
            (0, o) => &self.seg0[o],
            (s, o) => &self.segments[s - 1][o],
        }
    }

    #[inline]
    fn bucket_mut(&mut self, i: usize) -> &mut Chain {
        match locate(i) {
            (0, o) => &mut self.seg0[o],
            (s, o) => &mut self.segments[s - 1][o],
        }
    }

    pub fn contains(&self, bh: u64, hash: u64, key: &[u8]) -> bool {
        let mut cur = self.bucket(self.address(bh));
        while let Some(n) = cur {
            if n.has_key(hash, key) {
                return !n.is_dead();
            }
            cur = n.next();
        }
        false
    }

    /// Calls `f` on the objects with this key, in insertion order (a run is stored
    /// newest first, see [`Shard::insert`]).
    pub fn for_key(&self, bh: u64, hash: u64, key: &[u8], f: impl FnMut(&Obj)) {
        let mut cur = self.bucket(self.address(bh));
        while let Some(n) = cur {
            if n.has_key(hash, key) {
                if !n.is_dead() {
                    // A tombstone stands alone for its key; a live run is contiguous.
                    in_insertion_order(cur, |o| o.has_key(hash, key), f);
                }
                return;
            }
            cur = n.next();
        }
    }

    /// Calls `f` on every object of bucket `i` (not tombstones); returns how many.
    /// Starts loading the first object of bucket `i` (if any) into the cache.
    #[inline]
    pub fn prefetch_bucket(&self, i: usize) {
        if i < self.bucket_count() {
            if let Some(o) = self.bucket(i) {
                o.prefetch();
            }
        }
    }

    /// Starts loading bucket `i`'s slot (not its objects) into the cache. A walk goes
    /// through the bucket array in walk-position order, which the hardware prefetcher
    /// cannot guess.
    #[inline]
    pub fn prefetch_slot(&self, i: usize) {
        if i < self.bucket_count() {
            crate::term::prefetch(self.bucket(i) as *const Chain);
        }
    }

    /// [`Shard::for_bucket`] backwards: the same objects in exactly the reverse order.
    pub fn for_bucket_rev(&self, i: usize, f: impl FnMut(&Obj)) -> usize {
        self.for_bucket_rev_in(i, .., f)
    }

    /// [`Shard::for_bucket_in`] backwards.
    pub fn for_bucket_rev_in(
        &self,
        i: usize,
        range: impl std::ops::RangeBounds<u64>,
        mut f: impl FnMut(&Obj),
    ) -> usize {
        // Chains are short (load about 1): gather on the stack, spill beyond 8.
        let mut few: [Option<&Obj>; 8] = [None; 8];
        let mut more: Vec<&Obj> = Vec::new();
        let mut n = 0;
        in_insertion_order(
            self.bucket(i),
            |o| range.contains(&self.pos_of(o)),
            |o| {
                match few.get_mut(n) {
                    Some(slot) => *slot = Some(o),
                    None => more.push(o),
                }
                n += 1;
            },
        );
        more.iter().rev().for_each(|o| f(o));
        few.iter().take(n).rev().flatten().for_each(|o| f(o));
        n
    }

    /// Calls `f` on every object of bucket `i` (not tombstones), in walk order: runs in
    /// chain order, each key's objects in insertion order. Returns how many.
    pub fn for_bucket(&self, i: usize, f: impl FnMut(&Obj)) -> usize {
        in_insertion_order(self.bucket(i), |_| true, f)
    }

    /// [`Shard::for_bucket`] on the objects whose walk position is in `range` (a bucket
    /// a walk enters in its middle, after a merge).
    pub fn for_bucket_in(
        &self,
        i: usize,
        range: impl std::ops::RangeBounds<u64>,
        f: impl FnMut(&Obj),
    ) -> usize {
        in_insertion_order(self.bucket(i), |o| range.contains(&self.pos_of(o)), f)
    }

    /// Calls `f` on every live object of bucket `i` in *chain* order (a key's objects
    /// newest first), the order [`Shard::remove_in_bucket`] asks its predicate in.
    pub fn for_bucket_chain(&self, i: usize, mut f: impl FnMut(&Obj)) -> usize {
        let mut n = 0;
        let mut cur = self.bucket(i);
        while let Some(node) = cur {
            if !node.is_dead() {
                f(node);
                n += 1;
            }
            cur = node.next();
        }
        n
    }

    /// The first object at walk position `at` or later.
    pub fn first_from(&self, mut at: u64) -> Option<&Obj> {
        loop {
            let (b, start, end) = self.bucket_at(at);
            let mut cur = self.bucket(b);
            while let Some(n) = cur {
                if !n.is_dead() && (start == at || self.pos_of(n) >= at) {
                    return Some(n);
                }
                cur = n.next();
            }
            at = end?;
        }
    }

    /// The first object after the run of `key` in walk order: `Some(Some(obj))`,
    /// `Some(None)` when nothing follows it in this shard, `None` when the key is absent.
    /// A key deleted during the table's current fixation (`fixed`: its period, `None`
    /// when the table is not fixed) still has its place (a tombstone), or, when `clear`
    /// removed it, a ghost: then the walk goes on from the start of its bucket
    /// (everything there came after the clear). As in ETS, a key deleted before the
    /// current fixation began is absent, even while the sweep has not yet removed its
    /// tombstone or ghost.
    pub fn after_key(
        &self,
        bh: u64,
        hash: u64,
        key: &[u8],
        fixed: Option<u32>,
    ) -> Option<Option<&Obj>> {
        let (i, start, end) = self.bucket_at(walk_pos(bh));
        let mut cur = self.bucket(i);
        let mut found = false;
        while let Some(n) = cur {
            if n.has_key(hash, key) {
                // A tombstone stands alone for its key: found unless it is stale.
                found = keeps_place(n, fixed);
            } else if found && !n.is_dead() {
                return Some(Some(n));
            }
            cur = n.next();
        }
        if !found {
            match fixed {
                Some(period) if self.ghost_has(bh, hash, key, period) => {
                    return Some(self.first_from(start))
                }
                _ => return None,
            }
        }
        Some(end.and_then(|e| self.first_from(e)))
    }

    /// Inserts with the semantics of `mode`; replaced objects go to `garbage`.
    pub fn insert(&mut self, mode: KeyMode, bh: u64, mut obj: Obj, garbage: &mut Garbage) {
        let i = self.address(bh);
        let hash = obj.hash();
        self.count += 1;
        self.bytes += obj.heap_bytes();
        // Walk to the key's run (or to the first object with a higher walk position:
        // chains are sorted by position), deciding there.
        let pos = walk_pos(bh);
        let shard_bits = self.shard_bits;
        let mut slot: &mut Chain = self.bucket_mut(i);
        let mut removed: Option<Obj> = None;
        let mut tombstone: Option<Obj> = None;
        loop {
            match slot {
                Some(cur) if cur.has_key(hash, obj.key()) && cur.is_dead() => {
                    // The key comes back to the place it had before it was deleted.
                    let mut old = slot.take().expect("matched Some");
                    *obj.next_mut() = old.next_mut().take();
                    *slot = Some(obj);
                    tombstone = Some(old);
                    break;
                }
                Some(cur) if cur.has_key(hash, obj.key()) => {
                    if mode == KeyMode::Unique {
                        // Take `cur`'s place in the chain.
                        let mut old = slot.take().expect("matched Some");
                        *obj.next_mut() = old.next_mut().take();
                        *slot = Some(obj);
                        removed = Some(old);
                    } else if mode == KeyMode::Bag && run_holds(cur, obj.body()) {
                        removed = Some(obj);
                    } else {
                        // Before the run: runs are newest first, so an insert is O(1)
                        // however many copies the key has (readers reverse a run).
                        *obj.next_mut() = slot.take();
                        *slot = Some(obj);
                    }
                    break;
                }
                Some(cur) if walk_pos(cur.hash() >> shard_bits) <= pos => {
                    slot = slot.as_mut().expect("matched Some").next_mut()
                }
                _ => {
                    // The key's place in the chain (sorted by position): link in here.
                    *obj.next_mut() = slot.take();
                    *slot = Some(obj);
                    break;
                }
            }
        }
        if let Some(old) = removed {
            self.count -= 1;
            self.bytes -= old.heap_bytes();
            garbage.push(old);
        }
        if let Some(t) = tombstone {
            self.dead -= 1;
            self.bytes -= t.heap_bytes();
            garbage.push(t);
        }
    }

    /// Removes the objects of bucket-hash `bh`'s bucket for which `pred` holds (asked in
    /// chain order), keeping the rest in order. Returns the removed ones in walk order
    /// (each key's in insertion order). With `keep_places` (the table is
    /// fixed: the fixation period), a key that loses all its objects leaves a tombstone
    /// of that period where its first one was, so `next/2` still finds its place.
    pub fn remove_where(
        &mut self,
        bh: u64,
        keep_places: Option<u32>,
        pred: impl FnMut(&Obj) -> bool,
    ) -> Garbage {
        let i = self.address(bh);
        self.remove_in_bucket(i, keep_places, pred)
    }

    /// [`Shard::remove_where`] on bucket `i` (a walk's position). `pred` sees the live
    /// objects in chain order.
    pub fn remove_in_bucket(
        &mut self,
        i: usize,
        keep_places: Option<u32>,
        mut pred: impl FnMut(&Obj) -> bool,
    ) -> Garbage {
        let mut removed = Vec::new();
        let mut kept = Vec::new();
        let mut cur = self.bucket_mut(i).take();
        if keep_places.is_none() {
            while let Some(mut o) = cur {
                cur = o.next_mut().take();
                if !o.is_dead() && pred(&o) {
                    removed.push(o);
                } else {
                    kept.push(o);
                }
            }
        } else if let Some(period) = keep_places {
            // Run by run (a key's objects are contiguous).
            let mut tombstones = 0;
            let mut tomb_bytes = 0;
            let mut run_start = 0;
            let mut run_removed = false;
            let mut run_kept = false;
            let mut run_key: Option<(u64, Vec<u8>)> = None;
            loop {
                let next = cur.as_mut().map(|o| o.next_mut().take());
                let o = cur.take();
                let same_run = match (&o, &run_key) {
                    (Some(o), Some((h, k))) => o.has_key(*h, k),
                    _ => false,
                };
                if !same_run {
                    // Close the previous run.
                    if run_removed && !run_kept {
                        let (h, k) = run_key.take().expect("a run has a key");
                        let t = Obj::tombstone(h, &k, period);
                        tomb_bytes += t.heap_bytes();
                        kept.insert(run_start, t);
                        tombstones += 1;
                    }
                    run_start = kept.len();
                    run_removed = false;
                    run_kept = false;
                    run_key = o.as_ref().map(|o| (o.hash(), o.key().to_vec()));
                }
                let Some(o) = o else { break };
                if !o.is_dead() && pred(&o) {
                    run_removed = true;
                    removed.push(o);
                } else {
                    run_kept = true;
                    kept.push(o);
                }
                cur = next.flatten();
            }
            if tombstones > 0 {
                self.dead += tombstones;
                self.bytes += tomb_bytes;
                self.dead_buckets.push(i);
            }
        }
        *self.bucket_mut(i) = relink(kept);
        for o in &removed {
            self.count -= 1;
            self.bytes -= o.heap_bytes();
        }
        // A key's removed objects are adjacent here, newest first: hand them out in
        // insertion order.
        let mut start = 0;
        while start < removed.len() {
            let first = &removed[start];
            let end = start
                + removed[start..]
                    .iter()
                    .take_while(|o| o.has_key(first.hash(), first.key()))
                    .count();
            removed[start..end].reverse();
            start = end;
        }
        removed
    }

    /// Offers each live object of bucket `i` to `f`, in chain order, and puts what it
    /// returns in the object's place ([`Edit`]): the new object takes over the old one's
    /// link, so chain order and tombstones stay as they were. Replaced objects go to
    /// `garbage`. Stops at [`Edit::Stop`], or at a replacement whose key is not exactly
    /// the old one's ([`Halt::Refused`], nothing changed for that object: a different key
    /// would belong elsewhere). Returns how many objects `f` saw.
    pub fn edit_bucket(
        &mut self,
        i: usize,
        f: &mut impl FnMut(&Obj) -> Edit,
        garbage: &mut Garbage,
    ) -> (usize, Option<Halt>) {
        let mut seen = 0;
        let (mut added, mut freed) = (0, 0);
        let mut slot: &mut Chain = self.bucket_mut(i);
        let mut halt = None;
        while let Some(cur) = slot {
            if !cur.is_dead() {
                seen += 1;
                match f(cur) {
                    Edit::Keep => {}
                    Edit::Stop => {
                        halt = Some(Halt::Stopped);
                        break;
                    }
                    Edit::Replace(new) if !cur.has_key(new.hash(), new.key()) => {
                        halt = Some(Halt::Refused(new));
                        break;
                    }
                    Edit::Replace(mut new) => {
                        *new.next_mut() = cur.next_mut().take();
                        added += new.heap_bytes();
                        let old = std::mem::replace(cur, new);
                        freed += old.heap_bytes();
                        garbage.push(old);
                    }
                }
            }
            slot = slot.as_mut().expect("matched Some").next_mut();
        }
        self.bytes = self.bytes + added - freed;
        (seen, halt)
    }

    /// Changes the object with this key in place with `f`. `Ok(None)` when there is none;
    /// an `Err` from `f` must leave the object unchanged.
    pub fn replace_with<R, E>(
        &mut self,
        bh: u64,
        hash: u64,
        key: &[u8],
        f: impl FnOnce(&mut Obj) -> Result<R, E>,
    ) -> Result<Option<R>, E> {
        let i = self.address(bh);
        let mut cur = self.bucket_mut(i);
        while cur.as_ref().is_some_and(|o| !o.has_key(hash, key)) {
            cur = cur.as_mut().expect("checked Some").next_mut();
        }
        let Some(obj) = cur.as_mut().filter(|o| !o.is_dead()) else {
            return Ok(None);
        };
        let before = obj.heap_bytes();
        let r = f(obj)?;
        let after = obj.heap_bytes();
        self.bytes = self.bytes + after - before;
        Ok(Some(r))
    }

    /// Splits one bucket if the load asks for it.
    pub fn grow_if_needed(&mut self) {
        if self.count > self.bucket_count() * GROW_LOAD {
            self.split_one();
        }
    }

    /// Merges one bucket back if the load asks for it.
    pub fn shrink_if_needed(&mut self) {
        for _ in 0..MERGES_PER_DELETE {
            if self.bucket_count() <= MIN || self.count * SHRINK_DIVISOR >= self.bucket_count() {
                break;
            }
            self.merge_one();
        }
    }

    /// Merges buckets until the load is back above the shrink limit (after a walk that
    /// removed many objects at once).
    /// Merges buckets back toward the load, at most `max` of them (a whole-shard shrink
    /// after a walk emptied it is thousands of merges: several ms on one scheduler). What
    /// is left is merged by later deletes ([`Shard::shrink_if_needed`]) and walks.
    pub fn shrink_to_load(&mut self, max: usize) {
        let mut merges = 0;
        while merges < max
            && self.bucket_count() > MIN
            && self.count * SHRINK_DIVISOR < self.bucket_count()
        {
            self.merge_one();
            merges += 1;
        }
    }

    fn split_one(&mut self) {
        let base = MIN << self.level;
        let from = self.split;
        let to = base + from;
        let (seg, _) = locate(to);
        if seg == self.segments.len() + 1 {
            self.segments.push(new_segment(seg));
        }
        let mask = (base << 1) - 1;
        let mut stay = Vec::new();
        let mut go = Vec::new();
        let mut cur = self.bucket_mut(from).take();
        while let Some(mut o) = cur {
            cur = o.next_mut().take();
            if (self.bucket_hash_of(&o) as usize) & mask == to {
                go.push(o);
            } else {
                stay.push(o);
            }
        }
        *self.bucket_mut(from) = relink(stay);
        *self.bucket_mut(to) = relink(go);
        self.split += 1;
        if self.split == base {
            self.level += 1;
            self.split = 0;
        }
    }

    fn merge_one(&mut self) {
        if self.split == 0 {
            self.level -= 1;
            self.split = MIN << self.level;
        }
        self.split -= 1;
        let into = self.split;
        let from = (MIN << self.level) + into;
        let moved = self.bucket_mut(from).take();
        // Append `from`'s chain to `into`'s (keys never span the two).
        let mut tail = self.bucket_mut(into);
        while tail.is_some() {
            tail = tail.as_mut().expect("checked Some").next_mut();
        }
        *tail = moved;
        let (seg, off) = locate(from);
        if off == 0 && seg == self.segments.len() && seg > 0 {
            self.segments.pop();
        }
    }

    /// The bucket hash of a stored object. Shards receive hashes with the shard bits
    /// already shifted out; stored objects carry the full hash, so the shift is redone.
    #[inline]
    fn bucket_hash_of(&self, obj: &Obj) -> u64 {
        obj.hash() >> self.shard_bits
    }

    /// Structural checks for tests: every object in the bucket its hash addresses, counts
    /// right, a key's objects contiguous, no duplicate keys in `Unique` mode.
    pub fn check_invariants(&self, mode: KeyMode, in_shard: impl Fn(u64) -> bool) {
        let mut n = 0;
        let mut dead = 0;
        for i in 0..self.bucket_count() {
            let mut cur = self.bucket(i);
            let mut keys: Vec<&[u8]> = Vec::new();
            let mut last_dead = false;
            let mut last_pos = 0;
            while let Some(node) = cur {
                assert!(self.pos_of(node) >= last_pos, "chain not in walk order");
                last_pos = self.pos_of(node);
                assert!(in_shard(node.hash()));
                assert_eq!(
                    self.address(self.bucket_hash_of(node)),
                    i,
                    "object in wrong bucket"
                );
                let k = node.key();
                if keys.last() != Some(&k) {
                    assert!(!keys.contains(&k), "a key's objects are not contiguous");
                    keys.push(k);
                } else {
                    assert_ne!(mode, KeyMode::Unique, "duplicate key in a set");
                    assert!(!node.is_dead() && !last_dead, "a tombstone shares its key");
                }
                last_dead = node.is_dead();
                if node.is_dead() {
                    dead += 1;
                } else {
                    n += 1;
                }
                cur = node.next();
            }
        }
        assert_eq!(n, self.count);
        assert_eq!(dead, self.dead);
        assert!(self.bucket_count() >= MIN);
    }
}

/// The walk position of a bucket hash: its bits reversed (see the module notes).
#[inline]
pub fn walk_pos(bh: u64) -> u64 {
    bh.reverse_bits()
}

#[allow(clippy::vec_box)] // the nodes are relinked, not moved out of their boxes
/// Calls `f` on the live objects of a chain for which `keep` holds (a key's objects all
/// or none), runs in chain order, each run in insertion order. A run is stored newest
/// first (an insert links before the run in O(1), as ETS does; see [`Shard::insert`]),
/// so a run of several objects is gathered and visited backwards. Returns how many.
fn in_insertion_order<'a>(
    mut cur: &'a Chain,
    keep: impl Fn(&Obj) -> bool,
    mut f: impl FnMut(&'a Obj),
) -> usize {
    let mut n = 0;
    let mut run: Vec<&'a Obj> = Vec::new();
    while let Some(node) = cur {
        let next = node.next();
        if !node.is_dead() && keep(node) {
            n += 1;
            let run_goes_on = next
                .as_ref()
                .is_some_and(|m| m.has_key(node.hash(), node.key()));
            if run_goes_on || !run.is_empty() {
                run.push(node);
                if !run_goes_on {
                    run.drain(..).rev().for_each(&mut f);
                }
            } else {
                f(node);
            }
        }
        cur = next;
    }
    n
}

/// Whether the run that starts at `first` holds an object whose body is `body`.
fn run_holds(first: &Obj, body: &[u8]) -> bool {
    let (hash, key) = (first.hash(), first.key());
    let mut cur = Some(first);
    while let Some(o) = cur.filter(|o| o.has_key(hash, key)) {
        if crate::term::same(o.body(), body) {
            return true;
        }
        cur = o.next().as_ref();
    }
    false
}

/// Whether `n` (an object or tombstone of the key looked for) marks the key's place for
/// `next/2` under fixation period `fixed`: a stored object always does; a tombstone only
/// while the fixation it was made in lasts.
#[inline]
fn keeps_place(n: &Obj, fixed: Option<u32>) -> bool {
    !n.is_dead() || fixed == Some(n.dead_period())
}

fn relink(objs: Vec<Obj>) -> Chain {
    let mut head: Chain = None;
    for mut o in objs.into_iter().rev() {
        *o.next_mut() = head;
        head = Some(o);
    }
    head
}

/// The low `bits` bits of `j`, reversed.
#[inline]
fn rev_bits(j: u64, bits: u32) -> usize {
    match bits {
        0 => 0,
        _ => (j.reverse_bits() >> (u64::BITS - bits)) as usize,
    }
}

/// A shard's buckets in walk-position order ([`Shard::order`]). Positions fall in
/// `2^bits` groups (their top `bits` bits); group `j` is bucket `rev(j)`, or, once that
/// bucket is split, bucket `rev(j)` for its lower half and `rev(j) + base` for its upper.
#[derive(Clone)]
pub struct Order {
    bits: u32,
    base: usize,
    split: usize,
    j: u64,
    upper: bool,
    done: bool,
    backwards: bool,
}

impl Order {
    /// The next bucket, with its first walk position (backwards: its last), or `None`
    /// past the shard's end (backwards: its start).
    #[inline]
    pub fn next(&mut self) -> Option<(usize, u64)> {
        if self.done {
            return None;
        }
        let i = rev_bits(self.j, self.bits);
        // The positions of group `j`: `group | 0 ..= group | mask`.
        let shift = u64::BITS - self.bits;
        let group = self.j.checked_shl(shift).unwrap_or(0);
        let mask = u64::MAX.checked_shr(self.bits).unwrap_or(0);
        let split = i < self.split;
        let (bucket, lo, hi) = match (split, self.upper) {
            (false, _) => (i, group, group | mask),
            (true, false) => (i, group, group | (mask >> 1)),
            (true, true) => (i + self.base, group | ((mask >> 1) + 1), group | mask),
        };
        if !self.backwards {
            if split && !self.upper {
                self.upper = true;
            } else {
                self.upper = false;
                self.j += 1;
                self.done = self.j >> self.bits != 0 || self.bits == 0;
            }
            Some((bucket, lo))
        } else {
            if split && self.upper {
                self.upper = false;
            } else if self.j == 0 {
                self.done = true;
            } else {
                self.j -= 1;
                self.upper = rev_bits(self.j, self.bits) < self.split;
            }
            Some((bucket, hi))
        }
    }
}
