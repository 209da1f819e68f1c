//! Legacy users in SQL databases: one [`Source`](usher_core::Source) over a table or a query,
//! read by a stable key in the database's own order, for PostgreSQL ([`postgres`]), MySQL and
//! MariaDB ([`mysql`]) and SQLite ([`sqlite`]).
//!
//! One source (`source.rs`) holds the pool, the timeouts and the read, lookup, count, bounds
//! and healthcheck flow; a dialect per database says what differs: quoting, placeholders, how
//! the [connection options](SqlConnection) reach the driver, what the first read learns about
//! the columns, and how values become JSON (`value.rs` has the conversions they share). Each
//! kind's config nests the same [`SqlConnection`] and [`SqlSelection`], written flat under
//! `[sources.<name>]`.
//!
//! Every read is one keyset query over the configured relation:
//!
//! ```sql
//! SELECT <key>, <columns> FROM <table or (query)> AS usher_src
//!  WHERE <key> > $after AND <key> <= $until ORDER BY <key> LIMIT $n
//! ```
//!
//! Identifiers come from the configuration, are validated by [`Ident::parse`] and always quoted;
//! values (the cursor, the limit) are always bound parameters. Text keys are compared and
//! ordered by the database with the key column's collation; the cursor goes back to the
//! database as it came out, never compared in Rust.
//!
//! # Lookups by login identifier
//!
//! [`Source::lookup`](usher_core::Source::lookup) (the login bridge, on a user's first login)
//! is the same SELECT list over the same relation, so a looked-up record is the record a
//! backfill reads (same fields, same checksum), filtered by one column compared ignoring
//! case, the value always a bound parameter:
//!
//! ```sql
//! SELECT <key>, <columns> FROM <table or (query)> AS usher_src
//!  WHERE <key> IS NOT NULL AND lower(<field>) = lower($value) ORDER BY <key> LIMIT $n
//! ```
//!
//! The field must be a plain column name (checked by [`Ident::parse`], then quoted); with a
//! `columns` list it must be one of them or the key. Each field's statement is built once per
//! source and kept.
//!
//! **Indexes.** `lower(<field>)` cannot use a plain index on the column, so every lookup scans
//! the legacy table unless it has an index on the lowered column, and the bridge does one per
//! first login. Add one before opening the bridge:
//!
//! * PostgreSQL: `CREATE INDEX ON users (lower(email));` (also used through a `query`
//!   source, whose filter PostgreSQL pushes into the subquery).
//! * MySQL 8.0.13+: a functional index, `CREATE INDEX users_email_lower ON users
//!   ((LOWER(email)));`. MariaDB has no functional indexes; an indexed virtual column
//!   `AS (LOWER(email))` is only used where its optimizer substitutes such columns for the
//!   expression (recent releases; check with `EXPLAIN`), else lookups scan. A
//!   case-insensitive collation (`utf8mb4_*_ci`) already compares ignoring case, but the
//!   lookup still wraps the column in `LOWER()`, so an index on the bare column is not used.
//! * SQLite: `CREATE INDEX users_email_lower ON users (lower(email));`. SQLite's `lower()`
//!   folds ASCII letters only (unless the ICU extension is loaded): `ÉMILE@…` does not find
//!   `émile@…`.

mod connection;
pub mod mysql;
pub mod postgres;
mod source;
pub mod sqlite;
mod value;
pub mod write_back;

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use usher_core::config::keep;
use usher_core::{ConfigProblem, KeyRange};

pub use connection::{SqlConnection, TlsMode};
pub(crate) use value::bytes_value;

/// The longest identifier usher accepts, in bytes: PostgreSQL's limit (MySQL allows 64 chars).
const MAX_IDENT_BYTES: usize = 63;

/// A table, schema or column name from the configuration, checked so that quoting it is always
/// safe and always means what the user wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ident(String);

impl Ident {
    /// Accepts 1 to 63 bytes of printable text (spaces and non-ASCII letters included) without
    /// quotes, backslashes, semicolons, dots or surrounding whitespace. A dot is refused rather
    /// than read as `schema.table`: the schema has its own option.
    pub fn parse(field: &'static str, name: &str) -> Result<Self, ConfigProblem> {
        let bad = |why: &str| Err(ConfigProblem::new(field, format!("{name:?} {why}")));
        if name.is_empty() {
            return Err(ConfigProblem::new(field, "is empty"));
        }
        if name.len() > MAX_IDENT_BYTES {
            return bad("is longer than 63 bytes");
        }
        if name.trim() != name {
            return bad("starts or ends with whitespace");
        }
        if let Some(c) = name
            .chars()
            .find(|c| c.is_control() || matches!(c, '"' | '`' | '\'' | '\\' | ';'))
        {
            return bad(&format!("contains {c:?}, which no legacy identifier needs"));
        }
        if name.contains('.') {
            return bad("contains '.'; give the schema in `schema` and the table alone in `table`");
        }
        Ok(Ident(name.to_owned()))
    }

