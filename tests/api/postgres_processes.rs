//! Several `latchkey serve` processes on one PostgreSQL database behave as
//! one service; and a database that goes away is survived.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::binary::{free_port, now, start_with, with_mfa, Api, Server};
use crate::helpers::{totp_at, PASSWORD};
use crate::stores::TestDatabase;

/// The key every process of the service shares (32 bytes, base64).
const KEY: &str = "S2V5LXNoYXJlZC1ieS1hbGwtcHJvY2Vzc2VzLi4uLi4=";

async fn server_on(url: &str) -> (Server, tempfile::TempDir) {
    server_at(url, None).await
}

/// A process on the database at `url`, with its public URL when given.
async fn server_at(url: &str, public_url: Option<&str>) -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = url.to_string();
    let public_url = public_url.map(str::to_string);
    let server = start_with(dir.path(), Stdio::null(), "warn", move |c| {
        c.env("LATCHKEY_SECRET_KEY", KEY).args(["--database", &url]);
        if let Some(public) = &public_url {
            c.env("LATCHKEY_PUBLIC_URL", public);
        }
    })
    .await;
    (server, dir)
}

/// Two processes started at the same moment, so both try to migrate at once.
async fn two_servers(db: &TestDatabase) -> ((Server, tempfile::TempDir), (Server, tempfile::TempDir)) {
    tokio::join!(server_on(&db.url), server_on(&db.url))
}

#[tokio::test]
#[ignore = "needs PostgreSQL (LATCHKEY_TEST_DATABASE_URL)"]
async fn a_session_made_on_one_process_works_and_ends_on_the_other() {
    let db = TestDatabase::postgres().await;
    let ((a, _), (b, _)) = two_servers(&db).await;
    let api = Api::new();
    api.sign_up(&a, "alice").await;
    let token = api.sign_in(&b, "alice").await.1["token"].as_str().unwrap().to_string();
    assert_eq!(api.me(&a, &token).await, StatusCode::OK, "made on B, works on A");
    let logout =
        api.client.delete(format!("{}/api/v1/sessions/current", a.base)).bearer_auth(&token).send().await.unwrap();
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    assert_eq!(api.me(&b, &token).await, StatusCode::UNAUTHORIZED, "logout on A kills it on B");
}

#[tokio::test]
#[ignore = "needs PostgreSQL (LATCHKEY_TEST_DATABASE_URL)"]
async fn an_enrolment_started_on_one_process_is_confirmed_on_the_other() {
    let db = TestDatabase::postgres().await;
    let ((a, _), (b, _)) = two_servers(&db).await;
    let api = Api::new();
    api.sign_up(&a, "alice").await;
    let token = api.sign_in(&a, "alice").await.1["token"].as_str().unwrap().to_string();
    let secret = api.post(&a, "/me/mfa/totp", json!({}), Some(&token)).await.1["secret"].as_str().unwrap().to_string();
    let (status, body) =
        api.post(&b, "/me/mfa/totp/confirm", json!({"code": totp_at(&secret, now())}), Some(&token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mfa_token = api.sign_in(&a, "alice").await.1["mfa_token"].as_str().unwrap().to_string();
    let (status, _) = api
        .post(&b, "/sessions/mfa", json!({"mfa_token": mfa_token, "code": totp_at(&secret, now() + 30)}), None)
        .await;
    assert_eq!(status, StatusCode::CREATED, "a sign-in begun on A completes on B");
}

#[tokio::test]
#[ignore = "needs PostgreSQL (LATCHKEY_TEST_DATABASE_URL)"]
async fn a_code_used_on_one_process_is_refused_on_the_other() {
    let db = TestDatabase::postgres().await;
    let ((a, _), (b, _)) = two_servers(&db).await;
    let api = Api::new();
    let (_, secret) = with_mfa(&api, &a, "alice").await;
    let next = totp_at(&secret, now() + 30);
    let on_a = api.sign_in(&a, "alice").await.1["mfa_token"].as_str().unwrap().to_string();
    let on_b = api.sign_in(&b, "alice").await.1["mfa_token"].as_str().unwrap().to_string();
    let (status, _) = api.post(&a, "/sessions/mfa", json!({"mfa_token": on_a, "code": next}), None).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = api.post(&b, "/sessions/mfa", json!({"mfa_token": on_b, "code": next}), None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_code")));
}

#[tokio::test]
#[ignore = "needs PostgreSQL (LATCHKEY_TEST_DATABASE_URL)"]
async fn twenty_sign_ins_with_one_code_across_two_processes_have_one_winner() {
    let db = TestDatabase::postgres().await;
    let ((a, _), (b, _)) = two_servers(&db).await;
    let api = Api::new();
    let (_, secret) = with_mfa(&api, &a, "alice").await;
    let next = totp_at(&secret, now() + 30);
    let mut race = tokio::task::JoinSet::new();
    for i in 0..20 {
        let server = if i % 2 == 0 { &a } else { &b };
        let mfa_token = api.sign_in(server, "alice").await.1["mfa_token"].as_str().unwrap().to_string();
        let request = api
            .client
            .post(format!("{}/api/v1/sessions/mfa", server.base))
            .json(&json!({"mfa_token": mfa_token, "code": next}));
        race.spawn(async move { request.send().await.unwrap().status() });
    }
    let statuses = race.join_all().await;
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::CREATED).count(), 1, "{statuses:?}");
}

#[tokio::test]
#[ignore = "needs PostgreSQL (LATCHKEY_TEST_DATABASE_URL)"]
async fn failed_guesses_on_both_processes_add_up_and_the_log_is_one_chain() {
    let db = TestDatabase::postgres().await;
    let ((a, dir_a), (b, _)) = two_servers(&db).await;
    let api = Api::new();
    api.sign_up(&a, "alice").await;
    for server in [&a, &b, &a, &b, &a] {
        let (status, _) =
            api.post(server, "/sessions", json!({"login": "alice", "password": "guess guess"}), None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, body) = api.sign_in(&b, "alice").await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::TOO_MANY_REQUESTS, Some("rate_limited")));

    drop((a, b));
    let output = Command::new(env!("CARGO_BIN_EXE_latchkey"))
        .args(["audit", "verify", "--database", &db.url, "--data-dir"])
        .arg(dir_a.path())
        .env("LATCHKEY_SECRET_KEY", KEY)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("intact (6 events)"), "five failures and the lockout from two processes: {stdout}");
}

