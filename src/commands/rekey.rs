//! `sealpipe rekey`: re-wrap a backup's session key for the currently
//! pinned recipients; the encrypted data is copied byte for byte.

use anyhow::Result;
use sealpipe::io::{Input, OutputKind};
use sealpipe::progress::Progress;
use sealpipe::rekey::{self, RekeyPlan};
use sealpipe::{policy, time};

use super::{load_keyring, open_output, ConfigFile};
use crate::cli::RekeyArgs;

pub fn run(config: &ConfigFile, args: RekeyArgs) -> Result<()> {
    let settings = config.load()?;
    let now = time::now()?;
    let plan = RekeyPlan {
        recipients: policy::select_recipients(settings, &args.recipients, now)?,
        armor: args.armor || settings.encrypt.armor.unwrap_or(false),
        now,
    };
    let keyring = load_keyring(config, &args.keys)?;
    let input = Input::open(args.input.as_deref())?;
    let mut output = open_output(&args.output, OutputKind::for_armor(plan.armor))?;
    let progress = Progress::new(args.progress.progress.into());
    let mut sink = progress.writer(&mut output);
    rekey::rekey(&plan, &keyring, progress.reader(input), &mut sink)?;
    output.finish()?;
    progress.finish();
    Ok(())
}
