//! The table handle (a NIF resource, which the BEAM shows as a reference), the global
//! registry of tables, owner monitoring, and traversal cursors.
//!
//! Every live table is held by the registry (one `ResourceArc` per table), so it lives
//! until it is deleted even when no process holds its id. A table id term is the resource
//! itself: resolving it is `enif_get_resource`, no lock and no refcount change.
//!
//! The owner, the heir and every fixer are watched through [`crate::watch`] (one VM
//! monitor per process, never on the table resource itself); when the owner exits, the
//! table goes to its heir or is deleted.

use crate::convert;
use crate::error::{NifResult, OrRaise};
pub use crate::handle::Handle;
use crate::watch::{unwatch, watch};
use rustler::{Env, LocalPid, Resource, Term};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex};
use tsunami_core::backend::Resume;
use tsunami_core::registry::Registry;
use tsunami_core::table::{Heir, Table};
use tsunami_core::Cause;

pub struct TableRes {
    pub table: Table,
    /// The owner whose exit this table is subscribed to (see [`crate::watch`]).
    watched_owner: Mutex<Option<u64>>,
    /// `safe_fixtable/2` fixations: per process (each watched), a count; and when the
    /// table was first fixed (monotonic ns).
    pub fixations: Mutex<Fixations>,
    /// The watched heir, and whether it has died: a dead heir never inherits, even if the
    /// VM later hands its pid to another process.
    heir_watch: Mutex<Option<HeirWatch>>,
    /// Serializes the hand-over after the owner's death, which the owner's monitor and
    /// [`settle_owner`] may both start.
    succession: Mutex<()>,
}

struct HeirWatch {
    pid: u64,
    dead: bool,
}

#[derive(Default)]
pub struct Fixations {
    pub by_pid: Vec<(u64, usize)>,
    pub since_ns: i64,
}

pub static REGISTRY: LazyLock<Registry<Handle>> = LazyLock::new(Registry::new);
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A traversal in progress (the cursor of a `select/3` continuation or of a chunked
/// whole-table walk). It holds no fixation: its position keeps its meaning however the
/// table changes (see `tsunami_core::backend::hash`), so a continuation kept for any time
/// never stops a table from resizing, and never keeps deleted objects alive.
pub struct Cursor {
    pub handle: Handle,
    /// Where the walk resumes; `None` once it has ended.
    pub pos: Mutex<Option<Resume>>,
}

#[rustler::resource_impl]
impl Resource for Cursor {}

impl Cursor {
    pub fn new(handle: Handle) -> Cursor {
        let start = handle.table.storage_unchecked().begin_traversal();
        Cursor {
            handle,
            pos: Mutex::new(Some(start)),
        }
    }

    /// A cursor for a backward walk ([`tsunami_core::backend::Storage::visit_rev`]).
    pub fn new_rev(handle: Handle) -> Cursor {
        let start = handle.table.storage_unchecked().begin_traversal_rev();
        Cursor {
            handle,
            pos: Mutex::new(Some(start)),
        }
    }
}

/// Releases one `safe_fixtable` fixation of the table. The last one's sweep (tombstones
/// and ghosts the fixation kept: up to the whole table) runs on the reaper thread,
/// holding the table until it is done, so no unfixing call (`safe_fixtable/2`, a fixer's
/// exit) holds a scheduler for it.
pub fn unfix_table(res: &TableRes) {
    if res.table.storage_unchecked().unfix_deferred() {
        let handle = Handle::from_res(res);
        tsunami_core::reaper::run(move || handle.table.storage_unchecked().sweep_kept());
    }
}

pub fn init(env: Env) -> bool {
    LazyLock::force(&REGISTRY);
    crate::handle::init(env) && crate::watch::init(env)
}

/// Creates and registers a table owned by the caller, monitoring the caller.
pub fn create(
    env: Env,
    name: u64,
    options: tsunami_core::table::Options,
    heir: Heir,
) -> NifResult<Handle> {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let owner = env.pid();
    let table = Table::new(id, name, convert::pid_word(&owner), options);
    let handle = Handle::new(TableRes {
        table,
        watched_owner: Mutex::new(None),
        fixations: Mutex::new(Fixations::default()),
        heir_watch: Mutex::new(None),
        succession: Mutex::new(()),
    });
    let named = options.named.then_some(name);
    if let Err(e) = REGISTRY.register(id, named, handle.clone()) {
        // The name may belong to a table whose owner has exited but whose monitor has
        // not fired yet: ETS would have deleted it (or passed it on) before anyone could
        // see the exit. Settle it as `info/2` and `whereis/1` do, then try again.
        let holder = REGISTRY.with_name(name, |h| h.clone());
        match holder {
            Some(h) if !settle_owner(env, &h) => {
                REGISTRY.register(id, named, handle.clone()).or_raise()?
            }
            _ => return Err(crate::error::raise(e)),
        }
    }
    if watch(env, &owner, id) {
        *handle
            .watched_owner
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(convert::pid_word(&owner));
    }
    set_heir(env, &handle, heir);
    Ok(handle)
}

/// Runs `f` on the table a `Tab` argument (id or name) refers to.
#[inline]
pub fn with_table<'a, R>(tab: Term<'a>, f: impl FnOnce(&TableRes) -> NifResult<R>) -> NifResult<R> {
    if let Some(res) = Handle::borrow(tab) {
        return f(res);
    }
    if tab.is_atom() {
        return REGISTRY
            .with_name(convert::word(tab.as_c_arg()), |h| f(h))
            .unwrap_or_else(|| Err(crate::error::raise(Cause::Id.into())));
    }
    Err(crate::error::raise(Cause::NotATable.into()))
}

