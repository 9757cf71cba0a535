//! Erlang terms ⇄ the core's encoding (see `tsunami_core::term`).
//!
//! Both directions are iterative, with explicit stacks, so a deeply nested term can never
//! overflow a scheduler's stack. Immediates are copied as raw words; floats, integers,
//! binaries, tuples, lists and maps are taken apart and rebuilt with the `enif_*` API;
//! everything else (big integers, bitstrings, references, funs, remote pids and ports)
//! goes through the external term format. Objects holding references or funs also keep
//! the original term alive in a process-independent environment (a [`KeepAlive`]), so a
//! magic reference (`:atomics`, a NIF resource) stays alive while it is stored.

use crate::error::{badarg, NifResult};
use rustler::sys::{self, ErlNifTerm as ERL_NIF_TERM, ErlNifTermType as T};
use rustler::{Env, OwnedEnv, Term};
use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use tsunami_core::term::{self, read_head, Head, Obj, ObjBuilder, Writer};

/// Raw word of `[]`, read once at load.
static NIL: AtomicU64 = AtomicU64::new(0);

/// Nesting of maps inside maps beyond which a map is stored in the external format
/// (encoding map pairs recurses once per map level).
const MAP_DEPTH_LIMIT: u32 = 64;

pub fn init(env: Env) {
    let e = env.as_c_arg();
    // SAFETY: `e` is the load environment, valid for these calls.
    unsafe {
        let nil = sys::enif_make_list_from_array(e, std::ptr::null(), 0);
        NIL.store(word(nil), Ordering::Relaxed);
        let neg = sys::enif_make_double(e, -0.0);
        let pos = sys::enif_make_double(e, 0.0);
        term::set_neg_zero_is_zero(sys::enif_is_identical(neg, pos) != 0);
    }
}

/// The raw word of a term.
#[inline]
pub fn word(t: ERL_NIF_TERM) -> u64 {
    // SAFETY: `ErlNifTerm` is `repr(transparent)` over `usize`.
    unsafe { std::mem::transmute::<ERL_NIF_TERM, usize>(t) as u64 }
}

/// The term of a raw word (only for words that are valid terms: immediates, or words
/// just read from a live term).
#[inline]
fn from_word(w: u64) -> ERL_NIF_TERM {
    // SAFETY: `ErlNifTerm` is `repr(transparent)` over `usize`.
    unsafe { std::mem::transmute::<usize, ERL_NIF_TERM>(w as usize) }
}

#[inline]
fn nil() -> u64 {
    NIL.load(Ordering::Relaxed)
}

#[inline]
fn is_immediate(raw: ERL_NIF_TERM) -> bool {
    word(raw) & 0b11 == 0b11
}

/// ERTS 64-bit layout: atoms are immediate-2 words tagged `0b00_1011`.
#[inline]
fn is_atom(raw: ERL_NIF_TERM) -> bool {
    word(raw) & 0b11_1111 == 0b00_1011
}

/// Keeps VM-refcounted terms alive: an environment holding a copy of the whole object.
struct KeepAlive {
    _env: OwnedEnv,
}

// SAFETY: the environment is never read or written after construction; it is only freed
// (`enif_free_env`), which may happen on any thread.
unsafe impl Sync for KeepAlive {}

pub fn keep_alive(term: Term) -> term::Pin {
    let env = OwnedEnv::new();
    let _saved = env.save(term);
    Box::new(KeepAlive { _env: env })
}

/// A keep-alive for an encoded term: the term rebuilt in its own environment (decoding a
/// reference whose magic binary is alive gives the magic reference back). `None` only
/// when the encoding cannot be decoded.
pub fn keep_alive_encoded(bytes: &[u8]) -> Option<term::Pin> {
    let env = OwnedEnv::new();
    env.run(|e| decode(e, bytes)).ok()?;
    Some(Box::new(KeepAlive { _env: env }))
}

struct Encoder {
    env: *mut sys::ErlNifEnv,
    /// Write atoms in key position with their names (ordered tables, see
    /// `tsunami_core::term::order`).
    named_atoms: bool,
    /// Whether a reference or fun was met (the object needs a [`KeepAlive`]).
    pinned: bool,
    stack: Vec<ERL_NIF_TERM>,
    heads: Vec<ERL_NIF_TERM>,
}

