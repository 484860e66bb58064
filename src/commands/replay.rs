//! `refresh-check replay`: replay a trace against a real Directus server on 127.0.0.1.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use refresh_check::replay::{self, client::Client, Options, Verdict};
use refresh_check::scenario::Scenario;
use refresh_check::{check, exit, model, properties, trace};

/// Replay a trace's HTTP exchanges against a real Directus and compare each reply with the
/// model.
///
/// Exit codes: 0 reproduced (the server followed the trace); 1 diverged (the server answered
/// something the model does not allow); 2 bad input, unreachable target or refused sign-in;
/// 3 not reproduced (every reply was allowed, but the trace's interleaving did not occur in
/// `--tries` tries).
#[derive(clap::Args, Debug)]
pub struct Args {
    /// A trace file (`.json`), as written by `refresh-check check` (also the numbered files of
    /// `--counterexamples`, `MODEL.PROPERTY.K.json`).
    #[arg(required_unless_present = "model", conflicts_with_all = ["model", "property"])]
    pub trace: Option<PathBuf>,
    /// Instead of a trace file: check this model file and replay the shortest path that
    /// violates (`always`) or reaches (`sometimes`) `--property`.
    #[arg(long, requires = "property")]
    pub model: Option<PathBuf>,
    /// The property whose path to replay, with `--model`.
    #[arg(long, requires = "model")]
    pub property: Option<String>,
    /// The server's base URL; only loopback addresses (127.0.0.0/8, localhost, [::1]).
    #[arg(long)]
    pub target: String,
    /// The e-mail of a user of the target (a throwaway admin).
    #[arg(long)]
    pub email: String,
    /// That user's password.
    #[arg(long)]
    pub password: String,
    /// Tries at most (1 or more); each signs in afresh and replays the whole trace.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    pub tries: u32,
    /// Seconds of wall-clock time per model tick: the requests of tick t go out t ticks after
    /// the sign-in. A TTL of k ticks matches a server TTL of (k + 1/2) ticks in seconds (see
    /// scripts/directus.sh).
    #[arg(long, default_value_t = 1.0, value_parser = refresh_check::limits::seconds)]
    pub tick_seconds: f64,
    /// Delays in milliseconds between the starts of concurrent requests, one per try, cycled.
    #[arg(long, value_delimiter = ',', default_values_t = replay::DEFAULT_STAGGERS_MS)]
    pub stagger_ms: Vec<u64>,
    /// Make all `--tries` tries, even after a reproduction or a divergence, and tally how each
    /// ended (the verdict is then: diverged if any try diverged, else reproduced if any try
    /// followed the trace).
    #[arg(long)]
    pub all_tries: bool,
    /// Per-request timeout, in seconds (above 0, up to 10^9).
    #[arg(long, default_value_t = 10.0, value_parser = refresh_check::limits::positive_seconds)]
    pub request_timeout: f64,
    /// The server's SQLite file (its `DB_FILENAME`): `directus_sessions` is read, read-only,
    /// after the sign-in and after every group, and compared with the model's store.
    #[arg(long)]
    pub database: Option<PathBuf>,
    /// The server's `SESSION_REFRESH_GRACE_PERIOD`, in seconds, against which `--tick-seconds`
    /// is checked (Directus's default: 10).
    #[arg(long, default_value_t = 10.0, value_parser = refresh_check::limits::positive_seconds)]
    pub server_grace: f64,
    /// The server's `SESSION_COOKIE_TTL`, in seconds (default: one day).
    #[arg(long, default_value_t = 86_400.0, value_parser = refresh_check::limits::positive_seconds)]
    pub server_session_ttl: f64,
    /// The server's `REFRESH_TOKEN_TTL`, in seconds (default: seven days).
    #[arg(long, default_value_t = 604_800.0, value_parser = refresh_check::limits::positive_seconds)]
    pub server_refresh_ttl: f64,
    /// The server's `ACCESS_TOKEN_TTL`, in seconds (default: 15 minutes).
    #[arg(long, default_value_t = 900.0, value_parser = refresh_check::limits::positive_seconds)]
    pub server_access_ttl: f64,
}

