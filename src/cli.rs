//! Command-line definitions only (clap derive), so the man page and shell
//! completions can be generated from them. Parsing results are turned into a
//! validated plan in commands.rs; nothing here touches files. The value
//! enums (`...Arg`) stand for library enums, so the library needs no clap.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use sealpipe::compress::Compression;
use sealpipe::inspect::Requirement;
use sealpipe::keys::generate::KeyAlgorithm;
use sealpipe::keys::service::SessionKeyCommand;
use sealpipe::progress::ProgressMode;
use sealpipe::settings::{Level, Threads};

/// Encrypt backup streams with OpenPGP to the recipients pinned in a config
/// file; decrypt them again. Output is a standard OpenPGP message that GnuPG
/// restores on its own.
///
/// With no arguments, `sealpipe` encrypts stdin to stdout with the default
/// config; `sealpipe -d` decrypts (the calling convention of Amanda's
/// client_encrypt / server_encrypt).
#[derive(Debug, Parser)]
#[command(name = "sealpipe", version)]
pub struct Cli {
    /// Decrypt stdin to stdout (same as `sealpipe decrypt`; for Amanda).
    #[arg(short = 'd')]
    pub decrypt: bool,

    /// The config file [default: /etc/sealpipe/sealpipe.toml].
    #[arg(long, global = true, env = "SEALPIPE_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Compress and encrypt INPUT (or stdin) to the pinned recipients.
    Encrypt(EncryptArgs),
    /// Decrypt and decompress INPUT (or stdin).
    Decrypt(DecryptArgs),
    /// Test-restore a backup: decrypt and decompress fully, write nothing,
    /// report size, SHA-256 and the key that opened it.
    Verify(VerifyArgs),
    /// Show who can open backups and whether they conform to the current
    /// config, without a secret key. Exit 8 if any does not conform
    /// (`--require openable`, the default, or `exact`).
    Inspect(InspectArgs),
    /// Re-address a backup to the currently pinned recipients: the session
    /// key is re-wrapped, the encrypted data copied byte for byte.
    Rekey(RekeyArgs),
    /// Generate a key pair for backups (v4, readable by GnuPG 2.2) and print
    /// the config lines that pin it.
    Keygen(KeygenArgs),
    /// Write the man pages or print a shell completion script (for packagers).
    Generate(GenerateArgs),
    /// For cron or monitoring: report each pinned key's expiry. Exit 0 when
    /// all is well, 9 when a key expires within --warn-days, 4 when encrypt
    /// would refuse now, 5 when a [decrypt] key does not load.
    Check(CheckArgs),
    /// Move a key's expiry: new self-signatures, same fingerprint, so the
    /// pins stay. Writes the new cert (copy it to every backup host).
    Extend(ExtendArgs),
    /// Split an escrow key k-of-n (libgfshare's format) or combine shares.
    #[command(subcommand)]
    Escrow(EscrowCommand),
}

#[derive(Debug, Args, Default)]
pub struct EncryptArgs {
    /// Encrypt only to these pinned recipients (name or fingerprint);
    /// repeatable. Default: all pinned recipients. Required ones cannot be
    /// left out, and unpinned ones are refused.
    #[arg(short, long = "recipient", value_name = "NAME|FPR")]
    pub recipients: Vec<String>,

    /// Compression [default: from config, else zstd].
    #[arg(short, long, value_enum)]
    pub compression: Option<CompressionArg>,

    /// Compression level (zstd 1-22, deflate 1-9; none has no levels) [default: 3 for zstd, 6 for deflate].
    #[arg(short, long)]
    pub level: Option<Level>,

    /// Compression threads, 1-256 [default: all cores]; zstd uses at most 3 (memory bound).
    #[arg(short = 'j', long)]
    pub threads: Option<Threads>,

    /// ASCII-armor the output.
    #[arg(short, long)]
    pub armor: bool,

    /// Sign with the secret key in FILE (made by `keygen --sign`) [default:
    /// the config's [sign] key]; checked before anything is written.
    #[arg(long, value_name = "FILE")]
    pub sign_key: Option<PathBuf>,

