//! The match-spec engine's NIFs: compile a spec once per call, run it over the next chunk
//! of a table walk (or over the objects of given keys), and hand back results, a count,
//! or the count of objects deleted or replaced.
//!
//! `select_replace` (mode `replace`) replaces in the walk, under the write lock the walk
//! holds on the object (a hash shard, a tree's base node), as ETS does: no concurrent
//! writer can change an object between the spec reading it and its replacement. The
//! spec's result is decoded and encoded again as a stored object (so it gets its own
//! keep-alive if it holds references or funs) while the lock is held; its key must be
//! exactly the old one's. `Tsunami.select_replace/2` has already rejected, like `:ets`,
//! any spec whose clauses do not visibly keep the key (that check is static in ETS too:
//! `db_match_keeps_key`), so a refused key here would be an engine bug; it raises badarg,
//! with the replacements before it kept.
//!
//! Objects the core cannot decide alone ([`Outcome::Fallback`]: bignum arithmetic and the
//! like) come back to `Tsunami.Select`, which runs OTP's engine on just those: in a result
//! list as `{Marker, Object}` with a fresh reference as the marker, or as a list of
//! objects beside a count.

use crate::atoms;
use crate::convert::{self, caller, decode, encode_key, encode_object, word};
use crate::error::{badarg, NifResult, OrRaise};
use crate::resource::{handle_of, with_live, Cursor};
use rustler::{Encoder, Env, Resource, ResourceArc, Term};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use tsunami_core::backend::{Edit, Storage, Verdict};
use tsunami_core::config::{REPLACE_CHUNK, TRAVERSAL_CHUNK};
use tsunami_core::matchspec::{MatchSpec, Outcome, Place, RunEnv, Vm, Words};
use tsunami_core::term::{self, order, Obj, ObjBuilder, Writer};

/// A compiled spec, held by a call's continuation.
pub struct CompiledSpec {
    ms: MatchSpec,
    node: u64,
}

#[rustler::resource_impl]
impl Resource for CompiledSpec {}

/// Objects the engine has looked at, all tables together (a debug counter: tests use it
/// to see that a range walk visits only its range).
static VISITED: AtomicU64 = AtomicU64::new(0);

struct NifVm<'a>(Env<'a>);

impl Vm for NifVm<'_> {
    fn atom_name(&self, raw: u64) -> Option<Vec<u8>> {
        convert::atom_name(self.0, raw)
    }
}

fn atom_word(env: Env, a: rustler::Atom) -> u64 {
    word(a.encode(env).as_c_arg())
}

/// `Spec` (already validated by `ets:match_spec_compile/1`) → a compiled spec, or
/// `unsupported` when the core's compiler does not know it.
#[rustler::nif]
fn ms_compile<'a>(env: Env<'a>, spec: Term<'a>, node: Term<'a>) -> NifResult<Term<'a>> {
    if !node.is_atom() {
        return Err(badarg());
    }
    let bytes = convert::encode_named(spec)?;
    let words = Words {
        true_: atom_word(env, atoms::true_()),
        false_: atom_word(env, atoms::false_()),
        exit: atom_word(env, atoms::exit()),
    };
    Ok(match MatchSpec::compile(&bytes, words) {
        Some(ms) => ResourceArc::new(CompiledSpec {
            ms,
            node: word(node.as_c_arg()),
        })
        .encode(env),
        None => atoms::unsupported().encode(env),
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Select,
    Count,
    Delete,
    Replace,
}

impl Mode {
    /// The table's storage, if the caller may run this mode on it (delete and replace
    /// write; select and count read).
    fn storage<'t>(
        &self,
        env: Env,
        table: &'t tsunami_core::table::Table,
    ) -> NifResult<&'t Storage> {
        match self {
            Mode::Delete | Mode::Replace => table.write(|| caller(env)).or_raise(),
            Mode::Select | Mode::Count => table.read(|| caller(env)).or_raise(),
        }
    }
}

fn mode(t: Term) -> NifResult<Mode> {
    let a: rustler::Atom = t.decode().map_err(|_| badarg())?;
    if a == atoms::select() {
        Ok(Mode::Select)
    } else if a == atoms::count() {
        Ok(Mode::Count)
    } else if a == atoms::delete() {
        Ok(Mode::Delete)
    } else if a == atoms::replace() {
        Ok(Mode::Replace)
    } else {
        Err(badarg())
    }
}

