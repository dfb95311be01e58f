//! The D-Bus wire format: values and messages, as the D-Bus specification's "Message
//! Protocol" section defines them. Every type but Unix file descriptors is read, so any reply
//! can be walked safely; values are written little-endian.

use std::fmt;

/// The longest message read or written (the specification allows 128 MiB; a keychain's
/// replies are a few KiB).
pub const MAX_MESSAGE: usize = 16 << 20;
/// How deeply containers may nest (the specification allows 64 arrays plus 64 structs).
const MAX_DEPTH: u32 = 64;

#[derive(Debug, thiserror::Error)]
#[error("malformed D-Bus data: {0}")]
pub struct WireError(pub String);

fn malformed<T>(what: impl Into<String>) -> Result<T, WireError> {
    Err(WireError(what.into()))
}

/// One D-Bus value. `Bytes` is `ay`, kept apart from `Array` because it is the common case.
#[derive(Clone, PartialEq)]
pub enum Value {
    Byte(u8),
    Bool(bool),
    I16(i16),
    U16(u16),
    I32(i32),
    U32(u32),
    I64(i64),
    U64(u64),
    Double(f64),
    Str(String),
    Path(String),
    Signature(String),
    Bytes(Vec<u8>),
    /// An array of any element type but `y`, with that type's signature.
    Array(String, Vec<Value>),
    Struct(Vec<Value>),
    DictEntry(Box<Value>, Box<Value>),
    Variant(Box<Value>),
}

/// Byte arrays may hold ciphertext; neither they nor anything else is printed in full.
impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Bytes(bytes) => write!(f, "Bytes([{} bytes])", bytes.len()),
            Value::Str(s) => write!(f, "Str({s:?})"),
            Value::Path(p) => write!(f, "Path({p:?})"),
            other => write!(f, "{}", other.signature()),
        }
    }
}

impl Value {
    pub fn str(text: &str) -> Value {
        Value::Str(text.to_string())
    }

    pub fn path(path: &str) -> Value {
        Value::Path(path.to_string())
    }

    /// `a{ss}`, the shape of Secret Service attributes.
    pub fn string_dict<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Value {
        let entries = pairs
            .into_iter()
            .map(|(k, v)| Value::DictEntry(Box::new(Value::str(k)), Box::new(Value::str(v))))
            .collect();
        Value::Array("{ss}".into(), entries)
    }

    pub fn signature(&self) -> String {
        match self {
            Value::Byte(_) => "y".into(),
            Value::Bool(_) => "b".into(),
            Value::I16(_) => "n".into(),
            Value::U16(_) => "q".into(),
            Value::I32(_) => "i".into(),
            Value::U32(_) => "u".into(),
            Value::I64(_) => "x".into(),
            Value::U64(_) => "t".into(),
            Value::Double(_) => "d".into(),
            Value::Str(_) => "s".into(),
            Value::Path(_) => "o".into(),
            Value::Signature(_) => "g".into(),
            Value::Bytes(_) => "ay".into(),
            Value::Array(element, _) => format!("a{element}"),
            Value::Struct(fields) => {
                let inner: String = fields.iter().map(Value::signature).collect();
                format!("({inner})")
            }
            Value::DictEntry(k, v) => format!("{{{}{}}}", k.signature(), v.signature()),
            Value::Variant(_) => "v".into(),
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) | Value::Path(s) | Value::Signature(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The items of an array (`Bytes` has none: it is asked for with `as_bytes`).
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(_, items) => Some(items),
            _ => None,
        }
    }

    pub fn as_struct(&self) -> Option<&[Value]> {
        match self {
            Value::Struct(fields) => Some(fields),
            _ => None,
        }
    }

    /// What a variant holds; any other value is itself.
    pub fn unwrap_variant(&self) -> &Value {
        match self {
            Value::Variant(inner) => inner.unwrap_variant(),
            other => other,
        }
    }
}

