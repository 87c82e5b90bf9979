//! Running a stage on its own thread: a `Read` produced on one thread and
//! consumed on another through a bounded queue, so the OpenPGP layer and the
//! decompression layer each get a core while memory stays flat.

use std::io::{self, Read};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Mutex;

/// Bytes per message and messages in flight: 4 x 256 KiB.
const PIECE: usize = 256 * 1024;
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
    current: Vec<u8>,
    pos: usize,
    ended: bool,
    /// A failure is sticky: every later read repeats it.
    failed: Option<(io::ErrorKind, String)>,
}

/// The producing end, run on its own thread with `produce`.
pub struct Producer(SyncSender<Piece>);

/// A connected pair.
pub fn threaded_reader() -> (Producer, ThreadedReader) {
    let (tx, rx) = sync_channel(IN_FLIGHT);
    (
        Producer(tx),
        ThreadedReader {
            queue: Mutex::new(rx),
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
            let mut piece = vec![0u8; PIECE];
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
            if !piece.is_empty() && self.0.send(Piece::Data(piece)).is_err() {
                return;
            }
            let last = match outcome {
                Ok(false) => continue,
                Ok(true) => Piece::End,
                Err(e) => Piece::Fail(e),
            };
            let _ = self.0.send(last);
            return;
        }
    }
}

impl Read for ThreadedReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.current.len() {
            if let Some((kind, message)) = &self.failed {
                return Err(io::Error::new(
                    *kind,
                    crate::Error::BadInput(message.clone()),
                ));
            }
            if self.ended {
                return Ok(0);
            }
            let next = self
                .queue
                .get_mut()
                .unwrap_or_else(|e| e.into_inner())
                .recv();
            match next {
                Ok(Piece::Data(data)) => {
                    self.current = data;
                    self.pos = 0;
                }
                Ok(Piece::End) => {
                    self.ended = true;
                    return Ok(0);
                }
                Ok(Piece::Fail(e)) => {
                    let message = match e.get_ref().and_then(|i| i.downcast_ref::<crate::Error>()) {
                        Some(ours) => ours.to_string(),
                        None => e.to_string(),
                    };
                    self.failed = Some((e.kind(), message));
                    return Err(e);
                }
                Err(_) => {
                    let message = "the decrypting thread stopped unexpectedly".to_string();
                    self.failed = Some((io::ErrorKind::Other, message.clone()));
                    return Err(io::Error::other(crate::Error::Internal(message)));
                }
            }
        }
        let n = buf.len().min(self.current.len() - self.pos);
        buf[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}
