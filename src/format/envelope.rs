//! The envelope of an encrypted message: the key packets (PKESK, SKESK) in
//! front of the encrypted data packet, read without any secret key.
//!
//! `inspect` reports what the envelope says; `rekey` replaces the key
//! packets and copies the encrypted data packet byte for byte. Both read the
//! packet headers here themselves (RFC 4880 section 4.2) so they know exactly
//! where the encrypted data begins, which sequoia's parser does not expose.

use std::io::{self, BufRead, BufReader, Read};

use openpgp::armor;
use openpgp::packet::{Packet, Tag, PKESK};
use openpgp::parse::{PacketParser, PacketParserResult, Parse};
use sequoia_openpgp as openpgp;

use crate::error::{Damage, Error, Result};

/// A key packet larger than this is not a key packet (an RSA-16384 PKESK is
/// about 2 KiB); refuse rather than allocate what a hostile header asks for.
const MAX_KEY_PACKET: u64 = 64 * 1024;

/// At most this many key packets; real messages have a handful.
pub const MAX_KEY_PACKETS: usize = 1024;

/// The longest armor line read before the data (the BEGIN line, a header
/// such as `Comment:`); gpg writes lines under 80 bytes.
pub const MAX_ARMOR_HEADER_LINE: usize = 4096;

/// At most this many bytes of armor before the data: leading blank lines,
/// the BEGIN line and all headers together.
pub const MAX_ARMOR_HEADERS: usize = 64 * 1024;

/// The packet length as the header states it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyLength {
    Full(u64),
    /// New-format partial body length: a chunk of this size, more follow.
    Partial(u64),
    /// Old-format "indeterminate": the packet runs to the end of the input.
    Indeterminate,
}

/// What sits in front of the encrypted data, and where that data begins.
#[derive(Debug)]
pub struct Envelope {
    /// The input was ASCII-armored (the raw bytes below are dearmored).
    pub armored: bool,
    /// The public-key encrypted session key packets, in order.
    pub pkesks: Vec<PKESK>,
    /// Count of passphrase (SKESK) packets: sealpipe never writes them.
    pub skesk_count: usize,
    /// The tag of the first packet after the key packets.
    pub data_tag: Tag,
    /// For SEIPD and AEAD packets, the version octet of the body.
    pub data_version: Option<u8>,
    /// The raw (dearmored) bytes of the key packets.
    pub key_packets: Vec<u8>,
    /// The raw bytes of the data packet read so far (its header and the
    /// version octet); the rest of the packet follows in the reader.
    pub data_head: Vec<u8>,
    /// The data packet's length as its header states it.
    pub data_length: BodyLength,
}

impl Envelope {
    /// A one-line description of the encryption container.
    pub fn container(&self) -> String {
        match (self.data_tag, self.data_version) {
            (Tag::SEIP, Some(1)) => "SEIPD v1 (integrity protected with MDC)".into(),
            (Tag::SEIP, Some(2)) => "SEIPD v2 (AEAD)".into(),
            (Tag::SEIP, Some(v)) => format!("SEIPD v{v} (unknown version)"),
            (Tag::SED, _) => {
                "SED without integrity protection (insecure; sealpipe refuses to decrypt it)".into()
            }
            (Tag::AED, Some(v)) => format!("AED v{v} (obsolete draft AEAD)"),
            (tag, _) => format!("{tag} (not an encrypted message)"),
        }
    }
}

