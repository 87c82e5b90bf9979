//! `sealpipe decrypt` (and `sealpipe -d`): the backup back to plaintext,
//! streaming or, with `--verify-first`, authenticated before release.

use sealpipe::compress::ZstdReading;
use sealpipe::decrypt::{self, PlaintextDigest, Reader};
use sealpipe::io::{Input, OutputKind};
use sealpipe::progress::Progress;
use sealpipe::Result;

use super::{load_signers, open_output, ConfigFile, SessionKeys};
use crate::cli::{DecryptArgs, ReaderArg};

pub fn run(config: &ConfigFile, args: DecryptArgs) -> Result<()> {
    let input = Input::open_backup(args.input.as_deref())?;
    let keys = SessionKeys::load(config, &args.keys, &args.session_key)?;
    let signers = load_signers(config, &args.signers)?;
    let mut output = open_output(&args.output, OutputKind::Text)?;
    let progress = Progress::new(args.progress.progress.into());
    let reader = match args.reader {
        ReaderArg::Fast => Reader::Fast,
        ReaderArg::Stock => Reader::Stock,
    };
    let defaults = ZstdReading::default();
    let zstd = ZstdReading {
        threads: args.threads.unwrap_or(defaults.threads),
        max_window: args
            .max_zstd_window
            .map_or(defaults.max_window, |mib| mib << 20),
    };
    let plan = keys
        .plan(reader, PlaintextDigest::Skip)
        .with_zstd(zstd)
        .with_signers(signers);
    if args.verify_first {
        // The first pass reads the input itself; only the output is counted.
        let spool_dir = args.spool_dir.unwrap_or_else(std::env::temp_dir);
        let mut sink = progress.writer(&mut output);
        decrypt::decrypt_verified_first(&plan, input, &spool_dir, &mut sink)?;
    } else {
        let mut sink = progress.writer(&mut output);
        decrypt::decrypt(&plan, progress.reader(input), &mut sink)?;
    }
    output.finish()?;
    progress.finish();
    Ok(())
}
