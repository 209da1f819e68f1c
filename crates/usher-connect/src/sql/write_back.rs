//! The `write_back` statement of a SQL source: what the login bridge runs in legacy after it
//! migrated a user, so the old system knows (a `migrated_at` column, a flag its own login
//! reads, a row in a table of its own).
//!
//! ```toml
//! write_back = "UPDATE users SET migrated_at = now(), new_id = :user_id WHERE id = :key"
//! ```
//!
//! Two named placeholders, each becoming a bound parameter in the backend's own syntax
//! (`$n`, `?`, `?n`), never text spliced into the SQL:
//!
//! * `:key` (required): the record's legacy key, bound as an integer or text as the source's
//!   key is. A statement without it would touch every row, so it is refused.
//! * `:user_id` (optional): the new store's user id, a UUID as text.
//!
//! Placeholders are found outside string literals ('…'), quoted identifiers ("…", `…`) and
//! comments; `::` (PostgreSQL's cast) is not one. Any other `:name` is refused as a typo. On
//! PostgreSQL the parameters are typed `int8` and `text`: cast where the column is another
//! type (`WHERE id = CAST(:key AS uuid)`).

use usher_core::{ConfigProblem, LegacyKey, SourceError};

use super::Ident;
use super::source::{Endpoint, null_keys_error};

/// A bound value of the statement, in bind order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Param {
    Key,
    UserId,
}

/// A parsed `write_back` statement: the SQL around the placeholders, and which value each
/// placeholder binds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WriteBack {
    /// `pieces.len() == params.len() + 1`: piece, param, piece, ..., piece.
    pieces: Vec<String>,
    params: Vec<Param>,
}

const FIELD: &str = "write_back";

impl WriteBack {
    pub(crate) fn parse(text: &str) -> Result<Self, ConfigProblem> {
        let text = text.trim();
        if text.is_empty() {
            return Err(ConfigProblem::new(FIELD, "is empty"));
        }
        if text.ends_with(';') {
            return Err(ConfigProblem::new(
                FIELD,
                "ends with ';'; give one statement without it",
            ));
        }
        let mut pieces = Vec::new();
        let mut params = Vec::new();
        let mut piece = String::new();
        let mut chars = text.char_indices().peekable();
        while let Some((at, c)) = chars.next() {
            match c {
                '\'' | '"' | '`' => {
                    piece.push(c);
                    let mut closed = false;
                    for (_, inner) in chars.by_ref() {
                        piece.push(inner);
                        if inner == c {
                            // A doubled quote ('it''s') closes and reopens: same result.
                            closed = true;
                            break;
                        }
                    }
                    if !closed {
                        return Err(ConfigProblem::new(
                            FIELD,
                            format!("has an unclosed {c} starting at byte {at}"),
                        ));
                    }
                }
                '-' if chars.peek().is_some_and(|(_, n)| *n == '-') => {
                    return Err(ConfigProblem::new(
                        FIELD,
                        "contains a comment (--); remove it",
                    ));
                }
                '/' if chars.peek().is_some_and(|(_, n)| *n == '*') => {
                    return Err(ConfigProblem::new(
                        FIELD,
                        "contains a comment (/* */); remove it",
                    ));
                }
                ':' if chars.peek().is_some_and(|(_, n)| *n == ':') => {
                    piece.push_str("::");
                    chars.next();
                }
                ':' if chars
                    .peek()
                    .is_some_and(|(_, n)| n.is_ascii_alphabetic() || *n == '_') =>
                {
                    let mut name = String::new();
                    while let Some((_, n)) = chars.peek() {
                        if n.is_ascii_alphanumeric() || *n == '_' {
                            name.push(*n);
                            chars.next();
                        } else {
                            break;
                        }
                    }
                    let param = match name.as_str() {
                        "key" => Param::Key,
                        "user_id" => Param::UserId,
                        other => {
                            return Err(ConfigProblem::new(
                                FIELD,
                                format!(
                                    "has an unknown placeholder :{other}; the placeholders are :key and :user_id"
                                ),
                            ));
                        }
                    };
                    pieces.push(std::mem::take(&mut piece));
                    params.push(param);
                }
                other => piece.push(other),
            }
        }
        pieces.push(piece);
        if !params.contains(&Param::Key) {
            return Err(ConfigProblem::new(
                FIELD,
                "must name the record with :key (WHERE <key column> = :key); without it the statement would change every row",
            ));
        }
        Ok(WriteBack { pieces, params })
    }

    /// The statement with the i-th placeholder (1-based) written by `placeholder`.
    pub(crate) fn sql(&self, placeholder: impl Fn(usize) -> String) -> sqlx::SqlStr {
        use sqlx::SqlSafeStr as _;
        let mut out = String::new();
        let mut pieces = self.pieces.iter();
        if let Some(first) = pieces.next() {
            out.push_str(first);
        }
        for (i, piece) in (1..).zip(pieces) {
            out.push_str(&placeholder(i));
            out.push_str(piece);
        }
        sqlx::AssertSqlSafe(out).into_sql_str()
    }

    /// The values to bind, in order.
    pub(crate) fn params(&self) -> &[Param] {
        &self.params
    }
}

/// A source's write-back, rendered for its backend once.
#[derive(Debug, Clone)]
pub(crate) struct Statement {
    pub(crate) sql: sqlx::SqlStr,
    pub(crate) parsed: WriteBack,
}

impl Statement {
    /// Parses `text` (already validated) and renders it with `placeholder`.
    pub(crate) fn new(
        text: Option<&str>,
        placeholder: impl Fn(usize) -> String,
    ) -> Result<Option<Self>, ConfigProblem> {
        text.map(|text| {
            let parsed = WriteBack::parse(text)?;
            Ok(Statement {
                sql: parsed.sql(placeholder),
                parsed,
            })
        })
        .transpose()
    }
}

