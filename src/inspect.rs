//! Who can open a backup, without any secret key: the recipients of its key
//! packets, matched against the pinned certs of the config (and any other
//! certs the admin names, e.g. retired keys), the container format, the
//! size, and whether it conforms to the current recipient policy.
//!
//! The cipher and the compression live inside the encryption; they are
//! reported only when a secret key is given (`inspect --key`), which opens
//! the start of the message and nothing more.

use std::fmt::Write as _;
use std::io::{Cursor, Read};
use std::path::Path;

use openpgp::packet::PKESK;
use openpgp::{Cert, Fingerprint, KeyHandle, KeyID};
use sequoia_openpgp as openpgp;
use serde::Serialize;

use crate::config::Config;
use crate::decrypt::{self, MessageFacts};
use crate::error::{Error, Result};
use crate::format::envelope::{read_envelope, read_failure, Envelope};
use crate::keys::{self, SecretKeyring};

/// A cert inspect can name recipients by.
#[derive(Debug, Clone)]
pub struct KnownCert {
    pub name: String,
    pub cert: Cert,
    /// Pinned in the current config (a current recipient).
    pub pinned: bool,
    pub required: bool,
}

/// The certs inspect knows: the config's pinned ones, then any others.
#[derive(Debug, Clone, Default)]
pub struct KnownCerts {
    pub certs: Vec<KnownCert>,
    /// Whether a config (a current policy) was loaded.
    pub have_policy: bool,
}

impl KnownCerts {
    /// The pinned recipients of `config`. A cert that does not match its pin
    /// is a config error here as it is for encrypt.
    pub fn from_config(config: &Config) -> Result<Self> {
        let mut known = KnownCerts {
            certs: Vec::new(),
            have_policy: true,
        };
        for pinned in &config.recipients {
            let cert = keys::load_cert(&pinned.cert)?;
            let pin = crate::config::normalize_fingerprint(&pinned.fingerprint);
            if cert.fingerprint().to_hex() != pin {
                return Err(Error::config(
                    &config.path,
                    format!(
                        "recipient '{}': cert {} has fingerprint {}, not the pinned {}",
                        pinned.name,
                        pinned.cert.display(),
                        cert.fingerprint(),
                        pin
                    ),
                ));
            }
            known.certs.push(KnownCert {
                name: pinned.name.clone(),
                cert,
                pinned: true,
                required: pinned.required,
            });
        }
        Ok(known)
    }

    /// Add the certs in `path` (e.g. retired keys) as known but not pinned.
    pub fn add_file(&mut self, path: &Path) -> Result<()> {
        let bytes = std::fs::read(path)
            .map_err(|e| Error::io(format!("cannot read cert file {}", path.display()), e))?;
        let certs = keys::parse_certs(&bytes).map_err(|e| {
            Error::Key(format!(
                "{} holds no readable OpenPGP cert: {e}",
                path.display()
            ))
        })?;
        let stem = path
            .file_name()
            .map_or("cert".into(), |n| n.to_string_lossy().into_owned());
        for cert in certs {
            self.certs.push(KnownCert {
                name: stem.clone(),
                cert,
                pinned: false,
                required: false,
            });
        }
        Ok(())
    }

    /// The cert and (sub)key a key ID belongs to. Pinned certs win.
    fn lookup(&self, id: &KeyID) -> Option<(&KnownCert, Fingerprint)> {
        self.certs.iter().find_map(|known| {
            known
                .cert
                .keys()
                .map(|ka| ka.key().fingerprint())
                .find(|fpr| KeyID::from(fpr) == *id)
                .map(|fpr| (known, fpr))
        })
    }
}

/// One recipient of a backup (one PKESK packet).
#[derive(Debug, Clone, Serialize)]
pub struct Recipient {
    /// The key ID in the packet; None for an anonymous ("wildcard") recipient.
    pub key_id: Option<String>,
    /// The key packet's version (3 in what sealpipe and gpg 2.2 write).
    pub pkesk_version: u8,
    pub algorithm: String,
    /// The (sub)key's fingerprint, when its cert is known.
    pub key_fingerprint: Option<String>,
    pub cert_fingerprint: Option<String>,
    /// The pinned name, or the cert file it came from.
    pub name: Option<String>,
    /// A current recipient of the config.
    pub pinned: bool,
    pub required: bool,
}

/// What opening the start of the message told (needs a secret key).
#[derive(Debug, Clone, Serialize)]
pub struct Opened {
    pub cipher: Option<String>,
    pub compression: String,
    pub opened_by_cert: Option<String>,
}

