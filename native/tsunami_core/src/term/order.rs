//! Erlang term order over two encoded terms, with `==` semantics (`1 == 1.0`), for
//! `ordered_set` keys. No VM is needed: everything is read from the encoding.
//!
//! ## The order
//! `number < atom < reference < fun < port < pid < tuple < map < [] < list < bitstring`.
//!
//! * **Numbers** compare by mathematical value across integers (small, `INT64`, `UINT64`,
//!   big `EXT`) and floats, exactly: an integer is compared with a float's integral part
//!   as an integer (no rounding, so `2^53 + 1 > 2^53.0`), then with its fraction. ERTS
//!   gets the same answer (it compares as doubles only inside the lossless range and
//!   converts the float to a bignum outside it). `0.0 == -0.0`.
//! * **Atoms** compare by their text, byte-wise then by length (UTF-8 keeps code-point
//!   order). Needs the `ATOM` encoding; an `IMM` atom word (no text) sorts before every
//!   named atom, by word. The NIF writes `ATOM` for every atom of an ordered table.
//! * **Tuples** by arity, then element-wise. **Lists** cons by cons: heads, then tails as
//!   terms (`[]` is smallest; improper tails compare as whatever term they are).
//! * **Maps** by size, then their keys in *map-key order* (term order where every integer
//!   is below every float, recursively: `#{1 => a} < #{1.0 => a}`), then the values in
//!   that key order with `==` semantics.
//! * **Bitstrings** bit-wise, then by length in bits.
//! * **References** (`EXT`): node name, creation, then the id words from the last (most
//!   significant) to the first, missing words read as 0; this is how ERTS orders them.
//! * **Pids**, local (`IMM` word) and remote (`EXT`) alike, by serial, then number, then
//!   node (name, then creation), as ERTS (OTP 25: `<0.251.1>` is above `<0.29893.0>`, and
//!   a remote `<a@h.5.0>` lies between the local `<0.3.0>` and `<0.7.0>`). A local pid's
//!   serial and number are decoded from its word ([`local_pid_key`]). On a tie of serial
//!   and number between a local and a remote pid ERTS compares node names; the core does
//!   not know the local node's name and puts the local one first (a documented divergence
//!   that needs pids of several nodes with equal numbers and serials in one table).
//! * **Ports**: by node, then number, as ERTS. Local ones by number (decoded from the
//!   word, [`local_port_key`]), all before remote ones (ERTS places them among remote ones
//!   by node name: the same divergence as for pids), remote ones by node name, creation,
//!   then number.
//! * **Funs**: local funs (`NEW_FUN_EXT`) before external ones (`EXPORT_EXT`), as ERTS.
//!   External funs by module, function (as atom text), arity, as ERTS. Local funs by
//!   module text, index, old uniq, number of free variables, as ERTS; then by the bytes of
//!   the free variables (ERTS compares them as terms: a divergence only between closures
//!   of one fun that differ in captured values).
//!
//! `EXT` terms of any other kind (never written by the encoder) sort after bitstrings, by
//! bytes. Malformed input never panics: [`compare`] falls back to comparing bytes.
//!
//! One pass, linear in the bytes compared: both encodings are read once, front to back,
//! with an explicit stack of open tuples and lists (so deep keys can neither overflow
//! the native stack nor cost more than their size). An element that compared equal is
//! never stepped over again to find the next one. Maps sort their pairs first (and
//! recurse once per map nested in a map, at most the encoder's map depth limit).

use super::int::{small_from_raw, Big, Int};
use super::{read_atom, read_head, skip, tag, Head};
use std::cmp::Ordering;

/// Compares two encoded terms in Erlang term order, `==` semantics.
pub fn compare(a: &[u8], b: &[u8]) -> Ordering {
    // Fast paths for the commonest keys (no allocation, no generic walk): two small
    // integers, two named atoms, identical encodings.
    if let (Some(x), Some(y)) = (small_int(a), small_int(b)) {
        return x.cmp(&y);
    }
    if let (Some((_, na, ea)), Some((_, nb, eb))) = (read_atom(a, 0), read_atom(b, 0)) {
        if ea == a.len() && eb == b.len() {
            return na.cmp(nb);
        }
    }
    if a == b {
        return Ordering::Equal;
    }
    cmp_terms(a, Cur::at(0), b, Cur::at(0), false).unwrap_or_else(|| a.cmp(b))
}

/// The value of an encoding that is exactly one small integer (a cheap sort key that
/// trees cache beside each object).
#[inline]
pub fn small_int(b: &[u8]) -> Option<i64> {
    match b {
        [super::tag::IMM, w @ ..] if w.len() == 8 => {
            small_from_raw(u64::from_le_bytes(w.try_into().ok()?))
        }
        _ => None,
    }
}

/// `a == b` in Erlang (compare-equal, so `1 == 1.0`).
#[inline]
pub fn equal(a: &[u8], b: &[u8]) -> bool {
    compare(a, b) == Ordering::Equal
}

/// Compares in *map-key order* (exact: integers before floats, `1 < 1.0`).
pub fn compare_exact(a: &[u8], b: &[u8]) -> Ordering {
    cmp_terms(a, Cur::at(0), b, Cur::at(0), true).unwrap_or_else(|| a.cmp(b))
}

/// A place in an encoding: the term at `pos`, or, when `rest > 0`, the list made of the
/// `rest` elements starting at `pos` followed by the tail term after them.
#[derive(Clone, Copy, Debug)]
struct Cur {
    pos: usize,
    rest: u32,
}

impl Cur {
    fn at(pos: usize) -> Cur {
        Cur { pos, rest: 0 }
    }
}

#[derive(Debug)]
enum Num {
    Int(Int),
    Float(f64),
}

/// Node name, creation, then id words (already in comparison order).
type RemoteId<'a> = (&'a [u8], u32, Vec<u64>);

