//! Process watches: one VM monitor per process whose exit some table must hear about
//! (its owner, its heir, a `safe_fixtable` fixer), shared by all such tables.
//!
//! Tables used to monitor those processes from their own resources and demonitor them
//! on `delete/1`. A table resource is freed once nothing refers to it, which can be
//! before the watched process has handled the demonitor signal; the process's half of
//! the monitor then points into freed memory, and the VM aborts when that process exits
//! after `process_info(P, monitored_by)` read it (`ethr_mutex_lock` EINVAL, reproduced
//! by `test/reliability/monitored_by_test.exs`). Leaving the monitor in place crashes
//! too. So no table resource carries a monitor any more: a *watch* resource monitors the
//! process once, is never demonitored, and lives (held by [`WATCHES`]) until its monitor
//! fires; then every table subscribed to that process hears of the exit through
//! [`crate::resource::process_exited`]. A process that created and deleted a million
//! tables costs one watch, freed when it exits.

use rustler::sys::{self, c_void, ErlNifEnv, ErlNifMonitor, ErlNifPid, ErlNifResourceType};
use rustler::{Env, LocalPid};
use std::collections::HashMap;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::{LazyLock, Mutex};

use crate::convert;
use crate::handle::{alloc_resource, open_resource_type};

/// The watch resource type, set once in `load`.
static WATCH_TYPE: AtomicPtr<ErlNifResourceType> = AtomicPtr::new(std::ptr::null_mut());

/// What a watch resource holds: the watched process.
struct WatchRes {
    pid: u64,
}

/// One reference to a watch resource.
struct WatchRef(NonNull<WatchRes>);

// SAFETY: `WatchRes` is plain data; the VM's resource reference count is atomic.
unsafe impl Send for WatchRef {}

impl Drop for WatchRef {
    fn drop(&mut self) {
        // SAFETY: releases the reference this value owns.
        unsafe { sys::enif_release_resource(self.0.as_ptr() as *const c_void) };
    }
}

/// A watched process: its watch resource, and the tables subscribed to its exit (table
/// id → how many roles: owner, heir, fixer).
struct Watch {
    res: WatchRef,
    tables: HashMap<u64, u32>,
}

/// Every watch whose monitor has not fired yet, by pid word.
static WATCHES: LazyLock<Mutex<HashMap<u64, Watch>>> = LazyLock::new(Default::default);

fn watches() -> std::sync::MutexGuard<'static, HashMap<u64, Watch>> {
    WATCHES.lock().unwrap_or_else(|e| e.into_inner())
}

/// Subscribes table `table_id` to the exit of `pid`. `false` when `pid` is not alive
/// (it cannot be monitored): the caller handles its exit at once.
pub fn watch(env: Env, pid: &LocalPid, table_id: u64) -> bool {
    let word = convert::pid_word(pid);
    let mut map = watches();
    if let Some(w) = map.get_mut(&word) {
        *w.tables.entry(table_id).or_default() += 1;
        return true;
    }
    let Some(res) = new_watch(env, pid, word) else {
        return false;
    };
    let tables = HashMap::from([(table_id, 1)]);
    map.insert(word, Watch { res, tables });
    true
}

/// Ends one subscription of table `table_id` to `pid`'s exit (a no-op when there is
/// none). The watch itself stays until the process exits: it is never demonitored.
pub fn unwatch(pid: u64, table_id: u64) {
    let mut map = watches();
    if let Some(w) = map.get_mut(&pid) {
        if let Some(n) = w.tables.get_mut(&table_id) {
            *n -= 1;
            if *n == 0 {
                w.tables.remove(&table_id);
            }
        }
    }
}

/// A watch resource monitoring `pid`, or `None` if `pid` is not alive.
fn new_watch(env: Env, pid: &LocalPid, word: u64) -> Option<WatchRef> {
    // SAFETY: the watch type was registered in `load`; `WatchRes` needs no drop.
    let res = WatchRef(unsafe {
        alloc_resource(WATCH_TYPE.load(Ordering::Relaxed), WatchRes { pid: word })
    });
    // A thread the VM does not manage (the reaper, handling exits) passes no env.
    let env = match rustler::thread::is_scheduler_thread() {
        true => env.as_c_arg(),
        false => std::ptr::null_mut(),
    };
    let mut mon = std::mem::MaybeUninit::<ErlNifMonitor>::uninit();
    // SAFETY: `env` is the environment of the running NIF or callback (or null off the
    // VM's threads, as `erl_nif` asks); `res` is a live resource of a type with a `down`
    // callback; `mon` is only written.
    let r = unsafe {
        sys::enif_monitor_process(
            env,
            res.0.as_ptr() as *const c_void,
            pid.as_c_arg(),
            mon.as_mut_ptr(),
        )
    };
    (r == 0).then_some(res)
}

unsafe extern "C" fn dtor(_env: *mut ErlNifEnv, _obj: *mut c_void) {
    // `WatchRes` owns nothing that needs dropping.
}

unsafe extern "C" fn down(
    env: *mut ErlNifEnv,
    obj: *mut c_void,
    _pid: *const ErlNifPid,
    _mon: *const ErlNifMonitor,
) {
    let _ = std::panic::catch_unwind(|| {
        let lifetime = ();
        // SAFETY: `env` is the callback environment for this call; `obj` is a live
        // `WatchRes` (the map holds a reference until this callback removes it).
        let (env, pid) = unsafe { (Env::new(&lifetime, env), (*(obj as *const WatchRes)).pid) };
        let watch = {
            let mut map = watches();
            match map.get(&pid) {
                Some(w) if w.res.0.as_ptr() as *mut c_void == obj => map.remove(&pid),
                _ => None,
            }
        };
        let Some(watch) = watch else { return };
        let ids: Vec<u64> = watch.tables.keys().copied().collect();
        drop(watch); // releases the resource: the VM frees it after this callback
        let (now, later) = ids.split_at(ids.len().min(INLINE_EXITS));
        exited(env, pid, now);
        if !later.is_empty() {
            exits_off_scheduler(pid, later.to_vec());
        }
    });
}

/// Tells each table of `ids` that still exists that `pid` has exited.
fn exited(env: Env, pid: u64, ids: &[u64]) {
    for &table_id in ids {
        if let Some(h) = crate::resource::REGISTRY.get(table_id) {
            crate::resource::process_exited(env, &h, pid);
        }
    }
}

/// Tables of one exited process handled inside the `down` callback, which cannot yield;
/// the rest are handled on the reaper thread. A process owning 100,000 tables held a
/// scheduler for 954 ms in its exit when all were handled inline (`:ets`: 15 ms). Until
/// the reaper gets to a table, readers that look at it (`all/0`, `info/1,2`,
/// `whereis/1`, `new/2` of its name) settle it themselves (`resource::settle_owner`).
const INLINE_EXITS: usize = 64;

fn exits_off_scheduler(pid: u64, ids: Vec<u64>) {
    tsunami_core::reaper::run(move || {
        let mut owned = rustler::OwnedEnv::new();
        for chunk in ids.chunks(256) {
            owned.run(|env| exited(env, pid, chunk));
            owned.clear();
        }
    });
}

/// Registers the watch resource type; called from `load`.
pub fn init(env: Env) -> bool {
    let ty = open_resource_type(env, c"tsunami_watch", dtor, Some(down));
    WATCH_TYPE.store(ty, Ordering::Relaxed);
    !ty.is_null()
}
