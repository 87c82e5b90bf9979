//! Behaviour at a terminal, driven through a real pseudo-terminal (python3's
//! `pty`): the passphrase prompt, keygen asking twice, the refusal of a
//! backup on a terminal stdin, and `--progress`; and silence where there
//! is no terminal (cron, Amanda, Bacula).

mod common;

use std::process::Command;

use common::*;
use sealpipe::openpgp::parse::Parse;

/// Run sealpipe in `env`'s directory on a new pseudo-terminal (stdin,
/// stdout and stderr, and the controlling terminal), answering each line of
/// `answers` when the terminal asks for a passphrase. Returns the exit code
/// and everything the terminal showed.
fn on_terminal(env: &TestEnv, args: &[&str], answers: &[&str]) -> (i32, String) {
    on_terminal_with_stderr(env, args, answers, None)
}

/// As [`on_terminal`], with stderr, if `stderr_to` names a file, written
/// there instead (`2>FILE` typed at a terminal): the terminal is still the
/// controlling one.
fn on_terminal_with_stderr(
    env: &TestEnv,
    args: &[&str],
    answers: &[&str],
    stderr_to: Option<&str>,
) -> (i32, String) {
    const DRIVER: &str = r#"
import os, pty, sys, termios, time
answers = [a for a in sys.argv[1].split("\n") if a]
pid, fd = pty.fork()
if pid == 0:
    if sys.argv[2]:
        os.dup2(os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), 2)
    os.execv(sys.argv[3], sys.argv[3:])
seen = b""
while True:
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        break
    if not chunk:
        break
    seen += chunk
    if answers and seen.rstrip().endswith(b":") and b"assphrase" in seen.splitlines()[-1]:
        # Answer once sealpipe has turned echo off (it does so after the prompt).
        for _ in range(500):
            if not termios.tcgetattr(fd)[3] & termios.ECHO:
                break
            time.sleep(0.01)
        os.write(fd, answers.pop(0).encode() + b"\n")
        seen += b"\n"
