//! OpenID Connect with Python's authlib, a relying-party library in another
//! language that no one here wrote (`e2e/oidc_authlib.py`): its token
//! endpoint calls and its ID token validation against the real binary. The
//! browser part (sign-up, consent) is this test's, over HTTP.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use crate::binary::{start_with, Server};
use crate::helpers::{Browser, PASSWORD};

const SECRET: &str = "an-authlib-client-secret-long-enough-ok";
const CALLBACK: &str = "http://127.0.0.1:9/callback";

#[tokio::test]
#[ignore = "needs Python's authlib and requests (pip install -r e2e/requirements.txt); .ci/run provides them"]
async fn authlib_exchanges_validates_refreshes_introspects_and_revokes_with_rs256_and_es256() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("latchkey.toml");
    // The same application twice: once with RS256 ID tokens, once asking for ES256.
    let client = |id: &str, alg: &str| {
        format!(
            "[[oidc_clients]]\nid = \"{id}\"\nname = \"A Python app\"\nsecret = \"{SECRET}\"\n\
             redirect_uris = [\"{CALLBACK}\"]\nid_token_signed_response_alg = \"{alg}\"\n"
        )
    };
    let clients = format!("{}{}", client("py", "RS256"), client("py-es", "ES256"));
    std::fs::write(&config, clients).unwrap();
    // The real binary, on the real clock: authlib checks the tokens' times.
    let server = start_with(dir.path(), Stdio::null(), "warn", |command| {
        command.env("LATCHKEY_CONFIG", &config);
    })
    .await;
    let browser = Browser::at(&server.base);
    browser.sign_up("pia", "pia@example.com", PASSWORD).await;
    run_authlib(&server, &browser, "py", "RS256").await;
    run_authlib(&server, &browser, "py-es", "ES256").await;
}

/// Runs the script as client `client_id`, walks its authorization URL in
/// `browser` (allowing at the consent page) and hands it the callback.
async fn run_authlib(server: &Server, browser: &Browser, client_id: &str, alg: &str) {
    let root = env!("CARGO_MANIFEST_DIR");
    // coreutils' timeout ends a script that hangs, so the test fails instead.
    let mut child = Command::new("timeout")
        .args(["120", "python3", &format!("{root}/e2e/oidc_authlib.py")])
        .args([server.base.as_str(), client_id, SECRET, CALLBACK, alg])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    // Its checks so far, up to the line that names the authorization URL.
    let (stdout, before) = tokio::task::spawn_blocking(move || {
        let mut before = String::new();
        loop {
            let mut line = String::new();
            if stdout.read_line(&mut line).unwrap() == 0 || line.starts_with("AUTHORIZE ") {
                before.push_str(&line);
                return (stdout, before);
            }
            before.push_str(&line);
        }
    })
    .await
    .unwrap();
    let Some(url) = before.lines().last().and_then(|line| line.strip_prefix("AUTHORIZE ")) else {
        let output = child.wait_with_output().unwrap();
        panic!("authlib did not start: {before}{}", String::from_utf8_lossy(&output.stderr));
    };
    let path = url.strip_prefix(server.base.as_str()).expect("the authorize endpoint is the server's");
    let consent = browser.get(path).await;
    let request = consent.input_value("request").expect("the consent page");
    let allowed = browser
        .post("/oauth2/authorize", &[("csrf_token", &consent.csrf()), ("request", &request), ("decision", "allow")])
        .await;
    let callback = allowed.location.expect("back to the client");
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{callback}").unwrap();
    drop(stdin);
    let (rest, status, stderr) = tokio::task::spawn_blocking(move || {
        let rest: Vec<String> = stdout.lines().map(Result::unwrap).collect();
        let output = child.wait_with_output().unwrap();
        (rest.join("\n"), output.status, String::from_utf8_lossy(&output.stderr).into_owned())
    })
    .await
    .unwrap();
    println!("{before}{rest}");
    assert!(status.success(), "authlib failed:\n{rest}\n{stderr}");
    assert!(rest.contains("authlib signs in end to end"), "{rest}");
}
