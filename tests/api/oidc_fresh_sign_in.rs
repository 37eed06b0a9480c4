//! How fresh and how strong a sign-in a client may ask for (contract
//! section 9): `prompt=login` and `max_age` force a fresh sign-in, asked
//! once; `acr_values=mfa` forces a second factor through the same code step
//! as any sign-in; `auth_time` and `amr` say what happened.

use reqwest::StatusCode;
use serde_json::Value;
use time::Duration;

use crate::helpers::{Browser, TestApp, PASSWORD};
use crate::oidc_flow::{authorize, authorize_path, params, provider, token_of, verified_claims, APP_CB};

/// The query of a redirect to the sign-in page: the authorize request it returns to.
fn back_to(location: &str) -> String {
    let url = url::Url::parse(&format!("http://x{location}")).unwrap();
    assert_eq!(url.path(), "/login", "{location}");
    url.query_pairs().find(|(k, _)| k == "rd").map(|(_, v)| v.into_owned()).expect("rd")
}

/// The ID token's claims for a code of the `app` client.
async fn claims_of(app: &TestApp, code: &str) -> Value {
    let form = [("grant_type", "authorization_code"), ("code", code), ("redirect_uri", APP_CB)];
    let (status, tokens) = token_of(app, &form).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    verified_claims(app, tokens["id_token"].as_str().unwrap()).await
}

/// Signs in on the sign-in page the browser was sent to (`location`),
/// signed in already or not; the answer to the password.
async fn sign_in_at(browser: &Browser, location: &str, login: &str) -> crate::helpers::Page {
    let page = browser.get(location).await;
    assert_eq!(page.status, StatusCode::OK, "the form, even for someone signed in: {}", page.html);
    let rd = page.input_value("rd").expect("the form carries rd");
    browser.post("/login", &[("csrf_token", &page.csrf()), ("login", login), ("password", PASSWORD), ("rd", &rd)]).await
}

