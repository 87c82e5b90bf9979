//! The fast reader: SEIPDv1 with AES (what sealpipe and gpg write) through
//! sealpipe's own container reader (`format::seipd`): AES on one thread,
//! the MDC on a second, then the inner packets and the zstd frame walker on
//! this one, the frames decoded by workers. Anything it does not handle goes to
//! the stock reader over the very same bytes.

use std::io::{self, BufRead, Cursor, Read, Write};

use openpgp::parse::buffered_reader::BufferedReader;
use openpgp::parse::{Dearmor, PacketParserBuilder, PacketParserResult, Parse};
use sequoia_openpgp as openpgp;

use super::{
    classify, classify_io, copy_plaintext, stock, Decoding, MessageFacts, ReadOutcome, Reading,
};
use crate::error::{Damage, Error, Result};
use crate::format::literal::{self, LiteralBody, Start};
use crate::format::seipd::{self, MdcStage, SeipdHead};
use crate::pipeline::threaded_relay;

/// Read a SEIPDv1 message whose envelope is read and whose packet body
/// follows in `rest`.
pub(super) fn read<W: Write>(reading: Reading<'_, '_, '_, W>) -> ReadOutcome {
    let Reading {
        session,
        envelope,
        body: rest,
        sink,
        decoding,
    } = reading;
    let mut rest = HeadRecorder {
        inner: rest,
        recorded: Vec::new(),
    };
    let head = SeipdHead::read(&mut rest, envelope.data_length)?;
    // The quick check only prefers among session keys; the MDC decides.
    let chosen = session.choose(&envelope.pkesks, None, |algo, key| {
        algo.is_some_and(|algo| head.fits(algo, key))
    })?;
    let Some(algo) = chosen.algo.filter(|algo| seipd::supports(*algo)) else {
        // Not AES: the stock reader, over the bytes read so far and the rest.
        let HeadRecorder { inner, recorded } = rest;
        if recorded.len() == HEAD_RECORD_LIMIT {
            return Err(Damage::Framing {
                what: "the encrypted data starts in chunks too small to hold its first block",
            }
            .into());
        }
        let rest = Box::new(Cursor::new(recorded).chain(inner));
        return stock::read(Reading {
            session,
            envelope,
            body: rest,
            sink,
            decoding,
        });
    };
    let mut facts = MessageFacts {
        opened_by: chosen.opened_by(),
        cipher: Some(algo),
        seipd_version: Some(1),
        ..MessageFacts::default()
    };
    // Thread 1: deframe and AES-CFB, straight into the relay's pieces.
    // Thread 2: the MDC (SHA-1) over each piece as it arrives, passing the
    // same buffers on. Where a backup does not compress, AES and SHA-1 are
    // the restore's serial work, and on one thread they kept a core busy
    // while the workers waited; split, tar restores ran 5% faster
    // (docs/performance.md). This thread: the inner packets, the zstd frame
    // walker (workers decode), output.
    let (container, seed) = head.into_readers(algo, &chosen.session_key)?;
    let (producer, mdc, checked) = threaded_relay();
    let sha256 = std::thread::scope(|scope| {
        scope.spawn(move || producer.produce(container));
        scope.spawn(move || mdc.run(MdcStage::new(seed)));
        // Owned by this closure, so that on any early return it is dropped
        // before the scope joins the relay and the producer, which then
        // stop sending.
        // The MDC's verdict arrives as the last read's error.
        let mut plaintext = checked;
        let inner = read_inner(&mut plaintext, sink, decoding, &mut facts);
        // The MDC is checked when the container ends: read to the end,
        // whether the inner packets ended first or failed to parse. A
        // failed MDC is the verdict for damage anywhere.
        if let Err(e @ Error::Io { .. }) = inner {
            // The output failed: nothing to hide, no reason to read on.
            return Err(e);
        }
        let rest = io::copy(&mut plaintext, &mut io::sink()).map_err(classify_io);
        match (inner, rest) {
            (_, Err(e)) => Err(e),
            (Err(e), Ok(_)) => Err(e),
            (Ok(sha256), Ok(_)) => Ok(sha256),
        }
    })?;
    Ok((facts, sha256))
}

/// Keeps the bytes the head of the container was read from, so the stock
/// reader can start over from them. Bounded: the head is 18 bytes of body
/// plus at most a length octet before each.
struct HeadRecorder<R> {
    inner: R,
    recorded: Vec<u8>,
}

const HEAD_RECORD_LIMIT: usize = 64;

impl<R: Read> Read for HeadRecorder<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let room = HEAD_RECORD_LIMIT - self.recorded.len();
        if room == 0 {
            // Past the head: straight through.
            return self.inner.read(buf);
        }
        let want = buf.len().min(room);
        let n = self.inner.read(&mut buf[..want])?;
        self.recorded.extend_from_slice(&buf[..n]);
        Ok(n)
    }
}

