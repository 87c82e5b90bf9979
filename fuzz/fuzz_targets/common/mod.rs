//! Shared by the fuzz targets: the example keys, and the judgement of what
//! a library call returned for arbitrary bytes.
//!
//! sealpipe runs sequoia's parser under `catch_unwind` (the guard,
//! `decrypt::survive_parser_panic`), because sequoia 2.4 panics on some
//! malformed input. The guard turns *every* panic under it into a
//! "malformed" error, including a panic in sealpipe's own code (its SEIPD
//! reader, the zstd layer, the reader thread). So when the guard's message
//! comes back, `judge` replays the input through sequoia alone, with a panic
//! hook that records where it panicked:
//! - sequoia panics at a known place (`KNOWN_SEQUOIA_PANICS`): fine, that is
//!   what the guard is for;
//! - sequoia panics elsewhere: a new sequoia bug; sealpipe survives it, but
//!   the target aborts so that someone reports it and lists it here;
//! - sequoia does not panic: the panic was in sealpipe's code. Abort.
#![allow(dead_code)]

use std::io::Read;
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use sealpipe::decrypt::unwrap_session_key;
use sealpipe::keys::SecretKeyring;
use sealpipe::openpgp;
use sealpipe::Error;

use openpgp::crypto::SessionKey;
use openpgp::packet::{Packet, PKESK, SKESK};
use openpgp::parse::stream::{
    DecryptionHelper, DecryptorBuilder, MessageStructure, VerificationHelper,
};
use openpgp::parse::{PacketParser, PacketParserResult, Parse};
use openpgp::policy::StandardPolicy;
use openpgp::types::SymmetricAlgorithm;
use openpgp::{Cert, KeyHandle};

/// The start of the message the guard returns (src/decrypt.rs,
/// `survive_parser_panic`). If that message changes, change this too: the
/// `guard_message_is_known` check at start-up fails until it matches.
pub const GUARD_MESSAGE: &str =
    "the backup is malformed (truncated or damaged where the OpenPGP parser cannot continue)";

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

/// Judge what a library call returned for arbitrary `data`: Ok, or an error
/// a damaged backup may give (bad input, no key). Anything else aborts the
/// run (libFuzzer records the input as a crash).
pub fn judge<T>(what: &str, data: &[u8], result: &sealpipe::Result<T>) {
    match result {
        Ok(_) => {}
        Err(Error::BadInput(sealpipe::error::Damage::Described(message))) if message.starts_with(GUARD_MESSAGE) => {
            replay_in_sequoia(what, data)
        }
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

/// The guard caught a panic: find out whose.
fn replay_in_sequoia(what: &str, data: &[u8]) {
    match sequoia_panic(data) {
        Some(at) if is_known(&at) => {}
        Some(at) => panic!(
            "{what}: sequoia panics at {at} on this input. sealpipe survives it (exit 6), but it \
             is not a known sequoia panic: report it upstream, then add it to KNOWN_SEQUOIA_PANICS \
             in fuzz/fuzz_targets/common/mod.rs"
        ),
        None => panic!(
            "{what}: sealpipe's panic guard (survive_parser_panic) caught a panic that sequoia \
             alone does not reproduce on this input: a panic in sealpipe's own code (SEIPD \
             reader, zstd layer, reader thread) was reported as a damaged backup. Find it with: \
             gdb -ex 'break rust_panic' -ex run --args fuzz/target/x86_64-unknown-linux-gnu/release/<target> <this input>"
        ),
    }
}

fn is_known(at: &str) -> bool {
    KNOWN_SEQUOIA_PANICS.iter().any(|(file, line)| {
        at.rsplit_once(':')
            .is_some_and(|(f, l)| f.ends_with(file) && l == line.to_string())
    })
}

/// Run `data` through sequoia the ways sealpipe uses it (a packet parser
/// walking everything, decrypting with the example key; the streaming
/// decryptor), and return where sequoia panicked, if it did.
pub fn sequoia_panic(data: &[u8]) -> Option<String> {
    let location = Arc::new(Mutex::new(None::<String>));
    let previous = panic::take_hook();
    let record = Arc::clone(&location);
    panic::set_hook(Box::new(move |info| {
        let at = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_else(|| "an unknown location".into());
        record
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert(at);
    }));
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
        walk(data);
        stream(data);
    }));
    panic::set_hook(previous);
    let at = location.lock().unwrap_or_else(|e| e.into_inner()).take();
    outcome
        .err()
        .map(|_| at.unwrap_or_else(|| "an unknown location".into()))
}

