//! k-of-n escrow: Shamir's secret sharing of a key file, byte by byte over
//! GF(256) with polynomial 0x11d (the blahaj crate), in libgfshare's file
//! format: share x of file NAME is NAME.xxx (three decimal digits) holding
//! one byte per byte of the key. So Debian's `gfcombine` rebuilds the key
//! without sealpipe. The format carries no checksum, so each share has a
//! printable sheet with the key's fingerprint and SHA-256 and the share's
//! own SHA-256, which `combine` checks.

use std::collections::BTreeMap;

use blahaj::{Share, Sharks};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::digest::hex;
use crate::error::{Damage, Error, Result};
use crate::keys::parse_certs;

/// The largest share (= key file) sealpipe reads: an armored RSA-4096 key
/// file is under 10 KiB; anything larger is not a share of one. With at
/// most 255 shares this bounds combine's memory (16 MiB) and work.
pub const MAX_SHARE_BYTES: u64 = 64 * 1024;

/// One share: its number (the x coordinate, 1-255) and its bytes.
pub struct ShareFile {
    pub number: u8,
    pub bytes: Zeroizing<Vec<u8>>,
}

/// What a share's sheet records; printed on paper, stored beside the share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sheet {
    pub share: u8,
    pub threshold: u8,
    pub shares: u8,
    /// Names the split, so shares of two splits are told apart.
    pub split: String,
    pub key_file: String,
    pub fingerprint: String,
    pub key_sha256: String,
    pub share_sha256: String,
}

/// The file name of share `number` of `key_file` (gfsplit's naming).
pub fn share_file_name(key_file: &str, number: u8) -> String {
    format!("{key_file}.{number:03}")
}

/// The share number from a file name ending in `.NNN` (as gfcombine reads it).
pub fn share_number(file_name: &str) -> Option<u8> {
    let (_, digits) = file_name.rsplit_once('.')?;
    if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u8>().ok().filter(|n| *n != 0)
}

/// Split `key` (an OpenPGP secret key file, split as it is) into `count`
/// shares, any `threshold` of which rebuild it. Returns shares and sheets.
pub fn split(
    key: &[u8],
    key_file: &str,
    threshold: u8,
    count: u8,
) -> Result<Vec<(ShareFile, Sheet)>> {
    if threshold < 2 || threshold > count {
        return Err(Error::Usage(format!(
            "--threshold must be between 2 and --shares ({count}), got {threshold}"
        )));
    }
    if key.len() as u64 > MAX_SHARE_BYTES {
        return Err(Error::Usage(format!(
            "{key_file} is {} bytes; escrow splits key files of at most {MAX_SHARE_BYTES} bytes",
            key.len()
        )));
    }
    let fingerprint = secret_key_fingerprint(key).map_err(|reason| {
        Error::Usage(format!(
            "{key_file} {reason}; escrow splits a secret key file"
        ))
    })?;
    let key_sha256 = sha256(key);
    let shares: Vec<ShareFile> = Sharks(threshold)
        .dealer(key)
        .take(usize::from(count))
        .map(|share| {
            let bytes = Zeroizing::new(Vec::from(&share));
            ShareFile {
                number: bytes[0],
                bytes: Zeroizing::new(bytes[1..].to_vec()),
            }
        })
        .collect();
    // Shares are uniformly random: a hash of them all names this split.
    let mut hasher = Sha256::new();
    shares.iter().for_each(|s| hasher.update(&*s.bytes));
    let split_id = hex(&hasher.finalize()[..8]);
    Ok(shares
        .into_iter()
        .map(|share| {
            let sheet = Sheet {
                share: share.number,
                threshold,
                shares: count,
                split: split_id.clone(),
                key_file: key_file.to_string(),
                fingerprint: fingerprint.clone(),
                key_sha256: key_sha256.clone(),
                share_sha256: sha256(&share.bytes),
            };
            (share, sheet)
        })
        .collect())
}

