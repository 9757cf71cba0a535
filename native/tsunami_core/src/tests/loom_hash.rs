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
