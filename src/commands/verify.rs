//! `sealpipe verify`: a test restore that writes nothing and reports the
//! plaintext's size, SHA-256 and the key that opened it.

use sealpipe::decrypt::{self, DecryptPlan, DecryptSummary, PlaintextDigest, Reader};
use sealpipe::digest;
use sealpipe::io::{print_stdout, Input, Output};
use sealpipe::progress::Progress;
use sealpipe::{Error, Result};

use super::{load_keyring, ConfigFile};
use crate::cli::VerifyArgs;

pub fn run(config: &ConfigFile, args: VerifyArgs) -> Result<()> {
    let expected = match (&args.digest_file, &args.expect_sha256) {
        (Some(path), _) => Some(digest::read_digest_file(path)?),
        (None, Some(hex)) => Some(digest::parse_digest_line(hex).ok_or_else(|| {
            Error::Usage(format!("--expect-sha256 needs 64 hex digits, got '{hex}'"))
        })?),
        (None, None) => None,
    };
    let keyring = load_keyring(config, &args.keys)?;
    let input = Input::open_backup(args.input.as_deref())?;
    let progress = Progress::new(args.progress.progress);
    let mut sink = progress.writer(Output::null());
    let plan = DecryptPlan::new(&keyring, Reader::Fast, PlaintextDigest::Sha256);
    let summary = decrypt::decrypt(&plan, progress.reader(input), &mut sink)?;
    progress.finish();
    let actual = summary.sha256.clone().unwrap_or_default();
    match expected {
        // No "ok" report before this error: the backup is not the one wanted.
        Some(want) if want != actual => Err(Error::Mismatch(format!(
            "the backup decrypts cleanly but its plaintext SHA-256 is {actual}, expected {want}: \
             it is not the backup the digest belongs to"
        ))),
        _ => print_verify_report(&summary, args.json),
    }
}

fn print_verify_report(summary: &DecryptSummary, json: bool) -> Result<()> {
    let facts = &summary.facts;
    let opened = facts.opened_by.as_ref();
    let report = if json {
        let report = serde_json::json!({
            "status": "ok",
            "plaintext_bytes": summary.plaintext_bytes,
            "ciphertext_bytes": summary.ciphertext_bytes,
            "sha256": summary.sha256,
            "compression": facts.compression_name(),
            "cipher": facts.cipher.map(|c| c.to_string()),
            "opened_by_key": opened.map(|o| o.key.to_hex()),
            "opened_by_cert": opened.map(|o| o.cert.to_hex()),
            "key_file": opened.map(|o| o.source.display().to_string()),
        });
        format!("{report}\n")
    } else {
        let mut text = format!(
            "ok: the backup decrypts and decompresses cleanly\n\
             plaintext bytes: {}\n\
             sha256: {}\n\
             compression: {}\n",
            summary.plaintext_bytes,
            summary.sha256.as_deref().unwrap_or("-"),
            facts.compression_name()
        );
        if let Some(o) = opened {
            text.push_str(&format!(
                "opened by: key {} of cert {} ({})\n",
                o.key.to_hex(),
                o.cert.to_hex(),
                o.source.display()
            ));
        }
        text
    };
    print_stdout(&report)
}
