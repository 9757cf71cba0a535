//! Test knobs, in the spirit of ETS's `erts_debug:set_internal_state/2` table knobs.

use crate::atoms;
use crate::error::NifResult;
use crate::resource::with_table;
use rustler::{Atom, Error, Term};

/// `debug_force_split(Tab, Bool)`: while on, every write to an `ordered_set` splits its
/// base node (ETS's `ets_force_split`), so tests reach many base nodes without having to
/// produce contention. A plain `error:badarg` (called directly, not through `Tsunami`)
/// for anything but an `ordered_set` and a boolean.
#[rustler::nif]
fn debug_force_split<'a>(tab: Term<'a>, on: Term<'a>) -> NifResult<Atom> {
    let on = match on.atom_to_string().ok().as_deref() {
        Some("true") => true,
        Some("false") => false,
        _ => return Err(Error::BadArg),
    };
    with_table(tab, |t| {
        let s = t.table.storage().map_err(|_| Error::BadArg)?;
        if s.set_force_split(on) {
            Ok(atoms::true_())
        } else {
            Err(Error::BadArg)
        }
    })
    .map_err(|_| Error::BadArg)
}
