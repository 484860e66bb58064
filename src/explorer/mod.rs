//! A web server for stateright's Explorer UI, serving its JSON endpoints from the model itself.
//!
//! stateright 0.31's own `serve` is not used: it binds after the caller's port probe (and
//! panics when the port was taken in between), loads its UI from `./ui/` in the working folder
//! when such a folder exists, starts an unbounded search on any `POST /.runtocompletion`, and
//! checks neither `Host` nor `Origin`, so any web page open in the browser could drive it. This
//! server:
//!
//! - serves on a listener the caller has bound once ([`serve`]);
//! - serves only the UI files built into the binary (stateright 0.31's `ui/`, MIT, in
//!   `src/explorer/assets/`);
//! - answers only requests whose `Host` is this server's address (`127.0.0.1:PORT`,
//!   `localhost:PORT`, `[::1]:PORT`, or the bound address), which defeats DNS rebinding, and
//!   refuses a request whose `Origin` is another site;
//! - starts no search: `POST /.runtocompletion` is refused (`refresh-check check` is the
//!   bounded search); each `/.states/…` request replays one path and lists its successors.
//!
//! The endpoints answer what stateright's do: `/.status` (the model's properties; no search
//! runs, so counts stay 0 and `done` is false) and `/.states/<init>/<a1>/…` (the states after
//! each action enabled at the end of the path).

use std::collections::hash_map::DefaultHasher;
use std::fmt::Debug;
use std::hash::{Hash, Hasher};
use std::net::{SocketAddr, TcpListener};

use serde::Serialize;
use stateright::{Expectation, Model};
use tiny_http::{Header, Method, Request, Response, StatusCode};

use crate::search::{self, IndexPath};

/// The UI files: (URL path, content type, bytes).
const ASSETS: [(&str, &str, &[u8]); 4] = [
    ("/", "text/html; charset=utf-8", include_bytes!("assets/index.htm")),
    ("/app.css", "text/css; charset=utf-8", include_bytes!("assets/app.css")),
    ("/app.js", "text/javascript; charset=utf-8", include_bytes!("assets/app.js")),
    ("/knockout-3.5.0.js", "text/javascript; charset=utf-8", include_bytes!("assets/knockout-3.5.0.js")),
];

/// The longest path `/.states/…` replays, in actions: far longer than any trace of a model
/// within its bounds, short enough that a request cannot make the server work for long.
pub const MAX_PATH_ACTIONS: usize = 10_000;

/// A property as the UI lists it: expectation, name, the path to its discovery (none: no search
/// runs).
pub type Property = (Expectation, String, Option<String>);

#[derive(Serialize)]
struct StatusView {
    done: bool,
    model: String,
    state_count: usize,
    unique_state_count: usize,
    max_depth: usize,
    properties: Vec<Property>,
    recent_path: Option<String>,
}

/// One entry of `/.states/…`: an action enabled at the end of the path and the state it
/// leads to (or, for an empty path, an initial state), as stateright's UI reads it.
#[derive(Serialize)]
pub struct StateView {
    /// The action's text ([`Shown::action_text`]); none for an initial state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// stateright's account of the step (the actor's output and next state).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// The state's text ([`Shown::state_text`]); none when the action changes nothing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// A hash of the state, as stateright's UI uses it to tell states apart.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// The model's properties, as the UI lists them.
    pub properties: Vec<Property>,
    /// The action's index among the enabled actions (the path's next number).
    #[serde(rename = "actionIndex")]
    pub action_index: usize,
}

/// How the Explorer shows a model's states and steps to people. The defaults are stateright's
/// (`{state:#?}`, `Model::format_action`); [`crate::model::RefreshModel`] shows them in the
/// trace's words, in the model's client word (`browser.client_word`).
pub trait Shown: Model {
    /// The text of state `s` in the state view.
    fn state_text(&self, s: &Self::State) -> String
    where
        Self::State: Debug,
    {
        format!("{s:#?}")
    }

