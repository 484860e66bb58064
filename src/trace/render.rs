//! Rendering a [`Trace`] for people: numbered text steps (with the state fields each step
//! changed), a Mermaid `sequenceDiagram`, and the Markdown file written beside each trace.
//!
//! Lifelines come from the trace itself ([`lifelines`]): one per tab of the initial state,
//! the cookie jar, the server, the store, then any other actor that acts or sends or
//! receives a message (an attacker, say), in order of first appearance.

use std::fmt::Write as _;

use super::diff::{self, Change};
use super::{Step, Trace};
use crate::properties::Kind;

/// Actors that are the environment, not a party to the protocol: their steps (time passing,
/// the network losing a message) get no lifeline; a chart notes them across all lifelines.
pub const ENVIRONMENT: [&str; 4] = ["clock", "network", "system", "browser"];

/// The name of the cookie jar's lifeline. No actor is named so: the jar is shared state of
/// the browser, shown because every request reads it and every `Set-Cookie` writes it.
pub const JAR: &str = "cookie jar";

/// What a lifeline stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LifelineKind {
    /// A browser tab.
    Tab,
    /// The browser's cookie jar, shared by the tabs.
    Jar,
    /// The API server.
    Server,
    /// The session store.
    Store,
    /// Any other actor (an attacker, a second server, …).
    Other,
}

/// One lifeline of a sequence chart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lifeline {
    /// The actor's name as the trace spells it (`"tab A"`, `"server"`), or [`JAR`].
    pub name: String,
    /// What it stands for.
    pub kind: LifelineKind,
}

/// The lifelines of a trace's sequence chart, left to right: the tabs, the jar (one per
/// device where the model has several, [`jar_lifelines`]), the server, the store, then the
/// other actors.
pub fn lifelines(t: &Trace) -> Vec<Lifeline> {
    let mut out: Vec<Lifeline> =
        t.initial.tabs.iter().map(|x| Lifeline { name: client(t, &x.tab), kind: LifelineKind::Tab }).collect();
    out.extend(jar_lifelines(t));
    let mut seen: Vec<&str> = Vec::new();
    for st in &t.steps {
        seen.push(&st.actor);
        if let Some(m) = &st.message {
            seen.push(&m.from);
            seen.push(&m.to);
        }
    }
    for (name, kind) in [("server", LifelineKind::Server), ("store", LifelineKind::Store)] {
        if seen.contains(&name) || t.steps.is_empty() {
            out.push(Lifeline { name: name.into(), kind });
        }
    }
    for name in seen {
        if !ENVIRONMENT.contains(&name) && !out.iter().any(|l| l.name == name) {
            let kind = if is_client(t, name) { LifelineKind::Tab } else { LifelineKind::Other };
            out.push(Lifeline { name: name.into(), kind });
        }
    }
    out
}

/// A client's actor name in the trace's client word: `tab A`, `process A`.
fn client(t: &Trace, name: &str) -> String {
    format!("{} {name}", t.client_word())
}

/// Whether an actor name is a client's (`tab A`, `process 2B`, `tab A's requester 2`).
fn is_client(t: &Trace, name: &str) -> bool {
    name.strip_prefix(t.client_word()).is_some_and(|r| r.starts_with(' '))
}

/// The jar's lifelines: [`JAR`] for a browser of one device; with several devices, each with
/// its own jar and storage (the trace's `jar` reads `device 1: …; device 2: …`), one per device,
/// named `device N cookie jar` in device order.
pub fn jar_lifelines(t: &Trace) -> Vec<Lifeline> {
    match device_numbers(t) {
        Some(devices) => {
            devices.iter().map(|d| Lifeline { name: format!("device {d} {JAR}"), kind: LifelineKind::Jar }).collect()
        }
        None => vec![Lifeline { name: JAR.into(), kind: LifelineKind::Jar }],
    }
}

