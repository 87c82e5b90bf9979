//! `sealpipe keygen`: a new key pair, written once, and the config lines
//! that pin it.

use std::fs;
use std::path::{Path, PathBuf};

use sealpipe::io::print_stdout;
use sealpipe::keys::files;
use sealpipe::keys::generate::{self, KeygenPlan};
use sealpipe::openpgp::crypto::Password;
use sealpipe::{time, Error, Result};

use super::{ask_on_terminal, read_passphrase, terminal_for_prompts, ConfigFile};
use crate::cli::KeygenArgs;

pub fn run(config: &ConfigFile, args: KeygenArgs) -> Result<()> {
    let passphrase = match (
        &args.passphrase.passphrase_file,
        args.passphrase.passphrase_fd,
    ) {
        (None, None) if terminal_for_prompts() => ask_new_passphrase()?,
        (file, fd) => read_passphrase(file.as_deref(), fd)?,
    };
    let validity = generate::parse_validity(&args.expires)?;
    let key_created = time::now()?;
    let key = generate::generate(KeygenPlan {
        user_id: args
            .user_id
            .clone()
            .unwrap_or_else(|| format!("sealpipe backup key {}", args.name)),
        algorithm: args.algorithm.into(),
        validity,
        passphrase,
        now: key_created,
        signing: args.sign,
    })?;
    // Secret first: if it cannot be written, no orphan cert is left behind.
    files::create_new(
        &args.key_out,
        &generate::armored_secret_key(&key.cert)?,
        0o600,
    )?;
    files::create_new(&args.cert_out, &generate::armored_cert(&key.cert)?, 0o644)?;
    if let Some(path) = &args.revocation_out {
        files::create_new(
            path,
            &generate::armored_revocation(&key.cert, &key.revocation)?,
            0o600,
        )?;
    }
    let fingerprint = key.cert.fingerprint().to_hex();
    let mut snippet = match args.sign {
        true => signing_snippet(config, &args, &fingerprint),
        false => recipient_snippet(config, &args, &fingerprint),
    };
    snippet.push_str(&match validity {
        Some(v) => format!("# The key expires {}.\n", time::format_utc(key_created + v)),
        None => "# The key never expires.\n".into(),
    });
    print_stdout(&snippet)
}

/// The `[[recipient]]` table that pins a new encryption key.
fn recipient_snippet(config: &ConfigFile, args: &KeygenArgs, fingerprint: &str) -> String {
    let placement = CertPlacement::new(&args.cert_out, config.path());
    let mut snippet = format!(
        "# Add to the [[recipient]] list of {config}.\n\
         # cert is relative to that file's directory ({dir}){copy}.\n\
         [[recipient]]\n\
         name = {name}\n\
         fingerprint = \"{fingerprint}\"\n\
         cert = {cert}\n",
        config = config.path().display(),
        dir = placement.config_dir.display(),
        copy = match placement.outside {
            true => format!(": copy {} there", args.cert_out.display()),
            false => String::new(),
        },
        name = toml_string(&args.name),
        cert = toml_string(&placement.relative.display().to_string())
    );
    if args.required {
        snippet.push_str("required = true\n");
    }
    snippet
}

/// The `[sign]` table of the backup host that signs with a new signing key,
/// and the line for the allowed-signers file of the hosts that restore.
fn signing_snippet(config: &ConfigFile, args: &KeygenArgs, fingerprint: &str) -> String {
    let placement = CertPlacement::new(&args.key_out, config.path());
    format!(
        "# Add to {config} on the backup host that signs.\n\
         # key is relative to that file's directory ({dir}){copy}.\n\
         [sign]\n\
         key = {key}\n\
         # On the hosts that restore, add these lines to the allowed-signers file\n\
         # (gpg 2.4 --assert-signer format); give them the cert {cert}.\n\
         # {name}\n\
         {fingerprint}\n",
        config = config.path().display(),
        dir = placement.config_dir.display(),
        copy = match placement.outside {
            true => format!(": move {} there (mode 0600)", args.key_out.display()),
            false => String::new(),
        },
        key = toml_string(&placement.relative.display().to_string()),
        cert = args.cert_out.display(),
        name = args.name,
    )
}

/// On a terminal with no passphrase option: ask twice. An empty answer
/// leaves the key unprotected (a backup host's key, read by cron).
fn ask_new_passphrase() -> Result<Option<Password>> {
    let first = ask_on_terminal("Passphrase to protect the new secret key (empty for none): ")?;
    if first.is_empty() {
        return Ok(None);
    }
    let again = ask_on_terminal("The same passphrase again: ")?;
    if *first != *again {
        return Err(Error::Key(
            "the two passphrases differ; no key was written, run keygen again".into(),
        ));
    }
    Ok(Some(Password::from(first.as_str())))
}

/// Where a key file goes relative to the config that will name it: config
/// paths are relative to the config's directory, so that is what to print.
struct CertPlacement {
    config_dir: PathBuf,
    relative: PathBuf,
    /// The cert is not under the config's directory: it must be copied there.
    outside: bool,
}

impl CertPlacement {
    fn new(cert: &Path, config: &Path) -> CertPlacement {
        let absolute = |p: &Path| fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
        let config_dir = absolute(
            config
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new(".")),
        );
        let cert = absolute(cert);
        match cert.strip_prefix(&config_dir) {
            Ok(relative) => CertPlacement {
                relative: relative.to_path_buf(),
                config_dir,
                outside: false,
            },
            Err(_) => CertPlacement {
                relative: cert.file_name().map_or(cert.clone(), PathBuf::from),
                config_dir,
                outside: true,
            },
        }
    }
}

fn toml_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}
