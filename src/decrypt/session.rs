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

use std::collections::HashMap;
use std::sync::Mutex;

use openpgp::crypto::SessionKey;
use openpgp::packet::key::{SecretParts, UnspecifiedRole};
use openpgp::packet::{Key, PKESK};
use openpgp::types::SymmetricAlgorithm;
use sequoia_openpgp as openpgp;

use super::OpenedBy;
use crate::error::{Damage, Error, Result};
use crate::keys::{SecretKey, SecretKeyring};

/// What unlocking a key gave: the usable key, or why not (kept as text:
/// it is reported again, never matched).
type Unlocked = std::result::Result<Key<SecretParts, UnspecifiedRole>, String>;

/// Decrypt-side key state for one run: the keyring and what unlocking its
/// keys gave, so no key is unlocked twice (the `--verify-first` passes
/// share one session).
pub struct Session<'k> {
    keyring: &'k SecretKeyring,
    /// Unlock outcome per key (index into the keyring): the unlocked key,
    /// or the error it gave.
    unlocked: Mutex<HashMap<usize, Unlocked>>,
    /// Passphrase derivations run (keys unlocked or tried), for the bound.
    unlocks: std::sync::atomic::AtomicUsize,
}

/// A session key unwrapped from a key packet, and the key that did it.
pub struct Chosen<'k> {
    /// The cipher, when the key packet names it (v3 PKESK).
    pub algo: Option<SymmetricAlgorithm>,
    pub session_key: SessionKey,
    pub by: &'k SecretKey,
    /// Whether `prefer` accepted it (e.g. the quick check passed). Not a
    /// verdict: a key that was not preferred is still handed to the reader.
    pub preferred: bool,
}

impl Chosen<'_> {
    pub fn opened_by(&self) -> OpenedBy {
        OpenedBy {
            key: self.by.key.fingerprint(),
            cert: self.by.cert_fingerprint.clone(),
            source: self.by.source.clone(),
        }
    }
}

impl<'k> Session<'k> {
    pub fn new(keyring: &'k SecretKeyring) -> Self {
        Session {
            keyring,
            unlocked: Mutex::new(HashMap::new()),
            unlocks: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// How many times a key was unlocked (or tried) so far, each at most
    /// one passphrase derivation: never more than the keyring has keys.
    pub fn unlocks(&self) -> usize {
        self.unlocks.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<usize, Unlocked>> {
        self.unlocked.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The unlocked key at `index`, unlocking it on first use only.
    fn unlocked(
        &self,
        index: usize,
    ) -> std::result::Result<Key<SecretParts, UnspecifiedRole>, Error> {
        let mut cache = self.lock();
        let outcome = cache.entry(index).or_insert_with(|| {
            self.unlocks
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.keyring
                .unlock(&self.keyring.keys[index])
                .map_err(|e| e.to_string())
        });
        outcome.clone().map_err(Error::Key)
    }

    /// Unwrap the session key from `pkesks` with the keyring's
    /// encryption-capable keys. The first session key `prefer` accepts
    /// wins; if it accepts none, the first one unwrapped is chosen anyway
    /// and the reader's integrity check decides.
    pub fn choose(
        &self,
        pkesks: &[PKESK],
        sym_algo: Option<SymmetricAlgorithm>,
        mut prefer: impl FnMut(Option<SymmetricAlgorithm>, &SessionKey) -> bool,
    ) -> Result<Chosen<'k>> {
        let mut unlock_error = None;
        let mut first_unwrapped: Option<Chosen<'k>> = None;
        let mut addressed_but_undecryptable = None;
        for pkesk in pkesks {
            let recipient = pkesk.recipient();
            for (index, candidate) in self.keyring.keys.iter().enumerate() {
                let addressed = match &recipient {
                    Some(handle) => {
                        handle.aliases(openpgp::KeyHandle::from(candidate.key.fingerprint()))
                    }
                    None => true,
                };
                if !addressed || !candidate.for_encryption {
                    continue;
                }
                let key = match self.unlocked(index) {
                    Ok(key) => key,
                    Err(e) => {
                        unlock_error.get_or_insert(e);
                        continue;
                    }
                };
                let Ok(mut keypair) = key.into_keypair() else {
                    continue;
                };
                match pkesk.decrypt(&mut keypair, sym_algo) {
                    Some((algo, session_key)) => {
                        let preferred = prefer(algo, &session_key);
                        let chosen = Chosen {
                            algo,
                            session_key,
                            by: candidate,
                            preferred,
                        };
                        if preferred {
                            return Ok(chosen);
                        }
                        first_unwrapped.get_or_insert(chosen);
                    }
                    // Addressed to this very key, yet it does not decrypt.
                    None if recipient.is_some() => {
                        addressed_but_undecryptable.get_or_insert(candidate);
                    }
                    None => {}
                }
            }
        }
        if let Some(chosen) = first_unwrapped {
            return Ok(chosen);
        }
        if let Some(key) = addressed_but_undecryptable {
            return Err(Damage::KeyPacket {
                key: key.key.fingerprint().to_hex(),
            }
            .into());
        }
        if let Some(e) = unlock_error {
            return Err(e);
        }
        Err(no_key_opens(self.keyring, pkesks))
    }
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
    Error::Key(format!(
        "no given secret key opens this backup: it is encrypted to key IDs [{}], the secret keys given are [{}]; \
         pass the matching key with --key (old keys too, after a rotation)",
        wanted.join(", "),
        have.join(", ")
    ))
}