impl Encoder {
    fn new(env: Env) -> Self {
        Encoder {
            env: env.as_c_arg(),
            named_atoms: false,
            pinned: false,
            stack: Vec::new(),
            heads: Vec::new(),
        }
    }

    fn ext(&mut self, w: &mut Writer, t: ERL_NIF_TERM) -> NifResult<()> {
        // SAFETY: `t` belongs to `self.env`, the calling NIF's environment;
        // `ErlNifBinary` is plain data, zero is a valid starting value, and the binary
        // is released right after its bytes are copied.
        unsafe {
            let mut bin: sys::ErlNifBinary = std::mem::zeroed();
            if sys::enif_term_to_binary(self.env, t, &mut bin) == 0 {
                return Err(badarg());
            }
            let written = w.ext(std::slice::from_raw_parts(bin.data, bin.size));
            sys::enif_release_binary(&mut bin);
            written.map_err(too_long)
        }
    }

    /// Appends the encoding of `root`. `key`: floats `-0.0` are written as `0.0` when the
    /// VM considers them equal. `depth`: map nesting so far.
    fn encode(
        &mut self,
        w: &mut Writer,
        root: ERL_NIF_TERM,
        key: bool,
        depth: u32,
    ) -> NifResult<()> {
        if is_immediate(root) {
            // The common key: no stack needed.
            if key && self.named_atoms && is_atom(root) {
                return self.atom(w, root);
            }
            w.imm(word(root));
            return Ok(());
        }
        let base = self.stack.len();
        self.stack.push(root);
        while self.stack.len() > base {
            let t = self.stack.pop().expect("non-empty");
            if is_immediate(t) {
                if key && self.named_atoms && is_atom(t) {
                    self.atom(w, t)?;
                } else {
                    w.imm(word(t));
                }
                continue;
            }
            let env = self.env;
            // SAFETY: every `t` on the stack is a term of `env` (the argument or a part of
            // it); the out-pointers are valid locals.
            unsafe {
                match sys::enif_term_type(env, t) {
                    T::ERL_NIF_TERM_TYPE_FLOAT => {
                        // Stored as given (`-0.0` keeps its sign); the core compares and
                        // hashes zeros by value where the VM equates them.
                        let mut f = 0.0f64;
                        sys::enif_get_double(env, t, &mut f);
                        w.float(f);
                    }
                    T::ERL_NIF_TERM_TYPE_INTEGER => {
                        let (mut i, mut u) = (0i64, 0u64);
                        if sys::enif_get_int64(env, t, &mut i) != 0 {
                            w.int64(i);
                        } else if sys::enif_get_uint64(env, t, &mut u) != 0 {
                            w.uint64(u);
                        } else {
                            self.ext(w, t)?;
                        }
                    }
                    T::ERL_NIF_TERM_TYPE_TUPLE => {
                        let mut arity = 0;
                        let mut arr: *const ERL_NIF_TERM = std::ptr::null();
                        sys::enif_get_tuple(env, t, &mut arity, &mut arr);
                        w.tuple(arity as u32);
                        for i in (0..arity as usize).rev() {
                            self.stack.push(*arr.add(i));
                        }
                    }
                    T::ERL_NIF_TERM_TYPE_LIST => {
                        // Non-empty (`[]` is immediate): collect heads up to the tail.
                        let start = self.heads.len();
                        let mut cur = t;
                        let (mut h, mut tl) = (ERL_NIF_TERM::default(), ERL_NIF_TERM::default());
                        while !is_immediate(cur)
                            && sys::enif_get_list_cell(env, cur, &mut h, &mut tl) != 0
                        {
                            self.heads.push(h);
                            cur = tl;
                        }
                        let n = self.heads.len() - start;
                        w.list(term::len32(n).map_err(too_long)?);
                        self.stack.push(cur);
                        while self.heads.len() > start {
                            self.stack.push(self.heads.pop().expect("non-empty"));
                        }
                    }
                    T::ERL_NIF_TERM_TYPE_BITSTRING => {
                        let mut bin: sys::ErlNifBinary = std::mem::zeroed();
                        if sys::enif_inspect_binary(env, t, &mut bin) != 0 {
                            w.binary(std::slice::from_raw_parts(bin.data, bin.size))
                                .map_err(too_long)?;
                        } else {
                            self.ext(w, t)?; // not byte-aligned
                        }
                    }
                    T::ERL_NIF_TERM_TYPE_MAP if depth < MAP_DEPTH_LIMIT => {
                        self.map(w, t, key, depth)?;
                    }
                    T::ERL_NIF_TERM_TYPE_REFERENCE | T::ERL_NIF_TERM_TYPE_FUN => {
                        self.pinned = true;
                        self.ext(w, t)?;
                    }
                    T::ERL_NIF_TERM_TYPE_MAP => {
                        // Too deep to take apart: the external format may hide references
                        // or funs inside, so keep the object's terms alive as for them.
                        self.pinned = true;
                        self.ext(w, t)?;
                    }
                    _ => self.ext(w, t)?, // remote pids/ports
                }
            }
        }
        Ok(())
    }

