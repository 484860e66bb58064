//! The web trace viewer: one self-contained HTML page per trace, a page of two traces side by
//! side, and an index page for a folder of traces (a CI artifact).
//!
//! A page needs no network and no server: it works offline and from `file://`. Its style
//! and script are built into the binary (`include_str!`) and inlined; the trace is rendered
//! into the page as HTML and SVG by maud, which escapes every piece of text, so a label
//! holding `<script>` shows as text. The script only moves the highlighted step and filters.
//!
//! A trace page shows, under a header that stays on screen:
//! - a message sequence chart (`chart`): a lifeline per actor, each message from the step that
//!   sent it to the step that delivered it, what is in flight at the selected step, repeated
//!   clock ticks in one row, the failing step marked, and the steps that explain it marked;
//! - beside it, always on screen: the step list (each step a link `#step-N` to itself), each
//!   property's status at the selected step (`explain`), and the state after the selected
//!   step, the fields it changed highlighted (with the value before), the fields the trace's
//!   property reads marked;
//! - an actor filter and a search in the steps;
//! - keyboard: → / ↓ / `j` next step, ← / ↑ / `k` previous, Home / End first and last (steps
//!   hidden by the filter or the search are skipped), `/` the search.

mod chart;
pub mod explain;

use maud::{html, Markup, PreEscaped, DOCTYPE};

use crate::properties::Kind;
use crate::trace::diff::{self, Change};
use crate::trace::{Snapshot, Step, Trace};
pub use chart::{flights, wrap, Flight};
pub use explain::Explanation;

const CSS: &str = include_str!("assets/viewer.css");
const JS: &str = include_str!("assets/viewer.js");
const INDEX_JS: &str = include_str!("assets/index.js");

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

/// A page: `class` names the kind of page (`trace`, `pair`, `index`) on `<body>`; `steps` is
/// the last step of a stepped page; `script` the page's own script.
fn page(title: &str, class: &str, steps: Option<usize>, script: Option<&str>, content: Markup) -> String {
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
            body class=(class) data-steps=[steps] {
                (content)
                @if let Some(js) = script {
                    script { (PreEscaped(js)) }
                }
            }
        }
    }
    .into_string()
}

/// The actors that step `st` involves, `|`-delimited (`|tab A|server|`), for the actor filter.
fn step_actors(st: &Step) -> String {
    let mut names = vec![st.actor.as_str()];
    if let Some(m) = &st.message {
        names.extend([m.from.as_str(), m.to.as_str()]);
    }
    names.dedup();
    format!("|{}|", names.join("|"))
}

