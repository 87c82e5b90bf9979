//! Test kit: a temp dir per test with its own keys, config and GNUPGHOME,
//! driving the real `sealpipe` binary and the real `gpg`.
#![allow(dead_code)]

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use openpgp::parse::{PacketParser, PacketParserResult, Parse};
use openpgp::Packet;
use sealpipe::openpgp;

pub const BIN: &str = env!("CARGO_BIN_EXE_sealpipe");

/// Fixed "now" for policy checks (2026-06-01 00:00:00 UTC), so expiry tests
/// do not depend on the clock.
pub const NOW: u64 = 1_780_272_000;

pub struct TestEnv {
    pub dir: tempfile::TempDir,
}

impl Drop for TestEnv {
    /// gpg starts an agent per GNUPGHOME; stop it with its temp dir.
    fn drop(&mut self) {
        let home = self.path("gnupg");
        if home.join("S.gpg-agent").exists() {
            let _ = Command::new("gpgconf")
                .arg("--homedir")
                .arg(&home)
                .args(["--kill", "gpg-agent"])
                .status();
        }
    }
}

/// What one run of a command gave back.
pub struct Run {
    pub status: i32,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Run {
    fn from(out: Output) -> Run {
        Run {
            status: out.status.code().unwrap_or(-1),
            stdout: out.stdout,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
    /// Success: exit 0 and not one byte on stderr.
    #[track_caller]
    pub fn ok(self) -> Run {
        assert!(
            self.status == 0 && self.stderr.is_empty(),
            "expected silent success, got exit {} stderr: {}",
            self.status,
            self.stderr
        );
        self
    }
    /// Failure with exactly this exit code and a message containing `needle`.
    #[track_caller]
    pub fn fails(self, code: i32, needle: &str) -> Run {
        assert_eq!(self.status, code, "exit code; stderr: {}", self.stderr);
        assert!(
            self.stderr.contains(needle),
            "stderr should mention {needle:?}: {}",
            self.stderr
        );
        self
    }
}

/// One generated key pair inside a TestEnv.
#[derive(Clone)]
pub struct TestKey {
    pub name: String,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub fingerprint: String,
}

impl TestEnv {
    pub fn new() -> TestEnv {
        let dir = tempfile::Builder::new()
            .prefix("sealpipe-test")
            .tempdir()
            .unwrap();
        fs::create_dir(dir.path().join("gnupg")).unwrap();
        fs::set_permissions(dir.path().join("gnupg"), fs::Permissions::from_mode(0o700)).unwrap();
        TestEnv { dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.path(name);
        fs::write(&p, bytes).unwrap();
        p
    }

    /// A sealpipe command with the environment pinned: config, time.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args)
            .current_dir(self.dir.path())
            .env("SEALPIPE_CONFIG", self.path("sealpipe.toml"))
            .env("SEALPIPE_NOW", NOW.to_string())
            .env_remove("RUST_BACKTRACE");
        c
    }

    /// Run sealpipe with `stdin` as input.
    pub fn run(&self, args: &[&str], stdin: &[u8]) -> Run {
        run_with_stdin(self.cmd(args), stdin)
    }

    /// `sealpipe keygen` a fresh key named `name` (extra args appended).
    /// gpg checks expiry against the real clock, sealpipe against NOW: test
    /// keys do not expire unless a test asks, or they would stop working
    /// for gpg two years after NOW.
    pub fn keygen(&self, name: &str, extra: &[&str]) -> TestKey {
        let mut args = extra.to_vec();
        if !extra.contains(&"--expires") {
            args.extend(["--expires", "never"]);
        }
        self.keygen_printing(name, &args).0
    }

    /// `sealpipe keygen` with exactly these extra args; the key and the
    /// config lines keygen printed.
    pub fn keygen_printing(&self, name: &str, extra: &[&str]) -> (TestKey, String) {
        let cert = format!("{name}.cert.asc");
        let key = format!("{name}.key.asc");
        let mut args = vec![
            "keygen",
            "--name",
            name,
            "--cert-out",
            &cert,
            "--key-out",
            &key,
        ];
        args.extend_from_slice(extra);
        let out = self.run(&args, b"").ok();
        let snippet = String::from_utf8(out.stdout).unwrap();
        // A recipient's `fingerprint = "..."` line, or the bare line of an
        // allowed-signers file that `keygen --sign` prints.
        let fingerprint = snippet
            .lines()
            .find_map(|l| l.strip_prefix("fingerprint = \""))
            .map(|l| l.trim_end_matches('"').to_string())
            .or_else(|| {
                snippet
                    .lines()
                    .find(|l| l.len() == 40 && l.chars().all(|c| c.is_ascii_hexdigit()))
                    .map(str::to_string)
            })
            .expect("keygen prints the fingerprint");
        let key = TestKey {
            name: name.into(),
            cert: self.path(&cert),
            key: self.path(&key),
            fingerprint,
        };
        (key, snippet)
    }

    /// Write sealpipe.toml pinning `recipients` (the last `required` ones
    /// marked required) and listing `decrypt_keys`.
    pub fn config(
        &self,
        recipients: &[&TestKey],
        required: &[&TestKey],
        decrypt_keys: &[&TestKey],
    ) -> PathBuf {
        let mut text = String::new();
        for r in recipients {
            let req = required.iter().any(|q| q.name == r.name);
            text += &format!(
                "[[recipient]]\nname = \"{}\"\nfingerprint = \"{}\"\ncert = \"{}\"\nrequired = {req}\n\n",
                r.name,
                r.fingerprint,
                r.cert.file_name().unwrap().to_str().unwrap()
            );
        }
        let keys: Vec<String> = decrypt_keys
            .iter()
            .map(|k| format!("\"{}\"", k.key.file_name().unwrap().to_str().unwrap()))
            .collect();
        text += &format!("[decrypt]\nkeys = [{}]\n", keys.join(", "));
        self.write("sealpipe.toml", text.as_bytes())
    }

    /// The standard setup: a daily key and a required escrow key.
    pub fn daily_and_escrow(&self) -> (TestKey, TestKey) {
        let daily = self.keygen("daily", &[]);
        let escrow = self.keygen("escrow", &[]);
        self.config(&[&daily, &escrow], &[&escrow], &[&daily]);
        (daily, escrow)
    }

    /// gpg with this test's own GNUPGHOME.
    pub fn gpg(&self, args: &[&str], stdin: &[u8]) -> Run {
        let mut c = gpg_command(&self.path("gnupg"));
        c.args(args).current_dir(self.dir.path());
        run_with_stdin(c, stdin)
    }

    pub fn gpg_import(&self, file: &Path) {
        let r = self.gpg(&["--import", file.to_str().unwrap()], b"");
        assert_eq!(r.status, 0, "gpg --import: {}", r.stderr);
    }
}

/// The packets inside `backup` as `gpg -d --unwrap` gives them with this
/// test's GnuPG home (the forger's view of their own message), stepping
/// into a compressed packet when `into_compressed`.
pub fn unwrapped_packets(
    env: &TestEnv,
    backup: &[u8],
    into_compressed: bool,
) -> Vec<sealpipe::openpgp::Packet> {
    use sealpipe::openpgp::parse::{PacketParserBuilder, PacketParserResult, Parse};
    use sealpipe::openpgp::Packet;
    let out = env.gpg(&["-d", "--unwrap"], backup);
    assert_eq!(out.status, 0, "gpg --unwrap: {}", out.stderr);
    let mut packets = Vec::new();
    let mut ppr = PacketParserBuilder::from_bytes(&out.stdout)
        .unwrap()
        .buffer_unread_content()
        .build()
        .unwrap();
    while let PacketParserResult::Some(pp) = ppr {
        if into_compressed && matches!(pp.packet, Packet::CompressedData(_)) {
            ppr = pp.recurse().unwrap().1;
            continue;
        }
        let (packet, next) = pp.next().unwrap();
        packets.push(packet);
        ppr = next;
    }
    packets
}

/// gpg in batch, quiet, with no terminal and loopback pinentry, in the
/// GnuPG home `home`.
pub fn gpg_command(home: &Path) -> Command {
    let mut c = Command::new("gpg");
    c.env("GNUPGHOME", home).args([
        "--batch",
        "--quiet",
        "--no-tty",
        "--pinentry-mode",
        "loopback",
    ]);
    c
}

pub fn run_with_stdin(c: Command, stdin: &[u8]) -> Run {
    run_with_stdin_to(c, stdin, Stdio::piped())
}

/// Like `run_with_stdin`, with stdout going to `stdout` (e.g. /dev/full);
/// `Run::stdout` then holds only what a piped stdout captured.
pub fn run_with_stdin_to(c: Command, stdin: &[u8], stdout: Stdio) -> Run {
    run_fed(c, stdin, stdout, |input, data| {
        let _ = input.write_all(data);
    })
}

/// Like `run_with_stdin`, but stdin arrives as from a slow producer: small,
/// irregular pieces with pauses, so the reader sees short reads of a few
/// bytes (less than a cipher block) as well as large ones.
pub fn run_trickled(c: Command, stdin: &[u8]) -> Run {
    run_fed(c, stdin, Stdio::piped(), |input, data| {
        const SIZES: [usize; 8] = [1, 5, 16, 17, 3, 4096, 15, 65_537];
        let mut at = 0;
        for size in SIZES.iter().cycle() {
            if at >= data.len() {
                return;
            }
            let end = (at + size).min(data.len());
            if input.write_all(&data[at..end]).is_err() {
                return;
            }
            at = end;
            std::thread::sleep(std::time::Duration::from_micros(300));
        }
    })
}

fn run_fed(
    mut c: Command,
    stdin: &[u8],
    stdout: Stdio,
    feed: impl FnOnce(&mut std::process::ChildStdin, &[u8]) + Send + 'static,
) -> Run {
    let mut child = c
        .stdin(Stdio::piped())
        .stdout(stdout)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {c:?}: {e}"));
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    // Feed stdin from a thread so a process that stops reading cannot deadlock us.
    let feeder = std::thread::spawn(move || feed(&mut input, &data));
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    Run::from(out)
}

/// Pipe `bytes` through a shell command (e.g. `zstd -d`).
pub fn shell(cmd: &str, stdin: &[u8]) -> Run {
    let mut c = Command::new("sh");
    c.args(["-c", cmd]);
    run_with_stdin(c, stdin)
}

/// Deterministic pseudo-random bytes that compress somewhat, like a dump.
pub fn sample_data(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut row = 0u64;
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        row += 1;
        let line = format!(
            "INSERT INTO t VALUES ({row}, 'name-{}', {}, '{:016x}');\n",
            x % 1000,
            x % 97,
            x
        );
        out.extend_from_slice(line.as_bytes());
    }
    out.truncate(len);
    out
}

/// Pseudo-random bytes (not text, unlike `sample_data`): what zstd cannot
/// shrink, so the compressed stream is as long as the input.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Peak RSS in MiB of one run of the real binary (`/usr/bin/time`, not a
/// timing), reading `input` from a file on stdin.
pub fn peak_rss_mib(env: &TestEnv, args: &[&str], input: &[u8]) -> u64 {
    let file = env.write("rss-input", input);
    let rss = env.path("rss");
    let mut measured = Command::new("/usr/bin/time");
    measured
        .args(["-f", "%M", "-o", rss.to_str().unwrap(), BIN])
        .args(args)
        .stdin(fs::File::open(&file).unwrap())
        .stdout(Stdio::null())
        .current_dir(env.path(""))
        .env("SEALPIPE_CONFIG", env.path("sealpipe.toml"))
        .env("SEALPIPE_NOW", NOW.to_string());
    let status = measured.status().unwrap();
    assert!(
        status.success(),
        "sealpipe {args:?} failed under /usr/bin/time"
    );
    let kib: u64 = fs::read_to_string(&rss).unwrap().trim().parse().unwrap();
    kib / 1024
}

/// The recipients (key IDs, upper-case hex) of the PKESK packets, and the
/// tags of the top-level packets, parsed with sequoia.
pub fn message_shape(ciphertext: &[u8]) -> (Vec<String>, Vec<openpgp::packet::Tag>, Option<u8>) {
    let mut recipients = Vec::new();
    let mut tags = Vec::new();
    let mut seipd = None;
    let mut ppr = PacketParser::from_bytes(ciphertext).expect("parses as OpenPGP");
    while let PacketParserResult::Some(pp) = ppr {
        if pp.recursion_depth() == 0 {
            tags.push(pp.packet.tag());
        }
        match &pp.packet {
            Packet::PKESK(p) => recipients.push(p.recipient().expect("non-anonymous").to_hex()),
            Packet::SEIP(s) => seipd = Some(s.version()),
            _ => {}
        }
        ppr = pp.next().expect("well-formed").1;
    }
    (recipients, tags, seipd)
}

/// Key IDs (hex) of the encryption subkeys of a cert file.
pub fn encryption_keyids(cert: &Path) -> Vec<String> {
    let cert = openpgp::Cert::from_file(cert).unwrap();
    let p = openpgp::policy::StandardPolicy::new();
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(NOW);
    cert.with_policy(&p, t)
        .unwrap()
        .keys()
        .for_storage_encryption()
        .map(|k| k.key().keyid().to_hex())
        .collect()
}

/// `sealpipe encrypt -o OUT ...` started with a backup's first MiB on its
/// stdin, the rest still to come: returns once its output file is open in
/// `dir` (encryption is under way), stderr piped.
pub fn encrypt_under_way(
    env: &TestEnv,
    args: &[&str],
    dir: &Path,
) -> (std::process::Child, std::process::ChildStdin) {
    let mut child = env
        .cmd(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&sample_data(1 << 20)).unwrap();
    stdin.flush().unwrap();
    let started = (0..400).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(25));
        writing_output_in(child.id(), dir)
    });
    assert!(
        started,
        "encrypt never opened its output in {}",
        dir.display()
    );
    (child, stdin)
}

