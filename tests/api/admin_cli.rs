//! The operator's commands, run as the real binary against the store a
//! running server uses.

use std::io::Write as _;
use std::process::{Command, Stdio};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::binary::{now, start, Server};
use crate::helpers::{totp_at, PASSWORD};

/// Runs `latchkey ARGS` on a data dir, with `stdin`; returns (ok, stdout, stderr).
fn latchkey(data_dir: &std::path::Path, args: &[&str], stdin: &str) -> (bool, String, String) {
    run_cli(data_dir, args, stdin, |command| {
        command
            .env_remove("LATCHKEY_DATABASE_URL")
            .env_remove("LATCHKEY_SECRET_KEY")
            .env("USER", "support-sam")
            .env_remove("SUDO_USER");
    })
}

/// Runs `latchkey ARGS` on a data dir after `adjust`, with `stdin`; returns (ok, stdout, stderr).
pub(crate) fn run_cli(
    data_dir: &std::path::Path,
    args: &[&str],
    stdin: &str,
    adjust: impl FnOnce(&mut Command),
) -> (bool, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_latchkey"));
    command
        .args(args)
        .env("LATCHKEY_DATA_DIR", data_dir)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    adjust(&mut command);
    let mut child = command.spawn().unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    (output.status.success(), String::from_utf8(output.stdout).unwrap(), String::from_utf8(output.stderr).unwrap())
}

/// Signs in over the API of a running binary; (status, body).
pub(crate) async fn sign_in(server: &Server, login: &str, password: &str) -> (StatusCode, Value) {
    let response = crate::helpers::http()
        .post(format!("{}/api/v1/sessions", server.base))
        .json(&json!({"login": login, "password": password}))
        .send()
        .await
        .unwrap();
    (response.status(), response.json().await.unwrap_or(Value::Null))
}

/// The caller's security events, as `GET /me/events` lists them.
async fn events(server: &Server, token: &str) -> Value {
    let url = format!("{}/api/v1/me/events", server.base);
    crate::helpers::http().get(url).bearer_auth(token).send().await.unwrap().json().await.unwrap()
}

async fn me(server: &Server, token: &str) -> (StatusCode, Value) {
    let response =
        crate::helpers::http().get(format!("{}/api/v1/me", server.base)).bearer_auth(token).send().await.unwrap();
    (response.status(), response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn user_create_reads_the_password_from_stdin_and_list_and_show_find_it() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out, err) =
        latchkey(dir.path(), &["user", "create", "Alice", "--email", "alice@example.com"], &format!("{PASSWORD}\n"));
    assert!(ok, "{err}");
    assert!(out.starts_with("created alice ("), "{out}");
    let (ok, _, err) = latchkey(dir.path(), &["user", "create", "bob", "--email", "bob@example.com"], "password1234\n");
    assert!(!ok && err.contains("password:") && err.trim().lines().count() == 1, "{err}");
    let (ok, _, err) =
        latchkey(dir.path(), &["user", "create", "alice", "--email", "x@example.com"], &format!("{PASSWORD}\n"));
    assert!(!ok && err.contains("already taken"), "{err}");

    let server = start(dir.path()).await;
    assert_eq!(
        sign_in(&server, "alice", PASSWORD).await.0,
        StatusCode::CREATED,
        "the password came through stdin intact"
    );

    let (ok, table, _) = latchkey(dir.path(), &["user", "list"], "");
    assert!(
        ok && table.starts_with("USERNAME") && table.contains("alice") && table.contains("alice@example.com"),
        "{table}"
    );
    let (ok, listed, _) = latchkey(dir.path(), &["user", "list", "--json"], "");
    let listed: Value = serde_json::from_str(&listed).unwrap();
    assert!(ok);
    assert_eq!(listed[0]["username"], "alice");
    assert_eq!(listed[0]["mfa_enabled"], false);
    let (ok, shown, _) = latchkey(dir.path(), &["user", "show", "alice@example.com"], "");
    assert!(ok && shown.contains("mfa:                 off") && shown.contains("active sessions:     1"), "{shown}");
    let (ok, _, err) = latchkey(dir.path(), &["user", "show", "nobody"], "");
    assert!(!ok && err.contains("there is no user") && err.trim().lines().count() == 1, "{err}");
}

