//! The web trace viewer: one self-contained HTML page per trace, and an index page for a
//! folder of traces (a CI artifact).
//!
//! A page needs no network and no server: it works offline and from `file://`. Its style
//! and script are built into the binary (`include_str!`) and inlined; the trace is rendered
//! into the page as HTML and SVG by maud, which escapes every piece of text, so a label
//! holding `<script>` shows as text. The script only moves the highlighted step.
//!
//! A page shows:
//! - a message sequence chart (`chart`): a lifeline per tab, the cookie jar, the server,
//!   the store and any other actor of the trace, one arrow per message step, the failing
//!   step marked;
//! - the step list, each step a link (`#step-N`) to itself;
//! - the state after the selected step, the fields it changed highlighted (with the value
//!   before), list items it added or removed marked;
//! - keyboard: → / ↓ / `j` next step, ← / ↑ / `k` previous, Home / End first and last.

mod chart;

use maud::{html, Markup, PreEscaped, DOCTYPE};

use crate::properties::Kind;
use crate::trace::diff::{self, Change};
use crate::trace::{Snapshot, Trace};

const CSS: &str = include_str!("assets/viewer.css");
const JS: &str = include_str!("assets/viewer.js");

fn verb(k: Kind) -> &'static str {
    match k {
        Kind::Always => "violated",
        Kind::Sometimes => "reached",
    }
}

fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::Always => "always",
        Kind::Sometimes => "sometimes",
    }
}

fn page(title: &str, body_steps: Option<usize>, content: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="generator" content={ "refresh-check " (env!("CARGO_PKG_VERSION")) };
                title { (title) }
                style { (PreEscaped(CSS)) }
            }
            body data-steps=[body_steps] {
                (content)
                @if body_steps.is_some() {
                    script { (PreEscaped(JS)) }
                }
            }
        }
    }
    .into_string()
}

/// The page of one trace. `source` is the trace file's name, shown in the header.
pub fn trace_page(t: &Trace, source: &str) -> String {
    let title = format!("{} — {} {}", t.model, t.property, verb(t.kind));
    let what = if t.kind == Kind::Always { "counterexample" } else { "example" };
    let mut states: Vec<(&Snapshot, Option<&Snapshot>)> = vec![(&t.initial, None)];
    let mut before = &t.initial;
    for st in &t.steps {
        states.push((&st.state, Some(before)));
        before = &st.state;
    }
    let last = t.steps.len();
    let content = html! {
        header {
            h1 { (t.model) " — " code { (t.property) } " " span class={ "verdict " (verb(t.kind)) } { (verb(t.kind)) } }
            p.claim { "Claim (" (kind_name(t.kind)) "): " (t.claim) "." }
            p.meta {
                "Shortest " (what) ": " (last) " steps. Trace " code { (source) } ", model file "
                code { (t.model_file.display()) } ", " (t.parameters.tabs) " tabs, action-index path "
                code.path { (t.path) } "."
            }
            p.keys {
                kbd { "→" } " " kbd { "j" } " next step · " kbd { "←" } " " kbd { "k" } " previous · "
                kbd { "Home" } " " kbd { "End" } " first and last · each step links to itself"
            }
        }
        section #chart aria-label="Message sequence chart" { (chart::chart(t)) }
        div.panes {
            section #steps {
                h2 { "Steps" }
                ol {
                    li.step data-step="0" #step-0 {
                        a href="#step-0" { span.n { "0." } " " span.text { "initial state" } }
                    }
                    @for st in &t.steps {
                        li class={ "step" @if st.index == last { " fail" } } data-step=(st.index) id={ "step-" (st.index) } {
                            a href={ "#step-" (st.index) } {
                                span.n { (st.index) "." } " "
                                span.text { (st.text) } " "
                                code.action { (st.action) }
                            }
                            @if st.index == last {
                                span.verdict-line { "✗ " (t.property) " " (verb(t.kind)) }
                            }
                        }
                    }
                }
            }
            section #states {
                h2 { "State" }
                @for (i, (after, before)) in states.iter().enumerate() {
                    div.state data-step=(i) hidden[i != 0] {
                        @if i == 0 {
                            h3 { "Initial state" }
                        } @else {
                            @let st = &t.steps[i - 1];
                            h3 { "After step " (i) ": " (st.actor) " · " code { (st.action) } }
                            @if let Some(m) = &st.message {
                                p.message { "Message: " (m.from) " → " (m.to) ": " (m.text) }
                            }
                        }
                        (state_table(after, *before))
                    }
                }
            }
        }
    };
    page(&title, Some(last), content)
}

