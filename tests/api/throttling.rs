//! Throttling: guesses at codes and passwords are counted per account and
//! per address, in the store, before they are evaluated.

use reqwest::StatusCode;
use serde_json::{json, Value};
use time::Duration;

use crate::helpers::{spawn_app, spawn_app_with, TestApp, PASSWORD};

/// (status, error code, Retry-After) of an answer.
async fn outcome(response: reqwest::Response) -> (StatusCode, String, Option<u64>) {
    let status = response.status();
    let retry = response.headers().get("retry-after").map(|v| v.to_str().unwrap().parse().unwrap());
    let body: Value = response.json().await.unwrap_or(Value::Null);
    (status, body["error"]["code"].as_str().unwrap_or("").to_string(), retry)
}

async fn password_attempt(app: &TestApp, login: &str, password: &str) -> (StatusCode, String, Option<u64>) {
    outcome(app.post_json("/sessions", &json!({"login": login, "password": password}), None).await).await
}

#[tokio::test]
async fn after_five_wrong_codes_the_account_waits_30_seconds_then_twice_as_long() {
    let app = spawn_app().await;
    let (token, secret, _) = app.user_with_mfa("alice").await;
    app.clock.advance(Duration::seconds(30));
    let mfa_token = app.mfa_token("alice").await;
    for _ in 0..5 {
        assert_eq!(outcome(app.second_step(&mfa_token, "000000").await).await.0, StatusCode::UNAUTHORIZED);
    }
    let fresh = app.mfa_token("alice").await;
    let right = app.code(&secret, 0);
    let (status, code, retry) = outcome(app.second_step(&fresh, &right).await).await;
    assert_eq!(
        (status, code.as_str(), retry),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited", Some(30)),
        "a new pending sign-in is throttled too, and a right code is not even evaluated"
    );

    app.clock.advance(Duration::seconds(30));
    assert_eq!(outcome(app.second_step(&fresh, "000000").await).await.0, StatusCode::UNAUTHORIZED);
    let (status, _, retry) = outcome(app.second_step(&fresh, &right).await).await;
    assert_eq!((status, retry), (StatusCode::TOO_MANY_REQUESTS, Some(60)), "the delay doubles");

    app.clock.advance(Duration::seconds(60));
    let right = app.code(&secret, 0);
    assert_eq!(outcome(app.second_step(&fresh, &right).await).await.0, StatusCode::CREATED);
    let events: Value = app.get_api("/me/events", &token).await.json().await.unwrap();
    assert!(events["events"].as_array().unwrap().iter().any(|e| e["kind"] == "lockout"), "{events}");

    app.clock.advance(Duration::seconds(30));
    let mfa_token = app.mfa_token("alice").await;
    for _ in 0..4 {
        assert_eq!(outcome(app.second_step(&mfa_token, "000000").await).await.0, StatusCode::UNAUTHORIZED);
    }
    let (status, ..) = outcome(app.second_step(&mfa_token, &app.code(&secret, 0)).await).await;
    assert_eq!(status, StatusCode::CREATED, "a success reset the count");
}

#[tokio::test]
async fn wrong_codes_to_turn_mfa_off_throttle_the_sign_in_too() {
    let app = spawn_app().await;
    let (token, secret, _) = app.user_with_mfa("alice").await;
    for _ in 0..5 {
        let response = app.api_delete_json("/me/mfa/totp", &json!({"code": "000000"}), &token).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let (status, ..) = outcome(app.api_delete_json("/me/mfa/totp", &json!({"code": "000000"}), &token).await).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    app.clock.advance(Duration::seconds(10));
    let mfa_token = app.mfa_token("alice").await;
    let (status, ..) = outcome(app.second_step(&mfa_token, &app.code(&secret, 0)).await).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "one counter per account, whatever the endpoint");
}

