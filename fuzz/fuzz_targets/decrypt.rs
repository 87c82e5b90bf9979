//! Arbitrary bytes as a backup, decrypted with the example daily key loaded:
//! decrypt must return Ok or Err (a damaged backup), never panic, hang or
//! allocate without bound. The output goes nowhere; the compression layers
//! still run in full.
#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sealpipe::keys::SecretKeyring;

fn keyring() -> &'static SecretKeyring {
    static RING: OnceLock<SecretKeyring> = OnceLock::new();
    RING.get_or_init(|| {
        let mut ring = SecretKeyring::default();
        ring.add(
            include_bytes!("../../keys-example/daily.key.asc"),
            Path::new("daily.key.asc"),
        )
        .expect("the example key loads");
        ring
    })
}

fuzz_target!(|data: &[u8]| {
    let _ = sealpipe::decrypt::decrypt(keyring(), data, &mut std::io::sink(), true);
});