/// The page of one trace. `source` is the trace file's name, shown in the header; `ex` what
/// the page explains ([`Explanation::of`]; `Explanation::default()` for none).
pub fn trace_page(t: &Trace, source: &str, ex: &Explanation) -> String {
    let title = format!("{} — {} {}", t.model, t.property, verb(t.kind));
    let what = if t.kind == Kind::Always { "counterexample" } else { "example" };
    let mut states: Vec<(&Snapshot, Option<&Snapshot>)> = vec![(&t.initial, None)];
    let mut before = &t.initial;
    for st in &t.steps {
        states.push((&st.state, Some(before)));
        before = &st.state;
    }
    let last = t.steps.len();
    let causes = ex.causes(t);
    let flights = chart::flights(t);
    let read_fields: Vec<&str> = ex.reads.iter().map(|r| r.field.as_str()).collect();
    let actors = chart::chart_lifelines(t);
    let content = html! {
        header #top {
            h1 { (t.model) " — " code { (t.property) } " " span class={ "verdict " (verb(t.kind)) } { (verb(t.kind)) } }
            p.claim { "Claim (" (kind_name(t.kind)) "): " (t.claim) "." }
            p.meta {
                "Shortest " (what) ": " (last) " steps. Trace " code { (source) } ", model file "
                code { (t.model_file.display()) } ", " (t.parameters.tabs) " " (clients_word(t)) ", action-index path "
                code.path { (t.path) } "."
            }
            div.toolbar {
                span.filter-label { "Actors:" }
                @for l in &actors {
                    label.actor-toggle { input type="checkbox" checked data-actor=(l.name); " " (l.name) }
                }
                label.search { "Search " input #search type="search" placeholder="text, action, message" autocomplete="off"; }
                span #search-count {}
                span.keys {
                    kbd { "→" } kbd { "j" } " next · " kbd { "←" } kbd { "k" } " previous · "
                    kbd { "Home" } kbd { "End" } " · " kbd { "/" } " search"
                }
            }
        }
        main.layout {
            section #chart aria-label="Message sequence chart" { (chart::chart(t, ex)) }
            aside #side {
                section #steps {
                    h2 { "Steps" }
                    ol {
                        li.step data-step="0" data-actors="||" #step-0 {
                            a href="#step-0" { span.n { "0." } " " span.text { "initial state" } }
                        }
                        @for st in &t.steps {
                            @let cause = causes.iter().find(|(k, _)| *k == st.index);
                            @let decided = flights.iter().find(|f| f.delivered == Some(st.index) && st.message.as_ref() == Some(&f.msg));
                            li class={ "step" @if st.index == last { " fail" } @if cause.is_some() { " cause" } }
                                data-step=(st.index) data-actors=(step_actors(st)) id={ "step-" (st.index) } {
                                a href={ "#step-" (st.index) } {
                                    span.n { (st.index) "." } " "
                                    span.text { (st.text) } " "
                                    code.action { (st.action) }
                                }
                                @if let Some(f) = decided.filter(|f| f.sent < st.index) {
                                    span.sent { "sent at step " (f.sent) }
                                }
                                @if let Some((_, fields)) = cause {
                                    span.cause-line {
                                        "◆ "
                                        @if fields.is_empty() { (t.property) " " (verb(t.kind)) " from this step" }
                                        @else { "last changed " @for (k, f) in fields.iter().enumerate() { @if k > 0 { ", " } code { (f) } } ", read by " code { (t.property) } }
                                    }
                                }
                                @if st.index == last {
                                    span.verdict-line { "✗ " (t.property) " " (verb(t.kind)) }
                                }
                            }
                        }
                    }
                }
                section #explain {
                    h2 { "Properties at step " span #explain-step { "0" } }
                    @if let Some(why) = &ex.unavailable {
                        p.note { "Property status is not shown: " (why) "." }
                    }
                    @if !ex.properties.is_empty() {
                        table #props {
                            @for p in &ex.properties {
                                @let timeline: String = (0..p.holds.len()).map(|i| if p.shows(i) { '1' } else { '0' }).collect();
                                tr class={ "prop " (kind_name(p.kind)) @if p.name == t.property { " own" } }
                                    data-timeline=(timeline) data-kind=(kind_name(p.kind)) title=(p.claim) {
                                    th { code { (p.name) } }
                                    td.status { (status_word(p.kind, p.shows(0))) }
                                    td.since {}
                                }
                            }
                        }
                    }
                    @if !ex.reads.is_empty() {
                        p.reads {
                            code { (t.property) } " reads "
                            @for (k, r) in ex.reads.iter().enumerate() {
                                @if k > 0 { ", " }
                                code { (r.field) }
                                @match r.step {
                                    Some(s) => { " (last changed at " a href={ "#step-" (s) } { "step " (s) } ")" }
                                    None => { " (unchanged)" }
                                }
                            }
                            "."
                        }
                    }
                }
                section #states {
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
                                @if let Some(d) = flights.iter().find(|f| f.delivered == Some(i) && st.message.as_ref() == Some(&f.msg)).and_then(|f| ex.decisions.get(f.sent).cloned().flatten().filter(|_| f.msg.to != "store" && (f.msg.from == "server" || f.msg.from.starts_with("node")))) {
                                    p.decision { "Server's decision (step " (flights.iter().find(|f| f.delivered == Some(i)).map_or(i, |f| f.sent)) "): " (d) }
                                }
                            }
                            (state_table(after, *before, &read_fields))
                        }
                    }
                }
            }
        }
    };
    page(&title, "trace", Some(last), Some(JS), content)
}

/// The status of a property at a step, in words.
fn status_word(kind: Kind, shows: bool) -> &'static str {
    match (kind, shows) {
        (Kind::Always, true) => "✗ violated",
        (Kind::Always, false) => "✓ holds",
        (Kind::Sometimes, true) => "✓ reached",
        (Kind::Sometimes, false) => "· not yet",
    }
}

