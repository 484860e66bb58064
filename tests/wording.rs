//! Traces in the model's own words (`protocol.wording`, `session_server.wording`): a ZITADEL or
//! Blitz trace names that server's endpoints and error codes, the printed code follows from
//! the rule that answered, a query's `status` filter matches the printed status, and a model
//! without the field (every Directus model) reads as before. The wording never changes a step.

use refresh_check::check::CheckOptions;
use refresh_check::scenario::{Scenario, Verdict};
use refresh_check::trace::{self, Trace};

use crate::util::{actions, checked, run, status, trace_of};

const ZITADEL: &str = "models/zitadel-9331-interceptor-retry-bound.json";

/// ZITADEL issue 9331 with a retry bound: the tab's second retried call is refused again.
const RETRY_REFUSED: [&str; 10] = [
    "TabSendsRefresh",
    "ServerReceivesRefresh",
    "TabSendsCall",
    "ServerReceivesCall",
    "TabReceivesCallResponse",
    "TabReceivesRefreshResponse",
    "TabSendsRefresh",
    "ServerReceivesRefresh",
    "ServerReceivesCall",
    "TabReceivesCallResponse",
];

fn all_text(t: &Trace) -> String {
    let mut s = trace::render_text(t);
    s += &trace::render_mermaid(t);
    s += &serde_json::to_string(t).unwrap();
    s
}

/// The ZITADEL model names ZITADEL's token endpoint, and the call refused by introspection
/// prints `401 invalid_token` (the `request` rule `introspection: inactive` answered
/// `invalid_token`): in the step text, the message, the chart and the JSON.
#[test]
fn a_zitadel_trace_names_zitadels_endpoints_and_the_codes_its_rules_answer() {
    let (sc, m, r) = checked(ZITADEL);
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Violated);
    assert!(r.unique_states > 10, "{} states", r.unique_states);
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(actions(&t), RETRY_REFUSED);
    assert_eq!(
        t.steps[0].text,
        "tab A loads or returns from idle and sends POST /oauth/v2/token with its stored refresh token (token=1)"
    );
    assert!(t.steps[3].text.ends_with("rule `introspection: inactive` → invalid_token"), "{}", t.steps[3].text);
    assert_eq!(t.steps[4].message.as_ref().unwrap().text, "401 invalid_token");
    assert!(t.steps[9].text.starts_with("tab A gets 401 invalid_token for its API call"), "{}", t.steps[9].text);
    let text = all_text(&t);
    assert!(text.contains("TabA->>Server: 2. POST /oauth/v2/token (mode json, refresh_token=1)"), "{text}");
    assert!(!text.contains("/auth/refresh") && !text.contains("INVALID_CREDENTIALS"), "{text}");
}

/// The same model without its `wording` finds the same steps; only the words differ (the
/// default refresh wording, the RFC 6750 code the rule answered either way).
#[test]
fn the_wording_changes_words_never_steps() {
    let (sc, m, r) = checked(ZITADEL);
    let worded = trace_of(&m, &sc, &r, "no_spurious_logout");
    let dir = crate::common::TempFiles::new();
    let plain = dir.copy_model(ZITADEL, "plain.json", |v| {
        v["protocol"].as_object_mut().unwrap().remove("wording").expect("the shipped model has a wording");
    });
    let sc = Scenario::load(&plain).unwrap();
    let (m, r) = run(&sc, &CheckOptions::default());
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(actions(&t), RETRY_REFUSED);
    assert_eq!(t.steps.len(), worded.steps.len());
    for (a, b) in t.steps.iter().zip(&worded.steps) {
        let reworded = |x: String| x.replace("POST /auth/refresh", "POST /oauth/v2/token");
        assert_eq!(reworded(a.text.clone()), b.text);
        // The same state; the messages in flight are named in the model's words too.
        let state = |s: &trace::Snapshot| serde_json::to_string(s).unwrap();
        assert_eq!(reworded(state(&a.state)), state(&b.state));
    }
    assert!(t.steps[0].text.contains("sends POST /auth/refresh with"), "{}", t.steps[0].text);
    assert_eq!(t.steps[4].message.as_ref().unwrap().text, "401 invalid_token");
}

