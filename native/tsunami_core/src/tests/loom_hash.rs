//! Loom scenarios, one per test, on a 2-shard table with 1-bucket shards (see `config`), so
//! every insert past the first splits a bucket. Run with
//! `RUSTFLAGS="--cfg loom" cargo test -p tsunami_core --release loom`.

use super::hash_model::{key_of, obj};
use crate::backend::hash::HashTable;
use crate::backend::KeyMode;
use loom::sync::Arc;
use loom::thread;

#[test]
fn loom_concurrent_inserts_with_splits() {
    loom::model(|| {
        let t = Arc::new(HashTable::new(KeyMode::Unique, 2));
        let t2 = t.clone();
        let h = thread::spawn(move || {
            for k in 0..3 {
                t2.insert(obj(k, 1));
            }
        });
        for k in 3..6 {
            t.insert(obj(k, 2));
        }
        h.join().unwrap();
        t.check_invariants();
        assert_eq!(t.len(), 6);
    });
}

#[test]
fn loom_insert_races_delete_with_merge() {
    loom::model(|| {
        let t = Arc::new(HashTable::new(KeyMode::Bag, 2));
        for k in 0..4 {
            t.insert(obj(k, 0));
        }
        let t2 = t.clone();
        let h = thread::spawn(move || {
            for k in 0..4 {
                let (hash, key) = key_of(k);
                t2.take(hash, &key);
            }
        });
        t.insert(obj(9, 9));
        let (hash, key) = key_of(9);
        assert!(t.member(hash, &key));
        h.join().unwrap();
        t.check_invariants();
        assert_eq!(t.len(), 1);
    });
}

#[test]
fn loom_atomic_batch_vs_reader() {
    loom::model(|| {
        let t = Arc::new(HashTable::new(KeyMode::Unique, 2));
        let t2 = t.clone();
        let h = thread::spawn(move || {
            t2.insert_many(vec![obj(1, 1), obj(2, 1)], true);
        });
        let (h1, k1) = key_of(1);
        let (h2, k2) = key_of(2);
        // Keys 1 and 2 go in one atomic batch: once key 1 is visible, key 2 must be too.
        let saw1 = t.member(h1, &k1);
        let saw2 = t.member(h2, &k2);
        assert!(!saw1 || saw2, "saw half of an atomic batch");
        h.join().unwrap();
        assert_eq!(t.len(), 2);
    });
}

/// `select_replace`'s walk increments a counter while another thread increments it with
/// `update`: both increments land (the walk reads and replaces under one lock).
#[test]
fn loom_replacing_walk_vs_update() {
    use crate::backend::{Edit, Position};
    loom::model(|| {
        let t = Arc::new(HashTable::new(KeyMode::Unique, 2));
        t.insert(obj(1, 0));
        let t2 = t.clone();
        let h = thread::spawn(move || {
            let (hash, key) = key_of(1);
            let _ = t2.update(hash, &key, None, |o| {
                let v = val(o);
                *o = {
                    let mut n = obj(1, v + 1);
                    *n.next_mut() = o.next_mut().take();
                    n
                };
                Ok(())
            });
        });
        t.fix();
        let mut garbage = Vec::new();
        let (_, halt) = t.visit_edit(
            Position::default(),
            10,
            |o| Edit::Replace(obj(1, val(o) + 1)),
            &mut garbage,
        );
        assert!(halt.is_none());
        t.unfix();
        h.join().unwrap();
        let (hash, key) = key_of(1);
        let mut seen = Vec::new();
        t.lookup(hash, &key, |o| seen.push(val(o)));
        assert_eq!(seen, vec![2]);
        assert_eq!(garbage.len(), 1);
        t.check_invariants();
    });
}

/// The value element of a `{Key, Val}` test object.
fn val(o: &crate::term::Obj) -> i64 {
    let at = crate::term::element_range(o.body(), 2).unwrap().start;
    let (crate::term::Head::Imm(raw), _) = crate::term::read_head(o.body(), at).unwrap() else {
        panic!("small value")
    };
    crate::term::int::small_from_raw(raw).unwrap()
}

