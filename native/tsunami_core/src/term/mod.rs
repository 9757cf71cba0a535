//! Stored terms: Tsunami's own compact encoding of Erlang terms.
//!
//! An object is encoded once on insert into a byte string and decoded on every read. The
//! encoding is *canonical*: two terms that are `=:=` encode to the same bytes (maps are
//! written in sorted key order however they were built), so hash tables hash and compare
//! keys as plain bytes. The NIF crate writes and reads it through [`Writer`] and
//! [`read_head`]; nothing else in the core looks inside a term except to find a tuple
//! element ([`element_range`]) or an integer ([`int`]).
//!
//! ## Layout
//! Every term is one tag byte followed by its payload, all integers little-endian:
//!
//! | tag | payload | used for |
//! |---|---|---|
//! | `IMM`    | raw 64-bit term word | atoms, small integers, local pids and ports, `[]` |
//! | `FLOAT`  | f64 bits | floats |
//! | `INT64`  | i64 | integers outside the small range that fit an i64 |
//! | `UINT64` | u64 | integers that fit a u64 but not an i64 |
//! | `TUPLE`  | u32 arity, then the elements | tuples |
//! | `LIST`   | u32 n, n elements, then the tail term | proper and improper lists |
//! | `BIN`    | u32 length, bytes | byte-aligned binaries |
//! | `MAP`    | u32 n, n (key, value) pairs sorted by the key's encoding | maps |
//! | `EXT`    | u32 length, external term format | big integers, bitstrings, references, funs, remote pids and ports |
//! | `ATOM`   | raw 64-bit term word, u16 length, UTF-8 name | atoms inside `ordered_set` objects |
//!
//! Immediates are stored as their raw term word (ERTS 64-bit layout: primary tag `0b11`).
//! Atoms are never garbage collected and local pids/ports are node-local, so the word is
//! valid for the life of the VM. A small integer's word is `value << 4 | 0xF`; [`int`]
//! relies on that to do counter arithmetic without the VM.
//!
//! An atom's word says nothing about its place in term order, so `ordered_set` objects
//! write atoms as `ATOM`: the word (what the decoder uses; [`read_head`] gives it as
//! [`Head::Imm`] and steps over the name) followed by the atom's text, which [`order`]
//! compares. Hash tables keep the shorter `IMM` form.
//!
//! `EXT` terms that hold a reference count in the VM (magic references such as
//! `:atomics` refs and NIF resources, and funs that may capture them) are additionally kept
//! alive by a [`Pin`] owned by the object, supplied by the NIF crate.

pub mod int;
mod obj;
pub mod order;
mod walk;

pub use obj::{prefetch, Obj, ObjBuilder, Pin};
pub use walk::{element_range, read_atom, read_head, skip, tuple_arity, Head};

/// Tag bytes, see the module documentation.
pub mod tag {
    pub const IMM: u8 = 1;
    pub const FLOAT: u8 = 2;
    pub const INT64: u8 = 3;
    pub const UINT64: u8 = 4;
    pub const TUPLE: u8 = 5;
    pub const LIST: u8 = 6;
    pub const BIN: u8 = 7;
    pub const MAP: u8 = 8;
    pub const EXT: u8 = 9;
    pub const ATOM: u8 = 10;
}

/// Whether the running VM considers `-0.0 =:= 0.0` (OTP < 27). Set once by the NIF at
/// load; then keys and objects that differ only in the sign of a zero are the same.
static NEG_ZERO_IS_ZERO: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// Tells the core how the running VM compares `-0.0` and `0.0`.
pub fn set_neg_zero_is_zero(yes: bool) {
    // Relaxed: set once at load, before any table exists.
    NEG_ZERO_IS_ZERO.store(yes, std::sync::atomic::Ordering::Relaxed);
}

#[inline]
pub(crate) fn neg_zero_is_zero() -> bool {
    NEG_ZERO_IS_ZERO.load(std::sync::atomic::Ordering::Relaxed)
}

