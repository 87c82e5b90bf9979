//! Settings that come from the command line or the config, as types that
//! both clap and serde parse through ([`Level`], [`Threads`]), and the one
//! place where the two sources are resolved into the encrypt settings
//! ([`resolve_encrypt`]). Every source is validated by the same code, so a
//! value the command line refuses is refused from the config too, before a
//! byte is written or an output file created.

use std::fmt;
use std::num::NonZeroU16;
use std::str::FromStr;

use serde::Deserialize;

use crate::compress::Compression;

/// The highest level of any compression (zstd's).
const MAX_LEVEL: u8 = 22;
/// The most compression threads; more only costs memory.
const MAX_THREADS: u16 = 256;

/// A setting out of range, in the user's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SettingError {
    /// Not a level of any compression.
    #[error(
        "level {0} is not a compression level: zstd levels are 1 to 22, deflate levels 1 to 9"
    )]
    LevelOutOfRange(String),

    /// A level the chosen compression does not have.
    #[error("level {level} is too high for {compression}: {compression} levels are 1 to {max}")]
    LevelTooHigh {
        level: u8,
        compression: &'static str,
        max: u8,
    },

    /// A level given with `compression = none`, which has no levels.
    #[error("a level ({0}) was given, but compression \"none\" has no levels: remove the level or choose zstd or deflate")]
    LevelWithoutCompression(u8),

    /// A thread count out of range.
    #[error("threads {0} is out of range: give a whole number from 1 to 256")]
    ThreadsOutOfRange(String),
}

/// A setting that is a whole number checked by its `new`: parsed the same
/// way from the command line (`FromStr`, for clap) and the config (serde).
macro_rules! number_setting {
    ($setting:ident, $out_of_range:ident) => {
        impl FromStr for $setting {
            type Err = SettingError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.trim()
                    .parse::<i64>()
                    .map_err(|_| SettingError::$out_of_range(format!("'{s}'")))
                    .and_then($setting::new)
            }
        }

        impl<'de> Deserialize<'de> for $setting {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                $setting::new(i64::deserialize(d)?).map_err(serde::de::Error::custom)
            }
        }

        impl fmt::Display for $setting {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

/// A compression level: 1 to 22 (zstd); deflate's 1 to 9 is checked
/// against the compression by [`Level::check_for`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Level(u8);

impl Level {
    pub fn new(level: i64) -> Result<Level, SettingError> {
        match u8::try_from(level) {
            Ok(n) if (1..=MAX_LEVEL).contains(&n) => Ok(Level(n)),
            _ => Err(SettingError::LevelOutOfRange(level.to_string())),
        }
    }

    pub fn get(self) -> u8 {
        self.0
    }

    /// This level for `compression`, or why it does not apply.
    pub fn check_for(self, compression: Compression) -> Result<Level, SettingError> {
        let max = match compression {
            Compression::Zstd => MAX_LEVEL,
            Compression::Deflate => 9,
            Compression::None => return Err(SettingError::LevelWithoutCompression(self.0)),
        };
        if self.0 > max {
            return Err(SettingError::LevelTooHigh {
                level: self.0,
                compression: compression.as_str(),
                max,
            });
        }
        Ok(self)
    }

    /// The default level of `compression`.
    pub fn default_for(compression: Compression) -> Level {
        Level(compression.default_level() as u8)
    }
}

number_setting!(Level, LevelOutOfRange);

/// A number of compression threads, 1 to 256.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Threads(NonZeroU16);

impl Threads {
    pub fn new(threads: i64) -> Result<Threads, SettingError> {
        u16::try_from(threads)
            .ok()
            .filter(|n| *n <= MAX_THREADS)
            .and_then(NonZeroU16::new)
            .map(Threads)
            .ok_or_else(|| SettingError::ThreadsOutOfRange(threads.to_string()))
    }

    pub fn get(self) -> u16 {
        self.0.get()
    }

    /// One thread per core, at most 256.
    pub fn all_cores() -> Threads {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Threads::new(cores.min(MAX_THREADS as usize) as i64).unwrap_or(Threads(NonZeroU16::MIN))
    }
}

number_setting!(Threads, ThreadsOutOfRange);

/// Encrypt settings as one source gives them (command line or config);
/// `None` where it says nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct EncryptChoices {
    pub compression: Option<Compression>,
    pub level: Option<Level>,
    pub threads: Option<Threads>,
    pub armor: Option<bool>,
}