#[derive(Debug)]
enum View<'a> {
    Num(Num),
    /// Raw word (when known) and text (when known).
    Atom(Option<u64>, Option<&'a [u8]>),
    Ref(RemoteId<'a>),
    Fun(u8, &'a [u8]),
    Port(Result<u64, RemoteId<'a>>),
    Pid(Result<u64, RemoteId<'a>>),
    /// Arity and the first element's position.
    Tuple(u32, usize),
    /// Pair count and the first key's position.
    Map(u32, usize),
    Nil,
    /// A non-empty list.
    List(Cur),
    /// Bytes and length in bits.
    Bits(&'a [u8], u64),
    Other(&'a [u8]),
}

impl View<'_> {
    fn rank(&self) -> u8 {
        match self {
            View::Num(_) => 1,
            View::Atom(..) => 2,
            View::Ref(_) => 3,
            View::Fun(..) => 4,
            View::Port(_) => 5,
            View::Pid(_) => 6,
            View::Tuple(..) => 7,
            View::Map(..) => 8,
            View::Nil => 9,
            View::List(_) => 10,
            View::Bits(..) => 11,
            View::Other(_) => 12,
        }
    }
}

// ERTS 64-bit immediate tags.
const IMMED1_MASK: u64 = 0xF;
const PID: u64 = 0x3;
const PORT: u64 = 0x7;
const IMMED2_MASK: u64 = 0x3F;
const NIL: u64 = 0x3B;

/// The term at `cur` and the position just past its head: past the whole term for
/// scalars, at the first element for tuples and maps (unused for a list in progress).
fn view(b: &[u8], cur: Cur) -> Option<(View<'_>, usize)> {
    if cur.rest > 0 {
        return Some((View::List(cur), cur.pos));
    }
    let mut pos = cur.pos;
    loop {
        if let Some((raw, name, next)) = read_atom(b, pos) {
            return Some((View::Atom(Some(raw), Some(name)), next));
        }
        let (head, next) = read_head(b, pos)?;
        let v = match head {
            Head::Imm(raw) => imm_view(raw),
            Head::Float(f) => View::Num(Num::Float(f)),
            Head::Int64(v) => View::Num(Num::Int(Int::Fix(v as i128))),
            Head::UInt64(v) => View::Num(Num::Int(Int::Fix(v as i128))),
            Head::Tuple(n) => View::Tuple(n, next),
            Head::Map(n) => View::Map(n, next),
            Head::List(0) => {
                // No elements: the term is its tail.
                pos = next;
                continue;
            }
            Head::List(n) => View::List(Cur { pos: next, rest: n }),
            Head::Bin(bytes) => View::Bits(bytes, bytes.len() as u64 * 8),
            Head::Ext(ext) => ext_view(ext)?,
        };
        return Some((v, next));
    }
}

fn imm_view(raw: u64) -> View<'static> {
    if let Some(v) = small_from_raw(raw) {
        return View::Num(Num::Int(Int::Fix(v as i128)));
    }
    match raw & IMMED1_MASK {
        PID => View::Pid(Ok(local_pid_key(raw))),
        PORT => View::Port(Ok(local_port_key(raw))),
        _ if raw & IMMED2_MASK == NIL => View::Nil,
        // Atoms (immediate2 0b001011) without their text, and anything else.
        _ => View::Atom(Some(raw), None),
    }
}

// External term format tags.
mod ext {
    pub const NEW_FLOAT: u8 = 70;
    pub const BIT_BINARY: u8 = 77;
    pub const NEW_PID: u8 = 88;
    pub const NEW_PORT: u8 = 89;
    pub const NEWER_REFERENCE: u8 = 90;
    pub const SMALL_INTEGER: u8 = 97;
    pub const INTEGER: u8 = 98;
    pub const ATOM: u8 = 100;
    pub const REFERENCE: u8 = 101;
    pub const PORT: u8 = 102;
    pub const PID: u8 = 103;
    pub const NIL: u8 = 106;
    pub const BINARY: u8 = 109;
    pub const SMALL_BIG: u8 = 110;
    pub const LARGE_BIG: u8 = 111;
    pub const NEW_FUN: u8 = 112;
    pub const EXPORT: u8 = 113;
    pub const NEW_REFERENCE: u8 = 114;
    pub const SMALL_ATOM: u8 = 115;
    pub const FUN: u8 = 117;
    pub const ATOM_UTF8: u8 = 118;
    pub const SMALL_ATOM_UTF8: u8 = 119;
    pub const V4_PORT: u8 = 120;
}

fn be32(b: &[u8], p: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(p..p + 4)?.try_into().ok()?))
}

fn be64(b: &[u8], p: usize) -> Option<u64> {
    Some(u64::from_be_bytes(b.get(p..p + 8)?.try_into().ok()?))
}

/// An atom inside external format at `p`: its text and the position after it.
fn ext_atom(b: &[u8], p: usize) -> Option<(&[u8], usize)> {
    let (start, n) = match *b.get(p)? {
        ext::ATOM | ext::ATOM_UTF8 => (p + 3, u16::from_be_bytes([*b.get(p + 1)?, *b.get(p + 2)?])),
        ext::SMALL_ATOM | ext::SMALL_ATOM_UTF8 => (p + 2, *b.get(p + 1)? as u16),
        _ => return None,
    };
    let end = start + n as usize;
    Some((b.get(start..end)?, end))
}

fn ext_view(e: &[u8]) -> Option<View<'_>> {
    if *e.first()? != 131 {
        return None;
    }
    let t = *e.get(1)?;
    Some(match t {
        ext::SMALL_BIG | ext::LARGE_BIG => View::Num(Num::Int(Int::Big(Big::from_ext(e)?))),
        ext::SMALL_INTEGER => View::Num(Num::Int(Int::Fix(*e.get(2)? as i128))),
        ext::INTEGER => View::Num(Num::Int(Int::Fix(be32(e, 2)? as i32 as i128))),
        ext::NEW_FLOAT => View::Num(Num::Float(f64::from_bits(be64(e, 2)?))),
        ext::ATOM | ext::ATOM_UTF8 | ext::SMALL_ATOM | ext::SMALL_ATOM_UTF8 => {
            View::Atom(None, Some(ext_atom(e, 1)?.0))
        }
        ext::NIL => View::Nil,
        ext::BINARY => {
            let n = be32(e, 2)? as usize;
            let bytes = e.get(6..6 + n)?;
            View::Bits(bytes, n as u64 * 8)
        }
        ext::BIT_BINARY => {
            let n = be32(e, 2)? as usize;
            let bits = *e.get(6)? as u64;
            let bytes = e.get(7..7 + n)?;
            let total = if n == 0 { 0 } else { (n as u64 - 1) * 8 + bits };
            View::Bits(bytes, total)
        }
        ext::NEW_PID | ext::PID => {
            let (node, p) = ext_atom(e, 2)?;
            let (id, serial) = (be32(e, p)?, be32(e, p + 4)?);
            let creation = if t == ext::PID {
                *e.get(p + 8)? as u32
            } else {
                be32(e, p + 8)?
            };
            View::Pid(Err((node, creation, vec![id as u64, serial as u64])))
        }
        ext::NEW_PORT | ext::PORT | ext::V4_PORT => {
            let (node, p) = ext_atom(e, 2)?;
            let (id, p) = if t == ext::V4_PORT {
                (be64(e, p)?, p + 8)
            } else {
                (be32(e, p)? as u64, p + 4)
            };
            let creation = if t == ext::PORT {
                *e.get(p)? as u32
            } else {
                be32(e, p)?
            };
            View::Port(Err((node, creation, vec![id])))
        }
        ext::NEWER_REFERENCE | ext::NEW_REFERENCE => {
            let len = u16::from_be_bytes([*e.get(2)?, *e.get(3)?]) as usize;
            let (node, p) = ext_atom(e, 4)?;
            let (creation, p) = if t == ext::NEW_REFERENCE {
                (*e.get(p)? as u32, p + 1)
            } else {
                (be32(e, p)?, p + 4)
            };
            let words = (0..len)
                .map(|i| be32(e, p + 4 * i).map(|w| w as u64))
                .collect::<Option<Vec<u64>>>()?;
            View::Ref((node, creation, words))
        }
        ext::REFERENCE => {
            let (node, p) = ext_atom(e, 2)?;
            let id = be32(e, p)? as u64;
            View::Ref((node, *e.get(p + 4)? as u32, vec![id]))
        }
        ext::NEW_FUN | ext::FUN => View::Fun(0, e),
        ext::EXPORT => View::Fun(1, e),
        _ => View::Other(e),
    })
}

/// A small integer (`SMALL_INTEGER_EXT` / `INTEGER_EXT`) inside external format at `p`:
/// its value and the position after it.
fn ext_small_int(b: &[u8], p: usize) -> Option<(i64, usize)> {
    match *b.get(p)? {
        ext::SMALL_INTEGER => Some((*b.get(p + 1)? as i64, p + 2)),
        ext::INTEGER => Some((be32(b, p + 1)? as i32 as i64, p + 5)),
        _ => None,
    }
}

/// Module, function, index or arity, old uniq, free variable count, free variables.
type FunKey<'a> = (&'a [u8], &'a [u8], i64, i64, i64, &'a [u8]);

