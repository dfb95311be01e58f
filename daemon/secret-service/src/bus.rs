//! A blocking connection to the D-Bus session bus: the address from
//! `DBUS_SESSION_BUS_ADDRESS`, EXTERNAL authentication, method calls and the signals a caller
//! waits for. One call at a time; every read has a deadline.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use crate::wire::{FIXED_HEADER, Header, Kind, Message, Value, WireError};

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("DBUS_SESSION_BUS_ADDRESS is not set")]
    NoAddress,
    #[error("cannot reach the session bus at {address}: {source}")]
    Connect { address: String, source: io::Error },
    #[error("the session bus refused to authenticate this process")]
    Refused,
    #[error("the session bus connection failed: {0}")]
    Io(#[from] io::Error),
    #[error("no answer from {0} in time")]
    Timeout(String),
    #[error(transparent)]
    Wire(#[from] WireError),
    /// An error reply: its D-Bus name and message.
    #[error("{name}: {message}")]
    Remote { name: String, message: String },
    #[error("an unexpected reply to {0}")]
    Unexpected(String),
}

impl BusError {
    /// Whether the connection can still be used after this error.
    pub fn connection_is_sound(&self) -> bool {
        matches!(self, BusError::Remote { .. } | BusError::Unexpected(_))
    }
}

/// A method to call.
pub struct Call<'a> {
    pub destination: &'a str,
    pub path: &'a str,
    pub interface: &'a str,
    pub member: &'a str,
    pub args: Vec<Value>,
}

pub struct Bus {
    stream: UnixStream,
    serial: u32,
    timeout: Duration,
    /// Signals that arrived while a reply was awaited.
    signals: VecDeque<Message>,
}

impl Bus {
    /// Connects to the session bus, authenticates and says Hello.
    pub fn session(timeout: Duration) -> Result<Bus, BusError> {
        let address = std::env::var("DBUS_SESSION_BUS_ADDRESS").map_err(|_| BusError::NoAddress)?;
        let stream = connect(&address)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        let mut bus = Bus {
            stream,
            serial: 0,
            timeout,
            signals: VecDeque::new(),
        };
        bus.authenticate()?;
        bus.call_bus("Hello", vec![])?;
        Ok(bus)
    }

    /// Calls a method of the bus itself (`org.freedesktop.DBus`: Hello, AddMatch, ...).
    pub fn call_bus(&mut self, member: &str, args: Vec<Value>) -> Result<Vec<Value>, BusError> {
        self.call(Call {
            destination: "org.freedesktop.DBus",
            path: "/org/freedesktop/DBus",
            interface: "org.freedesktop.DBus",
            member,
            args,
        })
    }

    /// SASL EXTERNAL: the bus checks our uid through the socket's credentials.
    fn authenticate(&mut self) -> Result<(), BusError> {
        let uid = nix::unistd::getuid().as_raw().to_string();
        let hex: String = uid.bytes().map(|b| format!("{b:02x}")).collect();
        self.stream
            .write_all(format!("\0AUTH EXTERNAL {hex}\r\n").as_bytes())?;
        // Byte by byte up to CRLF: what follows BEGIN is the binary protocol.
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        while !line.ends_with(b"\r\n") {
            if line.len() > 512 {
                return Err(BusError::Refused);
            }
            self.read_exact(&mut byte, "the session bus")?;
            line.push(byte[0]);
        }
        if !line.starts_with(b"OK ") {
            return Err(BusError::Refused);
        }
        self.stream.write_all(b"BEGIN\r\n")?;
        Ok(())
    }

    /// Calls a method and returns its reply's values, or the error it replied.
    pub fn call(&mut self, call: Call<'_>) -> Result<Vec<Value>, BusError> {
        self.serial = self.serial.wrapping_add(1).max(1);
        let serial = self.serial;
        let what = format!("{}.{}", call.interface, call.member);
        let message = Message {
            kind: Kind::MethodCall,
            serial,
            header: Header {
                path: Some(call.path.into()),
                interface: Some(call.interface.into()),
                member: Some(call.member.into()),
                destination: Some(call.destination.into()),
                ..Header::default()
            },
            body: call.args,
        };
        self.stream.write_all(&message.encode()?)?;
        let deadline = Instant::now() + self.timeout;
        loop {
            let reply = self.receive(deadline, &what)?;
            match reply.kind {
                Kind::Signal => {
                    // Only the signals of a prompt are asked for; keep a few, not a backlog.
                    if self.signals.len() >= 16 {
                        self.signals.pop_front();
                    }
                    self.signals.push_back(reply);
                }
                Kind::MethodReturn if reply.header.reply_serial == Some(serial) => {
                    return Ok(reply.body);
                }
                Kind::Error if reply.header.reply_serial == Some(serial) => {
                    let message = reply
                        .body
                        .first()
                        .and_then(Value::as_str)
                        .unwrap_or("no message")
                        .to_string();
                    return Err(BusError::Remote {
                        name: reply.header.error_name.unwrap_or_default(),
                        message,
                    });
                }
                _ => {} // a reply to nothing we wait for, or a call to us: not ours to answer
            }
        }
    }

