//! Key expiry: when a pinned recipient or a signing key stops being
//! usable (`sealpipe check`), and new self-signatures that move the expiry (`sealpipe
//! extend`). The fingerprint never changes, so the pins stay valid.

use std::time::{Duration, SystemTime};

use openpgp::crypto::{KeyPair, Password};
use openpgp::packet::signature::subpacket::{SubpacketArea, SubpacketTag};
use openpgp::packet::signature::SignatureBuilder;
use openpgp::packet::Signature;
use openpgp::types::{KeyFlags, SignatureType};
use openpgp::{Cert, Fingerprint};
use sequoia_openpgp as openpgp;

use crate::error::{Error, Result};
use crate::time::format_utc;

/// The instant encryption to `cert` stops working: the earliest expiry of
/// the primary key and of the encryption `keys` it would use (None: never).
pub fn effective_expiry(cert: &Cert, keys: &[Fingerprint], now: SystemTime) -> Option<SystemTime> {
    let policy = crate::policy::standard_at(now);
    let valid = cert.with_policy(&policy, now).ok()?;
    let primary = valid.primary_key().key_expiration_time();
    let subkeys = valid
        .keys()
        .subkeys()
        .filter(|ka| keys.contains(&ka.key().fingerprint()))
        .filter_map(|ka| ka.key_expiration_time());
    primary.into_iter().chain(subkeys).min()
}

/// The subkeys of `cert` marked for encryption at `now`, alive or not
/// (for reporting when an expired key stopped working).
pub fn encryption_subkeys(cert: &Cert, now: SystemTime) -> Vec<Fingerprint> {
    subkeys_flagged(
        cert,
        now,
        KeyFlags::empty()
            .set_storage_encryption()
            .set_transport_encryption(),
    )
}

/// The subkeys of `cert` marked for signing at `now`, alive or not: with
/// [`effective_expiry`], when a signer's cert stops vouching for new
/// signatures.
pub fn signing_subkeys(cert: &Cert, now: SystemTime) -> Vec<Fingerprint> {
    subkeys_flagged(cert, now, KeyFlags::empty().set_signing())
}

fn subkeys_flagged(cert: &Cert, now: SystemTime, flags: KeyFlags) -> Vec<Fingerprint> {
    let policy = crate::policy::standard_at(now);
    cert.with_policy(&policy, now)
        .map(|valid| {
            valid
                .keys()
                .subkeys()
                .key_flags(flags)
                .map(|ka| ka.key().fingerprint())
                .collect()
        })
        .unwrap_or_default()
}

/// Whole days from `now` to `then`, rounded down (negative once past).
pub fn days_left(now: SystemTime, then: SystemTime) -> i64 {
    match then.duration_since(now) {
        Ok(d) => (d.as_secs() / 86_400) as i64,
        Err(e) => -(e.duration().as_secs().div_ceil(86_400) as i64),
    }
}

/// The creation time of `cert`'s newest self-signature (the bindings and
/// direct-key signatures `extend` supersedes), in whole seconds as
/// signatures count time.
pub fn newest_self_signature(cert: &Cert) -> Option<SystemTime> {
    let userids = cert.userids().flat_map(|ua| ua.self_signatures());
    let subkeys = cert.keys().subkeys().flat_map(|ka| ka.self_signatures());
    cert.primary_key()
        .self_signatures()
        .chain(userids)
        .chain(subkeys)
        .filter_map(|sig| sig.signature_creation_time())
        .max()
}

