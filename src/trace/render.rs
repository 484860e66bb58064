//! Rendering a [`Trace`] for people: numbered text steps, a Mermaid `sequenceDiagram`, and the
//! Markdown file written beside each trace.

use std::fmt::Write as _;

use super::Trace;
use crate::properties::Kind;

/// Numbered steps for people.
pub fn render_text(t: &Trace) -> String {
    let mut s = String::new();
    for st in &t.steps {
        let _ = writeln!(s, "  {:>2}. {:<8} {}", st.index, st.actor, st.text);
    }
    s
}

/// A Mermaid `sequenceDiagram`: a lifeline per tab, the jar, the server and the store; one
/// arrow per delivered message; notes for tab events, jar writes and the violation.
pub fn render_mermaid(t: &Trace) -> String {
    let mut s = String::from("sequenceDiagram\n");
    let tabs: Vec<String> = t.initial.tabs.iter().map(|x| x.tab.clone()).collect();
    for tab in &tabs {
        let _ = writeln!(s, "    participant Tab{tab} as tab {tab}");
    }
    s.push_str("    participant Jar as cookie jar\n    participant Server as server\n    participant Store as store\n");
    let lane = |who: &str| -> String {
        match who {
            "server" => "Server".into(),
            "store" => "Store".into(),
            "clock" | "network" | "system" | "browser" => "Server".into(),
            w => w.strip_prefix("tab ").map(|l| format!("Tab{l}")).unwrap_or_else(|| "Server".into()),
        }
    };
    let mut jar = t.initial.jar.clone();
    for st in &t.steps {
        match &st.message {
            Some(m) if st.action != "NetworkLosesMessage" => {
                let arrow =
                    if m.to.starts_with("tab") || m.to == "server" && m.from == "store" { "-->>" } else { "->>" };
                let _ = writeln!(
                    s,
                    "    {}{}{}: {}. {}",
                    lane(&m.from),
                    arrow,
                    lane(&m.to),
                    st.index,
                    mermaid_escape(&m.text)
                );
            }
            _ => {
                let _ = writeln!(s, "    Note over {}: {}. {}", lane(&st.actor), st.index, mermaid_escape(&st.action));
            }
        }
        if st.state.jar != jar {
            jar = st.state.jar.clone();
            let _ = writeln!(s, "    Note over Jar: {}", mermaid_escape(jar.as_deref().unwrap_or("empty")));
        }
    }
    if let Some(last) = t.steps.last() {
        let verb = if t.kind == Kind::Always { "violated" } else { "reached" };
        let _ = writeln!(s, "    Note over {}: ✗ {} {verb}", lane(&last.actor), t.property);
    }
    s
}

fn mermaid_escape(text: &str) -> String {
    text.replace(';', ",").replace('#', "").replace('\n', " ")
}

/// The Markdown file written beside a trace: a heading, the claim, the diagram and the steps.
pub fn render_markdown(t: &Trace) -> String {
    format!(
        "# {} — `{}` {}\n\nModel file: `{}` ({} tabs). Claim: {}.\nShortest {} found: {} steps. Action-index path: `{}`.\n\n```mermaid\n{}```\n\n## Steps\n\n```text\n{}```\n",
        t.model,
        t.property,
        if t.kind == Kind::Always { "violated" } else { "reached" },
        t.model_file.display(),
        t.parameters.tabs,
        t.claim,
        if t.kind == Kind::Always { "counterexample" } else { "example" },
        t.steps.len(),
        t.path,
        render_mermaid(t),
        render_text(t)
    )
}
