//! Fuzzing the model-file and trace-file loaders with generated input (proptest), and every
//! valid model file they accept through a bounded search whose counterexamples must replay.
//!
//! What must hold for any input text:
//! - the model-file loader returns a model or an error naming the file, never panics; a model
//!   it returns has every field in range, builds, searches without panicking, and every path
//!   the search reports rebuilds into a trace that `trace validate` accepts;
//! - the trace-file loader returns a trace or an error naming the file; `trace validate` on any
//!   trace it returns gives a verdict without panicking, and accepts a mutated trace only if
//!   its steps are still those the path replays to.
//!
//! The suite runs a few hundred cases per target in `cargo test`. A long campaign runs outside
//! the suite: `FUZZ_SECONDS=600 cargo test --test integration fuzz::campaign -- --ignored
//! --nocapture` (its last run and findings are in `docs/robustness.md`). Every input that ever
//! broke a loader is kept as a named regression test in `tests/robustness.rs`.
//!
//! A hang or a runaway allocation is not a panic that proptest can catch: run the campaign
//! under `ulimit -v` and with `FUZZ_LOG=FILE`, which holds the input being tried, so the
//! input that was running when the process died is kept.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use refresh_check::check::{self, CheckOptions};
use refresh_check::properties::{self, Kind};
use refresh_check::scenario::{self, Scenario};
use refresh_check::search::Strategy as Order;
use refresh_check::trace::{self, Trace};
use serde_json::{json, Map, Value};

use crate::util::root;

/// Any JSON value, nested up to 4 levels, with the strings and numbers model files use.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        (-3i64..300).prop_map(|n| json!(n)),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| json!(f)),
        prop_oneof![
            Just("rotate"),
            Just("stable-id"),
            Just("split"),
            Just("atomic"),
            Just("ordered"),
            Just("holds"),
            Just("violated"),
            Just("reached"),
            Just("unknown"),
            Just("refresh-check/trace/v1"),
            Just(""),
            Just("../x"),
        ]
        .prop_map(|s| json!(s)),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,12}", inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// One edit of a JSON document.
#[derive(Clone, Debug)]
enum Edit {
    /// Replace the value at the `n`-th node (pre-order) with a value.
    Replace(usize, Value),
    /// Remove the `n`-th node from its object or array.
    Remove(usize),
    /// Add a key to the `n`-th node, if it is an object.
    Insert(usize, String, Value),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), any_json()).prop_map(|(n, v)| Edit::Replace(n, v)),
        any::<usize>().prop_map(Edit::Remove),
        (any::<usize>(), "[a-z_]{1,10}", any_json()).prop_map(|(n, k, v)| Edit::Insert(n, k, v)),
    ]
}

fn count(v: &Value) -> usize {
    1 + match v {
        Value::Array(a) => a.iter().map(count).sum(),
        Value::Object(o) => o.values().map(count).sum(),
        _ => 0,
    }
}

/// Applies `e` to the node numbered `*n` (pre-order, counting down).
fn apply(v: &mut Value, e: &Edit, n: &mut usize) -> bool {
    if *n == 0 {
        match e {
            Edit::Replace(_, new) => *v = new.clone(),
            Edit::Insert(_, k, new) => {
                if let Value::Object(o) = v {
                    o.insert(k.clone(), new.clone());
                }
            }
            Edit::Remove(_) => return false, // removed by the parent
        }
        return true;
    }
    *n -= 1;
    match v {
        Value::Array(a) => {
            for i in 0..a.len() {
                if *n == 0 && matches!(e, Edit::Remove(_)) {
                    a.remove(i);
                    return true;
                }
                if apply(&mut a[i], e, n) {
                    return true;
                }
            }
        }
        Value::Object(o) => {
            let keys: Vec<String> = o.keys().cloned().collect();
            for k in keys {
                if *n == 0 && matches!(e, Edit::Remove(_)) {
                    o.remove(&k);
                    return true;
                }
                if apply(o.get_mut(&k).unwrap(), e, n) {
                    return true;
                }
            }
        }
        _ => {}
    }
    false
}

