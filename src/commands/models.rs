//! `refresh-check models validate|expand|schema|reference`: check, expand and describe model files
//! without searching.

use refresh_check::report::browsers_summary;
use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use clap::Subcommand;
use refresh_check::exit;
use refresh_check::message::escape_controls;
use refresh_check::scenario::Scenario;
use refresh_check::suite::SuiteError;

#[derive(Subcommand, Debug)]
pub enum ModelsCommand {
    /// Validate model files (types, ranges, combinations) without checking them.
    ///
    /// Each file is reported on its own line: `ok` with what it models, or the error naming
    /// the file, the line and column or the field, what was found and what was expected.
    /// Exit 0: every file is valid; 2: some file is not.
    Validate {
        /// Model files (`.json`), or folders: every `*.json` under a folder.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Print a model file with its preset expanded into the protocol language: an
    /// `auth_server` section into a `protocol` section, a Directus `server` section into a
    /// `session_server` section.
    ///
    /// The output is a model file that checks to the same verdicts, states and traces: start
    /// from the nearest preset and edit its rules. A file already written in the language is
    /// printed as it is. Exit 0; 2: the file is not valid.
    Expand {
        /// The model file.
        file: PathBuf,
    },
    /// Print the JSON Schema of model files (generated from the format's types).
    Schema,
    /// Print the model-file reference as Markdown: every field, section by section, with the
    /// values it accepts, its default and its meaning (the content of `docs/model-file.md`,
    /// written from the same types as `schema`).
    Reference,
}

pub fn run(cmd: ModelsCommand) -> Result<u8> {
    match cmd {
        ModelsCommand::Validate { files } => validate(&files),
        ModelsCommand::Expand { file } => expand(&file),
        ModelsCommand::Schema => {
            let mut s = serde_json::to_string_pretty(&refresh_check::scenario::schema())?;
            s.push('\n');
            std::io::stdout().lock().write_all(s.as_bytes())?;
            Ok(exit::AS_EXPECTED)
        }
        ModelsCommand::Reference => {
            std::io::stdout().lock().write_all(refresh_check::reference::model_file_reference().as_bytes())?;
            Ok(exit::AS_EXPECTED)
        }
    }
}

fn expand(file: &PathBuf) -> Result<u8> {
    let sc = match Scenario::load(file) {
        Ok(sc) => sc,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(exit::BAD_INPUT);
        }
    };
    match refresh_check::scenario::expanded_text(&sc) {
        Ok(text) => {
            std::io::stdout().lock().write_all(text.as_bytes())?;
            Ok(exit::AS_EXPECTED)
        }
        Err(why) => {
            eprintln!("error: {}: {why}", file.display());
            Ok(exit::BAD_INPUT)
        }
    }
}

