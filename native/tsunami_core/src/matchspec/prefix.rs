//! The range of keys a spec can match, for `ordered_set` walks that need not visit the
//! whole table.
//!
//! When every clause's head is a tuple whose key element is a tuple pattern of one arity
//! with leading bound elements (`{{user, '_'}, '_'}`), every key it can match is a tuple
//! of that arity starting with those elements. In term order (tuples by arity, then
//! element by element, `==` semantics) such keys are contiguous, so a walk can start at
//! the first key not [`Place::Below`] the range and stop at the first one
//! [`Place::Above`] it. The range only narrows the walk: every object in it is still
//! matched against the heads (which use `=:=`).

use super::{Clause, Pat};
use crate::term::{element_range, order, read_head, tag, Head};
use std::cmp::Ordering;

/// Where a key lies relative to a [`KeyRange`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    Below,
    In,
    Above,
}

/// Tuples of `arity` elements whose first elements compare equal to `prefix`.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyRange {
    pub arity: u32,
    pub prefix: Vec<Box<[u8]>>,
}

impl KeyRange {
    /// Where `key` (an encoding) lies in term order relative to this range.
    pub fn place(&self, key: &[u8]) -> Place {
        let Some((head, mut p)) = read_head(key, 0) else {
            return Place::Above;
        };
        let Head::Tuple(n) = head else {
            // Not a tuple: below or above every tuple, by type.
            let empty_tuple = [tag::TUPLE, 0, 0, 0, 0];
            return match order::compare(key, &empty_tuple) {
                Ordering::Less => Place::Below,
                _ => Place::Above,
            };
        };
        match n.cmp(&self.arity) {
            Ordering::Less => return Place::Below,
            Ordering::Greater => return Place::Above,
            Ordering::Equal => {}
        }
        for want in &self.prefix {
            let Some(end) = crate::term::skip(key, p) else {
                return Place::Above;
            };
            let got = &key[p..end];
            // Equal encodings are equal terms: the usual case inside the range.
            if got == &**want {
                p = end;
                continue;
            }
            let o = match (order::small_int(got), order::small_int(want)) {
                (Some(x), Some(y)) => x.cmp(&y),
                _ => order::compare(got, want),
            };
            match o {
                Ordering::Less => return Place::Below,
                Ordering::Greater => return Place::Above,
                Ordering::Equal => {}
            }
            p = end;
        }
        Place::In
    }
}

/// The range of one clause's key pattern; `None` when it may match keys of any shape.
/// `Some(None)` for a clause that matches no tuple at all (it does not widen the range).
fn clause_range(c: &Clause, keypos: usize) -> Option<Option<KeyRange>> {
    let key = match &c.head {
        Pat::Tuple(ps, _) if ps.len() >= keypos => match &ps[keypos - 1] {
            Pat::Lit(l) => KeyPat::Lit(l),
            p => KeyPat::Pat(p),
        },
        Pat::Tuple(..) => return Some(None),
        Pat::Lit(l) => match element_range(l, keypos) {
            Some(r) => KeyPat::Lit(&l[r]),
            None => return Some(None),
        },
        _ => return None,
    };
    match key {
        KeyPat::Pat(Pat::Tuple(es, _)) => {
            let prefix = es
                .iter()
                .map_while(|p| match p {
                    Pat::Lit(l) => Some(l.clone()),
                    _ => None,
                })
                .collect();
            Some(Some(KeyRange {
                arity: es.len() as u32,
                prefix,
            }))
        }
        KeyPat::Lit(l) => {
            let Some((Head::Tuple(n), _)) = read_head(l, 0) else {
                return None;
            };
            let prefix = (1..=n as usize)
                .map(|i| element_range(l, i).map(|r| l[r].into()))
                .collect::<Option<Vec<Box<[u8]>>>>()?;
            Some(Some(KeyRange { arity: n, prefix }))
        }
        _ => None,
    }
}

enum KeyPat<'a> {
    Pat(&'a Pat),
    Lit(&'a [u8]),
}

/// The union of the clauses' ranges, when it is one range.
pub fn key_range(clauses: &[Clause], keypos: usize) -> Option<KeyRange> {
    let mut acc: Option<KeyRange> = None;
    for c in clauses {
        let Some(r) = clause_range(c, keypos)? else {
            continue;
        };
        acc = Some(match acc {
            None => r,
            Some(a) if a.arity != r.arity => return None,
            Some(mut a) => {
                let common = a
                    .prefix
                    .iter()
                    .zip(&r.prefix)
                    .take_while(|(x, y)| order::compare(x, y) == Ordering::Equal)
                    .count();
                a.prefix.truncate(common);
                a
            }
        });
    }
    acc
}
