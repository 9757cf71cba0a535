//! The NIF functions, grouped like `Tsunami`'s: table lifecycle and info, reads, writes.
//! Each function is named after the `Tsunami.Native` function it implements.

pub mod read;
pub mod table;
pub mod write;
