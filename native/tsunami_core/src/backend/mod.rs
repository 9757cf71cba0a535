//! Storage backends and the enum the table dispatches through.
//!
//! A backend stores [`Obj`]s and knows its key semantics; it knows nothing of access
//! rules, owners or names (the table checks those first). Results are handed to callbacks
//! while the backend's lock is held, so the NIF builds Erlang terms straight from stored
//! bytes and nothing escapes a lock.
//!
//! Adding a table kind means a new module here and one arm in [`Storage`]; the NIF and
//! Elixir layers do not change.

pub mod catree;
pub mod hash;

use crate::error::Result;
use crate::reaper;
use crate::term::Obj;
pub use hash::ChainStats;

/// Objects removed from a table, dropped by the caller after every lock is released (or
/// handed to the [`crate::reaper`] when there are many).
pub type Garbage = Vec<Obj>;

/// The semantics of duplicate keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyMode {
    /// One object per key (`set`, `ordered_set`).
    Unique,
    /// Many objects per key, no two identical (`bag`).
    Bag,
    /// Many objects per key, copies allowed (`duplicate_bag`).
    Duplicates,
}

/// Where a chunked traversal of a hash table stands: a shard, and a *walk position*
/// inside it (a bucket hash with its bits reversed, see [`hash`]), which keeps its
/// meaning when the shard splits or merges buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Position {
    pub shard: usize,
    pub at: u64,
}

impl Position {
    /// Where a walk that has been through part of shard `shard` goes on: at walk position
    /// `at` in that shard, or, with none left there, at the start of the next shard.
    pub(crate) fn in_shard_or_next(shard: usize, at: Option<u64>) -> Position {
        match at {
            Some(at) => Position { shard, at },
            None => Position {
                shard: shard + 1,
                at: 0,
            },
        }
    }
}

/// A predicate true for the keys before a range start (see [`catree::range::From::Seek`]).
pub type Seek<'a> = &'a dyn Fn(&[u8]) -> bool;

/// What [`Storage::visit_remove`] does with one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Keep,
    Remove,
    /// Keep it and end the walk (the object is past a range).
    Stop,
}

/// What an editing walk ([`Storage::visit_replace`]) does with one object.
#[derive(Debug)]
pub enum Edit {
    Keep,
    /// Put this object in the old one's place. Its key must be exactly the old one's
    /// (`=:=`, zeros by value before OTP 27, see [`crate::term::same`]).
    Replace(Obj),
    /// Keep it and end the walk (the object is past a range).
    Stop,
}

/// Why an editing walk ended early.
#[derive(Debug)]
pub enum Halt {
    /// [`Edit::Stop`].
    Stopped,
    /// A replacement whose key differs from the old object's; it was not made (it is
    /// handed back), nor anything after it.
    Refused(Obj),
}

/// Where a chunked traversal resumes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resume {
    Hash(Position),
    /// After this key (`None`: from the start).
    Tree(Option<Vec<u8>>),
}

/// The storage of one table. Each method dispatches to the backend; the NIF crate only
/// ever calls these.
pub enum Storage {
    Hash(hash::HashTable),
    Tree(catree::CaTree),
}

/// Calls the same method on whichever backend this is.
macro_rules! dispatch {
    ($self:expr, $b:ident => $e:expr) => {
        match $self {
            Storage::Hash($b) => $e,
            Storage::Tree($b) => $e,
        }
    };
}

