//! `refresh-check check MODEL...`: every property of one or more model files, traces, a report.
//!
//! The search options, the trace and report options and the runner are shared with `matrix`
//! ([`RunArgs`], [`execute`]).

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::ValueEnum;
use refresh_check::check::{self, CheckOptions, Outcome};
use refresh_check::golden::{self, Mode};
use refresh_check::progress::{self, Counters, Meter, Show};
use refresh_check::properties::{self, Kind};
use refresh_check::report::{self, ModelReport, ShardInfo, SuiteReport, Traces};
use refresh_check::scenario::{Scenario, Verdict};
use refresh_check::search::Strategy;
use refresh_check::suite::{self, Shard};
use refresh_check::{accept, exit, output, trace};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Model files (JSON), or folders: every `*.json` under a folder, sorted by path.
    #[arg(required = true, value_name = "MODEL")]
    pub models: Vec<PathBuf>,

    /// Report format: `text` for people; `json` (one object for a single model file, else a
    /// suite object with `models` and `totals`); `junit` (XML test report); `github` (workflow
    /// annotations); `markdown` (the verdict matrix).
    #[arg(long, value_enum, default_value_t = FormatArg::Text, help_heading = "Output")]
    pub format: FormatArg,

    /// Write the verdicts found into each model file's `expect` block (in catalogue order;
    /// with `--property`, only those entries; the file's other fields are kept in their
    /// order), replacing the file atomically, and list what changed on stderr. Only after a
    /// complete search of every model file: otherwise nothing is written (exit 3). Refused
    /// (exit 2) with `--shard`, and with a `--tabs` other than a file's `browser.tabs`.
    #[arg(long, help_heading = "Output", conflicts_with_all = ["shard", "partition"])]
    pub accept: bool,

    /// Also answer the scenario queries and invariants of FILE (`{"queries": [...]}`, see
    /// docs/queries.md) on every model file, after the model files' own `queries`: reachable
    /// or unreachable with the shortest matching run, written as
    /// `<model>.query-<name>.json` and `.md` in the traces folder; the json, junit and markdown
    /// reports (and `--report`) carry every answer. An answer other than a query's `expect` is
    /// exit 1; an unknown one exit 3.
    #[arg(long, value_name = "FILE", conflicts_with = "shard")]
    pub query: Option<PathBuf>,

    #[command(flatten)]
    pub run: RunArgs,
}

