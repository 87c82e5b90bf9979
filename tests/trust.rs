//! Trust: who may own and write the files sealpipe trusts (run as root and
//! as an unprivileged user, with files owned by a foreign uid), the
//! recipient policy at its boundaries, the policy clock, and passphrases
//! from descriptors. See docs/keys.md, "Files and permissions".

mod common;

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, UNIX_EPOCH};

use common::*;
use openpgp::cert::prelude::*;
use openpgp::packet::key::{Key4, SecretParts, SubordinateRole};
use openpgp::packet::signature::SignatureBuilder;
use openpgp::packet::Key;
use openpgp::serialize::SerializeInto;
use openpgp::types::{Curve, KeyFlags, SignatureType};
use sealpipe::keys::files::{FileProblem, Role, TrustedFile};
use sealpipe::openpgp;
use sealpipe::policy::{self, CertProblem};

/// A throwaway unprivileged uid (and gid of the same number) that owns no
/// file on the system, and a second one for "another user".
const USER: u32 = 64123;
const OTHER: u32 = 64124;

fn chown(path: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::chown(path, Some(uid), Some(gid)).unwrap();
}

fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// The test's directory made traversable, so that USER can reach it.
fn shared_env() -> TestEnv {
    let env = TestEnv::new();
    chmod(env.dir.path(), 0o755);
    env
}

/// Run sealpipe as `uid` (its own group, no supplementary groups), with the
/// test's config and clock, like `TestEnv::run` does as root.
fn run_as(env: &TestEnv, uid: u32, args: &[&str], stdin: &[u8]) -> Run {
    let mut c = Command::new("setpriv");
    c.arg(format!("--reuid={uid}"))
        .arg(format!("--regid={uid}"))
        .arg("--clear-groups")
        .arg(BIN)
        .args(args)
        .current_dir(env.dir.path())
        .env("SEALPIPE_CONFIG", env.path("sealpipe.toml"))
        .env("SEALPIPE_NOW", NOW.to_string())
        .env_remove("RUST_BACKTRACE");
    run_with_stdin(c, stdin)
}

/// The issue 13 layout: one /etc/sealpipe for Amanda (as its user) and
/// Bacula (as root): config and certs root-owned 0644, the secret key
/// root-owned and readable by the daemon's group (0640).
#[test]
fn one_key_layout_serves_root_and_a_daemon_user() {
    let env = shared_env();
    let (daily, escrow) = env.daily_and_escrow();
    chown(&daily.key, 0, USER);
    chmod(&daily.key, 0o640);
    for user in [None, Some(USER)] {
        let run = |args: &[&str], stdin: &[u8]| match user {
            None => env.run(args, stdin),
            Some(uid) => run_as(&env, uid, args, stdin),
        };
        let ct = run(&["encrypt"], b"one layout").ok().stdout;
        let (recipients, ..) = message_shape(&ct);
        assert_eq!(recipients.len(), 2, "daily and escrow");
        assert_eq!(run(&["decrypt"], &ct).ok().stdout, b"one layout");
    }
    // Group read is for a root-owned key only: a user's own key needs none.
    chown(&daily.key, USER, USER);
    let ct = env.run(&["encrypt"], b"x").ok().stdout;
    run_as(&env, USER, &["decrypt"], &ct).fails(5, "is not owned by root");
    chmod(&daily.key, 0o600);
    assert_eq!(run_as(&env, USER, &["decrypt"], &ct).ok().stdout, b"x");
    // Never readable by others, whoever owns it.
    chown(&daily.key, 0, 0);
    chmod(&daily.key, 0o644);
    env.run(&["decrypt"], &ct)
        .fails(5, "readable by others (mode 0644)");
    let _ = escrow;
}