    /// Write the SHA-256 of the plaintext to this file (sha256sum format),
    /// for `sealpipe verify --digest-file`.
    #[arg(long, value_name = "FILE")]
    pub digest_file: Option<PathBuf>,

    #[command(flatten)]
    pub output: OutputArgs,

    #[command(flatten)]
    pub progress: ProgressArgs,

    /// The file to encrypt [default: stdin].
    pub input: Option<PathBuf>,
}

/// `--compression`: [`Compression`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CompressionArg {
    /// zstd inside the literal data: fast, multi-threaded. Restore with `gpg -d | zstd -d`.
    Zstd,
    /// An OpenPGP compressed-data packet (deflate). Restore with plain `gpg -d`.
    Deflate,
    /// No compression, for data that is already compressed.
    None,
}

impl From<CompressionArg> for Compression {
    fn from(arg: CompressionArg) -> Self {
        match arg {
            CompressionArg::Zstd => Compression::Zstd,
            CompressionArg::Deflate => Compression::Deflate,
            CompressionArg::None => Compression::None,
        }
    }
}

#[derive(Debug, Args, Default)]
pub struct ProgressArgs {
    /// Show one progress line on stderr (bytes in and out, rate, elapsed):
    /// auto draws it only when stderr is a terminal; `--progress` alone means always.
    #[arg(
        long,
        value_enum,
        value_name = "WHEN",
        default_value = "auto",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "always"
    )]
    pub progress: ProgressArg,
}

/// `--progress`: [`ProgressMode`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ProgressArg {
    /// Only when stderr is a terminal (never under cron, Amanda, Bacula).
    #[default]
    Auto,
    /// Always, even to a pipe or file.
    Always,
    /// Never.
    Never,
}

impl From<ProgressArg> for ProgressMode {
    fn from(arg: ProgressArg) -> Self {
        match arg {
            ProgressArg::Auto => ProgressMode::Auto,
            ProgressArg::Always => ProgressMode::Always,
            ProgressArg::Never => ProgressMode::Never,
        }
    }
}

#[derive(Debug, Args, Default)]
pub struct OutputArgs {
    /// Write to FILE instead of stdout; it appears only when complete.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Overwrite the --output file if it exists.
    #[arg(short, long, requires = "output")]
    pub force: bool,
}

/// Where a passphrase comes from: never the command line itself (a
/// secret on argv is visible to every user of the machine).
#[derive(Debug, Args, Default)]
pub struct PassphraseArgs {
    /// Read the passphrase from the first line of FILE (mode 0600 or stricter).
    #[arg(long, value_name = "FILE", conflicts_with = "passphrase_fd")]
    pub passphrase_file: Option<PathBuf>,

    /// Read the passphrase from inherited file descriptor N (e.g. `3<file`).
    #[arg(long, value_name = "N")]
    pub passphrase_fd: Option<u32>,
}

#[derive(Debug, Args, Default)]
pub struct KeyArgs {
    /// A secret key file; repeatable (old and new keys after a rotation).
    /// Default: [decrypt] keys in the config.
    #[arg(short, long = "key", value_name = "FILE")]
    pub keys: Vec<PathBuf>,

    #[command(flatten)]
    pub passphrase: PassphraseArgs,

    /// Let gpg-agent unwrap the session key (keys in GnuPG, on an OpenPGP
    /// card or YubiKey): the secret never enters sealpipe. A --key FILE may
    /// then be a cert (public); without --key, the certs in the config name
    /// the keys to ask for [default: [decrypt] agent]. See docs/agent.md.
    #[arg(long)]
    pub agent: bool,
}

