//! Keys held by gpg-agent (`--agent`, `[decrypt] agent = true`): the agent
//! unwraps the session key, and so scdaemon and an OpenPGP card or YubiKey
//! when the key lives on one. The secret key never enters sealpipe; a cert
//! (public) names the key to ask for.
//!
//! Pinentry is the agent's business, but sealpipe decides whether it may
//! ask at all: only when a person is at a terminal. In a batch run (cron,
//! Amanda, Bacula) the agent is told not to ask (`pinentry-mode=error`), so
//! a passphrase that is not cached or preset fails at once, with a message
//! saying what to do, instead of waiting for an answer nobody gives.
//!
//! The bound (docs/agent.md): the agent is asked at most once per key per
//! run; [`crate::decrypt::Session`] keeps the answer.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use openpgp::crypto::mpi::Ciphertext;
use openpgp::crypto::{Decryptor, SessionKey};
use openpgp::packet::key::{PublicParts, UnspecifiedRole};
use openpgp::packet::{Key, PKESK};
use openpgp::types::SymmetricAlgorithm;
use openpgp::{Cert, Fingerprint};
use sequoia_gpg_agent::{gnupg, Agent, KeyPair};
use sequoia_openpgp as openpgp;

use crate::error::{Error, Result};

/// The gpg-agent of one GnuPG home and the keys it is asked for.
#[derive(Clone)]
pub struct AgentKeys {
    /// The GnuPG home as configured (`agent_homedir`); `None`: GnuPG's
    /// default ($GNUPGHOME, else ~/.gnupg).
    homedir: Option<PathBuf>,
    context: Arc<gnupg::Context>,
    /// Whether the agent may ask for a passphrase or PIN (pinentry).
    may_ask: bool,
    pub keys: Vec<AgentKey>,
}

/// One encryption (sub)key whose secret the agent is asked to use.
#[derive(Clone)]
pub struct AgentKey {
    pub cert_fingerprint: Fingerprint,
    /// The cert file that named it.
    pub source: PathBuf,
    pub key: Key<PublicParts, UnspecifiedRole>,
}

impl AgentKey {
    /// "key FPR of cert FPR (FILE)", for messages and the agent's prompt.
    pub fn describe(&self) -> String {
        format!(
            "key {} of cert {} ({})",
            self.key.fingerprint(),
            self.cert_fingerprint,
            self.source.display()
        )
    }
}

/// What one request to the agent gave: the unwrapped session key (with the
/// cipher when the key packet names it), `None` when the agent decrypted
/// but the result is no session key (a junk key packet), or why the agent
/// could not decrypt (kept as text: it is reported, never matched).
pub type AgentAnswer =
    std::result::Result<Option<(Option<SymmetricAlgorithm>, SessionKey)>, String>;

impl AgentKeys {
    /// The agent of `homedir` (else GnuPG's default home). Finds its socket
    /// through `gpgconf` now, so a wrong home is reported before any
    /// output; the agent itself is reached (and started) only when a
    /// backup is addressed to one of its keys.
    pub fn new(homedir: Option<&Path>, may_ask: bool) -> Result<AgentKeys> {
        let context = match homedir {
            Some(dir) => gnupg::Context::with_homedir(dir),
            None => gnupg::Context::new(),
        }
        .map_err(|e| {
            Error::Key(format!(
                "cannot find gpg-agent for GnuPG home {}: {e}; install gnupg (gpgconf, \
                 gpg-agent) and check [decrypt] agent_homedir or $GNUPGHOME",
                describe_home(homedir)
            ))
        })?;
        Ok(AgentKeys {
            homedir: homedir.map(Path::to_path_buf),
            context: Arc::new(context),
            may_ask,
            keys: Vec::new(),
        })
    }

    /// Ask the agent for these keys of `cert` (read from `source`).
    pub fn add(
        &mut self,
        cert: &Cert,
        source: &Path,
        keys: impl IntoIterator<Item = Key<PublicParts, UnspecifiedRole>>,
    ) {
        for key in keys {
            let fingerprint = key.fingerprint();
            if self.keys.iter().any(|k| k.key.fingerprint() == fingerprint) {
                continue;
            }
            self.keys.push(AgentKey {
                cert_fingerprint: cert.fingerprint(),
                source: source.to_path_buf(),
                key,
            });
        }
    }

    /// What to call the agent in messages and reports.
    pub fn name(&self) -> String {
        format!(
            "gpg-agent (GnuPG home {})",
            describe_home(self.homedir.as_deref())
        )
    }