/// The ERTS (OTP 25 `erts_cmp`) sort key of a fun in external format: external funs
/// (`EXPORT_EXT`) by module text, function text, arity; local funs (`NEW_FUN_EXT`) by
/// module text, index, old uniq and number of free variables, then (approximation) the
/// bytes of the free variables. Comparing the raw bytes alone put `&lists:reverse/1`
/// before `&'Elixir.Enum':map/2` (atom length bytes first), unlike ERTS.
fn fun_key(e: &[u8]) -> Option<FunKey<'_>> {
    match *e.get(1)? {
        ext::EXPORT => {
            let (module, p) = ext_atom(e, 2)?;
            let (function, p) = ext_atom(e, p)?;
            let (arity, _) = ext_small_int(e, p)?;
            Some((module, function, arity, 0, 0, &[]))
        }
        ext::NEW_FUN => {
            let index = be32(e, 23)? as i64;
            let num_free = be32(e, 27)? as i64;
            let (module, p) = ext_atom(e, 31)?;
            let (_old_index, p) = ext_small_int(e, p)?;
            let (old_uniq, p) = ext_small_int(e, p)?;
            // The creator pid is not part of the order: skip it.
            let pid_tag = *e.get(p)?;
            let (_node, q) = ext_atom(e, p + 1)?;
            let p = match pid_tag {
                ext::NEW_PID => q + 12,
                ext::PID => q + 9,
                _ => return None,
            };
            Some((module, &[], index, old_uniq, num_free, e.get(p..)?))
        }
        _ => None,
    }
}

/// Two funs of the same kind (both local or both external); see [`fun_key`]. Falls back
/// to the bytes when either cannot be parsed.
fn cmp_funs(x: &[u8], y: &[u8]) -> Ordering {
    match (fun_key(x), fun_key(y)) {
        (Some(kx), Some(ky)) => kx.cmp(&ky),
        _ => x.cmp(y),
    }
}

/// The shortcut for what deep terms are made of: two tuple or list headers (opened
/// without building a [`View`]), two identical immediates (equal).
enum Fast {
    /// Both open a container: push the frame, go on with the first elements.
    Open(Frame, Cur, Cur),
    /// Equal, ending at these positions.
    Same(usize, usize),
    Differ(Ordering),
    /// Anything else: the general comparison.
    Slow,
}

#[inline(always)]
fn fast(a: &[u8], ca: Cur, b: &[u8], cb: Cur) -> Fast {
    if let (Some((fa, na)), Some((fb, nb))) = (list_at(a, ca), list_at(b, cb)) {
        return Fast::Open(Frame::Tail(na - 1, nb - 1), Cur::at(fa), Cur::at(fb));
    }
    if ca.rest > 0 || cb.rest > 0 {
        return Fast::Slow;
    }
    let (pa, pb) = (ca.pos, cb.pos);
    match (a.get(pa), b.get(pb)) {
        (Some(&tag::TUPLE), Some(&tag::TUPLE)) => {
            let (Some(n), Some(m)) = (le32(a, pa + 1), le32(b, pb + 1)) else {
                return Fast::Slow;
            };
            if n != m {
                Fast::Differ(n.cmp(&m))
            } else if n == 0 {
                Fast::Same(pa + 5, pb + 5)
            } else {
                Fast::Open(Frame::Tuple(n - 1), Cur::at(pa + 5), Cur::at(pb + 5))
            }
        }
        (Some(&tag::IMM), Some(&tag::IMM)) => match (a.get(pa..pa + 9), b.get(pb..pb + 9)) {
            // The same word: the same term.
            (Some(x), Some(y)) if x == y => Fast::Same(pa + 9, pb + 9),
            _ => Fast::Slow,
        },
        _ => Fast::Slow,
    }
}

/// A non-empty list at `c`: its first element's position and its element count.
#[inline(always)]
fn list_at(b: &[u8], c: Cur) -> Option<(usize, u32)> {
    if c.rest > 0 {
        return Some((c.pos, c.rest));
    }
    if *b.get(c.pos)? != tag::LIST {
        return None;
    }
    let n = le32(b, c.pos + 1)?;
    (n > 0).then_some((c.pos + 5, n))
}

#[inline(always)]
fn le32(b: &[u8], p: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(p..p + 4)?.try_into().ok()?))
}

/// What is left of a container one of whose elements is being compared. Both sides
/// are at the same place in their containers: the walk only goes on while everything
/// before compared equal.
#[derive(Debug, Clone, Copy)]
enum Frame {
    /// Tuple elements left after the current one (the two arities are equal).
    Tuple(u32),
    /// After the current heads, the rest of the two lists: elements left on each side,
    /// then the tail term.
    Tail(u32, u32),
}

fn cmp_terms(a: &[u8], ca: Cur, b: &[u8], cb: Cur, exact: bool) -> Option<Ordering> {
    cmp_walk(a, ca, b, cb, exact, &mut Cx::default()).map(|(o, _, _)| o)
}

/// Maps nested in maps deeper than this are not compared: the comparison gives up
/// (`None`: [`compare`] falls back to the bytes) rather than recurse further. The
/// encoder stores maps nested deeper than 64 in the external format, so this is never
/// reached by encoded keys; it bounds the native stack whatever the input.
const MAX_MAP_NESTING: u32 = 128;

/// Per-comparison state: terms visited (for the tests), maps open (the recursion).
#[derive(Debug, Default)]
struct Cx {
    steps: u64,
    maps: u32,
}