/// `cert` (a TSK with the primary secret key) with new self-signatures made
/// at `now`: the primary key, every user ID and every subkey expire at
/// `now + validity` (never when None). Old signatures stay; OpenPGP
/// implementations use the newest. The secret key material is unchanged.
/// `now` must be a later second than every self-signature it supersedes:
/// between two of the same second an implementation may keep either (gpg
/// 2.2 was seen keeping the old expiry).
pub fn extend(
    cert: &Cert,
    validity: Option<Duration>,
    passphrase: Option<&Password>,
    now: SystemTime,
) -> Result<Cert> {
    let expires = validity.map(|v| now + v);
    let policy = crate::policy::standard_at(now);
    let valid = cert.with_policy(&policy, now).map_err(|e| {
        Error::Key(format!(
            "key {} has no valid self-signature at {}: {e}",
            cert.fingerprint(),
            format_utc(now)
        ))
    })?;
    let primary = cert.primary_key().key();
    let mut primary_signer = unlock(cert, primary.fingerprint(), passphrase)?;
    if let Some(newest) = newest_self_signature(cert).filter(|&t| whole_seconds(now) <= t) {
        return Err(Error::Key(format!(
            "key {} has a self-signature from {}, not before now ({}): new ones made now \
             would not supersede it; check the clock, or run extend a second later",
            cert.fingerprint(),
            format_utc(newest),
            format_utc(now)
        )));
    }
    let sign_err = |e: anyhow::Error| Error::Internal(format!("signing the new expiry: {e}"));
    let period_of = |created: SystemTime| -> Result<Option<Duration>> {
        expires
            .map(|t| {
                t.duration_since(created).map_err(|_| {
                    Error::Usage(format!(
                        "the new expiry {} predates the key's creation",
                        format_utc(t)
                    ))
                })
            })
            .transpose()
    };
    let resign = |sig: &Signature, period: Option<Duration>| {
        SignatureBuilder::from(sig.clone())
            .set_signature_creation_time(now)
            .and_then(|b| b.set_key_validity_period(period))
    };

    let mut sigs = Vec::new();
    let primary_period = period_of(primary.creation_time())?;
    if let Ok(direct) = valid.direct_key_signature() {
        let builder = resign(direct, primary_period).map_err(sign_err)?;
        sigs.push(
            builder
                .sign_direct_key(&mut primary_signer, primary)
                .map_err(sign_err)?,
        );
    }
    let primary_userid = valid.primary_userid().ok().map(|u| u.userid().clone());
    for ua in valid.userids().revoked(false) {
        let is_primary = primary_userid.as_ref() == Some(ua.userid());
        let builder = resign(ua.binding_signature(), primary_period)
            .and_then(|b| b.set_primary_userid(is_primary))
            .map_err(sign_err)?;
        sigs.push(
            builder
                .sign_userid_binding(&mut primary_signer, primary, ua.userid())
                .map_err(sign_err)?,
        );
    }
    if sigs.is_empty() {
        return Err(Error::Key(format!(
            "key {} has neither a direct-key signature nor a user ID to carry the new expiry",
            cert.fingerprint()
        )));
    }
    for ka in valid.keys().subkeys().revoked(false) {
        let subkey = ka.key();
        // The old binding's back-signature is not carried over (the copy
        // would keep one the subkey made years ago); a subkey that can sign
        // signs the primary back anew (RFC 9580 5.2.1).
        let mut builder = resign(ka.binding_signature(), period_of(subkey.creation_time())?)
            .and_then(|b| b.modify_hashed_area(without_back_signature))
            .and_then(|b| b.modify_unhashed_area(without_back_signature))
            .map_err(sign_err)?;
        if ka.for_signing() || ka.for_certification() || ka.for_authentication() {
            let mut subkey_signer = unlock(cert, subkey.fingerprint(), passphrase)?;
            let backsig = SignatureBuilder::new(SignatureType::PrimaryKeyBinding)
                .set_signature_creation_time(now)
                .map(|b| b.set_hash_algo(ka.binding_signature().hash_algo()))
                .and_then(|b| b.sign_primary_key_binding(&mut subkey_signer, primary, subkey))
                .map_err(sign_err)?;
            builder = builder.set_embedded_signature(backsig).map_err(sign_err)?;
        }
        sigs.push(
            builder
                .sign_subkey_binding(&mut primary_signer, primary, subkey)
                .map_err(sign_err)?,
        );
    }
    cert.clone()
        .insert_packets(sigs)
        .map(|(cert, _)| cert)
        .map_err(sign_err)
}

/// `time` cut to whole seconds, as a signature's creation time is.
fn whole_seconds(time: SystemTime) -> SystemTime {
    let since = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    SystemTime::UNIX_EPOCH + Duration::from_secs(since.as_secs())
}

/// A subpacket area without embedded signatures (a subkey's back-signature).
fn without_back_signature(mut area: SubpacketArea) -> openpgp::Result<SubpacketArea> {
    area.remove_all(SubpacketTag::EmbeddedSignature);
    Ok(area)
}

