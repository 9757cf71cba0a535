//! Writes: `insert`, `insert_new`, `delete/2`, `delete_object`, `take`,
//! `update_counter`, `update_element`.
//!
//! Objects are encoded (the expensive part) before any lock is taken; replaced or removed
//! objects are freed after the lock is released.

use crate::atoms;
use crate::convert::{
    self, caller, decode_obj, encode_key, encode_object, encode_value, proper_list,
};
use crate::error::{badarg, raise, NifResult, OrRaise};
use crate::resource::{with_live, TableRes};
use rustler::types::tuple::{get_tuple, make_tuple};
use rustler::{Encoder, Env, Term};
use tsunami_core::backend::{KeyMode, Storage};
use tsunami_core::table::update::{apply_counter, apply_element, CounterOp};
use tsunami_core::table::TableType;
use tsunami_core::term::int::Int;
use tsunami_core::term::{Obj, ObjBuilder, Writer};

use tsunami_core::Cause;

/// Lists longer than this are inserted by the dirty-scheduler variant.
const DIRTY_INSERT_LEN: usize = 2_000;

/// OTP 25's `:ets` checks a list for a set or ordered_set (8 objects a reduction), then
/// inserts it directly, in list order (of several objects with one key the last stays),
/// if the reductions left cover it at 8 objects each; otherwise it copies the list and
/// inserts the copy *reversed* (the first stays). So a list goes in order only while it
/// has at most 4 objects per reduction left in the caller's time slice of 4000: a longer
/// one always keeps the first; a shorter one mostly the last, but which one depends on
/// where the call lands in the time slice (the docs leave it unspecified). Tsunami keeps
/// the last up to this length and the first beyond it.
const ETS_REVERSED_LIST_LEN: usize = 4 * 4000;

/// `update_counter` op lists longer than this run on a dirty scheduler: the ops must be
/// applied under one lock (the call is atomic), so they cannot be split across calls;
/// parsing and applying an op costs well under 0.5 µs, so 2000 stay under 1 ms.
const DIRTY_COUNTER_OPS: usize = 2_000;

/// Whether `term` is a list with more than `n` cells (looks at `n + 1` cells at most,
/// so a normal-scheduler call does not walk a million-element list just to measure it).
fn list_longer_than(term: Term, n: usize) -> bool {
    let mut t = term;
    for _ in 0..=n {
        match t.list_get_cell() {
            Ok((_, tail)) => t = tail,
            Err(_) => return false,
        }
    }
    true
}

fn objects(t: &TableRes, term: Term) -> NifResult<Vec<Obj>> {
    let keypos = t.table.keypos();
    if term.is_list() {
        let mut out = Vec::new();
        for item in proper_list(term)? {
            out.push(encode_object(item, keypos, t.table.is_ordered())?);
        }
        Ok(out)
    } else {
        Ok(vec![encode_object(term, keypos, t.table.is_ordered())?])
    }
}

fn do_insert<'a>(
    env: Env<'a>,
    tab: Term<'a>,
    objs: Term<'a>,
    only_new: bool,
    dirty: bool,
) -> NifResult<Term<'a>> {
    with_live(tab, |t| {
        let s = t.table.write(|| caller(env)).or_raise()?;
        if !dirty && list_longer_than(objs, DIRTY_INSERT_LEN) {
            return Ok(atoms::tsunami_dirty().encode(env));
        }
        let mut objs = objects(t, objs)?;
        if objs.len() > ETS_REVERSED_LIST_LEN
            && matches!(t.table.kind(), TableType::Set | TableType::OrderedSet)
        {
            objs.reverse();
        }
        let (ok, garbage) = if objs.len() == 1 && !only_new {
            (true, s.insert(objs.pop().expect("one")))
        } else if dirty {
            // A process killed while its dirty NIF runs has exited (and its monitors
            // have fired) before the NIF returns. As `:ets` does, the insert then happens
            // entirely before the exit or not at all: checked with every lock held, so
            // whoever saw the exit and reads afterwards waits for, or never sees, it.
            let me = env.pid();
            s.insert_many_if(objs, only_new, &|| me.is_alive(env))
        } else {
            s.insert_many(objs, only_new)
        };
        Storage::discard(garbage);
        Ok(ok.encode(env))
    })
}

fn insert<'a>(env: Env<'a>, tab: Term<'a>, objs: Term<'a>) -> NifResult<Term<'a>> {
    do_insert(env, tab, objs, false, false)
}
fast_nif!(insert(tab, objs));

#[rustler::nif(schedule = "DirtyCpu")]
fn insert_dirty<'a>(env: Env<'a>, tab: Term<'a>, objs: Term<'a>) -> NifResult<Term<'a>> {
    do_insert(env, tab, objs, false, true)
}

