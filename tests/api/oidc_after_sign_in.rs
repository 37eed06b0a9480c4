//! What comes after an OpenID Connect sign-in (contract section 9): a
//! client revokes its tokens (RFC 7009), a resource server asks whether a
//! token is live (RFC 7662), and a client signs the user out of Latchkey
//! (RP-Initiated Logout 1.0), driven as the client and the browser would.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use reqwest::StatusCode;
use serde_json::Value;
use time::Duration;

use crate::helpers::{Browser, Page, TestApp, PASSWORD};
use crate::oidc_flow::{
    alice_signed_in_to_the_app, authorize, authorize_path, clients, provider, token_of, APP_BYE, APP_CB, SECRET,
};

/// A form to `path` as the client `id` (Basic credentials when `secret`,
/// else `client_id` alone); (status, body as JSON or `Null`, headers).
async fn as_client<'a>(
    app: &TestApp,
    path: &str,
    id: &'a str,
    secret: Option<&str>,
    mut fields: Vec<(&'a str, &'a str)>,
) -> (StatusCode, Value, reqwest::header::HeaderMap) {
    let mut request = crate::helpers::http().post(app.url(path));
    match secret {
        Some(secret) => request = request.basic_auth(id, Some(secret)),
        None => fields.push(("client_id", id)),
    }
    let response = request.form(&fields).send().await.unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null), headers)
}

async fn userinfo_status(app: &TestApp, access: &str) -> StatusCode {
    crate::helpers::http().get(app.url("/oauth2/userinfo")).bearer_auth(access).send().await.unwrap().status()
}

fn field<'a>(tokens: &'a Value, name: &str) -> &'a str {
    tokens[name].as_str().unwrap_or_else(|| panic!("{name} in {tokens}"))
}

