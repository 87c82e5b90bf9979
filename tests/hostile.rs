//! Hostile input and hostile circumstances: authenticated release
//! (--verify-first), compression bombs, nesting, signals, and secrets kept
//! off the command line in every documented command.

mod common;

use std::fs;
use std::io::Write;
use std::process::Command;
use std::time::Duration;

use common::*;
use openpgp::parse::Parse;
use openpgp::policy::StandardPolicy;
use openpgp::serialize::stream::{Compressor, Encryptor, LiteralWriter, Message};
use openpgp::types::CompressionAlgorithm;
use sealpipe::openpgp;

/// A backup larger than decrypt's 4 MiB buffer with one flipped bit near the
/// end: plain streaming decrypt releases plaintext before it notices (as gpg
/// does) and fails; --verify-first releases nothing.
#[test]
fn verify_first_releases_nothing_unauthenticated() {
    let env = TestEnv::new();
    env.daily_and_escrow();
    let plain = sample_data(12_000_000);
    env.run(&["encrypt", "-c", "none", "-o", "good.pgp"], &plain)
        .ok();
    let mut bytes = fs::read(env.path("good.pgp")).unwrap();
    let at = bytes.len() - 100_000;
    bytes[at] ^= 0x01;
    env.write("bad.pgp", &bytes);

    let streaming = env.run(&["decrypt", "bad.pgp"], b"");
    assert_eq!(streaming.status, 6, "{}", streaming.stderr);
    assert!(
        !streaming.stdout.is_empty(),
        "precondition: streaming decrypt releases data before the MDC"
    );

    // From a file: two passes, nothing written.
    let r = env.run(&["decrypt", "--verify-first", "bad.pgp"], b"");
    assert_eq!(r.status, 6, "{}", r.stderr);
    assert!(
        r.stdout.is_empty(),
        "verify-first released {} bytes",
        r.stdout.len()
    );
    // From a pipe: spooled first, nothing written, spool gone.
    fs::create_dir(env.path("spool")).unwrap();
    let r = env.run(
        &["decrypt", "--verify-first", "--spool-dir", "spool"],
        &bytes,
    );
    assert_eq!(r.status, 6, "{}", r.stderr);
    assert!(r.stdout.is_empty());
    assert_eq!(
        fs::read_dir(env.path("spool")).unwrap().count(),
        0,
        "spool left behind"
    );

    // Good backups come out whole both ways.
    let good = fs::read(env.path("good.pgp")).unwrap();
    assert!(
        env.run(&["decrypt", "--verify-first", "good.pgp"], b"")
            .ok()
            .stdout
            == plain
    );
    let out = env
        .run(
            &["decrypt", "--verify-first", "--spool-dir", "spool"],
            &good,
        )
        .ok();
    assert!(out.stdout == plain);
    assert_eq!(fs::read_dir(env.path("spool")).unwrap().count(), 0);

    // No room to spool: an I/O failure that says what to do.
    env.run(
        &["decrypt", "--verify-first", "--spool-dir", "missing-dir"],
        &good,
    )
    .fails(7, "--spool-dir");
}

/// A tiny message that expands to gigabytes streams through in bounded
/// memory: decrypt runs under an address-space limit far below the output.
#[test]
fn compression_bombs_stream_in_bounded_memory() {
    let env = TestEnv::new();
    env.daily_and_escrow();
    for (mode, size) in [("zstd", "4G"), ("deflate", "1G")] {
        let bomb = env.path(&format!("bomb-{mode}.pgp"));
        let make = shell(
            &format!(
                "head -c {size} /dev/zero | SEALPIPE_CONFIG={} SEALPIPE_NOW={NOW} \
                 prlimit --as=1073741824 {BIN} encrypt -c {mode} -o {}",
                env.path("sealpipe.toml").display(),
                bomb.display()
            ),
            b"",
        );
        assert_eq!(make.status, 0, "{}", make.stderr);
        let bomb_len = fs::metadata(&bomb).unwrap().len();
        assert!(bomb_len < 20_000_000, "{mode} bomb is small: {bomb_len}");

        // 1 GiB of address space for a multi-GiB output (the limit is on
        // virtual memory, which counts thread stacks and allocator arenas).
        // pipefail: the status is sealpipe's, not only wc's.
        let mut pipeline = Command::new("bash");
        pipeline.args([
            "-o",
            "pipefail",
            "-c",
            &format!(
                "cd {} && SEALPIPE_CONFIG=sealpipe.toml prlimit --as=1073741824 {BIN} decrypt {} | wc -c",
                env.dir.path().display(),
                bomb.display()
            ),
        ]);
        let out = run_with_stdin(pipeline, b"");
        assert_eq!(out.status, 0, "{mode}: {}", out.stderr);
        assert!(out.stderr.is_empty(), "{mode}: {}", out.stderr);
        let expect: u64 = if size == "4G" { 4 << 30 } else { 1 << 30 };
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            expect.to_string(),
            "{mode}"
        );
    }
}

