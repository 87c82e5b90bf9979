//! Key lifecycle through the real binary: keygen (read by gpg), escrow,
//! rotation, inspect, rekey and verify.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;

use common::*;
use sealpipe::openpgp::cert::Preferences;
use sealpipe::openpgp::parse::Parse;

fn encrypt_to_file(env: &TestEnv, name: &str, plain: &[u8], extra: &[&str]) -> std::path::PathBuf {
    let mut args = vec!["encrypt", "-o", name];
    args.extend_from_slice(extra);
    env.run(&args, plain).ok();
    env.path(name)
}

#[test]
fn keygen_keys_are_v4_private_and_usable_by_gpg() {
    let env = TestEnv::new();
    fs::write(env.path("pass"), "correct horse battery\n").unwrap();
    fs::set_permissions(env.path("pass"), fs::Permissions::from_mode(0o600)).unwrap();
    let daily = env.keygen(
        "daily",
        &[
            "--passphrase-file",
            "pass",
            "--revocation-out",
            "daily.rev.asc",
        ],
    );
    let escrow = env.keygen("escrow", &["--algorithm", "rsa4096", "--required"]);
    env.config(&[&daily, &escrow], &[&escrow], &[&daily]);

    // Secret key files are created 0600; certs are public.
    let mode = |p: &std::path::Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&daily.key), 0o600);
    assert_eq!(mode(&env.path("daily.rev.asc")), 0o600);
    assert_eq!(mode(&daily.cert), 0o644);
    // keygen never overwrites.
    env.run(
        &[
            "keygen",
            "--name",
            "daily",
            "--cert-out",
            "x.asc",
            "--key-out",
            "daily.key.asc",
        ],
        b"",
    )
    .fails(2, "must not exist yet");

    // v4 keys whose features advertise SEIPDv1 only.
    let cert = sealpipe::openpgp::Cert::from_file(&daily.cert).unwrap();
    assert_eq!(cert.primary_key().key().version(), 4);
    let p = sealpipe::openpgp::policy::StandardPolicy::new();
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(NOW);
    let features = cert.with_policy(&p, t).unwrap().features().unwrap();
    assert!(features.supports_seipdv1() && !features.supports_seipdv2());

    let plain = sample_data(200_000);
    let backup = encrypt_to_file(&env, "b.pgp", &plain, &["-c", "deflate"]);

    // gpg imports both (the protected one with its passphrase) and decrypts with each.
    for key in [&daily, &escrow] {
        let gpg_env = TestEnv::new();
        let r = gpg_env.gpg(
            &[
                "--passphrase-file",
                env.path("pass").to_str().unwrap(),
                "--import",
                key.key.to_str().unwrap(),
            ],
            b"",
        );
        assert_eq!(r.status, 0, "gpg --import {}: {}", key.name, r.stderr);
        let out = gpg_env.gpg(
            &[
                "--passphrase-file",
                env.path("pass").to_str().unwrap(),
                "-d",
                backup.to_str().unwrap(),
            ],
            b"",
        );
        assert_eq!(out.status, 0, "gpg -d with {}: {}", key.name, out.stderr);
        assert!(
            out.stdout == plain,
            "gpg restored different bytes with {}",
            key.name
        );
    }

    // sealpipe needs the passphrase for the protected key, from a file or an fd.
    env.run(&["decrypt", "b.pgp"], b"").fails(5, "passphrase");
    let out = env
        .run(&["decrypt", "--passphrase-file", "pass", "b.pgp"], b"")
        .ok();
    assert!(out.stdout == plain);
    let out = shell(
        &format!(
            "cd {} && SEALPIPE_CONFIG=sealpipe.toml {BIN} decrypt --passphrase-fd 3 b.pgp 3<pass",
            env.dir.path().display()
        ),
        b"",
    )
    .ok();
    assert!(out.stdout == plain);
    // A passphrase file others can read is refused, like ssh does.
    fs::set_permissions(env.path("pass"), fs::Permissions::from_mode(0o644)).unwrap();
    env.run(&["decrypt", "--passphrase-file", "pass", "b.pgp"], b"")
        .fails(5, "pass");
}

