//! The real side of a replay: a blocking HTTP client for the Directus authentication endpoints,
//! speaking to one target on the loopback interface only.
//!
//! Requests, as the Directus app and SDK send them (`directus-protocol.md` §1.1, §3):
//! - `POST /auth/login {"email","password","mode":"session"}` → 200, `Set-Cookie:
//!   directus_session_token=<JWT>`;
//! - `POST /auth/refresh {"mode":"session"}` with `Cookie: directus_session_token=<JWT>` → 200
//!   and a new cookie, or 4xx `{"errors":[{"extensions":{"code":…}}]}`;
//! - `GET /users/me?fields=id` with the cookie → 200 or 401;
//! - `POST /auth/logout {"mode":"session"}` with the cookie → 204 (without `mode` Directus
//!   assumes cookie mode and answers 400);
//! - json mode: `POST /auth/login {"email","password","mode":"json"}` and `POST /auth/refresh
//!   {"mode":"json","refresh_token":T}` answer `{"data":{"refresh_token":T',…}}`: the refresh
//!   token is the session row's token itself, the same value a session JWT's `session` claim
//!   holds (which is why a session-mode token can be redeemed in json mode, §1.5).
//!
//! The cookie is a JWT signed, not encrypted; its `session` claim is the session row's token,
//! which is what identifies a session across refreshes (two cookies may wrap one session).
//! Cookies are handled by hand, per request, because each model tab sends the cookie the trace
//! says it sent, not whatever a client-side jar holds. Cookie mode (`directus_refresh_token`)
//! is sent the same way.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};

/// The session cookie's name (`SESSION_COOKIE_NAME`, Directus default).
pub const SESSION_COOKIE: &str = "directus_session_token";
/// The refresh cookie's name (`REFRESH_TOKEN_COOKIE_NAME`, Directus default), cookie mode.
pub const REFRESH_COOKIE: &str = "directus_refresh_token";

/// What the server answered to one request.
#[derive(Clone, Debug, PartialEq)]
pub struct RealReply {
    /// The HTTP status.
    pub status: u16,
    /// `errors[0].extensions.code` of the body, for 4xx.
    pub code: Option<String>,
    /// The new `directus_session_token` cookie (a JWT), if the response set a non-empty one.
    pub cookie: Option<String>,
    /// The `session` claim of that cookie: the session row's token.
    pub session: Option<String>,
    /// The new refresh token: `data.refresh_token` of the body (json mode) or the
    /// `directus_refresh_token` cookie (cookie mode): the session row's token itself.
    pub refresh_token: Option<String>,
    /// `data.access_token` of the body (json and cookie mode).
    pub access_token: Option<String>,
    /// Milliseconds from sending to the end of the response.
    pub millis: f64,
}

impl RealReply {
    /// `200, session=abcd1234…` / `401 INVALID_CREDENTIALS`, for people.
    pub fn text(&self) -> String {
        let mut s = self.status.to_string();
        if let Some(c) = &self.code {
            s.push(' ');
            s.push_str(c);
        }
        if let Some(t) = &self.session {
            s.push_str(&format!(", Set-Cookie session={}…", &t[..t.len().min(8)]));
        }
        if let Some(t) = &self.refresh_token {
            s.push_str(&format!(", refresh_token={}…", &t[..t.len().min(8)]));
        }
        s
    }
}

/// Why a request failed below HTTP (connection refused, timeout, unreadable body).
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The target is not an `http://` URL on the loopback interface.
    #[error("--target {0:?}: expected http://127.0.0.1:PORT (or localhost, [::1]); replays only talk to this machine")]
    NotLoopback(String),
    /// The target answered with a redirect (3xx), which is not followed: the target is not
    /// the server's API (a proxy, a login page, a path prefix).
    #[error("{method} {url}: the target answered {status} (a redirect to {location:?}), expected an answer of the API itself; redirects are not followed (check --target)")]
    Redirect {
        /// The method.
        method: &'static str,
        /// The URL.
        url: String,
        /// The HTTP status (301, 302, 303, 307, 308).
        status: u16,
        /// The `Location` header, if any.
        location: String,
    },
    /// Transport failure.
    #[error("{method} {url}: {source}")]
    Transport {
        /// The method.
        method: &'static str,
        /// The URL.
        url: String,
        /// What went wrong.
        source: ureq::Error,
    },
}

