//! Decryption: the exact reverse of encrypt, streaming at constant memory.
//! Reads any OpenPGP message encrypted to one of the given secret keys
//! (sealpipe's or gpg's), undoes OpenPGP compression transparently, and
//! undoes sealpipe's zstd layer when the literal packet carries its marker.
//!
//! The structure, in the order a byte meets it:
//! - [`session`] chooses the session key (the one place that does), or
//!   takes the one given (a key service, a session key file);
//! - the [`DecryptPlan`], set by the command layer, says which reader runs
//!   ([`Reader::Fast`]: sealpipe's own SEIPDv1 reader in `fast`, sequoia's
//!   in `stock` for what it does not handle; [`Reader::Stock`]: sequoia's
//!   for everything) and whether to hash the plaintext;
//! - the reader decrypts and checks, and collects the [`MessageFacts`]
//!   through one observer shared by both readers;
//! - the [`HoldBack`] keeps the first [`DECRYPT_BUFFER_SIZE`] bytes of
//!   plaintext until the whole message is authenticated, so a backup that
//!   fits releases nothing unauthenticated; larger ones stream, and the
//!   held bytes are never written on an error;
//! - then the sink. `decrypt_verified_first` (`--verify-first`) is for
//!   consumers that must never see unverified bytes of any size.

mod fast;
pub mod origin;
pub mod replay;
pub mod session;
mod stock;

use std::io::{self, BufRead, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use openpgp::packet::{Packet, Tag};
use openpgp::types::{CompressionAlgorithm, HashAlgorithm, SymmetricAlgorithm};
use openpgp::Fingerprint;
use sequoia_openpgp as openpgp;

use crate::compress::{InputTap, ZstdFrames, ZstdReading, ZSTD_LITERAL_FILENAME};
use crate::digest::HashingReader;
use crate::encrypt::copy;
use crate::error::{Damage, Error, Result};
use crate::format::envelope::{BodyLength, Envelope};
use crate::io::{read_error, write_error, Input, Tracked, IO_BUFFER_SIZE};
use crate::keys::SecretKeyring;

use origin::{Found, LiteralDigests, Origin, SignedBody, SignerCheck};
pub use session::{GivenSessionKey, Session, SopSessionKey};
pub use stock::peek;

/// Plaintext held back until the message is authenticated. A message that
/// fits is authenticated before any byte is released; larger ones stream.
/// Also sequoia's own read-ahead (its 25 MiB default costs ~180 MB RSS).
pub const DECRYPT_BUFFER_SIZE: usize = 4 * 1024 * 1024;

/// Compression packets inside one another: gpg and sealpipe write at most
/// one; more than this is a decompression bomb, refused by both readers
/// alike.
pub const MAX_COMPRESSION_LAYERS: usize = 3;

/// Signatures checked on one backup (one-pass signature packets, and
/// signature packets, each): every one costs a verification, and one-pass
/// signatures with distinct hashes a hash of the whole body. A backup has
/// one per signing host; more is refused by both readers alike.
pub const MAX_SIGNATURES: usize = 16;

/// RFC 4880 4.2.2.4: the first partial-body chunk MUST be at least 512
/// bytes. Checked once, before either reader runs.
const MIN_FIRST_PARTIAL_CHUNK: u64 = 512;

/// Which reader decrypts. Set by the command layer, never by the library.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reader {
    /// sealpipe's own SEIPDv1 reader for AES (what sealpipe and gpg
    /// write), sequoia's stock reader for anything else.
    #[default]
    Fast,
    /// sequoia's streaming decryptor for everything (to show both agree).
    Stock,
}

/// Whether to compute the SHA-256 of the plaintext (`verify`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaintextDigest {
    Skip,
    Sha256,
}

/// Everything a decrypt run needs besides its input and output.
pub struct DecryptPlan<'k> {
    pub session: Session<'k>,
    pub reader: Reader,
    pub decoding: Decoding,
    /// The signers' certs and the allowed-signers list (`origin`).
    pub signers: SignerCheck,
}

