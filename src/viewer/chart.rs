//! The message sequence chart of a trace, as inline SVG.
//!
//! - A lifeline per actor of the trace ([`trace::lifelines`]: tabs, the cookie jar (labelled
//!   `localStorage` when it holds the shared storage), the server, the store, an attacker, a
//!   node), plus `lock` and `broadcast channel` when the tabs coordinate through them.
//! - One arrow per message (class `arrow`), drawn from the step that sent it (the step after
//!   which it is first in flight) to the step that delivered it, so a message that waits is
//!   slanted; a message never delivered runs to the chart's foot (class `pending`). Each arrow
//!   carries `data-sent` and `data-delivered`, which the page's script uses to mark what is in
//!   flight at the selected step. An answer's arrow also shows the server's decision.
//! - A note for a step an actor takes on its own (class `note`), an arrow to the lock or
//!   broadcast channel for a coordination step (class `arrow coord`), a note across all
//!   lifelines for the environment (clock, network); consecutive clock ticks share one row.
//! - The steps that explain the end (they last changed a field the property reads, or the
//!   property shows from them) marked `cause`; the last step marked as the violation.
//!
//! Every row is a `g.step` with `data-step` (its first step), `data-last` (its last step) and
//! `id="chart-step-N"`. All text goes through maud, which escapes it; long labels are wrapped
//! onto several lines (rows grow to fit), never cut.

use maud::{html, Markup};

use super::explain::Explanation;
use crate::properties::Kind;
use crate::trace::{lifelines, Lifeline, LifelineKind, MessageView, Trace, ENVIRONMENT, JAR};

/// Horizontal distance between lifelines, in pixels.
const COL: f64 = 175.0;
/// Left gutter for step numbers.
const LEFT: f64 = 56.0;
/// Right margin, for the notes that mark the explaining steps.
const RIGHT: f64 = 200.0;
/// Height of the lifeline header (name boxes and the jar's first value).
const HEAD: f64 = 78.0;
/// Least height of one row.
const ROW: f64 = 44.0;
/// Height of one line of label text.
const LINE: f64 = 14.0;
/// Estimated width of one character of label text at 12 px.
const CHAR: f64 = 6.6;

/// The lifeline of the tabs' lock, when a step uses it.
pub const LOCK: &str = "lock";
/// The lifeline of the tabs' broadcast channel, when a step uses it.
pub const CHANNEL: &str = "broadcast channel";

fn x_of(i: usize) -> f64 {
    LEFT + COL * (i as f64 + 0.5)
}