/// The device numbers of a trace whose tabs are named with one (`1A`, `2A`), when there are
/// several; `None` for one device.
fn device_numbers(t: &Trace) -> Option<Vec<String>> {
    let mut devices: Vec<String> = t
        .initial
        .tabs
        .iter()
        .map(|x| x.tab.trim_end_matches(|c: char| c.is_ascii_alphabetic()).to_string())
        .filter(|d| !d.is_empty())
        .collect();
    devices.sort_by_key(|d| d.parse::<u32>().unwrap_or(u32::MAX));
    devices.dedup();
    (devices.len() > 1).then_some(devices)
}

/// What jar lifeline `l` holds in a state whose `jar` field reads `jar`: the whole field for
/// [`JAR`]; for a device's jar (`device 2 cookie jar`) its own entry of the field
/// (`device 2: refresh=3` reads `refresh=3`), `None` when the device holds nothing.
pub fn jar_value(l: &Lifeline, jar: Option<&str>) -> Option<String> {
    let device = l.name.strip_suffix(&format!(" {JAR}")).filter(|d| d.starts_with("device "));
    match device {
        None => jar.map(str::to_string),
        Some(d) => {
            let prefix = format!("{d}: ");
            jar?.split("; ").find_map(|e| e.strip_prefix(prefix.as_str())).map(str::to_string)
        }
    }
}

/// The label of a lifeline: its name, but `localStorage` for a jar's lifeline when it holds
/// the storage (json mode with `json_storage: shared`, whose jar reads `localStorage …`;
/// `device 2 localStorage` for a device's own).
pub fn lifeline_label(t: &Trace, l: &Lifeline) -> String {
    let storage = |j: Option<&str>| jar_value(l, j).is_some_and(|v| v.starts_with("localStorage"));
    let holds_storage = storage(t.initial.jar.as_deref()) || t.steps.iter().any(|s| storage(s.state.jar.as_deref()));
    if l.kind == LifelineKind::Jar && holds_storage {
        l.name.replace(JAR, "localStorage")
    } else {
        l.name.clone()
    }
}

/// The width of a trace's actor column, in characters: 8, or the longest actor's name
/// (`tab A's requester 2`), so that every step's text starts in one column.
pub fn actor_width(steps: &[Step]) -> usize {
    steps.iter().map(|s| s.actor.chars().count()).max().unwrap_or(0).max(8)
}

/// Numbered steps for people: one line each, the texts in one column ([`actor_width`]).
pub fn render_text(t: &Trace) -> String {
    let mut s = String::new();
    let w = actor_width(&t.steps);
    for st in &t.steps {
        let _ = writeln!(s, "  {:>2}. {:<w$} {}", st.index, st.actor, st.text);
    }
    s
}

/// Numbered steps with, for each, the actor and action, the sentence, the message delivered
/// (if any) and only the state fields the step changed.
pub fn render_text_changes(t: &Trace) -> String {
    let verb = if t.kind == Kind::Always { "violated" } else { "reached" };
    let mut s = format!("{} — {} {verb} ({} steps)\n", t.model, t.property, t.steps.len());
    let mut before = &t.initial;
    let w = actor_width(&t.steps);
    for st in &t.steps {
        let _ = writeln!(s, "{:>4}. {:<w$} {}", st.index, st.actor, st.action);
        let _ = writeln!(s, "      {}", st.text);
        if let Some(m) = &st.message {
            let _ = writeln!(s, "      message: {} → {}: {}", m.from, m.to, m.text);
        }
        let changes = diff::changes(before, &st.state);
        for (i, c) in changes.iter().enumerate() {
            let _ = writeln!(s, "      {} {}", if i == 0 { "changed:" } else { "        " }, c.summary());
        }
        before = &st.state;
    }
    if !t.steps.is_empty() {
        let _ = writeln!(s, "      ✗ {} {verb} at step {}", t.property, t.steps.len());
    }
    s
}

/// A Mermaid `sequenceDiagram`: a lifeline per tab, the jar, the server, the store and any
/// other actor; one arrow per delivered message; notes for tab events, jar writes and the
/// violation.
pub fn render_mermaid(t: &Trace) -> String {
    mermaid(t, false)
}