/// What happens to the plaintext on its way to the sink: how a zstd body is
/// read (threads, the largest window accepted) and whether it is hashed.
#[derive(Clone, Copy, Debug)]
pub struct Decoding {
    pub digest: PlaintextDigest,
    pub zstd: ZstdReading,
    /// Whether the literal body is hashed for one-pass signatures: only
    /// when some signer cert is known. Without one every signature is
    /// "unknown key" before its hash is looked at, and hashing a signed
    /// backup's body for nothing cost ~20% of a restore's CPU.
    pub signatures: bool,
}

impl<'k> DecryptPlan<'k> {
    pub fn new(keyring: &'k SecretKeyring, reader: Reader, digest: PlaintextDigest) -> Self {
        Self::with_session(Session::new(keyring), reader, digest)
    }

    /// A plan with the default zstd settings and no signature check.
    fn with_session(session: Session<'k>, reader: Reader, digest: PlaintextDigest) -> Self {
        DecryptPlan {
            session,
            reader,
            decoding: Decoding {
                digest,
                zstd: ZstdReading::default(),
                signatures: false,
            },
            signers: SignerCheck::default(),
        }
    }

    /// Read zstd bodies with these settings (`decrypt --threads`,
    /// `--max-zstd-window`) instead of the defaults.
    pub fn with_zstd(mut self, zstd: ZstdReading) -> Self {
        self.decoding.zstd = zstd;
        self
    }

    /// Check signatures against these certs and this list.
    pub fn with_signers(mut self, signers: SignerCheck) -> Self {
        self.decoding.signatures = !signers.certs.is_empty();
        self.signers = signers;
        self
    }

    /// A plan whose session key is given (a key service, a session key
    /// file) instead of unwrapped with secret keys.
    pub fn given(given: GivenSessionKey, reader: Reader, digest: PlaintextDigest) -> Self {
        Self::with_session(Session::given(given), reader, digest)
    }
}

/// Which secret key opened a message.
#[derive(Debug, Clone)]
pub struct OpenedBy {
    pub key: Fingerprint,
    pub cert: Fingerprint,
    pub source: PathBuf,
}

/// What decrypt learned about a message while reading it.
#[derive(Debug, Clone, Default)]
pub struct MessageFacts {
    pub opened_by: Option<OpenedBy>,
    pub cipher: Option<SymmetricAlgorithm>,
    pub seipd_version: Option<u8>,
    /// OpenPGP compression packets, outermost first.
    pub openpgp_compression: Vec<CompressionAlgorithm>,
    pub literal_filename: Option<Vec<u8>>,
    literals: usize,
    /// The hash algorithms the one-pass signatures announce.
    one_pass_hashes: Vec<HashAlgorithm>,
    /// The issuers the one-pass signatures name (what `inspect --key`
    /// can tell before the signature itself is read).
    pub one_pass_issuers: Vec<openpgp::KeyHandle>,
    signatures: Vec<Found>,
    /// The literal body hashed for the signatures; set once it was read.
    digests: LiteralDigests,
}

impl MessageFacts {
    /// True when the literal data is a sealpipe zstd stream.
    pub fn is_zstd(&self) -> bool {
        self.literal_filename.as_deref() == Some(ZSTD_LITERAL_FILENAME.as_bytes())
    }

    /// The compression a human would name: "zstd", "zip", "zlib", "bzip2", "none".
    pub fn compression_name(&self) -> String {
        if self.is_zstd() {
            return "zstd".into();
        }
        match self.openpgp_compression.first() {
            Some(CompressionAlgorithm::Zip) => "deflate".into(),
            Some(algo) => algo.to_string().to_lowercase(),
            None => "none".into(),
        }
    }

