//! The message sequence chart of a trace, as inline SVG: a lifeline per actor of the trace
//! ([`trace::lifelines`]), one arrow per message step (class `arrow`), a note for each step
//! an actor takes on its own (class `note`) or the environment takes (across all lifelines),
//! a note on the cookie jar's lifeline when a step changes the jar, and the last step marked
//! as the violation (or the example's end). Every row is a `g.step` with `data-step` and
//! `id="chart-step-N"`, which the page's script highlights.
//!
//! All text goes through maud, which escapes it; long labels are shortened with `…` and keep
//! their full text in a `<title>` (shown on hover).

use maud::{html, Markup};

use crate::properties::Kind;
use crate::trace::{lifelines, Lifeline, LifelineKind, Trace, ENVIRONMENT, JAR};

/// Horizontal distance between lifelines, in pixels.
const COL: f64 = 200.0;
/// Left gutter for step numbers.
const LEFT: f64 = 56.0;
/// Right margin, where long arrow labels may run on.
const RIGHT: f64 = 220.0;
/// Height of the lifeline header (name boxes and the jar's first value).
const HEAD: f64 = 78.0;
/// Height of one step's row.
const ROW: f64 = 50.0;
/// Estimated width of one character of label text at 12 px, for shortening.
const CHAR: f64 = 6.6;

fn x_of(i: usize) -> f64 {
    LEFT + COL * (i as f64 + 0.5)
}

/// `text` cut to at most `max` characters, with `…` if cut.
fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let mut s: String = text.chars().take(max.saturating_sub(1)).collect();
        s.push('…');
        s
    }
}

/// The chart. `lines` are the trace's lifelines.
pub fn chart(t: &Trace) -> Markup {
    let lines: Vec<Lifeline> = lifelines(t);
    let pos = |who: &str| lines.iter().position(|l| l.name == who);
    let jar = pos(JAR);
    let width = LEFT + COL * lines.len() as f64 + RIGHT;
    let height = HEAD + ROW * t.steps.len() as f64 + 44.0;
    let last = t.steps.len();
    let verb = if t.kind == Kind::Always { "violated" } else { "reached" };
    // Whether each step changed the jar (indexed by step - 1).
    let jar_changed: Vec<bool> = std::iter::once(&t.initial)
        .chain(t.steps.iter().map(|s| &s.state))
        .collect::<Vec<_>>()
        .windows(2)
        .map(|w| w[0].jar != w[1].jar)
        .collect();
    html! {
        svg #chart-svg xmlns="http://www.w3.org/2000/svg" width=(width) height=(height)
            viewBox={ "0 0 " (width) " " (height) } role="img"
            aria-label={ "Message sequence chart of " (t.steps.len()) " steps" } {
            defs {
                marker #head viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse" {
                    path d="M 0 0 L 10 5 L 0 10 z" class="head" {}
                }
            }
            // Step 0: the initial state, the header.
            g.step.initial data-step="0" #chart-step-0 {
                rect.row-bg x="0" y="0" width=(width) height=(HEAD) {}
                @for (i, l) in lines.iter().enumerate() {
                    g class={ "lifeline-head " (kind_class(l.kind)) } {
                        rect x=(x_of(i) - 75.0) y="10" width="150" height="30" rx="6" {}
                        text x=(x_of(i)) y="30" text-anchor="middle" { (l.name) }
                    }
                }
                @if let Some(j) = jar {
                    text.jar-value x=(x_of(j)) y="60" text-anchor="middle" {
                        (t.initial.jar.as_deref().unwrap_or("empty"))
                    }
                }
            }
            @for (i, l) in lines.iter().enumerate() {
                line class={ "lifeline " (kind_class(l.kind)) } x1=(x_of(i)) y1="40" x2=(x_of(i)) y2=(height - 10.0) {}
            }
            @for st in &t.steps {
                @let y0 = HEAD + ROW * (st.index as f64 - 1.0);
                @let fail = st.index == last;
                g class={ "step" @if fail { " fail" } } data-step=(st.index) id={ "chart-step-" (st.index) } {
                    title { (st.index) ". " (st.text) }
                    rect.row-bg x="0" y=(y0) width=(width) height=(ROW) {}
                    a href={ "#step-" (st.index) } {
                        text.step-no x=(LEFT - 12.0) y=(y0 + 28.0) text-anchor="end" { (st.index) "." }
                    }
                    @match (&st.message, st.message.as_ref().and_then(|m| Some((pos(&m.from)?, pos(&m.to)?)))) {
                        (Some(m), Some((a, b))) => {
                            @let (xa, xb) = (x_of(a), x_of(b));
                            @let lost = st.action == "NetworkLosesMessage";
                            @let reply = m.to.starts_with("tab ") || (m.from == "store" && m.to == "server");
                            @let (xl, xr) = (xa.min(xb), xa.max(xb));
                            // A label that fits over its arrow is centred on it; a longer one
                            // starts at the arrow's left end and may run on to the right edge
                            // (over other lifelines, with a halo), so SQL stays readable.
                            @let fits = (m.text.chars().count() as f64) * CHAR <= (xr - xl).max(COL) - 16.0;
                            @let room = if fits { (xr - xl).max(COL) - 16.0 } else { width - 12.0 - xl - 8.0 };
                            @let max = (room / CHAR) as usize;
                            @let (lx, anchor) = if a == b { (xa + 70.0, "middle") } else if fits { ((xa + xb) / 2.0, "middle") } else { (xl + 8.0, "start") };
                            g class={ "arrow" @if reply { " reply" } @if lost { " lost" } } data-from=(m.from) data-to=(m.to) {
                                @if a == b {
                                    path.arrow-line d={ "M " (xa) " " (y0 + 20.0) " h 40 v 14 h -36" } marker-end="url(#head)" {}
                                } @else if lost {
                                    line.arrow-line x1=(xa) y1=(y0 + 30.0) x2=((xa + xb) / 2.0) y2=(y0 + 30.0) {}
                                    text.lost-mark x=((xa + xb) / 2.0) y=(y0 + 34.0) text-anchor="middle" { "✕" }
                                } @else {
                                    line.arrow-line x1=(xa) y1=(y0 + 30.0) x2=(xb) y2=(y0 + 30.0) marker-end="url(#head)" {}
                                }
                                text.label x=(lx) y=(y0 + 22.0) text-anchor=(anchor) {
                                    (shorten(&m.text, max))
                                }
                            }
                            @if fail {
                                (fail_mark(if lost { (xa + xb) / 2.0 } else { xb }, y0 + 30.0))
                            }
                        }
                        _ => {
                            @match pos(&st.actor).filter(|_| !ENVIRONMENT.contains(&st.actor.as_str())) {
                                Some(i) => {
                                    g.note {
                                        rect x=(x_of(i) - 80.0) y=(y0 + 14.0) width="160" height="24" rx="4" {}
                                        text x=(x_of(i)) y=(y0 + 30.0) text-anchor="middle" { (shorten(&st.action, 23)) }
                                    }
                                    @if fail { (fail_mark(x_of(i) + 80.0, y0 + 26.0)) }
                                }
                                None => {
                                    g.note.environment {
                                        rect x=(x_of(0) - 80.0) y=(y0 + 14.0) width=(x_of(lines.len() - 1) - x_of(0) + 160.0) height="24" rx="4" {}
                                        text x=((x_of(0) + x_of(lines.len() - 1)) / 2.0) y=(y0 + 30.0) text-anchor="middle" {
                                            (st.actor) ": " (st.action)
                                        }
                                    }
                                }
                            }
                        }
                    }
                    @if let (true, Some(j)) = (jar_changed[st.index - 1], jar) {
                        g.jar-write {
                            rect x=(x_of(j) - 70.0) y=(y0 + 34.0) width="140" height="15" rx="3" {}
                            text x=(x_of(j)) y=(y0 + 45.0) text-anchor="middle" {
                                "jar: " (st.state.jar.as_deref().unwrap_or("empty"))
                            }
                        }
                    }
                    @if fail {
                        text.verdict x=(LEFT) y=(y0 + ROW + 22.0) { "✗ " (t.property) " " (verb) " at step " (st.index) }
                    }
                }
            }
        }
    }
}

