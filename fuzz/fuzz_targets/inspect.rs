//! Arbitrary bytes as a backup for `inspect`, with the example config's
//! certs known: the envelope reader must return Ok or Err, never panic.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sealpipe::inspect::{inspect, KnownCerts, KnownCert};
use sealpipe::keys::parse_certs;

fn known() -> &'static KnownCerts {
    static KNOWN: OnceLock<KnownCerts> = OnceLock::new();
    KNOWN.get_or_init(|| {
        let mut known = KnownCerts { certs: Vec::new(), have_policy: true };
        for (name, bytes, required) in [
            ("daily", &include_bytes!("../../keys-example/daily.cert.asc")[..], false),
            ("escrow", &include_bytes!("../../keys-example/escrow.cert.asc")[..], true),
        ] {
            for cert in parse_certs(bytes).expect("example certs parse") {
                known.certs.push(KnownCert { name: name.into(), cert, pinned: true, required });
            }
        }
        known
    })
}

fuzz_target!(|data: &[u8]| {
    let _ = inspect("fuzz", data, None, known(), None);
});
