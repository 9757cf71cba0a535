//! The sequential AVL tree inside one CA-tree base node (the caller holds its lock).
//!
//! Keyed by [`Obj::key`] in Erlang term order with `==` semantics ([`compare`]), one object
//! per key. Every node keeps its subtree's height, object count and heap bytes, so a split
//! at the root ([`Avl::split`]) and a join ([`Avl::join`], Adelson-Velsky–Landis join by
//! height) both run in O(log n) and hand each side its exact size.
//!
//! Recursion depth is the tree height, at most 1.44·log2(n): about 45 levels at 10^9 keys.

use crate::term::order::{compare, small_int};
use crate::term::Obj;
use std::cmp::Ordering;
use std::ops::Bound;

type Link = Option<Box<Node>>;

struct Node {
    obj: Obj,
    /// The key when it is a small integer: compared without reaching into `obj` (one
    /// cache miss less per level on the commonest keys).
    small: Option<i64>,
    left: Link,
    right: Link,
    height: u8,
    /// Objects in this subtree.
    count: usize,
    /// Heap bytes of the objects in this subtree.
    bytes: usize,
}

/// A sequential AVL tree of objects.
#[derive(Default)]
pub struct Avl {
    root: Link,
}

/// Heap bytes a node costs on top of its object.
pub const NODE_BYTES: usize = std::mem::size_of::<Node>();

#[inline]
fn height(l: &Link) -> u8 {
    l.as_ref().map_or(0, |n| n.height)
}

#[inline]
fn count(l: &Link) -> usize {
    l.as_ref().map_or(0, |n| n.count)
}

#[inline]
fn bytes(l: &Link) -> usize {
    l.as_ref().map_or(0, |n| n.bytes)
}

impl Node {
    fn leaf(obj: Obj) -> Box<Node> {
        let b = obj.heap_bytes();
        Box::new(Node {
            small: small_int(obj.key()),
            obj,
            left: None,
            right: None,
            height: 1,
            count: 1,
            bytes: b,
        })
    }

    /// Recomputes the aggregates from the children.
    #[inline]
    fn update(&mut self) {
        self.height = 1 + height(&self.left).max(height(&self.right));
        self.count = 1 + count(&self.left) + count(&self.right);
        self.bytes = self.obj.heap_bytes() + bytes(&self.left) + bytes(&self.right);
    }
}

fn rotate_right(mut n: Box<Node>) -> Box<Node> {
    let mut l = n.left.take().expect("rotate_right needs a left child");
    n.left = l.right.take();
    n.update();
    l.right = Some(n);
    l.update();
    l
}

fn rotate_left(mut n: Box<Node>) -> Box<Node> {
    let mut r = n.right.take().expect("rotate_left needs a right child");
    n.right = r.left.take();
    n.update();
    r.left = Some(n);
    r.update();
    r
}

/// Restores the AVL balance of `n` when its children's heights differ by at most 2.
fn balance(mut n: Box<Node>) -> Box<Node> {
    n.update();
    let (hl, hr) = (height(&n.left), height(&n.right));
    if hl > hr + 1 {
        let l = n.left.take().expect("taller side exists");
        n.left = Some(if height(&l.left) < height(&l.right) {
            rotate_left(l)
        } else {
            l
        });
        rotate_right(n)
    } else if hr > hl + 1 {
        let r = n.right.take().expect("taller side exists");
        n.right = Some(if height(&r.right) < height(&r.left) {
            rotate_right(r)
        } else {
            r
        });
        rotate_left(n)
    } else {
        n
    }
}

/// `key` (with its cached small-integer value) against a node's key.
#[inline]
fn cmp_node(key: &[u8], small: Option<i64>, n: &Node) -> Ordering {
    match (small, n.small) {
        (Some(a), Some(b)) => a.cmp(&b),
        _ => compare(key, n.obj.key()),
    }
}

fn insert(link: Link, obj: Obj, old: &mut Option<Obj>) -> Box<Node> {
    let Some(mut n) = link else {
        return Node::leaf(obj);
    };
    match cmp_node(obj.key(), small_int(obj.key()), &n) {
        Ordering::Less => n.left = Some(insert(n.left.take(), obj, old)),
        Ordering::Greater => n.right = Some(insert(n.right.take(), obj, old)),
        Ordering::Equal => {
            // `==` keys: the new object (and so its key) replaces the stored one.
            n.small = small_int(obj.key());
            *old = Some(std::mem::replace(&mut n.obj, obj));
        }
    }
    balance(n)
}