/// Root must not trust a file an unprivileged user can rewrite.
#[test]
fn root_refuses_files_owned_by_an_unprivileged_user() {
    let env = shared_env();
    let (daily, _) = env.daily_and_escrow();
    let ct = env.run(&["encrypt"], b"x").ok().stdout;
    let config = env.path("sealpipe.toml");

    chown(&config, USER, USER);
    env.run(&["encrypt"], b"x")
        .fails(3, &format!("is owned by uid {USER}"));
    chown(&config, 0, 0);

    chown(&daily.cert, USER, USER);
    let r = env
        .run(&["encrypt"], b"x")
        .fails(4, &format!("is owned by uid {USER}"));
    assert!(r.stdout.is_empty());
    chown(&daily.cert, 0, 0);

    chown(&daily.key, USER, USER);
    env.run(&["decrypt"], &ct)
        .fails(5, &format!("is owned by uid {USER}"));
}

/// A user must not trust a file another user can rewrite, and does trust
/// its own and root's.
#[test]
fn a_user_refuses_another_users_files_and_trusts_its_own() {
    let env = shared_env();
    let (daily, escrow) = env.daily_and_escrow();
    let config = env.path("sealpipe.toml");

    chown(&config, OTHER, OTHER);
    run_as(&env, USER, &["encrypt"], b"x").fails(3, &format!("is owned by uid {OTHER}"));
    chown(&config, USER, USER);
    chown(&escrow.cert, OTHER, OTHER);
    run_as(&env, USER, &["encrypt"], b"x").fails(4, &format!("is owned by uid {OTHER}"));
    chown(&escrow.cert, USER, USER);
    let ct = run_as(&env, USER, &["encrypt"], b"mine").ok().stdout;

    chown(&daily.key, OTHER, OTHER);
    chmod(&daily.key, 0o644);
    run_as(&env, USER, &["decrypt"], &ct).fails(5, &format!("is owned by uid {OTHER}"));
    chown(&daily.key, USER, USER);
    chmod(&daily.key, 0o600);
    assert_eq!(run_as(&env, USER, &["decrypt"], &ct).ok().stdout, b"mine");
}

/// A directory others can write lets them replace the file: refused unless
/// sticky (as /tmp), and so is a directory another user owns.
#[test]
fn directories_others_could_swap_files_in_are_refused() {
    let env = shared_env();
    env.daily_and_escrow();
    let etc = env.path("etc");
    fs::create_dir(&etc).unwrap();
    let config = etc.join("sealpipe.toml");
    let text = fs::read_to_string(env.path("sealpipe.toml"))
        .unwrap()
        .replace("cert = \"", "cert = \"../");
    fs::write(&config, text).unwrap();
    let encrypt = |env: &TestEnv| {
        let mut c = env.cmd(&["encrypt"]);
        c.env("SEALPIPE_CONFIG", &config);
        run_with_stdin(c, b"x")
    };

    chmod(&etc, 0o775);
    encrypt(&env).fails(3, "that group or others can write (mode 0775)");
    chmod(&etc, 0o1777);
    encrypt(&env).ok();
    chmod(&etc, 0o755);
    chown(&etc, USER, USER);
    encrypt(&env).fails(3, &format!("owned by uid {USER}"));
    chown(&etc, 0, 0);
    encrypt(&env).ok();
}

/// The file is opened once without following a symlink at its name: a link
/// would be a second name whose directory is not checked.
#[test]
fn a_symlink_is_not_followed_to_a_trusted_file() {
    let env = shared_env();
    env.daily_and_escrow();
    symlink(env.path("sealpipe.toml"), env.path("link.toml")).unwrap();
    let mut c = env.cmd(&["encrypt"]);
    c.env("SEALPIPE_CONFIG", env.path("link.toml"));
    run_with_stdin(c, b"x").fails(3, "is a symbolic link");

    // In-process: the open descriptor is what is checked and read.
    let file = TrustedFile::read(&env.path("sealpipe.toml"), Role::Config).unwrap();
    assert!(std::str::from_utf8(&file.bytes)
        .unwrap()
        .contains("[[recipient]]"));
    let err = TrustedFile::read(&env.path("link.toml"), Role::Config).err();
    assert!(matches!(err.map(|e| e.problem), Some(FileProblem::Symlink)));
}

