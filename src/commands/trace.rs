//! `refresh-check trace validate|show`: replay and print trace files.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Subcommand, ValueEnum};
use refresh_check::properties::Kind;
use refresh_check::scenario::Scenario;
use refresh_check::trace::{self, Trace};
use refresh_check::{exit, model, suite};

#[derive(Subcommand, Debug)]
pub enum TraceCommand {
    /// Replay trace files on their models and check they reach the violation they claim.
    Validate {
        /// Trace files (`.json`), or folders: every `*.json` under a folder, sorted by path.
        #[arg(required = true, value_name = "TRACE")]
        files: Vec<PathBuf>,
    },
    /// Print a trace as numbered steps or as a Mermaid sequence diagram.
    Show {
        /// A trace file (`.json`).
        file: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t = ShowFormat::Text)]
        format: ShowFormat,
    },
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
    }
}

/// Reads a trace file; errors name the file and the field.
pub fn load_trace(file: &Path) -> Result<Trace> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("{}: cannot read the trace file", file.display()))?;
    let de = &mut serde_json::Deserializer::from_str(&text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let field = e.path().to_string();
        anyhow::anyhow!("{}: field `{field}`: {}", file.display(), e.into_inner())
    })
}

fn validate(args: &[PathBuf]) -> Result<u8> {
    let mut files = Vec::new();
    for arg in args {
        match suite::json_files(std::slice::from_ref(arg), "trace file or folder") {
            Ok(found) => files.extend(found),
            // A folder of golden traces is empty when every invariant holds.
            Err(suite::SuiteError::EmptyFolder { path }) => {
                eprintln!("{}: no trace files (*.json) in this folder", path.display())
            }
            Err(e) => return Err(e.into()),
        }
    }
    let mut failed = 0;
    for file in &files {
        let t = load_trace(file)?;
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
    Ok(if failed == 0 { exit::AS_EXPECTED } else { exit::DIFFERS })
}

fn show(file: &Path, format: ShowFormat) -> Result<u8> {
    let t = load_trace(file)?;
    let text = match format {
        ShowFormat::Text => {
            format!("{} — {} ({} steps)\n{}", t.model, t.property, t.steps.len(), trace::render_text(&t))
        }
        ShowFormat::Mermaid => trace::render_mermaid(&t),
    };
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(exit::AS_EXPECTED)
}