/// [`with_table`] for operations on a table's contents. A `delete/1` that lands while
/// `f` runs empties the storage under `f`'s feet; such an operation is then ordered after
/// the delete: it raises `badarg`, and anything it wrote into the emptied storage is
/// dropped again. (Otherwise `insert_new/2` could succeed on the emptied storage of a
/// table that no longer exists.)
#[inline]
pub fn with_live<'a, R>(tab: Term<'a>, f: impl FnOnce(&TableRes) -> NifResult<R>) -> NifResult<R> {
    with_table(tab, |t| {
        let r = f(t)?;
        deleted_meanwhile(t)?;
        Ok(r)
    })
}

/// `Err(badarg)` (and the storage emptied again) if `t` was deleted.
#[inline]
pub fn deleted_meanwhile(t: &TableRes) -> NifResult<()> {
    if t.table.is_deleted() {
        t.table.storage_unchecked().purge();
        return Err(crate::error::raise(Cause::Id.into()));
    }
    Ok(())
}

/// The handle of a `Tab` argument, cloned (for cursors and table-level operations).
pub fn handle_of(tab: Term) -> NifResult<Handle> {
    if let Some(h) = Handle::from_term(tab) {
        return Ok(h);
    }
    if tab.is_atom() {
        return REGISTRY
            .with_name(convert::word(tab.as_c_arg()), |h| h.clone())
            .ok_or_else(|| crate::error::raise(Cause::Id.into()));
    }
    Err(crate::error::raise(Cause::NotATable.into()))
}

/// Ends every subscription of a deleted table: owner, heir, fixers.
fn unwatch_all(h: &TableRes) {
    let id = h.table.id;
    if let Some(pid) = h
        .watched_owner
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
    {
        unwatch(pid, id);
    }
    if let Some(w) = h
        .heir_watch
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
    {
        unwatch(w.pid, id);
    }
    let f = h.fixations.lock().unwrap_or_else(|e| e.into_inner());
    for &(pid, _) in &f.by_pid {
        unwatch(pid, id);
    }
}

