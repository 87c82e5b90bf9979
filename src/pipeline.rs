//! Running a stage on its own thread behind a bounded queue, so the stages
//! of a pipeline each get a core while memory stays flat: a `Read` produced
//! on one thread and consumed on another (the OpenPGP layer and the
//! decompression layer), and a `Write` whose bytes another thread writes
//! out (the cipher and the output).

use std::io::{self, BufRead, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex, OnceLock};

use crate::error::Damage;

/// Bytes per message and messages in flight: 4 x 256 KiB.
const PIECE: usize = crate::format::packet::PIECE;
const IN_FLIGHT: usize = 4;

enum Piece {
    Data(Vec<u8>),
    /// The producer reached the end cleanly.
    End,
    Fail(io::Error),
}

/// The consuming end: a `Read` over what the producer thread read.
pub struct ThreadedReader {
    // Mutex only to make the reader Sync, as sequoia's parser requires.
    queue: Mutex<Receiver<Piece>>,
    /// Read pieces go back to the producer to be filled again: a fresh
    /// 256 KiB piece each time cost an allocation, its page faults and a
    /// memset, about 3% of a restore's CPU (docs/performance.md).
    spent: SyncSender<Vec<u8>>,
    current: Vec<u8>,
    pos: usize,
    ended: bool,
    /// A failure is sticky: every later read repeats it.
    failed: Option<Sticky>,
}

/// A failure to repeat (io::Error is not Clone): sealpipe's own verdict
/// keeps its type, anything else its kind and text.
enum Sticky {
    Damage(io::ErrorKind, Damage),
    Internal(String),
    Other(io::ErrorKind, String),
}

impl Sticky {
    fn of(e: &io::Error) -> Sticky {
        match e.get_ref().and_then(|i| i.downcast_ref::<crate::Error>()) {
            Some(crate::Error::BadInput(d)) => Sticky::Damage(e.kind(), d.clone()),
            Some(ours) => Sticky::Internal(ours.to_string()),
            None => Sticky::Other(e.kind(), e.to_string()),
        }
    }

    fn repeat(&self) -> io::Error {
        match self {
            Sticky::Damage(kind, d) => io::Error::new(*kind, crate::Error::BadInput(d.clone())),
            Sticky::Internal(m) => io::Error::other(crate::Error::Internal(m.clone())),
            Sticky::Other(kind, m) => io::Error::new(*kind, m.clone()),
        }
    }
}

/// The producing end, run on its own thread with `produce`.
pub struct Producer {
    pieces: SyncSender<Piece>,
    spent: Receiver<Vec<u8>>,
}

/// A connected pair.
pub fn threaded_reader() -> (Producer, ThreadedReader) {
    let (tx, rx) = sync_channel(IN_FLIGHT);
    // Room for every piece that can be out at once, so none is dropped.
    let (spent_tx, spent_rx) = sync_channel(IN_FLIGHT + 3);
    (
        Producer {
            pieces: tx,
            spent: spent_rx,
        },
        ThreadedReader {
            queue: Mutex::new(rx),
            spent: spent_tx,
            current: Vec::new(),
            pos: 0,
            ended: false,
            failed: None,
        },
    )
}

impl Producer {
    /// Read `source` to its end into the queue. Stops early (quietly) when
    /// the consumer has gone away.
    pub fn produce<R: Read>(self, mut source: R) {
        loop {
            // A returned piece is already PIECE long: no zeroing to redo.
            let mut piece = self.spent.try_recv().unwrap_or_default();
            piece.resize(PIECE, 0);
            let mut filled = 0;
            let outcome = loop {
                match source.read(&mut piece[filled..]) {
                    Ok(0) => break Ok(true),
                    Ok(n) => {
                        filled += n;
                        if filled == PIECE {
                            break Ok(false);
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => break Err(e),
                }
            };
            piece.truncate(filled);
            if !piece.is_empty() && self.pieces.send(Piece::Data(piece)).is_err() {
                return;
            }
            let last = match outcome {
                Ok(false) => continue,
                Ok(true) => Piece::End,
                Err(e) => Piece::Fail(e),
            };
            let _ = self.pieces.send(last);
            return;
        }
    }
}

impl BufRead for ThreadedReader {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.pos == self.current.len() {
            if let Some(sticky) = &self.failed {
                return Err(sticky.repeat());
            }
            if self.ended {
                return Ok(&[]);
            }
            let next = self
                .queue
                .get_mut()
                .unwrap_or_else(|e| e.into_inner())
                .recv();
            match next {
                Ok(Piece::Data(data)) => {
                    let read = std::mem::replace(&mut self.current, data);
                    // Back to the producer to be filled again (if it has
                    // ended, the piece is just freed).
                    let _ = self.spent.try_send(read);
                    self.pos = 0;
                }
                Ok(Piece::End) => {
                    self.ended = true;
                    return Ok(&[]);
                }
                Ok(Piece::Fail(e)) => {
                    self.failed = Some(Sticky::of(&e));
                    return Err(e);
                }
                Err(_) => {
                    let sticky =
                        Sticky::Internal("the decrypting thread stopped unexpectedly".into());
                    let e = sticky.repeat();
                    self.failed = Some(sticky);
                    return Err(e);
                }
            }
        }
        Ok(&self.current[self.pos..])
    }

    fn consume(&mut self, amount: usize) {
        self.pos = (self.pos + amount).min(self.current.len());
    }
}

impl Read for ThreadedReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = buf.len().min(available.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

/// The producing end of a write stage: bytes written here are written to
/// the real output by a thread of their own, so a slow or blocking write
/// (page cache throttling, a pipe) does not stall the cipher.
pub struct ThreadedWriter {
    queue: Option<SyncSender<Vec<u8>>>,
    piece: Vec<u8>,
    /// The kind of the output thread's first error; later writes fail fast.
    failed: Arc<OnceLock<io::ErrorKind>>,
}

impl ThreadedWriter {
    fn send(&mut self) -> io::Result<()> {
        let piece = std::mem::replace(&mut self.piece, Vec::with_capacity(PIECE));
        match self.queue.as_ref().map(|q| q.send(piece)) {
            Some(Ok(())) => Ok(()),
            _ => Err(self.stopped()),
        }
    }

    fn stopped(&self) -> io::Error {
        let kind = self
            .failed
            .get()
            .copied()
            .unwrap_or(io::ErrorKind::BrokenPipe);
        io::Error::new(kind, "the output stage stopped")
    }
}

impl Write for ThreadedWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.failed.get().is_some() {
            return Err(self.stopped());
        }
        let n = buf.len().min(PIECE - self.piece.len());
        self.piece.extend_from_slice(&buf[..n]);
        if self.piece.len() == PIECE {
            self.send()?;
        }
        Ok(n)
    }

