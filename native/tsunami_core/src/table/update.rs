//! `update_counter` and `update_element` on an encoded object: pure functions from the old
//! tuple to the new one. The storage applies them under the key's lock, which makes each
//! call atomic and isolated.

use crate::error::{Cause, Error, Result};
use crate::term::int::Int;
use crate::term::{element_range, read_head, skip, tuple_arity, Head, Obj, ObjBuilder, Writer};
use std::ops::Range;

/// One `{Pos, Incr}` or `{Pos, Incr, Threshold, SetValue}`.
#[derive(Debug, Clone)]
pub struct CounterOp {
    pub pos: usize,
    pub incr: Int,
    pub threshold: Option<(Int, Int)>,
}

fn elements(body: &[u8]) -> Result<Vec<Range<usize>>> {
    let Some((Head::Tuple(n), mut p)) = read_head(body, 0) else {
        return Err(Cause::Type.into());
    };
    let mut out = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let end = skip(body, p).ok_or(Cause::Type)?;
        out.push(p..end);
        p = end;
    }
    Ok(out)
}

fn check_pos(pos: usize, arity: usize, keypos: usize) -> Result<usize> {
    if pos == keypos {
        return Err(Cause::KeyPos.into());
    }
    if pos < 1 || pos > arity {
        return Err(Cause::Position.into());
    }
    Ok(pos - 1)
}

fn rebuild(body: &[u8], elems: &[Range<usize>], new: &[Option<Vec<u8>>]) -> Writer {
    let mut w = ObjBuilder::writer(body.len() + 16);
    w.tuple(elems.len() as u32);
    for (range, repl) in elems.iter().zip(new) {
        match repl {
            Some(bytes) => w.raw(bytes),
            None => w.raw(&body[range.clone()]),
        }
    }
    w
}

/// A counter's new value, encoded.
struct Pending {
    range: Range<usize>,
    bytes: Writer,
}

/// Op lists up to this long find their elements by skipping from the tuple's start and
/// an earlier op on the same element by a backward search (no allocation: the common
/// one-op call); longer lists index the tuple's elements once, so a list of N ops on an
/// N-element object costs O(N), not O(N²), under the key's lock.
const INDEX_OPS_ABOVE: usize = 8;

/// Where the ops' elements are, and the latest pending value of each.
enum Elements {
    /// Few ops: ranges found by skipping; pending values searched backwards.
    Scan,
    /// Many ops: every element's range, and for each the index of its latest pending
    /// value.
    Indexed {
        ranges: Vec<Range<usize>>,
        latest: Vec<Option<usize>>,
    },
}