    /// The name as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name quoted with `quote` (`"` for PostgreSQL and SQLite, `` ` `` for MySQL). `parse`
    /// refuses quote characters, so there is nothing to escape; doubling them anyway keeps this
    /// safe on its own.
    pub(crate) fn quoted(&self, quote: char) -> String {
        let doubled: String = [quote, quote].iter().collect();
        let inner = self.0.replace(quote, &doubled);
        format!("{quote}{inner}{quote}")
    }
}

/// What rows a source reads: a table or the user's query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Relation {
    Table { schema: Option<Ident>, table: Ident },
    Query(String),
}

/// The validated selection every SQL source shares: the relation, the key and the columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Selection {
    pub(crate) relation: Relation,
    pub(crate) key: Ident,
    /// `None`: every column of the relation.
    pub(crate) columns: Option<Vec<Ident>>,
    /// Text columns whose values are JSON documents, parsed into JSON.
    pub(crate) json_columns: Vec<Ident>,
}

/// What a SQL source reads, as configured (flat under `[sources.<name>]`, beside the
/// [connection](SqlConnection) options): a table (in a schema) or a query, the key, the columns.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SqlSelection {
    /// The table's schema (MySQL: its database); default the connection's. Not for SQLite.
    pub schema: Option<String>,
    /// The table to read. Give this or `query`.
    pub table: Option<String>,
    /// A full SELECT, read as a subquery so the keyset filter still applies.
    pub query: Option<String>,
    /// The stable, unique, non-NULL key column records are read in order of.
    pub key: String,
    /// The columns to read; default every column.
    pub columns: Option<Vec<String>>,
    /// Text columns holding JSON documents, parsed into JSON.
    pub json_columns: Vec<String>,
}

/// The alias every relation gets, so `query` and `table` sources share one SQL shape.
pub(crate) const ALIAS: &str = "usher_src";

impl Selection {
    /// The selection `spec` describes, or every problem it has (keyed within the source's
    /// table: `table`, `key`, `columns`...).
    pub(crate) fn parse(spec: &SqlSelection) -> Result<Self, Vec<ConfigProblem>> {
        let mut problems = Vec::new();
        let relation = keep(&mut problems, Self::relation(spec));
        let key = keep(&mut problems, Ident::parse("key", &spec.key));
        let columns = match spec.columns.as_deref() {
            None => Some(None),
            Some([]) => keep(
                &mut problems,
                Err(ConfigProblem::new(
                    "columns",
                    "is empty; leave it out to read every column",
                )),
            ),
            Some(names) => keep(&mut problems, unique_idents("columns", names)).map(Some),
        };
        let json_columns = keep(
            &mut problems,
            unique_idents("json_columns", &spec.json_columns),
        );
        let unselected = match (&columns, &json_columns) {
            (Some(Some(columns)), Some(json_columns)) => {
                json_columns.iter().find(|j| !columns.contains(j))
            }
            _ => None,
        };
        if let Some(missing) = unselected {
            problems.push(ConfigProblem::new(
                "json_columns",
                format!("{:?} is not in `columns`", missing.as_str()),
            ));
        }
        match (relation, key, columns, json_columns) {
            (Some(relation), Some(key), Some(columns), Some(json_columns))
                if problems.is_empty() =>
            {
                Ok(Selection {
                    relation,
                    key,
                    columns,
                    json_columns,
                })
            }
            _ => Err(problems),
        }
    }

    /// The table (in its schema) or the query.
    fn relation(spec: &SqlSelection) -> Result<Relation, ConfigProblem> {
        Ok(match (spec.table.as_deref(), spec.query.as_deref()) {
            (Some(table), None) => Relation::Table {
                schema: (spec.schema.as_deref())
                    .map(|s| Ident::parse("schema", s))
                    .transpose()?,
                table: Ident::parse("table", table)?,
            },
            (None, Some(query)) => {
                if spec.schema.is_some() {
                    return Err(ConfigProblem::new(
                        "schema",
                        "goes with `table`; qualify the names inside `query` instead",
                    ));
                }
                let query = query.trim();
                if query.is_empty() {
                    return Err(ConfigProblem::new("query", "is empty"));
                }
                if query.ends_with(';') {
                    return Err(ConfigProblem::new(
                        "query",
                        "ends with ';'; give one SELECT without it (usher wraps it as a subquery)",
                    ));
                }
                Relation::Query(query.to_owned())
            }
            (Some(_), Some(_)) => {
                return Err(ConfigProblem::new(
                    "table",
                    "give `table` or `query`, not both",
                ));
            }
            (None, None) => {
                return Err(ConfigProblem::new(
                    "table",
                    "missing: give `table` (and optionally `schema`) or `query`",
                ));
            }
        })
    }

