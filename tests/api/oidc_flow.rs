//! The OpenID Connect authorization code flow (contract section 9), driven
//! as a relying party and a browser would: authorize, sign in, consent, the
//! code back at the redirect URI, the token endpoint, the signed ID token
//! checked against the published keys, userinfo; and the attack list.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use latchkey::config::{OidcClientConfig, Secret};
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::ecdsa::EcdsaSig;
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::PKey;
use openssl::rsa::Rsa;
use openssl::sign::Verifier;
use reqwest::StatusCode;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::helpers::{spawn_app_with, Browser, TestApp, PASSWORD};

pub(crate) const SECRET: &str = "the-app-secret-is-long-enough-to-pass-32";
pub(crate) const APP_CB: &str = "https://app.example.com/callback";
/// The `app` client's further post-logout URI.
pub(crate) const APP_BYE: &str = "https://app.example.com/signed-out";
pub(crate) const SPA_CB: &str = "http://localhost:3000/cb";

pub(crate) fn client(id: &str, secret: Option<&str>, redirect: &str, groups: &[&str]) -> OidcClientConfig {
    OidcClientConfig {
        id: id.into(),
        name: format!("The {id}"),
        secret: secret.map(Secret::from),
        redirect_uris: vec![redirect.into()],
        post_logout_uris: Vec::new(),
        groups: groups.iter().map(ToString::to_string).collect(),
        first_party: false,
        id_token_signed_response_alg: None,
    }
}

/// The clients every provider test has: a confidential app, a public SPA,
/// one limited to `staff`, and a first-party one.
pub(crate) fn clients() -> Vec<OidcClientConfig> {
    vec![
        OidcClientConfig { post_logout_uris: vec![APP_BYE.into()], ..client("app", Some(SECRET), APP_CB, &[]) },
        client("spa", None, SPA_CB, &[]),
        client("staff-only", Some(SECRET), APP_CB, &["staff"]),
        OidcClientConfig { first_party: true, ..client("own", Some(SECRET), APP_CB, &[]) },
        OidcClientConfig {
            id_token_signed_response_alg: Some("ES256".into()),
            ..client("es", Some(SECRET), APP_CB, &[])
        },
    ]
}

pub(crate) async fn provider() -> TestApp {
    spawn_app_with(|c| c.oidc_clients = clients()).await
}

pub(crate) fn authorize_path(client_id: &str, redirect: &str, extra: &str) -> String {
    let redirect: String = url::form_urlencoded::byte_serialize(redirect.as_bytes()).collect();
    format!(
        "/oauth2/authorize?client_id={client_id}&redirect_uri={redirect}&response_type=code\
         &scope=openid%20profile%20email%20groups%20offline_access&state=st-1&nonce=n-1{extra}"
    )
}

/// The query parameters of a redirect to the client.
pub(crate) fn params(location: &str) -> std::collections::HashMap<String, String> {
    url::Url::parse(location).unwrap().query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

/// Walks the authorize request in a signed-in browser (allowing at the
/// consent page when shown); returns the final redirect's parameters.
pub(crate) async fn authorize(browser: &Browser, path: &str) -> std::collections::HashMap<String, String> {
    let page = browser.get(path).await;
    let page = if page.status == StatusCode::OK && page.html.contains("name=\"decision\"") {
        let request = page.input_value("request").expect("the request travels in the form");
        browser
            .post("/oauth2/authorize", &[("csrf_token", &page.csrf()), ("request", &request), ("decision", "allow")])
            .await
    } else {
        page
    };
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.html);
    params(page.location.as_deref().unwrap())
}

