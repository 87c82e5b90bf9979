//! The recipient policy (Amanda's rule: honour only a preconfigured set of
//! public keys). Turns the pinned recipients of a config, optionally narrowed
//! by `--recipient`, into the exact encryption keys to use, or refuses with
//! one reason per rejected recipient. Nothing here writes output: the plan is
//! complete before the first byte reaches stdout.

use std::time::SystemTime;

use openpgp::packet::key::{PublicParts, UnspecifiedRole};
use openpgp::packet::Key;
use openpgp::policy::{Policy, StandardPolicy};
use openpgp::types::{KeyFlags, PublicKeyAlgorithm, RevocationStatus};
use openpgp::Cert;
use sequoia_openpgp as openpgp;

use crate::config::{Config, PinnedRecipient};
use crate::error::{Error, Result};
use crate::keys;
use crate::time::format_utc;

/// RSA moduli below this are refused (NIST and BSI both retired 1024-bit RSA).
pub const MIN_RSA_BITS: usize = 2048;

/// A pinned recipient that passed every check, with the subkeys to encrypt to.
#[derive(Debug, Clone)]
pub struct ApprovedRecipient {
    pub name: String,
    pub required: bool,
    pub cert: Cert,
    /// Fingerprints of the valid encryption-capable (sub)keys of `cert`.
    pub encryption_keys: Vec<openpgp::Fingerprint>,
}

impl ApprovedRecipient {
    /// The public keys to wrap the session key for.
    pub fn keys(&self) -> impl Iterator<Item = &Key<PublicParts, UnspecifiedRole>> {
        self.cert
            .keys()
            .map(|ka| ka.key())
            .filter(|k| self.encryption_keys.contains(&k.fingerprint()))
    }
}

/// Pick the recipients for one encryption: all pinned ones, or the subset
/// named by `requested` (names or fingerprints). Fails closed on anything
/// unpinned, a missing required recipient, or any cert that is unusable.
pub fn select_recipients(
    config: &Config,
    requested: &[String],
    now: SystemTime,
) -> Result<Vec<ApprovedRecipient>> {
    let mut refusals = Vec::new();
    let mut chosen: Vec<&PinnedRecipient> = Vec::new();

    if config.recipients.is_empty() {
        refusals.push(format!(
            "no recipient is pinned in {}; add a [[recipient]] with name, fingerprint and cert",
            config.path.display()
        ));
    }
    if requested.is_empty() {
        chosen.extend(&config.recipients);
    } else {
        for wanted in requested {
            match config.recipient_by_name_or_fingerprint(wanted) {
                Some(r) if !chosen.iter().any(|c| c.name == r.name) => chosen.push(r),
                Some(_) => {}
                None => refusals.push(format!(
                    "recipient '{wanted}' is not pinned in {}; sealpipe encrypts only to pinned keys \
                     (add it there with its full fingerprint to allow it)",
                    config.path.display()
                )),
            }
        }
        for r in config.recipients.iter().filter(|r| r.required) {
            if !chosen.iter().any(|c| c.name == r.name) {
                refusals.push(format!(
                    "recipient '{}' is required (escrow) and cannot be left out; add --recipient {}",
                    r.name, r.name
                ));
            }
        }
    }

    let policy = StandardPolicy::new();
    let mut approved = Vec::new();
    for pin in chosen {
        match approve(pin, &policy, now) {
            Ok(a) => approved.push(a),
            Err(reason) => refusals.push(format!(
                "recipient '{}' ({}): {reason}",
                pin.name, pin.fingerprint
            )),
        }
    }
    if refusals.is_empty() {
        Ok(approved)
    } else {
        Err(Error::Policy { refusals })
    }
}

/// Check one pinned recipient's cert file against its pin and the policy.
fn approve(
    pin: &PinnedRecipient,
    policy: &dyn Policy,
    now: SystemTime,
) -> Result<ApprovedRecipient, String> {
    let cert = keys::load_cert(&pin.cert).map_err(|e| e.to_string())?;
    check_pin(pin, &cert).map_err(|e| e.to_string())?;
    let encryption_keys = check_cert(&cert, policy, now)?;
    Ok(ApprovedRecipient {
        name: pin.name.clone(),
        required: pin.required,
        cert,
        encryption_keys,
    })
}

