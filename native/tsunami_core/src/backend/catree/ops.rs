//! The operations of [`CaTree`], mirroring [`HashTable`](crate::backend::hash::HashTable)'s
//! (keys are encodings; no hash is needed). Callbacks run under the locks, so results are
//! built straight from stored bytes. Each operation pins the epoch, routes without a lock
//! and retries from the root when the base node it locked turns out to be replaced (see
//! the module notes).

use super::avl::Avl;
use super::base::Adapt;
use super::{CaTree, Leaf, Routes};
use crate::backend::{Edit, Garbage, Halt, Seek};
use crate::error::{Cause, Result};
use crate::sync::epoch;
use crate::term::Obj;
use std::ops::Bound;

impl CaTree {
    /// Runs `f` on the write-locked base node of `key`, then adapts it if its statistic
    /// asks for that (after every lock is released).
    fn with_leaf<R>(&self, key: &[u8], f: impl FnOnce(&mut Leaf) -> R) -> R {
        let (r, wants) = {
            let guard = epoch::pin();
            loop {
                let mut leaf = self.routes(&guard).base_for(key).write();
                if leaf.valid {
                    let r = f(&mut leaf);
                    if self.force_split() {
                        leaf.stat = i32::MAX;
                    }
                    break (r, leaf.wants());
                }
            }
        };
        if wants != Adapt::Keep {
            self.adapt(key);
        }
        r
    }

    /// Calls `f` on the read-locked base node of `key`.
    #[inline]
    fn with_leaf_read<R>(&self, key: &[u8], f: impl FnOnce(&Leaf) -> R) -> R {
        let guard = epoch::pin();
        loop {
            let leaf = self.routes(&guard).base_for(key).read();
            if leaf.valid {
                return f(&leaf);
            }
        }
    }

    /// Inserts one object, replacing the one whose key compares equal; returns it.
    pub fn insert(&self, obj: Obj) -> Garbage {
        let key: Box<[u8]> = obj.key().into();
        self.with_leaf(&key, |leaf| leaf.avl.insert(obj).into_iter().collect())
    }

    /// Inserts objects atomically: the base nodes of all their keys are write-locked, in
    /// ascending order, for the whole operation. With `only_new`, nothing is inserted and
    /// `false` returned (with the objects as garbage) if any key is already present.
    pub fn insert_many(&self, objs: Vec<Obj>, only_new: bool) -> (bool, Garbage) {
        self.insert_many_if(objs, only_new, &|| true)
    }