/// Rebuild the key file from `shares` and check it: against the `sheets`
/// (each share's SHA-256, the key's SHA-256 and fingerprint), or against
/// `expect_sha256`, and in every case that it is an OpenPGP secret key.
/// Nothing is returned unless every check passes.
pub fn combine(
    shares: &[ShareFile],
    sheets: &[Sheet],
    expect_sha256: Option<&str>,
) -> Result<Zeroizing<Vec<u8>>> {
    let mut by_number = BTreeMap::new();
    for share in shares {
        if by_number.insert(share.number, share).is_some() {
            return Err(Error::Usage(format!(
                "share {} is given twice; give K different shares",
                share.number
            )));
        }
    }
    let first = sheets.first();
    if let Some(first) = first {
        if let Some(other) = sheets.iter().find(|s| !same_split(s, first)) {
            return Err(Damage::EscrowMixedSplits {
                one: first.split.clone(),
                other: other.split.clone(),
            }
            .into());
        }
        for share in shares {
            if let Some(sheet) = sheets.iter().find(|s| s.share == share.number) {
                if sha256(&share.bytes) != sheet.share_sha256 {
                    return Err(Damage::EscrowShareDamaged {
                        share: share.number,
                    }
                    .into());
                }
            }
        }
        if shares.len() < usize::from(first.threshold) {
            return Err(Error::Usage(format!(
                "{} share(s) given, but the sheet says {} of {} are needed to rebuild {}",
                shares.len(),
                first.threshold,
                first.shares,
                first.key_file
            )));
        }
    }
    if shares
        .iter()
        .any(|s| s.bytes.len() != shares[0].bytes.len())
    {
        return Err(Damage::EscrowSharesUneven.into());
    }
    let points: Vec<Share> = shares
        .iter()
        .map(|s| {
            let mut bytes = Zeroizing::new(Vec::with_capacity(s.bytes.len() + 1));
            bytes.push(s.number);
            bytes.extend_from_slice(&s.bytes);
            Share::try_from(&bytes[..])
                .map_err(|e| Error::Usage(format!("share {}: {e}", s.number)))
        })
        .collect::<Result<_>>()?;
    let given =
        u8::try_from(points.len()).map_err(|_| Error::Usage("more than 255 shares".into()))?;
    let key = Zeroizing::new(
        Sharks(given)
            .recover(&points)
            .map_err(|e| Error::Usage(format!("cannot combine the shares: {e}")))?,
    );

    let actual = sha256(&key);
    let expected = first
        .map(|s| s.key_sha256.clone())
        .or(expect_sha256.map(str::to_ascii_lowercase));
    if let Some(expected) = expected {
        if actual != expected {
            return Err(Damage::EscrowKeyMismatch { expected, actual }.into());
        }
    }
    let fingerprint =
        secret_key_fingerprint(&key).map_err(|reason| Damage::EscrowNotAKey { reason })?;
    if let Some(sheet) = first {
        if fingerprint != sheet.fingerprint {
            return Err(Damage::EscrowKeyMismatch {
                expected: sheet.fingerprint.clone(),
                actual: fingerprint,
            }
            .into());
        }
    }
    Ok(key)
}

/// Sheets of one split agree on everything but the share itself.
fn same_split(a: &Sheet, b: &Sheet) -> bool {
    (
        &a.split,
        a.threshold,
        a.shares,
        &a.fingerprint,
        &a.key_sha256,
    ) == (
        &b.split,
        b.threshold,
        b.shares,
        &b.fingerprint,
        &b.key_sha256,
    )
}

/// The fingerprint of the one secret key in `bytes`, or why it is not one.
pub fn secret_key_fingerprint(bytes: &[u8]) -> Result<String, String> {
    let certs = parse_certs(bytes).map_err(|e| format!("is not an OpenPGP key: {e}"))?;
    match <[_; 1]>::try_from(certs) {
        Ok([cert]) if cert.is_tsk() => Ok(cert.fingerprint().to_hex()),
        Ok(_) => Err("holds only a public cert, no secret key".into()),
        Err(certs) => Err(format!("holds {} keys, not one", certs.len())),
    }
}

