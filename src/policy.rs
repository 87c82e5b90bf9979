//! The recipient policy (Amanda's rule: honour only a preconfigured set of
//! public keys). Turns the pinned recipients of a config, optionally narrowed
//! by `--recipient`, into the exact encryption keys to use, or refuses with
//! one reason per rejected recipient. Nothing here writes output: the plan is
//! complete before the first byte reaches stdout.

use std::fmt;
use std::path::PathBuf;
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
use crate::keys::files::FileError;
use crate::time::format_utc;

/// RSA moduli below this are refused (NIST and BSI both retired 1024-bit RSA).
pub const MIN_RSA_BITS: usize = 2048;

/// Why encryption is refused: one variant per cause, each with its fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    #[error(
        "no recipient is pinned in {}; add a [[recipient]] with name, fingerprint and cert",
        .config.display()
    )]
    NothingPinned { config: PathBuf },
    #[error(
        "recipient '{wanted}' is not pinned in {}; sealpipe encrypts only to pinned keys \
         (add it there with its full fingerprint to allow it)",
        .config.display()
    )]
    NotPinned { wanted: String, config: PathBuf },
    #[error(
        "recipient '{name}' is required (escrow) and cannot be left out; add --recipient {name}"
    )]
    RequiredLeftOut { name: String },
    #[error("recipient '{name}' ({fingerprint}): {problem}")]
    Recipient {
        name: String,
        fingerprint: String,
        problem: CertProblem,
    },
    /// The key `[sign] key` or `--sign-key` names cannot sign now.
    #[error("signing key {} ({fingerprint}): {problem}", .path.display())]
    Signer {
        path: PathBuf,
        fingerprint: String,
        problem: CertProblem,
    },
}

impl Refusal {
    /// All refusals on one line (backup systems keep the first line of stderr).
    pub fn join(refusals: &[Refusal]) -> String {
        refusals
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// What is wrong with a pinned recipient's cert.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CertProblem {
    /// The cert file is missing, unsafe, not OpenPGP or a secret key.
    #[error("{0}")]
    File(FileError),
    #[error(
        "cert file {} holds key {actual}, not the pinned fingerprint; \
         the file was replaced or the pin is wrong: check both out of band",
        .path.display()
    )]
    PinMismatch { path: PathBuf, actual: String },
    #[error("is a v{0} key; GnuPG 2.2 reads only v4 keys, so backups to it could not be restored with gpg")]
    NotV4(u8),
    #[error("key {key} is weak: {weakness}; generate a new key (sealpipe keygen)")]
    Weak {
        key: openpgp::Fingerprint,
        weakness: Weakness,
    },
    #[error("is revoked; remove it from the config and pin its replacement")]
    Revoked,
    #[error("is not valid at {} under the standard policy: {reason}", format_utc(*.at))]
    NotValid { at: SystemTime, reason: String },
    #[error(
        "expired{} ({reason}); extend its expiry with the owner's secret key or rotate to a new key",
        .on.map(|t| format!(" on {}", format_utc(t))).unwrap_or_default()
    )]
    Expired {
        on: Option<SystemTime>,
        reason: String,
    },
    /// A signing-only algorithm flagged for encryption: a malformed cert.
    #[error(
        "key {key} is flagged for encryption, but {algo} is a signing algorithm and cannot \
         encrypt; the cert is malformed: generate a new key (sealpipe keygen)"
    )]
    CannotEncrypt {
        key: openpgp::Fingerprint,
        algo: PublicKeyAlgorithm,
    },
    #[error(
        "has no valid encryption-capable subkey (all expired, revoked, or none marked for encryption)"
    )]
    NoEncryptionKey,
    #[error(
        "has no valid signing-capable key with its secret in the file (all expired, revoked, \
         or none marked for signing); make one with sealpipe keygen --sign"
    )]
    NoSigningKey,
}

/// Why a public key is too weak to protect a backup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Weakness {
    ShortRsa { bits: usize },
    Legacy(PublicKeyAlgorithm),
}

impl fmt::Display for Weakness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Weakness::ShortRsa { bits } => {
                write!(f, "RSA-{bits} is below the {MIN_RSA_BITS}-bit minimum")
            }
            Weakness::Legacy(algo) => write!(f, "{algo} is a legacy algorithm"),
        }
    }
}

