//! Contention-adapting search tree: `ordered_set`.
//!
//! ## Algorithm
//! A CA tree (Winblad & Sagonas, "Contention Adapting Search Trees", ISPDC 2015; "More
//! Scalable Ordered Set for ETS Using Adaptivity", Erlang Workshop 2015; OTP's
//! `erl_db_catree.c`) partitions the key space among *base nodes*, each a sequential AVL
//! tree ([`avl`]) behind its own lock, found through a route layer of separator keys.
//! Every base-node write updates a contention statistic ([`base`]): a write that finds the
//! lock held adds [`CATREE_FAIL_CONTRIBUTION`](config::CATREE_FAIL_CONTRIBUTION), an
//! uncontended one adds [`CATREE_SUCCESS_CONTRIBUTION`](config::CATREE_SUCCESS_CONTRIBUTION).
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
//! ## Lock-free routing
//! The route layer is an immutable [`Routes`]: the separators and base-node pointers in
//! key order (the in-order sequence of the paper's route tree, searched by binary search),
//! published through one `AtomicPtr`. An operation pins the epoch, loads the pointer
//! (Acquire), searches, locks the base node it found and checks the node's `valid` flag:
//! if a split, join or `clear` replaced the node in between, the flag is down and the
//! operation retries from the (already republished) root. Readers write nothing but their
//! thread's epoch record and the lock word of the base node they use, and each base node
//! has its cache lines to itself ([`base::Base`] is 128-byte aligned), so readers of
//! different base nodes never touch the same line.
//!
//! A base node's key range is fixed for its life: splits and joins never change a node in
//! place, they build new base nodes, copy the route array with the new nodes in place of
//! the old ones, publish it (Release), and only then unlock the old nodes, whose `valid`
//! was lowered under their write lock. So a valid base node is in the current array with
//! the range the router saw, and whoever finds a node invalid acquired its lock after the
//! new array was published, so the retry sees the new array (no livelock, no stale read).
//!
//! Structural changes (split, join, `clear`) serialise on the `structure` mutex; readers
//! and single-key writers never take it. Adaptation happens after an operation released
//! its base-node lock: it takes the mutex, re-routes by key and rechecks the statistic,
//! so it acts on the node the statistic was measured on (or skips, if that node changed).
//!
//! ## Reclamation
//! Replaced route arrays and base nodes are retired through crossbeam-epoch
//! (`Guard::defer_unchecked`) after being unlinked, and freed once every thread pinned at
//! that time has unpinned. A route array only borrows its base nodes; a base node is
//! retired in the same step as the last route array that holds it, so a pinned thread
//! that loaded an array can use every base node in it. The separators are `Arc<[u8]>`
//! shared between array versions: only structural writers and the collector touch their
//! counts. The current array and its nodes are freed by `Drop` (exclusive access).
//! crossbeam-epoch is not loom-aware: under `cfg(loom)` pinning is a no-op and retired
//! memory goes to a graveyard inside the structure mutex, freed when the tree drops, so
//! loom checks routing, validation and locking but not the collector.
//!
//! ## Locks and their order
//! 1. the `structure` mutex (split, join, `clear`; never by readers or plain writers);
//! 2. base-node locks, several at once only in ascending key order (`insert_many`,
//!    `clear`, a join's two nodes).
//!
//! Nobody waits for the mutex while holding a base-node lock. A multi-node operation
//! checks `valid` right after each lock it takes, and on an invalid node releases all and
//! retries from the root, so every lock held is on a valid node: valid nodes have disjoint
//! ranges and are taken in ascending order, so there is no cycle.
//!
//! ## Iteration under concurrent writes
//! `first`/`next`/`prev`/`last` work for any key, present or not, and hold one base-node
//! lock at a time. The chunked walks ([`CaTree::visit`], [`CaTree::visit_rev`]) resume
//! after the last key they returned; a chunk reads each base node atomically, and when it
//! meets a replaced node it re-routes from the separator below which (or above which, in
//! reverse) it has already read everything. So every object present throughout a whole
//! traversal is seen exactly once, in order, and no object is ever seen twice; objects
//! inserted or deleted during it may or may not be seen. No fixation is needed (the `fix`
//! count is kept only for `info/2`), as in ETS's `ordered_set`.
//!
//! `insert_many` write-locks every base node its keys route to, in ascending order, before
//! changing anything: atomic and isolated. `clear` holds the structure mutex and every
//! base-node lock while it empties the nodes and publishes a fresh one-node array, so it
//! is atomic too; the old objects go back to the caller to be freed off its path.

