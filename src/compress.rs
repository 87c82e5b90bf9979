//! Compression stages. zstd lives *inside* the OpenPGP literal data (OpenPGP
//! has no zstd algorithm id), marked by the literal packet's file name, so
//! `gpg -d | zstd -d` restores it. Deflate is an OpenPGP compressed-data
//! packet (see encrypt.rs), so plain `gpg -d` restores it; it is written
//! pigz-style by [`ParallelDeflate`], and sequoia undoes it transparently
//! on the way back, as it does gpg's zlib and bzip2.
//!
//! zstd mode is written pzstd-style by [`ParallelZstd`]: a sequence of
//! independent frames of [`ZSTD_FRAME_INPUT`] bytes each, compressed on all
//! cores. Concatenated frames are one valid zstd stream (`zstd -d` reads
//! them in one pass), and [`ZstdFrames`] decompresses them on all cores
//! again, in order. Both hold a bounded number of frames in memory.

use std::collections::VecDeque;
use std::io::{self, BufRead, Read, Write};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use flate2::{Compress, FlushCompress, Status};
use serde::Deserialize;
use zstd::stream::raw::{DParameter, Operation};
use zstd::zstd_safe::CParameter;

use crate::error::{Damage, Error};

/// The literal data packet's file name when the body is a zstd stream. It is
/// what tells decrypt to decompress: a message without it (gpg's, or
/// sealpipe's in none/deflate mode) is passed through unchanged, so a backup
/// that happens to contain zstd data is never decompressed by mistake.
pub const ZSTD_LITERAL_FILENAME: &str = "sealpipe.zst";

/// zstd's default level: a good speed/ratio balance for backups.
pub const DEFAULT_ZSTD_LEVEL: i32 = 3;
/// Plaintext per zstd frame. Each frame is independent, so any core can
/// compress or decompress it; 4 MiB frames cost 0.1-0.3% of output against
/// one frame (docs/performance.md), and they also keep the window of every
/// frame sealpipe writes at or under 4 MiB, at any level.
pub const ZSTD_FRAME_INPUT: usize = 4 * 1024 * 1024;
/// The largest zstd window decrypt accepts unless told otherwise: twice
/// what sealpipe writes, and the window of 0.1.0's levels 1-19.
pub const DEFAULT_MAX_ZSTD_WINDOW: u64 = 8 * MIB;
/// Frames queued or being worked on at once, whatever the thread count:
/// the bound on the memory of both zstd directions (docs/performance.md).
/// Each frame in flight costs about 9 MiB (input, output, a zstd context);
/// 5 took encrypt to 66 MiB at 4 threads or more, over the 64 MiB bound,
/// so at most 3 workers, and 4 frames.
const MAX_FRAMES_IN_FLIGHT: usize = 4;
/// zlib's default level, gpg's default too.
pub const DEFAULT_DEFLATE_LEVEL: i32 = 6;

const MIB: u64 = 1024 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
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

/// Worker threads for `threads` requested, and the frames in flight that
/// keep them busy: one more than the workers, so the next frame is ready
/// when one finishes.
fn frame_workers(threads: u32) -> (usize, usize) {
    let workers = (threads.max(1) as usize).min(MAX_FRAMES_IN_FLIGHT - 1);
    (workers, workers + 1)
}

/// The zstd stage of encryption as a `Write` adapter, or a pass-through.
/// `finish` is mandatory: it writes the last zstd frame and returns the
/// inner writer, which must then be finished in turn.
pub enum StreamCompressor<W: Write> {
    Zstd(ParallelZstd<W>),
    Passthrough(W),
}

impl<W: Write> StreamCompressor<W> {
    pub fn new(inner: W, mode: Compression, level: i32, threads: u32) -> io::Result<Self> {
        if mode != Compression::Zstd {
            return Ok(StreamCompressor::Passthrough(inner));
        }
        // Fail here, not in a worker, on a level zstd refuses.
        zstd_compressor(level)?;
        Ok(StreamCompressor::Zstd(ParallelZstd::new(
            inner, level, threads,
        )))
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

/// A single-threaded zstd compressor for whole frames: the content size in
/// the header (which lets decrypt hand the frame to any core) and a
/// checksum at the end (which catches a corrupt decompression
/// independently of the MDC).
fn zstd_compressor(level: i32) -> io::Result<zstd::bulk::Compressor<'static>> {
    let mut compressor = zstd::bulk::Compressor::new(level)?;
    compressor.set_parameter(CParameter::ContentSizeFlag(true))?;
    compressor.set_parameter(CParameter::ChecksumFlag(true))?;
    Ok(compressor)
}

/// pzstd-style parallel zstd as a `Write` adapter: the input is cut into
/// frames of [`ZSTD_FRAME_INPUT`] bytes that worker threads compress
/// independently; written in order, they form one zstd stream. Memory:
/// at most [`MAX_FRAMES_IN_FLIGHT`] frames of input and their output, plus
/// the frame being filled, whatever the thread count. `finish` is
/// mandatory: it compresses the last frame.
pub struct ParallelZstd<W: Write> {
    sink: W,
    frame: Vec<u8>,
    frames: u64,
    pool: OrderedPool<FrameBuffers, io::Result<FrameBuffers>>,
    max_in_flight: usize,
    spare: Vec<FrameBuffers>,
}

/// A frame's input and output, reused from frame to frame by both zstd
/// directions. Freeing and reallocating multi-MiB buffers across threads
/// let glibc's allocator keep 15-20 MiB more than the frames in flight
/// need (docs/performance.md); reused, memory is what those frames hold.
/// Decryption shares a frame's input with the [`InputTap`].
#[derive(Default)]
struct FrameBuffers<I = Vec<u8>> {
    input: I,
    output: Vec<u8>,
}

impl<W: Write> ParallelZstd<W> {
    pub fn new(sink: W, level: i32, threads: u32) -> Self {
        let (workers, max_in_flight) = frame_workers(threads);
        let pool = OrderedPool::new(workers, move || {
            let mut compressor = zstd_compressor(level);
            move |mut frame: FrameBuffers| -> io::Result<FrameBuffers> {
                let compressor = compressor
                    .as_mut()
                    .map_err(|e| io::Error::new(e.kind(), e.to_string()))?;
                frame.output.clear();
                frame
                    .output
                    .reserve(zstd::zstd_safe::compress_bound(frame.input.len()));
                compressor.compress_to_buffer(&frame.input, &mut frame.output)?;
                Ok(frame)
            }
        });
        ParallelZstd {
            sink,
            frame: Vec::with_capacity(ZSTD_FRAME_INPUT),
            frames: 0,
            pool,
            max_in_flight,
            spare: Vec::new(),
        }
    }

