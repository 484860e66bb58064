//! The `refresh-check` binary: parses the command line, runs the library, maps the outcome to
//! the exit codes of [`refresh_check::exit`].

mod cli;
mod commands;

use std::process::ExitCode;

use clap::Parser;
use refresh_check::exit;

/// mimalloc instead of the system allocator: a search clones and drops millions of small
/// actor states, and glibc's malloc spent about half of the search's time on them (profile of
/// `directus-10.11.1-session --tabs 3`, issue 16); mimalloc's size-class free lists make each
/// allocation a few instructions and return freed pages to the system.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if e.use_stderr() => {
            // clap quotes the arguments it refuses: quote them with their control characters
            // escaped, as in every other message, by parsing the escaped arguments again.
            let escaped =
                std::env::args_os().map(|a| refresh_check::message::escape_controls(&a.to_string_lossy()).into_owned());
            let e = cli::Cli::try_parse_from(escaped).err().filter(|e| e.use_stderr()).unwrap_or(e);
            let text = e.render().to_string();
            let lines: Vec<_> = text.split('\n').map(refresh_check::message::escape_controls).collect();
            eprint!("{}", lines.join("\n"));
            return ExitCode::from(exit::BAD_INPUT);
        }
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(exit::AS_EXPECTED);
        }
    };
    let outcome = cli::run(cli);
    refresh_check::interrupt::finish();
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            if err
                .chain()
                .any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe))
            {
                return ExitCode::from(exit::AS_EXPECTED);
            }
            eprintln!("error: {}", refresh_check::message::escape_controls(&message(&err)));
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