    /// [`CaTree::insert_many`], committed only if `commit()`, asked with every lock held,
    /// says so; otherwise nothing is inserted and `(false, objs)` returned.
    pub fn insert_many_if(
        &self,
        objs: Vec<Obj>,
        only_new: bool,
        commit: &dyn Fn() -> bool,
    ) -> (bool, Garbage) {
        let guard = epoch::pin();
        'route: loop {
            let routes = self.routes(&guard);
            let idx: Vec<usize> = objs.iter().map(|o| routes.route(o.key())).collect();
            let mut wanted = idx.clone();
            wanted.sort_unstable();
            wanted.dedup();
            let mut guards = Vec::with_capacity(wanted.len());
            for &i in &wanted {
                let g = routes.base(i).write_quiet();
                if !g.valid {
                    // Replaced since we routed: release everything, route again.
                    continue 'route;
                }
                guards.push(g);
            }
            // `wanted` is sorted and holds every entry of `idx`.
            let slot = |i: usize| wanted.partition_point(|&w| w < i);
            if !commit() {
                return (false, objs);
            }
            if only_new
                && objs
                    .iter()
                    .zip(&idx)
                    .any(|(o, &i)| guards[slot(i)].avl.get(o.key()).is_some())
            {
                return (false, objs);
            }
            let mut garbage = Vec::new();
            for (obj, i) in objs.into_iter().zip(idx) {
                garbage.extend(guards[slot(i)].avl.insert(obj));
            }
            return (true, garbage);
        }
    }

    /// Calls `f` on the object whose key compares equal to `key`, if any, under the read
    /// lock (`FnMut` to mirror the hash table's bag-capable signature).
    pub fn lookup(&self, key: &[u8], mut f: impl FnMut(&Obj)) {
        self.with_leaf_read(key, |leaf| {
            if let Some(o) = leaf.avl.get(key) {
                f(o);
            }
        })
    }

    pub fn member(&self, key: &[u8]) -> bool {
        self.with_leaf_read(key, |leaf| leaf.avl.get(key).is_some())
    }

    /// Removes the object with this key and returns it.
    pub fn take(&self, key: &[u8]) -> Garbage {
        self.with_leaf(key, |leaf| {
            leaf.avl.remove_if(key, |_| true).into_iter().collect()
        })
    }

    /// Removes the object with `obj`'s key only if it is byte-identical to `obj` (exact
    /// match: `{1.0, a}` does not delete a stored `{1, a}`).
    pub fn delete_object(&self, obj: &Obj) -> Garbage {
        self.with_leaf(obj.key(), |leaf| {
            leaf.avl
                .remove_if(obj.key(), |o| crate::term::same(o.body(), obj.body()))
                .into_iter()
                .collect()
        })
    }

    /// Offers the object with this key (if any) to `f` under its base node's write lock
    /// and puts what `f` returns in its place (see [`CaTree::visit_range_edit`]);
    /// replaced objects go to `garbage`.
    pub fn edit_key(
        &self,
        key: &[u8],
        f: impl FnOnce(&Obj) -> Edit,
        garbage: &mut Garbage,
    ) -> Option<Halt> {
        self.with_leaf(key, |leaf| {
            let edit = f(leaf.avl.get(key)?);
            let old_key = leaf.avl.get(key).map(|o| o.key())?;
            match edit {
                Edit::Keep => None,
                Edit::Stop => Some(Halt::Stopped),
                Edit::Replace(new) if !crate::term::same(old_key, new.key()) => {
                    Some(Halt::Refused(new))
                }
                Edit::Replace(new) => {
                    garbage.extend(leaf.avl.insert(new));
                    None
                }
            }
        })
    }

    /// Read-modify-write of the object with this key, atomically: `f` changes it in place
    /// (keeping the key; unchanged on error). Without an object, `default` (if given) is
    /// inserted after `f` ran on it. `Err` (`badkey` when there is neither object nor
    /// default) leaves the table unchanged.
    pub fn update<R, F>(&self, key: &[u8], default: Option<Obj>, f: F) -> Result<(R, Garbage)>
    where
        F: FnOnce(&mut Obj) -> Result<R>,
    {
        self.with_leaf(key, |leaf| {
            let mut f = Some(f);
            let mut apply = |obj: &mut Obj| -> Result<R> {
                match f.take() {
                    Some(f) => f(obj),
                    None => Err(Cause::BadKey.into()), // not reached: applied once
                }
            };
            if let Some(r) = leaf.avl.update_with(key, &mut apply) {
                return r.map(|r| (r, Vec::new()));
            }
            let Some(mut obj) = default else {
                return Err(Cause::BadKey.into());
            };
            let r = apply(&mut obj)?;
            let garbage = leaf.avl.insert(obj).into_iter().collect();
            Ok((r, garbage))
        })
    }

    /// Empties the table atomically and returns the old contents, for the caller to free
    /// off its path.
    pub fn clear(&self) -> impl Send + 'static {
        let mut st = self.structure.lock();
        let guard = epoch::pin();
        let routes = self.routes(&guard);
        // Ascending order, like every multi-node lock; all valid (we hold the mutex).
        let mut locked: Vec<_> = (0..routes.len())
            .map(|i| routes.base(i).write_quiet())
            .collect();
        let old: Vec<Avl> = locked.iter_mut().map(|l| l.retire()).collect();
        self.publish(&mut st, &guard, Routes::fresh(), &routes.bases);
        drop(locked);
        old
    }

    /// Number of objects. Not a snapshot across base nodes under concurrent writes.
    pub fn len(&self) -> usize {
        self.sum_bases(|l| l.avl.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Heap bytes held by objects, AVL nodes, base nodes, separators and the route array.
    pub fn memory_bytes(&self) -> usize {
        let guard = epoch::pin();
        let routes = self.routes(&guard);
        let seps: usize = routes.seps.iter().map(|s| s.len() + 16 + 16).sum();
        let layer =
            std::mem::size_of::<Routes>() + routes.len() * (std::mem::size_of::<super::Base>() + 8);
        seps + layer + self.sum_bases(|l| l.avl.memory_bytes())
    }

    /// Sum of `f` over the base nodes, one read lock at a time; starts over if a split or
    /// join moved objects between nodes meanwhile (so none is counted twice or missed).
    fn sum_bases(&self, f: impl Fn(&Leaf) -> usize) -> usize {
        let guard = epoch::pin();
        'route: loop {
            let routes = self.routes(&guard);
            let mut sum = 0;
            for i in 0..routes.len() {
                let leaf = routes.base(i).read();
                if !leaf.valid {
                    continue 'route;
                }
                sum += f(&leaf);
            }
            return sum;
        }
    }

    /// The object with the smallest key, given to `f`.
    pub fn first<R>(&self, f: impl FnOnce(&Obj) -> R) -> Option<R> {
        self.neighbour(Bound::Unbounded, false, f)
    }

    /// The object with the largest key, given to `f`.
    pub fn last<R>(&self, f: impl FnOnce(&Obj) -> R) -> Option<R> {
        self.neighbour(Bound::Unbounded, true, f)
    }

    /// The object with the smallest key above `key` (which need not be present).
    pub fn next<R>(&self, key: &[u8], f: impl FnOnce(&Obj) -> R) -> Option<R> {
        self.neighbour(Bound::Excluded(key), false, f)
    }

    /// The object with the largest key below `key` (which need not be present).
    pub fn prev<R>(&self, key: &[u8], f: impl FnOnce(&Obj) -> R) -> Option<R> {
        self.neighbour(Bound::Excluded(key), true, f)
    }

    /// `f` on the first object beyond `from` (above it, or below it with `rev`), one
    /// base-node read lock at a time.
    fn neighbour<R>(&self, from: Bound<&[u8]>, rev: bool, f: impl FnOnce(&Obj) -> R) -> Option<R> {
        let mut f = Some(f);
        let mut found = None;
        self.each_leaf(from, None, rev, |avl, bound, _| {
            match pick(avl, bound, rev) {
                Some(o) => {
                    found = f.take().map(|f| f(o));
                    false
                }
                None => true,
            }
        });
        found
    }

    /// Visits objects in key order from `start` (`Unbounded`, or after/at a key), at most
    /// `max` of them (at least 1). Returns the last key visited, to resume after with
    /// `Bound::Excluded`, or `None` when the table ended.
    pub fn visit(&self, start: Bound<&[u8]>, max: usize, f: impl FnMut(&Obj)) -> Option<Vec<u8>> {
        self.visit_dir(start, max, false, f)
    }

    /// [`CaTree::visit`] in reverse key order, from `start` down.
    pub fn visit_rev(
        &self,
        start: Bound<&[u8]>,
        max: usize,
        f: impl FnMut(&Obj),
    ) -> Option<Vec<u8>> {
        self.visit_dir(start, max, true, f)
    }

    /// `slot/2`: calls `f` on the `i`-th object in key order (0-based) and returns `None`;
    /// `Some(objects in the table)` when it has `i` objects or fewer. Whole base nodes are skipped by
    /// their size and the object found by rank inside one, so the call is
    /// O(base nodes + log n), not O(i).
    pub fn nth(&self, i: usize, f: impl FnOnce(&Obj)) -> Option<usize> {
        let (mut left, mut f) = (i, Some(f));
        self.each_leaf(Bound::Unbounded, None, false, |avl, bound, _| {
            let below = avl.rank_below(bound);
            let here = avl.len() - below;
            if left < here {
                if let (Some(o), Some(f)) = (avl.nth(below + left), f.take()) {
                    f(o);
                }
                return false;
            }
            left -= here;
            true
        });
        // `f` unused: no object at `i`, and the table holds `i - left` objects.
        f.map(|_| i - left)
    }

    fn visit_dir(
        &self,
        start: Bound<&[u8]>,
        max: usize,
        rev: bool,
        mut f: impl FnMut(&Obj),
    ) -> Option<Vec<u8>> {
        let (mut seen, mut last) = (0, None);
        let mut visit = |o: &Obj| {
            f(o);
            seen += 1;
            if seen >= max.max(1) {
                last = Some(o.key().to_vec());
            }
            last.is_none()
        };
        self.each_leaf(start, None, rev, |avl, bound, _| match rev {
            true => avl.walk_rev(bound, &mut visit),
            false => avl.walk(bound, &mut visit),
        });
        last
    }

    /// Reads the base nodes one at a time, in key order (descending with `rev`), from
    /// `start` or, with `seek`, from the node that may hold the first key for which
    /// `seek` is false (forward only). `on_leaf(avl, bound, seeking)` runs under the
    /// node's read lock with the bound to start from inside it (`seeking`: the node is the
    /// seek's first, to be searched with the predicate) and returns whether to go on to
    /// the next node. A node replaced by a split or join before it was locked sends the
    /// walk back to the route layer, from just after what `on_leaf` already saw.
    pub(super) fn each_leaf(
        &self,
        start: Bound<&[u8]>,
        seek: Option<Seek>,
        rev: bool,
        mut on_leaf: impl FnMut(&Avl, Bound<&[u8]>, bool) -> bool,
    ) {
        let guard = epoch::pin();
        // Everything before `pos` has been seen; `None` until the seek found its node.
        let mut pos = if seek.is_some() { None } else { Some(start) };
        'route: loop {
            let routes = self.routes(&guard);
            let mut i = match (pos, seek) {
                // Base node `i` holds keys from `seps[i-1]` on: the first one whose lower
                // separator is not below the range start may hold it, or the one before.
                (None, Some(below)) => routes.seps.partition_point(|s| below(s)),
                (Some(Bound::Included(k) | Bound::Excluded(k)), _) => routes.route(k),
                _ if rev => routes.len() - 1,
                _ => 0,
            };
            let mut here = pos;
            loop {
                let leaf = routes.base(i).read();
                if !leaf.valid {
                    continue 'route;
                }
                if !on_leaf(&leaf.avl, here.unwrap_or(Bound::Unbounded), here.is_none()) {
                    return;
                }
                // Go on to the neighbour, remembering the separator in case that one is
                // replaced before we lock it.
                if rev {
                    let Some(j) = i.checked_sub(1) else { return };
                    i = j;
                    pos = Some(Bound::Excluded(&routes.seps[i][..]));
                } else {
                    let Some(sep) = routes.seps.get(i) else {
                        return;
                    };
                    pos = Some(Bound::Included(&sep[..]));
                    i += 1;
                }
                here = Some(Bound::Unbounded); // the whole next node lies beyond
            }
        }
    }
}

/// The first object of `avl` beyond `bound` (a lower bound, or an upper one with `rev`).
#[inline]
fn pick<'a>(avl: &'a Avl, bound: Bound<&[u8]>, rev: bool) -> Option<&'a Obj> {
    match (bound, rev) {
        (Bound::Unbounded, false) => avl.first(),
        (Bound::Unbounded, true) => avl.last(),
        (Bound::Excluded(k), false) => avl.succ(k),
        (Bound::Excluded(k), true) => avl.pred(k),
        (Bound::Included(k), false) => avl.get(k).or_else(|| avl.succ(k)),
        (Bound::Included(k), true) => avl.get(k).or_else(|| avl.pred(k)),
    }
}