    /// Compress the last frame (an empty one if there was no input, so the
    /// stream is never empty), write everything out, stop the workers and
    /// return the sink, unflushed.
    pub fn finish(mut self) -> io::Result<W> {
        if !self.frame.is_empty() || self.frames == 0 {
            self.submit()?;
        }
        while self.write_oldest()? {}
        self.pool.finish()?;
        Ok(self.sink)
    }

    fn submit(&mut self) -> io::Result<()> {
        if self.pool.in_flight() >= self.max_in_flight {
            self.write_oldest()?;
        }
        let mut buffers = self.spare.pop().unwrap_or_default();
        std::mem::swap(&mut buffers.input, &mut self.frame);
        self.frame.clear();
        self.frame.reserve_exact(ZSTD_FRAME_INPUT);
        self.pool.submit(buffers)?;
        self.frames += 1;
        Ok(())
    }

    /// Wait for the oldest frame and write it; false when none is left.
    fn write_oldest(&mut self) -> io::Result<bool> {
        match self.pool.next() {
            None => Ok(false),
            Some(compressed) => {
                let frame = compressed??;
                self.sink.write_all(&frame.output)?;
                self.spare.push(frame);
                Ok(true)
            }
        }
    }
}

impl<W: Write> Write for ParallelZstd<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let take = (ZSTD_FRAME_INPUT - self.frame.len()).min(buf.len());
        self.frame.extend_from_slice(&buf[..take]);
        if self.frame.len() == ZSTD_FRAME_INPUT {
            self.submit()?;
        }
        Ok(take)
    }

    fn flush(&mut self) -> io::Result<()> {
        // Frames go out whole; finish() writes the rest.
        Ok(())
    }
}

/// How decrypt reads a zstd body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ZstdReading {
    /// Frames decompressed at once, each on its own thread.
    pub threads: u32,
    /// The largest window (the history a decoder keeps in memory) a frame
    /// may declare, in bytes; a frame declaring more is refused.
    pub max_window: u64,
}

impl Default for ZstdReading {
    fn default() -> Self {
        ZstdReading {
            threads: std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
            max_window: DEFAULT_MAX_ZSTD_WINDOW,
        }
    }
}

/// A zstd frame's magic number (RFC 8878), little-endian on the wire.
const ZSTD_MAGIC: u32 = 0xFD2F_B528;
/// Skippable frames: magic 0x184D2A50-0x184D2A5F, a 4-byte size, data.
const SKIPPABLE_MAGIC: u32 = 0x184D_2A50;
/// The largest block a zstd frame may hold (RFC 8878, Block_Maximum_Size).
const ZSTD_BLOCK_MAX: usize = 128 * 1024;

/// A zstd stream as a `Read` adapter that decompresses its frames on
/// several threads and yields the plaintext in order. Frames are found
/// from their headers alone (each block header carries its size), read
/// whole and handed to a worker when their header declares a content size
/// of at most [`ZSTD_FRAME_INPUT`] (what sealpipe writes); any other frame
/// (0.1.0's single frame, a `zstd` CLI stream) is decompressed here,
/// streaming, after the frames before it. Every frame's window is checked
/// against [`ZstdReading::max_window`] before it is decoded; the stream
/// must end exactly after a frame (anything else after the last frame is
/// damage). Errors are `io::Error`s carrying a typed [`Damage`].
///
/// Memory: at most [`MAX_FRAMES_IN_FLIGHT`] frames in flight (compressed
/// and decompressed, 8 MiB each at most), the frame being read, and for a
/// streamed frame one decoder window; with an [`InputTap`], at most
/// [`TAPPED_IN_FLIGHT`] more frames' input waiting for the tap's consumer.
pub struct ZstdFrames<R: BufRead> {
    walker: FrameWalker<R>,
    pool: OrderedPool<FrameJob, io::Result<DecodeBuffers>>,
    max_in_flight: usize,
    spare: Vec<DecodeBuffers>,
    /// A frame too large for a worker, decoded here after those in flight.
    streaming: Option<StreamingFrame>,
    /// Plaintext not yet read, from `pos`.
    output: Vec<u8>,
    pos: usize,
}

/// A frame's buffers for decoding: its input may be shared with the tap.
type DecodeBuffers = FrameBuffers<Arc<Vec<u8>>>;

/// A whole frame for a worker: its bytes in `buffers.input`, its
/// plaintext to go to `buffers.output`.
struct FrameJob {
    buffers: DecodeBuffers,
    content_size: usize,
    offset: u64,
}

/// Pieces an [`InputTap`]'s consumer may lag behind the frame walker: a
/// whole frame each (sealpipe's are 4 MiB of plaintext, ~1 MiB compressed),
/// or a block of a frame decoded here.
pub const TAPPED_IN_FLIGHT: usize = 2;

/// Every byte of the zstd stream that [`ZstdFrames`] reads, in order, for a
/// second consumer on a thread of its own (the signatures' hash), so that
/// it works beside the frame walker instead of in its path. A whole frame
/// is shared with the worker that decodes it, not copied; the rest (the
/// blocks of a frame decoded here, skippable frames) is copied.
pub struct InputTap(Option<SyncSender<Arc<Vec<u8>>>>);

impl InputTap {
    /// A tap and its consumer's end: iterate it until it ends (when the
    /// [`ZstdFrames`] holding the tap is dropped).
    pub fn new() -> (InputTap, Receiver<Arc<Vec<u8>>>) {
        let (tx, rx) = sync_channel(TAPPED_IN_FLIGHT);
        (InputTap(Some(tx)), rx)
    }

    /// No tap: the bytes go nowhere.
    pub fn none() -> InputTap {
        InputTap(None)
    }

    // A consumer that is gone panicked, and the scope that ran it says so:
    // it never gives a verdict. So a failed send is not an error here.
    fn share(&self, bytes: &Arc<Vec<u8>>) {
        if let Some(consumer) = &self.0 {
            let _ = consumer.send(Arc::clone(bytes));
        }
    }

    fn copy(&self, bytes: &[u8]) {
        if let (Some(consumer), false) = (&self.0, bytes.is_empty()) {
            let _ = consumer.send(Arc::new(bytes.to_vec()));
        }
    }
}

