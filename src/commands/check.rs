//! `sealpipe check`: for cron or a monitoring system. Loads the config as
//! `encrypt` does and reports each pinned recipient's expiry, so a key is
//! extended weeks before the night its backups would start failing; the
//! same for the `[sign]` key on a backup host and for each of
//! `[decrypt] signer_certs` on a restore host.
//! Exit 0: all well; 9: a key expires within the warning period; 4:
//! `encrypt` would refuse now; 5: a `[decrypt]` key does not load or unlock.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use sealpipe::config::{Config, PinnedRecipient};
use sealpipe::io::print_stdout;
use sealpipe::keys::agent::AgentKeys;
use sealpipe::keys::{self, expiry, SecretKeyring};
use sealpipe::openpgp::{Cert, Fingerprint};
use sealpipe::time::format_utc;
use sealpipe::{policy, time, Error};

use super::{read_passphrase, ConfigFile};
use crate::cli::CheckArgs;

/// One pinned recipient as `encrypt` would see it tonight.
struct RecipientStatus {
    name: String,
    fingerprint: String,
    /// The keys encrypt would use; for a refused recipient its encryption
    /// subkeys (the backups already made to them still need opening).
    encryption_keys: Vec<Fingerprint>,
    /// When encryption to it stops working (None: never, or unknown when refused).
    expires: Option<SystemTime>,
    /// Why encrypt refuses it now.
    refusal: Option<String>,
}

/// The `[sign]` key as tonight's encrypt loads it.
struct SigningStatus {
    file: PathBuf,
    /// The signing cert's primary fingerprint (None when it does not load).
    fingerprint: Option<Fingerprint>,
    expires: Option<SystemTime>,
    /// Why encrypt would refuse to sign with it now.
    refusal: Option<String>,
}

/// One of `[decrypt] signer_certs`: until when it vouches for new signatures.
struct SignerCertStatus {
    file: PathBuf,
    fingerprint: Fingerprint,
    expires: Option<SystemTime>,
    /// Why a signature made now would be refused (expired, revoked, ...):
    /// what it signed before still verifies, so this is reported, not failed.
    problem: Option<String>,
}

/// One `[decrypt]` key file: which pinned recipients it opens, or why it fails.
struct DecryptKeyStatus {
    file: PathBuf,
    opens: Vec<String>,
    problem: Option<String>,
}

