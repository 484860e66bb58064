//! `refresh-check bench`: speed and memory of the search on the oracle model (the abstract
//! protocol of `shared/baselines`) and on every shipped model, optionally side by side with Spin
//! and TLC on the same N and R.
//!
//! Each run is a child process (this binary with the hidden `--single` argument), so each run's
//! peak RSS (`VmHWM` of `/proc/self/status`) is its own. "states/s" is unique states per second
//! of search, as Spin's "states, stored" and TLC's "distinct states" per second of wall time;
//! "B/state" is the run's peak RSS divided by its unique states.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use clap::ValueEnum;
use refresh_check::check::{self, CheckOptions};
use refresh_check::exit;
use refresh_check::oracle::{self, Oracle, OracleState};
use refresh_check::scenario::Scenario;
use refresh_check::search::{self, SearchConfig, Strategy};
use serde::{Deserialize, Serialize};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Tabs N of the oracle model (1 to 8).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u8).range(1..=8))]
    pub tabs: u8,

    /// Refreshes per tab R of the oracle model (0 to 15).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u8).range(0..=15))]
    pub refreshes: u8,

    /// Rotate the token on each refresh (the oracle's rotating space is counted with the
    /// property off).
    #[arg(long)]
    pub rotate: bool,

    /// Which oracle runs: with symmetry reduction, without, or both.
    #[arg(long, value_enum, default_value_t = Which::Both)]
    pub symmetry: Which,

    /// Which search orders for the oracle: `dfs` (exhaustive, least memory), `bfs` (shortest
    /// paths), or both.
    #[arg(long, value_enum, default_value_t = StrategyChoice::Both)]
    pub strategy: StrategyChoice,

    /// Folder of shipped model files to time (each with default bounds, shortest-path search).
    #[arg(long, value_name = "DIR", default_value = "models")]
    pub models: PathBuf,

    /// Skip the shipped models.
    #[arg(long)]
    pub no_models: bool,

    /// Also run Spin (`run-spin.sh`, exact mode) on the same N, R and rotation, and print ratios
    /// when the state counts agree. With `--rotate`, Spin runs with `-A` (assertions off), so
    /// that it explores the whole rotating space as the oracle does.
    #[arg(long)]
    pub vs_spin: bool,

    /// Also run TLC (`run-tlc.sh`, no symmetry) on the same N, R and rotation, and print ratios
    /// when the state counts agree. With `--rotate`, TLC runs without the invariant, so that it
    /// explores the whole rotating space as the oracle does.
    #[arg(long)]
    pub vs_tlc: bool,

    /// TLC worker threads.
    #[arg(long, default_value_t = 1)]
    pub tlc_workers: u8,

    /// Folder with `run-spin.sh` and `run-tlc.sh` [default: `../shared/baselines` from the
    /// repository].
    #[arg(long, value_name = "DIR")]
    pub baselines: Option<PathBuf>,

    /// Instead of the benchmark: for every shipped model and 2 to 6 tabs, the unique states
    /// with and without symmetry reduction (shortest-path search, default bounds otherwise).
    #[arg(long)]
    pub sweep: bool,

    /// Only the model files whose name contains one of these (repeatable).
    #[arg(long, value_name = "TEXT")]
    pub only: Vec<String>,

    /// Per-run time limit of `--sweep`, in seconds.
    #[arg(long, default_value_t = 30.0, value_name = "SECS", value_parser = refresh_check::limits::positive_seconds)]
    pub sweep_timeout: f64,

    /// Instead of the benchmark: the "protocol models" table (issue 16): four questions
    /// designers ask of the protocol models (`directus-10.11.1-session` with 3 and 4 tabs,
    /// `directus-10.11.1-session-replay` with 2 refreshes per tab and 2 ticks, and
    /// `broadcast-leader-closed-follower-refreshes` with 3 tabs and an attacker), each searched
    /// breadth-first until every property is decided or the space is exhausted, with 1 thread
    /// and with `--threads`, and with the `--before` binary if given, side by side.
    #[arg(long)]
    pub protocol: bool,

    /// With `--protocol`: another build of refresh-check (e.g. the previous release) to run the
    /// same questions with, side by side in the same run.
    #[arg(long, value_name = "BIN")]
    pub before: Option<PathBuf>,

    /// With `--protocol`: worker threads of the multi-threaded runs [default: every core].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub threads: Option<u16>,

    /// With `--protocol`: per-run time limit, in seconds.
    #[arg(long, default_value_t = 120.0, value_name = "SECS", value_parser = refresh_check::limits::positive_seconds)]
    pub protocol_timeout: f64,

    /// Run one job in this process and print its measurements as JSON (used by the benchmark
    /// itself, one child process per run).
    #[arg(long, hide = true)]
    pub single: Option<String>,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    On,
    Off,
    Both,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum StrategyChoice {
    Bfs,
    Dfs,
    Both,
}

