//! The envelope (what sits in front of the encrypted data) as decrypt,
//! inspect and rekey read it: legacy ciphers, key validity, armor header
//! bounds, the key packet limit, messages that name the real cause, and
//! inspect's two questions after a rotation.

mod common;

use std::fs;
use std::time::{Duration, UNIX_EPOCH};

use common::*;
use sealpipe::format::envelope::{MAX_ARMOR_HEADERS, MAX_ARMOR_HEADER_LINE, MAX_KEY_PACKETS};
use sealpipe::openpgp;

use openpgp::cert::prelude::*;
use openpgp::parse::Parse;
use openpgp::serialize::Serialize;
use openpgp::types::ReasonForRevocation;

/// A backup gpg writes to both recipients of the standard setup with
/// `cipher` forced, as an old gpg or a careless script would.
fn gpg_backup(env: &TestEnv, daily: &TestKey, escrow: &TestKey, cipher: &str) -> Vec<u8> {
    env.gpg_import(&daily.cert);
    env.gpg_import(&escrow.cert);
    let out = env.gpg(
        &[
            "--trust-model",
            "always",
            "--cipher-algo",
            cipher,
            "-e",
            "-r",
            &daily.fingerprint,
            "-r",
            &escrow.fingerprint,
        ],
        b"an old backup",
    );
    assert_eq!(out.status, 0, "gpg --cipher-algo {cipher}: {}", out.stderr);
    out.stdout
}

/// Issue 12.4: rekey does not carry 3DES or CAST5 forward, and inspect
/// does not call such a backup conforming. Issue 12.16: IDEA is named as an
/// unsupported cipher, not as damage.
#[test]
fn legacy_ciphers_refused_by_rekey_and_not_conforming_in_inspect() {
    let env = TestEnv::new();
    let (daily, escrow) = env.daily_and_escrow();
    let cases = [
        (
            "3DES",
            "encrypted with 3DES, a legacy cipher the policy refuses",
        ),
        (
            "CAST5",
            "encrypted with CAST5, a legacy cipher the policy refuses",
        ),
        (
            "IDEA",
            "encrypted with IDEA, which sealpipe does not support",
        ),
    ];
    for (cipher, refusal) in cases {
        let name = format!("{cipher}.pgp");
        env.write(&name, &gpg_backup(&env, &daily, &escrow, cipher));
        // decrypt refuses it; rekey applies the same rule.
        assert_eq!(env.run(&["decrypt", &name], b"").status, 6, "{cipher}");
        env.run(&["rekey", "-o", "rekeyed.pgp", &name], b"")
            .fails(6, refusal);
        assert!(!env.path("rekeyed.pgp").exists());

        let out = env.run(&["inspect", "--key", "daily.key.asc", &name], b"");
        let text = String::from_utf8(out.stdout).unwrap();
        assert_eq!(out.status, 8, "{}{text}", out.stderr);
        assert!(text.contains(&format!("cipher:      {cipher}")), "{text}");
        assert!(text.contains(refusal), "{text}");
        assert!(text.contains("DOES NOT CONFORM"), "{text}");
    }
}

/// What decrypt must say about IDEA. The session key (and so the cipher)
/// is chosen in decrypt's session module, owned by that module's work.
#[test]
fn decrypt_names_idea_unsupported() {
    let env = TestEnv::new();
    let (daily, escrow) = env.daily_and_escrow();
    env.write("idea.pgp", &gpg_backup(&env, &daily, &escrow, "IDEA"));
    env.run(&["decrypt", "idea.pgp"], b"")
        .fails(6, "encrypted with IDEA, which sealpipe does not support");
}

/// A policy time `secs` after the test's NOW.
fn later(secs: u64) -> String {
    (NOW + secs).to_string()
}

/// Run sealpipe with the policy clock at `now` instead of NOW.
fn run_at(env: &TestEnv, now: &str, args: &[&str]) -> Run {
    let mut cmd = env.cmd(args);
    cmd.env("SEALPIPE_NOW", now);
    run_with_stdin(cmd, b"")
}

