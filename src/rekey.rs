//! Re-address a backup to the current recipients without re-encrypting it:
//! unwrap its session key with a secret key that opens it, wrap that session
//! key for every currently pinned recipient, and copy the encrypted data
//! packet byte for byte. It runs at disk speed.
//!
//! What it cannot do: anyone holding an old copy of the file and a key that
//! opened it can still read that copy. Rekey changes who can open the new
//! file, not who could open the old one (see docs/keys.md).

use std::io::{Read, Write};
use std::time::SystemTime;

use openpgp::armor;
use openpgp::crypto::SessionKey;
use openpgp::packet::pkesk::PKESK3;
use openpgp::packet::{Packet, Tag, PKESK};
use openpgp::parse::{PacketParser, PacketParserResult, Parse};
use openpgp::serialize::Serialize;
use openpgp::types::SymmetricAlgorithm;
use sequoia_openpgp as openpgp;

use crate::decrypt::{classify, survive_parser_panic, OpenedBy, Session};
use crate::error::{Damage, Error, Result};
use crate::format::envelope::{read_envelope, read_failure, FrameCheck};
use crate::io::{read_error, write_error, Tracked, IO_BUFFER_SIZE};
use crate::keys::SecretKeyring;
use crate::policy::{check_cipher, ApprovedRecipient};

/// How much of the encrypted data is read before anything is written: enough
/// for sequoia to check the session key against the data.
pub(crate) const PROBE_SIZE: u64 = 64 * 1024;

pub struct RekeyPlan {
    pub recipients: Vec<ApprovedRecipient>,
    pub armor: bool,
    /// The policy time: the backup's cipher must pass decrypt's policy then.
    pub now: SystemTime,
}

#[derive(Debug)]
pub struct RekeySummary {
    pub opened_by: OpenedBy,
    pub cipher: SymmetricAlgorithm,
    pub new_recipient_keys: usize,
    pub bytes_written: u64,
}

/// Read the backup from `input` and write the re-addressed one to `output`.
/// The caller must still finish `output`; nothing is trustworthy unless this
/// returns Ok. The copy checks the packet framing (no truncation, no trailing
/// bytes) but not the MDC: `sealpipe verify` on the result does that.
pub fn rekey<R, W>(
    plan: &RekeyPlan,
    keyring: &SecretKeyring,
    input: R,
    output: &mut W,
) -> Result<RekeySummary>
where
    R: Read + Send + Sync,
    W: Write + Send + Sync,
{
    let mut source = Tracked::new(input);
    let mut sink = Tracked::new(output);
    let result = rekey_stream(plan, keyring, &mut source, &mut sink);
    if let Some(e) = sink.failure() {
        return Err(write_error(e));
    }
    if let Some(e) = source.failure() {
        return Err(read_error(e));
    }
    let (opened_by, cipher, new_recipient_keys) = result?;
    Ok(RekeySummary {
        opened_by,
        cipher,
        new_recipient_keys,
        bytes_written: sink.count(),
    })
}

fn rekey_stream<R, W>(
    plan: &RekeyPlan,
    keyring: &SecretKeyring,
    source: &mut R,
    sink: &mut W,
) -> Result<(OpenedBy, SymmetricAlgorithm, usize)>
where
    R: Read + Send + Sync,
    W: Write + Send + Sync,
{
    let (envelope, mut rest) = read_envelope(source)?;
    if envelope.data_tag != Tag::SEIP || envelope.data_version != Some(1) {
        return Err(Damage::RekeyContainer {
            container: envelope.container(),
        }
        .into());
    }
    let mut body_start = Vec::new();
    (&mut rest)
        .take(PROBE_SIZE)
        .read_to_end(&mut body_start)
        .map_err(|e| read_failure(e, "inside the encrypted data"))?;
    let probe = [
        envelope.key_packets.as_slice(),
        &envelope.data_head,
        &body_start,
    ]
    .concat();
    let (cipher, session_key, opened_by) = open_session(keyring, &envelope.pkesks, &probe)?;
    // Re-addressed, a legacy cipher would look current: refuse it as decrypt does.
    check_cipher(cipher, plan.now)?;

    let mut pkesks = Vec::new();
    for key in plan.recipients.iter().flat_map(|r| r.keys()) {
        let pkesk = PKESK3::for_recipient(cipher, &session_key, key).map_err(|e| {
            Error::Internal(format!(
                "wrapping the session key for {}: {e}",
                key.fingerprint()
            ))
        })?;
        pkesks.push(Packet::from(PKESK::from(pkesk)));
    }
    if pkesks.is_empty() {
        return Err(Error::Internal("rekey plan has no recipient keys".into()));
    }

    // The encrypted data packet: its header, then its body, framing checked.
    let mut frame = FrameCheck::new(envelope.data_length);
    let header_len = envelope.data_head.len() - 1;
    frame.feed(&envelope.data_head[header_len..])?;
    frame.feed(&body_start)?;

    let body = Body {
        pkesks: &pkesks,
        data_head: &envelope.data_head,
        body_start: &body_start,
        frame,
    };
    if plan.armor {
        let mut armored = armor::Writer::new(&mut *sink, armor::Kind::Message)
            .map_err(|e| Error::io("writing the rekeyed backup", e))?;
        body.write(&mut armored, &mut rest)?;
        armored
            .finalize()
            .map_err(|e| Error::io("writing the rekeyed backup", e))?;
    } else {
        body.write(&mut *sink, &mut rest)?;
    }
    Ok((opened_by, cipher, pkesks.len()))
}

