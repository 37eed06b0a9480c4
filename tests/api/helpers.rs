//! `spawn_app()` and the clients the tests drive it with.

use std::sync::{Arc, Mutex};

use latchkey::cli::GlobalArgs;
use latchkey::config::Config;
use latchkey::startup::Application;
use latchkey_core::Clock;
use reqwest::redirect::Policy;
use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};
use tempfile::TempDir;
use time::{Duration, OffsetDateTime};

/// A password that meets every rule.
pub const PASSWORD: &str = "quiet otter mends the lamp";

/// A clock the test moves by hand.
pub struct ManualClock(Mutex<OffsetDateTime>);

impl ManualClock {
    /// Moves time forward.
    pub fn advance(&self, by: Duration) {
        let mut now = self.0.lock().unwrap();
        *now += by;
    }
}

impl ManualClock {
    /// The current Unix time.
    pub fn unix(&self) -> u64 {
        self.now().unix_timestamp() as u64
    }
}

/// The TOTP code for a base32 secret at a Unix time, computed by `totp-rs`
/// directly (the server's glue around it is what the tests check).
pub fn totp_at(secret_base32: &str, unix_time: u64) -> String {
    let bytes = totp_rs::Secret::try_from_base32(secret_base32).unwrap().as_bytes().to_vec();
    totp_rs::Builder::new().with_secret(bytes).build().unwrap().generate(unix_time).to_string()
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap()
    }
}

/// A running server with its own store, clock and data dir.
pub struct TestApp {
    pub base: String,
    pub clock: Arc<ManualClock>,
    pub data_dir: TempDir,
    api: Client,
}

/// Starts a server with the default configuration.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts a server after `configure` has changed the defaults. The server's
/// logs go to the test's captured output (shown when a test fails).
pub async fn spawn_app_with(configure: impl FnOnce(&mut Config)) -> TestApp {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
    let data_dir = tempfile::tempdir().unwrap();
    let mut config = Config::load(&GlobalArgs {
        data_dir: Some(data_dir.path().to_path_buf()),
        listen: Some("127.0.0.1:0".parse().unwrap()),
        ..GlobalArgs::default()
    })
    .unwrap();
    configure(&mut config);
    let start = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
    let clock = Arc::new(ManualClock(Mutex::new(start)));
    let app = Application::build(config, clock.clone()).await.unwrap();
    let base = format!("http://{}", app.address());
    tokio::spawn(app.run_until_stopped());
    TestApp { base, clock, data_dir, api: client() }
}

fn client() -> Client {
    http_builder().redirect(Policy::none()).build().unwrap()
}

/// A client builder. The service's webhook sender brings reqwest's rustls,
/// which needs a process-wide crypto provider before any client is built.
pub fn http_builder() -> reqwest::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::builder()
}

/// A plain client (follows redirects).
pub fn http() -> Client {
    http_builder().build().unwrap()
}

impl TestApp {
    /// The absolute URL of a path.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// POSTs JSON to an API path (`/users`, not `/api/v1/users`).
    pub async fn post_json(&self, path: &str, body: &Value, token: Option<&str>) -> Response {
        let mut request = self.api.post(self.url(&format!("/api/v1{path}"))).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap()
    }

    /// GETs an API path with a bearer token.
    pub async fn get_api(&self, path: &str, token: &str) -> Response {
        self.api.get(self.url(&format!("/api/v1{path}"))).bearer_auth(token).send().await.unwrap()
    }

    /// DELETEs an API path with a bearer token.
    pub async fn delete_api(&self, path: &str, token: &str) -> Response {
        self.api.delete(self.url(&format!("/api/v1{path}"))).bearer_auth(token).send().await.unwrap()
    }

    /// DELETEs an API path with a JSON body and a bearer token.
    pub async fn api_delete_json(&self, path: &str, body: &Value, token: &str) -> Response {
        self.api.delete(self.url(&format!("/api/v1{path}"))).bearer_auth(token).json(body).send().await.unwrap()
    }

