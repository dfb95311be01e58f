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