#[tokio::test]
async fn a_locked_account_is_refused_with_403_until_unlocked() {
    let dir = tempfile::tempdir().unwrap();
    latchkey(dir.path(), &["user", "create", "alice", "--email", "alice@example.com"], PASSWORD);
    let server = start(dir.path()).await;
    let token = sign_in(&server, "alice", PASSWORD).await.1["token"].as_str().unwrap().to_string();

    let (ok, out, _) = latchkey(dir.path(), &["user", "lock", "alice"], "");
    assert!(ok && out.contains("alice is locked; 1 sessions ended"), "{out}");
    assert_eq!(me(&server, &token).await.0, StatusCode::UNAUTHORIZED, "sessions end with the lock");
    let (status, body) = sign_in(&server, "alice", PASSWORD).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("account_locked")));
    let (status, body) = sign_in(&server, "alice", "a wrong password").await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_credentials")));

    let (ok, out, _) = latchkey(dir.path(), &["user", "unlock", "alice"], "");
    assert!(ok && out.contains("alice is unlocked"), "{out}");
    let (status, body) = sign_in(&server, "alice", PASSWORD).await;
    assert_eq!(status, StatusCode::CREATED);
    let events = events(&server, body["token"].as_str().unwrap()).await;
    let locked = events["events"].as_array().unwrap().iter().find(|e| e["kind"] == "account_locked").unwrap().clone();
    assert_eq!(locked["user_agent"], "latchkey CLI, operator support-sam", "the event names the operator");
}

#[tokio::test]
async fn groups_are_kept_from_the_command_line_and_shown_to_the_member() {
    let dir = tempfile::tempdir().unwrap();
    latchkey(dir.path(), &["user", "create", "alice", "--email", "alice@example.com"], PASSWORD);
    latchkey(dir.path(), &["user", "create", "bob", "--email", "bob@example.com"], PASSWORD);
    let server = start(dir.path()).await;
    let token = sign_in(&server, "alice", PASSWORD).await.1["token"].as_str().unwrap().to_string();
    assert_eq!(me(&server, &token).await.1["user"]["groups"], json!([]));

    for group in ["Staff", "admins"] {
        let (ok, out, err) = latchkey(dir.path(), &["group", "create", group], "");
        assert!(ok && out.contains(&format!("created group {}", group.to_lowercase())), "{out}{err}");
    }
    let (ok, _, err) = latchkey(dir.path(), &["group", "create", "STAFF"], "");
    assert!(!ok && err.contains("there is a group \"STAFF\" already"), "names fold like usernames: {err}");
    let (ok, _, err) = latchkey(dir.path(), &["group", "create", "a,b"], "");
    assert!(!ok && err.contains("Group name may only use"), "{err}");
    for (group, user) in [("staff", "alice"), ("admins", "alice@example.com"), ("staff", "bob")] {
        let (ok, out, err) = latchkey(dir.path(), &["group", "add", group, user], "");
        assert!(ok && out.contains(&format!("is now in group {group}")), "{out}{err}");
    }
    let (ok, out, _) = latchkey(dir.path(), &["group", "add", "staff", "bob"], "");
    assert!(ok && out.contains("was in group staff already"), "{out}");
    let (ok, _, err) = latchkey(dir.path(), &["group", "add", "nobody", "bob"], "");
    assert!(!ok && err.contains("there is no group \"nobody\""), "{err}");
    let (ok, _, err) = latchkey(dir.path(), &["group", "add", "staff", "carol"], "");
    assert!(!ok && err.contains("there is no user \"carol\""), "{err}");

    let (_, out, _) = latchkey(dir.path(), &["group", "list"], "");
    let rows: Vec<Vec<&str>> = out.lines().skip(1).map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows, [["admins", "1"], ["staff", "2"]], "{out}");
    let (_, out, _) = latchkey(dir.path(), &["group", "members", "staff"], "");
    assert_eq!(out, "alice\nbob\n");
    let (_, out, _) = latchkey(dir.path(), &["user", "show", "alice"], "");
    assert!(out.contains("groups:              admins, staff"), "{out}");
    assert_eq!(me(&server, &token).await.1["user"]["groups"], json!(["admins", "staff"]), "a live session sees them");

    let (ok, out, _) = latchkey(dir.path(), &["group", "remove", "admins", "alice"], "");
    assert!(ok && out.contains("alice left group admins"), "{out}");
    let (ok, _, err) = latchkey(dir.path(), &["group", "remove", "admins", "alice"], "");
    assert!(!ok && err.contains("alice is not in group"), "{err}");
    let (ok, out, _) = latchkey(dir.path(), &["group", "delete", "staff"], "");
    assert!(ok && out.contains("deleted group staff; 2 members left it"), "{out}");
    assert_eq!(me(&server, &token).await.1["user"]["groups"], json!([]));

    let listed = events(&server, &token).await;
    let kinds: Vec<(&str, &str)> = listed["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"].as_str().unwrap().starts_with("group_"))
        .map(|e| (e["kind"].as_str().unwrap(), e["user_agent"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("group_member_removed", "latchkey CLI, operator support-sam, group staff"),
            ("group_member_removed", "latchkey CLI, operator support-sam, group admins"),
            ("group_member_added", "latchkey CLI, operator support-sam, group admins"),
            ("group_member_added", "latchkey CLI, operator support-sam, group staff"),
        ],
        "each membership change names the operator and the group, newest first"
    );
}

