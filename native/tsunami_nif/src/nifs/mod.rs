//! The NIF functions, grouped like `Tsunami`'s: table lifecycle and info, reads, writes.
//! Each function is named after the `Tsunami.Native` function it implements.

/// Registers a NIF that takes only `Term` arguments, like `#[rustler::nif]` but without
/// the argument vector rustler allocates on every call (a malloc and free on the hottest
/// path): `fast_nif!(lookup(tab, key))` for `fn lookup(env, tab, key) -> NifResult<Term>`.
/// Panics become exceptions and errors are raised exactly as with `#[rustler::nif]`.
macro_rules! fast_nif {
    ($f:ident($($arg:ident),*)) => {
        rustler::codegen_runtime::inventory::submit!(rustler::Nif {
            name: concat!(stringify!($f), "\0").as_ptr() as *const rustler::codegen_runtime::c_char,
            arity: [$(stringify!($arg)),*].len() as rustler::codegen_runtime::c_uint,
            flags: 0,
            raw_func: {
                unsafe extern "C" fn nif_func(
                    env: *mut rustler::sys::ErlNifEnv,
                    argc: rustler::codegen_runtime::c_int,
                    argv: *const rustler::sys::ErlNifTerm,
                ) -> rustler::sys::ErlNifTerm {
                    let lifetime = ();
                    // SAFETY: the VM passes the calling process's environment and `argc`
                    // terms at `argv`, all valid for the duration of this call.
                    unsafe {
                        let env = rustler::Env::new(&lifetime, env);
                        let args = std::slice::from_raw_parts(argv, argc as usize);
                        let mut it = args.iter();
                        $(let $arg = rustler::Term::new(env, *it.next().expect("arity"));)*
                        let result = std::panic::catch_unwind(move || $f(env, $($arg),*));
                        rustler::codegen_runtime::handle_nif_result(result, env).apply(env)
                    }
                }
                nif_func
            },
        });
    };
}

pub mod debug;
pub mod read;
pub mod select;
pub mod table;
pub mod write;

/// When a chunked walk started, to charge the scheduler for the time it took.
pub(crate) struct WalkClock(std::time::Instant);

impl WalkClock {
    pub(crate) fn start() -> Self {
        WalkClock(std::time::Instant::now())
    }

    /// Tells the scheduler how much of its time slice a chunked walk used, so a walk made
    /// of many NIF calls is preempted like a BIF that traps, not counted as one reduction
    /// per call. The charge is the larger of two measures: objects visited (a full
    /// `TRAVERSAL_CHUNK` counts as a quarter of a slice) and time taken
    /// ([`SLICE_MICROS`] counts as a whole slice), so a slow chunk (large objects, a
    /// loaded machine) makes the process yield before consecutive chunks add up to more
    /// than about 1 ms on one scheduler.
    pub(crate) fn charge(self, env: rustler::Env, objects: usize) {
        let chunk = tsunami_core::config::TRAVERSAL_CHUNK.max(1);
        let by_objects = objects * 25 / chunk;
        let by_time = self.0.elapsed().as_micros() as usize * 100 / SLICE_MICROS;
        let percent = by_objects.max(by_time).clamp(1, 100) as i32;
        let _ = rustler::schedule::consume_timeslice(env, percent);
    }
}

/// Microseconds of NIF work that count as a whole time slice (half the 1 ms budget, so
/// the chunk that crosses it still ends inside the budget).
const SLICE_MICROS: usize = 500;