/// A refused refresh prints the RFC 6749 §5.2 `400 invalid_grant` by default (gotrue-js v1's
/// loser), and a model's `wording.errors` prints its server's own status and code (spiderly
/// answers 401); a query's `status` filter matches the printed status in both.
#[test]
fn a_refused_refresh_prints_its_code_and_the_query_status_matches_it() {
    let (sc, m, r) = checked("models/gotrue-js-v1-storage-listener-signs-out-every-tab.json");
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    let refused =
        t.steps.iter().find(|s| s.action == "TabReceivesRefreshResponse" && s.text.contains(" gets 4")).unwrap();
    assert!(refused.text.starts_with("tab B gets 400 invalid_grant"), "{}", refused.text);
    // The model's query filters `status 400` on that answer, and is reachable (checked above).
    let file = std::fs::read_to_string(crate::util::root().join(&sc.path)).unwrap();
    assert!(file.contains("tab B TabReceivesRefreshResponse status 400"));

    let (sc, m, r) = checked("models/spiderly-384-401-clears-cookies.json");
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert!(t.steps[4].text.starts_with("tab B gets 401 SecurityTokenException"), "{}", t.steps[4].text);
    // Its query's `status 401` matches the loser's answer: a `status 400` there finds nothing.
    let dir = crate::common::TempFiles::new();
    let moved = dir.copy_model("models/spiderly-384-401-clears-cookies.json", "s.json", |v| {
        let ev = &mut v["queries"][0]["events"][1];
        assert_eq!(ev.as_str().unwrap(), "tab B TabReceivesRefreshResponse status 401");
        *ev = "tab B TabReceivesRefreshResponse status 400".into();
        v["queries"][0]["expect"] = "unreachable".into();
    });
    let (_, r) = run(&Scenario::load(&moved).unwrap(), &CheckOptions::default());
    assert_eq!(r.outcome(), refresh_check::check::Outcome::AsExpected, "{:?}", r.properties);
}

/// The Blitz model names its RPC query and AuthenticationError.
#[test]
fn a_blitz_trace_names_the_rpc_query() {
    let (sc, m, r) = checked("models/blitz-0.23-session-renewal.json");
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert!(
        t.steps[0].text.ends_with(
            "sends RPC query POST /api/users/queries/getCurrentUser with the jar's cookie (session=1 exp=4)"
        ),
        "{}",
        t.steps[0].text
    );
    let text = all_text(&t);
    assert!(text.contains("401 AuthenticationError"), "{text}");
    assert!(!text.contains("/auth/refresh") && !text.contains("INVALID_CREDENTIALS"), "{text}");
}

/// A Directus model has no `wording`: its trace reads in the Directus words, byte for byte
/// as its golden trace.
#[test]
fn a_directus_trace_is_unchanged() {
    let (sc, m, r) = checked("models/directus-10.11.1-session.json");
    let t = trace_of(&m, &sc, &r, "cookie_names_live_session");
    let golden = std::fs::read_to_string(
        crate::util::root().join("traces/directus-10.11.1-session.cookie_names_live_session.md"),
    )
    .unwrap();
    assert!(golden.contains("POST /auth/refresh"), "{golden}");
    assert!(golden.contains(&trace::render_mermaid(&t)), "the chart is the golden one");
    for s in &t.steps {
        assert!(golden.contains(&s.text), "{}", s.text);
    }
}

/// A wording error names the file, the field and what is expected, and exits 2.
#[test]
fn a_bad_wording_is_refused_with_the_field() {
    let dir = crate::common::TempFiles::new();
    let cases = [
        ("invalid_grant", "500 invalid_grant", "a 4xx status"),
        ("invalid_grnat", "400 invalid_grant", "`invalid_grant`"),
        ("server_error", "oops", "a 5xx status"),
    ];
    for (key, text, hint) in cases {
        let file = dir.copy_model(ZITADEL, "w.json", |v| {
            v["protocol"]["wording"]["errors"] = serde_json::json!({ key: text });
        });
        let e = Scenario::load(&file).unwrap_err().to_string();
        assert!(e.starts_with(&format!("{}:", file.display())), "{e}");
        assert!(e.contains(&format!("protocol.wording.errors.{key}")) && e.contains(hint), "{e}");
        let out = crate::util::cli(dir.path(), &["models", "validate", "w.json"]);
        assert_eq!(out.status.code(), Some(2), "{e}");
    }
    let file = dir.copy_model("models/blitz-pr1209-extend-only.json", "b.json", |v| {
        v["session_server"]["wording"]["errors"] = serde_json::json!({ "invalid_grant": "400 x" });
    });
    let e = Scenario::load(&file).unwrap_err().to_string();
    assert!(e.contains("session_server.wording.errors.invalid_grant") && e.contains("`invalid_credentials`"), "{e}");
}