/// Options shared by `check` and `matrix`.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Number of tabs, overriding each model file's `browser.tabs` (1 to 6).
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=6))]
    pub tabs: Option<u8>,

    /// Check only property NAME (repeatable; `refresh-check properties` lists them). Reports
    /// and golden traces cover only these; the golden traces of the others are left alone,
    /// also with `--update-traces`.
    #[arg(long = "property", value_name = "NAME", value_parser = properties::parse_name)]
    pub properties: Vec<&'static str>,

    /// Search order. `bfs` reports shortest counterexamples directly; `dfs` uses less memory
    /// and shortens what it finds with a bounded breadth-first search.
    #[arg(long, value_enum, default_value_t = StrategyArg::Bfs, help_heading = "Search bounds")]
    pub strategy: StrategyArg,

    /// Explore paths of at most D actions. A search cut short by this bound is incomplete
    /// (exit 3) unless every property was decided.
    #[arg(long, value_name = "D", help_heading = "Search bounds")]
    pub max_depth: Option<usize>,

    /// Symmetry reduction over tabs, on by default where a model's tabs are interchangeable
    /// (identical tab configurations, no tab with a role of its own; see the README's
    /// "Reductions"): store one state per set of states that differ only in tab names. Same
    /// verdicts and shortest counterexample lengths, fewer states. Accepted for clarity; the
    /// last of `--symmetry` and `--no-symmetry` wins.
    #[arg(long, overrides_with = "no_symmetry", help_heading = "Search bounds")]
    pub symmetry: bool,

    /// Search the unreduced state space: every tab renaming is a state of its own (the full
    /// count, as stateright and TLC without symmetry sets report it).
    #[arg(long, overrides_with = "symmetry", help_heading = "Search bounds")]
    pub no_symmetry: bool,

    /// Do not reset dead values: by default, values of the server's state that no later step
    /// and no property reads again (a drawn token no step will use, acceptance ticks that can
    /// no longer break a property) are set to a canonical one, so that states differing only
    /// in them are stored once (see "Dead-value reduction" in `docs/performance.md`). Same verdicts,
    /// shortest counterexamples and traces; this gives the count without it.
    #[arg(long, help_heading = "Search bounds")]
    pub no_dead_values: bool,

    /// Stop after N unique states (incomplete, exit 3).
    #[arg(long, value_name = "N", help_heading = "Search bounds")]
    pub max_states: Option<u64>,

    /// End the whole run within SECS seconds (every model file, the shortening of depth-first
    /// counterexamples included; up to 10^9): what is undecided then is `unknown`, exit 3.
    #[arg(long, value_name = "SECS", value_parser = refresh_check::limits::positive_seconds, help_heading = "Search bounds")]
    pub timeout: Option<f64>,

    /// Stop once the process holds MiB mebibytes of memory (resident set; incomplete, exit 3).
    #[arg(long, value_name = "MiB", value_parser = clap::value_parser!(u64).range(1..), help_heading = "Search bounds")]
    pub max_memory: Option<u64>,

    /// Worker threads of the breadth-first search (the depth-first search's shortening
    /// included), 1 to 256. Verdicts, state counts and counterexamples are the same whatever
    /// the number; more threads than cores only adds synchronisation [default: every core the
    /// process may run on].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256), help_heading = "Search bounds")]
    pub threads: Option<u16>,

    /// Check only shard I of N: the (model file, property) units, models sorted by path and
    /// properties in catalogue order, cut into N consecutive runs of near-equal length.
    /// `matrix --merge` combines the shards' JSON reports.
    #[arg(long, value_name = "I/N", help_heading = "Search bounds")]
    pub shard: Option<Shard>,

    /// Search only partition I of N of each model's breadth-first search: the states at depth
    /// `--partition-depth` are split by a hash, and this run goes on from its share only (see
    /// the README's "Splitting one search over machines"). `matrix --merge` combines the N
    /// JSON reports into the whole search's verdicts and shortest counterexample lengths.
    /// Breadth-first only; with `--no-traces` (a partition's counterexample may be another of
    /// the same length than the whole search's).
    #[arg(long, value_name = "I/N", requires = "no_traces", conflicts_with = "shard", help_heading = "Search bounds")]
    pub partition: Option<refresh_check::partition::PartitionArg>,

    /// The depth, in actions, of the level whose states `--partition` splits.
    #[arg(long, value_name = "D", default_value_t = refresh_check::partition::DEFAULT_DEPTH, requires = "partition", help_heading = "Search bounds")]
    pub partition_depth: usize,

    /// Folder of counterexample traces (`<model>.<property>.json` and `.md`). A trace that is
    /// not there is written; one that is there is a golden trace: it must equal the
    /// counterexample found, or the check fails (exit 1) naming its first differing step.
    #[arg(long, value_name = "DIR", default_value = "traces", help_heading = "Output")]
    pub traces: PathBuf,

    /// Up to N counterexamples per violated invariant that differ in mechanism (the set of
    /// protocol decisions, each a step's rule, made along the path; for a model without a
    /// `protocol`, the set of its steps' action names), each the shortest of its kind among the
    /// paths of the breadth-first tree (one path per stored state, so the list depends on the
    /// reductions; README "--counterexamples"), found by a second breadth-first search within the
    /// same limits. The first is the usual (golden)
    /// trace; the k-th, k >= 2, is written to `<model>.<property>.<k>.json` and `.md`,
    /// overwritten at each run (never compared as golden traces). Verdicts and exit codes are
    /// those of the check.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=100), help_heading = "Output")]
    pub counterexamples: u64,

    /// Do not read or write trace files.
    #[arg(long, help_heading = "Output", conflicts_with_all = ["update_traces", "traces"])]
    pub no_traces: bool,

    /// Rewrite the golden traces: write every counterexample found, remove the trace files of
    /// properties no longer violated.
    #[arg(long, help_heading = "Output")]
    pub update_traces: bool,

    /// Write the report to FILE instead of stdout; a short summary goes to stderr. A regular
    /// file is replaced atomically; a device, FIFO or symbolic link (`/dev/stdout`) is written
    /// in place. FILE may not be a model file or trace file of the run.
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub report: Option<PathBuf>,

    /// Show search progress on stderr even when it is not a terminal (a line every 2 s).
    #[arg(long, help_heading = "Output", conflicts_with = "quiet")]
    pub progress: bool,

    /// No progress and no summary on stderr (errors still go there). With `check --accept` and
    /// no `--report`, no report on stdout either: the rewritten model files are the output.
    #[arg(long, short, help_heading = "Output")]
    pub quiet: bool,
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
    Junit,
    Github,
    Markdown,
}