/// A message without integrity protection (SED, tag 9) is refused before
/// a byte is released: it can be modified undetectably.
#[test]
fn unprotected_sed_messages_are_refused() {
    let env = TestEnv::new();
    env.daily_and_escrow();
    let mut ct = env
        .run(&["encrypt", "-c", "none"], b"secret rows")
        .ok()
        .stdout;
    // Walk the packet headers (new format) to the SEIPD packet and turn its
    // tag into SED's.
    let mut at = 0;
    loop {
        let tag = ct[at] & 0x3f;
        if tag == 18 {
            break;
        }
        let (header, body) = match ct[at + 1] {
            l @ 0..=191 => (2, l as usize),
            l @ 192..=223 => (3, ((l as usize - 192) << 8) + ct[at + 2] as usize + 192),
            _ => panic!("unexpected length encoding in a key packet"),
        };
        at += header + body;
    }
    ct[at] = 0xC0 | 9;
    // Refused from the envelope, before any reader is chosen: one run.
    let r = env.run(&["decrypt"], &ct);
    assert_eq!(r.status, 6, "{}", r.stderr);
    assert!(r.stdout.is_empty(), "released {} bytes", r.stdout.len());
    assert!(r.stderr.contains("no integrity protection"), "{}", r.stderr);
    env.run(&["inspect"], &ct).fails(8, "conform");
    // SED has no version octet: inspect shows none, not its first byte.
    let report = env.run(&["inspect", "--json"], &ct);
    let report: serde_json::Value = serde_json::from_slice(&report.stdout).unwrap();
    assert_eq!(
        report[0]["seipd_version"],
        serde_json::Value::Null,
        "{report}"
    );
    let container = report[0]["container"].as_str().unwrap();
    assert!(
        container.starts_with("SED without integrity"),
        "{container}"
    );
}

/// Armored input with junk, or a second message, after the armor's end is
/// not silently accepted as the first message alone.
#[test]
fn bytes_after_the_armor_are_not_ignored_silently() {
    let env = TestEnv::new();
    env.daily_and_escrow();
    let armored = env.run(&["encrypt", "-a"], b"first").ok().stdout;
    let second = env.run(&["encrypt", "-a"], b"second").ok().stdout;
    // Trailing blank lines and whitespace are what mail and editors add: fine.
    let mut padded = armored.clone();
    padded.extend_from_slice(b"\n\n  \n");
    assert_eq!(env.run(&["decrypt"], &padded).ok().stdout, b"first");
    for tail in [b"garbage after the end\n".to_vec(), second] {
        let mut input = armored.clone();
        input.extend_from_slice(&tail);
        let r = env.run(&["decrypt"], &input);
        assert_eq!(r.status, 6, "exit {}: {}", r.status, r.stderr);
    }
}

/// Binary ciphertext is never written to a terminal.
#[test]
fn binary_output_to_a_terminal_is_refused() {
    let env = TestEnv::new();
    env.daily_and_escrow();
    env.write("in.txt", b"payload");
    // script(1) gives the command a pseudo-terminal as stdout.
    let on_terminal = |args: &str| {
        let r = shell(
            &format!(
                "cd {} && SEALPIPE_CONFIG=sealpipe.toml SEALPIPE_NOW={NOW} \
                 script -qec '{BIN} {args}; echo \"exit=$?\"' /dev/null",
                env.dir.path().display()
            ),
            b"",
        );
        String::from_utf8_lossy(&r.stdout).into_owned()
    };
    let screen = on_terminal("encrypt in.txt");
    assert!(
        screen.contains("refusing to write binary ciphertext to a terminal"),
        "{screen}"
    );
    assert!(screen.contains("exit=2"), "{screen}");
    // Armored output is text, and allowed.
    let screen = on_terminal("encrypt --armor in.txt");
    assert!(
        screen.contains("BEGIN PGP MESSAGE") && screen.contains("exit=0"),
        "{screen}"
    );
}

