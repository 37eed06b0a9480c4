//! Deleting an account and exporting its data (contract section 6).

use reqwest::StatusCode;
use serde_json::{json, Value};

use latchkey_core::store::{EventLog as _, UserStore as _};

use crate::helpers::{spawn_app, PASSWORD};
use crate::notifications::{app_with_mail, SmtpSink};

#[tokio::test]
async fn a_deleted_account_is_refused_at_once_its_names_are_free_and_the_log_still_verifies() {
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink).await;
    let created = app.sign_up("alice").await;
    let id = created["user"]["id"].as_str().unwrap().to_string();
    let session = app.sign_in("alice").await;
    let other = app.sign_in("alice").await;
    let made = app.post_json("/me/tokens", &json!({"name": "backup script", "scopes": ["api"]}), Some(&session)).await;
    assert_eq!(made.status(), StatusCode::CREATED);
    let app_token = made.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_string();
    assert_eq!(app.get_api("/me", &app_token).await.status(), StatusCode::OK);

    let wrong = app.api_delete_json("/me", &json!({"password": "not my password"}), &session).await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let garbled = app.api_delete_json("/me", &json!({"password": 12}), &session).await;
    assert_eq!(garbled.status(), StatusCode::BAD_REQUEST);
    assert_eq!(app.get_api("/me", &other).await.status(), StatusCode::OK, "nothing changed yet");

    let deleted = app.api_delete_json("/me", &json!({"password": PASSWORD}), &session).await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    for token in [&session, &other, &app_token] {
        assert_eq!(app.get_api("/me", token).await.status(), StatusCode::UNAUTHORIZED, "every token is dead");
    }
    let sign_in = app.post_json("/sessions", &json!({"login": "alice", "password": PASSWORD}), None).await;
    assert_eq!(sign_in.status(), StatusCode::UNAUTHORIZED);
    sink.expect_all(&["To: alice@example.com", "Your account was deleted"]).await;

    let again = app.sign_up("alice").await;
    assert_ne!(again["user"]["id"].as_str(), Some(id.as_str()), "the names are free: a new account");

    let (ok, out, err) = crate::admin_cli::run_cli(app.data_dir.path(), &["audit", "verify"], "", |c| {
        c.env_remove("LATCHKEY_DATABASE_URL");
    });
    assert!(ok, "the chain still verifies: {out}{err}");
    let url = format!("sqlite://{}", app.data_dir.path().join("latchkey.db").display());
    let store = latchkey_store_sql::SqlStore::open(&url, 1).await.unwrap();
    let id = latchkey_core::UserId(id.parse().unwrap());
    assert!(store.find_user(id).await.unwrap().is_none(), "the user's row is gone");
    let kinds: Vec<_> = store.list_events(id, 100).await.unwrap().into_iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds.first(), Some(&"account_deleted"), "the events stay, under the id: {kinds:?}");
    assert!(kinds.contains(&"signed_in"));
}

#[tokio::test]
async fn deleting_an_account_with_mfa_needs_a_current_code_too() {
    let app = spawn_app().await;
    let (session, secret, _) = app.user_with_mfa("alice").await;
    let response = app.api_delete_json("/me", &json!({"password": PASSWORD}), &session).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(response.json::<Value>().await.unwrap()["error"]["fields"]["code"].is_string());
    let response = app.api_delete_json("/me", &json!({"password": PASSWORD, "code": "123456"}), &session).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "a wrong code");
    assert_eq!(app.get_api("/me", &session).await.status(), StatusCode::OK);
    app.clock.advance(time::Duration::seconds(30));
    let body = json!({"password": PASSWORD, "code": app.code(&secret, 0)});
    assert_eq!(app.api_delete_json("/me", &body, &session).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.get_api("/me", &session).await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn two_racing_deletions_delete_once() {
    let app = spawn_app().await;
    app.sign_up("alice").await;
    let mut sessions = Vec::new();
    for _ in 0..4 {
        sessions.push(app.sign_in("alice").await);
    }
    let mut race = tokio::task::JoinSet::new();
    for session in sessions {
        let request = crate::helpers::http()
            .delete(app.url("/api/v1/me"))
            .bearer_auth(session)
            .json(&json!({"password": PASSWORD}));
        race.spawn(async move { request.send().await.unwrap().status() });
    }
    let statuses = race.join_all().await;
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::NO_CONTENT).count(), 1, "{statuses:?}");
    assert!(statuses
        .iter()
        .all(|s| [StatusCode::NO_CONTENT, StatusCode::UNAUTHORIZED, StatusCode::NOT_FOUND].contains(s)));
}