fn fail_mark(x: f64, y: f64) -> Markup {
    html! {
        g.fail-mark {
            circle cx=(x) cy=(y) r="9" {}
            text x=(x) y=(y + 4.5) text-anchor="middle" { "✗" }
        }
    }
}

fn kind_class(k: LifelineKind) -> &'static str {
    match k {
        LifelineKind::Tab => "tab",
        LifelineKind::Jar => "jar",
        LifelineKind::Server => "server",
        LifelineKind::Store => "store",
        LifelineKind::Other => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::{chart, shorten};
    use crate::trace::{MessageView, Step, Trace};

    #[test]
    fn an_attacker_gets_a_lifeline_and_its_message_an_arrow_the_clock_a_note_across() {
        let mut t: Trace =
            serde_json::from_str(include_str!("../../traces/directus-10.10-session.no_spurious_logout.json")).unwrap();
        let mut state = t.steps.last().unwrap().state.clone();
        state.jar = Some("session=9 exp=9".into());
        let msg = MessageView { from: "attacker".into(), to: "server".into(), text: "replayed <refresh>".into() };
        for (actor, message) in [("attacker", Some(msg)), ("clock", None)] {
            let index = t.steps.len() + 1;
            t.steps.push(Step {
                index,
                actor: actor.into(),
                action: "X".into(),
                text: "x".into(),
                message,
                state: state.clone(),
            });
        }
        let svg = chart(&t).into_string();
        assert!(svg.contains("<g class=\"lifeline-head other\">"), "{svg}");
        assert!(svg.contains(">attacker</text>"));
        assert_eq!(svg.matches("<g class=\"arrow").count(), 9);
        assert!(svg.contains("data-from=\"attacker\" data-to=\"server\""));
        assert!(svg.contains("replayed &lt;refresh&gt;"));
        assert_eq!(svg.matches("<g class=\"note environment\">").count(), 1);
        // The attacker's step changed the jar (the clock's did not): one note on the jar.
        assert_eq!(svg.matches("<g class=\"jar-write\">").count(), 1);
        assert!(svg.contains(">jar: session=9 exp=9</text>"));
        // The failing step is now the clock's: exactly one row is marked.
        assert_eq!(svg.matches("class=\"step fail\"").count(), 1);
        assert!(svg.contains("data-step=\"12\" id=\"chart-step-12\""));
    }

    #[test]
    fn shorten_cuts_with_an_ellipsis_only_when_needed() {
        assert_eq!(shorten("abcdef", 6), "abcdef");
        assert_eq!(shorten("abcdefg", 6), "abcde…");
    }
}
