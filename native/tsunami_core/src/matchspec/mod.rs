//! Match specifications: a compiler from the spec term to a small tree program, and an
//! interpreter that runs it over stored objects without decoding them.
//!
//! ## What it covers
//! The whole language ETS accepts in `select`/`match` specs (tracing-only functions
//! excepted): head patterns with `'$N'` variables, `'_'`, literals, nested tuples, lists
//! and maps; guards with every guard BIF ETS allows, `andalso`/`orelse`/`and`/`or`/`xor`/
//! `not`, arithmetic and bit operations, term-order and exact comparisons, `{const, T}`
//! and tuple construction `{{...}}`; bodies with `'$_'`, `'$$'`, variables and
//! constructed terms.
//!
//! ## How it runs
//! The NIF validates a spec with OTP's own `ets:match_spec_compile/1` first (so errors
//! are exactly `:ets`'s), then encodes it with named atoms and calls [`MatchSpec::compile`]
//! once per call (the compiled spec lives in the continuation). [`MatchSpec::run`] walks
//! the clauses over one object's encoding: the head binds variables to *slices* of the
//! object, guards and bodies work on [`value::Val`]s (borrowed slices, inline scalars, or
//! owned encodings for built terms), and only what the body returns is decoded by the NIF.
//!
//! Semantics follow ETS: clauses are tried in order; a guard that raises fails its clause
//! (the next one is tried); in a body, a function that raises yields the atom `'EXIT'`
//! as its value and evaluation goes on. Heads match with
//! `=:=` (also in `ordered_set`), comparisons use term order with `==` semantics.
//!
//! ## What needs the VM
//! Atom words carry no order, so comparing atoms asks the [`Vm`] for their names. Integer
//! arithmetic runs on `i128`; a result or operand beyond that (a bignum), `node/1` of a
//! remote pid, and maps stored in the external format give [`Outcome::Fallback`]: the NIF
//! then runs OTP's engine on that one object, so results always equal `:ets`'s.
//! A spec the compiler does not know (nothing ETS accepts, in practice) compiles to
//! `None` and the caller uses OTP's engine for the whole call.

mod compile;
mod eval;
mod pattern;
mod prefix;
pub mod value;

#[cfg(test)]
mod tests;

pub use prefix::{KeyRange, Place};
use value::Val;

/// What the interpreter needs from the VM.
pub trait Vm {
    /// The name (UTF-8) of the atom with this word.
    fn atom_name(&self, raw: u64) -> Option<Vec<u8>>;
}

/// Atom words the interpreter produces, supplied by the NIF at compile time.
#[derive(Debug, Clone, Copy)]
pub struct Words {
    pub true_: u64,
    pub false_: u64,
    pub exit: u64,
}

/// The per-call context: the VM, the calling process, the node.
pub struct RunEnv<'v> {
    pub vm: &'v dyn Vm,
    pub self_pid: u64,
    pub node: u64,
}

/// Why an expression gave no value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fail {
    /// An exception (`badarg`, `badarith`...): no match in a guard, `'EXIT'` in a body.
    Error,
    /// Needs the VM (bignum arithmetic and the like): run OTP's engine on this object.
    Vm,
}

/// The result of running a spec over one object.
#[derive(Debug)]
pub enum Outcome<'o> {
    NoMatch,
    /// What the matching clause's body returned.
    Result(Val<'o>),
    /// Only the VM can tell: see [`Fail::Vm`].
    Fallback,
}

/// A head pattern.
#[derive(Debug)]
enum Pat {
    Any,
    /// First occurrence of a variable: binds slot `n`.
    Bind(usize),
    /// A later occurrence: must be `=:=` to slot `n`.
    Check(usize),
    /// A ground term (named encoding).
    Lit(Box<[u8]>),
    /// Element patterns, and how many of them matter: the rest are `'_'`, which a
    /// top-level match need not even step over.
    Tuple(Vec<Pat>, usize),
    /// Elements, then the tail pattern (a non-empty list).
    List(Vec<Pat>, Box<Pat>),
    /// Literal keys and value patterns.
    Map(Vec<(Box<[u8]>, Pat)>),
}

