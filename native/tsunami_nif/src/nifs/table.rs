//! Table lifecycle and metadata: `new`, `delete/1`, `whereis`, `all`, `info/1,2`, `rename`,
//! `give_away`, `setopts`.

use crate::atoms;
use crate::convert::{self, caller};
use crate::error::{badarg, raise, NifResult, OrRaise};
use crate::options::{self, parse_heir, protection_atom, type_atom, write_concurrency_term};
use crate::resource::{self, handle_of, with_table, Handle, TableRes, REGISTRY};
use rustler::{Atom, Encoder, Env, LocalPid, Term};
use tsunami_core::backend::{Stats, Storage};
use tsunami_core::table::Heir;
use tsunami_core::Cause;

#[rustler::nif]
fn new<'a>(env: Env<'a>, name: Term<'a>, opts: Term<'a>) -> NifResult<Term<'a>> {
    if !name.is_atom() {
        return Err(badarg());
    }
    let parsed = options::parse_new(env, opts)?;
    let named = parsed.options.named;
    let h = resource::create(
        env,
        convert::word(name.as_c_arg()),
        parsed.options,
        parsed.heir,
    )?;
    Ok(if named { name } else { h.encode(env) })
}

#[rustler::nif]
fn delete<'a>(env: Env<'a>, tab: Term<'a>) -> NifResult<Atom> {
    with_table(tab, |t| {
        t.table.write(|| caller(env)).or_raise()?;
        if resource::delete(env, t) {
            Ok(atoms::true_())
        } else {
            Err(raise(Cause::Id.into()))
        }
    })
}

#[rustler::nif]
fn whereis<'a>(env: Env<'a>, name: Term<'a>) -> NifResult<Term<'a>> {
    if !name.is_atom() {
        return Err(badarg());
    }
    let found = REGISTRY.with_name(convert::word(name.as_c_arg()), |h| h.clone());
    Ok(match found {
        Some(h) if resource::settle_owner(env, &h) => h.encode(env),
        _ => atoms::undefined().encode(env),
    })
}

#[rustler::nif]
fn all(env: Env) -> Vec<Term> {
    REGISTRY
        .all()
        .iter()
        .filter(|h| resource::settle_owner(env, h))
        .map(|h| resource::tab_term(env, h))
        .collect()
}

/// `info/1,2` (the Elixir side passes `node()`) return `undefined` for unknown names and deleted tables, badarg for
/// non-table terms.
fn info_target(env: Env, tab: Term) -> NifResult<Option<Handle>> {
    match handle_of(tab) {
        Ok(h) if resource::settle_owner(env, &h) => Ok(Some(h)),
        Ok(_) => Ok(None),
        Err(_) if tab.is_atom() => Ok(None),
        Err(_) => Err(raise(Cause::NotATable.into())),
    }
}

const INFO_ORDER: [&str; 15] = [
    "id",
    "decentralized_counters",
    "read_concurrency",
    "write_concurrency",
    "compressed",
    "memory",
    "owner",
    "heir",
    "name",
    "size",
    "node",
    "named_table",
    "type",
    "keypos",
    "protection",
];

fn item<'a>(env: Env<'a>, h: &Handle, item: &str, node: Term<'a>) -> Option<Term<'a>> {
    let t = &h.table;
    let o = &t.options;
    let storage = t.storage().ok()?;
    Some(match item {
        "id" => h.encode(env),
        "decentralized_counters" => o.decentralized_counters.encode(env),
        "read_concurrency" => o.read_concurrency.encode(env),
        "write_concurrency" => write_concurrency_term(env, o),
        "compressed" => o.compressed.encode(env),
        "memory" => {
            let words = (storage.memory_bytes() + std::mem::size_of::<TableRes>()) / 8;
            words.encode(env)
        }
        "owner" => convert::pid_term(env, t.owner()),
        "heir" => match &*t.heir.lock() {
            Heir::None => atoms::none().encode(env),
            Heir::Pid { pid, .. } => convert::pid_term(env, *pid),
        },
        "name" => convert::atom_term(env, t.name()),
        "size" => storage.len().encode(env),
        "node" => node,
        "named_table" => o.named.encode(env),
        "type" => type_atom(o.kind).encode(env),
        "keypos" => o.keypos.encode(env),
        "protection" => protection_atom(t.protection()).encode(env),
        "fixed" => storage.is_fixed().encode(env),
        // `{MonotonicNs, [{Pid, Count}]}`; the Elixir side converts the time.
        "safe_fixed" | "safe_fixed_monotonic_time" => {
            let f = h.fixations.lock().unwrap_or_else(|e| e.into_inner());
            if f.by_pid.is_empty() {
                false.encode(env)
            } else {
                let pids: Vec<Term> = f
                    .by_pid
                    .iter()
                    .map(|(p, n)| (convert::pid_term(env, *p), *n).encode(env))
                    .collect();
                (f.since_ns, pids).encode(env)
            }
        }
        "binary" => Vec::<Term>::new().encode(env),
        "stats" => stats_term(env, storage),
        _ => return None,
    })
}