/// The alignment of the type whose signature starts with `code`.
fn alignment(code: u8) -> usize {
    match code {
        b'n' | b'q' => 2,
        b'b' | b'i' | b'u' | b'a' | b's' | b'o' | b'h' => 4,
        b'x' | b't' | b'd' | b'(' | b'{' => 8,
        _ => 1, // y, g, v
    }
}

fn pad(out: &mut Vec<u8>, align: usize) {
    while !out.len().is_multiple_of(align) {
        out.push(0);
    }
}

/// Appends `value` to `out`, aligned as if `out` began the message (or a body, which starts at
/// an offset that is a multiple of 8).
pub fn write(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Byte(b) => out.push(*b),
        Value::Bool(b) => write_fixed(out, &u32::from(*b).to_le_bytes()),
        Value::I16(n) => write_fixed(out, &n.to_le_bytes()),
        Value::U16(n) => write_fixed(out, &n.to_le_bytes()),
        Value::I32(n) => write_fixed(out, &n.to_le_bytes()),
        Value::U32(n) => write_fixed(out, &n.to_le_bytes()),
        Value::I64(n) => write_fixed(out, &n.to_le_bytes()),
        Value::U64(n) => write_fixed(out, &n.to_le_bytes()),
        Value::Double(n) => write_fixed(out, &n.to_le_bytes()),
        Value::Str(s) | Value::Path(s) => {
            write_fixed(out, &(s.len() as u32).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
            out.push(0);
        }
        Value::Signature(s) => {
            out.push(s.len() as u8);
            out.extend_from_slice(s.as_bytes());
            out.push(0);
        }
        Value::Bytes(bytes) => {
            write_fixed(out, &(bytes.len() as u32).to_le_bytes());
            out.extend_from_slice(bytes);
        }
        Value::Array(element, items) => {
            pad(out, 4);
            let length_at = out.len();
            out.extend_from_slice(&[0; 4]);
            pad(out, alignment(element.as_bytes()[0]));
            let start = out.len();
            for item in items {
                write(item, out);
            }
            let length = (out.len() - start) as u32;
            out[length_at..length_at + 4].copy_from_slice(&length.to_le_bytes());
        }
        Value::Struct(fields) => {
            pad(out, 8);
            for field in fields {
                write(field, out);
            }
        }
        Value::DictEntry(k, v) => {
            pad(out, 8);
            write(k, out);
            write(v, out);
        }
        Value::Variant(inner) => {
            write(&Value::Signature(inner.signature()), out);
            write(inner, out);
        }
    }
}

/// A fixed-size number: aligned to its own size.
fn write_fixed(out: &mut Vec<u8>, bytes: &[u8]) {
    pad(out, bytes.len());
    out.extend_from_slice(bytes);
}

/// Splits the first complete type off a signature: `"a{sv}s"` gives `("a{sv}", "s")`.
pub fn split_first(signature: &str) -> Result<(&str, &str), WireError> {
    let end = complete_type_end(signature.as_bytes(), 0, 0)?;
    Ok(signature.split_at(end))
}

fn complete_type_end(sig: &[u8], at: usize, depth: u32) -> Result<usize, WireError> {
    if depth > MAX_DEPTH {
        return malformed("the signature nests too deeply");
    }
    match sig.get(at) {
        None => malformed("a signature ends inside a type"),
        Some(b'a') => complete_type_end(sig, at + 1, depth + 1),
        Some(b'(') => {
            let mut next = at + 1;
            if sig.get(next) == Some(&b')') {
                return malformed("an empty struct in a signature");
            }
            while sig.get(next) != Some(&b')') {
                next = complete_type_end(sig, next, depth + 1)?;
            }
            Ok(next + 1)
        }
        Some(b'{') => {
            if !sig.get(at + 1).is_some_and(|c| is_basic(*c)) {
                return malformed("a dict entry's key is not a basic type");
            }
            let after_value = complete_type_end(sig, at + 2, depth + 1)?;
            if sig.get(after_value) != Some(&b'}') {
                return malformed("a dict entry holds more than a key and a value");
            }
            Ok(after_value + 1)
        }
        Some(c) if is_basic(*c) || *c == b'v' => Ok(at + 1),
        Some(c) => malformed(format!("unknown type code {:?} in a signature", *c as char)),
    }
}

