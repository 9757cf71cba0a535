//! Range walks for the match-spec engine: start at the first key of a range (found by a
//! predicate, not a key: a bound prefix has no smallest key to seek to), stop when `f`
//! says the walk has left the range. Same locking and guarantees as [`CaTree::visit`].

use super::CaTree;
use crate::backend::{Edit, Garbage, Halt};
use crate::sync::epoch;
use crate::term::Obj;
use std::ops::Bound;

/// Where a range walk starts.
pub enum From<'a> {
    /// The smallest key.
    Start,
    /// Just after this key (resuming a walk).
    After(&'a [u8]),
    /// The first key for which this predicate is false; it must hold for a prefix of
    /// the keys in order.
    Seek(&'a dyn Fn(&[u8]) -> bool),
}

impl CaTree {
    /// Visits objects in key order from `from`, at most `max` (at least 1), until `f`
    /// returns false. Returns the last key visited to resume after, or `None` when the
    /// table ended or `f` stopped the walk.
    pub fn visit_range(
        &self,
        from: From,
        max: usize,
        mut f: impl FnMut(&Obj) -> bool,
    ) -> Option<Vec<u8>> {
        let (mut seen, mut last, mut stopped) = (0, None, false);
        let mut visit = |o: &Obj| {
            if !f(o) {
                stopped = true;
                return false;
            }
            seen += 1;
            if seen >= max.max(1) {
                last = Some(o.key().to_vec());
            }
            last.is_none()
        };
        let (start, seek) = match from {
            From::Start => (Bound::Unbounded, None),
            From::After(k) => (Bound::Excluded(k), None),
            From::Seek(below) => (Bound::Unbounded, Some(below)),
        };
        self.each_leaf(start, seek, false, |avl, bound, seeking| {
            match (seeking, seek) {
                (true, Some(below)) => avl.walk_seek(below, &mut visit),
                _ => avl.walk(bound, &mut visit),
            }
        });
        if stopped {
            None
        } else {
            last
        }
    }
}

impl CaTree {
    /// [`CaTree::visit_range`] under each base node's *write* lock, putting what `f`
    /// returns in each object's place: `select_replace`, which replaces every object
    /// atomically with respect to other writers of its key. A base node's replacements
    /// are made before its lock is released (each finds its node by key: the key is
    /// unchanged). A replacement whose key is not exactly the old one's is refused and
    /// ends the walk ([`Halt::Refused`]); [`Edit::Stop`] ends it too ([`Halt::Stopped`]).
    /// Replaced objects are appended to `garbage`. Returns the last key visited to resume
    /// after (`None` at the end of the table or with a halt), and the halt.
    pub fn visit_range_edit(
        &self,
        from: From,
        max: usize,
        mut f: impl FnMut(&Obj) -> Edit,
        garbage: &mut Garbage,
    ) -> (Option<Vec<u8>>, Option<Halt>) {
        let guard = epoch::pin();
        let max = max.max(1);
        let (mut seen, mut last, mut halt) = (0, None, None);
        let mut pending: Vec<Obj> = Vec::new();
        let mut pos: Option<Bound<&[u8]>> = match from {
            From::Start => Some(Bound::Unbounded),
            From::After(k) => Some(Bound::Excluded(k)),
            From::Seek(_) => None,
        };
        'route: loop {
            let routes = self.routes(&guard);
            let mut i = match (pos, &from) {
                (None, From::Seek(below)) => routes.seps.partition_point(|s| below(s)),
                (Some(Bound::Included(k) | Bound::Excluded(k)), _) => routes.route(k),
                _ => 0,
            };
            let mut bound = pos;
            loop {
                // Quiet: a walk's lock says nothing about contention on single keys.
                let mut leaf = routes.base(i).write_quiet();
                if !leaf.valid {
                    continue 'route;
                }
                let mut visit = |o: &Obj| {
                    match f(o) {
                        Edit::Keep => {}
                        Edit::Stop => halt = Some(Halt::Stopped),
                        Edit::Replace(new) if !crate::term::same(o.key(), new.key()) => {
                            halt = Some(Halt::Refused(new));
                        }
                        Edit::Replace(new) => pending.push(new),
                    }
                    if halt.is_some() {
                        return false;
                    }
                    seen += 1;
                    if seen >= max {
                        last = Some(o.key().to_vec());
                    }
                    last.is_none()
                };
                let more = match (bound, &from) {
                    (None, From::Seek(below)) => leaf.avl.walk_seek(*below, &mut visit),
                    (Some(b), _) => leaf.avl.walk(b, &mut visit),
                    (None, _) => leaf.avl.walk(Bound::Unbounded, &mut visit),
                };
                for new in pending.drain(..) {
                    // The key is present (the lock was held since the walk saw it), so
                    // this replaces in place and the tree's shape does not change.
                    garbage.extend(leaf.avl.insert(new));
                }
                drop(leaf);
                if !more {
                    return match halt {
                        Some(h) => (None, Some(h)),
                        None => (last, None),
                    };
                }
                let Some(sep) = routes.seps.get(i) else {
                    return (None, None);
                };
                pos = Some(Bound::Included(&sep[..]));
                i += 1;
                bound = Some(Bound::Unbounded);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::term::int::raw_from_small;
    use crate::term::order::small_int;
    use crate::term::ObjBuilder;

    fn key(k: i64) -> Vec<u8> {
        let mut w = crate::term::Writer::default();
        w.imm(raw_from_small(k));
        w.buf
    }

    #[test]
    fn seeks_by_predicate_and_stops_across_base_nodes() {
        let t = CaTree::new();
        for k in 0..1000 {
            let mut w = ObjBuilder::writer(16);
            w.tuple(1);
            w.imm(raw_from_small(k));
            t.insert(ObjBuilder::finish(&w, 1, None).unwrap());
        }
        for k in [100, 300, 500, 505, 700] {
            t.force_adapt(&key(k), true);
        }
        assert!(t.base_node_count() > 3);
        for (lo, hi, max) in [
            (500, 510, 1000),
            (0, 1000, 7),
            (495, 800, 3),
            (999, 2000, 5),
        ] {
            let below = move |k: &[u8]| small_int(k).unwrap() < lo;
            let mut seen = Vec::new();
            let mut resume = t.visit_range(From::Seek(&below), max, |o| {
                let k = small_int(o.key()).unwrap();
                (k < hi).then(|| seen.push(k)).is_some()
            });
            while let Some(after) = resume {
                resume = t.visit_range(From::After(&after), max, |o| {
                    let k = small_int(o.key()).unwrap();
                    (k < hi).then(|| seen.push(k)).is_some()
                });
            }
            assert_eq!(seen, (lo..hi.min(1000)).collect::<Vec<_>>());
        }
    }
}