/// `info(T, stats)`. Hash tables, in the shape of ETS's: `{Buckets, MeanChain,
/// StdDevChain, ExpectedStdDev, MinChain, MaxChain, KeptObjects, LockStripes}` (kept:
/// objects deleted while the table is fixed, freed when it is unfixed). `ordered_set`:
/// `{BaseNodes, 0, 0, Size, MemoryBytes}`.
fn stats_term<'a>(env: Env<'a>, storage: &Storage) -> Term<'a> {
    match storage.stats() {
        Stats::Hash {
            shards,
            chains: c,
            kept,
        } => {
            let n = c.buckets.max(1) as f64;
            let mean = c.sum as f64 / n;
            let var = (c.sum_sq as f64 / n - mean * mean).max(0.0);
            // A uniform hash puts a binomial number of objects in each bucket.
            let expected = (mean * (1.0 - 1.0 / n)).max(0.0).sqrt();
            let min = if c.buckets == 0 { 0 } else { c.min };
            let items = [
                c.buckets.encode(env),
                mean.encode(env),
                var.sqrt().encode(env),
                expected.encode(env),
                min.encode(env),
                c.max.encode(env),
                kept.encode(env),
                shards.encode(env),
            ];
            rustler::types::tuple::make_tuple(env, &items)
        }
        Stats::Tree { base_nodes } => {
            (base_nodes, 0, 0, storage.len(), storage.memory_bytes()).encode(env)
        }
    }
}

#[rustler::nif]
fn info<'a>(env: Env<'a>, tab: Term<'a>, node: Term<'a>) -> NifResult<Term<'a>> {
    let Some(h) = info_target(env, tab)? else {
        return Ok(atoms::undefined().encode(env));
    };
    let mut out = Vec::with_capacity(INFO_ORDER.len());
    for name in INFO_ORDER {
        let Some(v) = item(env, &h, name, node) else {
            return Ok(atoms::undefined().encode(env));
        };
        let key = Atom::from_str(env, name).map_err(|_| badarg())?;
        out.push((key, v).encode(env));
    }
    Ok(out.encode(env))
}

#[rustler::nif]
fn info_item<'a>(
    env: Env<'a>,
    tab: Term<'a>,
    what: Term<'a>,
    node: Term<'a>,
) -> NifResult<Term<'a>> {
    let Some(h) = info_target(env, tab)? else {
        return Ok(atoms::undefined().encode(env));
    };
    let name = what.atom_to_string().map_err(|_| badarg())?;
    if matches!(
        name.as_str(),
        "fixed" | "safe_fixed" | "safe_fixed_monotonic_time" | "stats"
    ) {
        resource::release_dead_fixers(env, &h);
    }
    // A hash table's stats walk every bucket and chain, tombstones of a fixed table
    // included (ETS's do too): off the normal scheduler when there are many
    // (`info_stats_dirty/1`).
    // A table unfixed with a sweep still pending goes there too (the dirty call sweeps).
    let big = |s: &Storage| {
        let kept = s.kept();
        s.len() + kept > DIRTY_STATS_OBJECTS || (kept > 0 && !s.is_fixed())
    };
    if name == "stats" && h.table.storage().is_ok_and(big) {
        return Ok(atoms::tsunami_dirty().encode(env));
    }
    match item(env, &h, &name, node) {
        Some(v) => Ok(v),
        None if h.table.is_deleted() => Ok(atoms::undefined().encode(env)),
        None => Err(badarg()),
    }
}

/// Tables with more objects (kept ones included) than this compute `info(T, stats)` on a
/// dirty scheduler: a hash table's figures visit every bucket and chain (about 10 ns
/// each when cached, a cache miss each when not).
const DIRTY_STATS_OBJECTS: usize = 20_000;

/// `info(T, stats)` of a big table, on a dirty scheduler (after `info_item/3` checked the
/// table and released dead fixers).
#[rustler::nif(schedule = "DirtyCpu")]
fn info_stats_dirty<'a>(env: Env<'a>, tab: Term<'a>) -> NifResult<Term<'a>> {
    let h = handle_of(tab)?;
    Ok(match h.table.storage() {
        Ok(storage) => {
            // A sweep still pending on the reaper thread after the last unfix is done
            // here, so the figures show nothing kept once the table is unfixed, as ETS's
            // do (a no-op when already swept, or when the table is fixed again).
            if !storage.is_fixed() {
                storage.sweep_kept();
            }
            stats_term(env, storage)
        }
        Err(_) => atoms::undefined().encode(env),
    })
}

