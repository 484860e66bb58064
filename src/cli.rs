//! Command-line arguments (clap derive). Each argument's doc comment is its `--help`; each
//! default is stated once, here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use refresh_check::search::Strategy;

/// Exhaustive model checker for session and refresh-token protocols.
///
/// Exit codes: 0 every verdict as expected; 1 a verdict differs; 2 bad input or usage;
/// 3 a limit or an interruption stopped the search before every verdict was final.
#[derive(Parser, Debug)]
#[command(name = "refresh-check", version, about, long_about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Check every property of a model file and write counterexample traces.
    Check(CheckArgs),
    /// Work with trace files.
    #[command(subcommand)]
    Trace(TraceCommand),
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// The model file (JSON) to check.
    pub model: PathBuf,

    /// Number of tabs, overriding the model file's `browser.tabs` (1 to 6).
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=6))]
    pub tabs: Option<u8>,

    /// Search order. `bfs` reports shortest counterexamples directly; `dfs` uses less memory
    /// and shortens what it finds with a bounded breadth-first search.
    #[arg(long, value_enum, default_value_t = StrategyArg::Bfs, help_heading = "Search bounds")]
    pub strategy: StrategyArg,

    /// Explore paths of at most D actions. A search cut short by this bound is incomplete
    /// (exit 3) unless every property was decided.
    #[arg(long, value_name = "D", help_heading = "Search bounds")]
    pub max_depth: Option<usize>,

    /// Stop after N unique states (incomplete, exit 3).
    #[arg(long, value_name = "N", help_heading = "Search bounds")]
    pub max_states: Option<u64>,

    /// Stop after SECS seconds of search (incomplete, exit 3).
    #[arg(long, value_name = "SECS", help_heading = "Search bounds")]
    pub timeout: Option<f64>,

    /// Folder for counterexample traces (`<model>.<property>.json` and `.md`).
    #[arg(long, value_name = "DIR", default_value = "traces", help_heading = "Output")]
    pub traces: PathBuf,

    /// Do not write trace files.
    #[arg(long, help_heading = "Output")]
    pub no_traces: bool,

    /// Report format on stdout.
    #[arg(long, value_enum, default_value_t = FormatArg::Text, help_heading = "Output")]
    pub format: FormatArg,
}

#[derive(Subcommand, Debug)]
pub enum TraceCommand {
    /// Replay trace files on their models and check they reach the violation they claim.
    Validate {
        /// Trace files (`.json`).
        #[arg(required = true)]
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

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum StrategyArg {
    Bfs,
    Dfs,
}

impl From<StrategyArg> for Strategy {
    fn from(s: StrategyArg) -> Strategy {
        match s {
            StrategyArg::Bfs => Strategy::Bfs,
            StrategyArg::Dfs => Strategy::Dfs,
        }
    }
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum FormatArg {
    Text,
    Json,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShowFormat {
    Text,
    Mermaid,
}