    /// The text of `action`, enabled in `last`, in the list of next steps.
    fn action_text(&self, _last: &Self::State, action: &Self::Action) -> String
    where
        Self::Action: Debug,
    {
        self.format_action(action)
    }
}

impl Shown for crate::model::RefreshModel {
    /// The state as a trace step shows it (clock, tabs, jar, store, messages in flight, in the
    /// model's client word, a refresh the tab aborted marked), then the raw state (Rust's
    /// `Debug` form) with the client word in place of `tab` standing alone.
    fn state_text(&self, s: &Self::State) -> String {
        let shown = serde_json::to_string_pretty(&crate::trace::snapshot(self, s)).unwrap_or_default();
        let raw = self.cfg.client_word.reword(&format!("{s:#?}")).into_owned();
        format!("{shown}\n\nraw state:\n{raw}")
    }

    /// The step's sentence as a trace shows it (`tab A aborts its refresh in flight …`), then
    /// stateright's form of the action.
    fn action_text(&self, last: &Self::State, action: &Self::Action) -> String {
        match self.next_state(last, action.clone()) {
            Some(next) => {
                let (_, _, text, _) = crate::trace::describe_step(self, last, action, &next);
                format!("{text} [{}]", self.cfg.client_word.reword(&self.format_action(action)))
            }
            None => self.format_action(action),
        }
    }
}

/// Serves the Explorer for `model` on `listener` (already bound) until the process ends; the
/// `Host` check expects the listener's port.
pub fn serve<M>(model: &M, listener: TcpListener) -> std::io::Result<()>
where
    M: Shown,
    M::State: Debug + Hash + Clone,
    M::Action: Debug + Clone,
{
    let local = listener.local_addr()?;
    let server = tiny_http::Server::from_listener(listener, None).map_err(std::io::Error::other)?;
    for rq in server.incoming_requests() {
        let response = respond(model, local, &rq);
        // A client that went away is no reason to stop serving the others.
        let _ = rq.respond(response);
    }
    Ok(())
}

/// The response to one request.
fn respond<M>(model: &M, local: SocketAddr, rq: &Request) -> Response<std::io::Cursor<Vec<u8>>>
where
    M: Shown,
    M::State: Debug + Hash + Clone,
    M::Action: Debug + Clone,
{
    let header = |name: &'static str| rq.headers().iter().find(|h| h.field.equiv(name)).map(|h| h.value.as_str());
    let allowed = allowed_hosts(local);
    match header("Host") {
        Some(host) if allowed.iter().any(|a| a.eq_ignore_ascii_case(host)) => {}
        _ => return text(421, "refused: the Host header does not name this server (127.0.0.1 and its port)"),
    }
    if let Some(origin) = header("Origin") {
        let same = allowed.iter().any(|a| origin.eq_ignore_ascii_case(&format!("http://{a}")));
        if !same {
            return text(403, "refused: a request from another site (Origin)");
        }
    }
    if header("Sec-Fetch-Site").is_some_and(|s| s.eq_ignore_ascii_case("cross-site")) {
        return text(403, "refused: a request from another site (Sec-Fetch-Site)");
    }
    let url = rq.url();
    match rq.method() {
        Method::Get => {}
        Method::Post if url == "/.runtocompletion" => {
            return text(
                403,
                "refused: the Explorer runs no search here; `refresh-check check` searches within --timeout and --max-memory",
            )
        }
        _ => return text(405, "only GET is served"),
    }
    if let Some((_, kind, bytes)) = ASSETS.iter().find(|(p, _, _)| *p == url) {
        return Response::from_data(bytes.to_vec()).with_header(content_type(kind));
    }
    if url == "/.status" {
        let view = StatusView {
            done: false,
            model: std::any::type_name::<M>().to_string(),
            state_count: 0,
            unique_state_count: 0,
            max_depth: 0,
            properties: properties(model),
            recent_path: None,
        };
        return json(&view);
    }
    if let Some(rest) = url.strip_prefix("/.states") {
        return match states(model, rest) {
            Ok(views) => json(&views),
            Err(why) => text(404, &why),
        };
    }
    text(404, "not found")
}

