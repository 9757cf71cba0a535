//! Reads: `lookup`, `lookup_element`, `member`, `first`, `next`, and the chunked
//! traversal behind `tab2list`.
//!
//! Terms are built from the stored bytes while the shard's read lock is held; nothing is
//! copied out first.

use crate::atoms;
use crate::convert::{self, caller, decode, decode_obj, encode_key};
use crate::error::{badarg, raise, NifResult, OrRaise};
use crate::resource::{deleted_meanwhile, handle_of, with_live, Cursor};
use rustler::{Encoder, Env, ResourceArc, Term};
use tsunami_core::config::TRAVERSAL_CHUNK;
use tsunami_core::table::TableType;
use tsunami_core::term::element_range;
use tsunami_core::Cause;

fn lookup<'a>(env: Env<'a>, tab: Term<'a>, key: Term<'a>) -> NifResult<Term<'a>> {
    with_live(tab, |t| {
        let s = t.table.read(|| caller(env)).or_raise()?;
        let (hash, k) = encode_key(key, t.table.is_ordered())?;
        // Most lookups find zero or one object: keep the first out of the vector so
        // they allocate nothing.
        let mut first: Option<Term<'a>> = None;
        let mut rest: Vec<Term<'a>> = Vec::new();
        let mut err = None;
        s.lookup(hash, &k, |obj| match decode_obj(env, obj) {
            Ok(term) if first.is_none() => first = Some(term),
            Ok(term) => rest.push(term),
            Err(e) => err = Some(e),
        });
        if let Some(e) = err {
            return Err(e);
        }
        let tail = convert::make_list(env, &rest);
        Ok(match first {
            Some(head) => tail.list_prepend(head),
            None => tail,
        })
    })
}
fast_nif!(lookup(tab, key));

fn member<'a>(env: Env<'a>, tab: Term<'a>, key: Term<'a>) -> NifResult<bool> {
    with_live(tab, |t| {
        let s = t.table.read(|| caller(env)).or_raise()?;
        let (hash, k) = encode_key(key, t.table.is_ordered())?;
        Ok(s.member(hash, &k))
    })
}
fast_nif!(member(tab, key));

fn lookup_element<'a>(
    env: Env<'a>,
    tab: Term<'a>,
    key: Term<'a>,
    pos: Term<'a>,
) -> NifResult<Term<'a>> {
    with_live(tab, |t| {
        let s = t.table.read(|| caller(env)).or_raise()?;
        let pos: i64 = pos.decode().map_err(|_| badarg())?;
        if pos < 1 {
            return Err(badarg());
        }
        let (hash, k) = encode_key(key, t.table.is_ordered())?;
        let mut out: Vec<Term<'a>> = Vec::new();
        let mut bad = false;
        s.lookup(hash, &k, |obj| {
            match element_range(obj.body(), pos as usize).map(|r| decode(env, &obj.body()[r])) {
                Some(Ok(term)) => out.push(term),
                _ => bad = true,
            }
        });
        if bad {
            return Err(badarg());
        }
        match (t.table.options.kind, out.len()) {
            (_, 0) => Err(raise(Cause::BadKey.into())),
            (TableType::Set | TableType::OrderedSet, _) => Ok(out[0]),
            _ => Ok(convert::make_list(env, &out)),
        }
    })
}
fast_nif!(lookup_element(tab, key, pos));

fn first<'a>(env: Env<'a>, tab: Term<'a>) -> NifResult<Term<'a>> {
    with_live(tab, |t| {
        let s = t.table.read(|| caller(env)).or_raise()?;
        match s.first(|obj| decode(env, obj.key())) {
            Some(k) => k,
            None => Ok(atoms::end_of_table().encode(env)),
        }
    })
}
fast_nif!(first(tab));

fn next<'a>(env: Env<'a>, tab: Term<'a>, key: Term<'a>) -> NifResult<Term<'a>> {
    with_live(tab, |t| {
        let s = t.table.read(|| caller(env)).or_raise()?;
        let (hash, k) = encode_key(key, t.table.is_ordered())?;
        match s.next(hash, &k, |obj| decode(env, obj.key())).or_raise()? {
            Some(k) => k,
            None => Ok(atoms::end_of_table().encode(env)),
        }
    })
}
fast_nif!(next(tab, key));