_, status = os.waitpid(pid, 0)
sys.stdout.buffer.write(seen)
sys.exit(os.waitstatus_to_exitcode(status))
"#;
    let mut cmd = Command::new("python3");
    cmd.arg("-c")
        .arg(DRIVER)
        .arg(answers.join("\n"))
        .arg(stderr_to.map_or(String::new(), |f| env.path(f).display().to_string()))
        .arg(BIN)
        .args(args)
        .current_dir(env.dir.path())
        .env("SEALPIPE_CONFIG", env.path("sealpipe.toml"))
        .env("SEALPIPE_NOW", NOW.to_string());
    let out = cmd.output().expect("python3 runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// A protected key on a terminal: asked for, echo off, and it opens the
/// backup. Without a terminal the clear batch error stays.
#[test]
fn a_protected_key_asks_for_its_passphrase_on_the_terminal() {
    let env = TestEnv::new();
    let (daily, escrow) = env.daily_and_escrow();
    env.write("pass", b"s3cret words\n");
    std::fs::set_permissions(
        env.path("pass"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let vault = env.keygen("vault", &["--passphrase-file", "pass"]);
    env.config(&[&daily, &escrow, &vault], &[&escrow], &[&daily]);
    env.run(&["encrypt", "-o", "b.pgp"], b"restore me").ok();
    let key = vault.key.to_str().unwrap();

    let (code, screen) = on_terminal(&env, &["verify", "--key", key, "b.pgp"], &["s3cret words"]);
    assert_eq!(code, 0, "{screen}");
    assert!(screen.contains("Passphrase for"), "{screen}");
    assert!(screen.contains("ok: the backup decrypts"), "{screen}");
    assert!(!screen.contains("s3cret"), "echoed: {screen}");

    let (code, screen) = on_terminal(&env, &["verify", "--key", key, "b.pgp"], &["wrong"]);
    assert_eq!(code, 5, "{screen}");
    assert!(screen.contains("wrong passphrase"), "{screen}");

    // No terminal: no prompt, today's message.
    env.run(&["verify", "--key", key, "b.pgp"], b"")
        .fails(5, "give --passphrase-file FILE or --passphrase-fd N");

    // A terminal, but stderr captured (`2>log`, as a wrapper script run by
    // hand does): no prompt either, the same message in the log. A person
    // at the terminal would answer, so one answer is ready; it must not be
    // asked for.
    let args = ["verify", "--key", key, "b.pgp"];
    let (code, screen) = on_terminal_with_stderr(&env, &args, &["s3cret words"], Some("log"));
    let log = std::fs::read_to_string(env.path("log")).unwrap();
    assert_eq!(code, 5, "{screen}{log}");
    assert!(!screen.contains("Passphrase for"), "{screen}");
    assert!(log.contains("give --passphrase-file FILE"), "{log}");
}

#[test]
fn keygen_on_a_terminal_asks_twice() {
    let env = TestEnv::new();
    let args = [
        "keygen",
        "--name",
        "k",
        "--cert-out",
        "k.cert",
        "--key-out",
        "k.key",
    ];
    let (code, screen) = on_terminal(&env, &args, &["one", "two"]);
    assert_eq!(code, 5, "{screen}");
    assert!(screen.contains("differ"), "{screen}");
    assert!(!env.path("k.key").exists());

    let (code, screen) = on_terminal(&env, &args, &["same pass", "same pass"]);
    assert_eq!(code, 0, "{screen}");
    let key = std::fs::read_to_string(env.path("k.key")).unwrap();
    let cert = sealpipe::openpgp::Cert::from_bytes(key.as_bytes()).unwrap();
    assert!(cert
        .keys()
        .secret()
        .all(|k| k.key().secret().is_encrypted()));
}

#[test]
fn decrypt_refuses_a_terminal_on_stdin_at_once() {
    let env = TestEnv::new();
    env.daily_and_escrow();
    for command in ["decrypt", "verify"] {
        let (code, screen) = on_terminal(&env, &[command], &[]);
        assert_eq!(code, 2, "{screen}");
        assert!(
            screen.contains("refusing to read a backup from a terminal"),
            "{screen}"
        );
    }
}

/// `auto` draws on a terminal and stays silent on a pipe; `always` draws
/// on a pipe too; `never` never.
#[test]
fn progress_only_where_asked_or_on_a_terminal() {
    let env = TestEnv::new();
    env.daily_and_escrow();
    let data = sample_data(300_000);
    for command in [&["encrypt"][..], &["encrypt", "--progress=auto"]] {
        env.run(command, &data).ok();
    }
    let backup = env.run(&["encrypt", "--progress=never"], &data).ok().stdout;
    env.write("b.pgp", &backup);
    env.run(&["decrypt", "b.pgp"], b"").ok();
    env.run(&["verify", "b.pgp"], b"").ok();
    env.run(&["rekey", "b.pgp"], b"").ok();
    for command in [
        &["encrypt", "--progress"][..],
        &["encrypt", "--progress=always"],
        &["decrypt", "--progress", "b.pgp"],
        &["verify", "--progress=always", "b.pgp"],
        &["rekey", "--progress", "b.pgp"],
    ] {
        let run = env.run(command, &data);
        assert_eq!(run.status, 0, "{command:?}: {}", run.stderr);
        assert!(
            run.stderr.contains(" in, ") && run.stderr.contains(" out, "),
            "{command:?}: {}",
            run.stderr
        );
        assert!(run.stderr.ends_with('\n'), "the line is ended");
    }
    let (code, screen) = on_terminal(&env, &["verify", "b.pgp"], &[]);
    assert_eq!(code, 0, "{screen}");
    assert!(
        screen.contains("sealpipe: ") && screen.contains(" out, "),
        "{screen}"
    );
}

/// A size as the progress line prints it ("293.0 KiB", "512 B"), in bytes.
fn parse_size(text: &str) -> f64 {
    let (value, unit) = text.split_once(' ').expect("a value and a unit");
    let power = ["B", "KiB", "MiB", "GiB", "TiB"]
        .iter()
        .position(|u| *u == unit)
        .unwrap_or_else(|| panic!("unit of {text:?}"));
    value.parse::<f64>().unwrap() * 1024f64.powi(power as i32)
}

/// The last progress line says what went through: the bytes in and out as
/// counted, and a rate no lower than the whole run achieved; it is redrawn
/// at most four times a second, and ended once (no blank line after it).
#[test]
fn the_progress_line_counts_every_byte_and_ends_once() {
    let env = TestEnv::new();
    env.daily_and_escrow();
    let data = sample_data(3_000_000);
    let started = std::time::Instant::now();
    let run = env.run(&["encrypt", "--progress=always"], &data);
    let wall = started.elapsed().as_secs_f64();
    assert_eq!(run.status, 0, "{}", run.stderr);
    let shown = &run.stderr;
    assert!(
        shown.ends_with('\n') && shown.matches('\n').count() == 1,
        "one end of line: {shown:?}"
    );
    let redraws = shown.matches('\r').count();
    assert!(
        redraws as f64 <= 2.0 + 4.0 * wall,
        "{redraws} redraws in {wall:.2} s: {shown:?}"
    );
    // "sealpipe: 2.9 MiB in, 1.0 MiB out, 25.0 MiB/s, 00:00:00"
    let last = shown.rsplit('\r').next().unwrap().trim_end();
    let fields: Vec<&str> = last
        .strip_prefix("sealpipe: ")
        .unwrap_or_else(|| panic!("{last:?}"))
        .split(", ")
        .collect();
    let (bytes_in, bytes_out) = (data.len() as f64, run.stdout.len() as f64);
    for (field, bytes, what) in [(fields[0], bytes_in, " in"), (fields[1], bytes_out, " out")] {
        let shown = parse_size(
            field
                .strip_suffix(what)
                .unwrap_or_else(|| panic!("{last:?}")),
        );
        // One decimal of a unit it has at least one of: within 5%.
        assert!(
            (shown - bytes).abs() <= 0.05 * bytes,
            "{field} for {bytes} bytes"
        );
    }
    let rate = parse_size(fields[2].strip_suffix("/s").unwrap());
    assert!(
        rate >= 0.9 * bytes_in.max(bytes_out) / wall,
        "{} while the run took {wall:.2} s for {bytes_in} bytes",
        fields[2]
    );
}

/// A run that fails after drawing progress ends the line first: the error
/// starts a line of its own.
#[test]
fn an_error_after_progress_starts_a_line_of_its_own() {
    let env = TestEnv::new();
    env.daily_and_escrow();
    let backup = env.run(&["encrypt"], &sample_data(300_000)).ok().stdout;
    let cut = &backup[..backup.len() / 2];
    let run = env
        .run(&["decrypt", "--progress=always"], cut)
        .fails(6, "truncated");
    let error = run
        .stderr
        .split('\n')
        .find(|line| line.contains("truncated"))
        .unwrap();
    assert!(error.starts_with("sealpipe: error"), "{:?}", run.stderr);
    assert!(run.stderr.starts_with('\r'), "progress was drawn first");
}