/// One benchmark run.
#[derive(Clone, Debug, Serialize, Deserialize)]
enum Job {
    Oracle {
        tabs: u8,
        refreshes: u8,
        rotate: bool,
        symmetry: bool,
        bfs: bool,
    },
    /// A model file; `threads` is unknown to builds before issue 16, which ignore it and
    /// search with one thread.
    Model {
        file: PathBuf,
        tabs: Option<u8>,
        symmetry: bool,
        timeout: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        threads: Option<usize>,
        /// Reset dead values ([`refresh_check::model::dead`]); unknown to earlier builds, which
        /// ignore it (never sent to a `--before` build).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        dead_values: bool,
    },
}

/// What a run measured.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Measure {
    states: u64,
    unique_states: u64,
    seconds: f64,
    peak_rss_bytes: u64,
    search_bytes: u64,
    exhaustive: bool,
    /// CPU seconds of the whole run (model building included, every thread), from `getrusage`.
    cpu_seconds: f64,
    /// Bytes of the search's visited set (fingerprint table, parent links); 0 from builds that
    /// do not report it.
    #[serde(default)]
    visited_bytes: u64,
    /// The most full states the frontier held at once, a count; 0 from builds that do not
    /// report it.
    #[serde(default)]
    peak_frontier: u64,
    /// Resident bytes just before the search (program, model); 0 from builds that do not
    /// report it.
    #[serde(default)]
    base_rss_bytes: u64,
}

impl Measure {
    fn per_second(&self) -> f64 {
        self.unique_states as f64 / self.seconds.max(1e-9)
    }
    fn bytes_per_state(&self) -> f64 {
        self.peak_rss_bytes as f64 / self.unique_states.max(1) as f64
    }
    /// Bytes per state beyond the frontier: the visited set over the unique states.
    fn visited_per_state(&self) -> Option<f64> {
        (self.visited_bytes > 0).then(|| self.visited_bytes as f64 / self.unique_states.max(1) as f64)
    }
    /// Bytes per frontier state: what the peak RSS holds beyond the program and model (the
    /// resident bytes before the search) and the visited set, over the most states the frontier
    /// held at once. An estimate: allocator slack and freed memory not yet returned count too.
    fn frontier_per_state(&self) -> Option<f64> {
        (self.peak_frontier > 0 && self.base_rss_bytes > 0).then(|| {
            self.peak_rss_bytes.saturating_sub(self.base_rss_bytes + self.visited_bytes) as f64
                / self.peak_frontier as f64
        })
    }
}

/// The CPU time this process has run, in seconds, over all its threads (user and system time
/// of `getrusage(RUSAGE_SELF)`; 0 if unknown).
fn cpu_seconds() -> f64 {
    #[cfg(unix)]
    {
        // SAFETY: `getrusage` writes the struct it is given and nothing else.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } == 0 {
            let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
            return secs(ru.ru_utime) + secs(ru.ru_stime);
        }
    }
    0.0
}

/// The process's peak resident set size, from `VmHWM` in `/proc/self/status` (0 if unknown).
fn peak_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

