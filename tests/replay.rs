//! `refresh-check replay` end to end, against a small stand-in for Directus 10.10's session
//! endpoints served on 127.0.0.1 by the test itself. The stand-in keeps the session table in
//! memory and does what `@directus/api` 18.2.1 does on `POST /auth/refresh` in session mode: R1
//! (is the row there?), a pause standing for the awaits between R1 and W1, then W1 (rename the
//! row, count ignored). The real servers are exercised by `scripts/conformance.sh`.

use std::collections::HashSet;
use std::io::Write;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use base64::Engine;
use tiny_http::{Header, Response, Server};

use crate::util::{cli, root};

/// How the stand-in refreshes.
#[derive(Clone, Copy)]
enum Refresh {
    /// Directus 10.10.x: R1, pause, rename (count ignored).
    Rename { window: Duration },
    /// Keeps the session token: what the 10.10 model says cannot happen.
    Keep,
    /// As `Rename`, but `POST /auth/logout` gets no HTTP answer (the connection is closed).
    RenameNoLogout { window: Duration },
}

struct Fake {
    server: Arc<Server>,
    workers: Vec<JoinHandle<()>>,
    url: String,
}

impl Drop for Fake {
    fn drop(&mut self) {
        for _ in &self.workers {
            self.server.unblock();
        }
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

fn jwt(session: &str) -> String {
    let e = |s: String| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    format!(
        "{}.{}.sig",
        e(r#"{"alg":"HS256","typ":"JWT"}"#.into()),
        e(format!(r#"{{"id":"u1","session":"{session}","iss":"directus"}}"#))
    )
}

fn session_of(req: &tiny_http::Request) -> Option<String> {
    let cookie = req.headers().iter().find(|h| h.field.equiv("Cookie"))?.value.as_str().to_owned();
    let value = cookie.split(';').find_map(|kv| kv.trim().strip_prefix("directus_session_token="))?.to_owned();
    refresh_check::replay::client::session_claim(&value)
}

/// An access token the stand-in issued (`Authorization: Bearer acc-…`).
fn bearer_of(req: &tiny_http::Request) -> Option<String> {
    let h = req.headers().iter().find(|h| h.field.equiv("Authorization"))?.value.as_str().to_owned();
    h.strip_prefix("Bearer acc-").map(str::to_owned)
}

/// A json-mode refresh's token: `{"mode":"json","refresh_token":T}`.
fn json_token(body: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    (v["mode"] == "json").then(|| v["refresh_token"].as_str().map(str::to_owned)).flatten()
}

fn json(status: u16, body: &str) -> Response<std::io::Cursor<Vec<u8>>> {
    Response::from_string(body)
        .with_status_code(status)
        .with_header(Header::from_bytes("Content-Type", "application/json").unwrap())
}

fn with_cookie(r: Response<std::io::Cursor<Vec<u8>>>, session: &str) -> Response<std::io::Cursor<Vec<u8>>> {
    let v = format!("directus_session_token={}; Max-Age=86400; Path=/; HttpOnly; SameSite=Lax", jwt(session));
    r.with_header(Header::from_bytes("Set-Cookie", v).unwrap())
}

fn error(status: u16, code: &str) -> Response<std::io::Cursor<Vec<u8>>> {
    json(status, &format!(r#"{{"errors":[{{"message":"x","extensions":{{"code":"{code}"}}}}]}}"#))
}

fn start(refresh: Refresh) -> Fake {
    start_with_db(refresh, None)
}

/// How the stand-in keeps its SQLite file (`directus_sessions (token, user, expires)`).
#[derive(Clone, Copy, PartialEq)]
enum DbMode {
    /// The file mirrors the table after every change, expiry 7 days from the write.
    Mirror,
    /// The file gets the sign-in's row only: what a server whose writes the model does not
    /// know would show.
    LoginOnly,
}

/// Rewrites the stand-in's SQLite file from its rows.
fn write_db(path: &std::path::Path, rows: &HashSet<String>) {
    let mut c = rusqlite::Connection::open(path).unwrap();
    c.busy_timeout(Duration::from_secs(5)).unwrap();
    let t = c.transaction().unwrap();
    t.execute_batch(
        "CREATE TABLE IF NOT EXISTS directus_sessions (token TEXT PRIMARY KEY, user TEXT, expires DATETIME); DELETE FROM directus_sessions;",
    )
    .unwrap();
    let week =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64 + 7 * 86_400_000;
    for r in rows {
        t.execute("INSERT INTO directus_sessions VALUES (?1, 'u1', ?2)", rusqlite::params![r, week]).unwrap();
    }
    t.commit().unwrap();
}

fn start_with_db(refresh: Refresh, db: Option<(std::path::PathBuf, DbMode)>) -> Fake {
    if let Some((path, _)) = &db {
        write_db(path, &HashSet::new());
    }
    let db = Arc::new(db);
    let server = Arc::new(Server::http("127.0.0.1:0").unwrap());
    let url = format!("http://127.0.0.1:{}", server.server_addr().to_ip().unwrap().port());
    let rows: Arc<Mutex<HashSet<String>>> = Arc::default();
    let next = Arc::new(AtomicU32::new(1));
    let workers = (0..4)
        .map(|_| {
            let (server, rows, next, db) = (server.clone(), rows.clone(), next.clone(), db.clone());
            std::thread::spawn(move || {
                let mirror = |rows: &HashSet<String>, login: bool| {
                    if let Some((path, mode)) = db.as_ref() {
                        if *mode == DbMode::Mirror || login {
                            write_db(path, rows);
                        }
                    }
                };
                while let Ok(mut req) = server.recv() {
                    let mut body = String::new();
                    let _ = req.as_reader().read_to_string(&mut body);
                    let fresh = || format!("tok{}", next.fetch_add(1, Ordering::SeqCst));
                    let path = req.url().split('?').next().unwrap_or("").to_owned();
                    let resp = match path.as_str() {
                        "/auth/login" if body.contains("refresh-check-admin") => {
                            let t = fresh();
                            let mut rows = rows.lock().unwrap();
                            rows.insert(t.clone());
                            mirror(&rows, true);
                            with_cookie(json(200, r#"{"data":{"expires":86400000}}"#), &t)
                        }
                        "/auth/login" => error(401, "INVALID_CREDENTIALS"),
                        "/auth/refresh" => match json_token(&body).or_else(|| session_of(&req)) {
                            None => error(400, "INVALID_PAYLOAD"),
                            Some(t) if !rows.lock().unwrap().contains(&t) => error(401, "INVALID_CREDENTIALS"),
                            Some(t) => match refresh {
                                Refresh::Rename { window } | Refresh::RenameNoLogout { window } => {
                                    std::thread::sleep(window);
                                    let n = fresh();
                                    let mut rows = rows.lock().unwrap();
                                    if rows.remove(&t) {
                                        rows.insert(n.clone());
                                    }
                                    mirror(&rows, false);
                                    if json_token(&body).is_some() {
                                        json(200, &format!(r#"{{"data":{{"refresh_token":"{n}","access_token":"acc-{n}","expires":900000}}}}"#))
                                    } else {
                                        with_cookie(json(200, r#"{"data":{"expires":86400000}}"#), &n)
                                    }
                                }
                                Refresh::Keep => with_cookie(json(200, r#"{"data":{"expires":86400000}}"#), &t),
                            },
                        },
                        "/users/me" => match session_of(&req).or_else(|| bearer_of(&req)) {
                            Some(_) => json(200, r#"{"data":{"id":"u1"}}"#),
                            None => error(401, "INVALID_CREDENTIALS"),
                        },
                        "/auth/logout" if matches!(refresh, Refresh::RenameNoLogout { .. }) => {
                            // Not an HTTP answer: the client sees a transport error.
                            let mut w = req.into_writer();
                            let _ = w.write_all(b"not http\r\n\r\n");
                            let _ = w.flush();
                            continue;
                        }
                        "/auth/logout" => {
                            if let Some(t) = session_of(&req) {
                                let mut rows = rows.lock().unwrap();
                                rows.remove(&t);
                                mirror(&rows, false);
                            }
                            Response::from_string("").with_status_code(204)
                        }
                        _ => error(404, "ROUTE_NOT_FOUND"),
                    };
                    let _ = req.respond(resp);
                }
            })
        })
        .collect();
    Fake { server, workers, url }
}

fn replay(fake: &Fake, trace: &str, extra: &[&str]) -> (i32, String) {
    let trace = format!("traces/{trace}.json");
    let mut args = vec![
        "replay",
        &trace,
        "--target",
        &fake.url,
        "--email",
        "admin@example.com",
        "--password",
        "refresh-check-admin",
    ];
    args.extend_from_slice(extra);
    let out = cli(&root(), &args);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn scenario_1_reproduces_when_the_second_refresh_reads_after_the_first_ones_rename() {
    let fake = start(Refresh::Rename { window: Duration::from_millis(40) });
    let (code, out) =
        replay(&fake, "directus-10.10-session.no_spurious_logout", &["--tries", "2", "--stagger-ms", "250"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("server: 401 INVALID_CREDENTIALS"), "{out}");
    assert!(out.contains("verdict: no_spurious_logout: reproduced (try 1)"), "{out}");
}

#[test]
fn scenario_2_reproduces_when_both_refreshes_read_before_either_writes() {
    let fake = start(Refresh::Rename { window: Duration::from_millis(300) });
    let (code, out) =
        replay(&fake, "directus-10.10-session.cookie_names_live_session", &["--tries", "2", "--stagger-ms", "0"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("(= model token 2)") && out.contains("(= model token 3)"), "{out}");
    assert!(out.contains("reproduced (try 1)"), "{out}");
}

#[test]
fn another_allowed_interleaving_in_every_try_is_not_reproduced() {
    // Both refreshes read before either writes, every time: scenario 1 needs the opposite.
    let fake = start(Refresh::Rename { window: Duration::from_millis(300) });
    let (code, out) =
        replay(&fake, "directus-10.10-session.no_spurious_logout", &["--tries", "2", "--stagger-ms", "0"]);
    assert_eq!(code, 3, "{out}");
    assert!(
        out.contains("2 × group 1: another allowed outcome: 200, Set-Cookie session=2 / 200, Set-Cookie session=3"),
        "{out}"
    );
    assert!(out.contains("not reproduced"), "{out}");
}

#[test]
fn a_server_that_keeps_the_token_diverges_from_the_rotating_model() {
    let fake = start(Refresh::Keep);
    let (code, out) = replay(&fake, "directus-10.10-session.no_spurious_logout", &["--tries", "3"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(
            "DIVERGED: the model allows none of these replies (200, Set-Cookie session=1 / 200, Set-Cookie session=1)"
        ),
        "{out}"
    );
    assert!(out.contains("verdict: no_spurious_logout: diverged (try 1, group 1"), "{out}");
}

#[test]
fn bad_targets_and_credentials_are_bad_input() {
    let fake = start(Refresh::Keep);
    let trace = "traces/directus-10.10-session.no_spurious_logout.json";
    let args = ["replay", trace, "--target", &fake.url, "--email", "admin@example.com", "--password", "wrong"];
    let out = cli(&root(), &args);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("sign-in refused: 401 INVALID_CREDENTIALS"));
    let out = cli(
        &root(),
        &[
            "replay",
            "traces/directus-10.10-session.no_spurious_logout.json",
            "--target",
            "http://192.0.2.1:8055",
            "--email",
            "a",
            "--password",
            "b",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("replays only talk to this machine"));
}

/// Issue 13, item 12: a network error during the best-effort sign-out after a try ended the
/// whole replay with exit 2 and lost the tries made. The sign-out's failure is now printed and
/// the replay goes on to its verdict.
#[test]
fn a_failed_sign_out_does_not_end_the_replay() {
    let fake = start(Refresh::RenameNoLogout { window: Duration::from_millis(40) });
    let (code, out) = replay(
        &fake,
        "directus-10.10-session.no_spurious_logout",
        &["--tries", "2", "--stagger-ms", "250", "--request-timeout", "2"],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("sign-out: token") && out.contains(": not signed out ("), "{out}");
    assert!(out.contains("verdict: no_spurious_logout: reproduced (try 1)"), "{out}");
}

/// Issue 17, item 5: `--database` reads the session table after the sign-in and after every
/// group, and every token the model says is live is used once.
#[test]
fn the_session_table_is_observed_and_matches_the_model_store() {
    let dir = crate::common::TempFiles::new();
    let db = dir.path().join("data.db");
    let fake = start_with_db(Refresh::Rename { window: Duration::from_millis(40) }, Some((db.clone(), DbMode::Mirror)));
    let dbs = db.display().to_string();
    let (code, out) = replay(
        &fake,
        "directus-10.10-session.no_spurious_logout",
        &["--tries", "1", "--stagger-ms", "250", "--database", &dbs],
    );
    assert_eq!(code, 0, "{out}");
    // After the sign-in: the session row; after the group: A's renamed row only.
    assert!(out.contains("db: token=1 expires=+"), "{out}");
    assert!(out.contains("(as the model's store: token=2 expires=7)"), "{out}");
    assert!(out.contains("database: 2 observation(s) of directus_sessions, 2 as the model's store"), "{out}");
    // Live in the model (10.10 checks the JWT only): both cookies; the server accepts both.
    assert!(out.contains("live: session cookie of token 1: GET /users/me 200"), "{out}");
    assert!(out.contains("live tokens: 2 used once, 2 accepted by the server"), "{out}");
}

/// A server whose table does not change as the model's store does diverges, naming the rows.
#[test]
fn a_session_table_unlike_the_model_store_diverges() {
    let dir = crate::common::TempFiles::new();
    let db = dir.path().join("data.db");
    let fake =
        start_with_db(Refresh::Rename { window: Duration::from_millis(40) }, Some((db.clone(), DbMode::LoginOnly)));
    let dbs = db.display().to_string();
    let (code, out) = replay(
        &fake,
        "directus-10.10-session.no_spurious_logout",
        &["--tries", "1", "--stagger-ms", "250", "--database", &dbs],
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("DIVERGED: the session table token=1 expires=+")
            && out.contains("is none the model allows (token=2 expires=7)"),
        "{out}"
    );
    assert!(out.contains("database: 2 observation(s) of directus_sessions, 1 as the model's store"), "{out}");
}

/// Issue 17, item 5: a tick too short for the server's grace is refused before anything is
/// sent, naming the option and the value that would do.
#[test]
fn a_tick_too_short_for_the_server_grace_is_refused() {
    let fake = start(Refresh::Keep);
    let (code, out) = replay(&fake, "directus-10.11.1-session-slow.no_spurious_logout", &["--tries", "1"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("--tick-seconds 1: the trace cannot test what it claims on this server: SESSION_REFRESH_GRACE_PERIOD runs out within the trace"), "{out}");
    assert!(out.contains("use --tick-seconds 6.67 or set the server's SESSION_REFRESH_GRACE_PERIOD to 1.5 s"), "{out}");
    assert!(!out.contains("sign-in"), "{out}");
}

/// Review 5: the same model written as a `session_server` program (`models expand`) gets the
/// same check: its handlers read `grace_period`, so the tick must fit the server's grace.
#[test]
fn a_session_server_file_gets_the_grace_check_too() {
    let dir = crate::common::TempFiles::new();
    let expanded = cli(&root(), &["models", "expand", "models/directus-10.11.1-session-slow.json"]);
    assert_eq!(expanded.status.code(), Some(0), "{}", String::from_utf8_lossy(&expanded.stderr));
    assert!(String::from_utf8_lossy(&expanded.stdout).contains("\"session_server\""));
    let file = dir.path().join("slow-expanded.json");
    std::fs::write(&file, &expanded.stdout).unwrap();
    let fake = start(Refresh::Keep);
    let args = [
        "replay",
        "--model",
        file.to_str().unwrap(),
        "--property",
        "no_spurious_logout",
        "--target",
        &fake.url,
        "--email",
        "admin@example.com",
        "--password",
        "refresh-check-admin",
        "--tries",
        "1",
    ];
    let out = cli(&root(), &args);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("--tick-seconds 1: the trace cannot test what it claims on this server: SESSION_REFRESH_GRACE_PERIOD runs out within the trace"), "{text}");
    assert!(
        text.contains("use --tick-seconds 6.67 or set the server's SESSION_REFRESH_GRACE_PERIOD to 1.5 s"),
        "{text}"
    );
    assert!(!text.contains("sign-in"), "{text}");
}

/// Review 12: `--tries 0` is a usage error, not one try.
#[test]
fn zero_tries_is_a_usage_error() {
    let fake = start(Refresh::Keep);
    let (code, out) = replay(&fake, "directus-10.10-session.no_spurious_logout", &["--tries", "0"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("--tries") && out.contains("0 is not in 1.."), "{out}");
    assert!(!out.contains("sign-in"), "{out}");
}

/// A trace of a model whose server is not Directus is refused: exit 2, naming file and field.
#[test]
fn a_trace_of_an_oauth_model_is_refused() {
    let fake = start(Refresh::Keep);
    let (code, out) = replay(&fake, "auth0-leeway.sp3_single_lineage", &["--tries", "1"]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("error: traces/auth0-leeway.sp3_single_lineage.json: field `server` of its model: the server is an OAuth authorization server"),
        "{out}"
    );
}

/// The numbered traces of `check --counterexamples` replay like any other: here the second
/// mechanism of the cross-mode race (the attacker's json redemption renames the row before tab
/// A reads it), reproduced when the attacker's request goes first.
#[test]
fn a_numbered_counterexample_trace_replays() {
    let dir = crate::common::TempFiles::new();
    let d = dir.path().display().to_string();
    let out = cli(
        &root(),
        &[
            "check",
            "models/directus-10.10-session-crossmode.json",
            "--counterexamples",
            "2",
            "--property",
            "no_spurious_logout",
            "--traces",
            &d,
        ],
    );
    assert!(out.status.code().is_some_and(|c| c <= 1), "{}", String::from_utf8_lossy(&out.stderr));
    let numbered = dir.path().join("directus-10.10-session-crossmode.no_spurious_logout.2.json");
    assert!(numbered.exists(), "{:?}", std::fs::read_dir(dir.path()).unwrap().collect::<Vec<_>>());
    let fake = start(Refresh::Rename { window: Duration::from_millis(40) });
    let file = numbered.display().to_string();
    let args = [
        "replay",
        &file,
        "--target",
        &fake.url,
        "--email",
        "admin@example.com",
        "--password",
        "refresh-check-admin",
        "--tries",
        "2",
        "--stagger-ms",
        "250",
    ];
    let out = cli(&root(), &args);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("trace:   401 INVALID_CREDENTIALS / 200, refresh_token=3"), "{text}");
    assert!(text.contains("verdict: no_spurious_logout: reproduced (try 2)"), "{text}");
}

/// A fake `refresh-check` for `scripts/conformance.sh`: it answers each replay with the exit
/// code in `CODES` (a replay of a trace file exits 2 with an error, as a network failure does;
/// one with `--model` exits 0 with a tally).
fn fake_bin(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let bin = dir.join("refresh-check");
    std::fs::write(
        &bin,
        "#!/bin/sh\ncase \"$2\" in\n  --model) printf '\\n1 try:\\n    1 × as in the trace\\n\\nverdict: x: reproduced (try 1)\\n'; exit 0 ;;\n  *) echo 'error: connection reset by peer' >&2; exit 2 ;;\nesac\n",
    )
    .unwrap();
    let server = dir.join("directus.sh");
    std::fs::write(&server, "#!/bin/sh\n[ \"$1\" = start ] && [ -n \"$FAIL_START\" ] && exit 2\nexit 0\n").unwrap();
    for f in [&bin, &server] {
        std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    (bin, server)
}

fn conformance(dir: &std::path::Path, fail_start: bool) -> (i32, String, String) {
    let (bin, server) = fake_bin(dir);
    let mut cmd = std::process::Command::new("bash");
    cmd.arg(root().join("scripts/conformance.sh"))
        .env("CONFORMANCE_BIN", &bin)
        .env("CONFORMANCE_DIRECTUS", &server)
        .env("CONFORMANCE_OUT", dir.join("out"))
        .env("CONFORMANCE_VERSIONS", "10.10.4");
    if fail_start {
        cmd.env("FAIL_START", "1");
    }
    let out = cmd.output().unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

/// Issue 13, item 12: `scripts/conformance.sh` exited under `set -euo pipefail` without its
/// table when one replay failed. Every row is now run and the table printed; the exit code
/// says that a verdict differs.
#[test]
fn the_conformance_table_is_printed_when_a_replay_fails() {
    let dir = crate::common::TempFiles::new();
    let (code, out, err) = conformance(dir.path(), false);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("| Directus | replayed | expected | verdict | how the tries ended | session table as the model's | live tokens accepted |"),
        "{out}"
    );
    assert!(
        out.contains("| 10.10.4 | `directus-10.10-session.no_spurious_logout` | reproduced | error(2) (DIFFERS) | error: connection reset by peer |"),
        "{out}"
    );
    assert!(
        out.contains("| 10.10.4 | `directus-10.10-session-crossmode.mode_binding` | reproduced | reproduced (ok) | 1 × as in the trace |"),
        "{out}"
    );
    assert!(err.contains("conformance: 4 verdict(s) differ from the expectation"), "{err}");
}

/// A server that cannot start: its rows say so, the table is printed, exit 2.
#[test]
fn the_conformance_table_is_printed_when_a_server_does_not_start() {
    let dir = crate::common::TempFiles::new();
    let (code, out, err) = conformance(dir.path(), true);
    assert_eq!(code, 2, "{out}{err}");
    assert!(out.contains("| 10.10.4 | `directus-10.10-session.no_spurious_logout` | reproduced | not run (cannot start directus 10.10.4) | |"), "{out}");
    assert!(err.contains("conformance: 1 server(s) could not be installed or started"), "{err}");
}

/// A fake installed Directus whose `node` prints a line and exits (a server that does not
/// come up), for `scripts/directus.sh start`.
fn fake_directus(dir: &std::path::Path) -> std::process::Command {
    use std::os::unix::fs::PermissionsExt;
    let v = dir.join("cache/10.10.4");
    std::fs::create_dir_all(&v).unwrap();
    std::fs::write(v.join(".installed"), "").unwrap();
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let node = bin.join("node");
    std::fs::write(&node, "#!/bin/sh\n[ \"$2\" = start ] && { echo \"fake server output\"; exit 1; }\nexit 0\n")
        .unwrap();
    std::fs::set_permissions(&node, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut cmd = std::process::Command::new("bash");
    cmd.arg(root().join("scripts/directus.sh"))
        .args(["start", "10.10.4"])
        .env("DIRECTUS_CACHE", dir.join("cache"))
        .env("PATH", format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default()));
    cmd
}

/// Issue 13, item 12: `scripts/directus.sh start` reported success when another server held
/// the port (that server answered the ping, and its answers would have been taken for this
/// version's). It now refuses before starting anything.
#[test]
fn directus_start_refuses_a_port_another_server_holds() {
    let dir = crate::common::TempFiles::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = fake_directus(dir.path()).env("DIRECTUS_PORT", &port).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "directus.sh: port {port} on 127.0.0.1 is already in use by another server; stop it or set DIRECTUS_PORT"
        )),
        "{err}"
    );
    assert!(!dir.path().join("cache/10.10.4/server.log").exists());
}

/// Issue 13, item 12: `server.log` was overwritten at every start. Each start now appends,
/// after a marker line.
#[test]
fn directus_start_appends_to_the_server_log() {
    let dir = crate::common::TempFiles::new();
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port().to_string();
    for _ in 0..2 {
        let out = fake_directus(dir.path()).env("DIRECTUS_PORT", &free).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains("directus.sh: directus 10.10.4 exited"), "{err}");
    }
    let log = std::fs::read_to_string(dir.path().join("cache/10.10.4/server.log")).unwrap();
    assert_eq!(log.matches("=== directus 10.10.4 start ").count(), 2, "{log}");
    assert_eq!(log.matches("fake server output").count(), 2, "{log}");
}

/// The environment's proxy settings are ignored: the replay goes straight to the loopback
/// target (the password never passes through a proxy).
#[test]
fn proxy_variables_in_the_environment_are_ignored() {
    let fake = start(Refresh::Keep);
    let proxy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    proxy.set_nonblocking(true).unwrap();
    let purl = format!("http://{}", proxy.local_addr().unwrap());
    let trace = "traces/directus-10.10-session.no_spurious_logout.json";
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_refresh-check"));
    cmd.current_dir(root())
        .args(["replay", trace, "--target", &fake.url, "--email", "a@example.com", "--password", "wrong"])
        .args(["--request-timeout", "3"])
        .env_remove("NO_PROXY")
        .env_remove("no_proxy");
    for var in ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"] {
        cmd.env(var, &purl);
    }
    let out = cmd.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(proxy.accept().is_err(), "the replay connected to the proxy: {err}");
    assert_eq!(out.status.code(), Some(2));
    assert!(err.contains("sign-in refused: 401 INVALID_CREDENTIALS"), "the target itself answered: {err}");
}

/// A redirect from the target is named as one, not taken for a refused password.
#[test]
fn a_redirect_from_the_target_is_reported_as_a_redirect() {
    let server = Arc::new(Server::http("127.0.0.1:0").unwrap());
    let url = format!("http://127.0.0.1:{}", server.server_addr().to_ip().unwrap().port());
    let s = server.clone();
    let worker = std::thread::spawn(move || {
        while let Ok(req) = s.recv() {
            let r = Response::from_string("")
                .with_status_code(307)
                .with_header(Header::from_bytes("Location", "http://127.0.0.1:9/login").unwrap());
            let _ = req.respond(r);
        }
    });
    let trace = "traces/directus-10.10-session.no_spurious_logout.json";
    let out = cli(&root(), &["replay", trace, "--target", &url, "--email", "a@example.com", "--password", "p"]);
    server.unblock();
    let _ = worker.join();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("/auth/login: the target answered 307 (a redirect to \"http://127.0.0.1:9/login\")"), "{err}");
    assert!(!err.contains("sign-in refused"), "{err}");
}