/// A session key from outside: no secret key is needed (docs/keys.md, "Keys
/// held elsewhere: a key service").
#[derive(Debug, Args, Default)]
pub struct SessionKeyArgs {
    /// Ask this command for the session key (a key service: Vault, a KMS, an
    /// HSM, gpg): it reads the backup's key packets on stdin and prints
    /// ALGO:HEX. Split into words like a shell line (quotes, backslashes),
    /// but run without a shell: write `sh -c '...'` for one [default:
    /// [decrypt] session_key_command].
    #[arg(long, value_name = "CMD",
          conflicts_with_all = ["keys", "passphrase_file", "passphrase_fd", "session_key_file", "agent"])]
    pub session_key_command: Option<SessionKeyCommand>,

    /// Open the backup with the session key in FILE (ALGO:HEX, as `verify
    /// --print-session-key` prints it; a secret: mode 0600).
    #[arg(long, value_name = "FILE",
          conflicts_with_all = ["keys", "passphrase_file", "passphrase_fd", "agent"])]
    pub session_key_file: Option<PathBuf>,
}

#[derive(Debug, Args, Default)]
pub struct DecryptArgs {
    #[command(flatten)]
    pub keys: KeyArgs,

    #[command(flatten)]
    pub session_key: SessionKeyArgs,

    #[command(flatten)]
    pub signers: SignerArgs,

    #[command(flatten)]
    pub output: OutputArgs,

    /// Release no byte before the whole backup is authenticated: check it
    /// in a first pass, write in a second. Stdin is first spooled (still
    /// encrypted) to --spool-dir.
    #[arg(long)]
    pub verify_first: bool,

    /// Where --verify-first spools a backup read from a pipe [default: $TMPDIR, else /tmp].
    #[arg(long, value_name = "DIR", requires = "verify_first")]
    pub spool_dir: Option<PathBuf>,

    /// zstd decompression threads [default: all cores]; at most 3 are used (memory bound).
    #[arg(short = 'j', long, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub threads: Option<u32>,

    /// Accept zstd frames with a window of up to MIB mebibytes; decrypt's
    /// memory grows with it [default: 8, twice what sealpipe writes].
    #[arg(long, value_name = "MIB", value_parser = clap::value_parser!(u64).range(1..=2048))]
    pub max_zstd_window: Option<u64>,

    #[command(flatten)]
    pub progress: ProgressArgs,

    /// The backup to decrypt [default: stdin].
    pub input: Option<PathBuf>,

    /// Which OpenPGP reader decrypts (hidden: for the tests that show the
    /// readers agree).
    #[arg(long, value_enum, default_value_t = ReaderArg::Fast, hide = true)]
    pub reader: ReaderArg,
}

/// `--reader`: sealpipe's own SEIPDv1 reader (default) or sequoia's stock one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ReaderArg {
    #[default]
    Fast,
    Stock,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub keys: KeyArgs,

    #[command(flatten)]
    pub session_key: SessionKeyArgs,

    #[command(flatten)]
    pub signers: SignerArgs,

    /// Also print the session key (ALGO:HEX, as `gpg --show-session-key`):
    /// it opens this one backup for whoever holds it (an auditor, with
    /// `decrypt --session-key-file`), and nothing else. A secret: keep it
    /// as you would the backup's plaintext.
    #[arg(long)]
    pub print_session_key: bool,

    /// Compare the plaintext SHA-256 with this file (written by `encrypt --digest-file`).
    #[arg(long, value_name = "FILE", conflicts_with = "expect_sha256")]
    pub digest_file: Option<PathBuf>,

    /// Compare the plaintext SHA-256 with this value.
    #[arg(long, value_name = "HEX")]
    pub expect_sha256: Option<String>,

    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub progress: ProgressArgs,

    /// The backup to verify [default: stdin].
    pub input: Option<PathBuf>,
}

#[derive(Debug, Args)]
#[command(mut_arg("keys", |a| a.help(
    "A secret key file to open the start of each backup with, to report its cipher and \
     compression; repeatable. Default: none (inspect needs no secret key; it does not use \
     [decrypt] keys in the config)"
)))]
pub struct InspectArgs {
    /// Also name recipients found in these certs (e.g. retired keys); repeatable.
    #[arg(long = "cert", value_name = "FILE")]
    pub certs: Vec<PathBuf>,

