//! sealpipe: encrypt backup streams with OpenPGP to a pinned set of
//! recipients, restorable with plain GnuPG.
//!
//! The pipeline, one module per stage:
//! - [`config`]: the TOML config (pinned recipients, defaults, decrypt keys)
//! - [`policy`]: pinned fingerprints -> usable encryption keys, or refusals
//! - [`compress`]: zstd and parallel deflate as Read/Write adapters
//! - [`packet`] / [`seipd`]: packet framing and the SEIPDv1 container, written here
//! - [`encrypt`] / [`decrypt`]: the OpenPGP message, streaming
//! - [`replay`]: the second pass of `decrypt --verify-first`, checked against the first
//! - [`envelope`] / [`inspect`] / [`rekey`]: the key packets, read and replaced without
//!   touching the encrypted data
//! - [`keys`]: certs and secret keys; [`files`]: permission-checked reads
//! - [`io`]: the ends of the pipe, with explicit, fallible `finish`
//!
//! Every fallible function returns [`error::Error`], whose variants map to
//! the exit codes in docs/exit-codes.md.
#![forbid(unsafe_code)]

pub mod compress;
pub mod config;
pub mod decrypt;
pub mod digest;
pub mod encrypt;
pub mod envelope;
pub mod error;
pub mod files;
pub mod inspect;
pub mod io;
pub mod keys;
pub mod packet;
pub mod pipeline;
pub mod policy;
pub mod rekey;
pub mod replay;
pub mod seipd;
pub mod time;

pub use error::{Error, Result};
/// Re-exported so the binary and tests use the same sequoia version.
pub use sequoia_openpgp as openpgp;