pub(crate) async fn token(
    app: &TestApp,
    form: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> (StatusCode, Value, reqwest::header::HeaderMap) {
    let mut request = crate::helpers::http().post(app.url("/oauth2/token")).form(form);
    if let Some((id, secret)) = basic {
        request = request.basic_auth(id, Some(secret));
    }
    let response = request.send().await.unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    (status, response.json().await.unwrap_or(Value::Null), headers)
}

/// Checks an ID token's RS256 signature against the published key set; its claims.
pub(crate) async fn verified_claims(app: &TestApp, id_token: &str) -> Value {
    verified_claims_of(app, id_token, "RS256").await
}

/// Checks an ID token's signature (`alg`: RS256 or ES256) against the
/// published key set, as a relying party would; its claims.
async fn verified_claims_of(app: &TestApp, id_token: &str, alg: &str) -> Value {
    let parts: Vec<&str> = id_token.split('.').collect();
    assert_eq!(parts.len(), 3);
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    assert_eq!(header["alg"], alg);
    let keys: Value = crate::helpers::http().get(app.url("/oauth2/jwks")).send().await.unwrap().json().await.unwrap();
    let jwk =
        keys["keys"].as_array().unwrap().iter().find(|k| k["kid"] == header["kid"]).expect("the kid is published");
    assert_eq!(jwk["alg"], alg, "the key is one of that algorithm");
    let number =
        |field: &str| BigNum::from_slice(&URL_SAFE_NO_PAD.decode(jwk[field].as_str().unwrap()).unwrap()).unwrap();
    let mut signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    let public = if alg == "RS256" {
        PKey::from_rsa(Rsa::from_public_components(number("n"), number("e")).unwrap()).unwrap()
    } else {
        // JWS writes r and s side by side; OpenSSL reads DER.
        assert_eq!(signature.len(), 64);
        let (r, s) = signature.split_at(32);
        let der = EcdsaSig::from_private_components(BigNum::from_slice(r).unwrap(), BigNum::from_slice(s).unwrap());
        signature = der.unwrap().to_der().unwrap();
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
        let (x, y) = (number("x"), number("y"));
        PKey::from_ec_key(EcKey::from_public_key_affine_coordinates(&group, &x, &y).unwrap()).unwrap()
    };
    let mut verifier = Verifier::new(MessageDigest::sha256(), &public).unwrap();
    let signed = format!("{}.{}", parts[0], parts[1]);
    assert!(verifier.verify_oneshot(&signature, signed.as_bytes()).unwrap(), "the signature checks");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap()
}

#[tokio::test]
async fn a_relying_party_signs_a_user_in_with_consent_a_code_and_a_signed_id_token() {
    let app = provider().await;
    let browser = app.browser();
    let path = authorize_path("app", APP_CB, "");

    // No session: to the sign-in page, and back to the request after it.
    let first = browser.get(&path).await;
    let location = first.location.clone().unwrap();
    assert!(location.starts_with("/login?rd=%2Foauth2%2Fauthorize%3F"), "{location}");
    // The sign-in's last redirect goes to the client, and browsers hold a
    // form's redirects to form-action: the page names the client's origin.
    let policy =
        |response: reqwest::Response| response.headers()["content-security-policy"].to_str().unwrap().to_string();
    let login = policy(browser.client.get(app.url(&location)).send().await.unwrap());
    assert!(login.contains("form-action 'self' https://app.example.com;"), "{login}");
    let plain = policy(browser.client.get(app.url("/login")).send().await.unwrap());
    assert!(plain.contains("form-action 'self';"), "{plain}");
    browser.sign_up("alice", "alice@example.com", PASSWORD).await;
    let consent_policy = policy(browser.client.get(app.url(&path)).send().await.unwrap());
    assert!(consent_policy.contains("form-action 'self' https://app.example.com;"), "{consent_policy}");

    let consent = browser.get(&path).await;
    assert_eq!(consent.status, StatusCode::OK);
    assert!(
        consent.html.contains("Sign in to The app") && consent.inner("consent-claims").is_some(),
        "{}",
        consent.html
    );
    let back = authorize(&browser, &path).await;
    assert_eq!((back["state"].as_str(), back["iss"].as_str()), ("st-1", app.base.as_str()));
    let code = back["code"].clone();

    let form = [("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", APP_CB)];
    let (status, answer, headers) = token(&app, &form, Some(("app", SECRET))).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(answer["token_type"], "Bearer");
    assert!(answer["expires_in"].as_i64().unwrap() <= 600);
    assert_eq!(answer["scope"], "openid profile email groups offline_access");
    let claims = verified_claims(&app, answer["id_token"].as_str().unwrap()).await;
    assert_eq!((claims["iss"].as_str(), claims["aud"].as_str()), (Some(app.base.as_str()), Some("app")));
    assert_eq!((claims["nonce"].as_str(), claims["preferred_username"].as_str()), (Some("n-1"), Some("alice")));
    assert_eq!(claims["amr"], serde_json::json!(["pwd"]));
    assert!(claims["auth_time"].as_i64().unwrap() <= claims["iat"].as_i64().unwrap());
    let sub = claims["sub"].as_str().unwrap().to_string();

    let access = answer["access_token"].as_str().unwrap();
    let info: Value = crate::helpers::http()
        .get(app.url("/oauth2/userinfo"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!((info["sub"].as_str(), info["email"].as_str()), (Some(sub.as_str()), Some("alice@example.com")));
    assert_eq!(info["email_verified"], false);
    // POST answers the same (section 9 lists both).
    let posted: Value = crate::helpers::http()
        .post(app.url("/oauth2/userinfo"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(posted, info);

    // The code again: refused, and what it issued is revoked (RFC 6749 4.1.2).
    let (status, answer, _) = token(&app, &form, Some(("app", SECRET))).await;
    assert_eq!((status, answer["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")));
    let after = crate::helpers::http().get(app.url("/oauth2/userinfo")).bearer_auth(access).send().await.unwrap();
    assert_eq!(after.status(), StatusCode::UNAUTHORIZED);
    assert!(after.headers()["www-authenticate"].to_str().unwrap().contains("invalid_token"));

    // Consent is asked once per client and scopes, unless the client asks again.
    let again = browser.get(&path).await;
    assert_eq!(again.status, StatusCode::SEE_OTHER, "no consent page the second time");
    assert!(params(again.location.as_deref().unwrap()).contains_key("code"));
    let asked = browser.get(&format!("{path}&prompt=consent")).await;
    assert!(asked.status == StatusCode::OK && asked.html.contains("name=\"decision\""), "prompt=consent asks again");

    // Each step is in the security log, naming the client.
    let session = app.sign_in("alice").await;
    let events: Value = app.get_api("/me/events", &session).await.json().await.unwrap();
    let kinds: Vec<&str> = events["events"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    for kind in ["oidc_consent", "oidc_tokens_issued", "oidc_code_reused"] {
        assert!(kinds.contains(&kind), "{kind}: {kinds:?}");
    }
    let named = events["events"].as_array().unwrap().iter().find(|e| e["kind"] == "oidc_consent").unwrap();
    assert_eq!(named["user_agent"], "OpenID Connect client The app (app)");
}

#[tokio::test]
async fn the_attack_list_is_refused() {
    let app = provider().await;
    let browser = app.browser();
    browser.sign_up("alice", "alice@example.com", PASSWORD).await;

    // A redirect URI not registered exactly, or an unknown client: a page, never a redirect.
    for path in [
        authorize_path("app", "https://app.example.com/callback/", ""),
        authorize_path("app", "https://evil.example/callback", ""),
        authorize_path("nobody", APP_CB, ""),
    ] {
        let page = browser.get(&path).await;
        assert_eq!((page.status, page.location.as_deref()), (StatusCode::BAD_REQUEST, None), "{path}");
    }
    // PKCE plain, and a public client without PKCE: back with invalid_request.
    let plain =
        authorize(&browser, &authorize_path("app", APP_CB, "&code_challenge=abc&code_challenge_method=plain")).await;
    assert_eq!(plain["error"], "invalid_request");
    let bare = authorize(&browser, &authorize_path("spa", SPA_CB, "")).await;
    assert_eq!(bare["error"], "invalid_request");
    // A client limited to a group the user is not in.
    let staff = authorize(&browser, &authorize_path("staff-only", APP_CB, "")).await;
    assert_eq!(staff["error"], "access_denied");
    // Denying at the consent page.
    let page = browser.get(&authorize_path("app", APP_CB, "")).await;
    let request = page.input_value("request").unwrap();
    let denied = browser
        .post("/oauth2/authorize", &[("csrf_token", &page.csrf()), ("request", &request), ("decision", "deny")])
        .await;
    assert_eq!(params(denied.location.as_deref().unwrap())["error"], "access_denied");
    let forged = browser.post("/oauth2/authorize", &[("request", &request), ("decision", "allow")]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "the consent form needs the CSRF token");
    // Parameters not served are refused, never ignored.
    for (extra, error) in [
        ("&prompt=unheard-of", "invalid_request"),
        ("&prompt=none%20consent", "invalid_request"),
        ("&max_age=-1", "invalid_request"),
        ("&request=eyJhbGciOiJub25lIn0.e30.", "request_not_supported"),
        ("&request_uri=https%3A%2F%2Fapp.example.com%2Fr", "request_uri_not_supported"),
        ("&response_mode=fragment", "invalid_request"),
    ] {
        let refused = authorize(&browser, &authorize_path("app", APP_CB, extra)).await;
        assert_eq!(refused["error"], error, "{extra}");
    }
    // prompt=none without a session.
    let stranger = app.browser();
    let none = stranger.get(&authorize_path("app", APP_CB, "&prompt=none")).await;
    assert_eq!(params(none.location.as_deref().unwrap())["error"], "login_required");

    // A public client with S256: only the right verifier gets tokens.
    let verifier = "a-verifier-of-forty-three-characters-or-more-0123";
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let pkce = format!("&code_challenge={challenge}&code_challenge_method=S256");
    let code = authorize(&browser, &authorize_path("spa", SPA_CB, &pkce)).await["code"].clone();
    let spend = |code: String, verifier: &'static str| {
        let app = &app;
        async move {
            let form = [
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", SPA_CB),
                ("client_id", "spa"),
                ("code_verifier", verifier),
            ];
            token(app, &form, None).await
        }
    };
    let (status, answer, _) = spend(code, "the-wrong-verifier-of-forty-three-characters-012345").await;
    assert_eq!((status, answer["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")));
    let code = authorize(&browser, &authorize_path("spa", SPA_CB, &pkce)).await["code"].clone();
    let (status, answer, _) = spend(code, verifier).await;
    assert_eq!(status, StatusCode::OK, "{answer}");

    // A code of one client at another, a wrong secret, an unknown grant type.
    let code = authorize(&browser, &authorize_path("app", APP_CB, "")).await["code"].clone();
    let exchange = [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", APP_CB)];
    let (status, answer, headers) =
        token(&app, &exchange, Some(("app", "not-the-secret-but-long-enough-anyway"))).await;
    assert_eq!((status, answer["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_client")));
    assert!(headers.contains_key("www-authenticate"));
    let (status, answer, _) = token(&app, &exchange, Some(("staff-only", SECRET))).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "another client's code"
    );
    let (status, _, _) = token(&app, &exchange, Some(("app", SECRET))).await;
    assert_eq!(status, StatusCode::OK, "the code was not spent by the other client's try");
    let malformed = crate::helpers::http()
        .post(app.url("/oauth2/token"))
        .header("authorization", "Basic !!not-base64!!")
        .form(&[("grant_type", "authorization_code"), ("code", "x"), ("redirect_uri", APP_CB)])
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(malformed.json::<Value>().await.unwrap()["error"], "invalid_client");
    let bare = crate::helpers::http().get(app.url("/oauth2/userinfo")).send().await.unwrap();
    assert_eq!(
        (bare.status(), bare.headers()["www-authenticate"].to_str().unwrap()),
        (StatusCode::UNAUTHORIZED, "Bearer realm=\"latchkey\"")
    );
    let (_, answer, _) = token(&app, &[("grant_type", "password"), ("username", "alice")], Some(("app", SECRET))).await;
    assert_eq!(answer["error"], "unsupported_grant_type");
    let (status, answer, _) = token(&app, &[("grant_type", "authorization_code")], None).await;
    assert_eq!((status, answer["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_request")));
}

#[tokio::test]
async fn discovery_names_the_issuer_and_only_what_is_served() {
    let app = provider().await;
    let document: Value = crate::helpers::http()
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(document["issuer"], app.base);
    assert_eq!(document["token_endpoint"], format!("{}/oauth2/token", app.base));
    assert_eq!(document["code_challenge_methods_supported"], serde_json::json!(["S256"]));
    assert_eq!(document["response_types_supported"], serde_json::json!(["code"]));
    for (field, path) in [
        ("end_session_endpoint", "logout"),
        ("revocation_endpoint", "revoke"),
        ("introspection_endpoint", "introspect"),
    ] {
        assert_eq!(document[field], format!("{}/oauth2/{path}", app.base), "{field}");
    }
}

#[tokio::test]
async fn refresh_tokens_rotate_and_a_reused_one_revokes_its_family() {
    let app = provider().await;
    let (_browser, first) = alice_signed_in_to_the_app(&app).await;
    let refresh = |token: String| {
        let app = &app;
        async move { token_of(app, &[("grant_type", "refresh_token"), ("refresh_token", token.as_str())]).await }
    };
    let one = first["refresh_token"].as_str().expect("offline_access gives a refresh token").to_string();
    let (status, second) = refresh(one.clone()).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    let two = second["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(one, two, "a new refresh token every time");
    let claims = verified_claims(&app, second["id_token"].as_str().unwrap()).await;
    let original = verified_claims(&app, first["id_token"].as_str().unwrap()).await;
    assert_eq!(claims["auth_time"], original["auth_time"], "auth_time is the sign-in's, not the refresh's");
    assert!(claims.get("nonce").is_none());

    // The spent one again (a thief's copy): the whole family goes.
    let (status, answer) = refresh(one).await;
    assert_eq!((status, answer["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")));
    let (status, _) = refresh(two).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "the live one of the family is revoked too");
    let access = second["access_token"].as_str().unwrap();
    let info = crate::helpers::http().get(app.url("/oauth2/userinfo")).bearer_auth(access).send().await.unwrap();
    assert_eq!(info.status(), StatusCode::UNAUTHORIZED, "and the access tokens it issued");
    let session = app.sign_in("alice").await;
    assert!(app.event_kinds(&session).await.contains(&"oidc_refresh_reused".to_string()));
}

/// Alice signs up in a browser and signs in to the `app` client (consent,
/// code, token endpoint): the browser and the token answer.
pub(crate) async fn alice_signed_in_to_the_app(app: &TestApp) -> (Browser, Value) {
    let browser = app.browser();
    browser.sign_up("alice", "alice@example.com", PASSWORD).await;
    let code = authorize(&browser, &authorize_path("app", APP_CB, "")).await["code"].clone();
    let form = [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", APP_CB)];
    let (status, tokens) = token_of(app, &form).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    (browser, tokens)
}

/// A token request of the `app` client (Basic credentials); (status, answer).
pub(crate) async fn token_of(app: &TestApp, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let (status, answer, _) = token(app, form, Some(("app", SECRET))).await;
    (status, answer)
}

#[tokio::test]
async fn connected_apps_are_listed_exported_and_disconnected() {
    let app = provider().await;
    let (browser, tokens) = alice_signed_in_to_the_app(&app).await;

    let security = browser.get("/account/security").await;
    let listed = security.inner("connected-apps").unwrap_or_default();
    assert!(
        listed.contains("The app") && listed.contains("email, groups, offline_access, openid, profile"),
        "{listed}"
    );
    let session = app.sign_in("alice").await;
    let export: Value = app.get_api("/me/export", &session).await.json().await.unwrap();
    assert_eq!(export["connected_apps"][0]["client_id"], "app");

    let csrf = security.csrf();
    let done = browser.post("/account/security/apps/disconnect", &[("csrf_token", &csrf), ("client_id", "app")]).await;
    assert!(done.html.contains("That application is disconnected"), "{}", done.html);
    let access = tokens["access_token"].as_str().unwrap();
    let info = crate::helpers::http().get(app.url("/oauth2/userinfo")).bearer_auth(access).send().await.unwrap();
    assert_eq!(info.status(), StatusCode::UNAUTHORIZED, "its access token ended");
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let (status, _) = token_of(&app, &[("grant_type", "refresh_token"), ("refresh_token", refresh)]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "and its refresh token");
    let again = browser.get(&authorize_path("app", APP_CB, "")).await;
    assert_eq!(again.status, StatusCode::OK, "it asks for consent again");
    assert!(app.event_kinds(&session).await.contains(&"oidc_access_revoked".to_string()));
}

#[tokio::test]
async fn a_first_party_client_signs_in_without_a_consent_page_and_is_still_listed() {
    let app = provider().await;
    let browser = app.browser();
    browser.sign_up("alice", "alice@example.com", PASSWORD).await;
    let page = browser.get(&authorize_path("own", APP_CB, "")).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "no consent page for a first-party client: {}", page.html);
    assert!(params(page.location.as_deref().unwrap()).contains_key("code"));
    let listed = browser.get("/account/security").await.inner("connected-apps").unwrap_or_default();
    assert!(listed.contains("The own"), "Connected apps lists it all the same: {listed}");
}

#[tokio::test]
async fn a_browser_application_may_call_the_provider_from_its_own_origin() {
    let app = provider().await;
    let client = crate::helpers::http();
    let preflight = client
        .request(reqwest::Method::OPTIONS, app.url("/oauth2/token"))
        .header("origin", "http://localhost:3000")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "authorization,content-type")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    let headers = preflight.headers();
    assert_eq!(headers["access-control-allow-origin"], "*");
    assert!(headers["access-control-allow-headers"].to_str().unwrap().contains("authorization"));
    assert!(!headers.contains_key("access-control-allow-credentials"), "no cookie is ever read here");
    for path in ["/oauth2/jwks", "/.well-known/openid-configuration", "/oauth2/userinfo"] {
        let answer = client.get(app.url(path)).header("origin", "http://localhost:3000").send().await.unwrap();
        assert_eq!(answer.headers()["access-control-allow-origin"], "*", "{path}");
    }
    // The pages, which do read the session cookie, answer no other origin.
    let page = client.get(app.url("/oauth2/authorize")).header("origin", "http://localhost:3000").send().await.unwrap();
    assert!(!page.headers().contains_key("access-control-allow-origin"));
}

#[tokio::test]
async fn a_client_that_asks_for_es256_gets_es256_id_tokens_and_can_hand_them_back() {
    let app = provider().await;
    let browser = app.browser();
    browser.sign_up("alice", "alice@example.com", PASSWORD).await;
    let code = authorize(&browser, &authorize_path("es", APP_CB, "")).await["code"].clone();
    let form = [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", APP_CB)];
    let (status, tokens, _) = token(&app, &form, Some(("es", SECRET))).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let claims = verified_claims_of(&app, tokens["id_token"].as_str().unwrap(), "ES256").await;
    assert_eq!((claims["aud"].as_str(), claims["nonce"].as_str()), (Some("es"), Some("n-1")));
    // Handed back at logout, the ES256 signature is checked too.
    let hint = tokens["id_token"].as_str().unwrap();
    let out = browser.get(&format!("/oauth2/logout?id_token_hint={hint}")).await;
    assert_eq!(out.location.as_deref(), Some("/login"), "its own sign-in's token signs out at once");
    assert_eq!(browser.get("/dashboard").await.status, StatusCode::SEE_OTHER);
    let tampered = format!("{}AAAA", &hint[..hint.len() - 4]);
    assert_eq!(browser.get(&format!("/oauth2/logout?id_token_hint={tampered}")).await.status, StatusCode::BAD_REQUEST);
}
