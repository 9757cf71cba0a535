//! Spec term (encoded with named atoms) → [`MatchSpec`].
//!
//! The encoding is first read into a small tree ([`T`]) that keeps each node's byte range,
//! so literals are copied straight from the spec's bytes. Nesting deeper than
//! [`MAX_DEPTH`] is refused (the caller falls back to OTP's engine, which raises
//! `system_limit` where ETS does).

use super::{Clause, Expr, Fun, MatchSpec, Pat, Words};
use crate::term::{read_atom, read_head, skip, Head};
use std::collections::BTreeMap;
use std::ops::Range;

const MAX_DEPTH: usize = 200;

/// A spec term, read.
enum T<'a> {
    Atom(&'a [u8], Range<usize>),
    Tuple(Vec<T<'a>>, Range<usize>),
    /// Elements (at least one) and the tail.
    List(Vec<T<'a>>, Box<T<'a>>, Range<usize>),
    Map(Vec<(T<'a>, T<'a>)>, Range<usize>),
    Other(Range<usize>),
}

impl T<'_> {
    fn range(&self) -> Range<usize> {
        match self {
            T::Atom(_, r) | T::Tuple(_, r) | T::List(_, _, r) | T::Map(_, r) | T::Other(r) => {
                r.clone()
            }
        }
    }
}

fn read(b: &[u8], pos: usize, depth: usize) -> Option<(T<'_>, usize)> {
    if depth > MAX_DEPTH {
        return None;
    }
    if let Some((_, name, next)) = read_atom(b, pos) {
        return Some((T::Atom(name, pos..next), next));
    }
    let (head, mut p) = read_head(b, pos)?;
    Some(match head {
        Head::Tuple(n) => {
            let (v, q) = read_n(b, p, n, depth + 1)?;
            (T::Tuple(v, pos..q), q)
        }
        Head::List(0) => read(b, p, depth)?,
        Head::List(n) => {
            let (v, q) = read_n(b, p, n, depth + 1)?;
            let (tail, q) = read(b, q, depth + 1)?;
            (T::List(v, Box::new(tail), pos..q), q)
        }
        Head::Map(n) => {
            let mut v = Vec::with_capacity(n as usize);
            for _ in 0..n {
                let (k, q) = read(b, p, depth + 1)?;
                let (val, q) = read(b, q, depth + 1)?;
                v.push((k, val));
                p = q;
            }
            (T::Map(v, pos..p), p)
        }
        _ => {
            let end = skip(b, pos)?;
            (T::Other(pos..end), end)
        }
    })
}

/// `n` terms in a row from `p`: the elements of a tuple or a list.
fn read_n(b: &[u8], mut p: usize, n: u32, depth: usize) -> Option<(Vec<T<'_>>, usize)> {
    let mut v = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let (t, q) = read(b, p, depth)?;
        v.push(t);
        p = q;
    }
    Some((v, p))
}

/// `'$N'` → N.
fn var_number(name: &[u8]) -> Option<u32> {
    let digits = name.strip_prefix(b"$")?;
    if digits.is_empty() || digits.len() > 9 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

fn collect_vars(t: &T, out: &mut Vec<u32>) {
    match t {
        T::Atom(name, _) => out.extend(var_number(name)),
        T::Tuple(v, _) => v.iter().for_each(|t| collect_vars(t, out)),
        T::List(v, tail, _) => {
            v.iter().for_each(|t| collect_vars(t, out));
            collect_vars(tail, out);
        }
        T::Map(v, _) => v.iter().for_each(|(_, t)| collect_vars(t, out)),
        T::Other(_) => {}
    }
}

/// Whether a map occurs in `t` (a ground pattern holding one is still matched piece by
/// piece: a map pattern matches any map with at least its keys).
fn has_map(t: &T) -> bool {
    match t {
        T::Map(..) => true,
        T::Tuple(v, _) => v.iter().any(has_map),
        T::List(v, tail, _) => v.iter().any(has_map) || has_map(tail),
        T::Atom(..) | T::Other(_) => false,
    }
}

fn ground(t: &T) -> bool {
    match t {
        T::Atom(name, _) => *name != b"_" && var_number(name).is_none(),
        T::Tuple(v, _) => v.iter().all(ground),
        T::List(v, tail, _) => v.iter().all(ground) && ground(tail),
        T::Map(v, _) => v.iter().all(|(k, t)| ground(k) && ground(t)),
        T::Other(_) => true,
    }
}

struct HeadCx<'s> {
    spec: &'s [u8],
    slots: BTreeMap<u32, usize>,
    bound: Vec<bool>,
}