/// A cert file's errors name the cert file, not "config FILE:".
#[test]
fn cert_file_errors_name_the_cert_file() {
    let env = TestEnv::new();
    let (daily, _) = env.daily_and_escrow();
    fs::remove_file(&daily.cert).unwrap();
    let r = env.run(&["encrypt"], b"x").fails(
        4,
        &format!("cert file {} does not exist", daily.cert.display()),
    );
    assert!(!r.stderr.contains("config /"), "{}", r.stderr);
}

/// gpg in the test's GNUPGHOME: make a key with `primary` and add a subkey,
/// export the cert to NAME.cert.asc; returns it as a TestKey to pin.
/// Keys are made at `extra`'s `--faked-system-time`, else before NOW.
fn gpg_key(env: &TestEnv, name: &str, primary: &str, subkey: &str, extra: &[&str]) -> TestKey {
    let uid = format!("{name} <{name}@example.org>");
    let mut extra = extra.to_vec();
    if !extra.contains(&"--faked-system-time") {
        extra.extend(["--faked-system-time", "20260101T000000!"]);
    }
    let extra = &extra[..];
    let mut args = extra.to_vec();
    args.extend(["--passphrase", "", "--quick-gen-key", &uid, primary]);
    args.extend(["cert", "never"]);
    let r = env.gpg(&args, b"");
    assert_eq!(r.status, 0, "gpg --quick-gen-key {primary}: {}", r.stderr);
    let listing = env.gpg(&["--with-colons", "--list-keys", &uid], b"");
    let fpr = String::from_utf8(listing.stdout)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("fpr:"))
        .map(|l| l.trim_matches(':').to_string())
        .unwrap();
    let mut args = extra.to_vec();
    args.extend([
        "--passphrase",
        "",
        "--quick-add-key",
        &fpr,
        subkey,
        "encr",
        "never",
    ]);
    let r = env.gpg(&args, b"");
    assert_eq!(r.status, 0, "gpg --quick-add-key {subkey}: {}", r.stderr);
    let cert = format!("{name}.cert.asc");
    let r = env.gpg(&["--armor", "--output", &cert, "--export", &fpr], b"");
    assert_eq!(r.status, 0, "gpg --export: {}", r.stderr);
    TestKey {
        name: name.into(),
        cert: env.path(&cert),
        key: env.path("none"),
        fingerprint: fpr,
    }
}

/// RSA at the boundary: 2048 bits is the minimum and is accepted; a modulus
/// just under it (gpg rounds sizes to 32 bits) is refused.
#[test]
fn rsa_2048_is_accepted_and_smaller_is_refused() {
    let env = TestEnv::new();
    let escrow = env.keygen("escrow", &[]);
    let at_minimum = gpg_key(&env, "rsa2048", "rsa2048", "rsa2048", &[]);
    env.config(&[&at_minimum, &escrow], &[&escrow], &[]);
    let ct = env.run(&["encrypt"], b"x").ok().stdout;
    assert_eq!(message_shape(&ct).0.len(), 2);

    let below = gpg_key(&env, "rsa2016", "rsa2016", "rsa2048", &[]);
    env.config(&[&below, &escrow], &[&escrow], &[]);
    env.run(&["encrypt"], b"x")
        .fails(4, "RSA-2016 is below the 2048-bit minimum");
}

/// DSA and ElGamal are legacy: refused as a primary key beside a modern
/// encryption subkey, and as an encryption subkey beside a modern primary.
#[test]
fn dsa_and_elgamal_keys_are_refused() {
    let env = TestEnv::new();
    let escrow = env.keygen("escrow", &[]);
    let dsa = gpg_key(&env, "dsa", "dsa2048", "cv25519", &[]);
    env.config(&[&dsa, &escrow], &[&escrow], &[]);
    env.run(&["encrypt"], b"x")
        .fails(4, "DSA is a legacy algorithm");
    let elgamal = gpg_key(&env, "elg", "ed25519", "elg2048", &[]);
    env.config(&[&elgamal, &escrow], &[&escrow], &[]);
    env.run(&["encrypt"], b"x")
        .fails(4, "ElGamal is a legacy algorithm");
}