#[rustler::nif]
fn rename<'a>(env: Env<'a>, tab: Term<'a>, name: Term<'a>) -> NifResult<Term<'a>> {
    // The table is checked first, as :ets does: a bad name on a bad table reports the
    // table's cause (id, access, type).
    let h = handle_of(tab)?;
    h.table.write(|| caller(env)).or_raise()?;
    if !name.is_atom() {
        return Err(badarg());
    }
    let new = convert::word(name.as_c_arg());
    if h.table.options.named {
        // A taken name (the table's own too) is a plain badarg for :ets (no
        // `already_exists` cause here). The registry reads the current name and records
        // the new one in one step, so a racing `delete/1` or `rename/2` cannot interleave.
        REGISTRY
            .rename(h.table.id, new, |t| t.table.set_name(new))
            .map_err(|e| match e {
                tsunami_core::Error::BadArg(Cause::AlreadyExists) => badarg(),
                e => raise(e),
            })?;
        Ok(name)
    } else {
        h.table.set_name(new);
        Ok(h.encode(env))
    }
}

#[rustler::nif]
fn give_away<'a>(env: Env<'a>, tab: Term<'a>, pid: Term<'a>, data: Term<'a>) -> NifResult<Atom> {
    let h = handle_of(tab)?;
    let me = caller(env);
    // :ets checks write access first (cause `access`), then the receiver (a live local
    // process, plain badarg), then ownership (`not_owner`), then that the receiver is
    // not the owner itself (`owner`).
    h.table.write(|| me).or_raise()?;
    let to: LocalPid = pid.decode().map_err(|_| badarg())?;
    if !to.is_alive(env) {
        return Err(badarg());
    }
    h.table.owner_only(me).or_raise()?;
    if convert::pid_word(&to) == me {
        return Err(raise(Cause::Owner.into()));
    }
    resource::transfer(env, &h, &to);
    let msg = (
        atoms::ets_transfer(),
        resource::tab_term(env, &h),
        env.pid(),
        data,
    );
    let _ = env.send(&to, msg);
    Ok(atoms::true_())
}

#[rustler::nif]
fn setopts<'a>(env: Env<'a>, tab: Term<'a>, opts: Term<'a>) -> NifResult<Atom> {
    let h = handle_of(tab)?;
    if h.table.is_deleted() {
        return Err(raise(Cause::Id.into()));
    }
    // :ets: `access` without write access, a plain badarg for another process
    // on a public table.
    h.table.write(|| caller(env)).or_raise()?;
    if caller(env) != h.table.owner() {
        return Err(badarg());
    }
    let items: Vec<Term> = if opts.is_list() {
        convert::proper_list(opts)?.collect()
    } else {
        vec![opts]
    };
    // Validate everything first, then apply: a bad option changes nothing.
    let mut heir = None;
    let mut protection = None;
    for item in items {
        let (tag, elems) = options::tagged(item)?;
        if tag == atoms::heir() {
            heir = Some(parse_heir(env, &elems)?);
        } else if tag == atoms::protection() && elems.len() == 2 {
            let p: Atom = elems[1].decode().map_err(|_| badarg())?;
            protection = Some(options::protection_of(p).ok_or_else(badarg)?);
        } else {
            return Err(badarg());
        }
    }
    if let Some(heir) = heir {
        resource::set_heir(env, &h, heir);
    }
    if let Some(p) = protection {
        h.table.set_protection(p);
    }
    Ok(atoms::true_())
}

#[rustler::nif]
fn safe_fixtable<'a>(env: Env<'a>, tab: Term<'a>, on: Term<'a>) -> NifResult<Atom> {
    let h = handle_of(tab)?;
    h.table.read(|| caller(env)).or_raise()?;
    match on.atom_to_string().ok().as_deref() {
        Some("true") => resource::fix(env, &h, &env.pid()),
        Some("false") => resource::unfix(&h, caller(env)),
        _ => return Err(badarg()),
    }
    Ok(atoms::true_())
}

#[rustler::nif]
fn delete_all_objects<'a>(env: Env<'a>, tab: Term<'a>) -> NifResult<Atom> {
    resource::with_live(tab, |t| {
        t.table.write(|| caller(env)).or_raise()?.clear();
        Ok(atoms::true_())
    })
}