/// What the new backup consists of, before the rest of the input.
struct Body<'a> {
    pkesks: &'a [Packet],
    data_head: &'a [u8],
    body_start: &'a [u8],
    frame: FrameCheck,
}

impl Body<'_> {
    /// New key packets, then the encrypted data packet copied raw.
    fn write<W: Write, R: Read>(mut self, writer: &mut W, rest: &mut R) -> Result<()> {
        let write = |e| Error::io("writing the rekeyed backup", e);
        for packet in self.pkesks {
            packet
                .serialize(writer)
                .map_err(|e| Error::Internal(format!("serializing a key packet: {e}")))?;
        }
        writer.write_all(self.data_head).map_err(write)?;
        writer.write_all(self.body_start).map_err(write)?;
        let mut buf = vec![0u8; IO_BUFFER_SIZE];
        loop {
            let n = match rest.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(read_failure(e, "inside the encrypted data")),
            };
            self.frame.feed(&buf[..n])?;
            writer.write_all(&buf[..n]).map_err(write)?;
        }
        self.frame.finish()?;
        writer.flush().map_err(write)
    }
}

/// Find the session key: a secret key must unwrap a PKESK, and sequoia must
/// accept the result against the start of the encrypted data (`probe`: the
/// key packets and the start of the data packet). A session key for a
/// cipher sealpipe lacks (IDEA) is refused as that, not as damage. Shared
/// with inspect, which reports the cipher.
pub(crate) fn open_session(
    keyring: &SecretKeyring,
    pkesks: &[PKESK],
    probe: &[u8],
) -> Result<(SymmetricAlgorithm, SessionKey, OpenedBy)> {
    let mut unsupported = None;
    let opened = survive_parser_panic(|| {
        open_session_key(keyring, pkesks, probe, |algo| {
            unsupported = unsupported.or(algo.filter(|a| !a.is_supported()));
        })
    });
    match (opened, unsupported) {
        (Err(_), Some(cipher)) => Err(Damage::UnsupportedCipher {
            cipher: cipher.to_string(),
        }
        .into()),
        (opened, _) => opened,
    }
}

/// `open_session` under the panic guard; `seen` learns the cipher of every
/// session key unwrapped.
fn open_session_key(
    keyring: &SecretKeyring,
    pkesks: &[PKESK],
    probe: &[u8],
    mut seen: impl FnMut(Option<SymmetricAlgorithm>),
) -> Result<(SymmetricAlgorithm, SessionKey, OpenedBy)> {
    let mut ppr = PacketParser::from_bytes(probe).map_err(classify)?;
    while let PacketParserResult::Some(mut pp) = ppr {
        if let Packet::SEIP(_) = pp.packet {
            let mut opened = None;
            let chosen = Session::new(keyring).choose(pkesks, None, |algo, sk| {
                seen(algo);
                let fits = algo.is_some() && pp.decrypt(algo, sk).is_ok();
                if fits {
                    opened = Some((algo, sk.clone()));
                }
                fits
            })?;
            let algo = chosen.algo;
            // The key does not fit the data: the start of the encrypted
            // data is damaged.
            let (Some(cipher), session_key) = opened
                .map(|(a, sk)| (a.or(algo), sk))
                .ok_or(Error::BadInput(Damage::Integrity))?
            else {
                return Err(Error::Internal("session key without a cipher".into()));
            };
            let opened_by = chosen
                .opened_by()
                .ok_or_else(|| Error::Internal("a keyring session without a key".into()))?;
            return Ok((cipher, session_key, opened_by));
        }
        ppr = pp.next().map_err(classify)?.1;
    }
    Err(Damage::NoEncryptedData.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::envelope::BodyLength;
    use crate::io::testing::{interrupted, Scripted};

    fn body(length: u64) -> Body<'static> {
        Body {
            pkesks: &[],
            data_head: b"head",
            body_start: b"",
            frame: FrameCheck::new(BodyLength::Full(length)),
        }
    }

    /// The copy of the encrypted data retries EINTR and writes every byte.
    #[test]
    fn the_copy_retries_an_interrupted_read() {
        let mut rest = Scripted::new(vec![
            interrupted(),
            Ok(b"01234".to_vec()),
            interrupted(),
            Ok(b"56789".to_vec()),
        ]);
        let mut out = Vec::new();
        body(10).write(&mut out, &mut rest).unwrap();
        assert_eq!(out, b"head0123456789");
    }

    /// Any other read error (here the disk's EIO) fails the rekey, even
    /// where the data could go on.
    #[test]
    fn the_copy_stops_at_a_read_error() {
        let mut rest = Scripted::new(vec![
            Ok(b"01234".to_vec()),
            Err(std::io::Error::from_raw_os_error(libc::EIO)),
            Ok(b"56789".to_vec()),
        ]);
        let result = body(10).write(&mut Vec::new(), &mut rest);
        assert!(matches!(result, Err(Error::Io { .. })), "{result:?}");
    }
}
