//! The real `latchkey` binary: start-up, the key file, restarts and clear failures.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{totp_at, PASSWORD};

const BIN: &str = env!("CARGO_BIN_EXE_latchkey");

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A `latchkey` process, stopped when dropped.
pub(crate) struct Server {
    child: Child,
    pub(crate) base: String,
}

impl Server {
    /// Its process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits (at most `limit`) for the process to end by itself.
    pub(crate) fn wait_for_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }

    /// Stops the process as an operator would (SIGTERM), so it withdraws
    /// from the store's serving list; killed if it has not gone in 10 s.
    pub(crate) fn stop(&mut self) {
        let pid = self.child.id().to_string();
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = Command::new("kill").args(["-TERM", &pid]).status();
            // Past the server's own drain limit (10 s), so that a stop on a
            // loaded machine still ends with the process withdrawn from the store.
            let deadline = Instant::now() + Duration::from_secs(20);
            while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

pub(crate) fn command(data_dir: &std::path::Path) -> Command {
    let mut command = Command::new(BIN);
    command
        .env_remove("LATCHKEY_SECRET_KEY")
        .env_remove("LATCHKEY_DATABASE_URL")
        .env_remove("LATCHKEY_CONFIG")
        .env("RUST_LOG", "warn")
        .env("LATCHKEY_DATA_DIR", data_dir);
    command
}

/// Starts `latchkey` with no subcommand (which means `serve`) and waits until it answers.
pub(crate) async fn start(data_dir: &std::path::Path) -> Server {
    start_logging(data_dir, Stdio::null(), "warn").await
}

/// Starts `latchkey` with its log (at `level`) going to `stderr`.
async fn start_logging(data_dir: &std::path::Path, stderr: Stdio, level: &str) -> Server {
    start_with(data_dir, stderr, level, |_| {}).await
}

/// Starts `latchkey` after `adjust` has added arguments or environment.
pub(crate) async fn start_with(
    data_dir: &std::path::Path,
    stderr: Stdio,
    level: &str,
    adjust: impl Fn(&mut Command),
) -> Server {
    // A port found free can be taken by another test's server before ours
    // binds it; then ours exits and the other answers. Try another port.
    let mut stderr = Some(stderr);
    for _ in 0..5 {
        let port = free_port();
        let mut command = command(data_dir);
        command
            .env("RUST_LOG", level)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(stderr.take().unwrap_or_else(Stdio::null));
        adjust(&mut command);
        let child = command.spawn().unwrap();
        let mut server = Server { child, base: format!("http://127.0.0.1:{port}") };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if server.child.try_wait().unwrap().is_some() {
                break;
            }
            if crate::helpers::http()
                .get(format!("{}/healthz", server.base))
                .send()
                .await
                .is_ok_and(|r| r.status() == StatusCode::OK)
                && server.child.try_wait().unwrap().is_none()
            {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    panic!("latchkey did not start");
}

/// Runs the binary to completion; returns (success, stderr).
pub(crate) fn run(data_dir: &std::path::Path, args: &[&str]) -> (bool, String) {
    let output = command(data_dir).args(args).stdin(Stdio::null()).output().unwrap();
    (output.status.success(), String::from_utf8_lossy(&output.stderr).into_owned())
}

#[tokio::test]
async fn users_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let client = crate::helpers::http();
    {
        let server = start(dir.path()).await;
        let body = json!({"username": "alice", "email": "alice@example.com", "password": PASSWORD});
        let response = client.post(format!("{}/api/v1/users", server.base)).json(&body).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    let server = start(dir.path()).await;
    let response = client
        .post(format!("{}/api/v1/sessions", server.base))
        .json(&json!({"login": "alice", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["user"]["username"], "alice");
}

#[tokio::test]
async fn the_first_start_makes_the_store_in_wal_mode_and_a_private_key_file() {
    let dir = tempfile::tempdir().unwrap();
    let _server = start(dir.path()).await;
    let key = dir.path().join("secret.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the key file is readable by its owner only");
    }
    assert!(dir.path().join("latchkey.db").is_file());
    assert!(dir.path().join("latchkey.db-wal").is_file(), "the store runs in WAL mode");
}

/// The mode bits of a file, for the checks below.
#[cfg(unix)]
fn mode_of(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[cfg(unix)]
#[tokio::test]
async fn every_file_of_the_store_and_every_backup_is_private_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    // A data dir that existed before, open to everyone (as with umask 022).
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let log = dir.path().join("server.log");
    let output = std::fs::File::create(&log).unwrap();
    {
        let server = start_logging(dir.path(), Stdio::from(output), "warn").await;
        let body = json!({"username": "alice", "email": "alice@example.com", "password": PASSWORD});
        crate::helpers::http().post(format!("{}/api/v1/users", server.base)).json(&body).send().await.unwrap();
        for file in ["latchkey.db", "latchkey.db-wal", "latchkey.db-shm"] {
            assert_eq!(mode_of(&dir.path().join(file)), 0o600, "{file}");
        }
        let backup = dir.path().join("copy.db");
        let (ok, stderr) = run(dir.path(), &["backup", backup.to_str().unwrap()]);
        assert!(ok, "{stderr}");
        assert_eq!(mode_of(&backup), 0o600, "the backup holds every password hash too");
        // A name SQLite could read as a URI is still a plain file, private too.
        let uri_like =
            command(dir.path()).current_dir(dir.path()).args(["backup", "file:uri-like.db"]).output().unwrap();
        assert!(uri_like.status.success(), "{}", String::from_utf8_lossy(&uri_like.stderr));
        assert_eq!(mode_of(&dir.path().join("file:uri-like.db")), 0o600);
        assert!(!dir.path().join("uri-like.db").exists(), "not written where the URI points");
    }
    let said = std::fs::read_to_string(&log).unwrap();
    assert!(said.contains("the data dir is open to other users"), "{said}");

    // A store made before this rule, its files 0644: set right at the next start.
    std::fs::set_permissions(dir.path().join("latchkey.db"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let _server = start(dir.path()).await;
    assert_eq!(mode_of(&dir.path().join("latchkey.db")), 0o600);
}

#[tokio::test]
async fn a_store_whose_key_file_is_lost_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    drop(start(dir.path()).await);
    std::fs::remove_file(dir.path().join("secret.key")).unwrap();
    let (ok, stderr) = run(dir.path(), &["--listen", "127.0.0.1:0"]);
    assert!(!ok);
    assert!(stderr.contains("secret key file") && stderr.contains("missing"), "{stderr}");
    assert!(!dir.path().join("secret.key").exists(), "no new key was made for the existing store");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[tokio::test]
async fn a_wrong_key_refuses_to_start_with_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    drop(start(dir.path()).await);
    let other = "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE="; // 32 bytes, but not this store's key
    for (key, says) in [(other, "does not match"), ("too-short", "32 bytes encoded in base64")] {
        let output =
            command(dir.path()).env("LATCHKEY_SECRET_KEY", key).args(["--listen", "127.0.0.1:0"]).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success());
        assert!(stderr.contains(says), "{stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    }
}

#[tokio::test]
async fn a_port_in_use_and_bad_settings_fail_with_one_line_and_no_panic() {
    let dir = tempfile::tempdir().unwrap();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let (ok, stderr) = run(dir.path(), &["--listen", &address]);
    assert!(!ok);
    assert!(stderr.contains("cannot listen on"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");

    let cases = [
        (["--public-url", "ftp://example.org"], "public URL"),
        (["--database", "mysql://localhost/x"], "unsupported database URL"),
        (["--config", "/nonexistent/latchkey.toml"], "config file"),
        (["--listen", "not-an-address"], "invalid value"),
        (["--no-such-flag", "x"], "unexpected argument"),
    ];
    for (args, says) in cases {
        let (ok, stderr) = run(dir.path(), &args);
        assert!(!ok && stderr.contains(says), "{args:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked") && !stderr.contains("backtrace"), "{stderr}");
    }
}

#[tokio::test]
async fn flags_beat_environment_which_beats_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("latchkey.toml");
    let (file_port, env_port, flag_port) = (free_port(), free_port(), free_port());
    std::fs::write(&config, format!("listen = \"127.0.0.1:{file_port}\"\nsupport_email = \"help@example.org\"\n"))
        .unwrap();

    let check = |args: Vec<String>, env_listen: Option<String>, expected: u16| {
        let config = config.clone();
        let dir = dir.path().to_path_buf();
        async move {
            let mut command = command(&dir);
            command.arg("--config").arg(&config).args(&args).stdout(Stdio::null()).stderr(Stdio::null());
            if let Some(listen) = env_listen {
                command.env("LATCHKEY_LISTEN", listen);
            }
            let child = command.spawn().unwrap();
            let server = Server { child, base: format!("http://127.0.0.1:{expected}") };
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                if let Ok(r) = crate::helpers::http().get(format!("{}/no-such-page", server.base)).send().await {
                    let html = r.text().await.unwrap();
                    assert!(html.contains("mailto:help@example.org"), "the file's other keys still apply");
                    break;
                }
                assert!(Instant::now() < deadline, "nothing answered on port {expected}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    check(vec![], None, file_port).await;
    check(vec![], Some(format!("127.0.0.1:{env_port}")), env_port).await;
    check(vec!["--listen".into(), format!("127.0.0.1:{flag_port}")], Some(format!("127.0.0.1:{env_port}")), flag_port)
        .await;
}

#[tokio::test]
async fn settings_out_of_range_are_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("latchkey.toml");
    for (line, says) in [
        ("password_min_length = 7", "password_min_length"),
        ("session_idle_timeout_secs = 0", "session_idle_timeout_secs"),
        ("session_absolute_lifetime_secs = 99999999999", "session_absolute_lifetime_secs"),
        ("issuer = \"a:b\"", "issuer"),
    ] {
        std::fs::write(&config, format!("{line}\n")).unwrap();
        let (ok, stderr) = run(dir.path(), &["--config", config.to_str().unwrap()]);
        assert!(!ok && stderr.contains(says), "{line}: {stderr}");
    }
}

#[tokio::test]
async fn unknown_keys_in_the_config_file_are_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("latchkey.toml");
    std::fs::write(&config, "lisen = \"127.0.0.1:1\"\n").unwrap();
    let (ok, stderr) = run(dir.path(), &["--config", config.to_str().unwrap()]);
    assert!(!ok && stderr.contains("lisen"), "{stderr}");
}

#[tokio::test]
async fn the_secret_key_is_never_read_from_a_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("latchkey.toml");
    std::fs::write(&config, "secret_key = \"c2VjcmV0IGtleSBtYXRlcmlhbCBvZiAzMiBieXRlcyEhIQ==\"\n").unwrap();
    let (ok, stderr) = run(dir.path(), &["--config", config.to_str().unwrap(), "config", "check"]);
    assert!(!ok && stderr.contains("secret_key cannot be set in a config file"), "{stderr}");
    assert!(!stderr.contains("c2VjcmV0"), "the value is not echoed: {stderr}");
}

#[tokio::test]
async fn an_event_of_a_kind_this_version_does_not_know_is_left_out_and_audit_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let client = crate::helpers::http();
    {
        let server = start(dir.path()).await;
        let body = json!({"username": "alice", "email": "alice@example.com", "password": PASSWORD});
        client.post(format!("{}/api/v1/users", server.base)).json(&body).send().await.unwrap();
        let login = json!({"login": "alice", "password": PASSWORD});
        client.post(format!("{}/api/v1/sessions", server.base)).json(&login).send().await.unwrap();
    }
    // As a newer version would have written it before a rollback.
    tamper(dir.path(), "UPDATE security_events SET kind = 'from_a_newer_version' WHERE id = 1").await;
    let server = start(dir.path()).await;
    let login = json!({"login": "alice", "password": PASSWORD});
    let answer: Value = client
        .post(format!("{}/api/v1/sessions", server.base))
        .json(&login)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = answer["token"].as_str().expect("signing in still works");
    let events = client.get(format!("{}/api/v1/me/events", server.base)).bearer_auth(token).send().await.unwrap();
    assert_eq!(events.status(), StatusCode::OK);
    let events: Value = events.json().await.unwrap();
    assert_eq!(events["events"].as_array().unwrap().len(), 1, "only the new sign-in: {events}");
    let (ok, stderr) = run(dir.path(), &["audit", "verify"]);
    assert!(!ok && stderr.contains("event 1"), "{stderr}");
}

#[tokio::test]
async fn migrate_applies_the_schema_and_exits() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, stderr) = run(dir.path(), &["migrate"]);
    assert!(ok, "{stderr}");
    assert!(dir.path().join("latchkey.db").is_file());
}

/// Runs a statement on the store's database file, as someone with disk access would.
pub(crate) async fn tamper(data_dir: &std::path::Path, sql: &str) {
    use sqlx::Connection as _;
    let url = format!("sqlite://{}", data_dir.join("latchkey.db").display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let done = sqlx::query(sql).execute(&mut conn).await.unwrap();
    assert_eq!(done.rows_affected(), 1, "{sql}");
}

#[tokio::test]
async fn audit_verify_passes_an_untouched_log_and_names_the_first_tampered_event() {
    let dir = tempfile::tempdir().unwrap();
    {
        let server = start(dir.path()).await;
        let client = crate::helpers::http();
        let body = json!({"username": "alice", "email": "alice@example.com", "password": PASSWORD});
        client.post(format!("{}/api/v1/users", server.base)).json(&body).send().await.unwrap();
        let mut attempts = tokio::task::JoinSet::new();
        for password in [PASSWORD, "wrong password one", PASSWORD, "wrong password two", PASSWORD] {
            let request = client
                .post(format!("{}/api/v1/sessions", server.base))
                .json(&json!({"login": "alice", "password": password}));
            attempts.spawn(async move { request.send().await.unwrap().status() });
        }
        attempts.join_all().await;
    }
    let (ok, _) = run(dir.path(), &["audit", "verify"]);
    assert!(ok, "five events appended concurrently still form one chain");
    let output = command(dir.path()).args(["audit", "verify"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("is intact ("), "{stdout}");

    tamper(dir.path(), "UPDATE security_events SET ip = '192.0.2.66' WHERE id = 2").await;
    let (ok, stderr) = run(dir.path(), &["audit", "verify"]);
    assert!(!ok, "a changed event fails the check");
    assert!(stderr.contains("broken at event 2"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}

#[tokio::test]
async fn audit_verify_notices_a_removed_event() {
    let dir = tempfile::tempdir().unwrap();
    {
        let server = start(dir.path()).await;
        let client = crate::helpers::http();
        let body = json!({"username": "alice", "email": "alice@example.com", "password": PASSWORD});
        client.post(format!("{}/api/v1/users", server.base)).json(&body).send().await.unwrap();
        for _ in 0..3 {
            let body = json!({"login": "alice", "password": PASSWORD});
            client.post(format!("{}/api/v1/sessions", server.base)).json(&body).send().await.unwrap();
        }
    }
    tamper(dir.path(), "DELETE FROM security_events WHERE id = 2").await;
    let (ok, stderr) = run(dir.path(), &["audit", "verify"]);
    assert!(!ok && stderr.contains("broken at event 3"), "{stderr}");
}

#[tokio::test]
async fn a_whole_flow_logged_at_debug_level_leaks_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("server.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let server = start_logging(dir.path(), Stdio::from(log), "debug").await;
    let api = Api::new();
    let mut secrets: Vec<String> = vec![PASSWORD.to_string(), "a wrong password".to_string()];
    api.sign_up(&server, "alice").await;
    api.post(&server, "/sessions", json!({"login": "alice", "password": "a wrong password"}), None).await;
    let token = api.sign_in(&server, "alice").await.1["token"].as_str().unwrap().to_string();
    let secret =
        api.post(&server, "/me/mfa/totp", json!({}), Some(&token)).await.1["secret"].as_str().unwrap().to_string();
    let code = totp_at(&secret, now());
    let confirmed = api.post(&server, "/me/mfa/totp/confirm", json!({"code": code}), Some(&token)).await.1;
    let recovery: Vec<String> =
        confirmed["recovery_codes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().into()).collect();
    let mfa_token = api.sign_in(&server, "alice").await.1["mfa_token"].as_str().unwrap().to_string();
    let second = api.post(&server, "/sessions/mfa", json!({"mfa_token": mfa_token, "code": recovery[0]}), None).await.1;
    let second_token = second["token"].as_str().unwrap().to_string();
    api.client
        .delete(format!("{}/api/v1/sessions/current", server.base))
        .bearer_auth(&second_token)
        .send()
        .await
        .unwrap();
    drop(server);

    secrets.extend([token, secret.clone(), secret.to_lowercase(), code, mfa_token, second_token]);
    secrets.extend(recovery.iter().flat_map(|c| [c.clone(), c.replace('-', "")]));
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.contains("security event") && log.contains("DEBUG"), "the log was really captured at debug level");
    assert!(!log.contains('\u{1b}'), "no colour codes when the log is a file");
    for secret in &secrets {
        assert!(!log.contains(secret.as_str()), "the log holds a secret: {secret}");
    }
}

#[tokio::test]
async fn json_logs_are_one_object_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("server.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let server = start_with(dir.path(), Stdio::from(log), "info", |c| {
        c.args(["--log-format", "json"]);
    })
    .await;
    let body = json!({"username": "alice", "email": "alice@example.com", "password": PASSWORD});
    crate::helpers::http().post(format!("{}/api/v1/users", server.base)).json(&body).send().await.unwrap();
    let login = json!({"login": "alice", "password": PASSWORD});
    crate::helpers::http().post(format!("{}/api/v1/sessions", server.base)).json(&login).send().await.unwrap();
    let unknown = json!({"login": "nobody", "password": PASSWORD});
    crate::helpers::http().post(format!("{}/api/v1/sessions", server.base)).json(&unknown).send().await.unwrap();
    drop(server);
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.lines().count() >= 2, "{log}");
    let mut addresses = 0;
    for line in log.lines() {
        let parsed: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(parsed["level"].is_string() && parsed["timestamp"].is_string(), "{line}");
        if let Some(ip) = parsed.get("ip") {
            assert_eq!(ip, "127.0.0.1", "an address is logged as a plain value: {line}");
            addresses += 1;
        }
    }
    assert!(addresses >= 2, "the sign-in's event and the unknown login name their address: {log}");
    // CONTRACT section 6: serve logs the security log's head (at start, then periodically).
    let head = log.lines().filter_map(|line| serde_json::from_str::<Value>(line).ok()).find_map(|line| {
        (line["message"] == "security log head").then(|| line["head"].as_str().unwrap_or_default().to_string())
    });
    assert!(head.is_some_and(|head| head.starts_with("latchkey-head:v1:0:")), "the empty log's head is logged: {log}");
    assert!(!log.contains("Some("), "no field in Rust's debug form: {log}");
    assert!(!log.contains('\u{1b}'), "no colour codes in a file: {log}");
    assert!(log.contains("\"request_id\""), "request lines carry the request id: {log}");
}

#[tokio::test]
async fn config_check_prints_the_layers_applied_with_secrets_masked() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("latchkey.toml");
    std::fs::write(&config, "issuer = \"ACME\"\npassword_min_length = 14\n").unwrap();
    let output = command(dir.path())
        .args(["config", "check", "--config"])
        .arg(&config)
        .args(["--database", "postgres://latchkey:hunter2hunter2@db.internal/latchkey"])
        .env("LATCHKEY_SECRET_KEY", "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=")
        .env("LATCHKEY_WEBHOOK_URL", "https://alerts.internal/latchkey")
        .env("LATCHKEY_WEBHOOK_SECRET", "webhook-secret-webhook-secret-webhook")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(!stdout.contains("webhook-secret") && stdout.contains("webhook_secret = \"(set)\""), "{stdout}");
    assert!(stdout.contains("issuer = \"ACME\"") && stdout.contains("password_min_length = 14"), "{stdout}");
    assert!(stdout.contains("postgres://latchkey:***@db.internal/latchkey"), "{stdout}");
    assert!(!stdout.contains("hunter2") && !stdout.contains("QUFBQUFB"), "no secret is printed: {stdout}");
    assert!(stdout.contains("from LATCHKEY_SECRET_KEY (hidden)"));
}

#[tokio::test]
async fn a_webhook_without_a_long_enough_secret_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    for secret in [None, Some("short")] {
        let mut command = command(dir.path());
        command.args(["config", "check"]).env("LATCHKEY_WEBHOOK_URL", "https://alerts.internal/latchkey");
        if let Some(secret) = secret {
            command.env("LATCHKEY_WEBHOOK_SECRET", secret);
        }
        let output = command.output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success() && stderr.contains("webhook_secret"), "{stderr}");
    }
}

#[tokio::test]
async fn sigterm_stops_the_server_cleanly_with_exit_0() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start(dir.path()).await;
    let pid = server.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "still running after SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status}");
    assert!(
        crate::helpers::http().get(format!("{}/healthz", server.base)).send().await.is_err(),
        "no longer listening"
    );
}

