//! Compression stages. zstd lives *inside* the OpenPGP literal data (OpenPGP
//! has no zstd algorithm id), marked by the literal packet's file name, so
//! `gpg -d | zstd -d` restores it. Deflate is an OpenPGP compressed-data
//! packet (see encrypt.rs), so plain `gpg -d` restores it; it is written
//! pigz-style by [`ParallelDeflate`], and sequoia undoes it transparently
//! on the way back, as it does gpg's zlib and bzip2.

use std::collections::VecDeque;
use std::io::{self, BufReader, Read, Write};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use flate2::{Compress, FlushCompress, Status};

use serde::Deserialize;

/// The literal data packet's file name when the body is a zstd stream. It is
/// what tells decrypt to decompress: a message without it (gpg's, or
/// sealpipe's in none/deflate mode) is passed through unchanged, so a backup
/// that happens to contain zstd data is never decompressed by mistake.
pub const ZSTD_LITERAL_FILENAME: &str = "sealpipe.zst";

/// zstd's default level: a good speed/ratio balance for backups.
pub const DEFAULT_ZSTD_LEVEL: i32 = 3;
/// Input per zstd worker job (see StreamCompressor::new).
const ZSTD_JOB_SIZE: u32 = 3 * 1024 * 1024;
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
            // zstd's default job (4 windows, 8 MiB at level 3) costs 70-100
            // MiB of RSS with 2 workers on poorly compressible input (a tar
            // of binaries). 3 MiB jobs: 33 MiB (SQL) to 50 MiB (tar) at the
            // same speed within noise and the same ratio (each job still
            // sees a full window of history). See docs/performance.md.
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

/// Input per deflate block. Each block ends byte-aligned, so the stream
/// costs a few bytes per block over a serial one.
const DEFLATE_BLOCK: usize = 256 * 1024;
/// Deflate's window: each block is primed with the previous block's last
/// 32 KiB, so matches reach across block boundaries as in a serial stream.
const DEFLATE_WINDOW: usize = 32 * 1024;

/// One block for a deflate worker.
struct DeflateJob {
    data: Vec<u8>,
    dictionary: Vec<u8>,
    last: bool,
    done: SyncSender<io::Result<Vec<u8>>>,
}

/// pigz-style parallel deflate as a `Write` adapter: the input is cut into
/// blocks that worker threads compress independently (each primed with the
/// 32 KiB before it), ending each in a sync flush (byte-aligned, not final)
/// and only the last in a final block; in order, they form one raw deflate
/// stream that any inflater (gpg's zlib included) reads in one pass.
/// `finish` is mandatory: it compresses the last block and ends the stream.
pub struct ParallelDeflate<W: Write> {
    sink: W,
    block: Vec<u8>,
    dictionary: Vec<u8>,
    jobs: Option<SyncSender<DeflateJob>>,
    /// Results in stream order. The Mutex only makes the adapter `Sync`,
    /// as sequoia's writer stack requires; it is reached through `get_mut`.
    in_flight: Mutex<VecDeque<Receiver<io::Result<Vec<u8>>>>>,
    max_in_flight: usize,
    workers: Vec<JoinHandle<()>>,
}

impl<W: Write> ParallelDeflate<W> {
    /// `level` 1-9; `threads` workers (at least one). Memory: about
    /// 2 x threads blocks of input and output in flight.
    pub fn new(sink: W, level: u32, threads: u32) -> Self {
        let threads = threads.max(1) as usize;
        let (jobs, queue) = sync_channel::<DeflateJob>(threads);
        let queue = Arc::new(Mutex::new(queue));
        let workers = (0..threads)
            .map(|_| {
                let queue = Arc::clone(&queue);
                std::thread::spawn(move || deflate_worker(&queue, level))
            })
            .collect();
        ParallelDeflate {
            sink,
            block: Vec::with_capacity(DEFLATE_BLOCK),
            dictionary: Vec::with_capacity(DEFLATE_WINDOW),
            jobs: Some(jobs),
            in_flight: Mutex::new(VecDeque::new()),
            max_in_flight: 2 * threads,
            workers,
        }
    }

    /// Compress the last block, write everything out, stop the workers and
    /// return the sink, unflushed.
    pub fn finish(mut self) -> io::Result<W> {
        self.submit(true)?;
        while self.write_oldest()? {}
        self.jobs = None;
        for worker in self.workers.drain(..) {
            worker.join().map_err(|_| worker_stopped())?;
        }
        Ok(self.sink)
    }

    fn in_flight(&mut self) -> &mut VecDeque<Receiver<io::Result<Vec<u8>>>> {
        self.in_flight
            .get_mut()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Hand the current block to the workers.
    fn submit(&mut self, last: bool) -> io::Result<()> {
        if self.in_flight().len() >= self.max_in_flight {
            self.write_oldest()?;
        }
        let data = std::mem::replace(&mut self.block, Vec::with_capacity(DEFLATE_BLOCK));
        let dictionary = std::mem::take(&mut self.dictionary);
        self.dictionary = data[data.len().saturating_sub(DEFLATE_WINDOW)..].to_vec();
        let (done, result) = sync_channel(1);
        let job = DeflateJob {
            data,
            dictionary,
            last,
            done,
        };
        self.jobs
            .as_ref()
            .ok_or_else(worker_stopped)?
            .send(job)
            .map_err(|_| worker_stopped())?;
        self.in_flight().push_back(result);
        Ok(())
    }

    /// Wait for the oldest block and write it; false when none is left.
    fn write_oldest(&mut self) -> io::Result<bool> {
        let Some(result) = self.in_flight().pop_front() else {
            return Ok(false);
        };
        let compressed = result.recv().map_err(|_| worker_stopped())??;
        self.sink.write_all(&compressed)?;
        Ok(true)
    }
}

impl<W: Write> Write for ParallelDeflate<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let take = (DEFLATE_BLOCK - self.block.len()).min(buf.len());
        self.block.extend_from_slice(&buf[..take]);
        if self.block.len() == DEFLATE_BLOCK {
            self.submit(false)?;
        }
        Ok(take)
    }

    fn flush(&mut self) -> io::Result<()> {
        // Blocks go out whole; finish() writes the rest.
        Ok(())
    }
}

