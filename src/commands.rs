//! Turns parsed arguments into validated plans and runs them. Each command
//! builds its whole plan (config read, recipients approved, keys loaded)
//! before it writes a byte.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Result;
use sealpipe::compress::Compression;
use sealpipe::config::{config_path, Config};
use sealpipe::decrypt::{self, DecryptSummary};
use sealpipe::digest;
use sealpipe::encrypt::{self, EncryptPlan};
use sealpipe::inspect::{self, KnownCerts};
use sealpipe::io::{print_stdout, Input, Output};
use sealpipe::keys::{self, passphrase_from_secret, KeygenPlan, SecretKeyring};
use sealpipe::openpgp::crypto::Password;
use sealpipe::rekey::{self, RekeyPlan};
use sealpipe::{files, policy, time, Error};

use crate::cli::{
    Cli, Command, DecryptArgs, EncryptArgs, InspectArgs, KeyArgs, KeygenArgs, OutputArgs,
    RekeyArgs, VerifyArgs,
};

pub fn run(cli: Cli) -> Result<()> {
    let config = cli.config.as_deref();
    match cli.command {
        Some(Command::Encrypt(args)) => encrypt(config, args),
        Some(Command::Decrypt(args)) => decrypt(config, args),
        Some(Command::Verify(args)) => verify(config, args),
        Some(Command::Inspect(args)) => inspect(config, args),
        Some(Command::Rekey(args)) => rekey(config, args),
        Some(Command::Keygen(args)) => keygen(args),
        None if cli.decrypt => decrypt(config, DecryptArgs::default()),
        None => encrypt(config, EncryptArgs::default()),
    }
}

fn encrypt(config: Option<&Path>, args: EncryptArgs) -> Result<()> {
    let config = Config::load(&config_path(config))?;
    let now = time::now()?;
    let defaults = &config.encrypt;
    let compression = args
        .compression
        .or(defaults.compression)
        .unwrap_or(Compression::Zstd);
    // The config's level belongs to the config's compression: `-c deflate`
    // on a zstd config gets deflate's default, not zstd's level 3.
    let config_level = defaults
        .level
        .filter(|_| defaults.compression.unwrap_or(Compression::Zstd) == compression);
    let level = args
        .level
        .or(config_level)
        .unwrap_or(compression.default_level());
    if compression == Compression::Deflate && level > 9 {
        return Err(Error::Usage(format!("deflate levels are 1-9, got {level}")).into());
    }
    let plan = EncryptPlan {
        recipients: policy::select_recipients(&config, &args.recipients, now)?,
        compression,
        level,
        threads: args.threads.or(defaults.threads).unwrap_or_else(all_cores),
        armor: args.armor || defaults.armor.unwrap_or(false),
        now,
        digest: args.digest_file.is_some(),
    };
    let input = Input::open(args.input.as_deref())?;
    let mut output = open_output(&args.output, !plan.armor)?;
    let summary = encrypt::encrypt(&plan, input, &mut output)?;
    output.finish()?;
    if let (Some(path), Some(sha256)) = (&args.digest_file, &summary.sha256) {
        let name = args
            .input
            .as_deref()
            .map_or("-".into(), |p| p.display().to_string());
        fs::write(path, digest::digest_line(sha256, &name)).map_err(|e| {
            Error::io(
                format!(
                    "the backup was written, but the digest file {} was not",
                    path.display()
                ),
                e,
            )
        })?;
    }
    Ok(())
}

fn all_cores() -> u32 {
    std::thread::available_parallelism().map_or(1, |n| n.get() as u32)
}

fn decrypt(config: Option<&Path>, args: DecryptArgs) -> Result<()> {
    let keyring = load_keyring(config, &args.keys)?;
    let input = Input::open(args.input.as_deref())?;
    let mut output = open_output(&args.output, false)?;
    if args.verify_first {
        let spool_dir = args.spool_dir.unwrap_or_else(std::env::temp_dir);
        decrypt::decrypt_verified_first(&keyring, input, &spool_dir, &mut output)?;
    } else {
        decrypt::decrypt(&keyring, input, &mut output, false)?;
    }
    output.finish()?;
    Ok(())
}

