//! Signing in and out over the API, and the life of a session token.

use reqwest::StatusCode;
use serde_json::{json, Value};
use time::Duration;

use crate::helpers::{spawn_app, spawn_app_with, PASSWORD};

#[tokio::test]
async fn sign_in_works_by_username_and_by_email_in_any_case() {
    let app = spawn_app().await;
    app.sign_up("alice").await;
    for login in ["alice", "ALICE", "alice@example.com", "Alice@Example.com"] {
        let response = app.post_json("/sessions", &json!({"login": login, "password": PASSWORD}), None).await;
        assert_eq!(response.status(), StatusCode::CREATED, "{login}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["user"]["username"], "alice");
        assert!(body["expires_at"].is_string());
        let token = body["token"].as_str().unwrap();
        assert!(token.len() >= 43, "256-bit token");
        let me: Value = app.get_api("/me", token).await.json().await.unwrap();
        assert_eq!(me["user"]["email"], "alice@example.com");
    }
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_user_get_the_same_answer() {
    let app = spawn_app().await;
    app.sign_up("alice").await;
    let mut answers = Vec::new();
    for (login, password) in [("alice", "wrong password here"), ("nobody", PASSWORD), ("nobody@example.com", PASSWORD)]
    {
        let response = app.post_json("/sessions", &json!({"login": login, "password": password}), None).await;
        let status = response.status();
        let mut headers: Vec<_> = response
            .headers()
            .iter()
            .filter(|(name, _)| name.as_str() != "date" && name.as_str() != "x-request-id")
            .map(|(n, v)| format!("{n}: {v:?}"))
            .collect();
        headers.sort();
        answers.push((status, headers, response.text().await.unwrap()));
    }
    assert_eq!(answers[0].0, StatusCode::UNAUTHORIZED);
    assert!(answers[0].2.contains("\"invalid_credentials\""), "{}", answers[0].2);
    assert_eq!(answers[0], answers[1]);
    assert_eq!(answers[1], answers[2]);
}

#[tokio::test]
async fn the_whole_password_counts_and_its_unicode_form_does_not() {
    let app = spawn_app().await;
    let composed = "caf\u{e9} au lait et croissant";
    let body = json!({"username": "alice", "email": "alice@example.com", "password": composed});
    assert_eq!(app.post_json("/users", &body, None).await.status(), StatusCode::CREATED);
    let decomposed = "cafe\u{301} au lait et croissant";
    for (password, expected) in [
        (decomposed, StatusCode::CREATED),
        ("caf\u{e9} au lait et croissan", StatusCode::UNAUTHORIZED),
        ("Caf\u{e9} au lait et croissant", StatusCode::UNAUTHORIZED),
    ] {
        let response = app.post_json("/sessions", &json!({"login": "alice", "password": password}), None).await;
        assert_eq!(response.status(), expected, "{password:?}");
    }
}

#[tokio::test]
async fn calls_without_a_valid_token_are_unauthenticated() {
    let app = spawn_app().await;
    let no_token = crate::helpers::http().get(app.url("/api/v1/me")).send().await.unwrap();
    assert_eq!(no_token.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(no_token.headers()["www-authenticate"], "Bearer realm=\"latchkey\"");
    for token in ["garbage", "", "a".repeat(43).as_str()] {
        let response = app.get_api("/me", token).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unauthenticated");
    }
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let app = spawn_app().await;
    app.sign_up("alice").await;
    let token = app.sign_in("alice").await;
    let response = crate::helpers::http()
        .get(app.url("/api/v1/me"))
        .header("authorization", format!("bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_token_is_dead_at_once_after_logout() {
    let app = spawn_app().await;
    app.sign_up("alice").await;
    let token = app.sign_in("alice").await;
    assert_eq!(app.get_api("/me", &token).await.status(), StatusCode::OK);
    assert_eq!(app.delete_api("/sessions/current", &token).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.get_api("/me", &token).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.delete_api("/sessions/current", &token).await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_user_lists_their_sessions_and_revokes_another() {
    let app = spawn_app().await;
    app.sign_up("alice").await;
    app.sign_up("bob").await;
    let first = app.sign_in("alice").await;
    let second = app.sign_in("alice").await;
    let bobs = app.sign_in("bob").await;
    assert_ne!(first, second, "every sign-in gets its own token");

    let listed: Value = app.get_api("/sessions", &first).await.json().await.unwrap();
    let sessions = listed["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "{listed}");
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);
    assert!(!listed.to_string().contains(&second), "tokens are never listed");
    let other_id = sessions.iter().find(|s| s["current"] == false).unwrap()["id"].as_str().unwrap().to_string();

    let bob_listed: Value = app.get_api("/sessions", &bobs).await.json().await.unwrap();
    let bobs_id = bob_listed["sessions"][0]["id"].as_str().unwrap().to_string();
    let response = app.delete_api(&format!("/sessions/{bobs_id}"), &first).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND, "another user's session is not found");
    assert_eq!(app.get_api("/me", &bobs).await.status(), StatusCode::OK);

    assert_eq!(app.delete_api(&format!("/sessions/{other_id}"), &first).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.get_api("/me", &second).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.get_api("/me", &first).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_idle_session_expires_after_the_configured_timeout() {
    let app = spawn_app_with(|c| c.session_idle_timeout_secs = 60).await;
    app.sign_up("alice").await;
    let token = app.sign_in("alice").await;
    app.clock.advance(Duration::seconds(59));
    assert_eq!(app.get_api("/me", &token).await.status(), StatusCode::OK, "use resets the idle timer");
    app.clock.advance(Duration::seconds(59));
    assert_eq!(app.get_api("/me", &token).await.status(), StatusCode::OK);
    app.clock.advance(Duration::seconds(61));
    assert_eq!(app.get_api("/me", &token).await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_busy_session_still_ends_at_its_absolute_lifetime() {
    let app = spawn_app().await;
    app.sign_up("alice").await;
    let token = app.sign_in("alice").await;
    for _ in 0..35 {
        app.clock.advance(Duration::minutes(20));
        assert_eq!(app.get_api("/me", &token).await.status(), StatusCode::OK);
    }
    app.clock.advance(Duration::minutes(20));
    assert_eq!(app.get_api("/me", &token).await.status(), StatusCode::UNAUTHORIZED, "12 hours are up");
    let listed = app.get_api("/sessions", &token).await;
    assert_eq!(listed.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn every_401_names_its_scheme_and_a_dead_mfa_token_says_what_went_wrong() {
    // RFC 9110 section 11.6.1: a 401 carries WWW-Authenticate.
    let app = spawn_app().await;
    app.user_with_mfa("alice").await;
    let wrong = json!({"login": "alice", "password": "not the password"});
    let wrong_password = app.post_json("/sessions", &wrong, None).await;
    let no_token = crate::helpers::http().get(app.url("/api/v1/me")).send().await.unwrap();
    let dead_token = app.second_step("no-such-mfa-token", "123456").await;
    for response in [&wrong_password, &no_token, &dead_token] {
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()["www-authenticate"], "Bearer realm=\"latchkey\"", "{}", response.url());
    }
    let body: Value = dead_token.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthenticated");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("mfa_token") && message.contains("sign in with the password again"), "{message}");
}
