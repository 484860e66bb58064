//! `refresh-check trace validate|show|html|walk|schema`: check, print and publish trace files,
//! and make long ones.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::{Subcommand, ValueEnum};
use refresh_check::message::escape_controls;
use refresh_check::properties::Kind;
use refresh_check::scenario::Scenario;
use refresh_check::trace::{self, Trace};
use refresh_check::{exit, model, suite};

#[derive(Subcommand, Debug)]
pub enum TraceCommand {
    /// Check trace files against the trace schema, then replay each on its model and check
    /// that it reaches the violation it claims.
    ///
    /// Each file is reported on its own line. Exit 0: every trace holds; 1: some trace does
    /// not replay to what it claims (the first step that differs is named); 2: some file is
    /// not a readable trace of this version, or its model file is invalid.
    Validate {
        /// Trace files (`.json`), or folders: every `*.json` under a folder, sorted by path.
        #[arg(required = true, value_name = "TRACE")]
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
    /// Write a long trace: a pseudo-random walk on a model (not a shortest path), to test
    /// trace viewers and replays on. The walk takes up to `--steps` actions, each among those
    /// that change the state, chosen by a generator seeded with `--seed` (same seed, same
    /// walk), and its last state must show `--property` (violate an invariant, or reach a
    /// reachability property such as `refresh_succeeds`); else exit 1.
    Walk {
        /// The model file (`.json`).
        model: PathBuf,
        /// The property the trace is an example (or counterexample) of.
        #[arg(long, value_name = "NAME", value_parser = refresh_check::properties::parse_name)]
        property: &'static str,
        /// Up to N actions: a count.
        #[arg(long, value_name = "N", default_value_t = 500)]
        steps: usize,
        /// The generator's seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Number of tabs, overriding the model file's `browser.tabs` (1 to 6).
        #[arg(long, value_parser = clap::value_parser!(u8).range(1..=6))]
        tabs: Option<u8>,
        /// The trace file to write (`.json`).
        #[arg(short, long, value_name = "OUT")]
        output: PathBuf,
    },
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
        TraceCommand::Walk { model, property, steps, seed, tabs, output } => {
            walk(&model, property, steps, seed, tabs, &output)
        }
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

/// One file's result: `Ok` with a summary, or the exit code it calls for and why.
fn validate_one(file: &Path) -> Result<String, (u8, String)> {
    let t = trace::load(file).map_err(|e| (exit::BAD_INPUT, e.to_string()))?;
    if !(1..=refresh_check::scenario::MAX_TABS).contains(&t.parameters.tabs) {
        let why =
            format!("found {}, expected an integer from 1 to {}", t.parameters.tabs, refresh_check::scenario::MAX_TABS);
        return Err((exit::BAD_INPUT, format!("{}: field `parameters.tabs`: {why}", file.display())));
    }
    let sc = Scenario::load(&trace::resolve_model_file(file, &t.model_file))
        .and_then(|s| s.with_tabs(t.parameters.tabs))
        .map_err(|e| (exit::BAD_INPUT, format!("{}: its model file: {e}", file.display())))?;
    if t.model != sc.name {
        return Err((
            exit::DIFFERS,
            format!(
                "{}: FAILED: field `model`: found {:?}, but its model file names {:?}",
                file.display(),
                t.model,
                sc.name
            ),
        ));
    }
    trace::validate(&model::build(&sc), &t)
        .map_err(|why| (exit::DIFFERS, format!("{}: FAILED: {why}", file.display())))?;
    Ok(format!(
        "{}: ok ({} {} in {} steps)",
        file.display(),
        t.property,
        if t.kind == Kind::Always { "violated" } else { "reached" },
        t.steps.len()
    ))
}

fn validate(args: &[PathBuf]) -> Result<u8> {
    let mut files = Vec::new();
    for arg in args {
        match suite::json_files(std::slice::from_ref(arg), "trace file") {
            Ok(found) => files.extend(found),
            // A folder of golden traces is empty when every invariant holds.
            Err(suite::SuiteError::EmptyFolder { path }) => {
                eprintln!("{}: no trace files (*.json) in this folder", escape_controls(&path.display().to_string()))
            }
            Err(e) => return Err(e.into()),
        }
    }
    let mut code = exit::AS_EXPECTED;
    let mut out = std::io::stdout().lock();
    for file in &files {
        match validate_one(file) {
            Ok(line) => writeln!(out, "{}", escape_controls(&line))?,
            Err((c, why)) => {
                // A trace that does not hold is a result (stdout); an unreadable one is an
                // input error (stderr). Exit 2 outranks 1.
                if c == exit::BAD_INPUT {
                    eprintln!("error: {}", escape_controls(&why));
                } else {
                    writeln!(out, "{}", escape_controls(&why))?;
                }
                code = code.max(c);
            }
        }
    }
    Ok(code)
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

fn walk(file: &Path, property: &str, steps: usize, seed: u64, tabs: Option<u8>, out: &Path) -> Result<u8> {
    let mut sc = Scenario::load(file)?;
    if let Some(n) = tabs {
        sc = sc.with_tabs(n)?;
    }
    refresh_check::output::refuse_input(out, [&file.to_path_buf()], "model file")?;
    let m = model::build(&sc);
    let path = trace::walk(&m, steps, seed);
    let prop = refresh_check::properties::by_name(property).expect("parse_name checked the name");
    let t = match trace::build(&m, file, &sc.name, sc.browser.tabs, prop, &path) {
        Ok(t) => t,
        Err(e) => {
            println!("{}: a walk of {} steps (seed {seed}): {e}", file.display(), path.actions.len());
            return Ok(exit::DIFFERS);
        }
    };
    refresh_check::output::write_atomic(out, refresh_check::golden::to_json(&t).as_bytes())?;
    println!("{}: a walk of {} steps (seed {seed}) → {}", file.display(), t.steps.len(), out.display());
    Ok(exit::AS_EXPECTED)
}
