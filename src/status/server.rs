//! What this server says about the library: whether it was preloaded, and its directories.
use pgrx::pg_sys;
use std::ffi::CStr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set by `_PG_init` when the library is loaded through shared_preload_libraries.
static PRELOADED: AtomicBool = AtomicBool::new(false);

pub fn init() {
    // SAFETY: a plain global PostgreSQL sets before loading preload libraries.
    if unsafe { pg_sys::process_shared_preload_libraries_in_progress } {
        PRELOADED.store(true, Ordering::Relaxed);
    }
}

pub fn preloaded() -> bool {
    PRELOADED.load(Ordering::Relaxed)
}

/// `$libdir` and `$sharedir` of this server, as PostgreSQL itself resolves them.
pub fn server_dirs() -> (PathBuf, PathBuf) {
    // SAFETY: pkglib_path and my_exec_path are NUL-terminated MAXPGPATH buffers PostgreSQL
    // fills at start-up; get_share_path writes at most MAXPGPATH bytes into `share`.
    unsafe {
        let libdir = CStr::from_ptr(std::ptr::addr_of!(pg_sys::pkglib_path).cast())
            .to_string_lossy()
            .into_owned();
        let mut share = [0 as std::ffi::c_char; pg_sys::MAXPGPATH as usize];
        pg_sys::get_share_path(
            std::ptr::addr_of!(pg_sys::my_exec_path).cast(),
            share.as_mut_ptr(),
        );
        let sharedir = CStr::from_ptr(share.as_ptr())
            .to_string_lossy()
            .into_owned();
        (PathBuf::from(libdir), PathBuf::from(sharedir))
    }
}