/// Compressed packets nested far deeper than any real message: a clear
/// error, no crash, no stack overflow.
#[test]
fn deeply_nested_compression_is_refused() {
    let env = TestEnv::new();
    let (daily, _) = env.daily_and_escrow();
    let cert = openpgp::Cert::from_file(&daily.cert).unwrap();
    let policy = StandardPolicy::new();
    let t = std::time::UNIX_EPOCH + Duration::from_secs(NOW);
    for depth in [3usize, 40] {
        let mut sink = Vec::new();
        {
            let keys = cert
                .keys()
                .with_policy(&policy, t)
                .supported()
                .for_storage_encryption();
            let mut message = Message::new(&mut sink);
            message = Encryptor::for_recipients(message, keys).build().unwrap();
            for _ in 0..depth {
                message = Compressor::new(message)
                    .algo(CompressionAlgorithm::Zip)
                    .build()
                    .unwrap();
            }
            let mut literal = LiteralWriter::new(message).build().unwrap();
            literal.write_all(b"nested payload").unwrap();
            literal.finalize().unwrap();
        }
        let r = env.run(&["decrypt"], &sink);
        if depth == 3 {
            assert_eq!(r.ok().stdout, b"nested payload");
        } else {
            assert_eq!(r.status, 6, "depth {depth}: {}", r.stderr);
            assert!(r.stdout.is_empty() || r.stdout != b"nested payload");
            assert_eq!(r.stderr.lines().count(), 1, "one line: {}", r.stderr);
        }
    }
}

/// SIGTERM or SIGINT in the middle of a backup: non-zero exit and no output
/// file, not even the temp file.
#[test]
fn a_signal_mid_stream_leaves_no_backup() {
    for signal in ["TERM", "INT", "HUP"] {
        let env = TestEnv::new();
        env.daily_and_escrow();
        let (child, stdin) =
            encrypt_under_way(&env, &["encrypt", "-o", "nightly.pgp"], env.dir.path());
        let kill = Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status()
            .unwrap();
        assert!(kill.success());
        let out = wait_within(child, Duration::from_secs(60));
        drop(stdin);
        let code = out.status.code();
        let want = match signal {
            "TERM" => 143,
            "INT" => 130,
            _ => 129,
        };
        assert_eq!(
            code,
            Some(want),
            "SIG{signal}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stderr).contains("interrupted by signal"));
        let left: Vec<String> = fs::read_dir(env.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains("nightly") || n.ends_with(".part"))
            .collect();
        assert!(left.is_empty(), "SIG{signal} left {left:?}");
    }
}

/// No documented command puts a secret on the command line: passphrases
/// come from files or fds only, in sealpipe and in the gpg commands we show.
#[test]
fn no_documented_command_puts_a_secret_in_argv() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("README.md"), root.join("keys-example/README.md")];
    for dir in [
        "docs",
        "scripts",
        "tests/systems",
        "bench",
        "contrib/bacula",
    ] {
        if let Ok(entries) = fs::read_dir(root.join(dir)) {
            files.extend(entries.map(|e| e.unwrap().path()));
        }
    }
    let forbidden = [
        "--passphrase ",
        "--passphrase=",
        "--password",
        "--pass ",
        "PASSPHRASE=",
        "--passphrase-file /dev/stdin",
        "echo $PASS",
    ];
    let mut checked = 0;
    for file in files.iter().filter(|f| f.is_file()) {
        let text = fs::read_to_string(file).unwrap();
        checked += 1;
        for (n, line) in text.lines().enumerate() {
            for bad in forbidden {
                assert!(
                    !line.contains(bad),
                    "{}:{}: a secret on the command line ({bad:?}): {line}",
                    file.display(),
                    n + 1
                );
            }
        }
    }
    assert!(checked >= 3, "found only {checked} documents to check");
    // The binary's own options: tests/cli.rs.
}

/// Issue 12.1: a small backup (it fits the hold-back) with one bit flipped
/// in its encrypted data releases not one byte, through either reader: the
/// whole message is authenticated before anything reaches stdout.
#[test]
fn a_tampered_small_backup_releases_nothing() {
    let env = TestEnv::new();
    env.daily_and_escrow();
    let plain = sample_data(2000);
    for mode in ["none", "zstd", "deflate"] {
        let mut ct = env.run(&["encrypt", "-c", mode], &plain).ok().stdout;
        // A bit in the CFB ciphertext, past the first block and before the MDC.
        let at = ct.len() - 40;
        ct[at] ^= 0x04;
        for reader in ["--reader=fast", "--reader=stock"] {
            let r = run_with_stdin(env.cmd(&["decrypt", reader]), &ct);
            assert_eq!(r.status, 6, "{mode} {reader}: {}", r.stderr);
            assert!(
                r.stdout.is_empty(),
                "{mode} {reader}: released {} unauthenticated bytes",
                r.stdout.len()
            );
        }
    }
}
