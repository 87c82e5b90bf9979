//! Loading keys: pinned certs (public) and secret keys for decryption.
//! Secret material stays in sequoia's protected memory; the raw file bytes
//! are wiped after parsing.

use std::path::{Path, PathBuf};

use openpgp::crypto::Password;
use openpgp::packet::key::{SecretParts, UnspecifiedRole};
use openpgp::packet::Key;
use openpgp::parse::Parse;
use openpgp::{Cert, Fingerprint, KeyID};
use sequoia_openpgp as openpgp;

use crate::error::{Error, Result};
use crate::files;

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
            for ka in cert.keys().secret() {
                self.keys.push(SecretKey {
                    cert_fingerprint: cert.fingerprint(),
                    source: source.to_path_buf(),
                    key: ka.key().clone().role_into_unspecified(),
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

/// Key algorithms `keygen` offers; both are read by GnuPG 2.2.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum KeyAlgorithm {
    /// Ed25519 primary key, Cv25519 encryption subkey (small and fast).
    Cv25519,
    /// RSA-4096 primary key and encryption subkey (for old or strict environments).
    Rsa4096,
}

/// What `keygen` makes: a v4 cert with a certification-only primary key and
/// one encryption subkey, advertising SEIPDv1 only.
pub struct KeygenPlan {
    pub user_id: String,
    pub algorithm: KeyAlgorithm,
    /// How long the key is valid; None = no expiry.
    pub validity: Option<std::time::Duration>,
    /// Protects the secret key file when given.
    pub passphrase: Option<Password>,
    pub now: std::time::SystemTime,
}

/// A fresh key and its revocation certificate.
pub struct GeneratedKey {
    pub cert: Cert,
    pub revocation: openpgp::packet::Signature,
}

pub fn generate(plan: KeygenPlan) -> Result<GeneratedKey> {
    use openpgp::cert::{CertBuilder, CipherSuite};
    use openpgp::types::{Features, KeyFlags};
    let suite = match plan.algorithm {
        KeyAlgorithm::Cv25519 => CipherSuite::Cv25519,
        KeyAlgorithm::Rsa4096 => CipherSuite::RSA4k,
    };
    // Advertise SEIPDv1 only: a cert advertising SEIPDv2 makes other
    // encryptors (sq, sequoia) write messages GnuPG 2.2 cannot read.
    let (cert, revocation) = CertBuilder::new()
        .set_profile(openpgp::Profile::RFC4880)
        .and_then(|b| b.set_features(Features::empty().set_seipdv1()))
        .map_err(|e| Error::Internal(format!("key builder: {e}")))?
        .set_cipher_suite(suite)
        .set_creation_time(plan.now)
        .add_userid(plan.user_id.as_str())
        .set_primary_key_flags(KeyFlags::empty().set_certification())
        .add_subkey(
            KeyFlags::empty()
                .set_storage_encryption()
                .set_transport_encryption(),
            None,
            None,
        )
        .set_validity_period(plan.validity)
        .set_password(plan.passphrase)
        .generate()
        .map_err(|e| Error::Internal(format!("key generation failed: {e}")))?;
    Ok(GeneratedKey { cert, revocation })
}

/// ASCII-armored public cert.
pub fn armored_cert(cert: &Cert) -> Result<Vec<u8>> {
    use openpgp::serialize::SerializeInto;
    cert.armored()
        .to_vec()
        .map_err(|e| Error::Internal(format!("serialising cert: {e}")))
}

/// ASCII-armored secret key (transferable secret key).
pub fn armored_secret_key(cert: &Cert) -> Result<zeroize::Zeroizing<Vec<u8>>> {
    use openpgp::serialize::SerializeInto;
    cert.as_tsk()
        .armored()
        .to_vec()
        .map(zeroize::Zeroizing::new)
        .map_err(|e| Error::Internal(format!("serialising secret key: {e}")))
}

/// ASCII-armored revocation certificate for `cert`.
pub fn armored_revocation(cert: &Cert, revocation: &openpgp::packet::Signature) -> Result<Vec<u8>> {
    use openpgp::serialize::SerializeInto;
    let revoked = cert
        .clone()
        .strip_secret_key_material()
        .insert_packets(revocation.clone())
        .map_err(|e| Error::Internal(format!("revocation: {e}")))?
        .0;
    let bytes = revoked.armored().to_vec();
    bytes.map_err(|e| Error::Internal(format!("serialising revocation: {e}")))
}

/// A key's validity from `keygen --expires`: "2y", "18m", "90d" (a month is
/// 30 days, a year 365), or "never" (None).
pub fn parse_validity(text: &str) -> Result<Option<std::time::Duration>> {
    if text == "never" {
        return Ok(None);
    }
    let bad = || {
        Error::Usage(format!(
            "--expires wants e.g. 2y, 18m, 90d or never, got '{text}'"
        ))
    };
    let (number, unit) = text.split_at(text.len().saturating_sub(1));
    let n: u64 = number.parse().map_err(|_| bad())?;
    let days = match unit {
        "d" => n,
        "m" => n.checked_mul(30).ok_or_else(bad)?,
        "y" => n.checked_mul(365).ok_or_else(bad)?,
        _ => return Err(bad()),
    };
    // OpenPGP stores the validity in 32-bit seconds (about 136 years).
    let seconds = days
        .checked_mul(86_400)
        .filter(|s| *s <= u64::from(u32::MAX));
    match seconds {
        Some(s) if n > 0 => Ok(Some(std::time::Duration::from_secs(s))),
        _ => Err(bad()),
    }
}
