//! `refresh-check compare A.json B.json`: a protocol and its fix side by side. Both model
//! files are checked; per property the two verdicts are printed, and each counterexample of A
//! is turned into a scenario query ([`refresh_check::query::from_trace`]: its steps' actors
//! and actions, in order, with anything in between) and answered on B twice: does B allow the
//! same steps, and does B still violate the property at their end? So a designer sees what a
//! fix removes (the steps cannot happen), what it defuses (they happen, the property holds at
//! their end) and what it leaves (they happen and still violate it), and whether B leaves it by
//! the same rules as A or by others (the server's decisions along both runs). When B cannot express the
//! steps at all (another tab count, server kind or actor set, or an action of A's steps that B
//! never takes), the replay is "not comparable" with the reason instead of "removed".

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Result;
use clap::ValueEnum;
use refresh_check::check::{self, CheckOptions, Outcome, Results};
use refresh_check::model::RefreshModel;
use refresh_check::properties::{self, Kind};
use refresh_check::query::{self, Answer};
use refresh_check::scenario::{Scenario, Verdict};
use refresh_check::search::SearchConfig;
use refresh_check::{exit, trace};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The model file of the protocol (the "before").
    #[arg(value_name = "A")]
    pub a: PathBuf,

    /// The model file of the fix (the "after").
    #[arg(value_name = "B")]
    pub b: PathBuf,

    /// Output: `text` for people, `markdown` for a pull request.
    #[arg(long, value_enum, default_value_t = CompareFormat::Text)]
    pub format: CompareFormat,

    /// Number of tabs for both models, overriding their `browser.tabs` (1 to 6).
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=6))]
    pub tabs: Option<u8>,

    /// Up to N counterexamples of A per violated invariant that differ in mechanism (as
    /// `check --counterexamples`), each replayed on B.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=20))]
    pub counterexamples: u64,

    /// End the whole run (both checks and every replay) within SECS seconds: what is
    /// undecided is `unknown`, exit 3.
    #[arg(long, value_name = "SECS", value_parser = refresh_check::limits::positive_seconds)]
    pub timeout: Option<f64>,

    /// Stop each search after N unique states (incomplete, exit 3).
    #[arg(long, value_name = "N")]
    pub max_states: Option<u64>,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompareFormat {
    Text,
    Markdown,
}

/// What B does with one counterexample of A.
struct Replayed {
    property: &'static str,
    /// 1 for the shortest, k for the k-th of `--counterexamples`.
    k: usize,
    steps: usize,
    /// The steps in order, as events (`tab A TabSendsRefresh`, …).
    events: Vec<String>,
    /// Do B's runs contain A's steps in order?
    allowed: Answer,
    /// …ending in a violation of the property?
    violated: Answer,
    /// The shortest such run of B, in steps.
    b_steps: Option<usize>,
    /// The server's decisions along A's counterexample and along B's run that still violates
    /// the property ([`decisions`]): equal when B leaves the violation by the same mechanism.
    a_rules: Vec<String>,
    b_rules: Option<Vec<String>>,
    /// Why B cannot express these steps at all (`B has no action X`), when it cannot: then
    /// "never runs these steps" says nothing about the fix.
    not_comparable: Option<String>,
    /// The server or store action of A's steps B never takes, when that is why B never runs
    /// them.
    removed_by: Option<String>,
}

fn load(path: &PathBuf, tabs: Option<u8>) -> Result<Scenario> {
    let sc = Scenario::load(path)?;
    Ok(match tabs {
        Some(t) => sc.with_tabs(t)?,
        None => sc,
    })
}

fn verdict_cell(r: &Results, name: &str) -> String {
    let Some(p) = r.properties.iter().find(|p| p.name == name) else { return "-".into() };
    let mut s = match p.status {
        Verdict::Violated => format!("violated ({} steps)", p.steps.unwrap_or(0)),
        Verdict::Reached => format!("reached ({} steps)", p.steps.unwrap_or(0)),
        v => format!("{v:?}").to_lowercase(),
    };
    if !p.applies {
        s.push_str(" n/a");
    }
    s
}

