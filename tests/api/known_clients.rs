//! Known clients (OWASP's device cookies): a browser or app that gave the
//! account's right password before is counted on its own token, so a
//! stranger's wrong passwords for the name, or a spray from the same address,
//! cannot keep the owner out; everyone else stays throttled.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp, PASSWORD};

/// Signs in over the API with an optional known-client token; (status, body).
async fn sign_in_with(app: &TestApp, login: &str, password: &str, client_token: Option<&str>) -> (StatusCode, Value) {
    let mut body = json!({"login": login, "password": password});
    if let Some(token) = client_token {
        body["client_token"] = token.into();
    }
    let response = app.post_json("/sessions", &body, None).await;
    (response.status(), response.json().await.unwrap_or(Value::Null))
}

/// A right password's `client_token`.
async fn client_token(app: &TestApp, login: &str) -> String {
    let (status, body) = sign_in_with(app, login, PASSWORD, None).await;
    assert!(status.is_success(), "{body}");
    let token = body["client_token"].as_str().expect("a right password gives a client_token").to_string();
    assert!(token.starts_with("lkc1."), "{token}");
    token
}

/// Signs the browser out, as the menu's Logout does (the known-client cookie stays).
async fn sign_out(browser: &crate::helpers::Browser) {
    let dashboard = browser.get("/dashboard").await;
    let page = browser.post("/logout", &[("csrf_token", &dashboard.csrf())]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_strangers_wrong_passwords_for_the_name_do_not_keep_the_owners_browser_out() {
    let app = spawn_app().await;
    app.sign_up("alice").await;
    let owner = app.browser();
    let page = owner.log_in("alice", PASSWORD).await;
    assert_eq!(page.location.as_deref(), Some("/dashboard"));
    let cookie = page.set_cookies.iter().find(|c| c.starts_with("latchkey_known=")).expect("a known-client cookie");
    assert!(cookie.contains("HttpOnly") && cookie.contains("Max-Age=7776000"), "{cookie}");
    sign_out(&owner).await;

    // A stranger guesses at both of alice's names.
    for login in ["alice", "alice@example.com"] {
        for _ in 0..6 {
            sign_in_with(&app, login, "a stranger's guess", None).await;
        }
    }
    let stranger = app.browser();
    assert_eq!(stranger.log_in("alice", PASSWORD).await.status, StatusCode::TOO_MANY_REQUESTS, "others stay throttled");
    let page = owner.log_in("alice", PASSWORD).await;
    assert_eq!(page.location.as_deref(), Some("/dashboard"), "the owner's browser gets in: {}", page.html);
    sign_out(&owner).await;
    let page = owner.log_in("alice@example.com", PASSWORD).await;
    assert_eq!(page.location.as_deref(), Some("/dashboard"), "by email too");
}

#[tokio::test]
async fn a_spray_from_the_owners_address_does_not_refuse_a_known_clients_right_password() {
    let app = spawn_app().await;
    app.sign_up("alice").await;
    let token = client_token(&app, "alice").await;
    // One bad actor behind the same address sprays wrong passwords at random names.
    let mut last = StatusCode::OK;
    for i in 0..25 {
        last = sign_in_with(&app, &format!("someone{i}"), "spray spray spray", None).await.0;
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS, "the address is throttled");
    assert_eq!(sign_in_with(&app, "alice", PASSWORD, None).await.0, StatusCode::TOO_MANY_REQUESTS);
    let (status, body) = sign_in_with(&app, "alice", PASSWORD, Some(&token)).await;
    assert_eq!(status, StatusCode::CREATED, "the known client gets in: {body}");
    assert_ne!(body["client_token"].as_str(), Some(token.as_str()), "with a fresh token");
}

#[tokio::test]
async fn a_known_clients_token_guesses_on_its_own_counter_and_only_for_its_account() {
    let app = spawn_app().await;
    app.sign_up("alice").await;
    app.sign_up("bob").await;
    let (stolen, other) = (client_token(&app, "alice").await, client_token(&app, "alice").await);

    // A stolen token guesses no faster than a name can: 5, then a delay.
    for _ in 0..5 {
        assert_eq!(sign_in_with(&app, "alice", "a thief's guess", Some(&stolen)).await.0, StatusCode::UNAUTHORIZED);
    }
    let (status, body) = sign_in_with(&app, "alice", PASSWORD, Some(&stolen)).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::TOO_MANY_REQUESTS, Some("rate_limited")));
    // Its guesses held back neither another known client nor the name.
    assert_eq!(sign_in_with(&app, "alice", PASSWORD, Some(&other)).await.0, StatusCode::CREATED);
    assert_eq!(sign_in_with(&app, "alice", PASSWORD, None).await.0, StatusCode::CREATED);

    // Alice's token is nobody else's: with bob's name it is an unknown client's.
    for _ in 0..6 {
        sign_in_with(&app, "bob", "a stranger's guess", None).await;
    }
    assert_eq!(sign_in_with(&app, "bob", PASSWORD, Some(&other)).await.0, StatusCode::TOO_MANY_REQUESTS);
    // Nor does a token changed by hand count.
    let mut parts: Vec<String> = other.split('.').map(String::from).collect();
    parts[2] = format!("{}{}", if parts[2].starts_with('x') { "y" } else { "x" }, &parts[2][1..]);
    let forged = parts.join(".");
    for _ in 0..6 {
        sign_in_with(&app, "alice", "a stranger's guess", None).await;
    }
    assert_eq!(sign_in_with(&app, "alice", PASSWORD, Some(&forged)).await.0, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(sign_in_with(&app, "alice", PASSWORD, Some(&other)).await.0, StatusCode::CREATED);
}

#[tokio::test]
async fn the_password_step_of_an_mfa_sign_in_gives_a_client_token_and_still_asks_for_the_code() {
    let app = spawn_app().await;
    app.user_with_mfa("alice").await;
    let token = client_token(&app, "alice").await;
    let (status, body) = sign_in_with(&app, "alice", PASSWORD, Some(&token)).await;
    assert_eq!((status, body["mfa_required"].as_bool()), (StatusCode::OK, Some(true)), "{body}");
    assert!(body.get("token").is_none(), "a known client still gives the code: {body}");
}
