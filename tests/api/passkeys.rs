//! Passkeys over the API (contract section 7), driven by a software
//! authenticator: adding one, signing in with it alone and as the second
//! step, and each of the checks an attacker would try to get past.

use reqwest::StatusCode;
use serde_json::{json, Value};
use time::Duration;

use crate::helpers::{spawn_app, spawn_app_with, Browser, TestApp, PASSWORD};
use crate::soft_key::SoftKey;

/// The public URL the passkey tests run under: a domain name, as WebAuthn needs.
pub const ORIGIN: &str = "https://latchkey.test";

/// A server whose public URL has a domain name.
pub async fn passkey_app() -> TestApp {
    spawn_app_with(|c| c.public_url = Some(ORIGIN.into())).await
}

async fn json_of(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Asks for creation options and answers them with `key`: the status and body of the answer.
pub async fn add_passkey(app: &TestApp, token: &str, key: &mut SoftKey, name: &str) -> (StatusCode, Value) {
    let (status, options) = json_of(app.post_json("/me/passkeys/options", &json!({}), Some(token)).await).await;
    assert_eq!(status, StatusCode::OK, "{options}");
    let credential = key.register(&options["publicKey"]);
    let body = json!({"challenge_id": options["challenge_id"], "name": name, "credential": credential});
    json_of(app.post_json("/me/passkeys", &body, Some(token)).await).await
}

/// The request options of a passkey sign-in.
async fn sign_in_options(app: &TestApp, body: Value) -> Value {
    let (status, options) = json_of(app.post_json("/sessions/passkey/options", &body, None).await).await;
    assert_eq!(status, StatusCode::OK, "{options}");
    options
}

/// Signs in with `key` alone: the status and body.
async fn sign_in_with(app: &TestApp, key: &mut SoftKey) -> (StatusCode, Value) {
    let options = sign_in_options(app, json!({})).await;
    let credential = key.assert(&options["publicKey"]);
    let body = json!({"challenge_id": options["challenge_id"], "credential": credential});
    json_of(app.post_json("/sessions/passkey", &body, None).await).await
}

/// Signs up `name` and adds one passkey; returns the session token and the key.
async fn user_with_passkey(app: &TestApp, name: &str) -> (String, SoftKey) {
    app.sign_up(name).await;
    let token = app.sign_in(name).await;
    let mut key = SoftKey::new(ORIGIN);
    let (status, body) = add_passkey(app, &token, &mut key, "Laptop").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    (token, key)
}

fn error_code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn a_first_passkey_turns_mfa_on_with_recovery_codes_and_ends_the_other_sessions() {
    let app = passkey_app().await;
    app.sign_up("alice").await;
    let token = app.sign_in("alice").await;
    let other = app.sign_in("alice").await;
    let mut key = SoftKey::new(ORIGIN);
    let (status, body) = add_passkey(&app, &token, &mut key, "Laptop").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["passkey"]["name"], "Laptop");
    assert_eq!(body["passkey"]["backup_eligible"], false);
    assert_eq!(body["passkey"]["last_used_at"], Value::Null);
    assert_eq!(body["recovery_codes"].as_array().map(Vec::len), Some(10), "{body}");
    let me: Value = app.get_api("/me", &token).await.json().await.unwrap();
    assert_eq!(me["user"]["mfa_enabled"], true);
    assert_eq!(app.get_api("/me", &other).await.status(), StatusCode::UNAUTHORIZED, "a session from before MFA ends");
    let kinds = app.event_kinds(&token).await;
    assert!(kinds.contains(&"passkey_added".to_string()) && kinds.contains(&"mfa_enabled".to_string()), "{kinds:?}");

    // A second passkey adds no codes; the same credential again is refused.
    let mut second = SoftKey::new(ORIGIN);
    let (status, body) = add_passkey(&app, &token, &mut second, "").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["passkey"]["name"], "Passkey", "the default name");
    assert_eq!(body.get("recovery_codes"), None);
    let (status, body) = add_passkey(&app, &token, &mut key.clone_key(), "Again").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the options excluded it: {body}");
    app.sign_up("bob").await;
    let bob = app.sign_in("bob").await;
    let (status, body) = add_passkey(&app, &bob, &mut key.clone_key(), "Alice's").await;
    assert_eq!(status, StatusCode::CONFLICT, "a credential belongs to one account: {body}");
    let list: Value = app.get_api("/me/passkeys", &token).await.json().await.unwrap();
    assert_eq!(list["passkeys"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_passkey_signs_in_alone_with_or_without_a_login() {
    let app = passkey_app().await;
    let (_, mut key) = user_with_passkey(&app, "alice").await;

    let options = sign_in_options(&app, json!({})).await;
    assert_eq!(options["publicKey"]["userVerification"], "required");
    assert!(options["publicKey"]["allowCredentials"].as_array().is_none_or(Vec::is_empty), "discoverable: {options}");
    let (status, body) = sign_in_with(&app, &mut key).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let token = body["token"].as_str().unwrap();
    let me: Value = app.get_api("/me", token).await.json().await.unwrap();
    assert_eq!(me["user"]["username"], "alice");
    let list: Value = app.get_api("/me/passkeys", token).await.json().await.unwrap();
    assert!(list["passkeys"][0]["last_used_at"].is_string(), "{list}");

    // With a login too, the options name no account: whether it exists or
    // has passkeys is not told (SECURITY.md AA-02).
    for login in ["alice", "nobody-here"] {
        let options = sign_in_options(&app, json!({"login": login})).await;
        assert!(options["publicKey"]["allowCredentials"].as_array().is_none_or(Vec::is_empty), "{options}");
    }
    let options = sign_in_options(&app, json!({"login": "alice"})).await;
    let credential = key.assert(&options["publicKey"]);
    let body = json!({"challenge_id": options["challenge_id"], "credential": credential});
    assert_eq!(app.post_json("/sessions/passkey", &body, None).await.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn the_code_step_offers_and_accepts_a_passkey() {
    let app = passkey_app().await;
    let (_, mut key) = user_with_passkey(&app, "alice").await;
    let response = app.post_json("/sessions", &json!({"login": "alice", "password": PASSWORD}), None).await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["mfa_methods"], json!(["totp", "recovery_code", "passkey"]));
    let mfa_token = body["mfa_token"].as_str().unwrap();

    let (status, options) =
        json_of(app.post_json("/sessions/mfa/passkey/options", &json!({"mfa_token": mfa_token}), None).await).await;
    assert_eq!(status, StatusCode::OK, "{options}");
    let credential = key.assert(&options["publicKey"]);
    let both = json!({"mfa_token": mfa_token, "passkey": credential, "code": "123456"});
    assert_eq!(app.post_json("/sessions/mfa", &both, None).await.status(), StatusCode::BAD_REQUEST);
    let body = json!({"mfa_token": mfa_token, "passkey": credential});
    let (status, session) = json_of(app.post_json("/sessions/mfa", &body, None).await).await;
    assert_eq!(status, StatusCode::CREATED, "{session}");
    assert_eq!(session["user"]["mfa_enabled"], true);
    // The pending sign-in is spent: the same answer again finds nothing.
    let (status, _) = json_of(app.post_json("/sessions/mfa", &body, None).await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_passkey_of_another_account_does_not_answer_the_code_step() {
    let app = passkey_app().await;
    let (_, _) = user_with_passkey(&app, "alice").await;
    let (_, mut mallory) = user_with_passkey(&app, "mallory").await;
    let mfa_token = app.mfa_token("alice").await;
    let (_, options) =
        json_of(app.post_json("/sessions/mfa/passkey/options", &json!({"mfa_token": mfa_token}), None).await).await;
    let credential = mallory.assert(&options["publicKey"]);
    let (status, body) =
        json_of(app.post_json("/sessions/mfa", &json!({"mfa_token": mfa_token, "passkey": credential}), None).await)
            .await;
    assert_eq!((status, error_code(&body)), (StatusCode::UNAUTHORIZED, "invalid_passkey"), "{body}");
}

#[tokio::test]
async fn a_replayed_assertion_and_a_challenge_used_twice_are_refused() {
    let app = passkey_app().await;
    let (_, mut key) = user_with_passkey(&app, "alice").await;
    let options = sign_in_options(&app, json!({})).await;
    let credential = key.assert(&options["publicKey"]);
    let body = json!({"challenge_id": options["challenge_id"], "credential": credential});
    assert_eq!(app.post_json("/sessions/passkey", &body, None).await.status(), StatusCode::CREATED);
    let (status, answer) = json_of(app.post_json("/sessions/passkey", &body, None).await).await;
    assert_eq!(
        (status, error_code(&answer)),
        (StatusCode::UNAUTHORIZED, "invalid_passkey"),
        "the challenge answers once"
    );

    // The old answer sent for a new challenge: its signature covers the old one.
    let fresh = sign_in_options(&app, json!({})).await;
    let replay = json!({"challenge_id": fresh["challenge_id"], "credential": credential});
    assert_eq!(app.post_json("/sessions/passkey", &replay, None).await.status(), StatusCode::UNAUTHORIZED);
    // A challenge dies after 5 minutes.
    let late = sign_in_options(&app, json!({})).await;
    app.clock.advance(Duration::minutes(5) + Duration::seconds(1));
    let credential = key.assert(&late["publicKey"]);
    let body = json!({"challenge_id": late["challenge_id"], "credential": credential});
    assert_eq!(app.post_json("/sessions/passkey", &body, None).await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_counter_that_does_not_grow_is_refused_and_raises_the_alarm() {
    let app = passkey_app().await;
    let (token, mut key) = user_with_passkey(&app, "alice").await;
    let mut copy = key.clone_key();
    assert_eq!(sign_in_with(&app, &mut key).await.0, StatusCode::CREATED);
    // The copy's counter is where the original's was: it does not grow past the stored one.
    let (status, body) = sign_in_with(&app, &mut copy).await;
    assert_eq!((status, error_code(&body)), (StatusCode::UNAUTHORIZED, "invalid_passkey"), "{body}");
    assert!(app.event_kinds(&token).await.contains(&"passkey_clone_suspected".to_string()));
    let alarm: Value = app.get_api("/me/replay-alarm", &token).await.json().await.unwrap();
    assert_eq!(alarm["raised"], true);
    // The original, still counting up, goes on working.
    assert_eq!(sign_in_with(&app, &mut key).await.0, StatusCode::CREATED);
}

#[tokio::test]
async fn a_synced_passkey_that_keeps_no_counter_is_not_an_alarm() {
    let app = passkey_app().await;
    app.sign_up("alice").await;
    let token = app.sign_in("alice").await;
    let mut key = SoftKey::new(ORIGIN);
    key.counter = 0;
    key.synced = true;
    let (status, body) = add_passkey(&app, &token, &mut key, "Phone").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        (body["passkey"]["backup_eligible"].clone(), body["passkey"]["backed_up"].clone()),
        (json!(true), json!(true))
    );
    for _ in 0..2 {
        let (status, body) = sign_in_with(&app, &mut key).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    assert!(!app.event_kinds(&token).await.contains(&"passkey_clone_suspected".to_string()));
}

#[tokio::test]
async fn a_wrong_origin_a_wrong_relying_party_or_no_user_verification_is_refused() {
    let app = passkey_app().await;
    let (token, key) = user_with_passkey(&app, "alice").await;
    let mut wrong_origin = key.clone_key();
    wrong_origin.origin = "https://latchkey.test.evil.example".into();
    let mut wrong_rp = key.clone_key();
    wrong_rp.rp_id = "evil.example".into();
    let mut unverified = key.clone_key();
    unverified.user_verified = false;
    for (what, mut attacker) in [("origin", wrong_origin), ("rp id", wrong_rp), ("user verification", unverified)] {
        attacker.counter += 10;
        let (status, body) = sign_in_with(&app, &mut attacker).await;
        assert_eq!((status, error_code(&body)), (StatusCode::UNAUTHORIZED, "invalid_passkey"), "{what}: {body}");
    }

    // Registration checks the same.
    let mut phished = SoftKey::new("https://evil.example");
    let (status, body) = add_passkey(&app, &token, &mut phished, "Phished").await;
    assert_eq!((status, error_code(&body)), (StatusCode::UNAUTHORIZED, "invalid_passkey"), "{body}");
}

#[tokio::test]
async fn a_registration_finishes_only_in_the_session_that_began_it() {
    let app = passkey_app().await;
    app.sign_up("alice").await;
    let began = app.sign_in("alice").await;
    let stolen = app.sign_in("alice").await;
    let (_, options) = json_of(app.post_json("/me/passkeys/options", &json!({}), Some(&began)).await).await;
    let credential = SoftKey::new(ORIGIN).register(&options["publicKey"]);
    let body = json!({"challenge_id": options["challenge_id"], "credential": credential});
    let (status, answer) = json_of(app.post_json("/me/passkeys", &body, Some(&stolen)).await).await;
    assert_eq!((status, error_code(&answer)), (StatusCode::UNAUTHORIZED, "invalid_passkey"), "{answer}");
    let me: Value = app.get_api("/me", &began).await.json().await.unwrap();
    assert_eq!(me["user"]["mfa_enabled"], false, "nothing was added");
}

#[tokio::test]
async fn adding_a_passkey_needs_a_recent_proof_of_the_account() {
    let app = passkey_app().await;
    app.sign_up("alice").await;
    let token = app.sign_in("alice").await;
    app.clock.advance(Duration::minutes(6));
    let (status, body) = json_of(app.post_json("/me/passkeys/options", &json!({}), Some(&token)).await).await;
    assert_eq!((status, error_code(&body)), (StatusCode::FORBIDDEN, "reauthentication_required"), "{body}");
    let proof = json!({"current_password": PASSWORD});
    assert_eq!(app.post_json("/me/passkeys/options", &proof, Some(&token)).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn passkeys_are_renamed_and_removed_but_never_the_last_factor() {
    let app = passkey_app().await;
    let (token, _) = user_with_passkey(&app, "alice").await;
    let list: Value = app.get_api("/me/passkeys", &token).await.json().await.unwrap();
    let first = list["passkeys"][0]["id"].as_str().unwrap().to_string();
    let response = app.api_delete_json(&format!("/me/passkeys/{first}"), &json!({}), &token).await;
    assert_eq!(response.status(), StatusCode::CONFLICT, "the only factor stays");

    let mut second = SoftKey::new(ORIGIN);
    assert_eq!(add_passkey(&app, &token, &mut second, "Key").await.0, StatusCode::CREATED);
    let rename = app.api_patch_json(&format!("/me/passkeys/{first}"), &json!({"name": "Old laptop"}), &token).await;
    assert_eq!(rename.status(), StatusCode::NO_CONTENT);
    let list: Value = app.get_api("/me/passkeys", &token).await.json().await.unwrap();
    let renamed = list["passkeys"].as_array().unwrap().iter().find(|p| p["id"] == first.as_str()).unwrap();
    assert_eq!(renamed["name"], "Old laptop");
    let bad = app.api_patch_json(&format!("/me/passkeys/{first}"), &json!({"name": "a\u{0}b"}), &token).await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let response = app.api_delete_json(&format!("/me/passkeys/{first}"), &json!({}), &token).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let response = app.api_delete_json("/me/passkeys/no-such-id", &json!({}), &token).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(app.event_kinds(&token).await.contains(&"passkey_removed".to_string()));
}

#[tokio::test]
async fn a_public_url_with_an_ip_address_has_no_passkeys() {
    let app = spawn_app().await;
    let response = app.post_json("/sessions/passkey/options", &json!({}), None).await;
    let (status, body) = json_of(response).await;
    assert_eq!((status, error_code(&body)), (StatusCode::CONFLICT, "webauthn_unavailable"), "{body}");
    app.sign_up("alice").await;
    let token = app.sign_in("alice").await;
    let (status, _) = json_of(app.post_json("/me/passkeys/options", &json!({}), Some(&token)).await).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let answer = json!({"challenge_id": "x", "credential": {}});
    let (status, body) = json_of(app.post_json("/sessions/passkey", &answer, None).await).await;
    assert_eq!((status, error_code(&body)), (StatusCode::CONFLICT, "webauthn_unavailable"), "{body}");
}

#[tokio::test]
async fn sign_in_options_from_one_address_are_limited() {
    // Each asks the store to keep a challenge: 120 an hour per address.
    let app = passkey_app().await;
    for _ in 0..120 {
        assert_eq!(app.post_json("/sessions/passkey/options", &json!({}), None).await.status(), StatusCode::OK);
    }
    let response = app.post_json("/sessions/passkey/options", &json!({}), None).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn the_support_team_sees_passkeys_and_a_lock_or_a_reset_stops_them() {
    let app = passkey_app().await;
    let (_, mut key) = user_with_passkey(&app, "alice").await;
    let cli = |args: &[&str]| {
        let (ok, out, err) = crate::admin_cli::run_cli(app.data_dir.path(), args, "", |command| {
            command.env_remove("LATCHKEY_DATABASE_URL").env_remove("LATCHKEY_SECRET_KEY");
        });
        assert!(ok, "{out}{err}");
        out
    };
    let shown = cli(&["user", "show", "alice"]);
    assert!(shown.contains("Laptop  device-bound  added") && shown.contains("last used never"), "{shown}");

    cli(&["user", "lock", "alice"]);
    let (status, body) = sign_in_with(&app, &mut key).await;
    assert_eq!((status, error_code(&body)), (StatusCode::FORBIDDEN, "account_locked"), "{body}");
    cli(&["user", "unlock", "alice"]);
    assert_eq!(sign_in_with(&app, &mut key).await.0, StatusCode::CREATED);

    // The lost-device reset: MFA off, the passkeys gone with it.
    cli(&["user", "reset-mfa", "alice"]);
    let (status, body) = sign_in_with(&app, &mut key).await;
    assert_eq!((status, error_code(&body)), (StatusCode::UNAUTHORIZED, "invalid_passkey"), "{body}");
    assert!(cli(&["user", "show", "alice"]).contains("passkeys:            (none)"));
    let response = app.post_json("/sessions", &json!({"login": "alice", "password": PASSWORD}), None).await;
    assert_eq!(response.status(), StatusCode::CREATED, "the password alone signs in again");
}

/// A server at `http://localhost:PORT` (a secure context with a domain
/// name, as browsers want for WebAuthn), which the test's browser also uses.
async fn localhost_app() -> (TestApp, String) {
    let port = crate::binary::free_port();
    let origin = format!("http://localhost:{port}");
    let public = origin.clone();
    let mut app = spawn_app_with(move |c| {
        c.listen = ([127, 0, 0, 1], port).into();
        c.public_url = Some(public);
    })
    .await;
    app.base = origin.clone();
    (app, origin)
}

/// What the pages' script does: the options fetched with the form's CSRF
/// token, answered by `key`, posted back in the form.
async fn answer_on_page(browser: &Browser, options_path: &str, csrf: &str, key: &mut SoftKey) -> (String, String) {
    let response = browser
        .client
        .post(format!("{}{options_path}", browser.base()))
        .header("origin", browser.base())
        .header("sec-fetch-site", "same-origin")
        .form(&[("csrf_token", csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let options: Value = response.json().await.unwrap();
    let credential = key.assert(&options["publicKey"]);
    (options["challenge_id"].as_str().unwrap_or_default().to_string(), credential.to_string())
}

#[tokio::test]
async fn the_pages_take_a_passkey_as_the_second_step_and_alone() {
    let (app, origin) = localhost_app().await;
    app.sign_up("alice").await;
    let token = app.sign_in("alice").await;
    let mut key = SoftKey::new(&origin);
    assert_eq!(add_passkey(&app, &token, &mut key, "Laptop").await.0, StatusCode::CREATED);

    // The password, then the passkey (the code step's passkey form).
    let browser = app.browser();
    let step = browser.log_in("alice", PASSWORD).await;
    assert!(step.html.contains("Use a passkey or security key"), "the code step offers the passkey");
    let csrf = step.csrf();
    let (_, credential) = answer_on_page(&browser, "/login/mfa/passkey/options", &csrf, &mut key).await;
    let done = browser.post("/login/mfa", &[("csrf_token", &csrf), ("credential", &credential)]).await;
    assert_eq!((done.status, done.location.as_deref()), (StatusCode::SEE_OTHER, Some("/dashboard")), "{}", done.html);
    assert_eq!(browser.get("/dashboard").await.status, StatusCode::OK);

    // The passkey alone, from the sign-in page.
    let fresh = app.browser();
    let login = fresh.get("/login").await;
    assert!(login.html.contains("Sign in with a passkey") && login.html.contains("autocomplete=\"username webauthn\""));
    let csrf = login.csrf();
    let (challenge, credential) = answer_on_page(&fresh, "/login/passkey/options", &csrf, &mut key).await;
    let fields = [("csrf_token", csrf.as_str()), ("challenge_id", challenge.as_str()), ("credential", &credential)];
    let done = fresh.post("/login/passkey", &fields).await;
    assert_eq!(done.location.as_deref(), Some("/dashboard"), "{}", done.html);
    // The same answer again: refused with a word, on the sign-in page.
    let again = app.browser();
    let csrf = again.get("/login").await.csrf();
    let fields = [("csrf_token", csrf.as_str()), ("challenge_id", challenge.as_str()), ("credential", &credential)];
    let refused = again.post("/login/passkey", &fields).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert!(refused.html.contains("That passkey could not be used here"), "{}", refused.html);

    // A copy of the key raises the alarm on the dashboard, in its own words.
    let mut copy = key.clone_key();
    copy.counter -= 1;
    assert_eq!(sign_in_with(&app, &mut copy).await.0, StatusCode::UNAUTHORIZED);
    let dashboard = browser.get("/dashboard").await;
    assert!(dashboard.html.contains("A copy of one of your passkeys may exist"), "{}", dashboard.html);
    let mfa = browser.get("/account/mfa").await;
    assert!(mfa.html.contains("Laptop") && mfa.html.contains("Recovery-ready"), "{}", mfa.html);
}

#[tokio::test]
async fn the_mfa_page_adds_renames_and_removes_passkeys() {
    let (app, origin) = localhost_app().await;
    let browser = app.browser();
    browser.sign_up("alice", "alice@example.com", PASSWORD).await;
    let setup = browser.get("/account/mfa").await;
    assert!(setup.html.contains("Or use a passkey or security key"), "the set-up page offers a passkey");
    let csrf = setup.csrf();
    let add = |key: &mut SoftKey| {
        let (browser, csrf) = (&browser, csrf.clone());
        let mut key = key.clone_key();
        async move {
            let response = browser
                .client
                .post(format!("{}/account/mfa/passkeys/options", browser.base()))
                .header("origin", browser.base())
                .form(&[("csrf_token", csrf.as_str())])
                .send()
                .await
                .unwrap();
            let options: Value = response.json().await.unwrap();
            let credential = key.register(&options["publicKey"]).to_string();
            let challenge = options["challenge_id"].as_str().unwrap().to_string();
            let fields = [("csrf_token", csrf.as_str()), ("challenge_id", &challenge), ("credential", &credential)];
            browser.post("/account/mfa/passkeys", &[fields.as_slice(), &[("name", "Work key")]].concat()).await
        }
    };
    let first = add(&mut SoftKey::new(&origin)).await;
    assert!(first.html.contains("Multi-Factor Authentication is active") && first.html.contains("recovery-code"));
    let second = add(&mut SoftKey::new(&origin)).await;
    assert!(second.html.contains("Added “Work key”"), "{}", second.html);

    let manage = browser.get("/account/mfa").await;
    let ids: Vec<String> = manage
        .html
        .match_indices("/account/mfa/passkeys/")
        .filter_map(|(at, _)| manage.html[at + 22..].split('/').next().map(str::to_string))
        .filter(|id| id.len() == 36)
        .collect();
    assert!(ids.len() >= 2, "{ids:?}");
    let renamed = browser
        .post(&format!("/account/mfa/passkeys/{}/rename", ids[0]), &[("csrf_token", &csrf), ("name", "Desk")])
        .await;
    assert!(renamed.html.contains("The passkey was renamed") && renamed.html.contains("Desk"));
    let removed = browser.post(&format!("/account/mfa/passkeys/{}/remove", ids[0]), &[("csrf_token", &csrf)]).await;
    assert!(removed.html.contains("The passkey was removed"), "{}", removed.html);
    assert!(removed.html.contains("This is your only second step"), "the last one has no remove button");
    // A session older than 5 minutes is asked for the password first.
    app.clock.advance(Duration::minutes(6));
    let last = ids.iter().find(|id| removed.html.contains(id.as_str())).unwrap();
    let asked = browser.post(&format!("/account/mfa/passkeys/{last}/remove"), &[("csrf_token", &csrf)]).await;
    assert_eq!(asked.location.as_deref(), Some("/account/confirm?rd=/account/mfa"));
}

#[tokio::test]
async fn with_direct_attestation_only_the_operators_hardware_keys_are_added() {
    use crate::soft_key::Vendor;
    let vendor = Vendor::new("Keymaker AB");
    let model = uuid::Uuid::new_v4();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("keymaker-root.pem");
    std::fs::write(&root, vendor.root_pem()).unwrap();
    let app = spawn_app_with(|c| {
        c.public_url = Some(ORIGIN.into());
        c.webauthn_attestation = "direct".into();
        c.webauthn_attestation_cas = vec![root.clone()];
        c.webauthn_aaguids = vec![model.to_string()];
    })
    .await;
    app.sign_up("alice").await;
    let token = app.sign_in("alice").await;
    let (_, options) = json_of(app.post_json("/me/passkeys/options", &json!({}), Some(&token)).await).await;
    assert_eq!(options["publicKey"]["attestation"], "direct", "{options}");

    let refused = [
        ("no attestation", SoftKey::new(ORIGIN)),
        ("another model of the vendor", vendor.key(ORIGIN, uuid::Uuid::new_v4())),
        ("the model, claimed by another maker", Vendor::new("Copycat Ltd").key(ORIGIN, model)),
    ];
    for (what, mut key) in refused {
        let (status, body) = add_passkey(&app, &token, &mut key, "Key").await;
        assert_eq!((status, error_code(&body)), (StatusCode::UNAUTHORIZED, "invalid_passkey"), "{what}: {body}");
    }
    let mut key = vendor.key(ORIGIN, model);
    let (status, body) = add_passkey(&app, &token, &mut key, "Keymaker").await;
    assert_eq!(status, StatusCode::CREATED, "the operator's model: {body}");
    let (status, body) = sign_in_with(&app, &mut key).await;
    assert_eq!(status, StatusCode::CREATED, "and it signs in: {body}");
}

#[test]
fn attestation_settings_that_cannot_work_are_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("webauthn_attestation = \"direct\"\n", "needs webauthn_attestation_cas"),
        ("webauthn_aaguids = [\"ee882879-721c-4913-9775-3dfcce97072a\"]\n", "need webauthn_attestation = \"direct\""),
        ("webauthn_attestation = \"sideways\"\n", "must be none or direct"),
        (
            "webauthn_attestation = \"direct\"\nwebauthn_attestation_cas = [\"/no/such.pem\"]\nwebauthn_aaguids = [\"ee882879-721c-4913-9775-3dfcce97072a\"]\n",
            "reading /no/such.pem",
        ),
    ];
    for (settings, says) in cases {
        let config = dir.path().join("latchkey.toml");
        std::fs::write(&config, settings).unwrap();
        let (ok, out, err) = crate::admin_cli::run_cli(dir.path(), &["config", "check"], "", |command| {
            command.env("LATCHKEY_CONFIG", &config);
        });
        assert!(!ok && err.contains(says), "{settings}: {out}{err}");
    }
}

#[tokio::test]
async fn passkey_changes_and_a_copied_key_are_mailed_to_the_owner() {
    let sink = crate::notifications::SmtpSink::start().await;
    let port = sink.port;
    let app = spawn_app_with(move |c| {
        c.public_url = Some(ORIGIN.into());
        c.smtp_url = Some(format!("smtp://127.0.0.1:{port}"));
        c.mail_from = Some("Latchkey <latchkey@example.org>".into());
    })
    .await;
    let (token, mut key) = user_with_passkey(&app, "alice").await;
    sink.expect("Subject: [Latchkey] A passkey was added").await;
    sink.expect("Subject: [Latchkey] Multi-Factor Authentication is on").await;
    let mut copy = key.clone_key();
    assert_eq!(sign_in_with(&app, &mut key).await.0, StatusCode::CREATED);
    assert_eq!(sign_in_with(&app, &mut copy).await.0, StatusCode::UNAUTHORIZED);
    let mail = sink.expect("Subject: [Latchkey] A passkey may have been copied").await;
    assert!(mail.contains("To: alice@example.com"), "{mail}");
    let mut second = SoftKey::new(ORIGIN);
    assert_eq!(add_passkey(&app, &token, &mut second, "Spare").await.0, StatusCode::CREATED);
    let list: Value = app.get_api("/me/passkeys", &token).await.json().await.unwrap();
    let id = list["passkeys"][0]["id"].as_str().unwrap().to_string();
    let removed = app.api_delete_json(&format!("/me/passkeys/{id}"), &json!({}), &token).await;
    assert_eq!(removed.status(), StatusCode::NO_CONTENT);
    sink.expect("Subject: [Latchkey] A passkey was removed").await;
}
