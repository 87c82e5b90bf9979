//! Issue 2: the core filter through the real binary, with real gpg.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;

use common::*;
use openpgp::cert::Preferences;
use openpgp::packet::Tag;
use openpgp::parse::Parse;
use openpgp::serialize::Serialize;
use sealpipe::openpgp;

const MODES: [&str; 3] = ["zstd", "deflate", "none"];

fn encrypt(env: &TestEnv, mode: &str, plain: &[u8]) -> Vec<u8> {
    env.run(&["encrypt", "-c", mode], plain).ok().stdout
}

#[test]
fn round_trip_every_mode_and_size() {
    let env = TestEnv::new();
    env.daily_and_escrow();
    let big = sample_data(5 * 1024 * 1024 + 17);
    for mode in MODES {
        for plain in [&b""[..], b"x", &big] {
            let ct = encrypt(&env, mode, plain);
            let back = env.run(&["decrypt"], &ct).ok().stdout;
            assert!(
                back == plain,
                "{mode}: {} bytes differ after round trip",
                plain.len()
            );
        }
    }
}

#[test]
fn amanda_convention_no_args_encrypts_and_dash_d_decrypts() {
    let env = TestEnv::new();
    env.daily_and_escrow();
    let plain = sample_data(100_000);
    let ct = env.run(&[], &plain).ok().stdout;
    assert_eq!(&ct[..1], &[0xc1], "binary OpenPGP (PKESK packet) expected");
    assert_eq!(env.run(&["-d"], &ct).ok().stdout, plain);
}

#[test]
fn recipients_are_exactly_the_pinned_set_in_seipd_v1() {
    let env = TestEnv::new();
    let (daily, escrow) = env.daily_and_escrow();
    let ct = encrypt(&env, "zstd", b"hello");
    let (mut recipients, tags, seipd) = message_shape(&ct);
    let mut expected = encryption_keyids(&daily.cert);
    expected.extend(encryption_keyids(&escrow.cert));
    recipients.sort();
    expected.sort();
    assert_eq!(recipients, expected);
    assert_eq!(tags, vec![Tag::PKESK, Tag::PKESK, Tag::SEIP]);
    assert_eq!(seipd, Some(1), "gpg 2.2 reads only SEIPDv1");
}

#[test]
fn gpg_decrypts_every_mode() {
    let env = TestEnv::new();
    let (daily, _) = env.daily_and_escrow();
    env.gpg_import(&daily.key);
    let plain = sample_data(2 * 1024 * 1024);
    for mode in MODES {
        let ct = encrypt(&env, mode, &plain);
        let out = env.gpg(&["--decrypt"], &ct);
        assert_eq!(out.status, 0, "gpg -d {mode}: {}", out.stderr);
        let restored = match mode {
            "zstd" => shell("zstd -dq", &out.stdout).stdout,
            _ => out.stdout,
        };
        assert!(restored == plain, "{mode}: gpg restore differs");
    }
}

/// Deflate mode is compressed pigz-style on worker threads in 256 KiB
/// blocks, yet stays one OpenPGP compressed data packet (raw deflate) that
/// one `gpg -d` restores, whatever the thread count and wherever the input
/// ends relative to a block.
#[test]
fn parallel_deflate_is_one_compressed_packet_gpg_restores() {
    let env = TestEnv::new();
    let (daily, _) = env.daily_and_escrow();
    env.gpg_import(&daily.key);
    for threads in ["1", "3"] {
        for len in [0, 262_100, 262_144, 1_048_576 + 3] {
            let plain = sample_data(len);
            let ct = env
                .run(&["encrypt", "-c", "deflate", "--threads", threads], &plain)
                .ok()
                .stdout;
            let out = env.gpg(&["--decrypt"], &ct);
            assert_eq!(
                out.status, 0,
                "gpg -d, {threads} threads, {len} bytes: {}",
                out.stderr
            );
            assert!(
                out.stdout == plain,
                "gpg restore differs: {threads} threads, {len} bytes"
            );
            let packets = env.gpg(&["--list-packets"], &ct).stdout;
            let packets = String::from_utf8_lossy(&packets);
            assert_eq!(
                packets.matches(":compressed packet: algo=1").count(),
                1,
                "one raw-deflate packet expected:\n{packets}"
            );
            assert_eq!(env.run(&["decrypt"], &ct).ok().stdout, plain);
        }
    }
}