    /// Waits until a signal that `wanted` accepts arrives, at most until `deadline`.
    pub fn wait_for_signal(
        &mut self,
        wanted: impl Fn(&Message) -> bool,
        deadline: Instant,
        what: &str,
    ) -> Result<Message, BusError> {
        if let Some(at) = self.signals.iter().position(&wanted) {
            return Ok(self.signals.remove(at).expect("present"));
        }
        loop {
            let message = self.receive(deadline, what)?;
            if message.kind == Kind::Signal && wanted(&message) {
                return Ok(message);
            }
        }
    }

    /// Reads the next message, waiting at most until `deadline`.
    fn receive(&mut self, deadline: Instant, what: &str) -> Result<Message, BusError> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(BusError::Timeout(what.into()));
        }
        self.stream.set_read_timeout(Some(left))?;
        let mut fixed = [0u8; FIXED_HEADER];
        self.read_exact(&mut fixed, what)?;
        let total = Message::total_length(&fixed)?;
        let mut bytes = vec![0u8; total];
        bytes[..FIXED_HEADER].copy_from_slice(&fixed);
        self.read_exact(&mut bytes[FIXED_HEADER..], what)?;
        Ok(Message::decode(&bytes)?)
    }

    fn read_exact(&mut self, buf: &mut [u8], what: &str) -> Result<(), BusError> {
        self.stream.read_exact(buf).map_err(|e| match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => BusError::Timeout(what.into()),
            _ => BusError::Io(e),
        })
    }
}

/// Connects to the first address of `addresses` (`;`-separated) that answers. Only Unix
/// sockets (`unix:path=` and, on Linux, `unix:abstract=`): what session buses listen on.
fn connect(addresses: &str) -> Result<UnixStream, BusError> {
    let mut last = None;
    for address in addresses.split(';').filter(|a| !a.is_empty()) {
        let error = match open(address) {
            Ok(stream) => return Ok(stream),
            Err(e) => e,
        };
        last = Some(BusError::Connect {
            address: address.to_string(),
            source: error,
        });
    }
    Err(last.unwrap_or(BusError::NoAddress))
}

fn open(address: &str) -> io::Result<UnixStream> {
    let unsupported = || {
        io::Error::new(
            io::ErrorKind::Unsupported,
            "only unix:path= and unix:abstract= addresses are supported",
        )
    };
    let Some(options) = address.strip_prefix("unix:") else {
        return Err(unsupported());
    };
    for option in options.split(',') {
        let Some((key, value)) = option.split_once('=') else {
            continue;
        };
        let value = unescape(value).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "a malformed %-escape in the address",
            )
        })?;
        match key {
            "path" => {
                use std::os::unix::ffi::OsStringExt;
                return UnixStream::connect(std::ffi::OsString::from_vec(value));
            }
            #[cfg(target_os = "linux")]
            "abstract" => {
                use std::os::linux::net::SocketAddrExt;
                let addr = std::os::unix::net::SocketAddr::from_abstract_name(&value)?;
                return UnixStream::connect_addr(&addr);
            }
            _ => {}
        }
    }
    Err(unsupported())
}

/// A D-Bus address value with its `%XX` escapes decoded.
fn unescape(value: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(value.len());
    let mut bytes = value.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hex = [bytes.next()?, bytes.next()?];
            out.push(u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?);
        } else {
            out.push(b);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_unescaped_and_unknown_transports_refused() {
        assert_eq!(unescape("/tmp/a%20b%2c").unwrap(), b"/tmp/a b,");
        assert_eq!(unescape("%zz"), None);
        assert_eq!(unescape("%4"), None);
        let error = connect("tcp:host=localhost,port=1").unwrap_err();
        assert!(error.to_string().contains("only unix:path="), "{error}");
        let error = connect("unix:path=/nonexistent/bus").unwrap_err();
        assert!(error.to_string().contains("/nonexistent/bus"), "{error}");
    }
}