/// A client bound to one target.
#[derive(Clone)]
pub struct Client {
    agent: ureq::Agent,
    base: String,
}

/// The session claim of a Directus session JWT (`header.payload.signature`, payload in base64url).
pub fn session_claim(jwt: &str) -> Option<String> {
    let payload = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    v.get("session")?.as_str().map(str::to_owned)
}

/// Whether `target` is an `http://` URL whose host is a loopback address or `localhost`.
pub fn check_target(target: &str) -> Result<String, ClientError> {
    let bad = || ClientError::NotLoopback(target.to_owned());
    let uri: ureq::http::Uri = target.parse().map_err(|_| bad())?;
    if uri.scheme_str() != Some("http") {
        return Err(bad());
    }
    let host = uri.host().ok_or_else(bad)?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if !loopback {
        return Err(bad());
    }
    Ok(target.trim_end_matches('/').to_owned())
}

impl Client {
    /// A client for `target` (checked by [`check_target`]); every request times out after
    /// `timeout`.
    pub fn new(target: &str, timeout: Duration) -> Result<Self, ClientError> {
        let base = check_target(target)?;
        // No proxy, whatever HTTP_PROXY, ALL_PROXY or https_proxy say: a replay talks to this
        // machine only, and its requests carry the password. No redirect is followed either:
        // a redirect is reported as such ([`ClientError::Redirect`]).
        let agent = ureq::Agent::config_builder()
            .proxy(None)
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .max_redirects(0)
            .build()
            .into();
        Ok(Client { agent, base })
    }

    fn send(
        &self,
        method: &'static str,
        path: &str,
        auth: &Auth,
        body: Option<Value>,
    ) -> Result<RealReply, ClientError> {
        let url = format!("{}{}", self.base, path);
        let err = |source| ClientError::Transport { method, url: url.clone(), source };
        let start = Instant::now();
        let mut cookies = Vec::new();
        if let Some(c) = &auth.session_cookie {
            cookies.push(format!("{SESSION_COOKIE}={c}"));
        }
        if let Some(c) = &auth.refresh_cookie {
            cookies.push(format!("{REFRESH_COOKIE}={c}"));
        }
        let cookie = (!cookies.is_empty()).then(|| cookies.join("; "));
        let bearer = auth.bearer.as_ref().map(|t| format!("Bearer {t}"));
        let resp = if method == "GET" {
            let mut r = self.agent.get(&url);
            if let Some(c) = &cookie {
                r = r.header("Cookie", c);
            }
            if let Some(b) = &bearer {
                r = r.header("Authorization", b);
            }
            r.call()
        } else {
            let mut r = self.agent.post(&url);
            if let Some(c) = &cookie {
                r = r.header("Cookie", c);
            }
            if let Some(b) = &bearer {
                r = r.header("Authorization", b);
            }
            r.send_json(body.unwrap_or(json!({})))
        };
        let mut resp = resp.map_err(err)?;
        let status = resp.status().as_u16();
        if resp.status().is_redirection() {
            let location = resp.headers().get("location").map(|l| String::from_utf8_lossy(l.as_bytes()).into_owned());
            return Err(ClientError::Redirect { method, url, status, location: location.unwrap_or_default() });
        }
        let set: Vec<cookie::Cookie<'static>> = resp
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|h| h.to_str().ok())
            .filter_map(|h| cookie::Cookie::parse(h.to_owned()).ok())
            .filter(|c| !c.value().is_empty())
            .collect();
        let named = |n: &str| set.iter().find(|c| c.name() == n).map(|c| c.value().to_owned());
        let session_cookie = named(SESSION_COOKIE);
        let refresh_cookie = named(REFRESH_COOKIE);
        let text = resp.body_mut().read_to_string().map_err(err)?;
        let millis = start.elapsed().as_secs_f64() * 1000.0;
        let body = serde_json::from_str::<Value>(&text).ok();
        let field = |p: &str| body.as_ref().and_then(|v| v.pointer(p)).and_then(Value::as_str).map(str::to_owned);
        let code = field("/errors/0/extensions/code");
        let refresh_token = field("/data/refresh_token").or(refresh_cookie);
        let access_token = field("/data/access_token");
        let session = session_cookie.as_deref().and_then(session_claim);
        Ok(RealReply { status, code, cookie: session_cookie, session, refresh_token, access_token, millis })
    }

    /// `POST /auth/login {"email","password","mode"}`.
    pub fn login(&self, mode: Mode, email: &str, password: &str) -> Result<RealReply, ClientError> {
        let body = json!({"email": email, "password": password, "mode": mode.as_str()});
        self.send("POST", "/auth/login", &Auth::default(), Some(body))
    }

    /// `POST /auth/refresh {"mode"}` with `auth`; in json mode the refresh token goes in the
    /// body, in cookie mode in the `directus_refresh_token` cookie.
    pub fn refresh(&self, mode: Mode, auth: &Auth) -> Result<RealReply, ClientError> {
        self.send("POST", "/auth/refresh", &Auth::placed(mode, auth), Some(Self::body(mode, auth)))
    }

    /// `POST /auth/logout {"mode"}` with `auth`, placed as for [`Client::refresh`].
    pub fn logout(&self, mode: Mode, auth: &Auth) -> Result<RealReply, ClientError> {
        self.send("POST", "/auth/logout", &Auth::placed(mode, auth), Some(Self::body(mode, auth)))
    }

    /// `GET /users/me?fields=id` with `auth` (session cookie, Bearer access token).
    pub fn users_me(&self, auth: &Auth) -> Result<RealReply, ClientError> {
        self.send("GET", "/users/me?fields=id", auth, None)
    }

    fn body(mode: Mode, auth: &Auth) -> Value {
        match (mode, &auth.refresh_token) {
            (Mode::Json, Some(t)) => json!({"mode": "json", "refresh_token": t}),
            _ => json!({"mode": mode.as_str()}),
        }
    }
}

