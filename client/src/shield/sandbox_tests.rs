use super::*;

#[test]
fn step_errors_survive_the_trip_through_one_os_error() {
    for step in STEPS {
        let error = StepError {
            step,
            index: 4000,
            errno: Errno::ENOSPC,
        };
        assert_eq!(StepError::decode(&error.encode()), Some(error));
    }
    let plain = io::Error::from_raw_os_error(libc::ENOENT);
    assert_eq!(StepError::decode(&plain), None, "exec failures stay errnos");
    let many = StepError {
        step: Step::Mount,
        index: 100_000,
        errno: Errno::EACCES,
    };
    assert_eq!(StepError::decode(&many.encode()).unwrap().index, 0xfff);
}

#[test]
fn the_loopback_message_is_a_well_formed_request() {
    let len = u32::from_ne_bytes(LOOPBACK_UP[0..4].try_into().unwrap());
    assert_eq!(len as usize, LOOPBACK_UP.len());
    assert_eq!(u16::from_ne_bytes([LOOPBACK_UP[4], LOOPBACK_UP[5]]), 16);
    assert_eq!(u16::from_ne_bytes([LOOPBACK_UP[6], LOOPBACK_UP[7]]), 5);
    assert_eq!(
        i32::from_ne_bytes(LOOPBACK_UP[20..24].try_into().unwrap()),
        1
    );
}

#[test]
fn the_filter_builds_for_this_machine() {
    assert!(!seccomp_filter().unwrap().is_empty());
}

/// Each refused call is compared by its native number and, on x86_64, by its x32 number:
/// x32 is the same architecture to seccomp, so the architecture check lets those calls by.
#[test]
fn the_filter_compares_every_refused_call_in_every_abi_of_this_architecture() {
    const JUMP_IF_EQUAL: u16 = 0x05 | 0x10; // BPF_JMP | BPF_JEQ | BPF_K
    let compared: std::collections::BTreeSet<u32> = seccomp_filter()
        .unwrap()
        .iter()
        .filter(|insn| insn.code == JUMP_IF_EQUAL)
        .map(|insn| insn.k)
        .collect();
    #[allow(unused_mut)]
    let mut refused = vec![
        libc::SYS_ioctl,
        libc::SYS_kill,
        libc::SYS_keyctl,
        libc::SYS_add_key,
        libc::SYS_request_key,
    ];
    #[cfg(target_arch = "x86_64")]
    refused.extend(
        [
            514,
            libc::SYS_kill,
            libc::SYS_keyctl,
            libc::SYS_add_key,
            libc::SYS_request_key,
        ]
        .map(|nr| 0x4000_0000 + nr),
    );
    for nr in refused {
        assert!(
            compared.contains(&(nr as u32)),
            "syscall {nr:#x} is not in the filter"
        );
    }
}

#[test]
fn parents_are_made_before_children_and_covers_after_what_they_cover() {
    use super::super::layout::{Hidden, Shown};
    let layout = Layout {
        home: "/h".into(),
        cwd: "/h/p".into(),
        project: "/h/p".into(),
        shown: vec![Shown {
            source: "/h/p".into(),
            target: "/h/p".into(),
            writable: true,
            why: "project",
        }],
        hidden: vec![Hidden {
            path: "/h/p/sock".into(),
            dir: false,
            why: "listening socket",
        }],
        protected: vec![],
        guarded: vec![],
        notes: vec![],
    };
    let targets: Vec<PathBuf> = mounts(&layout).into_iter().map(|(p, _)| p).collect();
    let position = |p: &str| targets.iter().position(|t| t == Path::new(p)).unwrap();
    assert!(position("/h") < position("/h/p"));
    assert!(position("/h/p") < position("/h/p/sock"));
    assert!(position("/dev") < position("/dev/null"));
    assert!(position("/proc") < position("/proc/keys"));
    assert_eq!(
        targets.iter().filter(|t| *t == Path::new("/tmp")).count(),
        1
    );
    assert!(
        !targets.contains(&PathBuf::from("/usr")),
        "the system comes with the root"
    );
}