/// Detaches the smallest node: (it, with no children; the rest of the subtree).
fn pop_min(mut n: Box<Node>) -> (Box<Node>, Link) {
    match n.left.take() {
        None => {
            let rest = n.right.take();
            n.update();
            (n, rest)
        }
        Some(l) => {
            let (min, rest) = pop_min(l);
            n.left = rest;
            (min, Some(balance(n)))
        }
    }
}

fn remove_if(
    link: Link,
    key: &[u8],
    pred: &mut dyn FnMut(&Obj) -> bool,
    out: &mut Option<Obj>,
) -> Link {
    let mut n = link?;
    match cmp_node(key, small_int(key), &n) {
        Ordering::Less => n.left = remove_if(n.left.take(), key, pred, out),
        Ordering::Greater => n.right = remove_if(n.right.take(), key, pred, out),
        Ordering::Equal if !pred(&n.obj) => return Some(n),
        Ordering::Equal => {
            let Node {
                obj, left, right, ..
            } = *n;
            *out = Some(obj);
            return match (left, right) {
                (None, r) => r,
                (l, None) => l,
                (l, Some(r)) => {
                    let (mut m, rest) = pop_min(r);
                    m.left = l;
                    m.right = rest;
                    Some(balance(m))
                }
            };
        }
    }
    Some(balance(n))
}

fn update_with<R>(link: &mut Link, key: &[u8], f: impl FnOnce(&mut Obj) -> R) -> Option<R> {
    let n = link.as_mut()?;
    let r = match cmp_node(key, small_int(key), n) {
        Ordering::Less => update_with(&mut n.left, key, f),
        Ordering::Greater => update_with(&mut n.right, key, f),
        Ordering::Equal => Some(f(&mut n.obj)),
    };
    n.update(); // the object's size may have changed
    r
}

/// Joins `l < p < r` (every key of `l` below `p`'s, every key of `r` above).
fn join_with(l: Link, mut p: Box<Node>, r: Link) -> Box<Node> {
    let (hl, hr) = (height(&l), height(&r));
    if hl > hr + 1 {
        let mut ln = l.expect("taller side exists");
        ln.right = Some(join_with(ln.right.take(), p, r));
        balance(ln)
    } else if hr > hl + 1 {
        let mut rn = r.expect("taller side exists");
        rn.left = Some(join_with(l, p, rn.left.take()));
        balance(rn)
    } else {
        p.left = l;
        p.right = r;
        p.update();
        p
    }
}

fn in_lower(key: &[u8], lower: Bound<&[u8]>) -> bool {
    match lower {
        Bound::Unbounded => true,
        Bound::Included(k) => compare(key, k) != Ordering::Less,
        Bound::Excluded(k) => compare(key, k) == Ordering::Greater,
    }
}

fn in_upper(key: &[u8], upper: Bound<&[u8]>) -> bool {
    match upper {
        Bound::Unbounded => true,
        Bound::Included(k) => compare(key, k) != Ordering::Greater,
        Bound::Excluded(k) => compare(key, k) == Ordering::Less,
    }
}

/// In order from `lower` on; stops (returning false) when `f` returns false.
// Generic over `f` (not `dyn`): a walk calls it once per object, and inlining it into the
// walk is most of what a match-spec scan does per object besides the cache misses.
fn walk<F: FnMut(&Obj) -> bool>(link: &Link, lower: Bound<&[u8]>, f: &mut F) -> bool {
    let Some(n) = link else { return true };
    // This object is visited after the left subtree, the children's objects soon before
    // or after it: start loading all three now so that their cache misses overlap.
    n.obj.prefetch();
    if let Some(l) = &n.left {
        l.obj.prefetch();
    }
    if let Some(r) = &n.right {
        crate::term::prefetch::<Node>(&**r);
    }
    if matches!(lower, Bound::Unbounded) || in_lower(n.obj.key(), lower) {
        if !walk(&n.left, lower, f) || !f(&n.obj) {
            return false;
        }
        walk(&n.right, Bound::Unbounded, f)
    } else {
        walk(&n.right, lower, f)
    }
}

/// In order from the first key that `below` rejects (a predicate true for a prefix of
/// the keys in order); stops (returning false) when `f` returns false.
fn walk_seek<F: FnMut(&Obj) -> bool>(
    link: &Link,
    below: &dyn Fn(&[u8]) -> bool,
    f: &mut F,
) -> bool {
    let Some(n) = link else { return true };
    // The descent is one dependent miss after another (node, then its object's key).
    // Run ahead of it: while this key is read, load both children's objects (their nodes
    // were asked for one level up) and the grandchildren's nodes.
    for c in [&n.left, &n.right].into_iter().flatten() {
        c.obj.prefetch();
        for g in [&c.left, &c.right].into_iter().flatten() {
            crate::term::prefetch::<Node>(&**g);
        }
    }
    if below(n.obj.key()) {
        walk_seek(&n.right, below, f)
    } else {
        if !walk_seek(&n.left, below, f) || !f(&n.obj) {
            return false;
        }
        walk(&n.right, Bound::Unbounded, f)
    }
}

