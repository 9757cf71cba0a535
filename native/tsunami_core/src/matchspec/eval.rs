//! Guard and body expressions.

use super::pattern::sublist;
use super::value::{
    compare, eq_exact, eq_order, ext_bits, int, kind, num, num_val, Kind, Num, Val, NIL,
};
use super::{Expr, Fail, Fun, RunEnv, Words};
use crate::term::{element_range, read_head, skip, Head, Writer};
use std::cmp::Ordering;

/// Everything an expression can see: the object, the head's bindings, the caller.
pub struct Cx<'o, 'v> {
    pub obj: &'o [u8],
    pub vars: &'v [Val<'o>],
    pub env: &'v RunEnv<'v>,
    pub words: &'v Words,
    /// Evaluating a body: a function that raises gives `'EXIT'` as its value, and the
    /// body goes on (as ETS does); in a guard it fails the guard.
    pub in_body: bool,
}

type R<'o> = Result<Val<'o>, Fail>;

impl<'o> Cx<'o, '_> {
    /// Every guard evaluates to `true`.
    /// (A guard whose value is not a boolean fails, as one that raises does.)
    #[inline]
    pub fn guards(&self, gs: &'o [Expr]) -> Result<bool, Fail> {
        for g in gs {
            if !self.boolv(g)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The value of a variable or constant that is a small integer, read in place.
    #[inline]
    fn small_arg(&self, e: &Expr) -> Option<i64> {
        match e {
            Expr::Var(i) => small(self.vars[*i].bytes()),
            Expr::Const(c) => small(c),
            _ => None,
        }
    }

    /// The value of a guard expression that must be a boolean (`Error` if it is not),
    /// without building the atom: comparisons, type tests and the short-circuit operators
    /// answer directly. Only for guards (a body keeps the value, `'EXIT'` included).
    fn boolv(&self, e: &'o Expr) -> Result<bool, Fail> {
        use Fun::*;
        match e {
            Expr::Call(f @ (Gt | Ge | Lt | Le), args) if args.len() == 2 => {
                // The commonest guard: a variable against a small integer.
                if let (Some(x), Some(y)) = (self.small_arg(&args[0]), self.small_arg(&args[1])) {
                    let o = x.cmp(&y);
                    return Ok(match f {
                        Gt => o == Ordering::Greater,
                        Ge => o != Ordering::Less,
                        Lt => o == Ordering::Less,
                        _ => o != Ordering::Greater,
                    });
                }
                let (a, b) = (self.eval(&args[0])?, self.eval(&args[1])?);
                let o = match (small(a.bytes()), small(b.bytes())) {
                    (Some(x), Some(y)) => x.cmp(&y),
                    _ => compare(a.bytes(), b.bytes(), self.env.vm)?,
                };
                Ok(match f {
                    Gt => o == Ordering::Greater,
                    Ge => o != Ordering::Less,
                    Lt => o == Ordering::Less,
                    _ => o != Ordering::Greater,
                })
            }
            Expr::Call(f @ (EqExact | NeExact), args) if args.len() == 2 => {
                let eq = eq_exact(self.eval(&args[0])?.bytes(), self.eval(&args[1])?.bytes());
                Ok(eq == (*f == EqExact))
            }
            Expr::AndAlso(es) => {
                for e in es {
                    if !self.boolv(e)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            Expr::OrElse(es) => {
                for e in es {
                    if self.boolv(e)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            Expr::Call(Not, args) if args.len() == 1 => Ok(!self.boolv(&args[0])?),
            _ => self.as_bool(&self.eval(e)?),
        }
    }

    /// The value of the last body expression (all are evaluated).
    pub fn body(&self, body: &'o [Expr]) -> R<'o> {
        let (last, init) = body.split_last().ok_or(Fail::Error)?;
        for e in init {
            self.eval(e)?;
        }
        self.eval(last)
    }

    fn boolean(&self, b: bool) -> Val<'static> {
        Val::imm(if b {
            self.words.true_
        } else {
            self.words.false_
        })
    }

    /// `Some(b)` for the atoms `true`/`false`, `Error` otherwise.
    fn as_bool(&self, v: &Val) -> Result<bool, Fail> {
        match v.word() {
            Some(w) if w == self.words.true_ => Ok(true),
            Some(w) if w == self.words.false_ => Ok(false),
            _ => Err(Fail::Error),
        }
    }

    fn eval_inner(&self, e: &'o Expr) -> R<'o> {
        match e {
            Expr::Var(i) => Ok(self.vars[*i].clone()),
            Expr::Whole => Ok(Val::Ref(self.obj)),
            Expr::AllVars => {
                if self.vars.is_empty() {
                    return Ok(Val::imm(NIL));
                }
                let mut w = Writer::default();
                w.list(self.vars.len() as u32);
                for v in self.vars {
                    w.raw(v.bytes());
                }
                w.imm(NIL);
                Ok(Val::Own(w.buf))
            }
            Expr::Const(c) => Ok(Val::Ref(c)),
            Expr::Tuple(es) => {
                let mut w = Writer::default();
                w.tuple(es.len() as u32);
                for e in es {
                    w.raw(self.eval(e)?.bytes());
                }
                Ok(Val::Own(w.buf))
            }
            Expr::List(es, tail) => {
                let items = es
                    .iter()
                    .map(|e| self.eval(e))
                    .collect::<Result<Vec<_>, _>>()?;
                let tail = self.eval(tail)?;
                Ok(Val::Own(cons(&items, tail.bytes())?))
            }
            Expr::Map(pairs) => {
                let mut kv: Vec<(Vec<u8>, Vec<u8>)> = Vec::with_capacity(pairs.len());
                for (k, v) in pairs {
                    let (k, v) = (self.eval(k)?, self.eval(v)?);
                    // A later pair with an equal key wins, as in a map expression.
                    kv.retain(|(old, _)| !eq_exact(old, k.bytes()));
                    kv.push((k.bytes().to_vec(), v.bytes().to_vec()));
                }
                let mut w = Writer::default();
                // A map too large for the encoding: OTP's engine builds it.
                w.map(kv).map_err(|_| Fail::Vm)?;
                Ok(Val::Own(w.buf))
            }
            Expr::AndAlso(es) => {
                let (last, init) = es.split_last().ok_or(Fail::Error)?;
                for e in init {
                    if !self.as_bool(&self.eval(e)?)? {
                        return Ok(self.boolean(false));
                    }
                }
                self.eval(last)
            }
            Expr::OrElse(es) => {
                let (last, init) = es.split_last().ok_or(Fail::Error)?;
                for e in init {
                    if self.as_bool(&self.eval(e)?)? {
                        return Ok(self.boolean(true));
                    }
                }
                self.eval(last)
            }
            Expr::Call(f, args) => self.call(*f, args),
        }
    }

    fn eval(&self, e: &'o Expr) -> R<'o> {
        match self.eval_inner(e) {
            Err(Fail::Error)
                if self.in_body
                    && matches!(e, Expr::Call(..) | Expr::AndAlso(_) | Expr::OrElse(_)) =>
            {
                Ok(Val::imm(self.words.exit))
            }
            r => r,
        }
    }

    fn call(&self, f: Fun, args: &'o [Expr]) -> R<'o> {
        use Fun::*;
        let arg = |i: usize| -> R<'o> { self.eval(args.get(i).ok_or(Fail::Error)?) };
        let vm = self.env.vm;
        match f {
            IsAtom | IsFloat | IsInteger | IsList | IsNumber | IsPid | IsPort | IsReference
            | IsTuple | IsMap | IsBinary | IsFunction => {
                let k = kind(arg(0)?.bytes());
                Ok(self.boolean(match f {
                    IsAtom => k == Kind::Atom,
                    IsFloat => k == Kind::Float,
                    IsInteger => k == Kind::Int,
                    IsList => matches!(k, Kind::List | Kind::Nil),
                    IsNumber => matches!(k, Kind::Int | Kind::Float),
                    IsPid => k == Kind::Pid,
                    IsPort => k == Kind::Port,
                    IsReference => k == Kind::Ref,
                    IsTuple => k == Kind::Tuple,
                    IsMap => k == Kind::Map,
                    IsBinary => k == Kind::Binary,
                    _ => k == Kind::Fun,
                }))
            }
            IsRecord => {
                let (t, name, size) = (arg(0)?, arg(1)?, arg(2)?);
                let size = int(size.bytes())?;
                if kind(name.bytes()) != Kind::Atom {
                    return Err(Fail::Error);
                }
                let yes = match read_head(t.bytes(), 0) {
                    Some((Head::Tuple(n), _)) if n as i128 == size && n > 0 => {
                        let r = element_range(t.bytes(), 1).ok_or(Fail::Error)?;
                        eq_exact(&t.bytes()[r], name.bytes())
                    }
                    _ => false,
                };
                Ok(self.boolean(yes))
            }
            IsMapKey => {
                let (k, m) = (arg(0)?, arg(1)?);
                Ok(self.boolean(map_find(m.bytes(), k.bytes())?.is_some()))
            }
            MapGet => {
                let (k, m) = (arg(0)?, arg(1)?);
                let r = map_find(m.bytes(), k.bytes())?.ok_or(Fail::Error)?;
                Ok(m.sub(r))
            }
            MapSize => match read_head(arg(0)?.bytes(), 0) {
                Some((Head::Map(n), _)) => Ok(Val::int(n as i128)),
                Some((Head::Ext([131, 116, ..]), _)) => Err(Fail::Vm),
                _ => Err(Fail::Error),
            },
            Element => {
                let (n, t) = (arg(0)?, arg(1)?);
                // An index past the arity fails, however large (not truncated to a
                // word: `element(2^64 + 1, T)` is no `element(1, T)`).
                let n = usize::try_from(int(n.bytes())?).map_err(|_| Fail::Error)?;
                if kind(t.bytes()) != Kind::Tuple || n < 1 {
                    return Err(Fail::Error);
                }
                let r = element_range(t.bytes(), n).ok_or(Fail::Error)?;
                Ok(t.sub(r))
            }
            Hd | Tl => {
                let l = arg(0)?;
                let b = l.bytes();
                let Some((Head::List(n), first)) = read_head(b, 0) else {
                    return Err(Fail::Error);
                };
                if n == 0 {
                    return Err(Fail::Error);
                }
                let after = skip(b, first).ok_or(Fail::Error)?;
                if f == Hd {
                    Ok(l.sub(first..after))
                } else if n == 1 {
                    Ok(l.sub(after..b.len()))
                } else {
                    Ok(Val::Own(sublist(n as usize - 1, &b[after..])))
                }
            }
            Length => {
                let l = arg(0)?;
                let b = l.bytes();
                match read_head(b, 0) {
                    Some((Head::Imm(NIL), _)) => Ok(Val::int(0)),
                    Some((Head::List(n), mut p)) => {
                        for _ in 0..n {
                            p = skip(b, p).ok_or(Fail::Error)?;
                        }
                        match read_head(b, p) {
                            Some((Head::Imm(NIL), _)) => Ok(Val::int(n as i128)),
                            _ => Err(Fail::Error),
                        }
                    }
                    _ => Err(Fail::Error),
                }
            }
            Size | TupleSize | ByteSize | BitSize => {
                let v = arg(0)?;
                let n: i128 = match (read_head(v.bytes(), 0), f) {
                    (Some((Head::Tuple(n), _)), Size | TupleSize) => n as i128,
                    (Some((Head::Bin(b), _)), Size | ByteSize) => b.len() as i128,
                    (Some((Head::Bin(b), _)), BitSize) => b.len() as i128 * 8,
                    (Some((Head::Ext(_), _)), Size | ByteSize | BitSize) => {
                        let (bytes, bits) = ext_bits(v.bytes()).ok_or(Fail::Error)?;
                        match f {
                            Size => bytes as i128 - 1,
                            ByteSize => bytes as i128,
                            _ => (bytes as i128 - 1) * 8 + bits as i128,
                        }
                    }
                    _ => return Err(Fail::Error),
                };
                Ok(Val::int(n))
            }
            BinaryPart => {
                let b = arg(0)?;
                let (start, len) = if args.len() == 3 {
                    (int(arg(1)?.bytes())?, int(arg(2)?.bytes())?)
                } else {
                    let t = arg(1)?;
                    let tb = t.bytes();
                    match read_head(tb, 0) {
                        Some((Head::Tuple(2), _)) => {
                            let r1 = element_range(tb, 1).ok_or(Fail::Error)?;
                            let r2 = element_range(tb, 2).ok_or(Fail::Error)?;
                            (int(&tb[r1])?, int(&tb[r2])?)
                        }
                        _ => return Err(Fail::Error),
                    }
                };
                let Some((Head::Bin(bytes), _)) = read_head(b.bytes(), 0) else {
                    return Err(Fail::Error);
                };
                let (lo, hi) = if len >= 0 {
                    (start, start + len)
                } else {
                    (start + len, start)
                };
                if lo < 0 || hi > bytes.len() as i128 {
                    return Err(Fail::Error);
                }
                let mut w = Writer::default();
                // A part of a stored binary fits the encoding as the binary did.
                w.binary(&bytes[lo as usize..hi as usize])
                    .map_err(|_| Fail::Vm)?;
                Ok(Val::Own(w.buf))
            }
            Abs => num_val(match num(arg(0)?.bytes())? {
                Num::I(v) => Num::I(v.checked_abs().ok_or(Fail::Vm)?),
                Num::F(x) => Num::F(x.abs()),
            }),
            Float => Ok(Val::float(to_f64(num(arg(0)?.bytes())?)?)),
            Trunc | Round => match num(arg(0)?.bytes())? {
                Num::I(v) => Ok(Val::int(v)),
                Num::F(x) => {
                    let r = if f == Trunc { x.trunc() } else { x.round() };
                    if r.abs() >= 1.0e38 {
                        return Err(Fail::Vm);
                    }
                    Ok(Val::int(r as i128))
                }
            },
            Neg => num_val(match num(arg(0)?.bytes())? {
                Num::I(v) => Num::I(v.checked_neg().ok_or(Fail::Vm)?),
                Num::F(x) => Num::F(-x),
            }),
            Pos => {
                let v = arg(0)?;
                num(v.bytes())?;
                Ok(v)
            }
            Add | Sub | Mul => {
                let (a, b) = (num(arg(0)?.bytes())?, num(arg(1)?.bytes())?);
                num_val(match (a, b) {
                    (Num::I(x), Num::I(y)) => Num::I(
                        match f {
                            Add => x.checked_add(y),
                            Sub => x.checked_sub(y),
                            _ => x.checked_mul(y),
                        }
                        .ok_or(Fail::Vm)?,
                    ),
                    _ => {
                        let (x, y) = (to_f64(a)?, to_f64(b)?);
                        Num::F(match f {
                            Add => x + y,
                            Sub => x - y,
                            _ => x * y,
                        })
                    }
                })
            }
            Divide => {
                let (a, b) = (num(arg(0)?.bytes())?, num(arg(1)?.bytes())?);
                let (x, y) = (to_f64(a)?, to_f64(b)?);
                if y == 0.0 {
                    return Err(Fail::Error);
                }
                num_val(Num::F(x / y))
            }
            Div | Rem | Band | Bor | Bxor => {
                let (x, y) = (int(arg(0)?.bytes())?, int(arg(1)?.bytes())?);
                let r = match f {
                    Div | Rem if y == 0 => return Err(Fail::Error),
                    Div => x.checked_div(y).ok_or(Fail::Vm)?,
                    Rem => x.checked_rem(y).ok_or(Fail::Vm)?,
                    Band => x & y,
                    Bor => x | y,
                    _ => x ^ y,
                };
                Ok(Val::int(r))
            }
            Bnot => Ok(Val::int(!int(arg(0)?.bytes())?)),
            Bsl | Bsr => {
                let (x, s) = (int(arg(0)?.bytes())?, int(arg(1)?.bytes())?);
                let s = if f == Bsr {
                    s.checked_neg().ok_or(Fail::Vm)?
                } else {
                    s
                };
                Ok(Val::int(shift_left(x, s)?))
            }
            Gt | Ge | Lt | Le | Min | Max => {
                let (a, b) = (arg(0)?, arg(1)?);
                let o = compare(a.bytes(), b.bytes(), vm)?;
                Ok(match f {
                    Gt => self.boolean(o == Ordering::Greater),
                    Ge => self.boolean(o != Ordering::Less),
                    Lt => self.boolean(o == Ordering::Less),
                    Le => self.boolean(o != Ordering::Greater),
                    // Equal terms: the first argument (as erlang:min/max).
                    Min => {
                        if o == Ordering::Greater {
                            b
                        } else {
                            a
                        }
                    }
                    _ => {
                        if o == Ordering::Less {
                            b
                        } else {
                            a
                        }
                    }
                })
            }
            EqExact | NeExact => {
                let eq = eq_exact(arg(0)?.bytes(), arg(1)?.bytes());
                Ok(self.boolean(eq == (f == EqExact)))
            }
            Eq | Ne => {
                let eq = eq_order(arg(0)?.bytes(), arg(1)?.bytes(), vm)?;
                Ok(self.boolean(eq == (f == Eq)))
            }
            And | Or => {
                let mut acc = f == And;
                for i in 0..args.len() {
                    let b = self.as_bool(&arg(i)?)?;
                    acc = if f == And { acc && b } else { acc || b };
                }
                Ok(self.boolean(acc))
            }
            Xor => {
                let (a, b) = (self.as_bool(&arg(0)?)?, self.as_bool(&arg(1)?)?);
                Ok(self.boolean(a != b))
            }
            Not => Ok(self.boolean(!self.as_bool(&arg(0)?)?)),
            SelfPid => Ok(Val::imm(self.env.self_pid)),
            Node if args.is_empty() => Ok(Val::imm(self.env.node)),
            Node => match kind(arg(0)?.bytes()) {
                Kind::Pid | Kind::Port if arg(0)?.word().is_some() => Ok(Val::imm(self.env.node)),
                Kind::Pid | Kind::Port | Kind::Ref => Err(Fail::Vm),
                _ => Err(Fail::Error),
            },
        }
    }
}

/// A small integer's value, read straight from its immediate word.
#[inline]
fn small(b: &[u8]) -> Option<i64> {
    crate::term::order::small_int(b)
}

fn to_f64(n: Num) -> Result<f64, Fail> {
    Ok(match n {
        Num::I(v) => v as f64,
        Num::F(x) => x,
    })
}

/// `x bsl s` (a negative `s` shifts right, flooring like Erlang).
fn shift_left(x: i128, s: i128) -> Result<i128, Fail> {
    if x == 0 {
        return Ok(0);
    }
    if s <= 0 {
        let r = (-s).min(127) as u32;
        return Ok(x >> r);
    }
    if s >= 127 {
        return Err(Fail::Vm);
    }
    let r = x << s as u32;
    if r >> s as u32 != x {
        return Err(Fail::Vm);
    }
    Ok(r)
}

/// The byte range of the value for `key` in the map `m` (`=:=` on keys); `Error` if
/// `m` is not a map.
fn map_find(m: &[u8], key: &[u8]) -> Result<Option<std::ops::Range<usize>>, Fail> {
    let (n, mut p) = match read_head(m, 0) {
        Some((Head::Map(n), p)) => (n, p),
        Some((Head::Ext([131, 116, ..]), _)) => return Err(Fail::Vm),
        _ => return Err(Fail::Error),
    };
    for _ in 0..n {
        let kend = skip(m, p).ok_or(Fail::Error)?;
        let vend = skip(m, kend).ok_or(Fail::Error)?;
        if eq_exact(&m[p..kend], key) {
            return Ok(Some(kend..vend));
        }
        p = vend;
    }
    Ok(None)
}

/// `[items... | tail]` in the canonical encoding: a list tail's elements are merged in,
/// `[]` stays `[]`. A list of 2^32 elements or more does not fit the encoding: OTP's
/// engine builds it (`Vm`).
fn cons(items: &[Val], tail: &[u8]) -> Result<Vec<u8>, Fail> {
    if items.is_empty() {
        return Ok(tail.to_vec());
    }
    let (extra, rest) = match read_head(tail, 0) {
        Some((Head::List(m), p)) => (m, &tail[p..]),
        _ => (0, tail),
    };
    let n = crate::term::len32(items.len())
        .ok()
        .and_then(|n| n.checked_add(extra))
        .ok_or(Fail::Vm)?;
    let mut w = Writer::default();
    w.list(n);
    for v in items {
        w.raw(v.bytes());
    }
    w.raw(rest);
    Ok(w.buf)
}