/// Issue 12.5: after the pinned cert revokes the subkey a backup was made
/// for, inspect does not call that backup conforming (encrypt refuses the
/// cert too). Issue 13.1: each recipient key's expiry is shown.
#[test]
fn inspect_does_not_trust_a_revoked_subkey() {
    let env = TestEnv::new();
    let (daily, _escrow) = env.daily_and_escrow();
    let backup = env.run(&["encrypt"], b"data").ok().stdout;
    env.write("b.pgp", &backup);
    env.run(&["inspect", "b.pgp"], b"").ok();

    // The daily cert, re-published with its encryption subkey revoked.
    let tsk = Cert::from_file(&daily.key).unwrap();
    let mut signer = primary_keypair(&tsk);
    let subkey = tsk.keys().subkeys().next().unwrap().key().clone();
    let revoked_at = UNIX_EPOCH + Duration::from_secs(NOW + 60);
    let revocation = SubkeyRevocationBuilder::new()
        .set_reason_for_revocation(ReasonForRevocation::KeyRetired, b"retired")
        .unwrap()
        .set_signature_creation_time(revoked_at)
        .unwrap()
        .build(&mut signer, &tsk, &subkey, None)
        .unwrap();
    let (revoked, _) = tsk
        .strip_secret_key_material()
        .insert_packets(revocation)
        .unwrap();
    let mut armored = Vec::new();
    revoked.armored().serialize(&mut armored).unwrap();
    fs::write(&daily.cert, armored).unwrap();

    let now = later(3600);
    run_at(&env, &now, &["encrypt"]).fails(4, "daily");
    let out = run_at(&env, &now, &["inspect", "b.pgp"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status, 8, "{}{text}", out.stderr);
    assert!(text.contains("DOES NOT CONFORM"), "{text}");
    assert!(text.contains("key is revoked"), "{text}");
    // Before the revocation, it still conformed.
    env.run(&["inspect", "b.pgp"], b"").ok();
}

/// inspect needs no config: without one at the default path it lists a
/// backup's recipients by key ID. A config named by `SEALPIPE_CONFIG` (or
/// `--config`) that is missing is an error, never silently no policy.
#[test]
fn inspect_runs_without_the_default_config_but_not_without_a_named_one() {
    let env = TestEnv::new();
    let (daily, _escrow) = env.daily_and_escrow();
    let backup = env.run(&["encrypt"], b"data").ok().stdout;
    env.write("b.pgp", &backup);

    let mut named = env.cmd(&["inspect", "b.pgp"]);
    named.env("SEALPIPE_CONFIG", env.path("missing.toml"));
    run_with_stdin(named, b"").fails(3, "missing.toml");

    let default = std::path::Path::new(sealpipe::config::DEFAULT_CONFIG_PATH);
    if default.exists() {
        eprintln!(
            "{} exists: the default-config half is skipped",
            default.display()
        );
        return;
    }
    let mut unnamed = env.cmd(&["inspect", "b.pgp"]);
    unnamed.env_remove("SEALPIPE_CONFIG");
    let listed = String::from_utf8(run_with_stdin(unnamed, b"").ok().stdout).unwrap();
    for keyid in encryption_keyids(&daily.cert) {
        assert!(listed.contains(&keyid), "{keyid} not in {listed}");
    }
}

#[test]
fn inspect_shows_expiry_and_does_not_trust_an_expired_key() {
    let env = TestEnv::new();
    let daily = env.keygen("daily", &["--expires", "90d"]);
    let escrow = env.keygen("escrow", &[]);
    env.config(&[&daily, &escrow], &[&escrow], &[&daily]);
    env.write("b.pgp", &env.run(&["encrypt"], b"data").ok().stdout);

    let out = env.run(&["inspect", "b.pgp"], b"").ok();
    let text = String::from_utf8(out.stdout).unwrap();
    let daily_row = text.lines().find(|l| l.contains("daily (")).unwrap();
    assert!(daily_row.contains("expires 2026-08-30"), "{text}");
    let escrow_row = text.lines().find(|l| l.contains("escrow (")).unwrap();
    assert!(escrow_row.contains("no expiry"), "{text}");

    let out = run_at(&env, &later(100 * 86_400), &["inspect", "--json", "b.pgp"]);
    assert_eq!(out.status, 8, "{}", out.stderr);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report[0]["policy"]["conforms"], false);
    assert!(
        report[0]["policy"]["problems"]
            .to_string()
            .contains("expired"),
        "{}",
        report[0]
    );
    assert_eq!(report[0]["recipients"][0]["current"], false);
    // Named by this key's own state, with its date.
    assert_eq!(
        report[0]["recipients"][0]["not_current"], "expired on 2026-08-30 00:00:00 UTC",
        "{}",
        report[0]
    );
}