/// In reverse order from `upper` down; stops when `f` returns false.
fn walk_rev<F: FnMut(&Obj) -> bool>(link: &Link, upper: Bound<&[u8]>, f: &mut F) -> bool {
    let Some(n) = link else { return true };
    // As in `walk`, mirrored.
    n.obj.prefetch();
    if let Some(r) = &n.right {
        r.obj.prefetch();
    }
    if let Some(l) = &n.left {
        crate::term::prefetch::<Node>(&**l);
    }
    if matches!(upper, Bound::Unbounded) || in_upper(n.obj.key(), upper) {
        if !walk_rev(&n.right, upper, f) || !f(&n.obj) {
            return false;
        }
        walk_rev(&n.left, Bound::Unbounded, f)
    } else {
        walk_rev(&n.left, upper, f)
    }
}

impl Avl {
    pub fn new() -> Avl {
        Avl { root: None }
    }

    pub fn len(&self) -> usize {
        count(&self.root)
    }

    pub fn is_empty(&self) -> bool {
        self.root.is_none()
    }

    /// Heap bytes of the objects and the nodes.
    pub fn memory_bytes(&self) -> usize {
        bytes(&self.root) + self.len() * NODE_BYTES
    }

    pub fn get(&self, key: &[u8]) -> Option<&Obj> {
        let ks = small_int(key);
        let mut cur = &self.root;
        while let Some(n) = cur {
            cur = match cmp_node(key, ks, n) {
                Ordering::Less => &n.left,
                Ordering::Greater => &n.right,
                Ordering::Equal => return Some(&n.obj),
            };
        }
        None
    }

    /// Changes the object with this key in place; `None` when there is none.
    pub fn update_with<R>(&mut self, key: &[u8], f: impl FnOnce(&mut Obj) -> R) -> Option<R> {
        update_with(&mut self.root, key, f)
    }

    /// Inserts, replacing (and returning) an object whose key compares equal.
    pub fn insert(&mut self, obj: Obj) -> Option<Obj> {
        let mut old = None;
        self.root = Some(insert(self.root.take(), obj, &mut old));
        old
    }

    /// Removes the object with this key if `pred` accepts it.
    pub fn remove_if(&mut self, key: &[u8], mut pred: impl FnMut(&Obj) -> bool) -> Option<Obj> {
        let mut out = None;
        self.root = remove_if(self.root.take(), key, &mut pred, &mut out);
        out
    }

    pub fn first(&self) -> Option<&Obj> {
        let mut n = self.root.as_ref()?;
        while let Some(l) = &n.left {
            n = l;
        }
        Some(&n.obj)
    }

    pub fn last(&self) -> Option<&Obj> {
        let mut n = self.root.as_ref()?;
        while let Some(r) = &n.right {
            n = r;
        }
        Some(&n.obj)
    }

    /// The object with the smallest key above `key` (present or not).
    pub fn succ(&self, key: &[u8]) -> Option<&Obj> {
        let ks = small_int(key);
        let (mut cur, mut best) = (&self.root, None);
        while let Some(n) = cur {
            if cmp_node(key, ks, n) == Ordering::Less {
                best = Some(&n.obj);
                cur = &n.left;
            } else {
                cur = &n.right;
            }
        }
        best
    }

    /// The object with the largest key below `key` (present or not).
    pub fn pred(&self, key: &[u8]) -> Option<&Obj> {
        let ks = small_int(key);
        let (mut cur, mut best) = (&self.root, None);
        while let Some(n) = cur {
            if cmp_node(key, ks, n) == Ordering::Greater {
                best = Some(&n.obj);
                cur = &n.right;
            } else {
                cur = &n.left;
            }
        }
        best
    }

    /// How many keys lie before `lower` (all keys below it, and the bound's own key when
    /// it is excluded): O(log n) with the subtree counts.
    pub fn rank_below(&self, lower: Bound<&[u8]>) -> usize {
        let (key, strict) = match lower {
            Bound::Unbounded => return 0,
            Bound::Included(k) => (k, true),
            Bound::Excluded(k) => (k, false),
        };
        let ks = small_int(key);
        let (mut cur, mut rank) = (&self.root, 0);
        while let Some(n) = cur {
            // Is the node's key before the bound (below it; or equal to an excluded one)?
            let before = match cmp_node(key, ks, n) {
                Ordering::Greater => true,
                Ordering::Equal => !strict,
                Ordering::Less => false,
            };
            if before {
                rank += count(&n.left) + 1;
                cur = &n.right;
            } else {
                cur = &n.left;
            }
        }
        rank
    }

