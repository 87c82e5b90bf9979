//! One error type for the library. Each variant maps to a documented exit
//! code (docs/exit-codes.md) so scripts and backup systems can tell a policy
//! refusal from a damaged backup from a full disk.

use std::path::PathBuf;

/// Exit codes, as documented in docs/exit-codes.md.
pub mod exit {
    pub const SUCCESS: u8 = 0;
    /// A bug or an unexpected failure inside sealpipe.
    pub const INTERNAL: u8 = 1;
    /// The command line was wrong (clap uses 2 as well).
    pub const USAGE: u8 = 2;
    /// The config file is missing, unreadable, malformed or unsafe.
    pub const CONFIG: u8 = 3;
    /// Encryption refused: a recipient is not pinned, does not match its pin,
    /// or is expired, revoked or weak.
    pub const POLICY: u8 = 4;
    /// No usable secret key: none matches the message, or a passphrase is
    /// missing or wrong.
    pub const KEY: u8 = 5;
    /// The input is damaged: truncated, tampered, malformed or not OpenPGP.
    pub const BAD_INPUT: u8 = 6;
    /// Reading input or writing output failed (broken pipe, disk full, ...).
    pub const IO: u8 = 7;
    /// `verify --expect-sha256` or `--digest-file` comparison failed.
    pub const MISMATCH: u8 = 8;
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("{0}")]
    Usage(String),

    /// A config problem, at the line of the config where it is (when the
    /// parser knows it), so the user can go straight to it.
    #[error("{}{}: {problem}", .path.display(), .line.map(|n| format!(" line {n}")).unwrap_or_default())]
    Config {
        path: PathBuf,
        line: Option<usize>,
        problem: ConfigProblem,
    },

    /// Each refused recipient with its reason, on one line (backup systems
    /// and syslog keep the first line of stderr).
    #[error("encryption refused, nothing was written: {}", .refusals.join("; "))]
    Policy { refusals: Vec<String> },

    #[error("{0}")]
    Key(String),

    /// The input is damaged, malformed or not what sealpipe reads; the
    /// [`Damage`] says which.
    #[error("{0}")]
    BadInput(Damage),

    /// Not a `#[source]`: the message already includes it, once.
    #[error("{what}: {cause}")]
    Io { what: String, cause: std::io::Error },

    #[error("{0}")]
    Mismatch(String),

    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) => exit::USAGE,
            Error::Config { .. } => exit::CONFIG,
            Error::Policy { .. } => exit::POLICY,
            Error::Key(_) => exit::KEY,
            Error::BadInput(_) => exit::BAD_INPUT,
            Error::Io { .. } => exit::IO,
            Error::Mismatch(_) => exit::MISMATCH,
            Error::Internal(_) => exit::INTERNAL,
        }
    }

    pub fn config(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::Config {
            path: path.into(),
            line: None,
            problem: ConfigProblem::Described(reason.into()),
        }
    }

    pub fn io(what: impl Into<String>, cause: std::io::Error) -> Self {
        Error::Io {
            what: what.into(),
            cause,
        }
    }
}

/// What is wrong with an input (exit code 6). Each cause is a variant with
/// its own message, so callers match on causes, never on text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Damage {
    /// Transitional: a cause still described in words only. Each use is to
    /// become a typed variant.
    #[error("{0}")]
    Described(String),
}

/// What is wrong in a config file (exit code 3). The file and line are in
/// [`Error::Config`]; each variant says what and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigProblem {
    /// Transitional: a cause still described in words only (cert files,
    /// permission checks); each use is to become a typed variant.
    #[error("{0}")]
    Described(String),

    /// The file is not UTF-8 text, so it cannot be TOML.
    #[error("is not UTF-8 text; save it as UTF-8")]
    NotUtf8,

    /// TOML syntax, an unknown key, a wrong type or an invalid value, in the
    /// parser's words (one line).
    #[error("{0}")]
    Syntax(String),

    /// A setting out of range for the config's compression.
    #[error("{0}")]
    Setting(#[from] crate::settings::SettingError),

    /// A `[[recipient]]` without a name.
    #[error("recipient #{0} has an empty name; give it one, e.g. name = \"daily-2026\"")]
    EmptyRecipientName(usize),

    /// A fingerprint that is not the 40 hex digits of a v4 key.
    #[error(
        "recipient '{name}': the fingerprint must be the full 40 hex digits of a v4 key \
             (as `keygen` prints it), got '{got}'"
    )]
    BadFingerprint { name: String, got: String },

    /// Two recipients with one name.
    #[error("recipient name '{0}' appears twice; names must be unique")]
    DuplicateName(String),

    /// Two recipients pinning one fingerprint.
    #[error("recipients '{first}' and '{second}' pin the same fingerprint; remove one")]
    DuplicateFingerprint { first: String, second: String },
}

/// Print an error the one way sealpipe prints errors: one line on stderr,
/// `sealpipe: error: ` and the error with its causes. One line, because
/// backup systems and syslog keep only the first line of stderr.
pub fn report(err: &(dyn std::error::Error + 'static)) {
    eprintln!("{}", report_line(err));
}

/// The line [`report`] prints.
pub fn report_line(err: &(dyn std::error::Error + 'static)) -> String {
    let mut line = format!("sealpipe: error: {err}");
    let mut cause = err.source();
    while let Some(e) = cause {
        line.push_str(&format!(": {e}"));
        cause = e.source();
    }
    line.replace('\n', " ")
}

impl From<Damage> for Error {
    fn from(damage: Damage) -> Self {
        Error::BadInput(damage)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
