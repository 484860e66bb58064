//! Clients that differ (`browser.tab_settings`): the shipped models of supabase/auth-helpers
//! issue 343 and PR 347, the construct's effect on the search and on the symmetry reduction,
//! and its bad input.

use refresh_check::check::CheckOptions;
use refresh_check::scenario::Verdict;

use crate::util::{checked, pair, refused_at, root, run, scenario, status, steps, trace_of};

const MODEL: &str = "models/supabase-auth-helpers-343-ssr-refreshes-on-expiry.json";
const FIX: &str = "models/supabase-auth-helpers-pr347-no-refresh-on-the-server.json";

/// Issue 343: the render path (tab A) refreshes only once the access cookie has expired and
/// swallows the rotated token; the page (tab B) later presents cookie 1 outside the reuse
/// interval, GoTrue revokes the family and the refusal clears the cookies and logs B out.
#[test]
fn issue_343_render_path_refreshes_after_the_expiry_and_the_page_is_logged_out() {
    let (sc, m, r) = checked(MODEL);
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Violated);
    let t = trace_of(&m, &sc, &r, "no_spurious_logout");
    let s = steps(&t);
    let first = s.iter().position(|(_, a)| a.ends_with("SendsRefresh")).unwrap();
    // Nothing refreshes before the clocks pass the access token's expiry, then tab A first.
    assert!(s[..first].iter().all(|(actor, _)| actor == "clock"), "{s:?}");
    let refreshes: Vec<_> = s.iter().filter(|(_, a)| a.ends_with("SendsRefresh")).collect();
    assert_eq!(refreshes, [&pair("tab A", "TabSendsRefresh"), &pair("tab B", "TabSendsRefresh")], "{s:?}");
    let text = |i: usize| t.steps[i].text.clone();
    assert!(
        text(first).contains("a server-side render path, finds its access token expired (exp 1, browser clock 2)"),
        "{}",
        text(first)
    );
    assert!(text(first).contains("token=1"), "{}", text(first));
    // The render path's answer is swallowed: the jar keeps cookie 1.
    let a_answer = s.iter().position(|x| *x == pair("tab A", "TabReceivesRefreshResponse")).unwrap();
    assert!(text(a_answer).contains("200"), "{}", text(a_answer));
    let b_send = s.iter().position(|x| *x == pair("tab B", "TabSendsRefresh")).unwrap();
    assert!(a_answer < b_send, "{s:?}");
    assert!(text(b_send).contains("token=1"), "{}", text(b_send));
    // Time passes beyond the reuse interval between the rotation and the page's refresh.
    let ticks = s[a_answer..b_send].iter().filter(|(actor, a)| actor == "clock" && a == "ClockTicks").count();
    assert_eq!(ticks, 2, "{s:?}");
    let served = b_send + 1;
    assert!(text(served).contains("refresh cookie=1): rule `reuse` → invalid_grant"), "{}", text(served));
    assert_eq!(s.last().unwrap(), &pair("tab B", "TabReceivesRefreshResponse"));
    assert!(
        text(s.len() - 1).contains("400 invalid_grant, clears the auth cookies and is logged out"),
        "{}",
        text(s.len() - 1)
    );
    assert!(r.unique_states >= 30, "the search was not empty: {}", r.unique_states);
}

/// PR 347: the render path's own budget is no refresh; the page's refresh is the only one and
/// no tab is logged out (a search of more than a handful of states).
#[test]
fn pr_347_render_path_without_refreshes_holds() {
    let (_, _, r) = checked(FIX);
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Holds);
    assert!(r.unique_states >= 10, "the search was not empty: {}", r.unique_states);
}