/// A config's `level` belongs to the config's compression: `-c deflate` on a
/// zstd config uses deflate's default (6), not the zstd level.
#[test]
fn config_level_applies_to_the_config_compression_only() {
    let env = TestEnv::new();
    env.daily_and_escrow();
    let config = fs::read_to_string(env.path("sealpipe.toml")).unwrap();
    env.write(
        "sealpipe.toml",
        format!("[encrypt]\ncompression = \"zstd\"\nlevel = 1\n\n{config}").as_bytes(),
    );
    let plain = sample_data(2 * 1024 * 1024);
    let size = |args: &[&str]| {
        let mut all = vec!["encrypt"];
        all.extend_from_slice(args);
        env.run(&all, &plain).ok().stdout.len()
    };
    // Sizes vary by a byte or two with the key packets' encodings.
    let same = |a: usize, b: usize| a.abs_diff(b) <= 16;
    let zstd = size(&[]);
    assert!(same(zstd, size(&["--level", "1"])), "config level for zstd");
    assert!(
        !same(zstd, size(&["--level", "3"])),
        "zstd levels 1 and 3 differ"
    );
    let deflate = size(&["-c", "deflate"]);
    assert!(
        same(deflate, size(&["-c", "deflate", "--level", "6"])),
        "deflate default"
    );
    assert!(
        !same(deflate, size(&["-c", "deflate", "--level", "1"])),
        "deflate 1 and 6 differ"
    );
}

#[test]
fn gpg_decrypts_armored_output() {
    let env = TestEnv::new();
    let (daily, _) = env.daily_and_escrow();
    env.gpg_import(&daily.key);
    let ct = env
        .run(&["encrypt", "--armor", "-c", "deflate"], b"armored backup")
        .ok()
        .stdout;
    assert!(ct.starts_with(b"-----BEGIN PGP MESSAGE-----"));
    assert_eq!(env.gpg(&["--decrypt"], &ct).stdout, b"armored backup");
    assert_eq!(env.run(&["decrypt"], &ct).ok().stdout, b"armored backup");
}

#[test]
fn sealpipe_decrypts_what_gpg_wrote() {
    let env = TestEnv::new();
    let (daily, _) = env.daily_and_escrow();
    env.gpg_import(&daily.key);
    let plain = sample_data(1024 * 1024);
    for extra in [
        &[][..],
        &["--compress-algo", "none"],
        &["--compress-algo", "bzip2"],
    ] {
        let mut args = vec![
            "--trust-model",
            "always",
            "--encrypt",
            "-r",
            &daily.fingerprint,
        ];
        args.extend_from_slice(extra);
        let ct = env.gpg(&args, &plain);
        assert_eq!(ct.status, 0, "gpg -e {extra:?}: {}", ct.stderr);
        let back = env.run(&["decrypt"], &ct.stdout).ok().stdout;
        assert!(back == plain, "gpg {extra:?} message did not round-trip");
        // sequoia's own decryptor agrees with sealpipe's SEIPDv1 reader.
        let stock = run_with_stdin(stock_reader(&env, &["decrypt"]), &ct.stdout).ok();
        assert!(stock.stdout == plain, "stock reader on gpg {extra:?}");
    }
}

/// `sealpipe` with sequoia's stock streaming decryptor forced.
fn stock_reader(env: &TestEnv, args: &[&str]) -> std::process::Command {
    let mut c = env.cmd(args);
    c.arg("--reader=stock");
    c
}

/// Every byte sealpipe's own SEIPDv1 writer produces is accepted by stock
/// sequoia (its streaming decryptor, SHA-1 with collision detection and
/// all), in every mode, binary and armored, empty to multi-megabyte.
#[test]
fn stock_sequoia_reads_what_sealpipe_writes() {
    let env = TestEnv::new();
    env.daily_and_escrow();
    for len in [0, 1, 15, 16, 17, 300_000, 3_000_000] {
        let plain = sample_data(len);
        for mode in ["zstd", "deflate", "none"] {
            for armor in [false, true] {
                let mut args = vec!["encrypt", "-c", mode];
                if armor {
                    args.push("-a");
                }
                let ct = env.run(&args, &plain).ok().stdout;
                let stock = run_with_stdin(stock_reader(&env, &["decrypt"]), &ct).ok();
                assert!(
                    stock.stdout == plain,
                    "stock sequoia: {mode} armor={armor} len={len}"
                );
                let fast = env.run(&["decrypt"], &ct).ok();
                assert!(
                    fast.stdout == plain,
                    "sealpipe reader: {mode} armor={armor} len={len}"
                );
            }
        }
    }
}

