//! Shared by the fuzz targets: the example keys, and the judgement of what
//! a library call returned for arbitrary bytes.
//!
//! sealpipe runs sequoia's parser under `catch_unwind` (the guard,
//! `decrypt::survive_parser_panic`), because sequoia 2.4 panics on some
//! malformed input. The guard turns *every* panic under it into
//! `Damage::ParserGaveUp { at }`, including a panic in sealpipe's own code
//! (its SEIPD reader, the zstd layer, the reader thread), and records where
//! the panic happened. So `judge` checks that place:
//! - a known place in sequoia (`KNOWN_SEQUOIA_PANICS`): fine, that is what
//!   the guard is for;
//! - anywhere else: a new sequoia bug or a panic in sealpipe; the target
//!   aborts so that someone fixes or reports it and lists it here.
#![allow(dead_code)]

use std::hash::{DefaultHasher, Hasher};
use std::io::Write;
use std::path::Path;
use std::sync::OnceLock;

use sealpipe::decrypt::{DecryptPlan, DecryptSummary, PlaintextDigest, Reader};
use sealpipe::error::Damage;
use sealpipe::keys::SecretKeyring;
use sealpipe::Error;

/// Places in sequoia known to panic on malformed input, as (file suffix,
/// line) of the panic location, for the sequoia version in Cargo.lock.
/// sequoia-openpgp 2.4.2, parse.rs:6367: `reader.data_consume_hard(bl +
/// 2).unwrap()` when a SEIPDv1 body is shorter than its random prefix plus
/// the reserved MDC (e.g. cut right after the SEIPD header).
pub const KNOWN_SEQUOIA_PANICS: &[(&str, u32)] = &[("sequoia-openpgp-2.4.2/src/parse.rs", 6367)];

/// The example daily key (keys-example/), loaded once.
pub fn keyring() -> &'static SecretKeyring {
    static RING: OnceLock<SecretKeyring> = OnceLock::new();
    RING.get_or_init(|| {
        let mut ring = SecretKeyring::default();
        ring.add(
            include_bytes!("../../../keys-example/daily.key.asc"),
            Path::new("daily.key.asc"),
        )
        .expect("the example key loads");
        ring
    })
}

/// Decrypt `data` through `reader`, as the library's callers do.
pub fn decrypt(data: &[u8], reader: Reader) -> sealpipe::Result<DecryptSummary> {
    let plan = DecryptPlan::new(keyring(), reader, PlaintextDigest::Sha256);
    sealpipe::decrypt::decrypt(&plan, data, &mut std::io::sink())
}

/// What a reader released: its length and a hash of it, so that a
/// message that decompresses far is not held in memory to be compared.
#[derive(Default)]
struct Released {
    len: u64,
    hash: DefaultHasher,
}

