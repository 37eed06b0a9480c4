//! Fresh stores for tests: an SQLite file in a temp dir, or a PostgreSQL
//! database of its own, made on the server named by LATCHKEY_TEST_DATABASE_URL
//! and dropped afterwards.

use sqlx::Connection as _;

/// The PostgreSQL server the tests may create databases on.
pub fn postgres_admin_url() -> String {
    std::env::var("LATCHKEY_TEST_DATABASE_URL")
        .expect("set LATCHKEY_TEST_DATABASE_URL, e.g. postgres://postgres@127.0.0.1:5432/test")
}

/// A database that exists for one test.
pub struct TestDatabase {
    /// Its URL.
    pub url: String,
    name: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDatabase {
    /// A new SQLite file.
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("latchkey.db").display());
        TestDatabase { url, name: None, _dir: Some(dir) }
    }

    /// A new, empty PostgreSQL database.
    pub async fn postgres() -> Self {
        let admin = postgres_admin_url();
        let name = format!("latchkey_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = sqlx::PgConnection::connect(&admin).await.expect("PostgreSQL answers");
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.unwrap();
        let mut url = url::Url::parse(&admin).unwrap();
        url.set_path(&name);
        TestDatabase { url: url.to_string(), name: Some(name), _dir: None }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some(name) = self.name.take() else { return };
        // Drop runs inside the test's runtime: do the async work on a thread of its own.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&postgres_admin_url()).await {
                    let _ =
                        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut conn).await;
                }
            });
        })
        .join();
    }
}