/// keygen's defaults (Cv25519, two years) and its options: RSA-4096, the
/// printed pin with `required = true`, a passphrase from an inherited fd.
#[test]
fn keygen_defaults_algorithms_and_config_snippet() {
    use sealpipe::openpgp::types::PublicKeyAlgorithm;
    let env = TestEnv::new();
    let keygen = |name: &str, extra: &[&str]| {
        let (key, snippet) = env.keygen_printing(name, extra);
        let cert = sealpipe::openpgp::Cert::from_file(&key.cert).unwrap();
        (cert, snippet)
    };
    let p = sealpipe::openpgp::policy::StandardPolicy::new();
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(NOW);

    let (cert, snippet) = keygen("plain", &[]);
    let valid = cert.with_policy(&p, t).unwrap();
    assert_eq!(
        valid.primary_key().key().pk_algo(),
        PublicKeyAlgorithm::EdDSA
    );
    let subkeys: Vec<_> = valid.keys().subkeys().for_storage_encryption().collect();
    assert_eq!(subkeys.len(), 1);
    assert_eq!(subkeys[0].key().pk_algo(), PublicKeyAlgorithm::ECDH);
    assert_eq!(
        valid.primary_key().key_validity_period(),
        Some(std::time::Duration::from_secs(2 * 365 * 86_400)),
        "two years by default"
    );
    assert!(snippet.contains(&format!(
        "fingerprint = \"{}\"",
        cert.fingerprint().to_hex()
    )));
    assert!(snippet.contains("name = \"plain\""));
    assert!(!snippet.contains("required"), "{snippet}");

    let (cert, snippet) = keygen(
        "vault",
        &["--algorithm", "rsa4096", "--required", "--expires", "never"],
    );
    let valid = cert.with_policy(&p, t).unwrap();
    for key in valid.keys() {
        assert_eq!(key.key().pk_algo(), PublicKeyAlgorithm::RSAEncryptSign);
        assert_eq!(key.key().mpis().bits(), Some(4096));
    }
    assert_eq!(valid.primary_key().key_validity_period(), None);
    assert!(snippet.lines().any(|l| l == "required = true"), "{snippet}");

    // --passphrase-fd 3 without fd 3 open must fail, not hang on an fd
    // sealpipe opened itself, nor make an unprotected key. The child closes
    // fd 3 itself: the test runner may hold it open (a jobserver does).
    let mut c = std::process::Command::new("bash");
    c.args([
        "-c",
        &format!("exec {BIN} keygen --name fd --cert-out fd.cert.asc --key-out fd.key.asc --passphrase-fd 3 3<&-"),
    ])
    .current_dir(env.dir.path())
    .env("SEALPIPE_NOW", NOW.to_string());
    let r = run_with_stdin(c, b"").fails(5, "file descriptor 3 was not open");
    assert!(r.stdout.is_empty());
    assert!(!env.path("fd.key.asc").exists());
    fs::write(env.path("pw"), "fd secret\n").unwrap();
    let mut c = std::process::Command::new("bash");
    c.args([
        "-c",
        &format!("{BIN} keygen --name fd --cert-out fd.cert.asc --key-out fd.key.asc --passphrase-fd 3 3<pw"),
    ])
    .current_dir(env.dir.path())
    .env("SEALPIPE_NOW", NOW.to_string());
    // The printed snippet is a valid config: pinned as printed, encrypt works.
    let out = run_with_stdin(c, b"").ok();
    fs::write(env.path("sealpipe.toml"), &out.stdout).unwrap();
    let ct = env.run(&["encrypt"], b"fd-protected").ok().stdout;
    env.run(&["decrypt", "--key", "fd.key.asc"], &ct)
        .fails(5, "passphrase");
    fs::set_permissions(env.path("pw"), fs::Permissions::from_mode(0o600)).unwrap();
    let back = env
        .run(
            &["decrypt", "--key", "fd.key.asc", "--passphrase-file", "pw"],
            &ct,
        )
        .ok()
        .stdout;
    assert_eq!(back, b"fd-protected");
}

#[test]
fn escrow_key_cannot_be_left_out() {
    let env = TestEnv::new();
    let (daily, _escrow) = env.daily_and_escrow();
    env.run(&["encrypt", "-r", "daily"], b"x")
        .fails(4, "recipient 'escrow' is required");
    env.run(&["encrypt", "-r", &daily.fingerprint, "-r", "escrow"], b"x")
        .ok();
    // The escrow key alone opens every backup.
    let backup = encrypt_to_file(&env, "b.pgp", b"payload", &[]);
    let out = env
        .run(
            &[
                "decrypt",
                "--key",
                "escrow.key.asc",
                backup.to_str().unwrap(),
            ],
            b"",
        )
        .ok();
    assert_eq!(out.stdout, b"payload");
}