/// The settings change what is searched: written as the browser's settings (every entry
/// `{}`) the file is the file without them, state for state; the render path's trigger
/// narrows the search.
#[test]
fn tab_settings_alike_change_nothing_and_a_tabs_trigger_narrows_the_search() {
    let dir = crate::common::TempFiles::new();
    let text = std::fs::read_to_string(root().join(MODEL)).unwrap();
    let (_, _, gated) = checked(MODEL);
    let own = "{\n        \"refreshes\": 1,\n        \"refresh_triggers\": [\n          \"when-access-expired\"\n        ]\n      }";
    assert!(text.contains(own));
    let opts = CheckOptions::default();
    let check_text = |name: &str, t: &str| {
        dir.write(name, t);
        run(&scenario(dir.path().join(name).to_str().unwrap(), None), &opts).1
    };
    let alike = check_text("alike.json", &text.replacen(own, "{}", 1));
    let start = text.find(",\n    \"tab_settings\"").unwrap();
    let end = text[start..].find("\n    ]").unwrap() + start + "\n    ]".len();
    let without = check_text("without.json", &format!("{}{}", &text[..start], &text[end..]));
    assert_eq!((alike.unique_states, alike.states), (without.unique_states, without.states));
    assert_ne!(gated.unique_states, alike.unique_states, "the render path's trigger gates its refresh");
}

/// Symmetry: tabs with different settings are not renamed into each other, tabs with the
/// same settings still are; the reduced and the unreduced search agree on every verdict and
/// every trace length.
#[test]
fn symmetry_renames_only_tabs_with_the_same_settings() {
    use refresh_check::model::symmetry::reduced_blocks;
    let dir = crate::common::TempFiles::new();
    let text = std::fs::read_to_string(root().join(MODEL)).unwrap();
    // Three tabs: the render path and two page tabs alike.
    let three =
        text.replacen("\"tabs\": 2", "\"tabs\": 3", 1).replacen("      {}\n    ]", "      {},\n      {}\n    ]", 1);
    dir.write("three.json", &three);
    let sc = scenario(dir.path().join("three.json").to_str().unwrap(), None);
    assert_eq!(reduced_blocks(&sc), Some(1));
    // No render path: tab A differs by its settings alone, still its own block.
    let no_ssr = three.replacen("\"ssr_paths\": 1,", "", 1);
    dir.write("no-ssr.json", &no_ssr);
    let plain = scenario(dir.path().join("no-ssr.json").to_str().unwrap(), None);
    assert_eq!(reduced_blocks(&plain), Some(1));
    // Tabs A and C alike, B different: not two blocks, no reduction.
    let split = no_ssr.replacen(
        "      {},\n      {}\n    ]",
        "      {},\n      { \"refreshes\": 1, \"refresh_triggers\": [\"when-access-expired\"] }\n    ]",
        1,
    );
    dir.write("split.json", &split);
    assert_eq!(reduced_blocks(&scenario(dir.path().join("split.json").to_str().unwrap(), None)), None);
    for sc in [sc, plain] {
        let on = run(&sc, &CheckOptions { symmetry: true, ..CheckOptions::default() }).1;
        let off = run(&sc, &CheckOptions::default()).1;
        let summary = |r: &refresh_check::check::Results| {
            r.properties.iter().map(|p| (p.name, p.status, p.steps)).collect::<Vec<_>>()
        };
        assert_eq!(summary(&on), summary(&off), "{}", sc.name);
        assert!(on.unique_states < off.unique_states, "{}: {} vs {}", sc.name, on.unique_states, off.unique_states);
    }
}

