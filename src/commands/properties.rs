//! `refresh-check properties [MODEL...]`: the property catalogue: each property's name, kind,
//! claim and the models it applies to ([`properties::Scope`]); with model files, which of them
//! it applies to.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use clap::ValueEnum;
use refresh_check::properties::{self, Kind};
use refresh_check::{exit, suite};
use serde::Serialize;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Model files (JSON), or folders: also list, per property, the models among them it
    /// applies to.
    #[arg(value_name = "MODEL")]
    pub models: Vec<PathBuf>,

    /// Output format: `text` for people; `json`: `{"schema", "properties": [{name, kind,
    /// claim, applies_to, models}]}` (`models` only with MODEL arguments).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

/// The schema of the JSON listing.
const SCHEMA: &str = "refresh-check/properties/v1";

#[derive(Serialize)]
struct Entry {
    name: &'static str,
    kind: Kind,
    claim: &'static str,
    applies_to: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    models: Option<Vec<String>>,
}

#[derive(Serialize)]
struct Listing {
    schema: &'static str,
    properties: Vec<Entry>,
}

pub fn run(args: Args) -> Result<u8> {
    let scenarios = if args.models.is_empty() { None } else { Some(suite::load(&args.models, None)?) };
    let entries: Vec<Entry> = properties::ALL
        .iter()
        .map(|p| Entry {
            name: p.name,
            kind: p.kind,
            claim: p.claim,
            applies_to: p.scope.models,
            models: scenarios
                .as_ref()
                .map(|scs| scs.iter().filter(|sc| p.applies(sc)).map(|sc| sc.name.clone()).collect()),
        })
        .collect();
    let mut out = std::io::stdout().lock();
    match args.format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &Listing { schema: SCHEMA, properties: entries })?;
            writeln!(out)?;
        }
        Format::Text => {
            for e in &entries {
                let kind = match e.kind {
                    Kind::Always => "always",
                    Kind::Sometimes => "sometimes",
                };
                writeln!(out, "{:<27} {:<9} {}", e.name, kind, e.claim)?;
                writeln!(out, "{:<37} applies to {}", "", e.applies_to)?;
                if let Some(models) = &e.models {
                    let list = if models.is_empty() { "none of them".to_string() } else { models.join(", ") };
                    writeln!(out, "{:<37} of the models given: {list}", "")?;
                }
            }
        }
    }
    out.flush()?;
    Ok(exit::AS_EXPECTED)
}
