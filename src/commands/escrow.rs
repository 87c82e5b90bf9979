//! `sealpipe escrow split|combine`: the escrow key in K-of-N shares, in
//! libgfshare's format, each with a printable sheet that `combine` checks.

use std::fs;
use std::io::Read;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use anyhow::Result;
use sealpipe::io::print_stdout;
use sealpipe::keys::escrow::{self, ShareFile, Sheet, MAX_SHARE_BYTES};
use sealpipe::keys::files;
use sealpipe::Error;
use zeroize::Zeroizing;

use crate::cli::{EscrowCombineArgs, EscrowCommand, EscrowSplitArgs};

pub fn run(command: EscrowCommand) -> Result<()> {
    match command {
        EscrowCommand::Split(args) => split(args),
        EscrowCommand::Combine(args) => combine(args),
    }
}

/// The sheet of a share file sits beside it; its name does not match the
/// share glob `NAME.*`, so `gfcombine NAME.*` style commands skip it.
fn sheet_path(share: &Path) -> PathBuf {
    let name = share.file_name().unwrap_or_default().to_string_lossy();
    share.with_file_name(format!("sheet-{name}.txt"))
}

fn split(args: EscrowSplitArgs) -> Result<()> {
    let key =
        files::read_secret(&args.key, files::Role::SecretKey).map_err(sealpipe::Error::from)?;
    let key_file = args
        .key
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| Error::Usage(format!("--key {} names no file", args.key.display())))?;
    let parts = escrow::split(&key, &key_file, args.threshold, args.shares)?;
    if !args.out_dir.is_dir() {
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&args.out_dir)
            .map_err(|e| Error::io(format!("cannot create {}", args.out_dir.display()), e))?;
    }
    let files: Vec<(PathBuf, PathBuf)> = parts
        .iter()
        .map(|(share, _)| {
            let path = args
                .out_dir
                .join(escrow::share_file_name(&key_file, share.number));
            let sheet = sheet_path(&path);
            (path, sheet)
        })
        .collect();
    // All or nothing: a half-written set would be mistaken for a full one.
    if let Some(existing) = files
        .iter()
        .flat_map(|(a, b)| [a, b])
        .find(|p| p.symlink_metadata().is_ok())
    {
        return Err(Error::Usage(format!(
            "{} exists; split into an empty directory (old shares must not mix with new ones)",
            existing.display()
        ))
        .into());
    }
    let mut written = Vec::new();
    for ((share, sheet), (share_path, sheet_path)) in parts.iter().zip(&files) {
        let result = files::create_new(share_path, &share.bytes, 0o600)
            .inspect(|()| written.push(share_path))
            .and_then(|()| files::create_new(sheet_path, sheet.render().as_bytes(), 0o644))
            .inspect(|()| written.push(sheet_path));
        if let Err(e) = result {
            written.iter().for_each(|p| {
                let _ = fs::remove_file(p);
            });
            return Err(e.into());
        }
    }
    let sheet = &parts[0].1;
    let mut report = format!(
        "split {} (key {}) into {} shares; any {} rebuild it:\n",
        args.key.display(),
        sheet.fingerprint,
        args.shares,
        args.threshold
    );
    for (share, sheet) in &files {
        report += &format!("  {}  (sheet {})\n", share.display(), sheet.display());
    }
    report +=
        "Print each sheet and keep it with its share; give each share to a different holder.\n";
    Ok(print_stdout(&report)?)
}

fn combine(args: EscrowCombineArgs) -> Result<()> {
    let mut shares = Vec::new();
    let mut sheet_files = args.sheets.clone();
    for path in &args.shares {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let number = escrow::share_number(&name).ok_or_else(|| {
            Error::Usage(format!(
                "{}: a share file's name ends in .NNN, its share number 001-255 (as gfsplit and \
                 sealpipe escrow split name them)",
                path.display()
            ))
        })?;
        shares.push(ShareFile {
            number,
            bytes: read_share(path)?,
        });
        let beside = sheet_path(path);
        if beside.is_file() && !sheet_files.contains(&beside) {
            sheet_files.push(beside);
        }
    }
    let sheets = sheet_files
        .iter()
        .map(|path| read_sheet(path))
        .collect::<Result<Vec<_>>>()?;
    if sheets.is_empty() && args.expect_sha256.is_none() && !args.unverified {
        return Err(Error::Usage(
            "no share sheet found beside the shares to check the result against: give --sheet \
             FILE or --expect-sha256 HEX (from a sheet), or --unverified to accept any result \
             that is an OpenPGP secret key"
                .into(),
        )
        .into());
    }
    let key = escrow::combine(&shares, &sheets, args.expect_sha256.as_deref())?;
    files::create_new(&args.output, &key, 0o600)?;
    let fingerprint = escrow::secret_key_fingerprint(&key).unwrap_or_default();
    let checked = if !sheets.is_empty() {
        "matches the sheet"
    } else if args.expect_sha256.is_some() {
        "matches --expect-sha256"
    } else {
        "NOT checked (--unverified): compare it with a sheet"
    };
    let numbers: Vec<String> = shares.iter().map(|s| s.number.to_string()).collect();
    Ok(print_stdout(&format!(
        "rebuilt {} from shares {}: key {fingerprint}, SHA-256 {} {checked}\n",
        args.output.display(),
        numbers.join(", "),
        escrow::sha256(&key)
    ))?)
}

/// A share file: a regular file no larger than a key file can be.
fn read_share(path: &Path) -> Result<Zeroizing<Vec<u8>>> {
    let failed = |e: std::io::Error| Error::io(format!("cannot read share {}", path.display()), e);
    let file = fs::File::open(path).map_err(failed)?;
    let meta = file.metadata().map_err(failed)?;
    if !meta.is_file() || meta.len() > MAX_SHARE_BYTES {
        return Err(Error::Usage(format!(
            "{} is not a share: shares are regular files of at most {MAX_SHARE_BYTES} bytes",
            path.display()
        ))
        .into());
    }
    let mut bytes = Zeroizing::new(Vec::with_capacity(meta.len() as usize));
    file.take(MAX_SHARE_BYTES)
        .read_to_end(&mut bytes)
        .map_err(failed)?;
    Ok(bytes)
}

fn read_sheet(path: &Path) -> Result<Sheet> {
    const MAX_SHEET_BYTES: u64 = 64 * 1024;
    let mut text = String::new();
    fs::File::open(path)
        .and_then(|f| f.take(MAX_SHEET_BYTES).read_to_string(&mut text))
        .map_err(|e| Error::io(format!("cannot read sheet {}", path.display()), e))?;
    Ok(Sheet::parse(&text)
        .map_err(|reason| Error::Usage(format!("sheet {} {reason}", path.display())))?)
}
