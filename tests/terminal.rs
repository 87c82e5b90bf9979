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
    const DRIVER: &str = r#"
import os, pty, sys, termios, time
answers = [a for a in sys.argv[1].split("\n") if a]
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
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
