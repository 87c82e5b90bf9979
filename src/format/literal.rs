//! The literal data packet (RFC 4880 5.9) inside the container, read by
//! sealpipe itself on the fast path: its header parsed here, its body
//! handed on straight from the decrypting relay's buffers, its chunk
//! framing undone on the way. sequoia's packet parser copied every byte of
//! the body once more and hashed it (xxh3, for packet equality), about 3%
//! of a tar restore's CPU (docs/performance.md).
//!
//! Only the shapes sealpipe and `gpg -z 0` write are read here: one-pass
//! signatures, then the literal packet with its whole header in its first
//! chunk. Anything else, from the first byte on, goes to sequoia's parser
//! over the very same bytes ([`Start::Other`]); what follows the literal
//! body (the signatures) always does. The differential tests in
//! tests/damage.rs hold this reader and sequoia's to the same verdicts.

use std::io::{self, BufRead};

use sequoia_openpgp as openpgp;

use openpgp::packet::{Literal, Tag};
use openpgp::types::{DataFormat, Timestamp};

use super::envelope::{decode_length, header_after, BodyLength};
use crate::error::{Damage, Error};

/// The most one-pass signature bytes read ahead of the literal packet
/// (16 signatures are accepted; a version 3 one-pass signature is 13
/// octets, a version 6 one at most 100). Past this, sequoia reads them.
const MAX_AHEAD: usize = 4096;

/// RFC 4880 4.2.2.4: the first partial chunk of a packet is at least 512
/// octets. A smaller one goes to sequoia's parser, which judges it.
const MIN_FIRST_CHUNK: u64 = 512;

/// How the packets inside the container begin.
pub enum Start {
    /// One-pass signatures (`ahead`, raw packets, possibly none), then a
    /// literal packet, whose header is read and whose body comes next.
    Literal {
        ahead: Vec<u8>,
        literal: Literal,
        body: BodyFraming,
    },
    /// Anything else: every byte read so far, for sequoia's parser to read
    /// again, followed by the rest of the source.
    Other(Vec<u8>),
}

/// Where the literal body stands in its chunk framing.
#[derive(Debug, Clone, Copy)]
pub struct BodyFraming {
    /// Bytes left in the current chunk.
    left: u64,
    /// The current chunk is a partial one: another length follows it.
    more: bool,
}

/// Read the packets at the start of `source` up to the literal packet's
/// body, or as far as it takes to see that they are some other shape. An
/// error is the source's own (for the fast reader, the MDC's verdict).
pub fn start<R: BufRead>(source: &mut R) -> io::Result<Start> {
    let mut raw = Vec::new();
    loop {
        let packet_start = raw.len();
        let header = match read_header(source, &mut raw) {
            Ok(header) => header,
            Err(Stop::Other) => return Ok(Start::Other(raw)),
            Err(Stop::Failed(e)) => return Err(e),
        };
        let (first, more) = match header {
            (Tag::OnePassSig, BodyLength::Full(n)) if raw.len() + n as usize <= MAX_AHEAD => {
                if !take(source, &mut raw, n as usize)? {
                    return Ok(Start::Other(raw));
                }
                continue;
            }
            (Tag::Literal, BodyLength::Full(n)) => (n, false),
            (Tag::Literal, BodyLength::Partial(n)) if n >= MIN_FIRST_CHUNK => (n, true),
            _ => return Ok(Start::Other(raw)),
        };
        // Format, name length, name, date: all in the first chunk.
        let fields = raw.len();
        if !take(source, &mut raw, 2)? {
            return Ok(Start::Other(raw));
        }
        let name_length = raw[fields + 1] as usize;
        let header_length = 2 + name_length + 4;
        if header_length as u64 > first || !take(source, &mut raw, name_length + 4)? {
            return Ok(Start::Other(raw));
        }
        let header = &raw[fields..];
        let name = &header[2..2 + name_length];
        let date: [u8; 4] = header[2 + name_length..].try_into().expect("four octets");
        let mut literal = Literal::new(DataFormat::from(header[0]));
        literal.set_filename(name).map_err(internal)?;
        literal
            .set_date(Some(Timestamp::from(u32::from_be_bytes(date)).into()))
            .map_err(internal)?;
        raw.truncate(packet_start);
        return Ok(Start::Literal {
            ahead: raw,
            literal,
            body: BodyFraming {
                left: first - header_length as u64,
                more,
            },
        });
    }
}

