//! SHA-256 of the plaintext, computed as it streams past, so `encrypt
//! --digest-file` and `verify` can prove a restore gave back the same bytes.

use std::io::{self, Read};

use sha2::{Digest, Sha256};

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

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The file format of `--digest-file`: the same line `sha256sum` prints, so
/// `sha256sum -c` style tooling and `verify --digest-file` both read it.
pub fn digest_line(sha256: &str, name: &str) -> String {
    format!("{sha256}  {name}\n")
}

/// The hash from the first field of a `sha256sum`-style line.
pub fn parse_digest_line(text: &str) -> Option<String> {
    let first = text.split_whitespace().next()?.to_ascii_lowercase();
    (first.len() == 64 && first.chars().all(|c| c.is_ascii_hexdigit())).then_some(first)
}