/// A `protocol` server's sign-out answer is worded from its reply and the browser's reaction
/// (`200 signed_out`; the tab drops its refresh token and is logged out), not in Directus's
/// words; a Directus model keeps them (`200, both cookies cleared`).
#[test]
fn a_sign_out_answer_says_what_the_reply_and_the_browser_do() {
    let file = "models/keycloak-26532-revoke-offline-kills-other-client.json";
    let (sc, m, r) = checked(file);
    let t = trace_of(&m, &sc, &r, "converges_to_live_token");
    let i = crate::util::find_step(&t, "tab 1A", "TabReceivesLogoutResponse", "200 signed_out");
    assert_eq!(
        t.steps[i].text,
        "device 1 tab A gets 200 signed_out: the device 1 tab drops its refresh token, and is logged out"
    );
    assert_eq!(t.steps[i].message.as_ref().unwrap().text, "200 signed_out");
    assert!(!all_text(&t).contains("cookies cleared"));
    assert_eq!(t.steps[i].state.tabs[0].status, "logged out");
    // With one shared storage for the tabs, the sign-out's answer clears it, and says so.
    let files = crate::common::TempFiles::new();
    let file = files.copy_model("models/c12-revoke-during-refresh.json", "c.json", |m| {
        m.shift_remove("expect");
        m.insert(
            "queries".into(),
            serde_json::json!([{ "name": "signed-out", "events": ["TabReceivesLogoutResponse"], "expect": "reachable" }]),
        );
    });
    let sc = Scenario::load(&file).unwrap_or_else(|e| panic!("{e}"));
    let o = crate::util::answered(&sc, "signed-out");
    let t = o.trace.as_ref().unwrap();
    let last = t.steps.last().unwrap();
    assert_eq!(last.action, "TabReceivesLogoutResponse");
    assert!(
        last.text.ends_with(
            "the tab drops its refresh token and clears the shared storage (until a tab stores a token again), and is logged out"
        ),
        "{}",
        last.text
    );
}

/// Two nodes: a node that answers from its copy without changing it is not said to serve the
/// request; here node 2 has no row for token 2 (the write on node 1 is not replicated yet).
#[test]
fn a_node_that_changes_nothing_is_not_said_to_serve() {
    let file = "models/c09-keycloak-cluster-lagging-read.json";
    let (sc, m, r) = checked(file);
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    let served: Vec<&str> =
        t.steps.iter().filter(|s| s.action == "NodeServesRequest").map(|s| s.text.as_str()).collect();
    assert_eq!(
        served,
        [
            "the load balancer routes tab A's refresh (token=1) to node 1, which serves it on its own copy of the session entry",
            "the load balancer routes tab A's refresh (token=2) to node 2, whose copy of the session entry has no token=2: it answers without changing anything",
        ]
    );
}

const GCX: &str = "models/gcx-522-two-invocations-share-config.json";

/// gcx issue 522's clients are two CLI invocations (`browser.client_word: "process"`): the
/// trace names them `process A` and `process B` in its actors, sentences, messages, chart,
/// claim and header, and keeps the action names.
#[test]
fn a_cli_model_names_its_clients_processes() {
    let (sc, m, r) = checked(GCX);
    assert_eq!(sc.browser.client_word.as_ref().map(|w| w.word()), Some("process"));
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Violated);
    assert!(r.unique_states > 10, "{} states", r.unique_states);
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    assert_eq!(t.client_word.as_deref(), Some("process"));
    assert_eq!(
        crate::util::steps(&t),
        crate::util::owned(&[
            ("process A", "TabSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("process B", "TabSendsRefresh"),
            ("server", "ServerReceivesRefresh"),
            ("process B", "TabReceivesRefreshResponse"),
        ])
    );
    assert!(t.steps[0].text.starts_with("process A loads or returns from idle and sends"), "{}", t.steps[0].text);
    assert!(t.steps[3].text.starts_with("server receives process B's POST"), "{}", t.steps[3].text);
    assert_eq!(t.steps[4].text, "process B gets 401 unauthorized and is logged out");
    assert_eq!(t.steps[4].message.as_ref().unwrap().to, "process B");
    assert_eq!(t.claim, "no process is logged out while the user's session is valid");
    let md = trace::render_markdown(&t);
    assert!(md.contains("(2 processes). Claim: no process is logged out"), "{md}");
    assert!(md.contains("participant TabA as process A"), "{md}");
    assert!(md.contains("Server-->>TabB: 5. 401 unauthorized"), "the answer is drawn as a reply: {md}");
    let text = all_text(&t);
    assert!(!text.contains("tab A") && !text.contains("tab B"), "{text}");
}