pub fn sha256(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

const SHEET_TITLE: &str = "SEALPIPE ESCROW SHARE SHEET";

impl Sheet {
    /// The printable sheet: the fields `combine` reads, then the restore
    /// instructions for people.
    pub fn render(&self) -> String {
        let share_file = share_file_name(&self.key_file, self.share);
        let key = &self.key_file;
        let k = self.threshold;
        let others: String = (1..k).map(|_| " <share>".to_string()).collect();
        format!(
            "{SHEET_TITLE}\n\
             Keep this sheet with share file {share_file}; it holds no secret.\n\
             \n\
             Share: {share}\n\
             Threshold: {k}\n\
             Shares: {n}\n\
             Split: {split}\n\
             Key file: {key}\n\
             Key fingerprint: {fpr}\n\
             Key SHA-256: {key_sha}\n\
             Share file: {share_file}\n\
             Share SHA-256: {share_sha}\n\
             \n\
             Any {k} of the {n} shares rebuild the key file; fewer reveal nothing about it.\n\
             \n\
             Rebuild with sealpipe (checks the result against this sheet):\n\
             \x20 sealpipe escrow combine -o {key} {share_file}{others}\n\
             \n\
             Rebuild without sealpipe (Debian package libgfshare-bin):\n\
             \x20 gfcombine -o {key} {share_file}{others}\n\
             \x20 sha256sum {key}     # must print {key_sha}\n\
             \x20 gpg --import {key}  # must show key {fpr}\n\
             \x20 gpg -d BACKUP.pgp | zstd -d > restored  # zstd: sealpipe's default\n",
            share = self.share,
            n = self.shares,
            split = self.split,
            fpr = self.fingerprint,
            key_sha = self.key_sha256,
            share_sha = self.share_sha256,
        )
    }

    /// Read the fields back from a sheet's text.
    pub fn parse(text: &str) -> Result<Sheet, String> {
        if !text.starts_with(SHEET_TITLE) {
            return Err("is not a sealpipe escrow share sheet".into());
        }
        let field = |label: &str| -> Result<String, String> {
            let prefix = format!("{label}: ");
            text.lines()
                .find_map(|l| l.strip_prefix(&prefix))
                .map(|v| v.trim().to_string())
                .ok_or_else(|| format!("has no '{label}:' line"))
        };
        let number = |label: &str| -> Result<u8, String> {
            field(label)?
                .parse()
                .map_err(|_| format!("'{label}:' is not a number 1-255"))
        };
        Ok(Sheet {
            share: number("Share")?,
            threshold: number("Threshold")?,
            shares: number("Shares")?,
            split: field("Split")?,
            key_file: field("Key file")?,
            fingerprint: field("Key fingerprint")?,
            key_sha256: field("Key SHA-256")?.to_ascii_lowercase(),
            share_sha256: field("Share SHA-256")?.to_ascii_lowercase(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn share_numbers_follow_gfsplit_names() {
        assert_eq!(share_file_name("escrow.key.asc", 7), "escrow.key.asc.007");
        assert_eq!(share_number("dir/escrow.key.asc.250"), Some(250));
        assert_eq!(share_number("escrow.key.asc.000"), None);
        assert_eq!(share_number("escrow.key.asc.256"), None);
        assert_eq!(share_number("escrow.key.asc"), None);
        // Three decimal digits, no fewer, no more, nothing else.
        for name in ["k.7", "k.07", "k.0007", "k.1a2", "k.+12", "k"] {
            assert_eq!(share_number(name), None, "{name}");
        }
    }

    #[test]
    fn sheet_round_trips() {
        let sheet = Sheet {
            share: 3,
            threshold: 2,
            shares: 5,
            split: "0011223344556677".into(),
            key_file: "escrow.key.asc".into(),
            fingerprint: "ABCD".repeat(10),
            key_sha256: "ab".repeat(32),
            share_sha256: "cd".repeat(32),
        };
        assert_eq!(Sheet::parse(&sheet.render()), Ok(sheet));
    }

    /// The size bound at its edge: a file of exactly MAX_SHARE_BYTES goes
    /// on to the key check, one byte more is refused for its size.
    #[test]
    fn split_takes_key_files_up_to_the_bound() {
        let message = |len: u64| match split(&vec![b'x'; len as usize], "k", 2, 3) {
            Err(Error::Usage(m)) => m,
            other => panic!("{len} bytes: {:?}", other.map(|s| s.len())),
        };
        assert!(message(MAX_SHARE_BYTES).contains("is not an OpenPGP key"));
        assert!(message(MAX_SHARE_BYTES + 1).contains("escrow splits key files of at most"));
    }
}
