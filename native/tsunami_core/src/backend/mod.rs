//! Storage backends and the enum the table dispatches through.
//!
//! A backend stores [`Obj`]s and knows its key semantics; it knows nothing of access
//! rules, owners or names (the table checks those first). Results are handed to callbacks
//! while the backend's lock is held, so the NIF builds Erlang terms straight from stored
//! bytes and nothing escapes a lock.
//!
//! Adding a table kind means a new module here and one arm in [`Storage`]; the NIF and
//! Elixir layers do not change.

pub mod hash;

use crate::term::Obj;

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

/// Where a chunked traversal stands: an opaque position inside the storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Position {
    pub shard: usize,
    pub bucket: usize,
}

/// The storage of one table.
pub enum Storage {
    Hash(hash::HashTable),
}