fn mutate(base: &Value, edits: &[Edit]) -> Value {
    let mut v = base.clone();
    for e in edits {
        let at = match e {
            Edit::Replace(n, _) | Edit::Remove(n) | Edit::Insert(n, _, _) => *n,
        };
        let mut n = at % count(&v);
        apply(&mut v, e, &mut n);
    }
    v
}

/// One edit of a text: bytes cut, inserted or replaced (the text stays UTF-8: files that are
/// not are refused when read, before parsing).
#[derive(Clone, Debug)]
enum TextEdit {
    Truncate(usize),
    Insert(usize, String),
    Delete(usize, usize),
}

fn text_edit() -> impl Strategy<Value = TextEdit> {
    prop_oneof![
        any::<usize>().prop_map(TextEdit::Truncate),
        (
            any::<usize>(),
            prop_oneof![Just("{".to_string()), Just("\"".to_string()), Just(",".to_string()), ".{0,4}".prop_map(|s| s)]
        )
            .prop_map(|(i, s)| TextEdit::Insert(i, s)),
        (any::<usize>(), 0usize..8).prop_map(|(i, n)| TextEdit::Delete(i, n)),
    ]
}

fn edit_text(text: &str, e: &TextEdit) -> String {
    let mut s = text.to_string();
    let at = |i: usize, s: &str| {
        let mut i = i % (s.len() + 1);
        while !s.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    match e {
        TextEdit::Truncate(i) => s.truncate(at(*i, &s)),
        TextEdit::Insert(i, t) => s.insert_str(at(*i, &s), t),
        TextEdit::Delete(i, n) => {
            let a = at(*i, &s);
            let b = at(a + n, &s).max(a);
            s.replace_range(a..b, "");
        }
    }
    s
}

/// A model file with every field drawn from a range a little wider than the valid one, so that
/// most files are valid and reach the model, and the rest hit each range check.
fn model_file() -> impl Strategy<Value = Value> {
    let server = (
        prop_oneof![Just("rotate"), Just("stable-id"), Just("grace-window")],
        prop_oneof![Just("split"), Just("atomic")],
        any::<bool>(),
        any::<bool>(),
        prop_oneof![Just("pool"), Just("one-connection")],
    );
    let browser = (
        (0u8..=7, 0u8..=5, 0u8..=5, 0u8..=3),
        prop_oneof![Just("session"), Just("cookie"), Just("json")],
        prop_oneof![Just("per-tab"), Just("shared")],
        prop_oneof![Just("none"), Just("web-locks"), Just("local-storage"), Just("broadcast-leader")],
        any::<bool>(),
    );
    let time = (0u8..=4, 0u8..=9, 0u8..=9, prop::option::of(0u8..=9), (0u8..=3, 0u8..=3, 0u8..=3));
    let network = prop_oneof![Just("unordered_nonduplicating"), Just("ordered"), Just("unordered_duplicating")];
    let attacker = prop::option::of((
        0u8..=4,
        prop::collection::vec(prop_oneof![Just("session"), Just("cookie"), Just("json")], 0..3),
    ));
    let expect = prop::collection::btree_map(
        prop_oneof![
            Just("no_spurious_logout"),
            Just("cookie_names_live_session"),
            Just("refresh_succeeds"),
            Just("concurrent_refreshes"),
            Just("attacker_redeems"),
        ],
        prop_oneof![Just("holds"), Just("violated"), Just("reached"), Just("unreached")],
        0..3,
    );
    (server, browser, time, (network, any::<bool>(), attacker), expect).prop_map(
        |(
            (refresh, steps, check, mode_bound, store),
            ((tabs, refreshes, requests, sign_outs), mode, storage, coordination, fresh),
            (ticks, rttl, cttl, life, (attl, grace, margin)),
            (network, lossy, attacker),
            expect,
        )| {
            let mut time = json!({"max_ticks": ticks, "refresh_token_ttl": rttl, "session_cookie_ttl": cttl,
                "access_token_ttl": attl, "session_refresh_grace_period": grace, "refresh_margin": margin});
            if let Some(l) = life {
                time["session_lifetime"] = json!(l);
            }
            let mut v = json!({
                "name": "fuzz", "description": "generated", "sources": ["generated"],
                "server": {"session_refresh": refresh, "steps": steps, "per_request_check": check,
                    "mode_bound": mode_bound, "store": store},
                "browser": {"tabs": tabs, "refreshes_per_tab": refreshes, "requests_per_tab": requests,
                    "sign_outs": sign_outs, "mode": mode, "json_storage": storage,
                    "coordination": coordination, "freshness_check": fresh},
                "time": time, "network": network, "lossy": lossy, "expect": expect,
            });
            if let Some((attempts, modes)) = attacker {
                v["attacker"] = json!({"attempts": attempts, "modes": modes});
            }
            v
        },
    )
}

/// Every shipped model file as JSON, in path order: the seeds of the mutations.
fn seed_models() -> &'static [Value] {
    static V: OnceLock<Vec<Value>> = OnceLock::new();
    V.get_or_init(|| {
        let mut files: Vec<_> = std::fs::read_dir(root().join("models")).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        files.iter().map(|f| serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap()).collect()
    })
}

