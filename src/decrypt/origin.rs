//! Origin: who signed a backup, and whether that signer may have written it.
//!
//! Encryption proves nothing about origin (the recipients' certs are
//! public), so a restore that must only accept what its own hosts wrote
//! checks the signature inside the encryption against an allowed-signers
//! list (`[decrypt] allowed_signers`, the format of gpg 2.4's
//! `--assert-signer` file) and the signers' certs (`[decrypt]
//! signer_certs`).
//!
//! Both readers hand the literal body through [`copy_plaintext`]
//! (super), which hashes it for every one-pass signature seen by
//! [`MessageFacts::observe`]; the verdict is given once, here, after the
//! whole message is read and its MDC checked, so the readers cannot
//! disagree and damage is never reported as anything but damage.
//!
//! [`copy_plaintext`]: super::copy_plaintext
//! [`MessageFacts::observe`]: super::MessageFacts

use std::fmt;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use openpgp::crypto::hash::Context;
use openpgp::packet::key::{KeyParts, KeyRole};
use openpgp::packet::{Key, Signature};
use openpgp::policy::{HashAlgoSecurity, Policy};
use openpgp::serialize::MarshalInto;
use openpgp::types::{HashAlgorithm, SignatureType};
use openpgp::{Cert, Fingerprint, KeyHandle};
use sequoia_openpgp as openpgp;

use crate::error::{ConfigProblem, Error, Result};
use crate::keys::files::{Role, TrustedFile};
use crate::policy;
use crate::time::format_utc;
use sha2::{Digest, Sha256};

/// The fingerprints a backup's signer must be one of, as listed in an
/// allowed-signers file: one per line, compact hex (gpg's form), `#`
/// comments and blank lines ignored. A listed fingerprint matches the
/// signer's primary key or the subkey that signed, as gpg's
/// `--assert-signer` does. Where gpg would silently never match a line
/// (spaces inside, a trailing comment), it is an error here: a list must
/// not hold an entry that looks like a signer and admits none.
#[derive(Debug, Clone)]
pub struct AllowedSigners {
    pub path: PathBuf,
    pub fingerprints: Vec<Fingerprint>,
}

impl AllowedSigners {
    /// Read the file as a trusted file (opened once, checked through the
    /// descriptor).
    pub fn load(path: &Path) -> Result<AllowedSigners> {
        let file = TrustedFile::read(path, Role::Config)?;
        let text = std::str::from_utf8(&file.bytes).map_err(|_| Error::Config {
            path: path.to_path_buf(),
            line: None,
            problem: ConfigProblem::NotUtf8,
        })?;
        Self::parse(path, text)
    }

    /// Parse the text of an allowed-signers file read from `path`.
    pub fn parse(path: &Path, text: &str) -> Result<AllowedSigners> {
        let mut fingerprints = Vec::new();
        for (i, line) in text.lines().enumerate() {
            // ASCII blanks only, as C's isspace() in gpg: a no-break space
            // pasted from a web page would make gpg's line differ from ours.
            let line = line.trim_matches(|c: char| c.is_ascii_whitespace());
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let compact = line.len() == 40 && line.chars().all(|c| c.is_ascii_hexdigit());
            // 40 hex digits always parse (as a v4 fingerprint): one refusal
            // covers both checks.
            let fingerprint = match line.parse::<Fingerprint>() {
                Ok(fingerprint) if compact => fingerprint,
                _ => {
                    return Err(Error::Config {
                        path: path.to_path_buf(),
                        line: Some(i + 1),
                        problem: ConfigProblem::Described(format!(
                            "'{line}' is not a fingerprint: an allowed-signers line is the 40 hex \
                             digits of a v4 key without spaces (gpg --assert-signer's form), \
                             a # comment, or blank"
                        )),
                    })
                }
            };
            fingerprints.push(fingerprint);
        }
        Ok(AllowedSigners {
            path: path.to_path_buf(),
            fingerprints,
        })
    }

    fn allows(&self, signer: &Fingerprint, key: &Fingerprint) -> bool {
        self.fingerprints.iter().any(|f| f == signer || f == key)
    }
}

/// What decrypt checks signatures against: the signers' certs, and the
/// list a signer must be on (if any).
#[derive(Debug, Clone, Default)]
pub struct SignerCheck {
    pub certs: Vec<Cert>,
    pub allowed: Option<AllowedSigners>,
}

