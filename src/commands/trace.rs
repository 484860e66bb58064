//! `refresh-check trace validate|show|html|schema`: check, print and publish trace files.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Subcommand, ValueEnum};
use refresh_check::properties::Kind;
use refresh_check::scenario::Scenario;
use refresh_check::trace::{self, Trace};
use refresh_check::{exit, model};

#[derive(Subcommand, Debug)]
pub enum TraceCommand {
    /// Check trace files against the trace schema, then replay each on its model and check
    /// that it reaches the violation it claims.
    Validate {
        /// Trace files (`.json`).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Print a trace as numbered steps (actor, message, and the state fields each step
    /// changed) or as a Mermaid sequence diagram.
    Show {
        /// A trace file (`.json`).
        file: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t = ShowFormat::Text)]
        format: ShowFormat,
    },
    /// Write a self-contained HTML page for a trace, or for a folder of traces one page each
    /// and an `index.html` listing them.
    Html(crate::commands::html::Args),
    /// Print the trace format's JSON Schema (the content of `docs/trace.schema.json`).
    Schema,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShowFormat {
    Text,
    Mermaid,
}

pub fn run(cmd: TraceCommand) -> Result<u8> {
    match cmd {
        TraceCommand::Validate { files } => validate(&files),
        TraceCommand::Show { file, format } => show(&file, format),
        TraceCommand::Html(args) => crate::commands::html::run(args),
        TraceCommand::Schema => {
            std::io::stdout().lock().write_all(trace::schema::generated().as_bytes())?;
            Ok(exit::AS_EXPECTED)
        }
    }
}

/// Reads a trace file, checking it against the trace schema; errors name the file and the
/// field.
pub fn load_trace(file: &Path) -> Result<Trace> {
    Ok(trace::load(file)?)
}

fn validate(files: &[PathBuf]) -> Result<u8> {
    let (mut failed, mut unreadable) = (0, 0);
    for file in files {
        // A file that is not a trace is reported and the others are still checked.
        let t = match load_trace(file) {
            Ok(t) => t,
            Err(e) => {
                unreadable += 1;
                eprintln!("error: {e:#}");
                continue;
            }
        };
        let sc = Scenario::load(&t.model_file)
            .and_then(|s| s.with_tabs(t.parameters.tabs))
            .with_context(|| format!("{}: its model file", file.display()))?;
        match trace::validate(&model::build(&sc), &t) {
            Ok(()) => println!(
                "{}: ok ({} {} in {} steps)",
                file.display(),
                t.property,
                if t.kind == Kind::Always { "violated" } else { "reached" },
                t.steps.len()
            ),
            Err(why) => {
                failed += 1;
                println!("{}: FAILED: {why}", file.display());
            }
        }
    }
    Ok(if unreadable > 0 {
        exit::BAD_INPUT
    } else if failed == 0 {
        exit::AS_EXPECTED
    } else {
        exit::DIFFERS
    })
}

fn show(file: &Path, format: ShowFormat) -> Result<u8> {
    let t = load_trace(file)?;
    let text = match format {
        ShowFormat::Text => trace::render_text_changes(&t),
        ShowFormat::Mermaid => trace::render_mermaid_changes(&t),
    };
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(exit::AS_EXPECTED)
}
