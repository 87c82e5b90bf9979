//! `sealpipe generate`: man pages and shell completions, built at run time
//! from the clap definitions in cli.rs, so they never drift from the binary.
//! scripts/package.sh runs it to put both into the Debian package.

use std::fs;
use std::path::Path;

use anyhow::Result;
use clap::CommandFactory;
use clap_complete::Shell;
use sealpipe::io::print_stdout;
use sealpipe::Error;

use crate::cli::{Cli, GenerateArgs, GenerateWhat};

pub fn run(args: GenerateArgs) -> Result<()> {
    match args.what {
        GenerateWhat::Man { dir } => write_man_pages(&dir),
        GenerateWhat::Completion { shell } => print_completion(shell),
    }
}

/// sealpipe.1 and one sealpipe-SUBCOMMAND.1 per subcommand, into DIR.
fn write_man_pages(dir: &Path) -> Result<()> {
    let failed = |cause| {
        Error::io(
            format!("cannot write man pages to {}", dir.display()),
            cause,
        )
    };
    fs::create_dir_all(dir).map_err(failed)?;
    clap_mangen::generate_to(Cli::command(), dir).map_err(failed)?;
    Ok(())
}

/// The completion script for SHELL on stdout (a broken pipe is an error).
fn print_completion(shell: Shell) -> Result<()> {
    let mut command = Cli::command();
    let name = command.get_name().to_string();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, name, &mut script);
    let script = String::from_utf8(script)
        .map_err(|_| Error::Internal(format!("the {shell} completion script is not UTF-8")))?;
    print_stdout(&script)?;
    Ok(())
}
