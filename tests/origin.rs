//! Origin (issue 15, decrypt side): with `[decrypt] allowed_signers` a
//! restore accepts only backups signed by a listed signer. Forgeries are
//! made as a forger would: plain `gpg -e` to the pinned certs, sealpipe
//! with the forger's own signing key, and messages whose inner packets the
//! forger altered and re-encrypted (a fresh MDC: the forger knows the
//! session key of their own message). Every refusal is checked with both
//! readers, exit 10 and not one byte out.

mod common;

use std::fs;
use std::io::Write;
use std::time::{Duration, UNIX_EPOCH};

use common::*;
use sealpipe::openpgp;

use openpgp::crypto::KeyPair;
use openpgp::packet::one_pass_sig::OnePassSig3;
use openpgp::packet::signature::SignatureBuilder;
use openpgp::packet::{key, Key, OnePassSig, Signature, Tag};
use openpgp::parse::Parse;
use openpgp::policy::StandardPolicy;
use openpgp::serialize::stream::{Encryptor, LiteralWriter, Message, Signer};
use openpgp::serialize::SerializeInto;
use openpgp::types::{HashAlgorithm, SignatureType};
use openpgp::{Cert, Packet};

const ORIGIN: i32 = 10;

/// Recipients pinned, a signing key `host1` in `[sign]`, and on the
/// restore side `allowed_signers` listing host1 with its cert.
struct Setup {
    env: TestEnv,
    daily: TestKey,
    escrow: TestKey,
    signer: TestKey,
}

impl Setup {
    fn new() -> Setup {
        let env = TestEnv::new();
        let (daily, escrow) = env.daily_and_escrow();
        let signer = env.keygen("host1", &["--sign", "--revocation-out", "host1.rev.asc"]);
        env.write(
            "allowed-signers",
            format!("# backup hosts\n{}\n", signer.fingerprint).as_bytes(),
        );
        let config = fs::read_to_string(env.path("sealpipe.toml")).unwrap();
        env.write(
            "sealpipe.toml",
            format!(
                "{config}allowed_signers = \"allowed-signers\"\n\
                 signer_certs = [\"host1.cert.asc\"]\n\
                 [sign]\nkey = \"host1.key.asc\"\n"
            )
            .as_bytes(),
        );
        Setup {
            env,
            daily,
            escrow,
            signer,
        }
    }

    /// Add `cert` to `signer_certs` beside host1's.
    fn add_signer_cert(&self, cert: &str) {
        let config = fs::read_to_string(self.env.path("sealpipe.toml")).unwrap();
        self.env.write(
            "sealpipe.toml",
            config
                .replace(
                    "signer_certs = [\"host1.cert.asc\"]",
                    &format!("signer_certs = [\"host1.cert.asc\", \"{cert}\"]"),
                )
                .as_bytes(),
        );
    }

    /// Both readers refuse `backup` with the origin exit code and a message
    /// containing `needle`, writing nothing: not to stdout, not to `-o`,
    /// not with `--verify-first`.
    #[track_caller]
    fn refused(&self, backup: &[u8], needle: &str) {
        for reader in ["fast", "stock"] {
            let out = self
                .env
                .run(&["decrypt", "--reader", reader], backup)
                .fails(ORIGIN, needle);
            assert!(out.stdout.is_empty(), "{reader}: nothing released");
            assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
        }
        let out = self.env.run(&["decrypt", "-o", "restored"], backup);
        out.fails(ORIGIN, needle);
        assert!(!self.env.path("restored").exists(), "-o: no file");
        let out = self.env.run(&["decrypt", "--verify-first"], backup);
        assert!(out.fails(ORIGIN, needle).stdout.is_empty());
        self.env.run(&["verify"], backup).fails(ORIGIN, needle);
    }

    /// Both readers restore `backup` to `plain`, silently.
    #[track_caller]
    fn accepted(&self, backup: &[u8], plain: &[u8]) {
        for reader in ["fast", "stock"] {
            let out = self.env.run(&["decrypt", "--reader", reader], backup).ok();
            assert!(out.stdout == plain, "{reader}: restored");
        }
    }

