//! Sudo mode: a session whose last proof of the account is over 5 minutes
//! old (a stolen cookie or token, say) cannot turn MFA on until the
//! password is given again (docs/SECURITY.md, row P2-SUDO-01).

use reqwest::StatusCode;
use serde_json::{json, Value};
use time::Duration;

use crate::helpers::{http, spawn_app, Browser, TestApp, PASSWORD};

/// Just past the 5 minutes a proof lasts.
const LATER: Duration = Duration::seconds(5 * 60 + 1);

async fn answer(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A session signed in more than 5 minutes ago (still alive: the idle
/// timeout is 30 minutes).
async fn old_session(app: &TestApp) -> String {
    app.sign_up("alice").await;
    let token = app.sign_in("alice").await;
    app.clock.advance(LATER);
    token
}

async fn mfa_enabled(app: &TestApp, token: &str) -> bool {
    let me: Value = app.get_api("/me", token).await.json().await.unwrap();
    me["user"]["mfa_enabled"].as_bool().unwrap()
}

#[tokio::test]
async fn an_old_session_alone_cannot_start_turning_mfa_on() {
    let app = spawn_app().await;
    let token = old_session(&app).await;

    let (status, body) = answer(app.post_json("/me/mfa/totp", &json!({}), Some(&token)).await).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "reauthentication_required");
    assert!(body["error"]["message"].as_str().unwrap().contains("current_password"));
    // No body at all, as a bare client sends it: the same answer.
    let bare = http().post(app.url("/api/v1/me/mfa/totp")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(answer(bare).await.1["error"]["code"], "reauthentication_required");
    // A code proves nothing while MFA is off.
    let (status, _) = answer(app.post_json("/me/mfa/totp", &json!({"code": "123456"}), Some(&token)).await).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let wrong = json!({"current_password": "not the password at all"});
    let (status, body) = answer(app.post_json("/me/mfa/totp", &wrong, Some(&token)).await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "invalid_credentials");
    assert_eq!(app.event_kinds(&token).await[0], "sign_in_failed", "a wrong password is on the record");
    assert!(!app.event_kinds(&token).await.contains(&"mfa_enrolment_started".to_string()));

    let right = json!({"current_password": PASSWORD});
    let (status, body) = answer(app.post_json("/me/mfa/totp", &right, Some(&token)).await).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // The proof is renewed: the confirmation right after needs no password.
    let code = app.code(body["secret"].as_str().unwrap(), 0);
    let (status, body) =
        answer(app.post_json("/me/mfa/totp/confirm", &json!({"code": code}), Some(&token)).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(mfa_enabled(&app, &token).await);
}

#[tokio::test]
async fn a_confirmation_after_the_proof_ran_out_needs_the_password_too() {
    let app = spawn_app().await;
    app.sign_up("alice").await;
    let token = app.sign_in("alice").await;
    let enrolment: Value = app.post_json("/me/mfa/totp", &json!({}), Some(&token)).await.json().await.unwrap();
    let secret = enrolment["secret"].as_str().unwrap();
    app.clock.advance(LATER);

    let (status, body) =
        answer(app.post_json("/me/mfa/totp/confirm", &json!({"code": app.code(secret, 0)}), Some(&token)).await).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "reauthentication_required");
    assert!(!mfa_enabled(&app, &token).await);

    let with_password = json!({"code": app.code(secret, 0), "current_password": PASSWORD});
    let (status, body) = answer(app.post_json("/me/mfa/totp/confirm", &with_password, Some(&token)).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(mfa_enabled(&app, &token).await);
}

#[tokio::test]
async fn guessing_the_password_through_a_stolen_session_is_throttled_like_sign_in() {
    let app = spawn_app().await;
    let token = old_session(&app).await;
    for n in 0..5 {
        let wrong = json!({"current_password": format!("guess number {n} of many")});
        let (status, _) = answer(app.post_json("/me/mfa/totp", &wrong, Some(&token)).await).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "guess {n}");
    }
    let right = json!({"current_password": PASSWORD});
    let response = app.post_json("/me/mfa/totp", &right, Some(&token)).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS, "the sixth is not even checked");
    assert!(response.headers().get("retry-after").is_some());
    assert!(!mfa_enabled(&app, &token).await);
}

#[tokio::test]
async fn while_mfa_is_on_a_current_code_is_a_proof() {
    let app = spawn_app().await;
    let (token, secret, _) = app.user_with_mfa("alice").await;
    app.clock.advance(LATER);
    let (status, _) = answer(app.post_json("/me/mfa/totp", &json!({}), Some(&token)).await).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "no proof: asked for one");
    let (status, body) =
        answer(app.post_json("/me/mfa/totp", &json!({"code": app.code(&secret, 0)}), Some(&token)).await).await;
    assert_eq!(status, StatusCode::CONFLICT, "proven, and then refused for what it is: {body}");
    let (status, _) = answer(app.post_json("/me/mfa/totp", &json!({}), Some(&token)).await).await;
    assert_eq!(status, StatusCode::CONFLICT, "the code renewed the session's proof");
}