/// What a run found: the suite report, the traces built (for reports that print steps), and
/// the trace files that could not be written (the report is still delivered; then exit 2).
pub struct Ran {
    pub suite: SuiteReport,
    pub traces: Traces,
    pub unwritten: Vec<output::OutputError>,
    /// The model files loaded (once: the queries are answered on these).
    pub scenarios: Vec<Scenario>,
    /// The run's one deadline (`--timeout`), for the queries answered after the properties.
    pub deadline: Option<Instant>,
    /// Set on Ctrl-C or SIGTERM: the queries answered after the properties stop too.
    pub cancel: Option<Arc<std::sync::atomic::AtomicBool>>,
}

/// Before any search: the events of every model file's own queries, and of the query file
/// `extra` (`--query`, compiled as `queries`), name only actions, rules and steps the model
/// can show. The error names the file, the line and the field (exit 2).
/// `tabs` is the run's `--tabs`, named in an error about a model's own query (written for the
/// file's tab count).
fn check_query_names(
    scenarios: &[Scenario],
    extra: Option<(&Path, &str, &[refresh_check::query::Query])>,
    tabs: Option<u8>,
) -> Result<()> {
    use refresh_check::query;
    for sc in scenarios {
        let needs = !sc.queries.is_empty() || extra.is_some_and(|(_, _, q)| !q.is_empty());
        if !needs {
            continue;
        }
        let m = refresh_check::model::build(sc);
        let at = query::located;
        if let Err(e) = query::check_names(&sc.queries, "queries", &m, false) {
            match tabs {
                Some(t) => anyhow::bail!(
                    "{} (with the run's --tabs {t}: the file's own queries are written for its `browser.tabs`)",
                    at(&sc.path, &e)
                ),
                None => anyhow::bail!("{}", at(&sc.path, &e)),
            }
        }
        if let Some((file, text, queries)) = extra {
            // The file's own queries and the query file's are answered together, each trace named
            // after its query: one name for two queries would write both to one trace file.
            if let Some((i, q)) = queries.iter().enumerate().find(|(_, q)| sc.queries.iter().any(|o| o.name == q.name))
            {
                let e = query::QueryError {
                    field: format!("queries[{i}].name"),
                    found: q.name.clone(),
                    message: format!(
                        "model file {} has a query of this name already (expected a name none of its own queries uses: each query's trace is named after it)",
                        sc.path.display()
                    ),
                };
                anyhow::bail!("{}", query::located_in(file, text, &e));
            }
            // A query file answered on several model files may name actors only some have.
            if let Err(e) = query::check_names(queries, "queries", &m, scenarios.len() > 1) {
                anyhow::bail!("{} (on model {})", query::located_in(file, text, &e), sc.path.display());
            }
        }
    }
    Ok(())
}

