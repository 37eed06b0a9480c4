//! Several authenticators per user over the API, with a fixed clock.

use reqwest::StatusCode;
use serde_json::{json, Value};
use time::Duration;

use crate::helpers::{spawn_app, TestApp};

const STEP: Duration = Duration::seconds(30);

/// Starts adding an authenticator; returns its secret.
async fn begin_adding(app: &TestApp, token: &str) -> String {
    let response = app.post_json("/me/mfa/authenticators", &json!({}), Some(token)).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    assert!(body["otpauth_uri"].as_str().unwrap().starts_with("otpauth://totp/Latchkey:alice?"));
    body["secret"].as_str().unwrap().to_string()
}

async fn list(app: &TestApp, token: &str) -> Vec<Value> {
    let body: Value = app.get_api("/me/mfa/authenticators", token).await.json().await.unwrap();
    body["authenticators"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_second_authenticator_is_added_with_two_codes_and_either_signs_in() {
    let app = spawn_app().await;
    let (token, first, _) = app.user_with_mfa("alice").await;
    let all = list(&app, &token).await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["name"], "Authenticator", "the first one's default name");

    app.clock.advance(STEP);
    let second = begin_adding(&app, &token).await;
    assert_ne!(second, first);
    let wrong_new = json!({"name": "YubiKey OATH", "code": "000000", "current_code": app.code(&first, 0)});
    let response = app.post_json("/me/mfa/authenticators/confirm", &wrong_new, Some(&token)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_code");
    assert!(body["error"]["message"].as_str().unwrap().contains("new authenticator"), "{body}");

    let wrong_current = json!({"name": "YubiKey OATH", "code": app.code(&second, 0), "current_code": "123456"});
    let response = app.post_json("/me/mfa/authenticators/confirm", &wrong_current, Some(&token)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(list(&app, &token).await.len(), 1, "nothing added without a current code");

    let right = json!({"name": " YubiKey OATH ", "code": app.code(&second, 0), "current_code": app.code(&first, 0)});
    let response = app.post_json("/me/mfa/authenticators/confirm", &right, Some(&token)).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let added: Value = response.json().await.unwrap();
    assert_eq!(added["authenticator"]["name"], "YubiKey OATH");
    let names: Vec<Value> = list(&app, &token).await.iter().map(|a| a["name"].clone()).collect();
    assert_eq!(names, vec![json!("Authenticator"), json!("YubiKey OATH")]);
    assert!(app.event_kinds(&token).await.contains(&"authenticator_added".to_string()));

    // Either one signs in.
    app.clock.advance(STEP);
    let mfa_token = app.mfa_token("alice").await;
    assert_eq!(app.second_step(&mfa_token, &app.code(&second, 0)).await.status(), StatusCode::CREATED);
    app.clock.advance(STEP);
    let mfa_token = app.mfa_token("alice").await;
    assert_eq!(app.second_step(&mfa_token, &app.code(&first, 0)).await.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn a_step_is_accepted_once_per_user_and_another_authenticators_step_is_no_phishing_alarm() {
    let app = spawn_app().await;
    let (token, first, _) = app.user_with_mfa("alice").await;
    app.clock.advance(STEP);
    let second = begin_adding(&app, &token).await;
    let body = json!({"name": "Pixel", "code": app.code(&second, 0), "current_code": app.code(&first, 0)});
    assert_eq!(
        app.post_json("/me/mfa/authenticators/confirm", &body, Some(&token)).await.status(),
        StatusCode::CREATED
    );

    app.clock.advance(STEP);
    let mfa_token = app.mfa_token("alice").await;
    assert_eq!(app.second_step(&mfa_token, &app.code(&first, 0)).await.status(), StatusCode::CREATED);
    let mfa_token = app.mfa_token("alice").await;
    let response = app.second_step(&mfa_token, &app.code(&second, 0)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "the contract: a step once per user");
    assert!(!app.event_kinds(&token).await.contains(&"code_replayed".to_string()), "a different code is no replay");
    // The same authenticator's code again is the phishing sign.
    let response = app.second_step(&mfa_token, &app.code(&first, 0)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(app.event_kinds(&token).await.contains(&"code_replayed".to_string()));
}

#[tokio::test]
async fn removing_needs_a_current_code_and_never_takes_the_last() {
    let app = spawn_app().await;
    let (token, first, codes) = app.user_with_mfa("alice").await;
    let only = list(&app, &token).await[0]["id"].as_str().unwrap().to_string();
    app.clock.advance(STEP);
    let response = app
        .api_delete_json(&format!("/me/mfa/authenticators/{only}"), &json!({"code": app.code(&first, 0)}), &token)
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT, "the last one");
    let body: Value = response.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("turn multi-factor authentication off"), "{body}");

    let second = begin_adding(&app, &token).await;
    let body = json!({"name": "Pixel", "code": app.code(&second, 0), "current_code": codes[0]});
    let response = app.post_json("/me/mfa/authenticators/confirm", &body, Some(&token)).await;
    assert_eq!(response.status(), StatusCode::CREATED, "a recovery code proves it is the owner too");

    let mfa_token = app.mfa_token("alice").await;
    let response = app.second_step(&mfa_token, &app.code(&second, 0)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "the code that confirmed it is spent, for the user too");

    let path = format!("/me/mfa/authenticators/{only}");
    let response = app.api_delete_json(&path, &json!({"code": "000000"}), &token).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(list(&app, &token).await.len(), 2, "a wrong code removes nothing");
    app.clock.advance(STEP);
    let response = app.api_delete_json(&path, &json!({"code": app.code(&second, 0)}), &token).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let left = list(&app, &token).await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["name"], "Pixel");
    assert!(app.event_kinds(&token).await.contains(&"authenticator_removed".to_string()));

    app.clock.advance(STEP);
    let mfa_token = app.mfa_token("alice").await;
    assert_eq!(app.second_step(&mfa_token, &app.code(&first, 0)).await.status(), StatusCode::UNAUTHORIZED, "removed");
    let response = app.api_delete_json(&path, &json!({"code": app.code(&second, 0)}), &token).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND, "already gone");
}

#[tokio::test]
async fn adding_needs_mfa_on_and_a_sane_name() {
    let app = spawn_app().await;
    app.sign_up("bob").await;
    let token = app.sign_in("bob").await;
    let response = app.post_json("/me/mfa/authenticators", &json!({}), Some(&token)).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND, "the first one is POST /me/mfa/totp");

    let (token, first, _) = app.user_with_mfa("alice").await;
    app.clock.advance(STEP);
    let second = begin_adding(&app, &token).await;
    let body = json!({"name": "x".repeat(41), "code": app.code(&second, 0), "current_code": app.code(&first, 0)});
    let response = app.post_json("/me/mfa/authenticators/confirm", &body, Some(&token)).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = response.json().await.unwrap();
    assert!(body["error"]["fields"]["name"].is_string(), "{body}");
    let response = app.post_json("/me/mfa/authenticators/confirm", &json!({"name": 7}), Some(&token)).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST, "wrong types");
    assert_eq!(list(&app, &token).await.len(), 1);
}