/// The names in `dir` that mark an unfinished output (`.sealpipe-*`).
pub fn partial_files_in(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with(".sealpipe-"))
        .collect()
}

/// Wait for `child` to end and collect its output, but kill it and fail
/// the test if it is still running after `limit`: a run that loops (a
/// regression in a retry loop, a wait on a clock problem) fails the suite
/// instead of hanging it.
#[track_caller]
pub fn wait_within(child: std::process::Child, limit: std::time::Duration) -> Output {
    let pid = child.id();
    let (done, outcome) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    match outcome.recv_timeout(limit) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("sealpipe (pid {pid}) still running after {limit:?}: killed");
        }
    }
}

/// Whether process `pid` has an output file open in `dir`: an unnamed one
/// (O_TMPFILE, shown as "#inode (deleted)") or a named `.sealpipe-*` temp file.
pub fn writing_output_in(pid: u32, dir: &Path) -> bool {
    let dir = dir.to_string_lossy().into_owned();
    fs::read_dir(format!("/proc/{pid}/fd"))
        .into_iter()
        .flatten()
        .flatten()
        .any(|fd| {
            fs::read_link(fd.path()).is_ok_and(|target| {
                let target = target.to_string_lossy();
                target.starts_with(&dir)
                    && (target.ends_with(" (deleted)") || target.contains(".sealpipe-"))
            })
        })
}

/// The permission bits of a file.
pub fn file_mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// The primary key of a cert with its secret, as a signer: for tests that
/// make their own signatures (a revocation, a binding, a forged backup).
pub fn primary_keypair(cert: &openpgp::Cert) -> openpgp::crypto::KeyPair {
    cert.primary_key()
        .key()
        .clone()
        .parts_into_secret()
        .expect("the cert holds the primary key's secret")
        .into_keypair()
        .expect("the primary key's secret is not encrypted")
}
