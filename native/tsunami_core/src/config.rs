//! Tuning constants, each with its unit. Loom builds shrink them so a model stays small.

/// Lock stripes (shards) of a hash table created without `write_concurrency`.
#[cfg(not(loom))]
pub const HASH_SHARDS_DEFAULT: usize = 64;
#[cfg(loom)]
pub const HASH_SHARDS_DEFAULT: usize = 2;

/// Lock stripes of a hash table with `{write_concurrency, true | auto}`: enough that 16+
/// schedulers rarely meet on one lock (ETS settled near 1024 for the same reason).
#[cfg(not(loom))]
pub const HASH_SHARDS_CONCURRENT: usize = 256;
#[cfg(loom)]
pub const HASH_SHARDS_CONCURRENT: usize = 2;

/// Upper bound on stripes, for `{debug_hash_fixed_number_of_locks, N}`.
pub const HASH_SHARDS_MAX: usize = 16_384;

/// Buckets a shard starts with (and never shrinks below). A power of two.
#[cfg(not(loom))]
pub const SHARD_MIN_BUCKETS: usize = 4;
#[cfg(loom)]
pub const SHARD_MIN_BUCKETS: usize = 1;

/// Objects per bucket (average) above which a shard splits one bucket. At 1, a hit
/// walks about 1.5 objects (each a cache miss at 1M keys) for 8 bytes of bucket per object.
pub const GROW_LOAD: usize = 1;

/// A shard merges buckets back on a delete when `objects * SHRINK_DIVISOR < buckets`
/// (load under 1/2: half of [`GROW_LOAD`], so a table hovering at one size does not split
/// and merge in turn).
pub const SHRINK_DIVISOR: usize = 2;

/// Buckets merged per delete at most: more than one, so a shrinking table's bucket count
/// keeps up with its object count all the way down.
pub const MERGES_PER_DELETE: usize = 2;

/// Bucket merges a deleting walk does at the end of each chunk (per shard it touched): a
/// merge costs about 1.3 µs, so this keeps a chunk's shrink near 0.2 ms; what is left is
/// merged by later deletes and walks.
pub const WALK_MERGES: usize = 128;

/// Objects handed back per call by chunked traversals (`tab2list`, `delete_all_objects`
/// done off-thread is not chunked). About 1000 objects keeps a call well under 1 ms.
pub const TRAVERSAL_CHUNK: usize = 1000;

/// Tombstones and ghost objects that the last unfix of a hash table sweeps on the
/// unfixing call; more are swept on the reaper thread (a sweep visits every chain that got
/// a tombstone: about 0.1 µs per kept object, more on cache misses).
pub const SWEEP_INLINE_LIMIT: usize = 2_000;

/// Objects per call of `select_replace`'s walk. Each replacement decodes the spec's
/// result and encodes it again as an object (about 0.6 µs, measured), several times
/// the cost of visiting an object: 1000 replacements took 0.7 ms per call (median) and
/// up to 4 ms, so a replacing walk takes a quarter of [`TRAVERSAL_CHUNK`].
pub const REPLACE_CHUNK: usize = TRAVERSAL_CHUNK / 4;

/// How far ahead (in hash buckets, or tree nodes) a table walk asks the CPU to load the
/// objects it will visit. Objects are separate allocations, so without it a walk waits
/// for one cache miss after another; a few misses in flight hide most of that.
pub const WALK_PREFETCH: usize = 8;

/// CA tree (`ordered_set`) contention statistic, in abstract units, after Winblad & Sagonas
/// and `erl_db_catree.c`. A base-node write that finds the lock taken adds
/// [`CATREE_FAIL_CONTRIBUTION`]; one that gets it at once adds [`CATREE_SUCCESS_CONTRIBUTION`].
/// Above [`CATREE_CONTENTION_HIGH`] the base node splits; below [`CATREE_CONTENTION_LOW`]
/// it joins a neighbour. Loom builds adapt after one or two operations.
#[cfg(not(loom))]
pub const CATREE_FAIL_CONTRIBUTION: i32 = 250;
#[cfg(loom)]
pub const CATREE_FAIL_CONTRIBUTION: i32 = 2;
pub const CATREE_SUCCESS_CONTRIBUTION: i32 = -1;
#[cfg(not(loom))]
pub const CATREE_CONTENTION_HIGH: i32 = 1000;
#[cfg(loom)]
pub const CATREE_CONTENTION_HIGH: i32 = 0;
#[cfg(not(loom))]
pub const CATREE_CONTENTION_LOW: i32 = -1000;
#[cfg(loom)]
pub const CATREE_CONTENTION_LOW: i32 = -2;

/// Objects a base node needs (at least) before it may split: splitting a tiny tree only
/// adds routing.
#[cfg(not(loom))]
pub const CATREE_MIN_SPLIT_SIZE: usize = 8;
#[cfg(loom)]
pub const CATREE_MIN_SPLIT_SIZE: usize = 2;

/// Most base nodes a tree adapts up to (a split beyond it is refused): bounds the route
/// array a split or join copies.
pub const CATREE_MAX_BASE_NODES: usize = 4096;

/// Durable log: the most bytes one record (one batch) may hold. 1 GiB, so that with
/// [`LOG_FILE_MAX_BYTES_LIMIT`] every entry offset fits the `u32` of a `Location`.
pub const LOG_MAX_RECORD_BYTES: usize = 1 << 30;

/// Durable log: a data file is closed (and a new one started) before a record would take it
/// past this many bytes. 128 MiB: merges work file by file, so smaller files free space
/// sooner; Bitcask's 2 GB default makes each merge step long.
pub const LOG_FILE_MAX_BYTES_DEFAULT: u64 = 128 << 20;

/// Durable log: the largest file size an `OpenOptions` may ask for (2 GiB).
pub const LOG_FILE_MAX_BYTES_LIMIT: u64 = 2 << 30;

/// Durable log: the default period of `SyncMode::Interval` in milliseconds. One second, as
/// Redis's `appendfsync everysec`: a power loss costs at most about a second of acknowledged
/// writes (a killed process costs nothing: its writes are in the page cache), for the
/// throughput of `SyncMode::None`.
pub const LOG_SYNC_INTERVAL_DEFAULT_MS: u64 = 1000;

/// Durable log: read buffer for replay and merge scans (bytes).
pub const LOG_SCAN_BUFFER: usize = 1 << 20;

/// Durable log: a background merge is due when dead bytes (on disk but not live, as the
/// caller reports live bytes) are at least this percentage of the bytes on disk
/// (Bitcask's `frag_merge_trigger` default, 60)...
pub const LOG_MERGE_DEAD_PERCENT: u64 = 60;

/// ...and at least this many bytes (so small tables are not merged over and over): 16 MiB.
pub const LOG_MERGE_MIN_DEAD_BYTES: u64 = 16 << 20;