#[tokio::test]
async fn another_session_can_neither_see_nor_confirm_the_pending_authenticator() {
    let app = spawn_app().await;
    let (owner, first, codes) = app.user_with_mfa("alice").await;
    app.clock.advance(STEP);
    let mfa_token = app.mfa_token("alice").await;
    let signed_in: Value = app.second_step(&mfa_token, &app.code(&first, 0)).await.json().await.unwrap();
    let stolen = signed_in["token"].as_str().unwrap().to_string();
    let secret = begin_adding(&app, &owner).await;
    let body = json!({"name": "Mine", "code": app.code(&secret, 0), "current_code": codes[0]});
    let response = app.post_json("/me/mfa/authenticators/confirm", &body, Some(&stolen)).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND, "the pending secret belongs to the session that asked");
    let theirs = begin_adding(&app, &stolen).await;
    assert_ne!(theirs, secret, "another session gets a secret of its own");
    let body = json!({"name": "Pixel", "code": app.code(&secret, 0), "current_code": codes[1]});
    let response = app.post_json("/me/mfa/authenticators/confirm", &body, Some(&owner)).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND, "and replacing it voided the owner's: nothing mixes");
    assert_eq!(list(&app, &owner).await.len(), 1);
}

#[tokio::test]
async fn at_most_three_authenticators_and_the_fourth_spends_no_code() {
    let app = spawn_app().await;
    let (token, _, codes) = app.user_with_mfa("alice").await;
    for (n, current) in codes.iter().take(2).enumerate() {
        app.clock.advance(STEP);
        let secret = begin_adding(&app, &token).await;
        let body = json!({"name": format!("Spare {n}"), "code": app.code(&secret, 0), "current_code": current});
        assert_eq!(
            app.post_json("/me/mfa/authenticators/confirm", &body, Some(&token)).await.status(),
            StatusCode::CREATED
        );
    }
    app.clock.advance(STEP);
    let secret = begin_adding(&app, &token).await;
    let body = json!({"name": "One too many", "code": app.code(&secret, 0), "current_code": codes[2]});
    let response = app.post_json("/me/mfa/authenticators/confirm", &body, Some(&token)).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let mfa_token = app.mfa_token("alice").await;
    assert_eq!(
        app.second_step(&mfa_token, &codes[2]).await.status(),
        StatusCode::CREATED,
        "the recovery code was not spent"
    );
}
