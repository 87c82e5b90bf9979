//! End-to-end tests against real backup software, installed from Debian's
//! packages by the scripts in tests/systems/ (they need root and apt, and
//! fail loudly, never skip, when either is missing).
//!
//! They run the INSTALLED sealpipe, /usr/bin/sealpipe from the Debian
//! package, as a user has it: scripts/test.sh builds and installs the
//! package first (scripts/install.sh does the same). While developing,
//! SEALPIPE_SYSTEM_TEST_BIN=target/debug/sealpipe runs them on a build.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Instant;

/// Where the Debian package puts the binary.
const INSTALLED: &str = "/usr/bin/sealpipe";

/// The binary under test, checked once: it must exist and be built from
/// this checkout's command line (its bash completion, generated from the
/// clap definitions, must equal the one of the binary cargo just built), so
/// a stale package cannot pass for the current code.
fn binary_under_test() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let binary = PathBuf::from(
            std::env::var_os("SEALPIPE_SYSTEM_TEST_BIN").unwrap_or_else(|| INSTALLED.into()),
        );
        let completion = |bin: &Path| {
            Command::new(bin)
                .args(["generate", "completion", "bash"])
                .output()
                .ok()
                .filter(|out| out.status.success())
                .map(|out| out.stdout)
        };
        let installed = completion(&binary).unwrap_or_else(|| {
            panic!(
                "{} is missing or too old to run `generate`: install the package first \
                 (scripts/install.sh, or scripts/package.sh and apt-get install ./target/debian/*.deb)",
                binary.display()
            )
        });
        assert!(
            Some(installed) == completion(Path::new(env!("CARGO_BIN_EXE_sealpipe"))),
            "{} is not built from this checkout (its command line differs): \
             rebuild and reinstall the package (scripts/install.sh)",
            binary.display()
        );
        binary
    })
}

/// A hung daemon must fail the test, not stall CI: each script gets this
/// long (the first run also installs its Debian packages).
const TIME_LIMIT_SECS: u64 = 480;

/// Run tests/systems/NAME.sh against the installed binary; it must exit 0
/// and print `PASS NAME`.
fn system_test(name: &str) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/systems")
        .join(format!("{name}.sh"));
    let started = Instant::now();
    let out = Command::new("timeout")
        .args(["--kill-after=20", &TIME_LIMIT_SECS.to_string(), "bash"])
        .arg(&script)
        .env("SEALPIPE", binary_under_test())
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

/// The package scripts/package.sh built (and scripts/test.sh installed)
/// holds what a sysadmin expects: the binary, a man page per subcommand,
/// completions where bash, zsh and fish look, docs and examples, and
/// nothing under /etc (the example keys are never a live config).
#[test]
fn debian_package_contents() {
    let arch = Command::new("dpkg")
        .arg("--print-architecture")
        .output()
        .expect("dpkg --print-architecture");
    let arch = String::from_utf8_lossy(&arch.stdout).trim().to_string();
    let deb = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!(
        "target/debian/sealpipe_{}_{arch}.deb",
        env!("CARGO_PKG_VERSION")
    ));
    let listing = Command::new("dpkg-deb")
        .arg("--contents")
        .arg(&deb)
        .output()
        .expect("dpkg-deb");
    assert!(
        listing.status.success(),
        "cannot list {} (build it with scripts/package.sh): {}",
        deb.display(),
        String::from_utf8_lossy(&listing.stderr)
    );
    let listing = String::from_utf8_lossy(&listing.stdout);
    let paths: Vec<&str> = listing
        .lines()
        .filter_map(|line| line.split_whitespace().nth(5))
        .collect();
    let mut expected = vec![
        "./usr/bin/sealpipe".to_string(),
        "./usr/share/bash-completion/completions/sealpipe".to_string(),
        "./usr/share/zsh/vendor-completions/_sealpipe".to_string(),
        "./usr/share/fish/vendor_completions.d/sealpipe.fish".to_string(),
        "./usr/share/doc/sealpipe/copyright".to_string(),
        "./usr/share/doc/sealpipe/changelog.gz".to_string(),
        "./usr/share/doc/sealpipe/docs/amanda.md".to_string(),
        "./usr/share/doc/sealpipe/examples/keys-example/sealpipe.toml".to_string(),
        "./usr/share/doc/sealpipe/examples/bacula/sealpipe-preflight".to_string(),
        "./usr/share/man/man1/sealpipe.1.gz".to_string(),
    ];
    for sub in ["encrypt", "decrypt", "verify", "inspect", "rekey", "keygen"] {
        expected.push(format!("./usr/share/man/man1/sealpipe-{sub}.1.gz"));
    }
    for path in &expected {
        assert!(
            paths.contains(&path.as_str()),
            "{} lacks {path}:\n{listing}",
            deb.display()
        );
    }
    let in_etc: Vec<&&str> = paths.iter().filter(|p| p.starts_with("./etc")).collect();
    assert!(
        in_etc.is_empty(),
        "the package installs into /etc: {in_etc:?}"
    );
}
