//! The stock reader: sequoia's streaming decryptor, for everything the fast
//! reader does not handle (and for everything when the plan says so). It
//! gets the session key from the one [`Session`] like the fast reader (as
//! sq's `--session-key` hands over a key already unwrapped), sees the same
//! packets through the same observer, and runs behind the same framing
//! check: nothing after the packet, no truncation, no junk skipped.

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use openpgp::crypto::SessionKey;
use openpgp::packet::{PKESK, SKESK};
use openpgp::parse::stream::{
    DecryptionHelper, DecryptorBuilder, MessageStructure, VerificationHelper,
};
use openpgp::parse::{PacketParser, Parse};
use openpgp::policy::{Policy, StandardPolicy};
use openpgp::types::SymmetricAlgorithm;
use openpgp::{Cert, KeyHandle};
use sequoia_openpgp as openpgp;

use super::{
    classify, copy_plaintext, survive_parser_panic, Decoding, MessageFacts, ReadOutcome, Reading,
    Session, DECRYPT_BUFFER_SIZE,
};
use crate::error::{Damage, Error, Result};
use crate::format::envelope::FrameChecked;
use crate::io::IO_BUFFER_SIZE;
use crate::keys::SecretKeyring;

/// Read the message whose envelope is read and whose data packet body
/// follows in `reading.body`.
pub(super) fn read<W: Write>(reading: Reading<'_, '_, '_, W>) -> ReadOutcome {
    let envelope = reading.envelope;
    let head = [envelope.key_packets.as_slice(), &envelope.data_head].concat();
    let mut rest = FrameChecked::new(reading.body, envelope)?;
    let opened = AtomicBool::new(false);
    let source = io::Cursor::new(head).chain(&mut rest);
    let outcome = read_message(
        reading.session,
        &opened,
        source,
        reading.sink,
        reading.decoding,
    );
    let (facts, sha256) = match outcome {
        // Once the data is being decrypted, anything wrong with it before
        // the MDC is checked (junk, a bad packet header, a broken zstd
        // stream, a session key that does not fit the first block) could
        // be tampering: the one verdict is the integrity error, given after
        // the whole packet was read, as the fast reader gives it. Never an
        // early, distinct answer (an oracle). The framing check on the rest
        // still reports truncation and trailing bytes first.
        Err(Error::BadInput(damage))
            if opened.load(Ordering::Relaxed) || damage == Damage::Integrity =>
        {
            io::copy(&mut rest, &mut io::sink()).map_err(super::classify_io)?;
            return Err(Damage::Integrity.into());
        }
        other => other?,
    };
    // Authenticated: what it holds must be one whole backup.
    facts.check_complete()?;
    Ok((facts, sha256))
}

fn read_message<R, W>(
    session: &Session,
    opened: &AtomicBool,
    source: R,
    sink: &mut W,
    decoding: Decoding,
) -> Result<(MessageFacts, Option<String>)>
where
    R: Read + Send + Sync,
    W: Write,
{
    // One policy time for every decision (issue 12.7): the run's clock.
    let now = crate::time::now()?;
    let policy = StandardPolicy::at(now);
    let helper = Helper {
        session,
        now,
        opened: Some(opened),
        facts: MessageFacts::default(),
    };
    let mut decryptor = DecryptorBuilder::from_reader(source)
        .map_err(classify)?
        .buffer_size(DECRYPT_BUFFER_SIZE)
        .with_policy(&policy, None, helper)
        .map_err(classify)?;

    // By now the parser has seen the literal packet's header.
    let mut seen = decryptor.helper_ref().facts.clone();
    let body = io::BufReader::with_capacity(IO_BUFFER_SIZE, &mut decryptor);
    let sha256 = copy_plaintext(body, &mut seen, sink, decoding)?;
    if !decryptor.message_processed() {
        return Err(Damage::Truncated.into());
    }
    let mut facts = decryptor.into_helper().facts;
    facts.digests = seen.digests;
    Ok((facts, sha256))
}

/// How much `peek` lets sequoia read ahead: enough to see the literal
/// packet's header inside any compression layer.
const PEEK_BUFFER_SIZE: usize = 64 * 1024;

/// Open a message just far enough to learn which key opens it, its cipher
/// and its compression, without decrypting the rest (`inspect --key`).
/// A message that fits the peek buffer is also authenticated.
pub fn peek<R: Read + Send + Sync>(keyring: &SecretKeyring, input: R) -> Result<MessageFacts> {
    survive_parser_panic(|| {
        let now = crate::time::now()?;
        let policy = StandardPolicy::at(now);
        let session = Session::new(keyring);
        let helper = Helper {
            session: &session,
            now,
            opened: None,
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

struct Helper<'s, 'k> {
    session: &'s Session<'k>,
    /// The policy time of this run (the cipher's verdict is judged at it).
    now: std::time::SystemTime,
    /// Set once a session key is handed to sequoia: from then on, what
    /// goes wrong is inside the encryption.
    opened: Option<&'s AtomicBool>,
    facts: MessageFacts,
}

impl VerificationHelper for Helper<'_, '_> {
    fn get_certs(&mut self, _ids: &[KeyHandle]) -> openpgp::Result<Vec<Cert>> {
        Ok(Vec::new())
    }

    /// Signatures are judged for both readers alike in `origin`, over the
    /// digests `copy_plaintext` computes, not here.
    fn check(&mut self, _structure: MessageStructure) -> openpgp::Result<()> {
        Ok(())
    }

    fn inspect(&mut self, pp: &PacketParser) -> openpgp::Result<()> {
        Ok(self.facts.observe(&pp.packet)?)
    }
}

impl DecryptionHelper for Helper<'_, '_> {
    fn decrypt(
        &mut self,
        pkesks: &[PKESK],
        _skesks: &[SKESK],
        sym_algo: Option<SymmetricAlgorithm>,
        decrypt: &mut dyn FnMut(Option<SymmetricAlgorithm>, &SessionKey) -> bool,
    ) -> openpgp::Result<Option<Cert>> {
        // sequoia's `decrypt` runs the quick check: used to prefer only.
        let chosen = self
            .session
            .choose(pkesks, sym_algo, |algo, key| decrypt(algo, key))?;
        let algo = chosen.algo.or(sym_algo);
        self.facts.cipher = algo;
        self.facts.opened_by = chosen.opened_by();
        if let Some(algo) = algo.filter(|a| !a.is_supported()) {
            return Err(Error::from(Damage::UnsupportedCipher {
                cipher: algo.to_string(),
            })
            .into());
        }
        // The cipher's policy verdict depends on no byte of the data: give
        // it here, before anything counts as inside the encryption.
        if let Some(algo) = algo {
            StandardPolicy::at(self.now)
                .symmetric_algorithm(algo)
                .map_err(|e| {
                    Error::from(Damage::PolicyRejected {
                        what: e.to_string(),
                    })
                })?;
        }
        if !chosen.preferred {
            // The key does not fit the data: the integrity verdict, given
            // only after the whole packet is read (see `read`).
            return Err(Error::from(Damage::Integrity).into());
        }
        if let Some(opened) = self.opened {
            opened.store(true, Ordering::Relaxed);
        }
        Ok(None)
    }
}
