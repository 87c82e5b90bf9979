//! `sealpipe encrypt` (and the bare `sealpipe` of Amanda's hooks): config ->
//! approved recipients -> plan -> compressed, encrypted stream.

use std::fs;
use std::path::Path;

use anyhow::Result;
use sealpipe::compress::Compression;
use sealpipe::config::{config_path, Config};
use sealpipe::digest;
use sealpipe::encrypt::{self, EncryptPlan};
use sealpipe::io::Input;
use sealpipe::{policy, time, Error};

use super::open_output;
use crate::cli::EncryptArgs;

pub fn run(config: Option<&Path>, args: EncryptArgs) -> Result<()> {
    let config = Config::load(&config_path(config))?;
    let now = time::now()?;
    let defaults = &config.encrypt;
    let compression = args
        .compression
        .or(defaults.compression)
        .unwrap_or(Compression::Zstd);
    // The config's level belongs to the config's compression: `-c deflate`
    // on a zstd config gets deflate's default, not zstd's level 3.
    let config_level = defaults
        .level
        .filter(|_| defaults.compression.unwrap_or(Compression::Zstd) == compression);
    let level = args
        .level
        .or(config_level)
        .unwrap_or(compression.default_level());
    if compression == Compression::Deflate && level > 9 {
        return Err(Error::Usage(format!("deflate levels are 1-9, got {level}")).into());
    }
    let plan = EncryptPlan {
        recipients: policy::select_recipients(&config, &args.recipients, now)?,
        compression,
        level,
        threads: args.threads.or(defaults.threads).unwrap_or_else(all_cores),
        armor: args.armor || defaults.armor.unwrap_or(false),
        now,
        digest: args.digest_file.is_some(),
    };
    let input = Input::open(args.input.as_deref())?;
    let mut output = open_output(&args.output, !plan.armor)?;
    let summary = encrypt::encrypt(&plan, input, &mut output)?;
    output.finish()?;
    if let (Some(path), Some(sha256)) = (&args.digest_file, &summary.sha256) {
        let name = args
            .input
            .as_deref()
            .map_or("-".into(), |p| p.display().to_string());
        fs::write(path, digest::digest_line(sha256, &name)).map_err(|e| {
            Error::io(
                format!(
                    "the backup was written, but the digest file {} was not",
                    path.display()
                ),
                e,
            )
        })?;
    }
    Ok(())
}

fn all_cores() -> u32 {
    std::thread::available_parallelism().map_or(1, |n| n.get() as u32)
}
