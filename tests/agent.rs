//! Issue 16.1: restoring with keys held by gpg-agent (`--agent`, `[decrypt]
//! agent = true`). Each test starts its own gpg-agent, with its own GnuPG
//! home under /tmp (a unix socket path must stay short), holding software
//! keys imported with gpg; sealpipe asks it through its socket. The agent's
//! own log (`debug ipc`) counts the decryptions it was asked for.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::*;
use openpgp::packet::Packet;
use openpgp::parse::Parse;
use openpgp::serialize::MarshalInto;
use sealpipe::openpgp;

/// An ephemeral gpg-agent: its GnuPG home, killed with it. It never asks
/// anyone (its pinentry notes that it was run, and fails), allows preset
/// passphrases and logs the commands it gets.
struct GpgAgent {
    dir: tempfile::TempDir,
}

impl Drop for GpgAgent {
    fn drop(&mut self) {
        let _ = self.gpgconf(&["--kill", "gpg-agent"]);
        let _ = self.gpgconf(&["--remove-socketdir"]);
    }
}

impl GpgAgent {
    fn start() -> GpgAgent {
        let dir = tempfile::Builder::new()
            .prefix("spag")
            .tempdir_in("/tmp")
            .unwrap();
        let agent = GpgAgent { dir };
        let home = agent.home();
        fs::create_dir(&home).unwrap();
        fs::set_permissions(&home, fs::Permissions::from_mode(0o700)).unwrap();
        let pinentry = agent.dir.path().join("pinentry");
        let script = format!(
            "#!/bin/sh\ntouch {}\nexit 1\n",
            agent.pinentry_ran().display()
        );
        fs::write(&pinentry, script).unwrap();
        fs::set_permissions(&pinentry, fs::Permissions::from_mode(0o755)).unwrap();
        let conf = format!(
            "allow-preset-passphrase\npinentry-program {}\nlog-file {}\ndebug ipc\n",
            pinentry.display(),
            agent.log().display()
        );
        fs::write(home.join("gpg-agent.conf"), conf).unwrap();
        assert!(
            agent.gpgconf(&["--launch", "gpg-agent"]),
            "gpgconf --launch gpg-agent"
        );
        agent
    }

    fn home(&self) -> PathBuf {
        self.dir.path().join("g")
    }

    /// Exists once the agent ran its pinentry.
    fn pinentry_ran(&self) -> PathBuf {
        self.dir.path().join("pinentry-ran")
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("agent.log")
    }

