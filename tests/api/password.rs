//! Changing the password (contract section 6), over the API and the pages.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_app_with, PASSWORD};

const NEW: &str = "seven herons fold the map";

#[tokio::test]
async fn a_password_change_needs_the_current_one_and_ends_every_other_session() {
    let app = spawn_app().await;
    app.sign_up("alice").await;
    let token = app.sign_in("alice").await;
    let other = app.sign_in("alice").await;
    let change = |current: &str, new: &str| json!({"current_password": current, "new_password": new});

    let response = app.api_put_json("/me/password", &change("not my password", NEW), &token).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.json::<Value>().await.unwrap()["error"]["code"], "invalid_credentials");
    let response = app.api_put_json("/me/password", &change(PASSWORD, "short"), &token).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(response.json::<Value>().await.unwrap()["error"]["fields"]["new_password"].is_string());
    let response = app.api_put_json("/me/password", &change(PASSWORD, "alice-was-here-2026"), &token).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "not the username");
    assert_eq!(app.get_api("/me", &other).await.status(), StatusCode::OK, "nothing changed yet");

    let response = app.api_put_json("/me/password", &change(PASSWORD, NEW), &token).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.get_api("/me", &token).await.status(), StatusCode::OK, "the caller's session stays");
    assert_eq!(app.get_api("/me", &other).await.status(), StatusCode::UNAUTHORIZED, "every other one ends");
    let old = app.post_json("/sessions", &json!({"login": "alice", "password": PASSWORD}), None).await;
    assert_eq!(old.status(), StatusCode::UNAUTHORIZED);
    let new = app.post_json("/sessions", &json!({"login": "alice", "password": NEW}), None).await;
    assert_eq!(new.status(), StatusCode::CREATED);
    assert!(app.event_kinds(&token).await.contains(&"password_changed".to_string()));
}

#[tokio::test]
async fn a_change_ends_a_pending_sign_in_made_with_the_old_password() {
    let app = spawn_app().await;
    let (token, secret, _) = app.user_with_mfa("alice").await;
    let mfa_token = app.mfa_token("alice").await;
    let body = json!({"current_password": PASSWORD, "new_password": NEW});
    assert_eq!(app.api_put_json("/me/password", &body, &token).await.status(), StatusCode::NO_CONTENT);
    app.clock.advance(time::Duration::seconds(30));
    let response = app.second_step(&mfa_token, &app.code(&secret, 0)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "whoever had the old password is out");
}

#[tokio::test]
async fn wrong_current_passwords_are_throttled_as_at_sign_in() {
    let app = spawn_app().await;
    app.sign_up("alice").await;
    let token = app.sign_in("alice").await;
    let body = json!({"current_password": "guess guess guess", "new_password": NEW});
    let mut statuses = Vec::new();
    for _ in 0..7 {
        statuses.push(app.api_put_json("/me/password", &body, &token).await.status());
    }
    assert!(statuses.contains(&StatusCode::TOO_MANY_REQUESTS), "{statuses:?}");
}

#[tokio::test]
async fn the_page_changes_the_password_and_password_managers_find_it() {
    let app = spawn_app().await;
    let browser = app.browser();
    browser.sign_up("alice", "alice@example.com", PASSWORD).await;
    let well_known = browser.get("/.well-known/change-password").await;
    assert_eq!(well_known.location.as_deref(), Some("/account/password"));
    let form = browser.get("/account/password").await;
    assert!(form.html.contains("autocomplete=\"new-password\"") && form.html.contains("passwordrules=\"minlength: 12"));
    assert!(form.html.contains("minlength=\"12\""), "{}", form.html);
    let csrf = form.csrf();
    let wrong = browser
        .post("/account/password", &[("csrf_token", &csrf), ("current_password", "nope"), ("new_password", NEW)])
        .await;
    assert!(wrong.inner("current_password-error").is_some_and(|e| e.contains("not right")), "{}", wrong.html);
    let done = browser
        .post("/account/password", &[("csrf_token", &csrf), ("current_password", PASSWORD), ("new_password", NEW)])
        .await;
    assert!(done.inner("password-changed").is_some(), "{}", done.html);
    assert_eq!(browser.get("/dashboard").await.status, StatusCode::OK, "this browser stays signed in");
    assert!(browser.get("/account/security").await.html.contains("href=\"/account/password\""));
}

#[tokio::test]
async fn the_owner_is_mailed_that_the_password_changed() {
    let sink = crate::notifications::SmtpSink::start().await;
    let port = sink.port;
    let app = spawn_app_with(move |c| {
        c.smtp_url = Some(format!("smtp://127.0.0.1:{port}"));
        c.mail_from = Some("Latchkey <latchkey@example.org>".into());
    })
    .await;
    app.sign_up("alice").await;
    let token = app.sign_in("alice").await;
    let body = json!({"current_password": PASSWORD, "new_password": NEW});
    assert_eq!(app.api_put_json("/me/password", &body, &token).await.status(), StatusCode::NO_CONTENT);
    let mail = sink.expect("Subject: [Latchkey] Your password was changed").await;
    assert!(!mail.contains(NEW) && !mail.contains(PASSWORD), "no password in a mail");
}