/// A backup streamed from a slow producer (`encrypt | decrypt`, a tape, a
/// network) reaches decrypt in short reads, some shorter than a cipher
/// block. Both readers, and verify, must take it as the same backup.
#[test]
fn input_arriving_in_short_reads_decrypts() {
    let env = TestEnv::new();
    env.daily_and_escrow();
    let plain = sample_data(1_500_000);
    for mode in MODES {
        for armor in [false, true] {
            let mut args = vec!["encrypt", "-c", mode];
            if armor {
                args.push("-a");
            }
            let ct = env.run(&args, &plain).ok().stdout;
            let what = format!("{mode}, armor={armor}");
            let fast = run_trickled(env.cmd(&["decrypt"]), &ct);
            assert_eq!(fast.status, 0, "sealpipe reader, {what}: {}", fast.stderr);
            assert!(
                fast.stdout == plain,
                "sealpipe reader, {what}: output differs"
            );
            let stock = run_trickled(stock_reader(&env, &["decrypt"]), &ct);
            assert_eq!(stock.status, 0, "stock reader, {what}: {}", stock.stderr);
            assert!(
                stock.stdout == plain,
                "stock reader, {what}: output differs"
            );
            let verify = run_trickled(env.cmd(&["verify"]), &ct);
            assert_eq!(verify.status, 0, "verify, {what}: {}", verify.stderr);
        }
    }
}

/// A key gpg makes itself (no passphrase, no expiry); its fingerprint.
fn gpg_quick_gen_key(env: &TestEnv, uid: &str, algo: &str) -> String {
    let r = env.gpg(
        &[
            "--passphrase",
            "",
            "--quick-gen-key",
            uid,
            algo,
            "default",
            "never",
        ],
        b"",
    );
    assert_eq!(r.status, 0, "gpg makes a {algo} key: {}", r.stderr);
    String::from_utf8(env.gpg(&["--with-colons", "--list-keys", uid], b"").stdout)
        .unwrap()
        .lines()
        .find_map(|l| {
            l.strip_prefix("fpr:::::::::")
                .map(|f| f.trim_end_matches(':').to_string())
        })
        .unwrap()
}

#[test]
fn gpg_generated_rsa_key_works_both_ways() {
    let env = TestEnv::new();
    let fpr = gpg_quick_gen_key(&env, "gpg-made <g@example.org>", "rsa3072");
    let r = env.gpg(
        &[
            "--passphrase",
            "",
            "--quick-add-key",
            &fpr,
            "rsa3072",
            "encr",
            "never",
        ],
        b"",
    );
    assert_eq!(r.status, 0, "{}", r.stderr);
    let cert = env.gpg(&["--armor", "--export", &fpr], b"").stdout;
    env.write("gpg.cert.asc", &cert);
    let key = env
        .gpg(&["--armor", "--export-secret-keys", &fpr], b"")
        .stdout;
    let key_path = env.write("gpg.key.asc", &key);
    fs::set_permissions(&key_path, fs::Permissions::from_mode(0o600)).unwrap();
    env.write(
        "sealpipe.toml",
        format!("[[recipient]]\nname='gpg'\nfingerprint='{fpr}'\ncert='gpg.cert.asc'\n[decrypt]\nkeys=['gpg.key.asc']\n").as_bytes(),
    );
    // gpg made this key at the real time, after the pinned NOW.
    let mut c = env.cmd(&["encrypt", "-c", "deflate"]);
    c.env_remove("SEALPIPE_NOW");
    let ct = run_with_stdin(c, b"to a gpg key").ok().stdout;
    assert_eq!(env.gpg(&["--decrypt"], &ct).stdout, b"to a gpg key");
    let ct = env
        .gpg(&["--trust-model", "always", "-e", "-r", &fpr], b"from gpg")
        .stdout;
    assert_eq!(env.run(&["decrypt"], &ct).ok().stdout, b"from gpg");
}

/// A cert made with sequoia's defaults advertises SEIPDv2; sealpipe must
/// still write SEIPDv1 so gpg 2.2 can read it.
#[test]
fn seipdv2_advertising_cert_still_gets_v1_that_gpg_reads() {
    use openpgp::cert::CertBuilder;
    let env = TestEnv::new();
    let (cert, _) = CertBuilder::general_purpose(Some("v2-advertiser"))
        .set_creation_time(std::time::UNIX_EPOCH + std::time::Duration::from_secs(NOW - 86_400))
        .generate()
        .unwrap();
    assert!(cert
        .with_policy(&openpgp::policy::StandardPolicy::new(), None)
        .unwrap()
        .features()
        .unwrap()
        .supports_seipdv2());
    let mut pubkey = Vec::new();
    cert.armored().serialize(&mut pubkey).unwrap();
    env.write("v2.cert.asc", &pubkey);
    let mut secret = Vec::new();
    cert.as_tsk().armored().serialize(&mut secret).unwrap();
    env.write("v2.key.asc", &secret);
    env.write(
        "sealpipe.toml",
        format!(
            "[[recipient]]\nname='v2'\nfingerprint='{}'\ncert='v2.cert.asc'\n",
            cert.fingerprint().to_hex()
        )
        .as_bytes(),
    );
    let ct = encrypt(&env, "none", b"gpg must read this");
    assert_eq!(message_shape(&ct).2, Some(1));
    env.gpg_import(&env.path("v2.key.asc"));
    let out = env.gpg(&["--decrypt"], &ct);
    assert_eq!(out.stdout, b"gpg must read this", "gpg: {}", out.stderr);
}

