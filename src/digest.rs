//! SHA-256 of the plaintext, computed as it streams past, so `encrypt
//! --digest-file` and `verify` can prove a restore gave back the same bytes.

use std::fs::File;
use std::io::{self, BufRead, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// The most a digest file may hold: one `sha256sum` line with a long path.
/// A bigger file is not one, and reading on would let `/dev/zero` or a huge
/// file take memory without bound.
pub const MAX_DIGEST_FILE: u64 = 16 * 1024;

/// The name a digest line gives plaintext read from stdin. `sha256sum`
/// writes `-`, which reads as "the file called -"; `(stdin)` is what
/// `openssl dgst` writes, and says where the bytes came from.
pub const STDIN_NAME: &str = "(stdin)";

/// A `Read` adapter that hashes what passes through it, when enabled.
pub struct HashingReader<R> {
    inner: R,
    hasher: Option<Sha256>,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R, enabled: bool) -> Self {
        HashingReader {
            inner,
            hasher: enabled.then(Sha256::new),
        }
    }
    /// The lower-case hex SHA-256 of everything read, if hashing was enabled.
    pub fn finish(self) -> (R, Option<String>) {
        (self.inner, self.hasher.map(|h| hex(&h.finalize())))
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(h) = self.hasher.as_mut() {
            h.update(&buf[..n]);
        }
        Ok(n)
    }
}

impl<R: BufRead> HashingReader<R> {
    /// Copy everything to `writer` straight out of the inner reader's own
    /// buffers, hashing on the way: for the zstd frames that saves copying
    /// all of the plaintext once more (docs/performance.md).
    pub fn copy_to<W: Write + ?Sized>(&mut self, writer: &mut W) -> io::Result<u64> {
        let mut total = 0u64;
        loop {
            let buf = match self.inner.fill_buf() {
                Ok(buf) => buf,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if buf.is_empty() {
                return Ok(total);
            }
            if let Some(h) = self.hasher.as_mut() {
                h.update(buf);
            }
            writer.write_all(buf)?;
            let n = buf.len();
            self.inner.consume(n);
            total += n as u64;
        }
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The file format of `--digest-file`: the same line `sha256sum` prints, so
/// `sha256sum -c` style tooling and `verify --digest-file` both read it.
pub fn digest_line(sha256: &str, name: &str) -> String {
    format!("{sha256}  {name}\n")
}

/// Read the SHA-256 of a digest file: a regular file only (a FIFO would
/// hang, a device never end), opened without blocking and checked through
/// the open descriptor, read up to [`MAX_DIGEST_FILE`].
pub fn read_digest_file(path: &Path) -> Result<String> {
    let file = File::options()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| Error::io(format!("cannot read digest file {}", path.display()), e))?;
    let meta = file
        .metadata()
        .map_err(|e| Error::io(format!("cannot read digest file {}", path.display()), e))?;
    if !meta.is_file() {
        return Err(not_a_digest_file(path, "is not a regular file"));
    }
    let mut text = String::new();
    file.take(MAX_DIGEST_FILE + 1)
        .read_to_string(&mut text)
        .map_err(|e| Error::io(format!("cannot read digest file {}", path.display()), e))?;
    if text.len() as u64 > MAX_DIGEST_FILE {
        return Err(not_a_digest_file(path, "is larger than 16 KiB"));
    }
    parse_digest_line(&text)
        .ok_or_else(|| not_a_digest_file(path, "holds no SHA-256 line (64 hex digits first)"))
}

fn not_a_digest_file(path: &Path, why: &str) -> Error {
    Error::Usage(format!(
        "digest file {} {why}; give the file `encrypt --digest-file` wrote",
        path.display()
    ))
}

/// The hash from the first field of a `sha256sum`-style line.
pub fn parse_digest_line(text: &str) -> Option<String> {
    let first = text.split_whitespace().next()?.to_ascii_lowercase();
    (first.len() == 64 && first.chars().all(|c| c.is_ascii_hexdigit())).then_some(first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::testing::{interrupted, Scripted};

    /// Straight from the source's buffers: EINTR retried, every byte
    /// written, hashed and counted.
    #[test]
    fn copy_to_retries_an_interrupted_read_and_hashes_every_byte() {
        let source = Scripted::new(vec![
            interrupted(),
            Ok(b"hel".to_vec()),
            interrupted(),
            Ok(b"lo".to_vec()),
        ]);
        let mut hashing = HashingReader::new(source, true);
        let mut out = Vec::new();
        assert_eq!(hashing.copy_to(&mut out).unwrap(), 5);
        assert_eq!(out, b"hello");
        assert_eq!(hex(&Sha256::digest(b"hello")), hashing.finish().1.unwrap());
    }

    /// Any other failure of the source ends the copy with it.
    #[test]
    fn copy_to_stops_at_a_read_error() {
        let source = Scripted::new(vec![
            Ok(b"hel".to_vec()),
            Err(io::ErrorKind::InvalidData.into()),
            Ok(b"lo".to_vec()),
        ]);
        let mut out = Vec::new();
        let e = HashingReader::new(source, false)
            .copy_to(&mut out)
            .unwrap_err();
        assert_eq!(
            (e.kind(), &out[..]),
            (io::ErrorKind::InvalidData, &b"hel"[..])
        );
    }

    /// The first field must be exactly 64 hex digits (either case).
    #[test]
    fn a_digest_line_is_64_hex_digits_first() {
        let sha = "ab".repeat(32);
        assert_eq!(
            parse_digest_line(&format!("{sha}  (stdin)\n")),
            Some(sha.clone())
        );
        assert_eq!(parse_digest_line(&sha.to_uppercase()), Some(sha.clone()));
        for bad in [
            &sha[1..],
            &format!("{sha}a"),
            &format!("g{}", &sha[1..]),
            "",
        ] {
            assert_eq!(parse_digest_line(bad), None, "{bad:?}");
        }
    }
}