fn state_table(after: &Snapshot, before: Option<&Snapshot>, read: &[&str]) -> Markup {
    let changes: Vec<Change> = before.map(|b| diff::changes(b, after)).unwrap_or_default();
    let fields = diff::fields(after);
    html! {
        table.fields {
            @for f in &fields {
                @let change = changes.iter().find(|c| c.name == f.name);
                @let is_read = read.contains(&f.name.as_str());
                tr class=[class_list(&[(change.is_some(), "changed"), (is_read, "read")])] data-field=(f.name) {
                    th { @if is_read { span.read-mark title="read by the trace's property" { "◆ " } } (f.name) }
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

/// `"a b"` from the names whose flag is set; `None` if none is.
fn class_list(parts: &[(bool, &str)]) -> Option<String> {
    let on: Vec<&str> = parts.iter().filter(|(b, _)| *b).map(|(_, n)| *n).collect();
    (!on.is_empty()).then(|| on.join(" "))
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
    /// Whether the model file expects this verdict ([`Expectation`]).
    pub expectation: Expectation,
    /// Other pages this row links to, as (label, page file name in the index's folder): the
    /// hook for a row that belongs with others, such as the two traces of a comparison and
    /// their side-by-side page ([`pair_page`]).
    pub links: Vec<(String, String)>,
}

/// Whether a trace's verdict is the one its model file expects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expectation {
    /// The model file's `expect` names this verdict (a known bug reproduced, a sanity
    /// property reached).
    Expected,
    /// It does not: the invariant was expected to hold (the default), or the reachability
    /// property to be unreached.
    Unexpected,
    /// The model file could not be read.
    Unknown,
}

impl Expectation {
    /// Its name on the page: `expected`, `unexpected`, `unknown`.
    pub fn name(self) -> &'static str {
        match self {
            Expectation::Expected => "expected",
            Expectation::Unexpected => "unexpected",
            Expectation::Unknown => "unknown",
        }
    }
}

impl IndexEntry {
    /// The row for trace `t`, whose page is `page`; its expectation is unknown until set.
    pub fn new(t: &Trace, page: &str, source: &str) -> Self {
        IndexEntry {
            page: page.into(),
            source: source.into(),
            model: t.model.clone(),
            property: t.property.clone(),
            kind: t.kind,
            steps: t.steps.len(),
            claim: t.claim.clone(),
            expectation: Expectation::Unknown,
            links: Vec::new(),
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

/// The index page of a folder of traces: the traces grouped by model (one `tbody` per model,
/// models in order of first appearance), each row with its property, kind, verdict, whether it
/// was expected, length, claim and file, linking to the trace's page; filters by property,
/// verdict and expectation, and a text filter.
pub fn index_page(title: &str, entries: &[IndexEntry]) -> String {
    let mut models: Vec<&str> = Vec::new();
    for e in entries {
        if !models.contains(&e.model.as_str()) {
            models.push(&e.model);
        }
    }
    let links = entries.iter().any(|e| !e.links.is_empty());
    let mut properties: Vec<&str> = entries.iter().map(|e| e.property.as_str()).collect();
    properties.sort_unstable();
    properties.dedup();
    let content = html! {
        header #top {
            h1 { "Traces: " (title) }
            p.meta { (entries.len()) " trace(s) of " (models.len()) " model(s). Each page works offline." }
            div.toolbar {
                label { "Property " select #f-property {
                    option value="" { "all" }
                    @for p in &properties { option value=(p) { (p) } }
                } }
                label { "Verdict " select #f-verdict {
                    option value="" { "all" }
                    option value="violated" { "violated" }
                    option value="reached" { "reached" }
                } }
                label { "Expectation " select #f-expectation {
                    option value="" { "all" }
                    option value="expected" { "expected" }
                    option value="unexpected" { "unexpected" }
                    option value="unknown" { "unknown" }
                } }
                label.search { "Search " input #f-text type="search" placeholder="model, property, claim" autocomplete="off"; }
                span #f-count { (entries.len()) " shown" }
            }
        }
        table.index {
            thead { tr { th { "property" } th { "kind" } th { "verdict" } th { "expectation" } th.num { "steps" } th { "claim" } th { "trace" } @if links { th { "see also" } } } }
            @for m in &models {
                tbody.model data-model=(m) {
                    tr.model-head { th colspan=(if links { 8 } else { 7 }) { (m) } }
                    @for e in entries.iter().filter(|e| e.model == *m) {
                        tr.entry data-property=(e.property) data-verdict=(verb(e.kind)) data-expectation=(e.expectation.name()) {
                            td { a href=(page_href(&e.page)) { code { (e.property) } } }
                            td { (kind_name(e.kind)) }
                            td { span class={ "verdict " (verb(e.kind)) } { (verb(e.kind)) } }
                            td { span class={ "expectation " (e.expectation.name()) } { (e.expectation.name()) } }
                            td.num { (e.steps) }
                            td { (e.claim) }
                            td { code { (e.source) } }
                            @if links {
                                td.links { @for (k, (label, page)) in e.links.iter().enumerate() { @if k > 0 { " · " } a href=(page_href(page)) { (label) } } }
                            }
                        }
                    }
                }
            }
        }
    };
    page(&format!("Traces: {title}"), "index", None, Some(INDEX_JS), content)
}

/// How two traces' steps line up: pairs of step indices (1-based), `None` where one trace has
/// no step there. Steps that are the same event (actor, action and message) are aligned, in
/// order (a longest common subsequence); the steps between them are paired up in order.
pub fn align(a: &Trace, b: &Trace) -> Vec<(Option<usize>, Option<usize>)> {
    let key = |s: &Step| (s.actor.clone(), s.action.clone(), s.message.clone());
    let (ka, kb): (Vec<_>, Vec<_>) = (a.steps.iter().map(key).collect(), b.steps.iter().map(key).collect());
    let (n, m) = (ka.len(), kb.len());
    // lcs[i][j]: the longest common subsequence of ka[i..] and kb[j..].
    let mut lcs = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if ka[i] == kb[j] { lcs[i + 1][j + 1] + 1 } else { lcs[i + 1][j].max(lcs[i][j + 1]) };
        }
    }
    let mut out = Vec::new();
    let (mut i, mut j) = (0, 0);
    let (mut ga, mut gb): (Vec<usize>, Vec<usize>) = (Vec::new(), Vec::new());
    let flush = |ga: &mut Vec<usize>, gb: &mut Vec<usize>, out: &mut Vec<(Option<usize>, Option<usize>)>| {
        for k in 0..ga.len().max(gb.len()) {
            out.push((ga.get(k).copied(), gb.get(k).copied()));
        }
        ga.clear();
        gb.clear();
    };
    while i < n || j < m {
        if i < n && j < m && ka[i] == kb[j] {
            flush(&mut ga, &mut gb, &mut out);
            out.push((Some(i + 1), Some(j + 1)));
            i += 1;
            j += 1;
        } else if j >= m || (i < n && lcs[i + 1][j] >= lcs[i][j + 1]) {
            ga.push(i + 1);
            i += 1;
        } else {
            gb.push(j + 1);
            j += 1;
        }
    }
    flush(&mut ga, &mut gb, &mut out);
    out
}

/// The fields in which two states differ, with each side's value (one line; for a list, the
/// items only that side has).
fn state_differences(a: &Snapshot, b: &Snapshot) -> Vec<(String, String, String)> {
    diff::changes(a, b)
        .into_iter()
        .map(|c| {
            let show = |lines: &[&str]| if lines.is_empty() { "(none)".to_string() } else { lines.join("; ") };
            if c.list {
                // A list: only the items that one side has and the other has not.
                let (only_a, only_b) = c.removed_added();
                (c.name.clone(), show(&only_a), show(&only_b))
            } else {
                let (x, y): (Vec<&str>, Vec<&str>) =
                    (c.before.iter().map(String::as_str).collect(), c.after.iter().map(String::as_str).collect());
                (c.name.clone(), show(&x), show(&y))
            }
        })
        .collect()
}

/// One side of a row of the side-by-side page.
fn pair_cell(t: &Trace, step: Option<usize>, same: bool) -> Markup {
    html! {
        @match step {
            Some(i) => {
                @let st = &t.steps[i - 1];
                td class={ "side" @if !same { " differs" } } {
                    span.n { (i) "." } " " span.actor { (st.actor) } " " span.text { (st.text) } " " code.action { (st.action) }
                    @if let Some(m) = &st.message { div.message { (m.from) " → " (m.to) ": " (m.text) } }
                }
            }
            None => { td.side.gap { "—" } }
        }
    }
}

/// Two traces side by side (a policy and its fix, or two counterexamples of one property):
/// their steps aligned ([`align`]), each row marked `same` or `differs`, and for each row the
/// state fields in which the two states after it differ. `sources` are the files' names.
pub fn pair_page(a: &Trace, b: &Trace, sources: (&str, &str)) -> String {
    let rows = align(a, b);
    let title = format!("{} vs {}", sources.0, sources.1);
    let same_count = rows
        .iter()
        .filter(|(x, y)| {
            x.is_some() && y.is_some() && {
                let (sa, sb) = (&a.steps[x.unwrap_or(1) - 1], &b.steps[y.unwrap_or(1) - 1]);
                sa.actor == sb.actor && sa.action == sb.action && sa.message == sb.message
            }
        })
        .count();
    let state_a = |k: Option<usize>, upto: usize| {
        k.map(|i| &a.steps[i - 1].state).unwrap_or(if upto == 0 { &a.initial } else { &a.steps[upto - 1].state })
    };
    let state_b = |k: Option<usize>, upto: usize| {
        k.map(|i| &b.steps[i - 1].state).unwrap_or(if upto == 0 { &b.initial } else { &b.steps[upto - 1].state })
    };
    let content = html! {
        header #top {
            h1 { "Side by side: " code { (sources.0) } " and " code { (sources.1) } }
            div.pair-heads {
                @for (t, src, side) in [(a, sources.0, "A"), (b, sources.1, "B")] {
                    p.meta {
                        strong { (side) ": " } (t.model) " — " code { (t.property) } " "
                        span class={ "verdict " (verb(t.kind)) } { (verb(t.kind)) } " in " (t.steps.len()) " steps (" code { (src) } ")"
                    }
                }
            }
            p.meta #pair-summary {
                (rows.len()) " aligned rows: " (same_count) " the same event in both, "
                (rows.len() - same_count) " that differ or have no counterpart."
            }
            p.keys { kbd { "j" } " / " kbd { "k" } " next and previous difference" }
        }
        main {
            table.pair {
                thead { tr { th.num { "#" } th { "A: " (sources.0) } th { "B: " (sources.1) } th { "state fields that differ after the step" } } }
                tbody {
                    @let (mut last_a, mut last_b) = (0usize, 0usize);
                    @for (k, (x, y)) in rows.iter().enumerate() {
                        @let same = match (x, y) {
                            (Some(i), Some(j)) => { let (sa, sb) = (&a.steps[i - 1], &b.steps[j - 1]); sa.actor == sb.actor && sa.action == sb.action && sa.message == sb.message }
                            _ => false,
                        };
                        @let _ = { if let Some(i) = x { last_a = *i; } if let Some(j) = y { last_b = *j; } };
                        @let differences = state_differences(state_a(*x, last_a), state_b(*y, last_b));
                        tr class={ "row " @if same { "same" } @else { "differs" } @if !differences.is_empty() { " state-differs" } } id={ "row-" (k + 1) } data-row=(k + 1) {
                            td.num { a href={ "#row-" (k + 1) } { (k + 1) } }
                            (pair_cell(a, *x, same))
                            (pair_cell(b, *y, same))
                            td.state-diff {
                                @if differences.is_empty() { span.empty { "same state" } }
                                @else {
                                    ul { @for (name, va, vb) in &differences { li data-field=(name) { code { (name) } ": " span.a { (va) } " | " span.b { (vb) } } } }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    page(&title, "pair", None, Some(PAIR_JS), content)
}

/// The side-by-side page's script: `j`/`k` move to the next or previous row that differs.
const PAIR_JS: &str = include_str!("assets/pair.js");

/// The trace's client word for its count of clients: `"tab"` for one, `"tabs"` (or the
/// plural of `browser.client_word`) for several.
fn clients_word(t: &Trace) -> String {
    if t.parameters.tabs == 1 {
        t.client_word().to_string()
    } else {
        crate::model::client_word::plural(t.client_word())
    }
}
