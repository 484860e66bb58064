//! `refresh-check matrix [MODEL...]`: every model file (default: all under `models/`) against
//! every property, as a table: model and policy x property, with the verdict, the state count
//! and the trace file of each violation; differences from the expected verdicts first. With
//! `--merge`, combines the JSON reports of `check --shard` (or any JSON reports) instead.

use std::path::PathBuf;

use anyhow::Result;
use refresh_check::report::{self, Traces};

use super::check::{deliver, execute, exit_code, FormatArg, Ran, RunArgs};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Model files (JSON), or folders: every `*.json` under a folder, sorted by path.
    #[arg(value_name = "MODEL", default_value = "models")]
    pub models: Vec<PathBuf>,

    /// Combine these JSON reports (of `check` or `matrix`, e.g. the shards of one
    /// `--shard I/N` split) instead of checking; the search options do not apply.
    #[arg(long, value_name = "REPORT", num_args = 1.., conflicts_with = "models")]
    pub merge: Vec<PathBuf>,

    /// Output format: `text` (an aligned table), `markdown`, `json` (the suite object of
    /// `check`), `junit`, `github`.
    #[arg(long, value_enum, default_value_t = FormatArg::Text, help_heading = "Output")]
    pub format: FormatArg,

    #[command(flatten)]
    pub run: RunArgs,
}

pub fn run(args: Args) -> Result<u8> {
    if let Some(r) = &args.run.report {
        refresh_check::output::refuse_input(r, &args.merge, "report to merge")?;
    }
    let Ran { suite, traces, unwritten, .. } = if args.merge.is_empty() {
        execute(&args.models, &args.run, None)?
    } else {
        Ran {
            suite: report::merge::merge(&args.merge)?,
            traces: Traces::new(),
            unwritten: Vec::new(),
            scenarios: Vec::new(),
            deadline: None,
            cancel: None,
        }
    };
    let mut buf = Vec::new();
    match args.format {
        FormatArg::Text => report::table::text(&suite, &mut buf)?,
        FormatArg::Markdown => report::table::markdown(&suite, &mut buf)?,
        FormatArg::Json => report::json_value(&suite, &mut buf)?,
        FormatArg::Junit => report::junit::write(&suite, &traces, &mut buf)?,
        FormatArg::Github => report::github::write(&suite, &mut buf)?,
    }
    deliver(&buf, &suite, &args.run, matches!(args.format, FormatArg::Text | FormatArg::Markdown))?;
    if let Some(e) = unwritten.into_iter().next() {
        return Err(e.into());
    }
    Ok(exit_code(suite.outcome))
}
