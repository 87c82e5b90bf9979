//! Signed backups (issue 15, encrypt side): `keygen --sign`, `[sign] key`
//! and `--sign-key`; gpg 2.2 verifies what sealpipe signs; a signing key
//! that cannot sign is refused before a byte is written; decrypt and rekey
//! carry signed backups as before.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use common::*;
use sealpipe::openpgp;

use openpgp::packet::Signature;
use openpgp::parse::{PacketParser, PacketParserResult, Parse};
use openpgp::serialize::SerializeInto;
use openpgp::types::HashAlgorithm;
use openpgp::{Cert, Fingerprint, Packet};

/// A signing key made by `keygen --sign`: its files and primary fingerprint.
struct SigningKey {
    key: PathBuf,
    cert: PathBuf,
    fingerprint: String,
}

/// `sealpipe keygen --sign --name NAME` (never expiring unless `extra` says).
fn keygen_sign(env: &TestEnv, name: &str, extra: &[&str]) -> SigningKey {
    let mut args = vec!["--sign"];
    args.extend_from_slice(extra);
    if !extra.contains(&"--expires") {
        args.extend(["--expires", "never"]);
    }
    let (made, snippet) = env.keygen_printing(name, &args);
    assert!(
        snippet.contains(&format!("[sign]\nkey = \"{name}.key.asc\"\n")),
        "{snippet}"
    );
    SigningKey {
        key: made.key,
        cert: made.cert,
        fingerprint: made.fingerprint,
    }
}

/// The standard recipients, and `[sign] key` naming `signer`.
fn signing_config(env: &TestEnv, signer: &SigningKey) -> (TestKey, TestKey) {
    let (daily, escrow) = env.daily_and_escrow();
    let mut text = fs::read_to_string(env.path("sealpipe.toml")).unwrap();
    text += &format!(
        "[sign]\nkey = \"{}\"\n",
        signer.key.file_name().unwrap().to_str().unwrap()
    );
    env.write("sealpipe.toml", text.as_bytes());
    (daily, escrow)
}

/// gpg (with the decryption key and the signer's cert imported) decrypts
/// `backup` and reports a good signature by `signer`'s primary key; the
/// plaintext gpg wrote.
fn gpg_verified(env: &TestEnv, backup: &[u8], signer: &str) -> Vec<u8> {
    let out = env.gpg(&["--status-fd", "2", "-d"], backup);
    assert_eq!(out.status, 0, "gpg -d: {}", out.stderr);
    let validsig = out
        .stderr
        .lines()
        .find(|l| l.starts_with("[GNUPG:] VALIDSIG "))
        .unwrap_or_else(|| panic!("no VALIDSIG: {}", out.stderr));
    let fields: Vec<&str> = validsig.split(' ').collect();
    assert_eq!(fields.last(), Some(&signer), "{validsig}");
    assert_eq!(fields[9], "8", "hashed with SHA-256: {validsig}");
    assert!(out.stderr.contains("[GNUPG:] GOODSIG "), "{}", out.stderr);
    assert!(!out.stderr.contains("BADSIG"), "{}", out.stderr);
    out.stdout
}

/// The signature packets inside `backup`, as gpg unwraps the encryption,
/// parsed by sequoia (into the compressed packet in deflate mode), and the
/// inner packet tags in order.
fn inner_signatures(env: &TestEnv, backup: &[u8]) -> (Vec<Signature>, Vec<openpgp::packet::Tag>) {
    let out = env.gpg(&["-d", "--unwrap"], backup);
    assert_eq!(out.status, 0, "gpg -d --unwrap: {}", out.stderr);
    let mut signatures = Vec::new();
    let mut tags = Vec::new();
    let mut ppr = PacketParser::from_bytes(&out.stdout).unwrap();
    while let PacketParserResult::Some(pp) = ppr {
        tags.push(pp.packet.tag());
        if let Packet::Signature(s) = &pp.packet {
            signatures.push(s.clone());
        }
        ppr = pp.recurse().unwrap().1;
    }
    (signatures, tags)
}

fn fingerprint_of(cert: &std::path::Path) -> Fingerprint {
    Cert::from_file(cert).unwrap().fingerprint()
}

