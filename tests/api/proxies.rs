//! Forward authentication behind real reverse proxies: Debian's nginx
//! (`auth_request`) and Caddy (`forward_auth`), started on free ports with
//! the configurations docs/PROXIES.md gives, in front of a tiny application
//! that echoes the headers it receives. The client reaches every host
//! through the proxy (names resolved to it, as DNS would).

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use axum::http::HeaderMap;
use latchkey::config::AccessRuleConfig;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::admin_cli::run_cli;
use crate::helpers::{http_builder, spawn_app_with, TestApp, PASSWORD};

/// The public hosts, all under `example.test` (a name reserved for tests).
const AUTH: &str = "auth.example.test";
const WIKI: &str = "wiki.example.test";
const ADMIN: &str = "admin.example.test";
const STATUS: &str = "status.example.test";

fn rule(domain: &str, policy: &str, groups: &[&str]) -> AccessRuleConfig {
    AccessRuleConfig {
        groups: groups.iter().map(ToString::to_string).collect(),
        ..crate::forward_auth::rule(domain, policy)
    }
}

/// A port free now (the proxy binds it a moment later).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The application behind the proxy: answers every request with the
/// headers that say who is asking, as JSON.
async fn echo_backend() -> SocketAddr {
    async fn echo(headers: HeaderMap, uri: axum::http::Uri) -> axum::Json<Value> {
        let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        let underscored: Vec<String> = ["remote_user", "remote_email", "remote_name", "remote_groups"]
            .iter()
            .filter_map(|name| get(name))
            .collect();
        axum::Json(json!({
            "path": uri.to_string(),
            "remote_user": get("remote-user"),
            "remote_email": get("remote-email"),
            "remote_name": get("remote-name"),
            "remote_groups": get("remote-groups"),
            "underscored": underscored,
        }))
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, axum::Router::new().fallback(echo)).await });
    address
}

/// A running proxy, stopped when dropped.
struct Proxy {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proxy {
    /// Waits until the proxy accepts connections.
    async fn ready(self) -> Self {
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.is_ok() {
                return self;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let log = |name: &str| std::fs::read_to_string(self._dir.path().join(name)).unwrap_or_default();
        panic!("the proxy did not start on port {}: {}{}", self.port, log("stderr.log"), log("error.log"));
    }
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

/// nginx with docs/PROXIES.md's configuration.
fn nginx(port: u16, latchkey: SocketAddr, backend: SocketAddr) -> Proxy {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let conf = format!(
        r#"
daemon off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {d}/body;
  proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi;
  scgi_temp_path {d}/scgi;

  server {{
    listen 127.0.0.1:{port};
    server_name {AUTH};
    location /auth/ {{
      return 404;
    }}
    location / {{
      proxy_pass http://{latchkey};
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_set_header X-Forwarded-Proto $scheme;
    }}
  }}

  server {{
    listen 127.0.0.1:{port};
    server_name {WIKI} {ADMIN} {STATUS};
{snippet}
    location / {{
      include {d}/protect.conf;
      proxy_pass http://{backend};
    }}
  }}
}}
"#,
        snippet = NGINX_AUTH_LOCATION.replace("LATCHKEY", &latchkey.to_string()),
    );
    write(dir.path(), "protect.conf", NGINX_PROTECT);
    let conf = write(dir.path(), "nginx.conf", &conf);
    let child = Command::new("nginx")
        .args(["-c", &conf, "-e", &format!("{d}/error.log")])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("stderr.log")).unwrap())
        .spawn()
        .expect("nginx (Debian's nginx package)");
    Proxy { child, port, _dir: dir }
}

/// The internal location nginx asks Latchkey through (docs/PROXIES.md).
const NGINX_AUTH_LOCATION: &str = r#"
    location = /internal/latchkey {
      internal;
      proxy_pass http://LATCHKEY/auth/request;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Original-URL $scheme://$host:$server_port$request_uri;
      proxy_set_header X-Original-Method $request_method;
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_set_header Proxy-Authorization $http_proxy_authorization;
    }
"#;

/// What each protected location includes (docs/PROXIES.md): ask, pass the
/// user on (replacing whatever the client sent under those names), and
/// send a browser that must sign in where Latchkey says.
const NGINX_PROTECT: &str = r#"
auth_request /internal/latchkey;
auth_request_set $latchkey_user $upstream_http_remote_user;
auth_request_set $latchkey_email $upstream_http_remote_email;
auth_request_set $latchkey_name $upstream_http_remote_name;
auth_request_set $latchkey_groups $upstream_http_remote_groups;
auth_request_set $sign_in $upstream_http_location;
proxy_set_header Remote-User $latchkey_user;
proxy_set_header Remote-Email $latchkey_email;
proxy_set_header Remote-Name $latchkey_name;
proxy_set_header Remote-Groups $latchkey_groups;
error_page 401 =302 $sign_in;
"#;

