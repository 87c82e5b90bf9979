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
    #[error("encryption refused, nothing was written: {}", crate::policy::Refusal::join(.refusals))]
    Policy {
        refusals: Vec<crate::policy::Refusal>,
    },

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

    /// A trusted file (config, cert, secret key, passphrase) that is
    /// missing, unsafe or not what it should be; the exit code follows
    /// what the file is for.
    #[error("{0}")]
    File(crate::keys::files::FileError),
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
            Error::File(e) => e.role.exit_code(),
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

    /// Something other than whitespace follows the armored message's END line.
    #[error(
        "the backup has trailing data after the end of its armored message \
         (garbage, or a second message appended); it is not one intact backup"
    )]
    ArmorTrailingData,

    /// Bytes follow the end of the encrypted data packet.
    #[error(
        "the backup has {bytes}+ bytes of trailing data after the encrypted packet \
         (damaged, or two files joined); it is not one intact backup"
    )]
    TrailingData { bytes: usize },

    /// The input ends inside the envelope or the encrypted data packet.
    #[error("the backup is truncated: it ends {place}; restore from another copy")]
    TruncatedAt { place: &'static str },

    /// The dearmoring reader rejected the text.
    #[error("the backup's ASCII armor is damaged ({reason}); restore from another copy")]
    ArmorDamaged { reason: String },

    /// An armor line before the data (the BEGIN line or a header such as
    /// `Comment:`) is longer than sealpipe reads.
    #[error(
        "the backup's ASCII armor has a header line longer than {limit} bytes: \
         not what gpg or sealpipe write, so it is refused unread"
    )]
    ArmorHeaderLineTooLong { limit: usize },

    /// The armor headers together are larger than sealpipe reads.
    #[error(
        "the backup's ASCII armor headers exceed {limit} bytes in total: \
         not what gpg or sealpipe write, so they are refused unread"
    )]
    ArmorHeadersTooLarge { limit: usize },

    /// A key packet (PKESK/SKESK) that cannot be parsed.
    #[error("the backup's key packets are malformed ({reason}); restore from another copy")]
    KeyPacketMalformed { reason: String },

    /// A key packet without a definite length.
    #[error("the backup's key packets are malformed: one has no definite length")]
    KeyPacketIndefinite,

    /// A key packet far larger than any real one.
    #[error("the backup's key packets are malformed: a {length}-byte key packet (at most {limit} are read)")]
    KeyPacketTooLarge { length: u64, limit: u64 },

    /// More key packets than sealpipe reads.
    #[error("the backup's key packets are malformed: more than {limit} of them")]
    TooManyKeyPackets { limit: usize },

    /// The input is empty.
    #[error("not an encrypted OpenPGP message: the input is empty")]
    EmptyInput,

    /// Not OpenPGP at all (random bytes, a tar file, plain text), or a
    /// first byte damaged: the two look the same.
    #[error(
        "not OpenPGP data, or a backup damaged at its very start ({why}); \
         sealpipe reads backups that are encrypted OpenPGP messages"
    )]
    NotOpenpgp { why: String },

    /// OpenPGP, but not an encrypted message: a key, a signature, ...
    #[error(
        "this is {what}, not an encrypted backup; \
         sealpipe reads backups that are encrypted OpenPGP messages"
    )]
    NotEncrypted { what: &'static str },

    /// Encrypted with a passphrase only (`gpg -c`): no public-key recipient.
    #[error(
        "the backup is encrypted with a passphrase only (gpg -c): sealpipe handles backups \
         encrypted to public keys; restore this one with gpg -d"
    )]
    PassphraseOnly,

    /// Encrypted data with no key packet in front: nobody can open it.
    #[error("the backup has no key packets in front of its encrypted data: no key can open it")]
    NoKeyPackets,

    /// The key packets are not followed by an encrypted data packet.
    #[error("the backup has no encrypted data packet after its key packets")]
    NoEncryptedData,

    /// rekey copies SEIPD v1 data only.
    #[error(
        "rekey handles SEIPD v1 messages (what sealpipe and GnuPG 2.2 write); this one is {container}"
    )]
    RekeyContainer { container: String },

    /// The session key's cipher is one the policy refuses (3DES, CAST5, ...).
    #[error(
        "the backup is encrypted with {cipher}, a legacy cipher the policy refuses \
         (decrypt refuses it too); restore it with gpg -d and encrypt it again with sealpipe"
    )]
    LegacyCipher { cipher: String },

    /// The session key's cipher is one sealpipe's crypto library lacks (IDEA).
    #[error(
        "the backup is encrypted with {cipher}, which sealpipe does not support; \
         restore it with gpg -d and encrypt it again with sealpipe"
    )]
    UnsupportedCipher { cipher: String },

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

impl From<crate::keys::files::FileError> for Error {
    fn from(e: crate::keys::files::FileError) -> Self {
        Error::File(e)
    }
}

impl From<Damage> for Error {
    fn from(damage: Damage) -> Self {
        Error::BadInput(damage)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