    /// Note a packet found inside the encryption; both readers call this for
    /// every packet, so they refuse the same structures.
    fn observe(&mut self, packet: &Packet) -> Result<()> {
        match packet {
            // After the literal data only its signatures (and markers) may
            // come: the message grammar (RFC 4880 11.3) as sequoia's reader
            // checks it. The fast reader parses what follows the literal
            // body on its own, where a compressed packet would be a whole
            // message again.
            Packet::CompressedData(_) | Packet::OnePassSig(_) if self.literals > 0 => {
                return Err(Damage::UnexpectedPacket {
                    tag: packet.tag().to_string(),
                }
                .into())
            }
            Packet::CompressedData(c) => {
                self.openpgp_compression.push(c.algo());
                if self.openpgp_compression.len() > MAX_COMPRESSION_LAYERS {
                    return Err(Damage::NestedTooDeep {
                        limit: MAX_COMPRESSION_LAYERS,
                    }
                    .into());
                }
            }
            Packet::Literal(l) => {
                self.literals += 1;
                if self.literals > 1 {
                    return Err(Damage::ManyLiterals.into());
                }
                self.literal_filename = l.filename().map(<[u8]>::to_vec);
            }
            Packet::OnePassSig(ops) => {
                self.one_pass_hashes.push(ops.hash_algo());
                self.one_pass_issuers.push(ops.issuer());
                self.count_signatures(self.one_pass_hashes.len())?;
            }
            Packet::Signature(s) => {
                self.signatures.push(Found::Parsed(Box::new(s.clone())));
                self.count_signatures(self.signatures.len())?;
            }
            // Inside an intact MDC: a forged or altered signature, judged
            // as a bad one (origin), not as damage.
            Packet::Unknown(u) if u.tag() == Tag::Signature => {
                self.signatures.push(Found::Unparsable);
                self.count_signatures(self.signatures.len())?;
            }
            // The stock reader sees the MDC packet at the end of the container.
            Packet::Marker(_) => {}
            p if p.tag() == Tag::MDC => {}
            // The encrypted container itself, seen by the stock reader.
            Packet::SEIP(s) if self.seipd_version.is_none() => {
                self.seipd_version = Some(s.version())
            }
            // The key packets in front (the stock reader sees them; one
            // that does not parse is Unknown with its tag, and simply opens
            // nothing, as for the fast reader).
            p if self.seipd_version.is_none()
                && matches!(p.tag(), Tag::PKESK | Tag::SKESK | Tag::Marker) => {}
            Packet::Unknown(u) if u.tag() == Tag::Reserved => return Err(Damage::NotPackets.into()),
            other => {
                return Err(Damage::UnexpectedPacket {
                    tag: other.tag().to_string(),
                }
                .into())
            }
        }
        Ok(())
    }

    fn count_signatures(&self, seen: usize) -> Result<()> {
        if self.signatures.len() > self.one_pass_hashes.len() {
            // Each signature closes a one-pass signature; sequoia's reader
            // refuses any other shape, so ours does too.
            return Err(Damage::SignatureWithoutOnePass.into());
        }
        match seen > MAX_SIGNATURES {
            true => Err(Damage::TooManySignatures {
                limit: MAX_SIGNATURES,
            }
            .into()),
            false => Ok(()),
        }
    }

    /// The message has ended: its structure must be complete.
    fn check_complete(&self) -> Result<()> {
        if self.literals == 0 {
            return Err(Damage::NoLiteral.into());
        }
        if self.one_pass_hashes.len() > self.signatures.len() {
            return Err(Damage::UnmatchedOnePassSig.into());
        }
        Ok(())
    }
}

#[derive(Debug, Clone)]
pub struct DecryptSummary {
    pub plaintext_bytes: u64,
    pub ciphertext_bytes: u64,
    pub sha256: Option<String>,
    pub facts: MessageFacts,
    /// Every signature's verdict (empty: unsigned).
    pub origin: Origin,
}

/// Decrypt `input` to `output` as `plan` says. `output` must still be
/// finished by the caller; nothing written is trustworthy unless this
/// returns Ok.
pub fn decrypt<R, W>(plan: &DecryptPlan, input: R, output: &mut W) -> Result<DecryptSummary>
where
    R: Read + Send + Sync,
    W: Write,
{
    decrypt_as(plan, plan.decoding, input, output)
}