    fn recipient_certs(&self) -> Vec<Cert> {
        [&self.daily, &self.escrow]
            .iter()
            .map(|k| Cert::from_file(&k.cert).unwrap())
            .collect()
    }

    /// The forger's encryption of `inner` (raw packets) to the pinned
    /// certs: a new session key, a valid MDC.
    fn encrypt_raw(&self, inner: &[u8]) -> Vec<u8> {
        let certs = self.recipient_certs();
        let mut out = Vec::new();
        let message = encryptor(&certs, &mut out);
        let mut w = message;
        w.write_all(inner).unwrap();
        w.finalize().unwrap();
        out
    }

    /// The packets inside `backup` as gpg unwraps them (the forger's view
    /// of their own message).
    fn unwrap(&self, backup: &[u8]) -> Vec<Packet> {
        self.env.gpg_import(&self.daily.key);
        unwrapped_packets(&self.env, backup, false)
    }

    /// `gpg -e` (or `-se` as `signer`) to the pinned certs.
    fn gpg_encrypt(&self, sign_as: Option<&TestKey>, plain: &[u8]) -> Vec<u8> {
        self.gpg_encrypt_with(&[], sign_as, plain)
    }

    /// `gpg_encrypt` with `options` before the others.
    fn gpg_encrypt_with(
        &self,
        options: &[&str],
        sign_as: Option<&TestKey>,
        plain: &[u8],
    ) -> Vec<u8> {
        self.env.gpg_import(&self.daily.cert);
        self.env.gpg_import(&self.escrow.cert);
        let mut args = options.to_vec();
        args.extend(["--trust-model", "always", "-e"]);
        if let Some(signer) = sign_as {
            self.env.gpg_import(&signer.key);
            args.extend(["-s", "-u", &signer.fingerprint]);
        }
        args.extend([
            "-r",
            &self.daily.fingerprint,
            "-r",
            &self.escrow.fingerprint,
        ]);
        let out = self.env.gpg(&args, plain);
        assert_eq!(out.status, 0, "gpg: {}", out.stderr);
        out.stdout
    }

    /// Sign and encrypt with sequoia as `signer`, the signature made at
    /// `at` (whatever the key's validity then).
    fn signed_at(&self, signer: &TestKey, at: u64, plain: &[u8]) -> Vec<u8> {
        let certs = self.recipient_certs();
        let mut out = Vec::new();
        let message = encryptor(&certs, &mut out);
        let message = Signer::new(message, signing_keypair(signer))
            .unwrap()
            .hash_algo(HashAlgorithm::SHA256)
            .unwrap()
            .creation_time(UNIX_EPOCH + Duration::from_secs(at))
            .build()
            .unwrap();
        let mut w = LiteralWriter::new(message).build().unwrap();
        w.write_all(plain).unwrap();
        w.finalize().unwrap();
        out
    }
}

fn encryptor<'a>(certs: &'a [Cert], out: &'a mut Vec<u8>) -> Message<'a> {
    let policy = Box::leak(Box::new(StandardPolicy::new()));
    let at = UNIX_EPOCH + Duration::from_secs(NOW);
    let recipients = certs.iter().flat_map(|c| {
        c.keys()
            .with_policy(&*policy, at)
            .supported()
            .for_storage_encryption()
    });
    Encryptor::for_recipients(Message::new(out), recipients)
        .build()
        .unwrap()
}

/// The one subkey of a `keygen --sign` key: the key that signs.
fn signing_subkey(signer: &TestKey) -> Key<key::PublicParts, key::UnspecifiedRole> {
    let cert = Cert::from_file(&signer.key).unwrap();
    let subkey = cert.keys().subkeys().next().expect("a signing subkey");
    subkey
        .key()
        .clone()
        .parts_into_public()
        .role_into_unspecified()
}