    /// Hands the bytes so far to the output thread (it does not wait for them).
    fn flush(&mut self) -> io::Result<()> {
        match self.piece.is_empty() {
            true => Ok(()),
            false => self.send(),
        }
    }
}

/// Run `body` with a [`ThreadedWriter`] in front of `sink`, written by a
/// second thread. Everything `body` wrote is in `sink` (flushed) when this
/// returns Ok. If `body` fails, what is still queued is dropped, not
/// written: the output is incomplete either way. An error of the sink is
/// returned as the output failure it is.
pub fn write_on_thread<W, T>(
    sink: &mut W,
    body: impl FnOnce(&mut ThreadedWriter) -> crate::Result<T>,
) -> crate::Result<T>
where
    W: Write + Send,
{
    let (queue, pieces) = sync_channel::<Vec<u8>>(IN_FLIGHT);
    let failed = Arc::new(OnceLock::new());
    let abandon = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let worker = scope.spawn(|| -> io::Result<()> {
            for piece in pieces {
                if abandon.load(Ordering::Relaxed) {
                    continue;
                }
                if let Err(e) = sink.write_all(&piece) {
                    let _ = failed.set(e.kind());
                    return Err(e);
                }
            }
            sink.flush().inspect_err(|e| {
                let _ = failed.set(e.kind());
            })
        });
        let mut writer = ThreadedWriter {
            queue: Some(queue),
            piece: Vec::with_capacity(PIECE),
            failed: Arc::clone(&failed),
        };
        let outcome = body(&mut writer)
            .and_then(|t| writer.flush().map(|()| t).map_err(crate::io::write_error));
        if outcome.is_err() {
            abandon.store(true, Ordering::Relaxed);
        }
        // Closing the queue ends the worker once it has written the rest.
        writer.queue = None;
        let written = worker
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the output thread panicked")));
        let t = outcome?;
        written.map_err(crate::io::write_error)?;
        Ok(t)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink that takes `room` bytes, then fails like a full disk.
    struct Full {
        written: Vec<u8>,
        room: usize,
    }

    impl Write for Full {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.written.len() + buf.len() > self.room {
                return Err(io::Error::from(io::ErrorKind::StorageFull));
            }
            self.written.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn data(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 % 256) as u8).collect()
    }

    /// Read `input` through a threaded reader in reads of `chunk`.
    fn read_through(input: &[u8], chunk: usize) -> Vec<u8> {
        let (producer, mut reader) = threaded_reader();
        let mut read = Vec::new();
        std::thread::scope(|scope| {
            scope.spawn(move || producer.produce(input));
            let mut buf = vec![0; chunk];
            loop {
                let n = reader.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                read.extend_from_slice(&buf[..n]);
            }
        });
        read
    }

    #[test]
    fn a_threaded_reader_reads_exactly_what_was_produced() {
        // Many more pieces than are in flight, so the producer waits and
        // pieces are reused; reads smaller and larger than a piece.
        let input = data((IN_FLIGHT + 3) * PIECE + 4321);
        for chunk in [100_000, PIECE + 1, 7] {
            let read = read_through(&input, chunk);
            assert!(read == input, "read {} bytes, not the input", read.len());
        }
    }

    #[test]
    fn everything_written_arrives_in_order() {
        let input = data(3 * PIECE + 12345);
        let mut sink = Full {
            written: Vec::new(),
            room: usize::MAX,
        };
        let n = write_on_thread(&mut sink, |out| {
            for piece in input.chunks(1000) {
                out.write_all(piece).unwrap();
            }
            Ok(input.len())
        })
        .unwrap();
        assert_eq!(n, input.len());
        assert_eq!(sink.written, input);
    }

    #[test]
    fn a_failing_sink_fails_the_writer_and_the_run() {
        let mut sink = Full {
            written: Vec::new(),
            room: PIECE,
        };
        let mut saw_error = false;
        let result = write_on_thread(&mut sink, |out| {
            for _ in 0..100 {
                if out.write_all(&data(PIECE)).is_err() {
                    saw_error = true;
                    break;
                }
            }
            Ok(())
        });
        assert!(saw_error, "writes kept succeeding after the sink failed");
        let err = result.unwrap_err().to_string();
        assert!(err.contains("no space left"), "{err}");
    }
}