    /// An atom with its name (UTF-8), for ordered keys.
    fn atom(&mut self, w: &mut Writer, t: ERL_NIF_TERM) -> NifResult<()> {
        let mut buf = [0u8; 256];
        // SAFETY: `t` is an atom; `buf` holds 256 bytes, the most a Latin-1 atom needs
        // (255 characters and the terminating NUL).
        let n = unsafe {
            sys::enif_get_atom(
                self.env,
                t,
                buf.as_mut_ptr() as *mut _,
                buf.len() as u32,
                sys::ErlNifCharEncoding::ERL_NIF_LATIN1,
            )
        };
        if n > 0 {
            let latin1 = &buf[..n as usize - 1];
            if latin1.is_ascii() {
                w.atom(word(t), latin1);
            } else {
                let utf8: String = latin1.iter().map(|&b| b as char).collect();
                w.atom(word(t), utf8.as_bytes());
            }
            return Ok(());
        }
        // Characters beyond Latin-1: the external format carries the UTF-8 text
        // (ATOM_UTF8_EXT 118 with a 2-byte length, SMALL_ATOM_UTF8_EXT 119 with 1 byte).
        let mut ext = Writer::default();
        self.ext(&mut ext, t)?;
        let bytes = &ext.buf[5..]; // tag + u32 length written by `ext`
        let name = match bytes {
            [131, 119, _, name @ ..] => name,
            [131, 118, _, _, name @ ..] => name,
            _ => return Err(badarg()),
        };
        w.atom(word(t), name);
        Ok(())
    }

    fn map(&mut self, w: &mut Writer, t: ERL_NIF_TERM, key: bool, depth: u32) -> NifResult<()> {
        let env = self.env;
        let mut pairs = Vec::new();
        // SAFETY: `t` is a map of `env`; the iterator is created, used and destroyed here.
        unsafe {
            let mut it: sys::ErlNifMapIterator = std::mem::zeroed();
            if sys::enif_map_iterator_create(
                env,
                t,
                &mut it,
                sys::ErlNifMapIteratorEntry::ERL_NIF_MAP_ITERATOR_HEAD,
            ) == 0
            {
                return Err(badarg());
            }
            let (mut k, mut v) = (ERL_NIF_TERM::default(), ERL_NIF_TERM::default());
            let mut result = Ok(());
            while sys::enif_map_iterator_get_pair(env, &mut it, &mut k, &mut v) != 0 {
                let (mut kw, mut vw) = (Writer::default(), Writer::default());
                result = self
                    .encode(&mut kw, k, key, depth + 1)
                    .and_then(|_| self.encode(&mut vw, v, key, depth + 1));
                if result.is_err() {
                    break;
                }
                pairs.push((kw.buf, vw.buf));
                sys::enif_map_iterator_next(env, &mut it);
            }
            sys::enif_map_iterator_destroy(env, &mut it);
            result?;
        }
        w.map(pairs).map_err(too_long)
    }
}

/// A term with a length the encoding cannot hold (a binary or external-format term of
/// 4 GiB or more: the length fields are 32-bit): `system_limit`, never a truncated
/// length that would make the rest of the bytes read as other terms.
fn too_long(_: term::TooLong) -> rustler::Error {
    crate::error::raise(tsunami_core::Error::SystemLimit)
}