    /// PUTs JSON to an API path with a bearer token.
    pub async fn api_put_json(&self, path: &str, body: &Value, token: &str) -> Response {
        self.api.put(self.url(&format!("/api/v1{path}"))).bearer_auth(token).json(body).send().await.unwrap()
    }

    /// PATCHes an API path with a JSON body and a bearer token.
    pub async fn api_patch_json(&self, path: &str, body: &Value, token: &str) -> Response {
        self.api.patch(self.url(&format!("/api/v1{path}"))).bearer_auth(token).json(body).send().await.unwrap()
    }

    /// Sends a raw request body to an API path.
    pub async fn post_raw(&self, path: &str, content_type: &str, body: impl Into<reqwest::Body>) -> Response {
        self.api
            .post(self.url(&format!("/api/v1{path}")))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// The kinds of the caller's security events, newest first, as `GET /me/events` lists them.
    pub async fn event_kinds(&self, token: &str) -> Vec<String> {
        let body: Value = self.get_api("/me/events", token).await.json().await.unwrap();
        body["events"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap().to_string()).collect()
    }

    /// Signs up over the API; panics unless it is 201.
    pub async fn sign_up(&self, username: &str) -> Value {
        let body = json!({"username": username, "email": format!("{username}@example.com"), "password": PASSWORD});
        let response = self.post_json("/users", &body, None).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.unwrap()
    }

    /// Signs in over the API; returns the token.
    pub async fn sign_in(&self, login: &str) -> String {
        let response = self.post_json("/sessions", &json!({"login": login, "password": PASSWORD}), None).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.unwrap();
        body["token"].as_str().unwrap().to_string()
    }

    /// The code of `secret` for the server's current time, shifted by `steps`.
    pub fn code(&self, secret: &str, steps: i64) -> String {
        totp_at(secret, (self.clock.unix() as i64 + steps * 30) as u64)
    }

    /// Signs up `username`, signs in and turns MFA on over the API.
    /// Returns (session token, TOTP secret, recovery codes); the step used to
    /// confirm is spent, so the next sign-in must wait for the next step.
    pub async fn user_with_mfa(&self, username: &str) -> (String, String, Vec<String>) {
        self.sign_up(username).await;
        self.turn_mfa_on(username).await
    }

    /// Signs `username` in and turns MFA on over the API, as [`Self::user_with_mfa`].
    pub async fn turn_mfa_on(&self, username: &str) -> (String, String, Vec<String>) {
        let token = self.sign_in(username).await;
        let enrolment: Value = self.post_json("/me/mfa/totp", &json!({}), Some(&token)).await.json().await.unwrap();
        let secret = enrolment["secret"].as_str().unwrap().to_string();
        let code = self.code(&secret, 0);
        let response = self.post_json("/me/mfa/totp/confirm", &json!({"code": code}), Some(&token)).await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        let codes =
            body["recovery_codes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_string()).collect();
        (token, secret, codes)
    }

    /// Starts a sign-in for an MFA account; returns the `mfa_token`.
    pub async fn mfa_token(&self, login: &str) -> String {
        let response = self.post_json("/sessions", &json!({"login": login, "password": PASSWORD}), None).await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["mfa_required"], true);
        body["mfa_token"].as_str().unwrap().to_string()
    }

    /// Sends the second step.
    pub async fn second_step(&self, mfa_token: &str, code: &str) -> Response {
        self.post_json("/sessions/mfa", &json!({"mfa_token": mfa_token, "code": code}), None).await
    }

    /// A new browser (its own cookie jar) pointed at this server.
    pub fn browser(&self) -> Browser {
        Browser::at(&self.base)
    }
}

/// Reads the character references an attribute value may hold (`&#38;`,
/// `&amp;`, …) in one pass, as a browser does.
fn unescape(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let reference = &rest[at..];
        let Some(end) = reference.find(';') else {
            rest = reference;
            break;
        };
        let name = &reference[1..end];
        let decoded = match name {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => name.strip_prefix('#').and_then(|n| n.parse::<u32>().ok()).and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &reference[end + 1..];
            }
            None => {
                out.push('&');
                rest = &reference[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// A cookie-keeping client that reads forms the way a browser would.
pub struct Browser {
    pub client: Client,
    base: String,
}

/// A page as the browser got it.
pub struct Page {
    pub status: StatusCode,
    pub location: Option<String>,
    pub set_cookies: Vec<String>,
    pub html: String,
}

impl Page {
    async fn from(response: Response) -> Page {
        let status = response.status();
        let location = response.headers().get("location").map(|v| v.to_str().unwrap().to_string());
        let set_cookies =
            response.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_string()).collect();
        Page { status, location, set_cookies, html: response.text().await.unwrap() }
    }

    /// The value of the first `<input name="…" value="…">` with this name,
    /// its character references read as a browser reads them.
    pub fn input_value(&self, name: &str) -> Option<String> {
        let marker = format!("name=\"{name}\"");
        let tag_start = self.html.find(&marker).map(|i| self.html[..i].rfind('<').unwrap())?;
        let tag = &self.html[tag_start..tag_start + self.html[tag_start..].find('>').unwrap()];
        let value = tag.split("value=\"").nth(1)?;
        Some(unescape(&value[..value.find('"').unwrap()]))
    }

    /// The markup inside the element with this id, up to its closing `</tag>`
    /// (enough for the flat elements the tests look into).
    pub fn inner(&self, id: &str) -> Option<String> {
        let at = self.html.find(&format!("id=\"{id}\""))?;
        let tag_start = self.html[..at].rfind('<')?;
        let tag = self.html[tag_start + 1..].split(|c: char| c.is_whitespace() || c == '>').next()?;
        let content_start = at + self.html[at..].find('>')? + 1;
        let content_end = content_start + self.html[content_start..].find(&format!("</{tag}>"))?;
        Some(self.html[content_start..content_end].to_string())
    }

    /// The hidden CSRF field of the page's forms.
    pub fn csrf(&self) -> String {
        self.input_value("csrf_token").expect("the page has a csrf_token field")
    }
}

impl Browser {
    /// A browser with no cookies yet, for the server at `base`.
    pub fn at(base: &str) -> Browser {
        let client = http_builder().redirect(Policy::none()).cookie_store(true).build().unwrap();
        Browser { client, base: base.to_string() }
    }

    /// The server's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// GETs a page (redirects are not followed).
    pub async fn get(&self, path: &str) -> Page {
        Page::from(self.client.get(format!("{}{path}", self.base)).send().await.unwrap()).await
    }

    /// POSTs a form as it stands, with the headers a same-origin browser sends.
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        self.post_with(path, fields, &[("origin", &self.base), ("sec-fetch-site", "same-origin")]).await
    }

    /// POSTs a form with chosen extra headers.
    pub async fn post_with(&self, path: &str, fields: &[(&str, &str)], headers: &[(&str, &str)]) -> Page {
        let mut request = self.client.post(format!("{}{path}", self.base)).form(fields);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        Page::from(request.send().await.unwrap()).await
    }

    /// Opens the sign-up page and submits it.
    pub async fn sign_up(&self, username: &str, email: &str, password: &str) -> Page {
        let form = self.get("/signup").await;
        let csrf = form.csrf();
        self.post("/signup", &[("csrf_token", &csrf), ("username", username), ("email", email), ("password", password)])
            .await
    }

    /// Opens the sign-in page and submits it.
    pub async fn log_in(&self, login: &str, password: &str) -> Page {
        let form = self.get("/login").await;
        let csrf = form.csrf();
        self.post("/login", &[("csrf_token", &csrf), ("login", login), ("password", password)]).await
    }
}
