//! `refresh-check trace html FILE|DIR [FILE2] -o OUT`: self-contained HTML pages for traces, and
//! a page of two traces side by side.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use refresh_check::scenario::{Scenario, Verdict};
use refresh_check::trace::{self, Trace};
use refresh_check::viewer::{self, Expectation, Explanation, IndexEntry};
use refresh_check::{exit, output};

use crate::commands::trace::load_trace;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// A trace file (`.json`), or a folder whose `*.json` files are all traces.
    pub input: PathBuf,
    /// A second trace file: write one page with both traces side by side (a policy and its
    /// fix, or two counterexamples of one property), their steps aligned and the differences
    /// highlighted.
    #[arg(value_name = "SECOND")]
    pub second: Option<PathBuf>,
    /// For a file: the page to write (`.html`). For a folder: the folder to write one page per
    /// trace (`<trace>.html`) and `index.html` into.
    #[arg(short, long, value_name = "OUT")]
    pub output: PathBuf,
}

fn stem_of(p: &Path) -> String {
    p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
}

fn name_of(p: &Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| p.display().to_string())
}

pub fn run(args: Args) -> Result<u8> {
    if let Some(second) = &args.second {
        if args.input.is_dir() || second.is_dir() {
            bail!("side by side takes two trace files, not folders: {} {}", args.input.display(), second.display());
        }
        let (a, b) = (load_trace(&args.input)?, load_trace(second)?);
        output::refuse_input(&args.output, [&args.input, second], "trace file")?;
        prepare_parent(&args.output)?;
        let page = viewer::pair_page(&a, &b, (&name_of(&args.input), &name_of(second)));
        output::write_atomic(&args.output, page.as_bytes())?;
        println!("{} and {}: side by side → {}", args.input.display(), second.display(), args.output.display());
        return Ok(exit::AS_EXPECTED);
    }
    if args.input.is_dir() {
        folder(&args.input, &args.output)
    } else {
        let t = load_trace(&args.input)?;
        output::refuse_input(&args.output, [&args.input], "trace file")?;
        prepare_parent(&args.output)?;
        let ex = Explanation::of(&t, &args.input);
        output::write_atomic(&args.output, viewer::trace_page(&t, &name_of(&args.input), &ex).as_bytes())?;
        println!("{}: {} steps → {}", args.input.display(), t.steps.len(), args.output.display());
        if let Some(why) = &ex.unavailable {
            eprintln!("warning: {}: property status not shown: {why}", args.input.display());
        }
        Ok(exit::AS_EXPECTED)
    }
}

fn prepare_parent(out: &Path) -> Result<()> {
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        if !output::writes_in_place(out) {
            output::prepare_dir(parent)?;
        }
    }
    Ok(())
}

/// Whether the model file of trace `t` (read from `file`) expects its verdict.
fn expectation(t: &Trace, file: &Path) -> Expectation {
    let Ok(sc) = Scenario::load(&trace::resolve_model_file(file, &t.model_file)) else { return Expectation::Unknown };
    // A query's or a user-defined invariant's trace is expected when the model file's query of
    // that name expects what the trace shows (a match, a violation); one with no expectation,
    // or a path saved from `explore`, has no expectation to meet.
    if trace::is_query(&t.property) {
        let name = t.property.split_once(':').map_or("", |(_, n)| n);
        let shown = match t.kind {
            refresh_check::properties::Kind::Always => refresh_check::query::Answer::Violated,
            refresh_check::properties::Kind::Sometimes => refresh_check::query::Answer::Reachable,
        };
        return match sc.queries.iter().find(|q| q.name == name).and_then(|q| q.expect) {
            Some(e) if e == shown => Expectation::Expected,
            Some(_) => Expectation::Unexpected,
            None => Expectation::Unknown,
        };
    }
    let shown = match t.kind {
        refresh_check::properties::Kind::Always => Verdict::Violated,
        refresh_check::properties::Kind::Sometimes => Verdict::Reached,
    };
    if sc.expect.get(&t.property) == Some(&shown) {
        Expectation::Expected
    } else {
        Expectation::Unexpected
    }
}

/// Every trace is read before anything is written, so a bad file leaves no half-built folder.
fn folder(dir: &Path, out: &Path) -> Result<u8> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("{}: cannot read the folder", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    if files.is_empty() {
        bail!("{}: no trace files (`*.json`) in the folder", dir.display());
    }
    let traces: Vec<(PathBuf, Trace)> =
        files.into_iter().map(|f| load_trace(&f).map(|t| (f, t))).collect::<Result<_>>()?;
    output::prepare_dir(out)?;
    let inputs: Vec<PathBuf> = traces.iter().map(|(f, _)| f.clone()).collect();
    for (file, _) in &traces {
        let stem = file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        output::refuse_input(&out.join(format!("{stem}.html")), &inputs, "trace file")?;
    }
    output::refuse_input(&out.join("index.html"), &inputs, "trace file")?;
    let mut entries = Vec::with_capacity(traces.len());
    for (file, t) in &traces {
        let stem = file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let page = format!("{stem}.html");
        let source = name_of(file);
        let ex = Explanation::of(t, file);
        output::write_atomic(&out.join(&page), viewer::trace_page(t, &source, &ex).as_bytes())?;
        let mut entry = IndexEntry::new(t, &page, &source);
        entry.expectation = expectation(t, file);
        entries.push(entry);
    }
    // The k-th counterexample of a property (`<model>.<property>.<k>.json`, `check
    // --counterexamples`) gets a side-by-side page with the first, linked from both rows.
    let stems: Vec<String> = traces.iter().map(|(f, _)| stem_of(f)).collect();
    for (k, (file, t)) in traces.iter().enumerate() {
        let Some((base, n)) = stems[k].rsplit_once('.').filter(|(_, n)| n.parse::<u32>().is_ok()) else { continue };
        let Some(first) = stems.iter().position(|s| s == base) else { continue };
        let page = format!("{base}.vs.{n}.html");
        output::refuse_input(&out.join(&page), &inputs, "trace file")?;
        let html = viewer::pair_page(&traces[first].1, t, (&name_of(&traces[first].0), &name_of(file)));
        output::write_atomic(&out.join(&page), html.as_bytes())?;
        entries[first].links.push((format!("side by side with #{n}"), page.clone()));
        entries[k].links.push(("side by side with #1".into(), page));
    }
    let index = out.join("index.html");
    output::write_atomic(&index, viewer::index_page(&dir.display().to_string(), &entries).as_bytes())?;
    println!("{}: {} trace page(s) and {}", dir.display(), entries.len(), index.display());
    Ok(exit::AS_EXPECTED)
}
