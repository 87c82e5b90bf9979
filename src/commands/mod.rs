//! The commands: each turns its parsed arguments into a validated plan and
//! runs it, building the whole plan (config read, recipients approved, keys
//! loaded) before it writes a byte. One file per subcommand; the helpers
//! they share (the config, output, secret keys, passphrases) are here.

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

use std::cell::OnceCell;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use sealpipe::config::{config_path, Config};
use sealpipe::decrypt::origin::{AllowedSigners, SignerCheck};
use sealpipe::decrypt::{DecryptPlan, GivenSessionKey, PlaintextDigest, Reader, SopSessionKey};
use sealpipe::io::{Existing, Output, OutputKind};
use sealpipe::keys::agent::AgentKeys;
use sealpipe::keys::{decryption_keys, files, load_cert, passphrase_from_secret, SecretKeyring};
use sealpipe::openpgp::crypto::Password;
use sealpipe::{Error, Result};
use zeroize::Zeroizing;

use crate::cli::{
    Cli, Command, DecryptArgs, EncryptArgs, KeyArgs, OutputArgs, SessionKeyArgs, SignerArgs,
};

pub fn run(cli: Cli) -> anyhow::Result<()> {
    let config = ConfigFile::new(cli.config.as_deref());
    if cli.decrypt && cli.command.is_some() {
        // `--config` is global, so clap cannot keep `-d` apart by itself.
        return Err(Error::Usage(
            "-d is short for `sealpipe decrypt`; give either -d or a command, not both".into(),
        )
        .into());
    }
    match cli.command {
        Some(Command::Encrypt(args)) => Ok(encrypt::run(&config, args)?),
        Some(Command::Decrypt(args)) => Ok(decrypt::run(&config, args)?),
        Some(Command::Verify(args)) => Ok(verify::run(&config, args)?),
        Some(Command::Inspect(args)) => inspect::run(&config, args),
        Some(Command::Rekey(args)) => rekey::run(&config, args),
        Some(Command::Keygen(args)) => Ok(keygen::run(&config, args)?),
        Some(Command::Generate(args)) => generate::run(args),
        Some(Command::Check(args)) => check::run(&config, args),
        Some(Command::Extend(args)) => extend::run(args),
        Some(Command::Escrow(command)) => escrow::run(command),
        None if cli.decrypt => Ok(decrypt::run(&config, DecryptArgs::default())?),
        None => Ok(encrypt::run(&config, EncryptArgs::default())?),
    }
}

/// The config file of this run: read at most once, when first needed (a
/// decrypt with `--key` needs none).
pub(crate) struct ConfigFile {
    path: PathBuf,
    explicit: bool,
    loaded: OnceCell<Config>,
}

impl ConfigFile {
    fn new(explicit: Option<&Path>) -> Self {
        ConfigFile {
            path: config_path(explicit),
            explicit: explicit.is_some(),
            loaded: OnceCell::new(),
        }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Named by `--config` or `$SEALPIPE_CONFIG`, not the default.
    pub(crate) fn is_explicit(&self) -> bool {
        self.explicit
    }

    /// The config, if this run has read it already.
    pub(crate) fn loaded(&self) -> Option<&Config> {
        self.loaded.get()
    }

    pub(crate) fn load(&self) -> Result<&Config> {
        if let Some(config) = self.loaded.get() {
            return Ok(config);
        }
        let config = Config::load(&self.path)?;
        Ok(self.loaded.get_or_init(|| config))
    }
}

/// The output of a command: `-o FILE` (temp file, renamed when finished) or stdout.
pub(crate) fn open_output(args: &OutputArgs, kind: OutputKind) -> Result<Output> {
    let existing = match args.force {
        true => Existing::Replace,
        false => Existing::Refuse,
    };
    Output::open(args.output.as_deref(), kind, existing)
}

/// The secret keys for decrypt/verify: `--key` files if given, else the
/// config's `[decrypt] keys`. The config is read only when it is needed.
/// With `--agent` (or, without `--key`, `[decrypt] agent = true`) gpg-agent
/// is asked too: for the keys of certs among those files, and, from the
/// config, of the pinned recipients.
pub(crate) fn load_keyring(config: &ConfigFile, args: &KeyArgs) -> Result<SecretKeyring> {
    let mut paths: Vec<PathBuf> = args.keys.clone();
    let mut passphrase_file = args.passphrase.passphrase_file.clone();
    let from_config = paths.is_empty();
    let mut agent = None;
    if from_config {
        let settings = config.load()?;
        paths = settings.decrypt.keys.clone();
        passphrase_file = passphrase_file.or(settings.decrypt.passphrase_file.clone());
        if args.agent || settings.decrypt.agent {
            agent = Some(agent_keys(Some(settings))?);
        }
        if paths.is_empty() && agent.is_none() {
            return Err(Error::Key(format!(
                "no secret key to decrypt with: give --key FILE (or --agent) or list keys under \
                 [decrypt] in {}",
                config.path().display()
            )));
        }
    } else if args.agent {
        agent = Some(agent_keys(None)?);
    }
    let passphrase = read_passphrase(passphrase_file.as_deref(), args.passphrase.passphrase_fd)?;
    let keyring = SecretKeyring {
        passphrase,
        agent,
        ..SecretKeyring::default()
    };
    let mut keyring = match from_config {
        // A stale [decrypt] keys entry must not stop a restore another opens.
        true => keyring.with_listed_files(&paths)?,
        false => keyring.with_files(&paths)?,
    };
    let protected = keyring.keys.iter().any(|k| k.key.secret().is_encrypted());
    if keyring.passphrase.is_none() && protected && terminal_for_prompts() {
        let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        let prompt = format!("Passphrase for {}: ", names.join(", "));
        keyring.passphrase = Some(prompt_passphrase(&prompt)?);
    }
    Ok(keyring)
}

/// gpg-agent of the config's `agent_homedir` (else GnuPG's default home),
/// asked for the keys of the config's pinned recipients. The agent may
/// prompt (pinentry) only when a person is at a terminal.
pub(crate) fn agent_keys(settings: Option<&Config>) -> Result<AgentKeys> {
    let homedir = settings.and_then(|s| s.decrypt.agent_homedir.as_deref());
    let mut agent = AgentKeys::new(homedir, terminal_for_prompts())?;
    for pinned in settings.iter().flat_map(|s| &s.recipients) {
        let cert = load_cert(&pinned.cert)?;
        agent.add(&cert, &pinned.cert, decryption_keys(&cert));
    }
    Ok(agent)
}

/// Where decrypt and verify get the session key: a given one
/// (`--session-key-file`, `--session-key-command`, else `[decrypt]
/// session_key_command` when no `--key` is given) or the secret keys.
pub(crate) enum SessionKeys {
    Keyring(SecretKeyring),
    Given(GivenSessionKey),
}

impl SessionKeys {
    pub(crate) fn load(
        config: &ConfigFile,
        keys: &KeyArgs,
        given: &SessionKeyArgs,
    ) -> Result<SessionKeys> {
        if let Some(path) = &given.session_key_file {
            return read_session_key_file(path).map(|key| Self::Given(GivenSessionKey::Key(key)));
        }
        // `--key` and `--agent` are the command line's choice: the config's
        // key service is asked only when neither is given.
        let command = match (
            &given.session_key_command,
            keys.keys.is_empty() && !keys.agent,
        ) {
            (Some(command), _) => Some(command.clone()),
            (None, true) => config.load()?.decrypt.session_key_command.clone(),
            (None, false) => None,
        };
        match command {
            Some(command) => Ok(Self::Given(GivenSessionKey::Command(command))),
            None => load_keyring(config, keys).map(Self::Keyring),
        }
    }