impl<R: BufRead> ZstdFrames<R> {
    pub fn new(source: R, settings: ZstdReading) -> io::Result<Self> {
        let (workers, max_in_flight) = frame_workers(settings.threads);
        let pool = OrderedPool::new(workers, || {
            let mut decompressor = zstd::bulk::Decompressor::new();
            move |mut job: FrameJob| -> io::Result<DecodeBuffers> {
                let corrupt = |e: io::Error| {
                    zstd_damage(Damage::ZstdCorrupt {
                        offset: job.offset,
                        reason: e.to_string(),
                    })
                };
                let decompressor = decompressor
                    .as_mut()
                    .map_err(|e| corrupt(io::Error::new(e.kind(), e.to_string())))?;
                let frame = &mut job.buffers;
                frame.output.clear();
                frame.output.reserve(job.content_size);
                // zstd checks the content size and the checksum itself.
                decompressor
                    .decompress_to_buffer(&frame.input, &mut frame.output)
                    .map_err(corrupt)?;
                Ok(job.buffers)
            }
        });
        Ok(ZstdFrames {
            walker: FrameWalker {
                source,
                offset: 0,
                ended: false,
                max_window: settings.max_window,
                tap: InputTap::none(),
            },
            pool,
            max_in_flight,
            spare: Vec::new(),
            streaming: None,
            output: Vec::new(),
            pos: 0,
        })
    }

    /// Hand every byte read from the stream, in order, to `tap`.
    pub fn tapped(mut self, tap: InputTap) -> Self {
        self.walker.tap = tap;
        self
    }

    pub fn into_inner(self) -> R {
        self.walker.source
    }

    /// Put the next plaintext, in stream order, in `output`; false at the end.
    fn refill(&mut self) -> io::Result<bool> {
        self.output.clear();
        self.pos = 0;
        loop {
            // Keep the workers busy: read ahead to the next frames.
            while self.streaming.is_none()
                && !self.walker.ended
                && self.pool.in_flight() < self.max_in_flight
            {
                let mut buffers = self.spare.pop().unwrap_or_default();
                if Arc::get_mut(&mut buffers.input).is_none() {
                    // The tap's consumer still holds it: a new one.
                    buffers.input = Arc::default();
                }
                let input = Arc::make_mut(&mut buffers.input);
                match self.walker.next_frame(input)? {
                    Some(Frame::Whole {
                        content_size,
                        offset,
                    }) => {
                        self.walker.tap.share(&buffers.input);
                        self.pool.submit(FrameJob {
                            buffers,
                            content_size,
                            offset,
                        })?
                    }
                    Some(Frame::Streamed(frame)) => {
                        self.walker.tap.copy(&frame.pending);
                        self.streaming = Some(frame);
                        self.spare.push(buffers);
                    }
                    None => self.spare.push(buffers),
                }
            }
            // The frames in flight come before a streamed one.
            if let Some(decoded) = self.pool.next() {
                let mut frame = decoded??;
                std::mem::swap(&mut frame.output, &mut self.output);
                self.spare.push(frame);
            } else if let Some(frame) = &mut self.streaming {
                if frame.step(&mut self.walker, &mut self.output)? {
                    self.streaming = None;
                }
            } else {
                return Ok(false);
            }
            if !self.output.is_empty() {
                return Ok(true);
            }
        }
    }
}

impl<R: BufRead> Read for ZstdFrames<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let ready = self.fill_buf()?;
        let n = buf.len().min(ready.len());
        buf[..n].copy_from_slice(&ready[..n]);
        self.consume(n);
        Ok(n)
    }
}

/// The plaintext handed out from the decoded frame itself, so the output
/// is written from it without a copy.
impl<R: BufRead> BufRead for ZstdFrames<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos == self.output.len() && !self.refill()? {
            return Ok(&[]);
        }
        Ok(&self.output[self.pos..])
    }

    fn consume(&mut self, amount: usize) {
        self.pos = (self.pos + amount).min(self.output.len());
    }
}

/// A typed damage as the `io::Error` a `Read` adapter returns.
fn zstd_damage(damage: Damage) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, Error::BadInput(damage))
}

/// What the frame walker found next.
enum Frame {
    /// A frame small enough for a worker, read whole into the caller's buffer.
    Whole { content_size: usize, offset: u64 },
    /// A frame to decompress in place, streaming; its first bytes are read.
    Streamed(StreamingFrame),
}

/// What a frame header says.
#[derive(Clone, Copy)]
struct FrameHeader {
    offset: u64,
    checksum: bool,
}

/// Reads a zstd stream frame by frame and block by block, from the headers
/// alone, without decoding.
struct FrameWalker<R> {
    source: R,
    /// Bytes of the stream read so far.
    offset: u64,
    ended: bool,
    max_window: u64,
    /// Where the bytes read go too. The walker hands over what it reads
    /// past (skippable frames); whole frames and the blocks of a streamed
    /// one are handed over by their readers, in stream order.
    tap: InputTap,
}

impl<R: BufRead> FrameWalker<R> {
    /// The next frame (skippable frames are skipped), or None at the end of
    /// the stream. A frame for a worker is read whole into `bytes`.
    fn next_frame(&mut self, bytes: &mut Vec<u8>) -> io::Result<Option<Frame>> {
        loop {
            let offset = self.offset;
            bytes.clear();
            match self.read_up_to(bytes, 4)? {
                0 => {
                    self.ended = true;
                    return Ok(None);
                }
                4 => {}
                _ => return Err(zstd_damage(Damage::ZstdNotAFrame { offset })),
            }
            let magic = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
            if magic & 0xFFFF_FFF0 == SKIPPABLE_MAGIC {
                self.fill(bytes, 4, offset)?;
                self.tap.copy(bytes);
                let size = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
                self.skip(u64::from(size), offset)?;
                continue;
            }
            if magic != ZSTD_MAGIC {
                return Err(zstd_damage(Damage::ZstdNotAFrame { offset }));
            }
            return self.frame(offset, bytes).map(Some);
        }
    }