fn signing_keypair(signer: &TestKey) -> KeyPair {
    let cert = Cert::from_file(&signer.key).unwrap();
    let subkey = cert
        .keys()
        .subkeys()
        .secret()
        .next()
        .expect("a signing subkey");
    subkey
        .key()
        .clone()
        .role_into_unspecified()
        .into_keypair()
        .unwrap()
}

fn serialize(packets: &[&Packet]) -> Vec<u8> {
    packets.iter().flat_map(|p| p.to_vec().unwrap()).collect()
}

#[test]
fn sealpipe_signed_backups_are_accepted_and_verify_names_the_signer() {
    let s = Setup::new();
    let plain = sample_data(300_000);
    for mode in ["zstd", "deflate", "none"] {
        let backup = s.env.run(&["encrypt", "-c", mode], &plain).ok().stdout;
        s.accepted(&backup, &plain);
        let report = s.env.run(&["verify"], &backup).ok().stdout;
        let report = String::from_utf8(report).unwrap();
        assert!(
            report.contains(&format!(
                "signature: good signature by {}",
                s.signer.fingerprint
            )),
            "{mode}: {report}"
        );
    }
}

#[test]
fn plain_gpg_forgery_is_refused_as_unsigned() {
    let s = Setup::new();
    let plain = sample_data(100_000);
    let forged = s.gpg_encrypt(None, &plain);
    s.refused(&forged, "the backup is not signed");
    // Without the list, it restores as before, and verify says it is unsigned.
    let (daily, escrow) = (s.daily.clone(), s.escrow.clone());
    s.env.config(&[&daily, &escrow], &[&escrow], &[&daily]);
    s.accepted(&forged, &plain);
    let report = s.env.run(&["verify"], &forged).ok().stdout;
    assert!(String::from_utf8(report)
        .unwrap()
        .contains("signature: none"));
    // The command-line flag alone turns the check on.
    s.env
        .run(
            &[
                "decrypt",
                "--allowed-signers",
                "allowed-signers",
                "--signer-cert",
                "host1.cert.asc",
            ],
            &forged,
        )
        .fails(ORIGIN, "not signed");
}

/// `--key` does not drop the origin check: the config's `allowed_signers`
/// still applies. Only a config that does not exist means no check (an
/// auditor's machine); one that exists but is refused (writable by
/// others) is an error, never read as "no config".
#[test]
fn a_restore_with_key_keeps_the_configs_origin_check() {
    let s = Setup::new();
    let plain = sample_data(10_000);
    let forged = s.gpg_encrypt(None, &plain);
    let with_key = ["decrypt", "--key", "daily.key.asc"];
    s.env.run(&with_key, &forged).fails(ORIGIN, "not signed");

    let config = s.env.path("sealpipe.toml");
    let writable = std::os::unix::fs::PermissionsExt::from_mode(0o666);
    fs::set_permissions(&config, writable).unwrap();
    let out = s
        .env
        .run(&with_key, &forged)
        .fails(3, "writable by group or others");
    assert!(out.stdout.is_empty(), "nothing restored");

    fs::rename(&config, s.env.path("elsewhere.toml")).unwrap();
    let out = s.env.run(&with_key, &forged).ok();
    assert!(out.stdout == plain, "no config at all: restored unchecked");
}

#[test]
fn gpg_signed_backup_by_a_listed_key_is_accepted() {
    let s = Setup::new();
    let plain = sample_data(100_000);
    let signed = s.gpg_encrypt(Some(&s.signer), &plain);
    s.accepted(&signed, &plain);
}

