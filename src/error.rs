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
    /// `check`: backups work tonight, but a pinned key expires within the
    /// warning period.
    pub const EXPIRING: u8 = 9;
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("{0}")]
    Usage(String),

    #[error("config {path}: {reason}")]
    Config { path: PathBuf, reason: String },

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

    /// `check`: encryption works now, but these pinned keys expire soon;
    /// each warning names the key, the date and what to do.
    #[error("{}", .warnings.join("; "))]
    ExpiringSoon { warnings: Vec<String> },
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
            Error::ExpiringSoon { .. } => exit::EXPIRING,
        }
    }

    pub fn config(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::Config {
            path: path.into(),
            reason: reason.into(),
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

    /// `escrow combine`: the sheets given are from different splits.
    #[error(
        "the share sheets are from different splits ({one} and {other}); \
         shares from different splits never combine: use K shares of one split"
    )]
    EscrowMixedSplits { one: String, other: String },

    /// `escrow combine`: a share's SHA-256 differs from its sheet's.
    #[error(
        "share {share} does not match the SHA-256 on its sheet: it is damaged or from \
         another split; use another share (or gfcombine with a known-good copy)"
    )]
    EscrowShareDamaged { share: u8 },

    /// `escrow combine`: the share files differ in length.
    #[error(
        "the share files differ in length, so they are not from one split (or one is \
         truncated); use K shares of one split"
    )]
    EscrowSharesUneven,

    /// `escrow combine`: the shares rebuild something other than the key on
    /// the sheet or `--expect-sha256` (damaged, from another split, or too few).
    #[error(
        "the shares do not rebuild the expected key (got {actual}, expected {expected}): \
         a share is damaged or from another split, or fewer than K were given; nothing was written"
    )]
    EscrowKeyMismatch { expected: String, actual: String },

    /// `escrow combine`: the shares rebuild something that is not an
    /// OpenPGP secret key.
    #[error(
        "the shares do not rebuild an OpenPGP secret key (the result {reason}): a share is \
         damaged or from another split, or fewer than K were given; nothing was written"
    )]
    EscrowNotAKey { reason: String },
}

impl From<Damage> for Error {
    fn from(damage: Damage) -> Self {
        Error::BadInput(damage)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