/// The encrypt settings to use, every value checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncryptSettings {
    pub compression: Compression,
    /// `None` for compression "none".
    pub level: Option<Level>,
    pub threads: Threads,
    pub armor: bool,
}

/// Which source a rejected setting came from, so the caller can report it
/// as a usage error (exit 2) or a config error at its line (exit 3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettingSource {
    CommandLine,
    Config,
}

/// Command line over config over defaults. The config's level belongs to
/// the config's compression: `-c deflate` on a zstd config gets deflate's
/// default, not zstd's level 3. A level that does not fit its compression
/// is refused, naming the source it came from.
pub fn resolve_encrypt(
    cli: EncryptChoices,
    config: EncryptChoices,
) -> Result<EncryptSettings, (SettingSource, SettingError)> {
    // The config's own pair is checked even when the command line overrides
    // it: a config that is wrong must fail every run, not only some.
    let config_compression = config.compression.unwrap_or(Compression::Zstd);
    if let Some(level) = config.level {
        level
            .check_for(config_compression)
            .map_err(|e| (SettingSource::Config, e))?;
    }
    let compression = cli.compression.unwrap_or(config_compression);
    let level = match cli.level {
        Some(level) => Some(
            level
                .check_for(compression)
                .map_err(|e| (SettingSource::CommandLine, e))?,
        ),
        None => config.level.filter(|_| config_compression == compression),
    };
    let level = match compression {
        Compression::None => None,
        _ => Some(level.unwrap_or_else(|| Level::default_for(compression))),
    };
    Ok(EncryptSettings {
        compression,
        level,
        threads: cli
            .threads
            .or(config.threads)
            .unwrap_or_else(Threads::all_cores),
        armor: cli.armor.unwrap_or(false) || config.armor.unwrap_or(false),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn level(n: i64) -> Option<Level> {
        Some(Level::new(n).unwrap())
    }

    #[test]
    fn levels_and_threads_in_the_users_words() {
        let msg = Level::new(30).unwrap_err().to_string();
        assert!(msg.contains("1 to 22") && !msg.contains("..="), "{msg}");
        assert!(Threads::new(4_294_967_295).is_err());
        assert!(Threads::new(0).is_err());
        assert_eq!(Threads::new(256).unwrap().get(), 256);
        assert!("x".parse::<Threads>().is_err());
    }

    #[test]
    fn a_level_must_fit_its_compression_from_every_source() {
        let deflate = |level| EncryptChoices {
            compression: Some(Compression::Deflate),
            level,
            ..Default::default()
        };
        let none = EncryptChoices {
            compression: Some(Compression::None),
            ..Default::default()
        };
        let (source, _) =
            resolve_encrypt(EncryptChoices::default(), deflate(level(12))).unwrap_err();
        assert_eq!(source, SettingSource::Config);
        let (source, _) = resolve_encrypt(deflate(level(12)), Default::default()).unwrap_err();
        assert_eq!(source, SettingSource::CommandLine);
        let cli_none_level = EncryptChoices {
            level: level(5),
            ..none
        };
        let (_, err) = resolve_encrypt(cli_none_level, Default::default()).unwrap_err();
        assert_eq!(err, SettingError::LevelWithoutCompression(5));
        // The config's zstd level does not follow `-c deflate`.
        let zstd19 = EncryptChoices {
            level: level(19),
            ..Default::default()
        };
        let got = resolve_encrypt(deflate(None), zstd19).unwrap();
        assert_eq!(got.level, level(6));
        assert_eq!(resolve_encrypt(none, zstd19).unwrap().level, None);
    }

    /// Each compression's highest level is allowed, the next one is not.
    #[test]
    fn the_highest_level_fits_and_no_higher() {
        let check = |n, compression| Level::new(n).unwrap().check_for(compression);
        assert!(check(9, Compression::Deflate).is_ok());
        assert!(check(10, Compression::Deflate).is_err());
        assert!(check(i64::from(MAX_LEVEL), Compression::Zstd).is_ok());
    }
}