/// Deletes a table: marks it, frees its contents off-thread, forgets it.
pub fn delete(_env: Env, h: &TableRes) -> bool {
    if !h.table.mark_deleted() {
        return false;
    }
    if REGISTRY.unregister(h.table.id).is_some() {
        unwatch_all(h);
    }
    true
}

/// The term a table is known by in messages: its name if named, else its id.
pub fn tab_term<'a>(env: Env<'a>, h: &Handle) -> Term<'a> {
    if h.table.options.named {
        convert::atom_term(env, h.table.name())
    } else {
        rustler::Encoder::encode(h, env)
    }
}

/// Makes `new_owner` own the table and monitors it instead of the old owner. A new
/// owner that has died meanwhile (after the caller's alive check, before the monitor)
/// cannot be monitored: its exit is then handled here, at once, as the monitor would have
/// (heir or delete), so no table is ever left owned by a dead process.
pub fn transfer(env: Env, h: &Handle, new_owner: &LocalPid) {
    let word = convert::pid_word(new_owner);
    let monitored = {
        let mut watched = h.watched_owner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(old) = watched.take() {
            unwatch(old, h.table.id);
        }
        h.table.set_owner(word);
        *watched = watch(env, new_owner, h.table.id).then_some(word);
        watched.is_some()
    };
    if !monitored {
        owner_exited(env, &h.table, word);
    }
}

/// The owner died: hand the table to a live heir with an `'ETS-TRANSFER'` message, or
/// delete it.
/// A monitored process exited: release its fixations, remember a dead heir, and if it
/// owned the table, pass the table on.
pub fn process_exited(env: Env, res: &TableRes, pid: u64) {
    release_fixations(res, pid);
    if let Some(w) = res
        .heir_watch
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_mut()
    {
        if w.pid == pid {
            w.dead = true;
        }
    }
    owner_exited(env, &res.table, pid);
}

/// Sets the heir (`new/2`, `setopts/2`) and watches it.
pub fn set_heir(env: Env, h: &Handle, heir: Heir) {
    let mut heir_watch = h.heir_watch.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(old) = heir_watch.take() {
        unwatch(old.pid, h.table.id);
    }
    if let Heir::Pid { pid, .. } = &heir {
        let local = local_pid(env, *pid);
        if watch(env, &local, h.table.id) {
            *heir_watch = Some(HeirWatch {
                pid: *pid,
                dead: false,
            });
        }
    }
    *h.table.heir.lock() = heir;
}

fn heir_known_dead(h: &Handle, pid: u64) -> bool {
    let watch = h.heir_watch.lock().unwrap_or_else(|e| e.into_inner());
    match watch.as_ref() {
        Some(w) => w.pid == pid && w.dead,
        None => true, // a heir pid that could not be monitored was already dead
    }
}

/// `safe_fixtable(T, true)` for `pid`.
pub fn fix(env: Env, h: &Handle, pid: &LocalPid) {
    let word = convert::pid_word(pid);
    let mut f = h.fixations.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(entry) = f.by_pid.iter_mut().find(|e| e.0 == word) {
        entry.1 += 1;
        return;
    }
    if !watch(env, pid, h.table.id) {
        return; // the process is gone: nothing to hold
    }
    if f.by_pid.is_empty() {
        // SAFETY: plain VM clock read.
        f.since_ns = unsafe {
            rustler::sys::enif_monotonic_time(rustler::sys::ErlNifTimeUnit::ERL_NIF_NSEC)
        };
    }
    f.by_pid.push((word, 1));
    h.table.storage_unchecked().fix();
}

/// `safe_fixtable(T, false)` for `pid` (a no-op when it holds no fixation).
pub fn unfix(h: &Handle, pid: u64) {
    let mut f = h.fixations.lock().unwrap_or_else(|e| e.into_inner());
    let Some(i) = f.by_pid.iter().position(|e| e.0 == pid) else {
        return;
    };
    f.by_pid[i].1 -= 1;
    if f.by_pid[i].1 == 0 {
        f.by_pid.swap_remove(i);
        unwatch(pid, h.table.id);
        unfix_table(h);
    }
}

