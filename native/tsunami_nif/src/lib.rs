//! # tsunami_nif
//!
//! Rustler glue between the BEAM and `tsunami_core`, and nothing else:
//!
//! * [`convert`]: Erlang terms ⇄ the core's encoding (the only code that builds or takes
//!   apart terms);
//! * [`resource`]: the table handle resource, ownership and heirs, traversal cursors;
//! * [`watch`]: one VM monitor per process whose exit tables must hear of;
//! * [`error`]: core errors → Erlang exceptions, in one place;
//! * [`atoms`]: the atoms used here;
//! * [`nifs`]: the NIF functions, one file per group (`table`, `read`, `write`),
//!   named like the Elixir functions of `Tsunami.Native` they implement.
#![deny(unsafe_op_in_unsafe_fn)]

mod atoms;
mod convert;
mod error;
mod handle;
mod nifs;
mod options;
mod resource;
mod watch;

fn load(env: rustler::Env, _info: rustler::Term) -> bool {
    convert::init(env);
    resource::init(env)
}

rustler::init!("Elixir.Tsunami.Native", load = load);
