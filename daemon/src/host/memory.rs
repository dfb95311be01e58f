//! Keeping secd's resident memory small between requests (glibc): at most two malloc
//! arenas (tokio's worker and blocking threads would otherwise each get one, and keep what
//! a burst of requests or a scrypt key derivation used), freed memory handed back to the
//! kernel when secd is idle, and, after a longer idle time, the pages of secd's own code
//! (most of its resident memory: a D-Bus, HTTP and TLS stack it used once) handed back
//! too. Elsewhere these are no-ops.

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

/// How long secd waits without a connection before it hands back its code pages.
pub const CODE_IDLE: std::time::Duration = std::time::Duration::from_secs(10);

/// Hands the pages of secd's own executable (code and read-only data) back to the kernel
/// (`MADV_PAGEOUT`, Linux 5.4+): they are read again from the file when next used, which
/// costs the first request after a long idle time page faults (bench/run.sh measures it).
/// Pages shared with another process are left alone by the kernel. Returns how many
/// mappings were advised.
pub fn page_out_code() -> usize {
    #[cfg(target_os = "linux")]
    {
        let Ok(exe) = std::fs::read_link("/proc/self/exe") else {
            return 0;
        };
        let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else {
            return 0;
        };
        let exe = exe.to_string_lossy();
        maps.lines()
            .filter_map(|line| {
                let mut fields = line.split_whitespace();
                let range = fields.next()?;
                let perms = fields.next()?;
                (line.ends_with(&*exe) && !perms.contains('w')).then_some(range)
            })
            .filter_map(|range| {
                let (start, end) = range.split_once('-')?;
                let start = usize::from_str_radix(start, 16).ok()?;
                let end = usize::from_str_radix(end, 16).ok()?;
                page_out(start, end - start).then_some(())
            })
            .count()
    }
    #[cfg(not(target_os = "linux"))]
    0
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn page_out(start: usize, len: usize) -> bool {
    // SAFETY: advice on a read-only file mapping of this process, as /proc/self/maps lists
    // it: the kernel may drop its pages and reads them from the file again on the next
    // access; no memory content changes.
    unsafe { libc::madvise(start as *mut libc::c_void, len, libc::MADV_PAGEOUT) == 0 }
}
