//! Floods from one address (docs/SECURITY.md, rows DOS-01 and DOS-02): the
//! costly work they can start is bounded, and other clients are unaffected.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{http, spawn_app, spawn_app_with, PASSWORD};

#[tokio::test]
async fn a_burst_of_wrong_passwords_from_one_address_is_evaluated_only_a_few_past_its_limit() {
    // 20 free per address; a burst is admitted four at a time, each checked
    // against the failures counted before it, so at most 20 + 4 are hashed.
    let app = spawn_app().await;
    let mut guesses = tokio::task::JoinSet::new();
    for i in 0..300 {
        let url = app.url("/api/v1/sessions");
        guesses.spawn(async move {
            let body = json!({"login": format!("name{i}"), "password": "a guess that is wrong"});
            http().post(url).json(&body).send().await.unwrap().status()
        });
    }
    let statuses = guesses.join_all().await;
    let evaluated = statuses.iter().filter(|s| **s == StatusCode::UNAUTHORIZED).count();
    let throttled = statuses.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count();
    assert_eq!(evaluated + throttled, 300, "{statuses:?}");
    assert!((20..=24).contains(&evaluated), "{evaluated} wrong passwords were evaluated");
}

#[tokio::test]
async fn sign_ups_are_throttled_per_address_and_a_taken_name_counts_too() {
    let app = spawn_app_with(|c| c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()]).await;
    let sign_up = |name: String, from: &'static str| {
        let url = app.url("/api/v1/users");
        async move {
            let body = json!({"username": name, "email": format!("{name}@example.com"), "password": PASSWORD});
            http().post(url).header("x-forwarded-for", from).json(&body).send().await.unwrap()
        }
    };
    assert_eq!(sign_up("alice".into(), "203.0.113.1").await.status(), StatusCode::CREATED);
    for _ in 0..19 {
        // Probing whether a name is taken costs the same as a sign-up.
        assert_eq!(sign_up("alice".into(), "203.0.113.1").await.status(), StatusCode::CONFLICT);
    }
    let refused = sign_up("bob".into(), "203.0.113.1").await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=30).contains(&wait), "{wait}");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
    assert_eq!(
        sign_up("alice".into(), "203.0.113.1").await.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "no probing either"
    );
    assert_eq!(
        sign_up("bob".into(), "203.0.113.2").await.status(),
        StatusCode::CREATED,
        "another address is not held up"
    );
    app.clock.advance(time::Duration::seconds(31));
    assert_eq!(sign_up("carol".into(), "203.0.113.1").await.status(), StatusCode::CREATED, "after the wait");
}

#[tokio::test]
async fn a_flood_of_sign_ups_leaves_the_owner_of_another_address_signing_in() {
    // A thousand sign-ups for a taken name from one address used to fill the
    // hash queue until everyone got 503: now they are refused before any hash.
    let app = spawn_app().await;
    app.sign_up("alice").await;
    let mut flood = tokio::task::JoinSet::new();
    for _ in 0..200 {
        let url = app.url("/api/v1/users");
        flood.spawn(async move {
            let body = json!({"username": "alice", "email": "alice@example.com", "password": PASSWORD});
            http().post(url).json(&body).send().await.unwrap().status()
        });
    }
    let statuses = flood.join_all().await;
    assert!(statuses.iter().all(|s| [StatusCode::CONFLICT, StatusCode::TOO_MANY_REQUESTS].contains(s)), "{statuses:?}");
    assert_eq!(app.sign_in("alice").await.len(), 43, "the owner's sign-in still works");
}

#[tokio::test]
async fn a_blocked_address_is_answered_slowly_and_a_new_block_ends_on_time() {
    // Row DOS-03: a refusal by a per-address counter takes a second, so a
    // closed-loop flood gets one answer a second per connection; the block
    // a process remembers ends when the store's does.
    let app = spawn_app().await;
    let guess = |i: usize| {
        let url = app.url("/api/v1/sessions");
        async move {
            let body = json!({"login": format!("name{i}"), "password": "a guess that is wrong"});
            http().post(url).json(&body).send().await.unwrap().status()
        }
    };
    for i in 0..20 {
        assert_eq!(guess(i).await, StatusCode::UNAUTHORIZED);
    }
    for i in 20..22 {
        let started = std::time::Instant::now();
        assert_eq!(guess(i).await, StatusCode::TOO_MANY_REQUESTS);
        assert!(started.elapsed() >= latchkey_core::throttle::REFUSAL_DELAY, "answered after the delay");
    }
    app.sign_up("alice").await;
    app.clock.advance(time::Duration::seconds(31));
    let right = app.post_json("/sessions", &json!({"login": "alice", "password": PASSWORD}), None).await;
    assert_eq!(right.status(), StatusCode::CREATED, "the remembered block ended with the store's");
}
