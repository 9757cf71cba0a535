//! Criterion benches of the CA tree alone (no BEAM): lookup, insert (replace), delete and
//! re-insert, and a `next/2` walk of 100 keys, on 1K and 1M keys; and lookups from two
//! threads at once, each in its own half of a tree that contention has split (readers of
//! different base nodes should not slow each other down). Run with
//! `cargo bench -p tsunami_core --bench catree`.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use tsunami_core::backend::catree::CaTree;
use tsunami_core::term::int::raw_from_small;
use tsunami_core::term::{Obj, ObjBuilder, Writer};

fn obj(k: i64) -> Obj {
    let mut w = ObjBuilder::writer(48);
    w.tuple(3);
    w.imm(raw_from_small(k));
    w.binary(format!("value-{k}").as_bytes()).unwrap();
    w.list(2);
    w.imm(raw_from_small(k));
    w.imm(raw_from_small(2 * k));
    w.imm(0x3b);
    ObjBuilder::finish(&w, 1, None).unwrap()
}

fn key(k: i64) -> Vec<u8> {
    let mut w = Writer::default();
    w.imm(raw_from_small(k));
    w.buf
}

fn bench(c: &mut Criterion) {
    for n in [1_000i64, 1_000_000] {
        let t = CaTree::new();
        for k in 0..n {
            t.insert(obj(k));
        }
        let keys: Vec<Vec<u8>> = (0..1024).map(|i| key((i * 7919) % n)).collect();
        let mut g = c.benchmark_group("catree");
        g.bench_with_input(BenchmarkId::new("lookup", n), &keys, |b, keys| {
            let mut i = 0;
            b.iter(|| {
                let k = &keys[i & 1023];
                i += 1;
                let mut len = 0;
                t.lookup(k, |o| len += o.body().len());
                black_box(len)
            })
        });
        g.bench_function(BenchmarkId::new("insert_replace", n), |b| {
            let mut k = 0;
            b.iter(|| {
                k = (k + 7919) % n;
                black_box(t.insert(obj(k)))
            })
        });
        g.bench_function(BenchmarkId::new("delete_reinsert", n), |b| {
            let mut k = 0;
            b.iter(|| {
                k = (k + 7919) % n;
                let g = t.take(&key(k));
                t.insert(obj(k));
                black_box(g)
            })
        });
        g.bench_with_input(BenchmarkId::new("next_walk_100", n), &keys, |b, keys| {
            let mut i = 0;
            b.iter(|| {
                let mut k = keys[i & 1023].clone();
                i += 1;
                for _ in 0..100 {
                    match t.next(&k, |o| o.key().to_vec()) {
                        Some(nk) => k = nk,
                        None => break,
                    }
                }
                black_box(k)
            })
        });
        g.finish();
    }
}

/// Two threads look up keys in disjoint halves of a 1K-key tree that two contending
/// writers have split first; reports the time per lookup pair.
fn bench_parallel_readers(c: &mut Criterion) {
    use std::sync::Arc;
    let n = 1_000i64;
    let t = Arc::new(CaTree::new());
    for k in 0..n {
        t.insert(obj(k));
    }
    // Contend until the tree has split (bounded: contention on 2 cores can be slow to show).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while t.base_node_count() < 4 && std::time::Instant::now() < deadline {
        let ws: Vec<_> = (0..2)
            .map(|_| {
                let t = t.clone();
                std::thread::spawn(move || {
                    for k in 0..20_000 {
                        t.insert(obj(k % n));
                    }
                })
            })
            .collect();
        for w in ws {
            w.join().unwrap();
        }
    }
    eprintln!("parallel_readers: {} base nodes", t.base_node_count());
    let halves: Vec<Arc<Vec<Vec<u8>>>> = (0..2i64)
        .map(|h| {
            Arc::new(
                (0..n / 2)
                    .map(|i| key(h * n / 2 + (i * 7) % (n / 2)))
                    .collect(),
            )
        })
        .collect();
    c.bench_function("catree/lookup_2threads_disjoint/1000", |b| {
        b.iter_custom(|iters| {
            let start = std::time::Instant::now();
            let hs: Vec<_> = halves
                .iter()
                .map(|keys| {
                    let (t, keys) = (t.clone(), keys.clone());
                    std::thread::spawn(move || {
                        let mut len = 0;
                        for i in 0..iters as usize {
                            t.lookup(&keys[i % keys.len()], |o| len += o.body().len());
                        }
                        black_box(len)
                    })
                })
                .collect();
            for h in hs {
                h.join().unwrap();
            }
            start.elapsed()
        })
    });
}

criterion_group!(benches, bench, bench_parallel_readers);
criterion_main!(benches);