fn decrypt_as<R, W>(
    plan: &DecryptPlan,
    decoding: Decoding,
    input: R,
    output: &mut W,
) -> Result<DecryptSummary>
where
    R: Read + Send + Sync,
    W: Write,
{
    let mut source = Tracked::new(input);
    let mut sink = Tracked::new(output);
    let mut held = HoldBack::new(&mut sink, DECRYPT_BUFFER_SIZE);
    let result = survive_parser_panic(|| route(plan, decoding, &mut source, &mut held)).and_then(
        |(facts, sha256)| {
            // The whole message is read and its MDC holds: only now is the
            // origin judged, once, for both readers.
            let origin = origin::judge(
                &facts.signatures,
                &facts.digests,
                &plan.signers,
                crate::time::now()?,
            );
            origin.require(&plan.signers).map_err(Error::Origin)?;
            Ok((facts, sha256, origin))
        },
    );
    // Authenticated: only now may the held-back plaintext go out. On any
    // error it is dropped unwritten.
    let released = match result {
        Ok(outcome) => held.release().map(|()| outcome).map_err(write_error),
        Err(e) => Err(e),
    };
    if let Some(e) = sink.failure() {
        return Err(write_error(e));
    }
    if let Some(e) = source.failure() {
        return Err(read_error(e));
    }
    let (facts, sha256, origin) = released?;
    Ok(DecryptSummary {
        plaintext_bytes: sink.count(),
        ciphertext_bytes: source.count(),
        sha256,
        facts,
        origin,
    })
}

/// What a reader is handed: one message whose envelope is read (the data
/// packet's body follows in `body`), the session that chooses its key, the
/// sink and how to decode into it. Both readers take exactly this, so the
/// router drives either the same way.
pub(super) struct Reading<'r, 'k, 'a, W> {
    pub session: &'r Session<'k>,
    pub envelope: &'r Envelope,
    pub body: Box<dyn io::BufRead + Send + Sync + 'a>,
    pub sink: &'r mut W,
    pub decoding: Decoding,
}

/// What a reader learned, and the plaintext's SHA-256 when asked for.
pub(super) type ReadOutcome = Result<(MessageFacts, Option<String>)>;

/// Route a message to the reader the plan names. A SED packet (no
/// integrity protection) is refused before any reader is chosen.
fn route<R, W>(
    plan: &DecryptPlan,
    decoding: Decoding,
    source: &mut R,
    sink: &mut W,
) -> Result<(MessageFacts, Option<String>)>
where
    R: Read + Send + Sync,
    W: Write,
{
    let (envelope, rest) = crate::format::envelope::read_envelope(source)?;
    if envelope.data_tag == openpgp::packet::Tag::SED {
        // Whatever the policy of the day says: this can be altered undetectably.
        return Err(Damage::NoIntegrityProtection.into());
    }
    if let BodyLength::Partial(n) = envelope.data_length {
        if n < MIN_FIRST_PARTIAL_CHUNK {
            return Err(Damage::Framing {
                what: "the first partial-body chunk is under 512 bytes",
            }
            .into());
        }
    }
    let seipd_v1 =
        envelope.data_tag == openpgp::packet::Tag::SEIP && envelope.data_version == Some(1);
    if seipd_v1 {
        // Whether a key opens it is settled from the key packets alone,
        // before either reader reads the encrypted data: a backup no key
        // opens is "no key" (exit 5) from both, however damaged the rest.
        plan.session.choose(&envelope.pkesks, None, |_, _| true)?;
    }
    let outcome = match plan.reader {
        Reader::Fast if seipd_v1 => fast::read(Reading {
            session: &plan.session,
            envelope: &envelope,
            body: rest,
            sink,
            decoding,
        }),
        _ => stock::read(Reading {
            session: &plan.session,
            envelope: &envelope,
            body: rest,
            sink,
            decoding,
        }),
    };
    match outcome {
        // The same verdict, said so that a wrong key from outside is a suspect.
        Err(Error::BadInput(Damage::Integrity)) if plan.session.is_given() => {
            Err(Damage::IntegrityWithGivenKey.into())
        }
        other => other,
    }
}

/// Keeps the first `limit` bytes written until `release`; once more
/// arrive, writes them and everything after straight through (the hot path:
/// no copy). Never writes on its own: dropped without `release` (an error),
/// nothing held reaches the sink.
pub struct HoldBack<W: Write> {
    sink: W,
    held: Vec<u8>,
    limit: usize,
    streaming: bool,
}

impl<W: Write> HoldBack<W> {
    pub fn new(sink: W, limit: usize) -> Self {
        HoldBack {
            sink,
            held: Vec::new(),
            limit,
            streaming: false,
        }
    }

