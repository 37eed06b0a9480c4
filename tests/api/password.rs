//! Changing the password (contract section 6), over the API and the pages.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_app_with, PASSWORD};

const NEW: &str = "seven herons fold the map";

#[tokio::test]
async fn a_password_change_needs_the_current_one_and_ends_every_other_session() {
    let app = spawn_app().await;
    app.sign_up("alice").await;
    let token = app.sign_in("alice").await;
    let other = app.sign_in("alice").await;
    let change = |current: &str, new: &str| json!({"current_password": current, "new_password": new});

    let response = app.api_put_json("/me/password", &change("not my password", NEW), &token).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.json::<Value>().await.unwrap()["error"]["code"], "invalid_credentials");
    let response = app.api_put_json("/me/password", &change(PASSWORD, "short"), &token).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(response.json::<Value>().await.unwrap()["error"]["fields"]["new_password"].is_string());
    let response = app.api_put_json("/me/password", &change(PASSWORD, "alice-was-here-2026"), &token).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "not the username");
    assert_eq!(app.get_api("/me", &other).await.status(), StatusCode::OK, "nothing changed yet");

    let response = app.api_put_json("/me/password", &change(PASSWORD, NEW), &token).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.get_api("/me", &token).await.status(), StatusCode::OK, "the caller's session stays");
    assert_eq!(app.get_api("/me", &other).await.status(), StatusCode::UNAUTHORIZED, "every other one ends");
    let old = app.post_json("/sessions", &json!({"login": "alice", "password": PASSWORD}), None).await;
    assert_eq!(old.status(), StatusCode::UNAUTHORIZED);
    let new = app.post_json("/sessions", &json!({"login": "alice", "password": NEW}), None).await;
    assert_eq!(new.status(), StatusCode::CREATED);
    assert!(app.event_kinds(&token).await.contains(&"password_changed".to_string()));
}

#[tokio::test]
async fn a_change_ends_a_pending_sign_in_made_with_the_old_password() {
    let app = spawn_app().await;
    let (token, secret, _) = app.user_with_mfa("alice").await;
    let mfa_token = app.mfa_token("alice").await;
    let body = json!({"current_password": PASSWORD, "new_password": NEW});
    assert_eq!(app.api_put_json("/me/password", &body, &token).await.status(), StatusCode::NO_CONTENT);
    app.clock.advance(time::Duration::seconds(30));
    let response = app.second_step(&mfa_token, &app.code(&secret, 0)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "whoever had the old password is out");
}

#[tokio::test]
async fn wrong_current_passwords_are_throttled_as_at_sign_in() {
    let app = spawn_app().await;
    app.sign_up("alice").await;
    let token = app.sign_in("alice").await;
    let body = json!({"current_password": "guess guess guess", "new_password": NEW});
    let mut statuses = Vec::new();
    for _ in 0..7 {
        statuses.push(app.api_put_json("/me/password", &body, &token).await.status());
    }
    assert!(statuses.contains(&StatusCode::TOO_MANY_REQUESTS), "{statuses:?}");
}

#[tokio::test]
async fn the_page_changes_the_password_and_password_managers_find_it() {
    let app = spawn_app().await;
    let browser = app.browser();
    browser.sign_up("alice", "alice@example.com", PASSWORD).await;
    let well_known = browser.get("/.well-known/change-password").await;
    assert_eq!(well_known.location.as_deref(), Some("/account/password"));
    let form = browser.get("/account/password").await;
    assert!(form.html.contains("autocomplete=\"new-password\"") && form.html.contains("passwordrules=\"minlength: 12"));
    assert!(form.html.contains("minlength=\"12\""), "{}", form.html);
    let csrf = form.csrf();
    let wrong = browser
        .post("/account/password", &[("csrf_token", &csrf), ("current_password", "nope"), ("new_password", NEW)])
        .await;
    assert!(wrong.inner("current_password-error").is_some_and(|e| e.contains("not right")), "{}", wrong.html);
    let done = browser
        .post("/account/password", &[("csrf_token", &csrf), ("current_password", PASSWORD), ("new_password", NEW)])
        .await;
    assert!(done.inner("password-changed").is_some(), "{}", done.html);
    assert_eq!(browser.get("/dashboard").await.status, StatusCode::OK, "this browser stays signed in");
    assert!(browser.get("/account/security").await.html.contains("href=\"/account/password\""));
}

