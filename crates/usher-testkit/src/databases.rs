//! A fresh, empty database per test on the PostgreSQL cluster or the MariaDB server of
//! [`services`](crate::services), named so that tests running at once never share one; and
//! SQLite files.

use std::path::Path;

use sqlx::{Connection, Executor as _, MySqlConnection, PgConnection, SqliteConnection};

use crate::services::{self, MYSQL_URL, POSTGRES_URL};

/// A database a test created; [`Database::remove`] drops it (one left behind goes with the
/// throwaway server).
#[derive(Debug)]
pub struct Database {
    server: Server,
    /// The server's admin URL (the variable's value).
    pub admin_url: String,
    /// The database's name.
    pub name: String,
    /// The admin URL pointed at this database.
    pub url: String,
}

#[derive(Debug, Clone, Copy)]
enum Server {
    Postgres,
    MySql,
}

impl Database {
    /// A fresh PostgreSQL database named `<prefix>_…` on the test cluster.
    pub async fn postgres(prefix: &str) -> Database {
        Database::create(Server::Postgres, prefix).await
    }

    /// A fresh MariaDB database named `<prefix>_…` on the test server.
    pub async fn mysql(prefix: &str) -> Database {
        Database::create(Server::MySql, prefix).await
    }

    async fn create(server: Server, prefix: &str) -> Database {
        let admin_url = services::var(server.var());
        let name = services::unique_name(prefix);
        let url = services::with_database(&admin_url, &name);
        let database = Database {
            server,
            admin_url,
            name,
            url,
        };
        database
            .admin(&format!("CREATE DATABASE {}", server.quote(&database.name)))
            .await;
        database
    }

    /// Drops the database (PostgreSQL: closing what is still connected to it).
    pub async fn remove(self) {
        let name = self.server.quote(&self.name);
        let sql = match self.server {
            Server::Postgres => format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            Server::MySql => format!("DROP DATABASE IF EXISTS {name}"),
        };
        self.admin(&sql).await;
    }

    /// Runs `sql` (one statement, or several separated by `;`) in this database.
    pub async fn execute(&self, sql: &str) {
        let var = self.server.var();
        match self.server {
            Server::Postgres => execute::<PgConnection>(&self.url, var, sql).await,
            Server::MySql => execute::<MySqlConnection>(&self.url, var, sql).await,
        }
    }

    /// Runs `sql` on a connection of its own to the server, as its admin.
    async fn admin(&self, sql: &str) {
        let url = &self.admin_url;
        let var = self.server.var();
        match self.server {
            Server::Postgres => execute::<PgConnection>(url, var, sql).await,
            Server::MySql => execute::<MySqlConnection>(url, var, sql).await,
        }
    }
}

impl Server {
    /// The variable holding the server's admin URL.
    fn var(self) -> &'static str {
        match self {
            Server::Postgres => POSTGRES_URL,
            Server::MySql => MYSQL_URL,
        }
    }

    /// `name` quoted as an identifier.
    fn quote(self, name: &str) -> String {
        match self {
            Server::Postgres => format!("\"{name}\""),
            Server::MySql => format!("`{name}`"),
        }
    }
}

/// A connection to the SQLite file at `path`, which is created if missing.
pub async fn sqlite(path: &Path) -> SqliteConnection {
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true);
    SqliteConnection::connect_with(&options).await.unwrap()
}

/// Runs `sql` on a connection of its own to the server at `url` (the value of `var`).
async fn execute<C>(url: &str, var: &str, sql: &str)
where
    C: Connection,
    for<'c> &'c mut C: sqlx::Executor<'c, Database = C::Database>,
{
    let mut conn = C::connect(url)
        .await
        .unwrap_or_else(|e| panic!("cannot reach the server at {var}: {e}"));
    conn.execute(sqlx::AssertSqlSafe(sql.to_owned()))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    conn.close().await.unwrap();
}