#[tokio::test]
async fn parallel_wrong_codes_on_one_pending_sign_in_are_evaluated_at_most_five_times() {
    let app = spawn_app().await;
    app.user_with_mfa("alice").await;
    let mfa_token = app.mfa_token("alice").await;
    let mut race = tokio::task::JoinSet::new();
    let client = crate::helpers::http();
    for i in 0..30 {
        let request = client
            .post(app.url("/api/v1/sessions/mfa"))
            .json(&json!({"mfa_token": mfa_token, "code": format!("{:06}", 100_000 + i)}));
        race.spawn(async move { request.send().await.unwrap().json::<Value>().await.unwrap() });
    }
    let answers = race.join_all().await;
    let evaluated = answers.iter().filter(|a| a["error"]["code"] == "invalid_code").count();
    assert!(evaluated <= 5, "{evaluated} guesses were evaluated");
    assert!(answers.iter().all(|a| a["error"]["code"] != Value::Null));
}

/// The brute-force experiment of SECURITY.md section 5: 1,000 guesses at the
/// code of an account whose password the attacker has, from one address, the
/// clock moved on whenever the server says to wait. Counts how many guesses
/// were evaluated at all, and when.
#[tokio::test]
async fn a_thousand_guesses_at_a_code_stay_below_the_contracts_odds() {
    let app = spawn_app().await;
    let (_, secret, codes) = app.user_with_mfa("alice").await;
    let start = app.clock.unix();
    let mut evaluated_at = Vec::new();
    let mut mfa_token = app.mfa_token("alice").await;
    for guess in 0..1000u32 {
        let code = format!("{:06}", (guess * 7919 + 13) % 1_000_000);
        let (status, error, retry) = outcome(app.second_step(&mfa_token, &code).await).await;
        match (status, error.as_str()) {
            (StatusCode::UNAUTHORIZED, "invalid_code") => evaluated_at.push(app.clock.unix() - start),
            (StatusCode::UNAUTHORIZED, "unauthenticated") => mfa_token = app.mfa_token("alice").await,
            (StatusCode::TOO_MANY_REQUESTS, _) => app.clock.advance(Duration::seconds(retry.unwrap() as i64)),
            (StatusCode::CREATED, _) => panic!("guessed the code"),
            other => panic!("unexpected {other:?}"),
        }
    }
    let elapsed = app.clock.unix() - start;
    let in_15_minutes = evaluated_at.iter().filter(|t| **t < 15 * 60).count();
    let in_30_days = evaluated_at.iter().filter(|t| **t < 30 * 24 * 3600).count();
    // Three codes (t-1, t, t+1) are valid at any moment: each guess wins with p = 3e-6.
    let p = |n: usize| n as f64 * 3e-6;
    println!(
        "evaluated {} of 1000 guesses over {elapsed} s; {in_15_minutes} in 15 min, {in_30_days} in 30 days",
        evaluated_at.len()
    );
    assert!(p(in_15_minutes) < 1e-4, "{in_15_minutes} guesses in 15 minutes");
    assert!(p(in_30_days) < 1e-3, "{in_30_days} guesses in 30 days");
    assert!(evaluated_at.len() <= 100, "locked after 100 consecutive failures");

    app.clock.advance(Duration::days(2));
    let mfa_token = app.mfa_token("alice").await;
    let (status, ..) = outcome(app.second_step(&mfa_token, &app.code(&secret, 0)).await).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "the locked factor takes no code, however long one waits");
    let (status, ..) = outcome(app.second_step(&mfa_token, &codes[0]).await).await;
    assert_eq!(status, StatusCode::CREATED, "a recovery code unlocks it");
    app.clock.advance(Duration::seconds(30));
    let mfa_token = app.mfa_token("alice").await;
    let (status, ..) = outcome(app.second_step(&mfa_token, &app.code(&secret, 0)).await).await;
    assert_eq!(status, StatusCode::CREATED, "and the app's codes work again");
}

