//! The cases every SQL backend runs, over each backend's fixture ([`Db`]): the same tables
//! (`users` keyed by `id`, `accounts` keyed by `username`, see each backend's `fixture`) read
//! through the same source. Each backend's file lists the cases it runs with [`sql_cases!`]
//! and keeps the tests only it has (its types, its server's own behaviour).

use serde_json::json;
use sqlx::{Connection, Database, Executor as _, MySqlConnection, PgConnection, SqliteConnection};
use usher_connect::SourceConfig;
use usher_core::{KeyRange, LegacyKey, Source, SourceError};

use usher_testkit::services::{with_dead_port, with_password};

use crate::common::*;

/// One backend's fixture database: its kind (`type = ...`), where it is (a URL, or for SQLite
/// a file path), and the schema `users` is in, if the backend has schemas.
pub struct Db {
    pub kind: &'static str,
    pub url: String,
    pub schema: Option<String>,
    /// Keeps an SQLite file's directory alive as long as the fixture.
    pub dir: Option<tempfile::TempDir>,
}

/// Runs one statement (or several, where the driver allows) on a fresh connection.
async fn run<C>(url: &str, sql: &str)
where
    C: Connection,
    for<'c> &'c mut C: sqlx::Executor<'c, Database = C::Database>,
{
    let mut conn = C::connect(url).await.unwrap();
    conn.execute(sqlx::AssertSqlSafe(sql.to_owned()))
        .await
        .unwrap();
    conn.close().await.unwrap();
}

/// The first column of every row of `sql`.
async fn column<C, T>(url: &str, sql: &str) -> Vec<T>
where
    C: Connection,
    for<'c> &'c mut C: sqlx::Executor<'c, Database = C::Database>,
    <C::Database as Database>::Arguments: sqlx::IntoArguments<C::Database>,
    (T,): for<'r> sqlx::FromRow<'r, <C::Database as Database>::Row>,
    T: Send + Unpin,
{
    let mut conn = C::connect(url).await.unwrap();
    let values = sqlx::query_scalar::<_, T>(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_all(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    values
}

impl Db {
    /// A config of this kind at this database from the other options' TOML.
    pub fn config(&self, rest: &str) -> SourceConfig {
        config(self.kind, &self.url, rest)
    }

    /// The source of [`Db::config`], validated and built.
    pub async fn source(&self, rest: &str) -> Box<dyn Source> {
        build(&self.config(rest)).await
    }

    /// The driver's URL: SQLite's file path as a URL.
    fn driver_url(&self) -> String {
        match self.kind {
            "sqlite" => format!("sqlite://{}", self.url),
            _ => self.url.clone(),
        }
    }

    /// Runs `sql` on the database directly.
    pub async fn execute(&self, sql: &str) {
        let url = self.driver_url();
        match self.kind {
            "postgres" => run::<PgConnection>(&url, sql).await,
            "sqlite" => run::<SqliteConnection>(&url, sql).await,
            _ => run::<MySqlConnection>(&url, sql).await,
        }
    }

    /// The text keys as the database orders them, by the column's collation.
    pub async fn text_key_order(&self) -> Vec<LegacyKey> {
        let (url, sql) = (
            self.driver_url(),
            "SELECT username FROM accounts ORDER BY username",
        );
        let keys: Vec<String> = match self.kind {
            "postgres" => column::<PgConnection, _>(&url, sql).await,
            "sqlite" => column::<SqliteConnection, _>(&url, sql).await,
            _ => column::<MySqlConnection, _>(&url, sql).await,
        };
        keys.into_iter().map(LegacyKey::Text).collect()
    }

    /// How many rows `users` has, as the database counts them.
    pub async fn count_users(&self) -> i64 {
        let (url, sql) = (self.driver_url(), "SELECT COUNT(*) FROM users");
        let counts: Vec<i64> = match self.kind {
            "postgres" => column::<PgConnection, _>(&url, sql).await,
            "sqlite" => column::<SqliteConnection, _>(&url, sql).await,
            _ => column::<MySqlConnection, _>(&url, sql).await,
        };
        counts[0]
    }

    /// Fills `accounts (username, email)` with [`text_keys`], which hold no quote.
    pub async fn insert_accounts(&self) {
        let rows: Vec<String> = text_keys()
            .iter()
            .map(|key| format!("('{key}', '{key}@example.com')"))
            .collect();
        self.execute(&format!("INSERT INTO accounts VALUES {}", rows.join(", ")))
            .await;
    }
}

pub fn int(keys: &[i64]) -> Vec<LegacyKey> {
    keys.iter().copied().map(LegacyKey::Int).collect()
}

/// Declares each named case as a test of this backend, run over its `fixture()`; `every
/// backend` names the cases all backends run, `servers` those of a database server.
macro_rules! sql_cases {
    ($fixture:ident: every backend) => {
        $crate::sql::sql_cases!($fixture:
            integer_keys_page_in_chunks_of_1_7_and_1000_each_row_once_in_order,
            text_keys_page_in_the_column_collation_not_byte_order,
            until_partitions_cover_the_table_without_overlap,
            columns_limit_the_fields,
            lookup_finds_rows_ignoring_case_in_key_order_and_refuses_hostile_fields,
            lookup_through_a_query_source_sees_only_the_query,
            lookup_by_a_field_outside_the_configured_columns_is_refused,
            write_back_marks_exactly_the_migrated_record,
            every_write_to_legacy_applies_once_with_an_idempotency_table,
        );
    };
    ($fixture:ident: servers) => {
        $crate::sql::sql_cases!($fixture:
            a_wrong_password_is_unavailable_and_the_password_never_shows,
            a_down_server_is_unavailable_and_the_password_never_shows,
            lookup_against_a_down_server_is_unavailable_but_limit_0_asks_nothing,
            write_back_against_a_down_server_is_unavailable,
            tls_that_a_plain_server_cannot_give_is_refused_not_skipped,
            invalid_json_in_a_json_column_names_the_record_and_the_column,
        );
    };
    ($fixture:ident: query source with $options:literal) => {
        #[tokio::test]
        async fn a_query_source_is_filtered_by_key_and_keeps_its_own_columns() {
            $crate::sql::query_source_of_even_ids_upper_cased($fixture().await, $options).await;
        }
    };
    ($fixture:ident: $($case:ident),+ $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                $crate::sql::$case($fixture().await).await;
            }
        )+
    };
}
pub(crate) use sql_cases;

