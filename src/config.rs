//! The TOML config: which recipients are pinned (by full fingerprint, with
//! the cert file that must match), encryption defaults, and the secret keys
//! used to decrypt. Unknown keys are an error: a typo must not silently drop
//! a setting such as `required = true`.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::compress::Compression;
use crate::error::{ConfigProblem, Error, Result};
use crate::keys::files;
use crate::keys::service::SessionKeyCommand;
use crate::settings::{self, EncryptChoices, Level, Threads};

/// Where the config lives when neither `--config` nor `$SEALPIPE_CONFIG`
/// names one (Amanda runs the filter with no arguments).
pub const DEFAULT_CONFIG_PATH: &str = "/etc/sealpipe/sealpipe.toml";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(skip)]
    pub path: PathBuf,
    #[serde(default)]
    pub encrypt: EncryptDefaults,
    #[serde(default, rename = "recipient")]
    pub recipients: Vec<PinnedRecipient>,
    #[serde(default)]
    pub decrypt: DecryptKeys,
    #[serde(default)]
    pub sign: SignKey,
}

/// `[encrypt]`: defaults the command line overrides (docs/config.md).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncryptDefaults {
    pub compression: Option<Compression>,
    /// Spanned: whether it fits the compression is checked after parsing,
    /// and the error must still point at its line.
    pub level: Option<Spanned<Level>>,
    pub threads: Option<Threads>,
    pub armor: Option<bool>,
}

