//! Running a stage on its own thread behind a bounded queue, so the stages
//! of a pipeline each get a core while memory stays flat: a `Read` produced
//! on one thread, passed through a stage on a second and consumed on a
//! third (decryption, the MDC, the OpenPGP layer), and a `Write` whose
//! bytes another thread writes out (the cipher and the output).

use std::io::{self, BufRead, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex, OnceLock};

use crate::error::Damage;

/// The write stage: bytes per message and messages in flight, 4 x 256 KiB.
const PIECE: usize = crate::format::packet::PIECE;
const IN_FLIGHT: usize = 4;

/// The read relay: bytes per piece, and pieces queued before each of its
/// two hand-overs. Every hand-over is a thread's wake-up, and on a 2-core
/// VM a wake-up can leave both cores idle for a moment: pieces of 1 MiB
/// instead of 256 KiB made tar restores 7% faster, and 2 queued instead of
/// 4 cost nothing and hold 4 MiB less (docs/performance.md).
const READ_PIECE: usize = 1 << 20;
const READ_IN_FLIGHT: usize = 2;

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
    /// piece each time cost an allocation, its page faults and a memset,
    /// about 3% of a restore's CPU (docs/performance.md).
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

/// A producer and a reader with a [`Relay`] between them, each on a
/// thread of its own: the pieces the producer reads go through the relay's
/// stage to the reader, the very same buffers, and back to the producer to
/// be filled again.
pub fn threaded_relay() -> (Producer, Relay, ThreadedReader) {
    let (to_relay, relayed) = sync_channel(READ_IN_FLIGHT);
    let (to_reader, queue) = sync_channel(READ_IN_FLIGHT);
    // Room for every piece that can be out at once (two queues' worth, the
    // stage's pending pieces and one at each end), so none is dropped.
    let (spent_tx, spent_rx) = sync_channel(2 * READ_IN_FLIGHT + 4);
    (
        Producer {
            pieces: to_relay,
            spent: spent_rx,
        },
        Relay {
            from: relayed,
            to: to_reader,
        },
        ThreadedReader::new(queue, spent_tx),
    )
}

/// Work on a stream of pieces between a producer and a reader: it sees
/// every piece in order and decides when each goes on.
pub trait PieceStage {
    /// A piece the producer read (never empty); pieces ready for the
    /// reader go to `pass`, in order.
    fn piece(&mut self, piece: Vec<u8>, pass: &mut Vec<Vec<u8>>);
    /// The producer reached the end: the last pieces go to `pass`, then
    /// the stream's verdict.
    fn end(&mut self, pass: &mut Vec<Vec<u8>>) -> io::Result<()>;
}

/// The middle of a [`threaded_relay`]: run it on its own thread.
pub struct Relay {
    from: Receiver<Piece>,
    to: SyncSender<Piece>,
}

impl Relay {
    /// Pass every piece through `stage` until the producer ends or fails
    /// (its failure goes on to the reader as it is), or the reader has
    /// gone away. If the producer stops without a word, the reader's queue
    /// closes, which it reports.
    pub fn run(self, mut stage: impl PieceStage) {
        let mut pass = Vec::new();
        for piece in self.from.iter() {
            let last = match piece {
                Piece::Data(data) => {
                    stage.piece(data, &mut pass);
                    None
                }
                Piece::End => Some(match stage.end(&mut pass) {
                    Ok(()) => Piece::End,
                    Err(e) => Piece::Fail(e),
                }),
                Piece::Fail(e) => Some(Piece::Fail(e)),
            };
            for data in pass.drain(..) {
                if self.to.send(Piece::Data(data)).is_err() {
                    return;
                }
            }
            if let Some(last) = last {
                let _ = self.to.send(last);
                return;
            }
        }
    }
}

