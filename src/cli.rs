//! Command-line arguments (clap derive). Each command's arguments live with the command, in
//! `commands/`; each argument's doc comment is its `--help`, and each default is stated once.

use clap::{Parser, Subcommand};

use crate::commands;

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
    /// Check every property of model files (or folders of them) and write counterexample traces.
    Check(commands::check::Args),
    /// Check model files and print the verdict matrix (model x property); or merge reports.
    Matrix(commands::matrix::Args),
    /// Measure search speed and memory on the oracle model and the shipped models.
    Bench(commands::bench::Args),
    /// List the property catalogue: each property's kind, claim and the models it applies to.
    Properties(commands::properties::Args),
    /// Work with trace files.
    #[command(subcommand)]
    Trace(commands::trace::TraceCommand),
    /// Work with model files.
    #[command(subcommand)]
    Models(commands::models::ModelsCommand),
    /// Browse a model's states in stateright's Explorer (a web UI on 127.0.0.1), opening at a
    /// trace's path when one is given.
    Explore(commands::explore::Args),
    /// Replay a trace against a real server on 127.0.0.1 and compare it with the model.
    Replay(commands::replay::Args),
    /// Compare a protocol (A) with its fix (B): per property both verdicts, and for each
    /// counterexample of A whether B still allows its steps and still violates the property.
    Compare(commands::compare::Args),
}

/// Runs the parsed command; returns the exit code, or an error for bad input (exit 2).
pub fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Check(args) => commands::check::run(args),
        Command::Matrix(args) => commands::matrix::run(args),
        Command::Trace(cmd) => commands::trace::run(cmd),
        Command::Bench(args) => commands::bench::run(args),
        Command::Models(cmd) => commands::models::run(cmd),
        Command::Properties(args) => commands::properties::run(args),
        Command::Explore(args) => commands::explore::run(args),
        Command::Replay(args) => commands::replay::run(args),
        Command::Compare(args) => commands::compare::run(args),
    }
}
