//! The one place that chooses the session key of a message, for every
//! reader (fast, stock) and for rekey.
//!
//! Rules, each against an attack:
//! - Only encryption-capable secret keys are tried; a certification-only
//!   primary key never is.
//! - Each key is unlocked (its passphrase derivation, S2K, run) at most once
//!   per [`Session`], and a failed unlock is remembered too: 300 junk key
//!   packets addressed to the daily key cost one S2K run, not 300.
//! - The quick check (the repeated two bytes of the SEIPDv1 prefix) never
//!   decides anything: a damaged first block would otherwise give an early,
//!   distinct error, an oracle that leaks plaintext (Mister–Zuccherato). It
//!   only *prefers* among several unwrapped session keys; the MDC at the end
//!   of the whole body is the one verdict.
//! - A key held by gpg-agent (`--agent`) is asked for after the key files,
//!   and at most once per run: the agent's answer (or refusal) is kept, so
//!   junk key packets cannot make it prompt again or drive a card.
//! - A session key given from outside (a key service, a session key file:
//!   [`GivenSessionKey`]) is chosen here too, and meets the same readers
//!   and the same verdict: a wrong one is an integrity failure, never
//!   plaintext.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Mutex;

use openpgp::crypto::SessionKey;
use openpgp::packet::key::{SecretParts, UnspecifiedRole};
use openpgp::packet::{Key, PKESK};
use openpgp::serialize::MarshalInto;
use openpgp::types::SymmetricAlgorithm;
use sequoia_openpgp as openpgp;
use zeroize::Zeroizing;

use super::OpenedBy;
use crate::error::{Damage, Error, Result};
use crate::keys::agent::{AgentAnswer, AgentKey, AgentKeys};
use crate::keys::service::SessionKeyCommand;
use crate::keys::{SecretKey, SecretKeyring};

/// What unlocking a key gave: the usable key, or why not (kept as text:
/// it is reported again, never matched).
type Unlocked = std::result::Result<Key<SecretParts, UnspecifiedRole>, String>;

/// Decrypt-side key state for one run: where session keys come from, what
/// unlocking the keyring's keys gave (so no key is unlocked twice: the
/// `--verify-first` passes share one session) and the key last chosen.
pub struct Session<'k> {
    source: Source<'k>,
    /// Unlock outcome per key (index into the keyring): the unlocked key,
    /// or the error it gave.
    unlocked: Mutex<HashMap<usize, Unlocked>>,
    /// What gpg-agent answered per agent key (index into the agent's
    /// keys), with the key packet it was asked about.
    asked: Mutex<HashMap<usize, (PKESK, AgentAnswer)>>,
    /// Passphrase derivations run (keys unlocked or tried) and requests to
    /// gpg-agent, for the bound.
    unlocks: std::sync::atomic::AtomicUsize,
    /// The session key last chosen, for `verify --print-session-key`.
    chosen: Mutex<Option<SopSessionKey>>,
}

/// Where a session's session keys come from.
enum Source<'k> {
    /// Unwrapped from the key packets with these secret keys.
    Keyring(&'k SecretKeyring),
    /// Given from outside, already chosen (as sq's `--session-key`); the
    /// answer is kept, so a key service is asked once per run.
    Given {
        given: GivenSessionKey,
        answer: Mutex<Option<SopSessionKey>>,
    },
}

/// A session key from outside the keyring: no secret key is needed.
#[derive(Clone)]
pub enum GivenSessionKey {
    /// Read before the run (`--session-key-file`).
    Key(SopSessionKey),
    /// Asked of a key service with the message's key packets
    /// (`--session-key-command`, `[decrypt] session_key_command`).
    Command(SessionKeyCommand),
}

/// A session key with its cipher, in the form SOP and `gpg
/// --show-session-key` write: `ALGO:HEX` (e.g. `9:` and 64 hex digits for
/// AES-256). A secret: its text is wiped when dropped.
#[derive(Clone)]
pub struct SopSessionKey {
    pub algo: SymmetricAlgorithm,
    pub key: SessionKey,
}

