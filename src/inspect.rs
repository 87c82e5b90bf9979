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
use std::time::SystemTime;

use openpgp::cert::prelude::*;
use openpgp::packet::{Tag, PKESK};
use openpgp::policy::StandardPolicy;
use openpgp::types::RevocationStatus;
use openpgp::{Cert, Fingerprint, KeyHandle, KeyID};
use sequoia_openpgp as openpgp;
use serde::Serialize;

use crate::config::Config;
use crate::decrypt::{self, MessageFacts};
use crate::error::{Damage, Error, Result};
use crate::format::envelope::{read_envelope, read_failure, Envelope};
use crate::keys::{self, SecretKeyring};
use crate::policy::{check_cert, check_cipher, check_pin, Refusal};
use crate::rekey::{open_session, PROBE_SIZE};
use crate::time::format_utc;

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
    /// is refused here as encrypt refuses it (exit 4).
    pub fn from_config(config: &Config) -> Result<Self> {
        let mut known = KnownCerts {
            certs: Vec::new(),
            have_policy: true,
        };
        for pinned in &config.recipients {
            let cert = keys::load_cert(&pinned.cert)?;
            check_pin(pinned, &cert).map_err(|problem| Error::Policy {
                refusals: vec![Refusal::Recipient {
                    name: pinned.name.clone(),
                    fingerprint: pinned.fingerprint.clone(),
                    problem,
                }],
            })?;
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

/// Which question decides inspect's exit code.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Requirement {
    /// A current key of the config, and every required one (the escrow),
    /// can open the backup. Backups made before a rotation pass.
    #[default]
    Openable,
    /// Also written for exactly today's recipients: no key that is no
    /// longer pinned and no passphrase can open it.
    Exact,
}

/// Everything inspect needs besides the backups.
pub struct InspectPlan {
    pub known: KnownCerts,
    /// `--key`: open the start of each backup for its cipher and compression.
    pub keyring: Option<SecretKeyring>,
    pub require: Requirement,
    /// The policy time: key validity and the cipher rule are checked then.
    pub now: SystemTime,
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
    /// The pinned name, or the cert (or `--key`) file it came from.
    pub name: Option<String>,
    /// A current recipient of the config.
    pub pinned: bool,
    pub required: bool,
    /// Encrypt would use this key today (`policy::check_cert`).
    pub current: bool,
    /// Why encrypt would not use this key today (revoked, expired, ...),
    /// when its cert is known.
    pub not_current: Option<String>,
    /// When the key expires (UTC), or "never"; None when its cert is not
    /// known.
    pub expires: Option<String>,
    /// The `--key` that opened the backup is this one.
    pub opened_it: bool,
}

/// What opening the start of the message told (needs a secret key).
#[derive(Debug, Clone, Serialize)]
pub struct Opened {
    pub cipher: Option<String>,
    pub compression: String,
    pub opened_by_cert: Option<String>,
    pub opened_by_key: Option<String>,
    /// Why decrypt refuses the cipher (3DES, CAST5, IDEA), if it does.
    pub cipher_refused: Option<String>,
    /// The keys the one-pass signatures name (key IDs as the packets give
    /// them); empty when the backup is not signed, None when not seen (a
    /// refused cipher). Checked by decrypt and verify, not here.
    pub signed_by: Option<Vec<String>>,
}

/// Whether the backup matches the current recipient policy, as two
/// questions: can it be opened with today's keys, and was it written for
/// exactly today's recipients.
#[derive(Debug, Clone, Serialize)]
pub struct Conformance {
    /// The question that decides `conforms` (`--require`).
    pub require: Requirement,
    pub conforms: bool,
    /// A current key and every required key can open it, and sealpipe can.
    pub openable: bool,
    /// Openable, and written for exactly today's recipients.
    pub exact: bool,
    /// Why it is not openable, one line each (these fail both questions).
    pub problems: Vec<String>,
    /// Why it is not written for exactly today's recipients, beyond the
    /// problems (these fail `--require exact` only).
    pub differences: Vec<String>,
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
    plan: &InspectPlan,
) -> Result<Inspection> {
    let (envelope, mut rest) = read_envelope(input)?;
    let mut head = [
        envelope.key_packets.as_slice(),
        envelope.data_head.as_slice(),
    ]
    .concat();
    let head_len = head.len() as u64;
    // A key that cannot open this backup is an answer for an audit (which
    // tape needs which key), not a failure; damage still is one.
    let (opened, not_opened) = match &plan.keyring {
        Some(keyring) => {
            (&mut rest)
                .take(PROBE_SIZE)
                .read_to_end(&mut head)
                .map_err(|e| read_failure(e, "inside the encrypted data"))?;
            open_start(keyring, &envelope, &head, &mut rest, plan.now)?
        }
        None => (None, None),
    };
    let recipients: Vec<Recipient> = envelope
        .pkesks
        .iter()
        .map(|pkesk| describe(pkesk, plan, opened.as_ref()))
        .collect();
    let policy = plan
        .known
        .have_policy
        .then(|| conformance(&envelope, &recipients, opened.as_ref(), plan));
    let size = match size {
        Some(size) => Some(size),
        None => {
            let rest_len = std::io::copy(&mut rest, &mut std::io::sink())
                .map_err(|e| read_failure(e, "inside the encrypted data"))?;
            (plan.keyring.is_none() && !envelope.armored).then_some(head_len + rest_len)
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

/// Open the start of the message (`probe`, then `rest`) with `keyring`:
/// what it is, or why the keys do not open it. A cipher decrypt refuses is
/// reported as such, not as damage.
fn open_start<R: Read + Send + Sync>(
    keyring: &SecretKeyring,
    envelope: &Envelope,
    probe: &[u8],
    rest: R,
    now: SystemTime,
) -> Result<(Option<Opened>, Option<String>)> {
    let refused = |cipher: String, damage: Damage, by: Option<&decrypt::OpenedBy>| Opened {
        cipher: Some(cipher),
        compression: "unknown (the cipher is refused)".into(),
        opened_by_cert: by.map(|b| b.cert.to_hex()),
        opened_by_key: by.map(|b| b.key.to_hex()),
        cipher_refused: Some(damage.to_string()),
        signed_by: None,
    };
    match decrypt::peek(keyring, Cursor::new(probe).chain(rest)) {
        Ok(facts) => Ok((Some(opened(&facts, now)), None)),
        Err(Error::Key(reason)) => Ok((None, Some(reason))),
        // The stock reader refuses a legacy cipher as damage; tell which.
        Err(e @ Error::BadInput(_)) => match open_session(keyring, &envelope.pkesks, probe) {
            Ok((cipher, _, by)) => match check_cipher(cipher, now) {
                Err(damage) => Ok((Some(refused(cipher.to_string(), damage, Some(&by))), None)),
                Ok(()) => Err(e),
            },
            Err(Error::BadInput(Damage::UnsupportedCipher { cipher })) => {
                let damage = Damage::UnsupportedCipher {
                    cipher: cipher.clone(),
                };
                Ok((Some(refused(cipher, damage, None)), None))
            }
            Err(_) => Err(e),
        },
        Err(e) => Err(e),
    }
}

fn opened(facts: &MessageFacts, now: SystemTime) -> Opened {
    Opened {
        cipher: facts.cipher.map(|c| c.to_string()),
        compression: facts.compression_name(),
        opened_by_cert: facts.opened_by.as_ref().map(|o| o.cert.to_hex()),
        opened_by_key: facts.opened_by.as_ref().map(|o| o.key.to_hex()),
        cipher_refused: facts
            .cipher
            .and_then(|c| check_cipher(c, now).err())
            .map(|d| d.to_string()),
        signed_by: Some(facts.one_pass_issuers.iter().map(|i| i.to_hex()).collect()),
    }
}

fn describe(pkesk: &PKESK, plan: &InspectPlan, opened: Option<&Opened>) -> Recipient {
    let key_id = match pkesk.recipient() {
        Some(KeyHandle::KeyID(id)) => Some(id.clone()),
        Some(KeyHandle::Fingerprint(fpr)) => Some(KeyID::from(fpr)),
        None => None,
    };
    let opened_by_key = opened.and_then(|o| o.opened_by_key.as_deref());
    let mut recipient = Recipient {
        key_id: key_id.as_ref().map(KeyID::to_hex),
        pkesk_version: pkesk.version(),
        algorithm: pkesk.pk_algo().to_string(),
        key_fingerprint: None,
        cert_fingerprint: None,
        name: None,
        pinned: false,
        required: false,
        current: false,
        not_current: None,
        expires: None,
        opened_it: false,
    };
    let Some(id) = key_id else {
        return recipient;
    };
    if let Some((known, fpr)) = plan.known.lookup(&id) {
        let status = key_status(&known.cert, &fpr, plan.now);
        recipient.key_fingerprint = Some(fpr.to_hex());
        recipient.cert_fingerprint = Some(known.cert.fingerprint().to_hex());
        recipient.name = Some(known.name.clone());
        recipient.pinned = known.pinned;
        recipient.required = known.required;
        recipient.current = known.pinned && status.problem.is_none();
        recipient.not_current = status.problem;
        recipient.expires = Some(status.expires.map_or("never".into(), format_utc));
    } else if let Some(key) = plan
        .keyring
        .iter()
        .flat_map(|k| &k.keys)
        .find(|k| k.keyid() == id)
    {
        // Not in any cert given, but one of the --key files holds it.
        recipient.key_fingerprint = Some(key.key.fingerprint().to_hex());
        recipient.cert_fingerprint = Some(key.cert_fingerprint.to_hex());
        recipient.name = key
            .source
            .file_name()
            .map(|n| n.to_string_lossy().into_owned());
    }
    recipient.opened_it =
        opened_by_key.is_some() && recipient.key_fingerprint.as_deref() == opened_by_key;
    recipient
}

/// What encrypt's rules say about one key of a cert at `now`.
struct KeyStatus {
    /// Why encrypt would not use it; None if it would.
    problem: Option<String>,
    /// When it stops being usable (its own expiry or its cert's).
    expires: Option<SystemTime>,
}

fn key_status(cert: &Cert, fpr: &Fingerprint, now: SystemTime) -> KeyStatus {
    let policy = StandardPolicy::at(now);
    let valid = cert.with_policy(&policy, now).ok();
    let key = valid
        .as_ref()
        .and_then(|v| v.keys().find(|ka| ka.key().fingerprint() == *fpr));
    let cert_expiry = valid
        .as_ref()
        .and_then(|v| v.primary_key().key_expiration_time());
    let expires = match (
        key.as_ref().and_then(|ka| ka.key_expiration_time()),
        cert_expiry,
    ) {
        (Some(k), Some(c)) => Some(k.min(c)),
        (k, c) => k.or(c),
    };
    // This key's own state first: the cert's reason would be less exact
    // ("no valid encryption-capable subkey") when only this key is revoked.
    let key_problem = match &key {
        None => Some("is not valid under the standard policy".to_string()),
        Some(ka) if matches!(ka.revocation_status(), RevocationStatus::Revoked(_)) => {
            Some("is revoked".into())
        }
        Some(ka) if ka.alive().is_err() => Some(match expires {
            Some(t) => format!("expired on {}", format_utc(t)),
            None => "expired".into(),
        }),
        Some(_) => None,
    };
    let problem = key_problem.or_else(|| match check_cert(cert, &policy, now) {
        Err(reason) => Some(reason.to_string()),
        Ok(keys) if keys.contains(fpr) => None,
        Ok(_) => Some("is not an encryption key".into()),
    });
    KeyStatus { problem, expires }
}

/// The current policy, as two questions. Openable: a current key (a valid
/// key of a pinned cert, by encrypt's rules) and every required recipient
/// can open it, no revoked or expired key of a pinned cert can, and the
/// container and cipher are ones decrypt reads. Exact: also no key that is
/// no longer pinned and no passphrase.
fn conformance(
    envelope: &Envelope,
    recipients: &[Recipient],
    opened: Option<&Opened>,
    plan: &InspectPlan,
) -> Conformance {
    let mut problems = Vec::new();
    let mut differences = Vec::new();
    let mut not_included = Vec::new();
    let of_cert = |cert: &Cert| {
        let fpr = cert.fingerprint().to_hex();
        recipients
            .iter()
            .filter(move |r| r.cert_fingerprint.as_deref() == Some(fpr.as_str()))
    };
    for pinned in plan.known.certs.iter().filter(|k| k.pinned) {
        if of_cert(&pinned.cert).any(|r| r.current) {
            continue;
        }
        if pinned.required {
            problems.push(format!(
                "not readable by required recipient '{}' ({})",
                pinned.name,
                pinned.cert.fingerprint()
            ));
        } else if of_cert(&pinned.cert).next().is_none() {
            not_included.push(pinned.name.clone());
        }
    }
    for r in recipients.iter().filter(|r| r.pinned && !r.current) {
        let reason = r.not_current.as_deref().unwrap_or("is not current");
        problems.push(format!(
            "readable by key {} of '{}', which {reason}; rekey it (sealpipe rekey) to the current keys",
            r.key_id.as_deref().unwrap_or("?"),
            r.name.as_deref().unwrap_or("?"),
        ));
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
        if recipients.iter().any(|r| r.current) {
            differences.push(format!(
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
    if envelope.data_version != Some(1) || envelope.data_tag != Tag::SEIP {
        problems.push(format!(
            "container is {}, not what sealpipe writes (SEIPD v1)",
            envelope.container()
        ));
    }
    if let Some(refused) = opened.and_then(|o| o.cipher_refused.as_ref()) {
        problems.push(refused.clone());
    }
    if envelope.skesk_count > 0 {
        differences.push("also decryptable with a passphrase (SKESK packet)".into());
    }
    let openable = problems.is_empty();
    let exact = openable && differences.is_empty();
    Conformance {
        require: plan.require,
        conforms: match plan.require {
            Requirement::Openable => openable,
            Requirement::Exact => exact,
        },
        openable,
        exact,
        problems,
        differences,
        not_included,
    }
}

/// Width of the report's labels (`compression:` and a space).
const LABEL: usize = 13;

/// One `label: value` line of the report, values aligned.
fn field(out: &mut String, label: &str, value: &str) {
    let line = format!("  {:<LABEL$}{value}", format!("{label}:"));
    let _ = writeln!(out, "{}", line.trim_end());
}

/// Lines under a field, one per item.
fn items(out: &mut String, items: &[String]) {
    for item in items {
        let _ = writeln!(out, "    - {item}");
    }
}

/// The human-readable report.
pub fn render_text(report: &Inspection) -> String {
    let mut out = format!("{}:\n", report.file);
    let size = match report.size {
        Some(size) => format!("{size} bytes"),
        None => "unknown".into(),
    };
    field(&mut out, "size", &size);
    let armor = if report.armored {
        ", ASCII armored"
    } else {
        ""
    };
    field(
        &mut out,
        "format",
        &format!("OpenPGP, {}{armor}", report.container),
    );
    let (cipher, compression) = match (&report.opened, &report.not_opened) {
        (Some(o), _) => (
            o.cipher.clone().unwrap_or_else(|| "unknown".into()),
            o.compression.clone(),
        ),
        (None, Some(reason)) => (format!("(not opened: {reason})"), "(not opened)".into()),
        (None, None) => {
            let hidden = "(inside the encryption; give --key to see it)".to_string();
            (hidden.clone(), hidden)
        }
    };
    field(&mut out, "cipher", &cipher);
    field(&mut out, "compression", &compression);
    match &report.opened {
        // A signature, like the cipher, is inside the encryption.
        None => field(
            &mut out,
            "signature",
            "(inside the encryption, if any: not visible without a key)",
        ),
        Some(o) => match o.signed_by.as_deref() {
            None => field(&mut out, "signature", "(not seen)"),
            Some([]) => field(&mut out, "signature", "none (not signed)"),
            Some(keys) => field(
                &mut out,
                "signature",
                &format!(
                    "signed by key {} (checked by decrypt and verify, not by inspect)",
                    keys.join(", key ")
                ),
            ),
        },
    }
    field(&mut out, "recipients", "");
    let rows: Vec<[String; 5]> = report.recipients.iter().map(recipient_row).collect();
    let widths: Vec<usize> = (0..5)
        .map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0))
        .collect();
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, &width)| format!("{cell:<width$}"))
            .collect();
        let _ = writeln!(out, "    {}", cells.join("  ").trim_end());
    }
    if report.passphrase_packets > 0 {
        let _ = writeln!(
            out,
            "    + {} passphrase packet(s)",
            report.passphrase_packets
        );
    }
    if let Some(p) = &report.policy {
        let openable = match p.openable {
            true => "yes: a current key and every required one can open it",
            false => "NO",
        };
        field(&mut out, "openable", openable);
        items(&mut out, &p.problems);
        let exact = match (p.exact, p.openable) {
            (true, _) => "yes: written for exactly the current recipients",
            (false, true) => "no",
            (false, false) => "no (not openable)",
        };
        field(&mut out, "exact", exact);
        items(&mut out, &p.differences);
        let require = match p.require {
            Requirement::Openable => "openable",
            Requirement::Exact => "exact",
        };
        let verdict = match p.conforms {
            true => "conforms to the current config",
            false => "DOES NOT CONFORM to the current config",
        };
        field(
            &mut out,
            "policy",
            &format!("{verdict} (--require {require})"),
        );
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

/// A recipient's columns: who, which key, algorithm, packet, validity.
fn recipient_row(r: &Recipient) -> [String; 5] {
    let mut tags = match (r.pinned, r.required, &r.name) {
        (true, true, _) => vec!["pinned", "required"],
        (true, false, _) => vec!["pinned"],
        (false, _, Some(_)) => vec!["known, not pinned"],
        (false, _, None) => vec![],
    };
    if r.opened_it {
        tags.push("opened it");
    }
    let who = match (&r.name, tags.is_empty()) {
        (Some(name), _) => format!("{name} ({})", tags.join(", ")),
        (None, true) => "unknown key".into(),
        (None, false) => format!("unknown key ({})", tags.join(", ")),
    };
    let id = match (&r.cert_fingerprint, &r.key_id) {
        (Some(fpr), _) => format!("cert {fpr}"),
        (None, Some(id)) => format!("key ID {id}"),
        (None, None) => "anonymous key ID".into(),
    };
    let validity = match (&r.not_current, r.expires.as_deref()) {
        (Some(problem), _) => format!("key {problem}"),
        (None, Some("never")) => "no expiry".into(),
        (None, Some(when)) => format!("expires {when}"),
        (None, None) => String::new(),
    };
    [
        who,
        id,
        r.algorithm.clone(),
        format!("PKESK v{}", r.pkesk_version),
        validity,
    ]
}
