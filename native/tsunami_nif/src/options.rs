//! `new/2` and `setopts/2` options: parsing the option list exactly as `:ets` does, and
//! rendering `info` values.

use crate::atoms;
use crate::convert;
use crate::error::{badarg, NifResult};
use rustler::{Atom, Encoder, Env, LocalPid, Term};
use tsunami_core::access::Protection;
use tsunami_core::table::{Heir, Options, TableType, WriteConcurrency};

/// Parsed `new/2` options. Later options override earlier ones, as in `:ets`.
pub struct NewOptions {
    pub options: Options,
    pub heir: Heir,
}

fn bool_of(t: Term) -> NifResult<bool> {
    match t.atom_to_string().ok().as_deref() {
        Some("true") => Ok(true),
        Some("false") => Ok(false),
        _ => Err(badarg()),
    }
}

/// `{heir, Pid, Data}` → the heir (none if the pid is dead), `{heir, none}` → none.
pub fn parse_heir(env: Env, elems: &[Term]) -> NifResult<Heir> {
    match elems {
        [_, none] if none.decode::<Atom>().ok() == Some(atoms::none()) => Ok(Heir::None),
        [_, pid, data] => {
            let pid: LocalPid = pid.decode().map_err(|_| badarg())?;
            if !pid.is_alive(env) {
                return Ok(Heir::None);
            }
            let boxed = rustler::types::tuple::make_tuple(env, &[*data]);
            let obj = convert::encode_object(boxed, 1, false)?;
            Ok(Heir::Pid {
                pid: convert::pid_word(&pid),
                data: obj,
            })
        }
        _ => Err(badarg()),
    }
}

/// An option tuple `{Tag, ...}`: its tag and all its elements (tag included).
pub fn tagged(item: Term) -> NifResult<(Atom, Vec<Term>)> {
    let elems = rustler::types::tuple::get_tuple(item).map_err(|_| badarg())?;
    let tag: Atom = elems
        .first()
        .ok_or_else(badarg)?
        .decode()
        .map_err(|_| badarg())?;
    Ok((tag, elems))
}

/// `public` / `protected` / `private`.
pub fn protection_of(a: Atom) -> Option<Protection> {
    match a {
        a if a == atoms::public() => Some(Protection::Public),
        a if a == atoms::protected() => Some(Protection::Protected),
        a if a == atoms::private() => Some(Protection::Private),
        _ => None,
    }
}

pub fn parse_new(env: Env, list: Term) -> NifResult<NewOptions> {
    let mut o = Options::default();
    let mut heir = Heir::None;
    let mut dc_explicit: Option<bool> = None;
    let items = convert::proper_list(list)?;
    for item in items {
        if let Some(p) = item.decode::<Atom>().ok().and_then(protection_of) {
            o.protection = p;
            continue;
        }
        if let Ok(a) = item.decode::<Atom>() {
            match a {
                // As in :ets, `set` (the default) never overrides another type:
                // `[bag, set]` is a bag.
                a if a == atoms::set() => {}
                a if a == atoms::ordered_set() => o.kind = TableType::OrderedSet,
                a if a == atoms::bag() => o.kind = TableType::Bag,
                a if a == atoms::duplicate_bag() => o.kind = TableType::DuplicateBag,
                a if a == atoms::named_table() => o.named = true,
                a if a == atoms::compressed() => o.compressed = true,
                _ => return Err(badarg()),
            }
            continue;
        }
        let (tag, elems) = tagged(item)?;
        match (tag, elems.len()) {
            (t, 2) if t == atoms::keypos() => {
                let n: i64 = elems[1].decode().map_err(|_| badarg())?;
                if n < 1 || n > u32::MAX as i64 {
                    return Err(badarg());
                }
                o.keypos = n as usize;
            }
            (t, 2 | 3) if t == atoms::heir() => heir = parse_heir(env, &elems)?,
            (t, 2) if t == atoms::read_concurrency() => o.read_concurrency = bool_of(elems[1])?,
            (t, 2) if t == atoms::decentralized_counters() => {
                dc_explicit = Some(bool_of(elems[1])?)
            }
            (t, 2) if t == atoms::write_concurrency() => {
                o.locks = None;
                let v = elems[1];
                if v.decode::<Atom>().ok() == Some(atoms::auto()) {
                    o.write_concurrency = WriteConcurrency::Auto;
                } else if let Ok(b) = bool_of(v) {
                    o.write_concurrency = if b {
                        WriteConcurrency::On
                    } else {
                        WriteConcurrency::Off
                    };
                } else {
                    let d = rustler::types::tuple::get_tuple(v).map_err(|_| badarg())?;
                    match d.as_slice() {
                        [tag, n]
                            if tag.decode::<Atom>().ok()
                                == Some(atoms::debug_hash_fixed_number_of_locks()) =>
                        {
                            let n: i64 = n.decode().map_err(|_| badarg())?;
                            if n < 1 {
                                return Err(badarg());
                            }
                            // :ets rounds down to a power of two, at least 64.
                            let n = (n.min(1 << 20) as u64 + 1).next_power_of_two() / 2;
                            o.locks = Some((n as usize).max(64));
                            o.write_concurrency = WriteConcurrency::On;
                        }
                        _ => return Err(badarg()),
                    }
                }
            }
            _ => return Err(badarg()),
        }
    }
    if o.locks.is_some() && o.kind == TableType::OrderedSet {
        return Err(badarg());
    }
    o.decentralized_counters = match o.write_concurrency {
        // :ets ignores `{decentralized_counters, true}` without write_concurrency.
        WriteConcurrency::Off => false,
        WriteConcurrency::Auto => dc_explicit.unwrap_or(true),
        // :ets: the debug lock count (like `auto`) defaults decentralized counters on.
        WriteConcurrency::On => {
            dc_explicit.unwrap_or(o.kind == TableType::OrderedSet || o.locks.is_some())
        }
    };
    // :ets drops the concurrency options of a table created private (only its owner
    // takes its locks) and reports them as false.
    if matches!(o.protection, Protection::Private) {
        o.read_concurrency = false;
        o.write_concurrency = WriteConcurrency::Off;
        o.decentralized_counters = false;
        o.locks = None;
    }
    Ok(NewOptions { options: o, heir })
}

pub fn type_atom(t: TableType) -> Atom {
    match t {
        TableType::Set => atoms::set(),
        TableType::OrderedSet => atoms::ordered_set(),
        TableType::Bag => atoms::bag(),
        TableType::DuplicateBag => atoms::duplicate_bag(),
    }
}

pub fn protection_atom(p: Protection) -> Atom {
    match p {
        Protection::Public => atoms::public(),
        Protection::Protected => atoms::protected(),
        Protection::Private => atoms::private(),
    }
}

pub fn write_concurrency_term<'a>(env: Env<'a>, o: &Options) -> Term<'a> {
    match (o.write_concurrency, o.locks) {
        (_, Some(n)) => (atoms::debug_hash_fixed_number_of_locks(), n).encode(env),
        (WriteConcurrency::Auto, _) => atoms::auto().encode(env),
        (WriteConcurrency::On, _) => true.encode(env),
        (WriteConcurrency::Off, _) => false.encode(env),
    }
}