impl SopSessionKey {
    /// Parse `ALGO:HEX`, one line (a final line ending and surrounding
    /// whitespace allowed). The reason for a refusal never quotes the text.
    pub fn parse(text: &[u8]) -> std::result::Result<SopSessionKey, &'static str> {
        let text = text.trim_ascii();
        let (algo, hex) = text
            .iter()
            .position(|&b| b == b':')
            .map(|at| (&text[..at], &text[at + 1..]))
            .ok_or("no ':' between the cipher number and the key")?;
        if algo.is_empty() || algo.len() > 3 || !algo.iter().all(u8::is_ascii_digit) {
            return Err("the cipher is not a number (9 is AES-256)");
        }
        let number: u8 = std::str::from_utf8(algo)
            .ok()
            .and_then(|n| n.parse().ok())
            .ok_or("the cipher number is out of range")?;
        let algo = SymmetricAlgorithm::from(number);
        let size = match algo {
            SymmetricAlgorithm::Unencrypted => Err("cipher 0 means unencrypted"),
            _ => algo
                .key_size()
                .map_err(|_| "the cipher number is not a cipher OpenPGP knows"),
        }?;
        if hex.len() != 2 * size {
            return Err("the key is not as long as the cipher's keys");
        }
        let mut key = Zeroizing::new(Vec::with_capacity(size));
        for pair in hex.chunks(2) {
            let digit = |b: u8| (b as char).to_digit(16);
            match (digit(pair[0]), digit(pair[1])) {
                (Some(high), Some(low)) => key.push((high * 16 + low) as u8),
                _ => return Err("the key is not hexadecimal"),
            }
        }
        Ok(SopSessionKey {
            algo,
            key: SessionKey::from(&key[..]),
        })
    }

    /// The key as `ALGO:HEX` (upper-case hex, as gpg prints it).
    pub fn to_text(&self) -> Zeroizing<String> {
        let mut text = Zeroizing::new(String::with_capacity(4 + 2 * self.key.len()));
        let _ = write!(text, "{}:", u8::from(self.algo));
        for b in self.key.iter() {
            let _ = write!(text, "{b:02X}");
        }
        text
    }
}

/// A session key unwrapped from a key packet, and the key that did it.
pub struct Chosen {
    /// The cipher, when the key packet names it (v3 PKESK).
    pub algo: Option<SymmetricAlgorithm>,
    pub session_key: SessionKey,
    /// The key that unwrapped it; `None` for a given session key.
    pub by: Option<OpenedBy>,
    /// Whether `prefer` accepted it (e.g. the quick check passed). Not a
    /// verdict: a key that was not preferred is still handed to the reader.
    pub preferred: bool,
}

impl Chosen {
    pub fn opened_by(&self) -> Option<OpenedBy> {
        self.by.clone()
    }
}

fn opened_by_file(key: &SecretKey) -> OpenedBy {
    OpenedBy {
        key: key.key.fingerprint(),
        cert: key.cert_fingerprint.clone(),
        source: key.source.clone(),
    }
}

fn opened_by_agent(key: &AgentKey) -> OpenedBy {
    OpenedBy {
        key: key.key.fingerprint(),
        cert: key.cert_fingerprint.clone(),
        source: format!("gpg-agent, cert {}", key.source.display()).into(),
    }
}

/// Whether a key packet for `recipient` (`None`: anonymous, for anyone) is
/// addressed to the key `fingerprint`.
fn addressed(recipient: &Option<openpgp::KeyHandle>, fingerprint: openpgp::Fingerprint) -> bool {
    match recipient {
        Some(handle) => handle.aliases(openpgp::KeyHandle::from(fingerprint)),
        None => true,
    }
}

impl<'k> Session<'k> {
    pub fn new(keyring: &'k SecretKeyring) -> Self {
        Session::from_source(Source::Keyring(keyring))
    }

    /// A session whose session key is given, not unwrapped.
    pub fn given(given: GivenSessionKey) -> Self {
        Session::from_source(Source::Given {
            given,
            answer: Mutex::new(None),
        })
    }

    fn from_source(source: Source<'k>) -> Self {
        Session {
            source,
            unlocked: Mutex::new(HashMap::new()),
            asked: Mutex::new(HashMap::new()),
            unlocks: std::sync::atomic::AtomicUsize::new(0),
            chosen: Mutex::new(None),
        }
    }

    /// Whether the session key is given from outside, not unwrapped.
    pub fn is_given(&self) -> bool {
        matches!(self.source, Source::Given { .. })
    }