    /// The message is authenticated: write what is held.
    pub fn release(mut self) -> io::Result<()> {
        self.sink.write_all(&self.held)
    }
}

impl<W: Write> Write for HoldBack<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if !self.streaming {
            if self.held.len() + buf.len() <= self.limit {
                self.held.extend_from_slice(buf);
                return Ok(buf.len());
            }
            // Larger than the hold-back: it streams, unauthenticated.
            self.sink.write_all(&self.held)?;
            self.held = Vec::new();
            self.streaming = true;
        }
        self.sink.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.streaming {
            true => self.sink.flush(),
            false => Ok(()),
        }
    }
}

/// Decrypt so that no unauthenticated byte reaches `output`: a first pass
/// checks the whole message (MDC, zstd checksum) and writes nothing; only
/// then a second pass writes. A regular file is simply read twice; any other
/// input (a pipe) is first spooled, still encrypted, to an unnamed temp file
/// in `spool_dir`. The second pass releases only ciphertext identical to
/// what the first pass authenticated (`replay`), so a file rewritten
/// underneath fails the run before anything from the change is written.
/// Both passes share the plan's session: no key is unlocked twice.
pub fn decrypt_verified_first<W: Write>(
    plan: &DecryptPlan,
    input: Input,
    spool_dir: &Path,
    output: &mut W,
) -> Result<DecryptSummary> {
    let regular = match &input {
        Input::File(f) => f.metadata().map(|m| m.is_file()).unwrap_or(false),
        Input::Stdin(_) => false,
    };
    // The first pass only checks: no digest.
    let skip = Decoding {
        digest: PlaintextDigest::Skip,
        ..plan.decoding
    };
    let (recording, mut ciphertext) = match input {
        Input::File(file) if regular => {
            let mut recorder = replay::Recorder::new(file);
            decrypt_as(plan, skip, &mut recorder, &mut io::sink())?;
            recorder.finish()
        }
        other => {
            let spool = tempfile::tempfile_in(spool_dir).map_err(|e| spool_error(spool_dir, e))?;
            let mut tee = Tee {
                source: other,
                copy: io::BufWriter::with_capacity(IO_BUFFER_SIZE, spool),
                failure: None,
            };
            let mut recorder = replay::Recorder::new(&mut tee);
            let first = decrypt_as(plan, skip, &mut recorder, &mut io::sink());
            let (recording, _) = recorder.finish();
            if let Some(e) = tee.failure.take() {
                return Err(spool_error(spool_dir, e));
            }
            first?;
            let spool = tee
                .copy
                .into_inner()
                .map_err(|e| spool_error(spool_dir, e.into_error()))?;
            (recording, spool)
        }
    };
    ciphertext
        .seek(SeekFrom::Start(0))
        .map_err(|e| Error::io("rewinding the backup for the second pass", e))?;
    decrypt(plan, recording.replay(ciphertext), output)
}

fn spool_error(dir: &Path, e: io::Error) -> Error {
    Error::io(
        format!(
            "spooling the encrypted backup to {} failed (--verify-first needs room there \
             for the whole backup; choose another place with --spool-dir)",
            dir.display()
        ),
        e,
    )
}

/// Copies everything read from `source` into `copy` (the spool file).
struct Tee<R, W> {
    source: R,
    copy: W,
    failure: Option<io::Error>,
}

impl<R: Read, W: Write> Read for Tee<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.source.read(buf)?;
        if let Err(e) = self.copy.write_all(&buf[..n]) {
            let kind = e.kind();
            self.failure.get_or_insert(e);
            return Err(io::Error::new(kind, "spool write failed"));
        }
        Ok(n)
    }
}