    /// Open the start of each backup with these secret keys (`--key`) to
    /// report the cipher and compression too. Default: no secret key.
    #[command(flatten)]
    pub keys: KeyArgs,

    /// Which question fails the exit code (8): `openable`, a current key and
    /// every required one (escrow) can open the backup; `exact`, it is also
    /// written for exactly today's recipients (no retired key, no passphrase).
    #[arg(long, value_enum, default_value = "openable", value_name = "QUESTION")]
    pub require: RequirementArg,

    /// Print a JSON array, one object per backup.
    #[arg(long)]
    pub json: bool,

    /// The backups to inspect [default: stdin].
    pub files: Vec<PathBuf>,
}

/// `--require`: [`Requirement`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RequirementArg {
    /// A current key of the config, and every required one (the escrow),
    /// can open the backup. Backups made before a rotation pass.
    Openable,
    /// Also written for exactly today's recipients: no key that is no
    /// longer pinned and no passphrase can open it.
    Exact,
}

impl From<RequirementArg> for Requirement {
    fn from(arg: RequirementArg) -> Self {
        match arg {
            RequirementArg::Openable => Requirement::Openable,
            RequirementArg::Exact => Requirement::Exact,
        }
    }
}

#[derive(Debug, Args)]
pub struct RekeyArgs {
    /// Wrap for only these pinned recipients (name or fingerprint);
    /// repeatable. Default: all pinned recipients.
    #[arg(short, long = "recipient", value_name = "NAME|FPR")]
    pub recipients: Vec<String>,

    /// ASCII-armor the output.
    #[arg(short, long)]
    pub armor: bool,

    /// A secret key that opens the backup (`--key`); default: [decrypt] keys in the config.
    #[command(flatten)]
    pub keys: KeyArgs,

    #[command(flatten)]
    pub output: OutputArgs,

    #[command(flatten)]
    pub progress: ProgressArgs,

    /// The backup to rekey [default: stdin].
    pub input: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// The recipient's name in the config, e.g. "daily-2026" or "escrow".
    #[arg(long)]
    pub name: String,

    /// The user ID [default: "sealpipe backup key NAME"].
    #[arg(long, value_name = "UID")]
    pub user_id: Option<String>,

    /// Key algorithm.
    #[arg(long, value_enum, default_value = "cv25519")]
    pub algorithm: KeyAlgorithmArg,

    /// How long the key is valid: e.g. 2y, 18m, 90d, or "never".
    #[arg(long, default_value = "2y", value_name = "DURATION")]
    pub expires: String,

    /// Where to write the public cert (created; never overwritten).
    #[arg(long, value_name = "FILE")]
    pub cert_out: PathBuf,

    /// Where to write the secret key (created with mode 0600; never overwritten).
    #[arg(long, value_name = "FILE")]
    pub key_out: PathBuf,

    /// Where to write a revocation certificate, to publish if the key leaks.
    #[arg(long, value_name = "FILE")]
    pub revocation_out: Option<PathBuf>,

    #[command(flatten)]
    pub passphrase: PassphraseArgs,

    /// Mark the key `required = true` (an escrow key) in the printed config lines.
    #[arg(long)]
    pub required: bool,

    /// Make a signing key for a backup host (`[sign] key`): it signs
    /// backups and can never decrypt them.
    #[arg(long, conflicts_with = "required")]
    pub sign: bool,
}

/// `--algorithm`: [`KeyAlgorithm`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KeyAlgorithmArg {
    /// Ed25519 primary key, Cv25519 encryption subkey (small and fast);
    /// with --sign an Ed25519 signing subkey.
    Cv25519,
    /// RSA-4096 primary key and encryption (or, with --sign, signing)
    /// subkey (for old or strict environments).
    Rsa4096,
}

