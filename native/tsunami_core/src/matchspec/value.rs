//! Values the interpreter works with: encodings (see [`crate::term`]), borrowed from the
//! object or the program when they can be, built otherwise; and the comparisons the
//! match-spec language needs over them.
//!
//! * `=:=` ([`eq_exact`]): the encodings are canonical, so equal bytes mean equal terms.
//!   Two things break plain byte equality and are handled here: an atom may be written
//!   with its name (`ATOM`, in `ordered_set` keys and in compiled literals) or without
//!   (`IMM`), and on OTP < 27 `-0.0 =:= 0.0`. Maps whose key encodings sort differently
//!   in the two forms are compared with [`order::compare_exact`].
//! * Head-pattern literals ([`eq_pattern`]): `=:=`, but floats by their bits, as ETS
//!   matches them (`-0.0` does not match `0.0`).
//! * Term order and `==` ([`compare`]): [`order::compare`], after giving every bare atom
//!   word its name through the [`Vm`] (atom words say nothing about order).

use super::{Fail, Vm};
use crate::term::int::{raw_from_small, small_from_raw, Int, MAX_SMALL, MIN_SMALL};
use crate::term::{order, read_head, tag, Head, Writer};
use std::cmp::Ordering;

/// ERTS 64-bit immediate layout (as in [`crate::term::order`]).
pub const NIL: u64 = 0x3B;

#[inline]
pub fn is_atom_word(raw: u64) -> bool {
    raw & 0x3F == 0x0B
}

/// One value: an encoding, borrowed or owned. Scalars (9 bytes) are kept inline.
#[derive(Debug, Clone)]
pub enum Val<'a> {
    Ref(&'a [u8]),
    Inline([u8; 9]),
    Own(Vec<u8>),
}

impl<'a> Val<'a> {
    #[inline]
    pub fn bytes(&self) -> &[u8] {
        match self {
            Val::Ref(b) => b,
            Val::Inline(b) => b,
            Val::Own(v) => v,
        }
    }

    #[inline]
    pub fn imm(raw: u64) -> Val<'static> {
        let mut b = [0u8; 9];
        b[0] = tag::IMM;
        b[1..].copy_from_slice(&raw.to_le_bytes());
        Val::Inline(b)
    }

    pub fn float(f: f64) -> Val<'static> {
        let mut b = [0u8; 9];
        b[0] = tag::FLOAT;
        b[1..].copy_from_slice(&f.to_bits().to_le_bytes());
        Val::Inline(b)
    }

    /// An integer in the canonical encoding.
    pub fn int(v: i128) -> Val<'static> {
        if (MIN_SMALL as i128..=MAX_SMALL as i128).contains(&v) {
            return Val::imm(raw_from_small(v as i64));
        }
        let mut w = Writer::default();
        let written = Int::Fix(v).write(&mut w);
        debug_assert!(
            written.is_ok(),
            "an i128 is at most 20 bytes of external format"
        );
        Val::Own(w.buf)
    }

    /// The part `range` of this value's bytes, borrowed when this value is.
    pub fn sub(&self, range: std::ops::Range<usize>) -> Val<'a> {
        match self {
            Val::Ref(b) => Val::Ref(&b[range]),
            other => Val::Own(other.bytes()[range].to_vec()),
        }
    }

    /// The raw word when this value is exactly one immediate (atom words included).
    #[inline]
    pub fn word(&self) -> Option<u64> {
        match read_head(self.bytes(), 0)? {
            (Head::Imm(raw), n) if n == self.bytes().len() => Some(raw),
            _ => None,
        }
    }
}

/// `=:=` on two encodings.
pub fn eq_exact(a: &[u8], b: &[u8]) -> bool {
    if a == b {
        return true;
    }
    match step_eq(a, b, crate::term::neg_zero_is_zero()) {
        Some(eq) => eq,
        None => order::compare_exact(a, b) == Ordering::Equal,
    }
}