/// Copy a literal body to `sink`, undoing sealpipe's zstd layer if the
/// facts say so, optionally hashing the plaintext. Failures are
/// classified: the OpenPGP layer (truncation, MDC), the zstd layer, or the
/// sink. Shared by both readers; the body is hashed for the one-pass
/// signatures seen, into `facts`.
fn copy_plaintext<R: BufRead, W: Write>(
    body: R,
    facts: &mut MessageFacts,
    sink: &mut W,
    decoding: Decoding,
) -> Result<Option<String>> {
    let zstd = facts.is_zstd();
    let mut digests = match decoding.signatures {
        true => LiteralDigests::for_algos(&facts.one_pass_hashes),
        false => LiteralDigests::default(),
    };
    let mut plaintext = Tracked::new(body);
    let mut sink = Tracked::new(sink);
    let (copied, sha256) = if zstd && digests.is_empty() {
        // Straight from the OpenPGP layer's buffer to the frame walker, on
        // this thread: the frames are decoded on worker threads, and a
        // hand-over to another thread here cost a copy of every byte.
        decode_and_copy(&mut plaintext, &mut sink, decoding, InputTap::none())
    } else if zstd {
        // The same, and the signatures' hash on a thread of its own, over
        // the frames the walker shares with the workers: beside the
        // restore's critical path, it takes time a core would otherwise
        // idle (docs/performance.md: verified vs unverified restores).
        let (tap, tapped) = InputTap::new();
        std::thread::scope(|scope| {
            let digests = &mut digests;
            scope.spawn(move || tapped.iter().for_each(|bytes| digests.update(&bytes)));
            // Returns once the walker, and with it the tap, is dropped: the
            // hash thread ends, and the scope joins it before `digests` is
            // read.
            decode_and_copy(&mut plaintext, &mut sink, decoding, tap)
        })
    } else {
        let signed = SignedBody {
            inner: &mut plaintext,
            digests: &mut digests,
        };
        copy_as_is(signed, &mut sink, decoding)
    };
    if let Err(e) = copied {
        return Err(match (sink.failure(), plaintext.failure()) {
            // The output failed: an I/O error, not the backup's fault.
            (Some(out), _) => write_error(out),
            // The OpenPGP layer failed: classify what it said.
            (None, Some(inner)) => classify_io(inner),
            // The zstd layer's own typed verdicts (window, truncation, junk).
            (None, None) if zstd && e.get_ref().is_some_and(|i| i.is::<Error>()) => classify_io(e),
            // The OpenPGP layer was fine, so the zstd layer is broken.
            (None, None) if zstd => Damage::Zstd {
                reason: e.to_string(),
            }
            .into(),
            (None, None) => classify_io(e),
        });
    }
    drop(plaintext);
    facts.digests = digests;
    Ok(sha256)
}

/// The zstd stream through [`ZstdFrames`] (its bytes to `tap` too) and
/// the optional SHA-256 of the plaintext to `sink`.
fn decode_and_copy<R: BufRead, W: Write>(
    source: R,
    sink: &mut W,
    decoding: Decoding,
    tap: InputTap,
) -> (io::Result<u64>, Option<String>) {
    let frames = match ZstdFrames::new(source, decoding.zstd) {
        Ok(frames) => frames.tapped(tap),
        Err(e) => return (Err(e), None),
    };
    let mut hashing = HashingReader::new(frames, decoding.digest == PlaintextDigest::Sha256);
    let copied = hashing.copy_to(sink);
    (copied, hashing.finish().1)
}

/// The plaintext as it is and the optional SHA-256 to `sink`.
fn copy_as_is<R: Read, W: Write>(
    source: R,
    sink: &mut W,
    decoding: Decoding,
) -> (io::Result<u64>, Option<String>) {
    let mut hashing = HashingReader::new(source, decoding.digest == PlaintextDigest::Sha256);
    let copied = copy(&mut hashing, sink, IO_BUFFER_SIZE);
    (copied, hashing.finish().1)
}

/// sequoia 2.4 panics on some malformed inputs (e.g. a SEIPD packet cut
/// off right after its header: `data_consume_hard(..).unwrap()` in
/// parse.rs). A damaged backup must be an error with exit code 6, never a
/// crash, so the parser runs under `catch_unwind` with the panic message
/// silenced and its location kept in the error (the fuzz targets check it
/// against the known sequoia panics).
pub(crate) fn survive_parser_panic<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    let location = std::sync::Arc::new(std::sync::Mutex::new(None::<String>));
    let record = std::sync::Arc::clone(&location);
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if let Some(l) = info.location() {
            let mut at = record.lock().unwrap_or_else(|e| e.into_inner());
            at.get_or_insert_with(|| format!("{}:{}", l.file(), l.line()));
        }
    }));
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    std::panic::set_hook(previous);
    outcome.unwrap_or_else(|_| {
        let at = location.lock().unwrap_or_else(|e| e.into_inner()).take();
        Err(Damage::ParserGaveUp {
            at: at.unwrap_or_else(|| "an unknown location".into()),
        }
        .into())
    })
}