#[tokio::test]
async fn the_owner_is_mailed_that_the_password_changed() {
    let sink = crate::notifications::SmtpSink::start().await;
    let port = sink.port;
    let app = spawn_app_with(move |c| {
        c.smtp_url = Some(format!("smtp://127.0.0.1:{port}"));
        c.mail_from = Some("Latchkey <latchkey@example.org>".into());
    })
    .await;
    app.sign_up("alice").await;
    let token = app.sign_in("alice").await;
    let body = json!({"current_password": PASSWORD, "new_password": NEW});
    assert_eq!(app.api_put_json("/me/password", &body, &token).await.status(), StatusCode::NO_CONTENT);
    let mail = sink.expect("Subject: [Latchkey] Your password was changed").await;
    assert!(!mail.contains(NEW) && !mail.contains(PASSWORD), "no password in a mail");
}

/// Asks for a reset link for `email` and reads its token out of the mail.
async fn reset_token(app: &crate::helpers::TestApp, sink: &crate::notifications::SmtpSink, email: &str) -> String {
    let response = app.post_json("/password-resets", &json!({"email": email}), None).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    token_mailed_to(sink, email).await
}

/// The token of the reset link mailed to `email`, read as a mail reader would.
pub(crate) async fn token_mailed_to(sink: &crate::notifications::SmtpSink, email: &str) -> String {
    link_token(sink, email, "Reset your password", "/password/reset?token=", 1).await
}

/// The token of the `n`th link to `path` mailed to `email` under `subject`,
/// read out of the plain-text part as a mail reader shows it; the HTML
/// part holds the same link.
pub(crate) async fn link_token(
    sink: &crate::notifications::SmtpSink,
    email: &str,
    subject: &str,
    path: &str,
    n: usize,
) -> String {
    let (to, subject) = (format!("To: {email}"), format!("Subject: [Latchkey] {subject}"));
    let mail = quoted_printable(&sink.expect_nth(&[&to, &subject], n).await);
    let at = mail.find(path).expect("the mail holds the link") + path.len();
    let token: String =
        mail[at..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect();
    assert_eq!(token.len(), 43, "256 bits, base64url: {mail}");
    assert!(mail.contains("Content-Type: text/html") && mail.matches(&format!("{path}{token}")).count() >= 2, "{mail}");
    token
}

/// A mail body as a mail reader shows it: quoted-printable decoded (soft
/// line breaks joined, `=XX` escapes read).
fn quoted_printable(raw: &str) -> String {
    let joined = raw.replace("=\r\n", "").replace("=\n", "");
    let mut out = Vec::new();
    let bytes = joined.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'=' && i + 2 < bytes.len())
            .then(|| u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16).ok())
            .flatten();
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn confirm(token: &str, password: &str) -> Value {
    json!({"token": token, "password": password})
}