/// [`render_mermaid`] with, after each step, a note listing the state fields it changed.
pub fn render_mermaid_changes(t: &Trace) -> String {
    mermaid(t, true)
}

/// The Mermaid identifiers of the lifelines: letters and digits only (an actor's name comes
/// from the trace file and is shown only through [`mermaid_escape`]), one per lifeline.
fn mermaid_ids(t: &Trace, lines: &[Lifeline]) -> Vec<String> {
    let mut ids: Vec<String> = Vec::with_capacity(lines.len());
    for l in lines {
        let alnum = |s: &str| s.chars().filter(char::is_ascii_alphanumeric).collect::<String>();
        let mut id = match l.kind {
            LifelineKind::Tab => format!("Tab{}", alnum(l.name.trim_start_matches(&format!("{} ", t.client_word())))),
            LifelineKind::Jar => format!("Jar{}", l.name.chars().filter(char::is_ascii_digit).collect::<String>()),
            LifelineKind::Server => "Server".into(),
            LifelineKind::Store => "Store".into(),
            LifelineKind::Other => format!("Actor{}", alnum(&l.name)),
        };
        if ids.contains(&id) {
            id = format!("{id}N{}", ids.len());
        }
        ids.push(id);
    }
    ids
}

fn mermaid(t: &Trace, with_changes: bool) -> String {
    let lines = lifelines(t);
    let mut s = String::from("sequenceDiagram\n");
    let ids = mermaid_ids(t, &lines);
    for (l, id) in lines.iter().zip(&ids) {
        let _ = writeln!(s, "    participant {id} as {}", mermaid_escape(&lifeline_label(t, l)));
    }
    // A note may span lifelines (`Note over A,B`); an arrow joins two lifelines.
    let lane = |who: &str| -> String {
        match lines.iter().position(|l| l.name == who) {
            Some(i) => ids[i].clone(),
            None => format!("{},{}", ids[0], ids[ids.len() - 1]),
        }
    };
    let has_lane = |who: &str| lines.iter().any(|l| l.name == who);
    let mut before = &t.initial;
    for st in &t.steps {
        match &st.message {
            // A message of an actor without a lifeline (the clock's tick settling, with
            // `time.max_in_flight_ticks`): a note across the chart, no arrow.
            Some(m) if !has_lane(&m.from) || !has_lane(&m.to) => {
                let _ = writeln!(
                    s,
                    "    Note over {}: {}. {} ({})",
                    lane(&st.actor),
                    st.index,
                    mermaid_escape(&st.action),
                    mermaid_escape(&m.text)
                );
            }
            Some(m) if st.action != "NetworkLosesMessage" => {
                let reply = is_client(t, &m.to) || m.to == "server" && m.from == "store";
                let arrow = if reply { "-->>" } else { "->>" };
                let _ = writeln!(
                    s,
                    "    {}{arrow}{}: {}. {}",
                    lane(&m.from),
                    lane(&m.to),
                    st.index,
                    mermaid_escape(&m.text)
                );
            }
            Some(m) => {
                let _ = writeln!(
                    s,
                    "    {}-x{}: {}. lost: {}",
                    lane(&m.from),
                    lane(&m.to),
                    st.index,
                    mermaid_escape(&m.text)
                );
            }
            None => {
                let _ = writeln!(s, "    Note over {}: {}. {}", lane(&st.actor), st.index, mermaid_escape(&st.action));
            }
        }
        for (l, id) in lines.iter().zip(&ids).filter(|(l, _)| l.kind == LifelineKind::Jar) {
            let now = jar_value(l, st.state.jar.as_deref());
            if now != jar_value(l, before.jar.as_deref()) {
                let _ = writeln!(s, "    Note over {id}: {}", mermaid_escape(now.as_deref().unwrap_or("empty")));
            }
        }
        if with_changes {
            let changes: Vec<Change> = diff::changes(before, &st.state);
            if !changes.is_empty() {
                let text: Vec<String> = changes.iter().map(|c| mermaid_escape(&c.summary())).collect();
                let _ = writeln!(s, "    Note right of {}: {}", lane(&st.actor), text.join("<br/>"));
            }
        }
        before = &st.state;
    }
    if let Some(last) = t.steps.last() {
        let verb = if t.kind == Kind::Always { "violated" } else { "reached" };
        let _ = writeln!(s, "    Note over {}: ✗ {} {verb}", lane(&last.actor), mermaid_escape(&t.property));
    }
    s
}