#[test]
fn a_signer_not_on_the_list_is_refused() {
    let s = Setup::new();
    let intruder = s.env.keygen("intruder", &["--sign"]);
    let plain = sample_data(100_000);
    let forged = s
        .env
        .run(&["encrypt", "--sign-key", "intruder.key.asc"], &plain)
        .ok()
        .stdout;
    let subkey = signing_subkey(&intruder).fingerprint().to_hex();
    s.refused(&forged, &format!("signed by unknown key {subkey}"));
    // Its cert known but not listed: a good signature, still refused.
    let args = [
        "decrypt",
        "--signer-cert",
        "host1.cert.asc",
        "--signer-cert",
        "intruder.cert.asc",
    ];
    s.env.run(&args, &forged).fails(
        ORIGIN,
        &format!(
            "good signature by {}, which is not listed",
            intruder.fingerprint
        ),
    );
}

#[test]
fn a_stripped_signature_is_refused() {
    let s = Setup::new();
    let plain = sample_data(100_000);
    let backup = s.env.run(&["encrypt", "-c", "none"], &plain).ok().stdout;
    let packets = s.unwrap(&backup);
    let tags: Vec<Tag> = packets.iter().map(Packet::tag).collect();
    assert_eq!(tags, [Tag::OnePassSig, Tag::Literal, Tag::Signature]);
    let stripped = s.encrypt_raw(&serialize(&[&packets[1]]));
    s.refused(&stripped, "the backup is not signed");
    // The same packets re-encrypted whole are accepted: the test's forger
    // changes only what it says it changes.
    let whole = s.encrypt_raw(&serialize(&packets.iter().collect::<Vec<_>>()));
    s.accepted(&whole, &plain);
}

#[test]
fn a_damaged_signature_under_a_fresh_mdc_is_a_bad_signature() {
    let s = Setup::new();
    let plain = sample_data(100_000);
    let backup = s.env.run(&["encrypt", "-c", "none"], &plain).ok().stdout;
    let packets = s.unwrap(&backup);
    let head = serialize(&[&packets[0], &packets[1]]);
    let signature = packets[2].to_vec().unwrap();
    // The body starts after the new-format header (RFC 4880 4.2.2).
    let body_at = match signature[1] {
        0..=191 => 2,
        192..=223 => 3,
        _ => 6,
    };

    // A flipped bit in the signature value: it parses, and does not verify.
    let mut flipped = signature.clone();
    let last = flipped.len() - 5;
    flipped[last] ^= 0x01;
    s.refused(
        &s.encrypt_raw(&[&head[..], &flipped].concat()),
        "BAD signature",
    );
    // A signature packet that no longer parses (version 9): as bad.
    let mut unparsable = signature.clone();
    unparsable[body_at] = 9;
    s.refused(
        &s.encrypt_raw(&[&head[..], &unparsable].concat()),
        "does not parse",
    );
    // The literal changed, its signature kept: bad as well.
    let mut changed = head.clone();
    let at = changed.len() - 100;
    changed[at] ^= 0x20;
    s.refused(
        &s.encrypt_raw(&[&changed[..], &signature].concat()),
        "BAD signature",
    );
}

#[test]
fn a_revoked_signer_is_refused() {
    let s = Setup::new();
    let plain = sample_data(50_000);
    let backup = s.env.run(&["encrypt"], &plain).ok().stdout;
    s.accepted(&backup, &plain);
    // The restore side learns of the revocation: merged into the cert.
    let cert = Cert::from_file(&s.signer.cert).unwrap();
    let revocation = Cert::from_file(s.env.path("host1.rev.asc")).unwrap();
    let revoked = cert.merge_public(revocation).unwrap();
    s.env
        .write("host1.cert.asc", &revoked.armored().to_vec().unwrap());
    s.refused(&backup, "is revoked");
    // Without the list, a known revoked signer is refused as well.
    let (daily, escrow) = (s.daily.clone(), s.escrow.clone());
    s.env.config(&[&daily, &escrow], &[&escrow], &[&daily]);
    s.env
        .run(&["decrypt", "--signer-cert", "host1.cert.asc"], &backup)
        .fails(ORIGIN, "is revoked");
}