fn insert_new<'a>(env: Env<'a>, tab: Term<'a>, objs: Term<'a>) -> NifResult<Term<'a>> {
    do_insert(env, tab, objs, true, false)
}
fast_nif!(insert_new(tab, objs));

#[rustler::nif(schedule = "DirtyCpu")]
fn insert_new_dirty<'a>(env: Env<'a>, tab: Term<'a>, objs: Term<'a>) -> NifResult<Term<'a>> {
    do_insert(env, tab, objs, true, true)
}

fn delete_key<'a>(env: Env<'a>, tab: Term<'a>, key: Term<'a>) -> NifResult<bool> {
    with_live(tab, |t| {
        let s = t.table.write(|| caller(env)).or_raise()?;
        let (hash, k) = encode_key(key, t.table.is_ordered())?;
        Storage::discard(s.take(hash, &k));
        Ok(true)
    })
}
fast_nif!(delete_key(tab, key));

fn delete_object<'a>(env: Env<'a>, tab: Term<'a>, obj: Term<'a>) -> NifResult<bool> {
    with_live(tab, |t| {
        let s = t.table.write(|| caller(env)).or_raise()?;
        let obj = encode_object(obj, t.table.keypos(), t.table.is_ordered())?;
        Storage::discard(s.delete_object(&obj));
        Ok(true)
    })
}
fast_nif!(delete_object(tab, obj));

fn take<'a>(env: Env<'a>, tab: Term<'a>, key: Term<'a>) -> NifResult<Term<'a>> {
    with_live(tab, |t| {
        let s = t.table.write(|| caller(env)).or_raise()?;
        let (hash, k) = encode_key(key, t.table.is_ordered())?;
        let removed = s.take(hash, &k);
        let terms = removed
            .iter()
            .map(|o| decode_obj(env, o))
            .collect::<NifResult<Vec<_>>>()?;
        Storage::discard(removed);
        Ok(convert::make_list(env, &terms))
    })
}
fast_nif!(take(tab, key));

fn int_of(t: Term) -> NifResult<Int> {
    if let Some(v) = convert::small_int(t) {
        return Ok(Int::Fix(v as i128));
    }
    let (bytes, _) = encode_value(t)?;
    Int::read(&bytes, 0).ok_or_else(badarg)
}

fn pos_of(t: Term) -> NifResult<usize> {
    let p: i64 = t.decode().map_err(|_| badarg())?;
    usize::try_from(p).map_err(|_| badarg())
}

/// A counter position: an integer; below 1 is out of range (cause `position`, checked
/// against the object), not a type error.
fn counter_pos_of(t: Term) -> NifResult<usize> {
    let p: i64 = t.decode().map_err(|_| badarg())?;
    Ok(usize::try_from(p).unwrap_or(0))
}

/// A parsed counter op, or `None` for a malformed one. :ets checks op by op, in order,
/// so a malformed op fails only after the ops before it were checked.
type ParsedOp = Option<CounterOp>;

fn counter_op(t: Term, keypos: usize, in_list: bool) -> ParsedOp {
    if let Ok(elems) = get_tuple(t) {
        let (p, rest) = match elems.as_slice() {
            [p, rest @ ..] if rest.len() == 1 || rest.len() == 3 => (*p, rest.to_vec()),
            _ => return None,
        };
        return Some(CounterOp {
            pos: counter_pos_of(p).ok()?,
            incr: int_of(rest[0]).ok()?,
            threshold: match rest.as_slice() {
                [_, th, sv] => Some((int_of(*th).ok()?, int_of(*sv).ok()?)),
                _ => None,
            },
        });
    }
    if in_list {
        // In a list every op is a tuple (a bare increment is not allowed there).
        return None;
    }
    Some(CounterOp {
        pos: keypos + 1,
        incr: int_of(t).ok()?,
        threshold: None,
    })
}

/// The well-formed ops before the first malformed one, and whether there was one: :ets
/// checks ops in order, so the earlier ops' errors come first.
/// The ops of a list, an improper tail counting as one more bad op: :ets applies the
/// ops before it (so a bad position there is reported as such) and a missing key is
/// still `badkey`.
fn list_ops(mut ops: Term, keypos: usize) -> Vec<ParsedOp> {
    let mut parsed = Vec::new();
    while let Ok((head, tail)) = ops.list_get_cell() {
        parsed.push(counter_op(head, keypos, true));
        ops = tail;
    }
    if !ops.is_empty_list() {
        parsed.push(None);
    }
    parsed
}

fn good_ops(ops: Vec<ParsedOp>) -> (Vec<CounterOp>, bool) {
    let n = ops.len();
    let good: Vec<CounterOp> = ops.into_iter().map_while(|o| o).collect();
    let bad = good.len() < n;
    (good, bad)
}

