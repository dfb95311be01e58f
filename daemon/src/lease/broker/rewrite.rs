//! The broker's decisions and substitutions, as functions of a request's parts: which
//! brokered variables a request uses and whether their rules allow it, putting a real value
//! into the headers, and the streaming scanners that look for placeholders in request
//! bodies and scrub real values out of answers.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hyper::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};
use sec_proto::config::{BrokerRule, Brokered, Inject};
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

/// A brokered variable as the broker uses it: its value and the placeholder that stands for it.
pub(super) struct Var {
    pub name: String,
    pub value: SecretString,
    pub placeholder: String,
    pub brokered: Brokered,
}

/// A byte string and what replaces it; `from` may be a real value, so it is zeroized.
pub(super) type Pair = (Zeroizing<Vec<u8>>, Vec<u8>);

/// What a request does with the brokered variables.
pub(super) struct Decision<'a> {
    /// The first variable whose placeholder the request carries where no rule allows it.
    pub refused: Option<&'a Var>,
    /// Variables whose value goes into this request, with the rule that allows it.
    pub inject: Vec<(&'a Var, &'a BrokerRule)>,
    /// Variables no rule allows here: the body must not carry their placeholders.
    pub watch: Vec<&'a Var>,
}

/// Decides, for a request to `host` (the CONNECT host) with `method` and `path` (with its
/// query), what happens to each variable.
pub(super) fn decide<'a>(
    vars: &'a [Var],
    host: &str,
    method: &str,
    path: &str,
    headers: &HeaderMap,
) -> Decision<'a> {
    let mut decision = Decision {
        refused: None,
        inject: Vec::new(),
        watch: Vec::new(),
    };
    for var in vars {
        let rule = var
            .brokered
            .rules
            .iter()
            .find(|r| r.allows(host, method, path));
        let present = occurs(&var.placeholder, path, headers);
        match rule {
            None if present => {
                decision.refused.get_or_insert(var);
            }
            None => decision.watch.push(var),
            // The rule says where the credential goes: it goes there even unasked.
            Some(rule) if present || rule.inject != Inject::Placeholder => {
                decision.inject.push((var, rule))
            }
            Some(_) => {}
        }
    }
    decision
}

/// Whether `placeholder` occurs in `path` or any header value (also inside `Basic`
/// credentials, which hide it in base64).
pub(super) fn occurs(placeholder: &str, path: &str, headers: &HeaderMap) -> bool {
    path.contains(placeholder)
        || headers.iter().any(|(name, value)| {
            contains(value.as_bytes(), placeholder.as_bytes())
                || (name == AUTHORIZATION
                    && basic_credentials(value).is_some_and(|c| c.contains(placeholder)))
        })
}

/// Why a value cannot go into a request.
#[derive(Debug, thiserror::Error)]
pub(super) enum InjectError {
    #[error("{0}'s value holds characters an HTTP header cannot carry")]
    NotAHeader(String),
}