#[test]
fn a_signer_expired_at_the_signatures_time_is_refused() {
    let s = Setup::new();
    let short = s.env.keygen("short", &["--sign", "--expires", "1d"]);
    s.env.write(
        "allowed-signers",
        format!("{}\n{}\n", s.signer.fingerprint, short.fingerprint).as_bytes(),
    );
    s.add_signer_cert("short.cert.asc");
    let plain = sample_data(50_000);
    // Made while the key was valid: accepted, even after it expired.
    let in_time = s.signed_at(&short, NOW + 3600, &plain);
    s.accepted(&in_time, &plain);
    let late = s.signed_at(&short, NOW + 2 * 86_400, &plain);
    s.refused(&late, "expired");
}

/// The gpg 2.2 one-liner of docs/keys.md checks the signer without
/// sealpipe: it rejects the forgery and restores the signed backup.
#[test]
fn the_documented_gpg_one_liner_checks_the_signer() {
    let s = Setup::new();
    let plain = sample_data(100_000);
    let signed = s.env.run(&["encrypt"], &plain).ok().stdout;
    let forged = s.gpg_encrypt(None, b"DROP TABLE users;\n");
    s.env.gpg_import(&s.daily.key);
    s.env.gpg_import(&s.signer.cert);
    s.env.write("signed.pgp", &signed);
    s.env.write("forged.pgp", &forged);
    let one_liner = |backup: &str| {
        let mut c = std::process::Command::new("sh");
        c.arg("-c")
            .arg(format!(
                "FPR={fpr}; \
                 gpg --batch --status-fd 3 -o restored.zst -d {backup} 3>restored.status 2>/dev/null \
                 && grep -q \"^\\[GNUPG:\\] VALIDSIG .* $FPR\\$\" restored.status \
                 && ! grep -q '^\\[GNUPG:\\] REVKEYSIG' restored.status \
                 && zstd -dc restored.zst; rc=$?; rm -f restored.zst restored.status; exit $rc",
                fpr = s.signer.fingerprint
            ))
            .env("GNUPGHOME", s.env.path("gnupg"))
            .current_dir(s.env.path(""));
        run_with_stdin(c, b"")
    };
    let good = one_liner("signed.pgp");
    assert_eq!(good.status, 0, "{}", good.stderr);
    assert!(good.stdout == plain);
    let bad = one_liner("forged.pgp");
    assert_ne!(bad.status, 0);
    assert!(bad.stdout.is_empty());
}

#[test]
fn allowed_signers_file_errors_name_the_line_and_listed_signers_need_a_cert() {
    let s = Setup::new();
    let backup = s.env.run(&["encrypt"], b"x").ok().stdout;
    s.env.write(
        "allowed-signers",
        format!("# hosts\n{}\nnot-a-fingerprint\n", s.signer.fingerprint).as_bytes(),
    );
    s.env.run(&["decrypt"], &backup).fails(
        3,
        "allowed-signers line 3: 'not-a-fingerprint' is not a fingerprint",
    );
    let other = s.env.keygen("other", &["--sign"]);
    s.env.write(
        "allowed-signers",
        format!("{}\n{}\n", s.signer.fingerprint, other.fingerprint).as_bytes(),
    );
    s.env.run(&["decrypt"], &backup).fails(
        3,
        &format!("allowed signer {} has no cert", other.fingerprint),
    );
}

/// inspect cannot see a signature without a key; with `--key` it names
/// the signing key.
#[test]
fn inspect_names_the_signing_key_only_with_a_key() {
    let s = Setup::new();
    let backup = s.env.run(&["encrypt"], &sample_data(10_000)).ok().stdout;
    s.env.write("signed.pgp", &backup);
    let plain = s.env.run(&["inspect", "signed.pgp"], b"").ok().stdout;
    let plain = String::from_utf8(plain).unwrap();
    assert!(plain.contains("not visible without a key"), "{plain}");
    let key = s.daily.key.to_str().unwrap();
    let opened = s
        .env
        .run(&["inspect", "--key", key, "signed.pgp"], b"")
        .ok()
        .stdout;
    let opened = String::from_utf8(opened).unwrap();
    let subkey = signing_subkey(&s.signer).keyid().to_hex();
    assert!(
        opened.contains(&format!("signed by key {subkey}")),
        "{opened}"
    );
}