/// An Ed25519 (signing) subkey flagged for encryption: a malformed cert,
/// refused by the policy (exit 4), not an internal error later.
#[test]
fn a_signing_subkey_flagged_for_encryption_is_a_policy_refusal() {
    let env = TestEnv::new();
    let escrow = env.keygen("escrow", &[]);
    let (cert, _) = CertBuilder::new()
        .add_userid("bad <bad@example.org>")
        .set_creation_time(UNIX_EPOCH + Duration::from_secs(NOW - 86_400))
        .add_transport_encryption_subkey()
        .generate()
        .unwrap();
    let mut signer = primary_keypair(&cert);
    let mut subkey: Key<SecretParts, SubordinateRole> =
        Key4::generate_ecc(true, Curve::Ed25519).unwrap().into();
    subkey
        .set_creation_time(UNIX_EPOCH + Duration::from_secs(NOW - 86_400))
        .unwrap();
    let binding = SignatureBuilder::new(SignatureType::SubkeyBinding)
        .set_signature_creation_time(UNIX_EPOCH + Duration::from_secs(NOW - 3600))
        .unwrap()
        .set_key_flags(
            KeyFlags::empty()
                .set_storage_encryption()
                .set_transport_encryption(),
        )
        .unwrap()
        .sign_subkey_binding(&mut signer, None, &subkey)
        .unwrap();
    let (cert, _) = cert
        .insert_packets(vec![
            openpgp::Packet::from(subkey.parts_into_public()),
            binding.into(),
        ])
        .unwrap();

    let now = UNIX_EPOCH + Duration::from_secs(NOW);
    let problem = policy::check_cert(&cert, &policy::standard_at(now), now).unwrap_err();
    assert!(
        matches!(problem, CertProblem::CannotEncrypt { .. }),
        "{problem}"
    );

    env.write("bad.cert.asc", &cert.armored().to_vec().unwrap());
    let bad = TestKey {
        name: "bad".into(),
        cert: env.path("bad.cert.asc"),
        key: env.path("none"),
        fingerprint: cert.fingerprint().to_hex(),
    };
    env.config(&[&bad, &escrow], &[&escrow], &[]);
    let r = env
        .run(&["encrypt"], b"x")
        .fails(4, "is a signing algorithm and cannot encrypt");
    assert!(r.stdout.is_empty());
}

/// A secret key pinned as a cert: the backup host holds a secret it must
/// not have. Refused, saying so.
#[test]
fn a_secret_key_pinned_as_a_cert_is_refused() {
    let env = TestEnv::new();
    let (mut daily, escrow) = env.daily_and_escrow();
    daily.cert = daily.key.clone();
    env.config(&[&daily, &escrow], &[&escrow], &[]);
    let r = env.run(&["encrypt"], b"x").fails(4, "holds a secret key");
    assert!(r.stdout.is_empty());
}

/// A public cert given as `--key` is the wrong file, whatever its mode:
/// say that first, not "chmod 600".
#[test]
fn a_cert_given_as_a_key_is_named_as_such() {
    let env = TestEnv::new();
    let (daily, _) = env.daily_and_escrow();
    let ct = env.run(&["encrypt"], b"x").ok().stdout;
    let cert = daily.cert.to_str().unwrap();
    let r = env
        .run(&["decrypt", "--key", cert], &ct)
        .fails(5, "holds no secret key");
    assert!(!r.stderr.contains("chmod"), "{}", r.stderr);
}

/// A stale entry in `[decrypt] keys` does not stop a restore another
/// listed key opens; when none is left, the message names the missing ones.
#[test]
fn a_missing_listed_key_does_not_stop_a_restore() {
    let env = TestEnv::new();
    let (daily, _) = env.daily_and_escrow();
    let ct = env.run(&["encrypt"], b"restore me").ok().stdout;
    let config = env.path("sealpipe.toml");
    let text = fs::read_to_string(&config).unwrap();
    let stale = text.replace("keys = [", "keys = [\"retired.key.asc\", ");
    env.write("sealpipe.toml", stale.as_bytes());
    assert_eq!(env.run(&["decrypt"], &ct).ok().stdout, b"restore me");

    // Only a missing or unreadable entry is skipped, never an unsafe one.
    chmod(&env.path("escrow.key.asc"), 0o644);
    let unsafe_entry = text.replace("keys = [", "keys = [\"escrow.key.asc\", ");
    env.write("sealpipe.toml", unsafe_entry.as_bytes());
    env.run(&["decrypt"], &ct)
        .fails(5, "escrow.key.asc holds a secret but is readable by others");

    env.write("sealpipe.toml", stale.as_bytes());
    fs::remove_file(&daily.key).unwrap();
    env.run(&["decrypt"], &ct)
        .fails(5, "retired.key.asc does not exist");
}

