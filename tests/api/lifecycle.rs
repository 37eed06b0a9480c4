//! The account's address and its end (contract section 6): verification
//! links, changing the address, deleting the account and exporting its data,
//! over the API and the pages, with a real SMTP sink receiving the mail.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{spawn_app_with, Browser, TestApp, PASSWORD};
use crate::notifications::{app_with_mail, SmtpSink};
use crate::password::link_token;

const VERIFY: &str = "/email/verify?token=";

/// The token of the `n`th verification link mailed to `email`.
async fn verification_token(sink: &SmtpSink, email: &str, n: usize) -> String {
    link_token(sink, email, "Verify your email address", VERIFY, n).await
}

/// Opens a mailed link in `browser` and presses its button: the answer page.
async fn open_link(browser: &Browser, token: &str) -> crate::helpers::Page {
    let landing = browser.get(&format!("{VERIFY}{token}")).await;
    assert_eq!(landing.status, StatusCode::OK);
    browser.post("/email/verify", &[("csrf_token", &landing.csrf()), ("token", token)]).await
}

async fn me(app: &TestApp, token: &str) -> Value {
    let response = app.get_api("/me", token).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json::<Value>().await.unwrap()["user"].clone()
}

#[tokio::test]
async fn sign_up_mails_a_link_that_verifies_the_address_once_on_any_device() {
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink).await;
    let created = app.sign_up("alice").await;
    assert_eq!(created["user"]["email_verified"], false);
    let token = verification_token(&sink, "alice@example.com", 1).await;

    // Opened on another device: no session there.
    let phone = app.browser();
    let landing = phone.get(&format!("{VERIFY}{token}")).await;
    assert!(landing.html.contains("Confirm my email address"), "a button, not a GET that a mail scanner could use up");
    let headers =
        crate::helpers::http().get(app.url(&format!("{VERIFY}{token}"))).send().await.unwrap().headers().clone();
    assert_eq!(headers["referrer-policy"], "no-referrer", "the token in the URL goes nowhere else");
    let session = app.sign_in("alice").await;
    assert_eq!(me(&app, &session).await["email_verified"], false, "opening the page alone verifies nothing");
    let done = open_link(&phone, &token).await;
    assert!(done.inner("email-verified").is_some(), "{}", done.html);
    assert_eq!(me(&app, &session).await["email_verified"], true);
    assert!(app.event_kinds(&session).await.contains(&"email_verified".to_string()));

    let again = open_link(&phone, &token).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST, "single use");
    assert!(again.inner("email-link-dead").is_some());
    let response = app.post_json("/me/email/verification", &json!({}), Some(&session)).await;
    assert_eq!(response.status(), StatusCode::CONFLICT, "verified already");
}

#[tokio::test]
async fn a_new_link_voids_the_older_one_and_links_expire_after_a_day() {
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink).await;
    app.sign_up("alice").await;
    let session = app.sign_in("alice").await;
    let first = verification_token(&sink, "alice@example.com", 1).await;
    let response = app.post_json("/me/email/verification", &json!({}), Some(&session)).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let second = verification_token(&sink, "alice@example.com", 2).await;
    let browser = app.browser();
    assert_eq!(open_link(&browser, &first).await.status, StatusCode::BAD_REQUEST, "the newest link works");

    app.clock.advance(time::Duration::hours(24) + time::Duration::seconds(1));
    assert_eq!(open_link(&browser, &second).await.status, StatusCode::BAD_REQUEST, "24 hours at most");
    let session = app.sign_in("alice").await;
    assert_eq!(me(&app, &session).await["email_verified"], false);
}

#[tokio::test]
async fn verification_links_are_limited_per_account_and_need_mail() {
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink).await;
    app.sign_up("alice").await;
    let session = app.sign_in("alice").await;
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(app.post_json("/me/email/verification", &json!({}), Some(&session)).await.status());
    }
    assert_eq!(statuses.last(), Some(&StatusCode::TOO_MANY_REQUESTS), "a mailbox is not flooded: {statuses:?}");

    let quiet = crate::helpers::spawn_app().await;
    let created = quiet.sign_up("bob").await;
    assert_eq!(created["user"]["email_verified"], false);
    let session = quiet.sign_in("bob").await;
    let response = quiet.post_json("/me/email/verification", &json!({}), Some(&session)).await;
    assert_eq!(response.status(), StatusCode::CONFLICT, "no mail configured");
}