/// A signer for the (sub)key `fingerprint` of `cert`, unlocked if needed.
fn unlock(cert: &Cert, fingerprint: Fingerprint, passphrase: Option<&Password>) -> Result<KeyPair> {
    let key = cert
        .keys()
        .secret()
        .find(|ka| ka.key().fingerprint() == fingerprint)
        .map(|ka| ka.key().clone())
        .ok_or_else(|| {
            Error::Key(format!(
                "the key file holds no secret for key {fingerprint}; extend needs the secret key \
                 (the file keygen wrote with --key-out), not the cert"
            ))
        })?;
    let key = if key.secret().is_encrypted() {
        let passphrase = passphrase.ok_or_else(|| {
            Error::Key(format!(
                "secret key {fingerprint} is passphrase-protected; give --passphrase-file FILE or --passphrase-fd N"
            ))
        })?;
        key.decrypt_secret(passphrase)
            .map_err(|_| Error::Key(format!("wrong passphrase for secret key {fingerprint}")))?
    } else {
        key
    };
    key.into_keypair()
        .map_err(|e| Error::Key(format!("secret key {fingerprint} cannot sign: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::generate::{generate, KeyAlgorithm, KeygenPlan};
    use openpgp::cert::CertBuilder;

    const DAY: Duration = Duration::from_secs(86_400);

    fn at(days: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_780_272_000) + DAY * days as u32
    }

    /// Whole days left, rounded down: a key that expired a second ago is
    /// a day past, not zero days left.
    #[test]
    fn days_left_rounds_down_on_both_sides() {
        let now = at(10);
        assert_eq!(days_left(now, now + DAY * 3 / 2), 1);
        assert_eq!(days_left(now, now), 0);
        assert_eq!(days_left(now, now - Duration::from_secs(1)), -1);
        assert_eq!(days_left(now, now - DAY * 3 / 2), -2);
    }

    /// A cert whose signing subkey expires before its primary key and its
    /// encryption subkey: each list names its own subkey, and the expiry
    /// that counts for signing is the signing subkey's.
    #[test]
    fn a_subkey_that_expires_first_sets_the_expiry() {
        let (cert, _) = CertBuilder::new()
            .set_creation_time(at(0))
            .add_userid("host1")
            .set_validity_period(DAY * 365)
            .add_subkey(KeyFlags::empty().set_signing(), DAY * 30, None)
            .add_transport_encryption_subkey()
            .generate()
            .unwrap();
        let now = at(1);
        let signing = signing_subkeys(&cert, now);
        let encryption = encryption_subkeys(&cert, now);
        assert_eq!((signing.len(), encryption.len()), (1, 1));
        assert_ne!(signing, encryption);
        assert_eq!(effective_expiry(&cert, &signing, now), Some(at(30)));
        assert_eq!(effective_expiry(&cert, &encryption, now), Some(at(365)));
    }

    /// extend refuses to make signatures in the same second as (or before)
    /// the newest one it supersedes, and signs from the next second on.
    #[test]
    fn extend_makes_only_signatures_newer_than_the_ones_it_replaces() {
        let (cert, _) = CertBuilder::new()
            .set_creation_time(at(0))
            .add_userid("host1")
            .add_storage_encryption_subkey()
            .generate()
            .unwrap();
        assert_eq!(newest_self_signature(&cert), Some(at(0)));
        let same_second = at(0) + Duration::from_millis(999);
        for now in [at(0), same_second] {
            let e = extend(&cert, Some(DAY), None, now).unwrap_err();
            assert!(e.to_string().contains("not before now"), "{e}");
        }
        let next_second = at(0) + Duration::from_secs(1);
        let extended = extend(&cert, Some(DAY), None, next_second).unwrap();
        assert_eq!(newest_self_signature(&extended), Some(next_second));
        // Every superseded signature counts: here a subkey binding re-made
        // at day 3, the user ID's still from day 0.
        let mut signer = unlock(&cert, cert.fingerprint(), None).unwrap();
        let subkey = cert.keys().subkeys().next().unwrap();
        let rebound = SignatureBuilder::from(subkey.self_signatures().next().unwrap().clone())
            .set_signature_creation_time(at(3))
            .unwrap()
            .sign_subkey_binding(&mut signer, cert.primary_key().key(), subkey.key())
            .unwrap();
        let cert = cert.insert_packets(rebound).unwrap().0;
        assert_eq!(newest_self_signature(&cert), Some(at(3)));
        assert!(extend(&cert, Some(DAY), None, at(2)).is_err());
        assert!(extend(&cert, Some(DAY), None, at(4)).is_ok());
    }

    /// Every subkey that makes signatures of any kind (signing,
    /// certification, authentication, as sequoia's key generation counts
    /// them) gets a fresh back-signature in its new binding, one that
    /// verifies; an encryption subkey gets none.
    #[test]
    fn extend_gives_every_signature_making_subkey_a_back_signature() {
        let (cert, _) = CertBuilder::new()
            .set_creation_time(at(0))
            .add_userid("host1")
            .add_authentication_subkey()
            .add_signing_subkey()
            .add_storage_encryption_subkey()
            .generate()
            .unwrap();
        let extended = extend(&cert, Some(DAY * 365), None, at(20)).unwrap();
        let policy = crate::policy::standard_at(at(21));
        let valid = extended.with_policy(&policy, at(21)).unwrap();
        let primary = extended.primary_key().key();
        let mut seen = Vec::new();
        for ka in valid.keys().subkeys() {
            let binding = ka.binding_signature();
            assert_eq!(binding.signature_creation_time(), Some(at(20)));
            let backsigs: Vec<_> = binding.embedded_signatures().collect();
            if ka.for_storage_encryption() {
                assert!(
                    backsigs.is_empty(),
                    "an encryption subkey signs nothing back"
                );
            } else {
                let [backsig] = backsigs[..] else {
                    panic!("{} back-signatures", backsigs.len());
                };
                assert_eq!(backsig.signature_creation_time(), Some(at(20)));
                backsig
                    .clone()
                    .verify_primary_key_binding(primary, ka.key())
                    .expect("the back-signature verifies");
            }
            seen.push((
                ka.for_authentication(),
                ka.for_signing(),
                ka.for_storage_encryption(),
            ));
        }
        seen.sort();
        assert_eq!(
            seen,
            [
                (false, false, true),
                (false, true, false),
                (true, false, false)
            ]
        );
    }

    /// extend re-signs every user ID and keeps the one that was primary.
    #[test]
    fn extend_keeps_the_primary_user_id() {
        let (cert, _) = CertBuilder::new()
            .set_creation_time(at(0))
            .add_userid("first, the primary")
            .add_userid("second")
            .set_validity_period(DAY * 30)
            .add_storage_encryption_subkey()
            .generate()
            .unwrap();
        let primary = |cert: &Cert, now| {
            let policy = crate::policy::standard_at(now);
            let valid = cert.with_policy(&policy, now).unwrap();
            valid.primary_userid().unwrap().userid().clone()
        };
        assert_eq!(primary(&cert, at(20)).value(), b"first, the primary");
        let extended = extend(&cert, Some(DAY * 365), None, at(20)).unwrap();
        assert_eq!(
            primary(&extended, at(100)).value(),
            b"first, the primary",
            "after extend"
        );
    }

    /// A signing subkey's new binding carries the subkey's own signature
    /// back over the primary (RFC 9580 5.2.1); without it the subkey would
    /// no longer count as able to sign once the old binding expired.
    #[test]
    fn extend_keeps_a_signing_key_able_to_sign() {
        let key = generate(KeygenPlan {
            signing: true,
            user_id: "host1".into(),
            algorithm: KeyAlgorithm::Cv25519,
            validity: Some(DAY * 30),
            passphrase: None,
            now: at(0),
        })
        .unwrap();
        let extended = extend(&key.cert, Some(DAY * 365), None, at(20)).unwrap();
        let later = at(100);
        let signing =
            crate::policy::check_signing_cert(&extended, &crate::policy::standard_at(later), later)
                .expect("the extended key signs");
        assert_eq!(signing, signing_subkeys(&extended, later));
        assert_eq!(signing.len(), 1);
    }
}
