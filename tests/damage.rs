//! The damage table: every way a stored backup can rot, for every
//! compression mode. Each case must fail with a one-line reason; not one may
//! exit 0, crash, or stay silent.

mod common;

use std::collections::BTreeMap;
use std::sync::Mutex;

use common::*;

/// Exit codes a damaged backup may produce: 6 (bad input), or 5 when the
/// damage is inside a key packet so that no key unwraps the session key.
const ALLOWED: [i32; 2] = [6, 5];

/// Words one of which every damage message contains.
const REASONS: [&str; 9] = [
    "truncated",
    "integrity check failed",
    "malformed",
    "damaged",
    "decompression failed",
    "not an OpenPGP",
    "trailing",
    "no given secret key opens",
    "not an encrypted",
];

struct Case {
    mode: &'static str,
    category: &'static str,
    what: String,
    bytes: Vec<u8>,
    /// The damage is inside the key packet of another recipient (escrow):
    /// the daily key still restores the exact plaintext (nothing wrong
    /// reaches the output), but that recipient can no longer open it.
    other_recipient_damaged: bool,
}

/// Byte ranges of the PKESK packets and the key ID (hex) each is for.
fn pkesk_ranges(msg: &[u8]) -> Vec<(usize, usize, String)> {
    let mut out = Vec::new();
    let mut at = 0;
    while msg[at] & 0x3f == 1 {
        let mut p = at + 1;
        let mut partial = false;
        let len = read_len(msg, &mut p, &mut partial);
        let keyid: String = msg[p + 1..p + 9]
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect();
        out.push((at, p + len, keyid));
        at = p + len;
    }
    out
}

/// Offsets where top-level packets and SEIPD partial-body chunks begin.
fn packet_boundaries(msg: &[u8]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < msg.len() {
        out.push(at);
        let ctb = msg[at];
        assert!(ctb & 0xC0 == 0xC0, "sealpipe writes new-format packets");
        let tag = ctb & 0x3f;
        let mut p = at + 1;
        let mut partial = false;
        let mut len = read_len(msg, &mut p, &mut partial);
        if tag == 18 {
            out.push(p); // the SEIPD version octet
            out.push(p + 1); // the first encrypted byte
        }
        while partial {
            p += len;
            out.push(p);
            len = read_len(msg, &mut p, &mut partial);
        }
        at = p + len;
    }
    out
}

fn read_len(msg: &[u8], p: &mut usize, partial: &mut bool) -> usize {
    let first = msg[*p] as usize;
    *partial = false;
    let (len, used) = match first {
        0..=191 => (first, 1),
        192..=223 => (((first - 192) << 8) + msg[*p + 1] as usize + 192, 2),
        255 => (
            u32::from_be_bytes(msg[*p + 1..*p + 5].try_into().unwrap()) as usize,
            5,
        ),
        _ => {
            *partial = true;
            (1 << (first & 0x1f), 1)
        }
    };
    *p += used;
    len
}

fn cases_for(mode: &'static str, msg: &[u8], daily_keyid: &str) -> Vec<Case> {
    let n = msg.len();
    let others: Vec<(usize, usize)> = pkesk_ranges(msg)
        .into_iter()
        .filter(|(_, _, id)| id != daily_keyid)
        .map(|(a, b, _)| (a, b))
        .collect();
    assert_eq!(others.len(), 1, "one escrow key packet");
    let mut cases = Vec::new();
    let mut add = |category, what: String, bytes: Vec<u8>| {
        cases.push(Case {
            mode,
            category,
            what,
            bytes,
            other_recipient_damaged: category == "bitflip-escrow-pkesk",
        })
    };

    // (a) truncation: every packet boundary, a spread inside, the last byte.
    let mut cuts: Vec<usize> = packet_boundaries(msg);
    cuts.extend((1..24).map(|i| n * i / 24));
    cuts.extend([1, 2, n - 22, n - 21, n - 2, n - 1]);
    cuts.sort();
    cuts.dedup();
    for cut in cuts.into_iter().filter(|&c| c < n) {
        add(
            "truncate",
            format!("cut at {cut} of {n}"),
            msg[..cut].to_vec(),
        );
    }

    // (b) one flipped bit: key packets, SEIPD header, body, the MDC at the end.
    let mut flips: Vec<usize> = (0..30).map(|i| n * i / 30).collect();
    flips.extend([3, 20, 100, n - 22, n - 21, n - 10, n - 1]);
    flips.extend(packet_boundaries(msg));
    // Every part of each key packet: header, version, key ID, algorithm, key material.
    for (start, end, _) in pkesk_ranges(msg) {
        flips.extend([
            start,
            start + 1,
            start + 2,
            start + 5,
            start + 11,
            start + 20,
            end - 1,
        ]);
    }
    flips.sort();
    flips.dedup();
    for (i, at) in flips.into_iter().filter(|&a| a < n).enumerate() {
        let mut bytes = msg.to_vec();
        bytes[at] ^= 1 << (i % 8);
        // Inside escrow's key packet but past its header: the packet still
        // parses, only escrow's wrapped session key is hurt.
        let escrow_only = others.iter().any(|&(a, b)| at >= a + 2 && at < b);
        let category = if escrow_only {
            "bitflip-escrow-pkesk"
        } else {
            "bitflip"
        };
        add(category, format!("bit {} at {at}", i % 8), bytes);
    }

    // (c) garbage appended.
    add("append", "one zero byte".into(), [msg, &[0u8]].concat());
    add(
        "append",
        "4 KiB of noise".into(),
        [msg, &sample_data(4096)].concat(),
    );
    add("append", "the message again".into(), [msg, msg].concat());

    // (d) two 4 KiB blocks of the body swapped.
    for (a, b) in [(n / 4, n / 2), (n / 3, 2 * n / 3)] {
        let mut bytes = msg.to_vec();
        let block = 4096.min(n / 8);
        let (first, second) = bytes.split_at_mut(b);
        first[a..a + block].swap_with_slice(&mut second[..block]);
        add("swap", format!("blocks at {a} and {b}"), bytes);
    }
    cases
}