/// Whether two encodings denote `=:=` terms. Encodings are canonical, so this is byte
/// equality, except that (on OTP < 27) a float `-0.0` matches `0.0`: stored terms keep
/// the sign they were inserted with, and comparisons ignore it.
#[inline]
pub fn same(a: &[u8], b: &[u8]) -> bool {
    a == b || (neg_zero_is_zero() && a.len() == b.len() && same_but_zero_signs(a, b))
}

/// Walks two encodings in step: equal shapes and bytes, floats compared by value.
fn same_but_zero_signs(a: &[u8], b: &[u8]) -> bool {
    let (mut pa, mut pb) = (0, 0);
    while pa < a.len() {
        let (Some((ha, na)), Some((hb, nb))) = (read_head(a, pa), read_head(b, pb)) else {
            return false;
        };
        let equal = match (ha, hb) {
            (Head::Float(x), Head::Float(y)) => x == y,
            _ => a[pa..na] == b[pb..nb],
        };
        if !equal {
            return false;
        }
        (pa, pb) = (na, nb);
    }
    pb == b.len()
}

/// The key hash, with every `-0.0` hashed as `0.0` where the VM equates them.
pub fn hash_key_canonical(key: &[u8]) -> u64 {
    if !neg_zero_is_zero() {
        return hash_key(key);
    }
    let mut pos = 0;
    let mut copy: Option<Vec<u8>> = None;
    while let Some((head, next)) = read_head(key, pos) {
        if let Head::Float(f) = head {
            if f == 0.0 && f.is_sign_negative() {
                let c = copy.get_or_insert_with(|| key.to_vec());
                c[pos + 1..pos + 9].copy_from_slice(&0.0f64.to_bits().to_le_bytes());
            }
        }
        pos = next;
    }
    hash_key(copy.as_deref().unwrap_or(key))
}

/// Hashes an encoded key. Fixed seeds: the same key hashes the same in every table and
/// every run, which keeps bucket order (and so `first/next` order) reproducible.
#[inline]
pub fn hash_key(key: &[u8]) -> u64 {
    const SEEDS: (u64, u64, u64, u64) = (
        0x243f_6a88_85a3_08d3,
        0x1319_8a2e_0370_7344,
        0xa409_3822_299f_31d0,
        0x082e_fa98_ec4e_6c89,
    );
    ahash::RandomState::with_seeds(SEEDS.0, SEEDS.1, SEEDS.2, SEEDS.3).hash_one(key)
}

/// A length that does not fit the encoding's 32-bit length fields: a binary or an
/// external-format term of 4 GiB or more, or a list or map of 2^32 or more elements.
/// Refused (`system_limit`) rather than written truncated, which would make the reader
/// take the rest of the user's bytes for encoded terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLong;

impl From<TooLong> for crate::Error {
    fn from(_: TooLong) -> Self {
        crate::Error::SystemLimit
    }
}

/// `n` as a 32-bit length field, or [`TooLong`].
#[inline]
pub fn len32(n: usize) -> Result<u32, TooLong> {
    u32::try_from(n).map_err(|_| TooLong)
}

/// Appends the encoding of terms to a byte buffer. The only code that writes tags.
/// Length-prefixed terms (binaries, external format, maps) check their length with
/// [`len32`] and return [`TooLong`] instead of writing a length that would wrap;
/// tuple arities and list lengths are `u32` already, so their callers convert with
/// [`len32`].
#[derive(Debug, Default)]
pub struct Writer {
    pub buf: Vec<u8>,
}