#[tokio::test]
async fn with_require_verified_email_the_password_and_the_sign_up_wait_for_the_link() {
    let sink = SmtpSink::start().await;
    let port = sink.port;
    let app = spawn_app_with(move |c| {
        c.smtp_url = Some(format!("smtp://127.0.0.1:{port}"));
        c.mail_from = Some("Latchkey <latchkey@example.org>".into());
        c.require_verified_email = true;
    })
    .await;
    app.sign_up("alice").await;
    let refused = app.post_json("/sessions", &json!({"login": "alice", "password": PASSWORD}), None).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(refused.json::<Value>().await.unwrap()["error"]["code"], "email_unverified");
    let wrong = app.post_json("/sessions", &json!({"login": "alice", "password": "not the password"}), None).await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED, "only a right password learns the address is unverified");

    // The refused sign-in mailed a fresh link (the second one).
    let token = verification_token(&sink, "alice@example.com", 2).await;
    let browser = app.browser();
    let page = browser.sign_up("bob", "bob@example.com", PASSWORD).await;
    assert!(page.inner("signup-verify").is_some(), "the sign-up page says to open the mail: {}", page.html);
    assert_ne!(browser.get("/dashboard").await.status, StatusCode::OK, "and does not sign in");
    let login = browser.log_in("bob", PASSWORD).await;
    assert!(login.html.contains("not verified yet"), "{}", login.html);

    assert!(open_link(&browser, &token).await.inner("email-verified").is_some());
    app.sign_in("alice").await;
}

#[tokio::test]
async fn an_address_changes_with_password_and_code_only_once_the_new_one_is_verified() {
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink).await;
    let (session, secret, _) = app.user_with_mfa("alice").await;
    app.sign_up("bob").await;
    app.clock.advance(time::Duration::seconds(30));
    let stale_reset = app.post_json("/password-resets", &json!({"email": "alice@example.com"}), None).await;
    assert_eq!(stale_reset.status(), StatusCode::ACCEPTED);
    let reset_token = crate::password::token_mailed_to(&sink, "alice@example.com").await;

    let change = |email: &str, password: &str, code: Option<String>| json!({"email": email, "current_password": password, "code": code});
    let put = |body: Value| {
        let session = session.clone();
        let app = &app;
        async move { app.api_put_json("/me/email", &body, &session).await }
    };
    let response = put(change("new@example.org", PASSWORD, None)).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(response.json::<Value>().await.unwrap()["error"]["fields"]["code"].is_string(), "MFA on: a code too");
    let response = put(change("new@example.org", "not my password", Some(app.code(&secret, 0)))).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = put(change("new@example.org", PASSWORD, Some("000000".into()))).await;
    assert_eq!(response.json::<Value>().await.unwrap()["error"]["code"], "invalid_code");
    let response = put(change("bob@example.com", PASSWORD, Some(app.code(&secret, 0)))).await;
    assert_eq!(response.status(), StatusCode::CONFLICT, "taken");
    app.clock.advance(time::Duration::seconds(30));
    let response = put(change("New@Example.org", PASSWORD, Some(app.code(&secret, 0)))).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert_eq!(response.json::<Value>().await.unwrap()["pending_email"], "new@example.org");

    let told = sink.expect_all(&["To: alice@example.com", "Your address is about to change"]).await;
    assert!(told.contains("new@example.org"), "the old address hears of it first: {told}");
    assert_eq!(me(&app, &session).await["email"], "alice@example.com", "not before the link is opened");
    let export: Value = app.get_api("/me/export", &session).await.json().await.unwrap();
    assert_eq!(export["pending_email"], "new@example.org");

    let token = link_token(&sink, "new@example.org", "Confirm your new email address", VERIFY, 1).await;
    let done = open_link(&app.browser(), &token).await;
    assert!(done.inner("email-verified").is_some_and(|t| t.contains("changed")), "{}", done.html);
    let user = me(&app, &session).await;
    assert_eq!((user["email"].as_str(), user["email_verified"].as_bool()), (Some("new@example.org"), Some(true)));
    sink.expect_all(&["To: alice@example.com", "Your address was changed"]).await;
    let kinds = app.event_kinds(&session).await;
    assert!(kinds.contains(&"email_change_requested".into()) && kinds.contains(&"email_changed".into()));

    let by_old = app.post_json("/sessions", &json!({"login": "alice@example.com", "password": PASSWORD}), None).await;
    assert_eq!(by_old.status(), StatusCode::UNAUTHORIZED);
    let by_new = app.post_json("/sessions", &json!({"login": "new@example.org", "password": PASSWORD}), None).await;
    assert_eq!(by_new.status(), StatusCode::OK, "the code step follows");
    let body = json!({"token": reset_token, "password": "seven herons fold the map"});
    let response = app.post_json("/password-resets/confirm", &body, None).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST, "a reset link mailed to the old address died with it");
}