impl From<KeyAlgorithmArg> for KeyAlgorithm {
    fn from(arg: KeyAlgorithmArg) -> Self {
        match arg {
            KeyAlgorithmArg::Cv25519 => KeyAlgorithm::Cv25519,
            KeyAlgorithmArg::Rsa4096 => KeyAlgorithm::Rsa4096,
        }
    }
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    #[command(subcommand)]
    pub what: GenerateWhat,
}

#[derive(Debug, Subcommand)]
pub enum GenerateWhat {
    /// Write sealpipe.1 and one page per subcommand (sealpipe-encrypt.1, ...) into DIR.
    Man {
        /// The directory to write the pages to (created if missing).
        dir: PathBuf,
    },
    /// Print the completion script for SHELL to stdout.
    Completion {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Warn (exit 9) when a pinned key, the signing key or a signer cert
    /// expires within this many days (0-36500).
    #[arg(long, default_value_t = 30, value_name = "N",
          value_parser = clap::value_parser!(u64).range(0..=36_500))]
    pub warn_days: u64,

    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ExtendArgs {
    /// The secret key file (as written by keygen --key-out).
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,

    /// The new validity, counted from now: e.g. 2y, 18m, 90d, or "never".
    #[arg(long, value_name = "DURATION")]
    pub expires: String,

    /// Where to write the extended public cert (created; never overwritten).
    #[arg(long, value_name = "FILE")]
    pub cert_out: PathBuf,

    /// Also write the extended secret key here (mode 0600; never overwritten).
    #[arg(long, value_name = "FILE")]
    pub key_out: Option<PathBuf>,

    #[command(flatten)]
    pub passphrase: PassphraseArgs,
}

#[derive(Debug, Subcommand)]
pub enum EscrowCommand {
    /// Split a key file into N shares, any K of which rebuild it (also with
    /// Debian's gfcombine); one printable sheet per share.
    Split(EscrowSplitArgs),
    /// Rebuild a key file from K shares and check it against the sheets.
    Combine(EscrowCombineArgs),
}

#[derive(Debug, Args)]
pub struct EscrowSplitArgs {
    /// The key file to split, as it is (a passphrase stays on it).
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,

    /// How many shares rebuild the key (K).
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u8).range(2..))]
    pub threshold: u8,

    /// How many shares to make (N).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(2..))]
    pub shares: u8,

    /// Where to create the share files NAME.NNN and their sheets (must not
    /// hold them yet).
    #[arg(long, value_name = "DIR")]
    pub out_dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct EscrowCombineArgs {
    /// The share files (NAME.NNN); a sheet NAME.NNN.sheet.txt beside one is
    /// used to check the result.
    #[arg(required = true, value_name = "SHARE")]
    pub shares: Vec<PathBuf>,

    /// Where to write the rebuilt key (mode 0600; never overwritten).
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,

    /// A share sheet to check the result against; repeatable.
    #[arg(long = "sheet", value_name = "FILE")]
    pub sheets: Vec<PathBuf>,

    /// Check the result against this SHA-256 of the key file instead of a sheet.
    #[arg(long, value_name = "HEX")]
    pub expect_sha256: Option<String>,

    /// Accept a result checked only for being an OpenPGP secret key (no sheet
    /// and no --expect-sha256: damage inside the key could go unseen).
    #[arg(long, conflicts_with_all = ["sheets", "expect_sha256"])]
    pub unverified: bool,
}

/// Who may have signed a backup (docs/keys.md, "Signing keys and allowed
/// signers").
#[derive(Debug, Args, Default)]
pub struct SignerArgs {
    /// Accept only backups signed by a signer listed in FILE (fingerprints,
    /// one a line, as gpg 2.4's --assert-signer reads) [default: [decrypt]
    /// allowed_signers].
    #[arg(long, value_name = "FILE")]
    pub allowed_signers: Option<PathBuf>,

    /// A signer's cert (keygen --sign's --cert-out) to check signatures
    /// with; repeatable [default: [decrypt] signer_certs].
    #[arg(long = "signer-cert", value_name = "FILE")]
    pub signer_certs: Vec<PathBuf>,
}
