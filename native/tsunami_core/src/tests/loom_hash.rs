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
