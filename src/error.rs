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
    /// A zstd frame declares a window (the history its decoder keeps in
    /// memory) larger than this run allows: memory is bounded by it.
    #[error(
        "the backup's zstd data declares a {} MiB window, over the {} MiB limit that bounds \
         decrypt's memory (sealpipe itself writes at most 4 MiB); if the backup is genuine, \
         allow it with `sealpipe decrypt --max-zstd-window {}`",
        window.div_ceil(1 << 20), limit / (1 << 20), window.div_ceil(1 << 20)
    )]
    ZstdWindowTooLarge { window: u64, limit: u64 },
    /// The zstd stream inside the backup stops in the middle of a frame.
    #[error(
        "the backup's zstd data is cut off in the frame at byte {offset}: the backup is \
         truncated or damaged; any output already written is incomplete"
    )]
    ZstdTruncated { offset: u64 },
    /// Where a zstd frame should begin (at the start, or after the last
    /// frame), the bytes are not one.
    #[error(
        "the backup's zstd data has bytes that are not a zstd frame at byte {offset} \
         (damage, or data after its end): the backup is damaged"
    )]
    ZstdNotAFrame { offset: u64 },
    /// A zstd frame does not decode: bad header or block, wrong size, or a
    /// checksum mismatch.
    #[error(
        "the backup's zstd data is corrupt in the frame at byte {offset} ({reason}): \
         the backup is damaged; any output already written is untrustworthy"
    )]
    ZstdCorrupt { offset: u64, reason: String },
}

impl From<Damage> for Error {
    fn from(damage: Damage) -> Self {
        Error::BadInput(damage)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