/// `text` wrapped into lines of at most `max` characters, at spaces where possible (a longer
/// word is split). Never empty.
pub fn wrap(text: &str, max: usize) -> Vec<String> {
    let max = max.max(8);
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        let mut word: Vec<char> = word.chars().collect();
        while word.len() > max {
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            lines.push(word.drain(..max).collect());
        }
        let word: String = word.into_iter().collect();
        let need = line.chars().count() + usize::from(!line.is_empty()) + word.chars().count();
        if need > max && !line.is_empty() {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&word);
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

/// A message's life in the trace: the step that sent it (0: in flight in the initial state),
/// the step that delivered it (or lost it), if any.
#[derive(Clone, Debug, PartialEq)]
pub struct Flight {
    /// The message.
    pub msg: MessageView,
    /// The step after which it is first in flight.
    pub sent: usize,
    /// The step that delivered it (or lost it): `None` if it is still in flight at the end.
    pub delivered: Option<usize>,
    /// It was lost by the network, or left the network without a delivery.
    pub lost: bool,
}

/// Every message of the trace with its send and delivery steps, matched through the states'
/// `in_flight` lists (a delivered message missing from them counts as sent by its delivery).
pub fn flights(t: &Trace) -> Vec<Flight> {
    let mut pending: Vec<(MessageView, usize)> = t.initial.in_flight.iter().map(|m| (m.clone(), 0)).collect();
    let mut out = Vec::new();
    let mut before = &t.initial;
    for st in &t.steps {
        let i = st.index;
        let mut rest: Vec<&MessageView> = before.in_flight.iter().collect();
        if let Some(m) = &st.message {
            let lost = st.action == "NetworkLosesMessage";
            let sent = match pending.iter().position(|(p, _)| p == m) {
                Some(k) => pending.remove(k).1,
                None => i,
            };
            if let Some(k) = rest.iter().position(|p| *p == m) {
                rest.remove(k);
            }
            out.push(Flight { msg: m.clone(), sent, delivered: Some(i), lost });
        }
        for m in &st.state.in_flight {
            match rest.iter().position(|p| *p == m) {
                Some(k) => {
                    rest.remove(k);
                }
                None => pending.push((m.clone(), i)),
            }
        }
        // Left the network with no delivery (a restart, say).
        for m in rest {
            if let Some(k) = pending.iter().position(|(p, _)| p == m) {
                let (msg, sent) = pending.remove(k);
                out.push(Flight { msg, sent, delivered: Some(i), lost: true });
            }
        }
        before = &st.state;
    }
    out.extend(pending.into_iter().map(|(msg, sent)| Flight { msg, sent, delivered: None, lost: false }));
    out
}

/// The lifeline a coordination step goes to, and whether it goes from the tab to it.
fn coordination(action: &str) -> Option<(&'static str, bool)> {
    match action {
        "StorageReachesTab" => Some((JAR, false)),
        "TabAwaitsBroadcast" | "LeaderTabCloses" => Some((CHANNEL, true)),
        "FollowerTimesOut" => Some((CHANNEL, false)),
        a if a.contains("Lock") => Some((LOCK, true)),
        _ => None,
    }
}

/// `TabStealsLock` → `steals lock`.
fn words(action: &str) -> String {
    let mut out = String::new();
    for (k, c) in action.chars().enumerate() {
        if c.is_uppercase() && k > 0 {
            out.push(' ');
        }
        out.extend(c.to_lowercase());
    }
    out.strip_prefix("tab ").map(str::to_string).unwrap_or(out)
}

/// The chart's lifelines: the trace's, then the lock and the broadcast channel if used.
pub fn chart_lifelines(t: &Trace) -> Vec<Lifeline> {
    let mut lines = lifelines(t);
    for st in &t.steps {
        if let Some((name, _)) = coordination(&st.action) {
            if !lines.iter().any(|l| l.name == name) {
                lines.push(Lifeline { name: name.into(), kind: LifelineKind::Other });
            }
        }
    }
    lines
}

/// One row of the chart: steps `first..=last` (more than one only for clock ticks).
struct Row {
    first: usize,
    last: usize,
    y: f64,
    h: f64,
}

/// What a row draws, computed before the layout so that its height fits its text.
enum Body<'a> {
    /// A message delivered (or lost): the flight, the label's lines, the decision's lines.
    Message { flight: &'a Flight, label: Vec<String>, decision: Vec<String> },
    /// A coordination step: tab and lifeline, label lines.
    Coord { tab: usize, line: usize, to_line: bool, label: Vec<String> },
    /// An actor's own step: a note on its lifeline.
    Note { at: usize, lines: Vec<String> },
    /// The environment's step (or several clock ticks): a note across all lifelines.
    Environment { text: String },
}

/// The chart of `t`, with the marks of explanation `ex`.
pub fn chart(t: &Trace, ex: &Explanation) -> Markup {
    let lines = chart_lifelines(t);
    let pos = |who: &str| lines.iter().position(|l| l.name == who);
    // The jar's lifelines: one, or one per device ([`crate::trace::jar_lifelines`]).
    let jars: Vec<usize> = (0..lines.len()).filter(|&i| lines[i].kind == LifelineKind::Jar).collect();
    let n = t.steps.len();
    let width = LEFT + COL * lines.len() as f64 + RIGHT;
    let verb = if t.kind == Kind::Always { "violated" } else { "reached" };
    let flights = flights(t);
    let causes = ex.causes(t);
    let states: Vec<_> = super::explain::states(t);

    // Rows: consecutive clock ticks (no message) share one.
    let mut rows: Vec<Row> = Vec::new();
    for st in &t.steps {
        let tick = st.actor == "clock" && st.message.is_none();
        match rows.last_mut() {
            Some(r)
                if tick
                    && r.last + 1 == st.index
                    && t.steps[r.last - 1].actor == "clock"
                    && t.steps[r.last - 1].message.is_none() =>
            {
                r.last = st.index
            }
            _ => rows.push(Row { first: st.index, last: st.index, y: 0.0, h: ROW }),
        }
    }
    // Bodies and heights.
    let mut bodies: Vec<Body> = Vec::with_capacity(rows.len());
    for r in &mut rows {
        let st = &t.steps[r.first - 1];
        let body = if r.last > r.first {
            Body::Environment {
                text: format!(
                    "time passes \u{d7}{} (steps {}\u{2013}{}): now = {} \u{2192} {}",
                    r.last - r.first + 1,
                    r.first,
                    r.last,
                    states[r.first - 1].now,
                    states[r.last].now
                ),
            }
        } else if let Some(f) =
            flights.iter().find(|f| f.delivered == Some(st.index) && st.message.as_ref() == Some(&f.msg))
        {
            let (a, b) = (pos(&f.msg.from).unwrap_or(0), pos(&f.msg.to).unwrap_or(0));
            let span = (x_of(a) - x_of(b)).abs().max(COL) - 24.0;
            let max = (span / CHAR) as usize;
            let decision = decision_of(ex, f).map(|d| wrap(&format!("decided: {d}"), max)).unwrap_or_default();
            Body::Message { flight: f, label: wrap(&f.msg.text, max), decision }
        } else if let (Some((line, to_line)), Some(tab)) = (coordination(&st.action), pos(&st.actor)) {
            // A device's storage event goes to that device's jar (`tab 2A`: device 2's).
            let device_jar = || {
                let d = st.actor.rsplit(' ').next()?.trim_end_matches(|c: char| c.is_ascii_alphabetic());
                pos(&format!("device {d} {JAR}"))
            };
            let line = pos(line).or_else(|| (line == JAR).then(device_jar).flatten()).unwrap_or(0);
            let span = (x_of(tab) - x_of(line)).abs().max(COL) - 24.0;
            Body::Coord { tab, line, to_line, label: wrap(&words(&st.action), (span / CHAR) as usize) }
        } else {
            match pos(&st.actor).filter(|_| !ENVIRONMENT.contains(&st.actor.as_str())) {
                Some(at) => Body::Note { at, lines: wrap(&st.action, 22) },
                None => Body::Environment { text: format!("{}: {}", st.actor, st.text) },
            }
        };
        let text_lines = match &body {
            Body::Message { label, decision, .. } => label.len() + decision.len(),
            Body::Coord { label, .. } => label.len(),
            Body::Note { lines, .. } => lines.len(),
            Body::Environment { .. } => 1,
        };
        let cause_lines = causes.iter().find(|(k, _)| (r.first..=r.last).contains(k)).map_or(0, |(_, f)| 1 + f.len());
        r.h = ROW.max(LINE * text_lines as f64 + 32.0).max(LINE * cause_lines as f64 + 16.0);
        bodies.push(body);
    }
    let mut y = HEAD;
    for r in &mut rows {
        r.y = y;
        y += r.h;
    }
    let rows_end = y;
    let pending: Vec<&Flight> = flights.iter().filter(|f| f.delivered.is_none()).collect();
    let tail = if pending.is_empty() { 0.0 } else { 24.0 + 2.0 * LINE * pending.len() as f64 };
    let height = rows_end + tail + 44.0;
    let row_of = |step: usize| rows.iter().find(|r| (r.first..=r.last).contains(&step));
    // Where a message leaves its sender: the foot of the row of the step that sent it.
    let sent_y = |step: usize| match row_of(step) {
        Some(r) => r.y + r.h - 10.0,
        None => HEAD - 6.0,
    };
    // What jar lifeline `j` holds after step `i` (0: the initial state).
    let jar_at = |j: usize, i: usize| {
        let jar = if i == 0 { t.initial.jar.as_deref() } else { t.steps[i - 1].state.jar.as_deref() };
        crate::trace::jar_value(&lines[j], jar)
    };
    let jar_changed = |j: usize, i: usize| jar_at(j, i - 1) != jar_at(j, i);
    html! {
        svg #chart-svg xmlns="http://www.w3.org/2000/svg" width=(width) height=(height)
            viewBox={ "0 0 " (width) " " (height) } role="img"
            aria-label={ "Message sequence chart of " (n) " steps" } {
            defs {
                marker #head viewBox="0 0 10 10" refX="9" refY="5" markerUnits="userSpaceOnUse" markerWidth="11" markerHeight="11" orient="auto-start-reverse" {
                    path d="M 0 0 L 10 5 L 0 10 z" class="head" {}
                }
            }
            // Step 0: the initial state, the header.
            g.step.initial data-step="0" data-last="0" #chart-step-0 {
                rect.row-bg x="0" y="0" width=(width) height=(HEAD) {}
                @for (i, l) in lines.iter().enumerate() {
                    g class={ "lifeline-head " (kind_class(l.kind)) } data-actor=(l.name) {
                        rect x=(x_of(i) - 75.0) y="10" width="150" height="30" rx="6" {}
                        text x=(x_of(i)) y="30" text-anchor="middle" { (crate::trace::lifeline_label(t, l)) }
                    }
                }
                @for &j in &jars {
                    text.jar-value x=(x_of(j)) y="60" text-anchor="middle" {
                        (jar_at(j, 0).as_deref().unwrap_or("empty"))
                    }
                }
            }
            @for (i, l) in lines.iter().enumerate() {
                line class={ "lifeline " (kind_class(l.kind)) } data-actor=(l.name) x1=(x_of(i)) y1="40" x2=(x_of(i)) y2=(height - 10.0) {}
            }
            @for (r, body) in rows.iter().zip(&bodies) {
                @let st = &t.steps[r.first - 1];
                @let fail = r.last == n;
                @let cause = causes.iter().find(|(k, _)| (r.first..=r.last).contains(k));
                @let actors = row_actors(t, r.first, r.last);
                g class={ "step" @if fail { " fail" } @if cause.is_some() { " cause" } @if r.last > r.first { " ticks" } }
                    data-step=(r.first) data-last=(r.last) data-actors=(actors) id={ "chart-step-" (r.first) } {
                    title {
                        @if r.last > r.first { "steps " (r.first) "\u{2013}" (r.last) ": time passes" } @else { (st.index) ". " (st.text) }
                    }
                    rect.row-bg x="0" y=(r.y) width=(width) height=(r.h) {}
                    a href={ "#step-" (r.first) } {
                        text.step-no x=(LEFT - 12.0) y=(r.y + 20.0) text-anchor="end" {
                            (r.first) @if r.last > r.first { "\u{2013}" (r.last) } "."
                        }
                    }
                    @if cause.is_some() {
                        text.cause-mark x=(LEFT - 12.0) y=(r.y + 36.0) text-anchor="end" { "\u{25c6}" }
                    }
                    @match body {
                        Body::Message { flight, label, decision } => {
                            @let (a, b) = (pos(&flight.msg.from).unwrap_or(0), pos(&flight.msg.to).unwrap_or(0));
                            @let (xa, xb) = (x_of(a), x_of(b));
                            @let y2 = r.y + r.h - 10.0;
                            @let y1 = if flight.sent == st.index { y2 } else { sent_y(flight.sent) };
                            (arrow(flight, a, b, y1, y2, r.y, label, decision))
                            @if fail {
                                (fail_mark(if flight.lost { (xa + xb) / 2.0 } else { xb }, y2))
                            }
                        }
                        Body::Coord { tab, line, to_line, label } => {
                            @let (from, to) = if *to_line { (*tab, *line) } else { (*line, *tab) };
                            @let (xa, xb) = (x_of(from), x_of(to));
                            @let y2 = r.y + r.h - 10.0;
                            g.arrow.coord data-from=(lines[from].name) data-to=(lines[to].name) {
                                line.arrow-line x1=(xa) y1=(y2) x2=(xb) y2=(y2) marker-end="url(#head)" {}
                                (label_text(label, &[], (xa + xb) / 2.0, "middle", r.y))
                            }
                            @if fail { (fail_mark(xb, y2)) }
                        }
                        Body::Note { at, lines: text } => {
                            @let h = LINE * text.len() as f64 + 10.0;
                            @let top = r.y + (r.h - h) / 2.0;
                            g.note {
                                rect x=(x_of(*at) - 80.0) y=(top) width="160" height=(h) rx="4" {}
                                text x=(x_of(*at)) y=(top + 16.0) text-anchor="middle" {
                                    @for (k, l) in text.iter().enumerate() {
                                        tspan x=(x_of(*at)) dy=(if k == 0 { 0.0 } else { LINE }) { (l) }
                                    }
                                }
                            }
                            @if fail { (fail_mark(x_of(*at) + 80.0, top + h / 2.0)) }
                        }
                        Body::Environment { text } => {
                            g.note.environment {
                                rect x=(x_of(0) - 80.0) y=(r.y + 10.0) width=(x_of(lines.len() - 1) - x_of(0) + 160.0) height="24" rx="4" {}
                                text x=((x_of(0) + x_of(lines.len() - 1)) / 2.0) y=(r.y + 26.0) text-anchor="middle" { (text) }
                            }
                        }
                    }
                    @for &j in jars.iter().filter(|&&j| r.first == r.last && jar_changed(j, r.last)) {
                        g.jar-write {
                            rect x=(x_of(j) - 70.0) y=(r.y + r.h - 16.0) width="140" height="15" rx="3" {}
                            text x=(x_of(j)) y=(r.y + r.h - 5.0) text-anchor="middle" {
                                "jar: " (jar_at(j, r.last).as_deref().unwrap_or("empty"))
                            }
                        }
                    }
                    @if let Some((_, fields)) = cause {
                        @let x = LEFT + COL * lines.len() as f64 + 8.0;
                        g.cause-note {
                            text x=(x) y=(r.y + 18.0) {
                                tspan x=(x) dy="0" { "\u{25c6} " @if fields.is_empty() { (t.property) " " (verb) " from here" } @else { "last changed:" } }
                                @for f in fields.iter() { tspan x=(x + 12.0) dy=(LINE) { (f) } }
                            }
                        }
                    }
                    @if fail {
                        text.verdict x=(LEFT) y=(rows_end + tail + 26.0) { "\u{2717} " (t.property) " " (verb) " at step " (n) }
                    }
                }
            }
            @if !pending.is_empty() {
                g.pending-group {
                    text.pending-title x=(LEFT) y=(rows_end + 16.0) { "still in flight at the end:" }
                    @for (k, f) in pending.iter().enumerate() {
                        @let (a, b) = (pos(&f.msg.from).unwrap_or(0), pos(&f.msg.to).unwrap_or(0));
                        @let y2 = rows_end + 24.0 + 2.0 * LINE * (k as f64 + 1.0);
                        (arrow(f, a, b, sent_y(f.sent), y2, y2 - 2.0 * LINE - 4.0, &wrap(&f.msg.text, 200), &decision_of(ex, f).map(|d| vec![format!("decided: {d}")]).unwrap_or_default()))
                    }
                }
            }
        }
    }
}

