//! App tokens (CONTRACT section 10): made with a recent proof and shown
//! once, stored hashed, scoped, accepted by forward authentication and by
//! the API's reads, never by the account's own settings.

use latchkey::config::Config;
use reqwest::StatusCode;
use serde_json::{json, Value};
use time::Duration;

use crate::forward_auth::rule;
use crate::helpers::{http_builder, spawn_app, spawn_app_with, TestApp, PASSWORD};

async fn answer(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Makes a token with `body` for the session `token`.
async fn make(app: &TestApp, session: &str, body: Value) -> (StatusCode, Value) {
    answer(app.post_json("/me/tokens", &body, Some(session)).await).await
}

fn rules(config: &mut Config) {
    config.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    config.access_rules = vec![rule("wiki.example.com", "one_factor"), rule("*.example.com", "two_factor")];
}

/// Forward authentication for `host`, with `header: Bearer token`.
async fn forward(app: &TestApp, host: &str, header: &str, token: &str) -> (StatusCode, Option<String>) {
    let response = http_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(app.url("/auth/forward"))
        .header("x-forwarded-method", "GET")
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-host", host)
        .header("x-forwarded-uri", "/")
        .header(header, format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    let user = response.headers().get("remote-user").map(|v| v.to_str().unwrap().to_string());
    (response.status(), user)
}

#[tokio::test]
async fn a_token_is_shown_once_prefixed_and_stored_hashed() {
    let app = spawn_app().await;
    app.sign_up("alice").await;
    let session = app.sign_in("alice").await;
    let (status, body) = make(&app, &session, json!({"name": "Backup script", "expires_in_days": 30})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let token = body["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("lk_") && token.len() == 3 + 43, "lk_ and 256 bits: {token}");
    let info = &body["token_info"];
    assert_eq!(info["name"], "Backup script");
    assert_eq!(info["scopes"], json!(["api", "proxy"]), "both when left out");
    assert_eq!(info["domains"], json!([]));
    assert_eq!(info["expires_at"], "2027-02-14T08:00:00Z", "30 days after the test clock's start");
    assert_eq!(info["last_used_at"], Value::Null);

    let (_, listed) = answer(app.get_api("/me/tokens", &session).await).await;
    assert_eq!(listed["tokens"].as_array().unwrap().len(), 1);
    assert!(!listed.to_string().contains(&token[3..]), "the list never holds the token");
    let database = std::fs::read(app.data_dir.path().join("latchkey.db")).unwrap();
    let wal = std::fs::read(app.data_dir.path().join("latchkey.db-wal")).unwrap_or_default();
    for file in [database, wal] {
        assert!(!file.windows(token.len()).any(|w| w == token.as_bytes()), "only its hash is stored");
    }
    let kinds = app.event_kinds(&session).await;
    assert_eq!(kinds.first().map(String::as_str), Some("app_token_created"));
}

#[tokio::test]
async fn a_token_reads_the_api_but_never_opens_the_account_settings() {
    let app = spawn_app().await;
    app.sign_up("alice").await;
    let session = app.sign_in("alice").await;
    let (_, body) = make(&app, &session, json!({"name": "phone"})).await;
    let token = body["token"].as_str().unwrap().to_string();
    let (status, me) = answer(app.get_api("/me", &token).await).await;
    assert_eq!((status, me["user"]["username"].as_str()), (StatusCode::OK, Some("alice")));

    let settings = [
        ("POST", "/me/tokens", json!({"name": "another", "current_password": PASSWORD})),
        ("GET", "/me/tokens", json!(null)),
        ("POST", "/me/mfa/totp", json!({"current_password": PASSWORD})),
        ("POST", "/me/mfa/recovery-codes", json!({"code": "123456"})),
        ("GET", "/sessions", json!(null)),
        ("DELETE", "/sessions/current", json!(null)),
        ("GET", "/me/events", json!(null)),
    ];
    for (method, path, body) in settings {
        let request =
            http_builder().build().unwrap().request(method.parse().unwrap(), app.url(&format!("/api/v1{path}")));
        let request = if body.is_null() { request } else { request.json(&body) };
        let (status, body) = answer(request.bearer_auth(&token).send().await.unwrap()).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {body}");
        assert_eq!(body["error"]["code"], "session_required", "{method} {path}");
    }
    let (_, listed) = answer(app.get_api("/me/tokens", &session).await).await;
    assert_eq!(listed["tokens"].as_array().unwrap().len(), 1, "nothing was made with the token");

    let (_, proxy_only) = make(&app, &session, json!({"scopes": ["proxy"]})).await;
    let proxy_only = proxy_only["token"].as_str().unwrap();
    assert_eq!(app.get_api("/me", proxy_only).await.status(), StatusCode::UNAUTHORIZED, "no api scope");
}

#[tokio::test]
async fn making_a_token_needs_a_recent_proof_and_valid_fields() {
    let app = spawn_app().await;
    app.sign_up("alice").await;
    let session = app.sign_in("alice").await;
    for (body, field) in [
        (json!({"scopes": ["admin"]}), "scopes"),
        (json!({"scopes": []}), "scopes"),
        (json!({"expires_in_days": 0}), "expires_in_days"),
        (json!({"expires_in_days": 3651}), "expires_in_days"),
        (json!({"domains": ["https://x.example.com"]}), "domains"),
        (json!({"name": "x".repeat(41)}), "name"),
        (json!({"name": "line\nbreak"}), "name"),
    ] {
        let (status, answer) = make(&app, &session, body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
        assert!(answer["error"]["fields"][field].is_string(), "{body}: {answer}");
    }
    let (status, _) = make(&app, &session, json!({"expires_in_days": "soon"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    app.clock.advance(Duration::seconds(5 * 60 + 1));
    let (status, body) = make(&app, &session, json!({"name": "late"})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("reauthentication_required")));
    let (status, body) = make(&app, &session, json!({"name": "late", "current_password": "wrong password!"})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, _) = make(&app, &session, json!({"name": "late", "current_password": PASSWORD})).await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, listed) = answer(app.get_api("/me/tokens", &session).await).await;
    assert_eq!(listed["tokens"].as_array().unwrap().len(), 1, "only the proven one was made");
}

#[tokio::test]
async fn forward_authentication_takes_a_proxy_token_for_its_hosts_until_revoked() {
    let app = spawn_app_with(rules).await;
    let (session, _, _) = app.user_with_mfa("alice").await;
    let (_, body) =
        make(&app, &session, json!({"name": "wiki app", "scopes": ["proxy"], "domains": ["wiki.example.com"]})).await;
    let token = body["token"].as_str().unwrap().to_string();
    let id = body["token_info"]["id"].as_str().unwrap().to_string();

    for header in ["authorization", "proxy-authorization"] {
        let (status, user) = forward(&app, "wiki.example.com", header, &token).await;
        assert_eq!((status, user.as_deref()), (StatusCode::OK, Some("alice")), "{header}");
    }
    let (status, _) = forward(&app, "photos.example.com", "authorization", &token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a host the token is not for");
    let (status, _) = forward(&app, "wiki.example.com", "authorization", "lk_not-a-token").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let (_, listed) = answer(app.get_api("/me/tokens", &session).await).await;
    assert_eq!(listed["tokens"][0]["last_used_at"], "2027-01-15T08:00:00Z", "to the minute");
    let kinds = app.event_kinds(&session).await;
    assert_eq!(kinds.iter().filter(|k| *k == "app_token_used_from_new_address").count(), 1, "{kinds:?}");

    let (_, api_only) = make(&app, &session, json!({"scopes": ["api"]})).await;
    let (status, _) = forward(&app, "wiki.example.com", "authorization", api_only["token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "no proxy scope");

    assert_eq!(app.delete_api(&format!("/me/tokens/{id}"), &session).await.status(), StatusCode::NO_CONTENT);
    let (status, _) = forward(&app, "wiki.example.com", "authorization", &token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "revoked: dead at once");
    assert_eq!(app.delete_api(&format!("/me/tokens/{id}"), &session).await.status(), StatusCode::NOT_FOUND);
    assert!(app.event_kinds(&session).await.contains(&"app_token_revoked".to_string()));
}

#[tokio::test]
async fn a_token_made_without_a_second_factor_does_not_pass_a_two_factor_rule() {
    let app = spawn_app_with(rules).await;
    app.sign_up("bob").await;
    let session = app.sign_in("bob").await;
    let (_, body) = make(&app, &session, json!({"scopes": ["proxy"]})).await;
    let token = body["token"].as_str().unwrap().to_string();
    assert_eq!(forward(&app, "wiki.example.com", "authorization", &token).await.0, StatusCode::OK, "one_factor");
    assert_eq!(forward(&app, "admin.example.com", "authorization", &token).await.0, StatusCode::FORBIDDEN);

    let other = spawn_app_with(rules).await;
    let (carol, _, _) = other.user_with_mfa("carol").await;
    let (_, body) = make(&other, &carol, json!({"scopes": ["proxy"]})).await;
    let token = body["token"].as_str().unwrap();
    assert_eq!(forward(&other, "admin.example.com", "authorization", token).await.0, StatusCode::OK, "made with MFA");
}

#[tokio::test]
async fn another_users_token_cannot_be_revoked_and_a_locked_account_s_tokens_stop() {
    let app = spawn_app_with(rules).await;
    app.sign_up("alice").await;
    app.sign_up("mallory").await;
    let alice = app.sign_in("alice").await;
    let mallory = app.sign_in("mallory").await;
    let (_, body) = make(&app, &alice, json!({})).await;
    let (token, id) =
        (body["token"].as_str().unwrap().to_string(), body["token_info"]["id"].as_str().unwrap().to_string());
    assert_eq!(app.delete_api(&format!("/me/tokens/{id}"), &mallory).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.get_api("/me", &token).await.status(), StatusCode::OK, "still alice's, still alive");

    let (ok, out, err) = crate::admin_cli::run_cli(app.data_dir.path(), &["user", "lock", "alice"], "", |command| {
        command.env_remove("LATCHKEY_DATABASE_URL").env_remove("LATCHKEY_SECRET_KEY");
    });
    assert!(ok, "{out}{err}");
    assert_eq!(app.get_api("/me", &token).await.status(), StatusCode::UNAUTHORIZED, "locked: no token works");
    assert_eq!(forward(&app, "wiki.example.com", "authorization", &token).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_security_page_makes_shows_once_and_revokes_tokens() {
    let app = spawn_app().await;
    let browser = app.browser();
    browser.sign_up("alice", "alice@example.com", PASSWORD).await;
    let page = browser.get("/account/security").await;
    assert!(page.html.contains("Make an app token"), "{}", page.html);
    let csrf = page.csrf();
    let made = browser
        .post(
            "/account/security/tokens",
            &[
                ("csrf_token", &csrf),
                ("name", "NAS backup"),
                ("expires", "30"),
                ("scope_api", "yes"),
                ("domains", "nas.example.com"),
            ],
        )
        .await;
    let token = made.inner("new-app-token").expect("the new token, shown once");
    assert!(token.starts_with("lk_"), "{token}");
    assert!(made.html.contains("NAS backup") && made.html.contains("hosts: nas.example.com"), "{}", made.html);
    let (status, me) = answer(app.get_api("/me", &token).await).await;
    assert_eq!((status, me["user"]["username"].as_str()), (StatusCode::OK, Some("alice")));
    let again = browser.get("/account/security").await;
    assert!(!again.html.contains(&token) && again.inner("new-app-token").is_none(), "never shown again");

    let refused = browser.post("/account/security/tokens", &[("csrf_token", &csrf), ("expires", "30")]).await;
    assert!(refused.inner("token-error").unwrap().contains("at least one scope"), "{}", refused.html);
    let id_at = again.html.find("name=\"token_id\" value=\"").unwrap() + "name=\"token_id\" value=\"".len();
    let id = &again.html[id_at..id_at + again.html[id_at..].find('"').unwrap()];
    let revoked = browser.post("/account/security/tokens/revoke", &[("csrf_token", &csrf), ("token_id", id)]).await;
    assert!(revoked.html.contains("That app token is revoked"), "{}", revoked.html);
    assert_eq!(app.get_api("/me", &token).await.status(), StatusCode::UNAUTHORIZED);

    app.clock.advance(Duration::seconds(5 * 60 + 1));
    let late = browser.post("/account/security/tokens", &[("csrf_token", &csrf), ("scope_proxy", "yes")]).await;
    assert_eq!(late.location.as_deref(), Some("/account/confirm?rd=/account/security"), "the password first");
}

#[tokio::test]
async fn a_token_stops_working_when_it_expires() {
    let app = spawn_app().await;
    app.sign_up("alice").await;
    let session = app.sign_in("alice").await;
    let (_, body) = make(&app, &session, json!({"expires_in_days": 1})).await;
    let token = body["token"].as_str().unwrap().to_string();
    app.clock.advance(Duration::hours(23));
    assert_eq!(app.get_api("/me", &token).await.status(), StatusCode::OK, "within its day");
    app.clock.advance(Duration::hours(1));
    assert_eq!(app.get_api("/me", &token).await.status(), StatusCode::UNAUTHORIZED, "a day after it was made");
}
