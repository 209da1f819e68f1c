//! A fresh, empty database per test on the PostgreSQL cluster or the MariaDB server of
//! [`services`](crate::services), named so that tests running at once never share one.

use sqlx::{Connection, Executor as _, MySqlConnection, PgConnection};

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
        let database = Database::named(Server::Postgres, prefix);
        database
            .admin(&format!("CREATE DATABASE \"{}\"", database.name))
            .await;
        database
    }

    /// A fresh MariaDB database named `<prefix>_…` on the test server.
    pub async fn mysql(prefix: &str) -> Database {
        let database = Database::named(Server::MySql, prefix);
        database
            .admin(&format!("CREATE DATABASE `{}`", database.name))
            .await;
        database
    }

    fn named(server: Server, prefix: &str) -> Database {
        let admin_url = services::var(server.var());
        let name = services::unique_name(prefix);
        let url = services::with_database(&admin_url, &name);
        Database {
            server,
            admin_url,
            name,
            url,
        }
    }

    /// Drops the database (PostgreSQL: closing what is still connected to it).
    pub async fn remove(self) {
        let sql = match self.server {
            Server::Postgres => format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name),
            Server::MySql => format!("DROP DATABASE IF EXISTS `{}`", self.name),
        };
        self.admin(&sql).await;
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
