//! Unit tests: specs built as terms, encoded like the NIF does (named atoms in specs,
//! bare atom words in hash-table objects), run against a fake VM.

use super::value::{Val, NIL};
use super::*;
use crate::term::int::raw_from_small;
use crate::term::Writer;

/// A term, for building test encodings.
#[derive(Clone, Debug)]
enum E {
    I(i64),
    F(f64),
    A(&'static str),
    T(Vec<E>),
    L(Vec<E>),
    /// Improper list.
    Li(Vec<E>, Box<E>),
    B(&'static [u8]),
    M(Vec<(E, E)>),
    /// Any integer, in its canonical encoding (`INT64`, `UINT64` or a bignum).
    N(i128),
}
use E::*;

const ATOMS: &[&str] = &[
    "false",
    "true",
    "EXIT",
    "_",
    "$_",
    "$$",
    "$1",
    "$2",
    "$3",
    "const",
    "a",
    "b",
    "c",
    "user",
    "is_integer",
    "is_atom",
    ">",
    "<",
    "==",
    "=:=",
    "+",
    "-",
    "*",
    "/",
    "div",
    "rem",
    "element",
    "hd",
    "tl",
    "length",
    "andalso",
    "orelse",
    "not",
    "and",
    "or",
    "xor",
    "map_get",
    "is_map_key",
    "self",
    "node",
    "size",
    "band",
    "bsl",
    "abs",
    "float",
    "round",
    "trunc",
    "binary_part",
    "is_record",
    "=<",
    ">=",
    "/=",
    "=/=",
    "nonode@nohost",
    "is_list",
    "is_tuple",
    "map_size",
    "tuple_size",
    "byte_size",
    "bnot",
    "x",
];

fn word(name: &str) -> u64 {
    let i = ATOMS
        .iter()
        .position(|a| *a == name)
        .expect("atom in ATOMS") as u64;
    // Reverse alphabetical-ish words: order must come from names, not words.
    ((1000 - i) << 6) | 0x0B
}

struct FakeVm;
impl Vm for FakeVm {
    fn atom_name(&self, raw: u64) -> Option<Vec<u8>> {
        let i = 1000 - (raw >> 6) as usize;
        ATOMS.get(i).map(|s| s.as_bytes().to_vec())
    }
}

fn enc_into(w: &mut Writer, e: &E, named: bool) {
    match e {
        I(v) => w.imm(raw_from_small(*v)),
        F(f) => w.float(*f),
        A(n) if named => w.atom(word(n), n.as_bytes()),
        A(n) => w.imm(word(n)),
        T(v) => {
            w.tuple(v.len() as u32);
            v.iter().for_each(|e| enc_into(w, e, named));
        }
        L(v) if v.is_empty() => w.imm(NIL),
        L(v) => {
            w.list(v.len() as u32);
            v.iter().for_each(|e| enc_into(w, e, named));
            w.imm(NIL);
        }
        Li(v, t) => {
            w.list(v.len() as u32);
            v.iter().for_each(|e| enc_into(w, e, named));
            enc_into(w, t, named);
        }
        B(b) => w.binary(b).unwrap(),
        N(v) => crate::term::int::Int::Fix(*v).write(w).unwrap(),
        M(pairs) => {
            let kv = pairs
                .iter()
                .map(|(k, v)| (enc(k, named), enc(v, named)))
                .collect();
            w.map(kv).unwrap();
        }
    }
}

fn enc(e: &E, named: bool) -> Vec<u8> {
    let mut w = Writer::default();
    enc_into(&mut w, e, named);
    w.buf
}

fn words() -> Words {
    Words {
        true_: word("true"),
        false_: word("false"),
        exit: word("EXIT"),
    }
}

fn ms(spec: E) -> MatchSpec {
    MatchSpec::compile(&enc(&spec, true), words()).expect("compiles")
}

fn env() -> RunEnv<'static> {
    RunEnv {
        vm: &FakeVm,
        self_pid: 0x1234_0003,
        node: word("nonode@nohost"),
    }
}

/// Runs `spec` over `obj` (bare atoms, like a hash table); the result as bytes.
fn run(spec: &MatchSpec, obj: &E) -> Option<Vec<u8>> {
    let o = enc(obj, false);
    match spec.run(&o, &env()) {
        Outcome::Result(v) => Some(v.bytes().to_vec()),
        Outcome::NoMatch => None,
        Outcome::Fallback => Some(b"fallback".to_vec()),
    }
}

fn same(got: Option<Vec<u8>>, want: &E) {
    let got = got.expect("matched");
    assert!(
        value::eq_exact(&got, &enc(want, false)),
        "got {got:?}, want {want:?}"
    );
}

fn clause(head: E, guards: Vec<E>, body: Vec<E>) -> E {
    T(vec![head, L(guards), L(body)])
}

fn v(n: u32) -> E {
    A(["$0", "$1", "$2", "$3"][n as usize])
}

#[test]
fn heads_bind_check_and_literals() {
    let s = ms(L(vec![clause(
        T(vec![v(1), v(1), A("_")]),
        vec![],
        vec![A("$$")],
    )]));
    same(run(&s, &T(vec![I(1), I(1), A("x")])), &L(vec![I(1)]));
    assert!(
        run(&s, &T(vec![I(1), F(1.0), A("x")])).is_none(),
        "=:= in heads"
    );
    assert!(run(&s, &T(vec![I(1), I(1)])).is_none(), "arity");

    let s = ms(L(vec![clause(
        T(vec![A("a"), v(2), v(1)]),
        vec![],
        vec![A("$$")],
    )]));
    same(run(&s, &T(vec![A("a"), I(2), I(3)])), &L(vec![I(3), I(2)]));
    assert!(run(&s, &T(vec![A("b"), I(2), I(3)])).is_none());
}

#[test]
fn list_and_map_patterns() {
    let s = ms(L(vec![clause(
        T(vec![Li(vec![v(1)], Box::new(v(2)))]),
        vec![],
        vec![v(2)],
    )]));
    same(
        run(&s, &T(vec![L(vec![I(1), I(2), I(3)])])),
        &L(vec![I(2), I(3)]),
    );
    same(run(&s, &T(vec![Li(vec![I(1)], Box::new(I(2)))])), &I(2));
    assert!(run(&s, &T(vec![L(vec![])])).is_none());

    let s = ms(L(vec![clause(
        T(vec![A("_"), M(vec![(A("a"), v(1))])]),
        vec![],
        vec![v(1)],
    )]));
    same(
        run(&s, &T(vec![I(0), M(vec![(A("a"), I(2)), (I(1), I(3))])])),
        &I(2),
    );
    assert!(run(&s, &T(vec![I(0), M(vec![(A("b"), I(2))])])).is_none());
}

#[test]
fn guards_compare_in_term_order_and_fail_on_exceptions() {
    // {K, V} when V > K -> K
    let s = ms(L(vec![clause(
        T(vec![v(1), v(2)]),
        vec![T(vec![A(">"), v(2), v(1)])],
        vec![v(1)],
    )]));
    same(run(&s, &T(vec![I(1), I(2)])), &I(1));
    assert!(run(&s, &T(vec![I(2), I(1)])).is_none());
    // Atoms by name (words are in reverse order), numbers below atoms.
    same(run(&s, &T(vec![A("a"), A("b")])), &A("a"));
    assert!(run(&s, &T(vec![A("b"), A("a")])).is_none());
    same(run(&s, &T(vec![I(5), A("a")])), &I(5));
    same(run(&s, &T(vec![I(1), F(1.5)])), &I(1));

    // 1 == 1.0, not =:=.
    let eq = |op| {
        ms(L(vec![clause(
            T(vec![v(1)]),
            vec![T(vec![A(op), v(1), F(1.0)])],
            vec![A("$_")],
        )]))
    };
    assert!(run(&eq("=="), &T(vec![I(1)])).is_some());
    assert!(run(&eq("=:="), &T(vec![I(1)])).is_none());

    // A raising guard fails its clause; the next one runs.
    let s = ms(L(vec![
        clause(
            T(vec![v(1)]),
            vec![T(vec![A(">"), T(vec![A("div"), I(10), v(1)]), I(1)])],
            vec![A("a")],
        ),
        clause(T(vec![v(1)]), vec![], vec![A("b")]),
    ]));
    same(run(&s, &T(vec![I(2)])), &A("a"));
    same(run(&s, &T(vec![I(0)])), &A("b"));
    same(run(&s, &T(vec![A("x")])), &A("b"));
}

#[test]
fn bodies_build_terms_and_raise_exit() {
    let s = ms(L(vec![clause(
        T(vec![v(1), v(2)]),
        vec![],
        vec![T(vec![T(vec![v(2), T(vec![A("+"), v(1), I(1)]), A("$_")])])],
    )]));
    same(
        run(&s, &T(vec![I(1), A("a")])),
        &T(vec![A("a"), I(2), T(vec![I(1), A("a")])]),
    );
    same(
        run(&s, &T(vec![A("a"), I(1)])),
        &T(vec![I(1), A("EXIT"), T(vec![A("a"), I(1)])]),
    );

    let s = ms(L(vec![clause(
        T(vec![v(1), v(2)]),
        vec![],
        vec![Li(vec![v(1)], Box::new(v(2))), T(vec![A("const"), A("$1")])],
    )]));
    same(run(&s, &T(vec![I(1), I(2)])), &A("$1"));

    let s = ms(L(vec![clause(
        T(vec![v(1), v(2)]),
        vec![],
        vec![Li(vec![v(1)], Box::new(v(2)))],
    )]));
    same(
        run(&s, &T(vec![I(1), L(vec![I(2), I(3)])])),
        &L(vec![I(1), I(2), I(3)]),
    );
}

#[test]
fn builtins() {
    let body = |e: E| ms(L(vec![clause(T(vec![v(1), v(2)]), vec![], vec![e])]));
    let obj = T(vec![L(vec![I(1), I(2), I(3)]), B(b"hello")]);
    same(run(&body(T(vec![A("hd"), v(1)])), &obj), &I(1));
    same(
        run(&body(T(vec![A("tl"), v(1)])), &obj),
        &L(vec![I(2), I(3)]),
    );
    same(run(&body(T(vec![A("length"), v(1)])), &obj), &I(3));
    same(run(&body(T(vec![A("size"), v(2)])), &obj), &I(5));
    same(run(&body(T(vec![A("byte_size"), v(2)])), &obj), &I(5));
    same(
        run(&body(T(vec![A("binary_part"), v(2), I(1), I(-1)])), &obj),
        &B(b"h"),
    );
    same(
        run(&body(T(vec![A("element"), I(2), A("$_")])), &obj),
        &B(b"hello"),
    );
    same(
        run(&body(T(vec![A("element"), I(3), A("$_")])), &obj),
        &A("EXIT"),
    );
    same(run(&body(T(vec![A("/"), I(1), I(2)])), &obj), &F(0.5));
    same(run(&body(T(vec![A("/"), I(1), I(0)])), &obj), &A("EXIT"));
    same(run(&body(T(vec![A("rem"), I(-7), I(2)])), &obj), &I(-1));
    same(run(&body(T(vec![A("div"), I(-7), I(2)])), &obj), &I(-3));
    same(run(&body(T(vec![A("bsl"), I(1), I(4)])), &obj), &I(16));
    same(run(&body(T(vec![A("round"), F(2.5)])), &obj), &I(3));
    same(run(&body(T(vec![A("trunc"), F(-2.5)])), &obj), &I(-2));
    same(run(&body(T(vec![A("float"), I(3)])), &obj), &F(3.0));
    same(run(&body(T(vec![A("abs"), I(-3)])), &obj), &I(3));
    same(run(&body(T(vec![A("is_list"), v(1)])), &obj), &A("true"));
    same(run(&body(T(vec![A("is_tuple"), v(1)])), &obj), &A("false"));
    same(
        run(&body(T(vec![A("is_record"), A("$_"), A("x"), I(2)])), &obj),
        &A("false"),
    );
    same(run(&body(T(vec![A("node")])), &obj), &A("nonode@nohost"));
    // Bignum arithmetic goes to the VM.
    assert_eq!(
        run(&body(T(vec![A("bsl"), I(1), I(200)])), &obj),
        Some(b"fallback".to_vec())
    );
    // andalso returns its last argument as is; a non-boolean before it raises.
    same(
        run(&body(T(vec![A("andalso"), A("true"), I(7)])), &obj),
        &I(7),
    );
    same(
        run(&body(T(vec![A("andalso"), I(1), I(7)])), &obj),
        &A("EXIT"),
    );
    same(
        run(&body(T(vec![A("orelse"), A("false"), A("false")])), &obj),
        &A("false"),
    );
    // $$ and $_ with no variables.
    let s = ms(L(vec![clause(A("_"), vec![], vec![A("$$")])]));
    same(run(&s, &obj), &L(vec![]));
}

#[test]
fn named_and_bare_atoms_are_the_same_atom() {
    let s = ms(L(vec![clause(
        T(vec![T(vec![A("user"), v(1)]), v(2)]),
        vec![T(vec![A("=:="), v(2), A("a")])],
        vec![v(1)],
    )]));
    // An ordered_set object: the key carries names, the rest does not.
    let mut w = Writer::default();
    w.tuple(2);
    enc_into(&mut w, &T(vec![A("user"), I(7)]), true);
    enc_into(&mut w, &A("a"), false);
    match s.run(&w.buf, &env()) {
        Outcome::Result(v) => assert_eq!(v.bytes(), enc(&I(7), false).as_slice()),
        other => panic!("{other:?}"),
    }
    assert!(s.is_true(&Val::imm(word("true"))));
}

#[test]
fn key_ranges() {
    let s = ms(L(vec![
        clause(
            T(vec![T(vec![A("user"), A("_")]), A("_")]),
            vec![],
            vec![A("$_")],
        ),
        clause(T(vec![T(vec![A("user"), I(3)]), v(1)]), vec![], vec![v(1)]),
    ]));
    let r = s.key_range(1).expect("a range");
    assert_eq!(r.arity, 2);
    assert_eq!(r.prefix.len(), 1);
    let key = |e: E| enc(&e, true);
    assert_eq!(r.place(&key(T(vec![A("user"), I(1)]))), Place::In);
    assert_eq!(r.place(&key(T(vec![A("b"), I(1)]))), Place::Below);
    assert_eq!(r.place(&key(T(vec![A("x"), I(1)]))), Place::Above);
    assert_eq!(r.place(&key(T(vec![A("user")]))), Place::Below);
    assert_eq!(r.place(&key(I(5))), Place::Below);
    assert_eq!(r.place(&key(L(vec![I(5)]))), Place::Above);
    // A clause matching any key: no range.
    let s = ms(L(vec![clause(
        T(vec![v(1), A("_")]),
        vec![],
        vec![A("$_")],
    )]));
    assert!(s.key_range(1).is_none());
}

#[test]
fn unknown_functions_do_not_compile() {
    let spec = L(vec![clause(A("_"), vec![], vec![T(vec![A("x"), I(1)])])]);
    assert!(MatchSpec::compile(&enc(&spec, true), words()).is_none());
}

#[test]
fn float_literals_in_heads_match_by_bits() {
    // ETS compares the float literals of a head pattern by their bits: on OTP 25, where
    // `-0.0 =:= 0.0`, `{-0.0, '_'}` still does not match `{0.0, x}`; guards and repeated
    // variables use `=:=`.
    assert!(crate::term::neg_zero_is_zero(), "the OTP 25 default");
    let head = |p: E| ms(L(vec![clause(T(vec![p, A("_")]), vec![], vec![A("$_")])]));
    let obj = |x: E| T(vec![x, A("x")]);
    for (pat, matching, other) in [
        (F(-0.0), F(-0.0), F(0.0)),
        (F(0.0), F(0.0), F(-0.0)),
        (T(vec![F(-0.0)]), T(vec![F(-0.0)]), T(vec![F(0.0)])),
        (L(vec![F(-0.0)]), L(vec![F(-0.0)]), L(vec![F(0.0)])),
        (
            Li(vec![A("a")], Box::new(F(-0.0))),
            Li(vec![A("a")], Box::new(F(-0.0))),
            Li(vec![A("a")], Box::new(F(0.0))),
        ),
        (
            M(vec![(A("a"), F(-0.0))]),
            M(vec![(A("a"), F(-0.0)), (A("b"), I(1))]),
            M(vec![(A("a"), F(0.0))]),
        ),
    ] {
        let s = head(pat.clone());
        assert!(
            run(&s, &obj(matching.clone())).is_some(),
            "{pat:?} ~ {matching:?}"
        );
        assert!(
            run(&s, &obj(other.clone())).is_none(),
            "{pat:?} !~ {other:?}"
        );
    }
    // Map keys are looked up (`=:=`): `#{-0.0 => '_'}` finds the key `0.0`.
    let s = head(M(vec![(F(-0.0), A("_"))]));
    assert!(run(&s, &obj(M(vec![(F(0.0), A("a"))]))).is_some());
    // A repeated variable: `=:=`.
    let s = ms(L(vec![clause(T(vec![v(1), v(1)]), vec![], vec![A("$_")])]));
    assert!(run(&s, &T(vec![F(0.0), F(-0.0)])).is_some());
    // Guards: `=:=` and `==` equate the zeros.
    for op in ["=:=", "=="] {
        let s = ms(L(vec![clause(
            T(vec![v(1), A("_")]),
            vec![T(vec![A(op), v(1), T(vec![A("const"), F(-0.0)])])],
            vec![A("$_")],
        )]));
        assert!(run(&s, &obj(F(0.0))).is_some(), "{op}");
    }
}

#[test]
fn map_patterns_match_maps_with_more_keys() {
    let s = |p: E| ms(L(vec![clause(T(vec![A("_"), p]), vec![], vec![A("$_")])]));
    let big = M(vec![(A("a"), I(1)), (A("b"), I(2))]);
    let o = |m: E| T(vec![I(0), m]);
    assert!(
        run(&s(M(vec![])), &o(big.clone())).is_some(),
        "#{{}} matches any map"
    );
    assert!(run(&s(M(vec![])), &o(I(1))).is_none(), "but only maps");
    let a1 = M(vec![(A("a"), I(1))]);
    assert!(run(&s(a1.clone()), &o(big.clone())).is_some());
    assert!(run(&s(M(vec![(A("a"), I(2))])), &o(big.clone())).is_none());
    assert!(run(&s(L(vec![a1])), &o(L(vec![big]))).is_some(), "nested");
}

#[test]
fn element_index_beyond_a_word_fails() {
    // `element(2^64 + 1, T)` is not `element(1, T)`.
    let obj = T(vec![A("a"), A("b")]);
    let body = |n: i128| {
        ms(L(vec![clause(
            A("_"),
            vec![],
            vec![T(vec![A("element"), N(n), A("$_")])],
        )]))
    };
    same(run(&body(1), &obj), &A("a"));
    same(run(&body(2), &obj), &A("b"));
    for n in [
        3,
        1 << 64,
        (1 << 64) + 1,
        (1 << 64) + 2,
        (1 << 100) + 1,
        -1,
        0,
    ] {
        same(run(&body(n), &obj), &A("EXIT"));
    }
    let guard = |n: i128| {
        ms(L(vec![clause(
            A("_"),
            vec![T(vec![
                A("=:="),
                T(vec![A("element"), N(n), A("$_")]),
                A("a"),
            ])],
            vec![A("true")],
        )]))
    };
    assert!(run(&guard(1), &obj).is_some());
    assert!(run(&guard((1 << 64) + 1), &obj).is_none());
}