/// Puts `var`'s value into `headers` as `inject` says; returns the pairs that scrub it back
/// out of the answer (the value and, for `Basic`, its base64 form), or none when nothing
/// changed (the placeholder was only in the path, where it stays).
pub(super) fn inject(
    headers: &mut HeaderMap,
    var: &Var,
    inject: &Inject,
) -> Result<Vec<Pair>, InjectError> {
    let not_a_header = || InjectError::NotAHeader(var.name.clone());
    let placeholder = var.placeholder.as_str();
    let value = var.value.expose_secret();
    let mut pairs: Vec<Pair> = vec![(
        Zeroizing::new(value.as_bytes().to_vec()),
        placeholder.as_bytes().to_vec(),
    )];
    let names: Vec<HeaderName> = headers.keys().cloned().collect();
    let mut changed = false;
    for name in names {
        let old: Vec<HeaderValue> = headers.get_all(&name).iter().cloned().collect();
        let mut new = Vec::with_capacity(old.len());
        let mut this_changed = false;
        for header in old {
            let credentials = (name == AUTHORIZATION)
                .then(|| basic_credentials(&header))
                .flatten()
                .filter(|c| c.contains(placeholder));
            let direct = contains(header.as_bytes(), placeholder.as_bytes());
            if !direct && credentials.is_none() {
                new.push(header);
                continue;
            }
            this_changed = true;
            if *inject != Inject::Placeholder {
                // The rule names the one place the credential goes; the placeholder goes
                // nowhere else.
                continue;
            }
            let replaced = if let Some(credentials) = credentials {
                let real = Zeroizing::new(credentials.replace(placeholder, value));
                let encoded = Zeroizing::new(STANDARD.encode(real.as_bytes()));
                pairs.push((
                    Zeroizing::new(encoded.as_bytes().to_vec()),
                    STANDARD.encode(credentials.as_bytes()).into_bytes(),
                ));
                Zeroizing::new(format!("Basic {}", encoded.as_str()))
            } else {
                let text = header.to_str().map_err(|_| not_a_header())?;
                Zeroizing::new(text.replace(placeholder, value))
            };
            new.push(sensitive(&replaced).ok_or_else(not_a_header)?);
        }
        if this_changed {
            changed = true;
            headers.remove(&name);
            for header in new {
                headers.append(name.clone(), header);
            }
        }
    }
    let set = |headers: &mut HeaderMap, name: HeaderName, text: &str| {
        sensitive(text)
            .map(|v| {
                headers.insert(name, v);
            })
            .ok_or_else(not_a_header)
    };
    match inject {
        Inject::Placeholder => {}
        Inject::Bearer => set(
            headers,
            AUTHORIZATION,
            &Zeroizing::new(format!("Bearer {value}")),
        )?,
        Inject::Basic { user } => {
            let encoded = Zeroizing::new(STANDARD.encode(format!("{user}:{value}").as_bytes()));
            pairs.push((
                Zeroizing::new(encoded.as_bytes().to_vec()),
                STANDARD
                    .encode(format!("{user}:{placeholder}").as_bytes())
                    .into_bytes(),
            ));
            set(
                headers,
                AUTHORIZATION,
                &Zeroizing::new(format!("Basic {}", encoded.as_str())),
            )?
        }
        Inject::Header(header) => set(
            headers,
            HeaderName::from_bytes(header.as_bytes()).map_err(|_| not_a_header())?,
            value,
        )?,
    }
    if !changed && *inject == Inject::Placeholder {
        return Ok(Vec::new());
    }
    Ok(pairs)
}

/// A header value marked sensitive (hyper's HPACK and Debug leave it alone).
fn sensitive(text: &str) -> Option<HeaderValue> {
    let mut value = HeaderValue::from_str(text).ok()?;
    value.set_sensitive(true);
    Some(value)
}

/// `user:password` of `Basic` credentials.
fn basic_credentials(value: &HeaderValue) -> Option<Zeroizing<String>> {
    let text = value.to_str().ok()?;
    let (scheme, encoded) = text.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let bytes = Zeroizing::new(STANDARD.decode(encoded.trim()).ok()?);
    Some(Zeroizing::new(String::from_utf8(bytes.to_vec()).ok()?))
}