/// Compares the terms at `ca` and `cb` in one pass over both encodings: every term
/// visited is read once, so the cost is linear in what is compared, whatever the nesting
/// (an element is never stepped over to find the next one: when it compared equal, the
/// walk has just reached its end). The stack holds one [`Frame`] per open container, on
/// the heap. Returns the order and, when equal, the positions just past both terms.
/// `cx.steps` counts the terms visited (for the tests that prove linearity).
fn cmp_walk(
    a: &[u8],
    mut ca: Cur,
    b: &[u8],
    mut cb: Cur,
    exact: bool,
    cx: &mut Cx,
) -> Option<(Ordering, usize, usize)> {
    let mut stack: Vec<Frame> = Vec::new();
    loop {
        cx.steps += 1;
        // Where both terms end, once they compared equal.
        let (mut pa, mut pb);
        match fast(a, ca, b, cb) {
            Fast::Open(frame, na, nb) => {
                stack.push(frame);
                (ca, cb) = (na, nb);
                continue;
            }
            Fast::Same(x, y) => (pa, pb) = (x, y),
            Fast::Differ(o) => return Some((o, 0, 0)),
            Fast::Slow => {
                let ((va, ea), (vb, eb)) = (view(a, ca)?, view(b, cb)?);
                (pa, pb) = (ea, eb);
                let ord = match (&va, &vb) {
                    (View::Num(x), View::Num(y)) => cmp_num(x, y, exact),
                    (View::Atom(ra, na), View::Atom(rb, nb)) => cmp_atoms(*ra, *na, *rb, *nb),
                    (View::Ref(x), View::Ref(y)) => cmp_remote(x, y),
                    (View::Fun(kx, x), View::Fun(ky, y)) => kx.cmp(ky).then_with(|| cmp_funs(x, y)),
                    (View::Port(x), View::Port(y)) => cmp_ports(x, y),
                    (View::Pid(x), View::Pid(y)) => cmp_pids(x, y),
                    (View::Tuple(n, fa), View::Tuple(m, fb)) => {
                        if n != m {
                            return Some((n.cmp(m), 0, 0));
                        }
                        if *n > 0 {
                            stack.push(Frame::Tuple(n - 1));
                            (ca, cb) = (Cur::at(*fa), Cur::at(*fb));
                            continue;
                        }
                        Ordering::Equal // `{}`: ends where its elements would start
                    }
                    (View::Map(n, fa), View::Map(m, fb)) => {
                        if n != m {
                            return Some((n.cmp(m), 0, 0));
                        }
                        let (o, ma, mb) = cmp_maps(a, *fa, b, *fb, *n, exact, cx)?;
                        (pa, pb) = (ma, mb);
                        o
                    }
                    (View::List(x), View::List(y)) => {
                        stack.push(Frame::Tail(x.rest - 1, y.rest - 1));
                        (ca, cb) = (Cur::at(x.pos), Cur::at(y.pos));
                        continue;
                    }
                    (View::Bits(x, nx), View::Bits(y, ny)) => cmp_bits(x, *nx, y, *ny),
                    (View::Other(x), View::Other(y)) => x.cmp(y),
                    (View::Nil, View::Nil) => Ordering::Equal,
                    _ => va.rank().cmp(&vb.rank()),
                };
                if ord.is_ne() {
                    return Some((ord, 0, 0));
                }
            }
        }
        // The pair ended at (pa, pb), equal: go on in the innermost open container.
        loop {
            match stack.pop() {
                None => return Some((Ordering::Equal, pa, pb)),
                // The last element ended the tuple: it ends there too.
                Some(Frame::Tuple(0)) => continue,
                Some(Frame::Tuple(k)) => {
                    stack.push(Frame::Tuple(k - 1));
                    (ca, cb) = (Cur::at(pa), Cur::at(pb));
                    break;
                }
                // The tails are compared in the lists' place: where they end, the
                // lists end.
                Some(Frame::Tail(ra, rb)) => {
                    ca = Cur { pos: pa, rest: ra };
                    cb = Cur { pos: pb, rest: rb };
                    break;
                }
            }
        }
    }
}

fn cmp_num(x: &Num, y: &Num, exact: bool) -> Ordering {
    match (x, y) {
        (Num::Int(i), Num::Int(j)) => i.cmp(j),
        (Num::Float(f), Num::Float(g)) => cmp_f64(*f, *g),
        // Map-key order: every integer is below every float.
        (Num::Int(_), Num::Float(_)) if exact => Ordering::Less,
        (Num::Float(_), Num::Int(_)) if exact => Ordering::Greater,
        (Num::Int(i), Num::Float(f)) => cmp_int_float(i, *f),
        (Num::Float(f), Num::Int(i)) => cmp_int_float(i, *f).reverse(),
    }
}

fn cmp_f64(f: f64, g: f64) -> Ordering {
    // Erlang has no NaN; `total_cmp` only keeps the order total on garbage.
    f.partial_cmp(&g).unwrap_or_else(|| f.total_cmp(&g))
}

/// Exact comparison of an integer with a float.
fn cmp_int_float(i: &Int, f: f64) -> Ordering {
    if !f.is_finite() {
        return if f > 0.0 || f.is_nan() {
            Ordering::Less
        } else {
            Ordering::Greater
        };
    }
    let t = f.trunc();
    let frac = f - t; // exact: `t` and `f` share the exponent range
    i.cmp(&float_to_int(t)).then(if frac > 0.0 {
        Ordering::Less
    } else if frac < 0.0 {
        Ordering::Greater
    } else {
        Ordering::Equal
    })
}

/// The integer an integral, finite float holds, exactly.
fn float_to_int(t: f64) -> Int {
    if t.abs() < 2f64.powi(126) {
        return Int::Fix(t as i128); // exact: integral and in range
    }
    let bits = t.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as usize - 1075; // t >= 2^126: positive
    let mant = (bits & ((1 << 52) - 1)) | (1 << 52);
    let mut mag = vec![0u8; exp / 8 + 8];
    let shifted = mant << (exp % 8); // below 2^60
    mag[exp / 8..exp / 8 + 8].copy_from_slice(&shifted.to_le_bytes());
    while mag.last() == Some(&0) {
        mag.pop();
    }
    Int::Big(Big { neg: t < 0.0, mag })
}

fn cmp_atoms(ra: Option<u64>, na: Option<&[u8]>, rb: Option<u64>, nb: Option<&[u8]>) -> Ordering {
    if ra.is_some() && ra == rb {
        return Ordering::Equal; // the same atom
    }
    match (na, nb) {
        (Some(x), Some(y)) => x.cmp(y),
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (None, None) => ra.cmp(&rb),
    }
}

/// Node, creation, then id words from the last one down (missing words count as 0).
fn cmp_remote(x: &RemoteId, y: &RemoteId) -> Ordering {
    x.0.cmp(y.0).then(x.1.cmp(&y.1)).then_with(|| {
        let n = x.2.len().max(y.2.len());
        (0..n)
            .rev()
            .map(|i| {
                let wx = x.2.get(i).copied().unwrap_or(0);
                let wy = y.2.get(i).copied().unwrap_or(0);
                wx.cmp(&wy)
            })
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
    })
}

