//! The session store: Directus's `directus_sessions` table.
//!
//! Each [`Sql`] statement is executed atomically against the table, as one database statement
//! is; nothing else is atomic. The table is keyed by the session token (its primary key) and
//! holds the row's expiry in ticks and, from Directus 10.11.1 (migration
//! `20240515A-add-session-window`), its `next_token`. There is one user, so the `user` column
//! is left out (W3's `WHERE user = U` matches every row).
//!
//! What is abstracted: the `ip`, `user_agent` and `origin` columns (never read by the refresh
//! path), the `LEFT JOIN`s on users, shares and roles (the user is always active), and the
//! clock: `now` is computed by the API process and passed into every statement, as Directus
//! does with `new Date()` in JavaScript.
//!
//! Ghost state (never read by a statement): each row's `kind`, the mode its token was issued
//! for (the `type` column of the PR 22433 review when the server has it), and whether a
//! sign-out's delete has run, with the rows created or renamed after it.
//!
//! A **cache** may stand in front of the table (`session_server.cache`): entries keyed by
//! token, each with its own expiry tick, answered by [`Sql::CacheGet`] and written by
//! [`Sql::CacheSet`], [`Sql::CacheAdd`], [`Sql::CacheDelete`] and [`Sql::CacheTombstone`]. The
//! cache is another server (memcached, Redis, an Infinispan cache); it lives in this actor so
//! that each of its operations is one round trip like a statement, and nothing makes a cache
//! operation and a statement atomic together.
//!
//! Sources: `api/src/services/authentication.ts` in `@directus/api` 18.2.1 (directus 10.10.4),
//! statements R1 and W1, and in 19.1.1 (directus 10.11.1), G0–G3 and W3;
//! `shared/research/directus-protocol.md` §1.4, §1.5 and §6.

use serde::Serialize;

use super::policy::AuthMode;
use super::{Tick, Token};

/// One row of `directus_sessions`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Row {
    /// `token`, the primary key: the 64-character refresh token, here a small integer.
    pub token: Token,
    /// `expires`, in ticks.
    pub expires: Tick,
    /// `next_token` (10.11.1+): the successor handed out by the first refresh in the grace.
    pub next_token: Option<Token>,
    /// The mode the token was issued for: the proposed `type` column, ghost otherwise.
    pub kind: AuthMode,
}

/// Ghost bookkeeping of the store (never read by the protocol).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct StoreGhost {
    /// A sign-out's `DELETE` has run.
    pub signed_out: bool,
    /// Rows created (G3) or renamed onto a new token (W1) after that delete, and cache entries
    /// written after the sign-out's cache delete or tombstone (nothing of the sign-out removes
    /// them any more): a count.
    pub revived: u8,
    /// A sign-out's cache delete (or tombstone) has run.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cache_cleared: bool,
}

/// One entry of the cache in front of the table: the session of `token`, cached until
/// `until` (a tick; 255: no expiry), or a tombstone that occupies the key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct CacheEntry {
    /// The key: the session token.
    pub token: Token,
    /// The entry's expiry tick: a `get` at `now > until` finds nothing, an `add` takes the key.
    pub until: Tick,
    /// The mode of the row it caches (ghost, as the row's).
    pub kind: AuthMode,
    /// A marker left by a deletion (Keycloak PR 53045): read as a miss, and an `add` fails on it.
    pub tombstone: bool,
}

/// The table, kept sorted by token so that equal tables are equal states.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct StoreState {
    /// The rows, sorted by `token`.
    pub rows: Vec<Row>,
    /// With one connection: the issue number of the next statement to run (statements run in
    /// issue order). Always 0 with a pool.
    pub next_seq: u8,
    /// Ghost bookkeeping.
    pub ghost: StoreGhost,
    /// The cache in front of the table, sorted by token (empty without `session_server.cache`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cache: Vec<CacheEntry>,
}