/// What one batch of objects gave.
struct Acc<'a> {
    env: Env<'a>,
    mode: Mode,
    items: Vec<Term<'a>>,
    count: u64,
    /// Fallback objects (count/delete), or whether a marker is in `items` (select).
    fallback: Vec<Term<'a>>,
    marker: Option<Term<'a>>,
    /// Bodies of objects to delete once the walk's lock is released.
    doomed: Vec<Vec<u8>>,
    err: Option<rustler::Error>,
    seen: u64,
}

impl<'a> Acc<'a> {
    fn new(env: Env<'a>, mode: Mode) -> Acc<'a> {
        Acc {
            env,
            mode,
            items: Vec::new(),
            count: 0,
            fallback: Vec::new(),
            marker: None,
            doomed: Vec::new(),
            err: None,
            seen: 0,
        }
    }

    #[inline]
    fn object(&mut self, ms: &MatchSpec, renv: &RunEnv, body: &[u8]) {
        self.seen += 1;
        let r = match ms.run(body, renv) {
            Outcome::NoMatch => Ok(()),
            Outcome::Result(v) => match self.mode {
                Mode::Select => decode(self.env, v.bytes()).map(|t| self.items.push(t)),
                _ if !ms.is_true(&v) => Ok(()),
                Mode::Count => {
                    self.count += 1;
                    Ok(())
                }
                Mode::Delete => {
                    // Counted when deleted: a concurrent delete may get there first.
                    self.doomed.push(body.to_vec());
                    Ok(())
                }
                // Replacing walks go through `replacement`.
                Mode::Replace => Ok(()),
            },
            Outcome::Fallback => decode(self.env, body).map(|obj| match self.mode {
                Mode::Select => {
                    let env = self.env;
                    // SAFETY: `env` is the calling NIF's environment.
                    let marker = *self.marker.get_or_insert_with(|| unsafe {
                        Term::new(env, rustler::sys::enif_make_ref(env.as_c_arg()))
                    });
                    self.items.push((marker, obj).encode(env));
                }
                _ => self.fallback.push(obj),
            }),
        };
        if let Err(e) = r {
            self.err.get_or_insert(e);
        }
    }

    /// Runs the spec on an object of a deleting walk: whether to delete it. Objects only
    /// OTP's engine can decide are handed back (as fallbacks) instead.
    fn doomed_by(&mut self, ms: &MatchSpec, renv: &RunEnv, body: &[u8]) -> bool {
        self.seen += 1;
        match ms.run(body, renv) {
            Outcome::NoMatch => false,
            Outcome::Result(v) => ms.is_true(&v),
            Outcome::Fallback => {
                match decode(self.env, body) {
                    Ok(obj) => self.fallback.push(obj),
                    Err(e) => {
                        self.err.get_or_insert(e);
                    }
                }
                false
            }
        }
    }

    /// Runs the spec on an object of a replacing walk (under the walk's write lock): the
    /// object to put in its place, as stored (`keypos`, `ordered`). Objects only OTP's
    /// engine can decide are handed back (as fallbacks) and kept. A result that is no
    /// object of this table ends the walk with badarg.
    fn replacement(
        &mut self,
        ms: &MatchSpec,
        renv: &RunEnv,
        obj: &Obj,
        keypos: usize,
        ordered: bool,
    ) -> Edit {
        self.seen += 1;
        let r = match ms.run(obj.body(), renv) {
            Outcome::NoMatch => return Edit::Keep,
            Outcome::Result(v) => decode(self.env, v.bytes())
                .and_then(|t| encode_object(t, keypos, ordered))
                .map(Edit::Replace),
            Outcome::Fallback => decode(self.env, obj.body()).map(|o| {
                self.fallback.push(o);
                Edit::Keep
            }),
        };
        r.unwrap_or_else(|e| {
            self.err.get_or_insert(e);
            Edit::Stop
        })
    }

    /// Deletes what matched (after the walk released its locks) and counts the objects
    /// this call removed: an object another process deleted in between is not counted
    /// (all copies of a `duplicate_bag` object go with the first, each counted once).
    fn delete_doomed(&mut self, s: &Storage, keypos: usize) {
        for body in std::mem::take(&mut self.doomed) {
            if let Some(obj) = ObjBuilder::finish(&Writer { buf: body }, keypos, None) {
                // Exactly the matched object (and its identical copies): a copy whose
                // zero differs in sign did not match.
                let removed = s.delete_exact(&obj);
                self.count += removed.len() as u64;
                Storage::discard(removed);
            }
        }
    }

    /// `{Items, Rest, Marker}` (select) or `{Count, Rest, Fallbacks}`.
    fn finish(self, rest: Term<'a>) -> NifResult<Term<'a>> {
        VISITED.fetch_add(self.seen, Ordering::Relaxed);
        if let Some(e) = self.err {
            return Err(e);
        }
        let env = self.env;
        Ok(match self.mode {
            Mode::Select => (
                convert::make_list(env, &self.items),
                rest,
                self.marker.unwrap_or_else(|| atoms::nil().encode(env)),
            )
                .encode(env),
            _ => (self.count, rest, convert::make_list(env, &self.fallback)).encode(env),
        })
    }
}

fn run_env<'v>(env: Env, vm: &'v NifVm, spec: &CompiledSpec) -> RunEnv<'v> {
    RunEnv {
        vm,
        self_pid: caller(env),
        node: spec.node,
    }
}