/// Whether the backup matches the current recipient policy.
#[derive(Debug, Clone, Serialize)]
pub struct Conformance {
    pub conforms: bool,
    /// Why not, one line each.
    pub problems: Vec<String>,
    /// Pinned, not required recipients this backup is not encrypted to
    /// (normal for `encrypt --recipient`).
    pub not_included: Vec<String>,
}

/// Everything inspect says about one backup.
#[derive(Debug, Clone, Serialize)]
pub struct Inspection {
    pub file: String,
    pub size: Option<u64>,
    pub armored: bool,
    pub container: String,
    pub seipd_version: Option<u8>,
    pub passphrase_packets: usize,
    pub recipients: Vec<Recipient>,
    pub opened: Option<Opened>,
    /// Why `--key` did not open it (none of the given keys is a recipient,
    /// or a passphrase is missing); the recipients above still say who can.
    pub not_opened: Option<String>,
    pub policy: Option<Conformance>,
}

/// Inspect one backup. `size` is the file size when known (a regular
/// file); otherwise the input is read to its end and counted.
pub fn inspect<R: Read + Send + Sync>(
    name: &str,
    input: R,
    size: Option<u64>,
    known: &KnownCerts,
    keyring: Option<&SecretKeyring>,
) -> Result<Inspection> {
    let (envelope, mut rest) = read_envelope(input)?;
    let recipients: Vec<Recipient> = envelope
        .pkesks
        .iter()
        .map(|pkesk| describe(pkesk, known))
        .collect();
    let policy = known
        .have_policy
        .then(|| conformance(&envelope, &recipients, known));

    let head = [
        envelope.key_packets.as_slice(),
        envelope.data_head.as_slice(),
    ]
    .concat();
    // A key that cannot open this backup is an answer for an audit (which
    // tape needs which key), not a failure; damage still is one.
    let (opened, not_opened) = match keyring {
        Some(keyring) => match decrypt::peek(keyring, Cursor::new(head).chain(&mut rest)) {
            Ok(facts) => (Some(opened(&facts)), None),
            Err(Error::Key(reason)) => (None, Some(reason)),
            Err(e) => return Err(e),
        },
        None => (None, None),
    };
    let size = match size {
        Some(size) => Some(size),
        None => {
            let head_len = (envelope.key_packets.len() + envelope.data_head.len()) as u64;
            let rest_len = std::io::copy(&mut rest, &mut std::io::sink())
                .map_err(|e| read_failure(e, "inside the encrypted data"))?;
            (keyring.is_none() && !envelope.armored).then_some(head_len + rest_len)
        }
    };

    Ok(Inspection {
        file: name.to_string(),
        size,
        armored: envelope.armored,
        container: envelope.container(),
        seipd_version: envelope.data_version,
        passphrase_packets: envelope.skesk_count,
        recipients,
        opened,
        not_opened,
        policy,
    })
}

fn describe(pkesk: &PKESK, known: &KnownCerts) -> Recipient {
    let key_id = match pkesk.recipient() {
        Some(KeyHandle::KeyID(id)) => Some(id.clone()),
        Some(KeyHandle::Fingerprint(fpr)) => Some(KeyID::from(fpr)),
        None => None,
    };
    let found = key_id.as_ref().and_then(|id| known.lookup(id));
    Recipient {
        key_id: key_id.as_ref().map(KeyID::to_hex),
        pkesk_version: pkesk.version(),
        algorithm: pkesk.pk_algo().to_string(),
        key_fingerprint: found.as_ref().map(|(_, fpr)| fpr.to_hex()),
        cert_fingerprint: found.as_ref().map(|(k, _)| k.cert.fingerprint().to_hex()),
        name: found.as_ref().map(|(k, _)| k.name.clone()),
        pinned: found.as_ref().is_some_and(|(k, _)| k.pinned),
        required: found.as_ref().is_some_and(|(k, _)| k.required),
    }
}

fn opened(facts: &MessageFacts) -> Opened {
    Opened {
        cipher: facts.cipher.map(|c| c.to_string()),
        compression: facts.compression_name(),
        opened_by_cert: facts.opened_by.as_ref().map(|o| o.cert.to_hex()),
    }
}