/// Mermaid's entity codes for the characters that end a statement (`;`, a newline), start an
/// entity (`#`) or would open an HTML tag (`<`). A `>` alone opens nothing and stays, so SQL
/// such as `expires>=0` reads as written.
fn mermaid_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '#' => out.push_str("#35;"),
            ';' => out.push_str("#59;"),
            '<' => out.push_str("#lt;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// The devices of a trace's model: the distinct device numbers its tabs are named with (`1A`,
/// `2A`: two), or 1 where tabs are named by letter alone (one device).
fn devices_of(t: &Trace) -> u8 {
    let mut devices: Vec<&str> =
        t.initial.tabs.iter().map(|x| x.tab.trim_end_matches(|c: char| c.is_ascii_alphabetic())).collect();
    devices.sort_unstable();
    devices.dedup();
    u8::try_from(devices.len()).unwrap_or(u8::MAX).max(1)
}

/// The Markdown file written beside a trace: a heading, the claim, the diagram and the steps.
pub fn render_markdown(t: &Trace) -> String {
    format!(
        "# {} — `{}` {}\n\nModel file: `{}` ({}). Claim: {}.\nShortest {} found: {} steps. Action-index path: `{}`.\n\n```mermaid\n{}```\n\n## Steps\n\n```text\n{}```\n",
        t.model,
        t.property,
        if t.kind == Kind::Always { "violated" } else { "reached" },
        t.model_file.display(),
        crate::report::clients_summary(devices_of(t), t.parameters.tabs, t.client_word()),
        t.claim,
        if t.kind == Kind::Always { "counterexample" } else { "example" },
        t.steps.len(),
        t.path,
        render_mermaid(t),
        render_text(t)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::trace::{MessageView, Step};

    /// The committed Directus 10.10 race, with an attacker that replays tab A's request and a
    /// clock tick added at the end.
    fn race_with_attacker() -> Trace {
        let mut t: Trace =
            serde_json::from_str(include_str!("../../traces/directus-10.10-session.no_spurious_logout.json")).unwrap();
        let state = t.steps.last().unwrap().state.clone();
        let msg =
            MessageView { from: "attacker".into(), to: "server".into(), text: "POST /auth/refresh (stolen)".into() };
        for (actor, action, message) in
            [("attacker", "AttackerReplaysRefresh", Some(msg)), ("clock", "ClockTicks", None)]
        {
            t.steps.push(Step {
                index: t.steps.len() + 1,
                actor: actor.into(),
                action: action.into(),
                text: action.into(),
                message,
                state: state.clone(),
            });
        }
        t
    }

    #[test]
    fn lifelines_come_from_the_trace_other_actors_included_the_environment_not() {
        let t = race_with_attacker();
        let names: Vec<String> = lifelines(&t).into_iter().map(|l| l.name).collect();
        assert_eq!(names, ["tab A", "tab B", "cookie jar", "server", "store", "attacker"]);
        let m = render_mermaid(&t);
        assert!(m.contains("    participant Actorattacker as attacker\n"), "{m}");
        assert!(m.contains("    Actorattacker->>Server: 11. POST /auth/refresh (stolen)\n"), "{m}");
        assert!(m.contains("    Note over TabA,Actorattacker: 12. ClockTicks\n"), "{m}");
    }

    /// In json mode with a shared storage the jar's lifeline is labelled `localStorage` in the
    /// Mermaid chart, as in the explorer (it read "cookie jar"); a cookie model keeps "cookie jar".
    #[test]
    fn the_jar_lifeline_says_local_storage_where_it_holds_the_shared_storage() {
        let t: Trace =
            serde_json::from_str(include_str!("../../traces/auth0-spa-js-no-single-flight.no_spurious_logout.json"))
                .unwrap();
        let m = render_mermaid(&t);
        assert!(m.contains("    participant Jar as localStorage\n"), "{m}");
        assert!(!m.contains("cookie jar"), "{m}");
        let m = render_mermaid(&race_with_attacker());
        assert!(m.contains("    participant Jar as cookie jar\n"), "{m}");
    }

    /// A trace of several devices, each with its own jar and storage, draws a jar lifeline per
    /// device (it drew one "cookie jar" for all), and a write to one device's jar is noted on
    /// that device's lifeline with its own entry.
    #[test]
    fn each_device_has_its_own_jar_lifeline() {
        let mut t: Trace = serde_json::from_str(include_str!(
            "../../traces/dex-973-sign-in-replaces-client-token.no_spurious_logout.json"
        ))
        .unwrap();
        let names: Vec<String> = lifelines(&t).into_iter().map(|l| l.name).collect();
        assert_eq!(names[..4], ["tab 1A", "tab 2A", "device 1 cookie jar", "device 2 cookie jar"]);
        assert!(!names.iter().any(|n| n == JAR), "{names:?}");
        // Device 2's storage receives a token at the last step: noted over its own lifeline.
        t.steps.last_mut().unwrap().state.jar = Some("device 2: localStorage refresh_token=3".into());
        let m = render_mermaid(&t);
        assert!(m.contains("    participant Jar1 as device 1 cookie jar\n"), "{m}");
        assert!(m.contains("    participant Jar2 as device 2 localStorage\n"), "{m}");
        assert!(m.contains("    Note over Jar2: localStorage refresh_token=3\n"), "{m}");
        assert!(!m.contains("Note over Jar1"), "{m}");
        let jar = &lifelines(&t)[3];
        assert_eq!(jar_value(jar, Some("device 1: refresh=2; device 2: refresh=4")).as_deref(), Some("refresh=4"));
        assert_eq!(jar_value(jar, Some("device 1: refresh=2")), None);
    }

    /// A trace's Markdown header counts devices and tabs as the report does: "(1 tab)", "(2
    /// tabs)", "(3 devices of 1 tab each)" (it said "(1 tabs)" for every device count).
    #[test]
    fn the_markdown_header_counts_devices_and_tabs() {
        let t: Trace = serde_json::from_str(include_str!(
            "../../traces/two-token-cap-sign-in-deletes-the-id-it-read.eviction_completes.json"
        ))
        .unwrap();
        assert!(render_markdown(&t).contains(".json` (3 devices of 1 tab each). Claim:"), "{}", render_markdown(&t));
        assert!(render_markdown(&race_with_attacker()).contains(".json` (2 tabs). Claim:"));
    }

    /// The clock's tick settling (`time.max_in_flight_ticks`) is a message of an actor without
    /// a lifeline: a note across the chart, never an arrow between two lanes at once (which
    /// Mermaid refuses to parse).
    #[test]
    fn a_message_without_lifelines_is_a_note_not_an_arrow() {
        let mut t = race_with_attacker();
        let state = t.steps.last().unwrap().state.clone();
        let msg = MessageView { from: "clock".into(), to: "clock".into(), text: "now = 1".into() };
        t.steps.push(Step {
            index: t.steps.len() + 1,
            actor: "clock".into(),
            action: "ClockMayTickAgain".into(),
            text: "the tick to 1 is settled".into(),
            message: Some(msg),
            state,
        });
        let m = render_mermaid(&t);
        assert!(m.contains("    Note over TabA,Actorattacker: 13. ClockMayTickAgain (now = 1)\n"), "{m}");
        for line in m.lines().filter(|l| l.contains(">>") || l.contains("-x")) {
            let lanes = line.split(':').next().unwrap();
            assert!(!lanes.contains(','), "an arrow joins two lifelines: {line}");
        }
    }

    #[test]
    fn mermaid_escape_keeps_statements_and_html_inert() {
        assert_eq!(mermaid_escape("a;b#c<script>\nx>=0"), "a#59;b#35;c#lt;script> x>=0");
    }
}