/// Guard and body functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fun {
    IsAtom,
    IsFloat,
    IsInteger,
    IsList,
    IsNumber,
    IsPid,
    IsPort,
    IsReference,
    IsTuple,
    IsMap,
    IsBinary,
    IsFunction,
    IsRecord,
    IsMapKey,
    Element,
    Hd,
    Tl,
    Length,
    Size,
    MapGet,
    MapSize,
    TupleSize,
    ByteSize,
    BitSize,
    BinaryPart,
    Abs,
    Float,
    Trunc,
    Round,
    Neg,
    Pos,
    Add,
    Sub,
    Mul,
    Divide,
    Div,
    Rem,
    Band,
    Bor,
    Bxor,
    Bnot,
    Bsl,
    Bsr,
    Gt,
    Ge,
    Lt,
    Le,
    EqExact,
    NeExact,
    Eq,
    Ne,
    And,
    Or,
    Xor,
    Not,
    SelfPid,
    Node,
    Min,
    Max,
}

/// A guard or body expression.
#[derive(Debug)]
enum Expr {
    Var(usize),
    /// `'$_'`.
    Whole,
    /// `'$$'`.
    AllVars,
    Const(Box<[u8]>),
    Tuple(Vec<Expr>),
    List(Vec<Expr>, Box<Expr>),
    Map(Vec<(Expr, Expr)>),
    Call(Fun, Vec<Expr>),
    AndAlso(Vec<Expr>),
    OrElse(Vec<Expr>),
}

#[derive(Debug)]
struct Clause {
    head: Pat,
    vars: usize,
    guards: Vec<Expr>,
    body: Vec<Expr>,
}

/// A compiled match specification.
#[derive(Debug)]
pub struct MatchSpec {
    clauses: Vec<Clause>,
    words: Words,
    /// The most variables any clause binds.
    max_vars: usize,
}

/// Variables kept on the stack up to this many per clause.
const STACK_VARS: usize = 16;

impl MatchSpec {
    /// Compiles a spec (a list of `{Head, Guards, Body}`) from its encoding with named
    /// atoms. `None` for anything outside the language (the caller falls back to OTP).
    pub fn compile(spec: &[u8], words: Words) -> Option<MatchSpec> {
        compile::compile(spec, words)
    }

    /// Runs the clauses over one encoded object.
    #[inline]
    pub fn run<'o>(&'o self, obj: &'o [u8], env: &RunEnv) -> Outcome<'o> {
        // The bindings live on the stack, sized for the spec: filling and dropping them
        // is part of the per-object cost.
        match self.max_vars {
            0..=4 => self.run_in::<4>(obj, env),
            5..=STACK_VARS => self.run_in::<STACK_VARS>(obj, env),
            n => {
                let mut heap = vec![Val::Ref(&[]); n];
                self.run_with(obj, env, &mut heap)
            }
        }
    }

    #[inline]
    fn run_in<'o, const K: usize>(&'o self, obj: &'o [u8], env: &RunEnv) -> Outcome<'o> {
        // Filled once per object: a clause's head binds every slot before any is read.
        let mut stack: [Val<'o>; K] = std::array::from_fn(|_| Val::Ref(&[]));
        self.run_with(obj, env, &mut stack)
    }

    #[inline]
    fn run_with<'o>(&'o self, obj: &'o [u8], env: &RunEnv, all: &mut [Val<'o>]) -> Outcome<'o> {
        for c in &self.clauses {
            let vars = &mut all[..c.vars];
            match pattern::match_head(&c.head, obj, vars) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(_) => return Outcome::Fallback,
            }
            let mut cx = eval::Cx {
                obj,
                vars,
                env,
                words: &self.words,
                in_body: false,
            };
            match cx.guards(&c.guards) {
                Ok(true) => {}
                Ok(false) | Err(Fail::Error) => continue,
                Err(Fail::Vm) => return Outcome::Fallback,
            }
            cx.in_body = true;
            return match cx.body(&c.body) {
                Ok(v) => Outcome::Result(v),
                Err(Fail::Error) => Outcome::Result(Val::imm(self.words.exit)),
                Err(Fail::Vm) => Outcome::Fallback,
            };
        }
        Outcome::NoMatch
    }

    /// Whether a result is exactly the atom `true` (what `select_count`/`select_delete`
    /// count).
    pub fn is_true(&self, v: &Val) -> bool {
        v.word() == Some(self.words.true_)
    }

    /// The range of keys (at `keypos`) any clause can match in term order, when it is
    /// narrower than the whole table: see [`KeyRange`].
    pub fn key_range(&self, keypos: usize) -> Option<KeyRange> {
        prefix::key_range(&self.clauses, keypos)
    }
}
