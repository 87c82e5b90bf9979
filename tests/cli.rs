//! The command-line definitions themselves (src/cli.rs, compiled in here as
//! it is in the binary): clap's own consistency checks, no option, not
//! even a hidden one, that takes a secret as its value, and each value enum
//! mapping to the library's variant of the same name.

#[allow(dead_code)]
#[path = "../src/cli.rs"]
mod cli;

use clap::{CommandFactory, ValueEnum};
use sealpipe::compress::Compression;
use sealpipe::inspect::Requirement;
use sealpipe::keys::generate::KeyAlgorithm;
use sealpipe::progress::ProgressMode;

#[test]
fn clap_definitions_are_consistent() {
    cli::Cli::command().debug_assert();
}

/// Every argument of every subcommand, hidden ones included.
fn all_arguments(cmd: &clap::Command, path: &str, out: &mut Vec<(String, clap::Arg)>) {
    for arg in cmd.get_arguments() {
        out.push((path.to_string(), arg.clone()));
    }
    for sub in cmd.get_subcommands() {
        all_arguments(sub, &format!("{path} {}", sub.get_name()), out);
    }
}

#[test]
fn no_option_takes_a_secret_value() {
    let mut args = Vec::new();
    all_arguments(&cli::Cli::command(), "sealpipe", &mut args);
    assert!(args.len() > 20, "walked only {} arguments", args.len());
    let mut secret_sources = 0;
    for (path, arg) in &args {
        let name = arg
            .get_long()
            .map_or_else(|| arg.get_id().to_string(), str::to_string)
            .to_lowercase();
        let takes_value = arg.get_action().takes_values();
        let secretish = ["pass", "secret", "pin", "token", "password"]
            .iter()
            .any(|w| name.contains(w));
        if takes_value && secretish {
            // A secret may only be named by where to read it from.
            assert!(
                name.ends_with("-file") || name.ends_with("-fd"),
                "{path} --{name} would put a secret on the command line"
            );
            secret_sources += 1;
        }
        // Environment variables are visible in /proc too: none for secrets.
        if let Some(env) = arg.get_env() {
            let env = env.to_string_lossy().to_lowercase();
            assert!(
                !["pass", "secret", "key"].iter().any(|w| env.contains(w)),
                "{path} --{name} reads a secret from ${env}"
            );
        }
    }
    // The passphrase options exist, so the check above saw them.
    assert!(
        secret_sources >= 4,
        "found {secret_sources} passphrase options"
    );
}

/// Every value a user can type maps to the library variant of that name: a
/// swapped arm (`-c none` writing deflate) would pass every round trip.
fn maps_by_name<Arg: ValueEnum + Copy, Lib: From<Arg> + std::fmt::Debug>() {
    for arg in Arg::value_variants() {
        let typed = arg.to_possible_value().unwrap();
        let chosen = format!("{:?}", Lib::from(*arg)).to_lowercase();
        assert_eq!(chosen, typed.get_name());
    }
}

#[test]
fn value_enums_map_to_the_library_variant_of_the_same_name() {
    maps_by_name::<cli::CompressionArg, Compression>();
    maps_by_name::<cli::ProgressArg, ProgressMode>();
    maps_by_name::<cli::RequirementArg, Requirement>();
    maps_by_name::<cli::KeyAlgorithmArg, KeyAlgorithm>();
}
