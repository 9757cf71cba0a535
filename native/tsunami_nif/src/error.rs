//! Core errors → Erlang exceptions, in one place.
//!
//! A failing NIF raises `error:{'$tsunami_error', Cause}`. The Elixir wrapper (the only
//! caller) turns that into `error:badarg` (or `system_limit`) with `error_info` naming the
//! cause, raised from the public function with its own arguments, as `:ets` does.

use crate::atoms;
use rustler::{Atom, Error as NifError};
use tsunami_core::{Cause, Error};

fn cause_atom(e: Error) -> Atom {
    match e {
        Error::SystemLimit => atoms::system_limit(),
        Error::BadArg(c) => match c {
            Cause::Id => atoms::id(),
            Cause::Access => atoms::access(),
            Cause::TableType => atoms::table_type(),
            Cause::KeyPos => atoms::keypos(),
            Cause::BadKey => atoms::badkey(),
            Cause::Position => atoms::position(),
            Cause::NotOwner => atoms::not_owner(),
            Cause::Owner => atoms::owner(),
            Cause::AlreadyExists => atoms::already_exists(),
            Cause::NotATable => atoms::type_(),
            Cause::Type => atoms::badarg(),
        },
    }
}

/// The exception a core error becomes.
pub fn raise(e: Error) -> NifError {
    NifError::RaiseTerm(Box::new((atoms::tsunami_error(), cause_atom(e))))
}

/// Result of a NIF body.
pub type NifResult<T> = Result<T, NifError>;

/// `?`-friendly conversion of core results.
pub trait OrRaise<T> {
    fn or_raise(self) -> NifResult<T>;
}

impl<T> OrRaise<T> for tsunami_core::Result<T> {
    #[inline]
    fn or_raise(self) -> NifResult<T> {
        self.map_err(raise)
    }
}

/// Plain badarg (bad argument type or value).
pub fn badarg() -> NifError {
    raise(Error::badarg())
}
