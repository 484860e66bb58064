//! A cache in front of a session table (`session_server.cache`): read-through fills, deletes
//! and tombstones, each its own round trip. Keycloak issue 51127 (a refresh that missed the
//! cache imports, after the logout's cache delete, the row it loaded before the logout's
//! database delete) and the tombstones of Keycloak PR 53045; Django `cached_db`'s order (the
//! row deleted, then the cache entry) with and without a cache TTL; refusals of ill-formed
//! cache sections and operations.

use refresh_check::check::CheckOptions;
use refresh_check::scenario::Verdict;
use refresh_check::trace;
use serde_json::{json, Value};

use crate::util::{checked, cli, find_step, run, scenario, status, trace_of};

const RACE: &str = "models/keycloak-51127-cache-miss-resurrects-session.json";
const FIX: &str = "models/keycloak-pr53045-tombstone.json";

/// The report's interleaving: B's logout removes the cache entry; A's refresh misses the
/// cache, loads the row (not yet deleted) and imports it with putIfAbsent into the free key:
/// `logout_revokes_all` fires at that import, before B's row delete. Once B's delete has run
/// and the logout is answered, A's next refresh is a cache hit and is answered 200.
#[test]
fn keycloak_51127_a_cache_miss_imports_the_session_the_logout_is_deleting() {
    let (sc, m, r) = checked(RACE);
    assert!(r.exhaustive);
    assert!(r.unique_states > 100, "{}", r.unique_states);
    assert_eq!(status(&r, "no_spurious_logout"), Verdict::Holds);

    assert_eq!(status(&r, "logout_revokes_all"), Verdict::Violated);
    let t = trace_of(&m, &sc, &r, "logout_revokes_all");
    let text = trace::render_text(&t);
    let b_cache_del = find_step(&t, "store", "CacheRunsLogoutDelete", "cache DELETE key=1 for tab B");
    let a_get = find_step(&t, "store", "CacheRunsGet", "cache GET key=1 (live at 0) for tab A");
    let a_miss = find_step(&t, "server", "ServerReceivesResult", "cache miss for tab A");
    let a_load = find_step(&t, "store", "StoreRunsR1", "SELECT … WHERE token=1 AND expires>=0 for tab A");
    let a_add =
        find_step(&t, "store", "CacheRunsAdd", "cache ADD key=1 (only if the key is free: putIfAbsent) for tab A");
    assert!(b_cache_del < a_get && a_get < a_miss && a_miss < a_load && a_load < a_add, "{text}");
    assert_eq!(a_add + 1, t.steps.len(), "it fires at the import: {text}");
    assert!(!t.steps.iter().any(|s| s.action == "StoreRunsLogoutDelete"), "before the row delete: {text}");
    assert_eq!(t.steps.len(), 10, "{text}");

    assert_eq!(status(&r, "sign_out_no_session_revived"), Verdict::Violated);
    let t = trace_of(&m, &sc, &r, "sign_out_no_session_revived");
    let text = trace::render_text(&t);
    let b_cache_del = find_step(&t, "store", "CacheRunsLogoutDelete", "for tab B");
    let a_load = find_step(&t, "store", "StoreRunsR1", "for tab A");
    let a_add = find_step(&t, "store", "CacheRunsAdd", "for tab A");
    let b_row_del = find_step(&t, "store", "StoreRunsLogoutDelete", "DELETE WHERE token=1 for tab B");
    let b_answered = b_row_del
        + t.steps[b_row_del..]
            .iter()
            .position(|s| s.action == "ServerReceivesResult" && s.text.contains("for tab B"))
            .unwrap();
    let later = t.steps.iter().rposition(|s| s.action == "ServerReceivesRefresh").unwrap();
    let hit = find_step(&t, "server", "ServerReceivesResult", "cache hit: session 1 for tab A");
    // A cache operation's result is the cache's, not rows: the import is an added entry, the
    // row delete's result is rows.
    assert_eq!(t.steps[a_add + 1].text, "server gets cache OK: entry added for tab A", "{text}");
    assert_eq!(t.steps[b_answered].text, "server gets 1 row(s) affected for tab B", "{text}");
    assert!(b_cache_del < a_load && a_load < a_add && a_add < b_row_del, "{text}");
    assert!(b_row_del < b_answered && b_answered <= later && later < hit, "{text}");
    assert_eq!(hit + 1, t.steps.len(), "the hit is answered 200 after the logout: {text}");
    assert_eq!(t.steps.len(), 19, "{text}");
}

/// PR 53045: the logout's tombstone takes the key, so the late import fails and later
/// lookups miss the cache and find no row. Both properties hold on a non-empty search.
#[test]
fn keycloak_pr53045_tombstone_keeps_the_logged_out_session_out_of_the_cache() {
    let (_, _, r) = checked(FIX);
    assert!(r.exhaustive);
    assert!(r.unique_states > 100, "{}", r.unique_states);
    for p in ["logout_revokes_all", "sign_out_no_session_revived", "no_spurious_logout"] {
        assert_eq!(status(&r, p), Verdict::Holds, "{p}");
    }
    assert_eq!(status(&r, "sign_out_completes"), Verdict::Reached);
    assert_eq!(status(&r, "refresh_succeeds"), Verdict::Reached);
}

/// The fix model with its tombstone turned back into a delete is the race again: the verdict
/// rests on the tombstone.
#[test]
fn the_tombstone_is_what_the_fix_rests_on() {
    let files = crate::common::TempFiles::new();
    let path = files.copy_model(FIX, "untombstoned.json", |m| {
        let rule = &mut m["session_server"]["sign_out"]["steps"][0]["rules"][1];
        rule["run"] = json!("cache delete presented");
        m.remove("expect");
    });
    let sc = scenario(path.to_str().unwrap(), None);
    let (_, r) = run(&sc, &CheckOptions::default());
    assert_eq!(status(&r, "logout_revokes_all"), Verdict::Violated);
    assert_eq!(status(&r, "sign_out_no_session_revived"), Verdict::Violated);
}

