//! Read-only observation of a real Directus server's session table, `directus_sessions` in its
//! SQLite file, and its comparison with the model's store.
//!
//! The file is opened read-only (`SQLITE_OPEN_READ_ONLY`), only between groups, when every
//! request the replay sent has been answered, and closed after each read, so that the reader's
//! shared lock never meets the server's writes. The columns read are `token`, `expires` and,
//! from Directus 10.11.1 (migration `20240515A-add-session-window`), `next_token`; `expires` is
//! a knex `Date`, which SQLite stores as milliseconds since the epoch (text dates are read too).
//!
//! A real table matches a model table when the rows correspond one to one: a row's token is
//! the real token bound to the model token (or, for a token no reply has named, any unbound
//! real token, consistently), `next_token` corresponds likewise, and the row is live at the same
//! ticks: from the observation's tick to the trace's last, the model's `expires >= k` holds
//! exactly when the real `expires` is at or after the sign-in plus `k` ticks of wall-clock
//! time. Rows that existed before the try's sign-in are left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use crate::model::store::Row;
use crate::model::{Tick, Token};

/// One row of the real `directus_sessions`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct RealRow {
    /// `token`: the 64-character refresh token.
    pub token: String,
    /// `expires`, in milliseconds since the Unix epoch.
    pub expires_ms: i64,
    /// `next_token`, when the column exists and is set.
    pub next_token: Option<String>,
}

/// Why the session table could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The file does not exist.
    #[error("--database {0}: no such file (the server's SQLite file, DB_FILENAME)")]
    Missing(PathBuf),
    /// SQLite refused.
    #[error("--database {path}: {source}")]
    Sqlite {
        /// The file.
        path: PathBuf,
        /// What SQLite said.
        source: rusqlite::Error,
    },
    /// The file has no `directus_sessions` table.
    #[error("--database {0}: no table directus_sessions (is it a Directus database?)")]
    NoTable(PathBuf),
}

/// A Directus SQLite file, read on demand.
#[derive(Clone, Debug)]
pub struct Db {
    path: PathBuf,
}

impl Db {
    /// Checks that `path` is a SQLite file with a `directus_sessions` table.
    pub fn open(path: &Path) -> Result<Db, DbError> {
        if !path.is_file() {
            return Err(DbError::Missing(path.to_owned()));
        }
        let db = Db { path: path.to_owned() };
        db.columns()?;
        Ok(db)
    }

    fn connect(&self) -> Result<Connection, DbError> {
        let err = |source| DbError::Sqlite { path: self.path.clone(), source };
        let c =
            Connection::open_with_flags(&self.path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
                .map_err(err)?;
        c.busy_timeout(std::time::Duration::from_secs(5)).map_err(err)?;
        Ok(c)
    }

    fn columns(&self) -> Result<BTreeSet<String>, DbError> {
        let err = |source| DbError::Sqlite { path: self.path.clone(), source };
        let c = self.connect()?;
        let mut st = c.prepare("SELECT name FROM pragma_table_info('directus_sessions')").map_err(err)?;
        let cols: BTreeSet<String> =
            st.query_map([], |r| r.get::<_, String>(0)).map_err(err)?.collect::<Result<_, _>>().map_err(err)?;
        if cols.is_empty() {
            return Err(DbError::NoTable(self.path.clone()));
        }
        Ok(cols)
    }

    /// Every row of `directus_sessions`, sorted by token.
    pub fn rows(&self) -> Result<Vec<RealRow>, DbError> {
        let err = |source| DbError::Sqlite { path: self.path.clone(), source };
        let next = if self.columns()?.contains("next_token") { "next_token" } else { "NULL" };
        let c = self.connect()?;
        let sql = format!(
            "SELECT token, CASE typeof(expires) WHEN 'integer' THEN expires WHEN 'real' THEN CAST(expires AS INTEGER) \
             ELSE CAST(round((julianday(expires) - 2440587.5) * 86400000.0) AS INTEGER) END, {next} \
             FROM directus_sessions ORDER BY token"
        );
        let mut st = c.prepare(&sql).map_err(err)?;
        let rows = st
            .query_map([], |r| Ok(RealRow { token: r.get(0)?, expires_ms: r.get(1)?, next_token: r.get(2)? }))
            .map_err(err)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(err)?;
        Ok(rows)
    }
}

/// How model ticks map to wall-clock time in one try.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    /// The sign-in, in milliseconds since the Unix epoch.
    pub t0_ms: i64,
    /// One tick, in milliseconds.
    pub tick_ms: f64,
}

impl Clock {
    /// The wall-clock time of tick `k`, in milliseconds since the epoch.
    pub fn at(&self, k: Tick) -> i64 {
        self.t0_ms + (f64::from(k) * self.tick_ms).round() as i64
    }
}