    /// `FROM <relation> AS usher_src`.
    pub(crate) fn relation_sql(&self, quote: char) -> String {
        match &self.relation {
            Relation::Table { schema, table } => match schema {
                Some(schema) => format!(
                    "FROM {}.{} AS {ALIAS}",
                    schema.quoted(quote),
                    table.quoted(quote)
                ),
                None => format!("FROM {} AS {ALIAS}", table.quoted(quote)),
            },
            Relation::Query(query) => format!("FROM ({query}) AS {ALIAS}"),
        }
    }

    /// `usher_src.<key>`.
    pub(crate) fn key_expr(&self, quote: char) -> String {
        format!("{ALIAS}.{}", self.key.quoted(quote))
    }

    /// The configured columns as `usher_src.<c>, ...`, or `usher_src.*`.
    pub(crate) fn column_list(&self, quote: char) -> String {
        match &self.columns {
            None => format!("{ALIAS}.*"),
            Some(columns) => columns
                .iter()
                .map(|c| format!("{ALIAS}.{}", c.quoted(quote)))
                .collect::<Vec<_>>()
                .join(", "),
        }
    }

    pub(crate) fn is_json_column(&self, name: &str) -> bool {
        self.json_columns.iter().any(|j| j.as_str() == name)
    }

    /// The column a lookup filters on: a plain column name, and with a `columns` list one of
    /// them or the key. Checked without connecting; the database reports a column that does
    /// not exist.
    pub(crate) fn lookup_column(&self, field: &str) -> Result<Ident, ConfigProblem> {
        let column = Ident::parse("lookup field", field)?;
        match &self.columns {
            Some(columns) if column != self.key && !columns.contains(&column) => {
                Err(ConfigProblem::new(
                    "lookup field",
                    format!("{field:?} is neither the key nor one of the configured `columns`"),
                ))
            }
            _ => Ok(column),
        }
    }

    /// `usher_src.<column>`.
    pub(crate) fn column_expr(column: &Ident, quote: char) -> String {
        format!("{ALIAS}.{}", column.quoted(quote))
    }
}

fn unique_idents(field: &'static str, names: &[String]) -> Result<Vec<Ident>, ConfigProblem> {
    let mut out: Vec<Ident> = Vec::with_capacity(names.len());
    for name in names {
        let ident = Ident::parse(field, name)?;
        if out.contains(&ident) {
            return Err(ConfigProblem::new(
                field,
                format!("{name:?} is listed twice"),
            ));
        }
        out.push(ident);
    }
    Ok(out)
}

/// The four shapes of a keyset read, built once per source: which bounds the range has decides
/// which one runs, so no SQL is assembled per call.
#[derive(Debug, Clone)]
pub(crate) struct ReadSql {
    /// No lower bound: the start of the relation. Rows whose key is NULL are left out here as
    /// every bounded read leaves them out (`NULL > x` is never true); `null_key` finds them.
    pub(crate) open: sqlx::SqlStr,
    pub(crate) after: sqlx::SqlStr,
    pub(crate) until: sqlx::SqlStr,
    pub(crate) between: sqlx::SqlStr,
    /// One row whose key is NULL, if any: such rows cannot be read by key.
    pub(crate) null_key: sqlx::SqlStr,
    /// The SELECT (list and FROM) every read shares, for lookups.
    select: String,
    /// The key expression, for lookups.
    key: String,
}