    /// The object at position `i` (0-based) in key order: O(log n).
    pub fn nth(&self, mut i: usize) -> Option<&Obj> {
        let mut cur = &self.root;
        while let Some(n) = cur {
            let left = count(&n.left);
            match i.cmp(&left) {
                Ordering::Less => cur = &n.left,
                Ordering::Equal => return Some(&n.obj),
                Ordering::Greater => {
                    i -= left + 1;
                    cur = &n.right;
                }
            }
        }
        None
    }

    /// Calls `f` in key order on the objects within `lower` until it returns false;
    /// returns false if it was stopped.
    pub fn walk(&self, lower: Bound<&[u8]>, mut f: impl FnMut(&Obj) -> bool) -> bool {
        walk(&self.root, lower, &mut f)
    }

    /// Calls `f` in key order from the first key `below` rejects (`below` must hold for
    /// a prefix of the keys in order) until `f` returns false; false if it was stopped.
    pub fn walk_seek(
        &self,
        below: &dyn Fn(&[u8]) -> bool,
        mut f: impl FnMut(&Obj) -> bool,
    ) -> bool {
        walk_seek(&self.root, below, &mut f)
    }

    /// Calls `f` in reverse key order on the objects within `upper` until it returns false.
    pub fn walk_rev(&self, upper: Bound<&[u8]>, mut f: impl FnMut(&Obj) -> bool) -> bool {
        walk_rev(&self.root, upper, &mut f)
    }

    /// Splits at the root into two non-empty trees, every key of the first below every
    /// key of the second. Needs at least two objects; O(log n).
    pub fn split(self) -> (Avl, Avl) {
        let root = *self.root.expect("split needs a non-empty tree");
        let Node {
            obj, left, right, ..
        } = root;
        let (l, r) = if left.is_none() {
            (Some(Node::leaf(obj)), right)
        } else {
            let mut old = None;
            (left, Some(insert(right, obj, &mut old)))
        };
        debug_assert!(l.is_some() && r.is_some(), "split of a single object");
        (Avl { root: l }, Avl { root: r })
    }

    /// Joins two trees, every key of `l` below every key of `r`; O(log n).
    pub fn join(l: Avl, r: Avl) -> Avl {
        let Some(rr) = r.root else { return l };
        if l.root.is_none() {
            return Avl { root: Some(rr) };
        }
        let (pivot, rest) = pop_min(rr);
        Avl {
            root: Some(join_with(l.root, pivot, rest)),
        }
    }

    /// Checks balance, order and the aggregates; panics on a violation.
    pub fn check_invariants(&self) {
        /// Height, count, bytes, smallest and largest key of a subtree.
        type Summary<'a> = (u8, usize, usize, &'a [u8], &'a [u8]);
        fn check(l: &Link) -> Option<Summary<'_>> {
            let n = l.as_ref()?;
            let (mut lo, mut hi) = (n.obj.key(), n.obj.key());
            let (mut h, mut c, mut b) = ([0u8; 2], 1, n.obj.heap_bytes());
            for (side, child) in [&n.left, &n.right].into_iter().enumerate() {
                if let Some((ch, cc, cb, clo, chi)) = check(child) {
                    if side == 0 {
                        assert_eq!(compare(chi, n.obj.key()), Ordering::Less, "left key order");
                        lo = clo;
                    } else {
                        assert_eq!(
                            compare(clo, n.obj.key()),
                            Ordering::Greater,
                            "right key order"
                        );
                        hi = chi;
                    }
                    h[side] = ch;
                    c += cc;
                    b += cb;
                }
            }
            assert!(h[0].abs_diff(h[1]) <= 1, "AVL balance");
            assert_eq!(n.height, 1 + h[0].max(h[1]), "height");
            assert_eq!(n.count, c, "count");
            assert_eq!(n.bytes, b, "bytes");
            Some((n.height, c, b, lo, hi))
        }
        check(&self.root);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::term::int::raw_from_small;
    use crate::term::ObjBuilder;

    fn obj(k: i64, v: &[u8]) -> Obj {
        let mut w = ObjBuilder::writer(32);
        w.tuple(2);
        w.imm(raw_from_small(k));
        w.binary(v).unwrap();
        ObjBuilder::finish(&w, 1, None).unwrap()
    }

