//! Loading keys: pinned certs (public) and secret keys for decryption.
//! Secret material stays in sequoia's protected memory; the raw file bytes
//! are wiped after parsing. `files` reads what sealpipe trusts; `generate`
//! makes new keys; `signing` loads the key `encrypt` signs with.

pub mod agent;
pub mod escrow;
pub mod expiry;
pub mod files;
pub mod generate;
pub mod service;
pub mod signing;

use std::path::{Path, PathBuf};

use openpgp::crypto::Password;
use openpgp::packet::key::{PublicParts, SecretParts, UnspecifiedRole};
use openpgp::packet::Key;
use openpgp::parse::Parse;
use openpgp::{Cert, Fingerprint, KeyID};
use sequoia_openpgp as openpgp;

use crate::error::{Error, Result};
use files::{FileError, FileProblem, Role, TrustedFile};

/// Load a cert file (armored or binary) that must hold exactly one public
/// cert: a secret key does not belong on a backup host.
pub fn load_cert(path: &Path) -> Result<Cert, FileError> {
    let file = TrustedFile::read(path, Role::Cert)?;
    let certs = parse_certs(&file.bytes)
        .map_err(|e| file.problem(FileProblem::NotOpenPgp(e.to_string())))?;
    match <[Cert; 1]>::try_from(certs) {
        Ok([cert]) if cert.is_tsk() => Err(file.problem(FileProblem::HoldsSecretKey)),
        Ok([cert]) => Ok(cert),
        Err(certs) => Err(file.problem(FileProblem::CertCount(certs.len()))),
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
    /// `[decrypt] keys` entries that were missing or unreadable.
    pub skipped: Vec<std::sync::Arc<FileError>>,
    /// Keys whose secret gpg-agent holds (`--agent`): one more way to
    /// unwrap a key packet, after the keys above.
    pub agent: Option<agent::AgentKeys>,
}

impl SecretKeyring {
    /// Load secret key files given on the command line: each must exist,
    /// be private (see [`TrustedFile::require_private`]) and hold secret
    /// key material.
    pub fn load(paths: &[PathBuf], passphrase: Option<Password>) -> Result<Self> {
        SecretKeyring {
            passphrase,
            ..SecretKeyring::default()
        }
        .with_files(paths)
    }

    /// [`SecretKeyring::load`] into this keyring: with an agent, a file
    /// may also be a cert (public), whose keys the agent is asked for.
    pub fn with_files(mut self, paths: &[PathBuf]) -> Result<Self> {
        for path in paths {
            self.add_file(path)?;
        }
        Ok(self)
    }

    /// Add the config's `[decrypt] keys` (see `with_files`): a listed file
    /// that is missing or unreadable is skipped (a stale entry must not stop
    /// a restore that another key opens) and remembered in `skipped`; it is
    /// an error only when no key is left. An unsafe file is never skipped.
    pub fn with_listed_files(self, paths: &[PathBuf]) -> Result<Self> {
        let mut ring = self;
        for path in paths {
            match ring.add_file(path) {
                Err(Error::File(e)) if e.is_unavailable() => ring.skipped.push(e.into()),
                other => other?,
            }
        }
        if ring.is_empty() && !ring.skipped.is_empty() {
            return Err(Error::Key(format!(
                "no secret key listed under [decrypt] keys could be read: {}",
                ring.skipped_note()
            )));
        }
        Ok(ring)
    }

    /// Read one secret key file. Whether it holds a secret at all is said
    /// before whether its mode is private enough (a public cert given as a
    /// key is a wrong file, not a chmod away from working).
    fn add_file(&mut self, path: &Path) -> Result<()> {
        let file = TrustedFile::read(path, Role::SecretKey)?;
        if self.add_certs_for_agent(&file.bytes, path) {
            return Ok(());
        }
        self.add(&file.bytes, path)?;
        Ok(file.require_private()?)
    }

    /// With an agent: if `bytes` hold certs and no secret key, the agent is
    /// asked for their decryption keys; true if so. A public cert needs no
    /// private file mode.
    fn add_certs_for_agent(&mut self, bytes: &[u8], source: &Path) -> bool {
        let Some(agent) = &mut self.agent else {
            return false;
        };
        let Ok(certs) = parse_certs(bytes) else {
            return false;
        };
        if certs.is_empty() || certs.iter().any(Cert::is_tsk) {
            return false;
        }
        for cert in &certs {
            agent.add(cert, source, decryption_keys(cert));
        }
        true
    }

    /// Whether no key at all can be tried: no secret key, and none for the agent.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.agent.as_ref().is_none_or(|a| a.keys.is_empty())
    }

    /// Add the secret keys in `bytes`, read from `source` (named in messages).
    pub fn add(&mut self, bytes: &[u8], source: &Path) -> Result<(), FileError> {
        let problem = |p| FileError::new(Role::SecretKey, source, p);
        let certs =
            parse_certs(bytes).map_err(|e| problem(FileProblem::NotOpenPgp(e.to_string())))?;
        let before = self.keys.len();
        for cert in certs {
            let may_decrypt = may_decrypt(&cert);
            for ka in cert.keys().secret() {
                self.keys.push(SecretKey {
                    cert_fingerprint: cert.fingerprint(),
                    source: source.to_path_buf(),
                    key: ka.key().clone().role_into_unspecified(),
                    for_encryption: may_decrypt(ka.key().parts_as_public().role_as_unspecified()),
                });
            }
        }
        if self.keys.len() == before {
            return Err(problem(FileProblem::NoSecretKey));
        }
        Ok(())
    }

    /// The listed key files that were skipped, for a message when no key
    /// opens a backup.
    pub fn skipped_note(&self) -> String {
        self.skipped
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
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

/// Whether a key of `cert` may decrypt: flagged for encryption (or, where
/// no binding signature passes the policy, an encryption algorithm on a
/// subkey: an old gpg key whose self-signatures use SHA-1, rejected since
/// 2023, still opens the backups made to it). A certification-only primary
/// never. An expired key's bindings still pass the policy: its flags decide.
fn may_decrypt(cert: &Cert) -> impl Fn(&Key<PublicParts, UnspecifiedRole>) -> bool {
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
    let primary = cert.fingerprint();
    move |key| {
        let fingerprint = key.fingerprint();
        if validated.contains(&fingerprint) {
            flagged.contains(&fingerprint)
        } else {
            fingerprint != primary && key.pk_algo().for_encryption()
        }
    }
}

/// The keys of `cert` that may decrypt (see [`may_decrypt`]).
pub fn decryption_keys(cert: &Cert) -> Vec<Key<PublicParts, UnspecifiedRole>> {
    let may_decrypt = may_decrypt(cert);
    cert.keys()
        .map(|ka| ka.key().clone())
        .filter(|key| may_decrypt(key))
        .collect()
}

/// Turn passphrase file contents (first line) into a protected password.
pub fn passphrase_from_secret(secret: &[u8]) -> Password {
    Password::from(files::first_line(secret))
}

#[cfg(test)]
mod tests {
    use super::*;
    use openpgp::cert::{CertBuilder, CipherSuite};
    use openpgp::types::KeyFlags;
    use std::time::{Duration, SystemTime};

    const DAY: Duration = Duration::from_secs(86_400);

    fn fingerprints(keys: &[Key<PublicParts, UnspecifiedRole>]) -> Vec<Fingerprint> {
        let mut list: Vec<_> = keys.iter().map(|k| k.fingerprint()).collect();
        list.sort();
        list
    }

    /// The subkeys whose binding (read as is, no policy) does not flag them
    /// for signing, in fingerprint order.
    fn non_signing_subkeys(cert: &Cert) -> Vec<Fingerprint> {
        let mut list: Vec<_> = cert
            .keys()
            .subkeys()
            .filter(|ka| {
                let flags = ka.self_signatures().next().unwrap().key_flags().unwrap();
                !flags.for_signing()
            })
            .map(|ka| ka.key().fingerprint())
            .collect();
        list.sort();
        list
    }

    /// Either encryption flag makes a key a decryption key (gpg's "E" sets
    /// both; other tools set one); signing and certification keys are not.
    #[test]
    fn either_encryption_flag_makes_a_decryption_key() {
        let (cert, _) = CertBuilder::new()
            .add_userid("backup")
            .add_subkey(KeyFlags::empty().set_transport_encryption(), None, None)
            .add_subkey(KeyFlags::empty().set_storage_encryption(), None, None)
            .add_signing_subkey()
            .generate()
            .unwrap();
        let encryption = non_signing_subkeys(&cert);
        assert_eq!(encryption.len(), 2);
        assert_eq!(fingerprints(&decryption_keys(&cert)), encryption);
    }

    /// An expired cert still opens the backups made while it was valid:
    /// expiry is not validity, so its flags still decide.
    #[test]
    fn an_expired_certs_encryption_subkey_still_decrypts() {
        let (cert, _) = CertBuilder::new()
            .set_cipher_suite(CipherSuite::RSA2k)
            .set_creation_time(SystemTime::now() - DAY * 400)
            .set_validity_period(DAY * 365)
            .add_userid("old backup key")
            .add_storage_encryption_subkey()
            .add_signing_subkey()
            .generate()
            .unwrap();
        let policy = openpgp::policy::StandardPolicy::new();
        assert!(cert.with_policy(&policy, None).unwrap().alive().is_err());
        let encryption = non_signing_subkeys(&cert);
        assert_eq!(encryption.len(), 1);
        assert_eq!(fingerprints(&decryption_keys(&cert)), encryption);
    }

    /// A key whose self-signatures all use SHA-1 (gpg 1.4's default), which
    /// the policy rejects: no binding says what a key is for, so the
    /// algorithm decides, and the primary never decrypts though RSA could.
    #[test]
    fn a_sha1_signed_keys_encryption_subkey_still_decrypts() {
        use openpgp::packet::key::{Key4, SubordinateRole};
        use openpgp::packet::signature::SignatureBuilder;
        use openpgp::packet::{Packet, UserID};
        use openpgp::types::{Curve, HashAlgorithm, SignatureType};

        let (rsa, _) = CertBuilder::new()
            .set_cipher_suite(CipherSuite::RSA2k)
            .add_storage_encryption_subkey()
            .generate()
            .unwrap();
        let primary = rsa.primary_key().key().clone();
        let mut primary_signer = primary
            .clone()
            .parts_into_secret()
            .unwrap()
            .into_keypair()
            .unwrap();
        let encryption: Key<_, SubordinateRole> =
            rsa.keys().subkeys().next().unwrap().key().clone();
        let signing: Key<SecretParts, SubordinateRole> =
            Key4::generate_ecc(true, Curve::Ed25519).unwrap().into();
        let sha1 = |kind| SignatureBuilder::new(kind).set_hash_algo(HashAlgorithm::SHA1);

        let user_id = UserID::from("old gpg key");
        let user_id_sig = sha1(SignatureType::PositiveCertification)
            .set_key_flags(KeyFlags::empty().set_certification())
            .unwrap()
            .sign_userid_binding(&mut primary_signer, None, &user_id)
            .unwrap();
        let encryption_sig = sha1(SignatureType::SubkeyBinding)
            .set_key_flags(
                KeyFlags::empty()
                    .set_storage_encryption()
                    .set_transport_encryption(),
            )
            .unwrap()
            .sign_subkey_binding(&mut primary_signer, None, &encryption)
            .unwrap();
        let backsig = sha1(SignatureType::PrimaryKeyBinding)
            .sign_primary_key_binding(
                &mut signing.clone().into_keypair().unwrap(),
                &primary,
                &signing,
            )
            .unwrap();
        let signing_sig = sha1(SignatureType::SubkeyBinding)
            .set_key_flags(KeyFlags::empty().set_signing())
            .unwrap()
            .set_embedded_signature(backsig)
            .unwrap()
            .sign_subkey_binding(&mut primary_signer, None, &signing)
            .unwrap();
        let cert = Cert::from_packets(
            vec![
                Packet::from(primary.clone().role_into_primary()),
                user_id.into(),
                user_id_sig.into(),
                encryption.clone().parts_into_public().into(),
                encryption_sig.into(),
                signing.parts_into_public().into(),
                signing_sig.into(),
            ]
            .into_iter(),
        )
        .unwrap();
        let policy = openpgp::policy::StandardPolicy::new();
        assert!(
            cert.with_policy(&policy, None).is_err(),
            "SHA-1 is rejected"
        );
        assert_eq!(
            fingerprints(&decryption_keys(&cert)),
            [encryption.fingerprint()]
        );
    }
}
