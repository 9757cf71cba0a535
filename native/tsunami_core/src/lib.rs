//! # tsunami_core
//!
//! The storage engine behind Tsunami, an `:ets` replacement. It knows nothing of the BEAM:
//! no rustler, no `enif_*`. Terms arrive already encoded (see [`term`]) and leave as bytes
//! that the NIF crate turns back into Erlang terms. That keeps loom, miri and criterion
//! usable on everything here.
//!
//! Dependencies point one way:
//!
//! ```text
//! registry ─► table ─► access
//!               │
//!               ▼
//!           backend::{hash} ─► term ─► sync / config / error
//! ```
//!
//! * [`term`]: the compact, canonical object encoding; key hashing and equality.
//! * [`backend`]: storage engines. [`backend::hash`] is the lock-striped linear hash table
//!   behind `set`, `bag` and `duplicate_bag`.
//! * [`table`]: one table: its options, owner and protection, and its storage.
//! * [`access`]: the public/protected/private rule.
//! * [`registry`]: named tables and the list of all tables.
//! * [`error`]: the typed error every fallible call returns.
//! * [`log`]: the durable log (Bitcask-style: CRC'd append-only records, recovery, group
//!   commit, merge with hint files) that durable tables sit on. Depends on `sync` and
//!   `config` only: tables know nothing of it, the NIF joins the two.
//! * [`sync`], [`config`]: the one place for locks, atomics and epoch pinning, and for tuning
//!   constants.
#![deny(unsafe_op_in_unsafe_fn)]

pub mod access;
pub mod backend;
pub mod config;
pub mod error;
pub mod log;
pub mod matchspec;
pub mod reaper;
pub mod registry;
pub mod sync;
pub mod table;
pub mod term;

#[cfg(test)]
mod tests;

pub use error::{Cause, Error, Result};