pub fn run(config: &ConfigFile, args: CheckArgs) -> Result<()> {
    // A restore host's allowed-signers file and signer certs load as
    // decrypt will load them: a broken one is a config error now, not
    // during a restore.
    let signers = super::load_signers(config, &Default::default())?;
    let config = config.load()?;
    let now = time::now()?;
    let warn_until = now + Duration::from_secs(args.warn_days * 86_400);
    // The verdict for tonight is exactly encrypt's: the same call, the same config.
    let verdict = policy::select_recipients(config, &[], now);
    let recipients: Vec<RecipientStatus> = config
        .recipients
        .iter()
        .map(|pin| recipient_status(config, pin, now))
        .collect();
    let decrypt_keys = check_decrypt_keys(config, &recipients);
    let signing = config.sign.key.as_ref().map(|file| {
        let loaded = super::encrypt::load_signer(config, None, now);
        let key = loaded.as_ref().ok().and_then(Option::as_ref);
        let status = SigningStatus {
            file: file.clone(),
            fingerprint: key.map(|k| k.cert_fingerprint.clone()),
            expires: key.and_then(|k| k.expires),
            refusal: loaded.as_ref().err().map(ToString::to_string),
        };
        (status, loaded.err())
    });
    // load_signers loaded `signer_certs` in the config's order.
    let signer_certs: Vec<SignerCertStatus> = config
        .decrypt
        .signer_certs
        .iter()
        .zip(&signers.certs)
        .map(|(file, cert)| signer_cert_status(file, cert, now))
        .collect();

    let warning = |what: String, t: SystemTime, todo: &str| {
        format!(
            "{what} expires on {} ({}); {todo}",
            format_utc(t),
            days_left(now, t)
        )
    };
    let soon = |expires: Option<SystemTime>| expires.filter(|t| *t <= warn_until);
    let mut expiring: Vec<String> = recipients
        .iter()
        .filter(|r| r.refusal.is_none())
        .filter_map(|r| soon(r.expires).map(|t| (r, t)))
        .map(|(r, t)| {
            warning(
                format!("pinned key '{}' ({})", r.name, r.fingerprint),
                t,
                "extend it (sealpipe extend) and copy the new cert to every backup host",
            )
        })
        .collect();
    if let Some((s, None)) = &signing {
        if let (Some(fpr), Some(t)) = (&s.fingerprint, soon(s.expires)) {
            expiring.push(warning(
                format!("signing key {} ({fpr})", s.file.display()),
                t,
                "extend it (sealpipe extend --key-out), make the new key file the [sign] key \
                 and copy the new cert to every restore host's signer_certs",
            ));
        }
    }
    expiring.extend(
        signer_certs
            .iter()
            .filter(|c| c.problem.is_none())
            .filter_map(|c| soon(c.expires).map(|t| (c, t)))
            .map(|(c, t)| {
                warning(
                    format!("signer cert {} ({})", c.file.display(), c.fingerprint),
                    t,
                    "extend the key on its backup host (sealpipe extend) and copy the new \
                     cert here, or the backups it signs after that are refused",
                )
            }),
    );
    let key_problems: Vec<String> = decrypt_keys
        .iter()
        .filter_map(|k| k.problem.clone())
        .collect();
    let signing_failed = matches!(signing, Some((_, Some(_))));
    let status = match (&verdict, signing_failed, key_problems.is_empty()) {
        (Err(_), _, _) | (Ok(_), true, _) => "refused",
        (Ok(_), false, false) => "decrypt-key-failed",
        (Ok(_), false, true) if !expiring.is_empty() => "expiring",
        (Ok(_), false, true) => "ok",
    };
    let report = Report {
        config,
        now,
        warn_days: args.warn_days,
        recipients: &recipients,
        signing: signing.as_ref().map(|(s, _)| s),
        signer_certs: &signer_certs,
        decrypt_keys: &decrypt_keys,
        status,
    };
    print_stdout(&if args.json {
        report.json()
    } else {
        report.text()
    })?;

    if let Err(refusal) = verdict {
        return Err(anyhow::Error::from(refusal).context("tonight's backup would fail"));
    }
    if let Some((_, Some(refusal))) = signing {
        return Err(anyhow::Error::from(refusal).context("tonight's backup would fail"));
    }
    if !key_problems.is_empty() {
        return Err(Error::Key(key_problems.join("; ")).into());
    }
    if !expiring.is_empty() {
        return Err(Error::ExpiringSoon { warnings: expiring }.into());
    }
    Ok(())
}

/// The recipient alone through the same policy call as encrypt, so its own
/// refusal (not another recipient's) is reported beside it.
fn recipient_status(config: &Config, pin: &PinnedRecipient, now: SystemTime) -> RecipientStatus {
    let alone = Config {
        recipients: vec![pin.clone()],
        ..config.clone()
    };
    let mut status = RecipientStatus {
        name: pin.name.clone(),
        fingerprint: pin.fingerprint.clone(),
        encryption_keys: Vec::new(),
        expires: None,
        refusal: None,
    };
    match policy::select_recipients(&alone, &[], now) {
        Ok(approved) => {
            for a in approved {
                status.expires = expiry::effective_expiry(&a.cert, &a.encryption_keys, now);
                status.encryption_keys = a.encryption_keys;
            }
        }
        Err(Error::Policy { refusals }) => {
            status.refusal = Some(sealpipe::policy::Refusal::join(&refusals));
            // An expired key still has a date worth showing.
            if let Ok(cert) = keys::load_cert(&pin.cert) {
                let subkeys = expiry::encryption_subkeys(&cert, now);
                status.expires = expiry::effective_expiry(&cert, &subkeys, now);
                status.encryption_keys = subkeys;
            }
        }
        Err(other) => status.refusal = Some(other.to_string()),
    }
    status
}

/// A signer's cert judged as decrypt judges a signature made now: the same
/// signing-cert check, at the same policy time.
fn signer_cert_status(file: &Path, cert: &Cert, now: SystemTime) -> SignerCertStatus {
    let signing = expiry::signing_subkeys(cert, now);
    SignerCertStatus {
        file: file.to_path_buf(),
        fingerprint: cert.fingerprint(),
        expires: expiry::effective_expiry(cert, &signing, now),
        problem: policy::check_signing_cert(cert, &policy::standard_at(now), now)
            .err()
            .map(|p| p.to_string()),
    }
}