/// A literal in a head pattern against a term: `=:=`, except that floats match only
/// when their bits do, so `-0.0` does not match `0.0` even where `-0.0 =:= 0.0`
/// (OTP < 27). ETS head patterns match float literals that way (its match programs
/// compare the float words), while guards and repeated variables use `=:=`. Literals
/// hold no maps (a map in a pattern is compiled as a map pattern); where one is met
/// anyway, this is `=:=`.
pub fn eq_pattern(lit: &[u8], b: &[u8]) -> bool {
    if lit == b {
        return true;
    }
    match step_eq(lit, b, false) {
        Some(eq) => eq,
        None => eq_exact(lit, b),
    }
}

/// Walks both encodings in step (`zeros_equal`: `-0.0` matches `0.0`). `None` when a map
/// is met (its pairs are sorted by encoding, which differs between named and bare
/// atoms) or the input is malformed.
fn step_eq(a: &[u8], b: &[u8], zeros_equal: bool) -> Option<bool> {
    let (mut pa, mut pb) = (0, 0);
    while pa < a.len() {
        let (ha, na) = read_head(a, pa)?;
        let (hb, nb) = read_head(b, pb)?;
        let same = match (ha, hb) {
            (Head::Map(x), Head::Map(y)) if x == y && x > 0 => return None,
            (Head::Float(x), Head::Float(y)) if zeros_equal => x == y,
            (Head::Float(x), Head::Float(y)) => x.to_bits() == y.to_bits(),
            (x, y) => x == y,
        };
        if !same {
            return Some(false);
        }
        (pa, pb) = (na, nb);
    }
    Some(pb == b.len())
}

/// Whether an encoding holds an atom without its name.
fn has_bare_atom(b: &[u8]) -> bool {
    let mut p = 0;
    while let Some((head, next)) = read_head(b, p) {
        if b[p] == tag::IMM {
            if let Head::Imm(raw) = head {
                if is_atom_word(raw) {
                    return true;
                }
            }
        }
        p = next;
    }
    false
}

/// A copy of `b` where every bare atom carries its name.
fn named(b: &[u8], vm: &dyn Vm) -> Result<Vec<u8>, Fail> {
    let mut w = Writer::with_capacity(b.len() + 16);
    let mut p = 0;
    while p < b.len() {
        let (head, next) = read_head(b, p).ok_or(Fail::Error)?;
        match head {
            Head::Imm(raw) if b[p] == tag::IMM && is_atom_word(raw) => {
                let name = vm.atom_name(raw).ok_or(Fail::Vm)?;
                w.atom(raw, &name);
            }
            _ => w.raw(&b[p..next]),
        }
        p = next;
    }
    Ok(w.buf)
}

/// Erlang term order, `==` semantics.
pub fn compare(a: &[u8], b: &[u8], vm: &dyn Vm) -> Result<Ordering, Fail> {
    if let (Some(x), Some(y)) = (order::small_int(a), order::small_int(b)) {
        return Ok(x.cmp(&y));
    }
    if has_bare_atom(a) || has_bare_atom(b) {
        let (x, y) = (named(a, vm)?, named(b, vm)?);
        return Ok(order::compare(&x, &y));
    }
    Ok(order::compare(a, b))
}

/// `==`: a lone atom, pid, port or `[]` is equal only to itself, which needs no names.
pub fn eq_order(a: &[u8], b: &[u8], vm: &dyn Vm) -> Result<bool, Fail> {
    if lone_imm(a) || lone_imm(b) {
        return Ok(eq_exact(a, b));
    }
    Ok(compare(a, b, vm)? == Ordering::Equal)
}

/// One immediate that is not a number.
fn lone_imm(b: &[u8]) -> bool {
    match read_head(b, 0) {
        Some((Head::Imm(raw), n)) if n == b.len() => small_from_raw(raw).is_none(),
        _ => false,
    }
}