fn run_job(job: &Job) -> Result<Measure> {
    match job {
        Job::Oracle { tabs, refreshes, rotate, symmetry, bfs } => {
            let model = Oracle::new(*tabs, *refreshes, *rotate, !*rotate).map_err(anyhow::Error::msg)?;
            let sym: Option<fn(OracleState) -> OracleState> = symmetry.then_some(oracle::representative);
            let strategy = if *bfs { Strategy::Bfs } else { Strategy::Dfs };
            let base_rss_bytes = refresh_check::limits::resident_bytes().unwrap_or(0);
            let out = search::search(&model, &SearchConfig { strategy, symmetry: sym, ..SearchConfig::default() });
            Ok(Measure {
                states: out.states,
                unique_states: out.unique_states,
                seconds: out.seconds,
                peak_rss_bytes: peak_rss_bytes(),
                search_bytes: out.memory_bytes,
                exhaustive: out.exhaustive,
                cpu_seconds: cpu_seconds(),
                visited_bytes: out.visited_bytes,
                peak_frontier: out.peak_frontier,
                base_rss_bytes,
            })
        }
        Job::Model { file, tabs, symmetry, timeout, threads, dead_values } => {
            let mut sc = Scenario::load(file)?;
            if let Some(t) = tabs {
                sc = sc.with_tabs(*t)?;
            }
            let opts = CheckOptions {
                symmetry: *symmetry,
                dead_values: *dead_values,
                deadline: timeout
                    .and_then(|t| std::time::Instant::now().checked_add(std::time::Duration::from_secs_f64(t))),
                threads: threads.unwrap_or(1),
                ..CheckOptions::default()
            };
            let base_rss_bytes = refresh_check::limits::resident_bytes().unwrap_or(0);
            let (_, r) = check::check(&sc, &opts);
            Ok(Measure {
                states: r.states,
                unique_states: r.unique_states,
                seconds: r.seconds,
                peak_rss_bytes: peak_rss_bytes(),
                search_bytes: 0,
                exhaustive: r.exhaustive,
                cpu_seconds: cpu_seconds(),
                visited_bytes: r.visited_bytes,
                peak_frontier: r.peak_frontier,
                base_rss_bytes,
            })
        }
    }
}

/// Runs `job` in a child process and reads its measurements.
fn spawn(job: &Job) -> Result<Measure> {
    spawn_with(&std::env::current_exe().context("locating this program")?, job)
}

