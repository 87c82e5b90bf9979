//! A key service through a command (`--session-key-command`,
//! `[decrypt] session_key_command`): the secret key stays wherever the
//! command keeps it (Vault, a KMS, an HSM, gpg-agent). sealpipe writes the
//! backup's public-key key packets (binary PKESKs) to the command's stdin
//! and reads the session key from its stdout in the SOP form `ALGO:HEX`.
//!
//! No shell: the command is split into words as a POSIX shell splits them
//! (quotes, backslashes), with no expansion, no pipes and no variables;
//! whoever wants a shell writes `sh -c '...'`. Bounded: the answer is read
//! up to [`MAX_ANSWER`] bytes and the command must answer and exit within
//! [`TIME_LIMIT`], or it is killed. Its stderr is passed through: it is the
//! command's own word on what went wrong (docs/keys.md).

use std::io::{Read, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::str::FromStr;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde::Deserialize;
use zeroize::Zeroizing;

use crate::decrypt::session::SopSessionKey;
use crate::error::{Error, Result};

/// The most bytes of answer read: `9:` and 64 hex digits need 67.
pub const MAX_ANSWER: usize = 4096;

/// How long the command may take to answer and exit. Room for a person to
/// touch a token or type a PIN; a command that hangs is killed.
pub const TIME_LIMIT: Duration = Duration::from_secs(120);

/// Environment variable that shortens [`TIME_LIMIT`] (whole seconds), so
/// the test suite can push against the limit without waiting two minutes.
/// Honoured only by builds with the `test-clock` feature, as
/// [`crate::time::NOW_ENV`] is: a release binary always allows 120 s.
pub const TIME_LIMIT_ENV: &str = "SEALPIPE_KEY_SERVICE_SECONDS";

/// The limit in force: [`TIME_LIMIT`], or in a test build the one
/// [`TIME_LIMIT_ENV`] sets.
fn time_limit() -> Duration {
    std::env::var(TIME_LIMIT_ENV)
        .ok()
        .filter(|_| crate::time::CLOCK_IS_PINNABLE)
        .and_then(|s| s.trim().parse().ok())
        .map_or(TIME_LIMIT, Duration::from_secs)
}

/// A command that answers key packets with a session key, split into words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionKeyCommand {
    words: Vec<String>,
    /// As the user wrote it, for messages.
    text: String,
}

impl FromStr for SessionKeyCommand {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Self, Self::Err> {
        let words = shlex::split(text).ok_or_else(|| {
            format!(
                "the session key command `{text}` has an unclosed quote or a trailing backslash"
            )
        })?;
        if words.is_empty() {
            return Err("the session key command is empty; give the program to run".into());
        }
        Ok(SessionKeyCommand {
            words,
            text: text.to_string(),
        })
    }
}

impl<'de> Deserialize<'de> for SessionKeyCommand {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl SessionKeyCommand {
    /// Run the command with `key_packets` on its stdin and read the
    /// session key it prints. Every failure is a key error (exit 5).
    pub fn ask(&self, key_packets: &[u8]) -> Result<SopSessionKey> {
        let mut child = Command::new(&self.words[0])
            .args(&self.words[1..])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| self.refused(format!("cannot be started ({e})")))?;
        let limit = time_limit();
        let deadline = Instant::now() + limit;
        let (Some(mut stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(Error::Internal(
                "the command's pipes were not set up".into(),
            ));
        };
        // A command may answer without reading all of its input (or fail
        // first): a write error here is not the verdict, its answer is.
        let packets = key_packets.to_vec();
        std::thread::spawn(move || {
            let _ = stdin.write_all(&packets);
        });
        let (sender, answered) = mpsc::channel();
        std::thread::spawn(move || {
            let mut answer = Zeroizing::new(Vec::with_capacity(MAX_ANSWER + 1));
            let read = stdout
                .take(MAX_ANSWER as u64 + 1)
                .read_to_end(&mut answer)
                .map(|_| answer);
            let _ = sender.send(read);
        });
        let answer = match answered.recv_timeout(limit) {
            Ok(Ok(answer)) if answer.len() <= MAX_ANSWER => answer,
            Ok(Ok(_)) => {
                stop(&mut child);
                return Err(self.refused(format!(
                    "printed more than {MAX_ANSWER} bytes; it must print only the session key \
                     as ALGO:HEX"
                )));
            }
            Ok(Err(e)) => {
                stop(&mut child);
                return Err(self.refused(format!("could not be read from ({e})")));
            }
            Err(_) => {
                stop(&mut child);
                return Err(self.timed_out(limit));
            }
        };
        let status = self.wait(&mut child, deadline, limit)?;
        if !status.success() {
            return Err(self.refused(format!(
                "failed ({status}); its own message, if any, is above"
            )));
        }
        SopSessionKey::parse(&answer).map_err(|why| {
            self.refused(format!(
                "answered something that is not a session key ({why}); it must print the \
                 session key as ALGO:HEX, e.g. 9:3F2A... for AES-256, as `gpg \
                 --show-session-key` and SOP write it"
            ))
        })
    }

    /// Wait for the command to exit, at most until `deadline` (the end of
    /// its `limit`).
    fn wait(&self, child: &mut Child, deadline: Instant, limit: Duration) -> Result<ExitStatus> {
        loop {
            match child.try_wait() {
                Ok(Some(status)) => return Ok(status),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                Ok(None) => {
                    stop(child);
                    return Err(self.timed_out(limit));
                }
                Err(e) => return Err(self.refused(format!("could not be waited for ({e})"))),
            }
        }
    }

    fn timed_out(&self, limit: Duration) -> Error {
        self.refused(format!(
            "did not answer and exit within {} seconds and was killed",
            limit.as_secs()
        ))
    }

    fn refused(&self, what: String) -> Error {
        Error::Key(format!(
            "the session key command `{}` {what}; no session key, nothing decrypted",
            self.text
        ))
    }
}

/// Kill the command and reap it.
fn stop(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}
