//! Model test: random operation sequences on the hash engine against a std `HashMap` of
//! `Vec`s, for every key mode and a few stripe counts, checking invariants as it goes.

use crate::backend::hash::HashTable;
use crate::backend::{KeyMode, Position};
use crate::term::int::raw_from_small;
use crate::term::{Obj, ObjBuilder};
use std::collections::HashMap;

/// `{Key, Val}` with small-integer elements.
pub fn obj(key: i64, val: i64) -> Obj {
    let mut w = ObjBuilder::writer(32);
    w.tuple(2);
    w.imm(raw_from_small(key));
    w.imm(raw_from_small(val));
    ObjBuilder::finish(&w, 1, None).unwrap()
}

pub fn key_of(k: i64) -> (u64, Vec<u8>) {
    let o = obj(k, 0);
    (o.hash(), o.key().to_vec())
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> i64 {
        (self.next() % n) as i64
    }
}

type Model = HashMap<i64, Vec<i64>>;

fn model_insert(m: &mut Model, mode: KeyMode, k: i64, v: i64) {
    let e = m.entry(k).or_default();
    match mode {
        KeyMode::Unique => *e = vec![v],
        KeyMode::Bag if e.contains(&v) => {}
        _ => e.push(v),
    }
}

fn vals(t: &HashTable, k: i64) -> Vec<i64> {
    let (h, key) = key_of(k);
    let mut out = Vec::new();
    t.lookup(h, &key, |o| {
        let at = crate::term::element_range(o.body(), 2).unwrap().start;
        let (crate::term::Head::Imm(raw), _) = crate::term::read_head(o.body(), at).unwrap() else {
            panic!()
        };
        out.push(crate::term::int::small_from_raw(raw).unwrap());
    });
    out
}

fn run(mode: KeyMode, shards: usize, seed: u64, steps: usize, keys: u64) {
    let t = HashTable::new(mode, shards);
    let mut m: Model = HashMap::new();
    let mut rng = Rng(seed);
    for step in 0..steps {
        let k = rng.below(keys);
        let v = rng.below(4);
        match rng.below(10) {
            0..=4 => {
                t.insert(obj(k, v));
                model_insert(&mut m, mode, k, v);
            }
            5 => {
                let (h, key) = key_of(k);
                t.take(h, &key);
                m.remove(&k);
            }
            6 => {
                t.delete_object(&obj(k, v));
                if let Some(e) = m.get_mut(&k) {
                    e.retain(|x| *x != v);
                    if e.is_empty() {
                        m.remove(&k);
                    }
                }
            }
            7 => {
                let batch: Vec<Obj> = (0..rng.below(5)).map(|i| obj(k + i, v)).collect();
                let keys: Vec<i64> = (0..batch.len() as i64).map(|i| k + i).collect();
                let any = keys.iter().any(|k| m.contains_key(k));
                let (ok, _) = t.insert_many(batch, true);
                assert_eq!(ok, !any);
                if ok {
                    for k in keys {
                        model_insert(&mut m, mode, k, v);
                    }
                }
            }
            _ => {
                let (h, key) = key_of(k);
                assert_eq!(t.member(h, &key), m.contains_key(&k));
            }
        }
        assert_eq!(
            vals(&t, k),
            m.get(&k).cloned().unwrap_or_default(),
            "step {step}"
        );
        if step % 97 == 0 {
            t.check_invariants();
            assert_eq!(t.len(), m.values().map(|v| v.len()).sum::<usize>());
        }
    }
    t.check_invariants();
    // A full traversal sees every object exactly once.
    let mut seen = 0;
    let mut pos = Some(Position::default());
    while let Some(p) = pos {
        pos = t.visit(p, 7, |_| seen += 1);
    }
    assert_eq!(seen, t.len());
    // first/next walk every key once.
    let mut keys_seen = 0;
    let mut cur = t.first(|o| o.key().to_vec());
    while let Some(k) = cur {
        keys_seen += 1;
        let h = crate::term::hash_key(&k);
        cur = t.next(h, &k, |o| o.key().to_vec()).unwrap();
    }
    assert_eq!(keys_seen, m.len());
}

#[test]
fn set_matches_model() {
    for (i, shards) in [1, 4, 64].into_iter().enumerate() {
        run(KeyMode::Unique, shards, 11 + i as u64, 20_000, 3000);
        run(KeyMode::Unique, shards, 17 + i as u64, 5_000, 20);
    }
}

#[test]
fn bag_matches_model() {
    for shards in [1, 8] {
        run(KeyMode::Bag, shards, 5, 20_000, 2000);
        run(KeyMode::Bag, shards, 6, 5_000, 10);
    }
}

#[test]
fn duplicate_bag_matches_model() {
    for shards in [1, 8] {
        run(KeyMode::Duplicates, shards, 7, 20_000, 2000);
        run(KeyMode::Duplicates, shards, 8, 5_000, 10);
    }
}

#[test]
fn grows_and_shrinks_one_bucket_at_a_time() {
    let t = HashTable::new(KeyMode::Unique, 1);
    for k in 0..100_000 {
        t.insert(obj(k, k));
    }
    t.check_invariants();
    let big = t.memory_bytes();
    for k in 0..100_000 {
        let (h, key) = key_of(k);
        assert_eq!(t.take(h, &key).len(), 1);
    }
    t.check_invariants();
    assert!(t.is_empty());
    assert!(t.memory_bytes() < big / 100, "buckets were merged back");
}

#[test]
fn fixed_table_does_not_resize_and_positions_hold() {
    let t = HashTable::new(KeyMode::Unique, 2);
    for k in 0..1000 {
        t.insert(obj(k, 0));
    }
    t.fix();
    let mut seen = std::collections::HashSet::new();
    let mut pos = Some(Position::default());
    let mut next_key = 1000;
    while let Some(p) = pos {
        pos = t.visit(p, 50, |o| {
            seen.insert(o.key().to_vec());
        });
        // Concurrent growth while fixed must neither hide nor repeat old objects.
        for _ in 0..200 {
            t.insert(obj(next_key, 0));
            next_key += 1;
        }
    }
    t.unfix();
    for k in 0..1000 {
        assert!(seen.contains(&key_of(k).1), "key {k} missed");
    }
    t.check_invariants();
}

#[test]
fn chains_stay_short() {
    let t = HashTable::new(KeyMode::Unique, 64);
    for k in 0..200_000 {
        t.insert(obj(k, k));
    }
    let (buckets, longest) = t.chain_stats();
    assert!(buckets * 2 >= 200_000 / 2, "too few buckets: {buckets}");
    assert!(longest < 16, "longest chain {longest}");
}