/// The default object for `/4` variants: a tuple of at least `keypos` elements, its key
/// element replaced by `key`. A non-tuple is refused at once; a tuple too short for the
/// key is `Ok(Err(its encoding))`: :ets reports it only when the key is missing.
#[allow(clippy::type_complexity)]
fn default_object<'a>(
    t: &TableRes,
    key: Term<'a>,
    default: Term<'a>,
) -> NifResult<Result<Option<Obj>, Vec<u8>>> {
    if default.as_c_arg() == atoms::nil().as_c_arg() {
        return Ok(Ok(None));
    }
    let keypos = t.table.keypos();
    let mut elems = get_tuple(default).map_err(|_| badarg())?;
    if elems.len() < keypos {
        return Ok(Err(encode_value(default)?.0));
    }
    elems[keypos - 1] = key;
    Ok(Ok(Some(encode_object(
        make_tuple(key.get_env(), &elems),
        keypos,
        t.table.is_ordered(),
    )?)))
}

fn unique_storage<'t>(env: Env, t: &'t TableRes) -> NifResult<&'t Storage> {
    let s = t.table.write(|| caller(env)).or_raise()?;
    if s.mode() != KeyMode::Unique {
        return Err(raise(Cause::TableType.into()));
    }
    Ok(s)
}

/// `update_counter/3,4`; `default` is `nil` for the /3 form. Answers `'$tsunami_dirty'`
/// for an op list too long for a normal scheduler: the caller then calls
/// `update_counter_dirty/4`.
fn update_counter<'a>(
    env: Env<'a>,
    tab: Term<'a>,
    key: Term<'a>,
    ops: Term<'a>,
    default: Term<'a>,
) -> NifResult<Term<'a>> {
    do_update_counter(env, tab, key, ops, default, false)
}
fast_nif!(update_counter(tab, key, ops, default));

#[rustler::nif(schedule = "DirtyCpu")]
fn update_counter_dirty<'a>(
    env: Env<'a>,
    tab: Term<'a>,
    key: Term<'a>,
    ops: Term<'a>,
    default: Term<'a>,
) -> NifResult<Term<'a>> {
    do_update_counter(env, tab, key, ops, default, true)
}

fn do_update_counter<'a>(
    env: Env<'a>,
    tab: Term<'a>,
    key: Term<'a>,
    ops: Term<'a>,
    default: Term<'a>,
    dirty: bool,
) -> NifResult<Term<'a>> {
    with_live(tab, |t| {
        let s = unique_storage(env, t)?;
        if !dirty && list_longer_than(ops, DIRTY_COUNTER_OPS) {
            return Ok(atoms::tsunami_dirty().encode(env));
        }
        let keypos = t.table.keypos();
        // A bad op is only reported once there is an object to apply it to: for a
        // missing key without default :ets says `badkey` whatever the ops are.
        let list = ops.is_list();
        let (good, bad) = if list {
            good_ops(list_ops(ops, keypos))
        } else {
            good_ops(vec![counter_op(ops, keypos, false)])
        };
        let default = default_object(t, key, default)?;
        let (short_default, default) = match default {
            Ok(d) => (None, d),
            Err(e) => (Some(e), None),
        };
        let (hash, k) = encode_key(key, t.table.is_ordered())?;
        let (results, garbage) = s
            .update(hash, &k, default, |obj| {
                apply_counter(obj, keypos, &good, bad)
            })
            .map_err(|e| match (e, &short_default) {
                (tsunami_core::Error::BadArg(Cause::BadKey), Some(enc)) => {
                    raise(short_default_error(enc, keypos, &good, bad))
                }
                (e, _) => raise(e),
            })?;
        Storage::discard(garbage);
        if list {
            let terms = results
                .iter()
                .map(|r| convert::int_term(env, r))
                .collect::<NifResult<Vec<_>>>()?;
            Ok(convert::make_list(env, &terms))
        } else {
            convert::int_term(env, &results[0])
        }
    })
}

/// A default too short for the key: :ets applies the ops to it and fails on the first
/// position it cannot take.
fn short_default_error(
    enc: &[u8],
    keypos: usize,
    good: &[CounterOp],
    bad: bool,
) -> tsunami_core::Error {
    let mut w = Writer::default();
    w.raw(enc);
    match ObjBuilder::finish(&w, 1, None) {
        Some(mut o) => match apply_counter(&mut o, keypos, good, bad) {
            Err(e) => e,
            Ok(_) => Cause::Position.into(),
        },
        // `{}`: no position exists.
        None => match good.first() {
            Some(op) if op.pos == keypos => Cause::KeyPos.into(),
            None if bad => Cause::Type.into(),
            _ => Cause::Position.into(),
        },
    }
}