/// Old backups made with last year's key, new ones with this year's: one
/// decrypt invocation with both keys restores either.
#[test]
fn rotation_old_and_new_keys_both_restore() {
    let env = TestEnv::new();
    let old = env.keygen("daily-2025", &[]);
    let new = env.keygen("daily-2026", &[]);
    let escrow = env.keygen("escrow", &[]);
    env.config(&[&old, &escrow], &[&escrow], &[&old]);
    let old_backup = encrypt_to_file(&env, "old.pgp", b"old data", &[]);
    env.config(&[&new, &escrow], &[&escrow], &[&new]);
    let new_backup = encrypt_to_file(&env, "new.pgp", b"new data", &[]);
    assert_eq!(message_shape(&fs::read(&new_backup).unwrap()).0.len(), 2);

    let keys = ["--key", "daily-2025.key.asc", "--key", "daily-2026.key.asc"];
    for (file, want) in [(&old_backup, b"old data"), (&new_backup, b"new data")] {
        let mut args = vec!["decrypt"];
        args.extend_from_slice(&keys);
        args.push(file.to_str().unwrap());
        assert_eq!(env.run(&args, b"").ok().stdout, want);
    }
    // Only the new key: the old backup names the key it needs.
    env.run(&["decrypt", "--key", "daily-2026.key.asc", "old.pgp"], b"")
        .fails(5, "no given secret key opens this backup");
}

