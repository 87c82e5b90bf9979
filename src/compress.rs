//! Compression stages. zstd lives *inside* the OpenPGP literal data (OpenPGP
//! has no zstd algorithm id), marked by the literal packet's file name, so
//! `gpg -d | zstd -d` restores it. Deflate is an OpenPGP compressed-data
//! packet (see encrypt.rs), so plain `gpg -d` restores it; sequoia undoes it
//! transparently on the way back, as it does gpg's zlib and bzip2.

use std::io::{self, BufReader, Read, Write};

use serde::Deserialize;

/// The literal data packet's file name when the body is a zstd stream. It is
/// what tells decrypt to decompress: a message without it (gpg's, or
/// sealpipe's in none/deflate mode) is passed through unchanged, so a backup
/// that happens to contain zstd data is never decompressed by mistake.
pub const ZSTD_LITERAL_FILENAME: &str = "sealpipe.zst";

/// zstd's default level: a good speed/ratio balance for backups.
pub const DEFAULT_ZSTD_LEVEL: i32 = 3;
/// Input per zstd worker job (see StreamCompressor::new).
const ZSTD_JOB_SIZE: u32 = 2 * 1024 * 1024;
/// zlib's default level, gpg's default too.
pub const DEFAULT_DEFLATE_LEVEL: i32 = 6;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// zstd inside the literal data: fast, multi-threaded. Restore with `gpg -d | zstd -d`.
    Zstd,
    /// An OpenPGP compressed-data packet (deflate). Restore with plain `gpg -d`.
    Deflate,
    /// No compression, for data that is already compressed.
    None,
}

impl Compression {
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::Zstd => "zstd",
            Compression::Deflate => "deflate",
            Compression::None => "none",
        }
    }

    pub fn default_level(self) -> i32 {
        match self {
            Compression::Deflate => DEFAULT_DEFLATE_LEVEL,
            _ => DEFAULT_ZSTD_LEVEL,
        }
    }
}

/// The zstd stage of encryption as a `Write` adapter, or a pass-through.
/// `finish` is mandatory: it writes the end of the zstd frame and returns
/// the inner writer, which must then be finished in turn.
pub enum StreamCompressor<W: Write> {
    Zstd(zstd::stream::write::Encoder<'static, W>),
    Passthrough(W),
}

impl<W: Write> StreamCompressor<W> {
    pub fn new(inner: W, mode: Compression, level: i32, threads: u32) -> io::Result<Self> {
        if mode != Compression::Zstd {
            return Ok(StreamCompressor::Passthrough(inner));
        }
        let mut encoder = zstd::stream::write::Encoder::new(inner, level)?;
        // The frame checksum catches a corrupt decompression independently of the MDC.
        encoder.include_checksum(true)?;
        if threads > 1 {
            encoder.multithread(threads)?;
            // zstd's default job (4 windows, 8 MiB at level 3) costs ~50 MB
            // of buffers with 2 workers; 2 MiB jobs keep RSS well under 64 MiB
            // at the same ratio (each job still sees a full window of history).
            encoder.set_parameter(zstd::stream::raw::CParameter::JobSize(ZSTD_JOB_SIZE))?;
        }
        Ok(StreamCompressor::Zstd(encoder))
    }

    pub fn finish(self) -> io::Result<W> {
        match self {
            StreamCompressor::Zstd(encoder) => encoder.finish(),
            StreamCompressor::Passthrough(inner) => Ok(inner),
        }
    }
}

impl<W: Write> Write for StreamCompressor<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            StreamCompressor::Zstd(e) => e.write(buf),
            StreamCompressor::Passthrough(w) => w.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            StreamCompressor::Zstd(e) => e.flush(),
            StreamCompressor::Passthrough(w) => w.flush(),
        }
    }
}

/// The zstd stage of decryption as a `Read` adapter, or a pass-through.
pub enum StreamDecompressor<R: Read> {
    Zstd(zstd::stream::read::Decoder<'static, BufReader<R>>),
    Passthrough(R),
}

impl<R: Read> StreamDecompressor<R> {
    pub fn new(inner: R, zstd: bool) -> io::Result<Self> {
        if zstd {
            // Reads every frame up to the end of the literal data, not just the first.
            Ok(StreamDecompressor::Zstd(zstd::stream::read::Decoder::new(
                inner,
            )?))
        } else {
            Ok(StreamDecompressor::Passthrough(inner))
        }
    }

    pub fn into_inner(self) -> R {
        match self {
            StreamDecompressor::Zstd(d) => d.finish().into_inner(),
            StreamDecompressor::Passthrough(r) => r,
        }
    }
}

impl<R: Read> Read for StreamDecompressor<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            StreamDecompressor::Zstd(d) => d.read(buf),
            StreamDecompressor::Passthrough(r) => r.read(buf),
        }
    }
}