#[tokio::test]
async fn a_port_in_use_leaves_no_store_or_key_behind() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let output = command(&data)
        .env("RUST_LOG", "info")
        .args(["--listen", &taken.local_addr().unwrap().to_string()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success() && stderr.trim().lines().count() == 1, "{stderr}");
    assert!(!data.exists(), "nothing was created before the port was checked");
}

#[tokio::test]
async fn every_flag_has_an_environment_twin() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("from-env.toml");
    std::fs::write(&config, "issuer = \"From the file\"\n").unwrap();
    let output = command(dir.path())
        .args(["config", "check"])
        .env("LATCHKEY_CONFIG", &config)
        .env("LATCHKEY_PUBLIC_URL", "https://login.example.org")
        .env("LATCHKEY_DATABASE_URL", "sqlite:///srv/latchkey/store.db")
        .env("LATCHKEY_LISTEN", "127.0.0.1:9999")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    for expected in [
        "issuer = \"From the file\"",
        "public_url = \"https://login.example.org\"",
        "database_url = \"sqlite:///srv/latchkey/store.db\"",
        "listen = \"127.0.0.1:9999\"",
        &format!("data_dir = \"{}\"", dir.path().display()),
    ] {
        assert!(stdout.contains(expected), "{expected}: {stdout}");
    }
}