/// An auth mode, as sent in `body.mode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `json`: the refresh token in the body.
    Json,
    /// `cookie`: the refresh token in the `directus_refresh_token` cookie.
    Cookie,
    /// `session`: the session JWT in the `directus_session_token` cookie.
    Session,
}

impl Mode {
    /// `"json"`, `"cookie"`, `"session"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Json => "json",
            Mode::Cookie => "cookie",
            Mode::Session => "session",
        }
    }
}

/// What a request carries besides its body.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Auth {
    /// The `directus_session_token` cookie (a JWT).
    pub session_cookie: Option<String>,
    /// The refresh token: in the body (json) or the `directus_refresh_token` cookie (cookie).
    pub refresh_token: Option<String>,
    /// `directus_refresh_token` cookie, as placed by `Auth::placed`.
    pub refresh_cookie: Option<String>,
    /// A Bearer access token.
    pub bearer: Option<String>,
}

impl Auth {
    fn placed(mode: Mode, auth: &Auth) -> Auth {
        let mut a = auth.clone();
        if mode == Mode::Cookie {
            a.refresh_cookie = a.refresh_token.clone();
        }
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_claim_is_read_from_the_jwt_payload() {
        // {"alg":"HS256"} . {"id":"u","session":"abc","iss":"directus"} . signature
        let h = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256"}"#);
        let p =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"id":"u","session":"abc","iss":"directus"}"#);
        assert_eq!(session_claim(&format!("{h}.{p}.sig")), Some("abc".to_owned()));
        assert_eq!(session_claim("not-a-jwt"), None);
    }

    #[test]
    fn only_loopback_targets_are_accepted() {
        assert_eq!(check_target("http://127.0.0.1:18055/").unwrap(), "http://127.0.0.1:18055");
        assert!(check_target("http://localhost:8055").is_ok());
        assert!(check_target("http://[::1]:8055").is_ok());
        assert!(check_target("http://127.0.0.2:8055").is_ok());
        for bad in ["http://10.0.0.1:8055", "https://127.0.0.1", "http://example.com", "127.0.0.1:8055", ""] {
            assert!(check_target(bad).is_err(), "{bad}");
        }
    }
}
