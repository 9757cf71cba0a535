//! Integers inside stored objects, for `update_counter`: read, add, compare, write back.
//!
//! Erlang integers are unbounded. Values that fit an `i128` (nearly all counters) take the
//! fast path; anything larger uses [`Big`], a minimal sign-magnitude integer that only
//! needs addition and comparison. Results are written in the canonical encoding: small
//! integers as immediates, then `INT64`, `UINT64`, and `EXT` big integers in the external
//! term format `term_to_binary` itself produces.

use super::{len32, read_head, Head, TooLong, Writer};
use std::cmp::Ordering;

/// Largest and smallest small (immediate) integer on a 64-bit VM.
pub const MAX_SMALL: i64 = (1 << 59) - 1;
pub const MIN_SMALL: i64 = -(1 << 59);

const SMALL_TAG_MASK: u64 = 0xF;
const SMALL_TAG: u64 = 0xF;

/// The integer in an immediate word, if it is a small integer.
#[inline]
pub fn small_from_raw(raw: u64) -> Option<i64> {
    (raw & SMALL_TAG_MASK == SMALL_TAG).then_some((raw as i64) >> 4)
}

/// The immediate word of a small integer (`MIN_SMALL..=MAX_SMALL`).
#[inline]
pub fn raw_from_small(v: i64) -> u64 {
    debug_assert!((MIN_SMALL..=MAX_SMALL).contains(&v));
    ((v << 4) as u64) | SMALL_TAG
}

/// An integer of any size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Int {
    Fix(i128),
    Big(Big),
}

/// Sign and magnitude, magnitude as little-endian bytes with no trailing zeros.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Big {
    pub neg: bool,
    pub mag: Vec<u8>,
}

impl Int {
    /// Reads the integer term at `pos`; `None` if it is not an integer.
    pub fn read(b: &[u8], pos: usize) -> Option<Int> {
        match read_head(b, pos)?.0 {
            Head::Imm(raw) => small_from_raw(raw).map(|v| Int::Fix(v as i128)),
            Head::Int64(v) => Some(Int::Fix(v as i128)),
            Head::UInt64(v) => Some(Int::Fix(v as i128)),
            Head::Ext(ext) => Big::from_ext(ext).map(Int::from_big),
            _ => None,
        }
    }

    fn from_big(b: Big) -> Int {
        if b.mag.len() <= 15 {
            let mut v: i128 = 0;
            for &byte in b.mag.iter().rev() {
                v = (v << 8) | byte as i128;
            }
            Int::Fix(if b.neg { -v } else { v })
        } else {
            Int::Big(b)
        }
    }

    fn to_big(&self) -> Big {
        match self {
            Int::Big(b) => b.clone(),
            Int::Fix(v) => {
                let mut m = v.unsigned_abs();
                let mut mag = Vec::new();
                while m > 0 {
                    mag.push(m as u8);
                    m >>= 8;
                }
                Big { neg: *v < 0, mag }
            }
        }
    }

    pub fn add(&self, other: &Int) -> Int {
        if let (Int::Fix(a), Int::Fix(b)) = (self, other) {
            if let Some(s) = a.checked_add(*b) {
                return Int::Fix(s);
            }
        }
        Int::from_big(self.to_big().add(&other.to_big()))
    }

    pub fn is_negative(&self) -> bool {
        match self {
            Int::Fix(v) => *v < 0,
            Int::Big(b) => b.neg,
        }
    }

    /// Writes the canonical encoding. [`TooLong`] only for a bignum whose external
    /// format reaches 4 GiB (never for an `i128`).
    pub fn write(&self, w: &mut Writer) -> Result<(), TooLong> {
        match *self {
            Int::Fix(v) if (MIN_SMALL as i128..=MAX_SMALL as i128).contains(&v) => {
                w.imm(raw_from_small(v as i64))
            }
            Int::Fix(v) if i64::try_from(v).is_ok() => w.int64(v as i64),
            Int::Fix(v) if u64::try_from(v).is_ok() => w.uint64(v as u64),
            _ => return w.ext(&self.to_big().to_ext()?),
        }
        Ok(())
    }
}

impl PartialOrd for Int {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Int {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Int::Fix(a), Int::Fix(b)) => a.cmp(b),
            _ => self.to_big().cmp_big(&other.to_big()),
        }
    }
}

impl Big {
    /// Parses `SMALL_BIG_EXT` / `LARGE_BIG_EXT` (with the leading version byte 131).
    pub fn from_ext(ext: &[u8]) -> Option<Big> {
        let (n, rest) = match ext {
            [131, 110, n, rest @ ..] => (*n as usize, rest),
            [131, 111, a, b, c, d, rest @ ..] => {
                (u32::from_be_bytes([*a, *b, *c, *d]) as usize, rest)
            }
            _ => return None,
        };
        let (&sign, digits) = rest.split_first()?;
        let mut mag = digits.get(..n)?.to_vec();
        while mag.last() == Some(&0) {
            mag.pop();
        }
        Some(Big {
            neg: sign != 0 && !mag.is_empty(),
            mag,
        })
    }