/// Duplicate recipients (`-r escrow -r <escrow fingerprint>`) give one key
/// packet, not two.
#[test]
fn a_recipient_named_twice_gets_one_key_packet() {
    let env = TestEnv::new();
    let (_, escrow) = env.daily_and_escrow();
    let ct = env
        .run(
            &["encrypt", "-r", "escrow", "-r", &escrow.fingerprint],
            b"x",
        )
        .ok()
        .stdout;
    assert_eq!(
        message_shape(&ct).0,
        encryption_keyids(&escrow.cert),
        "one PKESK, to escrow's encryption subkey"
    );
}

/// A protected key and a backup to it, for the descriptor tests.
fn protected_backup(env: &TestEnv) -> TestKey {
    env.write("pw", b"fd secret\n");
    chmod(&env.path("pw"), 0o600);
    let daily = env.keygen("daily", &["--passphrase-file", "pw"]);
    let escrow = env.keygen("escrow", &[]);
    env.config(&[&daily, &escrow], &[&escrow], &[]);
    let ct = env.run(&["encrypt"], b"behind a passphrase").ok().stdout;
    env.write("b.pgp", &ct);
    daily
}

/// `sh -c SCRIPT` in the test's directory with its config and clock; the
/// script runs sealpipe under `timeout`, so a hang fails instead of blocking.
fn sh(env: &TestEnv, script: &str) -> Command {
    let mut c = Command::new("sh");
    c.args(["-c", script])
        .current_dir(env.dir.path())
        .env("SEALPIPE_CONFIG", env.path("sealpipe.toml"))
        .env("SEALPIPE_NOW", NOW.to_string());
    c
}

