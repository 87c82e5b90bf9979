//! Arbitrary bytes as the *content* of an intact container: sealed to the
//! example daily key under a fresh session key with a valid MDC (as a
//! forger who knows the session key of their own message makes them), then
//! decrypted through both readers. Past the MDC, where random bytes never
//! get: sealpipe's literal packet reader (format/literal.rs) and the
//! inner-packet checks, against sequoia's parser. Both readers must give
//! one verdict (the same exit class and the same released bytes), and each
//! must be Ok, a bad-input error or an origin verdict (a forger may seal a
//! signature that does not parse), never a panic.
#![no_main]

mod common;

use std::io::Write;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sealpipe::openpgp::policy::StandardPolicy;
use sealpipe::openpgp::serialize::stream::{Encryptor, Message};
use sealpipe::openpgp::types::SymmetricAlgorithm;
use sealpipe::openpgp::Cert;

fn daily_cert() -> &'static Cert {
    static CERT: OnceLock<Cert> = OnceLock::new();
    CERT.get_or_init(|| {
        let bytes = include_bytes!("../../keys-example/daily.cert.asc");
        sealpipe::keys::parse_certs(bytes)
            .expect("the example cert parses")
            .remove(0)
    })
}

/// `content` inside a SEIPDv1 container to the daily key: what sealpipe's
/// fast reader takes (the example cert asks for no AEAD).
fn sealed(content: &[u8]) -> Vec<u8> {
    let policy = StandardPolicy::new();
    let recipients = daily_cert()
        .keys()
        .with_policy(&policy, None)
        .supported()
        .for_transport_encryption();
    let mut sink = Vec::new();
    let mut message = Encryptor::for_recipients(Message::new(&mut sink), recipients)
        .symmetric_algo(SymmetricAlgorithm::AES256)
        .build()
        .expect("the encryptor builds");
    message.write_all(content).expect("writes to memory");
    message.finalize().expect("finishes in memory");
    sink
}

fuzz_target!(|content: &[u8]| {
    common::guard_message_is_known();
    common::one_verdict("inner", &sealed(content), common::judge_content);
});