/// Replaces every `from` of `pairs` in the answer's header values.
pub(super) fn scrub_headers(headers: &mut HeaderMap, pairs: &[Pair]) {
    for value in headers.values_mut() {
        if pairs
            .iter()
            .any(|(from, _)| contains(value.as_bytes(), from))
        {
            let mut replacer = Replacer::new(pairs.to_vec());
            let mut bytes = replacer.push(value.as_bytes());
            bytes.extend(replacer.finish());
            // A placeholder is letters and digits, so this cannot fail; if it did, the
            // header would go empty rather than keep the value.
            *value = HeaderValue::from_bytes(&bytes).unwrap_or(HeaderValue::from_static(""));
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    find(haystack, needle).is_some()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Replaces byte strings in a stream cut into chunks anywhere: the tail of a chunk that
/// could begin a match waits for the next chunk.
pub(super) struct Replacer {
    pairs: Vec<Pair>,
    /// Unsent bytes that may begin a match; may hold part of a real value.
    carry: Zeroizing<Vec<u8>>,
}

impl Replacer {
    pub fn new(pairs: Vec<Pair>) -> Self {
        Self {
            pairs,
            carry: Zeroizing::new(Vec::new()),
        }
    }

    /// Whether every replacement is as long as what it replaces (Content-Length holds).
    pub fn keeps_length(&self) -> bool {
        self.pairs.iter().all(|(from, to)| from.len() == to.len())
    }

    /// The next chunk, replaced, less a tail that may begin a match.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        self.carry.extend_from_slice(chunk);
        self.run(false)
    }

    /// What is left at the end of the stream.
    pub fn finish(&mut self) -> Vec<u8> {
        self.run(true)
    }

    fn run(&mut self, last: bool) -> Vec<u8> {
        let buf = std::mem::take(&mut *self.carry);
        let buf = Zeroizing::new(buf);
        let mut out = Vec::with_capacity(buf.len());
        let mut i = 0;
        'scan: while i < buf.len() {
            let rest = &buf[i..];
            for (from, to) in &self.pairs {
                if rest.starts_with(from) {
                    out.extend_from_slice(to);
                    i += from.len();
                    continue 'scan;
                }
            }
            if !last
                && self
                    .pairs
                    .iter()
                    .any(|(from, _)| rest.len() < from.len() && from.starts_with(rest))
            {
                break;
            }
            out.push(buf[i]);
            i += 1;
        }
        self.carry.extend_from_slice(&buf[i..]);
        out
    }
}

/// Looks for placeholders in a stream cut into chunks anywhere.
pub(super) struct Finder {
    /// (variable name, placeholder)
    needles: Vec<(String, Vec<u8>)>,
    /// The last bytes seen, as many as a placeholder could have begun in.
    tail: Vec<u8>,
    keep: usize,
}

impl Finder {
    pub fn new(needles: Vec<(String, Vec<u8>)>) -> Self {
        let keep = needles
            .iter()
            .map(|(_, n)| n.len().saturating_sub(1))
            .max()
            .unwrap_or(0);
        Self {
            needles,
            tail: Vec::new(),
            keep,
        }
    }

    /// The name of the variable whose placeholder this chunk completes, if any.
    pub fn push(&mut self, chunk: &[u8]) -> Option<String> {
        let mut window = std::mem::take(&mut self.tail);
        window.extend_from_slice(chunk);
        let found = self
            .needles
            .iter()
            .find(|(_, needle)| contains(&window, needle))
            .map(|(name, _)| name.clone());
        self.tail = window[window.len().saturating_sub(self.keep)..].to_vec();
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sec_proto::config::HostPattern;

    fn rule(host: &str, methods: &[&str], paths: &[&str], inject: Inject) -> BrokerRule {
        BrokerRule {
            hosts: vec![HostPattern::Exact(host.into())],
            methods: methods.iter().map(|m| m.to_string()).collect(),
            paths: paths.iter().map(|p| p.to_string()).collect(),
            inject,
            ca_cert: None,
        }
    }

    fn var(name: &str, value: &str, placeholder: &str, rules: Vec<BrokerRule>) -> Var {
        Var {
            name: name.into(),
            value: SecretString::from(value),
            placeholder: placeholder.into(),
            brokered: Brokered { shape: None, rules },
        }
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    fn basic(text: &str) -> String {
        format!("Basic {}", STANDARD.encode(text))
    }

    #[test]
    fn a_placeholder_is_found_in_the_path_headers_and_basic_credentials() {
        let empty = HeaderMap::new();
        assert!(occurs("PH", "/a?token=PH", &empty));
        assert!(occurs("PH", "/", &headers(&[("x-key", "xPHx")])));
        assert!(occurs(
            "PH",
            "/",
            &headers(&[("authorization", &basic("u:PH"))])
        ));
        assert!(!occurs("PH", "/", &headers(&[("x-basic", &basic("u:PH"))])));
        assert!(!occurs("PH", "/p", &headers(&[("x", "P H")])));
    }

    #[test]
    fn decisions_follow_the_rules() {
        let vars = vec![
            var(
                "A",
                "va",
                "PA",
                vec![rule("h", &["POST"], &["/up"], Inject::Placeholder)],
            ),
            var("B", "vb", "PB", vec![rule("h", &[], &[], Inject::Bearer)]),
            var(
                "C",
                "vc",
                "PC",
                vec![rule("other", &[], &[], Inject::Bearer)],
            ),
        ];
        let with_a = headers(&[("x", "PA")]);
        let d = decide(&vars, "h", "POST", "/up/1", &with_a);
        assert!(d.refused.is_none());
        let injected: Vec<&str> = d.inject.iter().map(|(v, _)| v.name.as_str()).collect();
        assert_eq!(injected, ["A", "B"], "B's rule injects unasked");
        assert_eq!(d.watch.len(), 1);
        assert_eq!(d.watch[0].name, "C");

        let d = decide(&vars, "h", "GET", "/up/1", &with_a);
        assert_eq!(d.refused.map(|v| v.name.as_str()), Some("A"));

        let d = decide(&vars, "h", "POST", "/up", &headers(&[("x", "PC")]));
        assert_eq!(d.refused.map(|v| v.name.as_str()), Some("C"));

        let d = decide(&vars, "h", "POST", "/up", &HeaderMap::new());
        let injected: Vec<&str> = d.inject.iter().map(|(v, _)| v.name.as_str()).collect();
        assert_eq!(
            injected,
            ["B"],
            "A's placeholder is nowhere: nothing to put in"
        );
    }

    #[test]
    fn the_placeholder_is_replaced_where_it_is() {
        let v = var("A", "secret-value", "PLACEHOLDER1", vec![]);
        let mut map = headers(&[
            ("x-api-key", "key PLACEHOLDER1"),
            ("authorization", &basic("me:PLACEHOLDER1")),
            ("x-other", "untouched"),
        ]);
        let pairs = inject(&mut map, &v, &Inject::Placeholder).unwrap();
        assert_eq!(map["x-api-key"], "key secret-value");
        assert!(map["x-api-key"].is_sensitive());
        assert_eq!(map["authorization"], basic("me:secret-value").as_str());
        assert_eq!(map["x-other"], "untouched");
        assert_eq!(pairs.len(), 2, "the value and its base64 form");

        let mut only_path = headers(&[("x", "y")]);
        assert!(
            inject(&mut only_path, &v, &Inject::Placeholder)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn a_rule_puts_the_credential_in_its_one_place() {
        let v = var("A", "secret-value", "PLACEHOLDER1", vec![]);
        let mut map = headers(&[("x-api-key", "PLACEHOLDER1"), ("accept", "*/*")]);
        inject(&mut map, &v, &Inject::Bearer).unwrap();
        assert_eq!(map["authorization"], "Bearer secret-value");
        assert!(map.get("x-api-key").is_none(), "the placeholder went");
        assert_eq!(map["accept"], "*/*");

        let mut map = headers(&[("authorization", "token PLACEHOLDER1")]);
        let pairs = inject(
            &mut map,
            &v,
            &Inject::Basic {
                user: "__token__".into(),
            },
        )
        .unwrap();
        assert_eq!(
            map["authorization"],
            basic("__token__:secret-value").as_str()
        );
        assert_eq!(pairs.len(), 2);

        let mut map = HeaderMap::new();
        inject(&mut map, &v, &Inject::Header("PRIVATE-TOKEN".into())).unwrap();
        assert_eq!(map["private-token"], "secret-value");
        assert!(map["private-token"].is_sensitive());
    }

    #[test]
    fn a_value_a_header_cannot_carry_is_refused_without_saying_it() {
        let v = var("A", "bad\nvalue", "PH", vec![]);
        let error = inject(&mut HeaderMap::new(), &v, &Inject::Bearer).unwrap_err();
        assert!(error.to_string().starts_with("A's value"));
        assert!(!error.to_string().contains("bad"));
    }

    #[test]
    fn answers_are_scrubbed_in_headers() {
        let pairs: Vec<Pair> = vec![(Zeroizing::new(b"REAL".to_vec()), b"FAKE".to_vec())];
        let mut map = headers(&[("x-echo", "a REAL b REAL"), ("x", "none")]);
        scrub_headers(&mut map, &pairs);
        assert_eq!(map["x-echo"], "a FAKE b FAKE");
        assert_eq!(map["x"], "none");
    }

    #[test]
    fn the_replacer_finds_values_cut_across_chunks() {
        let pairs: Vec<Pair> = vec![
            (Zeroizing::new(b"secret".to_vec()), b"PHPHPH".to_vec()),
            (Zeroizing::new(b"c2VjcmV0".to_vec()), b"UEhQSFBI".to_vec()),
        ];
        let text = b"xx secret yy c2VjcmV0 zz secre".as_slice();
        for cut in 0..text.len() {
            for second in cut..text.len() {
                let mut r = Replacer::new(pairs.clone());
                let mut out = r.push(&text[..cut]);
                out.extend(r.push(&text[cut..second]));
                out.extend(r.push(&text[second..]));
                out.extend(r.finish());
                assert_eq!(
                    out, b"xx PHPHPH yy UEhQSFBI zz secre",
                    "cut at {cut}, {second}"
                );
            }
        }
        assert!(Replacer::new(pairs).keeps_length());
        let longer = vec![(Zeroizing::new(b"ab".to_vec()), b"abc".to_vec())];
        assert!(!Replacer::new(longer).keeps_length());
    }

    #[test]
    fn the_finder_finds_placeholders_cut_across_chunks() {
        let text = b"---- the PLACEHOLDER here ----";
        for cut in 0..text.len() {
            let mut f = Finder::new(vec![("A".into(), b"PLACEHOLDER".to_vec())]);
            let first = f.push(&text[..cut]);
            let second = f.push(&text[cut..]);
            assert_eq!(first.or(second).as_deref(), Some("A"), "cut at {cut}");
        }
        let mut f = Finder::new(vec![("A".into(), b"PLACEHOLDER".to_vec())]);
        assert_eq!(f.push(b"PLACE"), None);
        assert_eq!(f.push(b"HOLDEX"), None);
    }
}
