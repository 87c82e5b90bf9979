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
    /// decrypt/verify: the backup's origin is refused: unsigned or not
    /// signed by a listed signer (`allowed_signers`), or a bad signature.
    pub const ORIGIN: u8 = 10;
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
    /// decrypt/verify: the backup is intact but its origin is refused
    /// (unsigned, signed by a key not allowed, or a bad signature); the
    /// problem says what was found.
    #[error("{0}")]
    Origin(crate::decrypt::origin::OriginProblem),
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
            Error::Origin(_) => exit::ORIGIN,
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
    /// The MDC fails with a session key given from outside (a key service,
    /// a session key file): the key is not this backup's, or the backup
    /// was modified. Either way no plaintext is trusted.
    #[error(
        "integrity check failed (MDC) with the given session key: it is not this backup's \
         session key, or the backup was modified or damaged; any output already released is \
         untrustworthy"
    )]
    IntegrityWithGivenKey,
    /// More one-pass signature or signature packets than decrypt checks:
    /// each costs a hash of the whole body or a verification.
    #[error(
        "the backup carries more than {limit} signatures (a backup has one per signing host):          refused unchecked, it is not a backup sealpipe or gpg wrote"
    )]
    TooManySignatures { limit: usize },
    /// A signature packet with no one-pass signature before the literal
    /// data to announce it: not how gpg or sealpipe sign.
    #[error(
        "the backup is malformed: a signature without its one-pass signature packet          (not what gpg -se or sealpipe write)"
    )]
    SignatureWithoutOnePass,
}

impl From<crate::keys::files::FileError> for Error {
    fn from(e: crate::keys::files::FileError) -> Self {
        Error::File(e)
    }
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
