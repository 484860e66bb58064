//! The `refresh-check` binary: parses the command line, runs the library, maps the outcome to
//! the exit codes of [`refresh_check::exit`].

mod cli;
mod commands;

use std::process::ExitCode;

use clap::Parser;
use refresh_check::exit;

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { exit::BAD_INPUT } else { exit::AS_EXPECTED });
        }
    };
    match cli::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            if err
                .chain()
                .any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe))
            {
                return ExitCode::from(exit::AS_EXPECTED);
            }
            eprintln!("error: {}", message(&err));
            ExitCode::from(exit::BAD_INPUT)
        }
    }
}

/// The error and its causes, joined by ": ", each cause once: an error whose message already
/// quotes its source (as `thiserror` messages with `{source}` do) is not repeated.
fn message(err: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in err.chain().map(|c| c.to_string()) {
        if !out.contains(&cause) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&cause);
        }
    }
    out
}
