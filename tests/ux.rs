//! What a user sees: one error line through one printer, config errors at
//! their line and in plain words, one validation for every source of a
//! setting, no temp file left by a refused run, digest files that are
//! regular files only, no buffered output released by an unfinished run.

mod common;

use std::fs;

use common::*;

/// The files in the test directory whose name marks an unfinished output.
fn partial_files(env: &TestEnv) -> Vec<String> {
    partial_files_in(env.dir.path())
}

/// The test's config with `extra` appended (e.g. an `[encrypt]` table).
fn config_with(env: &TestEnv, extra: &str) {
    let path = env.path("sealpipe.toml");
    let mut text = fs::read_to_string(&path).unwrap();
    text.push_str(extra);
    fs::write(&path, text).unwrap();
}

/// Exactly one line on stderr, the printer's.
#[track_caller]
fn one_error_line(run: &Run) -> &str {
    let line = run.stderr.strip_suffix('\n').unwrap_or(&run.stderr);
    assert!(
        line.starts_with("sealpipe: error: ") && !line.contains('\n'),
        "one error line: {:?}",
        run.stderr
    );
    line
}

/// Command-line mistakes are one line, exit 2; `--help` and `--version`
/// go to stdout, exit 0. A command given without its subcommand says that
/// one is missing and which (not its help's first line, as if that were
/// the error).
#[test]
fn command_line_mistakes_are_one_line_and_help_is_not_a_mistake() {
    let env = TestEnv::new();
    for args in [
        &["--help"][..],
        &["--version"],
        &["escrow", "--help"],
        &["help", "encrypt"],
    ] {
        let run = env.run(args, b"").ok();
        assert!(!run.stdout.is_empty(), "{args:?} printed nothing");
    }
    let run = env.run(&["--no-such-flag"], b"");
    assert_eq!(run.status, 2);
    assert!(one_error_line(&run).contains("unexpected argument '--no-such-flag'"));
    assert!(run.stdout.is_empty());
    // The same line whether or not SEALPIPE_CONFIG is set (clap tells the
    // two apart: with nothing at all given it renders the help instead).
    for (command, subcommands) in [
        ("escrow", "split, combine, help"),
        ("generate", "man, completion, help"),
    ] {
        for config_set in [true, false] {
            let mut cmd = env.cmd(&[command]);
            if !config_set {
                cmd.env_remove("SEALPIPE_CONFIG");
            }
            let run = run_with_stdin(cmd, b"");
            assert_eq!(run.status, 2, "{}", run.stderr);
            let want = format!(
                "sealpipe: error: 'sealpipe {command}' requires a subcommand but one was not \
                 provided [subcommands: {subcommands}] (see --help)"
            );
            assert_eq!(
                one_error_line(&run),
                want,
                "SEALPIPE_CONFIG set: {config_set}"
            );
        }
    }
}

#[test]
fn config_errors_name_the_file_and_line_and_exit_3() {
    let env = TestEnv::new();
    let cases = [
        // (appended text, line of the error within it, words it must use)
        (
            "[encrypt]\ncompression = \"zstd\"\nlevel = 30\n",
            3,
            "zstd levels are 1 to 22",
        ),
        (
            "[encrypt]\ncompression = \"deflate\"\nlevel = 12\n",
            3,
            "deflate levels are 1 to 9",
        ),
        ("[encrypt]\nthreads = 4294967295\n", 2, "from 1 to 256"),
        (
            "[encrypt]\narmor = true\n[encrypt]\nlevel = 3\n",
            3,
            "duplicate key `encrypt`",
        ),
        (
            "[encrypt]\ncompression = \"none\"\nlevel = 3\n",
            3,
            "has no levels",
        ),
    ];
    for (extra, line, words) in cases {
        env.config(&[], &[], &[]);
        let base = fs::read_to_string(env.path("sealpipe.toml")).unwrap();
        let lines = base.lines().count();
        config_with(&env, extra);
        let run = env
            .run(&["encrypt", "-o", "out.pgp"], b"data")
            .fails(3, words);
        let message = one_error_line(&run);
        let at = format!("sealpipe.toml line {}: ", lines + line);
        assert!(message.contains(&at), "{at:?} in {message}");
        assert!(!message.contains("..="), "Rust notation: {message}");
        assert!(partial_files(&env).is_empty(), "temp file left: {extra}");
        assert!(!env.path("out.pgp").exists());
    }
}

