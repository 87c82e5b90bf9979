//! `sealpipe encrypt` (and the bare `sealpipe` of Amanda's hooks): config ->
//! approved recipients -> plan -> compressed, encrypted stream.

use std::io::Write;
use std::path::Path;

use sealpipe::compress::Compression;
use sealpipe::config::Config;
use sealpipe::digest;
use sealpipe::encrypt::{self, EncryptPlan};
use sealpipe::error::Error;
use sealpipe::io::{Existing, Input, Output, OutputKind};
use sealpipe::keys::signing::{self, SigningKey};
use sealpipe::progress::Progress;
use sealpipe::settings::{self, EncryptChoices, SettingSource};
use sealpipe::{policy, time, Result};

use super::{open_output, read_passphrase, ConfigFile};
use crate::cli::EncryptArgs;

pub fn run(config: &ConfigFile, args: EncryptArgs) -> Result<()> {
    let settings_file = config.load()?;
    let now = time::now()?;
    let cli = EncryptChoices {
        compression: args.compression.map(Compression::from),
        level: args.level,
        threads: args.threads,
        armor: args.armor.then_some(true),
    };
    let settings = settings::resolve_encrypt(cli, settings_file.encrypt.choices()).map_err(
        |(source, problem)| match source {
            SettingSource::CommandLine => Error::Usage(problem.to_string()),
            SettingSource::Config => Error::Config {
                path: config.path().to_path_buf(),
                line: None,
                problem: problem.into(),
            },
        },
    )?;
    let plan = EncryptPlan {
        recipients: policy::select_recipients(settings_file, &args.recipients, now)?,
        compression: settings.compression,
        level: settings.level.map_or(0, |l| i32::from(l.get())),
        threads: u32::from(settings.threads.get()),
        armor: settings.armor,
        now,
        digest: args.digest_file.is_some(),
        signer: load_signer(settings_file, args.sign_key.as_deref(), now)?,
    };
    // Every check is done: only now are output files created.
    let input = Input::open(args.input.as_deref())?;
    let mut output = open_output(&args.output, OutputKind::for_armor(plan.armor))?;
    let mut digest_output = match &args.digest_file {
        Some(path) => Some(Output::open(
            Some(path),
            OutputKind::Text,
            Existing::Replace,
        )?),
        None => None,
    };
    let progress = Progress::new(args.progress.progress.into());
    let mut sink = progress.writer(&mut output);
    let summary = encrypt::encrypt(&plan, progress.reader(input), &mut sink)?;
    output.finish()?;
    progress.finish();
    if let (Some(mut digest_output), Some(sha256), Some(path)) =
        (digest_output.take(), &summary.sha256, &args.digest_file)
    {
        let name = args
            .input
            .as_deref()
            .filter(|p| *p != Path::new("-"))
            .map_or(digest::STDIN_NAME.into(), |p| p.display().to_string());
        digest_output
            .write_all(digest::digest_line(sha256, &name).as_bytes())
            .map_err(|e| {
                Error::io(
                    format!(
                        "the backup was written, but the digest file {} was not",
                        path.display()
                    ),
                    e,
                )
            })?;
        digest_output.finish()?;
    }
    Ok(())
}

/// The signing key: `--sign-key`, else the config's `[sign] key`, else none.
/// The config's `passphrase_file` unlocks either. `check` calls it too, so
/// it judges the signing key exactly as tonight's encrypt will.
pub(crate) fn load_signer(
    config: &Config,
    cli: Option<&Path>,
    now: std::time::SystemTime,
) -> Result<Option<SigningKey>> {
    let Some(path) = cli.or(config.sign.key.as_deref()) else {
        return Ok(None);
    };
    let passphrase = read_passphrase(config.sign.passphrase_file.as_deref(), None)?;
    signing::load(path, passphrase.as_ref(), now).map(Some)
}
