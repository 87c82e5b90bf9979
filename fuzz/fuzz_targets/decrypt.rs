//! Arbitrary bytes as a backup, decrypted with the example daily key loaded:
//! decrypt must return Ok or a bad-input / no-key error, never panic, hang
//! or allocate without bound. The output goes nowhere; the compression
//! layers still run in full. This is the library's protected entry point
//! (`decrypt::decrypt`, the parser under `survive_parser_panic`), and a
//! panic that guard swallows is replayed through sequoia alone to tell the
//! known sequoia panic from a bug in sealpipe (see common/mod.rs).
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    common::guard_message_is_known();
    let result = sealpipe::decrypt::decrypt(common::keyring(), data, &mut std::io::sink(), true);
    common::judge("decrypt", data, &result);
});