/// The same checks for the command line, as usage errors (exit 2).
#[test]
fn command_line_settings_are_checked_like_the_configs() {
    let env = TestEnv::new();
    env.daily_and_escrow();
    env.run(&["encrypt", "-c", "none", "-l", "5", "-o", "o"], b"x")
        .fails(2, "compression \"none\" has no levels");
    env.run(&["encrypt", "-c", "deflate", "-l", "12", "-o", "o"], b"x")
        .fails(2, "deflate levels are 1 to 9");
    let run = env
        .run(&["encrypt", "-l", "30"], b"x")
        .fails(2, "zstd levels are 1 to 22");
    assert!(!run.stderr.contains("..="), "{}", run.stderr);
    env.run(&["encrypt", "-j", "0"], b"x")
        .fails(2, "from 1 to 256");
    env.run(&["encrypt", "-j", "257"], b"x")
        .fails(2, "from 1 to 256");
    assert!(partial_files(&env).is_empty());
    // A zstd level in the config does not follow `-c deflate`.
    config_with(&env, "[encrypt]\nlevel = 19\n");
    env.run(&["encrypt", "-c", "deflate", "-o", "d.pgp"], b"x")
        .ok();
}

#[test]
fn no_key_at_all_is_a_key_error() {
    let env = TestEnv::new();
    env.daily_and_escrow();
    env.config(&[], &[], &[]);
    let run = env
        .run(&["decrypt"], b"")
        .fails(5, "no secret key to decrypt with");
    one_error_line(&run);
}

#[test]
fn version_names_the_openpgp_library_and_backend() {
    let env = TestEnv::new();
    let run = env.run(&["--version"], b"").ok();
    let text = String::from_utf8(run.stdout).unwrap();
    assert!(text.starts_with("sealpipe "), "{text}");
    assert!(text.contains("sequoia-openpgp 2."), "{text}");
    assert!(text.contains("crypto backend: Nettle"), "{text}");
}

#[test]
fn digest_files_are_regular_files_read_with_a_bound() {
    let env = TestEnv::new();
    env.daily_and_escrow();
    let backup = env.run(&["encrypt"], b"hello").ok().stdout;
    env.write("b.pgp", &backup);
    for (file, words) in [
        ("/dev/zero", "is not a regular file"),
        ("/dev/null", "is not a regular file"),
    ] {
        env.run(&["verify", "--digest-file", file, "b.pgp"], b"")
            .fails(2, words);
    }
    // A FIFO nobody writes to: refused at once, not waited on.
    let fifo = env.path("fifo");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    env.run(&["verify", "--digest-file", "fifo", "b.pgp"], b"")
        .fails(2, "is not a regular file");
    // A huge file is not a digest file; it is not read to the end.
    let big = fs::File::create(env.path("big")).unwrap();
    big.set_len(1 << 30).unwrap();
    env.run(&["verify", "--digest-file", "big", "b.pgp"], b"")
        .fails(2, "larger than 16 KiB");
    // The bound itself: a digest line padded to 16 KiB is read, one byte
    // more is refused.
    let sha = shell("sha256sum", b"hello").stdout[..64].to_vec();
    let mut line = [sha.as_slice(), b"  (stdin)\n"].concat();
    line.resize(16 * 1024, b'\n');
    env.write("exact.sha256", &line);
    env.run(&["verify", "--digest-file", "exact.sha256", "b.pgp"], b"")
        .ok();
    line.push(b'\n');
    env.write("over.sha256", &line);
    env.run(&["verify", "--digest-file", "over.sha256", "b.pgp"], b"")
        .fails(2, "larger than 16 KiB");
}