    /// Run gpgconf for this home, with no descriptor of ours to inherit.
    fn gpgconf(&self, args: &[&str]) -> bool {
        Command::new("gpgconf")
            .arg("--homedir")
            .arg(self.home())
            .args(args)
            .env("GNUPGHOME", self.home())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    fn gpg(&self, args: &[&str]) -> Run {
        let mut c = gpg_command(&self.home());
        c.args(args);
        run_with_stdin(c, b"")
    }

    /// Import a secret key file (protected by the passphrase in
    /// `passphrase_file`, if given).
    fn import(&self, key: &TestKey, passphrase_file: Option<&Path>) {
        let mut args = Vec::new();
        if let Some(file) = passphrase_file {
            args.extend(["--passphrase-file", file.to_str().unwrap()]);
        }
        args.extend(["--import", key.key.to_str().unwrap()]);
        let r = self.gpg(&args);
        assert_eq!(r.status, 0, "gpg --import: {}", r.stderr);
    }

    /// Put the passphrase into the agent's cache for every key of `key`,
    /// as gpg-preset-passphrase does for a cron job.
    fn preset(&self, key: &TestKey, passphrase: &str) {
        let listing = self.gpg(&["--with-colons", "--with-keygrip", "-K", &key.fingerprint]);
        let libexec = Command::new("gpgconf")
            .args(["--list-dirs", "libexecdir"])
            .output()
            .unwrap();
        let preset = Path::new(String::from_utf8(libexec.stdout).unwrap().trim())
            .join("gpg-preset-passphrase");
        let grips: Vec<String> = String::from_utf8_lossy(&listing.stdout)
            .lines()
            .filter_map(|l| l.strip_prefix("grp:::::::::"))
            .map(|g| g.trim_end_matches(':').to_string())
            .collect();
        assert!(!grips.is_empty(), "keygrips: {}", listing.stderr);
        for grip in grips {
            let mut c = Command::new(&preset);
            c.args(["--preset", &grip]).env("GNUPGHOME", self.home());
            let r = run_with_stdin(c, passphrase.as_bytes());
            assert_eq!(r.status, 0, "gpg-preset-passphrase: {}", r.stderr);
        }
    }

    /// How many decryptions the agent was asked for so far. (The log is
    /// not all text: the agent logs some binary answers raw.)
    fn decryptions_asked(&self) -> usize {
        let log = fs::read(self.log()).unwrap_or_default();
        String::from_utf8_lossy(&log)
            .lines()
            .filter(|l| l.ends_with("<- PKDECRYPT"))
            .count()
    }
}

/// A sealpipe command that finds the agent through $GNUPGHOME.
fn with_agent(env: &TestEnv, agent: &GpgAgent, args: &[&str]) -> Command {
    let mut c = env.cmd(args);
    c.env("GNUPGHOME", agent.home());
    c
}

/// The config pinning `recipients`, with `decrypt` as its [decrypt] table.
fn config(env: &TestEnv, recipients: &[&TestKey], decrypt: &str) {
    let mut text = String::new();
    for r in recipients {
        text += &format!(
            "[[recipient]]\nname = \"{}\"\nfingerprint = \"{}\"\ncert = \"{}\"\n\n",
            r.name,
            r.fingerprint,
            r.cert.file_name().unwrap().to_str().unwrap()
        );
    }
    text += &format!("[decrypt]\n{decrypt}\n");
    env.write("sealpipe.toml", text.as_bytes());
}

/// A [decrypt] table that asks `agent` for the keys of the certs in `keys`
/// (key files there are read as files), then `more` lines.
fn agent_table(agent: &GpgAgent, keys: &[&Path], more: &str) -> String {
    let names: Vec<String> = keys
        .iter()
        .map(|k| format!("\"{}\"", k.display()))
        .collect();
    format!(
        "agent = true\nagent_homedir = \"{}\"\nkeys = [{}]\n{more}",
        agent.home().display(),
        names.join(", ")
    )
}

/// A test dir whose config pins the key `daily` (made with `keygen_args`;
/// a passphrase-protected one with "correct horse battery", in file
/// `pass`), and an agent holding its secret.
fn daily_key_in_agent(keygen_args: &[&str]) -> (TestEnv, GpgAgent, TestKey) {
    let env = TestEnv::new();
    let agent = GpgAgent::start();
    let passphrase = env.write("pass", b"correct horse battery\n");
    fs::set_permissions(&passphrase, fs::Permissions::from_mode(0o600)).unwrap();
    let daily = env.keygen("daily", keygen_args);
    let protected = keygen_args.contains(&"--passphrase-file");
    agent.import(&daily, protected.then_some(passphrase.as_path()));
    config(&env, &[&daily], "");
    (env, agent, daily)
}

/// A backup of `data` for the pinned recipients.
fn backup(env: &TestEnv, data: &[u8]) -> Vec<u8> {
    env.run(&["encrypt"], data).ok().stdout
}

#[test]
fn the_agent_restores_with_a_software_key_from_flag_and_from_config() {
    let (env, agent, daily) = daily_key_in_agent(&[]);
    let data = sample_data(1 << 20);
    let backup = backup(&env, &data);
    let cert = daily.cert.to_str().unwrap();

    // --agent with the cert as --key (no config read), --agent naming the
    // keys by the pinned certs, and sealpipe -d with the config alone.
    let flag = run_with_stdin(
        with_agent(&env, &agent, &["decrypt", "--agent", "--key", cert]),
        &backup,
    )
    .ok();
    assert!(flag.stdout == data, "--agent --key CERT restores the bytes");
    let pinned = run_with_stdin(with_agent(&env, &agent, &["decrypt", "--agent"]), &backup).ok();
    assert!(
        pinned.stdout == data,
        "--agent with the pinned certs restores the bytes"
    );

    config(
        &env,
        &[&daily],
        &format!(
            "agent = true\nagent_homedir = \"{}\"",
            agent.home().display()
        ),
    );
    let mut from_config = env.cmd(&["-d"]);
    // agent_homedir, not $GNUPGHOME, finds the agent.
    from_config.env_remove("GNUPGHOME");
    let restored = run_with_stdin(from_config, &backup).ok();
    assert!(
        restored.stdout == data,
        "[decrypt] agent = true restores the bytes"
    );
    assert_eq!(agent.decryptions_asked(), 3, "one request per restore");
}

#[test]
fn a_key_the_agent_does_not_hold_exits_5_naming_it_and_writes_nothing() {
    let env = TestEnv::new();
    let agent = GpgAgent::start();
    let daily = env.keygen("daily", &[]);
    let absent = env.keygen("absent", &[]);
    agent.import(&daily, None);
    config(&env, &[&absent], "");
    let backup = backup(&env, b"a backup for a key the agent lacks");

    let run = run_with_stdin(
        with_agent(&env, &agent, &["decrypt", "--agent", "-o", "out"]),
        &backup,
    )
    .fails(5, "does not hold the secret part of key");
    assert!(
        run.stderr.contains(&absent.fingerprint),
        "names the cert: {}",
        run.stderr
    );
    // And the agent asked, by the GnuPG home it was found through
    // ($GNUPGHOME here): with several homes, which one lacks the key.
    let agent_name = format!("gpg-agent (GnuPG home {})", agent.home().display());
    assert!(
        run.stderr.contains(&agent_name),
        "names the agent: {}",
        run.stderr
    );
    assert!(
        run.stderr.contains("gpg --import"),
        "says what to do: {}",
        run.stderr
    );
    assert!(
        run.stdout.is_empty() && !env.path("out").exists(),
        "zero bytes out"
    );
    assert_eq!(
        agent.decryptions_asked(),
        0,
        "the agent is not asked to decrypt"
    );
}

#[test]
fn a_preset_passphrase_opens_a_protected_key_in_batch() {
    let (env, agent, daily) = daily_key_in_agent(&["--passphrase-file", "pass"]);
    agent.preset(&daily, "correct horse battery");
    let data = sample_data(100_000);
    let backup = backup(&env, &data);

    let run = run_with_stdin(with_agent(&env, &agent, &["decrypt", "--agent"]), &backup).ok();
    assert!(run.stdout == data, "the preset passphrase unlocks the key");
}

#[test]
fn a_protected_key_with_no_preset_fails_at_once_in_batch() {
    let (env, agent, _daily) = daily_key_in_agent(&["--passphrase-file", "pass"]);
    let backup = backup(&env, b"a backup nobody unlocks tonight");

    // No terminal, no preset: no prompt to wait for. `timeout` turns a
    // hang into exit 124, not a stuck test.
    let mut c = Command::new("timeout");
    c.args(["60", BIN, "decrypt", "--agent"])
        .current_dir(env.dir.path())
        .env("SEALPIPE_CONFIG", env.path("sealpipe.toml"))
        .env("SEALPIPE_NOW", NOW.to_string())
        .env("GNUPGHOME", agent.home());
    let run = run_with_stdin(c, &backup).fails(5, "could not decrypt with key");
    assert!(run.stderr.contains("without a terminal"), "{}", run.stderr);
    assert!(
        run.stderr.contains("gpg-preset-passphrase"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty(), "zero bytes out");
    assert_eq!(agent.decryptions_asked(), 1, "asked once, not retried");
    assert!(
        !agent.pinentry_ran().exists(),
        "the agent was told not to ask"
    );
}

#[test]
fn verify_with_the_agent_reports_the_agent_key() {
    let (env, agent, daily) = daily_key_in_agent(&[]);
    let data = sample_data(50_000);
    let backup = backup(&env, &data);

    let run = run_with_stdin(
        with_agent(&env, &agent, &["verify", "--agent", "--json"]),
        &backup,
    )
    .ok();
    let report: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(report["plaintext_bytes"], data.len());
    assert_eq!(report["opened_by_cert"], daily.fingerprint.as_str());
    assert!(
        report["key_file"]
            .as_str()
            .unwrap()
            .starts_with("gpg-agent"),
        "{report}"
    );
}

#[test]
fn rekey_with_the_agent_rewraps_for_the_new_key() {
    let env = TestEnv::new();
    let agent = GpgAgent::start();
    let old = env.keygen("old", &[]);
    let new = env.keygen("new", &[]);
    agent.import(&old, None);
    config(&env, &[&old], "");
    let data = sample_data(200_000);
    let backup = backup(&env, &data);

    config(&env, &[&new], "");
    let cert = old.cert.to_str().unwrap();
    let rekeyed = run_with_stdin(
        with_agent(&env, &agent, &["rekey", "--agent", "--key", cert]),
        &backup,
    )
    .ok();
    let new_key = new.key.to_str().unwrap();
    let restored = env
        .run(&["decrypt", "--key", new_key], &rekeyed.stdout)
        .ok();
    assert!(
        restored.stdout == data,
        "the new key opens the rekeyed backup"
    );
}

#[test]
fn inspect_with_the_agent_reports_the_cipher() {
    let (env, agent, daily) = daily_key_in_agent(&[]);
    let backup = env.write("b.pgp", &backup(&env, b"inspect me"));
    let backup = backup.to_str().unwrap();

    // With the cert as --key, and with the pinned cert alone.
    let cert = daily.cert.to_str().unwrap();
    for args in [
        &["inspect", "--json", "--agent", "--key", cert, backup][..],
        &["inspect", "--json", "--agent", backup],
    ] {
        let run = run_with_stdin(with_agent(&env, &agent, args), b"").ok();
        let report: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
        let opened = &report[0]["opened"];
        assert_eq!(
            opened["opened_by_cert"],
            daily.fingerprint.as_str(),
            "{args:?}: {report}"
        );
        assert_eq!(opened["compression"], "zstd", "{args:?}: {report}");
    }
}

/// The bound: gpg-agent is asked at most once per key per run. 300 junk key
/// packets addressed to the agent's key, ahead of the genuine one, cost one
/// request (a card would otherwise be driven 301 times, or a pinentry shown
/// again after a cancel), in both passes of --verify-first as well.
#[test]
fn junk_key_packets_cost_one_agent_request_per_key() {
    let (env, agent, _daily) = daily_key_in_agent(&[]);
    let backup = backup(&env, b"the backup");

    let pile = openpgp::PacketPile::from_bytes(&backup).unwrap();
    let Some(Packet::PKESK(genuine)) = pile.path_ref(&[0]) else {
        panic!("the backup starts with its key packet");
    };
    let mut junk = Vec::new();
    for i in 0..300usize {
        let mut bytes = Packet::from(genuine.clone()).to_vec().unwrap();
        let at = bytes.len() - 1 - (i % 8);
        bytes[at] ^= 0x5A;
        junk.extend(bytes);
    }
    let hostile = [junk, backup.clone()].concat();

    for args in [
        &["decrypt", "--agent"][..],
        &["decrypt", "--agent", "--verify-first"],
    ] {
        let before = agent.decryptions_asked();
        let run = run_with_stdin(with_agent(&env, &agent, args), &hostile);
        assert_ne!(run.status, 0, "{args:?}: the junk is not opened");
        assert!(run.stdout.is_empty(), "{args:?}: zero bytes out");
        assert_eq!(
            agent.decryptions_asked() - before,
            1,
            "{args:?}: {}",
            run.stderr
        );
    }
    // The genuine backup still opens.
    let run = run_with_stdin(with_agent(&env, &agent, &["decrypt", "--agent"]), &backup).ok();
    assert_eq!(run.stdout, b"the backup");
}

/// `--verify-first` reads the backup twice with one session: the second
/// pass gets gpg-agent's first answer for the same key packet (one
/// request) and restores.
#[test]
fn verify_first_with_the_agent_asks_once_and_restores() {
    let (env, agent, _daily) = daily_key_in_agent(&[]);
    let data = sample_data(100_000);
    let backup = backup(&env, &data);
    let args = ["decrypt", "--agent", "--verify-first"];
    let run = run_with_stdin(with_agent(&env, &agent, &args), &backup).ok();
    assert!(run.stdout == data, "both passes open the backup");
    assert_eq!(agent.decryptions_asked(), 1, "one request for both passes");
}

/// `check` with `[decrypt] agent = true`: a cert listed under `keys` names
/// a key in the agent; check asks the agent whether it holds it (HAVEKEY,
/// never a decryption) and exits 5 when it does not.
#[test]
fn check_asks_the_agent_whether_it_holds_a_listed_cert() {
    let (env, agent, daily) = daily_key_in_agent(&[]);
    let absent = env.keygen("absent", &[]);
    let listing = |certs: &[&TestKey]| {
        let files: Vec<&Path> = certs.iter().map(|c| c.cert.as_path()).collect();
        agent_table(&agent, &files, "")
    };
    config(&env, &[&daily], &listing(&[&daily]));
    let run = env.run(&["check"], b"").ok();
    let report = String::from_utf8(run.stdout).unwrap();
    assert!(report.contains("daily.cert.asc opens: daily"), "{report}");

    config(&env, &[&daily, &absent], &listing(&[&daily, &absent]));
    let run = env.run(&["check"], b"");
    assert_eq!(run.status, 5, "{}", run.stderr);
    let report = String::from_utf8(run.stdout).unwrap();
    assert!(
        report.contains("absent.cert.asc: FAILED: gpg-agent")
            && report.contains("does not hold the secret part"),
        "{report}"
    );
    assert_eq!(agent.decryptions_asked(), 0, "check never decrypts");
}

/// With `agent = true`, a protected key file listed beside the agent's
/// certs is still unlocked with `passphrase_file`, by check as by decrypt:
/// check says what tonight's restore will do.
#[test]
fn check_beside_the_agent_unlocks_a_protected_key_file_as_decrypt_does() {
    let (env, agent, daily) = daily_key_in_agent(&[]);
    let offline = env.keygen("offline", &["--passphrase-file", "pass"]);
    let decrypt = |passphrase: &str| agent_table(&agent, &[&daily.cert, &offline.key], passphrase);
    config(&env, &[&daily, &offline], &decrypt(""));
    env.run(&["check"], b"").fails(5, "passphrase-protected");

    config(
        &env,
        &[&daily, &offline],
        &decrypt("passphrase_file = \"pass\""),
    );
    let report = String::from_utf8(env.run(&["check"], b"").ok().stdout).unwrap();
    let line = format!("{} opens: offline", offline.key.display());
    assert!(report.contains(&line), "{line} in:\n{report}");
    // And tonight's restore agrees: the file opens a backup for it alone.
    config(&env, &[&offline], &decrypt("passphrase_file = \"pass\""));
    let backup = backup(&env, b"for the offline key");
    let run = run_with_stdin(with_agent(&env, &agent, &["decrypt"]), &backup).ok();
    assert_eq!(run.stdout, b"for the offline key");
    assert_eq!(
        agent.decryptions_asked(),
        0,
        "the file opened it, not the agent"
    );
}

/// At a terminal the agent may ask (its pinentry runs); here the pinentry
/// fails, as a cancelled prompt does: exit 5, no output, and a message that
/// says to answer the prompt, not to preset a passphrase.
#[test]
fn at_a_terminal_the_agent_may_ask() {
    let (env, agent, _daily) = daily_key_in_agent(&["--passphrase-file", "pass"]);
    env.write(
        "b.pgp",
        &backup(&env, b"a backup for someone at a terminal"),
    );

    // util-linux `script` runs the command on a new pseudo-terminal.
    let line = format!("{BIN} decrypt --agent -o out b.pgp");
    let mut c = Command::new("script");
    c.args(["-qec", &line, "/dev/null"])
        .current_dir(env.dir.path())
        .env("SEALPIPE_CONFIG", env.path("sealpipe.toml"))
        .env("SEALPIPE_NOW", NOW.to_string())
        .env("GNUPGHOME", agent.home());
    let run = run_with_stdin(c, b"");
    let shown = String::from_utf8_lossy(&run.stdout);
    assert_eq!(run.status, 5, "{shown}");
    assert!(
        shown.contains("answer the agent's passphrase or PIN prompt"),
        "{shown}"
    );
    assert!(agent.pinentry_ran().exists(), "the agent ran its pinentry");
    assert!(!env.path("out").exists(), "zero bytes out");
}

/// `--agent` and a given session key exclude each other: one source of the
/// session key per run.
#[test]
fn agent_and_a_given_session_key_are_a_usage_error() {
    let env = TestEnv::new();
    for extra in [
        ["--session-key-file", "sk"],
        ["--session-key-command", "true"],
    ] {
        let mut args = vec!["decrypt", "--agent"];
        args.extend(extra);
        env.run(&args, b"").fails(2, "cannot be used with");
    }
}

/// `--agent` is the command line's choice: a key service in the config
/// (`session_key_command`) is not asked instead.
#[test]
fn agent_on_the_command_line_wins_over_the_configs_key_service() {
    let (env, agent, daily) = daily_key_in_agent(&[]);
    let backup = backup(&env, b"opened by the agent");
    config(&env, &[&daily], "session_key_command = \"false\"");
    let run = run_with_stdin(with_agent(&env, &agent, &["decrypt", "--agent"]), &backup).ok();
    assert_eq!(run.stdout, b"opened by the agent");
}

/// After a rotation: the old key is in the agent, no longer pinned; its cert
/// under `[decrypt] keys` names it, so old backups still open from the
/// config alone.
#[test]
fn a_retired_keys_cert_under_decrypt_keys_opens_old_backups() {
    let (env, agent, old) = daily_key_in_agent(&[]);
    let data = sample_data(30_000);
    let old_backup = backup(&env, &data);

    let new = env.keygen("new", &[]);
    let decrypt = agent_table(&agent, &[Path::new(old.cert.file_name().unwrap())], "");
    config(&env, &[&new], &decrypt);
    let run = env.run(&["-d"], &old_backup).ok();
    assert!(run.stdout == data, "the retired key in the agent opens it");
}

/// Key files come first: a backup that a `--key` file opens never reaches
/// the agent (no prompt, no card).
#[test]
fn a_key_file_that_opens_the_backup_keeps_the_agent_out_of_it() {
    let (env, agent, daily) = daily_key_in_agent(&[]);
    let backup = backup(&env, b"opened by the file");
    // The agent is asked about the cert's key too, but only after the file.
    let cert = daily.cert.to_str().unwrap();
    let key = daily.key.to_str().unwrap();
    let args = ["decrypt", "--agent", "--key", cert, "--key", key];
    let run = run_with_stdin(with_agent(&env, &agent, &args), &backup).ok();
    assert_eq!(run.stdout, b"opened by the file");
    assert_eq!(agent.decryptions_asked(), 0, "the agent is not asked");
}

/// With no agent running, sealpipe starts it (as gpg does), and the agent
/// keeps no descriptor of sealpipe's: Amanda waits for EOF on sealpipe's
/// stderr, which a daemon holding it would never give.
#[test]
fn sealpipe_starts_the_agent_which_keeps_none_of_its_descriptors() {
    let (env, agent, _daily) = daily_key_in_agent(&[]);
    env.write("b.pgp", &backup(&env, b"the agent was not running"));
    assert!(agent.gpgconf(&["--kill", "gpg-agent"]), "gpgconf --kill");

    let status = with_agent(&env, &agent, &["decrypt", "--agent", "-o", "out", "b.pgp"])
        .stdin(Stdio::null())
        .stdout(fs::File::create(env.path("stdout")).unwrap())
        .stderr(fs::File::create(env.path("stderr")).unwrap())
        .status()
        .unwrap();
    let stderr = fs::read_to_string(env.path("stderr")).unwrap();
    assert!(status.success() && stderr.is_empty(), "{status}: {stderr}");
    assert_eq!(
        fs::read(env.path("out")).unwrap(),
        b"the agent was not running"
    );

    let mut c = Command::new("gpg-connect-agent");
    c.args(["--no-autostart", "GETINFO pid", "/bye"])
        .env("GNUPGHOME", agent.home());
    let answer = String::from_utf8(run_with_stdin(c, b"").stdout).unwrap();
    let pid = answer
        .lines()
        .find_map(|l| l.strip_prefix("D "))
        .unwrap_or_else(|| panic!("the agent runs again: {answer}"));
    for fd in fs::read_dir(format!("/proc/{pid}/fd")).unwrap().flatten() {
        let target = fs::read_link(fd.path()).unwrap_or_default();
        assert!(
            !target.starts_with(env.dir.path()) && !target.to_string_lossy().starts_with("pipe:"),
            "the agent holds {}: {}",
            fd.path().display(),
            target.display()
        );
    }
}
