//! One table: its fixed options, its mutable metadata (name, owner, protection, heir) and
//! its storage.
//!
//! The table owns policy that does not depend on the storage: the deleted flag, access
//! checks, and which operations a table type refuses. The NIF crate calls
//! [`Table::read`] / [`Table::write`] / [`Table::owner_only`] first and then works on the
//! returned [`Storage`].

mod options;
pub mod update;

pub use options::{Options, TableType, WriteConcurrency};

use crate::access::{self, Op, Pid, Protection};
use crate::backend::{catree::CaTree, hash::HashTable, KeyMode, Storage};
use crate::config;
use crate::error::{Cause, Result};
use crate::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use crate::sync::Mutex;
use crate::term::Obj;

/// A raw atom word (see [`crate::term`]).
pub type AtomWord = u64;

/// Who inherits the table when its owner dies.
#[derive(Debug, Default)]
pub enum Heir {
    #[default]
    None,
    /// The heir and the data it receives (a 1-tuple `{Data}`, encoded).
    Pid { pid: Pid, data: Obj },
}

pub struct Table {
    pub id: u64,
    pub options: Options,
    /// The name atom (also for unnamed tables: `info(T, name)`).
    name: AtomicU64,
    owner: AtomicU64,
    protection: AtomicU8,
    deleted: AtomicBool,
    pub heir: Mutex<Heir>,
    storage: Storage,
}

// Relaxed orderings below: name, owner and protection are independent words read without
// implying anything about the storage; the storage has its own locks. Owner changes
// (give_away, heir) happen under the registry's lock in the NIF crate.
impl Table {
    pub fn new(id: u64, name: AtomWord, owner: Pid, options: Options) -> Table {
        let mode = match options.kind {
            TableType::Set | TableType::OrderedSet => KeyMode::Unique,
            TableType::Bag => KeyMode::Bag,
            TableType::DuplicateBag => KeyMode::Duplicates,
        };
        // `{debug_hash_fixed_number_of_locks, N}` is echoed by `info` as given, but more
        // stripes than the concurrent default only make the table dearer to create.
        let shards = match (options.locks, options.write_concurrency) {
            (Some(n), _) => n.min(config::HASH_SHARDS_CONCURRENT),
            (None, WriteConcurrency::Off) => config::HASH_SHARDS_DEFAULT,
            (None, _) => config::HASH_SHARDS_CONCURRENT,
        };
        Table {
            id,
            name: AtomicU64::new(name),
            owner: AtomicU64::new(owner),
            protection: AtomicU8::new(options.protection as u8),
            deleted: AtomicBool::new(false),
            heir: Mutex::new(Heir::None),
            storage: match options.kind {
                TableType::OrderedSet => Storage::Tree(CaTree::new()),
                _ => Storage::Hash(HashTable::new(mode, shards)),
            },
            options,
        }
    }

    pub fn name(&self) -> AtomWord {
        self.name.load(Ordering::Relaxed)
    }
    pub fn set_name(&self, name: AtomWord) {
        self.name.store(name, Ordering::Relaxed)
    }
    pub fn owner(&self) -> Pid {
        self.owner.load(Ordering::Acquire)
    }
    pub fn set_owner(&self, pid: Pid) {
        self.owner.store(pid, Ordering::Release)
    }
    pub fn protection(&self) -> Protection {
        Protection::from_u8(self.protection.load(Ordering::Relaxed))
    }
    pub fn set_protection(&self, p: Protection) {
        self.protection.store(p as u8, Ordering::Relaxed)
    }
    pub fn keypos(&self) -> usize {
        self.options.keypos
    }
    pub fn kind(&self) -> TableType {
        self.options.kind
    }
    /// Whether keys are kept in term order (`ordered_set`): its keys are encoded with
    /// atom names, which the term-order comparator needs.
    #[inline]
    pub fn is_ordered(&self) -> bool {
        self.options.kind == TableType::OrderedSet
    }
    pub fn is_deleted(&self) -> bool {
        // Acquire pairs with the Release in `mark_deleted`.
        self.deleted.load(Ordering::Acquire)
    }

    fn live(&self) -> Result<&Storage> {
        if self.is_deleted() {
            Err(Cause::Id.into())
        } else {
            Ok(&self.storage)
        }
    }

    /// The storage, if `caller` may read.
    #[inline]
    pub fn read(&self, caller: impl FnOnce() -> Pid) -> Result<&Storage> {
        let s = self.live()?;
        access::check(self.protection(), Op::Read, self.owner(), caller)?;
        Ok(s)
    }

    /// The storage, if `caller` may write.
    #[inline]
    pub fn write(&self, caller: impl FnOnce() -> Pid) -> Result<&Storage> {
        let s = self.live()?;
        access::check(self.protection(), Op::Write, self.owner(), caller)?;
        Ok(s)
    }

    /// The storage, if `caller` owns the table (`give_away`, `setopts`).
    pub fn owner_only(&self, caller: Pid) -> Result<&Storage> {
        let s = self.live()?;
        if caller != self.owner() {
            return Err(Cause::NotOwner.into());
        }
        Ok(s)
    }

    /// The storage of a live table, with no access check (`info/1,2`).
    pub fn storage(&self) -> Result<&Storage> {
        self.live()
    }

    /// The storage whether or not the table was deleted (a deleted table's storage is
    /// empty but still exists, e.g. for a cursor to unfix it).
    pub fn storage_unchecked(&self) -> &Storage {
        &self.storage
    }

    /// Marks the table deleted (false if it already was) and frees its contents off the
    /// caller's path, including what fixations kept (a fixer may never unfix).
    pub fn mark_deleted(&self) -> bool {
        if self.deleted.swap(true, Ordering::AcqRel) {
            return false;
        }
        self.storage.purge();
        *self.heir.lock() = Heir::None;
        true
    }
}
