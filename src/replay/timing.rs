//! The length of a tick against the server's configured durations.
//!
//! A replay sends the requests of model tick `k` at `k × S` seconds after its sign-in (`S` =
//! `--tick-seconds`). A duration of `d` ticks in the model (a TTL, the grace period) ends a
//! deadline set at tick `j` after tick `j + d`: the model's `expires >= now` holds at ticks up to
//! `j + d` and fails from `j + d + 1` on. The server's duration `D` seconds agrees with it at every
//! tick the trace reaches exactly when `d × S < D < (d + 1) × S`, best `D = (d + 1/2) × S`; a
//! duration that does not run out within the trace (`d` at or above its last tick `C`) only
//! needs `D > C × S`. Each bound keeps a margin for request latency and for the whole-second
//! `exp` of a JWT: a quarter tick, and at least 1 s for the JWT's durations and 0.25 s for the
//! others. A trace whose clock never advances needs nothing.
//!
//! Sources: `SESSION_REFRESH_GRACE_PERIOD`, `SESSION_COOKIE_TTL`, `REFRESH_TOKEN_TTL` and
//! `ACCESS_TOKEN_TTL` in Directus's environment (`@directus/env`; defaults 10 s, 1 d, 7 d, 15 min).

use crate::model::policy::{AuthMode, SessionRefresh};
use crate::model::{Node, RefreshModel, Tick};

/// The server's durations, in seconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ServerDurations {
    /// `SESSION_REFRESH_GRACE_PERIOD`.
    pub grace: f64,
    /// `SESSION_COOKIE_TTL`.
    pub session_cookie: f64,
    /// `REFRESH_TOKEN_TTL`.
    pub refresh_token: f64,
    /// `ACCESS_TOKEN_TTL`.
    pub access_token: f64,
}

impl Default for ServerDurations {
    /// Directus's defaults.
    fn default() -> Self {
        ServerDurations { grace: 10.0, session_cookie: 86_400.0, refresh_token: 604_800.0, access_token: 900.0 }
    }
}

/// One duration that the trace depends on.
#[derive(Clone, Debug, PartialEq)]
pub struct Duration {
    /// The server's variable, e.g. `SESSION_REFRESH_GRACE_PERIOD`.
    pub var: &'static str,
    /// The replay's option for it, e.g. `--server-grace`.
    pub option: &'static str,
    /// The model's value, in ticks.
    pub ticks: Tick,
    /// The server's value, in seconds.
    pub seconds: f64,
    /// Whether it is a JWT's `exp` (whole seconds).
    pub jwt: bool,
}

/// The durations the model's server and browsers use.
pub fn durations(model: &RefreshModel, server: &ServerDurations) -> Vec<Duration> {
    let Some(Node::Server { policy, ttl, program, .. }) = model.actors.get(model.cfg.server) else { return Vec::new() };
    let modes: Vec<AuthMode> = model
        .actors
        .iter()
        .filter_map(|a| match a {
            Node::Browser { cfg, .. } => Some(cfg.mode),
            _ => None,
        })
        .collect();
    let mut out = vec![Duration {
        var: "REFRESH_TOKEN_TTL",
        option: "--server-refresh-ttl",
        ticks: ttl.refresh_token,
        seconds: server.refresh_token,
        jwt: false,
    }];
    if modes.contains(&AuthMode::Session) {
        out.push(Duration {
            var: "SESSION_COOKIE_TTL",
            option: "--server-session-ttl",
            ticks: ttl.session_cookie,
            seconds: server.session_cookie,
            jwt: true,
        });
    }
    if modes.iter().any(|&m| m != AuthMode::Session) {
        out.push(Duration {
            var: "ACCESS_TOKEN_TTL",
            option: "--server-access-ttl",
            ticks: ttl.access_token,
            seconds: server.access_token,
            jwt: true,
        });
    }
    // The Directus preset's grace window, or a `session_server` program that reads
    // `grace_period` or claims a reuse interval (its preset `session_refresh` is the default).
    if policy.session_refresh == SessionRefresh::GraceWindow
        || program.reads_grace_period()
        || program.reuse_interval > 0
    {
        out.push(Duration {
            var: "SESSION_REFRESH_GRACE_PERIOD",
            option: "--server-grace",
            ticks: ttl.grace,
            seconds: server.grace,
            jwt: false,
        });
    }
    out
}

