//! `refresh-check trace html FILE|DIR -o OUT`: self-contained HTML pages for traces.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use refresh_check::trace::Trace;
use refresh_check::viewer::{self, IndexEntry};
use refresh_check::{exit, output};

use crate::commands::trace::load_trace;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// A trace file (`.json`), or a folder whose `*.json` files are all traces.
    pub input: PathBuf,
    /// For a file: the page to write (`.html`). For a folder: the folder to write one page per
    /// trace (`<trace>.html`) and `index.html` into.
    #[arg(short, long, value_name = "OUT")]
    pub output: PathBuf,
}

fn name_of(p: &Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| p.display().to_string())
}

pub fn run(args: Args) -> Result<u8> {
    if args.input.is_dir() {
        folder(&args.input, &args.output)
    } else {
        let t = load_trace(&args.input)?;
        output::refuse_input(&args.output, [&args.input], "trace file")?;
        if let Some(parent) = args.output.parent().filter(|p| !p.as_os_str().is_empty()) {
            if !output::writes_in_place(&args.output) {
                output::prepare_dir(parent)?;
            }
        }
        output::write_atomic(&args.output, viewer::trace_page(&t, &name_of(&args.input)).as_bytes())?;
        println!("{}: {} steps → {}", args.input.display(), t.steps.len(), args.output.display());
        Ok(exit::AS_EXPECTED)
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
        output::write_atomic(&out.join(&page), viewer::trace_page(t, &source).as_bytes())?;
        entries.push(IndexEntry::new(t, &page, &source));
    }
    let index = out.join("index.html");
    output::write_atomic(&index, viewer::index_page(&dir.display().to_string(), &entries).as_bytes())?;
    println!("{}: {} trace page(s) and {}", dir.display(), entries.len(), index.display());
    Ok(exit::AS_EXPECTED)
}