    /// The session key chosen last (the one that opened the message, once
    /// a decrypt returned Ok), with its cipher.
    pub fn chosen(&self) -> Option<SopSessionKey> {
        self.chosen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// How many times a key was unlocked (or tried) so far, each at most
    /// one passphrase derivation, or gpg-agent asked: never more than the
    /// keyring has keys (files and agent keys).
    pub fn unlocks(&self) -> usize {
        self.unlocks.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<usize, Unlocked>> {
        self.unlocked.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The unlocked key at `index`, unlocking it on first use only.
    fn unlocked(
        &self,
        keyring: &SecretKeyring,
        index: usize,
    ) -> std::result::Result<Key<SecretParts, UnspecifiedRole>, Error> {
        let mut cache = self.lock();
        let outcome = cache.entry(index).or_insert_with(|| {
            self.unlocks
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            keyring
                .unlock(&keyring.keys[index])
                .map_err(|e| e.to_string())
        });
        outcome.clone().map_err(Error::Key)
    }

    /// Choose the session key for a message with these key packets: the
    /// given one, or one unwrapped with the keyring's encryption-capable
    /// keys. Among unwrapped ones, the first `prefer` accepts wins; if it
    /// accepts none, the first one unwrapped is chosen anyway. Either way
    /// the reader's integrity check decides.
    pub fn choose(
        &self,
        pkesks: &[PKESK],
        sym_algo: Option<SymmetricAlgorithm>,
        mut prefer: impl FnMut(Option<SymmetricAlgorithm>, &SessionKey) -> bool,
    ) -> Result<Chosen> {
        let chosen = match &self.source {
            Source::Keyring(keyring) => self.unwrap_with(keyring, pkesks, sym_algo, prefer)?,
            Source::Given { given, answer } => {
                let mut answer = answer.lock().unwrap_or_else(|e| e.into_inner());
                let key = match (&*answer, given) {
                    (Some(key), _) => key.clone(),
                    (None, GivenSessionKey::Key(key)) => key.clone(),
                    (None, GivenSessionKey::Command(command)) => {
                        command.ask(&serialize(pkesks)?)?
                    }
                };
                *answer = Some(key.clone());
                Chosen {
                    algo: Some(key.algo),
                    preferred: prefer(Some(key.algo), &key.key),
                    session_key: key.key,
                    by: None,
                }
            }
        };
        if let Some(algo) = chosen.algo.or(sym_algo) {
            *self.chosen.lock().unwrap_or_else(|e| e.into_inner()) = Some(SopSessionKey {
                algo,
                key: chosen.session_key.clone(),
            });
        }
        Ok(chosen)
    }

    fn unwrap_with(
        &self,
        keyring: &'k SecretKeyring,
        pkesks: &[PKESK],
        sym_algo: Option<SymmetricAlgorithm>,
        mut prefer: impl FnMut(Option<SymmetricAlgorithm>, &SessionKey) -> bool,
    ) -> Result<Chosen> {
        let mut unlock_error = None;
        let mut first_unwrapped: Option<Chosen> = None;
        let mut addressed_but_undecryptable = None;
        // What one key made of one key packet: the chosen key if `prefer`
        // accepts it; otherwise it is remembered for the verdict below.
        let mut settle = |unwrapped: Result<Option<(Option<SymmetricAlgorithm>, SessionKey)>>,
                          named: bool,
                          by: OpenedBy| {
            match unwrapped {
                Ok(Some((algo, session_key))) => {
                    let preferred = prefer(algo, &session_key);
                    let chosen = Chosen {
                        algo,
                        session_key,
                        by: Some(by),
                        preferred,
                    };
                    if preferred {
                        return Some(chosen);
                    }
                    first_unwrapped.get_or_insert(chosen);
                }
                // Addressed to this very key, yet it does not decrypt.
                Ok(None) if named => {
                    addressed_but_undecryptable.get_or_insert(by.key);
                }
                Ok(None) => {}
                Err(e) => {
                    unlock_error.get_or_insert(e);
                }
            }
            None
        };
        for pkesk in pkesks {
            let recipient = pkesk.recipient();
            for (index, candidate) in keyring.keys.iter().enumerate() {
                if !addressed(&recipient, candidate.key.fingerprint()) || !candidate.for_encryption
                {
                    continue;
                }
                let unwrapped = match self.unlocked(keyring, index) {
                    Ok(key) => match key.into_keypair() {
                        Ok(mut keypair) => Ok(pkesk.decrypt(&mut keypair, sym_algo)),
                        Err(_) => continue,
                    },
                    Err(e) => Err(e),
                };
                let by = opened_by_file(candidate);
                if let Some(chosen) = settle(unwrapped, recipient.is_some(), by) {
                    return Ok(chosen);
                }
            }
        }
        // Then the keys gpg-agent holds: after the files, so a backup that a
        // key file opens never makes the agent prompt or drive a card.
        if let Some(agent) = &keyring.agent {
            for pkesk in pkesks {
                let recipient = pkesk.recipient();
                for (index, candidate) in agent.keys.iter().enumerate() {
                    if !addressed(&recipient, candidate.key.fingerprint()) {
                        continue;
                    }
                    let unwrapped = self.ask_agent(agent, index, pkesk, sym_algo);
                    let by = opened_by_agent(candidate);
                    if let Some(chosen) =
                        settle(unwrapped.map_err(Error::Key), recipient.is_some(), by)
                    {
                        return Ok(chosen);
                    }
                }
            }
        }
        if let Some(chosen) = first_unwrapped {
            return Ok(chosen);
        }
        if let Some(key) = addressed_but_undecryptable {
            return Err(Damage::KeyPacket { key: key.to_hex() }.into());
        }
        if let Some(e) = unlock_error {
            return Err(e);
        }
        Err(no_key_opens(keyring, pkesks))
    }
}

impl Session<'_> {
    /// gpg-agent's answer for key `index` and `pkesk`: asked once per key
    /// per run. A second key packet for the same key is not asked about (a
    /// message sealpipe or gpg writes has one per key): it counts as one
    /// the key does not open, and a refusal stays a refusal.
    fn ask_agent(
        &self,
        agent: &AgentKeys,
        index: usize,
        pkesk: &PKESK,
        sym_algo: Option<SymmetricAlgorithm>,
    ) -> AgentAnswer {
        let mut asked = self.asked.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((asked_about, answer)) = asked.get(&index) {
            return match answer {
                Ok(_) if asked_about != pkesk => Ok(None),
                answer => answer.clone(),
            };
        }
        self.unlocks
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let answer = agent.unwrap_session_key(&agent.keys[index], pkesk, sym_algo);
        asked.insert(index, (pkesk.clone(), answer.clone()));
        answer
    }
}

/// The public-key key packets as a key service reads them: binary
/// OpenPGP packets, one after another.
fn serialize(pkesks: &[PKESK]) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    for pkesk in pkesks {
        let packet = openpgp::Packet::from(pkesk.clone())
            .to_vec()
            .map_err(|e| Error::Internal(format!("re-serializing a key packet: {e}")))?;
        bytes.extend_from_slice(&packet);
    }
    Ok(bytes)
}

fn no_key_opens(keyring: &SecretKeyring, pkesks: &[PKESK]) -> Error {
    if pkesks.is_empty() {
        return Error::Key(
            "the backup has no public-key key packets: it is passphrase-encrypted (gpg -c) or \
             damaged; sealpipe decrypts public-key backups only, restore this one with gpg"
                .into(),
        );
    }
    let wanted: Vec<String> = pkesks
        .iter()
        .map(|p| match p.recipient() {
            Some(h) => h.to_hex(),
            None => "anonymous".into(),
        })
        .collect();
    let have: Vec<String> = keyring.keys.iter().map(|k| k.keyid().to_hex()).collect();
    let agent = match &keyring.agent {
        Some(agent) => {
            let asked: Vec<String> = agent.keys.iter().map(|k| k.key.keyid().to_hex()).collect();
            format!(
                ", the keys asked of the {} are [{}]",
                agent.name(),
                asked.join(", ")
            )
        }
        None => String::new(),
    };
    Error::Key(format!(
        "no given secret key opens this backup: it is encrypted to key IDs [{}], the secret keys given are [{}]{agent}; \
         pass the matching key with --key (old keys too, after a rotation)",
        wanted.join(", "),
        have.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sop_session_keys_parse_and_print_as_gpg_does() {
        let text = format!("9:{}", "3f".repeat(32));
        for form in [text.clone(), format!("{text}\n"), format!("  {text}\r\n")] {
            let key = SopSessionKey::parse(form.as_bytes()).unwrap();
            assert_eq!(key.algo, SymmetricAlgorithm::AES256);
            assert_eq!(*key.to_text(), text.to_uppercase());
        }
        let aes128 = SopSessionKey::parse(format!("7:{}", "00".repeat(16)).as_bytes()).unwrap();
        assert_eq!(aes128.algo, SymmetricAlgorithm::AES128);
        // Each refusal says what is wrong (the user sees it).
        for (bad, why) in [
            ("", "no ':'"),
            ("9", "no ':'"),
            (":ABCD", "not a number"),
            ("1000:00", "not a number"),
            ("0:", "unencrypted"),
            ("256:00", "out of range"),
            ("9:ABC", "not as long"),
            (&format!("9:{}", "00".repeat(16)), "not as long"),
            (
                &format!("9:{}\n9:{}", "00".repeat(32), "00".repeat(32)),
                "not as long",
            ),
            (&format!("+9:{}", "00".repeat(32)), "not a number"),
            (&format!("9:{}g", "0".repeat(63)), "not hexadecimal"),
        ] {
            let refused = SopSessionKey::parse(bad.as_bytes()).err();
            assert!(
                refused.is_some_and(|r| r.contains(why)),
                "{bad:?}: {refused:?}"
            );
        }
    }
}