/// `{Pos, Value}` or a list of them: positions and encoded values, and whether any value
/// needs keeping alive.
type ElementSpec = Vec<(usize, Vec<u8>)>;

/// The well-formed leading ops, whether a malformed op (or an improper tail) follows
/// them, and whether any value needs keeping alive. :ets checks the ops in order, so a
/// key position among the leading ones is still `keypos`.
fn element_spec(ops: Term) -> NifResult<(ElementSpec, bool, bool)> {
    let mut parsed = Vec::new();
    let mut pinned = false;
    let mut op = |it: Term| -> NifResult<bool> {
        match get_tuple(it).as_deref() {
            Ok([p, v]) => match pos_of(*p) {
                Ok(pos) => {
                    let (bytes, pins) = encode_value(*v)?;
                    pinned |= pins;
                    parsed.push((pos, bytes));
                    Ok(true)
                }
                Err(_) => Ok(false),
            },
            _ => Ok(false),
        }
    };
    let bad = if ops.is_list() {
        let mut rest = ops;
        loop {
            match rest.list_get_cell() {
                Ok((head, tail)) if op(head)? => rest = tail,
                Ok(_) => break true,
                Err(_) => break !rest.is_empty_list(),
            }
        }
    } else {
        !op(ops)?
    };
    Ok((parsed, bad, pinned))
}

/// `update_element/3,4`; `default` is `nil` for the /3 form. With a default, a missing
/// object is inserted (its key element set to `key`) and updated in one atomic step.
/// Answers `'$tsunami_dirty'` for an op list too long for a normal scheduler (it must be
/// applied under one lock, so it cannot be split): the caller then calls
/// `update_element_dirty/4`.
fn update_element<'a>(
    env: Env<'a>,
    tab: Term<'a>,
    key: Term<'a>,
    ops: Term<'a>,
    default: Term<'a>,
) -> NifResult<Term<'a>> {
    do_update_element(env, tab, key, ops, default, false)
}
fast_nif!(update_element(tab, key, ops, default));

#[rustler::nif(schedule = "DirtyCpu")]
fn update_element_dirty<'a>(
    env: Env<'a>,
    tab: Term<'a>,
    key: Term<'a>,
    ops: Term<'a>,
    default: Term<'a>,
) -> NifResult<Term<'a>> {
    do_update_element(env, tab, key, ops, default, true)
}

fn do_update_element<'a>(
    env: Env<'a>,
    tab: Term<'a>,
    key: Term<'a>,
    ops: Term<'a>,
    default: Term<'a>,
    dirty: bool,
) -> NifResult<Term<'a>> {
    with_live(tab, |t| {
        // :ets gives no cause for update_element on a bag.
        let s = t.table.write(|| caller(env)).or_raise()?;
        if s.mode() != KeyMode::Unique {
            return Err(badarg());
        }
        if !dirty && list_longer_than(ops, DIRTY_COUNTER_OPS) {
            return Ok(atoms::tsunami_dirty().encode(env));
        }
        let keypos = t.table.keypos();
        // A bad spec is only an error when the key exists (:ets returns `false` for a
        // missing key whatever the spec is).
        let (parsed, bad, pinned) = match element_spec(ops) {
            Ok((parsed, bad, pinned)) => (Ok(parsed), bad, pinned),
            Err(e) => (Err(e), true, false),
        };
        // New values holding references are kept alive with the object: while the update
        // runs, by a keep-alive of the ops; after it, by one of the whole new object.
        let ops_pin = pinned.then(|| convert::keep_alive(ops));
        let default = default_object(t, key, default)?.map_err(|_| badarg())?;
        let (hash, k) = encode_key(key, t.table.is_ordered())?;
        let r = s.update(hash, &k, default, |obj| {
            let parsed = parsed.as_ref().map_err(|_| Cause::Type)?;
            let w = apply_element(obj.body(), keypos, parsed)?;
            if bad {
                return Err(Cause::Type.into());
            }
            let repin = obj.is_pinned() || ops_pin.is_some();
            obj.replace_body(keypos, &w).ok_or(Cause::Type)?;
            if repin {
                // The old pin still holds what the new body kept from the old one, and
                // `ops_pin` what came from the ops, until the new pin is made.
                obj.set_pin(convert::keep_alive_encoded(obj.body()));
            }
            Ok(())
        });
        drop(ops_pin);
        match r {
            Ok((_, garbage)) => {
                Storage::discard(garbage);
                Ok(true.encode(env))
            }
            Err(tsunami_core::Error::BadArg(Cause::BadKey)) => Ok(false.encode(env)),
            Err(e) => Err(raise(e)),
        }
    })
}
