//! The security log against someone who can write the database but does
//! not hold the server key: the chain is keyed, so a rewrite does not
//! verify, and a head kept outside the database finds events cut off its
//! end (CONTRACT.md section 6, "The security log's head").

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::json;
use sha2::{Digest, Sha256};
use sqlx::{Connection as _, Row as _};

use crate::binary::{command, run, start, Api};
use crate::helpers::spawn_app_with;

/// A store with alice signed up and signed in `sign_ins` times; the server is stopped.
async fn store_with_events(sign_ins: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    let api = Api::new();
    api.sign_up(&server, "alice").await;
    for _ in 0..sign_ins {
        api.sign_in(&server, "alice").await;
    }
    dir
}

/// `latchkey audit head`: the one line it prints.
fn head_line(dir: &std::path::Path) -> String {
    let output = command(dir).args(["audit", "head"]).stdin(Stdio::null()).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let line = String::from_utf8(output.stdout).unwrap().trim().to_string();
    assert!(line.starts_with("latchkey-head:v1:"), "{line}");
    line
}

/// A connection to the store's database file, as someone with disk access has.
async fn database(dir: &std::path::Path) -> sqlx::SqliteConnection {
    let url = format!("sqlite://{}", dir.join("latchkey.db").display());
    sqlx::SqliteConnection::connect(&url).await.unwrap()
}

#[tokio::test]
async fn a_known_head_finds_the_newest_events_cut_off() {
    let dir = store_with_events(4).await;
    let line = head_line(dir.path());
    assert!(line.starts_with("latchkey-head:v1:4:"), "four sign-ins: {line}");
    assert!(run(dir.path(), &["audit", "verify", "--head", &line]).0, "the untouched log holds its head");

    let mut db = database(dir.path()).await;
    sqlx::query("DELETE FROM security_events WHERE id > 2").execute(&mut db).await.unwrap();
    let (ok, _) = run(dir.path(), &["audit", "verify"]);
    assert!(ok, "without a head, a chain cut at its end still links");
    let (ok, stderr) = run(dir.path(), &["audit", "verify", "--head", &line]);
    assert!(!ok && stderr.contains("holds 2 events, but the head counted 4"), "{stderr}");

    // The head as serve logs it, read from a log file: its last head line counts.
    let log = dir.path().join("serve.log");
    std::fs::write(&log, format!("INFO security log head events=4 head={line}\nINFO other line\n")).unwrap();
    let (ok, stderr) = run(dir.path(), &["audit", "verify", "--head", log.to_str().unwrap()]);
    assert!(!ok && stderr.contains("events at its end were removed"), "{stderr}");
}

#[tokio::test]
async fn a_head_from_before_a_rollback_names_the_rewrite() {
    let dir = store_with_events(2).await;
    let line = head_line(dir.path());
    // The newest event replaced by one appended under the key (as a
    // restored older backup that went on serving would have it).
    let mut db = database(dir.path()).await;
    let newest = "DELETE FROM security_events WHERE id = (SELECT MAX(id) FROM security_events)";
    assert_eq!(sqlx::query(newest).execute(&mut db).await.unwrap().rows_affected(), 1);
    drop(db);
    let server = start(dir.path()).await;
    Api::new().post(&server, "/sessions", json!({"login": "alice", "password": "a wrong password"}), None).await;
    drop(server);
    let (ok, stderr) = run(dir.path(), &["audit", "verify", "--head", &line]);
    assert!(!ok && stderr.contains("is not the one the head names"), "{stderr}");
}

#[tokio::test]
async fn a_head_not_signed_with_the_server_key_is_refused() {
    let dir = store_with_events(1).await;
    let line = head_line(dir.path());
    let count: u64 = line.split(':').nth(2).unwrap().parse().unwrap();
    let forged = line.replacen(&format!(":v1:{count}:"), &format!(":v1:{}:", count + 1), 1);
    let (ok, stderr) = run(dir.path(), &["audit", "verify", "--head", &forged]);
    assert!(!ok && stderr.contains("signature is not this server key's"), "{stderr}");
    let (ok, stderr) = run(dir.path(), &["audit", "verify", "--head", "/no/such/head-file"]);
    assert!(!ok && stderr.contains("cannot read the head"), "{stderr}");
}

