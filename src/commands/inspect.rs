//! `sealpipe inspect`: who can open each backup, and whether it conforms
//! to the current recipient set, without a secret key.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Result;
use sealpipe::inspect::{self, InspectPlan, KnownCerts};
use sealpipe::io::{print_stdout, Input};
use sealpipe::keys::{decryption_keys, SecretKeyring};
use sealpipe::{time, Error};

use super::{agent_keys, load_keyring, ConfigFile};
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
    // Only `--key`: inspect needs no secret key, so it never falls back to
    // the config's [decrypt] keys (or their passphrase). `--agent` alone
    // asks gpg-agent for the keys of the certs known here.
    let keyring = match (args.keys.keys.is_empty(), args.keys.agent) {
        (true, false) => None,
        (true, true) => {
            let mut agent = agent_keys(config.loaded())?;
            // The pinned certs are in already; then the --cert files.
            for extra in known.certs.iter().filter(|k| !k.pinned) {
                let source = Path::new(&extra.name);
                agent.add(&extra.cert, source, decryption_keys(&extra.cert));
            }
            Some(SecretKeyring {
                agent: Some(agent),
                ..SecretKeyring::default()
            })
        }
        (false, _) => Some(load_keyring(config, &args.keys)?),
    };
    let plan = InspectPlan {
        known,
        keyring,
        require: args.require.into(),
        now: time::now()?,
    };
    let files = match args.files.is_empty() {
        true => vec![PathBuf::from("-")],
        false => args.files,
    };

    let mut reports = Vec::new();
    let mut first_failure: Option<anyhow::Error> = None;
    for file in &files {
        let name = file.display().to_string();
        let size = fs::metadata(file)
            .ok()
            .filter(|m| m.is_file())
            .map(|m| m.len());
        let report =
            Input::open(Some(file)).and_then(|input| inspect::inspect(&name, input, size, &plan));
        match report {
            Ok(report) => {
                if !args.json {
                    print_stdout(&inspect::render_text(&report))?;
                }
                reports.push(report);
            }
            // Keep going: one bad file must not hide the rest of a tape set.
            // The first failure is the command's error (and exit code),
            // printed once at the end; later ones are printed here.
            Err(e) => {
                let e = anyhow::Error::new(e).context(name);
                match first_failure {
                    None => first_failure = Some(e),
                    Some(_) => sealpipe::error::report(e.as_ref()),
                }
            }
        }
    }
    if args.json {
        print_stdout(&format!("{}\n", serde_json::to_string_pretty(&reports)?))?;
    }
    if let Some(e) = first_failure {
        return Err(e);
    }
    let nonconforming = reports
        .iter()
        .filter(|r| r.policy.as_ref().is_some_and(|p| !p.conforms))
        .count();
    if nonconforming > 0 {
        let require = match plan.require {
            inspect::Requirement::Openable => "openable",
            inspect::Requirement::Exact => "exact",
        };
        return Err(Error::Mismatch(format!(
            "{nonconforming} of {} backups do not conform to the current recipient policy \
             (--require {require}; see above)",
            reports.len()
        ))
        .into());
    }
    Ok(())
}
