//! `refresh-check check MODEL.json`: every property of one model file, traces, a report.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::ValueEnum;
use refresh_check::check::{self, CheckOptions, Outcome};
use refresh_check::properties::{self, Kind};
use refresh_check::scenario::{Scenario, Verdict};
use refresh_check::search::Strategy;
use refresh_check::trace::{self, Trace};
use refresh_check::{exit, output, report};

#[derive(clap::Args, Debug)]
pub struct Args {
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

    /// Stop once the process holds MiB mebibytes of memory (resident set; incomplete, exit 3).
    #[arg(long, value_name = "MiB", value_parser = clap::value_parser!(u64).range(1..), help_heading = "Search bounds")]
    pub max_memory: Option<u64>,

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

pub fn run(args: Args) -> Result<u8> {
    let mut sc = Scenario::load(&args.model)?;
    if let Some(tabs) = args.tabs {
        sc = sc.with_tabs(tabs)?;
    }
    if let Some(t) = args.timeout {
        if !(t.is_finite() && t > 0.0) {
            bail!("--timeout: found {t}, expected a positive number of seconds");
        }
    }
    if !args.no_traces {
        output::prepare_dir(&args.traces)?;
        for (json, md) in properties::ALL.iter().map(|p| trace::file_names(&args.traces, &sc.name, p.name)) {
            output::check_target(&json).and_then(|()| output::check_target(&md))?;
        }
    }
    let opts = CheckOptions {
        strategy: args.strategy.into(),
        max_depth: args.max_depth,
        max_states: args.max_states,
        timeout: args.timeout.map(Duration::from_secs_f64),
        cancel: refresh_check::interrupt::install().map_err(|e| eprintln!("warning: {e}")).ok(),
        max_memory: args.max_memory.map(|m| m.saturating_mul(refresh_check::limits::MIB)),
    };
    let (model, mut results) = check::check(&sc, &opts);
    let mut traces: Vec<Trace> = Vec::new();
    let mut unwritten = Vec::new();
    for p in results.properties.iter_mut() {
        let (Some(path), Verdict::Violated) = (&p.path, p.status) else { continue };
        let spec = properties::by_name(p.name).expect("results name catalogue properties");
        debug_assert_eq!(spec.kind, Kind::Always);
        let t = trace::build(&model, &sc.path, &sc.name, sc.browser.tabs, spec, path)
            .with_context(|| format!("internal error: the counterexample for {} did not re-check", p.name))?;
        if !args.no_traces {
            let (json, md) = trace::file_names(&args.traces, &sc.name, p.name);
            let written = output::write_atomic(&json, serde_json::to_string_pretty(&t)?.as_bytes())
                .and_then(|()| output::write_atomic(&md, trace::render_markdown(&t).as_bytes()));
            match written {
                Ok(()) => p.trace = Some(json),
                Err(e) => unwritten.push(e), // the report is still printed; then exit 2
            }
        }
        traces.push(t);
    }
    let mut out = std::io::stdout().lock();
    match args.format {
        FormatArg::Text => report::text(&results, &traces, &mut out)?,
        FormatArg::Json => report::json(&results, &mut out)?,
    }
    out.flush()?;
    if let Some(e) = unwritten.into_iter().next() {
        return Err(e.into());
    }
    Ok(match results.outcome() {
        Outcome::AsExpected => exit::AS_EXPECTED,
        Outcome::Differs => exit::DIFFERS,
        Outcome::Incomplete => exit::INCOMPLETE,
    })
}
