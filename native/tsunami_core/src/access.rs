//! Who may do what to a table: the `public` / `protected` / `private` rule of `:ets`.
//!
//! | caller \ op | read | write |
//! |---|---|---|
//! | owner | yes | yes |
//! | other, public | yes | yes |
//! | other, protected | yes | no |
//! | other, private | no | no |
//!
//! Owner-only operations (`give_away`, `setopts`) are checked by the table itself.

use crate::error::{Cause, Result};

/// A local process, as its raw term word (stable while the process lives).
pub type Pid = u64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Protection {
    Public = 0,
    Protected = 1,
    Private = 2,
}

impl Protection {
    pub fn from_u8(v: u8) -> Protection {
        match v {
            0 => Protection::Public,
            1 => Protection::Protected,
            _ => Protection::Private,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Read,
    Write,
}

/// Whether the access needs to know the caller at all (saves fetching the caller's pid on
/// the common public / protected-read paths).
#[inline]
pub fn needs_caller(p: Protection, op: Op) -> bool {
    !matches!(
        (p, op),
        (Protection::Public, _) | (Protection::Protected, Op::Read)
    )
}

/// Checks `caller` against `owner` for `op`.
#[inline]
pub fn check(p: Protection, op: Op, owner: Pid, caller: impl FnOnce() -> Pid) -> Result<()> {
    if !needs_caller(p, op) || caller() == owner {
        Ok(())
    } else {
        Err(Cause::Access.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_access_table() {
        let owner = 7;
        for (p, op, other_ok) in [
            (Protection::Public, Op::Read, true),
            (Protection::Public, Op::Write, true),
            (Protection::Protected, Op::Read, true),
            (Protection::Protected, Op::Write, false),
            (Protection::Private, Op::Read, false),
            (Protection::Private, Op::Write, false),
        ] {
            assert!(check(p, op, owner, || owner).is_ok());
            assert_eq!(check(p, op, owner, || 9).is_ok(), other_ok, "{p:?} {op:?}");
        }
    }
}
