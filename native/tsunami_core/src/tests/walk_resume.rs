//! Chunked hash walks without fixation: a walk resumes at a walk position (bit-reversed
//! bucket hash), so objects that stay in the table are visited exactly once however
//! the shards split or merge between chunks, and nothing never inserted is ever seen.

use super::hash_model::{key_of, obj};
use crate::backend::hash::HashTable;
use crate::backend::{Edit, KeyMode, Position};
use crate::term::Obj;
use std::collections::{HashMap, HashSet};

/// The integer key of a `{Key, Val}` test object.
fn key(o: &Obj) -> i64 {
    crate::term::order::small_int(o.key()).expect("small key")
}

#[derive(Clone, Copy, Debug)]
enum Walk {
    Forward,
    Backward,
    Remove,
    Edit,
}

/// Fills a table with `0..n`, walks it in chunks of `chunk` objects with `walk`, and
/// between chunks runs `churn(table, chunk_index)`. Returns how often each key was seen
/// (per object: a bag key counts once per object).
fn walk_with_churn(
    mode: KeyMode,
    shards: usize,
    n: i64,
    chunk: usize,
    walk: Walk,
    mut churn: impl FnMut(&HashTable, usize),
) -> HashMap<i64, usize> {
    let t = HashTable::new(mode, shards);
    for k in 0..n {
        t.insert(obj(k, 0));
    }
    let mut seen: HashMap<i64, usize> = HashMap::new();
    let mut garbage = Vec::new();
    let mut at = Some(match walk {
        Walk::Backward => t.end_position(),
        _ => Position::default(),
    });
    let mut i = 0;
    while let Some(p) = at {
        assert!(!t.is_fixed(), "a walk holds no fixation");
        let mut note = |o: &Obj| *seen.entry(key(o)).or_default() += 1;
        at = match walk {
            Walk::Forward => t.visit(p, chunk, note),
            Walk::Backward => t.visit_rev(p, chunk, note),
            Walk::Remove => t.visit_remove(
                p,
                chunk,
                |o| {
                    note(o);
                    false
                },
                &mut garbage,
            ),
            Walk::Edit => {
                let (next, halt) = t.visit_edit(
                    p,
                    chunk,
                    |o| {
                        note(o);
                        Edit::Keep
                    },
                    &mut garbage,
                );
                assert!(halt.is_none());
                next
            }
        };
        churn(&t, i);
        i += 1;
    }
    assert!(garbage.is_empty());
    t.check_invariants();
    seen
}

const MODES: [KeyMode; 3] = [KeyMode::Unique, KeyMode::Bag, KeyMode::Duplicates];
const WALKS: [Walk; 4] = [Walk::Forward, Walk::Backward, Walk::Remove, Walk::Edit];

#[test]
fn an_unchanged_table_is_walked_exactly_once_in_any_chunking() {
    for mode in MODES {
        for walk in WALKS {
            for chunk in [1, 7, 100, 10_000] {
                let seen = walk_with_churn(mode, 4, 3_000, chunk, walk, |_, _| {});
                assert_eq!(seen.len(), 3_000, "{mode:?} {walk:?} {chunk}");
                assert!(seen.values().all(|&c| c == 1), "{mode:?} {walk:?} {chunk}");
            }
        }
    }
}

/// The table grows from 2,000 to 60,000 objects during the walk (every shard splits
/// many times): each original object is still seen exactly once, and every object seen
/// was inserted.
#[test]
fn splits_between_chunks_skip_nothing_and_repeat_nothing() {
    for mode in MODES {
        for walk in WALKS {
            let mut next = 1_000_000;
            let seen = walk_with_churn(mode, 4, 2_000, 50, walk, |t, i| {
                // Bounded, or the walk would chase the new objects for ever.
                for _ in 0..if i < 40 { 1_500 } else { 0 } {
                    t.insert(obj(next, 1));
                    next += 1;
                }
            });
            for k in 0..2_000 {
                assert_eq!(seen.get(&k), Some(&1), "{mode:?} {walk:?}: key {k}");
            }
            assert!(seen
                .keys()
                .all(|&k| k < 2_000 || (1_000_000..next).contains(&k)));
            assert!(seen.values().all(|&c| c == 1), "{mode:?} {walk:?}");
        }
    }
}

/// Most of the table is deleted during the walk (shards merge back, often into buckets
/// the walk has half visited): each survivor is seen exactly once.
#[test]
fn merges_between_chunks_skip_nothing_and_repeat_nothing() {
    for mode in MODES {
        for walk in WALKS {
            let n = 20_000;
            let mut doomed = (0..n).filter(|k| k % 10 != 0);
            let seen = walk_with_churn(mode, 2, n, 30, walk, |t, _| {
                for k in doomed.by_ref().take(700) {
                    let (h, key) = key_of(k);
                    t.take(h, &key);
                }
            });
            for k in (0..n).step_by(10) {
                assert_eq!(seen.get(&k), Some(&1), "{mode:?} {walk:?}: survivor {k}");
            }
            assert!(seen.values().all(|&c| c == 1), "{mode:?} {walk:?}");
        }
    }
}

