//! Model test of the CA tree: random operation sequences against a `BTreeMap` ordered by
//! Erlang term order (keys mix integers, floats that collide with them (`1 == 1.0`),
//! floats between them and atoms), checking invariants as it goes; plus a threaded stress
//! test that drives splits by contention and joins by quiet.

use crate::backend::catree::CaTree;
use crate::term::int::{raw_from_small, small_from_raw};
use crate::term::order::compare;
use crate::term::{element_range, read_head, Head, Obj, ObjBuilder, Writer};
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;

/// A key that sorts in term order (for the model).
#[derive(Clone, Debug)]
struct K(Vec<u8>);
impl PartialEq for K {
    fn eq(&self, o: &K) -> bool {
        compare(&self.0, &o.0) == Ordering::Equal
    }
}
impl Eq for K {}
impl PartialOrd for K {
    fn partial_cmp(&self, o: &K) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for K {
    fn cmp(&self, o: &K) -> Ordering {
        compare(&self.0, &o.0)
    }
}

/// Key variant `kind` of number `k`: integer, the equal float, a float just above, an atom.
fn key_term(w: &mut Writer, k: i64, kind: u64) {
    match kind % 4 {
        0 => w.imm(raw_from_small(k)),
        1 => w.float(k as f64),
        2 => w.float(k as f64 + 0.5),
        _ => {
            let name = format!("atom_{k:05}");
            // Words in an order unrelated to the names.
            w.atom(
                ((k as u64).wrapping_mul(0x9e37_79b9) << 6) | 0x0b,
                name.as_bytes(),
            )
        }
    }
}

pub fn obj_kind(k: i64, kind: u64, v: i64) -> Obj {
    let mut w = ObjBuilder::writer(48);
    w.tuple(2);
    key_term(&mut w, k, kind);
    w.imm(raw_from_small(v));
    ObjBuilder::finish(&w, 1, None).unwrap()
}

pub fn obj(k: i64, v: i64) -> Obj {
    obj_kind(k, 0, v)
}

pub fn key_kind(k: i64, kind: u64) -> Vec<u8> {
    let mut w = Writer::default();
    key_term(&mut w, k, kind);
    w.buf
}

pub fn key(k: i64) -> Vec<u8> {
    key_kind(k, 0)
}

fn val(o: &Obj) -> i64 {
    let at = element_range(o.body(), 2).unwrap().start;
    let (Head::Imm(raw), _) = read_head(o.body(), at).unwrap() else {
        panic!("value is not an immediate")
    };
    small_from_raw(raw).unwrap()
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The model: key → (stored body).
type Model = BTreeMap<K, Vec<u8>>;

fn all_bodies(t: &CaTree, chunk: usize, rev: bool) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut resume: Option<Vec<u8>> = None;
    loop {
        let start = resume.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
        let push = |o: &Obj| out.push(o.body().to_vec());
        resume = if rev {
            t.visit_rev(start, chunk, push)
        } else {
            t.visit(start, chunk, push)
        };
        if resume.is_none() {
            return out;
        }
    }
}

fn run(seed: u64, steps: usize, keys: u64) {
    let t = CaTree::new();
    let mut m: Model = BTreeMap::new();
    let mut rng = Rng(seed);
    for step in 0..steps {
        let k = rng.below(keys) as i64;
        let kind = rng.below(4);
        let v = rng.below(4) as i64;
        let kb = key_kind(k, kind);
        match rng.below(12) {
            0..=3 => {
                let o = obj_kind(k, kind, v);
                let body = o.body().to_vec();
                let g = t.insert(o);
                // Replacement: the stored key becomes the new one (K compares `==`).
                let old = m.remove(&K(kb.clone()));
                assert_eq!(g.len(), old.is_some() as usize);
                m.insert(K(kb.clone()), body);
            }
            4 => {
                let g = t.take(&kb);
                assert_eq!(
                    g.first().map(|o| o.body().to_vec()),
                    m.remove(&K(kb.clone()))
                );
            }
            5 => {
                let o = obj_kind(k, kind, v);
                let g = t.delete_object(&o);
                let exact = m.get(&K(kb.clone())) == Some(&o.body().to_vec());
                assert_eq!(g.len(), exact as usize, "delete_object matches exactly");
                if exact {
                    m.remove(&K(kb.clone()));
                }
            }
            6 => {
                let batch: Vec<Obj> = (0..rng.below(5) as i64)
                    .map(|i| obj_kind(k + i, kind, v))
                    .collect();
                let ks: Vec<K> = batch.iter().map(|o| K(o.key().to_vec())).collect();
                let bodies: Vec<Vec<u8>> = batch.iter().map(|o| o.body().to_vec()).collect();
                let only_new = rng.below(2) == 0;
                let any = ks.iter().any(|k| m.contains_key(k));
                let (ok, _) = t.insert_many(batch, only_new);
                assert_eq!(ok, !(only_new && any));
                if ok {
                    for (k, b) in ks.into_iter().zip(bodies) {
                        m.remove(&k);
                        m.insert(k, b);
                    }
                }
            }
            7 => {
                // update: bump the value, or insert a default.
                let default = (rng.below(2) == 0).then(|| obj_kind(k, kind, 0));
                let had = m.contains_key(&K(kb.clone()));
                let r = t.update(&kb, default, |o| {
                    let mut w = Writer::default();
                    w.tuple(2);
                    w.raw(o.key());
                    let v = val(o) + 1;
                    w.imm(raw_from_small(v));
                    o.replace_body(1, &w).unwrap();
                    Ok(v)
                });
                match r {
                    Ok((nv, _)) => {
                        let stored = {
                            let mut b = None;
                            t.lookup(&kb, |o| b = Some(o.body().to_vec()));
                            b.unwrap()
                        };
                        let old = m.remove(&K(kb.clone()));
                        assert!(had == old.is_some());
                        let mut want = Writer::default();
                        want.tuple(2);
                        want.raw(&stored[element_range(&stored, 1).unwrap()]);
                        want.imm(raw_from_small(nv));
                        assert_eq!(stored, want.buf);
                        m.insert(K(kb.clone()), stored);
                    }
                    Err(e) => {
                        assert!(!had);
                        assert_eq!(e, crate::error::Cause::BadKey.into());
                    }
                }
            }
            8 => {
                // next / prev of any key, present or not.
                let want = m
                    .range((Bound::Excluded(K(kb.clone())), Bound::Unbounded))
                    .next()
                    .map(|(_, b)| b.clone());
                assert_eq!(t.next(&kb, |o| o.body().to_vec()), want);
                let want = m.range(..K(kb.clone())).next_back().map(|(_, b)| b.clone());
                assert_eq!(t.prev(&kb, |o| o.body().to_vec()), want);
            }
            9 if step % 5 == 0 => {
                // Split or join somewhere, as contention would.
                t.force_adapt(&kb, rng.below(2) == 0);
            }
            _ => {
                assert_eq!(t.member(&kb), m.contains_key(&K(kb.clone())));
            }
        }
        let mut got = None;
        t.lookup(&kb, |o| got = Some(o.body().to_vec()));
        assert_eq!(got.as_ref(), m.get(&K(kb.clone())), "step {step}");
        if step % 101 == 0 {
            t.check_invariants();
            assert_eq!(t.len(), m.len());
        }
    }
    t.check_invariants();
    assert_eq!(t.len(), m.len());
    let want: Vec<Vec<u8>> = m.values().cloned().collect();
    assert_eq!(all_bodies(&t, 7, false), want);
    assert_eq!(all_bodies(&t, 1, false), want);
    let mut rev = want.clone();
    rev.reverse();
    assert_eq!(all_bodies(&t, 5, true), rev);
    assert_eq!(t.first(|o| o.body().to_vec()), want.first().cloned());
    assert_eq!(t.last(|o| o.body().to_vec()), want.last().cloned());
    // first/next walk every key once, in order.
    let mut walked = Vec::new();
    let mut cur = t.first(|o| (o.key().to_vec(), o.body().to_vec()));
    while let Some((k, b)) = cur {
        walked.push(b);
        cur = t.next(&k, |o| (o.key().to_vec(), o.body().to_vec()));
    }
    assert_eq!(walked, want);
    assert!(t.memory_bytes() > 0);
    drop(t.clear());
    assert!(t.is_empty());
    t.check_invariants();
}

#[test]
fn catree_matches_model() {
    run(3, 30_000, 2000);
    run(5, 20_000, 40);
    run(7, 10_000, 5);
}

#[test]
fn equal_keys_replace_and_keep_the_new_key() {
    let t = CaTree::new();
    t.insert(obj_kind(1, 0, 7)); // {1, 7}
    let g = t.insert(obj_kind(1, 1, 8)); // {1.0, 8}
    assert_eq!(g.len(), 1);
    let mut stored = None;
    t.lookup(&key(1), |o| stored = Some(o.key().to_vec()));
    assert_eq!(stored, Some(key_kind(1, 1)), "the stored key is now 1.0");
    // delete_object is an exact match: {1, 8} is not {1.0, 8}.
    assert!(t.delete_object(&obj_kind(1, 0, 8)).is_empty());
    assert_eq!(t.delete_object(&obj_kind(1, 1, 8)).len(), 1);
    assert!(t.is_empty());
    assert_eq!(
        t.update(&key(1), None, |_| unreachable!())
            .map(|r: (i64, _)| r.0),
        Err(crate::error::Cause::BadKey.into())
    );
}

#[test]
fn stress_splits_under_contention_and_joins_when_quiet() {
    let threads = std::thread::available_parallelism()
        .map_or(4, |n| n.get())
        .max(4);
    let per = 5_000i64;
    let t = Arc::new(CaTree::new());
    // Highest base-node count seen while threads contend (joins may undo splits as soon
    // as contention stops, which is the point).
    let peak = Arc::new(std::sync::atomic::AtomicUsize::new(1));
    let handles: Vec<_> = (0..threads)
        .map(|id| {
            let t = t.clone();
            let peak = peak.clone();
            std::thread::spawn(move || {
                let base = id as i64 * per;
                for round in 0..4 {
                    for k in base..base + per {
                        t.insert(obj(k, round));
                        // Shared range: every thread writes keys -1..-64 too.
                        t.insert(obj(-1 - (k % 64), id as i64));
                        if k % 256 == 0 {
                            peak.fetch_max(
                                t.base_node_count(),
                                std::sync::atomic::Ordering::Relaxed,
                            );
                        }
                    }
                }
                // Keep contending on the shared range until a split shows (bounded: on a
                // machine with few cores contention may take a while to appear).
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
                let mut i = 0i64;
                while peak.load(std::sync::atomic::Ordering::Relaxed) == 1
                    && std::time::Instant::now() < deadline
                {
                    t.insert(obj(-1 - (i % 64), id as i64));
                    // Now and then hold the shared range's lock a little (an update whose
                    // callback sleeps): on a loaded machine, where the threads rarely run
                    // at the same instant, the others then really find it taken.
                    if i % 512 == 0 {
                        let _ = t.update(&key(-1), None, |_| {
                            std::thread::sleep(std::time::Duration::from_micros(200));
                            Ok(())
                        });
                    }
                    i += 1;
                    if i % 64 == 0 {
                        peak.fetch_max(t.base_node_count(), std::sync::atomic::Ordering::Relaxed);
                    }
                }
                for k in (base..base + per).filter(|k| k % 2 == 1) {
                    assert_eq!(t.take(&key(k)).len(), 1);
                }
                let mut n = 0;
                let mut cur = Some(key(base));
                while let Some(k) = cur.take() {
                    cur = t.next(&k, |o| o.key().to_vec());
                    n += 1;
                    if n > 100 {
                        break;
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    t.check_invariants();
    let total = threads as i64 * per;
    assert_eq!(t.len(), (total / 2 + 64) as usize);
    for k in 0..total {
        assert_eq!(t.member(&key(k)), k % 2 == 0, "key {k}");
    }
    let peak = peak.load(std::sync::atomic::Ordering::Relaxed);
    assert!(peak > 1, "contention split the tree (base nodes: {peak})");
    // Quiet phase: one thread, uncontended writes everywhere: base nodes join back.
    let mut rounds = 0;
    while t.base_node_count() > 1 && rounds < 2_000 {
        for k in (0..total).step_by(97) {
            t.insert(obj(k - k % 2, rounds));
        }
        rounds += 1;
    }
    t.check_invariants();
    assert_eq!(t.base_node_count(), 1, "joined back from {peak} base nodes");
    assert_eq!(t.len(), (total / 2 + 64) as usize);
}

#[test]
fn traversals_and_batches_race_forced_splits_and_joins() {
    // Even keys are never touched after setup: every full traversal must see each of them
    // exactly once, in order, whatever splits, joins and odd-key writes run meanwhile.
    // Exercises the lock-free routing retries and epoch reclamation on real threads.
    let n = 2_000i64;
    let t = Arc::new(CaTree::new());
    for k in (0..n).step_by(2) {
        t.insert(obj(k, 0));
    }
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let running =
        |stop: &std::sync::atomic::AtomicBool| !stop.load(std::sync::atomic::Ordering::Relaxed);
    let adapter = {
        let (t, stop) = (t.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut rng = Rng(7);
            let mut peak = 1;
            while running(&stop) {
                let k = rng.below(n as u64) as i64;
                t.force_adapt(&key(k), rng.below(3) != 0);
                peak = peak.max(t.base_node_count());
            }
            peak
        })
    };
    let writers: Vec<_> = (0..2)
        .map(|id| {
            let (t, stop) = (t.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut rng = Rng(100 + id);
                while running(&stop) {
                    let k = 2 * rng.below(n as u64 / 2) as i64 + 1;
                    match rng.below(3) {
                        0 => drop(t.insert(obj(k, 1))),
                        1 => drop(t.take(&key(k))),
                        _ => {
                            drop(t.insert_many(vec![obj(k, 2), obj(((k + 600) % n) | 1, 2)], false))
                        }
                    }
                }
            })
        })
        .collect();
    // Integer keys encode canonically, so bytes identify them.
    let evens: std::collections::HashSet<Vec<u8>> = (0..n).step_by(2).map(key).collect();
    let even = |ks: &[Vec<u8>]| -> Vec<Vec<u8>> {
        ks.iter().filter(|k| evens.contains(*k)).cloned().collect()
    };
    let expected: Vec<Vec<u8>> = (0..n).step_by(2).map(key).collect();
    for round in 0..20 {
        for rev in [false, true] {
            let mut seen = Vec::new();
            let mut resume: Option<Vec<u8>> = None;
            loop {
                let start = resume.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
                let push = |o: &Obj| seen.push(o.key().to_vec());
                resume = if rev {
                    t.visit_rev(start, 7 + round, push)
                } else {
                    t.visit(start, 7 + round, push)
                };
                if resume.is_none() {
                    break;
                }
            }
            for w in seen.windows(2) {
                let o = compare(&w[0], &w[1]);
                assert_eq!(
                    o,
                    if rev {
                        Ordering::Greater
                    } else {
                        Ordering::Less
                    }
                );
            }
            let mut got = even(&seen);
            if rev {
                got.reverse();
            }
            assert_eq!(got, expected, "round {round}, rev {rev}");
        }
        // next/prev from every fourth even key find the neighbouring even-or-odd key.
        for k in (0..n - 2).step_by(8) {
            let nx = t.next(&key(k), |o| o.key().to_vec()).unwrap();
            assert!(
                compare(&nx, &key(k)) == Ordering::Greater
                    && compare(&nx, &key(k + 2)) != Ordering::Greater
            );
            let pv = t.prev(&key(k + 2), |o| o.key().to_vec()).unwrap();
            assert!(
                compare(&pv, &key(k + 2)) == Ordering::Less
                    && compare(&pv, &key(k)) != Ordering::Less
            );
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let peak = adapter.join().unwrap();
    for w in writers {
        w.join().unwrap();
    }
    t.check_invariants();
    assert!(peak > 1, "forced splits took effect");
    assert_eq!(even(&all_keys(&t)), expected);
}

/// `nth` (`slot/2`) over several base nodes agrees with a walk, and says how many objects
/// there are when asked past the end.
#[test]
fn nth_skips_base_nodes_by_size() {
    let n = 3_000i64;
    let t = CaTree::new();
    for k in 0..n {
        t.insert(obj(k, 0));
    }
    for k in (100..n).step_by(400) {
        t.force_adapt(&key(k), true);
    }
    assert!(t.base_node_count() > 1, "forced splits took effect");
    let keys = all_keys(&t);
    for i in (0..n as usize).step_by(37).chain([n as usize - 1]) {
        let mut got = None;
        assert_eq!(t.nth(i, |o| got = Some(o.key().to_vec())), None);
        assert_eq!(got.as_ref(), Some(&keys[i]), "slot {i}");
    }
    assert_eq!(
        t.nth(n as usize, |_| panic!("no such object")),
        Some(n as usize)
    );
    assert_eq!(
        t.nth(n as usize + 5, |_| panic!("no such object")),
        Some(n as usize)
    );
}

fn all_keys(t: &CaTree) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    t.visit(Bound::Unbounded, usize::MAX, |o| out.push(o.key().to_vec()));
    out
}
