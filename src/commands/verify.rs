//! `sealpipe verify`: a test restore that writes nothing and reports the
//! plaintext's size, SHA-256 and the key that opened it (and, with
//! `--print-session-key`, the session key: a secret).

use sealpipe::decrypt::origin::SignatureVerdict;
use sealpipe::decrypt::{self, DecryptSummary, PlaintextDigest, Reader, SopSessionKey};
use sealpipe::digest;
use sealpipe::io::{print_stdout, Input, Output};
use sealpipe::progress::Progress;
use sealpipe::time::format_utc;
use sealpipe::{Error, Result};
use zeroize::Zeroizing;

use super::{load_signers, ConfigFile, SessionKeys};
use crate::cli::VerifyArgs;

pub fn run(config: &ConfigFile, args: VerifyArgs) -> Result<()> {
    let expected = match (&args.digest_file, &args.expect_sha256) {
        (Some(path), _) => Some(digest::read_digest_file(path)?),
        (None, Some(hex)) => Some(digest::parse_digest_line(hex).ok_or_else(|| {
            Error::Usage(format!("--expect-sha256 needs 64 hex digits, got '{hex}'"))
        })?),
        (None, None) => None,
    };
    let keys = SessionKeys::load(config, &args.keys, &args.session_key)?;
    let signers = load_signers(config, &args.signers)?;
    let input = Input::open_backup(args.input.as_deref())?;
    let progress = Progress::new(args.progress.progress.into());
    let mut sink = progress.writer(Output::null());
    let plan = keys
        .plan(Reader::Fast, PlaintextDigest::Sha256)
        .with_signers(signers);
    let summary = decrypt::decrypt(&plan, progress.reader(input), &mut sink)?;
    progress.finish();
    let actual = summary.sha256.clone().unwrap_or_default();
    match expected {
        // No "ok" report before this error: the backup is not the one wanted.
        Some(want) if want != actual => Err(Error::Mismatch(format!(
            "the backup decrypts cleanly but its plaintext SHA-256 is {actual}, expected {want}: \
             it is not the backup the digest belongs to"
        ))),
        _ => {
            let session_key = match args.print_session_key {
                true => Some(plan.session.chosen().ok_or_else(|| {
                    Error::Internal("the backup decrypted, yet no session key was chosen".into())
                })?),
                false => None,
            };
            print_verify_report(&summary, session_key.as_ref(), args.json)
        }
    }
}

/// The report; with `session_key` (`--print-session-key`), the key as
/// ALGO:HEX too.
fn print_verify_report(
    summary: &DecryptSummary,
    session_key: Option<&SopSessionKey>,
    json: bool,
) -> Result<()> {
    let facts = &summary.facts;
    let opened = facts.opened_by.as_ref();
    let report = if json {
        let mut report = serde_json::json!({
            "status": "ok",
            "plaintext_bytes": summary.plaintext_bytes,
            "ciphertext_bytes": summary.ciphertext_bytes,
            "sha256": summary.sha256,
            "compression": facts.compression_name(),
            "cipher": facts.cipher.map(|c| c.to_string()),
            "opened_by_key": opened.map(|o| o.key.to_hex()),
            "opened_by_cert": opened.map(|o| o.cert.to_hex()),
            "key_file": opened.map(|o| o.source.display().to_string()),
            "signatures": summary.origin.signatures.iter().map(signature_json).collect::<Vec<_>>(),
        });
        if let Some(key) = session_key {
            report["session_key"] = key.to_text().as_str().into();
        }
        Zeroizing::new(format!("{report}\n"))
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
        if opened.is_none() {
            text.push_str("opened by: the session key given (no secret key)\n");
        }
        if summary.origin.signatures.is_empty() {
            text.push_str("signature: none (the backup is not signed)\n");
        }
        for verdict in &summary.origin.signatures {
            text.push_str(&format!("signature: {verdict}\n"));
        }
        let mut text = Zeroizing::new(text);
        if let Some(key) = session_key {
            text.push_str("session key: ");
            text.push_str(&key.to_text());
            text.push('\n');
        }
        text
    };
    print_stdout(&report)
}

/// One signature's verdict in the JSON report.
fn signature_json(verdict: &SignatureVerdict) -> serde_json::Value {
    match verdict {
        SignatureVerdict::Good {
            signer,
            key,
            created,
        } => serde_json::json!({
            "status": "good",
            "signer": signer.to_hex(),
            "key": key.to_hex(),
            "created": format_utc(*created),
        }),
        SignatureVerdict::Unknown { issuer } => {
            serde_json::json!({ "status": "unknown", "issuer": issuer })
        }
        other => serde_json::json!({ "status": "bad", "detail": other.to_string() }),
    }
}
