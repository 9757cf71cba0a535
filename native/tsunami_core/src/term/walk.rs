//! Reading the encoding: one term's head at a time, skipping, tuple elements.
//!
//! Every reader validates bounds: a malformed buffer gives `None`, never a panic or an
//! out-of-bounds read (the NIF only ever reads buffers the core wrote, but the fuzz tests
//! feed garbage).

use super::tag;

/// The head of one encoded term, with borrowed payload where there is one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Head<'a> {
    /// A raw immediate word. An `ATOM` term (word plus name) also reads as `Imm`: its
    /// name only matters to term order, which reads it with [`read_atom`].
    Imm(u64),
    Float(f64),
    Int64(i64),
    UInt64(u64),
    /// Arity; the elements follow.
    Tuple(u32),
    /// Number of elements; they follow, then the tail.
    List(u32),
    Bin(&'a [u8]),
    /// Number of pairs; key, value, key, value... follow.
    Map(u32),
    Ext(&'a [u8]),
}

#[inline]
fn u32_at(b: &[u8], pos: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(pos..pos + 4)?.try_into().ok()?))
}

#[inline]
fn u64_at(b: &[u8], pos: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(pos..pos + 8)?.try_into().ok()?))
}

/// Reads the head of the term at `pos`; returns it and the position of what follows the
/// head (the first element for containers, the next term otherwise).
#[inline]
pub fn read_head(b: &[u8], pos: usize) -> Option<(Head<'_>, usize)> {
    let t = *b.get(pos)?;
    let p = pos + 1;
    Some(match t {
        tag::IMM => (Head::Imm(u64_at(b, p)?), p + 8),
        tag::ATOM => {
            let (raw, _, next) = read_atom(b, pos)?;
            (Head::Imm(raw), next)
        }
        tag::FLOAT => (Head::Float(f64::from_bits(u64_at(b, p)?)), p + 8),
        tag::INT64 => (Head::Int64(u64_at(b, p)? as i64), p + 8),
        tag::UINT64 => (Head::UInt64(u64_at(b, p)?), p + 8),
        tag::TUPLE => (Head::Tuple(u32_at(b, p)?), p + 4),
        tag::LIST => (Head::List(u32_at(b, p)?), p + 4),
        tag::MAP => (Head::Map(u32_at(b, p)?), p + 4),
        tag::BIN | tag::EXT => {
            let n = u32_at(b, p)? as usize;
            let body = b.get(p + 4..(p + 4).checked_add(n)?)?;
            let head = if t == tag::BIN {
                Head::Bin(body)
            } else {
                Head::Ext(body)
            };
            (head, p + 4 + n)
        }
        _ => return None,
    })
}

/// The `ATOM` term at `pos`: its raw word, its name, and the position after it. `None`
/// when the term there is not an `ATOM`.
#[inline]
pub fn read_atom(b: &[u8], pos: usize) -> Option<(u64, &[u8], usize)> {
    if *b.get(pos)? != tag::ATOM {
        return None;
    }
    let raw = u64_at(b, pos + 1)?;
    let n = u16::from_le_bytes(b.get(pos + 9..pos + 11)?.try_into().ok()?) as usize;
    let name = b.get(pos + 11..(pos + 11).checked_add(n)?)?;
    Some((raw, name, pos + 11 + n))
}

/// Position just past the term that starts at `pos`.
#[inline]
pub fn skip(b: &[u8], pos: usize) -> Option<usize> {
    // Scalars (most tuple elements) without the loop.
    match *b.get(pos)? {
        tag::IMM | tag::FLOAT | tag::INT64 | tag::UINT64 => {
            let end = pos + 9;
            (end <= b.len()).then_some(end)
        }
        tag::BIN => {
            let end = (pos + 5).checked_add(u32_at(b, pos + 1)? as usize)?;
            (end <= b.len()).then_some(end)
        }
        _ => skip_nested(b, pos),
    }
}

