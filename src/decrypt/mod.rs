//! Decryption: the exact reverse of encrypt, streaming at constant memory.
//! Reads any OpenPGP message encrypted to one of the given secret keys
//! (sealpipe's or gpg's), undoes OpenPGP compression transparently, and
//! undoes sealpipe's zstd layer when the literal packet carries its marker.
//!
//! Streaming means plaintext is released before the MDC at the end has been
//! checked (gpg does the same); a failed check still makes decrypt fail, and
//! `decrypt_verified_first` (`--verify-first`) is for consumers that must
//! never see unverified bytes.

use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use openpgp::crypto::SessionKey;
use openpgp::packet::{Packet, Tag, PKESK, SKESK};
use openpgp::parse::stream::{
    DecryptionHelper, DecryptorBuilder, MessageStructure, VerificationHelper,
};
use openpgp::parse::{PacketParser, PacketParserResult, Parse};
use openpgp::policy::StandardPolicy;
use openpgp::types::{CompressionAlgorithm, SymmetricAlgorithm};
use openpgp::{Cert, Fingerprint, KeyHandle};
use sequoia_openpgp as openpgp;

use crate::compress::{StreamDecompressor, ZSTD_LITERAL_FILENAME};
use crate::digest::HashingReader;
use crate::encrypt::copy;
use crate::error::{Damage, Error, Result};
use crate::format::envelope::{read_envelope, FrameChecked};
use crate::io::{read_error, write_error, Input, Tracked, IO_BUFFER_SIZE};
use crate::keys::{SecretKey, SecretKeyring};
use crate::pipeline::threaded_reader;
pub mod replay;

use crate::format::seipd::{self, MdcReader, SeipdHead};

/// How much decrypted data sequoia holds back before releasing it. A message
/// that fits is authenticated before any byte is released; larger ones
/// stream. sequoia's 25 MiB default costs ~180 MB RSS; this keeps memory flat.
pub const DECRYPT_BUFFER_SIZE: usize = 4 * 1024 * 1024;

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
}

#[derive(Debug, Clone)]
pub struct DecryptSummary {
    pub plaintext_bytes: u64,
    pub ciphertext_bytes: u64,
    pub sha256: Option<String>,
    pub facts: MessageFacts,
}

/// Decrypt `input` to `output`. `output` must still be finished by the
/// caller; nothing written is trustworthy unless this returns Ok.
pub fn decrypt<R, W>(
    keyring: &SecretKeyring,
    input: R,
    output: &mut W,
    digest: bool,
) -> Result<DecryptSummary>
where
    R: Read + Send + Sync,
    W: Write,
{
    let mut source = Tracked::new(input);
    let mut sink = Tracked::new(output);
    let result = survive_parser_panic(|| read_any(keyring, &mut source, &mut sink, digest));
    if let Some(e) = sink.failure() {
        return Err(write_error(e));
    }
    if let Some(e) = source.failure() {
        return Err(read_error(e));
    }
    let (facts, sha256) = result?;
    Ok(DecryptSummary {
        plaintext_bytes: sink.count(),
        ciphertext_bytes: source.count(),
        sha256,
        facts,
    })
}

