//! The sealpipe binary: parse -> plan -> run -> exit code. Silent on stderr
//! unless something failed (backup systems treat any stderr as trouble).
#![forbid(unsafe_code)]

mod cli;
mod commands;

use std::process::ExitCode;

use clap::Parser;
use sealpipe::error::exit;

fn main() -> ExitCode {
    sealpipe::keys::files::remember_inherited_fds();
    let cli = cli::Cli::parse();
    match sealpipe::io::exit_on_termination_signals()
        .map_err(anyhow::Error::from)
        .and_then(|()| commands::run(cli))
    {
        Ok(()) => ExitCode::from(exit::SUCCESS),
        Err(err) => {
            let mut message = format!("sealpipe: error: {err}");
            for cause in err.chain().skip(1) {
                message.push_str(&format!(": {cause}"));
            }
            eprintln!("{message}");
            let code = err
                .downcast_ref::<sealpipe::Error>()
                .map_or(exit::INTERNAL, sealpipe::Error::exit_code);
            ExitCode::from(code)
        }
    }
}