#[test]
fn digest_files_are_written_atomically_and_never_through_a_link() {
    let env = TestEnv::new();
    env.daily_and_escrow();
    let target = env.write("target", b"keep me\n");
    std::os::unix::fs::symlink(&target, env.path("link")).unwrap();
    env.run(&["encrypt", "--digest-file", "link", "-o", "b.pgp"], b"x")
        .fails(2, "not a regular file");
    assert_eq!(fs::read(&target).unwrap(), b"keep me\n");
    assert!(!env.path("b.pgp").exists(), "checked before the backup");
    // From stdin: named "(stdin)", not "-"; mode 0600 like -o.
    env.run(
        &["encrypt", "--digest-file", "d.sha256", "-o", "b.pgp"],
        b"x",
    )
    .ok();
    let line = fs::read_to_string(env.path("d.sha256")).unwrap();
    assert!(line.ends_with("  (stdin)\n"), "{line}");
    assert_eq!(file_mode(&env.path("d.sha256")), 0o600);
    assert_eq!(file_mode(&env.path("b.pgp")), 0o600);
    assert!(partial_files(&env).is_empty());
}

#[test]
fn a_digest_mismatch_says_nothing_is_ok() {
    let env = TestEnv::new();
    env.daily_and_escrow();
    env.run(
        &["encrypt", "--digest-file", "d.sha256", "-o", "b.pgp"],
        b"one",
    )
    .ok();
    env.run(&["encrypt", "-o", "other.pgp"], b"two").ok();
    let run = env
        .run(&["verify", "--digest-file", "d.sha256", "other.pgp"], b"")
        .fails(8, "not the backup the digest belongs to");
    one_error_line(&run);
    let stdout = String::from_utf8(run.stdout).unwrap();
    assert!(!stdout.contains("ok"), "{stdout}");
    let run = env
        .run(&["verify", "--digest-file", "d.sha256", "b.pgp"], b"")
        .ok();
    assert!(String::from_utf8(run.stdout).unwrap().starts_with("ok: "));
}

/// `-` names stdin as the input and stdout as `-o`, as in every Unix
/// filter: no file called `-` is read or made.
#[test]
fn a_dash_is_stdin_and_stdout() {
    let env = TestEnv::new();
    env.daily_and_escrow();
    let plain = sample_data(5000);
    let backup = env.run(&["encrypt", "-o", "-", "-"], &plain).ok().stdout;
    assert!(!env.path("-").exists(), "-o - made a file");
    let restored = env.run(&["decrypt", "-o", "-", "-"], &backup).ok().stdout;
    assert!(restored == plain, "restored through - and -o -");
    assert!(!env.path("-").exists(), "-o - made a file");
}

/// The child half of the next test: writes to stdout through an `Output`
/// and drops it unfinished, as an error path does.
#[test]
fn child_drops_an_unfinished_stdout_output() {
    if std::env::var_os("SEALPIPE_UX_CHILD").is_none() {
        return;
    }
    use sealpipe::io::{Existing, Output, OutputKind};
    use std::io::Write;
    let mut output = Output::open(None, OutputKind::Text, Existing::Refuse).unwrap();
    output.write_all(b"UNFINISHED-PLAINTEXT").unwrap();
    drop(output);
}

/// Dropping an unfinished `Output` discards what it buffered: only
/// `finish` releases bytes (a failed decrypt must not flush on its way out).
#[test]
fn an_unfinished_output_releases_nothing_when_dropped() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_drops_an_unfinished_stdout_output",
            "--nocapture",
        ])
        .env("SEALPIPE_UX_CHILD", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("1 passed"), "the child ran: {stdout}");
    assert!(!stdout.contains("UNFINISHED-PLAINTEXT"), "{stdout}");
}

/// `[name]=value` lines of one `declare -A NAME=(...)` block of a script.
fn bash_table(script: &str, name: &str) -> Vec<(String, String)> {
    let start = script
        .find(&format!("declare -A {name}=("))
        .unwrap_or_else(|| panic!("no table {name}"));
    script[start..]
        .lines()
        .skip(1)
        .take_while(|line| *line != ")")
        .filter_map(|line| {
            let (key, value) = line.trim().strip_prefix('[')?.split_once("]=")?;
            Some((key.to_string(), value.trim_matches('"').to_string()))
        })
        .collect()
}