fn verify(config: Option<&Path>, args: VerifyArgs) -> Result<()> {
    let expected = match (&args.digest_file, &args.expect_sha256) {
        (Some(path), _) => {
            let text = fs::read_to_string(path)
                .map_err(|e| Error::io(format!("cannot read digest file {}", path.display()), e))?;
            Some(
                digest::parse_digest_line(&text).ok_or_else(|| {
                    Error::Usage(format!("{} holds no SHA-256 line", path.display()))
                })?,
            )
        }
        (None, Some(hex)) => Some(digest::parse_digest_line(hex).ok_or_else(|| {
            Error::Usage(format!("--expect-sha256 needs 64 hex digits, got '{hex}'"))
        })?),
        (None, None) => None,
    };
    let keyring = load_keyring(config, &args.keys)?;
    let input = Input::open(args.input.as_deref())?;
    let summary = decrypt::decrypt(&keyring, input, &mut Output::Null, true)?;
    print_verify_report(&summary, args.json)?;
    let actual = summary.sha256.unwrap_or_default();
    match expected {
        Some(want) if want != actual => Err(Error::Mismatch(format!(
            "the backup decrypts cleanly but its plaintext SHA-256 is {actual}, expected {want}: \
             it is not the backup the digest belongs to"
        ))
        .into()),
        _ => Ok(()),
    }
}

fn print_verify_report(summary: &DecryptSummary, json: bool) -> Result<()> {
    let facts = &summary.facts;
    let opened = facts.opened_by.as_ref();
    let report = if json {
        let report = serde_json::json!({
            "status": "ok",
            "plaintext_bytes": summary.plaintext_bytes,
            "ciphertext_bytes": summary.ciphertext_bytes,
            "sha256": summary.sha256,
            "compression": facts.compression_name(),
            "cipher": facts.cipher.map(|c| c.to_string()),
            "opened_by_key": opened.map(|o| o.key.to_hex()),
            "opened_by_cert": opened.map(|o| o.cert.to_hex()),
            "key_file": opened.map(|o| o.source.display().to_string()),
        });
        format!("{report}\n")
    } else {
        let mut text = format!(
            "ok: the backup decrypts and decompresses cleanly\n\
             plaintext bytes: {}\n\
             sha256: {}\n\
             compression: {}\n",
            summary.plaintext_bytes,
            summary.sha256.as_deref().unwrap_or("-"),
            facts.compression_name()
        );
        if let Some(o) = opened {
            text.push_str(&format!(
                "opened by: key {} of cert {} ({})\n",
                o.key.to_hex(),
                o.cert.to_hex(),
                o.source.display()
            ));
        }
        text
    };
    Ok(print_stdout(&report)?)
}

fn inspect(config: Option<&Path>, args: InspectArgs) -> Result<()> {
    // The default config is optional here: without one there is no policy
    // to check, but the recipients are still listed by key ID.
    let path = config_path(config);
    let mut known = if config.is_some() || path.exists() {
        KnownCerts::from_config(&Config::load(&path)?)?
    } else {
        KnownCerts::default()
    };
    for cert in &args.certs {
        known.add_file(cert)?;
    }
    let keyring = match args.keys.keys.is_empty() {
        true => None,
        false => Some(load_keyring(config, &args.keys)?),
    };
    let files = match args.files.is_empty() {
        true => vec![PathBuf::from("-")],
        false => args.files,
    };

    let mut reports = Vec::new();
    let mut failure: Option<Error> = None;
    for file in &files {
        let name = file.display().to_string();
        let size = fs::metadata(file)
            .ok()
            .filter(|m| m.is_file())
            .map(|m| m.len());
        let report = Input::open(Some(file))
            .and_then(|input| inspect::inspect(&name, input, size, &known, keyring.as_ref()));
        match report {
            Ok(report) => {
                if !args.json {
                    print_stdout(&inspect::render_text(&report))?;
                }
                reports.push(report);
            }
            Err(e) => {
                // Keep going: one bad file must not hide the rest of a tape set.
                eprintln!("sealpipe: error: {name}: {e}");
                failure.get_or_insert(e);
            }
        }
    }
    if args.json {
        print_stdout(&format!("{}\n", serde_json::to_string_pretty(&reports)?))?;
    }
    if let Some(e) = failure {
        return Err(anyhow::Error::new(e).context("not every backup could be inspected"));
    }
    let nonconforming = reports
        .iter()
        .filter(|r| r.policy.as_ref().is_some_and(|p| !p.conforms))
        .count();
    if nonconforming > 0 {
        return Err(Error::Mismatch(format!(
            "{nonconforming} of {} backups do not conform to the current recipient policy (see above)",
            reports.len()
        ))
        .into());
    }
    Ok(())
}

