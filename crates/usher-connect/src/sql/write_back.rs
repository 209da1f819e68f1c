//! A SQL source's writes to legacy: the statements usher runs in the legacy database to keep
//! it true while both systems live (each delivered from the outbox, at least once and in
//! order per user).
//!
//! ```toml
//! [sources.app]
//! # the record moved (the write-back)
//! write_back = "UPDATE users SET migrated_at = now(), new_id = :user_id WHERE id = :key"
//!
//! [sources.app.writes]
//! set_password = "UPDATE users SET password_hash = :password_hash WHERE id = :key"
//! set_email = "UPDATE users SET email = :email, email_confirmed = :email_verified WHERE id = :key"
//! disable = "UPDATE users SET active = false WHERE id = :key"
//! enable = "UPDATE users SET active = true WHERE id = :key"
//! delete = "DELETE FROM users WHERE id = :key"
//! idempotency_table = "usher_applied"   # optional: each write applied once, see below
//! ```
//!
//! Named placeholders, each becoming a bound parameter in the backend's own syntax (`$n`,
//! `?`, `?n`), never text spliced into the SQL:
//!
//! * `:key` (required in every statement): the record's legacy key, bound as an integer or
//!   text as the source's key is. A statement without it would touch every row, so it is
//!   refused.
//! * `:idempotency_key` (any statement): the write's key, text, the same on every delivery.
//! * `:user_id` (`write_back`): the new store's user id, a UUID as text.
//! * `:password_hash` (`set_password`): the hash, in the scheme the source's bridge names.
//! * `:email`, `:email_verified` (`set_email`): text, and a boolean.
//!
//! Placeholders are found outside string literals ('…'), quoted identifiers ("…", `…`) and
//! comments; `::` (PostgreSQL's cast) is not one. Any other `:name` is refused as a typo. On
//! PostgreSQL the parameters are typed `int8`, `text` and `bool`: cast where the column is
//! another type (`WHERE id = CAST(:key AS uuid)`).
//!
//! With `idempotency_table`, each write runs in one legacy transaction with an insert of its
//! key into that table (one text column, `idempotency_key`, its primary key): a key already
//! there means the write was applied before, and nothing runs again. Without it, a write that
//! is delivered twice (a worker killed between legacy's commit and the outbox's) runs twice,
//! so each statement must be idempotent (`SET x = :value` is; `SET n = n + 1` is not).

use serde::Deserialize;
use usher_core::{ConfigProblem, LegacyKey, LegacyWrite, SourceError, Written};

use super::Ident;
use super::source::{Endpoint, null_keys_error};

/// A bound value of a statement, in bind order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Param {
    Key,
    IdempotencyKey,
    UserId,
    PasswordHash,
    Email,
    EmailVerified,
}

impl Param {
    const ALL: [(Param, &'static str); 6] = [
        (Param::Key, "key"),
        (Param::IdempotencyKey, "idempotency_key"),
        (Param::UserId, "user_id"),
        (Param::PasswordHash, "password_hash"),
        (Param::Email, "email"),
        (Param::EmailVerified, "email_verified"),
    ];

    fn name(self) -> &'static str {
        Param::ALL
            .iter()
            .find(|(p, _)| *p == self)
            .map_or("?", |(_, n)| n)
    }
}

/// Each operation: its config key, and the placeholders its statement may use.
const OPS: [(&str, &str, &[Param]); 6] = [
    (
        "mark_migrated",
        "write_back",
        &[Param::Key, Param::IdempotencyKey, Param::UserId],
    ),
    (
        "set_password",
        "writes.set_password",
        &[Param::Key, Param::IdempotencyKey, Param::PasswordHash],
    ),
    (
        "set_email",
        "writes.set_email",
        &[
            Param::Key,
            Param::IdempotencyKey,
            Param::Email,
            Param::EmailVerified,
        ],
    ),
    (
        "disable",
        "writes.disable",
        &[Param::Key, Param::IdempotencyKey],
    ),
    (
        "enable",
        "writes.enable",
        &[Param::Key, Param::IdempotencyKey],
    ),
    (
        "delete",
        "writes.delete",
        &[Param::Key, Param::IdempotencyKey],
    ),
];