    /// The external term format of this integer, as `term_to_binary` writes it
    /// ([`TooLong`] from 2^32 magnitude bytes on: `LARGE_BIG_EXT` has a 32-bit count).
    pub fn to_ext(&self) -> Result<Vec<u8>, TooLong> {
        let n = self.mag.len();
        let mut out = Vec::with_capacity(n + 7);
        out.push(131);
        if n < 256 {
            out.push(110);
            out.push(n as u8);
        } else {
            out.push(111);
            out.extend_from_slice(&len32(n)?.to_be_bytes());
        }
        out.push(self.neg as u8);
        out.extend_from_slice(&self.mag);
        Ok(out)
    }

    fn cmp_mag(a: &[u8], b: &[u8]) -> Ordering {
        a.len()
            .cmp(&b.len())
            .then_with(|| a.iter().rev().cmp(b.iter().rev()))
    }

    fn cmp_big(&self, other: &Big) -> Ordering {
        match (self.neg, other.neg) {
            (false, true) => Ordering::Greater,
            (true, false) => Ordering::Less,
            (false, false) => Self::cmp_mag(&self.mag, &other.mag),
            (true, true) => Self::cmp_mag(&other.mag, &self.mag),
        }
    }

    fn add(&self, other: &Big) -> Big {
        if self.neg == other.neg {
            let mut mag = Vec::with_capacity(self.mag.len().max(other.mag.len()) + 1);
            let mut carry = 0u16;
            for i in 0..self.mag.len().max(other.mag.len()) {
                let s = *self.mag.get(i).unwrap_or(&0) as u16
                    + *other.mag.get(i).unwrap_or(&0) as u16
                    + carry;
                mag.push(s as u8);
                carry = s >> 8;
            }
            if carry > 0 {
                mag.push(carry as u8);
            }
            return Big { neg: self.neg, mag };
        }
        // Different signs: subtract the smaller magnitude from the larger.
        let (big, small, neg) = match Self::cmp_mag(&self.mag, &other.mag) {
            Ordering::Equal => {
                return Big {
                    neg: false,
                    mag: vec![],
                }
            }
            Ordering::Greater => (&self.mag, &other.mag, self.neg),
            Ordering::Less => (&other.mag, &self.mag, other.neg),
        };
        let mut mag = Vec::with_capacity(big.len());
        let mut borrow = 0i16;
        for (i, &digit) in big.iter().enumerate() {
            let mut d = digit as i16 - *small.get(i).unwrap_or(&0) as i16 - borrow;
            borrow = (d < 0) as i16;
            if d < 0 {
                d += 256;
            }
            mag.push(d as u8);
        }
        while mag.last() == Some(&0) {
            mag.pop();
        }
        Big { neg, mag }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(v: &Int) -> Int {
        let mut w = Writer::default();
        v.write(&mut w).unwrap();
        Int::read(&w.buf, 0).unwrap()
    }

    #[test]
    fn small_words() {
        for v in [0, 1, -1, MAX_SMALL, MIN_SMALL, 12345, -98765] {
            assert_eq!(small_from_raw(raw_from_small(v)), Some(v));
        }
        assert_eq!(small_from_raw(0x0b), None);
    }

    #[test]
    fn arithmetic_crosses_every_encoding() {
        let one = Int::Fix(1);
        let mut v = Int::Fix(MAX_SMALL as i128);
        v = v.add(&one);
        assert_eq!(roundtrip(&v), Int::Fix(MAX_SMALL as i128 + 1));
        let huge = Int::Fix(i128::MAX).add(&Int::Fix(i128::MAX));
        assert!(matches!(huge, Int::Big(_)));
        assert_eq!(roundtrip(&huge), huge);
        let back = huge.add(&Int::Fix(-i128::MAX)).add(&Int::Fix(-i128::MAX));
        assert_eq!(back, Int::Fix(0));
        assert!(Int::Fix(-5) < Int::Fix(3));
        assert!(huge > Int::Fix(i128::MAX));
        let neg_huge = Int::Fix(i128::MIN).add(&Int::Fix(-1));
        assert!(neg_huge < Int::Fix(i128::MIN));
        assert!(neg_huge.is_negative());
    }

    #[test]
    fn ext_matches_term_to_binary() {
        // term_to_binary(1 bsl 64) = <<131,110,9,0,0,0,0,0,0,0,0,0,1>>
        let b = Big::from_ext(&[131, 110, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]).unwrap();
        assert_eq!(Int::from_big(b.clone()), Int::Fix(1i128 << 64));
        assert_eq!(
            b.to_ext().unwrap(),
            vec![131, 110, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]
        );
    }
}