/// The properties whose every replayed counterexample of A is removed or defused in B while B
/// still violates them by a run of its own, with B's shortest counterexample length: what a
/// reader of "defused" alone could take for a fix.
fn still_violated(replayed: &[Replayed], rb: &Results) -> Vec<(&'static str, usize)> {
    let mut out: Vec<(&'static str, usize)> = Vec::new();
    for r in replayed {
        if out.iter().any(|(p, _)| *p == r.property) {
            continue;
        }
        let gone = |x: &Replayed| {
            x.not_comparable.is_none()
                && matches!(
                    (x.allowed, x.violated),
                    (Answer::Unreachable, _) | (Answer::Reachable, Answer::Unreachable)
                )
        };
        if !replayed.iter().filter(|x| x.property == r.property).all(gone) {
            continue;
        }
        if let Some(p) = rb.properties.iter().find(|p| p.name == r.property && p.status == Verdict::Violated) {
            out.push((r.property, p.steps.unwrap_or(0)));
        }
    }
    out
}

/// The action of a tab's read of its own token (`browser.reads_token: "before-send"`).
const TOKEN_READ: &str = "TabReadsToken";

/// Whether A's tabs read their token in a step of their own and B's read it as they send
/// (`browser.reads_token`): A's counterexamples are then replayed on B without their
/// [`TOKEN_READ`] steps, B's send standing for A's read and send (its token is read then).
/// The other way round needs nothing: B's reads fall between A's steps.
fn drops_token_reads(sa: &Scenario, sb: &Scenario) -> bool {
    use refresh_check::model::policy::ReadsToken;
    sa.browser.reads_token != ReadsToken::AtSend && sb.browser.reads_token == ReadsToken::AtSend
}

/// The note on A's token reads left out of its replayed steps ([`drops_token_reads`]).
const TOKEN_READS_NOTE: &str = "A's tabs read their token in a step of their own (`browser.reads_token` \"before-send\"), B's as they send (\"at-send\"): A's steps are replayed on B without their `TabReadsToken` steps, B's send standing for A's read and send";

/// The note on the queries of A's model file: `compare` replays the counterexamples of the
/// catalogue's invariants, not a model file's own queries (a violation a query alone shows is
/// not compared); `None` when A has none.
fn own_queries_note(sa: &Scenario) -> Option<String> {
    let names: Vec<String> = sa.queries.iter().map(|q| format!("`{}`", q.name)).collect();
    (!names.is_empty()).then(|| {
        format!(
            "A's own queries ({}) are not compared: compare replays the counterexamples of the catalogue's invariants; answer a query on B by writing it in a query file and running `check B --query FILE`",
            names.join(", ")
        )
    })
}

/// Replays every counterexample of A on B.
fn replay_all(
    (ma, sa, ra): (&RefreshModel, &Scenario, &Results),
    mb: &RefreshModel,
    cfg: &SearchConfig<refresh_check::model::State>,
    whole: Option<&str>,
    drop_reads: bool,
) -> Result<Vec<Replayed>> {
    let mut out = vec![];
    // (actor, action) pairs of A's steps that B never takes, answered once each.
    let mut never: std::collections::HashMap<(String, String), bool> = Default::default();
    for p in &ra.properties {
        if p.status != Verdict::Violated || p.kind != Kind::Always {
            continue;
        }
        let spec = properties::by_name(p.name).expect("results name catalogue properties");
        let mut paths: Vec<refresh_check::search::IndexPath> = p.path.iter().cloned().collect();
        for cx in p.counterexamples.iter().skip(1) {
            paths.extend(trace::decode_path(&cx.path));
        }
        for (k, path) in paths.iter().enumerate() {
            let t = trace::build(ma, &sa.path, &sa.name, sa.browser.tabs, spec, path)?;
            let name = format!("{}-{}", p.name, k + 1);
            let mut steps_only = query::from_trace(&t, &name, None);
            let mut with_violation = query::from_trace(&t, &name, Some(spec));
            if drop_reads {
                // B reads the token as it sends: A's read of its own is part of B's send.
                for q in [&mut steps_only, &mut with_violation] {
                    q.events.retain(|e| e.action.as_deref() != Some(TOKEN_READ));
                }
            }
            let allowed = query::answer(mb, &t.model_file, &t.model, t.parameters.tabs, &steps_only, cfg);
            let violated = match allowed.answer {
                Answer::Reachable => {
                    query::answer(mb, &t.model_file, &t.model, t.parameters.tabs, &with_violation, cfg)
                }
                _ => allowed.clone(),
            };
            let missing = match (whole, allowed.answer) {
                (None, Answer::Unreachable) => missing_action(mb, &t, cfg, &mut never, drop_reads),
                _ => None,
            };
            // A server or store step B lacks is the fix at work (another statement, another
            // handler): removed, and why. A step of the tabs, clock, network or attacker B
            // lacks means B cannot play A's scenario at all.
            let (not_comparable, removed_by) = match (whole, missing) {
                (Some(why), _) => (Some(why.to_string()), None),
                (None, Some((why, true))) => (None, Some(why)),
                (None, Some((why, false))) => (Some(why), None),
                (None, None) => (None, None),
            };
            out.push(Replayed {
                not_comparable,
                removed_by,
                property: p.name,
                k: k + 1,
                steps: path.actions.len(),
                events: steps_only.events.iter().map(|e| e.text.clone()).collect(),
                allowed: allowed.answer,
                violated: match (allowed.answer, violated.answer) {
                    (Answer::Reachable, v) => v,
                    (a, _) => a,
                },
                b_steps: violated.path.as_ref().or(allowed.path.as_ref()).map(|p| p.actions.len()),
                a_rules: decisions(ma, path),
                b_rules: match (allowed.answer, violated.answer, &violated.path) {
                    (Answer::Reachable, Answer::Reachable, Some(p)) => Some(decisions(mb, p)),
                    _ => None,
                },
            });
        }
    }
    Ok(out)
}

/// The rules that decided along `path` of `m`, in order, as `rule` filters name them
/// ([`query::event::shown`]): each server decision's rule, `no rule holds` when none did.
fn decisions(m: &RefreshModel, path: &refresh_check::search::IndexPath) -> Vec<String> {
    let Ok((mut before, steps)) = refresh_check::search::replay(m, path) else { return vec![] };
    let mut out = vec![];
    for (action, after) in steps {
        let shown = query::event::shown(m, &before, &action, &after);
        out.extend(shown.decisions.into_iter().map(|(rule, _)| rule));
        before = after;
    }
    out
}

/// The rules of `rules` as `` `a` → `b` ``.
fn rule_list(rules: &[String]) -> String {
    rules.iter().map(|r| format!("`{r}`")).collect::<Vec<_>>().join(" → ")
}

/// The first step of A's trace whose actor and action B never takes (a query of that one
/// event, unreachable on B), as "B has no action X …", and whether its actor is the server or
/// the store; `None` if B takes every one (or a limit stopped the search). With `drop_reads`
/// A's token reads are not asked about ([`drops_token_reads`]).
fn missing_action(
    mb: &RefreshModel,
    t: &trace::Trace,
    cfg: &SearchConfig<refresh_check::model::State>,
    never: &mut std::collections::HashMap<(String, String), bool>,
    drop_reads: bool,
) -> Option<(String, bool)> {
    // The events of A's steps, in the checker's words (`tab A` where the trace writes
    // `process A`), one per step.
    let events = query::from_trace(t, "vocabulary", None).events;
    for (s, event) in t.steps.iter().zip(&events).filter(|(s, _)| !(drop_reads && s.action == TOKEN_READ)) {
        let key = (s.actor.clone(), s.action.clone());
        let absent = *never.entry(key).or_insert_with(|| {
            let mut q = query::from_trace(t, "vocabulary", None);
            q.events.retain(|e| e.actor == event.actor && e.action == event.action);
            q.events.truncate(1);
            q.end_at_last_event = false;
            query::answer(mb, &t.model_file, &t.model, t.parameters.tabs, &q, cfg).answer == Answer::Unreachable
        });
        if absent {
            let server_side = s.actor == "server" || s.actor == "store";
            return Some((
                format!("B has no action `{}` by `{}`, A's step {}", s.action, s.actor, s.index),
                server_side,
            ));
        }
    }
    None
}

/// Why B cannot run any counterexample of A, whatever it is: a different tab count, or a
/// server of another kind (so other actors and actions).
fn whole_model_difference(sa: &Scenario, ma: &RefreshModel, sb: &Scenario, mb: &RefreshModel) -> Option<String> {
    use refresh_check::model::Node;
    let kind = |m: &RefreshModel| match m.actors.get(m.cfg.server) {
        Some(Node::AuthServer { .. }) => "an OAuth authorization server (`auth_server`/`protocol`)",
        Some(Node::Server { .. }) => "a session server (`server`/`session_server`)",
        _ => "no server",
    };
    if sa.browser.tabs != sb.browser.tabs {
        Some(format!("B has {} tab(s), A has {} (give both --tabs N)", sb.browser.tabs, sa.browser.tabs))
    } else if kind(ma) != kind(mb) {
        Some(format!("B's server is {}, A's is {}: B has none of A's server actions", kind(mb), kind(ma)))
    } else if ma.actors.len() != mb.actors.len() {
        Some(format!("B has {} actor(s), A has {}", mb.actors.len(), ma.actors.len()))
    } else {
        None
    }
}

/// The sections of a model file that say what the clients, the attacker, the clock and the
/// network do, as opposed to the protocol under comparison.
const ASSUMPTIONS: [&str; 4] = ["browser", "attacker", "time", "lossy"];

/// Where the two model files differ in what they assume ([`ASSUMPTIONS`]; the tab count
/// aside, which makes them not comparable): each as `field (A: value, B: value)`, `-` for a
/// field one file leaves out. Empty when they assume the same, or when a file cannot be read
/// again as JSON (both were loaded already).
fn assumption_differences(a: &std::path::Path, b: &std::path::Path) -> Vec<String> {
    let read = |p: &std::path::Path| -> Option<serde_json::Value> {
        serde_json::from_str(&refresh_check::input::read_text(p).ok()?).ok()
    };
    let (Some(va), Some(vb)) = (read(a), read(b)) else { return Vec::new() };
    fn walk(path: &str, x: Option<&serde_json::Value>, y: Option<&serde_json::Value>, out: &mut Vec<String>) {
        match (x, y) {
            (Some(serde_json::Value::Object(p)), Some(serde_json::Value::Object(q))) => {
                let mut keys: Vec<&String> = p.keys().chain(q.keys()).collect();
                keys.sort();
                keys.dedup();
                for k in keys {
                    walk(&format!("{path}.{k}"), p.get(k), q.get(k), out);
                }
            }
            _ if x == y => {}
            _ if path == "browser.tabs" => {}
            _ => {
                let show = |v: Option<&serde_json::Value>| v.map_or("-".to_string(), |v| v.to_string());
                out.push(format!("{path} (A: {}, B: {})", show(x), show(y)));
            }
        }
    }
    let mut out = Vec::new();
    for section in ASSUMPTIONS {
        walk(section, va.get(section), vb.get(section), &mut out);
    }
    out
}

/// `why` (which speaks of A and B) with the models' names in their place.
fn sides(why: &str, a_name: &str, b_name: &str) -> String {
    why.replace("B has", &format!("{b_name} has"))
        .replace("B's", &format!("{b_name}'s"))
        .replace("A has", &format!("{a_name} has"))
        .replace("A's", &format!("{a_name}'s"))
}

/// What B does with a counterexample of A, in words.
fn effect(r: &Replayed, a_name: &str, b_name: &str) -> String {
    if let Some(why) = &r.not_comparable {
        return format!("not comparable: {}", sides(why, a_name, b_name));
    }
    match (r.allowed, r.violated) {
        (Answer::Unreachable, _) => match &r.removed_by {
            Some(why) => format!("{b_name} never runs these steps: removed ({})", sides(why, a_name, b_name)),
            None => format!("{b_name} never runs these steps: removed"),
        },
        (Answer::Reachable, Answer::Unreachable) => {
            format!("{b_name} runs these steps but `{}` holds at their end: defused", r.property)
        }
        (Answer::Reachable, Answer::Reachable) => {
            // Left by the same mechanism (the same rules decide), or by another one.
            let how = match &r.b_rules {
                Some(b) if *b == r.a_rules && b.is_empty() => String::new(),
                Some(b) if *b == r.a_rules => format!(" (by the same rules: {})", rule_list(b)),
                Some(b) => format!(
                    " (by other rules: {a_name} {}; {b_name} {})",
                    if r.a_rules.is_empty() { "none".to_string() } else { rule_list(&r.a_rules) },
                    if b.is_empty() { "none".to_string() } else { rule_list(b) }
                ),
                None => String::new(),
            };
            format!(
                "{b_name} runs these steps and still violates `{}` at their end ({} steps): left{how}",
                r.property,
                r.b_steps.unwrap_or(0)
            )
        }
        _ => "unknown: a limit stopped the search".into(),
    }
}

pub fn run(args: Args) -> Result<u8> {
    let sa = load(&args.a, args.tabs)?;
    let sb = load(&args.b, args.tabs)?;
    let deadline = args.timeout.and_then(|t| Instant::now().checked_add(Duration::from_secs_f64(t)));
    let opts = CheckOptions {
        deadline,
        max_states: args.max_states,
        counterexamples: args.counterexamples as usize,
        ..CheckOptions::default()
    };
    let (ma, ra) = check::check(&sa, &opts);
    let (mb, rb) = check::check(&sb, &opts);
    let cfg = SearchConfig { deadline, max_states: args.max_states, ..SearchConfig::default() };
    let whole = whole_model_difference(&sa, &ma, &sb, &mb);
    let drop_reads = whole.is_none() && drops_token_reads(&sa, &sb);
    let replayed = replay_all((&ma, &sa, &ra), &mb, &cfg, whole.as_deref(), drop_reads)?;
    let queries_note = own_queries_note(&sa);

    let mut w = Vec::new();
    let (a, b) = (&sa.name, &sb.name);
    match args.format {
        CompareFormat::Text => {
            writeln!(w, "compare {a} ({}) with {b} ({})", sa.path.display(), sb.path.display())?;
            // Unreduced: the replays follow tab names, so both searches run without symmetry
            // reduction, and the counts are `check --no-symmetry`'s.
            writeln!(
                w,
                "A: {} unique states; B: {} unique states (no symmetry reduction: `check --no-symmetry` counts)\n",
                ra.unique_states, rb.unique_states
            )?;
            if let Some(why) = &whole {
                writeln!(w, "warning: A and B are not comparable: {why}; B cannot run A's steps, whatever the fix\n")?;
            }
            let assumed = assumption_differences(&sa.path, &sb.path);
            if whole.is_none() && !assumed.is_empty() {
                writeln!(
                    w,
                    "note: A and B also differ in what they assume of the tabs, the attacker, the clock or the network: {}; where B never runs A's steps, that difference may be what removes them, not B's protocol\n",
                    assumed.join(", ")
                )?;
            }
            // Columns as wide as their longest cell and two spaces: a long name never runs into
            // the next column.
            let cells: Vec<(&str, String, String)> = properties::ALL
                .iter()
                .map(|p| (p.name, verdict_cell(&ra, p.name), verdict_cell(&rb, p.name)))
                .collect();
            let wp = cells.iter().map(|c| c.0.chars().count()).max().unwrap_or(0).max("property".len()) + 2;
            let wa = cells.iter().map(|c| c.1.chars().count()).max().unwrap_or(0).max(1) + 2;
            writeln!(w, "  {:<wp$}{:<wa$}{}", "property", "A", "B")?;
            for (name, x, y) in &cells {
                let mark = if x.split(' ').next() == y.split(' ').next() { "" } else { "  ≠" };
                writeln!(w, "  {:<wp$}{:<wa$}{}{mark}", name, x, y)?;
            }
            if drop_reads {
                writeln!(w, "note: {TOKEN_READS_NOTE}\n")?;
            }
            writeln!(w, "\ncounterexamples of A replayed on B (A's steps in order, anything in between):")?;
            if replayed.is_empty() {
                writeln!(w, "  none: A violates no invariant")?;
            }
            for r in &replayed {
                writeln!(w, "  {} #{} ({} steps): {}", r.property, r.k, r.steps, effect(r, "A", "B"))?;
                writeln!(w, "      {}", r.events.join(" → "))?;
            }
            for (property, steps) in still_violated(&replayed, &rb) {
                writeln!(
                    w,
                    "  note: every counterexample of A to `{property}` is removed or defused in B, but B still \
                     violates it by another run ({steps} steps): `check` B shows it"
                )?;
            }
            if let Some(note) = &queries_note {
                writeln!(w, "\nnote: {note}")?;
            }
        }
        CompareFormat::Markdown => {
            writeln!(w, "### `{a}` → `{b}`\n")?;
            if let Some(why) = &whole {
                writeln!(
                    w,
                    "> **Not comparable:** {}; `{b}` cannot run the steps of `{a}`, whatever the fix.\n",
                    sides(why, &format!("`{a}`"), &format!("`{b}`"))
                )?;
            }
            let assumed = assumption_differences(&sa.path, &sb.path);
            if whole.is_none() && !assumed.is_empty() {
                writeln!(
                    w,
                    "> **Assumptions differ:** {}; where `{b}` never runs the steps of `{a}`, that difference may be what removes them.\n",
                    assumed.iter().map(|d| format!("`{d}`")).collect::<Vec<_>>().join(", ")
                )?;
            }
            writeln!(w, "| property | `{a}` | `{b}` |")?;
            writeln!(w, "|---|---|---|")?;
            for p in properties::ALL {
                let (x, y) = (verdict_cell(&ra, p.name), verdict_cell(&rb, p.name));
                if x == y && (x.ends_with("n/a") || x == "holds" || x == "unreached") {
                    continue; // nothing to say
                }
                let (x, y) = if x.split(' ').next() == y.split(' ').next() {
                    (x, y)
                } else {
                    (format!("**{x}**"), format!("**{y}**"))
                };
                writeln!(w, "| {} | {x} | {y} |", p.name)?;
            }
            writeln!(w, "\nProperties not listed hold (or are unreached) in both, or do not apply.\n")?;
            if drop_reads {
                writeln!(w, "> {}\n", sides(TOKEN_READS_NOTE, &format!("`{a}`"), &format!("`{b}`")))?;
            }
            writeln!(w, "Each counterexample of `{a}`, its steps replayed on `{b}` as a query:\n")?;
            if replayed.is_empty() {
                writeln!(w, "- none: `{a}` violates no invariant")?;
            }
            for r in &replayed {
                writeln!(
                    w,
                    "- `{}` #{} ({} steps): {}",
                    r.property,
                    r.k,
                    r.steps,
                    effect(r, &format!("`{a}`"), &format!("`{b}`"))
                )?;
            }
            if let Some(note) = &queries_note {
                writeln!(w, "\n> {}", sides(note, &format!("`{a}`"), &format!("`{b}`")))?;
            }
            for (property, steps) in still_violated(&replayed, &rb) {
                writeln!(
                    w,
                    "\n> Every counterexample of `{a}` to `{property}` is removed or defused in `{b}`, but `{b}` \
                     still violates it by another run ({steps} steps)."
                )?;
            }
        }
    }
    std::io::stdout().write_all(&w)?;
    let code = |o: Outcome| super::check::exit_code(o);
    let unknown = replayed.iter().any(|r| r.violated == Answer::Unknown);
    let c = super::queries::combine(code(ra.outcome()), code(rb.outcome()));
    Ok(if unknown { super::queries::combine(c, exit::INCOMPLETE) } else { c })
}