fn rekey(config: Option<&Path>, args: RekeyArgs) -> Result<()> {
    let settings = Config::load(&config_path(config))?;
    let plan = RekeyPlan {
        recipients: policy::select_recipients(&settings, &args.recipients, time::now()?)?,
        armor: args.armor || settings.encrypt.armor.unwrap_or(false),
    };
    let keyring = load_keyring(config, &args.keys)?;
    let input = Input::open(args.input.as_deref())?;
    let mut output = open_output(&args.output, !plan.armor)?;
    rekey::rekey(&plan, &keyring, input, &mut output)?;
    output.finish()?;
    Ok(())
}

/// The output of a command: `-o FILE` (temp file, renamed when finished) or stdout.
fn open_output(args: &OutputArgs, binary: bool) -> Result<Output> {
    Ok(Output::open(args.output.as_deref(), binary, args.force)?)
}

/// The secret keys for decrypt/verify: `--key` files if given, else the
/// config's `[decrypt] keys`. The config is read only when it is needed.
fn load_keyring(config: Option<&Path>, args: &KeyArgs) -> Result<SecretKeyring> {
    let mut paths: Vec<PathBuf> = args.keys.clone();
    let mut passphrase_file = args.passphrase_file.clone();
    if paths.is_empty() {
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
    Ok(SecretKeyring::load(&paths, passphrase)?)
}

/// A passphrase from a private file or an inherited fd; never from argv.
fn read_passphrase(file: Option<&Path>, fd: Option<u32>) -> Result<Option<Password>> {
    let secret = match (file, fd) {
        (Some(path), _) => files::read_secret(path, "passphrase file")?,
        (None, Some(fd)) => files::read_passphrase_fd(fd)?,
        (None, None) => return Ok(None),
    };
    let passphrase = passphrase_from_secret(&secret);
    if passphrase.map(|p| p.is_empty()) {
        return Err(Error::Key("the passphrase is empty".into()).into());
    }
    Ok(Some(passphrase))
}

fn keygen(args: KeygenArgs) -> Result<()> {
    let passphrase = read_passphrase(args.passphrase_file.as_deref(), args.passphrase_fd)?;
    let validity = keys::parse_validity(&args.expires)?;
    let key = keys::generate(KeygenPlan {
        user_id: args
            .user_id
            .unwrap_or_else(|| format!("sealpipe backup key {}", args.name)),
        algorithm: args.algorithm,
        validity,
        passphrase,
        now: time::now()?,
    })?;
    // Secret first: if it cannot be written, no orphan cert is left behind.
    files::create_new(&args.key_out, &keys::armored_secret_key(&key.cert)?, 0o600)?;
    files::create_new(&args.cert_out, &keys::armored_cert(&key.cert)?, 0o644)?;
    if let Some(path) = &args.revocation_out {
        files::create_new(
            path,
            &keys::armored_revocation(&key.cert, &key.revocation)?,
            0o600,
        )?;
    }
    let cert_path = fs::canonicalize(&args.cert_out).unwrap_or(args.cert_out.clone());
    let mut snippet = format!(
        "# Add to the [[recipient]] list of your sealpipe config:\n\
         [[recipient]]\n\
         name = {}\n\
         fingerprint = \"{}\"\n\
         cert = {}\n",
        toml_string(&args.name),
        key.cert.fingerprint().to_hex(),
        toml_string(&cert_path.display().to_string())
    );
    if args.required {
        snippet.push_str("required = true\n");
    }
    Ok(print_stdout(&snippet)?)
}

fn toml_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}