/// docs/testing.md's table of mutation-test modules is the one
/// scripts/mutants.sh runs: every module, its file, its test targets and
/// the tests it leaves out, in the script's order.
#[test]
fn docs_testing_md_lists_the_modules_and_targets_mutants_sh_runs() {
    let root = env!("CARGO_MANIFEST_DIR");
    let script = fs::read_to_string(format!("{root}/scripts/mutants.sh")).unwrap();
    let doc = fs::read_to_string(format!("{root}/docs/testing.md")).unwrap();
    let tests: std::collections::HashMap<_, _> = bash_table(&script, "TESTS").into_iter().collect();
    let skips: std::collections::HashMap<_, _> = bash_table(&script, "SKIP").into_iter().collect();
    let want: Vec<String> = bash_table(&script, "FILE")
        .into_iter()
        .map(|(module, file)| {
            let words: Vec<&str> = tests[&module].split_whitespace().collect();
            let mut targets = Vec::new();
            for (i, word) in words.iter().enumerate() {
                match *word {
                    "--lib" => targets.push("lib"),
                    "--test" => targets.push(words[i + 1]),
                    _ => {}
                }
            }
            let mut targets = targets.join(", ");
            if let Some(skip) = skips.get(&module) {
                targets.push_str(&format!(", without `{skip}`"));
            }
            format!("| {module} | {file} | {targets} |")
        })
        .collect();
    let table: Vec<&str> = doc
        .lines()
        .skip_while(|line| *line != "| module | file | test targets |")
        .skip(2)
        .take_while(|line| line.starts_with('|'))
        .collect();
    assert_eq!(
        table, want,
        "docs/testing.md's module table, from scripts/mutants.sh"
    );
    let order = script
        .split("ORDER=(")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .unwrap();
    let modules: Vec<&str> = want
        .iter()
        .map(|row| row.split(" | ").next().unwrap())
        .collect();
    let ordered: Vec<String> = order.split_whitespace().map(|m| format!("| {m}")).collect();
    assert_eq!(modules, ordered, "FILE and ORDER list the same modules");
}

/// The `section.key` rows of docs/config.md with their example values.
fn documented_config_keys() -> Vec<(String, String, String)> {
    let doc = fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/config.md")).unwrap();
    doc.lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split(" | ").collect();
            let key = cells.first()?.strip_prefix("| `")?.strip_suffix('`')?;
            let (section, name) = key.split_once('.')?;
            let example = cells.get(1)?.trim_matches('`').replace("\\|", "|");
            Some((section.to_string(), name.to_string(), example))
        })
        .collect()
}

