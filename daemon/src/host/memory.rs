//! Keeping secd's resident memory small between requests (glibc): at most two malloc
//! arenas (tokio's worker and blocking threads would otherwise each get one, and keep what
//! a burst of requests or a scrypt key derivation used), and freed memory handed back to
//! the kernel when secd is idle. Elsewhere these are no-ops.

/// Before any thread starts.
pub fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; called before any other thread.
    #[allow(unsafe_code)]
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// Returns free heap pages to the kernel (what a burst of work left behind).
pub fn give_back() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases memory the allocator holds free.
    #[allow(unsafe_code)]
    unsafe {
        libc::malloc_trim(0);
    }
}