/// The current policy: every required recipient can open the backup, no key
/// that is not pinned any more can, and the container is what sealpipe writes.
fn conformance(envelope: &Envelope, recipients: &[Recipient], known: &KnownCerts) -> Conformance {
    let mut problems = Vec::new();
    let mut not_included = Vec::new();
    let opens = |cert: &Cert| {
        let fpr = cert.fingerprint().to_hex();
        recipients
            .iter()
            .any(|r| r.cert_fingerprint.as_deref() == Some(fpr.as_str()))
    };
    for pinned in known.certs.iter().filter(|k| k.pinned) {
        if opens(&pinned.cert) {
            continue;
        }
        if pinned.required {
            problems.push(format!(
                "not readable by required recipient '{}' ({})",
                pinned.name,
                pinned.cert.fingerprint()
            ));
        } else {
            not_included.push(pinned.name.clone());
        }
    }
    let stale: Vec<String> = recipients
        .iter()
        .filter(|r| !r.pinned)
        .map(|r| match (&r.name, &r.key_id) {
            (Some(name), Some(id)) => format!("'{name}' (key ID {id})"),
            (None, Some(id)) => format!("unknown key ID {id}"),
            (_, None) => "an anonymous recipient".into(),
        })
        .collect();
    if !stale.is_empty() {
        if recipients.iter().any(|r| r.pinned) {
            problems.push(format!(
                "also readable by keys that are no longer pinned: {}",
                stale.join(", ")
            ));
        } else {
            problems.push(format!(
                "only decryptable by keys that are no longer pinned: {}; \
                 rekey it (sealpipe rekey) while one of those secret keys still exists",
                stale.join(", ")
            ));
        }
    }
    if envelope.data_version != Some(1) || envelope.data_tag != openpgp::packet::Tag::SEIP {
        problems.push(format!(
            "container is {}, not what sealpipe writes (SEIPD v1)",
            envelope.container()
        ));
    }
    if envelope.skesk_count > 0 {
        problems.push("also decryptable with a passphrase (SKESK packet)".into());
    }
    Conformance {
        conforms: problems.is_empty(),
        problems,
        not_included,
    }
}

/// The human-readable report.
pub fn render_text(report: &Inspection) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}:", report.file);
    match report.size {
        Some(size) => {
            let _ = writeln!(out, "  size:        {size} bytes");
        }
        None => {
            let _ = writeln!(out, "  size:        unknown");
        }
    }
    let armor = if report.armored {
        ", ASCII armored"
    } else {
        ""
    };
    let _ = writeln!(out, "  format:      OpenPGP, {}{armor}", report.container);
    match &report.opened {
        Some(o) => {
            let cipher = o.cipher.as_deref().unwrap_or("unknown");
            let _ = writeln!(out, "  cipher:      {cipher}");
            let _ = writeln!(out, "  compression: {}", o.compression);
        }
        None if report.not_opened.is_some() => {
            let reason = report.not_opened.as_deref().unwrap_or_default();
            let _ = writeln!(out, "  cipher:      (not opened: {reason})");
            let _ = writeln!(out, "  compression: (not opened)");
        }
        None => {
            let _ = writeln!(
                out,
                "  cipher:      (inside the encryption; give --key to see it)"
            );
            let _ = writeln!(
                out,
                "  compression: (inside the encryption; give --key to see it)"
            );
        }
    }
    let _ = writeln!(out, "  recipients:");
    for r in &report.recipients {
        let who = match (&r.name, r.pinned, r.required) {
            (Some(name), true, true) => format!("{name} (pinned, required)"),
            (Some(name), true, false) => format!("{name} (pinned)"),
            (Some(name), false, _) => format!("{name} (known, not pinned)"),
            (None, ..) => "unknown key".into(),
        };
        let id = match (&r.cert_fingerprint, &r.key_id) {
            (Some(fpr), _) => format!("cert {fpr}"),
            (None, Some(id)) => format!("key ID {id}"),
            (None, None) => "anonymous key ID".into(),
        };
        let _ = writeln!(
            out,
            "    {who:<28} {id} {} (PKESK v{})",
            r.algorithm, r.pkesk_version
        );
    }
    if report.passphrase_packets > 0 {
        let _ = writeln!(
            out,
            "    + {} passphrase packet(s)",
            report.passphrase_packets
        );
    }
    if let Some(p) = &report.policy {
        if p.conforms {
            let _ = writeln!(out, "  policy:      conforms to the current config");
        } else {
            let _ = writeln!(out, "  policy:      DOES NOT CONFORM to the current config");
            for problem in &p.problems {
                let _ = writeln!(out, "    - {problem}");
            }
        }
        if !p.not_included.is_empty() {
            let _ = writeln!(
                out,
                "  not encrypted to (optional): {}",
                p.not_included.join(", ")
            );
        }
    }
    out
}
