//! Reading traces: the schema check, `trace show`, `trace html` and `explore` (the browser
//! tests in `tests/browser/` check the pages in Chromium).

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::util::{cli, root};

/// Checks the Directus 10.10 model in `dir` and returns its `no_spurious_logout` trace.
fn race_trace(dir: &Path) -> PathBuf {
    let model = root().join("models/directus-10.10-session.json");
    let out = cli(dir, &["check", model.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    dir.join("traces/directus-10.10-session.no_spurious_logout.json")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The lines of `trace show` output that belong to step `n` (its header and what follows).
fn step_block(out: &str, n: usize) -> String {
    let head = format!("{n:>4}. ");
    let next = format!("{:>4}. ", n + 1);
    let start = out.find(&head).unwrap_or_else(|| panic!("no step {n} in\n{out}"));
    let end = out[start..].find(&next).map(|e| start + e).unwrap_or(out.len());
    out[start..end].to_string()
}

#[test]
fn trace_show_prints_actor_message_and_only_the_fields_each_step_changed() {
    let dir = crate::common::TempFiles::new();
    let file = race_trace(dir.path());
    let out = cli(dir.path(), &["trace", "show", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let out = text(&out.stdout);
    assert!(out.starts_with("directus-10.10-session — no_spurious_logout violated (10 steps)\n"), "{out}");
    let last = step_block(&out, 10);
    assert_eq!(
        last.lines().map(str::trim).collect::<Vec<_>>(),
        [
            "10. tab B    TabReceivesRefreshResponse",
            "tab B gets 401 INVALID_CREDENTIALS and is logged out",
            "message: server → tab B: 401 INVALID_CREDENTIALS",
            "changed: tabs[B].status: refreshing (sent session=1) → logged out",
            "in_flight: − server → tab B: 401 INVALID_CREDENTIALS",
            "✗ no_spurious_logout violated at step 10",
        ],
        "{last}"
    );
    // Step 5 renames the session row: the store changes, the jar and the tabs do not.
    let rename = step_block(&out, 5);
    assert!(rename.contains("changed: store: − token=1 expires=7; + token=2 expires=7"), "{rename}");
    assert!(!rename.contains("jar") && !rename.contains("tabs["), "{rename}");
    // A tab's own event has no message.
    assert!(!step_block(&out, 1).contains("message:"));

    let mermaid = cli(dir.path(), &["trace", "show", file.to_str().unwrap(), "--format", "mermaid"]);
    let mermaid = text(&mermaid.stdout);
    assert!(mermaid.starts_with("sequenceDiagram\n    participant TabA as tab A\n"), "{mermaid}");
    assert!(
        mermaid.contains("Server-->>TabB: 10. 401 INVALID_CREDENTIALS\n    Note right of TabB: tabs[B].status: refreshing (sent session=1) → logged out<br/>"),
        "{mermaid}"
    );
}

#[test]
fn trace_validate_checks_the_schema_first_names_the_field_and_goes_on_with_the_other_files() {
    let dir = crate::common::TempFiles::new();
    let good = race_trace(dir.path());
    let mut t: Value = serde_json::from_str(&fs::read_to_string(&good).unwrap()).unwrap();
    t["steps"][3]["actor"] = 5.into();
    let bad = dir.path().join("bad.json");
    fs::write(&bad, serde_json::to_string(&t).unwrap()).unwrap();
    let out = cli(dir.path(), &["trace", "validate", bad.to_str().unwrap(), good.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("bad.json: field `/steps/3/actor`: 5 is not of type \"string\""), "{err}");
    assert!(text(&out.stdout).contains("no_spurious_logout.json: ok (no_spurious_logout violated in 10 steps)"));

    t["steps"][3]["actor"] = "store".into();
    t["schema"] = "refresh-check/trace/v0".into();
    fs::write(&bad, serde_json::to_string(&t).unwrap()).unwrap();
    let out = cli(dir.path(), &["trace", "show", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("field `schema`: found \"refresh-check/trace/v0\""), "{}", text(&out.stderr));
}

#[test]
fn trace_html_writes_a_self_contained_page_with_one_arrow_per_message_and_escaped_labels() {
    let dir = crate::common::TempFiles::new();
    let file = race_trace(dir.path());
    let mut t: Value = serde_json::from_str(&fs::read_to_string(&file).unwrap()).unwrap();
    t["steps"][0]["text"] = "<script>alert(1)</script>".into();
    t["steps"][1]["message"]["text"] = "a \"quoted\" <b>label</b> & more".into();
    let evil = dir.path().join("evil.json");
    fs::write(&evil, serde_json::to_string(&t).unwrap()).unwrap();
    let page = dir.path().join("out/evil.html");
    fs::create_dir_all(page.parent().unwrap()).unwrap();
    let out = cli(dir.path(), &["trace", "html", evil.to_str().unwrap(), "-o", page.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let html = fs::read_to_string(&page).unwrap();
    let messages = t["steps"].as_array().unwrap().iter().filter(|s| !s["message"].is_null()).count();
    assert_eq!(messages, 8);
    // One arrow per delivered message, and one per message still in flight at the end.
    let pending = html.matches("data-delivered=\"none\"").count();
    assert_eq!(html.matches("<g class=\"arrow").count() - pending, messages);
    assert_eq!(html.matches("<script").count(), 1, "only the viewer's own script");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("a &quot;quoted&quot; &lt;b&gt;label&lt;/b&gt; &amp; more"));
    // Self-contained: no external resources.
    for attr in ["src=\"http", "href=\"http", "@import", "url(http"] {
        assert!(!html.contains(attr), "{attr}");
    }
    // The failing step is marked, and every step links to itself.
    assert_eq!(html.matches("class=\"step fail").count(), 2, "chart row and list item");
    // Re-executed on its model: each property's status along the trace.
    assert!(html.contains("<tr class=\"prop always own\" data-timeline=\"00000000001\""), "{html}");
    for n in 0..=10 {
        assert!(html.contains(&format!("href=\"#step-{n}\"")), "step {n}");
    }
}

#[test]
fn trace_html_of_a_folder_writes_each_page_and_an_index_and_nothing_on_bad_input() {
    let dir = crate::common::TempFiles::new();
    race_trace(dir.path());
    let traces = dir.path().join("traces");
    let site = dir.path().join("site");
    let out = cli(dir.path(), &["trace", "html", traces.to_str().unwrap(), "-o", site.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let index = fs::read_to_string(site.join("index.html")).unwrap();
    for (property, steps) in
        [("no_spurious_logout", 10), ("cookie_names_live_session", 11), ("no_dead_credential_at_rest", 14)]
    {
        let page = format!("directus-10.10-session.{property}.html");
        assert!(site.join(&page).is_file(), "{page}");
        assert!(index.contains(&format!("<a href=\"./{page}\"><code>{property}</code></a>")), "{index}");
        assert!(index.contains(&format!("<td class=\"num\">{steps}</td>")), "{index}");
    }
    assert_eq!(index.matches("<tr>").count(), 1, "a header");
    assert_eq!(index.matches("<tbody class=\"model\" data-model=\"directus-10.10-session\">").count(), 1);
    assert_eq!(index.matches("<tr class=\"entry\"").count(), 3, "three traces");
    assert_eq!(index.matches("data-expectation=\"expected\"").count(), 3, "{index}");

    fs::write(traces.join("notes.json"), "{\"hello\": 1}").unwrap();
    let site2 = dir.path().join("site2");
    let out = cli(dir.path(), &["trace", "html", traces.to_str().unwrap(), "-o", site2.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("notes.json: field `schema`: found no `schema` field"), "{}", text(&out.stderr));
    assert!(!site2.exists(), "nothing is written when a file is not a trace");
}

#[test]
fn explore_refuses_a_trace_of_another_model_or_tab_count_and_a_busy_port() {
    let dir = crate::common::TempFiles::new();
    let file = race_trace(dir.path());
    let model = root().join("models/directus-10.10-session.json");
    let other = root().join("models/directus-pr22433-stable-id.json");
    let (m, o, f) = (model.to_str().unwrap(), other.to_str().unwrap(), file.to_str().unwrap());

    let out = cli(dir.path(), &["explore", o, "--trace", f, "--port", "0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("the trace is of model `directus-10.10-session`, not `directus-pr22433-stable-id`")
    );

    let out = cli(dir.path(), &["explore", m, "--trace", f, "--tabs", "3", "--port", "0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("checked with 2 tabs, not --tabs 3"), "{}", text(&out.stderr));

    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    let out = cli(dir.path(), &["explore", m, "--port", &port]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains(&format!("cannot listen on 127.0.0.1:{port}")), "{}", text(&out.stderr));
}

#[test]
fn explore_prints_the_explorer_url_at_the_trace_path_on_loopback() {
    let dir = crate::common::TempFiles::new();
    let file = race_trace(dir.path());
    let path = serde_json::from_str::<Value>(&fs::read_to_string(&file).unwrap()).unwrap()["path"]
        .as_str()
        .unwrap()
        .to_string();
    let mut child = Command::new(env!("CARGO_BIN_EXE_refresh-check"))
        .current_dir(dir.path())
        .args(["explore", root().join("models/directus-10.10-session.json").to_str().unwrap()])
        .args(["--port", "0", "--trace", file.to_str().unwrap()])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let url = line.trim().rsplit(' ').next().unwrap();
    assert!(line.starts_with("Explorer for directus-10.10-session (2 tabs): http://127.0.0.1:"), "{line}");
    assert!(url.ends_with(&format!("/#/steps/{path}")), "{line}");
    assert_eq!(path, "0/0/0/0/0/0/1/0/0/1/0");
}

/// A trace file's name cannot make the index's link run script or leave the folder: links are
/// relative and percent-encoded.
#[test]
fn index_links_are_relative_and_percent_encoded() {
    let dir = crate::common::TempFiles::new();
    race_trace(dir.path());
    let traces = dir.path().join("traces");
    let evil = traces.join("javascript:alert(document.domain)#x?y.json");
    fs::rename(traces.join("directus-10.10-session.no_spurious_logout.json"), &evil).unwrap();
    let site = dir.path().join("site");
    let out = cli(dir.path(), &["trace", "html", traces.to_str().unwrap(), "-o", site.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let index = fs::read_to_string(site.join("index.html")).unwrap();
    assert!(index.contains("href=\"./javascript%3Aalert%28document.domain%29%23x%3Fy.html\""), "{index}");
    assert!(!index.contains("href=\"javascript:"), "{index}");
    assert!(site.join("javascript:alert(document.domain)#x?y.html").is_file());
}

/// One HTTP/1.1 request, written as is (`head` without the final blank line): the status and
/// the body of the answer.
fn http(port: u16, head: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(20))).unwrap();
    write!(s, "{head}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n").unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    let status = answer.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = answer.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

/// The Explorer answers only its own pages on its own address, starts no search, and serves
/// only the UI built into the binary.
#[test]
fn explore_checks_host_and_origin_starts_no_search_and_serves_only_its_own_ui() {
    let dir = crate::common::TempFiles::new();
    // A `ui/` folder in the working folder is not served.
    fs::create_dir(dir.path().join("ui")).unwrap();
    fs::write(dir.path().join("ui/index.htm"), "PLANTED").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_refresh-check"))
        .current_dir(dir.path())
        .args(["explore", root().join("models/directus-10.10-session.json").to_str().unwrap(), "--port", "0"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    // The reader is kept open while the server runs: it prints two more lines.
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    stdout.read_line(&mut line).unwrap();
    let port: u16 = line.split("127.0.0.1:").nth(1).unwrap().split('/').next().unwrap().parse().unwrap();
    let host = format!("Host: 127.0.0.1:{port}");
    let results = [
        http(port, &format!("GET / HTTP/1.1\r\n{host}")),
        http(port, &format!("GET /.status HTTP/1.1\r\n{host}")),
        http(port, &format!("GET /.states/0/0 HTTP/1.1\r\nHost: localhost:{port}")),
        http(port, &format!("POST /.runtocompletion HTTP/1.1\r\n{host}\r\nOrigin: http://127.0.0.1:{port}")),
        http(port, &format!("POST /.runtocompletion HTTP/1.1\r\n{host}\r\nOrigin: http://evil.example")),
        http(port, &format!("GET /.status HTTP/1.1\r\nHost: evil.example:{port}")),
        http(port, &format!("GET /.status HTTP/1.1\r\n{host}\r\nOrigin: http://evil.example")),
        http(port, &format!("GET /.status HTTP/1.1\r\nHost: 127.0.0.1:{}", port.wrapping_add(1))),
        http(port, &format!("GET /.status HTTP/1.1\r\n{host}")),
    ];
    child.kill().unwrap();
    child.wait().unwrap();
    let [index, status, states, run, cross_run, rebound, cross_get, other_port, after] = results;
    assert_eq!(index.0, 200);
    assert!(index.1.contains("knockout-3.5.0.js") && !index.1.contains("PLANTED"), "{}", index.1);
    assert_eq!(status.0, 200);
    let v: Value = serde_json::from_str(&status.1).unwrap();
    assert!(v["properties"].as_array().unwrap().iter().any(|p| p[1] == "no_spurious_logout"), "{v}");
    assert_eq!(states.0, 200, "{}", states.1);
    assert!(serde_json::from_str::<Value>(&states.1).unwrap().as_array().is_some_and(|a| !a.is_empty()));
    assert_eq!(run.0, 403, "no search is started: {}", run.1);
    assert!(run.1.contains("runs no search"), "{}", run.1);
    assert_eq!(cross_run.0, 403);
    assert_eq!(rebound.0, 421, "a rebound host name is refused: {}", rebound.1);
    assert_eq!(cross_get.0, 403);
    assert_eq!(other_port.0, 421);
    let v: Value = serde_json::from_str(&after.1).unwrap();
    assert_eq!((v["state_count"].as_u64(), v["done"].as_bool()), (Some(0), Some(false)), "nothing ran: {v}");
}

#[test]
fn trace_html_of_two_traces_writes_them_side_by_side() {
    let dir = crate::common::TempFiles::new();
    let race = race_trace(dir.path());
    let other = dir.path().join("traces/directus-10.10-session.cookie_names_live_session.json");
    let page = dir.path().join("pair.html");
    let out = cli(
        dir.path(),
        &["trace", "html", race.to_str().unwrap(), other.to_str().unwrap(), "-o", page.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let html = fs::read_to_string(&page).unwrap();
    // Both traces start with the same steps: those rows are the same, some later ones differ.
    assert!(html.contains("<tr class=\"row same\" id=\"row-1\" data-row=\"1\">"), "{html}");
    assert!(html.contains("class=\"row differs"), "{html}");
    // A folder is not a trace to put side by side.
    let out = cli(dir.path(), &["trace", "html", race.to_str().unwrap(), dir.path().to_str().unwrap(), "-o", "x.html"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}

#[test]
fn trace_walk_writes_a_long_trace_that_validates_or_says_its_end_does_not_show_the_property() {
    let dir = crate::common::TempFiles::new();
    let model = root().join("models/directus-10.10-session.json");
    let walk = dir.path().join("walk.json");
    let args = ["trace", "walk", model.to_str().unwrap(), "--property", "refresh_succeeds", "--steps", "40", "-o"];
    let out = cli(dir.path(), &[&args[..], &[walk.to_str().unwrap()]].concat());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let t: Value = serde_json::from_str(&fs::read_to_string(&walk).unwrap()).unwrap();
    let steps = t["steps"].as_array().unwrap().len();
    assert!(steps > 10 && steps <= 40, "{steps}");
    let out = cli(dir.path(), &["trace", "validate", walk.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    // The same walk, the same trace.
    let again = dir.path().join("again.json");
    let out = cli(dir.path(), &[&args[..], &[again.to_str().unwrap()]].concat());
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(fs::read_to_string(&walk).unwrap(), fs::read_to_string(&again).unwrap());
    // An invariant the walk's end does not violate: exit 1, nothing written.
    let none = dir.path().join("none.json");
    let out = cli(
        dir.path(),
        &[
            "trace",
            "walk",
            model.to_str().unwrap(),
            "--property",
            "rotated_token_expires",
            "--steps",
            "3",
            "-o",
            none.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains("does not violate `rotated_token_expires`"), "{}", text(&out.stdout));
    assert!(!none.exists());
}