/// At most 16 signatures are checked (docs/threat-model.md, bounds): 16
/// good ones are accepted, 17 refused as malformed (exit 6) by both
/// readers, with nothing released; so is a signature without its one-pass
/// signature packet.
#[test]
fn signatures_are_bounded() {
    let s = Setup::new();
    let plain = sample_data(20_000);
    let backup = s.env.run(&["encrypt", "-c", "none"], &plain).ok().stdout;
    let packets = s.unwrap(&backup);
    let [ops, literal, signature] = [0, 1, 2].map(|i| packets[i].to_vec().unwrap());
    let signed = |ops_n: usize, sigs_n: usize| {
        s.encrypt_raw(&[ops.repeat(ops_n), literal.clone(), signature.repeat(sigs_n)].concat())
    };
    s.accepted(&signed(16, 16), &plain);
    for (case, needle) in [
        (signed(17, 17), "more than 16 signatures"),
        (
            signed(1, 2),
            "a signature without its one-pass signature packet",
        ),
    ] {
        for reader in ["fast", "stock"] {
            let out = s.env.run(&["decrypt", "--reader", reader], &case);
            assert!(out.fails(6, "").stdout.is_empty(), "{reader}");
        }
        s.env.run(&["decrypt"], &case).fails(6, needle);
    }
}

/// Past the 4 MiB hold-back plain decrypt streams before the signature is
/// checked (docs/threat-model.md); `-o` and `--verify-first` still release
/// nothing of a refused backup, and a good one restores with both readers.
#[test]
fn large_backups_follow_the_release_rules() {
    let s = Setup::new();
    let plain = sample_data(6 << 20);
    let signed = s.env.run(&["encrypt"], &plain).ok().stdout;
    s.accepted(&signed, &plain);
    let forged = s.gpg_encrypt(None, &plain);
    let streamed = s.env.run(&["decrypt"], &forged).fails(ORIGIN, "not signed");
    assert!(
        streamed.stdout.len() > 4 << 20,
        "streamed past the hold-back"
    );
    s.env
        .run(&["decrypt", "-o", "restored"], &forged)
        .fails(ORIGIN, "not signed");
    assert!(!s.env.path("restored").exists(), "-o: no file");
    let first = s.env.run(&["decrypt", "--verify-first"], &forged);
    assert!(first.fails(ORIGIN, "not signed").stdout.is_empty());
}

/// The signatures' hash runs on a thread of its own, up to two zstd frames
/// behind the restore (`TAPPED_IN_FLIGHT`, src/compress.rs): a signed backup
/// of six frames, of data zstd cannot shrink, verifies with both readers
/// (the hash saw every piece once, in order, the last one too), and the
/// verified restore stays inside the 64 MiB memory bound.
#[test]
fn long_signed_backups_verify_within_the_memory_bound() {
    let s = Setup::new();
    let plain = noise(24 << 20, 15);
    let signed = s.env.run(&["encrypt"], &plain).ok().stdout;
    s.accepted(&signed, &plain);
    let mib = peak_rss_mib(&s.env, &["decrypt"], &signed);
    assert!(mib <= 64, "a verified restore peaked at {mib} MiB");
}

/// `check` loads the signer settings as decrypt will: a broken list is a
/// config error before any restore needs it.
#[test]
fn check_loads_the_allowed_signers() {
    let s = Setup::new();
    s.env.run(&["check"], b"").ok();
    s.env.write("allowed-signers", b"# hosts\nDEADBEEF\n");
    s.env
        .run(&["check"], b"")
        .fails(3, "allowed-signers line 2: 'DEADBEEF' is not a fingerprint");
}