/// The packets inside the container: optional compression, one literal
/// data packet (its body possibly a sealpipe zstd stream), and the
/// signature packets a signed message carries (judged in `origin` once the
/// whole message is read). The shapes sealpipe writes are read up to the
/// literal body by `format::literal`; the rest, and any other shape, by
/// sequoia's packet parser.
fn read_inner<R, W>(
    plaintext: &mut R,
    sink: &mut W,
    decoding: Decoding,
    facts: &mut MessageFacts,
) -> Result<Option<String>>
where
    R: BufRead + Send + Sync,
    W: Write,
{
    let (ahead, literal, framing) = match literal::start(plaintext).map_err(classify_io)? {
        Start::Literal {
            ahead,
            literal,
            body,
        } => (ahead, literal, body),
        Start::Other(read) => {
            // The whole content: its completeness is checked at its end.
            let packets = Cursor::new(read).chain(plaintext);
            return parse_packets(packets, Part::Whole, sink, decoding, facts);
        }
    };
    if !ahead.is_empty() {
        // The one-pass signatures: no literal among them.
        parse_packets(&ahead[..], Part::Piece, sink, decoding, facts)?;
    }
    facts.observe(&openpgp::Packet::Literal(literal))?;
    let mut body = LiteralBody::new(plaintext, framing);
    let sha256 = copy_plaintext(&mut body, facts, sink, decoding)?;
    body.skip_rest().map_err(classify_io)?;
    // The signatures after it (a second literal is refused by `observe`
    // before a byte of it is copied).
    parse_packets(plaintext, Part::Piece, sink, decoding, facts)?;
    facts.check_complete()?;
    Ok(sha256)
}

/// Packets read by sequoia's parser, each observed, a literal packet's body
/// copied out; its SHA-256 if one was asked for.
fn parse_packets<R, W>(
    packets: R,
    part: Part,
    sink: &mut W,
    decoding: Decoding,
    facts: &mut MessageFacts,
) -> Result<Option<String>>
where
    R: Read + Send + Sync,
    W: Write,
{
    let mut sha256 = None;
    // No automatic hashing: the literal body is hashed for the one-pass
    // signatures once, by copy_plaintext (decrypt/origin.rs), which gives
    // the verdict for both readers; sequoia's own hash of it would be a
    // second SHA-256 on the MDC's thread (verified restores at 0.7x).
    // No armor sniffing: inside the container it is packets or damage, and
    // the packets after the literal body must parse as they would have
    // in one pass (a header sequoia finds invalid would make it try armor).
    let mut ppr = PacketParserBuilder::from_reader(packets)
        .map_err(not_packets)?
        .dearmor(Dearmor::Disabled)
        .automatic_hashing(false)
        .build()
        .map_err(not_packets)?;
    while let PacketParserResult::Some(mut pp) = ppr {
        facts.observe(&pp.packet)?;
        // The message grammar, checked after each packet as sequoia's
        // reader checks it: a signature inside a compressed packet whose
        // one-pass signature is outside it counts up right, yet is no
        // message.
        pp.possible_message().map_err(classify)?;
        if let openpgp::Packet::Literal(_) = pp.packet {
            sha256 = copy_plaintext(ParserBody(&mut pp), facts, sink, decoding)?;
        }
        ppr = pp.recurse().map_err(classify)?.1;
    }
    if let (Part::Whole, PacketParserResult::EOF(eof)) = (part, ppr) {
        // The named verdicts (no literal, a one-pass signature without its
        // signature) first; then any other shape that is no message.
        facts.check_complete()?;
        eof.is_message().map_err(classify)?;
    }
    Ok(sha256)
}

/// How much of the container's content a parse covers: all of it, or the
/// packets before or after the literal body (whose grammar as a whole the
/// caller and `MessageFacts` check).
#[derive(Clone, Copy)]
enum Part {
    Whole,
    Piece,
}

/// A literal packet's body as a `BufRead`, read from sequoia's parser's own
/// buffer: no copy between it and the zstd frame walker.
struct ParserBody<'a, 'p>(&'a mut openpgp::parse::PacketParser<'p>);

impl Read for ParserBody<'_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl BufRead for ParserBody<'_, '_> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        // Whatever is buffered (at least a byte before the end): asking for
        // more would make the parser join partial-body chunks by copying.
        self.0.data(1)
    }

    fn consume(&mut self, amount: usize) {
        self.0.consume(amount);
    }
}

/// The container's content does not start with a packet. If the MDC fails
/// too, that verdict wins (the caller reads to the end).
fn not_packets(e: openpgp::anyhow::Error) -> Error {
    match classify(e) {
        Error::BadInput(Damage::Malformed { .. }) => Damage::NotPackets.into(),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The recorder keeps the head only, however much is read through it:
    /// the rest of a backup streams past (memory stays bounded).
    #[test]
    fn the_head_recorder_keeps_only_the_head() {
        let data: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
        let mut recorder = HeadRecorder {
            inner: &data[..],
            recorded: Vec::new(),
        };
        let mut out = Vec::new();
        // Small reads, as the head's parser makes them, then large ones.
        let mut small = [0u8; 7];
        for _ in 0..20 {
            let n = recorder.read(&mut small).unwrap();
            out.extend_from_slice(&small[..n]);
        }
        io::copy(&mut recorder, &mut out).unwrap();
        assert!(out == data, "every byte passes through");
        assert_eq!(recorder.recorded, data[..HEAD_RECORD_LIMIT]);
    }
}