fn skip_nested(b: &[u8], pos: usize) -> Option<usize> {
    // Iterative: `pending` counts terms still to skip, so deep nesting cannot overflow the
    // stack.
    let mut pending: u64 = 1;
    let mut p = pos;
    while pending > 0 {
        pending -= 1;
        let (head, next) = read_head(b, p)?;
        p = next;
        match head {
            Head::Tuple(n) => pending += n as u64,
            Head::List(n) => pending += n as u64 + 1,
            Head::Map(n) => pending += 2 * n as u64,
            _ => {}
        }
    }
    Some(p)
}

/// Arity of the tuple at the start of `b`, or `None` if `b` is not a tuple.
#[inline]
pub fn tuple_arity(b: &[u8]) -> Option<u32> {
    match read_head(b, 0)? {
        (Head::Tuple(n), _) => Some(n),
        _ => None,
    }
}

/// Byte range of element `index` (1-based, as in `element/2`) of the tuple at the start of
/// `b`, or `None` if `b` is not a tuple or is too small.
pub fn element_range(b: &[u8], index: usize) -> Option<std::ops::Range<usize>> {
    let (head, mut p) = read_head(b, 0)?;
    let Head::Tuple(arity) = head else {
        return None;
    };
    if index == 0 || index > arity as usize {
        return None;
    }
    for _ in 1..index {
        p = skip(b, p)?;
    }
    let end = skip(b, p)?;
    Some(p..end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::term::Writer;

    #[test]
    fn elements_and_skip() {
        let mut w = Writer::default();
        w.tuple(3);
        w.imm(0x1f);
        w.list(2);
        w.float(1.5);
        w.binary(b"abc").unwrap();
        w.imm(0x3b);
        w.map(vec![(
            vec![tag::IMM, 1, 0, 0, 0, 0, 0, 0, 0],
            vec![tag::BIN, 0, 0, 0, 0],
        )])
        .unwrap();
        let b = &w.buf;
        assert_eq!(tuple_arity(b), Some(3));
        assert_eq!(skip(b, 0), Some(b.len()));
        let r1 = element_range(b, 1).unwrap();
        assert_eq!(read_head(b, r1.start).unwrap().0, Head::Imm(0x1f));
        let r2 = element_range(b, 2).unwrap();
        assert_eq!(read_head(b, r2.start).unwrap().0, Head::List(2));
        let r3 = element_range(b, 3).unwrap();
        assert_eq!(r3.end, b.len());
        assert!(element_range(b, 4).is_none());
        assert!(element_range(b, 0).is_none());
    }

    #[test]
    fn atoms_read_as_their_word_and_skip_their_name() {
        let mut w = Writer::default();
        w.tuple(2);
        w.atom(0x0012_340b, "héllo".as_bytes());
        w.imm(0x1f);
        let b = &w.buf;
        assert_eq!(skip(b, 0), Some(b.len()));
        let r1 = element_range(b, 1).unwrap();
        assert_eq!(read_head(b, r1.start).unwrap().0, Head::Imm(0x0012_340b));
        let (raw, name, next) = read_atom(b, r1.start).unwrap();
        assert_eq!((raw, name, next), (0x0012_340b, "héllo".as_bytes(), r1.end));
        assert_eq!(
            read_head(b, element_range(b, 2).unwrap().start).unwrap().0,
            Head::Imm(0x1f)
        );
        assert!(read_atom(b, 0).is_none());
        assert!(
            read_atom(&b[..r1.start + 12], r1.start).is_none(),
            "truncated name"
        );
    }

    #[test]
    fn garbage_never_panics() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for len in 0..64 {
            for _ in 0..200 {
                let bytes: Vec<u8> = (0..len)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        (x % 12) as u8
                    })
                    .collect();
                let _ = skip(&bytes, 0);
                let _ = element_range(&bytes, 2);
            }
        }
    }
}
