//! MFA over the API: enrolment, the second step, replay, recovery codes.

use reqwest::StatusCode;
use serde_json::{json, Value};
use time::Duration;

use crate::helpers::{spawn_app, spawn_app_with, totp_at, TestApp, PASSWORD};

async fn json_of(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn enrol(app: &TestApp, token: &str) -> Value {
    let (status, body) = json_of(app.post_json("/me/mfa/totp", &json!({}), Some(token)).await).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

#[tokio::test]
async fn the_whole_api_flow_turns_mfa_on_and_signs_in_with_a_code() {
    let app = spawn_app().await;
    app.sign_up("alice").await;
    let token = app.sign_in("alice").await;

    let enrolment = enrol(&app, &token).await;
    let secret = enrolment["secret"].as_str().unwrap();
    assert_eq!(secret.len(), 32, "160 bits in base32 without padding");
    assert!(secret.chars().all(|c| c.is_ascii_uppercase() || ('2'..='7').contains(&c)));
    assert_eq!(
        enrolment["otpauth_uri"],
        format!("otpauth://totp/Latchkey:alice?secret={secret}&issuer=Latchkey&algorithm=SHA1&digits=6&period=30")
    );
    assert!(enrolment["qr_svg"].as_str().unwrap().starts_with("<svg"));

    let (status, body) =
        json_of(app.post_json("/me/mfa/totp/confirm", &json!({"code": app.code(secret, 0)}), Some(&token)).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let codes = body["recovery_codes"].as_array().unwrap();
    assert_eq!(codes.len(), 10);
    for code in codes {
        let code = code.as_str().unwrap();
        let groups: Vec<_> = code.split('-').collect();
        assert_eq!(groups.len(), 4, "{code}");
        assert!(groups
            .iter()
            .all(|g| g.len() == 4 && g.chars().all(|c| c.is_ascii_lowercase() || ('2'..='7').contains(&c))));
    }
    let me: Value = app.get_api("/me", &token).await.json().await.unwrap();
    assert_eq!(me["user"]["mfa_enabled"], true);

    let (status, body) =
        json_of(app.post_json("/sessions", &json!({"login": "alice", "password": PASSWORD}), None).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["mfa_required"], true);
    assert_eq!(body["mfa_methods"], json!(["totp", "recovery_code"]));
    assert!(body.get("token").is_none(), "no session before the code");
    let mfa_token = body["mfa_token"].as_str().unwrap();

    app.clock.advance(Duration::seconds(30));
    let (status, body) = json_of(app.second_step(mfa_token, &app.code(secret, 0)).await).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["user"]["username"], "alice");
    let session = body["token"].as_str().unwrap();
    assert_eq!(app.get_api("/me", session).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_pending_sign_in_opens_nothing_but_the_second_step() {
    let app = spawn_app().await;
    app.user_with_mfa("alice").await;
    let mfa_token = app.mfa_token("alice").await;
    for path in ["/me", "/sessions", "/me/events"] {
        assert_eq!(app.get_api(path, &mfa_token).await.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
    let response = app.post_json("/me/mfa/totp", &json!({}), Some(&mfa_token)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn codes_outside_t_minus_1_to_t_plus_1_and_malformed_codes_are_refused() {
    let app = spawn_app().await;
    let (_, secret, _) = app.user_with_mfa("alice").await;
    app.clock.advance(Duration::minutes(10));
    let mfa_token = app.mfa_token("alice").await;
    let right = app.code(&secret, 0);
    let mut wrong_digit = right.clone().into_bytes();
    wrong_digit[5] = if wrong_digit[5] == b'9' { b'0' } else { wrong_digit[5] + 1 };
    let wrong_digit = String::from_utf8(wrong_digit).unwrap();
    for code in [app.code(&secret, -2), app.code(&secret, 2), app.code(&secret, -3), wrong_digit] {
        let (status, body) = json_of(app.second_step(&mfa_token, &code).await).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{code:?}");
        assert_eq!(body["error"]["code"], "invalid_code");
    }
    let (_, _, _) = app.user_with_mfa("bob").await;
    let mfa_token = app.mfa_token("bob").await;
    for code in ["12345", "1234567", "abcdef", "", "１２３４５６"] {
        let (status, body) = json_of(app.second_step(&mfa_token, code).await).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("invalid_code")),
            "{code:?}"
        );
    }
}

#[tokio::test]
async fn the_previous_and_next_steps_are_accepted() {
    for offset in [-1, 1] {
        let app = spawn_app().await;
        let (_, secret, _) = app.user_with_mfa("alice").await;
        app.clock.advance(Duration::minutes(10));
        let mfa_token = app.mfa_token("alice").await;
        let response = app.second_step(&mfa_token, &app.code(&secret, offset)).await;
        assert_eq!(response.status(), StatusCode::CREATED, "step t{offset:+}");
    }
}

#[tokio::test]
async fn a_code_pasted_with_a_space_is_accepted() {
    let app = spawn_app().await;
    let (_, secret, _) = app.user_with_mfa("alice").await;
    app.clock.advance(Duration::seconds(30));
    let code = app.code(&secret, 0);
    let mfa_token = app.mfa_token("alice").await;
    let response = app.second_step(&mfa_token, &format!("{} {}", &code[..3], &code[3..])).await;
    assert_eq!(response.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn a_code_is_accepted_once_and_its_replay_is_recorded() {
    let app = spawn_app().await;
    let (token, secret, _) = app.user_with_mfa("alice").await;
    app.clock.advance(Duration::seconds(30));
    let code = app.code(&secret, 0);
    let first = app.mfa_token("alice").await;
    assert_eq!(app.second_step(&first, &code).await.status(), StatusCode::CREATED);
    let second = app.mfa_token("alice").await;
    let (status, body) = json_of(app.second_step(&second, &code).await).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_code")));
    let older = app.code(&secret, -1);
    assert_eq!(
        app.second_step(&second, &older).await.status(),
        StatusCode::UNAUTHORIZED,
        "an earlier step is spent too"
    );

    let events: Value = app.get_api("/me/events", &token).await.json().await.unwrap();
    let kinds: Vec<_> =
        events["events"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap().to_string()).collect();
    assert!(kinds.contains(&"code_replayed".to_string()), "{kinds:?}");
    assert!(kinds.contains(&"mfa_enabled".to_string()));
}

#[tokio::test]
async fn twenty_concurrent_sign_ins_with_one_code_have_exactly_one_winner() {
    let app = spawn_app_with(|c| c.max_concurrent_hashes = 8).await;
    let (_, secret, _) = app.user_with_mfa("alice").await;
    app.clock.advance(Duration::seconds(30));
    let code = app.code(&secret, 0);
    let mut tokens = Vec::new();
    for _ in 0..20 {
        tokens.push(app.mfa_token("alice").await);
    }
    let mut race = tokio::task::JoinSet::new();
    let client = crate::helpers::http();
    for mfa_token in tokens {
        let request = client.post(app.url("/api/v1/sessions/mfa")).json(&json!({"mfa_token": mfa_token, "code": code}));
        race.spawn(async move { request.send().await.unwrap().status() });
    }
    let statuses = race.join_all().await;
    let winners = statuses.iter().filter(|s| **s == StatusCode::CREATED).count();
    assert_eq!(winners, 1, "{statuses:?}");
    let refused = [StatusCode::UNAUTHORIZED, StatusCode::TOO_MANY_REQUESTS];
    assert!(statuses.iter().all(|s| *s == StatusCode::CREATED || refused.contains(s)), "{statuses:?}");
}

#[tokio::test]
async fn an_mfa_token_dies_after_five_wrong_codes() {
    let app = spawn_app().await;
    let (_, secret, _) = app.user_with_mfa("alice").await;
    app.clock.advance(Duration::seconds(30));
    let mfa_token = app.mfa_token("alice").await;
    for _ in 0..5 {
        assert_eq!(app.second_step(&mfa_token, "000000").await.status(), StatusCode::UNAUTHORIZED);
    }
    let (status, body) = json_of(app.second_step(&mfa_token, &app.code(&secret, 0)).await).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("unauthenticated")));
}

#[tokio::test]
async fn an_mfa_token_dies_after_five_minutes() {
    let app = spawn_app().await;
    let (_, secret, _) = app.user_with_mfa("alice").await;
    let mfa_token = app.mfa_token("alice").await;
    app.clock.advance(Duration::minutes(5));
    let (status, body) = json_of(app.second_step(&mfa_token, &app.code(&secret, 0)).await).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("unauthenticated")));
    let (status, _) = json_of(app.second_step("made-up-token", &app.code(&secret, 0)).await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_recovery_code_signs_in_once_whatever_its_case_and_dashes() {
    let app = spawn_app().await;
    let (token, _, codes) = app.user_with_mfa("alice").await;
    let typed = codes[3].to_uppercase().replace('-', " ");
    let mfa_token = app.mfa_token("alice").await;
    assert_eq!(app.second_step(&mfa_token, &typed).await.status(), StatusCode::CREATED);
    let mfa_token = app.mfa_token("alice").await;
    let (status, body) = json_of(app.second_step(&mfa_token, &codes[3]).await).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_code")));
    assert_eq!(app.second_step(&mfa_token, &codes[4].replace('-', "")).await.status(), StatusCode::CREATED);
    let events: Value = app.get_api("/me/events", &token).await.json().await.unwrap();
    assert_eq!(events["events"][0]["kind"], "signed_in", "newest first");
    assert!(events["events"].as_array().unwrap().iter().any(|e| e["kind"] == "recovery_code_used"));
}

#[tokio::test]
async fn regenerating_recovery_codes_needs_a_code_and_voids_the_old_set() {
    let app = spawn_app().await;
    let (token, secret, old) = app.user_with_mfa("alice").await;
    let (status, _) =
        json_of(app.post_json("/me/mfa/recovery-codes", &json!({"code": "000000"}), Some(&token)).await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    app.clock.advance(Duration::seconds(30));
    let (status, body) =
        json_of(app.post_json("/me/mfa/recovery-codes", &json!({"code": app.code(&secret, 0)}), Some(&token)).await)
            .await;
    assert_eq!(status, StatusCode::OK);
    let new: Vec<String> =
        body["recovery_codes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().into()).collect();
    assert_eq!(new.len(), 10);
    let mfa_token = app.mfa_token("alice").await;
    assert_eq!(app.second_step(&mfa_token, &old[0]).await.status(), StatusCode::UNAUTHORIZED, "old codes are void");
    assert_eq!(app.second_step(&mfa_token, &new[0]).await.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn turning_mfa_off_needs_a_current_code() {
    let app = spawn_app().await;
    let (token, secret, codes) = app.user_with_mfa("alice").await;
    let response = app.api_delete_json("/me/mfa/totp", &json!({"code": "123456"}), &token).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    app.clock.advance(Duration::seconds(30));
    let response = app.api_delete_json("/me/mfa/totp", &json!({"code": app.code(&secret, 0)}), &token).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let me: Value = app.get_api("/me", &token).await.json().await.unwrap();
    assert_eq!(me["user"]["mfa_enabled"], false);
    let response = app.post_json("/sessions", &json!({"login": "alice", "password": PASSWORD}), None).await;
    assert_eq!(response.status(), StatusCode::CREATED, "password alone signs in again");
    let response = app.api_delete_json("/me/mfa/totp", &json!({"code": codes[0]}), &token).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND, "nothing left to turn off");

    let secret = enrol(&app, &token).await["secret"].as_str().unwrap().to_string();
    app.clock.advance(Duration::seconds(30));
    let response = app.post_json("/me/mfa/totp/confirm", &json!({"code": app.code(&secret, 0)}), Some(&token)).await;
    assert_eq!(response.status(), StatusCode::OK, "MFA on again, with a new factor");
    let mfa_token = app.mfa_token("alice").await;
    let (status, _) = json_of(app.second_step(&mfa_token, &codes[1]).await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the codes of the factor that was turned off stay void");
}

#[tokio::test]
async fn enrolling_again_while_mfa_is_on_is_a_conflict() {
    let app = spawn_app().await;
    let (token, _, _) = app.user_with_mfa("alice").await;
    let (status, body) = json_of(app.post_json("/me/mfa/totp", &json!({}), Some(&token)).await).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("conflict")));
}

#[tokio::test]
async fn a_new_enrolment_replaces_the_pending_one_and_only_a_right_code_confirms() {
    let app = spawn_app().await;
    app.sign_up("alice").await;
    let token = app.sign_in("alice").await;
    let (status, _) =
        json_of(app.post_json("/me/mfa/totp/confirm", &json!({"code": "123456"}), Some(&token)).await).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nothing to confirm yet");
    let first = enrol(&app, &token).await["secret"].as_str().unwrap().to_string();
    let second = enrol(&app, &token).await["secret"].as_str().unwrap().to_string();
    assert_ne!(first, second);
    let (status, body) =
        json_of(app.post_json("/me/mfa/totp/confirm", &json!({"code": app.code(&first, 0)}), Some(&token)).await).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_code")));
    let me: Value = app.get_api("/me", &token).await.json().await.unwrap();
    assert_eq!(me["user"]["mfa_enabled"], false, "a wrong code turns nothing on");
    let response = app.post_json("/me/mfa/totp/confirm", &json!({"code": app.code(&second, 0)}), Some(&token)).await;
    assert_eq!(response.status(), StatusCode::OK, "the enrolment survived the wrong code");
}

#[tokio::test]
async fn the_issuer_is_configurable_and_percent_encoded() {
    let app = spawn_app_with(|c| c.issuer = "ACME Login".into()).await;
    app.sign_up("alice").await;
    let token = app.sign_in("alice").await;
    let uri = enrol(&app, &token).await["otpauth_uri"].as_str().unwrap().to_string();
    assert!(uri.starts_with("otpauth://totp/ACME%20Login:alice?secret="), "{uri}");
    assert!(uri.contains("&issuer=ACME%20Login&"), "{uri}");
}

#[tokio::test]
async fn the_served_qr_code_decodes_to_the_otpauth_uri() {
    let app = spawn_app().await;
    app.sign_up("alice").await;
    let token = app.sign_in("alice").await;
    let enrolment = enrol(&app, &token).await;
    let decoded = decode_qr_svg(enrolment["qr_svg"].as_str().unwrap());
    assert_eq!(decoded, enrolment["otpauth_uri"].as_str().unwrap());
}

/// Rasterises an SVG with resvg and reads the QR code in it with rqrr.
pub fn decode_qr_svg(svg: &str) -> String {
    let tree = resvg::usvg::Tree::from_str(svg, &resvg::usvg::Options::default()).unwrap();
    let size = tree.size().to_int_size();
    let mut pixmap = resvg::tiny_skia::Pixmap::new(size.width(), size.height()).unwrap();
    pixmap.fill(resvg::tiny_skia::Color::WHITE);
    resvg::render(&tree, resvg::tiny_skia::Transform::default(), &mut pixmap.as_mut());
    let (width, height) = (pixmap.width() as usize, pixmap.height() as usize);
    let pixels = pixmap.data().to_vec();
    let mut image = rqrr::PreparedImage::prepare_from_greyscale(width, height, |x, y| pixels[(y * width + x) * 4]);
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the image");
    grids[0].decode().unwrap().1
}

#[tokio::test]
#[ignore = "needs oathtool (Debian package oathtool; .ci/run installs it)"]
async fn codes_from_oathtool_are_accepted() {
    let app = spawn_app().await;
    app.sign_up("alice").await;
    let token = app.sign_in("alice").await;
    let secret = enrol(&app, &token).await["secret"].as_str().unwrap().to_string();
    let now = app.clock.unix();
    let oathtool = |at: u64| {
        let output = std::process::Command::new("oathtool")
            .args(["--totp=sha1", "--base32", "--digits=6", "--time-step-size=30s", "--now"])
            .arg(format!("@{at}"))
            .arg(&secret)
            .output()
            .expect("oathtool runs");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap().trim().to_string()
    };
    let code = oathtool(now);
    assert_eq!(code, totp_at(&secret, now), "oathtool and totp-rs agree");
    let response = app.post_json("/me/mfa/totp/confirm", &json!({"code": code}), Some(&token)).await;
    assert_eq!(response.status(), StatusCode::OK);
    app.clock.advance(Duration::seconds(30));
    let mfa_token = app.mfa_token("alice").await;
    assert_eq!(app.second_step(&mfa_token, &oathtool(app.clock.unix())).await.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn the_totp_secret_and_recovery_codes_are_not_stored_in_clear() {
    let app = spawn_app().await;
    let (_, secret, codes) = app.user_with_mfa("alice").await;
    let mut stored = Vec::new();
    for entry in std::fs::read_dir(app.data_dir.path()).unwrap() {
        stored.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    let raw_secret = totp_rs::Secret::try_from_base32(&secret).unwrap().as_bytes().to_vec();
    let haystack = String::from_utf8_lossy(&stored).to_lowercase();
    assert!(haystack.contains("alice@example.com"), "the check reads the real store");
    assert!(!haystack.contains(&secret.to_lowercase()), "no base32 secret");
    assert!(!stored.windows(raw_secret.len()).any(|w| w == raw_secret.as_slice()), "no raw secret");
    for code in &codes {
        assert!(!haystack.contains(code) && !haystack.contains(&code.replace('-', "")), "no recovery code");
    }
}

#[tokio::test]
async fn turning_mfa_on_ends_the_users_other_sessions() {
    let app = spawn_app().await;
    app.sign_up("alice").await;
    let other = app.sign_in("alice").await;
    let token = app.sign_in("alice").await;
    let secret = enrol(&app, &token).await["secret"].as_str().unwrap().to_string();
    let response = app.post_json("/me/mfa/totp/confirm", &json!({"code": app.code(&secret, 0)}), Some(&token)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(app.get_api("/me", &other).await.status(), StatusCode::UNAUTHORIZED, "a session from before MFA ends");
    assert_eq!(app.get_api("/me", &token).await.status(), StatusCode::OK, "the one that turned it on stays");
}

#[tokio::test]
async fn a_code_from_a_phone_whose_clock_is_off_says_so_at_enrolment() {
    let app = spawn_app().await;
    app.sign_up("alice").await;
    let token = app.sign_in("alice").await;
    let secret = enrol(&app, &token).await["secret"].as_str().unwrap().to_string();
    let (status, body) =
        json_of(app.post_json("/me/mfa/totp/confirm", &json!({"code": app.code(&secret, 4)}), Some(&token)).await)
            .await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_code")));
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("2 minutes ahead") && message.contains("clock"), "{message}");
    let me: Value = app.get_api("/me", &token).await.json().await.unwrap();
    assert_eq!(me["user"]["mfa_enabled"], false, "nothing is accepted from the wider look");
}

#[tokio::test]
async fn the_window_follows_a_phone_that_runs_fast_and_the_page_says_so() {
    let app = spawn_app().await;
    let browser = app.browser();
    browser.sign_up("alice", "alice@example.com", PASSWORD).await;
    let setup = browser.get("/account/mfa").await;
    let secret: String = setup.inner("mfa-secret").unwrap().split_whitespace().collect();
    let done =
        browser.post("/account/mfa/confirm", &[("csrf_token", &setup.csrf()), ("code", &app.code(&secret, 0))]).await;
    assert!(done.html.contains("is active"));

    // The phone is one step fast: its code is always the next step's.
    for _ in 0..2 {
        app.clock.advance(Duration::seconds(30));
        let mfa_token = app.mfa_token("alice").await;
        assert_eq!(app.second_step(&mfa_token, &app.code(&secret, 1)).await.status(), StatusCode::CREATED);
    }
    // Now it runs two steps fast: outside the plain window, inside the learned one.
    app.clock.advance(Duration::seconds(30));
    let mfa_token = app.mfa_token("alice").await;
    assert_eq!(app.second_step(&mfa_token, &app.code(&secret, 2)).await.status(), StatusCode::CREATED);
    let page = browser.get("/account/mfa").await;
    assert!(
        page.html.contains("Your phone&#39;s clock seems about 60 seconds fast")
            || page.html.contains("Your phone's clock seems about 60 seconds fast"),
        "{}",
        page.html
    );

    // The clock is set right again. Its next code trails the steps the fast
    // clock already spent: refused, but no phishing alarm for that.
    app.clock.advance(Duration::seconds(30));
    let mfa_token = app.mfa_token("alice").await;
    assert_eq!(app.second_step(&mfa_token, &app.code(&secret, 0)).await.status(), StatusCode::UNAUTHORIZED);
    assert!(!browser.get("/dashboard").await.html.contains("already used"), "no alarm for a corrected clock");
    // Once past the spent steps, the plain window works and the offset is forgotten.
    app.clock.advance(Duration::seconds(60));
    assert_eq!(app.second_step(&mfa_token, &app.code(&secret, 0)).await.status(), StatusCode::CREATED);
    assert!(!browser.get("/account/mfa").await.html.contains("clock seems"), "the learned offset is back to none");
}

#[tokio::test]
async fn an_api_client_can_be_trusted_and_stops_being_trusted_after_signing_out_everywhere() {
    let app = spawn_app().await;
    let (_, secret, _) = app.user_with_mfa("alice").await;
    app.clock.advance(Duration::seconds(30));
    let mfa_token = app.mfa_token("alice").await;
    let body = json!({"mfa_token": mfa_token, "code": app.code(&secret, 0), "trust_device": true});
    let (status, answer) = json_of(app.post_json("/sessions/mfa", &body, None).await).await;
    assert_eq!(status, StatusCode::CREATED);
    let device = answer["device_token"].as_str().unwrap().to_string();

    let body = json!({"login": "alice", "password": PASSWORD, "device_token": device});
    let (status, answer) = json_of(app.post_json("/sessions", &body, None).await).await;
    assert_eq!(status, StatusCode::CREATED, "no code asked: {answer}");
    let body = json!({"login": "alice", "password": PASSWORD, "device_token": "made-up"});
    assert_eq!(app.post_json("/sessions", &body, None).await.status(), StatusCode::OK, "a made-up token is no trust");
    app.user_with_mfa("bob").await;
    let body = json!({"login": "bob", "password": PASSWORD, "device_token": device});
    assert_eq!(app.post_json("/sessions", &body, None).await.status(), StatusCode::OK, "alice's trust is not bob's");

    // Signing out everywhere else (the security page's button) forgets trusted clients too.
    let browser = app.browser();
    let step = browser.log_in("alice", PASSWORD).await;
    app.clock.advance(Duration::seconds(30));
    browser.post("/login/mfa", &[("csrf_token", &step.csrf()), ("code", &app.code(&secret, 0))]).await;
    let security = browser.get("/account/security").await;
    browser.post("/account/security/sessions/revoke-others", &[("csrf_token", &security.csrf())]).await;
    let body = json!({"login": "alice", "password": PASSWORD, "device_token": device});
    assert_eq!(app.post_json("/sessions", &body, None).await.status(), StatusCode::OK, "the code is asked again");
}

#[tokio::test]
async fn asking_again_and_again_for_a_secret_is_one_enrolment_and_is_throttled() {
    let app = spawn_app().await;
    app.sign_up("alice").await;
    let token = app.sign_in("alice").await;
    for n in 0..10 {
        let response = app.post_json("/me/mfa/totp", &json!({}), Some(&token)).await;
        assert_eq!(response.status(), StatusCode::CREATED, "secret {n}");
    }
    let started = app.event_kinds(&token).await.iter().filter(|k| *k == "mfa_enrolment_started").count();
    assert_eq!(started, 1, "one enrolment, however often the app asks again");

    let (status, body) = json_of(app.post_json("/me/mfa/totp", &json!({}), Some(&token)).await).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["error"]["code"], "rate_limited");
    app.clock.advance(Duration::seconds(30));
    let enrolment = enrol(&app, &token).await;
    let code = app.code(enrolment["secret"].as_str().unwrap(), 0);
    let (status, _) = json_of(app.post_json("/me/mfa/totp/confirm", &json!({"code": code}), Some(&token)).await).await;
    assert_eq!(status, StatusCode::OK, "the last secret given is the one that counts");
}

#[tokio::test]
async fn an_enrolment_replaced_from_another_session_says_so() {
    let app = spawn_app().await;
    app.sign_up("alice").await;
    let (phone, laptop) = (app.sign_in("alice").await, app.sign_in("alice").await);
    let first = enrol(&app, &phone).await;
    enrol(&app, &laptop).await;
    let code = app.code(first["secret"].as_str().unwrap(), 0);
    let (status, body) =
        json_of(app.post_json("/me/mfa/totp/confirm", &json!({"code": code}), Some(&phone)).await).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        body["error"]["message"].as_str().unwrap().contains("another session of this account started one"),
        "{body}"
    );

    app.clock.advance(Duration::minutes(11));
    let late = json!({"code": code, "current_password": PASSWORD});
    let (status, body) = json_of(app.post_json("/me/mfa/totp/confirm", &late, Some(&phone)).await).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(!body["error"]["message"].as_str().unwrap().contains("another session"), "it expired: {body}");
}
