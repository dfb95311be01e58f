//! What the parsers' fuzz tests share, on stable Rust and without libFuzzer: a seeded PRNG
//! (splitmix64), mutators that edit seed inputs byte by byte, a shrinker, and [`run`], which
//! feeds generated inputs to a property and reports a failure with what replays it.
//!
//! Long because the generator, the mutators, the shrinker and the runner belong together:
//! every fuzz target uses all of them.
//!
//! A fuzz target is two plain functions. `generate` builds one input from an [`Rng`]:
//! usually a valid input, from a small grammar or a seed corpus (the unit tests' and the
//! documentation's examples), then edited by [`mutate`]. `check` feeds it to the parser and
//! panics when a property does not hold. A panic of the parser itself fails the same way,
//! and a case that takes longer than the timeout is reported as a hang. A failing input is
//! shrunk (parts removed while it still fails) before it is reported.
//!
//! The environment sets a run:
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `SEC_FUZZ_ITERATIONS` | cases per target | each target's own, small |
//! | `SEC_FUZZ_SEED` | the seed, decimal or `0x` hex | [`DEFAULT_SEED`], so CI is reproducible |
//! | `SEC_FUZZ_CASE` | run only this case of the seed (a report says which) | all |
//! | `SEC_FUZZ_TIMEOUT` | seconds a case may take before it counts as a hang | 10 |

use std::any::Any;
use std::borrow::Borrow;
use std::cell::Cell;
use std::fmt;
use std::iter;
use std::ops::{Deref, Range};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Once};
use std::thread;
use std::time::{Duration, Instant};

/// A secret-looking value the generators plant in inputs; error messages must not repeat
/// it. Upper case, digits and `-`, so no parser can take it for a scheme or a variable name.
pub const MARKER: &str = "pL4nTeD-S3cr3t";

/// The seed when `SEC_FUZZ_SEED` is unset.
pub const DEFAULT_SEED: u64 = 0x5EC_F022;

/// The longest input a mutation leaves.
pub const MAX_LEN: usize = 16 * 1024;

/// How long shrinking a failing input may take, and how many candidates it may try.
const SHRINK_TIME: Duration = Duration::from_secs(20);
const SHRINK_TRIES: usize = 5000;

/// Text that parsers treat specially, for insertions and replacements.
const INTERESTING: &[&str] = &[
    "\0", "\n", "\r\n", "\r", "\t", " ", "\\", "\"", "'", "#", ";", "=", ":", "[", "]", "{", "}",
    ",", "/", "~", "*", "-", ".", "..", "$", "`", "|", "\u{7f}", "\u{85}", "\u{a0}", "\u{feff}",
    "\u{2028}", "\u{fffd}", "é", "🦀", MARKER,
];

/// splitmix64: tiny, fast, and every seed gives a full-period stream.
#[derive(Debug, Clone)]
pub struct Rng {
    state: u64,
}

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.state)
    }

    /// A number in `0..n`. `n` must not be 0.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// True one time in `n`.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// A size in `0..=max`, small ones far more often: most bugs need few bytes.
    pub fn size(&mut self, max: usize) -> usize {
        let bound = self.below(max + 1);
        self.below(bound + 1)
    }

    pub fn byte(&mut self) -> u8 {
        self.next_u64() as u8
    }

    /// A short run of ASCII letters and digits (never empty).
    pub fn word(&mut self) -> String {
        const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        (0..1 + self.size(11))
            .map(|_| char::from(*self.pick(CHARS)))
            .collect()
    }
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Applies one to eight random edits to `data`: bit flips, random bytes, insertions,
/// deletions, a range copied elsewhere, a token (of `dictionary` or one parsers treat
/// specially) inserted, put in place of a range or repeated hundreds of times, a cut.
pub fn mutate<T: AsRef<[u8]>>(rng: &mut Rng, data: &mut Vec<u8>, dictionary: &[T]) {
    for _ in 0..1 + rng.size(7) {
        edit(rng, data, dictionary);
    }
    data.truncate(MAX_LEN);
}