/// Read the envelope from `input`, dearmoring if needed. Returns the envelope
/// and the reader positioned just after `data_head`.
pub fn read_envelope<'a, R: Read + Send + Sync + 'a>(
    input: R,
) -> Result<(Envelope, Box<dyn BufRead + Send + Sync + 'a>)> {
    let mut buffered = BufReader::with_capacity(256 * 1024, input);
    let armored = is_armored(&mut buffered)?;
    let mut reader: Box<dyn BufRead + Send + Sync + 'a> = if armored {
        let dearmored = armor::Reader::from_reader(
            ArmorTail::new(buffered),
            armor::ReaderMode::Tolerant(Some(armor::Kind::Message)),
        );
        Box::new(BufReader::with_capacity(256 * 1024, dearmored))
    } else {
        Box::new(buffered)
    };

    let mut key_packets = Vec::new();
    let mut count = 0;
    loop {
        let mut raw = Vec::new();
        let first = count == 0;
        let (tag, length) = match read_header(&mut reader, &mut raw, first)? {
            Some(h) => h,
            None if first => return Err(Damage::EmptyInput.into()),
            None => return Err(truncated("after the key packets")),
        };
        match tag {
            Tag::PKESK | Tag::SKESK | Tag::Marker => {
                count += 1;
                if count > MAX_KEY_PACKETS {
                    return Err(Damage::TooManyKeyPackets {
                        limit: MAX_KEY_PACKETS,
                    }
                    .into());
                }
                let BodyLength::Full(len) = length else {
                    return Err(Damage::KeyPacketIndefinite.into());
                };
                if len > MAX_KEY_PACKET {
                    return Err(Damage::KeyPacketTooLarge {
                        length: len,
                        limit: MAX_KEY_PACKET,
                    }
                    .into());
                }
                let start = raw.len();
                raw.resize(start + len as usize, 0);
                reader
                    .read_exact(&mut raw[start..])
                    .map_err(|e| read_failure(e, "inside a key packet"))?;
                key_packets.extend_from_slice(&raw);
            }
            Tag::SEIP | Tag::AED | Tag::SED => {
                let mut data_version = None;
                if tag != Tag::SED && length != BodyLength::Full(0) {
                    let mut version = [0u8; 1];
                    reader
                        .read_exact(&mut version)
                        .map_err(|e| read_failure(e, "in the encrypted data header"))?;
                    raw.push(version[0]);
                    data_version = Some(version[0]);
                }
                let (pkesks, skesk_count) = parse_key_packets(&key_packets)?;
                if pkesks.is_empty() {
                    return Err(match skesk_count {
                        0 => Damage::NoKeyPackets,
                        _ => Damage::PassphraseOnly,
                    }
                    .into());
                }
                let envelope = Envelope {
                    armored,
                    pkesks,
                    skesk_count,
                    data_tag: tag,
                    data_version,
                    key_packets,
                    data_head: raw,
                    data_length: length,
                };
                return Ok((envelope, reader));
            }
            other if first => return Err(not_a_message(other).into()),
            other => {
                return Err(Damage::KeyPacketMalformed {
                    reason: format!("a {other} packet among them"),
                }
                .into())
            }
        }
    }
}

/// What a first packet other than a key packet says the input is. Random
/// bytes often look like a packet header with an unknown tag.
fn not_a_message(tag: Tag) -> Damage {
    let what = match tag {
        Tag::PublicKey | Tag::PublicSubkey => "an OpenPGP public key (cert)",
        Tag::SecretKey | Tag::SecretSubkey => "an OpenPGP secret key",
        Tag::Signature => "an OpenPGP signature",
        Tag::OnePassSig => "a signed OpenPGP message that is not encrypted",
        Tag::Literal | Tag::CompressedData => "an OpenPGP message that is not encrypted",
        _ => {
            return Damage::NotOpenpgp {
                why: "it does not start with an OpenPGP packet".into(),
            }
        }
    };
    Damage::NotEncrypted { what }
}

/// Passes armored text through to the armor reader, bounding what comes
/// before the data and making sure nothing but whitespace follows the
/// `-----END PGP` line. The armor reader keeps every header line in memory
/// (a 1 GiB `Comment:` took 2.6 GB), and it ignores what comes after its
/// end, so without this a second message or garbage appended to a backup
/// would pass silently (binary input has the same rule in the packet
/// framing checks).
struct ArmorTail<R> {
    inner: R,
    /// The start of the current line, enough to recognise the END line.
    line: Vec<u8>,
    /// Length of the current line so far.
    line_len: usize,
    /// The current line has a `:` (it is a header line).
    line_has_colon: bool,
    part: ArmorPart,
    /// Bytes of armor before the data so far.
    head_len: usize,
}

/// Where in the armored text the reader is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ArmorPart {
    /// Blank lines and the BEGIN line.
    Begin,
    /// `Key: value` lines after the BEGIN line.
    Headers,
    /// The radix-64 data, up to the END line.
    Data,
    /// After the END line: only whitespace may follow.
    Ended,
}

