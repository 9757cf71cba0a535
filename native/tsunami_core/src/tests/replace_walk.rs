//! `select_replace`'s editing walk ([`Storage::visit_replace`], [`Storage::replace_key`])
//! on both backends: every object offered once across chunks, replacements in place
//! (chain order, copies, tree shape), refused key changes, and atomicity against a
//! concurrent read-modify-write of the same objects.

use super::hash_model::{key_of, obj};
use crate::backend::catree::CaTree;
use crate::backend::hash::HashTable;
use crate::backend::{Edit, KeyMode, Storage};
use crate::term::int::raw_from_small;
use crate::term::Obj;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The value element of a `{Key, Val}` test object.
fn val(o: &Obj) -> i64 {
    let at = crate::term::element_range(o.body(), 2).unwrap().start;
    let (crate::term::Head::Imm(raw), _) = crate::term::read_head(o.body(), at).unwrap() else {
        panic!("small value")
    };
    crate::term::int::small_from_raw(raw).unwrap()
}

fn key(o: &Obj) -> i64 {
    let (crate::term::Head::Imm(raw), _) = crate::term::read_head(o.key(), 0).unwrap() else {
        panic!("small key")
    };
    crate::term::int::small_from_raw(raw).unwrap()
}

fn storages() -> Vec<(&'static str, Storage)> {
    vec![
        ("set", Storage::Hash(HashTable::new(KeyMode::Unique, 8))),
        (
            "dbag",
            Storage::Hash(HashTable::new(KeyMode::Duplicates, 8)),
        ),
        ("tree", Storage::Tree(CaTree::new())),
    ]
}

fn contents(s: &Storage) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    let mut at = Some(s.begin_traversal());
    while let Some(p) = at {
        at = s.visit(&p, 100, |o| out.push((key(o), val(o))));
    }
    out
}

/// Runs a whole replacing walk in chunks of `max`; the number of replacements.
fn replace_all(s: &Storage, max: usize, mut f: impl FnMut(&Obj) -> Edit) -> crate::Result<usize> {
    let mut garbage = Vec::new();
    let mut at = Some(s.begin_traversal());
    let mut r = Ok(());
    while let Some(p) = at {
        match s.visit_replace(&p, None, max, &mut f, &mut garbage) {
            Ok(next) => at = next,
            Err(e) => {
                r = Err(e);
                break;
            }
        }
    }
    r.map(|_| garbage.len())
}

#[test]
fn replaces_every_match_in_place_across_chunks() {
    for (name, s) in storages() {
        for k in 0..2_000 {
            s.insert(obj(k, k));
            if name == "dbag" {
                s.insert(obj(k, k)); // a copy
                s.insert(obj(k, -1));
            }
        }
        if let Storage::Tree(t) = &s {
            for k in [100, 700, 1500] {
                t.force_adapt(&key_of(k).1, true);
            }
        }
        let before = contents(&s);
        let mut offered = 0;
        let n = replace_all(&s, 37, |o| {
            offered += 1;
            match val(o) {
                v if v >= 0 && v % 2 == 0 => Edit::Replace(obj(key(o), v + 1_000_000)),
                _ => Edit::Keep,
            }
        })
        .unwrap();
        assert_eq!(offered, before.len(), "{name}: each object offered once");
        let expect: Vec<(i64, i64)> = before
            .iter()
            .map(|&(k, v)| match v >= 0 && v % 2 == 0 {
                true => (k, v + 1_000_000),
                false => (k, v),
            })
            .collect();
        assert_eq!(n, expect.iter().filter(|e| e.1 >= 1_000_000).count());
        // Same order: replacements took their objects' places (copies included).
        assert_eq!(contents(&s), expect, "{name}");
        assert_eq!(s.len(), before.len());
        match &s {
            Storage::Hash(h) => {
                h.check_invariants();
                assert_eq!(h.kept(), 0);
            }
            Storage::Tree(t) => t.check_invariants(),
        }
    }
}

#[test]
fn a_changed_key_is_refused_and_ends_the_walk() {
    for (name, s) in storages() {
        for k in 0..500 {
            s.insert(obj(k, 0));
        }
        let mut offered = 0;
        let r = replace_all(&s, 50, |o| {
            offered += 1;
            match offered {
                300 => Edit::Replace(obj(key(o) + 10_000, 1)),
                _ => Edit::Replace(obj(key(o), 1)),
            }
        });
        assert!(r.is_err(), "{name}");
        let all = contents(&s);
        assert_eq!(all.len(), 500, "{name}: no object moved or lost");
        // What came before the refused one was replaced, nothing after it.
        assert_eq!(all.iter().filter(|e| e.1 == 1).count(), 299, "{name}");
        assert!(all.iter().all(|e| e.0 < 10_000));
    }
}

#[test]
fn replace_key_edits_only_that_key() {
    for (name, s) in storages() {
        for k in 0..100 {
            s.insert(obj(k, k));
            if name == "dbag" {
                s.insert(obj(k, k));
            }
        }
        let (h, k) = key_of(42);
        let mut garbage = Vec::new();
        s.replace_key(
            h,
            &k,
            |o| Edit::Replace(obj(key(o), val(o) + 1)),
            &mut garbage,
        )
        .unwrap();
        let copies = if name == "dbag" { 2 } else { 1 };
        assert_eq!(garbage.len(), copies, "{name}");
        let mut seen = Vec::new();
        s.lookup(h, &k, |o| seen.push(val(o)));
        assert_eq!(seen, vec![43; copies]);
        let (h, k) = key_of(500);
        s.replace_key(h, &k, |_| panic!("absent key"), &mut garbage)
            .unwrap();
        let (h, k) = key_of(7);
        assert!(s
            .replace_key(h, &k, |_| Edit::Replace(obj(8, 0)), &mut garbage)
            .is_err());
        assert_eq!(contents(&s).iter().filter(|e| e.0 == 8).count(), copies);
    }
}

/// Walks incrementing every counter race a thread doing the same through `update`: no
/// increment is lost, which would happen if a walk's read and replace were not atomic.
#[test]
fn replacements_are_atomic_against_concurrent_updates() {
    for (name, s) in storages().into_iter().filter(|(n, _)| *n != "dbag") {
        let s = Arc::new(s);
        let keys = 300;
        for k in 0..keys {
            s.insert(obj(k, 0));
        }
        let stop = Arc::new(AtomicBool::new(false));
        let updater = {
            let (s, stop) = (s.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) || n < 20_000 {
                    let k = n % keys;
                    let (h, key) = key_of(k);
                    let (_, g) = s
                        .update(h, &key, None, |o| {
                            // In place, as `update_element` does (the chain link stays).
                            let mut w = crate::term::ObjBuilder::writer(32);
                            w.tuple(2);
                            w.imm(raw_from_small(k));
                            w.imm(raw_from_small(val(o) + 1));
                            o.replace_body(1, &w).ok_or(crate::Error::badarg())
                        })
                        .unwrap();
                    Storage::discard(g);
                    n += 1;
                }
                n
            })
        };
        let mut walked = 0;
        for _ in 0..40 {
            walked += replace_all(&s, 16, |o| Edit::Replace(obj(key(o), val(o) + 1))).unwrap();
        }
        stop.store(true, Ordering::Relaxed);
        let updates = updater.join().unwrap() as usize;
        let total: i64 = contents(&s).iter().map(|e| e.1).sum();
        assert_eq!(walked, 40 * keys as usize, "{name}");
        assert_eq!(total as usize, walked + updates, "{name}: lost increments");
    }
}
