//! SQLite's memory, in the static binary, from the same allocator as Rust's.
//!
//! The static (musl) binary allocates through mimalloc, but SQLite's C code
//! calls `malloc`, which is musl's: it returns every freed block of 64 KB
//! or more to the kernel, and SQLite's statement journal takes a 64 KB
//! block for each message's `INSERT`. Each message then cost an `mmap`,
//! page faults and a `munmap` with its TLB shootdowns, 8 % of the static
//! build's ingest time (BENCHMARKS.md, "SQLite on mimalloc too"). Glibc
//! keeps such blocks, so other builds leave SQLite's allocator alone.

/// Has SQLite allocate through mimalloc in the static binary; elsewhere
/// nothing. Called where the store opens, before its first connection
/// (SQLite takes its allocator when it initialises); later calls do
/// nothing.
pub fn use_process_allocator() {
    #[cfg(target_env = "musl")]
    mimalloc_methods::install();
}

#[cfg(target_env = "musl")]
mod mimalloc_methods {
    use std::ffi::{c_int, c_void};
    use std::sync::Once;

    use libmimalloc_sys::{mi_free, mi_good_size, mi_malloc, mi_realloc, mi_usable_size};
    use rusqlite::ffi;

    // SQLite asks for sizes in `c_int` and never for zero or negative ones
    // (it answers those itself); a negative size is refused all the same.
    unsafe extern "C" fn malloc(size: c_int) -> *mut c_void {
        match usize::try_from(size) {
            // SAFETY: mi_malloc takes any size and returns null on failure,
            // which SQLite reports as SQLITE_NOMEM.
            Ok(size) => unsafe { mi_malloc(size) },
            Err(_) => std::ptr::null_mut(),
        }
    }

    unsafe extern "C" fn free(block: *mut c_void) {
        // SAFETY: every block SQLite frees came from `malloc` or `realloc`
        // here (or is null, which mi_free ignores).
        unsafe { mi_free(block) }
    }

    unsafe extern "C" fn realloc(block: *mut c_void, size: c_int) -> *mut c_void {
        match usize::try_from(size) {
            // SAFETY: `block` came from these methods; on failure mi_realloc
            // returns null and leaves it allocated, as SQLite expects.
            Ok(size) => unsafe { mi_realloc(block, size) },
            Err(_) => std::ptr::null_mut(),
        }
    }

    unsafe extern "C" fn size(block: *mut c_void) -> c_int {
        // SAFETY: `block` came from these methods, or is null (size 0).
        let usable = unsafe { mi_usable_size(block) };
        c_int::try_from(usable).unwrap_or(c_int::MAX)
    }

    unsafe extern "C" fn roundup(size: c_int) -> c_int {
        let Ok(wanted) = usize::try_from(size) else {
            return size;
        };
        // SAFETY: a pure function of its argument.
        let good = unsafe { mi_good_size(wanted) };
        c_int::try_from(good).unwrap_or(size)
    }

    unsafe extern "C" fn init(_: *mut c_void) -> c_int {
        ffi::SQLITE_OK
    }

    unsafe extern "C" fn shutdown(_: *mut c_void) {}

    pub fn install() {
        static INSTALL: Once = Once::new();
        INSTALL.call_once(|| {
            let methods = ffi::sqlite3_mem_methods {
                xMalloc: Some(malloc),
                xFree: Some(free),
                xRealloc: Some(realloc),
                xSize: Some(size),
                xRoundup: Some(roundup),
                xInit: Some(init),
                xShutdown: Some(shutdown),
                pAppData: std::ptr::null_mut(),
            };
            // SAFETY: SQLITE_CONFIG_MALLOC takes a pointer to the methods and
            // copies them before it returns. It is refused (SQLITE_MISUSE)
            // once SQLite has initialised, in which case SQLite keeps its
            // own allocator: correct, only slower.
            let status = unsafe {
                ffi::sqlite3_config(
                    ffi::SQLITE_CONFIG_MALLOC,
                    &methods as *const ffi::sqlite3_mem_methods,
                )
            };
            if status != ffi::SQLITE_OK {
                tracing::warn!(
                    status,
                    "SQLite was initialised before its allocator could be set; it keeps musl's"
                );
            }
        });
    }
}