/// A genuine armored backup with `headers` inserted after its BEGIN line.
fn with_headers(armored: &[u8], headers: &[String]) -> Vec<u8> {
    let text = String::from_utf8(armored.to_vec()).unwrap();
    let (begin, rest) = text.split_once('\n').unwrap();
    let mut out = format!("{begin}\n");
    for h in headers {
        out += h;
        out += "\n";
    }
    if !rest.starts_with('\n') && !headers.is_empty() {
        out += "\n";
    }
    out += rest;
    out.into_bytes()
}

/// A `Comment:` header line of exactly `len` bytes.
fn comment(len: usize) -> String {
    format!("Comment: {}", "x".repeat(len - "Comment: ".len()))
}

/// Header lines that bring the armor before the data to exactly `total`
/// bytes (the BEGIN line included, newlines not).
fn headers_totalling(total: usize) -> Vec<String> {
    let mut left = total - "-----BEGIN PGP MESSAGE-----".len();
    let mut lines = Vec::new();
    while left > 0 {
        let len = left.min(MAX_ARMOR_HEADER_LINE);
        let len = if left - len > 0 && left - len < 16 {
            len - 16
        } else {
            len
        };
        lines.push(comment(len));
        left -= len;
    }
    lines
}

/// Issue 12.8: armor header lines and the headers together are bounded;
/// a genuine backup just under each bound decrypts, just over is refused.
#[test]
fn armor_headers_are_bounded() {
    let env = TestEnv::new();
    env.daily_and_escrow();
    let plain = sample_data(10_000);
    let armored = env.run(&["encrypt", "-a"], &plain).ok().stdout;

    let line_at_bound = with_headers(&armored, &[comment(MAX_ARMOR_HEADER_LINE)]);
    let out = env.run(&["decrypt"], &line_at_bound).ok();
    assert_eq!(out.stdout, plain);
    let line_over = with_headers(&armored, &[comment(MAX_ARMOR_HEADER_LINE + 1)]);
    env.run(&["decrypt"], &line_over)
        .fails(6, "armor has a header line longer than 4096 bytes");
    env.run(&["inspect", "-"], &line_over)
        .fails(6, "header line longer");

    let total_at_bound = with_headers(&armored, &headers_totalling(MAX_ARMOR_HEADERS));
    let out = env.run(&["decrypt"], &total_at_bound).ok();
    assert_eq!(out.stdout, plain);
    let total_over = with_headers(&armored, &headers_totalling(MAX_ARMOR_HEADERS + 1));
    env.run(&["decrypt"], &total_over)
        .fails(6, "armor headers exceed 65536 bytes");

    // Blank lines before the BEGIN line count, and do not end the bounds.
    let blank_first = [&b"\n\n"[..], &line_over].concat();
    env.run(&["decrypt"], &blank_first)
        .fails(6, "armor has a header line longer than 4096 bytes");
}

/// A writer that leaves out the blank line after the BEGIN line: the first
/// data line ends the headers, so a backup whose armored data is larger
/// than the bound on the headers restores.
#[test]
fn armor_without_the_blank_line_is_read() {
    let env = TestEnv::new();
    env.daily_and_escrow();
    let plain = sample_data(100_000);
    let armored = env
        .run(&["encrypt", "-a", "-c", "none"], &plain)
        .ok()
        .stdout;
    let text = String::from_utf8(armored).unwrap();
    assert!(
        text.len() > 2 * MAX_ARMOR_HEADERS,
        "precondition: larger than the bound"
    );
    let tight = text.replacen("-----\n\n", "-----\n", 1);
    assert_ne!(tight, text, "precondition: the blank line was there");
    let out = env.run(&["decrypt"], tight.as_bytes()).ok();
    assert!(out.stdout == plain);
}