#[tokio::test]
async fn reset_mfa_is_the_lost_device_workflow() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    let (token, _) = alice_with_mfa(&server).await;
    assert_eq!(sign_in(&server, "alice", PASSWORD).await.1["mfa_required"], true);

    let (ok, out, _) = latchkey(dir.path(), &["user", "reset-mfa", "alice"], "");
    assert!(ok && out.contains("MFA is off for alice"), "{out}");
    assert_eq!(me(&server, &token).await.0, StatusCode::UNAUTHORIZED, "every session ended");
    let (status, body) = sign_in(&server, "alice", PASSWORD).await;
    assert_eq!(status, StatusCode::CREATED, "the password alone signs in again: {body}");
    assert_eq!(body["user"]["mfa_enabled"], false);
    let (_, shown, _) = latchkey(dir.path(), &["user", "show", "alice"], "");
    assert!(shown.contains("recovery codes left: 0"), "{shown}");

    let (ok, out, _) = latchkey(dir.path(), &["user", "revoke-sessions", "alice"], "");
    assert!(ok && out.contains("1 sessions of alice ended"), "{out}");
    assert_eq!(me(&server, body["token"].as_str().unwrap()).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn reset_mfa_of_an_account_without_mfa_says_so_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    latchkey(dir.path(), &["user", "create", "alice", "--email", "alice@example.com"], PASSWORD);
    let server = start(dir.path()).await;
    let token = sign_in(&server, "alice", PASSWORD).await.1["token"].as_str().unwrap().to_string();
    let (ok, out, _) = latchkey(dir.path(), &["user", "reset-mfa", "alice"], "");
    assert!(ok && out.contains("alice has MFA off: nothing to reset"), "{out}");
    assert_eq!(me(&server, &token).await.0, StatusCode::OK, "no session ended");
    let events = events(&server, &token).await;
    assert!(!events.to_string().contains("mfa_reset_by_operator"), "nothing recorded: {events}");
}

#[tokio::test]
async fn backup_copies_a_live_store_that_a_server_can_run_on() {
    let dir = tempfile::tempdir().unwrap();
    latchkey(dir.path(), &["user", "create", "alice", "--email", "alice@example.com"], PASSWORD);
    let server = start(dir.path()).await;
    assert_eq!(sign_in(&server, "alice", PASSWORD).await.0, StatusCode::CREATED);
    let copy = tempfile::tempdir().unwrap();
    let file = copy.path().join("latchkey.db");
    let (ok, out, err) = latchkey(dir.path(), &["backup", file.to_str().unwrap()], "");
    assert!(ok && out.contains("checked"), "{out}{err}");
    let (ok, _, err) = latchkey(dir.path(), &["backup", file.to_str().unwrap()], "");
    assert!(!ok && err.contains("already exists"), "{err}");
    drop(server);

    std::fs::copy(dir.path().join("secret.key"), copy.path().join("secret.key")).unwrap();
    let restored = start(copy.path()).await;
    assert_eq!(sign_in(&restored, "alice", PASSWORD).await.0, StatusCode::CREATED, "the backup is a working store");
}