    /// The rest of a frame after its magic number.
    fn frame(&mut self, offset: u64, bytes: &mut Vec<u8>) -> io::Result<Frame> {
        let corrupt = |reason: &str| {
            zstd_damage(Damage::ZstdCorrupt {
                offset,
                reason: reason.into(),
            })
        };
        self.fill(bytes, 1, offset)?;
        let descriptor = bytes[4];
        if descriptor & 0x08 != 0 {
            return Err(corrupt("a reserved bit of the frame header is set"));
        }
        let single_segment = descriptor & 0x20 != 0;
        let dictionary_len = [0, 1, 2, 4][usize::from(descriptor & 3)];
        let content_size_len = match descriptor >> 6 {
            0 => usize::from(single_segment),
            1 => 2,
            2 => 4,
            _ => 8,
        };
        self.fill(
            bytes,
            usize::from(!single_segment) + dictionary_len + content_size_len,
            offset,
        )?;
        let mut fields = &bytes[5..];
        let window_descriptor = (!single_segment).then(|| take_le(&mut fields, 1));
        if take_le(&mut fields, dictionary_len) != 0 {
            return Err(corrupt(
                "the frame needs a zstd dictionary, which sealpipe never uses",
            ));
        }
        let content_size = (content_size_len > 0).then(|| {
            let size = take_le(&mut fields, content_size_len);
            // A 2-byte field stores the size minus 256.
            if content_size_len == 2 {
                size + 256
            } else {
                size
            }
        });
        // RFC 8878: a single-segment frame's window is its content size.
        let window = match window_descriptor {
            Some(d) => {
                let base = 1u64 << (10 + (d >> 3));
                base + (base / 8) * (d & 7)
            }
            None => content_size.unwrap_or(0),
        };
        if window > self.max_window {
            return Err(zstd_damage(Damage::ZstdWindowTooLarge {
                window,
                limit: self.max_window,
            }));
        }
        let header = FrameHeader {
            offset,
            checksum: descriptor & 0x04 != 0,
        };
        let content_size = match content_size {
            Some(size) if size <= ZSTD_FRAME_INPUT as u64 => size as usize,
            _ => return StreamingFrame::start(header, std::mem::take(bytes), self.max_window),
        };
        // No valid encoder makes a frame larger than this; a crafted one is
        // decoded streaming rather than held whole.
        let bound = zstd::zstd_safe::compress_bound(content_size) + bytes.len() + 4;
        loop {
            if self.block(&header, bytes)? {
                return Ok(Frame::Whole {
                    content_size,
                    offset,
                });
            }
            if bytes.len() > bound {
                return StreamingFrame::start(header, std::mem::take(bytes), self.max_window);
            }
        }
    }

    /// Append the next block of a frame to `bytes`; true if it was the last
    /// block, and then the frame's checksum is appended too.
    fn block(&mut self, header: &FrameHeader, bytes: &mut Vec<u8>) -> io::Result<bool> {
        let at = bytes.len();
        self.fill(bytes, 3, header.offset)?;
        let block = take_le(&mut &bytes[at..], 3);
        let last = block & 1 != 0;
        let size = (block >> 3) as usize;
        let content = match (block >> 1) & 3 {
            // RLE: one byte, repeated `size` times.
            1 => 1,
            3 => {
                return Err(zstd_damage(Damage::ZstdCorrupt {
                    offset: header.offset,
                    reason: "a block of the reserved type".into(),
                }))
            }
            _ => size,
        };
        if size > ZSTD_BLOCK_MAX {
            return Err(zstd_damage(Damage::ZstdCorrupt {
                offset: header.offset,
                reason: format!("a block of {size} bytes, over zstd's 128 KiB"),
            }));
        }
        let checksum = if last && header.checksum { 4 } else { 0 };
        self.fill(bytes, content + checksum, header.offset)?;
        Ok(last)
    }

    /// Append exactly `n` bytes of the frame at `frame` to `into`.
    fn fill(&mut self, into: &mut Vec<u8>, n: usize, frame: u64) -> io::Result<()> {
        match self.read_up_to(into, n)? == n {
            true => Ok(()),
            false => Err(zstd_damage(Damage::ZstdTruncated { offset: frame })),
        }
    }

    /// Append up to `n` bytes to `into`, fewer only at the end of the
    /// stream; how many.
    fn read_up_to(&mut self, into: &mut Vec<u8>, n: usize) -> io::Result<usize> {
        let mut got = 0;
        while got < n {
            // The decrypting thread's queue retries Interrupted at its
            // source; from another source it is the caller's to retry.
            let available = self.source.fill_buf()?;
            if available.is_empty() {
                break;
            }
            // Appended from the source's own buffer: no zeroed room to read
            // into (zeroing it was 1.3% of a restore's CPU).
            let take = available.len().min(n - got);
            into.extend_from_slice(&available[..take]);
            self.source.consume(take);
            got += take;
        }
        self.offset += got as u64;
        Ok(got)
    }

    /// Read past `n` bytes of the frame at `frame` (to the tap, if any).
    fn skip(&mut self, n: u64, frame: u64) -> io::Result<()> {
        let mut left = n;
        while left > 0 {
            let available = self.source.fill_buf()?;
            if available.is_empty() {
                return Err(zstd_damage(Damage::ZstdTruncated { offset: frame }));
            }
            let take = available
                .len()
                .min(usize::try_from(left).unwrap_or(usize::MAX));
            self.tap.copy(&available[..take]);
            self.source.consume(take);
            self.offset += take as u64;
            left -= take as u64;
        }
        Ok(())
    }
}

/// Read an `n`-byte little-endian number off the front of `bytes`.
fn take_le(bytes: &mut &[u8], n: usize) -> u64 {
    let (number, rest) = bytes.split_at(n);
    *bytes = rest;
    number
        .iter()
        .rev()
        .fold(0, |acc, &b| (acc << 8) | u64::from(b))
}

/// Plaintext per step of a streamed frame.
const STREAM_OUTPUT: usize = 256 * 1024;

/// A frame decompressed in place, block by block, in bounded memory: its
/// window (checked against the limit) and one block of input and output.
struct StreamingFrame {
    decoder: zstd::stream::raw::Decoder<'static>,
    header: FrameHeader,
    /// Bytes of the frame read but not yet decoded, from `used`.
    pending: Vec<u8>,
    used: usize,
    /// All of the frame is in `pending` (or decoded).
    read_whole: bool,
}

impl StreamingFrame {
    /// Start decoding a frame of which `bytes` are read (not its last block).
    fn start(header: FrameHeader, bytes: Vec<u8>, max_window: u64) -> io::Result<Frame> {
        let mut decoder = zstd::stream::raw::Decoder::new()?;
        // The header's window was checked; this makes the decoder agree.
        let window_log = 64 - (max_window.max(1) - 1).leading_zeros();
        decoder.set_parameter(DParameter::WindowLogMax(window_log.clamp(10, 31)))?;
        Ok(Frame::Streamed(StreamingFrame {
            decoder,
            header,
            pending: bytes,
            used: 0,
            read_whole: false,
        }))
    }