/// `count` key packets: marker packets in front of a genuine backup's one.
fn with_key_packets(backup: &[u8], count: usize) -> Vec<u8> {
    let (recipients, ..) = message_shape(backup);
    assert_eq!(recipients.len(), 1);
    let marker = [0xA8, 0x03, b'P', b'G', b'P'];
    let mut out = marker.repeat(count - 1);
    out.extend_from_slice(backup);
    out
}

/// Issue 12.13: exactly the limit of key packets is read, one more refused.
#[test]
fn key_packet_limit_is_exact() {
    let env = TestEnv::new();
    let daily = env.keygen("daily", &[]);
    env.config(&[&daily], &[], &[&daily]);
    let backup = env.run(&["encrypt"], b"data").ok().stdout;
    let out = env
        .run(&["decrypt"], &with_key_packets(&backup, MAX_KEY_PACKETS))
        .ok();
    assert_eq!(out.stdout, b"data");
    env.run(
        &["decrypt"],
        &with_key_packets(&backup, MAX_KEY_PACKETS + 1),
    )
    .fails(6, "more than 1024");
}

/// Issues 12.16 and 14.4: what is not a backup is named for what it is.
#[test]
fn not_a_backup_is_named() {
    let env = TestEnv::new();
    let (daily, _) = env.daily_and_escrow();
    let out = env.gpg(
        &[
            "--passphrase",
            "",
            "--quick-gen-key",
            "signer <s@example.org>",
            "ed25519",
            "sign",
            "never",
        ],
        b"",
    );
    assert_eq!(out.status, 0, "{}", out.stderr);
    env.write("text", b"hello\n");
    let sign = |args: &[&str]| {
        let out = env.gpg(args, b"");
        assert_eq!(out.status, 0, "{}", out.stderr);
    };
    sign(&["-u", "s@example.org", "--clearsign", "text"]);
    sign(&["-u", "s@example.org", "-b", "text"]);
    sign(&["-u", "s@example.org", "-s", "-o", "text.signed", "text"]);
    sign(&[
        "-u",
        "s@example.org",
        "-z",
        "0",
        "-s",
        "-o",
        "text.plain-signed",
        "text",
    ]);
    let symmetric = env.gpg(&["--passphrase", "x", "-c"], b"secret");
    assert_eq!(symmetric.status, 0, "{}", symmetric.stderr);

    let binary_cert = {
        let mut out = Vec::new();
        Cert::from_file(&daily.cert)
            .unwrap()
            .serialize(&mut out)
            .unwrap();
        out
    };
    let binary_key = {
        let mut out = Vec::new();
        Cert::from_file(&daily.key)
            .unwrap()
            .as_tsk()
            .serialize(&mut out)
            .unwrap();
        out
    };
    // Random bytes whose first byte reads as a packet header (tag 41).
    let random: Vec<u8> = [0xE9, 0x20].into_iter().chain(sample_data(40)).collect();
    let cases: [(&str, Vec<u8>, &str); 11] = [
        (
            "armored cert",
            fs::read(&daily.cert).unwrap(),
            "this is an OpenPGP public key",
        ),
        ("binary cert", binary_cert, "this is an OpenPGP public key"),
        (
            "binary secret key",
            binary_key,
            "this is an OpenPGP secret key",
        ),
        (
            "secret key",
            fs::read(&daily.key).unwrap(),
            "this is an OpenPGP secret key",
        ),
        (
            "cleartext",
            fs::read(env.path("text.asc")).unwrap(),
            "this is a cleartext-signed text",
        ),
        (
            "detached",
            fs::read(env.path("text.sig")).unwrap(),
            "this is an OpenPGP signature",
        ),
        (
            "signed",
            fs::read(env.path("text.signed")).unwrap(),
            "not encrypted",
        ),
        (
            "signed, not compressed",
            fs::read(env.path("text.plain-signed")).unwrap(),
            "this is a signed OpenPGP message that is not encrypted",
        ),
        (
            "random",
            random,
            "(it does not start with an OpenPGP packet)",
        ),
        (
            "text",
            b"hello, not OpenPGP\n".to_vec(),
            "(its first byte is not an OpenPGP packet header)",
        ),
        (
            "gpg -c",
            symmetric.stdout,
            "encrypted with a passphrase only (gpg -c)",
        ),
    ];
    for (what, bytes, needle) in cases {
        let out = env.run(&["decrypt"], &bytes);
        assert_eq!(out.status, 6, "{what}: {}", out.stderr);
        assert!(out.stderr.contains(needle), "{what}: {}", out.stderr);
        assert!(!out.stderr.contains("truncated"), "{what}: {}", out.stderr);
    }
}