/// Bad input names the file, the line, the field and what is allowed, with exit code 2.
#[test]
fn tab_settings_bad_input_is_refused_with_the_field_and_the_line() {
    let src = std::fs::read_to_string(root().join(MODEL)).unwrap();
    let entry = "{\n        \"refreshes\": 1,";
    assert!(src.contains(entry));
    let cases = vec![
        (
            src.replacen("      },\n      {}\n    ]", "      }\n    ]", 1),
            "\"tab_settings\"",
            "browser.tab_settings",
            "one entry per tab: 2",
        ),
        (src.replacen(entry, "{\n        \"refreshes\": 5,", 1), "\"refreshes\": 5", "refreshes", "0 to 4"),
        (src.replacen(entry, "{\n        \"refreshes\": 1, \"budget\": 2,", 1), "\"budget\"", "budget", "refreshes"),
        (
            src.replacen("          \"when-access-expired\"\n", "          \"when-access-expired\", \"any-time\"\n", 1),
            "\"refresh_triggers\"",
            "browser.tab_settings[0].refresh_triggers",
            "one entry per requester: 1",
        ),
        (
            src.replacen("\"max_ticks\": 4", "\"max_ticks\": 1", 1),
            "\"refresh_triggers\"",
            "browser.tab_settings[0].refresh_triggers",
            "`time.max_ticks` (1) above `time.access_token_ttl` (1)",
        ),
    ];
    refused_at(&src, &cases);
}

/// The bounds a search ran into and the `models validate` summary quote each tab's own budget
/// (`tab_settings[1].refreshes`), not `refreshes_per_tab`; a tab whose budget is 0 stopped
/// nothing.
#[test]
fn bounds_and_the_summary_quote_the_tabs_own_budgets() {
    let dir = crate::common::TempFiles::new();
    let text = std::fs::read_to_string(root().join(FIX)).unwrap();
    let own = text.replacen("      {}\n    ]", "      { \"refreshes\": 2 }\n    ]", 1);
    assert_ne!(own, text);
    let file = dir.write("own.json", &own);
    let out = crate::util::cli(dir.path(), &["models", "validate", file.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("2 tabs, refreshes by tab (A 0, B 2) and 0 requests per tab"), "{stdout}");
    let out = crate::util::cli(dir.path(), &["check", file.to_str().unwrap(), "--format", "json", "--no-traces"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let model = &report;
    assert!(model["unique_states"].as_u64().unwrap() > 10, "{model}");
    let hits: Vec<(String, u64)> = model["bounds_hit"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["field"].as_str().unwrap().contains("refreshes"))
        .map(|b| (b["field"].as_str().unwrap().to_string(), b["value"].as_u64().unwrap()))
        .collect();
    assert_eq!(hits, [("browser.tab_settings[1].refreshes".to_string(), 2)]);
    // The same file with every budget alike says so as before.
    let alike = dir.write("alike.json", text.replacen("{\n        \"refreshes\": 0\n      }", "{}", 1));
    let out = crate::util::cli(dir.path(), &["models", "validate", alike.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("2 tabs, 1 refresh and 0 requests per tab"), "{stdout}");
}

/// One resolver: each tab's budget and triggers, from its entry or inherited, as the model
/// and the symmetry reduction read them.
#[test]
fn each_tab_is_resolved_once_from_its_entry_or_the_browser() {
    use refresh_check::model::browser::tab_settings::resolve;
    use refresh_check::model::policy::RefreshTrigger::{AnyTime, WhenAccessExpired};
    let sc = scenario(MODEL, None);
    let r = resolve(&sc.browser);
    assert_eq!(r.len(), 2);
    assert_eq!((r[0].refreshes, r[0].triggers.as_slice(), r[0].own_refreshes), (1, &[WhenAccessExpired][..], true));
    assert_eq!((r[1].refreshes, r[1].triggers.as_slice(), r[1].own_refreshes), (1, &[AnyTime][..], false));
    assert_eq!(r[0].refreshes_field(0), "browser.tab_settings[0].refreshes");
    assert_eq!(r[1].refreshes_field(1), "browser.refreshes_per_tab");
    let m = refresh_check::model::build(&sc);
    let cfg = m
        .actors
        .iter()
        .find_map(|a| match a {
            refresh_check::model::Node::Browser { cfg, .. } => Some(cfg),
            _ => None,
        })
        .unwrap();
    assert_eq!((cfg.refreshes_of(0), cfg.trigger(0, 0), cfg.trigger(1, 0)), (1, WhenAccessExpired, AnyTime));
}
