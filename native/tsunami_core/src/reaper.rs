//! Frees big things off the caller's path.
//!
//! Dropping a million objects takes tens of milliseconds; a scheduler must not spend that
//! inside `delete/1` or `delete_all_objects/1`. [`dispose`] hands such values to one
//! background thread that drops them. Small values are dropped in place: a channel send
//! costs more than freeing a few objects. [`run`] hands it other work that may take long
//! and that nobody waits for (the sweep after a hash table's last unfix).

use std::sync::mpsc::{channel, Sender};
use std::sync::{Mutex, OnceLock};

enum Job {
    Drop(Box<dyn Send>),
    Run(Box<dyn FnOnce() + Send>),
}

static REAPER: OnceLock<Mutex<Sender<Job>>> = OnceLock::new();

fn sender() -> &'static Mutex<Sender<Job>> {
    REAPER.get_or_init(|| {
        let (tx, rx) = channel::<Job>();
        std::thread::Builder::new()
            .name("tsunami-reaper".into())
            .spawn(move || {
                for job in rx {
                    match job {
                        Job::Drop(value) => drop(value),
                        Job::Run(f) => {
                            // A panic is a bug, but must not take the reaper down with it.
                            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
                        }
                    }
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
    send(Job::Drop(Box::new(value)));
}

/// Runs `f` on the reaper thread, after what was handed to it before.
pub fn run(f: impl FnOnce() + Send + 'static) {
    send(Job::Run(Box::new(f)));
}

fn send(job: Job) {
    let tx = sender().lock().unwrap_or_else(|e| e.into_inner()).clone();
    if let Err(e) = tx.send(job) {
        // The reaper is gone (VM shutting down): do it here.
        match e.0 {
            Job::Drop(value) => drop(value),
            Job::Run(f) => f(),
        }
    }
}