const ARMOR_BEGIN: &[u8] = b"-----BEGIN";
const ARMOR_END: &[u8] = b"-----END PGP";

impl<R: Read> ArmorTail<R> {
    fn new(inner: R) -> Self {
        ArmorTail {
            inner,
            line: Vec::with_capacity(ARMOR_END.len()),
            line_len: 0,
            line_has_colon: false,
            part: ArmorPart::Begin,
            head_len: 0,
        }
    }

    /// Whether `bytes`, coming after the END line, hold anything but whitespace.
    fn check_tail(bytes: &[u8]) -> io::Result<()> {
        match bytes.iter().all(u8::is_ascii_whitespace) {
            true => Ok(()),
            false => Err(refuse(Damage::ArmorTrailingData)),
        }
    }

    /// One more byte of the current line (not its newline).
    fn byte(&mut self, b: u8) -> io::Result<()> {
        if self.line.len() < ARMOR_END.len() {
            self.line.push(b);
        }
        self.line_len += 1;
        self.line_has_colon |= b == b':';
        if matches!(self.part, ArmorPart::Begin | ArmorPart::Headers) {
            self.head_len += 1;
            if self.line_len > MAX_ARMOR_HEADER_LINE {
                return Err(refuse(Damage::ArmorHeaderLineTooLong {
                    limit: MAX_ARMOR_HEADER_LINE,
                }));
            }
            if self.head_len > MAX_ARMOR_HEADERS {
                return Err(refuse(Damage::ArmorHeadersTooLarge {
                    limit: MAX_ARMOR_HEADERS,
                }));
            }
        }
        Ok(())
    }

    /// The current line has ended: move on to the next part if it says so.
    fn end_line(&mut self) {
        self.part = match self.part {
            ArmorPart::Begin if self.line.starts_with(ARMOR_BEGIN) => ArmorPart::Headers,
            // A line without a colon ends the headers: the blank line, or
            // the first data line, for writers that leave out the blank line.
            ArmorPart::Headers if !self.line_has_colon => ArmorPart::Data,
            ArmorPart::Data if self.line.starts_with(ARMOR_END) => ArmorPart::Ended,
            part => part,
        };
        self.line.clear();
        self.line_len = 0;
        self.line_has_colon = false;
    }
}

/// A refusal that crosses the armor reader as an `io::Error`.
fn refuse(damage: Damage) -> io::Error {
    io::Error::other(Error::BadInput(damage))
}