/// Decrypt so that no unauthenticated byte reaches `output`: a first pass
/// checks the whole message (MDC, zstd checksum) and writes nothing; only
/// then a second pass writes. A regular file is simply read twice; any other
/// input (a pipe) is first spooled, still encrypted, to an unnamed temp file
/// in `spool_dir`. The second pass releases only ciphertext identical to
/// what the first pass authenticated (`replay`), so a file rewritten
/// underneath fails the run before anything from the change is written.
pub fn decrypt_verified_first<W: Write>(
    keyring: &SecretKeyring,
    input: Input,
    spool_dir: &Path,
    output: &mut W,
) -> Result<DecryptSummary> {
    let regular = match &input {
        Input::File(f) => f.metadata().map(|m| m.is_file()).unwrap_or(false),
        Input::Stdin(_) => false,
    };
    let (recording, mut ciphertext) = match input {
        Input::File(file) if regular => {
            let mut recorder = replay::Recorder::new(file);
            decrypt(keyring, &mut recorder, &mut io::sink(), false)?;
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
            let first = decrypt(keyring, &mut recorder, &mut io::sink(), false);
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
    decrypt(keyring, recording.replay(ciphertext), output, false)
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

fn read_message<R, W>(
    keyring: &SecretKeyring,
    source: R,
    sink: &mut W,
    digest: bool,
) -> Result<(MessageFacts, Option<String>)>
where
    R: Read + Send + Sync,
    W: Write,
{
    let policy = StandardPolicy::new();
    let helper = Helper {
        keyring,
        facts: MessageFacts::default(),
    };
    let mut decryptor = DecryptorBuilder::from_reader(source)
        .map_err(classify)?
        .buffer_size(DECRYPT_BUFFER_SIZE)
        .with_policy(&policy, None, helper)
        .map_err(classify)?;

    // By now the parser has seen the literal packet's header.
    let zstd = decryptor.helper_ref().facts.is_zstd();
    let sha256 = copy_plaintext(&mut decryptor, zstd, sink, digest)?;
    if !decryptor.message_processed() {
        return Err(Error::BadInput(Damage::Described(
            "the backup ends before the OpenPGP message is complete (truncated)".into(),
        )));
    }
    let facts = decryptor.into_helper().facts;
    Ok((facts, sha256))
}

/// Set (to anything) to decrypt everything through sequoia's own streaming
/// decryptor instead of sealpipe's SEIPDv1 reader; the tests use it to show
/// both readers agree.
pub const STOCK_READER_ENV: &str = "SEALPIPE_STOCK_READER";

/// Route a message: SEIPDv1 with AES (what sealpipe and gpg write) through
/// `seipd`, with the OpenPGP layer and the decompression on two threads;
/// anything else through sequoia's streaming decryptor.
fn read_any<R, W>(
    keyring: &SecretKeyring,
    source: &mut R,
    sink: &mut W,
    digest: bool,
) -> Result<(MessageFacts, Option<String>)>
where
    R: Read + Send + Sync,
    W: Write,
{
    let (envelope, rest) = read_envelope(source)?;
    if envelope.data_tag == Tag::SED {
        // Whatever the policy of the day says: this can be altered undetectably.
        return Err(Error::BadInput(Damage::Described(
            "the backup has no integrity protection (a SED packet, not SEIPD): it could have been \
             modified undetectably, so sealpipe refuses to decrypt it (not something sealpipe or gpg 2.2 writes)"
                .into(),
        )));
    }
    let seipd_v1 = envelope.data_tag == Tag::SEIP && envelope.data_version == Some(1);
    let stock_forced = std::env::var_os(STOCK_READER_ENV).is_some();
    // Unwrap the session key first: its cipher decides the path.
    let unwrapped = if seipd_v1 && !stock_forced {
        let mut found = None;
        let key = unwrap_session_key(keyring, &envelope.pkesks, None, |algo, sk| {
            found = algo.map(|a| (a, sk.clone()));
            found.is_some()
        });
        match (key, found) {
            (Ok((_, key)), Some((algo, sk))) if seipd::supports(algo) => Some((algo, sk, key)),
            _ => None,
        }
    } else {
        None
    };
    let Some((algo, session_key, key)) = unwrapped else {
        // The stock path, over the bytes already read and the rest, with
        // the packet framing checked (no truncation, nothing after it).
        let head = [envelope.key_packets.as_slice(), &envelope.data_head].concat();
        let rest = FrameChecked::new(rest, &envelope)?;
        return read_message(keyring, io::Cursor::new(head).chain(rest), sink, digest);
    };

    let head = SeipdHead::read(rest, envelope.data_length)?;
    if !head.fits(algo, &session_key) {
        return Err(Error::BadInput(Damage::Described(format!(
            "secret key {} opened the session key, but the encrypted data does not decrypt with it: \
             the backup is truncated or damaged",
            key.key.fingerprint()
        ))));
    }
    let mut facts = MessageFacts {
        opened_by: Some(OpenedBy {
            key: key.key.fingerprint(),
            cert: key.cert_fingerprint.clone(),
            source: key.source.clone(),
        }),
        cipher: Some(algo),
        seipd_version: Some(1),
        ..MessageFacts::default()
    };
    // Thread 1: deframe and AES-CFB. This thread: MDC (SHA-1), the inner
    // packets, decompression, output.
    let (container, seed) = head.into_readers(algo, &session_key)?;
    let (producer, decrypted) = threaded_reader();
    let sha256 = std::thread::scope(|scope| {
        scope.spawn(move || producer.produce(container));
        // Owned by this closure, so that on any early return it is dropped
        // before the scope joins the producer, which then stops sending.
        let mut plaintext = MdcReader::new(decrypted, seed);
        let sha256 = read_inner(&mut plaintext, sink, digest, &mut facts)?;
        // The MDC is checked when the container ends: read to the end even
        // if the inner packets ended first.
        io::copy(&mut plaintext, &mut io::sink()).map_err(classify_io)?;
        Ok::<_, Error>(sha256)
    })?;
    Ok((facts, sha256))
}

/// The packets inside the container: optional compression, one literal
/// data packet (its body possibly a sealpipe zstd stream), and the
/// signature packets a signed message carries (not verified: backups are
/// not signed).
fn read_inner<R, W>(
    plaintext: R,
    sink: &mut W,
    digest: bool,
    facts: &mut MessageFacts,
) -> Result<Option<String>>
where
    R: Read + Send + Sync,
    W: Write,
{
    let mut sha256 = None;
    let mut literals = 0;
    let mut ppr = PacketParser::from_reader(plaintext).map_err(classify)?;
    while let PacketParserResult::Some(mut pp) = ppr {
        match &pp.packet {
            Packet::CompressedData(c) => facts.openpgp_compression.push(c.algo()),
            Packet::Literal(l) => {
                literals += 1;
                if literals > 1 {
                    return Err(Error::BadInput(Damage::Described(
                        "the backup holds more than one literal data packet: it is not one backup stream".into(),
                    )));
                }
                facts.literal_filename = l.filename().map(<[u8]>::to_vec);
                sha256 = copy_plaintext(&mut pp, facts.is_zstd(), sink, digest)?;
            }
            Packet::OnePassSig(_) | Packet::Signature(_) | Packet::Marker(_) => {}
            other => {
                return Err(Error::BadInput(Damage::Described(format!(
                    "the backup is damaged or malformed: an unexpected {} packet inside the encryption \
                     (or compression nested too deep); any output already written is untrustworthy",
                    other.tag()
                ))))
            }
        }
        ppr = pp.recurse().map_err(classify)?.1;
    }
    if literals == 0 {
        return Err(Error::BadInput(Damage::Described(
            "the backup is malformed: no literal data inside the encryption".into(),
        )));
    }
    Ok(sha256)
}

/// Copy a literal body to `sink`, undoing sealpipe's zstd layer if `zstd`,
/// optionally hashing the plaintext. Failures are classified: the OpenPGP
/// layer (truncation, MDC), the zstd layer, or the sink.
fn copy_plaintext<R: Read + Send, W: Write>(
    body: R,
    zstd: bool,
    sink: &mut W,
    digest: bool,
) -> Result<Option<String>> {
    let mut plaintext = Tracked::new(body);
    let (copied, sha256) = if zstd {
        // The OpenPGP layer (MDC, packet parsing) reads on its own thread,
        // so zstd decoding and the output get a core to themselves.
        let (producer, queued) = threaded_reader();
        std::thread::scope(|scope| {
            let source = &mut plaintext;
            scope.spawn(move || producer.produce(source));
            // `queued` is dropped when this returns, before the scope joins
            // the producer, so an early stop cannot leave it blocked.
            decode_and_copy(queued, true, sink, digest)
        })
    } else {
        decode_and_copy(&mut plaintext, false, sink, digest)
    };
    if let Err(e) = copied {
        return Err(match plaintext.failure() {
            // The OpenPGP layer failed: classify what it said.
            Some(inner) => classify_io(inner),
            // The OpenPGP layer was fine, so the zstd layer is broken
            // (or the sink failed, which the caller reports first).
            None if zstd && e.get_ref().is_some_and(|i| i.is::<Error>()) => classify_io(e),
            None if zstd => Error::BadInput(Damage::Described(format!(
                "zstd decompression failed: {e}; the backup is damaged"
            ))),
            None => classify_io(e),
        });
    }
    Ok(sha256)
}

/// The plaintext through [zstd] and the optional SHA-256 to `sink`.
fn decode_and_copy<R: Read, W: Write>(
    source: R,
    zstd: bool,
    sink: &mut W,
    digest: bool,
) -> (io::Result<u64>, Option<String>) {
    let stage = match StreamDecompressor::new(source, zstd) {
        Ok(stage) => stage,
        Err(e) => return (Err(e), None),
    };
    let mut hashing = HashingReader::new(stage, digest);
    let copied = copy(&mut hashing, sink, IO_BUFFER_SIZE);
    let (_, sha256) = hashing.finish();
    (copied, sha256)
}

/// How much `peek` lets sequoia read ahead: enough to see the literal
/// packet's header inside any compression layer.
const PEEK_BUFFER_SIZE: usize = 64 * 1024;

/// Open a message just far enough to learn which key opens it, its cipher
/// and its compression, without decrypting the rest (`inspect --key`).
/// A message that fits the peek buffer is also authenticated.
pub fn peek<R: Read + Send + Sync>(keyring: &SecretKeyring, input: R) -> Result<MessageFacts> {
    survive_parser_panic(|| {
        let policy = StandardPolicy::new();
        let helper = Helper {
            keyring,
            facts: MessageFacts::default(),
        };
        let decryptor = DecryptorBuilder::from_reader(input)
            .map_err(classify)?
            .buffer_size(PEEK_BUFFER_SIZE)
            .with_policy(&policy, None, helper)
            .map_err(classify)?;
        Ok(decryptor.into_helper().facts)
    })
}

/// sequoia 2.4 panics on some malformed inputs (e.g. a SEIPD packet cut
/// off right after its header: `data_consume_hard(..).unwrap()` in
/// parse.rs). A damaged backup must be an error with exit code 6, never a
/// crash, so the parser runs under `catch_unwind` with the panic message
/// silenced.
pub(crate) fn survive_parser_panic<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    std::panic::set_hook(previous);
    outcome.unwrap_or_else(|_| {
        Err(Error::BadInput(Damage::Described(
            "the backup is malformed (truncated or damaged where the OpenPGP parser cannot continue); \
             any output already written is untrustworthy"
                .into(),
        )))
    })
}

struct Helper<'k> {
    keyring: &'k SecretKeyring,
    facts: MessageFacts,
}

impl VerificationHelper for Helper<'_> {
    fn get_certs(&mut self, _ids: &[KeyHandle]) -> openpgp::Result<Vec<Cert>> {
        Ok(Vec::new())
    }

    /// Backups are encrypted, not signed; a signature on a foreign message
    /// is neither required nor verified.
    fn check(&mut self, _structure: MessageStructure) -> openpgp::Result<()> {
        Ok(())
    }

    fn inspect(&mut self, pp: &PacketParser) -> openpgp::Result<()> {
        match &pp.packet {
            Packet::Literal(l) => self.facts.literal_filename = l.filename().map(<[u8]>::to_vec),
            Packet::CompressedData(c) => self.facts.openpgp_compression.push(c.algo()),
            Packet::SEIP(s) => self.facts.seipd_version = Some(s.version()),
            _ => {}
        }
        Ok(())
    }
}