/// A listed fingerprint matches as gpg 2.4's `--assert-signer` matches it:
/// the signer's primary key or the subkey that made the signature, in a
/// file whose blank and `#` lines are ignored, surrounding blanks trimmed
/// and hex in either case. The cert is gpg's own (a certify-only primary
/// key, a signing subkey added with --quick-add-key), and so is the
/// signature (`gpg -se`, which signs with the subkey).
#[test]
fn allowed_signers_match_the_primary_or_the_signing_subkey_as_gpg_does() {
    let s = Setup::new();
    let fingerprints = |who: &str| -> Vec<String> {
        let out = s.env.gpg(&["--with-colons", "--list-keys", who], b"");
        assert_eq!(out.status, 0, "{}", out.stderr);
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .filter_map(|l| l.strip_prefix("fpr:"))
            .map(|l| l.trim_matches(':').to_string())
            .collect()
    };
    let gpg_ok = |args: &[&str]| {
        let out = s.env.gpg(args, b"");
        assert_eq!(out.status, 0, "gpg {args:?}: {}", out.stderr);
        out.stdout
    };
    let uid = "host2 <host2@example.org>";
    gpg_ok(&[
        "--passphrase",
        "",
        "--quick-gen-key",
        uid,
        "ed25519",
        "cert",
        "never",
    ]);
    let primary = fingerprints(uid).remove(0);
    gpg_ok(&[
        "--passphrase",
        "",
        "--quick-add-key",
        &primary,
        "ed25519",
        "sign",
        "never",
    ]);
    let [_, subkey] = <[String; 2]>::try_from(fingerprints(uid)).unwrap();
    s.env
        .write("host2.cert.asc", &gpg_ok(&["--export", "-a", &primary]));
    s.add_signer_cert("host2.cert.asc");
    let host2 = TestKey {
        name: "host2".into(),
        cert: s.env.path("host2.cert.asc"),
        key: s.env.path("host2.cert.asc"),
        fingerprint: primary.clone(),
    };
    let plain = sample_data(50_000);
    let signed = s.gpg_encrypt(Some(&host2), &plain);
    // gpg signed with the subkey, not the primary key (inside its
    // compressed packet).
    s.env.gpg_import(&s.daily.key);
    let inside = unwrapped_packets(&s.env, &signed, true);
    let issuer = inside.iter().find_map(|p| match p {
        Packet::Signature(sig) => sig.issuer_fingerprints().next().cloned(),
        _ => None,
    });
    assert_eq!(issuer.map(|f| f.to_hex()), Some(subkey.clone()));

    for listed in [
        format!("{primary}\n"),
        format!("{subkey}\n"),
        format!(
            "# backup hosts\n\n   \n  {}\t\n\t# retired: {}\n",
            primary.to_lowercase(),
            s.signer.fingerprint
        ),
    ] {
        s.env.write("allowed-signers", listed.as_bytes());
        s.accepted(&signed, &plain);
    }
    // Listed: only host1 (host2's cert known): a good signature, refused.
    s.env.write(
        "allowed-signers",
        format!("{}\n# {primary}\n", s.signer.fingerprint).as_bytes(),
    );
    s.refused(
        &signed,
        &format!("good signature by {primary}, which is not listed"),
    );
    // sealpipe's own signing key, listed by its subkey alone.
    let own = s.env.run(&["encrypt"], &plain).ok().stdout;
    let own_subkey = signing_subkey(&s.signer).fingerprint().to_hex();
    s.env
        .write("allowed-signers", format!("{own_subkey}\n").as_bytes());
    s.accepted(&own, &plain);
    s.refused(&signed, "which is not listed");
}