/// Every shipped trace file, parsed and as JSON, in path order: the seeds of the mutations.
fn seed_traces() -> &'static [(Trace, Value)] {
    static T: OnceLock<Vec<(Trace, Value)>> = OnceLock::new();
    T.get_or_init(|| {
        crate::util::json_files("traces")
            .iter()
            .map(|f| {
                let text = std::fs::read_to_string(f).unwrap();
                let t = trace::parse(f, &text).unwrap_or_else(|e| panic!("{e}"));
                (t, serde_json::from_str(&text).unwrap())
            })
            .collect()
    })
}

/// Model files that were valid and searched, for the campaign's summary.
static SEARCHED: AtomicU64 = AtomicU64::new(0);
/// Trace files that parsed, for the campaign's summary.
static PARSED: AtomicU64 = AtomicU64::new(0);

/// The model-file target: any text.
pub fn check_model_text(text: &str) -> Result<(), TestCaseError> {
    if let Ok(f) = std::env::var("FUZZ_LOG") {
        std::fs::write(f, text).unwrap();
    }
    let path = Path::new("fuzz.json");
    let sc = match Scenario::parse(path, text) {
        Ok(sc) => sc,
        Err(e) => {
            let msg = e.to_string();
            prop_assert!(msg.starts_with("fuzz.json"), "error does not name the file: {msg}");
            return Ok(());
        }
    };
    SEARCHED.fetch_add(1, Ordering::Relaxed);
    prop_assert!((1..=scenario::MAX_TABS).contains(&sc.browser.tabs));
    prop_assert!(sc.browser.refreshes_per_tab <= scenario::MAX_PER_TAB);
    prop_assert!(sc.browser.requests_per_tab <= scenario::MAX_PER_TAB);
    prop_assert!(sc.time.max_ticks <= scenario::MAX_TICKS);
    prop_assert!(sc.time.refresh_token_ttl.is_none_or(|t| t >= 1) && sc.time.session_cookie_ttl.is_none_or(|t| t >= 1));
    // A valid model builds, searches and reports paths that replay.
    for strategy in [Order::Bfs, Order::Dfs] {
        let opts = CheckOptions { strategy, max_states: Some(1500), ..CheckOptions::default() };
        let (model, r) = check::check(&sc, &opts);
        prop_assert!(r.unique_states >= 1);
        for p in &r.properties {
            let Some(path) = &p.path else { continue };
            let spec = properties::by_name(p.name).unwrap();
            let t = trace::build(&model, &sc.path, &sc.name, sc.browser.tabs, spec, path);
            prop_assert!(t.is_ok(), "{}: a reported path does not rebuild: {:?}", p.name, t.err());
            let t = t.unwrap();
            prop_assert_eq!(trace::validate(&model, &t), Ok(()));
            prop_assert_eq!(t.kind == Kind::Always, p.kind == Kind::Always);
        }
    }
    Ok(())
}