impl SignerCheck {
    /// Every listed signer needs its cert, or every backup it signed would
    /// be refused as signed by an unknown key: said once, at the start.
    pub fn new(certs: Vec<Cert>, allowed: Option<AllowedSigners>) -> Result<SignerCheck> {
        if let Some(allowed) = &allowed {
            for listed in &allowed.fingerprints {
                let known = certs
                    .iter()
                    .any(|c| c.keys().any(|k| &k.key().fingerprint() == listed));
                if !known {
                    return Err(Error::config(
                        &allowed.path,
                        format!(
                            "allowed signer {listed} has no cert: add its cert file \
                             (keygen --sign's --cert-out) to [decrypt] signer_certs \
                             or give --signer-cert"
                        ),
                    ));
                }
            }
        }
        Ok(SignerCheck { certs, allowed })
    }

    fn cert_for(&self, issuers: &[KeyHandle]) -> Option<&Cert> {
        self.certs.iter().find(|c| {
            c.keys()
                .any(|k| issuers.iter().any(|i| i.aliases(k.key().key_handle())))
        })
    }
}

/// The literal body's hashes, one per hash algorithm the one-pass
/// signatures announce; filled while the body streams.
#[derive(Clone, Default)]
pub struct LiteralDigests {
    hashes: Vec<BodyHash>,
}

/// One running hash of the literal body. SHA-256, what sealpipe signs
/// with, goes through the sha2 crate: with SHA-NI it hashes about 8%
/// faster than nettle here, and a verified restore is bound by this hash
/// (docs/performance.md). Any other algorithm goes through sequoia.
#[derive(Clone)]
enum BodyHash {
    Sha256(Sha256),
    Other(Context),
}

impl BodyHash {
    fn algo(&self) -> HashAlgorithm {
        match self {
            BodyHash::Sha256(_) => HashAlgorithm::SHA256,
            BodyHash::Other(context) => context.algo(),
        }
    }

    fn update(&mut self, data: &[u8]) {
        match self {
            BodyHash::Sha256(hash) => hash.update(data),
            BodyHash::Other(context) => context.update(data),
        }
    }

    /// Check a v4 signature over this body with `key`.
    fn verify<P: KeyParts, R: KeyRole>(
        &self,
        sig: &Signature,
        key: &Key<P, R>,
    ) -> openpgp::Result<()> {
        match self {
            BodyHash::Sha256(body) => {
                sig.verify_digest(key, v4_signature_digest(body.clone(), sig)?)
            }
            BodyHash::Other(context) => sig.verify_hash(key, context.clone()),
        }
    }
}

/// The digest a v4 signature signs (RFC 9580 5.2.4): the body's hash
/// continued over the signature's version, type, algorithms and hashed
/// subpackets, then the trailer `04 FF` and the length of what was hashed
/// of the packet. The same bytes sequoia's `verify_hash` feeds its own
/// contexts; a differential test holds the two together.
fn v4_signature_digest(mut hash: Sha256, sig: &Signature) -> openpgp::Result<Vec<u8>> {
    let area = sig.hashed_area().to_vec()?;
    // A parsed hashed area came with a two-byte length.
    let area_len = u16::try_from(area.len())?;
    hash.update([
        4,
        sig.typ().into(),
        sig.pk_algo().into(),
        sig.hash_algo().into(),
    ]);
    hash.update(area_len.to_be_bytes());
    hash.update(&area);
    hash.update([4, 0xff]);
    hash.update((6 + u32::from(area_len)).to_be_bytes());
    Ok(hash.finalize().to_vec())
}

impl fmt::Debug for LiteralDigests {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let algos: Vec<HashAlgorithm> = self.hashes.iter().map(BodyHash::algo).collect();
        f.debug_struct("LiteralDigests")
            .field("algos", &algos)
            .finish()
    }
}

impl LiteralDigests {
    /// Fresh hashes for these algorithms (one each; one sequoia cannot
    /// hash leaves its signature unverifiable: a bad signature).
    pub(super) fn for_algos(algos: &[HashAlgorithm]) -> LiteralDigests {
        let mut hashes: Vec<BodyHash> = Vec::new();
        for algo in algos {
            if hashes.iter().any(|h| h.algo() == *algo) {
                continue;
            }
            if *algo == HashAlgorithm::SHA256 {
                hashes.push(BodyHash::Sha256(Sha256::new()));
            } else if let Ok(builder) = algo.context() {
                hashes.push(BodyHash::Other(builder.for_signature(4)));
            }
        }
        LiteralDigests { hashes }
    }