/// Turn an error from sequoia into one that says what is wrong with the input.
pub fn classify(e: openpgp::anyhow::Error) -> Error {
    match e.downcast::<Error>() {
        Ok(ours) => ours,
        Err(e) => classify_chain(e.chain(), &e),
    }
}

/// Look through an error's causes for what went wrong: one of ours that
/// crossed the parser, a truncation, or sequoia's own verdict.
fn classify_chain<'e>(
    chain: impl Iterator<Item = &'e (dyn std::error::Error + 'static)>,
    whole: &dyn std::fmt::Display,
) -> Error {
    for cause in chain {
        if let Some(ours) = cause.downcast_ref::<Error>() {
            return repeat(ours);
        }
        if let Some(io) = cause.downcast_ref::<io::Error>() {
            if let Some(ours) = io.get_ref().and_then(|i| i.downcast_ref::<Error>()) {
                return repeat(ours);
            }
            if io.kind() == io::ErrorKind::UnexpectedEof {
                return Damage::Truncated.into();
            }
        }
        if let Some(pgp) = cause.downcast_ref::<openpgp::Error>() {
            return from_openpgp(pgp, whole);
        }
    }
    Damage::Malformed {
        detail: whole.to_string(),
    }
    .into()
}

/// One of our errors seen by reference (behind sequoia's wrappers).
fn repeat(ours: &Error) -> Error {
    match ours {
        Error::BadInput(d) => Error::BadInput(d.clone()),
        Error::Key(m) => Error::Key(m.clone()),
        Error::Internal(m) => Error::Internal(m.clone()),
        other => Error::Internal(other.to_string()),
    }
}

/// Like `classify` for errors that crossed a `Read` boundary as io::Error.
fn classify_io(e: io::Error) -> Error {
    if e.get_ref().is_none_or(|i| !i.is::<Error>()) && e.kind() == io::ErrorKind::UnexpectedEof {
        return Damage::Truncated.into();
    }
    match e.into_inner() {
        Some(inner) => match inner.downcast::<Error>() {
            Ok(ours) => *ours,
            Err(inner) => {
                let first: &(dyn std::error::Error + 'static) = &*inner;
                classify_chain(std::iter::successors(Some(first), |c| c.source()), &inner)
            }
        },
        None => Damage::Malformed {
            detail: "reading the OpenPGP message failed".into(),
        }
        .into(),
    }
}

fn from_openpgp(pgp: &openpgp::Error, whole: &dyn std::fmt::Display) -> Error {
    match pgp {
        openpgp::Error::ManipulatedMessage => Damage::Integrity.into(),
        openpgp::Error::MissingSessionKey(_) => {
            Error::Key(format!("no given secret key opens this backup ({whole})"))
        }
        openpgp::Error::PolicyViolation(what, _) => {
            Damage::PolicyRejected { what: what.clone() }.into()
        }
        _ => Damage::Malformed {
            detail: whole.to_string(),
        }
        .into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hold_back_releases_only_on_release_or_overflow() {
        let mut out = Vec::new();
        let mut held = HoldBack::new(&mut out, 10);
        held.write_all(b"0123456789").unwrap();
        drop(held);
        assert!(out.is_empty(), "dropped without release: nothing written");

        let mut held = HoldBack::new(&mut out, 10);
        held.write_all(b"0123").unwrap();
        held.release().unwrap();
        assert_eq!(out, b"0123");

        out.clear();
        let mut held = HoldBack::new(&mut out, 4);
        held.write_all(b"0123").unwrap();
        held.write_all(b"45").unwrap();
        assert_eq!(out, b"012345", "past the limit it streams");

        out.clear();
        let mut held = HoldBack::new(&mut out, 4);
        held.write_all(b"012345").unwrap();
        assert_eq!(
            out, b"012345",
            "a first write past the limit streams at once"
        );
    }
}