impl<R: Read> Read for ArmorTail<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut tail_from = None;
        for (i, &b) in buf[..n].iter().enumerate() {
            if self.part == ArmorPart::Ended {
                tail_from = Some(i);
                break;
            }
            match b {
                b'\n' => self.end_line(),
                _ => self.byte(b)?,
            }
        }
        if let Some(from) = tail_from {
            Self::check_tail(&buf[from..n])?;
        }
        if self.part == ArmorPart::Ended {
            // The armor reader may stop reading here: read the rest now.
            let mut rest = [0u8; 8192];
            loop {
                match self.inner.read(&mut rest) {
                    Ok(0) => break,
                    Ok(m) => Self::check_tail(&rest[..m])?,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(n)
    }
}

/// The armor kinds that are not an encrypted message, by their BEGIN line.
const NOT_MESSAGES: [(&[u8], &str); 4] = [
    (
        b"-----BEGIN PGP PUBLIC KEY BLOCK",
        "an OpenPGP public key (cert)",
    ),
    (b"-----BEGIN PGP PRIVATE KEY BLOCK", "an OpenPGP secret key"),
    (b"-----BEGIN PGP SIGNATURE", "an OpenPGP signature"),
    (
        b"-----BEGIN PGP SIGNED MESSAGE",
        "a cleartext-signed text (signed, not encrypted)",
    ),
];

/// Armored input starts (after optional whitespace) with "-----BEGIN";
/// binary OpenPGP always has the top bit of its first byte set. Armored
/// keys and signatures are refused by name.
fn is_armored<R: Read>(reader: &mut BufReader<R>) -> Result<bool> {
    let head = reader
        .fill_buf()
        .map_err(|e| read_failure(e, "at the start"))?;
    let Some(start) = head.iter().position(|b| !b.is_ascii_whitespace()) else {
        return Ok(false);
    };
    let line = &head[start..];
    if line[0] != b'-' {
        return Ok(false);
    }
    match NOT_MESSAGES
        .iter()
        .find(|(begin, _)| line.starts_with(begin))
    {
        Some((_, what)) => Err(Damage::NotEncrypted { what }.into()),
        None => Ok(true),
    }
}

/// Read one packet header, appending its raw bytes to `raw`. None at a clean
/// end of input. `first`: the first bytes of the input, where something
/// that is no packet header means the input is not OpenPGP at all.
fn read_header<R: Read>(
    reader: &mut R,
    raw: &mut Vec<u8>,
    first: bool,
) -> Result<Option<(Tag, BodyLength)>> {
    let mut ctb = [0u8; 1];
    match reader.read(&mut ctb) {
        Ok(0) => return Ok(None),
        Ok(_) => {}
        Err(e) => return Err(read_failure(e, "at a packet header")),
    }
    raw.push(ctb[0]);
    if ctb[0] & 0x80 == 0 {
        return Err(match first {
            true => Damage::NotOpenpgp {
                why: "its first byte is not an OpenPGP packet header".into(),
            },
            false => Damage::KeyPacketMalformed {
                reason: "a packet header is invalid".into(),
            },
        }
        .into());
    }
    let byte = || -> Result<u8> {
        let mut b = [0u8; 1];
        reader
            .read_exact(&mut b)
            .map_err(|e| read_failure(e, "inside a packet header"))?;
        raw.push(b[0]);
        Ok(b[0])
    };
    header_after(ctb[0], byte).map(Some)
}

/// A packet header's tag and body length, from its first octet `ctb` (a
/// packet header: bit 7 set) and the length octets `next` yields.
pub(crate) fn header_after<E>(
    ctb: u8,
    mut next: impl FnMut() -> std::result::Result<u8, E>,
) -> std::result::Result<(Tag, BodyLength), E> {
    if ctb & 0x40 != 0 {
        // New format (RFC 4880 4.2.2).
        let tag = Tag::from(ctb & 0x3f);
        let mut octets = vec![next()?];
        let length = loop {
            if let Some(length) = decode_length(&octets) {
                break length;
            }
            octets.push(next()?);
        };
        Ok((tag, length))
    } else {
        // Old format (RFC 4880 4.2.1), as gpg still writes for key packets.
        let tag = Tag::from((ctb >> 2) & 0x0f);
        let octets = match ctb & 0x03 {
            0 => 1,
            1 => 2,
            2 => 4,
            _ => return Ok((tag, BodyLength::Indeterminate)),
        };
        let mut len = 0u64;
        for _ in 0..octets {
            len = (len << 8) | next()? as u64;
        }
        Ok((tag, BodyLength::Full(len)))
    }
}

/// Follows the framing of a packet body as its bytes stream past, to prove
/// that the packet ends exactly where the input does: no truncation, no
/// trailing bytes. This checks structure only, not integrity (the MDC).
#[derive(Debug)]
pub enum FrameCheck {
    Chunk {
        remaining: u64,
        last: bool,
    },
    /// Between partial chunks: the octets of the next length read so far.
    Length(Vec<u8>),
    Done,
    /// An old-format indeterminate length runs to the end of the input.
    Unbounded,
}

impl FrameCheck {
    /// Start at the first body byte of a packet with this header length.
    pub fn new(length: BodyLength) -> Self {
        match length {
            BodyLength::Full(0) => FrameCheck::Done,
            BodyLength::Full(n) => FrameCheck::Chunk {
                remaining: n,
                last: true,
            },
            BodyLength::Partial(n) => FrameCheck::Chunk {
                remaining: n,
                last: false,
            },
            BodyLength::Indeterminate => FrameCheck::Unbounded,
        }
    }

    pub fn feed(&mut self, mut data: &[u8]) -> Result<()> {
        while !data.is_empty() {
            match self {
                FrameCheck::Unbounded => return Ok(()),
                FrameCheck::Done => return Err(Damage::TrailingData { bytes: data.len() }.into()),
                FrameCheck::Chunk { remaining, last } => {
                    let take = (*remaining).min(data.len() as u64);
                    *remaining -= take;
                    data = &data[take as usize..];
                    if *remaining == 0 {
                        *self = if *last {
                            FrameCheck::Done
                        } else {
                            FrameCheck::Length(Vec::new())
                        };
                    }
                }
                FrameCheck::Length(octets) => {
                    octets.push(data[0]);
                    data = &data[1..];
                    if let Some(next) = decode_length(octets) {
                        *self = FrameCheck::new(next);
                    }
                }
            }
        }
        Ok(())
    }

    /// The input has ended: it must have ended where the packet does.
    pub fn finish(&self) -> Result<()> {
        match self {
            FrameCheck::Done | FrameCheck::Unbounded => Ok(()),
            _ => Err(truncated("inside the encrypted data")),
        }
    }
}

/// A `Read` over the rest of an encrypted data packet that fails when the
/// input ends inside the packet or carries bytes after it. Put in front of
/// sequoia's decryptor, which on its own ignores trailing bytes after a
/// packet with a definite final length.
pub struct FrameChecked<R> {
    inner: R,
    frame: FrameCheck,
}

impl<R: Read> FrameChecked<R> {
    /// `envelope` has consumed the packet's header and version octet.
    pub fn new(inner: R, envelope: &Envelope) -> Result<Self> {
        let mut frame = FrameCheck::new(envelope.data_length);
        let body_read = match envelope.data_version {
            Some(_) => &envelope.data_head[envelope.data_head.len() - 1..],
            None => &[][..],
        };
        frame.feed(body_read)?;
        Ok(FrameChecked { inner, frame })
    }
}

impl<R: Read> Read for FrameChecked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let checked = if n == 0 {
            self.frame.finish()
        } else {
            self.frame.feed(&buf[..n])
        };
        checked.map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        Ok(n)
    }
}