#[test]
fn recipient_subset_must_be_pinned_and_keep_required() {
    let env = TestEnv::new();
    let (daily, escrow) = env.daily_and_escrow();
    env.run(&["encrypt", "-r", "nobody"], b"x")
        .fails(4, "recipient 'nobody' is not pinned");
    env.run(
        &[
            "encrypt",
            "-r",
            "0123456789ABCDEF0123456789ABCDEF01234567",
            "-r",
            "escrow",
        ],
        b"x",
    )
    .fails(4, "is not pinned");
    env.run(&["encrypt", "-r", "daily"], b"x")
        .fails(4, "recipient 'escrow' is required");
    // The escrow key alone is a valid subset, by name or fingerprint.
    let ct = env
        .run(&["encrypt", "-r", &escrow.fingerprint], b"x")
        .ok()
        .stdout;
    assert_eq!(message_shape(&ct).0, encryption_keyids(&escrow.cert));
    let _ = daily;
}

#[test]
fn cert_that_does_not_match_its_pin_is_refused() {
    let env = TestEnv::new();
    let (daily, escrow) = env.daily_and_escrow();
    // Someone swaps the daily cert file for another key.
    fs::copy(&escrow.cert, &daily.cert).unwrap();
    let r = env
        .run(&["encrypt"], b"secret")
        .fails(4, "not the pinned fingerprint");
    assert!(
        r.stdout.is_empty(),
        "nothing may be written before refusing"
    );
}

#[test]
fn expired_revoked_and_encryptionless_certs_are_refused() {
    let env = TestEnv::new();
    let escrow = env.keygen("escrow", &[]);
    // Expired: made 10 days before NOW, valid for 1 day.
    let expired = {
        let mut c = env.cmd(&[
            "keygen",
            "--name",
            "old",
            "--expires",
            "1d",
            "--cert-out",
            "old.cert.asc",
            "--key-out",
            "old.key.asc",
        ]);
        c.env("SEALPIPE_NOW", (NOW - 10 * 86_400).to_string());
        let out = run_with_stdin(c, b"").ok();
        let fpr = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .find_map(|l| {
                l.strip_prefix("fingerprint = \"")
                    .map(|f| f.trim_end_matches('"').to_string())
            })
            .unwrap();
        TestKey {
            name: "old".into(),
            cert: env.path("old.cert.asc"),
            key: env.path("old.key.asc"),
            fingerprint: fpr,
        }
    };
    env.config(&[&expired, &escrow], &[&escrow], &[]);
    env.run(&["encrypt"], b"x")
        .fails(4, "recipient 'old'")
        .fails(4, "expired");

    // Revoked: merge the revocation certificate keygen wrote.
    let revoked = env.keygen("gone", &["--revocation-out", "gone.rev.asc"]);
    let merged = {
        let cert = openpgp::Cert::from_file(&revoked.cert).unwrap();
        let rev = openpgp::Cert::from_file(env.path("gone.rev.asc")).unwrap();
        let mut out = Vec::new();
        cert.merge_public(rev)
            .unwrap()
            .armored()
            .serialize(&mut out)
            .unwrap();
        out
    };
    fs::write(&revoked.cert, merged).unwrap();
    env.config(&[&revoked, &escrow], &[&escrow], &[]);
    env.run(&["encrypt"], b"x").fails(4, "is revoked");

    // No encryption subkey: a signing-only cert.
    use openpgp::cert::CertBuilder;
    let (signer, _) = CertBuilder::new()
        .add_userid("signer")
        .add_signing_subkey()
        .set_creation_time(std::time::UNIX_EPOCH + std::time::Duration::from_secs(NOW - 86_400))
        .generate()
        .unwrap();
    let mut out = Vec::new();
    signer.armored().serialize(&mut out).unwrap();
    env.write("signer.cert.asc", &out);
    let signer_key = TestKey {
        name: "signer".into(),
        cert: env.path("signer.cert.asc"),
        key: env.path("none"),
        fingerprint: signer.fingerprint().to_hex(),
    };
    env.config(&[&signer_key, &escrow], &[&escrow], &[]);
    env.run(&["encrypt"], b"x")
        .fails(4, "no valid encryption-capable subkey");
}