impl HeadCx<'_> {
    fn lit(&self, t: &T) -> Box<[u8]> {
        self.spec[t.range()].into()
    }

    fn pat(&mut self, t: &T) -> Option<Pat> {
        if ground(t) && !has_map(t) {
            return Some(Pat::Lit(self.lit(t)));
        }
        Some(match t {
            T::Atom(b"_", _) => Pat::Any,
            T::Atom(name, _) => {
                let slot = *self.slots.get(&var_number(name)?)?;
                if std::mem::replace(&mut self.bound[slot], true) {
                    Pat::Check(slot)
                } else {
                    Pat::Bind(slot)
                }
            }
            T::Tuple(v, _) => {
                let ps: Vec<Pat> = v.iter().map(|t| self.pat(t)).collect::<Option<_>>()?;
                let significant = ps.iter().rposition(|p| !matches!(p, Pat::Any));
                Pat::Tuple(ps, significant.map_or(0, |i| i + 1))
            }
            T::List(v, tail, _) => Pat::List(
                v.iter().map(|t| self.pat(t)).collect::<Option<_>>()?,
                Box::new(self.pat(tail)?),
            ),
            T::Map(v, _) => {
                let mut pairs = Vec::with_capacity(v.len());
                for (k, t) in v {
                    if !ground(k) {
                        return None;
                    }
                    pairs.push((self.lit(k), self.pat(t)?));
                }
                Pat::Map(pairs)
            }
            T::Other(_) => return None, // ground, handled above
        })
    }
}

struct Body<'s> {
    spec: &'s [u8],
    slots: &'s BTreeMap<u32, usize>,
}

fn function(name: &[u8], arity: usize) -> Option<Fun> {
    use Fun::*;
    Some(match (name, arity) {
        (b"is_atom", 1) => IsAtom,
        (b"is_float", 1) => IsFloat,
        (b"is_integer", 1) => IsInteger,
        (b"is_list", 1) => IsList,
        (b"is_number", 1) => IsNumber,
        (b"is_pid", 1) => IsPid,
        (b"is_port", 1) => IsPort,
        (b"is_reference", 1) => IsReference,
        (b"is_tuple", 1) => IsTuple,
        (b"is_map", 1) => IsMap,
        (b"is_binary", 1) => IsBinary,
        (b"is_function", 1) => IsFunction,
        (b"is_record", 3) => IsRecord,
        (b"is_map_key", 2) => IsMapKey,
        (b"element", 2) => Element,
        (b"hd", 1) => Hd,
        (b"tl", 1) => Tl,
        (b"length", 1) => Length,
        (b"size", 1) => Size,
        (b"map_get", 2) => MapGet,
        (b"map_size", 1) => MapSize,
        (b"tuple_size", 1) => TupleSize,
        (b"byte_size", 1) => ByteSize,
        (b"bit_size", 1) => BitSize,
        (b"binary_part", 2 | 3) => BinaryPart,
        (b"abs", 1) => Abs,
        (b"float", 1) => Float,
        (b"trunc", 1) => Trunc,
        (b"round", 1) => Round,
        (b"-", 1) => Neg,
        (b"+", 1) => Pos,
        (b"+", 2) => Add,
        (b"-", 2) => Sub,
        (b"*", 2) => Mul,
        (b"/", 2) => Divide,
        (b"div", 2) => Div,
        (b"rem", 2) => Rem,
        (b"band", 2) => Band,
        (b"bor", 2) => Bor,
        (b"bxor", 2) => Bxor,
        (b"bnot", 1) => Bnot,
        (b"bsl", 2) => Bsl,
        (b"bsr", 2) => Bsr,
        (b">", 2) => Gt,
        (b">=", 2) => Ge,
        (b"<", 2) => Lt,
        (b"=<", 2) => Le,
        (b"=:=", 2) => EqExact,
        (b"=/=", 2) => NeExact,
        (b"==", 2) => Eq,
        (b"/=", 2) => Ne,
        (b"and", n) if n >= 1 => And,
        (b"or", n) if n >= 1 => Or,
        (b"xor", 2) => Xor,
        (b"not", 1) => Not,
        (b"self", 0) => SelfPid,
        (b"node", 0 | 1) => Node,
        (b"min", 2) => Min,
        (b"max", 2) => Max,
        _ => return None,
    })
}