#[tokio::test]
async fn prompt_login_signs_the_user_in_again_once_and_auth_time_is_that_sign_in() {
    let app = provider().await;
    let browser = app.browser();
    browser.sign_up("alice", "alice@example.com", PASSWORD).await;
    let path = authorize_path("app", APP_CB, "");
    let first = claims_of(&app, &authorize(&browser, &path).await["code"]).await;

    app.clock.advance(Duration::minutes(1));
    let asked = browser.get(&format!("{path}&prompt=login")).await;
    assert_eq!(asked.status, StatusCode::SEE_OTHER);
    let location = asked.location.unwrap();
    let rd = back_to(&location);
    assert!(rd.contains("sent_to_sign_in_at="), "{rd}");
    let signed_in = sign_in_at(&browser, &location, "alice").await;
    assert!(signed_in.location.unwrap().ends_with(&rd), "back to the request");
    let back = browser.get(&rd).await;
    let code = params(back.location.as_deref().unwrap())["code"].clone();
    let claims = claims_of(&app, &code).await;
    assert_eq!(
        claims["auth_time"].as_i64().unwrap(),
        first["auth_time"].as_i64().unwrap() + 60,
        "auth_time is the new sign-in's"
    );

    // The marker is the service's own and short-lived: forged or stale, it
    // sends the browser to sign in again rather than pass an old sign-in.
    let marker = rd.split("sent_to_sign_in_at=").nth(1).unwrap().to_string();
    let forged = rd.replace(&marker, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    assert!(back_to(&browser.get(&forged).await.location.unwrap()).contains("sent_to_sign_in_at="));
    // Nor does one made for another client.
    let own = authorize_path("own", APP_CB, "&prompt=login");
    let theirs = browser.get(&format!("{own}&sent_to_sign_in_at={marker}")).await;
    assert!(theirs.location.unwrap().starts_with("/login?rd="), "a marker opens only for its client");
    app.clock.advance(Duration::minutes(11));
    let stale = browser.get(&rd).await;
    assert!(stale.location.unwrap().starts_with("/login?rd="), "a marker older than ten minutes is not fresh");
    let none = browser.get(&format!("{path}&prompt=none%20login")).await;
    assert_eq!(params(none.location.as_deref().unwrap())["error"], "invalid_request");
}

#[tokio::test]
async fn max_age_asks_again_only_when_the_sign_in_is_older() {
    let app = provider().await;
    let browser = app.browser();
    browser.sign_up("alice", "alice@example.com", PASSWORD).await;
    let path = authorize_path("app", APP_CB, "");
    authorize(&browser, &path).await;

    app.clock.advance(Duration::minutes(10));
    let young_enough = browser.get(&format!("{path}&max_age=3600")).await;
    assert!(params(young_enough.location.as_deref().unwrap()).contains_key("code"));
    let too_old = browser.get(&format!("{path}&max_age=300")).await;
    let location = too_old.location.unwrap();
    let rd = back_to(&location);
    let silent = browser.get(&format!("{path}&max_age=300&prompt=none")).await;
    assert_eq!(params(silent.location.as_deref().unwrap())["error"], "login_required");
    let malformed = browser.get(&format!("{path}&max_age=soon")).await;
    assert_eq!(params(malformed.location.as_deref().unwrap())["error"], "invalid_request");

    sign_in_at(&browser, &location, "alice").await;
    let back = browser.get(&rd).await;
    let code = params(back.location.as_deref().unwrap())["code"].clone();
    let claims = claims_of(&app, &code).await;
    assert_eq!(claims["auth_time"].as_i64().unwrap(), app.clock.unix() as i64);
    // max_age=0 always asks, and the fresh sign-in answers it once.
    let zero = browser.get(&format!("{path}&max_age=0")).await;
    let location = zero.location.unwrap();
    let rd = back_to(&location);
    sign_in_at(&browser, &location, "alice").await;
    assert!(params(browser.get(&rd).await.location.as_deref().unwrap()).contains_key("code"));
}

#[tokio::test]
async fn acr_values_mfa_steps_up_through_the_code_step_and_refuses_an_account_without_one() {
    let app = provider().await;
    let (_, secret, _) = app.user_with_mfa("alice").await;
    // A browser remembered at the code step: its next sign-in passes the
    // password and the remembered browser, no code.
    let browser = app.browser();
    app.clock.advance(Duration::seconds(30));
    let step = browser.log_in("alice", PASSWORD).await;
    let code = app.code(&secret, 0);
    let fields = [("csrf_token", step.csrf()), ("code", code), ("trust_device", "yes".into())];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(browser.post("/login/mfa", &fields).await.status, StatusCode::SEE_OTHER);
    let out = browser.get("/dashboard").await;
    browser.post("/logout", &[("csrf_token", &out.csrf())]).await;
    assert_eq!(browser.log_in("alice", PASSWORD).await.location.as_deref(), Some("/dashboard"), "remembered");
    let path = authorize_path("app", APP_CB, "");
    let remembered = claims_of(&app, &authorize(&browser, &path).await["code"]).await;
    assert_eq!(
        (remembered["amr"].clone(), remembered["acr"].as_str()),
        (serde_json::json!(["pwd", "swk"]), Some("pwd")),
        "a remembered browser is not a second factor in this sign-in"
    );
    // An application's ordinary sign-in in a remembered browser asks no code.
    let out = browser.get("/dashboard").await;
    browser.post("/logout", &[("csrf_token", &out.csrf())]).await;
    let location = browser.get(&path).await.location.unwrap();
    assert!(!back_to(&location).contains("sent_to_sign_in_at"), "{location}");
    let plain = sign_in_at(&browser, &location, "alice").await;
    assert!(plain.location.unwrap().contains("/oauth2/authorize?"), "no code step: {}", plain.html);

    // The application asks for a second factor now: the code step, though remembered.
    app.clock.advance(Duration::seconds(30));
    let asked = browser.get(&format!("{path}&acr_values=mfa")).await;
    let location = asked.location.unwrap();
    let rd = back_to(&location);
    let step = sign_in_at(&browser, &location, "alice").await;
    assert!(step.html.contains("action=\"/login/mfa\""), "the code step, remembered or not: {}", step.html);
    let code = app.code(&secret, 0);
    let done = browser.post("/login/mfa", &[("csrf_token", &step.csrf()), ("code", &code), ("rd", &rd)]).await;
    assert!(done.location.unwrap().ends_with(&rd));
    let back = browser.get(&rd).await;
    let claims = claims_of(&app, &params(back.location.as_deref().unwrap())["code"]).await;
    assert_eq!(
        (claims["amr"].clone(), claims["acr"].as_str()),
        (serde_json::json!(["pwd", "otp", "mfa"]), Some("mfa"))
    );
    let again = browser.get(&format!("{path}&acr_values=mfa")).await;
    assert!(params(again.location.as_deref().unwrap()).contains_key("code"), "no second step-up");

    // Bob has no second factor: he is given the chance, then told why not.
    let bob = app.browser();
    bob.sign_up("bob", "bob@example.com", PASSWORD).await;
    authorize(&bob, &path).await;
    let location = bob.get(&format!("{path}&acr_values=mfa")).await.location.unwrap();
    let rd = back_to(&location);
    sign_in_at(&bob, &location, "bob").await;
    let refused = params(bob.get(&rd).await.location.as_deref().unwrap());
    assert_eq!(refused["error"], "access_denied");
    assert!(refused["error_description"].contains("second factor"), "{refused:?}");
}