/// The hash of an event as the unkeyed chain had it (and as anyone can
/// compute): SHA-256 over the length-prefixed fields.
fn unkeyed_hash(prev: &str, user: &str, kind: &str, at: i64, ip: &str, user_agent: &str) -> String {
    let mut hasher = Sha256::new();
    for field in [prev, user, kind, &at.to_string(), ip, user_agent] {
        hasher.update((field.len() as u64).to_be_bytes());
        hasher.update(field.as_bytes());
    }
    hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Recomputes every link of the chain without a key, as the versions before
/// the keyed chain made it (and as anyone can).
async fn rechain_unkeyed(db: &mut sqlx::SqliteConnection) {
    let rows = sqlx::query("SELECT id, user_id, kind, at, ip, user_agent FROM security_events ORDER BY id")
        .fetch_all(&mut *db)
        .await
        .unwrap();
    let mut prev = "0".repeat(64);
    for row in &rows {
        let ip: Option<String> = row.get("ip");
        let user_agent: Option<String> = row.get("user_agent");
        let hash = unkeyed_hash(
            &prev,
            row.get::<&str, _>("user_id"),
            row.get::<&str, _>("kind"),
            row.get::<i64, _>("at"),
            ip.as_deref().unwrap_or(""),
            user_agent.as_deref().unwrap_or(""),
        );
        sqlx::query("UPDATE security_events SET prev_hash = ?, hash = ? WHERE id = ?")
            .bind(&prev)
            .bind(&hash)
            .bind(row.get::<i64, _>("id"))
            .execute(&mut *db)
            .await
            .unwrap();
        prev = hash;
    }
}

#[tokio::test]
async fn a_log_rewritten_and_rechained_without_the_key_does_not_verify() {
    let dir = store_with_events(3).await;
    let mut db = database(dir.path()).await;
    // Remove an event and recompute every link, as a writer of the
    // database would to hide it.
    sqlx::query("DELETE FROM security_events WHERE id = 2").execute(&mut db).await.unwrap();
    rechain_unkeyed(&mut db).await;
    drop(db);
    let (ok, stderr) = run(dir.path(), &["audit", "verify"]);
    assert!(!ok && stderr.contains("broken at event 1") && stderr.contains("without the server key"), "{stderr}");
    // Nor does a restart take the rewrite for an older store's log to key:
    // the key check, which only the key makes, says the log is keyed.
    drop(start(dir.path()).await);
    let (ok, stderr) = run(dir.path(), &["audit", "verify"]);
    assert!(!ok && stderr.contains("broken at event 1"), "{stderr}");
}

#[tokio::test]
async fn the_log_of_a_store_from_before_the_keyed_chain_is_keyed_at_the_first_start_with_a_warning() {
    let dir = store_with_events(3).await;
    let mut db = database(dir.path()).await;
    rechain_unkeyed(&mut db).await;
    // The key check as the versions before the keyed chain sealed it.
    let key = std::fs::read_to_string(dir.path().join("secret.key")).unwrap();
    let old_check =
        latchkey_core::SecretBox::from_base64(&key).unwrap().seal(b"latchkey server key", b"latchkey key check");
    sqlx::query("UPDATE meta SET value = ? WHERE key = 'key_check'").bind(old_check).execute(&mut db).await.unwrap();
    drop(db);
    let (ok, stderr) = run(dir.path(), &["audit", "verify"]);
    assert!(!ok && stderr.contains("still in the unkeyed format"), "a check changes nothing: {stderr}");

    let log = dir.path().join("serve.log");
    let server =
        crate::binary::start_with(dir.path(), Stdio::from(std::fs::File::create(&log).unwrap()), "warn", |_| {}).await;
    drop(server);
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("now keyed under the server key (3 events)"), "keyed once, and said: {logged}");
    let (ok, stderr) = run(dir.path(), &["audit", "verify"]);
    assert!(ok, "{stderr}");
}

#[tokio::test]
async fn serve_logs_the_head_and_posts_it_to_the_webhook() {
    let receiver = crate::webhooks::Receiver::start().await;
    let url = receiver.url.clone();
    let app = spawn_app_with(|config| {
        config.webhook_url = Some(url);
        config.webhook_secret = Some(crate::webhooks::SECRET.into());
        config.audit_head_interval_secs = 1;
    })
    .await;
    app.sign_up("alice").await;
    app.sign_in("alice").await;
    // The head moves with the sign-in's event; the first one posted may be of the empty log.
    let deadline = Instant::now() + Duration::from_secs(20);
    let posted = loop {
        let heads = receiver.all("log_head");
        if let Some(head) = heads.iter().find(|h| h["details"]["events"].as_u64() > Some(0)) {
            break head.clone();
        }
        assert!(Instant::now() < deadline, "no head of a non-empty log posted: {heads:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(posted["user"], serde_json::Value::Null);
    let line = posted["details"]["head"].as_str().unwrap();
    let (ok, stderr) = run(app.data_dir.path(), &["audit", "verify", "--head", line]);
    assert!(ok, "the posted head is one audit verify takes: {stderr}");
}
