//! `sealpipe decrypt` (and `sealpipe -d`): the backup back to plaintext,
//! streaming or, with `--verify-first`, authenticated before release.

use sealpipe::decrypt;
use sealpipe::io::{Input, OutputKind};
use sealpipe::progress::Progress;
use sealpipe::Result;

use super::{load_keyring, open_output, ConfigFile};
use crate::cli::DecryptArgs;

pub fn run(config: &ConfigFile, args: DecryptArgs) -> Result<()> {
    let input = Input::open_backup(args.input.as_deref())?;
    let keyring = load_keyring(config, &args.keys)?;
    let mut output = open_output(&args.output, OutputKind::Text)?;
    let progress = Progress::new(args.progress.progress);
    if args.verify_first {
        // The first pass reads the input itself; only the output is counted.
        let spool_dir = args.spool_dir.unwrap_or_else(std::env::temp_dir);
        let mut sink = progress.writer(&mut output);
        decrypt::decrypt_verified_first(&keyring, input, &spool_dir, &mut sink)?;
    } else {
        let mut sink = progress.writer(&mut output);
        decrypt::decrypt(&keyring, progress.reader(input), &mut sink, false)?;
    }
    output.finish()?;
    progress.finish();
    Ok(())
}
