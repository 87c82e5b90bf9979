//! The secret key `encrypt` signs backups with (`[sign] key`,
//! `--sign-key`): read with the secret-file checks, checked like a pinned
//! cert at the policy time, and unlocked before a byte is written.

use std::fmt;
use std::path::Path;
use std::time::SystemTime;

use openpgp::crypto::{KeyPair, Password};
use openpgp::{Cert, Fingerprint};
use sequoia_openpgp as openpgp;

use super::files::{FileProblem, Role, TrustedFile};
use super::parse_certs;
use crate::error::{Error, Result};
use crate::policy::{self, CertProblem, Refusal};

/// An unlocked signing (sub)key and the cert it belongs to.
#[derive(Clone)]
pub struct SigningKey {
    /// The primary key's fingerprint: what an allowed-signers list names.
    pub cert_fingerprint: Fingerprint,
    /// When signing with it stops working: the earliest expiry of the
    /// primary key and of this signing key (None: never).
    pub expires: Option<SystemTime>,
    keypair: KeyPair,
}

impl fmt::Debug for SigningKey {
    /// Names the key, never its secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("cert_fingerprint", &self.cert_fingerprint)
            .field("expires", &self.expires)
            .field("key", &self.keypair.public().fingerprint())
            .finish()
    }
}

impl SigningKey {
    /// A copy of the key pair for one message's signer.
    pub fn keypair(&self) -> KeyPair {
        self.keypair.clone()
    }
}

/// Load the signing key in `path`: one cert with its secret, private to its
/// owner, not expired or revoked at `now`, not weak, with a signing-capable
/// key whose secret is in the file (unlocked with `passphrase` if needed).
/// A key that cannot sign is a policy refusal (exit 4); a file that is not a
/// usable secret key, or a missing or wrong passphrase, a key error (exit 5).
pub fn load(path: &Path, passphrase: Option<&Password>, now: SystemTime) -> Result<SigningKey> {
    let file = TrustedFile::read(path, Role::SecretKey)?;
    let refuse = |p| Error::File(file.problem(p));
    let certs =
        parse_certs(&file.bytes).map_err(|e| refuse(FileProblem::NotOpenPgp(e.to_string())))?;
    let cert: Cert = match <[Cert; 1]>::try_from(certs) {
        Ok([cert]) => cert,
        Err(certs) => return Err(refuse(FileProblem::SigningKeyCount(certs.len()))),
    };
    if !cert.is_tsk() {
        return Err(refuse(FileProblem::NoSigningSecret));
    }
    file.require_private()?;
    let cannot_sign = |problem| Error::Policy {
        refusals: vec![Refusal::Signer {
            path: path.to_path_buf(),
            fingerprint: cert.fingerprint().to_hex(),
            problem,
        }],
    };
    let policy = policy::standard_at(now);
    let signing = policy::check_signing_cert(&cert, &policy, now).map_err(cannot_sign)?;
    let key = cert
        .keys()
        .secret()
        .map(|ka| ka.key().clone())
        .find(|k| signing.contains(&k.fingerprint()))
        .ok_or_else(|| cannot_sign(CertProblem::NoSigningKey))?;
    let expires = super::expiry::effective_expiry(&cert, &[key.fingerprint()], now);
    let key = match (key.secret().is_encrypted(), passphrase) {
        (false, _) => key,
        (true, None) => {
            return Err(Error::Key(format!(
                "signing key {} in {} is passphrase-protected; set [sign] passphrase_file",
                key.fingerprint(),
                path.display()
            )))
        }
        (true, Some(passphrase)) => {
            let fingerprint = key.fingerprint();
            key.decrypt_secret(passphrase).map_err(|_| {
                Error::Key(format!(
                    "wrong passphrase for signing key {fingerprint} in {}",
                    path.display()
                ))
            })?
        }
    };
    let keypair = key
        .role_into_unspecified()
        .into_keypair()
        .map_err(|e| Error::Key(format!("signing key in {}: {e}", path.display())))?;
    Ok(SigningKey {
        cert_fingerprint: cert.fingerprint(),
        expires,
        keypair,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::generate::{armored_secret_key, generate, KeyAlgorithm, KeygenPlan};
    use openpgp::packet::key::SecretKeyMaterial;
    use openpgp::serialize::MarshalInto;
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;

    /// Logs and error reports print `{:?}`: the key must be named there by
    /// its fingerprints, and its secret must not appear in any form.
    #[test]
    fn debug_names_the_key_and_never_its_secret() {
        let now = SystemTime::now();
        let generated = generate(KeygenPlan {
            signing: true,
            user_id: "host1".into(),
            algorithm: KeyAlgorithm::Cv25519,
            validity: None,
            passphrase: None,
            now,
        })
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("host1.key");
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .unwrap()
            .write_all(&armored_secret_key(&generated.cert).unwrap())
            .unwrap();

        let key = load(&path, None, now).unwrap();
        let shown = format!("{key:?}");

        let subkey = generated.cert.keys().subkeys().secret().next().unwrap();
        assert!(
            shown.contains(&generated.cert.fingerprint().to_string()),
            "{shown}"
        );
        assert!(
            shown.contains(&subkey.key().fingerprint().to_string()),
            "{shown}"
        );
        let SecretKeyMaterial::Unencrypted(secret) = subkey.key().secret() else {
            panic!("the generated key is not protected");
        };
        let secret = secret.map(|mpis| mpis.to_vec().unwrap());
        let hex = crate::digest::hex(&secret);
        for form in [hex.clone(), hex.to_uppercase(), format!("{secret:?}")] {
            assert!(!shown.contains(&form), "the secret shows in {shown}");
        }
    }
}