#[tokio::test]
async fn a_revoked_access_token_ends_alone_and_a_revoked_refresh_token_ends_its_grant() {
    let app = provider().await;
    let (_browser, first) = alice_signed_in_to_the_app(&app).await;
    let revoke = |token, id, secret| as_client(&app, "/oauth2/revoke", id, secret, vec![("token", token)]);

    let (status, body, headers) = revoke(field(&first, "access_token"), "app", Some(SECRET)).await;
    assert_eq!((status, body), (StatusCode::OK, Value::Null), "200 with no body (RFC 7009 2.2)");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(userinfo_status(&app, field(&first, "access_token")).await, StatusCode::UNAUTHORIZED);
    let refresh = [("grant_type", "refresh_token"), ("refresh_token", field(&first, "refresh_token"))];
    let (status, second) = token_of(&app, &refresh).await;
    assert_eq!(status, StatusCode::OK, "an access token ends alone: {second}");

    // Another client cannot end it, and learns nothing either way.
    let (status, _, _) = revoke(field(&second, "refresh_token"), "spa", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(userinfo_status(&app, field(&second, "access_token")).await, StatusCode::OK, "still live");

    let (status, _, _) = revoke(field(&second, "refresh_token"), "app", Some(SECRET)).await;
    assert_eq!(status, StatusCode::OK);
    let refresh = [("grant_type", "refresh_token"), ("refresh_token", field(&second, "refresh_token"))];
    let (status, answer) = token_of(&app, &refresh).await;
    assert_eq!((status, answer["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")));
    assert_eq!(
        userinfo_status(&app, field(&second, "access_token")).await,
        StatusCode::UNAUTHORIZED,
        "a refresh token takes its grant's access tokens with it"
    );

    // Unknown tokens are answered alike; a client that does not prove itself is not.
    let (status, _, _) = revoke("no-such-token", "app", Some(SECRET)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, answer, headers) = revoke("no-such-token", "app", Some("a-wrong-secret")).await;
    assert_eq!((status, answer["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_client")));
    assert!(headers.contains_key("www-authenticate"));
    let (status, answer, _) = as_client(&app, "/oauth2/revoke", "app", Some(SECRET), Vec::new()).await;
    assert_eq!((status, answer["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_request")));

    let session = app.sign_in("alice").await;
    let revoked = app.event_kinds(&session).await.iter().filter(|k| *k == "oidc_access_revoked").count();
    assert_eq!(revoked, 2, "one event per revocation that ended something");
}

#[tokio::test]
async fn introspection_tells_confidential_clients_what_a_token_is_and_nothing_more() {
    let app = provider().await;
    let (_browser, tokens) = alice_signed_in_to_the_app(&app).await;
    let (access, refresh) = (field(&tokens, "access_token"), field(&tokens, "refresh_token"));
    let introspect = |token, id, secret| as_client(&app, "/oauth2/introspect", id, secret, vec![("token", token)]);

    let (status, answer, headers) = introspect(access, "app", Some(SECRET)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!((answer["active"].as_bool(), answer["client_id"].as_str()), (Some(true), Some("app")));
    assert_eq!((answer["token_type"].as_str(), answer["username"].as_str()), (Some("Bearer"), Some("alice")));
    assert_eq!(answer["scope"], "openid profile email groups offline_access");
    assert_eq!(answer["iss"], app.base);
    let sub = answer["sub"].as_str().unwrap().to_string();
    let in_ten = app.clock.unix() as i64 + 600;
    assert!((in_ten - 2..=in_ten).contains(&answer["exp"].as_i64().unwrap()), "{answer}");

    // Another confidential client learns nothing of this client's tokens.
    for token in [access, refresh] {
        let (_, answer, _) = introspect(token, "staff-only", Some(SECRET)).await;
        assert_eq!(answer, serde_json::json!({"active": false}));
    }
    let (_, answer, _) = introspect(refresh, "app", Some(SECRET)).await;
    assert_eq!((answer["active"].as_bool(), answer["sub"].as_str()), (Some(true), Some(sub.as_str())));
    assert_eq!(answer.get("token_type"), None, "a refresh token has no token type (RFC 6749 7.1)");

    // A public client proves nothing; a wrong secret is refused.
    let (status, answer, _) = introspect(access, "spa", None).await;
    assert_eq!((status, answer["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_client")));
    let (status, _, _) = introspect(access, "app", Some("a-wrong-secret")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let (_, answer, _) = introspect("made-up", "app", Some(SECRET)).await;
    assert_eq!(answer, serde_json::json!({"active": false}));
    app.clock.advance(Duration::minutes(11));
    let (_, answer, _) = introspect(access, "app", Some(SECRET)).await;
    assert_eq!(answer, serde_json::json!({"active": false}), "ten minutes, then it is dead");
    let (_, answer, _) = introspect(refresh, "app", Some(SECRET)).await;
    assert_eq!(answer["active"], true, "the refresh token lives on");
}

#[tokio::test]
async fn a_client_holding_the_users_id_token_signs_them_out_and_gets_them_back() {
    let app = provider().await;
    let (browser, tokens) = alice_signed_in_to_the_app(&app).await;
    let hint = field(&tokens, "id_token");
    let bye: String = url::form_urlencoded::byte_serialize(APP_BYE.as_bytes()).collect();

    let out =
        browser.get(&format!("/oauth2/logout?id_token_hint={hint}&post_logout_redirect_uri={bye}&state=s-9")).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER, "{}", out.html);
    assert_eq!(out.location.as_deref(), Some(format!("{APP_BYE}?state=s-9").as_str()));
    let dashboard = browser.get("/dashboard").await;
    assert_eq!(dashboard.status, StatusCode::SEE_OTHER, "the session is over");
    let session = app.sign_in("alice").await;
    assert!(app.event_kinds(&session).await.contains(&"signed_out".to_string()));

    // Signed out already, an expired hint still names the client; a
    // redirect URI registered for sign-in may be used too.
    app.clock.advance(Duration::hours(2));
    let cb: String = url::form_urlencoded::byte_serialize(APP_CB.as_bytes()).collect();
    let again = browser.get(&format!("/oauth2/logout?id_token_hint={hint}&post_logout_redirect_uri={cb}")).await;
    assert_eq!(again.location.as_deref(), Some(APP_CB));
    // Without a place to go: the sign-in page.
    let plain = browser.get("/oauth2/logout").await;
    assert_eq!(plain.location.as_deref(), Some("/login"));
}

#[tokio::test]
async fn a_logout_that_does_not_name_the_user_asks_first_and_untrusted_requests_go_nowhere() {
    let app = provider().await;
    let (browser, tokens) = alice_signed_in_to_the_app(&app).await;
    let hint = field(&tokens, "id_token").to_string();
    let bye: String = url::form_urlencoded::byte_serialize(APP_BYE.as_bytes()).collect();

    // Where the browser must never be sent: a 400 page, not a redirect.
    let evil: String = url::form_urlencoded::byte_serialize(b"https://evil.example/").collect();
    let (header, payload, signature) = {
        let parts: Vec<&str> = hint.split('.').collect();
        (parts[0].to_string(), parts[1].to_string(), parts[2].to_string())
    };
    let mut claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&payload).unwrap()).unwrap();
    claims["sub"] = "someone-else".into();
    let forged = format!("{header}.{}.{signature}", URL_SAFE_NO_PAD.encode(claims.to_string()));
    let unsigned = format!("{}.{payload}.", URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#));
    for query in [
        format!("client_id=app&post_logout_redirect_uri={evil}"),
        format!("post_logout_redirect_uri={bye}"),
        format!("client_id=nobody&post_logout_redirect_uri={bye}"),
        format!("id_token_hint={forged}&post_logout_redirect_uri={bye}"),
        format!("id_token_hint={unsigned}"),
        format!("id_token_hint={hint}&client_id=spa"),
        format!("id_token_hint={hint}&post_logout_redirect_uri={evil}"),
    ] {
        let page = browser.get(&format!("/oauth2/logout?{query}")).await;
        assert_eq!((page.status, page.location.as_deref()), (StatusCode::BAD_REQUEST, None), "{query}");
    }
    assert_eq!(browser.get("/dashboard").await.status, StatusCode::OK, "still signed in after all that");

    // No hint: a link on any site could do this, so the user is asked.
    let asked = browser.get(&format!("/oauth2/logout?client_id=app&post_logout_redirect_uri={bye}&state=s-2")).await;
    assert_eq!(asked.status, StatusCode::OK);
    assert!(asked.inner("logout-question").unwrap().contains("The app asks to sign you out"), "{}", asked.html);
    assert_eq!(browser.get("/dashboard").await.status, StatusCode::OK, "asking ends nothing");
    let csrf = asked.csrf();
    let stayed = answer_logout(&browser, &csrf, "stay").await;
    assert_eq!(stayed.location.as_deref(), Some("/dashboard"));
    assert_eq!(browser.get("/dashboard").await.status, StatusCode::OK);
    assert_eq!(answer_logout(&browser, "not-the-token", "logout").await.status, StatusCode::FORBIDDEN);
    assert_eq!(browser.get("/dashboard").await.status, StatusCode::OK);
    let left = answer_logout(&browser, &csrf, "logout").await;
    assert_eq!(left.location.as_deref(), Some(format!("{APP_BYE}?state=s-2").as_str()));
    assert_eq!(browser.get("/dashboard").await.status, StatusCode::SEE_OTHER, "signed out");

    // Bob's browser with Alice's ID token: the hint names another user, so Bob is asked.
    let bob = app.browser();
    bob.sign_up("bob", "bob@example.com", PASSWORD).await;
    let page = bob.get(&format!("/oauth2/logout?id_token_hint={hint}")).await;
    assert_eq!(page.status, StatusCode::OK, "asked, not signed out");
    assert_eq!(bob.get("/dashboard").await.status, StatusCode::OK);

    // Alice's ID token of her earlier sign-in, in her browser signed in
    // again: not this session's, so a leaked old token cannot end it.
    app.clock.advance(Duration::minutes(1));
    browser.log_in("alice", PASSWORD).await;
    let page = browser.get(&format!("/oauth2/logout?id_token_hint={hint}")).await;
    assert_eq!(page.status, StatusCode::OK, "asked: {:?}", page.location);
    assert_eq!(browser.get("/dashboard").await.status, StatusCode::OK);

    // A header naming another algorithm for the RS256 key is no signature of ours.
    let kid: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&header).unwrap()).unwrap();
    let confused = URL_SAFE_NO_PAD.encode(serde_json::json!({"alg": "ES256", "kid": kid["kid"]}).to_string());
    let page = browser.get(&format!("/oauth2/logout?id_token_hint={confused}.{payload}.{signature}")).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    let critical = URL_SAFE_NO_PAD
        .encode(serde_json::json!({"alg": "RS256", "kid": kid["kid"], "crit": ["exp"], "exp": 1}).to_string());
    let page = browser.get(&format!("/oauth2/logout?id_token_hint={critical}.{payload}.{signature}")).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "an extension it does not know is refused");
}