/// Django `cached_db`: `load` fills with `cache.set`, and `delete` deletes the row, then the
/// cache entry. With a warm cache that never expires a request cannot miss before the cache
/// delete, which comes after the row delete: nothing is revived. With a cache TTL shorter than
/// the session (`cache.ttl`: 1 tick, the clock running to 2), the entry expires, a request
/// misses and loads the row before the delete, and its `cache.set` lands after both deletes.
#[test]
fn django_order_revives_only_once_the_cache_entry_has_expired() {
    let files = crate::common::TempFiles::new();
    let django = |ttl: Option<u8>, ticks: u8, name: &str| {
        files.copy_model(RACE, name, |m| {
            let ss = &mut m["session_server"];
            ss["cache"] = match ttl {
                Some(t) => json!({ "ttl": t }),
                None => json!({}),
            };
            for h in ["refresh", "request"] {
                ss[h]["steps"][2]["rules"][1]["run"] = json!("cache set presented");
            }
            let so = &mut ss["sign_out"]["steps"];
            so[0]["rules"][1]["run"] = json!("delete presented");
            so[1]["rules"][0]["run"] = json!("cache delete presented");
            m["time"]["max_ticks"] = json!(ticks);
            m.remove("expect");
        })
    };
    let warm = django(None, 0, "django-warm.json");
    let sc = scenario(warm.to_str().unwrap(), None);
    let (_, r) = run(&sc, &CheckOptions::default());
    assert!(r.exhaustive && r.unique_states > 50, "{}", r.unique_states);
    assert_eq!(status(&r, "logout_revokes_all"), Verdict::Holds);
    assert_eq!(status(&r, "sign_out_no_session_revived"), Verdict::Holds);

    let expiring = django(Some(1), 2, "django-ttl.json");
    let sc = scenario(expiring.to_str().unwrap(), None);
    let (m, r) = run(&sc, &CheckOptions::default());
    assert_eq!(status(&r, "logout_revokes_all"), Verdict::Violated);
    let t = trace_of(&m, &sc, &r, "logout_revokes_all");
    let text = trace::render_text(&t);
    let tick = t.steps.iter().rposition(|s| s.action == "ClockTicks").unwrap();
    let a_miss = find_step(&t, "server", "ServerReceivesResult", "cache miss for tab A");
    let a_load = find_step(&t, "store", "StoreRunsR1", "for tab A");
    let b_row_del = find_step(&t, "store", "StoreRunsLogoutDelete", "for tab B");
    let b_cache_del = find_step(&t, "store", "CacheRunsLogoutDelete", "for tab B");
    let a_set = find_step(&t, "store", "CacheRunsSet", "cache SET key=1 until");
    assert!(tick < a_miss && a_load < b_row_del && b_row_del < b_cache_del && b_cache_del < a_set, "{text}");
    assert_eq!(a_set + 1, t.steps.len(), "{text}");
}

fn refused(edit: impl FnOnce(&mut serde_json::Map<String, Value>)) -> String {
    let files = crate::common::TempFiles::new();
    let path = files.copy_model(RACE, "bad.json", edit);
    let out = cli(files.path(), &["models", "validate", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_cache_operation_without_a_cache_section_is_refused_with_its_place() {
    let err = refused(|m| {
        m["session_server"].as_object_mut().unwrap().remove("cache");
    });
    assert!(err.contains("bad.json:"), "{err}");
    assert!(err.contains("field `session_server.refresh.steps[0].rules[1].run`"), "{err}");
    assert!(err.contains("`cache get` needs a cache in front of the table"), "{err}");
    assert!(err.contains("expected a `cache` section in `session_server`"), "{err}");
}

#[test]
fn ill_formed_cache_operations_and_sections_are_refused() {
    let err = refused(|m| {
        m["session_server"]["refresh"]["steps"][0]["rules"][1]["run"] = json!("cache get presented expires now + 1");
    });
    assert!(err.contains("field `session_server.refresh.steps[0].rules[1].run`"), "{err}");
    assert!(err.contains("`cache get` takes no `expires`"), "{err}");

    let err = refused(|m| {
        m["session_server"]["refresh"]["steps"][0]["rules"][1]["run"] = json!("cache gett presented");
    });
    assert!(err.contains("unknown cache operation `gett`") && err.contains("did you mean `get`?"), "{err}");

    let err = refused(|m| {
        m["session_server"]["store"] = json!({ "concurrency": "one-connection" });
    });
    assert!(err.contains("field `session_server.cache`"), "{err}");
    assert!(err.contains("a cache with the default pool"), "{err}");

    // A cache inside the database's transaction would make the cache delete and the row
    // delete one step: the Keycloak 51127 race was answered `holds`.
    let err = refused(|m| {
        m["session_server"]["store"] = json!({ "concurrency": "pool", "transactions": "handler" });
    });
    assert!(err.contains("field `session_server.cache`"), "{err}");
    assert!(err.contains("a cache with statements that are their own transactions"), "{err}");

    let err = refused(|m| {
        m["session_server"]["cache"] = json!({ "tll": 2 });
    });
    assert!(err.contains("session_server.cache") && err.contains("unknown field `tll`"), "{err}");

    let err = refused(|m| {
        m["session_server"]["refresh"]["steps"][1]["rules"][0]["when"] = json!("cached == 1");
    });
    assert!(err.contains("field `session_server.refresh.steps[1].rules[0].when`"), "{err}");
}