/// The word changes words, never steps: without it the same model finds the same path, the
/// same states and the same sentences with `tab` in place of `process`; a query may name a
/// client either way.
#[test]
fn the_client_word_changes_words_never_steps() {
    let (sc, m, r) = checked(GCX);
    let worded = trace_of(&m, &sc, &r, "no_spurious_logout");
    let dir = crate::common::TempFiles::new();
    let plain = dir.copy_model(GCX, "plain.json", |v| {
        v["browser"].as_object_mut().unwrap().remove("client_word").expect("the shipped model names its clients");
        v.insert(
            "queries".into(),
            serde_json::json!([
            { "name": "b-refused", "events": ["tab B TabReceivesRefreshResponse status 401"],
              "end": "tab[B].status == logged_out", "expect": "reachable" } ]),
        );
    });
    let sc2 = Scenario::load(&plain).unwrap();
    let (m2, r2) = run(&sc2, &CheckOptions::default());
    assert_eq!((r2.states, r2.unique_states), (r.states, r.unique_states));
    let t = trace_of(&m2, &sc2, &r2, "no_spurious_logout");
    assert_eq!(t.client_word, None);
    assert_eq!(t.path, worded.path);
    for (a, b) in t.steps.iter().zip(&worded.steps) {
        let reworded = |x: &str| x.replace("tab ", "process ");
        assert_eq!(reworded(&a.text), b.text);
        assert_eq!(reworded(&a.actor), b.actor);
        assert_eq!(a.action, b.action);
    }
    assert!(t.steps[4].text.starts_with("tab B gets 401"), "{}", t.steps[4].text);
    // The same query in the client's word, on the model that names it.
    let named = dir.copy_model(GCX, "named.json", |v| {
        v.insert("queries".into(), serde_json::json!([
            { "name": "b-refused", "events": ["process B TabReceivesRefreshResponse status 401 text `process B gets 401`"],
              "end": "process[B].status == logged_out and tab[A].status != logged_out", "expect": "reachable" },
            { "name": "a-refused", "events": ["process A TabReceivesRefreshResponse status 401"],
              "end": "process[A].status == logged_out", "expect": "reachable" } ]));
    });
    let named = Scenario::load(&named).unwrap();
    let o = crate::util::answered(&named, "b-refused");
    assert_eq!(o.answer, refresh_check::query::Answer::Reachable);
    crate::util::answered(&named, "a-refused");
    let o = crate::util::answered(&Scenario::load(&plain).unwrap(), "b-refused");
    assert_eq!(o.answer, refresh_check::query::Answer::Reachable);
}

/// `browser.client_word` is a short lowercase word that is not another actor's: anything else
/// is refused with the file, line, field and what was expected (exit 2).
#[test]
fn a_client_word_that_is_not_a_short_lowercase_word_is_refused() {
    let src = std::fs::read_to_string(crate::util::root().join(GCX)).unwrap();
    let with = |w: &str| src.replace("\"client_word\": \"process\"", &format!("\"client_word\": {w}"));
    crate::util::refused_at(
        &src,
        &[
            (with("\"CLI\""), "\"client_word\"", "browser.client_word", "a short lowercase word"),
            (with("\"cli process\""), "\"client_word\"", "browser.client_word", "2 to 12 letters a-z"),
            (with("\"server\""), "\"client_word\"", "browser.client_word", "something else"),
            (with("\"token\""), "\"client_word\"", "browser.client_word", "something else"),
            (with("\"access\""), "\"client_word\"", "browser.client_word", "something else"),
            (with("3"), "\"client_word\"", "browser.client_word", "expected a short lowercase word"),
        ],
    );
}

/// The trace page's header counts the clients in the model's word (`2 processes`), as the
/// check's header does.
#[test]
fn the_trace_page_counts_clients_in_the_model_word() {
    let dir = crate::common::TempFiles::new();
    let trace = crate::util::root().join("traces/gcx-522-two-invocations-share-config.no_spurious_logout.json");
    let out = crate::util::cli(dir.path(), &["trace", "html", "--output", "g.html", trace.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let page = std::fs::read_to_string(dir.path().join("g.html")).unwrap();
    assert!(page.contains("2 processes, action-index path"), "{page}");
    assert!(!page.contains(" tabs, action-index path"));
}