    /// True when no one-pass signature asked for a hash.
    pub(super) fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    pub(super) fn update(&mut self, data: &[u8]) {
        self.hashes.iter_mut().for_each(|h| h.update(data));
    }

    fn get(&self, algo: HashAlgorithm) -> Option<&BodyHash> {
        self.hashes.iter().find(|h| h.algo() == algo)
    }
}

/// Hashes everything read through it into the literal digests.
pub(super) struct SignedBody<'d, R> {
    pub inner: R,
    pub digests: &'d mut LiteralDigests,
}

impl<R: Read> Read for SignedBody<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.digests.update(&buf[..n]);
        Ok(n)
    }
}

/// A signature packet as found inside the encryption.
#[derive(Debug, Clone)]
pub(super) enum Found {
    Parsed(Box<Signature>),
    /// A signature packet that does not parse (inside an intact MDC: made
    /// so by whoever encrypted the message).
    Unparsable,
}

/// One signature's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureVerdict {
    /// Verified against a known cert whose signing key was valid at the
    /// signature's creation time.
    Good {
        signer: Fingerprint,
        key: Fingerprint,
        created: SystemTime,
    },
    /// No cert is known for the issuer: not checked.
    Unknown { issuer: String },
    /// The signature does not verify (or cannot be checked at all).
    Bad { issuer: String, why: String },
    /// Verifies, but the signer's key was not valid at the signature's
    /// creation time (revoked, expired, weak).
    SignerRefused {
        signer: Fingerprint,
        created: SystemTime,
        why: String,
    },
    /// A kind of signature sealpipe does not check (a text-mode one):
    /// refused like a bad one, without claiming the data was altered.
    Unsupported { issuer: String, why: &'static str },
}

impl fmt::Display for SignatureVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignatureVerdict::Good {
                signer, created, ..
            } => write!(
                f,
                "good signature by {signer} made {}",
                format_utc(*created)
            ),
            SignatureVerdict::Unknown { issuer } => {
                write!(
                    f,
                    "signed by unknown key {issuer} (no cert for it: not checked)"
                )
            }
            SignatureVerdict::Bad { issuer, why } => {
                write!(f, "BAD signature claiming key {issuer} ({why})")
            }
            SignatureVerdict::SignerRefused {
                signer,
                created,
                why,
            } => write!(
                f,
                "signature by {signer} made {}, when that key was not valid: {why}",
                format_utc(*created)
            ),
            SignatureVerdict::Unsupported { issuer, why } => {
                write!(f, "signature by key {issuer}: {why}")
            }
        }
    }
}

/// Every signature's verdict, in the order the packets came.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    pub signatures: Vec<SignatureVerdict>,
}

/// Why a backup's origin is refused (exit code 10).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OriginProblem {
    /// `allowed_signers` is set and the backup carries no signature.
    #[error(
        "the backup is not signed, but {allowed} lists the only signers accepted: \
         it was not written by a listed host (made with plain gpg -e?); do not restore it"
    )]
    Unsigned { allowed: String },
    /// No good signature by a listed signer.
    #[error(
        "the backup is not signed by a signer listed in {allowed} (found: {found}); \
         do not restore it unless you know who made it"
    )]
    NotAllowed { allowed: String, found: String },
    /// A signature that was checked and failed, or whose signer was not
    /// valid when it was made: refused whether or not a list is set.
    #[error(
        "the backup's signature is refused: {found}; it was altered or forged \
         (or its signer's key was revoked or expired): do not restore it"
    )]
    BadSignature { found: String },
    /// Every failed signature is of a kind sealpipe does not check.
    #[error("the backup's signature is refused: {found}")]
    UnsupportedSignature { found: String },
}

