//! The backend's heap (glibc's malloc, which PostgreSQL's memory contexts and ONNX Runtime
//! both allocate from): giving freed memory back, and how large blocks are allocated.

/// Returns freed heap pages to the operating system. ONNX Runtime allocates with malloc,
/// and glibc keeps freed memory in the process otherwise.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn malloc_trim(pad: usize) -> std::ffi::c_int;
        }
        // SAFETY: malloc_trim only releases memory that is already free.
        unsafe {
            malloc_trim(0);
        }
    }
}

/// Large blocks (1 MB and more: the model's activations, PostgreSQL's biggest memory blocks)
/// are mapped for each use and unmapped when freed. glibc would otherwise raise this
/// threshold to the largest block freed so far and keep such blocks in its heaps.
pub fn map_large_blocks() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn mallopt(param: std::ffi::c_int, value: std::ffi::c_int) -> std::ffi::c_int;
        }
        const M_MMAP_THRESHOLD: std::ffi::c_int = -3;
        // SAFETY: mallopt only changes glibc's allocation policy for later allocations.
        unsafe {
            mallopt(M_MMAP_THRESHOLD, 1 << 20);
        }
    }
}
