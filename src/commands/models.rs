//! `refresh-check models validate FILE...`: check model files without searching.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use clap::Subcommand;
use refresh_check::exit;
use refresh_check::scenario::Scenario;

#[derive(Subcommand, Debug)]
pub enum ModelsCommand {
    /// Validate model files (types, ranges, combinations) without checking them.
    ///
    /// Each file is reported on its own line: `ok` with what it models, or the error naming
    /// the file, the line and column or the field, what was found and what was expected.
    /// Exit 0: every file is valid; 2: some file is not.
    Validate {
        /// Model files (`.json`), or folders: every `*.json` under a folder.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

pub fn run(cmd: ModelsCommand) -> Result<u8> {
    match cmd {
        ModelsCommand::Validate { files } => validate(&files),
    }
}

fn validate(args: &[PathBuf]) -> Result<u8> {
    // Folders are expanded as `check` expands them: every `*.json` under them, sorted.
    let files = refresh_check::suite::json_files(args, "model file")?;
    let mut code = exit::AS_EXPECTED;
    let mut out = std::io::stdout().lock();
    for file in &files {
        match Scenario::load(file) {
            Ok(sc) => writeln!(
                out,
                "{}: ok ({}, {} tabs, {} refreshes and {} requests per tab, {} ticks)",
                file.display(),
                sc.name,
                sc.browser.tabs,
                sc.browser.refreshes_per_tab,
                sc.browser.requests_per_tab,
                sc.time.max_ticks
            )?,
            Err(e) => {
                eprintln!("error: {e}");
                code = exit::BAD_INPUT;
            }
        }
    }
    Ok(code)
}