/// The model file's `server` (or `auth_server`) section in one line, `key=value ...` (the policy
/// checked); for a `protocol` section, its rules' names; for a hand-written `session_server`,
/// its refresh handler's steps (the middleware's first) with their rules' names.
fn policy_line(sc: &Scenario) -> String {
    let text = refresh_check::input::read_text(&sc.path).unwrap_or_default();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    match value.get("server").or_else(|| value.get("auth_server")) {
        Some(serde_json::Value::Object(o)) => o
            .iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => format!("{k}={s}"),
                other => format!("{k}={other}"),
            })
            .collect::<Vec<_>>()
            .join(" "),
        _ => match &sc.protocol_spec {
            Some(p) if p.refresh.steps.is_empty() => {
                let names: Vec<&str> = p.refresh.rules.iter().map(|r| r.name.as_str()).collect();
                format!("protocol rules: {}", names.join("; "))
            }
            Some(p) => {
                let steps: Vec<String> = p
                    .refresh
                    .steps
                    .iter()
                    .map(|st| {
                        let names: Vec<&str> = st.rules.iter().map(|r| r.name.as_str()).collect();
                        format!("{} [{}]", st.name, names.join("; "))
                    })
                    .collect();
                format!("protocol steps: {}", steps.join(" → "))
            }
            None => match (&sc.session_server, &sc.session_server_spec) {
                (Some(_), Some(spec)) => {
                    let steps: Vec<String> = spec
                        .middleware
                        .iter()
                        .flat_map(|m| m.steps.iter())
                        .chain(spec.refresh.steps.iter())
                        .map(|st| {
                            let names: Vec<&str> = st.rules.iter().map(|r| r.name.as_str()).collect();
                            format!("{} [{}]", st.name, names.join("; "))
                        })
                        .collect();
                    format!("session_server refresh: {}", steps.join(" → "))
                }
                _ => String::new(),
            },
        },
    }
}

/// The properties the run checks (`--property`, or the whole catalogue), in catalogue order.
fn selected(run: &RunArgs) -> impl Iterator<Item = &'static properties::PropertySpec> + '_ {
    properties::ALL.iter().filter(|p| run.properties.is_empty() || run.properties.contains(&p.name))
}

fn show(run: &RunArgs) -> Show {
    let tty = std::io::stderr().is_terminal();
    match (run.quiet, run.progress, tty) {
        (true, _, _) => Show::Off,
        (false, _, true) => Show::Terminal,
        (false, true, false) => Show::Lines,
        (false, false, false) => Show::Off,
    }
}