/// Issue 14.6: after a rotation, a backup the escrow (and the old key)
/// opens is openable, not exact; the user chooses which question fails.
/// The columns line up, and a key that opened it is named by its file.
#[test]
fn inspect_after_rotation_separates_openable_from_exact() {
    let env = TestEnv::new();
    let old = env.keygen("daily-2025", &[]);
    let new = env.keygen("daily-2026", &[]);
    let escrow = env.keygen("escrow", &[]);
    env.config(&[&old, &escrow], &[&escrow], &[&old]);
    env.write("old.pgp", &env.run(&["encrypt"], b"old").ok().stdout);
    env.config(&[&new, &escrow], &[&escrow], &[&new]);
    env.write("new.pgp", &env.run(&["encrypt"], b"new").ok().stdout);

    let out = env.run(&["inspect", "old.pgp", "new.pgp"], b"").ok();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("exact:       no"), "{text}");
    assert!(
        text.contains("also readable by keys that are no longer pinned"),
        "{text}"
    );

    let out = env.run(
        &["inspect", "--require", "exact", "old.pgp", "new.pgp"],
        b"",
    );
    assert_eq!(out.status, 8, "{}", out.stderr);
    assert!(out.stderr.contains("1 of 2 backups"), "{}", out.stderr);

    // With the old key: named by its file, not "unknown key"; columns aligned.
    let out = env
        .run(&["inspect", "--key", "daily-2025.key.asc", "old.pgp"], b"")
        .ok();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!text.contains("unknown key"), "{text}");
    assert!(
        text.contains("daily-2025.key.asc (known, not pinned, opened it)"),
        "{text}"
    );
    let rows: Vec<&str> = text.lines().filter(|l| l.contains("PKESK v3")).collect();
    assert_eq!(rows.len(), 2, "{text}");
    let column =
        |needle: &str| -> Vec<usize> { rows.iter().map(|r| r.find(needle).unwrap()).collect() };
    for needle in ["cert ", "ECDH", "PKESK"] {
        let at = column(needle);
        assert!(
            at.iter().all(|&c| c == at[0]),
            "{needle} not aligned:\n{text}"
        );
    }
}

/// Issue 18.3: a pin mismatch is the same refusal with the same exit code
/// from encrypt and inspect; inspect prints each failure once. Issue 14.5:
/// inspect's help says what `--key` defaults to, and that is what it does.
#[test]
fn inspect_refuses_like_encrypt_and_says_things_once() {
    let env = TestEnv::new();
    let (daily, escrow) = env.daily_and_escrow();
    env.write("b.pgp", &env.run(&["encrypt"], b"data").ok().stdout);

    // Without --key, [decrypt] keys in the config are not used.
    let out = env.run(&["inspect", "b.pgp"], b"").ok();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("give --key to see it"), "{text}");
    // Issue 15: a signature is inside the encryption too.
    assert!(
        text.contains("signature:   (inside the encryption, if any: not visible without a key)"),
        "{text}"
    );
    let help = String::from_utf8(env.run(&["inspect", "--help"], b"").ok().stdout).unwrap();
    assert!(!help.contains("Default: [decrypt] keys"), "{help}");
    assert!(help.contains("Default: none"), "{help}");
    assert!(help.contains("--require"), "{help}");

    env.write("junk.pgp", b"hello, not OpenPGP\n");
    let out = env.run(&["inspect", "junk.pgp", "b.pgp"], b"");
    assert_eq!(out.status, 6, "{}", out.stderr);
    assert_eq!(out.stderr.matches("junk.pgp").count(), 1, "{}", out.stderr);

    // The daily pin now names the escrow cert's file.
    let config = fs::read_to_string(env.path("sealpipe.toml")).unwrap();
    let swapped = config.replacen("cert = \"daily.cert.asc\"", "cert = \"escrow.cert.asc\"", 1);
    assert_ne!(swapped, config);
    env.write("sealpipe.toml", swapped.as_bytes());
    let refusal = format!("recipient 'daily' ({}): cert file ", daily.fingerprint);
    let cause = format!(
        "escrow.cert.asc holds key {}, not the pinned fingerprint",
        escrow.fingerprint
    );
    for args in [&["encrypt"][..], &["inspect", "b.pgp"]] {
        let out = env.run(args, b"data").fails(4, &refusal).fails(4, &cause);
        assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    }
}

