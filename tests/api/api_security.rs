//! What the pages can do, the API can do too: answer the replayed-code
//! alarm, sign out everywhere else, list and forget trusted clients, count
//! recovery codes.

use reqwest::StatusCode;
use serde_json::{json, Value};
use time::Duration;

use crate::helpers::{spawn_app, TestApp, PASSWORD};

async fn json_of(app: &TestApp, path: &str, token: &str) -> Value {
    let response = app.get_api(path, token).await;
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    response.json().await.unwrap()
}

#[tokio::test]
async fn the_replay_alarm_is_raised_and_answered_over_the_api() {
    let app = spawn_app().await;
    let (token, secret, _) = app.user_with_mfa("alice").await;
    assert_eq!(json_of(&app, "/me/replay-alarm", &token).await["raised"], false);

    app.clock.advance(Duration::seconds(30));
    let code = app.code(&secret, 0);
    let first = app.mfa_token("alice").await;
    let answer: Value = app.second_step(&first, &code).await.json().await.unwrap();
    let other_session = answer["token"].as_str().unwrap().to_string();
    let again = app.mfa_token("alice").await;
    assert_eq!(app.second_step(&again, &code).await.status(), StatusCode::UNAUTHORIZED, "the replay");
    assert_eq!(json_of(&app, "/me/replay-alarm", &token).await["raised"], true);

    let response = app.post_json("/me/replay-alarm/clear", &json!({}), Some(&token)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["sessions_ended"], 1, "{body}");
    assert_eq!(json_of(&app, "/me/replay-alarm", &token).await["raised"], false);
    assert_eq!(app.get_api("/me", &other_session).await.status(), StatusCode::UNAUTHORIZED, "signed out");
    assert_eq!(app.get_api("/me", &token).await.status(), StatusCode::OK, "the caller stays");
    let events = json_of(&app, "/me/events", &token).await;
    assert_eq!(events["events"][0]["kind"], "replay_alarm_cleared");
}

#[tokio::test]
async fn signing_out_everywhere_else_over_the_api_keeps_only_the_caller() {
    let app = spawn_app().await;
    app.sign_up("alice").await;
    let mine = app.sign_in("alice").await;
    let others = [app.sign_in("alice").await, app.sign_in("alice").await];
    let response = app.delete_api("/sessions/others", &mine).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap()["sessions_ended"], 2);
    for other in &others {
        assert_eq!(app.get_api("/me", other).await.status(), StatusCode::UNAUTHORIZED);
    }
    let sessions = json_of(&app, "/sessions", &mine).await;
    assert_eq!(sessions["sessions"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn trusted_clients_are_listed_and_forgotten_over_the_api() {
    let app = spawn_app().await;
    let (token, secret, _) = app.user_with_mfa("alice").await;
    app.clock.advance(Duration::seconds(30));
    let mfa_token = app.mfa_token("alice").await;
    let body = json!({"mfa_token": mfa_token, "code": app.code(&secret, 0), "trust_device": true});
    let answer: Value = app.post_json("/sessions/mfa", &body, None).await.json().await.unwrap();
    let device = answer["device_token"].as_str().unwrap().to_string();

    let listed = json_of(&app, "/me/trusted-devices", &token).await;
    let devices = listed["trusted_devices"].as_array().unwrap();
    assert_eq!(devices.len(), 1, "{listed}");
    let id = devices[0]["id"].as_str().unwrap().to_string();
    assert!(!listed.to_string().contains(&device), "the token itself is never listed");

    let (bob, _, _) = app.user_with_mfa("bob").await;
    let path = format!("/me/trusted-devices/{id}");
    assert_eq!(app.delete_api(&path, &bob).await.status(), StatusCode::NOT_FOUND, "not bob's to forget");
    assert_eq!(app.delete_api(&path, &token).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.delete_api(&path, &token).await.status(), StatusCode::NOT_FOUND, "already forgotten");
    assert_eq!(json_of(&app, "/me/trusted-devices", &token).await["trusted_devices"], json!([]));
    let body = json!({"login": "alice", "password": PASSWORD, "device_token": device});
    assert_eq!(app.post_json("/sessions", &body, None).await.status(), StatusCode::OK, "the code is asked again");
}

#[tokio::test]
async fn the_recovery_codes_left_are_counted_over_the_api() {
    let app = spawn_app().await;
    let (token, _, codes) = app.user_with_mfa("alice").await;
    assert_eq!(json_of(&app, "/me/mfa/recovery-codes", &token).await["left"], 10);
    let mfa_token = app.mfa_token("alice").await;
    assert_eq!(app.second_step(&mfa_token, &codes[0]).await.status(), StatusCode::CREATED);
    assert_eq!(json_of(&app, "/me/mfa/recovery-codes", &token).await["left"], 9);
}

#[tokio::test]
async fn signing_up_on_the_page_records_the_sign_in_it_starts() {
    let app = spawn_app().await;
    let browser = app.browser();
    browser.sign_up("alice", "alice@example.com", PASSWORD).await;
    let security = browser.get("/account/security").await;
    assert!(security.html.contains("Signed in"), "{}", security.html);
    let token = app.sign_in("alice").await;
    let events = json_of(&app, "/me/events", &token).await;
    let kinds: Vec<&str> = events["events"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["signed_in", "signed_in"], "the page's sign-up and this sign-in");
}
