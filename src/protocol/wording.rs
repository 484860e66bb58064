//! How traces name a protocol's requests and error answers: the optional `wording` field of a
//! `protocol` or `session_server` section.
//!
//! The wording changes only the text of traces (describe, chart, JSON): the model, its states
//! and its verdicts are the same with any wording. Without the field a trace reads as before,
//! in the Directus words (`POST /auth/refresh`, `POST /auth/logout`, `GET /users/me` or
//! `API call`). The printed error code is derived from the reply form of the rule that
//! answered, which the interpreter maps one-to-one onto the answer a client receives:
//!
//! - `protocol` (an OAuth authorization server): `invalid_grant` and `invalid_request` print
//!   as `400 invalid_grant` / `400 invalid_request` (RFC 6749 §5.2), `invalid_token` as
//!   `401 invalid_token` (RFC 6750 §3.1), `server_error` as `500 server_error`
//!   (RFC 6749 §4.1.2.1);
//! - `session_server`: the Directus codes (`400 INVALID_PAYLOAD`, `401 TOKEN_EXPIRED`,
//!   `401 INVALID_CREDENTIALS`, `500 INTERNAL_SERVER_ERROR`, `@directus/errors`).
//!
//! `wording.errors` replaces the printed text of a reply form, keeping its class: a refusal
//! stays a 4xx and `server_error` a 5xx, since the client reacts by class only.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::ProtocolError;

/// The `wording` field of a `protocol` or `session_server` section, as written and compiled
/// (every field optional; an absent one keeps the default wording).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Wording {
    /// The refresh request, e.g. `POST /oauth/v2/token` (default `POST /auth/refresh`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh: Option<String>,
    /// The sign-out request, e.g. `POST /oauth/v2/revoke` (default `POST /auth/logout`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign_out: Option<String>,
    /// The ordinary request, e.g. `GET /oidc/v1/userinfo` (default `API call` for a
    /// `protocol`, `GET /users/me` for a `session_server`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
    /// What starts a tab's refresh when nothing in the model says why (its `any-time`
    /// trigger), as a verb phrase after the tab's name, e.g. `gets a 401 on an API call` or
    /// `runs its refresh timer` (default `loads or returns from idle`, Directus's
    /// `visibilitychange` and page load). Words only: the refresh may start at any moment
    /// whatever the text says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_start: Option<String>,
    /// The printed status and code of an error reply form, e.g.
    /// `{"invalid_grant": "400 invalid_grant"}`: the key is a reply form of the section's
    /// language, the value a status (4xx for a refusal, 5xx for `server_error`), a space and
    /// the code.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub errors: BTreeMap<String, String>,
}

/// The error reply forms of the `protocol` language with their default printed text.
pub const PROTOCOL_ERRORS: &[(&str, &str)] = &[
    ("invalid_grant", "400 invalid_grant"),
    ("invalid_request", "400 invalid_request"),
    ("invalid_token", "401 invalid_token"),
    ("server_error", "500 server_error"),
];

/// The error reply forms of the `session_server` language with their default printed text.
pub const SESSION_ERRORS: &[(&str, &str)] = &[
    ("invalid_payload", "400 INVALID_PAYLOAD"),
    ("token_expired", "401 TOKEN_EXPIRED"),
    ("invalid_credentials", "401 INVALID_CREDENTIALS"),
    ("server_error", "500 INTERNAL_SERVER_ERROR"),
];

/// The default refresh request text.
pub const REFRESH: &str = "POST /auth/refresh";
/// The default words for what starts a tab's refresh.
pub const REFRESH_START: &str = "loads or returns from idle";
/// The default sign-out request text.
pub const SIGN_OUT: &str = "POST /auth/logout";