/// Runs `job` in a child process of the program `exe` (this one or a `--before` build).
fn spawn_with(exe: &Path, job: &Job) -> Result<Measure> {
    let out = Command::new(exe)
        .args(["bench", "--single", &serde_json::to_string(job)?])
        .output()
        .context("starting a benchmark run")?;
    if !out.status.success() {
        bail!("benchmark run {job:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    serde_json::from_slice(&out.stdout).with_context(|| format!("reading the measurements of {job:?}"))
}

fn label(job: &Job) -> String {
    match job {
        Job::Oracle { tabs, refreshes, rotate, symmetry, bfs } => format!(
            "oracle N={tabs} R={refreshes} {} {}{}",
            if *rotate { "rotate" } else { "stable" },
            if *bfs { "bfs" } else { "dfs" },
            if *symmetry { " +symmetry" } else { "" }
        ),
        Job::Model { file, tabs, symmetry, .. } => format!(
            "{}{}{}",
            file.file_stem().unwrap_or_default().to_string_lossy(),
            tabs.map_or(String::new(), |t| format!(" {t} tabs")),
            if *symmetry { " +symmetry" } else { "" }
        ),
    }
}

/// A baseline checker's result line.
struct Baseline {
    line: String,
    states: f64,
    seconds: f64,
    peak_rss_bytes: f64,
}

impl Baseline {
    fn per_second(&self) -> f64 {
        self.states / self.seconds.max(1e-9)
    }
}

fn field(line: &str, key: &str) -> Option<f64> {
    line.split_whitespace().find_map(|w| w.strip_prefix(key).and_then(|v| v.parse::<f64>().ok()))
}

fn run_baseline(script: &Path, args: &[String], states_key: &str) -> Result<Baseline> {
    let out = Command::new("bash")
        .arg(script)
        .args(args)
        .output()
        .with_context(|| format!("running {}", script.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().last().unwrap_or_default().to_string();
    match (field(&line, states_key), field(&line, "wall_s="), field(&line, "peak_rss_kb=")) {
        (Some(states), Some(seconds), Some(kb)) => Ok(Baseline { line, states, seconds, peak_rss_bytes: kb * 1024.0 }),
        _ => bail!(
            "{} printed no result line (exit {:?}): {}{}",
            script.display(),
            out.status.code(),
            text,
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// A copy of `run-tlc.sh` and its specification in a temporary folder, with the script's
/// `INVARIANT` line left out, so that TLC explores the whole space instead of stopping at the
/// first violation.
fn tlc_without_invariant(dir: &Path) -> Result<Option<tempfile::TempDir>> {
    const LINE: &str = "echo \"INVARIANT NoSpuriousLogout\";";
    let script = std::fs::read_to_string(dir.join("run-tlc.sh"))
        .with_context(|| format!("{}: cannot read run-tlc.sh", dir.display()))?;
    if !script.contains(LINE) {
        bail!("{}: run-tlc.sh has no `{LINE}` to leave out; cannot run TLC without the invariant", dir.display());
    }
    let copy = tempfile::tempdir().context("a folder for the TLC run")?;
    std::fs::write(copy.path().join("run-tlc.sh"), script.replacen(LINE, "", 1))?;
    std::fs::copy(dir.join("TokenRefresh.tla"), copy.path().join("TokenRefresh.tla"))
        .with_context(|| format!("{}: cannot copy TokenRefresh.tla", dir.display()))?;
    Ok(Some(copy))
}

fn baselines_dir(arg: &Option<PathBuf>) -> Result<PathBuf> {
    if let Some(d) = arg {
        return Ok(d.clone());
    }
    let candidates =
        [Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/baselines"), PathBuf::from("../shared/baselines")];
    candidates
        .iter()
        .find(|d| d.join("run-spin.sh").is_file())
        .cloned()
        .context("no ../shared/baselines with run-spin.sh next to the repository; pass --baselines DIR")
}

fn mb(bytes: f64) -> String {
    format!("{:.1} MB", bytes / 1e6)
}

pub fn run(args: Args) -> Result<u8> {
    if let Some(spec) = &args.single {
        let job: Job = serde_json::from_str(spec).context("--single: expected a benchmark job in JSON")?;
        println!("{}", serde_json::to_string(&run_job(&job)?)?);
        return Ok(exit::AS_EXPECTED);
    }
    let (n, r, rotate) = (args.tabs, args.refreshes, args.rotate);
    Oracle::new(n, r, rotate, true).map_err(anyhow::Error::msg)?;
    let baselines = if args.vs_spin || args.vs_tlc { Some(baselines_dir(&args.baselines)?) } else { None };

    let mut jobs = Vec::new();
    for symmetry in [false, true] {
        if (symmetry && args.symmetry == Which::Off) || (!symmetry && args.symmetry == Which::On) {
            continue;
        }
        for bfs in [false, true] {
            if (bfs && args.strategy == StrategyChoice::Dfs) || (!bfs && args.strategy == StrategyChoice::Bfs) {
                continue;
            }
            jobs.push(Job::Oracle { tabs: n, refreshes: r, rotate, symmetry, bfs });
        }
    }
    if !args.no_models {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&args.models)
            .with_context(|| format!("{}: cannot list the model folder", args.models.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        if !args.only.is_empty() {
            files.retain(|f| {
                args.only.iter().any(|o| f.file_name().is_some_and(|n| n.to_string_lossy().contains(o.as_str())))
            });
        }
        if args.sweep {
            return sweep(&files, args.sweep_timeout);
        }
        if args.protocol {
            return protocol(&args);
        }
        jobs.extend(files.into_iter().map(|file| Job::Model {
            file,
            tabs: None,
            symmetry: false,
            timeout: None,
            threads: None,
            dead_values: false,
        }));
    }

    println!(
        "{:<36} {:>10} {:>9} {:>7} {:>7} {:>9} {:>10} {:>7}",
        "run", "states", "unique", "wall s", "cpu s", "states/s", "peak RSS", "B/state"
    );
    let mut results = Vec::new();
    for job in &jobs {
        let m = spawn(job)?;
        println!(
            "{:<36} {:>10} {:>9} {:>7.2} {:>7.2} {:>8.3}M {:>10} {:>7.1}{}",
            label(job),
            m.states,
            m.unique_states,
            m.seconds,
            m.cpu_seconds,
            m.per_second() / 1e6,
            mb(m.peak_rss_bytes as f64),
            m.bytes_per_state(),
            if m.exhaustive { "" } else { "  (not exhaustive)" }
        );
        results.push((job.clone(), m));
    }

    let oracle_run = |sym: bool, bfs: bool| {
        results.iter().find_map(|(j, m)| match j {
            Job::Oracle { symmetry, bfs: b, .. } if *symmetry == sym && *b == bfs => Some(m),
            _ => None,
        })
    };
    // The rotating space is counted with the property off; the baselines must not stop at its
    // first violation either: Spin with `-A` (no assertions), TLC without the invariant.
    let mut baseline_runs = Vec::new();
    if let Some(dir) = &baselines {
        if args.vs_spin {
            let mut spin_args = vec![n.to_string(), r.to_string(), u8::from(rotate).to_string()];
            if rotate {
                spin_args.extend([String::new(), "-A".to_string()]);
            }
            match run_baseline(&dir.join("run-spin.sh"), &spin_args, "states=") {
                Ok(b) => {
                    println!("{}", b.line);
                    baseline_runs.push((if rotate { "Spin exact -A" } else { "Spin exact" }, b));
                }
                Err(e) => println!("Spin: not compared: {e:#}"),
            }
        }
        if args.vs_tlc {
            let tlc_args = [
                n.to_string(),
                r.to_string(),
                if rotate { "TRUE" } else { "FALSE" }.to_string(),
                "nosym".to_string(),
                args.tlc_workers.to_string(),
            ];
            let ran = if rotate { tlc_without_invariant(dir) } else { Ok(None) }.and_then(|copy| {
                let script = copy.as_ref().map_or(dir.join("run-tlc.sh"), |d| d.path().join("run-tlc.sh"));
                run_baseline(&script, &tlc_args, "distinct=")
            });
            match ran {
                Ok(b) => {
                    println!("{}", b.line);
                    baseline_runs.push((if rotate { "TLC (no invariant)" } else { "TLC" }, b));
                }
                Err(e) => println!("TLC: not compared: {e:#}"),
            }
        }
    }

    println!();
    if let Some(dfs) = oracle_run(false, false) {
        for (name, b) in &baseline_runs {
            if let Err(why) = oracle::comparable(name, dfs.unique_states, b.states as u64) {
                println!("dfs vs {name}: {why}");
                continue;
            }
            println!(
                "dfs vs {name}: {:.2}x states/s ({:.3}M vs {:.3}M), {:.2}x less peak memory",
                dfs.per_second() / b.per_second(),
                dfs.per_second() / 1e6,
                b.per_second() / 1e6,
                b.peak_rss_bytes / dfs.peak_rss_bytes as f64
            );
        }
        if let Some(bfs) = oracle_run(false, true) {
            // Below 50 ms of CPU time per run the ratio is scheduling noise (or 0/0 when unknown).
            let by_cpu = if dfs.cpu_seconds.min(bfs.cpu_seconds) >= 0.05 {
                format!("{:.2}x", dfs.cpu_seconds / bfs.cpu_seconds)
            } else {
                "n/a (too short to time)".to_string()
            };
            println!(
                "bfs vs dfs (no symmetry): {:.2}x states/s by wall time, {by_cpu} by CPU time, {:.1} vs {:.1} B/state",
                bfs.per_second() / dfs.per_second(),
                bfs.bytes_per_state(),
                dfs.bytes_per_state()
            );
        }
        if let Some(sym) = oracle_run(true, false) {
            println!(
                "symmetry reduction: {} -> {} states ({:.1}x fewer)",
                dfs.unique_states,
                sym.unique_states,
                dfs.unique_states as f64 / sym.unique_states.max(1) as f64
            );
        }
    }
    let model_secs: f64 = results.iter().filter(|(j, _)| matches!(j, Job::Model { .. })).map(|(_, m)| m.seconds).sum();
    if !args.no_models {
        println!("shipped models: {model_secs:.2} s of search in total");
    }
    Ok(exit::AS_EXPECTED)
}

/// `--sweep`: unique states with and without symmetry reduction for 2 to 6 tabs.
fn sweep(files: &[PathBuf], timeout: f64) -> Result<u8> {
    println!("{:<44} {:>4} {:>12} {:>12} {:>7}  search", "model", "tabs", "states", "+symmetry", "ratio");
    for file in files {
        for tabs in 2..=6u8 {
            let run = |symmetry| {
                spawn(&Job::Model {
                    file: file.clone(),
                    tabs: Some(tabs),
                    symmetry,
                    timeout: Some(timeout),
                    threads: None,
                    dead_values: false,
                })
            };
            let (without, with) = (run(false)?, run(true)?);
            let show = |m: &Measure| format!("{}{}", m.unique_states, if m.exhaustive { "" } else { "+" });
            println!(
                "{:<44} {:>4} {:>12} {:>12} {:>6.1}x  {}",
                file.file_stem().unwrap_or_default().to_string_lossy(),
                tabs,
                show(&without),
                show(&with),
                without.unique_states as f64 / with.unique_states.max(1) as f64,
                match (without.exhaustive, with.exhaustive) {
                    (true, true) => "exhaustive",
                    (false, true) => "exhaustive with symmetry only",
                    _ => "stopped (all decided or time limit)",
                }
            );
            if !without.exhaustive && !with.exhaustive && without.seconds >= timeout {
                break;
            }
        }
    }
    Ok(exit::AS_EXPECTED)
}

/// A question of the "protocol models" table: a shipped model file with some fields replaced
/// (a JSON merge patch, RFC 7396: objects merge, other values replace).
struct Question {
    label: &'static str,
    file: &'static str,
    patch: serde_json::Value,
}

/// The questions of issue 16's "protocol models" table.
fn questions() -> Vec<Question> {
    use serde_json::json;
    vec![
        Question {
            label: "directus-10.11.1-session 3 tabs",
            file: "directus-10.11.1-session.json",
            patch: json!({"browser": {"tabs": 3}}),
        },
        Question {
            label: "directus-10.11.1-session 4 tabs",
            file: "directus-10.11.1-session.json",
            patch: json!({"browser": {"tabs": 4}}),
        },
        Question {
            label: "directus-10.11.1-session-replay R=2 T=2",
            file: "directus-10.11.1-session-replay.json",
            patch: json!({"browser": {"refreshes_per_tab": 2}, "time": {"max_ticks": 2}}),
        },
        Question {
            label: "broadcast-leader-closed 3 tabs +attacker",
            file: "broadcast-leader-closed-follower-refreshes.json",
            patch: json!({"browser": {"tabs": 3}, "attacker": {"attempts": 1, "modes": ["json"]}}),
        },
    ]
}

/// RFC 7396 JSON merge patch of `target` by `patch`.
fn merge_patch(target: &mut serde_json::Value, patch: &serde_json::Value) {
    match (target, patch) {
        (serde_json::Value::Object(t), serde_json::Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge_patch(t.entry(k.clone()).or_insert(serde_json::Value::Null), v);
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

/// `--protocol`: each question with the `--before` build (one thread, its own search), then
/// with this build on 1 thread and on `--threads`, side by side; where the question's tabs are
/// interchangeable, also the symmetry-reduced search on 1 thread (with the `--before` build
/// too, if given).
fn protocol(args: &Args) -> Result<u8> {
    let dir = tempfile::tempdir().context("a folder for the benchmark's model files")?;
    let threads = args.threads.map_or_else(search::default_threads, usize::from);
    println!(
        "protocol models: breadth-first until every property is decided or the space is exhausted; \
         limit {} s per run; B/state = peak RSS / unique states; frontier = most full states held at \
         once; B/front = (peak RSS - RSS before the search - visited set) / frontier; B/visit = \
         visited set (fingerprint table, parent links) / unique states",
        args.protocol_timeout
    );
    println!(
        "{:<42} {:<12} {:>10} {:>9} {:>7} {:>7} {:>9} {:>7} {:>10} {:>7} {:>9} {:>7} {:>8}",
        "question",
        "build",
        "states",
        "unique",
        "wall s",
        "cpu s",
        "states/s",
        "us/st",
        "peak RSS",
        "B/state",
        "frontier",
        "B/front",
        "B/visit"
    );
    // `us/st`: CPU microseconds per unique state (the whole run's CPU time, model building
    // included, over all threads): the per-state cost, unlike the wall time, does not depend on
    // what else the machine runs.
    let row = |label: &str, build: &str, m: &Measure, note: &str| {
        let opt = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{v:.1}"));
        println!(
            "{:<42} {:<12} {:>10} {:>9} {:>7.2} {:>7.2} {:>8.3}M {:>7.2} {:>10} {:>7.1} {:>9} {:>7} {:>8}{note}",
            label,
            build,
            m.states,
            m.unique_states,
            m.seconds,
            m.cpu_seconds,
            m.per_second() / 1e6,
            m.cpu_seconds * 1e6 / m.unique_states.max(1) as f64,
            mb(m.peak_rss_bytes as f64),
            m.bytes_per_state(),
            if m.peak_frontier > 0 { m.peak_frontier.to_string() } else { "-".into() },
            opt(m.frontier_per_state()),
            opt(m.visited_per_state())
        )
    };
    for q in questions() {
        let src = args.models.join(q.file);
        let text = std::fs::read_to_string(&src).with_context(|| format!("{}: cannot read", src.display()))?;
        let mut value: serde_json::Value =
            serde_json::from_str(&text).with_context(|| format!("{}: not JSON", src.display()))?;
        merge_patch(&mut value, &q.patch);
        // The question's verdicts are not the file's: without `expect`, every property is
        // searched for until decided.
        if let Some(o) = value.as_object_mut() {
            o.remove("expect");
        }
        let file = dir.path().join(q.file);
        std::fs::write(&file, serde_json::to_string_pretty(&value)?)?;
        let job_with = |threads, symmetry, dead_values| Job::Model {
            file: file.clone(),
            tabs: None,
            symmetry,
            timeout: Some(args.protocol_timeout),
            threads,
            dead_values,
        };
        let job = |threads| job_with(threads, false, false);
        // The symmetry-reduced search (`check`'s default where tabs are interchangeable), next
        // to the unreduced one, where the model's tabs are interchangeable.
        let reduced = Scenario::load(&file).is_ok_and(|sc| refresh_check::model::symmetry::supported(&sc));
        let mut runs: Vec<(String, Result<Measure>)> = Vec::new();
        if let Some(before) = &args.before {
            runs.push(("before".into(), spawn_with(before, &job(None))));
        }
        runs.push(("1 thread".into(), spawn(&job(Some(1)))));
        if reduced {
            if let Some(before) = &args.before {
                runs.push(("before +sym".into(), spawn_with(before, &job_with(Some(1), true, false))));
            }
            runs.push(("1 thr +sym".into(), spawn(&job_with(Some(1), true, false))));
        }
        if threads > 1 {
            runs.push((format!("{threads} threads"), spawn(&job(Some(threads)))));
        }
        // `check`'s default search: symmetry where the tabs are interchangeable, and dead values
        // reset where the model has a Directus server.
        let dead = Scenario::load(&file).is_ok_and(|sc| refresh_check::model::dead::applies(&sc));
        if dead {
            runs.push(("1 thr +dead".into(), spawn(&job_with(Some(1), reduced, true))));
            if threads > 1 {
                runs.push((format!("{threads} thr +dead"), spawn(&job_with(Some(threads), reduced, true))));
            }
        }
        for (build, m) in runs {
            match m {
                Ok(m) => row(
                    q.label,
                    &build,
                    &m,
                    if m.exhaustive {
                        ""
                    } else if m.seconds >= args.protocol_timeout {
                        "  (time limit)"
                    } else {
                        "  (all decided)"
                    },
                ),
                Err(e) => println!("{:<42} {:<12} failed: {e:#}", q.label, build),
            }
        }
    }
    // The reference: the oracle model (breadth-first, one thread, no symmetry).
    let oracle =
        Job::Oracle { tabs: args.tabs, refreshes: args.refreshes, rotate: args.rotate, symmetry: false, bfs: true };
    row(&label(&oracle), "1 thread", &spawn(&oracle)?, "");
    Ok(exit::AS_EXPECTED)
}