#[test]
fn inspect_names_recipients_and_checks_policy() {
    let env = TestEnv::new();
    let old = env.keygen("daily-2025", &[]);
    let new = env.keygen("daily-2026", &[]);
    let escrow = env.keygen("escrow", &[]);
    env.config(&[&old, &escrow], &[&escrow], &[&old]);
    encrypt_to_file(&env, "old.pgp", b"old", &[]);
    env.config(&[&old], &[], &[&old]);
    encrypt_to_file(&env, "old-only.pgp", b"old", &[]);
    env.config(&[&new, &escrow], &[&escrow], &[&new]);
    encrypt_to_file(&env, "new.pgp", &sample_data(100_000), &[]);
    encrypt_to_file(&env, "escrow-only.pgp", b"x", &["-r", "escrow", "-a"]);

    // Current backups conform; names and fingerprints come from the config.
    let out = env
        .run(&["inspect", "new.pgp", "escrow-only.pgp"], b"")
        .ok();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("daily-2026 (pinned)"), "{text}");
    assert!(
        text.contains(&format!("cert {}", escrow.fingerprint)),
        "{text}"
    );
    assert!(text.contains("SEIPD v1"), "{text}");
    assert!(text.contains("ASCII armored"), "{text}");
    assert!(
        text.contains("not encrypted to (optional): daily-2026"),
        "{text}"
    );
    assert_eq!(
        text.matches("conforms to the current config").count(),
        2,
        "{text}"
    );

    // A whole set at once, as JSON: old backups are flagged, exit 8.
    let out = env.run(
        &[
            "inspect",
            "--json",
            "--require",
            "exact",
            "--cert",
            "daily-2025.cert.asc",
            "old.pgp",
            "old-only.pgp",
            "new.pgp",
        ],
        b"",
    );
    assert_eq!(out.status, 8, "{}", out.stderr);
    assert!(
        out.stderr.contains("2 of 3 backups do not conform"),
        "{}",
        out.stderr
    );
    let reports: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let reports = reports.as_array().unwrap();
    assert_eq!(reports.len(), 3);
    let problems = |i: usize| reports[i]["policy"]["problems"].to_string();
    let differences = reports[0]["policy"]["differences"].to_string();
    assert!(
        differences
            .contains("also readable by keys that are no longer pinned: 'daily-2025.cert.asc'"),
        "{differences}"
    );
    assert!(
        problems(1)
            .contains("only decryptable by keys that are no longer pinned: 'daily-2025.cert.asc'"),
        "{}",
        problems(1)
    );
    assert!(
        problems(1).contains("not readable by required recipient 'escrow'"),
        "{}",
        problems(1)
    );
    assert_eq!(reports[2]["policy"]["conforms"], true);
    assert_eq!(
        reports[1]["recipients"][0]["cert_fingerprint"],
        old.fingerprint.as_str()
    );
    assert_eq!(reports[1]["recipients"][0]["pinned"], false);
    assert_eq!(
        reports[2]["size"],
        fs::metadata(env.path("new.pgp")).unwrap().len()
    );

    // Without the old cert the old key shows as a bare key ID.
    let out = env.run(&["inspect", "old-only.pgp"], b"");
    assert_eq!(out.status, 8);
    let text = String::from_utf8(out.stdout).unwrap();
    let old_keyid = &encryption_keyids(&old.cert)[0];
    assert!(
        text.contains(&format!("unknown key ID {old_keyid}")),
        "{text}"
    );

    // With a secret key: cipher and compression; from stdin too.
    let out = env
        .run(
            &["inspect", "--key", "daily-2026.key.asc", "--json"],
            &fs::read(env.path("new.pgp")).unwrap(),
        )
        .ok();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report[0]["opened"]["cipher"], "AES-256");
    assert_eq!(report[0]["opened"]["compression"], "zstd");
    assert_eq!(report[0]["file"], "-");

    // Not a backup, and a damaged one among good ones: reported, the rest still listed.
    env.write("junk.pgp", b"hello, not OpenPGP\n");
    let out = env.run(&["inspect", "junk.pgp", "new.pgp"], b"");
    assert_eq!(out.status, 6, "{}", out.stderr);
    assert!(
        out.stderr.contains("junk.pgp: not OpenPGP data"),
        "{}",
        out.stderr
    );
    assert!(String::from_utf8(out.stdout).unwrap().contains("new.pgp:"));

    // A missing file in a tape set: reported, the others still listed, even as JSON.
    let out = env.run(
        &["inspect", "--json", "new.pgp", "gone.pgp", "old.pgp"],
        b"",
    );
    assert_eq!(out.status, 7, "{}", out.stderr);
    assert!(out.stderr.contains("gone.pgp"), "{}", out.stderr);
    let reports: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let files: Vec<&str> = reports
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["file"].as_str().unwrap())
        .collect();
    assert_eq!(files, ["new.pgp", "old.pgp"]);

    // --key over a set: a backup the key cannot open is still listed, with
    // its recipients and why it was not opened; the rest are opened.
    let out = env.run(
        &[
            "inspect",
            "--json",
            "--key",
            "daily-2026.key.asc",
            "old-only.pgp",
            "new.pgp",
        ],
        b"",
    );
    assert_eq!(out.status, 8, "{}", out.stderr);
    let reports: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(reports[0]["opened"].is_null());
    assert!(
        reports[0]["not_opened"]
            .as_str()
            .unwrap()
            .contains("no given secret key opens"),
        "{}",
        reports[0]
    );
    assert_eq!(reports[0]["recipients"][0]["key_id"], old_keyid.as_str());
    assert_eq!(reports[0]["recipients"][0]["pkesk_version"], 3);
    assert_eq!(reports[1]["opened"]["compression"], "zstd");
}

#[test]
fn inspect_reads_what_gpg_wrote() {
    let env = TestEnv::new();
    let (daily, _) = env.daily_and_escrow();
    env.gpg_import(&daily.cert);
    let out = env.gpg(
        &["--trust-model", "always", "-e", "-r", &daily.fingerprint],
        b"gpg data",
    );
    assert_eq!(out.status, 0, "{}", out.stderr);
    // gpg was asked for daily only, so the escrow key is missing: exit 8.
    let out = env.run(&["inspect", "--key", "daily.key.asc"], &out.stdout);
    assert_eq!(out.status, 8, "{}", out.stderr);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("daily (pinned, opened it)"), "{text}");
    assert!(
        text.contains("not readable by required recipient 'escrow'"),
        "{text}"
    );
    assert!(
        text.contains("compression: zip")
            || text.contains("compression: deflate")
            || text.contains("compression: zlib"),
        "{text}"
    );
}