/// `safe_fixtable` walker against a concurrent `take`: a key the fixed walker got from
/// `first` keeps its place when deleted, so `next` from it never fails; the unfix then
/// frees the tombstone.
#[test]
fn loom_fix_take_next_unfix() {
    loom::model(|| {
        let t = Arc::new(HashTable::new(KeyMode::Unique, 2));
        for k in 0..3 {
            t.insert(obj(k, 0));
        }
        let t2 = t.clone();
        let h = thread::spawn(move || {
            for k in 0..2 {
                let (hash, key) = key_of(k);
                t2.take(hash, &key);
            }
        });
        t.fix();
        let first = t.first(|o| o.key().to_vec()).expect("key 2 is never taken");
        let hash = crate::term::hash_key(&first);
        let next = t.next(hash, &first, |o| o.key().to_vec());
        assert!(next.is_ok(), "next from a key deleted while fixed");
        t.unfix();
        h.join().unwrap();
        assert_eq!(t.kept(), 0, "the unfix swept the tombstones");
        assert_eq!(t.len(), 1);
        t.check_invariants();
    });
}

/// The last unfix's sweep races a new fixation that deletes: the new fixer's tombstone
/// is never swept while it holds the table (`next` from its deleted key works), and the
/// last unfix of all leaves nothing kept.
#[test]
fn loom_last_unfix_sweep_races_new_fix() {
    loom::model(|| {
        let t = Arc::new(HashTable::new(KeyMode::Unique, 2));
        for k in 0..3 {
            t.insert(obj(k, 0));
        }
        t.fix();
        let (h0, k0) = key_of(0);
        t.take(h0, &k0); // a tombstone for the sweep
        let t2 = t.clone();
        let h = thread::spawn(move || {
            t2.fix();
            let (h1, k1) = key_of(1);
            t2.take(h1, &k1);
            assert!(
                t2.next(h1, &k1, |_| ()).is_ok(),
                "tombstone swept while fixed"
            );
            t2.unfix();
        });
        t.unfix(); // the last unfix, unless the other thread's fixation came first
        h.join().unwrap();
        assert!(!t.is_fixed());
        assert_eq!(t.kept(), 0, "the last unfix of all swept");
        assert_eq!(t.len(), 1);
        t.check_invariants();
    });
}

/// `delete_all_objects` while fixed against an insert: the cleared keys stay known to
/// `next` (ghosts) until the unfix, and the insert either came before the clear (and is
/// gone) or after it (and stays).
#[test]
fn loom_clear_while_fixed_vs_insert() {
    loom::model(|| {
        let t = Arc::new(HashTable::new(KeyMode::Unique, 2));
        t.insert(obj(0, 0));
        t.fix();
        let t2 = t.clone();
        let h = thread::spawn(move || {
            t2.insert(obj(5, 5));
        });
        assert!(
            t.clear().is_empty(),
            "fixed: the old contents stay as ghosts"
        );
        let (h0, k0) = key_of(0);
        assert!(
            t.next(h0, &k0, |_| ()).is_ok(),
            "a cleared key is still a place"
        );
        h.join().unwrap();
        let (h5, k5) = key_of(5);
        assert_eq!(t.len(), usize::from(t.member(h5, &k5)));
        t.unfix();
        assert_eq!(t.kept(), 0);
        assert!(
            t.next(h0, &k0, |_| ()).is_err(),
            "unfixed: the cleared key is gone"
        );
        t.check_invariants();
    });
}

/// An unfixed chunked walk (one object per call) while another thread inserts (the
/// shards split) and deletes (they merge): the keys present throughout are seen exactly
/// once, and only inserted keys are seen.
#[test]
fn loom_unfixed_walk_races_resizing() {
    use crate::backend::Position;
    loom::model(|| {
        let t = Arc::new(HashTable::new(KeyMode::Unique, 2));
        for k in 0..3 {
            t.insert(obj(k, 0));
        }
        let t2 = t.clone();
        let h = thread::spawn(move || {
            t2.insert(obj(7, 0));
            t2.insert(obj(8, 0));
            let (h2, k2) = key_of(2);
            t2.take(h2, &k2);
        });
        let mut seen = Vec::new();
        let mut at = Some(Position::default());
        while let Some(p) = at {
            at = t.visit(p, 1, |o| seen.push(o.key().to_vec()));
        }
        h.join().unwrap();
        for k in 0..2 {
            let n = seen.iter().filter(|s| **s == key_of(k).1).count();
            assert_eq!(n, 1, "key {k} seen {n} times");
        }
        let known: Vec<Vec<u8>> = [0, 1, 2, 7, 8].iter().map(|&k| key_of(k).1).collect();
        assert!(seen.iter().all(|s| known.contains(s)));
        t.check_invariants();
    });
}