#[tokio::test]
async fn the_support_team_deletes_an_account_from_the_command_line() {
    let app = spawn_app().await;
    app.sign_up("alice").await;
    let session = app.sign_in("alice").await;
    let (ok, out, err) = crate::admin_cli::run_cli(app.data_dir.path(), &["user", "delete", "alice"], "", |c| {
        c.env_remove("LATCHKEY_DATABASE_URL").env("USER", "support-sam");
    });
    assert!(ok && out.contains("alice is deleted"), "{out}{err}");
    assert_eq!(app.get_api("/me", &session).await.status(), StatusCode::UNAUTHORIZED, "refused at once");
    let (ok, _, err) = crate::admin_cli::run_cli(app.data_dir.path(), &["user", "delete", "alice"], "", |c| {
        c.env_remove("LATCHKEY_DATABASE_URL");
    });
    assert!(!ok && err.contains("alice"), "no such user: {err}");
}

#[tokio::test]
async fn the_export_holds_everything_but_secrets() {
    let app = spawn_app().await;
    let (session, secret, codes) = app.user_with_mfa("alice").await;
    let response = app.get_api("/me/export", &session).await;
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    let data: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(data["user"]["username"], "alice");
    assert_eq!(data["user"]["email"], "alice@example.com");
    assert_eq!(data["sessions"].as_array().unwrap().len(), 1);
    assert_eq!(data["authenticators"].as_array().unwrap().len(), 1);
    assert_eq!(data["recovery_codes_left"], 10);
    assert!(data["passkeys"].as_array().unwrap().is_empty() && data["connected_apps"].as_array().unwrap().is_empty());
    assert!(data["events"].as_array().unwrap().iter().any(|e| e["kind"] == "mfa_enabled"));
    for secret_text in [secret.as_str(), codes[0].as_str(), session.as_str(), PASSWORD, "$argon2"] {
        assert!(!text.contains(secret_text), "no secret, code, token, password or hash in the export");
    }
    assert!(app.event_kinds(&session).await.contains(&"data_exported".to_string()));

    let browser = app.browser();
    browser.sign_up("bob", "bob@example.com", PASSWORD).await;
    let csrf = browser.get("/dashboard").await.csrf();
    let from_elsewhere = browser.client.get(format!("{}/account/export", app.base)).send().await.unwrap();
    assert_ne!(from_elsewhere.status(), StatusCode::OK, "a link cannot make the browser download it");
    let download = browser
        .client
        .post(format!("{}/account/export", app.base))
        .form(&[("csrf_token", csrf.as_str())])
        .header("origin", app.base.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(download.status(), StatusCode::OK);
    let disposition = download.headers()["content-disposition"].to_str().unwrap().to_string();
    assert_eq!(disposition, "attachment; filename=\"latchkey-bob.json\"");
    assert_eq!(download.headers()["cache-control"], "no-store");
    assert_eq!(download.json::<Value>().await.unwrap()["user"]["username"], "bob");
}

#[tokio::test]
async fn the_pages_change_the_address_and_delete_the_account() {
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink).await;
    let browser = app.browser();
    browser.sign_up("alice", "alice@example.com", PASSWORD).await;
    let dashboard = browser.get("/dashboard").await;
    assert!(dashboard.inner("email-unverified-badge").is_some(), "{}", dashboard.html);
    for link in ["/account/email", "/account/password", "/account/delete"] {
        assert!(dashboard.html.contains(&format!("href=\"{link}\"")), "{link}");
    }
    assert!(dashboard.html.contains("action=\"/account/export\""), "Download my data is a form");

    let form = browser.get("/account/email").await;
    let csrf = form.csrf();
    let resent = browser.post("/account/email/verification", &[("csrf_token", &csrf)]).await;
    assert!(resent.inner("email-notice").is_some(), "{}", resent.html);
    let wrong = browser
        .post("/account/email", &[("csrf_token", &csrf), ("email", "new@example.org"), ("current_password", "nope")])
        .await;
    assert!(wrong.inner("current_password-error").is_some(), "{}", wrong.html);
    let asked = browser
        .post("/account/email", &[("csrf_token", &csrf), ("email", "new@example.org"), ("current_password", PASSWORD)])
        .await;
    assert!(asked.inner("email-notice").is_some() && asked.inner("email-pending").is_some(), "{}", asked.html);
    let no_csrf = browser.post("/account/delete", &[("password", PASSWORD)]).await;
    assert_eq!(no_csrf.status, StatusCode::FORBIDDEN);

    let page = browser.get("/account/delete").await;
    assert!(page.html.contains("cannot be undone"));
    let wrong = browser.post("/account/delete", &[("csrf_token", &csrf), ("password", "nope")]).await;
    assert!(wrong.inner("password-error").is_some(), "{}", wrong.html);
    let done = browser.post("/account/delete", &[("csrf_token", &csrf), ("password", PASSWORD)]).await;
    assert!(done.inner("account-deleted").is_some(), "{}", done.html);
    assert_ne!(browser.get("/dashboard").await.status, StatusCode::OK, "signed out");
}
