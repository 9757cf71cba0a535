//! Contention-adapting search tree: `ordered_set`.
//!
//! ## Algorithm
//! A CA tree (Winblad & Sagonas, "Contention Adapting Search Trees", ISPDC 2015; "More
//! Scalable Ordered Set for ETS Using Adaptivity", Erlang Workshop 2015; OTP's
//! `erl_db_catree.c`) partitions the key space among *base nodes*, each a sequential AVL
//! tree ([`avl`]) behind its own lock, found through *route nodes* that hold separator
//! keys. Every base-node write updates a contention statistic ([`base`]): a write that
//! finds the lock held adds [`CATREE_FAIL_CONTRIBUTION`](config::CATREE_FAIL_CONTRIBUTION),
//! an uncontended one adds [`CATREE_SUCCESS_CONTRIBUTION`](config::CATREE_SUCCESS_CONTRIBUTION).
//! Above [`CATREE_CONTENTION_HIGH`](config::CATREE_CONTENTION_HIGH) the node *splits* at
//! its AVL root into two base nodes under a new separator; below
//! [`CATREE_CONTENTION_LOW`](config::CATREE_CONTENTION_LOW) it *joins* its right neighbour
//! (or its left one, at the right end). Both are O(log n) ([`avl::Avl::split`],
//! [`avl::Avl::join`]). An uncontended table stays one AVL tree behind one lock; a
//! contended one spreads over as many locks as the threads need.
//!
//! Keys are compared with [`order::compare`](crate::term::order::compare): Erlang term
//! order with `==` semantics, one object per key; inserting `{1.0, x}` over `{1, y}`
//! replaces the object, and the stored key becomes `1.0`. `delete_object` still needs the
//! stored tuple to be byte-identical (exact match).
//!
//! ## Routing and reclamation
//! The route layer is a sorted separator array with the base nodes between its entries:
//! the in-order sequence of the paper's route tree, searched by binary search. It sits
//! behind one reader-writer lock, the *route lock*. Every operation holds it in read mode
//! from routing to its end; a split or join holds it in write mode. That is the whole
//! reclamation story: a base node is only ever replaced or freed under the write lock,
//! when no operation can hold a reference into it, so no epochs or hazard pointers are
//! needed and loom can check all of it.
//!
//! Trade-off: every operation performs one atomic read-modify-write on the shared route
//! lock word (two, counting the release). parking_lot readers never block each other, but
//! under heavy read traffic from many cores that cache line bounces, which the paper's
//! lock-free route traversal (route nodes replaced under crossbeam-epoch, a `valid` flag
//! rechecked after locking a base node) avoids. The interface is built so that change
//! stays inside this module. Adaptations are rare (hundreds of operations apart, the
//! statistic is reset after each) and copy only the separator array.
//!
//! ## Locks and their order
//! 1. the route lock (read for operations, write for split/join/clear);
//! 2. base-node locks, several at once only in ascending key order (`insert_many`).
//!
//! Adaptation happens after an operation has released every lock: it takes the route lock
//! in write mode, re-routes by key and rechecks the statistic, so it cannot deadlock and
//! acts on the node the statistic was measured on (or skips it, if that node already
//! changed). The base-node lock under the route write lock is always free.
//!
//! ## Iteration under concurrent writes
//! `first`/`next`/`prev`/`last` work for any key, present or not, and hold the route lock
//! and one base-node lock at a time. The chunked walks ([`CaTree::visit`],
//! [`CaTree::visit_rev`]) resume after the last key they returned; a chunk reads each base
//! node atomically, so every object present throughout a whole traversal is seen exactly
//! once, in order, and no object is ever seen twice; objects inserted or deleted during it
//! may or may not be seen. No fixation is needed (the `fix` count is kept only for
//! `info/2`), as in ETS's `ordered_set`.
//!
//! `insert_many` write-locks every base node its keys route to, in ascending order, before
//! changing anything: atomic and isolated. `clear` swaps the whole route layer under the
//! write lock.

pub mod avl;
mod base;
mod ops;
pub mod range;

use crate::config;
use crate::sync::atomic::{AtomicUsize, Ordering};
use crate::sync::RwLock;
use crate::term::order::compare;
use avl::Avl;
use base::{Adapt, Base, Leaf};

/// The route layer: `bases[i]` holds the keys `k` with `seps[i-1] <= k < seps[i]`.
pub struct Routes {
    seps: Vec<Box<[u8]>>,
    bases: Vec<Base>,
}