/// The value of a small-integer term, without encoding it.
#[inline]
pub fn small_int(t: Term) -> Option<i64> {
    tsunami_core::term::int::small_from_raw(word(t.as_c_arg()))
}

/// The term for an integer result.
pub fn int_term<'a>(env: Env<'a>, v: &tsunami_core::term::int::Int) -> NifResult<Term<'a>> {
    use tsunami_core::term::int::Int;
    let e = env.as_c_arg();
    let raw = match *v {
        // SAFETY: `e` is the calling NIF's environment.
        Int::Fix(i) if i64::try_from(i).is_ok() => unsafe { sys::enif_make_int64(e, i as i64) },
        // SAFETY: as above.
        Int::Fix(i) if u64::try_from(i).is_ok() => unsafe { sys::enif_make_uint64(e, i as u64) },
        _ => {
            let mut w = Writer::default();
            v.write(&mut w).map_err(too_long)?;
            return decode(env, &w.buf);
        }
    };
    // SAFETY: built in `env`.
    Ok(unsafe { Term::new(env, raw) })
}

/// Encodes a tuple as a stored object keyed on element `keypos` (`ordered`: for an
/// `ordered_set`, whose keys carry atom names). `Err` (badarg) when it
/// is not a tuple of at least `keypos` elements.
pub fn encode_object(term: Term, keypos: usize, ordered: bool) -> NifResult<Obj> {
    let env = term.get_env();
    let t = term.as_c_arg();
    let mut enc = Encoder::new(env);
    enc.named_atoms = ordered;
    let mut w = Writer { buf: pooled_buf() };
    // SAFETY: `t` is a term of `env`; out-pointers are valid locals.
    unsafe {
        let mut arity = 0;
        let mut arr: *const ERL_NIF_TERM = std::ptr::null();
        if sys::enif_get_tuple(env.as_c_arg(), t, &mut arity, &mut arr) == 0
            || (arity as usize) < keypos
        {
            return Err(badarg());
        }
        w.tuple(arity as u32);
        for i in 0..arity as usize {
            enc.encode(&mut w, *arr.add(i), i + 1 == keypos, 0)?;
        }
    }
    let pin = enc.pinned.then(|| keep_alive(term));
    let obj = ObjBuilder::finish(&w, keypos, pin).ok_or_else(badarg);
    drop(KeyBuf(w.buf)); // back to the pool
    obj
}

/// An encoded key. Its buffer comes from, and returns to, a per-thread pool, so the hot
/// lookup path allocates nothing for it.
pub struct KeyBuf(Vec<u8>);