/// The ticks from `from` to `to` at which a row is live in the model (`expires >= k`).
fn model_live(r: &Row, from: Tick, to: Tick) -> Vec<bool> {
    (from..=to).map(|k| r.expires >= k).collect()
}

/// The ticks from `from` to `to` at which a real row is live.
fn real_live(r: &RealRow, clock: &Clock, from: Tick, to: Tick) -> Vec<bool> {
    (from..=to).map(|k| r.expires_ms >= clock.at(k)).collect()
}

/// Compares the real rows (those of this try) with a model table under `bound` (model token →
/// real token). `Ok` when they match; otherwise a description of the first difference.
pub fn matches(
    real: &[RealRow],
    model: &[Row],
    bound: &BTreeMap<Token, String>,
    clock: &Clock,
    (from, to): (Tick, Tick),
) -> Result<(), String> {
    if real.len() != model.len() {
        return Err(format!("{} row(s) on the server, {} in the model's store", real.len(), model.len()));
    }
    // Model tokens no reply has named, and real tokens no model token is bound to.
    let named: BTreeSet<&str> = bound.values().map(String::as_str).collect();
    let mut free_m: Vec<Token> = model.iter().flat_map(|r| std::iter::once(r.token).chain(r.next_token)).collect();
    free_m.retain(|t| !bound.contains_key(t));
    free_m.sort_unstable();
    free_m.dedup();
    let mut free_r: Vec<&str> = real
        .iter()
        .flat_map(|r| std::iter::once(r.token.as_str()).chain(r.next_token.as_deref()))
        .filter(|t| !named.contains(t))
        .collect();
    free_r.sort_unstable();
    free_r.dedup();
    if free_m.len() != free_r.len() || free_m.len() > 6 {
        return Err(format!(
            "{} token(s) in the model's store and {} on the server that no reply has named",
            free_m.len(),
            free_r.len()
        ));
    }
    let mut first_err = None;
    let ok = permutations(free_r.len()).into_iter().any(|perm| {
        let mut map: BTreeMap<Token, &str> = bound.iter().map(|(&m, r)| (m, r.as_str())).collect();
        for (i, &m) in free_m.iter().enumerate() {
            map.insert(m, free_r[perm[i]]);
        }
        match same_rows(real, model, &map, clock, (from, to)) {
            Ok(()) => true,
            Err(e) => {
                first_err.get_or_insert(e);
                false
            }
        }
    });
    if ok {
        Ok(())
    } else {
        Err(first_err.unwrap_or_else(|| "no correspondence of tokens".into()))
    }
}

fn same_rows(
    real: &[RealRow],
    model: &[Row],
    map: &BTreeMap<Token, &str>,
    clock: &Clock,
    (from, to): (Tick, Tick),
) -> Result<(), String> {
    for m in model {
        let want = map.get(&m.token).copied();
        let Some(r) = real.iter().find(|r| Some(r.token.as_str()) == want) else {
            return Err(format!("model row {} has no row on the server", describe_model(m)));
        };
        let next_ok = match (m.next_token.map(|n| map.get(&n).copied()), r.next_token.as_deref()) {
            (None, None) => true,
            (Some(Some(want)), Some(got)) => want == got,
            _ => false,
        };
        if !next_ok {
            return Err(format!("model row {}: the server's next_token differs", describe_model(m)));
        }
        let (ml, rl) = (model_live(m, from, to), real_live(r, clock, from, to));
        if ml != rl {
            return Err(format!(
                "model row {} is live at ticks {}, the server's at {}",
                describe_model(m),
                live_text(&ml, from),
                live_text(&rl, from)
            ));
        }
    }
    Ok(())
}

fn describe_model(r: &Row) -> String {
    match r.next_token {
        Some(n) => format!("token={} expires={} next_token={n}", r.token, r.expires),
        None => format!("token={} expires={}", r.token, r.expires),
    }
}

fn live_text(v: &[bool], from: Tick) -> String {
    let ks: Vec<String> =
        v.iter().enumerate().filter(|(_, &l)| l).map(|(i, _)| (usize::from(from) + i).to_string()).collect();
    if ks.is_empty() {
        "none".into()
    } else {
        ks.join(",")
    }
}

/// Every permutation of `0..n`.
fn permutations(n: usize) -> Vec<Vec<usize>> {
    if n == 0 {
        return vec![vec![]];
    }
    let mut out = Vec::new();
    for p in permutations(n - 1) {
        for i in 0..=p.len() {
            let mut q = p.clone();
            q.insert(i, n - 1);
            out.push(q);
        }
    }
    out
}