#[test]
fn gpg_verifies_signed_backups_in_every_mode() {
    use openpgp::packet::Tag;
    let env = TestEnv::new();
    let signer = keygen_sign(&env, "host1", &[]);
    let (daily, escrow) = signing_config(&env, &signer);
    env.gpg_import(&daily.key);
    env.gpg_import(&signer.cert);
    let plain = sample_data(1_500_000);
    for (mode, inner) in [
        ("zstd", vec![Tag::OnePassSig, Tag::Literal, Tag::Signature]),
        (
            "deflate",
            vec![
                Tag::CompressedData,
                Tag::OnePassSig,
                Tag::Literal,
                Tag::Signature,
            ],
        ),
        ("none", vec![Tag::OnePassSig, Tag::Literal, Tag::Signature]),
    ] {
        let backup = env.run(&["encrypt", "-c", mode], &plain).ok().stdout;
        let (_, _, seipd) = message_shape(&backup);
        assert_eq!(seipd, Some(1), "{mode}: SEIPDv1, which gpg 2.2 reads");

        let restored = gpg_verified(&env, &backup, &signer.fingerprint);
        let restored = match mode {
            "zstd" => shell("zstd -d", &restored).ok().stdout,
            _ => restored,
        };
        assert!(restored == plain, "{mode}: gpg restores byte for byte");

        let (signatures, tags) = inner_signatures(&env, &backup);
        assert_eq!(tags, inner, "{mode}: one-pass signed, as gpg -se writes");
        let [signature] = <[Signature; 1]>::try_from(signatures).unwrap();
        assert_eq!(signature.hash_algo(), HashAlgorithm::SHA256, "{mode}");
        let mut intended: Vec<Fingerprint> = signature.intended_recipients().cloned().collect();
        let mut want = vec![fingerprint_of(&daily.cert), fingerprint_of(&escrow.cert)];
        intended.sort();
        want.sort();
        assert_eq!(intended, want, "{mode}: the approved recipients");

        // Today's decrypt restores signed backups with either reader.
        for reader in ["fast", "stock"] {
            let out = env.run(&["decrypt", "--reader", reader], &backup).ok();
            assert!(out.stdout == plain, "{mode}, {reader} reader");
        }
    }
}

/// RSA-4096 on request, named on the command line: gpg verifies it too.
#[test]
fn sign_key_option_and_rsa_signing_keys_work() {
    let env = TestEnv::new();
    let signer = keygen_sign(&env, "host-rsa", &["--algorithm", "rsa4096"]);
    let (daily, _) = env.daily_and_escrow();
    env.gpg_import(&daily.key);
    env.gpg_import(&signer.cert);
    let plain = sample_data(100_000);
    let backup = env
        .run(
            &["encrypt", "-c", "none", "--sign-key", "host-rsa.key.asc"],
            &plain,
        )
        .ok()
        .stdout;
    assert!(gpg_verified(&env, &backup, &signer.fingerprint) == plain);
    // Unsigned without the option and without [sign]: as before.
    let backup = env.run(&["encrypt", "-c", "none"], &plain).ok().stdout;
    assert!(inner_signatures(&env, &backup).0.is_empty());
}

/// The new key signs and can never decrypt: no encryption-capable key.
#[test]
fn keygen_sign_makes_a_key_that_cannot_decrypt() {
    let env = TestEnv::new();
    let signer = keygen_sign(&env, "host1", &[]);
    let cert = Cert::from_file(&signer.key).unwrap();
    let policy = openpgp::policy::StandardPolicy::new();
    let valid = cert.with_policy(&policy, None).unwrap();
    assert_eq!(valid.keys().for_signing().count(), 1);
    assert_eq!(valid.keys().for_storage_encryption().count(), 0);
    assert_eq!(valid.keys().for_transport_encryption().count(), 0);
    assert!(
        !valid.primary_key().for_signing(),
        "the primary only certifies"
    );
    assert_eq!(
        common::file_mode(&signer.key) & 0o777,
        0o600,
        "secret written private"
    );
    // gpg 2.2 reads the secret key and the cert.
    env.gpg_import(&signer.key);
    let listed = env.gpg(&["--with-colons", "-K"], b"");
    assert!(
        listed
            .stdout
            .windows(signer.fingerprint.len())
            .any(|w| w == signer.fingerprint.as_bytes()),
        "gpg -K lists the key"
    );
}

/// Runs `encrypt -o out.pgp` and checks it fails with `code` and `needle`,
/// leaving no output at all.
fn refused_before_writing(env: &TestEnv, args: &[&str], now: u64, code: i32, needle: &str) {
    let mut cmd = env.cmd(&[&["encrypt", "-o", "out.pgp"][..], args].concat());
    cmd.env("SEALPIPE_NOW", now.to_string());
    let out = run_with_stdin(cmd, &sample_data(10_000));
    let out = out.fails(code, needle);
    assert!(out.stdout.is_empty());
    assert!(!env.path("out.pgp").exists(), "nothing written");
}

