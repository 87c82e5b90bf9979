//! The binary: parse -> plan -> run -> exit code. Silent on stderr unless
//! something failed (backup systems treat any stderr as trouble); a failure
//! is printed by the one printer, `sealpipe::error::report`.
#![forbid(unsafe_code)]

mod cli;
mod commands;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};
use sealpipe::error::exit;

fn main() -> ExitCode {
    sealpipe::keys::files::remember_inherited_fds();
    let cli = parse_command_line();
    match sealpipe::io::exit_on_termination_signals()
        .map_err(anyhow::Error::from)
        .and_then(|()| commands::run(cli))
    {
        Ok(()) => ExitCode::from(exit::SUCCESS),
        Err(err) => {
            sealpipe::error::report(err.as_ref());
            let code = err
                .downcast_ref::<sealpipe::Error>()
                .map_or(exit::INTERNAL, sealpipe::Error::exit_code);
            ExitCode::from(code)
        }
    }
}

/// clap's parse, with a `--version` that also names the OpenPGP library
/// and its crypto backend (as `gpg --version` lists its algorithms).
fn parse_command_line() -> cli::Cli {
    let version = format!(
        "{}\nsequoia-openpgp {}\ncrypto backend: {}",
        env!("CARGO_PKG_VERSION"),
        sealpipe::openpgp::VERSION,
        sealpipe::openpgp::crypto::backend()
    );
    // clap keeps the text for the life of the process anyway.
    let version: &'static str = Box::leak(version.into_boxed_str());
    cli::Cli::command()
        .version(version)
        .try_get_matches()
        .and_then(|matches| cli::Cli::from_arg_matches(&matches))
        .unwrap_or_else(|e| exit_on_clap_error(e))
}

/// Help and version go to stdout as clap writes them; a command-line
/// mistake is printed like every other error, on one line, exit 2.
fn exit_on_clap_error(e: clap::Error) -> ! {
    // Exactly --help and --version are what clap writes to stdout.
    if !e.use_stderr() {
        e.exit();
    }
    let rendered = e.render().to_string();
    let what = match e.kind() {
        // A command given without its subcommand and nothing else (no
        // SEALPIPE_CONFIG either): clap renders the command's help instead.
        clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            missing_subcommand(&rendered)
        }
        // clap's first paragraph says what is wrong; its usage lines follow.
        _ => {
            let what: Vec<&str> = rendered
                .lines()
                .take_while(|l| !l.trim().is_empty())
                .map(str::trim)
                .collect();
            let what = what.join(" ");
            what.strip_prefix("error: ").unwrap_or(&what).to_string()
        }
    };
    let usage = sealpipe::Error::Usage(format!("{what} (see --help)"));
    sealpipe::error::report(&usage);
    std::process::exit(i32::from(usage.exit_code()));
}

/// What clap says when a command lacks its subcommand and something else
/// was given, for the case where it renders the command's help instead
/// (whose first paragraph is the command's about text, not what is
/// wrong): the command, from the help's usage line, and its subcommands.
fn missing_subcommand(rendered_help: &str) -> String {
    let usage = rendered_help
        .lines()
        .find_map(|l| l.trim().strip_prefix("Usage: "))
        .unwrap_or("sealpipe");
    let path: Vec<&str> = usage
        .split_whitespace()
        .take_while(|word| !word.starts_with(['[', '<']))
        .collect();
    let mut command = cli::Cli::command();
    command.build();
    let command = path
        .iter()
        .skip(1)
        .try_fold(&command, |c, name| c.find_subcommand(name))
        .unwrap_or(&command);
    let subcommands: Vec<&str> = command.get_subcommands().map(|c| c.get_name()).collect();
    format!(
        "'{}' requires a subcommand but one was not provided [subcommands: {}]",
        path.join(" "),
        subcommands.join(", ")
    )
}