/// A real table in words, tokens named by model token where bound and `new1`, `new2`, …
/// otherwise; expiry in seconds from the sign-in.
pub fn real_text(real: &[RealRow], bound: &BTreeMap<Token, String>, clock: &Clock) -> String {
    let by_real: BTreeMap<&str, Token> = bound.iter().map(|(&m, r)| (r.as_str(), m)).collect();
    let mut fresh: Vec<String> = Vec::new();
    let mut name = |t: &str| -> String {
        match by_real.get(t) {
            Some(m) => m.to_string(),
            None => {
                let k = fresh.iter().position(|x| x == t).unwrap_or_else(|| {
                    fresh.push(t.to_owned());
                    fresh.len() - 1
                });
                format!("new{}", k + 1)
            }
        }
    };
    let rows: Vec<String> = real
        .iter()
        .map(|r| {
            let secs = (r.expires_ms - clock.t0_ms) as f64 / 1000.0;
            let mut s = format!("token={} expires=+{secs:.1}s", name(&r.token));
            if let Some(n) = &r.next_token {
                s.push_str(&format!(" next_token={}", name(n)));
            }
            s
        })
        .collect();
    if rows.is_empty() {
        "no row".into()
    } else {
        rows.join("; ")
    }
}

/// A model table in words.
pub fn model_text(t: &[Row]) -> String {
    if t.is_empty() {
        return "no row".into();
    }
    t.iter().map(describe_model).collect::<Vec<_>>().join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::policy::AuthMode;

    fn row(token: Token, expires: Tick, next_token: Option<Token>) -> Row {
        Row { token, expires, next_token, kind: AuthMode::Session }
    }

    fn real(token: &str, expires_ms: i64, next: Option<&str>) -> RealRow {
        RealRow { token: token.into(), expires_ms, next_token: next.map(str::to_owned) }
    }

    const CLOCK: Clock = Clock { t0_ms: 1_000_000, tick_ms: 2000.0 };

    #[test]
    fn a_grace_row_and_its_successor_match_under_the_binding() {
        let bound: BTreeMap<Token, String> = [(1, "a".to_string()), (2, "b".to_string())].into_iter().collect();
        // Model: row 1 live through tick 1 (grace), its successor 2 through tick 4; trace ends at 2.
        let model = vec![row(1, 1, Some(2)), row(2, 4, None)];
        // Server: grace 3 s after the sign-in, successor a day.
        let server = vec![real("a", CLOCK.t0_ms + 3000, Some("b")), real("b", CLOCK.t0_ms + 86_400_000, None)];
        assert_eq!(matches(&server, &model, &bound, &CLOCK, (0, 2)), Ok(()));
        // A grace of 10 s is still live at tick 2 (4 s): the model's row is not.
        let long = vec![real("a", CLOCK.t0_ms + 10_000, Some("b")), real("b", CLOCK.t0_ms + 86_400_000, None)];
        let e = matches(&long, &model, &bound, &CLOCK, (0, 2)).unwrap_err();
        assert!(e.contains("live at ticks 0,1, the server's at 0,1,2"), "{e}");
        // A missing successor row.
        let e = matches(&server[..1], &model, &bound, &CLOCK, (0, 2)).unwrap_err();
        assert!(e.contains("1 row(s) on the server, 2 in the model's store"), "{e}");
    }

    #[test]
    fn tokens_no_reply_named_are_matched_one_to_one() {
        let bound: BTreeMap<Token, String> = [(1, "a".to_string())].into_iter().collect();
        let model = vec![row(1, 7, Some(3)), row(3, 4, None)];
        let server = vec![real("a", CLOCK.t0_ms + 60_000, Some("z")), real("z", CLOCK.t0_ms + 60_000, None)];
        assert_eq!(matches(&server, &model, &bound, &CLOCK, (0, 0)), Ok(()));
        // next_token pointing elsewhere than the unnamed row.
        let wrong = vec![real("a", CLOCK.t0_ms + 60_000, Some("y")), real("z", CLOCK.t0_ms + 60_000, None)];
        assert!(matches(&wrong, &model, &bound, &CLOCK, (0, 0)).is_err());
    }

    #[test]
    fn a_real_sqlite_file_is_read_read_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.db");
        let c = Connection::open(&path).unwrap();
        c.execute_batch(
            "CREATE TABLE directus_sessions (token TEXT PRIMARY KEY, user TEXT, expires DATETIME, next_token TEXT);
             INSERT INTO directus_sessions VALUES ('b', 'u', 1700000000000, NULL);
             INSERT INTO directus_sessions VALUES ('a', 'u', '2023-11-14 22:13:20', 'b');",
        )
        .unwrap();
        let db = Db::open(&path).unwrap();
        assert_eq!(
            db.rows().unwrap(),
            vec![real("a", 1_700_000_000_000, Some("b")), real("b", 1_700_000_000_000, None)]
        );
        assert!(matches!(Db::open(&dir.path().join("none.db")), Err(DbError::Missing(_))));
        let empty = dir.path().join("empty.db");
        Connection::open(&empty).unwrap().execute_batch("CREATE TABLE t (x)").unwrap();
        assert!(matches!(Db::open(&empty), Err(DbError::NoTable(_))));
    }
}