/// Loads, plans and checks the suite; writes or compares the traces. Bad input is reported
/// before any search starts and before anything is written.
pub fn execute(
    paths: &[PathBuf],
    run: &RunArgs,
    queries: Option<(&Path, &str, &[refresh_check::query::Query])>,
) -> Result<Ran> {
    // One deadline for the whole run; none if it lies past what the clock can count.
    let deadline = run.timeout.and_then(|t| Instant::now().checked_add(Duration::from_secs_f64(t)));
    if run.partition.is_some() {
        if matches!(run.strategy, StrategyArg::Dfs) {
            anyhow::bail!("--partition: only a breadth-first search is partitioned (--strategy bfs)");
        }
        if run.counterexamples > 1 {
            anyhow::bail!("--partition: --counterexamples searches the whole space; give one or the other");
        }
    }
    let scenarios = suite::load(paths, run.tabs)?;
    check_query_names(&scenarios, queries, run.tabs)?;
    // A model that loads but may not say what its designer meant (`Scenario::warnings`): said
    // once per model, before any search, unless `--quiet`.
    for sc in scenarios.iter().filter(|_| !run.quiet) {
        for w in sc.warnings() {
            eprintln!("warning: {}: {w}", sc.path.display());
        }
    }
    if let Some(r) = &run.report {
        output::refuse_input(r, scenarios.iter().map(|sc| &sc.path), "model file")?;
        if !run.no_traces {
            let names: Vec<PathBuf> = scenarios
                .iter()
                .flat_map(|sc| {
                    selected(run).flat_map(|p| {
                        let (json, md) = trace::file_names(&run.traces, &sc.name, p.name);
                        [json, md]
                    })
                })
                .collect();
            output::refuse_input(r, &names, "trace file")?;
        }
        if !output::writes_in_place(r) {
            let dir = r.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
            output::prepare_dir(dir).with_context(|| format!("--report {}", r.display()))?;
        }
    }
    if !run.no_traces {
        output::prepare_dir(&run.traces)?;
        for sc in &scenarios {
            for (json, md) in selected(run).map(|p| trace::file_names(&run.traces, &sc.name, p.name)) {
                output::check_target(&json).and_then(|()| output::check_target(&md))?;
                let models = scenarios.iter().map(|sc| &sc.path);
                output::refuse_input(&json, models.clone(), "model file")?;
                output::refuse_input(&md, models, "model file")?;
            }
        }
    }
    if let Some(r) = &run.report {
        output::check_target(r)?;
    }
    let cancel = refresh_check::interrupt::install().map_err(|e| eprintln!("warning: {e}")).ok();
    let plan = suite::plan_of(scenarios.len(), run.shard, &run.properties);
    let show = show(run);
    let counters = Arc::new(Counters::default());
    let mode = if run.update_traces { Mode::Update } else { Mode::Compare };
    let mut models = Vec::new();
    let mut traces = Traces::new();
    let mut unwritten = Vec::new();
    let n = plan.models.len();
    for (k, (ix, props)) in plan.models.iter().enumerate() {
        let sc = &scenarios[*ix];
        let opts = CheckOptions {
            strategy: run.strategy.into(),
            max_depth: run.max_depth,
            max_states: run.max_states,
            deadline,
            symmetry: run.symmetry || !run.no_symmetry,
            dead_values: !run.no_dead_values,
            cancel: cancel.clone(),
            max_memory: run.max_memory.map(|m| m.saturating_mul(refresh_check::limits::MIB)),
            properties: (props.len() < properties::ALL.len()).then(|| props.iter().map(|p| p.to_string()).collect()),
            progress: Some(counters.clone()),
            counterexamples: run.counterexamples as usize,
            threads: run.threads.map_or_else(refresh_check::search::default_threads, usize::from),
            partition: run.partition.map(|p| refresh_check::partition::Partition {
                index: p.index,
                count: p.count,
                depth: run.partition_depth,
                initial_fingerprint: None,
                file_hash: None,
            }),
        };
        let meter = Meter::start(show, format!("[{}/{n}] {}", k + 1, sc.name), counters.clone());
        let (model, mut results) = check::check(sc, &opts);
        meter.finish(progress::Snapshot {
            states: results.states,
            unique_states: results.unique_states,
            depth: results.max_depth as u64,
        });
        let mut golden = Vec::new();
        for p in &results.properties {
            let spec = properties::by_name(p.name).expect("results name catalogue properties");
            let found = match (&p.path, p.status) {
                (Some(path), Verdict::Violated) => {
                    debug_assert_eq!(spec.kind, Kind::Always);
                    let t =
                        trace::build(&model, &sc.path, &sc.name, sc.browser.tabs, spec, path).with_context(|| {
                            format!("internal error: the counterexample for {} {} did not re-check", sc.name, p.name)
                        })?;
                    Some(t)
                }
                _ => None,
            };
            golden.push(if run.no_traces {
                None
            } else if found.is_some() && !p.shortest {
                Some(golden::unshortened(&run.traces, &sc.name, spec))
            } else {
                match golden::settle(&model, &run.traces, &sc.name, spec, p.status, found.as_ref(), mode) {
                    Ok(g) => g,
                    Err(e) => {
                        unwritten.push(e); // the report is still delivered; then exit 2
                        None
                    }
                }
            });
            if let Some(t) = found {
                traces.insert((sc.name.clone(), p.name.to_string()), t);
            }
        }
        // The k-th counterexample (k >= 2) of `--counterexamples`: written, never compared.
        for p in &mut results.properties {
            let spec = properties::by_name(p.name).expect("results name catalogue properties");
            for (k, cx) in p.counterexamples.iter_mut().enumerate().skip(1) {
                let path = trace::decode_path(&cx.path).expect("an encoded path decodes");
                let t = trace::build(&model, &sc.path, &sc.name, sc.browser.tabs, spec, &path).with_context(|| {
                    format!("internal error: counterexample {} for {} {} did not re-check", k + 1, sc.name, p.name)
                })?;
                if run.no_traces {
                    continue;
                }
                let (json, md) = trace::numbered_file_names(&run.traces, &sc.name, p.name, k + 1);
                let written = output::write_atomic(&json, golden::to_json(&t).as_bytes())
                    .and_then(|()| output::write_atomic(&md, trace::render_markdown(&t).as_bytes()));
                match written {
                    Ok(()) => cx.trace = Some(json),
                    Err(e) => unwritten.push(e),
                }
            }
        }
        models.push(ModelReport::new(&results, policy_line(sc), golden));
    }
    let shard = run.shard.map(|s| ShardInfo {
        index: s.index,
        count: s.count,
        units: plan.units,
        units_total: plan.units_total,
    });
    Ok(Ran { suite: SuiteReport::new(models, shard), traces, unwritten, scenarios, deadline, cancel })
}