#[test]
fn every_damaged_backup_fails_with_a_reason() {
    let env = TestEnv::new();
    env.daily_and_escrow();
    let plain = sample_data(400_000);
    let daily_keyid = encryption_keyids(&env.path("daily.cert.asc")).remove(0);
    let mut cases = Vec::new();
    for mode in ["zstd", "deflate", "none"] {
        let msg = env.run(&["encrypt", "-c", mode], &plain).ok().stdout;
        cases.extend(cases_for(mode, &msg, &daily_keyid));
    }

    let failures = Mutex::new(Vec::new());
    let counts = Mutex::new(BTreeMap::new());
    let next = Mutex::new(0usize);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| loop {
                let i = {
                    let mut n = next.lock().unwrap();
                    *n += 1;
                    *n - 1
                };
                let Some(case) = cases.get(i) else { break };
                let r = env.run(&["decrypt"], &case.bytes);
                if case.other_recipient_damaged {
                    // Undetectable without escrow's secret key; what matters
                    // is that the output is exactly right, and that escrow
                    // itself then fails loudly.
                    let escrow = env.run(&["decrypt", "--key", "escrow.key.asc"], &case.bytes);
                    if r.status != 0 || r.stdout != plain || !ALLOWED.contains(&escrow.status) {
                        failures.lock().unwrap().push(format!(
                            "{} {} {}: daily exit {} (output intact: {}), escrow exit {} {:?}",
                            case.mode,
                            case.category,
                            case.what,
                            r.status,
                            r.stdout == plain,
                            escrow.status,
                            escrow.stderr
                        ));
                    }
                    *counts
                        .lock()
                        .unwrap()
                        .entry((case.mode, case.category))
                        .or_insert(0) += 1;
                    continue;
                }
                let line_ok = r.stderr.lines().count() == 1
                    && r.stderr.starts_with("sealpipe: error:")
                    && REASONS.iter().any(|w| r.stderr.contains(w));
                if !ALLOWED.contains(&r.status) || !line_ok {
                    failures.lock().unwrap().push(format!(
                        "{} {} {}: exit {} stderr {:?}",
                        case.mode, case.category, case.what, r.status, r.stderr
                    ));
                }
                *counts
                    .lock()
                    .unwrap()
                    .entry((case.mode, case.category))
                    .or_insert(0) += 1;
            });
        }
    });

    let counts = counts.into_inner().unwrap();
    for ((mode, category), n) in &counts {
        let outcome = if *category == "bitflip-escrow-pkesk" {
            "daily restores exact bytes, escrow rejects"
        } else {
            "all rejected"
        };
        println!("damage table: {mode:8} {category:21} {n:3} cases, {outcome}");
    }
    let total: usize = counts.values().sum();
    let escrow_only: usize = counts
        .iter()
        .filter(|((_, c), _)| *c == "bitflip-escrow-pkesk")
        .map(|(_, n)| n)
        .sum();
    eprintln!(
        "damage table: {total} damaged backups; {} rejected with a reason, {escrow_only} with only \
         escrow's key packet damaged restore exactly with daily and are rejected by escrow",
        total - escrow_only
    );
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "{} of {total} damaged backups were not rejected properly:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(total > 150, "the table shrank to {total} cases");
}

/// verify (the test restore) and --verify-first agree with decrypt.
#[test]
fn verify_rejects_damage_too() {
    let env = TestEnv::new();
    env.daily_and_escrow();
    let msg = env.run(&["encrypt"], &sample_data(300_000)).ok().stdout;
    let mut flipped = msg.clone();
    let mid = msg.len() / 2;
    flipped[mid] ^= 0x80;
    for bytes in [&msg[..msg.len() - 5], &msg[..msg.len() / 3], &flipped[..]] {
        for args in [&["verify"][..], &["decrypt", "--verify-first"][..]] {
            let r = env.run(args, bytes);
            assert_eq!(r.status, 6, "{args:?}: {}", r.stderr);
            assert!(
                r.stdout.is_empty(),
                "{args:?} wrote output for a damaged backup"
            );
        }
    }
}