    pub(crate) fn plan(&self, reader: Reader, digest: PlaintextDigest) -> DecryptPlan<'_> {
        match self {
            Self::Keyring(keyring) => DecryptPlan::new(keyring, reader, digest),
            Self::Given(given) => DecryptPlan::given(given.clone(), reader, digest),
        }
    }
}

/// The signer check of decrypt and verify: `--allowed-signers` and
/// `--signer-cert` if given, else `[decrypt] allowed_signers` and
/// `signer_certs`. The config is read whenever it exists, even with
/// `--key`: a restore must not drop the origin check because its key came
/// from the command line. Only a config that does not exist means none (an
/// auditor's machine with a session key file); one that cannot be read is
/// an error, as it would be without `--key`.
pub(crate) fn load_signers(config: &ConfigFile, args: &SignerArgs) -> Result<SignerCheck> {
    let settings = match config.load() {
        Ok(settings) => Some(&settings.decrypt),
        Err(Error::File(e)) if matches!(e.problem, files::FileProblem::Missing) => None,
        Err(e) => return Err(e),
    };
    let allowed_path = args
        .allowed_signers
        .clone()
        .or_else(|| settings.and_then(|s| s.allowed_signers.clone()));
    let cert_paths = match args.signer_certs.is_empty() {
        false => args.signer_certs.clone(),
        true => settings.map(|s| s.signer_certs.clone()).unwrap_or_default(),
    };
    let allowed = allowed_path
        .map(|path| AllowedSigners::load(&path))
        .transpose()?;
    let certs = cert_paths
        .iter()
        .map(|path| sealpipe::keys::load_cert(path).map_err(Error::File))
        .collect::<Result<Vec<_>>>()?;
    SignerCheck::new(certs, allowed)
}

/// A session key from a private file: its first line, `ALGO:HEX`.
fn read_session_key_file(path: &Path) -> Result<SopSessionKey> {
    let secret = files::read_secret(path, files::Role::SessionKey)?;
    SopSessionKey::parse(files::first_line(&secret)).map_err(|why| {
        Error::Key(format!(
            "session key file {} does not hold a session key ({why}); its first line must be \
             ALGO:HEX, as `sealpipe verify --print-session-key` prints it",
            path.display()
        ))
    })
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
        return Err(Error::Key("the passphrase is empty".into()));
    }
    Ok(Some(passphrase))
}

/// Whether a person is there to answer a prompt: stderr is a terminal and
/// the process has a controlling terminal to read from. Never true under
/// cron, Amanda or Bacula (no terminal, stderr captured), so batch runs
/// keep failing with a clear message instead of waiting for an answer.
pub(crate) fn terminal_for_prompts() -> bool {
    std::io::stderr().is_terminal() && std::fs::File::open("/dev/tty").is_ok()
}

/// Ask for a passphrase to unlock keys; an empty answer is refused.
fn prompt_passphrase(prompt: &str) -> Result<Password> {
    let answer = ask_on_terminal(prompt)?;
    if answer.is_empty() {
        return Err(Error::Key("the passphrase is empty".into()));
    }
    Ok(Password::from(answer.as_str()))
}

/// Ask on the controlling terminal, echo off; the answer is wiped when dropped.
pub(crate) fn ask_on_terminal(prompt: &str) -> Result<Zeroizing<String>> {
    rpassword::prompt_password(prompt)
        .map(Zeroizing::new)
        .map_err(|e| Error::io("cannot read the passphrase from the terminal", e))
}
