//! The commands: each turns its parsed arguments into a validated plan and
//! runs it, building the whole plan (config read, recipients approved, keys
//! loaded) before it writes a byte. One file per subcommand; the helpers
//! they share (output, secret keys, passphrases) are here.

mod check;
mod decrypt;
mod encrypt;
mod escrow;
mod extend;
mod generate;
mod inspect;
mod keygen;
mod rekey;
mod verify;

use std::path::{Path, PathBuf};

use anyhow::Result;
use sealpipe::config::{config_path, Config};
use sealpipe::io::Output;
use sealpipe::keys::{files, passphrase_from_secret, SecretKeyring};
use sealpipe::openpgp::crypto::Password;
use sealpipe::Error;

use crate::cli::{Cli, Command, DecryptArgs, EncryptArgs, KeyArgs, OutputArgs};

pub fn run(cli: Cli) -> Result<()> {
    let config = cli.config.as_deref();
    match cli.command {
        Some(Command::Encrypt(args)) => encrypt::run(config, args),
        Some(Command::Decrypt(args)) => decrypt::run(config, args),
        Some(Command::Verify(args)) => verify::run(config, args),
        Some(Command::Inspect(args)) => inspect::run(config, args),
        Some(Command::Rekey(args)) => rekey::run(config, args),
        Some(Command::Keygen(args)) => keygen::run(args),
        Some(Command::Generate(args)) => generate::run(args),
        Some(Command::Check(args)) => check::run(config, args),
        Some(Command::Extend(args)) => extend::run(args),
        Some(Command::Escrow(command)) => escrow::run(command),
        None if cli.decrypt => decrypt::run(config, DecryptArgs::default()),
        None => encrypt::run(config, EncryptArgs::default()),
    }
}

/// The output of a command: `-o FILE` (temp file, renamed when finished) or stdout.
pub(crate) fn open_output(args: &OutputArgs, binary: bool) -> Result<Output> {
    Ok(Output::open(args.output.as_deref(), binary, args.force)?)
}

/// The secret keys for decrypt/verify: `--key` files if given, else the
/// config's `[decrypt] keys`. The config is read only when it is needed.
pub(crate) fn load_keyring(config: Option<&Path>, args: &KeyArgs) -> Result<SecretKeyring> {
    let mut paths: Vec<PathBuf> = args.keys.clone();
    let mut passphrase_file = args.passphrase_file.clone();
    let from_config = paths.is_empty();
    if from_config {
        let path = config_path(config);
        let config = Config::load(&path)?;
        paths = config.decrypt.keys;
        passphrase_file = passphrase_file.or(config.decrypt.passphrase_file);
        if paths.is_empty() {
            return Err(Error::Usage(format!(
                "no secret key to decrypt with: give --key FILE or list keys under [decrypt] in {}",
                path.display()
            ))
            .into());
        }
    }
    let passphrase = read_passphrase(passphrase_file.as_deref(), args.passphrase_fd)?;
    if from_config {
        // A stale [decrypt] keys entry must not stop a restore another opens.
        return Ok(SecretKeyring::load_listed(&paths, passphrase)?);
    }
    Ok(SecretKeyring::load(&paths, passphrase)?)
}

/// A passphrase from a private file or an inherited fd; never from argv.
pub(crate) fn read_passphrase(file: Option<&Path>, fd: Option<u32>) -> Result<Option<Password>> {
    let secret = match (file, fd) {
        (Some(path), _) => {
            files::read_secret(path, files::Role::Passphrase).map_err(Error::from)?
        }
        (None, Some(fd)) => files::read_passphrase_fd(fd)?,
        (None, None) => return Ok(None),
    };
    let passphrase = passphrase_from_secret(&secret);
    if passphrase.map(|p| p.is_empty()) {
        return Err(Error::Key("the passphrase is empty".into()).into());
    }
    Ok(Some(passphrase))
}