thread_local! {
    static KEY_BUFS: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

impl std::ops::Deref for KeyBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for KeyBuf {
    fn drop(&mut self) {
        let mut buf = std::mem::take(&mut self.0);
        if buf.capacity() <= 4096 {
            buf.clear();
            let _ = KEY_BUFS.try_with(|p| p.borrow_mut().push(buf));
        }
    }
}

/// An empty buffer from the per-thread pool (see [`KeyBuf`]).
fn pooled_buf() -> Vec<u8> {
    KEY_BUFS
        .try_with(|p| p.borrow_mut().pop())
        .ok()
        .flatten()
        .unwrap_or_else(|| Vec::with_capacity(64))
}

/// Encodes a lookup key; returns its hash and bytes. `ordered` keys (trees never hash)
/// get hash 0: skipping the canonical hash saves a walk over the key on every
/// `ordered_set` call (`next/2` walks call it once per step).
pub fn encode_key(term: Term, ordered: bool) -> NifResult<(u64, KeyBuf)> {
    let mut w = Writer { buf: pooled_buf() };
    let mut enc = Encoder::new(term.get_env());
    enc.named_atoms = ordered;
    enc.encode(&mut w, term.as_c_arg(), true, 0)?;
    let hash = if ordered {
        0
    } else {
        term::hash_key_canonical(&w.buf)
    };
    Ok((hash, KeyBuf(w.buf)))
}

/// Encodes any term (element values for `update_element`, heir data).
pub fn encode_value(term: Term) -> NifResult<(Vec<u8>, bool)> {
    let mut enc = Encoder::new(term.get_env());
    let mut w = Writer::default();
    enc.encode(&mut w, term.as_c_arg(), false, 0)?;
    Ok((w.buf, enc.pinned))
}

/// Encodes a match spec for the core's compiler: every atom with its name.
pub fn encode_named(term: Term) -> NifResult<Vec<u8>> {
    let mut enc = Encoder::new(term.get_env());
    enc.named_atoms = true;
    let mut w = Writer::default();
    enc.encode(&mut w, term.as_c_arg(), true, 0)?;
    Ok(w.buf)
}

/// The UTF-8 name of the atom with this raw word.
pub fn atom_name(env: Env, raw: u64) -> Option<Vec<u8>> {
    let mut enc = Encoder::new(env);
    let mut w = Writer::default();
    enc.atom(&mut w, from_word(raw)).ok()?;
    // `Writer::atom`: tag, 8-byte word, 2-byte length, name.
    w.buf.get(11..).map(<[u8]>::to_vec)
}

#[derive(Clone, Copy)]
enum Frame {
    Tuple { start: usize, n: usize },
    List { start: usize, n: usize },
    Map { start: usize, n: usize },
}

impl Frame {
    fn start(self) -> usize {
        match self {
            Frame::Tuple { start, .. } | Frame::List { start, .. } | Frame::Map { start, .. } => {
                start
            }
        }
    }
    /// Values this frame needs on the value stack.
    fn needed(self) -> usize {
        match self {
            Frame::Tuple { n, .. } => n,
            Frame::List { n, .. } => n + 1,
            Frame::Map { n, .. } => 2 * n,
        }
    }
}

/// Entries a thread's decode stacks keep between calls (see [`decode`]).
const DECODE_STACK_KEEP: usize = 4096;

thread_local! {
    /// Reused decode stacks (one pair per scheduler thread).
    static STACKS: RefCell<(Vec<ERL_NIF_TERM>, Vec<Frame>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// Builds the Erlang term encoded at the start of `bytes` in `env`.
pub fn decode<'a>(env: Env<'a>, bytes: &[u8]) -> NifResult<Term<'a>> {
    STACKS.with(|s| {
        let mut s = s.try_borrow_mut().map_err(|_| badarg())?;
        let (vals, frames) = &mut *s;
        vals.clear();
        frames.clear();
        let raw = decode_with(env.as_c_arg(), bytes, vals, frames);
        // A huge term leaves huge stacks behind: give them back rather than keep them for
        // the thread's lifetime (80 MB per scheduler after one 10M-element lookup).
        if vals.capacity() > DECODE_STACK_KEEP {
            *vals = Vec::new();
        }
        if frames.capacity() > DECODE_STACK_KEEP {
            *frames = Vec::new();
        }
        let raw = raw.ok_or_else(badarg)?;
        // SAFETY: `raw` was built in `env` (or is an immediate, valid everywhere).
        Ok(unsafe { Term::new(env, raw) })
    })
}

fn decode_with(
    env: *mut sys::ErlNifEnv,
    b: &[u8],
    vals: &mut Vec<ERL_NIF_TERM>,
    frames: &mut Vec<Frame>,
) -> Option<ERL_NIF_TERM> {
    let mut pos = 0;
    loop {
        let (head, next) = read_head(b, pos)?;
        pos = next;
        // SAFETY: `env` is the calling NIF's environment; byte slices passed to
        // `enif_*` are live with the stated lengths.
        let leaf = unsafe {
            match head {
                Head::Imm(raw) => Some(from_word(raw)),
                Head::Float(f) => Some(sys::enif_make_double(env, f)),
                Head::Int64(v) => Some(sys::enif_make_int64(env, v)),
                Head::UInt64(v) => Some(sys::enif_make_uint64(env, v)),
                Head::Bin(bytes) => {
                    let mut t = ERL_NIF_TERM::default();
                    let p = sys::enif_make_new_binary(env, bytes.len(), &mut t);
                    std::ptr::copy_nonoverlapping(bytes.as_ptr(), p, bytes.len());
                    Some(t)
                }
                Head::Ext(bytes) => {
                    let mut t = ERL_NIF_TERM::default();
                    let used =
                        sys::enif_binary_to_term(env, bytes.as_ptr(), bytes.len(), &mut t, 0);
                    if used == 0 {
                        return None;
                    }
                    Some(t)
                }
                Head::Tuple(0) => Some(sys::enif_make_tuple_from_array(env, std::ptr::null(), 0)),
                Head::Map(0) => Some(sys::enif_make_new_map(env)),
                Head::Tuple(n) => {
                    frames.push(Frame::Tuple {
                        start: vals.len(),
                        n: n as usize,
                    });
                    None
                }
                Head::List(n) => {
                    frames.push(Frame::List {
                        start: vals.len(),
                        n: n as usize,
                    });
                    None
                }
                Head::Map(n) => {
                    frames.push(Frame::Map {
                        start: vals.len(),
                        n: n as usize,
                    });
                    None
                }
            }
        };
        let Some(mut value) = leaf else { continue };
        loop {
            let Some(&top) = frames.last() else {
                return Some(value);
            };
            vals.push(value);
            let start = top.start();
            if vals.len() - start < top.needed() {
                break;
            }
            frames.pop();
            let items = &vals[start..];
            // SAFETY: as above; `items` has exactly `top.needed()` terms of `env`.
            value = unsafe {
                match top {
                    Frame::Tuple { n, .. } => {
                        sys::enif_make_tuple_from_array(env, items.as_ptr(), n as u32)
                    }
                    Frame::List { n, .. } => {
                        let tail = items[n];
                        if word(tail) == nil() {
                            sys::enif_make_list_from_array(env, items.as_ptr(), n as u32)
                        } else {
                            items[..n]
                                .iter()
                                .rev()
                                .fold(tail, |acc, &h| sys::enif_make_list_cell(env, h, acc))
                        }
                    }
                    Frame::Map { n, .. } => {
                        let keys: Vec<_> = items.iter().step_by(2).copied().collect();
                        let values: Vec<_> = items.iter().skip(1).step_by(2).copied().collect();
                        let mut m = ERL_NIF_TERM::default();
                        if sys::enif_make_map_from_arrays(
                            env,
                            keys.as_ptr(),
                            values.as_ptr(),
                            n,
                            &mut m,
                        ) == 0
                        {
                            return None;
                        }
                        m
                    }
                }
            };
            vals.truncate(start);
        }
    }
}

/// Decodes a stored object.
#[inline]
pub fn decode_obj<'a>(env: Env<'a>, obj: &Obj) -> NifResult<Term<'a>> {
    decode(env, obj.body())
}

