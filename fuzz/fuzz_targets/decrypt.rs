//! Arbitrary bytes as a backup, decrypted with the example daily key loaded:
//! decrypt must return Ok or a bad-input / no-key error, never panic, hang
//! or allocate without bound. The output is counted and hashed, not kept;
//! the compression layers still run in full. This is the library's
//! protected entry point (`decrypt::decrypt`, the parser under
//! `survive_parser_panic`), through both readers, which must give one
//! verdict (the same exit code, the same bytes released); a panic that
//! guard swallows must be a known sequoia panic (see common/mod.rs).
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    common::guard_message_is_known();
    common::one_verdict("decrypt", data, common::judge);
});
