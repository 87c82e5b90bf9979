//! End-to-end tests against real backup software, installed from Debian's
//! packages by the scripts in tests/systems/ (they need root and apt, and
//! fail loudly, never skip, when either is missing).

use std::path::Path;
use std::process::Command;

/// Run tests/systems/NAME.sh against the binary under test; it must exit 0
/// and print `PASS NAME`.
fn system_test(name: &str) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/systems")
        .join(format!("{name}.sh"));
    let out = Command::new("bash")
        .arg(&script)
        .env("SEALPIPE", env!("CARGO_BIN_EXE_sealpipe"))
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains(&format!("PASS {name}")),
        "{name} end-to-end test failed ({})\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
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
fn bacula_bpipe_reader_and_writer() {
    system_test("bacula");
}

#[test]
fn amanda_client_and_server_encryption() {
    system_test("amanda");
}
