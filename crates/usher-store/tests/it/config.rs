//! Opening stores from config: `url_file`, and URLs kept out of errors.

use usher_store::{StoreConfig, open};

use usher_testkit::services::{self, POSTGRES_URL};
use usher_testkit::stores::PgDb;

#[tokio::test]
async fn a_sqlite_config_opens_and_creates_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested-ok.db");
    let store = open(&StoreConfig::Sqlite { path: path.clone() })
        .await
        .unwrap();
    store.migrate().await.unwrap();
    assert_eq!(store.backend(), "sqlite");
    assert!(path.exists());
    store.close().await;
}

#[tokio::test]
async fn a_postgres_url_can_come_from_a_file() {
    let db = PgDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("url");
    std::fs::write(&file, format!("  {}\n", db.url)).unwrap();
    let config = StoreConfig::Postgres {
        url: None,
        url_file: Some(file),
        max_connections: Some(2),
    };
    let store = open(&config).await.unwrap();
    store.migrate().await.unwrap();
    assert_eq!(store.backend(), "postgres");
    assert_eq!(store.schema_version().await.unwrap(), Some(8));
    store.close().await;
    db.finish().await;
}

#[tokio::test]
async fn a_failed_connection_names_the_server_but_not_the_password() {
    // Nothing listens on port 1.
    let config = StoreConfig::Postgres {
        url: Some("postgres://usher:hunter2@127.0.0.1:1/usher".into()),
        url_file: None,
        max_connections: None,
    };
    let err = open(&config).await.unwrap_err().to_string();
    assert!(!err.contains("hunter2"), "{err}");
    assert!(err.contains("usher:***@127.0.0.1:1"), "{err}");
    // The debug form, as logged, is redacted too.
    assert!(!format!("{config:?}").contains("hunter2"));
}

#[tokio::test]
async fn a_missing_url_file_is_a_config_error() {
    let config = StoreConfig::Postgres {
        url: None,
        url_file: Some("/nonexistent/usher-url".into()),
        max_connections: None,
    };
    let err = open(&config).await.unwrap_err().to_string();
    assert!(err.contains("url_file"), "{err}");
}

#[test]
fn the_test_cluster_is_configured() {
    // Fails loudly, with instructions, when the PostgreSQL cluster is missing.
    assert!(services::var(POSTGRES_URL).starts_with("postgres"));
}

#[tokio::test]
async fn a_sqlite_file_that_cannot_be_created_fails_at_open_and_says_where() {
    let path = std::path::PathBuf::from("/nonexistent-dir/usher.db");
    let err = open(&StoreConfig::Sqlite { path })
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("/nonexistent-dir/usher.db"), "{err}");
}