impl Origin {
    /// The verdict the run must honour: a bad signature always fails; with
    /// an allowed-signers list, so does anything but a good signature by a
    /// listed signer.
    pub fn require(&self, check: &SignerCheck) -> std::result::Result<(), OriginProblem> {
        let failed: Vec<&SignatureVerdict> = self
            .signatures
            .iter()
            .filter(|v| {
                matches!(
                    v,
                    SignatureVerdict::Bad { .. }
                        | SignatureVerdict::SignerRefused { .. }
                        | SignatureVerdict::Unsupported { .. }
                )
            })
            .collect();
        if !failed.is_empty() {
            let found = failed
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ");
            let unsupported =
                |v: &&SignatureVerdict| matches!(v, SignatureVerdict::Unsupported { .. });
            return Err(match failed.iter().all(unsupported) {
                true => OriginProblem::UnsupportedSignature { found },
                false => OriginProblem::BadSignature { found },
            });
        }
        let Some(allowed) = &check.allowed else {
            return Ok(());
        };
        let listed = self.signatures.iter().any(|v| match v {
            SignatureVerdict::Good { signer, key, .. } => allowed.allows(signer, key),
            _ => false,
        });
        match (listed, self.signatures.is_empty()) {
            (true, _) => Ok(()),
            (false, true) => Err(OriginProblem::Unsigned {
                allowed: allowed.path.display().to_string(),
            }),
            (false, false) => Err(OriginProblem::NotAllowed {
                allowed: allowed.path.display().to_string(),
                found: self
                    .signatures
                    .iter()
                    .map(|v| match v {
                        SignatureVerdict::Good { signer, .. } => {
                            format!("good signature by {signer}, which is not listed")
                        }
                        other => other.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join("; "),
            }),
        }
    }
}

/// Judge every signature found, against the literal body's digests and the
/// known certs, with the policy of `now` (which hash algorithms are
/// acceptable) and each signer's validity at its signature's creation
/// time.
pub(super) fn judge(
    found: &[Found],
    digests: &LiteralDigests,
    check: &SignerCheck,
    now: SystemTime,
) -> Origin {
    let signatures = found
        .iter()
        .map(|f| match f {
            Found::Parsed(sig) => judge_one(sig, digests, check, now),
            Found::Unparsable => SignatureVerdict::Bad {
                issuer: "?".into(),
                why: "the signature packet does not parse".into(),
            },
        })
        .collect();
    Origin { signatures }
}

fn judge_one(
    sig: &Signature,
    digests: &LiteralDigests,
    check: &SignerCheck,
    now: SystemTime,
) -> SignatureVerdict {
    let issuers = sig.get_issuers();
    let issuer = issuers
        .first()
        .map(|i| i.to_hex())
        .unwrap_or_else(|| "(none named)".into());
    let bad = |why: String| SignatureVerdict::Bad {
        issuer: issuer.clone(),
        why,
    };
    let Some(cert) = check.cert_for(&issuers) else {
        return SignatureVerdict::Unknown { issuer };
    };
    // A text signature hashes the body with its line ends made CRLF
    // (RFC 4880 5.2.1): sequoia keeps that hashing to itself, and it would
    // hold whatever a body's line ends were changed to. Not checked.
    match sig.typ() {
        SignatureType::Binary => {}
        SignatureType::Text => {
            return SignatureVerdict::Unsupported {
                issuer,
                why: "text-mode signature (gpg --textmode) is not supported; sign in binary mode",
            }
        }
        other => {
            return bad(format!(
                "a {other} signature; backups are signed as binary documents"
            ))
        }
    }
    let Some(created) = sig.signature_creation_time() else {
        return bad("it has no creation time".into());
    };
    let standard = policy::standard_at(now);
    if let Err(e) = standard.signature(sig, HashAlgoSecurity::CollisionResistance) {
        return bad(format!("refused by the standard policy: {e}"));
    }
    // The body was hashed as v4 signatures hash it (and v3 ones are
    // obsolete, v6 ones need v6 keys).
    if sig.version() != 4 {
        return bad(format!(
            "a version {} signature; sealpipe and gpg sign with version 4",
            sig.version()
        ));
    }
    let Some(body) = digests.get(sig.hash_algo()) else {
        return bad(format!(
            "no one-pass signature packet announced its hash {}",
            sig.hash_algo()
        ));
    };
    let Some(key) = cert
        .keys()
        .map(|k| k.key())
        .find(|k| issuers.iter().any(|i| i.aliases(k.key_handle())))
    else {
        return bad("its issuer is not a key of the cert".into());
    };
    if let Err(e) = body.verify(sig, key) {
        return bad(format!(
            "does not verify against {}: {e}",
            key.fingerprint()
        ));
    }
    // Valid at the time it claims: a signing key retired later still
    // vouches for what it signed before; one revoked for compromise never.
    let at_signing = policy::standard_at(created);
    let refused = |why: String| SignatureVerdict::SignerRefused {
        signer: cert.fingerprint(),
        created,
        why,
    };
    match policy::check_signing_cert(cert, &at_signing, created) {
        Err(problem) => refused(problem.to_string()),
        Ok(keys) if !keys.contains(&key.fingerprint()) => refused(format!(
            "key {} was not a valid signing key of that cert then",
            key.fingerprint()
        )),
        Ok(_) => SignatureVerdict::Good {
            signer: cert.fingerprint(),
            key: key.fingerprint(),
            created,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_signers_file_is_gpg_assert_signer_form() {
        let fpr = "0123456789ABCDEF0123456789ABCDEF01234567";
        // Blank and `#` lines ignored, ASCII blanks around a line trimmed,
        // hex in either case, CRLF line ends: what gpg reads alike.
        let text = format!("# hosts\r\n\n \t\n  {}  \r\n\t# end\n", fpr.to_lowercase());
        let parsed = AllowedSigners::parse(Path::new("/etc/a"), &text).unwrap();
        assert_eq!(parsed.fingerprints, vec![fpr.parse().unwrap()]);
        // Lines gpg would never match: errors, not silently dead entries.
        for bad in [
            "0123 4567 89AB CDEF 0123  4567 89AB CDEF 0123 4567".to_string(),
            "ABCD".into(),
            "zz".into(),
            format!("{fpr} # host1"),
            format!("0x{}", &fpr[2..]),
            format!("\u{a0}{fpr}"),
            format!("{fpr}\u{2003}"),
        ] {
            let text = format!("# hosts\n{fpr}\n{bad}\n");
            let err = AllowedSigners::parse(Path::new("/etc/a"), &text).unwrap_err();
            assert_eq!(err.exit_code(), crate::error::exit::CONFIG);
            assert!(err.to_string().starts_with("/etc/a line 3: "), "{err}");
        }
    }

    /// Our SHA-256 path and sequoia's `verify_hash` must hash the same
    /// bytes: the same digest for short and long (two-byte length) hashed
    /// areas, and the same verdict on the signed body and on another.
    #[test]
    fn v4_digest_matches_sequoia() {
        use openpgp::cert::CertBuilder;
        use openpgp::crypto::hash::Hash;
        use openpgp::packet::signature::subpacket::NotationDataFlags;
        use openpgp::packet::signature::SignatureBuilder;
        use openpgp::policy::StandardPolicy;

        let (cert, _) = CertBuilder::new().add_signing_subkey().generate().unwrap();
        let standard = StandardPolicy::new();
        let key = cert
            .with_policy(&standard, None)
            .unwrap()
            .keys()
            .secret()
            .for_signing()
            .next()
            .unwrap()
            .key()
            .clone();
        let mut signer = key.clone().into_keypair().unwrap();
        let body = b"a backup body, signed as a binary document".repeat(1000);
        let flags = NotationDataFlags::empty().set_human_readable();
        for notation in [0, 300, 40_000] {
            let sig = SignatureBuilder::new(SignatureType::Binary)
                .set_hash_algo(HashAlgorithm::SHA256)
                .add_notation(
                    "note@sealpipe.test",
                    vec![b'x'; notation],
                    flags.clone(),
                    false,
                )
                .unwrap()
                .sign_message(&mut signer, &body)
                .unwrap();
            let ours = v4_signature_digest(Sha256::new_with_prefix(&body), &sig).unwrap();
            let mut theirs = HashAlgorithm::SHA256.context().unwrap().for_signature(4);
            theirs.update(&body);
            sig.hash(&mut theirs).unwrap();
            assert_eq!(ours, theirs.into_digest().unwrap(), "notation {notation}");

            for (data, good) in [(&body[..], true), (&body[1..], false)] {
                let mut digests = LiteralDigests::for_algos(&[HashAlgorithm::SHA256]);
                digests.update(data);
                let sequoias = HashAlgorithm::SHA256.context().unwrap().for_signature(4);
                let mut sequoias = BodyHash::Other(sequoias);
                sequoias.update(data);
                let hashes = [digests.get(HashAlgorithm::SHA256).unwrap(), &sequoias];
                for hash in hashes {
                    assert_eq!(hash.verify(&sig, &key).is_ok(), good, "notation {notation}");
                }
            }
        }
    }
}