/// rekey copies the encrypted data as it is and puts v3 key packets in
/// front, which only SEIPD v1 may follow: an AEAD (SEIPD v2) backup,
/// which sequoia writes to certs that advertise it, is refused by name,
/// with nothing written, though its key opens it.
#[test]
fn rekey_refuses_an_aead_seipd_v2_backup() {
    use openpgp::serialize::stream::{Encryptor, LiteralWriter, Message, Recipient};
    use openpgp::types::{AEADAlgorithm, Features};
    use std::io::Write;

    let env = TestEnv::new();
    let (daily, _escrow) = env.daily_and_escrow();
    let cert = Cert::from_file(&daily.cert).unwrap();
    let policy = openpgp::policy::StandardPolicy::new();
    let recipients: Vec<_> = cert
        .keys()
        .with_policy(&policy, None)
        .for_storage_encryption()
        .map(|ka| {
            Recipient::new(
                Features::empty().set_seipdv2(),
                ka.key().key_handle(),
                ka.key(),
            )
        })
        .collect();
    let mut backup = Vec::new();
    let encryptor = Encryptor::for_recipients(Message::new(&mut backup), recipients)
        .aead_algo(AEADAlgorithm::EAX)
        .build()
        .unwrap();
    let mut literal = LiteralWriter::new(encryptor).build().unwrap();
    literal.write_all(b"an AEAD backup").unwrap();
    literal.finalize().unwrap();
    env.write("v2.pgp", &backup);

    let shown = env.run(&["inspect", "v2.pgp"], b"");
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(text.contains("SEIPD v2 (AEAD)"), "{text}{}", shown.stderr);
    // And the policy names it: not the container sealpipe writes.
    assert_eq!(shown.status, 8, "{text}");
    assert!(
        text.contains("container is SEIPD v2 (AEAD), not what sealpipe writes (SEIPD v1)"),
        "{text}"
    );
    env.run(&["rekey", "-o", "rekeyed.pgp", "v2.pgp"], b"")
        .fails(6, "rekey handles SEIPD v1 messages (what sealpipe and GnuPG 2.2 write); this one is SEIPD v2 (AEAD)");
    assert!(!env.path("rekeyed.pgp").exists());
}

/// Read from a pipe, inspect counts the backup's bytes itself (there is no
/// file size to take): the size of a binary backup; none for an armored
/// one (the bytes counted are the dearmored ones, not the file's) or with
/// --key (whose probe reads part of the data before the count). With
/// --key, only the recipient whose key opened it says so.
#[test]
fn inspect_of_a_pipe_counts_the_backup_and_names_who_opened_it() {
    let env = TestEnv::new();
    env.daily_and_escrow();
    let backup = env.run(&["encrypt"], &sample_data(100_000)).ok().stdout;
    let armored = env
        .run(&["encrypt", "--armor"], &sample_data(100_000))
        .ok()
        .stdout;
    let report = |args: &[&str], input: &[u8]| -> serde_json::Value {
        let out = env.run(args, input).ok();
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()[0].clone()
    };
    assert_eq!(
        report(&["inspect", "--json"], &backup)["size"],
        backup.len()
    );
    assert!(report(&["inspect", "--json"], &armored)["size"].is_null());
    let opened = report(&["inspect", "--json", "--key", "daily.key.asc"], &backup);
    assert!(opened["size"].is_null(), "{opened}");
    let by_name = |name: &str| {
        opened["recipients"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("no recipient {name}: {opened}"))
            .clone()
    };
    assert_eq!(by_name("daily")["opened_it"], true, "{opened}");
    assert_eq!(by_name("escrow")["opened_it"], false, "{opened}");
}