impl Producer {
    /// Read `source` to its end into the queue. Stops early (quietly) when
    /// the consumer has gone away.
    pub fn produce<R: Read>(self, mut source: R) {
        loop {
            // A returned piece is already READ_PIECE long: no zeroing to redo.
            let mut piece = self.spent.try_recv().unwrap_or_default();
            piece.resize(READ_PIECE, 0);
            let mut filled = 0;
            let outcome = loop {
                match source.read(&mut piece[filled..]) {
                    Ok(0) => break Ok(true),
                    Ok(n) => {
                        filled += n;
                        if filled == READ_PIECE {
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

impl ThreadedReader {
    fn new(queue: Receiver<Piece>, spent: SyncSender<Vec<u8>>) -> Self {
        ThreadedReader {
            queue: Mutex::new(queue),
            spent,
            current: Vec::new(),
            pos: 0,
            ended: false,
            failed: None,
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
        crate::io::read_buffered(self, buf)
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

    /// Passes every piece on as it comes and ends cleanly.
    struct PassThrough;

    impl PieceStage for PassThrough {
        fn piece(&mut self, piece: Vec<u8>, pass: &mut Vec<Vec<u8>>) {
            pass.push(piece);
        }
        fn end(&mut self, _: &mut Vec<Vec<u8>>) -> io::Result<()> {
            Ok(())
        }
    }

    /// Holds each piece until the next arrives; at the end passes the last
    /// one and then fails, as the MDC stage does on a bad MDC.
    #[derive(Default)]
    struct HoldLastThenFail(Option<Vec<u8>>);

    impl PieceStage for HoldLastThenFail {
        fn piece(&mut self, piece: Vec<u8>, pass: &mut Vec<Vec<u8>>) {
            pass.extend(self.0.replace(piece));
        }
        fn end(&mut self, pass: &mut Vec<Vec<u8>>) -> io::Result<()> {
            pass.extend(self.0.take());
            Err(io::Error::new(
                io::ErrorKind::InvalidData,
                crate::Error::BadInput(Damage::Integrity),
            ))
        }
    }

    /// Read what `source` produces through a relay running `stage`, in
    /// reads of `chunk`: the bytes read, and the error that ended them.
    fn read_through(
        source: impl Read + Send,
        stage: impl PieceStage + Send,
        chunk: usize,
    ) -> (Vec<u8>, Option<io::Error>) {
        let (producer, relay, mut reader) = threaded_relay();
        let mut read = Vec::new();
        let failure = std::thread::scope(|scope| {
            scope.spawn(move || producer.produce(source));
            scope.spawn(move || relay.run(stage));
            let mut buf = vec![0; chunk];
            loop {
                match reader.read(&mut buf) {
                    Ok(0) => return None,
                    Ok(n) => read.extend_from_slice(&buf[..n]),
                    Err(e) => {
                        // Sticky: a second read repeats the verdict.
                        let again = reader.read(&mut buf).unwrap_err();
                        assert_eq!(again.to_string(), e.to_string());
                        return Some(e);
                    }
                }
            }
        });
        (read, failure)
    }

    fn damage_of(e: &io::Error) -> Option<&Damage> {
        match e.get_ref()?.downcast_ref::<crate::Error>()? {
            crate::Error::BadInput(d) => Some(d),
            _ => None,
        }
    }

    #[test]
    fn a_relay_passes_exactly_what_was_produced() {
        // Many more pieces than are in flight, so the producer waits and
        // pieces are reused; reads smaller and larger than a piece.
        let input = data((2 * READ_IN_FLIGHT + 5) * READ_PIECE + 4321);
        for chunk in [100_000, READ_PIECE + 1, 7] {
            let (read, failure) = read_through(&input[..], PassThrough, chunk);
            assert!(failure.is_none(), "{failure:?}");
            assert!(read == input, "read {} bytes, not the input", read.len());
        }
    }

    /// docs/design.md: the relay holds at most 8 pieces (2 queued at each
    /// hand-over, the stage's pending piece and the one it is passing on,
    /// one at each end). A reader slower than the producer lets every
    /// queue fill; pieces come back for reuse, so however long the stream,
    /// the reader sees no more than 8 distinct buffers.
    #[test]
    fn a_relay_holds_at_most_eight_pieces_however_long_the_stream() {
        let input = data(40 * READ_PIECE);
        let (producer, relay, mut reader) = threaded_relay();
        let mut buffers = std::collections::HashSet::new();
        let mut read = 0;
        std::thread::scope(|scope| {
            scope.spawn(|| producer.produce(&input[..]));
            scope.spawn(move || relay.run(PassThrough));
            loop {
                let available = reader.fill_buf().unwrap();
                if available.is_empty() {
                    break;
                }
                buffers.insert(available.as_ptr() as usize);
                let n = available.len();
                read += n;
                reader.consume(n);
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        });
        assert_eq!(read, input.len());
        assert!(buffers.len() <= 8, "{} buffers in use", buffers.len());
    }

    #[test]
    fn the_stage_verdict_comes_after_everything_it_passed() {
        let input = data(3 * READ_PIECE + 999);
        let (read, failure) = read_through(&input[..], HoldLastThenFail::default(), 65536);
        assert!(read == input, "read {} bytes, not the input", read.len());
        let failure = failure.expect("the stage's verdict reaches the reader");
        assert!(matches!(damage_of(&failure), Some(Damage::Integrity)));
    }

    #[test]
    fn a_producer_failure_reaches_the_reader_as_it_is() {
        let input = data(2 * READ_PIECE + 10);
        // `READ_PIECE + 5` good bytes, then a failure like damaged framing.
        let source = crate::io::testing::Scripted::new(vec![
            Ok(input[..READ_PIECE + 5].to_vec()),
            Err(io::Error::new(
                io::ErrorKind::InvalidData,
                crate::Error::BadInput(Damage::Truncated),
            )),
        ]);
        let (read, failure) = read_through(source, PassThrough, 4096);
        // What was read before the failure, and not a byte more.
        assert!(read == input[..READ_PIECE + 5]);
        let failure = failure.expect("the producer's failure reaches the reader");
        assert!(matches!(damage_of(&failure), Some(Damage::Truncated)));
    }

    /// A signal landing in read(2) (EINTR) is retried, never a failure of
    /// the restore: the bytes on either side of it all arrive.
    #[test]
    fn an_interrupted_read_is_retried() {
        use crate::io::testing::{interrupted, Scripted};
        let input = data(READ_PIECE + 100);
        let source = Scripted::new(vec![
            Ok(input[..10].to_vec()),
            interrupted(),
            Ok(input[10..].to_vec()),
            interrupted(),
        ]);
        let (read, failure) = read_through(source, PassThrough, 4096);
        assert!(failure.is_none(), "{failure:?}");
        assert!(read == input, "read {} bytes, not the input", read.len());
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

    /// The writer hands on whole pieces as they fill, never more than a
    /// piece at a time: memory stays bounded (`IN_FLIGHT` pieces) however
    /// long the output, not the whole output held until the end.
    #[test]
    fn the_writer_hands_on_pieces_of_at_most_piece_bytes() {
        struct Sizes(Vec<usize>);
        impl Write for Sizes {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                self.0.push(buf.len());
                Ok(buf.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let input = data(3 * PIECE + 12345);
        let mut sink = Sizes(Vec::new());
        write_on_thread(&mut sink, |out| {
            for piece in input.chunks(1000) {
                out.write_all(piece).unwrap();
            }
            Ok(())
        })
        .unwrap();
        assert_eq!(sink.0, [PIECE, PIECE, PIECE, 12345]);
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