/// A statement the API process sends to the database.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[allow(missing_docs)] // variant fields are described in each variant's doc
pub enum Sql {
    /// R1 (and, with a per-request check, `verifySessionJWT`):
    /// `SELECT expires, next_token FROM directus_sessions WHERE token = ? AND expires >= now`.
    SelectSession { token: Token, now: Tick },
    /// W1 (Directus 10.10.x in every mode; json and cookie mode in every version): `UPDATE
    /// directus_sessions SET token = to, expires = ? WHERE token = from`. `kind` is ghost: the
    /// mode of the request, for which the new token is issued.
    Rename { from: Token, to: Token, expires: Tick, kind: AuthMode, now: Tick },
    /// PR 22433's write, and G0 (10.11.1+, the successor's extension):
    /// `UPDATE directus_sessions SET expires = ? WHERE token = ?`.
    Extend { token: Token, expires: Tick },
    /// G1 (10.11.1+): `UPDATE directus_sessions SET next_token = next, expires = now + GRACE
    /// WHERE token = token AND next_token IS NULL`, affected-row count returned.
    ClaimNext { token: Token, next: Token, expires: Tick, now: Tick },
    /// G2 (10.11.1+): `SELECT next_token FROM directus_sessions WHERE token = ?` (no expiry
    /// test).
    SelectNext { token: Token },
    /// G3 (10.11.1+): `INSERT INTO directus_sessions (token, expires, …)`.
    Insert { token: Token, expires: Tick, kind: AuthMode },
    /// `upsert` (a key-value session store's `set`: Redis `SET sess:token value EX ttl`):
    /// the row of `token` written whole in one statement, inserted if absent (a row created
    /// after a sign-out's delete revives the session), replaced otherwise (expiry, mode, no
    /// `next_token`). One row affected either way.
    Upsert { token: Token, expires: Tick, kind: AuthMode },
    /// W3 (10.11.1+): `DELETE FROM directus_sessions WHERE user = U AND expires < now`.
    PurgeExpired { now: Tick },
    /// Sign-out (`AuthenticationService.logout`): `DELETE FROM directus_sessions WHERE token = ?`
    /// (its preceding `SELECT` of the same key only gates this delete, so it is folded in).
    /// `sign_out`: issued by the sign-out endpoint; only then is the user marked signed out
    /// (ghost), so a refresh handler's own `delete` is not a sign-out.
    Delete { token: Token, sign_out: bool },
    /// `cache get T` (Django `cached_db` `load`: `cache.get(key)`; Keycloak `cache.get(key)`):
    /// the entry of `token` if it is not a tombstone and `until >= now`.
    CacheGet { token: Token, now: Tick },
    /// `cache set T` (`cache.set(key, value, timeout)`): the entry written whatever the key
    /// holds (a tombstone too). Always one entry affected.
    CacheSet { token: Token, until: Tick, kind: AuthMode },
    /// `cache add T` (Infinispan `putIfAbsent`, memcached `add`, Redis `SET NX`): written only
    /// if the key holds nothing live (no entry, or an expired one); 1 or 0 affected.
    CacheAdd { token: Token, until: Tick, kind: AuthMode, now: Tick },
    /// `cache delete T` (`cache.delete(key)`); `sign_out` as for [`Sql::Delete`].
    CacheDelete { token: Token, sign_out: bool },
    /// `cache tombstone T` (Keycloak PR 53045): a tombstone until `until` replaces the key.
    CacheTombstone { token: Token, until: Tick, sign_out: bool },
}

/// What the database answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum SqlResult {
    /// A `SELECT` of a session that found the row or found nothing.
    Row(Option<Row>),
    /// An `UPDATE`'s, `INSERT`'s or `DELETE`'s affected-row count.
    Affected(u8),
    /// G2's `next_token`: `None` when there is no row (or its `next_token` is null).
    Next(Option<Token>),
    /// `SQLITE_CONSTRAINT: UNIQUE`: the statement would give two rows one token (the primary
    /// key); nothing changed. Directus does not catch it: the request is answered 500.
    UniqueViolation,
    /// A cache `get`: the cached session (its `expires` is the entry's expiry), or a miss.
    Cached(Option<Row>),
}

