//! The operator's webhook: every notice arrives as JSON signed with
//! HMAC-SHA256 (checked here with the shared secret), and a refused delivery
//! is retried.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode as AxumStatus};
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::Sha256;

use crate::helpers::{spawn_app_with, TestApp, PASSWORD};

pub(crate) const SECRET: &str = "a shared secret of at least 32 characters";

/// A local receiver that refuses its first delivery with 500 and keeps the
/// rest, each with its signature already checked.
pub(crate) struct Receiver {
    pub(crate) url: String,
    received: Arc<Mutex<Vec<Value>>>,
    refused: Arc<Mutex<u32>>,
}

impl Receiver {
    pub(crate) async fn start() -> Self {
        let received = Arc::new(Mutex::new(Vec::new()));
        let refused = Arc::new(Mutex::new(0));
        let (kept, first) = (received.clone(), refused.clone());
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let (kept, first) = (kept.clone(), first.clone());
                async move {
                    {
                        let mut refused = first.lock().unwrap();
                        if *refused == 0 {
                            *refused += 1;
                            return AxumStatus::INTERNAL_SERVER_ERROR;
                        }
                    }
                    let signature = headers["x-latchkey-signature"].to_str().unwrap().to_string();
                    let hex = signature.strip_prefix("sha256=").expect("sha256= prefix");
                    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
                    mac.update(&body);
                    let expected: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
                    if hex != expected {
                        return AxumStatus::UNAUTHORIZED;
                    }
                    kept.lock().unwrap().push(serde_json::from_slice(&body).unwrap());
                    AxumStatus::NO_CONTENT
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { url, received, refused }
    }

    /// Every delivery named `event` so far.
    pub(crate) fn all(&self, event: &str) -> Vec<Value> {
        self.received.lock().unwrap().iter().filter(|n| n["event"] == event).cloned().collect()
    }

    /// Waits for a notice named `event` and returns it.
    pub(crate) async fn expect(&self, event: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(found) = self.received.lock().unwrap().iter().find(|n| n["event"] == event) {
                return found.clone();
            }
            assert!(Instant::now() < deadline, "no {event:?} notice; got {:?}", self.received.lock().unwrap());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Sends the second step as a client at `address` (the app trusts 127.0.0.1 as a proxy).
async fn second_step_from(app: &TestApp, address: &str, code: &str) -> StatusCode {
    let response = crate::helpers::http()
        .post(app.url("/api/v1/sessions"))
        .header("x-forwarded-for", address)
        .json(&json!({"login": "alice", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let mfa_token = response.json::<Value>().await.unwrap()["mfa_token"].as_str().unwrap().to_string();
    crate::helpers::http()
        .post(app.url("/api/v1/sessions/mfa"))
        .header("x-forwarded-for", address)
        .json(&json!({"mfa_token": mfa_token, "code": code}))
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn every_notice_reaches_the_signed_webhook_and_a_refused_delivery_is_retried() {
    let receiver = Receiver::start().await;
    let url = receiver.url.clone();
    let app = spawn_app_with(move |c| {
        c.webhook_url = Some(url);
        c.webhook_secret = Some(SECRET.into());
        c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    let (token, secret, codes) = app.user_with_mfa("alice").await;
    let on = receiver.expect("mfa_enabled").await;
    assert_eq!(*receiver.refused.lock().unwrap(), 1, "the first delivery was refused, and retried");
    assert_eq!(on["user"]["username"], "alice");
    assert!(on["id"].is_string() && on["at"].is_string());
    let text = on.to_string();
    assert!(!text.contains(&secret) && !text.contains("alice@example.com"), "no secret, no email: {text}");

    // A replayed code names both addresses.
    app.clock.advance(time::Duration::seconds(30));
    let code = app.code(&secret, 0);
    assert_eq!(second_step_from(&app, "203.0.113.5", &code).await, StatusCode::CREATED);
    assert_eq!(second_step_from(&app, "198.51.100.9", &code).await, StatusCode::UNAUTHORIZED);
    let replay = receiver.expect("code_replayed").await;
    assert_eq!(replay["ip"], "198.51.100.9");
    assert_eq!(replay["details"]["first_used_from"], "203.0.113.5");

    // Another authenticator added, then removed.
    app.clock.advance(time::Duration::seconds(30));
    let added: Value = app.post_json("/me/mfa/authenticators", &json!({}), Some(&token)).await.json().await.unwrap();
    let second = added["secret"].as_str().unwrap().to_string();
    let body = json!({"name": "Pixel", "code": app.code(&second, 0), "current_code": app.code(&secret, 0)});
    assert_eq!(
        app.post_json("/me/mfa/authenticators/confirm", &body, Some(&token)).await.status(),
        StatusCode::CREATED
    );
    receiver.expect("authenticator_added").await;
    let list: Value = app.get_api("/me/mfa/authenticators", &token).await.json().await.unwrap();
    let pixel = list["authenticators"][1]["id"].as_str().unwrap().to_string();
    app.clock.advance(time::Duration::seconds(30));
    let path = format!("/me/mfa/authenticators/{pixel}");
    assert_eq!(
        app.api_delete_json(&path, &json!({"code": app.code(&second, 0)}), &token).await.status(),
        StatusCode::NO_CONTENT
    );
    receiver.expect("authenticator_removed").await;

    // Recovery codes: each use, and the warning at two left.
    for code in &codes[..8] {
        assert_eq!(app.second_step(&app.mfa_token("alice").await, code).await.status(), StatusCode::CREATED);
    }
    receiver.expect("recovery_code_used").await;
    let low = receiver.expect("recovery_codes_low").await;
    assert_eq!(low["details"]["recovery_codes_left"], 2);

    // Five wrong codes start the delays: a lockout.
    let mfa_token = app.mfa_token("alice").await;
    for _ in 0..5 {
        app.second_step(&mfa_token, "000000").await;
    }
    receiver.expect("lockout").await;

    // The support team's reset, from the command line, arrives before the command exits.
    let (data_dir, hook) = (app.data_dir.path().to_path_buf(), receiver.url.clone());
    let (ok, _, stderr) = tokio::task::spawn_blocking(move || {
        crate::admin_cli::run_cli(&data_dir, &["user", "reset-mfa", "alice"], "", |command| {
            command.env("LATCHKEY_WEBHOOK_URL", hook).env("LATCHKEY_WEBHOOK_SECRET", SECRET);
        })
    })
    .await
    .unwrap();
    assert!(ok, "{stderr}");
    receiver.expect("mfa_reset_by_operator").await;
}

#[tokio::test]
async fn turning_mfa_off_is_sent_and_a_receiver_that_is_down_fails_nothing() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let app = spawn_app_with(move |c| {
        c.webhook_url = Some(format!("http://127.0.0.1:{closed}/hook"));
        c.webhook_secret = Some(SECRET.into());
    })
    .await;
    let (token, secret, _) = app.user_with_mfa("alice").await;
    app.clock.advance(time::Duration::seconds(30));
    let response = app.api_delete_json("/me/mfa/totp", &json!({"code": app.code(&secret, 0)}), &token).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT, "a dead receiver slows and fails nothing");

    let receiver = Receiver::start().await;
    *receiver.refused.lock().unwrap() = 1; // accept at once
    let url = receiver.url.clone();
    let app = spawn_app_with(move |c| {
        c.webhook_url = Some(url);
        c.webhook_secret = Some(SECRET.into());
    })
    .await;
    let (token, secret, _) = app.user_with_mfa("bob").await;
    app.clock.advance(time::Duration::seconds(30));
    let response = app.api_delete_json("/me/mfa/totp", &json!({"code": app.code(&secret, 0)}), &token).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(receiver.expect("mfa_disabled").await["user"]["username"], "bob");
}