// Internal pids and ports on OTP 25, 64-bit (erl_term.h: `_PID_DATA_SHIFT` 4,
// `_PID_DATA_SIZE` 28, `_PID_NUM_SIZE` 15; the port data is the whole 28 bits):
//
//   bits 63..32  derived from the data by the process/port table (a shuffled table index
//                that spreads neighbours over cache lines): not ordered, ignored here
//   bits 31..4   the data: a pid's serial (13 bits) above its number (15 bits); a port's
//                number (28 bits)
//   bits  3..0   the tag (0b0011 pid, 0b0111 port)
//
// `erlang:list_to_pid("<0.N.S>")` accepts exactly N < 2^15, S < 2^13 and
// `list_to_port("#Port<0.N>")` N < 2^28 on OTP 25. (OTP 26 widened the data to 60 bits;
// the tests against ERTS in test/pid_order_test.exs catch a layout that changes.)
const DATA_SHIFT: u32 = 4;
const PID_NUM_BITS: u32 = 15;

/// The ERTS order key of a local pid's word: `serial << 32 | number` (the shape that
/// [`cmp_pids`] also gives a remote pid, whose fields are 32 bits wide).
pub fn local_pid_key(raw: u64) -> u64 {
    let data = (raw as u32 >> DATA_SHIFT) as u64;
    let number = data & ((1 << PID_NUM_BITS) - 1);
    let serial = data >> PID_NUM_BITS;
    (serial << 32) | number
}

/// The number of a local port (its order key) from its word.
pub fn local_port_key(raw: u64) -> u64 {
    (raw as u32 >> DATA_SHIFT) as u64
}

/// Pids as ERTS: serial, number, then node (local first on a tie, see the module docs).
fn cmp_pids(x: &Result<u64, RemoteId>, y: &Result<u64, RemoteId>) -> Ordering {
    // A remote pid's words are (number, serial).
    let key = |p: &Result<u64, RemoteId>| match p {
        Ok(k) => *k,
        Err(r) => {
            let (number, serial) = (r.2.first().copied(), r.2.get(1).copied());
            (serial.unwrap_or(0) << 32) | number.unwrap_or(0)
        }
    };
    key(x).cmp(&key(y)).then_with(|| match (x, y) {
        (Ok(_), Ok(_)) => Ordering::Equal,
        (Ok(_), Err(_)) => Ordering::Less,
        (Err(_), Ok(_)) => Ordering::Greater,
        (Err(p), Err(q)) => p.0.cmp(q.0).then(p.1.cmp(&q.1)),
    })
}

/// Ports as ERTS: node, then number (local ones first, see the module docs).
fn cmp_ports(x: &Result<u64, RemoteId>, y: &Result<u64, RemoteId>) -> Ordering {
    match (x, y) {
        (Ok(p), Ok(q)) => p.cmp(q),
        (Ok(_), Err(_)) => Ordering::Less,
        (Err(_), Ok(_)) => Ordering::Greater,
        (Err(p), Err(q)) => cmp_remote(p, q),
    }
}

fn cmp_bits(x: &[u8], nx: u64, y: &[u8], ny: u64) -> Ordering {
    let common = nx.min(ny);
    let full = (common / 8) as usize;
    let ord = x[..full].cmp(&y[..full]);
    if ord.is_ne() {
        return ord;
    }
    let rem = (common % 8) as u32;
    if rem > 0 {
        let mask = 0xFFu8 << (8 - rem);
        let ord = (x[full] & mask).cmp(&(y[full] & mask));
        if ord.is_ne() {
            return ord;
        }
    }
    nx.cmp(&ny)
}

/// (key position, value position) of each pair, sorted in map-key order, and the
/// position just past the map.
fn sorted_pairs(b: &[u8], mut p: usize, n: u32, maps: u32) -> Option<(Vec<(usize, usize)>, usize)> {
    let mut pairs = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let v = skip(b, p)?;
        pairs.push((p, v));
        p = skip(b, v)?;
    }
    pairs.sort_by(|x, y| {
        let mut cx = Cx { steps: 0, maps };
        cmp_walk(b, Cur::at(x.0), b, Cur::at(y.0), true, &mut cx)
            .map_or(Ordering::Equal, |(o, ..)| o)
    });
    Some((pairs, p))
}

/// Maps of equal size: keys in map-key order (exactly), then values in that order; and
/// where both maps end. (Recurses once per map nested in a map value, which the encoder
/// bounds: deeper maps are stored in the external format.)
fn cmp_maps(
    a: &[u8],
    pa: usize,
    b: &[u8],
    pb: usize,
    n: u32,
    exact: bool,
    cx: &mut Cx,
) -> Option<(Ordering, usize, usize)> {
    if cx.maps >= MAX_MAP_NESTING {
        return None;
    }
    cx.maps += 1;
    let r = cmp_map_pairs(a, pa, b, pb, n, exact, cx);
    cx.maps -= 1;
    r
}

