//! The two passes of `decrypt --verify-first` must read the same bytes. The
//! first pass authenticates the whole backup (MDC, zstd checksum) and
//! records a SHA-256 of every chunk of ciphertext it read; the second pass
//! hands the decryptor a chunk only after it has matched its record. So if
//! the file is rewritten between or during the passes (storage an attacker
//! can write to), not one byte of plaintext derived from the new ciphertext
//! is released: the run stops at the first chunk that differs.
//!
//! Memory: one chunk of buffer plus 32 bytes per chunk read (8 KiB per GiB
//! of backup).

use std::io::{self, Read};

use sha2::{Digest, Sha256};

use crate::error::{Damage, Error};

/// Bytes of ciphertext per recorded digest.
const RECORD_CHUNK: usize = 4 * 1024 * 1024;

/// First pass: a `Read` adapter that records the digest of each chunk.
pub struct Recorder<R> {
    inner: R,
    current: Sha256,
    in_current: usize,
    digests: Vec<[u8; 32]>,
}

impl<R: Read> Recorder<R> {
    pub fn new(inner: R) -> Self {
        Recorder {
            inner,
            current: Sha256::new(),
            in_current: 0,
            digests: Vec::new(),
        }
    }

    /// The recording, to check the second pass against, and the reader.
    pub fn finish(mut self) -> (Recording, R) {
        if self.in_current > 0 {
            self.digests.push(self.current.finalize().into());
        }
        (Recording(self.digests), self.inner)
    }
}

impl<R: Read> Read for Recorder<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut data = &buf[..n];
        while !data.is_empty() {
            let take = data.len().min(RECORD_CHUNK - self.in_current);
            self.current.update(&data[..take]);
            self.in_current += take;
            data = &data[take..];
            if self.in_current == RECORD_CHUNK {
                let full = std::mem::take(&mut self.current);
                self.digests.push(full.finalize().into());
                self.in_current = 0;
            }
        }
        Ok(n)
    }
}

/// The chunk digests of a first pass.
pub struct Recording(Vec<[u8; 32]>);

impl Recording {
    /// Second pass: read `inner` again, releasing each chunk only once it
    /// matches the first pass.
    pub fn replay<R: Read>(self, inner: R) -> Replay<R> {
        Replay {
            inner,
            expected: self.0.into_iter(),
            chunk: Vec::with_capacity(RECORD_CHUNK),
            pos: 0,
        }
    }
}

/// A `Read` that serves only chunks identical to the first pass.
pub struct Replay<R> {
    inner: R,
    expected: std::vec::IntoIter<[u8; 32]>,
    chunk: Vec<u8>,
    pos: usize,
}

impl<R: Read> Replay<R> {
    /// Read the next chunk and check it; an empty chunk is the end.
    fn refill(&mut self) -> io::Result<()> {
        self.chunk.clear();
        self.pos = 0;
        (&mut self.inner)
            .take(RECORD_CHUNK as u64)
            .read_to_end(&mut self.chunk)?;
        let digest: Option<[u8; 32]> =
            (!self.chunk.is_empty()).then(|| Sha256::digest(&self.chunk).into());
        if digest != self.expected.next() {
            self.chunk.clear();
            return Err(io::Error::other(Error::BadInput(
                Damage::ChangedBetweenPasses,
            )));
        }
        Ok(())
    }
}

impl<R: Read> Read for Replay<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.chunk.len() {
            self.refill()?;
        }
        let n = buf.len().min(self.chunk.len() - self.pos);
        buf[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(data: &[u8]) -> Recording {
        let mut recorder = Recorder::new(data);
        // Odd read sizes, so chunk boundaries fall inside reads.
        let mut buf = vec![0u8; 333_333];
        while recorder.read(&mut buf).unwrap() > 0 {}
        recorder.finish().0
    }

    fn replay_all(recording: Recording, data: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        recording.replay(data).read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn same_bytes_replay_exactly() {
        for len in [
            0,
            1,
            RECORD_CHUNK - 1,
            RECORD_CHUNK,
            RECORD_CHUNK + 1,
            2 * RECORD_CHUNK + 12345,
        ] {
            let data: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            assert_eq!(replay_all(record(&data), &data).unwrap(), data, "len {len}");
        }
    }

    #[test]
    fn a_changed_chunk_releases_nothing_of_it() {
        let data: Vec<u8> = (0..2 * RECORD_CHUNK + 100)
            .map(|i| (i % 253) as u8)
            .collect();
        let recording = record(&data);
        let mut changed = data.clone();
        changed[RECORD_CHUNK + 7] ^= 1;
        let mut replay = recording.replay(&changed[..]);
        let mut out = Vec::new();
        let err = replay.read_to_end(&mut out).unwrap_err();
        assert!(err.to_string().contains("changed"), "{err}");
        // Only the first, unchanged chunk got through.
        assert_eq!(out, data[..RECORD_CHUNK]);
    }

    #[test]
    fn a_longer_or_shorter_second_pass_fails() {
        let data = vec![7u8; RECORD_CHUNK + 10];
        let mut longer = data.clone();
        longer.push(0);
        assert!(replay_all(record(&data), &longer).is_err());
        assert!(replay_all(record(&data), &data[..RECORD_CHUNK + 9]).is_err());
        assert!(replay_all(record(&data), &data[..RECORD_CHUNK]).is_err());
        let mut extra_chunk = data.clone();
        extra_chunk.extend_from_slice(&[1u8; RECORD_CHUNK]);
        assert!(replay_all(record(&data), &extra_chunk).is_err());
    }

    #[test]
    fn the_recording_costs_32_bytes_per_4_mib_read() {
        // The memory bound docs state: 8 KiB of digests per GiB of backup.
        let data = vec![0u8; 9 << 20];
        assert_eq!(record(&data).0.len(), 3);
    }
}