/// Signs up alice through `server` with MFA on; returns the session that
/// turned it on and her secret.
async fn alice_with_mfa(server: &Server) -> (String, String) {
    crate::binary::with_mfa(&crate::binary::Api::new(), server, "alice").await
}

async fn second_step(server: &Server, secret: &str) -> StatusCode {
    let mfa_token = sign_in(server, "alice", PASSWORD).await.1["mfa_token"].as_str().unwrap().to_string();
    crate::helpers::http()
        .post(format!("{}/api/v1/sessions/mfa", server.base))
        .json(&json!({"mfa_token": mfa_token, "code": totp_at(secret, now() + 30)}))
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn key_rotate_moves_every_secret_to_a_new_key_file() {
    let dir = tempfile::tempdir().unwrap();
    let secret = {
        let server = start(dir.path()).await;
        alice_with_mfa(&server).await.1
    };
    let old_key = std::fs::read_to_string(dir.path().join("secret.key")).unwrap();
    let (ok, out, err) = latchkey(dir.path(), &["key", "rotate"], "");
    assert!(ok && out.contains("re-encrypted 1 TOTP secrets"), "{out}{err}");
    let new_key = std::fs::read_to_string(dir.path().join("secret.key")).unwrap();
    assert_ne!(new_key, old_key);
    assert_eq!(std::fs::read_to_string(dir.path().join("secret.key.old")).unwrap(), old_key, "kept for old backups");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("secret.key")).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let server = start(dir.path()).await;
    assert_eq!(second_step(&server, &secret).await, StatusCode::CREATED, "the code still works under the new key");
    drop(server);

    std::fs::write(dir.path().join("secret.key"), &old_key).unwrap();
    let (ok, _, err) = latchkey(dir.path(), &["user", "list"], "");
    assert!(!ok && err.contains("does not match"), "the old key no longer opens the store: {err}");
}

#[tokio::test]
async fn key_rotate_refuses_while_a_server_uses_the_store_and_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start(dir.path()).await;
    let secret = alice_with_mfa(&server).await.1;
    let old_key = std::fs::read_to_string(dir.path().join("secret.key")).unwrap();
    let port = server.base.rsplit(':').next().unwrap().to_string();

    let (ok, _, err) = latchkey(dir.path(), &["key", "rotate"], "");
    assert!(!ok && err.contains("refusing to rotate the key while a process is serving"), "{err}");
    assert!(err.contains(&format!("pid {}", server.pid())) && err.contains(&format!("127.0.0.1:{port}")), "{err}");
    assert!(err.contains("nothing was changed") && err.trim().lines().count() == 1, "{err}");
    assert_eq!(std::fs::read_to_string(dir.path().join("secret.key")).unwrap(), old_key);
    assert!(!dir.path().join("secret.key.new").exists(), "no pending key is left behind");
    assert_eq!(
        second_step(&server, &secret).await,
        StatusCode::CREATED,
        "the running server still signs in with codes"
    );

    server.stop();
    let (ok, out, err) = latchkey(dir.path(), &["key", "rotate"], "");
    assert!(ok && out.contains("re-encrypted 1 TOTP secrets"), "once it has stopped: {out}{err}");
    let server = start(dir.path()).await;
    assert_eq!(sign_in(&server, "alice", PASSWORD).await.1["mfa_required"], true);
}

#[tokio::test]
async fn a_server_whose_key_was_rotated_under_it_stops_at_its_next_heartbeat() {
    use sqlx::Connection as _;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("serve.log");
    let mut server =
        crate::binary::start_with(dir.path(), Stdio::from(std::fs::File::create(&log).unwrap()), "warn", |_| {}).await;
    // As a rotation that did not see this process would leave the store
    // (one whose heartbeats failed for longer than the rotation waits).
    let other = latchkey_core::SecretBox::from_base64("AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=").unwrap();
    let check = other.seal(b"latchkey server key", b"latchkey key check; event chain keyed v1");
    let url = format!("sqlite://{}", dir.path().join("latchkey.db").display());
    let mut db = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("UPDATE meta SET value = ? WHERE key = 'key_check'").bind(check).execute(&mut db).await.unwrap();
    let status = server.wait_for_exit(std::time::Duration::from_secs(20)).expect("it stops by itself");
    assert!(!status.success(), "{status}");
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("rotated while this process served it"), "{logged}");
}

