//! The session store: Directus's `directus_sessions` table.
//!
//! Each [`Sql`] statement is executed atomically against the table, as one database statement
//! is; nothing else is atomic. The table is keyed by the session token (its primary key) and
//! holds the row's expiry in ticks. There is one user, so the `user` column is left out.
//!
//! What is abstracted: the `ip`, `user_agent` and `origin` columns (never read by the refresh
//! path), the `LEFT JOIN`s on users, shares and roles (the user is always active), and the
//! clock: `now` is computed by the API process and passed into every statement, as Directus
//! does with `new Date()` in JavaScript.
//!
//! Sources: `api/src/services/authentication.ts` in `@directus/api` 18.2.1 (directus 10.10.4),
//! statements R1 and W1; `shared/research/directus-protocol.md` §1.4 and §6.

use serde::Serialize;

use super::{Tick, Token};

/// One row of `directus_sessions`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Row {
    /// `token`, the primary key: the 64-character refresh token, here a small integer.
    pub token: Token,
    /// `expires`, in ticks.
    pub expires: Tick,
}

/// The table, kept sorted by token so that equal tables are equal states.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct StoreState {
    /// The rows, sorted by `token`.
    pub rows: Vec<Row>,
}

/// A statement the API process sends to the database.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[allow(missing_docs)] // variant fields are described in each variant's doc
pub enum Sql {
    /// R1 (and, with a per-request check, `verifySessionJWT`):
    /// `SELECT expires FROM directus_sessions WHERE token = ? AND expires >= now`.
    SelectSession { token: Token, now: Tick },
    /// W1, Directus 10.10.x: `UPDATE directus_sessions SET token = to, expires = ?
    /// WHERE token = from`.
    Rename { from: Token, to: Token, expires: Tick },
    /// PR 22433's write: `UPDATE directus_sessions SET expires = ? WHERE token = ?`.
    Extend { token: Token, expires: Tick },
}

/// What the database answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum SqlResult {
    /// A `SELECT` that found the row (with its expiry) or found nothing.
    Row(Option<Row>),
    /// An `UPDATE`'s affected-row count (0 or 1: `token` is the primary key).
    Affected(u8),
}

impl StoreState {
    /// The table with one row: the session created by sign-in.
    pub fn signed_in(token: Token, expires: Tick) -> Self {
        StoreState { rows: vec![Row { token, expires }] }
    }

    /// The row whose primary key is `token`, if any (whatever its expiry).
    pub fn row(&self, token: Token) -> Option<&Row> {
        self.rows.iter().find(|r| r.token == token)
    }

    /// Executes one statement atomically and returns its result.
    pub fn exec(&mut self, sql: Sql) -> SqlResult {
        match sql {
            Sql::SelectSession { token, now } => SqlResult::Row(self.row(token).filter(|r| r.expires >= now).copied()),
            Sql::Rename { from, to, expires } => match self.rows.iter_mut().find(|r| r.token == from) {
                Some(row) => {
                    row.token = to;
                    row.expires = expires;
                    self.rows.sort();
                    SqlResult::Affected(1)
                }
                None => SqlResult::Affected(0),
            },
            Sql::Extend { token, expires } => match self.rows.iter_mut().find(|r| r.token == token) {
                Some(row) => {
                    row.expires = expires;
                    SqlResult::Affected(1)
                }
                None => SqlResult::Affected(0),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rename_of_a_missing_row_affects_nothing() {
        let mut s = StoreState::signed_in(1, 9);
        assert_eq!(s.exec(Sql::Rename { from: 1, to: 2, expires: 9 }), SqlResult::Affected(1));
        assert_eq!(s.exec(Sql::Rename { from: 1, to: 3, expires: 9 }), SqlResult::Affected(0));
        assert_eq!(s.rows, vec![Row { token: 2, expires: 9 }]);
    }

    #[test]
    fn select_skips_expired_rows() {
        let mut s = StoreState::signed_in(1, 3);
        assert_eq!(s.exec(Sql::SelectSession { token: 1, now: 3 }), SqlResult::Row(Some(Row { token: 1, expires: 3 })));
        assert_eq!(s.exec(Sql::SelectSession { token: 1, now: 4 }), SqlResult::Row(None));
    }
}