/// Drops the fixations of processes that have already exited but whose monitor has not
/// fired yet. ETS releases a process's fixations before anyone can see it exit; a NIF
/// monitor may fire after others observe the exit (a `DOWN` of their own), so readers of
/// the fixation state (`info/2`) call this first and never report a dead fixer.
pub fn release_dead_fixers(env: Env, h: &Handle) {
    let mut f = h.fixations.lock().unwrap_or_else(|e| e.into_inner());
    let mut i = 0;
    while i < f.by_pid.len() {
        let alive = convert::pid_term(env, f.by_pid[i].0)
            .decode::<LocalPid>()
            .is_ok_and(|p| p.is_alive(env));
        if alive {
            i += 1;
            continue;
        }
        let (pid, _) = f.by_pid.swap_remove(i);
        unwatch(pid, h.table.id); // the watch's `down` then finds nothing to release
        unfix_table(h);
    }
}

fn release_fixations(res: &TableRes, pid: u64) {
    let mut f = res.fixations.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(i) = f.by_pid.iter().position(|e| e.0 == pid) {
        f.by_pid.swap_remove(i); // its watch has fired
        unfix_table(res);
    }
}

pub fn owner_exited(env: Env, table: &Table, pid: u64) {
    if table.is_deleted() || table.owner() != pid {
        return;
    }
    let Some(handle) = REGISTRY.get(table.id) else {
        return;
    };
    let _one_at_a_time = handle.succession.lock().unwrap_or_else(|e| e.into_inner());
    if table.is_deleted() || table.owner() != pid {
        return; // already handed on (or deleted) by the other path
    }
    let heir = std::mem::take(&mut *table.heir.lock());
    if let Heir::Pid {
        pid: heir_pid,
        data,
    } = &heir
    {
        let heir_local = local_pid(env, *heir_pid);
        if *heir_pid != pid && heir_local.is_alive(env) && !heir_known_dead(&handle, *heir_pid) {
            // Monitor before the message so the new owner's own exit is never missed.
            handle.table.set_owner(*heir_pid);
            let heir_died = !watch(env, &heir_local, table.id);
            *handle
                .watched_owner
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = (!heir_died).then_some(*heir_pid);
            if heir_died {
                // It died after the alive check: as its own exit would, with itself as
                // heir, this deletes the table.
                *table.heir.lock() = heir;
                delete(env, &handle);
                return;
            }
            let msg_data = convert::decode(env, data.body())
                .ok()
                .and_then(|t| rustler::types::tuple::get_tuple(t).ok())
                .and_then(|v| v.first().copied());
            let tab = tab_term(env, &handle);
            let from = convert::pid_term(env, pid);
            if let Some(d) = msg_data {
                let _ = env.send(&heir_local, (crate::atoms::ets_transfer(), tab, from, d));
            }
            *table.heir.lock() = heir;
            return;
        }
    }
    // The owner's watch has fired (or the owner is gone): nothing left to unwatch.
    handle
        .watched_owner
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take();
    delete(env, &handle);
}

/// Hands on (to the heir) or deletes a table whose owner has exited but whose monitor
/// has not fired yet: ETS does this inside the owner's exit, before anyone can see the
/// exit, while a NIF monitor may fire after others got their `DOWN`. Readers of the
/// table set (`all/0`, `info/1,2`, `whereis/1`) call this first. Returns whether the
/// table still exists.
pub fn settle_owner(env: Env, h: &Handle) -> bool {
    let owner = h.table.owner();
    if !h.table.is_deleted() && !local_pid(env, owner).is_alive(env) {
        owner_exited(env, &h.table, owner);
    }
    !h.table.is_deleted()
}

/// A `LocalPid` for a raw pid word.
pub fn local_pid(env: Env, word: u64) -> LocalPid {
    convert::pid_term(env, word)
        .decode::<LocalPid>()
        .expect("a stored pid word is a local pid")
}