/// The `Host` values this server answers: loopback names with its port, and its own address.
fn allowed_hosts(local: SocketAddr) -> Vec<String> {
    let port = local.port();
    let own = match local {
        SocketAddr::V4(a) => format!("{}:{port}", a.ip()),
        SocketAddr::V6(a) => format!("[{}]:{port}", a.ip()),
    };
    let mut hosts = vec![format!("127.0.0.1:{port}"), format!("localhost:{port}"), format!("[::1]:{port}"), own];
    if port == 80 {
        // Browsers leave the default port out of `Host` and `Origin`.
        let bare: Vec<String> = hosts.iter().filter_map(|h| h.strip_suffix(":80").map(str::to_string)).collect();
        hosts.extend(bare);
    }
    hosts
}

fn properties<M: Model>(model: &M) -> Vec<Property> {
    model.properties().into_iter().map(|p| (p.expectation, p.name.to_string(), None)).collect()
}

fn fingerprint<T: Hash>(value: &T) -> String {
    let mut h = DefaultHasher::new();
    value.hash(&mut h);
    h.finish().to_string()
}

/// The views of `/.states<path>` (`path` as in the URL: `/0/1/0`), or why the path does not
/// replay: the initial states for an empty path, else each action
/// enabled in the state the path leads to, with the state it leads to.
pub fn states<M>(model: &M, path: &str) -> Result<Vec<StateView>, String>
where
    M: Shown,
    M::State: Debug + Hash + Clone,
    M::Action: Debug + Clone,
{
    let trimmed = path.trim_end_matches('/');
    let parts: Vec<&str> = trimmed.split('/').skip(1).collect();
    if parts.len() > MAX_PATH_ACTIONS + 1 {
        return Err(format!("a path of {} actions, more than {MAX_PATH_ACTIONS}", parts.len() - 1));
    }
    let indices: Vec<usize> = parts
        .iter()
        .map(|p| p.parse::<usize>())
        .collect::<Result<_, _>>()
        .map_err(|_| format!("Unable to parse action indices {trimmed}"))?;
    let props = properties(model);
    let Some((&init, actions)) = indices.split_first() else {
        return Ok(model
            .init_states()
            .iter()
            .enumerate()
            .map(|(i, s)| StateView {
                action: None,
                outcome: None,
                state: Some(model.state_text(s)),
                fingerprint: Some(fingerprint(s)),
                properties: props.clone(),
                action_index: i,
            })
            .collect());
    };
    let (first, steps) = search::replay(model, &IndexPath { init, actions: actions.to_vec() })
        .map_err(|_| format!("Unable to find state following action indices {trimmed}"))?;
    let last = steps.last().map(|(_, s)| s).unwrap_or(&first);
    let mut enabled = Vec::new();
    model.actions(last, &mut enabled);
    Ok(enabled
        .into_iter()
        .enumerate()
        .map(|(i, a)| {
            let next = model.next_state(last, a.clone());
            StateView {
                action: Some(model.action_text(last, &a)),
                outcome: next.as_ref().and_then(|_| model.format_step(last, a.clone())),
                fingerprint: next.as_ref().map(fingerprint),
                state: next.as_ref().map(|s| model.state_text(s)),
                properties: props.clone(),
                action_index: i,
            }
        })
        .collect())
}

fn content_type(kind: &str) -> Header {
    Header::from_bytes("Content-Type", kind).expect("a valid header")
}

fn text(status: u16, body: &str) -> Response<std::io::Cursor<Vec<u8>>> {
    Response::from_data(body.as_bytes().to_vec())
        .with_status_code(StatusCode(status))
        .with_header(content_type("text/plain; charset=utf-8"))
}

fn json<T: Serialize>(value: &T) -> Response<std::io::Cursor<Vec<u8>>> {
    match serde_json::to_vec(value) {
        Ok(bytes) => Response::from_data(bytes).with_header(content_type("application/json")),
        Err(e) => text(500, &e.to_string()),
    }
}