#[test]
fn weak_rsa_1024_key_is_refused() {
    let env = TestEnv::new();
    let escrow = env.keygen("escrow", &[]);
    let fpr = gpg_quick_gen_key(&env, "weak <w@example.org>", "rsa1024");
    env.write(
        "weak.cert.asc",
        &env.gpg(&["--armor", "--export", &fpr], b"").stdout,
    );
    let weak = TestKey {
        name: "weak".into(),
        cert: env.path("weak.cert.asc"),
        key: env.path("none"),
        fingerprint: fpr,
    };
    env.config(&[&weak, &escrow], &[&escrow], &[]);
    env.run(&["encrypt"], b"x")
        .fails(4, "RSA-1024 is below the 2048-bit minimum");
}

#[test]
fn unsafe_file_permissions_are_refused() {
    let env = TestEnv::new();
    let (daily, _) = env.daily_and_escrow();
    let config = env.path("sealpipe.toml");
    fs::set_permissions(&config, fs::Permissions::from_mode(0o666)).unwrap();
    env.run(&["encrypt"], b"x")
        .fails(3, "writable by group or others");
    fs::set_permissions(&config, fs::Permissions::from_mode(0o644)).unwrap();
    fs::set_permissions(&daily.cert, fs::Permissions::from_mode(0o664)).unwrap();
    env.run(&["encrypt"], b"x")
        .fails(4, "writable by group or others");
    fs::set_permissions(&daily.cert, fs::Permissions::from_mode(0o644)).unwrap();
    let ct = env.run(&["encrypt"], b"x").ok().stdout;
    fs::set_permissions(&daily.key, fs::Permissions::from_mode(0o644)).unwrap();
    env.run(&["decrypt"], &ct).fails(5, "chmod 600");
}

#[test]
fn unknown_config_keys_are_an_error() {
    let env = TestEnv::new();
    let (daily, _) = env.daily_and_escrow();
    let text = fs::read_to_string(env.path("sealpipe.toml"))
        .unwrap()
        .replace("required = true", "requird = true");
    env.write("sealpipe.toml", text.as_bytes());
    env.run(&["encrypt"], b"x").fails(3, "requird");
    let _ = daily;
}

#[test]
fn damaged_input_fails_with_a_reason() {
    let env = TestEnv::new();
    env.daily_and_escrow();
    let plain = sample_data(3 * 1024 * 1024);
    for mode in MODES {
        let ct = encrypt(&env, mode, &plain);
        for cut in [0, 1, 50, 200, ct.len() / 2, ct.len() - 30, ct.len() - 1] {
            let r = env.run(&["decrypt"], &ct[..cut]);
            assert_eq!(r.status, 6, "{mode} cut at {cut}: {}", r.stderr);
            assert!(
                r.stderr.starts_with("sealpipe: error: ") && r.stderr.lines().count() == 1,
                "{}",
                r.stderr
            );
        }
        let mut flipped = ct.clone();
        flipped[ct.len() * 2 / 3] ^= 0x10;
        env.run(&["decrypt"], &flipped)
            .fails(6, "integrity check failed");
        env.run(&["verify"], &flipped)
            .fails(6, "integrity check failed");
    }
}

#[test]
fn output_failures_are_failures() {
    let env = TestEnv::new();
    env.daily_and_escrow();
    let plain = sample_data(4 * 1024 * 1024);
    // /dev/full: ENOSPC, for the stream and for every report on stdout.
    let ct = encrypt(&env, "none", &plain);
    let backup = env.write("b.pgp", &ct);
    let backup = backup.to_str().unwrap();
    let cases: [(&[&str], &[u8]); 5] = [
        (&["encrypt"], &plain),
        (&["decrypt"], &ct),
        (&["verify", backup], b""),
        (&["inspect", backup], b""),
        (
            &[
                "keygen",
                "--name",
                "k",
                "--cert-out",
                "k.cert",
                "--key-out",
                "k.key",
            ],
            b"",
        ),
    ];
    for (args, input) in cases {
        let full = fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let r = run_with_stdin_to(env.cmd(args), input, full.into());
        assert_eq!(r.status, 7, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains("no space left"), "{args:?}: {}", r.stderr);
    }
    // A consumer that exits early: EPIPE, in both directions.
    let bin = BIN;
    for (args, input) in [("encrypt", &plain), ("decrypt", &ct)] {
        let script = format!("{bin} {args} | head -c 10 >/dev/null; echo ${{PIPESTATUS[0]}} >&2");
        let mut c = std::process::Command::new("bash");
        c.args(["-c", &script])
            .env("SEALPIPE_CONFIG", env.path("sealpipe.toml"))
            .env("SEALPIPE_NOW", NOW.to_string());
        let r = run_with_stdin(c, input);
        assert!(
            r.stderr.contains("pipe closed early"),
            "{args}: {}",
            r.stderr
        );
        assert_eq!(r.stderr.lines().last(), Some("7"), "{args}: {}", r.stderr);
    }
}

