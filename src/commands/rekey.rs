//! `sealpipe rekey`: re-wrap a backup's session key for the currently
//! pinned recipients; the encrypted data is copied byte for byte.

use std::path::Path;

use anyhow::Result;
use sealpipe::config::{config_path, Config};
use sealpipe::io::Input;
use sealpipe::rekey::{self, RekeyPlan};
use sealpipe::{policy, time};

use super::{load_keyring, open_output};
use crate::cli::RekeyArgs;

pub fn run(config: Option<&Path>, args: RekeyArgs) -> Result<()> {
    let settings = Config::load(&config_path(config))?;
    let now = time::now()?;
    let plan = RekeyPlan {
        recipients: policy::select_recipients(&settings, &args.recipients, now)?,
        armor: args.armor || settings.encrypt.armor.unwrap_or(false),
        now,
    };
    let keyring = load_keyring(config, &args.keys)?;
    let input = Input::open(args.input.as_deref())?;
    let mut output = open_output(&args.output, !plan.armor)?;
    rekey::rekey(&plan, &keyring, input, &mut output)?;
    output.finish()?;
    Ok(())
}