impl ReadSql {
    /// `param(i)` writes the i-th placeholder (1-based) for a key bound (already wrapped in
    /// any cast the key needs); `limit(i)` the LIMIT placeholder.
    pub(crate) fn build(
        select: &str,
        from: &str,
        key: &str,
        param: impl Fn(usize) -> String,
        limit: impl Fn(usize) -> String,
    ) -> Self {
        use sqlx::SqlSafeStr as _;
        let sql = |filter: String, limit_at: usize| {
            sqlx::AssertSqlSafe(format!(
                "{select}{filter} ORDER BY {key} LIMIT {}",
                limit(limit_at)
            ))
            .into_sql_str()
        };
        ReadSql {
            open: sql(format!(" WHERE {key} IS NOT NULL"), 1),
            after: sql(format!(" WHERE {key} > {}", param(1)), 2),
            until: sql(format!(" WHERE {key} <= {}", param(1)), 2),
            between: sql(
                format!(" WHERE {key} > {} AND {key} <= {}", param(1), param(2)),
                3,
            ),
            null_key: sqlx::AssertSqlSafe(format!("SELECT 1 {from} WHERE {key} IS NULL LIMIT 1"))
                .into_sql_str(),
            select: select.to_owned(),
            key: key.to_owned(),
        }
    }

    /// A lookup: the reads' SELECT, rows whose `column` equals the value ignoring case and
    /// surrounding spaces (as the mapping's `trim` + `lowercase` would read it), in key order. `lower` is the backend's spelling of the function; `value` and `limit` are the
    /// placeholders. Rows with a NULL key are left out as every read leaves them out.
    pub(crate) fn lookup(
        &self,
        column: &str,
        lower: &str,
        value: &str,
        limit: &str,
    ) -> sqlx::SqlStr {
        use sqlx::SqlSafeStr as _;
        let (select, key) = (&self.select, &self.key);
        sqlx::AssertSqlSafe(format!(
            "{select} WHERE {key} IS NOT NULL AND {lower}(TRIM({column})) = {lower}(TRIM({value})) \
             ORDER BY {key} LIMIT {limit}"
        ))
        .into_sql_str()
    }

    pub(crate) fn pick(&self, range: &KeyRange) -> &sqlx::SqlStr {
        match (&range.after, &range.until) {
            (None, None) => &self.open,
            (Some(_), None) => &self.after,
            (None, Some(_)) => &self.until,
            (Some(_), Some(_)) => &self.between,
        }
    }
}

/// The most lookup statements a source keeps (one per field; the bridge uses one or two).
/// Past it, a statement is built per call rather than growing the cache without bound.
const MAX_CACHED_LOOKUPS: usize = 32;

/// Lookup statements by field, each built on first use and kept for the source's life.
#[derive(Debug, Default)]
pub(crate) struct LookupCache {
    by_field: Mutex<HashMap<String, sqlx::SqlStr>>,
}

