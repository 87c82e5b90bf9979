//! `sealpipe decrypt` (and `sealpipe -d`): the backup back to plaintext,
//! streaming or, with `--verify-first`, authenticated before release.

use std::path::Path;

use anyhow::Result;
use sealpipe::compress::ZstdReading;
use sealpipe::decrypt;
use sealpipe::io::Input;

use super::{load_keyring, open_output};
use crate::cli::DecryptArgs;

pub fn run(config: Option<&Path>, args: DecryptArgs) -> Result<()> {
    let defaults = ZstdReading::default();
    ZstdReading {
        threads: args.threads.unwrap_or(defaults.threads),
        max_window: args
            .max_zstd_window
            .map_or(defaults.max_window, |mib| mib << 20),
    }
    .install();
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