#[tokio::test]
async fn two_racing_uses_of_one_link_verify_once() {
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink).await;
    app.sign_up("alice").await;
    let token = verification_token(&sink, "alice@example.com", 1).await;
    let mut race = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let browser = app.browser();
        let csrf = browser.get(&format!("{VERIFY}{token}")).await.csrf();
        let request = browser
            .client
            .post(format!("{}/email/verify", app.base))
            .form(&[("csrf_token", csrf.as_str()), ("token", token.as_str())])
            .header("origin", app.base.as_str())
            .header("sec-fetch-site", "same-origin");
        race.spawn(async move { request.send().await.unwrap().status() });
    }
    let statuses = race.join_all().await;
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::OK).count(), 1, "{statuses:?}");
    let session = app.sign_in("alice").await;
    let events = app.event_kinds(&session).await;
    assert_eq!(events.iter().filter(|k| *k == "email_verified").count(), 1);
}

#[tokio::test]
async fn a_pending_change_dies_when_the_owner_takes_the_account_back() {
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink).await;
    app.sign_up("alice").await;
    let session = app.sign_in("alice").await;
    // Someone who had the password asks to move the account to their mailbox...
    let body = json!({"email": "thief@example.org", "current_password": PASSWORD});
    assert_eq!(app.api_put_json("/me/email", &body, &session).await.status(), StatusCode::ACCEPTED);
    let token = link_token(&sink, "thief@example.org", "Confirm your new email address", VERIFY, 1).await;
    // ...and the owner, told at the old address, changes the password.
    sink.expect_all(&["To: alice@example.com", "Your address is about to change"]).await;
    let body = json!({"current_password": PASSWORD, "new_password": "seven herons fold the map"});
    assert_eq!(app.api_put_json("/me/password", &body, &session).await.status(), StatusCode::NO_CONTENT);
    let page = open_link(&app.browser(), &token).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "the change died with the old password");
    assert_eq!(me(&app, &session).await["email"], "alice@example.com");
}

#[tokio::test]
async fn turning_require_verified_email_on_ends_unverified_sessions_and_stops_before_the_code_step() {
    use crate::binary::{start, start_with, with_mfa, Api};
    let sink = SmtpSink::start().await;
    let dir = tempfile::tempdir().unwrap();
    let api = Api::new();
    let mut before = start(dir.path()).await;
    let (session, _secret) = with_mfa(&api, &before, "alice").await;
    assert_eq!(api.me(&before, &session).await, StatusCode::OK);
    before.stop();

    let smtp = format!("smtp://127.0.0.1:{}", sink.port);
    let after = start_with(dir.path(), std::process::Stdio::null(), "warn", |command| {
        command
            .env("LATCHKEY_SMTP_URL", &smtp)
            .env("LATCHKEY_MAIL_FROM", "Latchkey <latchkey@example.org>")
            .env("LATCHKEY_REQUIRE_VERIFIED_EMAIL", "true");
    })
    .await;
    assert_eq!(api.me(&after, &session).await, StatusCode::UNAUTHORIZED, "a session from before the rule ends");
    let (status, body) = api.sign_in(&after, "alice").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "refused before the code step: {body}");
    assert_eq!(body["error"]["code"], "email_unverified");
    let token = verification_token(&sink, "alice@example.com", 1).await;
    let browser = Browser::at(&after.base);
    assert!(open_link(&browser, &token).await.inner("email-verified").is_some());
    let (status, body) = api.sign_in(&after, "alice").await;
    assert_eq!((status, body["mfa_required"].as_bool()), (StatusCode::OK, Some(true)), "now the code step");
}