#[tokio::test]
#[ignore = "needs PostgreSQL (LATCHKEY_TEST_DATABASE_URL)"]
async fn key_rotation_waits_until_no_process_serves_and_names_those_that_do() {
    let db = TestDatabase::postgres().await;
    let ((mut a, dir), (mut b, _)) = two_servers(&db).await;
    let api = Api::new();
    let (_, secret) = with_mfa(&api, &a, "alice").await;
    let rotate = |key: &str| {
        Command::new(env!("CARGO_BIN_EXE_latchkey"))
            .args(["key", "rotate", "--database", &db.url, "--data-dir"])
            .arg(dir.path())
            .env("LATCHKEY_SECRET_KEY", key)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap()
    };
    let refused = rotate(KEY);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success() && stderr.contains("while processes are serving"), "{stderr}");
    assert!(stderr.contains(&format!("pid {}", a.pid())) && stderr.contains(&format!("pid {}", b.pid())), "{stderr}");
    let mfa_token = api.sign_in(&b, "alice").await.1["mfa_token"].as_str().unwrap().to_string();
    let (status, _) = api
        .post(&a, "/sessions/mfa", json!({"mfa_token": mfa_token, "code": totp_at(&secret, now() + 30)}), None)
        .await;
    assert_eq!(status, StatusCode::CREATED, "both still sign in with codes: nothing changed");

    a.stop();
    let stderr = String::from_utf8_lossy(&rotate(KEY).stderr).into_owned();
    assert!(stderr.contains(&format!("pid {}", b.pid())) && !stderr.contains(&format!("pid {}", a.pid())), "{stderr}");
    b.stop();
    let rotated = rotate(KEY);
    let stdout = String::from_utf8_lossy(&rotated.stdout);
    assert!(rotated.status.success() && stdout.contains("re-encrypted 1 TOTP secrets"), "{stdout}");
    let new_key = stdout.lines().last().unwrap().trim().to_string();

    let server = start_with(dir.path(), Stdio::null(), "warn", |c| {
        c.env("LATCHKEY_SECRET_KEY", &new_key).args(["--database", &db.url]);
    })
    .await;
    let (status, body) = api.sign_in(&server, "alice").await;
    assert_eq!((status, body["mfa_required"].as_bool()), (StatusCode::OK, Some(true)), "{body}");
}

