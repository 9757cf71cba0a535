//! Atoms used by the NIFs.

rustler::atoms! {
    tsunami_error = "$tsunami_error",
    end_of_table = "$end_of_table",
    tsunami_dirty = "$tsunami_dirty",
    undefined,
    true_ = "true",
    false_ = "false",
    none,
    nil,
    ok,
    // table types and options
    set, ordered_set, bag, duplicate_bag,
    public, protected, private,
    named_table, keypos, heir, read_concurrency, write_concurrency,
    decentralized_counters, compressed, auto,
    debug_hash_fixed_number_of_locks,
    // info items
    id, memory, name, node, owner, protection, size, type_ = "type",
    fixed, safe_fixed, safe_fixed_monotonic_time, stats, binary,
    // error causes
    access, table_type, badkey, position, not_owner, already_exists, badarg, system_limit,
    // match specs
    exit = "EXIT", unsupported, select, count, delete, replace, forward,
    // transfer message
    ets_transfer = "ETS-TRANSFER",
}