#[tokio::test]
async fn three_typos_do_not_lock_a_person_out_but_guessing_is_slowed() {
    let app = spawn_app().await;
    app.sign_up("alice").await;
    for _ in 0..3 {
        assert_eq!(password_attempt(&app, "alice", "not my password").await.0, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(password_attempt(&app, "alice", PASSWORD).await.0, StatusCode::CREATED, "three typos are fine");

    for _ in 0..5 {
        assert_eq!(password_attempt(&app, "alice", "guess guess guess").await.0, StatusCode::UNAUTHORIZED);
    }
    let (status, code, retry) = password_attempt(&app, "alice", PASSWORD).await;
    assert_eq!(
        (status, code.as_str(), retry),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited", Some(30)),
        "even the right password waits: no oracle"
    );
    app.clock.advance(Duration::seconds(30));
    assert_eq!(password_attempt(&app, "alice", PASSWORD).await.0, StatusCode::CREATED, "after the pause it works");
}

#[tokio::test]
async fn unknown_logins_are_throttled_exactly_like_real_ones() {
    let app = spawn_app().await;
    app.sign_up("alice").await;
    let mut answers = Vec::new();
    for login in ["alice", "nobody"] {
        let mut seen = Vec::new();
        for _ in 0..7 {
            seen.push(password_attempt(&app, login, "guess guess guess").await);
        }
        answers.push(seen);
    }
    assert_eq!(answers[0], answers[1]);
    assert_eq!(answers[0][6].0, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn a_spoofed_x_forwarded_for_does_not_escape_the_per_address_limit() {
    let app = spawn_app().await;
    let client = crate::helpers::http();
    let mut statuses = Vec::new();
    for i in 0..25 {
        let response = client
            .post(app.url("/api/v1/sessions"))
            .header("x-forwarded-for", format!("203.0.113.{i}"))
            .json(&json!({"login": format!("user{i}"), "password": "guess guess guess"}))
            .send()
            .await
            .unwrap();
        statuses.push(response.status());
    }
    assert!(statuses[..20].iter().all(|s| *s == StatusCode::UNAUTHORIZED));
    assert!(statuses[20..].iter().all(|s| *s == StatusCode::TOO_MANY_REQUESTS), "{statuses:?}");
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_address_is_the_client() {
    let app = spawn_app_with(|c| c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()]).await;
    app.sign_up("alice").await;
    let client = crate::helpers::http();
    for i in 0..25 {
        let response = client
            .post(app.url("/api/v1/sessions"))
            .header("x-forwarded-for", format!("198.51.100.7, 203.0.113.{i}"))
            .json(&json!({"login": format!("user{i}"), "password": "guess guess guess"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "each forwarded client has its own count");
    }
    let response = client
        .post(app.url("/api/v1/sessions"))
        .header("x-forwarded-for", "203.0.113.99")
        .json(&json!({"login": "alice", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let token = response.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_string();
    let events: Value = app.get_api("/me/events", &token).await.json().await.unwrap();
    assert_eq!(events["events"][0]["ip"], "203.0.113.99", "the event names the real client");
}

#[tokio::test]
async fn every_address_of_one_ipv6_network_shares_one_limit() {
    let app = spawn_app_with(|c| c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()]).await;
    let client = crate::helpers::http();
    let guess = |from: String, i: u32| {
        client
            .post(app.url("/api/v1/sessions"))
            .header("x-forwarded-for", from)
            .json(&json!({"login": format!("user{i}"), "password": "guess guess guess"}))
            .send()
    };
    let mut statuses = Vec::new();
    for i in 0..25 {
        // A new address of the same /64 for every guess, as anyone holding one can.
        statuses.push(guess(format!("2001:db8:7:9:{i:x}::1"), i).await.unwrap().status());
    }
    assert!(statuses.contains(&StatusCode::TOO_MANY_REQUESTS), "one network, one count: {statuses:?}");
    let elsewhere = guess("2001:db8:7:a::1".into(), 99).await.unwrap();
    assert_eq!(elsewhere.status(), StatusCode::UNAUTHORIZED, "the next /64 is another client");
}

#[tokio::test]
async fn a_throttled_sign_in_page_says_how_long_to_wait() {
    let app = spawn_app().await;
    app.sign_up("alice").await;
    let browser = app.browser();
    for _ in 0..5 {
        browser.log_in("alice", "guess guess guess").await;
    }
    let page = browser.log_in("alice", PASSWORD).await;
    assert_eq!(page.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(page.html.contains("Try again in 30 seconds"), "{}", page.html);
}

#[tokio::test]
async fn many_right_sign_ins_at_once_from_one_address_are_not_throttled() {
    // An office behind one NAT, or an app's backend: the address's limit counts failures, not traffic.
    let app = spawn_app().await;
    let mut users = Vec::new();
    for i in 0..25 {
        if i == 20 {
            // One address signs up 20 accounts an hour without waiting.
            app.clock.advance(time::Duration::minutes(61));
        }
        let name = format!("user{i}");
        let (_, secret, _) = app.user_with_mfa(&name).await;
        users.push((name, secret));
    }
    app.clock.advance(time::Duration::seconds(30));
    let mut sign_ins = tokio::task::JoinSet::new();
    for (name, secret) in users {
        let (base, code) = (app.base.clone(), app.code(&secret, 0));
        sign_ins.spawn(async move {
            let client = crate::helpers::http();
            let body = json!({"login": name, "password": PASSWORD});
            let first: Value =
                client.post(format!("{base}/api/v1/sessions")).json(&body).send().await.unwrap().json().await.unwrap();
            let mfa_token = first["mfa_token"].as_str().expect("the password step passed").to_string();
            let second = json!({"mfa_token": mfa_token, "code": code});
            client.post(format!("{base}/api/v1/sessions/mfa")).json(&second).send().await.unwrap().status()
        });
    }
    let statuses = sign_ins.join_all().await;
    assert!(statuses.iter().all(|s| *s == StatusCode::CREATED), "{statuses:?}");
}

/// `count` sign-ins of `login` with `password` at once; their (status, error code, Retry-After).
async fn crowd(app: &TestApp, login: &str, password: &str, count: usize) -> Vec<(StatusCode, String, Option<u64>)> {
    let mut crowd = tokio::task::JoinSet::new();
    let client = crate::helpers::http();
    for _ in 0..count {
        let request = client.post(app.url("/api/v1/sessions")).json(&json!({"login": login, "password": password}));
        crowd.spawn(async move { outcome(request.send().await.unwrap()).await });
    }
    crowd.join_all().await
}

#[tokio::test]
async fn a_crowd_of_wrong_passwords_is_evaluated_no_more_than_the_free_attempts() {
    let app = spawn_app().await;
    app.sign_up("alice").await;
    let answers = crowd(&app, "alice", "not alice's password", 64).await;
    let evaluated = answers.iter().filter(|(status, _, _)| *status == StatusCode::UNAUTHORIZED).count();
    assert_eq!(evaluated, 5, "exactly the free attempts were evaluated: {answers:?}");
    for (status, code, retry) in answers.iter().filter(|(status, _, _)| *status != StatusCode::UNAUTHORIZED) {
        assert_eq!((status, code.as_str()), (&StatusCode::TOO_MANY_REQUESTS, "rate_limited"));
        assert!(retry.is_some_and(|s| s >= 1), "{retry:?}");
    }
    // The failures started the delay: the right password waits too, then passes.
    assert_eq!(password_attempt(&app, "alice", PASSWORD).await.0, StatusCode::TOO_MANY_REQUESTS);
    app.clock.advance(Duration::seconds(31));
    assert_eq!(password_attempt(&app, "alice", PASSWORD).await.0, StatusCode::CREATED);
}