/// The logout question of the `app` client answered with `decision`.
async fn answer_logout(browser: &Browser, csrf: &str, decision: &str) -> Page {
    let fields = [
        ("csrf_token", csrf),
        ("client_id", "app"),
        ("post_logout_redirect_uri", APP_BYE),
        ("state", "s-2"),
        ("decision", decision),
    ];
    browser.post("/oauth2/logout", &fields).await
}

#[tokio::test]
async fn the_owner_is_told_when_an_app_is_let_in_and_when_its_sign_in_is_used_twice() {
    let sink = crate::notifications::SmtpSink::start().await;
    let receiver = crate::webhooks::Receiver::start().await;
    let (port, url) = (sink.port, receiver.url.clone());
    let app = crate::helpers::spawn_app_with(move |c| {
        c.smtp_url = Some(format!("smtp://127.0.0.1:{port}"));
        c.mail_from = Some("Latchkey <latchkey@example.org>".into());
        c.webhook_url = Some(url);
        c.webhook_secret = Some(crate::webhooks::SECRET.into());
        c.oidc_clients = clients();
    })
    .await;
    let browser = app.browser();
    browser.sign_up("alice", "alice@example.com", PASSWORD).await;
    let code = authorize(&browser, &authorize_path("app", APP_CB, "")).await["code"].clone();
    let mail = sink.expect("Subject: [Latchkey] An application can sign you in").await;
    assert!(mail.contains("The app was allowed to sign you in") && mail.contains("To: alice@example.com"), "{mail}");
    let hook = receiver.expect("app_connected").await;
    let details = &hook["details"];
    assert_eq!((details["client_id"].as_str(), details["client_name"].as_str()), (Some("app"), Some("The app")));

    let form = [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", APP_CB)];
    assert_eq!(token_of(&app, &form).await.0, StatusCode::OK);
    assert_eq!(token_of(&app, &form).await.0, StatusCode::BAD_REQUEST);
    let mail = sink.expect("Subject: [Latchkey] A sign-in to an application was used twice").await;
    assert!(mail.contains("that The app had already used") && !mail.contains(code.as_str()), "{mail}");
    assert_eq!(receiver.expect("app_token_reused").await["details"]["client_id"], "app");
    // Replaying it again ends nothing more: no more events, so no more mail.
    for _ in 0..3 {
        assert_eq!(token_of(&app, &form).await.0, StatusCode::BAD_REQUEST);
    }
    let session = app.sign_in("alice").await;
    let reuses = app.event_kinds(&session).await.into_iter().filter(|k| k == "oidc_code_reused").count();
    assert_eq!(reuses, 1, "one event (and one mail) for the reuse that ended tokens");
}

#[tokio::test]
async fn an_id_token_signed_by_a_key_retired_over_a_day_ago_is_no_longer_taken() {
    let app = provider().await;
    let (_browser, tokens) = alice_signed_in_to_the_app(&app).await;
    let hint = field(&tokens, "id_token");
    let header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(hint.split('.').next().unwrap()).unwrap()).unwrap();
    let kid = header["kid"].as_str().unwrap();
    let published = |keys: Value| keys["keys"].as_array().unwrap().iter().any(|k| k["kid"] == kid);
    let key_set =
        || async { crate::helpers::http().get(app.url("/oauth2/jwks")).send().await.unwrap().json().await.unwrap() };
    let logout = format!("/oauth2/logout?id_token_hint={hint}");
    let now = app.clock.unix() as i64;
    let retire = |at: i64| format!("UPDATE oidc_signing_keys SET retired_at = {at} WHERE kid = '{kid}'");

    // Retired an hour ago: still published, and its tokens still check.
    crate::binary::tamper(app.data_dir.path(), &retire(now - 3600)).await;
    assert!(published(key_set().await));
    assert_eq!(app.browser().get(&logout).await.location.as_deref(), Some("/login"));
    // Retired two days ago: gone from the key set, and its tokens are not ours any more.
    crate::binary::tamper(app.data_dir.path(), &retire(now - 2 * 86_400)).await;
    assert!(!published(key_set().await));
    assert_eq!(app.browser().get(&logout).await.status, StatusCode::BAD_REQUEST);
}
