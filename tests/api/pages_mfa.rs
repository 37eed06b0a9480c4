//! The tutorial over HTTP: enrol from the menu, confirm, sign in with a code.

use reqwest::StatusCode;
use time::Duration;

use crate::api_mfa::decode_qr_svg;
use crate::helpers::{spawn_app, spawn_app_with, Browser, Page, TestApp, PASSWORD};

/// The secret of the enrolment page, without the spaces between groups.
fn secret_of(page: &Page) -> String {
    page.inner("mfa-secret").expect("the secret is shown").split_whitespace().collect()
}

/// Signs up in a browser and opens the MFA page from the menu's link.
async fn enrolment_page(app: &TestApp) -> (Browser, Page) {
    let browser = app.browser();
    browser.sign_up("alice", "alice@example.com", PASSWORD).await;
    let dashboard = browser.get("/dashboard").await;
    assert!(dashboard.html.contains("<a href=\"/account/mfa\">Multi-Factor Authentication</a>"));
    let page = browser.get("/account/mfa").await;
    assert_eq!(page.status, StatusCode::OK);
    (browser, page)
}

/// Enrols and confirms; returns the browser, the secret and the success page.
async fn enrolled(app: &TestApp) -> (Browser, String, Page) {
    let (browser, page) = enrolment_page(app).await;
    let secret = secret_of(&page);
    let done =
        browser.post("/account/mfa/confirm", &[("csrf_token", &page.csrf()), ("code", &app.code(&secret, 0))]).await;
    assert_eq!(done.status, StatusCode::OK);
    (browser, secret, done)
}

async fn log_out(browser: &Browser) {
    let page = browser.get("/dashboard").await;
    let out = browser.post("/logout", &[("csrf_token", &page.csrf())]).await;
    assert_eq!(out.location.as_deref(), Some("/login"));
}

#[tokio::test]
async fn the_enrolment_page_shows_a_scannable_qr_code_the_key_and_the_confirm_button() {
    let app = spawn_app().await;
    let (browser, page) = enrolment_page(&app).await;
    let qr = page.inner("mfa-qr").expect("an element with id mfa-qr");
    let svg = &qr[qr.find("<svg").expect("an inline svg")..];
    let secret = secret_of(&page);
    assert_eq!(secret.len(), 32);
    let grouped = page.inner("mfa-secret").unwrap();
    assert_eq!(grouped.split(' ').count(), 8, "shown in groups of four: {grouped}");
    let uri =
        format!("otpauth://totp/Latchkey:alice?secret={secret}&issuer=Latchkey&algorithm=SHA1&digits=6&period=30");
    assert_eq!(decode_qr_svg(svg.trim()), uri, "the QR code holds the key shown beside it");
    assert!(page.html.contains("data-copy=\"") && page.html.contains(">Copy</button>"), "a copy button");
    assert!(page.html.contains("action=\"/account/mfa/confirm\""));
    assert!(page.html.contains(">Confirm Multi-Factor Authorization</button>"));
    assert!(page.html.contains("name=\"code\"") && page.html.contains("inputmode=\"numeric\""));

    let again = browser.get("/account/mfa").await;
    assert_eq!(secret_of(&again), secret, "a reload shows the same secret");
}

#[tokio::test]
async fn a_wrong_code_keeps_the_enrolment_and_says_so() {
    let app = spawn_app().await;
    let (browser, page) = enrolment_page(&app).await;
    let secret = secret_of(&page);
    let wrong = browser.post("/account/mfa/confirm", &[("csrf_token", &page.csrf()), ("code", "000000")]).await;
    assert_eq!(wrong.status, StatusCode::OK);
    assert!(wrong.html.contains("id=\"code-error\""), "the error stands by the field");
    assert!(wrong.html.contains("That code is not right"));
    assert_eq!(secret_of(&wrong), secret, "same enrolment");
    let dashboard = browser.get("/dashboard").await;
    assert!(dashboard.html.contains("badge-off"), "MFA stays off");
}