/// The exit code for an outcome.
pub fn exit_code(o: Outcome) -> u8 {
    match o {
        Outcome::AsExpected => exit::AS_EXPECTED,
        Outcome::Differs => exit::DIFFERS,
        Outcome::Incomplete => exit::INCOMPLETE,
    }
}

/// Writes `bytes` to the report file (atomically) or to stdout, and the summary to stderr when
/// the report is not text on stdout (unless `--quiet`).
pub fn deliver(bytes: &[u8], suite: &SuiteReport, run: &RunArgs, text_on_stdout: bool) -> Result<()> {
    match &run.report {
        Some(file) => output::write_atomic(file, bytes)?,
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(bytes)?;
            out.flush()?;
        }
    }
    let report_on_stdout_is_the_summary = run.report.is_none() && text_on_stdout;
    if !run.quiet && !report_on_stdout_is_the_summary {
        let mut err = std::io::stderr().lock();
        report::text::summary(suite, &mut err)?;
        if let Some(file) = &run.report {
            writeln!(err, "report: {}", file.display())?;
        }
    }
    Ok(())
}

/// Before any search, for `--accept`: every model file is a regular file (through symbolic
/// links) that can be replaced, in a folder where files can be written, and is checked with
/// its own tab count (a `--tabs` other than its `browser.tabs` would write the verdicts of
/// another model). Returns each file's text as it was before the search.
fn accept_preflight(paths: &[PathBuf], run: &RunArgs) -> Result<Vec<(PathBuf, String)>> {
    let mut texts = Vec::new();
    for file in suite::json_files(paths, "model file")? {
        let shown = file.display();
        let target = file.canonicalize().with_context(|| format!("{shown}: cannot read the model file"))?;
        let meta = std::fs::metadata(&target).with_context(|| format!("{shown}: cannot read the model file"))?;
        if !meta.is_file() {
            anyhow::bail!("{shown}: --accept: not a regular file; expected a model file that can be rewritten");
        }
        if meta.permissions().readonly() {
            anyhow::bail!("{shown}: --accept: the model file is read-only; expected a file that can be rewritten");
        }
        let dir = target.parent().unwrap_or(Path::new("."));
        output::prepare_dir(dir).with_context(|| format!("{shown}: --accept"))?;
        if let Some(tabs) = run.tabs {
            let own = Scenario::load(&file)?.browser.tabs;
            if own != tabs {
                anyhow::bail!(
                    "{shown}: field `browser.tabs`: found {own}, expected {tabs} (the run's --tabs): --accept writes \
                     the verdicts of the file's own tab count only; run without --tabs, or set `browser.tabs` first"
                );
            }
        }
        let text =
            refresh_check::input::read_text(&file).with_context(|| format!("{shown}: cannot read the model file"))?;
        texts.push((file, text));
    }
    Ok(texts)
}