impl EncryptDefaults {
    /// The settings as the config gives them.
    pub fn choices(&self) -> EncryptChoices {
        EncryptChoices {
            compression: self.compression,
            level: self.level.as_ref().map(|l| *l.get_ref()),
            threads: self.threads,
            armor: self.armor,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PinnedRecipient {
    /// A short name for messages and `--recipient`, e.g. "daily-2026" or "escrow".
    pub name: String,
    /// The full primary-key fingerprint (40 hex digits for a v4 key).
    pub fingerprint: String,
    /// The cert (public key) file; relative paths are relative to the config.
    pub cert: PathBuf,
    /// A required recipient (the escrow key) can never be left out.
    #[serde(default)]
    pub required: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecryptKeys {
    /// Secret key files tried in turn; relative to the config.
    #[serde(default)]
    pub keys: Vec<PathBuf>,
    /// A file whose first line is the passphrase of protected secret keys.
    pub passphrase_file: Option<PathBuf>,
    /// A key service asked for the session key instead of using `keys`
    /// (decrypt and verify; docs/keys.md).
    pub session_key_command: Option<SessionKeyCommand>,
    /// Accept only backups signed by a signer listed in this file (gpg
    /// 2.4's `--assert-signer` format); relative to the config.
    pub allowed_signers: Option<PathBuf>,
    /// The certs signatures are checked with (the signers'
    /// `keygen --sign --cert-out` files); relative to the config.
    #[serde(default)]
    pub signer_certs: Vec<PathBuf>,
    /// Let gpg-agent unwrap session keys with the keys it holds (on a card
    /// too), named by the pinned certs and by certs among `keys`
    /// (docs/agent.md).
    #[serde(default)]
    pub agent: bool,
    /// The GnuPG home whose gpg-agent is asked; relative to the config.
    /// Default: $GNUPGHOME, else ~/.gnupg.
    pub agent_homedir: Option<PathBuf>,
}

/// `[sign]`: the secret key `encrypt` signs every backup with.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignKey {
    /// The signing key file (`keygen --sign`); relative to the config.
    pub key: Option<PathBuf>,
    /// A file whose first line unlocks a protected signing key.
    pub passphrase_file: Option<PathBuf>,
}

/// Normalise a fingerprint as users write it: spaces removed, upper case.
pub fn normalize_fingerprint(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase()
}

impl Config {
    /// Read, permission-check and validate a config file.
    pub fn load(path: &Path) -> Result<Config> {
        let bytes = files::read_trusted(path, files::Role::Config)?;
        let text = std::str::from_utf8(&bytes).map_err(|_| Error::Config {
            path: path.to_path_buf(),
            line: None,
            problem: ConfigProblem::NotUtf8,
        })?;
        Self::parse(path, text)
    }

    /// Parse and validate config text as if it were read from `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Config> {
        let at = |offset: Option<usize>, problem: ConfigProblem| Error::Config {
            path: path.to_path_buf(),
            line: offset.map(|o| line_of(text, o)),
            problem,
        };
        let mut config: Config = toml::from_str(text).map_err(|e| {
            // toml's messages may span lines; the line number says where.
            let message = e.message().trim().replace('\n', ": ");
            at(e.span().map(|s| s.start), ConfigProblem::Syntax(message))
        })?;
        if let Err((_, problem)) =
            settings::resolve_encrypt(EncryptChoices::default(), config.encrypt.choices())
        {
            let offset = config.encrypt.level.as_ref().map(|l| l.span().start);
            return Err(at(offset, problem.into()));
        }
        config.path = path.to_path_buf();
        let base = path.parent().unwrap_or(Path::new("."));
        let resolve = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        for r in &mut config.recipients {
            resolve(&mut r.cert);
            r.fingerprint = normalize_fingerprint(&r.fingerprint);
        }
        config.decrypt.keys.iter_mut().for_each(resolve);
        config.decrypt.signer_certs.iter_mut().for_each(resolve);
        let sign = &mut config.sign;
        [
            &mut config.decrypt.passphrase_file,
            &mut config.decrypt.allowed_signers,
            &mut config.decrypt.agent_homedir,
            &mut sign.key,
            &mut sign.passphrase_file,
        ]
        .into_iter()
        .flatten()
        .for_each(resolve);
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<()> {
        let bad = |problem: ConfigProblem| {
            Err(Error::Config {
                path: self.path.clone(),
                line: None,
                problem,
            })
        };
        for (i, r) in self.recipients.iter().enumerate() {
            if r.name.trim().is_empty() {
                return bad(ConfigProblem::EmptyRecipientName(i + 1));
            }
            let fpr = &r.fingerprint;
            if fpr.len() != 40 || !fpr.chars().all(|c| c.is_ascii_hexdigit()) {
                return bad(ConfigProblem::BadFingerprint {
                    name: r.name.clone(),
                    got: fpr.clone(),
                });
            }
            for other in &self.recipients[..i] {
                if other.name == r.name {
                    return bad(ConfigProblem::DuplicateName(r.name.clone()));
                }
                if other.fingerprint == r.fingerprint {
                    return bad(ConfigProblem::DuplicateFingerprint {
                        first: other.name.clone(),
                        second: r.name.clone(),
                    });
                }
            }
        }
        Ok(())
    }

    pub fn recipient_by_name_or_fingerprint(&self, wanted: &str) -> Option<&PinnedRecipient> {
        let fpr = normalize_fingerprint(wanted);
        self.recipients
            .iter()
            .find(|r| r.name == wanted || r.fingerprint == fpr)
    }
}

/// The 1-based line of a byte offset into `text`.
fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Resolve which config file to use: explicit path (from `--config` or
/// `$SEALPIPE_CONFIG`, which clap merges), else the system default.
pub fn config_path(explicit: Option<&Path>) -> PathBuf {
    explicit
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_PATH))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FPR: &str = "0123456789ABCDEF0123456789ABCDEF01234567";

    #[test]
    fn unknown_keys_are_rejected() {
        let text =
            format!("[[recipient]]\nname='a'\nfingerprint='{FPR}'\ncert='a.asc'\nrequird=true\n");
        let err = Config::parse(Path::new("/etc/x.toml"), &text).unwrap_err();
        assert!(err.to_string().contains("requird"), "{err}");
    }

    #[test]
    fn relative_paths_resolve_against_config_dir() {
        let text = format!(
            "[[recipient]]\nname='a'\nfingerprint='{}'\ncert='a.asc'\n[decrypt]\nkeys=['k.asc']\n",
            FPR.to_lowercase()
        );
        let c = Config::parse(Path::new("/etc/sp/x.toml"), &text).unwrap();
        assert_eq!(c.recipients[0].cert, Path::new("/etc/sp/a.asc"));
        assert_eq!(c.recipients[0].fingerprint, FPR);
        assert_eq!(c.decrypt.keys[0], Path::new("/etc/sp/k.asc"));
    }

    fn parse_err(text: &str) -> String {
        let err = Config::parse(Path::new("/etc/sp/x.toml"), text).unwrap_err();
        assert_eq!(err.exit_code(), crate::error::exit::CONFIG, "{err}");
        let message = err.to_string();
        assert!(!message.contains('\n'), "one line: {message}");
        message
    }

    #[test]
    fn config_errors_point_at_their_line_in_the_users_words() {
        let msg = parse_err("# c\n\n[encrypt]\ncompression = 'zstd'\nlevel = 30\n");
        assert!(msg.starts_with("/etc/sp/x.toml line 5: "), "{msg}");
        assert!(msg.contains("1 to 22") && !msg.contains("..="), "{msg}");
        let msg = parse_err("[encrypt]\ncompression = 'deflate'\n\nlevel = 12\n");
        assert!(msg.starts_with("/etc/sp/x.toml line 4: "), "{msg}");
        assert!(msg.contains("deflate levels are 1 to 9"), "{msg}");
        let msg = parse_err("[encrypt]\nthreads = 4294967295\n");
        assert!(msg.starts_with("/etc/sp/x.toml line 2: "), "{msg}");
        assert!(msg.contains("1 to 256"), "{msg}");
        let msg = parse_err("[encrypt]\narmor = true\n[encrypt]\nlevel = 3\n");
        assert!(msg.starts_with("/etc/sp/x.toml line 3: "), "{msg}");
        let msg = parse_err("[encrypt]\ncompression = 'none'\nlevel = 3\n");
        assert!(msg.contains("no levels"), "{msg}");
    }

    #[test]
    fn short_fingerprints_and_duplicates_are_rejected() {
        let short = "[[recipient]]\nname='a'\nfingerprint='ABCD'\ncert='a'\n";
        assert!(Config::parse(Path::new("c"), short).is_err());
        let dup = format!(
            "[[recipient]]\nname='a'\nfingerprint='{FPR}'\ncert='a'\n[[recipient]]\nname='b'\nfingerprint='{FPR}'\ncert='b'\n"
        );
        assert!(Config::parse(Path::new("c"), &dup).is_err());
    }

    #[test]
    fn an_empty_recipient_name_is_named_by_its_position() {
        let text = format!(
            "[[recipient]]\nname='a'\nfingerprint='{FPR}'\ncert='a'\n[[recipient]]\nname=' '\nfingerprint='{FPR}'\ncert='b'\n"
        );
        let msg = parse_err(&text);
        assert!(msg.contains("recipient #2 has an empty name"), "{msg}");
        let msg = parse_err("[[recipient]]\nname=''\nfingerprint='x'\ncert='a'\n");
        assert!(msg.contains("recipient #1 has an empty name"), "{msg}");
    }
}
