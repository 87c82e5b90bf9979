//! `sealpipe inspect`: who can open each backup, and whether it conforms
//! to the current recipient set, without a secret key.

use std::fs;
use std::path::PathBuf;

use anyhow::Result;
use sealpipe::inspect::{self, KnownCerts};
use sealpipe::io::{print_stdout, Input};
use sealpipe::Error;

use super::{load_keyring, ConfigFile};
use crate::cli::InspectArgs;

pub fn run(config: &ConfigFile, args: InspectArgs) -> Result<()> {
    // The default config is optional here: without one there is no policy
    // to check, but the recipients are still listed by key ID.
    let mut known = if config.is_explicit() || config.path().exists() {
        KnownCerts::from_config(config.load()?)?
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