fn last<'a>(env: Env<'a>, tab: Term<'a>) -> NifResult<Term<'a>> {
    with_live(tab, |t| {
        let s = t.table.read(|| caller(env)).or_raise()?;
        match s.last(|obj| decode(env, obj.key())) {
            Some(k) => k,
            None => Ok(atoms::end_of_table().encode(env)),
        }
    })
}
fast_nif!(last(tab));

fn prev<'a>(env: Env<'a>, tab: Term<'a>, key: Term<'a>) -> NifResult<Term<'a>> {
    with_live(tab, |t| {
        let s = t.table.read(|| caller(env)).or_raise()?;
        let (hash, k) = encode_key(key, t.table.is_ordered())?;
        match s.prev(hash, &k, |obj| decode(env, obj.key())).or_raise()? {
            Some(k) => k,
            None => Ok(atoms::end_of_table().encode(env)),
        }
    })
}
fast_nif!(prev(tab, key));

#[rustler::nif]
fn slot<'a>(env: Env<'a>, tab: Term<'a>, i: Term<'a>) -> NifResult<Term<'a>> {
    with_live(tab, |t| {
        let s = t.table.read(|| caller(env)).or_raise()?;
        let i: i64 = i.decode().map_err(|_| badarg())?;
        let i = usize::try_from(i).map_err(|_| badarg())?;
        let mut out: Vec<Term<'a>> = Vec::new();
        let mut err = None;
        let found = s
            .slot(i, |obj| match decode_obj(env, obj) {
                Ok(t) => out.push(t),
                Err(e) => err = Some(e),
            })
            .or_raise()?;
        if let Some(e) = err {
            return Err(e);
        }
        Ok(match found {
            true => convert::make_list(env, &out),
            false => atoms::end_of_table().encode(env),
        })
    })
}

/// Resolves a table for a multi-call operation (select and friends): checks read access
/// and returns `{Id, Keypos}`, the id staying valid across `rename`.
#[rustler::nif]
fn resolve<'a>(env: Env<'a>, tab: Term<'a>) -> NifResult<Term<'a>> {
    let h = handle_of(tab)?;
    h.table.read(|| caller(env)).or_raise()?;
    Ok((h.clone(), h.table.keypos()).encode(env))
}

/// One chunk of a whole-table traversal. `cont` is `nil` to start, else the cursor the
/// previous chunk returned. Returns `{Objects, Cursor | '$end_of_table'}`.
#[rustler::nif]
fn tab2list_chunk<'a>(env: Env<'a>, tab: Term<'a>, cont: Term<'a>) -> NifResult<Term<'a>> {
    let clock = super::WalkClock::start();
    let cursor: ResourceArc<Cursor> = match cont.decode::<ResourceArc<Cursor>>() {
        Ok(c) => c,
        Err(_) => {
            let h = handle_of(tab)?;
            h.table.read(|| caller(env)).or_raise()?;
            ResourceArc::new(Cursor::new(h))
        }
    };
    let s = cursor.handle.table.read(|| caller(env)).or_raise()?;
    let mut pos_slot = cursor.pos.lock().unwrap_or_else(|e| e.into_inner());
    let Some(pos) = pos_slot.take() else {
        return Ok((Vec::<Term>::new(), atoms::end_of_table()).encode(env));
    };
    let mut out: Vec<Term<'a>> = Vec::new();
    let mut err = None;
    let next = s.visit(&pos, TRAVERSAL_CHUNK, |obj| match decode_obj(env, obj) {
        Ok(t) => out.push(t),
        Err(e) => err = Some(e),
    });
    let more = next.is_some() && err.is_none();
    if more {
        *pos_slot = next;
    }
    if let Some(e) = err {
        return Err(e);
    }
    deleted_meanwhile(&cursor.handle)?;
    clock.charge(env, out.len());
    let list = convert::make_list(env, &out);
    Ok(match more {
        true => (list, cursor.encode(env)).encode(env),
        false => (list, atoms::end_of_table()).encode(env),
    })
}