#[test]
fn expired_or_revoked_signing_keys_are_refused_before_writing() {
    let env = TestEnv::new();
    let signer = keygen_sign(
        &env,
        "host1",
        &["--expires", "1d", "--revocation-out", "host1.rev.asc"],
    );
    signing_config(&env, &signer);
    // Valid now; two days later expired.
    let out = run_with_stdin(env.cmd(&["encrypt"]), b"x").ok();
    assert!(!out.stdout.is_empty());
    refused_before_writing(&env, &[], NOW + 2 * 86_400, 4, "expired");

    // Revoked: the revocation certificate merged into the key file.
    let key = Cert::from_file(&signer.key).unwrap();
    let revocation = Cert::from_file(env.path("host1.rev.asc")).unwrap();
    let revoked = key.merge_public(revocation).unwrap();
    let revoked_file = env.write(
        "revoked.key.asc",
        &revoked.as_tsk().armored().to_vec().unwrap(),
    );
    fs::set_permissions(&revoked_file, fs::Permissions::from_mode(0o600)).unwrap();
    refused_before_writing(
        &env,
        &["--sign-key", "revoked.key.asc"],
        NOW,
        4,
        "is revoked",
    );
}

#[test]
fn files_that_are_not_a_private_signing_key_are_refused() {
    let env = TestEnv::new();
    let signer = keygen_sign(&env, "host1", &[]);
    let (daily, _) = env.daily_and_escrow();
    let cert = signer.cert.to_str().unwrap();
    refused_before_writing(&env, &["--sign-key", cert], NOW, 5, "holds no secret key");
    // A decryption key cannot sign.
    let daily_key = daily.key.to_str().unwrap();
    refused_before_writing(
        &env,
        &["--sign-key", daily_key],
        NOW,
        4,
        "no valid signing-capable key",
    );
    // A secret others can read.
    fs::set_permissions(&signer.key, fs::Permissions::from_mode(0o644)).unwrap();
    let key = signer.key.to_str().unwrap();
    refused_before_writing(&env, &["--sign-key", key], NOW, 5, "chmod 600");
}

/// rekey copies the encrypted body byte for byte: the signature inside
/// survives, and gpg still verifies it with the new key.
#[test]
fn rekey_keeps_the_signature() {
    let env = TestEnv::new();
    let signer = keygen_sign(&env, "host1", &[]);
    let (old, escrow) = signing_config(&env, &signer);
    let plain = sample_data(200_000);
    let backup = env.run(&["encrypt", "-c", "deflate"], &plain).ok().stdout;
    let new = env.keygen("daily-new", &[]);
    env.config(&[&new, &escrow], &[&escrow], &[&new]);
    let old_key = old.key.to_str().unwrap();
    let rekeyed = env.run(&["rekey", "--key", old_key], &backup).ok().stdout;
    assert!(rekeyed != backup, "new key packets");
    let common_tail = backup
        .iter()
        .rev()
        .zip(rekeyed.iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    assert!(
        common_tail + 1024 > backup.len(),
        "the encrypted body is copied: only its last {common_tail} of {} bytes are",
        backup.len()
    );

    env.gpg_import(&new.key);
    env.gpg_import(&signer.cert);
    assert!(gpg_verified(&env, &rekeyed, &signer.fingerprint) == plain);
}

/// A protected signing key opens with `[sign] passphrase_file`, and only
/// with the right passphrase; encrypt never waits for one.
#[test]
fn a_protected_signing_key_needs_its_passphrase_file() {
    let env = TestEnv::new();
    let passphrase = env.write("sign-passphrase", b"correct horse\n");
    fs::set_permissions(&passphrase, fs::Permissions::from_mode(0o600)).unwrap();
    let signer = keygen_sign(&env, "host1", &["--passphrase-file", "sign-passphrase"]);
    let (daily, _) = signing_config(&env, &signer);
    refused_before_writing(&env, &[], NOW, 5, "passphrase-protected");

    let config = fs::read_to_string(env.path("sealpipe.toml")).unwrap();
    let wrong = env.write("wrong", b"battery staple\n");
    fs::set_permissions(&wrong, fs::Permissions::from_mode(0o600)).unwrap();
    env.write(
        "sealpipe.toml",
        format!("{config}passphrase_file = \"wrong\"\n").as_bytes(),
    );
    refused_before_writing(&env, &[], NOW, 5, "wrong passphrase");

    env.write(
        "sealpipe.toml",
        format!("{config}passphrase_file = \"sign-passphrase\"\n").as_bytes(),
    );
    let plain = sample_data(50_000);
    let backup = env.run(&["encrypt", "-c", "none"], &plain).ok().stdout;
    env.gpg_import(&daily.key);
    env.gpg_import(&signer.cert);
    assert!(gpg_verified(&env, &backup, &signer.fingerprint) == plain);
}
