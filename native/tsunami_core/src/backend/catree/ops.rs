//! The operations of [`CaTree`], mirroring [`HashTable`](crate::backend::hash::HashTable)'s
//! (keys are encodings; no hash is needed). Callbacks run under the locks, so results are
//! built straight from stored bytes.

use super::avl::Avl;
use super::base::{Adapt, Base};
use super::{CaTree, Routes};
use crate::backend::Garbage;
use crate::error::{Cause, Result};
use crate::term::Obj;
use std::ops::Bound;

impl CaTree {
    /// Runs `f` on the write-locked base node of `key`, then adapts it if its statistic
    /// asks for that (after every lock is released).
    fn with_leaf<R>(&self, key: &[u8], f: impl FnOnce(&mut super::Leaf) -> R) -> R {
        let (r, wants) = {
            let routes = self.routes.read();
            let mut leaf = routes.bases[routes.route(key)].write();
            let r = f(&mut leaf);
            (r, leaf.wants())
        };
        if wants != Adapt::Keep {
            self.adapt(key);
        }
        r
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
        let routes = self.routes.read();
        let idx: Vec<usize> = objs.iter().map(|o| routes.route(o.key())).collect();
        let mut wanted = idx.clone();
        wanted.sort_unstable();
        wanted.dedup();
        let mut guards: Vec<_> = wanted
            .iter()
            .map(|&i| routes.bases[i].write_quiet())
            .collect();
        let slot = |i: usize| wanted.binary_search(&i).expect("locked above");
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
        (true, garbage)
    }

    /// Calls `f` on the object whose key compares equal to `key`, if any, under the read
    /// lock (`FnMut` to mirror the hash table's bag-capable signature).
    pub fn lookup(&self, key: &[u8], mut f: impl FnMut(&Obj)) {
        let routes = self.routes.read();
        let leaf = routes.bases[routes.route(key)].read();
        if let Some(o) = leaf.avl.get(key) {
            f(o);
        }
    }

    pub fn member(&self, key: &[u8]) -> bool {
        let routes = self.routes.read();
        let leaf = routes.bases[routes.route(key)].read();
        leaf.avl.get(key).is_some()
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
            let mut apply = |obj: &mut Obj| -> Result<R> { (f.take().expect("applied once"))(obj) };
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
        std::mem::replace(&mut *self.routes.write(), Routes::new())
    }

    /// Number of objects. Not a snapshot across base nodes under concurrent writes.
    pub fn len(&self) -> usize {
        let routes = self.routes.read();
        routes.bases.iter().map(|b| b.read().avl.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Heap bytes held by objects, AVL nodes, base nodes and separators.
    pub fn memory_bytes(&self) -> usize {
        let routes = self.routes.read();
        let seps: usize = routes.seps.iter().map(|s| s.len() + 16).sum();
        let bases = routes.bases.len() * std::mem::size_of::<Base>();
        seps + bases
            + routes
                .bases
                .iter()
                .map(|b| b.read().avl.memory_bytes())
                .sum::<usize>()
    }

    /// The object with the smallest key, given to `f`.
    pub fn first<R>(&self, f: impl FnOnce(&Obj) -> R) -> Option<R> {
        let routes = self.routes.read();
        first_in(routes.bases.iter(), Avl::first, f)
    }

    /// The object with the largest key, given to `f`.
    pub fn last<R>(&self, f: impl FnOnce(&Obj) -> R) -> Option<R> {
        let routes = self.routes.read();
        first_in(routes.bases.iter().rev(), Avl::last, f)
    }

    /// The object with the smallest key above `key` (which need not be present).
    pub fn next<R>(&self, key: &[u8], f: impl FnOnce(&Obj) -> R) -> Option<R> {
        let routes = self.routes.read();
        let i = routes.route(key);
        {
            let leaf = routes.bases[i].read();
            if let Some(o) = leaf.avl.succ(key) {
                return Some(f(o));
            }
        }
        // Every key of a later base node is above `key`.
        first_in(routes.bases[i + 1..].iter(), Avl::first, f)
    }

    /// The object with the largest key below `key` (which need not be present).
    pub fn prev<R>(&self, key: &[u8], f: impl FnOnce(&Obj) -> R) -> Option<R> {
        let routes = self.routes.read();
        let i = routes.route(key);
        {
            let leaf = routes.bases[i].read();
            if let Some(o) = leaf.avl.pred(key) {
                return Some(f(o));
            }
        }
        first_in(routes.bases[..i].iter().rev(), Avl::last, f)
    }

    /// Visits objects in key order from `start` (`Unbounded`, or after/at a key), at most
    /// `max` of them (at least 1). Returns the last key visited, to resume after with
    /// `Bound::Excluded`, or `None` when the table ended.
    pub fn visit(
        &self,
        start: Bound<&[u8]>,
        max: usize,
        mut f: impl FnMut(&Obj),
    ) -> Option<Vec<u8>> {
        let routes = self.routes.read();
        let mut i = match start {
            Bound::Unbounded => 0,
            Bound::Included(k) | Bound::Excluded(k) => routes.route(k),
        };
        let (mut bound, mut seen, mut last) = (start, 0, None);
        while i < routes.bases.len() {
            let leaf = routes.bases[i].read();
            let more = leaf.avl.walk(bound, |o| {
                f(o);
                seen += 1;
                if seen >= max.max(1) {
                    last = Some(o.key().to_vec());
                }
                last.is_none()
            });
            if !more {
                return last;
            }
            bound = Bound::Unbounded; // later base nodes hold only greater keys
            i += 1;
        }
        None
    }

    /// [`CaTree::visit`] in reverse key order, from `start` down.
    pub fn visit_rev(
        &self,
        start: Bound<&[u8]>,
        max: usize,
        mut f: impl FnMut(&Obj),
    ) -> Option<Vec<u8>> {
        let routes = self.routes.read();
        let mut i = match start {
            Bound::Unbounded => routes.bases.len(),
            Bound::Included(k) | Bound::Excluded(k) => routes.route(k) + 1,
        };
        let (mut bound, mut seen, mut last) = (start, 0, None);
        while i > 0 {
            i -= 1;
            let leaf = routes.bases[i].read();
            let more = leaf.avl.walk_rev(bound, |o| {
                f(o);
                seen += 1;
                if seen >= max.max(1) {
                    last = Some(o.key().to_vec());
                }
                last.is_none()
            });
            if !more {
                return last;
            }
            bound = Bound::Unbounded;
        }
        None
    }
}

/// `f` applied to what `pick` finds in the first base node (in iteration order) where it
/// finds something; one base-node read lock at a time.
fn first_in<'a, R>(
    bases: impl Iterator<Item = &'a Base>,
    pick: fn(&Avl) -> Option<&Obj>,
    f: impl FnOnce(&Obj) -> R,
) -> Option<R> {
    for b in bases {
        let leaf = b.read();
        if let Some(o) = pick(&leaf.avl) {
            return Some(f(o));
        }
    }
    None
}