impl Wording {
    /// Checks the field at `at` (`protocol.wording`) against the language's error reply forms
    /// `forms`. Errors: an empty request text, an unknown reply form (with the ones allowed), a
    /// text that is not `STATUS CODE` or whose status leaves the reply form's class.
    pub fn check(&self, at: &str, forms: &[(&str, &str)]) -> Result<(), ProtocolError> {
        let fail = |field: String, found: &str, message: String| ProtocolError { field, found: found.into(), message };
        for (name, text) in [("refresh", &self.refresh), ("sign_out", &self.sign_out), ("request", &self.request)] {
            if let Some(t) = text {
                if t.trim().is_empty() || t.chars().count() > super::MAX_NAME_CHARS || t.chars().any(super::unshowable)
                {
                    return Err(fail(
                        format!("{at}.{name}"),
                        t,
                        "expected a one-line request text of 1 to 80 characters, e.g. `POST /token`".into(),
                    ));
                }
            }
        }
        if let Some(t) = &self.refresh_start {
            if t.trim().is_empty() || t.chars().count() > super::MAX_NAME_CHARS || t.chars().any(super::unshowable) {
                return Err(fail(
                    format!("{at}.refresh_start"),
                    t,
                    "expected a one-line verb phrase of 1 to 80 characters said after the tab's name, e.g. `gets a 401 on an API call`".into(),
                ));
            }
        }
        for (key, text) in &self.errors {
            let field = format!("{at}.errors.{key}");
            let Some((_, default)) = forms.iter().find(|(k, _)| k == key) else {
                let allowed: Vec<String> = forms.iter().map(|(k, _)| format!("`{k}`")).collect();
                return Err(fail(field, key, format!("expected an error reply form: {}", allowed.join(", "))));
            };
            let class = &default[..1];
            let status = text.split(' ').next().unwrap_or("");
            let code = text[status.len()..].trim();
            let ok = status.len() == 3 && status.bytes().all(|b| b.is_ascii_digit()) && status.starts_with(class);
            if !ok
                || code.is_empty()
                || text.chars().count() > super::MAX_NAME_CHARS
                || text.chars().any(super::unshowable)
            {
                return Err(fail(
                    field,
                    text,
                    format!("expected a {class}xx status, a space and the code (e.g. `{default}`), 80 characters at most: the client reacts to `{key}` as a {class}xx"),
                ));
            }
        }
        Ok(())
    }

    /// The printed text of error reply form `form`: the model file's, else the default of
    /// `forms` (the language's table), else `form` itself.
    pub fn error_text(&self, forms: &[(&str, &str)], form: &str) -> String {
        self.errors
            .get(form)
            .cloned()
            .or_else(|| forms.iter().find(|(k, _)| *k == form).map(|(_, t)| t.to_string()))
            .unwrap_or_else(|| form.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_error(k: &str, v: &str) -> Wording {
        Wording { errors: [(k.to_string(), v.to_string())].into_iter().collect(), ..Wording::default() }
    }

    #[test]
    fn an_error_text_keeps_its_class_and_names_a_known_reply_form() {
        assert!(with_error("invalid_grant", "401 invalid_grant").check("protocol.wording", PROTOCOL_ERRORS).is_ok());
        let e = with_error("invalid_grant", "500 oops").check("protocol.wording", PROTOCOL_ERRORS).unwrap_err();
        assert_eq!(e.field, "protocol.wording.errors.invalid_grant");
        assert!(e.message.contains("4xx"), "{}", e.message);
        let e = with_error("invalid_grnat", "400 x").check("protocol.wording", PROTOCOL_ERRORS).unwrap_err();
        assert!(e.message.contains("`invalid_grant`"), "{}", e.message);
        let e = with_error("server_error", "500").check("session_server.wording", SESSION_ERRORS).unwrap_err();
        assert!(e.message.contains("5xx"), "{}", e.message);
        let e = Wording { refresh: Some(" ".into()), ..Wording::default() }.check("w", PROTOCOL_ERRORS).unwrap_err();
        assert_eq!(e.field, "w.refresh");
        // No control or line-separator character reaches a trace line.
        for bad in ["POST /a\rb", "POST /a\u{2028}b", "POST \u{1b}[2J", "POST /a\u{2067}b"] {
            let w = Wording { refresh: Some(bad.into()), ..Wording::default() };
            assert_eq!(w.check("w", PROTOCOL_ERRORS).unwrap_err().field, "w.refresh", "{bad:?}");
        }
        assert!(with_error("invalid_grant", "400 a\rb").check("w", PROTOCOL_ERRORS).is_err());
        for bad in ["", " ", "runs\nits timer", "runs its \u{202E}remit"] {
            let w = Wording { refresh_start: Some(bad.into()), ..Wording::default() };
            assert_eq!(w.check("w", PROTOCOL_ERRORS).unwrap_err().field, "w.refresh_start", "{bad:?}");
        }
        let w = Wording { refresh_start: Some("runs its refresh timer".into()), ..Wording::default() };
        assert!(w.check("w", PROTOCOL_ERRORS).is_ok());
    }

    #[test]
    fn an_error_text_defaults_to_the_languages_table() {
        let w = with_error("invalid_grant", "401 Errors.Token.Invalid");
        assert_eq!(w.error_text(PROTOCOL_ERRORS, "invalid_grant"), "401 Errors.Token.Invalid");
        assert_eq!(w.error_text(PROTOCOL_ERRORS, "invalid_token"), "401 invalid_token");
        assert_eq!(Wording::default().error_text(SESSION_ERRORS, "invalid_credentials"), "401 INVALID_CREDENTIALS");
    }
}