/// Runs `spec` over the next ~1000 objects of a walk of `tab` (`cont`: `nil` to start,
/// else the cursor the previous call returned). An `ordered_set` walk covers only the
/// key range the spec can match. Returns `{Items, Cursor | '$end_of_table', Marker}` for
/// `select`, `{Count, Cursor | '$end_of_table', Fallbacks}` for `count` and `delete`.
#[rustler::nif]
fn select_run<'a>(
    env: Env<'a>,
    tab: Term<'a>,
    spec: ResourceArc<CompiledSpec>,
    cont: Term<'a>,
    mode_t: Term<'a>,
) -> NifResult<Term<'a>> {
    let clock = super::WalkClock::start();
    let mode = mode(mode_t)?;
    let cursor: ResourceArc<Cursor> = match cont.decode::<ResourceArc<Cursor>>() {
        Ok(c) => c,
        Err(_) => {
            let h = handle_of(tab)?;
            h.table.read(|| caller(env)).or_raise()?;
            ResourceArc::new(Cursor::new(h))
        }
    };
    let table = &cursor.handle.table;
    let s = mode.storage(env, table)?;
    let mut acc = Acc::new(env, mode);
    let mut pos_slot = cursor.pos.lock().unwrap_or_else(|e| e.into_inner());
    let Some(pos) = pos_slot.take() else {
        return acc.finish(atoms::end_of_table().encode(env));
    };
    let range = match table.is_ordered() {
        true => spec.ms.key_range(table.keypos()),
        false => None,
    };
    let vm = NifVm(env);
    let renv = run_env(env, &vm, &spec);
    let below = |k: &[u8]| range.as_ref().is_some_and(|r| r.place(k) == Place::Below);
    let seek: Option<tsunami_core::backend::Seek> = range.as_ref().map(|_| &below as _);
    let above = |obj: &Obj| {
        range
            .as_ref()
            .is_some_and(|r| r.place(obj.key()) == Place::Above)
    };
    let (keypos, ordered) = (table.keypos(), table.is_ordered());
    let next = if mode == Mode::Replace {
        // Replaced in the walk, under its write locks; `replaced` holds the old objects.
        let mut replaced = Vec::new();
        let next = s.visit_replace(
            &pos,
            seek,
            REPLACE_CHUNK,
            |obj| match above(obj) {
                true => Edit::Stop,
                false => acc.replacement(&spec.ms, &renv, obj, keypos, ordered),
            },
            &mut replaced,
        );
        acc.count += replaced.len() as u64;
        Storage::discard(replaced);
        next.unwrap_or_else(|e| {
            acc.err.get_or_insert(crate::error::raise(e));
            None
        })
    } else if mode == Mode::Delete {
        // Deleted in the walk (a hash table) or right after it (a tree); `removed` holds
        // exactly what this call deleted.
        let mut removed = Vec::new();
        let next = s.visit_remove(
            &pos,
            seek,
            TRAVERSAL_CHUNK,
            table.keypos(),
            |obj| {
                if above(obj) {
                    Verdict::Stop
                } else if acc.doomed_by(&spec.ms, &renv, obj.body()) {
                    Verdict::Remove
                } else {
                    Verdict::Keep
                }
            },
            &mut removed,
        );
        acc.count += removed.len() as u64;
        Storage::discard(removed);
        next
    } else {
        s.visit_while(&pos, seek, TRAVERSAL_CHUNK, |obj| {
            if above(obj) {
                return false;
            }
            acc.object(&spec.ms, &renv, obj.body());
            true
        })
    };
    let more = next.is_some();
    if more {
        *pos_slot = next;
    }
    drop(pos_slot);
    crate::resource::deleted_meanwhile(&cursor.handle)?;
    // A replacing chunk costs about as much as a full one of the other modes.
    let weight = match mode {
        Mode::Replace => (acc.seen as usize).saturating_mul(TRAVERSAL_CHUNK / REPLACE_CHUNK),
        _ => acc.seen as usize,
    };
    clock.charge(env, weight);
    let rest = match more {
        true => cursor.encode(env),
        false => atoms::end_of_table().encode(env),
    };
    acc.finish(rest)
}

