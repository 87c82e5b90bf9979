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

    /// The input ends inside the OpenPGP message (cut off, or an encrypted
    /// packet shorter than its own framing can hold).
    #[error(
        "the backup is truncated: it ends before the OpenPGP message is complete; \
         any output already released is incomplete, restore from another copy"
    )]
    Truncated,

    /// The modification detection code does not match: some byte of the
    /// encrypted data (anywhere, the first block included) was changed.
    #[error(
        "integrity check failed (MDC): the backup was modified or damaged; \
         any output already released is untrustworthy, restore from another copy"
    )]
    Integrity,

    /// Bytes follow the end of the encrypted data packet.
    #[error(
        "the backup has trailing data after the encrypted packet (damaged, or two files \
         joined); restore from another copy or split the files"
    )]
    TrailingData,

    /// The packet lengths inside the encrypted data do not describe packets.
    #[error(
        "the backup is malformed: invalid packet framing ({what}); it is damaged or not a \
         backup, restore from another copy"
    )]
    Framing { what: &'static str },

    /// A SED packet: encryption without any integrity protection.
    #[error(
        "the backup has no integrity protection (a SED packet, not SEIPD): it could have been \
         modified undetectably, so sealpipe refuses to decrypt it (not something sealpipe or \
         gpg 2.2 writes)"
    )]
    NoIntegrityProtection,

    /// The encrypted data authenticates, but what it holds is not OpenPGP
    /// packets (it was encrypted by something that is not an OpenPGP writer).
    #[error(
        "the encrypted data authenticates (valid MDC), but what it holds is not OpenPGP \
         packets: it was not written by sealpipe or gpg, so sealpipe cannot restore it"
    )]
    NotPackets,

    /// Packets inside the encryption that no backup holds.
    #[error(
        "the backup is damaged or malformed: an unexpected {tag} packet inside the encryption; \
         restore from another copy"
    )]
    UnexpectedPacket { tag: String },

    /// Compression packets nested deeper than any writer nests them.
    #[error(
        "the backup is malformed: compression nested more than {limit} deep (a decompression \
         bomb, not a backup)"
    )]
    NestedTooDeep { limit: usize },

    /// A one-pass signature packet whose signature never comes.
    #[error(
        "the backup is malformed: a one-pass signature without its signature packet; \
         restore from another copy"
    )]
    UnmatchedOnePassSig,

    /// More than one literal data packet: not one backup stream.
    #[error("the backup holds more than one literal data packet: it is not one backup stream")]
    ManyLiterals,

    /// No literal data packet inside the encryption.
    #[error("the backup is malformed: no literal data inside the encryption")]
    NoLiteral,

    /// The OpenPGP layer is intact but the zstd stream inside is not.
    #[error(
        "zstd decompression failed: {reason}; the backup is damaged, restore from another copy"
    )]
    Zstd { reason: String },

    /// The key packet addressed to one of our keys does not decrypt with it.
    #[error(
        "the key packet addressed to secret key {key} does not decrypt with it: the backup's \
         key packets are damaged (another recipient's key may still open it)"
    )]
    KeyPacket { key: String },

    /// Something sequoia's standard policy rejects as insecure.
    #[error(
        "the backup is damaged, or uses something the standard policy rejects as insecure \
         ({what}); restore with a tool and policy you trust"
    )]
    PolicyRejected { what: String },

    /// The OpenPGP parser could not make sense of the message.
    #[error(
        "the backup is damaged or not an OpenPGP message ({detail}); restore from another copy"
    )]
    Malformed { detail: String },

    /// The message's cipher is one sequoia cannot decrypt (e.g. IDEA).
    #[error(
        "the backup is encrypted with {algo}, a cipher sealpipe does not support; restore it \
         with a tool that still does (e.g. an old gpg)"
    )]
    UnsupportedCipher { algo: String },

    /// sequoia's parser panicked on the input (a known sequoia 2.4 bug on
    /// some malformed packets); `at` is where, for the fuzz targets to tell
    /// a known sequoia panic from a new one. Not shown to users.
    #[error(
        "the backup is malformed (truncated or damaged where the OpenPGP parser cannot \
         continue); restore from another copy"
    )]
    ParserGaveUp { at: String },

    /// `--verify-first`: the second pass read other bytes than the first.
    #[error(
        "the backup changed between the verifying pass and the writing pass; nothing from \
         the changed part was released, but the output is incomplete"
    )]
    ChangedBetweenPasses,
}

impl From<Damage> for Error {
    fn from(damage: Damage) -> Self {
        Error::BadInput(damage)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
