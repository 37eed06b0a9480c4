//! CSRF: every state-changing form needs the token, and cross-site posts are refused.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{spawn_app, Browser, PASSWORD};

/// Whether an account exists, asked through the API.
async fn account_exists(app: &crate::helpers::TestApp, login: &str) -> bool {
    let response = app.post_json("/sessions", &json!({"login": login, "password": PASSWORD}), None).await;
    response.status() == StatusCode::CREATED
}

fn sign_up_fields(csrf: &str) -> Vec<(&str, &str)> {
    vec![("csrf_token", csrf), ("username", "alice"), ("email", "alice@example.com"), ("password", PASSWORD)]
}

#[tokio::test]
async fn a_sign_up_without_or_with_a_wrong_token_is_403_and_creates_nothing() {
    let app = spawn_app().await;
    let browser = app.browser();
    browser.get("/signup").await;
    let without: Vec<_> = sign_up_fields("").into_iter().skip(1).collect();
    let page = browser.post("/signup", &without).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(page.html.contains("This form has expired"));
    let page = browser.post("/signup", &sign_up_fields("forged-token")).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);

    let stranger = app.browser();
    let token_of_another_browser = stranger.get("/signup").await.csrf();
    let page = browser.post("/signup", &sign_up_fields(&token_of_another_browser)).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "a token is bound to its browser");
    assert!(!account_exists(&app, "alice").await);
}

#[tokio::test]
async fn a_post_from_another_origin_is_403_even_with_a_valid_token() {
    let app = spawn_app().await;
    let browser = app.browser();
    let csrf = browser.get("/signup").await.csrf();
    let cases: [&[(&str, &str)]; 4] = [
        &[("origin", "https://evil.example")],
        &[("sec-fetch-site", "cross-site")],
        &[("sec-fetch-site", "same-site")],
        &[("origin", "null")],
    ];
    for headers in cases {
        let page = browser.post_with("/signup", &sign_up_fields(&csrf), headers).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{headers:?}");
    }
    assert!(!account_exists(&app, "alice").await);
}

#[tokio::test]
async fn origin_null_passes_when_sec_fetch_site_says_same_origin() {
    let app = spawn_app().await;
    let browser = app.browser();
    let csrf = browser.get("/signup").await.csrf();
    let headers = [("origin", "null"), ("sec-fetch-site", "same-origin")];
    let page = browser.post_with("/signup", &sign_up_fields(&csrf), &headers).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert!(account_exists(&app, "alice").await);
}

#[tokio::test]
async fn the_service_reached_by_another_host_name_still_accepts_its_own_forms() {
    let app = spawn_app().await;
    let browser = app.browser();
    let csrf = browser.get("/signup").await.csrf();
    let port = app.base.rsplit(':').next().unwrap();
    let origin = format!("http://localhost:{port}");
    let host = format!("localhost:{port}");
    let page = browser.post_with("/signup", &sign_up_fields(&csrf), &[("origin", &origin), ("host", &host)]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "Origin matches Host: same-origin");
}

#[tokio::test]
async fn a_sign_in_without_the_token_is_403() {
    let app = spawn_app().await;
    app.sign_up("alice").await;
    let browser = app.browser();
    browser.get("/login").await;
    let page = browser.post("/login", &[("login", "alice"), ("password", PASSWORD)]).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(page.set_cookies.iter().all(|c| !c.starts_with("latchkey_session=")));
}

async fn signed_in_browser(app: &crate::helpers::TestApp) -> Browser {
    let browser = app.browser();
    browser.sign_up("alice", "alice@example.com", PASSWORD).await;
    browser
}

#[tokio::test]
async fn a_logout_without_the_sessions_token_is_403_and_keeps_the_session() {
    let app = spawn_app().await;
    let browser = signed_in_browser(&app).await;
    let pre_session_token = app.browser().get("/login").await.csrf();
    for token in ["", "wrong", pre_session_token.as_str()] {
        let page = browser.post("/logout", &[("csrf_token", token)]).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{token:?}");
    }
    assert_eq!(browser.get("/dashboard").await.status, StatusCode::OK, "still signed in");
}

#[tokio::test]
async fn a_post_whose_form_cannot_be_read_is_403_and_changes_nothing() {
    let app = spawn_app().await;
    let browser = signed_in_browser(&app).await;
    let response = browser
        .client
        .post(app.url("/logout"))
        .header("content-type", "application/json")
        .body("{\"csrf_token\": \"x\"}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = browser.client.post(app.url("/logout")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN, "no body at all");
    assert_eq!(browser.get("/dashboard").await.status, StatusCode::OK, "still signed in");
}

#[tokio::test]
async fn logout_by_get_is_not_a_thing() {
    let app = spawn_app().await;
    let browser = signed_in_browser(&app).await;
    let page = browser.get("/logout").await;
    assert_eq!(page.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(page.html.contains("Not here"), "an error page, not a bare status");
    assert_eq!(browser.get("/dashboard").await.status, StatusCode::OK);
}