/// Load the `[decrypt]` keys (with the config's passphrase file) and match
/// them to the recipients encrypt would use. Keys that open no pinned
/// recipient are reported too: they may open backups from before a rotation.
fn check_decrypt_keys(config: &Config, recipients: &[RecipientStatus]) -> Vec<DecryptKeyStatus> {
    let passphrase = match read_passphrase(config.decrypt.passphrase_file.as_deref(), None) {
        Ok(p) => p,
        Err(e) => {
            return config
                .decrypt
                .keys
                .iter()
                .map(|file| DecryptKeyStatus {
                    file: file.clone(),
                    opens: Vec::new(),
                    problem: Some(format!("{e:#}")),
                })
                .collect()
        }
    };
    // With `agent = true` a listed cert names a key in gpg-agent: the agent
    // is asked whether it holds it (never to decrypt, so never a prompt).
    let agent = match config.decrypt.agent {
        true => Some(AgentKeys::new(
            config.decrypt.agent_homedir.as_deref(),
            false,
        )),
        false => None,
    };
    let mut statuses = Vec::new();
    for file in &config.decrypt.keys {
        let mut status = DecryptKeyStatus {
            file: file.clone(),
            opens: Vec::new(),
            problem: None,
        };
        let ring = match &agent {
            Some(Err(e)) => Err(Error::Key(e.to_string())),
            Some(Ok(agent)) => SecretKeyring {
                passphrase: passphrase.clone(),
                agent: Some(agent.clone()),
                ..SecretKeyring::default()
            }
            .with_files(std::slice::from_ref(file)),
            None => SecretKeyring::load(std::slice::from_ref(file), passphrase.clone()),
        };
        match ring {
            Err(e) => status.problem = Some(e.to_string()),
            Ok(ring) => {
                for r in recipients {
                    let matching: Vec<_> = ring
                        .keys
                        .iter()
                        .filter(|k| r.encryption_keys.contains(&k.key.fingerprint()))
                        .collect();
                    if matching.is_empty() {
                        continue;
                    }
                    match matching.iter().find_map(|k| ring.unlock(k).err()) {
                        Some(e) => status.problem = Some(e.to_string()),
                        None => status.opens.push(r.name.clone()),
                    }
                }
                check_agent_keys(ring.agent.as_ref(), recipients, &mut status);
            }
        }
        statuses.push(status);
    }
    statuses
}

/// Whether gpg-agent holds the keys that a listed cert names, for each
/// pinned recipient they belong to.
fn check_agent_keys(
    agent: Option<&AgentKeys>,
    recipients: &[RecipientStatus],
    status: &mut DecryptKeyStatus,
) {
    let Some(agent) = agent else { return };
    for r in recipients {
        let matching = agent
            .keys
            .iter()
            .filter(|k| r.encryption_keys.contains(&k.key.fingerprint()));
        let mut held = None;
        for key in matching {
            match agent.holds(key) {
                Ok(()) => held = held.or(Some(true)),
                Err(e) => {
                    status.problem.get_or_insert(e);
                    held = Some(false);
                }
            }
        }
        if held == Some(true) {
            status.opens.push(r.name.clone());
        }
    }
}

struct Report<'a> {
    config: &'a Config,
    now: SystemTime,
    warn_days: u64,
    recipients: &'a [RecipientStatus],
    signing: Option<&'a SigningStatus>,
    signer_certs: &'a [SignerCertStatus],
    decrypt_keys: &'a [DecryptKeyStatus],
    status: &'static str,
}

/// A key's line ends in "ok" or in why it is refused.
fn verdict(refusal: &Option<String>) -> String {
    match refusal {
        Some(reason) => format!("REFUSED: {reason}"),
        None => "ok".into(),
    }
}

