//! End-to-end tests against real backup software, installed from Debian's
//! packages by the scripts in tests/systems/ (they need root and apt, and
//! fail loudly, never skip, when either is missing).

use std::path::Path;
use std::process::Command;
use std::time::Instant;

/// A hung daemon must fail the test, not stall CI: each script gets this
/// long (the first run also installs its Debian packages).
const TIME_LIMIT_SECS: u64 = 480;

/// Run tests/systems/NAME.sh against the binary under test; it must exit 0
/// and print `PASS NAME`.
fn system_test(name: &str) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/systems")
        .join(format!("{name}.sh"));
    let started = Instant::now();
    let out = Command::new("timeout")
        .args(["--kill-after=20", &TIME_LIMIT_SECS.to_string(), "bash"])
        .arg(&script)
        .env("SEALPIPE", env!("CARGO_BIN_EXE_sealpipe"))
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    let took = started.elapsed().as_secs();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let timed_out = matches!(out.status.code(), Some(124 | 137));
    assert!(
        !timed_out,
        "{name} end-to-end test did not finish within {TIME_LIMIT_SECS} s\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    assert!(
        out.status.success() && stdout.contains(&format!("PASS {name}")),
        "{name} end-to-end test failed ({}) after {took} s\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    println!("{name}: passed in {took} s");
}

#[test]
fn mariadb_mariabackup_xbstream() {
    system_test("mariadb");
}

#[test]
fn postgres_pg_basebackup() {
    system_test("postgres");
}

#[test]
fn bacula_daemons_bpipe_backup_restore_and_refusal() {
    system_test("bacula");
}

#[test]
fn amanda_client_and_server_encryption() {
    system_test("amanda");
}

#[test]
fn backuppc_tarcreate_archive_restored_by_gpg() {
    system_test("backuppc");
}