/// `select/2`'s whole-table walk: runs `spec` over the next ~1000 objects and conses
/// each result onto `acc` (a fallback object as `{Marker, Object}`), so no chunk lists are
/// appended at the end. A hash table is walked backwards, which leaves the results in
/// table order; a tree forwards, which leaves them reversed. Returns `{Acc, Cursor |
/// '$end_of_table', Fallbacks?, Reversed?}`, or `forward` (on the first call) for an
/// `ordered_set` walk that covers only a key range: those take [`select_run`].
#[rustler::nif]
fn select_all_rev<'a>(
    env: Env<'a>,
    tab: Term<'a>,
    spec: ResourceArc<CompiledSpec>,
    cont: Term<'a>,
    acc: Term<'a>,
    marker: Term<'a>,
) -> NifResult<Term<'a>> {
    let clock = super::WalkClock::start();
    let cursor: ResourceArc<Cursor> = match cont.decode::<ResourceArc<Cursor>>() {
        Ok(c) => c,
        Err(_) => {
            let h = handle_of(tab)?;
            h.table.read(|| caller(env)).or_raise()?;
            if !h.table.is_ordered() {
                ResourceArc::new(Cursor::new_rev(h))
            } else if spec.ms.key_range(h.table.keypos()).is_none() {
                ResourceArc::new(Cursor::new(h))
            } else {
                return Ok(atoms::forward().encode(env));
            }
        }
    };
    if !acc.is_list() {
        return Err(badarg());
    }
    let table = &cursor.handle.table;
    let s = table.read(|| caller(env)).or_raise()?;
    let mut pos_slot = cursor.pos.lock().unwrap_or_else(|e| e.into_inner());
    let Some(pos) = pos_slot.take() else {
        return Ok((acc, atoms::end_of_table(), false, table.is_ordered()).encode(env));
    };
    let vm = NifVm(env);
    let renv = run_env(env, &vm, &spec);
    let (mut acc, mut fallback, mut err, mut seen) = (acc, false, None, 0);
    // A tree walks forwards (measured: its backward walk is slower than reversing the
    // result list once at the end), so its list comes out reversed.
    let reversed = table.is_ordered();
    let visit = |obj: &Obj| {
        seen += 1;
        let item = match spec.ms.run(obj.body(), &renv) {
            Outcome::NoMatch => return,
            Outcome::Result(v) => decode(env, v.bytes()),
            Outcome::Fallback => decode(env, obj.body()).map(|o| {
                fallback = true;
                (marker, o).encode(env)
            }),
        };
        match item {
            Ok(t) => acc = acc.list_prepend(t),
            Err(e) => {
                err.get_or_insert(e);
            }
        }
    };
    let next = match reversed {
        true => s.visit(&pos, TRAVERSAL_CHUNK, visit),
        false => s.visit_rev(&pos, TRAVERSAL_CHUNK, visit),
    };
    VISITED.fetch_add(seen, Ordering::Relaxed);
    clock.charge(env, seen as usize);
    let more = next.is_some();
    if more {
        *pos_slot = next;
    }
    drop(pos_slot);
    if let Some(e) = err {
        return Err(e);
    }
    crate::resource::deleted_meanwhile(&cursor.handle)?;
    let rest = match more {
        true => cursor.encode(env),
        false => atoms::end_of_table().encode(env),
    };
    Ok((acc, rest, fallback, reversed).encode(env))
}