/// Rekey: a backup made for the old daily key is re-addressed to the new
/// set; the encrypted body is copied byte for byte.
#[test]
fn rekey_readdresses_without_reencrypting() {
    let env = TestEnv::new();
    let old = env.keygen("daily-2025", &[]);
    let new = env.keygen("daily-2026", &[]);
    let escrow = env.keygen("escrow", &[]);
    let plain = sample_data(3_000_000);
    env.config(&[&old, &escrow], &[&escrow], &[&old]);
    let old_backup = encrypt_to_file(&env, "old.pgp", &plain, &["-c", "none"]);
    env.config(&[&new, &escrow], &[&escrow], &[&new]);

    env.run(
        &[
            "rekey",
            "--key",
            "daily-2025.key.asc",
            "-o",
            "new.pgp",
            "old.pgp",
        ],
        b"",
    )
    .ok();
    let before = fs::read(&old_backup).unwrap();
    let after = fs::read(env.path("new.pgp")).unwrap();
    let (recipients, tags, seipd) = message_shape(&after);
    let mut want: Vec<String> = [&new, &escrow]
        .iter()
        .flat_map(|k| encryption_keyids(&k.cert))
        .collect();
    let mut got = recipients.clone();
    want.sort();
    got.sort();
    assert_eq!(
        got, want,
        "new key packets for exactly the current recipients"
    );
    assert_eq!(seipd, Some(1));
    assert_eq!(tags.last(), Some(&sealpipe::openpgp::packet::Tag::SEIP));
    // The encrypted data is the same bytes: the files differ only in their
    // first few hundred bytes (the key packets).
    let common_tail = before
        .iter()
        .rev()
        .zip(after.iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    assert!(
        common_tail + 1024 > before.len().max(after.len()),
        "only the last {common_tail} of {} bytes were copied unchanged",
        before.len()
    );

    // The new key opens it, with sealpipe and with gpg; the old one no longer does.
    assert!(
        env.run(&["decrypt", "--key", "daily-2026.key.asc", "new.pgp"], b"")
            .ok()
            .stdout
            == plain
    );
    env.run(&["decrypt", "--key", "daily-2025.key.asc", "new.pgp"], b"")
        .fails(5, "no given secret key");
    env.gpg_import(&new.key);
    let out = env.gpg(&["-d", "new.pgp"], b"");
    assert_eq!(out.status, 0, "gpg -d: {}", out.stderr);
    assert!(out.stdout == plain);
    // gpg with only the removed key cannot open it either (and could open the original).
    let removed_only = TestEnv::new();
    removed_only.gpg_import(&old.key);
    let out = removed_only.gpg(&["-d"], &after);
    assert_ne!(
        out.status, 0,
        "gpg opened the rekeyed backup with the removed key"
    );
    assert!(out.stdout.is_empty());
    let out = removed_only.gpg(&["-d"], &before);
    assert_eq!(out.status, 0, "gpg -d of the original: {}", out.stderr);
    env.run(&["inspect", "new.pgp"], b"").ok();

    // Armored in, armored out; through stdin/stdout.
    let armored = env
        .run(&["rekey", "--key", "daily-2026.key.asc", "-a"], &after)
        .ok()
        .stdout;
    assert!(armored.starts_with(b"-----BEGIN PGP MESSAGE-----"));
    let again = env
        .run(&["rekey", "--key", "daily-2026.key.asc"], &armored)
        .ok()
        .stdout;
    assert!(env.run(&["decrypt"], &again).ok().stdout == plain);

    // Rekey still applies the policy: an unpinned recipient is refused.
    env.run(
        &[
            "rekey",
            "--key",
            "daily-2026.key.asc",
            "-r",
            "daily-2025",
            "new.pgp",
        ],
        b"",
    )
    .fails(4, "not pinned");
}

#[test]
fn rekey_refuses_damaged_input_and_leaves_no_file() {
    let env = TestEnv::new();
    env.daily_and_escrow();
    let plain = sample_data(1_000_000);
    let backup = fs::read(encrypt_to_file(&env, "b.pgp", &plain, &["-c", "none"])).unwrap();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("truncated", backup[..backup.len() - 1000].to_vec()),
        ("truncated", backup[..backup.len() / 2].to_vec()),
        ("trailing", [backup.as_slice(), b"garbage"].concat()),
        ("truncated", backup[..40].to_vec()),
    ];
    for (needle, input) in cases {
        env.write("bad.pgp", &input);
        env.run(&["rekey", "-o", "out.pgp", "bad.pgp"], b"")
            .fails(6, needle);
        assert!(
            !env.path("out.pgp").exists(),
            "no output on failure ({needle})"
        );
    }
    // No key that opens it.
    let other = env.keygen("other", &[]);
    env.run(
        &["rekey", "--key", other.key.to_str().unwrap(), "b.pgp"],
        b"",
    )
    .fails(5, "no given secret key");
}