/// A backup that a passphrase opens too (gpg -e -c: the pinned recipients
/// and an SKESK): openable, but not exactly today's set; inspect says why.
#[test]
fn a_passphrase_beside_the_keys_is_a_difference() {
    let env = TestEnv::new();
    let (daily, escrow) = env.daily_and_escrow();
    env.gpg_import(&daily.cert);
    env.gpg_import(&escrow.cert);
    let both = env.gpg(
        &[
            "--batch",
            "--trust-model",
            "always",
            "--passphrase",
            "x",
            "--pinentry-mode",
            "loopback",
            "-e",
            "-c",
            "-r",
            &daily.fingerprint,
            "-r",
            &escrow.fingerprint,
        ],
        b"a backup a passphrase opens too",
    );
    assert_eq!(both.status, 0, "{}", both.stderr);
    env.write("both.pgp", &both.stdout);
    let out = env.run(&["inspect", "--json", "both.pgp"], b"").ok();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report[0]["passphrase_packets"], 1, "{}", report[0]);
    assert_eq!(report[0]["policy"]["openable"], true, "{}", report[0]);
    assert_eq!(report[0]["policy"]["exact"], false, "{}", report[0]);
    assert!(
        report[0]["policy"]["differences"]
            .to_string()
            .contains("also decryptable with a passphrase"),
        "{}",
        report[0]
    );
    let exact = env
        .run(&["inspect", "--require", "exact", "both.pgp"], b"")
        .fails(8, "do not conform");
    let said = String::from_utf8_lossy(&exact.stdout);
    assert!(
        said.contains("also decryptable with a passphrase"),
        "{said}"
    );
    assert!(said.contains("    + 1 passphrase packet(s)\n"), "{said}");
    // A backup without one says nothing of passphrases.
    env.write("plain.pgp", &env.run(&["encrypt"], b"data").ok().stdout);
    let plain = env.run(&["inspect", "plain.pgp"], b"").ok();
    let said = String::from_utf8_lossy(&plain.stdout);
    assert!(!said.contains("passphrase"), "{said}");
}

/// A key packet addressed to a pinned cert's primary key, which only
/// certifies and signs: that key is valid, alive and unrevoked, and still
/// no key encrypt would use; inspect says so.
#[test]
fn a_key_packet_for_a_signing_only_key_is_not_current() {
    let env = TestEnv::new();
    let (daily, _escrow) = env.daily_and_escrow();
    let backup = env.run(&["encrypt"], b"a backup").ok().stdout;
    env.write("b.pgp", &backup);
    let out = env.run(&["inspect", "--json", "b.pgp"], b"").ok();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let subkey_id = report[0]["recipients"][0]["key_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(report[0]["recipients"][0]["name"], "daily");
    let hex = |id: &str| -> Vec<u8> {
        (0..id.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&id[i..i + 2], 16).unwrap())
            .collect()
    };
    let (subkey, primary) = (hex(&subkey_id), hex(&daily.fingerprint[24..]));
    let at = backup
        .windows(8)
        .position(|w| w == subkey.as_slice())
        .expect("the key packet names the subkey");
    let mut readdressed = backup.clone();
    readdressed[at..at + 8].copy_from_slice(&primary);
    env.write("primary.pgp", &readdressed);
    let out = env.run(&["inspect", "--json", "primary.pgp"], b"");
    assert_eq!(out.status, 8, "{}", out.stderr);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let daily_row = &report[0]["recipients"][0];
    assert_eq!(
        daily_row["key_fingerprint"],
        daily.fingerprint.as_str(),
        "{report}"
    );
    assert_eq!(daily_row["current"], false, "{report}");
    assert_eq!(
        daily_row["not_current"], "is not an encryption key",
        "{report}"
    );
}