    /// Decode more of the frame into `out`; true once the frame is complete.
    fn step<R: BufRead>(
        &mut self,
        walker: &mut FrameWalker<R>,
        out: &mut Vec<u8>,
    ) -> io::Result<bool> {
        let corrupt = |reason: String| {
            zstd_damage(Damage::ZstdCorrupt {
                offset: self.header.offset,
                reason,
            })
        };
        if self.used == self.pending.len() && !self.read_whole {
            self.pending.clear();
            self.used = 0;
            self.read_whole = walker.block(&self.header, &mut self.pending)?;
            walker.tap.copy(&self.pending);
        }
        out.resize(STREAM_OUTPUT, 0);
        let status = self
            .decoder
            .run_on_buffers(&self.pending[self.used..], out)
            .map_err(|e| corrupt(e.to_string()))?;
        self.used += status.bytes_read;
        out.truncate(status.bytes_written);
        let all_given = self.read_whole && self.used == self.pending.len();
        if status.remaining == 0 {
            // The decoder's end of the frame must be the walker's.
            return match all_given {
                true => Ok(true),
                false => Err(corrupt("the frame ends before its last block".into())),
            };
        }
        if status.bytes_read == 0 && status.bytes_written == 0 {
            return Err(corrupt("the frame ends before its content does".into()));
        }
        Ok(false)
    }
}

/// Worker threads that run jobs in parallel and hand back the results in
/// the order the jobs came in: each job's result comes back through a
/// channel of its own, and `next` waits for the oldest.
pub(crate) struct OrderedPool<J, T> {
    jobs: Option<SyncSender<(J, SyncSender<T>)>>,
    /// The Mutex only makes the pool `Sync`, as sequoia's writer stack
    /// requires of a writer; it is reached through `get_mut`.
    in_flight: Mutex<VecDeque<Receiver<T>>>,
    workers: Vec<JoinHandle<()>>,
}

impl<J: Send + 'static, T: Send + 'static> OrderedPool<J, T> {
    /// `threads` workers (at least one), each running the job function
    /// `make_worker` makes on the worker's thread.
    pub(crate) fn new<M, F>(threads: usize, make_worker: M) -> Self
    where
        M: Fn() -> F + Send + Clone + 'static,
        F: FnMut(J) -> T,
    {
        let threads = threads.max(1);
        let (jobs, queue) = sync_channel::<(J, SyncSender<T>)>(threads);
        let queue = Arc::new(Mutex::new(queue));
        let workers = (0..threads)
            .map(|_| {
                let queue = Arc::clone(&queue);
                let make_worker = make_worker.clone();
                std::thread::spawn(move || {
                    let mut work = make_worker();
                    loop {
                        let next = match queue.lock() {
                            Ok(queue) => queue.recv(),
                            Err(_) => return,
                        };
                        // A closed queue ends the worker. A panic drops the
                        // job's result sender, which `next` reports.
                        let Ok((job, done)) = next else { return };
                        let _ = done.send(work(job));
                    }
                })
            })
            .collect();
        OrderedPool {
            jobs: Some(jobs),
            in_flight: Mutex::new(VecDeque::new()),
            workers,
        }
    }

    fn queue(&mut self) -> &mut VecDeque<Receiver<T>> {
        self.in_flight
            .get_mut()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn submit(&mut self, job: J) -> io::Result<()> {
        let (done, result) = sync_channel(1);
        self.jobs
            .as_ref()
            .ok_or_else(worker_stopped)?
            .send((job, done))
            .map_err(|_| worker_stopped())?;
        self.queue().push_back(result);
        Ok(())
    }

    /// Jobs submitted whose result has not been taken.
    pub(crate) fn in_flight(&mut self) -> usize {
        self.queue().len()
    }

    /// The oldest job's result, once it is there; None if no job is in flight.
    pub(crate) fn next(&mut self) -> Option<io::Result<T>> {
        let result = self.queue().pop_front()?;
        Some(result.recv().map_err(|_| worker_stopped()))
    }

    /// Close the queue and wait for the workers to stop.
    pub(crate) fn finish(mut self) -> io::Result<()> {
        self.jobs = None;
        for worker in self.workers.drain(..) {
            worker.join().map_err(|_| worker_stopped())?;
        }
        Ok(())
    }
}

fn worker_stopped() -> io::Error {
    io::Error::other(Error::Internal("a compression worker stopped".into()))
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
    pool: OrderedPool<DeflateJob, io::Result<Vec<u8>>>,
    max_in_flight: usize,
}

impl<W: Write> ParallelDeflate<W> {
    /// `level` 1-9; `threads` workers (at least one). Memory: about
    /// 2 x threads blocks of input and output in flight.
    pub fn new(sink: W, level: u32, threads: u32) -> Self {
        let threads = threads.max(1) as usize;
        let pool = OrderedPool::new(threads, move || {
            let mut compressor = Compress::new(flate2::Compression::new(level.clamp(1, 9)), false);
            move |job: DeflateJob| {
                deflate_block(&mut compressor, &job.dictionary, &job.data, job.last)
            }
        });
        ParallelDeflate {
            sink,
            block: Vec::with_capacity(DEFLATE_BLOCK),
            dictionary: Vec::with_capacity(DEFLATE_WINDOW),
            pool,
            max_in_flight: 2 * threads,
        }
    }

    /// Compress the last block, write everything out, stop the workers and
    /// return the sink, unflushed.
    pub fn finish(mut self) -> io::Result<W> {
        self.submit(true)?;
        while self.write_oldest()? {}
        self.pool.finish()?;
        Ok(self.sink)
    }

    /// Hand the current block to the workers.
    fn submit(&mut self, last: bool) -> io::Result<()> {
        if self.pool.in_flight() >= self.max_in_flight {
            self.write_oldest()?;
        }
        let data = std::mem::replace(&mut self.block, Vec::with_capacity(DEFLATE_BLOCK));
        let dictionary = std::mem::take(&mut self.dictionary);
        self.dictionary = data[data.len().saturating_sub(DEFLATE_WINDOW)..].to_vec();
        self.pool.submit(DeflateJob {
            data,
            dictionary,
            last,
        })
    }