#[test]
fn output_file_appears_only_on_success() {
    let env = TestEnv::new();
    env.daily_and_escrow();
    env.run(&["encrypt", "-o", "b.pgp"], b"data").ok();
    assert!(env.path("b.pgp").exists());
    env.run(&["encrypt", "-o", "b.pgp"], b"data")
        .fails(2, "refusing to overwrite");
    env.run(&["encrypt", "-o", "b.pgp", "--force"], b"data2")
        .ok();
    let ct = fs::read(env.path("b.pgp")).unwrap();
    env.run(&["decrypt", "-o", "out"], &ct[..ct.len() - 5])
        .fails(6, "truncated");
    assert!(
        !env.path("out").exists(),
        "no output file after a failed decrypt"
    );
    let leftovers: Vec<_> = fs::read_dir(env.dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".part"))
        .collect();
    assert!(leftovers.is_empty(), "temp files left behind");
}

#[test]
fn wrong_key_and_passphrases() {
    let env = TestEnv::new();
    let (daily, escrow) = env.daily_and_escrow();
    let ct = encrypt(&env, "zstd", b"rotated");
    // A key that is not a recipient.
    let other = env.keygen("other", &[]);
    env.run(&["decrypt", "--key", other.key.to_str().unwrap()], &ct)
        .fails(5, "no given secret key opens this backup");
    // Rotation: old and new keys together; the matching one is picked.
    let r = env
        .run(
            &[
                "decrypt",
                "-k",
                other.key.to_str().unwrap(),
                "-k",
                escrow.key.to_str().unwrap(),
            ],
            &ct,
        )
        .ok();
    assert_eq!(r.stdout, b"rotated");
    // A protected key needs its passphrase, from a file or an fd only.
    let pw = env.write("pw", b"correct horse\n");
    fs::set_permissions(&pw, fs::Permissions::from_mode(0o600)).unwrap();
    let locked = env.keygen("locked", &["--passphrase-file", "pw"]);
    env.config(&[&locked, &escrow], &[&escrow], &[&locked]);
    let ct = encrypt(&env, "zstd", b"locked away");
    env.run(&["decrypt"], &ct).fails(5, "passphrase-protected");
    assert_eq!(
        env.run(&["decrypt", "--passphrase-file", "pw"], &ct)
            .ok()
            .stdout,
        b"locked away"
    );
    let bad = env.write("bad", b"wrong\n");
    fs::set_permissions(&bad, fs::Permissions::from_mode(0o600)).unwrap();
    env.run(&["decrypt", "--passphrase-file", "bad"], &ct)
        .fails(5, "wrong passphrase");
    let mut c = std::process::Command::new("bash");
    c.args(["-c", &format!("{BIN} decrypt --passphrase-fd 3 3<pw")])
        .current_dir(env.dir.path())
        .env("SEALPIPE_CONFIG", env.path("sealpipe.toml"));
    assert_eq!(run_with_stdin(c, &ct).ok().stdout, b"locked away");
    let _ = daily;
}

/// Issue 12.6: 300 junk key packets addressed to a passphrase-protected
/// key (no key needed to craft them) cost one passphrase derivation, not
/// 300: each key is unlocked at most once per run, failures remembered
/// too, and a second pass (as `--verify-first` makes) unlocks nothing more.
#[test]
fn junk_key_packets_cost_one_unlock_per_key() {
    use openpgp::cert::CertBuilder;
    use openpgp::crypto::Password;
    use openpgp::packet::Packet;
    use openpgp::serialize::MarshalInto;
    use sealpipe::decrypt::{DecryptPlan, PlaintextDigest, Reader};

    let password = Password::from("correct horse");
    let (cert, _) = CertBuilder::general_purpose(Some("backup@example.org"))
        .set_password(Some(password.clone()))
        .generate()
        .unwrap();
    let (msg, genuine) = message_and_key_packet(&cert);

    // The genuine key packet, and 300 copies with their wrapped session
    // key garbled: still addressed to the key, useless to it.
    let mut junk = Vec::new();
    for i in 0..300u32 {
        let mut bytes = Packet::from(genuine.clone()).to_vec().unwrap();
        let at = bytes.len() - 1 - (i as usize % 8);
        bytes[at] ^= 0x5A;
        junk.extend(bytes);
    }
    let hostile = [junk, msg].concat();
    let parsed = openpgp::PacketPile::from_bytes(&hostile).unwrap();
    let pkesks = parsed
        .children()
        .filter(|p| matches!(p, Packet::PKESK(_)))
        .count();
    assert_eq!(pkesks, 301, "all junk packets parse as key packets");

    let mut ring = keyring_of(&cert);
    ring.passphrase = Some(password);
    let keys = ring.keys.len();
    for reader in [Reader::Fast, Reader::Stock] {
        let plan = DecryptPlan::new(&ring, reader, PlaintextDigest::Skip);
        assert_eq!(
            plan.session.unlocks(),
            0,
            "nothing unlocked before a message"
        );
        for pass in 0..2 {
            let mut out = Vec::new();
            sealpipe::decrypt::decrypt(&plan, &hostile[..], &mut out).unwrap();
            assert_eq!(out, b"the backup", "{reader:?} pass {pass}");
        }
        assert!(
            plan.session.unlocks() <= keys && plan.session.unlocks() == 1,
            "{reader:?}: {} unlocks for {keys} keys and 301 key packets",
            plan.session.unlocks()
        );
    }
}

