//! Server and client policies, as data.
//!
//! Every protocol choice a model file can make is one variant here, and each variant says where
//! the behaviour comes from. The step functions in [`super::server`] and [`super::browser`]
//! match on these values; no other module decides policy.
//!
//! Sources:
//! - Directus `api/src/services/authentication.ts`, `@directus/api` 18.2.1 (directus 10.10.4):
//!   `refresh()` renames the session row in place (steps R1, W1).
//! - Directus pull request 22433 ("Fix race condition for concurrent /auth/refresh calls"):
//!   keep the session id in session mode.
//! - `shared/research/directus-protocol.md` §1.4 and §6.

use serde::{Deserialize, Serialize};

/// What `POST /auth/refresh` in session mode does to the session row once R1 found it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SessionRefresh {
    /// Directus 10.10.x (`@directus/api` 18.2.1, `authentication.ts` `refresh()` step 11):
    /// W1 `UPDATE directus_sessions SET token = T', expires = now + REFRESH_TOKEN_TTL
    /// WHERE token = T`; the affected-row count is ignored and the new cookie wraps T'.
    Rotate,
    /// The proposal of Directus PR 22433: "Don't refresh the session identifying token when
    /// using session mode". The write only extends the row
    /// (`UPDATE directus_sessions SET expires = now + REFRESH_TOKEN_TTL WHERE token = T`) and the
    /// new JWT wraps the same T.
    StableId,
}

/// How the server's statements for one request are scheduled against other requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServerSteps {
    /// Each SQL statement is one atomic step; any other request's statement may run between two
    /// of them. This is what Directus does: every statement is an `await` with no transaction
    /// and no row lock (`directus-protocol.md` §1.4).
    Split,
    /// The whole handler runs as one atomic step at the store, as if it were a serialisable
    /// transaction. Not what Directus ships; offered so a designer can see what atomicity buys.
    Atomic,
}

/// The server's policy: one value per model file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ServerPolicy {
    /// What a session-mode refresh writes.
    pub session_refresh: SessionRefresh,
    /// Split or atomic handlers.
    pub steps: ServerSteps,
    /// Whether every request (refresh included) first checks that the JWT's session row exists
    /// and is unexpired. `false` is Directus ≤ 10.11.0 (`get-accountability-for-token.ts`
    /// verifies the JWT only); `true` is Directus PR 22353 (10.11.1+, `verifySessionJWT`).
    pub per_request_check: bool,
}
