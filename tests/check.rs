//! Key expiry in production: `check` warns before a pinned key expires and
//! reports when encrypt would refuse; `extend` moves the expiry without a
//! new fingerprint, so the pins stay and backups keep running.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use common::*;

const DAY: u64 = 86_400;
/// keygen --expires 90d at NOW.
const EXPIRY: u64 = NOW + 90 * DAY;

/// The real clock, in Unix seconds (for keys made ahead of it).
fn real_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Run sealpipe with the policy clock at `at` (Unix seconds).
fn run_at(env: &TestEnv, at: u64, args: &[&str], stdin: &[u8]) -> Run {
    let mut c = env.cmd(args);
    c.env("SEALPIPE_NOW", at.to_string());
    run_with_stdin(c, stdin)
}

/// A daily key that expires 90 days after NOW and an escrow key that never
/// does, both pinned; [decrypt] lists the daily key.
fn expiring_setup(env: &TestEnv) -> (TestKey, TestKey) {
    let daily = env.keygen("daily", &["--expires", "90d"]);
    let escrow = env.keygen("escrow", &[]);
    env.config(&[&daily, &escrow], &[&escrow], &[&daily]);
    (daily, escrow)
}

#[test]
fn check_warns_within_the_warning_period_and_not_before() {
    let env = TestEnv::new();
    let (daily, _) = expiring_setup(&env);

    // 31 days before: all well, silently (report on stdout only).
    let out = run_at(&env, EXPIRY - 31 * DAY, &["check"], b"").ok();
    let report = String::from_utf8(out.stdout).unwrap();
    assert!(
        report.contains(&format!(
            "recipient daily {}: expires 2026-08-30 00:00:00 UTC (31 days left): ok",
            daily.fingerprint
        )),
        "{report}"
    );
    assert!(report.contains("recipient escrow"), "{report}");
    assert!(report.contains("never expires"), "{report}");
    assert!(report.contains("opens: daily"), "{report}");
    assert!(report.ends_with("status: ok\n"), "{report}");

    // 29 days before: the distinct "expiring soon" exit code, one line on stderr.
    let r = run_at(&env, EXPIRY - 29 * DAY, &["check"], b"").fails(9, "pinned key 'daily' (");
    assert!(r.stderr.contains("29 days left"), "{}", r.stderr);
    assert!(r.stderr.contains("sealpipe extend"), "{}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(String::from_utf8_lossy(&r.stdout).contains("status: expiring"));
    // ... while tonight's backup still works.
    run_at(&env, EXPIRY - 29 * DAY, &["encrypt"], b"tonight").ok();

    // The warning period is the caller's: 28 days from 29 before is fine.
    run_at(
        &env,
        EXPIRY - 29 * DAY,
        &["check", "--warn-days", "28"],
        b"",
    )
    .ok();
}

#[test]
fn check_at_the_expiry_instant_agrees_with_encrypt() {
    let env = TestEnv::new();
    expiring_setup(&env);

    // A minute before: encrypt works, check warns.
    let before = EXPIRY - 60;
    run_at(&env, before, &["encrypt"], b"last good night").ok();
    run_at(&env, before, &["check"], b"").fails(9, "0 days left");

    // A minute after: encrypt refuses, and check says so with encrypt's code.
    let after = EXPIRY + 60;
    run_at(&env, after, &["encrypt"], b"first bad night").fails(4, "expired");
    let r = run_at(&env, after, &["check"], b"").fails(4, "tonight's backup would fail");
    assert!(r.stderr.contains("recipient 'daily'"), "{}", r.stderr);
    let report = String::from_utf8(r.stdout).unwrap();
    assert!(
        report.contains("expired 2026-08-30 00:00:00 UTC: REFUSED"),
        "{report}"
    );
    // The expired key still opens the backups already made to it.
    assert!(report.contains("opens: daily"), "{report}");
    assert!(report.ends_with("status: refused\n"), "{report}");
}

#[test]
fn check_json_reports_every_pinned_key() {
    let env = TestEnv::new();
    let (daily, escrow) = expiring_setup(&env);
    let r = run_at(&env, EXPIRY - 10 * DAY, &["check", "--json"], b"").fails(9, "10 days left");
    let report: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(report["status"], "expiring");
    assert_eq!(report["warn_days"], 30);
    let recipients = report["recipients"].as_array().unwrap();
    assert_eq!(recipients.len(), 2);
    assert_eq!(recipients[0]["fingerprint"], daily.fingerprint.as_str());
    assert_eq!(recipients[0]["days_left"], 10);
    assert_eq!(recipients[0]["expires_unix"], EXPIRY);
    assert_eq!(recipients[0]["usable"], true);
    assert_eq!(recipients[1]["fingerprint"], escrow.fingerprint.as_str());
    assert!(recipients[1]["expires"].is_null());
    assert_eq!(report["decrypt_keys"][0]["opens"][0], "daily");
}

#[test]
fn check_loads_the_decrypt_keys() {
    let env = TestEnv::new();
    let daily = env.keygen("daily", &[]);
    let escrow = env.keygen("escrow", &[]);
    let old = env.keygen("old", &[]);
    env.config(&[&daily, &escrow], &[&escrow], &[&daily, &escrow, &old]);
    let report = String::from_utf8(env.run(&["check"], b"").ok().stdout).unwrap();
    for line in [
        format!("decrypt key {} opens: daily", daily.key.display()),
        format!("decrypt key {} opens: escrow", escrow.key.display()),
        format!(
            "decrypt key {} opens: no pinned recipient",
            old.key.display()
        ),
    ] {
        assert!(report.contains(&line), "{line} in:\n{report}");
    }

    // A secret key others can read does not load: exit 5, named.
    fs::set_permissions(&escrow.key, fs::Permissions::from_mode(0o644)).unwrap();
    let r = env.run(&["check"], b"").fails(5, "readable by others");
    assert!(String::from_utf8_lossy(&r.stdout).contains("FAILED"));
    fs::set_permissions(&escrow.key, fs::Permissions::from_mode(0o600)).unwrap();

    // A protected key with no passphrase file in the config cannot be unlocked.
    fs::write(env.path("pw"), "s3cret\n").unwrap();
    fs::set_permissions(env.path("pw"), fs::Permissions::from_mode(0o600)).unwrap();
    let locked = env.keygen("locked", &["--passphrase-file", "pw"]);
    env.config(&[&locked], &[], &[&locked]);
    env.run(&["check"], b"").fails(5, "passphrase-protected");
    let mut config = fs::read_to_string(env.path("sealpipe.toml")).unwrap();
    config += "passphrase_file = \"pw\"\n";
    fs::write(env.path("sealpipe.toml"), config).unwrap();
    env.run(&["check"], b"").ok();
}

#[test]
fn keygen_prints_the_expiry() {
    let env = TestEnv::new();
    let (_, snippet) = env.keygen_printing("daily", &["--expires", "90d"]);
    assert!(
        snippet.contains("# The key expires 2026-08-30 00:00:00 UTC."),
        "{snippet}"
    );
    let (_, snippet) = env.keygen_printing("escrow", &["--expires", "never"]);
    assert!(snippet.contains("# The key never expires."), "{snippet}");
}

/// `extend` of the daily key to ten years, into daily.new.cert.asc.
const EXTEND_DAILY: [&str; 7] = [
    "extend",
    "--key",
    "daily.key.asc",
    "--expires",
    "10y",
    "--cert-out",
    "daily.new.cert.asc",
];

#[test]
fn extend_revives_an_expired_key_without_repinning() {
    let env = TestEnv::new();
    fs::write(env.path("pw"), "extend me\n").unwrap();
    fs::set_permissions(env.path("pw"), fs::Permissions::from_mode(0o600)).unwrap();
    let daily = env.keygen("daily", &["--expires", "90d", "--passphrase-file", "pw"]);
    let escrow = env.keygen("escrow", &[]);
    env.config(&[&daily, &escrow], &[&escrow], &[]);
    // Ten days after expiry the nightly backup fails.
    let later = EXPIRY + 10 * DAY;
    run_at(&env, later, &["encrypt"], b"night").fails(4, "expired");

    // extend needs the passphrase (never from argv), then writes a new cert.
    let extend = EXTEND_DAILY;
    run_at(&env, later, &extend, b"").fails(5, "passphrase-protected");
    assert!(!env.path("daily.new.cert.asc").exists());
    let mut args = extend.to_vec();
    args.extend(["--passphrase-file", "pw", "--key-out", "daily.new.key.asc"]);
    let out = run_at(&env, later, &args, b"").ok();
    let said = String::from_utf8(out.stdout).unwrap();
    assert!(said.contains(&daily.fingerprint), "{said}");
    assert!(
        said.contains("now expires 2036-09-06 00:00:00 UTC"),
        "{said}"
    );
    let new_key = fs::metadata(env.path("daily.new.key.asc")).unwrap();
    assert_eq!(new_key.permissions().mode() & 0o777, 0o600);
    // Never overwritten.
    run_at(&env, later, &args, b"").fails(2, "exists");

    // The new cert replaces the old one; the config (and its pin) is untouched.
    fs::copy(env.path("daily.new.cert.asc"), &daily.cert).unwrap();
    let plain = sample_data(100_000);
    let backup = run_at(&env, later, &["encrypt"], &plain).ok().stdout;
    run_at(&env, later, &["check"], b"").ok();
    // The secret key itself is unchanged: the old and the new file both open it.
    for key in ["daily.key.asc", "daily.new.key.asc"] {
        let back = run_at(
            &env,
            later,
            &["decrypt", "--key", key, "--passphrase-file", "pw"],
            &backup,
        )
        .ok()
        .stdout;
        assert!(back == plain, "decrypt with {key}");
    }

    // gpg 2.2 takes the new expiry from the extended cert (merged into the
    // secret key it already had) and restores the backup.
    let pw = env.path("pw");
    let pw = pw.to_str().unwrap();
    let r = env.gpg(&["--passphrase-file", pw, "--import", "daily.key.asc"], b"");
    assert_eq!(r.status, 0, "{}", r.stderr);
    let r = env.gpg(&["--import", "daily.new.cert.asc"], b"");
    assert_eq!(r.status, 0, "{}", r.stderr);
    for kind in ["pub", "sub"] {
        let (validity, expiry) = gpg_expiry(&env, kind);
        assert_eq!(expiry, later + 3650 * DAY, "{kind} expiry in gpg");
        assert_ne!(validity, "e", "gpg still sees {kind} expired");
    }
    let out = env.gpg(&["--passphrase-file", pw, "-d"], &backup);
    assert_eq!(out.status, 0, "gpg -d: {}", out.stderr);
    let restored = shell("zstd -d", &out.stdout);
    assert!(restored.stdout == plain, "gpg restored different bytes");
}

/// A script that runs keygen, then extend, within one second: signatures
/// count whole seconds, and two bindings of the same second leave gpg free
/// to keep the old expiry. extend signs in a later second than the key's
/// newest self-signature (waiting for it), and gpg takes the new expiry;
/// with the clock pinned to the key's own second, it refuses.
#[test]
fn extend_right_after_keygen_makes_newer_signatures() {
    use sealpipe::openpgp::parse::Parse;
    use sealpipe::openpgp::Cert;
    let env = TestEnv::new();
    let real_now = real_now();
    // The key's signatures a second ahead of the real clock: extend, run
    // at once, is in their second or the one before.
    let created = real_now + 1;
    run_at(
        &env,
        created,
        &[
            "keygen",
            "--name",
            "daily",
            "--expires",
            "30d",
            "--cert-out",
            "daily.cert.asc",
            "--key-out",
            "daily.key.asc",
        ],
        b"",
    )
    .ok();
    let extend = EXTEND_DAILY;
    run_at(&env, created, &extend, b"").fails(5, "not before now");
    assert!(!env.path("daily.new.cert.asc").exists());
    let mut unpinned = env.cmd(&extend);
    unpinned.env_remove("SEALPIPE_NOW");
    run_with_stdin(unpinned, b"").ok();

    let newest = |file: &str| {
        let cert = Cert::from_file(env.path(file)).unwrap();
        sealpipe::keys::expiry::newest_self_signature(&cert).unwrap()
    };
    assert!(newest("daily.new.cert.asc") > newest("daily.cert.asc"));
    let r = env.gpg(&["--import", "daily.key.asc"], b"");
    assert_eq!(r.status, 0, "{}", r.stderr);
    let r = env.gpg(&["--import", "daily.new.cert.asc"], b"");
    assert_eq!(r.status, 0, "{}", r.stderr);
    for kind in ["pub", "sub"] {
        let (_, expiry) = gpg_expiry(&env, kind);
        assert!(
            expiry > created + 3000 * DAY,
            "gpg keeps {kind}'s old expiry"
        );
    }
}

/// extend waits for the next second (at most two), never for a signature
/// further ahead: a key whose self-signatures are an hour ahead of the
/// clock is a clock problem (no self-signature is valid yet), refused at
/// once, not an hour's sleep.
#[test]
fn extend_refuses_at_once_a_key_signed_ahead_of_the_clock() {
    let env = TestEnv::new();
    let real_now = real_now();
    let keygen = [
        "keygen",
        "--name",
        "daily",
        "--cert-out",
        "daily.cert.asc",
        "--key-out",
        "daily.key.asc",
    ];
    run_at(&env, real_now + 3600, &keygen, b"").ok();
    let mut extend = env.cmd(&EXTEND_DAILY);
    extend.env_remove("SEALPIPE_NOW");
    let child = extend
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = wait_within(child, std::time::Duration::from_secs(60));
    let (status, stderr) = (out.status, String::from_utf8_lossy(&out.stderr));
    assert_eq!(status.code(), Some(5), "{stderr}");
    assert!(stderr.contains("no valid self-signature"), "{stderr}");
    assert!(!env.path("daily.new.cert.asc").exists());
}

/// The validity and expiry (Unix seconds) gpg lists for the first key of
/// `kind` ("pub" or "sub") in its keyring.
fn gpg_expiry(env: &TestEnv, kind: &str) -> (String, u64) {
    let listing = env.gpg(&["--with-colons", "--list-keys"], b"");
    let listing = String::from_utf8(listing.stdout).unwrap();
    let fields: Vec<&str> = listing
        .lines()
        .find(|l| l.starts_with(&format!("{kind}:")))
        .unwrap_or_else(|| panic!("gpg lists no {kind}: {listing}"))
        .split(':')
        .collect();
    let expiry = fields[6]
        .parse()
        .unwrap_or_else(|_| panic!("no {kind} expiry: {listing}"));
    (fields[1].to_string(), expiry)
}

#[test]
fn extend_refuses_a_cert_and_leaves_nothing_behind() {
    let env = TestEnv::new();
    let daily = env.keygen("daily", &[]);
    // A cert (public only) cannot sign; the file is not even private.
    fs::set_permissions(&daily.cert, fs::Permissions::from_mode(0o600)).unwrap();
    env.run(
        &[
            "extend",
            "--key",
            "daily.cert.asc",
            "--expires",
            "1y",
            "--cert-out",
            "out.asc",
        ],
        b"",
    )
    .fails(5, "holds no secret");
    assert!(!env.path("out.asc").exists());
}

#[test]
fn check_report_to_a_full_disk_is_a_failure() {
    let env = TestEnv::new();
    env.daily_and_escrow();
    let mut c = Command::new("bash");
    c.args(["-c", &format!("{BIN} check >/dev/full; echo $? >&2")])
        .env("SEALPIPE_CONFIG", env.path("sealpipe.toml"))
        .env("SEALPIPE_NOW", NOW.to_string());
    let r = run_with_stdin(c, b"");
    assert!(r.stderr.contains("no space left"), "{}", r.stderr);
    assert_eq!(r.stderr.lines().last(), Some("7"), "{}", r.stderr);
}

/// Recipients that never expire, and a signing key `host1` that expires
/// 90 days after NOW; `restore` adds the restore host's lines (host1's cert
/// in `signer_certs`, host1 listed) instead of the backup host's `[sign]`.
fn signing_setup(env: &TestEnv, restore: bool) -> TestKey {
    env.daily_and_escrow();
    let host1 = env.keygen("host1", &["--sign", "--expires", "90d"]);
    let config = fs::read_to_string(env.path("sealpipe.toml")).unwrap();
    let lines = match restore {
        false => "[sign]\nkey = \"host1.key.asc\"\n".to_string(),
        true => {
            env.write(
                "allowed-signers",
                format!("{}\n", host1.fingerprint).as_bytes(),
            );
            "allowed_signers = \"allowed-signers\"\nsigner_certs = [\"host1.cert.asc\"]\n".into()
        }
    };
    env.write("sealpipe.toml", format!("{config}{lines}").as_bytes());
    host1
}

/// 31 days before EXPIRY `check` is quiet, its report holding `line` and
/// the date; 29 days before it exits 9 with one stderr line that names
/// `what` and `fingerprint`, the days left and `todo`.
fn warns_29_days_before_and_not_31(env: &TestEnv, line: &str, what: &str, todo: &str) {
    let out = run_at(env, EXPIRY - 31 * DAY, &["check"], b"").ok();
    let report = String::from_utf8(out.stdout).unwrap();
    let expected = format!("{line}: expires 2026-08-30 00:00:00 UTC (31 days left): ok");
    assert!(report.contains(&expected), "{report}");
    let r = run_at(env, EXPIRY - 29 * DAY, &["check"], b"").fails(9, what);
    assert!(r.stderr.contains("29 days left"), "{}", r.stderr);
    assert!(r.stderr.contains(todo), "{}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(String::from_utf8_lossy(&r.stdout).contains("status: expiring"));
}

#[test]
fn check_warns_before_the_signing_key_expires() {
    let env = TestEnv::new();
    let host1 = signing_setup(&env, false);
    let key = env.path("host1.key.asc");
    warns_29_days_before_and_not_31(
        &env,
        &format!("signing key {} {}", key.display(), host1.fingerprint),
        &format!("signing key {} ({})", key.display(), host1.fingerprint),
        "sealpipe extend",
    );
    run_at(&env, EXPIRY - 29 * DAY, &["encrypt"], b"tonight").ok();
    let r = run_at(&env, EXPIRY - 29 * DAY, &["check", "--json"], b"").fails(9, "");
    let report: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(
        report["signing_key"]["fingerprint"],
        host1.fingerprint.as_str()
    );
    assert_eq!(report["signing_key"]["days_left"], 29);
    assert_eq!(report["signing_key"]["usable"], true);

    // Expired: encrypt refuses to sign, and check says so with encrypt's code.
    let after = EXPIRY + 60;
    run_at(&env, after, &["encrypt"], b"first bad night").fails(4, "expired");
    let r = run_at(&env, after, &["check"], b"").fails(4, "tonight's backup would fail");
    assert!(r.stderr.contains("expired"), "{}", r.stderr);
    let report = String::from_utf8(r.stdout).unwrap();
    assert!(
        report.contains("host1.key.asc: expiry unknown: REFUSED: "),
        "{report}"
    );
    assert!(report.ends_with("status: refused\n"), "{report}");
}

#[test]
fn check_warns_before_a_signer_cert_expires_on_the_restore_host() {
    let env = TestEnv::new();
    let host1 = signing_setup(&env, true);
    let cert = env.path("host1.cert.asc");
    let line = format!("signer cert {} {}", cert.display(), host1.fingerprint);
    warns_29_days_before_and_not_31(
        &env,
        &line,
        &format!("signer cert {} ({})", cert.display(), host1.fingerprint),
        "copy the new cert here",
    );
    let r = run_at(&env, EXPIRY - 29 * DAY, &["check", "--json"], b"").fails(9, "");
    let report: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(report["signer_certs"][0]["days_left"], 29);
    assert!(report["signing_key"].is_null());

    // Expired: what it signed before still verifies, so the cert stays and
    // check reports it without failing (a retired host's cert is kept).
    let out = run_at(&env, EXPIRY + 60, &["check"], b"").ok();
    let report = String::from_utf8(out.stdout).unwrap();
    assert!(
        report.contains(&format!(
            "{line}: expired 2026-08-30 00:00:00 UTC: new signatures refused: "
        )),
        "{report}"
    );

    // A listed signer without a cert: the config error decrypt would give.
    let other = env.keygen("other", &["--sign"]);
    env.write(
        "allowed-signers",
        format!("{}\n{}\n", host1.fingerprint, other.fingerprint).as_bytes(),
    );
    run_at(&env, EXPIRY - 31 * DAY, &["check"], b"").fails(
        3,
        &format!("allowed signer {} has no cert", other.fingerprint),
    );
}