/// Logs what a write-back changed: nothing changed usually means its WHERE does not name the
/// record (a wrong key column), which the operator should hear about.
fn log_rows(source: &str, key: &LegacyKey, rows: u64) {
    if rows == 0 {
        tracing::warn!(
            source,
            key = %key,
            "write_back changed no rows; check that its WHERE clause names the record by :key"
        );
    } else {
        tracing::debug!(source, key = %key, rows, "write_back done");
    }
}

/// A write-back statement and the pool it runs on (the source's own, or for SQLite a
/// read-write one).
#[derive(Debug)]
pub(crate) struct On<DB: sqlx::Database> {
    pub(crate) statement: Statement,
    pub(crate) pool: sqlx::Pool<DB>,
}

/// Runs the write-back, if there is one, for record `key` migrated to `user`: the key bound
/// as an integer or text as it is, the user id as text. `Ok(false)`: none is configured;
/// `Ok(true)`: it ran (how many rows it changed, which `rows` reads from the backend's
/// result, is logged).
pub(crate) async fn mark<DB>(
    write_back: Option<&On<DB>>,
    endpoint: &Endpoint,
    (key, user): (&LegacyKey, &str),
    rows: impl FnOnce(&DB::QueryResult) -> u64,
) -> Result<bool, SourceError>
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    DB::Arguments: sqlx::IntoArguments<DB>,
{
    let Some(On { statement, pool }) = write_back else {
        return Ok(false);
    };
    let mut query = sqlx::query::<DB>(statement.sql.clone());
    for param in statement.parsed.params() {
        query = match (param, key) {
            (Param::Key, LegacyKey::Int(i)) => query.bind(*i),
            (Param::Key, LegacyKey::Text(s)) => query.bind(s.clone()),
            (Param::UserId, _) => query.bind(user.to_owned()),
        };
    }
    let done = query
        .execute(pool)
        .await
        .map_err(|e| endpoint.error(&format!("write_back for record {key}"), e))?;
    log_rows(&endpoint.source_name, key, rows(&done));
    Ok(true)
}

/// What every SQL source's healthcheck does after reading one record: no row may have a
/// NULL key (it could never be read by key), and the write-back, if any, must prepare.
pub(crate) async fn check_keys_and_write_back<DB>(
    pool: &sqlx::Pool<DB>,
    endpoint: &Endpoint,
    (null_key, key): (&sqlx::SqlStr, &Ident),
    write_back: Option<&On<DB>>,
) -> Result<(), SourceError>
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    DB::Arguments: sqlx::IntoArguments<DB>,
{
    use sqlx::Executor as _;
    let null_key = sqlx::query::<DB>(null_key.clone())
        .fetch_optional(pool)
        .await
        .map_err(|e| endpoint.error("looking for NULL keys", e))?;
    if null_key.is_some() {
        return Err(null_keys_error(endpoint, key));
    }
    if let Some(On { statement, pool }) = write_back {
        pool.prepare(statement.sql.clone())
            .await
            .map_err(|e| endpoint.error("preparing write_back", e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(text: &str, placeholder: impl Fn(usize) -> String) -> String {
        WriteBack::parse(text)
            .unwrap()
            .sql(placeholder)
            .as_str()
            .to_owned()
    }

    /// `text` with PostgreSQL's numbered parameters.
    fn numbered(text: &str) -> String {
        render(text, |i| format!("${i}"))
    }

    /// `text` with MySQL's and SQLite's positional parameters.
    fn positional(text: &str) -> String {
        render(text, |_| "?".to_owned())
    }

    #[test]
    fn placeholders_become_numbered_or_positional_parameters() {
        let text = "UPDATE users SET migrated_to = :user_id, at = now() WHERE id = :key";
        assert_eq!(
            numbered(text),
            "UPDATE users SET migrated_to = $1, at = now() WHERE id = $2"
        );
        assert_eq!(
            positional(text),
            "UPDATE users SET migrated_to = ?, at = now() WHERE id = ?"
        );
        let parsed = WriteBack::parse(text).unwrap();
        assert_eq!(parsed.params(), [Param::UserId, Param::Key]);
    }

    #[test]
    fn casts_strings_and_quoted_names_are_left_alone() {
        let text = "UPDATE \"a:b\" SET note = 'moved :user_id', f = `x:key` WHERE id = CAST(:key AS uuid) AND t = :key::text";
        assert_eq!(
            numbered(text),
            "UPDATE \"a:b\" SET note = 'moved :user_id', f = `x:key` WHERE id = CAST($1 AS uuid) AND t = $2::text"
        );
        assert_eq!(
            positional("UPDATE u SET n = 'it''s :key' WHERE id = :key"),
            "UPDATE u SET n = 'it''s :key' WHERE id = ?"
        );
    }

    #[test]
    fn a_statement_that_could_touch_every_row_or_hides_a_typo_is_refused() {
        for (bad, says) in [
            ("UPDATE users SET migrated = 1", ":key"),
            ("UPDATE users SET migrated = 1 WHERE id = ':key'", ":key"),
            ("UPDATE users SET migrated = 1 WHERE id = :id", ":id"),
            ("UPDATE users SET m = 1 WHERE id = :key;", "';'"),
            ("UPDATE users SET m = 1 WHERE id = :key -- x", "comment"),
            ("UPDATE users SET m = 1 /* x */ WHERE id = :key", "comment"),
            ("UPDATE users SET m = 'x WHERE id = :key", "unclosed"),
            ("   ", "empty"),
        ] {
            let err = WriteBack::parse(bad).unwrap_err();
            assert_eq!(err.key, "write_back");
            assert!(err.reason.contains(says), "{bad:?}: {err}");
        }
    }
}
