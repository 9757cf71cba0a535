//! Criterion benches of the match-spec engine alone (no BEAM): one spec run over 1M
//! encoded objects `{I, I rem 100, <<"value">>}`, from a plain vector (the interpreter
//! alone) and through a walk of each backend (what `select_run` does, minus decoding).
//! Run with `cargo bench -p tsunami_core --bench matchspec`.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use std::time::Duration;
use tsunami_core::backend::catree::range::From;
use tsunami_core::backend::catree::CaTree;
use tsunami_core::backend::hash::HashTable;
use tsunami_core::backend::{KeyMode, Position};
use tsunami_core::matchspec::{MatchSpec, Outcome, Place, RunEnv, Vm, Words};
use tsunami_core::term::int::raw_from_small;
use tsunami_core::term::{Obj, ObjBuilder, Writer};

const N: i64 = 1_000_000;
const NIL: u64 = 0x3B;

/// Made-up atom words (atom tag `0x0B`); the compiler reads names, not words.
fn atom(i: u64) -> u64 {
    (i << 6) | 0x0B
}

struct NoVm;
impl Vm for NoVm {
    fn atom_name(&self, _raw: u64) -> Option<Vec<u8>> {
        None
    }
}

fn obj(k: i64, named: bool) -> Obj {
    let mut w = ObjBuilder::writer(40);
    w.tuple(3);
    w.imm(raw_from_small(k));
    w.imm(raw_from_small(k % 100));
    w.binary(b"value").unwrap();
    let _ = named;
    ObjBuilder::finish(&w, 1, None).unwrap()
}

/// Spec terms, written with named atoms as the NIF does.
enum S {
    A(&'static str),
    I(i64),
    T(Vec<S>),
    L(Vec<S>),
}

fn enc(w: &mut Writer, s: &S) {
    match s {
        S::A(n) => w.atom(
            atom(n.len() as u64 * 31 + n.as_bytes()[0] as u64),
            n.as_bytes(),
        ),
        S::I(v) => w.imm(raw_from_small(*v)),
        S::T(v) => {
            w.tuple(v.len() as u32);
            v.iter().for_each(|s| enc(w, s));
        }
        S::L(v) if v.is_empty() => w.imm(NIL),
        S::L(v) => {
            w.list(v.len() as u32);
            v.iter().for_each(|s| enc(w, s));
            w.imm(NIL);
        }
    }
}

fn spec(head: S, guards: Vec<S>, body: Vec<S>) -> MatchSpec {
    let mut w = Writer::default();
    enc(
        &mut w,
        &S::L(vec![S::T(vec![head, S::L(guards), S::L(body)])]),
    );
    let words = Words {
        true_: atom(1000),
        false_: atom(1001),
        exit: atom(1002),
    };
    MatchSpec::compile(&w.buf, words).expect("compiles")
}

fn specs() -> Vec<(&'static str, MatchSpec)> {
    use S::*;
    let head = || T(vec![A("$1"), A("$2"), A("_")]);
    vec![
        (
            "guard_1pct",
            spec(head(), vec![T(vec![A("<"), A("$2"), I(1)])], vec![A("$1")]),
        ),
        (
            "whole",
            spec(
                head(),
                vec![T(vec![A("<"), A("$2"), I(100)])],
                vec![A("$_")],
            ),
        ),
        ("match_all", spec(A("_"), vec![], vec![A("$_")])),
    ]
}

fn tally(ms: &MatchSpec, env: &RunEnv, body: &[u8], hits: &mut usize) {
    if let Outcome::Result(v) = ms.run(body, env) {
        *hits += v.bytes().len();
    }
}

fn prefix_obj(k: i64) -> Obj {
    let mut w = ObjBuilder::writer(48);
    w.tuple(3);
    w.tuple(2);
    w.imm(raw_from_small(k / 100));
    w.imm(raw_from_small(k % 100));
    w.imm(raw_from_small(k));
    w.binary(b"value").unwrap();
    ObjBuilder::finish(&w, 1, None).unwrap()
}

/// `select(T, [{{{G, '_'}, '$1', '_'}, [], ['$_']}])` on an `ordered_set` of 10,000
/// groups of 100 keys, for random groups (cold in the cache, as in the BEAM benchmark).
fn bench_prefix(c: &mut Criterion, env: &RunEnv) {
    use S::*;
    let tree = CaTree::new();
    for k in 0..N {
        tree.insert(prefix_obj(k));
    }
    let specs: Vec<MatchSpec> = (0..4096u64)
        .map(|i| {
            let g = (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) as i64 % (N / 100);
            let head = T(vec![T(vec![I(g), A("_")]), A("$1"), A("_")]);
            spec(head, vec![], vec![A("$_")])
        })
        .collect();
    let mut g = c.benchmark_group("matchspec_prefix");
    g.sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    g.bench_function("tree/select_100_by_prefix", |b| {
        let mut i = 0;
        b.iter(|| {
            let ms = &specs[i & 4095];
            i += 1;
            let range = ms.key_range(1).expect("a bound prefix");
            let below = |k: &[u8]| range.place(k) == Place::Below;
            let mut hits = 0;
            tree.visit_range(From::Seek(&below), 1000, |o| {
                if range.place(o.key()) == Place::Above {
                    return false;
                }
                tally(ms, env, o.body(), &mut hits);
                true
            });
            black_box(hits)
        })
    });
    g.finish();
}

fn bench(c: &mut Criterion) {
    let env = RunEnv {
        vm: &NoVm,
        self_pid: 0x1234_0003,
        node: atom(7),
    };
    let objs: Vec<Obj> = (0..N).map(|k| obj(k, false)).collect();
    let hash = HashTable::new(KeyMode::Unique, 64);
    let tree = CaTree::new();
    for k in 0..N {
        hash.insert(obj(k, false));
        tree.insert(obj(k, true));
    }
    let mut g = c.benchmark_group("matchspec_1M");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    for (name, ms) in specs() {
        g.bench_function(format!("vec/{name}"), |b| {
            b.iter(|| {
                let mut hits = 0;
                for o in &objs {
                    tally(&ms, &env, o.body(), &mut hits);
                }
                black_box(hits)
            })
        });
        g.bench_function(format!("hash/{name}"), |b| {
            b.iter(|| {
                let mut hits = 0;
                let mut at = Some(Position::default());
                while let Some(p) = at {
                    at = hash.visit(p, 1000, |o| tally(&ms, &env, o.body(), &mut hits));
                }
                black_box(hits)
            })
        });
        g.bench_function(format!("tree/{name}"), |b| {
            b.iter(|| {
                let mut hits = 0;
                let mut at = tree.visit_range(From::Start, 1000, |o| {
                    tally(&ms, &env, o.body(), &mut hits);
                    true
                });
                while let Some(k) = at {
                    at = tree.visit_range(From::After(&k), 1000, |o| {
                        tally(&ms, &env, o.body(), &mut hits);
                        true
                    });
                }
                black_box(hits)
            })
        });
    }
    g.finish();
    drop((objs, hash, tree));
    bench_prefix(c, &env);
}

criterion_group!(benches, bench);
criterion_main!(benches);