#[tokio::test]
async fn a_reset_link_sets_the_password_ends_every_session_and_still_asks_for_the_code() {
    let sink = crate::notifications::SmtpSink::start().await;
    let app = crate::notifications::app_with_mail(&sink).await;
    let (session, secret, _) = app.user_with_mfa("alice").await;
    let made = app.post_json("/me/tokens", &json!({"name": "Backup script"}), Some(&session)).await;
    let app_token = made.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_string();
    let token = reset_token(&app, &sink, "alice@example.com").await;
    let mail = quoted_printable(&sink.expect("Subject: [Latchkey] Reset your password").await);
    assert!(mail.contains(&format!("{}/password/reset?token={token}", app.base)), "an absolute link: {mail}");

    let response = app.post_json("/password-resets/confirm", &confirm(&token, "short"), None).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "a bad password does not spend the link");
    let response = app.post_json("/password-resets/confirm", &confirm(&token, NEW), None).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.get_api("/me", &session).await.status(), StatusCode::UNAUTHORIZED, "every session ended");
    assert_eq!(app.get_api("/me", &app_token).await.status(), StatusCode::UNAUTHORIZED, "and every app token");
    sink.expect("Subject: [Latchkey] Your password was reset").await;

    let again = app.post_json("/password-resets/confirm", &confirm(&token, "another fine long phrase"), None).await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST, "a link works once");
    assert_eq!(again.json::<Value>().await.unwrap()["error"]["code"], "invalid_token");
    // No session was made: the new password leads to the code step, as before.
    let signed_in = app.post_json("/sessions", &json!({"login": "alice", "password": NEW}), None).await;
    let body: Value = signed_in.json().await.unwrap();
    assert_eq!(body["mfa_required"], true, "the reset is not a way around MFA: {body}");
    app.clock.advance(time::Duration::seconds(30));
    let done = app.second_step(body["mfa_token"].as_str().unwrap(), &app.code(&secret, 0)).await;
    assert_eq!(done.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn a_reset_link_dies_after_30_minutes_and_with_any_password_change() {
    let sink = crate::notifications::SmtpSink::start().await;
    let app = crate::notifications::app_with_mail(&sink).await;
    app.sign_up("alice").await;
    let token = reset_token(&app, &sink, "alice@example.com").await;
    app.clock.advance(time::Duration::minutes(31));
    let late = app.post_json("/password-resets/confirm", &confirm(&token, NEW), None).await;
    assert_eq!(late.status(), StatusCode::BAD_REQUEST);

    app.sign_up("bob").await;
    let token = reset_token(&app, &sink, "bob@example.com").await;
    let session = app.sign_in("bob").await;
    let change = json!({"current_password": PASSWORD, "new_password": NEW});
    assert_eq!(app.api_put_json("/me/password", &change, &session).await.status(), StatusCode::NO_CONTENT);
    let stale = app.post_json("/password-resets/confirm", &confirm(&token, "another fine long phrase"), None).await;
    assert_eq!(stale.status(), StatusCode::BAD_REQUEST, "a link from before the change is dead");
    let signed_in = app.post_json("/sessions", &json!({"login": "bob", "password": NEW}), None).await;
    assert_eq!(signed_in.status(), StatusCode::CREATED, "and changed nothing");
    let bogus = app.post_json("/password-resets/confirm", &confirm("not-a-token", NEW), None).await;
    assert_eq!(bogus.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn asking_for_a_link_answers_the_same_for_known_and_unknown_addresses() {
    let sink = crate::notifications::SmtpSink::start().await;
    let app = crate::notifications::app_with_mail(&sink).await;
    let rounds = 6;
    for i in 0..rounds {
        app.sign_up(&format!("known{i}")).await;
    }
    let mut times = [Vec::new(), Vec::new()];
    for i in 0..rounds {
        for (which, email) in [(0, format!("known{i}@example.com")), (1, format!("nobody{i}@example.com"))] {
            let started = std::time::Instant::now();
            let response = app.post_json("/password-resets", &json!({"email": email}), None).await;
            times[which].push(started.elapsed());
            assert_eq!(response.status(), StatusCode::ACCEPTED);
            assert!(response.text().await.unwrap().is_empty(), "no body either way");
        }
    }
    for t in &mut times {
        t.sort();
    }
    let (known, unknown) = (times[0][rounds / 2], times[1][rounds / 2]);
    println!("median answer: known address {known:?}, unknown address {unknown:?}");
    let gap = known.abs_diff(unknown);
    assert!(gap < std::time::Duration::from_millis(5).max(known.min(unknown) / 2), "{known:?} vs {unknown:?}");
    sink.expect_all(&["To: known5@example.com", "Reset your password"]).await;
    assert!(!sink.contains("nobody"), "nothing is mailed to an unknown address");
}

#[tokio::test]
async fn reset_links_are_limited_per_email_and_need_mail() {
    let sink = crate::notifications::SmtpSink::start().await;
    let app = crate::notifications::app_with_mail(&sink).await;
    let statuses: Vec<StatusCode> = futures_statuses(&app, "target@example.com", 7).await;
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::ACCEPTED).count(), 5, "{statuses:?}");
    assert!(statuses.contains(&StatusCode::TOO_MANY_REQUESTS));
    // Per address too: 20 an hour, whatever the addresses asked for.
    let mut spread = Vec::new();
    for i in 0..14 {
        spread.extend(futures_statuses(&app, &format!("someone{i}@example.com"), 1).await);
    }
    assert_eq!(spread.iter().filter(|s| **s == StatusCode::ACCEPTED).count(), 13, "{spread:?}");
    assert_eq!(spread.last(), Some(&StatusCode::TOO_MANY_REQUESTS), "the 21st from this address");

    let quiet = spawn_app().await;
    let response = quiet.post_json("/password-resets", &json!({"email": "alice@example.com"}), None).await;
    assert_eq!(response.status(), StatusCode::CONFLICT, "without mail, nothing to send");
    let page = quiet.browser().get("/password/forgot").await;
    assert!(page.inner("reset-no-mail").is_some(), "the page says to contact support: {}", page.html);
}

async fn futures_statuses(app: &crate::helpers::TestApp, email: &str, n: usize) -> Vec<StatusCode> {
    let mut statuses = Vec::new();
    for _ in 0..n {
        statuses.push(app.post_json("/password-resets", &json!({"email": email}), None).await.status());
    }
    statuses
}

#[tokio::test]
async fn the_pages_walk_from_the_sign_in_to_a_new_password() {
    let sink = crate::notifications::SmtpSink::start().await;
    let app = crate::notifications::app_with_mail(&sink).await;
    app.sign_up("alice").await;
    let browser = app.browser();
    let login = browser.get("/login").await;
    assert!(login.html.contains("href=\"/password/forgot\""), "Forgot your password? on the sign-in page");
    let forgot = browser.get("/password/forgot").await;
    let sent =
        browser.post("/password/forgot", &[("csrf_token", &forgot.csrf()), ("email", "alice@example.com")]).await;
    assert!(sent.inner("reset-sent").is_some(), "{}", sent.html);
    let unknown =
        browser.post("/password/forgot", &[("csrf_token", &forgot.csrf()), ("email", "nobody@example.com")]).await;
    assert_eq!(unknown.html, sent.html, "the same page");

    let mail = quoted_printable(&sink.expect_all(&["To: alice@example.com", "Reset your password"]).await);
    let link = mail.split_whitespace().find(|w| w.contains("/password/reset?token=")).unwrap().to_string();
    let path = &link[link.find("/password/reset").unwrap()..];
    let other_device = app.browser();
    let headers = crate::helpers::http().get(app.url(path)).send().await.unwrap().headers().clone();
    assert_eq!(headers["referrer-policy"], "no-referrer", "the token in the URL goes nowhere else");
    let form = other_device.get(path).await;
    assert!(form.html.contains("value=\"alice\" autocomplete=\"username\""), "for password managers");
    assert!(
        form.html.contains("autocomplete=\"new-password\"") && form.html.contains("passwordrules="),
        "{}",
        form.html
    );
    let token = form.input_value("token").unwrap();
    let fields = [("csrf_token", form.csrf()), ("token", token.clone()), ("password", NEW.to_string())];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let done = other_device.post("/password/reset", &fields).await;
    assert!(done.inner("reset-done").is_some(), "{}", done.html);
    assert_eq!(other_device.get("/dashboard").await.status, StatusCode::SEE_OTHER, "a reset does not sign in");
    let dead = other_device.get(path).await;
    assert!(dead.inner("reset-dead").is_some(), "the link is used up: {}", dead.html);
    let signed_in = app.post_json("/sessions", &json!({"login": "alice", "password": NEW}), None).await;
    assert_eq!(signed_in.status(), StatusCode::CREATED);
}