/// The keys the parser accepts in one table, as serde lists them when it
/// refuses an unknown one.
fn accepted_keys(table_header: &str) -> Vec<String> {
    let text = format!("{table_header}\nzz_not_a_key = 1\n");
    let err = sealpipe::config::Config::parse(std::path::Path::new("/x/c.toml"), &text)
        .unwrap_err()
        .to_string();
    let expected = err
        .split("expected")
        .nth(1)
        .unwrap_or_else(|| panic!("{err}"));
    expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

#[test]
fn docs_config_md_lists_exactly_the_keys_the_parser_accepts() {
    let documented = documented_config_keys();
    assert!(documented.len() >= 10, "{documented:?}");
    // Every documented key, with its example, is accepted.
    let mut text = String::new();
    for (section, header) in [
        ("encrypt", "[encrypt]"),
        ("recipient", "[[recipient]]"),
        ("decrypt", "[decrypt]"),
        ("sign", "[sign]"),
    ] {
        text += &format!("{header}\n");
        for (_, key, example) in documented.iter().filter(|(s, ..)| s == section) {
            text += &format!("{key} = {example}\n");
        }
    }
    sealpipe::config::Config::parse(std::path::Path::new("/x/c.toml"), &text)
        .unwrap_or_else(|e| panic!("documented examples refused: {e}\n{text}"));
    // Every accepted key is documented.
    let mut sections: Vec<String> = documented.iter().map(|(s, ..)| s.clone()).collect();
    sections.dedup();
    let mut top = accepted_keys("");
    top.sort();
    let mut want = sections.clone();
    want.sort();
    assert_eq!(top, want, "top-level tables");
    for (section, header) in [
        ("encrypt", "[encrypt]"),
        ("recipient", "[[recipient]]"),
        ("decrypt", "[decrypt]"),
        ("sign", "[sign]"),
    ] {
        for key in accepted_keys(header) {
            assert!(
                documented.iter().any(|(s, k, _)| s == section && *k == key),
                "{section}.{key} is accepted but not in docs/config.md"
            );
        }
    }
}

/// keygen prints `cert` relative to the directory of the config that
/// `--config` names, and says so; a cert elsewhere is to be copied there.
#[test]
fn keygen_prints_the_cert_path_as_the_config_will_read_it() {
    let env = TestEnv::new();
    fs::create_dir_all(env.path("etc/certs")).unwrap();
    let snippet = |args: &[&str]| {
        let mut all = vec![
            "keygen",
            "--config",
            "etc/sealpipe.toml",
            "--expires",
            "never",
        ];
        all.extend_from_slice(args);
        String::from_utf8(env.run(&all, b"").ok().stdout).unwrap()
    };
    let inside = snippet(&[
        "--name",
        "a",
        "--cert-out",
        "etc/certs/a.cert",
        "--key-out",
        "a.key",
    ]);
    assert!(inside.contains("cert = \"certs/a.cert\"\n"), "{inside}");
    assert!(inside.contains("etc/sealpipe.toml"), "{inside}");
    assert!(
        inside.contains("relative to that file's directory"),
        "{inside}"
    );
    let outside = snippet(&["--name", "b", "--cert-out", "b.cert", "--key-out", "b.key"]);
    assert!(outside.contains("cert = \"b.cert\"\n"), "{outside}");
    assert!(outside.contains("copy b.cert there"), "{outside}");
    // The printed lines work where they say: pasted into that config.
    let fingerprint = |s: &str| {
        s.lines()
            .find_map(|l| l.strip_prefix("fingerprint = \""))
            .unwrap()
            .trim_end_matches('"')
            .to_string()
    };
    let pasted: String = inside
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    fs::write(env.path("etc/sealpipe.toml"), pasted).unwrap();
    let run = env
        .run(&["encrypt", "--config", "etc/sealpipe.toml"], b"x")
        .ok();
    let recipients = message_shape(&run.stdout).0;
    assert_eq!(recipients.len(), 1, "{recipients:?}");
    assert!(!fingerprint(&inside).is_empty());
}

/// While `-o` is being written, the output has no name at all (O_TMPFILE
/// where the filesystem has it): even SIGKILL, which gives no chance to
/// clean up, leaves nothing behind.
#[test]
fn a_killed_encrypt_leaves_no_file_beside_its_output() {
    use std::io::Write;
    let env = TestEnv::new();
    env.daily_and_escrow();
    let mut child = env
        .cmd(&["encrypt", "-o", "b.pgp"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&sample_data(1 << 20)).unwrap();
    while !writing_output_in(child.id(), env.dir.path()) {
        assert!(child.try_wait().unwrap().is_none(), "encrypt ended early");
        std::thread::yield_now();
    }
    assert!(partial_files(&env).is_empty(), "{:?}", partial_files(&env));
    child.kill().unwrap();
    child.wait().unwrap();
    drop(stdin);
    assert!(partial_files(&env).is_empty(), "{:?}", partial_files(&env));
    assert!(!env.path("b.pgp").exists());
    // And a finished one is in place, mode 0600, with --force over an old one.
    env.run(&["encrypt", "-o", "b.pgp"], b"x").ok();
    env.run(&["encrypt", "-o", "b.pgp"], b"x")
        .fails(2, "use --force");
    env.run(&["encrypt", "-f", "-o", "b.pgp"], b"y").ok();
    assert_eq!(file_mode(&env.path("b.pgp")), 0o600);
    assert!(partial_files(&env).is_empty());
}

/// `--config` is global: before the command as well as after it.
#[test]
fn config_before_or_after_the_command() {
    let env = TestEnv::new();
    env.daily_and_escrow();
    let config = env.path("sealpipe.toml");
    let config = config.to_str().unwrap();
    env.run(&["--config", config, "encrypt", "-o", "a.pgp"], b"x")
        .ok();
    env.run(&["encrypt", "--config", config, "-o", "b.pgp"], b"x")
        .ok();
    let backup = std::fs::read(env.path("a.pgp")).unwrap();
    assert_eq!(
        env.run(&["--config", config, "-d"], &backup).ok().stdout,
        b"x"
    );
    env.run(&["-d", "verify"], b"")
        .fails(2, "give either -d or a command");
}

/// Each run reads its config once, however many parts of the plan need it
/// (rekey: recipients and secret keys; inspect: pins and keys). Counted with
/// strace, installed by scripts/deps.sh.
#[test]
fn the_config_is_read_once_per_run() {
    let env = TestEnv::new();
    env.daily_and_escrow();
    env.run(&["encrypt", "-o", "b.pgp"], b"x").ok();
    for args in [
        &["rekey", "b.pgp"][..],
        &["decrypt", "b.pgp"],
        &["verify", "b.pgp"],
        &["encrypt", "b.pgp"],
    ] {
        let trace = env.path("trace");
        let mut cmd = std::process::Command::new("strace");
        cmd.args(["-f", "-qq", "-e", "trace=openat", "-o"])
            .arg(&trace)
            .arg(BIN)
            .args(args)
            .current_dir(env.dir.path())
            .env("SEALPIPE_CONFIG", env.path("sealpipe.toml"))
            .env("SEALPIPE_NOW", NOW.to_string());
        let run = run_with_stdin(cmd, b"");
        if run.stderr.contains("Operation not permitted") {
            eprintln!("skipped: this container forbids ptrace: {}", run.stderr);
            return;
        }
        assert_eq!(run.status, 0, "{args:?}: {}", run.stderr);
        let opens = fs::read_to_string(&trace)
            .unwrap()
            .lines()
            .filter(|l| l.contains("sealpipe.toml\""))
            .count();
        assert_eq!(opens, 1, "{args:?} opened its config {opens} times");
    }
}

/// The README's test command gives the tests a time limit
/// (scripts/tests-within-limit.sh, docs/testing.md): a test that hangs
/// fails the suite with exit 124 and a reason, and what it started is
/// stopped with it; otherwise cargo's exit status and the arguments for
/// the test binaries pass through. Run against a stand-in `cargo` (the
/// script is what is tested here, not cargo).
#[test]
fn a_test_that_hangs_fails_the_suite_within_the_limit() {
    use std::os::unix::fs::PermissionsExt;
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    let env = TestEnv::new();
    let bin = env.path("bin");
    fs::create_dir(&bin).unwrap();
    let grandchild = env.path("grandchild.pid");
    // Hangs with a child of its own, as cargo does with a test binary.
    let fake = format!(
        "#!/bin/sh\ncase \"$FAKE\" in\n\
         hang) sleep 1000 & echo $! > {}; wait;;\n\
         fail) exit 101;;\n\
         *) echo \"cargo $*\";;\nesac\n",
        grandchild.display()
    );
    fs::write(bin.join("cargo"), fake).unwrap();
    fs::set_permissions(bin.join("cargo"), fs::Permissions::from_mode(0o755)).unwrap();
    let script = format!(
        "{}/scripts/tests-within-limit.sh",
        env!("CARGO_MANIFEST_DIR")
    );
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let run = |fake: &str, limit: &str| {
        let child = Command::new(&script)
            .arg("--show-output")
            .env("PATH", &path)
            .env("FAKE", fake)
            .env("TESTS_LIMIT", limit)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        wait_within(child, Duration::from_secs(60))
    };

    let passed = run("pass", "600");
    assert_eq!(passed.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&passed.stdout),
        "cargo test --locked -- --show-output\n"
    );
    assert!(passed.stderr.is_empty());
    let failed = run("fail", "600");
    assert_eq!(
        failed.status.code(),
        Some(101),
        "a failed test run stays failed"
    );
    assert!(failed.stderr.is_empty(), "no hang reported for a failure");

    let start = Instant::now();
    let hung = run("hang", "2");
    assert_eq!(hung.status.code(), Some(124));
    assert!(
        String::from_utf8_lossy(&hung.stderr).contains("tests: not finished within 2 s, stopped"),
        "{hung:?}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "stopped at the limit"
    );
    let pid = fs::read_to_string(&grandchild).unwrap();
    let stopped = |pid: &str| {
        // Gone, or a zombie waiting for init to reap it.
        fs::read_to_string(format!("/proc/{}/stat", pid.trim()))
            .map_or(true, |stat| stat.contains(") Z "))
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !stopped(&pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(stopped(&pid), "what the tests started is stopped too");
}