impl DecryptionHelper for Helper<'_> {
    fn decrypt(
        &mut self,
        pkesks: &[PKESK],
        _skesks: &[SKESK],
        sym_algo: Option<SymmetricAlgorithm>,
        decrypt: &mut dyn FnMut(Option<SymmetricAlgorithm>, &SessionKey) -> bool,
    ) -> openpgp::Result<Option<Cert>> {
        let (algo, key) =
            unwrap_session_key(self.keyring, pkesks, sym_algo, |algo, sk| decrypt(algo, sk))?;
        self.facts.cipher = algo.or(sym_algo);
        self.facts.opened_by = Some(OpenedBy {
            key: key.key.fingerprint(),
            cert: key.cert_fingerprint.clone(),
            source: key.source.clone(),
        });
        Ok(None)
    }
}

/// Find a secret key that opens one of the PKESKs and whose session key
/// `accept` confirms. Used by decrypt and by rekey.
pub fn unwrap_session_key<'k>(
    keyring: &'k SecretKeyring,
    pkesks: &[PKESK],
    sym_algo: Option<SymmetricAlgorithm>,
    mut accept: impl FnMut(Option<SymmetricAlgorithm>, &SessionKey) -> bool,
) -> std::result::Result<(Option<SymmetricAlgorithm>, &'k SecretKey), Error> {
    let mut unlock_error = None;
    let mut unwrapped_but_rejected = None;
    let mut addressed_but_undecryptable = None;
    for pkesk in pkesks {
        for candidate in keyring.candidates(pkesk.recipient()) {
            let key = match keyring.unlock(candidate) {
                Ok(k) => k,
                Err(e) => {
                    unlock_error.get_or_insert(e);
                    continue;
                }
            };
            let Ok(mut keypair) = key.into_keypair() else {
                continue;
            };
            if let Some((algo, sk)) = pkesk.decrypt(&mut keypair, sym_algo) {
                if accept(algo, &sk) {
                    return Ok((algo, candidate));
                }
                unwrapped_but_rejected.get_or_insert(candidate);
            } else if pkesk.recipient().is_some() {
                // Addressed to this very key, yet it does not decrypt.
                addressed_but_undecryptable.get_or_insert(candidate);
            }
        }
    }
    if let Some(key) = unwrapped_but_rejected {
        // The key fits the PKESK, but the session key does not fit the data:
        // the encrypted body is cut short or damaged at its start.
        return Err(Error::BadInput(Damage::Described(format!(
            "secret key {} opened the session key, but the encrypted data does not decrypt with it: \
             the backup is truncated or damaged",
            key.key.fingerprint()
        ))));
    }
    if let Some(key) = addressed_but_undecryptable {
        return Err(Error::BadInput(Damage::Described(format!(
            "the key packet addressed to secret key {} does not decrypt with it: \
             the backup's key packets are damaged (another recipient's key may still open it)",
            key.key.fingerprint()
        ))));
    }
    if let Some(e) = unlock_error {
        return Err(e);
    }
    let wanted: Vec<String> = pkesks
        .iter()
        .map(|p| match p.recipient() {
            Some(h) => h.to_hex(),
            None => "anonymous".into(),
        })
        .collect();
    let have: Vec<String> = keyring.keys.iter().map(|k| k.keyid().to_hex()).collect();
    Err(Error::Key(format!(
        "no given secret key opens this backup: it is encrypted to key IDs [{}], the secret keys given are [{}]; \
         pass the matching key with --key (old keys too, after a rotation)",
        wanted.join(", "),
        have.join(", ")
    )))
}