pub fn run(args: Args) -> Result<u8> {
    let (t, m, shown) = match (&args.trace, &args.model, &args.property) {
        (Some(file), _, _) => {
            let t = super::trace::load_trace(file)?;
            let sc = Scenario::load(&trace::resolve_model_file(file, &t.model_file))
                .and_then(|s| s.with_tabs(t.parameters.tabs))
                .with_context(|| format!("{}: its model file", file.display()))?;
            let m = model::build(&sc);
            trace::validate(&m, &t)
                .map_err(|why| anyhow::anyhow!("{}: the trace does not replay on its model: {why}", file.display()))?;
            (t, m, file.display().to_string())
        }
        (None, Some(file), Some(name)) => {
            let sc = Scenario::load(file)?;
            let spec = properties::by_name(name).ok_or_else(|| {
                let known: Vec<_> = properties::ALL.iter().map(|p| p.name).collect();
                anyhow::anyhow!("--property: found {name:?}, expected one of {}", known.join(", "))
            })?;
            let (m, results) = check::check(&sc, &check::CheckOptions::default());
            let found = results.properties.iter().find(|p| p.name == spec.name).and_then(|p| p.path.clone());
            let Some(path) = found else {
                anyhow::bail!("{}: no path violates or reaches `{name}`: nothing to replay", file.display());
            };
            let t = trace::build(&m, &sc.path, &sc.name, sc.browser.tabs, spec, &path)
                .with_context(|| format!("internal error: the path for {name} did not re-check"))?;
            (t, m, format!("{} (shortest path found now)", file.display()))
        }
        _ => anyhow::bail!("give a trace file, or --model and --property"),
    };
    let path = trace::decode_path(&t.path).expect("validated above");
    let plan = replay::plan::plan(&m, &path).with_context(|| shown.clone())?;
    let server = replay::timing::ServerDurations {
        grace: args.server_grace,
        session_cookie: args.server_session_ttl,
        refresh_token: args.server_refresh_ttl,
        access_token: args.server_access_ttl,
    };
    replay::timing::check(&replay::timing::durations(&m, &server), plan.last_clock, args.tick_seconds)
        .map_err(|why| anyhow::anyhow!("{shown}: {why}"))?;
    let database = args.database.as_deref().map(replay::db::Db::open).transpose()?;
    let client = Client::new(&args.target, Duration::from_secs_f64(args.request_timeout))?;
    let opts = Options {
        email: args.email,
        password: args.password,
        tries: args.tries,
        tick: Duration::from_secs_f64(args.tick_seconds),
        staggers: args.stagger_ms.iter().map(|&ms| Duration::from_millis(ms)).collect(),
        all_tries: args.all_tries,
        database,
    };
    println!("{} — {} ({shown}): {}", t.model, t.property, t.claim);
    println!("target {}, up to {} tries, 1 tick = {} s", args.target, opts.tries, args.tick_seconds);
    let mut out = std::io::stdout().lock();
    let summary = replay::run(&m, &plan, &client, &opts, &mut out).map_err(|e| match e {
        replay::ReplayError::Plan(p) => anyhow::anyhow!("{shown}: {p}"),
        e => e.into(),
    })?;
    drop(out);
    let (word, code) = match summary.verdict {
        Verdict::Reproduced { at } => (format!("reproduced (try {at})"), exit::AS_EXPECTED),
        Verdict::NotReproduced { tries } => {
            (format!("not reproduced (the trace's interleaving did not occur in {tries} tries)"), exit::INCOMPLETE)
        }
        Verdict::Diverged { at, group } => (
            format!("diverged (try {at}, group {group}: the server answered what the model does not allow)"),
            exit::DIFFERS,
        ),
    };
    println!("\nverdict: {}: {word}", t.property);
    Ok(code)
}
