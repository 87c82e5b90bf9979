//! `sealpipe check`: for cron or a monitoring system. Loads the config as
//! `encrypt` does and reports each pinned recipient's expiry, so a key is
//! extended weeks before the night its backups would start failing.
//! Exit 0: all well; 9: a key expires within the warning period; 4:
//! `encrypt` would refuse now; 5: a `[decrypt]` key does not load or unlock.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use sealpipe::config::{Config, PinnedRecipient};
use sealpipe::io::print_stdout;
use sealpipe::keys::agent::AgentKeys;
use sealpipe::keys::{self, expiry, SecretKeyring};
use sealpipe::openpgp::Fingerprint;
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
    super::load_signers(config, &Default::default())?;
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

    let expiring: Vec<String> = recipients
        .iter()
        .filter(|r| r.refusal.is_none())
        .filter_map(|r| r.expires.filter(|t| *t <= warn_until).map(|t| (r, t)))
        .map(|(r, t)| {
            format!(
                "pinned key '{}' ({}) expires on {} ({}); extend it \
                 (sealpipe extend) and copy the new cert to every backup host",
                r.name,
                r.fingerprint,
                format_utc(t),
                days_left(now, t)
            )
        })
        .collect();
    let key_problems: Vec<String> = decrypt_keys
        .iter()
        .filter_map(|k| k.problem.clone())
        .collect();
    let status = match (&verdict, key_problems.is_empty(), expiring.is_empty()) {
        (Err(_), _, _) => "refused",
        (Ok(_), false, _) => "decrypt-key-failed",
        (Ok(_), true, false) => "expiring",
        (Ok(_), true, true) => "ok",
    };
    let report = Report {
        config,
        now,
        warn_days: args.warn_days,
        recipients: &recipients,
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
    decrypt_keys: &'a [DecryptKeyStatus],
    status: &'static str,
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
            let expiry = match r.expires {
                None if r.refusal.is_some() => "expiry unknown".to_string(),
                None => "never expires".to_string(),
                Some(t) if t <= self.now => format!("expired {}", format_utc(t)),
                Some(t) => format!("expires {} ({})", format_utc(t), days_left(self.now, t)),
            };
            let verdict = match &r.refusal {
                Some(reason) => format!("REFUSED: {reason}"),
                None => "ok".into(),
            };
            out += &format!(
                "recipient {} {}: {expiry}: {verdict}\n",
                r.name, r.fingerprint
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

    fn json(&self) -> String {
        let unix = |t: SystemTime| t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let recipients: Vec<_> = self
            .recipients
            .iter()
            .map(|r| {
                serde_json::json!({
                    "name": r.name,
                    "fingerprint": r.fingerprint,
                    "usable": r.refusal.is_none(),
                    "refusal": r.refusal,
                    "expires": r.expires.map(format_utc),
                    "expires_unix": r.expires.map(unix),
                    "days_left": r.expires.map(|t| expiry::days_left(self.now, t)),
                })
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
