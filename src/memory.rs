//! The process's heap after a burst of allocations.
//!
//! glibc keeps memory a thread freed in that thread's arena for reuse, and gives pages back to
//! the kernel by itself only from the top of the main heap. The index optimiser allocates
//! hundreds of MiB of temporaries on a blocking thread while it builds a graph; at 100k chunks
//! 57–70 MiB of it stayed resident afterwards, for good (the kernel cannot reclaim anonymous
//! pages without swap). Asking glibc to trim after such a burst returns it.

/// Returns freed heap memory to the kernel, where the allocator keeps it otherwise (glibc);
/// a no-op on other platforms. Takes milliseconds: call it after a burst, not per request.
pub fn release_freed() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `malloc_trim` takes no pointers; it walks glibc's own arenas under their locks.
    unsafe {
        libc::malloc_trim(0);
    }
}
