//! Fields kept per user (`fields.user`): columns of the user row that every family of every
//! device belongs to, such as the `passwordChangeTz` that nocobase's password change stamps and
//! its token check compares with a token's `iat` (nocobase PR 5212, PR 9261), Laravel's
//! `password_hash` session check or a token version counter on the user. One value for the
//! whole model (the model has one user), read as `user.NAME` by every handler (refresh,
//! sign-out, sign-in, password change, ordinary request) and written with `set user.NAME = e`.
//! A "tokens issued before X are invalid" protocol is then a model file: the change writes
//! `set user.changed_at = now`, a handler refuses `presented.issued_at <= user.changed_at`.
//!
//! A user field is a tick or a count: the user row names no refresh token of its own (the
//! per-family and per-session fields do). It is durable (a database column): never
//! `in_memory`. Writes are undone with the rest of a rolled-back transaction and replicated
//! with the rest of a node's entry.

use super::{FieldType, ProtocolError};

/// Checks the type of the user field at `field` (`protocol.fields.user.NAME`): a `tick` or a
/// `count`. A `token` or a `client` is refused (exit 2) with what to write instead.
pub fn check_type(field: &str, t: FieldType) -> Result<(), ProtocolError> {
    match t {
        FieldType::Tick | FieldType::Count => Ok(()),
        FieldType::Token | FieldType::Client => Err(ProtocolError {
            field: field.to_string(),
            found: if t == FieldType::Token { "token" } else { "client" }.to_string(),
            message: "a user field of type `tick` or `count` (a stamp or a version the user row keeps); a token \
                      or a client is kept per family or per client session (`fields.family`, `fields.session`)"
                .into(),
        }),
    }
}