impl StoreState {
    /// The table with one row: the session created by sign-in in `kind` mode.
    pub fn signed_in(token: Token, expires: Tick, kind: AuthMode) -> Self {
        StoreState { rows: vec![Row { token, expires, next_token: None, kind }], ..Default::default() }
    }

    /// The row whose primary key is `token`, if any (whatever its expiry).
    pub fn row(&self, token: Token) -> Option<&Row> {
        self.rows.iter().find(|r| r.token == token)
    }

    /// The live entry of `token` in the cache at `now`, if any (not a tombstone, not expired).
    pub fn cached(&self, token: Token, now: Tick) -> Option<&CacheEntry> {
        self.cache.iter().find(|e| e.token == token && !e.tombstone && e.until >= now)
    }

    fn put(&mut self, entry: CacheEntry) {
        match self.cache.binary_search_by_key(&entry.token, |e| e.token) {
            Ok(i) => self.cache[i] = entry,
            Err(i) => self.cache.insert(i, entry),
        }
    }

    /// A cache write of a session entry: after the sign-out's cache delete or tombstone, it
    /// puts the signed-out session back (a revival). One written between the sign-out's row
    /// delete and its cache delete (Django's order) is removed by that delete: not counted.
    fn fill(&mut self, entry: CacheEntry) {
        if self.ghost.cache_cleared {
            self.ghost.revived = self.ghost.revived.saturating_add(1);
        }
        self.put(entry);
    }

    fn revive(&mut self) {
        if self.ghost.signed_out {
            self.ghost.revived = self.ghost.revived.saturating_add(1);
        }
    }