/// Checks `tick` seconds per tick against every duration, for a trace whose clock reaches
/// `last` ticks. `Err` names each duration that would make the server and the model disagree
/// at some tick of the trace, and what would fix it.
pub fn check(durations: &[Duration], last: Tick, tick: f64) -> Result<(), String> {
    if last == 0 {
        return Ok(());
    }
    let mut bad = Vec::new();
    for d in durations {
        let margin = (tick / 4.0).max(if d.jwt { 1.0 } else { 0.25 });
        let (ticks, secs) = (f64::from(d.ticks), d.seconds);
        if d.ticks >= last {
            let need = f64::from(last) * tick + margin;
            if secs < need {
                bad.push(format!(
                    "{var} is {secs} s on the server ({option}), but the model's {t} tick(s) do not run out within the trace's {last} tick(s) of {tick} s: the server's must be at least {need} s",
                    var = d.var,
                    option = d.option,
                    t = d.ticks,
                ));
            }
        } else {
            let (lo, hi) = (ticks * tick + margin, (ticks + 1.0) * tick - margin);
            if !(lo..=hi).contains(&secs) {
                let best_tick = secs / (ticks + 0.5);
                bad.push(format!(
                    "{var} runs out within the trace (the model's {t} tick(s), the trace reaches tick {last}): with {tick} s per tick the server's must lie between {lo} and {hi} s, best {best} s, but it is {secs} s ({option}); use --tick-seconds {best_tick:.2} or set the server's {var} to {best} s",
                    var = d.var,
                    option = d.option,
                    t = d.ticks,
                    best = (ticks + 0.5) * tick,
                ));
            }
        }
    }
    if bad.is_empty() {
        Ok(())
    } else {
        Err(format!("--tick-seconds {tick}: the trace cannot test what it claims on this server: {}", bad.join("; ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grace(ticks: Tick, seconds: f64) -> Duration {
        Duration { var: "SESSION_REFRESH_GRACE_PERIOD", option: "--server-grace", ticks, seconds, jwt: false }
    }

    #[test]
    fn a_grace_of_one_tick_needs_the_server_grace_between_one_and_two_ticks() {
        // The trace reaches tick 2: the grace runs out within it.
        assert_eq!(check(&[grace(1, 3.0)], 2, 2.0), Ok(()));
        let e = check(&[grace(1, 10.0)], 2, 1.0).unwrap_err();
        assert!(e.contains("must lie between 1.25 and 1.75 s, best 1.5 s, but it is 10 s"), "{e}");
        assert!(e.contains("use --tick-seconds 6.67"), "{e}");
        // Too close to a tick boundary: the margin refuses it.
        assert!(check(&[grace(1, 2.1)], 2, 2.0).is_err());
        // A trace whose clock never advances needs nothing.
        assert_eq!(check(&[grace(1, 10.0)], 0, 1.0), Ok(()));
    }

    #[test]
    fn a_duration_that_outlives_the_trace_needs_only_to_outlive_it_on_the_server() {
        let ttl = Duration {
            var: "SESSION_COOKIE_TTL",
            option: "--server-session-ttl",
            ticks: 4,
            seconds: 86_400.0,
            jwt: true,
        };
        assert_eq!(check(std::slice::from_ref(&ttl), 2, 2.0), Ok(()));
        let short = Duration { seconds: 3.0, ..ttl };
        let e = check(&[short], 2, 2.0).unwrap_err();
        assert!(e.contains("the server's must be at least 5 s"), "{e}");
    }
}