/// The checks every recipient cert must pass at time `now`; returns the
/// fingerprints of the keys to encrypt to.
pub fn check_cert(
    cert: &Cert,
    policy: &dyn Policy,
    now: SystemTime,
) -> Result<Vec<openpgp::Fingerprint>, String> {
    if cert.primary_key().key().version() != 4 {
        return Err(format!(
            "is a v{} key; GnuPG 2.2 reads only v4 keys, so backups to it could not be restored with gpg",
            cert.primary_key().key().version()
        ));
    }
    for ka in cert.keys() {
        if let Some(reason) = weakness(ka.key()) {
            return Err(format!(
                "key {} is weak: {reason}; generate a new key (sealpipe keygen)",
                ka.key().fingerprint()
            ));
        }
    }
    if let RevocationStatus::Revoked(_) = cert.revocation_status(policy, now) {
        return Err("is revoked; remove it from the config and pin its replacement".into());
    }
    let valid = cert.with_policy(policy, now).map_err(|e| {
        format!(
            "is not valid at {} under the standard policy: {e}",
            format_utc(now)
        )
    })?;
    if let Err(e) = valid.alive() {
        let when = valid
            .primary_key()
            .key_expiration_time()
            .map(|t| format!(" on {}", format_utc(t)))
            .unwrap_or_default();
        return Err(format!(
            "expired{when} ({e}); extend its expiry with the owner's secret key or rotate to a new key"
        ));
    }
    let encryption_flags = KeyFlags::empty()
        .set_storage_encryption()
        .set_transport_encryption();
    let keys: Vec<_> = valid
        .keys()
        .key_flags(encryption_flags)
        .supported()
        .alive()
        .revoked(false)
        .map(|ka| ka.key().fingerprint())
        .collect();
    if keys.is_empty() {
        return Err(
            "has no valid encryption-capable subkey (all expired, revoked, or none marked for encryption)"
                .into(),
        );
    }
    Ok(keys)
}

/// Why a public key is too weak to protect a backup, if it is.
fn weakness(key: &Key<PublicParts, UnspecifiedRole>) -> Option<String> {
    #[allow(deprecated)]
    match key.pk_algo() {
        PublicKeyAlgorithm::RSAEncryptSign
        | PublicKeyAlgorithm::RSAEncrypt
        | PublicKeyAlgorithm::RSASign => match key.mpis().bits() {
            Some(bits) if bits < MIN_RSA_BITS => Some(format!(
                "RSA-{bits} is below the {MIN_RSA_BITS}-bit minimum"
            )),
            _ => None,
        },
        PublicKeyAlgorithm::ElGamalEncrypt
        | PublicKeyAlgorithm::ElGamalEncryptSign
        | PublicKeyAlgorithm::DSA => Some(format!("{} is a legacy algorithm", key.pk_algo())),
        _ => None,
    }
}

/// A pinned cert file that holds another key than its pin says.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "cert file {} holds key {actual}, not the pinned fingerprint; \
     the file was replaced or the pin is wrong: check both out of band",
    .cert.display()
)]
pub struct PinMismatch {
    pub cert: std::path::PathBuf,
    pub actual: String,
}

/// The pin check every command that reads the pinned certs makes (encrypt
/// and rekey through `approve`, inspect directly), so all refuse alike.
pub fn check_pin(pin: &PinnedRecipient, cert: &Cert) -> Result<(), PinMismatch> {
    let actual = cert.fingerprint().to_hex();
    match actual == pin.fingerprint {
        true => Ok(()),
        false => Err(PinMismatch {
            cert: pin.cert.clone(),
            actual,
        }),
    }
}

/// The cipher rule decrypt applies (the standard policy at `now`, and what
/// the crypto library supports), for rekey and inspect: neither may carry
/// a legacy cipher (3DES, CAST5, IDEA) forward or call it conforming.
pub fn check_cipher(
    cipher: openpgp::types::SymmetricAlgorithm,
    now: SystemTime,
) -> Result<(), crate::error::Damage> {
    use crate::error::Damage;
    if !cipher.is_supported() {
        return Err(Damage::UnsupportedCipher {
            cipher: cipher.to_string(),
        });
    }
    StandardPolicy::at(now)
        .symmetric_algorithm(cipher)
        .map_err(|_| Damage::LegacyCipher {
            cipher: cipher.to_string(),
        })
}