/// A number, for arithmetic.
#[derive(Debug, Clone, Copy)]
pub enum Num {
    I(i128),
    F(f64),
}

/// The number a value holds: `Error` if it is no number, `Vm` for a bignum beyond i128.
pub fn num(b: &[u8]) -> Result<Num, Fail> {
    match read_head(b, 0).ok_or(Fail::Error)?.0 {
        Head::Float(f) => Ok(Num::F(f)),
        Head::Imm(raw) => small_from_raw(raw)
            .map(|v| Num::I(v as i128))
            .ok_or(Fail::Error),
        Head::Int64(v) => Ok(Num::I(v as i128)),
        Head::UInt64(v) => Ok(Num::I(v as i128)),
        Head::Ext(e) => match e.get(1) {
            Some(110 | 111) => match Int::read(b, 0) {
                Some(Int::Fix(v)) => Ok(Num::I(v)),
                _ => Err(Fail::Vm),
            },
            _ => Err(Fail::Error),
        },
        _ => Err(Fail::Error),
    }
}

/// An integer (`Error` for anything else).
pub fn int(b: &[u8]) -> Result<i128, Fail> {
    match num(b)? {
        Num::I(v) => Ok(v),
        Num::F(_) => Err(Fail::Error),
    }
}

/// The value of a number result: floats must be finite (else `badarith`).
pub fn num_val(n: Num) -> Result<Val<'static>, Fail> {
    match n {
        Num::I(v) => Ok(Val::int(v)),
        Num::F(f) if f.is_finite() => Ok(Val::float(f)),
        Num::F(_) => Err(Fail::Error),
    }
}

/// What kind of term an encoding holds (for the type tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Int,
    Float,
    Atom,
    Pid,
    Port,
    Ref,
    Fun,
    Tuple,
    Nil,
    List,
    Map,
    Binary,
    /// A bitstring whose length is not a whole number of bytes.
    Bits,
    Other,
}

pub fn kind(b: &[u8]) -> Kind {
    let Some((head, _)) = read_head(b, 0) else {
        return Kind::Other;
    };
    match head {
        Head::Imm(raw) => {
            if small_from_raw(raw).is_some() {
                Kind::Int
            } else if is_atom_word(raw) {
                Kind::Atom
            } else if raw & 0xF == 0x3 {
                Kind::Pid
            } else if raw & 0xF == 0x7 {
                Kind::Port
            } else if raw & 0x3F == NIL {
                Kind::Nil
            } else {
                Kind::Other
            }
        }
        Head::Float(_) => Kind::Float,
        Head::Int64(_) | Head::UInt64(_) => Kind::Int,
        Head::Tuple(_) => Kind::Tuple,
        Head::List(0) => Kind::Nil,
        Head::List(_) => Kind::List,
        Head::Bin(_) => Kind::Binary,
        Head::Map(_) => Kind::Map,
        Head::Ext(e) => match e.get(1).copied().unwrap_or(0) {
            110 | 111 | 97 | 98 => Kind::Int,
            70 => Kind::Float,
            77 => Kind::Bits,
            109 => Kind::Binary,
            88 | 103 => Kind::Pid,
            89 | 102 | 120 => Kind::Port,
            90 | 101 | 114 => Kind::Ref,
            112 | 113 | 117 => Kind::Fun,
            116 => Kind::Map,
            104 | 105 => Kind::Tuple,
            108 => Kind::List,
            106 => Kind::Nil,
            100 | 115 | 118 | 119 => Kind::Atom,
            _ => Kind::Other,
        },
    }
}

/// A bitstring in the external format: (whole bytes, bits in the last byte, 1..=8).
pub fn ext_bits(b: &[u8]) -> Option<(usize, u8)> {
    match read_head(b, 0)?.0 {
        Head::Ext([131, 77, a, b2, c, d, bits, ..]) => {
            Some((u32::from_be_bytes([*a, *b2, *c, *d]) as usize, *bits))
        }
        _ => None,
    }
}