/// A key packet that a key does not open means damage only when the packet
/// names that key: then the backup's key packets are damaged. An anonymous
/// one (gpg --throw-keyids) may be for anyone, and the verdict stays "no
/// given key opens this backup".
#[test]
fn only_a_key_packet_naming_the_key_is_damage_when_it_does_not_open() {
    use openpgp::cert::CertBuilder;
    use openpgp::packet::{Packet, PKESK};
    use openpgp::serialize::MarshalInto;
    use sealpipe::decrypt::{DecryptPlan, PlaintextDigest, Reader};
    use sealpipe::error::{Damage, Error};

    // As sealpipe's keys: v4, SEIPDv1 (so v3 key packets).
    let generate = |name: &str| {
        CertBuilder::general_purpose(Some(name))
            .set_features(openpgp::types::Features::empty().set_seipdv1())
            .unwrap()
            .generate()
            .unwrap()
            .0
    };
    let (ours, theirs) = (generate("ours"), generate("theirs"));
    // A message to `cert`, split into its one key packet and the rest.
    let encrypted_to = |cert: &openpgp::Cert| -> (PKESK, Vec<u8>) {
        let (msg, pkesk) = message_and_key_packet(cert);
        let head = Packet::from(pkesk.clone()).to_vec().unwrap();
        assert_eq!(&msg[..head.len()], &head[..]);
        (pkesk, msg[head.len()..].to_vec())
    };
    let ring = keyring_of(&ours);

    // Named: our own key packet, its wrapped session key garbled.
    let (pkesk, rest) = encrypted_to(&ours);
    let mut garbled = Packet::from(pkesk).to_vec().unwrap();
    let last = garbled.len() - 1;
    garbled[last] ^= 0x5A;
    let named = [garbled, rest].concat();
    // Anonymous: a key packet for another cert, its recipient wiped.
    let (pkesk, rest) = encrypted_to(&theirs);
    let PKESK::V3(mut anonymous) = pkesk else {
        panic!("a v3 key packet");
    };
    anonymous.set_recipient(None);
    let anonymous = [Packet::from(PKESK::V3(anonymous)).to_vec().unwrap(), rest].concat();

    for reader in [Reader::Fast, Reader::Stock] {
        let plan = DecryptPlan::new(&ring, reader, PlaintextDigest::Skip);
        let verdict = |bytes: &[u8]| {
            let mut out = Vec::new();
            let err = sealpipe::decrypt::decrypt(&plan, bytes, &mut out).unwrap_err();
            assert!(out.is_empty(), "{reader:?}: nothing released");
            err
        };
        let err = verdict(&named);
        assert!(
            matches!(err, Error::BadInput(Damage::KeyPacket { .. })),
            "{reader:?}, named: {err}"
        );
        let err = verdict(&anonymous);
        assert!(
            matches!(&err, Error::Key(why) if why.contains("no given secret key opens")),
            "{reader:?}, anonymous: {err}"
        );
    }
}

