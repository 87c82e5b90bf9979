//! `sealpipe decrypt` (and `sealpipe -d`): the backup back to plaintext,
//! streaming or, with `--verify-first`, authenticated before release.

use sealpipe::decrypt;
use sealpipe::io::{Input, OutputKind};
use sealpipe::Result;

use super::{load_keyring, open_output, ConfigFile};
use crate::cli::DecryptArgs;

pub fn run(config: &ConfigFile, args: DecryptArgs) -> Result<()> {
    let keyring = load_keyring(config, &args.keys)?;
    let input = Input::open(args.input.as_deref())?;
    let mut output = open_output(&args.output, OutputKind::Text)?;
    if args.verify_first {
        let spool_dir = args.spool_dir.unwrap_or_else(std::env::temp_dir);
        decrypt::decrypt_verified_first(&keyring, input, &spool_dir, &mut output)?;
    } else {
        decrypt::decrypt(&keyring, input, &mut output, false)?;
    }
    output.finish()
}