pub async fn integer_keys_page_in_chunks_of_1_7_and_1000_each_row_once_in_order(db: Db) {
    let source = db.source("table = 'users'\nkey = 'id'").await;
    assert_pages_in_key_order(source.as_ref(), &int(&int_keys())).await;
    assert_eq!(source.count().await.unwrap(), Some(int_keys().len() as u64));
    source.healthcheck().await.unwrap();
}

pub async fn text_keys_page_in_the_column_collation_not_byte_order(db: Db) {
    let expected = db.text_key_order().await;
    assert_eq!(expected.len(), text_keys().len());
    assert_not_byte_order(&expected);
    let source = db.source("table = 'accounts'\nkey = 'username'").await;
    assert_pages_in_key_order(source.as_ref(), &expected).await;
    assert_partitions_cover(
        source.as_ref(),
        &expected,
        &[expected[10].clone(), expected[30].clone()],
    )
    .await;
    let (low, high) = source.key_bounds().await.unwrap().unwrap();
    assert_eq!(&low, expected.first().unwrap());
    assert_eq!(&high, expected.last().unwrap());
}

pub async fn until_partitions_cover_the_table_without_overlap(db: Db) {
    let schema = db
        .schema
        .as_ref()
        .map_or_else(String::new, |s| format!("schema = '{s}'\n"));
    let source = db
        .source(&format!("{schema}table = 'users'\nkey = 'id'"))
        .await;
    let (low, high) = source.key_bounds().await.unwrap().unwrap();
    assert_eq!(
        (low, high),
        (LegacyKey::Int(-5), LegacyKey::Int(1_099_511_627_776))
    );
    assert_partitions_cover(
        source.as_ref(),
        &int(&int_keys()),
        &[LegacyKey::Int(2), LegacyKey::Int(50), LegacyKey::Int(100)],
    )
    .await;
}

/// Row 1 of `users` reads as `first`; row 2, which has only `id` and `email`, has every other
/// field null.
pub async fn assert_typed_rows(db: &Db, first: serde_json::Value) {
    let source = db.source("table = 'users'\nkey = 'id'").await;
    let range = KeyRange {
        after: Some(LegacyKey::Int(0)),
        until: Some(LegacyKey::Int(2)),
    };
    let records = source.read(&range, 10).await.unwrap();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].to_json(), first);
    let nulls = records[1].to_json();
    assert_eq!(nulls["email"], json!("nulls@example.com"));
    for (column, value) in nulls.as_object().unwrap() {
        if column != "id" && column != "email" {
            assert_eq!(value, &json!(null), "{column}");
        }
    }
}