/// Applies counter ops in order to `obj` and returns each op's resulting value.
/// `then_badarg`: an op after these was malformed, so after checking these (whose errors
/// come first, as in `:ets`) fail with a plain badarg. On any error `obj` is unchanged.
///
/// When every new value encodes to the size of the old one (a small integer staying
/// small: nearly always) the bytes are overwritten in place; otherwise the object is
/// rebuilt. Linear in the object's size plus the number of ops.
pub fn apply_counter(
    obj: &mut Obj,
    keypos: usize,
    ops: &[CounterOp],
    then_badarg: bool,
) -> Result<Vec<Int>> {
    let body = obj.body();
    let arity = tuple_arity(body).ok_or(Cause::Type)? as usize;
    let mut index = if ops.len() > INDEX_OPS_ABOVE {
        let ranges = elements(body)?;
        let latest = vec![None; ranges.len()];
        Elements::Indexed { ranges, latest }
    } else {
        Elements::Scan
    };
    let mut pending: Vec<Pending> = Vec::with_capacity(ops.len());
    let mut results = Vec::with_capacity(ops.len());
    for op in ops {
        let i = check_pos(op.pos, arity, keypos)?;
        let (range, earlier) = match &index {
            Elements::Scan => {
                let range = element_range(body, op.pos).ok_or(Cause::Type)?;
                let earlier = pending.iter().rposition(|p| p.range == range);
                (range, earlier)
            }
            Elements::Indexed { ranges, latest } => (ranges[i].clone(), latest[i]),
        };
        let current = match earlier {
            Some(j) => Int::read(&pending[j].bytes.buf, 0),
            None => Int::read(body, range.start),
        }
        .ok_or(Cause::Type)?;
        let mut value = current.add(&op.incr);
        if let Some((threshold, set_value)) = &op.threshold {
            let crossed = if op.incr.is_negative() {
                value < *threshold
            } else {
                value > *threshold
            };
            if crossed {
                value = set_value.clone();
            }
        }
        let mut bytes = Writer::with_capacity(9);
        value.write(&mut bytes)?;
        if let Elements::Indexed { latest, .. } = &mut index {
            latest[i] = Some(pending.len());
        }
        pending.push(Pending { range, bytes });
        results.push(value);
    }
    if then_badarg {
        return Err(Cause::Type.into());
    }
    if pending.iter().all(|p| p.bytes.buf.len() == p.range.len()) {
        let body = obj.body_mut();
        for p in &pending {
            body[p.range.clone()].copy_from_slice(&p.bytes.buf);
        }
        return Ok(results);
    }
    let elems = match index {
        Elements::Indexed { ranges, .. } => ranges,
        Elements::Scan => elements(body)?,
    };
    let mut new: Vec<Option<Vec<u8>>> = vec![None; elems.len()];
    for p in pending {
        // Ranges are in tuple order: find the element by its start.
        let i = elems
            .binary_search_by_key(&p.range.start, |r| r.start)
            .map_err(|_| Cause::Type)?;
        new[i] = Some(p.bytes.buf);
    }
    let w = rebuild(body, &elems, &new);
    obj.replace_body(keypos, &w).ok_or(Cause::Type)?;
    Ok(results)
}