/// The literal packet's body as a `BufRead`, served from the source's own
/// buffer, its chunk lengths taken out as they pass.
pub struct LiteralBody<'a, R> {
    source: &'a mut R,
    framing: BodyFraming,
}

impl<'a, R: BufRead> LiteralBody<'a, R> {
    pub fn new(source: &'a mut R, framing: BodyFraming) -> Self {
        LiteralBody { source, framing }
    }

    /// Read past whatever of the body is left unread (as sequoia's parser
    /// does when it moves on to the next packet), to where the packets
    /// after it begin.
    pub fn skip_rest(mut self) -> io::Result<()> {
        loop {
            let n = self.fill_buf()?.len();
            if n == 0 {
                return Ok(());
            }
            self.consume(n);
        }
    }

    /// The next chunk's length, once the current chunk is read.
    fn next_chunk(&mut self) -> io::Result<()> {
        let mut octets = Vec::with_capacity(5);
        let length = loop {
            let buf = self.source.fill_buf()?;
            let Some(&octet) = buf.first() else {
                return Err(truncated());
            };
            self.source.consume(1);
            octets.push(octet);
            if let Some(length) = decode_length(&octets) {
                break length;
            }
        };
        self.framing = match length {
            BodyLength::Partial(n) => BodyFraming {
                left: n,
                more: true,
            },
            BodyLength::Full(n) => BodyFraming {
                left: n,
                more: false,
            },
            BodyLength::Indeterminate => unreachable!("decode_length reads new-format lengths"),
        };
        Ok(())
    }
}

impl<R: BufRead> BufRead for LiteralBody<'_, R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.framing.left == 0 && self.framing.more {
            self.next_chunk()?;
        }
        if self.framing.left == 0 {
            return Ok(&[]);
        }
        let left = self.framing.left;
        let buf = self.source.fill_buf()?;
        if buf.is_empty() {
            return Err(truncated());
        }
        let n = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        Ok(&buf[..n])
    }

    fn consume(&mut self, amount: usize) {
        let amount = amount.min(usize::try_from(self.framing.left).unwrap_or(usize::MAX));
        self.framing.left -= amount as u64;
        self.source.consume(amount);
    }
}

impl<R: BufRead> io::Read for LiteralBody<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        crate::io::read_buffered(self, buf)
    }
}

/// Why a packet header was not read.
enum Stop {
    /// The source ended, or the bytes are no packet header this reader
    /// takes: sequoia's parser reads them instead.
    Other,
    Failed(io::Error),
}

/// Read a packet header from `source`, appending its octets to `raw`.
fn read_header<R: BufRead>(source: &mut R, raw: &mut Vec<u8>) -> Result<(Tag, BodyLength), Stop> {
    let mut next = || -> Result<u8, Stop> {
        let buf = source.fill_buf().map_err(Stop::Failed)?;
        let Some(&octet) = buf.first() else {
            return Err(Stop::Other);
        };
        source.consume(1);
        raw.push(octet);
        Ok(octet)
    };
    let ctb = next()?;
    if ctb & 0x80 == 0 {
        return Err(Stop::Other);
    }
    header_after(ctb, next)
}

/// Append `n` octets of `source` to `raw`; false if it ends first.
fn take<R: BufRead>(source: &mut R, raw: &mut Vec<u8>, mut n: usize) -> io::Result<bool> {
    while n > 0 {
        let buf = source.fill_buf()?;
        if buf.is_empty() {
            return Ok(false);
        }
        let part = buf.len().min(n);
        raw.extend_from_slice(&buf[..part]);
        source.consume(part);
        n -= part;
    }
    Ok(true)
}

fn truncated() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        Error::BadInput(Damage::Truncated),
    )
}