/// `gpg --textmode -se` signs canonical text (CRLF line ends, RFC 4880
/// 5.2.1): such a signature holds whatever the line ends were changed to,
/// and gpg converts the data itself. Refused, by a listed signer too, with
/// what to do instead, by both readers.
#[test]
fn a_text_mode_signature_is_refused_with_what_to_do() {
    let s = Setup::new();
    let plain = b"CREATE TABLE t (id int);\nINSERT INTO t VALUES (1);\n".repeat(1000);
    let signed = s.gpg_encrypt_with(&["--textmode"], Some(&s.signer), &plain);
    s.env.gpg_import(&s.daily.key);
    let inside = unwrapped_packets(&s.env, &signed, true);
    let types: Vec<_> = inside
        .iter()
        .filter_map(|p| match p {
            Packet::Signature(sig) => Some(sig.typ()),
            _ => None,
        })
        .collect();
    assert_eq!(types, [openpgp::types::SignatureType::Text]);
    s.refused(
        &signed,
        "text-mode signature (gpg --textmode) is not supported; sign in binary mode",
    );
    // Not "altered or forged": nothing says the data was touched.
    let out = s.env.run(&["decrypt"], &signed).fails(ORIGIN, "");
    assert!(!out.stderr.contains("forged"), "{}", out.stderr);
}

/// A signature over `plain` by `keypair`, made just after the test clock's
/// now, as a forger with that key would make it.
fn signature_by(keypair: &mut KeyPair, algo: HashAlgorithm, plain: &[u8]) -> Signature {
    SignatureBuilder::new(SignatureType::Binary)
        .set_hash_algo(algo)
        .set_signature_creation_time(UNIX_EPOCH + Duration::from_secs(NOW + 60))
        .unwrap()
        .sign_message(keypair, plain)
        .unwrap()
}

/// The packets of a message signed with `signatures` (outermost first):
/// their one-pass signature packets, the literal, then the signatures in
/// reverse.
fn one_pass_signed(literal: &[u8], signatures: &[Signature]) -> Vec<u8> {
    let mut packets = Vec::new();
    for (i, sig) in signatures.iter().enumerate() {
        let mut ops = OnePassSig3::try_from(sig).unwrap();
        ops.set_last(i + 1 == signatures.len());
        packets.extend(Packet::from(OnePassSig::from(ops)).to_vec().unwrap());
    }
    packets.extend_from_slice(literal);
    for sig in signatures.iter().rev() {
        packets.extend(Packet::from(sig.clone()).to_vec().unwrap());
    }
    packets
}

/// Two signatures by a listed key with different hash algorithms (as a
/// signer moving from SHA-256 to SHA-512 makes): the literal is hashed
/// with every algorithm a one-pass signature announces, and both verify.
#[test]
fn signatures_with_different_hashes_are_each_checked() {
    let s = Setup::new();
    let plain = sample_data(20_000);
    let backup = s.env.run(&["encrypt", "-c", "none"], &plain).ok().stdout;
    let literal = s.unwrap(&backup)[1].to_vec().unwrap();
    let signatures = [HashAlgorithm::SHA512, HashAlgorithm::SHA256]
        .map(|algo| signature_by(&mut signing_keypair(&s.signer), algo, &plain));
    let message = one_pass_signed(&literal, &signatures);
    s.accepted(&s.encrypt_raw(&message), &plain);
}

/// A listed signer's certification-only primary key is no signing key: a
/// signature it makes verifies, and is still refused (whoever holds that
/// key signs through the subkey the cert names for signing).
#[test]
fn a_signature_by_a_key_the_cert_does_not_sign_with_is_refused() {
    let s = Setup::new();
    let plain = sample_data(20_000);
    let backup = s.env.run(&["encrypt", "-c", "none"], &plain).ok().stdout;
    let literal = s.unwrap(&backup)[1].to_vec().unwrap();
    let cert = Cert::from_file(&s.signer.key).unwrap();
    let mut primary = primary_keypair(&cert);
    let signature = signature_by(&mut primary, HashAlgorithm::SHA256, &plain);
    let message = one_pass_signed(&literal, &[signature]);
    s.refused(
        &s.encrypt_raw(&message),
        &format!(
            "key {} was not a valid signing key of that cert then",
            s.signer.fingerprint
        ),
    );
}
