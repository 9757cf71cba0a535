//! `update_counter` and `update_element` on an encoded object: pure functions from the old
//! tuple to the new one. The storage applies them under the key's lock, which makes each
//! call atomic and isolated.

use crate::error::{Cause, Error, Result};
use crate::term::int::Int;
use crate::term::{read_head, skip, Head, ObjBuilder, Writer};
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

/// Applies counter ops in order to the tuple `body`; returns the new tuple (in a writer
/// from [`ObjBuilder::writer`]) and each op's resulting value.
pub fn apply_counter(body: &[u8], keypos: usize, ops: &[CounterOp]) -> Result<(Writer, Vec<Int>)> {
    let elems = elements(body)?;
    let mut new: Vec<Option<Vec<u8>>> = vec![None; elems.len()];
    let mut results = Vec::with_capacity(ops.len());
    for op in ops {
        let i = check_pos(op.pos, elems.len(), keypos)?;
        let current = match &new[i] {
            Some(bytes) => Int::read(bytes, 0),
            None => Int::read(body, elems[i].start),
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
        let mut w = Writer::default();
        value.write(&mut w);
        new[i] = Some(w.buf);
        results.push(value);
    }
    Ok((rebuild(body, &elems, &new), results))
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

    #[test]
    fn counters_thresholds_and_errors() {
        let body = obj(&[1, 10, 20]);
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
        let (w, res) = apply_counter(&body, 1, &ops).unwrap();
        assert_eq!(res, vec![Int::Fix(15), Int::Fix(0), Int::Fix(-5)]);
        let o = ObjBuilder::finish(w, 1, None).unwrap();
        assert_eq!(o.body(), &obj(&[1, 0, -5])[..]);
        let bad_key = [CounterOp {
            pos: 1,
            incr: Int::Fix(1),
            threshold: None,
        }];
        assert_eq!(
            apply_counter(&body, 1, &bad_key).unwrap_err(),
            Cause::KeyPos.into()
        );
        let bad_pos = [CounterOp {
            pos: 4,
            incr: Int::Fix(1),
            threshold: None,
        }];
        assert!(apply_counter(&body, 1, &bad_pos).is_err());
    }

    #[test]
    fn elements_last_wins() {
        let body = obj(&[1, 2, 3]);
        let mut v = Writer::default();
        v.imm(raw_from_small(9));
        let mut v2 = Writer::default();
        v2.imm(raw_from_small(8));
        let w = apply_element(&body, 1, &[(2, v.buf), (2, v2.buf)]).unwrap();
        let o = ObjBuilder::finish(w, 1, None).unwrap();
        assert_eq!(o.body(), &obj(&[1, 8, 3])[..]);
    }
}