#[tokio::test]
async fn an_interrupted_rotation_is_finished_at_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    drop(start(dir.path()).await);
    let (ok, _, err) = latchkey(dir.path(), &["key", "rotate"], "");
    assert!(ok, "{err}");
    // Put the files back as a crash between the store's switch and the renames leaves them.
    std::fs::rename(dir.path().join("secret.key"), dir.path().join("secret.key.new")).unwrap();
    std::fs::rename(dir.path().join("secret.key.old"), dir.path().join("secret.key")).unwrap();
    let (ok, out, err) = latchkey(dir.path(), &["user", "list"], "");
    assert!(ok, "the pending new key is taken: {out}{err}");
    assert!(!dir.path().join("secret.key.new").exists());
}

#[tokio::test]
async fn output_into_a_closed_pipe_is_no_panic() {
    let dir = tempfile::tempdir().unwrap();
    latchkey(dir.path(), &["user", "create", "alice", "--email", "alice@example.com"], PASSWORD);
    for args in [&["user", "list"][..], &["user", "show", "alice"], &["--help"]] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_latchkey"))
            .args(args)
            .env("LATCHKEY_DATA_DIR", dir.path())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The reader goes away before the command has written anything.
        drop(child.stdout.take());
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

#[tokio::test]
#[ignore = "needs PostgreSQL (LATCHKEY_TEST_DATABASE_URL)"]
async fn the_account_commands_and_key_rotation_work_on_postgresql() {
    let db = crate::stores::TestDatabase::postgres().await;
    let dir = tempfile::tempdir().unwrap();
    let key = "UG9zdGdyZVNRTC1rZXktZm9yLWNsaS10ZXN0cy4uLi4=";
    let run = |args: &[&str], key: &str, stdin: &str| {
        run_cli(dir.path(), args, stdin, |command| {
            command.args(["--database", &db.url]).env("LATCHKEY_SECRET_KEY", key);
        })
    };
    assert!(run(&["user", "create", "alice", "--email", "alice@example.com"], key, PASSWORD).0);
    let (ok, listed, _) = run(&["user", "list", "--json"], key, "");
    assert!(ok && listed.contains("\"alice\""), "{listed}");
    let (ok, out, _) = run(&["user", "lock", "alice"], key, "");
    assert!(ok && out.contains("alice is locked"), "{out}");
    let (_, shown, _) = run(&["user", "show", "alice"], key, "");
    assert!(shown.contains("locked:              yes"), "{shown}");
    assert!(run(&["user", "unlock", "alice"], key, "").0);
    let (ok, out, err) = run(&["key", "rotate"], key, "");
    assert!(ok && out.contains("set LATCHKEY_SECRET_KEY"), "{out}{err}");
    let new_key = out.lines().last().unwrap().trim().to_string();
    assert_ne!(new_key, key);
    assert!(!run(&["user", "list"], key, "").0, "the old key no longer opens the store");
    assert!(run(&["user", "list"], &new_key, "").0, "the printed key does");
    let (ok, _, err) = run(&["backup", "/tmp/never.db"], &new_key, "");
    assert!(!ok && err.contains("pg_dump"), "{err}");
}

#[tokio::test]
async fn commands_on_a_missing_store_say_so_and_create_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-dir");
    for args in
        [vec!["user", "list"], vec!["audit", "verify"], vec!["key", "rotate"], vec!["backup", "/tmp/latchkey-never.db"]]
    {
        let (ok, _, err) = latchkey(&missing, &args, "");
        assert!(!ok && err.contains("no SQLite store"), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
    assert!(!missing.exists(), "no data dir, database or key was made");
}

#[tokio::test]
async fn reset_mfa_from_the_command_line_mails_the_owner_before_it_exits() {
    let sink = crate::notifications::SmtpSink::start().await;
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    alice_with_mfa(&server).await;
    drop(server);
    let mut command = Command::new(env!("CARGO_BIN_EXE_latchkey"));
    command
        .args(["user", "reset-mfa", "alice"])
        .env("LATCHKEY_DATA_DIR", dir.path())
        .env("LATCHKEY_SMTP_URL", format!("smtp://127.0.0.1:{}", sink.port))
        .env("LATCHKEY_MAIL_FROM", "Latchkey <latchkey@example.org>")
        .env("LATCHKEY_PUBLIC_URL", "https://login.example.org")
        .env("RUST_LOG", "warn");
    // Off the test's runtime thread: the sink has to answer while the command runs.
    let output = tokio::task::spawn_blocking(move || command.output()).await.unwrap().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let mail = sink.expect("Multi-Factor Authentication was reset").await;
    let text = mail.replace("=\n", ""); // undo quoted-printable's soft line breaks
    assert!(text.contains("https://login.example.org/account/security"), "{mail}");
}

#[tokio::test]
async fn user_unlock_clears_a_totp_factor_locked_after_100_wrong_codes() {
    let app = crate::helpers::spawn_app().await;
    let (_, secret, _) = app.user_with_mfa("alice").await;
    let mut evaluated = 0;
    let mut mfa_token = app.mfa_token("alice").await;
    while evaluated < 100 {
        let response = app.second_step(&mfa_token, "000000").await;
        let status = response.status();
        let retry = response.headers().get("retry-after").map(|v| v.to_str().unwrap().parse::<i64>().unwrap());
        let body: Value = response.json().await.unwrap();
        match (status, body["error"]["code"].as_str()) {
            (StatusCode::UNAUTHORIZED, Some("invalid_code")) => evaluated += 1,
            (StatusCode::UNAUTHORIZED, _) => mfa_token = app.mfa_token("alice").await,
            (StatusCode::TOO_MANY_REQUESTS, _) => app.clock.advance(time::Duration::seconds(retry.unwrap())),
            other => panic!("{other:?}"),
        }
    }
    app.clock.advance(time::Duration::days(2));
    let mfa_token = app.mfa_token("alice").await;
    assert_eq!(
        app.second_step(&mfa_token, &app.code(&secret, 0)).await.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "locked"
    );

    let (ok, out, err) = latchkey(app.data_dir.path(), &["user", "unlock", "alice"], "");
    assert!(ok && out.contains("alice is unlocked"), "{out}{err}");
    assert_eq!(app.second_step(&mfa_token, &app.code(&secret, 0)).await.status(), StatusCode::CREATED, "unlocked");
}

#[tokio::test]
async fn a_sign_in_half_done_when_the_account_is_locked_gets_no_session() {
    let app = crate::helpers::spawn_app().await;
    let (token, secret, _) = app.user_with_mfa("alice").await;
    let mfa_token = app.mfa_token("alice").await;
    let (ok, _, err) = latchkey(app.data_dir.path(), &["user", "lock", "alice"], "");
    assert!(ok, "{err}");
    app.clock.advance(time::Duration::seconds(30));
    let response = app.second_step(&mfa_token, &app.code(&secret, 0)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "the pending sign-in died with the lock");
    assert_eq!(app.get_api("/me", &token).await.status(), StatusCode::UNAUTHORIZED);
    let status = app.post_json("/sessions", &json!({"login": "alice", "password": PASSWORD}), None).await.status();
    assert_eq!(status, StatusCode::FORBIDDEN, "and the password step says locked");
}

#[tokio::test]
async fn turning_trust_off_forgets_trusted_browsers_for_good() {
    use crate::binary::{start_with, with_mfa, Api};
    let dir = tempfile::tempdir().unwrap();
    let api = Api::new();
    let device = {
        let server = start(dir.path()).await;
        let (_, secret) = with_mfa(&api, &server, "alice").await;
        let mfa_token = api.sign_in(&server, "alice").await.1["mfa_token"].as_str().unwrap().to_string();
        let body = json!({"mfa_token": mfa_token, "code": totp_at(&secret, now() + 30), "trust_device": true});
        let (status, answer) = api.post(&server, "/sessions/mfa", body, None).await;
        assert_eq!(status, StatusCode::CREATED);
        answer["device_token"].as_str().unwrap().to_string()
    };
    drop(
        start_with(dir.path(), Stdio::null(), "warn", |c| {
            c.env("LATCHKEY_TRUSTED_DEVICE_DAYS", "0");
        })
        .await,
    );
    let server = start(dir.path()).await;
    let body = json!({"login": "alice", "password": PASSWORD, "device_token": device});
    let (status, answer) = api.post(&server, "/sessions", body, None).await;
    assert_eq!(
        (status, answer["mfa_required"].as_bool()),
        (StatusCode::OK, Some(true)),
        "the old trust did not come back"
    );
}
