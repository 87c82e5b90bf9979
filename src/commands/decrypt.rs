//! `sealpipe decrypt` (and `sealpipe -d`): the backup back to plaintext,
//! streaming or, with `--verify-first`, authenticated before release.

use std::path::Path;

use anyhow::Result;
use sealpipe::decrypt::{self, DecryptPlan, PlaintextDigest, Reader};
use sealpipe::io::Input;

use super::{load_keyring, open_output};
use crate::cli::{DecryptArgs, ReaderArg};

pub fn run(config: Option<&Path>, args: DecryptArgs) -> Result<()> {
    let keyring = load_keyring(config, &args.keys)?;
    let input = Input::open(args.input.as_deref())?;
    let mut output = open_output(&args.output, false)?;
    let reader = match args.reader {
        ReaderArg::Fast => Reader::Fast,
        ReaderArg::Stock => Reader::Stock,
    };
    let plan = DecryptPlan::new(&keyring, reader, PlaintextDigest::Skip);
    if args.verify_first {
        let spool_dir = args.spool_dir.unwrap_or_else(std::env::temp_dir);
        decrypt::decrypt_verified_first(&plan, input, &spool_dir, &mut output)?;
    } else {
        decrypt::decrypt(&plan, input, &mut output)?;
    }
    output.finish()?;
    Ok(())
}