/// A TCP relay to PostgreSQL that the test can cut and restore, standing in
/// for a database that goes away and comes back.
struct Relay {
    port: u16,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Relay {
    async fn start(port: u16) -> Relay {
        let target = {
            let url = url::Url::parse(&crate::stores::postgres_admin_url()).unwrap();
            format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432))
        };
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                connections.spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Relay { port, task: Some(task) }
    }

    /// Cuts every connection and stops listening.
    fn cut(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

#[tokio::test]
#[ignore = "needs PostgreSQL (LATCHKEY_TEST_DATABASE_URL)"]
async fn a_database_that_goes_away_gives_503_and_the_process_recovers_by_itself() {
    let db = TestDatabase::postgres().await;
    let mut relay = Relay::start(free_port()).await;
    let mut url = url::Url::parse(&db.url).unwrap();
    url.set_port(Some(relay.port)).unwrap();
    let (server, _dir) = server_on(url.as_str()).await;
    let api = Api::new();
    api.sign_up(&server, "alice").await;

    relay.cut();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let health = crate::helpers::http().get(format!("{}/healthz", server.base)).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::SERVICE_UNAVAILABLE);
    let (status, body) = api.sign_in(&server, "alice").await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("unavailable")));
    assert!(!body.to_string().contains("postgres") && !body.to_string().contains(&relay.port.to_string()), "{body}");

    let _relay = Relay::start(relay.port).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let health = crate::helpers::http().get(format!("{}/healthz", server.base)).send().await.unwrap();
        if health.status() == StatusCode::OK {
            break;
        }
        assert!(Instant::now() < deadline, "the process did not recover");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (status, _) = api.sign_in(&server, "alice").await;
    assert_eq!(status, StatusCode::CREATED, "the same process serves again, and alice was not lost");
}

/// Fills an SQLite store through a real server (a user with MFA and some
/// events), copies it with `latchkey migrate-store` into `target`, and checks
/// that a server on the copy signs the user in with password and code.
async fn moving_a_store_keeps_users_mfa_and_the_log(target: &TestDatabase) {
    let source = tempfile::tempdir().unwrap();
    let api = Api::new();
    let secret = {
        let server = start_with(source.path(), Stdio::null(), "warn", |_| {}).await;
        let (_, secret) = with_mfa(&api, &server, "alice").await;
        api.sign_up(&server, "bob").await;
        secret
    };
    let from = format!("sqlite://{}", source.path().join("latchkey.db").display());
    let output = Command::new(env!("CARGO_BIN_EXE_latchkey"))
        .args(["migrate-store", "--from", &from, "--to", &target.url])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("users: 2 rows") && stdout.contains("recovery_codes: 10 rows"), "{stdout}");
    assert!(stdout.contains("is intact"), "{stdout}");

    let key = std::fs::read_to_string(source.path().join("secret.key")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = target.url.clone();
    let server = start_with(dir.path(), Stdio::null(), "warn", move |c| {
        c.env("LATCHKEY_SECRET_KEY", key.trim()).args(["--database", &url]);
    })
    .await;
    let mfa_token = api.sign_in(&server, "alice").await.1["mfa_token"].as_str().unwrap().to_string();
    let code = totp_at(&secret, now() + 30);
    let (status, _) = api.post(&server, "/sessions/mfa", json!({"mfa_token": mfa_token, "code": code}), None).await;
    assert_eq!(status, StatusCode::CREATED, "the sealed secret opens in the new store");
    let (status, _) = api.sign_in(&server, "bob").await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = api
        .post(&server, "/users", json!({"username": "carol", "email": "carol@example.com", "password": PASSWORD}), None)
        .await;
    assert_eq!(status, StatusCode::CREATED, "new rows get fresh ids after the copied ones");
}

#[tokio::test]
async fn migrate_store_copies_sqlite_into_another_sqlite_file() {
    moving_a_store_keeps_users_mfa_and_the_log(&TestDatabase::sqlite()).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL (LATCHKEY_TEST_DATABASE_URL)"]
async fn migrate_store_moves_sqlite_to_postgresql() {
    moving_a_store_keeps_users_mfa_and_the_log(&TestDatabase::postgres().await).await;
}

#[tokio::test]
async fn migrate_store_refuses_a_missing_or_empty_source_and_a_used_target() {
    let target = TestDatabase::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let url = target.url.clone();
    drop(
        start_with(dir.path(), Stdio::null(), "warn", move |c| {
            c.args(["--database", &url]);
        })
        .await,
    );
    let api_dir = tempfile::tempdir().unwrap();
    {
        let url = target.url.clone();
        let server = start_with(api_dir.path(), Stdio::null(), "warn", move |c| {
            c.env("LATCHKEY_SECRET_KEY", std::fs::read_to_string(dir.path().join("secret.key")).unwrap().trim())
                .args(["--database", &url]);
        })
        .await;
        Api::new().sign_up(&server, "alice").await;
    }
    let source = TestDatabase::sqlite();
    let migrated = Command::new(env!("CARGO_BIN_EXE_latchkey"))
        .args(["migrate", "--database", &source.url])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(migrated.status.success());
    let output = Command::new(env!("CARGO_BIN_EXE_latchkey"))
        .args(["migrate-store", "--from", &source.url, "--to", &target.url])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success() && stderr.contains("no users"), "an empty source is refused: {stderr}");

    let output = Command::new(env!("CARGO_BIN_EXE_latchkey"))
        .args(["migrate-store", "--from", &target.url, "--to", &TestDatabase::sqlite().url])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let fresh = TestDatabase::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let url = fresh.url.clone();
    drop(
        start_with(dir.path(), Stdio::null(), "warn", move |c| {
            c.args(["--database", &url]);
        })
        .await,
    );
    let output = Command::new(env!("CARGO_BIN_EXE_latchkey"))
        .args(["migrate-store", "--from", &target.url, "--to", &fresh.url])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success() && stderr.contains("not empty"), "a target a server ran on is refused: {stderr}");

    let output = Command::new(env!("CARGO_BIN_EXE_latchkey"))
        .args(["migrate-store", "--from", "sqlite:///nonexistent/latchkey.db", "--to", &TestDatabase::sqlite().url])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success() && stderr.contains("no SQLite store at"), "{stderr}");
}