fn is_basic(code: u8) -> bool {
    b"ybnqiuxtdsogh".contains(&code)
}

/// Reads values from a message, big- or little-endian as its first byte says.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    big_endian: bool,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8], pos: usize, big_endian: bool) -> Self {
        Reader {
            buf,
            pos,
            big_endian,
        }
    }

    pub fn position(&self) -> usize {
        self.pos
    }

    fn align(&mut self, align: usize) -> Result<(), WireError> {
        let aligned = self.pos.div_ceil(align) * align;
        if aligned > self.buf.len() {
            return malformed("a value runs past the end of the message");
        }
        self.pos = aligned;
        Ok(())
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        let end = self.pos.checked_add(n).filter(|end| *end <= self.buf.len());
        let Some(end) = end else {
            return malformed("a value runs past the end of the message");
        };
        let bytes = &self.buf[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    fn fixed<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        self.align(N)?;
        let mut bytes: [u8; N] = self.take(N)?.try_into().expect("N bytes");
        if self.big_endian {
            bytes.reverse();
        }
        Ok(bytes) // now little-endian
    }

    pub fn u32(&mut self) -> Result<u32, WireError> {
        self.fixed::<4>().map(u32::from_le_bytes)
    }

    fn text(&mut self, length: usize) -> Result<String, WireError> {
        let bytes = self.take(length)?;
        if self.take(1)? != [0] {
            return malformed("a string without its terminating NUL");
        }
        match std::str::from_utf8(bytes) {
            Ok(text) if !text.contains('\0') => Ok(text.to_string()),
            _ => malformed("a string that is not valid UTF-8"),
        }
    }

    /// Reads one value of the single complete type `signature`.
    pub fn read(&mut self, signature: &str) -> Result<Value, WireError> {
        self.read_at(signature, 0)
    }

    fn read_at(&mut self, signature: &str, depth: u32) -> Result<Value, WireError> {
        if depth > MAX_DEPTH {
            return malformed("values nest too deeply");
        }
        let Some(&code) = signature.as_bytes().first() else {
            return malformed("an empty signature");
        };
        Ok(match code {
            b'y' => Value::Byte(self.take(1)?[0]),
            b'b' => match self.u32()? {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                _ => return malformed("a boolean other than 0 or 1"),
            },
            b'n' => Value::I16(i16::from_le_bytes(self.fixed()?)),
            b'q' => Value::U16(u16::from_le_bytes(self.fixed()?)),
            b'i' => Value::I32(i32::from_le_bytes(self.fixed()?)),
            b'u' => Value::U32(self.u32()?),
            b'x' => Value::I64(i64::from_le_bytes(self.fixed()?)),
            b't' => Value::U64(u64::from_le_bytes(self.fixed()?)),
            b'd' => Value::Double(f64::from_le_bytes(self.fixed()?)),
            b's' | b'o' => {
                let length = self.u32()? as usize;
                let text = self.text(length)?;
                if code == b's' {
                    Value::Str(text)
                } else {
                    Value::Path(text)
                }
            }
            b'g' => {
                let length = usize::from(self.take(1)?[0]);
                Value::Signature(self.text(length)?)
            }
            b'v' => {
                let length = usize::from(self.take(1)?[0]);
                let inner = self.text(length)?;
                let (single, rest) = split_first(&inner)?;
                if !rest.is_empty() {
                    return malformed("a variant whose signature holds more than one type");
                }
                Value::Variant(Box::new(self.read_at(single, depth + 1)?))
            }
            b'a' => {
                let length = self.u32()? as usize;
                if length > MAX_MESSAGE {
                    return malformed("an array longer than a message may be");
                }
                let element = &signature[1..];
                self.align(alignment(element.as_bytes()[0]))?;
                if element == "y" {
                    return Ok(Value::Bytes(self.take(length)?.to_vec()));
                }
                let end = self.pos + length;
                if end > self.buf.len() {
                    return malformed("an array runs past the end of the message");
                }
                let mut items = Vec::new();
                while self.pos < end {
                    items.push(self.read_at(element, depth + 1)?);
                }
                if self.pos != end {
                    return malformed("an array's items overrun its length");
                }
                Value::Array(element.to_string(), items)
            }
            b'(' => {
                self.align(8)?;
                let mut inner = &signature[1..signature.len() - 1];
                let mut fields = Vec::new();
                while !inner.is_empty() {
                    let (field, rest) = split_first(inner)?;
                    fields.push(self.read_at(field, depth + 1)?);
                    inner = rest;
                }
                Value::Struct(fields)
            }
            b'{' => {
                self.align(8)?;
                let (key, value) = split_first(&signature[1..signature.len() - 1])?;
                let key = self.read_at(key, depth + 1)?;
                let value = self.read_at(value, depth + 1)?;
                Value::DictEntry(Box::new(key), Box::new(value))
            }
            b'h' => return malformed("a Unix file descriptor, which this client does not take"),
            other => return malformed(format!("unknown type code {:?}", other as char)),
        })
    }

    /// Reads the values of a whole signature (a message body's).
    pub fn read_all(&mut self, mut signature: &str) -> Result<Vec<Value>, WireError> {
        let mut values = Vec::new();
        while !signature.is_empty() {
            let (single, rest) = split_first(signature)?;
            values.push(self.read(single)?);
            signature = rest;
        }
        Ok(values)
    }
}