impl Storage {
    /// Number of objects.
    pub fn len(&self) -> usize {
        dispatch!(self, b => b.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Memory in bytes.
    pub fn memory_bytes(&self) -> usize {
        dispatch!(self, b => b.memory_bytes())
    }

    /// The key semantics.
    pub fn mode(&self) -> KeyMode {
        match self {
            Storage::Hash(h) => h.mode(),
            Storage::Tree(_) => KeyMode::Unique,
        }
    }

    /// Empties the storage atomically; the old contents are freed on the reaper thread.
    pub fn clear(&self) {
        let weight = self.len();
        match self {
            Storage::Hash(h) => reaper::dispose(h.clear(), weight),
            Storage::Tree(t) => reaper::dispose(t.clear(), weight),
        }
    }

    /// Drops removed objects: in place when few, on the reaper when many.
    pub fn discard(garbage: Garbage) {
        let n = garbage.len();
        reaper::dispose(garbage, n);
    }

    /// Inserts one object; returns what it replaced.
    #[inline]
    pub fn insert(&self, obj: Obj) -> Garbage {
        match self {
            Storage::Hash(h) => h.insert(obj),
            Storage::Tree(t) => t.insert(obj),
        }
    }

    /// Inserts objects atomically; with `only_new`, nothing if any key exists.
    pub fn insert_many(&self, objs: Vec<Obj>, only_new: bool) -> (bool, Garbage) {
        match self {
            Storage::Hash(h) => h.insert_many(objs, only_new),
            Storage::Tree(t) => t.insert_many(objs, only_new),
        }
    }

    /// [`Storage::insert_many`], committed only if `commit()`, asked with every lock the
    /// insert needs held (a dirty insert checks that its caller is still alive, so it
    /// never lands after the caller's exit was seen).
    pub fn insert_many_if(
        &self,
        objs: Vec<Obj>,
        only_new: bool,
        commit: &dyn Fn() -> bool,
    ) -> (bool, Garbage) {
        match self {
            Storage::Hash(h) => h.insert_many_if(objs, only_new, commit),
            Storage::Tree(t) => t.insert_many_if(objs, only_new, commit),
        }
    }

    /// Calls `f` on each object with this key (encoded key and its hash), under the lock.
    #[inline]
    pub fn lookup(&self, hash: u64, key: &[u8], f: impl FnMut(&Obj)) {
        match self {
            Storage::Hash(h) => h.lookup(hash, key, f),
            Storage::Tree(t) => t.lookup(key, f),
        }
    }

    #[inline]
    pub fn member(&self, hash: u64, key: &[u8]) -> bool {
        match self {
            Storage::Hash(h) => h.member(hash, key),
            Storage::Tree(t) => t.member(key),
        }
    }

    /// Removes and returns the objects with this key.
    pub fn take(&self, hash: u64, key: &[u8]) -> Garbage {
        match self {
            Storage::Hash(h) => h.take(hash, key),
            Storage::Tree(t) => t.take(key),
        }
    }

    /// Removes objects identical to `obj`.
    pub fn delete_object(&self, obj: &Obj) -> Garbage {
        match self {
            Storage::Hash(h) => h.delete_object(obj),
            Storage::Tree(t) => t.delete_object(obj),
        }
    }

    /// Removes objects equal to `obj` byte for byte (see
    /// [`hash::HashTable::delete_exact`]). A tree holds one object per key, so its
    /// `delete_object` can only remove that one.
    pub fn delete_exact(&self, obj: &Obj) -> Garbage {
        match self {
            Storage::Hash(h) => h.delete_exact(obj),
            Storage::Tree(t) => t.delete_object(obj),
        }
    }

    /// Atomic read-modify-write of the single object with this key (see
    /// [`hash::HashTable::update`]).
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
        match self {
            Storage::Hash(h) => h.update(hash, key, default, f),
            Storage::Tree(t) => t.update(key, default, f),
        }
    }

    /// The first object in traversal order (term order for `ordered_set`), given to `f`.
    pub fn first<R>(&self, f: impl FnOnce(&Obj) -> R) -> Option<R> {
        dispatch!(self, b => b.first(f))
    }

    /// The object after `key`; `Err` (badarg) when a hash table does not hold `key` (a
    /// tree takes any key and gives its successor in term order).
    pub fn next<R>(&self, hash: u64, key: &[u8], f: impl FnOnce(&Obj) -> R) -> Result<Option<R>> {
        match self {
            Storage::Hash(h) => h.next(hash, key, f),
            Storage::Tree(t) => Ok(t.next(key, f)),
        }
    }

    /// The last object (term order for `ordered_set`; for hash tables the same as
    /// `first`, as in `:ets`).
    pub fn last<R>(&self, f: impl FnOnce(&Obj) -> R) -> Option<R> {
        match self {
            Storage::Hash(h) => h.first(f),
            Storage::Tree(t) => t.last(f),
        }
    }

    /// The object before `key` (for hash tables the same as `next`, as in `:ets`).
    pub fn prev<R>(&self, hash: u64, key: &[u8], f: impl FnOnce(&Obj) -> R) -> Result<Option<R>> {
        match self {
            Storage::Hash(h) => h.next(hash, key, f),
            Storage::Tree(t) => Ok(t.prev(key, f)),
        }
    }

    /// Where a chunked traversal starts. A traversal holds no fixation: its position
    /// keeps its meaning however the table changes between calls (a hash walk position
    /// survives bucket splits and merges, a tree walk resumes after its last key), so it
    /// visits every object that stays in the table exactly once.
    pub fn begin_traversal(&self) -> Resume {
        match self {
            Storage::Hash(_) => Resume::Hash(Position::default()),
            Storage::Tree(_) => Resume::Tree(None),
        }
    }

    /// Where a chunked traversal that goes backwards ([`Storage::visit_rev`]) starts.
    pub fn begin_traversal_rev(&self) -> Resume {
        match self {
            Storage::Hash(h) => Resume::Hash(h.end_position()),
            Storage::Tree(_) => Resume::Tree(None),
        }
    }

    /// `safe_fixtable(T, true)`: a hash table stops resizing and keeps the places of
    /// deleted keys until the matching [`Storage::unfix_deferred`].
    pub fn fix(&self) {
        dispatch!(self, b => b.fix())
    }

    /// Empties the storage at once, fixed or not, freeing what fixations kept too
    /// (`delete/1`: a deleted table's memory must not wait for its fixers).
    pub fn purge(&self) {
        let weight = self.len() + self.kept();
        match self {
            Storage::Hash(h) => reaper::dispose(h.purge(), weight),
            Storage::Tree(t) => reaper::dispose(t.clear(), weight),
        }
    }

    /// Objects kept for fixations (tombstones and cleared contents of a fixed hash table).
    pub fn kept(&self) -> usize {
        match self {
            Storage::Hash(h) => h.kept(),
            Storage::Tree(_) => 0,
        }
    }

    /// Visits the objects [`Storage::visit`] would, in exactly the reverse order (a tree in
    /// descending key order), from `at` (from [`Storage::begin_traversal_rev`]) until about
    /// `max` were seen; where to resume, or `None` at the start of the table. Consing each
    /// result onto a list as it comes builds the list in forward order with no final
    /// reverse (what `select/2` does).
    pub fn visit_rev(&self, at: &Resume, max: usize, f: impl FnMut(&Obj)) -> Option<Resume> {
        use std::ops::Bound;
        match (self, at) {
            (Storage::Hash(h), Resume::Hash(p)) => h.visit_rev(*p, max, f).map(Resume::Hash),
            (Storage::Tree(t), Resume::Tree(before)) => {
                let start = match before {
                    Some(k) => Bound::Excluded(k.as_slice()),
                    None => Bound::Unbounded,
                };
                t.visit_rev(start, max, f).map(|k| Resume::Tree(Some(k)))
            }
            _ => None,
        }
    }

    /// Releases one [`Storage::fix`], without the sweep that the last unfix of a hash
    /// table owes: true when [`Storage::sweep_kept`] must be called (off the caller's
    /// thread: it is linear in the tombstones and ghosts the fixation kept).
    pub fn unfix_deferred(&self) -> bool {
        match self {
            Storage::Hash(h) => h.unfix_deferred(),
            Storage::Tree(t) => {
                t.unfix();
                false
            }
        }
    }

    /// Frees what fixations kept (tombstones, ghosts), unless the table is fixed again.
    pub fn sweep_kept(&self) {
        if let Storage::Hash(h) = self {
            h.sweep();
        }
    }

    /// Visits objects from `at` until about `max` were seen; where to resume, or `None` at
    /// the end.
    pub fn visit(&self, at: &Resume, max: usize, f: impl FnMut(&Obj)) -> Option<Resume> {
        use std::ops::Bound;
        match (self, at) {
            (Storage::Hash(h), Resume::Hash(p)) => h.visit(*p, max, f).map(Resume::Hash),
            (Storage::Tree(t), Resume::Tree(after)) => {
                let start = match after {
                    Some(k) => Bound::Excluded(k.as_slice()),
                    None => Bound::Unbounded,
                };
                t.visit(start, max, f).map(|k| Resume::Tree(Some(k)))
            }
            _ => None,
        }
    }

    /// Like [`Storage::visit`], stopping early (returning `None`) when `f` returns false:
    /// the match-spec engine's walks, which may end before the table does. `seek`
    /// (ordered tables only, on a fresh walk) starts at the first key it rejects, see
    /// [`catree::range::From::Seek`].
    pub fn visit_while(
        &self,
        at: &Resume,
        seek: Option<Seek>,
        max: usize,
        mut f: impl FnMut(&Obj) -> bool,
    ) -> Option<Resume> {
        use catree::range::From;
        match (self, at) {
            (Storage::Hash(h), Resume::Hash(p)) => {
                let mut go = true;
                let next = h.visit(*p, max, |o| go = go && f(o));
                next.filter(|_| go).map(Resume::Hash)
            }
            (Storage::Tree(t), Resume::Tree(after)) => {
                let from = match (after, seek) {
                    (Some(k), _) => From::After(k),
                    (None, Some(below)) => From::Seek(below),
                    (None, None) => From::Start,
                };
                t.visit_range(from, max, f).map(|k| Resume::Tree(Some(k)))
            }
            _ => None,
        }
    }

    /// A walk like [`Storage::visit_while`] that also deletes: `f` says for each object
    /// whether to keep it, remove it, or stop the walk there. Removed objects are appended
    /// to `garbage`, which so holds exactly what this call deleted (an object a concurrent
    /// writer deleted first is not in it). A hash table removes them in the walk, under
    /// each shard's write lock; a tree removes them after the walk, each by
    /// `delete_object` (objects are rebuilt with `keypos`).
    pub fn visit_remove(
        &self,
        at: &Resume,
        seek: Option<Seek>,
        max: usize,
        keypos: usize,
        mut f: impl FnMut(&Obj) -> Verdict,
        garbage: &mut Garbage,
    ) -> Option<Resume> {
        match (self, at) {
            (Storage::Hash(h), Resume::Hash(p)) => {
                let mut go = true;
                let next = h.visit_remove(
                    *p,
                    max,
                    |o| {
                        go && match f(o) {
                            Verdict::Keep => false,
                            Verdict::Remove => true,
                            Verdict::Stop => {
                                go = false;
                                false
                            }
                        }
                    },
                    garbage,
                );
                next.filter(|_| go).map(Resume::Hash)
            }
            _ => {
                let mut doomed: Vec<Vec<u8>> = Vec::new();
                let next = self.visit_while(at, seek, max, |o| match f(o) {
                    Verdict::Keep => true,
                    Verdict::Remove => {
                        doomed.push(o.body().to_vec());
                        true
                    }
                    Verdict::Stop => false,
                });
                for body in doomed {
                    let w = crate::term::Writer { buf: body };
                    if let Some(obj) = crate::term::ObjBuilder::finish(&w, keypos, None) {
                        garbage.extend(self.delete_object(&obj));
                    }
                }
                next
            }
        }
    }

    /// `select_replace`'s walk: like [`Storage::visit_while`], but under write locks
    /// (a hash table's shard, a tree's base node), putting what `f` returns in each
    /// object's place before the lock is released, so each replacement is atomic with
    /// respect to every other writer of its key: no concurrent update can fall between
    /// reading an object and replacing it. Chain order (a `duplicate_bag`'s copies) and
    /// tree shape do not change. Replaced objects are appended to `garbage`, one per
    /// replacement. A walk ends early ([`Halt`]) at [`Edit::Stop`] (`Ok(None)`) or at a
    /// replacement whose key differs from the old object's (`Err`, badarg; replacements
    /// made before it stay, nothing after it is touched).
    pub fn visit_replace(
        &self,
        at: &Resume,
        seek: Option<Seek>,
        max: usize,
        f: impl FnMut(&Obj) -> Edit,
        garbage: &mut Garbage,
    ) -> Result<Option<Resume>> {
        use catree::range::From;
        let (next, halt) = match (self, at) {
            (Storage::Hash(h), Resume::Hash(p)) => {
                let (next, halt) = h.visit_edit(*p, max, f, garbage);
                (next.map(Resume::Hash), halt)
            }
            (Storage::Tree(t), Resume::Tree(after)) => {
                let from = match (after, seek) {
                    (Some(k), _) => From::After(k),
                    (None, Some(below)) => From::Seek(below),
                    (None, None) => From::Start,
                };
                let (next, halt) = t.visit_range_edit(from, max, f, garbage);
                (next.map(|k| Resume::Tree(Some(k))), halt)
            }
            _ => (None, None),
        };
        halt_result(next, halt)
    }

    /// [`Storage::visit_replace`] on the objects with this key (encoded key and its
    /// hash): all copies of a `duplicate_bag` object, each offered to `f`.
    pub fn replace_key(
        &self,
        hash: u64,
        key: &[u8],
        mut f: impl FnMut(&Obj) -> Edit,
        garbage: &mut Garbage,
    ) -> Result<()> {
        let halt = match self {
            Storage::Hash(h) => h.edit_key(hash, key, f, garbage),
            Storage::Tree(t) => t.edit_key(key, &mut f, garbage),
        };
        halt_result((), halt)
    }

    /// `slot/2`: the objects of slot `i` (a bucket of a hash table, the `i`-th object of a
    /// tree). `Ok(false)` one past the last slot, `Err` beyond.
    pub fn slot(&self, i: usize, f: impl FnMut(&Obj)) -> Result<bool> {
        match self {
            Storage::Hash(h) => h.slot(i, f),
            // `nth` answers how many objects there were when `i` is past the end.
            Storage::Tree(t) => match t.nth(i, f) {
                None => Ok(true),
                Some(n) if n == i => Ok(false),
                Some(_) => Err(crate::error::Cause::Type.into()),
            },
        }
    }

    /// Whether the table is fixed (`info(T, fixed)`).
    pub fn is_fixed(&self) -> bool {
        dispatch!(self, b => b.is_fixed())
    }

    /// The forced-split test knob of a tree (ETS's `ets_force_split`): while on, every
    /// write splits its base node. `false` (and nothing done) for a hash table.
    pub fn set_force_split(&self, on: bool) -> bool {
        match self {
            Storage::Hash(_) => false,
            Storage::Tree(t) => {
                t.set_force_split(on);
                true
            }
        }
    }

    /// Figures for `info(T, stats)`.
    pub fn stats(&self) -> Stats {
        match self {
            Storage::Hash(h) => Stats::Hash {
                shards: h.shard_count(),
                chains: h.chain_stats(),
                kept: h.kept(),
            },
            Storage::Tree(t) => Stats::Tree {
                base_nodes: t.base_node_count(),
            },
        }
    }
}

/// An editing walk's result: `Err` (badarg) for a refused replacement, whose object is
/// freed here (outside every lock).
fn halt_result<T: Default>(ok: T, halt: Option<Halt>) -> Result<T> {
    match halt {
        None => Ok(ok),
        Some(Halt::Stopped) => Ok(T::default()),
        Some(Halt::Refused(obj)) => {
            Storage::discard(vec![obj]);
            Err(crate::error::Cause::Type.into())
        }
    }
}

/// What `info(T, stats)` reports, per backend.
#[derive(Debug, Clone, Copy)]
pub enum Stats {
    /// Lock stripes, chain lengths, and objects kept for fixations (tombstones, ghosts).
    Hash {
        shards: usize,
        chains: ChainStats,
        kept: usize,
    },
    /// Base nodes of the CA tree.
    Tree { base_nodes: usize },
}
