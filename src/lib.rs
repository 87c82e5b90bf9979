//! sealpipe: encrypt backup streams with OpenPGP to a pinned set of
//! recipients, restorable with plain GnuPG.
//!
//! The pipeline, by layer:
//! - [`config`]: the TOML config (pinned recipients, defaults, decrypt keys)
//! - [`settings`]: settings both the command line and the config give
//!   (level, threads), one type each, resolved into one set in one place
//! - [`policy`]: pinned fingerprints -> usable encryption keys, or refusals
//! - [`keys`]: certs and secret keys, the permission-checked reads of
//!   trusted files ([`keys::files`]) and key generation
//! - [`compress`]: zstd and parallel deflate as Read/Write adapters
//! - [`format`]: the wire format written and read here: packet framing,
//!   the envelope (key packets), the SEIPDv1 container
//! - [`encrypt`] / [`decrypt`]: the OpenPGP message, streaming; the decrypt
//!   readers and `--verify-first`'s replay live under [`decrypt`]
//! - [`inspect`] / [`rekey`]: the key packets, read and replaced without
//!   touching the encrypted data
//! - [`io`] / [`pipeline`]: the ends of the pipe with explicit, fallible
//!   `finish`, and the thread hand-offs between stages; [`progress`]: the
//!   optional progress line, as Read/Write adapters
//!
//! Every fallible function returns [`error::Error`], whose variants map to
//! the exit codes in docs/exit-codes.md, or a typed cause that converts into
//! one (e.g. [`settings::SettingError`], which the caller reports as a usage
//! or a config error depending on where the setting came from).
#![forbid(unsafe_code)]

pub mod compress;
pub mod config;
pub mod decrypt;
pub mod digest;
pub mod encrypt;
pub mod error;
pub mod format;
pub mod inspect;
pub mod io;
pub mod keys;
pub mod pipeline;
pub mod policy;
pub mod progress;
pub mod rekey;
pub mod settings;
pub mod time;

pub use error::{Error, Result};
/// Re-exported so the binary and tests use the same sequoia version.
pub use sequoia_openpgp as openpgp;
