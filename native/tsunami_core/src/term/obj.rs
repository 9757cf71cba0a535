//! A stored object: one allocation holding a small header and the tuple's encoding.
//!
//! ```text
//! ┌──────────┬──────┬─────┬─────┬─────────┬─────────┬───────────────────────┐
//! │ next     │ hash │ pin │ len │ key_off │ key_len │ encoded tuple (len B) │
//! └──────────┴──────┴─────┴─────┴─────────┴─────────┴───────────────────────┘
//! ```
//!
//! `next` is a link a backend may use to chain objects (the hash backend's buckets), so a
//! hash lookup touches the bucket slot and then only the objects themselves: the same two
//! cache misses as ETS, where a separate node would cost a third. The key hash sits in the
//! header, so walking past a non-matching object reads one cache line.

use super::{hash_key_canonical, Writer};
use std::alloc::{alloc, dealloc, Layout};
use std::ptr::NonNull;

/// Keeps VM-refcounted terms (magic references, funs) alive while an object holds them.
/// Supplied by the NIF crate; the core only drops it, from whatever thread frees the object.
pub type Pin = Box<dyn std::any::Any + Send + Sync>;

#[repr(C)]
struct Header {
    next: Option<Obj>,
    hash: u64,
    pin: Option<Box<Pin>>,
    len: u32,
    key_off: u32,
    key_len: u32,
    /// Non-zero for a tombstone: the fixation period it was made in (see
    /// [`Obj::tombstone`]); fits the header's padding.
    dead: u32,
}

const HEADER: usize = std::mem::size_of::<Header>();

fn layout(len: usize) -> Layout {
    Layout::from_size_align(HEADER + len, std::mem::align_of::<Header>()).expect("object size")
}

/// Hints the CPU to load the cache line holding `p` (see [`Obj::prefetch`]). Any address
/// will do: a prefetch never faults and never changes what the program computes.
#[inline]
pub fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `prefetcht0` is a hint: it reads nothing the program can observe and does
    // not fault on any address; SSE is part of the x86_64 baseline.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p as *const i8);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// One stored object (a tuple). Owns its allocation; the body is immutable.
pub struct Obj {
    ptr: NonNull<Header>,
}

// SAFETY: an `Obj` owns its allocation exclusively; the body is never mutated through a
// shared reference, and the `Pin` inside is itself `Send + Sync`.
unsafe impl Send for Obj {}
// SAFETY: as above: `&Obj` only allows reads.
unsafe impl Sync for Obj {}

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
    fn header(&self) -> &Header {
        // SAFETY: `ptr` points to a live, initialised header for as long as `self` lives.
        unsafe { self.ptr.as_ref() }
    }

    #[inline]
    fn header_mut(&mut self) -> &mut Header {
        // SAFETY: as in `header`, and `&mut self` makes the access exclusive.
        unsafe { self.ptr.as_mut() }
    }

    /// Allocates an object from a tuple encoding with the key at `key` inside it.
    fn alloc(body: &[u8], key: std::ops::Range<usize>, hash: u64, pin: Option<Box<Pin>>) -> Obj {
        let len = u32::try_from(body.len()).expect("object under 4 GiB");
        let layout = layout(body.len());
        // SAFETY: `layout` has a non-zero size (the header).
        let raw = unsafe { alloc(layout) } as *mut Header;
        let Some(ptr) = NonNull::new(raw) else {
            std::alloc::handle_alloc_error(layout);
        };
        // SAFETY: `raw` is a fresh allocation of `HEADER + len` bytes aligned for `Header`:
        // the header is written in place, then the body right after it.
        unsafe {
            raw.write(Header {
                next: None,
                hash,
                pin,
                len,
                key_off: key.start as u32,
                key_len: key.len() as u32,
                dead: 0,
            });
            std::ptr::copy_nonoverlapping(body.as_ptr(), (raw as *mut u8).add(HEADER), body.len());
        }
        Obj { ptr }
    }

    #[inline]
    pub fn hash(&self) -> u64 {
        self.header().hash
    }

    /// Starts loading this object into the cache (its header and the start of its body)
    /// without waiting for it: walks call it on objects a few steps ahead, so that their
    /// cache misses overlap instead of coming one after the other. Only a hint.
    #[inline]
    pub fn prefetch(&self) {
        let p = self.ptr.as_ptr() as *const u8;
        prefetch(p);
        prefetch(p.wrapping_add(64));
    }

    /// The encoded tuple.
    #[inline]
    pub fn body(&self) -> &[u8] {
        let len = self.header().len as usize;
        // SAFETY: the allocation holds `len` initialised body bytes right after the header,
        // immutable while `self` is borrowed.
        unsafe { std::slice::from_raw_parts((self.ptr.as_ptr() as *const u8).add(HEADER), len) }
    }

    /// The encoded key (element `keypos` of the tuple).
    #[inline]
    pub fn key(&self) -> &[u8] {
        let h = self.header();
        &self.body()[h.key_off as usize..(h.key_off + h.key_len) as usize]
    }

    /// True when `key` (an encoding, with its hash) is this object's key.
    #[inline]
    pub fn has_key(&self, hash: u64, key: &[u8]) -> bool {
        self.hash() == hash && super::same(self.key(), key)
    }

    /// A tombstone: a placeholder for a deleted key that keeps the key's place in a hash
    /// chain while the table is fixed. Its body is just the key's encoding; it is never
    /// decoded, only compared. `period` (non-zero) is the fixation it was made under: the
    /// key keeps its place for `next/2` during that fixation only.
    pub fn tombstone(hash: u64, key: &[u8], period: u32) -> Obj {
        assert_ne!(period, 0, "a fixation period is never 0");
        let mut o = Obj::alloc(key, 0..key.len(), hash, None);
        o.header_mut().dead = period;
        o
    }

    /// The fixation period a tombstone was made in (0 for a stored object).
    #[inline]
    pub fn dead_period(&self) -> u32 {
        self.header().dead
    }

    /// Whether this is a tombstone rather than a stored object.
    #[inline]
    pub fn is_dead(&self) -> bool {
        self.header().dead != 0
    }

    /// Whether this object holds VM-refcounted terms.
    pub fn is_pinned(&self) -> bool {
        self.header().pin.is_some()
    }

    /// Bytes this object occupies on the heap, as the allocator sees it: glibc malloc adds
    /// an 8-byte chunk header and rounds to 16 bytes. A pin counts as a small
    /// environment (an estimate: its size is the VM's business).
    pub fn heap_bytes(&self) -> usize {
        let chunk = (HEADER + self.header().len as usize + 8 + 15) & !15;
        chunk + if self.is_pinned() { 256 } else { 0 }
    }

    /// The next object in the backend's chain.
    #[inline]
    pub fn next(&self) -> &Option<Obj> {
        &self.header().next
    }

    /// The chain link, for the backend that owns this object.
    #[inline]
    pub fn next_mut(&mut self) -> &mut Option<Obj> {
        &mut self.header_mut().next
    }

    /// Replaces the tuple by a new encoding (a writer from [`ObjBuilder::writer`]) with
    /// the key at the same place, keeping the chain link and the keep-alive
    /// (`update_counter`, `update_element`). `None`, and no change, when the new body is
    /// malformed.
    pub fn replace_body(&mut self, keypos: usize, w: &Writer) -> Option<()> {
        let mut fresh = ObjBuilder::finish(w, keypos, None)?;
        let (next, pin) = {
            let h = self.header_mut();
            (h.next.take(), h.pin.take())
        };
        let fh = fresh.header_mut();
        fh.next = next;
        fh.pin = pin;
        *self = fresh; // the old allocation, now unlinked, is freed here
        Some(())
    }

    /// The body, writable in place, for updates that keep every byte of the key and the
    /// body's length (an integer counter replaced by one of the same encoded size).
    pub(crate) fn body_mut(&mut self) -> &mut [u8] {
        let len = self.header().len as usize;
        // SAFETY: as in `body`; `&mut self` makes the access exclusive.
        unsafe { std::slice::from_raw_parts_mut((self.ptr.as_ptr() as *mut u8).add(HEADER), len) }
    }

    /// Replaces the keep-alive (for an object whose body was rewritten: the new pin must
    /// keep alive exactly what the new body refers to). The old one is released here, so
    /// repeated updates never stack keep-alives inside each other.
    pub fn set_pin(&mut self, p: Option<Pin>) {
        self.header_mut().pin = p.map(Box::new);
    }
}