/// The ordinary calls of a model for `models validate`'s summary: `; calls: N per tab, the
/// request handler of the file (K rules) | the default request handler[, the attacker calls
/// with the access tokens it copied]`; empty for a model that keeps no access tokens.
/// `n` with its noun in the number it takes: `1 refresh`, `2 refreshes`, `0 requests`.
fn counted(n: u8, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Each tab's refresh budget and the ordinary requests per tab: `1 refresh and 1 request`
/// when every tab has the same budget (`refreshes_per_tab`, or equal `tab_settings`), else
/// each tab's (`refreshes by tab (A 1, B 3) and 1 request`), as the model resolves them
/// ([`refresh_check::model::browser::tab_settings::resolve`]).
fn budgets_summary(sc: &Scenario) -> String {
    let budgets: Vec<u8> =
        refresh_check::model::browser::tab_settings::resolve(&sc.browser).iter().map(|s| s.refreshes).collect();
    let requests = counted(sc.browser.requests_per_tab, "request", "requests");
    match budgets.first() {
        Some(&n) if budgets.iter().any(|&m| m != n) => {
            let by_tab: Vec<_> =
                budgets.iter().enumerate().map(|(t, n)| format!("{} {n}", char::from(b'A' + t as u8))).collect();
            format!("refreshes by tab ({}) and {requests}", by_tab.join(", "))
        }
        n => format!(
            "{} and {requests}",
            counted(n.copied().unwrap_or(sc.browser.refreshes_per_tab), "refresh", "refreshes")
        ),
    }
}

/// The tabs that are server-side render paths (`browser.ssr_paths`), if any:
/// `; the first tab a server-side render path`.
fn ssr_summary(sc: &Scenario) -> String {
    match sc.browser.ssr_paths {
        0 => String::new(),
        1 => "; the first tab a server-side render path".to_string(),
        n => format!("; the first {n} tabs server-side render paths"),
    }
}

/// The sign-outs the user may start (`browser.sign_outs`) and the device they start on
/// (`browser.sign_out_from`), if any: `; 1 sign-out, from device 2`.
fn sign_outs_summary(sc: &Scenario) -> String {
    let b = &sc.browser;
    if b.sign_outs == 0 {
        return String::new();
    }
    let from = match b.sign_out_from {
        Some(d) => format!(", from device {d}"),
        None if b.devices > 1 => ", from any device".to_string(),
        None => String::new(),
    };
    format!("; {}{from}", counted(b.sign_outs, "sign-out", "sign-outs"))
}

fn calls_summary(sc: &Scenario) -> String {
    let attacker = sc.attacker.as_ref().is_some_and(|a| a.uses_access_tokens);
    let Some(p) = sc.protocol.as_ref().filter(|p| p.uses_access || sc.browser.calls_per_tab > 0 || attacker) else {
        return String::new();
    };
    let rules = p.request.steps.first().map_or(0, |s| s.rules.len());
    let handler = match sc.protocol_spec.as_ref().is_some_and(|s| s.request.is_some()) {
        true => format!("the request handler of the file ({rules} rule{})", if rules == 1 { "" } else { "s" }),
        false => "the default request handler".to_string(),
    };
    let attacker = if attacker { ", the attacker calls with the access tokens it copied" } else { "" };
    format!("; calls: {} per tab, {handler}{attacker}", sc.browser.calls_per_tab)
}

fn validate(args: &[PathBuf]) -> Result<u8> {
    // Folders are expanded as `check` expands them: every `*.json` under them, sorted.
    let files = refresh_check::suite::json_files(args, "model file")?;
    let mut code = exit::AS_EXPECTED;
    let mut out = std::io::stdout().lock();
    let mut names: Vec<(String, PathBuf)> = Vec::new();
    for file in &files {
        let loaded = Scenario::load(file).map_err(SuiteError::from).and_then(|sc| {
            // Two files with one name are refused as `check` refuses them.
            match names.iter().find(|(n, _)| *n == sc.name) {
                Some((_, first)) => {
                    Err(SuiteError::DuplicateName { name: sc.name, first: first.clone(), second: sc.path })
                }
                None => {
                    names.push((sc.name.clone(), sc.path.clone()));
                    Ok(sc)
                }
            }
        });
        // The model file's own queries name actions, actors, rules and steps as `check`
        // requires, checked on the model built from the file (`check` refuses them otherwise).
        let loaded = loaded.map_err(|e| e.to_string()).and_then(|sc| {
            if sc.queries.is_empty() {
                return Ok(sc);
            }
            let m = refresh_check::model::build(&sc);
            match refresh_check::query::check_names(&sc.queries, "queries", &m, false) {
                Ok(()) => Ok(sc),
                Err(e) => Err(refresh_check::query::located(&sc.path, &e)),
            }
        });
        match loaded {
            Ok(sc) => {
                // The summary speaks of the clients in the model's word (`2 processes`, `per
                // process`); the file and the model's name stay as written.
                let word = sc.browser.client_word.clone().unwrap_or_default();
                let summary = format!(
                    "{}, {} per tab, {} ticks{}{}{}",
                    browsers_summary(sc.browser.devices, sc.browser.tabs),
                    budgets_summary(&sc),
                    sc.time.max_ticks,
                    ssr_summary(&sc),
                    sign_outs_summary(&sc),
                    calls_summary(&sc)
                );
                writeln!(
                    out,
                    "{}: ok ({}, {})",
                    escape_controls(&file.display().to_string()),
                    sc.name,
                    word.reword(&summary)
                )?
            }
            Err(e) => {
                eprintln!("error: {}", escape_controls(&e));
                code = exit::BAD_INPUT;
            }
        }
    }
    Ok(code)
}