pub mod avl;
mod base;
mod ops;
pub mod range;

use crate::config;
use crate::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};
use crate::sync::epoch::{self, Guard};
use crate::sync::Mutex;
use crate::term::order::compare;
use avl::Avl;
use base::{Adapt, Base, Leaf};
use std::ptr::NonNull;
use std::sync::Arc;

/// A pointer to a heap-allocated base node. The tree owns the node while it is in the
/// current [`Routes`], the epoch collector once it is retired.
#[derive(Clone, Copy)]
struct BasePtr(NonNull<Base>);

// SAFETY: a `BasePtr` is only dereferenced as `&Base` (shared), and `Base` is `Send + Sync`
// (a lock over `Send` data and an atomic), so handing the pointer to another thread is as
// safe as handing it a `&Base`; freeing goes through the epoch rules in the module notes.
unsafe impl Send for BasePtr {}
// SAFETY: as above: shared access only, to a `Sync` type.
unsafe impl Sync for BasePtr {}

const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Base>();
};

impl BasePtr {
    fn alloc(leaf: Leaf) -> BasePtr {
        BasePtr(NonNull::from(Box::leak(Box::new(Base::new(leaf)))))
    }
}

/// One immutable version of the route layer: `bases[i]` holds the keys `k` with
/// `seps[i-1] <= k < seps[i]`.
pub struct Routes {
    seps: Box<[Arc<[u8]>]>,
    bases: Box<[BasePtr]>,
}

impl Routes {
    /// A one-node layer with a fresh, empty base node.
    fn fresh() -> Routes {
        Routes {
            seps: Box::new([]),
            bases: Box::new([BasePtr::alloc(Leaf::with(Avl::new()))]),
        }
    }

    /// Index of the base node that holds (or would hold) `key`.
    #[inline]
    fn route(&self, key: &[u8]) -> usize {
        self.seps
            .partition_point(|s| compare(s, key) != std::cmp::Ordering::Greater)
    }

    fn len(&self) -> usize {
        self.bases.len()
    }

    /// The `i`-th base node, borrowed for as long as this array.
    #[inline]
    fn base(&self, i: usize) -> &Base {
        // SAFETY: every node in a `Routes` is retired no earlier than the last array that
        // holds it (see Reclamation), and `&self` is borrowed from a pinned guard (or
        // exclusive access), so the node is not freed while the borrow lives.
        unsafe { self.bases[i].0.as_ref() }
    }

    /// The base node holding `key`.
    #[inline]
    fn base_for(&self, key: &[u8]) -> &Base {
        self.base(self.route(key))
    }

    /// A copy with `bases[range]` replaced by `bases` and `seps[seps_range]` by `seps`.
    fn splice(
        &self,
        range: std::ops::Range<usize>,
        bases: &[BasePtr],
        seps_range: std::ops::Range<usize>,
        seps: &[Arc<[u8]>],
    ) -> Routes {
        let mut b = self.bases.to_vec();
        b.splice(range, bases.iter().copied());
        let mut s = self.seps.to_vec();
        s.splice(seps_range, seps.iter().cloned());
        Routes {
            seps: s.into_boxed_slice(),
            bases: b.into_boxed_slice(),
        }
    }
}

/// What the structure mutex protects: nothing but the right to change the route layer
/// under normal builds; under loom also the memory retired so far (see Reclamation).
#[derive(Default)]
struct Structure {
    #[cfg(loom)]
    graveyard: Vec<Retired>,
}

/// A contention-adapting search tree of objects, one per key (`ordered_set`).
pub struct CaTree {
    /// The current [`Routes`], never null; replaced only under `structure`.
    routes: AtomicPtr<Routes>,
    structure: Mutex<Structure>,
    fixed: AtomicUsize,
    /// Test knob (`erts_debug:set_internal_state(ets_force_split, ...)` in ETS): every
    /// write splits its base node, so tests run on many base nodes without contention.
    force_split: AtomicBool,
}

