//! Hostile input and hostile circumstances: authenticated release
//! (--verify-first), compression bombs, nesting, signals, and secrets kept
//! off the command line in every documented command.

mod common;

use std::fs;
use std::io::Write;
use std::process::{Command, Stdio};
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
                "head -c {size} /dev/zero | SEALPIPE_CONFIG={} SEALPIPE_NOW={NOW} {BIN} encrypt -c {mode} -o {}",
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
        let out = shell(
            &format!(
                "cd {} && SEALPIPE_CONFIG=sealpipe.toml prlimit --as=1073741824 {BIN} decrypt {} | wc -c",
                env.dir.path().display(),
                bomb.display()
            ),
            b"",
        );
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
    for signal in ["TERM", "INT"] {
        let env = TestEnv::new();
        env.daily_and_escrow();
        let mut child = env
            .cmd(&["encrypt", "-o", "nightly.pgp"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(&sample_data(1_000_000)).unwrap();
        stdin.flush().unwrap();
        // Wait until the temp file exists, i.e. encryption is under way.
        let started = (0..200).any(|_| {
            std::thread::sleep(Duration::from_millis(25));
            fs::read_dir(env.dir.path())
                .unwrap()
                .any(|e| e.unwrap().file_name().to_string_lossy().ends_with(".part"))
        });
        assert!(started, "encrypt never created its temp file");
        let kill = Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status()
            .unwrap();
        assert!(kill.success());
        let out = child.wait_with_output().unwrap();
        drop(stdin);
        let code = out.status.code();
        let want = if signal == "TERM" { 143 } else { 130 };
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
    for dir in ["docs", "scripts", "tests/systems", "bench"] {
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
    // And the binary has no flag that takes a secret value.
    let help = Command::new(BIN)
        .args(["decrypt", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("--passphrase-file") && !help.contains("--passphrase <"));
}
