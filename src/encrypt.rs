//! Encryption: plaintext -> [zstd] -> literal data -> [deflate packet] ->
//! SEIPDv1 (with MDC) for the approved recipients -> [armor] -> output.
//!
//! SEIPDv1 is written whatever the recipient certs advertise: GnuPG 2.2
//! rejects SEIPDv2 ("unknown version"), and every backup must be restorable
//! with plain gpg. The key packets and the literal data packet come from
//! sequoia; the SEIPDv1 container from `seipd` (fast MDC) and the deflate
//! packet from `compress::ParallelDeflate` (pigz-style, all cores).

use std::io::{self, Read, Write};
use std::time::SystemTime;

use openpgp::armor;
use openpgp::crypto::SessionKey;
use openpgp::packet::pkesk::PKESK3;
use openpgp::packet::{Packet, PKESK};
use openpgp::serialize::stream::{LiteralWriter, Message, Signer};
use openpgp::serialize::Serialize;
use openpgp::types::{CompressionAlgorithm, DataFormat, HashAlgorithm, SymmetricAlgorithm};
use sequoia_openpgp as openpgp;

use crate::compress::{Compression, ParallelDeflate, StreamCompressor, ZSTD_LITERAL_FILENAME};
use crate::digest::HashingReader;
use crate::error::{Error, Result};
use crate::format::packet::{self, PacketWriter};
use crate::format::seipd::{self, SeipdWriter};
use crate::io::{read_error, write_error, Tracked};
use crate::keys::signing::SigningKey;
use crate::pipeline;
use crate::policy::ApprovedRecipient;

/// Everything decided before the first byte is written.
#[derive(Debug, Clone)]
pub struct EncryptPlan {
    pub recipients: Vec<ApprovedRecipient>,
    pub compression: Compression,
    pub level: i32,
    pub threads: u32,
    pub armor: bool,
    /// Recorded in the literal data packet.
    pub now: SystemTime,
    /// Compute the plaintext SHA-256 while streaming.
    pub digest: bool,
    /// Sign the literal data (one-pass signature inside the encryption).
    pub signer: Option<SigningKey>,
}

#[derive(Debug, Clone)]
pub struct EncryptSummary {
    pub plaintext_bytes: u64,
    pub ciphertext_bytes: u64,
    pub sha256: Option<String>,
}

/// The symmetric cipher: AES-256, which every OpenPGP implementation reads.
pub const CIPHER: SymmetricAlgorithm = SymmetricAlgorithm::AES256;

/// Stream `input` to `output` as one OpenPGP message. The caller must still
/// finish `output` (flush, fsync, rename) and only then report success.
pub fn encrypt<R: Read, W: Write + Send + Sync>(
    plan: &EncryptPlan,
    input: R,
    output: &mut W,
) -> Result<EncryptSummary> {
    let mut sink = Tracked::new(output);
    let mut source = HashingReader::new(Tracked::new(input), plan.digest);
    let result = pipeline::write_on_thread(&mut sink, |out| write_message(plan, &mut source, out));
    let (source, sha256) = source.finish();
    // An I/O failure at either end explains whatever the stack reported.
    if let Some(e) = sink.failure() {
        return Err(write_error(e));
    }
    if let Some(e) = source.failure() {
        return Err(read_error(e));
    }
    result?;
    Ok(EncryptSummary {
        plaintext_bytes: source.count(),
        ciphertext_bytes: sink.count(),
        sha256,
    })
}

fn write_message<R: Read, W: Write + Send + Sync>(
    plan: &EncryptPlan,
    source: &mut R,
    sink: &mut W,
) -> Result<()> {
    if !plan.armor {
        return write_encrypted(plan, source, sink);
    }
    let mut armored = armor::Writer::new(sink, armor::Kind::Message)
        .map_err(|e| Error::io("writing the armor header", e))?;
    write_encrypted(plan, source, &mut armored)?;
    armored
        .finalize()
        .map_err(|e| Error::io("finishing the armor", e))?;
    Ok(())
}