impl Drop for Obj {
    fn drop(&mut self) {
        // Free the rest of the chain iteratively: a long bag chain must not recurse once
        // per object.
        let mut next = self.next_mut().take();
        while let Some(mut o) = next {
            next = o.next_mut().take();
        }
        let len = self.header().len as usize;
        // SAFETY: the header was initialised in `alloc` and is dropped exactly once here
        // (its `next` is already `None`); then the allocation is freed with the layout it
        // was allocated with.
        unsafe {
            std::ptr::drop_in_place(self.ptr.as_ptr());
            dealloc(self.ptr.as_ptr() as *mut u8, layout(len));
        }
    }
}

/// Builds an [`Obj`]: [`ObjBuilder::writer`] gives a writer, the NIF encoder writes the
/// tuple into it, [`ObjBuilder::finish`] locates the key, hashes it and allocates.
pub struct ObjBuilder;

impl ObjBuilder {
    /// A writer for one tuple.
    pub fn writer(capacity: usize) -> Writer {
        Writer::with_capacity(capacity)
    }

    /// Completes an object from a writer holding one tuple. `None` when what was written
    /// is not a tuple of at least `keypos` elements.
    pub fn finish(w: &Writer, keypos: usize, pin: Option<Pin>) -> Option<Obj> {
        let key = super::element_range(&w.buf, keypos)?;
        let hash = hash_key_canonical(&w.buf[key.clone()]);
        Some(Obj::alloc(&w.buf, key, hash, pin.map(Box::new)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::term::int::raw_from_small;

    fn obj(k: i64) -> Obj {
        let mut w = ObjBuilder::writer(32);
        w.tuple(2);
        w.imm(raw_from_small(k));
        w.binary(b"payload").unwrap();
        ObjBuilder::finish(&w, 1, None).unwrap()
    }

    #[test]
    fn header_body_key_and_long_chains() {
        let o = obj(7);
        assert_eq!(crate::term::tuple_arity(o.body()), Some(2));
        assert_eq!(o.key().len(), 9);
        assert_eq!(o.hash(), crate::term::hash_key(o.key()));
        // A chain of a million objects drops without recursion.
        let mut head = obj(0);
        for k in 1..1_000_000 {
            let mut o = obj(k);
            *o.next_mut() = Some(head);
            head = o;
        }
        drop(head);
    }

    #[test]
    fn replace_body_keeps_link_and_key() {
        let mut a = obj(1);
        *a.next_mut() = Some(obj(2));
        let mut w = ObjBuilder::writer(32);
        w.tuple(2);
        w.imm(raw_from_small(1));
        w.binary(b"other").unwrap();
        a.replace_body(1, &w).unwrap();
        assert!(a.next().is_some());
        assert_eq!(a.key(), obj(1).key());
        assert!(a.body().ends_with(b"other"));
    }
}