pub(crate) struct Api {
    pub(crate) client: reqwest::Client,
}

impl Api {
    pub(crate) fn new() -> Self {
        Api { client: crate::helpers::http() }
    }

    pub(crate) async fn post(
        &self,
        server: &Server,
        path: &str,
        body: Value,
        token: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut request = self.client.post(format!("{}/api/v1{path}", server.base)).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        (response.status(), response.json().await.unwrap_or(Value::Null))
    }

    pub(crate) async fn me(&self, server: &Server, token: &str) -> StatusCode {
        self.client.get(format!("{}/api/v1/me", server.base)).bearer_auth(token).send().await.unwrap().status()
    }

    pub(crate) async fn sign_up(&self, server: &Server, name: &str) {
        let body = json!({"username": name, "email": format!("{name}@example.com"), "password": PASSWORD});
        assert_eq!(self.post(server, "/users", body, None).await.0, StatusCode::CREATED);
    }

    pub(crate) async fn sign_in(&self, server: &Server, name: &str) -> (StatusCode, Value) {
        self.post(server, "/sessions", json!({"login": name, "password": PASSWORD}), None).await
    }
}

pub(crate) fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// Turns MFA on for `name` through `server`; returns the session that did
/// it and the secret. The code of the current step is spent, the next step's
/// code (t+1) is still good.
pub(crate) async fn with_mfa(api: &Api, server: &Server, name: &str) -> (String, String) {
    api.sign_up(server, name).await;
    let token = api.sign_in(server, name).await.1["token"].as_str().unwrap().to_string();
    let secret =
        api.post(server, "/me/mfa/totp", json!({}), Some(&token)).await.1["secret"].as_str().unwrap().to_string();
    let (status, _) =
        api.post(server, "/me/mfa/totp/confirm", json!({"code": totp_at(&secret, now())}), Some(&token)).await;
    assert_eq!(status, StatusCode::OK);
    (token, secret)
}