/// The trace-file target: any text (a mutation of `original`, or anything), validated against
/// its model when it parses.
pub fn check_trace_text(text: &str, original: &Trace) -> Result<(), TestCaseError> {
    if let Ok(f) = std::env::var("FUZZ_LOG") {
        std::fs::write(f, text).unwrap();
    }
    let path = Path::new("fuzz-trace.json");
    let t = match trace::parse(path, text) {
        Ok(t) => t,
        Err(e) => {
            let msg = e.to_string();
            prop_assert!(msg.starts_with("fuzz-trace.json"), "error does not name the file: {msg}");
            return Ok(());
        }
    };
    PARSED.fetch_add(1, Ordering::Relaxed);
    let Ok(sc) = Scenario::load(&t.model_file).and_then(|s| s.with_tabs(t.parameters.tabs)) else { return Ok(()) };
    let model = refresh_check::model::build(&sc);
    if trace::validate(&model, &t).is_ok() && t.parameters == original.parameters {
        // Accepted: then it is the trace the path replays to.
        prop_assert_eq!(&t.steps, &original.steps, "a mutated trace was accepted");
        prop_assert_eq!(&t.initial, &original.initial);
    }
    Ok(())
}

fn model_texts() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => model_file().prop_map(|v| v.to_string()),
        2 => (0..seed_models().len(), prop::collection::vec(edit(), 1..4))
            .prop_map(|(i, e)| mutate(&seed_models()[i], &e).to_string()),
        1 => (model_file(), prop::collection::vec(text_edit(), 1..3)).prop_map(|(v, e)| {
            e.iter().fold(serde_json::to_string_pretty(&v).unwrap(), |t, e| edit_text(&t, e))
        }),
        1 => any_json().prop_map(|v| v.to_string()),
        1 => ".{0,40}",
    ]
}

/// A trace text and the seed trace it was made from (the first seed for texts made from
/// nothing).
fn trace_texts() -> impl Strategy<Value = (String, usize)> {
    let n = seed_traces().len();
    prop_oneof![
        4 => (0..n, prop::collection::vec(edit(), 1..3)).prop_map(|(i, e)| (mutate(&seed_traces()[i].1, &e).to_string(), i)),
        1 => (0..n, prop::collection::vec(text_edit(), 1..3))
            .prop_map(|(i, e)| (e.iter().fold(seed_traces()[i].1.to_string(), |t, e| edit_text(&t, e)), i)),
        1 => any_json().prop_map(|v| (v.to_string(), 0)),
    ]
}

fn config(cases: u32) -> Config {
    Config { cases, failure_persistence: None, ..Config::default() }
}

#[test]
fn model_file_loader_never_panics_and_valid_models_check_and_replay() {
    TestRunner::new(config(200)).run(&model_texts(), |t| check_model_text(&t)).unwrap();
}

#[test]
fn trace_file_loader_never_panics_and_accepts_only_what_replays() {
    TestRunner::new(config(300)).run(&trace_texts(), |(t, i)| check_trace_text(&t, &seed_traces()[i].0)).unwrap();
}

/// The long campaign: both targets, alternately, with fresh seeds, for `FUZZ_SECONDS`
/// (default 600). Prints the cases run and stops at the first failure with its input.
#[test]
#[ignore = "a long fuzzing campaign; run with --ignored"]
fn campaign() {
    let secs: u64 = std::env::var("FUZZ_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(600);
    let seed: u64 = std::env::var("FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(1);
    let start = Instant::now();
    let (mut models, mut traces, mut round) = (0u64, 0u64, 0u64);
    while start.elapsed() < Duration::from_secs(secs) {
        let mut bytes = [0u8; 32];
        bytes[..8].copy_from_slice(&(seed.wrapping_mul(1_000_003) + round).to_le_bytes());
        let rng = || TestRng::from_seed(RngAlgorithm::ChaCha, &bytes);
        TestRunner::new_with_rng(config(500), rng()).run(&model_texts(), |t| check_model_text(&t)).unwrap();
        TestRunner::new_with_rng(config(500), rng())
            .run(&trace_texts(), |(t, i)| check_trace_text(&t, &seed_traces()[i].0))
            .unwrap();
        models += 500;
        traces += 500;
        round += 1;
        if round % 10 == 0 {
            eprintln!("fuzz: {:.0} s, {models} model files, {traces} trace files", start.elapsed().as_secs_f64());
        }
    }
    eprintln!(
        "fuzz campaign: {:.0} s, seed {seed}, {round} rounds, {models} model files ({} valid and searched) and {traces} trace files ({} parsed and validated), no failure",
        start.elapsed().as_secs_f64(),
        SEARCHED.load(Ordering::Relaxed),
        PARSED.load(Ordering::Relaxed)
    );
}