/// The server's decision behind message `f`, for an answer (from the server or a node to a
/// tab or the attacker): the decision of the step that sent it.
fn decision_of<'a>(ex: &'a Explanation, f: &Flight) -> Option<&'a str> {
    let answer = (f.msg.from == "server" || f.msg.from.starts_with("node")) && f.msg.to != "store";
    answer.then(|| ex.decisions.get(f.sent).and_then(Option::as_deref)).flatten()
}

/// The actors a row involves, space-separated with `|` around each (`|tab A|server|`), for
/// the page's actor filter.
fn row_actors(t: &Trace, first: usize, last: usize) -> String {
    let mut names: Vec<&str> = Vec::new();
    for st in &t.steps[first - 1..last] {
        names.push(&st.actor);
        if let Some(m) = &st.message {
            names.push(&m.from);
            names.push(&m.to);
        }
        if let Some((line, _)) = coordination(&st.action) {
            names.push(line);
        }
    }
    names.dedup();
    format!("|{}|", names.join("|"))
}

/// A message's arrow from lifeline `a` at height `y1` to `b` at `y2`, its label's lines (and
/// the decision's) above the arrow's end, from height `top`.
#[allow(clippy::too_many_arguments)]
fn arrow(f: &Flight, a: usize, b: usize, y1: f64, y2: f64, top: f64, label: &[String], decision: &[String]) -> Markup {
    let (xa, xb) = (x_of(a), x_of(b));
    let reply = names_a_client(&f.msg.to) || (f.msg.from == "store" && f.msg.to == "server") || f.msg.to == "attacker";
    let slanted = y2 - y1 > 1.0;
    // A level arrow's label is centred on it; a slanted one's sits by its end.
    let (lx, anchor) = if a == b {
        (xa + 50.0, "start")
    } else if !slanted {
        ((xa + xb) / 2.0, "middle")
    } else if xb > xa {
        (xb - 14.0, "end")
    } else {
        (xb + 14.0, "start")
    };
    let delivered = f.delivered.map(|d| d.to_string()).unwrap_or_else(|| "none".into());
    html! {
        g class={ "arrow" @if reply { " reply" } @if f.lost { " lost" } @if slanted { " slanted" } @if f.delivered.is_none() { " pending" } }
            data-from=(f.msg.from) data-to=(f.msg.to) data-sent=(f.sent) data-delivered=(delivered) {
            @if a == b {
                path.arrow-line d={ "M " (xa) " " (y1) " h 40 V " (y2) " h -36" } marker-end="url(#head)" {}
            } @else if f.lost {
                line.arrow-line x1=(xa) y1=(y1) x2=((xa + xb) / 2.0) y2=((y1 + y2) / 2.0) {}
                text.lost-mark x=((xa + xb) / 2.0) y=((y1 + y2) / 2.0 + 4.0) text-anchor="middle" { "\u{2715}" }
            } @else {
                line.arrow-line x1=(xa) y1=(y1) x2=(xb) y2=(y2) marker-end="url(#head)" {}
            }
            (label_text(label, decision, lx, anchor, top))
        }
    }
}