/// Applies `{Pos, Value}` replacements (values already encoded); the last one for a
/// position wins.
pub fn apply_element(body: &[u8], keypos: usize, ops: &[(usize, Vec<u8>)]) -> Result<Writer> {
    let elems = elements(body)?;
    let mut new: Vec<Option<Vec<u8>>> = vec![None; elems.len()];
    for (pos, value) in ops {
        // Out of range is a plain badarg here (`:ets` gives no cause for it).
        let i = check_pos(*pos, elems.len(), keypos).map_err(|e| match e {
            Error::BadArg(Cause::Position) => Cause::Type.into(),
            e => e,
        })?;
        new[i] = Some(value.clone());
    }
    Ok(rebuild(body, &elems, &new))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::term::int::raw_from_small;
    use crate::term::ObjBuilder;

    fn obj(vals: &[i64]) -> Vec<u8> {
        let mut w = Writer::default();
        w.tuple(vals.len() as u32);
        for v in vals {
            w.imm(raw_from_small(*v));
        }
        w.buf
    }

    fn stored(vals: &[i64]) -> Obj {
        let mut w = ObjBuilder::writer(64);
        w.raw(&obj(vals));
        ObjBuilder::finish(&w, 1, None).unwrap()
    }

    #[test]
    fn counters_thresholds_and_errors() {
        let mut o = stored(&[1, 10, 20]);
        let ops = [
            CounterOp {
                pos: 2,
                incr: Int::Fix(5),
                threshold: None,
            },
            CounterOp {
                pos: 2,
                incr: Int::Fix(5),
                threshold: Some((Int::Fix(18), Int::Fix(0))),
            },
            CounterOp {
                pos: 3,
                incr: Int::Fix(-30),
                threshold: Some((Int::Fix(-5), Int::Fix(-5))),
            },
        ];
        let res = apply_counter(&mut o, 1, &ops, false).unwrap();
        assert_eq!(res, vec![Int::Fix(15), Int::Fix(0), Int::Fix(-5)]);
        assert_eq!(o.body(), &obj(&[1, 0, -5])[..]);
        let bad_key = [CounterOp {
            pos: 1,
            incr: Int::Fix(1),
            threshold: None,
        }];
        assert_eq!(
            apply_counter(&mut o, 1, &bad_key, false).unwrap_err(),
            Cause::KeyPos.into()
        );
        let bad_pos = [CounterOp {
            pos: 4,
            incr: Int::Fix(1),
            threshold: None,
        }];
        assert!(apply_counter(&mut o, 1, &bad_pos, false).is_err());
        // A failing batch leaves the object as it was.
        let ok_then_bad = [CounterOp {
            pos: 2,
            incr: Int::Fix(1),
            threshold: None,
        }];
        assert!(apply_counter(&mut o, 1, &ok_then_bad, true).is_err());
        assert_eq!(o.body(), &obj(&[1, 0, -5])[..]);
    }

    #[test]
    fn counters_growing_past_small_rebuild_the_object() {
        let mut o = stored(&[7, crate::term::int::MAX_SMALL]);
        let ops = [CounterOp {
            pos: 2,
            incr: Int::Fix(1),
            threshold: None,
        }];
        let res = apply_counter(&mut o, 1, &ops, false).unwrap();
        assert_eq!(res, vec![Int::Fix(crate::term::int::MAX_SMALL as i128 + 1)]);
        assert_eq!(
            Int::read(o.body(), element_range(o.body(), 2).unwrap().start),
            Some(res[0].clone())
        );
        assert_eq!(o.key(), stored(&[7, 0]).key());
    }

    /// A long op list (indexed path) gives the same results as the same ops applied
    /// one at a time (scan path), repeated positions and a value outgrowing a small
    /// integer (the rebuild) included.
    #[test]
    fn long_op_lists_match_single_ops() {
        let n = 300;
        let mut vals: Vec<i64> = (0..n).collect();
        vals[5] = crate::term::int::MAX_SMALL;
        let mut ops = Vec::new();
        for round in 0..3 {
            for pos in 2..=n as usize {
                ops.push(CounterOp {
                    pos,
                    incr: Int::Fix((pos as i128) * (round + 1)),
                    threshold: (pos % 7 == 0).then_some((Int::Fix(500), Int::Fix(-1))),
                });
            }
        }
        let mut batch = stored(&vals);
        let got = apply_counter(&mut batch, 1, &ops, false).unwrap();
        let mut single = stored(&vals);
        let mut want = Vec::new();
        for op in &ops {
            want.extend(apply_counter(&mut single, 1, std::slice::from_ref(op), false).unwrap());
        }
        assert_eq!(got, want);
        assert_eq!(batch.body(), single.body());
    }

    /// An op for every element of a 100k-element object: the indexed path (a quadratic
    /// walk would skip ~5·10⁹ elements here and stall the test run).
    #[test]
    fn op_list_as_long_as_the_object() {
        let n = 100_000usize;
        let vals: Vec<i64> = (0..n as i64).collect();
        let ops: Vec<CounterOp> = (2..=n)
            .map(|pos| CounterOp {
                pos,
                incr: Int::Fix(1),
                threshold: None,
            })
            .collect();
        let mut o = stored(&vals);
        let got = apply_counter(&mut o, 1, &ops, false).unwrap();
        assert_eq!(got.len(), n - 1);
        assert_eq!(got[n - 2], Int::Fix(n as i128));
        assert_eq!(
            Int::read(o.body(), element_range(o.body(), n).unwrap().start),
            Some(Int::Fix(n as i128))
        );
    }

    #[test]
    fn elements_last_wins() {
        let body = obj(&[1, 2, 3]);
        let mut v = Writer::default();
        v.imm(raw_from_small(9));
        let mut v2 = Writer::default();
        v2.imm(raw_from_small(8));
        let w = apply_element(&body, 1, &[(2, v.buf), (2, v2.buf)]).unwrap();
        let o = ObjBuilder::finish(&w, 1, None).unwrap();
        assert_eq!(o.body(), &obj(&[1, 8, 3])[..]);
    }
}