    /// Ask the agent to unwrap `pkesk` with `key`: one request (and, if
    /// the agent needs a passphrase or PIN that it has not cached, one
    /// pinentry, when sealpipe runs at a terminal).
    pub fn unwrap_session_key(
        &self,
        key: &AgentKey,
        pkesk: &PKESK,
        sym_algo: Option<SymmetricAlgorithm>,
    ) -> AgentAnswer {
        self.holds(key)?;
        let named = key.describe();
        let prompt = format!("sealpipe: unlock {named} to open a backup.\nCancel to stop.");
        let mut pair = KeyPair::new_for_gnupg_context(&self.context, &key.key)
            .map_err(|e| format!("cannot use {}: {e}", self.name()))?
            .with_password_prompt(prompt);
        if !self.may_ask {
            pair = pair.suppress_pinentry();
        }
        let mut agent = Reporting {
            pair,
            refusal: None,
        };
        match pkesk.decrypt(&mut agent, sym_algo) {
            Some(unwrapped) => Ok(Some(unwrapped)),
            None => match agent.refusal {
                Some(reason) => Err(self.refusal(&named, &reason)),
                None => Ok(None),
            },
        }
    }

    /// Whether the agent holds the secret of `key` (a secret on a card
    /// counts once the agent knows the card); if not, why, and what to do.
    /// Only asks (HAVEKEY), never decrypts: no prompt. Starts the agent if
    /// needed.
    pub fn holds(&self, key: &AgentKey) -> std::result::Result<(), String> {
        if self.has_key(&key.key)? {
            return Ok(());
        }
        Err(format!(
            "{} does not hold the secret part of {}: import the secret key there (gpg \
             --import), or insert the card that holds it and run `gpg --card-status` once so \
             the agent knows it (else `gpg-connect-agent 'scd serialno' 'learn --force' /bye`), \
             or give the secret key file with --key",
            self.name(),
            key.describe()
        ))
    }

    fn has_key(
        &self,
        key: &Key<PublicParts, UnspecifiedRole>,
    ) -> std::result::Result<bool, String> {
        let unreachable = |e: &dyn std::fmt::Display| {
            format!(
                "cannot reach {}: {e}; check that gpg-agent runs for this user and home \
                 (gpgconf --launch gpg-agent)",
                self.name()
            )
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .map_err(|e| unreachable(&e))?;
        runtime.block_on(async {
            let mut agent = Agent::connect(&self.context)
                .await
                .map_err(|e| unreachable(&e))?;
            agent.has_key(key).await.map_err(|e| unreachable(&e))
        })
    }

    /// The agent's refusal, with what to do about it.
    fn refusal(&self, named: &str, reason: &str) -> String {
        let what_to_do = if self.may_ask {
            "answer the agent's passphrase or PIN prompt (pinentry; set GPG_TTY=$(tty) for a \
             text prompt), or check the card"
        } else {
            "sealpipe runs without a terminal, so the agent may not ask for the passphrase or \
             PIN: preset it (gpg-preset-passphrase, with allow-preset-passphrase in \
             gpg-agent.conf), unlock the key in the agent first, or run the restore at a \
             terminal (docs/agent.md)"
        };
        format!(
            "{} could not decrypt with {named}: {reason}; {what_to_do}",
            self.name()
        )
    }
}

/// The GnuPG home as gpg finds it: the one given, else $GNUPGHOME, else ~/.gnupg.
fn describe_home(homedir: Option<&Path>) -> String {
    match (homedir, std::env::var_os("GNUPGHOME")) {
        (Some(dir), _) => dir.display().to_string(),
        (None, Some(env)) => PathBuf::from(env).display().to_string(),
        (None, None) => "~/.gnupg".into(),
    }
}

/// The agent's key pair, remembering why the agent refused to decrypt:
/// sequoia's key packet unwrapping says only that it failed. An answer
/// that is no session key (a junk key packet) is not a refusal.
struct Reporting {
    pair: KeyPair,
    refusal: Option<String>,
}

impl Decryptor for Reporting {
    fn public(&self) -> &Key<PublicParts, UnspecifiedRole> {
        Decryptor::public(&self.pair)
    }

    fn decrypt(
        &mut self,
        ciphertext: &Ciphertext,
        plaintext_len: Option<usize>,
    ) -> openpgp::Result<SessionKey> {
        self.pair
            .decrypt(ciphertext, plaintext_len)
            .inspect_err(|e| {
                if e.downcast_ref::<openpgp::Error>().is_none() {
                    self.refusal = Some(format!("{e:#}"));
                }
            })
    }
}
