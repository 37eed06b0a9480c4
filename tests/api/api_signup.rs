//! `POST /users`: the sign-up rules of contract section 4.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_app_with, TestApp, PASSWORD};

async fn sign_up_fields(app: &TestApp, username: &str, email: &str, password: &str) -> (StatusCode, Value) {
    let body = json!({"username": username, "email": email, "password": password});
    let response = app.post_json("/users", &body, None).await;
    (response.status(), response.json().await.unwrap())
}

/// Asserts a 422 whose `fields` names exactly `field`.
async fn assert_refused(app: &TestApp, username: &str, email: &str, password: &str, field: &str) {
    let (status, body) = sign_up_fields(app, username, email, password).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{username:?} {email:?} {password:?}: {body}");
    assert_eq!(body["error"]["code"], "validation_failed");
    let fields = body["error"]["fields"].as_object().unwrap();
    assert_eq!(fields.keys().collect::<Vec<_>>(), vec![field], "{body}");
    assert!(fields[field].as_str().unwrap().len() > 5, "the message says why");
}

#[tokio::test]
async fn sign_up_answers_201_with_the_user_and_folds_the_username() {
    let app = spawn_app().await;
    let (status, body) = sign_up_fields(&app, "Alice", "Alice@Example.COM", PASSWORD).await;
    assert_eq!(status, StatusCode::CREATED);
    let user = &body["user"];
    assert_eq!(user["username"], "alice");
    assert_eq!(user["email"], "alice@example.com");
    assert_eq!(user["mfa_enabled"], false);
    assert_eq!(user["id"].as_str().unwrap().len(), 36);
    let created = user["created_at"].as_str().unwrap();
    assert!(time::OffsetDateTime::parse(created, &time::format_description::well_known::Rfc3339).is_ok(), "{created}");
    assert!(user.get("password_hash").is_none() && !body.to_string().contains("argon2"));
}

#[tokio::test]
async fn usernames_outside_the_rules_are_refused() {
    let app = spawn_app().await;
    for bad in ["ab", &"a".repeat(33), "has space", "ümlaut", "emoji🙂x", "semi;colon", "\u{212A}elvin", ""] {
        assert_refused(&app, bad, "someone@example.com", PASSWORD, "username").await;
    }
    for good in ["abc", "a.b_c-d", &"z".repeat(32), "UPPER.case"] {
        let (status, body) = sign_up_fields(&app, good, &format!("{}@example.com", good.len()), PASSWORD).await;
        assert_eq!(status, StatusCode::CREATED, "{good}: {body}");
    }
}

#[tokio::test]
async fn emails_outside_the_rules_are_refused() {
    let app = spawn_app().await;
    let long = format!("{}@example.com", "a".repeat(243));
    for bad in [
        "no-at-sign",
        "two@@example.com",
        "a@b@c",
        "@example.com",
        "alice@",
        "al ice@example.com",
        long.as_str(),
        "\"a>,b\"<x@evil.com",
    ] {
        assert_refused(&app, "alice", bad, PASSWORD, "email").await;
    }
    let (status, _) = sign_up_fields(&app, "alice", &long[1..], PASSWORD).await;
    assert_eq!(status, StatusCode::CREATED, "254 characters are allowed");
}

#[tokio::test]
async fn passwords_outside_the_rules_are_refused() {
    let app = spawn_app().await;
    let cases =
        ["eleven char", &"x".repeat(129), "password1234", "123456789012", "qwertyuiop123", "my name is alice ok"];
    for bad in cases {
        assert_refused(&app, "alice", "alice@example.com", bad, "password").await;
    }
    for (i, good) in ["twelve chars", &"long passphrase ".repeat(8), "über café 🐴 correct horse"].iter().enumerate()
    {
        let (status, body) = sign_up_fields(&app, &format!("user{i}"), &format!("u{i}@example.com"), good).await;
        assert_eq!(status, StatusCode::CREATED, "{good:?}: {body}");
    }
}

#[tokio::test]
async fn the_minimum_password_length_is_configurable() {
    let app = spawn_app_with(|c| c.password_min_length = 20).await;
    assert_refused(&app, "alice", "alice@example.com", "nineteen characters", "password").await;
    let (status, _) = sign_up_fields(&app, "alice", "alice@example.com", "twenty characters ok").await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test]
async fn every_broken_rule_is_reported_at_once() {
    let app = spawn_app().await;
    let (status, body) = sign_up_fields(&app, "x", "nope", "short").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields = body["error"]["fields"].as_object().unwrap();
    assert_eq!(fields.len(), 3, "{body}");
}

#[tokio::test]
async fn a_username_or_email_taken_in_another_case_is_a_conflict() {
    let app = spawn_app().await;
    app.sign_up("alice").await;
    let (status, body) = sign_up_fields(&app, "ALICE", "other@example.com", PASSWORD).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "conflict");
    assert!(body["error"]["message"].as_str().unwrap().contains("username"));
    let (status, body) = sign_up_fields(&app, "bob", "ALICE@example.com", PASSWORD).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(body["error"]["message"].as_str().unwrap().contains("email"));
}