/// A `query` source (its own options in `rest`) selecting the even ids of `users`, the first
/// of which reads as `first`.
/// A query source upper-casing the even ids' emails, with the backend's own `options` after its
/// query and key.
pub async fn query_source_of_even_ids_upper_cased(db: Db, options: &str) {
    let query = "SELECT id, upper(email) AS shout FROM users WHERE id % 2 = 0";
    let rest = format!("query = \"{query}\"\nkey = 'id'{options}");
    let first = json!({"id": 2, "shout": "NULLS@EXAMPLE.COM"});
    assert_query_source_of_even_ids(&db, &rest, first).await;
}

pub async fn assert_query_source_of_even_ids(db: &Db, rest: &str, first: serde_json::Value) {
    let source = db.source(rest).await;
    let records = read_all(source.as_ref(), &KeyRange::default(), 7).await;
    let expected: Vec<i64> = int_keys().into_iter().filter(|k| k % 2 == 0).collect();
    assert_eq!(keys(&records), int(&expected));
    assert_eq!(records[0].to_json(), first);
    // A query is counted exactly.
    assert_eq!(source.count().await.unwrap(), Some(expected.len() as u64));
}

pub async fn columns_limit_the_fields(db: Db) {
    let source = db
        .source("table = 'users'\nkey = 'id'\ncolumns = ['email', 'phone num']")
        .await;
    let first = source.read(&KeyRange::default(), 1).await.unwrap();
    assert_eq!(
        first[0].to_json(),
        json!({"email": "neg@example.com", "phone num": null})
    );
}

/// A text column listed in `json_columns` (options in `rest`) whose value is not JSON: the
/// error names the record and the column.
pub async fn assert_undecodable_json_names_the_record_and_the_column(db: &Db, rest: &str) {
    let source = db.source(rest).await;
    let err = source.read(&KeyRange::default(), 5).await.unwrap_err();
    assert!(
        matches!(&err, SourceError::Query { reason, .. }
            if reason.contains("record -5") && reason.contains("\"email\"")),
        "{err:?}"
    );
}

pub async fn invalid_json_in_a_json_column_names_the_record_and_the_column(db: Db) {
    let rest = "query = 'SELECT id, email FROM users'\nkey = 'id'\njson_columns = ['email']";
    assert_undecodable_json_names_the_record_and_the_column(&db, rest).await;
}

pub async fn a_wrong_password_is_unavailable_and_the_password_never_shows(db: Db) {
    let url = with_password(&db.url, "wrong-secret-481");
    let config = config(db.kind, &url, "table = 'users'\nkey = 'id'");
    assert_unavailable_without_secret(config.healthcheck("legacy").await, "wrong-secret-481");
}

/// A source at `db`'s server on a port where nothing listens, with a password to leak.
fn down(db: &Db, rest: &str) -> SourceConfig {
    let url = with_password(&with_dead_port(&db.url), "down-secret-733");
    config(
        db.kind,
        &url,
        &format!("{rest}\nconnect_timeout_seconds = 1"),
    )
}

pub async fn a_down_server_is_unavailable_and_the_password_never_shows(db: Db) {
    let config = down(&db, "table = 'users'\nkey = 'id'");
    assert_unavailable_without_secret(config.healthcheck("legacy").await, "down-secret-733");
}

pub async fn lookup_finds_rows_ignoring_case_in_key_order_and_refuses_hostile_fields(db: Db) {
    db.execute(TWINS_SQL).await;
    let source = db.source("table = 'users'\nkey = 'id'").await;
    assert_lookups_on_users(source.as_ref()).await;
    // The hostile field names left the table alone, as the server sees it too.
    assert_eq!(db.count_users().await, int_keys().len() as i64 + 2);
}

pub async fn lookup_through_a_query_source_sees_only_the_query(db: Db) {
    db.execute(TWINS_SQL).await;
    let source = db
        .source("query = \"SELECT id, email AS login, note FROM users WHERE id > 0\"\nkey = 'id'")
        .await;
    assert_lookups_through_a_query(source.as_ref()).await;
}

pub async fn lookup_by_a_field_outside_the_configured_columns_is_refused(db: Db) {
    let source = db
        .source("table = 'accounts'\nkey = 'username'\ncolumns = ['email']")
        .await;
    assert_lookups_limited_to_columns(source.as_ref()).await;
}