/// Turn an error from sequoia into one that says what is wrong with the input.
pub fn classify(e: openpgp::anyhow::Error) -> Error {
    match e.downcast::<Error>() {
        Ok(ours) => ours,
        Err(e) => classify_chain(e.chain(), &e),
    }
}

/// Look through an error's causes for what went wrong.
fn classify_chain<'e>(
    chain: impl Iterator<Item = &'e (dyn std::error::Error + 'static)>,
    whole: &dyn std::fmt::Display,
) -> Error {
    for cause in chain {
        if let Some(io) = cause.downcast_ref::<io::Error>() {
            if io.kind() == io::ErrorKind::UnexpectedEof {
                return truncated();
            }
            // One of ours (the SEIPD reader's) that crossed the parser.
            if let Some(ours) = io.get_ref().and_then(|i| i.downcast_ref::<Error>()) {
                return match ours {
                    Error::Internal(m) => Error::Internal(m.clone()),
                    other => Error::BadInput(Damage::Described(other.to_string())),
                };
            }
        }
        if let Some(pgp) = cause.downcast_ref::<openpgp::Error>() {
            return from_openpgp(pgp, whole);
        }
    }
    damaged(whole)
}

/// Like `classify` for errors that crossed a `Read` boundary as io::Error.
fn classify_io(e: io::Error) -> Error {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        return truncated();
    }
    match e.into_inner() {
        Some(inner) => match inner.downcast::<Error>() {
            Ok(ours) => *ours,
            Err(inner) => {
                let first: &(dyn std::error::Error + 'static) = &*inner;
                classify_chain(std::iter::successors(Some(first), |c| c.source()), &inner)
            }
        },
        None => Error::BadInput(Damage::Described(
            "reading the OpenPGP message failed".into(),
        )),
    }
}