/// Label lines then decision lines, from height `top`.
fn label_text(label: &[String], decision: &[String], x: f64, anchor: &str, top: f64) -> Markup {
    html! {
        text.label x=(x) y=(top + 16.0) text-anchor=(anchor) {
            @for (k, l) in label.iter().enumerate() {
                tspan x=(x) dy=(if k == 0 { 0.0 } else { LINE }) { (l) }
            }
            @for l in decision {
                tspan.decision x=(x) dy=(LINE) { (l) }
            }
        }
    }
}

fn fail_mark(x: f64, y: f64) -> Markup {
    html! {
        g.fail-mark {
            circle cx=(x) cy=(y) r="9" {}
            text x=(x) y=(y + 4.5) text-anchor="middle" { "\u{2717}" }
        }
    }
}

/// Whether an actor's name is a client's in any client word (`tab A`, `process 2B`, `app A's
/// requester 2`): a word, then a tab name (an optional device digit and a capital letter).
fn names_a_client(name: &str) -> bool {
    let Some((_, rest)) = name.split_once(' ') else { return false };
    let rest = rest.trim_start_matches(|c: char| c.is_ascii_digit());
    let mut chars = rest.chars();
    chars.next().is_some_and(|c| c.is_ascii_uppercase()) && chars.next().is_none_or(|c| !c.is_alphanumeric())
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
    use super::{chart, flights, wrap};
    use crate::trace::{MessageView, Step, Trace};
    use crate::viewer::explain::Explanation;

    fn race() -> Trace {
        serde_json::from_str(include_str!("../../traces/directus-10.10-session.no_spurious_logout.json")).unwrap()
    }

    #[test]
    fn an_attacker_gets_a_lifeline_and_its_message_an_arrow_the_clock_a_note_across() {
        let mut t = race();
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
        let svg = chart(&t, &Explanation::default()).into_string();
        assert!(svg.contains("<g class=\"lifeline-head other\" data-actor=\"attacker\">"), "{svg}");
        assert!(svg.contains(">attacker</text>"));
        // 8 messages of the race and the attacker's are delivered; the rest are in flight.
        let pending = svg.matches("data-delivered=\"none\"").count();
        assert_eq!(svg.matches("<g class=\"arrow").count() - pending, 9);
        assert!(svg.contains("data-from=\"attacker\" data-to=\"server\""));
        assert!(svg.contains("replayed &lt;refresh&gt;"));
        assert_eq!(svg.matches("<g class=\"note environment\">").count(), 1);
        // The attacker's step changed the jar (the clock's did not): one note on the jar.
        assert_eq!(svg.matches("<g class=\"jar-write\">").count(), 1);
        assert!(svg.contains(">jar: session=9 exp=9</text>"));
        // The failing step is now the clock's: exactly one row is marked.
        assert_eq!(svg.matches("class=\"step fail").count(), 1);
        assert!(svg.contains("data-step=\"12\" data-last=\"12\""));
    }

    #[test]
    fn a_message_goes_from_its_send_step_to_its_delivery_step() {
        let t = race();
        let f = flights(&t);
        // Every message step delivers one flight, sent at an earlier (or the same) step.
        assert_eq!(f.iter().filter(|f| f.delivered.is_some()).count(), 8);
        for x in &f {
            if let Some(d) = x.delivered {
                assert!(x.sent <= d, "{x:?}");
            }
        }
        // Tab A's refresh (step 1) is delivered at step 2; tab B's 401 was sent before the step
        // that delivers it (step 10).
        assert_eq!((f[0].sent, f[0].delivered), (1, Some(2)));
        let last = f.iter().find(|x| x.delivered == Some(10)).unwrap();
        assert!(last.sent < 10 && last.msg.to == "tab B", "{last:?}");
    }

    #[test]
    fn consecutive_ticks_share_a_row() {
        let mut t = race();
        let state = t.steps.last().unwrap().state.clone();
        for _ in 0..6 {
            let index = t.steps.len() + 1;
            t.steps.push(Step {
                index,
                actor: "clock".into(),
                action: "ClockTicks".into(),
                text: "time passes".into(),
                message: None,
                state: state.clone(),
            });
        }
        let svg = chart(&t, &Explanation::default()).into_string();
        assert_eq!(svg.matches("class=\"step fail ticks\"").count(), 1, "{svg}");
        assert!(svg.contains("data-step=\"11\" data-last=\"16\""));
        assert!(svg.contains("time passes ×6 (steps 11–16)"));
    }

    #[test]
    fn wrap_breaks_at_spaces_and_splits_long_words() {
        assert_eq!(wrap("abc def", 20), ["abc def"]);
        assert_eq!(
            wrap("UPDATE SET next_token=2, expires=1 WHERE token=1", 20),
            ["UPDATE SET", "next_token=2,", "expires=1 WHERE", "token=1"]
        );
        assert_eq!(wrap("abcdefghijklmnopqrstuvwxyz", 10), ["abcdefghij", "klmnopqrst", "uvwxyz"]);
        assert_eq!(wrap("", 10), [""]);
    }
}