impl Writer {
    pub fn with_capacity(n: usize) -> Self {
        Writer {
            buf: Vec::with_capacity(n),
        }
    }
    #[inline]
    pub fn imm(&mut self, raw: u64) {
        self.buf.push(tag::IMM);
        self.buf.extend_from_slice(&raw.to_le_bytes());
    }
    #[inline]
    pub fn float(&mut self, f: f64) {
        self.buf.push(tag::FLOAT);
        self.buf.extend_from_slice(&f.to_bits().to_le_bytes());
    }
    #[inline]
    pub fn int64(&mut self, v: i64) {
        self.buf.push(tag::INT64);
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    #[inline]
    pub fn uint64(&mut self, v: u64) {
        self.buf.push(tag::UINT64);
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    #[inline]
    pub fn tuple(&mut self, arity: u32) {
        self.buf.push(tag::TUPLE);
        self.buf.extend_from_slice(&arity.to_le_bytes());
    }
    /// Starts a list of `n` elements; the caller writes them, then the tail term.
    #[inline]
    pub fn list(&mut self, n: u32) {
        self.buf.push(tag::LIST);
        self.buf.extend_from_slice(&n.to_le_bytes());
    }
    /// A byte-aligned binary; [`TooLong`] (nothing written) from 4 GiB on.
    #[inline]
    pub fn binary(&mut self, bytes: &[u8]) -> Result<(), TooLong> {
        self.len_prefixed(tag::BIN, bytes)
    }
    /// Writes a map from already-encoded (key, value) pairs, sorting them so equal maps
    /// encode equal however they were built. [`TooLong`] (nothing written) from 2^32
    /// pairs on.
    pub fn map(&mut self, mut pairs: Vec<(Vec<u8>, Vec<u8>)>) -> Result<(), TooLong> {
        let n = len32(pairs.len())?;
        pairs.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        self.buf.push(tag::MAP);
        self.buf.extend_from_slice(&n.to_le_bytes());
        for (k, v) in pairs {
            self.buf.extend_from_slice(&k);
            self.buf.extend_from_slice(&v);
        }
        Ok(())
    }
    /// A term in the external term format (the bytes `term_to_binary` gives, version byte
    /// included); [`TooLong`] (nothing written) from 4 GiB on.
    #[inline]
    pub fn ext(&mut self, bytes: &[u8]) -> Result<(), TooLong> {
        self.len_prefixed(tag::EXT, bytes)
    }
    #[inline]
    fn len_prefixed(&mut self, t: u8, bytes: &[u8]) -> Result<(), TooLong> {
        let n = len32(bytes.len())?;
        self.buf.push(t);
        self.buf.extend_from_slice(&n.to_le_bytes());
        self.buf.extend_from_slice(bytes);
        Ok(())
    }
    /// An atom with its text, for `ordered_set` objects (term order needs the name; the
    /// raw word is what the decoder rebuilds the atom from).
    #[inline]
    pub fn atom(&mut self, raw: u64, name: &[u8]) {
        let len = u16::try_from(name.len()).expect("atom text under 64 KiB");
        self.buf.push(tag::ATOM);
        self.buf.extend_from_slice(&raw.to_le_bytes());
        self.buf.extend_from_slice(&len.to_le_bytes());
        self.buf.extend_from_slice(name);
    }
    /// Appends bytes that already hold one encoded term.
    #[inline]
    pub fn raw(&mut self, encoded: &[u8]) {
        self.buf.extend_from_slice(encoded);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_from_4_gib_on_are_refused() {
        assert_eq!(len32(0), Ok(0));
        assert_eq!(len32(u32::MAX as usize), Ok(u32::MAX));
        assert_eq!(len32(u32::MAX as usize + 1), Err(TooLong));
        assert_eq!(len32(usize::MAX), Err(TooLong));
        assert_eq!(crate::Error::from(TooLong), crate::Error::SystemLimit);
        // What the writer puts in front of a binary is that length, read back whole.
        let mut w = Writer::default();
        w.binary(b"abc").unwrap();
        w.ext(&[131, 106]).unwrap();
        assert_eq!(read_head(&w.buf, 0), Some((Head::Bin(b"abc"), 8)));
        assert_eq!(
            read_head(&w.buf, 8),
            Some((Head::Ext(&[131, 106]), w.buf.len()))
        );
    }
}