impl Body<'_> {
    fn expr(&self, t: &T) -> Option<Expr> {
        Some(match t {
            T::Atom(b"$_", _) => Expr::Whole,
            T::Atom(b"$$", _) => Expr::AllVars,
            T::Atom(name, r) => match var_number(name) {
                Some(n) => Expr::Var(*self.slots.get(&n)?),
                None => Expr::Const(self.spec[r.clone()].into()),
            },
            T::Other(r) => Expr::Const(self.spec[r.clone()].into()),
            T::List(v, tail, _) => Expr::List(self.exprs(v)?, Box::new(self.expr(tail)?)),
            T::Map(v, _) => Expr::Map(
                v.iter()
                    .map(|(k, t)| Some((self.expr(k)?, self.expr(t)?)))
                    .collect::<Option<_>>()?,
            ),
            T::Tuple(v, _) => match v.as_slice() {
                [T::Tuple(inner, _)] => Expr::Tuple(self.exprs(inner)?),
                [T::Atom(b"const", _), c] => Expr::Const(self.spec[c.range()].into()),
                [T::Atom(b"andalso", _), args @ ..] if !args.is_empty() => {
                    Expr::AndAlso(self.exprs(args)?)
                }
                [T::Atom(b"orelse", _), args @ ..] if !args.is_empty() => {
                    Expr::OrElse(self.exprs(args)?)
                }
                [T::Atom(name, _), args @ ..] if var_number(name).is_none() => {
                    Expr::Call(function(name, args.len())?, self.exprs(args)?)
                }
                _ => return None,
            },
        })
    }

    fn exprs(&self, v: &[T]) -> Option<Vec<Expr>> {
        v.iter().map(|t| self.expr(t)).collect()
    }

    fn list(&self, t: &T) -> Option<Vec<Expr>> {
        match t {
            T::List(v, tail, _) if is_nil(self.spec, tail) => self.exprs(v),
            T::Other(r) if is_nil(self.spec, &T::Other(r.clone())) => Some(Vec::new()),
            _ => None,
        }
    }
}

fn is_nil(spec: &[u8], t: &T) -> bool {
    matches!(t, T::Other(r) if matches!(read_head(spec, r.start), Some((Head::Imm(super::value::NIL), _))))
}

pub fn compile(spec: &[u8], words: Words) -> Option<MatchSpec> {
    let (t, end) = read(spec, 0, 0)?;
    if end != spec.len() {
        return None;
    }
    let items: Vec<&T> = match &t {
        T::List(v, tail, _) if is_nil(spec, tail) => v.iter().collect(),
        T::Other(_) if is_nil(spec, &t) => Vec::new(),
        _ => return None,
    };
    let mut clauses = Vec::with_capacity(items.len());
    for item in items {
        let T::Tuple(parts, _) = item else {
            return None;
        };
        let [head, guards, body] = parts.as_slice() else {
            return None;
        };
        let mut numbers = Vec::new();
        collect_vars(head, &mut numbers);
        numbers.sort_unstable();
        numbers.dedup();
        let slots: BTreeMap<u32, usize> =
            numbers.iter().enumerate().map(|(i, &n)| (n, i)).collect();
        let mut h = HeadCx {
            spec,
            slots,
            bound: vec![false; numbers.len()],
        };
        let head = h.pat(head)?;
        let b = Body {
            spec,
            slots: &h.slots,
        };
        let guards = b.list(guards)?;
        let body = b.list(body)?;
        if body.is_empty() {
            return None;
        }
        clauses.push(Clause {
            head,
            vars: numbers.len(),
            guards,
            body,
        });
    }
    let max_vars = clauses.iter().map(|c| c.vars).max().unwrap_or(0);
    Some(MatchSpec {
        clauses,
        words,
        max_vars,
    })
}