impl LookupCache {
    /// The statement for `column`, built by `build` the first time.
    pub(crate) fn get_or_build(
        &self,
        column: &Ident,
        build: impl FnOnce() -> sqlx::SqlStr,
    ) -> sqlx::SqlStr {
        // The lock is never held across an await or a panic point; a poisoned map is still a
        // valid map of finished statements.
        let mut by_field = self.by_field.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(sql) = by_field.get(column.as_str()) {
            return sql.clone();
        }
        let sql = build();
        if by_field.len() < MAX_CACHED_LOOKUPS {
            by_field.insert(column.as_str().to_owned(), sql.clone());
        }
        sql
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.by_field
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(table: Option<&str>, query: Option<&str>) -> SqlSelection {
        SqlSelection {
            schema: None,
            table: table.map(str::to_owned),
            query: query.map(str::to_owned),
            key: "id".to_owned(),
            columns: None,
            json_columns: Vec::new(),
        }
    }

    #[test]
    fn identifiers_with_spaces_and_accents_are_quoted() {
        let id = Ident::parse("columns", "phone num").unwrap();
        assert_eq!(id.quoted('"'), "\"phone num\"");
        assert_eq!(id.quoted('`'), "`phone num`");
        assert!(Ident::parse("table", "utilisateurs_été").is_ok());
    }

    #[test]
    fn identifiers_that_could_break_out_of_quotes_are_refused() {
        for bad in [
            "",
            "users\"; DROP TABLE x; --",
            "a`b",
            "it's",
            "back\\slash",
            "semi;colon",
            "public.users",
            " users",
            "tab\there",
            "nul\0",
            &"x".repeat(64),
        ] {
            assert!(Ident::parse("table", bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn a_selection_needs_exactly_one_of_table_and_query() {
        assert!(Selection::parse(&spec(Some("users"), None)).is_ok());
        assert!(Selection::parse(&spec(None, Some("SELECT * FROM users"))).is_ok());
        assert!(Selection::parse(&spec(None, None)).is_err());
        assert!(Selection::parse(&spec(Some("users"), Some("SELECT 1"))).is_err());
        assert!(Selection::parse(&spec(None, Some("SELECT 1;"))).is_err());
    }

    #[test]
    fn json_columns_must_be_selected_and_columns_must_be_unique() {
        let columns = vec!["id".to_owned(), "email".to_owned()];
        let json = vec!["prefs".to_owned()];
        let mut s = spec(Some("users"), None);
        s.columns = Some(columns);
        s.json_columns = json;
        assert_eq!(Selection::parse(&s).unwrap_err()[0].key, "json_columns");
        let twice = vec!["id".to_owned(), "id".to_owned()];
        let mut s = spec(Some("users"), None);
        s.columns = Some(twice);
        assert_eq!(Selection::parse(&s).unwrap_err()[0].key, "columns");
    }

    /// The reads of `sel` as PostgreSQL words them (double quotes, `$n` parameters).
    fn postgres_reads(sel: &Selection) -> ReadSql {
        let from = sel.relation_sql('"');
        let select = format!("SELECT {} {from}", sel.column_list('"'));
        let key = sel.key_expr('"');
        ReadSql::build(
            &select,
            &from,
            &key,
            |i| format!("${i}"),
            |i| format!("${i}"),
        )
    }

    #[test]
    fn reads_are_keyset_queries_over_the_aliased_relation() {
        let mut s = spec(Some("users"), None);
        s.schema = Some("legacy".to_owned());
        let sel = Selection::parse(&s).unwrap();
        let sql = postgres_reads(&sel);
        assert_eq!(
            sql.between.as_str(),
            "SELECT usher_src.* FROM \"legacy\".\"users\" AS usher_src WHERE usher_src.\"id\" > $1 AND usher_src.\"id\" <= $2 ORDER BY usher_src.\"id\" LIMIT $3"
        );
        assert_eq!(
            sql.open.as_str(),
            "SELECT usher_src.* FROM \"legacy\".\"users\" AS usher_src WHERE usher_src.\"id\" IS NOT NULL ORDER BY usher_src.\"id\" LIMIT $1"
        );
    }

    #[test]
    fn lookups_filter_one_quoted_column_ignoring_case_with_bound_values() {
        let sel = Selection::parse(&spec(Some("users"), None)).unwrap();
        let reads = postgres_reads(&sel);
        let column = sel.lookup_column("e mail").unwrap();
        let sql = reads.lookup(&Selection::column_expr(&column, '"'), "lower", "$1", "$2");
        assert_eq!(
            sql.as_str(),
            "SELECT usher_src.* FROM \"users\" AS usher_src WHERE usher_src.\"id\" IS NOT NULL AND lower(TRIM(usher_src.\"e mail\")) = lower(TRIM($1)) ORDER BY usher_src.\"id\" LIMIT $2"
        );
    }

    #[test]
    fn lookup_fields_must_be_plain_configured_columns() {
        let sel = Selection::parse(&spec(Some("users"), None)).unwrap();
        for bad in ["email; DROP TABLE users", "\"email\"", "a.email", "", "x'y"] {
            let err = sel.lookup_column(bad).unwrap_err();
            assert_eq!(err.key, "lookup field", "{bad:?}");
        }
        assert!(sel.lookup_column("anything").is_ok());
        let columns = vec!["email".to_owned()];
        let mut s = spec(Some("users"), None);
        s.columns = Some(columns);
        let sel = Selection::parse(&s).unwrap();
        assert!(sel.lookup_column("email").is_ok());
        assert!(
            sel.lookup_column("id").is_ok(),
            "the key is always selected"
        );
        let err = sel.lookup_column("password").unwrap_err();
        assert!(err.reason.contains("\"password\""), "{err}");
    }

    #[test]
    fn lookup_statements_are_built_once_per_field_and_the_cache_is_bounded() {
        use sqlx::SqlSafeStr as _;
        let cache = LookupCache::default();
        let email = Ident::parse("f", "email").unwrap();
        let mut builds = 0;
        for _ in 0..3 {
            let sql = cache.get_or_build(&email, || {
                builds += 1;
                sqlx::AssertSqlSafe("SELECT 1".to_owned()).into_sql_str()
            });
            assert_eq!(sql.as_str(), "SELECT 1");
        }
        assert_eq!(builds, 1);
        for i in 0..100 {
            let field = Ident::parse("f", &format!("c{i}")).unwrap();
            cache.get_or_build(&field, || {
                sqlx::AssertSqlSafe("SELECT 2".to_owned()).into_sql_str()
            });
        }
        assert_eq!(cache.len(), MAX_CACHED_LOOKUPS);
    }
}