fn state_table(after: &Snapshot, before: Option<&Snapshot>) -> Markup {
    let changes: Vec<Change> = before.map(|b| diff::changes(b, after)).unwrap_or_default();
    let fields = diff::fields(after);
    html! {
        table.fields {
            @for f in &fields {
                @let change = changes.iter().find(|c| c.name == f.name);
                tr class=[change.map(|_| "changed")] data-field=(f.name) {
                    th { (f.name) }
                    td {
                        @if f.list {
                            @let (removed, added) = change.map(Change::removed_added).unwrap_or_default();
                            @if f.lines.is_empty() && removed.is_empty() { span.empty { "(none)" } }
                            ul {
                                @let mut fresh = added.clone();
                                @for item in &f.lines {
                                    @let is_new = match fresh.iter().position(|a| a == item) {
                                        Some(p) => { fresh.remove(p); true }
                                        None => false,
                                    };
                                    li class=[is_new.then_some("added")] { (item) }
                                }
                                @for r in &removed { li.removed { del { (r) } } }
                            }
                        } @else {
                            span.value { (f.lines.join(" ")) }
                            @if let Some(c) = change {
                                " " span.was { "was " del { (c.before.join(" ")) } }
                            }
                        }
                    }
                }
            }
            // A field the step removed altogether.
            @for c in changes.iter().filter(|c| !fields.iter().any(|f| f.name == c.name)) {
                tr.changed data-field=(c.name) { th { (c.name) } td { span.was { "removed; was " del { (c.before.join(" ")) } } } }
            }
        }
    }
}

/// One row of the index page.
#[derive(Clone, Debug)]
pub struct IndexEntry {
    /// The page's file name, relative to the index (`<trace stem>.html`).
    pub page: String,
    /// The trace file's name.
    pub source: String,
    /// The model's name.
    pub model: String,
    /// The property's key.
    pub property: String,
    /// Its kind.
    pub kind: Kind,
    /// The trace's length in steps: a count.
    pub steps: usize,
    /// The property's claim.
    pub claim: String,
}

impl IndexEntry {
    /// The row for trace `t`, whose page is `page`.
    pub fn new(t: &Trace, page: &str, source: &str) -> Self {
        IndexEntry {
            page: page.into(),
            source: source.into(),
            model: t.model.clone(),
            property: t.property.clone(),
            kind: t.kind,
            steps: t.steps.len(),
            claim: t.claim.clone(),
        }
    }
}

/// What may stay as it is in a link to a page: RFC 3986's unreserved characters.
const LINK_SAFE: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// The link from the index to the page named `page` (a file name in the index's folder): a
/// relative path, `./` then the name percent-encoded, so that no file name can make it a link
/// of another scheme (`javascript:…`) or another place (`//host/…`, `?…`, `#…`).
pub fn page_href(page: &str) -> String {
    format!("./{}", percent_encoding::utf8_percent_encode(page, LINK_SAFE))
}

/// The index page of a folder of traces: one row per trace with its model, property, verdict
/// and length, each linking to the trace's page.
pub fn index_page(title: &str, entries: &[IndexEntry]) -> String {
    let content = html! {
        header {
            h1 { "Traces: " (title) }
            p.meta { (entries.len()) " trace(s). Each page works offline." }
        }
        table.index {
            thead { tr { th { "model" } th { "property" } th { "kind" } th { "verdict" } th.num { "steps" } th { "claim" } th { "trace" } } }
            tbody {
                @for e in entries {
                    tr {
                        td { (e.model) }
                        td { a href=(page_href(&e.page)) { code { (e.property) } } }
                        td { (kind_name(e.kind)) }
                        td { span class={ "verdict " (verb(e.kind)) } { (verb(e.kind)) } }
                        td.num { (e.steps) }
                        td { (e.claim) }
                        td { code { (e.source) } }
                    }
                }
            }
        }
    };
    page(&format!("Traces: {title}"), None, content)
}
