//! `refresh-check explore MODEL.json [--port P] [--trace FILE]`: stateright's Explorer, a web
//! UI that expands the model's states as you click, served on 127.0.0.1.
//!
//! `explore MODEL.json --save-path PATH -o FILE` saves the path on screen (the Explorer URL's
//! `#/steps/…` part) as a trace file instead of serving.
//!
//! With a trace, the trace is first checked to be of this model (same name, same tab count)
//! and to replay on it, then the printed URL opens the Explorer at the trace's last state:
//! `http://127.0.0.1:P/#/steps/<path>`. The trace's `path` is stateright's action-index
//! encoding (the initial state's index, then each action's index among the enabled actions of
//! its state, as `Model::actions` lists them), which the Explorer's URLs use since 0.31.
//!
//! The Explorer's UI is stateright's, served by [`refresh_check::explorer`]: only the UI built
//! into the binary, only to requests addressed to this server (`Host`) from its own pages
//! (`Origin`), and without searches: "Run to completion" is refused (`check` searches, within
//! its limits, with shortest paths and verdicts). Browsing ignores `within_boundary`. The
//! command serves until interrupted.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use refresh_check::scenario::Scenario;
use refresh_check::{model, trace};

use crate::commands::trace::load_trace;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The model file (JSON) to explore.
    pub model: PathBuf,

    /// Number of tabs, overriding the model file's `browser.tabs` (1 to 6). With `--trace`,
    /// the trace's tab count is used unless this is given (and then they must agree).
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=6))]
    pub tabs: Option<u8>,

    /// TCP port to serve on; 0 picks a free one.
    #[arg(long, default_value_t = 3000)]
    pub port: u16,

    /// Address to bind. The Explorer has no authentication: keep it on loopback.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub bind: IpAddr,

    /// A trace of this model (`.json`) to open the Explorer at.
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,

    /// Do not serve: save the path on screen as a trace file and exit. PATH is the part of the
    /// Explorer's URL after `#/steps/` (`0/0/1/0`), or the whole URL; the trace (property
    /// `explored:path`, kind `sometimes`) goes to `--output`.
    #[arg(long, value_name = "PATH", requires = "output", conflicts_with = "trace")]
    pub save_path: Option<String>,

    /// With `--save-path`: the trace file to write (`.json`; a Markdown chart is written beside
    /// it as `.md`). Refused (exit 2) if it does not end in `.json` or is the model file.
    #[arg(long, short, value_name = "FILE", requires = "save_path")]
    pub output: Option<PathBuf>,
}

/// `--save-path`: replays the path on the model and writes its trace (and the `.md` chart).
fn save(sc: &Scenario, m: &model::RefreshModel, path: &str, out: &std::path::Path) -> Result<u8> {
    // The chart goes beside the trace as `.md`: a trace file named `.md` would be overwritten by it.
    if out.extension().and_then(|e| e.to_str()) != Some("json") {
        bail!(
            "-o {}: expected a trace file name ending in `.json` (its Markdown chart is written beside it as `.md`)",
            out.display()
        );
    }
    let raw = path.rsplit_once("#/steps/").map_or(path, |(_, p)| p);
    let raw = raw.split('?').next().unwrap_or(raw).trim_matches('/');
    let p = trace::decode_path(raw).ok_or_else(|| {
        anyhow::anyhow!(
            "--save-path: found {path:?}, expected the Explorer's path: integers separated by `/` (0/0/1/0)"
        )
    })?;
    let t = trace::build_named(m, &sc.path, &sc.name, sc.browser.tabs, EXPLORED, &p)
        .map_err(|e| anyhow::anyhow!("--save-path {raw}: {e}"))?;
    refresh_check::output::refuse_input(out, [&sc.path], "model file")?;
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        refresh_check::output::prepare_dir(dir)?;
    }
    let md = out.with_extension("md");
    refresh_check::output::check_target(out).and_then(|()| refresh_check::output::check_target(&md))?;
    refresh_check::output::write_atomic(out, refresh_check::golden::to_json(&t).as_bytes())?;
    refresh_check::output::write_atomic(&md, trace::render_markdown(&t).as_bytes())?;
    println!("saved the path {} ({} steps) of {} as {}", p.encode(), p.actions.len(), sc.name, out.display());
    Ok(refresh_check::exit::AS_EXPECTED)
}

/// The property, kind and claim of a trace saved from the Explorer.
const EXPLORED: (&str, refresh_check::properties::Kind, &str) =
    ("explored:path", refresh_check::properties::Kind::Sometimes, "a path saved from the Explorer");

pub fn run(args: Args) -> Result<u8> {
    let sc = Scenario::load(&args.model)?;
    let t = args.trace.as_deref().map(load_trace).transpose()?;
    let tabs = match (&t, args.tabs) {
        (Some(t), Some(n)) if t.parameters.tabs != n => bail!(
            "{}: field `parameters.tabs`: the trace was checked with {} tabs, not --tabs {n}",
            args.trace.as_ref().unwrap().display(),
            t.parameters.tabs
        ),
        (Some(t), _) => Some(t.parameters.tabs),
        (None, n) => n,
    };
    let sc = match tabs {
        Some(n) => sc.with_tabs(n)?,
        None => sc,
    };
    let m = model::build(&sc);
    if let (Some(p), Some(out)) = (&args.save_path, &args.output) {
        return save(&sc, &m, p, out);
    }
    let mut fragment = String::new();
    if let (Some(t), Some(file)) = (&t, &args.trace) {
        if t.model != sc.name {
            bail!("{}: field `model`: the trace is of model `{}`, not `{}`", file.display(), t.model, sc.name);
        }
        trace::validate(&m, t)
            .map_err(|why| anyhow::anyhow!("{}: does not replay on {}: {why}", file.display(), args.model.display()))?;
        fragment = format!("#/steps/{}", t.path);
    }
    // Bound once, here: a port that is taken is an error before anything is printed.
    let listener = TcpListener::bind(SocketAddr::new(args.bind, args.port))
        .with_context(|| format!("cannot listen on {}:{}", args.bind, args.port))?;
    let addr = listener.local_addr()?;
    let host = match addr.ip() {
        IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    let mut out = std::io::stdout().lock();
    let clients = refresh_check::report::clients_summary(sc.browser.devices, sc.browser.tabs, m.cfg.client_word.word());
    writeln!(out, "Explorer for {} ({clients}): http://{host}:{}/{fragment}", sc.name, addr.port())?;
    writeln!(out, "Read-only: the Explorer explores the model in memory and writes nothing to disk.")?;
    writeln!(
        out,
        "To save the path on screen as a trace: refresh-check explore {} --tabs {} --save-path '<the URL>' -o FILE.json",
        args.model.display(),
        sc.browser.tabs
    )?;
    if !addr.ip().is_loopback() {
        eprintln!(
            "warning: --bind {}: the Explorer has no authentication and is now reachable from other hosts",
            addr.ip()
        );
    }
    writeln!(out, "Serving until interrupted (Ctrl-C).")?;
    out.flush()?;
    drop(out);
    refresh_check::explorer::serve(&m, listener).with_context(|| format!("serving on {addr}"))?;
    Ok(refresh_check::exit::AS_EXPECTED)
}