/// Reading the passphrase stops at the newline even when the writer keeps
/// the pipe open; a descriptor that cannot be read is an error, not a spin.
#[test]
fn a_passphrase_descriptor_is_read_to_its_first_line() {
    let env = TestEnv::new();
    protected_backup(&env);
    // The writer prints the line, then holds the pipe open.
    let mut writer = Command::new("sh")
        .args(["-c", "printf 'fd secret\\n'; exec sleep 120"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pipe = writer.stdout.take().unwrap();
    let mut c = sh(
        &env,
        &format!(
            "exec timeout 60 {BIN} decrypt --key daily.key.asc --passphrase-fd 3 b.pgp 3<&0 </dev/null"
        ),
    );
    let out = c.stdin(Stdio::from(pipe)).output().unwrap();
    writer.kill().unwrap();
    writer.wait().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, b"behind a passphrase");

    // A line longer than the bound is refused, not cut or grown without end.
    env.write("long", &[b'x'; 70_000]);
    let script =
        format!("exec timeout 60 {BIN} decrypt --key daily.key.asc --passphrase-fd 3 b.pgp 3<long");
    run_with_stdin(sh(&env, &script), b"").fails(5, "longer than 64 KiB");

    let script =
        format!("exec timeout 60 {BIN} decrypt --key daily.key.asc --passphrase-fd 3 b.pgp 3<.");
    run_with_stdin(sh(&env, &script), b"").fails(5, "Is a directory");
}

/// `--passphrase-fd 1` on a pipe used to read sealpipe's own output pipe
/// forever; a write-only descriptor gave "the passphrase is empty". Both are
/// refused as not open for reading.
#[test]
fn a_passphrase_descriptor_open_only_for_writing_is_refused() {
    let env = TestEnv::new();
    protected_backup(&env);
    for fd in ["1", "2"] {
        let mut c = Command::new("timeout");
        c.args(["60", BIN, "decrypt", "--key", "daily.key.asc"])
            .args(["--passphrase-fd", fd, "b.pgp"])
            .current_dir(env.dir.path())
            .env("SEALPIPE_CONFIG", env.path("sealpipe.toml"))
            .env("SEALPIPE_NOW", NOW.to_string());
        let r = run_with_stdin(c, b"").fails(5, "is open for writing only");
        assert!(r.stdout.is_empty());
    }
    let script = format!(
        "exec timeout 60 {BIN} decrypt --key daily.key.asc --passphrase-fd 3 b.pgp 3>written"
    );
    run_with_stdin(sh(&env, &script), b"").fails(5, "is open for writing only");
}

/// A descriptor that is not open is refused; the test closes it itself
/// rather than rely on what its runner left open (cargo-mutants' jobserver
/// holds fd 3 open).
#[test]
fn a_closed_passphrase_descriptor_is_refused() {
    let env = TestEnv::new();
    protected_backup(&env);
    let script =
        format!("exec timeout 60 {BIN} decrypt --key daily.key.asc --passphrase-fd 7 b.pgp 7<&-");
    run_with_stdin(sh(&env, &script), b"").fails(5, "file descriptor 7 was not open");
}

/// One policy time: algorithm cut-offs are judged at the same pinned time
/// as expiry. A cert whose self-signatures use SHA-1 was acceptable in 2020
/// and is not in 2026.
#[test]
fn algorithm_cut_offs_use_the_policy_time() {
    let env = TestEnv::new();
    let in_2019 = ["--faked-system-time", "20190101T000000!"];
    let escrow = gpg_key(&env, "escrow", "ed25519", "cv25519", &in_2019);
    let sha1 = gpg_key(
        &env,
        "sha1",
        "rsa3072",
        "rsa3072",
        &["--cert-digest-algo", "SHA1", in_2019[0], in_2019[1]],
    );
    env.config(&[&sha1, &escrow], &[&escrow], &[]);
    env.run(&["encrypt"], b"x")
        .fails(4, "under the standard policy");
    let in_2020 = "1590969600"; // 2020-06-01
    let mut c = env.cmd(&["encrypt"]);
    c.env("SEALPIPE_NOW", in_2020);
    let ct = run_with_stdin(c, b"x").ok().stdout;
    assert_eq!(message_shape(&ct).0.len(), 2);
}

/// `SEALPIPE_NOW` is honoured only by the tests' build: the feature that
/// enables it is off by default and turned on by the dev-dependency alone.
#[test]
fn the_policy_clock_is_pinnable_only_in_test_builds() {
    const { assert!(sealpipe::time::CLOCK_IS_PINNABLE, "tests pin the clock") };
    let manifest = fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")).unwrap();
    let features = manifest
        .split("\n[features]\n")
        .nth(1)
        .and_then(|rest| rest.split("\n[").next())
        .expect("Cargo.toml has a [features] table");
    assert!(
        !features.lines().any(|l| l.starts_with("default")),
        "no default features: {features}"
    );
    let dev = manifest
        .split("\n[dev-dependencies]\n")
        .nth(1)
        .and_then(|rest| rest.split("\n[").next())
        .unwrap();
    assert!(
        dev.contains(r#"sealpipe = { path = ".", features = ["test-clock"] }"#),
        "{dev}"
    );
}

/// A listed key this user cannot read (root's 0600 key, read as a daemon
/// user) is skipped like a missing one; another listed key still opens.
#[test]
fn an_unreadable_listed_key_is_skipped() {
    let env = shared_env();
    let (daily, escrow) = env.daily_and_escrow();
    let ct = env.run(&["encrypt"], b"for the daemon").ok().stdout;
    chown(&escrow.key, 0, 0);
    chown(&daily.key, USER, USER);
    let text = fs::read_to_string(env.path("sealpipe.toml")).unwrap();
    let listed = text.replace("keys = [", "keys = [\"escrow.key.asc\", ");
    env.write("sealpipe.toml", listed.as_bytes());
    let back = run_as(&env, USER, &["decrypt"], &ct).ok().stdout;
    assert_eq!(back, b"for the daemon");
}
