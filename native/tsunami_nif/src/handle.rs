//! The table resource type, registered with the VM directly rather than through
//! rustler's `ResourceArc`: resolving a table id is on every call, and rustler looks its
//! resource types up in a hash map keyed by `TypeId` each time. Here the type pointer is
//! read from one static, and [`Handle::borrow`] is a single `enif_get_resource`.

use rustler::sys::{self, c_void, ErlNifEnv, ErlNifMonitor, ErlNifPid, ErlNifResourceType};
use rustler::{Encoder, Env, Term};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicPtr, Ordering};

use crate::resource::TableRes;

/// The resource type, set once in `load`.
static TABLE_TYPE: AtomicPtr<ErlNifResourceType> = AtomicPtr::new(std::ptr::null_mut());

#[inline]
fn table_type() -> *const ErlNifResourceType {
    // Relaxed: written once in `load`, before any NIF of this library can run.
    TABLE_TYPE.load(Ordering::Relaxed)
}

unsafe extern "C" fn dtor(_env: *mut ErlNifEnv, obj: *mut c_void) {
    // SAFETY: the VM calls this once, after the last reference is gone, on memory that
    // `Handle::new` initialised with a `TableRes`.
    let _ = std::panic::catch_unwind(|| unsafe { std::ptr::drop_in_place(obj as *mut TableRes) });
}

/// Registers the table resource type; called from `load`.
pub fn init(env: Env) -> bool {
    // No monitors on tables: processes are watched through `crate::watch`.
    let ty = open_resource_type(env, c"tsunami_table", dtor, None);
    TABLE_TYPE.store(ty, Ordering::Relaxed);
    !ty.is_null()
}

/// Registers a resource type of this library with the VM (from `load`); null on failure.
/// Shared by the table type here and the watch type of `crate::watch`.
pub(crate) fn open_resource_type(
    env: Env,
    name: &'static std::ffi::CStr,
    dtor: unsafe extern "C" fn(*mut ErlNifEnv, *mut c_void),
    down: Option<
        unsafe extern "C" fn(*mut ErlNifEnv, *mut c_void, *const ErlNifPid, *const ErlNifMonitor),
    >,
) -> *mut ErlNifResourceType {
    let init = sys::ErlNifResourceTypeInit {
        dtor: dtor as *const sys::ErlNifResourceDtor,
        stop: std::ptr::null(),
        down: down.map_or(std::ptr::null(), |d| d as *const sys::ErlNifResourceDown),
        members: 3,
        dyncall: std::ptr::null(),
    };
    let mut tried = sys::ErlNifResourceFlags::ERL_NIF_RT_CREATE;
    // SAFETY: called from `load` with its environment; `name` is NUL-terminated and
    // `init` outlives the call (the VM copies it).
    let ty = unsafe {
        sys::enif_open_resource_type_x(
            env.as_c_arg(),
            name.as_ptr(),
            &init,
            sys::ErlNifResourceFlags::ERL_NIF_RT_CREATE,
            &mut tried,
        )
    };
    ty as *mut _
}

/// Allocates a resource of type `ty` holding `value`, with one reference (the caller's).
///
/// # Safety
/// `ty` must be a resource type of this library whose destructor drops a `T` (or whose
/// `T` needs no drop).
pub(crate) unsafe fn alloc_resource<T>(ty: *const ErlNifResourceType, value: T) -> NonNull<T> {
    // SAFETY: the allocation is sized and (by the VM's guarantee of at least 8-byte
    // alignment, checked below) aligned for `T`, and is initialised before anything can
    // read it; `ty` is valid by the caller's contract.
    unsafe {
        let p = sys::enif_alloc_resource(ty, std::mem::size_of::<T>()) as *mut T;
        let p = NonNull::new(p).expect("enif_alloc_resource");
        assert_eq!(p.as_ptr() as usize % std::mem::align_of::<T>(), 0);
        p.as_ptr().write(value);
        p
    }
}

/// One counted reference to a table resource (like `Arc`).
pub struct Handle(NonNull<TableRes>);

// SAFETY: `TableRes` is `Send + Sync`, and the VM's resource reference count is atomic.
unsafe impl Send for Handle {}
// SAFETY: as above.
unsafe impl Sync for Handle {}

impl Handle {
    /// Allocates a resource holding `res`.
    pub fn new(res: TableRes) -> Handle {
        // SAFETY: the table type was registered in `load`; its destructor drops a
        // `TableRes`.
        Handle(unsafe { alloc_resource(table_type(), res) })
    }

    /// The table a term refers to, if it is a table resource; no reference count change.
    #[inline]
    pub fn borrow<'a>(term: Term<'a>) -> Option<&'a TableRes> {
        let mut obj: *const c_void = std::ptr::null();
        // SAFETY: `term` belongs to its env; on success `obj` points to a live
        // `TableRes` that the term keeps alive for the env's lifetime `'a`.
        unsafe {
            if sys::enif_get_resource(
                term.get_env().as_c_arg(),
                term.as_c_arg(),
                table_type(),
                &mut obj,
            ) == 0
            {
                return None;
            }
            Some(&*(obj as *const TableRes))
        }
    }

    /// A counted handle for a term that refers to a table.
    pub fn from_term(term: Term) -> Option<Handle> {
        let r = Self::borrow(term)?;
        // SAFETY: `r` is a live resource; keeping it adds the reference this handle owns.
        unsafe { sys::enif_keep_resource(r as *const TableRes as *const c_void) };
        Some(Handle(NonNull::from(r)))
    }

    /// The resource pointer, for `enif_monitor_process` and friends.
    pub fn as_ptr(&self) -> *mut c_void {
        self.0.as_ptr() as *mut c_void
    }
}

impl Handle {
    /// Another counted reference to the resource that `res` lives in.
    pub fn from_res(res: &TableRes) -> Handle {
        let p = NonNull::from(res);
        // SAFETY: every `TableRes` is created inside a resource by `Handle::new` and never
        // moved out of it; `res` is borrowed, so that resource is alive, and keeping it
        // adds the reference this handle will release.
        unsafe { sys::enif_keep_resource(p.as_ptr() as *const c_void) };
        Handle(p)
    }
}

impl Clone for Handle {
    fn clone(&self) -> Handle {
        // SAFETY: `self` holds a reference, so the resource is alive.
        unsafe { sys::enif_keep_resource(self.as_ptr()) };
        Handle(self.0)
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: releases the reference this handle owns.
        unsafe { sys::enif_release_resource(self.as_ptr()) };
    }
}

impl std::ops::Deref for Handle {
    type Target = TableRes;
    fn deref(&self) -> &TableRes {
        // SAFETY: the resource lives while this handle holds its reference.
        unsafe { self.0.as_ref() }
    }
}

impl Encoder for Handle {
    fn encode<'a>(&self, env: Env<'a>) -> Term<'a> {
        // SAFETY: the resource is alive; the term made keeps its own reference.
        unsafe { Term::new(env, sys::enif_make_resource(env.as_c_arg(), self.as_ptr())) }
    }
}