/// A message's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    MethodCall = 1,
    MethodReturn = 2,
    Error = 3,
    Signal = 4,
}

/// The header fields this client reads or writes.
#[derive(Debug, Default, Clone)]
pub struct Header {
    pub path: Option<String>,
    pub interface: Option<String>,
    pub member: Option<String>,
    pub error_name: Option<String>,
    pub reply_serial: Option<u32>,
    pub destination: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Message {
    pub kind: Kind,
    pub serial: u32,
    pub header: Header,
    pub body: Vec<Value>,
}

/// The fixed part of a message's header: endianness, type, flags, version, body length,
/// serial and the header fields' array length.
pub const FIXED_HEADER: usize = 16;

impl Message {
    /// The message's bytes, little-endian.
    pub fn encode(&self) -> Result<Vec<u8>, WireError> {
        let mut body = Vec::new();
        for value in &self.body {
            write(value, &mut body);
        }
        let signature: String = self.body.iter().map(Value::signature).collect();
        let field = |code: u8, value: Value| {
            Value::Struct(vec![Value::Byte(code), Value::Variant(Box::new(value))])
        };
        let h = &self.header;
        let mut fields = Vec::new();
        if let Some(path) = &h.path {
            fields.push(field(1, Value::path(path)));
        }
        if let Some(interface) = &h.interface {
            fields.push(field(2, Value::str(interface)));
        }
        if let Some(member) = &h.member {
            fields.push(field(3, Value::str(member)));
        }
        if let Some(name) = &h.error_name {
            fields.push(field(4, Value::str(name)));
        }
        if let Some(serial) = h.reply_serial {
            fields.push(field(5, Value::U32(serial)));
        }
        if let Some(destination) = &h.destination {
            fields.push(field(6, Value::str(destination)));
        }
        if !signature.is_empty() {
            fields.push(field(8, Value::Signature(signature)));
        }
        let mut out = vec![b'l', self.kind as u8, 0, 1];
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        out.extend_from_slice(&self.serial.to_le_bytes());
        write(&Value::Array("(yv)".into(), fields), &mut out);
        pad(&mut out, 8);
        out.extend_from_slice(&body);
        if out.len() > MAX_MESSAGE {
            return malformed("a message longer than this client sends");
        }
        Ok(out)
    }

