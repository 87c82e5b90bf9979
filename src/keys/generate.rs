//! New keys for `keygen`: a v4 cert readable by GnuPG 2.2, its armored
//! forms, and the validity periods users write (`2y`, `90d`, `never`).

use openpgp::crypto::Password;
use openpgp::Cert;
use sequoia_openpgp as openpgp;

use crate::error::{Error, Result};

/// Key algorithms `keygen` offers; both are read by GnuPG 2.2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyAlgorithm {
    /// Ed25519 primary key, Cv25519 encryption subkey (small and fast);
    /// with --sign an Ed25519 signing subkey.
    Cv25519,
    /// RSA-4096 primary key and encryption (or, with --sign, signing)
    /// subkey (for old or strict environments).
    Rsa4096,
}

/// What `keygen` makes: a v4 cert with a certification-only primary key and
/// one encryption subkey (or, for a backup host's signing key, one signing
/// subkey: it can never decrypt), advertising SEIPDv1 only.
pub struct KeygenPlan {
    pub signing: bool,
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
    // A subkey, not the primary, signs or encrypts: it can be rotated under
    // the same certifying primary.
    let subkey_flags = match plan.signing {
        true => KeyFlags::empty().set_signing(),
        false => KeyFlags::empty()
            .set_storage_encryption()
            .set_transport_encryption(),
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
        .add_subkey(subkey_flags, None, None)
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const DAY: u64 = 86_400;

    /// `--expires` in days, months of 30 days and years of 365; never; and
    /// what OpenPGP cannot store or a key cannot use refused.
    #[test]
    fn expiry_periods_parse_as_documented() {
        let days = |text: &str| parse_validity(text).unwrap().map(|d| d.as_secs() / DAY);
        assert_eq!(days("90d"), Some(90));
        assert_eq!(days("18m"), Some(540));
        assert_eq!(days("2y"), Some(730));
        assert_eq!(days("1d"), Some(1));
        assert_eq!(days("never"), None);
        // The largest that fits OpenPGP's 32-bit seconds, and one day more.
        let most = u64::from(u32::MAX) / DAY;
        assert_eq!(
            parse_validity(&format!("{most}d")).unwrap(),
            Some(Duration::from_secs(most * DAY))
        );
        for refused in [
            "0d",
            "0m",
            "0y",
            &format!("{}d", most + 1),
            "137y",
            "2w",
            "y",
            "",
            "-1d",
            "1.5y",
            "18446744073709551615y",
        ] {
            let e = parse_validity(refused).unwrap_err();
            assert!(e.to_string().contains("--expires wants"), "{refused}: {e}");
        }
    }
}