/// The standard policy as it stands at `now`: algorithm cut-offs judged at
/// the same time as expiry and revocation.
pub fn standard_at(now: SystemTime) -> StandardPolicy<'static> {
    StandardPolicy::at(now)
}

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
        refusals.push(Refusal::NothingPinned {
            config: config.path.clone(),
        });
    }
    if requested.is_empty() {
        chosen.extend(&config.recipients);
    } else {
        for wanted in requested {
            match config.recipient_by_name_or_fingerprint(wanted) {
                Some(r) if !chosen.iter().any(|c| c.name == r.name) => chosen.push(r),
                Some(_) => {}
                None => refusals.push(Refusal::NotPinned {
                    wanted: wanted.clone(),
                    config: config.path.clone(),
                }),
            }
        }
        for r in config.recipients.iter().filter(|r| r.required) {
            if !chosen.iter().any(|c| c.name == r.name) {
                refusals.push(Refusal::RequiredLeftOut {
                    name: r.name.clone(),
                });
            }
        }
    }

    let policy = standard_at(now);
    let mut approved = Vec::new();
    for pin in chosen {
        match approve(pin, &policy, now) {
            Ok(a) => approved.push(a),
            Err(problem) => refusals.push(Refusal::Recipient {
                name: pin.name.clone(),
                fingerprint: pin.fingerprint.clone(),
                problem,
            }),
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
) -> Result<ApprovedRecipient, CertProblem> {
    let cert = keys::load_cert(&pin.cert).map_err(CertProblem::File)?;
    check_pin(pin, &cert)?;
    let encryption_keys = check_cert(&cert, policy, now)?;
    Ok(ApprovedRecipient {
        name: pin.name.clone(),
        required: pin.required,
        cert,
        encryption_keys,
    })
}

/// The checks every recipient cert must pass at time `now` (the policy
/// should be [`standard_at`] the same `now`); returns the fingerprints of
/// the keys to encrypt to.
pub fn check_cert(
    cert: &Cert,
    policy: &dyn Policy,
    now: SystemTime,
) -> Result<Vec<openpgp::Fingerprint>, CertProblem> {
    let valid = check_usable(cert, policy, now)?;
    let encryption_flags = KeyFlags::empty()
        .set_storage_encryption()
        .set_transport_encryption();
    let flagged = || {
        valid
            .keys()
            .key_flags(encryption_flags.clone())
            .alive()
            .revoked(false)
    };
    // Refused here, not left to fail mid-encryption as an internal error.
    if let Some(ka) = flagged().find(|ka| !ka.key().pk_algo().for_encryption()) {
        return Err(CertProblem::CannotEncrypt {
            key: ka.key().fingerprint(),
            algo: ka.key().pk_algo(),
        });
    }
    let keys: Vec<_> = flagged()
        .supported()
        .map(|ka| ka.key().fingerprint())
        .collect();
    if keys.is_empty() {
        return Err(CertProblem::NoEncryptionKey);
    }
    Ok(keys)
}

/// The checks every cert sealpipe uses must pass at time `now`, whatever
/// it is used for: v4, no weak key, not revoked, valid and alive.
fn check_usable<'a>(
    cert: &'a Cert,
    policy: &'a dyn Policy,
    now: SystemTime,
) -> Result<openpgp::cert::ValidCert<'a>, CertProblem> {
    let version = cert.primary_key().key().version();
    if version != 4 {
        return Err(CertProblem::NotV4(version));
    }
    for ka in cert.keys() {
        if let Some(weakness) = weakness(ka.key()) {
            return Err(CertProblem::Weak {
                key: ka.key().fingerprint(),
                weakness,
            });
        }
    }
    if let RevocationStatus::Revoked(_) = cert.revocation_status(policy, now) {
        return Err(CertProblem::Revoked);
    }
    let valid = cert
        .with_policy(policy, now)
        .map_err(|e| CertProblem::NotValid {
            at: now,
            reason: e.to_string(),
        })?;
    if let Err(e) = valid.alive() {
        return Err(CertProblem::Expired {
            on: valid.primary_key().key_expiration_time(),
            reason: e.to_string(),
        });
    }
    Ok(valid)
}

/// The checks a signing key must pass at time `now` (the policy should be
/// [`standard_at`] the same `now`): those of every cert, and a valid
/// signing-capable key; returns the fingerprints of the keys that may sign.
pub fn check_signing_cert(
    cert: &Cert,
    policy: &dyn Policy,
    now: SystemTime,
) -> Result<Vec<openpgp::Fingerprint>, CertProblem> {
    let valid = check_usable(cert, policy, now)?;
    let keys: Vec<_> = valid
        .keys()
        .for_signing()
        .alive()
        .revoked(false)
        .supported()
        .map(|ka| ka.key().fingerprint())
        .collect();
    if keys.is_empty() {
        return Err(CertProblem::NoSigningKey);
    }
    Ok(keys)
}

/// Why a public key is too weak to protect a backup, if it is.
fn weakness(key: &Key<PublicParts, UnspecifiedRole>) -> Option<Weakness> {
    #[allow(deprecated)]
    match key.pk_algo() {
        PublicKeyAlgorithm::RSAEncryptSign
        | PublicKeyAlgorithm::RSAEncrypt
        | PublicKeyAlgorithm::RSASign => match key.mpis().bits() {
            Some(bits) if bits < MIN_RSA_BITS => Some(Weakness::ShortRsa { bits }),
            _ => None,
        },
        algo @ (PublicKeyAlgorithm::ElGamalEncrypt
        | PublicKeyAlgorithm::ElGamalEncryptSign
        | PublicKeyAlgorithm::DSA) => Some(Weakness::Legacy(algo)),
        _ => None,
    }
}

/// The pin check every command that reads the pinned certs makes (encrypt
/// and rekey through `approve`, inspect directly), so all refuse alike.
pub fn check_pin(pin: &PinnedRecipient, cert: &Cert) -> Result<(), CertProblem> {
    let actual = cert.fingerprint().to_hex();
    match actual == pin.fingerprint {
        true => Ok(()),
        false => Err(CertProblem::PinMismatch {
            path: pin.cert.clone(),
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