/// Runs `spec` over the objects with the given keys (each key at most once; for an
/// `ordered_set`, keys that compare equal count once and come in term order). Returns
/// `{Items, Marker}` for `select`, `{Count, Fallbacks}` for `count` and `delete`.
#[rustler::nif]
fn select_keys<'a>(
    env: Env<'a>,
    tab: Term<'a>,
    spec: ResourceArc<CompiledSpec>,
    keys: Term<'a>,
    mode_t: Term<'a>,
) -> NifResult<Term<'a>> {
    let mode = mode(mode_t)?;
    let h = handle_of(tab)?;
    let table = &h.table;
    let s = mode.storage(env, table)?;
    let ordered = table.is_ordered();
    let mut encoded = Vec::new();
    for k in convert::proper_list(keys)? {
        let (hash, bytes) = encode_key(k, ordered)?;
        encoded.push((hash, bytes.to_vec()));
    }
    if ordered {
        encoded.sort_by(|a, b| order::compare(&a.1, &b.1));
        encoded.dedup_by(|a, b| order::equal(&a.1, &b.1));
    } else {
        // Keys that match (`term::same`) have equal hashes: compare only within a hash,
        // so k keys cost O(k), not O(k²). The first of equal keys stays, in place.
        let mut by_hash: HashMap<u64, Vec<usize>> = HashMap::with_capacity(encoded.len());
        let mut keep = vec![true; encoded.len()];
        for (i, (hash, key)) in encoded.iter().enumerate() {
            let same_hash = by_hash.entry(*hash).or_default();
            if same_hash.iter().any(|&j| term::same(&encoded[j].1, key)) {
                keep[i] = false;
            } else {
                same_hash.push(i);
            }
        }
        let mut keep = keep.into_iter();
        encoded.retain(|_| keep.next().unwrap_or(true));
    }
    let vm = NifVm(env);
    let renv = run_env(env, &vm, &spec);
    let mut acc = Acc::new(env, mode);
    let keypos = table.keypos();
    for (hash, key) in &encoded {
        if mode == Mode::Replace {
            let mut replaced = Vec::new();
            let r = s.replace_key(
                *hash,
                key,
                |obj| acc.replacement(&spec.ms, &renv, obj, keypos, ordered),
                &mut replaced,
            );
            acc.count += replaced.len() as u64;
            Storage::discard(replaced);
            if let Err(e) = r {
                acc.err.get_or_insert(crate::error::raise(e));
            }
            if acc.err.is_some() {
                break;
            }
        } else {
            s.lookup(*hash, key, |obj| acc.object(&spec.ms, &renv, obj.body()));
        }
    }
    acc.delete_doomed(s, table.keypos());
    crate::resource::deleted_meanwhile(&h)?;
    let done = acc.finish(atoms::nil().encode(env))?;
    // Drop the middle element: `{Items, Marker}` / `{Count, Fallbacks}`.
    let parts = rustler::types::tuple::get_tuple(done)?;
    Ok((parts[0], parts[2]).encode(env))
}

/// `select_replace` for one object that OTP's engine decided (a fallback, or a spec the
/// Rust compiler does not know): atomically, puts `new` in the place of an object
/// identical to `old` (one copy, in a `duplicate_bag`) and returns `true`; `false`, with
/// nothing changed, when the table holds no such object any more (a concurrent writer
/// got there first: the caller reads the object again). `new` must keep `old`'s key
/// exactly (badarg otherwise).
#[rustler::nif]
fn select_replace_object<'a>(
    env: Env<'a>,
    tab: Term<'a>,
    old: Term<'a>,
    new: Term<'a>,
) -> NifResult<bool> {
    with_live(tab, |t| {
        let s = t.table.write(|| caller(env)).or_raise()?;
        let (keypos, ordered) = (t.table.keypos(), t.table.is_ordered());
        let old = encode_object(old, keypos, ordered)?;
        let mut new = Some(encode_object(new, keypos, ordered)?);
        let mut replaced = Vec::new();
        let r = s.replace_key(
            old.hash(),
            old.key(),
            |o| match term::same(o.body(), old.body()) {
                true => new.take().map_or(Edit::Keep, Edit::Replace),
                false => Edit::Keep,
            },
            &mut replaced,
        );
        let done = !replaced.is_empty();
        Storage::discard(replaced);
        r.or_raise()?;
        Ok(done)
    })
}

/// Objects the engine has examined since the library was loaded (debug hook).
#[rustler::nif]
fn select_visited() -> u64 {
    VISITED.load(Ordering::Relaxed)
}
