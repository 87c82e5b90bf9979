//! `sealpipe extend`: new self-signatures with a new expiry. The key and
//! its fingerprint stay the same, so the config's pins stay valid; only the
//! cert files on the backup hosts need replacing.

use std::time::{Duration, SystemTime};

use anyhow::Result;
use sealpipe::io::print_stdout;
use sealpipe::keys::{self, expiry, files, generate};
use sealpipe::time::{self, format_utc};
use sealpipe::Error;

use super::read_passphrase;
use crate::cli::ExtendArgs;

pub fn run(args: ExtendArgs) -> Result<()> {
    let passphrase = read_passphrase(
        args.passphrase.passphrase_file.as_deref(),
        args.passphrase.passphrase_fd,
    )?;
    let validity = generate::parse_validity(&args.expires)?;
    let bytes =
        files::read_secret(&args.key, files::Role::SecretKey).map_err(sealpipe::Error::from)?;
    let not_one = |what: String| {
        Error::Key(format!(
            "{} {what}; extend wants a file with exactly one secret key",
            args.key.display()
        ))
    };
    let cert = match <[_; 1]>::try_from(
        keys::parse_certs(&bytes).map_err(|e| not_one(format!("is not an OpenPGP key: {e}")))?,
    ) {
        Ok([cert]) => cert,
        Err(certs) => return Err(not_one(format!("holds {} keys", certs.len())).into()),
    };
    let now = after_newest_self_signature(&cert)?;
    let extended = expiry::extend(&cert, validity, passphrase.as_ref(), now)?;
    files::create_new(&args.cert_out, &generate::armored_cert(&extended)?, 0o644)?;
    if let Some(path) = &args.key_out {
        files::create_new(path, &generate::armored_secret_key(&extended)?, 0o600)?;
    }
    let subkeys = expiry::encryption_subkeys(&extended, now);
    let until = match expiry::effective_expiry(&extended, &subkeys, now) {
        Some(t) => format!("now expires {}", format_utc(t)),
        None => "now never expires".into(),
    };
    Ok(print_stdout(&format!(
        "key {} {until}; the fingerprint is unchanged, so the pins stay.\n\
         Copy {} over the old cert file on every host that encrypts to this key.\n",
        extended.fingerprint(),
        args.cert_out.display()
    ))?)
}

/// Now, once it is later than `cert`'s newest self-signature. Signatures
/// count whole seconds, and new ones must be newer than the ones they
/// supersede: a key made this very second (a script that runs keygen, then
/// extend) waits for the next second. Two seconds at most; a signature
/// further ahead is a clock problem, which extend reports.
fn after_newest_self_signature(cert: &sealpipe::openpgp::Cert) -> Result<SystemTime> {
    let now = time::now()?;
    let ready = match expiry::newest_self_signature(cert) {
        Some(newest) => newest + Duration::from_secs(1),
        None => return Ok(now),
    };
    match ready.duration_since(now) {
        Ok(wait) if wait <= Duration::from_secs(2) => {
            std::thread::sleep(wait);
            Ok(time::now()?)
        }
        _ => Ok(now),
    }
}