impl Routes {
    fn new() -> Routes {
        Routes {
            seps: Vec::new(),
            bases: vec![Base::default()],
        }
    }

    /// Index of the base node that holds (or would hold) `key`.
    #[inline]
    fn route(&self, key: &[u8]) -> usize {
        self.seps
            .partition_point(|s| compare(s, key) != std::cmp::Ordering::Greater)
    }
}

/// A contention-adapting search tree of objects, one per key (`ordered_set`).
pub struct CaTree {
    routes: RwLock<Routes>,
    fixed: AtomicUsize,
}

impl Default for CaTree {
    fn default() -> Self {
        CaTree::new()
    }
}

impl CaTree {
    pub fn new() -> CaTree {
        CaTree {
            routes: RwLock::new(Routes::new()),
            fixed: AtomicUsize::new(0),
        }
    }

    /// Number of base nodes (tests, `info(T, stats)`).
    pub fn base_node_count(&self) -> usize {
        self.routes.read().bases.len()
    }

    /// Records a fixation (`safe_fixtable`); traversal needs none, see the module notes.
    pub fn fix(&self) {
        self.fixed.fetch_add(1, Ordering::AcqRel);
    }

    pub fn unfix(&self) {
        self.fixed.fetch_sub(1, Ordering::AcqRel);
    }

    pub fn is_fixed(&self) -> bool {
        self.fixed.load(Ordering::Acquire) > 0
    }

    /// Splits or joins the base node holding `key` if its statistic still asks for it.
    /// Called with no lock held.
    fn adapt(&self, key: &[u8]) {
        let mut routes = self.routes.write();
        let i = routes.route(key);
        // Free: every base-node lock holder also holds the route lock, which we own.
        let mut leaf = routes.bases[i].write_quiet();
        match leaf.wants() {
            Adapt::Keep => {}
            Adapt::Split
                if leaf.avl.len() >= config::CATREE_MIN_SPLIT_SIZE.max(2)
                    && routes.bases.len() < config::CATREE_MAX_BASE_NODES =>
            {
                let (l, r) = std::mem::take(&mut leaf.avl).split();
                let sep: Box<[u8]> = r.first().expect("split halves are non-empty").key().into();
                *leaf = Leaf::with(l);
                drop(leaf);
                routes.bases.insert(i + 1, Base::new(Leaf::with(r)));
                routes.seps.insert(i, sep);
            }
            Adapt::Join if routes.bases.len() > 1 => {
                drop(leaf);
                let lo = if i + 1 < routes.bases.len() { i } else { i - 1 };
                let hi_leaf = std::mem::take(&mut *routes.bases[lo + 1].write_quiet());
                let mut lo_leaf = routes.bases[lo].write_quiet();
                let joined = Avl::join(std::mem::take(&mut lo_leaf.avl), hi_leaf.avl);
                *lo_leaf = Leaf::with(joined);
                drop(lo_leaf);
                routes.bases.remove(lo + 1);
                routes.seps.remove(lo);
            }
            // Cannot adapt (too small, too many nodes, a lone node): start counting anew.
            _ => leaf.stat = 0,
        }
    }

    /// Forces a split (`true`) or a join of the base node holding `key`, as if its
    /// statistic had crossed a limit (tests: loom scenarios race adaptation with other
    /// operations without having to produce contention first).
    #[cfg(test)]
    pub(crate) fn force_adapt(&self, key: &[u8], split: bool) {
        {
            let routes = self.routes.read();
            let mut leaf = routes.bases[routes.route(key)].write_quiet();
            leaf.stat = if split { i32::MAX } else { i32::MIN };
        }
        self.adapt(key);
    }

    /// Checks the AVL trees, the separators and the key ranges (tests).
    pub fn check_invariants(&self) {
        let routes = self.routes.read();
        assert_eq!(routes.bases.len(), routes.seps.len() + 1);
        for w in routes.seps.windows(2) {
            assert_eq!(
                compare(&w[0], &w[1]),
                std::cmp::Ordering::Less,
                "separators"
            );
        }
        for (i, b) in routes.bases.iter().enumerate() {
            let leaf = b.read();
            leaf.avl.check_invariants();
            if let (Some(lo), Some(first)) = (i.checked_sub(1), leaf.avl.first()) {
                assert_ne!(
                    compare(first.key(), &routes.seps[lo]),
                    std::cmp::Ordering::Less
                );
            }
            if let (Some(hi), Some(last)) = (routes.seps.get(i), leaf.avl.last()) {
                assert_eq!(compare(last.key(), hi), std::cmp::Ordering::Less);
            }
        }
    }
}