    /// Wait for the oldest block and write it; false when none is left.
    fn write_oldest(&mut self) -> io::Result<bool> {
        match self.pool.next() {
            None => Ok(false),
            Some(compressed) => {
                self.sink.write_all(&compressed??)?;
                Ok(true)
            }
        }
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

    /// The next number of a xorshift sequence: fixed test data, no crate.
    fn xorshift(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    /// SQL-like rows from a fixed pseudo-random sequence: compressible,
    /// but not trivially (about 3-4x, like a real dump).
    fn sample(len: usize) -> Vec<u8> {
        let words = [
            "alice", "bob", "carol", "lorem", "ipsum", "dolor", "amet", "elit",
        ];
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = || xorshift(&mut state);
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

    /// The typed damage inside an error of the zstd reader.
    fn damage_of(e: &io::Error) -> Damage {
        match e.get_ref().and_then(|i| i.downcast_ref::<Error>()) {
            Some(Error::BadInput(damage)) => damage.clone(),
            _ => panic!("not a typed damage: {e}"),
        }
    }

    fn parallel_zstd(data: &[u8], threads: u32) -> Vec<u8> {
        let mut encoder = ParallelZstd::new(Vec::new(), DEFAULT_ZSTD_LEVEL, threads);
        for piece in data.chunks(70_001) {
            encoder.write_all(piece).unwrap();
        }
        encoder.finish().unwrap()
    }

    /// Read all of `stream` through `ZstdFrames`, `piece` bytes per read.
    fn read_frames(stream: &[u8], threads: u32, piece: usize) -> io::Result<Vec<u8>> {
        let settings = ZstdReading {
            threads,
            max_window: DEFAULT_MAX_ZSTD_WINDOW,
        };
        let mut reader = ZstdFrames::new(stream, settings)?;
        let mut out = Vec::new();
        let mut buf = vec![0u8; piece];
        loop {
            match reader.read(&mut buf)? {
                0 => return Ok(out),
                n => out.extend_from_slice(&buf[..n]),
            }
        }
    }

    /// Where each frame of a zstd stream ends, by zstd's own reckoning.
    fn frame_ends(stream: &[u8]) -> Vec<usize> {
        let mut ends = Vec::new();
        let mut at = 0;
        while at < stream.len() {
            at += zstd::zstd_safe::find_frame_compressed_size(&stream[at..]).unwrap();
            ends.push(at);
        }
        ends
    }

    #[test]
    fn parallel_zstd_writes_independent_frames_that_zstd_and_the_frame_reader_restore() {
        let f = ZSTD_FRAME_INPUT;
        for threads in [1, 2, 3] {
            for len in [0, 1, f - 1, f, f + 1, 3 * f + 12_345] {
                let data = sample(len);
                let stream = parallel_zstd(&data, threads);
                assert_eq!(
                    zstd::stream::decode_all(&stream[..]).unwrap(),
                    data,
                    "zstd's own decoder, length {len}, {threads} threads"
                );
                let frames = frame_ends(&stream).len();
                assert_eq!(frames, len.div_ceil(f).max(1), "frames for length {len}");
                for (read_threads, piece) in [(1, 1 << 16), (2, 7), (4, 1 << 20)] {
                    assert_eq!(
                        read_frames(&stream, read_threads, piece).unwrap(),
                        data,
                        "length {len}, written by {threads} threads, read by {read_threads}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_single_large_frame_without_content_size_is_read_streaming() {
        // What 0.1.0 wrote: one frame from zstd's streaming, multi-threaded
        // encoder, no content size in its header.
        let data = sample(3 * ZSTD_FRAME_INPUT + 999);
        let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
        encoder.include_checksum(true).unwrap();
        encoder.multithread(2).unwrap();
        encoder.write_all(&data).unwrap();
        let mut stream = encoder.finish().unwrap();
        // Followed by a sealpipe frame and a skippable frame, in one stream.
        stream.extend_from_slice(&parallel_zstd(b"and more", 1));
        stream.extend_from_slice(&[0x50, 0x2A, 0x4D, 0x18, 3, 0, 0, 0, 1, 2, 3]);
        let mut expected = data.clone();
        expected.extend_from_slice(b"and more");
        assert_eq!(read_frames(&stream, 2, 1 << 16).unwrap(), expected);
    }

    /// The memory bound: before the first plaintext is handed out, the
    /// walker has read exactly the frames it may have in flight (one more
    /// than the workers) and not a byte more.
    #[test]
    fn the_walker_reads_ahead_exactly_the_frames_in_flight() {
        let stream = parallel_zstd(&sample(8 * ZSTD_FRAME_INPUT), 2);
        let ends = frame_ends(&stream);
        // Threads, and the frames in flight: one more than the workers, at
        // most MAX_FRAMES_IN_FLIGHT.
        for (threads, in_flight) in [(1, 2), (2, 3), (3, 4), (4, 4), (64, 4)] {
            let settings = ZstdReading {
                threads,
                max_window: DEFAULT_MAX_ZSTD_WINDOW,
            };
            let mut reader = ZstdFrames::new(&stream[..], settings).unwrap();
            assert!(!reader.fill_buf().unwrap().is_empty());
            let read = stream.len() - reader.into_inner().len();
            assert_eq!(read, ends[in_flight - 1], "{threads} threads");
        }
    }

    /// The same bound when compressing, and the parallelism: the encoder
    /// holds exactly the frames it may have in flight before it writes the
    /// oldest out, never more (memory) and never fewer (one at a time
    /// would leave the other cores idle).
    #[test]
    fn the_encoder_holds_exactly_the_frames_in_flight() {
        let data = sample(6 * ZSTD_FRAME_INPUT);
        for (threads, in_flight) in [(1, 2), (2, 3), (3, 4), (64, 4)] {
            let mut encoder = ParallelZstd::new(Vec::new(), DEFAULT_ZSTD_LEVEL, threads);
            for (n, frame) in data.chunks(ZSTD_FRAME_INPUT).enumerate() {
                encoder.write_all(frame).unwrap();
                let written = frame_ends(&encoder.sink).len();
                let submitted = n + 1;
                assert_eq!(
                    written,
                    submitted.saturating_sub(in_flight),
                    "{threads} threads, {submitted} frames given"
                );
            }
            let stream = encoder.finish().unwrap();
            assert_eq!(zstd::stream::decode_all(&stream[..]).unwrap(), data);
        }
    }

    /// A pass-through stage flushes what it is given to its sink (the
    /// zstd stage writes whole frames and has nothing to flush).
    #[test]
    fn a_passthrough_stage_flushes_its_sink() {
        let mut stage = StreamCompressor::new(
            io::BufWriter::new(Vec::new()),
            Compression::None,
            DEFAULT_ZSTD_LEVEL,
            1,
        )
        .unwrap();
        stage.write_all(b"backup").unwrap();
        stage.flush().unwrap();
        let StreamCompressor::Passthrough(sink) = &stage else {
            panic!("no compression is a pass-through")
        };
        assert_eq!(sink.get_ref(), b"backup");
    }

    /// The signatures' hash sees the stream through the tap: every byte,
    /// once, in order, whatever kind of frame holds it and however the
    /// source hands it over.
    #[test]
    fn the_input_tap_sees_every_byte_of_the_stream_in_order() {
        let data = sample(2 * ZSTD_FRAME_INPUT + 999);
        // sealpipe's frames (whole, decoded by workers), a skippable frame
        // larger than the source's buffer, 0.1.0's kind of frame (no
        // content size: decoded here, block by block), sealpipe's again.
        let mut stream = parallel_zstd(&data, 2);
        stream.extend_from_slice(&[0x5F, 0x2A, 0x4D, 0x18]);
        stream.extend_from_slice(&300_000u32.to_le_bytes());
        stream.extend_from_slice(&sample(300_000));
        let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
        encoder.write_all(&data).unwrap();
        stream.extend_from_slice(&encoder.finish().unwrap());
        stream.extend_from_slice(&parallel_zstd(b"the end", 1));
        let expected = [&data[..], &data[..], b"the end"].concat();
        let settings = ZstdReading {
            threads: 2,
            max_window: DEFAULT_MAX_ZSTD_WINDOW,
        };
        for capacity in [1 << 16, 4099] {
            let (tap, tapped) = InputTap::new();
            let seen = std::thread::scope(|scope| {
                let seen = scope.spawn(move || {
                    tapped.iter().fold(Vec::new(), |mut all, piece| {
                        all.extend_from_slice(&piece);
                        all
                    })
                });
                let source = io::BufReader::with_capacity(capacity, &stream[..]);
                let mut reader = ZstdFrames::new(source, settings).unwrap().tapped(tap);
                let mut out = Vec::new();
                reader.read_to_end(&mut out).unwrap();
                assert!(out == expected, "the plaintext, buffer {capacity}");
                drop(reader);
                seen.join().unwrap()
            });
            assert!(
                seen == stream,
                "the tap saw {} bytes of {}, buffer {capacity}",
                seen.len(),
                stream.len()
            );
        }
    }

    #[test]
    fn a_window_over_the_limit_is_refused_before_decoding() {
        let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
        encoder.window_log(24).unwrap();
        encoder.write_all(&sample(100_000)).unwrap();
        let stream = encoder.finish().unwrap();
        let e = read_frames(&stream, 2, 1 << 16).unwrap_err();
        assert_eq!(
            damage_of(&e),
            Damage::ZstdWindowTooLarge {
                window: 16 << 20,
                limit: DEFAULT_MAX_ZSTD_WINDOW
            }
        );
        let settings = ZstdReading {
            threads: 2,
            max_window: 16 << 20,
        };
        let mut allowed = Vec::new();
        ZstdFrames::new(&stream[..], settings)
            .unwrap()
            .read_to_end(&mut allowed)
            .unwrap();
        assert_eq!(allowed, sample(100_000));
    }

    /// The window a frame header declares, read as RFC 8878 says: exponent
    /// and mantissa of the window descriptor, after it a dictionary ID of
    /// each width, and for a single-segment frame its content size, in
    /// each of its field widths (the 2-byte one stores the size minus 256).
    #[test]
    fn the_declared_window_is_read_as_rfc_8878_says() {
        let cases: [(&[u8], u64); 12] = [
            (&[0x00, 0x00], 1 << 10),
            (&[0x00, 0x01], 1152),
            (&[0x00, 0x07], 1920),
            (&[0x00, 0x58], 2 << 20),
            (&[0x00, 0x5F], (2 << 20) + 7 * (256 << 10)),
            (&[0x00, 0xFF], (1 << 41) + 7 * (1 << 38)),
            (&[0x01, 0x58, 0x00], 2 << 20),
            (&[0x20, 200], 200),
            (&[0x22, 0x00, 0x00, 200], 200),
            (&[0x63, 0, 0, 0, 0, 0x10, 0x00], 16 + 256),
            (&[0xA0, 0x00, 0x00, 0x10, 0x00], 1 << 20),
            (&[0xE0, 0, 0, 0, 0, 1, 0, 0, 0], 1 << 32),
        ];
        for (header, window) in cases {
            // The header, then an empty last raw block.
            let stream = [&ZSTD_MAGIC.to_le_bytes()[..], header, &[1, 0, 0]].concat();
            let settings = ZstdReading {
                threads: 1,
                max_window: window - 1,
            };
            let e = ZstdFrames::new(&stream[..], settings)
                .and_then(|mut r| r.fill_buf().map(<[u8]>::len))
                .unwrap_err();
            let limit = window - 1;
            assert_eq!(
                damage_of(&e),
                Damage::ZstdWindowTooLarge { window, limit },
                "header {header:02x?}"
            );
        }
    }

    /// A frame whose header declares more content than sealpipe puts in a
    /// frame is decoded here, streaming, in one window's memory: never
    /// handed to a worker that would reserve what it declares.
    #[test]
    fn a_frame_declaring_a_huge_content_size_is_not_held_whole() {
        // No single segment, a 1 KiB window, content size 2^63 (8 bytes; all
        // ones would mean "unknown" to zstd); then a last raw block of 5
        // bytes, and no checksum: zstd finds the size does not match.
        let header = [0xC0, 0x00, 0, 0, 0, 0, 0, 0, 0, 0x80];
        let block = [(5 << 3) | 1, 0, 0];
        let stream = [&ZSTD_MAGIC.to_le_bytes()[..], &header, &block, b"12345"].concat();
        let e = read_frames(&stream, 2, 1 << 16).unwrap_err();
        assert!(
            matches!(damage_of(&e), Damage::ZstdCorrupt { offset: 0, .. }),
            "{e}"
        );
    }

    /// Pseudo-random bytes zstd cannot compress: its raw blocks, 128 KiB.
    fn incompressible(len: usize) -> Vec<u8> {
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        (0..len)
            .map(|_| (xorshift(&mut state) >> 32) as u8)
            .collect()
    }

    /// zstd writes a run of one byte as an RLE block (one byte on the wire,
    /// a tar's zero padding) and what it cannot compress as raw blocks of
    /// exactly the largest block size: the walker sizes both right.
    #[test]
    fn rle_and_full_size_raw_blocks_are_walked_right() {
        let data = [
            sample(300_000),
            vec![0; 1 << 20],
            incompressible(600_000),
            sample(100_000),
        ]
        .concat();
        for threads in [1, 2] {
            let stream = parallel_zstd(&data, threads);
            assert!(stream.len() < 1_100_000, "the zero run is RLE");
            for piece in [7, 1 << 16] {
                assert!(read_frames(&stream, threads, piece).unwrap() == data);
            }
        }
    }

    /// A single-segment frame of 5 bytes whose one block has `block_type`.
    fn frame_with_block(block_type: u32) -> Vec<u8> {
        let block = (5 << 3) | (block_type << 1) | 1;
        [
            &ZSTD_MAGIC.to_le_bytes()[..],
            &[0x20, 5],
            &block.to_le_bytes()[..3],
            b"12345",
        ]
        .concat()
    }

    #[test]
    fn a_block_of_the_reserved_type_is_refused_by_name() {
        assert_eq!(read_frames(&frame_with_block(0), 1, 64).unwrap(), b"12345");
        let e = read_frames(&frame_with_block(3), 1, 64).unwrap_err();
        assert_eq!(
            damage_of(&e),
            Damage::ZstdCorrupt {
                offset: 0,
                reason: "a block of the reserved type".into()
            }
        );
    }

    /// A frame is read whole for a worker only while it stays within what
    /// its declared content can compress to; past that (a crafted frame),
    /// it is decoded streaming, and zstd stops it at the first block over
    /// its content size: the walker has not read the rest.
    #[test]
    fn a_frame_larger_than_its_content_allows_is_not_read_whole() {
        // Single segment, content size 1000 (2 bytes: 1000 - 256), then 64
        // raw blocks of 1 KiB, the last one marked last.
        let mut stream = [&ZSTD_MAGIC.to_le_bytes()[..], &[0x60, 0xE8, 0x02]].concat();
        let header_len = stream.len();
        for n in 0..64u32 {
            let block = (1024 << 3) | u32::from(n == 63);
            stream.extend_from_slice(&block.to_le_bytes()[..3]);
            stream.extend_from_slice(&[b'x'; 1024]);
        }
        let mut reader = ZstdFrames::new(&stream[..], ZstdReading::default()).unwrap();
        let e = reader.fill_buf().map(<[u8]>::len).unwrap_err();
        assert!(
            matches!(damage_of(&e), Damage::ZstdCorrupt { offset: 0, .. }),
            "{e}"
        );
        // Over the bound (1066 + the header + 4) after the second block.
        let read = stream.len() - reader.into_inner().len();
        assert_eq!(read, header_len + 2 * (3 + 1024));
    }

    #[test]
    fn trailing_bytes_truncation_and_corruption_are_typed_damage() {
        let data = sample(2 * ZSTD_FRAME_INPUT + 5);
        let stream = parallel_zstd(&data, 2);
        let first = zstd::zstd_safe::find_frame_compressed_size(&stream).unwrap() as u64;

        let mut trailing = stream.clone();
        trailing.extend_from_slice(b"junk");
        let e = read_frames(&trailing, 2, 1 << 16).unwrap_err();
        assert_eq!(
            damage_of(&e),
            Damage::ZstdNotAFrame {
                offset: stream.len() as u64
            }
        );
        // Even a single byte after the end.
        let mut one = stream.clone();
        one.push(0);
        assert_eq!(
            damage_of(&read_frames(&one, 2, 1 << 16).unwrap_err()),
            Damage::ZstdNotAFrame {
                offset: stream.len() as u64
            }
        );

        // Past a skippable frame, the offset still counts every byte.
        let mut skipped = stream.clone();
        skipped.extend_from_slice(&[0x50, 0x2A, 0x4D, 0x18, 0xE8, 0x03, 0, 0]);
        skipped.extend_from_slice(&[7; 1000]);
        skipped.extend_from_slice(b"junk");
        assert_eq!(
            damage_of(&read_frames(&skipped, 2, 1 << 16).unwrap_err()),
            Damage::ZstdNotAFrame {
                offset: stream.len() as u64 + 1008
            }
        );

        let cut = &stream[..stream.len() - 3];
        let e = read_frames(cut, 2, 1 << 16).unwrap_err();
        assert!(
            matches!(damage_of(&e), Damage::ZstdTruncated { offset } if offset > first),
            "{e}"
        );

        let mut flipped = stream.clone();
        flipped[first as usize + 1000] ^= 0x40;
        let e = read_frames(&flipped, 2, 1 << 16).unwrap_err();
        assert!(
            matches!(damage_of(&e), Damage::ZstdCorrupt { offset, .. } if offset == first),
            "{e}"
        );
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

    /// What deflate cannot shrink comes out larger than it went in: a block
    /// takes more than one call to zlib, with the output grown between
    /// them, and each block's flush must be complete before the next.
    #[test]
    fn parallel_deflate_round_trips_what_it_cannot_compress() {
        let len = 3 * DEFLATE_BLOCK + 777;
        let data = incompressible(len);
        for (level, threads) in [(1, 1), (6, 2), (9, 3)] {
            let mut deflate = ParallelDeflate::new(Vec::new(), level, threads);
            for piece in data.chunks(70_001) {
                deflate.write_all(piece).unwrap();
            }
            let stream = deflate.finish().unwrap();
            assert!(
                inflate(&stream, len) == data,
                "level {level}, {threads} threads"
            );
        }
    }

    /// The deflate stage's memory bound and parallelism, as the zstd
    /// encoder's: two blocks in flight per worker, the oldest written out
    /// only when one more is given.
    #[test]
    fn parallel_deflate_holds_exactly_its_blocks_in_flight() {
        let data = sample(8 * DEFLATE_BLOCK);
        for threads in [1, 2, 3] {
            let in_flight = 2 * threads as usize;
            let mut deflate = ParallelDeflate::new(Vec::new(), 6, threads);
            // In pieces that straddle the blocks, as a pipe hands them over.
            let write = |deflate: &mut ParallelDeflate<Vec<u8>>, bytes: &[u8]| {
                for piece in bytes.chunks(70_001) {
                    deflate.write_all(piece).unwrap();
                }
            };
            let (held, rest) = data.split_at(in_flight * DEFLATE_BLOCK);
            write(&mut deflate, held);
            assert!(deflate.sink.is_empty(), "{threads} threads: none out yet");
            let (one_more, rest) = rest.split_at(DEFLATE_BLOCK);
            write(&mut deflate, one_more);
            assert!(
                !deflate.sink.is_empty(),
                "{threads} threads: the oldest out"
            );
            write(&mut deflate, rest);
            let stream = deflate.finish().unwrap();
            assert!(inflate(&stream, data.len()) == data);
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