/// Growth and shrinkage in turn, with a walk in tiny chunks.
#[test]
fn resizing_back_and_forth_keeps_survivors_exactly_once() {
    for walk in WALKS {
        let seen = walk_with_churn(KeyMode::Unique, 2, 1_000, 3, walk, |t, i| {
            let base = 100_000 + (i as i64 % 4) * 10_000;
            if i % 8 < 4 {
                for k in base..base + 2_000 {
                    t.insert(obj(k, 0));
                }
            } else {
                for k in 100_000..140_000 {
                    let (h, key) = key_of(k);
                    t.take(h, &key);
                }
            }
        });
        for k in 0..1_000 {
            assert_eq!(seen.get(&k), Some(&1), "{walk:?}: key {k}");
        }
    }
}

/// A removing walk on an unfixed table leaves no tombstones and lets the shards shrink
/// (a bounded number of merges per chunk).
#[test]
fn an_unfixed_removing_walk_merges_buckets_back() {
    let t = HashTable::new(KeyMode::Unique, 4);
    for k in 0..50_000 {
        t.insert(obj(k, 0));
    }
    let big = t.chain_stats().buckets;
    let mut garbage = Vec::new();
    let mut at = Some(Position::default());
    while let Some(p) = at {
        at = t.visit_remove(p, 100, |o| key(o) % 100 != 0, &mut garbage);
    }
    assert_eq!(garbage.len(), 49_500);
    assert_eq!(t.len(), 500);
    assert_eq!(t.kept(), 0);
    // Merges are bounded per chunk (`config::WALK_MERGES`, so no chunk holds a scheduler
    // for thousands of them): the walk merges many, later walks the rest.
    let after_one = t.chain_stats().buckets;
    assert!(after_one * 2 < big, "the walk merged buckets back");
    let mut walks = 0;
    while t.chain_stats().buckets * 20 >= big && walks < 100 {
        let mut at = Some(Position::default());
        while let Some(p) = at {
            at = t.visit_remove(p, 100, |_| false, &mut garbage);
        }
        walks += 1;
    }
    assert!(
        t.chain_stats().buckets * 20 < big,
        "buckets were merged back"
    );
    assert_eq!(t.len(), 500);
    t.check_invariants();
}

/// Unfixed first/next while the table grows and shrinks: `next` from a key still in
/// the table goes on from that key's position, so every key present throughout comes
/// exactly once.
#[test]
fn unfixed_next_survives_resizing() {
    for mode in MODES {
        let t = HashTable::new(mode, 4);
        for k in 0..3_000 {
            t.insert(obj(k, 0));
        }
        let mut seen = HashSet::new();
        let mut cur = t.first(key);
        let mut step = 0i64;
        while let Some(k) = cur {
            assert!(seen.insert(k) || k >= 1_000_000, "{mode:?}: key {k} twice");
            // Grow, then shrink, the table around the walker.
            if step % 50 < 25 {
                for j in 0..200 {
                    t.insert(obj(1_000_000 + (step % 50) * 200 + j, 0));
                }
            } else {
                for j in 0..400 {
                    let gone = 1_000_000 + (step % 50 - 25) * 200 + j;
                    if gone != k {
                        let (h, key) = key_of(gone);
                        t.take(h, &key);
                    }
                }
            }
            step += 1;
            let (h, kb) = key_of(k);
            cur = t
                .next(h, &kb, key)
                .expect("the current key is in the table");
        }
        for k in 0..3_000 {
            assert!(seen.contains(&k), "{mode:?}: key {k} missed");
        }
        t.check_invariants();
    }
}

/// Times a whole walk against the bucket-index-order walk it replaced, alternating, so
/// that other load on the machine affects both alike. `cargo test --release -p
/// tsunami_core walk_timing -- --ignored --nocapture`.
#[test]
#[ignore]
fn walk_timing() {
    let n: i64 = std::env::var("WALK_N").map_or(1_000_000, |v| v.parse().unwrap());
    let t = HashTable::new(KeyMode::Unique, 64);
    for k in 0..n {
        t.insert(obj(k, k));
    }
    let (mut new, mut old) = (Vec::new(), Vec::new());
    for _ in 0..9 {
        let start = std::time::Instant::now();
        let mut n = 0usize;
        let mut at = Some(Position::default());
        while let Some(p) = at {
            at = t.visit(p, 1000, |o| n += o.body().len());
        }
        new.push(start.elapsed());
        let start = std::time::Instant::now();
        let mut m = 0usize;
        t.visit_physical(|o| m += o.body().len());
        old.push(start.elapsed());
        assert_eq!(n, m);
    }
    new.sort();
    old.sort();
    eprintln!(
        "walk position order: {:?}, bucket index order: {:?} (medians)",
        new[4], old[4]
    );
}