#[tokio::test]
#[ignore = "needs PostgreSQL (LATCHKEY_TEST_DATABASE_URL)"]
async fn a_passkey_ceremony_begun_on_one_process_finishes_on_the_other_once() {
    use crate::passkeys::ORIGIN;
    use crate::soft_key::SoftKey;
    let db = TestDatabase::postgres().await;
    let ((a, _), (b, _)) = tokio::join!(server_at(&db.url, Some(ORIGIN)), server_at(&db.url, Some(ORIGIN)));
    let api = Api::new();
    api.sign_up(&a, "alice").await;
    let token = api.sign_in(&a, "alice").await.1["token"].as_str().unwrap().to_string();
    let mut key = SoftKey::new(ORIGIN);
    let (_, options) = api.post(&a, "/me/passkeys/options", json!({}), Some(&token)).await;
    let credential = key.register(&options["publicKey"]);
    let body = json!({"challenge_id": options["challenge_id"], "credential": credential});
    let (status, added) = api.post(&b, "/me/passkeys", body, Some(&token)).await;
    assert_eq!(status, StatusCode::CREATED, "registration begun on A, finished on B: {added}");

    let (_, options) = api.post(&b, "/sessions/passkey/options", json!({}), None).await;
    let credential = key.assert(&options["publicKey"]);
    let body = json!({"challenge_id": options["challenge_id"], "credential": credential});
    let ((first, _), (second, _)) = tokio::join!(
        api.post(&a, "/sessions/passkey", body.clone(), None),
        api.post(&b, "/sessions/passkey", body, None)
    );
    let mut statuses = [first, second];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::CREATED, StatusCode::UNAUTHORIZED], "one answer, one sign-in, across processes");
}

#[tokio::test]
#[ignore = "needs PostgreSQL (LATCHKEY_TEST_DATABASE_URL)"]
async fn a_password_reset_on_one_process_ends_the_sessions_of_the_other() {
    let sink = crate::notifications::SmtpSink::start().await;
    let db = TestDatabase::postgres().await;
    let smtp = format!("smtp://127.0.0.1:{}", sink.port);
    let start = |smtp: String| {
        let url = db.url.clone();
        async move {
            let dir = tempfile::tempdir().unwrap();
            let server = start_with(dir.path(), Stdio::null(), "warn", move |c| {
                c.env("LATCHKEY_SECRET_KEY", KEY).args(["--database", &url]);
                c.env("LATCHKEY_SMTP_URL", &smtp).env("LATCHKEY_MAIL_FROM", "Latchkey <latchkey@example.org>");
            })
            .await;
            (server, dir)
        }
    };
    let ((a, _), (b, _)) = tokio::join!(start(smtp.clone()), start(smtp));
    let api = Api::new();
    api.sign_up(&a, "alice").await;
    let on_b = api.sign_in(&b, "alice").await.1["token"].as_str().unwrap().to_string();
    let (status, _) = api.post(&a, "/password-resets", json!({"email": "alice@example.com"}), None).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let token = crate::password::token_mailed_to(&sink, "alice@example.com").await;
    let new = "seven herons fold the map";
    let (status, body) = api.post(&a, "/password-resets/confirm", json!({"token": token, "password": new}), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(api.me(&b, &on_b).await, StatusCode::UNAUTHORIZED, "reset on A, the session on B is over");
    let (status, _) = api.post(&b, "/sessions", json!({"login": "alice", "password": new}), None).await;
    assert_eq!(status, StatusCode::CREATED, "and B signs in with the new password");
}