    /// How long the whole message is whose first `FIXED_HEADER` bytes are `fixed`.
    pub fn total_length(fixed: &[u8; FIXED_HEADER]) -> Result<usize, WireError> {
        let big_endian = match fixed[0] {
            b'l' => false,
            b'B' => true,
            _ => return malformed("a message with an unknown byte order"),
        };
        if fixed[3] != 1 {
            return malformed("a message of another protocol version");
        }
        let number = |at: usize| {
            let bytes: [u8; 4] = fixed[at..at + 4].try_into().expect("4 bytes");
            (if big_endian {
                u32::from_be_bytes(bytes)
            } else {
                u32::from_le_bytes(bytes)
            }) as usize
        };
        let (body, fields) = (number(4), number(12));
        if body > MAX_MESSAGE || fields > MAX_MESSAGE {
            return malformed("a message longer than this client reads");
        }
        let total = (FIXED_HEADER + fields).div_ceil(8) * 8 + body;
        if total > MAX_MESSAGE {
            return malformed("a message longer than this client reads");
        }
        Ok(total)
    }

    /// Parses a whole message (as long as `total_length` said).
    pub fn decode(bytes: &[u8]) -> Result<Message, WireError> {
        let fixed: &[u8; FIXED_HEADER] = bytes
            .get(..FIXED_HEADER)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| WireError("a message shorter than its header".into()))?;
        if Message::total_length(fixed)? != bytes.len() {
            return malformed("a message whose length disagrees with its header");
        }
        let big_endian = bytes[0] == b'B';
        let kind = match bytes[1] {
            1 => Kind::MethodCall,
            2 => Kind::MethodReturn,
            3 => Kind::Error,
            4 => Kind::Signal,
            other => return malformed(format!("a message of unknown type {other}")),
        };
        let mut reader = Reader::new(bytes, 8, big_endian);
        let serial = reader.u32()?;
        let fields = reader.read("a(yv)")?;
        let mut header = Header::default();
        let mut signature = String::new();
        for field in fields.as_array().unwrap_or_default() {
            let [Value::Byte(code), value] = field.as_struct().unwrap_or_default() else {
                return malformed("a header field that is not (yv)");
            };
            let value = value.unwrap_variant();
            let text = || value.as_str().map(str::to_string);
            match code {
                1 => header.path = text(),
                2 => header.interface = text(),
                3 => header.member = text(),
                4 => header.error_name = text(),
                5 => {
                    header.reply_serial = match value {
                        Value::U32(serial) => Some(*serial),
                        _ => return malformed("a reply serial that is not a u32"),
                    }
                }
                6 => header.destination = text(),
                8 => signature = text().unwrap_or_default(),
                _ => {} // unknown fields are ignored, as the specification says
            }
        }
        reader.align(8)?;
        let body = reader.read_all(&signature)?;
        if reader.position() != bytes.len() {
            return malformed("a message body longer than its signature");
        }
        Ok(Message {
            kind,
            serial,
            header,
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(values: Vec<Value>) -> Vec<Value> {
        let message = Message {
            kind: Kind::MethodCall,
            serial: 7,
            header: Header {
                path: Some("/org/freedesktop/secrets".into()),
                member: Some("Probe".into()),
                ..Header::default()
            },
            body: values,
        };
        let bytes = message.encode().unwrap();
        let fixed: [u8; FIXED_HEADER] = bytes[..FIXED_HEADER].try_into().unwrap();
        assert_eq!(Message::total_length(&fixed).unwrap(), bytes.len());
        let decoded = Message::decode(&bytes).unwrap();
        assert_eq!(decoded.serial, 7);
        assert_eq!(decoded.header.member.as_deref(), Some("Probe"));
        decoded.body
    }

    #[test]
    fn every_shape_the_secret_service_uses_reads_back_as_written() {
        let secret = Value::Struct(vec![
            Value::path("/org/freedesktop/secrets/session/1"),
            Value::Bytes(vec![1; 16]),
            Value::Bytes(vec![2; 32]),
            Value::str("text/plain"),
        ]);
        let properties = Value::Array(
            "{sv}".into(),
            vec![
                Value::DictEntry(
                    Box::new(Value::str("org.freedesktop.Secret.Item.Label")),
                    Box::new(Value::Variant(Box::new(Value::str("label")))),
                ),
                Value::DictEntry(
                    Box::new(Value::str("org.freedesktop.Secret.Item.Attributes")),
                    Box::new(Value::Variant(Box::new(Value::string_dict([
                        ("service", "s"),
                        ("username", "u"),
                    ])))),
                ),
            ],
        );
        let values = vec![
            Value::Byte(3),
            properties,
            secret,
            Value::Bool(true),
            Value::Array("o".into(), vec![]),
            Value::Array("o".into(), vec![Value::path("/a"), Value::path("/b/c")]),
            Value::U64(u64::MAX),
            Value::I16(-2),
            Value::Double(1.5),
            Value::Variant(Box::new(Value::Bytes(vec![]))),
        ];
        assert_eq!(round_trip(values.clone()), values);
    }

    #[test]
    fn a_big_endian_message_reads_too() {
        // Hand-made: a METHOD_RETURN, serial 2, reply to 1, body "u" = 258.
        let mut m = vec![b'B', 2, 0, 1, 0, 0, 0, 4, 0, 0, 0, 2];
        let mut fields = Vec::new();
        // (yv) 5 -> u 1, then (yv) 8 -> g "u"
        fields.extend_from_slice(&[5, 1, b'u', 0, 0, 0, 0, 1]);
        fields.extend_from_slice(&[8, 1, b'g', 0, 1, b'u', 0]);
        m.extend_from_slice(&(fields.len() as u32).to_be_bytes());
        m.extend_from_slice(&fields);
        while m.len() % 8 != 0 {
            m.push(0);
        }
        m.extend_from_slice(&258u32.to_be_bytes());
        let message = Message::decode(&m).unwrap();
        assert_eq!(message.kind, Kind::MethodReturn);
        assert_eq!(message.header.reply_serial, Some(1));
        assert_eq!(message.body, vec![Value::U32(258)]);
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        let good = Message {
            kind: Kind::Signal,
            serial: 1,
            header: Header {
                path: Some("/p".into()),
                ..Header::default()
            },
            body: vec![Value::Array(
                "s".into(),
                vec![Value::str("x"), Value::str("yz")],
            )],
        }
        .encode()
        .unwrap();
        // Every truncation, and every single-byte change, decodes or fails cleanly.
        for cut in 0..good.len() {
            let _ = Message::decode(&good[..cut]);
        }
        for at in 0..good.len() {
            for byte in [0u8, 1, 0x7f, 0xff] {
                let mut bad = good.clone();
                bad[at] = byte;
                let _ = Message::decode(&bad);
            }
        }
        assert!(split_first("a").is_err());
        assert!(split_first("()").is_err());
        assert!(split_first("{vs}").is_err());
        assert!(split_first(&"a".repeat(100)).is_err());
        assert_eq!(split_first("a{sv}s").unwrap(), ("a{sv}", "s"));
        assert_eq!(split_first("(oayays)b").unwrap(), ("(oayays)", "b"));
    }

    #[test]
    fn debug_output_shows_no_bytes() {
        let shown = format!("{:?}", Value::Bytes(b"hunter2".to_vec()));
        assert!(
            !shown.contains("hunter2") && !shown.contains("104"),
            "{shown}"
        );
    }
}
