//! Command-line definitions only (clap derive), so the man page and shell
//! completions can be generated from them. Parsing results are turned into a
//! validated plan in commands.rs; nothing here touches files.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use sealpipe::compress::Compression;
use sealpipe::keys::generate::KeyAlgorithm;

/// Encrypt backup streams with OpenPGP to the recipients pinned in a config
/// file; decrypt them again. Output is a standard OpenPGP message that GnuPG
/// restores on its own.
///
/// With no arguments, `sealpipe` encrypts stdin to stdout with the default
/// config; `sealpipe -d` decrypts (the calling convention of Amanda's
/// client_encrypt / server_encrypt).
#[derive(Debug, Parser)]
#[command(name = "sealpipe", version, args_conflicts_with_subcommands = true)]
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
    /// config, without a secret key. Exit 8 if any does not conform.
    Inspect(InspectArgs),
    /// Re-address a backup to the currently pinned recipients: the session
    /// key is re-wrapped, the encrypted data copied byte for byte.
    Rekey(RekeyArgs),
    /// Generate a key pair for backups (v4, readable by GnuPG 2.2) and print
    /// the config lines that pin it.
    Keygen(KeygenArgs),
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
    pub compression: Option<Compression>,

    /// Compression level (zstd 1-22, deflate 1-9) [default: 3 for zstd, 6 for deflate].
    #[arg(short, long, value_parser = clap::value_parser!(i32).range(1..=22))]
    pub level: Option<i32>,

    /// Compression threads [default: all cores].
    #[arg(short = 'j', long, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub threads: Option<u32>,

    /// ASCII-armor the output.
    #[arg(short, long)]
    pub armor: bool,

    /// Write the SHA-256 of the plaintext to this file (sha256sum format),
    /// for `sealpipe verify --digest-file`.
    #[arg(long, value_name = "FILE")]
    pub digest_file: Option<PathBuf>,

    #[command(flatten)]
    pub output: OutputArgs,

    /// The file to encrypt [default: stdin].
    pub input: Option<PathBuf>,
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

#[derive(Debug, Args, Default)]
pub struct KeyArgs {
    /// A secret key file; repeatable (old and new keys after a rotation).
    /// Default: [decrypt] keys in the config.
    #[arg(short, long = "key", value_name = "FILE")]
    pub keys: Vec<PathBuf>,

    /// Read the passphrase for protected secret keys from the first line of FILE.
    #[arg(long, value_name = "FILE", conflicts_with = "passphrase_fd")]
    pub passphrase_file: Option<PathBuf>,

    /// Read the passphrase from inherited file descriptor N (e.g. `3<file`).
    #[arg(long, value_name = "N")]
    pub passphrase_fd: Option<u32>,
}

#[derive(Debug, Args, Default)]
pub struct DecryptArgs {
    #[command(flatten)]
    pub keys: KeyArgs,

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

    /// zstd decompression threads [default: all cores].
    #[arg(short = 'j', long, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub threads: Option<u32>,

    /// Accept zstd frames with a window of up to MIB mebibytes; decrypt's
    /// memory grows with it [default: 8, twice what sealpipe writes].
    #[arg(long, value_name = "MIB", value_parser = clap::value_parser!(u64).range(1..=2048))]
    pub max_zstd_window: Option<u64>,

    /// The backup to decrypt [default: stdin].
    pub input: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub keys: KeyArgs,

    /// Compare the plaintext SHA-256 with this file (written by `encrypt --digest-file`).
    #[arg(long, value_name = "FILE", conflicts_with = "expect_sha256")]
    pub digest_file: Option<PathBuf>,

    /// Compare the plaintext SHA-256 with this value.
    #[arg(long, value_name = "HEX")]
    pub expect_sha256: Option<String>,

    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,

    /// The backup to verify [default: stdin].
    pub input: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Also name recipients found in these certs (e.g. retired keys); repeatable.
    #[arg(long = "cert", value_name = "FILE")]
    pub certs: Vec<PathBuf>,

    /// Open the start of each backup with these secret keys (`--key`) to
    /// report the cipher and compression too. Default: no secret key.
    #[command(flatten)]
    pub keys: KeyArgs,

    /// Print a JSON array, one object per backup.
    #[arg(long)]
    pub json: bool,

    /// The backups to inspect [default: stdin].
    pub files: Vec<PathBuf>,
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
    pub algorithm: KeyAlgorithm,

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

    /// Protect the secret key with the passphrase on the first line of FILE.
    #[arg(long, value_name = "FILE", conflicts_with = "passphrase_fd")]
    pub passphrase_file: Option<PathBuf>,

    /// Protect the secret key with the passphrase read from file descriptor N.
    #[arg(long, value_name = "N")]
    pub passphrase_fd: Option<u32>,

    /// Mark the key `required = true` (an escrow key) in the printed config lines.
    #[arg(long)]
    pub required: bool,
}
