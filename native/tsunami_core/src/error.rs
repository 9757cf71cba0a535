//! The one error type of the core. The NIF crate maps it to an Erlang exception in a single
//! place (`tsunami_nif::error`), and the Elixir side raises it as `:ets` would.

/// Why an argument was refused. Mirrors the `cause` atoms `:ets` puts in its `error_info`
/// (see `erl_stdlib_errors`), so messages read exactly like `:ets`'s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// No such table (deleted, never existed, unknown name). `:ets` cause `id`.
    Id,
    /// The table exists but the caller may not do this (protection). Cause `access`.
    Access,
    /// The operation does not apply to this table type (e.g. `update_counter` on a bag).
    TableType,
    /// The position given is the key position. Cause `keypos`.
    KeyPos,
    /// The key is not in the table (`lookup_element`, `update_counter`). Cause `badkey`.
    BadKey,
    /// Only the owner may do this. Cause `not_owner`.
    NotOwner,
    /// `give_away` to the owner itself. Cause `owner`.
    Owner,
    /// An `update_counter` position outside the object. Cause `position`.
    Position,
    /// A named table of that name already exists. Cause `already_exists`.
    AlreadyExists,
    /// The table argument is neither a table id nor an atom. Cause `type`.
    NotATable,
    /// Plain `badarg` with no cause: wrong type, out of range and so on; the message is
    /// derived from the arguments, as `:ets` does.
    Type,
}

/// Every fallible core call returns this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// `error:badarg` in Erlang, `ArgumentError` in Elixir.
    BadArg(Cause),
    /// `error:system_limit`.
    SystemLimit,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub const fn badarg() -> Self {
        Error::BadArg(Cause::Type)
    }
}

impl From<Cause> for Error {
    fn from(cause: Cause) -> Self {
        Error::BadArg(cause)
    }
}