pub async fn lookup_against_a_down_server_is_unavailable_but_limit_0_asks_nothing(db: Db) {
    let source = build(&down(&db, "table = 'users'\nkey = 'id'")).await;
    assert!(
        source
            .lookup("email", "ann@example.com", 0)
            .await
            .unwrap()
            .is_empty()
    );
    let result = source.lookup("email", "ann@example.com", 2).await;
    assert_unavailable_without_secret(result.map(|_| ()), "down-secret-733");
}

pub async fn write_back_marks_exactly_the_migrated_record(db: Db) {
    assert_write_back_marks_exactly_the_record(db.kind, &db.url).await;
}

/// Each operation's statement runs with its values bound, in one legacy transaction with its
/// idempotency key: delivered again with the same key, it is not applied again (the
/// `write_log` inserts would fail on their primary key if it were).
pub async fn every_write_to_legacy_applies_once_with_an_idempotency_table(db: Db) {
    use usher_core::{LegacyWrite, Written};
    db.execute("CREATE TABLE usher_applied (idempotency_key VARCHAR(200) PRIMARY KEY)")
        .await;
    db.execute("CREATE TABLE write_log (op VARCHAR(64) PRIMARY KEY, legacy_id BIGINT)")
        .await;
    let source = db
        .source(
            r#"
table = 'users'
key = 'id'
write_back = "INSERT INTO write_log (op, legacy_id) VALUES (:user_id, :key)"
[writes]
set_password = "UPDATE users SET note = :password_hash WHERE id = :key"
set_email = "UPDATE users SET email = :email, active = :email_verified WHERE id = :key"
disable = "INSERT INTO write_log (op, legacy_id) VALUES ('disable', :key)"
enable = "INSERT INTO write_log (op, legacy_id) VALUES ('enable', :key)"
delete = "DELETE FROM users WHERE id = :key"
idempotency_table = 'usher_applied'
"#,
        )
        .await;
    source.healthcheck().await.unwrap();
    let before = db.count_users().await;
    let hash = "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW";
    let writes = [
        (
            LegacyWrite::SetPassword {
                key: LegacyKey::Int(5),
                password_hash: hash.into(),
            },
            "p5",
        ),
        (
            LegacyWrite::SetEmail {
                key: LegacyKey::Int(6),
                email: "six@new.example".into(),
                email_verified: true,
            },
            "e6",
        ),
        (
            LegacyWrite::Disable {
                key: LegacyKey::Int(7),
            },
            "d7",
        ),
        (
            LegacyWrite::Enable {
                key: LegacyKey::Int(7),
            },
            "n7",
        ),
        (
            LegacyWrite::Delete {
                key: LegacyKey::Int(8),
            },
            "x8",
        ),
        (mark(&LegacyKey::Int(9)), "m9"),
    ];
    for (write, key) in &writes {
        assert!(source.writes(write.op()), "{}", write.op());
        assert_eq!(
            source.write(write, key).await,
            Ok(Written::Applied),
            "{key}"
        );
        assert_eq!(
            source.write(write, key).await,
            Ok(Written::Again),
            "{key} again"
        );
    }
    let users = read_all(source.as_ref(), &KeyRange::default(), 1000).await;
    let user = |id| users.iter().find(|r| r.key == LegacyKey::Int(id));
    assert_eq!(user(5).unwrap().fields["note"], json!(hash));
    let six = user(6).unwrap();
    assert_eq!(six.fields["email"], json!("six@new.example"));
    assert!(
        six.fields["active"] == json!(true) || six.fields["active"] == json!(1),
        "{}",
        six.fields["active"]
    );
    assert!(user(8).is_none(), "deleted");
    assert_eq!(db.count_users().await, before - 1, "only record 8 is gone");
    let log = db.source("table = 'write_log'\nkey = 'op'").await;
    let logged: Vec<(LegacyKey, serde_json::Value)> =
        read_all(log.as_ref(), &KeyRange::default(), 100)
            .await
            .into_iter()
            .map(|r| (r.key, r.fields["legacy_id"].clone()))
            .collect();
    assert_eq!(
        logged,
        vec![
            (LegacyKey::Text(MIGRATED_TO.into()), json!(9)),
            (LegacyKey::Text("disable".into()), json!(7)),
            (LegacyKey::Text("enable".into()), json!(7)),
        ]
    );
}

pub async fn write_back_against_a_down_server_is_unavailable(db: Db) {
    assert_write_back_to_a_down_server_is_unavailable(db.kind, &with_dead_port(&db.url)).await;
}

pub async fn tls_that_a_plain_server_cannot_give_is_refused_not_skipped(db: Db) {
    assert_tls_required_is_refused_by_a_plain_server(db.kind, &db.url).await;
}
