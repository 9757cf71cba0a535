//! The options a table is created with (`new/2`), already validated by the NIF crate.

use crate::access::Protection;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableType {
    Set,
    OrderedSet,
    Bag,
    DuplicateBag,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteConcurrency {
    Off,
    On,
    Auto,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    pub kind: TableType,
    /// 1-based key position.
    pub keypos: usize,
    pub protection: Protection,
    pub named: bool,
    pub read_concurrency: bool,
    pub write_concurrency: WriteConcurrency,
    pub decentralized_counters: bool,
    pub compressed: bool,
    /// `{write_concurrency, {debug_hash_fixed_number_of_locks, N}}`: an exact stripe count.
    pub locks: Option<usize>,
}

impl Default for Options {
    /// `:ets`'s defaults: `[set, protected, {keypos,1}, {heir,none},
    /// {write_concurrency,false}, {read_concurrency,false}]`.
    fn default() -> Self {
        Options {
            kind: TableType::Set,
            keypos: 1,
            protection: Protection::Protected,
            named: false,
            read_concurrency: false,
            write_concurrency: WriteConcurrency::Off,
            decentralized_counters: false,
            compressed: false,
            locks: None,
        }
    }
}
