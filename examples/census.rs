//! Where a protocol model's states come from: a breadth-first search over a Directus model
//! file (symmetry-reduced, dead values reset unless `NO_DEAD` is set in the environment), of at
//! most MAX_STATES states, then, for each field of the state, how many distinct states remain
//! when that field is blanked (and the ratio: how many states that field alone tells apart).
//! `cargo run --release --example census -- FILE TABS MAX_STATES`. Holds every state in
//! memory (about 1 KB each). See the README's "Dead-value reduction".

use std::collections::{HashSet, VecDeque};
use std::hash::{BuildHasher, Hash};

use refresh_check::model::{self, NodeState, State};
use refresh_check::scenario::Scenario;
use stateright::Model;

fn fp<T: Hash>(t: &T) -> u64 {
    foldhash::fast::FixedState::with_seed(7).hash_one(t)
}

type Blank = (&'static str, fn(&mut State));

fn browser(s: &mut State, f: impl Fn(&mut model::browser::BrowserState)) {
    if let NodeState::Browser(b) = std::sync::Arc::make_mut(&mut s.actor_states[0]) {
        f(&mut *b);
    }
}
fn server(s: &mut State, f: impl Fn(&mut model::ServerState)) {
    if let NodeState::Server(b) = std::sync::Arc::make_mut(&mut s.actor_states[1]) {
        f(&mut *b);
    }
}
fn store(s: &mut State, f: impl Fn(&mut model::store::StoreState)) {
    if let NodeState::Store(b) = std::sync::Arc::make_mut(&mut s.actor_states[2]) {
        f(&mut *b);
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mut sc = Scenario::load(std::path::Path::new(&args[1])).unwrap();
    sc.browser.tabs = args[2].parse().unwrap();
    let max: usize = args[3].parse().unwrap();
    let m = model::build(&sc);
    let dead = std::env::var("NO_DEAD").is_err();
    let rep = model::dead::reduction(&sc, true, dead);
    let canon = |s: State| match rep {
        Some(f) => f(s),
        None => s,
    };
    let mut seen = HashSet::new();
    let mut states = Vec::new();
    let mut q = VecDeque::new();
    let mut depth_counts = vec![];
    for s in m.init_states() {
        let s = canon(s);
        if seen.insert(fp(&s)) {
            q.push_back((s.clone(), 0usize));
            states.push(s);
        }
    }
    let mut acts = Vec::new();
    while let Some((s, d)) = q.pop_front() {
        if states.len() >= max {
            break;
        }
        m.actions(&s, &mut acts);
        for a in acts.drain(..) {
            let Some(n) = m.next_state(&s, a) else { continue };
            if !Model::within_boundary(&m, &n) {
                continue;
            }
            let n = canon(n);
            if seen.insert(fp(&n)) {
                if depth_counts.len() <= d + 1 {
                    depth_counts.resize(d + 2, 0);
                }
                depth_counts[d + 1] += 1;
                q.push_back((n.clone(), d + 1));
                states.push(n);
            }
        }
    }
    println!("states {} (frontier left {}), per depth {:?}", states.len(), q.len(), depth_counts);
    let blanks: Vec<Blank> = vec![
        ("network", |s| s.network = refresh_check::model::system::Net::new(s.network.kind())),
        ("timers", |s| s.timers = Default::default()),
        ("history", |s| s.history = Default::default()),
        ("browser (all)", |s| browser(s, |b| *b = b.clone_blank())),
        ("browser.tabs[*].status", |s| {
            browser(s, |b| b.tabs.iter_mut().for_each(|t| t.status = model::browser::TabStatus::Idle))
        }),
        ("browser.tabs[*].refreshes_left", |s| browser(s, |b| b.tabs.iter_mut().for_each(|t| t.refreshes_left = 0))),
        ("browser.tabs[*].requests_left", |s| browser(s, |b| b.tabs.iter_mut().for_each(|t| t.requests_left = 0))),
        ("browser.tabs[*].expiry", |s| browser(s, |b| b.tabs.iter_mut().for_each(|t| t.expiry = None))),
        ("browser.tabs[*].token", |s| browser(s, |b| b.tabs.iter_mut().for_each(|t| t.token = None))),
        ("browser.jar", |s| browser(s, |b| b.jar = Default::default())),
        ("browser.now", |s| browser(s, |b| b.now = 0)),
        ("browser.truth", |s| {
            browser(s, |b| b.truth = model::browser::GroundTruth { signed_in: true, signed_out: false })
        }),
        ("browser.refreshed_ok", |s| browser(s, |b| b.refreshed_ok = false)),
        ("browser.held", |s| browser(s, |b| b.held = Default::default())),
        ("server (all)", |s| {
            server(s, |x| {
                x.now = 0;
                x.next_fresh = 0;
                x.handlers.clear();
                x.next_seq = 0;
                x.orphan_cookies = 0;
                x.ghost = Default::default();
            })
        }),
        ("server.now", |s| server(s, |x| x.now = 0)),
        ("server.next_fresh", |s| server(s, |x| x.next_fresh = 0)),
        ("server.handlers", |s| server(s, |x| x.handlers.clear())),
        ("server.handlers[*].ghost (row_kind, after_sign_out, checked_at, theft_mark)", |s| {
            server(s, |x| {
                x.handlers.iter_mut().for_each(|h| {
                    h.row_kind = None;
                    h.after_sign_out = false;
                    h.checked_at = 0;
                    h.theft_mark = None;
                })
            })
        }),
        ("server.handlers[*].checked_at", |s| server(s, |x| x.handlers.iter_mut().for_each(|h| h.checked_at = 0))),
        ("server.handlers[*].stage.issued", |s| {
            server(s, |x| {
                x.handlers.iter_mut().for_each(|h| {
                    if let model::server::Stage::Step { issued, .. } = &mut h.stage {
                        *issued = 0
                    }
                })
            })
        }),
        ("server.handlers[*].stage.orphan", |s| {
            server(s, |x| {
                x.handlers.iter_mut().for_each(|h| {
                    if let model::server::Stage::Step { orphan, .. } = &mut h.stage {
                        *orphan = false
                    }
                })
            })
        }),
        ("server.handlers[*].row_kind", |s| server(s, |x| x.handlers.iter_mut().for_each(|h| h.row_kind = None))),
        ("server.handlers[*].cred", |s| {
            server(s, |x| {
                x.handlers.iter_mut().for_each(|h| {
                    h.cred.cookie = None;
                    h.cred.token = None;
                    h.cred.access = None;
                })
            })
        }),
        ("server.handlers[*].fresh", |s| server(s, |x| x.handlers.iter_mut().for_each(|h| h.fresh = 0))),
        ("server.orphan_cookies", |s| server(s, |x| x.orphan_cookies = 0)),
        ("server.orphan_cookies clamped to 1", |s| server(s, |x| x.orphan_cookies = x.orphan_cookies.min(1))),
        ("server.ghost", |s| server(s, |x| x.ghost = Default::default())),
        ("server.ghost.superseded", |s| server(s, |x| x.ghost.superseded.clear())),
        ("server.ghost.accepted", |s| server(s, |x| x.ghost.accepted.clear())),
        ("server.ghost.accepted+superseded", |s| {
            server(s, |x| {
                x.ghost.accepted.clear();
                x.ghost.superseded.clear()
            })
        }),
        ("server.ghost counters", |s| {
            server(s, |x| {
                x.ghost.cross_mode = 0;
                x.ghost.signed_out = false;
                x.ghost.ok_after_sign_out = 0;
                x.ghost.theft_mark = None;
                x.ghost.theft_shared = 0;
            })
        }),
        ("store (all)", |s| {
            store(s, |x| {
                x.rows.clear();
                x.next_seq = 0;
                x.ghost = Default::default();
            })
        }),
        ("store.rows", |s| store(s, |x| x.rows.clear())),
        ("store.rows[*].expires", |s| store(s, |x| x.rows.iter_mut().for_each(|r| r.expires = 0))),
        ("store.rows[*].expires clamped to 1", |s| {
            store(s, |x| x.rows.iter_mut().for_each(|r| r.expires = r.expires.min(1)))
        }),
        ("orphan rule", |s| {
            server(s, |x| {
                x.orphan_cookies = x.orphan_cookies.min(1);
                if x.orphan_cookies > 0 {
                    x.handlers.iter_mut().for_each(|h| {
                        if let model::server::Stage::Step { orphan, .. } = &mut h.stage {
                            *orphan = false
                        }
                    })
                }
            })
        }),
        ("store.next_seq", |s| store(s, |x| x.next_seq = 0)),
        ("store.ghost", |s| store(s, |x| x.ghost = Default::default())),
    ];
    for (name, f) in blanks {
        let n: HashSet<u64> = states
            .iter()
            .map(|s| {
                let mut s = s.clone();
                f(&mut s);
                fp(&canon(s))
            })
            .collect();
        println!("{:>9} ({:5.2}x)  without {name}", n.len(), states.len() as f64 / n.len() as f64);
    }
}

trait Blank2 {
    fn clone_blank(&self) -> Self;
}
impl Blank2 for model::browser::BrowserState {
    fn clone_blank(&self) -> Self {
        let mut b = self.clone();
        b.tabs.clear();
        b.jar = Default::default();
        b.now = 0;
        b.refreshed_ok = false;
        b.held = Default::default();
        b
    }
}