/// Both readers report the same facts of a message they open: the key that
/// opened it, the cipher and the container's version (`verify` and
/// `inspect --key` print them).
#[test]
fn both_readers_report_the_key_cipher_and_container() {
    use openpgp::cert::CertBuilder;
    use openpgp::policy::StandardPolicy;
    use openpgp::types::SymmetricAlgorithm;
    use sealpipe::decrypt::{DecryptPlan, PlaintextDigest, Reader};

    let (cert, _) = CertBuilder::general_purpose(Some("backup@example.org"))
        .set_features(openpgp::types::Features::empty().set_seipdv1())
        .unwrap()
        .generate()
        .unwrap();
    let subkey = cert
        .keys()
        .with_policy(&StandardPolicy::new(), None)
        .for_transport_encryption()
        .next()
        .unwrap()
        .key()
        .fingerprint();
    let msg = small_message(&cert, Some(SymmetricAlgorithm::AES128));

    let ring = keyring_of(&cert);
    for reader in [Reader::Fast, Reader::Stock] {
        let plan = DecryptPlan::new(&ring, reader, PlaintextDigest::Skip);
        let mut out = Vec::new();
        let summary = sealpipe::decrypt::decrypt(&plan, &msg[..], &mut out).unwrap();
        assert_eq!(out, b"the backup");
        let facts = summary.facts;
        let opened_by = facts.opened_by.expect("the key that opened it");
        assert_eq!(opened_by.key, subkey, "{reader:?}");
        assert_eq!(opened_by.cert, cert.fingerprint(), "{reader:?}");
        assert_eq!(facts.cipher, Some(SymmetricAlgorithm::AES128), "{reader:?}");
        assert_eq!(facts.seipd_version, Some(1), "{reader:?}");
    }
}

/// Issue 12.13: decrypt never tries a certification-only primary key,
/// even when a key packet is addressed to it.
#[test]
fn certification_only_primaries_are_never_tried() {
    use openpgp::cert::{CertBuilder, CipherSuite};

    let (cert, _) = CertBuilder::general_purpose(Some("backup@example.org"))
        .set_cipher_suite(CipherSuite::RSA3k)
        .generate()
        .unwrap();
    let ring = keyring_of(&cert);
    let primary = cert.fingerprint();
    let usable: Vec<_> = ring
        .keys
        .iter()
        .filter(|k| k.for_encryption)
        .map(|k| k.key.fingerprint())
        .collect();
    assert_eq!(ring.keys.len(), 3, "primary, signing and encryption key");
    assert!(
        !usable.contains(&primary),
        "the RSA primary is certification-only"
    );
    assert_eq!(usable.len(), 1, "only the encryption subkey: {usable:?}");
}

/// Issue 12.16: a passphrase-only message (`gpg -c`) is named for what it
/// is, not as "encrypted to key IDs []".
#[test]
fn a_passphrase_only_message_says_so() {
    let env = TestEnv::new();
    env.daily_and_escrow();
    let ct = env
        .gpg(
            &["--passphrase", "pw", "-c", "--cipher-algo", "AES256"],
            b"rows",
        )
        .ok()
        .stdout;
    for reader in ["--reader=fast", "--reader=stock"] {
        let r = env
            .run(&["decrypt", reader], &ct)
            .fails(6, "passphrase only");
        assert!(r.stdout.is_empty(), "{reader}");
    }
}

/// A small message ("the backup") to `cert`'s encryption keys, in `cipher`
/// (sequoia's default if none).
fn small_message(
    cert: &openpgp::Cert,
    cipher: Option<openpgp::types::SymmetricAlgorithm>,
) -> Vec<u8> {
    use openpgp::policy::StandardPolicy;
    use openpgp::serialize::stream::{Encryptor, LiteralWriter, Message};
    use std::io::Write;
    let policy = StandardPolicy::new();
    let recipients: Vec<_> = cert
        .keys()
        .with_policy(&policy, None)
        .for_transport_encryption()
        .collect();
    let mut msg = Vec::new();
    let mut encryptor = Encryptor::for_recipients(Message::new(&mut msg), recipients);
    if let Some(cipher) = cipher {
        encryptor = encryptor.symmetric_algo(cipher);
    }
    let mut literal = LiteralWriter::new(encryptor.build().unwrap())
        .build()
        .unwrap();
    literal.write_all(b"the backup").unwrap();
    literal.finalize().unwrap();
    msg
}

/// The secret keyring of one generated key, as decrypt's tests load it.
fn keyring_of(cert: &openpgp::Cert) -> sealpipe::keys::SecretKeyring {
    use openpgp::serialize::MarshalInto;
    let mut ring = sealpipe::keys::SecretKeyring::default();
    ring.add(
        &cert.as_tsk().to_vec().unwrap(),
        std::path::Path::new("key"),
    )
    .unwrap();
    ring
}

/// `small_message` to `cert`, and its first key packet, for tests that
/// garble or copy key packets.
fn message_and_key_packet(cert: &openpgp::Cert) -> (Vec<u8>, openpgp::packet::PKESK) {
    use openpgp::packet::Packet;
    let msg = small_message(cert, None);
    let pile = openpgp::PacketPile::from_bytes(&msg).unwrap();
    let Some(Packet::PKESK(pkesk)) = pile.path_ref(&[0]) else {
        panic!("the message starts with its key packet");
    };
    let pkesk = pkesk.clone();
    (msg, pkesk)
}