/// A new-format body length from its octets, once all have arrived.
pub(crate) fn decode_length(octets: &[u8]) -> Option<BodyLength> {
    let first = octets[0] as u64;
    match first {
        0..=191 => Some(BodyLength::Full(first)),
        192..=223 if octets.len() == 2 => Some(BodyLength::Full(
            ((first - 192) << 8) + octets[1] as u64 + 192,
        )),
        224..=254 => Some(BodyLength::Partial(1 << (first & 0x1f))),
        255 if octets.len() == 5 => Some(BodyLength::Full(
            octets[1..]
                .iter()
                .fold(0u64, |len, &b| (len << 8) | b as u64),
        )),
        _ => None,
    }
}

fn parse_key_packets(bytes: &[u8]) -> Result<(Vec<PKESK>, usize)> {
    let mut pkesks = Vec::new();
    let mut skesk_count = 0;
    if bytes.is_empty() {
        return Ok((pkesks, skesk_count));
    }
    let malformed = |e: openpgp::anyhow::Error| Damage::KeyPacketMalformed {
        reason: e.to_string(),
    };
    let mut ppr = PacketParser::from_bytes(bytes).map_err(malformed)?;
    while let PacketParserResult::Some(pp) = ppr {
        let (packet, next) = pp.next().map_err(malformed)?;
        match packet {
            Packet::PKESK(p) => pkesks.push(p),
            Packet::SKESK(_) => skesk_count += 1,
            _ => {}
        }
        ppr = next;
    }
    Ok((pkesks, skesk_count))
}

/// An error reading the backup: truncation, one of sealpipe's refusals
/// that crossed a reader, damaged armor (bad input), or a failure of the
/// operating system (I/O).
pub(crate) fn read_failure(e: io::Error, place: &'static str) -> Error {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        return truncated(place);
    }
    if let Some(Error::BadInput(damage)) = e.get_ref().and_then(|i| i.downcast_ref::<Error>()) {
        return damage.clone().into();
    }
    if e.raw_os_error().is_none() {
        // Not the operating system: the dearmoring reader rejected the text.
        Damage::ArmorDamaged {
            reason: e.to_string(),
        }
        .into()
    } else {
        Error::io("reading the backup", e)
    }
}

fn truncated(place: &'static str) -> Error {
    Damage::TruncatedAt { place }.into()
}