/// Key packets for every approved key, then the SEIPDv1 packet.
fn write_encrypted<R: Read, W: Write + Send + Sync>(
    plan: &EncryptPlan,
    source: &mut R,
    sink: &mut W,
) -> Result<()> {
    let internal = |what: &str, e: openpgp::anyhow::Error| Error::Internal(format!("{what}: {e}"));
    let session_key = CIPHER
        .key_size()
        .and_then(SessionKey::new)
        .map_err(|e| internal("making a session key", e))?;
    // Every key packet is made before the first is written: a key that
    // cannot take the session key leaves no partial output behind.
    let key_packets = plan
        .recipients
        .iter()
        .flat_map(|r| r.keys())
        .map(|key| {
            PKESK3::for_recipient(CIPHER, &session_key, key)
                .map(|pkesk| Packet::from(PKESK::from(pkesk)))
                .map_err(|e| {
                    internal(
                        &format!("wrapping the session key for {}", key.fingerprint()),
                        e,
                    )
                })
        })
        .collect::<Result<Vec<_>>>()?;
    if key_packets.is_empty() {
        return Err(Error::Internal(
            "encryption plan has no recipient keys".into(),
        ));
    }
    for packet in &key_packets {
        packet
            .serialize(sink)
            .map_err(|e| internal("writing a key packet", e))?;
    }

    seipd::write_seipd(&mut *sink, CIPHER, &session_key, |seipd| {
        write_inner(plan, source, seipd)
    })?;
    Ok(())
}

/// The packets inside the encryption: [deflate packet] -> literal data ->
/// [zstd stream] of the plaintext.
fn write_inner<R: Read>(plan: &EncryptPlan, source: &mut R, seipd: &mut SeipdWriter) -> Result<()> {
    if plan.compression != Compression::Deflate {
        return write_literal(plan, source, seipd);
    }
    // A compressed data packet (algorithm 1, raw deflate) whose body comes
    // from the parallel deflater; gpg and sequoia inflate it in one pass.
    let start = |e| Error::io("starting deflate", e);
    let mut packet = PacketWriter::new(seipd, packet::COMPRESSED_DATA).map_err(start)?;
    packet
        .write_all(&[u8::from(CompressionAlgorithm::Zip)])
        .map_err(start)?;
    let mut deflate =
        ParallelDeflate::new(&mut packet, plan.level.clamp(1, 9) as u32, plan.threads);
    write_literal(plan, source, &mut deflate)?;
    let finish = |e| Error::io("finishing deflate", e);
    deflate.finish().map_err(finish)?;
    packet.finish().map_err(finish)?;
    Ok(())
}

/// The literal data packet, its body the plaintext or its zstd stream;
/// when signing, between a one-pass signature and its signature, as
/// `gpg -se` writes them (inside the deflate packet in deflate mode).
fn write_literal<R: Read, W: Write + Send + Sync>(
    plan: &EncryptPlan,
    source: &mut R,
    sink: W,
) -> Result<()> {
    let internal = |what: &str, e: openpgp::anyhow::Error| Error::Internal(format!("{what}: {e}"));
    let filename = match plan.compression {
        Compression::Zstd => ZSTD_LITERAL_FILENAME,
        _ => "",
    };
    let mut message = Message::new(sink);
    if let Some(key) = &plan.signer {
        message = signed(plan, key, message).map_err(|e| internal("starting the signature", e))?;
    }
    let message = LiteralWriter::new(message)
        .format(DataFormat::Binary)
        .filename(filename)
        .and_then(|w| w.date(plan.now))
        .and_then(|w| w.build())
        .map_err(|e| internal("starting literal data", e))?;

    let mut stage = StreamCompressor::new(message, plan.compression, plan.level, plan.threads)
        .map_err(|e| Error::Internal(format!("starting zstd: {e}")))?;
    copy(source, &mut stage, READ_BUFFER_SIZE).map_err(|e| Error::io("encrypting", e))?;
    let message = stage
        .finish()
        .map_err(|e| Error::io("finishing compression", e))?;
    message
        .finalize()
        .map_err(|e| internal("finishing the inner packets", e))
}