/// What `--accept` did.
enum Acceptance {
    /// Every model file's search was complete; these files were written (with their changes),
    /// the others had nothing to change.
    Done,
    /// Some search was incomplete: nothing was written.
    Refused,
}

/// Writes the verdicts of `suite` into its model files' `expect` blocks ([`accept`]) when
/// every search was complete; says what changed on stderr (unless `quiet`). Every new text is
/// computed and validated before the first file is written; a file that changed since
/// `before` (its text when the run started) is bad input, and nothing is written.
fn accept_verdicts(suite: &SuiteReport, before: &[(PathBuf, String)], quiet: bool) -> Result<Acceptance> {
    let incomplete: Vec<String> = suite
        .models
        .iter()
        .filter(|m| !m.complete)
        .map(|m| {
            let ending = serde_json::to_value(m.ending).ok().and_then(|v| v.as_str().map(str::to_owned));
            format!("{} (search ending: {})", m.file.display(), ending.unwrap_or_default())
        })
        .collect();
    if !incomplete.is_empty() {
        eprintln!(
            "error: --accept: nothing written: the search was incomplete for {}; expected every verdict final \
             (raise or drop --max-depth, --max-states, --timeout, --max-memory)",
            refresh_check::message::escape_controls(&incomplete.join(", "))
        );
        return Ok(Acceptance::Refused);
    }
    let mut writes = Vec::new();
    for m in &suite.models {
        let found: Vec<(&'static str, Verdict)> = m
            .properties
            .iter()
            .filter_map(|p| properties::by_name(&p.name).map(|spec| (spec.name, p.status)))
            .collect();
        let text = refresh_check::input::read_text(&m.file)
            .with_context(|| format!("{}: cannot read the model file again", m.file.display()))?;
        if before.iter().any(|(f, t)| *f == m.file && *t != text) {
            anyhow::bail!(
                "{}: --accept: the model file changed during the search; nothing written (expected the file that was checked; run again)",
                m.file.display()
            );
        }
        let accepted =
            accept::accept(&text, &found).map_err(|e| anyhow::anyhow!("{}: --accept: {e}", m.file.display()))?;
        if !accepted.changes.is_empty() {
            Scenario::parse(&m.file, &accepted.text)
                .with_context(|| format!("internal error: --accept would make {} invalid", m.file.display()))?;
        }
        writes.push((m.file.clone(), accepted));
    }
    let mut err = std::io::stderr().lock();
    for (file, accepted) in &writes {
        let shown = refresh_check::message::escape_controls(&file.display().to_string()).into_owned();
        if accepted.changes.is_empty() {
            if !quiet {
                writeln!(err, "accept: {shown}: expect unchanged (not rewritten)")?;
            }
            continue;
        }
        let target = file.canonicalize().with_context(|| format!("{shown}: cannot read the model file"))?;
        output::write_atomic(&target, accepted.text.as_bytes()).with_context(|| format!("--accept {shown}"))?;
        if !quiet {
            let n = accepted.changes.len();
            writeln!(err, "accept: {shown}: {n} {} written", if n == 1 { "entry" } else { "entries" })?;
            for c in &accepted.changes {
                writeln!(err, "  {c}")?;
            }
        }
    }
    Ok(Acceptance::Done)
}

/// `suite` with every final verdict expected, as after `--accept` wrote them.
fn as_accepted(suite: SuiteReport) -> SuiteReport {
    let shard = suite.shard;
    let mut models = suite.models;
    for m in &mut models {
        for p in &mut m.properties {
            if p.status != Verdict::Unknown {
                p.expected = Some(p.status);
                p.as_expected = Some(true);
            }
        }
    }
    SuiteReport::new(models, shard)
}

pub fn run(args: Args) -> Result<u8> {
    let (extra, extra_text) = match &args.query {
        Some(q) => refresh_check::query::load_file_text(q).map_err(anyhow::Error::msg)?, // bad input before any search
        None => (Vec::new(), String::new()),
    };
    if let Some(n) = args.run.threads.filter(|n| *n > 1 && matches!(args.run.strategy, StrategyArg::Dfs)) {
        eprintln!("warning: --threads {n}: the depth-first search runs on one thread; the threads serve only the breadth-first shortening of the counterexamples it finds");
    }
    let before = if args.accept { accept_preflight(&args.models, &args.run)? } else { Vec::new() };
    let single = args.models.len() == 1 && args.models[0].is_file() && args.run.shard.is_none();
    let queries = args.query.as_deref().map(|q| (q, extra_text.as_str(), &extra[..]));
    let Ran { mut suite, traces, unwritten, scenarios, deadline, cancel } = execute(&args.models, &args.run, queries)?;
    let mut refused = false;
    if args.accept {
        match accept_verdicts(&suite, &before, args.run.quiet)? {
            Acceptance::Done => suite = as_accepted(suite),
            Acceptance::Refused => refused = true,
        }
    }
    // The queries are answered before the report is written, so that every format carries
    // their answers (a shard answers none).
    let answers = match args.run.shard {
        Some(_) => Vec::new(),
        None => super::queries::answer_all(&scenarios, &args.run, &extra, deadline, cancel)?,
    };
    super::queries::attach(&answers, &mut suite);
    let mut buf = Vec::new();
    match (args.format, single) {
        (FormatArg::Text, true) => report::text::model(&suite.models[0], &traces, &mut buf)?,
        (FormatArg::Text, false) => report::text::suite(&suite, &traces, &mut buf)?,
        (FormatArg::Json, true) => report::json_value(&suite.models[0], &mut buf)?,
        (FormatArg::Json, false) => report::json_value(&suite, &mut buf)?,
        (FormatArg::Junit, _) => report::junit::write(&suite, &traces, &mut buf)?,
        (FormatArg::Github, _) => report::github::write(&suite, &mut buf)?,
        (FormatArg::Markdown, _) => report::table::markdown(&suite, &mut buf)?,
    }
    // `--accept --quiet`: the model files it rewrites are the output; a report goes only to
    // a `--report` file.
    let silent = args.accept && args.run.quiet && args.run.report.is_none();
    if !silent {
        deliver(&buf, &suite, &args.run, args.format == FormatArg::Text)?;
    }
    if let Some(e) = unwritten.into_iter().next() {
        return Err(e.into());
    }
    if refused {
        return Ok(exit::INCOMPLETE);
    }
    let code = exit_code(suite.outcome);
    if args.run.shard.is_some() {
        // Say so: the shard's summary covers verdicts only.
        let with_queries = scenarios.iter().filter(|sc| !sc.queries.is_empty()).count();
        if with_queries > 0 && !args.run.quiet {
            eprintln!(
                "note: {with_queries} model file(s) carry queries, which a shard does not answer; \
                 run `check` without --shard for their answers"
            );
        }
        return Ok(code);
    }
    let mut text = Vec::new();
    super::queries::write_text(&answers, &mut text)?;
    match (args.format, &args.run.report) {
        (FormatArg::Text, None) if !silent => std::io::stdout().write_all(&text)?,
        _ if !args.run.quiet => std::io::stderr().write_all(&text)?,
        _ => {}
    }
    Ok(super::queries::combine(code, super::queries::exit_code(&answers)))
}