fn worker_stopped() -> io::Error {
    io::Error::other("a deflate worker stopped")
}

/// Take blocks until the queue closes. A panic drops the job's result
/// sender, which the writer reports as a stopped worker.
fn deflate_worker(queue: &Mutex<Receiver<DeflateJob>>, level: u32) {
    let mut compressor = Compress::new(flate2::Compression::new(level), false);
    loop {
        let job = match queue.lock() {
            Ok(queue) => queue.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else { return };
        let result = deflate_block(&mut compressor, &job.dictionary, &job.data, job.last);
        let _ = job.done.send(result);
    }
}

/// Raw-deflate one block: primed with `dictionary`, ended by a sync flush
/// or, for the last block, the final block of the stream.
fn deflate_block(
    compressor: &mut Compress,
    dictionary: &[u8],
    data: &[u8],
    last: bool,
) -> io::Result<Vec<u8>> {
    compressor.reset();
    if !dictionary.is_empty() {
        compressor
            .set_dictionary(dictionary)
            .map_err(io::Error::other)?;
    }
    let flush = if last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    let mut out = Vec::with_capacity(data.len() / 2 + 1024);
    let mut consumed = 0;
    loop {
        if out.capacity() - out.len() < 1024 {
            out.reserve(out.capacity());
        }
        let before = compressor.total_in();
        let status = compressor
            .compress_vec(&data[consumed..], &mut out, flush)
            .map_err(io::Error::other)?;
        consumed += (compressor.total_in() - before) as usize;
        // zlib's rule: a flush is complete once it returns with output space to spare.
        let flushed = consumed == data.len() && out.len() < out.capacity();
        match status {
            Status::StreamEnd => return Ok(out),
            Status::Ok | Status::BufError if !last && flushed => return Ok(out),
            Status::Ok | Status::BufError => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{Decompress, FlushDecompress};

    /// Inflate a whole raw deflate stream; it must end in a final block
    /// exactly at its last byte.
    fn inflate(stream: &[u8], expected_len: usize) -> Vec<u8> {
        let mut inflater = Decompress::new(false);
        let mut out = Vec::with_capacity(expected_len + 1);
        let status = inflater
            .decompress_vec(stream, &mut out, FlushDecompress::Finish)
            .expect("a valid deflate stream");
        assert_eq!(
            status,
            Status::StreamEnd,
            "the stream ends in a final block"
        );
        assert_eq!(
            inflater.total_in() as usize,
            stream.len(),
            "nothing after it"
        );
        out
    }

    /// SQL-like rows from a fixed pseudo-random sequence: compressible,
    /// but not trivially (about 3-4x, like a real dump).
    fn sample(len: usize) -> Vec<u8> {
        let words = [
            "alice", "bob", "carol", "lorem", "ipsum", "dolor", "amet", "elit",
        ];
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut out = Vec::with_capacity(len + 100);
        while out.len() < len {
            let (a, b, c) = (next(), next(), next());
            out.extend_from_slice(
                format!(
                    "INSERT INTO t VALUES ({}, '{} {}', {});\n",
                    a % 1_000_000,
                    words[(b % 8) as usize],
                    words[(c % 8) as usize],
                    c % 10_000
                )
                .as_bytes(),
            );
        }
        out.truncate(len);
        out
    }

    #[test]
    fn parallel_deflate_inflates_to_the_input_at_every_block_boundary() {
        let sizes = [
            0,
            1,
            DEFLATE_BLOCK - 1,
            DEFLATE_BLOCK,
            DEFLATE_BLOCK + 1,
            7 * DEFLATE_BLOCK + 12_345,
        ];
        for threads in [1, 2, 3] {
            for &len in &sizes {
                let data = sample(len);
                let mut deflate = ParallelDeflate::new(Vec::new(), 6, threads);
                for piece in data.chunks(70_001) {
                    deflate.write_all(piece).unwrap();
                }
                let stream = deflate.finish().unwrap();
                assert_eq!(
                    inflate(&stream, len),
                    data,
                    "length {len}, {threads} threads"
                );
            }
        }
    }

    #[test]
    fn parallel_deflate_compresses_about_as_well_as_serial_zlib() {
        let data = sample(4 * 1024 * 1024);
        let mut deflate = ParallelDeflate::new(Vec::new(), 6, 2);
        deflate.write_all(&data).unwrap();
        let parallel = deflate.finish().unwrap().len();
        let mut serial =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::new(6));
        serial.write_all(&data).unwrap();
        let serial = serial.finish().unwrap().len();
        // The dictionary carries matches across blocks: within 0.2% (without
        // it, 256 KiB blocks cost about 0.9% here).
        assert!(
            parallel <= serial + serial / 500,
            "parallel {parallel} bytes vs serial {serial}"
        );
    }
}
