//! Snapshots of the text users read: `--help` of every command and the
//! refusal messages, as rage keeps them. A change to any of them shows up
//! as a diff to review. After a deliberate change, accept the new text with
//! `INSTA_UPDATE=always cargo test --test snapshots` and review the diff of
//! tests/snapshots/.

mod common;

use common::*;

/// The help as a user sees it at a fixed width.
fn help(args: &[&str]) -> String {
    let env = TestEnv::new();
    let mut cmd = env.cmd(args);
    cmd.env("COLUMNS", "100").env_remove("SEALPIPE_CONFIG");
    let run = run_with_stdin(cmd, b"").ok();
    String::from_utf8(run.stdout).unwrap()
}

/// The subcommands a help text lists under "Commands:" (without `help`).
fn subcommands(help_text: &str) -> Vec<String> {
    help_text
        .lines()
        .skip_while(|l| *l != "Commands:")
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(String::from)
        .collect()
}

/// Every command's help, found by walking the help texts themselves, so a
/// new subcommand gets a snapshot without anyone remembering to add it.
#[test]
fn help_of_every_command() {
    let top = help(&["--help"]);
    insta::assert_snapshot!("help", top);
    let mut pending: Vec<Vec<String>> = subcommands(&top).into_iter().map(|c| vec![c]).collect();
    assert!(
        pending.len() >= 10,
        "the walk found too few commands: {pending:?}"
    );
    while let Some(path) = pending.pop() {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let text = help(&args);
        insta::assert_snapshot!(format!("help_{}", path.join("_")), text);
        for sub in subcommands(&text) {
            let mut deeper = path.clone();
            deeper.push(sub);
            pending.push(deeper);
        }
    }
}

/// stderr with what changes from run to run (the temp dir, fingerprints,
/// key IDs) replaced by placeholders.
fn redacted(env: &TestEnv, run: &Run) -> String {
    let dir = env.dir.path().to_str().unwrap();
    let mut text = run.stderr.replace(dir, "[DIR]");
    for (len, placeholder) in [(40, "[FINGERPRINT]"), (16, "[KEYID]")] {
        let mut out = String::new();
        let mut word = String::new();
        for c in text.chars().chain(std::iter::once(' ')) {
            if c.is_ascii_hexdigit() {
                word.push(c);
                continue;
            }
            out.push_str(if word.len() == len {
                placeholder
            } else {
                &word
            });
            word.clear();
            out.push(c);
        }
        out.pop();
        text = out;
    }
    format!("exit {}\n{text}", run.status)
}

#[test]
fn refusal_messages() {
    let env = TestEnv::new();
    env.daily_and_escrow();
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("unpinned_recipient", vec!["encrypt", "-r", "nobody"]),
        ("required_left_out", vec!["encrypt", "-r", "daily"]),
        ("level_out_of_range", vec!["encrypt", "-l", "30"]),
        (
            "level_too_high_for_deflate",
            vec!["encrypt", "-c", "deflate", "-l", "12"],
        ),
        (
            "level_without_compression",
            vec!["encrypt", "-c", "none", "-l", "5"],
        ),
        ("threads_out_of_range", vec!["encrypt", "-j", "300"]),
        ("existing_output", vec!["encrypt", "-o", "sealpipe.toml"]),
        (
            "not_a_digest_file",
            vec!["verify", "--digest-file", "/dev/null", "x.pgp"],
        ),
        ("not_openpgp", vec!["decrypt", "sealpipe.toml"]),
    ];
    env.write("x.pgp", b"");
    for (name, args) in cases {
        let run = env.run(&args, b"data");
        assert_ne!(run.status, 0, "{name}");
        insta::assert_snapshot!(format!("refusal_{name}"), redacted(&env, &run));
    }
    // Config mistakes, each at its line.
    let pinned = std::fs::read_to_string(env.path("sealpipe.toml")).unwrap();
    for (name, extra) in [
        ("config_level", "[encrypt]\nlevel = 30\n"),
        (
            "config_deflate_level",
            "[encrypt]\ncompression = \"deflate\"\nlevel = 12\n",
        ),
        ("config_threads", "[encrypt]\nthreads = 4294967295\n"),
        (
            "config_duplicate_table",
            "[encrypt]\narmor = true\n[encrypt]\nlevel = 3\n",
        ),
        ("config_unknown_key", "[encrypt]\nlvl = 3\n"),
    ] {
        env.write("sealpipe.toml", format!("{pinned}{extra}").as_bytes());
        let run = env.run(&["encrypt"], b"data");
        insta::assert_snapshot!(format!("refusal_{name}"), redacted(&env, &run));
    }
    env.write("sealpipe.toml", b"");
    let run = env.run(&["decrypt"], b"");
    insta::assert_snapshot!("refusal_no_key", redacted(&env, &run));
}
