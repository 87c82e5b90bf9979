//! `sealpipe keygen`: a new key pair, written once, and the config lines
//! that pin it.

use std::fs;

use anyhow::Result;
use sealpipe::io::print_stdout;
use sealpipe::keys::files;
use sealpipe::keys::generate::{self, KeygenPlan};
use sealpipe::time;

use super::read_passphrase;
use crate::cli::KeygenArgs;

pub fn run(args: KeygenArgs) -> Result<()> {
    let passphrase = read_passphrase(args.passphrase_file.as_deref(), args.passphrase_fd)?;
    let validity = generate::parse_validity(&args.expires)?;
    let key_created = time::now()?;
    let key = generate::generate(KeygenPlan {
        user_id: args
            .user_id
            .unwrap_or_else(|| format!("sealpipe backup key {}", args.name)),
        algorithm: args.algorithm,
        validity,
        passphrase,
        now: key_created,
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
    snippet.push_str(&match validity {
        Some(v) => format!("# The key expires {}.\n", time::format_utc(key_created + v)),
        None => "# The key never expires.\n".into(),
    });
    Ok(print_stdout(&snippet)?)
}

fn toml_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}
