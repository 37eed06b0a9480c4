//! Notices to account owners, mailed to a local SMTP sink.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::helpers::{spawn_app_with, TestApp, PASSWORD};

/// A minimal SMTP server that accepts every message and keeps it.
pub(crate) struct SmtpSink {
    pub(crate) port: u16,
    messages: Arc<Mutex<Vec<String>>>,
}

impl SmtpSink {
    pub(crate) async fn start() -> SmtpSink {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let messages = Arc::new(Mutex::new(Vec::new()));
        let kept = messages.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let kept = kept.clone();
                tokio::spawn(async move {
                    let (read, mut write) = stream.into_split();
                    let mut lines = BufReader::new(read).lines();
                    write.write_all(b"220 sink ready\r\n").await.unwrap();
                    while let Ok(Some(line)) = lines.next_line().await {
                        let verb = line.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
                        let answer: &[u8] = match verb.as_str() {
                            "DATA" => {
                                write.write_all(b"354 go ahead\r\n").await.unwrap();
                                let mut message = String::new();
                                while let Ok(Some(line)) = lines.next_line().await {
                                    if line == "." {
                                        break;
                                    }
                                    message.push_str(&line);
                                    message.push('\n');
                                }
                                kept.lock().unwrap().push(message);
                                b"250 kept\r\n"
                            }
                            "QUIT" => {
                                let _ = write.write_all(b"221 bye\r\n").await;
                                break;
                            }
                            _ => b"250 ok\r\n",
                        };
                        write.write_all(answer).await.unwrap();
                    }
                });
            }
        });
        SmtpSink { port, messages }
    }

    /// Whether a message received so far contains `needle`.
    pub(crate) fn contains(&self, needle: &str) -> bool {
        self.messages.lock().unwrap().iter().any(|m| m.contains(needle))
    }

    /// Waits until a message whose text contains `needle` arrives.
    pub(crate) async fn expect(&self, needle: &str) -> String {
        self.expect_all(&[needle]).await
    }

    /// Waits until a message whose text contains every one of `needles` arrives.
    pub(crate) async fn expect_all(&self, needles: &[&str]) -> String {
        self.expect_nth(needles, 1).await
    }

    /// Waits until `n` messages containing every one of `needles` arrived;
    /// returns the `n`th.
    pub(crate) async fn expect_nth(&self, needles: &[&str], n: usize) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let found = self
                .messages
                .lock()
                .unwrap()
                .iter()
                .filter(|m| needles.iter().all(|x| m.contains(x)))
                .nth(n - 1)
                .cloned();
            if let Some(found) = found {
                return found;
            }
            assert!(Instant::now() < deadline, "no mail with {needles:?}; got {:?}", self.messages.lock().unwrap());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A server that mails through `sink`.
pub(crate) async fn app_with_mail(sink: &SmtpSink) -> TestApp {
    let port = sink.port;
    spawn_app_with(move |c| {
        c.smtp_url = Some(format!("smtp://127.0.0.1:{port}"));
        c.mail_from = Some("Latchkey <latchkey@example.org>".into());
    })
    .await
}

#[tokio::test]
async fn mfa_changes_recovery_codes_and_replays_are_mailed_to_the_owner() {
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink).await;
    let (token, secret, codes) = app.user_with_mfa("alice").await;
    let mail = sink.expect("Subject: [Latchkey] Multi-Factor Authentication is on").await;
    assert!(mail.contains("To: alice@example.com") && mail.contains("\nHello alice,\n"), "{mail}");
    assert!(!mail.contains("\\n"), "real line breaks, not escapes: {mail}");
    assert!(!mail.contains(&secret) && !codes.iter().any(|c| mail.contains(c.as_str())), "no secret in a mail");

    let mfa_token = app.mfa_token("alice").await;
    assert_eq!(app.second_step(&mfa_token, &codes[0]).await.status(), StatusCode::CREATED);
    sink.expect("A recovery code was used").await;

    let used = app.code(&secret, 0);
    let mfa_token = app.mfa_token("alice").await;
    assert_eq!(app.second_step(&mfa_token, &used).await.status(), StatusCode::UNAUTHORIZED);
    sink.expect("Someone entered a code you had already used").await;

    app.clock.advance(time::Duration::seconds(30));
    let response = app.api_delete_json("/me/mfa/totp", &json!({"code": app.code(&secret, 0)}), &token).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    sink.expect("Multi-Factor Authentication is off").await;
}