fn internal(e: openpgp::anyhow::Error) -> io::Error {
    io::Error::other(Error::Internal(format!("a literal packet's header: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::testing::Scripted;
    use std::io::Read;

    /// The header fields of a literal packet: binary, `name`, a date.
    fn fields(name: &[u8]) -> Vec<u8> {
        [&[b'b', name.len() as u8][..], name, &[0x5F, 0, 0, 1]].concat()
    }

    /// A version 3 one-pass signature packet, new format.
    const ONE_PASS: [u8; 15] = [0xC4, 13, 3, 0, 8, 22, 1, 2, 3, 4, 5, 6, 7, 8, 1];

    /// `bytes` served a few at a time, as pieces of a relay arrive.
    fn in_pieces(bytes: &[u8], size: usize) -> Scripted {
        Scripted::new(bytes.chunks(size).map(|c| Ok(c.to_vec())).collect())
    }

    /// The literal body of `input`, read to the end from pieces of `piece`.
    fn body_of(input: &[u8], piece: usize) -> io::Result<Vec<u8>> {
        let mut source = in_pieces(input, piece);
        let Start::Literal { body, .. } = start(&mut source)? else {
            panic!("not read as a literal: {input:02x?}");
        };
        let mut read = Vec::new();
        LiteralBody::new(&mut source, body).read_to_end(&mut read)?;
        Ok(read)
    }

    fn other(bytes: &[u8]) -> Vec<u8> {
        match start(&mut in_pieces(bytes, 3)).expect("no source error") {
            Start::Other(read) => read,
            Start::Literal { .. } => {
                panic!("read as a literal: {:02x?}", &bytes[..bytes.len().min(16)])
            }
        }
    }

    /// sealpipe's shape: one-pass signatures, then the literal packet in
    /// partial chunks; its header is read, the body streams, the chunk
    /// lengths are taken out, and what follows the body is left unread.
    #[test]
    fn the_shape_sealpipe_writes_is_read_here() {
        let data: Vec<u8> = (0..3000u32).map(|i| (i * 7 % 251) as u8).collect();
        let head = fields(b"sealpipe.zst");
        let mut packet = vec![0xCB, 224 + 9];
        packet.extend_from_slice(&head);
        packet.extend_from_slice(&data[..512 - head.len()]);
        // Chunks of 1 and 1024 octets, then a two-octet final length.
        let mut at = 512 - head.len();
        for size in [1usize, 1024] {
            packet.push(224 + size.trailing_zeros() as u8);
            packet.extend_from_slice(&data[at..at + size]);
            at += size;
        }
        let last = data.len() - at;
        packet.extend([((last - 192) >> 8) as u8 + 192, (last - 192) as u8]);
        packet.extend_from_slice(&data[at..]);
        let after = [0xC2, 1, 0x99];
        let input = [&ONE_PASS[..], &ONE_PASS, &packet, &after].concat();
        for piece in [1, 5, 4096] {
            let mut source = in_pieces(&input, piece);
            let Start::Literal {
                ahead,
                literal,
                body,
            } = start(&mut source).unwrap()
            else {
                panic!("not read as a literal (pieces of {piece})");
            };
            assert_eq!(ahead, [ONE_PASS, ONE_PASS].concat());
            assert_eq!(literal.filename(), Some(&b"sealpipe.zst"[..]));
            assert_eq!(literal.format(), DataFormat::Binary);
            assert_eq!(
                literal.date(),
                Some(Timestamp::from(0x5F00_0001).into()),
                "the date"
            );
            let mut body = LiteralBody::new(&mut source, body);
            let mut read = vec![0; 700];
            body.read_exact(&mut read).unwrap();
            assert_eq!(read, data[..700]);
            body.skip_rest().unwrap();
            let mut rest = Vec::new();
            source.read_to_end(&mut rest).unwrap();
            assert_eq!(rest, after, "pieces of {piece}");
        }
    }

    /// Read to the end, the body is exactly the data, however it arrives.
    #[test]
    fn a_body_read_to_the_end_is_the_data() {
        let data = vec![0x42; 70_000];
        let mut packet = vec![0xCB, 255];
        let body_length = (fields(b"").len() + data.len()) as u32;
        packet.extend(body_length.to_be_bytes());
        packet.extend(fields(b""));
        packet.extend(&data);
        assert_eq!(body_of(&packet, 777).unwrap(), data);
    }

    /// Everything else goes to sequoia's parser with every byte read so
    /// far, from the first packet on, and nothing more.
    #[test]
    fn other_shapes_go_to_sequoia_with_what_was_read() {
        let head = fields(b"x");
        let literal_after = |ctb: Vec<u8>| [ctb, head.clone(), vec![0; 600]].concat();
        let cases: Vec<(&str, Vec<u8>, usize)> = vec![
            ("nothing", vec![], 0),
            ("no packet header", vec![0x0B, 1, 2], 1),
            // A literal packet's new-format header octet without its bit 7.
            ("bit 7 clear", literal_after(vec![0x4B, 100]), 1),
            ("a compressed data packet", vec![0xC8, 3, 1, 2, 3], 2),
            ("gpg's old-format compressed packet", vec![0xA3, 1, 0x78], 1),
            ("first chunk of 256", literal_after(vec![0xCB, 224 + 8]), 2),
            ("indeterminate length", literal_after(vec![0xAF]), 1),
            (
                "header longer than its chunk",
                vec![0xCB, 5, b'b', 1, b'x', 0, 0],
                4,
            ),
            ("cut in the header", vec![0xCB, 20, b'b', 9, b'x'], 5),
            (
                "one-pass signature, partial",
                [vec![0xC4, 0xE0], vec![3; 20]].concat(),
                2,
            ),
            ("one-pass signature, cut", ONE_PASS[..9].to_vec(), 9),
            ("a lone header octet", vec![0xCB], 1),
            (
                "one-pass signatures past the read-ahead bound",
                ONE_PASS.repeat(MAX_AHEAD / ONE_PASS.len() + 1),
                (MAX_AHEAD / ONE_PASS.len()) * ONE_PASS.len() + 2,
            ),
        ];
        for (what, bytes, read) in cases {
            assert_eq!(other(&bytes), bytes[..read], "{what}");
        }
        // At the bound: still read here.
        let at_bound = ONE_PASS.repeat(MAX_AHEAD / ONE_PASS.len());
        let input = [at_bound.clone(), vec![0xCB, 6], fields(b"")].concat();
        match start(&mut in_pieces(&input, 100)).unwrap() {
            Start::Literal { ahead, .. } => assert_eq!(ahead, at_bound),
            Start::Other(_) => panic!("the one-pass signatures at the bound went to sequoia"),
        }
    }

    /// A header that fills its chunk exactly is read here; the body is
    /// empty.
    #[test]
    fn a_header_that_fills_its_chunk_leaves_an_empty_body() {
        let input = [vec![0xCB, 7], fields(b"x")].concat();
        assert!(body_of(&input, 2).unwrap().is_empty());
    }

    /// A body that ends early is truncation, as sealpipe's damage verdict;
    /// in a chunk or in a chunk's length alike.
    #[test]
    fn a_body_that_ends_early_is_truncated() {
        let head = fields(b"");
        let cases = [
            (
                "inside a chunk",
                [vec![0xCB, 100], head.clone(), vec![1; 50]].concat(),
            ),
            (
                "after a partial chunk",
                [vec![0xCB, 224 + 9], head.clone(), vec![1; 512 - head.len()]].concat(),
            ),
            (
                "inside a chunk length",
                [
                    vec![0xCB, 224 + 9],
                    head.clone(),
                    vec![1; 512 - head.len()],
                    vec![255, 0],
                ]
                .concat(),
            ),
        ];
        for (what, input) in cases {
            let e = body_of(&input, 64).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof, "{what}");
            let ours = e.get_ref().and_then(|i| i.downcast_ref::<Error>());
            assert!(
                matches!(ours, Some(Error::BadInput(Damage::Truncated))),
                "{what}: {e}"
            );
        }
    }

    /// The source's own failure (the MDC's verdict, arriving as a read
    /// error) is returned as it is, never taken for a shape to hand on.
    #[test]
    fn a_source_failure_is_returned_not_handed_on() {
        let failure = || Err(io::Error::other("the MDC does not match"));
        let scripts = [
            vec![failure()],
            vec![Ok(vec![0xCB]), failure()],
            vec![Ok(ONE_PASS[..5].to_vec()), failure()],
            vec![Ok(vec![0xCB, 20, b'b']), failure()],
        ];
        for script in scripts {
            let e = match start(&mut Scripted::new(script)) {
                Err(e) => e,
                Ok(_) => panic!("a failing source gave a shape"),
            };
            assert_eq!(e.to_string(), "the MDC does not match");
        }
        let input = [vec![0xCB, 100], fields(b"")].concat();
        let mut source = Scripted::new(vec![Ok(input), Ok(vec![1; 10]), failure()]);
        let Start::Literal { body, .. } = start(&mut source).unwrap() else {
            panic!("not read as a literal");
        };
        let e = LiteralBody::new(&mut source, body)
            .read_to_end(&mut Vec::new())
            .unwrap_err();
        assert_eq!(e.to_string(), "the MDC does not match");
    }
}