impl Default for CaTree {
    fn default() -> Self {
        CaTree::new()
    }
}

impl Drop for CaTree {
    fn drop(&mut self) {
        // Relaxed: `&mut self` means no other thread can touch the tree any more.
        let routes = self.routes.load(Ordering::Relaxed);
        // SAFETY: `routes` came from `Box::into_raw`, is the current array (never retired)
        // and, with exclusive access, nobody else can reach it or its nodes. The nodes of
        // the current array are owned by the tree (retired ones are not in it).
        let routes = unsafe { Box::from_raw(routes) };
        for b in routes.bases.iter() {
            // SAFETY: each current base node came from `Box::leak` and appears once.
            drop(unsafe { Box::from_raw(b.0.as_ptr()) });
        }
    }
}

impl CaTree {
    pub fn new() -> CaTree {
        CaTree {
            routes: AtomicPtr::new(Box::into_raw(Box::new(Routes::fresh()))),
            structure: Mutex::new(Structure::default()),
            fixed: AtomicUsize::new(0),
            force_split: AtomicBool::new(false),
        }
    }

    /// The current route layer, valid while `guard` stays pinned.
    #[inline]
    fn routes<'g>(&self, _guard: &'g Guard) -> &'g Routes {
        // Acquire: pairs with the Release publication in `publish`, so the array and the
        // nodes built before it are visible.
        let p = self.routes.load(Ordering::Acquire);
        // SAFETY: never null; an array is retired only after it is unlinked, through the
        // epoch, and `guard` was pinned before this load, so it is not freed while 'g lasts.
        unsafe { &*p }
    }

    /// Installs `new` as the route layer and retires the old array and `dead` base nodes.
    /// Call with the structure mutex held, with `dead` write-locked and invalidated (their
    /// locks are released by the caller after this returns, so a retrier sees `new`).
    fn publish(&self, st: &mut Structure, guard: &Guard, new: Routes, dead: &[BasePtr]) {
        // Release: the new array and its fresh nodes are complete before readers see it.
        // (Structural writers are ordered by the mutex; the swap just hands back the old.)
        let old = self
            .routes
            .swap(Box::into_raw(Box::new(new)), Ordering::Release);
        // SAFETY: `old` is unlinked (the swap above) and retired once, here; the `dead`
        // nodes are in `old` but not in `new`, so they are unlinked too, and each is
        // retired once (a node leaves the layer in one call only).
        unsafe {
            retire(st, guard, Retired::Routes(old));
            for &b in dead {
                retire(st, guard, Retired::Base(b));
            }
        }
    }

    /// Number of base nodes (tests, `info(T, stats)`).
    pub fn base_node_count(&self) -> usize {
        let guard = epoch::pin();
        self.routes(&guard).len()
    }

    /// Turns the forced-split test knob on or off (see [`CaTree::force_split`]).
    pub fn set_force_split(&self, on: bool) {
        self.force_split.store(on, Ordering::Relaxed);
    }

    /// Whether every write splits its base node (a test knob).
    #[inline]
    pub(crate) fn force_split(&self) -> bool {
        self.force_split.load(Ordering::Relaxed)
    }

    /// Objects a base node needs before it may split: two when splits are forced, so
    /// that even small test tables spread over many base nodes.
    fn min_split_size(&self) -> usize {
        if self.force_split() {
            2
        } else {
            config::CATREE_MIN_SPLIT_SIZE.max(2)
        }
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
        let mut st = self.structure.lock();
        let guard = epoch::pin();
        let routes = self.routes(&guard);
        let i = routes.route(key);
        let mut leaf = routes.base(i).write_quiet();
        // Only structure-mutex holders invalidate, and they publish before unlocking.
        debug_assert!(leaf.valid, "current base node is valid");
        match leaf.wants() {
            Adapt::Keep => {}
            Adapt::Split
                if leaf.avl.len() >= self.min_split_size()
                    && routes.len() < config::CATREE_MAX_BASE_NODES =>
            {
                let (l, r) = leaf.retire().split();
                let Some(sep) = r.first().map(|o| Arc::<[u8]>::from(o.key())) else {
                    // Unreachable (a split of two or more objects has two non-empty
                    // halves), but not worth a panic: put the objects back.
                    *leaf = Leaf::with(Avl::join(l, r));
                    return;
                };
                let halves = [BasePtr::alloc(Leaf::with(l)), BasePtr::alloc(Leaf::with(r))];
                let new = routes.splice(i..i + 1, &halves, i..i, &[sep]);
                self.publish(&mut st, &guard, new, &[routes.bases[i]]);
                drop(leaf);
            }
            Adapt::Join if routes.len() > 1 => {
                // Lock the pair in ascending order: release `i` first if it is the right one.
                let lo = if i + 1 < routes.len() { i } else { i - 1 };
                let (mut lo_leaf, mut hi_leaf) = if lo == i {
                    (leaf, routes.base(lo + 1).write_quiet())
                } else {
                    drop(leaf);
                    let l = routes.base(lo).write_quiet();
                    (l, routes.base(i).write_quiet())
                };
                let joined = Avl::join(lo_leaf.retire(), hi_leaf.retire());
                let node = [BasePtr::alloc(Leaf::with(joined))];
                let new = routes.splice(lo..lo + 2, &node, lo..lo + 1, &[]);
                self.publish(&mut st, &guard, new, &routes.bases[lo..lo + 2]);
                drop((lo_leaf, hi_leaf));
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
            let guard = epoch::pin();
            loop {
                let mut leaf = self.routes(&guard).base_for(key).write_quiet();
                if leaf.valid {
                    leaf.stat = if split { i32::MAX } else { i32::MIN };
                    break;
                }
            }
        }
        self.adapt(key);
    }

    /// Checks the AVL trees, the separators, the key ranges and that every node in the
    /// current layer is valid (tests; call when no split or join runs).
    pub fn check_invariants(&self) {
        let guard = epoch::pin();
        let routes = self.routes(&guard);
        assert_eq!(routes.bases.len(), routes.seps.len() + 1);
        for w in routes.seps.windows(2) {
            assert_eq!(
                compare(&w[0], &w[1]),
                std::cmp::Ordering::Less,
                "separators"
            );
        }
        for i in 0..routes.len() {
            let leaf = routes.base(i).read();
            assert!(leaf.valid, "base node {i} in the current layer is valid");
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

/// A route array or base node unlinked from the tree; dropping it frees it. Kept as a raw
/// pointer (not a `Box`) until then, since pinned readers may still hold `&` references.
enum Retired {
    Routes(*mut Routes),
    Base(BasePtr),
}

// SAFETY: a `Retired` is the sole owner of an unlinked `Routes` or `Base`, both `Send`; it
// only frees them, which any thread may do.
unsafe impl Send for Retired {}

impl Drop for Retired {
    fn drop(&mut self) {
        match *self {
            // SAFETY: built by `CaTree::publish` from a pointer that came from
            // `Box::into_raw`, retired once; it is dropped only when no reader can hold it
            // (the epoch collector ran it, or the tree itself is being dropped).
            Retired::Routes(p) => drop(unsafe { Box::from_raw(p) }),
            // SAFETY: as above, for a node from `BasePtr::alloc`.
            Retired::Base(b) => drop(unsafe { Box::from_raw(b.0.as_ptr()) }),
        }
    }
}

/// Frees `r` once no thread can still hold a reference into it.
///
/// # Safety
/// What `r` points to is no longer reachable from the current route layer, and is retired
/// only once.
unsafe fn retire(st: &mut Structure, guard: &Guard, r: Retired) {
    #[cfg(not(loom))]
    {
        let _ = st;
        // SAFETY: `r` is unlinked (caller's contract), so only threads pinned now can hold
        // a reference into it, and the collector runs this after they all unpinned;
        // `Retired` is `Send`, so running it on another thread is fine.
        unsafe { guard.defer_unchecked(move || drop(r)) };
    }
    #[cfg(loom)]
    {
        let _ = guard;
        st.graveyard.push(r);
    }
}