/// Caddy with docs/PROXIES.md's Caddyfile.
fn caddy(port: u16, latchkey: SocketAddr, backend: SocketAddr) -> Proxy {
    let dir = tempfile::tempdir().unwrap();
    let caddyfile = format!(
        r#"
{{
  admin off
  auto_https off
  storage file_system {d}/data
}}

http://{AUTH}:{port} {{
  bind 127.0.0.1
  respond /auth/* 404
  reverse_proxy {latchkey}
}}

http://{WIKI}:{port}, http://{ADMIN}:{port}, http://{STATUS}:{port} {{
  bind 127.0.0.1
  route {{
{protect}
    reverse_proxy {backend}
  }}
}}
"#,
        d = dir.path().display(),
        protect = CADDY_PROTECT.replace("LATCHKEY", &latchkey.to_string()),
    );
    let file = write(dir.path(), "Caddyfile", &caddyfile);
    let child = Command::new("caddy")
        .args(["run", "--config", &file, "--adapter", "caddyfile"])
        .env("HOME", dir.path())
        .env("XDG_DATA_HOME", dir.path())
        .env("XDG_CONFIG_HOME", dir.path())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("stderr.log")).unwrap())
        .spawn()
        .expect("caddy (Debian's caddy package)");
    Proxy { child, port, _dir: dir }
}

/// What each protected site runs first (docs/PROXIES.md): drop whatever
/// the client sent under the user headers, then ask Latchkey and copy its
/// answer's headers onto the request.
const CADDY_PROTECT: &str = r#"
    request_header -Remote-User
    request_header -Remote-Email
    request_header -Remote-Name
    request_header -Remote-Groups
    request_header -Remote_User
    request_header -Remote_Email
    request_header -Remote_Name
    request_header -Remote_Groups
    forward_auth LATCHKEY {
      uri /auth/forward
      header_up Proxy-Authorization {http.request.header.Proxy-Authorization}
      copy_headers Remote-User Remote-Email Remote-Name Remote-Groups
    }
"#;

/// Latchkey for a home lab behind a proxy on `port`: the status page
/// public, the wiki for anyone signed in, the admin panel for admins with
/// MFA, everything else denied.
/// Alice (MFA on, in admins) is made here; returns her TOTP secret and an
/// app token of hers for the wiki too.
async fn latchkey(port: u16) -> (TestApp, String, String) {
    let app = spawn_app_with(|config| {
        config.public_url = Some(format!("http://{AUTH}:{port}"));
        config.cookie_domain = Some("example.test".into());
        config.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
        config.access_rules =
            vec![rule(STATUS, "bypass", &[]), rule(WIKI, "one_factor", &[]), rule(ADMIN, "two_factor", &["admins"])];
    })
    .await;
    let (session, secret, _) = app.user_with_mfa("alice").await;
    let made = app.post_json("/me/tokens", &json!({"scopes": ["proxy"], "domains": [WIKI]}), Some(&session)).await;
    let app_token = made.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_string();
    for args in [["group", "create", "admins"].as_slice(), &["group", "add", "admins", "alice"]] {
        let (ok, out, err) = run_cli(app.data_dir.path(), args, "", |command| {
            command.env_remove("LATCHKEY_DATABASE_URL").env_remove("LATCHKEY_SECRET_KEY");
        });
        assert!(ok, "{out}{err}");
    }
    (app, secret, app_token)
}

/// A browser whose every host name leads to the proxy.
fn browser(port: u16) -> reqwest::Client {
    let proxy = SocketAddr::from(([127, 0, 0, 1], port));
    let mut builder = http_builder().redirect(reqwest::redirect::Policy::none()).cookie_store(true);
    for host in [AUTH, WIKI, ADMIN, STATUS] {
        builder = builder.resolve(host, proxy);
    }
    builder.build().unwrap()
}

fn location(response: &reqwest::Response) -> String {
    response.headers().get("location").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default()
}

/// The value of `<input name="NAME" value="…">` in a page.
fn input(html: &str, name: &str) -> String {
    let at = html.find(&format!("name=\"{name}\"")).unwrap_or_else(|| panic!("no {name} in {html}"));
    let tag = &html[html[..at].rfind('<').unwrap()..];
    let tag = &tag[..tag.find('>').unwrap()];
    let value = tag.split("value=\"").nth(1).unwrap();
    // The page escapes what it writes into attributes; a browser reads it back.
    let value = &value[..value.find('"').unwrap()];
    value.replace("&#38;", "&").replace("&#34;", "\"").replace("&#39;", "'").replace("&#60;", "<").replace("&#62;", ">")
}

/// Signs in through the proxy's sign-in page as a browser does, from a
/// protected page to the page again; `code` for an account with MFA.
async fn sign_in_from(client: &reqwest::Client, port: u16, page: &str, login: &str, code: Option<String>) -> String {
    let origin = format!("http://{AUTH}:{port}");
    let bounced = client.get(page).header("accept", "text/html").send().await.unwrap();
    assert_eq!(bounced.status(), StatusCode::FOUND, "not signed in: to the sign-in page");
    let sign_in = location(&bounced);
    assert!(sign_in.starts_with(&format!("{origin}/login?rd=")), "{sign_in}");
    let form = client.get(&sign_in).send().await.unwrap().text().await.unwrap();
    let rd = input(&form, "rd");
    assert_eq!(rd, page, "the way back survives the trip");
    let fields = [
        ("csrf_token", input(&form, "csrf_token")),
        ("login", login.into()),
        ("password", PASSWORD.into()),
        ("rd", rd),
    ];
    let posted = client.post(format!("{origin}/login")).header("origin", &origin).form(&fields).send().await.unwrap();
    let done = match code {
        None => posted,
        Some(code) => {
            let step = posted.text().await.unwrap();
            let fields = [("csrf_token", input(&step, "csrf_token")), ("code", code), ("rd", input(&step, "rd"))];
            client.post(format!("{origin}/login/mfa")).header("origin", &origin).form(&fields).send().await.unwrap()
        }
    };
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    location(&done)
}

async fn echo(client: &reqwest::Client, url: &str, spoof: bool) -> (StatusCode, Value) {
    let mut request = client.get(url).header("accept", "text/html");
    if spoof {
        request = request
            .header("remote-user", "mallory")
            .header("remote-groups", "admins")
            .header("remote_user", "mallory")
            .header("remote_groups", "admins");
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Sends one raw request line and headers to the proxy; returns the status.
async fn raw_status(port: u16, request: &str) -> u16 {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let text = String::from_utf8_lossy(&answer);
    text.split_whitespace().nth(1).and_then(|code| code.parse().ok()).unwrap_or(0)
}

/// The walk every proxy must pass.
async fn protects_applications(app: &TestApp, alice_secret: &str, app_token: &str, port: u16) {
    let wiki = format!("http://{WIKI}:{port}/page?a=1&b=%2F");
    let admin = format!("http://{ADMIN}:{port}/");
    let status = format!("http://{STATUS}:{port}/");

    let visitor = browser(port);
    let probe = visitor
        .get(format!("http://{AUTH}:{port}/auth/forward"))
        .header("x-forwarded-method", "GET")
        .header("x-forwarded-proto", "http")
        .header("x-forwarded-host", ADMIN)
        .header("x-forwarded-uri", "/")
        .send()
        .await
        .unwrap();
    assert_eq!(probe.status(), StatusCode::NOT_FOUND, "clients cannot ask the endpoints through the proxy");
    let (code, body) = echo(&visitor, &status, true).await;
    assert_eq!(code, StatusCode::OK, "a bypass rule needs no sign-in");
    // Latchkey names nobody with empty headers: nginx then sends none,
    // Caddy (2.6) an empty one; either way the client's own never arrives.
    for header in ["remote_user", "remote_groups", "remote_email", "remote_name"] {
        assert!(matches!(body[header].as_str(), None | Some("")), "{header}: {body}");
    }
    assert_eq!(body["underscored"], json!([]), "nor under an underscored name (CGI and WSGI merge them): {body}");

    let alice = browser(port);
    app.clock.advance(time::Duration::seconds(30));
    let back = sign_in_from(&alice, port, &wiki, "alice", Some(app.code(alice_secret, 0))).await;
    assert_eq!(back, wiki, "back to the page asked for, query and all");
    let (code, body) = echo(&alice, &wiki, true).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(body["path"], "/page?a=1&b=%2F");
    assert_eq!(body["remote_user"], "alice", "Latchkey's answer, not the client's header: {body}");
    assert_eq!(body["remote_email"], "alice@example.com");
    assert_eq!(body["remote_groups"], "admins");
    assert_eq!(body["underscored"], json!([]), "{body}");
    let (code, body) = echo(&alice, &admin, false).await;
    assert_eq!((code, body["remote_user"].as_str()), (StatusCode::OK, Some("alice")), "one sign-in, every subdomain");

    // Latchkey must judge the host the proxy routes to, however the
    // request names it: an absolute request line beats the Host header,
    // and a Host with a second authority after a colon is not another host.
    for request in [
        format!("GET http://{ADMIN}:{port}/ HTTP/1.1\r\nHost: {STATUS}:{port}\r\nConnection: close\r\n\r\n"),
        format!("GET / HTTP/1.1\r\nHost: {ADMIN}:@{STATUS}:{port}\r\nConnection: close\r\n\r\n"),
    ] {
        let status = raw_status(port, &request).await;
        assert_ne!(status, 200, "the admin panel without a sign-in: {request:?}");
        assert!((300..500).contains(&status), "{status}: {request:?}");
    }

    // A script with an app token passes where the token is for, and only there.
    let script = browser(port);
    for header in ["authorization", "proxy-authorization"] {
        let response = script.get(&wiki).header(header, format!("Bearer {app_token}")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{header}");
        assert_eq!(response.json::<Value>().await.unwrap()["remote_user"], "alice");
    }
    let elsewhere = script.get(&admin).header("authorization", format!("Bearer {app_token}")).send().await.unwrap();
    let status = elsewhere.status();
    assert!(
        matches!(status.as_u16(), 302 | 401),
        "the token is for the wiki only: {status} (nginx redirects every 401)"
    );

    app.sign_up("bob").await;
    let bob = browser(port);
    let back = sign_in_from(&bob, port, &wiki, "bob", None).await;
    assert_eq!(back, wiki);
    assert_eq!(echo(&bob, &wiki, false).await.0, StatusCode::OK, "one_factor: a password is enough");
    let refused = bob.get(&admin).header("accept", "text/html").send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN, "two_factor for admins: bob is neither");
}

/// Latchkey, the echo application and `proxy` in front of both, walked.
async fn walk_behind(proxy: fn(u16, SocketAddr, SocketAddr) -> Proxy) {
    let port = free_port();
    let (app, secret, token) = latchkey(port).await;
    let backend = echo_backend().await;
    let latchkey = app.base.trim_start_matches("http://").parse().unwrap();
    let _proxy = proxy(port, latchkey, backend).ready().await;
    protects_applications(&app, &secret, &token, port).await;
}

#[tokio::test]
#[ignore = "needs nginx (Debian's nginx package)"]
async fn nginx_auth_request_protects_applications() {
    walk_behind(nginx).await;
}

#[tokio::test]
#[ignore = "needs Caddy (Debian's caddy package)"]
async fn caddy_forward_auth_protects_applications() {
    walk_behind(caddy).await;
}

#[tokio::test]
#[ignore = "needs nginx, Chromium (Debian's chromium), Node.js, oathtool and `npm ci --prefix e2e`; .ci/run provides them"]
async fn a_protected_application_walked_in_a_real_browser() {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "latchkey.toml",
        &format!(
            "public_url = \"http://{AUTH}:{port}\"\ncookie_domain = \"example.test\"\ntrusted_proxies = [\"127.0.0.1\"]\n\
             [[access_rules]]\ndomain = [\"{WIKI}\", \"{ADMIN}\"]\ngroups = [\"admins\"]\npolicy = \"two_factor\"\n"
        ),
    );
    let server = crate::binary::start_with(dir.path(), Stdio::null(), "warn", |command| {
        command.env("LATCHKEY_CONFIG", &config);
    })
    .await;
    let cli = |args: &[&str], stdin: &str| {
        let (ok, out, err) = run_cli(dir.path(), args, stdin, |command| {
            command.env_remove("LATCHKEY_DATABASE_URL").env_remove("LATCHKEY_SECRET_KEY");
        });
        assert!(ok, "{out}{err}");
    };
    cli(&["user", "create", "alice", "--email", "alice@example.com"], PASSWORD);
    cli(&["group", "create", "admins"], "");
    cli(&["group", "add", "admins", "alice"], "");
    let api = crate::helpers::http();
    let url = |path: &str| format!("{}/api/v1{path}", server.base);
    let signed_in = crate::admin_cli::sign_in(&server, "alice", PASSWORD).await.1;
    let token = signed_in["token"].as_str().unwrap();
    let enrolment: Value = api.post(url("/me/mfa/totp")).bearer_auth(token).send().await.unwrap().json().await.unwrap();
    let secret = enrolment["secret"].as_str().unwrap().to_string();
    let spent = crate::helpers::totp_at(&secret, crate::binary::now());
    let confirmed = api.post(url("/me/mfa/totp/confirm")).bearer_auth(token).json(&json!({"code": spent})).send();
    assert_eq!(confirmed.await.unwrap().status(), StatusCode::OK);

    let backend = echo_backend().await;
    let latchkey = server.base.trim_start_matches("http://").parse().unwrap();
    let _proxy = nginx(port, latchkey, backend).ready().await;
    let app_url = format!("http://{WIKI}:{port}/page");
    let args = ["protected-app.mjs", &app_url, "alice", PASSWORD, &secret, &spent];
    crate::browser::run_script(args[0], &args[1..], "the protected application works end to end").await;
}
