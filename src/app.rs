//! The commands: each turns parsed arguments into library calls and returns an exit code.
//! An `Err` is bad input or an unwritable output (exit 2).

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use refresh_check::check::{self, CheckOptions, Outcome};
use refresh_check::properties::{self, Kind};
use refresh_check::scenario::{Scenario, Verdict};
use refresh_check::trace::{self, Trace};
use refresh_check::{exit, model, output, report};

use crate::cli::{CheckArgs, Cli, Command, FormatArg, ShowFormat, TraceCommand};

pub fn run(cli: Cli) -> Result<u8> {
    match cli.command {
        Command::Check(args) => check_cmd(args),
        Command::Trace(TraceCommand::Validate { files }) => validate_cmd(&files),
        Command::Trace(TraceCommand::Show { file, format }) => show_cmd(&file, format),
    }
}

fn check_cmd(args: CheckArgs) -> Result<u8> {
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
    }
    let opts = CheckOptions {
        strategy: args.strategy.into(),
        max_depth: args.max_depth,
        max_states: args.max_states,
        timeout: args.timeout.map(Duration::from_secs_f64),
        cancel: None,
    };
    let (model, mut results) = check::check(&sc, &opts);
    let mut traces: Vec<Trace> = Vec::new();
    for p in results.properties.iter_mut() {
        let (Some(path), Verdict::Violated) = (&p.path, p.status) else { continue };
        let spec = properties::by_name(p.name).expect("results name catalogue properties");
        debug_assert_eq!(spec.kind, Kind::Always);
        let t = trace::build(&model, &sc.path, &sc.name, sc.browser.tabs, spec, path)
            .with_context(|| format!("internal error: the counterexample for {} did not re-check", p.name))?;
        if !args.no_traces {
            let (json, md) = trace::file_names(&args.traces, &sc.name, p.name);
            output::write_atomic(&json, serde_json::to_string_pretty(&t)?.as_bytes())?;
            output::write_atomic(&md, trace::render_markdown(&t).as_bytes())?;
            p.trace = Some(json);
        }
        traces.push(t);
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match args.format {
        FormatArg::Text => report::text(&results, &traces, &mut out)?,
        FormatArg::Json => report::json(&results, &mut out)?,
    }
    out.flush()?;
    Ok(match results.outcome() {
        Outcome::AsExpected => exit::AS_EXPECTED,
        Outcome::Differs => exit::DIFFERS,
        Outcome::Incomplete => exit::INCOMPLETE,
    })
}

fn load_trace(file: &Path) -> Result<Trace> {
    let text = std::fs::read_to_string(file).with_context(|| format!("{}: cannot read the trace file", file.display()))?;
    let de = &mut serde_json::Deserializer::from_str(&text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let field = e.path().to_string();
        anyhow::anyhow!("{}: field `{field}`: {}", file.display(), e.into_inner())
    })
}

fn validate_cmd(files: &[std::path::PathBuf]) -> Result<u8> {
    let mut failed = 0;
    for file in files {
        let t = load_trace(file)?;
        let sc = Scenario::load(&t.model_file)
            .and_then(|s| s.with_tabs(t.parameters.tabs))
            .with_context(|| format!("{}: its model file", file.display()))?;
        match trace::validate(&model::build(&sc), &t) {
            Ok(()) => println!("{}: ok ({} {} in {} steps)", file.display(), t.property, if t.kind == Kind::Always { "violated" } else { "reached" }, t.steps.len()),
            Err(why) => {
                failed += 1;
                println!("{}: FAILED: {why}", file.display());
            }
        }
    }
    Ok(if failed == 0 { exit::AS_EXPECTED } else { exit::DIFFERS })
}

fn show_cmd(file: &Path, format: ShowFormat) -> Result<u8> {
    let t = load_trace(file)?;
    let text = match format {
        ShowFormat::Text => format!("{} — {} ({} steps)\n{}", t.model, t.property, t.steps.len(), trace::render_text(&t)),
        ShowFormat::Mermaid => trace::render_mermaid(&t),
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    Ok(exit::AS_EXPECTED)
}