impl Write for Released {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.len += buf.len() as u64;
        // Streaming: the same bytes give the same hash in any pieces.
        self.hash.write(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Decrypt `message` through both readers, judge what each returned with
/// `judge`, and require one verdict: the same exit code (0 for success)
/// and the same bytes released. The two readers are two implementations
/// of one format (sealpipe's SEIPDv1 reader and sequoia's); any input on
/// which they differ is a bug in one of them.
pub fn one_verdict(what: &str, message: &[u8], judge: fn(&str, &sealpipe::Result<DecryptSummary>)) {
    let [fast, stock] = [Reader::Fast, Reader::Stock].map(|reader| {
        let plan = DecryptPlan::new(keyring(), reader, PlaintextDigest::Sha256);
        let mut released = Released::default();
        let result = sealpipe::decrypt::decrypt(&plan, message, &mut released);
        judge(what, &result);
        let exit = result.map_or_else(|e| e.exit_code(), |_| 0);
        (exit, released.len, released.hash.finish())
    });
    assert!(
        fast == stock,
        "{what}: the readers disagree: fast exit {} ({} bytes released), stock exit {} ({} bytes)",
        fast.0,
        fast.1,
        stock.0,
        stock.1
    );
}

/// Judge what a library call returned for arbitrary bytes: Ok, or an error
/// a damaged backup may give (bad input, no key). Anything else aborts the
/// run (libFuzzer records the input as a crash).
pub fn judge<T>(what: &str, result: &sealpipe::Result<T>) {
    match result {
        Ok(_) => {}
        Err(Error::BadInput(Damage::ParserGaveUp { at })) if is_known(at) => {}
        Err(Error::BadInput(Damage::ParserGaveUp { at })) => panic!(
            "{what}: a panic at {at} on this input. sealpipe survives it (exit 6), but it is not \
             a known sequoia panic: fix it if it is sealpipe's, else report it upstream and add \
             it to KNOWN_SEQUOIA_PANICS in fuzz/fuzz_targets/common/mod.rs"
        ),
        Err(Error::BadInput(_) | Error::Key(_)) => {}
        // From an in-memory input to io::sink() there is no I/O to fail, and
        // no config or policy is involved: any other error is a bug
        // (Internal: "a bug inside sealpipe"; Io: a damaged backup
        // misreported as a disk problem).
        Err(other) if ignored(&format!("{other:?}")) => {}
        Err(other) => panic!(
            "{what}: arbitrary input gave {other:?} (exit {}), not bad input (6) or no key (5)",
            other.exit_code()
        ),
    }
}

/// Judge what decrypting sealed `content` returned: as `judge`, and also
/// an origin verdict. Content sealed under an intact MDC is what a forger
/// who knows their own session key writes, so a signature that does not
/// parse, or one without its key, is theirs to put there: judged as a bad
/// or unknown signature (exit 10), never as damage.
pub fn judge_content<T>(what: &str, result: &sealpipe::Result<T>) {
    if !matches!(result, Err(Error::Origin(_))) {
        judge(what, result);
    }
}

/// SEALPIPE_FUZZ_IGNORE=TEXT: errors whose debug form contains TEXT pass,
/// to keep fuzzing past a known finding that is not fixed yet.
fn ignored(error: &str) -> bool {
    static IGNORE: OnceLock<Option<String>> = OnceLock::new();
    IGNORE
        .get_or_init(|| {
            std::env::var("SEALPIPE_FUZZ_IGNORE")
                .ok()
                .filter(|s| !s.is_empty())
        })
        .as_deref()
        .is_some_and(|text| error.contains(text))
}

fn is_known(at: &str) -> bool {
    KNOWN_SEQUOIA_PANICS.iter().any(|(file, line)| {
        at.rsplit_once(':')
            .is_some_and(|(f, l)| f.ends_with(file) && l == line.to_string())
    })
}

/// The guard's location check, tried once: if sequoia's known panic moved
/// (a new sequoia), every input would look like a new bug.
pub fn guard_message_is_known() {
    static CHECKED: OnceLock<()> = OnceLock::new();
    CHECKED.get_or_init(|| {
        // The known sequoia panic, through the stock reader: a SEIPD cut
        // off a few bytes into its body, shorter than the random prefix
        // plus the MDC that sequoia reserves.
        let seed = include_bytes!("../../corpus/decrypt/sealpipe-zstd.pgp");
        let seipd = seipd_start(seed);
        let places: Vec<String> = (seipd + 2..seipd + 60)
            .filter_map(|cut| match decrypt(&seed[..cut], Reader::Stock) {
                Err(Error::BadInput(Damage::ParserGaveUp { at })) => Some(at),
                _ => None,
            })
            .collect();
        if !places.iter().any(|at| is_known(at)) {
            panic!(
                "self-check: the known sequoia panic (a SEIPD cut right after its header, through \
                 the stock reader) is not where KNOWN_SEQUOIA_PANICS says: seen at {places:?}. \
                 Update KNOWN_SEQUOIA_PANICS in fuzz/fuzz_targets/common/mod.rs (or drop the \
                 check if sequoia was fixed)"
            );
        }
    });
}

/// Where the SEIPD packet starts in a sealpipe message (after its
/// new-format PKESKs with one- or two-byte lengths).
fn seipd_start(msg: &[u8]) -> usize {
    let mut at = 0;
    while msg[at] == 0xC1 {
        let first = msg[at + 1] as usize;
        at += if first < 192 {
            2 + first
        } else {
            3 + ((first - 192) << 8) + msg[at + 2] as usize + 192
        };
    }
    assert_eq!(msg[at], 0xD2, "a SEIPD packet follows the key packets");
    at
}