fn truncated() -> Error {
    Error::BadInput(Damage::Described(
        "the backup is truncated: it ends before the OpenPGP message is complete; \
         any output already written is incomplete"
            .into(),
    ))
}

fn damaged(e: &dyn std::fmt::Display) -> Error {
    // One of sealpipe's own verdicts that sequoia passed on as text: say it
    // once, not wrapped in a second one.
    let text = e.to_string();
    if let Some(at) = text.find("the backup ") {
        return Error::BadInput(Damage::Described(text[at..].to_string()));
    }
    Error::BadInput(Damage::Described(format!(
        "the backup is damaged or not an OpenPGP message ({e}); any output already written is untrustworthy"
    )))
}

fn from_openpgp(pgp: &openpgp::Error, whole: &dyn std::fmt::Display) -> Error {
    match pgp {
        openpgp::Error::ManipulatedMessage => Error::BadInput(Damage::Described(
            "integrity check failed (MDC): the backup was modified or damaged; \
             any output already written is untrustworthy"
                .into(),
        )),
        openpgp::Error::MissingSessionKey(_) => Error::Key(format!(
            "no given secret key opens this backup ({whole})"
        )),
        openpgp::Error::PolicyViolation(what, _) => Error::BadInput(Damage::Described(format!(
            "the backup is damaged, or uses something the standard policy rejects as insecure ({what}); \
             any output already written is untrustworthy"
        ))),
        _ => damaged(whole),
    }
}
