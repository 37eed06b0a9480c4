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

/// Starts a server after `configure` has changed the defaults.
pub async fn spawn_app_with(configure: impl FnOnce(&mut Config)) -> TestApp {
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
    Client::builder().redirect(Policy::none()).build().unwrap()
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

    /// A new browser (its own cookie jar) pointed at this server.
    pub fn browser(&self) -> Browser {
        let client = Client::builder().redirect(Policy::none()).cookie_store(true).build().unwrap();
        Browser { client, base: self.base.clone() }
    }
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

    /// The value of the first `<input name="…" value="…">` with this name.
    pub fn input_value(&self, name: &str) -> Option<String> {
        let marker = format!("name=\"{name}\"");
        let tag_start = self.html.find(&marker).map(|i| self.html[..i].rfind('<').unwrap())?;
        let tag = &self.html[tag_start..tag_start + self.html[tag_start..].find('>').unwrap()];
        let value = tag.split("value=\"").nth(1)?;
        Some(value[..value.find('"').unwrap()].to_string())
    }

    /// The hidden CSRF field of the page's forms.
    pub fn csrf(&self) -> String {
        self.input_value("csrf_token").expect("the page has a csrf_token field")
    }
}

impl Browser {
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
