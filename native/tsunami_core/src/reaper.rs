//! Frees big things off the caller's path.
//!
//! Dropping a million objects takes tens of milliseconds; a scheduler must not spend that
//! inside `delete/1` or `delete_all_objects/1`. [`dispose`] hands such values to one
//! background thread that drops them. Small values are dropped in place: a channel send
//! costs more than freeing a few objects.

use std::sync::mpsc::{channel, Sender};
use std::sync::{Mutex, OnceLock};

type Job = Box<dyn Send>;

static REAPER: OnceLock<Mutex<Sender<Job>>> = OnceLock::new();

fn sender() -> &'static Mutex<Sender<Job>> {
    REAPER.get_or_init(|| {
        let (tx, rx) = channel::<Job>();
        std::thread::Builder::new()
            .name("tsunami-reaper".into())
            .spawn(move || {
                for job in rx {
                    drop(job);
                }
            })
            .expect("spawn the tsunami reaper thread");
        Mutex::new(tx)
    })
}

/// Drops `value` on the reaper thread when `weight` (objects, roughly) is large, here
/// otherwise.
pub fn dispose<T: Send + 'static>(value: T, weight: usize) {
    const INLINE_LIMIT: usize = 256;
    if weight <= INLINE_LIMIT {
        drop(value);
        return;
    }
    let tx = sender().lock().unwrap_or_else(|e| e.into_inner()).clone();
    if let Err(e) = tx.send(Box::new(value)) {
        drop(e.0); // the reaper is gone (VM shutting down): free here
    }
}