/// `[sources.<name>.writes]`: the statements of the writes other than the write-back.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqlWrites {
    /// Legacy's copy of a changed password (`:password_hash`).
    pub set_password: Option<String>,
    /// A changed address (`:email`, `:email_verified`).
    pub set_email: Option<String>,
    /// The account disabled.
    pub disable: Option<String>,
    /// The account enabled again.
    pub enable: Option<String>,
    /// The account deleted.
    pub delete: Option<String>,
    /// A table of applied idempotency keys, written in the same legacy transaction as each
    /// write, so that each is applied once.
    pub idempotency_table: Option<String>,
}

/// A parsed statement: the SQL around the placeholders, and which value each placeholder binds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WriteBack {
    /// `pieces.len() == params.len() + 1`: piece, param, piece, ..., piece.
    pieces: Vec<String>,
    params: Vec<Param>,
}

impl WriteBack {
    /// Parses the statement of config key `field`, whose placeholders may be `allowed`.
    pub(crate) fn parse(
        text: &str,
        field: &'static str,
        allowed: &[Param],
    ) -> Result<Self, ConfigProblem> {
        let text = text.trim();
        if text.is_empty() {
            return Err(ConfigProblem::new(field, "is empty"));
        }
        if text.ends_with(';') {
            return Err(ConfigProblem::new(
                field,
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
                            field,
                            format!("has an unclosed {c} starting at byte {at}"),
                        ));
                    }
                }
                '-' if chars.peek().is_some_and(|(_, n)| *n == '-') => {
                    return Err(ConfigProblem::new(
                        field,
                        "contains a comment (--); remove it",
                    ));
                }
                '/' if chars.peek().is_some_and(|(_, n)| *n == '*') => {
                    return Err(ConfigProblem::new(
                        field,
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
                    let param = allowed
                        .iter()
                        .copied()
                        .find(|p| p.name() == name)
                        .ok_or_else(|| {
                            let names: Vec<String> =
                                allowed.iter().map(|p| format!(":{}", p.name())).collect();
                            ConfigProblem::new(
                                field,
                                format!(
                                    "has an unknown placeholder :{name}; its placeholders are {}",
                                    names.join(", ")
                                ),
                            )
                        })?;
                    pieces.push(std::mem::take(&mut piece));
                    params.push(param);
                }
                other => piece.push(other),
            }
        }
        pieces.push(piece);
        if !params.contains(&Param::Key) {
            return Err(ConfigProblem::new(
                field,
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

/// One operation's statement, rendered for its backend once.
#[derive(Debug, Clone)]
pub(crate) struct Statement {
    pub(crate) op: &'static str,
    pub(crate) sql: sqlx::SqlStr,
    pub(crate) parsed: WriteBack,
}

/// A source's writes, parsed and rendered: what [`Writer`] runs.
#[derive(Debug, Clone, Default)]
pub(crate) struct Statements {
    pub(crate) statements: Vec<Statement>,
    /// The insert of an idempotency key into `idempotency_table`.
    pub(crate) applied: Option<sqlx::SqlStr>,
}

/// How a dialect writes "insert this key unless it is there": the statement's text before the
/// table, and after the values.
pub(crate) type InsertIgnore = (&'static str, &'static str);

impl Statements {
    /// Parses the write-back and the `writes` table, with every problem keyed within the
    /// source's table; `placeholder` and `quote` render them for the backend.
    pub(crate) fn new(
        write_back: Option<&str>,
        writes: Option<&SqlWrites>,
        (placeholder, quote, ignore): (fn(usize) -> String, char, InsertIgnore),
    ) -> Result<Self, Vec<ConfigProblem>> {
        let empty = SqlWrites::default();
        let writes = writes.unwrap_or(&empty);
        let texts = [
            write_back,
            writes.set_password.as_deref(),
            writes.set_email.as_deref(),
            writes.disable.as_deref(),
            writes.enable.as_deref(),
            writes.delete.as_deref(),
        ];
        let mut problems = Vec::new();
        let mut statements = Vec::new();
        for ((op, field, allowed), text) in OPS.iter().zip(texts) {
            let Some(text) = text else { continue };
            match WriteBack::parse(text, field, allowed) {
                Ok(parsed) => statements.push(Statement {
                    op,
                    sql: parsed.sql(placeholder),
                    parsed,
                }),
                Err(p) => problems.push(p),
            }
        }
        let applied = match writes.idempotency_table.as_deref() {
            None => None,
            Some(table) => match Ident::parse("writes.idempotency_table", table) {
                Ok(table) => {
                    let (before, after) = ignore;
                    Some(sql(format!(
                        "{before} {} (idempotency_key) VALUES ({}){after}",
                        table.quoted(quote),
                        placeholder(1)
                    )))
                }
                Err(p) => {
                    problems.push(p);
                    None
                }
            },
        };
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Statements {
            statements,
            applied,
        })
    }

    pub(crate) fn statement(&self, op: &str) -> Option<&Statement> {
        self.statements.iter().find(|s| s.op == op)
    }
}

fn sql(text: String) -> sqlx::SqlStr {
    use sqlx::SqlSafeStr as _;
    sqlx::AssertSqlSafe(text).into_sql_str()
}

/// Logs what a write changed: nothing changed usually means its WHERE does not name the
/// record (a wrong key column), which the operator should hear about.
fn log_rows(source: &str, op: &str, key: &LegacyKey, rows: u64) {
    if rows == 0 {
        tracing::warn!(
            source,
            op,
            key = %key,
            "a write to legacy changed no rows; check that its WHERE clause names the record by :key"
        );
    } else {
        tracing::debug!(source, op, key = %key, rows, "write to legacy done");
    }
}

/// A source's writes and the pool they run on (the source's own, or for SQLite a read-write
/// one).
#[derive(Debug)]
pub(crate) struct Writer<DB: sqlx::Database> {
    pub(crate) statements: Statements,
    pub(crate) pool: sqlx::Pool<DB>,
}

/// Runs each write's statement, if the source has one, in one legacy transaction: the key
/// bound as an integer or text as it is, the other values as text or a boolean, each after
/// the insert of its idempotency key when the source keeps them (a key already there: that
/// write was applied before, and its statement does not run). All commit together, or none
/// does. `rows` reads how many rows a statement changed from the backend's result (logged).
pub(crate) async fn write_many<DB>(
    writer: Option<&Writer<DB>>,
    endpoint: &Endpoint,
    writes: &[(LegacyWrite, String)],
    rows: fn(&DB::QueryResult) -> u64,
) -> Result<Vec<Written>, SourceError>
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> bool: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    DB::Arguments: sqlx::IntoArguments<DB>,
{
    let mut outcomes = vec![Written::NotConfigured; writes.len()];
    let Some(writer) = writer else {
        return Ok(outcomes);
    };
    let mut tx = None;
    let mut changed = Vec::new();
    for ((write, idempotency_key), outcome) in writes.iter().zip(outcomes.iter_mut()) {
        let op = write.op();
        let Some(statement) = writer.statements.statement(op) else {
            continue;
        };
        let key = write.key();
        let context = format!("{op} for record {key}");
        let error = |e| endpoint.error(&context, e);
        let mut query = sqlx::query::<DB>(statement.sql.clone());
        for param in statement.parsed.params() {
            query = match (param, write) {
                (Param::Key, _) => match key {
                    LegacyKey::Int(i) => query.bind(*i),
                    LegacyKey::Text(s) => query.bind(s.clone()),
                },
                (Param::IdempotencyKey, _) => query.bind(idempotency_key.clone()),
                (Param::UserId, LegacyWrite::MarkMigrated { user_id, .. }) => {
                    query.bind(user_id.to_string())
                }
                (Param::PasswordHash, LegacyWrite::SetPassword { password_hash, .. }) => {
                    query.bind(password_hash.clone())
                }
                (Param::Email, LegacyWrite::SetEmail { email, .. }) => query.bind(email.clone()),
                (Param::EmailVerified, LegacyWrite::SetEmail { email_verified, .. }) => {
                    query.bind(*email_verified)
                }
                // Parsing allowed only the operation's own placeholders.
                (other, _) => {
                    return Err(endpoint.query_error(format!(
                        "{context}: :{} is not a value of {op}",
                        other.name()
                    )));
                }
            };
        }
        let tx = match &mut tx {
            Some(tx) => tx,
            None => tx.insert(writer.pool.begin().await.map_err(error)?),
        };
        if let Some(applied) = &writer.statements.applied {
            let inserted = sqlx::query::<DB>(applied.clone())
                .bind(idempotency_key.clone())
                .execute(&mut **tx)
                .await
                .map_err(error)?;
            if rows(&inserted) == 0 {
                *outcome = Written::Again;
                continue;
            }
        }
        let done = query.execute(&mut **tx).await.map_err(error)?;
        changed.push((op, key, rows(&done)));
        *outcome = Written::Applied;
    }
    if let Some(tx) = tx {
        tx.commit()
            .await
            .map_err(|e| endpoint.error("committing writes", e))?;
    }
    for (op, key, n) in changed {
        log_rows(&endpoint.source_name, op, key, n);
    }
    Ok(outcomes)
}

/// What every SQL source's healthcheck does after reading one record: no row may have a
/// NULL key (it could never be read by key), and the writes, if any, must prepare.
pub(crate) async fn check_keys_and_writes<DB>(
    pool: &sqlx::Pool<DB>,
    endpoint: &Endpoint,
    (null_key, key): (&sqlx::SqlStr, &Ident),
    writer: Option<&Writer<DB>>,
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
    if let Some(Writer { statements, pool }) = writer {
        for s in &statements.statements {
            pool.prepare(s.sql.clone())
                .await
                .map_err(|e| endpoint.error(&format!("preparing {}", s.op), e))?;
        }
        if let Some(applied) = &statements.applied {
            pool.prepare(applied.clone())
                .await
                .map_err(|e| endpoint.error("preparing the insert into idempotency_table", e))?;
        }
    }
    Ok(())
}
#[cfg(test)]
mod tests {
    use super::*;

    /// The write-back's placeholders.
    const MARK: &[Param] = OPS[0].2;

    fn render(text: &str, placeholder: impl Fn(usize) -> String) -> String {
        WriteBack::parse(text, "write_back", MARK)
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
        let parsed = WriteBack::parse(text, "write_back", MARK).unwrap();
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
            let err = WriteBack::parse(bad, "write_back", MARK).unwrap_err();
            assert_eq!(err.key, "write_back");
            assert!(err.reason.contains(says), "{bad:?}: {err}");
        }
    }

    #[test]
    fn each_operation_takes_its_own_placeholders_and_every_problem_is_named() {
        let writes: SqlWrites = toml::from_str(
            "set_password = 'UPDATE u SET h = :password_hash WHERE id = :key'\n\
             set_email = 'UPDATE u SET e = :email, v = :email_verified, h = :password_hash WHERE id = :key'\n\
             delete = 'DELETE FROM u'\n\
             idempotency_table = 'a.b'",
        )
        .unwrap();
        let render = (
            (|i| format!("${i}")) as fn(usize) -> String,
            '"',
            ("INSERT INTO", " ON CONFLICT DO NOTHING"),
        );
        let problems = Statements::new(
            Some("UPDATE u SET m = :user_id WHERE id = :key"),
            Some(&writes),
            render,
        )
        .unwrap_err();
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "writes.set_email",
                "writes.delete",
                "writes.idempotency_table"
            ]
        );
        assert!(
            problems[0].reason.contains(":password_hash"),
            "{}",
            problems[0]
        );
        assert!(problems[1].reason.contains(":key"), "{}", problems[1]);

        let ok = SqlWrites {
            disable: Some("UPDATE u SET off = true WHERE id = :key".into()),
            idempotency_table: Some("usher_applied".into()),
            ..SqlWrites::default()
        };
        let statements = Statements::new(None, Some(&ok), render).unwrap();
        assert!(statements.statement("disable").is_some());
        assert!(statements.statement("mark_migrated").is_none());
        assert_eq!(
            statements.applied.as_ref().map(|s| s.as_str()),
            Some(
                "INSERT INTO \"usher_applied\" (idempotency_key) VALUES ($1) ON CONFLICT DO NOTHING"
            )
        );
    }
}