    /// Executes one statement atomically and returns its result.
    pub fn exec(&mut self, sql: Sql) -> SqlResult {
        match sql {
            Sql::SelectSession { token, now } => SqlResult::Row(self.row(token).filter(|r| r.expires >= now).copied()),
            Sql::Rename { from, to, .. } if from != to && self.row(from).is_some() && self.row(to).is_some() => {
                SqlResult::UniqueViolation
            }
            Sql::Rename { from, to, expires, kind, .. } => match self.rows.iter_mut().find(|r| r.token == from) {
                Some(row) => {
                    row.token = to;
                    row.expires = expires;
                    row.kind = kind;
                    self.rows.sort();
                    self.revive();
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
            Sql::ClaimNext { token, next, expires, .. } => {
                match self.rows.iter_mut().find(|r| r.token == token && r.next_token.is_none()) {
                    Some(row) => {
                        row.next_token = Some(next);
                        row.expires = expires;
                        SqlResult::Affected(1)
                    }
                    None => SqlResult::Affected(0),
                }
            }
            Sql::SelectNext { token } => SqlResult::Next(self.row(token).and_then(|r| r.next_token)),
            Sql::Insert { token, expires, kind } => {
                if self.row(token).is_some() {
                    // A json-mode refresh renamed the old row onto this `next_token` first.
                    return SqlResult::UniqueViolation;
                }
                let at = self.rows.partition_point(|r| r.token < token);
                self.rows.insert(at, Row { token, expires, next_token: None, kind });
                self.revive();
                SqlResult::Affected(1)
            }
            Sql::Upsert { token, expires, kind } => {
                let row = Row { token, expires, next_token: None, kind };
                match self.rows.iter_mut().find(|r| r.token == token) {
                    Some(r) => *r = row,
                    None => {
                        let at = self.rows.partition_point(|r| r.token < token);
                        self.rows.insert(at, row);
                        self.revive();
                    }
                }
                SqlResult::Affected(1)
            }
            Sql::PurgeExpired { now } => {
                let before = self.rows.len();
                self.rows.retain(|r| r.expires >= now);
                SqlResult::Affected((before - self.rows.len()) as u8)
            }
            Sql::Delete { token, sign_out } => {
                let before = self.rows.len();
                self.rows.retain(|r| r.token != token);
                // Only the sign-out endpoint's DELETE signs the user out; a refresh handler that
                // deletes a row (say, its own unused successor) does not.
                self.ghost.signed_out |= sign_out;
                SqlResult::Affected((before - self.rows.len()) as u8)
            }
            Sql::CacheGet { token, now } => SqlResult::Cached(self.cached(token, now).map(|e| Row {
                token,
                expires: e.until,
                next_token: None,
                kind: e.kind,
            })),
            Sql::CacheSet { token, until, kind } => {
                self.fill(CacheEntry { token, until, kind, tombstone: false });
                SqlResult::Affected(1)
            }
            Sql::CacheAdd { token, until, kind, now } => {
                // The key is taken by a live entry or an unexpired tombstone.
                if self.cache.iter().any(|e| e.token == token && e.until >= now) {
                    return SqlResult::Affected(0);
                }
                self.fill(CacheEntry { token, until, kind, tombstone: false });
                SqlResult::Affected(1)
            }
            Sql::CacheDelete { token, sign_out } => {
                let before = self.cache.len();
                self.cache.retain(|e| e.token != token);
                self.ghost.cache_cleared |= sign_out;
                SqlResult::Affected((before - self.cache.len()) as u8)
            }
            Sql::CacheTombstone { token, until, sign_out } => {
                self.put(CacheEntry { token, until, kind: AuthMode::Session, tombstone: true });
                self.ghost.cache_cleared |= sign_out;
                SqlResult::Affected(1)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rename_of_a_missing_row_affects_nothing() {
        let mut s = StoreState::signed_in(1, 9, AuthMode::Session);
        let rename = |to| Sql::Rename { from: 1, to, expires: 9, kind: AuthMode::Session, now: 0 };
        assert_eq!(s.exec(rename(2)), SqlResult::Affected(1));
        assert_eq!(s.exec(rename(3)), SqlResult::Affected(0));
        assert_eq!(s.rows, vec![Row { token: 2, expires: 9, next_token: None, kind: AuthMode::Session }]);
    }

    #[test]
    fn a_rename_or_insert_onto_an_existing_token_violates_the_primary_key_and_changes_nothing() {
        let mut s = StoreState::signed_in(1, 9, AuthMode::Session);
        assert_eq!(s.exec(Sql::Insert { token: 2, expires: 5, kind: AuthMode::Session }), SqlResult::Affected(1));
        let before = s.clone();
        let rename = Sql::Rename { from: 1, to: 2, expires: 9, kind: AuthMode::Json, now: 0 };
        assert_eq!(s.exec(rename), SqlResult::UniqueViolation);
        assert_eq!(s.exec(Sql::Insert { token: 1, expires: 5, kind: AuthMode::Session }), SqlResult::UniqueViolation);
        assert_eq!(s, before);
    }

    #[test]
    fn upsert_replaces_a_row_or_inserts_one_and_only_an_insert_after_the_sign_out_revives() {
        let mut s = StoreState::signed_in(1, 3, AuthMode::Session);
        let upsert = |expires| Sql::Upsert { token: 1, expires, kind: AuthMode::Session };
        assert_eq!(s.exec(upsert(8)), SqlResult::Affected(1));
        assert_eq!(s.rows, vec![Row { token: 1, expires: 8, next_token: None, kind: AuthMode::Session }]);
        assert_eq!(s.ghost.revived, 0, "a replaced row is not a revival");
        assert_eq!(s.exec(Sql::Delete { token: 1, sign_out: true }), SqlResult::Affected(1));
        assert!(s.rows.is_empty());
        assert_eq!(s.exec(upsert(9)), SqlResult::Affected(1), "no row: the upsert inserts it, never collides");
        assert_eq!(s.rows, vec![Row { token: 1, expires: 9, next_token: None, kind: AuthMode::Session }]);
        assert_eq!(s.ghost.revived, 1, "the signed-out session's row is back");
    }

    #[test]
    fn a_cache_fill_after_the_sign_out_revives_and_a_tombstone_blocks_an_add() {
        let mut s = StoreState::signed_in(1, 9, AuthMode::Json);
        let get = Sql::CacheGet { token: 1, now: 0 };
        assert_eq!(s.exec(get), SqlResult::Cached(None), "an empty cache misses");
        let add = Sql::CacheAdd { token: 1, until: 255, kind: AuthMode::Json, now: 0 };
        assert_eq!(s.exec(add), SqlResult::Affected(1));
        assert_eq!(s.exec(add), SqlResult::Affected(0), "the key is taken");
        let hit = Row { token: 1, expires: 255, next_token: None, kind: AuthMode::Json };
        assert_eq!(s.exec(get), SqlResult::Cached(Some(hit)));
        assert_eq!(s.exec(Sql::CacheDelete { token: 1, sign_out: true }), SqlResult::Affected(1));
        assert_eq!(s.ghost.revived, 0);
        assert_eq!(s.exec(add), SqlResult::Affected(1), "a read-through fill after the sign-out's cache delete");
        assert_eq!(s.ghost.revived, 1, "the signed-out session is back in the cache");
        let mut t = StoreState::signed_in(1, 9, AuthMode::Json);
        let tomb = Sql::CacheTombstone { token: 1, until: 2, sign_out: true };
        assert_eq!(t.exec(tomb), SqlResult::Affected(1));
        assert_eq!(t.exec(get), SqlResult::Cached(None), "a tombstone reads as a miss");
        assert_eq!(t.exec(add), SqlResult::Affected(0), "an add fails on the tombstone");
        let late = Sql::CacheAdd { token: 1, until: 255, kind: AuthMode::Json, now: 3 };
        assert_eq!(t.exec(late), SqlResult::Affected(1), "an expired tombstone no longer takes the key");
        assert_eq!(t.ghost.revived, 1);
        let set = Sql::CacheSet { token: 1, until: 1, kind: AuthMode::Json };
        assert_eq!(t.exec(set), SqlResult::Affected(1));
        assert_eq!(t.exec(Sql::CacheGet { token: 1, now: 2 }), SqlResult::Cached(None), "an expired entry misses");
    }

    #[test]
    fn select_skips_expired_rows() {
        let mut s = StoreState::signed_in(1, 3, AuthMode::Session);
        let row = Row { token: 1, expires: 3, next_token: None, kind: AuthMode::Session };
        assert_eq!(s.exec(Sql::SelectSession { token: 1, now: 3 }), SqlResult::Row(Some(row)));
        assert_eq!(s.exec(Sql::SelectSession { token: 1, now: 4 }), SqlResult::Row(None));
    }

    #[test]
    fn claim_next_is_won_once_and_the_loser_reads_the_winner() {
        let mut s = StoreState::signed_in(1, 9, AuthMode::Session);
        assert_eq!(s.exec(Sql::ClaimNext { token: 1, next: 2, expires: 2, now: 1 }), SqlResult::Affected(1));
        assert_eq!(s.exec(Sql::ClaimNext { token: 1, next: 3, expires: 2, now: 1 }), SqlResult::Affected(0));
        assert_eq!(s.exec(Sql::SelectNext { token: 1 }), SqlResult::Next(Some(2)));
        assert_eq!(s.exec(Sql::Insert { token: 2, expires: 5, kind: AuthMode::Session }), SqlResult::Affected(1));
        assert_eq!(s.exec(Sql::PurgeExpired { now: 3 }), SqlResult::Affected(1), "the grace row expired");
        assert_eq!(s.rows.iter().map(|r| r.token).collect::<Vec<_>>(), vec![2]);
    }
}
