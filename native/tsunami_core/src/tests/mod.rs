//! Crate-level tests: model tests of the hash engine against std collections, a threaded
//! stress test, and (under `cfg(loom)`) loom scenarios.

mod catree_model;
mod hash_model;
#[cfg(loom)]
mod loom_catree;
#[cfg(loom)]
mod loom_hash;
#[cfg(loom)]
mod loom_log;
mod replace_walk;
mod stress;
mod walk_resume;