/// Alice signs in over the API from a client with this user agent.
async fn sign_in_from(app: &TestApp, agent: &str) -> StatusCode {
    let request = crate::helpers::http()
        .post(app.url("/api/v1/sessions"))
        .header("user-agent", agent)
        .json(&json!({"login": "alice", "password": PASSWORD}));
    request.send().await.unwrap().status()
}

#[tokio::test]
async fn a_sign_in_from_a_new_device_is_mailed_and_a_known_one_is_not() {
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink).await;
    app.sign_up("alice").await;
    let sign_in = |agent| sign_in_from(&app, agent);
    assert_eq!(sign_in("Laptop/1.0").await, StatusCode::CREATED);
    assert_eq!(sign_in("Laptop/1.0").await, StatusCode::CREATED);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sent = sink.messages.lock().unwrap().clone();
    assert!(
        sent.iter().all(|m| m.contains("Verify your email address")),
        "the first device and a known one send nothing"
    );
    const PHONE: &str = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36";
    assert_eq!(sign_in(PHONE).await, StatusCode::CREATED);
    let mail = sink.expect("New sign-in to your account").await;
    assert!(mail.contains("(Chrome on Android)"), "the device by name: {mail}");
    assert!(!mail.contains("Pixel 8"), "not the header as sent: {mail}");
}

#[tokio::test]
async fn a_user_agent_cannot_put_words_into_a_notice_mail() {
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink).await;
    app.sign_up("alice").await;
    let sign_in = |agent| sign_in_from(&app, agent);
    assert_eq!(sign_in("Laptop/1.0").await, StatusCode::CREATED);
    const LURE: &str = "Support: your account is at risk, call +1 555 0100 or visit https://evil.example now";
    assert_eq!(sign_in(LURE).await, StatusCode::CREATED);
    let mail = sink.expect("New sign-in to your account").await;
    assert!(mail.contains("(Unknown device)") && !mail.contains("evil.example") && !mail.contains("555"), "{mail}");
}

#[tokio::test]
async fn a_lockout_mail_says_whether_passwords_or_codes_were_guessed() {
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink).await;
    let (_, secret, _) = app.user_with_mfa("alice").await;
    for _ in 0..5 {
        let body = json!({"login": "alice", "password": "not the password at all"});
        assert_eq!(app.post_json("/sessions", &body, None).await.status(), StatusCode::UNAUTHORIZED);
    }
    let mail = sink.expect("Wrong passwords on your account").await;
    assert!(mail.contains("Several wrong passwords were entered") && !mail.contains("codes"), "{mail}");

    app.clock.advance(time::Duration::minutes(2)); // the password delay runs out
    let mfa_token = app.mfa_token("alice").await;
    let wrong = if app.code(&secret, 0) == "000000" { "111111" } else { "000000" };
    for _ in 0..5 {
        app.second_step(&mfa_token, wrong).await;
    }
    sink.expect("Wrong codes on your account").await;
}

#[tokio::test]
async fn a_mail_server_that_is_down_does_not_fail_or_slow_a_sign_in() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let app = spawn_app_with(move |c| {
        c.smtp_url = Some(format!("smtp://127.0.0.1:{closed}"));
        c.mail_from = Some("Latchkey <latchkey@example.org>".into());
    })
    .await;
    let (_, _, codes) = app.user_with_mfa("alice").await;
    let mfa_token = app.mfa_token("alice").await;
    assert_eq!(app.second_step(&mfa_token, &codes[0]).await.status(), StatusCode::CREATED);
}