    fn key(k: i64) -> Vec<u8> {
        obj(k, b"").key().to_vec()
    }

    fn keys(t: &Avl) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        t.walk(Bound::Unbounded, |o| {
            out.push(o.key().to_vec());
            true
        });
        out
    }

    #[test]
    fn insert_remove_keep_balance_after_every_op() {
        let mut t = Avl::new();
        let mut x: u64 = 99;
        let mut model = std::collections::BTreeSet::new();
        for _ in 0..4000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let k = (x % 500) as i64;
            if x.is_multiple_of(3) {
                assert_eq!(t.remove_if(&key(k), |_| true).is_some(), model.remove(&k));
            } else {
                assert_eq!(t.insert(obj(k, b"v")).is_some(), !model.insert(k));
            }
            t.check_invariants();
            assert_eq!(t.len(), model.len());
        }
        let want: Vec<Vec<u8>> = model.iter().map(|&k| key(k)).collect();
        assert_eq!(keys(&t), want);
    }

    #[test]
    fn neighbours_and_walks() {
        let mut t = Avl::new();
        for k in (0..100).step_by(10) {
            t.insert(obj(k, b""));
        }
        assert_eq!(t.succ(&key(15)).unwrap().key(), key(20));
        assert_eq!(t.succ(&key(20)).unwrap().key(), key(30));
        assert!(t.succ(&key(90)).is_none());
        assert_eq!(t.pred(&key(15)).unwrap().key(), key(10));
        assert!(t.pred(&key(0)).is_none());
        assert_eq!(t.first().unwrap().key(), key(0));
        assert_eq!(t.last().unwrap().key(), key(90));
        let mut seen = Vec::new();
        t.walk(Bound::Excluded(&key(30)), |o| {
            seen.push(o.key().to_vec());
            seen.len() < 3
        });
        assert_eq!(seen, vec![key(40), key(50), key(60)]);
        seen.clear();
        t.walk_rev(Bound::Included(&key(30)), |o| {
            seen.push(o.key().to_vec());
            true
        });
        assert_eq!(seen, vec![key(30), key(20), key(10), key(0)]);
    }

    #[test]
    fn rank_and_nth_follow_key_order() {
        let mut t = Avl::new();
        for k in (0..100).step_by(10) {
            t.insert(obj(k, b""));
        }
        for i in 0..10 {
            assert_eq!(t.nth(i).unwrap().key(), key(10 * i as i64));
        }
        assert!(t.nth(10).is_none());
        assert_eq!(t.rank_below(Bound::Unbounded), 0);
        assert_eq!(t.rank_below(Bound::Included(&key(30))), 3);
        assert_eq!(t.rank_below(Bound::Excluded(&key(30))), 4);
        assert_eq!(t.rank_below(Bound::Included(&key(35))), 4);
        assert_eq!(t.rank_below(Bound::Excluded(&key(35))), 4);
        assert_eq!(t.rank_below(Bound::Excluded(&key(90))), 10);
        assert_eq!(t.rank_below(Bound::Included(&key(-1))), 0);
    }

    #[test]
    fn split_and_join_are_exact_and_balanced() {
        for n in 2..200 {
            let mut t = Avl::new();
            for k in 0..n {
                t.insert(obj(k, b"x"));
            }
            let bytes = t.memory_bytes();
            let (l, r) = t.split();
            l.check_invariants();
            r.check_invariants();
            assert!(!l.is_empty() && !r.is_empty());
            assert_eq!(l.len() + r.len(), n as usize);
            assert_eq!(
                compare(l.last().unwrap().key(), r.first().unwrap().key()),
                Ordering::Less
            );
            let j = Avl::join(l, r);
            j.check_invariants();
            assert_eq!(j.len(), n as usize);
            assert_eq!(j.memory_bytes(), bytes);
            assert_eq!(keys(&j), (0..n).map(key).collect::<Vec<_>>());
        }
        // Joins of very different heights.
        let mut a = Avl::new();
        a.insert(obj(-1, b""));
        let mut b = Avl::new();
        for k in 0..1000 {
            b.insert(obj(k, b""));
        }
        let j = Avl::join(a, b);
        j.check_invariants();
        assert_eq!(j.len(), 1001);
    }

    #[test]
    fn update_in_place_keeps_aggregates() {
        let mut t = Avl::new();
        for k in 0..50 {
            t.insert(obj(k, b"short"));
        }
        let r = t.update_with(&key(7), |o| {
            *o = obj(7, b"a much longer value than before");
            1
        });
        assert_eq!(r, Some(1));
        assert!(t.update_with(&key(70), |_| ()).is_none());
        t.check_invariants();
    }
}
