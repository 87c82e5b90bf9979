//! Loading keys: pinned certs (public) and secret keys for decryption.
//! Secret material stays in sequoia's protected memory; the raw file bytes
//! are wiped after parsing. `files` reads what sealpipe trusts; `generate`
//! makes new keys.

pub mod files;
pub mod generate;

use std::path::{Path, PathBuf};

use openpgp::crypto::Password;
use openpgp::packet::key::{SecretParts, UnspecifiedRole};
use openpgp::packet::Key;
use openpgp::parse::Parse;
use openpgp::{Cert, Fingerprint, KeyID};
use sequoia_openpgp as openpgp;

use crate::error::{Error, Result};

/// Load a cert file (armored or binary) that must hold exactly one cert.
pub fn load_cert(path: &Path) -> Result<Cert> {
    let bytes = files::read_trusted(path, "cert file")?;
    let certs = parse_certs(&bytes)
        .map_err(|e| Error::config(path, format!("is not an OpenPGP cert: {e}")))?;
    match <[Cert; 1]>::try_from(certs) {
        Ok([cert]) => Ok(cert),
        Err(certs) => Err(Error::config(
            path,
            format!(
                "holds {} certs; a pinned cert file must hold exactly one",
                certs.len()
            ),
        )),
    }
}

/// Parse every cert (or TSK) in armored or binary bytes.
pub fn parse_certs(bytes: &[u8]) -> openpgp::Result<Vec<Cert>> {
    openpgp::cert::CertParser::from_bytes(bytes)?.collect()
}

/// One secret (sub)key usable to decrypt, with where it came from.
#[derive(Clone)]
pub struct SecretKey {
    pub cert_fingerprint: Fingerprint,
    pub source: PathBuf,
    pub key: Key<SecretParts, UnspecifiedRole>,
    /// The key may decrypt: flagged for encryption (or, where no binding
    /// signature passes the policy, an encryption algorithm on a subkey).
    /// A certification-only primary is never tried.
    pub for_encryption: bool,
}

impl SecretKey {
    pub fn keyid(&self) -> KeyID {
        self.key.keyid()
    }
}

/// All secret keys given to decrypt, old and new alike, so that backups made
/// before a rotation still open.
#[derive(Clone, Default)]
pub struct SecretKeyring {
    pub keys: Vec<SecretKey>,
    /// Unlocks passphrase-protected keys on demand.
    pub passphrase: Option<Password>,
}

impl SecretKeyring {
    /// Load secret key files. Each must be private (mode 0600 or stricter)
    /// and hold secret key material.
    pub fn load(paths: &[PathBuf], passphrase: Option<Password>) -> Result<Self> {
        let mut ring = SecretKeyring {
            keys: Vec::new(),
            passphrase,
        };
        for path in paths {
            let bytes = files::read_secret(path, "secret key file")?;
            ring.add(&bytes, path)?;
        }
        Ok(ring)
    }

    /// Add the secret keys in `bytes`, read from `source` (named in messages).
    pub fn add(&mut self, bytes: &[u8], source: &Path) -> Result<()> {
        let certs = parse_certs(bytes).map_err(|e| {
            Error::Key(format!(
                "secret key file {} is not an OpenPGP key: {e}",
                source.display()
            ))
        })?;
        let before = self.keys.len();
        for cert in certs {
            let policy = openpgp::policy::StandardPolicy::new();
            let flagged: Vec<Fingerprint> = cert
                .keys()
                .with_policy(&policy, None)
                .filter(|ka| ka.for_transport_encryption() || ka.for_storage_encryption())
                .map(|ka| ka.key().fingerprint())
                .collect();
            let validated: Vec<Fingerprint> = cert
                .keys()
                .with_policy(&policy, None)
                .map(|ka| ka.key().fingerprint())
                .collect();
            for ka in cert.keys().secret() {
                let fingerprint = ka.key().fingerprint();
                let for_encryption = if validated.contains(&fingerprint) {
                    flagged.contains(&fingerprint)
                } else {
                    fingerprint != cert.fingerprint() && ka.key().pk_algo().for_encryption()
                };
                self.keys.push(SecretKey {
                    cert_fingerprint: cert.fingerprint(),
                    source: source.to_path_buf(),
                    key: ka.key().clone().role_into_unspecified(),
                    for_encryption,
                });
            }
        }
        if self.keys.len() == before {
            return Err(Error::Key(format!(
                "{} holds no secret key (only a public cert?); decrypt needs the secret key file",
                source.display()
            )));
        }
        Ok(())
    }

    /// The secret keys whose key ID matches, or all for a wildcard recipient.
    pub fn candidates(
        &self,
        recipient: Option<openpgp::KeyHandle>,
    ) -> impl Iterator<Item = &SecretKey> + '_ {
        self.keys.iter().filter(move |k| match &recipient {
            Some(handle) => handle.aliases(openpgp::KeyHandle::from(k.key.fingerprint())),
            None => true,
        })
    }

    /// A usable (unlocked) copy of the key, or why it cannot be unlocked.
    pub fn unlock(&self, key: &SecretKey) -> Result<Key<SecretParts, UnspecifiedRole>> {
        if !key.key.secret().is_encrypted() {
            return Ok(key.key.clone());
        }
        let Some(passphrase) = &self.passphrase else {
            return Err(Error::Key(format!(
                "secret key {} from {} is passphrase-protected; give --passphrase-file FILE or --passphrase-fd N",
                key.key.fingerprint(),
                key.source.display()
            )));
        };
        key.key.clone().decrypt_secret(passphrase).map_err(|_| {
            Error::Key(format!(
                "wrong passphrase for secret key {} from {}",
                key.key.fingerprint(),
                key.source.display()
            ))
        })
    }
}

/// Turn passphrase file contents (first line) into a protected password.
pub fn passphrase_from_secret(secret: &[u8]) -> Password {
    Password::from(files::first_line(secret))
}