impl Report<'_> {
    fn text(&self) -> String {
        let mut out = format!(
            "config {} checked at {} (warning {} days ahead)\n",
            self.config.path.display(),
            format_utc(self.now),
            self.warn_days
        );
        for r in self.recipients {
            let expiry = self.expiry(r.expires, r.refusal.is_some());
            let verdict = verdict(&r.refusal);
            out += &format!(
                "recipient {} {}: {expiry}: {verdict}\n",
                r.name, r.fingerprint
            );
        }
        if let Some(s) = self.signing {
            let fingerprint = s
                .fingerprint
                .as_ref()
                .map_or_else(String::new, |f| format!(" {f}"));
            let expiry = self.expiry(s.expires, s.refusal.is_some());
            let verdict = verdict(&s.refusal);
            out += &format!(
                "signing key {}{fingerprint}: {expiry}: {verdict}\n",
                s.file.display()
            );
        }
        for c in self.signer_certs {
            let expiry = self.expiry(c.expires, false);
            let verdict = match &c.problem {
                Some(problem) => format!("new signatures refused: {problem}"),
                None => "ok".into(),
            };
            out += &format!(
                "signer cert {} {}: {expiry}: {verdict}\n",
                c.file.display(),
                c.fingerprint
            );
        }
        for k in self.decrypt_keys {
            let opens = if k.opens.is_empty() {
                "no pinned recipient".to_string()
            } else {
                k.opens.join(", ")
            };
            match &k.problem {
                Some(problem) => {
                    out += &format!("decrypt key {}: FAILED: {problem}\n", k.file.display())
                }
                None => out += &format!("decrypt key {} opens: {opens}\n", k.file.display()),
            }
        }
        out += &format!("status: {}\n", self.status);
        out
    }

    /// A key's expiry as the report line says it.
    fn expiry(&self, expires: Option<SystemTime>, refused: bool) -> String {
        match expires {
            None if refused => "expiry unknown".to_string(),
            None => "never expires".to_string(),
            Some(t) if t <= self.now => format!("expired {}", format_utc(t)),
            Some(t) => format!("expires {} ({})", format_utc(t), days_left(self.now, t)),
        }
    }

    fn json(&self) -> String {
        let unix = |t: SystemTime| t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let with_expiry = |mut fields: serde_json::Value, expires: Option<SystemTime>| {
            fields["expires"] = expires.map(format_utc).into();
            fields["expires_unix"] = expires.map(unix).into();
            fields["days_left"] = expires.map(|t| expiry::days_left(self.now, t)).into();
            fields
        };
        let signing_key = self.signing.map(|s| {
            with_expiry(
                serde_json::json!({
                    "file": s.file.display().to_string(),
                    "fingerprint": s.fingerprint.as_ref().map(|f| f.to_hex()),
                    "usable": s.refusal.is_none(),
                    "refusal": s.refusal,
                }),
                s.expires,
            )
        });
        let signer_certs: Vec<_> = self
            .signer_certs
            .iter()
            .map(|c| {
                with_expiry(
                    serde_json::json!({
                        "file": c.file.display().to_string(),
                        "fingerprint": c.fingerprint.to_hex(),
                        "usable": c.problem.is_none(),
                        "problem": c.problem,
                    }),
                    c.expires,
                )
            })
            .collect();
        let recipients: Vec<_> = self
            .recipients
            .iter()
            .map(|r| {
                with_expiry(
                    serde_json::json!({
                        "name": r.name,
                        "fingerprint": r.fingerprint,
                        "usable": r.refusal.is_none(),
                        "refusal": r.refusal,
                    }),
                    r.expires,
                )
            })
            .collect();
        let decrypt_keys: Vec<_> = self
            .decrypt_keys
            .iter()
            .map(|k| {
                serde_json::json!({
                    "file": k.file.display().to_string(),
                    "opens": k.opens,
                    "problem": k.problem,
                })
            })
            .collect();
        let report = serde_json::json!({
            "config": self.config.path.display().to_string(),
            "now": format_utc(self.now),
            "warn_days": self.warn_days,
            "status": self.status,
            "recipients": recipients,
            "signing_key": signing_key,
            "signer_certs": signer_certs,
            "decrypt_keys": decrypt_keys,
        });
        format!("{report:#}\n")
    }
}

fn days_left(now: SystemTime, then: SystemTime) -> String {
    match expiry::days_left(now, then) {
        1 => "1 day left".into(),
        n => format!("{n} days left"),
    }
}