/// Builds a list from terms (in order).
/// The elements of a proper list, or badarg (rustler's list iterator and `Vec` decoder
/// panic at an improper tail, so every list from the caller goes through here).
pub fn proper_list<'a>(t: Term<'a>) -> NifResult<rustler::ListIterator<'a>> {
    if t.list_length().is_err() {
        return Err(badarg());
    }
    t.into_list_iterator().map_err(|_| badarg())
}

pub fn make_list<'a>(env: Env<'a>, items: &[Term<'a>]) -> Term<'a> {
    let raw: Vec<ERL_NIF_TERM> = items.iter().map(|t| t.as_c_arg()).collect();
    // SAFETY: `raw` holds `raw.len()` terms of `env`.
    unsafe {
        Term::new(
            env,
            sys::enif_make_list_from_array(env.as_c_arg(), raw.as_ptr(), raw.len() as u32),
        )
    }
}

/// The raw word of a local pid, the identity the core compares owners with.
#[inline]
pub fn pid_word(pid: &rustler::LocalPid) -> u64 {
    // SAFETY: `ErlNifPid` is `repr(C)` with a single `ErlNifTerm`, itself a `usize`.
    unsafe { std::mem::transmute::<sys::ErlNifPid, usize>(*pid.as_c_arg()) as u64 }
}

/// The calling process's raw pid word.
#[inline]
pub fn caller(env: Env) -> u64 {
    pid_word(&env.pid())
}

/// The pid term for a raw local pid word.
pub fn pid_term(env: Env, word: u64) -> Term {
    // SAFETY: local pid words are immediates, valid in every environment.
    unsafe { Term::new(env, from_word(word)) }
}

/// The atom term for a raw atom word.
pub fn atom_term(env: Env, word: u64) -> Term {
    // SAFETY: atom words are immediates and atoms are never freed.
    unsafe { Term::new(env, from_word(word)) }
}