/// A browser signed up more than 5 minutes ago.
async fn old_browser(app: &TestApp) -> Browser {
    let browser = app.browser();
    browser.sign_up("alice", "alice@example.com", PASSWORD).await;
    app.clock.advance(LATER);
    browser
}

#[tokio::test]
async fn an_old_browser_session_confirms_the_password_before_it_sees_a_qr_code() {
    let app = spawn_app().await;
    let browser = old_browser(&app).await;
    let asked = browser.get("/account/mfa").await;
    assert_eq!(asked.status, StatusCode::SEE_OTHER);
    assert_eq!(asked.location.as_deref(), Some("/account/confirm?rd=/account/mfa"));

    let page = browser.get("/account/confirm?rd=/account/mfa").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.html.contains("<h1>Confirm it is you</h1>"));
    assert!(page.html.contains("autocomplete=\"current-password\""));
    assert_eq!(page.input_value("rd").as_deref(), Some("/account/mfa"));
    assert_eq!(page.input_value("username").as_deref(), Some("alice"), "for password managers");
    assert!(!page.html.contains("mfa-qr"));

    let csrf = page.csrf();
    let wrong = browser
        .post("/account/confirm", &[("csrf_token", &csrf), ("password", "not it at all"), ("rd", "/account/mfa")])
        .await;
    assert_eq!(wrong.status, StatusCode::OK);
    assert!(wrong.inner("confirm-error").unwrap().contains("password is not right"));
    let without_csrf = browser.post("/account/confirm", &[("password", PASSWORD), ("rd", "/account/mfa")]).await;
    assert_eq!(without_csrf.status, StatusCode::FORBIDDEN);

    let right = browser
        .post("/account/confirm", &[("csrf_token", &csrf), ("password", PASSWORD), ("rd", "/account/mfa")])
        .await;
    assert_eq!(right.status, StatusCode::SEE_OTHER);
    assert_eq!(right.location.as_deref(), Some("/account/mfa"));
    let setup = browser.get("/account/mfa").await;
    assert_eq!(setup.status, StatusCode::OK);
    assert!(setup.inner("mfa-qr").is_some(), "now the QR code");
}

#[tokio::test]
async fn the_confirm_page_returns_to_account_pages_only() {
    let app = spawn_app().await;
    let browser = app.browser();
    browser.sign_up("alice", "alice@example.com", PASSWORD).await;
    let foreign = browser.get("/account/confirm?rd=https://evil.example/account/").await;
    assert_eq!(foreign.input_value("rd").as_deref(), Some("/dashboard"));
    for rd in ["//evil.example/account/", "/account/\\evil.example", "https://evil.example", "/account/../login"] {
        let sent = browser
            .post("/account/confirm", &[("csrf_token", &foreign.csrf()), ("password", PASSWORD), ("rd", rd)])
            .await;
        assert_eq!(sent.location.as_deref(), Some("/dashboard"), "{rd}");
    }
}

#[tokio::test]
async fn a_code_confirmed_after_the_proof_ran_out_asks_for_the_password_and_keeps_the_qr_code() {
    let app = spawn_app().await;
    let browser = app.browser();
    browser.sign_up("alice", "alice@example.com", PASSWORD).await;
    let setup = browser.get("/account/mfa").await;
    let secret: String = setup.inner("mfa-secret").unwrap().split_whitespace().collect();
    app.clock.advance(LATER);

    let sent =
        browser.post("/account/mfa/confirm", &[("csrf_token", &setup.csrf()), ("code", &app.code(&secret, 0))]).await;
    assert_eq!(sent.location.as_deref(), Some("/account/confirm?rd=/account/mfa"));
    let token = app.sign_in("alice").await;
    assert!(!mfa_enabled(&app, &token).await, "the code alone did not turn MFA on");

    let confirm = browser.get("/account/confirm?rd=/account/mfa").await;
    browser
        .post("/account/confirm", &[("csrf_token", &confirm.csrf()), ("password", PASSWORD), ("rd", "/account/mfa")])
        .await;
    let again = browser.get("/account/mfa").await;
    let same: String = again.inner("mfa-secret").unwrap().split_whitespace().collect();
    assert_eq!(same, secret, "the app already holds this secret");
}

#[tokio::test]
async fn turning_mfa_off_with_a_code_is_a_proof_for_turning_it_on_again() {
    let app = spawn_app().await;
    let browser = app.browser();
    browser.sign_up("alice", "alice@example.com", PASSWORD).await;
    let setup = browser.get("/account/mfa").await;
    let secret: String = setup.inner("mfa-secret").unwrap().split_whitespace().collect();
    let done =
        browser.post("/account/mfa/confirm", &[("csrf_token", &setup.csrf()), ("code", &app.code(&secret, 0))]).await;
    assert_eq!(done.status, StatusCode::OK);
    app.clock.advance(LATER);

    let manage = browser.get("/account/mfa").await;
    assert_eq!(manage.status, StatusCode::OK, "managing shows no secret: no proof needed to look");
    let off =
        browser.post("/account/mfa/disable", &[("csrf_token", &manage.csrf()), ("code", &app.code(&secret, 0))]).await;
    assert_eq!(off.status, StatusCode::OK);
    assert!(off.inner("mfa-qr").is_some(), "the fresh enrolment, without asking for the password");
}
