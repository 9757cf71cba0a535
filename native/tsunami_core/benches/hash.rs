//! Criterion benches of the hash engine alone (no BEAM): lookup hit/miss, insert, delete,
//! on 1K and 1M keys. Run with `cargo bench -p tsunami_core`.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use tsunami_core::backend::hash::HashTable;
use tsunami_core::backend::KeyMode;
use tsunami_core::term::int::raw_from_small;
use tsunami_core::term::{Obj, ObjBuilder};

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

fn bench(c: &mut Criterion) {
    for n in [1_000i64, 1_000_000] {
        let t = HashTable::new(KeyMode::Unique, 64);
        for k in 0..n {
            t.insert(obj(k));
        }
        let keys: Vec<(u64, Vec<u8>)> = (0..1024)
            .map(|i| {
                let o = obj((i * 7919) % n);
                (o.hash(), o.key().to_vec())
            })
            .collect();
        let misses: Vec<(u64, Vec<u8>)> = (0..1024)
            .map(|i| {
                let o = obj(n + i);
                (o.hash(), o.key().to_vec())
            })
            .collect();
        let mut g = c.benchmark_group("hash");
        g.bench_with_input(BenchmarkId::new("lookup_hit", n), &keys, |b, keys| {
            let mut i = 0;
            b.iter(|| {
                let (h, k) = &keys[i & 1023];
                i += 1;
                let mut len = 0;
                t.lookup(*h, k, |o| len += o.body().len());
                black_box(len)
            })
        });
        g.bench_with_input(BenchmarkId::new("lookup_miss", n), &misses, |b, keys| {
            let mut i = 0;
            b.iter(|| {
                let (h, k) = &keys[i & 1023];
                i += 1;
                black_box(t.member(*h, k))
            })
        });
        g.bench_function(BenchmarkId::new("insert_replace", n), |b| {
            let mut k = 0;
            b.iter(|| {
                k = (k + 7919) % n;
                black_box(t.insert(obj(k)))
            })
        });
        g.bench_function(BenchmarkId::new("delete_insert", n), |b| {
            let mut k = 0;
            b.iter(|| {
                k = (k + 7919) % n;
                let o = obj(k);
                let g = t.take(o.hash(), o.key());
                t.insert(o);
                black_box(g)
            })
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
