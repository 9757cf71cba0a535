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
    run_with_fixations(mode, shards, seed, steps, keys, false)
}

/// With `fixations`, the table is fixed and unfixed in phases of a few hundred steps, so
/// deletions leave tombstones (and the model must not see them).
fn run_with_fixations(
    mode: KeyMode,
    shards: usize,
    seed: u64,
    steps: usize,
    keys: u64,
    fixations: bool,
) {
    let t = HashTable::new(mode, shards);
    let mut m: Model = HashMap::new();
    let mut rng = Rng(seed);
    let mut fixed = false;
    for step in 0..steps {
        if fixations && step % 300 == 0 {
            if fixed {
                t.unfix();
                if !t.is_fixed() {
                    assert_eq!(t.kept(), 0, "the last unfix sweeps");
                }
            } else {
                t.fix();
            }
            fixed = !fixed;
        }
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
    if fixed {
        t.unfix();
        t.check_invariants();
        assert_eq!(t.kept(), 0);
    }
}

#[test]
fn every_mode_matches_model_through_fixations() {
    for (i, mode) in [KeyMode::Unique, KeyMode::Bag, KeyMode::Duplicates]
        .into_iter()
        .enumerate()
    {
        run_with_fixations(mode, 4, 0xF1_0000 + i as u64, 20_000, 300, true);
    }
}

/// A key deleted while fixed keeps its place for `next/2` during that fixation only: once
/// the last unfix is done, before its sweep has run (the NIF defers a large one to another
/// thread) and also when a new fixation begins first, `next/2` from it fails, as on ETS,
/// whose last unfix purges pseudo-deleted keys at once. The fuzzer saw `next` return a key
/// here where `:ets` raised badarg.
#[test]
fn next_ignores_places_kept_by_an_earlier_fixation() {
    for mode in [KeyMode::Unique, KeyMode::Bag, KeyMode::Duplicates] {
        let t = HashTable::new(mode, 4);
        let n = 5_000;
        for k in 0..n {
            t.insert(obj(k, 1));
        }
        let next_ok = |k: i64| {
            let (h, key) = key_of(k);
            t.next(h, &key, |_| ()).is_ok()
        };
        t.fix();
        // Tombstones for 0..3000, then a ghost for the rest.
        for k in 0..3_000 {
            let (h, key) = key_of(k);
            t.take(h, &key);
        }
        assert!(next_ok(7) && next_ok(4_000));
        t.clear();
        assert!(next_ok(7) && next_ok(4_000), "kept during the fixation");
        // The last unfix leaves a large sweep to the caller: not swept yet.
        assert!(t.unfix_deferred());
        assert!(t.kept() > 0);
        assert!(
            !next_ok(7) && !next_ok(4_000),
            "unfixed: deleted keys are gone"
        );
        // A new fixation does not bring the old places back; its own deletions count.
        t.fix();
        assert!(
            !next_ok(7) && !next_ok(4_000),
            "an earlier fixation's places"
        );
        t.insert(obj(7, 2));
        t.insert(obj(8, 2));
        let (h, key) = key_of(8);
        t.take(h, &key);
        assert!(next_ok(7), "a live key");
        assert!(next_ok(8), "deleted during this fixation");
        t.clear();
        assert!(next_ok(7) && next_ok(8), "cleared during this fixation");
        assert!(!next_ok(4_000), "still an earlier fixation's");
        t.unfix();
        assert_eq!(t.kept(), 0, "the last unfix sweeps both periods");
        assert!(!next_ok(7) && !next_ok(8));
        t.check_invariants();
    }
}

/// Walks a fixed table with first/next, deleting every key right after visiting it (and
/// inserting new ones): every original key is visited exactly once, `next` accepts the
/// deleted keys, and the unfix frees the tombstones.
#[test]
fn next_accepts_keys_deleted_while_fixed() {
    for mode in [KeyMode::Unique, KeyMode::Bag, KeyMode::Duplicates] {
        let t = HashTable::new(mode, 8);
        let n = 5_000;
        for k in 0..n {
            t.insert(obj(k, 1));
            if mode != KeyMode::Unique {
                t.insert(obj(k, 2));
            }
        }
        t.fix();
        let mut seen = std::collections::HashSet::new();
        let mut cur = t.first(|o| o.key().to_vec());
        let mut fresh = n;
        while let Some(k) = cur {
            assert!(seen.insert(k.clone()), "a key seen twice");
            let h = crate::term::hash_key(&k);
            t.take(h, &k);
            t.insert(obj(fresh, 0));
            fresh += 1;
            cur = t.next(h, &k, |o| o.key().to_vec()).unwrap();
        }
        let originals = (0..n).filter(|k| seen.contains(&key_of(*k).1)).count();
        assert_eq!(originals, n as usize, "every original key visited");
        // Every visited key was deleted (the new ones too): one tombstone each.
        assert_eq!(t.kept(), seen.len());
        t.check_invariants();
        // A deleted key that is inserted again takes its tombstone's place.
        t.insert(obj(0, 9));
        assert_eq!(t.kept(), seen.len() - 1);
        t.unfix();
        assert_eq!(t.kept(), 0);
        t.check_invariants();
        // Unfixed, a deleted key is an error again.
        let (h, k) = key_of(1);
        assert!(t.next(h, &k, |_| ()).is_err());
    }
}

/// A backward walk sees exactly what a forward one does, reversed, in chunks, with long
/// chains (one shard, duplicates) and tombstones.
#[test]
fn visit_rev_is_visit_reversed() {
    for (mode, shards) in [
        (KeyMode::Unique, 8),
        (KeyMode::Duplicates, 1),
        (KeyMode::Bag, 4),
    ] {
        let t = HashTable::new(mode, shards);
        for k in 0..2_000 {
            for v in 0..if mode == KeyMode::Unique {
                1
            } else {
                1 + k % 11
            } {
                t.insert(obj(k % 700, v));
            }
        }
        t.fix();
        for k in (0..700).step_by(5) {
            let (h, key) = key_of(k);
            t.take(h, &key);
        }
        let body = |o: &Obj| o.body().to_vec();
        let mut fwd = Vec::new();
        let mut at = Some(Position::default());
        while let Some(p) = at {
            at = t.visit(p, 37, |o| fwd.push(body(o)));
        }
        let mut back = Vec::new();
        let mut at = Some(t.end_position());
        while let Some(p) = at {
            at = t.visit_rev(p, 37, |o| back.push(body(o)));
        }
        back.reverse();
        assert_eq!(fwd.len(), t.len());
        assert!(fwd == back, "{mode:?}: reverse walk differs");
        t.unfix();
    }
}

/// The match-spec `select_delete` walk: removes exactly what `doomed` picks, each object
/// judged once, leaving tombstones while fixed, across chunks and concurrent deletes.
#[test]
fn visit_remove_removes_what_it_is_told_in_chunks() {
    for mode in [KeyMode::Unique, KeyMode::Bag, KeyMode::Duplicates] {
        let t = HashTable::new(mode, 8);
        let n = 3_000;
        for k in 0..n {
            t.insert(obj(k, k % 3));
            if mode != KeyMode::Unique {
                t.insert(obj(k, 7));
            }
        }
        let before = t.len();
        t.fix();
        let (mut judged, mut removed, mut taken) = (0, Vec::new(), 0);
        let mut at = Some(Position::default());
        let mut chunks = 0;
        let val = |o: &Obj| crate::term::order::small_int(&o.body()[14..23]);
        while let Some(p) = at {
            // A concurrent delete of a key the walk may or may not have reached.
            let (h, k) = key_of(chunks * 7);
            taken += t.take(h, &k).len();
            at = t.visit_remove(
                p,
                100,
                |o| {
                    judged += 1;
                    val(o) == Some(0)
                },
                &mut removed,
            );
            chunks += 1;
        }
        assert!(chunks > 10, "walked in chunks");
        assert!(removed.iter().all(|o| val(o) == Some(0)));
        // Each object was judged at most once, and removed by exactly one of the two.
        assert!(judged <= before);
        assert_eq!(before - t.len(), removed.len() + taken);
        let mut zeros = 0;
        for k in 0..n {
            zeros += vals(&t, k).iter().filter(|v| **v == 0).count();
        }
        assert_eq!(zeros, 0, "no matching object left");
        assert!(t.kept() > 0, "tombstones while fixed");
        t.check_invariants();
        t.unfix();
        assert_eq!(t.kept(), 0);
        t.check_invariants();
    }
}

#[test]
fn partial_bag_delete_leaves_no_tombstone() {
    let t = HashTable::new(KeyMode::Bag, 1);
    t.insert(obj(1, 1));
    t.insert(obj(1, 2));
    t.fix();
    t.delete_object(&obj(1, 1));
    assert_eq!(t.kept(), 0);
    assert_eq!(vals(&t, 1), vec![2]);
    t.delete_object(&obj(1, 2));
    assert_eq!(t.kept(), 1);
    assert_eq!(vals(&t, 1), Vec::<i64>::new());
    let (h, k) = key_of(1);
    assert!(!t.member(h, &k));
    assert!(t.next(h, &k, |_| ()).is_ok());
    t.check_invariants();
    t.unfix();
    assert_eq!(t.kept(), 0);
}

#[test]
fn clear_while_fixed_keeps_old_keys_for_next() {
    let t = HashTable::new(KeyMode::Unique, 4);
    for k in 0..1000 {
        t.insert(obj(k, k));
    }
    t.fix();
    let first = t.first(|o| o.key().to_vec()).unwrap();
    assert!(t.clear().is_empty(), "nothing freed while fixed");
    assert_eq!(t.len(), 0);
    assert_eq!(t.kept(), 1000);
    let h = crate::term::hash_key(&first);
    assert_eq!(t.next(h, &first, |_| ()).unwrap(), None);
    // New objects after the clear are found from an old key's place or later.
    t.insert(obj(5000, 0));
    let mut found = 0;
    let mut cur = Some(first);
    while let Some(k) = cur {
        let h = crate::term::hash_key(&k);
        cur = t.next(h, &k, |o| o.key().to_vec()).unwrap();
        found += cur.is_some() as usize;
    }
    assert!(found <= 1);
    // A second clear while still fixed keeps both generations.
    t.clear();
    assert_eq!(t.kept(), 1001);
    t.unfix();
    assert_eq!(t.kept(), 0);
    assert_eq!(t.len(), 0);
    t.check_invariants();
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
    let st = t.chain_stats();
    let (buckets, longest) = (st.buckets, st.max);
    assert!(buckets * 2 >= 200_000 / 2, "too few buckets: {buckets}");
    assert!(longest < 16, "longest chain {longest}");
}
