//! What `sec shield` reads off the host before it decides the layout: the entries of `/`,
//! the mount table and the Unix sockets that listen. Parsing only; the decisions are
//! `layout`'s.

use std::path::PathBuf;

/// One line of `/proc/self/mountinfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// `major:minor` of the filesystem.
    pub device: String,
    /// The directory of the filesystem this mount shows.
    pub root: PathBuf,
    /// Where it is mounted.
    pub mount_point: PathBuf,
}

/// The mount table of this process.
pub fn mounts() -> Vec<Mount> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .map(|text| parse_mountinfo(&text))
        .unwrap_or_default()
}

/// `36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw`
pub fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split(' ');
            let device = fields.nth(2)?.to_string();
            let root = PathBuf::from(unescape(fields.next()?));
            let mount_point = PathBuf::from(unescape(fields.next()?));
            Some(Mount {
                device,
                root,
                mount_point,
            })
        })
        .collect()
}

/// The kernel writes space, tab, newline and backslash in paths as `\ooo` octal.
fn unescape(field: &str) -> String {
    decode_escapes(field, b'\\', 3, 8)
}

/// Replaces each `ESCAPE` followed by `digits` digits in `radix` with the byte they give
/// (`\040` in mountinfo, `%2f` in D-Bus addresses); anything else stays as it is.
pub fn decode_escapes(text: &str, escape: u8, digits: usize, radix: u32) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let code = bytes
            .get(i + 1..i + 1 + digits)
            .filter(|_| bytes[i] == escape)
            .and_then(|d| std::str::from_utf8(d).ok())
            .and_then(|d| u8::from_str_radix(d, radix).ok());
        match code {
            Some(byte) => {
                out.push(byte);
                i += 1 + digits;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The paths of Unix sockets that listen now (`/proc/net/unix`, flag `__SO_ACCEPTCON`);
/// abstract and unnamed sockets have no path and are not listed.
pub fn listening_sockets() -> Vec<PathBuf> {
    std::fs::read_to_string("/proc/net/unix")
        .map(|text| parse_net_unix(&text))
        .unwrap_or_default()
}

/// `__SO_ACCEPTCON` in `/proc/net/unix`'s Flags column: the socket listens.
const ACCEPTING: u32 = 0x10000;

/// `Num RefCount Protocol Flags Type St Inode Path`
pub fn parse_net_unix(text: &str) -> Vec<PathBuf> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let flags = u32::from_str_radix(fields.get(3)?, 16).ok()?;
            let path = fields.get(7..).map(|p| p.join(" "))?;
            (flags & ACCEPTING != 0 && path.starts_with('/')).then(|| PathBuf::from(path))
        })
        .collect()
}

/// Whether any abstract Unix socket listens in this network namespace: what only Landlock
/// or a network namespace can close.
pub fn abstract_sockets_listen() -> bool {
    std::fs::read_to_string("/proc/net/unix").is_ok_and(|text| any_abstract_listening(&text))
}

/// Whether `/proc/net/unix` text lists a listening socket with an abstract name (`@...`).
fn any_abstract_listening(text: &str) -> bool {
    text.lines().skip(1).any(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let accepting = fields
            .get(3)
            .and_then(|f| u32::from_str_radix(f, 16).ok())
            .is_some_and(|f| f & ACCEPTING != 0);
        accepting && fields.get(7).is_some_and(|p| p.starts_with('@'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_lines_give_device_root_and_mount_point() {
        let mounts = parse_mountinfo(
            "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n\
             36 35 254:0 /home/u /mnt/my\\040home rw master:1 - ext4 /dev/vda rw\n",
        );
        assert_eq!(
            mounts[1],
            Mount {
                device: "254:0".into(),
                root: "/home/u".into(),
                mount_point: "/mnt/my home".into(),
            }
        );
        assert_eq!(mounts.len(), 2);
    }

    #[test]
    fn only_listening_abstract_sockets_need_landlock() {
        let header = "Num       RefCount Protocol Flags    Type St Inode Path\n";
        let listening =
            "0000000000000000: 00000002 00000000 00010000 0001 01 102 @/tmp/.X11-unix/X0\n";
        let connected = "0000000000000000: 00000002 00000000 00000000 0001 03 103 @/tmp/dbus-x\n";
        let named =
            "0000000000000000: 00000002 00000000 00010000 0001 01 104 /tmp/tmux-0/default\n";
        assert!(any_abstract_listening(&format!(
            "{header}{named}{listening}"
        )));
        assert!(!any_abstract_listening(&format!(
            "{header}{named}{connected}"
        )));
        assert!(!any_abstract_listening(header));
    }

    #[test]
    fn only_listening_sockets_with_a_path_count() {
        let text = "Num       RefCount Protocol Flags    Type St Inode Path\n\
             0000000000000000: 00000002 00000000 00010000 0001 01 100 /tmp/tmux-0/default\n\
             0000000000000000: 00000002 00000000 00000000 0001 03 101 /run/x.sock\n\
             0000000000000000: 00000002 00000000 00010000 0001 01 102 @/tmp/.X11-unix/X0\n\
             0000000000000000: 00000002 00000000 00010000 0001 01 103 /home/u/my sock\n\
             0000000000000000: 00000002 00000000 00000000 0001 03 104\n";
        assert_eq!(
            parse_net_unix(text),
            [
                PathBuf::from("/tmp/tmux-0/default"),
                PathBuf::from("/home/u/my sock")
            ]
        );
    }
}
