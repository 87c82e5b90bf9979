//! Writing an OpenPGP packet whose length is not known in advance (RFC 4880
//! 4.2.2.4): a new-format header, partial body chunks of 256 KiB, then a
//! final chunk with a definite length. Used for the encrypted data packet
//! (seipd.rs) and the compressed data packet of deflate mode.

use std::io::{self, Write};

/// Partial body chunks of 2^18 = 256 KiB (the first must be >= 512 bytes).
pub const PARTIAL_CHUNK_LOG2: u8 = 18;
pub const PARTIAL_CHUNK: usize = 1 << PARTIAL_CHUNK_LOG2;

/// Bytes handed from one pipeline thread to the next at a time (the SEIPD
/// writer's pieces, the threaded reader's): one partial chunk.
pub const PIECE: usize = PARTIAL_CHUNK;

/// Tag of the compressed data packet.
pub const COMPRESSED_DATA: u8 = 8;
/// Tag of the symmetrically encrypted and integrity protected data packet.
pub const SEIPD: u8 = 18;

/// Write the new-format header octet for `tag`.
pub fn write_header<W: Write>(sink: &mut W, tag: u8) -> io::Result<()> {
    sink.write_all(&[0xC0 | tag])
}

/// Write every whole chunk at the front of `body` as a partial body chunk;
/// returns how many bytes went out (the caller keeps the rest).
pub fn write_partial_chunks<W: Write>(sink: &mut W, body: &[u8]) -> io::Result<usize> {
    let mut sent = 0;
    while body.len() - sent >= PARTIAL_CHUNK {
        sink.write_all(&[224 + PARTIAL_CHUNK_LOG2])?;
        sink.write_all(&body[sent..sent + PARTIAL_CHUNK])?;
        sent += PARTIAL_CHUNK;
    }
    Ok(sent)
}

/// Write the last chunk of a packet body with its definite length.
pub fn write_last_chunk<W: Write>(sink: &mut W, body: &[u8]) -> io::Result<()> {
    let len = body.len();
    match len {
        0..=191 => sink.write_all(&[len as u8])?,
        192..=8383 => {
            let l = len - 192;
            sink.write_all(&[(l >> 8) as u8 + 192, l as u8])?
        }
        _ => {
            let len = u32::try_from(len)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "chunk too long"))?;
            sink.write_all(&[255])?;
            sink.write_all(&len.to_be_bytes())?
        }
    }
    sink.write_all(body)
}

/// A packet body as a `Write` adapter. `finish` is mandatory: it writes the
/// final chunk; without it the packet is truncated.
pub struct PacketWriter<W: Write> {
    sink: W,
    body: Vec<u8>,
}

impl<W: Write> PacketWriter<W> {
    pub fn new(mut sink: W, tag: u8) -> io::Result<Self> {
        write_header(&mut sink, tag)?;
        Ok(PacketWriter {
            sink,
            body: Vec::with_capacity(2 * PARTIAL_CHUNK),
        })
    }

    /// Write the final chunk and return the sink, unflushed.
    pub fn finish(mut self) -> io::Result<W> {
        write_last_chunk(&mut self.sink, &self.body)?;
        Ok(self.sink)
    }
}

impl<W: Write> Write for PacketWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.body.extend_from_slice(buf);
        if self.body.len() >= PARTIAL_CHUNK {
            let sent = write_partial_chunks(&mut self.sink, &self.body)?;
            self.body.drain(..sent);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        // Only whole chunks can go out; finish() writes the rest.
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::envelope::{decode_length, BodyLength};

    /// Undo the framing written by PacketWriter.
    fn deframe(packet: &[u8], tag: u8) -> Vec<u8> {
        assert_eq!(packet[0], 0xC0 | tag);
        let mut at = 1;
        let mut body = Vec::new();
        loop {
            let size = match packet[at] {
                0..=191 | 224..=254 => 1,
                192..=223 => 2,
                255 => 5,
            };
            let (n, last) = match decode_length(&packet[at..at + size]).expect("valid length") {
                BodyLength::Partial(n) => (n as usize, false),
                BodyLength::Full(n) => (n as usize, true),
                BodyLength::Indeterminate => panic!("no indeterminate length here"),
            };
            at += size;
            body.extend_from_slice(&packet[at..at + n]);
            at += n;
            if last {
                assert_eq!(at, packet.len(), "nothing after the last chunk");
                return body;
            }
        }
    }

    #[test]
    fn every_length_class_round_trips() {
        for len in [
            0,
            1,
            191,
            192,
            8383,
            8384,
            PARTIAL_CHUNK - 1,
            PARTIAL_CHUNK,
            PARTIAL_CHUNK + 1,
            3 * PARTIAL_CHUNK + 7,
        ] {
            let data: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            let mut writer = PacketWriter::new(Vec::new(), COMPRESSED_DATA).unwrap();
            // Uneven writes, to cross chunk boundaries mid-write.
            for piece in data.chunks(100_003) {
                writer.write_all(piece).unwrap();
            }
            let packet = writer.finish().unwrap();
            assert_eq!(deframe(&packet, COMPRESSED_DATA), data, "length {len}");
        }
    }

    /// The last chunk's length in its shortest form, as gpg writes it.
    #[test]
    fn the_last_length_takes_its_shortest_form() {
        for (len, octets) in [
            (0, &[0][..]),
            (191, &[191]),
            (192, &[192, 0]),
            (8383, &[223, 255]),
            (8384, &[255, 0, 0, 0x20, 0xC0]),
        ] {
            let mut packet = Vec::new();
            write_last_chunk(&mut packet, &vec![7; len]).unwrap();
            assert_eq!(&packet[..octets.len()], octets, "length {len}");
            assert_eq!(packet.len(), octets.len() + len);
        }
    }

    /// Whole chunks go out as they fill: a backup is never held in memory
    /// whole, only its last chunk.
    #[test]
    fn whole_chunks_stream_out_before_the_end() {
        let mut writer = PacketWriter::new(Vec::new(), COMPRESSED_DATA).unwrap();
        writer.write_all(&vec![1; 3 * PARTIAL_CHUNK + 7]).unwrap();
        assert_eq!(writer.sink.len(), 1 + 3 * (1 + PARTIAL_CHUNK));
        assert_eq!(writer.body.len(), 7);
    }
}