fn edit<T: AsRef<[u8]>>(rng: &mut Rng, data: &mut Vec<u8>, dictionary: &[T]) {
    let len = data.len();
    let at = rng.below(len + 1);
    match rng.below(10) {
        0 if len > 0 => {
            let i = rng.below(len);
            data[i] ^= 1 << rng.below(8);
        }
        1 if len > 0 => {
            let i = rng.below(len);
            data[i] = rng.byte();
        }
        2 => {
            let bytes: Vec<u8> = (0..1 + rng.size(7)).map(|_| rng.byte()).collect();
            data.splice(at..at, bytes);
        }
        3 if len > 0 => {
            let start = rng.below(len);
            let end = start + 1 + rng.size(len - start - 1);
            data.drain(start..end);
        }
        4 if len > 0 => {
            let start = rng.below(len);
            let end = start + 1 + rng.size((len - start - 1).min(64));
            let chunk = data[start..end].to_vec();
            data.splice(at..at, chunk);
        }
        5 if len > 0 => {
            let start = rng.below(len);
            let end = (start + 1 + rng.size(8)).min(len);
            let token = token(rng, dictionary).to_vec();
            data.splice(start..end, token);
        }
        6 => {
            let repeated = token(rng, dictionary).repeat(1 + rng.size(300));
            data.splice(at..at, repeated);
        }
        7 if len > 0 => data.truncate(rng.below(len)),
        _ => {
            let token = token(rng, dictionary).to_vec();
            data.splice(at..at, token);
        }
    }
}

fn token<'a, T: AsRef<[u8]>>(rng: &mut Rng, dictionary: &'a [T]) -> &'a [u8] {
    if dictionary.is_empty() || rng.one_in(3) {
        rng.pick(INTERESTING).as_bytes()
    } else {
        rng.pick(dictionary).as_ref()
    }
}

/// `text` edited by [`mutate`]; bytes that no longer form UTF-8 become U+FFFD.
pub fn mutate_text(rng: &mut Rng, text: &str, dictionary: &[&str]) -> String {
    let mut bytes = text.as_bytes().to_vec();
    mutate(rng, &mut bytes, dictionary);
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Up to 64 random bytes and tokens (of `dictionary` or ones parsers treat specially).
pub fn noise<T: AsRef<[u8]>>(rng: &mut Rng, dictionary: &[T]) -> Vec<u8> {
    let mut out = Vec::new();
    for _ in 0..rng.size(64) {
        if rng.one_in(2) {
            out.push(rng.byte());
        } else {
            out.extend_from_slice(token(rng, dictionary));
        }
    }
    out
}

/// One text input: built by `grammar` (two times in three) or one of `seeds`, then edited
/// by [`mutate_text`] three times in four (sometimes splicing in parts of other seeds);
/// one time in sixteen [`noise`] instead.
pub fn text_case(
    rng: &mut Rng,
    seeds: &[&str],
    dictionary: &[&str],
    grammar: fn(&mut Rng) -> String,
) -> String {
    if rng.one_in(16) {
        return String::from_utf8_lossy(&noise(rng, dictionary)).into_owned();
    }
    let base = if seeds.is_empty() || rng.below(3) > 0 {
        grammar(rng)
    } else {
        rng.pick(seeds).to_string()
    };
    if rng.one_in(4) {
        return base;
    }
    let tokens = if !seeds.is_empty() && rng.one_in(4) {
        seeds
    } else {
        dictionary
    };
    mutate_text(rng, &base, tokens)
}

/// `text` with every ASCII letter and digit replaced by the next one (`a`→`b`, `z`→`a`,
/// `9`→`0`): the same shape with other content. A message that depends only on an input's
/// shape is the same for both; one that quotes the input is not.
pub fn scramble(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            'z' => 'a',
            'Z' => 'A',
            '9' => '0',
            'a'..='y' | 'A'..='Y' | '0'..='8' => char::from(c as u8 + 1),
            other => other,
        })
        .collect()
}

/// An input the runner can make smaller while it still fails: a sequence of units (bytes,
/// characters) of which ranges can be removed. Structured inputs keep the defaults and are
/// reported as generated.
pub trait Shrink: Sized {
    fn units(&self) -> usize {
        0
    }

    /// `self` without the units in `range`.
    fn without(&self, _range: Range<usize>) -> Option<Self> {
        None
    }

    /// Where natural pieces start (lines of a text), tried as a whole before smaller ranges.
    fn piece_starts(&self) -> Vec<usize> {
        Vec::new()
    }
}

/// Binary input, shown as a byte string literal (`b"age-encryption.org/v1\n..."`).
#[derive(Clone, PartialEq, Eq)]
pub struct Bytes(pub Vec<u8>);

impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("b\"")?;
        for &byte in &self.0 {
            write!(f, "{}", std::ascii::escape_default(byte))?;
        }
        f.write_str("\"")
    }
}

impl Borrow<[u8]> for Bytes {
    fn borrow(&self) -> &[u8] {
        &self.0
    }
}

impl Deref for Bytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl Shrink for Bytes {
    fn units(&self) -> usize {
        self.0.len()
    }

    fn without(&self, range: Range<usize>) -> Option<Self> {
        let mut out = self.0[..range.start].to_vec();
        out.extend_from_slice(&self.0[range.end..]);
        Some(Bytes(out))
    }

    fn piece_starts(&self) -> Vec<usize> {
        let after_newlines = self.0.iter().enumerate().filter(|(_, b)| **b == b'\n');
        iter::once(0)
            .chain(after_newlines.map(|(i, _)| i + 1))
            .collect()
    }
}

impl Shrink for String {
    fn units(&self) -> usize {
        self.chars().count()
    }

    fn without(&self, range: Range<usize>) -> Option<Self> {
        Some(
            self.chars()
                .enumerate()
                .filter(|(i, _)| !range.contains(i))
                .map(|(_, c)| c)
                .collect(),
        )
    }

    fn piece_starts(&self) -> Vec<usize> {
        let after_newlines = self.chars().enumerate().filter(|(_, c)| *c == '\n');
        iter::once(0)
            .chain(after_newlines.map(|(i, _)| i + 1))
            .collect()
    }
}

/// How one run goes, from the environment.
#[derive(Debug, Clone)]
struct Settings {
    seed: u64,
    iterations: u64,
    only_case: Option<u64>,
    timeout: Duration,
}

impl Settings {
    fn from_env(default_iterations: u64) -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let number = |name: &str| {
            var(name).map(|text| {
                parse_number(&text).unwrap_or_else(|| {
                    panic!("{name}={text:?} is not a number (decimal, or hex after `0x`)")
                })
            })
        };
        Self {
            seed: number("SEC_FUZZ_SEED").unwrap_or(DEFAULT_SEED),
            iterations: number("SEC_FUZZ_ITERATIONS").unwrap_or(default_iterations),
            only_case: number("SEC_FUZZ_CASE"),
            timeout: Duration::from_secs(number("SEC_FUZZ_TIMEOUT").unwrap_or(10)),
        }
    }

    fn cases(&self) -> Range<u64> {
        match self.only_case {
            Some(case) => case..case + 1,
            None => 0..self.iterations,
        }
    }
}

fn parse_number(text: &str) -> Option<u64> {
    let text = text.trim().replace('_', "");
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

/// The generator of one case: a function of the seed, the target and the case number
/// only, so a case replays without the ones before it.
fn case_rng(seed: u64, name: &str, case: u64) -> Rng {
    let target = name.bytes().fold(0xCBF2_9CE4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01B3)
    });
    Rng::new(mix(mix(seed ^ target).wrapping_add(case)))
}

/// Runs `check` on `SEC_FUZZ_ITERATIONS` (else `default_iterations`) inputs from
/// `generate`, and panics with the minimized input and the command that replays it when
/// `check` panics on one or a case does not finish within `SEC_FUZZ_TIMEOUT`. `name` is
/// the test's name, for that command. `check` may take the input borrowed (`&str` for a
/// `String`, `&[u8]` for [`Bytes`]).
pub fn run<I, C>(
    name: &'static str,
    default_iterations: u64,
    generate: fn(&mut Rng) -> I,
    check: fn(&C),
) where
    I: Borrow<C> + Shrink + fmt::Debug + Send + 'static,
    C: ?Sized + 'static,
{
    run_with(
        Settings::from_env(default_iterations),
        name,
        generate,
        check,
    );
}