/// `message` behind a signer: SHA-256 set explicitly (about twice as fast
/// as sequoia's default SHA-512 on CPUs with SHA extensions), the plan's
/// time, and an intended-recipient subpacket for each approved recipient.
fn signed<'a>(
    plan: &EncryptPlan,
    key: &SigningKey,
    message: Message<'a>,
) -> openpgp::Result<Message<'a>> {
    let signer = Signer::new(message, key.keypair())?
        .hash_algo(HashAlgorithm::SHA256)?
        .creation_time(plan.now);
    plan.recipients
        .iter()
        .fold(signer, |signer, r| signer.add_intended_recipient(&r.cert))
        .build()
}

/// Bytes per read of the plaintext. Small enough to stay in the CPU's cache
/// on the way from the kernel to the cipher: 64 KiB cut encrypt's system
/// time by three quarters and its wall time by a fifth against 256 KiB
/// (docs/performance.md).
pub const READ_BUFFER_SIZE: usize = 64 * 1024;

/// `io::copy` through a buffer of `buffer_size` bytes; errors are
/// classified by the caller.
pub fn copy<R: Read + ?Sized, W: Write + ?Sized>(
    reader: &mut R,
    writer: &mut W,
    buffer_size: usize,
) -> io::Result<u64> {
    let mut buf = vec![0u8; buffer_size];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        writer.write_all(&buf[..n])?;
        total += n as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::testing::{interrupted, Scripted};

    /// EINTR is retried, not taken for a failure, and the count is of every
    /// byte copied, across reads larger and smaller than the buffer.
    #[test]
    fn copy_retries_an_interrupted_read_and_counts_every_byte() {
        let mut source = Scripted::new(vec![
            Ok(b"abc".to_vec()),
            interrupted(),
            Ok(b"defghij".to_vec()),
            interrupted(),
            interrupted(),
            Ok(b"k".to_vec()),
        ]);
        let mut out = Vec::new();
        assert_eq!(copy(&mut source, &mut out, 4).unwrap(), 11);
        assert_eq!(out, b"abcdefghijk");
    }

    /// Any other read error ends the copy with that error.
    #[test]
    fn copy_stops_at_a_read_error() {
        let mut source = Scripted::new(vec![
            Ok(b"abc".to_vec()),
            Err(io::ErrorKind::BrokenPipe.into()),
            Ok(b"def".to_vec()),
        ]);
        let mut out = Vec::new();
        let e = copy(&mut source, &mut out, 4).unwrap_err();
        assert_eq!(
            (e.kind(), &out[..]),
            (io::ErrorKind::BrokenPipe, &b"abc"[..])
        );
    }

    /// The policy never hands over an empty recipient set; if a plan had
    /// one anyway, nothing may be written, not even a packet header.
    #[test]
    fn a_plan_without_recipient_keys_writes_nothing() {
        for armor in [false, true] {
            let plan = EncryptPlan {
                recipients: Vec::new(),
                compression: Compression::Zstd,
                level: 3,
                threads: 1,
                armor,
                now: SystemTime::UNIX_EPOCH,
                digest: false,
                signer: None,
            };
            let mut out = Vec::new();
            let result = encrypt(&plan, &b"plaintext"[..], &mut out);
            assert!(
                matches!(&result, Err(Error::Internal(m)) if m.contains("no recipient keys")),
                "armor {armor}: {result:?}"
            );
            assert!(out.is_empty(), "armor {armor}: {} bytes written", out.len());
        }
    }
}