fn cmp_map_pairs(
    a: &[u8],
    pa: usize,
    b: &[u8],
    pb: usize,
    n: u32,
    exact: bool,
    cx: &mut Cx,
) -> Option<(Ordering, usize, usize)> {
    let (xa, ea) = sorted_pairs(a, pa, n, cx.maps)?;
    let (xb, eb) = sorted_pairs(b, pb, n, cx.maps)?;
    for (ka, kb) in xa.iter().zip(&xb) {
        let (o, ..) = cmp_walk(a, Cur::at(ka.0), b, Cur::at(kb.0), true, cx)?;
        if o.is_ne() {
            return Some((o, 0, 0));
        }
    }
    for (va, vb) in xa.iter().zip(&xb) {
        let (o, ..) = cmp_walk(a, Cur::at(va.1), b, Cur::at(vb.1), exact, cx)?;
        if o.is_ne() {
            return Some((o, 0, 0));
        }
    }
    Some((Ordering::Equal, ea, eb))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::term::int::{raw_from_small, MAX_SMALL, MIN_SMALL};
    use crate::term::Writer;

    fn enc(f: impl FnOnce(&mut Writer)) -> Vec<u8> {
        let mut w = Writer::default();
        f(&mut w);
        w.buf
    }
    fn int(v: i128) -> Vec<u8> {
        enc(|w| Int::Fix(v).write(w).unwrap())
    }
    fn big(neg: bool, pow2: usize) -> Vec<u8> {
        let mut mag = vec![0u8; pow2 / 8 + 1];
        mag[pow2 / 8] = 1 << (pow2 % 8);
        enc(|w| w.ext(&Big { neg, mag }.to_ext().unwrap()).unwrap())
    }
    fn float(f: f64) -> Vec<u8> {
        enc(|w| w.float(f))
    }
    /// Atom words deliberately in reverse alphabetical order.
    fn atom(name: &str) -> Vec<u8> {
        let raw = ((1_000_000 - name.bytes().map(|b| b as u64).sum::<u64>()) << 6) | 0x0b;
        enc(|w| w.atom(raw, name.as_bytes()))
    }
    fn ext_node(out: &mut Vec<u8>, node: &str) {
        out.extend_from_slice(&[119, node.len() as u8]);
        out.extend_from_slice(node.as_bytes());
    }
    fn reference(node: &str, words: &[u32]) -> Vec<u8> {
        let mut e = vec![131, 90];
        e.extend_from_slice(&(words.len() as u16).to_be_bytes());
        ext_node(&mut e, node);
        e.extend_from_slice(&1u32.to_be_bytes());
        for w in words {
            e.extend_from_slice(&w.to_be_bytes());
        }
        enc(|w| w.ext(&e).unwrap())
    }
    fn remote_pid(node: &str, id: u32) -> Vec<u8> {
        remote_pid_full(node, id, 0, 1)
    }
    fn remote_pid_full(node: &str, id: u32, serial: u32, creation: u32) -> Vec<u8> {
        let mut e = vec![131, 88];
        ext_node(&mut e, node);
        for x in [id, serial, creation] {
            e.extend_from_slice(&x.to_be_bytes());
        }
        enc(|w| w.ext(&e).unwrap())
    }
    /// A local pid's word as OTP 25 builds it (64-bit): data in bits 4..32, table-derived
    /// bits above (here made to disagree with the order on purpose).
    fn lpid(number: u64, serial: u64) -> Vec<u8> {
        let data = (serial << 15) | number;
        let junk = (0xFFFF_FFFF - data) & 0xFFFF_FFFF;
        enc(|w| w.imm((junk << 32) | (data << 4) | 3))
    }
    fn lport(number: u64) -> Vec<u8> {
        let junk = (0xFFFF_FFFF - number) & 0xFFFF_FFFF;
        enc(|w| w.imm((junk << 32) | (number << 4) | 7))
    }
    fn remote_port(node: &str, id: u64) -> Vec<u8> {
        let mut e = vec![131, 120];
        ext_node(&mut e, node);
        e.extend_from_slice(&id.to_be_bytes());
        e.extend_from_slice(&1u32.to_be_bytes());
        enc(|w| w.ext(&e).unwrap())
    }
    fn pid(n: u64) -> Vec<u8> {
        enc(|w| w.imm((n << 4) | 3))
    }
    fn port(n: u64) -> Vec<u8> {
        enc(|w| w.imm((n << 4) | 7))
    }
    fn nil() -> Vec<u8> {
        enc(|w| w.imm(0x3b))
    }
    fn tuple(elems: &[Vec<u8>]) -> Vec<u8> {
        enc(|w| {
            w.tuple(elems.len() as u32);
            elems.iter().for_each(|e| w.raw(e));
        })
    }
    fn list(elems: &[Vec<u8>], tail: Vec<u8>) -> Vec<u8> {
        enc(|w| {
            w.list(elems.len() as u32);
            elems.iter().for_each(|e| w.raw(e));
            w.raw(&tail);
        })
    }
    fn map(pairs: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
        enc(|w| w.map(pairs.to_vec()).unwrap())
    }
    fn bin(b: &[u8]) -> Vec<u8> {
        enc(|w| w.binary(b).unwrap())
    }
    fn bits(bytes: &[u8], last_bits: u8) -> Vec<u8> {
        let mut e = vec![131, 77];
        e.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
        e.push(last_bits);
        e.extend_from_slice(bytes);
        enc(|w| w.ext(&e).unwrap())
    }
    fn fun(tag: u8, payload: u8) -> Vec<u8> {
        enc(|w| w.ext(&[131, tag, payload]).unwrap())
    }

    /// Each inner group holds terms that compare equal; groups strictly increase.
    fn check_ladder(groups: &[Vec<Vec<u8>>]) {
        for (i, gi) in groups.iter().enumerate() {
            for (j, gj) in groups.iter().enumerate() {
                for x in gi {
                    for y in gj {
                        assert_eq!(
                            compare(x, y),
                            i.cmp(&j),
                            "groups {i} vs {j}: {x:?} vs {y:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn every_type_pair_in_standard_order() {
        let ladder = vec![
            vec![int(1), float(1.0)],
            vec![atom("a")],
            vec![reference("n@h", &[1, 2, 3])],
            vec![fun(112, 0)],
            vec![port(1)],
            vec![pid(1)],
            vec![tuple(&[])],
            vec![map(&[])],
            vec![nil(), enc(|w| w.list(0)).into_iter().chain(nil()).collect()],
            vec![list(&[int(1)], nil())],
            vec![bin(b"")],
        ];
        check_ladder(&ladder);
    }

    #[test]
    fn numbers_compare_by_exact_value() {
        let p53 = 1i128 << 53;
        let ladder = vec![
            vec![big(true, 200), float(-(2f64.powi(200)))],
            vec![float(
                -1.7976931348623157e308 / 2.0 * 0.0 - 2f64.powi(100) * 1.5,
            )],
            vec![big(true, 100), float(-(2f64.powi(100)))],
            vec![int(i64::MIN as i128 - 1)],
            vec![int(i64::MIN as i128), float(i64::MIN as f64)],
            vec![int(MIN_SMALL as i128 - 1)],
            vec![int(MIN_SMALL as i128)],
            vec![int(-p53 - 1)],
            vec![int(-p53), float(-(p53 as f64))],
            vec![float(-1.5)],
            vec![int(-1), float(-1.0)],
            vec![float(-0.5)],
            vec![int(0), float(0.0), float(-0.0)],
            vec![float(5e-324)],
            vec![float(0.5)],
            vec![int(1), float(1.0), enc(|w| w.ext(&[131, 97, 1]).unwrap())],
            vec![float(1.0000000000000002)],
            vec![int(p53 - 1), float((p53 - 1) as f64)],
            vec![int(p53), float(p53 as f64)],
            vec![int(p53 + 1)],
            vec![int(p53 + 2), float((p53 + 2) as f64)],
            vec![int(MAX_SMALL as i128)],
            vec![
                int(MAX_SMALL as i128 + 1),
                float((MAX_SMALL as i128 + 1) as f64),
            ],
            vec![int(i64::MAX as i128)],
            vec![int(1i128 << 63), float(2f64.powi(63))],
            vec![int(u64::MAX as i128)],
            vec![int(1i128 << 64), float(2f64.powi(64)), big(false, 64)],
            vec![float(2f64.powi(64) * 1.5)],
            vec![big(false, 100), float(2f64.powi(100))],
            vec![float(2f64.powi(127))],
            vec![big(false, 200), float(2f64.powi(200))],
            vec![float(f64::MAX)],
            vec![big(false, 1100)],
        ];
        check_ladder(&ladder);
        // Raw words round-trip where expected.
        assert_eq!(
            compare(&int(7), &enc(|w| w.imm(raw_from_small(7)))),
            Ordering::Equal
        );
    }

    #[test]
    fn atoms_by_text_not_by_word() {
        check_ladder(&[
            vec![enc(|w| w.imm(0xff0b))], // a nameless atom word sorts first
            vec![atom("")],
            vec![atom("a")],
            vec![atom("ab")],
            vec![atom("b")],
            vec![atom("zz")],
            vec![atom("é")],
        ]);
        // The same atom, with or without the word matching.
        assert!(equal(
            &enc(|w| w.atom(0x4b, b"x")),
            &enc(|w| w.atom(0x4b, b"x"))
        ));
    }

    #[test]
    fn refs_pids_ports_local_and_remote() {
        check_ladder(&[
            vec![reference("a@h", &[9, 9, 1])],
            vec![reference("a@h", &[1, 1, 2])], // last word most significant
            vec![reference("b@h", &[0, 0, 0])],
            vec![fun(112, 5)],
            vec![fun(113, 1)], // local funs before exports
            vec![port(3)],
            vec![port(4)],
            vec![remote_port("a@h", 1)],
            vec![remote_port("b@h", 0)],
            vec![remote_pid("b@h", 1)],
            vec![pid(2)],
            vec![remote_pid("a@h", 7)],
            vec![remote_pid("a@h", 8)],
            vec![pid(10)],
        ]);
    }

    #[test]
    fn local_pid_and_port_words_decode() {
        // <0.251.1>: number 251, serial 1; the words printed by an OTP 25 VM.
        assert_eq!(local_pid_key(0x7d9_0008_0fb3), (1 << 32) | 251);
        assert_eq!(local_pid_key(0x3_a628_0007_4c53), 29893);
        assert_eq!(local_pid_key(0x3_ffff_ffff_fff3), (8191 << 32) | 32767);
        assert_eq!(local_pid_key(0x1_0008_0003), 1 << 32); // <0.0.1>
        assert_eq!(local_port_key(0xffff_000f_fff7), 65535);
        assert_eq!(local_port_key(0xffff_ffff_fff7), 268_435_455);
    }

    #[test]
    fn pids_by_serial_number_then_node_as_erts() {
        // The order an OTP 25 VM gives (checked with lists:sort/1 on these pids).
        check_ladder(&[
            vec![remote_pid_full("a@h", 0, 0, 0)],
            vec![remote_pid_full("b@h", 0, 0, 1)],
            vec![remote_pid_full("zz@h", 0, 0, 0)],
            vec![lpid(1, 0)],
            vec![remote_pid_full("z@h", 1, 0, 1)],
            vec![remote_pid_full("a@h", 2, 0, 2)],
            vec![lpid(3, 0)],
            vec![remote_pid_full("a@h", 3, 0, 1)], // a tie: local first (divergence)
            vec![remote_pid_full("a@h", 3, 0, 2)], // then creation
            vec![remote_pid_full("b@h", 3, 0, 1)],
            vec![lpid(29893, 0)],
            vec![lpid(32767, 0)],
            vec![remote_pid_full("a@h", 1 << 20, 0, 1)], // 32-bit remote numbers
            vec![lpid(0, 1)],
            vec![lpid(251, 1)],
            vec![remote_pid_full("a@h", 1 << 31, 1, 1)],
            vec![lpid(0, 2)],
            vec![lpid(32767, 8191)],
            vec![remote_pid_full("a@h", 0, 1 << 31, 1)],
        ]);
    }

    #[test]
    fn ports_by_node_then_number_as_erts() {
        check_ladder(&[
            vec![lport(0)],
            vec![lport(3)],
            vec![lport(255)],
            vec![lport(65535)],
            vec![lport(70000)],
            vec![lport(268_435_455)],
            vec![remote_port("a@h", 5)],
            vec![remote_port("a@h", 1 << 40)],
            vec![remote_port("b@h", 0)],
        ]);
    }

    #[test]
    fn pids_nested_in_keys() {
        // <0.29893.0> < <0.251.1> inside tuples and lists too.
        let (lo, hi) = (lpid(29893, 0), lpid(251, 1));
        check_ladder(&[
            vec![tuple(std::slice::from_ref(&lo))],
            vec![tuple(std::slice::from_ref(&hi))],
        ]);
        check_ladder(&[vec![list(&[lo], nil())], vec![list(&[hi], nil())]]);
    }

    #[test]
    fn tuples_lists_and_nesting() {
        let t = |xs: &[i128]| tuple(&xs.iter().map(|&x| int(x)).collect::<Vec<_>>());
        check_ladder(&[
            vec![t(&[9])],
            vec![t(&[1, 2]), tuple(&[float(1.0), int(2)])],
            vec![t(&[1, 3])],
            vec![tuple(&[int(1), t(&[5, 5])])],
            vec![
                tuple(&[int(1), t(&[5, 6])]),
                tuple(&[float(1.0), tuple(&[int(5), float(6.0)])]),
            ],
            vec![t(&[0, 0, 0])],
        ]);
        let l = |xs: &[i128]| list(&xs.iter().map(|&x| int(x)).collect::<Vec<_>>(), nil());
        check_ladder(&[
            vec![nil()],
            vec![list(&[int(1)], int(0))], // [1|0] < [1]: a number tail is below []
            vec![l(&[1])],
            vec![l(&[1, 1])],
            vec![list(&[int(1), int(2)], atom("x"))], // [1,2|x] < [1,2]: atom < []
            vec![l(&[1, 2]), list(&[float(1.0)], l(&[2]))],
            vec![l(&[1, 2, 3])],
            vec![list(&[int(1), int(2)], bin(b""))],
            vec![l(&[2])],
            vec![list(&[l(&[1])], nil())], // a list element is above any number
        ]);
    }

    #[test]
    fn maps_by_size_then_exact_keys_then_values() {
        let m = |ps: &[(Vec<u8>, Vec<u8>)]| map(ps);
        check_ladder(&[
            vec![m(&[])],
            vec![m(&[(int(2), atom("a"))])],
            vec![m(&[(int(1), atom("a"))])]
                .into_iter()
                .skip(1)
                .collect(),
            vec![m(&[(float(1.0), int(0))])],
            vec![m(&[(float(1.0), int(1)), (int(5), int(0))])]
                .into_iter()
                .skip(1)
                .collect(),
        ]);
        // #{2=>a} vs #{1=>a}: keys compared first.
        assert_eq!(
            compare(&m(&[(int(1), atom("a"))]), &m(&[(int(2), atom("a"))])),
            Ordering::Less
        );
        // Integer keys before float keys: #{1=>a} < #{1.0=>a}, and 2 < 1.0 as a key.
        assert_eq!(
            compare(&m(&[(int(1), atom("a"))]), &m(&[(float(1.0), atom("a"))])),
            Ordering::Less
        );
        assert_eq!(
            compare(&m(&[(int(2), atom("a"))]), &m(&[(float(1.0), atom("a"))])),
            Ordering::Less
        );
        // Values compare with ==: #{a => 1} == #{a => 1.0}.
        assert!(equal(
            &m(&[(atom("a"), int(1))]),
            &m(&[(atom("a"), float(1.0))])
        ));
        // Keys ordered in map-key order, not by encoding: #{1=>x, 1.0=>y} vs #{1=>x, 2.0=>y}.
        let a = m(&[(int(1), atom("x")), (float(1.0), atom("y"))]);
        let b = m(&[(int(1), atom("x")), (float(2.0), atom("y"))]);
        assert_eq!(compare(&a, &b), Ordering::Less);
        // Values in key order: #{b=>1, a=>2} vs #{b=>2, a=>1}: the value of `a` decides.
        let a = m(&[(atom("b"), int(1)), (atom("a"), int(2))]);
        let b = m(&[(atom("b"), int(2)), (atom("a"), int(1))]);
        assert_eq!(compare(&a, &b), Ordering::Greater);
        // Exact mode inside keys: {1} and {1.0} are distinct keys.
        let a = m(&[(tuple(&[int(1)]), int(0))]);
        let b = m(&[(tuple(&[float(1.0)]), int(0))]);
        assert_eq!(compare(&a, &b), Ordering::Less);
        assert_eq!(
            compare_exact(&tuple(&[int(1)]), &tuple(&[float(1.0)])),
            Ordering::Less
        );
    }

    #[test]
    fn bitstrings_bitwise_then_length() {
        check_ladder(&[
            vec![bin(b""), bits(&[], 0)],
            vec![bits(&[0x00], 1)],
            vec![bin(&[0x00])],
            vec![bits(&[0x80], 1)],
            vec![bits(&[0x80], 2)],
            vec![bits(&[0xC0], 2)],
            vec![bin(&[0xC0])],
            vec![bin(&[0xC0, 0x00])],
            vec![bits(&[0xC0, 0x80], 1)],
            vec![bin(&[0xFF])],
        ]);
        assert!(equal(
            &bin(b"abc"),
            &enc(|w| w.ext(&[131, 109, 0, 0, 0, 3, b'a', b'b', b'c']).unwrap())
        ));
    }

    /// `depth` one-element tuples (`{{{...leaf}}}`) or lists (`[[[...leaf]]]`) around
    /// `leaf`, written in one pass.
    fn nested(depth: usize, list: bool, leaf: &[u8]) -> Vec<u8> {
        let mut w = Writer::with_capacity(depth * 14 + leaf.len());
        for _ in 0..depth {
            if list {
                w.list(1);
            } else {
                w.tuple(1);
            }
        }
        w.raw(leaf);
        if list {
            for _ in 0..depth {
                w.imm(0x3b);
            }
        }
        w.buf
    }

    /// The order and the number of terms the walk visited.
    fn walk(a: &[u8], b: &[u8]) -> (Ordering, u64) {
        let mut cx = Cx::default();
        let (o, ..) = cmp_walk(a, Cur::at(0), b, Cur::at(0), false, &mut cx).unwrap();
        (o, cx.steps)
    }

    #[test]
    fn deep_nesting_compares_in_one_pass() {
        // 200,000 levels: the walk that stepped over each element to find the next one
        // read every level once per enclosing level (minutes of work); now each term is
        // visited once: one step per tuple level, two per list level (head, then tail).
        const D: u64 = 200_000;
        for list in [false, true] {
            let per_level = if list { 2 } else { 1 };
            let zero = nested(D as usize, list, &int(0));
            let one = nested(D as usize, list, &int(1));
            let one_f = nested(D as usize, list, &float(1.0));
            assert_eq!(compare(&zero, &one), Ordering::Less);
            assert_eq!(compare(&one, &zero), Ordering::Greater);
            assert_eq!(compare(&one, &one_f), Ordering::Equal, "1 == 1.0 deep down");
            assert_eq!(compare_exact(&one, &one_f), Ordering::Less);
            let (o, steps) = walk(&zero, &one);
            assert_eq!(o, Ordering::Less);
            assert!(steps <= D + 1, "list {list}: {steps} steps");
            // Equal all the way: every list level also compares its tail `[]`.
            let (o, steps) = walk(&one, &one_f);
            assert_eq!(o, Ordering::Equal);
            assert!(steps <= per_level * D + 1, "list {list}: {steps} steps");
            // One level shallower: decided where the leaf meets a container.
            let shallow = nested(D as usize - 1, list, &int(5));
            assert_eq!(
                compare(&shallow, &zero),
                Ordering::Less,
                "number < container"
            );
            assert_eq!(compare(&zero, &shallow), Ordering::Greater);
        }
        // Deep terms side by side: {Deep0, Deep1} vs {Deep0, Deep0} walks the first
        // element once, then the second.
        let (d0, d1) = (
            nested(50_000, true, &int(0)),
            nested(50_000, false, &int(1)),
        );
        let d1_lower = nested(50_000, false, &int(0));
        let x = tuple(&[d0.clone(), d1]);
        let y = tuple(&[d0, d1_lower]);
        let (o, steps) = walk(&x, &y);
        assert_eq!(o, Ordering::Greater);
        assert!(steps <= 2 * 50_000 + 50_000 + 4, "{steps} steps");
        // A long flat list: two steps per element.
        let n = 100_000;
        let l = |last: i128| {
            list(
                &(0..n)
                    .map(|i| int(if i == n - 1 { last } else { 7 }))
                    .collect::<Vec<_>>(),
                nil(),
            )
        };
        let (o, steps) = walk(&l(1), &l(2));
        assert_eq!(o, Ordering::Less);
        assert!(steps <= 2 * n as u64 + 1, "{steps} steps");
    }

    #[test]
    fn maps_nested_past_the_limit_give_up_without_recursing_further() {
        // #{k => #{k => ... 1}} vs the same with 2: decided at the leaf within the limit,
        // given up (bytes order, no deeper recursion) past it.
        let nest = |depth: usize, leaf: i128| {
            let mut t = int(leaf);
            for _ in 0..depth {
                t = map(&[(atom("k"), t)]);
            }
            t
        };
        let (a, b) = (nest(100, 1), nest(100, 2));
        assert_eq!(compare(&a, &b), Ordering::Less);
        assert_eq!(compare(&nest(100, 1), &nest(100, 1)), Ordering::Equal);
        let (a, b) = (nest(10_000, 1), nest(10_000, 2));
        assert!(cmp_terms(&a, Cur::at(0), &b, Cur::at(0), false).is_none());
        assert_eq!(compare(&a, &b), a.cmp(&b));
    }

    #[test]
    fn garbage_never_panics_and_is_antisymmetric() {
        let mut x: u64 = 0x1234_5678_9abc_def1;
        let mut rnd = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..20_000 {
            let la = (rnd() % 24) as usize;
            let lb = (rnd() % 24) as usize;
            let a: Vec<u8> = (0..la).map(|_| (rnd() % 12) as u8).collect();
            let b: Vec<u8> = (0..lb).map(|_| (rnd() % 12) as u8).collect();
            assert_eq!(compare(&a, &b), compare(&b, &a).reverse());
        }
    }
}