fn run_with<I, C>(
    settings: Settings,
    name: &'static str,
    generate: fn(&mut Rng) -> I,
    check: fn(&C),
) where
    I: Borrow<C> + Shrink + fmt::Debug + Send + 'static,
    C: ?Sized + 'static,
{
    let started = Instant::now();
    let cases = settings.cases();
    let progress = Arc::new(AtomicU64::new(cases.start));
    // The cases run on their own thread, so this one can tell a hang and report it.
    let worker = {
        let progress = Arc::clone(&progress);
        let settings = settings.clone();
        thread::Builder::new()
            .name(format!("fuzz {name}"))
            .spawn(move || run_cases(&settings, name, generate, check, &progress))
            .expect("cannot start a fuzz thread")
    };
    let mut seen = progress.load(Ordering::Relaxed);
    let mut since = Instant::now();
    while !worker.is_finished() {
        thread::sleep(Duration::from_millis(5));
        let now = progress.load(Ordering::Relaxed);
        if now != seen {
            (seen, since) = (now, Instant::now());
        } else if since.elapsed() > settings.timeout {
            // The worker is stuck; it is left behind and ends with the test process.
            let input = generate(&mut case_rng(settings.seed, name, now));
            let what = format!("case {now} did not finish within {:?}", settings.timeout);
            panic!("{}", report(&settings, name, now, &what, &input));
        }
    }
    match worker.join() {
        Ok(None) => eprintln!(
            "fuzz {name}: {} cases of seed {:#x} in {:.2?}",
            cases.end - cases.start,
            settings.seed,
            started.elapsed()
        ),
        Ok(Some(failure)) => panic!("{failure}"),
        Err(panic) => panic::resume_unwind(panic),
    }
}

fn run_cases<I: Borrow<C> + Shrink + fmt::Debug, C: ?Sized>(
    settings: &Settings,
    name: &str,
    generate: fn(&mut Rng) -> I,
    check: fn(&C),
    progress: &AtomicU64,
) -> Option<String> {
    install_quiet_hook();
    for case in settings.cases() {
        progress.store(case, Ordering::Relaxed);
        let input = generate(&mut case_rng(settings.seed, name, case));
        if let Err(first) = panic::catch_unwind(AssertUnwindSafe(|| check(input.borrow()))) {
            let small = shrink(input, check);
            let message = match panic::catch_unwind(AssertUnwindSafe(|| check(small.borrow()))) {
                Err(payload) => panic_message(payload.as_ref()),
                Ok(()) => panic_message(first.as_ref()),
            };
            return Some(report(settings, name, case, &message, &small));
        }
    }
    None
}

/// Removes whole pieces (one to three lines of a text), then ever smaller ranges of
/// `input`, then short ranges anywhere, as long as `check` still panics without them.
fn shrink<I: Borrow<C> + Shrink, C: ?Sized>(mut input: I, check: fn(&C)) -> I {
    let started = Instant::now();
    let tries = Cell::new(0);
    let fails = |candidate: &I| {
        tries.set(tries.get() + 1);
        QUIET.with(|quiet| quiet.set(true));
        let failed = panic::catch_unwind(AssertUnwindSafe(|| check(candidate.borrow()))).is_err();
        QUIET.with(|quiet| quiet.set(false));
        failed
    };
    let budget_left = || tries.get() < SHRINK_TRIES && started.elapsed() < SHRINK_TIME;
    for run in [3, 2, 1] {
        let mut at = 0;
        loop {
            let mut starts = input.piece_starts();
            starts.push(input.units());
            let Some(range) = starts.get(at).zip(starts.get(at + run)) else {
                break;
            };
            match input.without(*range.0..*range.1) {
                Some(candidate) if budget_left() && fails(&candidate) => input = candidate,
                _ => at += 1,
            }
        }
    }
    let mut chunk = (input.units() / 2).max(1);
    while input.units() > 0 && budget_left() {
        let mut start = 0;
        let mut removed = false;
        while start < input.units() && budget_left() {
            let end = (start + chunk).min(input.units());
            match input.without(start..end) {
                Some(candidate) if fails(&candidate) => {
                    input = candidate;
                    removed = true;
                }
                Some(_) => start += chunk,
                None => return input,
            }
        }
        if !removed {
            if chunk == 1 {
                break;
            }
            chunk /= 2;
        }
    }
    // Short ranges anywhere, not only at multiples of their length (`,"":""` in JSON).
    let mut removed = true;
    while removed && budget_left() {
        removed = false;
        for len in (1..=8).rev() {
            let mut start = 0;
            while start + len <= input.units() && budget_left() {
                match input.without(start..start + len) {
                    Some(candidate) if fails(&candidate) => {
                        input = candidate;
                        removed = true;
                    }
                    _ => start += 1,
                }
            }
        }
    }
    input
}

thread_local! {
    /// Set while shrinking, so the many expected panics print nothing.
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

/// Wraps the panic hook once so that panics on a thread with [`QUIET`] set print nothing.
fn install_quiet_hook() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !QUIET.with(Cell::get) {
                previous(info);
            }
        }));
    });
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "a panic without a message".to_owned()
    }
}