#[tokio::test]
async fn confirming_without_the_csrf_token_is_403_and_turns_nothing_on() {
    let app = spawn_app().await;
    let (browser, page) = enrolment_page(&app).await;
    let code = app.code(&secret_of(&page), 0);
    let refused = browser.post("/account/mfa/confirm", &[("code", &code)]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let refused = browser
        .post_with(
            "/account/mfa/confirm",
            &[("csrf_token", &page.csrf()), ("code", &code)],
            &[("origin", "https://evil.example")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(browser.get("/dashboard").await.html.contains("badge-off"));
}

#[tokio::test]
async fn the_tutorial_end_to_end_over_http() {
    let app = spawn_app_with(|c| c.support_email = Some("help@example.org".into())).await;
    let (browser, secret, done) = enrolled(&app).await;
    assert!(done.html.contains("Multi-Factor Authentication is active"));
    assert_eq!(done.html.matches("class=\"recovery-code\"").count(), 10);
    assert!(done.html.contains("mailto:help@example.org"), "names whom to contact for a lost device");
    assert!(browser.get("/dashboard").await.html.contains("badge-on"));

    log_out(&browser).await;
    let step = browser.log_in("alice", PASSWORD).await;
    assert_eq!(step.status, StatusCode::OK, "a right password shows the code field, not the dashboard");
    assert!(step.set_cookies.iter().all(|c| !c.starts_with("latchkey_session=")), "no session yet");
    assert!(step.html.contains("<form method=\"post\" action=\"/login/mfa\""));
    assert!(step.html.contains("<label for=\"code\">Authentication code</label>"));
    let input = &step.html[step.html.find("id=\"code\"").unwrap()..];
    let input = &input[..input.find('>').unwrap()];
    assert!(input.contains("inputmode=\"numeric\"") && input.contains("autocomplete=\"one-time-code\""), "{input}");

    assert_eq!(browser.get("/dashboard").await.location.as_deref(), Some("/login"), "half signed in opens nothing");
    assert_eq!(browser.get("/account/mfa").await.location.as_deref(), Some("/login?rd=%2Faccount%2Fmfa"));
    assert_eq!(browser.get("/login/mfa").await.status, StatusCode::OK, "the code form again");

    let wrong = browser.post("/login/mfa", &[("csrf_token", &step.csrf()), ("code", "000000")]).await;
    assert_eq!(wrong.status, StatusCode::OK);
    assert!(wrong.html.contains("id=\"code-error\""));

    let no_token = browser.post("/login/mfa", &[("code", &app.code(&secret, 0))]).await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);

    app.clock.advance(Duration::seconds(30));
    let signed_in = browser.post("/login/mfa", &[("csrf_token", &step.csrf()), ("code", &app.code(&secret, 0))]).await;
    assert_eq!((signed_in.status, signed_in.location.as_deref()), (StatusCode::SEE_OTHER, Some("/dashboard")));
    assert!(browser.get("/dashboard").await.html.contains("Hello, alice"));
    assert_eq!(browser.get("/login/mfa").await.location.as_deref(), Some("/login"), "the pending sign-in is used up");
}

#[tokio::test]
async fn five_wrong_codes_end_the_pending_sign_in() {
    let app = spawn_app().await;
    let (browser, secret, _) = enrolled(&app).await;
    log_out(&browser).await;
    let step = browser.log_in("alice", PASSWORD).await;
    for _ in 0..4 {
        let page = browser.post("/login/mfa", &[("csrf_token", &step.csrf()), ("code", "000000")]).await;
        assert!(page.html.contains("id=\"code-error\""));
    }
    let fifth = browser.post("/login/mfa", &[("csrf_token", &step.csrf()), ("code", "000000")]).await;
    assert!(fifth.html.contains("Sign in again"), "back to the password");
    assert!(fifth.html.contains("action=\"/login\""));
    app.clock.advance(Duration::seconds(30));
    let late = browser.post("/login/mfa", &[("csrf_token", &step.csrf()), ("code", &app.code(&secret, 0))]).await;
    assert_eq!(late.location.as_deref(), Some("/login"), "a right code no longer helps");
    assert_eq!(browser.get("/dashboard").await.location.as_deref(), Some("/login"));
}

#[tokio::test]
async fn the_mfa_page_regenerates_codes_and_turns_mfa_off_with_a_current_code() {
    let app = spawn_app().await;
    let (browser, secret, _) = enrolled(&app).await;
    let manage = browser.get("/account/mfa").await;
    assert!(manage.html.contains("You have 10 unused recovery codes"));
    assert!(manage.inner("mfa-qr").is_none(), "no new QR code while MFA is on");

    let wrong =
        browser.post("/account/mfa/recovery-codes", &[("csrf_token", &manage.csrf()), ("code", "000000")]).await;
    assert!(wrong.html.contains("id=\"regenerate-code-error\""));
    app.clock.advance(Duration::seconds(30));
    let fresh = browser
        .post("/account/mfa/recovery-codes", &[("csrf_token", &manage.csrf()), ("code", &app.code(&secret, 0))])
        .await;
    assert_eq!(fresh.html.matches("class=\"recovery-code\"").count(), 10);

    let wrong = browser.post("/account/mfa/disable", &[("csrf_token", &manage.csrf()), ("code", "000000")]).await;
    assert!(wrong.html.contains("id=\"disable-code-error\""));
    app.clock.advance(Duration::seconds(30));
    let off =
        browser.post("/account/mfa/disable", &[("csrf_token", &manage.csrf()), ("code", &app.code(&secret, 0))]).await;
    assert_eq!(off.status, StatusCode::OK);
    assert!(off.inner("mfa-qr").is_some(), "MFA is off: the page offers enrolment again");
    log_out(&browser).await;
    let page = browser.log_in("alice", PASSWORD).await;
    assert_eq!(page.location.as_deref(), Some("/dashboard"), "the password alone signs in");
}

#[tokio::test]
async fn the_code_step_without_a_pending_sign_in_goes_back_to_the_password() {
    let app = spawn_app().await;
    let page = app.browser().get("/login/mfa").await;
    assert_eq!((page.status, page.location.as_deref()), (StatusCode::SEE_OTHER, Some("/login")));
}

#[tokio::test]
async fn a_replayed_code_raises_an_alarm_whose_one_button_signs_out_everywhere_else() {
    let app = spawn_app().await;
    let (browser, secret, _) = enrolled(&app).await;
    let other = app.browser();
    let step = other.log_in("alice", PASSWORD).await;
    app.clock.advance(Duration::seconds(30));
    let code = app.code(&secret, 0);
    let done = other.post("/login/mfa", &[("csrf_token", &step.csrf()), ("code", &code)]).await;
    assert_eq!(done.location.as_deref(), Some("/dashboard"));
    assert!(!browser.get("/dashboard").await.html.contains("already used"), "no alarm yet");

    let attacker = app.browser();
    let step = attacker.log_in("alice", PASSWORD).await;
    let replay = attacker.post("/login/mfa", &[("csrf_token", &step.csrf()), ("code", &code)]).await;
    assert!(replay.html.contains("id=\"code-error\""), "the replay is refused");

    let dashboard = browser.get("/dashboard").await;
    assert!(dashboard.html.contains("Someone entered a code you had already used"), "the alarm shows");
    let answered = browser.post("/account/security/replay-alarm", &[("csrf_token", &dashboard.csrf())]).await;
    assert!(answered.html.contains("1 other session(s) signed out"), "{}", answered.html);
    assert_eq!(other.get("/dashboard").await.location.as_deref(), Some("/login"), "the other session ended");
    assert!(!browser.get("/dashboard").await.html.contains("already used"), "the alarm is cleared");
}

#[tokio::test]
async fn the_dashboard_counts_recovery_codes_and_asks_for_more_when_few_are_left() {
    let app = spawn_app().await;
    let (browser, _, done) = enrolled(&app).await;
    let codes: Vec<String> = done
        .html
        .split("<li class=\"recovery-code\"><code>")
        .skip(1)
        .map(|rest| rest[..rest.find('<').unwrap()].to_string())
        .collect();
    assert_eq!(codes.len(), 10);
    assert!(browser.get("/dashboard").await.html.contains("You have 10 unused recovery codes"));
    for code in &codes[..8] {
        let token = app.mfa_token("alice").await;
        assert_eq!(app.second_step(&token, code).await.status(), StatusCode::CREATED);
    }
    let dashboard = browser.get("/dashboard").await;
    assert!(dashboard.html.contains("You have 2 unused recovery codes"));
    assert!(dashboard.html.contains("Few recovery codes left"));
}

#[tokio::test]
async fn a_trusted_browser_skips_the_code_until_it_is_forgotten() {
    let app = spawn_app().await;
    let (browser, secret, _) = enrolled(&app).await;
    log_out(&browser).await;
    let step = browser.log_in("alice", PASSWORD).await;
    assert!(
        step.html.contains("Don&#39;t ask for a code on this browser for 30 days") || step.html.contains("for 30 days")
    );
    app.clock.advance(Duration::seconds(30));
    let fields = [("csrf_token", step.csrf()), ("code", app.code(&secret, 0)), ("trust_device", "yes".into())];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let done = browser.post("/login/mfa", &fields).await;
    let cookie = done.set_cookies.iter().find(|c| c.starts_with("latchkey_device=")).expect("a device cookie");
    assert!(cookie.contains("HttpOnly") && cookie.contains("Max-Age=2592000"), "{cookie}");

    log_out(&browser).await;
    let again = browser.log_in("alice", PASSWORD).await;
    assert_eq!(again.location.as_deref(), Some("/dashboard"), "the trusted browser skips the code");
    let stranger = app.browser().log_in("alice", PASSWORD).await;
    assert_eq!(stranger.status, StatusCode::OK, "another browser is still asked");
    assert!(stranger.html.contains("action=\"/login/mfa\""));

    let security = browser.get("/account/security").await;
    assert!(security.html.contains("Trusted browsers"));
    let device_id = security.input_value("device_id").unwrap();
    let forgotten = browser
        .post("/account/security/devices/forget", &[("csrf_token", &security.csrf()), ("device_id", &device_id)])
        .await;
    assert!(forgotten.html.contains("will be asked for a code again"));
    log_out(&browser).await;
    let after = browser.log_in("alice", PASSWORD).await;
    assert!(after.html.contains("action=\"/login/mfa\""), "forgotten: the code is asked again");
}

#[tokio::test]
async fn trusting_browsers_can_be_switched_off() {
    let app = crate::helpers::spawn_app_with(|c| c.trusted_device_days = 0).await;
    let (browser, _, _) = enrolled(&app).await;
    log_out(&browser).await;
    let step = browser.log_in("alice", PASSWORD).await;
    assert!(!step.html.contains("trust_device"), "no such box when an operator turned it off");
}

#[tokio::test]
async fn a_second_authenticator_is_added_by_name_and_removed_on_the_mfa_page() {
    let app = spawn_app().await;
    let (browser, first, _) = enrolled(&app).await;
    let manage = browser.get("/account/mfa").await;
    assert!(manage.html.contains("This is your only authenticator"), "the last one warns instead of a remove button");
    assert!(manage.html.contains("href=\"/account/mfa/authenticators/new\""));

    app.clock.advance(Duration::seconds(30));
    let add = browser.get("/account/mfa/authenticators/new").await;
    assert_eq!(add.status, StatusCode::OK);
    let second = secret_of(&add);
    assert_ne!(second, first);
    assert_eq!(secret_of(&browser.get("/account/mfa/authenticators/new").await), second, "the same on reload");
    let wrong = browser
        .post(
            "/account/mfa/authenticators",
            &[("csrf_token", &add.csrf()), ("name", "Pixel"), ("code", &app.code(&second, 0)), ("current_code", "1")],
        )
        .await;
    assert!(wrong.html.contains("That code is not right"), "the current code is asked again");
    assert_eq!(wrong.input_value("name").as_deref(), Some("Pixel"), "the name typed is kept");
    assert_eq!(secret_of(&wrong), second, "and so is the QR code");

    let fields = [
        ("csrf_token", add.csrf()),
        ("name", "Pixel".to_string()),
        ("code", app.code(&second, 0)),
        ("current_code", app.code(&first, 0)),
    ];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let added = browser.post("/account/mfa/authenticators", &fields).await;
    assert!(added.html.contains("Added “Pixel”"), "{}", added.html);
    assert!(added.html.contains("Remove “Authenticator”") && added.html.contains("Remove “Pixel”"));

    let pixel_form = added.html.find("Remove “Pixel”").unwrap();
    let action_at = added.html[..pixel_form].rfind("action=\"/account/mfa/authenticators/").unwrap();
    let action = &added.html[action_at + 8..];
    let action = &action[..action.find('"').unwrap()];
    app.clock.advance(Duration::seconds(30));
    let removed = browser.post(action, &[("csrf_token", &added.csrf()), ("code", &app.code(&first, 0))]).await;
    assert!(removed.html.contains("The authenticator was removed."), "{}", removed.html);
    assert!(!removed.html.contains("Pixel") && removed.html.contains("This is your only authenticator"));

    let security = browser.get("/account/security").await;
    assert!(security.html.contains("Authenticator added"), "{}", security.html);
    assert!(security.html.contains("Authenticator removed"));
    assert!(!security.html.contains(">Other<"), "every event is named");
}

#[tokio::test]
async fn adding_or_removing_an_authenticator_without_the_csrf_token_is_403_and_changes_nothing() {
    let app = spawn_app().await;
    let (browser, first, _) = enrolled(&app).await;
    app.clock.advance(Duration::seconds(30));
    let add = browser.get("/account/mfa/authenticators/new").await;
    let (new_code, current) = (app.code(&secret_of(&add), 0), app.code(&first, 0));
    let forged = browser
        .post("/account/mfa/authenticators", &[("name", "Evil"), ("code", &new_code), ("current_code", &current)])
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let manage = browser.get("/account/mfa").await;
    assert!(!manage.html.contains("Evil") && manage.html.contains("This is your only authenticator"));
    assert!(!manage.html.contains("action=\"/account/mfa/authenticators/"), "the only one has no remove form");
    let removed = browser.post("/account/mfa/authenticators/anything/remove", &[("code", &current)]).await;
    assert_eq!(removed.status, StatusCode::FORBIDDEN, "checked before the id is looked at");
}

#[tokio::test]
async fn a_setup_replaced_from_another_browser_says_so_and_shows_a_new_qr_code() {
    let app = spawn_app().await;
    let (browser, page) = enrolment_page(&app).await;
    let secret = secret_of(&page);
    let other = app.browser();
    other.log_in("alice", PASSWORD).await;
    assert_eq!(other.get("/account/mfa").await.status, StatusCode::OK);

    let sent =
        browser.post("/account/mfa/confirm", &[("csrf_token", &page.csrf()), ("code", &app.code(&secret, 0))]).await;
    assert_eq!(sent.status, StatusCode::OK);
    assert!(sent.html.contains("You started a setup from another browser or app since then"), "{}", sent.html);
    assert_ne!(secret_of(&sent), secret, "a new QR code to scan");
}

#[tokio::test]
async fn the_code_step_names_the_configured_issuer_and_keeps_6_digit_on_one_line() {
    // The entry in the person's app is named by the issuer, not "Latchkey".
    let app = spawn_app_with(|c| c.issuer = "Acme <Corp>".into()).await;
    app.user_with_mfa("alice").await;
    let browser = app.browser();
    let step = browser.log_in("alice", PASSWORD).await;
    assert!(step.html.contains("the current 6\u{2011}digit code for Acme &#60;Corp&#62;."), "{}", step.html);
    assert!(!step.html.contains("Acme <Corp>"), "the name is escaped like any text");
    assert!(!step.html.contains("6-digit"), "a non-breaking hyphen, so \"6-\" never ends a line");
}

/// The recovery codes a success page lists.
fn codes_of(page: &Page) -> Vec<String> {
    page.html
        .split("<li class=\"recovery-code\"><code>")
        .skip(1)
        .map(|rest| rest[..rest.find('<').unwrap()].to_string())
        .collect()
}

#[tokio::test]
async fn the_recovery_codes_page_offers_a_download_and_a_copy_of_all() {
    let app = spawn_app().await;
    let (_, _, done) = enrolled(&app).await;
    let codes = codes_of(&done);
    let link = &done.html[done.html.find("id=\"download-codes\"").unwrap()..];
    let link = &link[..link.find('>').unwrap()];
    assert!(link.contains("download=\"latchkey-recovery-codes.txt\""), "{link}");
    let href = link.split("href=\"").nth(1).unwrap();
    let href = &href[..href.find('"').unwrap()];
    let text = percent_decode(href.strip_prefix("data:text/plain;charset=utf-8,").expect("a data: URL of plain text"));
    for code in &codes {
        assert!(text.lines().any(|line| line == code), "{code} in the file: {text}");
    }
    let copy = &done.html[done.html.find("Copy all").unwrap().saturating_sub(400)..done.html.find("Copy all").unwrap()];
    assert!(codes.iter().all(|code| copy.contains(code.as_str())), "the copy button holds every code: {copy}");
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            out.push(u8::from_str_radix(&text[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

#[tokio::test]
async fn the_code_step_switches_to_a_text_field_for_a_recovery_code() {
    let app = spawn_app().await;
    let (_, _, done) = enrolled(&app).await;
    let code = codes_of(&done).remove(0);
    let browser = app.browser();
    let step = browser.log_in("alice", PASSWORD).await;
    assert!(step.html.contains("inputmode=\"numeric\""), "the app's code first");
    assert!(step.html.contains("href=\"/login/mfa?recovery=yes\""), "{}", step.html);
    let switched = browser.get("/login/mfa?recovery=yes").await;
    let input = &switched.html[switched.html.find("id=\"code\"").unwrap()..];
    let input = &input[..input.find('>').unwrap()];
    assert!(input.contains("inputmode=\"text\"") && input.contains("autocomplete=\"off\""), "{input}");
    assert!(switched.html.contains("<label for=\"code\">Recovery code</label>"));
    assert!(switched.html.contains("href=\"/login/mfa\""), "and back to the app's code");
    let wrong = browser
        .post("/login/mfa", &[("csrf_token", &switched.csrf()), ("code", "aaaa-bbbb-cccc-dddd"), ("recovery", "yes")])
        .await;
    assert!(wrong.html.contains("<label for=\"code\">Recovery code</label>"), "a wrong one keeps the text field");
    let done = browser
        .post("/login/mfa", &[("csrf_token", &switched.csrf()), ("code", &code.to_uppercase()), ("recovery", "yes")])
        .await;
    assert_eq!(done.location.as_deref(), Some("/dashboard"), "{}", done.html);
}

#[tokio::test]
async fn the_security_page_advises_by_the_state_of_mfa() {
    let app = spawn_app().await;
    let (browser, page) = enrolment_page(&app).await;
    let off = browser.get("/account/security").await;
    assert!(off.inner("security-advice").unwrap().contains("turn on Multi-Factor Authentication"));
    let secret = secret_of(&page);
    let code = app.code(&secret, 0);
    browser.post("/account/mfa/confirm", &[("csrf_token", &page.csrf()), ("code", &code)]).await;
    let on = browser.get("/account/security").await;
    let advice = on.inner("security-advice").unwrap();
    assert!(!advice.contains("turn on") && advice.contains("Multi-Factor Authentication is on"), "{advice}");
}
