//! A stored object: its encoding plus a cached key hash and the key's place.

use super::{hash_key, Writer};

/// Keeps VM-refcounted terms (magic references, funs) alive while an object holds them.
/// Supplied by the NIF crate; the core only drops it, from whatever thread frees the object.
pub type Pin = Box<dyn std::any::Any + Send + Sync>;

const HEADER: usize = 16; // hash u64, key offset u32, key length u32

/// One stored object (a tuple), immutable once built.
///
/// `bytes` holds a 16-byte header (key hash, key offset, key length) and then the tuple's
/// encoding; one allocation per object.
pub struct Obj {
    bytes: Box<[u8]>,
    pin: Option<Box<Pin>>,
}

impl std::fmt::Debug for Obj {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Obj")
            .field("hash", &self.hash())
            .field("body", &self.body())
            .finish()
    }
}

impl Obj {
    #[inline]
    pub fn hash(&self) -> u64 {
        u64::from_le_bytes(self.bytes[0..8].try_into().unwrap())
    }
    #[inline]
    fn key_range(&self) -> std::ops::Range<usize> {
        let off = u32::from_le_bytes(self.bytes[8..12].try_into().unwrap()) as usize;
        let len = u32::from_le_bytes(self.bytes[12..16].try_into().unwrap()) as usize;
        HEADER + off..HEADER + off + len
    }
    /// The encoded key (element `keypos` of the tuple).
    #[inline]
    pub fn key(&self) -> &[u8] {
        &self.bytes[self.key_range()]
    }
    /// The encoded tuple.
    #[inline]
    pub fn body(&self) -> &[u8] {
        &self.bytes[HEADER..]
    }
    /// Whether this object holds VM-refcounted terms.
    pub fn is_pinned(&self) -> bool {
        self.pin.is_some()
    }
    /// Bytes this object occupies on the heap (allocator rounding not counted).
    pub fn heap_bytes(&self) -> usize {
        self.bytes.len() + if self.pin.is_some() { 64 } else { 0 }
    }
    /// True when `key` (an encoding, with its hash) is this object's key.
    #[inline]
    pub fn has_key(&self, hash: u64, key: &[u8]) -> bool {
        self.hash() == hash && self.key() == key
    }
    /// Replaces the tuple by a new encoding (a writer from [`ObjBuilder::writer`]) with
    /// the key at the same place, keeping the keep-alive (`update_counter`,
    /// `update_element`). `None`, and no change, when the new body is malformed.
    pub fn replace_body(&mut self, keypos: usize, w: Writer) -> Option<()> {
        let fresh = ObjBuilder::finish(w, keypos, None)?;
        self.bytes = fresh.bytes;
        Some(())
    }
    /// Adds a keep-alive (for VM-refcounted terms written into the object later).
    pub fn add_pin(&mut self, p: Pin) {
        self.pin = Some(Box::new(match self.pin.take() {
            None => p,
            Some(old) => Box::new((old, p)) as Pin,
        }));
    }
}

/// Builds an [`Obj`]: [`ObjBuilder::writer`] reserves the header, the NIF encoder writes
/// the tuple after it, [`ObjBuilder::finish`] fills the header in place (no copy).
pub struct ObjBuilder;

impl ObjBuilder {
    /// A writer with room for the header; write exactly one tuple into it.
    pub fn writer(capacity: usize) -> Writer {
        let mut w = Writer::with_capacity(HEADER + capacity);
        w.buf.resize(HEADER, 0);
        w
    }
    /// Completes an object from a writer made by [`ObjBuilder::writer`]. `None` when what
    /// was written is not a tuple of at least `keypos` elements.
    pub fn finish(mut w: Writer, keypos: usize, pin: Option<Pin>) -> Option<Obj> {
        let body = w.buf.get(HEADER..)?;
        let key = super::element_range(body, keypos)?;
        let hash = hash_key(&body[key.clone()]);
        w.buf[0..8].copy_from_slice(&hash.to_le_bytes());
        w.buf[8..12].copy_from_slice(&(key.start as u32).to_le_bytes());
        w.buf[12..16].copy_from_slice(&(key.len() as u32).to_le_bytes());
        Some(Obj {
            bytes: w.buf.into_boxed_slice(),
            pin: pin.map(Box::new),
        })
    }
}