/// The key packets at the front of `backup`, as bytes (sequoia writes a
/// PKESK v3 the one way, so they are the backup's first bytes).
fn key_packets(backup: &[u8]) -> Vec<u8> {
    use sealpipe::openpgp::serialize::MarshalInto;
    use sealpipe::openpgp::{Packet, PacketPile};
    let pile = PacketPile::from_bytes(backup).unwrap();
    let front: Vec<u8> = pile
        .children()
        .take_while(|p| matches!(p, Packet::PKESK(_)))
        .flat_map(|p| p.to_vec().unwrap())
        .collect();
    assert!(!front.is_empty() && backup.starts_with(&front));
    front
}

/// rekey must find the session key that opens the data, not only one that
/// a key packet yields: a forger who puts the key packets of one backup in
/// front of another's data (both made to our keys) gets a session key our
/// key unwraps but that does not fit. rekey refuses it as damage and writes
/// nothing, instead of re-addressing a key that opens nothing. (The data's
/// 2-byte quick check lets 1 in 65536 wrong keys past; the MDC, which
/// `verify` checks, catches those.)
#[test]
fn rekey_refuses_key_packets_that_do_not_fit_the_data() {
    let env = TestEnv::new();
    env.daily_and_escrow();
    let first = fs::read(encrypt_to_file(&env, "a.pgp", b"backup A", &[])).unwrap();
    let second = fs::read(encrypt_to_file(&env, "b.pgp", b"backup B", &[])).unwrap();
    let spliced = [
        key_packets(&first),
        second[key_packets(&second).len()..].to_vec(),
    ]
    .concat();
    env.write("spliced.pgp", &spliced);
    env.run(&["rekey", "-o", "out.pgp", "spliced.pgp"], b"")
        .fails(6, "integrity check failed");
    assert!(!env.path("out.pgp").exists(), "no output on failure");
    // The halves themselves are sound: each backup rekeys.
    env.run(&["rekey", "-o", "out.pgp", "b.pgp"], b"").ok();
}

#[test]
fn verify_reports_and_compares_the_digest() {
    let env = TestEnv::new();
    let (daily, _) = env.daily_and_escrow();
    let plain = sample_data(500_000);
    encrypt_to_file(&env, "b.pgp", &plain, &["--digest-file", "b.sha256"]);
    let digest = fs::read_to_string(env.path("b.sha256")).unwrap();
    let sha = digest.split_whitespace().next().unwrap().to_string();
    assert_eq!(sha.len(), 64);
    assert_eq!(
        shell("sha256sum", &plain).stdout[..64],
        *sha.as_bytes(),
        "digest is the plaintext's"
    );

    let out = env
        .run(&["verify", "--digest-file", "b.sha256", "b.pgp"], b"")
        .ok();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains(&format!("sha256: {sha}")), "{text}");
    assert!(text.contains("plaintext bytes: 500000"), "{text}");
    assert!(
        text.contains(&daily.fingerprint),
        "names the key that opened it: {text}"
    );

    let out = env
        .run(&["verify", "--json", "--expect-sha256", &sha, "b.pgp"], b"")
        .ok();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["sha256"], sha.as_str());
    assert_eq!(report["opened_by_cert"], daily.fingerprint.as_str());

    // Another backup's digest: exit 8.
    let wrong = "0".repeat(64);
    env.run(&["verify", "--expect-sha256", &wrong, "b.pgp"], b"")
        .fails(8, "expected");
    // Damage: exit 6, whatever the digest.
    let mut bytes = fs::read(env.path("b.pgp")).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x10;
    env.write("bad.pgp", &bytes);
    let out = env.run(&["verify", "--digest-file", "b.sha256", "bad.pgp"], b"");
    assert_eq!(out.status, 6, "{}", out.stderr);
    assert!(out.stdout.is_empty(), "no 'ok' report for a damaged backup");
}
