//! The tutorial in a real browser: headless Chromium, driven by
//! `e2e/tutorial.mjs` (playwright-core), against the real binary.

use std::process::Command;

use crate::binary::start;

/// Runs `node e2e/SCRIPT ARGS…` (headless Chromium) and asserts that it
/// succeeded and said `done`. LATCHKEY_SCREENSHOTS=docs/screenshots lets
/// the script refresh the README's pictures.
pub(crate) async fn run_script(script: &str, args: &[&str], done: &str) {
    let root = env!("CARGO_MANIFEST_DIR");
    assert!(
        std::path::Path::new(root).join("e2e/node_modules/playwright-core").is_dir(),
        "run `npm ci --prefix e2e` first"
    );
    // coreutils' timeout ends a browser run that hangs, so the test fails instead.
    let mut node = Command::new("timeout");
    node.current_dir(format!("{root}/e2e")).args(["300", "node", script]).args(args);
    if let Ok(shots) = std::env::var("LATCHKEY_SCREENSHOTS") {
        node.env("SCREENSHOT_DIR", std::path::Path::new(root).join(shots));
    }
    let output = tokio::task::spawn_blocking(move || node.output()).await.unwrap().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(output.status.success(), "the browser run failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains(done), "{stdout}");
}

#[tokio::test]
#[ignore = "needs Chromium (Debian's chromium), Node.js, oathtool and `npm ci --prefix e2e`; .ci/run provides them"]
async fn the_tutorial_works_in_a_real_browser() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    run_script("tutorial.mjs", &[&server.base], "the tutorial works end to end").await;
}

#[tokio::test]
#[ignore = "needs Chromium (Debian's chromium), Node.js and `npm ci --prefix e2e`; .ci/run provides them"]
async fn passkeys_work_in_a_real_browser() {
    // WebAuthn needs a secure context with a domain name: http://localhost is both.
    let port = crate::binary::free_port();
    let app = crate::helpers::spawn_app_with(|config| {
        config.listen = ([127, 0, 0, 1], port).into();
        config.public_url = Some(format!("http://localhost:{port}"));
    })
    .await;
    run_script("passkeys.mjs", &[&format!("http://localhost:{port}")], "passkeys work end to end").await;
    drop(app);
}

#[tokio::test]
#[ignore = "needs Chromium (Debian's chromium), Node.js and `npm ci --prefix e2e`; .ci/run provides them"]
async fn a_forgotten_password_is_replaced_in_a_real_browser() {
    let sink = crate::notifications::SmtpSink::start().await;
    let app = crate::notifications::app_with_mail(&sink).await;
    app.user_with_mfa("alice").await;
    let done = "the link was asked for";
    run_script("forgotten-password.mjs", &[&app.base, "ask", "alice@example.com"], done).await;
    let token = crate::password::token_mailed_to(&sink, "alice@example.com").await;
    let link = format!("{}/password/reset?token={token}", app.base);
    let done = "the forgotten password is replaced";
    run_script("forgotten-password.mjs", &[&app.base, "use", &link, "alice"], done).await;
}

#[tokio::test]
#[ignore = "needs Chromium (Debian's chromium), Node.js and `npm ci --prefix e2e`; .ci/run provides them"]
async fn openid_client_signs_a_user_in_through_a_real_browser() {
    const SECRET: &str = "an-e2e-client-secret-long-enough-for-it";
    // The client's pages: a port the script serves them on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (callback, signed_out) =
        (format!("http://127.0.0.1:{port}/callback"), format!("http://127.0.0.1:{port}/signed-out"));
    // The real binary, on the real clock: the library checks the tokens' times.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("latchkey.toml");
    let client = format!(
        "[[oidc_clients]]\nid = \"rp\"\nname = \"Team wiki\"\nsecret = \"{SECRET}\"\nredirect_uris = [\"{callback}\"]\n\
         post_logout_uris = [\"{signed_out}\"]\n"
    );
    std::fs::write(&config, client).unwrap();
    let server = crate::binary::start_with(dir.path(), std::process::Stdio::null(), "warn", |command| {
        command.env("LATCHKEY_CONFIG", &config);
    })
    .await;
    let arguments = [server.base.as_str(), "rp", SECRET, &callback, &signed_out];
    run_script("oidc.mjs", &arguments, "openid-client signs in end to end").await;
}