fn report(
    settings: &Settings,
    name: &str,
    case: u64,
    what: &str,
    input: &impl fmt::Debug,
) -> String {
    let package = std::env::var("CARGO_PKG_NAME").unwrap_or_else(|_| "CRATE".to_owned());
    format!(
        "fuzz target `{name}` failed on case {case} of seed {seed:#x}: {what}\n\
         input (minimized): {input:?}\n\
         replay: SEC_FUZZ_SEED={seed:#x} SEC_FUZZ_CASE={case} cargo test -p {package} {name}",
        seed = settings.seed,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(iterations: u64) -> Settings {
        Settings {
            seed: 7,
            iterations,
            only_case: None,
            timeout: Duration::from_secs(10),
        }
    }

    fn failure_of(run: impl FnOnce()) -> String {
        let payload = panic::catch_unwind(AssertUnwindSafe(run)).unwrap_err();
        panic_message(payload.as_ref())
    }

    impl Shrink for u64 {}

    #[test]
    fn cases_depend_on_seed_target_and_number_only() {
        let draw = |seed, name, case| case_rng(seed, name, case).next_u64();
        assert_eq!(draw(1, "a", 5), draw(1, "a", 5));
        assert_ne!(draw(1, "a", 5), draw(2, "a", 5));
        assert_ne!(draw(1, "a", 5), draw(1, "b", 5));
        assert_ne!(draw(1, "a", 5), draw(1, "a", 6));
        let mut rng = Rng::new(3);
        assert!((0..1000).all(|_| rng.below(7) < 7 && rng.size(5) <= 5));
    }

    #[test]
    fn bytes_show_as_a_literal() {
        let bytes = Bytes(b"age\n\"\xff".to_vec());
        assert_eq!(format!("{bytes:?}"), r#"b"age\n\"\xff""#);
    }

    #[test]
    fn numbers_are_decimal_or_hex() {
        assert_eq!(parse_number("42"), Some(42));
        assert_eq!(parse_number("0x5EC_F022"), Some(DEFAULT_SEED));
        assert_eq!(parse_number("soon"), None);
    }

    #[test]
    fn scramble_keeps_the_shape() {
        assert_eq!(scramble("keyring:az/Z9 é-"), "lfzsjoh:ba/A0 é-");
    }

    #[test]
    fn mutations_stay_bounded() {
        let mut rng = Rng::new(1);
        let mut data = b"[pypi]\npassword = x\n".to_vec();
        for _ in 0..2000 {
            mutate(&mut rng, &mut data, &["[", "password"]);
            assert!(data.len() <= MAX_LEN);
        }
    }

    #[test]
    fn a_failure_reports_the_minimized_input_and_the_replay() {
        fn generate(rng: &mut Rng) -> String {
            format!("{}needle{}", rng.word(), rng.word())
        }
        fn check(input: &str) {
            assert!(!input.contains("needle"), "found it");
        }
        let message = failure_of(|| run_with(settings(10), "finds_needles", generate, check));
        assert!(
            message.contains("failed on case 0 of seed 0x7: found it"),
            "{message}"
        );
        assert!(
            message.contains("input (minimized): \"needle\""),
            "{message}"
        );
        assert!(
            message.contains("replay: SEC_FUZZ_SEED=0x7 SEC_FUZZ_CASE=0 cargo test -p"),
            "{message}"
        );
    }

    #[test]
    fn a_case_that_does_not_finish_is_reported() {
        fn generate(rng: &mut Rng) -> Bytes {
            Bytes(vec![rng.byte()])
        }
        fn check(input: &[u8]) {
            if input[0].is_multiple_of(4) {
                thread::sleep(Duration::from_secs(2));
            }
        }
        let settings = Settings {
            timeout: Duration::from_millis(200),
            ..settings(100)
        };
        let message = failure_of(|| run_with(settings, "finds_hangs", generate, check));
        assert!(message.contains("did not finish within 200ms"), "{message}");
        assert!(message.contains("SEC_FUZZ_CASE="), "{message}");
    }

    #[test]
    fn one_case_replays_alone() {
        fn generate(rng: &mut Rng) -> u64 {
            rng.next_u64()
        }
        fn check(_: &u64) {}
        let only = Settings {
            only_case: Some(3),
            ..settings(1)
        };
        assert_eq!(only.cases(), 3..4);
        run_with(only, "replays", generate, check);
    }
}