/// Every packet, recursing into containers, decrypting SEIPD with the key.
fn walk(data: &[u8]) {
    let Ok(mut ppr) = PacketParser::from_bytes(data) else {
        return;
    };
    let mut pkesks: Vec<PKESK> = Vec::new();
    while let PacketParserResult::Some(mut pp) = ppr {
        match &pp.packet {
            Packet::PKESK(p) => pkesks.push(p.clone()),
            Packet::SEIP(_) => {
                let mut found = None;
                let _ = unwrap_session_key(keyring(), &pkesks, None, |algo, sk| {
                    found = Some((algo, sk.clone()));
                    true
                });
                if let Some((algo, sk)) = found {
                    let _ = pp.decrypt(algo, &sk);
                }
            }
            _ => {}
        }
        if let Packet::Literal(_) = pp.packet {
            let _ = std::io::copy(&mut pp, &mut std::io::sink());
        }
        ppr = match pp.recurse() {
            Ok((_, next)) => next,
            Err(_) => return,
        };
    }
}

/// sequoia's streaming decryptor, as sealpipe's stock reader drives it.
fn stream(data: &[u8]) {
    let policy = StandardPolicy::new();
    let Ok(builder) = DecryptorBuilder::from_bytes(data) else {
        return;
    };
    let Ok(mut decryptor) = builder
        .buffer_size(sealpipe::decrypt::DECRYPT_BUFFER_SIZE)
        .with_policy(&policy, None, Helper)
    else {
        return;
    };
    let mut buf = vec![0u8; 64 * 1024];
    while let Ok(n) = decryptor.read(&mut buf) {
        if n == 0 {
            break;
        }
    }
}

struct Helper;

impl VerificationHelper for Helper {
    fn get_certs(&mut self, _ids: &[KeyHandle]) -> openpgp::Result<Vec<Cert>> {
        Ok(Vec::new())
    }
    fn check(&mut self, _structure: MessageStructure) -> openpgp::Result<()> {
        Ok(())
    }
}

impl DecryptionHelper for Helper {
    fn decrypt(
        &mut self,
        pkesks: &[PKESK],
        _skesks: &[SKESK],
        sym_algo: Option<SymmetricAlgorithm>,
        decrypt: &mut dyn FnMut(Option<SymmetricAlgorithm>, &SessionKey) -> bool,
    ) -> openpgp::Result<Option<Cert>> {
        let _ = unwrap_session_key(keyring(), pkesks, sym_algo, |a, sk| decrypt(a, sk));
        Ok(None)
    }
}

/// The guard's message, checked once: if src/decrypt.rs rewords it, the
/// targets would silently stop telling sealpipe's panics from sequoia's.
pub fn guard_message_is_known() {
    static CHECKED: OnceLock<()> = OnceLock::new();
    CHECKED.get_or_init(|| {
        // The known sequoia panic, through the stock reader: a SEIPD cut
        // off a few bytes into its body, shorter than the random prefix
        // plus the MDC that sequoia reserves.
        let seed = include_bytes!("../../corpus/decrypt/sealpipe-zstd.pgp");
        let seipd = seipd_start(seed);
        std::env::set_var(sealpipe::decrypt::STOCK_READER_ENV, "1");
        let guarded = (seipd + 2..seipd + 60).find_map(|cut| {
            match sealpipe::decrypt::decrypt(keyring(), &seed[..cut], &mut std::io::sink(), true) {
                Err(Error::BadInput(sealpipe::error::Damage::Described(m))) if m.starts_with(GUARD_MESSAGE) => Some(cut),
                _ => None,
            }
        });
        std::env::remove_var(sealpipe::decrypt::STOCK_READER_ENV);
        let r = match guarded {
            Some(cut) => match sequoia_panic(&seed[..cut]) {
                Some(at) if is_known(&at) => Ok(()),
                Some(at) => Err(format!("sequoia now panics at {at}")),
                None => Err("sequoia alone does not panic".into()),
            },
            None => Err("no cut gives the guard's message".into()),
        };
        if let Err(why) = r {
            panic!(
                "self-check: the known sequoia panic (a SEIPD cut right after its header, through \
                 the stock reader) is not recognised: {why}. Update GUARD_MESSAGE or \
                 KNOWN_SEQUOIA_PANICS in fuzz/fuzz_targets/common/mod.rs (or drop the check if \
                 sequoia was fixed)"
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
